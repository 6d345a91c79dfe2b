//! The Tracking API's request handling that needs no server: body decoding (plain or gzip),
//! write keys (HTTP Basic username or `writeKey` in the body), splitting a `/v1/batch` envelope,
//! size limits, and the fields the API sets on every accepted message (`receivedAt`, a missing
//! `messageId`, `originalTimestamp` and a skew-corrected `timestamp`).

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use destination_kit::event::{CallType, Message, parse_datetime};
use serde_json::{Map, Value, json};
use std::io::Read;

/// Largest accepted message: Segment documents 32 KB per call.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Largest accepted `/v1/batch` body (after gzip decoding): Segment documents 500 KB per batch.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

/// A refusal of the whole request: the HTTP status and the JSON body's `code` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 401 or 413.
    pub status: StatusCode,
    /// Short machine-readable code (`invalid_request`, `unauthorized`, `too_large`).
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl Refusal {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
        }
    }
    /// A 413 with `message`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "too_large",
            message: message.into(),
        }
    }
    /// A 401 with `message` (never echoing the key that was sent).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
        }
    }
    /// The JSON answer body.
    pub fn body(&self) -> Value {
        json!({"success": false, "code": self.code, "message": self.message})
    }
}

/// Which endpoint was called: one of the six calls, or `/v1/batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/v1/track`, `/v1/identify`, … : the body is one message.
    Call(CallType),
    /// `/v1/batch`: the body is `{"batch": [...]}`.
    Batch,
}

impl Route {
    /// The body size limit of this endpoint.
    pub fn limit(self) -> usize {
        match self {
            Route::Call(_) => MAX_MESSAGE_BYTES,
            Route::Batch => MAX_BATCH_BYTES,
        }
    }
}

/// The request body as JSON bytes: gzip-decoded when `Content-Encoding: gzip`, refused with 413
/// when longer than `limit` (decoding stops there, so a gzip bomb costs at most `limit` bytes).
pub fn decode_body(headers: &HeaderMap, body: &[u8], limit: usize) -> Result<Vec<u8>, Refusal> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let too_large = || {
        Refusal::too_large(format!(
            "request body over {} KB (the limit of this endpoint)",
            limit / 1024
        ))
    };
    match encoding.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(too_large());
            }
            Ok(body.to_vec())
        }
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit + 1));
            flate2::read::GzDecoder::new(body)
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| Refusal::bad_request(format!("body is not valid gzip: {e}")))?;
            if out.len() > limit {
                return Err(too_large());
            }
            Ok(out)
        }
        other => Err(Refusal::bad_request(format!(
            "unsupported Content-Encoding {other:?}; send plain or gzip bodies"
        ))),
    }
}

/// Whether the request says its body is gzip-compressed.
pub fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "gzip" | "x-gzip"))
}

/// The write key from `Authorization: Basic base64(key:)`, when the header is there.
///
/// `Err` when an Authorization header is present but is not Basic auth with a key.
pub fn basic_write_key(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        Refusal::unauthorized("Authorization must be HTTP Basic with the write key as the username")
    };
    let value = value.to_str().map_err(|_| bad())?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let user = text.split_once(':').map(|(u, _)| u).unwrap_or(&text);
    if user.is_empty() {
        return Err(bad());
    }
    Ok(Some(user.to_string()))
}

/// A parsed request body: the write key it carries (if any) and its raw messages, each with the
/// envelope fields of a batch already merged in.
#[derive(Debug, Clone)]
pub struct Body {
    /// `writeKey` from the body.
    pub write_key: Option<String>,
    /// One JSON value per message, in order.
    pub messages: Vec<Value>,
}

/// Parse the decoded body of `route`.
///
/// For a call endpoint the body is one message. For `/v1/batch` it is `{"batch": [...]}`; the
/// envelope's `context`, `integrations` and `sentAt` are copied into messages that lack them.
pub fn parse_body(route: Route, bytes: &[u8]) -> Result<Body, Refusal> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Refusal::bad_request(format!(
            "malformed JSON (line {}, column {}): {}",
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ))
    })?;
    let Value::Object(mut map) = value else {
        return Err(Refusal::bad_request("the body must be a JSON object"));
    };
    let write_key = match map.remove("writeKey") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    match route {
        Route::Call(call) => {
            if !map.contains_key("type") {
                map.insert("type".into(), Value::String(call.as_str().into()));
            }
            Ok(Body {
                write_key,
                messages: vec![Value::Object(map)],
            })
        }
        Route::Batch => {
            let items = match map.remove("batch") {
                Some(Value::Array(items)) => items,
                Some(_) => {
                    return Err(Refusal::bad_request("batch: expected an array of messages"));
                }
                None => {
                    return Err(Refusal::bad_request(
                        "batch: missing; /v1/batch takes {\"batch\": [...]}",
                    ));
                }
            };
            if items.is_empty() {
                return Err(Refusal::bad_request("batch: empty, no message to accept"));
            }
            let shared: Vec<(&str, Value)> = ["context", "integrations", "sentAt"]
                .into_iter()
                .filter_map(|k| map.get(k).filter(|v| !v.is_null()).map(|v| (k, v.clone())))
                .collect();
            let messages = items
                .into_iter()
                .map(|item| match item {
                    Value::Object(mut m) => {
                        m.remove("writeKey");
                        for (k, v) in &shared {
                            if m.get(*k).is_none_or(Value::is_null) {
                                m.insert((*k).to_string(), v.clone());
                            }
                        }
                        Value::Object(m)
                    }
                    other => other,
                })
                .collect();
            Ok(Body {
                write_key,
                messages,
            })
        }
    }
}

fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// Format a time as Segment does: ISO-8601 UTC with milliseconds and `Z`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A random messageId shaped like a UUID v4 (`api-` prefixed so it is clear the server made it).
pub fn new_message_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "api-{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Turn one raw message of a request into an accepted [`Message`], or say why it is refused.
///
/// Sets what the Tracking API sets: `receivedAt` = `received_at`; `messageId` when missing;
/// the client's `timestamp` kept as `originalTimestamp` (unless it sent one); `timestamp`
/// corrected for client clock skew, `receivedAt − (sentAt − originalTimestamp)`, when both
/// times are there (else `originalTimestamp`, else `receivedAt`). Then checks the size limit and
/// [`Message::validate`]. `index` names the message in error paths of a batch.
pub fn accept(
    raw: Value,
    index: Option<usize>,
    received_at: DateTime<Utc>,
) -> Result<Message, MessageError> {
    let path = |p: &str| match index {
        Some(i) if p == "$" => format!("batch[{i}]"),
        Some(i) => format!("batch[{i}].{p}"),
        None => p.to_string(),
    };
    let size = serde_json::to_vec(&raw).map(|v| v.len()).unwrap_or(0);
    if size > MAX_MESSAGE_BYTES {
        return Err(MessageError {
            too_large: true,
            message: format!(
                "{}: message is {size} bytes, over the {} KB limit",
                path("$"),
                MAX_MESSAGE_BYTES / 1024
            ),
        });
    }
    let mut msg = Message::from_value(raw).map_err(|e| MessageError {
        too_large: false,
        message: format!("{}: {}", path(e.path()), e.message()),
    })?;
    let f = msg.fields_mut();
    if f.get("messageId").is_none_or(Value::is_null) {
        f.insert("messageId".into(), Value::String(new_message_id()));
    }
    if f.get("originalTimestamp").is_none_or(Value::is_null)
        && let Some(ts) = f.get("timestamp").filter(|v| !v.is_null()).cloned()
    {
        f.insert("originalTimestamp".into(), ts);
    }
    let time = |f: &Map<String, Value>, k: &str| {
        f.get(k)
            .and_then(Value::as_str)
            .and_then(|s| parse_datetime(s).ok())
            .map(|d| d.with_timezone(&Utc))
    };
    let orig = time(f, "originalTimestamp");
    let sent = time(f, "sentAt");
    let orig_unreadable =
        f.get("originalTimestamp").is_some_and(|v| !v.is_null()) && orig.is_none();
    if !orig_unreadable {
        let ts = match (orig, sent) {
            // corrected for the client's clock skew; dates so far apart (year 200000 against
            // -200000) that the result is past what a date can hold are refused, not a panic
            (Some(o), Some(s)) => received_at.checked_sub_signed(s - o).ok_or_else(|| {
                MessageError {
                    too_large: false,
                    message: format!(
                        "{}: originalTimestamp and sentAt are too far apart to correct for clock skew",
                        path("timestamp")
                    ),
                }
            })?,
            (Some(o), None) => o,
            (None, _) => received_at,
        };
        f.insert("timestamp".into(), Value::String(iso(ts)));
    }
    f.insert("receivedAt".into(), Value::String(iso(received_at)));
    let errs = msg.validate();
    if !errs.is_empty() {
        let text: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", path(&e.path), e.message))
            .collect();
        return Err(MessageError {
            too_large: false,
            message: text.join("; "),
        });
    }
    Ok(msg)
}

/// Why one message of a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    /// Over the 32 KB message limit (413 when nothing else was accepted).
    pub too_large: bool,
    /// Field path and problem.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Write;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn gzip_and_plain_bodies_decode_and_limits_hold() {
        let mut h = HeaderMap::new();
        assert_eq!(decode_body(&h, b"{}", 10).unwrap(), b"{}");
        assert_eq!(
            decode_body(&h, &[b' '; 11], 10).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[b' '; 4000]).unwrap();
        let gz = enc.finish().unwrap();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(decode_body(&h, &gz, 4000).unwrap().len(), 4000);
        // the decoded size counts, not the compressed one
        assert_eq!(
            decode_body(&h, &gz, 3999).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            decode_body(&h, b"not gzip", 100).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn basic_auth_username_is_the_write_key() {
        let mut h = HeaderMap::new();
        assert_eq!(basic_write_key(&h).unwrap(), None);
        // base64("wk_1:")
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic d2tfMTo="),
        );
        assert_eq!(basic_write_key(&h).unwrap().as_deref(), Some("wk_1"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(
            basic_write_key(&h).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn batch_envelope_fields_merge_into_messages_that_lack_them() {
        let body = br#"{"writeKey":"k","sentAt":"2026-01-01T00:00:10Z","context":{"ip":"1.2.3.4"},
            "batch":[{"type":"track","event":"a","userId":"u"},
                     {"type":"track","event":"b","userId":"u","context":{"ip":"9.9.9.9"},"writeKey":"x"}]}"#;
        let b = parse_body(Route::Batch, body).unwrap();
        assert_eq!(b.write_key.as_deref(), Some("k"));
        assert_eq!(b.messages[0]["context"]["ip"], "1.2.3.4");
        assert_eq!(b.messages[0]["sentAt"], "2026-01-01T00:00:10Z");
        assert_eq!(b.messages[1]["context"]["ip"], "9.9.9.9");
        assert!(b.messages[1].get("writeKey").is_none());
    }

    #[test]
    fn the_path_sets_type_only_when_missing() {
        let b = parse_body(
            Route::Call(CallType::Page),
            br#"{"userId":"u","writeKey":"k"}"#,
        )
        .unwrap();
        assert_eq!(b.messages[0]["type"], "page");
        assert!(b.messages[0].get("writeKey").is_none());
        let b = parse_body(Route::Call(CallType::Page), br#"{"type":"screen"}"#).unwrap();
        assert_eq!(b.messages[0]["type"], "screen");
        assert_eq!(
            parse_body(Route::Batch, b"{nope").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert!(parse_body(Route::Batch, br#"{"batch":[]}"#).is_err());
    }

    #[test]
    fn accept_corrects_clock_skew_and_keeps_the_client_time() {
        let raw = json!({"type":"track","event":"x","userId":"u","messageId":"m1",
            "timestamp":"2026-01-01T00:00:00Z","sentAt":"2026-01-01T00:00:10Z"});
        let m = accept(raw, None, t("2026-01-01T00:05:10Z")).unwrap();
        assert_eq!(m.get("originalTimestamp").unwrap(), "2026-01-01T00:00:00Z");
        assert_eq!(m.get("timestamp").unwrap(), "2026-01-01T00:05:00.000Z");
        assert_eq!(m.get("receivedAt").unwrap(), "2026-01-01T00:05:10.000Z");
        assert_eq!(m.message_id(), Some("m1"));
    }

    #[test]
    fn accept_fills_message_id_and_time_when_missing() {
        let now = t("2026-01-01T00:00:00Z");
        let m = accept(json!({"type":"identify","userId":"u"}), None, now).unwrap();
        let id = m.message_id().unwrap();
        assert!(id.starts_with("api-") && id.len() == 40, "{id}");
        assert_ne!(
            id,
            accept(json!({"type":"identify","userId":"u"}), None, now)
                .unwrap()
                .message_id()
                .unwrap()
        );
        assert_eq!(m.get("timestamp").unwrap(), "2026-01-01T00:00:00.000Z");
        assert!(m.get("originalTimestamp").is_none());
    }

    #[test]
    fn accept_refuses_invalid_and_oversized_messages_with_paths() {
        let now = t("2026-01-01T00:00:00Z");
        let e = accept(json!({"type":"track","event":"x"}), Some(3), now).unwrap_err();
        assert!(
            e.message.starts_with("batch[3].userId: missing"),
            "{}",
            e.message
        );
        assert!(!e.too_large);
        let e = accept(json!({"type":"nope","userId":"u"}), Some(0), now).unwrap_err();
        assert!(
            e.message.starts_with("batch[0].type: unknown call"),
            "{}",
            e.message
        );
        let e = accept(
            json!({"type":"track","event":"x","userId":"u","timestamp":"yesterday"}),
            None,
            now,
        )
        .unwrap_err();
        assert!(
            e.message.contains("timestamp: not an ISO-8601 date"),
            "{}",
            e.message
        );
        let big = "x".repeat(MAX_MESSAGE_BYTES);
        let e = accept(
            json!({"type":"track","event":"x","userId":"u","properties":{"b":big}}),
            Some(1),
            now,
        )
        .unwrap_err();
        assert!(
            e.too_large && e.message.starts_with("batch[1]: message is"),
            "{}",
            e.message
        );
    }
}
