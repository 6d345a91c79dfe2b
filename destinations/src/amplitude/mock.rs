//! A mock Amplitude that validates like the real API and answers in its formats.
//! It is a [`spec_tests::mock::Partner`]: served on wiremock in tests (`start`), on a lean server
//! that keeps no request when `destkit` embeds it (`start_with(Recording::Off)`).
//!
//! - `POST /2/httpapi` (JSON): 400 `Invalid JSON request body` for a body that is not a JSON
//!   object; 400 `Request missing required field` (`missing_field`) without `api_key` or
//!   `events`; 400 `Invalid API key` for a wrong key; 413 `Payload too large` at 2,000 events
//!   or more (Amplitude takes "fewer than 2,000") or at 1 MB; per event: `event_type`, a `user_id` or `device_id` of at least 5 characters
//!   (or `options.min_id_length`) that is not a placeholder, `time` an integer of ms (an ISO
//!   string is named in `events_with_invalid_fields.time`), `insert_id` present — any problem is
//!   a 400 `Invalid field values on some events` naming the indices, and nothing is ingested.
//!   Success: 200 `{code, events_ingested, payload_size_bytes, server_upload_time}`; accepted
//!   events are kept (de-duplicated by `device_id`/`user_id` + `insert_id`, as Amplitude does).
//! - `POST /groupidentify` and `POST /usermap` (forms): `api_key` checked, `identification` /
//!   `mapping` a JSON array with the required fields, else 400; more than 1,024 identifications
//!   or 2,000 mappings (Amplitude's limits; the status it answers is not documented, 413 as for
//!   HTTP V2) → 413; 200 `success`.
//! - Fault injection, in order of the requests: [`AmplitudeMock::fail_next`] (a status),
//!   [`AmplitudeMock::throttle_next`] (429 with Amplitude's body, `Retry-After` when given),
//!   [`AmplitudeMock::reject_indices`] (the next `httpapi` request answers 400 naming those
//!   indices), [`AmplitudeMock::silence_indices`] (400 `Events silenced for device_id` with
//!   `silenced_events`), [`AmplitudeMock::latency`].

use super::mapping::INVALID_IDS;
use serde_json::{Map, Value, json};
use spec_tests::mock::{Answer, MockPartner, Partner, Recording, Route};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::Request;

/// The fake API key the mock expects.
pub const API_KEY: &str = "mock-amplitude-api-key";
/// Most events per HTTP V2 request (Amplitude: "fewer than 2,000").
pub const MAX_EVENTS: usize = 1_999;
/// Most identifications per Group Identify request.
pub const MAX_IDENTIFICATIONS: usize = 1_024;
/// Most mappings per User Mapping request.
pub const MAX_MAPPINGS: usize = 2_000;
/// HTTP V2 bodies must be under this.
pub const MAX_BODY: usize = 1_000_000;

#[derive(Debug, Clone)]
enum Fault {
    Status(u16),
    Throttle(Option<u64>),
    Reject(Vec<usize>),
    Silence(Vec<usize>),
}

#[derive(Default)]
struct State {
    faults: VecDeque<Fault>,
    latency: Option<Duration>,
    /// Keep accepted payloads (`ingested`, `group_identifications`, `mappings`).
    journal: bool,
    ingested: Vec<Value>,
    /// Events accepted (kept or not).
    accepted: usize,
    /// Amplitude's dedup key, (device or user id, insert_id), hashed: 8 bytes an event.
    seen: HashSet<u64>,
    duplicates: usize,
    group_identifications: Vec<Value>,
    mappings: Vec<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Http,
    GroupIdentify,
    UserMap,
}

struct Responder {
    state: Arc<Mutex<State>>,
    api: Api,
}

fn err400(body: Value) -> Answer {
    Answer::new(400).set_body_json(body)
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

impl Partner for Responder {
    fn answer(&self, req: &Request) -> Answer {
        let mut st = self.state.lock().expect("mock state");
        let fault = match st.faults.front() {
            Some(Fault::Reject(_) | Fault::Silence(_)) if self.api != Api::Http => None,
            Some(_) => st.faults.pop_front(),
            None => None,
        };
        let mut rt = match fault {
            Some(Fault::Status(code)) => Answer::new(code),
            Some(Fault::Throttle(after)) => {
                let r = Answer::new(429).set_body_json(json!({
                    "code": 429,
                    "error": "Too many requests for some devices and users",
                    "eps_threshold": 30,
                    "throttled_devices": {},
                    "throttled_users": {},
                    "throttled_events": [],
                }));
                match after {
                    Some(a) => r.insert_header("retry-after", a.to_string().as_str()),
                    None => r,
                }
            }
            Some(Fault::Reject(idx)) => err400(json!({
                "code": 400,
                "error": "Invalid field values on some events",
                "events_with_invalid_fields": { "event_properties": idx },
            })),
            Some(Fault::Silence(idx)) => err400(json!({
                "code": 400,
                "error": "Events silenced for device_id",
                "eps_threshold": 30,
                "exceeded_daily_quota_devices": {},
                "silenced_devices": ["mock-device"],
                "silenced_events": idx,
                "throttled_devices": {},
                "throttled_events": [],
            })),
            None => match self.api {
                Api::Http => httpapi(&mut st, req),
                Api::GroupIdentify => form_api(&mut st, req, "identification"),
                Api::UserMap => form_api(&mut st, req, "mapping"),
            },
        };
        if let Some(d) = st.latency {
            rt = rt.set_delay(d);
        }
        rt
    }
}

fn good_id(v: Option<&Value>, min: usize) -> bool {
    match v.and_then(Value::as_str) {
        Some(s) => {
            s.chars().count() >= min && !INVALID_IDS.iter().any(|b| b.eq_ignore_ascii_case(s))
        }
        None => false,
    }
}

fn httpapi(st: &mut State, req: &Request) -> Answer {
    let ct = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return err400(
            json!({"code": 400, "error": "Invalid request: Content-Type must be application/json"}),
        );
    }
    let body: Map<String, Value> = match serde_json::from_slice(&req.body) {
        Ok(Value::Object(m)) => m,
        _ => return err400(json!({"code": 400, "error": "Invalid JSON request body"})),
    };
    let Some(key) = body.get("api_key").and_then(Value::as_str) else {
        return err400(
            json!({"code": 400, "error": "Request missing required field", "missing_field": "api_key"}),
        );
    };
    if key != API_KEY {
        return err400(json!({"code": 400, "error": "Invalid API key"}));
    }
    let Some(events) = body.get("events").and_then(Value::as_array) else {
        return err400(
            json!({"code": 400, "error": "Request missing required field", "missing_field": "events"}),
        );
    };
    if events.len() > MAX_EVENTS || req.body.len() >= MAX_BODY {
        return Answer::new(413).set_body_json(json!({"code": 413, "error": "Payload too large"}));
    }
    let min = body
        .get("options")
        .and_then(|o| o.get("min_id_length"))
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .unwrap_or(5);
    let mut invalid: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut missing: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let Some(e) = e.as_object() else {
            invalid.entry("event").or_default().push(i);
            continue;
        };
        match e.get("event_type") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => missing.entry("event_type").or_default().push(i),
        }
        if !good_id(e.get("user_id"), min) && !good_id(e.get("device_id"), min) {
            missing.entry("user_id").or_default().push(i);
        }
        if let Some(t) = e.get("time")
            && !(t.is_i64() || t.is_u64())
        {
            invalid.entry("time").or_default().push(i);
        }
        match e.get("insert_id") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => missing.entry("insert_id").or_default().push(i),
        }
        for k in ["event_properties", "user_properties", "groups"] {
            if let Some(v) = e.get(k)
                && !v.is_object()
            {
                invalid.entry(k).or_default().push(i);
            }
        }
    }
    if !invalid.is_empty() || !missing.is_empty() {
        let mut b = json!({"code": 400, "error": "Invalid field values on some events"});
        if !invalid.is_empty() {
            b["events_with_invalid_fields"] = json!(invalid);
        }
        if !missing.is_empty() {
            b["events_with_missing_fields"] = json!(missing);
        }
        return err400(b);
    }
    for e in events {
        let who = e
            .get("device_id")
            .or_else(|| e.get("user_id"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let iid = e["insert_id"].as_str().unwrap_or("");
        if st.seen.insert(dedup_key(who, iid)) {
            st.accepted += 1;
            if st.journal {
                st.ingested.push(e.clone());
            }
        } else {
            st.duplicates += 1;
        }
    }
    Answer::new(200).set_body_json(json!({
        "code": 200,
        "events_ingested": events.len(),
        "payload_size_bytes": req.body.len(),
        "server_upload_time": now_ms(),
    }))
}

/// The dedup key of an event: a hash of who and insert_id (length-prefixed, so `("ab", "c")` and
/// `("a", "bc")` differ).
fn dedup_key(who: &str, insert_id: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&(who.len() as u64).to_le_bytes());
    h.update(who.as_bytes());
    h.update(insert_id.as_bytes());
    h.digest()
}

fn form_api(st: &mut State, req: &Request, field: &str) -> Answer {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match get("api_key") {
        None => {
            return err400(
                json!({"code": 400, "error": "Request missing required field", "missing_field": "api_key"}),
            );
        }
        Some(k) if k != API_KEY => return err400(json!({"code": 400, "error": "Invalid API key"})),
        Some(_) => {}
    }
    let items: Vec<Value> = match get(field).map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Array(a))) if !a.is_empty() => a,
        Some(Ok(v @ Value::Object(_))) => vec![v],
        _ => return Answer::new(400).set_body_string("missing_event"),
    };
    let most = if field == "identification" {
        MAX_IDENTIFICATIONS
    } else {
        MAX_MAPPINGS
    };
    if items.len() > most {
        return Answer::new(413).set_body_json(json!({"code": 413, "error": "Payload too large"}));
    }
    for it in &items {
        let ok = if field == "identification" {
            it.get("group_type").and_then(Value::as_str).is_some()
                && it.get("group_value").and_then(Value::as_str).is_some()
        } else {
            it.get("user_id").and_then(Value::as_str).is_some()
                && (it.get("global_user_id").and_then(Value::as_str).is_some()
                    || it.get("unmap") == Some(&Value::Bool(true)))
        };
        if !ok {
            return Answer::new(400).set_body_string("missing_event");
        }
    }
    if st.journal {
        if field == "identification" {
            st.group_identifications.extend(items);
        } else {
            st.mappings.extend(items);
        }
    }
    Answer::new(200).set_body_string("success")
}

/// A running mock Amplitude with its fault script.
pub struct AmplitudeMock {
    /// The running server and settings.
    pub partner: MockPartner,
    state: Arc<Mutex<State>>,
}

impl AmplitudeMock {
    /// Start the mock on 127.0.0.1; its settings point at it with the expected key.
    pub async fn start() -> AmplitudeMock {
        AmplitudeMock::start_with(Recording::On).await
    }

    /// [`AmplitudeMock::start`], keeping requests and accepted payloads or not (see [`Recording`]).
    pub async fn start_with(recording: Recording) -> AmplitudeMock {
        let state = Arc::new(Mutex::new(State {
            journal: recording.is_on(),
            ..State::default()
        }));
        let routes = [
            ("/2/httpapi", Api::Http),
            ("/groupidentify", Api::GroupIdentify),
            ("/usermap", Api::UserMap),
        ]
        .into_iter()
        .map(|(p, api)| {
            Route::post(
                p,
                Responder {
                    state: state.clone(),
                    api,
                },
            )
        })
        .collect();
        let partner = MockPartner::start(
            recording,
            routes,
            |uri| json!({ "api_key": API_KEY, "endpoint": uri }),
        )
        .await;
        AmplitudeMock { partner, state }
    }

    /// The next `n` requests are answered `status` (no body).
    pub fn fail_next(self, n: usize, status: u16) -> Self {
        self.push(n, Fault::Status(status));
        self
    }

    /// The next `n` requests are answered 429 (Amplitude's body), with `Retry-After: secs`
    /// when given.
    pub fn throttle_next(self, n: usize, retry_after_secs: Option<u64>) -> Self {
        self.push(n, Fault::Throttle(retry_after_secs));
        self
    }

    /// The next `httpapi` request is answered 400 naming these event indices in
    /// `events_with_invalid_fields`; nothing of it is ingested.
    pub fn reject_indices(self, idx: impl IntoIterator<Item = usize>) -> Self {
        self.push(1, Fault::Reject(idx.into_iter().collect()));
        self
    }

    /// The next `httpapi` request is answered 400 `Events silenced for device_id` listing these
    /// indices in `silenced_events`; nothing of it is ingested.
    pub fn silence_indices(self, idx: impl IntoIterator<Item = usize>) -> Self {
        self.push(1, Fault::Silence(idx.into_iter().collect()));
        self
    }

    /// Every answer is delayed by `d`.
    pub fn latency(self, d: Duration) -> Self {
        self.state.lock().expect("mock state").latency = Some(d);
        self
    }

    /// How many events were accepted (first copies), kept or not (see [`Recording`]).
    pub fn accepted(&self) -> usize {
        self.state.lock().expect("mock state").accepted
    }

    /// Events accepted so far (first copy of each `insert_id` per device or user); empty when
    /// started with [`Recording::Off`].
    pub fn ingested(&self) -> Vec<Value> {
        self.state.lock().expect("mock state").ingested.clone()
    }

    /// Accepted events that repeated an `insert_id` (ignored, as Amplitude does).
    pub fn duplicates(&self) -> usize {
        self.state.lock().expect("mock state").duplicates
    }

    /// Group Identify identifications accepted so far.
    pub fn group_identifications(&self) -> Vec<Value> {
        self.state
            .lock()
            .expect("mock state")
            .group_identifications
            .clone()
    }

    /// User mappings accepted so far.
    pub fn mappings(&self) -> Vec<Value> {
        self.state.lock().expect("mock state").mappings.clone()
    }

    /// Into the plain mock partner.
    pub fn into_partner(self) -> MockPartner {
        self.partner
    }

    fn push(&self, n: usize, f: Fault) {
        let mut st = self.state.lock().expect("mock state");
        st.faults.extend(std::iter::repeat_n(f, n));
    }
}

/// Start a mock Amplitude and return it with settings pointing at it.
pub async fn start() -> MockPartner {
    start_with(Recording::On).await
}

/// [`start`], keeping what it receives or not (see [`Recording`]).
pub async fn start_with(recording: Recording) -> MockPartner {
    AmplitudeMock::start_with(recording).await.into_partner()
}
