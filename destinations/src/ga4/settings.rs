//! GA4 settings: stream ids, the secret, region or endpoint, debug validation and the clock.

use chrono::{DateTime, Utc};
use destination_kit::{Secret, SettingsError};
use serde::{Deserialize, Deserializer};

/// Where GA4 collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// `https://www.google-analytics.com` (default).
    #[default]
    Global,
    /// EU data collection: `https://region1.google-analytics.com`.
    Eu,
}

impl Region {
    /// The base URL of the region.
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Global => "https://www.google-analytics.com",
            Region::Eu => "https://region1.google-analytics.com",
        }
    }
}

/// Settings of the GA4 Measurement Protocol destination.
///
/// ```
/// use destinations::ga4::Ga4Settings;
/// let s: Ga4Settings = serde_json::from_value(serde_json::json!({
///     "measurement_id": "G-TEST123", "api_secret": "s3cr3t"
/// })).unwrap();
/// assert!(!format!("{s:?}").contains("s3cr3t"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ga4Settings {
    /// Web stream id (`G-XXXX`). Exactly one of this and `firebase_app_id` is required.
    #[serde(default)]
    pub measurement_id: Option<String>,
    /// App stream id (Firebase app id, `1:123:android:abc`); the body then carries
    /// `app_instance_id` instead of `client_id`.
    #[serde(default)]
    pub firebase_app_id: Option<String>,
    /// The stream's Measurement Protocol secret (a query parameter; masked when shown).
    pub api_secret: Secret<String>,
    /// `global` (default) or `eu`.
    #[serde(default)]
    pub region: Region,
    /// Base URL override (mock partners, proxies); wins over `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Send to `/debug/mp/collect` and fail events GA4's validation server objects to.
    /// Production answers 204 to everything, so this is the only way to see a bad payload.
    /// Debug events never reach reports. `debug` is accepted as an alias.
    #[serde(default, alias = "debug")]
    pub validate: bool,
    /// Currency sent with `value` when an ecommerce event has a value but no `currency`
    /// (GA4 requires one with the other). Default `USD`.
    #[serde(default = "default_currency")]
    pub default_currency: String,
    /// How far in the future an event time may be (clock skew) before the event is rejected.
    /// Default 15 minutes.
    #[serde(default = "default_future_skew")]
    pub max_future_skew_secs: u64,
    /// Pin "now" for the 72-hour rule (tests, reproducible replays), ISO-8601. Unset: the wall
    /// clock at mapping time.
    #[serde(default, deserialize_with = "de_opt_time")]
    pub now: Option<DateTime<Utc>>,
}

fn default_currency() -> String {
    "USD".into()
}

fn default_future_skew() -> u64 {
    15 * 60
}

fn de_opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| {
        destination_kit::event::parse_datetime(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    })
    .transpose()
}

impl Ga4Settings {
    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or(self.region.base_url())
            .trim_end_matches('/')
    }

    /// "Now" for the historical-window decision.
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    /// Whether the stream is an app stream (Firebase).
    pub fn is_app_stream(&self) -> bool {
        self.firebase_app_id.is_some()
    }
}

impl destination_kit::Settings for Ga4Settings {
    fn validate(&self) -> Result<(), SettingsError> {
        match (&self.measurement_id, &self.firebase_app_id) {
            (None, None) => {
                return Err(SettingsError::new(
                    "measurement_id",
                    "one of measurement_id (web stream) or firebase_app_id (app stream) is required",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(SettingsError::new(
                    "firebase_app_id",
                    "set either measurement_id or firebase_app_id, not both",
                ));
            }
            (Some(m), None) if m.trim().is_empty() => {
                return Err(SettingsError::new("measurement_id", "must not be empty"));
            }
            (None, Some(f)) if f.trim().is_empty() => {
                return Err(SettingsError::new("firebase_app_id", "must not be empty"));
            }
            _ => {}
        }
        if self.api_secret.expose().trim().is_empty() {
            return Err(SettingsError::new("api_secret", "must not be empty"));
        }
        let c = &self.default_currency;
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(SettingsError::new(
                "default_currency",
                format!("{c:?} is not an ISO-4217 code (three upper-case letters)"),
            ));
        }
        if let Some(e) = &self.endpoint {
            let u = url::Url::parse(e)
                .map_err(|err| SettingsError::new("endpoint", format!("not a URL: {err}")))?;
            if u.scheme() != "http" && u.scheme() != "https" {
                return Err(SettingsError::new("endpoint", "must be http or https"));
            }
        }
        Ok(())
    }

    fn set_endpoint(&mut self, base_url: &str) {
        self.endpoint = Some(base_url.to_string());
    }
}
