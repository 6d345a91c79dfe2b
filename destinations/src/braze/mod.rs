//! # Braze (slug `braze`)
//!
//! Everything but alias goes to `POST {rest_endpoint}/users/track` with
//! `Authorization: Bearer <REST key>`; alias goes to `POST /users/merge`. The REST endpoint is the
//! customer's cluster (`https://rest.iad-01.braze.com`, `https://rest.fra-02.braze.eu`, …); a
//! Braze host that is not `rest.<cluster>.braze.com|eu` (the dashboard URL, a typo) or a URL with
//! a path is refused at start.
//!
//! ## Wire format
//! - Body `{attributes:[…], events:[…], purchases:[…]}`, assembled from the payloads' `part`
//!   (kept in batch order within each part, so `errors[].index` maps back).
//! - Identifier: `external_id` = userId; without one, `user_alias {alias_name: anonymousId,
//!   alias_label: "anonymous_id"}` with `_update_existing_only: false` (so the alias-only profile
//!   is created).
//! - `time`: ISO-8601 with milliseconds and `Z` from the event's `timestamp`.
//! - Properties: sent as given, minus keys Braze refuses (leading `$`).
//! - No dedup key: Braze has none (a duplicate counts twice), so the runtime's messageId dedup is
//!   the only protection.
//!
//! ## Limits
//! Braze takes 75 objects per kind per request, but customers on the "Monthly Active Users
//! CY 24-25" contracts get 50 updates per request in total, and `/users/merge` takes 50 merges.
//! The runtime's batch limit is one number per destination, so it is **50 payloads per request**:
//! valid on every contract and every route, within 75 per kind by construction. Bytes: 4 MB per
//! request (Braze documents no body cap; 75 events of at most 50 KB of properties stay well
//! below).
//!
//! ## Historical events
//! Braze takes any past time (no window), so old events are sent as they are. A time more than
//! one hour in the future would be silently replaced by the time of receipt, so such an event is
//! `rejected` with the reason instead. "Now" is the `now` setting when set (tests), else the
//! system clock.
//!
//! ## Response quirks
//! - Success is **201** `{message:"success", …_processed}`; partial failure is a 2xx with
//!   `errors:[{type, input_array, index}]` (index relative to that array): those payloads
//!   `failed`, the rest `delivered`.
//! - Fatal: a 2xx whose `message` is not "success" and that carries `errors[]` → all `failed`.
//! - 202 `{message:"queued"}` (maintenance) → `delivered` (Braze processes it later).
//! - 429: retried after `Retry-After`, else after `X-RateLimit-Reset` (UTC epoch seconds) − now.
//! - 5xx retried with backoff; 401/403 auth failures; other 4xx client failures.
//!
//! ## Mapping
//!
//! | Segment | Braze | kind |
//! |---|---|---|
//! | Product Viewed | `ecommerce.product_viewed` (product_id, product_name ← name, variant_id ← variant / sku / product_id, price, currency, source, image_url, product_url; the rest in `metadata`; a quantity is not read: Braze's product_viewed has none) | native |
//! | Product Added / Product Removed | `ecommerce.cart_updated` with `action` `add` / `remove`, one product from the top-level properties, cart_id | native |
//! | Checkout Started | `ecommerce.checkout_started` (checkout_id ← checkout_id / order_id, total_value ← total / value / revenue, products) | native |
//! | Order Completed | `ecommerce.order_placed` (order_id, total_value ← total / revenue, products, cart_id, total_discounts ← discount, discounts ← coupon) | native |
//! | Order Refunded | `ecommerce.order_refunded` (total_value = the refunded amount; products may be empty for a full refund) | native |
//! | Order Cancelled | `ecommerce.order_cancelled` (cancel_reason ← cancel_reason / reason, else `"unspecified"`) | native |
//! | (all of these) | every property whose value did not go into one of Braze's fields goes in `metadata` (a `revenue` beside the `total` taken, a Refunded order's `cart_id`, …) | |
//! | Products Searched, Product List Viewed, Product List Filtered, Promotion Viewed, Promotion Clicked, Product Clicked, Cart Viewed, Checkout Step Viewed, Checkout Step Completed, Payment Info Entered, Order Updated, Coupon Entered, Coupon Applied, Coupon Denied, Coupon Removed, Product Added to Wishlist, Product Removed from Wishlist, Wishlist Product Added to Cart, Product Shared, Cart Shared, Product Reviewed (21) | custom event under the spec name | custom |
//! | Video Playback Started, Paused, Interrupted, Buffer Started, Buffer Completed, Seek Started, Seek Completed, Resumed, Completed, Exited; Video Content Started, Playing, Completed; Video Ad Started, Playing, Completed; Video Quality Updated (17) | custom event under the spec name | custom |
//! | Live Chat Conversation Started, Conversation Ended, Message Sent, Message Received (4) | custom event under the spec name | custom |
//! | Unsubscribed | attribute `email_subscribe: "unsubscribed"`, or with `list_id` `subscription_groups: [{subscription_group_id: list_id, subscription_state: "unsubscribed"}]`; plus the custom event | native |
//! | Email Marked as Spam | attribute `marked_email_as_spam_at` = event time, plus the custom event | native |
//! | Email Bounced, Email Delivered, Email Opened, Email Link Clicked (4) | custom event under the spec name (`/email/blocklist` for bounces is destructive: it also unsubscribes, so it is not used) | custom |
//! | other track | custom event under its name | custom |
//! | page / screen | custom event `Viewed {category} {name} Page` / `Viewed {name} Screen` (partners.md; the parts the call lacks left out: `Viewed Page`), with `name` and `category` | native |
//! | identify | attributes: email, first_name, last_name, phone, dob ← birthday (YYYY-MM-DD), gender (M/F/O/N/P), country and home_city ← address (its other fields as a nested `address` custom attribute), every other trait as a custom attribute; a birthday not in YYYY-MM-DD form is left out. No traits → `filtered` | native |
//! | group | attribute `segment_groups: {add: [groupId]}` (array attribute, so several groups accumulate) | native |
//! | alias | `/users/merge`: `identifier_to_merge` = user alias of previousId (label `anonymous_id`), `identifier_to_keep` = external_id userId | native |
//!
//! **When a specced eCommerce event lacks what Braze's strict schema requires** (product id and
//! name, a price ≥ 0, an order/cart/checkout id, a total ≥ 0, a whole quantity ≥ 1), it is sent as
//! a plain custom event under its Segment name instead, so nothing is dropped by Braze's
//! validation. Legacy `purchases[]` objects are not produced: Braze is deprecating them for the
//! eCommerce events.

pub mod mapping;
pub mod mock;
pub mod request;
pub mod settings;
#[cfg(test)]
mod tests;

pub use mock::BrazeMock;
pub use settings::BrazeSettings;

use async_trait::async_trait;
use destination_kit::destination::{ConformanceHints, DedupKey};
use destination_kit::spec::Family;
use destination_kit::{
    BatchLimits, Destination, DestinationInfo, Event, Mapped, PartnerRequest, PartnerResponse,
    Payload, Verdicts,
};
use std::time::SystemTime;

/// Spec events Braze has a native counterpart for (recommended eCommerce events, email
/// subscription state).
pub const NATIVE: &[&str] = &[
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Checkout Started",
    "Order Completed",
    "Order Refunded",
    "Order Cancelled",
    "Unsubscribed",
    "Email Marked as Spam",
];

/// Braze's answer to a batch of events of which those at `refused` are invalid: 201 success
/// with `errors[]` (indices within `events`).
fn partial_failure(n: usize, refused: &[usize]) -> (u16, String) {
    let errors: Vec<serde_json::Value> = refused
        .iter()
        .map(|i| serde_json::json!({"type": "refused by the conformance suite", "input_array": "events", "index": i}))
        .collect();
    let body = serde_json::json!({
        "message": "success",
        "events_processed": n - refused.len(),
        "errors": errors,
    });
    (201, body.to_string())
}

/// Payloads per request (see the module docs for why 50 and not 75).
pub const MAX_EVENTS: usize = 50;
/// Payload bytes per request.
pub const MAX_BYTES: usize = 4_000_000;

/// The Braze destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Braze;

#[async_trait]
impl Destination for Braze {
    type Settings = BrazeSettings;

    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Braze", "braze")
            .families(Family::ALL)
            .batch(BatchLimits {
                events: MAX_EVENTS,
                bytes: MAX_BYTES,
            })
    }

    fn conformance_hints(&self) -> ConformanceHints {
        ConformanceHints::default()
            .native_events(NATIVE)
            .dedup_key(DedupKey::None(
                "Braze has no dedup key: a duplicate object is stored twice, so the runtime's messageId window is the only protection",
            ))
            .partial_failure(partial_failure)
    }

    fn map(&self, settings: &BrazeSettings, event: &Event<'_>) -> Mapped {
        mapping::map(settings, event)
    }

    fn request(&self, settings: &BrazeSettings, route: &str, batch: &[Payload]) -> PartnerRequest {
        request::build(settings, route, batch)
    }

    fn interpret(
        &self,
        _settings: &BrazeSettings,
        response: &PartnerResponse,
        batch: &[Payload],
        now: SystemTime,
    ) -> Verdicts {
        request::interpret(response, batch, now)
    }
}

/// Parse settings, point them at `endpoint` when given, and build the destination.
pub fn configure(
    settings: serde_json::Value,
    endpoint: Option<&str>,
) -> Result<std::sync::Arc<dyn destination_kit::DynDestination>, destination_kit::SettingsError> {
    Ok(destination_kit::Configured::from_json(Braze, settings, endpoint)?.into_dyn())
}

fn start_mock(
    recording: spec_tests::mock::Recording,
) -> futures::future::BoxFuture<'static, spec_tests::mock::MockPartner> {
    Box::pin(mock::start_with(recording))
}

/// The registry entry.
pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    slug: "braze",
    name: "Braze",
    configure,
    start_mock,
};
