//! Mixpanel settings: credentials, data-residency region, endpoint override, identity mode, and
//! the clock override used for the historical-window decision.

use chrono::{DateTime, Utc};
use destination_kit::{Secret, Settings, SettingsError};
use serde::Deserialize;

/// Mixpanel's data-residency regions, each with its own ingestion host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// `https://api.mixpanel.com` (default).
    #[default]
    Us,
    /// `https://api-eu.mixpanel.com` (EU residency).
    Eu,
    /// `https://api-in.mixpanel.com` (India residency).
    In,
}

impl Region {
    /// The ingestion base URL of this region.
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.mixpanel.com",
            Region::Eu => "https://api-eu.mixpanel.com",
            Region::In => "https://api-in.mixpanel.com",
        }
    }
}

/// Which Mixpanel identity system the project uses; decides what `alias` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMerge {
    /// Simplified ID Merge (the default for new projects): identities are linked by events that
    /// carry both `$device_id` and `$user_id`; `$create_alias` is ignored, so alias is
    /// unsupported.
    #[default]
    Simplified,
    /// Original ID Merge or the legacy system: alias sends `$create_alias`.
    Original,
}

/// Settings of the Mixpanel destination.
///
/// Authentication for `/import` is HTTP Basic with either the legacy project secret
/// (`api_secret`, sent as the user name with an empty password) or a service account
/// (`service_account_username` + `service_account_secret`, which needs `project_id`).
/// `project_token` goes in the body of `/engage`, `/groups` and `/track` payloads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixpanelSettings {
    /// The project token (public; it identifies the project in profile and group updates).
    pub project_token: String,
    /// The legacy project API secret (Basic auth user name, empty password).
    #[serde(default)]
    pub api_secret: Option<Secret<String>>,
    /// A service account's user name (Basic auth user name).
    #[serde(default)]
    pub service_account_username: Option<String>,
    /// A service account's secret (Basic auth password).
    #[serde(default)]
    pub service_account_secret: Option<Secret<String>>,
    /// The numeric project id, sent as `project_id` (required with a service account).
    #[serde(default)]
    pub project_id: Option<String>,
    /// Data-residency region (`us`, `eu`, `in`).
    #[serde(default)]
    pub region: Region,
    /// Another base URL (mock partners, proxies); overrides `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The identity system of the project (decides whether alias is sent).
    #[serde(default)]
    pub identity_merge: IdentityMerge,
    /// `$group_key` sent with group profile updates (default `$group_id`).
    #[serde(default = "default_group_key")]
    pub group_key: String,
    /// "Now" for the historical-window decision (events before 1971 or more than an hour ahead
    /// are rejected; `/track` only takes 5 days). Unset = the system clock. Tests set it so the
    /// decision is deterministic.
    #[serde(default, deserialize_with = "de_now")]
    pub now: Option<DateTime<Utc>>,
}

/// Read an optional ISO-8601 date-time setting.
pub(crate) fn de_now<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| {
        destination_kit::event::parse_datetime(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    })
    .transpose()
}

fn default_group_key() -> String {
    "$group_id".into()
}

impl MixpanelSettings {
    /// The base URL requests go to (no trailing slash).
    pub fn base_url(&self) -> &str {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/'),
            None => self.region.base_url(),
        }
    }

    /// The Basic auth pair for `/import`: `(user, password)`.
    pub fn basic_auth(&self) -> (&str, &str) {
        match (&self.service_account_username, &self.service_account_secret) {
            (Some(u), Some(s)) => (u.as_str(), s.expose().as_str()),
            _ => (
                self.api_secret
                    .as_ref()
                    .map(|s| s.expose().as_str())
                    .unwrap_or(""),
                "",
            ),
        }
    }

    /// The clock for historical decisions: the `now` override, else the system clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
}

impl Settings for MixpanelSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.project_token.trim().is_empty() {
            return Err(SettingsError::new("project_token", "must not be empty"));
        }
        let has_secret = self
            .api_secret
            .as_ref()
            .is_some_and(|s| !s.expose().is_empty());
        let sa_user = self
            .service_account_username
            .as_ref()
            .is_some_and(|u| !u.is_empty());
        let sa_secret = self
            .service_account_secret
            .as_ref()
            .is_some_and(|s| !s.expose().is_empty());
        if sa_user != sa_secret {
            return Err(SettingsError::new(
                if sa_user {
                    "service_account_secret"
                } else {
                    "service_account_username"
                },
                "a service account needs both a user name and a secret",
            ));
        }
        if !has_secret && !sa_user {
            return Err(SettingsError::new(
                "api_secret",
                "missing: set api_secret (project secret) or service_account_username and service_account_secret",
            ));
        }
        if sa_user && self.project_id.as_deref().is_none_or(str::is_empty) {
            return Err(SettingsError::new(
                "project_id",
                "required with a service account",
            ));
        }
        if let Some(p) = &self.project_id
            && !p.chars().all(|c| c.is_ascii_digit())
        {
            return Err(SettingsError::new(
                "project_id",
                "must be the numeric project id",
            ));
        }
        if self.group_key.is_empty() {
            return Err(SettingsError::new("group_key", "must not be empty"));
        }
        if let Some(e) = &self.endpoint {
            match url::Url::parse(e) {
                Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
                _ => {
                    return Err(SettingsError::new(
                        "endpoint",
                        format!("not an http(s) URL: {e:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn set_endpoint(&mut self, base_url: &str) {
        self.endpoint = Some(base_url.to_string());
    }
}
