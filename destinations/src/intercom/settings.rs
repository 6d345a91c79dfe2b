//! Intercom settings: the access token, the data-hosting region, the API version.

use destination_kit::{Secret, Settings, SettingsError};
use serde::Deserialize;

/// The `Intercom-Version` header sent when the settings name none.
pub const DEFAULT_API_VERSION: &str = "2.14";

/// Where the workspace's data is hosted (Intercom has one API host per region).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// `https://api.intercom.io`.
    #[default]
    Us,
    /// `https://api.eu.intercom.io`.
    Eu,
    /// `https://api.au.intercom.io`.
    Au,
}

impl Region {
    /// The API base URL of the region.
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.intercom.io",
            Region::Eu => "https://api.eu.intercom.io",
            Region::Au => "https://api.au.intercom.io",
        }
    }
}

/// Settings of the Intercom destination.
///
/// ```json
/// {"access_token": "dG9r…", "region": "eu"}
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntercomSettings {
    /// The access token (private app or OAuth), sent as `Authorization: Bearer …`.
    pub access_token: Secret<String>,
    /// Data-hosting region: `us` (default), `eu` or `au`.
    #[serde(default)]
    pub region: Region,
    /// Another base URL (a mock partner, a proxy); overrides the region's host.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The `Intercom-Version` header (default `2.14`).
    #[serde(default = "default_version")]
    pub api_version: String,
}

fn default_version() -> String {
    DEFAULT_API_VERSION.to_string()
}

impl IntercomSettings {
    /// Settings with a token and everything else default.
    pub fn new(access_token: &str) -> Self {
        IntercomSettings {
            access_token: Secret::new(access_token.to_string()),
            region: Region::Us,
            endpoint: None,
            api_version: default_version(),
        }
    }

    /// The base URL requests go to, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or_else(|| self.region.base_url())
            .trim_end_matches('/')
    }
}

impl Settings for IntercomSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.access_token.expose().trim().is_empty() {
            return Err(SettingsError::new("access_token", "empty"));
        }
        // sent as `Authorization: Bearer …`
        destination_kit::destination::check_header_value(
            "access_token",
            self.access_token.expose(),
        )?;
        if self.api_version.trim().is_empty() {
            return Err(SettingsError::new("api_version", "empty"));
        }
        if let Some(e) = &self.endpoint {
            url::Url::parse(e)
                .map_err(|err| SettingsError::new("endpoint", format!("not a URL: {err}")))?;
        }
        Ok(())
    }

    fn set_endpoint(&mut self, base_url: &str) {
        self.endpoint = Some(base_url.to_string());
    }
}
