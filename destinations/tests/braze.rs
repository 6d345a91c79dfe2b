//! Braze through the delivery runtime against its mock partner: every specced event and call,
//! and the 201 errors[], fatal, queued, 429 X-RateLimit-Reset and 5xx quirks with per-event
//! outcomes.

use destination_kit::runtime::{DeliveryConfig, Runtime, TestClock};
use destination_kit::{ErrorKind, Message, Outcome};
use destinations::braze::{self, BrazeMock};
use serde_json::{Value, json};
use spec_tests::fixtures;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

fn stream() -> Vec<Message> {
    fixtures::all_spec_events()
        .into_iter()
        .map(|(_, v)| v)
        .chain(fixtures::calls().into_iter().map(|(_, v)| v))
        .map(|v| Message::from_value(v).expect("fixture parses"))
        .collect()
}

fn runtime(settings: Value) -> Runtime {
    Runtime::new(
        braze::configure(settings, None).expect("settings"),
        DeliveryConfig::default(),
    )
}

fn part(reqs: &[wiremock::Request], part: &str) -> Vec<Value> {
    reqs.iter()
        .filter(|r| r.url.path() == "/users/track")
        .flat_map(|r| {
            let v: Value = serde_json::from_slice(&r.body).expect("JSON body");
            v[part].as_array().cloned().unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn all_55_spec_events_and_six_calls_add_up() {
    let mock = BrazeMock::start().await;
    let result = runtime(mock.settings()).deliver_messages(stream()).await;
    let r = &result.report;
    assert!(r.adds_up(), "{r:?}");
    assert_eq!(r.input, 61);
    assert_eq!(
        (r.failed, r.expired, r.rejected, r.filtered),
        (0, 0, 0, 0),
        "{:?}",
        result.events
    );
    assert_eq!(r.delivered, 61);
    let reqs = mock.received().await;
    let events = part(&reqs, "events");
    let attributes = part(&reqs, "attributes");
    // 55 spec events + custom track + page + screen
    assert_eq!(events.len(), 58);
    // Unsubscribed + Email Marked as Spam + identify + group
    assert_eq!(attributes.len(), 4);
    assert_eq!(mock.processed(), [4, 58, 0]);
    assert_eq!(mock.merged(), 1);
    // the seven spec events with a recommended eCommerce event were sent as such
    let mut ecommerce: Vec<&str> = events
        .iter()
        .filter_map(|e| e["name"].as_str())
        .filter(|n| n.starts_with("ecommerce."))
        .collect();
    ecommerce.sort();
    assert_eq!(
        ecommerce,
        [
            "ecommerce.cart_updated",
            "ecommerce.cart_updated",
            "ecommerce.checkout_started",
            "ecommerce.order_cancelled",
            "ecommerce.order_placed",
            "ecommerce.order_refunded",
            "ecommerce.product_viewed",
        ]
    );
    for e in &events {
        assert!(e["external_id"].is_string(), "{e}");
        assert!(e["time"].as_str().unwrap().ends_with('Z'), "{e}");
    }
}

fn three() -> Vec<Message> {
    (0..3)
        .map(|i| {
            Message::from_value(json!({"type": "track", "event": "Clicked", "userId": "u1",
                "messageId": format!("m-{i}"), "timestamp": "2026-03-14T10:00:00Z", "properties": {"i": i}}))
            .unwrap()
        })
        .collect()
}

fn names(result: &destination_kit::runtime::DeliveryResult) -> Vec<&'static str> {
    result.events.iter().map(|e| e.outcome.name()).collect()
}

#[tokio::test]
async fn quirk_201_errors_fail_only_the_listed_objects() {
    let mock = BrazeMock::start().await.reject_indices("events", [2]);
    let result = runtime(mock.settings()).deliver_messages(three()).await;
    assert_eq!(names(&result), ["delivered", "delivered", "failed"]);
    assert!(matches!(&result.events[2].outcome,
        Outcome::Failed { kind: ErrorKind::Client, reason, status: Some(201) } if reason.contains("events")));
    assert_eq!(mock.received().await.len(), 1);
    assert_eq!(mock.processed(), [0, 2, 0]);
}

#[tokio::test]
async fn quirk_unsubscribed_counts_as_failed_when_its_attribute_fails() {
    // an event with two payloads (attribute + event) is delivered only when both are
    let mock = BrazeMock::start().await.reject_indices("attributes", [0]);
    let unsub = Message::from_value(
        json!({"type": "track", "event": "Unsubscribed", "userId": "u1",
        "messageId": "m-u", "timestamp": "2026-03-14T10:00:00Z", "properties": {"email_id": "e1"}}),
    )
    .unwrap();
    let result = runtime(mock.settings()).deliver_messages([unsub]).await;
    assert_eq!(names(&result), ["failed"]);
    assert_eq!(mock.processed(), [0, 1, 0]);
}

#[tokio::test]
async fn quirk_fatal_2xx_fails_all_and_queued_202_delivers() {
    let mock = BrazeMock::start().await.fatal_next(1);
    let result = runtime(mock.settings()).deliver_messages(three()).await;
    assert_eq!(names(&result), ["failed", "failed", "failed"]);
    assert_eq!(mock.received().await.len(), 1);
    let mock = BrazeMock::start().await.queued_next(1);
    let result = runtime(mock.settings()).deliver_messages(three()).await;
    assert_eq!(names(&result), ["delivered", "delivered", "delivered"]);
    assert_eq!(mock.received().await.len(), 1);
}

#[tokio::test]
async fn quirk_429_waits_until_x_ratelimit_reset_and_5xx_is_retried() {
    let start = UNIX_EPOCH + Duration::from_secs(1_773_482_400); // 2026-03-14T10:00:00Z
    let mock = BrazeMock::start()
        .await
        .now("2026-03-14T10:00:00Z".parse().unwrap())
        .throttle_next(1, 30)
        .fail_next(1, 503);
    let clock = Arc::new(TestClock::new(start));
    let mut s = mock.settings();
    s["now"] = json!("2026-03-14T10:00:00Z");
    let result = runtime(s)
        .with_clock(clock.clone())
        .deliver_messages(three())
        .await;
    assert_eq!(names(&result), ["delivered", "delivered", "delivered"]);
    assert!(
        result.events.iter().all(|e| e.attempts == 3),
        "{:?}",
        result.events
    );
    assert_eq!(mock.received().await.len(), 3);
    // the first wait is exactly what X-RateLimit-Reset said; the second a backoff
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert_eq!(sleeps[0], Duration::from_secs(30));
    assert_eq!(mock.processed(), [0, 3, 0]);
}

#[tokio::test]
async fn quirk_wrong_key_fails_as_auth() {
    let mock = BrazeMock::start().await;
    let mut s = mock.settings();
    s["api_key"] = json!("wrong");
    let result = runtime(s).deliver_messages(three()).await;
    for e in &result.events {
        assert!(
            matches!(
                &e.outcome,
                Outcome::Failed {
                    kind: ErrorKind::Auth,
                    status: Some(401),
                    ..
                }
            ),
            "{e:?}"
        );
    }
    assert_eq!(mock.received().await.len(), 1);
}

#[tokio::test]
async fn batches_hold_at_most_50_payloads() {
    let mock = BrazeMock::start().await;
    let msgs: Vec<Message> = (0..120)
        .map(|i| {
            Message::from_value(json!({"type": "track", "event": "E", "userId": "u1",
                "messageId": format!("m-{i}"), "timestamp": "2026-03-14T10:00:00Z"}))
            .unwrap()
        })
        .collect();
    let result = runtime(mock.settings()).deliver_messages(msgs).await;
    assert_eq!(result.report.delivered, 120);
    let reqs = mock.received().await;
    assert!(reqs.len() >= 3);
    for r in &reqs {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["events"].as_array().unwrap().len() <= 50);
    }
    assert_eq!(mock.processed(), [0, 120, 0]);
}
