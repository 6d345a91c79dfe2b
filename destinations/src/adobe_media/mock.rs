//! A mock Adobe Media Collection API that checks requests the way the real service
//! does and keeps its sessions, with fault injection.
//! It is a [`spec_tests::mock::Partner`]: served on wiremock in tests (`start`), on a lean server
//! that keeps no request when `destkit` embeds it (`start_with(Recording::Off)`).
//!
//! - `POST /api/v1/sessions`: the body must be a `sessionStart` with `playerTime.playhead` (a
//!   number), `playerTime.ts` (an integer in epoch **milliseconds**: a value below 10^11 is
//!   seconds and refused), and the required params (`analytics.trackingServer`,
//!   `analytics.reportSuite`, `visitor.marketingCloudOrgId`, `media.id`, `media.length`,
//!   `media.contentType`, `media.playerName`, `media.channel`) → **201**, empty body,
//!   `Location: /api/v1/sessions/{sid}` (sids are `sid-0001`, `sid-0002`, … in order).
//! - `POST /api/v1/sessions/{sid}/events`: unknown sid → **404**; a session closed by
//!   [`AdobeMediaMock::close_session`] or ended by `sessionEnd`/`sessionComplete` → **410**; a
//!   known event type other than `sessionStart`, the required params of `adBreakStart`
//!   (`media.ad.podIndex`, `media.ad.podSecond`), `adStart` (`media.ad.id`, `media.ad.length`,
//!   `media.ad.podPosition`, `media.ad.playerName`) and `chapterStart` (`media.chapter.index`,
//!   `media.chapter.offset`, `media.chapter.length`), `customMetadata` only on sessionStart,
//!   adStart and chapterStart with string values and `[a-zA-Z0-9_.]` keys, a `ts` not already
//!   used in the session (consecutive events must differ by at least 1 ms) → **204**.
//! - Schema errors are **400** with a plain-text message; scripted faults answer their status
//!   (500 by default body `Internal Server Error`).

use serde_json::{Map, Value, json};
use spec_tests::mock::{Answer, MockPartner, Partner, Recording, Route};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wiremock::Request;

/// The tracking server in the mock's settings.
pub const TRACKING_SERVER: &str = "example.sc.omtrdc.net";
/// The report suite in the mock's settings.
pub const REPORT_SUITE: &str = "examplersid";
/// The Experience Cloud org in the mock's settings.
pub const ORG_ID: &str = "ABCDEF0123456789@AdobeOrg";

/// Every event type of the Media Collection API.
pub const EVENT_TYPES: &[&str] = &[
    "sessionStart",
    "play",
    "ping",
    "bufferStart",
    "pauseStart",
    "adBreakStart",
    "adBreakComplete",
    "adStart",
    "adComplete",
    "adSkip",
    "chapterStart",
    "chapterComplete",
    "chapterSkip",
    "bitrateChange",
    "error",
    "stateStart",
    "stateEnd",
    "sessionComplete",
    "sessionEnd",
];

const SESSION_START_PARAMS: &[&str] = &[
    "analytics.trackingServer",
    "analytics.reportSuite",
    "visitor.marketingCloudOrgId",
    "media.id",
    "media.length",
    "media.contentType",
    "media.playerName",
    "media.channel",
];

/// A session the mock holds.
#[derive(Debug, Clone, PartialEq)]
pub struct MockSession {
    /// Its id (`sid-0001`).
    pub sid: String,
    /// The sessionStart body.
    pub start: Value,
    /// The events accepted on it, in order.
    pub events: Vec<Value>,
    /// Closed (410 from now on).
    pub closed: bool,
}

impl MockSession {
    /// The accepted event types, sessionStart first.
    pub fn event_types(&self) -> Vec<String> {
        std::iter::once(&self.start)
            .chain(&self.events)
            .map(|e| e["eventType"].as_str().unwrap_or("?").to_string())
            .collect()
    }
}

#[derive(Default)]
struct State {
    sessions: Vec<MockSession>,
    faults: VecDeque<Option<u16>>,
    retry_after: VecDeque<u64>,
    latency: Option<Duration>,
    created: usize,
}

/// A running mock Media Collection API with its fault-injection builder.
pub struct AdobeMediaMock {
    partner: MockPartner,
    state: Arc<Mutex<State>>,
}

/// Start a mock (no faults) and return it as a [`MockPartner`]. Its settings set `now` to
/// `2026-03-14T09:31:00Z` and `max_event_age_secs` to 3600, so the canonical fixtures (whose
/// video session runs 09:19–09:30 that day) are live for the age check.
pub async fn start() -> MockPartner {
    start_with(Recording::On).await
}

/// [`start`], keeping what it receives or not (see [`Recording`]).
pub async fn start_with(recording: Recording) -> MockPartner {
    AdobeMediaMock::start_with(recording).await.into_partner()
}

impl AdobeMediaMock {
    /// Start the mock on 127.0.0.1.
    pub async fn start() -> AdobeMediaMock {
        AdobeMediaMock::start_with(Recording::On).await
    }

    /// [`AdobeMediaMock::start`], keeping requests and accepted payloads or not (see [`Recording`]).
    pub async fn start_with(recording: Recording) -> AdobeMediaMock {
        let state = Arc::new(Mutex::new(State::default()));
        let routes = vec![Route::any(Responder {
            state: state.clone(),
        })];
        let partner = MockPartner::start(recording, routes, |uri| {
            json!({
                "endpoint": uri,
                "tracking_server": TRACKING_SERVER,
                "report_suite": REPORT_SUITE,
                "marketing_cloud_org_id": ORG_ID,
                "now": "2026-03-14T09:31:00Z",
                "max_event_age_secs": 3600,
            })
        })
        .await;
        AdobeMediaMock { partner, state }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `n` requests (any route) answer `status`.
    pub fn fail_next(self, n: usize, status: u16) -> Self {
        self.lock()
            .faults
            .extend(std::iter::repeat_n(Some(status), n));
        self
    }

    /// The next `n` requests answer 429 with `Retry-After: secs` (Adobe documents no rate
    /// limit; this is for the classifier's throttling path).
    pub fn retry_after_next(self, n: usize, secs: u64) -> Self {
        {
            let mut st = self.lock();
            st.faults.extend(std::iter::repeat_n(Some(429), n));
            st.retry_after.extend(std::iter::repeat_n(secs, n));
        }
        self
    }

    /// Script the next answers in order: `Some(status)` answers that status, `None` answers
    /// normally (`[Some(404), None, Some(410)]`: the next request 404, the one after as usual,
    /// the third 410).
    pub fn script(self, answers: impl IntoIterator<Item = Option<u16>>) -> Self {
        self.lock().faults.extend(answers);
        self
    }

    /// Every answer is delayed by `d`.
    pub fn latency(self, d: Duration) -> Self {
        self.lock().latency = Some(d);
        self
    }

    /// Close a session: its later events answer 410.
    pub fn close_session(&self, sid: &str) {
        if let Some(s) = self.lock().sessions.iter_mut().find(|s| s.sid == sid) {
            s.closed = true;
        }
    }

    /// Forget a session (as after Adobe's idle timeout): its later events answer 404.
    pub fn forget_session(&self, sid: &str) {
        self.lock().sessions.retain(|s| s.sid != sid);
    }

    /// The sessions held, in creation order.
    pub fn sessions(&self) -> Vec<MockSession> {
        self.lock().sessions.clone()
    }

    /// Settings (endpoint = this mock, fake ids) as JSON.
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

    /// The running server as a [`MockPartner`].
    pub fn partner(&self) -> &MockPartner {
        &self.partner
    }

    /// Into the [`MockPartner`] (the state lives on in the server).
    pub fn into_partner(self) -> MockPartner {
        self.partner
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
}

fn bad(msg: impl Into<String>) -> Answer {
    Answer::new(400).set_body_string(msg.into())
}

impl Partner for Responder {
    fn answer(&self, req: &Request) -> Answer {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let resp = answer(&mut st, req).insert_header("access-control-allow-origin", "*");
        match st.latency {
            Some(d) => resp.set_delay(d),
            None => resp,
        }
    }
}

fn answer(st: &mut State, req: &Request) -> Answer {
    if let Some(Some(status)) = st.faults.pop_front() {
        let body = if status >= 500 {
            "Internal Server Error"
        } else {
            "Scripted fault"
        };
        let resp = Answer::new(status).set_body_string(body);
        return match (status, st.retry_after.pop_front()) {
            (429, Some(secs)) => resp.insert_header("retry-after", secs.to_string().as_str()),
            _ => resp,
        };
    }
    if req.method != http::Method::POST {
        return Answer::new(405);
    }
    let segs: Vec<&str> = req
        .url
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let sid = match segs.as_slice() {
        ["api", "v1", "sessions"] => None,
        ["api", "v1", "sessions", sid, "events"] => Some(sid.to_string()),
        _ => return Answer::new(404).set_body_string("Not Found"),
    };
    if !req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return bad("Content-Type must be application/json");
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad("body is not a JSON object"),
    };
    if let Err(msg) = check_event(&body) {
        return bad(msg);
    }
    let event_type = body["eventType"].as_str().unwrap_or_default().to_string();
    match sid {
        None => {
            if event_type != "sessionStart" {
                return bad(format!(
                    "/api/v1/sessions takes only sessionStart, got {event_type}"
                ));
            }
            st.created += 1;
            let sid = format!("sid-{:04}", st.created);
            st.sessions.push(MockSession {
                sid: sid.clone(),
                start: body,
                events: Vec::new(),
                closed: false,
            });
            Answer::new(201).insert_header("location", format!("/api/v1/sessions/{sid}").as_str())
        }
        Some(sid) => {
            let Some(s) = st.sessions.iter_mut().find(|s| s.sid == sid) else {
                return Answer::new(404).set_body_string("session not found");
            };
            if s.closed {
                return Answer::new(410).set_body_string("session closed");
            }
            if event_type == "sessionStart" {
                return bad("sessionStart goes to /api/v1/sessions");
            }
            let ts = body["playerTime"]["ts"].as_i64();
            if std::iter::once(&s.start)
                .chain(&s.events)
                .any(|e| e["playerTime"]["ts"].as_i64() == ts)
            {
                return bad("playerTime.ts: events of a session must differ by at least 1 ms");
            }
            if matches!(event_type.as_str(), "sessionEnd" | "sessionComplete") {
                s.closed = true;
            }
            s.events.push(body);
            Answer::new(204)
        }
    }
}

fn check_event(body: &Value) -> Result<(), String> {
    let pt = body
        .get("playerTime")
        .and_then(Value::as_object)
        .ok_or("playerTime: required object")?;
    if !pt.get("playhead").is_some_and(Value::is_number) {
        return Err("playerTime.playhead: required number (seconds)".into());
    }
    match pt.get("ts") {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
            if n.as_i64().unwrap_or(i64::MAX) < 100_000_000_000 {
                return Err("playerTime.ts: epoch milliseconds expected".into());
            }
        }
        _ => return Err("playerTime.ts: required integer (epoch milliseconds)".into()),
    }
    let et = body
        .get("eventType")
        .and_then(Value::as_str)
        .ok_or("eventType: required string")?;
    if !EVENT_TYPES.contains(&et) {
        return Err(format!("eventType: unknown {et:?}"));
    }
    let empty = Map::new();
    let params = match body.get("params") {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err("params: must be an object".into()),
    };
    let required: &[&str] = match et {
        "sessionStart" => SESSION_START_PARAMS,
        "adBreakStart" => &["media.ad.podIndex", "media.ad.podSecond"],
        "adStart" => &[
            "media.ad.id",
            "media.ad.length",
            "media.ad.podPosition",
            "media.ad.playerName",
        ],
        "chapterStart" => &[
            "media.chapter.index",
            "media.chapter.offset",
            "media.chapter.length",
        ],
        _ => &[],
    };
    for k in required {
        match params.get(*k) {
            None | Some(Value::Null) => return Err(format!("params.{k}: required for {et}")),
            Some(v) => {
                let numeric = matches!(
                    *k,
                    "media.length"
                        | "media.ad.podIndex"
                        | "media.ad.podSecond"
                        | "media.ad.length"
                        | "media.ad.podPosition"
                        | "media.chapter.index"
                        | "media.chapter.offset"
                        | "media.chapter.length"
                );
                if numeric != v.is_number() || (!numeric && !v.is_string()) {
                    let want = if numeric { "a number" } else { "a string" };
                    return Err(format!("params.{k}: must be {want}"));
                }
            }
        }
    }
    if let Some(cm) = body.get("customMetadata") {
        if !matches!(et, "sessionStart" | "adStart" | "chapterStart") {
            return Err(format!("customMetadata: not allowed on {et}"));
        }
        let cm = cm.as_object().ok_or("customMetadata: must be an object")?;
        for (k, v) in cm {
            if k.is_empty()
                || !k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(format!("customMetadata.{k}: invalid key"));
            }
            if !v.is_string() {
                return Err(format!("customMetadata.{k}: values must be strings"));
            }
        }
    }
    if let Some(q) = body.get("qoeData")
        && !q.is_object()
    {
        return Err("qoeData: must be an object".into());
    }
    Ok(())
}
