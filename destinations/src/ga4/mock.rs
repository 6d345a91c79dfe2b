//! A mock GA4 Measurement Protocol that behaves like Google's.
//! It is a [`spec_tests::mock::Partner`]: served on wiremock in tests (`start`), on a lean server
//! that keeps no request when `destkit` embeds it (`start_with(Recording::Off)`).
//!
//! - `POST /mp/collect`: **204 with no body to everything**, garbage included (as production
//!   does). Requests whose `api_secret` differs from the expected one are still answered 204 but
//!   counted ([`Ga4Mock::bad_secret_requests`]) so tests can prove where the secret goes.
//! - `POST /debug/mp/collect`: 200 with `{"validationMessages": [...]}` computed by real checks:
//!   JSON object body, `client_id`/`app_instance_id`, stream id in the query, 1–25 events, body
//!   under 130 kB, event names (`[A-Za-z][A-Za-z0-9_]*`, ≤ 40, not reserved, no reserved prefix),
//!   at most 25 params with valid names, scalar values (strings ≤ 100) except `items` (objects
//!   with `item_id` or `item_name`, at most 200), `currency` (ISO-4217) required with `value`, non-empty
//!   `transaction_id` on purchase and refund, integer `timestamp_micros`, user properties
//!   (≤ 25, names ≤ 24, values ≤ 36), `user_id` ≤ 256.
//! - Fault injection (both endpoints): scripted statuses ([`Ga4Mock::fail_next`]), 429 with
//!   `Retry-After` ([`Ga4Mock::throttle_next`]), latency ([`Ga4Mock::latency`]).

use super::mapping::{
    MAX_ITEMS, MAX_NAME_LEN, MAX_PARAM_VALUE_LEN, MAX_PARAMS, MAX_USER_ID_LEN, MAX_USER_PROPERTIES,
    MAX_USER_PROPERTY_NAME_LEN, MAX_USER_PROPERTY_VALUE_LEN, RESERVED_EVENT_NAMES,
    RESERVED_PREFIXES,
};
use serde_json::{Value, json};
use spec_tests::mock::{Answer, MockPartner, Partner, Recording, Route};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::Request;

/// The measurement id the mock's settings use.
pub const MEASUREMENT_ID: &str = "G-MOCK000001";
/// The fake `api_secret` the mock expects.
pub const API_SECRET: &str = "mock-api-secret";
/// Largest body GA4 accepts.
pub const MAX_BODY: usize = 130_000;

#[derive(Debug, Clone)]
enum Fault {
    Status(u16),
    Throttle(Option<u64>),
}

#[derive(Default)]
struct State {
    faults: VecDeque<Fault>,
    latency: Option<Duration>,
    bad_secret: usize,
}

struct Responder {
    state: Arc<Mutex<State>>,
    debug: bool,
}

impl Partner for Responder {
    fn answer(&self, req: &Request) -> Answer {
        let mut st = self.state.lock().expect("mock state");
        let mut rt = match st.faults.pop_front() {
            Some(Fault::Status(code)) => Answer::new(code),
            Some(Fault::Throttle(after)) => {
                let r = Answer::new(429);
                match after {
                    Some(a) => r.insert_header("retry-after", a.to_string().as_str()),
                    None => r,
                }
            }
            None => {
                let secret = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "api_secret")
                    .map(|(_, v)| v.into_owned());
                if secret.as_deref() != Some(API_SECRET) {
                    st.bad_secret += 1;
                }
                if self.debug {
                    Answer::new(200).set_body_json(json!({ "validationMessages": validate(req) }))
                } else {
                    Answer::new(204)
                }
            }
        };
        if let Some(d) = st.latency {
            rt = rt.set_delay(d);
        }
        rt
    }
}

fn msg(path: impl Into<String>, code: &str, description: impl Into<String>) -> Value {
    json!({ "fieldPath": path.into(), "description": description.into(), "validationCode": code })
}

fn good_name(n: &str, max: usize) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn reserved_prefix(n: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| n.starts_with(p))
}

/// The validation server's checks: every problem found, as `validationMessages` entries.
pub fn validate(req: &Request) -> Vec<Value> {
    let mut out = Vec::new();
    if req.body.len() >= MAX_BODY {
        out.push(msg(
            "",
            "VALUE_OUT_OF_BOUNDS",
            format!(
                "request body is {} bytes; the limit is 130 kB",
                req.body.len()
            ),
        ));
    }
    let q: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    let has = |k: &str| q.iter().any(|(n, v)| n == k && !v.is_empty());
    let app = has("firebase_app_id");
    if !has("measurement_id") && !app {
        out.push(msg(
            "measurement_id",
            "VALUE_REQUIRED",
            "measurement_id or firebase_app_id is required",
        ));
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            out.push(msg(
                "",
                "VALUE_INVALID",
                "Unable to parse Measurement Protocol JSON payload",
            ));
            return out;
        }
    };
    let id_field = if app { "app_instance_id" } else { "client_id" };
    match body.get(id_field) {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => out.push(msg(
            id_field,
            "VALUE_REQUIRED",
            format!("{id_field} is required"),
        )),
    }
    if let Some(u) = body.get("user_id") {
        match u.as_str() {
            Some(s) if s.chars().count() <= MAX_USER_ID_LEN => {}
            _ => out.push(msg(
                "user_id",
                "VALUE_INVALID",
                "user_id must be a string of at most 256 characters",
            )),
        }
    }
    if let Some(up) = body.get("user_properties") {
        check_user_properties(up, &mut out);
    }
    let events = match body.get("events") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            out.push(msg(
                "events",
                "VALUE_REQUIRED",
                "at least one event is required",
            ));
            return out;
        }
    };
    if events.len() > 25 {
        out.push(msg(
            "events",
            "EXCEEDED_MAX_ENTITIES",
            format!("{} events; at most 25 per request", events.len()),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        check_event(i, e, &mut out);
    }
    out
}

fn check_user_properties(up: &Value, out: &mut Vec<Value>) {
    let Some(m) = up.as_object() else {
        out.push(msg("user_properties", "VALUE_INVALID", "must be an object"));
        return;
    };
    if m.len() > MAX_USER_PROPERTIES {
        out.push(msg(
            "user_properties",
            "EXCEEDED_MAX_ENTITIES",
            "at most 25 user properties",
        ));
    }
    for (k, v) in m {
        let path = format!("user_properties.{k}");
        if !good_name(k, MAX_USER_PROPERTY_NAME_LEN) || reserved_prefix(k) {
            out.push(msg(&path, "NAME_INVALID", "invalid user property name"));
        }
        match v.get("value") {
            Some(Value::String(s)) if s.chars().count() > MAX_USER_PROPERTY_VALUE_LEN => {
                out.push(msg(
                    &path,
                    "VALUE_OUT_OF_BOUNDS",
                    "user property values are at most 36 characters",
                ))
            }
            Some(Value::String(_) | Value::Number(_)) => {}
            _ => out.push(msg(
                &path,
                "VALUE_INVALID",
                "a user property is {\"value\": string or number}",
            )),
        }
    }
}

fn check_event(i: usize, e: &Value, out: &mut Vec<Value>) {
    let base = format!("events[{i}]");
    let Some(e) = e.as_object() else {
        out.push(msg(&base, "VALUE_INVALID", "an event is an object"));
        return;
    };
    let name = e.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        out.push(msg(
            format!("{base}.name"),
            "VALUE_REQUIRED",
            "event name is required",
        ));
    } else if !good_name(name, MAX_NAME_LEN) {
        out.push(msg(
            format!("{base}.name"),
            "NAME_INVALID",
            format!("Event name {name:?} is invalid"),
        ));
    } else if RESERVED_EVENT_NAMES.contains(&name) || reserved_prefix(name) {
        out.push(msg(
            format!("{base}.name"),
            "NAME_RESERVED",
            format!("Event name {name:?} is reserved"),
        ));
    }
    if let Some(t) = e.get("timestamp_micros")
        && !(t.is_i64() || t.is_u64())
    {
        out.push(msg(
            format!("{base}.timestamp_micros"),
            "VALUE_INVALID",
            "timestamp_micros must be an integer of microseconds",
        ));
    }
    let empty = serde_json::Map::new();
    let params = match e.get("params") {
        None => &empty,
        Some(Value::Object(p)) => p,
        Some(_) => {
            out.push(msg(
                format!("{base}.params"),
                "VALUE_INVALID",
                "params is an object",
            ));
            return;
        }
    };
    if params.len() > MAX_PARAMS {
        out.push(msg(
            format!("{base}.params"),
            "EXCEEDED_MAX_ENTITIES",
            format!("{} params; at most 25", params.len()),
        ));
    }
    for (k, v) in params {
        let path = format!("{base}.params.{k}");
        if !good_name(k, MAX_NAME_LEN) || reserved_prefix(k) {
            out.push(msg(
                &path,
                "NAME_INVALID",
                format!("param name {k:?} is invalid"),
            ));
        }
        if k == "items" {
            let Some(items) = v.as_array() else {
                out.push(msg(&path, "VALUE_INVALID", "items is an array"));
                continue;
            };
            if items.len() > MAX_ITEMS {
                out.push(msg(
                    &path,
                    "EXCEEDED_MAX_ENTITIES",
                    format!("{} items; at most 200", items.len()),
                ));
            }
            for (j, it) in items.iter().enumerate() {
                let ok = it
                    .as_object()
                    .is_some_and(|o| o.contains_key("item_id") || o.contains_key("item_name"));
                if !ok {
                    out.push(msg(
                        format!("{path}[{j}]"),
                        "VALUE_REQUIRED",
                        "an item needs item_id or item_name",
                    ));
                }
            }
            continue;
        }
        match v {
            Value::String(s) if s.chars().count() > MAX_PARAM_VALUE_LEN => out.push(msg(
                &path,
                "VALUE_OUT_OF_BOUNDS",
                "param values are at most 100 characters",
            )),
            Value::String(_) | Value::Number(_) => {}
            _ => out.push(msg(
                &path,
                "VALUE_INVALID",
                "param values must be strings or numbers",
            )),
        }
    }
    if params.contains_key("value") {
        match params.get("currency").and_then(Value::as_str) {
            None => out.push(msg(
                format!("{base}.params.currency"),
                "VALUE_REQUIRED",
                "currency is required when value is set",
            )),
            Some(c) if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) => out.push(msg(
                format!("{base}.params.currency"),
                "VALUE_INVALID",
                format!("{c:?} is not an ISO-4217 currency code"),
            )),
            _ => {}
        }
    }
    if matches!(name, "purchase" | "refund") {
        match params.get("transaction_id") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => out.push(msg(
                format!("{base}.params.transaction_id"),
                "VALUE_REQUIRED",
                "transaction_id is required and must not be empty",
            )),
        }
    }
}

/// A running mock GA4 with its fault script.
pub struct Ga4Mock {
    /// The running server and settings (validate mode on).
    pub partner: MockPartner,
    state: Arc<Mutex<State>>,
}

impl Ga4Mock {
    /// Start the mock on 127.0.0.1; its settings point at it with `validate: true`.
    pub async fn start() -> Ga4Mock {
        Ga4Mock::start_with(Recording::On).await
    }

    /// [`Ga4Mock::start`], keeping requests and accepted payloads or not (see [`Recording`]).
    pub async fn start_with(recording: Recording) -> Ga4Mock {
        let state = Arc::new(Mutex::new(State::default()));
        let routes = vec![
            Route::post(
                "/mp/collect",
                Responder {
                    state: state.clone(),
                    debug: false,
                },
            ),
            Route::post(
                "/debug/mp/collect",
                Responder {
                    state: state.clone(),
                    debug: true,
                },
            ),
        ];
        let partner = MockPartner::start(recording, routes, |uri| {
            json!({
                "measurement_id": MEASUREMENT_ID,
                "api_secret": API_SECRET,
                "endpoint": uri,
                "validate": true,
            })
        })
        .await;
        Ga4Mock { partner, state }
    }

    /// The next `n` requests are answered `status` (no body).
    pub fn fail_next(self, n: usize, status: u16) -> Self {
        self.push(n, Fault::Status(status));
        self
    }

    /// The next `n` requests are answered 429, with `Retry-After: secs` when given.
    pub fn throttle_next(self, n: usize, retry_after_secs: Option<u64>) -> Self {
        self.push(n, Fault::Throttle(retry_after_secs));
        self
    }

    /// Every answer is delayed by `d`.
    pub fn latency(self, d: Duration) -> Self {
        self.state.lock().expect("mock state").latency = Some(d);
        self
    }

    /// Settings for production mode (`/mp/collect`, always 204) instead of validation.
    pub fn production_settings(&self) -> Value {
        let mut s = self.partner.settings.clone();
        s["validate"] = json!(false);
        s
    }

    /// Requests whose `api_secret` query parameter was missing or wrong.
    pub fn bad_secret_requests(&self) -> usize {
        self.state.lock().expect("mock state").bad_secret
    }

    /// The JSON bodies received so far (both endpoints), in order.
    pub async fn bodies(&self) -> Vec<Value> {
        self.partner
            .received()
            .await
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
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

/// Start a mock GA4 (validation mode) and return it with settings pointing at it.
pub async fn start() -> MockPartner {
    start_with(Recording::On).await
}

/// [`start`], keeping what it receives or not (see [`Recording`]).
pub async fn start_with(recording: Recording) -> MockPartner {
    Ga4Mock::start_with(recording).await.into_partner()
}
