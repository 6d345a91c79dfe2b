//! Batch assembly (`{attributes, events, purchases}` from payload parts; `{merge_updates}`) and
//! Braze's answers (201 with `errors[]`, fatal messages, 202 queued, 429 with
//! `X-RateLimit-Reset`).

use super::mapping::{PART_ATTRIBUTES, PART_EVENTS, PART_PURCHASES, ROUTE_MERGE};
use super::settings::BrazeSettings;
use destination_kit::{ErrorKind, PartnerRequest, PartnerResponse, Payload, Verdict, Verdicts};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The three parts of a `/users/track` body, in Braze's processing order.
pub const PARTS: [&str; 3] = [PART_ATTRIBUTES, PART_EVENTS, PART_PURCHASES];

/// Build the request for a batch of one route: `POST /users/track` (or `/users/merge`) with
/// `Authorization: Bearer <REST key>`. Payload order within each part is batch order, so an
/// `errors[].index` maps back by counting.
pub fn build(s: &BrazeSettings, route: &str, batch: &[Payload]) -> PartnerRequest {
    let base = s.base_url();
    let total: usize = batch.iter().map(|p| p.len() + 1).sum();
    let mut body = Vec::with_capacity(total + 64);
    let path = if route == ROUTE_MERGE {
        body.extend_from_slice(b"{\"merge_updates\":[");
        for (i, p) in batch.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(p.body.get().as_bytes());
        }
        body.extend_from_slice(b"]}");
        "/users/merge"
    } else {
        body.push(b'{');
        let mut first_part = true;
        for part in PARTS {
            let mut items = batch.iter().filter(|p| p.part == part).peekable();
            if items.peek().is_none() {
                continue;
            }
            if !first_part {
                body.push(b',');
            }
            first_part = false;
            body.push(b'"');
            body.extend_from_slice(part.as_bytes());
            body.extend_from_slice(b"\":[");
            for (i, p) in items.enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(p.body.get().as_bytes());
            }
            body.push(b']');
        }
        body.push(b'}');
        "/users/track"
    };
    PartnerRequest::post_json(format!("{base}{path}"), body).bearer(s.api_key.expose())
}

/// The batch position of the `index`-th payload of `part`.
pub fn position(batch: &[Payload], part: &str, index: usize) -> Option<usize> {
    batch
        .iter()
        .enumerate()
        .filter(|(_, p)| p.part == part)
        .nth(index)
        .map(|(i, _)| i)
}

/// Read an answer into one verdict per payload.
///
/// - 2xx `{message:"success", errors:[{type, input_array, index}]}`: the listed objects failed
///   (index relative to their array), every other one was processed → delivered;
/// - 2xx `{message:"queued"}` (maintenance): accepted for later processing → delivered;
/// - 2xx with another `message` and `errors[]`: fatal, nothing was processed → all failed;
/// - 429: retry after `Retry-After`, else after `X-RateLimit-Reset` (epoch seconds) − now;
/// - everything else (401/403 auth, 400 client, 5xx retry): the shared classifier.
pub fn interpret(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
    let n = batch.len();
    if resp.status == 429 {
        let v = Verdict::from_response(resp, now);
        let v = match v {
            Verdict::Retry {
                kind,
                after: None,
                reason,
            } => Verdict::Retry {
                kind,
                after: rate_limit_reset(resp, now),
                reason,
            },
            other => other,
        };
        return Verdicts::all(n, v);
    }
    if !(200..300).contains(&resp.status) {
        return Verdicts::default_for(resp, n, now);
    }
    let Some(body) = resp.json() else {
        return Verdicts::all(n, Verdict::Delivered);
    };
    let message = body.get("message").and_then(Value::as_str).unwrap_or("");
    let errors = body.get("errors").and_then(Value::as_array);
    if message == "success" || message == "queued" {
        let mut v = Verdicts::all(n, Verdict::Delivered);
        for e in errors.into_iter().flatten() {
            let kind = e
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("invalid object");
            let part = e.get("input_array").and_then(Value::as_str).unwrap_or("");
            let pos = e
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|i| position(batch, part, i as usize));
            match pos {
                Some(i) => {
                    v = v.set(
                        i,
                        Verdict::Failed {
                            kind: ErrorKind::Client,
                            reason: format!("HTTP {} {part}: {kind}", resp.status),
                        },
                    );
                }
                None => {
                    // an error we cannot place: fail the batch rather than report a false success
                    return Verdicts::all(
                        n,
                        Verdict::Failed {
                            kind: ErrorKind::Client,
                            reason: format!("HTTP {}: unplaceable error {e}", resp.status),
                        },
                    );
                }
            }
        }
        return v;
    }
    if errors.is_some_and(|e| !e.is_empty()) {
        return Verdicts::all(
            n,
            Verdict::Failed {
                kind: ErrorKind::Client,
                reason: format!("HTTP {} fatal: {}", resp.status, resp.body_snippet()),
            },
        );
    }
    Verdicts::all(n, Verdict::Delivered)
}

/// `X-RateLimit-Reset` (UTC epoch seconds) as a wait from `now` (zero when it has passed).
pub fn rate_limit_reset(resp: &PartnerResponse, now: SystemTime) -> Option<Duration> {
    let secs: u64 = resp.header("x-ratelimit-reset")?.trim().parse().ok()?;
    let at = UNIX_EPOCH + Duration::from_secs(secs);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
