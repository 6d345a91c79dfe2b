//! Deliver a sample stream (every specced event and the six calls) to a mock GA4 through the
//! runtime, and print what GA4 received.
//!
//! ```text
//! cargo run -p destinations --example ga4
//! ```
//!
//! The fixtures are dated 2026-03-14 and GA4 refuses events older than 72 hours, so the example
//! pins the destination's "now" to two hours after them (the `now` setting).

use destination_kit::runtime::{DeliveryConfig, Runtime};
use destinations::ga4::{self, mock::Ga4Mock};
use serde_json::json;

#[tokio::main]
async fn main() {
    let mock = Ga4Mock::start().await;
    let mut settings = mock.partner.settings.clone();
    settings["now"] = json!("2026-03-14T12:00:00Z");
    let dest = ga4::configure(settings, None).expect("mock settings are valid");
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

    println!(
        "\nGA4 received {} requests:",
        mock.partner.received().await.len()
    );
    for req in mock.partner.received().await {
        let query = destinations::ga4::request::redacted(req.url.as_str());
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let names: Vec<&str> = body["events"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["name"].as_str()).collect())
            .unwrap_or_default();
        println!("POST {query}\n  events: {names:?}");
        println!("  body: {body}");
    }
    println!("\noutcomes other than delivered:");
    for e in result
        .events
        .iter()
        .filter(|e| e.outcome.name() != "delivered")
    {
        println!(
            "  line {}: {} — {}",
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
