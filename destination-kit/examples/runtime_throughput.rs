//! Events per second of the delivery runtime to a local wiremock partner, batching on and off.
//!
//! `cargo run --release -p destination-kit --example runtime_throughput [-- N]`
//! (N events with batching on, default 200,000; N/10 with batching off)

use async_trait::async_trait;
use destination_kit::destination::json_array;
use destination_kit::runtime::{DeliveryConfig, Runtime};
use destination_kit::{
    BatchLimits, Configured, Destination, DestinationInfo, Event, Mapped, PartnerRequest, Payload,
    Settings,
};
use serde::Deserialize;
use serde_json::json;
use std::time::Instant;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Debug, Clone, Deserialize)]
struct S {
    url: String,
    batch: usize,
}

impl Settings for S {
    fn set_endpoint(&mut self, base_url: &str) {
        self.url = base_url.into();
    }
}

struct Bench(usize);

#[async_trait]
impl Destination for Bench {
    type Settings = S;
    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Bench", "bench").batch(BatchLimits {
            events: self.0,
            bytes: 1 << 20,
        })
    }
    fn map(&self, _s: &S, ev: &Event<'_>) -> Mapped {
        Mapped::one(Payload::json(
            "events",
            &json!({"user_id": ev.user_id(), "event_type": ev.event(), "insert_id": ev.message_id(),
                "time": ev.timestamp_millis(), "event_properties": ev.properties()}),
        ))
    }
    fn request(&self, s: &S, _route: &str, batch: &[Payload]) -> PartnerRequest {
        let _ = s.batch;
        PartnerRequest::post_json(format!("{}/batch", s.url), json_array(batch))
    }
}

fn input(n: usize) -> Vec<u8> {
    let mut out = String::with_capacity(n * 300);
    for i in 0..n {
        out.push_str(&json!({"type": "track", "event": "Product Viewed", "userId": format!("user-{}", i % 5000),
            "messageId": format!("msg-{i}"), "timestamp": "2026-01-02T03:04:05.123Z",
            "context": {"library": {"name": "analytics.js", "version": "4.1.0"}, "ip": "10.0.0.1"},
            "properties": {"product_id": format!("p{}", i % 100), "price": 12.5, "currency": "EUR"}}).to_string());
        out.push('\n');
    }
    out.into_bytes()
}

async fn run(server: &MockServer, n: usize, batch: usize) {
    run_with(server, n, batch, false).await
}

async fn run_with(server: &MockServer, n: usize, batch: usize, reader: bool) {
    let data = input(n);
    let dest = Configured::from_json(
        Bench(batch),
        json!({"url": server.uri(), "batch": batch}),
        None,
    )
    .expect("settings")
    .into_dyn();
    let rt = Runtime::new(dest, DeliveryConfig::default().concurrency(8)).collect_events(false);
    let t = Instant::now();
    let r = if reader {
        // parsing on the reader thread, the rest on the runtime
        rt.deliver_reader(std::io::Cursor::new(data)).await
    } else {
        rt.deliver_bytes(&data).await
    };
    let secs = t.elapsed().as_secs_f64();
    assert!(
        r.report.adds_up() && r.report.delivered == n as u64,
        "{:?}",
        r.report
    );
    println!(
        "{} batch {batch:>4}: {n} events, {} requests in {secs:.2} s = {:.0} events/s ({:.1} MB/s sent)",
        if reader {
            "deliver_reader"
        } else {
            "deliver_bytes "
        },
        r.report.requests,
        n as f64 / secs,
        r.report.bytes_sent as f64 / secs / 1e6
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    // the floor: parsing and validating alone
    let data = input(n);
    let t = Instant::now();
    let mut ok = 0usize;
    for r in destination_kit::event::parse_lines(&data) {
        if let Ok(m) = r.result
            && m.validate().is_empty()
        {
            ok += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(ok, n);
    println!(
        "parse + validate only: {n} events in {secs:.2} s = {:.0} events/s",
        n as f64 / secs
    );
    drop(data);
    run(&server, n, 500).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    run_with(&server, n, 500, true).await;
    // wiremock keeps every request it received: a fresh server for the next run
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    run(&server, (n / 10).max(1), 1).await;
}
