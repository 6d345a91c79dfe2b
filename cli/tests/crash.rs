//! Crash safety of `--state DIR`, proven with SIGKILL: `destkit deliver` killed at random
//! moments and restarted until done; a budget that passed while the process was down; state
//! directories that are not ours.

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_destkit");

/// A partner that fails every 10th request with 500 and every 10th (offset) with 429, answers
/// the rest 200 after `delay`, and counts, per messageId, the events of requests it accepted
/// (also those whose answer never reached a killed client).
#[derive(Clone)]
struct Partner {
    n: Arc<Mutex<u64>>,
    accepted: Arc<Mutex<HashMap<String, Vec<Value>>>>,
    delay: Duration,
    fail_all: Arc<std::sync::atomic::AtomicBool>,
}

impl Partner {
    fn new(delay: Duration, fail_all: bool) -> Partner {
        Partner {
            n: Arc::default(),
            accepted: Arc::default(),
            delay,
            fail_all: Arc::new(fail_all.into()),
        }
    }
    fn requests(&self) -> u64 {
        *self.n.lock().unwrap()
    }
}

impl Respond for Partner {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = {
            let mut n = self.n.lock().unwrap();
            *n += 1;
            *n
        };
        if self.fail_all.load(std::sync::atomic::Ordering::SeqCst) {
            return ResponseTemplate::new(503);
        }
        match n % 10 {
            3 => return ResponseTemplate::new(500),
            7 => return ResponseTemplate::new(429).insert_header("Retry-After", "0"),
            _ => {}
        }
        let body: Value = serde_json::from_slice(&req.body).expect("JSON body");
        let events = match body {
            Value::Array(a) => a,
            v => vec![v],
        };
        let mut acc = self.accepted.lock().unwrap();
        for e in events {
            let id = e["messageId"].as_str().unwrap_or_default().to_string();
            acc.entry(id).or_default().push(e);
        }
        ResponseTemplate::new(200).set_delay(self.delay)
    }
}

/// 5,000 lines: every 10th repeats the messageId of the line 5 before it (marked `copy`).
fn input(dir: &Path, n: usize) -> (std::path::PathBuf, Vec<String>) {
    let mut out = String::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let (id, copy) = if i % 10 == 9 {
            (format!("msg-{}", i - 5), true)
        } else {
            (format!("msg-{i}"), false)
        };
        if !copy {
            ids.push(id.clone());
        }
        let ev = json!({
            "type": "track", "event": "Crash Test", "userId": format!("u{}", i % 97),
            "messageId": id, "timestamp": "2026-11-28T10:00:00Z",
            "properties": {"line": i + 1, "copy": copy}
        });
        out.push_str(&ev.to_string());
        out.push('\n');
    }
    let p = dir.join("events.jsonl");
    std::fs::write(&p, out).unwrap();
    (p, ids)
}

fn deliver_cmd(endpoint: &str, input: &Path, state: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "deliver",
        "--destination",
        "webhook",
        "--endpoint",
        endpoint,
    ])
    .arg("--input")
    .arg(input)
    .arg("--state")
    .arg(state)
    .args(["--settings", r#"{"batch_size": 10}"#])
    .args(["--concurrency", "2", "--quiet"])
    .args(["--initial-backoff", "5ms", "--max-backoff", "20ms"])
    .args(extra)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_survives_ten_sigkills() {
    let seed: u64 = rand::rng().random();
    eprintln!("crash harness seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let partner = Partner::new(Duration::from_millis(25), false);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(partner.clone())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (events, ids) = input(dir.path(), 5000);
    let state = dir.path().join("state");
    let report = dir.path().join("report.json");

    let mut kills = 0;
    let mut runs = 0;
    while kills < 10 {
        runs += 1;
        assert!(
            runs <= 30,
            "the runs kept finishing before they could be killed"
        );
        let mut child = deliver_cmd(&server.uri(), &events, &state, &[])
            .spawn()
            .unwrap();
        let wait = Duration::from_millis(rng.random_range(60..450));
        tokio::time::sleep(wait).await;
        match child.try_wait().unwrap() {
            Some(status) => {
                // it finished before the kill: everything is done, nothing left to crash
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("run {runs} ended ({status}) before its kill after {wait:?}: {err}");
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    let requests_before_last = partner.requests();
    let out = deliver_cmd(
        &server.uri(),
        &events,
        &state,
        &["--report", report.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{kills} kills; {} requests before the last run, {} in all",
        requests_before_last,
        partner.requests()
    );

    // the final report accounts for every event, the copies as duplicates
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["input"], 5000, "{r}");
    assert_eq!(r["delivered"], 4500, "{r}");
    assert_eq!(r["duplicate"], 500, "{r}");
    for k in ["filtered", "rejected", "failed", "expired"] {
        assert_eq!(r[k], 0, "{k}: {r}");
    }

    let acc = partner.accepted.lock().unwrap();
    // every messageId reached the partner at least once …
    for id in &ids {
        assert!(acc.contains_key(id), "{id} never reached the partner");
    }
    assert_eq!(acc.len(), ids.len(), "ids the input does not have arrived");
    // … no duplicate line ever did, and no id more often than one send plus one resend per crash
    let mut resent = 0;
    for (id, evs) in acc.iter() {
        assert!(
            evs.iter().all(|e| e["properties"]["copy"] == false),
            "a duplicate line of {id} was sent"
        );
        assert!(evs.len() <= 1 + kills, "{id} arrived {} times", evs.len());
        resent += evs.len() - 1;
    }
    eprintln!("{resent} resends after crashes (at least once, harmless at the partner)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_events_past_their_budget_end_expired_after_a_restart() {
    let partner = Partner::new(Duration::ZERO, true);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(partner.clone())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (events, _) = input(dir.path(), 50);
    let state = dir.path().join("state");
    // the partner fails everything: the first run keeps retrying until it is killed
    let mut child = deliver_cmd(&server.uri(), &events, &state, &[])
        .spawn()
        .unwrap();
    while partner.requests() < 60 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(child.try_wait().unwrap().is_none(), "it ended on its own");
    }
    // the acceptances were committed within a commit interval (20 ms) of the first request;
    // a margin for a loaded machine
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    // a request the killed process had already written may still reach the partner after the
    // kill (CI saw 141 against 140 read at once): count once the partner has been quiet a while
    let mut before = partner.requests();
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let now = partner.requests();
        if now == before {
            break;
        }
        before = now;
    }
    // restarted with a budget that has passed since those events were accepted
    let report = dir.path().join("report.json");
    let out = deliver_cmd(
        &server.uri(),
        &events,
        &state,
        &[
            "--max-retry-duration",
            "1ms",
            "--report",
            report.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "expired events exit 1");
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["input"], 50, "{r}");
    assert_eq!(r["duplicate"], 5, "{r}");
    assert_eq!(r["expired"], 45, "{r}");
    assert_eq!(
        r["requests"], 0,
        "resumed events past their budget are not sent: {r}"
    );
    assert_eq!(partner.requests(), before);
}

fn deliver_with_state(state: &Path, input: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(["deliver", "--destination", "webhook", "--quiet"])
        .arg("--input")
        .arg(input)
        .arg("--state")
        .arg(state)
        .output()
        .unwrap()
}

#[test]
fn a_foreign_or_corrupted_state_directory_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let (events, _) = input(dir.path(), 3);
    let check = |state: &Path, why: &str| {
        let out = deliver_with_state(state, &events);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{why}: {err}");
        assert!(
            err.contains(&state.display().to_string()),
            "{why}: the error names the path: {err}"
        );
        assert!(!err.contains("panicked"), "{why}: {err}");
        err.to_string()
    };
    // a file, not a directory
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let e = check(&file, "a file");
    assert!(e.contains("not a directory"), "{e}");
    // a directory of someone else's files
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let e = check(&other, "a foreign directory");
    assert!(e.contains("not a destkit state directory"), "{e}");
    // garbage where the store file should be
    let garbage = dir.path().join("garbage");
    std::fs::create_dir(&garbage).unwrap();
    std::fs::write(garbage.join("destkit-state.redb"), vec![0x5a; 10_000]).unwrap();
    check(&garbage, "a garbage store file");
    // a real store, cut in half
    let cut = dir.path().join("cut");
    let ok = deliver_with_state(&cut, &events);
    assert_eq!(ok.status.code(), Some(0));
    let f = cut.join("destkit-state.redb");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    check(&cut, "a truncated store file");
    // and nothing was delivered from any of them (a working run delivers 3)
    let fresh = dir.path().join("fresh");
    let out = deliver_with_state(&fresh, &events);
    assert_eq!(out.status.code(), Some(0));
}

/// `destkit serve` in the background; its address read from stdout.
fn spawn_serve(config: &Path, state: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--quiet"])
        .arg("--config")
        .arg(config)
        .arg("--state")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
    let addr = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        if let Some(a) = line.strip_prefix("destkit serve: listening on ") {
            break a.trim().to_string();
        }
    };
    // keep draining stdout so the server never blocks on it
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_delivers_every_event_it_answered_200_after_a_sigkill() {
    let partner = Partner::new(Duration::ZERO, true);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(partner.clone())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[[sources]]\nname = \"web\"\nwrite_key = \"wk\"\n\
             [[sources.destinations]]\ndestination = \"webhook\"\n\
             settings = {{ url = \"{}/hook\", batch_size = 20 }}\n",
            server.uri()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let (mut serve, addr) = spawn_serve(&config, &state);
    let client = reqwest::Client::new();
    let mut sent = Vec::new();
    for r in 0..20 {
        let batch: Vec<Value> = (0..25)
            .map(|i| {
                let id = format!("srv-{r}-{i}");
                sent.push(id.clone());
                json!({"type": "track", "event": "Served", "userId": "u1", "messageId": id})
            })
            .collect();
        let resp = client
            .post(format!("{addr}/v1/batch"))
            .basic_auth("wk", Some(""))
            .json(&json!({ "batch": batch }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    // the partner is down: deliveries are being retried when the server is killed
    while partner.requests() < 5 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    serve.kill().unwrap(); // SIGKILL
    serve.wait().unwrap();
    assert!(partner.accepted.lock().unwrap().is_empty());

    // the partner is back; a restart delivers everything that got a 200
    partner
        .fail_all
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (mut serve, _) = spawn_serve(&config, &state);
    let mut waited = 0;
    while partner.accepted.lock().unwrap().len() < sent.len() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
        assert!(
            waited < 600,
            "not everything was delivered after the restart"
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = serve.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    let acc = partner.accepted.lock().unwrap();
    for id in &sent {
        assert!(
            acc.contains_key(id),
            "{id} got a 200 but never reached the partner"
        );
    }
    assert_eq!(acc.len(), sent.len());

    // and a third start has nothing left to deliver
    let before = partner.requests();
    // (events resumed at start are handed over before it listens, and SIGTERM drains them)
    let (mut serve, _) = spawn_serve(&config, &state);
    Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    serve.wait().unwrap();
    assert_eq!(
        partner.requests(),
        before,
        "finished events were sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_with_state_does_not_redo_finished_events_without_its_cursor() {
    let partner = Partner::new(Duration::ZERO, false);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(partner.clone())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (events, ids) = input(dir.path(), 40);
    let state = dir.path().join("state");
    let cursor = dir.path().join("cursor");
    let report = dir.path().join("report.json");
    let replay = || {
        Command::new(BIN)
            .args(["replay", "--destination", "webhook", "--quiet"])
            .args(["--endpoint", &server.uri()])
            .arg("--input")
            .arg(&events)
            .arg("--state")
            .arg(&state)
            .arg("--cursor")
            .arg(&cursor)
            .arg("--report")
            .arg(&report)
            .output()
            .unwrap()
    };
    assert_eq!(replay().status.code(), Some(0));
    let sent = partner.accepted.lock().unwrap().len();
    assert_eq!(sent, ids.len());
    let requests = partner.requests();
    // the cursor is lost (as after a hard kill before it was written): the state still knows
    std::fs::remove_file(&cursor).unwrap();
    assert_eq!(replay().status.code(), Some(0));
    assert_eq!(
        partner.requests(),
        requests,
        "finished events were sent again"
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["input"], 40, "{r}");
    assert_eq!(r["delivered"], 36, "{r}");
    assert_eq!(r["duplicate"], 4, "{r}");
}

/// Events/s of `destkit deliver` with and without `--state` in one run (50,000 events to the
/// built-in webhook mock, 100 per request), wall-clock including opening and closing the store.
/// A measurement, not a check: `cargo test --release -p destkit --test crash -- --ignored
/// --nocapture throughput`.
#[test]
#[ignore]
fn throughput_with_and_without_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = String::new();
    for i in 0..50_000 {
        let ev = json!({"type": "track", "event": "Order Completed", "userId": format!("u{}", i % 1000),
            "messageId": format!("m-{i:08}"), "timestamp": "2026-11-28T10:00:00Z",
            "properties": {"revenue": i as f64 * 0.5, "currency": "EUR"}});
        out.push_str(&ev.to_string());
        out.push('\n');
    }
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, out).unwrap();
    let run = |state: Option<&Path>| {
        let mut c = Command::new(BIN);
        c.args(["deliver", "--destination", "webhook", "--quiet"])
            .args(["--settings", r#"{"batch_size": 100}"#])
            .arg("--input")
            .arg(&events);
        if let Some(s) = state {
            c.arg("--state").arg(s);
        }
        let t = std::time::Instant::now();
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        50_000.0 / t.elapsed().as_secs_f64()
    };
    let mut rows = Vec::new();
    for k in 0..3 {
        let without = run(None);
        let with = run(Some(&dir.path().join(format!("state{k}"))));
        rows.push((without, with));
        eprintln!(
            "run {k}: without --state {without:.0} events/s, with {with:.0} events/s, ratio {:.2}",
            with / without
        );
    }
}
