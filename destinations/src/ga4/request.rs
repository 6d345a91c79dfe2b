//! Batch assembly (one request per client and user, `api_secret` in the query) and the reading of
//! GA4's answers: production says 204 to everything; the validation server lists problems.

use super::mapping::MAX_USER_PROPERTIES;
use super::settings::Ga4Settings;
use super::wire::{self, Read};
use destination_kit::destination::redact_query;
use destination_kit::{ErrorKind, PartnerRequest, PartnerResponse, Payload, Verdict, Verdicts};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Percent-encode a query value, keeping `:` (Firebase app ids) and unreserved characters.
fn push_enc(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// The collect URL with the stream id and secret in the query.
pub fn url(s: &Ga4Settings) -> String {
    let base = s.base_url();
    let secret = s.api_secret.expose();
    let mut out = String::with_capacity(base.len() + secret.len() + 80);
    out.push_str(base);
    out.push_str(if s.validate {
        "/debug/mp/collect?"
    } else {
        "/mp/collect?"
    });
    match (&s.measurement_id, &s.firebase_app_id) {
        (Some(m), _) => {
            out.push_str("measurement_id=");
            push_enc(&mut out, m);
        }
        (None, Some(f)) => {
            out.push_str("firebase_app_id=");
            push_enc(&mut out, f);
        }
        (None, None) => {}
    }
    out.push_str("&api_secret=");
    push_enc(&mut out, secret);
    out
}

/// Append `s` as a JSON string.
fn push_str_json(body: &mut Vec<u8>, s: &str) {
    // serialising a str into a Vec cannot fail
    let _ = serde_json::to_writer(&mut *body, s);
}

/// The merged `user_properties` of a batch, as JSON; `None` when no event carries any. Later
/// events win, and a request carries at most [`MAX_USER_PROPERTIES`] (GA4's limit): the last
/// event's properties first (each event has at most that many), then earlier events' other
/// names while there is room.
fn user_properties<'a>(reads: &[Read<'a>]) -> Option<Cow<'a, str>> {
    let mut with = reads.iter().filter_map(|r| r.user_properties);
    let first = with.next()?;
    if with.next().is_none() {
        return Some(Cow::Borrowed(first));
    }
    let mut merged: BTreeMap<Cow<'a, str>, &'a RawValue> = BTreeMap::new();
    for p in reads.iter().rev().filter_map(|r| r.user_properties) {
        // written by the mapping as a JSON object of {name: {value}}
        if let Ok(m) = serde_json::from_str::<BTreeMap<Cow<'a, str>, &'a RawValue>>(p) {
            for (k, v) in m {
                // a name already there came from a later event, which wins
                if merged.len() < MAX_USER_PROPERTIES && !merged.contains_key(&k) {
                    merged.insert(k, v);
                }
            }
        }
    }
    serde_json::to_string(&merged).ok().map(Cow::Owned)
}

/// Assemble one request from the payloads of one route (one client id and user id): the events
/// are copied as the mapping wrote them, one per payload, in order.
pub fn request(s: &Ga4Settings, route: &str, batch: &[Payload]) -> PartnerRequest {
    let (client, user) = wire::ids(route);
    let reads: Vec<Read<'_>> = batch.iter().map(|p| wire::read(p.body.get())).collect();
    let props = user_properties(&reads);
    let events: usize = reads.iter().map(|r| r.event.len() + 1).sum();
    let mut body = Vec::with_capacity(events + props.as_ref().map_or(0, |p| p.len()) + 128);
    body.extend_from_slice(if s.is_app_stream() {
        b"{\"app_instance_id\":"
    } else {
        b"{\"client_id\":"
    });
    push_str_json(&mut body, &client);
    if let Some(u) = &user {
        body.extend_from_slice(b",\"user_id\":");
        push_str_json(&mut body, u);
    }
    if let Some(p) = props.as_deref().filter(|p| *p != "{}") {
        body.extend_from_slice(b",\"user_properties\":");
        body.extend_from_slice(p.as_bytes());
    }
    body.extend_from_slice(b",\"events\":[");
    for (i, r) in reads.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(r.event.as_bytes());
    }
    body.extend_from_slice(b"]}");
    PartnerRequest::post_json(url(s), body).secret_param("api_secret")
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
