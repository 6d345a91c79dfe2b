//! Shared helpers for the runtime tests (included with `#[path]`; also built as an empty test).
#![allow(dead_code)]

use async_trait::async_trait;
use destination_kit::destination::{HttpClient, json_array};
use destination_kit::runtime::{DeliveryConfig, DeliveryResult, RetryPolicy, Runtime, TestClock};
use destination_kit::{
    BatchLimits, Configured, Destination, DestinationInfo, Event, Mapped, Message, PartnerRequest,
    PartnerResponse, Payload, Secret, Settings, TransportError, Verdicts,
};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The secret the tests look for everywhere.
pub const SECRET: &str = "sk_live_TOPSECRET_4242";

/// A start time on a whole second (HTTP-dates have second precision).
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

#[derive(Debug, Clone, Deserialize)]
pub struct TestSettings {
    pub url: String,
    pub api_key: Secret<String>,
}

impl Settings for TestSettings {
    fn set_endpoint(&mut self, base_url: &str) {
        self.url = base_url.to_string();
    }
}

type InterpretFn = fn(&PartnerResponse, &[Payload], SystemTime) -> Verdicts;
type SendHook = Arc<dyn Fn(usize) -> Option<TransportError> + Send + Sync>;

/// A small destination: each event becomes `fanout` payloads `{"id","n","ts","event"}` POSTed
/// as a JSON array to `<url>/ingest` with `x-api-key`. Events named `Unsupported Thing` are
/// unsupported; events with `properties.invalid` are invalid.
#[derive(Clone)]
pub struct TestDest {
    pub batch: BatchLimits,
    pub fanout: usize,
    pub interpret: Option<InterpretFn>,
    /// Called with the attempt number (0-based) before each send; `Some(err)` fails it.
    pub send_hook: Option<SendHook>,
    pub sends: Arc<AtomicUsize>,
    /// Requests in flight in `send` now, and the most ever.
    pub inflight: Arc<AtomicUsize>,
    pub max_inflight: Arc<AtomicUsize>,
}

impl Default for TestDest {
    fn default() -> Self {
        TestDest {
            batch: BatchLimits::ONE,
            fanout: 1,
            interpret: None,
            send_hook: None,
            sends: Arc::new(AtomicUsize::new(0)),
            inflight: Arc::new(AtomicUsize::new(0)),
            max_inflight: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl TestDest {
    pub fn batched(events: usize) -> Self {
        TestDest {
            batch: BatchLimits {
                events,
                bytes: 1 << 20,
            },
            ..TestDest::default()
        }
    }
}

#[async_trait]
impl Destination for TestDest {
    type Settings = TestSettings;

    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Test Dest", "test-dest")
            .calls([
                destination_kit::CallType::Track,
                destination_kit::CallType::Identify,
            ])
            .batch(self.batch)
    }

    fn map(&self, _s: &TestSettings, ev: &Event<'_>) -> Mapped {
        if ev.event() == Some("Unsupported Thing") {
            return Mapped::unsupported("test-dest has no such event");
        }
        if ev.event() == Some("Panic Please") {
            panic!("test-dest panics on purpose");
        }
        if ev.event() == Some("Unserialisable") {
            // a map keyed by pairs: JSON has no such keys
            let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
            return Mapped::one(Payload::json("ingest", &bad));
        }
        if ev.property("invalid").is_some() {
            return Mapped::invalid("properties.invalid: test-dest refuses it");
        }
        Mapped::Send(
            (0..self.fanout)
                .map(|n| {
                    Payload::json(
                        "ingest",
                        &json!({"id": ev.message_id(), "n": n, "ts": ev.timestamp_iso(), "event": ev.event()}),
                    )
                })
                .collect(),
        )
    }

    fn request(&self, s: &TestSettings, _route: &str, batch: &[Payload]) -> PartnerRequest {
        PartnerRequest::post_json(format!("{}/ingest", s.url), json_array(batch)).header(
            http::HeaderName::from_static("x-api-key"),
            s.api_key.expose().clone(),
        )
    }

    fn interpret(
        &self,
        _s: &TestSettings,
        resp: &PartnerResponse,
        batch: &[Payload],
        now: SystemTime,
    ) -> Verdicts {
        match self.interpret {
            Some(f) => f(resp, batch, now),
            None => Verdicts::default_for(resp, batch.len(), now),
        }
    }

    async fn send(
        &self,
        _s: &TestSettings,
        http: &HttpClient,
        request: PartnerRequest,
        _batch: &[Payload],
    ) -> Result<PartnerResponse, TransportError> {
        let n = self.sends.fetch_add(1, Ordering::SeqCst);
        if let Some(h) = &self.send_hook
            && let Some(e) = h(n)
        {
            return Err(e);
        }
        let now = self.inflight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_inflight.fetch_max(now, Ordering::SeqCst);
        let r = http.send(&request).await;
        self.inflight.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

/// The retry policy of most tests: the default backoff (on the test clock) and a 10 s attempt
/// timeout, so a stalled machine never turns a prompt answer into a timeout and a retry.
pub fn policy() -> RetryPolicy {
    RetryPolicy {
        attempt_timeout: Duration::from_secs(10),
        ..RetryPolicy::default()
    }
}

/// The default config with a short attempt timeout, for the tests about timeouts (real time:
/// each timed-out attempt waits it out).
pub fn short_timeout_config(attempt_timeout: Duration) -> DeliveryConfig {
    DeliveryConfig::default().retry(RetryPolicy {
        attempt_timeout,
        ..RetryPolicy::default()
    })
}

/// A runtime for `dest` at `url` on a test clock.
pub fn runtime(dest: TestDest, url: &str, config: DeliveryConfig) -> (Runtime, Arc<TestClock>) {
    let settings = json!({"url": url, "api_key": SECRET});
    let configured = Configured::from_json(dest, settings, None).expect("settings");
    let clock = Arc::new(TestClock::new(t0()));
    let rt = Runtime::new(configured.into_dyn(), config).with_clock(clock.clone());
    (rt, clock)
}

/// The default config with the test policy.
pub fn config() -> DeliveryConfig {
    DeliveryConfig::default().retry(policy())
}

/// A valid track event.
pub fn track(id: &str, ts: &str) -> String {
    json!({"type": "track", "event": "Thing Happened", "userId": "u1", "messageId": id,
        "timestamp": ts, "properties": {"k": 1}})
    .to_string()
}

/// JSON lines of `n` valid track events `m0..m{n-1}`.
pub fn events(n: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..n {
        out.push_str(&track(&format!("m{i}"), "2026-01-02T03:04:05Z"));
        out.push('\n');
    }
    out.into_bytes()
}

/// Parse one message.
pub fn msg(s: &str) -> Message {
    Message::from_slice(s.as_bytes()).expect("message")
}

/// The accounting invariant, checked on every run.
pub fn check(r: &DeliveryResult) {
    assert!(
        r.report.adds_up(),
        "input {} != outcomes {}: {:?}",
        r.report.input,
        r.report.outcomes(),
        r.report
    );
    if !r.events.is_empty() {
        assert_eq!(r.events.len() as u64, r.report.input);
    }
}

/// Requests a wiremock server received.
pub async fn received(server: &wiremock::MockServer) -> usize {
    server
        .received_requests()
        .await
        .map(|r| r.len())
        .unwrap_or(0)
}

/// A partner on 127.0.0.1 that answers every POST with `status` and an empty body.
pub async fn partner_answering(status: u16) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

/// A partner answering `first` once, then 200.
pub async fn once_then_ok(first: wiremock::ResponseTemplate) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}
