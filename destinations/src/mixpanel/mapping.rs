//! Event → Mixpanel payloads: `/import` event records, `/engage` profile updates, `/groups`
//! group updates and (Original ID Merge only) `$create_alias`.
//!
//! Event records are typed structs serialised straight from the borrowed event (no intermediate
//! `Value`), because track is the hot path.

use super::settings::{IdentityMerge, MixpanelSettings};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use destination_kit::{CallType, Event, Mapped, Payload};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// Route of `/import` event records.
pub const ROUTE_IMPORT: &str = "import";
/// Route of `/engage` profile updates.
pub const ROUTE_ENGAGE: &str = "engage";
/// Route of `/groups` group profile updates.
pub const ROUTE_GROUPS: &str = "groups";
/// Route of `/track` (only `$create_alias` of the last 5 days).
pub const ROUTE_TRACK: &str = "track";

/// Longest `$insert_id` Mixpanel accepts, in bytes.
pub const MAX_INSERT_ID_LEN: usize = 36;

/// How far back `/track` accepts events; older alias events go to `/import` on purpose.
pub const TRACK_WINDOW: TimeDelta = TimeDelta::days(5);

/// How far ahead of "now" `/import` accepts an event time.
pub const FUTURE_LIMIT: TimeDelta = TimeDelta::hours(1);

/// The earliest time `/import` accepts: 1971-01-01T00:00:00Z.
pub fn earliest_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1971, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

/// Values Mixpanel refuses as `distinct_id` or `$insert_id` (compared case-insensitively).
pub const INVALID_IDS: &[&str] = &[
    "anon",
    "anonymous",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "<nil>",
    "0",
    "-1",
    "true",
    "false",
    "[]",
    "{}",
    "00000000-0000-0000-0000-000000000000",
    "lmy47d",
];

/// Whether Mixpanel refuses `id` as a `distinct_id`.
pub fn is_invalid_id(id: &str) -> bool {
    let t = id.trim();
    INVALID_IDS.iter().any(|bad| bad.eq_ignore_ascii_case(t))
}

fn insert_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// `$insert_id` for a messageId: the messageId itself when it already is a valid insert id
/// (1–36 bytes of `[A-Za-z0-9-]`, not a refused value), else `x` + the 128-bit xxh3 hash of the
/// whole messageId in hex (33 bytes). Deterministic, so a replayed event dedups against the
/// original; hashing the whole id (rather than dropping characters or truncating) keeps two
/// different messageIds apart.
///
/// ```
/// use destinations::mixpanel::mapping::insert_id;
/// assert_eq!(insert_id("9f1c-22aa"), "9f1c-22aa");
/// let long = insert_id("ajs-next-1700000000000-0123456789abcdef0123456789abcdef");
/// assert_eq!(long.len(), 33);
/// assert_ne!(insert_id("a_b"), insert_id("a.b"));
/// ```
pub fn insert_id(message_id: &str) -> String {
    if !message_id.is_empty()
        && message_id.len() <= MAX_INSERT_ID_LEN
        && message_id.bytes().all(insert_id_char)
        && !is_invalid_id(message_id)
    {
        return message_id.to_string();
    }
    hashed_id(message_id.as_bytes())
}

fn hashed_id(bytes: &[u8]) -> String {
    format!("x{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// `$insert_id` of the `n`-th `Product Purchased` event of an order: `{insert_id}-p{n}` when
/// that fits in 36 bytes, else the hash of the messageId and `n`.
pub fn product_insert_id(message_id: &str, n: usize) -> String {
    let base = insert_id(message_id);
    let suffixed = format!("{base}-p{n}");
    if suffixed.len() <= MAX_INSERT_ID_LEN {
        return suffixed;
    }
    let mut bytes = message_id.as_bytes().to_vec();
    bytes.extend_from_slice(format!("\0p{n}").as_bytes());
    hashed_id(&bytes)
}

/// Whether `s` is a valid `$insert_id` (what the mock and Mixpanel check).
pub fn is_valid_insert_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_INSERT_ID_LEN && s.bytes().all(insert_id_char)
}

/// The `distinct_id`: `userId`, else `anonymousId`, skipping values Mixpanel refuses.
pub fn distinct_id<'a>(ev: &Event<'a>) -> Option<&'a str> {
    let msg = ev.message();
    msg.user_id()
        .filter(|u| !is_invalid_id(u))
        .or_else(|| msg.anonymous_id().filter(|a| !is_invalid_id(a)))
}

/// Keys never copied from custom properties: they are Mixpanel-reserved and written by the
/// mapping itself (or must not be set by a client).
const RESERVED: &[&str] = &[
    "time",
    "id",
    "distinct_id",
    "token",
    "$insert_id",
    "$user_id",
    "$device_id",
    "$anon_id",
    "$group_id",
    "mp_lib",
];

/// The per-event identity and context properties, shared by an order and its product events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    distinct_id: &'a str,
    user_id: Option<&'a str>,
    device_id: Option<&'a str>,
    /// `(key, value)` from context: ip, $current_url, $referrer, $os, $app_version_string, utm_*.
    context: [(&'static str, Option<&'a str>); 10],
}

impl<'a> Ctx<'a> {
    fn new(ev: &Event<'a>, distinct_id: &'a str) -> Self {
        let msg = ev.message();
        let c = msg.context();
        Ctx {
            distinct_id,
            user_id: msg.user_id().filter(|u| !is_invalid_id(u)),
            device_id: msg.anonymous_id().filter(|a| !is_invalid_id(a)),
            context: [
                ("ip", c.ip()),
                ("$current_url", c.nested_str("page", "url")),
                ("$referrer", c.nested_str("page", "referrer")),
                ("$os", c.nested_str("os", "name")),
                ("$app_version_string", c.nested_str("app", "version")),
                ("utm_source", c.nested_str("campaign", "source")),
                ("utm_medium", c.nested_str("campaign", "medium")),
                ("utm_campaign", c.nested_str("campaign", "name")),
                ("utm_term", c.nested_str("campaign", "term")),
                ("utm_content", c.nested_str("campaign", "content")),
            ],
        }
    }
}

/// One `/import` record: `{event, properties}`.
#[derive(Serialize)]
pub(crate) struct ImportEvent<'a> {
    event: Cow<'a, str>,
    properties: ImportProps<'a>,
}

/// The `properties` of an `/import` record; serialised by hand so custom properties are merged
/// without a copy and without duplicate keys.
pub(crate) struct ImportProps<'a> {
    time: i64,
    insert_id: String,
    ctx: Ctx<'a>,
    /// Extra keys written before the custom ones (page name, order keys on product events).
    link: Vec<(&'static str, &'a Value)>,
    /// Custom properties (the event's, or a product's).
    custom: Option<&'a Map<String, Value>>,
}

impl Serialize for ImportProps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("time", &self.time)?;
        m.serialize_entry("distinct_id", self.ctx.distinct_id)?;
        m.serialize_entry("$insert_id", &self.insert_id)?;
        if let Some(u) = self.ctx.user_id {
            m.serialize_entry("$user_id", u)?;
        }
        if let Some(d) = self.ctx.device_id {
            m.serialize_entry("$device_id", d)?;
        }
        m.serialize_entry("mp_lib", "destination-kit")?;
        for (k, v) in &self.ctx.context {
            if let Some(v) = v {
                m.serialize_entry(k, v)?;
            }
        }
        for (k, v) in &self.link {
            m.serialize_entry(k, v)?;
        }
        if let Some(custom) = self.custom {
            for (k, v) in custom {
                let k = k.as_str();
                let written = RESERVED.contains(&k)
                    || self
                        .ctx
                        .context
                        .iter()
                        .any(|(ck, cv)| cv.is_some() && *ck == k)
                    || self.link.iter().any(|(lk, _)| *lk == k);
                if !written {
                    m.serialize_entry(k, v)?;
                }
            }
        }
        m.end()
    }
}

/// The spec name of a recognised specced event (v1 aliases normalised to the v2 name).
pub fn spec_name(ev: &Event<'_>) -> Option<&'static str> {
    ev.spec_kind().map(|k| k.name)
}

/// Reject event times `/import` refuses (before 1971, more than an hour ahead of `now`).
fn check_time(ev: &Event<'_>, now: DateTime<Utc>) -> Result<(), Mapped> {
    let t = ev.time();
    if t < earliest_time() {
        return Err(Mapped::invalid(format!(
            "timestamp {}: before 1971-01-01, the earliest time Mixpanel's /import accepts",
            ev.timestamp_iso()
        )));
    }
    if t > now + FUTURE_LIMIT {
        return Err(Mapped::invalid(format!(
            "timestamp {}: more than 1 hour after now ({}); Mixpanel's /import refuses future events",
            ev.timestamp_iso(),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    Ok(())
}

fn no_distinct_id() -> Mapped {
    Mapped::invalid(
        "userId/anonymousId: no value Mixpanel accepts as distinct_id (missing, or one of its refused placeholders such as \"null\" or \"0\")",
    )
}

/// Map one event (see the table in the module docs).
pub fn map(s: &MixpanelSettings, ev: &Event<'_>) -> Mapped {
    match ev.call() {
        CallType::Track => map_track(s, ev),
        CallType::Page | CallType::Screen => map_view(s, ev),
        CallType::Identify => map_identify(s, ev),
        CallType::Group => map_group(s, ev),
        CallType::Alias => map_alias(s, ev),
    }
}

fn import_payload(rec: &ImportEvent<'_>) -> Payload {
    Payload::json(ROUTE_IMPORT, rec)
}

fn map_track(s: &MixpanelSettings, ev: &Event<'_>) -> Mapped {
    if let Err(m) = check_time(ev, s.now()) {
        return m;
    }
    let Some(did) = distinct_id(ev) else {
        return no_distinct_id();
    };
    let ctx = Ctx::new(ev, did);
    let spec = spec_name(ev);
    let name: &str = spec.unwrap_or_else(|| ev.event().unwrap_or_default());
    let props = ev.properties();
    let main = ImportEvent {
        event: Cow::Borrowed(name),
        properties: ImportProps {
            time: ev.timestamp_millis(),
            insert_id: insert_id(ev.message_id()),
            ctx,
            link: Vec::new(),
            custom: props,
        },
    };
    if spec != Some("Order Completed") {
        return Mapped::one(import_payload(&main));
    }
    // Order Completed: the order, then one Product Purchased per product, each 1 ms earlier than
    // the one before so (event, distinct_id, time, $insert_id) stays unique per product.
    let mut out = vec![import_payload(&main)];
    let products = props
        .and_then(|p| p.get("products"))
        .and_then(Value::as_array);
    let link: Vec<(&'static str, &Value)> = ["order_id", "checkout_id", "currency"]
        .into_iter()
        .filter_map(|k| props.and_then(|p| p.get(k)).map(|v| (k, v)))
        .collect();
    // a ms before the order per product, never before the earliest time /import takes (an
    // order at 1971-01-01T00:00:00Z would otherwise lose its products)
    let (order_ms, earliest_ms) = (ev.timestamp_millis(), earliest_time().timestamp_millis());
    for (n, product) in products
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .enumerate()
    {
        let rec = ImportEvent {
            event: Cow::Borrowed("Product Purchased"),
            properties: ImportProps {
                time: (order_ms - (n as i64 + 1)).max(earliest_ms),
                insert_id: product_insert_id(ev.message_id(), n),
                ctx,
                link: link.clone(),
                custom: Some(product),
            },
        };
        out.push(import_payload(&rec));
    }
    Mapped::Send(out)
}

fn map_view(s: &MixpanelSettings, ev: &Event<'_>) -> Mapped {
    if let Err(m) = check_time(ev, s.now()) {
        return m;
    }
    let Some(did) = distinct_id(ev) else {
        return no_distinct_id();
    };
    let kind = if ev.call() == CallType::Page {
        "Page"
    } else {
        "Screen"
    };
    let name = match ev.name().filter(|n| !n.is_empty()) {
        Some(n) => format!("Viewed {n}"),
        None => format!("Viewed {kind}"),
    };
    let link: Vec<(&'static str, &Value)> = ["name", "category"]
        .into_iter()
        .filter_map(|k| ev.get(k).map(|v| (k, v)))
        .collect();
    let rec = ImportEvent {
        event: Cow::Owned(name),
        properties: ImportProps {
            time: ev.timestamp_millis(),
            insert_id: insert_id(ev.message_id()),
            ctx: Ctx::new(ev, did),
            link,
            custom: ev.properties(),
        },
    };
    Mapped::one(import_payload(&rec))
}

/// Reserved Segment traits → Mixpanel's reserved profile properties (camelCase and snake_case).
const PROFILE_TRAITS: &[(&str, &str)] = &[
    ("email", "$email"),
    ("firstName", "$first_name"),
    ("first_name", "$first_name"),
    ("lastName", "$last_name"),
    ("last_name", "$last_name"),
    ("name", "$name"),
    ("phone", "$phone"),
    ("createdAt", "$created"),
    ("created_at", "$created"),
    ("username", "$username"),
    ("avatar", "$avatar"),
];

fn profile_set(traits: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut set = Map::new();
    for (k, v) in traits.into_iter().flatten() {
        let key = PROFILE_TRAITS
            .iter()
            .find(|(seg, _)| seg == k)
            .map(|(_, mp)| (*mp).to_string())
            .unwrap_or_else(|| k.clone());
        set.insert(key, v.clone());
    }
    set
}

fn map_identify(s: &MixpanelSettings, ev: &Event<'_>) -> Mapped {
    let Some(did) = distinct_id(ev) else {
        return no_distinct_id();
    };
    let set = profile_set(ev.message().get("traits").and_then(Value::as_object));
    if set.is_empty() {
        return Mapped::unsupported("identify without traits: no profile property to set");
    }
    let mut update = json!({
        "$token": s.project_token,
        "$distinct_id": did,
        "$set": set,
    });
    if let Some(ip) = ev.context().ip() {
        update["$ip"] = Value::String(ip.into());
    }
    Mapped::one(Payload::json(ROUTE_ENGAGE, &update))
}

fn map_group(s: &MixpanelSettings, ev: &Event<'_>) -> Mapped {
    let group_id = match ev.get("groupId") {
        Some(Value::String(g)) if !g.is_empty() => Value::String(g.clone()),
        Some(Value::Number(n)) => Value::String(n.to_string()),
        _ => return Mapped::invalid("groupId: missing; Mixpanel needs $group_id"),
    };
    let set = profile_set(ev.message().get("traits").and_then(Value::as_object));
    let update = json!({
        "$token": s.project_token,
        "$group_key": s.group_key,
        "$group_id": group_id,
        "$set": set,
    });
    Mapped::one(Payload::json(ROUTE_GROUPS, &update))
}

fn map_alias(s: &MixpanelSettings, ev: &Event<'_>) -> Mapped {
    if s.identity_merge == IdentityMerge::Simplified {
        return Mapped::unsupported(
            "alias: Mixpanel's Simplified ID Merge ignores $create_alias (identities merge through events carrying both $device_id and $user_id); set identity_merge = \"original\" to send it",
        );
    }
    let now = s.now();
    if let Err(m) = check_time(ev, now) {
        return m;
    }
    let (Some(prev), Some(user)) = (
        ev.previous_id().filter(|p| !is_invalid_id(p)),
        ev.user_id().filter(|u| !is_invalid_id(u)),
    ) else {
        return Mapped::invalid("alias: needs previousId and userId that Mixpanel accepts");
    };
    // /track only takes the last 5 days; older aliases go to /import (Basic auth, no window).
    let route = if now - ev.time() <= TRACK_WINDOW {
        ROUTE_TRACK
    } else {
        ROUTE_IMPORT
    };
    let body = json!({
        "event": "$create_alias",
        "properties": {
            "distinct_id": prev,
            "alias": user,
            "token": s.project_token,
            "time": ev.timestamp_millis(),
            "$insert_id": insert_id(ev.message_id()),
        }
    });
    Mapped::one(Payload::json(route, &body))
}
