//! De-duplication on the injected clock, and a shuffled stream keeping each event's own time.

#[path = "runtime_support.rs"]
mod support;

use destination_kit::Outcome;
use destination_kit::runtime::{DedupStore, MemoryDedup, Runtime};
use std::time::Duration;
use support::*;

fn one(id: &str) -> Vec<u8> {
    format!("{}\n", track(id, "2026-01-02T03:04:05Z")).into_bytes()
}

#[tokio::test]
async fn a_duplicate_in_the_same_run_is_dropped() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::default(), &server.uri(), config());
    let mut input = events(3);
    input.extend(one("m1"));
    input.extend(one("m1"));
    let r = rt.deliver_bytes(&input).await;
    check(&r);
    assert_eq!((r.report.delivered, r.report.duplicate), (3, 2));
    assert_eq!(r.events[3].outcome, Outcome::Duplicate);
    assert_eq!(r.events[3].message_id.as_deref(), Some("m1"));
    assert_eq!(received(&server).await, 3);
}

#[tokio::test]
async fn duplicates_inside_the_window_and_not_outside() {
    let server = partner_answering(200).await;
    let (rt, clock) = runtime(TestDest::default(), &server.uri(), config());
    assert_eq!(rt.deliver_bytes(&one("a")).await.report.delivered, 1);
    // 23 h later: still inside the 24 h window
    clock.advance(Duration::from_secs(23 * 3600));
    let r = rt.deliver_bytes(&one("a")).await;
    check(&r);
    assert_eq!(r.report.duplicate, 1);
    // 24 h + one bucket (3 h) after the first sighting: forgotten
    clock.advance(Duration::from_secs(4 * 3600 + 1));
    let r = rt.deliver_bytes(&one("a")).await;
    check(&r);
    assert_eq!(r.report.delivered, 1);
    assert_eq!(received(&server).await, 2);
}

#[tokio::test]
async fn dedup_is_per_source() {
    let server = partner_answering(200).await;
    let (web, _c) = runtime(TestDest::default(), &server.uri(), config().source("web"));
    let (ios, _c) = runtime(TestDest::default(), &server.uri(), config().source("ios"));
    let mut shared = MemoryDedup::new(Duration::from_secs(86_400));
    let t = t0();
    assert!(shared.insert_if_absent("web", "x", t));
    assert!(shared.insert_if_absent("ios", "x", t));
    assert!(!shared.insert_if_absent("web", "x", t));
    // each runtime with its own source name delivers the same id once
    assert_eq!(web.deliver_bytes(&one("x")).await.report.delivered, 1);
    assert_eq!(ios.deliver_bytes(&one("x")).await.report.delivered, 1);
    assert_eq!(web.deliver_bytes(&one("x")).await.report.duplicate, 1);
}

#[tokio::test]
async fn a_long_window_is_configurable() {
    let server = partner_answering(200).await;
    let window = Duration::from_secs(170 * 86_400);
    let (rt, clock) = runtime(
        TestDest::default(),
        &server.uri(),
        config().dedup_window(window),
    );
    let rt: Runtime = rt.with_dedup(Box::new(MemoryDedup::new(window)));
    assert_eq!(rt.deliver_bytes(&one("old")).await.report.delivered, 1);
    clock.advance(Duration::from_secs(160 * 86_400));
    assert_eq!(rt.deliver_bytes(&one("old")).await.report.duplicate, 1);
    // more than 170 days is clamped
    let cfg = config().dedup_window(Duration::from_secs(400 * 86_400));
    assert_eq!(cfg.dedup_window, window);
}

#[tokio::test]
async fn a_shuffled_stream_arrives_with_each_events_own_timestamp() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::batched(7), &server.uri(), config());
    // 30 events with distinct times, in a scrambled order
    let mut order: Vec<usize> = (0..30).collect();
    for i in 0..order.len() {
        let j = (i * 17 + 5) % order.len();
        order.swap(i, j);
    }
    let mut input = String::new();
    for i in &order {
        let ts = format!("2026-03-01T10:{:02}:{:02}.250Z", i / 2, (i * 7) % 60);
        input.push_str(&track(&format!("e{i}"), &ts));
        input.push('\n');
    }
    let r = rt.deliver_bytes(input.as_bytes()).await;
    check(&r);
    assert_eq!(r.report.delivered, 30);
    let mut seen = 0;
    for q in server.received_requests().await.unwrap() {
        let v: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
        for p in v.as_array().unwrap() {
            let i: usize = p["id"].as_str().unwrap()[1..].parse().unwrap();
            let want = format!("2026-03-01T10:{:02}:{:02}.250Z", i / 2, (i * 7) % 60);
            assert_eq!(p["ts"], want.as_str());
            seen += 1;
        }
    }
    assert_eq!(seen, 30);
}
