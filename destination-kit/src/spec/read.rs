//! Typed, lenient-but-strict reads of JSON property values, with exact error paths.
//!
//! Reads are lenient where clients are sloppy (a numeric string for a number, `3.0` for an
//! integer, a number for a string id, `"true"` for a boolean) and strict where it matters: a
//! value that cannot be read becomes a [`FieldError`] naming the property path exactly
//! (`properties.products[2].price: expected a number, got "abc"`). An explicit `null` is the same
//! as an absent property. Paths are only rendered when there is an error, so a clean read
//! allocates nothing but the typed strings it keeps.

use crate::error::{FieldError, describe};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON path built on the stack while reading; rendered only for errors.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    /// The root segment (`properties`).
    Root(&'a str),
    /// `parent.key`.
    Key(&'a Path<'a>, &'a str),
    /// `parent[index]`.
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(r) => f.write_str(r),
            Path::Key(p, k) => write!(f, "{p}.{k}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

pub(crate) fn push_err(errs: &mut Vec<FieldError>, path: &Path<'_>, expected: &str, got: &Value) {
    errs.push(FieldError::new(
        path.to_string(),
        format!("expected {expected}, got {}", describe(got)),
    ));
}

/// A value type that can be read from one JSON value.
pub(crate) trait FromProp: Sized {
    /// Read `v` (never `null`: the caller treats `null` as absent, except inside arrays),
    /// pushing an error at `path` when it cannot be read.
    fn from_prop(v: &Value, path: &Path<'_>, errs: &mut Vec<FieldError>) -> Option<Self>;
}

/// A struct field that can be read from the value found under its key.
pub(crate) trait Field: Sized {
    /// Read the value of `key` (`None` when the key is absent).
    fn read_field(
        value: Option<&Value>,
        key: &'static str,
        parent: &Path<'_>,
        errs: &mut Vec<FieldError>,
    ) -> Self;
}

impl<T: FromProp> Field for Option<T> {
    #[inline]
    fn read_field(
        value: Option<&Value>,
        key: &'static str,
        parent: &Path<'_>,
        errs: &mut Vec<FieldError>,
    ) -> Self {
        match value {
            None | Some(Value::Null) => None,
            Some(v) => T::from_prop(v, &Path::Key(parent, key), errs),
        }
    }
}

impl<T: FromProp> Field for Vec<T> {
    #[inline]
    fn read_field(
        value: Option<&Value>,
        key: &'static str,
        parent: &Path<'_>,
        errs: &mut Vec<FieldError>,
    ) -> Self {
        match value {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => Vec::<T>::from_prop(v, &Path::Key(parent, key), errs).unwrap_or_default(),
        }
    }
}

/// A type read from a value of a message's arena tree. `None` means "read it the exact way":
/// the tree reader only succeeds where the exact reader ([`FromProp`]) reads without an error,
/// and then reads the same value.
pub(crate) trait FromTree: Sized {
    fn from_tree(v: crate::json::Json<'_>) -> Option<Self>;
    /// Whether [`FromTree::from_tree`] reads `v`, without building the value (no `String` per
    /// field): what validation needs when the destination may never look at the typed event.
    /// The default reads and drops; types whose read allocates answer without it.
    #[inline]
    fn tree_ok(v: crate::json::Json<'_>) -> bool {
        Self::from_tree(v).is_some()
    }
}

/// A struct field read from the tree value under its key (as [`Field`]: `null` is absent, an
/// absent list is empty); `None` to read the exact way.
pub(crate) trait TreeField: Sized {
    fn tree_field(v: Option<crate::json::Json<'_>>) -> Option<Self>;
    /// Whether [`TreeField::tree_field`] reads `v` (see [`FromTree::tree_ok`]).
    fn tree_field_ok(v: Option<crate::json::Json<'_>>) -> bool;
}

impl<T: FromTree> TreeField for Option<T> {
    #[inline]
    fn tree_field(v: Option<crate::json::Json<'_>>) -> Option<Self> {
        match v {
            None => Some(None),
            Some(v) if v.is_null() => Some(None),
            Some(v) => T::from_tree(v).map(Some),
        }
    }
    #[inline]
    fn tree_field_ok(v: Option<crate::json::Json<'_>>) -> bool {
        match v {
            None => true,
            Some(v) if v.is_null() => true,
            Some(v) => T::tree_ok(v),
        }
    }
}

impl<T: FromTree> TreeField for Vec<T> {
    #[inline]
    fn tree_field(v: Option<crate::json::Json<'_>>) -> Option<Self> {
        match v {
            None => Some(Vec::new()),
            Some(v) if v.is_null() => Some(Vec::new()),
            Some(v) => Vec::<T>::from_tree(v),
        }
    }
    #[inline]
    fn tree_field_ok(v: Option<crate::json::Json<'_>>) -> bool {
        match v {
            None => true,
            Some(v) if v.is_null() => true,
            Some(v) => Vec::<T>::tree_ok(v),
        }
    }
}

/// A scalar through the exact rule on the small `Value` it is (numbers, booleans, strings of
/// numbers: the rare and lenient cases), so both readers agree by construction.
pub(crate) fn tree_through_exact<T: FromProp>(v: crate::json::Json<'_>) -> Option<T> {
    use crate::json::Kind;
    if matches!(v.kind(), Kind::Array | Kind::Object | Kind::Null) {
        return None;
    }
    let mut errs = Vec::new();
    T::from_prop(&v.to_serde(), &Path::Root(""), &mut errs).filter(|_| errs.is_empty())
}

impl FromTree for String {
    #[inline]
    fn from_tree(v: crate::json::Json<'_>) -> Option<Self> {
        match v.as_str() {
            Some(s) => Some(s.to_owned()),
            None => tree_through_exact(v),
        }
    }
    #[inline]
    fn tree_ok(v: crate::json::Json<'_>) -> bool {
        v.as_str().is_some() || tree_through_exact::<String>(v).is_some()
    }
}

// Scalars: a JSON number (or boolean) is read straight from the tree, as `FromProp` reads it
// from serde_json's `Number`; anything else (a string of a number, `"true"`) goes through the
// exact rule, so both readers agree by construction.

impl FromTree for f64 {
    #[inline]
    fn from_tree(v: crate::json::Json<'_>) -> Option<Self> {
        match v.as_f64() {
            Some(f) => Some(f).filter(|f| f.is_finite()),
            None => tree_through_exact(v),
        }
    }
}

impl FromTree for i64 {
    #[inline]
    fn from_tree(v: crate::json::Json<'_>) -> Option<Self> {
        if let Some(i) = v.as_i64() {
            return Some(i);
        }
        match v.as_f64() {
            Some(f) => integral(f),
            None => tree_through_exact(v),
        }
    }
}

impl FromTree for bool {
    #[inline]
    fn from_tree(v: crate::json::Json<'_>) -> Option<Self> {
        match v.as_bool() {
            Some(b) => Some(b),
            None => tree_through_exact(v),
        }
    }
}

impl<T: FromTree> FromTree for Vec<T> {
    fn from_tree(v: crate::json::Json<'_>) -> Option<Self> {
        let a = v.as_array()?;
        let mut out = Vec::with_capacity(a.len());
        for item in a.iter() {
            out.push(T::from_tree(item)?);
        }
        Some(out)
    }
    fn tree_ok(v: crate::json::Json<'_>) -> bool {
        v.as_array().is_some_and(|a| a.iter().all(T::tree_ok))
    }
}

impl<T: FromTree> FromTree for Box<T> {
    fn from_tree(v: crate::json::Json<'_>) -> Option<Self> {
        T::from_tree(v).map(Box::new)
    }
    fn tree_ok(v: crate::json::Json<'_>) -> bool {
        T::tree_ok(v)
    }
}

/// Whether to find a struct's `fields` keys by walking the map once (small maps: one string
/// match per entry) rather than looking each key up (large maps: a few comparisons per key).
#[inline]
pub(crate) fn walk_once(props: &Map<String, Value>, fields: usize) -> bool {
    props.len() <= fields + fields / 2
}

impl FromProp for String {
    fn from_prop(v: &Value, path: &Path<'_>, errs: &mut Vec<FieldError>) -> Option<Self> {
        match v {
            Value::String(s) => Some(s.clone()),
            // ids are often sent as numbers (`"order_id": 1234`)
            Value::Number(n) => Some(n.to_string()),
            other => {
                push_err(errs, path, "a string", other);
                None
            }
        }
    }
}

/// A finite number from a JSON number or a numeric string.
fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

impl FromProp for f64 {
    fn from_prop(v: &Value, path: &Path<'_>, errs: &mut Vec<FieldError>) -> Option<Self> {
        let n = number_of(v);
        if n.is_none() {
            push_err(errs, path, "a number", v);
        }
        n
    }
}

/// A float that is an integer exactly (3.0 is one too; 3.5, 1e300 and integers past 2^53 are
/// not): the one rule for reading an integer from a float, from serde_json's value or the tree.
fn integral(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15).then_some(f as i64)
}

impl FromProp for i64 {
    fn from_prop(v: &Value, path: &Path<'_>, errs: &mut Vec<FieldError>) -> Option<Self> {
        let exact = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        let n = exact.or_else(|| number_of(v).and_then(integral));
        if n.is_none() {
            push_err(errs, path, "an integer", v);
        }
        n
    }
}

impl FromProp for bool {
    fn from_prop(v: &Value, path: &Path<'_>, errs: &mut Vec<FieldError>) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            other => {
                push_err(errs, path, "a boolean", other);
                None
            }
        }
    }
}

impl<T: FromProp> FromProp for Vec<T> {
    fn from_prop(v: &Value, path: &Path<'_>, errs: &mut Vec<FieldError>) -> Option<Self> {
        match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(t) = T::from_prop(item, &Path::Index(path, i), errs) {
                        out.push(t);
                    }
                }
                Some(out)
            }
            other => {
                push_err(errs, path, "an array", other);
                None
            }
        }
    }
}

impl<T: FromProp> FromProp for Box<T> {
    fn from_prop(v: &Value, path: &Path<'_>, errs: &mut Vec<FieldError>) -> Option<Self> {
        T::from_prop(v, path, errs).map(Box::new)
    }
}

/// Defines a typed properties struct: its fields, the keys it reads, and its reader.
///
/// A struct may start with one `flat` field, a struct read from the same property map (the
/// product-level ecommerce events carry the product's fields flat in `properties`).
macro_rules! props {
    (
        $(#[$m:meta])*
        pub struct $name:ident {
            $(#[$pm:meta])*
            pub $pf:ident: flat $pty:ident,
            $( $(#[$fm:meta])* pub $f:ident : $ty:ty = $key:literal, )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $(#[$pm])*
            pub $pf: $pty,
            $( $(#[$fm])* pub $f: $ty, )*
        }
        impl $name {
            /// The property keys this struct reads itself (the flat part adds its own).
            pub const KEYS: &'static [&'static str] = &[$($key),*];
            /// Whether `key` is a property this struct types (its own or its flat part's).
            pub fn is_typed_key(key: &str) -> bool {
                Self::KEYS.contains(&key) || $pty::KEYS.contains(&key)
            }
            #[allow(unused_variables)]
            pub(crate) fn read(
                props: Option<&serde_json::Map<String, serde_json::Value>>,
                path: &crate::spec::read::Path<'_>,
                errs: &mut Vec<crate::error::FieldError>,
            ) -> Self {
                $( let mut $f: Option<&serde_json::Value> = None; )*
                props!(@find props, $( $f = $key ),*);
                $name {
                    $pf: $pty::read(props, path, errs),
                    $( $f: crate::spec::read::Field::read_field($f, $key, path, errs), )*
                }
            }
            /// Read from the tree; `None` to read the exact way.
            #[allow(unused_variables)]
            pub(crate) fn read_tree(props: Option<crate::json::Obj<'_>>) -> Option<Self> {
                $( let mut $f: Option<crate::json::Json<'_>> = None; )*
                props!(@find_tree props, $( $f = $key ),*);
                Some($name {
                    $pf: $pty::read_tree(props)?,
                    $( $f: crate::spec::read::TreeField::tree_field($f)?, )*
                })
            }
            /// Whether [`Self::read_tree`] reads `props`, building nothing.
            #[allow(unused_variables)]
            pub(crate) fn tree_check(props: Option<crate::json::Obj<'_>>) -> bool {
                $( let mut $f: Option<crate::json::Json<'_>> = None; )*
                props!(@find_tree props, $( $f = $key ),*);
                $pty::tree_check(props)
                    $( && <$ty as crate::spec::read::TreeField>::tree_field_ok($f) )*
            }
        }
        props!(@from_prop $name);
    };
    (
        $(#[$m:meta])*
        pub struct $name:ident {
            $( $(#[$fm:meta])* pub $f:ident : $ty:ty = $key:literal, )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$fm])* pub $f: $ty, )*
        }
        impl $name {
            /// The property keys this struct reads.
            pub const KEYS: &'static [&'static str] = &[$($key),*];
            /// Whether `key` is a property this struct types.
            pub fn is_typed_key(key: &str) -> bool {
                Self::KEYS.contains(&key)
            }
            #[allow(unused_variables)]
            pub(crate) fn read(
                props: Option<&serde_json::Map<String, serde_json::Value>>,
                path: &crate::spec::read::Path<'_>,
                errs: &mut Vec<crate::error::FieldError>,
            ) -> Self {
                $( let mut $f: Option<&serde_json::Value> = None; )*
                props!(@find props, $( $f = $key ),*);
                $name {
                    $( $f: crate::spec::read::Field::read_field($f, $key, path, errs), )*
                }
            }
            /// Read from the tree; `None` to read the exact way.
            #[allow(unused_variables)]
            pub(crate) fn read_tree(props: Option<crate::json::Obj<'_>>) -> Option<Self> {
                $( let mut $f: Option<crate::json::Json<'_>> = None; )*
                props!(@find_tree props, $( $f = $key ),*);
                Some($name {
                    $( $f: crate::spec::read::TreeField::tree_field($f)?, )*
                })
            }
            /// Whether [`Self::read_tree`] reads `props`, building nothing.
            #[allow(unused_variables)]
            pub(crate) fn tree_check(props: Option<crate::json::Obj<'_>>) -> bool {
                $( let mut $f: Option<crate::json::Json<'_>> = None; )*
                props!(@find_tree props, $( $f = $key ),*);
                true $( && <$ty as crate::spec::read::TreeField>::tree_field_ok($f) )*
            }
        }
        props!(@from_prop $name);
    };
    // Find each key's value: one walk over a small map, else one lookup per key. Keys of a
    // map are unique, so both find the same values.
    (@find $props:ident, $( $f:ident = $key:literal ),*) => {
        if let Some(p) = $props {
            let keys: &[&str] = &[$($key),*];
            if crate::spec::read::walk_once(p, keys.len()) {
                for (k, v) in p {
                    match k.as_str() {
                        $( $key => $f = Some(v), )*
                        _ => {}
                    }
                }
            } else {
                $( $f = p.get($key); )*
            }
        }
    };
    // The same on the tree: one walk over the object's entries, each key matched against the
    // struct's (a tree's keys are unique, so this finds what one lookup per key finds; the
    // lookups walked a product object once per field).
    (@find_tree $props:ident, $( $f:ident = $key:literal ),*) => {
        if let Some(p) = $props {
            for (k, v) in p.iter() {
                match k {
                    $( $key => $f = Some(v), )*
                    _ => {}
                }
            }
        }
    };
    (@from_prop $name:ident) => {
        impl crate::spec::read::FromTree for $name {
            fn from_tree(v: crate::json::Json<'_>) -> Option<Self> {
                $name::read_tree(Some(v.as_object()?))
            }
            fn tree_ok(v: crate::json::Json<'_>) -> bool {
                v.as_object().is_some_and(|o| $name::tree_check(Some(o)))
            }
        }
        impl crate::spec::read::FromProp for $name {
            fn from_prop(
                v: &serde_json::Value,
                path: &crate::spec::read::Path<'_>,
                errs: &mut Vec<crate::error::FieldError>,
            ) -> Option<Self> {
                match v {
                    serde_json::Value::Object(m) => Some($name::read(Some(m), path, errs)),
                    other => {
                        crate::spec::read::push_err(errs, path, "an object", other);
                        None
                    }
                }
            }
        }
    };
}
pub(crate) use props;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A scalar as JSON text: numbers of every shape (integers past i64 and u64, floats with
    /// and without a fraction, exponents), strings of numbers and booleans, booleans, null.
    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|u| u.to_string()),
            Just("18446744073709551616".to_string()),
            Just("-9223372036854775809".to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| serde_json::to_string(&f).unwrap()),
            (-1_000_000i64..1_000_000).prop_map(|i| format!("{i}.0")),
            (-1_000i64..1_000, 0u32..300).prop_map(|(m, e)| format!("{m}e{e}")),
            Just("9007199254740992.0".to_string()),
            Just("9007199254740991".to_string()),
            "[ -]?[0-9]{1,20}(\\.[0-9]{1,4})?".prop_map(|s| serde_json::to_string(&s).unwrap()),
            prop_oneof![
                Just("true"),
                Just("false"),
                Just("TRUE"),
                Just("yes"),
                Just("")
            ]
            .prop_map(|s| serde_json::to_string(s).unwrap()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
        ]
    }

    fn exact<T: FromProp>(text: &str) -> Option<T> {
        let v: Value = serde_json::from_str(text).unwrap();
        let mut errs = Vec::new();
        T::from_prop(&v, &Path::Root(""), &mut errs).filter(|_| errs.is_empty())
    }

    proptest! {
        /// The tree reads numbers and booleans as the exact rule reads serde_json's value.
        #[test]
        fn tree_scalars_read_as_the_exact_rule_reads_them(text in scalar()) {
            let doc = crate::json::Doc::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(f64::from_tree(doc.root()), exact::<f64>(&text), "f64 {}", text);
            prop_assert_eq!(i64::from_tree(doc.root()), exact::<i64>(&text), "i64 {}", text);
            prop_assert_eq!(bool::from_tree(doc.root()), exact::<bool>(&text), "bool {}", text);
        }
    }
}
