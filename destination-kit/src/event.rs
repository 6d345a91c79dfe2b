//! The Segment message model: one [`Message`] type for the six calls (track, identify, page,
//! screen, group, alias).
//!
//! A message keeps the JSON object it was parsed from, so nothing is lost in a round trip:
//! unknown fields are kept and serialised back unchanged. Typed accessors read the common fields,
//! each call's own fields, the context objects, and reserved traits and properties.
//!
//! Parsing ([`Message::from_slice`], [`parse_document`], [`parse_lines`]) never panics and fails
//! only on what makes the input not a message at all; [`Message::validate`] then checks the
//! Segment rules and reports every problem with its path.
//!
//! ```
//! use destination_kit::event::{Message, CallType};
//! let m = Message::from_slice(br#"{"type":"identify","userId":"u1","messageId":"m1",
//!   "timestamp":"2026-01-02T03:04:05.000Z","traits":{"email":"a@b.co"},"x_custom":1}"#).unwrap();
//! assert_eq!(m.call(), CallType::Identify);
//! assert_eq!(m.traits().and_then(|t| t.get("email")).and_then(|v| v.as_str()), Some("a@b.co"));
//! // lossless: the unknown field survives
//! assert_eq!(m.to_value()["x_custom"], 1);
//! ```

use crate::error::{FieldError, ParseError, describe};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// Longest `messageId` Segment allows.
pub const MAX_MESSAGE_ID_LEN: usize = 100;

/// The six Segment calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallType {
    /// `track`: a user action (`event` + `properties`).
    Track,
    /// `identify`: who the user is (`traits`).
    Identify,
    /// `page`: a web page view (`name`, `category`, `properties`).
    Page,
    /// `screen`: a mobile screen view (`name`, `properties`).
    Screen,
    /// `group`: the user joins a group (`groupId`, `traits`).
    Group,
    /// `alias`: merge two identities (`userId`, `previousId`).
    Alias,
}

impl CallType {
    /// Every call, in the spec's order.
    pub const ALL: [CallType; 6] = [
        CallType::Track,
        CallType::Identify,
        CallType::Page,
        CallType::Screen,
        CallType::Group,
        CallType::Alias,
    ];

    /// The `type` string (`"track"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Track => "track",
            CallType::Identify => "identify",
            CallType::Page => "page",
            CallType::Screen => "screen",
            CallType::Group => "group",
            CallType::Alias => "alias",
        }
    }

    /// Parse a `type` string. Segment's libraries send lower case; case is ignored.
    pub fn parse(s: &str) -> Option<CallType> {
        CallType::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for CallType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Segment message. Holds the original JSON object; accessors are typed views of it.
#[derive(Clone, PartialEq)]
pub struct Message {
    call: CallType,
    fields: Map<String, Value>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("type", &self.call)
            .field("messageId", &self.message_id())
            .field("event", &self.event())
            .finish_non_exhaustive()
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(s)
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

fn obj_field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    m.get(key).and_then(Value::as_object)
}

impl Message {
    /// Parse one message from JSON bytes.
    ///
    /// Fails with the path and the problem when the bytes are not UTF-8 or not JSON, when the
    /// JSON is not an object, or when `type` is missing or unknown. Everything else is left to
    /// [`Message::validate`].
    pub fn from_slice(bytes: &[u8]) -> Result<Message, ParseError> {
        let value = parse_json(bytes)?;
        Message::from_value(value)
    }

    /// Build a message from a JSON value (see [`Message::from_slice`]).
    pub fn from_value(value: Value) -> Result<Message, ParseError> {
        match value {
            Value::Object(fields) => Message::from_map(fields),
            other => Err(FieldError::new(
                "$",
                format!("expected a JSON object, got {}", describe(&other)),
            )
            .into()),
        }
    }

    /// Build a message from a JSON object (see [`Message::from_slice`]).
    pub fn from_map(fields: Map<String, Value>) -> Result<Message, ParseError> {
        let call = match fields.get("type") {
            None | Some(Value::Null) => {
                return Err(FieldError::new(
                    "type",
                    "missing; expected one of track, identify, page, screen, group, alias",
                )
                .into());
            }
            Some(Value::String(s)) => CallType::parse(s).ok_or_else(|| {
                FieldError::new(
                    "type",
                    format!(
                        "unknown call {}; expected one of track, identify, page, screen, group, alias",
                        describe(&Value::String(s.clone()))
                    ),
                )
            })?,
            Some(other) => {
                return Err(FieldError::new(
                    "type",
                    format!("expected a string, got {}", describe(other)),
                )
                .into());
            }
        };
        Ok(Message { call, fields })
    }

    /// A new message of `call` with no fields but `type` (for builders and tests).
    pub fn new(call: CallType) -> Message {
        let mut fields = Map::new();
        fields.insert("type".into(), Value::String(call.as_str().into()));
        Message { call, fields }
    }

    /// The call type.
    pub fn call(&self) -> CallType {
        self.call
    }

    /// The raw JSON object, every field included.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The raw JSON object, mutable (for `serve`, which sets `receivedAt` and `messageId`).
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.fields
    }

    /// Set a top-level field (for example `receivedAt`). Setting `type` is refused.
    pub fn set(&mut self, key: &str, value: Value) {
        if key != "type" {
            self.fields.insert(key.to_string(), value);
        }
    }

    /// Any top-level field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// The message as a JSON value (a copy).
    pub fn to_value(&self) -> Value {
        Value::Object(self.fields.clone())
    }

    /// The message as a JSON value (consuming it).
    pub fn into_value(self) -> Value {
        Value::Object(self.fields)
    }

    /// The message serialised as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.fields).unwrap_or_default()
    }

    // ---- common fields -------------------------------------------------------------------

    /// `messageId`, when it is a string.
    pub fn message_id(&self) -> Option<&str> {
        str_field(&self.fields, "messageId")
    }
    /// `userId`, when it is a string.
    pub fn user_id(&self) -> Option<&str> {
        str_field(&self.fields, "userId").filter(|s| !s.is_empty())
    }
    /// `anonymousId`, when it is a string.
    pub fn anonymous_id(&self) -> Option<&str> {
        str_field(&self.fields, "anonymousId").filter(|s| !s.is_empty())
    }
    /// `userId` if present, else `anonymousId`.
    pub fn user_or_anonymous_id(&self) -> Option<&str> {
        self.user_id().or_else(|| self.anonymous_id())
    }
    /// `timestamp` as sent (raw string).
    pub fn timestamp_raw(&self) -> Option<&str> {
        str_field(&self.fields, "timestamp")
    }
    /// `timestamp` parsed, if present and valid.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.time_field("timestamp")
    }
    /// `originalTimestamp` parsed.
    pub fn original_timestamp(&self) -> Option<DateTime<Utc>> {
        self.time_field("originalTimestamp")
    }
    /// `sentAt` parsed.
    pub fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.time_field("sentAt")
    }
    /// `receivedAt` parsed.
    pub fn received_at(&self) -> Option<DateTime<Utc>> {
        self.time_field("receivedAt")
    }
    /// Any top-level ISO-8601 field, parsed to UTC.
    pub fn time_field(&self, key: &str) -> Option<DateTime<Utc>> {
        str_field(&self.fields, key)
            .and_then(|s| parse_datetime(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }

    /// The event time destinations send and replays respect.
    ///
    /// - `timestamp` when present and valid;
    /// - else `originalTimestamp` corrected for device clock skew:
    ///   `receivedAt − (sentAt − originalTimestamp)` when `sentAt` and `receivedAt` are both there;
    /// - else `originalTimestamp` as sent;
    /// - else `receivedAt`, else `sentAt`;
    /// - `None` when the message has no usable time at all.
    ///
    /// ```
    /// use destination_kit::event::Message;
    /// let m = Message::from_slice(br#"{"type":"track","event":"x","userId":"u",
    ///   "originalTimestamp":"2026-01-01T00:00:00Z","sentAt":"2026-01-01T00:00:10Z",
    ///   "receivedAt":"2026-01-01T00:05:10Z"}"#).unwrap();
    /// // the device clock was 5 minutes slow
    /// assert_eq!(m.event_time().unwrap().to_rfc3339(), "2026-01-01T00:05:00+00:00");
    /// ```
    pub fn event_time(&self) -> Option<DateTime<Utc>> {
        if let Some(t) = self.timestamp() {
            return Some(t);
        }
        if let Some(orig) = self.original_timestamp() {
            if let (Some(sent), Some(recv)) = (self.sent_at(), self.received_at()) {
                return Some(recv - (sent - orig));
            }
            return Some(orig);
        }
        self.received_at().or_else(|| self.sent_at())
    }

    /// `context`, when it is an object.
    pub fn context(&self) -> Context<'_> {
        Context(obj_field(&self.fields, "context"))
    }
    /// `integrations`, when it is an object.
    pub fn integrations(&self) -> Option<&Map<String, Value>> {
        obj_field(&self.fields, "integrations")
    }

    /// Whether the `integrations` object lets this message go to the destination named `name`
    /// (its display name, e.g. `"Amplitude"`): the destination's own key wins, else `All`,
    /// else enabled. A non-boolean value (an options object) means enabled.
    pub fn enabled_for(&self, name: &str) -> bool {
        let Some(i) = self.integrations() else {
            return true;
        };
        let flag = |v: &Value| v.as_bool().unwrap_or(true);
        if let Some(v) = i.get(name) {
            return flag(v);
        }
        if let Some((_, v)) = i.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            return flag(v);
        }
        i.get("All").map(flag).unwrap_or(true)
    }

    /// `version`.
    pub fn version(&self) -> Option<&Value> {
        self.fields.get("version")
    }

    // ---- call-specific fields -----------------------------------------------------------

    /// `event` (track).
    pub fn event(&self) -> Option<&str> {
        str_field(&self.fields, "event")
    }
    /// `name` (page, screen).
    pub fn name(&self) -> Option<&str> {
        str_field(&self.fields, "name")
    }
    /// `category` (page).
    pub fn category(&self) -> Option<&str> {
        str_field(&self.fields, "category")
    }
    /// `groupId` (group). A number is accepted and read through [`Message::get`].
    pub fn group_id(&self) -> Option<&str> {
        str_field(&self.fields, "groupId")
    }
    /// `previousId` (alias).
    pub fn previous_id(&self) -> Option<&str> {
        str_field(&self.fields, "previousId")
    }
    /// `properties` (track, page, screen).
    pub fn properties(&self) -> Option<&Map<String, Value>> {
        obj_field(&self.fields, "properties")
    }
    /// One property.
    pub fn property(&self, key: &str) -> Option<&Value> {
        self.properties().and_then(|p| p.get(key))
    }
    /// `traits` (identify, group); for other calls `context.traits`.
    pub fn traits(&self) -> Option<&Map<String, Value>> {
        obj_field(&self.fields, "traits").or_else(|| self.context().traits())
    }
    /// One trait, by its camelCase or snake_case name (`firstName` or `first_name`).
    pub fn trait_value(&self, camel: &str) -> Option<&Value> {
        let t = self.traits()?;
        t.get(camel).or_else(|| t.get(&camel_to_snake(camel)))
    }

    // reserved identify/group traits ----------------------------------------------------------

    /// Reserved trait `email`.
    pub fn email(&self) -> Option<&str> {
        self.trait_value("email").and_then(Value::as_str)
    }
    /// Reserved trait `firstName` / `first_name`.
    pub fn first_name(&self) -> Option<&str> {
        self.trait_value("firstName").and_then(Value::as_str)
    }
    /// Reserved trait `lastName` / `last_name`.
    pub fn last_name(&self) -> Option<&str> {
        self.trait_value("lastName").and_then(Value::as_str)
    }
    /// Reserved trait `name`.
    pub fn trait_name(&self) -> Option<&str> {
        self.trait_value("name").and_then(Value::as_str)
    }
    /// Reserved trait `phone`.
    pub fn phone(&self) -> Option<&str> {
        self.trait_value("phone").and_then(Value::as_str)
    }
    /// Reserved trait `createdAt` / `created_at` parsed as a date.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.trait_value("createdAt")
            .and_then(Value::as_str)
            .and_then(|s| parse_datetime(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }

    // reserved track properties ---------------------------------------------------------------

    /// Reserved property `revenue`, a number or numeric string.
    pub fn revenue(&self) -> Option<f64> {
        self.property("revenue").and_then(lenient_f64)
    }
    /// Reserved property `currency` (ISO 4217).
    pub fn currency(&self) -> Option<&str> {
        self.property("currency").and_then(Value::as_str)
    }
    /// Reserved property `value`, a number or numeric string.
    pub fn value(&self) -> Option<f64> {
        self.property("value").and_then(lenient_f64)
    }

    /// Check the Segment rules and return every problem found (empty when valid).
    ///
    /// The rules: `userId` or `anonymousId`; `messageId` present, a string, at most 100
    /// characters; `timestamp`, `originalTimestamp`, `sentAt` and `receivedAt` ISO-8601 with an
    /// offset; `context`, `integrations`, `properties` and `traits` objects when present; track
    /// has a non-empty `event`; group has `groupId`; alias has `userId` and `previousId`; the
    /// typed properties of a recognised specced event have the right types.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        self.validate_into(&mut errs);
        errs
    }

    /// [`Message::validate`] appending into `errs`.
    pub fn validate_into(&self, errs: &mut Vec<FieldError>) {
        let f = &self.fields;
        // identity
        let uid = id_like(f.get("userId"));
        let aid = id_like(f.get("anonymousId"));
        for key in ["userId", "anonymousId"] {
            if let Some(v) = f.get(key)
                && !matches!(v, Value::String(_) | Value::Number(_) | Value::Null)
            {
                errs.push(FieldError::new(
                    key,
                    format!("expected a string, got {}", describe(v)),
                ));
            }
        }
        if !uid && !aid {
            errs.push(FieldError::new(
                "userId",
                "missing: a message needs userId or anonymousId",
            ));
        }
        // messageId
        match f.get("messageId") {
            None | Some(Value::Null) => errs.push(FieldError::new("messageId", "missing")),
            Some(Value::String(s)) if s.is_empty() => {
                errs.push(FieldError::new("messageId", "empty"))
            }
            Some(Value::String(s)) if s.chars().count() > MAX_MESSAGE_ID_LEN => {
                errs.push(FieldError::new(
                    "messageId",
                    format!(
                        "too long: {} characters, at most {MAX_MESSAGE_ID_LEN}",
                        s.chars().count()
                    ),
                ))
            }
            Some(Value::String(_)) => {}
            Some(other) => errs.push(FieldError::new(
                "messageId",
                format!("expected a string, got {}", describe(other)),
            )),
        }
        // times
        for key in ["timestamp", "originalTimestamp", "sentAt", "receivedAt"] {
            match f.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    if let Err(e) = parse_datetime(s) {
                        errs.push(FieldError::new(key, e));
                    }
                }
                Some(other) => errs.push(FieldError::new(
                    key,
                    format!(
                        "expected an ISO-8601 date string, got {}",
                        describe(other)
                    ),
                )),
            }
        }
        // objects
        for key in ["context", "integrations", "properties", "traits"] {
            match f.get(key) {
                None | Some(Value::Null) | Some(Value::Object(_)) => {}
                Some(other) => errs.push(FieldError::new(
                    key,
                    format!("expected an object, got {}", describe(other)),
                )),
            }
        }
        if let Some(Value::Object(ctx)) = f.get("context") {
            for key in [
                "app",
                "campaign",
                "device",
                "library",
                "location",
                "network",
                "os",
                "page",
                "referrer",
                "screen",
                "traits",
                "userAgentData",
            ] {
                match ctx.get(key) {
                    None | Some(Value::Null) | Some(Value::Object(_)) => {}
                    Some(other) => errs.push(FieldError::new(
                        format!("context.{key}"),
                        format!("expected an object, got {}", describe(other)),
                    )),
                }
            }
        }
        // per call
        match self.call {
            CallType::Track => match f.get("event") {
                Some(Value::String(s)) if !s.trim().is_empty() => {}
                Some(Value::String(_)) => errs.push(FieldError::new("event", "empty")),
                None | Some(Value::Null) => errs.push(FieldError::new(
                    "event",
                    "missing: a track call needs an event name",
                )),
                Some(other) => errs.push(FieldError::new(
                    "event",
                    format!("expected a string, got {}", describe(other)),
                )),
            },
            CallType::Group => {
                if !id_like(f.get("groupId")) {
                    errs.push(FieldError::new(
                        "groupId",
                        "missing: a group call needs groupId",
                    ));
                }
            }
            CallType::Alias => {
                if !uid {
                    errs.push(FieldError::new(
                        "userId",
                        "missing: an alias call needs userId",
                    ));
                }
                if !id_like(f.get("previousId")) {
                    errs.push(FieldError::new(
                        "previousId",
                        "missing: an alias call needs previousId",
                    ));
                }
            }
            CallType::Page | CallType::Screen => {
                for key in ["name", "category"] {
                    match f.get(key) {
                        None | Some(Value::Null) | Some(Value::String(_)) => {}
                        Some(other) => errs.push(FieldError::new(
                            key,
                            format!("expected a string, got {}", describe(other)),
                        )),
                    }
                }
            }
            CallType::Identify => {}
        }
        // typed spec properties
        if self.call == CallType::Track
            && let Some(Err(spec_errs)) = crate::spec::SpecEvent::from_message(self)
        {
            errs.extend(spec_errs);
        }
    }
}

fn id_like(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}

fn camel_to_snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Read a number leniently: a JSON number, or a string holding one (`"12.50"`).
pub fn lenient_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A typed view of `context`: each accessor returns the object or value when present.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a>(Option<&'a Map<String, Value>>);

macro_rules! ctx_obj {
    ($($(#[$doc:meta])* $fn:ident => $key:literal),* $(,)?) => {
        $( $(#[$doc])* pub fn $fn(&self) -> Option<&'a Map<String, Value>> {
            self.0.and_then(|c| c.get($key)).and_then(Value::as_object)
        } )*
    };
}
macro_rules! ctx_str {
    ($($(#[$doc:meta])* $fn:ident => $key:literal),* $(,)?) => {
        $( $(#[$doc])* pub fn $fn(&self) -> Option<&'a str> {
            self.0.and_then(|c| c.get($key)).and_then(Value::as_str)
        } )*
    };
}

impl<'a> Context<'a> {
    /// The whole context object.
    pub fn raw(&self) -> Option<&'a Map<String, Value>> {
        self.0
    }
    /// Any context field.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.and_then(|c| c.get(key))
    }
    /// `context.active`.
    pub fn active(&self) -> Option<bool> {
        self.get("active").and_then(Value::as_bool)
    }
    ctx_obj! {
        /// `context.app` (name, version, build, namespace).
        app => "app",
        /// `context.campaign` (name, source, medium, term, content).
        campaign => "campaign",
        /// `context.device` (id, advertisingId, adTrackingEnabled, manufacturer, model, name, type, version, token).
        device => "device",
        /// `context.library` (name, version).
        library => "library",
        /// `context.location` (city, country, latitude, longitude, region, speed).
        location => "location",
        /// `context.network` (bluetooth, carrier, cellular, wifi).
        network => "network",
        /// `context.os` (name, version).
        os => "os",
        /// `context.page` (path, referrer, search, title, url).
        page => "page",
        /// `context.referrer` (type, name, url, link, id).
        referrer => "referrer",
        /// `context.screen` (width, height, density).
        screen => "screen",
        /// `context.traits`.
        traits => "traits",
        /// `context.userAgentData` (brands, mobile, platform, …).
        user_agent_data => "userAgentData",
    }
    ctx_str! {
        /// `context.ip`.
        ip => "ip",
        /// `context.locale`.
        locale => "locale",
        /// `context.timezone`.
        timezone => "timezone",
        /// `context.groupId`.
        group_id => "groupId",
        /// `context.userAgent`.
        user_agent => "userAgent",
        /// `context.channel`.
        channel => "channel",
    }
    /// A string inside a context object: `ctx.nested_str("device", "id")`.
    pub fn nested_str(&self, object: &str, key: &str) -> Option<&'a str> {
        self.get(object)
            .and_then(Value::as_object)
            .and_then(|o| o.get(key))
            .and_then(Value::as_str)
    }
}

/// Parse an ISO-8601 date-time with an offset (`2026-01-02T03:04:05.123Z`, `…+02:00`).
///
/// A space instead of `T` is accepted; a missing offset is an error (Segment timestamps are
/// always zoned).
pub fn parse_datetime(s: &str) -> Result<DateTime<FixedOffset>, String> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Ok(d);
    }
    // RFC 3339 allows a space; chrono's rfc3339 parser accepts it, so also try common variants:
    // a lower-case 't'/'z', or an offset without a colon (+0200).
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Ok(d);
    }
    let looks_zoneless = s.len() >= 19
        && !s.ends_with('Z')
        && !s.ends_with('z')
        && !s[10..].contains('+')
        && !s[11..].contains('-');
    if looks_zoneless && chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok() {
        return Err(format!(
            "not an ISO-8601 date with an offset: {} has no time zone (add Z or +00:00)",
            describe(&Value::String(s.to_string()))
        ));
    }
    Err(format!(
        "not an ISO-8601 date: {}",
        describe(&Value::String(s.to_string()))
    ))
}

// ---- documents and streams -----------------------------------------------------------------

/// Parse JSON bytes into a value, with a UTF-8 check and a positioned error.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ParseError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(e) => {
            if let Err(u) = std::str::from_utf8(bytes) {
                return Err(ParseError::Utf8 {
                    offset: u.valid_up_to(),
                });
            }
            Err(json_error(&e))
        }
    }
}

/// Turn a serde_json error into a [`ParseError::Json`].
pub fn json_error(e: &serde_json::Error) -> ParseError {
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    ParseError::Json {
        line: e.line(),
        column: e.column(),
        message,
    }
}

/// One input record: its 1-based line (or position in a batch) and the parse result.
#[derive(Debug, Clone)]
pub struct Record {
    /// 1-based line number in a JSON-lines stream, or 1-based position in a `batch` envelope.
    pub line: usize,
    /// The message, or why it is not one.
    pub result: Result<Message, ParseError>,
}

/// Parse a whole document: one message, a `{"batch": [...]}` envelope (the HTTP API's), or a
/// JSON-lines stream (one message per line; blank lines skipped). Never panics; every input
/// message ends as one [`Record`].
///
/// ```
/// use destination_kit::event::parse_document;
/// let recs = parse_document(br#"{"batch":[{"type":"track","event":"a"},{"type":"nope"}]}"#);
/// assert_eq!(recs.len(), 2);
/// assert!(recs[0].result.is_ok());
/// assert_eq!(recs[1].result.as_ref().unwrap_err().path(), "batch[1].type");
/// ```
pub fn parse_document(bytes: &[u8]) -> Vec<Record> {
    let trimmed = trim_ascii(bytes);
    // A single JSON object (possibly pretty-printed over many lines, possibly a batch envelope).
    if trimmed.first() == Some(&b'{')
        && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(trimmed)
    {
        if map.get("type").is_none()
            && let Some(Value::Array(_)) = map.get("batch")
        {
            return parse_batch_envelope(map);
        }
        return vec![Record {
            line: 1,
            result: Message::from_map(map),
        }];
    }
    parse_lines(bytes).collect()
}

/// Parse a `{"batch": [...]}` envelope. Envelope-level `context` and `integrations` are not merged
/// into the messages (client libraries put them on each message).
pub fn parse_batch_envelope(mut map: Map<String, Value>) -> Vec<Record> {
    let Some(Value::Array(items)) = map.remove("batch") else {
        return vec![Record {
            line: 1,
            result: Err(FieldError::new("batch", "expected an array").into()),
        }];
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| Record {
            line: i + 1,
            result: Message::from_value(v).map_err(|e| match e {
                ParseError::Field(f) => {
                    let path = if f.path == "$" {
                        format!("batch[{i}]")
                    } else {
                        format!("batch[{i}].{}", f.path)
                    };
                    ParseError::Field(FieldError::new(path, f.message))
                }
                other => other,
            }),
        })
        .collect()
}

/// Parse a JSON-lines stream lazily: one [`Record`] per non-blank line.
pub fn parse_lines(bytes: &[u8]) -> impl Iterator<Item = Record> + '_ {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let line_bytes = trim_ascii(line);
            if line_bytes.is_empty() {
                return None;
            }
            Some(Record {
                line: i + 1,
                result: Message::from_slice(line_bytes),
            })
        })
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map(|i| i + 1)
        .unwrap_or(start);
    &b[start..end.max(start)]
}
