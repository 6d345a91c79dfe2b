//! Intercom mapping: one event → one payload for `/events`, `/contacts` or `/companies`.
//!
//! The per-event decisions live in [`treatment`] (the module docs' table is written from it and
//! a test checks the two agree).

use destination_kit::spec::Family;
use destination_kit::{CallType, Event, Mapped, Payload};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Route of data events (`POST /events`).
pub const ROUTE_EVENTS: &str = "events";
/// Route of contact upserts (`POST /contacts/search`, then `PUT /contacts/{id}` or
/// `POST /contacts`).
pub const ROUTE_CONTACTS: &str = "contacts";
/// Route of companies (`POST /companies`, then attach the user).
pub const ROUTE_COMPANIES: &str = "companies";
/// Intercom tracks at most this many metadata keys per data event.
pub const MAX_METADATA_KEYS: usize = 10;

/// How Intercom takes one specced event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Intercom's documented mapping for it (what it becomes).
    Native(&'static str),
    /// Sent as a plain data event under its own name.
    Custom,
    /// Not sent; ends `filtered` with this reason.
    Unsupported(&'static str),
}

const VIDEO_TELEMETRY: &str = "Intercom data events record customer actions; player telemetry \
     (buffering, seeking, quality changes) is not one and would crowd out real events";
const VIDEO_HEARTBEAT: &str = "heartbeat sent every few seconds of playback: it would flood \
     Intercom's one-event-per-request events API and its rate limit";

/// The decision for a specced event by its spec name (`None` for a name that is not specced).
pub fn treatment(spec_name: &str) -> Option<Treatment> {
    use Treatment::*;
    Some(match spec_name {
        // ---- Ecommerce v2 (28)
        "Order Completed" => Native("data event with `price` = {amount in cents, currency}"),
        "Products Searched"
        | "Product List Viewed"
        | "Product List Filtered"
        | "Promotion Viewed"
        | "Promotion Clicked"
        | "Product Clicked"
        | "Product Viewed"
        | "Product Added"
        | "Product Removed"
        | "Cart Viewed"
        | "Checkout Started"
        | "Checkout Step Viewed"
        | "Checkout Step Completed"
        | "Payment Info Entered"
        | "Order Updated"
        | "Order Refunded"
        | "Order Cancelled"
        | "Coupon Entered"
        | "Coupon Applied"
        | "Coupon Denied"
        | "Coupon Removed"
        | "Product Added to Wishlist"
        | "Product Removed from Wishlist"
        | "Wishlist Product Added to Cart"
        | "Product Shared"
        | "Cart Shared"
        | "Product Reviewed" => Custom,
        // ---- Video (17)
        "Video Playback Started"
        | "Video Playback Paused"
        | "Video Playback Interrupted"
        | "Video Playback Resumed"
        | "Video Playback Completed"
        | "Video Playback Exited"
        | "Video Content Started"
        | "Video Content Completed"
        | "Video Ad Started"
        | "Video Ad Completed" => Custom,
        "Video Playback Buffer Started"
        | "Video Playback Buffer Completed"
        | "Video Playback Seek Started"
        | "Video Playback Seek Completed"
        | "Video Quality Updated" => Unsupported(VIDEO_TELEMETRY),
        "Video Content Playing" | "Video Ad Playing" => Unsupported(VIDEO_HEARTBEAT),
        // ---- Live Chat (4)
        "Live Chat Conversation Started"
        | "Live Chat Conversation Ended"
        | "Live Chat Message Sent"
        | "Live Chat Message Received" => {
            Native("data event; metadata conversation_id, agent_id, agent_name, …")
        }
        // ---- Email (6)
        "Unsubscribed" => Native(
            "contact update `unsubscribed_from_emails: true`, plus the data event for its time",
        ),
        "Email Bounced"
        | "Email Delivered"
        | "Email Link Clicked"
        | "Email Marked as Spam"
        | "Email Opened" => Native("data event; metadata email_id, email_subject, campaign_…"),
        _ => return None,
    })
}

/// The family of a specced event name, from the names [`treatment`] knows.
pub fn family_of(spec_name: &str) -> Option<Family> {
    treatment(spec_name)?;
    Some(if spec_name.starts_with("Video ") {
        Family::Video
    } else if spec_name.starts_with("Live Chat ") {
        Family::LiveChat
    } else if spec_name.starts_with("Email ") || spec_name == "Unsubscribed" {
        Family::Email
    } else {
        Family::Ecommerce
    })
}

// ---- priorities of metadata keys ---------------------------------------------------------------

const LIVE_CHAT_KEYS: &[&str] = &[
    "conversation_id",
    "agent_id",
    "agent_name",
    "agent_username",
    "message_id",
    "conversation_duration",
    "message_body",
];
const EMAIL_KEYS: &[&str] = &[
    "email_id",
    "email_subject",
    "campaign_id",
    "campaign_name",
    "link_id",
    "link_url",
    "list_id",
    "list_name",
];
const ECOMMERCE_KEYS: &[&str] = &[
    "order_id",
    "checkout_id",
    "cart_id",
    "product_id",
    "sku",
    "name",
    "category",
    "coupon_id",
    "coupon",
    "query",
    "step",
    "list_id",
    "promotion_id",
    "wishlist_id",
    "review_id",
    "rating",
];
const VIDEO_KEYS: &[&str] = &[
    "session_id",
    "content_asset_id",
    "asset_id",
    "title",
    "program",
    "position",
    "total_length",
    "livestream",
    "method",
];

/// A metadata value Intercom accepts: a flat value, a joined list, or the monetary object.
enum MetaValue<'a> {
    Flat(&'a Value),
    Text(String),
    /// Unix seconds (a `_date` key's ISO-8601 value).
    Seconds(i64),
    Price {
        amount: i64,
        currency: &'a str,
    },
}

/// Data-event metadata: at most ten flat keys, most useful first, in insertion order.
struct Metadata<'a>(Vec<(&'a str, MetaValue<'a>)>);

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            match v {
                MetaValue::Flat(v) => m.serialize_entry(k, v)?,
                MetaValue::Text(t) => m.serialize_entry(k, t)?,
                MetaValue::Seconds(t) => m.serialize_entry(k, t)?,
                MetaValue::Price { amount, currency } => m.serialize_entry(
                    k,
                    &PriceObj {
                        amount: *amount,
                        currency,
                    },
                )?,
            }
        }
        m.end()
    }
}

#[derive(Serialize)]
struct PriceObj<'a> {
    amount: i64,
    currency: &'a str,
}

/// A property value as flat metadata: scalars as they are, lists of scalars joined with `", "`,
/// objects and lists holding objects dropped (Intercom refuses nested JSON), `null` dropped.
/// A metadata value: [`flat`], except that a key ending in `_date` — which Intercom reads as a
/// Unix-timestamp date — gets an ISO-8601 string as Unix seconds (an ISO string there would
/// not be a date).
fn meta_value<'a>(k: &str, v: &'a Value) -> Option<MetaValue<'a>> {
    if k.ends_with("_date")
        && let Some(t) = v
            .as_str()
            .and_then(|s| destination_kit::event::parse_datetime(s).ok())
    {
        return Some(MetaValue::Seconds(t.timestamp()));
    }
    flat(v)
}

fn flat(v: &Value) -> Option<MetaValue<'_>> {
    match v {
        Value::Null | Value::Object(_) => None,
        Value::Array(items) => {
            if items.is_empty() || items.iter().any(|i| i.is_object() || i.is_array()) {
                return None;
            }
            let parts: Vec<String> = items
                .iter()
                .filter(|i| !i.is_null())
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            Some(MetaValue::Text(parts.join(", ")))
        }
        _ => Some(MetaValue::Flat(v)),
    }
}

/// `products` as one flat value: the product ids (`product_id`, else `sku`, else `id`) joined
/// with `", "`.
fn product_ids(props: &Map<String, Value>) -> Option<String> {
    let items = props.get("products")?.as_array()?;
    let ids: Vec<String> = items
        .iter()
        .filter_map(|p| {
            ["product_id", "sku", "id"]
                .iter()
                .find_map(|k| match p.get(*k)? {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
        })
        .collect();
    (!ids.is_empty()).then(|| ids.join(", "))
}

fn build_metadata<'a>(
    props: &'a Map<String, Value>,
    priority: &[&'static str],
    price: Option<(i64, &'a str)>,
) -> Metadata<'a> {
    let mut out: Vec<(&'a str, MetaValue<'a>)> = Vec::with_capacity(MAX_METADATA_KEYS);
    if let Some((amount, currency)) = price {
        out.push(("price", MetaValue::Price { amount, currency }));
    }
    // the ids of `products`; without them the event's own `product_ids` goes below as any
    // other property does (an array of ids joined by `flat`)
    let ids = product_ids(props);
    let wrote_ids = ids.is_some();
    if let Some(ids) = ids {
        out.push(("product_ids", MetaValue::Text(ids)));
    }
    let skip = |k: &str| price.is_some() && matches!(k, "revenue" | "currency" | "price");
    for key in priority {
        if out.len() == MAX_METADATA_KEYS {
            break;
        }
        if skip(key) {
            continue;
        }
        if let Some((k, v)) = props.get_key_value(*key)
            && let Some(mv) = meta_value(k, v)
        {
            out.push((k.as_str(), mv));
        }
    }
    for (k, v) in props {
        if out.len() == MAX_METADATA_KEYS {
            break;
        }
        if skip(k) || (wrote_ids && k == "product_ids") || priority.contains(&k.as_str()) {
            continue;
        }
        if let Some(mv) = meta_value(k, v) {
            out.push((k.as_str(), mv));
        }
    }
    Metadata(out)
}

// ---- bodies ------------------------------------------------------------------------------------

/// `POST /events` body (`create_data_event_request`).
#[derive(Serialize)]
struct DataEvent<'a> {
    event_name: Cow<'a, str>,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "metadata_empty")]
    metadata: Metadata<'a>,
}

fn metadata_empty(m: &Metadata<'_>) -> bool {
    m.0.is_empty()
}

/// `POST /contacts` / `PUT /contacts/{id}` body (`create_contact_request`).
#[derive(Serialize)]
pub(crate) struct ContactBody<'a> {
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_up_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsubscribed_from_emails: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_attributes: Option<FlatMap<'a>>,
}

/// Flat custom attributes (objects and lists dropped).
pub(crate) struct FlatMap<'a>(Vec<(&'a str, &'a Value)>);

impl Serialize for FlatMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The flat traits not in `reserved` (compared ignoring ASCII case when `any_case`: a group
/// call's reserved traits are read in any case, so `Plan` fills `plan` and is not sent again).
fn flat_attributes<'a>(
    traits: Option<&'a Map<String, Value>>,
    reserved: &[&str],
    any_case: bool,
) -> Option<FlatMap<'a>> {
    let t = traits?;
    let is_reserved = |k: &str| {
        reserved
            .iter()
            .any(|r| *r == k || (any_case && r.eq_ignore_ascii_case(k)))
    };
    let v: Vec<(&str, &Value)> = t
        .iter()
        .filter(|(k, v)| !is_reserved(k) && !v.is_object() && !v.is_array() && !v.is_null())
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    (!v.is_empty()).then_some(FlatMap(v))
}

const CONTACT_RESERVED: &[&str] = &[
    "email",
    "name",
    "firstName",
    "first_name",
    "lastName",
    "last_name",
    "phone",
    "avatar",
    "createdAt",
    "created_at",
    "id",
    "userId",
    "user_id",
    "address",
    "company",
    "unsubscribed_from_emails",
];

const COMPANY_RESERVED: &[&str] = &[
    "name",
    "plan",
    "employees",
    "size",
    "website",
    "industry",
    "monthly_spend",
    "createdAt",
    "created_at",
    "id",
    "address",
];

/// `POST /companies` body, with the user to attach (not sent to `/companies`).
#[derive(Serialize)]
struct CompanyEnvelope<'a> {
    company: CompanyBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attach_user_id: Option<&'a str>,
}

#[derive(Serialize)]
struct CompanyBody<'a> {
    company_id: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    website: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    industry: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    monthly_spend: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_created_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_attributes: Option<FlatMap<'a>>,
}

// ---- the mapping -------------------------------------------------------------------------------

/// `.` and `$` are not allowed in Intercom event names: they become `-`.
pub fn event_name(name: &str) -> Cow<'_, str> {
    if name.contains(['.', '$']) {
        Cow::Owned(name.replace(['.', '$'], "-"))
    } else {
        Cow::Borrowed(name)
    }
}

/// The canonical spec name of a track event (v1 aliases resolved), else its own name.
fn track_name<'a>(ev: &Event<'a>) -> Option<&'a str> {
    ev.spec_kind()
        .map(|k| k.name)
        .or_else(|| ev.message().event())
}

/// An email for the event: the reserved trait (identify, group) or `context.traits.email`, else
/// `properties.email`.
fn email_of<'a>(ev: &Event<'a>) -> Option<&'a str> {
    let m = ev.message();
    m.email()
        .or_else(|| m.property("email").and_then(Value::as_str))
        .filter(|e| !e.is_empty())
}

/// Map one event (see the module docs for the table).
pub fn map_event(ev: &Event<'_>) -> Mapped {
    match ev.call() {
        CallType::Track => map_track(ev),
        CallType::Identify => map_identify(ev),
        CallType::Group => map_group(ev),
        CallType::Page => Mapped::unsupported(
            "Intercom has no server-side page API (page views come from its Messenger only)",
        ),
        CallType::Screen => Mapped::unsupported(
            "Intercom has no server-side screen API (screen views come from its mobile SDKs only)",
        ),
        CallType::Alias => Mapped::unsupported(
            "Intercom has no alias API: contacts are merged in Intercom itself (lead → user)",
        ),
    }
}

fn map_track(ev: &Event<'_>) -> Mapped {
    let Some(name) = track_name(ev) else {
        return Mapped::invalid("event: missing");
    };
    let treatment = treatment(name);
    if let Some(Treatment::Unsupported(reason)) = treatment {
        return Mapped::unsupported(format!("{name}: {reason}"));
    }
    let user_id = ev.user_id();
    let email = email_of(ev);
    if user_id.is_none() && email.is_none() {
        return Mapped::invalid(
            "Intercom needs userId or an email (context.traits.email) to attribute the event; \
             anonymousId is not an Intercom identifier",
        );
    }
    if name == "Unsubscribed" {
        let body = ContactBody {
            role: if user_id.is_some() { "user" } else { "lead" },
            external_id: user_id,
            email,
            phone: None,
            name: None,
            avatar: None,
            signed_up_at: None,
            unsubscribed_from_emails: Some(true),
            custom_attributes: None,
        };
        let contact = Payload::json(ROUTE_CONTACTS, &body);
        return match data_event(ev, name, user_id, email) {
            Mapped::Send(mut p) => {
                p.insert(0, contact);
                Mapped::Send(p)
            }
            other => other,
        };
    }
    data_event(ev, name, user_id, email)
}

/// The `POST /events` payload of a track event.
fn data_event(ev: &Event<'_>, name: &str, user_id: Option<&str>, email: Option<&str>) -> Mapped {
    let created_at = ev.timestamp_secs();
    if created_at < 0 {
        return Mapped::invalid("timestamp: before 1970; Intercom's created_at is Unix seconds");
    }
    let props = ev.props();
    let priority = match family_of(name) {
        Some(Family::LiveChat) => LIVE_CHAT_KEYS,
        Some(Family::Email) => EMAIL_KEYS,
        Some(Family::Video) => VIDEO_KEYS,
        Some(Family::Ecommerce) => ECOMMERCE_KEYS,
        None => &[],
    };
    let amount = ev.message().revenue().or_else(|| {
        (name == "Order Completed")
            .then(|| {
                props
                    .get("total")
                    .and_then(destination_kit::event::lenient_f64)
            })
            .flatten()
    });
    let price = amount.filter(|a| a.is_finite()).map(|a| {
        (
            (a * 100.0).round() as i64,
            ev.message().currency().unwrap_or("USD"),
        )
    });
    let body = DataEvent {
        event_name: event_name(name),
        created_at,
        user_id,
        email: if user_id.is_some() { None } else { email },
        metadata: build_metadata(props, priority, price),
    };
    Mapped::one(Payload::json(ROUTE_EVENTS, &body))
}

fn map_identify(ev: &Event<'_>) -> Mapped {
    let m = ev.message();
    let user_id = m.user_id();
    let email = email_of(ev);
    if user_id.is_none() && email.is_none() {
        return Mapped::invalid(
            "Intercom contacts need userId (external_id) or traits.email; anonymousId alone \
             cannot be looked up",
        );
    }
    let body = ContactBody {
        role: if user_id.is_some() { "user" } else { "lead" },
        external_id: user_id,
        email,
        phone: m.phone(),
        name: m.full_name(),
        avatar: m.avatar(),
        signed_up_at: m.created_at().map(|t| t.timestamp()),
        unsubscribed_from_emails: m
            .trait_value("unsubscribed_from_emails")
            .and_then(Value::as_bool),
        custom_attributes: flat_attributes(m.traits(), CONTACT_RESERVED, false),
    };
    Mapped::one(Payload::json(ROUTE_CONTACTS, &body))
}

fn map_group(ev: &Event<'_>) -> Mapped {
    let m = ev.message();
    let company_id: Cow<'_, str> = match m.get("groupId") {
        Some(Value::String(s)) if !s.is_empty() => Cow::Borrowed(s.as_str()),
        Some(Value::Number(n)) => Cow::Owned(n.to_string()),
        _ => return Mapped::invalid("groupId: missing; Intercom companies need company_id"),
    };
    let traits = m.traits();
    let num = |k: &str| {
        m.trait_value(k)
            .and_then(destination_kit::event::lenient_f64)
    };
    let body = CompanyEnvelope {
        company: CompanyBody {
            company_id,
            name: m.trait_name(),
            plan: m.plan(),
            size: m.employees().or_else(|| num("size")).map(|n| n as i64),
            website: m.website(),
            industry: m.industry(),
            monthly_spend: num("monthly_spend"),
            remote_created_at: m.created_at().map(|t| t.timestamp()),
            custom_attributes: flat_attributes(traits, COMPANY_RESERVED, true),
        },
        attach_user_id: m.user_id(),
    };
    Mapped::one(Payload::json(ROUTE_COMPANIES, &body))
}
