//! Amplitude settings: the project API key, region or endpoint, id length, group type.

use destination_kit::{Secret, SettingsError};
use serde::Deserialize;

/// Amplitude data centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// `api2.amplitude.com` (User Mapping: `api.amplitude.com`). Default.
    #[default]
    Us,
    /// `api.eu.amplitude.com` for every API.
    Eu,
}

/// Settings of the Amplitude destination.
///
/// ```
/// use destinations::amplitude::AmplitudeSettings;
/// let s: AmplitudeSettings =
///     serde_json::from_value(serde_json::json!({"api_key": "k-123456"})).unwrap();
/// assert!(!format!("{s:?}").contains("k-123456"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmplitudeSettings {
    /// The project API key (sent in the body or form, never in a header; masked when shown).
    pub api_key: Secret<String>,
    /// `us` (default) or `eu`.
    #[serde(default)]
    pub region: Region,
    /// Base URL override for every Amplitude API (mock partners, proxies); wins over `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Shortest `user_id`/`device_id` Amplitude should accept (its default is 5); sent as
    /// `options.min_id_length` when set.
    #[serde(default)]
    pub min_id_length: Option<u32>,
    /// The group type a `group` call sets (`groups: {group_type: groupId}`). Default `group`.
    #[serde(default = "default_group_type")]
    pub group_type: String,
}

fn default_group_type() -> String {
    "group".into()
}

impl AmplitudeSettings {
    /// Base URL of the HTTP V2 and Group Identify APIs.
    pub fn events_base(&self) -> &str {
        match (&self.endpoint, self.region) {
            (Some(e), _) => e.trim_end_matches('/'),
            (None, Region::Us) => "https://api2.amplitude.com",
            (None, Region::Eu) => "https://api.eu.amplitude.com",
        }
    }
    /// Base URL of the User Mapping API.
    pub fn usermap_base(&self) -> &str {
        match (&self.endpoint, self.region) {
            (Some(e), _) => e.trim_end_matches('/'),
            (None, Region::Us) => "https://api.amplitude.com",
            (None, Region::Eu) => "https://api.eu.amplitude.com",
        }
    }
    /// The shortest id accepted.
    pub fn min_id(&self) -> usize {
        self.min_id_length.map(|n| n as usize).unwrap_or(5)
    }
}

impl destination_kit::Settings for AmplitudeSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.api_key.expose().trim().is_empty() {
            return Err(SettingsError::new("api_key", "must not be empty"));
        }
        if self.group_type.trim().is_empty() {
            return Err(SettingsError::new("group_type", "must not be empty"));
        }
        if self.min_id_length == Some(0) {
            return Err(SettingsError::new("min_id_length", "must be at least 1"));
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
