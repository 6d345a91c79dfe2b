//! Braze settings: REST key, cluster REST endpoint (validated), app id, eCommerce defaults, and
//! the clock override used for the future-time decision.

use chrono::{DateTime, Utc};
use destination_kit::{Secret, Settings, SettingsError};
use serde::Deserialize;

/// Settings of the Braze destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrazeSettings {
    /// A REST API key with the `users.track` (and, for alias, `users.merge`) permission; sent as
    /// `Authorization: Bearer`.
    pub api_key: Secret<String>,
    /// The cluster's REST endpoint, e.g. `https://rest.iad-01.braze.com` or
    /// `https://rest.fra-02.braze.eu` (not the dashboard URL).
    pub rest_endpoint: String,
    /// The app identifier sent as `app_id` on events (optional).
    #[serde(default)]
    pub app_id: Option<String>,
    /// `source` of eCommerce events that carry none in their properties.
    #[serde(default = "default_source")]
    pub ecommerce_source: String,
    /// Currency of eCommerce events that carry none (ISO 4217; Segment's spec default is USD).
    #[serde(default = "default_currency")]
    pub default_currency: String,
    /// "Now" for rejecting future-dated events (Braze would silently replace a future time by the
    /// time of receipt). Unset = the system clock; tests set it.
    #[serde(default, deserialize_with = "crate::mixpanel::settings::de_now")]
    pub now: Option<DateTime<Utc>>,
}

fn default_source() -> String {
    "segment".into()
}

fn default_currency() -> String {
    "USD".into()
}

impl BrazeSettings {
    /// The base URL requests go to (no trailing slash).
    pub fn base_url(&self) -> &str {
        self.rest_endpoint.trim_end_matches('/')
    }

    /// The clock for the future-time decision.
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
}

/// Whether `host` is a Braze REST host: `rest.<cluster>.braze.com` or `rest.<cluster>.braze.eu`
/// with a cluster like `iad-01`, `us-09`, `fra-02`, `au-01`, `jp-01`.
pub fn is_rest_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("rest.") else {
        return false;
    };
    let Some(cluster) = rest
        .strip_suffix(".braze.com")
        .or_else(|| rest.strip_suffix(".braze.eu"))
    else {
        return false;
    };
    let Some((region, num)) = cluster.split_once('-') else {
        return false;
    };
    (2..=4).contains(&region.len())
        && region.bytes().all(|b| b.is_ascii_lowercase())
        && num.len() == 2
        && num.bytes().all(|b| b.is_ascii_digit())
}

impl Settings for BrazeSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.api_key.expose().trim().is_empty() {
            return Err(SettingsError::new("api_key", "must not be empty"));
        }
        // sent as `Authorization: Bearer …`
        destination_kit::destination::check_header_value("api_key", self.api_key.expose())?;
        let url = url::Url::parse(&self.rest_endpoint).map_err(|e| {
            SettingsError::new(
                "rest_endpoint",
                format!("not a URL ({e}); expected e.g. https://rest.iad-01.braze.com"),
            )
        })?;
        let host = url.host_str().unwrap_or_default();
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(SettingsError::new("rest_endpoint", "must be an https URL"));
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(SettingsError::new(
                "rest_endpoint",
                format!(
                    "must be the base URL without a path (got path {:?}); e.g. https://rest.iad-01.braze.com",
                    url.path()
                ),
            ));
        }
        if host.contains("braze.") {
            if !is_rest_host(host) {
                return Err(SettingsError::new(
                    "rest_endpoint",
                    format!(
                        "{host} is not a Braze REST endpoint; use rest.<cluster>.braze.com or .braze.eu (the dashboard URL will not work)"
                    ),
                ));
            }
            if url.scheme() != "https" {
                return Err(SettingsError::new("rest_endpoint", "Braze needs https"));
            }
        }
        if self.default_currency.len() != 3
            || !self
                .default_currency
                .bytes()
                .all(|b| b.is_ascii_uppercase())
        {
            return Err(SettingsError::new(
                "default_currency",
                "must be an ISO 4217 code such as USD",
            ));
        }
        if self.ecommerce_source.is_empty() {
            return Err(SettingsError::new("ecommerce_source", "must not be empty"));
        }
        Ok(())
    }

    fn set_endpoint(&mut self, base_url: &str) {
        self.rest_endpoint = base_url.to_string();
    }
}
