//! Amplitude through the delivery runtime against its mock: every specced event and call, the
//! 400-with-indices quirk, invalid API key, 429 = 30 s, 413 split, 5xx retries, product events.

use destination_kit::runtime::{DeliveryConfig, DeliveryResult, Runtime, TestClock};
use destination_kit::{ErrorKind, Outcome};
use destinations::amplitude::{self, mock::AmplitudeMock};
use serde_json::{Value, json};
use spec_tests::fixtures;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

fn clock() -> Arc<TestClock> {
    Arc::new(TestClock::new(
        UNIX_EPOCH + Duration::from_secs(1_773_489_600),
    ))
}

fn jsonl(events: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(e.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

async fn deliver(settings: Value, clock: &Arc<TestClock>, events: &[Value]) -> DeliveryResult {
    let dest = amplitude::configure(settings, None).expect("valid settings");
    Runtime::new(dest, DeliveryConfig::default().concurrency(1))
        .with_clock(clock.clone())
        .deliver_bytes(&jsonl(events))
        .await
}

fn track(id: &str, event: &str, props: Value) -> Value {
    json!({
        "type": "track", "messageId": id, "userId": "user-0001", "anonymousId": "anon-0001",
        "event": event, "properties": props, "timestamp": "2026-03-14T10:00:00Z",
    })
}

fn five() -> Vec<Value> {
    (0..5)
        .map(|i| {
            track(
                &format!("m{i}"),
                "Video Playback Paused",
                json!({"position": i}),
            )
        })
        .collect()
}

fn outcome(r: &DeliveryResult, line: usize) -> &Outcome {
    &r.events
        .iter()
        .find(|e| e.line == line)
        .expect("an outcome per line")
        .outcome
}

async fn http_bodies(m: &AmplitudeMock) -> Vec<Value> {
    m.partner
        .received()
        .await
        .iter()
        .filter(|q| q.url.path() == "/2/httpapi")
        .map(|q| serde_json::from_slice(&q.body).expect("JSON"))
        .collect()
}

fn insert_ids(b: &Value) -> Vec<&str> {
    b["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["insert_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_spec_event_and_call_adds_up() {
    let m = AmplitudeMock::start().await;
    let mut input: Vec<Value> = fixtures::all_spec_events()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(input.len(), 55);
    input.extend(fixtures::calls().into_iter().map(|(_, v)| v));
    let order = input
        .iter()
        .find(|e| e["event"] == "Order Completed")
        .expect("an order")
        .clone();
    let products = order["properties"]["products"].as_array().unwrap().len();
    let r = deliver(m.partner.settings.clone(), &clock(), &input).await;
    let problems: Vec<_> = r.events.iter().filter(|e| e.outcome.is_problem()).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let rep = &r.report;
    assert!(rep.adds_up(), "{rep:?}");
    assert_eq!(
        (
            rep.input,
            rep.delivered,
            rep.filtered,
            rep.failed,
            rep.expired
        ),
        (61, 61, 0, 0, 0)
    );
    // 55 spec events + Product Purchased per product + track, page, screen, identify, group
    let ingested = m.ingested();
    assert_eq!(ingested.len(), 55 + products + 5);
    assert_eq!(m.duplicates(), 0);
    let mid = order["messageId"].as_str().unwrap();
    let purchased: Vec<&str> = ingested
        .iter()
        .filter(|e| e["event_type"] == "Product Purchased")
        .map(|e| e["insert_id"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..products).map(|n| format!("{mid}-{n}")).collect();
    assert_eq!(purchased, want);
    let oc = ingested
        .iter()
        .find(|e| e["event_type"] == "Order Completed")
        .unwrap();
    assert_eq!(oc["revenueType"], "Purchase");
    assert!(oc["revenue"].as_f64().is_some());
    assert!(oc["time"].is_i64());
    assert_eq!(m.group_identifications().len(), 1);
    assert_eq!(m.mappings().len(), 1);
}

/// The quirk: a 400 naming indices fails only those events; the others are resent at once.
#[tokio::test]
async fn a_400_naming_indices_fails_only_those_and_resends_the_rest() {
    let m = AmplitudeMock::start().await.reject_indices([1, 3]);
    let r = deliver(m.partner.settings.clone(), &clock(), &five()).await;
    for line in [1, 3, 5] {
        assert_eq!(outcome(&r, line), &Outcome::Delivered, "line {line}");
    }
    for line in [2, 4] {
        match outcome(&r, line) {
            Outcome::Failed {
                kind,
                reason,
                status,
            } => {
                assert_eq!(*kind, ErrorKind::Client);
                assert_eq!(reason, "Amplitude: invalid field `event_properties`");
                assert_eq!(*status, Some(400));
            }
            other => panic!("line {line}: {other:?}"),
        }
    }
    let bodies = http_bodies(&m).await;
    assert_eq!(bodies.len(), 2);
    assert_eq!(insert_ids(&bodies[0]), ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(insert_ids(&bodies[1]), ["m0", "m2", "m4"]);
    assert_eq!(m.ingested().len(), 3);
    assert_eq!((r.report.delivered, r.report.failed), (3, 2));
}

/// Ids shorter than Amplitude's minimum: sent with `options.min_id_length` when the setting
/// lowers it, else rejected by the mapping and never sent (the mock would refuse them).
#[tokio::test]
async fn short_ids_go_with_min_id_length_else_are_rejected_before_sending() {
    let m = AmplitudeMock::start().await;
    let mut s = m.partner.settings.clone();
    s["min_id_length"] = json!(1);
    let mut input = five();
    input[2]["userId"] = json!("abc");
    let r = deliver(s, &clock(), &input).await;
    assert_eq!(r.report.delivered, 5);
    assert_eq!(
        http_bodies(&m).await[0]["options"],
        json!({"min_id_length": 1})
    );
    let m2 = AmplitudeMock::start().await;
    let r = deliver(m2.partner.settings.clone(), &clock(), &input).await;
    assert!(
        matches!(outcome(&r, 3), Outcome::Rejected { reason } if reason.contains("min_id_length"))
    );
    assert_eq!(
        insert_ids(&http_bodies(&m2).await[0]),
        ["m0", "m1", "m3", "m4"]
    );
}

#[tokio::test]
async fn invalid_api_key_fails_everything_as_auth_without_retrying() {
    let m = AmplitudeMock::start().await;
    let mut s = m.partner.settings.clone();
    s["api_key"] = json!("not-the-key");
    let r = deliver(s, &clock(), &five()).await;
    assert_eq!(r.report.failed, 5);
    assert!(r.events.iter().all(|e| matches!(
        &e.outcome,
        Outcome::Failed { kind: ErrorKind::Auth, reason, .. } if reason == "Amplitude: Invalid API key"
    )));
    assert_eq!(m.partner.received().await.len(), 1);
}

#[tokio::test]
async fn a_429_waits_30_seconds_unless_retry_after_says_otherwise() {
    let m = AmplitudeMock::start().await.throttle_next(1, None);
    let c = clock();
    let r = deliver(m.partner.settings.clone(), &c, &five()).await;
    assert_eq!(r.report.delivered, 5);
    assert_eq!(m.partner.received().await.len(), 2);
    assert_eq!(c.sleeps().first(), Some(&Duration::from_secs(30)));

    let m = AmplitudeMock::start().await.throttle_next(1, Some(4));
    let c = clock();
    let r = deliver(m.partner.settings.clone(), &c, &five()).await;
    assert_eq!(r.report.delivered, 5);
    assert_eq!(c.sleeps().first(), Some(&Duration::from_secs(4)));
}

#[tokio::test]
async fn a_413_splits_the_batch() {
    let m = AmplitudeMock::start().await.fail_next(1, 413);
    let r = deliver(m.partner.settings.clone(), &clock(), &five()).await;
    assert_eq!(r.report.delivered, 5);
    let bodies = http_bodies(&m).await;
    let sizes: Vec<usize> = bodies
        .iter()
        .map(|b| b["events"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes[0], 5);
    assert_eq!(sizes[1..].iter().sum::<usize>(), 5);
    assert_eq!(sizes.len(), 3, "{sizes:?}");
}

#[tokio::test]
async fn server_errors_retry_and_insert_id_keeps_them_harmless() {
    let m = AmplitudeMock::start()
        .await
        .fail_next(1, 500)
        .fail_next(1, 502)
        .fail_next(1, 503)
        .fail_next(1, 504);
    let r = deliver(m.partner.settings.clone(), &clock(), &five()).await;
    assert_eq!(r.report.delivered, 5);
    assert!(r.events.iter().all(|e| e.attempts == 5));
    assert_eq!(m.partner.received().await.len(), 5);
    assert_eq!(m.ingested().len(), 5);
}

/// Silenced events (a spammy device) fail alone; the rest of the batch is resent.
#[tokio::test]
async fn silenced_events_fail_alone() {
    let m = AmplitudeMock::start().await.silence_indices([0]);
    let r = deliver(m.partner.settings.clone(), &clock(), &five()).await;
    assert!(
        matches!(outcome(&r, 1), Outcome::Failed { reason, .. } if reason.contains("silenced"))
    );
    assert_eq!(r.report.delivered, 4);
    let bodies = http_bodies(&m).await;
    assert_eq!(insert_ids(&bodies[1]), ["m1", "m2", "m3", "m4"]);
}

/// Latency alone changes nothing: every event is delivered once.
#[tokio::test]
async fn latency_is_only_slower() {
    let m = AmplitudeMock::start()
        .await
        .latency(Duration::from_millis(50));
    let r = deliver(m.partner.settings.clone(), &clock(), &five()).await;
    assert_eq!(r.report.delivered, 5);
    assert_eq!(m.partner.received().await.len(), 1);
}
