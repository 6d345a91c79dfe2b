//! A mock Braze REST API that checks `/users/track` and `/users/merge` requests the
//! way Braze does and answers in Braze's own formats, with fault injection.
//! It is a [`spec_tests::mock::Partner`]: served on wiremock in tests (`start`), on a lean server
//! that keeps no request when `destkit` embeds it (`start_with(Recording::Off)`).
//!
//! ```no_run
//! # async fn demo() {
//! use destinations::braze::BrazeMock;
//! // one 429 (wait given by X-RateLimit-Reset), then events 1 and 3 of the next request fail
//! let mock = BrazeMock::start().await.throttle_next(1, 5).reject_indices("events", [1, 3]);
//! # }
//! ```
//!
//! Checks: `Authorization: Bearer` with the fake key (else 401); a JSON object with at least one
//! of `attributes`, `events`, `purchases`, each at most 75 long (else 400 "Max Input Length
//! Exceeded"); every object needs an identifier (`external_id`, `user_alias{alias_name,
//! alias_label}`, `braze_id`, `email` or `phone`); events need a `name` and an ISO-8601 `time`;
//! the six `ecommerce.*` events are checked against their strict schema (required fields, money
//! ≥ 0, no custom fields outside `metadata`, products with product_id, product_name, variant_id,
//! quantity, price). An invalid object is listed in `errors[]` of a 201 `message:"success"`
//! answer, index relative to its array, while the others are processed.

use super::mapping::{ECOMMERCE, MONEY, PRODUCT_OPTIONAL, PRODUCT_REQUIRED};
use super::request::PARTS;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use spec_tests::mock::{Answer, MockPartner, Partner, Recording, Route};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::Request;

/// The fake REST API key the mock accepts.
pub const API_KEY: &str = "braze-test-rest-key";
/// Most objects per kind per `/users/track` request.
pub const MAX_PER_KIND: usize = 75;
/// Most merge updates per `/users/merge` request.
pub const MAX_MERGES: usize = 50;

#[derive(Debug, Clone)]
enum Fault {
    Status(u16),
    Throttle(u64),
    ThrottleRetryAfter(u64),
    Queued,
    Fatal,
}

#[derive(Debug, Default)]
struct State {
    faults: VecDeque<Fault>,
    reject: VecDeque<Vec<(String, usize)>>,
    latency: Duration,
    now: Option<DateTime<Utc>>,
    processed: [usize; 3],
    merged: usize,
    last_was_throttle: bool,
}

/// A running mock Braze; builder methods script what it does next.
pub struct BrazeMock {
    partner: MockPartner,
    state: Arc<Mutex<State>>,
}

/// Start a mock Braze and return it with settings pointing at it (fake key).
pub async fn start() -> MockPartner {
    start_with(Recording::On).await
}

/// [`start`], keeping what it receives or not (see [`Recording`]).
pub async fn start_with(recording: Recording) -> MockPartner {
    BrazeMock::start_with(recording).await.into_partner()
}

impl BrazeMock {
    /// Start the mock on 127.0.0.1.
    pub async fn start() -> BrazeMock {
        BrazeMock::start_with(Recording::On).await
    }

    /// [`BrazeMock::start`], keeping requests and accepted payloads or not (see [`Recording`]).
    pub async fn start_with(recording: Recording) -> BrazeMock {
        let state = Arc::new(Mutex::new(State::default()));
        let routes = vec![Route::any(Responder(state.clone()))];
        let partner = MockPartner::start(
            recording,
            routes,
            |uri| json!({"api_key": API_KEY, "rest_endpoint": uri}),
        )
        .await;
        BrazeMock { partner, state }
    }

    fn with(self, f: impl FnOnce(&mut State)) -> Self {
        f(&mut self.state.lock().expect("mock state"));
        self
    }

    /// The next `n` requests answer `status` with a Braze error body.
    pub fn fail_next(self, n: usize, status: u16) -> Self {
        self.with(|s| {
            s.faults
                .extend(std::iter::repeat_n(Fault::Status(status), n))
        })
    }

    /// The next `n` requests answer 429 with `X-RateLimit-Reset` `reset_in_secs` after the mock's
    /// clock and no `Retry-After` (as Braze does).
    pub fn throttle_next(self, n: usize, reset_in_secs: u64) -> Self {
        self.with(|s| {
            s.faults
                .extend(std::iter::repeat_n(Fault::Throttle(reset_in_secs), n))
        })
    }

    /// The next `n` requests answer 429 with `Retry-After: secs` (a proxy in front of Braze may
    /// add one; it wins over `X-RateLimit-Reset`).
    pub fn throttle_retry_after(self, n: usize, secs: u64) -> Self {
        self.with(|s| {
            s.faults
                .extend(std::iter::repeat_n(Fault::ThrottleRetryAfter(secs), n))
        })
    }

    /// The next `n` requests answer 202 `{"message":"queued"}` (maintenance: processed later).
    pub fn queued_next(self, n: usize) -> Self {
        self.with(|s| s.faults.extend(std::iter::repeat_n(Fault::Queued, n)))
    }

    /// The next `n` requests answer 201 with a fatal (non-"success") message and `errors[]`:
    /// nothing was processed.
    pub fn fatal_next(self, n: usize) -> Self {
        self.with(|s| s.faults.extend(std::iter::repeat_n(Fault::Fatal, n)))
    }

    /// The next `/users/track` request fails the objects at these indices of `part`
    /// (`"events"`, `"attributes"`, `"purchases"`), as a 201 with `errors[]`.
    pub fn reject_indices(self, part: &str, idx: impl IntoIterator<Item = usize>) -> Self {
        let v = idx.into_iter().map(|i| (part.to_string(), i)).collect();
        self.with(|s| s.reject.push_back(v))
    }

    /// Delay every answer by `d`.
    pub fn latency(self, d: Duration) -> Self {
        self.with(|s| s.latency = d)
    }

    /// The mock's clock (for `X-RateLimit-Reset`; default the system clock).
    pub fn now(self, t: DateTime<Utc>) -> Self {
        self.with(|s| s.now = Some(t))
    }

    /// Settings pointing at the mock, with the fake key.
    pub fn settings(&self) -> Value {
        self.partner.settings.clone()
    }

    /// Objects processed so far: `[attributes, events, purchases]`.
    pub fn processed(&self) -> [usize; 3] {
        self.state.lock().expect("mock state").processed
    }

    /// Merge updates processed so far.
    pub fn merged(&self) -> usize {
        self.state.lock().expect("mock state").merged
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
        let reset = st.now().timestamp() + 3;
        let t = st
            .handle(req)
            .insert_header("X-RateLimit-Limit", "250000")
            .insert_header("X-RateLimit-Remaining", "249999");
        let t = if st.last_was_throttle {
            t
        } else {
            t.insert_header("X-RateLimit-Reset", reset.to_string().as_str())
        };
        if latency.is_zero() {
            t
        } else {
            t.set_delay(latency)
        }
    }
}

fn message(status: u16, msg: &str) -> Answer {
    Answer::new(status).set_body_json(json!({"message": msg}))
}

fn has_identifier(o: &Map<String, Value>) -> bool {
    let s = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    let alias = o
        .get("user_alias")
        .and_then(Value::as_object)
        .is_some_and(|a| {
            a.get("alias_name")
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty())
                && a.get("alias_label")
                    .and_then(Value::as_str)
                    .is_some_and(|v| !v.is_empty())
        });
    s("external_id") || s("braze_id") || s("email") || s("phone") || alias
}

fn iso_time(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok())
}

fn nonneg(v: Option<&Value>) -> bool {
    v.and_then(Value::as_f64).is_some_and(|f| f >= 0.0)
}

/// Braze's check of one `events[]` object: `Err(type)` when invalid.
fn check_event(o: &Map<String, Value>) -> Result<(), String> {
    let name = o.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err("'name' is required".into());
    }
    if !iso_time(o.get("time")) {
        return Err("'time' must be an ISO 8601 date-time string".into());
    }
    let props = match o.get("properties") {
        None => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => return Err("'properties' must be an object".into()),
    };
    if props.is_some_and(|p| p.keys().any(|k| k.starts_with('$'))) {
        return Err("property names must not start with '$'".into());
    }
    let Some(schema) = ECOMMERCE.iter().find(|s| s.name == name) else {
        return Ok(());
    };
    let empty = Map::new();
    let p = props.unwrap_or(&empty);
    for r in schema.required {
        if p.get(*r).is_none_or(Value::is_null) {
            return Err(format!("{name}: '{r}' is required"));
        }
    }
    for k in p.keys() {
        if !schema.required.contains(&k.as_str()) && !schema.optional.contains(&k.as_str()) {
            return Err(format!(
                "{name}: '{k}' is not allowed; custom fields belong in 'metadata'"
            ));
        }
    }
    for m in MONEY {
        if let Some(v) = p.get(*m)
            && !nonneg(Some(v))
        {
            return Err(format!("{name}: '{m}' must be a number >= 0"));
        }
    }
    if let Some(products) = p.get("products") {
        let Some(arr) = products.as_array() else {
            return Err(format!("{name}: 'products' must be an array"));
        };
        if name == "ecommerce.cart_updated" && arr.is_empty() {
            return Err(format!("{name}: 'products' must not be empty"));
        }
        for (i, prod) in arr.iter().enumerate() {
            let Some(prod) = prod.as_object() else {
                return Err(format!("{name}: products[{i}] must be an object"));
            };
            for r in PRODUCT_REQUIRED {
                if prod.get(*r).is_none_or(Value::is_null) {
                    return Err(format!("{name}: products[{i}].{r} is required"));
                }
            }
            for k in prod.keys() {
                if !PRODUCT_REQUIRED.contains(&k.as_str())
                    && !PRODUCT_OPTIONAL.contains(&k.as_str())
                {
                    return Err(format!(
                        "{name}: products[{i}].{k} is not allowed; custom fields belong in 'metadata'"
                    ));
                }
            }
            if !nonneg(prod.get("price")) {
                return Err(format!("{name}: products[{i}].price must be a number >= 0"));
            }
            if prod
                .get("quantity")
                .and_then(Value::as_i64)
                .is_none_or(|q| q < 1)
            {
                return Err(format!(
                    "{name}: products[{i}].quantity must be a positive integer"
                ));
            }
        }
    }
    if name == "ecommerce.cart_updated"
        && !matches!(
            p.get("action").and_then(Value::as_str),
            Some("add" | "remove" | "replace")
        )
    {
        return Err(format!("{name}: 'action' must be add, remove or replace"));
    }
    Ok(())
}

fn check_purchase(o: &Map<String, Value>) -> Result<(), String> {
    if o.get("product_id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("'product_id' is required".into());
    }
    if o.get("currency")
        .and_then(Value::as_str)
        .is_none_or(|c| c.len() != 3)
    {
        return Err("'currency' must be an ISO 4217 code".into());
    }
    if !nonneg(o.get("price")) {
        return Err("'price' must be a number".into());
    }
    if !iso_time(o.get("time")) {
        return Err("'time' must be an ISO 8601 date-time string".into());
    }
    Ok(())
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    fn handle(&mut self, req: &Request) -> Answer {
        self.last_was_throttle = false;
        if let Some(f) = self.faults.pop_front() {
            return match f {
                Fault::Throttle(secs) => {
                    self.last_was_throttle = true;
                    message(429, "API rate limit exceeded").insert_header(
                        "X-RateLimit-Reset",
                        (self.now().timestamp() + secs as i64).to_string().as_str(),
                    )
                }
                Fault::ThrottleRetryAfter(secs) => message(429, "API rate limit exceeded")
                    .insert_header("Retry-After", secs.to_string().as_str()),
                Fault::Queued => Answer::new(202).set_body_json(json!({"message": "queued"})),
                Fault::Fatal => Answer::new(201).set_body_json(json!({
                    "message": "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.",
                    "errors": [{"type": "injected fatal error"}],
                })),
                Fault::Status(401) => message(401, "Unknown or missing REST API key"),
                Fault::Status(code) => message(code, "injected failure"),
            };
        }
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(format!("Bearer {API_KEY}").as_str()) {
            return message(401, "Unknown or missing REST API key");
        }
        if req.method != http::Method::POST {
            return message(405, "Method not allowed");
        }
        match req.url.path() {
            "/users/track" => self.track(req),
            "/users/merge" => self.merge(req),
            _ => message(404, "Not found"),
        }
    }

    fn track(&mut self, req: &Request) -> Answer {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
            return message(400, "Invalid JSON: expected an object");
        };
        let mut arrays: [&[Value]; 3] = [&[], &[], &[]];
        for (i, part) in PARTS.iter().enumerate() {
            match body.get(*part) {
                None => {}
                Some(Value::Array(a)) => arrays[i] = a,
                Some(_) => return message(400, &format!("'{part}' must be an array")),
            }
            if arrays[i].len() > MAX_PER_KIND {
                return Answer::new(400).set_body_json(json!({
                    "message": "Max Input Length Exceeded",
                    "errors": [{"type": format!("'{part}' holds {} objects; at most {MAX_PER_KIND}", arrays[i].len())}],
                }));
            }
        }
        if arrays.iter().all(|a| a.is_empty()) {
            return message(
                400,
                "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.",
            );
        }
        let injected = self.reject.pop_front().unwrap_or_default();
        let mut errors = Vec::new();
        let mut out = Map::new();
        out.insert("message".into(), json!("success"));
        for (pi, part) in PARTS.iter().enumerate() {
            let mut ok = 0usize;
            for (i, item) in arrays[pi].iter().enumerate() {
                let res = match item.as_object() {
                    None => Err("must be an object".to_string()),
                    Some(o) if !has_identifier(o) => Err(
                        "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"
                            .into(),
                    ),
                    Some(o) => match *part {
                        "events" => check_event(o),
                        "purchases" => check_purchase(o),
                        _ => Ok(()),
                    },
                };
                let res = if injected.iter().any(|(p, x)| p == part && *x == i) {
                    Err("injected failure".into())
                } else {
                    res
                };
                match res {
                    Ok(()) => ok += 1,
                    Err(t) => errors.push(json!({"type": t, "input_array": part, "index": i})),
                }
            }
            self.processed[pi] += ok;
            if !arrays[pi].is_empty() {
                out.insert(format!("{part}_processed"), json!(ok));
            }
        }
        if !errors.is_empty() {
            out.insert("errors".into(), Value::Array(errors));
        }
        Answer::new(201).set_body_json(Value::Object(out))
    }

    fn merge(&mut self, req: &Request) -> Answer {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return message(400, "Invalid JSON");
        };
        let Some(updates) = body.get("merge_updates").and_then(Value::as_array) else {
            return message(400, "'merge_updates' is required");
        };
        if updates.is_empty() || updates.len() > MAX_MERGES {
            return message(
                400,
                &format!("'merge_updates' must hold 1 to {MAX_MERGES} objects"),
            );
        }
        let ident = |v: &Value| v.as_object().is_some_and(has_identifier);
        if !updates
            .iter()
            .all(|u| ident(&u["identifier_to_merge"]) && ident(&u["identifier_to_keep"]))
        {
            return message(
                400,
                "each merge update needs identifier_to_merge and identifier_to_keep",
            );
        }
        self.merged += updates.len();
        Answer::new(202).set_body_json(json!({"message": "success"}))
    }
}
