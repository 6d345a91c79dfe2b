//! `destkit deliver` end to end: the built-in webhook mock, an explicit endpoint, settings from
//! flags and the environment, the report, the dead letter and the exit statuses.

use assert_cmd::Command;
use serde_json::{Value, json};
use std::path::Path;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn track(id: &str) -> String {
    json!({"type": "track", "event": "Signed Up", "userId": "u1", "messageId": id,
        "timestamp": "2026-01-02T03:04:05Z"})
    .to_string()
}

fn write_events(dir: &Path, lines: &[String]) -> std::path::PathBuf {
    let p = dir.join("events.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

fn destkit() -> Command {
    let mut c = Command::cargo_bin("destkit").unwrap();
    c.env_remove("DESTKIT_WEBHOOK_URL")
        .env_remove("DESTKIT_WEBHOOK_BATCH_SIZE")
        .env_remove("DESTKIT_WEBHOOK_HEADERS");
    c
}

fn report(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn delivers_to_the_built_in_mock_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_events(
        dir.path(),
        &[track("a"), track("b"), track("a"), track("c")],
    );
    let rep = dir.path().join("report.json");
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "--input"])
        .arg(&input)
        .arg("--report")
        .arg(&rep)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("delivered"), "summary printed: {stderr}");
    assert!(stderr.contains("mock partner"), "{stderr}");
    let r = report(&rep);
    for (k, v) in [
        ("input", 4),
        ("delivered", 3),
        ("duplicate", 1),
        ("filtered", 0),
        ("rejected", 0),
        ("failed", 0),
        ("expired", 0),
        ("requests", 3),
        ("retries", 0),
    ] {
        assert_eq!(r[k], v, "{k} in {r}");
    }
    assert_eq!(r["destination"], "webhook");
    assert_eq!(r["mock_partner"], true);
}

#[test]
fn an_endpoint_receives_the_events_and_problems_exit_1() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async {
        let s = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&s)
            .await;
        s
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_events(
        dir.path(),
        &[track("a"), "{oops".into(), track("b"), track("c")],
    );
    let rep = dir.path().join("r.json");
    let dead = dir.path().join("dead.jsonl");
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "--quiet", "--input"])
        .arg(&input)
        .args(["--endpoint", &format!("{}/in", server.uri())])
        .args(["--settings", r#"{"batch_size": 2}"#])
        .arg("--report")
        .arg(&rep)
        .arg("--dead-letter")
        .arg(&dead)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a rejected event");
    assert!(
        out.stderr.is_empty(),
        "quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&rep);
    assert_eq!(
        (
            r["input"].as_u64(),
            r["delivered"].as_u64(),
            r["rejected"].as_u64()
        ),
        (Some(4), Some(3), Some(1))
    );
    assert_eq!(r["mock_partner"], false);
    let got = rt.block_on(server.received_requests()).unwrap();
    assert_eq!(got.len(), 2, "3 events in batches of 2");
    assert!(got.iter().all(|q| q.url.path() == "/in"));
    let dead = std::fs::read_to_string(&dead).unwrap();
    let entry: Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert_eq!(entry["outcome"], "rejected");
    assert_eq!(entry["line"], 2);
    assert_eq!(entry["raw"], "{oops");
}

#[test]
fn partner_failures_exit_1_and_reach_the_dead_letter() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async {
        let s = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&s)
            .await;
        s
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_events(dir.path(), &[track("a")]);
    let dead = dir.path().join("dead.jsonl");
    let secret = "hdr_SECRET_value_77";
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "-vv", "--input"])
        .arg(&input)
        .args(["--endpoint", &server.uri()])
        .env(
            "DESTKIT_WEBHOOK_HEADERS",
            format!(r#"{{"X-Token": "{secret}"}}"#),
        )
        .arg("--dead-letter")
        .arg(&dead)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let got = rt.block_on(server.received_requests()).unwrap();
    assert_eq!(got.len(), 1, "401 is never retried");
    assert_eq!(got[0].headers.get("x-token").unwrap(), secret);
    let dead = std::fs::read_to_string(&dead).unwrap();
    assert!(
        dead.contains("\"failed\"") && dead.contains("\"auth\""),
        "{dead}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("partner answered"),
        "debug logs on -vv: {stderr}"
    );
    assert!(!stderr.contains(secret) && !dead.contains(secret));
}

#[test]
fn settings_from_the_environment() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async {
        let s = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&s)
            .await;
        s
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_events(
        dir.path(),
        &[track("a"), track("b"), track("c"), track("d")],
    );
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "--input"])
        .arg(&input)
        .env("DESTKIT_WEBHOOK_URL", format!("{}/env", server.uri()))
        .env("DESTKIT_WEBHOOK_BATCH_SIZE", "4")
        .args(["--endpoint", &format!("{}/env", server.uri())])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = rt.block_on(server.received_requests()).unwrap();
    assert_eq!(got.len(), 1, "one batch of 4");
}

#[test]
fn bad_settings_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_events(dir.path(), &[track("a")]);
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "--input"])
        .arg(&input)
        .args(["--settings", r#"{"batch_size": 0}"#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("batch_size"), "{stderr}");
    // an unknown key is named too
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "--input"])
        .arg(&input)
        .args(["--settings", r#"{"bogus_key": 1}"#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus_key"));
    // settings that are not JSON
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "--input"])
        .arg(&input)
        .args(["--settings", "{not json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unreadable_input_exits_2_naming_the_file() {
    let out = destkit()
        .args([
            "deliver",
            "--destination",
            "webhook",
            "--input",
            "/nonexistent/events.jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/events.jsonl"), "{stderr}");
    // a directory is no input either
    let dir = tempfile::tempdir().unwrap();
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "--input"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&dir.path().display().to_string()));
}

#[test]
fn usage_errors_exit_2() {
    let out = destkit()
        .args(["deliver", "--destination", "nope", "--input", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("webhook"),
        "lists known slugs"
    );
    let out = destkit()
        .args([
            "deliver",
            "--destination",
            "webhook",
            "--input",
            "-",
            "--max-retry-duration",
            "soon",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn reads_stdin() {
    let input = [track("s1"), track("s2")].join("\n");
    let out = destkit()
        .args([
            "deliver",
            "--destination",
            "webhook",
            "--input",
            "-",
            "--max-retry-duration",
            "30s",
            "--concurrency",
            "2",
        ])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("input") && stderr.contains('2'), "{stderr}");
}

#[test]
fn a_small_dedup_memory_spills_to_disk_and_still_finds_every_duplicate() {
    // 300 distinct ids, then each again: with 50 ids in memory most of the window is on disk
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let lines: Vec<String> = ids.iter().chain(ids.iter()).map(|id| track(id)).collect();
    let input = write_events(dir.path(), &lines);
    let rep = dir.path().join("report.json");
    let out = destkit()
        .args([
            "deliver",
            "--destination",
            "webhook",
            "--dedup-memory-ids",
            "50",
            "--input",
        ])
        .arg(&input)
        .arg("--report")
        .arg(&rep)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&rep);
    assert_eq!(r["input"], 600, "{r}");
    assert_eq!(r["delivered"], 300, "{r}");
    assert_eq!(r["duplicate"], 300, "{r}");
}
