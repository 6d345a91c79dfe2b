//! Deliver a sample stream (every specced event and the six calls) to a mock Adobe Media
//! Collection API through the runtime, and print the sessions Adobe received.
//!
//! ```text
//! cargo run -p destinations --example adobe_media
//! ```
//!
//! The fixtures are dated 2026-03-14 and the online API is real-time, so the mock's settings pin
//! the destination's "now" (the `now` setting) just after the fixtures' video session.

use destination_kit::runtime::{DeliveryConfig, Runtime};
use destinations::adobe_media::{self, AdobeMediaMock};

#[tokio::main]
async fn main() {
    let mock = AdobeMediaMock::start().await;
    let dest = adobe_media::configure(mock.settings(), None).expect("mock settings are valid");
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
    println!("\nAdobe received {} requests:", received.len());
    for req in &received {
        let body = String::from_utf8_lossy(&req.body);
        println!("{} {}\n  {body}", req.method, req.url.path());
    }
    println!("\nsessions:");
    for s in mock.sessions() {
        println!("  {}: {}", s.sid, s.event_types().join(" → "));
    }
    let filtered = result
        .events
        .iter()
        .filter(|e| e.outcome.name() == "filtered")
        .count();
    println!("\n{filtered} events filtered (not video); other outcomes besides delivered:");
    for e in result
        .events
        .iter()
        .filter(|e| !matches!(e.outcome.name(), "delivered" | "filtered"))
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
