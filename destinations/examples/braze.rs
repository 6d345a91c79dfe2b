//! Deliver a sample stream (every specced event and the six calls) to a mock Braze through the
//! runtime, and print what Braze received.
//!
//! ```text
//! cargo run -p destinations --example braze
//! ```

use destination_kit::runtime::{DeliveryConfig, Runtime};
use destinations::braze::{self, BrazeMock};
use serde_json::Value;

#[tokio::main]
async fn main() {
    let mock = BrazeMock::start().await;
    let dest = braze::configure(mock.settings(), None).expect("mock settings are valid");
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
    println!("\nBraze received {} requests:", received.len());
    for req in &received {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        println!(
            "\nPOST {} ({} bytes, Authorization: Bearer [redacted])",
            req.url.path(),
            req.body.len()
        );
        for part in ["attributes", "events", "purchases", "merge_updates"] {
            let Some(items) = body[part].as_array() else {
                continue;
            };
            println!("  {part}: {}", items.len());
            for it in items {
                match part {
                    "events" => println!(
                        "    {:<34} {}",
                        it["name"].as_str().unwrap_or(""),
                        it["time"].as_str().unwrap_or("")
                    ),
                    _ => println!("    {it}"),
                }
            }
        }
    }
    let [a, e, p] = mock.processed();
    println!(
        "\nprocessed: {a} attributes, {e} events, {p} purchases, {} merges",
        mock.merged()
    );
    println!(
        "\nreport: {}",
        serde_json::to_string_pretty(&result.report).expect("report serialises")
    );
}
