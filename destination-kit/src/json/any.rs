//! Views that read a message's JSON whichever way the message holds it: a [`Doc`](super::Doc)
//! parsed from a line, or a serde_json map (a message built in code, or changed after parsing).
//!
//! A destination's `map` written against [`AnyJson`] and [`AnyObj`] reads the tree when the
//! runtime parsed one (no serde_json copy is built) and the serde_json value otherwise, with the
//! same result either way. Objects iterate in their own order (a tree in the line's, a
//! serde_json map sorted); [`AnyObj::sorted`] gives the one order both share, for mappings whose
//! result depends on it (a cap on how many entries are kept).
//!
//! ```
//! use destination_kit::event::Message;
//! let line = br#"{"type":"track","event":"Played","properties":{"b":2,"a":"x"}}"#;
//! let parsed = Message::from_slice(line).unwrap();
//! let built = Message::from_value(serde_json::from_slice(line).unwrap()).unwrap();
//! for m in [&parsed, &built] {
//!     let props = m.field("properties").and_then(|p| p.as_object()).unwrap();
//!     assert_eq!(props.get("a").and_then(|v| v.as_str()), Some("x"));
//!     let keys: Vec<&str> = props.sorted().into_iter().map(|(k, _)| k).collect();
//!     assert_eq!(keys, ["a", "b"]);
//! }
//! ```

use super::{Json, Kind, Obj};
use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A JSON value of a message: from its parsed tree, or from a serde_json value.
#[derive(Debug, Clone, Copy)]
pub enum AnyJson<'a> {
    /// From a serde_json value.
    Serde(&'a Value),
    /// From a parsed tree.
    Tree(Json<'a>),
}

impl<'a> AnyJson<'a> {
    /// Its JSON type.
    pub fn kind(self) -> Kind {
        match self {
            AnyJson::Serde(v) => Kind::of(v),
            AnyJson::Tree(j) => j.kind(),
        }
    }
    /// The member `key` when this is an object.
    pub fn get(self, key: &str) -> Option<AnyJson<'a>> {
        match self {
            AnyJson::Serde(v) => v.get(key).map(AnyJson::Serde),
            AnyJson::Tree(j) => j.get(key).map(AnyJson::Tree),
        }
    }
    /// The string.
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            AnyJson::Serde(v) => v.as_str(),
            AnyJson::Tree(j) => j.as_str(),
        }
    }
    /// The boolean.
    pub fn as_bool(self) -> Option<bool> {
        match self {
            AnyJson::Serde(v) => v.as_bool(),
            AnyJson::Tree(j) => j.as_bool(),
        }
    }
    /// The number as `f64` (any number).
    pub fn as_f64(self) -> Option<f64> {
        match self {
            AnyJson::Serde(v) => v.as_f64(),
            AnyJson::Tree(j) => j.as_f64(),
        }
    }
    /// Whether it is a string.
    pub fn is_string(self) -> bool {
        self.kind() == Kind::String
    }
    /// Whether it is `null`.
    pub fn is_null(self) -> bool {
        self.kind() == Kind::Null
    }
    /// The object.
    pub fn as_object(self) -> Option<AnyObj<'a>> {
        match self {
            AnyJson::Serde(v) => v.as_object().map(AnyObj::Map),
            AnyJson::Tree(j) => j.as_object().map(AnyObj::Tree),
        }
    }
    /// The elements when this is an array.
    pub fn as_array(self) -> Option<Vec<AnyJson<'a>>> {
        match self {
            AnyJson::Serde(v) => v.as_array().map(|a| a.iter().map(AnyJson::Serde).collect()),
            AnyJson::Tree(j) => j.as_array().map(|a| a.iter().map(AnyJson::Tree).collect()),
        }
    }
    /// A number, or a string holding one (see [`lenient_f64`](crate::event::lenient_f64)).
    pub fn lenient_f64(self) -> Option<f64> {
        match self {
            AnyJson::Serde(v) => crate::event::lenient_f64(v),
            AnyJson::Tree(j) => match j.kind() {
                Kind::Number => j.as_f64(),
                Kind::String => j.as_str().and_then(crate::event::lenient_f64_str),
                _ => None,
            },
        }
    }
    /// A non-empty string as it is, or a number as JSON writes it (`42`, `1.5`); else `None`.
    pub fn text(self) -> Option<Cow<'a, str>> {
        if let Some(s) = self.as_str() {
            return (!s.is_empty()).then_some(Cow::Borrowed(s));
        }
        match self.kind() {
            Kind::Number => Some(Cow::Owned(match self {
                AnyJson::Serde(v) => v.to_string(),
                AnyJson::Tree(j) => j.to_serde().to_string(),
            })),
            _ => None,
        }
    }
}

impl Serialize for AnyJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnyJson::Serde(v) => v.serialize(s),
            AnyJson::Tree(j) => j.serialize(s),
        }
    }
}

/// A serde_json map with no entries, shared.
pub(crate) fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

/// A JSON object of a message: from its parsed tree, or a serde_json map.
#[derive(Debug, Clone, Copy)]
pub enum AnyObj<'a> {
    /// A serde_json map.
    Map(&'a Map<String, Value>),
    /// An object of a parsed tree.
    Tree(Obj<'a>),
}

impl<'a> AnyObj<'a> {
    /// An object with no entries.
    pub fn empty() -> AnyObj<'static> {
        AnyObj::Map(empty_map())
    }
    /// Whether it has no entries.
    pub fn is_empty(self) -> bool {
        match self {
            AnyObj::Map(m) => m.is_empty(),
            AnyObj::Tree(o) => o.is_empty(),
        }
    }
    /// The value of `key`.
    pub fn get(self, key: &str) -> Option<AnyJson<'a>> {
        match self {
            AnyObj::Map(m) => m.get(key).map(AnyJson::Serde),
            AnyObj::Tree(o) => o.get(key).map(AnyJson::Tree),
        }
    }
    /// The entries in the object's own order (a tree's as in the line, a serde_json map's
    /// sorted). Reading several keys in one pass over them costs one walk where a
    /// [`get`](Self::get) per key walks the entries once each; keys do not repeat in either.
    ///
    /// ```
    /// use destination_kit::event::Message;
    /// let m = Message::from_slice(br#"{"type":"track","event":"E","properties":{"b":2,"a":1}}"#).unwrap();
    /// let props = m.field("properties").and_then(|p| p.as_object()).unwrap();
    /// let keys: Vec<&str> = props.iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, ["b", "a"]);
    /// ```
    pub fn iter(self) -> impl Iterator<Item = (&'a str, AnyJson<'a>)> + 'a {
        match self {
            AnyObj::Map(m) => Entries::Map(m.iter()),
            AnyObj::Tree(o) => Entries::Tree(o.iter()),
        }
    }
    /// Of the entries whose key `pred` accepts, the one first in sorted key order (the one a
    /// serde_json map finds first), without sorting.
    pub fn first_sorted_where(self, pred: impl Fn(&str) -> bool) -> Option<(&'a str, AnyJson<'a>)> {
        match self {
            AnyObj::Map(m) => m
                .iter()
                .find(|(k, _)| pred(k))
                .map(|(k, v)| (k.as_str(), AnyJson::Serde(v))),
            AnyObj::Tree(o) => o
                .iter()
                .filter(|(k, _)| pred(k))
                .min_by_key(|(k, _)| *k)
                .map(|(k, v)| (k, AnyJson::Tree(v))),
        }
    }
    /// The entries sorted by key: the order a serde_json map keeps, whichever this is.
    pub fn sorted(self) -> Vec<(&'a str, AnyJson<'a>)> {
        match self {
            AnyObj::Map(m) => m
                .iter()
                .map(|(k, v)| (k.as_str(), AnyJson::Serde(v)))
                .collect(),
            AnyObj::Tree(o) => {
                let mut v: Vec<_> = o.iter().map(|(k, v)| (k, AnyJson::Tree(v))).collect();
                // a document's keys do not repeat, so an unstable sort gives one order
                v.sort_unstable_by(|a, b| a.0.cmp(b.0));
                v
            }
        }
    }
}

/// [`AnyObj::iter`]'s iterator, over either kind of object.
enum Entries<M, T> {
    Map(M),
    Tree(T),
}

impl<'a, M, T> Iterator for Entries<M, T>
where
    M: Iterator<Item = (&'a String, &'a Value)>,
    T: Iterator<Item = (&'a str, Json<'a>)>,
{
    type Item = (&'a str, AnyJson<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Entries::Map(m) => m.next().map(|(k, v)| (k.as_str(), AnyJson::Serde(v))),
            Entries::Tree(t) => t.next().map(|(k, v)| (k, AnyJson::Tree(v))),
        }
    }
}

impl Serialize for AnyObj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnyObj::Map(m) => m.serialize(s),
            AnyObj::Tree(o) => o.serialize(s),
        }
    }
}

/// An object going into a payload as the event had it: its text copied from the line when
/// [`Obj::verbatim`] allows (no whitespace, escapes or floats written otherwise in it), else
/// written entry by entry; a serde_json map as serde_json writes it. The bytes are the same
/// either way, but a copy is cheaper.
///
/// Meant for [`Payload::json`](crate::Payload::json): the text is handed over the way serde_json
/// hands over its `RawValue`, so destination-kit's writer and serde_json write it as JSON; other
/// formats would see `RawValue`'s one-field struct (serialise the [`AnyObj`] itself for them).
#[derive(Debug, Clone, Copy)]
pub struct PassThrough<'a>(pub AnyObj<'a>);

impl Serialize for PassThrough<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            AnyObj::Tree(o) => match o.verbatim() {
                Some(text) => text.serialize(s),
                None => o.serialize(s),
            },
            AnyObj::Map(m) => m.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Message;

    fn both(line: &str) -> [Message; 2] {
        [
            Message::from_slice(line.as_bytes()).expect("a message"),
            Message::from_value(serde_json::from_str(line).expect("JSON")).expect("a message"),
        ]
    }

    #[test]
    fn reads_alike_from_a_tree_and_from_serde_json() {
        let line = r#"{"type":"track","event":"E","properties":{"z":1.5,"y":"7","x":"","w":[1,{"k":true}],"v":null,"u":12}}"#;
        let [parsed, built] = both(line);
        assert!(parsed.tree().is_some() && built.tree().is_none());
        for m in [&parsed, &built] {
            let p = m.field("properties").and_then(AnyJson::as_object).unwrap();
            assert_eq!(p.get("z").and_then(AnyJson::lenient_f64), Some(1.5));
            assert_eq!(p.get("y").and_then(AnyJson::lenient_f64), Some(7.0));
            assert_eq!(p.get("u").and_then(AnyJson::text).as_deref(), Some("12"));
            assert_eq!(p.get("z").and_then(AnyJson::text).as_deref(), Some("1.5"));
            assert_eq!(p.get("x").and_then(AnyJson::text), None, "empty string");
            assert!(p.get("v").unwrap().is_null());
            let w = p.get("w").and_then(AnyJson::as_array).unwrap();
            assert_eq!(w.len(), 2);
            assert_eq!(w[1].get("k").and_then(AnyJson::as_bool), Some(true));
            let keys: Vec<&str> = p.sorted().into_iter().map(|(k, _)| k).collect();
            assert_eq!(keys, ["u", "v", "w", "x", "y", "z"]);
            // every entry once, each the value `get` finds
            let mut seen: Vec<&str> = Vec::new();
            for (k, v) in p.iter() {
                let got = serde_json::to_value(v).unwrap();
                assert_eq!(
                    Some(got),
                    p.get(k).map(|g| serde_json::to_value(g).unwrap())
                );
                seen.push(k);
            }
            seen.sort_unstable();
            assert_eq!(seen, keys);
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::from_str::<Value>(line).unwrap()["properties"]
            );
            assert!(m.field("missing").is_none());
        }
        assert!(AnyObj::empty().is_empty());
    }
}
