//! A mock Intercom that checks requests the way the real API does and answers in
//! Intercom's formats (202 with an empty body for events, `error.list` bodies for refusals,
//! `X-RateLimit-*` headers on every answer), with fault injection.
//! It is a [`spec_tests::mock::Partner`]: served on wiremock in tests (`start`), on a lean server
//! that keeps no request when `destkit` embeds it (`start_with(Recording::Off)`).
//!
//! It checks: `Authorization: Bearer <token>`; a known `Intercom-Version` (the real API falls
//! back to the app's default version when it is missing; the mock insists, since the
//! destination pins it); JSON bodies; on `POST /events` a non-empty `event_name`, an integer
//! `created_at` in **seconds** (a value above 10^11 is milliseconds: 400 `parameter_invalid`),
//! one of `user_id | id | email`, `metadata` of at most 10 keys with flat values (or the typed
//! `{amount, currency}` / `{url, value}` objects). It keeps contacts and companies, so
//! `POST /contacts/search`, `PUT /contacts/{id}`, `POST /contacts` (409 for an existing
//! contact), `POST /companies` and `POST /contacts/{id}/companies` behave like Intercom's.
//!
//! ```no_run
//! # async fn demo() {
//! use destinations::intercom::IntercomMock;
//! let mock = IntercomMock::start().await.fail_next(2, 503).unknown_users(["ghost"]);
//! // … deliver to mock.settings() …
//! let events = mock.events(); // the data events Intercom accepted
//! # }
//! ```

use serde_json::{Value, json};
use spec_tests::mock::{Answer, MockPartner, Partner, Recording, Route};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wiremock::Request;

/// The fake access token the mock accepts.
pub const TOKEN: &str = "intercom-test-token";
/// `Intercom-Version` values the mock knows.
pub const KNOWN_VERSIONS: &[&str] = &[
    "1.0", "1.1", "1.2", "1.3", "1.4", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7",
    "2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14", "Unstable",
];
/// The `X-RateLimit-Limit` the mock reports (10,000 per minute over 10-second windows).
pub const RATE_LIMIT: u64 = 1666;

/// One scripted answer, used before any validation.
#[derive(Debug, Clone)]
enum Fault {
    Status(u16),
    RateLimited {
        reset: u64,
        retry_after: Option<u64>,
    },
}

/// A contact the mock holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// Intercom's id (`c1`, `c2`, …).
    pub id: String,
    /// `external_id` (the Segment userId).
    pub external_id: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// The last body written (create or update), merged.
    pub fields: Value,
    /// Company ids attached.
    pub companies: Vec<String>,
}

#[derive(Default)]
struct State {
    /// Keep accepted data events (`events`).
    journal: bool,
    faults: VecDeque<Fault>,
    unknown_users: HashSet<String>,
    search_lag: usize,
    latency: Option<Duration>,
    contacts: Vec<Contact>,
    companies: Vec<Value>,
    events: Vec<Value>,
    next_id: u64,
}

/// A running mock Intercom with its fault-injection builder.
pub struct IntercomMock {
    partner: MockPartner,
    state: Arc<Mutex<State>>,
}

/// Start a mock Intercom (no faults) and return it as a [`MockPartner`].
pub async fn start() -> MockPartner {
    start_with(Recording::On).await
}

/// [`start`], keeping what it receives or not (see [`Recording`]).
pub async fn start_with(recording: Recording) -> MockPartner {
    IntercomMock::start_with(recording).await.into_partner()
}

impl IntercomMock {
    /// Start the mock on 127.0.0.1 with no faults.
    pub async fn start() -> IntercomMock {
        IntercomMock::start_with(Recording::On).await
    }

    /// [`IntercomMock::start`], keeping requests and accepted payloads or not (see [`Recording`]).
    pub async fn start_with(recording: Recording) -> IntercomMock {
        let state = Arc::new(Mutex::new(State {
            journal: recording.is_on(),
            ..State::default()
        }));
        let routes = vec![Route::any(Responder {
            state: state.clone(),
        })];
        let partner = MockPartner::start(
            recording,
            routes,
            |uri| json!({ "access_token": TOKEN, "endpoint": uri }),
        )
        .await;
        IntercomMock { partner, state }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `n` requests (any route) answer `status` with an `error.list` body.
    pub fn fail_next(self, n: usize, status: u16) -> Self {
        self.lock()
            .faults
            .extend(std::iter::repeat_n(Fault::Status(status), n));
        self
    }

    /// The next `n` requests answer 429 with `X-RateLimit-Reset: reset_unix` and no
    /// `Retry-After` (what Intercom does).
    pub fn rate_limit_next(self, n: usize, reset_unix: u64) -> Self {
        self.lock().faults.extend(std::iter::repeat_n(
            Fault::RateLimited {
                reset: reset_unix,
                retry_after: None,
            },
            n,
        ));
        self
    }

    /// The next `n` requests answer 429 with `Retry-After: secs` (and `X-RateLimit-Reset`).
    pub fn retry_after_next(self, n: usize, secs: u64, reset_unix: u64) -> Self {
        self.lock().faults.extend(std::iter::repeat_n(
            Fault::RateLimited {
                reset: reset_unix,
                retry_after: Some(secs),
            },
            n,
        ));
        self
    }

    /// Data events for these user ids or emails answer 404 `not_found` "User Not Found".
    pub fn unknown_users<I: IntoIterator<Item = S>, S: Into<String>>(self, users: I) -> Self {
        self.lock()
            .unknown_users
            .extend(users.into_iter().map(Into::into));
        self
    }

    /// The next `n` contact searches find nothing even when the contact exists (Intercom's
    /// search index lags behind writes), so a create answers 409.
    pub fn search_lag(self, n: usize) -> Self {
        self.lock().search_lag += n;
        self
    }

    /// Every answer is delayed by `d`.
    pub fn latency(self, d: Duration) -> Self {
        self.lock().latency = Some(d);
        self
    }

    /// A contact that already exists (as if created earlier).
    pub fn with_contact(self, external_id: Option<&str>, email: Option<&str>) -> Self {
        {
            let mut st = self.lock();
            st.next_id += 1;
            let id = format!("c{}", st.next_id);
            st.contacts.push(Contact {
                id,
                external_id: external_id.map(str::to_string),
                email: email.map(str::to_string),
                fields: json!({"external_id": external_id, "email": email}),
                companies: Vec::new(),
            });
        }
        self
    }

    /// The data events accepted so far (bodies as received).
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }

    /// The contacts held.
    pub fn contacts(&self) -> Vec<Contact> {
        self.lock().contacts.clone()
    }

    /// The companies held (bodies merged, with `id`).
    pub fn companies(&self) -> Vec<Value> {
        self.lock().companies.clone()
    }

    /// Settings (fake token, endpoint = this mock) as JSON.
    pub fn settings(&self) -> Value {
        self.partner.settings.clone()
    }

    /// The base URL.
    pub fn uri(&self) -> String {
        self.partner.uri()
    }

    /// Every request received so far, in order.
    pub async fn received(&self) -> Vec<Request> {
        self.partner.received().await
    }

    /// The running server as a [`MockPartner`] (the state lives on in the server).
    pub fn partner(&self) -> &MockPartner {
        &self.partner
    }

    /// Into the [`MockPartner`].
    pub fn into_partner(self) -> MockPartner {
        self.partner
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
}

fn error_list(status: u16, code: &str, message: &str) -> Answer {
    Answer::new(status).set_body_json(json!({
        "type": "error.list",
        "request_id": "req-mock-0001",
        "errors": [{"code": code, "message": message}],
    }))
}

fn default_code(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("bad_request", "Bad request"),
        401 => ("unauthorized", "Access Token Invalid"),
        403 => ("api_plan_restricted", "Active subscription needed"),
        404 => ("not_found", "Resource Not Found"),
        408 => ("request_timeout", "Request Timeout"),
        409 => (
            "conflict",
            "A contact matching those details already exists",
        ),
        422 => ("data_invalid", "Data invalid"),
        429 => ("rate_limit_exceeded", "Exceeded rate limit"),
        500..=599 => ("server_error", "Server Error"),
        _ => ("error", "Error"),
    }
}

impl Partner for Responder {
    fn answer(&self, req: &Request) -> Answer {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let resp = answer(&mut st, req);
        let resp = resp
            .insert_header("x-ratelimit-limit", RATE_LIMIT.to_string().as_str())
            .insert_header(
                "x-ratelimit-remaining",
                (RATE_LIMIT - 1).to_string().as_str(),
            );
        match st.latency {
            Some(d) => resp.set_delay(d),
            None => resp,
        }
    }
}

fn answer(st: &mut State, req: &Request) -> Answer {
    if let Some(fault) = st.faults.pop_front() {
        return match fault {
            Fault::Status(s) => {
                let (code, msg) = default_code(s);
                error_list(s, code, msg)
            }
            Fault::RateLimited { reset, retry_after } => {
                let r = error_list(429, "rate_limit_exceeded", "Exceeded rate limit")
                    .insert_header("x-ratelimit-reset", reset.to_string().as_str());
                match retry_after {
                    Some(s) => r.insert_header("retry-after", s.to_string().as_str()),
                    None => r,
                }
            }
        };
    }
    let header = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
    if header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return error_list(401, "unauthorized", "Access Token Invalid");
    }
    match header("intercom-version") {
        Some(v) if KNOWN_VERSIONS.contains(&v) => {}
        Some(v) => {
            return error_list(
                400,
                "intercom_version_invalid",
                &format!("The requested version could not be found: {v}"),
            );
        }
        None => {
            return error_list(
                400,
                "intercom_version_invalid",
                "Intercom-Version header missing",
            );
        }
    }
    let body: Value = if req.method == http::Method::GET {
        Value::Null
    } else {
        if !header("content-type").is_some_and(|c| c.starts_with("application/json")) {
            return error_list(415, "unsupported_media_type", "Content-Type must be JSON");
        }
        match serde_json::from_slice(&req.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return error_list(400, "bad_request", "Request body is not a JSON object"),
        }
    };
    let path = req.url.path().trim_end_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("POST", ["events"]) => post_event(st, body),
        ("POST", ["contacts", "search"]) => search(st, &body),
        ("POST", ["contacts"]) => create_contact(st, body),
        ("PUT", ["contacts", id]) => update_contact(st, id, body),
        ("POST", ["contacts", id, "companies"]) => attach(st, id, &body),
        ("POST", ["companies"]) => upsert_company(st, body),
        _ => error_list(404, "not_found", "Resource Not Found"),
    }
}

fn post_event(st: &mut State, body: Value) -> Answer {
    match body.get("event_name") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(_) => return error_list(400, "parameter_invalid", "event_name must be a string"),
        None => return error_list(400, "parameter_not_found", "event_name is required"),
    }
    match body.get("created_at") {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
            let v = n.as_i64().unwrap_or(i64::MAX);
            if v > 100_000_000_000 {
                return error_list(
                    400,
                    "parameter_invalid",
                    "created_at must be a Unix timestamp in seconds",
                );
            }
        }
        Some(_) => {
            return error_list(
                400,
                "parameter_invalid",
                "created_at must be an integer Unix timestamp",
            );
        }
        None => return error_list(400, "parameter_not_found", "created_at is required"),
    }
    let ident = ["user_id", "id", "email"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str));
    let Some(ident) = ident else {
        return error_list(
            400,
            "parameter_not_found",
            "one of user_id, id or email is required",
        );
    };
    if st.unknown_users.contains(ident) {
        return error_list(404, "not_found", "User Not Found");
    }
    if let Some(md) = body.get("metadata") {
        let Some(md) = md.as_object() else {
            return error_list(400, "parameter_invalid", "metadata must be an object");
        };
        if md.len() > 10 {
            return error_list(
                400,
                "parameter_invalid",
                &format!("metadata has {} keys, at most 10 are allowed", md.len()),
            );
        }
        for (k, v) in md {
            let ok = match v {
                Value::Array(_) => false,
                Value::Object(o) => {
                    let money = o.len() == 2
                        && o.get("amount").is_some_and(|a| a.is_i64() || a.is_u64())
                        && o.get("currency").is_some_and(Value::is_string);
                    let link = o.len() == 2
                        && o.get("url").is_some_and(Value::is_string)
                        && o.get("value").is_some_and(Value::is_string);
                    money || link
                }
                _ => true,
            };
            if !ok {
                return error_list(
                    400,
                    "parameter_invalid",
                    &format!("metadata.{k}: nested values are not allowed"),
                );
            }
        }
    }
    if st.journal {
        st.events.push(body);
    }
    Answer::new(202)
}

fn contact_json(c: &Contact) -> Value {
    json!({"type": "contact", "id": c.id, "external_id": c.external_id, "email": c.email,
           "role": c.fields.get("role").cloned().unwrap_or(json!("user"))})
}

fn search(st: &mut State, body: &Value) -> Answer {
    let q = body.get("query").cloned().unwrap_or(Value::Null);
    let field = q.get("field").and_then(Value::as_str);
    let value = q.get("value").and_then(Value::as_str);
    let (Some(field), Some(value)) = (field, value) else {
        return error_list(
            400,
            "parameter_invalid",
            "query needs field, operator and value",
        );
    };
    if q.get("operator").and_then(Value::as_str) != Some("=") {
        return error_list(400, "parameter_invalid", "only the = operator is mocked");
    }
    let data: Vec<Value> = if st.search_lag > 0 {
        st.search_lag -= 1;
        Vec::new()
    } else {
        st.contacts
            .iter()
            .filter(|c| match field {
                "external_id" => c.external_id.as_deref() == Some(value),
                "email" => c.email.as_deref() == Some(value),
                "id" => c.id == value,
                _ => false,
            })
            .map(contact_json)
            .collect()
    };
    Answer::new(200).set_body_json(json!({
        "type": "list", "total_count": data.len(), "data": data,
        "pages": {"type": "pages", "page": 1, "per_page": 50, "total_pages": 1},
    }))
}

fn merge(into: &mut Value, from: &Value) {
    if let (Some(a), Some(b)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
}

fn create_contact(st: &mut State, body: Value) -> Answer {
    let ext = body.get("external_id").and_then(Value::as_str);
    let email = body.get("email").and_then(Value::as_str);
    if ext.is_none() && email.is_none() {
        return error_list(
            400,
            "parameter_not_found",
            "external_id or email is required to create a contact",
        );
    }
    if let Some(role) = body.get("role")
        && !matches!(role.as_str(), Some("user" | "lead"))
    {
        return error_list(400, "parameter_invalid", "role must be user or lead");
    }
    let existing = st.contacts.iter().find(|c| match ext {
        Some(e) => c.external_id.as_deref() == Some(e),
        None => c.email.as_deref() == email,
    });
    if let Some(c) = existing {
        return error_list(
            409,
            "conflict",
            &format!(
                "A contact matching those details already exists with id={}",
                c.id
            ),
        );
    }
    st.next_id += 1;
    let c = Contact {
        id: format!("c{}", st.next_id),
        external_id: ext.map(str::to_string),
        email: email.map(str::to_string),
        fields: body,
        companies: Vec::new(),
    };
    let out = contact_json(&c);
    st.contacts.push(c);
    Answer::new(200).set_body_json(out)
}

fn update_contact(st: &mut State, id: &str, body: Value) -> Answer {
    let Some(c) = st.contacts.iter_mut().find(|c| c.id == id) else {
        return error_list(404, "not_found", "User Not Found");
    };
    merge(&mut c.fields, &body);
    if let Some(e) = body.get("email").and_then(Value::as_str) {
        c.email = Some(e.to_string());
    }
    if let Some(e) = body.get("external_id").and_then(Value::as_str) {
        c.external_id = Some(e.to_string());
    }
    Answer::new(200).set_body_json(contact_json(c))
}

fn upsert_company(st: &mut State, body: Value) -> Answer {
    let Some(cid) = body
        .get("company_id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return error_list(400, "parameter_not_found", "company_id is required");
    };
    if let Some(Value::Object(attrs)) = body.get("custom_attributes")
        && attrs.values().any(|v| v.is_object() || v.is_array())
    {
        return error_list(400, "parameter_invalid", "custom_attributes must be flat");
    }
    let pos = st
        .companies
        .iter()
        .position(|c| c.get("company_id").and_then(Value::as_str) == Some(&cid));
    let company = match pos {
        Some(i) => {
            merge(&mut st.companies[i], &body);
            st.companies[i].clone()
        }
        None => {
            st.next_id += 1;
            let mut c = body;
            merge(
                &mut c,
                &json!({"type": "company", "id": format!("co{}", st.next_id)}),
            );
            st.companies.push(c.clone());
            c
        }
    };
    Answer::new(200).set_body_json(company)
}

fn attach(st: &mut State, contact_id: &str, body: &Value) -> Answer {
    let Some(company_id) = body.get("id").and_then(Value::as_str) else {
        return error_list(400, "parameter_not_found", "id is required");
    };
    if !st
        .companies
        .iter()
        .any(|c| c.get("id").and_then(Value::as_str) == Some(company_id))
    {
        return error_list(404, "company_not_found", "Company Not Found");
    }
    let Some(c) = st.contacts.iter_mut().find(|c| c.id == contact_id) else {
        return error_list(404, "not_found", "User Not Found");
    };
    if !c.companies.iter().any(|x| x == company_id) {
        c.companies.push(company_id.to_string());
    }
    Answer::new(200).set_body_json(json!({"type": "company", "id": company_id}))
}
