//! `destkit serve` end to end: the binary on 127.0.0.1, webhook destinations pointing at
//! wiremock servers started here, requests sent with reqwest, stopped with SIGTERM. Also its
//! edges: `mock = true` never reaches the partner named in `settings`, timestamps too far
//! apart to correct for clock skew refuse that message only, and a shutdown keeps to its drain
//! timeout without losing an event it answered 200 for.

#[path = "python/support.rs"]
mod support;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::io::Write;
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

fn source(name: &str, key: &str, url: &str) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nwrite_key = \"{key}\"\n\
         [[sources.destinations]]\ndestination = \"webhook\"\nsettings = {{ url = \"{url}/hook\" }}\n"
    )
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let p = dir.path().join("serve.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

async fn post(
    base: &str,
    path: &str,
    auth: Option<&str>,
    body: Vec<u8>,
    gzip: bool,
) -> (u16, Value) {
    send(base, path, auth, body, gzip)
        .await
        .expect("serve answers")
}

/// [`post`] for a server that may go away meanwhile (a shutdown under test): the error, if
/// any, instead of a panic.
async fn try_post(
    base: &str,
    path: &str,
    auth: Option<&str>,
    body: Vec<u8>,
) -> Result<(u16, Value), String> {
    send(base, path, auth, body, false).await
}

async fn send(
    base: &str,
    path: &str,
    auth: Option<&str>,
    body: Vec<u8>,
    gzip: bool,
) -> Result<(u16, Value), String> {
    let mut rb = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .timeout(std::time::Duration::from_secs(180))
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = auth {
        rb = rb.header("authorization", basic(k));
    }
    if gzip {
        rb = rb.header("content-encoding", "gzip");
    }
    let r = rb.send().await.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let v = r.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, v))
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a time string"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_200_400_401_413_and_delivers_what_it_accepted() {
    let mock = hook(0).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(&dir, &source("web", "wk_web", &mock.uri()));
    let report = dir.path().join("report.json");
    let mut s = spawn(&[
        "serve",
        "--config",
        &cfg,
        "--port",
        "0",
        "--report",
        report.to_str().unwrap(),
    ]);
    let base = s.wait_url("listening on");
    let k = Some("wk_web");

    // 200: a track with a client clock 10 s ahead of its event (sentAt − timestamp = 10 s)
    let track = json!({"event": "Signed Up", "userId": "u1", "messageId": "m-1",
        "timestamp": "2026-01-01T00:00:00Z", "sentAt": "2026-01-01T00:00:10Z"});
    let (st, body) = post(&base, "/v1/track", k, track.to_string().into_bytes(), false).await;
    assert_eq!((st, body), (200, json!({"success": true})));
    // 200: no messageId, no timestamp: the server fills them
    let (st, _) = post(
        &base,
        "/v1/identify",
        k,
        br#"{"userId":"u2","traits":{"plan":"pro"}}"#.to_vec(),
        false,
    )
    .await;
    assert_eq!(st, 200);
    // 400: malformed JSON
    let (st, body) = post(&base, "/v1/track", k, br#"{"event":"x""#.to_vec(), false).await;
    assert_eq!(st, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{body}"
    );
    // 400: an invalid event, with the field named
    let (st, body) = post(&base, "/v1/track", k, br#"{"userId":"u1"}"#.to_vec(), false).await;
    assert_eq!(st, 400);
    assert!(
        body["message"].as_str().unwrap().contains("event: missing"),
        "{body}"
    );
    // 401: unknown key, and no key at all
    let (st, body) = post(
        &base,
        "/v1/track",
        Some("wk_other"),
        track.to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!((st, body["success"].clone()), (401, json!(false)));
    let (st, _) = post(
        &base,
        "/v1/track",
        None,
        track.to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!(st, 401);
    // 413: a message over 32 KB, a batch over 500 KB
    let big =
        json!({"event": "Big", "userId": "u1", "properties": {"blob": "x".repeat(33 * 1024)}});
    let (st, body) = post(&base, "/v1/track", k, big.to_string().into_bytes(), false).await;
    assert_eq!((st, body["code"].clone()), (413, json!("too_large")));
    let many: Vec<Value> = (0..20)
        .map(|i| {
            json!({"type": "track", "event": "Big", "userId": "u1", "messageId": format!("big-{i}"),
            "properties": {"blob": "x".repeat(26 * 1024)}})
        })
        .collect();
    let (st, _) = post(
        &base,
        "/v1/batch",
        k,
        json!({"batch": many}).to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!(st, 413);
    // 200 with per-event errors: the valid message of a batch goes through
    let mixed = json!({"batch": [
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m-2"},
        {"type": "track", "userId": "u1", "messageId": "bad-1"}]});
    let (st, body) = post(&base, "/v1/batch", k, mixed.to_string().into_bytes(), false).await;
    assert_eq!(st, 200);
    assert_eq!(body["success"], true);
    assert_eq!(body["errors"][0]["index"], 1);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("batch[1].event"),
        "{body}"
    );
    // 400 when no message of a batch is valid
    let bad = json!({"batch": [{"type": "track", "event": "x"}, {"type": "nope", "userId": "u"}]});
    let (st, body) = post(&base, "/v1/batch", k, bad.to_string().into_bytes(), false).await;
    assert_eq!(st, 400);
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    // gzip body with the write key in the body, envelope context merged
    let gzipped = json!({"writeKey": "wk_web", "context": {"library": {"name": "test"}},
        "batch": [{"type": "page", "name": "Home", "anonymousId": "a1", "messageId": "m-3"}]});
    let (st, _) = post(
        &base,
        "/v1/batch",
        None,
        gz(gzipped.to_string().as_bytes()),
        true,
    )
    .await;
    assert_eq!(st, 200);

    let out = s.terminate();
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status,
        out.stderr
    );
    let got = received_events(&mock).await;
    let got_ids = ids(&got);
    assert_eq!(got.len(), 4, "{got_ids:?}");
    // sorted: the server-made id ("api-…") first
    assert_eq!(&got_ids[1..], ["m-1", "m-2", "m-3"]);
    assert!(got_ids[0].starts_with("api-"), "{got_ids:?}");
    let m1 = got.iter().find(|e| e["messageId"] == "m-1").unwrap();
    assert_eq!(m1["originalTimestamp"], "2026-01-01T00:00:00Z");
    assert_eq!(
        time(&m1["receivedAt"]) - time(&m1["timestamp"]),
        chrono::Duration::seconds(10)
    );
    let m3 = got.iter().find(|e| e["messageId"] == "m-3").unwrap();
    assert_eq!(m3["context"]["library"]["name"], "test");
    assert!(m3.get("writeKey").is_none());
    let generated = got.iter().find(|e| e["type"] == "identify").unwrap();
    assert_eq!(generated["timestamp"], generated["receivedAt"]);

    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let web = &r["sources"][0];
    assert_eq!(
        (
            web["name"].as_str(),
            web["accepted"].as_u64(),
            web["refused"].as_u64()
        ),
        (Some("web"), Some(4), Some(4))
    );
    let d = &web["destinations"][0];
    assert_eq!(
        (
            d["destination"].as_str(),
            d["input"].as_u64(),
            d["delivered"].as_u64()
        ),
        (Some("webhook"), Some(4), Some(4))
    );
    assert_eq!(r["unauthorized_requests"], 2);
    assert!(!std::fs::read_to_string(&report).unwrap().contains("wk_web"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_key_reaches_only_its_own_sources_destinations() {
    let (ma, mb) = (hook(0).await, hook(0).await);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        &dir,
        &format!(
            "{}{}",
            source("a", "wk_a", &ma.uri()),
            source("b", "wk_b", &mb.uri())
        ),
    );
    let mut s = spawn(&["serve", "--config", &cfg, "--port", "0"]);
    let base = s.wait_url("listening on");
    let ev = |id: &str| {
        json!({"event": "E", "userId": "u", "messageId": id})
            .to_string()
            .into_bytes()
    };
    assert_eq!(
        post(&base, "/v1/track", Some("wk_a"), ev("a-1"), false)
            .await
            .0,
        200
    );
    assert_eq!(
        post(&base, "/v1/track", Some("wk_b"), ev("b-1"), false)
            .await
            .0,
        200
    );
    let in_body = json!({"writeKey": "wk_a", "batch": [{"type": "track", "event": "E", "userId": "u", "messageId": "a-2"}]});
    assert_eq!(
        post(
            &base,
            "/v1/batch",
            None,
            in_body.to_string().into_bytes(),
            false
        )
        .await
        .0,
        200
    );
    // the Authorization header wins over a writeKey in the body
    let mixed = json!({"writeKey": "wk_b", "event": "E", "userId": "u", "messageId": "a-3"});
    assert_eq!(
        post(
            &base,
            "/v1/track",
            Some("wk_a"),
            mixed.to_string().into_bytes(),
            false
        )
        .await
        .0,
        200
    );
    // an unknown key delivers nowhere
    assert_eq!(
        post(&base, "/v1/track", Some("wk_c"), ev("c-1"), false)
            .await
            .0,
        401
    );
    let out = s.terminate();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(ids(&received_events(&ma).await), ["a-1", "a-2", "a-3"]);
    assert_eq!(ids(&received_events(&mb).await), ["b-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_deliveries_and_reports() {
    let mock = hook(400).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(&dir, &source("web", "wk_web", &mock.uri()));
    let report = dir.path().join("r.json");
    let mut s = spawn(&[
        "serve",
        "--config",
        &cfg,
        "--port",
        "0",
        "--report",
        report.to_str().unwrap(),
    ]);
    let base = s.wait_url("listening on");
    let batch: Vec<Value> = (0..12)
        .map(|i| json!({"type": "track", "event": "E", "userId": "u", "messageId": format!("d-{i}")}))
        .collect();
    let (st, _) = post(
        &base,
        "/v1/batch",
        Some("wk_web"),
        json!({"batch": batch}).to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!(st, 200);
    // stop at once: the partner answers each request 400 ms later, so deliveries are in flight
    let out = s.terminate();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("draining"), "{}", out.stderr);
    assert_eq!(received_events(&mock).await.len(), 12);
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["sources"][0]["destinations"][0]["delivered"], 12);
    // it no longer listens
    assert!(
        reqwest::Client::new()
            .post(format!("{base}/v1/track"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_timeout_bounds_shutdown_and_cut_off_events_count_as_expired() {
    let mock = hook(60_000).await;
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let cfg = write_config(
        &dir,
        &format!(
            "{}dead_letter = \"{}\"\n",
            source("web", "wk_web", &mock.uri()),
            dead.display()
        ),
    );
    let report = dir.path().join("r.json");
    let mut s = spawn(&[
        "serve",
        "--config",
        &cfg,
        "--port",
        "0",
        "--drain-timeout",
        "1s",
        "--report",
        report.to_str().unwrap(),
    ]);
    let base = s.wait_url("listening on");
    let ev = json!({"event": "E", "userId": "u", "messageId": "slow-1"})
        .to_string()
        .into_bytes();
    assert_eq!(
        post(&base, "/v1/track", Some("wk_web"), ev, false).await.0,
        200
    );
    let out = s.terminate();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let d = &r["sources"][0]["destinations"][0];
    assert_eq!(
        (d["input"].as_u64(), d["expired"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    // the cut-off event is in the dead-letter file, with no write key in it
    let dl = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(dl.lines().count(), 1, "{dl}");
    assert!(
        dl.contains("slow-1") && dl.contains("expired") && !dl.contains("wk_web"),
        "{dl}"
    );
}

#[test]
fn a_bad_config_exits_2_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        &dir,
        "[[sources]]\nname = \"web\"\nwrite_key = \"k\"\n[[sources.destinations]]\ndestination = \"nope\"\n",
    );
    let out = spawn(&["serve", "--config", &cfg, "--port", "0"]).finish();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr
            .contains("sources[0].destinations[0].destination: unknown destination \"nope\""),
        "{}",
        out.stderr
    );

    let cfg = write_config(
        &dir,
        "[[sources]]\nname = \"web\"\nwrite_key = \"k\"\n[[sources.destinations]]\ndestination = \"webhook\"\nsettings = { batch_size = 1 }\n",
    );
    let out = spawn(&["serve", "--config", &cfg, "--port", "0"]).finish();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("sources[0].destinations[0] (webhook)") && out.stderr.contains("url"),
        "{}",
        out.stderr
    );

    let out = spawn(&["serve", "--config", "/nonexistent/serve.toml"]).finish();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("/nonexistent/serve.toml"),
        "{}",
        out.stderr
    );
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
    assert_eq!(
        post(&base, "/v1/track", Some("wk"), ev.into_bytes(), false)
            .await
            .0,
        200
    );
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
    let cfg = write_config(&dir, &source("web", "wk", &mock.uri()));
    let mut s = spawn(&["serve", "--config", &cfg, "--port", "0"]);
    let base = s.wait_url("listening on");
    let one = json!({"event": "x", "userId": "u",
        "timestamp": "+200000-01-01T00:00:00+0000", "sentAt": "-200000-01-01T00:00:00+0000"});
    let r1 = try_post(&base, "/v1/track", Some("wk"), one.to_string().into_bytes()).await;
    let batch = json!({"batch": [
        {"type": "track", "event": "x", "userId": "u", "messageId": "ok-1"},
        {"type": "track", "event": "x", "userId": "u", "timestamp": "+200000-01-01T00:00:00+0000",
         "sentAt": "-200000-01-01T00:00:00+0000"}]});
    let r2 = try_post(
        &base,
        "/v1/batch",
        Some("wk"),
        batch.to_string().into_bytes(),
    )
    .await;
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
            "{}batch_size = 1\ndead_letter = \"{}\"\n",
            source("web", "wk", &mock.uri()),
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
            (
                r,
                try_post(&base, "/v1/batch", Some("wk"), body.into_bytes()).await,
            )
        }));
    }
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let t = std::time::Instant::now();
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
    let mut outcome: std::collections::HashSet<String> = received_events(&mock)
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
        lost == 0 && took < std::time::Duration::from_secs(12),
        "shutdown took {took:?} with --drain-timeout 2s; {} events answered 200, {lost} of them \
         neither delivered nor dead-lettered; stderr: {}",
        answered_200.len(),
        out.stderr
    );
}
