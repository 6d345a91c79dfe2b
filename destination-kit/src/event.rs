//! The Segment message model: one [`Message`] type for the six calls (track, identify, page,
//! screen, group, alias).
//!
//! A message keeps the JSON object it was parsed from, so nothing is lost in a round trip:
//! unknown fields are kept and serialised back unchanged. Typed accessors read the common fields,
//! each call's own fields, the context objects, and reserved traits and properties.
//!
//! Parsing ([`Message::from_slice`], [`parse_document`], [`parse_lines`], [`RecordReader`])
//! never panics and fails only on what makes the input not a message at all (not UTF-8, not JSON,
//! nested deeper than serde_json's 128 levels, not an object, no known `type`);
//! [`Message::validate`] then checks the Segment rules and reports every problem with its path.
//! A stream yields one [`Record`] per message, carrying its line so errors render as
//! `line 7: properties.products[2].price: expected a number, got "abc"` ([`Record::line_errors`]).
//! The event time destinations send is [`Message::event_time`].
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

use crate::error::describe;
pub use crate::error::{FieldError, LineError, ParseError};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// Longest `messageId` Segment allows.
pub const MAX_MESSAGE_ID_LEN: usize = 100;

/// The six Segment calls.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
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
///
/// A message parsed from JSON text holds it as an arena tree ([`crate::json::Doc`]); the
/// `serde_json` accessors read a copy of it built on their first call. A message built in code
/// holds a `serde_json` map.
#[derive(Clone)]
pub struct Message {
    call: CallType,
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// Parsed from text: the tree, where its most read top-level fields are, and its serde_json
    /// copy once something asked for it.
    Parsed {
        doc: crate::json::Doc,
        top: TopIndex,
        serde: std::sync::OnceLock<Map<String, Value>>,
    },
    /// Built in code, changed, or parsed the exact way (deep or malformed lines).
    Built(Map<String, Value>),
}

/// Equal when the JSON objects are.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.call == other.call && self.fields_ref() == other.fields_ref()
    }
}

/// One list of the top-level fields a parsed message indexes: their names ([`TOP_FIELDS`]) and
/// each one's slot ([`top_slot`], a `match`, so asking costs a length switch, not a walk).
macro_rules! top_fields {
    ($($slot:ident = $key:literal),* $(,)?) => {
        enum TopSlot { $($slot),* }
        /// The top-level fields read most (by validation, the accessors and the destinations'
        /// `map`), in [`TopIndex`] order: a parsed message finds them in one walk over its
        /// object instead of one walk per read.
        const TOP_FIELDS: &[&str] = &[$($key),*];
        /// A field's place in [`TOP_FIELDS`].
        fn top_slot(key: &str) -> Option<usize> {
            Some(match key {
                $($key => TopSlot::$slot as usize,)*
                _ => return None,
            })
        }
    };
}

top_fields! {
    Type = "type",
    MessageId = "messageId",
    UserId = "userId",
    AnonymousId = "anonymousId",
    Event = "event",
    Name = "name",
    Category = "category",
    GroupId = "groupId",
    PreviousId = "previousId",
    Timestamp = "timestamp",
    OriginalTimestamp = "originalTimestamp",
    SentAt = "sentAt",
    ReceivedAt = "receivedAt",
    Properties = "properties",
    Context = "context",
    Traits = "traits",
    Integrations = "integrations",
    Version = "version",
    Channel = "channel",
}

/// Where each of [`TOP_FIELDS`] is in a parsed message's tree.
#[derive(Clone, Copy)]
struct TopIndex([crate::json::Pos; TOP_FIELDS.len()]);

impl TopIndex {
    fn of(doc: &crate::json::Doc) -> TopIndex {
        let mut at = [crate::json::Pos::NONE; TOP_FIELDS.len()];
        if let Some(root) = doc.root().as_object() {
            for (key, value) in root.iter() {
                if let Some(slot) = top_slot(key) {
                    at[slot] = value.pos();
                }
            }
        }
        TopIndex(at)
    }

    /// The field `key` of `doc`: found in the index when it is one of [`TOP_FIELDS`], else
    /// looked up.
    fn get<'a>(&self, doc: &'a crate::json::Doc, key: &str) -> Option<crate::json::Json<'a>> {
        match top_slot(key) {
            Some(slot) => doc.at(self.0[slot]),
            None => doc.root().get(key),
        }
    }
}

/// A message line as a tree when it is an object of a known call; `None` sends the caller to
/// the exact parse (which also gives every error, in serde_json's words). `shared`: shared
/// bytes that `bytes` is a slice of, which the tree keeps instead of a copy.
fn parse_tree(
    bytes: &[u8],
    shared: Option<&bytes::Bytes>,
) -> Option<(CallType, crate::json::Doc, TopIndex)> {
    if trim_ascii(bytes).first() != Some(&b'{') {
        return None;
    }
    let doc = match shared {
        Some(line) => crate::json::Doc::parse_shared(line.slice_ref(bytes)),
        None => crate::json::Doc::parse(bytes),
    }
    .ok()?;
    let top = TopIndex::of(&doc);
    let call = CallType::parse(top.get(&doc, "type")?.as_str()?)?;
    Some((call, doc, top))
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
        self.fields_ref().serialize(s)
    }
}

/// Deserialises through [`Message::from_map`]: any JSON object with a known `type`.
impl<'de> serde::Deserialize<'de> for Message {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fields = Map::<String, Value>::deserialize(d)?;
        Message::from_map(fields).map_err(serde::de::Error::custom)
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
        if let Some((call, doc, top)) = parse_tree(bytes, None) {
            return Ok(Message::parsed(call, doc, top));
        }
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
        Ok(Message {
            call,
            repr: Repr::Built(fields),
        })
    }

    fn parsed(call: CallType, doc: crate::json::Doc, top: TopIndex) -> Message {
        Message {
            call,
            repr: Repr::Parsed {
                doc,
                top,
                serde: std::sync::OnceLock::new(),
            },
        }
    }

    /// The serde_json map (built from the tree on the first call).
    fn fields_ref(&self) -> &Map<String, Value> {
        match &self.repr {
            Repr::Built(m) => m,
            Repr::Parsed { doc, serde, .. } => serde.get_or_init(|| match doc.root().to_serde() {
                Value::Object(m) => m,
                _ => Map::new(),
            }),
        }
    }

    /// The serde_json map, to change: the message stops holding a tree.
    fn fields_owned(&mut self) -> &mut Map<String, Value> {
        if let Repr::Parsed { .. } = &self.repr {
            let m = self.fields_ref().clone();
            self.repr = Repr::Built(m);
        }
        match &mut self.repr {
            Repr::Built(m) => m,
            Repr::Parsed { .. } => unreachable!("converted above"),
        }
    }

    /// A top-level string field, read from the tree when the message has one (no serde_json
    /// copy is built for it).
    fn top_str(&self, key: &str) -> Option<&str> {
        match &self.repr {
            Repr::Parsed { doc, top, .. } => top.get(doc, key)?.as_str(),
            Repr::Built(m) => str_field(m, key),
        }
    }

    /// A top-level field of the message's tree (`None` without a tree, or without the field).
    pub(crate) fn tree_field(&self, key: &str) -> Option<crate::json::Json<'_>> {
        match &self.repr {
            Repr::Parsed { doc, top, .. } => top.get(doc, key),
            Repr::Built(_) => None,
        }
    }

    /// The message's JSON object as a view of its arena tree, when it was parsed from text and
    /// not changed since (the accessors of the planned event model read this).
    pub fn tree(&self) -> Option<crate::json::Obj<'_>> {
        match &self.repr {
            Repr::Parsed { doc, .. } => doc.root().as_object(),
            Repr::Built(_) => None,
        }
    }

    /// A new message of `call` with no fields but `type` (for builders and tests).
    pub fn new(call: CallType) -> Message {
        let mut fields = Map::new();
        fields.insert("type".into(), Value::String(call.as_str().into()));
        Message {
            call,
            repr: Repr::Built(fields),
        }
    }

    /// The call type.
    pub fn call(&self) -> CallType {
        self.call
    }

    /// The raw JSON object, every field included.
    pub fn fields(&self) -> &Map<String, Value> {
        self.fields_ref()
    }

    /// The raw JSON object, mutable (for `serve`, which sets `receivedAt` and `messageId`).
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        self.fields_owned()
    }

    /// Set a top-level field (for example `receivedAt`). Setting `type` is refused.
    pub fn set(&mut self, key: &str, value: Value) {
        if key != "type" {
            self.fields_owned().insert(key.to_string(), value);
        }
    }

    /// Any top-level field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields_ref().get(key)
    }

    /// A top-level field read where the message keeps it: its parsed tree when it has one (no
    /// serde_json copy is built), else its serde_json map. See [`crate::json::any`].
    pub fn field(&self, key: &str) -> Option<crate::json::AnyJson<'_>> {
        match &self.repr {
            Repr::Parsed { doc, top, .. } => top.get(doc, key).map(crate::json::AnyJson::Tree),
            Repr::Built(m) => m.get(key).map(crate::json::AnyJson::Serde),
        }
    }

    /// The message as a JSON value (a copy).
    pub fn to_value(&self) -> Value {
        Value::Object(self.fields_ref().clone())
    }

    /// The message as a JSON value (consuming it).
    pub fn into_value(mut self) -> Value {
        Value::Object(std::mem::take(self.fields_owned()))
    }

    /// The message serialised as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self.fields_ref()).unwrap_or_default()
    }

    // ---- common fields -------------------------------------------------------------------

    /// `messageId`, when it is a string.
    pub fn message_id(&self) -> Option<&str> {
        self.top_str("messageId")
    }
    /// `userId`, when it is a string.
    pub fn user_id(&self) -> Option<&str> {
        self.top_str("userId").filter(|s| !s.is_empty())
    }
    /// `anonymousId`, when it is a string.
    pub fn anonymous_id(&self) -> Option<&str> {
        self.top_str("anonymousId").filter(|s| !s.is_empty())
    }
    /// `userId` if present, else `anonymousId`.
    pub fn user_or_anonymous_id(&self) -> Option<&str> {
        self.user_id().or_else(|| self.anonymous_id())
    }
    /// `timestamp` as sent (raw string).
    pub fn timestamp_raw(&self) -> Option<&str> {
        self.top_str("timestamp")
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
        self.top_str(key)
            .and_then(|s| parse_datetime(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }

    /// The event time destinations send and replays respect. This is the one place the rule
    /// lives; every destination and the replay use it.
    ///
    /// In order, the first that applies:
    /// 1. `timestamp`, when present and a valid ISO-8601 date with an offset (Segment has already
    ///    corrected it, or the caller set it deliberately);
    /// 2. `originalTimestamp` corrected for the device's clock skew, when `sentAt` and
    ///    `receivedAt` are both valid: `receivedAt − (sentAt − originalTimestamp)` (the spec's
    ///    formula: the device's clock error is `sentAt − receivedAt`, the transit time being
    ///    negligible);
    /// 3. `originalTimestamp` as sent (no way to measure the skew);
    /// 4. `receivedAt`, the server's clock on arrival;
    /// 5. `sentAt`;
    /// 6. `None`: the message carries no usable time (the caller decides, typically "now").
    ///
    /// An invalid value counts as absent (validation reports it). The arithmetic is checked, so
    /// absurd inputs (year 0001 against year 9999) fall back to `originalTimestamp` instead of
    /// overflowing.
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
        // `timestamp` decides alone when it is valid: the other three are not parsed then
        if let Some(t) = self.timestamp() {
            return Some(t);
        }
        event_time_from(
            None,
            self.original_timestamp(),
            self.sent_at(),
            self.received_at(),
        )
    }

    /// `context`, when it is an object.
    pub fn context(&self) -> Context<'_> {
        Context(obj_field(self.fields_ref(), "context"))
    }
    /// `integrations`, when it is an object.
    pub fn integrations(&self) -> Option<&Map<String, Value>> {
        obj_field(self.fields_ref(), "integrations")
    }

    /// Whether the `integrations` object lets this message go to the destination named `name`
    /// (its display name, e.g. `"Amplitude"`): the destination's own key wins, else `All`,
    /// else enabled. A non-boolean value (an options object) means enabled.
    pub fn enabled_for(&self, name: &str) -> bool {
        use crate::json::AnyJson;
        let Some(i) = self.field("integrations").and_then(AnyJson::as_object) else {
            return true;
        };
        let flag = |v: AnyJson<'_>| v.as_bool().unwrap_or(true);
        if let Some(v) = i.get(name) {
            return flag(v);
        }
        // a key differing in case: the first in key order, whichever way the message is held
        if let Some((_, v)) = i.first_sorted_where(|k| k.eq_ignore_ascii_case(name)) {
            return flag(v);
        }
        i.get("All").map(flag).unwrap_or(true)
    }

    /// `version`.
    pub fn version(&self) -> Option<&Value> {
        self.fields_ref().get("version")
    }

    // ---- call-specific fields -----------------------------------------------------------

    /// `event` (track).
    pub fn event(&self) -> Option<&str> {
        self.top_str("event")
    }
    /// `name` (page, screen).
    pub fn name(&self) -> Option<&str> {
        self.top_str("name")
    }
    /// `category` (page).
    pub fn category(&self) -> Option<&str> {
        self.top_str("category")
    }
    /// `groupId` (group). A number is accepted and read through [`Message::get`].
    pub fn group_id(&self) -> Option<&str> {
        self.top_str("groupId")
    }
    /// `previousId` (alias).
    pub fn previous_id(&self) -> Option<&str> {
        self.top_str("previousId")
    }
    /// `properties` (track, page, screen).
    pub fn properties(&self) -> Option<&Map<String, Value>> {
        obj_field(self.fields_ref(), "properties")
    }
    /// One property.
    pub fn property(&self, key: &str) -> Option<&Value> {
        self.properties().and_then(|p| p.get(key))
    }
    /// `traits` (identify, group); for other calls `context.traits`.
    pub fn traits(&self) -> Option<&Map<String, Value>> {
        obj_field(self.fields_ref(), "traits").or_else(|| self.context().traits())
    }
    /// One trait, by its camelCase or snake_case name (`firstName` or `first_name`).
    ///
    /// Group traits are case-insensitive in the spec, so for a group call a key differing only
    /// in case (`Industry`) is found too.
    pub fn trait_value(&self, camel: &str) -> Option<&Value> {
        let t = self.traits()?;
        if let Some(v) = t.get(camel) {
            return Some(v);
        }
        if camel.bytes().any(|b| b.is_ascii_uppercase())
            && let Some(v) = t.get(&camel_to_snake(camel))
        {
            return Some(v);
        }
        if self.call == CallType::Group {
            return t
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(camel))
                .map(|(_, v)| v);
        }
        None
    }

    fn trait_str(&self, camel: &str) -> Option<&str> {
        self.trait_value(camel).and_then(Value::as_str)
    }

    // reserved identify (17) and group (12) traits --------------------------------------------

    /// Reserved trait `address` (identify, group): an object with `city`, `country`,
    /// `postalCode`, `state`, `street`.
    pub fn address(&self) -> Option<&Map<String, Value>> {
        self.trait_value("address").and_then(Value::as_object)
    }
    /// Reserved trait `age` (identify), a number or numeric string.
    pub fn age(&self) -> Option<f64> {
        self.trait_value("age").and_then(lenient_f64)
    }
    /// Reserved trait `avatar` (identify, group): an image URL.
    pub fn avatar(&self) -> Option<&str> {
        self.trait_str("avatar")
    }
    /// Reserved trait `birthday` (identify), as sent: clients send a date (`1990-04-01`) or a
    /// full ISO-8601 date-time, so it is not parsed here.
    pub fn birthday(&self) -> Option<&str> {
        self.trait_str("birthday")
    }
    /// Reserved trait `company` (identify): an object with `name`, `id`, `industry`,
    /// `employee_count`, `plan`.
    pub fn company(&self) -> Option<&Map<String, Value>> {
        self.trait_value("company").and_then(Value::as_object)
    }
    /// Reserved trait `createdAt` / `created_at` (identify, group) parsed as a date.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.trait_value("createdAt")
            .and_then(Value::as_str)
            .and_then(|s| parse_datetime(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }
    /// Reserved trait `description` (identify, group).
    pub fn description(&self) -> Option<&str> {
        self.trait_str("description")
    }
    /// Reserved trait `email` (identify, group).
    pub fn email(&self) -> Option<&str> {
        self.trait_str("email")
    }
    /// Reserved trait `employees` (group): a count, sent as a number or a numeric string.
    pub fn employees(&self) -> Option<f64> {
        self.trait_value("employees").and_then(lenient_f64)
    }
    /// Reserved trait `firstName` / `first_name` (identify).
    pub fn first_name(&self) -> Option<&str> {
        self.trait_str("firstName")
    }
    /// Reserved trait `gender` (identify).
    pub fn gender(&self) -> Option<&str> {
        self.trait_str("gender")
    }
    /// Reserved trait `id` (identify, group): the id of the user or group. A number is accepted
    /// and read through [`Message::trait_value`].
    pub fn trait_id(&self) -> Option<&str> {
        self.trait_str("id")
    }
    /// Reserved trait `industry` (group).
    pub fn industry(&self) -> Option<&str> {
        self.trait_str("industry")
    }
    /// Reserved trait `lastName` / `last_name` (identify).
    pub fn last_name(&self) -> Option<&str> {
        self.trait_str("lastName")
    }
    /// Reserved trait `name` (identify, group). When it is absent on identify, `firstName` and
    /// `lastName` joined by a space are the user's name (see [`Message::full_name`]).
    pub fn trait_name(&self) -> Option<&str> {
        self.trait_str("name")
    }
    /// The user's full name: trait `name`, else `firstName lastName` (either alone if only one
    /// is present).
    pub fn full_name(&self) -> Option<String> {
        if let Some(n) = self.trait_name() {
            return Some(n.to_string());
        }
        match (self.first_name(), self.last_name()) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(f), None) => Some(f.to_string()),
            (None, Some(l)) => Some(l.to_string()),
            (None, None) => None,
        }
    }
    /// Reserved trait `phone` (identify, group).
    pub fn phone(&self) -> Option<&str> {
        self.trait_str("phone")
    }
    /// Reserved trait `plan` (group).
    pub fn plan(&self) -> Option<&str> {
        self.trait_str("plan")
    }
    /// Reserved trait `title` (identify): the user's job title.
    pub fn job_title(&self) -> Option<&str> {
        self.trait_str("title")
    }
    /// Reserved trait `username` (identify).
    pub fn username(&self) -> Option<&str> {
        self.trait_str("username")
    }
    /// Reserved trait `website` (identify, group).
    pub fn website(&self) -> Option<&str> {
        self.trait_str("website")
    }

    // reserved track properties ---------------------------------------------------------------

    /// Reserved property `revenue`, a number or numeric string.
    pub fn revenue(&self) -> Option<f64> {
        self.property("revenue").and_then(lenient_f64)
    }
    /// Reserved property `currency` (ISO 4217; Segment assumes USD when absent).
    pub fn currency(&self) -> Option<&str> {
        self.property("currency").and_then(Value::as_str)
    }
    /// Reserved property `value`, a number or numeric string.
    pub fn value(&self) -> Option<f64> {
        self.property("value").and_then(lenient_f64)
    }

    // reserved page and screen properties -------------------------------------------------------

    /// A page field: `properties.<key>`, else `context.page.<key>` (analytics.js sends both).
    fn page_str(&self, key: &str) -> Option<&str> {
        self.property(key)
            .and_then(Value::as_str)
            .or_else(|| self.context().nested_str("page", key))
    }
    /// Page name: top-level `name`, else reserved property `name`.
    pub fn page_name(&self) -> Option<&str> {
        self.name()
            .or_else(|| self.property("name").and_then(Value::as_str))
    }
    /// Screen name: top-level `name`, else reserved property `name` (the same rule as
    /// [`Message::page_name`]).
    pub fn screen_name(&self) -> Option<&str> {
        self.page_name()
    }
    /// Reserved page property `path`, else `context.page.path`.
    pub fn page_path(&self) -> Option<&str> {
        self.page_str("path")
    }
    /// Reserved page property `referrer`, else `context.page.referrer`.
    pub fn page_referrer(&self) -> Option<&str> {
        self.page_str("referrer")
    }
    /// Reserved page property `search` (the query string), else `context.page.search`.
    pub fn page_search(&self) -> Option<&str> {
        self.page_str("search")
    }
    /// Reserved page property `title`, else `context.page.title`.
    pub fn page_title(&self) -> Option<&str> {
        self.page_str("title")
    }
    /// Reserved page property `url`, else `context.page.url`.
    pub fn page_url(&self) -> Option<&str> {
        self.page_str("url")
    }
    /// Reserved page property `keywords`: the string items of the array (others skipped).
    pub fn page_keywords(&self) -> Option<Vec<&str>> {
        self.property("keywords")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
    }

    /// Check the Segment rules and return every problem found (empty when valid).
    ///
    /// The rules, each reported at its own path and in this order: `userId` or `anonymousId`
    /// (strings, or numbers); `messageId` present, a string, at most 100 characters;
    /// `timestamp`, `originalTimestamp`, `sentAt` and `receivedAt` ISO-8601 with an offset when
    /// present; `context`, `integrations`, `properties` and `traits` objects when present (`null`
    /// is not an object), and so are the context objects (`context.device`, …), while
    /// `context.ip`, `locale`, `timezone`, `groupId`, `userAgent`, `channel` are strings and
    /// `context.active` a boolean; track has a non-empty `event`; group has `groupId`; alias has
    /// `userId` and `previousId`; page and screen `name`/`category` are strings; the reserved
    /// properties (track, page, screen) and traits (identify, group) have their spec types
    /// (numbers may be numeric strings; `null` counts as absent); the typed properties of a
    /// recognised specced event have the right types (one error per path).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        self.validate_into(&mut errs);
        errs
    }

    /// [`Message::validate`] appending into `errs`.
    pub fn validate_into(&self, errs: &mut Vec<FieldError>) {
        self.validate_shape_fast(errs);
        if self.call == CallType::Track
            && let Some(Err(spec_errs)) = crate::spec::SpecEvent::from_message(self)
        {
            merge_spec_errors(errs, spec_errs);
        }
    }

    /// Validate and recognise in one pass: the errors [`Message::validate`] gives, and the
    /// specced event when the message is a recognised track call whose typed properties read
    /// cleanly. Reads the spec properties once, where `validate` followed by
    /// [`crate::spec::SpecEvent::from_message`] reads them twice.
    ///
    /// ```
    /// use destination_kit::event::Message;
    /// let m = Message::from_slice(br#"{"type":"track","event":"Order Completed","userId":"u",
    ///   "messageId":"m","properties":{"order_id":"o1","total":"12.50"}}"#).unwrap();
    /// let (errors, spec) = m.validate_and_recognise();
    /// assert!(errors.is_empty());
    /// assert_eq!(spec.unwrap().kind().name, "Order Completed");
    /// ```
    pub fn validate_and_recognise(&self) -> (Vec<FieldError>, Option<crate::spec::SpecEvent>) {
        let mut errs = Vec::new();
        self.validate_shape_fast(&mut errs);
        let spec = match crate::spec::SpecEvent::from_message(self) {
            Some(Ok(s)) => Some(s),
            Some(Err(spec_errs)) => {
                merge_spec_errors(&mut errs, spec_errs);
                None
            }
            None => None,
        };
        (errs, spec)
    }

    /// [`Message::validate_and_recognise`] that builds the typed event only when the tree
    /// cannot vouch for it: a specced event whose typed properties read cleanly from the tree
    /// comes back as [`Checked::Reads`](crate::spec::Checked::Reads), for
    /// [`crate::destination::Event`] to build when a destination asks. The errors are the same.
    pub(crate) fn validate_and_check(&self) -> (Vec<FieldError>, crate::spec::Checked) {
        use crate::spec::Checked;
        let mut errs = Vec::new();
        self.validate_shape_fast(&mut errs);
        let checked = match crate::spec::SpecEvent::check_message(self) {
            Checked::Read(Some(Err(spec_errs))) => {
                merge_spec_errors(&mut errs, spec_errs);
                Checked::Read(None)
            }
            other => other,
        };
        (errs, checked)
    }

    /// [`Message::validate_shape`], answered from the tree when the message has one and breaks
    /// no rule (no serde_json copy is built); any doubt runs the rules on the copy, which gives
    /// the exact errors.
    fn validate_shape_fast(&self, errs: &mut Vec<FieldError>) {
        if let Repr::Parsed { doc, top, .. } = &self.repr
            && tree_shape_is_clean(self.call, TreeTop::of(doc, top))
        {
            return;
        }
        self.validate_shape(errs)
    }

    /// Every rule but the typed spec properties.
    fn validate_shape(&self, errs: &mut Vec<FieldError>) {
        // the sixteen fields the rules read, found in one walk over the keys instead of one
        // B-tree search each (those searches were half of validation's instructions)
        let f = &TopFields::of(self.fields_ref());
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
                    format!("expected an ISO-8601 date string, got {}", describe(other)),
                )),
            }
        }
        // objects: present means an object (`null` is not an object: a client that has
        // nothing to send leaves the key out)
        for key in ["context", "integrations", "properties", "traits"] {
            if let Some(v) = f.get(key)
                && !v.is_object()
            {
                errs.push(expected(key.to_string(), "an object", v));
            }
        }
        // one pass over the keys present; the ordered checks below only when one is wrong
        if let Some(Value::Object(ctx)) = f.get("context")
            && ctx.iter().any(|(k, v)| !context_value_fits(k, v))
        {
            for key in CONTEXT_OBJECTS {
                if let Some(v) = ctx.get(key)
                    && !v.is_object()
                {
                    errs.push(expected(format!("context.{key}"), "an object", v));
                }
            }
            for key in CONTEXT_STRINGS {
                match ctx.get(key) {
                    None | Some(Value::Null) | Some(Value::String(_)) => {}
                    Some(v) => errs.push(expected(format!("context.{key}"), "a string", v)),
                }
            }
            match ctx.get("active") {
                None | Some(Value::Null) | Some(Value::Bool(_)) => {}
                Some(v) => errs.push(expected("context.active".into(), "a boolean", v)),
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
                        Some(other) => errs.push(expected(key.to_string(), "a string", other)),
                    }
                }
            }
            CallType::Identify => {}
        }
        // reserved traits and properties: checked only when present and not null
        let reserved = |scope: &str,
                        obj: Option<&Map<String, Value>>,
                        rules: &[(&str, Option<&str>, Kind)],
                        errs: &mut Vec<FieldError>| {
            let Some(obj) = obj else { return };
            for &(key, snake, kind) in rules {
                let found = obj
                    .get_key_value(key)
                    .or_else(|| snake.and_then(|k| obj.get_key_value(k)));
                if let Some((k, v)) = found
                    && let Some(want) = kind.mismatch(v)
                {
                    errs.push(expected(format!("{scope}.{k}"), want, v));
                }
            }
        };
        let props = f.get("properties").and_then(Value::as_object);
        let traits = f.get("traits").and_then(Value::as_object);
        match self.call {
            CallType::Track => reserved("properties", props, TRACK_PROPERTIES, errs),
            CallType::Page => reserved("properties", props, PAGE_PROPERTIES, errs),
            CallType::Screen => reserved("properties", props, SCREEN_PROPERTIES, errs),
            CallType::Identify => reserved("traits", traits, IDENTIFY_TRAITS, errs),
            CallType::Group => reserved("traits", traits, GROUP_TRAITS, errs),
            CallType::Alias => {}
        }
    }
}

/// Add the spec module's errors, skipping paths already reported (it re-checks reserved
/// properties such as `revenue`).
fn merge_spec_errors(errs: &mut Vec<FieldError>, spec_errs: Vec<FieldError>) {
    for e in spec_errs {
        if !errs.iter().any(|x| x.path == e.path) {
            errs.push(e);
        }
    }
}

/// `path: expected <want>, got <value>`.
fn expected(path: String, want: &str, got: &Value) -> FieldError {
    FieldError::new(path, format!("expected {want}, got {}", describe(got)))
}

/// Context fields that are objects when present.
const CONTEXT_OBJECTS: [&str; 12] = [
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
];

/// The top-level fields [`tree_shape_is_clean`] reads, from the message's [`TopIndex`] (found
/// in the one walk made when it was parsed).
struct TreeTop<'a> {
    user_id: Option<crate::json::Json<'a>>,
    anonymous_id: Option<crate::json::Json<'a>>,
    message_id: Option<crate::json::Json<'a>>,
    times: [Option<crate::json::Json<'a>>; 4],
    context: Option<crate::json::Json<'a>>,
    integrations: Option<crate::json::Json<'a>>,
    properties: Option<crate::json::Json<'a>>,
    traits: Option<crate::json::Json<'a>>,
    event: Option<crate::json::Json<'a>>,
    group_id: Option<crate::json::Json<'a>>,
    previous_id: Option<crate::json::Json<'a>>,
    name: Option<crate::json::Json<'a>>,
    category: Option<crate::json::Json<'a>>,
}

impl<'a> TreeTop<'a> {
    fn of(doc: &'a crate::json::Doc, top: &TopIndex) -> TreeTop<'a> {
        let f = |key: &str| top.get(doc, key);
        TreeTop {
            user_id: f("userId"),
            anonymous_id: f("anonymousId"),
            message_id: f("messageId"),
            times: [
                f("timestamp"),
                f("originalTimestamp"),
                f("sentAt"),
                f("receivedAt"),
            ],
            context: f("context"),
            integrations: f("integrations"),
            properties: f("properties"),
            traits: f("traits"),
            event: f("event"),
            group_id: f("groupId"),
            previous_id: f("previousId"),
            name: f("name"),
            category: f("category"),
        }
    }
}

/// Whether [`Message::validate_shape`] finds nothing wrong with the parsed message whose
/// top-level fields are `f`: the same rules, answering only "clean" (`true`) or "look closer"
/// (`false`).
fn tree_shape_is_clean(call: CallType, f: TreeTop<'_>) -> bool {
    use crate::json::{Json, Kind as K};
    let kind = |v: Option<Json<'_>>| v.map(Json::kind);
    let id_like = |v: Option<Json<'_>>| match v {
        Some(v) if v.kind() == K::String => !v.as_str().unwrap_or_default().is_empty(),
        Some(v) => v.kind() == K::Number,
        None => false,
    };
    let null_or = |v: Option<K>, want: K| matches!(v, None | Some(K::Null)) || v == Some(want);
    // identity
    for v in [f.user_id, f.anonymous_id] {
        if !matches!(kind(v), None | Some(K::String | K::Number | K::Null)) {
            return false;
        }
    }
    let uid = id_like(f.user_id);
    if !uid && !id_like(f.anonymous_id) {
        return false;
    }
    match f.message_id.and_then(Json::as_str) {
        // a string has no more characters than bytes: most ids are counted by their length
        Some(m)
            if !m.is_empty()
                && (m.len() <= MAX_MESSAGE_ID_LEN || m.chars().count() <= MAX_MESSAGE_ID_LEN) => {}
        _ => return false,
    }
    for time in f.times {
        match time {
            None => {}
            Some(v) if v.is_null() => {}
            Some(v) => match v.as_str() {
                Some(s) if is_datetime(s) => {}
                _ => return false,
            },
        }
    }
    for v in [f.context, f.integrations, f.properties, f.traits] {
        if !matches!(kind(v), None | Some(K::Object)) {
            return false;
        }
    }
    if let Some(ctx) = f.context.and_then(Json::as_object)
        && !ctx.iter().all(|(k, v)| context_kind_fits(k, v.kind()))
    {
        return false;
    }
    let ok = match call {
        CallType::Track => f
            .event
            .and_then(Json::as_str)
            .is_some_and(|e| !e.trim().is_empty()),
        CallType::Group => id_like(f.group_id),
        CallType::Alias => uid && id_like(f.previous_id),
        CallType::Page | CallType::Screen => {
            null_or(kind(f.name), K::String) && null_or(kind(f.category), K::String)
        }
        CallType::Identify => true,
    };
    if !ok {
        return false;
    }
    let reserved_fit = |obj: Option<crate::json::Obj<'_>>, rules: &[(&str, Option<&str>, Kind)]| {
        let Some(obj) = obj else { return true };
        rules.iter().all(|&(key, snake, want)| {
            let found = obj.get(key).or_else(|| snake.and_then(|k| obj.get(k)));
            found.is_none_or(|v| want.fits_tree(v))
        })
    };
    let props = f.properties.and_then(Json::as_object);
    let traits = f.traits.and_then(Json::as_object);
    match call {
        CallType::Track => reserved_fit(props, TRACK_PROPERTIES),
        CallType::Page => reserved_fit(props, PAGE_PROPERTIES),
        CallType::Screen => reserved_fit(props, SCREEN_PROPERTIES),
        CallType::Identify => reserved_fit(traits, IDENTIFY_TRAITS),
        CallType::Group => reserved_fit(traits, GROUP_TRAITS),
        CallType::Alias => true,
    }
}

/// [`context_value_fits`] on a value's kind.
fn context_kind_fits(k: &str, v: crate::json::Kind) -> bool {
    use crate::json::Kind as K;
    match k {
        "app" | "campaign" | "device" | "library" | "location" | "network" | "os" | "page"
        | "referrer" | "screen" | "traits" | "userAgentData" => v == K::Object,
        "ip" | "locale" | "timezone" | "groupId" | "userAgent" | "channel" => {
            matches!(v, K::Null | K::String)
        }
        "active" => matches!(v, K::Null | K::Bool),
        _ => true,
    }
}

/// Whether `v` has the type [`CONTEXT_OBJECTS`], [`CONTEXT_STRINGS`] and `active` ask of the
/// context key `k` (any value fits a key not named there).
fn context_value_fits(k: &str, v: &Value) -> bool {
    context_kind_fits(k, crate::json::Kind::of(v))
}

#[cfg(test)]
mod top_index_tests {
    use super::*;

    #[test]
    fn every_indexed_field_has_its_own_slot_and_reads_as_a_lookup_does() {
        for (i, k) in TOP_FIELDS.iter().enumerate() {
            assert_eq!(top_slot(k), Some(i), "{k}");
        }
        assert_eq!(top_slot("context.ip"), None);
        assert_eq!(top_slot("Type"), None);
        let line = br#"{"channel":"web","type":"track","event":"E","extra":{"a":1},"context":{"ip":"1.2.3.4"},"userId":7}"#;
        let m = Message::from_slice(line).unwrap();
        assert!(m.tree().is_some());
        let built = Message::from_value(serde_json::from_slice(line).unwrap()).unwrap();
        for key in TOP_FIELDS.iter().copied().chain(["extra", "missing"]) {
            let (a, b) = (m.field(key), built.field(key));
            assert_eq!(
                a.map(|v| serde_json::to_value(v).unwrap()),
                b.map(|v| serde_json::to_value(v).unwrap()),
                "{key}"
            );
        }
        assert_eq!(m.event(), Some("E"));
        assert_eq!(m.user_id(), None, "a number is not a string id");
    }
}

#[cfg(test)]
mod context_kind_tests {
    use super::*;

    #[test]
    fn the_one_pass_check_knows_every_listed_key() {
        for k in CONTEXT_OBJECTS {
            assert!(!context_value_fits(k, &Value::from(1)), "{k}");
            assert!(context_value_fits(k, &serde_json::json!({})), "{k}");
        }
        for k in CONTEXT_STRINGS {
            assert!(!context_value_fits(k, &Value::from(1)), "{k}");
            assert!(context_value_fits(k, &Value::from("x")), "{k}");
        }
        assert!(!context_value_fits("active", &Value::from("yes")));
        assert!(context_value_fits("somethingElse", &Value::from(1)));
    }
}

/// Context fields that are strings when present.
const CONTEXT_STRINGS: [&str; 6] = [
    "ip",
    "locale",
    "timezone",
    "groupId",
    "userAgent",
    "channel",
];

/// The JSON type a reserved trait or property must have.
#[derive(Clone, Copy)]
enum Kind {
    /// A string.
    Str,
    /// A number, or a string holding one (clients are sloppy).
    Num,
    /// An object.
    Obj,
    /// An array of strings.
    StrArray,
    /// A string or a number (ids, counts sent as strings).
    StrOrNum,
}

impl Kind {
    /// Whether a value of JSON type `t` fits (`null` always does: it means absent); `text`
    /// is the value when it is a string, `all_strings` says whether an array holds only
    /// strings. The one rule behind [`Kind::fits_tree`] and [`Kind::mismatch`].
    fn accepts(
        self,
        t: crate::json::Kind,
        text: Option<&str>,
        all_strings: impl FnOnce() -> bool,
    ) -> bool {
        use crate::json::Kind as K;
        match t {
            K::Null => true,
            K::String => match self {
                Kind::Str | Kind::StrOrNum => true,
                Kind::Num => text.and_then(lenient_f64_str).is_some(),
                _ => false,
            },
            K::Number => matches!(self, Kind::Num | Kind::StrOrNum),
            K::Object => matches!(self, Kind::Obj),
            K::Array => matches!(self, Kind::StrArray) && all_strings(),
            K::Bool => false,
        }
    }

    /// Whether a tree value fits, as [`Kind::mismatch`] decides.
    fn fits_tree(self, v: crate::json::Json<'_>) -> bool {
        let all_strings = || {
            v.as_array()
                .is_some_and(|a| a.iter().all(|e| e.as_str().is_some()))
        };
        self.accepts(v.kind(), v.as_str(), all_strings)
    }

    /// `None` when `v` fits (null always fits: it means absent), else what was expected.
    fn mismatch(self, v: &Value) -> Option<&'static str> {
        let all_strings = || v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
        if self.accepts(crate::json::Kind::of(v), v.as_str(), all_strings) {
            return None;
        }
        Some(match self {
            Kind::Str => "a string",
            Kind::Num => "a number",
            Kind::Obj => "an object",
            Kind::StrArray => "an array of strings",
            Kind::StrOrNum => "a string or a number",
        })
    }
}

/// Reserved track properties (catalog `calls.track.reserved_properties`).
const TRACK_PROPERTIES: &[(&str, Option<&str>, Kind)] = &[
    ("revenue", None, Kind::Num),
    ("currency", None, Kind::Str),
    ("value", None, Kind::Num),
];

/// Reserved page properties (catalog `calls.page.reserved_properties`).
const PAGE_PROPERTIES: &[(&str, Option<&str>, Kind)] = &[
    ("name", None, Kind::Str),
    ("path", None, Kind::Str),
    ("referrer", None, Kind::Str),
    ("search", None, Kind::Str),
    ("title", None, Kind::Str),
    ("url", None, Kind::Str),
    ("keywords", None, Kind::StrArray),
];

/// Reserved screen properties (catalog `calls.screen.reserved_properties`).
const SCREEN_PROPERTIES: &[(&str, Option<&str>, Kind)] = &[("name", None, Kind::Str)];

/// Reserved identify traits (catalog `calls.identify.reserved_traits`, 17). Dates
/// (`birthday`, `createdAt`) are not checked: clients send dates, date-times and epochs.
const IDENTIFY_TRAITS: &[(&str, Option<&str>, Kind)] = &[
    ("address", None, Kind::Obj),
    ("age", None, Kind::Num),
    ("avatar", None, Kind::Str),
    ("company", None, Kind::Obj),
    ("description", None, Kind::Str),
    ("email", None, Kind::Str),
    ("firstName", Some("first_name"), Kind::Str),
    ("gender", None, Kind::Str),
    ("id", None, Kind::StrOrNum),
    ("lastName", Some("last_name"), Kind::Str),
    ("name", None, Kind::Str),
    ("phone", None, Kind::StrOrNum),
    ("title", None, Kind::Str),
    ("username", None, Kind::Str),
    ("website", None, Kind::Str),
];

/// Reserved group traits (catalog `calls.group.reserved_traits`, 12).
const GROUP_TRAITS: &[(&str, Option<&str>, Kind)] = &[
    ("address", None, Kind::Obj),
    ("avatar", None, Kind::Str),
    ("description", None, Kind::Str),
    ("email", None, Kind::Str),
    ("employees", None, Kind::StrOrNum),
    ("id", None, Kind::StrOrNum),
    ("industry", None, Kind::Str),
    ("name", None, Kind::Str),
    ("phone", None, Kind::StrOrNum),
    ("website", None, Kind::Str),
    ("plan", None, Kind::Str),
];

/// The top-level fields validation reads, found in one walk over a message's keys.
#[derive(Default)]
struct TopFields<'a> {
    slots: [Option<&'a Value>; 16],
}

impl<'a> TopFields<'a> {
    /// The slot of each key validation reads; `None` for every other key.
    fn slot(key: &str) -> Option<usize> {
        Some(match key {
            "userId" => 0,
            "anonymousId" => 1,
            "messageId" => 2,
            "timestamp" => 3,
            "originalTimestamp" => 4,
            "sentAt" => 5,
            "receivedAt" => 6,
            "context" => 7,
            "integrations" => 8,
            "properties" => 9,
            "traits" => 10,
            "event" => 11,
            "groupId" => 12,
            "previousId" => 13,
            "name" => 14,
            "category" => 15,
            _ => return None,
        })
    }
    fn of(fields: &'a Map<String, Value>) -> Self {
        let mut t = TopFields::default();
        for (k, v) in fields {
            if let Some(i) = Self::slot(k) {
                t.slots[i] = Some(v);
            }
        }
        t
    }
    /// The value of `key`, one of the keys [`TopFields::slot`] knows (any other is a bug:
    /// `None` in release).
    fn get(&self, key: &str) -> Option<&'a Value> {
        let i = Self::slot(key);
        debug_assert!(i.is_some(), "{key} is not a key TopFields keeps");
        self.slots[i?]
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
        Value::String(s) => lenient_f64_str(s),
        _ => None,
    }
}

/// The string half of [`lenient_f64`]: a finite number, surrounding whitespace allowed.
///
/// ```
/// use destination_kit::event::lenient_f64_str;
/// assert_eq!(lenient_f64_str(" 12.50 "), Some(12.5));
/// assert_eq!(lenient_f64_str("1e400"), None);
/// ```
pub fn lenient_f64_str(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// The event-time rule of [`Message::event_time`] over already-parsed times (`timestamp`,
/// `originalTimestamp`, `sentAt`, `receivedAt`), for callers holding the times elsewhere.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use destination_kit::event::event_time_from;
/// let t = |s| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, s).unwrap();
/// // skew correction: the device was 10 s ahead
/// assert_eq!(event_time_from(None, Some(t(30)), Some(t(40)), Some(t(30))), Some(t(20)));
/// // timestamp wins
/// assert_eq!(event_time_from(Some(t(1)), Some(t(30)), Some(t(40)), Some(t(30))), Some(t(1)));
/// ```
pub fn event_time_from(
    timestamp: Option<DateTime<Utc>>,
    original: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    received_at: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    if timestamp.is_some() {
        return timestamp;
    }
    if let Some(orig) = original {
        if let (Some(sent), Some(recv)) = (sent_at, received_at)
            && let Some(t) = recv.checked_sub_signed(sent.signed_duration_since(orig))
        {
            return Some(t);
        }
        return Some(orig);
    }
    received_at.or(sent_at)
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

/// `YYYY-MM-DDTHH:MM:SS[.f]±HHMM` with a colon put in its offset (`±HH:MM`); `None` for any
/// other shape.
fn colon_in_offset(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let fixed = b.len() >= 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !fixed {
        return None;
    }
    let off = b.len() - 5;
    let fraction_ok = match &b[19..off] {
        [] => true,
        [b'.', rest @ ..] => !rest.is_empty() && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !fraction_ok || !matches!(b[off], b'+' | b'-') || !digits(off + 1..b.len()) {
        return None;
    }
    Some(format!("{}:{}", &s[..off + 3], &s[off + 3..]))
}

/// A second of 60 only at a leap second, which is at 23:59:60 UTC (chrono's RFC 3339 parser
/// takes `:60` at any minute).
fn no_false_leap_second(
    s: &str,
    d: DateTime<FixedOffset>,
) -> Result<DateTime<FixedOffset>, String> {
    use chrono::Timelike;
    let u = d.with_timezone(&Utc);
    if d.nanosecond() >= 1_000_000_000 && !(u.hour() == 23 && u.minute() == 59) {
        return Err(format!(
            "not a valid time: {} has second 60, which is only a leap second at 23:59:60 UTC",
            describe(&Value::String(s.to_string()))
        ));
    }
    Ok(d)
}

/// Parse an ISO-8601 date-time with an offset (`2026-01-02T03:04:05.123Z`, `…+02:00`).
///
/// A space instead of `T` is accepted; a missing offset is an error (Segment timestamps are
/// always zoned). An offset without a colon (`+0200`) is taken in the full
/// `YYYY-MM-DDTHH:MM:SS[.f]` shape only, and a second of 60 only at 23:59:60 UTC.
pub fn parse_datetime(s: &str) -> Result<DateTime<FixedOffset>, String> {
    // The shape every Segment library sends, read without chrono's general parser; anything
    // else (or anything out of range) takes the general path below, which decides.
    if let Some(d) = parse_canonical_datetime(s.as_bytes()) {
        return Ok(d);
    }
    // chrono's RFC 3339 parser also accepts a space or `t` for `T` and `z` for `Z`.
    let rfc = match DateTime::parse_from_rfc3339(s) {
        Ok(d) => return no_false_leap_second(s, d),
        Err(e) => e,
    };
    // ISO-8601 offsets without a colon (`+0200`), in exactly that shape: chrono's general
    // parser would also take one-digit fields, signed years and spaces between fields
    if let Some(with_colon) = colon_in_offset(s)
        && let Ok(d) = DateTime::parse_from_rfc3339(&with_colon)
    {
        return no_false_leap_second(s, d);
    }
    let shown = || describe(&Value::String(s.to_string()));
    let naive = |fmt: &str| chrono::NaiveDateTime::parse_from_str(s, fmt).is_ok();
    if naive("%Y-%m-%dT%H:%M:%S%.f") || naive("%Y-%m-%d %H:%M:%S%.f") {
        return Err(format!(
            "not an ISO-8601 date with an offset: {} has no time zone (add Z or +00:00)",
            shown()
        ));
    }
    if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
        return Err(format!(
            "not an ISO-8601 date-time: {} is a date without a time",
            shown()
        ));
    }
    if !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!(
            "not an ISO-8601 date: {} looks like a Unix epoch; send an ISO-8601 string",
            shown()
        ));
    }
    if rfc.kind() == chrono::format::ParseErrorKind::OutOfRange {
        return Err(format!(
            "not a valid date: {} has a field out of range",
            shown()
        ));
    }
    Err(format!("not an ISO-8601 date: {}", shown()))
}

/// Whether [`parse_datetime`] reads `s`, without building the date when `s` has the shape every
/// Segment library sends (validation checks four times per event; building each through
/// chrono cost ~460 instructions, this check ~60).
fn is_datetime(s: &str) -> bool {
    canonical_datetime_in_range(s.as_bytes()) || parse_datetime(s).is_ok()
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` with every field in range: exactly the strings
/// [`parse_canonical_datetime`] gives a date for (any other string may still be a date: ask
/// [`parse_datetime`]).
fn canonical_datetime_in_range(b: &[u8]) -> bool {
    let Some(p) = canonical_datetime_fields(b) else {
        return false;
    };
    let leap = (p.year % 4 == 0 && p.year % 100 != 0) || p.year % 400 == 0;
    let days = match p.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&p.day) && p.hour <= 23 && p.minute <= 59
}

/// The fields of a date-time in the canonical shape (see [`parse_canonical_datetime`]), the
/// seconds, fraction and offset already checked; month, day, hour and minute not yet.
struct DateFields {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    offset_secs: i32,
}

fn canonical_datetime_fields(b: &[u8]) -> Option<DateFields> {
    fn digits(b: &[u8]) -> Option<u32> {
        let mut n = 0u32;
        for &c in b {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            n = n * 10 + u32::from(d);
        }
        Some(n)
    }
    // `YYYY-MM-DDTHH:MM:SS` as two words and three bytes, checked a word at a time (counted at
    // ~270 instructions a call byte by byte, four calls per event)
    let head: &[u8; 20] = b.get(..20)?.try_into().ok()?;
    let w0 = u64::from_le_bytes(head[0..8].try_into().ok()?); // YYYY-MM-
    let w1 = u64::from_le_bytes(head[8..16].try_into().ok()?); // DDTHH:MM
    let w2 = u64::from(u32::from_le_bytes([head[16], head[17], head[18], b'0'])); // :SS0
    const SEP0: u64 = 0xff00_00ff_0000_0000; // bytes 4 and 7
    const SEP1: u64 = 0x0000_ff00_00ff_0000; // bytes 2 and 5
    const SEP2: u64 = 0x0000_00ff; // byte 0
    if w0 & SEP0 != u64::from_le_bytes(*b"\0\0\0\0-\0\0-")
        || w1 & SEP1 != u64::from_le_bytes(*b"\0\0T\0\0:\0\0")
        || w2 & SEP2 != u64::from(b':')
    {
        return None;
    }
    // every other byte a digit: its value (byte ^ '0') at most 9, so neither it nor it + 6 has
    // a high nibble (a carry out of a byte past 0xf9 only makes the check stricter)
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const SIX: u64 = 0x0606_0606_0606_0606;
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    let (d0, d1, d2) = (w0 ^ ZEROS, w1 ^ ZEROS, w2 ^ ZEROS);
    if (d0 | d0.wrapping_add(SIX)) & HIGH & !SEP0 != 0
        || (d1 | d1.wrapping_add(SIX)) & HIGH & !SEP1 != 0
        || (d2 | d2.wrapping_add(SIX)) & HIGH & !SEP2 & 0x00ff_ffff != 0
    {
        return None;
    }
    let at = |w: u64, i: u32| ((w >> (8 * i)) & 0xff) as u32;
    let two = |w: u64, i: u32| at(w, i) * 10 + at(w, i + 1);
    let year = two(d0, 0) * 100 + two(d0, 2);
    let month = two(d0, 5);
    let day = two(d1, 0);
    let hour = two(d1, 3);
    let minute = two(d1, 6);
    let second = two(d2, 1);
    if second > 59 {
        return None; // leap seconds: chrono's rules
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        const SCALE: [u32; 10] = [
            0,
            100_000_000,
            10_000_000,
            1_000_000,
            100_000,
            10_000,
            1_000,
            100,
            10,
            1,
        ];
        nanos = digits(&rest[1..=n])? * SCALE[n];
        rest = &rest[1 + n..];
    }
    let offset_secs = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    Some(DateFields {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset_secs,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` with every field in range (seconds 00–59), or
/// `None` — the caller then asks chrono, which accepts more shapes and names the problem.
/// Gives exactly what `DateTime::parse_from_rfc3339` gives for the strings it accepts.
fn parse_canonical_datetime(b: &[u8]) -> Option<DateTime<FixedOffset>> {
    let p = canonical_datetime_fields(b)?;
    let offset = FixedOffset::east_opt(p.offset_secs)?;
    let naive = chrono::NaiveDate::from_ymd_opt(p.year as i32, p.month, p.day)?
        .and_hms_nano_opt(p.hour, p.minute, p.second, p.nanos)?;
    Some(DateTime::from_naive_utc_and_offset(
        naive.checked_sub_offset(offset)?,
        offset,
    ))
}

// ---- documents and streams -----------------------------------------------------------------

/// Parse JSON bytes into a value, with a UTF-8 check and a positioned error.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ParseError> {
    // One UTF-8 check of the whole line, then the `&str` reader, which does not check each
    // string again (checking per string was 6 % of the pipeline's instructions).
    let text = std::str::from_utf8(bytes).map_err(|u| ParseError::Utf8 {
        offset: u.valid_up_to(),
    })?;
    serde_json::from_str::<Value>(text).map_err(|e| json_error(&e))
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

/// One input record: where it came from and the parse result.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line number in a JSON-lines stream (1 for a single document).
    pub line: usize,
    /// 0-based position inside a `{"batch": [...]}` envelope, when the record came from one.
    pub batch_index: Option<usize>,
    /// The message, or why it is not one.
    pub result: Result<Message, ParseError>,
}

impl Record {
    /// The message, when the input parsed.
    pub fn message(&self) -> Option<&Message> {
        self.result.as_ref().ok()
    }

    /// Every problem with this record: the parse error, or else the validation errors. Paths of
    /// a batch item start with `batch[i].`. Empty when the message is valid.
    pub fn errors(&self) -> Vec<FieldError> {
        match &self.result {
            Err(e) => vec![e.to_field_error()],
            Ok(m) => {
                let mut errs = m.validate();
                if let Some(i) = self.batch_index {
                    for e in &mut errs {
                        e.path = batch_path(i, &e.path);
                    }
                }
                errs
            }
        }
    }

    /// [`Record::errors`] with the line, rendered `line 7: properties.total: expected a number,
    /// got "abc"`.
    ///
    /// ```
    /// use destination_kit::event::parse_lines;
    /// let recs: Vec<_> = parse_lines(b"\n{\"type\":\"track\",\"userId\":\"u\",\"messageId\":\"m\",\"event\":\"\"}").collect();
    /// assert_eq!(recs[0].line_errors()[0].to_string(), "line 2: event: empty");
    /// ```
    pub fn line_errors(&self) -> Vec<LineError> {
        self.errors()
            .into_iter()
            .map(|error| LineError {
                line: self.line,
                error,
            })
            .collect()
    }

    /// Whether the record parsed and validated without a problem.
    pub fn is_valid(&self) -> bool {
        match &self.result {
            Err(_) => false,
            Ok(m) => {
                let mut errs = Vec::new();
                m.validate_into(&mut errs);
                errs.is_empty()
            }
        }
    }
}

fn batch_path(i: usize, path: &str) -> String {
    if path.is_empty() || path == "$" {
        format!("batch[{i}]")
    } else {
        format!("batch[{i}].{path}")
    }
}

/// Parse a whole document: one message, a `{"batch": [...]}` envelope (the HTTP API's), or a
/// JSON-lines stream (one message or batch envelope per line; blank lines skipped). Never
/// panics; every input message ends as one [`Record`].
///
/// ```
/// use destination_kit::event::parse_document;
/// let recs = parse_document(br#"{"batch":[{"type":"track","event":"a"},{"type":"nope"}]}"#);
/// assert_eq!(recs.len(), 2);
/// assert!(recs[0].result.is_ok());
/// assert_eq!(recs[1].batch_index, Some(1));
/// assert_eq!(recs[1].result.as_ref().unwrap_err().path(), "batch[1].type");
/// ```
pub fn parse_document(bytes: &[u8]) -> Vec<Record> {
    let trimmed = trim_ascii(bytes);
    // A single JSON object, possibly pretty-printed over many lines, possibly a batch envelope.
    // For a JSON-lines stream this fails at the second line and the stream is read line by line.
    if trimmed.first() == Some(&b'{')
        && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(trimmed)
    {
        return records_of_object(1, map).collect();
    }
    parse_lines(bytes).collect()
}

/// Parse a `{"batch": [...]}` envelope (line 1). Envelope-level `context` and `integrations` are
/// not merged into the messages (client libraries put them on each message).
pub fn parse_batch_envelope(map: Map<String, Value>) -> Vec<Record> {
    batch_records(1, map).collect()
}

/// Whether an object is a `{"batch": ...}` envelope rather than a message: it has `batch` and
/// no `type`.
fn is_envelope(map: &Map<String, Value>) -> bool {
    !map.contains_key("type") && map.contains_key("batch")
}

fn batch_records(line: usize, mut map: Map<String, Value>) -> LineRecords {
    match map.remove("batch") {
        Some(Value::Array(items)) => LineRecords::Batch {
            line,
            items: items.into_iter().enumerate(),
        },
        other => LineRecords::One(Some(Record {
            line,
            batch_index: None,
            result: Err(FieldError::new(
                "batch",
                format!(
                    "expected an array of messages, got {}",
                    describe(other.as_ref().unwrap_or(&Value::Null))
                ),
            )
            .into()),
        })),
    }
}

fn records_of_object(line: usize, map: Map<String, Value>) -> LineRecords {
    if is_envelope(&map) {
        batch_records(line, map)
    } else {
        LineRecords::One(Some(Record {
            line,
            batch_index: None,
            result: Message::from_map(map),
        }))
    }
}

/// The records of one input line: none (blank), one, or the items of a batch envelope.
/// An iterator, so a line costs no extra allocation.
pub(crate) enum LineRecords {
    One(Option<Record>),
    Batch {
        line: usize,
        items: std::iter::Enumerate<std::vec::IntoIter<Value>>,
    },
}

impl Iterator for LineRecords {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        match self {
            LineRecords::One(r) => r.take(),
            LineRecords::Batch { line, items } => {
                let (i, v) = items.next()?;
                Some(Record {
                    line: *line,
                    batch_index: Some(i),
                    result: Message::from_value(v).map_err(|e| match e {
                        ParseError::Field(f) => {
                            ParseError::Field(FieldError::new(batch_path(i, &f.path), f.message))
                        }
                        other => other,
                    }),
                })
            }
        }
    }
}

/// Parse one line of a JSON-lines stream (`line` is its 1-based number).
pub(crate) fn parse_line(line: usize, bytes: &[u8]) -> LineRecords {
    parse_line_as(line, bytes, None, true)
}

/// [`parse_line`], a message into a tree only when `tree` (see
/// [`DestinationInfo::reads_tree`](crate::DestinationInfo::reads_tree)).
/// `shared`: shared bytes that `bytes` is a slice of (a line cut from a reader's block), which a
/// tree keeps instead of a copy.
pub(crate) fn parse_line_as(
    line: usize,
    bytes: &[u8],
    shared: Option<&bytes::Bytes>,
    tree: bool,
) -> LineRecords {
    let bytes = trim_ascii(bytes);
    if bytes.is_empty() {
        return LineRecords::One(None);
    }
    // a message as a tree; envelopes and malformed lines the exact way
    if let Some((call, doc, top)) = tree.then(|| parse_tree(bytes, shared)).flatten() {
        return LineRecords::One(Some(Record {
            line,
            batch_index: None,
            result: Ok(Message::parsed(call, doc, top)),
        }));
    }
    match parse_json(bytes) {
        Ok(Value::Object(map)) => records_of_object(line, map),
        Ok(other) => LineRecords::One(Some(Record {
            line,
            batch_index: None,
            result: Message::from_value(other),
        })),
        Err(e) => LineRecords::One(Some(Record {
            line,
            batch_index: None,
            result: Err(e),
        })),
    }
}

/// Parse a JSON-lines stream lazily: one [`Record`] per non-blank line (one per item for a line
/// holding a batch envelope). A line that is not UTF-8 or not JSON becomes a record with the
/// error; the other lines are unaffected.
pub fn parse_lines(bytes: &[u8]) -> impl Iterator<Item = Record> + '_ {
    split_lines(bytes)
        .enumerate()
        .flat_map(|(i, line)| parse_line(i + 1, line))
}

/// `bytes` split at every `\n`, as `<[u8]>::split` splits it (a trailing piece after the last
/// newline, one empty piece for empty input), finding newlines with `memchr` instead of
/// testing byte by byte.
pub(crate) fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(b'\n', r) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Read a JSON-lines stream from any [`std::io::BufRead`] without loading it whole: the
/// streaming form of [`parse_lines`], yielding the same records. Only an I/O error of the reader
/// ends the stream early (as an `Err` item); bad lines are records with errors.
///
/// ```
/// use destination_kit::event::RecordReader;
/// let input: &[u8] = b"{\"type\":\"page\"}\n\xff\n";
/// let recs: Vec<_> = RecordReader::new(input).map(Result::unwrap).collect();
/// assert_eq!(recs.len(), 2);
/// assert_eq!(recs[1].line, 2);
/// assert!(recs[1].result.is_err());
/// ```
pub struct RecordReader<R> {
    reader: R,
    line: usize,
    buf: Vec<u8>,
    pending: LineRecords,
    done: bool,
}

impl<R: std::io::BufRead> RecordReader<R> {
    /// Read records from `reader`.
    pub fn new(reader: R) -> Self {
        RecordReader {
            reader,
            line: 0,
            buf: Vec::with_capacity(4096),
            pending: LineRecords::One(None),
            done: false,
        }
    }

    /// The number of the last line read (1-based; 0 before the first).
    pub fn line(&self) -> usize {
        self.line
    }
}

impl<R: std::io::BufRead> Iterator for RecordReader<R> {
    type Item = std::io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.pending.next() {
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {
                    self.line += 1;
                    self.pending = parse_line(self.line, &self.buf);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// JSON whitespace only (a form feed is not: see [`crate::json::trim_ws`]).
fn trim_ascii(b: &[u8]) -> &[u8] {
    crate::json::trim_ws(b)
}

#[cfg(test)]
mod split_lines_tests {
    use super::split_lines;

    proptest::proptest! {
        /// The memchr split gives exactly the pieces `<[u8]>::split` gives, on any bytes.
        #[test]
        fn split_lines_is_slice_split(bytes in proptest::collection::vec(
            proptest::prop_oneof![proptest::strategy::Just(b'\n'), proptest::prelude::any::<u8>()],
            0..200,
        )) {
            let ours: Vec<&[u8]> = split_lines(&bytes).collect();
            let std: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            proptest::prop_assert_eq!(ours, std);
        }
    }

    #[test]
    fn edges() {
        let pieces = |b: &'static [u8]| split_lines(b).collect::<Vec<_>>();
        assert_eq!(pieces(b""), vec![b"" as &[u8]]);
        assert_eq!(pieces(b"\n"), vec![b"" as &[u8], b""]);
        assert_eq!(pieces(b"a\nb"), vec![b"a" as &[u8], b"b"]);
        assert_eq!(pieces(b"a\n\nb\n"), vec![b"a" as &[u8], b"", b"b", b""]);
    }
}

#[cfg(test)]
mod datetime_check_tests {
    use super::{is_datetime, parse_datetime};

    proptest::proptest! {
        /// The quick check agrees with the parse on every date-time of the canonical shape,
        /// valid or not: month and day edges (30 February, 29 February in 1900, 2000 and 2024),
        /// hours and minutes past their range, fractions, offsets.
        #[test]
        fn the_quick_check_agrees_with_the_parse(
            year in proptest::prop_oneof![0u32..=9999, proptest::strategy::Just(1900u32),
                proptest::strategy::Just(2000), proptest::strategy::Just(2024)],
            month in 0u32..=13,
            day in 0u32..=32,
            hour in 0u32..=25,
            minute in 0u32..=61,
            second in 0u32..=61,
            frac in proptest::option::of("[0-9]{1,10}"),
            offset in proptest::prop_oneof!["Z", "[+-][0-2][0-9]:[0-6][0-9]", "z", "", "\\+0100"],
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let s = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{frac}{offset}");
            proptest::prop_assert_eq!(is_datetime(&s), parse_datetime(&s).is_ok(), "{}", s);
        }
    }

    proptest::proptest! {
        /// One byte of a canonical date-time replaced by any ASCII byte (a letter or sign for a
        /// digit, a digit for a separator, a control character...): the quick check still
        /// agrees with the parse, and the canonical reader gives chrono's date or none.
        #[test]
        fn any_byte_anywhere_in_the_canonical_shape(
            base in proptest::sample::select(vec![
                "2024-02-29T13:45:59.123Z",
                "1999-12-31T23:59:59+05:30",
                "2026-11-30T05:21:11.869Z",
                "0000-01-01T00:00:00-00:00",
            ]),
            at in 0usize..25,
            byte in 0u8..0x80,
        ) {
            let mut b = base.as_bytes().to_vec();
            let at = at % b.len();
            b[at] = byte;
            let s = String::from_utf8(b).expect("ASCII");
            proptest::prop_assert_eq!(is_datetime(&s), parse_datetime(&s).is_ok(), "{}", s);
            if let Some(d) = super::parse_canonical_datetime(s.as_bytes()) {
                proptest::prop_assert_eq!(
                    Some(d),
                    chrono::DateTime::parse_from_rfc3339(&s).ok(),
                    "{}", s
                );
            }
        }
    }

    #[test]
    fn month_ends_and_leap_years() {
        for (s, ok) in [
            ("2024-02-29T00:00:00Z", true),
            ("2023-02-29T00:00:00Z", false),
            ("1900-02-29T00:00:00Z", false),
            ("2000-02-29T00:00:00Z", true),
            ("2024-04-31T00:00:00Z", false),
            ("2024-12-31T23:59:59.999999999+23:59", true),
            ("2024-13-01T00:00:00Z", false),
            ("2024-01-01T24:00:00Z", false),
        ] {
            assert_eq!(is_datetime(s), ok, "{s}");
            assert_eq!(parse_datetime(s).is_ok(), ok, "{s}");
        }
    }
}
