//! GA4 through the delivery runtime against its mock: every specced event and call, the
//! always-204 quirk and the validation server, throttling, batching per user, the 72-hour rule.

use destination_kit::Outcome;
use destination_kit::runtime::{DeliveryConfig, DeliveryResult, Runtime, TestClock};
use destinations::ga4;
use destinations::ga4::mock::{Ga4Mock, MEASUREMENT_ID};
use serde_json::{Value, json};
use spec_tests::fixtures;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// "Now" for the 72-hour rule: two hours after the fixtures' last event.
const NOW: &str = "2026-03-14T12:00:00Z";

fn settings(m: &Ga4Mock, validate: bool) -> Value {
    let mut s = if validate {
        m.partner.settings.clone()
    } else {
        m.production_settings()
    };
    s["now"] = json!(NOW);
    s
}

fn runtime(settings: Value, clock: &Arc<TestClock>) -> Runtime {
    let dest = ga4::configure(settings, None).expect("valid settings");
    Runtime::new(dest, DeliveryConfig::default().concurrency(1)).with_clock(clock.clone())
}

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
    runtime(settings, clock).deliver_bytes(&jsonl(events)).await
}

fn track(id: &str, user: &str, event: &str, props: Value) -> Value {
    json!({
        "type": "track", "messageId": id, "userId": user, "anonymousId": format!("anon-{user}"),
        "event": event, "properties": props, "timestamp": "2026-03-14T10:00:00Z",
    })
}

fn outcome(r: &DeliveryResult, line: usize) -> &Outcome {
    &r.events
        .iter()
        .find(|e| e.line == line)
        .expect("an outcome per line")
        .outcome
}

#[tokio::test]
async fn every_spec_event_and_call_adds_up_against_the_validation_server() {
    let m = Ga4Mock::start().await;
    let mut input: Vec<Value> = fixtures::all_spec_events()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(input.len(), 55);
    input.extend(fixtures::calls().into_iter().map(|(_, v)| v));
    let r = deliver(settings(&m, true), &clock(), &input).await;
    let rep = &r.report;
    let problems: Vec<_> = r.events.iter().filter(|e| e.outcome.is_problem()).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(rep.adds_up(), "{rep:?}");
    assert_eq!(rep.input, 61);
    // 55 spec events + track, page, screen, group; identify and alias are filtered with a reason
    assert_eq!(
        (
            rep.delivered,
            rep.filtered,
            rep.failed,
            rep.expired,
            rep.rejected
        ),
        (59, 2, 0, 0, 0)
    );
    let filtered: Vec<&str> = r
        .events
        .iter()
        .filter_map(|e| match &e.outcome {
            Outcome::Filtered { reason } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(filtered.len(), 2);
    assert!(filtered[0].contains("at least one event"), "{filtered:?}");
    assert!(filtered[1].contains("no alias"), "{filtered:?}");
    // every request went to the validation server, which found nothing to object to
    let received = m.partner.received().await;
    assert!(received.iter().all(|q| q.url.path() == "/debug/mp/collect"));
    let events: usize = m
        .bodies()
        .await
        .iter()
        .map(|b| b["events"].as_array().unwrap().len())
        .sum();
    assert_eq!(events, 59);
    assert_eq!(
        m.bad_secret_requests(),
        0,
        "api_secret travels in the query"
    );
    assert!(received.iter().all(|q| {
        q.url
            .query()
            .unwrap()
            .starts_with(&format!("measurement_id={MEASUREMENT_ID}&api_secret="))
    }));
    // purchase arrived with its transaction id and items
    let bodies = m.bodies().await;
    let purchase = bodies
        .iter()
        .flat_map(|b| b["events"].as_array().unwrap().clone())
        .find(|e| e["name"] == "purchase")
        .expect("a purchase");
    assert!(
        purchase["params"]["transaction_id"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(!purchase["params"]["items"].as_array().unwrap().is_empty());
}

/// The quirk: production answers 204 even to a payload GA4 will throw away; the validation
/// server names the bad event, which fails alone while the others are resent and delivered.
#[tokio::test]
async fn always_204_in_production_validation_names_the_bad_event() {
    let input = [
        track(
            "m1",
            "user-1",
            "Product Viewed",
            json!({"product_id": "p1", "price": 3, "currency": "EUR"}),
        ),
        track(
            "m2",
            "user-1",
            "Product Viewed",
            json!({"product_id": "p2", "price": 3, "currency": "eur"}),
        ),
        track(
            "m3",
            "user-1",
            "Product Viewed",
            json!({"product_id": "p3", "price": 3, "currency": "EUR"}),
        ),
    ];

    let prod = Ga4Mock::start().await;
    let r = deliver(settings(&prod, false), &clock(), &input).await;
    assert_eq!(r.report.delivered, 3, "production trusts the 204");
    let got = prod.partner.received().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].url.path(), "/mp/collect");

    let dbg = Ga4Mock::start().await;
    let r = deliver(settings(&dbg, true), &clock(), &input).await;
    assert_eq!(outcome(&r, 1), &Outcome::Delivered);
    assert_eq!(outcome(&r, 3), &Outcome::Delivered);
    match outcome(&r, 2) {
        Outcome::Failed { reason, .. } => assert_eq!(
            reason,
            "GA4 validation VALUE_INVALID at events[1].params.currency: \"eur\" is not an ISO-4217 currency code"
        ),
        other => panic!("{other:?}"),
    }
    let bodies = dbg.bodies().await;
    let ids = |b: &Value| -> Vec<String> {
        b["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["params"]["items"][0]["item_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        bodies.len(),
        2,
        "one request, then the resend of the good events"
    );
    assert_eq!(ids(&bodies[0]), ["p1", "p2", "p3"]);
    assert_eq!(ids(&bodies[1]), ["p1", "p3"]);
}

#[tokio::test]
async fn throttling_waits_for_retry_after() {
    let m = Ga4Mock::start()
        .await
        .throttle_next(1, Some(12))
        .fail_next(1, 503);
    let c = clock();
    let r = deliver(
        settings(&m, true),
        &c,
        &[track("m1", "user-1", "Cart Viewed", json!({}))],
    )
    .await;
    assert_eq!(r.report.delivered, 1);
    assert_eq!(r.events[0].attempts, 3);
    assert_eq!(m.partner.received().await.len(), 3);
    assert_eq!(c.sleeps().first(), Some(&Duration::from_secs(12)));
}

#[tokio::test]
async fn batches_hold_one_user_and_at_most_25_events() {
    let m = Ga4Mock::start().await;
    let mut input: Vec<Value> = (0..30)
        .map(|i| track(&format!("a{i}"), "user-1", "Cart Viewed", json!({})))
        .collect();
    input.extend((0..3).map(|i| track(&format!("b{i}"), "user-2", "Cart Viewed", json!({}))));
    let r = deliver(settings(&m, true), &clock(), &input).await;
    assert_eq!(r.report.delivered, 33);
    let mut sizes: Vec<(String, usize)> = m
        .bodies()
        .await
        .iter()
        .map(|b| {
            (
                b["user_id"].as_str().unwrap().to_string(),
                b["events"].as_array().unwrap().len(),
            )
        })
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        [
            ("user-1".into(), 5),
            ("user-1".into(), 25),
            ("user-2".into(), 3)
        ]
    );
}

#[tokio::test]
async fn events_older_than_72_hours_are_rejected_and_never_sent() {
    let m = Ga4Mock::start().await;
    let mut old = track("old", "user-1", "Cart Viewed", json!({}));
    old["timestamp"] = json!("2026-03-11T11:59:00Z");
    let fresh = track("new", "user-1", "Cart Viewed", json!({}));
    let r = deliver(settings(&m, true), &clock(), &[old, fresh]).await;
    match outcome(&r, 1) {
        Outcome::Rejected { reason } => assert!(reason.contains("72 hours"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(outcome(&r, 2), &Outcome::Delivered);
    let bodies = m.bodies().await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["events"].as_array().unwrap().len(), 1);
    assert_eq!(
        bodies[0]["events"][0]["timestamp_micros"],
        1_773_482_400_000_000i64
    );
}

#[tokio::test]
async fn server_errors_retry_then_deliver() {
    let m = Ga4Mock::start().await.fail_next(2, 500);
    let r = deliver(
        settings(&m, false),
        &clock(),
        &[track("m1", "user-1", "Signed Up", json!({"plan": "pro"}))],
    )
    .await;
    assert_eq!(r.report.delivered, 1);
    assert_eq!(m.partner.received().await.len(), 3);
    let b = &m.bodies().await[2];
    assert_eq!(b["events"][0]["name"], "sign_up");
}
