//! Destination settings for every subcommand, one way: `--settings FILE|JSON`, the
//! `DESTKIT_<DEST>_<KEY>` environment variables, the built-in mock partner's settings as the base
//! when there is no `--endpoint`, and the registry's `configure`.

use destination_kit::{DynDestination, SettingsError};
use destinations::registry::{self, Entry};
use serde_json::{Map, Value};
use spec_tests::mock::MockPartner;
use std::sync::Arc;

/// `--settings`: inline JSON when it looks like JSON, else a file of JSON; none is `{}`.
/// Errors never echo the content (it may hold secrets).
pub fn from_arg(arg: Option<&str>) -> Result<Value, String> {
    let Some(arg) = arg else {
        return Ok(Value::Object(Map::new()));
    };
    let (text, what) = if arg.trim_start().starts_with('{') {
        (arg.to_string(), "--settings".to_string())
    } else {
        let text = std::fs::read_to_string(arg)
            .map_err(|e| format!("cannot read the settings file {arg}: {e}"))?;
        (text, format!("the settings file {arg}"))
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(format!("{what}: expected a JSON object")),
        // the serde message names line and column, never the content
        Err(e) => Err(format!("{what}: not valid JSON: {e}")),
    }
}

/// `adobe-media` → `ADOBE_MEDIA`.
pub fn env_prefix(slug: &str) -> String {
    slug.to_ascii_uppercase().replace('-', "_")
}

/// Settings from `DESTKIT_<DEST>_<KEY>` variables: the key lower-cased; a value that is a JSON
/// object, array or boolean is taken as JSON, anything else as a string (numbers are tried as
/// numbers by [`configure`] when the destination does not take them as strings).
pub fn from_env(slug: &str, vars: impl Iterator<Item = (String, String)>) -> Value {
    let prefix = format!("DESTKIT_{}_", env_prefix(slug));
    let mut out = Map::new();
    for (k, v) in vars {
        let Some(key) = k.strip_prefix(&prefix) else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        let t = v.trim();
        let value = if t.starts_with('{') || t.starts_with('[') || t == "true" || t == "false" {
            serde_json::from_str(t).unwrap_or(Value::String(v.clone()))
        } else {
            Value::String(v.clone())
        };
        out.insert(key.to_ascii_lowercase(), value);
    }
    Value::Object(out)
}

/// Top-level merge: keys of `over` replace those of `base`.
pub fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                b.insert(k, v);
            }
            Value::Object(b)
        }
        (b, Value::Object(o)) if o.is_empty() => b,
        (_, o) => o,
    }
}

/// The registry entry for `slug`, or an error listing the known ones.
pub fn entry(slug: &str) -> Result<&'static Entry, String> {
    registry::find(slug)
        .ok_or_else(|| format!("unknown destination {slug:?}; known: {}", registry::slugs()))
}

/// Configure `entry` with `settings` (pointed at `endpoint` when given). Values that came from
/// the environment (`env`) are strings; when the destination does not take one of them as a
/// string, it is tried as a number (`DESTKIT_WEBHOOK_BATCH_SIZE=4`).
pub fn configure(
    entry: &Entry,
    settings: Value,
    env: &Value,
    endpoint: Option<&str>,
) -> Result<Arc<dyn DynDestination>, SettingsError> {
    let first = match (entry.configure)(settings.clone(), endpoint) {
        Ok(d) => return Ok(d),
        Err(e) => e,
    };
    let Value::Object(map) = settings else {
        return Err(first);
    };
    // numeric-looking values that came from the environment (and were not overridden)
    let numeric: Vec<(String, serde_json::Number)> = env
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| map.get(*k) == Some(*v))
        .filter_map(|(k, v)| {
            let n = v.as_str()?.trim().parse::<serde_json::Number>().ok()?;
            Some((k.clone(), n))
        })
        .collect();
    let with = |keys: &[&(String, serde_json::Number)]| {
        let mut m = map.clone();
        for (k, n) in keys {
            m.insert(k.clone(), Value::Number(n.clone()));
        }
        (entry.configure)(Value::Object(m), endpoint)
    };
    for one in &numeric {
        if let Ok(d) = with(&[one]) {
            return Ok(d);
        }
    }
    let all: Vec<_> = numeric.iter().collect();
    if all.len() > 1
        && let Ok(d) = with(&all)
    {
        return Ok(d);
    }
    Err(first)
}

/// A configured destination for `slug`. With `use_mock`, its built-in mock partner is started
/// and the mock's settings are the base that `user` settings override key by key; else `user`
/// settings, pointed at `endpoint` when given. Errors name the destination and the settings key.
pub async fn configure_or_mock(
    slug: &str,
    user: Value,
    env: &Value,
    endpoint: Option<&str>,
    use_mock: bool,
) -> Result<(Arc<dyn DynDestination>, Option<MockPartner>), String> {
    let entry = entry(slug)?;
    if use_mock {
        let mock = (entry.start_mock)(spec_tests::mock::Recording::Off).await;
        // the mock's own settings (its URL, the fake credentials it accepts) win over the
        // user's: a config switched to the mock must never send to the real partner or with
        // its real credentials; the user's other settings fill in
        let settings = merge(user, mock.settings.clone());
        let dest = configure(entry, settings, env, None).map_err(|e| format!("{slug}: {e}"))?;
        return Ok((dest, Some(mock)));
    }
    let dest = configure(entry, user, env, endpoint).map_err(|e| format!("{slug}: {e}"))?;
    Ok((dest, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_overrides_top_level_keys() {
        let a = serde_json::json!({"url": "a", "batch_size": 1});
        let b = serde_json::json!({"batch_size": 4});
        assert_eq!(
            merge(a, b),
            serde_json::json!({"url": "a", "batch_size": 4})
        );
    }

    #[test]
    fn env_keys_are_lower_cased_and_json_only_for_objects_arrays_booleans() {
        let vars = [
            ("DESTKIT_ADOBE_MEDIA_REPORT_SUITE", "rs1"),
            ("DESTKIT_ADOBE_MEDIA_MAX_EVENT_AGE_SECS", "600"),
            ("DESTKIT_ADOBE_MEDIA_FLAG", "true"),
            ("DESTKIT_ADOBE_MEDIA_HEADERS", r#"{"x":"y"}"#),
            ("DESTKIT_WEBHOOK_URL", "elsewhere"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(
            from_env("adobe-media", vars),
            serde_json::json!({"report_suite": "rs1", "max_event_age_secs": "600",
                "flag": true, "headers": {"x": "y"}})
        );
    }

    #[test]
    fn settings_argument_errors_never_echo_the_content() {
        let e = from_arg(Some("{\"api_key\": \"sk_live_SECRET\"")).unwrap_err();
        assert!(e.starts_with("--settings: not valid JSON"), "{e}");
        assert!(!e.contains("sk_live_SECRET"), "{e}");
        assert_eq!(
            from_arg(Some("[1]")).unwrap_err(),
            "cannot read the settings file [1]: No such file or directory (os error 2)"
        );
    }
}
