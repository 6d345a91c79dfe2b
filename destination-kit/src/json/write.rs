//! A serde serializer that writes compact JSON byte for byte as `serde_json::to_vec` does, with
//! two differences in cost only: strings are checked for bytes to escape eight at a time, and a
//! string of a parsed [`Doc`](super::Doc) that came from the line without escapes is copied as
//! it is (it cannot hold a byte JSON escapes). [`Payload::json`](crate::Payload::json) writes
//! every payload with it.
//!
//! Floats and map keys that are not strings are written by serde_json itself, so their text and
//! their errors are serde_json's.
//!
//! ```
//! use destination_kit::json::to_vec;
//! let v = serde_json::json!({"a": [1, -2, 1.5, "q\"\n", null, true], "é": {}});
//! assert_eq!(to_vec(&v).unwrap(), serde_json::to_vec(&v).unwrap());
//! ```

use serde::ser::{self, Impossible, Serialize};

/// The name under which a [`Doc`](super::Doc)'s plain string is passed to a serializer (as a
/// newtype struct: every other serializer sees the string itself).
pub(super) const PLAIN: &str = "$destination_kit::json::Plain";

/// The name under which serde_json writes its `RawValue` (a struct with one field of this name,
/// whose string value is written verbatim); this writer does the same.
pub(crate) const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// JSON text written as it is, by [`to_vec`] and by serde_json's serializers, the way serde_json
/// writes its own `RawValue` (other formats see a one-field struct, as with `RawValue`). Made
/// only from text known to be the writer's own output for a value ([`Json::verbatim`](super::Json::verbatim)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verbatim<'a>(&'a str);

impl<'a> Verbatim<'a> {
    /// `text`, which the caller knows to be valid compact JSON.
    pub(crate) fn new_unchecked(text: &'a str) -> Verbatim<'a> {
        Verbatim(text)
    }
    /// The text.
    pub fn as_str(self) -> &'a str {
        self.0
    }
}

impl Serialize for Verbatim<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeStruct;
        let mut st = s.serialize_struct(RAW_VALUE, 1)?;
        st.serialize_field(RAW_VALUE, self.0)?;
        st.end()
    }
}

/// The error type (serde_json's, so messages read the same).
pub type Error = serde_json::Error;

/// `value` as compact JSON, exactly the bytes `serde_json::to_vec` gives, in a `Vec` of exactly
/// its length.
///
/// Written in the thread's scratch buffer (hot in cache, never grown once it has held the
/// thread's largest output; see `json::spare`), then copied once into an allocation of the
/// exact size. A payload lives until its batch is answered, so its block's size is memory held:
/// written in place with room to spare and shrunk after, an ~850-byte Amplitude payload kept the
/// block of its ~1,060-byte start (mimalloc shrinks in place), and that block was past
/// mimalloc's small-block fast path (1 KiB).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut buf = super::spare::scratch();
    let written = value.serialize(&mut Writer { out: &mut buf });
    let out = written.map(|()| buf.as_slice().to_vec());
    super::spare::keep_scratch(buf);
    out
}

/// `value` as compact JSON in a `String`: [`to_vec`] without checking its output again.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let out = to_vec(value)?;
    debug_assert!(std::str::from_utf8(&out).is_ok(), "the writer wrote UTF-8");
    // SAFETY: every byte the writer emits comes from a `str` (a string copied whole, or with
    // ASCII bytes replaced by ASCII escapes, which never split a multi-byte character: those
    // bytes are all >= 0x80), from serde_json's own writer (floats, keys that are not strings,
    // `char`s) or is ASCII punctuation, digits and literals.
    Ok(unsafe { String::from_utf8_unchecked(out) })
}

/// Writes compact JSON into a byte vector.
pub(crate) struct Writer<'o> {
    pub(crate) out: &'o mut Vec<u8>,
}

/// The little-endian word of the 8 bytes of `b` at `i`.
#[inline]
fn word_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// Whether any byte of `b` is one JSON escapes: whole words, the last one overlapping the one
/// before; under 8 bytes, one word made of them (repeated bytes, no byte-by-byte loop).
#[inline]
fn any_escape(b: &[u8]) -> bool {
    let n = b.len();
    let w = if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if super::word_look_mask(word_at(b, i)) != 0 {
                return true;
            }
            i += 8;
        }
        word_at(b, n - 8)
    } else if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
        let hi = u32::from_le_bytes(b[n - 4..].try_into().expect("4 bytes"));
        u64::from(lo) | u64::from(hi) << 32
    } else if n > 0 {
        // bytes 0, n/2 and n-1 are all of them; the rest of the word is spaces
        u64::from_le_bytes([b[0], b[n / 2], b[n - 1], b' ', b' ', b' ', b' ', b' '])
    } else {
        return false;
    };
    // a flagged bit marks a byte to escape (bits past the first are only ever extra flags)
    super::word_look_mask(w) != 0
}

/// `s` as a JSON string, escaped as serde_json escapes it.
///
/// Inlined, with the escaping out of line: most strings (keys, ids, names) have nothing to
/// escape, and out of line the call's saving and restoring of registers for the escaping loop
/// cost ~35 instructions per string, a third of writing a short one.
#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if !any_escape(b) {
        // most strings: one check of the whole, then one copy between the quotes
        write_quoted(out, b);
    } else {
        write_escaped(out, b);
    }
}

/// [`write_str`] of a string with something to escape.
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        // skip to the first byte to escape, a word at a time (the lowest flagged byte of a
        // word is exactly the first one); the last few bytes one by one. The parser's
        // `first_escape` does the same after a 16-byte step; calling it (or its word part) here
        // made payload writing 14-53 M instructions slower per 20,000 events, so this loop stays
        let mut found = false;
        for w in b[i..].chunks_exact(8) {
            let m = super::word_look_mask(u64::from_le_bytes(w.try_into().expect("8 bytes")));
            if m != 0 {
                i += (m.trailing_zeros() / 8) as usize;
                found = true;
                break;
            }
            i += 8;
        }
        if !found {
            match b[i..].iter().position(|&c| super::escapes(c)) {
                Some(p) => i += p,
                None => break,
            }
        }
        let c = b[i];
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 0xf) as usize]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// `b` between quotes, as it is (it has nothing to escape).
#[inline]
fn write_quoted(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() + 2);
    let len = out.len();
    // SAFETY: `reserve` made room for `b.len() + 2` more bytes past `len`; all of them are
    // written below before the length is set past them.
    unsafe {
        let p = out.as_mut_ptr().add(len);
        *p = b'"';
        copy_short(b, p.add(1));
        *p.add(b.len() + 1) = b'"';
        out.set_len(len + b.len() + 2);
    }
}

/// Copy `b` to `dst`; from 4 to 16 bytes as two overlapping words instead of a call to
/// `memcpy` (most keys and values are that short, and the call cost ~20 instructions).
///
/// # Safety
///
/// `dst` is valid for `b.len()` bytes of writes and does not overlap `b`.
#[inline(always)]
unsafe fn copy_short(b: &[u8], dst: *mut u8) {
    let n = b.len();
    let src = b.as_ptr();
    // SAFETY: every read is inside `b` (offsets below `n`), every write inside `dst[..n]`
    unsafe {
        if (8..=16).contains(&n) {
            let head = std::ptr::read_unaligned(src as *const u64);
            let tail = std::ptr::read_unaligned(src.add(n - 8) as *const u64);
            std::ptr::write_unaligned(dst as *mut u64, head);
            std::ptr::write_unaligned(dst.add(n - 8) as *mut u64, tail);
        } else if (4..8).contains(&n) {
            let head = std::ptr::read_unaligned(src as *const u32);
            let tail = std::ptr::read_unaligned(src.add(n - 4) as *const u32);
            std::ptr::write_unaligned(dst as *mut u32, head);
            std::ptr::write_unaligned(dst.add(n - 4) as *mut u32, tail);
        } else {
            std::ptr::copy_nonoverlapping(src, dst, n);
        }
    }
}

/// `text`, JSON this module wrote, as serde_json's `RawValue` without reading it again and
/// without copying it.
///
/// `RawValue::from_string` parses its input to check it (a quarter of a payload's cost with
/// this writer), and `to_raw_value` writes the text again into a buffer of its own. A
/// `Box<RawValue>` deserialises from a one-entry map keyed `$serde_json::private::RawValue`
/// whose value is the text: that is how serde_json's own deserializer hands one over, and given
/// the text as an owned `String` it keeps that allocation. If a serde_json release ever changed
/// that hand-over, this would fail (an error, not wrong bytes), which every payload test (and
/// the one below) would catch.
pub(crate) fn into_raw_value(text: String) -> Result<Box<serde_json::value::RawValue>, Error> {
    use serde::de::Deserialize;
    let entry = std::iter::once((RAW_VALUE, text));
    let de = serde::de::value::MapDeserializer::<_, serde_json::Error>::new(entry);
    Box::<serde_json::value::RawValue>::deserialize(de)
}

/// A string already known to need no escapes.
fn write_plain(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

impl<'a, 'o> ser::Serializer for &'a mut Writer<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'o>;
    type SerializeTuple = Compound<'a, 'o>;
    type SerializeTupleStruct = Compound<'a, 'o>;
    type SerializeTupleVariant = Compound<'a, 'o>;
    type SerializeMap = Compound<'a, 'o>;
    type SerializeStruct = Compound<'a, 'o>;
    type SerializeStructVariant = Compound<'a, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        int(self.out, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        serde_json::to_writer(&mut *self.out, &v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        serde_json::to_writer(&mut *self.out, &v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        if name == PLAIN {
            return v.serialize(PlainStr(self.out));
        }
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        v.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, 'o>, Error> {
        self.out.push(b'[');
        Ok(Compound {
            w: self,
            first: true,
            close: b"]",
            raw: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'o>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'o>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'o>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.extend_from_slice(b":[");
        Ok(Compound {
            w: self,
            first: true,
            close: b"]}",
            raw: false,
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, 'o>, Error> {
        self.out.push(b'{');
        Ok(Compound {
            w: self,
            first: true,
            close: b"}",
            raw: false,
        })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a, 'o>, Error> {
        if name == RAW_VALUE {
            // serde_json's `RawValue` (or a `Verbatim`): its one field's text, as it is
            return Ok(Compound {
                w: self,
                first: true,
                close: b"",
                raw: true,
            });
        }
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'o>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.extend_from_slice(b":{");
        Ok(Compound {
            w: self,
            first: true,
            close: b"}}",
            raw: false,
        })
    }
}

/// An array, object or variant being written.
pub(crate) struct Compound<'a, 'o> {
    w: &'a mut Writer<'o>,
    first: bool,
    close: &'static [u8],
    /// serde_json's `RawValue` struct: its field is written verbatim.
    raw: bool,
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
    }
    fn close(self) -> Result<(), Error> {
        self.w.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.comma();
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        match key.serialize(KeyStr(self.w.out)) {
            Err(e) if e.to_string() == NOT_STR => {
                // not a string: serde_json writes the key (quoted) or refuses it, in its words
                let text = serde_json::to_vec(&OneKey(key))?;
                self.w
                    .out
                    .extend_from_slice(&text[1..text.len() - b":null}".len()]);
                Ok(())
            }
            other => other,
        }?;
        self.w.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        if self.raw {
            return v.serialize(VerbatimStr(self.w.out));
        }
        self.comma();
        write_str(self.w.out, key);
        self.w.out.push(b':');
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// `{key: null}`, for serde_json to write a key that is not a string.
struct OneKey<'k, K: ?Sized>(&'k K);

impl<K: Serialize + ?Sized> Serialize for OneKey<'_, K> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, &())?;
        m.end()
    }
}

const NOT_STR: &str = "$destination_kit::json::NotStr";

fn not_str() -> Error {
    ser::Error::custom(NOT_STR)
}

/// Writes a map key when it is a string (or a plain string); anything else answers
/// [`NOT_STR`] and is written by serde_json.
struct KeyStr<'o>(&'o mut Vec<u8>);

/// Writes the plain string of a [`Doc`](super::Doc) as it is.
struct PlainStr<'o>(&'o mut Vec<u8>);

/// Writes the text of a `RawValue` (or a [`Verbatim`]) as it is.
struct VerbatimStr<'o>(&'o mut Vec<u8>);

macro_rules! only_strings {
    ($ty:ident, $str:expr, $newtype:expr) => {
        impl<'o> ser::Serializer for $ty<'o> {
            type Ok = ();
            type Error = Error;
            type SerializeSeq = Impossible<(), Error>;
            type SerializeTuple = Impossible<(), Error>;
            type SerializeTupleStruct = Impossible<(), Error>;
            type SerializeTupleVariant = Impossible<(), Error>;
            type SerializeMap = Impossible<(), Error>;
            type SerializeStruct = Impossible<(), Error>;
            type SerializeStructVariant = Impossible<(), Error>;

            fn serialize_str(self, v: &str) -> Result<(), Error> {
                $str(self.0, v);
                Ok(())
            }
            fn serialize_newtype_struct<T: Serialize + ?Sized>(
                self,
                name: &'static str,
                v: &T,
            ) -> Result<(), Error> {
                $newtype(self.0, name, v)
            }
            fn serialize_bool(self, _: bool) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_i8(self, _: i8) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_i16(self, _: i16) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_i32(self, _: i32) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_i64(self, _: i64) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_u8(self, _: u8) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_u16(self, _: u16) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_u32(self, _: u32) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_u64(self, _: u64) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_f32(self, _: f32) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_f64(self, _: f64) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_char(self, _: char) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_none(self) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_unit(self) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_unit_variant(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
            ) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_newtype_variant<T: Serialize + ?Sized>(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: &T,
            ) -> Result<(), Error> {
                Err(not_str())
            }
            fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
                Err(not_str())
            }
            fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
                Err(not_str())
            }
            fn serialize_tuple_struct(
                self,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeTupleStruct, Error> {
                Err(not_str())
            }
            fn serialize_tuple_variant(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeTupleVariant, Error> {
                Err(not_str())
            }
            fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
                Err(not_str())
            }
            fn serialize_struct(
                self,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeStruct, Error> {
                Err(not_str())
            }
            fn serialize_struct_variant(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeStructVariant, Error> {
                Err(not_str())
            }
        }
    };
}

fn key_newtype<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    name: &'static str,
    v: &T,
) -> Result<(), Error> {
    if name == PLAIN {
        v.serialize(PlainStr(out))
    } else {
        v.serialize(KeyStr(out))
    }
}

fn plain_newtype<T: Serialize + ?Sized>(
    _: &mut Vec<u8>,
    _: &'static str,
    _: &T,
) -> Result<(), Error> {
    Err(not_str())
}

only_strings!(KeyStr, write_str, key_newtype);
only_strings!(PlainStr, write_plain, plain_newtype);
only_strings!(VerbatimStr, write_verbatim, plain_newtype);

/// JSON text known to be valid, as it is.
fn write_verbatim(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_string_is_the_same_json_in_a_block_of_its_own_length() {
        std::thread::spawn(|| {
            let big = serde_json::json!({"a": "x".repeat(3000), "b": [1, 2.5, null, "\u{e9}\n"]});
            let small = serde_json::json!({"k": "v"});
            for v in [&big, &small, &big] {
                let exact = to_string(v).unwrap();
                assert_eq!(exact, serde_json::to_string(v).unwrap());
                assert_eq!(exact.capacity(), exact.len(), "no room to spare");
            }
            // the capacity of the scratch buffer the thread keeps
            let kept = || {
                let b = super::super::spare::scratch();
                let cap = b.capacity();
                super::super::spare::keep_scratch(b);
                cap
            };
            // it stays with the thread, as large as the largest payload
            assert!(kept() >= to_string(&big).unwrap().len(), "{}", kept());
            // one past 256 kB is not kept
            let huge = serde_json::json!("y".repeat(300_000));
            assert_eq!(to_string(&huge).unwrap().len(), 300_002);
            assert!(kept() < 256 << 10, "{}", kept());
            // an error leaves nothing half-written for the next payload
            let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
            assert!(to_string(&bad).is_err());
            assert_eq!(to_string(&small).unwrap(), r#"{"k":"v"}"#);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn raw_values_are_written_verbatim_as_serde_json_writes_them() {
        use serde_json::value::RawValue;
        #[derive(serde::Serialize)]
        struct Holder<'a> {
            first: &'a RawValue,
            second: Box<RawValue>,
            after: u8,
        }
        let first = RawValue::from_string(r#"{"z":[1,2.5,"\n"],"a":null}"#.into()).unwrap();
        let h = Holder {
            first: &first,
            second: RawValue::from_string("[true]".into()).unwrap(),
            after: 7,
        };
        let ours = to_vec(&h).unwrap();
        assert_eq!(ours, serde_json::to_vec(&h).unwrap());
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            r#"{"first":{"z":[1,2.5,"\n"],"a":null},"second":[true],"after":7}"#
        );
        let v = Verbatim::new_unchecked(r#"{"k":1}"#);
        assert_eq!(to_vec(&[v, v]).unwrap(), br#"[{"k":1},{"k":1}]"#);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"k":1}"#);
        assert_eq!(
            serde_json::to_value(v).unwrap(),
            serde_json::json!({"k": 1})
        );
    }
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    enum E {
        Unit,
        New(i8),
        Tuple(u8, &'static str),
        Struct { a: Option<f32>, b: () },
    }

    #[derive(serde::Serialize)]
    struct S<'a> {
        #[serde(rename = "we\"ird\n")]
        weird: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        bytes: &'a [u8],
        #[serde(with = "serde_bytes_like")]
        raw: &'a [u8],
        c: char,
        t: (i128, u128),
        unit: (),
        e: [E; 4],
        floats: [f64; 5],
    }

    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn every_serde_shape_writes_as_serde_json_writes() {
        let s = S {
            weird: "tab\there \u{1f} \u{7f} é \\ / \u{8}\u{c}\r",
            skipped: None,
            bytes: &[1, 2],
            raw: &[0, 255],
            c: '"',
            t: (i128::MIN, u128::MAX),
            unit: (),
            e: [
                E::Unit,
                E::New(-1),
                E::Tuple(7, "x"),
                E::Struct {
                    a: Some(0.1),
                    b: (),
                },
            ],
            floats: [0.0, -0.0, 1e21, f64::NAN, 5e-324],
        };
        assert_eq!(
            String::from_utf8(to_vec(&s).unwrap()).unwrap(),
            serde_json::to_string(&s).unwrap()
        );
    }

    #[test]
    fn keys_that_are_not_strings_are_serde_jsons() {
        let ints: BTreeMap<i64, u8> = BTreeMap::from([(-3, 1), (4, 2)]);
        assert_eq!(to_vec(&ints).unwrap(), serde_json::to_vec(&ints).unwrap());
        let bools: BTreeMap<bool, u8> = BTreeMap::from([(true, 1)]);
        assert_eq!(to_vec(&bools).unwrap(), serde_json::to_vec(&bools).unwrap());
        let chars: BTreeMap<char, u8> = BTreeMap::from([('"', 1)]);
        assert_eq!(to_vec(&chars).unwrap(), serde_json::to_vec(&chars).unwrap());
        let bad: BTreeMap<(u8, u8), u8> = BTreeMap::from([((1, 2), 3)]);
        assert_eq!(
            to_vec(&bad).unwrap_err().to_string(),
            serde_json::to_vec(&bad).unwrap_err().to_string()
        );
    }

    #[test]
    fn plain_strings_of_a_doc_are_copied_and_the_rest_escaped() {
        let line = br#"{"a":"plain","b":"esc\"aped\n","k\"":["x",{"y\\":"z"}]}"#;
        let doc = super::super::Doc::parse(line).unwrap();
        let ours = to_vec(&doc.root()).unwrap();
        let theirs = serde_json::to_vec(&doc.root()).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours, line.to_vec());
    }

    #[test]
    fn written_text_becomes_a_raw_value_verbatim() {
        let text = r#"{"a":[1,"x\"y",{"b":null}],"c":1.5}"#;
        let owned = text.to_string();
        let at = owned.as_ptr();
        let raw = into_raw_value(owned).unwrap();
        assert_eq!(raw.get(), text);
        assert_eq!(raw.get().as_ptr(), at, "the text is kept, not copied");
        let v: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
        assert_eq!(v["a"][1], "x\"y");
    }

    #[test]
    fn plain_strings_of_every_short_length_are_copied_whole() {
        // each length from 0 to 40 (the word copies cover 4 to 16), after prefixes of every
        // alignment, into buffers with and without room
        let text: String = ('a'..='z').chain('A'..='Z').collect();
        for n in 0..=40 {
            let s = &text[..n];
            for prefix in 0..8 {
                for room in [0, 64] {
                    let mut ours = Vec::with_capacity(prefix + room);
                    ours.extend(std::iter::repeat_n(b'.', prefix));
                    write_str(&mut ours, s);
                    let want = format!("{}\"{s}\"", ".".repeat(prefix));
                    assert_eq!(String::from_utf8(ours).unwrap(), want, "length {n}");
                }
            }
        }
    }

    proptest! {
        /// Strings of every short length, with bytes to escape anywhere or nowhere, write as
        /// serde_json writes them (the whole-string check has a path per length).
        #[test]
        fn strings_write_as_serde_json_writes_them(s in "[a-z\"\\\n\u{1}\u{7f}\u{e9}\u{1f600}]{0,40}") {
            let mut ours = b"x".to_vec();
            write_str(&mut ours, &s);
            let theirs = serde_json::to_vec(&s).unwrap();
            prop_assert_eq!(&ours[1..], &theirs[..]);
            prop_assert_eq!(any_escape(s.as_bytes()), s.bytes().any(super::super::escapes));
        }

        /// Any JSON value writes as serde_json writes it, from serde_json's tree and from ours.
        #[test]
        fn any_value_writes_as_serde_json_writes(text in any::<String>(), n in any::<f64>(), i in any::<i64>()) {
            let v = serde_json::json!({ &text: [&text, n, i, {"k": text.clone()}] });
            let want = serde_json::to_vec(&v).unwrap();
            prop_assert_eq!(&to_vec(&v).unwrap(), &want);
            let doc = super::super::Doc::parse(&want).unwrap();
            prop_assert_eq!(&to_vec(&doc.root()).unwrap(), &want);
        }
    }
}
