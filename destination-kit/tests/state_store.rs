//! The durable state (`runtime::state`) under the runtime, on the injected clock: a restart
//! resumes unfinished events with their budget counting from their first acceptance, counts
//! finished ones without redoing them, remembers the dedup window, compacts, refuses foreign
//! files; and the disk it takes per queued event and per remembered id, measured.

#[path = "runtime_support.rs"]
mod support;

use destination_kit::Outcome;
use destination_kit::runtime::{Clock, DedupStore, Journal, StateOptions, StateStore, TestClock};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const H: u64 = 3600;

/// `rt` with a journal of `stream` and that journal's dedup store.
fn attach(
    rt: destination_kit::runtime::Runtime,
    store: &StateStore,
    stream: &str,
) -> destination_kit::runtime::Runtime {
    let j = Arc::new(store.journal(stream).unwrap());
    rt.with_dedup(Box::new(j.dedup("test"))).with_journal(j)
}

fn open(dir: &Path) -> StateStore {
    StateStore::open(dir, StateOptions::default()).expect("open state")
}

async fn partner(status: u16, expect: impl Into<wiremock::Times>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status))
        .expect(expect)
        .mount(&server)
        .await;
    server
}

/// What a run that crashed right after accepting line 1 (`m0`) at `t0()` leaves behind.
fn crashed_after_accepting(dir: &Path) {
    crashed_after_accepting_at(dir, t0())
}

/// The same at `at`.
fn crashed_after_accepting_at(dir: &Path, at: std::time::SystemTime) {
    let store = open(dir);
    let j = store.journal("input").unwrap();
    let mut dedup = j.dedup("test");
    assert!(dedup.insert_if_absent("default", "m0", at));
    assert_eq!(j.accepted(1, None, "m0", at), at);
    store.close().unwrap();
}

#[tokio::test]
async fn the_budget_keeps_counting_from_the_first_acceptance_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    crashed_after_accepting(dir.path());
    // restarted an hour later; the partner keeps failing
    let server = partner(503, 1..).await;
    let store = open(dir.path());
    let j = Arc::new(store.journal("input").unwrap());
    let clock = Arc::new(TestClock::new(t0() + Duration::from_secs(H)));
    // waits of at most a minute, so the end is within a minute of the deadline
    let short = destination_kit::runtime::RetryPolicy {
        max_backoff: Duration::from_secs(60),
        ..policy()
    };
    let (rt, _) = runtime(TestDest::default(), &server.uri(), config().retry(short));
    let rt = rt
        .with_clock(clock.clone())
        .with_dedup(Box::new(j.dedup("test")))
        .with_journal(j);
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert!(
        matches!(r.events[0].outcome, Outcome::Expired { .. }),
        "{:?}",
        r.events[0]
    );
    // it gave up before t0 + 4h (the budget from the first acceptance), not 4h after the restart
    let end = clock.now().duration_since(t0()).unwrap();
    assert!(end <= Duration::from_secs(4 * H), "{end:?}");
    assert!(end >= Duration::from_secs(4 * H - 60), "{end:?}");
    store.close().unwrap();
    drop((rt, store));
    // and it is finished now: a third run counts it without a request
    let server2 = partner(503, 0).await;
    let store = open(dir.path());
    let (rt, _) = runtime(TestDest::default(), &server2.uri(), config());
    let rt = rt;
    let rt = attach(rt, &store, "input");
    let r = rt.deliver_bytes(&events(1)).await;
    assert_eq!(r.report.expired, 1);
    assert_eq!(r.report.requests, 0);
}

#[tokio::test]
async fn an_unfinished_event_past_its_budget_ends_expired_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    crashed_after_accepting(dir.path());
    let server = partner(200, 1).await; // only m1 is sent
    let store = open(dir.path());
    let clock = Arc::new(TestClock::new(t0() + Duration::from_secs(5 * H)));
    let (rt, _) = runtime(TestDest::default(), &server.uri(), config());
    let rt = rt.with_clock(clock);
    let rt = attach(rt, &store, "input");
    let r = rt.deliver_bytes(&events(2)).await;
    check(&r);
    assert!(matches!(r.events[0].outcome, Outcome::Expired { .. }));
    assert_eq!(r.events[0].attempts, 0);
    assert_eq!(r.events[1].outcome, Outcome::Delivered);
}

#[tokio::test]
async fn a_resumed_event_is_not_its_own_duplicate_and_finished_ones_are_not_redone() {
    let dir = tempfile::tempdir().unwrap();
    // the window on disk is compacted against the real time at open: run at the real time
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let now = std::time::UNIX_EPOCH + Duration::from_millis(ms as u64);
    crashed_after_accepting_at(dir.path(), now);
    // line 1 (m0) resumes and is sent although m0 is in the durable window; line 2 is new
    let server = partner(200, 2).await;
    let store = open(dir.path());
    let (rt, _) = runtime(TestDest::default(), &server.uri(), config());
    let rt = rt.with_clock(Arc::new(TestClock::new(now)));
    let rt = attach(rt, &store, "input");
    let r = rt.deliver_bytes(&events(2)).await;
    assert_eq!(r.report.delivered, 2, "{:?}", r.events);
    store.close().unwrap();
    drop((rt, store));
    server.verify().await;

    // the same input again: both counted from the state, nothing sent
    let server = partner(200, 0).await;
    let store = open(dir.path());
    let (rt, _) = runtime(TestDest::default(), &server.uri(), config());
    let rt = rt.with_clock(Arc::new(TestClock::new(now)));
    let rt = attach(rt, &store, "input");
    let r = rt.deliver_bytes(&events(2)).await;
    assert_eq!(r.report.input, 2);
    assert_eq!(r.report.delivered, 2);
    assert_eq!(r.report.requests, 0);
    store.close().unwrap();
    drop((rt, store));

    // another input with the same messageIds: duplicates, from the window on disk
    let store = open(dir.path());
    let (rt, _) = runtime(TestDest::default(), &server.uri(), config());
    let rt = rt.with_clock(Arc::new(TestClock::new(now)));
    let rt = attach(rt, &store, "another input");
    let r = rt.deliver_bytes(&events(2)).await;
    assert_eq!(r.report.duplicate, 2);
    assert_eq!(r.report.requests, 0);
}

#[test]
fn expired_ids_are_compacted_and_forgotten_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StateOptions {
        dedup_window: Duration::from_secs(H),
        keep_done: Duration::from_secs(H),
    };
    let now = std::time::SystemTime::now();
    let store = StateStore::open(dir.path(), opts).unwrap();
    let mut d = store.dedup("x");
    for i in 0..100 {
        // half seen two hours ago (expired), half just now
        let t = if i % 2 == 0 {
            now - Duration::from_secs(2 * H)
        } else {
            now
        };
        assert!(d.insert_if_absent("web", &format!("id{i}"), t));
    }
    store.flush().unwrap();
    assert_eq!(store.remembered_ids(), 100);
    assert_eq!(store.compact(now), 50);
    store.close().unwrap();
    drop((d, store));
    let store = StateStore::open(dir.path(), opts).unwrap();
    assert_eq!(store.remembered_ids(), 50);
    let mut d = store.dedup("x");
    assert!(d.insert_if_absent("web", "id0", now), "expired: new again");
    assert!(
        !d.insert_if_absent("web", "id1", now),
        "still in the window"
    );
    assert!(d.insert_if_absent("ios", "id1", now), "per source");
}

#[test]
fn a_foreign_redb_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = redb::Database::create(dir.path().join("destkit-state.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("theirs");
            tx.open_table(def).unwrap().insert("a", "b").unwrap();
        }
        tx.commit().unwrap();
    }
    let e = StateStore::open(dir.path(), StateOptions::default()).unwrap_err();
    assert!(e.to_string().contains("destkit-state.redb"), "{e}");
    assert!(e.to_string().contains("foreign"), "{e}");
}

#[test]
fn a_kill_while_the_state_was_being_created_leaves_nothing_to_refuse() {
    // what a SIGKILL during the first start can leave: the hidden file being made, half written
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".destkit-state.redb.creating"),
        b"half a redb file",
    )
    .unwrap();
    let store = StateStore::open(dir.path(), StateOptions::default()).expect("starts afresh");
    assert_eq!(store.remembered_ids(), 0);
    store.close().unwrap();
    drop(store);
    assert!(dir.path().join("destkit-state.redb").exists());
    assert!(!dir.path().join(".destkit-state.redb.creating").exists());
    // and the made file opens again as a destkit state
    StateStore::open(dir.path(), StateOptions::default()).expect("reopens");
}

#[test]
fn a_second_process_on_the_same_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _a = open(dir.path());
    let e = StateStore::open(dir.path(), StateOptions::default()).unwrap_err();
    assert!(e.to_string().contains("in use"), "{e}");
}

/// Bytes on disk per queued event (a server's, with its JSON) and per remembered id, measured
/// on 50,000 of each. Run with `--nocapture` to see the figures.
#[test]
fn disk_per_queued_event_and_per_remembered_id() {
    const N: usize = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let empty = store.used_bytes().unwrap();
    let file_empty = store.disk_bytes();
    let now = std::time::SystemTime::now();
    let mut d = store.dedup("x");
    for i in 0..N {
        d.insert_if_absent("web", &format!("5a1f0c3e-{i:08}-4b7d-9e21-{i:012}"), now);
    }
    store.flush().unwrap();
    let ids = store.used_bytes().unwrap() - empty;
    let per_id = ids as f64 / N as f64;

    let ev = serde_json::json!({"type": "track", "event": "Order Completed", "userId": "user-1234",
        "messageId": "5a1f0c3e-0000-4b7d-9e21-000000000000", "timestamp": "2026-11-28T10:00:00Z",
        "properties": {"order_id": "o-1", "revenue": 42.5, "currency": "EUR"}});
    let raw = serde_json::value::to_raw_value(&ev).unwrap();
    let json_len = raw.get().len();
    let before = store.used_bytes().unwrap();
    let batch: Vec<(&str, &serde_json::value::RawValue)> =
        (0..1000).map(|_| ("5a1f0c3e", raw.as_ref())).collect();
    for _ in 0..N / 1000 {
        store.enqueue(&[("serve/web", &batch)], now).unwrap();
    }
    let per_event = (store.used_bytes().unwrap() - before) as f64 / N as f64;

    // a file input's queue records (no JSON: the file is read again) and outcome records
    let j = store.journal("deliver/webhook/0123456789abcdef").unwrap();
    let before = store.used_bytes().unwrap();
    for line in 1..=N {
        j.accepted(line, None, "5a1f0c3e-0000-4b7d-9e21-000000000000", now);
        if line % 10_000 == 0 {
            store.flush().unwrap();
        }
    }
    let per_line = (store.used_bytes().unwrap() - before) as f64 / N as f64;
    let before = store.used_bytes().unwrap();
    for line in 1..=N {
        j.terminal(&destination_kit::runtime::EventOutcome {
            line,
            batch_index: None,
            message_id: Some("5a1f0c3e-0000-4b7d-9e21-000000000000".into()),
            outcome: destination_kit::Outcome::Delivered,
            attempts: 1,
            last_status: Some(200),
        });
        if line % 10_000 == 0 {
            store.flush().unwrap();
        }
    }
    let per_done = (store.used_bytes().unwrap() as i64 - before as i64) as f64 / N as f64;
    eprintln!(
        "disk: {per_line:.1} bytes per queued file-input event; {per_done:+.1} bytes per outcome \
         (an outcome record replacing a queue record)"
    );
    eprintln!(
        "disk: {per_id:.1} bytes per remembered id; {per_event:.1} bytes per queued event \
         ({json_len}-byte event JSON); empty store {empty} bytes used, {file_empty} bytes of file; \
         file now {} bytes",
        store.disk_bytes()
    );
    assert!(per_id < 64.0, "{per_id}");
    assert!(per_event < json_len as f64 * 4.0, "{per_event}");
}

#[test]
fn outcomes_are_compacted_after_they_are_kept_long_enough() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let j = store.journal("input").unwrap();
    j.terminal(&destination_kit::runtime::EventOutcome {
        line: 1,
        batch_index: None,
        message_id: Some("m0".into()),
        outcome: Outcome::Delivered,
        attempts: 1,
        last_status: Some(200),
    });
    store.flush().unwrap();
    let now = std::time::SystemTime::now();
    store.compact(now);
    store.flush().unwrap();
    let kept = store.journal("input").unwrap().finished_before();
    assert_eq!(kept.len(), 1, "kept within a day");
    assert_eq!(kept[0].outcome, Outcome::Delivered);
    store.compact(now + Duration::from_secs(25 * H));
    store.flush().unwrap();
    assert!(store.journal("input").unwrap().finished_before().is_empty());
}

#[tokio::test]
async fn a_restart_resumes_the_attempt_count_and_waits_for_the_retry_that_was_due() {
    let dir = tempfile::tempdir().unwrap();
    // an earlier run accepted m0 at t0, tried it 3 times and scheduled the 4th for t0 + 90 s
    {
        let store = open(dir.path());
        let j = store.journal("input").unwrap();
        let mut dedup = j.dedup("test");
        assert!(dedup.insert_if_absent("default", "m0", t0()));
        j.accepted(1, None, "m0", t0());
        j.attempted(1, None, 3, t0() + Duration::from_secs(90));
        store.close().unwrap();
    }
    // what the store kept
    {
        let store = open(dir.path());
        let j = store.journal("input").unwrap();
        assert_eq!(
            j.earlier(1, None),
            destination_kit::runtime::Earlier::Unfinished {
                since: t0(),
                dedup_passed: true,
                attempts: 3,
                next_at: Some(t0() + Duration::from_secs(90)),
            }
        );
        store.close().unwrap();
    }
    // restarted 30 s after the crash: the 4th attempt goes out at t0 + 90 s, not at once
    let server = partner(200, 1).await;
    let store = open(dir.path());
    let clock = Arc::new(TestClock::new(t0() + Duration::from_secs(30)));
    let (rt, _) = runtime(TestDest::default(), &server.uri(), config());
    let rt = attach(rt.with_clock(clock.clone()), &store, "input");
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.report.delivered, 1);
    assert_eq!(r.report.requests, 1);
    assert_eq!(r.report.retries, 1, "the resumed attempt is a retry");
    assert_eq!(r.events[0].attempts, 4);
    assert_eq!(clock.elapsed(), Duration::from_secs(60));
    store.close().unwrap();
}

#[tokio::test]
async fn every_scheduled_retry_is_journaled_and_a_retry_due_past_the_budget_expires_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    // an earlier run that crashed after scheduling a retry beyond the budget
    {
        let store = open(dir.path());
        let j = store.journal("input").unwrap();
        let mut dedup = j.dedup("test");
        assert!(dedup.insert_if_absent("default", "m0", t0()));
        j.accepted(1, None, "m0", t0());
        // the 5th attempt was scheduled after the 4-hour budget ends
        j.attempted(1, None, 4, t0() + Duration::from_secs(4 * H + 1));
        store.close().unwrap();
    }
    let server = partner(200, 0).await;
    let store = open(dir.path());
    let clock = Arc::new(TestClock::new(t0() + Duration::from_secs(60)));
    let (rt, _) = runtime(TestDest::default(), &server.uri(), config());
    let rt = attach(rt.with_clock(clock.clone()), &store, "input");
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.report.expired, 1);
    assert_eq!(r.report.requests, 0);
    assert!(
        clock.sleeps().is_empty(),
        "nothing waited: {:?}",
        clock.sleeps()
    );
    store.close().unwrap();
}

#[tokio::test]
async fn the_runtime_journals_each_scheduled_retry_with_its_attempt_count() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let store = open(dir.path());
    let recorded = Arc::new(std::sync::Mutex::new(Vec::new()));
    struct Spy {
        inner: Arc<destination_kit::runtime::StateJournal>,
        seen: Arc<std::sync::Mutex<Vec<(usize, u32, std::time::SystemTime)>>>,
    }
    impl Journal for Spy {
        fn earlier(&self, l: usize, b: Option<usize>) -> destination_kit::runtime::Earlier {
            self.inner.earlier(l, b)
        }
        fn accepted(
            &self,
            l: usize,
            b: Option<usize>,
            m: &str,
            now: std::time::SystemTime,
        ) -> std::time::SystemTime {
            self.inner.accepted(l, b, m, now)
        }
        fn terminal(&self, o: &destination_kit::runtime::EventOutcome) {
            self.inner.terminal(o)
        }
        fn attempted(&self, l: usize, b: Option<usize>, a: u32, next: std::time::SystemTime) {
            self.seen.lock().unwrap().push((l, a, next));
            self.inner.attempted(l, b, a, next)
        }
    }
    let inner = Arc::new(store.journal("input").unwrap());
    let spy = Arc::new(Spy {
        inner: inner.clone(),
        seen: recorded.clone(),
    });
    let clock = Arc::new(TestClock::new(t0()));
    let (rt, _) = runtime(TestDest::default(), &server.uri(), config());
    let rt = rt
        .with_clock(clock.clone())
        .with_dedup(Box::new(inner.dedup("test")))
        .with_journal(spy);
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.report.delivered, 1);
    let seen = recorded.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[0].0, seen[0].1), (1, 1));
    assert_eq!((seen[1].0, seen[1].1), (1, 2));
    let sleeps = clock.sleeps();
    assert_eq!(seen[0].2, t0() + sleeps[0]);
    assert_eq!(seen[1].2, t0() + sleeps[0] + sleeps[1]);
    store.close().unwrap();
}
