//! [`Secret`]: a value that never shows in Debug, Display, logs or reports.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret setting (API key, token, write key). `Debug`, `Display` and `Serialize` print
/// `"[redacted]"`; read the value with [`Secret::expose`] where the partner request is built.
///
/// ```
/// use destination_kit::Secret;
/// let key: Secret<String> = serde_json::from_str("\"sk_live_123\"").unwrap();
/// assert_eq!(format!("{key:?}"), "[redacted]");
/// assert_eq!(serde_json::to_string(&key).unwrap(), "\"[redacted]\"");
/// assert_eq!(key.expose(), "sk_live_123");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

/// What a secret prints as.
pub const REDACTED: &str = "[redacted]";

impl<T> Secret<T> {
    /// Wrap a value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    /// The secret value, for building the partner request. Never log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(v: T) -> Self {
        Secret(v)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}
