//! Webhook settings: `{"url": "...", "headers": {...}, "batch_size": 1}`.

use destination_kit::{Secret, Settings, SettingsError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Most events one webhook request may carry.
pub const MAX_BATCH_SIZE: usize = 1000;

/// Settings of the generic webhook. `Debug` shows only the URL's scheme, host and port (a
/// webhook URL's path often carries a token) and never header values.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where events are POSTed (`http` or `https`).
    pub url: String,
    /// Extra request headers; values may be secrets (never shown in `Debug`).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret<String>>,
    /// Events per request: `1` posts each event as one JSON object; more posts a JSON array of up
    /// to this many events (at most 1000).
    #[serde(default = "one")]
    pub batch_size: usize,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origin = url::Url::parse(&self.url)
            .map(|u| format!("{}/[redacted]", u.origin().ascii_serialization()))
            .unwrap_or_else(|_| destination_kit::secret::REDACTED.to_string());
        f.debug_struct("WebhookSettings")
            .field("url", &origin)
            .field("headers", &self.headers)
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

fn one() -> usize {
    1
}

impl Settings for WebhookSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let u = url::Url::parse(&self.url)
            .map_err(|e| SettingsError::new("url", format!("not a URL: {e}")))?;
        if u.scheme() != "http" && u.scheme() != "https" {
            return Err(SettingsError::new("url", "must be an http or https URL"));
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(SettingsError::new(
                "batch_size",
                format!("must be between 1 and {MAX_BATCH_SIZE}"),
            ));
        }
        for (name, value) in &self.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(SettingsError::new(
                    format!("headers.{name}"),
                    "not a valid header name",
                ));
            }
            destination_kit::destination::check_header_value(
                format!("headers.{name}"),
                value.expose(),
            )?;
        }
        Ok(())
    }

    fn set_endpoint(&mut self, base_url: &str) {
        self.url = base_url.to_string();
    }
}
