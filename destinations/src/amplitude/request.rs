//! Batch assembly per route (HTTP V2 JSON with `api_key` in the body; Group Identify and User
//! Mapping as forms) and Amplitude's answers: a 400 that names bad event indices, a 400
//! `Invalid API key`, 429 = wait 30 s.

use super::mapping::{GROUPIDENTIFY, USERMAP};
use super::settings::AmplitudeSettings;
use destination_kit::destination::{BodyBuffer, json_array, json_array_into, json_array_len};
use destination_kit::{ErrorKind, PartnerRequest, PartnerResponse, Payload, Verdict, Verdicts};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// How long Amplitude asks a throttled user or device to pause (HTTP V2).
pub const THROTTLE_WAIT: Duration = Duration::from_secs(30);

/// Assemble one request for `route` from its payloads.
pub fn request(s: &AmplitudeSettings, route: &str, batch: &[Payload]) -> PartnerRequest {
    match route {
        GROUPIDENTIFY => form(
            format!("{}/groupidentify", s.events_base()),
            s,
            "identification",
            batch,
        ),
        USERMAP => form(format!("{}/usermap", s.usermap_base()), s, "mapping", batch),
        _ => {
            let key = serde_json::to_string(s.api_key.expose()).unwrap_or_default();
            // one buffer for the whole body: the events array is written in place, not built
            // and copied (a 2,000-event body is ~2 MB)
            let mut body = BodyBuffer::with_capacity(json_array_len(batch) + key.len() + 64);
            body.extend_from_slice(b"{\"api_key\":");
            body.extend_from_slice(key.as_bytes());
            body.extend_from_slice(b",\"events\":");
            json_array_into(&mut body, batch);
            if let Some(n) = s.min_id_length {
                body.extend_from_slice(
                    format!(",\"options\":{{\"min_id_length\":{n}}}").as_bytes(),
                );
            }
            body.push(b'}');
            PartnerRequest::post_json(format!("{}/2/httpapi", s.events_base()), body)
        }
    }
}

fn form(url: String, s: &AmplitudeSettings, field: &str, batch: &[Payload]) -> PartnerRequest {
    let array = String::from_utf8(json_array(batch)).unwrap_or_default();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("api_key", s.api_key.expose())
        .append_pair(field, &array)
        .finish();
    PartnerRequest {
        method: http::Method::POST,
        url,
        headers: vec![(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".into(),
        )],
        secret_query: Vec::new(),
        secret_headers: Vec::new(),
        secret_path: false,
        body: body.into_bytes().into(),
    }
}

/// Indices named by a 400 body, each with the reason it failed.
fn bad_indices(body: &Value) -> BTreeMap<usize, String> {
    let mut out = BTreeMap::new();
    for (key, what) in [
        ("events_with_invalid_fields", "invalid"),
        ("events_with_missing_fields", "missing"),
    ] {
        if let Some(m) = body.get(key).and_then(Value::as_object) {
            for (field, idx) in m {
                for i in idx
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                {
                    out.entry(i as usize)
                        .or_insert_with(|| format!("Amplitude: {what} field `{field}`"));
                }
            }
        }
    }
    if let Some(a) = body.get("silenced_events").and_then(Value::as_array) {
        for i in a.iter().filter_map(Value::as_u64) {
            out.entry(i as usize).or_insert_with(|| {
                "Amplitude: events silenced for this device (spam threshold)".to_string()
            });
        }
    }
    out
}

fn throttled_indices(body: &Value) -> Vec<usize> {
    body.get("throttled_events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(|i| i as usize)
        .collect()
}

fn throttle_wait(resp: &PartnerResponse, now: SystemTime) -> Duration {
    destination_kit::classify::retry_after(&resp.headers, now).unwrap_or(THROTTLE_WAIT)
}

/// Read Amplitude's answer into one verdict per payload.
///
/// - 400 `Invalid API key` → every payload fails as `auth`.
/// - 400 naming indices (`events_with_invalid_fields`, `events_with_missing_fields`,
///   `silenced_events`) → those fail with the field as the reason, `throttled_events` retry after
///   30 s, the rest were not ingested and are resent at once in a new batch.
/// - any other 400 → every payload fails (the shared classifier).
/// - 429 → retry after `Retry-After`, else 30 s (Amplitude's documented pause).
/// - 413 split, 5xx retry: the shared classifier (`insert_id` makes a duplicate harmless).
pub fn interpret(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
    let n = batch.len();
    match resp.status {
        400 => {
            let body = resp.json().unwrap_or(Value::Null);
            let error = body.get("error").and_then(Value::as_str).unwrap_or("");
            if error.eq_ignore_ascii_case("invalid api key") || error == "invalid_api_key" {
                return Verdicts::all(
                    n,
                    Verdict::Failed {
                        kind: ErrorKind::Auth,
                        reason: "Amplitude: Invalid API key".into(),
                    },
                );
            }
            let bad = bad_indices(&body);
            let throttled = throttled_indices(&body);
            if bad.is_empty() && throttled.is_empty() {
                return Verdicts::default_for(resp, n, now);
            }
            let mut v = Verdicts::all(n, Verdict::Resend);
            for i in throttled {
                v = v.set(
                    i,
                    Verdict::Retry {
                        kind: ErrorKind::Throttling,
                        after: Some(THROTTLE_WAIT),
                        reason: "Amplitude: device or user throttled (400)".into(),
                    },
                );
            }
            for (i, reason) in bad {
                v = v.set(
                    i,
                    Verdict::Failed {
                        kind: ErrorKind::Client,
                        reason,
                    },
                );
            }
            v
        }
        429 => Verdicts::all(
            n,
            Verdict::Retry {
                kind: ErrorKind::Throttling,
                after: Some(throttle_wait(resp, now)),
                reason: format!("HTTP 429: {}", resp.body_snippet()),
            },
        ),
        // Amplitude's 403 is its firewall or a sanctioned region, not the key (a wrong key is a
        // 400 `Invalid API key`): permanent, but not reported as an auth failure
        403 => Verdicts::all(
            n,
            Verdict::Failed {
                kind: ErrorKind::Client,
                reason: format!(
                    "HTTP 403 (blocked by Amplitude's firewall or a sanctioned region; not an API key problem): {}",
                    resp.body_snippet()
                ),
            },
        ),
        _ => Verdicts::default_for(resp, n, now),
    }
}
