//! Read-only views of a message's JSON, backed by an owned tree whose nodes and strings live in
//! one arena per document (sonic-rs's `Value`): the first piece of the event model `bench/NEXT.md`
//! plans. [`Message`](crate::event::Message) holds a parsed line as a [`Doc`].
//!
//! The public types are this crate's own ([`Doc`], [`Json`], [`Obj`], [`Arr`], [`Kind`]), so
//! the tree behind them can change without touching a destination. Two rules differ from the
//! tree's own and are kept here, in one place:
//! - **Depth**: a document nested deeper than [`MAX_DEPTH`] (serde_json's limit, 128) is an
//!   error, checked before the tree is built; the tree's parser recurses on the thread's stack
//!   with no limit, and 100,000 nested arrays abort the process.
//! - **Repeated keys**: the last value wins, as with serde_json. The tree's own parser keeps
//!   every entry (and its lookups find the first), so a document with a repeated key anywhere
//!   is built from serde_json's reading instead (rare, and slower).
//!
//! ```
//! use destination_kit::json::{Doc, Kind};
//! let doc = Doc::parse(br#"{"a":{"b":[1,"x",null]},"a2":1,"a2":2}"#).unwrap();
//! let root = doc.root().as_object().unwrap();
//! assert_eq!(root.get("a2").and_then(|v| v.as_i64()), Some(2));
//! let b = root.get("a").unwrap().get("b").unwrap().as_array().unwrap();
//! assert_eq!(b.get(1).and_then(|v| v.as_str()), Some("x"));
//! assert_eq!(b.get(2).unwrap().kind(), Kind::Null);
//! ```

use serde::ser::{Serialize, Serializer};
use sonic_rs::{JsonContainerTrait, JsonType, JsonValueTrait};
use std::fmt;

/// serde_json's nesting limit, kept.
pub const MAX_DEPTH: usize = 128;

/// Why bytes are not a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocError {
    /// Nested deeper than [`MAX_DEPTH`], at byte `offset`.
    TooDeep {
        /// Byte offset of the bracket that went past the limit.
        offset: usize,
    },
    /// Not JSON (the tree parser's message).
    Json(String),
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocError::TooDeep { offset } => {
                write!(f, "nested deeper than {MAX_DEPTH} levels at byte {offset}")
            }
            DocError::Json(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DocError {}

/// An owned JSON document.
#[derive(Clone)]
pub struct Doc {
    root: sonic_rs::Value,
}

impl fmt::Debug for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doc").finish_non_exhaustive()
    }
}

impl Doc {
    /// Parse one JSON document (UTF-8 checked, depth limited).
    pub fn parse(bytes: &[u8]) -> Result<Doc, DocError> {
        if let Some(offset) = too_deep(bytes) {
            return Err(DocError::TooDeep { offset });
        }
        let root = sonic_rs::from_slice::<sonic_rs::Value>(bytes)
            .map_err(|e| DocError::Json(e.to_string()))?;
        if !has_repeated_keys(&root) {
            return Ok(Doc { root });
        }
        // rare: build the tree from serde_json's reading, where the last value of a key wins
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DocError::Json(e.to_string()))?;
        sonic_rs::to_value(&v)
            .map(|root| Doc { root })
            .map_err(|e| DocError::Json(e.to_string()))
    }

    /// The document's value.
    pub fn root(&self) -> Json<'_> {
        Json(&self.root)
    }
}

/// The byte offset where `bytes` first goes deeper than [`MAX_DEPTH`], if it does. Counting
/// every `[` and `{` decides almost every input in one cheap pass; only when there are more
/// than the limit is the depth followed exactly (brackets inside strings do not count).
fn too_deep(bytes: &[u8]) -> Option<usize> {
    let opens = open_brackets(bytes);
    if opens <= MAX_DEPTH {
        return None;
    }
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Whether any object in the tree repeats a key. Read-only (mutating a parsed tree makes it
/// copy its nodes); a key costs a short hash and a bit test, and only a bit already set
/// compares keys.
fn has_repeated_keys(v: &sonic_rs::Value) -> bool {
    if let Some(a) = v.as_array() {
        return a.iter().any(has_repeated_keys);
    }
    let Some(o) = v.as_object() else { return false };
    let mut seen = [0u64; 4];
    for (i, (k, child)) in o.iter().enumerate() {
        let h = k.bytes().fold(k.len() as u32, |h, b| {
            (h.rotate_left(5) ^ b as u32).wrapping_mul(0x9e37_79b9)
        });
        let (word, bit) = ((h >> 6) as usize % 4, 1u64 << (h % 64));
        if seen[word] & bit != 0 && o.iter().take(i).any(|(earlier, _)| earlier == k) {
            return true;
        }
        seen[word] |= bit;
        if has_repeated_keys(child) {
            return true;
        }
    }
    false
}

/// How many `[` and `{` bytes `bytes` holds (inside strings too), found with `memchr`'s
/// vectorised search: a byte-by-byte count cost ~5 instructions a byte.
pub(crate) fn open_brackets(bytes: &[u8]) -> usize {
    memchr::memchr2_iter(b'[', b'{', bytes).count()
}

/// The JSON type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

/// A view of one JSON value in a [`Doc`].
#[derive(Clone, Copy)]
pub struct Json<'a>(&'a sonic_rs::Value);

impl<'a> Json<'a> {
    /// Its JSON type.
    pub fn kind(self) -> Kind {
        match self.0.get_type() {
            JsonType::Null => Kind::Null,
            JsonType::Boolean => Kind::Bool,
            JsonType::Number => Kind::Number,
            JsonType::String => Kind::String,
            JsonType::Array => Kind::Array,
            JsonType::Object => Kind::Object,
        }
    }
    /// Whether it is `null`.
    pub fn is_null(self) -> bool {
        self.0.is_null()
    }
    /// The boolean.
    pub fn as_bool(self) -> Option<bool> {
        self.0.as_bool()
    }
    /// The number as `f64` (any number).
    pub fn as_f64(self) -> Option<f64> {
        self.0.as_f64()
    }
    /// The number when it is an integer that fits `i64`.
    pub fn as_i64(self) -> Option<i64> {
        self.0.as_i64()
    }
    /// The number when it is an integer that fits `u64`.
    pub fn as_u64(self) -> Option<u64> {
        self.0.as_u64()
    }
    /// The string.
    pub fn as_str(self) -> Option<&'a str> {
        self.0.as_str()
    }
    /// The object.
    pub fn as_object(self) -> Option<Obj<'a>> {
        self.0.as_object().map(Obj)
    }
    /// The array.
    pub fn as_array(self) -> Option<Arr<'a>> {
        self.0.as_array().map(Arr)
    }
    /// The member `key` when this is an object (the last, when the key repeats).
    pub fn get(self, key: &str) -> Option<Json<'a>> {
        self.as_object()?.get(key)
    }
    /// A serde_json copy (for code that still takes one).
    pub fn to_serde(self) -> serde_json::Value {
        use serde_json::Value as V;
        match self.kind() {
            Kind::Null => V::Null,
            Kind::Bool => V::Bool(self.0.as_bool().unwrap_or_default()),
            Kind::Number => {
                if let Some(u) = self.0.as_u64() {
                    V::from(u)
                } else if let Some(i) = self.0.as_i64() {
                    V::from(i)
                } else {
                    serde_json::Number::from_f64(self.0.as_f64().unwrap_or_default())
                        .map_or(V::Null, V::Number)
                }
            }
            Kind::String => V::String(self.0.as_str().unwrap_or_default().to_owned()),
            Kind::Array => V::Array(
                self.as_array()
                    .into_iter()
                    .flat_map(|a| a.iter())
                    .map(Json::to_serde)
                    .collect(),
            ),
            // every entry in document order: inserting a repeated key again keeps its last value
            Kind::Object => {
                let mut m = serde_json::Map::new();
                for (k, v) in self.0.as_object().into_iter().flat_map(|o| o.iter()) {
                    m.insert(k.to_owned(), Json(v).to_serde());
                }
                V::Object(m)
            }
        }
    }
}

impl fmt::Debug for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sonic_rs::to_string(self).unwrap_or_default())
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A view of a JSON object.
#[derive(Clone, Copy)]
pub struct Obj<'a>(&'a sonic_rs::Object);

impl<'a> Obj<'a> {
    /// The value of `key` (a repeated key kept its last value when the document was parsed).
    pub fn get(self, key: &str) -> Option<Json<'a>> {
        self.0.get(&key).map(Json)
    }
    /// Entries in the document, a repeated key counted each time.
    pub fn raw_len(self) -> usize {
        self.0.len()
    }
    /// Whether it has no entries.
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }
    /// The entries, in document order (in key order when the document repeated a key).
    pub fn iter(self) -> impl Iterator<Item = (&'a str, Json<'a>)> + 'a {
        self.0.iter().map(|(k, v)| (k, Json(v)))
    }
}

impl fmt::Debug for Obj<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sonic_rs::to_string(self).unwrap_or_default())
    }
}

impl Serialize for Obj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A view of a JSON array.
#[derive(Clone, Copy)]
pub struct Arr<'a>(&'a sonic_rs::Array);

impl<'a> Arr<'a> {
    /// The element at `index`.
    pub fn get(self, index: usize) -> Option<Json<'a>> {
        self.0.get(index).map(Json)
    }
    /// How many elements.
    pub fn len(self) -> usize {
        self.0.len()
    }
    /// Whether it has no elements.
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }
    /// The elements.
    pub fn iter(self) -> impl Iterator<Item = Json<'a>> + 'a {
        self.0.iter().map(Json)
    }
}

impl Serialize for Arr<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value as V;
        let leaf = prop_oneof![
            Just(V::Null),
            any::<bool>().prop_map(V::Bool),
            any::<i64>().prop_map(V::from),
            any::<u64>().prop_map(V::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(V::from),
            ".{0,12}".prop_map(V::String),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(V::Array),
                prop::collection::vec(("[a-e]{0,3}", inner), 0..6)
                    .prop_map(|kv| V::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Parsing any JSON text gives the tree serde_json gives, and writes it back the same.
        #[test]
        fn a_doc_reads_as_serde_json_reads(v in arb_json()) {
            let text = serde_json::to_string(&v).unwrap();
            let doc = Doc::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(doc.root().to_serde(), v.clone());
            let back: serde_json::Value = serde_json::from_str(&serde_json::to_string(&doc.root()).unwrap()).unwrap();
            prop_assert_eq!(back, v);
        }

        /// Repeated keys: the last value wins, for lookups, iteration and writing, as in serde_json.
        #[test]
        fn repeated_keys_keep_the_last_value(pairs in prop::collection::vec(("[a-c]", 0i64..9), 0..10)) {
            let text = format!("{{{}}}", pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(","));
            let want: serde_json::Value = serde_json::from_str(&text).unwrap();
            let doc = Doc::parse(text.as_bytes()).unwrap();
            let obj = doc.root().as_object().unwrap();
            for (k, v) in want.as_object().unwrap() {
                prop_assert_eq!(obj.get(k).and_then(|j| j.as_i64()), v.as_i64());
            }
            prop_assert_eq!(obj.iter().count(), want.as_object().unwrap().len());
            prop_assert_eq!(doc.root().to_serde(), want.clone());
            let written: serde_json::Value = serde_json::from_str(&sonic_rs::to_string(&doc.root()).unwrap()).unwrap();
            prop_assert_eq!(written, want);
        }
    }

    /// The tree's parser recurses with large frames in a debug build: 100 levels overflow a
    /// test thread's 2 MiB stack there (a release build takes ~5,000 on 2 MiB). Until parsing
    /// runs on threads sized for it, the deep cases run on a 64 MiB thread.
    #[test]
    fn nesting_past_the_limit_is_an_error_not_a_crash() {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(nesting_cases)
            .unwrap()
            .join()
            .unwrap();
    }

    fn nesting_cases() {
        for n in [MAX_DEPTH + 1, 100_000] {
            let deep = format!("{}1{}", "[".repeat(n), "]".repeat(n));
            assert_eq!(
                Doc::parse(deep.as_bytes()).unwrap_err(),
                DocError::TooDeep { offset: MAX_DEPTH }
            );
        }
        let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Doc::parse(ok.as_bytes()).is_ok());
        // brackets inside strings do not count, and many shallow objects are fine
        let strings = format!("[\"{}\"]", "[".repeat(1000));
        assert!(Doc::parse(strings.as_bytes()).is_ok());
        let wide = format!("[{}]", vec!["{}"; 1000].join(","));
        assert!(Doc::parse(wide.as_bytes()).is_ok());
        let escaped = format!("[\"\\\"{}\"]", "[".repeat(1000));
        assert!(Doc::parse(escaped.as_bytes()).is_ok());
    }

    #[test]
    fn hostile_inputs_are_errors() {
        for bad in [
            &br#"{"a":1e400}"#[..],
            br#"{"a":"\ud800"}"#,
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"x\x01\"}",
            br#"{"a":1,}"#,
            br#"{"a":01}"#,
            br#"{"a":NaN}"#,
            br#"{"a":1} x"#,
        ] {
            assert!(
                matches!(Doc::parse(bad), Err(DocError::Json(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
