//! Batching within limits, the concurrency limit, and the long-lived handle.

#[path = "runtime_support.rs"]
mod support;

use destination_kit::BatchLimits;
use destination_kit::runtime::Runtime;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

async fn batch_sizes(server: &MockServer) -> Vec<usize> {
    let mut v: Vec<usize> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|q| {
            serde_json::from_slice::<serde_json::Value>(&q.body)
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn batches_respect_the_event_limit() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::batched(4), &server.uri(), config());
    let r = rt.deliver_bytes(&events(10)).await;
    check(&r);
    assert_eq!(r.report.delivered, 10);
    assert_eq!(batch_sizes(&server).await, vec![2, 4, 4]);
    assert_eq!(r.report.requests, 3);
}

#[tokio::test]
async fn batch_size_override_below_the_destination_limit() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(
        TestDest::batched(100),
        &server.uri(),
        config().batch_size(3),
    );
    let r = rt.deliver_bytes(&events(7)).await;
    check(&r);
    assert_eq!(batch_sizes(&server).await, vec![1, 3, 3]);
    // batch_size 1 turns batching off
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(
        TestDest::batched(100),
        &server.uri(),
        config().batch_size(1),
    );
    let r = rt.deliver_bytes(&events(5)).await;
    check(&r);
    assert_eq!(batch_sizes(&server).await, vec![1; 5]);
}

#[tokio::test]
async fn an_events_payloads_travel_together_unless_the_partner_limit_splits_them() {
    // each event maps to three payloads (an order and two products, say)
    let fanout = |limit: usize| TestDest {
        fanout: 3,
        ..TestDest::batched(limit)
    };
    // batch size 1: one event per request, all three payloads in it
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(fanout(100), &server.uri(), config().batch_size(1));
    let r = rt.deliver_bytes(&events(5)).await;
    check(&r);
    assert_eq!(r.report.delivered, 5);
    assert_eq!(batch_sizes(&server).await, vec![3; 5]);
    assert_eq!(r.report.requests, 5);
    // batch size 4: a batch that cannot take the next event's three is sent first
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(fanout(100), &server.uri(), config().batch_size(4));
    let r = rt.deliver_bytes(&events(4)).await;
    check(&r);
    assert_eq!(batch_sizes(&server).await, vec![3; 4]);
    // batch size 7: two events fit (6), the third starts the next request
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(fanout(100), &server.uri(), config().batch_size(7));
    let r = rt.deliver_bytes(&events(5)).await;
    check(&r);
    assert_eq!(batch_sizes(&server).await, vec![3, 6, 6]);
    // the partner's own limit (2) does split an event
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(fanout(2), &server.uri(), config());
    let r = rt.deliver_bytes(&events(2)).await;
    check(&r);
    assert_eq!(r.report.delivered, 2);
    assert_eq!(batch_sizes(&server).await, vec![1, 1, 2, 2]);
}

#[tokio::test]
async fn batches_respect_the_byte_limit() {
    let server = partner_answering(200).await;
    // one payload is about 75 bytes: a 200-byte limit fits two
    let mut dest = TestDest::batched(100);
    dest.batch = BatchLimits {
        events: 100,
        bytes: 200,
    };
    let (rt, _c) = runtime(dest, &server.uri(), config());
    let r = rt.deliver_bytes(&events(6)).await;
    check(&r);
    assert_eq!(r.report.delivered, 6);
    for q in server.received_requests().await.unwrap() {
        let v: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
        let payload_bytes: usize = v
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.to_string().len())
            .sum();
        assert!(payload_bytes <= 200, "{payload_bytes}");
    }
    assert_eq!(batch_sizes(&server).await, vec![2, 2, 2]);
}

#[tokio::test]
async fn bytes_sent_counts_request_bodies() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::batched(4), &server.uri(), config());
    let r = rt.deliver_bytes(&events(8)).await;
    check(&r);
    let total: usize = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|q| q.body.len())
        .sum();
    assert_eq!(r.report.bytes_sent as usize, total);
}

/// The partner records when each request arrived and answers after `DELAY`: a request is in
/// flight over `[arrival, arrival + DELAY)` at least, so the most overlapping intervals is a lower
/// bound of what the runtime had in flight — and it must never pass the limit.
#[tokio::test]
async fn the_concurrency_limit_holds_and_is_reached() {
    const DELAY: Duration = Duration::from_millis(400);
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let a2 = arrivals.clone();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(move |_: &Request| {
            a2.lock().unwrap().push(Instant::now());
            ResponseTemplate::new(200).set_delay(DELAY)
        })
        .mount(&server)
        .await;
    let limit = 3;
    let dest = TestDest::default();
    let max_inflight = dest.max_inflight.clone();
    let (rt, _c) = runtime(
        dest,
        &server.uri(),
        config()
            .concurrency(limit)
            .attempt_timeout(Duration::from_secs(10)),
    );
    let r = rt.deliver_bytes(&events(12)).await;
    check(&r);
    assert_eq!(r.report.delivered, 12);
    let mut t = arrivals.lock().unwrap().clone();
    t.sort();
    assert_eq!(t.len(), 12);
    let max_overlap = t
        .iter()
        .map(|start| {
            t.iter()
                .filter(|s| **s <= *start && *start < **s + DELAY)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(
        max_overlap, limit,
        "in flight never above the limit, and it is reached"
    ); // counted in the destination's send hook as well
    assert_eq!(
        max_inflight.load(std::sync::atomic::Ordering::SeqCst),
        limit
    );
}

/// The byte budget of started batches bounds what is in flight whatever the request limit:
/// with room for two batches' payloads, two are in flight at most (and that is reached); with
/// less than one batch, one batch still goes at a time. Every event is delivered either way.
#[tokio::test]
async fn the_pending_byte_budget_bounds_batches_in_flight() {
    const DELAY: Duration = Duration::from_millis(150);
    for (budget_batches, expect_inflight) in [(2usize, 2usize), (0, 1)] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(DELAY))
            .mount(&server)
            .await;
        let dest = TestDest::batched(2);
        let max_inflight = dest.max_inflight.clone();
        // every payload of events() has the same length: measure one batch of two
        let (probe, _c) = runtime(TestDest::batched(2), &server.uri(), config());
        let one_batch = probe.deliver_bytes(&events(2)).await.report.bytes_sent as usize;
        let budget = (budget_batches * one_batch).max(1);
        let (rt, _c) = runtime(
            dest,
            &server.uri(),
            config()
                .concurrency(8)
                .max_pending_bytes(budget)
                .attempt_timeout(Duration::from_secs(10)),
        );
        let r = rt.deliver_bytes(&events(12)).await;
        check(&r);
        assert_eq!(r.report.delivered, 12);
        assert_eq!(r.report.requests, 6);
        assert_eq!(
            max_inflight.load(std::sync::atomic::Ordering::SeqCst),
            expect_inflight,
            "budget of {budget} bytes ({budget_batches} batches of {one_batch})"
        );
    }
}

#[tokio::test]
async fn a_long_lived_handle_delivers_and_drains_on_shutdown() {
    let server = partner_answering(200).await;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s2 = seen.clone();
    let (rt, _c) = runtime(TestDest::batched(50), &server.uri(), config());
    let handle = rt
        .on_outcome(move |o| s2.lock().unwrap().push(o.outcome.name().to_string()))
        .start();
    for i in 0..20 {
        handle
            .submit(msg(&track(&format!("h{i}"), "2026-01-02T03:04:05Z")))
            .await
            .unwrap();
    }
    handle
        .submit(msg(&track("h0", "2026-01-02T03:04:05Z")))
        .await
        .unwrap();
    let report = handle.shutdown(Duration::from_secs(10)).await;
    assert!(report.adds_up(), "{report:?}");
    assert_eq!(report.input, 21);
    assert_eq!((report.delivered, report.duplicate), (20, 1));
    assert_eq!(seen.lock().unwrap().len(), 21);
}

#[tokio::test]
async fn a_slow_flush_interval_still_sends_a_partial_batch() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::batched(500), &server.uri(), config());
    let rt: Runtime = rt;
    let handle = rt.start();
    handle
        .submit(msg(&track("only", "2026-01-02T03:04:05Z")))
        .await
        .unwrap();
    // the batch is not full; the flush interval (200 ms) sends it while input is still open
    let mut waited = 0;
    while received(&server).await == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_eq!(received(&server).await, 1);
    let report = handle.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.input, report.delivered), (1, 1));
}

/// Submit `n` events to a long-lived runtime with `config` whose partner answers every request
/// 503 (retry after 1 s, on a real clock), then shut it down with a 300 ms drain timeout
/// (failing the test if shutting down takes 10 s).
async fn shutdown_against_a_failing_partner(
    config: destination_kit::runtime::DeliveryConfig,
    n: usize,
) -> destination_kit::DeliveryReport {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .mount(&server)
        .await;
    let settings = serde_json::json!({"url": server.uri(), "api_key": SECRET});
    let dest = destination_kit::Configured::from_json(TestDest::default(), settings, None).unwrap();
    let handle = Runtime::new(dest.into_dyn(), config).start();
    for i in 0..n {
        handle
            .submit(msg(&track(&format!("s{i}"), "2026-01-02T03:04:05Z")))
            .await
            .unwrap();
    }
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.shutdown(Duration::from_millis(300)),
    )
    .await
    .expect("shutdown returns soon after the drain timeout")
}

#[tokio::test]
async fn shutdown_past_the_drain_timeout_expires_what_is_left() {
    let report = shutdown_against_a_failing_partner(config(), 3).await;
    assert!(report.adds_up(), "{report:?}");
    assert_eq!((report.input, report.expired), (3, 3));
}

#[tokio::test]
async fn the_request_rate_limit_paces_requests_on_the_runtime_clock() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(10)
        .mount(&server)
        .await;
    // one event per request, at most 4 requests per second: the 10th leaves 9 intervals
    // (2.25 s) after the first, on virtual time
    let (rt, clock) = runtime(
        TestDest::default(),
        &server.uri(),
        config().concurrency(1).rate_limit(4),
    );
    let r = rt.deliver_bytes(&events(10)).await;
    check(&r);
    assert_eq!(r.report.delivered, 10);
    assert_eq!(r.report.requests, 10);
    assert_eq!(clock.elapsed(), Duration::from_millis(2250));
    let waits: Vec<_> = clock.sleeps();
    assert_eq!(waits, vec![Duration::from_millis(250); 9], "{waits:?}");
}

#[tokio::test]
async fn shutdown_past_the_drain_timeout_ends_even_while_the_driver_waits_for_room() {
    // one event per batch and room for 16 running batches: the 17th event makes the driver
    // wait for a batch to finish, and none will within the drain timeout
    let report =
        shutdown_against_a_failing_partner(config().batch_size(1).concurrency(1), 40).await;
    assert!(report.adds_up(), "{report:?}");
    assert_eq!((report.input, report.expired), (40, 40), "{report:?}");
}
