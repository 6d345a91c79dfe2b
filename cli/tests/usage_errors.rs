//! Usage errors and edges of the command line: each is a clear error with status 2, never a
//! panic, a leaked secret, an emptied input or a four-hour retry of a request that cannot be
//! sent.

use assert_cmd::Command;
use std::time::Duration;

fn destkit() -> Command {
    let mut c = Command::cargo_bin("destkit").unwrap();
    for v in [
        "DESTKIT_WEBHOOK_URL",
        "DESTKIT_WEBHOOK_BATCH_SIZE",
        "DESTKIT_WEBHOOK_HEADERS",
        "RUST_BACKTRACE",
    ] {
        c.env_remove(v);
    }
    c.timeout(Duration::from_secs(60));
    c
}

fn track(id: &str) -> String {
    format!(
        r#"{{"type":"track","event":"Signed Up","userId":"user-1","messageId":"{id}","timestamp":"2026-01-02T03:04:05Z"}}"#
    )
}

fn events(dir: &tempfile::TempDir, n: usize) -> std::path::PathBuf {
    let p = dir.path().join("events.jsonl");
    let text: String = (0..n).map(|i| track(&format!("m{i}")) + "\n").collect();
    std::fs::write(&p, text).unwrap();
    p
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `--rate 1e-300` (or `1e-19`) passes `parse_rate` and then panics in `pace`
/// (`Duration::from_secs_f64` / `SystemTime + Duration` overflow): exit 101 with a backtrace.
#[test]
fn replay_with_a_tiny_rate_is_a_usage_error_not_a_panic() {
    for rate in ["1e-300", "1e-19"] {
        let dir = tempfile::tempdir().unwrap();
        let input = events(&dir, 3);
        let out = destkit()
            .args([
                "replay",
                "--destination",
                "webhook",
                "-q",
                "--rate",
                rate,
                "--input",
            ])
            .arg(&input)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "--rate {rate}: {err}");
        assert_eq!(out.status.code(), Some(2), "--rate {rate}: {err}");
        assert!(err.contains("rate"), "the error names --rate: {err}");
    }
}

/// `--dead-letter` naming the input file truncates the input before it is read: the run
/// reports 0 events, exits 0, and the events are gone from disk.
#[test]
fn deliver_refuses_a_dead_letter_file_that_is_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = events(&dir, 5);
    let before = std::fs::read_to_string(&input).unwrap();
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "-q", "--input"])
        .arg(&input)
        .arg("--dead-letter")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&input).unwrap(),
        before,
        "the input file was overwritten by the dead letter"
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// A webhook header value HTTP cannot carry (a pasted token with a trailing newline) is taken
/// as valid settings; every request then fails as "connection failed" and is retried for the
/// whole 4 h budget. It should be a settings error (exit 2) naming the header, without its value.
#[test]
fn a_header_value_http_cannot_carry_is_a_settings_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = events(&dir, 2);
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "-q", "--input"])
        .arg(&input)
        .args([
            "--settings",
            r#"{"headers": {"Authorization": "Bearer SECRETTOK\n"}}"#,
        ])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "still retrying after 30 s? {err}"
    );
    assert!(err.contains("headers.Authorization"), "{err}");
    assert!(!err.contains("SECRETTOK"), "{err}");
}

/// `--attempt-timeout 0s` is accepted: every attempt "times out after 0ns" and each event is
/// retried until the 4 h budget ends it `expired`.
#[test]
fn a_zero_attempt_timeout_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = events(&dir, 2);
    let out = destkit()
        .args(["deliver", "--destination", "webhook", "-q", "--input"])
        .arg(&input)
        .args(["--attempt-timeout", "0s"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("attempt-timeout"), "{err}");
}

/// A TOML syntax error in `serve --config` prints the offending line, secrets and all.
#[test]
fn serve_config_errors_never_echo_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        "[[sources]]\nname = \"web\"\nwrite_key = \"wk_SECRET_123\"\n\
         [[sources.destinations]]\ndestination = \"amplitude\"\n\
         settings = { api_key = \"amp_SECRET_KEY\", region = \"us\" \n",
    )
    .unwrap();
    let out = destkit()
        .args(["serve", "--port", "0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("line 6"),
        "the error still names the place: {err}"
    );
    assert!(!err.contains("amp_SECRET_KEY"), "{err}");

    std::fs::write(
        &cfg,
        "[[sources]]\nname = \"web\"\nwrite_key = 4242424242\n",
    )
    .unwrap();
    let out = destkit()
        .args(["serve", "--port", "0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("4242424242"), "{err}");
}

/// A secret setting of the wrong JSON type is echoed by serde's message
/// (`invalid type: integer `123456789``).
#[test]
fn settings_type_errors_never_echo_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let input = events(&dir, 1);
    let out = destkit()
        .args(["deliver", "--destination", "ga4", "-q", "--input"])
        .arg(&input)
        .args(["--settings", r#"{"api_secret": 123456789}"#])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("api_secret"), "{err}");
    assert!(!err.contains("123456789"), "{err}");
}

/// `replay --input DIR` starts the mock, prints an empty summary and leaves `DIR.cursor`
/// behind; `deliver` refuses a directory up front.
#[test]
fn replay_of_a_directory_is_refused_without_writing_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    let out = destkit()
        .args(["replay", "--destination", "webhook", "--input"])
        .arg(&archive)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        !dir.path().join("archive.cursor").exists(),
        "a cursor was written for a directory"
    );
}
