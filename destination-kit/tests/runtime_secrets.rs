//! A secret in the settings never shows: not in the report, the per-event outcomes, the dead
//! letter, debug-level logs, or `{:?}` of the runtime and the destination.

#[path = "runtime_support.rs"]
mod support;

use destination_kit::Configured;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATH_TOKEN: &str = "pathtoken_XYZ_987";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_secret_never_shows() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("\"m1\""))
        .respond_with(ResponseTemplate::new(401).set_body_string("unauthorized"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("\"m2\""))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dead.jsonl");
    let cfg = config().max_retry_duration(Duration::from_secs(20));
    // a token in the URL's path (as webhook URLs carry) never shows in logs either
    let url = format!("{}/hooks/{PATH_TOKEN}", server.uri());
    let (rt, _c) = runtime(TestDest::default(), &url, cfg);
    let rt = rt.with_dead_letter(&dl);
    let mut input = events(3);
    input.extend_from_slice(b"{broken\n");
    let r = rt.deliver_bytes(&input).await;
    check(&r);
    assert_eq!(
        (
            r.report.delivered,
            r.report.failed,
            r.report.expired,
            r.report.rejected
        ),
        (1, 1, 1, 1)
    );
    // the partner did get the key
    let reqs = server.received_requests().await.unwrap();
    assert!(
        reqs.iter()
            .all(|q| q.headers.get("x-api-key").unwrap() == SECRET)
    );

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("partner answered"),
        "logs were captured: {logs}"
    );
    let dead = std::fs::read_to_string(&dl).unwrap();
    assert_eq!(dead.lines().count(), 3);
    let settings = serde_json::json!({"url": server.uri(), "api_key": SECRET});
    let dest = Configured::from_json(TestDest::default(), settings, None)
        .unwrap()
        .into_dyn();
    let shown = [
        ("report debug", format!("{:?}", r.report)),
        ("report json", serde_json::to_string(&r.report).unwrap()),
        ("events", format!("{:?}", r.events)),
        ("events json", serde_json::to_string(&r.events).unwrap()),
        ("dead letter", dead),
        ("logs", logs),
        ("runtime debug", format!("{rt:?}")),
        ("settings debug", dest.settings_debug()),
        (
            "request debug",
            format!("{:?}", dest.request("ingest", &[])),
        ),
    ];
    for (what, text) in &shown {
        assert!(!text.contains(SECRET), "{what} shows the secret: {text}");
    }
    for (what, text) in &shown[..6] {
        assert!(
            !text.contains(PATH_TOKEN),
            "{what} shows the URL token: {text}"
        );
    }
}
