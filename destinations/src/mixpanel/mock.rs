//! A mock Mixpanel ingestion API that checks requests the way Mixpanel does and
//! answers in Mixpanel's own formats, with fault injection.
//! It is a [`spec_tests::mock::Partner`]: served on wiremock in tests (`start`), on a lean server
//! that keeps no request when `destkit` embeds it (`start_with(Recording::Off)`).
//!
//! ```no_run
//! # async fn demo() {
//! use destinations::mixpanel::MixpanelMock;
//! // two 503s, then the next /import fails records 1 and 3 in strict mode
//! let mock = MixpanelMock::start().await.fail_next(2, 503).reject_indices([1, 3]);
//! let settings = mock.settings(); // fake credentials pointing at the mock
//! # }
//! ```
//!
//! Checks: `/import` needs HTTP Basic with the fake secret (else 401 `Invalid credentials`),
//! `strict=1`, a JSON array of at most 2,000 records within 2 MiB (else 413); each record needs
//! an `event` name, a `distinct_id` Mixpanel does not refuse, a `$insert_id` of at most 36 bytes
//! of `[A-Za-z0-9-]`, and a `time` (seconds or ms) after 1971 and at most 1 h ahead of the mock's
//! clock — an invalid record is listed in `failed_records` while the valid ones are imported.
//! `/engage`, `/groups` and `/track` need the project token in each object and answer `1`/`0`;
//! `/track` takes only the last 5 days.

use super::mapping::{INVALID_IDS, is_valid_insert_id};
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use spec_tests::mock::{Answer, MockPartner, Partner, Recording, Route};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::Request;

/// The fake project token the mock accepts.
pub const TOKEN: &str = "mp-test-token";
/// The fake project secret the mock accepts (Basic auth user name, empty password).
pub const SECRET: &str = "mp-test-secret";
/// The fake project id.
pub const PROJECT_ID: &str = "424242";
/// The byte cap the mock enforces on a request body (Mixpanel's 413 example: 2 MiB).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone)]
enum Fault {
    Status(u16),
    Throttle(Option<u64>),
}

#[derive(Debug, Default)]
struct State {
    faults: VecDeque<Fault>,
    reject: VecDeque<Vec<usize>>,
    latency: Duration,
    now: Option<DateTime<Utc>>,
    imported: usize,
}

/// A running mock Mixpanel; builder methods script what it does next.
pub struct MixpanelMock {
    partner: MockPartner,
    state: Arc<Mutex<State>>,
}

/// Start a mock Mixpanel and return it with settings pointing at it (fake credentials).
pub async fn start() -> MockPartner {
    start_with(Recording::On).await
}

/// [`start`], keeping what it receives or not (see [`Recording`]).
pub async fn start_with(recording: Recording) -> MockPartner {
    MixpanelMock::start_with(recording).await.into_partner()
}

impl MixpanelMock {
    /// Start the mock on 127.0.0.1.
    pub async fn start() -> MixpanelMock {
        MixpanelMock::start_with(Recording::On).await
    }

    /// [`MixpanelMock::start`], keeping requests and accepted payloads or not (see [`Recording`]).
    pub async fn start_with(recording: Recording) -> MixpanelMock {
        let state = Arc::new(Mutex::new(State::default()));
        let routes = vec![Route::any(Responder(state.clone()))];
        let partner = MockPartner::start(recording, routes, |uri| {
            json!({
                "project_token": TOKEN,
                "api_secret": SECRET,
                "project_id": PROJECT_ID,
                "endpoint": uri,
            })
        })
        .await;
        MixpanelMock { partner, state }
    }

    fn with(self, f: impl FnOnce(&mut State)) -> Self {
        f(&mut self.state.lock().expect("mock state"));
        self
    }

    /// The next `n` requests (any endpoint) answer `status` in Mixpanel's error format.
    pub fn fail_next(self, n: usize, status: u16) -> Self {
        self.with(|s| {
            s.faults
                .extend(std::iter::repeat_n(Fault::Status(status), n))
        })
    }

    /// The next `n` requests answer 429, with `Retry-After: secs` when given.
    pub fn throttle_next(self, n: usize, retry_after_secs: Option<u64>) -> Self {
        self.with(|s| {
            s.faults
                .extend(std::iter::repeat_n(Fault::Throttle(retry_after_secs), n))
        })
    }

    /// The next `/import` request fails the records at these indices (strict-mode 400 with
    /// `failed_records`; the other records are imported).
    pub fn reject_indices(self, idx: impl IntoIterator<Item = usize>) -> Self {
        let v: Vec<usize> = idx.into_iter().collect();
        self.with(|s| s.reject.push_back(v))
    }

    /// Delay every answer by `d`.
    pub fn latency(self, d: Duration) -> Self {
        self.with(|s| s.latency = d)
    }

    /// The mock's clock for time-window checks (default: the system clock).
    pub fn now(self, t: DateTime<Utc>) -> Self {
        self.with(|s| s.now = Some(t))
    }

    /// Settings pointing at the mock, with fake credentials.
    pub fn settings(&self) -> Value {
        self.partner.settings.clone()
    }

    /// The base URL.
    pub fn uri(&self) -> String {
        self.partner.uri()
    }

    /// Records imported so far through `/import`.
    pub fn imported(&self) -> usize {
        self.state.lock().expect("mock state").imported
    }

    /// Every request received so far.
    pub async fn received(&self) -> Vec<Request> {
        self.partner.received().await
    }

    /// The running mock partner.
    pub fn partner(&self) -> &MockPartner {
        &self.partner
    }

    /// Into the running mock partner (the scripted faults stay in effect).
    pub fn into_partner(self) -> MockPartner {
        self.partner
    }
}

struct Responder(Arc<Mutex<State>>);

impl Partner for Responder {
    fn answer(&self, req: &Request) -> Answer {
        let mut st = self.0.lock().expect("mock state");
        let latency = st.latency;
        let t = st.handle(req);
        if latency.is_zero() {
            t
        } else {
            t.set_delay(latency)
        }
    }
}

fn error(code: u16, status: &str, msg: &str) -> Answer {
    Answer::new(code).set_body_json(json!({"code": code, "error": msg, "status": status}))
}

fn bad_request(msg: &str) -> Answer {
    error(400, "Bad Request", msg)
}

fn refused_id(id: &str) -> bool {
    let t = id.trim();
    INVALID_IDS.iter().any(|b| b.eq_ignore_ascii_case(t))
}

/// `time` in seconds or milliseconds → a date.
fn event_time(v: &Value) -> Option<DateTime<Utc>> {
    let n = v.as_f64()?;
    let ms = if n.abs() >= 1e11 { n } else { n * 1000.0 };
    DateTime::from_timestamp_millis(ms as i64)
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    fn handle(&mut self, req: &Request) -> Answer {
        if let Some(f) = self.faults.pop_front() {
            return match f {
                Fault::Status(413) => error(
                    413,
                    "Request Entity Too Large",
                    &format!("request exceeds max limit of {BODY_LIMIT} bytes"),
                ),
                Fault::Status(401) => error(401, "Unauthorized", "Invalid credentials"),
                Fault::Status(429) | Fault::Throttle(None) => error(
                    429,
                    "Too Many Requests",
                    "Project exceeded rate limits. Please retry the request with exponential backoff.",
                ),
                Fault::Throttle(Some(s)) => error(
                    429,
                    "Too Many Requests",
                    "Project exceeded rate limits. Please retry the request with exponential backoff.",
                )
                .insert_header("Retry-After", s.to_string().as_str()),
                Fault::Status(code) => error(code, "error", "injected failure"),
            };
        }
        if req.method != http::Method::POST {
            return error(405, "Method Not Allowed", "use POST");
        }
        match req.url.path() {
            "/import" => self.import(req),
            "/engage" => self.updates(req, "engage"),
            "/groups" => self.updates(req, "groups"),
            "/track" => self.updates(req, "track"),
            _ => Answer::new(404).set_body_string("not found"),
        }
    }

    fn import(&mut self, req: &Request) -> Answer {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{SECRET}:"))
        );
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(expected.as_str()) {
            return error(401, "Unauthorized", "Invalid credentials");
        }
        let q = |k: &str| {
            req.url
                .query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        if q("strict").as_deref() != Some("1") {
            return bad_request("this mock only takes strict=1 imports");
        }
        if let Some(p) = q("project_id")
            && p != PROJECT_ID
        {
            return error(401, "Unauthorized", "Invalid credentials");
        }
        if req.body.len() > BODY_LIMIT {
            return error(
                413,
                "Request Entity Too Large",
                &format!("request exceeds max limit of {BODY_LIMIT} bytes"),
            );
        }
        let Ok(Value::Array(records)) = serde_json::from_slice::<Value>(&req.body) else {
            return bad_request("unable to parse body: expected a JSON array of events");
        };
        if records.is_empty() {
            return bad_request("no events in request");
        }
        if records.len() > 2000 {
            return bad_request("too many events: at most 2000 per request");
        }
        let now = self.now();
        let injected = self.reject.pop_front().unwrap_or_default();
        let mut failed = Vec::new();
        for (i, rec) in records.iter().enumerate() {
            let ins = rec
                .pointer("/properties/$insert_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            let problem = if injected.contains(&i) {
                Some(("properties", "injected failure".to_string()))
            } else {
                validate_record(rec, now)
            };
            if let Some((field, message)) = problem {
                failed.push(
                    json!({"index": i, "$insert_id": ins, "field": field, "message": message}),
                );
            }
        }
        let ok = records.len() - failed.len();
        self.imported += ok;
        if failed.is_empty() {
            Answer::new(200)
                .set_body_json(json!({"code": 200, "num_records_imported": ok, "status": "OK"}))
        } else {
            Answer::new(400).set_body_json(json!({
                "code": 400,
                "error": "some data points in the request failed validation",
                "failed_records": failed,
                "num_records_imported": ok,
                "status": "Bad Request",
            }))
        }
    }

    fn updates(&mut self, req: &Request, kind: &str) -> Answer {
        let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&req.body) else {
            return Answer::new(200).set_body_string("0");
        };
        if items.len() > 2000 {
            return bad_request("too many updates: at most 2000 per request");
        }
        let now = self.now();
        let valid = items.iter().filter(|it| match kind {
            "engage" => {
                it["$token"] == TOKEN
                    && it["$distinct_id"].as_str().is_some_and(|d| !refused_id(d))
                    && [
                        "$set",
                        "$set_once",
                        "$add",
                        "$union",
                        "$append",
                        "$remove",
                        "$unset",
                        "$delete",
                    ]
                    .iter()
                    .any(|op| it.get(*op).is_some())
            }
            "groups" => {
                it["$token"] == TOKEN
                    && it["$group_key"].as_str().is_some_and(|k| !k.is_empty())
                    && it["$group_id"].as_str().is_some_and(|k| !k.is_empty())
                    && it.get("$set").is_some_and(Value::is_object)
            }
            _ => {
                let p = &it["properties"];
                p["token"] == TOKEN
                    && it["event"].as_str().is_some_and(|e| !e.is_empty())
                    && p["distinct_id"].as_str().is_some_and(|d| !refused_id(d))
                    && event_time(&p["time"]).is_some_and(|t| {
                        t >= now - TimeDelta::days(5) && t <= now + TimeDelta::hours(1)
                    })
            }
        });
        let body = if valid.count() > 0 { "1" } else { "0" };
        Answer::new(200).set_body_string(body)
    }
}

/// What Mixpanel's strict import would say about one record: `(field, message)`.
fn validate_record(rec: &Value, now: DateTime<Utc>) -> Option<(&'static str, String)> {
    let Some(obj) = rec.as_object() else {
        return Some(("event", "must be an object".into()));
    };
    if obj
        .get("event")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Some(("event", "'event' must be a non-empty string".into()));
    }
    let Some(p) = obj.get("properties").and_then(Value::as_object) else {
        return Some(("properties", "'properties' must be an object".into()));
    };
    match p.get("distinct_id").and_then(Value::as_str) {
        None => {
            return Some((
                "properties.distinct_id",
                "'properties.distinct_id' must be a string".into(),
            ));
        }
        Some(d) if refused_id(d) => {
            return Some((
                "properties.distinct_id",
                format!("'properties.distinct_id' is invalid: {d:?} is not allowed"),
            ));
        }
        _ => {}
    }
    match p.get("$insert_id").and_then(Value::as_str) {
        Some(i) if is_valid_insert_id(i) => {}
        _ => {
            return Some((
                "properties.$insert_id",
                "'properties.$insert_id' must be a string of at most 36 alphanumeric or '-' characters".into(),
            ));
        }
    }
    let Some(t) = p.get("time").and_then(event_time) else {
        return Some((
            "properties.time",
            "'properties.time' must be specified as seconds or milliseconds since epoch".into(),
        ));
    };
    if t < super::mapping::earliest_time() {
        return Some((
            "properties.time",
            "'properties.time' is before 1971-01-01".into(),
        ));
    }
    if t > now + TimeDelta::hours(1) {
        return Some((
            "properties.time",
            "'properties.time' is more than 1 hour in the future".into(),
        ));
    }
    None
}
