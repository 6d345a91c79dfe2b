//! Edges of the retry rules: absurd Retry-After values and budgets, a resumed retry batched with
//! new events, and the budget of an event that waited for a free batch slot under `--state`.

#[path = "runtime_support.rs"]
mod support;

use destination_kit::runtime::{Clock, DedupStore, Journal, StateOptions, StateStore, TestClock};
use destination_kit::{Outcome, PartnerResponse, Payload, Verdicts};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use support::*;
use wiremock::ResponseTemplate;

/// A Retry-After far past the 4-hour budget must end the event `expired` at once (as 18000 does),
/// not panic the batch task and end it `failed` as "the destination panicked".
async fn huge_retry_after(value: &str) {
    let server = once_then_ok(ResponseTemplate::new(429).insert_header("Retry-After", value)).await;
    let (rt, _clock) = runtime(TestDest::default(), &server.uri(), config());
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    match &r.events[0].outcome {
        Outcome::Expired { status, reason } => {
            assert_eq!(*status, Some(429));
            assert!(reason.contains("budget"), "{reason}");
        }
        other => panic!("Retry-After {value}: expected expired (budget), got {other:?}"),
    }
    assert_eq!(received(&server).await, 1);
}

#[tokio::test]
async fn retry_after_delta_seconds_too_large_for_a_system_time() {
    // 10^19 s fits a u64 but not SystemTime: `now + wait` in send.rs panics
    huge_retry_after("10000000000000000000").await;
}

#[tokio::test]
async fn retry_after_delta_seconds_beyond_u64() {
    // not a u64, so parsed as f64: Duration::from_secs_f64(1e20) panics in classify.rs
    huge_retry_after("100000000000000000000").await;
}

#[test]
fn parse_retry_after_never_panics() {
    let now = t0();
    for v in ["1e20", "100000000000000000000", "1.8e19"] {
        let r = std::panic::catch_unwind(|| destination_kit::classify::parse_retry_after(v, now));
        assert!(r.is_ok(), "parse_retry_after({v:?}) panicked");
    }
}

const H: u64 = 3600;

static SEEN: Mutex<Vec<(String, SystemTime)>> = Mutex::new(Vec::new());

/// Records, per request, the ids it carried and when it was answered (the runtime clock).
fn record(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
    for p in batch {
        let v: serde_json::Value = serde_json::from_str(p.body.get()).unwrap();
        SEEN.lock()
            .unwrap()
            .push((v["id"].as_str().unwrap().to_string(), now));
    }
    Verdicts::default_for(resp, batch.len(), now)
}

/// A crash left m0 (line 1) waiting for a retry due at t0 + 3 h; line 2 (m1) was never read.
/// After the restart m1 is a new event, yet it is batched with m0 and held back until m0's
/// retry is due: its first attempt goes out 3 hours late (and with --state its budget counts
/// from its acceptance, so 3 of its 4 hours are gone before it is ever sent).
#[tokio::test]
async fn a_new_event_is_not_held_back_by_a_resumed_events_retry_time() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = StateStore::open(dir.path(), StateOptions::default()).unwrap();
        let j = store.journal("input").unwrap();
        let mut dedup = j.dedup("test");
        assert!(dedup.insert_if_absent("default", "m0", t0()));
        j.accepted(1, None, "m0", t0());
        j.attempted(1, None, 1, t0() + Duration::from_secs(3 * H));
        store.close().unwrap();
    }
    let server = partner_answering(200).await;
    let store = StateStore::open(dir.path(), StateOptions::default()).unwrap();
    let clock = Arc::new(TestClock::new(t0() + Duration::from_secs(60)));
    let dest = TestDest {
        interpret: Some(record),
        ..TestDest::batched(10)
    };
    let (rt, _) = runtime(dest, &server.uri(), config());
    let j = Arc::new(store.journal("input").unwrap());
    let rt = rt
        .with_clock(clock.clone())
        .with_dedup(Box::new(j.dedup("test")))
        .with_journal(j);
    let r = rt.deliver_bytes(&events(2)).await;
    check(&r);
    assert_eq!(r.report.delivered, 2);
    let seen = SEEN.lock().unwrap().clone();
    let m1_sent = seen.iter().find(|(id, _)| id == "m1").expect("m1 sent").1;
    let late = m1_sent
        .duration_since(clock.now() - clock.elapsed())
        .unwrap();
    assert!(
        late < Duration::from_secs(60),
        "the new event m1 was first sent {late:?} after the restart: {seen:?}"
    );
    store.close().unwrap();
}

static SEEN2: Mutex<Vec<(String, SystemTime)>> = Mutex::new(Vec::new());

fn record2(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
    for p in batch {
        let v: serde_json::Value = serde_json::from_str(p.body.get()).unwrap();
        SEEN2
            .lock()
            .unwrap()
            .push((v["id"].as_str().unwrap().to_string(), now));
    }
    Verdicts::default_for(resp, batch.len(), now)
}

/// With --state the budget starts at acceptance, which the README calls "the commit that made
/// it durable, just before its first attempt". But an event is accepted when the driver reads
/// it, and its batch may then wait for a pending-batch slot behind batches that retry for hours:
/// here m1 waits 4 h behind m0 (partner down), is first sent at t0 + 4 h and expires after that
/// one attempt, while without --state it gets its full 4 hours of retries.
#[tokio::test]
async fn with_state_an_event_queued_behind_retrying_batches_keeps_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let server = partner_answering(503).await;
    let store = StateStore::open(dir.path(), StateOptions::default()).unwrap();
    let dest = TestDest {
        interpret: Some(record2),
        ..TestDest::default()
    };
    let mut cfg = config();
    cfg.max_pending_batches = 1;
    let (rt, _clock) = runtime(dest, &server.uri(), cfg);
    let j = Arc::new(store.journal("input").unwrap());
    let rt = rt.with_dedup(Box::new(j.dedup("test"))).with_journal(j);
    let r = rt.deliver_bytes(&events(2)).await;
    check(&r);
    assert_eq!(r.report.expired, 2);
    let seen = SEEN2.lock().unwrap().clone();
    let m1: Vec<SystemTime> = seen
        .iter()
        .filter(|(id, _)| id == "m1")
        .map(|(_, t)| *t)
        .collect();
    let first = m1[0];
    let last = *m1.last().unwrap();
    assert!(
        last.duration_since(first).unwrap() > Duration::from_secs(3 * H),
        "m1: first attempt at t0+{:?}, {} attempt(s) in all, retried for only {:?}",
        first.duration_since(t0()).unwrap(),
        m1.len(),
        last.duration_since(first).unwrap()
    );
    store.close().unwrap();
}

/// An unbounded budget (`--max-retry-duration` is not clamped) makes `first + budget` overflow.
#[tokio::test]
async fn a_huge_retry_budget_still_retries() {
    let server = once_then_ok(ResponseTemplate::new(503)).await;
    let cfg = config().max_retry_duration(Duration::from_secs(u64::MAX / 2));
    let (rt, _clock) = runtime(TestDest::default(), &server.uri(), cfg);
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.events[0].outcome, Outcome::Delivered, "{:?}", r.events[0]);
}
