//! `destkit serve` edges: `mock = true` never reaches the partner named in `settings`, and
//! timestamps too far apart to correct for clock skew refuse that message only, and a shutdown
//! keeps to its drain timeout without losing an event it answered 200 for.

#[path = "python/support.rs"]
mod support;

use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::{received_events, spawn};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn hook(delay_ms: u64) -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(delay_ms)))
        .mount(&s)
        .await;
    s
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let p = dir.path().join("serve.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

async fn post(base: &str, path: &str, body: String) -> Result<(u16, Value), String> {
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(180))
        .build()
        .unwrap()
        .post(format!("{base}{path}"))
        .basic_auth("wk", Some(""))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let st = r.status().as_u16();
    Ok((st, r.json().await.unwrap_or(Value::Null)))
}

/// `mock = true` ("start its built-in mock partner and deliver there") must not send events to
/// the URL in `settings`, and must not fail every event because `settings` holds a real API key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_true_delivers_to_the_built_in_mock_whatever_the_settings_say() {
    let real = hook(0).await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let cfg = write_config(
        &dir,
        &format!(
            "[[sources]]\nname = \"web\"\nwrite_key = \"wk\"\n\
             [[sources.destinations]]\ndestination = \"webhook\"\nmock = true\n\
             settings = {{ url = \"{}/real-partner\", headers = {{ \"x-token\" = \"PARTNER_SECRET\" }} }}\n\
             [[sources.destinations]]\ndestination = \"amplitude\"\nmock = true\n\
             settings = {{ api_key = \"REAL_AMPLITUDE_KEY\" }}\n",
            real.uri()
        ),
    );
    let mut s = spawn(&[
        "serve",
        "--config",
        &cfg,
        "--port",
        "0",
        "--drain-timeout",
        "5s",
        "--report",
        report.to_str().unwrap(),
    ]);
    let base = s.wait_url("listening on");
    let ev = json!({"event": "E", "userId": "user-1", "messageId": "mock-1"}).to_string();
    assert_eq!(post(&base, "/v1/track", ev).await.unwrap().0, 200);
    let out = s.terminate();
    let got = received_events(&real).await;
    assert!(
        got.is_empty(),
        "mock = true, yet the settings URL (the 'real partner') got {got:?}; stdout: {}",
        out.stdout
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    for d in r["sources"][0]["destinations"].as_array().unwrap() {
        assert_eq!(d["delivered"], 1, "{d}");
    }
    assert!(out.status.success(), "{}", out.stderr);
}

/// Extreme timestamps (signed six-digit years, once read by a lenient fallback, made the skew
/// correction overflow and panic the handler, losing the valid messages of the same batch): the
/// message carrying them is refused, the others are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_timestamps_are_refused_not_a_panic() {
    let mock = hook(0).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        &dir,
        &format!(
            "[[sources]]\nname = \"web\"\nwrite_key = \"wk\"\n\
             [[sources.destinations]]\ndestination = \"webhook\"\nsettings = {{ url = \"{}/hook\" }}\n",
            mock.uri()
        ),
    );
    let mut s = spawn(&["serve", "--config", &cfg, "--port", "0"]);
    let base = s.wait_url("listening on");
    let one = json!({"event": "x", "userId": "u",
        "timestamp": "+200000-01-01T00:00:00+0000", "sentAt": "-200000-01-01T00:00:00+0000"});
    let r1 = post(&base, "/v1/track", one.to_string()).await;
    let batch = json!({"batch": [
        {"type": "track", "event": "x", "userId": "u", "messageId": "ok-1"},
        {"type": "track", "event": "x", "userId": "u", "timestamp": "+200000-01-01T00:00:00+0000",
         "sentAt": "-200000-01-01T00:00:00+0000"}]});
    let r2 = post(&base, "/v1/batch", batch.to_string()).await;
    let out = s.terminate();
    assert!(
        !out.stderr.contains("panicked"),
        "the handler panicked: {}",
        out.stderr.lines().take(3).collect::<Vec<_>>().join(" | ")
    );
    assert_eq!(r1.map(|r| r.0), Ok(400));
    assert_eq!(r2.map(|r| r.0), Ok(200));
    let ids: Vec<Value> = received_events(&mock)
        .await
        .iter()
        .map(|e| e["messageId"].clone())
        .collect();
    assert_eq!(ids, [json!("ok-1")]);
}

/// While a partner is slow, batches wait on the full delivery queue. SIGTERM with
/// `--drain-timeout 2s` must (a) stop within about that time and (b) give every event answered
/// 200 an outcome (delivered, or expired into the dead-letter file): a request whose events
/// were not all handed over is answered 503, for the client to resend. (It used to wait for
/// the blocked requests far past the drain timeout, then answer them 200 although most of
/// their events were never handed to the runtime.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_honours_the_drain_timeout_and_loses_no_event_answered_200() {
    let mock = hook(3000).await;
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let cfg = write_config(
        &dir,
        &format!(
            "[[sources]]\nname = \"web\"\nwrite_key = \"wk\"\n\
             [[sources.destinations]]\ndestination = \"webhook\"\nsettings = {{ url = \"{}/hook\" }}\n\
             batch_size = 1\ndead_letter = \"{}\"\n",
            mock.uri(),
            dead.display()
        ),
    );
    let mut s = spawn(&[
        "serve",
        "--config",
        &cfg,
        "--port",
        "0",
        "--drain-timeout",
        "2s",
    ]);
    let base = s.wait_url("listening on");
    let mut reqs = Vec::new();
    for r in 0..5 {
        let batch: Vec<Value> = (0..4000)
            .map(|i| json!({"type": "track", "event": "e", "userId": "u", "messageId": format!("r{r}-{i}")}))
            .collect();
        let body = json!({ "batch": batch }).to_string();
        let base = base.clone();
        reqs.push(tokio::spawn(async move {
            (r, post(&base, "/v1/batch", body).await)
        }));
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let t = Instant::now();
    let out = tokio::task::spawn_blocking(move || s.terminate())
        .await
        .unwrap();
    let took = t.elapsed();

    let mut answered_200 = Vec::new();
    for h in reqs {
        let (r, res) = h.await.unwrap();
        if let Ok((200, body)) = res {
            assert_eq!(body, json!({"success": true}));
            answered_200.extend((0..4000).map(|i| format!("r{r}-{i}")));
        }
    }
    let mut outcome: HashSet<String> = received_events(&mock)
        .await
        .iter()
        .map(|e| e["messageId"].as_str().unwrap_or_default().to_string())
        .collect();
    for line in std::fs::read_to_string(&dead).unwrap_or_default().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        outcome.insert(v["message_id"].as_str().unwrap_or_default().to_string());
    }
    let lost = answered_200
        .iter()
        .filter(|id| !outcome.contains(*id))
        .count();
    assert!(
        lost == 0 && took < Duration::from_secs(12),
        "shutdown took {took:?} with --drain-timeout 2s; {} events answered 200, {lost} of them \
         neither delivered nor dead-lettered; stderr: {}",
        answered_200.len(),
        out.stderr
    );
}
