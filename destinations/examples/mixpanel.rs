//! Deliver a sample stream (every specced event and the six calls) to a mock Mixpanel through
//! the runtime, and print what Mixpanel received.
//!
//! ```text
//! cargo run -p destinations --example mixpanel
//! ```

use destination_kit::runtime::{DeliveryConfig, Runtime};
use destinations::mixpanel::{self, MixpanelMock};
use serde_json::Value;

#[tokio::main]
async fn main() {
    let mock = MixpanelMock::start().await;
    let dest = mixpanel::configure(mock.settings(), None).expect("mock settings are valid");
    println!("destination settings: {}", dest.settings_debug());

    let mut input = String::new();
    for (_, ev) in spec_tests::fixtures::all_spec_events() {
        input.push_str(&ev.to_string());
        input.push('\n');
    }
    for (_, ev) in spec_tests::fixtures::calls() {
        input.push_str(&ev.to_string());
        input.push('\n');
    }

    let result = Runtime::new(dest, DeliveryConfig::default())
        .deliver_bytes(input.as_bytes())
        .await;

    let received = mock.received().await;
    println!("\nMixpanel received {} requests:", received.len());
    for req in &received {
        let records: Vec<Value> = serde_json::from_slice(&req.body).unwrap_or_default();
        let auth = if req.headers.contains_key("authorization") {
            "Basic [redacted]"
        } else {
            "token in body"
        };
        println!(
            "\nPOST {}?{} ({} records, {} bytes, {auth})",
            req.url.path(),
            req.url.query().unwrap_or(""),
            records.len(),
            req.body.len()
        );
        for r in &records {
            match req.url.path() {
                "/import" | "/track" => println!(
                    "  {:<34} $insert_id={:<40} time={}",
                    r["event"].as_str().unwrap_or(""),
                    r["properties"]["$insert_id"].as_str().unwrap_or(""),
                    r["properties"]["time"]
                ),
                _ => println!("  {r}"),
            }
        }
    }
    for e in result
        .events
        .iter()
        .filter(|e| e.outcome.name() != "delivered")
    {
        println!(
            "\nline {} {}: {}",
            e.line,
            e.outcome.name(),
            e.outcome.reason().unwrap_or("")
        );
    }
    println!(
        "\nreport: {}",
        serde_json::to_string_pretty(&result.report).expect("report serialises")
    );
}
