//! `destkit replay` end to end: a webhook destination pointed at a wiremock partner.

#[path = "python/support.rs"]
mod support;

use serde_json::{Value, json};
use support::{ids, received_events, spawn};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn hook(delay_ms: u64) -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_delay(std::time::Duration::from_millis(delay_ms)),
        )
        .mount(&s)
        .await;
    s
}

/// `n` events, one per line, each a day apart from 2026-01-01.
fn archive(dir: &tempfile::TempDir, n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let ts = chrono::DateTime::parse_from_rfc3339("2026-01-01T08:00:00.250Z").unwrap()
            + chrono::Duration::days(i as i64);
        let ev = json!({"type": "track", "event": "Replayed", "userId": "u1",
            "messageId": format!("r-{i:03}"), "timestamp": ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)});
        text.push_str(&ev.to_string());
        text.push('\n');
    }
    let p = dir.path().join("archive.jsonl");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Wait (up to 30 s) until `mock` has received at least `n` requests.
async fn wait_for_requests(mock: &MockServer, n: usize) {
    for _ in 0..600 {
        if mock.received_requests().await.unwrap_or_default().len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the replay never reached the partner ({n} requests)");
}

/// The mock's URL as `--endpoint` (a webhook's endpoint is its whole URL).
fn settings(mock: &MockServer) -> String {
    format!("{}/hook", mock.uri())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_replay_resumes_without_sending_any_event_twice() {
    let mock = hook(50).await;
    let dir = tempfile::tempdir().unwrap();
    let input = archive(&dir, 60);
    let report = dir.path().join("r.json");
    let s = settings(&mock);
    let args = [
        "replay",
        "--destination",
        "webhook",
        "--input",
        &input,
        "--endpoint",
        &s,
        "--rate",
        "20",
        "--report",
        report.to_str().unwrap(),
    ];
    let first = spawn(&args);
    // wait until the partner has seen a few events, then interrupt
    wait_for_requests(&mock, 5).await;
    let out = first.terminate();
    assert_eq!(out.status.code(), Some(130), "{}", out.stderr);
    let cursor: Value =
        serde_json::from_slice(&std::fs::read(format!("{input}.cursor")).unwrap()).unwrap();
    let line = cursor["line"].as_u64().unwrap() as usize;
    assert!(
        (5..60).contains(&line),
        "cursor at {line}; stderr: {}",
        out.stderr
    );
    // everything up to the cursor was delivered once, nothing after it was sent
    let got = ids(&received_events(&mock).await);
    let expected: Vec<String> = (0..line).map(|i| format!("r-{i:03}")).collect();
    assert_eq!(got, expected);
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        (r["interrupted"].as_bool(), r["cursor"].as_u64()),
        (Some(true), Some(line as u64))
    );

    // resume without the rate limit: the rest, each once
    let out = spawn(&args[..7]).finish();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("resuming after line {line}")),
        "{}",
        out.stderr
    );
    let got = received_events(&mock).await;
    let all: Vec<String> = (0..60).map(|i| format!("r-{i:03}")).collect();
    assert_eq!(ids(&got), all, "every event exactly once");
    // with the original event times, never rewritten
    let e7 = got.iter().find(|e| e["messageId"] == "r-007").unwrap();
    assert_eq!(e7["timestamp"], "2026-01-08T08:00:00.250Z");
    let cursor: Value =
        serde_json::from_slice(&std::fs::read(format!("{input}.cursor")).unwrap()).unwrap();
    assert_eq!(cursor["line"], 60);
    // a third run has nothing left to send
    let out = spawn(&args[..7]).finish();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert_eq!(received_events(&mock).await.len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_and_to_keep_only_events_in_the_time_range() {
    let mock = hook(0).await;
    let dir = tempfile::tempdir().unwrap();
    let input = archive(&dir, 10);
    let report = dir.path().join("r.json");
    let s = settings(&mock);
    let out = spawn(&[
        "replay",
        "--destination",
        "webhook",
        "--input",
        &input,
        "--endpoint",
        &s,
        "--from",
        "2026-01-03T00:00:00Z",
        "--to",
        "2026-01-06T08:00:00.250Z",
        "--report",
        report.to_str().unwrap(),
    ])
    .finish();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    // days 3, 4, 5 (the --to bound is exclusive)
    assert_eq!(
        ids(&received_events(&mock).await),
        ["r-002", "r-003", "r-004"]
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        (
            r["input"].as_u64(),
            r["delivered"].as_u64(),
            r["outside_time_range"].as_u64()
        ),
        (Some(3), Some(3), Some(7))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_line_exits_1_and_the_cursor_still_passes_it() {
    let mock = hook(0).await;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl");
    std::fs::write(
        &p,
        "{\"type\":\"track\",\"event\":\"A\",\"userId\":\"u\",\"messageId\":\"ok-1\",\"timestamp\":\"2026-01-01T00:00:00Z\"}\n\
         {\"type\":\"track\",\"userId\":\"u\",\"messageId\":\"bad\"}\n\
         \n\
         {\"type\":\"track\",\"event\":\"B\",\"userId\":\"u\",\"messageId\":\"ok-2\",\"timestamp\":\"2026-01-01T00:00:00Z\"}\n",
    )
    .unwrap();
    let s = settings(&mock);
    let input = p.display().to_string();
    let out = spawn(&[
        "replay",
        "--destination",
        "webhook",
        "--input",
        &input,
        "--endpoint",
        &s,
    ])
    .finish();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!(ids(&received_events(&mock).await), ["ok-1", "ok-2"]);
    let cursor: Value =
        serde_json::from_slice(&std::fs::read(format!("{input}.cursor")).unwrap()).unwrap();
    assert_eq!(cursor["line"], 4);
}

#[test]
fn unreadable_input_bad_settings_and_a_foreign_cursor_exit_2() {
    let out = spawn(&[
        "replay",
        "--destination",
        "webhook",
        "--input",
        "/nonexistent/a.jsonl",
    ])
    .finish();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("/nonexistent/a.jsonl"),
        "{}",
        out.stderr
    );

    let dir = tempfile::tempdir().unwrap();
    let input = archive(&dir, 1);
    let out = spawn(&[
        "replay",
        "--destination",
        "webhook",
        "--input",
        &input,
        "--endpoint",
        "http://127.0.0.1:9/x",
        "--settings",
        "{\"batch_size\": 0}",
    ])
    .finish();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("settings.batch_size"), "{}", out.stderr);

    let cursor = dir.path().join("c.json");
    std::fs::write(&cursor, r#"{"input":"other.jsonl","line":3}"#).unwrap();
    let out = spawn(&[
        "replay",
        "--destination",
        "webhook",
        "--input",
        &input,
        "--cursor",
        cursor.to_str().unwrap(),
    ])
    .finish();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("other.jsonl"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_ends_a_replay_whose_partner_keeps_failing_within_the_drain_timeout() {
    // every request fails and is retried for hours: the running batches never make room, the
    // driver stops taking input, and the replay's submit waits — an interrupt must still end it
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .mount(&mock)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let n = 12_000;
    let input = archive(&dir, n);
    let endpoint = format!("{}/hook", mock.uri());
    let running = spawn(&[
        "replay",
        "--destination",
        "webhook",
        "--input",
        &input,
        "--endpoint",
        &endpoint,
        "--settings",
        "{\"batch_size\": 1}",
        "--concurrency",
        "1",
        "--drain-timeout",
        "1s",
    ]);
    let pid = running.child.id();
    // the 16 batches that fit have started (each retried about once a second)
    wait_for_requests(&mock, 16).await;
    // time for the input queues to fill behind the waiting driver
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(running.terminate());
    });
    let Ok(out) = rx.recv_timeout(std::time::Duration::from_secs(20)) else {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("the replay did not end within 20 s of SIGTERM (drain timeout 1 s)");
    };
    assert_eq!(out.status.code(), Some(130), "{}", out.stderr);
    let cursor: Value =
        serde_json::from_slice(&std::fs::read(format!("{input}.cursor")).unwrap()).unwrap();
    // nothing was delivered, so the cursor has not moved past the first event
    assert_eq!(cursor["line"], 0, "{}", out.stderr);
}
