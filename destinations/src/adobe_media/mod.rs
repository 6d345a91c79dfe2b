//! # Adobe Streaming Media Collection API (slug `adobe-media`)
//!
//! Stateful sessions. `POST {uri}/api/v1/sessions` with a `sessionStart` → **201** and
//! `Location: /api/v1/sessions/{sid}`; every later event `POST {uri}/api/v1/sessions/{sid}/events`
//! → **204**. Bodies are `{playerTime: {playhead (seconds), ts (epoch ms)}, eventType, params,
//! qoeData, customMetadata}`. There is no auth header: the per-customer `endpoint` and the
//! `analytics.trackingServer`, `analytics.reportSuite`, `visitor.marketingCloudOrgId` params of
//! sessionStart (settings) identify the customer. One event per request
//! ([`BatchLimits::ONE`]).
//!
//! **Sessions.** The route of every payload is the Segment session (`properties.session_id`,
//! else `user:<userId|anonymousId>`), and the destination keeps, per Segment session, the open
//! Adobe sid, the sessionStart of its Playback Started and the last `ts` sent
//! ([`request::Sessions`], one async lock per session so its events go out one at a time). The
//! [`Destination::send`] hook:
//! - sends Playback Started's sessionStart to `/api/v1/sessions` and stores the sid from
//!   `Location` (a 2xx without it fails the event: the endpoint is not a Media Collection API,
//!   and the event was never sent);
//! - for any other event of a session with no open sid, first starts one — from the stored
//!   sessionStart of the session's Playback Started if it was seen, else from the sessionStart
//!   every payload carries, built from the event's own properties and the settings (`media.id` ←
//!   `content_asset_id` | `content_asset_ids[0]` | `asset_id` | the session key, `media.length`
//!   ← `total_length` | 0 (86400 live), `media.playerName` ← `video_player` | settings
//!   `player_name`, `media.channel` ← `channel` | settings `channel`) — then sends the event;
//!   a failed start decides the event's verdict;
//! - on **404/410** for an event (session unknown or closed) starts a new session and resends
//!   the event **once**; the shared classifier judges that second answer;
//! - keeps the `playerTime.ts` values of a session distinct (consecutive events must differ by
//!   at least 1 ms): a ts another event of the session already used moves forward 1 ms at a
//!   time; events otherwise keep their own time, even out of order (Adobe orders by `ts`);
//! - forgets the sid after a delivered sessionComplete/sessionEnd: a later event starts anew,
//!   except another closing event (Video Playback Exited after Completed), which has nothing to
//!   close and ends `filtered` with the reason — sending it would open a second Adobe session
//!   (a second media start in the reports) only to end it;
//! - sends a user's event without `session_id` (the spec's Video Quality Updated has none) on
//!   the user's current playback — the last Segment session of the user whose events were sent
//!   and whose Adobe session is not closed — instead of a session of its own.
//!
//! **Historical events.** The online API is real-time (sessions close after 10 minutes idle or
//! 30 minutes without playhead movement). An event older than `max_event_age_secs` (default
//! 600) is `rejected` with a reason pointing at `/api/v1/downloaded`, the offline route, which
//! takes a whole session in one array and so cannot be fed one streamed event at a time (not
//! implemented). "Now" is the settings' `now` when set (tests, reproducible replays), else the
//! wall clock.
//!
//! **Answers**: the shared classifier — 201/204 delivered, 400 (schema; the body is the
//! message) failed, 500 retried; 404/410 after the one restart fail as client errors.
//!
//! ## Mapping table (55 specced events + 6 calls)
//!
//! | event / call | Media Collection |
//! |---|---|
//! | identify, page, screen, group, alias | unsupported: Adobe Media Collection takes only video events |
//! | track (not video) | unsupported: Adobe Media Collection takes only video events |
//! | **Video** (17, all native) | |
//! | Video Playback Started | `sessionStart` (params above, standard metadata: program → media.show, season, episode, genre, channel → media.network, airdate → media.firstAirDate, publisher → media.originator, asset_id → media.assetId) |
//! | Video Playback Paused | `pauseStart` |
//! | Video Playback Interrupted | `pauseStart` |
//! | Video Playback Buffer Started | `bufferStart` |
//! | Video Playback Buffer Completed | `play` (buffer end is the next play) |
//! | Video Playback Seek Started | `pauseStart` (the API has no seek events) |
//! | Video Playback Seek Completed | `play` |
//! | Video Playback Resumed | `play` |
//! | Video Playback Completed | `sessionComplete` |
//! | Video Playback Exited | `sessionEnd` |
//! | Video Content Started | `chapterStart` (index ← chapter_index / pod_position / 1, offset ← position, length ← total_length, friendlyName ← title, content properties as customMetadata), then `play` (ts + 1 ms) |
//! | Video Content Playing | `ping` (playhead ← position; live content: the second of the day, 0–86399, as Adobe requires) |
//! | Video Content Completed | `chapterComplete` |
//! | Video Ad Started | `adStart` (media.ad.id ← asset_id, length ← total_length, podPosition ← pod_position, playerName, name ← title, advertiser ← publisher) |
//! | Video Ad Playing | `ping` |
//! | Video Ad Completed | `adComplete` |
//! | Video Quality Updated | `bitrateChange` with qoeData (bitrate, framesPerSecond ← framerate, droppedFrames, timeToStart ← startupTime) |
//! | Video Ad Break Started / Completed, Video Ad Skipped (Segment's Adobe names, not in the core spec) | `adBreakStart` (podIndex ← pod_index / 0, podSecond ← position) / `adBreakComplete` / `adSkip` |
//! | **Ecommerce v2** (28), **Live Chat** (4), **Email** (6) | unsupported: Adobe Media Collection takes only video events |
//!
//! Adobe ignores ads outside an `adBreakStart`/`adBreakComplete` pair; the core Video spec has
//! no ad-break events, so senders that want ads counted send Segment's Ad Break events.

pub mod mapping;
pub mod mock;
pub mod request;
pub mod settings;
#[cfg(test)]
mod tests;

pub use mock::AdobeMediaMock;
pub use settings::AdobeMediaSettings;

use async_trait::async_trait;
use destination_kit::destination::{ConformanceHints, DedupKey};
use destination_kit::spec::Family;
use destination_kit::{
    BatchLimits, Destination, DestinationInfo, Event, HttpClient, Mapped, PartnerRequest,
    PartnerResponse, Payload, TransportError,
};

/// The Adobe Streaming Media destination, with its per-session state.
#[derive(Debug, Default)]
pub struct AdobeMedia {
    sessions: request::Sessions,
}

impl AdobeMedia {
    /// A destination with no sessions.
    pub fn new() -> Self {
        AdobeMedia::default()
    }
    /// The sessions it holds.
    pub fn sessions(&self) -> &request::Sessions {
        &self.sessions
    }
}

#[async_trait]
impl Destination for AdobeMedia {
    type Settings = AdobeMediaSettings;

    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Adobe Streaming Media", "adobe-media")
            .families([Family::Video])
            .batch(BatchLimits::ONE)
    }

    fn conformance_hints(&self) -> ConformanceHints {
        ConformanceHints::default()
            .dedup_key(DedupKey::None(
                "the Media Collection API has no event id; the Adobe session id groups a session's events",
            ))
            .filters_on_state(
                "a Video Playback Completed or Exited after its playback's session closed has nothing to close",
            )
    }

    fn map(&self, settings: &AdobeMediaSettings, event: &Event<'_>) -> Mapped {
        mapping::map_event(settings, event)
    }

    fn request(
        &self,
        settings: &AdobeMediaSettings,
        route: &str,
        batch: &[Payload],
    ) -> PartnerRequest {
        request::build(settings, batch, self.sessions.sid(route).as_deref())
    }

    fn interpret(
        &self,
        _settings: &AdobeMediaSettings,
        response: &PartnerResponse,
        batch: &[Payload],
        now: std::time::SystemTime,
    ) -> destination_kit::Verdicts {
        request::interpret(response, batch, now)
    }

    async fn send(
        &self,
        settings: &AdobeMediaSettings,
        http: &HttpClient,
        _request: PartnerRequest,
        batch: &[Payload],
    ) -> Result<PartnerResponse, TransportError> {
        request::send(&self.sessions, settings, http, batch).await
    }
}

/// Parse settings, point them at `endpoint` when given, and build the destination.
pub fn configure(
    settings: serde_json::Value,
    endpoint: Option<&str>,
) -> Result<std::sync::Arc<dyn destination_kit::DynDestination>, destination_kit::SettingsError> {
    Ok(destination_kit::Configured::from_json(AdobeMedia::new(), settings, endpoint)?.into_dyn())
}

fn start_mock(
    recording: spec_tests::mock::Recording,
) -> futures::future::BoxFuture<'static, spec_tests::mock::MockPartner> {
    Box::pin(mock::start_with(recording))
}

/// The registry entry.
pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    slug: "adobe-media",
    name: "Adobe Streaming Media",
    configure,
    start_mock,
};
