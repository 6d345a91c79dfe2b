//! Event → Braze `/users/track` objects (`attributes`, `events`, `purchases` parts) and
//! `/users/merge` updates.

use super::settings::BrazeSettings;
use chrono::{DateTime, TimeDelta, Utc};
use destination_kit::{CallType, Event, Mapped, Payload};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// Route of `/users/track` payloads.
pub const ROUTE_TRACK: &str = "track";
/// Route of `/users/merge` payloads (alias).
pub const ROUTE_MERGE: &str = "merge";
/// Part of attribute objects.
pub const PART_ATTRIBUTES: &str = "attributes";
/// Part of event objects.
pub const PART_EVENTS: &str = "events";
/// Part of purchase objects (not produced: Braze deprecates them for the eCommerce events).
pub const PART_PURCHASES: &str = "purchases";
/// `alias_label` of user aliases made from `anonymousId`.
pub const ANONYMOUS_LABEL: &str = "anonymous_id";
/// How far ahead of now an event time may be (Braze replaces a future time by the receipt time).
pub const FUTURE_LIMIT: TimeDelta = TimeDelta::hours(1);

/// One of Braze's recommended eCommerce events: its name, required and optional properties.
#[derive(Debug, Clone, Copy)]
pub struct EcommerceSchema {
    /// The exact event name.
    pub name: &'static str,
    /// Properties that must be present.
    pub required: &'static [&'static str],
    /// Properties that may be present (custom data goes only in `metadata`).
    pub optional: &'static [&'static str],
}

/// The six recommended eCommerce events (strict schema: exact names, required fields, money ≥ 0,
/// custom fields only in `metadata`).
pub const ECOMMERCE: &[EcommerceSchema] = &[
    EcommerceSchema {
        name: "ecommerce.product_viewed",
        required: &[
            "product_id",
            "product_name",
            "variant_id",
            "price",
            "currency",
            "source",
        ],
        optional: &["image_url", "product_url", "type", "metadata"],
    },
    EcommerceSchema {
        name: "ecommerce.cart_updated",
        required: &["cart_id", "currency", "products", "source", "action"],
        optional: &["total_value", "metadata"],
    },
    EcommerceSchema {
        name: "ecommerce.checkout_started",
        required: &[
            "checkout_id",
            "total_value",
            "currency",
            "products",
            "source",
        ],
        optional: &["cart_id", "metadata"],
    },
    EcommerceSchema {
        name: "ecommerce.order_placed",
        required: &["order_id", "total_value", "currency", "products", "source"],
        optional: &["cart_id", "total_discounts", "discounts", "metadata"],
    },
    EcommerceSchema {
        name: "ecommerce.order_refunded",
        required: &["order_id", "total_value", "currency", "products", "source"],
        optional: &["total_discounts", "discounts", "metadata"],
    },
    EcommerceSchema {
        name: "ecommerce.order_cancelled",
        required: &[
            "order_id",
            "total_value",
            "currency",
            "products",
            "source",
            "cancel_reason",
        ],
        optional: &["total_discounts", "discounts", "metadata"],
    },
];

/// Fields each entry of `products[]` needs.
pub const PRODUCT_REQUIRED: &[&str] = &[
    "product_id",
    "product_name",
    "variant_id",
    "quantity",
    "price",
];
/// Fields an entry of `products[]` may add.
pub const PRODUCT_OPTIONAL: &[&str] = &["image_url", "product_url", "metadata"];
/// Money fields that must be ≥ 0.
pub const MONEY: &[&str] = &["price", "total_value", "total_discounts"];

// ---- identity --------------------------------------------------------------------------------

/// A user alias (`{alias_name, alias_label}`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct UserAlias<'a> {
    /// The alias (the anonymousId).
    pub alias_name: &'a str,
    /// Its label.
    pub alias_label: &'static str,
}

/// Who an object is about: `external_id` (userId), else a `user_alias` from anonymousId with
/// `_update_existing_only: false` so Braze creates the alias-only profile.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Who<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_alias: Option<UserAlias<'a>>,
    #[serde(
        rename = "_update_existing_only",
        skip_serializing_if = "Option::is_none"
    )]
    update_existing_only: Option<bool>,
}

impl<'a> Who<'a> {
    /// The identifier of an event, or `None` when it has neither userId nor anonymousId.
    pub fn of(ev: &Event<'a>) -> Option<Who<'a>> {
        let msg = ev.message();
        if let Some(u) = msg.user_id() {
            return Some(Who {
                external_id: Some(u),
                user_alias: None,
                update_existing_only: None,
            });
        }
        msg.anonymous_id().map(|a| Who {
            external_id: None,
            user_alias: Some(UserAlias {
                alias_name: a,
                alias_label: ANONYMOUS_LABEL,
            }),
            update_existing_only: Some(false),
        })
    }
}

// ---- custom events (the hot path) ------------------------------------------------------------

/// Custom properties without keys Braze refuses (a leading `$`, empty names).
pub(crate) struct CleanProps<'a> {
    props: Option<&'a Map<String, Value>>,
    extra: Vec<(&'static str, &'a Value)>,
}

impl Serialize for CleanProps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        for (k, v) in self.props.into_iter().flatten() {
            if !k.is_empty() && !k.starts_with('$') && !self.extra.iter().any(|(e, _)| e == k) {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// One `events[]` object.
#[derive(Serialize)]
pub(crate) struct BrazeEvent<'a, P: Serialize> {
    #[serde(flatten)]
    who: Who<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<&'a str>,
    name: Cow<'a, str>,
    time: String,
    properties: P,
}

fn event_payload<P: Serialize>(
    s: &BrazeSettings,
    ev: &Event<'_>,
    who: Who<'_>,
    name: Cow<'_, str>,
    properties: P,
) -> Payload {
    let e = BrazeEvent {
        who,
        app_id: s.app_id.as_deref(),
        name,
        time: ev.timestamp_iso(),
        properties,
    };
    Payload::json(ROUTE_TRACK, &e).part(PART_EVENTS)
}

fn custom_event(s: &BrazeSettings, ev: &Event<'_>, who: Who<'_>, name: &str) -> Payload {
    event_payload(
        s,
        ev,
        who,
        Cow::Borrowed(name),
        CleanProps {
            props: ev.properties(),
            extra: Vec::new(),
        },
    )
}

fn attributes_payload(who: Who<'_>, attrs: Map<String, Value>) -> Payload {
    let mut obj = match serde_json::to_value(who) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    obj.extend(attrs);
    Payload::json(ROUTE_TRACK, &obj).part(PART_ATTRIBUTES)
}

// ---- entry point -----------------------------------------------------------------------------

/// The spec name of a recognised specced event (v1 aliases normalised to the v2 name).
pub fn spec_name(ev: &Event<'_>) -> Option<&'static str> {
    ev.spec_kind().map(|k| k.name)
}

fn check_time(ev: &Event<'_>, now: DateTime<Utc>) -> Result<(), Mapped> {
    if ev.time() > now + FUTURE_LIMIT {
        return Err(Mapped::invalid(format!(
            "timestamp {}: more than 1 hour after now ({}); Braze would replace it by the time of receipt",
            ev.timestamp_iso(),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    Ok(())
}

/// Map one event (see the table in the module docs).
pub fn map(s: &BrazeSettings, ev: &Event<'_>) -> Mapped {
    if ev.call() == CallType::Alias {
        return map_alias(ev);
    }
    if let Err(m) = check_time(ev, s.now()) {
        return m;
    }
    let Some(who) = Who::of(ev) else {
        return Mapped::invalid("userId/anonymousId: Braze needs external_id or a user alias");
    };
    match ev.call() {
        CallType::Track => map_track(s, ev, who),
        CallType::Page | CallType::Screen => map_view(s, ev, who),
        CallType::Identify => map_identify(ev, who),
        CallType::Group => map_group(ev, who),
        CallType::Alias => unreachable!("handled above"),
    }
}

fn map_track(s: &BrazeSettings, ev: &Event<'_>, who: Who<'_>) -> Mapped {
    let spec = spec_name(ev);
    let name = spec.unwrap_or_else(|| ev.event().unwrap_or_default());
    if let Some(spec) = spec {
        if let Some(p) = ecommerce_event(s, ev, who, spec) {
            return Mapped::one(p);
        }
        match spec {
            "Unsubscribed" => {
                let mut attrs = Map::new();
                match ev.props().get("list_id").and_then(id_string) {
                    Some(list) => {
                        attrs.insert(
                            "subscription_groups".into(),
                            json!([{"subscription_group_id": list, "subscription_state": "unsubscribed"}]),
                        );
                    }
                    None => {
                        attrs.insert("email_subscribe".into(), json!("unsubscribed"));
                    }
                }
                return Mapped::Send(vec![
                    attributes_payload(who, attrs),
                    custom_event(s, ev, who, name),
                ]);
            }
            "Email Marked as Spam" => {
                let mut attrs = Map::new();
                attrs.insert("marked_email_as_spam_at".into(), json!(ev.timestamp_iso()));
                return Mapped::Send(vec![
                    attributes_payload(who, attrs),
                    custom_event(s, ev, who, name),
                ]);
            }
            _ => {}
        }
    }
    if name.is_empty() {
        return Mapped::invalid("event: Braze needs an event name");
    }
    Mapped::one(custom_event(s, ev, who, name))
}

fn map_view(s: &BrazeSettings, ev: &Event<'_>, who: Who<'_>) -> Mapped {
    let kind = if ev.call() == CallType::Page {
        "Page"
    } else {
        "Screen"
    };
    // `Viewed {category} {name} Page` / `Viewed {name} Screen` (partners.md, as Rudder names
    // them), leaving out what the call does not have
    let category = (kind == "Page")
        .then(|| ev.get("category").and_then(Value::as_str))
        .flatten()
        .filter(|c| !c.is_empty());
    let name = [category, ev.name().filter(|n| !n.is_empty())]
        .into_iter()
        .flatten()
        .fold(String::from("Viewed"), |mut out, part| {
            out.push(' ');
            out.push_str(part);
            out
        })
        + " "
        + kind;
    let extra: Vec<(&'static str, &Value)> = ["name", "category"]
        .into_iter()
        .filter_map(|k| ev.get(k).map(|v| (k, v)))
        .collect();
    Mapped::one(event_payload(
        s,
        ev,
        who,
        Cow::Owned(name),
        CleanProps {
            props: ev.properties(),
            extra,
        },
    ))
}

/// Segment traits Braze has a standard profile field for (handled here, not copied as custom).
const HANDLED_TRAITS: &[&str] = &[
    "email",
    "firstName",
    "first_name",
    "lastName",
    "last_name",
    "phone",
    "birthday",
    "gender",
    "address",
];

fn gender(v: &str) -> Option<&'static str> {
    match v.trim().to_ascii_lowercase().as_str() {
        "m" | "male" | "man" => Some("M"),
        "f" | "female" | "woman" => Some("F"),
        "o" | "other" | "non-binary" | "nonbinary" => Some("O"),
        "n" | "not applicable" => Some("N"),
        "p" | "prefer not to say" => Some("P"),
        _ => None,
    }
}

fn map_identify(ev: &Event<'_>, who: Who<'_>) -> Mapped {
    let msg = ev.message();
    let Some(traits) = msg.get("traits").and_then(Value::as_object) else {
        return Mapped::unsupported("identify without traits: no attribute to set");
    };
    let mut a = Map::new();
    let str_trait = |camel: &str| msg.trait_value(camel).and_then(Value::as_str);
    for (braze, seg) in [
        ("email", "email"),
        ("first_name", "firstName"),
        ("last_name", "lastName"),
        ("phone", "phone"),
    ] {
        if let Some(v) = str_trait(seg) {
            a.insert(braze.into(), json!(v));
        }
    }
    // the date part of an ISO date or date-time (`get`: a birthday written in other scripts
    // may have no character boundary at byte 10)
    if let Some(d) = str_trait("birthday").and_then(|b| b.get(..10))
        && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok()
    {
        a.insert("dob".into(), json!(d));
    }
    if let Some(g) = str_trait("gender").and_then(gender) {
        a.insert("gender".into(), json!(g));
    }
    if let Some(addr) = traits.get("address").and_then(Value::as_object) {
        if let Some(c) = addr.get("country").and_then(Value::as_str) {
            a.insert("country".into(), json!(c));
        }
        if let Some(c) = addr.get("city").and_then(Value::as_str) {
            a.insert("home_city".into(), json!(c));
        }
        // the rest of the address (street, postal code, state) as a nested custom attribute
        let rest: Map<String, Value> = addr
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "country" | "city"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !rest.is_empty() {
            a.insert("address".into(), Value::Object(rest));
        }
    }
    for (k, v) in traits {
        if HANDLED_TRAITS.contains(&k.as_str()) || k.starts_with('$') || k.is_empty() {
            continue;
        }
        a.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if a.is_empty() {
        return Mapped::unsupported("identify without traits: no attribute to set");
    }
    Mapped::one(attributes_payload(who, a))
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn map_group(ev: &Event<'_>, who: Who<'_>) -> Mapped {
    let Some(group) = ev.get("groupId").and_then(id_string) else {
        return Mapped::invalid("groupId: missing");
    };
    let mut a = Map::new();
    a.insert("segment_groups".into(), json!({"add": [group]}));
    Mapped::one(attributes_payload(who, a))
}

fn map_alias(ev: &Event<'_>) -> Mapped {
    let (Some(prev), Some(user)) = (ev.previous_id().filter(|p| !p.is_empty()), ev.user_id())
    else {
        return Mapped::invalid("alias: needs previousId and userId");
    };
    let update = json!({
        "identifier_to_merge": {"user_alias": {"alias_name": prev, "alias_label": ANONYMOUS_LABEL}},
        "identifier_to_keep": {"external_id": user},
    });
    Mapped::one(Payload::json(ROUTE_MERGE, &update))
}

// ---- eCommerce -------------------------------------------------------------------------------
//
// Typed structs borrowing from the event (eCommerce events are most of a shop's traffic).

/// A number or numeric string.
fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn money(v: Option<&Value>) -> Option<f64> {
    num(v).filter(|f| *f >= 0.0)
}

/// A non-empty string id, or a number as its text.
fn id_cow(v: Option<&Value>) -> Option<Cow<'_, str>> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

fn str_of<'a>(p: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    p.get(k).and_then(Value::as_str)
}

/// The keys of `map` not in `used` nor `skip` (nor refused by Braze), serialised as an object:
/// Braze's `metadata`, the only place custom fields may go.
#[derive(Clone, Copy)]
struct Meta<'a> {
    map: Option<&'a Map<String, Value>>,
    used: &'a [&'static str],
    skip: &'static [&'static str],
}

impl<'a> Meta<'a> {
    fn iter(&self) -> impl Iterator<Item = (&'a String, &'a Value)> + '_ {
        self.map.into_iter().flatten().filter(|(k, _)| {
            let k = k.as_str();
            !k.is_empty()
                && !k.starts_with('$')
                && !self.used.contains(&k)
                && !self.skip.contains(&k)
        })
    }
    fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl Serialize for Meta<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Keys of a Segment product that become Braze product fields (the rest goes to `metadata`).
const PRODUCT_KEYS: &[&str] = &[
    "product_id",
    "name",
    "variant",
    "quantity",
    "price",
    "image_url",
    "url",
];

/// One entry of Braze's `products[]`.
#[derive(Serialize)]
struct BrazeProduct<'a> {
    product_id: Cow<'a, str>,
    product_name: &'a str,
    variant_id: Cow<'a, str>,
    quantity: i64,
    price: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Meta::is_empty")]
    metadata: Meta<'a>,
}

/// A Segment product → a Braze product, or `None` when a required field cannot be derived:
/// `product_id` (else `sku`), `product_name` ← `name`, `variant_id` ← `variant`, else `sku`, else
/// the product id; `quantity` defaults to 1 and must be a whole number ≥ 1; `price` must be a
/// number ≥ 0. `skip` leaves event-level keys out of the product's metadata (when the product is
/// read from the event's top level). Without `with_quantity` (a product viewed, which has no
/// quantity in Braze's schema) the quantity is not read, nor checked.
fn product<'a>(
    p: &'a Map<String, Value>,
    skip: &'static [&'static str],
    with_quantity: bool,
) -> Option<BrazeProduct<'a>> {
    let id = id_cow(p.get("product_id")).or_else(|| id_cow(p.get("sku")))?;
    let name = str_of(p, "name").filter(|n| !n.is_empty())?;
    let variant = id_cow(p.get("variant"))
        .or_else(|| id_cow(p.get("sku")))
        .unwrap_or_else(|| id.clone());
    let quantity = match num(p.get("quantity")).filter(|_| with_quantity) {
        None => 1,
        Some(q) if q >= 1.0 && q.fract() == 0.0 => q as i64,
        Some(_) => return None,
    };
    let price = money(p.get("price"))?;
    Some(BrazeProduct {
        product_id: id,
        product_name: name,
        variant_id: variant,
        quantity,
        price,
        image_url: str_of(p, "image_url"),
        product_url: str_of(p, "url"),
        metadata: Meta {
            map: Some(p),
            used: PRODUCT_KEYS,
            skip,
        },
    })
}

fn products(props: &Map<String, Value>) -> Option<Vec<BrazeProduct<'_>>> {
    match props.get("products") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| p.as_object().and_then(|p| product(p, &[], true)))
            .collect(),
        Some(_) => None,
    }
}

/// `{code, amount}` of Braze's `discounts[]`.
#[derive(Serialize)]
struct Discount<'a> {
    code: &'a str,
    amount: f64,
}

/// The properties of a recommended eCommerce event (absent fields are left out).
#[derive(Serialize, Default)]
struct EcomProps<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cart_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkout_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_discounts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    discounts: Option<[Discount<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    products: Option<Vec<BrazeProduct<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancel_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Meta<'a>>,
}

const VIEWED_USED: &[&str] = &[
    "product_id",
    "name",
    "variant",
    "price",
    "image_url",
    "url",
    "currency",
    "source",
];
/// The keys of Checkout Started and the order events that always become Braze fields; the
/// others they may use (`order_id` beside `checkout_id`, `total`/`value`/`revenue`, `cart_id`,
/// `discount`, `cancel_reason`/`reason`) leave `metadata` only when their value was taken, so no
/// property is lost.
const CHECKOUT_USED: &[&str] = &["checkout_id", "currency", "products", "source", "cart_id"];
const ORDER_USED: &[&str] = &["order_id", "currency", "products", "source"];
/// Event-level keys of Product Added/Removed that are not the product's.
const CART_EVENT_KEYS: &[&str] = &["cart_id", "currency", "source"];

/// `metadata` of an eCommerce event: the properties not in `used`, or `None` when none is left.
fn meta<'a>(p: &'a Map<String, Value>, used: &'a [&'static str]) -> Option<Meta<'a>> {
    let m = Meta {
        map: Some(p),
        used,
        skip: &[],
    };
    (!m.is_empty()).then_some(m)
}

/// The first of `keys` that `read` takes a value from, with that key.
fn first_of<'a, T>(
    p: &'a Map<String, Value>,
    keys: &[&'static str],
    read: impl Fn(Option<&'a Value>) -> Option<T>,
) -> Option<(T, &'static str)> {
    keys.iter().find_map(|k| read(p.get(*k)).map(|v| (v, *k)))
}

/// A recommended eCommerce event for the seven spec events Braze has one for; `None` (→ plain
/// custom event) for the others, and when a required field cannot be derived or money is < 0.
fn ecommerce_event(
    s: &BrazeSettings,
    ev: &Event<'_>,
    who: Who<'_>,
    spec: &'static str,
) -> Option<Payload> {
    let p = ev.props();
    let currency = Some(str_of(p, "currency").unwrap_or(&s.default_currency));
    let source = Some(str_of(p, "source").unwrap_or(&s.ecommerce_source));
    // the keys whose values went into Braze fields (the rest goes to `metadata`)
    let mut taken: Vec<&'static str> = Vec::new();
    let (name, props) = match spec {
        "Product Viewed" => {
            let prod = product(p, &[], false)?;
            (
                "ecommerce.product_viewed",
                EcomProps {
                    product_id: Some(prod.product_id),
                    product_name: Some(prod.product_name),
                    variant_id: Some(prod.variant_id),
                    price: Some(prod.price),
                    image_url: prod.image_url,
                    product_url: prod.product_url,
                    currency,
                    source,
                    metadata: meta(p, VIEWED_USED),
                    ..EcomProps::default()
                },
            )
        }
        "Product Added" | "Product Removed" => {
            let cart = id_cow(p.get("cart_id"))?;
            // the product is the event's top level; its custom keys go in the product's metadata
            let prod = product(p, CART_EVENT_KEYS, true)?;
            (
                "ecommerce.cart_updated",
                EcomProps {
                    cart_id: Some(cart),
                    currency,
                    products: Some(vec![prod]),
                    source,
                    action: Some(if spec == "Product Added" {
                        "add"
                    } else {
                        "remove"
                    }),
                    ..EcomProps::default()
                },
            )
        }
        "Checkout Started" => {
            let (id, id_key) = first_of(p, &["checkout_id", "order_id"], id_cow)?;
            let (total, total_key) = first_of(p, &["total", "value", "revenue"], money)?;
            taken.extend_from_slice(CHECKOUT_USED);
            taken.extend([id_key, total_key]);
            (
                "ecommerce.checkout_started",
                EcomProps {
                    checkout_id: Some(id),
                    total_value: Some(total),
                    currency,
                    products: Some(products(p)?),
                    source,
                    cart_id: id_cow(p.get("cart_id")),
                    metadata: meta(p, &taken),
                    ..EcomProps::default()
                },
            )
        }
        "Order Completed" | "Order Refunded" | "Order Cancelled" => {
            let id = id_cow(p.get("order_id"))?;
            let (total, total_key) = first_of(p, &["total", "revenue"], money)?;
            let discount = match p.get("discount") {
                None | Some(Value::Null) => None,
                d => Some(money(d)?),
            };
            let discounts = match (discount, str_of(p, "coupon")) {
                (Some(amount), Some(code)) => Some([Discount { code, amount }]),
                _ => None,
            };
            taken.extend_from_slice(ORDER_USED);
            taken.push(total_key);
            if discount.is_some() {
                taken.push("discount");
            }
            let (mut cart_id, mut cancel_reason) = (None, None);
            let name = match spec {
                "Order Completed" => {
                    cart_id = id_cow(p.get("cart_id"));
                    if cart_id.is_some() {
                        taken.push("cart_id");
                    }
                    "ecommerce.order_placed"
                }
                "Order Refunded" => "ecommerce.order_refunded",
                _ => {
                    let reason = first_of(p, &["cancel_reason", "reason"], |v| {
                        v.and_then(Value::as_str)
                    });
                    taken.extend(reason.map(|(_, k)| k));
                    cancel_reason = Some(reason.map_or("unspecified", |(r, _)| r));
                    "ecommerce.order_cancelled"
                }
            };
            let props = EcomProps {
                order_id: Some(id),
                total_value: Some(total),
                currency,
                products: Some(products(p)?),
                source,
                total_discounts: discount,
                discounts,
                cart_id,
                cancel_reason,
                metadata: meta(p, &taken),
                ..EcomProps::default()
            };
            (name, props)
        }
        _ => return None,
    };
    Some(event_payload(s, ev, who, Cow::Borrowed(name), props))
}
