//! `destkit serve --config FILE`: the TOML that maps write keys to sources and their destinations.
//!
//! ```toml
//! drain_timeout = "30s"            # optional; --drain-timeout wins
//!
//! [[sources]]
//! name = "web"
//! write_key = "wk_web_123"
//!
//! [[sources.destinations]]
//! destination = "amplitude"        # a registry slug
//! settings = { api_key = "..." }   # the destination's settings
//! endpoint = "http://127.0.0.1:9"  # optional: replaces the destination's base URL
//! mock = true                      # optional: start its built-in mock partner and deliver there
//!                                  # (its URL and fake credentials replace those in settings)
//! dead_letter = "web-amp.jsonl"    # optional: undelivered events, JSON lines
//! batch_size = 100                 # optional: payloads per request (≤ the partner's limit)
//! max_retry_duration = "4h"        # optional: the retry budget
//! ```

use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// How long SIGTERM waits for in-flight deliveries (humantime, e.g. `30s`).
    #[serde(default, with = "opt_duration")]
    pub drain_timeout: Option<Duration>,
    /// The sources, one per write key.
    pub sources: Vec<SourceConfig>,
}

/// One source: a write key and the destinations its events go to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Name, shown in the report; dedup is per source.
    pub name: String,
    /// The write key clients send (HTTP Basic username or `writeKey`). Never printed.
    pub write_key: WriteKey,
    /// Its destinations.
    #[serde(default)]
    pub destinations: Vec<DestinationConfig>,
}

/// A write key; `Debug` never shows it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct WriteKey(pub String);

impl std::fmt::Debug for WriteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(destination_kit::secret::REDACTED)
    }
}

/// One destination of a source. `Debug` leaves the settings out (they may hold secrets).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Registry slug (`webhook`, `amplitude`, …).
    pub destination: String,
    /// Its settings (a TOML table, read as JSON).
    #[serde(default)]
    pub settings: Option<toml::Value>,
    /// Replace the destination's base URL.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Start the destination's built-in mock partner and deliver there: the mock's own settings
    /// (its URL, the fake credentials it accepts) replace those in `settings`.
    #[serde(default)]
    pub mock: bool,
    /// Dead-letter file (JSON lines) for undelivered events.
    #[serde(default)]
    pub dead_letter: Option<PathBuf>,
    /// Payloads per request override.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Retry budget (humantime).
    #[serde(default, with = "opt_duration")]
    pub max_retry_duration: Option<Duration>,
}

impl std::fmt::Debug for DestinationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationConfig")
            .field("destination", &self.destination)
            .field("endpoint", &self.endpoint)
            .field("mock", &self.mock)
            .finish_non_exhaustive()
    }
}

impl DestinationConfig {
    /// The settings as JSON (an empty object when none were given).
    pub fn settings_json(&self) -> serde_json::Value {
        match &self.settings {
            Some(v) => serde_json::to_value(v).unwrap_or_else(|_| serde_json::json!({})),
            None => serde_json::json!({}),
        }
    }
}

mod opt_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A TOML error by place and kind only: toml's own text quotes the offending line, and a line
/// of this file may hold a write key or a partner's API key.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = destination_kit::destination::without_values(e.message().trim());
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {msg}")
        }
        None => msg,
    }
}

impl ServeConfig {
    /// Parse and check: at least one source, names and write keys unique and non-empty, every
    /// destination a known slug. Errors name the place (`sources[1].write_key: …`).
    pub fn parse(text: &str, known_slug: impl Fn(&str) -> bool) -> Result<ServeConfig, String> {
        let cfg: ServeConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        if cfg.sources.is_empty() {
            return Err("sources: at least one [[sources]] table is needed".into());
        }
        let mut names = HashSet::new();
        let mut keys = HashSet::new();
        for (i, s) in cfg.sources.iter().enumerate() {
            if s.name.trim().is_empty() {
                return Err(format!("sources[{i}].name: empty"));
            }
            if !names.insert(s.name.as_str()) {
                return Err(format!("sources[{i}].name: {:?} is used twice", s.name));
            }
            if s.write_key.0.is_empty() {
                return Err(format!("sources[{i}].write_key: empty"));
            }
            if !keys.insert(s.write_key.0.as_str()) {
                return Err(format!(
                    "sources[{i}].write_key: the same key is used by two sources"
                ));
            }
            for (j, d) in s.destinations.iter().enumerate() {
                if !known_slug(&d.destination) {
                    return Err(format!(
                        "sources[{i}].destinations[{j}].destination: unknown destination {:?}",
                        d.destination
                    ));
                }
                if d.mock && d.endpoint.is_some() {
                    return Err(format!(
                        "sources[{i}].destinations[{j}]: give either mock = true or endpoint, not both"
                    ));
                }
            }
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
drain_timeout = "5s"
[[sources]]
name = "web"
write_key = "wk_web_123"
[[sources.destinations]]
destination = "webhook"
settings = { url = "http://127.0.0.1:1/hook", headers = { "x-token" = "s3cret" } }
batch_size = 10
[[sources]]
name = "ios"
write_key = "wk_ios"
"#;

    #[test]
    fn parses_the_design_format_and_hides_write_keys() {
        let c = ServeConfig::parse(GOOD, |s| s == "webhook").unwrap();
        assert_eq!(c.drain_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.sources.len(), 2);
        let d = &c.sources[0].destinations[0];
        assert_eq!(d.settings_json()["url"], "http://127.0.0.1:1/hook");
        assert_eq!(d.batch_size, Some(10));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("wk_web_123") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn errors_name_the_place() {
        let e = ServeConfig::parse(GOOD, |_| false).unwrap_err();
        assert!(
            e.starts_with("sources[0].destinations[0].destination: unknown"),
            "{e}"
        );
        let dup = GOOD.replace("wk_ios", "wk_web_123");
        let e = ServeConfig::parse(&dup, |_| true).unwrap_err();
        assert!(e.starts_with("sources[1].write_key"), "{e}");
        assert!(!e.contains("wk_web_123"));
        assert!(ServeConfig::parse("sources = []", |_| true).is_err());
        let e = ServeConfig::parse("[[sources]]\nname='a'\nwrite_key='k'\nbogus=1", |_| true)
            .unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }
}
