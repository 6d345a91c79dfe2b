//! Adobe requests: the session protocol. `POST {uri}/api/v1/sessions` with `sessionStart` →
//! 201 + `Location: /api/v1/sessions/{sid}`; every later event `POST
//! {uri}/api/v1/sessions/{sid}/events` → 204. The send hook keeps the Adobe session id of each
//! Segment session, starts sessions on demand, keeps the `playerTime.ts` of a session's events
//! distinct, and on 404/410 (session unknown or closed) starts a new session and resends once.

use super::settings::AdobeMediaSettings;
use destination_kit::{
    ErrorKind, HttpClient, PartnerRequest, PartnerResponse, Payload, TransportError, Verdict,
    Verdicts,
};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The state of one Segment session.
#[derive(Debug, Default)]
pub struct Session {
    /// The Adobe session id, while a session is open.
    pub sid: Option<String>,
    /// The sessionStart of the session's Playback Started, once seen (reused on restarts).
    pub start: Option<Value>,
    /// The `playerTime.ts` values used on the open Adobe session (no two events of a session
    /// may share one).
    pub used_ts: HashSet<i64>,
    /// Adobe sessions started for this Segment session.
    pub started: u32,
    /// When the session last sent something (for forgetting idle sessions).
    pub last_used: Option<Instant>,
    /// The last Adobe session was closed by a delivered sessionComplete/sessionEnd and nothing
    /// was sent since: another closing event has nothing to close (sending it would open a
    /// session only to end it).
    pub closed: bool,
    /// Requests sent for this session (session starts and events), all runs of `send`.
    pub requests: u64,
}

/// Sessions known before idle ones are forgotten.
pub const SWEEP_AT: usize = 10_000;
/// A session idle this long is forgotten when the map is swept: Adobe has closed it long ago
/// (10 minutes idle), and a later event of it starts a new one anyway.
pub const IDLE_FORGET: Duration = Duration::from_secs(30 * 60);

/// Sessions by Segment session key (each behind its own async lock, so one session's events go
/// out one at a time while different sessions proceed in parallel). Memory stays bounded: when
/// more than [`SWEEP_AT`] sessions are known (or twice as many as after the last sweep), the
/// ones idle for [`IDLE_FORGET`] (wall clock) are dropped.
#[derive(Debug, Default)]
pub struct Sessions(Mutex<SessionMap>);

#[derive(Debug, Default)]
struct SessionMap {
    map: HashMap<String, Arc<tokio::sync::Mutex<Session>>>,
    /// A user's current playback: `user:<id>` → the session key of the user's last event that
    /// carried a `session_id`, while its Adobe session is open.
    current: HashMap<String, String>,
    sweep_at: usize,
}

impl Sessions {
    fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<Session>> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = m.map.get(key) {
            return s.clone();
        }
        if m.map.len() >= m.sweep_at.max(SWEEP_AT) {
            m.map.retain(|_, s| {
                Arc::strong_count(s) > 1
                    || s.try_lock().map_or(true, |g| {
                        g.last_used.is_none_or(|t| t.elapsed() < IDLE_FORGET)
                    })
            });
            m.sweep_at = m.map.len() * 2;
            let SessionMap { map, current, .. } = &mut *m;
            current.retain(|_, k| map.contains_key(k));
        }
        m.map.entry(key.to_string()).or_default().clone()
    }
    /// The Adobe session id currently open for a Segment session.
    pub fn sid(&self, key: &str) -> Option<String> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.map
            .get(key)
            .and_then(|s| s.try_lock().ok().and_then(|s| s.sid.clone()))
    }
    /// The session key an event of `route` goes on: for a user's session (`user:<id>`, an
    /// event without `session_id`), the user's current playback when there is one.
    fn resolve(&self, route: &str) -> String {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match m.current.get(route) {
            Some(k) if route.starts_with("user:") => k.clone(),
            _ => route.to_string(),
        }
    }
    /// Record (`Some`) or forget (`None`) the user's current playback.
    fn set_current(&self, user: &str, key: Option<&str>) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match key {
            Some(k) => {
                m.current.insert(user.to_string(), k.to_string());
            }
            None => {
                m.current.remove(user);
            }
        }
    }
    /// Segment sessions known.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).map.len()
    }
    /// Whether no session is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Deserialize)]
struct EnvelopeIn<'a> {
    #[serde(borrow)]
    event: &'a RawValue,
    #[serde(default, borrow)]
    start: Option<&'a RawValue>,
    #[serde(default, borrow)]
    user: Option<&'a str>,
}

/// Placeholder for the session id in a request built before the session is known.
pub const SID_PLACEHOLDER: &str = "{sid}";

fn post(settings: &AdobeMediaSettings, path: &str, body: String) -> PartnerRequest {
    PartnerRequest::post_json(format!("{}{path}", settings.base_url()), body)
}

/// The request of one payload as it would go out: sessionStart to `/api/v1/sessions`, others to
/// `/api/v1/sessions/{sid}/events` (`sid` when known, else the `{sid}` placeholder; the send hook
/// fills it in).
pub fn build(
    settings: &AdobeMediaSettings,
    batch: &[Payload],
    sid: Option<&str>,
) -> PartnerRequest {
    let Some(p) = batch.first() else {
        return post(settings, "/api/v1/sessions", "{}".into());
    };
    let event = serde_json::from_str::<EnvelopeIn<'_>>(p.body.get())
        .map(|e| e.event.get().to_string())
        .unwrap_or_else(|_| p.body.get().to_string());
    if event_type_of(&event) == Some("sessionStart") {
        post(settings, "/api/v1/sessions", event)
    } else {
        let sid = sid.unwrap_or(SID_PLACEHOLDER);
        post(settings, &format!("/api/v1/sessions/{sid}/events"), event)
    }
}

fn event_type_of(raw: &str) -> Option<&'static str> {
    #[derive(Deserialize)]
    struct T<'a> {
        #[serde(rename = "eventType", borrow)]
        event_type: &'a str,
    }
    let t: T<'_> = serde_json::from_str(raw).ok()?;
    Some(match t.event_type {
        "sessionStart" => "sessionStart",
        "sessionEnd" => "sessionEnd",
        "sessionComplete" => "sessionComplete",
        _ => "other",
    })
}

/// Move `playerTime.ts` forward by 1 ms while another event of the session already used it
/// (Adobe needs consecutive events to differ by at least 1 ms), and return it. Events keep
/// their own time otherwise, even out of order: Adobe orders a session's events by `ts`.
fn distinct_ts(event: &mut Value, used: &HashSet<i64>) -> i64 {
    let mut ts = event["playerTime"]["ts"].as_i64().unwrap_or(0);
    while used.contains(&ts) {
        ts += 1;
    }
    event["playerTime"]["ts"] = Value::from(ts);
    ts
}

/// The sid from a `Location: /api/v1/sessions/{sid}` header.
pub fn sid_from_location(resp: &PartnerResponse) -> Option<String> {
    let loc = resp.header("location")?;
    let path = loc.split('?').next()?.trim_end_matches('/');
    let sid = path.rsplit('/').next()?;
    (!sid.is_empty() && path.contains("/sessions/")).then(|| sid.to_string())
}

/// Start an Adobe session with `start`. Returns the answer; on 201 the sid is stored and the
/// new session's ts record begins with the start's.
async fn start_session(
    settings: &AdobeMediaSettings,
    http: &HttpClient,
    s: &mut Session,
    start: Value,
) -> Result<PartnerResponse, TransportError> {
    let ts = start["playerTime"]["ts"].as_i64().unwrap_or(0);
    let req = post(settings, "/api/v1/sessions", start.to_string());
    s.requests += 1;
    let resp = http.send(&req).await?;
    if (200..300).contains(&resp.status) {
        let Some(sid) = sid_from_location(&resp) else {
            // not the Media Collection protocol (a misconfigured endpoint): mark the answer so
            // `interpret` fails the event instead of counting an unsent event as delivered
            let mut resp = resp;
            resp.headers.insert(
                http::HeaderName::from_static(NO_SESSION_HEADER),
                http::HeaderValue::from_static("1"),
            );
            return Ok(resp);
        };
        s.sid = Some(sid);
        s.used_ts.clear();
        s.used_ts.insert(ts);
        s.started += 1;
    }
    Ok(resp)
}

/// Header the send hook adds to a 2xx sessionStart answer that named no session (no
/// `Location: /api/v1/sessions/{sid}`); [`interpret`] fails the payload on it.
pub const NO_SESSION_HEADER: &str = "x-destkit-adobe-no-session";

/// The shared classifier, except a session start answered 2xx without a session id: the
/// endpoint does not speak the Media Collection protocol, so the event fails (client) rather
/// than counting as delivered while it was never sent.
pub fn interpret(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
    if let Some(kind) = resp.header(ALREADY_CLOSED_HEADER) {
        return Verdicts::all(
            batch.len(),
            Verdict::Filtered {
                reason: format!(
                    "the playback's Adobe session is already closed (sessionComplete or \
                     sessionEnd delivered); a {kind} now would open a new session only to end it"
                ),
            },
        );
    }
    if resp.header(NO_SESSION_HEADER).is_some() {
        return Verdicts::all(
            batch.len(),
            Verdict::Failed {
                kind: ErrorKind::Client,
                reason: format!(
                    "HTTP {}: sessionStart answered without a Location: /api/v1/sessions/{{sid}} \
                     header; is the endpoint a Media Collection API?",
                    resp.status
                ),
            },
        );
    }
    Verdicts::default_for(resp, batch.len(), now)
}

/// Send one payload (see the module docs). The answer returned is the one that decides the
/// payload: the event's own, or the session start's when starting failed.
pub async fn send(
    sessions: &Sessions,
    settings: &AdobeMediaSettings,
    http: &HttpClient,
    batch: &[Payload],
) -> Result<PartnerResponse, TransportError> {
    let Some(p) = batch.first() else {
        return http.send(&build(settings, batch, None)).await;
    };
    let env: EnvelopeIn<'_> = serde_json::from_str(p.body.get())
        .map_err(|e| TransportError::Other(format!("malformed payload: {e}")))?;
    let mut event: Value = serde_json::from_str(env.event.get())
        .map_err(|e| TransportError::Other(format!("malformed payload: {e}")))?;
    let fallback: Option<Value> = env.start.and_then(|r| serde_json::from_str(r.get()).ok());
    let key = sessions.resolve(&p.route);
    let session = sessions.get(&key);
    let mut s = session.lock().await;
    s.last_used = Some(Instant::now());
    let kind = event_type_of(env.event.get()).unwrap_or("other");
    let closing = matches!(kind, "sessionEnd" | "sessionComplete");
    if let Some(user) = env.user {
        // this playback is the user's current one until it closes
        sessions.set_current(user, (!closing).then_some(key.as_str()));
    }

    // the requests this call makes (session starts as well as the event), for the report
    let before = s.requests;
    let result = async {
        if kind == "sessionStart" {
            s.start = Some(event.clone());
            s.sid = None;
            s.closed = false;
            return start_session(settings, http, &mut s, event).await;
        }
        if closing && s.sid.is_none() && s.closed {
            // Exited after Completed: the playback's Adobe session is already closed
            return Ok(already_closed(kind));
        }

        let start_for = |s: &Session, ts: i64| -> Option<Value> {
            let mut st = s.start.clone().or_else(|| fallback.clone())?;
            // a restarted session begins just before the event it carries
            st["playerTime"]["ts"] = Value::from(ts - 1);
            Some(st)
        };
        let ev_ts = event["playerTime"]["ts"].as_i64().unwrap_or(0);
        if s.sid.is_none() {
            let Some(st) = start_for(&s, ev_ts) else {
                return Err(TransportError::Other(
                    "no sessionStart for this session".into(),
                ));
            };
            let resp = start_session(settings, http, &mut s, st).await?;
            if s.sid.is_none() {
                return Ok(resp);
            }
        }
        let mut resp = send_event(settings, http, &mut s, &mut event).await?;
        if matches!(resp.status, 404 | 410) {
            // the session is gone (unknown or closed): open a new one and resend once
            s.sid = None;
            if let Some(st) = start_for(&s, ev_ts) {
                let started = start_session(settings, http, &mut s, st).await?;
                if s.sid.is_none() {
                    return Ok(started);
                }
                resp = send_event(settings, http, &mut s, &mut event).await?;
            }
        }
        if (200..300).contains(&resp.status) {
            s.closed = closing;
            if closing {
                s.sid = None;
                s.used_ts.clear();
            }
        }
        Ok(resp)
    }
    .await;
    let extra = (s.requests - before).saturating_sub(1);
    result.map(|r| with_extra_requests(r, extra))
}

/// Say, on the answer returned, how many requests beyond one this call made (session starts),
/// so the report counts every request the partner received.
fn with_extra_requests(mut r: PartnerResponse, extra: u64) -> PartnerResponse {
    if extra > 0 {
        r.headers.insert(
            http::HeaderName::from_static(destination_kit::destination::EXTRA_REQUESTS_HEADER),
            http::HeaderValue::from(extra),
        );
    }
    r
}

/// Header of the answer the send hook makes up (nothing is sent) for a closing event of a
/// playback whose Adobe session is already closed; [`interpret`] filters the event on it.
pub const ALREADY_CLOSED_HEADER: &str = "x-destkit-adobe-already-closed";

fn already_closed(kind: &str) -> PartnerResponse {
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(kind) {
        headers.insert(http::HeaderName::from_static(ALREADY_CLOSED_HEADER), v);
    }
    PartnerResponse {
        status: 204,
        headers,
        body: Default::default(),
    }
}

async fn send_event(
    settings: &AdobeMediaSettings,
    http: &HttpClient,
    s: &mut Session,
    event: &mut Value,
) -> Result<PartnerResponse, TransportError> {
    let sid = s.sid.clone().unwrap_or_default();
    let ts = distinct_ts(event, &s.used_ts);
    let req = post(
        settings,
        &format!("/api/v1/sessions/{sid}/events"),
        event.to_string(),
    );
    s.requests += 1;
    let resp = http.send(&req).await?;
    if (200..300).contains(&resp.status) {
        s.used_ts.insert(ts);
    }
    Ok(resp)
}
