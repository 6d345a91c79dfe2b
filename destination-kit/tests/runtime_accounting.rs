//! Every input event ends in exactly one outcome; rejected, failed and expired go to the dead
//! letter with the event, the reason, the attempts and the last status.

#[path = "runtime_support.rs"]
mod support;

use destination_kit::Outcome;
use serde_json::json;
use std::time::Duration;
use support::*;
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn every_kind_of_input_gets_one_outcome() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("\"m-fail\""))
        .respond_with(ResponseTemplate::new(400).set_body_string("bad"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("\"m-slow\""))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    let lines = [
        track("m-ok", "2026-01-02T03:04:05Z"),
        "{not json".to_string(),
        json!({"type": "track", "event": "x", "messageId": "m-noid", "timestamp": "2026-01-02T03:04:05Z"}).to_string(),
        json!({"type": "page", "name": "Home", "userId": "u", "messageId": "m-page", "timestamp": "2026-01-02T03:04:05Z"}).to_string(),
        json!({"type": "track", "event": "x", "userId": "u", "messageId": "m-all-off", "timestamp": "2026-01-02T03:04:05Z", "integrations": {"All": false}}).to_string(),
        json!({"type": "track", "event": "x", "userId": "u", "messageId": "m-name-off", "timestamp": "2026-01-02T03:04:05Z", "integrations": {"Test Dest": false}}).to_string(),
        json!({"type": "track", "event": "x", "userId": "u", "messageId": "m-all-off-but-on", "timestamp": "2026-01-02T03:04:05Z", "integrations": {"All": false, "Test Dest": true}}).to_string(),
        json!({"type": "track", "event": "Unsupported Thing", "userId": "u", "messageId": "m-unsup", "timestamp": "2026-01-02T03:04:05Z"}).to_string(),
        json!({"type": "track", "event": "x", "userId": "u", "messageId": "m-invalid", "timestamp": "2026-01-02T03:04:05Z", "properties": {"invalid": true}}).to_string(),
        track("m-ok", "2026-01-02T03:04:05Z"),
        track("m-fail", "2026-01-02T03:04:05Z"),
        track("m-slow", "2026-01-02T03:04:05Z"),
    ];
    let input = lines.join("\n");
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dead.jsonl");
    let cfg = config().max_retry_duration(Duration::from_secs(30));
    let (rt, _c) = runtime(TestDest::default(), &server.uri(), cfg);
    let r = rt
        .with_dead_letter(&dl)
        .deliver_bytes(input.as_bytes())
        .await;
    check(&r);
    let rep = &r.report;
    assert_eq!(rep.input, 12);
    assert_eq!(rep.delivered, 2, "{:#?}", r.events);
    assert_eq!(rep.duplicate, 1);
    assert_eq!(rep.filtered, 4);
    assert_eq!(rep.rejected, 3);
    assert_eq!(rep.failed, 1);
    assert_eq!(rep.expired, 1);
    assert!(rep.has_problems());
    let names: Vec<&str> = r.events.iter().map(|e| e.outcome.name()).collect();
    assert_eq!(
        names,
        [
            "delivered",
            "rejected",
            "rejected",
            "filtered",
            "filtered",
            "filtered",
            "delivered",
            "filtered",
            "rejected",
            "duplicate",
            "failed",
            "expired"
        ]
    );
    // reasons name the field and the problem
    let reason = |i: usize| r.events[i].outcome.reason().unwrap_or("").to_string();
    assert!(reason(1).contains("not valid JSON"), "{}", reason(1));
    assert!(reason(2).contains("userId"), "{}", reason(2));
    assert!(reason(3).contains("page"), "{}", reason(3));
    assert!(reason(4).contains("opt-out"), "{}", reason(4));
    assert!(reason(7).contains("no such event"), "{}", reason(7));
    assert!(reason(8).contains("properties.invalid"), "{}", reason(8));

    let text = std::fs::read_to_string(&dl).unwrap();
    let entries: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 5, "{text}");
    let by_outcome = |o: &str| entries.iter().filter(|e| e["outcome"] == o).count();
    assert_eq!(
        (
            by_outcome("rejected"),
            by_outcome("failed"),
            by_outcome("expired")
        ),
        (3, 1, 1)
    );
    let failed = entries.iter().find(|e| e["outcome"] == "failed").unwrap();
    assert_eq!(failed["message_id"], "m-fail");
    assert_eq!(failed["kind"], "client");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["last_status"], 400);
    assert_eq!(failed["event"]["messageId"], "m-fail");
    assert_eq!(failed["event"]["type"], "track");
    assert!(failed["reason"].as_str().unwrap().contains("400"));
    let expired = entries.iter().find(|e| e["outcome"] == "expired").unwrap();
    assert_eq!(expired["last_status"], 503);
    assert!(expired["attempts"].as_u64().unwrap() >= 2);
    let bad_json = entries.iter().find(|e| e["line"] == 2).unwrap();
    assert_eq!(bad_json["raw"], "{not json");
    assert!(bad_json["event"].is_null());
}

#[tokio::test]
async fn a_batch_envelope_document_keeps_positions() {
    let server = partner_answering(200).await;
    let doc = json!({"batch": [
        serde_json::from_str::<serde_json::Value>(&track("b1", "2026-01-02T03:04:05Z")).unwrap(),
        {"type": "nope"},
        serde_json::from_str::<serde_json::Value>(&track("b2", "2026-01-02T03:04:05Z")).unwrap(),
    ]});
    let (rt, _c) = runtime(TestDest::batched(10), &server.uri(), config());
    let r = rt.deliver_bytes(doc.to_string().as_bytes()).await;
    check(&r);
    assert_eq!((r.report.delivered, r.report.rejected), (2, 1));
    assert_eq!(r.events[1].batch_index, Some(1));
    assert!(
        matches!(&r.events[1].outcome, Outcome::Rejected { reason } if reason.contains("batch[1].type"))
    );
    assert_eq!(received(&server).await, 1);
}

#[tokio::test]
async fn an_empty_input_adds_up_to_nothing() {
    let server = MockServer::start().await;
    let (rt, _c) = runtime(TestDest::default(), &server.uri(), config());
    let r = rt.deliver_bytes(b"\n\n  \n").await;
    check(&r);
    assert_eq!(r.report.input, 0);
    assert_eq!(received(&server).await, 0);
}

#[tokio::test]
async fn a_destination_that_panics_in_map_rejects_that_event_only() {
    let server = partner_answering(200).await;
    // 300 lines: enough that the prepare stage runs them in parallel chunks on the blocking pool
    let mut input = events(300);
    let bad = json!({"type": "track", "event": "Panic Please", "userId": "u1",
        "messageId": "m-panic", "timestamp": "2026-01-02T03:04:05Z"});
    input.extend_from_slice(format!("{bad}\n").as_bytes());
    input.extend_from_slice(&events(2)); // m0, m1 again: duplicates after the panic
    let (rt, _clock) = runtime(TestDest::default(), &server.uri(), config());
    let r = rt.deliver_bytes(&input).await;
    check(&r);
    assert_eq!(r.report.input, 303);
    assert_eq!(r.report.delivered, 300);
    assert_eq!(r.report.rejected, 1);
    assert_eq!(r.report.duplicate, 2);
    let panicked = r
        .events
        .iter()
        .find(|e| e.message_id.as_deref() == Some("m-panic"))
        .expect("the panicking event has an outcome");
    assert_eq!(panicked.line, 301);
    match &panicked.outcome {
        Outcome::Rejected { reason } => assert!(
            reason.contains("panicked while mapping this event: test-dest panics on purpose"),
            "{reason}"
        ),
        other => panic!("expected rejected, got {other:?}"),
    }
    assert_eq!(received(&server).await, 300);
}

#[tokio::test]
async fn a_payload_that_cannot_be_serialised_rejects_that_event_with_why() {
    let server = partner_answering(200).await;
    let mut input = events(2);
    let bad = json!({"type": "track", "event": "Unserialisable", "userId": "u1",
        "messageId": "m-bad", "timestamp": "2026-01-02T03:04:05Z"});
    input.extend_from_slice(format!("{bad}\n").as_bytes());
    let (rt, _clock) = runtime(TestDest::default(), &server.uri(), config());
    let r = rt.deliver_bytes(&input).await;
    check(&r);
    assert_eq!((r.report.delivered, r.report.rejected), (2, 1));
    let rejected = r
        .events
        .iter()
        .find(|e| e.message_id.as_deref() == Some("m-bad"))
        .expect("the event has an outcome");
    match &rejected.outcome {
        Outcome::Rejected { reason } => assert!(
            reason.contains("cannot be serialised as JSON: key must be a string"),
            "{reason}"
        ),
        other => panic!("expected rejected, got {other:?}"),
    }
    // nothing was sent for it: no `null` body reached the partner
    let bodies: Vec<String> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(
        bodies
            .iter()
            .all(|b| !b.contains("null]") && !b.contains("[null")),
        "{bodies:?}"
    );
    assert_eq!(
        bodies
            .iter()
            .map(|b| b.matches("\"id\"").count())
            .sum::<usize>(),
        2
    );
}

/// On the runtime `destkit` builds (one async worker, the blocking pool held to one thread per
/// core plus one, the reader holding one of them for the whole run), a stream of many chunks
/// still gets through: every event accounted, every request answered.
#[test]
fn the_recommended_tokio_runtime_delivers_a_long_stream() {
    let rt = destination_kit::runtime::tokio_runtime().expect("a tokio runtime");
    rt.block_on(async {
        let server = partner_answering(200).await;
        let input = events(5_000); // about 20 chunks of 256
        let (runtime, _clock) = runtime(TestDest::batched(100), &server.uri(), config());
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            runtime.deliver_reader(std::io::Cursor::new(input)),
        )
        .await
        .expect("the stream got through (no thread starved)");
        check(&r);
        assert_eq!((r.report.input, r.report.delivered), (5_000, 5_000));
        assert_eq!(received(&server).await, 50);
    });
}

/// `block_on_worker` drives a delivery on the runtime's worker (not on the calling thread), with
/// the same result as `block_on`, and gives a panic of the task back to the caller.
#[test]
fn a_delivery_driven_on_the_worker_accounts_for_every_event() {
    let rt = destination_kit::runtime::tokio_runtime().expect("a tokio runtime");
    let caller = std::thread::current().id();
    let (r, requests, ran_on) = destination_kit::runtime::block_on_worker(&rt, async {
        let server = partner_answering(200).await;
        let (runtime, _clock) = runtime(TestDest::batched(1), &server.uri(), config());
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            runtime.deliver_reader(std::io::Cursor::new(events(300))),
        )
        .await
        .expect("the stream got through");
        (r, received(&server).await, std::thread::current().id())
    });
    assert_ne!(ran_on, caller, "the driver ran on a worker");
    check(&r);
    assert_eq!((r.report.input, r.report.delivered), (300, 300));
    assert_eq!(requests, 300, "one request per event");

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        destination_kit::runtime::block_on_worker(&rt, async { panic!("inside the task") })
    }))
    .expect_err("the panic reaches the caller");
    assert_eq!(panicked.downcast_ref::<&str>(), Some(&"inside the task"));
}

/// A `Verdict::Filtered` (a send hook's decision not to send, on state `map` cannot see) ends
/// the event `filtered` with the reason and no attempt; when an event has other payloads, one
/// delivered makes it delivered. (This test destination decides on the answer, so the partner
/// did see the requests; what is checked is the accounting.)
#[tokio::test]
async fn a_payload_filtered_at_send_time_ends_its_event_filtered_unless_another_was_delivered() {
    use destination_kit::{PartnerResponse, Payload, Verdict, Verdicts};
    use std::time::SystemTime;
    fn filter_second(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
        if batch.iter().all(|p| p.body.get().contains("\"n\":1")) {
            return Verdicts::all(
                batch.len(),
                Verdict::Filtered {
                    reason: "nothing to do for the second payload".into(),
                },
            );
        }
        Verdicts::default_for(resp, batch.len(), now)
    }
    let server = partner_answering(200).await;
    // two payloads an event (n 0 and 1): the first delivered, the second filtered
    let dest = TestDest {
        fanout: 2,
        interpret: Some(filter_second),
        ..TestDest::default()
    };
    let (rt, _clock) = runtime(dest, &server.uri(), config());
    let r = rt.deliver_bytes(&events(3)).await;
    check(&r);
    assert_eq!((r.report.delivered, r.report.filtered), (3, 0), "{r:#?}");
    // one payload an event, filtered: the event is filtered, with no attempt counted
    let server = partner_answering(200).await;
    let dest = TestDest {
        fanout: 2,
        interpret: Some(|_, batch, _| {
            Verdicts::all(
                batch.len(),
                Verdict::Filtered {
                    reason: "session already closed".into(),
                },
            )
        }),
        ..TestDest::default()
    };
    let (rt, _clock) = runtime(dest, &server.uri(), config());
    let r = rt.deliver_bytes(&events(2)).await;
    check(&r);
    assert_eq!((r.report.delivered, r.report.filtered), (0, 2), "{r:#?}");
    assert_eq!(r.report.requests, 0);
    for e in &r.events {
        match &e.outcome {
            Outcome::Filtered { reason } => assert_eq!(reason, "session already closed"),
            other => panic!("{other:?}"),
        }
        assert_eq!((e.attempts, e.last_status), (0, None));
    }
}
