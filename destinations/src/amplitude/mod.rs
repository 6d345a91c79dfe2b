//! # Amplitude — HTTP V2, Group Identify and User Mapping (`amplitude`)
//!
//! `POST {base}/2/httpapi` with `{api_key, events: [...], options?: {min_id_length}}`; `base` is
//! `https://api2.amplitude.com` (US) or `https://api.eu.amplitude.com` (`region: "eu"`) or
//! `endpoint`. Group Identify (`{base}/groupidentify`) and User Mapping (`/usermap`, US host
//! `api.amplitude.com`) are form posts with `api_key` and a JSON array.
//!
//! - **Auth**: `api_key` in the body or form, never a header. The key is masked in `Debug`;
//!   request bodies carry it, so bodies are never logged.
//! - **Batching**: routes `httpapi`, `groupidentify`, `usermap`; at most 1,999 payloads
//!   (HTTP V2 takes "fewer than 2,000"; Group Identify at most 1,024 identifications) and 900 kB
//!   of them per request (Amplitude: under 1 MB; 100 kB of margin for the envelope).
//!   Every `httpapi` payload is one Amplitude event, so a 400's indices are batch indices.
//! - **Ids**: `user_id` ← `userId`, `device_id` ← `anonymousId` (else `context.device.id`,
//!   also when `anonymousId` is a placeholder).
//!   Amplitude refuses ids shorter than 5 characters (or `min_id_length`) and placeholders
//!   (`null`, `anonymous`, `0`, …): a bad `userId` rejects the event (sending it under the device
//!   alone would misattribute it), a bad device id is dropped, and no usable id rejects it.
//! - **Fields**: `time` in Unix ms from the event time; `insert_id` ← messageId (Amplitude
//!   de-duplicates per device for 7 days, so retries of 500/502/504 are harmless);
//!   `event_properties` ← properties; `user_properties` ← `context.traits` (plain keys, which
//!   Amplitude treats as `$set`); `ip`, `platform` (device.type), `os_name`, `os_version`,
//!   `device_manufacturer`, `device_model`, `carrier`, `language` (locale), `app_version`,
//!   `country`/`region`/`city`, `location_lat`/`location_lng`, `user_agent`, `library`
//!   (`name/version`) from `context`; `session_id` from `integrations.Amplitude.session_id`.
//! - **Historical events**: Amplitude documents no replay window and keeps the `time` sent, so
//!   old events are sent as they are, never moved or dropped.
//! - **Quirks**: a 400 naming event indices (`events_with_invalid_fields`,
//!   `events_with_missing_fields`, `silenced_events`) fails only those events, the rest were not
//!   ingested and are resent; `throttled_events` retry after 30 s; 400 `Invalid API key` fails
//!   everything as `auth`; 403 (Amplitude's firewall or a sanctioned region, not the key) fails
//!   everything as `client`; 429 waits `Retry-After` or 30 s; 413 splits the batch; 500, 502, 503,
//!   504 retry.
//!
//! ## Mapping table
//!
//! | Segment | Amplitude | how |
//! |---|---|---|
//! | **Ecommerce** | | |
//! | Order Completed | `Order Completed` with `revenue` (← revenue, else total), `price`, `quantity` (only a whole number: Amplitude's field is an integer, and a fractional one stays in `event_properties`, as every property does), `productId` when at the top level, `revenueType: "Purchase"`; plus one `Product Purchased` per product (`event_properties` = the product, `insert_id` = `{messageId}-{n}`, n = index in `products`, no revenue fields so revenue is counted once) | native |
//! | Order Refunded | `Order Refunded` with `revenue` = −(total, else revenue, else value: the spec gives a refund its `total`), `revenueType: "Refund"` | native |
//! | the other 26 Ecommerce events | `event_type` = the spec event name, `event_properties` = properties | custom (Amplitude has no ecommerce schema besides revenue) |
//! | **Video** (17) | `event_type` = the spec event name | custom |
//! | **Live Chat** (4) | `event_type` = the spec event name | custom |
//! | **Email** (6) | `event_type` = the spec event name | custom |
//! | **Calls** | | |
//! | track (not specced) | `event_type` = event | custom |
//! | identify | `$identify` event on `httpapi` with `user_properties: {"$set": traits}` (batched with the user's events, same outcome rules) | native |
//! | group | `$identify` with `groups: {group_type: groupId}` and `user_properties: {"$set": {group_type: groupId}}`, plus a Group Identify (`groupidentify`, form) with `group_properties: {"$set": traits}` when there are traits | native |
//! | alias | User Mapping (`usermap`, form): `{user_id: previousId, global_user_id: userId}` (needs Amplitude's Portfolio add-on) | native |
//! | page | `Viewed {name}` (`Viewed Page` without a name) | native |
//! | screen | `Viewed {name}` (`Viewed Screen` without a name) | native |
//!
//! Recognised spec events are sent under their spec name (a v1 alias such as `Completed Order`
//! arrives as `Order Completed`).
//!
//! Counts (Ecommerce / Video / Live Chat / Email): native 2 / 0 / 0 / 0, custom 26 / 17 / 4 / 6,
//! unsupported 0 / 0 / 0 / 0.

pub mod mapping;
pub mod mock;
pub mod request;
pub mod settings;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use destination_kit::destination::ConformanceHints;
use destination_kit::spec::Family;
use destination_kit::{
    BatchLimits, Destination, DestinationInfo, Event, Mapped, PartnerRequest, PartnerResponse,
    Payload, Verdicts,
};
pub use settings::{AmplitudeSettings, Region};
use std::time::SystemTime;

/// How Amplitude answers a batch with some bad events (for the conformance suite).
fn invalid_fields(_n: usize, bad: &[usize]) -> (u16, String) {
    let body = serde_json::json!({
        "code": 400,
        "error": "Invalid field values on some events",
        "events_with_invalid_fields": { "time": bad },
    });
    (400, body.to_string())
}

/// The Amplitude destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Amplitude;

/// Events per request: HTTP V2 takes "fewer than 2,000" (the mock answers 413 at 2,000).
pub const MAX_EVENTS: usize = 1_999;
/// Identifications per Group Identify request (Amplitude's limit).
pub const MAX_GROUP_IDENTIFICATIONS: usize = 1_024;
/// Bytes of events per request: under 1 MB with a margin for the envelope.
pub const MAX_BYTES: usize = 900_000;

#[async_trait]
impl Destination for Amplitude {
    type Settings = AmplitudeSettings;

    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Amplitude", "amplitude")
            .families(Family::ALL)
            .reads_tree()
            .batch(BatchLimits {
                events: MAX_EVENTS,
                bytes: MAX_BYTES,
            })
            .route_batch(
                mapping::GROUPIDENTIFY,
                BatchLimits {
                    events: MAX_GROUP_IDENTIFICATIONS,
                    bytes: MAX_BYTES,
                },
            )
    }

    fn conformance_hints(&self) -> ConformanceHints {
        ConformanceHints::default()
            .native_events(&["Order Completed", "Order Refunded"])
            .status_override(
                400,
                "a 400 naming event indices fails only those and resends the rest; `Invalid API key` fails all as auth",
            )
            .status_override(
                403,
                "a 403 is Amplitude's firewall or a sanctioned region, not the key: failed as a client error, never retried",
            )
            .status_override(429, "waits 30 s when there is no Retry-After")
            .partial_failure(invalid_fields)
    }

    fn map(&self, settings: &AmplitudeSettings, event: &Event<'_>) -> Mapped {
        mapping::map(settings, event)
    }

    fn request(
        &self,
        settings: &AmplitudeSettings,
        route: &str,
        batch: &[Payload],
    ) -> PartnerRequest {
        request::request(settings, route, batch)
    }

    fn interpret(
        &self,
        _settings: &AmplitudeSettings,
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
    Ok(destination_kit::Configured::from_json(Amplitude, settings, endpoint)?.into_dyn())
}

fn start_mock(
    recording: spec_tests::mock::Recording,
) -> futures::future::BoxFuture<'static, spec_tests::mock::MockPartner> {
    Box::pin(mock::start_with(recording))
}

/// The registry entry.
pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    slug: "amplitude",
    name: "Amplitude",
    configure,
    start_mock,
};
