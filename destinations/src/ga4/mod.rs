//! # Google Analytics 4 — Measurement Protocol (`ga4`)
//!
//! `POST {base}/mp/collect?measurement_id=G-…&api_secret=…` (app streams: `firebase_app_id=…`),
//! JSON body `{client_id | app_instance_id, user_id?, user_properties?, events: [{name, params,
//! timestamp_micros}]}`. `base` is `https://www.google-analytics.com`, or
//! `https://region1.google-analytics.com` with `region: "eu"`, or `endpoint`.
//!
//! - **Auth**: `api_secret` is a query parameter, marked secret (masked in Debug, logs and
//!   snapshots).
//! - **Batching**: the route is the client id plus the user id, so one request never mixes users
//!   (GA4 takes one `client_id`/`user_id` per request); at most 25 events and 120 kB of events
//!   per request (GA4's limit is 130 kB; 10 kB is left for the envelope). The route and the
//!   payload are laid out by [`wire`] so that a request is put together from slices of the
//!   payloads, without parsing the events back.
//! - **Client id**: `anonymousId`, else `userId` (web); `context.device.id`, else `anonymousId`,
//!   else `userId` (app). `user_id` is `userId` (at most 256 characters, else rejected).
//! - **Time**: every event carries `timestamp_micros` from the event time.
//! - **Historical events**: older than 72 hours → `rejected` with the reason (GA4 would move them
//!   to 72 hours ago without saying so). More than `max_future_skew_secs` (default 15 min) in the
//!   future → `rejected`. "Now" is the wall clock at mapping time, or the `now` setting (tests and
//!   reproducible replays pin it). An event mapped at 71 h 59 min and retried later is sent as
//!   mapped; GA4 then clamps it.
//! - **User properties**: scalar `context.traits` (names ≤ 24 characters, values cut to 36,
//!   at most 25, no PII such as email, phone or names); later events of a request win, and a
//!   request carries at most 25 (the last event's, then earlier events' other names while there
//!   is room).
//! - **Params**: scalar only (booleans become `"true"`/`"false"`), `items` the one array, at most
//!   25, string values cut to 100 characters, names `[A-Za-z][A-Za-z0-9_]*` ≤ 40 (others
//!   dropped), reserved prefixes `google_`, `ga_`, `firebase_` dropped, and no personal data
//!   (`email`, `phone`, first and last names, `address`, `username`, `birthday`: Google's
//!   policy, as for user properties; a property called `name` is a product's or a video's and
//!   goes).
//! - **Items** from `products` (or the root properties for single-product events):
//!   product_id (else sku) → item_id, name → item_name, brand → item_brand,
//!   category → item_category, variant → item_variant, price, quantity, coupon, affiliation,
//!   position → index (quantity and index rounded to whole numbers; an empty string counts as
//!   absent, so an empty product_id falls back to sku). The same rules for every event, orders
//!   included. An item with neither id nor name, or more than 200 products (GA4's limit per
//!   event), rejects the event rather than sending a cut list.
//! - **Value and currency**: GA4 requires `currency` with `value`; when the event has a value but
//!   no currency, `default_currency` (default `USD`) is sent.
//! - **Custom events**: the Segment name with spaces → `_`, other invalid characters dropped,
//!   leading non-letters dropped; longer than 40 characters, empty or reserved (Google's
//!   list: `session_start`, `screen_view`, `ad_click`, `ad_impression`…, and the prefixes
//!   `google_`, `ga_`, `firebase_`; not every `ad_` name, as Rudder has it) → rejected with the
//!   reason. Params: `items` from
//!   `products` when there are any, then every scalar property with a valid name, in key order.
//! - **Quirk — always 204**: production answers 204 to everything, even garbage, so a 2xx only
//!   means "received". Set `validate: true` (alias `debug`) to send to `/debug/mp/collect`
//!   instead: its `validationMessages` are read, messages naming `events[i]` fail those events
//!   (first message as the reason) and the others are resent; a message naming no event fails
//!   the whole request; an empty list means delivered (validated — debug events never reach
//!   reports). Non-2xx answers go through the shared classifier.
//!
//! ## Mapping table
//!
//! | Segment | GA4 | how |
//! |---|---|---|
//! | **Ecommerce** | | |
//! | Products Searched | `search` (search_term ← query) | native |
//! | Product List Viewed | `view_item_list` (item_list_id ← list_id, item_list_name ← category, items) | native |
//! | Product List Filtered | `Product_List_Filtered` | custom (no GA4 event for filters) |
//! | Promotion Viewed | `view_promotion` (promotion_id, promotion_name ← name, creative_name ← creative, creative_slot ← position) | native |
//! | Promotion Clicked | `select_promotion` (same params) | native |
//! | Product Clicked | `select_item` (items = the product) | native |
//! | Product Viewed | `view_item` (currency, value, items) | native |
//! | Product Added | `add_to_cart` (currency, value = price × quantity, items) | native |
//! | Product Removed | `remove_from_cart` | native |
//! | Cart Viewed | `view_cart` (items) | native |
//! | Checkout Started | `begin_checkout` (currency, value ← value/revenue, coupon, items) | native |
//! | Checkout Step Viewed | `Checkout_Step_Viewed` | custom (GA4 has no step-view event) |
//! | Checkout Step Completed | `add_shipping_info` (shipping_tier ← shipping_method, payment_type ← payment_method) | native |
//! | Payment Info Entered | `add_payment_info` (payment_type ← payment_method) | native |
//! | Order Updated | `Order_Updated` | custom (GA4 has no order update) |
//! | Order Completed | `purchase` (transaction_id ← order_id, never empty — else rejected; value ← total/revenue; currency, tax, shipping, coupon, affiliation, items) | native |
//! | Order Refunded | `refund` (transaction_id ← order_id required, value ← total, items optional) | native |
//! | Order Cancelled | `Order_Cancelled` | custom (a cancel is not a refund in GA4) |
//! | Coupon Entered / Applied / Denied / Removed | `Coupon_Entered` … | custom (GA4 only has coupon params) |
//! | Product Added to Wishlist | `add_to_wishlist` | native |
//! | Product Removed from Wishlist | `Product_Removed_from_Wishlist` | custom |
//! | Wishlist Product Added to Cart | `Wishlist_Product_Added_to_Cart` | custom (an `add_to_cart` would double count the Product Added clients also send) |
//! | Product Shared | `share` (method ← share_via, content_type `product`, item_id ← product_id, else sku) | native |
//! | Cart Shared | `share` (content_type `cart`, item_id ← cart_id, items) | native |
//! | Product Reviewed | `Product_Reviewed` | custom |
//! | **Video** | | |
//! | Video Playback Started | `video_start` (video_current_time ← position, video_duration ← total_length, video_percent, video_provider ← video_player, video_session_id ← session_id: GA4's own `session_id` param is the Analytics session) | native |
//! | Video Content Playing | `video_progress` (same, plus video_title) | native |
//! | Video Playback Completed | `video_complete` | native |
//! | the other 14 Video events | `Video_Playback_Paused` … (spaces → `_`) | custom (GA4 has only the three enhanced-measurement video events) |
//! | **Live Chat** (4) | `Live_Chat_Conversation_Started` … | custom (no GA4 equivalent) |
//! | **Email** (6) | `Email_Bounced` … `Unsubscribed` | custom (no GA4 equivalent) |
//! | **Calls** | | |
//! | Signed Up / Signed In (B2B SaaS spec) | `sign_up` / `login` (method, the other properties as params, no personal data) | native |
//! | track (not specced) | custom event | custom |
//! | page | `page_view` (page_location ← url, page_referrer ← referrer, page_title ← title, from properties else context.page; page_name, page_category) | native |
//! | screen | `screen` (screen_name ← name, plus properties) | custom (`screen_view` is reserved for the Measurement Protocol) |
//! | group | `join_group` (group_id ← groupId) | native |
//! | identify | — | unsupported: a Measurement Protocol request needs at least one event; traits travel as user_properties with the user's other events (`context.traits`) |
//! | alias | — | unsupported: GA4 has no alias or user-merge API |
//!
//! Counts (Ecommerce / Video / Live Chat / Email): native 17 / 3 / 0 / 0, custom 11 / 14 / 4 / 6,
//! unsupported 0 / 0 / 0 / 0.

pub mod mapping;
pub mod mock;
pub mod request;
pub mod settings;
#[cfg(test)]
mod tests;
pub mod wire;

use async_trait::async_trait;
use destination_kit::destination::{ConformanceHints, DedupKey};
use destination_kit::spec::Family;
use destination_kit::{
    BatchLimits, Destination, DestinationInfo, Event, Mapped, PartnerRequest, PartnerResponse,
    Payload, Verdicts,
};
pub use settings::{Ga4Settings, Region};
use std::time::SystemTime;

/// Spec events mapped to GA4's own events (the others go as custom events).
pub const NATIVE_EVENTS: &[&str] = &[
    "Products Searched",
    "Product List Viewed",
    "Promotion Viewed",
    "Promotion Clicked",
    "Product Clicked",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Completed",
    "Order Refunded",
    "Product Added to Wishlist",
    "Product Shared",
    "Cart Shared",
    "Video Playback Started",
    "Video Content Playing",
    "Video Playback Completed",
];

/// How the validation server answers a batch with some bad events (for the conformance suite).
fn validation_failure(_n: usize, bad: &[usize]) -> (u16, String) {
    let msgs: Vec<serde_json::Value> = bad
        .iter()
        .map(|i| {
            serde_json::json!({
                "fieldPath": format!("events[{i}].params.value"),
                "description": "value must be a number",
                "validationCode": "VALUE_INVALID",
            })
        })
        .collect();
    (
        200,
        serde_json::json!({ "validationMessages": msgs }).to_string(),
    )
}

/// The GA4 Measurement Protocol destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ga4;

/// Events per request (GA4's limit).
pub const MAX_EVENTS: usize = 25;
/// Bytes of events per request: GA4 takes bodies under 130 kB; 10 kB is the envelope's margin.
pub const MAX_BYTES: usize = 120_000;

#[async_trait]
impl Destination for Ga4 {
    type Settings = Ga4Settings;

    fn info(&self) -> DestinationInfo {
        // identify and alias are taken and answered `Unsupported` by `map`, so they end
        // `filtered` with GA4's own reason rather than a generic one.
        DestinationInfo::new("Google Analytics 4", "ga4")
            .families(Family::ALL)
            .reads_tree()
            .batch(BatchLimits {
                events: MAX_EVENTS,
                bytes: MAX_BYTES,
            })
    }

    fn conformance_hints(&self) -> ConformanceHints {
        ConformanceHints::default()
            .native_events(NATIVE_EVENTS)
            .dedup_key(DedupKey::None(
                "GA4 has no event-level dedup key (purchases de-duplicate by transaction_id, from order_id)",
            ))
            .partial_failure(validation_failure)
    }

    fn map(&self, settings: &Ga4Settings, event: &Event<'_>) -> Mapped {
        mapping::map(settings, event)
    }

    fn request(&self, settings: &Ga4Settings, route: &str, batch: &[Payload]) -> PartnerRequest {
        request::request(settings, route, batch)
    }

    fn interpret(
        &self,
        settings: &Ga4Settings,
        response: &PartnerResponse,
        batch: &[Payload],
        now: SystemTime,
    ) -> Verdicts {
        request::interpret(settings, response, batch, now)
    }
}

/// Parse settings, point them at `endpoint` when given, and build the destination.
pub fn configure(
    settings: serde_json::Value,
    endpoint: Option<&str>,
) -> Result<std::sync::Arc<dyn destination_kit::DynDestination>, destination_kit::SettingsError> {
    Ok(destination_kit::Configured::from_json(Ga4, settings, endpoint)?.into_dyn())
}

fn start_mock(
    recording: spec_tests::mock::Recording,
) -> futures::future::BoxFuture<'static, spec_tests::mock::MockPartner> {
    Box::pin(mock::start_with(recording))
}

/// The registry entry.
pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    slug: "ga4",
    name: "Google Analytics 4",
    configure,
    start_mock,
};
