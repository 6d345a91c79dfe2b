//! Retry timing on the injected clock: Retry-After in both forms, a Retry-After past the budget,
//! the 4-hour budget, 413 splitting, partial batch failures and resends.

#[path = "runtime_support.rs"]
mod support;

use destination_kit::runtime::RetryPolicy;
use destination_kit::{ErrorKind, Outcome, PartnerResponse, Payload, Verdict, Verdicts};
use std::time::{Duration, SystemTime};
use support::*;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

async fn mount_once_then_ok(server: &MockServer, first: ResponseTemplate) {
    Mock::given(method("POST"))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(server)
        .await;
}

#[tokio::test]
async fn retry_after_as_http_date_is_waited_for() {
    let server = MockServer::start().await;
    let at = httpdate::fmt_http_date(t0() + Duration::from_secs(120));
    mount_once_then_ok(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", at.as_str()),
    )
    .await;
    let (rt, clock) = runtime(TestDest::default(), &server.uri(), config());
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.events[0].outcome, Outcome::Delivered);
    assert_eq!(received(&server).await, 2);
    assert_eq!(clock.elapsed(), Duration::from_secs(120));
}

#[tokio::test]
async fn retry_after_in_seconds_is_waited_for_each_time() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "30"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    let (rt, clock) = runtime(TestDest::default(), &server.uri(), config());
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.events[0].outcome, Outcome::Delivered);
    assert_eq!(received(&server).await, 4);
    assert_eq!(r.events[0].attempts, 4);
    assert_eq!(clock.elapsed(), Duration::from_secs(90));
}

#[tokio::test]
async fn retry_after_past_the_budget_expires_without_waiting() {
    let server = MockServer::start().await;
    // 5 hours: more than the 4-hour budget
    mount_once_then_ok(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", "18000"),
    )
    .await;
    let (rt, clock) = runtime(TestDest::default(), &server.uri(), config());
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    match &r.events[0].outcome {
        Outcome::Expired { reason, status } => {
            assert_eq!(*status, Some(429));
            assert!(reason.contains("budget"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(received(&server).await, 1);
    assert_eq!(clock.elapsed(), Duration::ZERO, "did not sleep through it");
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn retry_after_exactly_fills_the_budget_then_expires() {
    // budget 5 min, Retry-After 60 s: attempts at 0, 60, …, 300 s, then the next wait passes it
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "60"))
        .mount(&server)
        .await;
    let cfg = config().max_retry_duration(Duration::from_secs(300));
    let (rt, clock) = runtime(TestDest::default(), &server.uri(), cfg);
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.report.expired, 1);
    assert_eq!(received(&server).await, 6);
    assert_eq!(r.events[0].attempts, 6);
    assert_eq!(clock.elapsed(), Duration::from_secs(300));
}

#[tokio::test]
async fn a_partner_failing_forever_expires_after_four_hours() {
    let server = partner_answering(503).await;
    let (rt, clock) = runtime(TestDest::default(), &server.uri(), config());
    let policy = RetryPolicy::default();
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    match &r.events[0].outcome {
        Outcome::Expired { status, .. } => assert_eq!(*status, Some(503)),
        other => panic!("{other:?}"),
    }
    let budget = Duration::from_secs(4 * 3600);
    let cap = policy.max_backoff;
    let elapsed = clock.elapsed();
    assert!(
        elapsed <= budget + cap && elapsed >= budget - cap,
        "{elapsed:?}"
    );
    // waits are uniform in [0, ceiling]: about 5 min on average once capped, so tens of attempts
    let n = received(&server).await;
    assert!((12..=2000).contains(&n), "{n} attempts");
    assert_eq!(r.events[0].attempts as usize, n);
    assert_eq!(r.report.requests as usize, n);
    assert_eq!(clock.sleeps().len(), n - 1);
    assert!(clock.sleeps().iter().all(|s| *s <= cap));
}

/// 413 whenever a request carries more than one event.
fn too_large_over_one(req: &Request) -> ResponseTemplate {
    let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    if v.as_array().map(|a| a.len()).unwrap_or(1) > 1 {
        ResponseTemplate::new(413)
    } else {
        ResponseTemplate::new(200)
    }
}

#[tokio::test]
async fn payload_too_large_splits_the_batch_in_halves() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(too_large_over_one)
        .mount(&server)
        .await;
    let (rt, clock) = runtime(TestDest::batched(4), &server.uri(), config());
    let r = rt.deliver_bytes(&events(4)).await;
    check(&r);
    assert_eq!(r.report.delivered, 4);
    // [4] → [2][2] → [1][1][1][1]
    assert_eq!(received(&server).await, 7);
    assert_eq!(r.report.requests, 7);
    assert!(clock.sleeps().is_empty(), "splits are sent at once");
    let sizes: Vec<usize> = server
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
    let mut sorted = sizes.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 1, 1, 1, 2, 2, 4]);
}

/// A partner that rejects the payloads whose id ends in an odd digit, like Braze's errors array.
fn reject_odd(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
    let mut v = Verdicts::default_for(resp, batch.len(), now);
    if resp.status == 200 {
        for (i, p) in batch.iter().enumerate() {
            let body: serde_json::Value = serde_json::from_str(p.body.get()).unwrap();
            let id = body["id"].as_str().unwrap();
            let last = id.chars().last().unwrap().to_digit(10).unwrap();
            if last % 2 == 1 {
                v = v.set(
                    i,
                    Verdict::Failed {
                        kind: ErrorKind::Client,
                        reason: format!("{id}: bad field"),
                    },
                );
            }
        }
    }
    v
}

#[tokio::test]
async fn a_partially_rejected_batch_keeps_per_event_outcomes() {
    let server = partner_answering(200).await;
    let mut dest = TestDest::batched(10);
    dest.interpret = Some(reject_odd);
    let (rt, _clock) = runtime(dest, &server.uri(), config());
    let r = rt.deliver_bytes(&events(10)).await;
    check(&r);
    assert_eq!(received(&server).await, 1);
    assert_eq!((r.report.delivered, r.report.failed), (5, 5));
    for e in &r.events {
        let odd = e.line % 2 == 0; // line n carries m{n-1}
        match &e.outcome {
            Outcome::Failed { reason, .. } => {
                assert!(odd, "{e:?}");
                assert!(reason.ends_with("bad field"));
            }
            Outcome::Delivered => assert!(!odd, "{e:?}"),
            other => panic!("{other:?}"),
        }
    }
}

/// Amplitude-style: a 400 naming bad payloads; the rest were not processed and are resent.
fn fail_first_resend_rest(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
    if resp.status == 400 {
        Verdicts::all(batch.len(), Verdict::Resend).set(
            0,
            Verdict::Failed {
                kind: ErrorKind::Client,
                reason: "invalid event".into(),
            },
        )
    } else {
        Verdicts::default_for(resp, batch.len(), now)
    }
}

#[tokio::test]
async fn resend_goes_out_at_once_without_the_failed_payloads() {
    let server = MockServer::start().await;
    mount_once_then_ok(&server, ResponseTemplate::new(400)).await;
    let mut dest = TestDest::batched(5);
    dest.interpret = Some(fail_first_resend_rest);
    let (rt, clock) = runtime(dest, &server.uri(), config());
    let r = rt.deliver_bytes(&events(5)).await;
    check(&r);
    assert_eq!((r.report.delivered, r.report.failed), (4, 1));
    assert_eq!(r.report.requests, 2);
    assert!(clock.sleeps().is_empty());
    let reqs = server.received_requests().await.unwrap();
    let second: serde_json::Value = serde_json::from_slice(&reqs[1].body).unwrap();
    let ids: Vec<&str> = second
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["m1", "m2", "m3", "m4"]);
    assert_eq!(r.events[0].attempts, 1);
    assert_eq!(r.events[1].attempts, 2);
}

/// An event mapped to several payloads: delivered only when all are; else its worst result.
#[tokio::test]
async fn an_event_with_several_payloads_takes_its_worst_result() {
    fn fail_n1(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
        let mut v = Verdicts::default_for(resp, batch.len(), now);
        for (i, p) in batch.iter().enumerate() {
            let body: serde_json::Value = serde_json::from_str(p.body.get()).unwrap();
            if body["n"] == 1 && body["id"] == "m0" {
                v = v.set(
                    i,
                    Verdict::Failed {
                        kind: ErrorKind::Client,
                        reason: "second part refused".into(),
                    },
                );
            }
        }
        v
    }
    let server = partner_answering(200).await;
    let mut dest = TestDest::batched(2);
    dest.fanout = 3;
    dest.interpret = Some(fail_n1);
    let (rt, _clock) = runtime(dest, &server.uri(), config());
    let r = rt.deliver_bytes(&events(2)).await;
    check(&r);
    assert_eq!(r.report.input, 2);
    assert_eq!((r.report.delivered, r.report.failed), (1, 1));
    assert!(
        matches!(&r.events[0].outcome, Outcome::Failed { reason, .. } if reason == "second part refused")
    );
    assert_eq!(r.events[1].outcome, Outcome::Delivered);
    // 6 payloads, at most 2 a request: each event's three go as 2 + 1 (a batch that cannot
    // take all of an event's payloads is sent before them)
    assert_eq!(received(&server).await, 4);
}

#[tokio::test]
async fn retry_after_zero_still_backs_off_and_expires() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .mount(&server)
        .await;
    let cfg = config().max_retry_duration(Duration::from_secs(120));
    let (rt, clock) = runtime(TestDest::default(), &server.uri(), cfg);
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.report.expired, 1);
    let n = received(&server).await;
    // a wait can pass the 120 s budget only once its ceiling 2^(k-1) s exceeds what is left of
    // it, which takes at least 7 attempts; zero waits would never get there
    assert!((7..=200).contains(&n), "{n} attempts");
    assert!(clock.elapsed() <= Duration::from_secs(120));
    // every wait was a real backoff, not the partner's zero
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), n - 1);
}

/// A buggy `interpret` answering for fewer payloads than it was given: the rest still end (failed),
/// the accounting adds up.
#[tokio::test]
async fn too_few_verdicts_still_give_every_event_an_outcome() {
    fn short(_resp: &PartnerResponse, batch: &[Payload], _now: SystemTime) -> Verdicts {
        Verdicts::all(batch.len().saturating_sub(2), Verdict::Delivered)
    }
    let server = partner_answering(200).await;
    let mut dest = TestDest::batched(5);
    dest.interpret = Some(short);
    let (rt, _clock) = runtime(dest, &server.uri(), config());
    let r = rt.deliver_bytes(&events(5)).await;
    check(&r);
    assert_eq!((r.report.delivered, r.report.failed), (3, 2));
    assert!(
        matches!(&r.events[4].outcome, Outcome::Failed { reason, .. } if reason.contains("3 verdicts for 5"))
    );
}
