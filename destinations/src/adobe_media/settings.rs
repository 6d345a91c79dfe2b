//! Adobe Streaming Media settings: the provisioned collection URI, the Analytics and Experience
//! Cloud ids every session carries, defaults for required player fields, and the real-time bound.

use chrono::{DateTime, Utc};
use destination_kit::{Settings, SettingsError};
use serde::{Deserialize, Deserializer};

/// Default bound on an event's age: the online API closes idle sessions after 10 minutes.
pub const DEFAULT_MAX_EVENT_AGE_SECS: u64 = 600;

/// Settings of the Adobe Streaming Media destination.
///
/// ```json
/// {"endpoint": "https://example.hb-api.omtrdc.net", "tracking_server": "example.sc.omtrdc.net",
///  "report_suite": "examplersid", "marketing_cloud_org_id": "ABC123@AdobeOrg"}
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdobeMediaSettings {
    /// The Media Collection base URI Adobe provisions per customer (there is no public host).
    pub endpoint: String,
    /// `analytics.trackingServer`.
    pub tracking_server: String,
    /// `analytics.reportSuite`.
    pub report_suite: String,
    /// `visitor.marketingCloudOrgId` (`…@AdobeOrg`).
    pub marketing_cloud_org_id: String,
    /// `media.playerName` / `media.ad.playerName` when the event has no `video_player`.
    #[serde(default = "default_unknown")]
    pub player_name: String,
    /// `media.channel` when the event has no `channel`.
    #[serde(default = "default_unknown")]
    pub channel: String,
    /// Events older than this many seconds are `rejected` (the online API is real-time; sessions
    /// close after 10 minutes idle). Default 600.
    #[serde(default = "default_max_age")]
    pub max_event_age_secs: u64,
    /// A fixed "now" (ISO-8601) for the age check, for tests and reproducible replays of
    /// fixtures; absent = the wall clock.
    #[serde(default, deserialize_with = "de_time")]
    pub now: Option<DateTime<Utc>>,
}

fn default_unknown() -> String {
    "unknown".to_string()
}

fn default_max_age() -> u64 {
    DEFAULT_MAX_EVENT_AGE_SECS
}

fn de_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| {
        destination_kit::event::parse_datetime(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    })
    .transpose()
}

impl AdobeMediaSettings {
    /// The base URI without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.endpoint.trim_end_matches('/')
    }
    /// The "now" of the age check.
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
}

impl Settings for AdobeMediaSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        url::Url::parse(&self.endpoint)
            .map_err(|e| SettingsError::new("endpoint", format!("not a URL: {e}")))?;
        for (key, v) in [
            ("tracking_server", &self.tracking_server),
            ("report_suite", &self.report_suite),
            ("marketing_cloud_org_id", &self.marketing_cloud_org_id),
            ("player_name", &self.player_name),
            ("channel", &self.channel),
        ] {
            if v.trim().is_empty() {
                return Err(SettingsError::new(key, "empty"));
            }
        }
        if self.max_event_age_secs == 0 {
            return Err(SettingsError::new(
                "max_event_age_secs",
                "must be positive (seconds)",
            ));
        }
        Ok(())
    }

    fn set_endpoint(&mut self, base_url: &str) {
        self.endpoint = base_url.to_string();
    }
}
