//! Deliver a sample stream (every specced event and the six calls) to a mock Amplitude through
//! the runtime, and print what Amplitude received.
//!
//! ```text
//! cargo run -p destinations --example amplitude
//! ```

use destination_kit::runtime::{DeliveryConfig, Runtime};
use destinations::amplitude::{self, mock::AmplitudeMock};

#[tokio::main]
async fn main() {
    let mock = AmplitudeMock::start().await;
    let dest =
        amplitude::configure(mock.partner.settings.clone(), None).expect("mock settings are valid");
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

    let received = mock.partner.received().await;
    println!("\nAmplitude received {} requests:", received.len());
    for req in &received {
        println!("POST {} ({} bytes)", req.url.path(), req.body.len());
    }
    println!("\ningested events (event_type, insert_id, time):");
    for e in mock.ingested() {
        println!(
            "  {:<34} {:<44} {}",
            e["event_type"].as_str().unwrap_or(""),
            e["insert_id"].as_str().unwrap_or(""),
            e["time"]
        );
    }
    println!(
        "group identifications: {}",
        serde_json::Value::from(mock.group_identifications())
    );
    println!(
        "user mappings: {}",
        serde_json::Value::from(mock.mappings())
    );
    println!(
        "\nreport: {}",
        serde_json::to_string_pretty(&result.report).expect("report serialises")
    );
}
