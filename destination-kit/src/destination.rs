//! The [`Destination`] trait: what a partner writes. Mapping, not plumbing.
//!
//! A destination says who it is ([`DestinationInfo`]), maps one event to partner payloads
//! ([`Destination::map`], pure and synchronous), assembles many payloads of one route into one
//! HTTP request ([`Destination::request`]), and reads the partner's answer into one
//! [`Verdict`] per payload ([`Destination::interpret`], defaulting to the shared classifier).
//! The runtime does the rest: dedup, batching within [`BatchLimits`], HTTP, retries, accounting.
//!
//! The runtime works on the object-safe [`DynDestination`], which [`Configured`] (a destination
//! plus its validated settings) implements.

use crate::classify::{Classification, ErrorKind, classify_status};
use crate::event::{CallType, Message};
use crate::spec::{Family, SpecEvent};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

// ---- metadata --------------------------------------------------------------------------------

/// How many payloads and bytes one partner request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BatchLimits {
    /// Most payloads per request (1 = no batching).
    pub events: usize,
    /// Most bytes of payload JSON per request (the envelope's own bytes are the destination's
    /// margin to keep).
    pub bytes: usize,
}

impl BatchLimits {
    /// One payload per request.
    pub const ONE: BatchLimits = BatchLimits {
        events: 1,
        bytes: usize::MAX,
    };
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits::ONE
    }
}

/// Who a destination is and what it takes.
///
/// ```
/// use destination_kit::{DestinationInfo, BatchLimits};
/// use destination_kit::spec::Family;
/// let info = DestinationInfo::new("Acme", "acme")
///     .families([Family::Ecommerce])
///     .batch(BatchLimits { events: 500, bytes: 1 << 20 });
/// assert_eq!(info.slug, "acme");
/// ```
#[derive(Debug, Clone, serde::Serialize)]
pub struct DestinationInfo {
    /// Display name; also the key looked up in a message's `integrations` object.
    pub name: &'static str,
    /// Stable slug (`amplitude`).
    pub slug: &'static str,
    /// Calls it handles; others end `filtered`.
    pub calls: Vec<CallType>,
    /// Spec families it claims (the conformance suite checks every event of these).
    pub families: Vec<Family>,
    /// Batch limits per request.
    pub batch: BatchLimits,
    /// Tighter limits for some routes (an endpoint of the partner that takes fewer items per
    /// request than the main one), by exact route; [`DestinationInfo::batch`] for the others.
    pub route_batch: Vec<(&'static str, BatchLimits)>,
    /// Whether its `map` reads messages through their tree ([`Message::tree`](crate::Message::tree),
    /// the [`json`](crate::json) views). The runtime then parses input lines into a tree, which
    /// parses and reads faster; otherwise into `serde_json` maps, which the map-returning
    /// accessors (`fields`, `properties`, …) read without a copy. Either way the same messages
    /// are valid, and every accessor works.
    pub reads_tree: bool,
}

impl DestinationInfo {
    /// A destination that takes all six calls, claims no family, one payload per request.
    pub fn new(name: &'static str, slug: &'static str) -> Self {
        DestinationInfo {
            name,
            slug,
            calls: CallType::ALL.to_vec(),
            families: Vec::new(),
            batch: BatchLimits::ONE,
            route_batch: Vec::new(),
            reads_tree: false,
        }
    }
    /// Set the calls it takes.
    pub fn calls(mut self, calls: impl IntoIterator<Item = CallType>) -> Self {
        self.calls = calls.into_iter().collect();
        self
    }
    /// Set the spec families it claims.
    pub fn families(mut self, f: impl IntoIterator<Item = Family>) -> Self {
        self.families = f.into_iter().collect();
        self
    }
    /// Set the batch limits.
    pub fn batch(mut self, b: BatchLimits) -> Self {
        self.batch = b;
        self
    }
    /// Set tighter limits for one route (never looser than [`DestinationInfo::batch`]: the
    /// smaller of the two applies).
    ///
    /// ```
    /// use destination_kit::{BatchLimits, DestinationInfo};
    /// let info = DestinationInfo::new("Acme", "acme")
    ///     .batch(BatchLimits { events: 2_000, bytes: 1 << 20 })
    ///     .route_batch("groups", BatchLimits { events: 200, bytes: 1 << 20 });
    /// assert_eq!(info.limits_for("groups").events, 200);
    /// assert_eq!(info.limits_for("events").events, 2_000);
    /// ```
    pub fn route_batch(mut self, route: &'static str, b: BatchLimits) -> Self {
        self.route_batch.push((route, b));
        self
    }
    /// The limits that apply to one route's requests.
    pub fn limits_for(&self, route: &str) -> BatchLimits {
        match self.route_batch.iter().find(|(r, _)| *r == route) {
            Some((_, b)) => BatchLimits {
                events: b.events.min(self.batch.events),
                bytes: b.bytes.min(self.batch.bytes),
            },
            None => self.batch,
        }
    }
    /// Say that `map` reads messages through their tree (see [`DestinationInfo::reads_tree`]).
    pub fn reads_tree(mut self) -> Self {
        self.reads_tree = true;
        self
    }
}

// ---- settings --------------------------------------------------------------------------------

/// A settings value that is wrong or missing, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("settings.{key}: {message}")]
pub struct SettingsError {
    /// The key (`api_key`, `region`).
    pub key: String,
    /// The problem.
    pub message: String,
}

impl SettingsError {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A destination's settings: serde, validated at start. Secrets are [`crate::Secret`] fields so
/// `Debug` never shows them.
pub trait Settings: DeserializeOwned + fmt::Debug + Clone + Send + Sync + 'static {
    /// Check values serde cannot (non-empty keys, known regions, URLs that parse).
    fn validate(&self) -> Result<(), SettingsError> {
        Ok(())
    }
    /// Point the destination at another base URL (`destkit deliver --endpoint`, mock partners).
    fn set_endpoint(&mut self, base_url: &str);
}

/// Check that a setting sent in an HTTP header (a token, a webhook header) is one a header can
/// carry: a pasted token with a newline would otherwise fail every request. The error names
/// the key, never the value.
///
/// ```
/// use destination_kit::destination::check_header_value;
/// assert!(check_header_value("api_key", "k-123").is_ok());
/// let e = check_header_value("api_key", "k-123\n").unwrap_err();
/// assert_eq!(e.key, "api_key");
/// assert!(!e.to_string().contains("k-123"));
/// ```
pub fn check_header_value(key: impl Into<String>, value: &str) -> Result<(), SettingsError> {
    http::HeaderValue::from_str(value).map(drop).map_err(|_| {
        SettingsError::new(
            key,
            "has a character an HTTP header cannot carry (a newline or another control character)",
        )
    })
}

/// serde's "invalid type: integer `123456789`, expected a string" without the value (a
/// setting may be a secret): "invalid type: integer, expected a string". Quoted parts before
/// `, expected` are dropped; other messages are kept as they are.
pub fn without_values(msg: &str) -> String {
    if !(msg.starts_with("invalid type:") || msg.starts_with("invalid value:")) {
        return msg.to_string();
    }
    let (head, tail) = match msg.find(", expected") {
        Some(i) => msg.split_at(i),
        None => (msg, ""),
    };
    let mut out = String::with_capacity(msg.len());
    let mut quote: Option<char> = None;
    for c in head.chars() {
        match (quote, c) {
            (None, '`' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, c) => out.push(c),
        }
    }
    let mut out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    out.push_str(tail);
    out
}

/// Deserialize and validate settings from JSON, with errors naming the key.
pub fn parse_settings<S: Settings>(v: Value) -> Result<S, SettingsError> {
    let s: S = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let msg = without_values(&e.into_inner().to_string());
        // the path names where serde was (`headers.x`, `batch_size`); "missing field `api_key`"
        // and "unknown field `x`" name the key in the message, relative to that path
        let named = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("missing field") || msg.starts_with("unknown field"));
        let key = match (path.as_str(), named) {
            ("." | "", Some(k)) => k.to_string(),
            ("." | "", None) => "$".to_string(),
            (p, Some(k)) if msg.starts_with("missing field") => format!("{p}.{k}"),
            (p, _) => p.to_string(),
        };
        SettingsError::new(key, msg)
    })?;
    s.validate()?;
    Ok(s)
}

// ---- the event a destination maps ------------------------------------------------------------

/// One valid, de-duplicated event as a destination sees it: the message, its recognised spec
/// event, and its event time. Derefs to [`Message`] for every accessor.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    message: &'a Message,
    spec: SpecRef<'a>,
    time: DateTime<Utc>,
}

/// An event's spec event: given, or built from the message the first time it is asked for.
#[derive(Debug, Clone, Copy)]
enum SpecRef<'a> {
    Given(Option<&'a SpecEvent>),
    /// Validation found its typed properties read cleanly from the tree
    /// ([`crate::spec::Checked::Reads`]); the cell holds it once built (a `OnceLock`, so that
    /// an `Event` stays `Send` and `Sync`).
    Later(
        &'static crate::spec::SpecEventKind,
        &'a std::sync::OnceLock<Option<SpecEvent>>,
    ),
}

// an `Event` can be shared with and sent to other threads, whichever way it holds its spec
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Event<'static>>();
};

impl<'a> Event<'a> {
    /// An event over `message`, with its recognised spec event and event time.
    pub fn new(message: &'a Message, spec: Option<&'a SpecEvent>, time: DateTime<Utc>) -> Self {
        Event {
            message,
            spec: SpecRef::Given(spec),
            time,
        }
    }
    /// An event whose spec event of `kind` is built in `cell` when first asked for (the
    /// runtime's: most destinations read a few typed events, and building every one cost a
    /// `String` per product field).
    pub(crate) fn with_spec_later(
        message: &'a Message,
        kind: &'static crate::spec::SpecEventKind,
        cell: &'a std::sync::OnceLock<Option<SpecEvent>>,
        time: DateTime<Utc>,
    ) -> Self {
        Event {
            message,
            spec: SpecRef::Later(kind, cell),
            time,
        }
    }
    /// The message.
    pub fn message(&self) -> &'a Message {
        self.message
    }
    /// The recognised specced event, if it is one. The runtime builds it on the first call
    /// (validation only checks that its typed properties read): a destination that needs only
    /// the event's name asks [`Event::spec_kind`] and never pays for the typed struct.
    pub fn spec(&self) -> Option<&'a SpecEvent> {
        match self.spec {
            SpecRef::Given(s) => s,
            SpecRef::Later(_, cell) => cell
                .get_or_init(|| SpecEvent::from_message(self.message).and_then(Result::ok))
                .as_ref(),
        }
    }
    /// The catalog entry of its spec event, without building the typed event: what a
    /// destination that maps by event name needs.
    ///
    /// ```
    /// use destination_kit::{Event, event::Message, spec::SpecEvent};
    /// let m = Message::from_slice(br#"{"type":"track","event":"Cart Viewed","userId":"u",
    ///   "messageId":"m","properties":{"cart_id":"c1"}}"#).unwrap();
    /// let spec = SpecEvent::from_message(&m).and_then(Result::ok);
    /// let ev = Event::new(&m, spec.as_ref(), chrono::Utc::now());
    /// assert_eq!(ev.spec_kind().map(|k| k.name), Some("Cart Viewed"));
    /// ```
    pub fn spec_kind(&self) -> Option<&'static crate::spec::SpecEventKind> {
        match self.spec {
            SpecRef::Given(s) => s.map(SpecEvent::kind),
            SpecRef::Later(kind, _) => Some(kind),
        }
    }
    /// `messageId` (always present on a valid event).
    pub fn message_id(&self) -> &'a str {
        self.message.message_id().unwrap_or_default()
    }
    /// The event time ([`Message::event_time`]).
    pub fn time(&self) -> DateTime<Utc> {
        self.time
    }
    /// Event time in Unix seconds.
    pub fn timestamp_secs(&self) -> i64 {
        self.time.timestamp()
    }
    /// Event time in Unix milliseconds.
    pub fn timestamp_millis(&self) -> i64 {
        self.time.timestamp_millis()
    }
    /// Event time in Unix microseconds.
    pub fn timestamp_micros(&self) -> i64 {
        self.time.timestamp_micros()
    }
    /// Event time as ISO-8601 with milliseconds and `Z`.
    pub fn timestamp_iso(&self) -> String {
        self.time
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
    /// `properties` read where the message keeps it (its parsed tree, else its serde_json map),
    /// or an empty object: what [`Event::props`] is without building a serde_json copy.
    pub fn props_any(&self) -> crate::json::AnyObj<'a> {
        self.message
            .field("properties")
            .and_then(crate::json::AnyJson::as_object)
            .unwrap_or(crate::json::AnyObj::empty())
    }
    /// `properties`, or an empty map.
    pub fn props(&self) -> &'a Map<String, Value> {
        self.message
            .properties()
            .unwrap_or(crate::json::any::empty_map())
    }
}

impl std::ops::Deref for Event<'_> {
    type Target = Message;
    fn deref(&self) -> &Message {
        self.message
    }
}

// ---- what map() returns ----------------------------------------------------------------------

/// One unit a partner request carries: a JSON body fragment for a route.
///
/// Payloads of the same `route` are batched together into one request by
/// [`Destination::request`]. `part` lets one request carry several kinds (Braze's `events`,
/// `attributes`, `purchases`).
#[derive(Debug, Clone)]
pub struct Payload {
    /// Batch key: payloads of one route share requests (`"httpapi"`, `"identify"`, `"session:abc"`).
    pub route: Cow<'static, str>,
    /// Sub-kind within a request (`"events"`, `"attributes"`); `""` when there is one kind.
    pub part: &'static str,
    /// The JSON fragment, already serialised.
    pub body: Box<RawValue>,
}

impl Payload {
    /// Serialise `body` as a payload for `route`.
    ///
    /// # Panics
    ///
    /// If `body` cannot be serialised as JSON (a map with keys that are not strings, a
    /// `Serialize` impl that fails). Called from [`Destination::map`], the runtime turns that
    /// panic into the rejection of that one event, with the reason; [`Payload::try_json`] lets
    /// the destination decide instead.
    pub fn json(route: impl Into<Cow<'static, str>>, body: &impl serde::Serialize) -> Payload {
        match Payload::try_json(route, body) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }
    /// Serialise `body` as a payload for `route`, or say why it cannot be.
    ///
    /// ```
    /// use destination_kit::Payload;
    /// use std::collections::BTreeMap;
    /// assert!(Payload::try_json("r", &serde_json::json!({"a": 1})).is_ok());
    /// let bad: BTreeMap<(u8, u8), u8> = BTreeMap::from([((1, 2), 3)]);
    /// let err = Payload::try_json("r", &bad).unwrap_err();
    /// assert!(err.contains("key must be a string"), "{err}");
    /// ```
    pub fn try_json(
        route: impl Into<Cow<'static, str>>,
        body: &impl serde::Serialize,
    ) -> Result<Payload, String> {
        let cannot = |e: String| format!("the payload cannot be serialised as JSON: {e}");
        let text = crate::json::write::to_string(body).map_err(|e| cannot(e.to_string()))?;
        let body = crate::json::write::into_raw_value(text).map_err(|e| cannot(e.to_string()))?;
        Ok(Payload {
            route: route.into(),
            part: "",
            body,
        })
    }
    /// Set the sub-kind.
    pub fn part(mut self, part: &'static str) -> Payload {
        self.part = part;
        self
    }
    /// Bytes of the serialised body.
    pub fn len(&self) -> usize {
        self.body.get().len()
    }
    /// Whether the body is empty (never, for valid JSON).
    pub fn is_empty(&self) -> bool {
        self.body.get().is_empty()
    }
}

/// What [`Destination::map`] decided for one event.
#[derive(Debug, Clone)]
pub enum Mapped {
    /// Send these payloads (one or more; e.g. Order Completed plus one Product Purchased per
    /// product). The event is delivered when all of them are.
    Send(Vec<Payload>),
    /// The destination does not take this event: it ends `filtered` with the reason.
    Unsupported {
        /// Why (`"Intercom has no page API"`).
        reason: String,
    },
    /// The event cannot be mapped (a field the partner requires is missing): it ends `rejected`.
    Invalid {
        /// Which field and what is wrong.
        reason: String,
    },
}

impl Mapped {
    /// One payload.
    pub fn one(p: Payload) -> Mapped {
        Mapped::Send(vec![p])
    }
    /// Unsupported, with a reason.
    pub fn unsupported(reason: impl Into<String>) -> Mapped {
        Mapped::Unsupported {
            reason: reason.into(),
        }
    }
    /// Invalid, with a reason.
    pub fn invalid(reason: impl Into<String>) -> Mapped {
        Mapped::Invalid {
            reason: reason.into(),
        }
    }
}

// ---- requests and responses ------------------------------------------------------------------

/// An HTTP request to the partner. Secret headers and query parameters are masked in `Debug`
/// and in [`PartnerRequest::redacted_url`].
#[derive(Clone)]
pub struct PartnerRequest {
    /// Method (POST almost always).
    pub method: http::Method,
    /// Full URL, query included.
    pub url: String,
    /// Headers; those named in `secret_headers` (and `authorization`) are masked when shown.
    pub headers: Vec<(http::HeaderName, String)>,
    /// Query parameter names whose values are secret (GA4 `api_secret`).
    pub secret_query: Vec<&'static str>,
    /// Extra headers whose values are secret (beyond `authorization`, `*token*`, `*api-key*` …).
    pub secret_headers: Vec<http::HeaderName>,
    /// Whether the URL path itself is secret (a webhook URL may carry a token in its path):
    /// shown, only the origin appears.
    pub secret_path: bool,
    /// Body bytes.
    pub body: Bytes,
}

impl PartnerRequest {
    /// A POST of a JSON body.
    pub fn post_json(url: impl Into<String>, body: impl Into<Bytes>) -> Self {
        PartnerRequest {
            method: http::Method::POST,
            url: url.into(),
            headers: vec![(http::header::CONTENT_TYPE, "application/json".into())],
            secret_query: Vec::new(),
            secret_headers: Vec::new(),
            secret_path: false,
            body: body.into(),
        }
    }
    /// Add a header.
    pub fn header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    /// Add `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header(http::header::AUTHORIZATION, format!("Bearer {token}"))
    }
    /// Add HTTP Basic auth.
    pub fn basic(self, user: &str, password: &str) -> Self {
        use base64::Engine;
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.header(http::header::AUTHORIZATION, format!("Basic {enc}"))
    }
    /// Mark a query parameter as secret.
    pub fn secret_param(mut self, name: &'static str) -> Self {
        self.secret_query.push(name);
        self
    }
    /// The URL with secret query values replaced by `[redacted]`.
    pub fn redacted_url(&self) -> String {
        if self.secret_path {
            return match url::Url::parse(&self.url) {
                Ok(u) => format!(
                    "{}/{}",
                    u.origin().ascii_serialization(),
                    crate::secret::REDACTED
                ),
                Err(_) => crate::secret::REDACTED.to_string(),
            };
        }
        redact_query(&self.url, &self.secret_query)
    }
    /// Add a header whose value is secret (masked wherever the request is shown).
    pub fn secret_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.secret_headers.push(name.clone());
        self.header(name, value)
    }
    /// Mark the URL path as secret (see [`PartnerRequest::secret_path`]).
    ///
    /// ```
    /// use destination_kit::PartnerRequest;
    /// let r = PartnerRequest::post_json("https://hooks.example.com/T0K3N/in?x=1", "[]")
    ///     .with_secret_path()
    ///     .secret_header(http::HeaderName::from_static("x-custom"), "hunter2");
    /// let shown = format!("{r:?}");
    /// assert!(shown.contains("https://hooks.example.com/[redacted]"), "{shown}");
    /// assert!(!shown.contains("T0K3N") && !shown.contains("hunter2"), "{shown}");
    /// ```
    pub fn with_secret_path(mut self) -> Self {
        self.secret_path = true;
        self
    }
    /// Headers with secret values replaced by `[redacted]`.
    pub fn redacted_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| {
                let secret = is_secret_header(k.as_str()) || self.secret_headers.contains(k);
                (
                    k.as_str().to_string(),
                    if secret {
                        crate::secret::REDACTED.to_string()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect()
    }
}

/// Header names whose values are always masked when shown.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n.contains("api-key")
        || n.contains("apikey")
        || n.contains("token")
        || n.contains("secret")
        || n == "cookie"
}

/// Replace the values of `names` in the query of `url` by `[redacted]`.
pub fn redact_query(url: &str, names: &[&str]) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if names.contains(&k) => format!("{k}={}", crate::secret::REDACTED),
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

impl fmt::Debug for PartnerRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerRequest")
            .field("method", &self.method)
            .field("url", &self.redacted_url())
            .field("headers", &self.redacted_headers())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// A partner's HTTP answer.
#[derive(Debug, Clone)]
pub struct PartnerResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl PartnerResponse {
    /// The body as JSON, when it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The body as text, cut to 500 bytes (for reasons in reports).
    pub fn body_snippet(&self) -> String {
        let s = String::from_utf8_lossy(&self.body);
        let mut out: String = s.chars().take(500).collect();
        if s.len() > out.len() {
            out.push('…');
        }
        out
    }
}

/// A transport failure: no HTTP answer at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Connection refused or reset, DNS failure, broken body.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The per-attempt timeout passed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A destination hook failed in a way that should be retried (session start …).
    #[error("{0}")]
    Other(String),
    /// The request cannot be sent as built, now or ever (an invalid partner URL, a header
    /// value HTTP cannot carry such as a token with a newline): its payloads fail at once,
    /// never retried.
    #[error("the request cannot be sent: {0}")]
    Invalid(String),
}

// ---- per-payload verdicts --------------------------------------------------------------------

/// Header a [`Destination::send`] hook sets on the answer it returns when it made more HTTP
/// requests than that one (a session start before the event, as Adobe's does): how many more.
/// The runtime adds them to the report's `requests`, so the count matches what the partner
/// received. The header never reaches a partner.
pub const EXTRA_REQUESTS_HEADER: &str = "x-destkit-extra-requests";

/// What one partner answer means for one payload of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted.
    Delivered,
    /// Not accepted; try again. The runtime waits `after` when given (Retry-After), else backs
    /// off. `kind` is retryable (transient, throttling, server) or `PayloadTooLarge` (split).
    Retry {
        /// Why.
        kind: ErrorKind,
        /// The partner's requested delay.
        after: Option<Duration>,
        /// Status and reason, for reports.
        reason: String,
    },
    /// Not at fault but not processed (the rest of an Amplitude 400 batch): resend at once, in a
    /// new batch without the failed payloads. Counts as an attempt.
    Resend,
    /// Not sent, by the destination's own decision at send time, on state its `map` could not
    /// see (a video event for a session that already closed): the event ends `filtered` with
    /// the reason, as if `map` had said [`Mapped::Unsupported`]. Use it only when nothing was
    /// sent for the payload. When an event has several payloads, one delivered makes it
    /// delivered.
    Filtered {
        /// Why it was not sent.
        reason: String,
    },
    /// Refused permanently.
    Failed {
        /// Auth or client (or payload-too-large for a single payload).
        kind: ErrorKind,
        /// The partner's reason.
        reason: String,
    },
}

impl Verdict {
    /// The shared classifier's verdict for a whole answer.
    pub fn from_response(resp: &PartnerResponse, now: SystemTime) -> Verdict {
        match classify_status(resp.status, &resp.headers, now) {
            Classification::Success => Verdict::Delivered,
            Classification::Error { kind, retry_after } => {
                let reason = if resp.body.is_empty() {
                    format!("HTTP {}", resp.status)
                } else {
                    format!("HTTP {}: {}", resp.status, resp.body_snippet())
                };
                if kind.is_retryable() || kind == ErrorKind::PayloadTooLarge {
                    Verdict::Retry {
                        kind,
                        after: retry_after,
                        reason,
                    }
                } else {
                    Verdict::Failed { kind, reason }
                }
            }
        }
    }
}

/// Exactly one [`Verdict`] per payload of a batch. The length is fixed at construction from the
/// batch, so a destination cannot lose or invent an entry.
///
/// ```
/// use destination_kit::{Verdicts, Verdict, ErrorKind};
/// let v = Verdicts::all(3, Verdict::Delivered)
///     .set(1, Verdict::Failed { kind: ErrorKind::Client, reason: "bad price".into() });
/// assert_eq!(v.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdicts(Vec<Verdict>);

impl Verdicts {
    /// The same verdict for all `n` payloads.
    pub fn all(n: usize, v: Verdict) -> Verdicts {
        Verdicts(vec![v; n])
    }
    /// The shared classifier's verdict for every payload of a batch of `n`.
    pub fn default_for(resp: &PartnerResponse, n: usize, now: SystemTime) -> Verdicts {
        Verdicts::all(n, Verdict::from_response(resp, now))
    }
    /// Replace the verdict of payload `i` (an index out of range is ignored: it names no payload).
    pub fn set(mut self, i: usize, v: Verdict) -> Verdicts {
        if let Some(slot) = self.0.get_mut(i) {
            *slot = v;
        }
        self
    }
    /// Replace the verdicts of several payloads.
    pub fn set_many(mut self, idx: impl IntoIterator<Item = usize>, v: Verdict) -> Verdicts {
        for i in idx {
            if let Some(slot) = self.0.get_mut(i) {
                *slot = v.clone();
            }
        }
        self
    }
    /// Number of verdicts (= payloads in the batch).
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether the batch was empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The verdicts in batch order.
    pub fn iter(&self) -> std::slice::Iter<'_, Verdict> {
        self.0.iter()
    }
    /// Verdict `i`.
    pub fn get(&self, i: usize) -> Option<&Verdict> {
        self.0.get(i)
    }
    /// Into the vector.
    pub fn into_vec(self) -> Vec<Verdict> {
        self.0
    }
}

// ---- the HTTP client the runtime lends to hooks ------------------------------------------------

/// The shared HTTP client (keep-alive, rustls) with the per-attempt timeout.
///
/// Redirects are not followed: a 3xx answer is the partner's answer, classified like any other
/// (a permanent client failure). Following one would resend the events somewhere the
/// destination was not configured for, and for 301/302/303 turn the POST into a GET without its
/// body — an event counted delivered that the partner never received.
///
/// Requests go straight to the partner through hyper's pooled client. When the environment
/// names a proxy (`HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY`, upper or lower case, with
/// `NO_PROXY`), they go through it, by reqwest, which reads those variables the way curl does.
#[derive(Clone)]
pub struct HttpClient {
    transport: Transport,
    timeout: Duration,
    urls: std::sync::Arc<std::sync::Mutex<UrlCache>>,
}

/// How requests leave.
#[derive(Clone)]
enum Transport {
    /// Straight to the partner (boxed: the client is large and the proxied variant small).
    Direct(Box<Client<HttpsConnector<HttpConnector>, Full<Bytes>>>),
    /// Through a proxy.
    Proxied(reqwest::Client),
}

/// The environment variables that name a proxy.
const PROXY_VARS: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

// Hand-written: the cached URLs may carry a secret query parameter or path segment.
impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .field("proxied", &self.is_proxied())
            .finish_non_exhaustive()
    }
}

/// The last few partner URLs, parsed. A destination sends to a handful of URLs, and parsing one
/// (host checks, IDNA, percent-encoding) costs more than the rest of building a request. A URL
/// is parsed as a browser would (`url`, which percent-encodes what needs it), then taken as the
/// request target.
#[derive(Default)]
struct UrlCache {
    entries: Vec<(String, Target)>,
    next: usize,
}

/// A parsed partner URL and its `Host` header.
#[derive(Clone)]
struct Target {
    uri: http::Uri,
    /// `host[:port]`, the port only when it is not the scheme's own. Set on the request here:
    /// hyper's client otherwise formats it anew for every request, and the header map grew
    /// twice while hyper added it and `content-length` (callgrind, GA4 into the in-process
    /// partner: a request's sending ~22,700 instructions before, ~16,800 after).
    host: http::HeaderValue,
}

impl Target {
    fn new(uri: http::Uri) -> Result<Target, String> {
        let host = uri.host().ok_or("invalid partner URL: no host")?;
        let default_port = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        let host = match uri.port_u16() {
            Some(p) if p != default_port => http::HeaderValue::try_from(format!("{host}:{p}")),
            _ => http::HeaderValue::try_from(host),
        }
        .map_err(|_| "invalid partner URL: its host is not a header value".to_string())?;
        Ok(Target { uri, host })
    }
}

impl UrlCache {
    const SIZE: usize = 16;

    fn get_or_parse(&mut self, url: &str) -> Result<Target, String> {
        if let Some((_, t)) = self.entries.iter().find(|(s, _)| s == url) {
            return Ok(t.clone());
        }
        // never show the URL itself: it may carry a secret query parameter or path
        let parsed = url::Url::parse(url).map_err(|e| format!("invalid partner URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "invalid partner URL: scheme {:?} is not http or https",
                parsed.scheme()
            ));
        }
        let uri = http::Uri::try_from(parsed.as_str())
            .map_err(|e| format!("invalid partner URL: {e}"))?;
        let target = Target::new(uri)?;
        if self.entries.len() < Self::SIZE {
            self.entries.push((url.to_owned(), target.clone()));
        } else {
            self.entries[self.next] = (url.to_owned(), target.clone());
            self.next = (self.next + 1) % Self::SIZE;
        }
        Ok(target)
    }
}

impl HttpClient {
    /// A client whose every attempt (connecting, sending, reading the whole answer) times out
    /// after `timeout`; through the proxy the environment names, if it names one.
    pub fn new(timeout: Duration) -> Self {
        let proxied = PROXY_VARS
            .iter()
            .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
        if proxied {
            Self::proxied(timeout, reqwest::Client::builder())
        } else {
            Self::direct(timeout)
        }
    }

    /// A client that sends every request through the proxy at `proxy_url` (`http://host:port`,
    /// with `user:password@` if it wants them), whatever the environment says.
    ///
    /// ```
    /// use destination_kit::HttpClient;
    /// use std::time::Duration;
    /// assert!(HttpClient::through_proxy(Duration::from_secs(30), "http://127.0.0.1:3128").is_ok());
    /// assert!(HttpClient::through_proxy(Duration::from_secs(30), "not a url").is_err());
    /// ```
    pub fn through_proxy(timeout: Duration, proxy_url: &str) -> Result<Self, String> {
        // never show the URL: it may carry the proxy's password
        let proxy = reqwest::Proxy::all(proxy_url).map_err(|_| "invalid proxy URL".to_string())?;
        Ok(Self::proxied(
            timeout,
            reqwest::Client::builder().no_proxy().proxy(proxy),
        ))
    }

    /// Whether requests go through a proxy.
    pub fn is_proxied(&self) -> bool {
        matches!(self.transport, Transport::Proxied(_))
    }

    fn direct(timeout: Duration) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("ring supports rustls's default protocol versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .build(https);
        HttpClient {
            transport: Transport::Direct(Box::new(client)),
            timeout,
            urls: Default::default(),
        }
    }

    fn proxied(timeout: Duration, builder: reqwest::ClientBuilder) -> Self {
        let client = builder
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds");
        HttpClient {
            transport: Transport::Proxied(client),
            timeout,
            urls: Default::default(),
        }
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    /// Send one request; a transport failure or timeout is a [`TransportError`].
    pub async fn send(&self, req: &PartnerRequest) -> Result<PartnerResponse, TransportError> {
        let target = self
            .urls
            .lock()
            .map_err(|_| TransportError::Other("the URL cache was poisoned".into()))?
            .get_or_parse(&req.url)
            .map_err(TransportError::Invalid)?;
        let mut request = http::Request::new(req.body.clone());
        *request.method_mut() = req.method.clone();
        *request.uri_mut() = target.uri;
        let headers = request.headers_mut();
        // room for the destination's headers, `accept`, `host` and the `content-length` hyper
        // adds: the map does not grow while the request is built
        headers.reserve(req.headers.len() + 3);
        headers.insert(http::header::ACCEPT, http::HeaderValue::from_static("*/*"));
        headers.insert(http::header::HOST, target.host);
        for (k, v) in &req.headers {
            let v = http::HeaderValue::try_from(v.as_str()).map_err(|_| {
                // the value may be a secret: name the header only
                TransportError::Invalid(format!("header {k} has a value HTTP cannot carry"))
            })?;
            // a destination's own `accept` or `host` replaces the default
            if *k == http::header::ACCEPT || *k == http::header::HOST {
                headers.insert(k.clone(), v);
            } else {
                headers.append(k.clone(), v);
            }
        }
        let exchange = async {
            match &self.transport {
                Transport::Direct(client) => {
                    let failed =
                        |e: &dyn std::error::Error| TransportError::Connect(error_chain(e));
                    let resp = client
                        .request(request.map(Full::new))
                        .await
                        .map_err(|e| failed(&e))?;
                    let (parts, body) = resp.into_parts();
                    let body = body.collect().await.map_err(|e| failed(&e))?.to_bytes();
                    Ok(PartnerResponse {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body,
                    })
                }
                Transport::Proxied(client) => {
                    // never show the URL: it may carry a secret query parameter
                    let failed =
                        |e: reqwest::Error| TransportError::Connect(error_chain(&e.without_url()));
                    let request = reqwest::Request::try_from(request.map(reqwest::Body::from))
                        .map_err(failed)?;
                    let resp = client.execute(request).await.map_err(failed)?;
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.map_err(failed)?;
                    Ok(PartnerResponse {
                        status,
                        headers,
                        body,
                    })
                }
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout(self.timeout)),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

// ---- what a destination tells the conformance suite -------------------------------------------

/// How a destination's partner de-duplicates: where the event's `messageId` ends up.
#[derive(Debug, Clone, Copy, Default)]
pub enum DedupKey {
    /// The messageId itself reaches the partner's dedup key (`insert_id`, `event_id`, …).
    #[default]
    MessageId,
    /// The partner's key is derived from the messageId (a hash, a prefix …).
    Derived(fn(&str) -> String),
    /// The partner has no dedup key; the reason says so (`"Intercom events have none"`).
    None(&'static str),
}

/// How a partner answers a batch of `n` payloads in which those at the given indices are
/// refused: the status and body (see [`ConformanceHints::partial_failure`]).
pub type PartialFailureAnswer = fn(usize, &[usize]) -> (u16, String);

/// What a destination tells the conformance suite (`spec-tests`) about itself. Every field is
/// optional: the defaults suit a destination that sends the messageId as the partner's dedup
/// key and uses the shared classifier for every status.
///
/// ```
/// use destination_kit::destination::{ConformanceHints, DedupKey};
/// let hints = ConformanceHints::default()
///     .native_events(&["Order Completed", "Product Viewed"])
///     .dedup_key(DedupKey::None("the partner has no dedup key"))
///     .status_override(400, "the partner answers 400 for throttling");
/// assert_eq!(hints.status_overrides.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConformanceHints {
    /// Spec events (exact names) mapped to the partner's own event types; other spec events it
    /// sends count as "custom" in the coverage matrix. `None`: every sent event counts as mapped.
    pub native_events: Option<&'static [&'static str]>,
    /// Where the messageId goes.
    pub dedup_key: DedupKey,
    /// Statuses [`Destination::interpret`] deliberately reads differently from the shared
    /// classifier, each with why; the classification matrix reports them instead of failing.
    pub status_overrides: Vec<(u16, &'static str)>,
    /// How the partner answers a batch in which some payloads are refused: given the batch size
    /// and the refused indices, the status and body it sends. Lets the suite check per-event
    /// outcomes of a partial failure (destinations with batches of more than one).
    pub partial_failure: Option<PartialFailureAnswer>,
    /// Spec events (exact names) it sends as a profile or attribute update rather than as an
    /// event: no event time and no dedup key are expected in their requests.
    pub profile_updates: &'static [&'static str],
    /// The partner has no item list for `products`; the reason says so. `None`: every product
    /// id must reach the partner.
    pub no_items: Option<&'static str>,
    /// The partner answers a batch as a whole only (it never refuses some of its events and
    /// takes the others); the reason says so. A batching destination declares this or
    /// [`ConformanceHints::partial_failure`], else the suite's `partial_batch` check fails.
    pub whole_batch_only: Option<&'static str>,
    /// The send hook may end an event `filtered` on session state (a [`Verdict::Filtered`]);
    /// the reason says when. The suite's one-stream wire check then reports such events
    /// instead of failing them. `None`: a mapped event must be delivered.
    pub filters_on_state: Option<&'static str>,
}

impl ConformanceHints {
    /// Set the spec events mapped natively.
    pub fn native_events(mut self, names: &'static [&'static str]) -> Self {
        self.native_events = Some(names);
        self
    }
    /// Set where the messageId goes.
    pub fn dedup_key(mut self, key: DedupKey) -> Self {
        self.dedup_key = key;
        self
    }
    /// Declare that `status` is deliberately read differently from the shared classifier.
    pub fn status_override(mut self, status: u16, why: &'static str) -> Self {
        self.status_overrides.push((status, why));
        self
    }
    /// Declare the spec events sent as profile updates (no event time, no dedup key).
    pub fn profile_updates(mut self, names: &'static [&'static str]) -> Self {
        self.profile_updates = names;
        self
    }
    /// Declare that the partner answers a batch as a whole only, and why.
    pub fn whole_batch_only(mut self, why: &'static str) -> Self {
        self.whole_batch_only = Some(why);
        self
    }
    /// Declare that the send hook may filter an event on session state, and when.
    pub fn filters_on_state(mut self, when: &'static str) -> Self {
        self.filters_on_state = Some(when);
        self
    }
    /// Declare that the partner has no item list for `products`.
    pub fn no_items(mut self, why: &'static str) -> Self {
        self.no_items = Some(why);
        self
    }
    /// Declare how the partner answers a partially refused batch.
    pub fn partial_failure(mut self, f: PartialFailureAnswer) -> Self {
        self.partial_failure = Some(f);
        self
    }
}

// ---- the trait -------------------------------------------------------------------------------

/// What a partner implements. See the crate docs and `spec-tests/README.md` for a walk-through.
#[async_trait]
pub trait Destination: Send + Sync + 'static {
    /// The settings (serde, validated, secrets as [`crate::Secret`]).
    type Settings: Settings;

    /// Name, slug, calls, families, batch limits.
    fn info(&self) -> DestinationInfo;

    /// Map one event to payloads, or say it is unsupported or invalid. Pure: no I/O.
    fn map(&self, settings: &Self::Settings, event: &Event<'_>) -> Mapped;

    /// Assemble one request from payloads of one route (at most [`BatchLimits`] of them).
    fn request(&self, settings: &Self::Settings, route: &str, batch: &[Payload]) -> PartnerRequest;

    /// Read the partner's answer into one verdict per payload. The default is the shared
    /// classifier ([`Verdicts::default_for`]); override only for partner quirks.
    fn interpret(
        &self,
        _settings: &Self::Settings,
        response: &PartnerResponse,
        batch: &[Payload],
        now: SystemTime,
    ) -> Verdicts {
        Verdicts::default_for(response, batch.len(), now)
    }

    /// Send one request. The default sends it as built; override for stateful APIs (start a
    /// session first), token refresh (refresh once on 401 and resend), or look-ups.
    async fn send(
        &self,
        _settings: &Self::Settings,
        http: &HttpClient,
        request: PartnerRequest,
        _batch: &[Payload],
    ) -> Result<PartnerResponse, TransportError> {
        http.send(&request).await
    }

    /// What the conformance suite should know about this destination (native events, dedup
    /// key, deliberate status overrides, partial-failure answers). Default: nothing special.
    fn conformance_hints(&self) -> ConformanceHints {
        ConformanceHints::default()
    }
}

/// A destination with its settings, as the runtime uses it (object-safe).
#[async_trait]
pub trait DynDestination: Send + Sync + 'static {
    /// See [`Destination::info`].
    fn info(&self) -> DestinationInfo;
    /// See [`Destination::map`].
    fn map(&self, event: &Event<'_>) -> Mapped;
    /// See [`Destination::request`].
    fn request(&self, route: &str, batch: &[Payload]) -> PartnerRequest;
    /// See [`Destination::interpret`].
    fn interpret(&self, response: &PartnerResponse, batch: &[Payload], now: SystemTime)
    -> Verdicts;
    /// See [`Destination::send`].
    async fn send(
        &self,
        http: &HttpClient,
        request: PartnerRequest,
        batch: &[Payload],
    ) -> Result<PartnerResponse, TransportError>;
    /// The settings, for showing (secrets redacted).
    fn settings_debug(&self) -> String;
    /// See [`Destination::conformance_hints`].
    fn conformance_hints(&self) -> ConformanceHints {
        ConformanceHints::default()
    }
}

/// A destination and its validated settings.
pub struct Configured<D: Destination> {
    /// The destination.
    pub destination: D,
    /// Its settings.
    pub settings: D::Settings,
}

impl<D: Destination> Configured<D> {
    /// Pair a destination with settings already validated.
    pub fn new(destination: D, settings: D::Settings) -> Self {
        Configured {
            destination,
            settings,
        }
    }

    /// Parse and validate settings from JSON, optionally pointing at another endpoint.
    pub fn from_json(
        destination: D,
        settings: Value,
        endpoint: Option<&str>,
    ) -> Result<Self, SettingsError> {
        let mut s: D::Settings = parse_settings(settings)?;
        if let Some(e) = endpoint {
            s.set_endpoint(e);
            s.validate()?;
        }
        Ok(Configured::new(destination, s))
    }

    /// As a shared trait object for the runtime.
    pub fn into_dyn(self) -> Arc<dyn DynDestination> {
        Arc::new(self)
    }
}

#[async_trait]
impl<D: Destination> DynDestination for Configured<D> {
    fn info(&self) -> DestinationInfo {
        self.destination.info()
    }
    fn map(&self, event: &Event<'_>) -> Mapped {
        self.destination.map(&self.settings, event)
    }
    fn request(&self, route: &str, batch: &[Payload]) -> PartnerRequest {
        self.destination.request(&self.settings, route, batch)
    }
    fn interpret(
        &self,
        response: &PartnerResponse,
        batch: &[Payload],
        now: SystemTime,
    ) -> Verdicts {
        self.destination
            .interpret(&self.settings, response, batch, now)
    }
    async fn send(
        &self,
        http: &HttpClient,
        request: PartnerRequest,
        batch: &[Payload],
    ) -> Result<PartnerResponse, TransportError> {
        self.destination
            .send(&self.settings, http, request, batch)
            .await
    }
    fn settings_debug(&self) -> String {
        format!("{:?}", self.settings)
    }
    fn conformance_hints(&self) -> ConformanceHints {
        self.destination.conformance_hints()
    }
}

/// A request body being written, whose memory later requests reuse once this one is sent.
///
/// A batch body is up to megabytes. Allocated fresh for every request, its pages were faulted
/// in (and zeroed by the kernel) each time: at the start of the eighth session 45 % of an
/// Amplitude pipeline's page faults came from writing request bodies. A `BodyBuffer` takes its
/// memory from a small process-wide pool and, when the last [`Bytes`] made from it is dropped
/// (the request answered, retries included), gives it back. Bodies under 64 KiB are not worth
/// pooling and are plain allocations. A pooled buffer is made with an eighth more room than its
/// first body asked, so the next bodies of about the same size fit in it; the pool keeps as
/// many buffers as requests are usually in flight (eight), at most 64 MiB.
///
/// ```
/// use destination_kit::destination::BodyBuffer;
/// let mut body = BodyBuffer::with_capacity(16);
/// body.extend_from_slice(br#"{"events":[]}"#);
/// let bytes = body.into_bytes();
/// assert_eq!(&bytes[..], br#"{"events":[]}"#);
/// ```
#[derive(Default)]
pub struct BodyBuffer(Vec<u8>);

/// Only the length: a body may hold a key (Amplitude's `api_key` travels in it).
impl fmt::Debug for BodyBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BodyBuffer({} bytes)", self.0.len())
    }
}

/// Buffers given back by sent bodies, sorted by capacity.
static BODY_POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
/// Smallest body worth pooling.
const POOLED_BODY_MIN: usize = 64 << 10;
/// Largest body kept for reuse (a bigger one is freed).
const POOLED_BODY_MAX: usize = 32 << 20;
/// Buffers kept at most: the runtime's default number of requests in flight.
const BODY_POOL_LEN: usize = 8;
/// Bytes kept at most, all pooled buffers together.
const BODY_POOL_BYTES: usize = 64 << 20;

impl BodyBuffer {
    /// An empty body with room for `capacity` bytes, reusing a pooled buffer when the body is
    /// large enough to be worth it.
    pub fn with_capacity(capacity: usize) -> BodyBuffer {
        if capacity < POOLED_BODY_MIN {
            return BodyBuffer(Vec::with_capacity(capacity));
        }
        if let Ok(mut pool) = BODY_POOL.lock() {
            // the smallest that fits; when none does, the pool is left as it is (growing a
            // pooled buffer would copy all its old bytes for nothing)
            let at = pool.partition_point(|b| b.capacity() < capacity);
            if at < pool.len() {
                let mut buf = pool.remove(at);
                buf.clear();
                return BodyBuffer(buf);
            }
        }
        // room for the next bodies of about this size, in whole 64 KiB
        let room = (capacity + capacity / 8).next_multiple_of(POOLED_BODY_MIN);
        BodyBuffer(Vec::with_capacity(room.min(POOLED_BODY_MAX).max(capacity)))
    }
    /// The body as the bytes a [`PartnerRequest`] sends; the memory returns to the pool when
    /// the last clone of them is dropped.
    pub fn into_bytes(self) -> Bytes {
        if self.0.capacity() >= POOLED_BODY_MIN {
            Bytes::from_owner(Returned(self.0))
        } else {
            Bytes::from(self.0)
        }
    }
}

impl std::ops::Deref for BodyBuffer {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for BodyBuffer {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl From<BodyBuffer> for Bytes {
    fn from(b: BodyBuffer) -> Bytes {
        b.into_bytes()
    }
}

/// A sent body's buffer, back to the pool when dropped.
struct Returned(Vec<u8>);

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if buf.capacity() > POOLED_BODY_MAX {
            return;
        }
        let Ok(mut pool) = BODY_POOL.lock() else {
            return;
        };
        let at = pool.partition_point(|b| b.capacity() <= buf.capacity());
        pool.insert(at, buf);
        // over the limits, the smallest buffers go first: big bodies are the ones worth keeping
        let mut bytes: usize = pool.iter().map(Vec::capacity).sum();
        while pool.len() > BODY_POOL_LEN || bytes > BODY_POOL_BYTES {
            bytes -= pool.remove(0).capacity();
        }
    }
}

/// Join payload bodies into a JSON array (`[a,b,c]`), the common batch shape.
pub fn json_array(batch: &[Payload]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json_array_len(batch));
    json_array_into(&mut out, batch);
    out
}

/// [`json_array`] as request body bytes, written into a [`BodyBuffer`] (big batch bodies reuse
/// pooled memory).
///
/// ```
/// use destination_kit::Payload;
/// use destination_kit::destination::json_array_bytes;
/// let batch = [Payload::json("r", &1), Payload::json("r", &2)];
/// assert_eq!(&json_array_bytes(&batch)[..], b"[1,2]");
/// ```
pub fn json_array_bytes(batch: &[Payload]) -> Bytes {
    let mut body = BodyBuffer::with_capacity(json_array_len(batch));
    json_array_into(&mut body, batch);
    body.into_bytes()
}

/// Bytes [`json_array`] writes for `batch`: to size a body that wraps the array once, instead of
/// building the array and copying it into the body (a batch body is up to megabytes).
pub fn json_array_len(batch: &[Payload]) -> usize {
    batch.iter().map(|p| p.len() + 1).sum::<usize>() + 1 + usize::from(batch.is_empty())
}

/// Append the JSON array of `batch`'s bodies to `out`, as [`json_array`] returns it.
///
/// ```
/// use destination_kit::Payload;
/// use destination_kit::destination::{json_array_into, json_array_len};
/// let batch = [Payload::json("r", &1), Payload::json("r", &"two")];
/// let mut body = Vec::with_capacity(json_array_len(&batch) + 12);
/// body.extend_from_slice(b"{\"events\":");
/// json_array_into(&mut body, &batch);
/// body.push(b'}');
/// assert_eq!(body, br#"{"events":[1,"two"]}"#);
/// assert_eq!(json_array_len(&batch), br#"[1,"two"]"#.len());
/// assert_eq!(json_array_len(&[]), 2);
/// ```
pub fn json_array_into(out: &mut Vec<u8>, batch: &[Payload]) {
    out.reserve(json_array_len(batch));
    out.push(b'[');
    for (i, p) in batch.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(p.body.get().as_bytes());
    }
    out.push(b']');
}

#[cfg(test)]
mod body_buffer_tests {
    use super::*;

    fn pooled() -> Vec<usize> {
        BODY_POOL
            .lock()
            .unwrap()
            .iter()
            .map(Vec::capacity)
            .collect()
    }

    // one test: the pool is process-wide, and no other test in this crate uses it
    #[test]
    fn a_sent_body_returns_its_memory_for_the_next() {
        BODY_POOL.lock().unwrap().clear();
        let mut body = BodyBuffer::with_capacity(100_000);
        body.extend_from_slice(b"{\"api_key\":\"secret-key\"}");
        assert_eq!(
            format!("{body:?}"),
            "BodyBuffer(24 bytes)",
            "no content in Debug"
        );
        let at = body.as_ptr();
        let bytes = body.into_bytes();
        let retry = bytes.clone();
        assert_eq!(&retry[..], b"{\"api_key\":\"secret-key\"}");
        drop(bytes);
        assert!(pooled().is_empty(), "still in use by a clone");
        drop(retry);
        assert_eq!(pooled().len(), 1);
        let next = BodyBuffer::with_capacity(70_000);
        assert_eq!(next.as_ptr(), at, "the same memory");
        assert!(next.is_empty() && next.capacity() >= 100_000);
        assert!(pooled().is_empty());
        // a fresh pooled buffer has room for a somewhat bigger next body
        assert!(
            next.capacity() >= 100_000 + 100_000 / 8,
            "{}",
            next.capacity()
        );
        drop(next.into_bytes());
        let bigger = BodyBuffer::with_capacity(112_000);
        assert_eq!(bigger.as_ptr(), at, "an eighth more still fits");
        // a pooled buffer too small for a body is left in the pool, not dropped
        drop(bigger.into_bytes());
        let much_bigger = BodyBuffer::with_capacity(300_000);
        assert!(much_bigger.capacity() >= 300_000);
        assert_eq!(pooled().len(), 1, "the small one is still there");
        drop(much_bigger); // never turned into bytes: freed, not pooled
        assert_eq!(pooled().len(), 1);
        // the smallest buffer that fits is taken, not the largest
        drop(BodyBuffer::with_capacity(500_000).into_bytes());
        assert_eq!(pooled().len(), 2);
        let fits = BodyBuffer::with_capacity(80_000);
        assert_eq!(fits.as_ptr(), at);
        drop(fits);
        assert_eq!(pooled().len(), 1);

        // small bodies are plain allocations; the pool keeps at most eight, dropping the
        // smallest first
        BODY_POOL.lock().unwrap().clear();
        drop(BodyBuffer::with_capacity(1_000).into_bytes());
        assert!(pooled().is_empty());
        let bodies: Vec<Bytes> = (1..=10)
            .map(|i| BodyBuffer::with_capacity(i * 100_000).into_bytes())
            .collect();
        drop(bodies);
        let caps = pooled();
        assert_eq!(caps.len(), 8);
        assert!(caps.windows(2).all(|w| w[0] <= w[1]), "{caps:?}");
        assert!(caps[0] >= 300_000, "the two smallest went: {caps:?}");
        // and at most 64 MiB in all
        BODY_POOL.lock().unwrap().clear();
        let bodies: Vec<Bytes> = (0..3)
            .map(|_| BodyBuffer::with_capacity(25 << 20).into_bytes())
            .collect();
        drop(bodies);
        assert_eq!(pooled().len(), 2, "{:?}", pooled());
        assert!(pooled().iter().sum::<usize>() <= BODY_POOL_BYTES);
        // too large to keep
        BODY_POOL.lock().unwrap().clear();
        drop(BodyBuffer::with_capacity(POOLED_BODY_MAX + 1).into_bytes());
        assert!(pooled().is_empty());
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct S {
        #[allow(dead_code)]
        api_key: crate::Secret<String>,
        #[serde(default)]
        #[allow(dead_code)]
        batch_size: usize,
        #[serde(default)]
        #[allow(dead_code)]
        nested: Option<Nested>,
    }
    #[derive(Debug, Clone, Deserialize)]
    struct Nested {
        #[allow(dead_code)]
        region: String,
    }
    impl Settings for S {
        fn set_endpoint(&mut self, _: &str) {}
    }

    fn key(v: Value) -> String {
        parse_settings::<S>(v).unwrap_err().key
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(key(serde_json::json!({})), "api_key");
        assert_eq!(key(serde_json::json!({"api_key": "k", "nope": 1})), "nope");
        assert_eq!(
            key(serde_json::json!({"api_key": "k", "batch_size": "abc"})),
            "batch_size"
        );
        assert_eq!(
            key(serde_json::json!({"api_key": "k", "nested": {"region": 3}})),
            "nested.region"
        );
        assert_eq!(
            key(serde_json::json!({"api_key": "k", "nested": {}})),
            "nested.region"
        );
        assert!(parse_settings::<S>(serde_json::json!({"api_key": "k"})).is_ok());
    }
}

#[cfg(test)]
mod http_client_tests {
    use super::*;

    #[test]
    fn the_url_cache_answers_every_url_right_past_its_size() {
        let mut cache = UrlCache::default();
        let urls: Vec<String> = (0..UrlCache::SIZE * 2 + 3)
            .map(|i| format!("https://p{i}.example.com/v1/track?k=secret{i}"))
            .collect();
        for round in 0..3 {
            for (i, u) in urls.iter().enumerate() {
                let got = cache.get_or_parse(u).expect("parses");
                assert_eq!(got.uri.to_string(), *u, "round {round}");
                assert_eq!(got.host, format!("p{i}.example.com"), "round {round}");
            }
        }
        assert_eq!(cache.entries.len(), UrlCache::SIZE);
        // `err()`: a `Target` has no `Debug` (its URI may carry a secret)
        let err = cache.get_or_parse("not a url").err().expect("not a URL");
        assert!(err.starts_with("invalid partner URL"), "{err}");
        let err = cache
            .get_or_parse("ftp://p.example.com/x?k=s3cr3t")
            .err()
            .expect("not http");
        assert!(
            err.contains("not http or https") && !err.contains("s3cr3t"),
            "{err}"
        );
    }

    #[test]
    fn a_url_is_percent_encoded_as_a_browser_would() {
        let mut cache = UrlCache::default();
        let got = cache
            .get_or_parse("http://127.0.0.1:9/a path/é?q=a b")
            .expect("parses");
        assert_eq!(
            got.uri.to_string(),
            "http://127.0.0.1:9/a%20path/%C3%A9?q=a%20b"
        );
    }

    /// An `https` URL goes through TLS: a plain-text server on the other end is a transport
    /// failure (retried), not a panic and not a plain-text request.
    #[tokio::test]
    async fn https_speaks_tls_and_a_plain_server_is_a_transport_failure() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut first = [0u8; 3];
            conn.read_exact(&mut first).await.unwrap();
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
            first
        });
        let http = HttpClient::new(Duration::from_secs(5));
        let req = PartnerRequest::post_json(format!("https://127.0.0.1:{port}/t?k=s3cr3t"), "{}");
        let err = http.send(&req).await.expect_err("not TLS on the other end");
        assert!(matches!(err, TransportError::Connect(_)), "{err:?}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        // a TLS record header (handshake, version 3.x), not "POS"
        let first = server.await.unwrap();
        assert_eq!(&first[..2], &[0x16, 0x03], "{first:?}");
    }

    /// A server on 127.0.0.1 (a partner or a proxy) that reads the one request it gets until
    /// what it has read ends with `until`, answers `answer`, and hands back what it read.
    async fn one_shot_server(
        until: &'static [u8],
        answer: &'static [u8],
    ) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(until) {
                let n = conn.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            conn.write_all(answer).await.unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (url, task)
    }

    #[tokio::test]
    async fn through_a_proxy_a_plain_request_goes_to_the_proxy_in_absolute_form() {
        let (proxy, seen) = one_shot_server(
            b"{}",
            b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok",
        )
        .await;
        let http = HttpClient::through_proxy(Duration::from_secs(5), &proxy).unwrap();
        assert!(http.is_proxied());
        let req = PartnerRequest::post_json("http://partner.example:81/2/httpapi?k=1", "{}");
        let resp = http.send(&req).await.expect("the proxy answered");
        assert_eq!((resp.status, &resp.body[..]), (202, &b"ok"[..]));
        let head = seen.await.unwrap();
        assert!(
            head.starts_with("POST http://partner.example:81/2/httpapi?k=1 HTTP/1.1\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn through_a_proxy_https_is_tunnelled_and_a_refusal_is_a_transport_failure() {
        // a CONNECT is a head alone
        let (proxy, seen) = one_shot_server(
            b"\r\n\r\n",
            b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let http = HttpClient::through_proxy(Duration::from_secs(5), &proxy).unwrap();
        let req = PartnerRequest::post_json("https://partner.example/t?api_key=s3cr3t", "{}");
        let err = http
            .send(&req)
            .await
            .expect_err("the proxy refused the tunnel");
        assert!(matches!(err, TransportError::Connect(_)), "{err:?}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        let head = seen.await.unwrap();
        assert!(
            head.starts_with("CONNECT partner.example:443 HTTP/1.1\r\n"),
            "{head}"
        );
    }

    #[test]
    fn without_proxy_variables_requests_go_straight_to_the_partner() {
        let proxied = PROXY_VARS
            .iter()
            .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
        assert_eq!(
            HttpClient::new(Duration::from_secs(1)).is_proxied(),
            proxied
        );
        assert!(
            HttpClient::through_proxy(Duration::from_secs(1), "http://user:pw@[::1")
                .unwrap_err()
                .starts_with("invalid proxy URL")
        );
    }

    #[tokio::test]
    async fn a_plain_request_reaches_the_partner_with_its_method_headers_and_body() {
        let (partner, server) = one_shot_server(
            br#"{"a":1}"#,
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-length: 2\r\n\r\nno",
        )
        .await;
        let http = HttpClient::new(Duration::from_secs(5));
        let mut req = PartnerRequest::post_json(format!("{partner}/2/httpapi?x=1"), r#"{"a":1}"#);
        req.headers
            .push((http::HeaderName::from_static("x-api-key"), "k1".into()));
        let resp = http.send(&req).await.expect("answered");
        assert_eq!(resp.status, 429);
        assert_eq!(resp.headers["retry-after"], "7");
        assert_eq!(&resp.body[..], b"no");
        let wire = server.await.unwrap().to_ascii_lowercase();
        assert!(
            wire.starts_with("post /2/httpapi?x=1 http/1.1\r\n"),
            "{wire}"
        );
        for line in [
            format!("host: {}\r\n", partner.trim_start_matches("http://")),
            "content-type: application/json\r\n".into(),
            "x-api-key: k1\r\n".into(),
            "content-length: 7\r\n".into(),
        ] {
            assert!(wire.contains(&line), "{line:?} missing from {wire}");
        }
        assert_eq!(wire.matches("\r\nhost: ").count(), 1, "{wire}");
    }

    #[tokio::test]
    async fn a_destinations_own_host_header_replaces_the_urls() {
        let (partner, server) =
            one_shot_server(b"{}", b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let http = HttpClient::new(Duration::from_secs(5));
        let mut req = PartnerRequest::post_json(format!("{partner}/t"), "{}");
        req.headers
            .push((http::header::HOST, "partner.example".into()));
        assert_eq!(http.send(&req).await.expect("answered").status, 200);
        let wire = server.await.unwrap().to_ascii_lowercase();
        assert_eq!(wire.matches("\r\nhost: ").count(), 1, "{wire}");
        assert!(wire.contains("\r\nhost: partner.example\r\n"), "{wire}");
    }

    #[test]
    fn the_host_header_names_the_port_only_when_it_is_not_the_schemes_own() {
        for (url, host) in [
            ("http://p.example.com/t", "p.example.com"),
            ("http://p.example.com:80/t", "p.example.com"),
            ("http://p.example.com:443/t", "p.example.com:443"),
            ("https://p.example.com:443/t", "p.example.com"),
            ("https://p.example.com:8443/t?k=1", "p.example.com:8443"),
            ("http://127.0.0.1:9/a", "127.0.0.1:9"),
            ("http://user:pw@[::1]:9/a", "[::1]:9"),
        ] {
            let t = UrlCache::default().get_or_parse(url).expect(url);
            assert_eq!(t.host, host, "{url}");
            // the URL parser drops a scheme's own port; a URI that keeps it still gets none
            let t = Target::new(url.parse().expect(url)).expect(url);
            assert_eq!(t.host, host, "{url} unnormalised");
        }
    }

    #[test]
    fn debug_never_shows_a_cached_url() {
        let http = HttpClient::new(Duration::from_secs(1));
        http.urls
            .lock()
            .unwrap()
            .get_or_parse("https://p.example.com/t?api_key=s3cr3t")
            .expect("parses");
        let shown = format!("{http:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("timeout"), "{shown}");
    }
}
