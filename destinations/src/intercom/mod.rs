//! # Intercom — data events, contacts and companies (slug `intercom`)
//!
//! `POST {base}/events` with `Authorization: Bearer <token>` and `Intercom-Version: 2.14`
//! (hosts `api.intercom.io`, `api.eu.intercom.io`, `api.au.intercom.io`, setting `region`), one
//! event per request. A data event is `{event_name, created_at (Unix seconds), user_id | email,
//! metadata}`:
//! - `event_name` is the spec name (v1 aliases resolved) or the track name, with `.` and `$`
//!   turned into `-`;
//! - `user_id` ← `userId`; without one, `email` ← `context.traits.email` / `properties.email`;
//!   an event with only an `anonymousId` is `rejected` (Intercom cannot attribute it);
//! - `metadata`: at most 10 flat keys, most useful first — `price` (from `revenue`, or `total`
//!   on Order Completed, as `{amount: cents, currency (default USD)}`), then `product_ids` (the
//!   ids of `products` joined with `", "`; without products the event's own `product_ids` goes as
//!   any other property, an array joined the same way: Intercom refuses nested metadata, so this is the products → items mapping; a key
//!   ending in `_date`, which Intercom reads as a Unix-timestamp date, gets an ISO-8601 value as
//!   Unix seconds), then the family's key properties (Live Chat: `conversation_id,
//!   agent_id, agent_name, agent_username, message_id, conversation_duration, message_body`;
//!   Email: `email_id, email_subject, campaign_id, campaign_name, link_*, list_*`; Ecommerce:
//!   `order_id, checkout_id, cart_id, product_id, …`), then the other properties by name. Lists
//!   of scalars are joined with `", "`; objects and lists of objects (`products`, `filters`) are
//!   dropped; `null`s are dropped.
//! - there is no event id: Intercom drops duplicates keyed by (user, `event_name`,
//!   `created_at`) itself, so the messageId is not sent.
//!
//! **Contacts** (identify, Unsubscribed): `POST /contacts/search` by `external_id` (else
//! `email`); one match → `PUT /contacts/{id}`, none → `POST /contacts` (`role: user`, or `lead`
//! when there is only an email). A 409 on the create means the contact exists but the search
//! index has not caught up: retried, and the next attempt's search finds it. Reserved traits go
//! to `email, phone, name, avatar, signed_up_at`; other flat traits to `custom_attributes`
//! (they must exist as data attributes in the workspace).
//!
//! **Companies** (group): `POST /companies` (`company_id` ← groupId, `name, plan, size ←
//! employees, website, industry, monthly_spend, remote_created_at`, read in any case (`Plan`
//! fills `plan`), other flat traits as `custom_attributes`), then, when the user is found by `external_id`, `POST
//! /contacts/{id}/companies`.
//!
//! **Historical events**: Intercom documents no replay window (only its event *listing* is
//! limited to 90 days), so old events are sent with their own `created_at`, never clamped. An
//! event time before 1970 is `rejected`. No clock is read, so nothing here depends on "now".
//!
//! **Answers** (see [`request::interpret`]): 202 with an empty body = delivered; 429 waits for
//! `Retry-After`, else until `X-RateLimit-Reset` (Unix seconds); 409 on contacts is retried;
//! 404 (user not found) fails as a client error; 401/403 fail as auth; 5xx and 408 are
//! retried; every reason carries the `error.list` `code: message`. Intercom drops duplicates
//! keyed by (user, event_name, created_at) and still answers 202.
//!
//! ## Mapping table (55 specced events + 6 calls)
//!
//! | event / call | Intercom |
//! |---|---|
//! | identify | contact upsert (search → `PUT /contacts/{id}` or `POST /contacts`) |
//! | group | `POST /companies`, then attach the user |
//! | track (not specced) | custom data event |
//! | page | unsupported: Intercom has no server-side page API |
//! | screen | unsupported: Intercom has no server-side screen API |
//! | alias | unsupported: Intercom merges contacts itself, it has no alias API |
//! | **Ecommerce v2** | |
//! | Order Completed | **native**: data event with `price` = {amount in cents, currency} |
//! | Products Searched, Product List Viewed, Product List Filtered, Promotion Viewed, Promotion Clicked, Product Clicked, Product Viewed, Product Added, Product Removed, Cart Viewed, Checkout Started, Checkout Step Viewed, Checkout Step Completed, Payment Info Entered, Order Updated, Order Refunded, Order Cancelled, Coupon Entered, Coupon Applied, Coupon Denied, Coupon Removed, Product Added to Wishlist, Product Removed from Wishlist, Wishlist Product Added to Cart, Product Shared, Cart Shared, Product Reviewed (27) | custom data event (with `price` when `revenue` is given) |
//! | **Video** | |
//! | Video Playback Started, Paused, Interrupted, Resumed, Completed, Exited; Video Content Started, Completed; Video Ad Started, Completed (10) | custom data event (a customer action worth seeing next to a conversation) |
//! | Video Playback Buffer Started, Buffer Completed, Seek Started, Seek Completed; Video Quality Updated (5) | unsupported: player telemetry, not a customer action |
//! | Video Content Playing, Video Ad Playing (2) | unsupported: heartbeats every few seconds would flood a one-event-per-request API |
//! | **Live Chat** | |
//! | Live Chat Conversation Started, Conversation Ended, Message Sent, Message Received (4) | **native**: data event, metadata `conversation_id, agent_id, agent_name, agent_username, message_id, conversation_duration, message_body` |
//! | **Email** | |
//! | Unsubscribed | **native**: contact upsert with `unsubscribed_from_emails: true`, plus the `Unsubscribed` data event (the contact update carries no time; the event records when) |
//! | Email Bounced, Email Delivered, Email Link Clicked, Email Marked as Spam, Email Opened (5) | **native** (Intercom's documented mapping): data event, metadata `email_id, email_subject, campaign_id, campaign_name, link_id, link_url` |
//!
//! Totals (computed by [`mapping::treatment`], checked by a test): Ecommerce 1 native, 27
//! custom; Video 10 custom, 7 unsupported; Live Chat 4 native; Email 6 native.

pub mod mapping;
pub mod mock;
pub mod request;
pub mod settings;
#[cfg(test)]
mod tests;

pub use mock::IntercomMock;
pub use settings::{IntercomSettings, Region};

use async_trait::async_trait;
use destination_kit::destination::{ConformanceHints, DedupKey};
use destination_kit::spec::Family;
use destination_kit::{
    BatchLimits, Destination, DestinationInfo, Event, HttpClient, Mapped, PartnerRequest,
    PartnerResponse, Payload, TransportError, Verdicts,
};
use std::time::SystemTime;

/// Spec events with Intercom's own documented mapping (the rest it takes are custom events).
const NATIVE: &[&str] = &[
    "Order Completed",
    "Live Chat Conversation Started",
    "Live Chat Conversation Ended",
    "Live Chat Message Sent",
    "Live Chat Message Received",
    "Email Bounced",
    "Email Delivered",
    "Email Link Clicked",
    "Email Marked as Spam",
    "Email Opened",
    "Unsubscribed",
];

/// The Intercom destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Intercom;

#[async_trait]
impl Destination for Intercom {
    type Settings = IntercomSettings;

    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Intercom", "intercom")
            .families([
                Family::Ecommerce,
                Family::Video,
                Family::LiveChat,
                Family::Email,
            ])
            .batch(BatchLimits::ONE)
    }

    fn conformance_hints(&self) -> ConformanceHints {
        ConformanceHints::default()
            .native_events(NATIVE)
            .dedup_key(DedupKey::None(
                "Intercom has no event id; it drops duplicates by (user, event_name, created_at)",
            ))
            .status_override(
                409,
                "409 on /contacts means the search index lags behind a create: retried",
            )
    }

    fn map(&self, _settings: &IntercomSettings, event: &Event<'_>) -> Mapped {
        mapping::map_event(event)
    }

    fn request(
        &self,
        settings: &IntercomSettings,
        route: &str,
        batch: &[Payload],
    ) -> PartnerRequest {
        request::build(settings, route, batch)
    }

    fn interpret(
        &self,
        _settings: &IntercomSettings,
        response: &PartnerResponse,
        batch: &[Payload],
        now: SystemTime,
    ) -> Verdicts {
        request::interpret(response, batch, now)
    }

    async fn send(
        &self,
        settings: &IntercomSettings,
        http: &HttpClient,
        request: PartnerRequest,
        batch: &[Payload],
    ) -> Result<PartnerResponse, TransportError> {
        request::send(settings, http, request, batch).await
    }
}

/// Parse settings, point them at `endpoint` when given, and build the destination.
pub fn configure(
    settings: serde_json::Value,
    endpoint: Option<&str>,
) -> Result<std::sync::Arc<dyn destination_kit::DynDestination>, destination_kit::SettingsError> {
    Ok(destination_kit::Configured::from_json(Intercom, settings, endpoint)?.into_dyn())
}

fn start_mock(
    recording: spec_tests::mock::Recording,
) -> futures::future::BoxFuture<'static, spec_tests::mock::MockPartner> {
    Box::pin(mock::start_with(recording))
}

/// The registry entry.
pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    slug: "intercom",
    name: "Intercom",
    configure,
    start_mock,
};
