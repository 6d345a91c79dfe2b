//! Event → GA4 payloads: the event names, params, items and user properties, and the
//! historical-window decision.
//!
//! One Segment event becomes exactly one GA4 event. The payload carries the GA4 event plus the
//! request-level identity (`client_id`/`app_instance_id`, `user_id`) and the user properties read
//! from `context.traits`; [`super::request`] puts payloads of one route (one client and user)
//! into one request body.

use super::settings::Ga4Settings;
use chrono::Duration;
use destination_kit::json::{AnyJson, AnyObj, Kind};
use destination_kit::{CallType, Event, Mapped};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::borrow::Cow;

/// How far back GA4 accepts an event time (older ones would be clamped silently by Google).
pub const MAX_AGE_HOURS: i64 = 72;
/// Most params per event.
pub const MAX_PARAMS: usize = 25;
/// Most user properties per request.
pub const MAX_USER_PROPERTIES: usize = 25;
/// Longest event or param name.
pub const MAX_NAME_LEN: usize = 40;
/// Longest param string value.
pub const MAX_PARAM_VALUE_LEN: usize = 100;
/// Longest user property name.
pub const MAX_USER_PROPERTY_NAME_LEN: usize = 24;
/// Longest user property string value.
pub const MAX_USER_PROPERTY_VALUE_LEN: usize = 36;
/// Most items per event.
pub const MAX_ITEMS: usize = 200;
/// Longest `user_id`.
pub const MAX_USER_ID_LEN: usize = 256;

/// Event names Google reserves for its own collection (Measurement Protocol rejects them).
pub const RESERVED_EVENT_NAMES: &[&str] = &[
    "ad_activeview",
    "ad_click",
    "ad_exposure",
    "ad_impression",
    "ad_query",
    "ad_reward",
    "adunit_exposure",
    "app_background",
    "app_clear_data",
    "app_exception",
    "app_install",
    "app_remove",
    "app_store_refund",
    "app_store_subscription_cancel",
    "app_store_subscription_convert",
    "app_store_subscription_renew",
    "app_update",
    "app_upgrade",
    "dynamic_link_app_open",
    "dynamic_link_app_update",
    "dynamic_link_first_open",
    "error",
    "firebase_campaign",
    "firebase_in_app_message_action",
    "firebase_in_app_message_dismiss",
    "firebase_in_app_message_impression",
    "first_open",
    "first_visit",
    "in_app_purchase",
    "notification_dismiss",
    "notification_foreground",
    "notification_open",
    "notification_receive",
    "notification_send",
    "os_update",
    "screen_view",
    "session_start",
    "user_engagement",
];

/// Name prefixes reserved for events, params and user properties.
pub const RESERVED_PREFIXES: &[&str] = &["google_", "ga_", "firebase_"];

/// User property names Google reserves.
pub const RESERVED_USER_PROPERTIES: &[&str] = &[
    "first_open_time",
    "first_visit_time",
    "last_deep_link_referrer",
    "user_id",
    "first_open_after_install",
];

/// Whether a property is never sent as a param (custom events, Signed Up …): the personal data
/// of [`PII_TRAITS`], except `name`, which in a property is a product's, a video's or a
/// promotion's name.
pub fn is_pii_param(name: &str) -> bool {
    name != "name" && PII_TRAITS.contains(&name)
}

/// Traits never sent as user properties: Google's policy forbids personally identifiable
/// information in Analytics.
pub const PII_TRAITS: &[&str] = &[
    "email",
    "phone",
    "name",
    "firstName",
    "lastName",
    "first_name",
    "last_name",
    "address",
    "username",
    "birthday",
];

/// Whether `name` is a valid GA4 event/param name: `[A-Za-z][A-Za-z0-9_]*`, at most `max`.
pub fn valid_name(name: &str, max: usize) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Whether `name` starts with a reserved prefix.
pub fn reserved_prefix(name: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A custom event name from a Segment name: spaces become `_`, other invalid characters are
/// dropped, leading non-letters are dropped. `Err` names the problem (empty, too long, reserved).
pub fn custom_event_name(raw: &str) -> Result<Cow<'_, str>, String> {
    let name: Cow<'_, str> = if valid_name(raw, usize::MAX) {
        Cow::Borrowed(raw)
    } else {
        let mut out = String::with_capacity(raw.len());
        for ch in raw.chars() {
            if ch == ' ' {
                if !out.is_empty() {
                    out.push('_');
                }
            } else if ch.is_ascii_alphanumeric() || ch == '_' {
                if out.is_empty() && !ch.is_ascii_alphabetic() {
                    continue;
                }
                out.push(ch);
            }
        }
        Cow::Owned(out)
    };
    if name.is_empty() {
        return Err(format!(
            "event name {raw:?} has no letters GA4 accepts (names are [A-Za-z][A-Za-z0-9_]*)"
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "event name {name:?} is {} characters; GA4 allows at most {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if RESERVED_EVENT_NAMES.contains(&name.as_ref()) || reserved_prefix(&name) {
        return Err(format!(
            "event name {name:?} is reserved by Google Analytics"
        ));
    }
    Ok(name)
}

// ---- wire types --------------------------------------------------------------------------------

/// One param value.
#[derive(Debug, Clone)]
pub enum Param<'a> {
    /// A number from the event, as sent.
    Ref(AnyJson<'a>),
    /// A string (borrowed or cut to the value limit).
    Str(Cow<'a, str>),
    /// A number.
    Num(f64),
    /// An integer.
    Int(i64),
    /// The `items` array.
    Items(Vec<Item<'a>>),
}

impl Serialize for Param<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Param::Ref(v) => v.serialize(s),
            Param::Str(v) => s.serialize_str(v),
            Param::Num(v) => s.serialize_f64(*v),
            Param::Int(v) => s.serialize_i64(*v),
            Param::Items(v) => v.serialize(s),
        }
    }
}

/// Event params in insertion order, at most [`MAX_PARAMS`].
#[derive(Debug, Clone, Default)]
pub struct Params<'a>(Vec<(Cow<'a, str>, Param<'a>)>);

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k.as_ref(), v)?;
        }
        m.end()
    }
}

fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => Cow::Owned(s[..i].to_string()),
        None => Cow::Borrowed(s),
    }
}

/// A scalar param value from JSON: strings (cut to the limit) and numbers pass, booleans become
/// `"true"`/`"false"`, anything else is not a param.
fn scalar(v: AnyJson<'_>, max: usize) -> Option<Param<'_>> {
    match v.kind() {
        Kind::String => v.as_str().map(|s| Param::Str(cut(s, max))),
        Kind::Number => Some(Param::Ref(v)),
        Kind::Bool => Some(Param::Str(Cow::Borrowed(if v.as_bool()? {
            "true"
        } else {
            "false"
        }))),
        _ => None,
    }
}

/// A string from a string or number value.
fn text(v: Option<AnyJson<'_>>) -> Option<Cow<'_, str>> {
    v?.text()
}

/// An integer param (`index`, `quantity`): a number or numeric string, rounded to the nearest
/// integer (GA4 counts whole items; dropping `2.5` would leave GA4 to assume 1).
fn int(v: Option<AnyJson<'_>>) -> Option<i64> {
    let f = v?.lenient_f64()?;
    if f.abs() >= 9e15 {
        return None;
    }
    // whole numbers (nearly all) without a call to libm's `round`
    let i = f as i64;
    Some(if i as f64 == f { i } else { f.round() as i64 })
}

impl<'a> Params<'a> {
    /// Add a param (ignored beyond [`MAX_PARAMS`] or when the name is already there).
    pub fn put(&mut self, k: impl Into<Cow<'a, str>>, v: Param<'a>) {
        let k = k.into();
        if self.0.len() < MAX_PARAMS && !self.0.iter().any(|(n, _)| *n == k) {
            self.0.push((k, v));
        }
    }
    fn text(&mut self, k: &'static str, v: Option<AnyJson<'a>>) {
        if let Some(t) = text(v) {
            self.put_text(k, t);
        }
    }
    /// A string param, cut to the value limit.
    fn put_text(&mut self, k: &'static str, t: Cow<'a, str>) {
        self.put(
            k,
            Param::Str(match t {
                Cow::Borrowed(b) => cut(b, MAX_PARAM_VALUE_LEN),
                Cow::Owned(o) => Cow::Owned(cut(&o, MAX_PARAM_VALUE_LEN).into_owned()),
            }),
        );
    }
    /// Every scalar property whose name is a valid param name, in key order, except personal
    /// data ([`is_pii_param`]) and the names in `skip` (taken under another name).
    fn rest(&mut self, props: AnyObj<'a>, skip: &[&str]) {
        for (k, v) in props.sorted() {
            if self.0.len() >= MAX_PARAMS {
                break;
            }
            if !valid_name(k, MAX_NAME_LEN)
                || reserved_prefix(k)
                || is_pii_param(k)
                || skip.contains(&k)
            {
                continue;
            }
            if let Some(p) = scalar(v, MAX_PARAM_VALUE_LEN) {
                self.put(k, p);
            }
        }
    }
    /// The param names, in order (tests).
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// One entry of `items`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Item<'a> {
    /// From `product_id` (else `sku`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<Cow<'a, str>>,
    /// From `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_name: Option<Cow<'a, str>>,
    /// From `affiliation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affiliation: Option<Cow<'a, str>>,
    /// From `coupon`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon: Option<Cow<'a, str>>,
    /// From `position`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    /// From `brand`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_brand: Option<Cow<'a, str>>,
    /// From `category`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_category: Option<Cow<'a, str>>,
    /// From `variant`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_variant: Option<Cow<'a, str>>,
    /// From `price`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// From `quantity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
}

/// The product fields an item reads, found in one pass over the product's entries (a lookup
/// per field walked a dozen entries eleven times: ~2,300 instructions per item).
#[derive(Default)]
struct ProductFields<'a> {
    product_id: Option<AnyJson<'a>>,
    sku: Option<AnyJson<'a>>,
    name: Option<AnyJson<'a>>,
    affiliation: Option<AnyJson<'a>>,
    coupon: Option<AnyJson<'a>>,
    position: Option<AnyJson<'a>>,
    brand: Option<AnyJson<'a>>,
    category: Option<AnyJson<'a>>,
    variant: Option<AnyJson<'a>>,
    price: Option<AnyJson<'a>>,
    quantity: Option<AnyJson<'a>>,
}

impl<'a> ProductFields<'a> {
    fn read(p: AnyObj<'a>) -> ProductFields<'a> {
        let mut f = ProductFields::default();
        for (k, v) in p.iter() {
            let field = match k {
                "product_id" => &mut f.product_id,
                "sku" => &mut f.sku,
                "name" => &mut f.name,
                "affiliation" => &mut f.affiliation,
                "coupon" => &mut f.coupon,
                "position" => &mut f.position,
                "brand" => &mut f.brand,
                "category" => &mut f.category,
                "variant" => &mut f.variant,
                "price" => &mut f.price,
                "quantity" => &mut f.quantity,
                _ => continue,
            };
            *field = Some(v);
        }
        f
    }
}

/// Where a product sits in the event, for an error that names it. Written out only when there is
/// an error: formatting `properties.products[i]` for every product of every event cost ~400
/// instructions and an allocation each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The properties themselves (a single-product event).
    Properties,
    /// `properties.products[i]`.
    Product(usize),
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Properties => f.write_str("properties"),
            At::Product(i) => write!(f, "properties.products[{i}]"),
        }
    }
}

/// A product object → an item. `Err` when it has neither id nor name (GA4 requires one).
pub fn item<'a>(p: AnyObj<'a>, path: At) -> Result<Item<'a>, String> {
    let f = ProductFields::read(p);
    let it = Item {
        item_id: text(f.product_id).or_else(|| text(f.sku)),
        item_name: text(f.name),
        affiliation: text(f.affiliation),
        coupon: text(f.coupon),
        index: int(f.position),
        item_brand: text(f.brand),
        item_category: text(f.category),
        item_variant: text(f.variant),
        price: f.price.and_then(AnyJson::lenient_f64),
        quantity: int(f.quantity),
    };
    if it.item_id.is_none() && it.item_name.is_none() {
        return Err(format!(
            "{path}: a GA4 item needs product_id (or sku) or name"
        ));
    }
    Ok(it)
}

/// Refuse more products than GA4 takes items (sending a cut list would lose some silently).
fn check_item_count(n: usize) -> Result<(), String> {
    if n > MAX_ITEMS {
        return Err(format!(
            "properties.products has {n} products; GA4 takes at most {MAX_ITEMS} items per event"
        ));
    }
    Ok(())
}

fn items_from_products(props: AnyObj<'_>) -> Result<Vec<Item<'_>>, String> {
    let products = match props.get("products") {
        None => return Ok(Vec::new()),
        Some(v) if v.is_null() => return Ok(Vec::new()),
        Some(v) => v.as_array(),
    };
    match products {
        Some(a) if a.len() > MAX_ITEMS => check_item_count(a.len()).map(|_| Vec::new()),
        Some(a) => a
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let path = At::Product(i);
                p.as_object()
                    .ok_or_else(|| format!("{path}: expected an object"))
                    .and_then(|o| item(o, path))
            })
            .collect(),
        None => Err("properties.products: expected an array".into()),
    }
}

/// The GA4 event.
#[derive(Debug, Clone, Serialize)]
pub struct Ga4Event<'a> {
    /// Event name.
    pub name: Cow<'a, str>,
    /// Params.
    pub params: Params<'a>,
    /// Event time in Unix microseconds.
    pub timestamp_micros: i64,
}

/// User properties, `{name: {value}}`.
#[derive(Debug, Clone, Default)]
pub struct UserProperties<'a>(Vec<(&'a str, Param<'a>)>);

impl Serialize for UserProperties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct V<'b, 'a> {
            value: &'b Param<'a>,
        }
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, &V { value: v })?;
        }
        m.end()
    }
}

/// `context.traits` → user properties: scalar values under valid, unreserved names, no PII,
/// strings cut to 36 characters, at most 25.
pub fn user_properties(traits: Option<AnyObj<'_>>) -> Option<UserProperties<'_>> {
    let t = traits?;
    let mut out = Vec::new();
    for (k, v) in t.sorted() {
        if out.len() >= MAX_USER_PROPERTIES {
            break;
        }
        if !valid_name(k, MAX_USER_PROPERTY_NAME_LEN)
            || reserved_prefix(k)
            || RESERVED_USER_PROPERTIES.contains(&k)
            || PII_TRAITS.contains(&k)
        {
            continue;
        }
        let Some(p) = scalar(v, MAX_USER_PROPERTY_VALUE_LEN) else {
            continue;
        };
        out.push((k, p));
    }
    (!out.is_empty()).then_some(UserProperties(out))
}

// ---- the mapping ---------------------------------------------------------------------------------

/// The spec event name when recognised, else the raw track name.
fn event_name<'a>(ev: &Event<'a>) -> Option<&'a str> {
    match ev.spec_kind() {
        Some(k) => Some(k.name),
        None => ev.message().event(),
    }
}

/// Check the GA4 time window: at most 72 hours old, at most `max_future_skew_secs` ahead.
pub fn check_time(s: &Ga4Settings, ev: &Event<'_>) -> Result<(), String> {
    let now = s.now();
    let t = ev.time();
    let age = now - t;
    if age > Duration::hours(MAX_AGE_HOURS) {
        return Err(format!(
            "event time {} is {} hours before now ({}); GA4 accepts at most {MAX_AGE_HOURS} hours of backdating and would silently move it",
            ev.timestamp_iso(),
            age.num_hours(),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    if -age > Duration::seconds(s.max_future_skew_secs as i64) {
        return Err(format!(
            "event time {} is {} seconds after now ({}); more than the allowed clock skew of {} s",
            ev.timestamp_iso(),
            (-age).num_seconds(),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            s.max_future_skew_secs
        ));
    }
    Ok(())
}

/// Map one event (see the table in [`super`]).
pub fn map(s: &Ga4Settings, ev: &Event<'_>) -> Mapped {
    match ev.call() {
        CallType::Identify => {
            return Mapped::unsupported(
                "GA4 Measurement Protocol has no identify call: a request needs at least one event, and user properties only travel with events (send traits in context.traits on track/page/screen calls)",
            );
        }
        CallType::Alias => {
            return Mapped::unsupported("GA4 has no alias or user-merge API");
        }
        _ => {}
    }
    if let Err(reason) = check_time(s, ev) {
        return Mapped::invalid(reason);
    }
    let msg = ev.message();
    let client = if s.is_app_stream() {
        msg.field("context")
            .and_then(|c| c.get("device")?.get("id")?.as_str())
            .or_else(|| msg.anonymous_id())
            .or_else(|| msg.user_id())
    } else {
        msg.anonymous_id().or_else(|| msg.user_id())
    };
    let Some(client) = client else {
        return Mapped::invalid("GA4 needs a client id: anonymousId or userId");
    };
    let user = msg.user_id();
    if let Some(u) = user
        && u.len() > MAX_USER_ID_LEN
        && u.chars().count() > MAX_USER_ID_LEN
    {
        return Mapped::invalid(format!(
            "userId is longer than GA4's {MAX_USER_ID_LEN} characters"
        ));
    }
    let e = match ga4_event(s, ev) {
        Ok(e) => e,
        Err(r) => return Mapped::invalid(r),
    };
    let traits = msg.field("context").and_then(|c| c.get("traits"));
    let props = user_properties(traits.and_then(AnyJson::as_object));
    Mapped::one(super::wire::payload(client, user, props.as_ref(), &e))
}

/// The GA4 event for one Segment event.
pub fn ga4_event<'a>(s: &'a Ga4Settings, ev: &Event<'a>) -> Result<Ga4Event<'a>, String> {
    let msg = ev.message();
    let props = ev.props_any();
    let mut p = Params::default();
    let name: Cow<'a, str> = match ev.call() {
        CallType::Page => {
            let ctx_page = msg
                .field("context")
                .and_then(|c| c.get("page"))
                .and_then(AnyJson::as_object);
            let pick = |k: &str| {
                props
                    .get(k)
                    .filter(|v| v.is_string())
                    .or_else(|| ctx_page?.get(k))
            };
            p.text("page_location", pick("url"));
            p.text("page_referrer", pick("referrer"));
            p.text("page_title", pick("title"));
            p.text("page_name", msg.field("name"));
            p.text("page_category", msg.field("category"));
            Cow::Borrowed("page_view")
        }
        CallType::Screen => {
            p.text("screen_name", msg.field("name"));
            p.rest(props, &[]);
            Cow::Borrowed("screen")
        }
        CallType::Group => {
            p.text("group_id", msg.field("groupId"));
            Cow::Borrowed("join_group")
        }
        // orders read from the properties like every other event (their typed event, a
        // `String` per product field, is never built): the same item rules for all of them
        _ => match ev.spec_kind().map(|k| k.name) {
            Some("Order Completed") => order(s, props, &mut p, OrderKind::Purchase)?,
            Some("Order Refunded") => order(s, props, &mut p, OrderKind::Refund)?,
            _ => track_event(s, props, &mut p, event_name(ev).unwrap_or_default())?,
        },
    };
    Ok(Ga4Event {
        name,
        params: p,
        timestamp_micros: ev.timestamp_micros(),
    })
}

fn value_and_currency<'a>(
    s: &'a Ga4Settings,
    cur: Option<&'a str>,
    p: &mut Params<'a>,
    value: Option<f64>,
) {
    match (value, cur) {
        (Some(v), c) => {
            p.put(
                "currency",
                Param::Str(Cow::Borrowed(c.unwrap_or(&s.default_currency))),
            );
            p.put("value", Param::Num(v));
        }
        (None, Some(c)) => p.put("currency", Param::Str(Cow::Borrowed(c))),
        (None, None) => {}
    }
}

fn currency(props: AnyObj<'_>) -> Option<&str> {
    props.get("currency").and_then(AnyJson::as_str)
}

fn num(props: AnyObj<'_>, k: &str) -> Option<f64> {
    props.get(k).and_then(AnyJson::lenient_f64)
}

/// A single product at the root of the properties: items = [it], value = price × quantity.
fn single_item<'a>(
    s: &'a Ga4Settings,
    props: AnyObj<'a>,
    p: &mut Params<'a>,
) -> Result<(), String> {
    let it = item(props, At::Properties)?;
    let value = num(props, "value").or_else(|| {
        it.price
            .map(|pr| pr * it.quantity.map(|q| q as f64).unwrap_or(1.0))
    });
    value_and_currency(s, currency(props), p, value);
    p.put("items", Param::Items(vec![it]));
    Ok(())
}

/// Which order event: Order Completed → `purchase`, Order Refunded → `refund`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderKind {
    Purchase,
    Refund,
}

/// `purchase` / `refund` from Order Completed / Order Refunded: `transaction_id` from
/// `order_id` (required), `value` from `total` (a purchase falls back to `revenue`), and for a
/// purchase `affiliation`, `coupon`, `shipping` and `tax`; `items` from `products`.
fn order<'a>(
    s: &'a Ga4Settings,
    props: AnyObj<'a>,
    p: &mut Params<'a>,
    kind: OrderKind,
) -> Result<Cow<'a, str>, String> {
    let event = match kind {
        OrderKind::Purchase => "purchase",
        OrderKind::Refund => "refund",
    };
    let Some(tid) = text(props.get("order_id")).filter(|t| !t.trim().is_empty()) else {
        return Err(format!(
            "properties.order_id: required for GA4 {event} (transaction_id); an empty transaction_id would de-duplicate every purchase"
        ));
    };
    p.put_text("transaction_id", tid);
    let value = match kind {
        OrderKind::Purchase => num(props, "total").or_else(|| num(props, "revenue")),
        OrderKind::Refund => num(props, "total"),
    };
    value_and_currency(s, currency(props), p, value);
    if kind == OrderKind::Purchase {
        p.text("affiliation", props.get("affiliation"));
        p.text("coupon", props.get("coupon"));
        for k in ["shipping", "tax"] {
            if let Some(x) = num(props, k) {
                p.put(k, Param::Num(x));
            }
        }
    }
    products_as_items(props, p)?;
    Ok(Cow::Borrowed(event))
}

/// `products`, when there are any, as `items` (any GA4 event may carry items).
fn products_as_items<'a>(props: AnyObj<'a>, p: &mut Params<'a>) -> Result<(), String> {
    let items = items_from_products(props)?;
    if !items.is_empty() {
        p.put("items", Param::Items(items));
    }
    Ok(())
}

fn track_event<'a>(
    s: &'a Ga4Settings,
    props: AnyObj<'a>,
    p: &mut Params<'a>,
    name: &'a str,
) -> Result<Cow<'a, str>, String> {
    let native = match name {
        "Products Searched" => {
            p.text("search_term", props.get("query"));
            "search"
        }
        "Product List Viewed" => {
            p.text("item_list_id", props.get("list_id"));
            p.text("item_list_name", props.get("category"));
            p.put("items", Param::Items(items_from_products(props)?));
            "view_item_list"
        }
        "Product Clicked" => {
            p.put("items", Param::Items(vec![item(props, At::Properties)?]));
            "select_item"
        }
        "Product Viewed" => {
            single_item(s, props, p)?;
            "view_item"
        }
        "Product Added" => {
            single_item(s, props, p)?;
            "add_to_cart"
        }
        "Product Removed" => {
            single_item(s, props, p)?;
            "remove_from_cart"
        }
        "Product Added to Wishlist" => {
            single_item(s, props, p)?;
            "add_to_wishlist"
        }
        "Cart Viewed" => {
            value_and_currency(s, currency(props), p, num(props, "value"));
            p.put("items", Param::Items(items_from_products(props)?));
            "view_cart"
        }
        "Checkout Started" => {
            value_and_currency(
                s,
                currency(props),
                p,
                num(props, "value").or_else(|| num(props, "revenue")),
            );
            p.text("coupon", props.get("coupon"));
            p.put("items", Param::Items(items_from_products(props)?));
            "begin_checkout"
        }
        "Checkout Step Completed" => {
            p.text("shipping_tier", props.get("shipping_method"));
            p.text("payment_type", props.get("payment_method"));
            "add_shipping_info"
        }
        "Payment Info Entered" => {
            p.text("payment_type", props.get("payment_method"));
            p.text("shipping_tier", props.get("shipping_method"));
            "add_payment_info"
        }
        "Promotion Viewed" | "Promotion Clicked" => {
            p.text("promotion_id", props.get("promotion_id"));
            p.text("promotion_name", props.get("name"));
            p.text("creative_name", props.get("creative"));
            p.text("creative_slot", props.get("position"));
            if name == "Promotion Viewed" {
                "view_promotion"
            } else {
                "select_promotion"
            }
        }
        "Product Shared" => {
            p.text("method", props.get("share_via"));
            p.put("content_type", Param::Str(Cow::Borrowed("product")));
            // product_id, else sku: the same id an item of this product gets
            let id = text(props.get("product_id"))
                .filter(|t| !t.is_empty())
                .or_else(|| text(props.get("sku")));
            if let Some(id) = id {
                p.put_text("item_id", id);
            }
            "share"
        }
        "Cart Shared" => {
            p.text("method", props.get("share_via"));
            p.put("content_type", Param::Str(Cow::Borrowed("cart")));
            p.text("item_id", props.get("cart_id"));
            products_as_items(props, p)?;
            "share"
        }
        "Video Playback Started" | "Video Content Playing" | "Video Playback Completed" => {
            let pos = num(props, "position");
            let len = num(props, "total_length");
            if let Some(pos) = pos {
                p.put("video_current_time", Param::Num(pos));
            }
            if let Some(len) = len {
                p.put("video_duration", Param::Num(len));
            }
            if let (Some(pos), Some(len)) = (pos, len)
                && len > 0.0
            {
                p.put(
                    "video_percent",
                    Param::Int(((pos / len) * 100.0).round().clamp(0.0, 100.0) as i64),
                );
            }
            p.text("video_title", props.get("title"));
            p.text("video_provider", props.get("video_player"));
            p.text("video_url", props.get("url"));
            // the spec's session_id is the playback's; GA4's `session_id` param is the
            // Analytics session, so the playback's goes as video_session_id
            p.text("video_session_id", props.get("session_id"));
            p.rest(props, &["session_id"]);
            match name {
                "Video Playback Started" => "video_start",
                "Video Content Playing" => "video_progress",
                _ => "video_complete",
            }
        }
        // the B2B SaaS spec's sign-up and sign-in: GA4's recommended events (`method` when
        // the event says how; personal fields such as email are never params)
        "Signed Up" | "Signed In" => {
            p.text("method", props.get("method"));
            p.rest(props, &[]);
            if name == "Signed Up" {
                "sign_up"
            } else {
                "login"
            }
        }
        _ => {
            let n = custom_event_name(name)?;
            products_as_items(props, p)?;
            p.rest(props, &[]);
            return Ok(n);
        }
    };
    Ok(Cow::Borrowed(native))
}
