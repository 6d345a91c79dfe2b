//! Batch assembly (one JSON array per request, auth per endpoint) and Mixpanel's answers.

use super::mapping::{ROUTE_ENGAGE, ROUTE_GROUPS, ROUTE_IMPORT, ROUTE_TRACK};
use super::settings::MixpanelSettings;
use destination_kit::destination::json_array_bytes;
use destination_kit::{ErrorKind, PartnerRequest, PartnerResponse, Payload, Verdict, Verdicts};
use serde_json::Value;
use std::time::SystemTime;

/// Build the request for a batch of one route.
///
/// - `import`: `POST /import?strict=1[&project_id=..]`, HTTP Basic (project secret as user name
///   with an empty password, or service account user:secret);
/// - `engage`: `POST /engage?ip=0` (the token is in each update; `ip=0` so the server's address
///   does not overwrite the profile's geolocation);
/// - `groups`: `POST /groups`;
/// - `track`: `POST /track?ip=0` (token in each event's properties).
pub fn build(s: &MixpanelSettings, route: &str, batch: &[Payload]) -> PartnerRequest {
    let base = s.base_url();
    let body = json_array_bytes(batch);
    match route {
        ROUTE_ENGAGE => PartnerRequest::post_json(format!("{base}/engage?ip=0"), body),
        ROUTE_GROUPS => PartnerRequest::post_json(format!("{base}/groups"), body),
        ROUTE_TRACK => PartnerRequest::post_json(format!("{base}/track?ip=0"), body),
        _ => {
            let url = match s.project_id.as_deref() {
                Some(p) => format!("{base}/import?strict=1&project_id={p}"),
                None => format!("{base}/import?strict=1"),
            };
            let (user, pass) = s.basic_auth();
            PartnerRequest::post_json(url, body).basic(user, pass)
        }
    }
}

/// Read an answer into one verdict per payload.
///
/// - `/import` 400 with `failed_records`: the valid records **were ingested**, so only the listed
///   indices fail and every other payload is delivered (never resent: that would duplicate
///   nothing thanks to `$insert_id`, but costs rate limit for no gain);
/// - `/engage`, `/groups`, `/track` 200 with body `0` (or verbose `{"status":0}`): nothing was
///   accepted, all fail; `1`: delivered;
/// - everything else (401 auth, 413 split, 429/5xx retry, other 400) is the shared classifier.
pub fn interpret(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
    let route = batch
        .first()
        .map(|p| p.route.as_ref())
        .unwrap_or(ROUTE_IMPORT);
    let default = || Verdicts::default_for(resp, batch.len(), now);
    if route == ROUTE_IMPORT {
        if resp.status == 400
            && let Some(body) = resp.json()
            && let Some(failed) = body.get("failed_records").and_then(Value::as_array)
            && !failed.is_empty()
        {
            let mut v = Verdicts::all(batch.len(), Verdict::Delivered);
            for rec in failed {
                let Some(i) = rec.get("index").and_then(Value::as_u64) else {
                    // a failure we cannot place: fail the whole batch rather than guess
                    return default();
                };
                let field = rec.get("field").and_then(Value::as_str).unwrap_or("?");
                let msg = rec
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("invalid");
                v = v.set(
                    i as usize,
                    Verdict::Failed {
                        kind: ErrorKind::Client,
                        reason: format!("HTTP 400 strict import: {field}: {msg}"),
                    },
                );
            }
            return v;
        }
        return default();
    }
    if resp.status == 200 {
        let text = String::from_utf8_lossy(&resp.body);
        let accepted = match text.trim() {
            "1" => Some(true),
            "0" => Some(false),
            t => serde_json::from_str::<Value>(t)
                .ok()
                .and_then(|v| v.get("status").and_then(Value::as_i64))
                .map(|s| s == 1),
        };
        if accepted == Some(false) {
            return Verdicts::all(
                batch.len(),
                Verdict::Failed {
                    kind: ErrorKind::Client,
                    reason: format!(
                        "HTTP 200 /{route}: Mixpanel accepted none of the updates (answered 0)"
                    ),
                },
            );
        }
    }
    default()
}
