//! Deliver a sample stream (every specced event and the six calls) to a mock Intercom through
//! the runtime, and print what Intercom received.
//!
//! ```text
//! cargo run -p destinations --example intercom
//! ```

use destination_kit::runtime::{DeliveryConfig, Runtime};
use destinations::intercom::{self, IntercomMock};

#[tokio::main]
async fn main() {
    let mock = IntercomMock::start().await;
    let dest = intercom::configure(mock.settings(), None).expect("mock settings are valid");
    println!("destination settings: {}", dest.settings_debug());

    let mut input = String::new();
    let spec = spec_tests::fixtures::all_spec_events()
        .into_iter()
        .map(|(_, v)| v);
    let calls = spec_tests::fixtures::calls().into_iter().map(|(_, v)| v);
    for ev in spec.chain(calls) {
        input.push_str(&ev.to_string());
        input.push('\n');
    }
    let result = Runtime::new(dest, DeliveryConfig::default().concurrency(1))
        .deliver_bytes(input.as_bytes())
        .await;

    let received = mock.received().await;
    println!("\nIntercom received {} requests:", received.len());
    for req in &received {
        let body = String::from_utf8_lossy(&req.body);
        println!("{} {}\n  {body}", req.method, req.url.path());
    }
    println!(
        "\ncontacts: {}, companies: {}, data events: {}",
        mock.contacts().len(),
        mock.companies().len(),
        mock.events().len()
    );
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
