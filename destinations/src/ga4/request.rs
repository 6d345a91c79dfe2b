//! Batch assembly (one request per client and user, `api_secret` in the query) and the reading of
//! GA4's answers: production says 204 to everything; the validation server lists problems.

use super::settings::Ga4Settings;
use destination_kit::destination::redact_query;
use destination_kit::{ErrorKind, PartnerRequest, PartnerResponse, Payload, Verdict, Verdicts};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// A payload read back (borrowing from its bytes).
#[derive(Deserialize)]
struct WireIn<'a> {
    #[serde(borrow)]
    c: Cow<'a, str>,
    #[serde(borrow, default)]
    u: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    p: Option<&'a RawValue>,
    #[serde(borrow)]
    e: &'a RawValue,
}

/// The Measurement Protocol body.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_instance_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    user_properties: BTreeMap<Cow<'a, str>, &'a RawValue>,
    events: Vec<&'a RawValue>,
}

/// Percent-encode a query value, keeping `:` (Firebase app ids) and unreserved characters.
fn enc(s: &str) -> Cow<'_, str> {
    let keep = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':');
    if s.bytes().all(keep) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// The collect URL with the stream id and secret in the query.
pub fn url(s: &Ga4Settings) -> String {
    let path = if s.validate {
        "/debug/mp/collect"
    } else {
        "/mp/collect"
    };
    let stream = match (&s.measurement_id, &s.firebase_app_id) {
        (Some(m), _) => format!("measurement_id={}", enc(m)),
        (None, Some(f)) => format!("firebase_app_id={}", enc(f)),
        (None, None) => String::new(),
    };
    format!(
        "{}{path}?{stream}&api_secret={}",
        s.base_url(),
        enc(s.api_secret.expose())
    )
}

/// Assemble one request from payloads of one route (one client id and user id).
pub fn request(s: &Ga4Settings, batch: &[Payload]) -> PartnerRequest {
    let parsed: Vec<WireIn<'_>> = batch
        .iter()
        .filter_map(|p| serde_json::from_str(p.body.get()).ok())
        .collect();
    let (c, u) = parsed
        .first()
        .map(|w| (w.c.as_ref(), w.u.as_deref()))
        .unwrap_or(("", None));
    let mut user_properties: BTreeMap<Cow<'_, str>, &RawValue> = BTreeMap::new();
    for w in &parsed {
        if let Some(p) = w.p
            && let Ok(m) = serde_json::from_str::<BTreeMap<Cow<'_, str>, &RawValue>>(p.get())
        {
            // later events win: the newest value of a trait
            user_properties.extend(m);
        }
    }
    let body = Body {
        client_id: (!s.is_app_stream()).then_some(c),
        app_instance_id: s.is_app_stream().then_some(c),
        user_id: u,
        user_properties,
        events: parsed.iter().map(|w| w.e).collect(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    PartnerRequest::post_json(url(s), bytes).secret_param("api_secret")
}

/// One message of the validation server.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ValidationMessage {
    /// `events[0].params.currency`, or empty.
    #[serde(default)]
    pub field_path: String,
    /// What is wrong.
    #[serde(default)]
    pub description: String,
    /// `VALUE_INVALID`, `VALUE_REQUIRED`, `NAME_INVALID`, `NAME_RESERVED`, …
    #[serde(default)]
    pub validation_code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidationResponse {
    #[serde(default)]
    validation_messages: Vec<ValidationMessage>,
}

/// The event index a field path names (`events[3].params.x` → 3).
pub fn event_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("events[")?;
    let end = rest.find(']')?;
    rest[..end].parse().ok()
}

fn reason(m: &ValidationMessage) -> String {
    let mut r = format!("GA4 validation {}", m.validation_code);
    if !m.field_path.is_empty() {
        r.push_str(&format!(" at {}", m.field_path));
    }
    if !m.description.is_empty() {
        r.push_str(&format!(": {}", m.description));
    }
    r
}

/// Read an answer. Production (`validate: false`): the shared classifier (GA4 answers 204 even to
/// garbage, so 2xx means only "received"). Validation server: an empty `validationMessages`
/// means every event is valid; messages naming `events[i]` fail those events (with their first
/// message) and the others are resent; a message naming no event fails the whole request.
pub fn interpret(
    s: &Ga4Settings,
    resp: &PartnerResponse,
    batch: &[Payload],
    now: SystemTime,
) -> Verdicts {
    let n = batch.len();
    if !s.validate || !(200..300).contains(&resp.status) {
        return Verdicts::default_for(resp, n, now);
    }
    let Ok(parsed) = serde_json::from_slice::<ValidationResponse>(&resp.body) else {
        return Verdicts::all(
            n,
            Verdict::Failed {
                kind: ErrorKind::Client,
                reason: format!(
                    "GA4 validation server answered {} with an unreadable body: {}",
                    resp.status,
                    resp.body_snippet()
                ),
            },
        );
    };
    let msgs = parsed.validation_messages;
    if msgs.is_empty() {
        return Verdicts::all(n, Verdict::Delivered);
    }
    let indexed: Vec<Option<usize>> = msgs.iter().map(|m| event_index(&m.field_path)).collect();
    if indexed.iter().any(|i| i.is_none_or(|i| i >= n)) {
        let first = indexed
            .iter()
            .position(|i| i.is_none_or(|i| i >= n))
            .unwrap_or(0);
        return Verdicts::all(
            n,
            Verdict::Failed {
                kind: ErrorKind::Client,
                reason: reason(&msgs[first]),
            },
        );
    }
    let mut v = Verdicts::all(n, Verdict::Resend);
    let mut seen = vec![false; n];
    for (m, i) in msgs.iter().zip(indexed) {
        let i = i.unwrap_or_default();
        if !seen[i] {
            seen[i] = true;
            v = v.set(
                i,
                Verdict::Failed {
                    kind: ErrorKind::Client,
                    reason: reason(m),
                },
            );
        }
    }
    v
}

/// The URL of a request with the secret masked (for logs and snapshots).
pub fn redacted(url: &str) -> String {
    redact_query(url, &["api_secret"])
}
