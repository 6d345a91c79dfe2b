//! # Mixpanel (slug `mixpanel`)
//!
//! Events go to `POST /import?strict=1` (HTTP Basic: project secret or service account), profile
//! updates to `/engage`, group updates to `/groups`. Regional bases: `api.mixpanel.com` (us),
//! `api-eu.mixpanel.com` (eu), `api-in.mixpanel.com` (in), or `endpoint`.
//!
//! ## Wire format
//! - Body: a JSON array of `{event, properties: {time, distinct_id, $insert_id, …}}`.
//! - `time`: Unix **milliseconds** of the event's `timestamp`.
//! - `distinct_id`: `userId`, else `anonymousId` (values Mixpanel refuses such as `"null"` or `"0"`
//!   are skipped; if neither is usable the event is `rejected`). `$user_id` and `$device_id`
//!   (anonymousId) are also sent so Simplified ID Merge links the two.
//! - `$insert_id` (dedup key, ≤ 36 bytes of `[A-Za-z0-9-]`): the messageId when it already is
//!   one; otherwise `x` + the 128-bit xxh3 hash of the whole messageId in hex (33 bytes). Hashing
//!   the whole id instead of dropping characters or truncating keeps different messageIds apart
//!   (`a_b` and `a.b` would both become `ab`); a 128-bit hash makes an accidental collision
//!   practically impossible.
//! - Context: `ip`, `$current_url`, `$referrer`, `$os`, `$app_version_string`, `utm_*`,
//!   `mp_lib`. Custom properties never overwrite reserved keys (`time`, `distinct_id`, `token`, …).
//! - Spec events are sent under their v2 spec name (a v1 alias such as `Completed Order` is sent
//!   as `Order Completed`).
//!
//! ## Limits
//! 2,000 records per request (Mixpanel's documented limit). Bytes: the prose limit is 10 MB, but
//! the OpenAPI 413 example says "exceeds max limit of 2097152 bytes" and Mixpanel's own
//! troubleshooting page says to trust the number in the error; we cap payload bytes at 2 MiB
//! minus 4 KiB (room for the array's brackets and commas of 2,000 records), which fits both.
//!
//! ## Historical events
//! Everything goes to `/import`, which takes any time after 1971-01-01 and at most one hour in
//! the future (`/track` takes only 5 days, so it is never used for events). An event before 1971
//! or more than an hour ahead is `rejected` with the reason, never clamped. "Now" is the
//! `now` setting when set (tests), else the system clock. The only `/track` payload is
//! `$create_alias` (Original ID Merge); an alias older than 5 days goes to `/import` on purpose.
//!
//! ## Response quirks
//! - `/import` with `strict=1` answers 400 with `failed_records:[{index, $insert_id, field,
//!   message}]` **after ingesting the valid records**: the listed indices are `failed`, every other
//!   payload is `delivered` (not resent).
//! - `/engage`, `/groups`, `/track` answer 200 with `1` (some accepted) or `0` (none): `0` fails
//!   the batch (mapping already refuses what Mixpanel would drop, e.g. a refused `distinct_id`).
//! - 401 → auth failure; 413 → the runtime splits the batch; 429 and 5xx → retried with backoff
//!   (Mixpanel documents no Retry-After; one is honoured if sent). Never retry a 400.
//!
//! ## Mapping
//! Mixpanel has no typed event schema: everything is an event with a name and properties. Only
//! Order Completed gets a native treatment (Segment's "track purchase"); every other specced
//! event passes through as a custom event under its spec name, which Mixpanel reports fine.
//!
//! | Segment | Mixpanel | kind |
//! |---|---|---|
//! | Order Completed | `Order Completed` + one `Product Purchased` per product (order_id, checkout_id, currency + the product's fields; `$insert_id` `{id}-p{n}`, `time` 1 ms earlier per product) | native |
//! | Products Searched, Product List Viewed, Product List Filtered, Promotion Viewed, Promotion Clicked, Product Clicked, Product Viewed, Product Added, Product Removed, Cart Viewed, Checkout Started, Checkout Step Viewed, Checkout Step Completed, Payment Info Entered, Order Updated, Order Refunded, Order Cancelled, Coupon Entered, Coupon Applied, Coupon Denied, Coupon Removed, Product Added to Wishlist, Product Removed from Wishlist, Wishlist Product Added to Cart, Product Shared, Cart Shared, Product Reviewed (27) | `/import` event under the spec name, properties as sent (products arrays kept) | custom |
//! | Video Playback Started, Paused, Interrupted, Buffer Started, Buffer Completed, Seek Started, Seek Completed, Resumed, Completed, Exited; Video Content Started, Playing, Completed; Video Ad Started, Playing, Completed; Video Quality Updated (17) | `/import` event under the spec name | custom |
//! | Live Chat Conversation Started, Conversation Ended, Message Sent, Message Received (4) | `/import` event under the spec name | custom |
//! | Email Bounced, Email Delivered, Email Link Clicked, Email Marked as Spam, Email Opened, Unsubscribed (6) | `/import` event under the spec name | custom |
//! | other track | `/import` event under its name | custom |
//! | page / screen | `/import` event `Viewed {name}` (`Viewed Page` / `Viewed Screen` without a name), `name` and `category` added to the properties | native |
//! | identify | `/engage` `$set` with `$email`, `$first_name`, `$last_name`, `$name`, `$phone`, `$created`, `$username`, `$avatar` and every other trait; `$ip` from context. No traits → `filtered` | native |
//! | group | `/groups` `$set` of the group traits, `$group_key` from the `group_key` setting (default `$group_id`) | native |
//! | alias | Simplified ID Merge (default): unsupported, the reason says $create_alias is ignored. `identity_merge = "original"`: `$create_alias` via `/track` (≤ 5 days old) or `/import` (older) | native / unsupported |
//!
//! Not done on purpose: the legacy `$identify` event (Simplified ID Merge links identities
//! through `$device_id` + `$user_id` on every event) and `$transactions` revenue on profiles
//! (Mixpanel's revenue reports read event properties now).

pub mod mapping;
pub mod mock;
pub mod request;
pub mod settings;
#[cfg(test)]
mod tests;

pub use mock::MixpanelMock;
pub use settings::{IdentityMerge, MixpanelSettings, Region};

use async_trait::async_trait;
use destination_kit::destination::{ConformanceHints, DedupKey};
use destination_kit::spec::Family;
use destination_kit::{
    BatchLimits, Destination, DestinationInfo, Event, Mapped, PartnerRequest, PartnerResponse,
    Payload, Verdicts,
};
use std::time::SystemTime;

/// Most records per `/import` (and `/engage`, `/groups`) request.
pub const MAX_EVENTS: usize = 2_000;
/// Payload bytes per request: the 2 MiB of the documented 413 answer, less 4 KiB for the array.
pub const MAX_BYTES: usize = 2 * 1024 * 1024 - 4 * 1024;

/// The Mixpanel destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mixpanel;

#[async_trait]
impl Destination for Mixpanel {
    type Settings = MixpanelSettings;

    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Mixpanel", "mixpanel")
            .families(Family::ALL)
            .batch(BatchLimits {
                events: MAX_EVENTS,
                bytes: MAX_BYTES,
            })
    }

    fn conformance_hints(&self) -> ConformanceHints {
        ConformanceHints::default()
            .native_events(&["Order Completed"])
            .dedup_key(DedupKey::Derived(mapping::insert_id))
            .partial_failure(strict_failure)
    }

    fn map(&self, settings: &MixpanelSettings, event: &Event<'_>) -> Mapped {
        mapping::map(settings, event)
    }

    fn request(
        &self,
        settings: &MixpanelSettings,
        route: &str,
        batch: &[Payload],
    ) -> PartnerRequest {
        request::build(settings, route, batch)
    }

    fn interpret(
        &self,
        _settings: &MixpanelSettings,
        response: &PartnerResponse,
        batch: &[Payload],
        now: SystemTime,
    ) -> Verdicts {
        request::interpret(response, batch, now)
    }
}

/// Mixpanel's strict-import answer when the records at `refused` fail (the others ingested).
fn strict_failure(n: usize, refused: &[usize]) -> (u16, String) {
    let failed: Vec<serde_json::Value> = refused
        .iter()
        .map(|i| {
            serde_json::json!({"index": i, "$insert_id": "", "field": "properties",
                "message": "refused by the conformance suite"})
        })
        .collect();
    let body = serde_json::json!({
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": failed,
        "num_records_imported": n - refused.len(),
        "status": "Bad Request",
    });
    (400, body.to_string())
}

/// Parse settings, point them at `endpoint` when given, and build the destination.
pub fn configure(
    settings: serde_json::Value,
    endpoint: Option<&str>,
) -> Result<std::sync::Arc<dyn destination_kit::DynDestination>, destination_kit::SettingsError> {
    Ok(destination_kit::Configured::from_json(Mixpanel, settings, endpoint)?.into_dyn())
}

fn start_mock(
    recording: spec_tests::mock::Recording,
) -> futures::future::BoxFuture<'static, spec_tests::mock::MockPartner> {
    Box::pin(mock::start_with(recording))
}

/// The registry entry.
pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    slug: "mixpanel",
    name: "Mixpanel",
    configure,
    start_mock,
};
