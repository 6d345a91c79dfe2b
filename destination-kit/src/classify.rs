//! One place that decides what a partner's answer means for delivery.
//!
//! A small closed [`ErrorKind`] (after smithy-rs): every non-success is one of transient,
//! throttling, server, payload-too-large, auth or client. [`classify_status`] decides it from the
//! HTTP status and headers, [`TransportError`](crate::TransportError) from the transport; destinations override only
//! their partner's quirks (in [`Destination::interpret`](crate::Destination::interpret)).
//! `Retry-After` is data: [`retry_after`] reads both forms (delta-seconds and HTTP-date).
//!
//! | case | kind | retried |
//! |---|---|---|
//! | 2xx | — (delivered) | — |
//! | connect refused / reset, DNS failure, per-attempt timeout, 408 | `Transient` | backoff |
//! | 429, 503 with Retry-After | `Throttling` | after Retry-After, else backoff |
//! | other 5xx except 501 | `Server` | backoff |
//! | 413 | `PayloadTooLarge` | batch split in halves; one event alone fails |
//! | 401, 403 | `Auth` | never |
//! | 400, 404, 422, 501, other 4xx | `Client` | never |
//! | 3xx (redirects are not followed) | `Client` | never |

use std::time::{Duration, SystemTime};

/// What kind of failure a partner answer or a transport error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Timeouts, connection refused or reset, DNS failure, 408: retry with backoff.
    Transient,
    /// 429, 503 with Retry-After: retry after the partner's delay, else with backoff.
    Throttling,
    /// Other 5xx except 501: retry with backoff.
    Server,
    /// 413: split the batch and retry the halves; a single event that is too large fails.
    PayloadTooLarge,
    /// 401, 403: permanent, reported as an auth failure.
    Auth,
    /// Other 4xx, 501: permanent, never retried.
    Client,
}

impl ErrorKind {
    /// Whether an event failing this way is tried again (within the retry budget).
    /// `PayloadTooLarge` is retried by splitting, which the runtime does itself.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Transient | ErrorKind::Throttling | ErrorKind::Server
        )
    }

    /// `"transient"`, `"throttling"`, … (as in reports).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Throttling => "throttling",
            ErrorKind::Server => "server",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::Auth => "auth",
            ErrorKind::Client => "client",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shared classification of an HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// 2xx.
    Success,
    /// Anything else, with the partner's requested delay when it gave one.
    Error {
        /// The kind.
        kind: ErrorKind,
        /// `Retry-After`, when present and meaningful for this kind.
        retry_after: Option<Duration>,
    },
}

/// Classify an HTTP status (and its `Retry-After` header, read at `now`).
///
/// ```
/// use destination_kit::classify::{classify_status, Classification};
/// use destination_kit::ErrorKind;
/// use std::time::{Duration, SystemTime};
/// let mut h = http::HeaderMap::new();
/// h.insert("retry-after", "7".parse().unwrap());
/// assert_eq!(
///     classify_status(429, &h, SystemTime::now()),
///     Classification::Error { kind: ErrorKind::Throttling, retry_after: Some(Duration::from_secs(7)) }
/// );
/// assert_eq!(classify_status(204, &h, SystemTime::now()), Classification::Success);
/// ```
pub fn classify_status(status: u16, headers: &http::HeaderMap, now: SystemTime) -> Classification {
    let ra = || retry_after(headers, now);
    let (kind, retry_after) = match status {
        200..=299 => return Classification::Success,
        408 => (ErrorKind::Transient, ra()),
        429 => (ErrorKind::Throttling, ra()),
        413 => (ErrorKind::PayloadTooLarge, None),
        401 | 403 => (ErrorKind::Auth, None),
        503 => match ra() {
            Some(d) => (ErrorKind::Throttling, Some(d)),
            None => (ErrorKind::Server, None),
        },
        501 => (ErrorKind::Client, None),
        500..=599 => (ErrorKind::Server, ra()),
        _ => (ErrorKind::Client, None),
    };
    Classification::Error { kind, retry_after }
}

/// Read `Retry-After`: delta-seconds (`"120"`) or an HTTP-date, relative to `now`.
/// A date in the past means "now" (zero); a malformed value is ignored (`None`).
pub fn retry_after(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    parse_retry_after(v, now)
}

/// The longest `Retry-After` taken as it is: a larger value (`1e20`) means the same to the
/// runtime — far past any retry budget — and is read as this, so no time arithmetic overflows.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parse a `Retry-After` value (see [`retry_after`]); at most [`MAX_RETRY_AFTER`].
///
/// ```
/// use destination_kit::classify::{parse_retry_after, MAX_RETRY_AFTER};
/// use std::time::{Duration, SystemTime};
/// let now = SystemTime::UNIX_EPOCH;
/// assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after("1e20", now), Some(MAX_RETRY_AFTER));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(
            Duration::try_from_secs_f64(secs)
                .unwrap_or(MAX_RETRY_AFTER)
                .min(MAX_RETRY_AFTER),
        );
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
