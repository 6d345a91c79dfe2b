//! Event → Amplitude payloads: HTTP V2 events (route `httpapi`), Group Identify
//! identifications (route `groupidentify`) and user mappings (route `usermap`).
//!
//! Every payload of the `httpapi` route is exactly one Amplitude event, so an index in a 400
//! answer is an index into the batch.

use super::settings::AmplitudeSettings;
use destination_kit::json::{AnyJson, AnyObj, PassThrough};
use destination_kit::{CallType, Event, Mapped, Payload};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::borrow::Cow;

/// Route of HTTP V2 events.
pub const HTTPAPI: &str = "httpapi";
/// Route of Group Identify calls.
pub const GROUPIDENTIFY: &str = "groupidentify";
/// Route of User Mapping calls.
pub const USERMAP: &str = "usermap";

/// Id values Amplitude refuses (case-insensitive).
pub const INVALID_IDS: &[&str] = &[
    "anonymous",
    "null",
    "none",
    "nil",
    "undefined",
    "unknown",
    "0",
    "-1",
    "00000000-0000-0000-0000-000000000000",
    "lmy47d",
];

/// Whether Amplitude takes `id` as a user or device id.
pub fn valid_id(id: &str, min: usize) -> bool {
    id.chars().count() >= min && !INVALID_IDS.iter().any(|b| b.eq_ignore_ascii_case(id))
}

/// `user_properties`: plain (`$set` implied on ordinary events) or an explicit `$set`.
#[derive(Debug, Clone, Copy)]
pub enum UserProps<'a> {
    /// As is (ordinary events).
    Plain(AnyObj<'a>),
    /// `{"$set": map}` (`$identify`).
    Set(AnyObj<'a>),
    /// `{"$set": {key: value}}` (group membership).
    SetOne(&'a str, &'a str),
}

impl Serialize for UserProps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UserProps::Plain(m) => PassThrough(*m).serialize(s),
            UserProps::Set(m) => {
                let mut o = s.serialize_map(Some(1))?;
                o.serialize_entry("$set", &PassThrough(*m))?;
                o.end()
            }
            UserProps::SetOne(k, v) => {
                let mut o = s.serialize_map(Some(1))?;
                o.serialize_entry("$set", &One(k, v))?;
                o.end()
            }
        }
    }
}

/// A one-entry JSON object.
#[derive(Debug, Clone, Copy)]
pub struct One<'a>(pub &'a str, pub &'a str);

impl Serialize for One<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = s.serialize_map(Some(1))?;
        o.serialize_entry(self.0, self.1)?;
        o.end()
    }
}

/// One HTTP V2 event.
#[derive(Debug, Clone, Serialize)]
pub struct AmpEvent<'a> {
    /// Event name.
    pub event_type: Cow<'a, str>,
    /// `userId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<&'a str>,
    /// `anonymousId`, else `context.device.id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<&'a str>,
    /// Event time, Unix milliseconds.
    pub time: i64,
    /// Dedup key: messageId (`{messageId}-{n}` for product events).
    pub insert_id: Cow<'a, str>,
    /// Event properties (copied from the line when the tree allows: [`PassThrough`]).
    #[serde(
        serialize_with = "pass_through",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_properties: Option<AnyObj<'a>>,
    /// User properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_properties: Option<UserProps<'a>>,
    /// Group membership.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<One<'a>>,
    /// Revenue: price of one unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// Revenue: units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// Revenue amount (negative for refunds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue: Option<f64>,
    /// Revenue: product id.
    #[serde(rename = "productId", skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Cow<'a, str>>,
    /// Revenue type (`Purchase`, `Refund`).
    #[serde(rename = "revenueType", skip_serializing_if = "Option::is_none")]
    pub revenue_type: Option<&'static str>,
    /// Session start in Unix ms, from `integrations.Amplitude.session_id` (Segment's
    /// convention for Amplitude sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<i64>,
    /// `context.ip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<&'a str>,
    /// `context.device.type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<&'a str>,
    /// `context.os.name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_name: Option<&'a str>,
    /// `context.os.version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<&'a str>,
    /// `context.device.manufacturer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_manufacturer: Option<&'a str>,
    /// `context.device.model`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_model: Option<&'a str>,
    /// `context.network.carrier`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<&'a str>,
    /// `context.locale`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<&'a str>,
    /// `context.app.version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<&'a str>,
    /// `context.location.country`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<&'a str>,
    /// `context.location.region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
    /// `context.location.city`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<&'a str>,
    /// `context.location.latitude`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_lat: Option<f64>,
    /// `context.location.longitude`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_lng: Option<f64>,
    /// `context.userAgent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<&'a str>,
    /// `context.library` as `name/version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
}

fn pass_through<S: Serializer>(o: &Option<AnyObj<'_>>, s: S) -> Result<S::Ok, S::Error> {
    match o {
        Some(o) => PassThrough(*o).serialize(s),
        None => s.serialize_none(),
    }
}

/// One Group Identify identification.
#[derive(Debug, Clone, Serialize)]
pub struct GroupIdentification<'a> {
    /// The group type (settings `group_type`).
    pub group_type: &'a str,
    /// `groupId`.
    pub group_value: Cow<'a, str>,
    /// `{"$set": traits}`.
    pub group_properties: UserProps<'a>,
}

/// One user mapping.
#[derive(Debug, Clone, Serialize)]
pub struct UserMapping<'a> {
    /// `previousId`: the id being mapped.
    pub user_id: &'a str,
    /// `userId`: the id it maps to.
    pub global_user_id: &'a str,
}

fn text(v: Option<AnyJson<'_>>) -> Option<Cow<'_, str>> {
    v?.text()
}

fn int(v: Option<AnyJson<'_>>) -> Option<i64> {
    let f = v?.lenient_f64()?;
    (f.fract() == 0.0 && f.abs() < 9e15).then_some(f as i64)
}

/// The spec event name when recognised, else the raw track name.
fn event_name<'a>(ev: &Event<'a>) -> &'a str {
    match ev.spec_kind() {
        Some(k) => k.name,
        None => ev.message().event().unwrap_or_default(),
    }
}

/// The common part of every event: ids, time, insert_id and context fields.
fn base<'a>(
    ev: &Event<'a>,
    event_type: Cow<'a, str>,
    user_id: Option<&'a str>,
    device_id: Option<&'a str>,
) -> AmpEvent<'a> {
    let msg = ev.message();
    let ctx = msg.field("context");
    // each context object looked up once (not once per field read from it)
    let obj = |k: &str| ctx?.get(k);
    let (device, os, loc, lib) = (obj("device"), obj("os"), obj("location"), obj("library"));
    let field = |o: Option<AnyJson<'a>>, k: &str| o?.get(k)?.as_str();
    let top = |k: &str| ctx?.get(k)?.as_str();
    let lnum = |k: &str| loc?.get(k)?.lenient_f64();
    AmpEvent {
        event_type,
        user_id,
        device_id,
        time: ev.timestamp_millis(),
        insert_id: Cow::Borrowed(ev.message_id()),
        event_properties: None,
        user_properties: None,
        groups: None,
        price: None,
        quantity: None,
        revenue: None,
        product_id: None,
        revenue_type: None,
        session_id: int(msg
            .field("integrations")
            .and_then(|i| i.get("Amplitude"))
            .and_then(|a| a.get("session_id"))),
        ip: top("ip"),
        platform: field(device, "type"),
        os_name: field(os, "name"),
        os_version: field(os, "version"),
        device_manufacturer: field(device, "manufacturer"),
        device_model: field(device, "model"),
        carrier: field(obj("network"), "carrier"),
        language: top("locale"),
        app_version: field(obj("app"), "version"),
        country: field(loc, "country"),
        region: field(loc, "region"),
        city: field(loc, "city"),
        location_lat: lnum("latitude"),
        location_lng: lnum("longitude"),
        user_agent: top("userAgent"),
        // `name/version` (or `name`), built without `format!`'s machinery: once per event
        library: field(lib, "name").map(|name| {
            let version = field(lib, "version");
            let mut s = String::with_capacity(name.len() + version.map_or(0, |v| v.len() + 1));
            s.push_str(name);
            if let Some(v) = version {
                s.push('/');
                s.push_str(v);
            }
            s
        }),
    }
}

/// The ids: `userId` must be valid when present (else the event would be attributed to no one
/// or to a device only, so it is rejected); `anonymousId` (else `context.device.id`) is dropped
/// when Amplitude would refuse it; at least one must remain.
fn ids<'a>(
    s: &AmplitudeSettings,
    ev: &Event<'a>,
) -> Result<(Option<&'a str>, Option<&'a str>), String> {
    let msg = ev.message();
    let min = s.min_id();
    let user = msg.user_id();
    if let Some(u) = user
        && !valid_id(u, min)
    {
        return Err(format!(
            "userId {u:?} is not an id Amplitude accepts (at least {min} characters, not a placeholder such as \"null\"); set min_id_length for shorter ids"
        ));
    }
    // a placeholder anonymousId ("null", too short) does not hide a usable device id
    let device = msg.anonymous_id().filter(|d| valid_id(d, min)).or_else(|| {
        msg.field("context")?
            .get("device")?
            .get("id")?
            .as_str()
            .filter(|d| valid_id(d, min))
    });
    if user.is_none() && device.is_none() {
        return Err(format!(
            "Amplitude needs a user_id or device_id of at least {min} characters that is not a placeholder (userId, anonymousId or context.device.id)"
        ));
    }
    Ok((user, device))
}

/// Map one event (see the table in [`super`]).
pub fn map(s: &AmplitudeSettings, ev: &Event<'_>) -> Mapped {
    let msg = ev.message();
    if msg.call() == CallType::Alias {
        let (Some(prev), Some(user)) = (msg.previous_id(), msg.user_id()) else {
            return Mapped::invalid(
                "alias needs userId and previousId for Amplitude's User Mapping API",
            );
        };
        return Mapped::one(Payload::json(
            USERMAP,
            &UserMapping {
                user_id: prev,
                global_user_id: user,
            },
        ));
    }
    let (user, device) = match ids(s, ev) {
        Ok(v) => v,
        Err(r) => return Mapped::invalid(r),
    };
    let props = msg.field("properties").and_then(AnyJson::as_object);
    let ctx_traits = msg
        .field("context")
        .and_then(|c| c.get("traits"))
        .and_then(AnyJson::as_object)
        .filter(|t| !t.is_empty());
    match msg.call() {
        CallType::Identify => {
            let mut e = base(ev, Cow::Borrowed("$identify"), user, device);
            let traits = msg.field("traits").and_then(AnyJson::as_object).or(msg
                .field("context")
                .and_then(|c| c.get("traits"))
                .and_then(AnyJson::as_object));
            e.user_properties = traits.map(UserProps::Set);
            Mapped::one(Payload::json(HTTPAPI, &e))
        }
        CallType::Group => {
            let Some(gid) = text(msg.field("groupId")) else {
                return Mapped::invalid("groupId: required for an Amplitude group");
            };
            let gid_ref: &str = &gid;
            let mut e = base(ev, Cow::Borrowed("$identify"), user, device);
            e.groups = Some(One(&s.group_type, gid_ref));
            e.user_properties = Some(UserProps::SetOne(&s.group_type, gid_ref));
            let mut out = vec![Payload::json(HTTPAPI, &e)];
            if let Some(t) = msg
                .field("traits")
                .and_then(AnyJson::as_object)
                .filter(|t| !t.is_empty())
            {
                out.push(Payload::json(
                    GROUPIDENTIFY,
                    &GroupIdentification {
                        group_type: &s.group_type,
                        group_value: Cow::Borrowed(gid_ref),
                        group_properties: UserProps::Set(t),
                    },
                ));
            }
            Mapped::Send(out)
        }
        CallType::Page | CallType::Screen => {
            let kind = if msg.call() == CallType::Page {
                "Page"
            } else {
                "Screen"
            };
            let name = match msg.name().filter(|n| !n.is_empty()) {
                Some(n) => Cow::Owned(format!("Viewed {n}")),
                None => Cow::Owned(format!("Viewed {kind}")),
            };
            let mut e = base(ev, name, user, device);
            e.event_properties = props;
            e.user_properties = ctx_traits.map(UserProps::Plain);
            Mapped::one(Payload::json(HTTPAPI, &e))
        }
        _ => track(ev, user, device, props, ctx_traits),
    }
}

fn track<'a>(
    ev: &Event<'a>,
    user: Option<&'a str>,
    device: Option<&'a str>,
    props: Option<AnyObj<'a>>,
    ctx_traits: Option<AnyObj<'a>>,
) -> Mapped {
    let name = event_name(ev);
    let mut e = base(ev, Cow::Borrowed(name), user, device);
    e.event_properties = props;
    e.user_properties = ctx_traits.map(UserProps::Plain);
    let get = |k: &str| props?.get(k);
    let num = |k: &str| get(k).and_then(AnyJson::lenient_f64);
    // orders read their amounts from the properties (a number or a numeric string, as the
    // typed spec event reads them, which is never built: a `String` per product field)
    match ev.spec_kind().map(|k| k.name) {
        Some("Order Completed") => {
            e.revenue = num("revenue").or_else(|| num("total"));
            e.price = num("price");
            e.quantity = int(get("quantity"));
            e.product_id = text(get("productId")).or_else(|| text(get("product_id")));
            e.revenue_type = Some("Purchase");
            let products = get("products").and_then(AnyJson::as_array);
            let mut out = Vec::with_capacity(1 + products.as_ref().map_or(0, Vec::len));
            out.push(Payload::json(HTTPAPI, &e));
            // the product objects as sent (every field, typed or not) are the event properties
            if let Some(products) = products {
                // the context fields are read once, not once per product
                let proto = base(ev, Cow::Borrowed("Product Purchased"), user, device);
                for (n, p) in products.iter().enumerate() {
                    let Some(p) = p.as_object() else { continue };
                    let mut pe = proto.clone();
                    // `messageId-n`, without `format!`'s machinery (once per product)
                    let id = ev.message_id();
                    let mut insert_id = String::with_capacity(id.len() + 4);
                    insert_id.push_str(id);
                    insert_id.push('-');
                    insert_id.push_str(itoa::Buffer::new().format(n));
                    pe.insert_id = Cow::Owned(insert_id);
                    pe.event_properties = Some(p);
                    pe.user_properties = e.user_properties;
                    out.push(Payload::json(HTTPAPI, &pe));
                }
            }
            Mapped::Send(out)
        }
        Some("Order Refunded") => {
            let amount = num("total")
                .or_else(|| num("revenue"))
                .or_else(|| num("value"));
            e.revenue = amount.map(|a| -a.abs());
            e.revenue_type = amount.map(|_| "Refund");
            Mapped::one(Payload::json(HTTPAPI, &e))
        }
        _ => Mapped::one(Payload::json(HTTPAPI, &e)),
    }
}
