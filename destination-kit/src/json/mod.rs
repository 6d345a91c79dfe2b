//! Read-only views of a message's JSON, backed by destination-kit's own tree: every node of a
//! document in one `Vec` of 16-byte nodes, every string in one buffer (the line itself, with
//! unescaped copies of the few strings that had escapes appended after it). It is the event
//! model `bench/NEXT.md` plans; [`Message`](crate::event::Message) holds a parsed line as a
//! [`Doc`].
//!
//! The rules are serde_json's, so a document reads the same whichever parsed it:
//! - **Accepts exactly RFC 8259 JSON** (what `serde_json::from_slice` accepts); anything else is
//!   a [`DocError`]. The parser is iterative: depth costs no stack.
//! - **Depth**: nested deeper than [`MAX_DEPTH`] is an error ([`DocError::TooDeep`]).
//! - **Repeated keys**: the last value wins. They are found while the document is built (a
//!   256-bit filter per object; keys are only compared when it says "maybe"), and a document
//!   with one is rebuilt from serde_json's reading (rare), so a lookup stops at the first match.
//! - **Numbers**: an integer that fits `u64` (or, negative, `i64`) stays an integer, anything
//!   else is a correctly rounded `f64` (`-0` is the float `-0.0`, as in serde_json); a number
//!   that does not fit `f64` is an error.
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

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::fmt;

pub mod any;
pub mod write;
pub use any::{AnyJson, AnyObj, PassThrough};
pub use write::{Verbatim, to_vec};

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
    /// Not JSON: what is wrong and the byte offset where it was found.
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

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const U64: u8 = 3;
const I64: u8 = 4;
const F64: u8 = 5;
const STR: u8 = 6;
const ARR: u8 = 7;
const OBJ: u8 = 8;

/// One node. A string: `n` its length, `x` its offset in the buffer (low 32 bits) and its
/// first four bytes (high 32 bits, zero-padded), so a key lookup rejects most keys without
/// reading the buffer; `plain` when it holds no byte JSON must escape (it came from the line
/// without escapes); as an object's key, `w` the nodes its value takes when that fits (else 0),
/// so a lookup steps from key to key. A number: `x` its bits; a float parsed from text also
/// its text's offset in `n` and length in `w` (0 when unknown), so [`Json::verbatim`] can
/// tell whether the writer would write it the same.
///
/// An array or object: `n` the nodes of its subtree after itself (an object's entries are a key
/// node and the value's nodes). An array's `x` is its length. An object's `w` is its entry count
/// (`u16::MAX`: count them), and its `x` a 64-bit filter of its keys (two bits of a hash of
/// each key's length and first four bytes), so looking up a key it does not have rarely walks
/// it.
#[derive(Clone, Copy, Debug)]
struct Node {
    tag: u8,
    plain: bool,
    w: u16,
    n: u32,
    x: u64,
}

/// The first four bytes of a string, little-endian, zero-padded.
#[inline]
fn prefix(b: &[u8]) -> u64 {
    match b {
        [a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]) as u64,
        [a, b, c] => u32::from_le_bytes([*a, *b, *c, 0]) as u64,
        [a, b] => u32::from_le_bytes([*a, *b, 0, 0]) as u64,
        [a] => *a as u64,
        [] => 0,
    }
}

/// Whether JSON must escape the byte in a string (a control character, `"` or `\`).
#[inline]
pub(crate) fn escapes(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// A string node for `len` bytes of the buffer at `offset`, which start with `bytes`.
#[inline]
fn str_node(offset: usize, bytes: &[u8], plain: bool) -> Node {
    Node {
        tag: STR,
        plain,
        w: 0,
        n: bytes.len() as u32,
        x: offset as u64 | prefix(bytes) << 32,
    }
}

impl Node {
    const fn new(tag: u8, n: u32, x: u64) -> Node {
        Node {
            tag,
            plain: false,
            w: 0,
            n,
            x,
        }
    }
    /// A string's offset in the buffer.
    #[inline]
    fn offset(self) -> usize {
        (self.x & 0xffff_ffff) as usize
    }
    /// A string's bytes in the buffer.
    #[inline]
    fn range(self) -> std::ops::Range<usize> {
        self.offset()..self.offset() + self.n as usize
    }
    /// Nodes this value takes, itself included.
    fn width(self) -> usize {
        match self.tag {
            ARR | OBJ => 1 + self.n as usize,
            _ => 1,
        }
    }
}

/// The key node after the entry whose key node is at `key` (its value skipped whole).
#[inline]
fn next_entry(nodes: &[Node], key: usize) -> usize {
    key + 1
        + match nodes[key].w {
            0 => nodes[key + 1].width(),
            w => w as usize,
        }
}

/// Record in the key node at `key` the width of the value that now ends the nodes.
#[inline]
fn end_value(nodes: &mut [Node], key: usize) {
    nodes[key].w = u16::try_from(nodes.len() - key - 1).unwrap_or(0);
}

/// Finish the array or object whose node is at `at` and whose subtree now ends the nodes:
/// `count` elements or entries; `filter` the key filter of an object, `None` for an array.
fn end_container(nodes: &mut [Node], at: usize, count: usize, filter: Option<u64>) {
    let width = (nodes.len() - at - 1) as u32;
    let node = &mut nodes[at];
    node.n = width;
    match filter {
        Some(f) => {
            node.x = f;
            node.w = u16::try_from(count).unwrap_or(u16::MAX);
        }
        None => node.x = count as u64,
    }
}

/// An owned JSON document.
#[derive(Clone)]
pub struct Doc {
    nodes: Vec<Node>,
    /// The text parsed: strings without escapes, numbers and containers are read in it. Parsed
    /// from a reader's block, it is a slice of that block (shared, not copied).
    line: bytes::Bytes,
    /// Strings that had escapes, unescaped: a node whose offset is `line.len()` or more is read
    /// here, that far past the line's end (see [`text_of`]).
    extra: Vec<u8>,
    /// Every array and object parsed from text, in node order: where its text is in the line,
    /// and whether that text has no whitespace or escapes in it (see [`Json::verbatim`]).
    spans: Vec<Span>,
}

/// An array's or object's text in the line.
#[derive(Clone, Copy, Debug)]
struct Span {
    node: u32,
    start: u32,
    /// One past its closing bracket; 0 when its text has whitespace or an escape.
    end: u32,
}

impl fmt::Debug for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doc").finish_non_exhaustive()
    }
}

/// A document as [`Doc::parse_text`] read it.
enum Parsed {
    /// Parsed from the text, its line not set yet: its nodes point into the text.
    Text(Doc),
    /// Built from serde_json's reading (a repeated key): every string in `extra`, no line.
    Rebuilt(Doc),
}

/// The text at `r` of a document whose line is `line` and unescaped strings `extra`.
#[inline]
fn text_of<'b>(line: &'b [u8], extra: &'b [u8], r: std::ops::Range<usize>) -> &'b [u8] {
    if r.start < line.len() {
        &line[r]
    } else {
        &extra[r.start - line.len()..r.end - line.len()]
    }
}

impl Doc {
    /// Parse one JSON document (UTF-8 checked, depth limited, repeated keys last-wins).
    pub fn parse(bytes: &[u8]) -> Result<Doc, DocError> {
        Ok(match Doc::parse_text(bytes)? {
            Parsed::Text(doc) => doc.with_line(bytes::Bytes::copy_from_slice(bytes)),
            Parsed::Rebuilt(doc) => doc,
        })
    }

    /// [`Doc::parse`] of text held in shared bytes (a line cut from a reader's block): the
    /// document keeps a handle on them instead of a copy.
    ///
    /// ```
    /// let line = bytes::Bytes::from_static(br#"{"a":"x\ny","b":[1,2]}"#);
    /// let doc = destination_kit::json::Doc::parse_shared(line).unwrap();
    /// assert_eq!(doc.root().get("a").unwrap().as_str(), Some("x\ny"));
    /// assert_eq!(doc.root().get("b").unwrap().verbatim().unwrap().as_str(), "[1,2]");
    /// ```
    pub fn parse_shared(line: bytes::Bytes) -> Result<Doc, DocError> {
        Ok(match Doc::parse_text(&line)? {
            Parsed::Text(doc) => doc.with_line(line),
            Parsed::Rebuilt(doc) => doc,
        })
    }

    /// The tree of `bytes`; one parsed from the text still needs that text as its line.
    fn parse_text(bytes: &[u8]) -> Result<Parsed, DocError> {
        match Parser::new(bytes).run() {
            Ok(doc) => Ok(Parsed::Text(doc)),
            Err(Stop::RepeatedKey) => {
                // rare: build the tree from serde_json's reading, where the last value wins
                let v: serde_json::Value =
                    serde_json::from_slice(bytes).map_err(|e| DocError::Json(e.to_string()))?;
                Ok(Parsed::Rebuilt(Doc::from_serde(&v)))
            }
            Err(Stop::TooDeep(offset)) => Err(DocError::TooDeep { offset }),
            Err(Stop::Invalid(what, at)) => Err(DocError::Json(format!("{what} at byte {at}"))),
        }
    }

    /// The same document as a serde_json value gives (its keys have no repeats).
    pub fn from_serde(v: &serde_json::Value) -> Doc {
        let mut doc = Doc {
            nodes: Vec::new(),
            line: bytes::Bytes::new(),
            extra: Vec::new(),
            spans: Vec::new(),
        };
        doc.push_serde(v);
        doc
    }

    fn push_str(&mut self, s: &str) {
        let plain = !s.bytes().any(escapes);
        // built from serde_json: the line is empty and every string is in `extra`
        self.nodes
            .push(str_node(self.extra.len(), s.as_bytes(), plain));
        self.extra.extend_from_slice(s.as_bytes());
    }

    fn push_serde(&mut self, v: &serde_json::Value) {
        use serde_json::Value as V;
        let node = match v {
            V::Null => Node::new(NULL, 0, 0),
            V::Bool(b) => Node::new(if *b { TRUE } else { FALSE }, 0, 0),
            V::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Node::new(U64, 0, u),
                (None, Some(i)) => Node::new(I64, 0, i as u64),
                _ => Node::new(F64, 0, n.as_f64().unwrap_or_default().to_bits()),
            },
            V::String(s) => return self.push_str(s),
            V::Array(a) => {
                let at = self.nodes.len();
                self.nodes.push(Node::new(ARR, 0, 0));
                a.iter().for_each(|e| self.push_serde(e));
                end_container(&mut self.nodes, at, a.len(), None);
                return;
            }
            V::Object(o) => {
                let at = self.nodes.len();
                self.nodes.push(Node::new(OBJ, 0, 0));
                let mut filter = 0;
                for (k, e) in o {
                    let key = self.nodes.len();
                    self.push_str(k);
                    filter |= key_filter(self.nodes[key]);
                    self.push_serde(e);
                    end_value(&mut self.nodes, key);
                }
                end_container(&mut self.nodes, at, o.len(), Some(filter));
                return;
            }
        };
        self.nodes.push(node);
    }

    /// The document's value.
    pub fn root(&self) -> Json<'_> {
        Json { doc: self, at: 0 }
    }

    /// The value at `pos` (from [`Json::pos`] on this document), or `None` for [`Pos::NONE`].
    pub(crate) fn at(&self, pos: Pos) -> Option<Json<'_>> {
        (pos.0 != 0).then_some(Json {
            doc: self,
            at: pos.0 as usize,
        })
    }

    /// The document parsed from `line`, given it (see [`Parsed::Text`]).
    fn with_line(mut self, line: bytes::Bytes) -> Doc {
        self.line = line;
        self
    }

    /// The text at `r` (in the line or among the unescaped strings).
    #[inline]
    fn text(&self, r: std::ops::Range<usize>) -> &[u8] {
        text_of(&self.line, &self.extra, r)
    }

    fn str_at(&self, node: Node) -> &str {
        let bytes = self.text(node.range());
        // SAFETY: a string node spans one string of the line, whose bytes the parser checked to
        // be UTF-8 when it met one past 0x7f (ASCII otherwise), or one unescaped string of
        // `extra`, built from such bytes and `char`s (or a whole `str` pushed at once by
        // `from_serde`).
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

/// Buffers of the last document dropped on this thread and of its last parse, for the next
/// parse: the pipeline parses a line, maps it and drops its tree on the same thread, so each
/// parse found ~3 kB of fresh buffers (nodes, spans, the parser's stack), each past mimalloc's
/// small-block fast path, and gave them back at the end. Also the writer's scratch buffer
/// (see [`write::to_vec`]).
mod spare {
    use super::{Frame, Node, Span};
    use std::cell::Cell;

    thread_local! {
        static NODES: Cell<Vec<Node>> = const { Cell::new(Vec::new()) };
        static SPANS: Cell<Vec<Span>> = const { Cell::new(Vec::new()) };
        static STACK: Cell<Vec<Frame>> = const { Cell::new(Vec::new()) };
        static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }

    /// Buffers larger than this many bytes are freed, not kept (one huge line's tree would
    /// otherwise stay with the thread).
    const KEEP_BYTES: usize = 256 << 10;

    /// The thread's spare buffer if it has `room`, else a fresh one (the spare then stays for
    /// the next, usual-sized parse).
    fn take<T>(cell: &'static std::thread::LocalKey<Cell<Vec<T>>>, room: usize) -> Vec<T> {
        let v = cell.try_with(Cell::take).unwrap_or_default();
        if v.capacity() >= room {
            return v;
        }
        if v.capacity() > 0 {
            let _ = cell.try_with(|c| c.set(v));
        }
        Vec::with_capacity(room)
    }

    fn keep<T>(cell: &'static std::thread::LocalKey<Cell<Vec<T>>>, mut v: Vec<T>) {
        if v.capacity() == 0 || v.capacity() * std::mem::size_of::<T>() > KEEP_BYTES {
            return;
        }
        v.clear();
        // during the thread's teardown there is nowhere to keep it: dropped
        let _ = cell.try_with(|c| c.set(v));
    }

    pub(super) fn nodes(room: usize) -> Vec<Node> {
        take(&NODES, room)
    }
    pub(super) fn spans(room: usize) -> Vec<Span> {
        take(&SPANS, room)
    }
    pub(super) fn stack(room: usize) -> Vec<Frame> {
        take(&STACK, room)
    }
    pub(super) fn keep_nodes(v: Vec<Node>) {
        keep(&NODES, v)
    }
    pub(super) fn keep_spans(v: Vec<Span>) {
        keep(&SPANS, v)
    }
    pub(super) fn keep_stack(v: Vec<Frame>) {
        keep(&STACK, v)
    }
    /// The writer's scratch buffer, empty.
    pub(super) fn scratch() -> Vec<u8> {
        take(&SCRATCH, 0)
    }
    pub(super) fn keep_scratch(v: Vec<u8>) {
        keep(&SCRATCH, v)
    }
}

impl Drop for Doc {
    fn drop(&mut self) {
        spare::keep_nodes(std::mem::take(&mut self.nodes));
        spare::keep_spans(std::mem::take(&mut self.spans));
    }
}

/// Objects with more keys than this are checked for repeated keys by sorting them.
const SMALL_OBJECT: u32 = 32;

/// Why the parser stopped.
enum Stop {
    Invalid(&'static str, usize),
    TooDeep(usize),
    RepeatedKey,
}

/// An open array or object while parsing.
struct Frame {
    at: u32,
    count: u32,
    object: bool,
    /// The node of the current key, in an object.
    key: u32,
    /// The object's key filter so far.
    filter: u64,
    /// Keys seen in this object, as bits of a short hash.
    seen: [u64; 4],
    /// Its entry in the spans.
    span: u32,
    /// The parser's `odd` count when it opened.
    odd: u32,
}

/// Whether the float `node` (parsed from text) reads in the line exactly as the writer writes
/// it.
fn float_written_as_read(node: Node, buf: &[u8]) -> bool {
    if node.w == 0 {
        return false;
    }
    let mut out = [0u8; 40];
    let mut w = &mut out[..];
    if serde_json::to_writer(&mut w, &f64::from_bits(node.x)).is_err() {
        return false;
    }
    let len = 40 - w.len();
    buf.get(node.n as usize..node.n as usize + node.w as usize) == Some(&out[..len])
}

/// A float node read from `len` bytes of text at `offset`.
#[inline]
fn float_node(f: f64, offset: usize, len: usize) -> Node {
    Node {
        tag: F64,
        plain: false,
        w: u16::try_from(len).unwrap_or(0),
        n: offset as u32,
        x: f.to_bits(),
    }
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    /// Unescaped strings (the document's `extra`).
    extra: Vec<u8>,
    spans: Vec<Span>,
    /// Whitespace bytes skipped and escaped strings read so far: a container whose text has
    /// neither leaves it unchanged between its brackets.
    odd: u32,
}

/// The high bit of each byte of the word (read little-endian) that is below 0x20, a `"` or a
/// `\`, and maybe of bytes after the first such one (a borrow can flag them); the lowest bit
/// set is always exact, and 0 means none.
#[inline]
pub(crate) fn word_look_mask(w: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    below_space | zero(w ^ (LO * b'"' as u64)) | zero(w ^ (LO * b'\\' as u64))
}

/// The first index from `i` on of a byte of `b` that JSON escapes in a string (below 0x20, `"`
/// or `\`), or `b.len()`: 16 bytes at a time with SSE2 (part of every x86-64), then a word at a
/// time, then byte by byte. Always inlined: the parser calls it for every string, and out of
/// line (as it went once the parser's `string` was inlined) the call cost ~15 instructions.
#[inline(always)]
pub(crate) fn first_escape(b: &[u8], i: usize) -> usize {
    scan::<false>(b, i)
}

/// [`first_escape`], also stopping at any byte past 0x7f (the start of a character that is not
/// ASCII, whose string then has its UTF-8 checked).
#[inline(always)]
fn first_look(b: &[u8], i: usize) -> usize {
    scan::<true>(b, i)
}

#[inline(always)]
fn scan<const HIGH: bool>(b: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        while i + 16 <= b.len() {
            // SAFETY: SSE2 is in the x86-64 baseline, so these intrinsics exist on every target
            // this compiles for; the load reads the 16 bytes b[i..i + 16], inside `b`.
            let m = unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
                let ctrl = _mm_set1_epi8(0x1f);
                // a byte <= 0x1f is one whose unsigned max with 0x1f is 0x1f
                let below_space = _mm_cmpeq_epi8(_mm_max_epu8(v, ctrl), ctrl);
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                let m =
                    _mm_movemask_epi8(_mm_or_si128(below_space, _mm_or_si128(quote, backslash)));
                // a byte's high bit is its own mask bit
                if HIGH { m | _mm_movemask_epi8(v) } else { m }
            };
            if m != 0 {
                return i + m.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes([
            b[i],
            b[i + 1],
            b[i + 2],
            b[i + 3],
            b[i + 4],
            b[i + 5],
            b[i + 6],
            b[i + 7],
        ]);
        // the lowest flag stays exact: the high bits are, and the look mask's lowest is
        let m = word_look_mask(w) | if HIGH { w & 0x8080_8080_8080_8080 } else { 0 };
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !escapes(b[i]) && !(HIGH && b[i] > 0x7f) {
        i += 1;
    }
    i
}

/// A hash of a key's length and first four bytes (`prefix`).
#[inline]
fn key_hash(len: u32, prefix: u64) -> u64 {
    (prefix ^ (len as u64) << 32).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A key's two bits in its object's 64-bit filter.
#[inline]
fn filter_bits(h: u64) -> u64 {
    1u64 << (h >> 58) | 1u64 << ((h >> 52) & 63)
}

/// A key node's two bits in its object's filter.
#[inline]
fn key_filter(key: Node) -> u64 {
    filter_bits(key_hash(key.n, key.x >> 32))
}

/// A key node's bit in the 256-bit repeated-key filter of the object being parsed: (word, bit).
#[inline]
fn key_bit(key: Node) -> (usize, u64) {
    let h = (key_hash(key.n, key.x >> 32) >> 40) & 255;
    ((h >> 6) as usize, 1u64 << (h & 63))
}

impl<'a> Parser<'a> {
    fn new(src: &'a [u8]) -> Parser<'a> {
        Parser {
            src,
            pos: 0,
            nodes: Vec::new(),
            extra: Vec::new(),
            spans: Vec::new(),
            odd: 0,
        }
    }

    /// Parse the text, into a document whose line the caller sets (see [`Parsed::Text`]).
    fn run(mut self) -> Result<Doc, Stop> {
        if self.src.len() > (u32::MAX / 2) as usize {
            // offsets and subtree sizes are 32-bit, and an unescaped string's offset is past
            // the line's end (at most twice its length)
            return Err(Stop::Invalid("larger than 2 GiB", 0));
        }
        // UTF-8 is checked per string, where the scan meets a byte past 0x7f: anywhere else such
        // a byte is not JSON (the grammar outside strings is ASCII) and stops the parse
        // a node every 10.4-15.6 bytes in Segment events (the peer stream): room for one every
        // 10 leaves 1 line in 8 growing its nodes (a copy of them all) no more
        self.nodes = spare::nodes(self.src.len() / 10 + 8);
        // a container every ~60 bytes in Segment events; growing from empty cost 4 allocations
        self.spans = spare::spans(self.src.len() / 48 + 4);
        let mut stack = spare::stack(16);
        let result = self.build(&mut stack);
        spare::keep_stack(stack);
        result
    }

    /// [`Self::run`]'s loop, with its stack of open containers.
    #[inline(always)]
    fn build(&mut self, stack: &mut Vec<Frame>) -> Result<Doc, Stop> {
        'value: loop {
            let c = self.peek();
            let start = self.pos;
            match c {
                None => return Err(Stop::Invalid("EOF while parsing a value", self.pos)),
                Some(b'{') | Some(b'[') => {
                    let object = c == Some(b'{');
                    if stack.len() >= MAX_DEPTH - 1 {
                        return Err(Stop::TooDeep(self.pos));
                    }
                    self.pos += 1;
                    let at = self.nodes.len() as u32;
                    self.nodes
                        .push(Node::new(if object { OBJ } else { ARR }, 0, 0));
                    let span = self.spans.len() as u32;
                    self.spans.push(Span {
                        node: at,
                        start: start as u32,
                        end: 0,
                    });
                    stack.push(Frame {
                        at,
                        count: 0,
                        object,
                        key: 0,
                        filter: 0,
                        seen: [0; 4],
                        span,
                        odd: self.odd,
                    });
                    let close = if object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        // empty: falls through to "a value ended"
                        if let Some(f) = stack.pop() {
                            self.end_span(&f);
                        }
                    } else if object {
                        self.key(stack.last_mut().expect("pushed"))?;
                        continue 'value;
                    } else {
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true", Node::new(TRUE, 0, 0))?,
                Some(b'f') => self.literal(b"false", Node::new(FALSE, 0, 0))?,
                Some(b'n') => self.literal(b"null", Node::new(NULL, 0, 0))?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(_) => return Err(Stop::Invalid("expected a value", start)),
            }
            // a value ended: close every container it completes, then go on or stop
            loop {
                let Some(frame) = stack.last_mut() else {
                    self.skip_ws();
                    if self.pos != self.src.len() {
                        return Err(Stop::Invalid("trailing characters", self.pos));
                    }
                    return Ok(Doc {
                        nodes: std::mem::take(&mut self.nodes),
                        line: bytes::Bytes::new(),
                        extra: std::mem::take(&mut self.extra),
                        spans: std::mem::take(&mut self.spans),
                    });
                };
                frame.count += 1;
                if frame.object {
                    end_value(&mut self.nodes, frame.key as usize);
                }
                let close = if frame.object { b'}' } else { b']' };
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if frame.object {
                            self.key(frame)?;
                        }
                        continue 'value;
                    }
                    Some(b) if b == close => {
                        self.pos += 1;
                        let at = frame.at as usize;
                        let filter = frame.object.then_some(frame.filter);
                        end_container(&mut self.nodes, at, frame.count as usize, filter);
                        if frame.object && frame.count > SMALL_OBJECT {
                            self.large_object_keys_are_unique(at)?;
                        }
                        if let Some(f) = stack.pop() {
                            self.end_span(&f);
                        }
                    }
                    _ => return Err(Stop::Invalid("expected `,` or a closing bracket", self.pos)),
                }
            }
        }
    }

    /// The repeated-key check of an object with many keys, when it closes: its keys sorted.
    fn large_object_keys_are_unique(&self, at: usize) -> Result<(), Stop> {
        let end = at + 1 + self.nodes[at].n as usize;
        let mut keys = Vec::with_capacity(self.nodes[at].w as usize);
        let mut i = at + 1;
        while i < end {
            let k = self.nodes[i];
            keys.push(text_of(self.src, &self.extra, k.range()));
            i = next_entry(&self.nodes, i);
        }
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(Stop::RepeatedKey);
        }
        Ok(())
    }

    /// The byte at `pos` once whitespace is skipped (and counted in `odd`), `None` at the end.
    /// Compact JSON has none: one comparison answers, and the callers match on the byte
    /// instead of reading it again (skipping whitespace before every value, key, `:` and `,`
    /// cost ~1,300 instructions per Segment event).
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        match self.src.get(self.pos) {
            Some(&b) if b > b' ' => Some(b),
            _ => self.peek_past_ws(),
        }
    }

    #[inline(never)]
    fn peek_past_ws(&mut self) -> Option<u8> {
        self.skip_ws();
        self.src.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.src.get(self.pos) {
            self.pos += 1;
            self.odd = self.odd.wrapping_add(1);
        }
    }

    /// The container of `frame` closed just before `pos`: its text ends there, and is
    /// verbatim-able when nothing odd was read since it opened.
    #[inline]
    fn end_span(&mut self, frame: &Frame) {
        if self.odd == frame.odd {
            self.spans[frame.span as usize].end = self.pos as u32;
        }
    }

    fn literal(&mut self, word: &[u8], node: Node) -> Result<(), Stop> {
        if self.src[self.pos..].starts_with(word) {
            self.pos += word.len();
            self.nodes.push(node);
            Ok(())
        } else {
            Err(Stop::Invalid("expected a value", self.pos))
        }
    }

    /// An object key, the `:` after it, and the repeated-key check. Inlined, as [`Self::string`]
    /// is: called for every key and string, a call's saving and restoring of registers cost
    /// ~15 instructions each time, more than some short strings' scan.
    #[inline(always)]
    fn key(&mut self, frame: &mut Frame) -> Result<(), Stop> {
        if self.peek() != Some(b'"') {
            return Err(Stop::Invalid("expected a key", self.pos));
        }
        self.string()?;
        let key_at = self.nodes.len() - 1;
        frame.key = key_at as u32;
        let key = self.nodes[key_at];
        frame.filter |= key_filter(key);
        let (word, bit) = key_bit(key);
        // past SMALL_OBJECT keys the filter fills up: those objects are checked once, sorted,
        // when they close (comparing each key with every earlier one would be quadratic)
        if frame.count < SMALL_OBJECT && frame.seen[word] & bit != 0 {
            // maybe repeated: compare with the earlier keys of this object
            let k = text_of(self.src, &self.extra, key.range());
            let mut i = frame.at as usize + 1;
            while i < key_at {
                let earlier = self.nodes[i];
                if earlier.n == key.n
                    && earlier.x >> 32 == key.x >> 32
                    && text_of(self.src, &self.extra, earlier.range()) == k
                {
                    return Err(Stop::RepeatedKey);
                }
                i = next_entry(&self.nodes, i);
            }
        }
        frame.seen[word] |= bit;
        if self.peek() != Some(b':') {
            return Err(Stop::Invalid("expected `:`", self.pos));
        }
        self.pos += 1;
        Ok(())
    }

    /// A string at `pos` (on its opening quote).
    #[inline(always)]
    fn string(&mut self) -> Result<(), Stop> {
        let open = self.pos;
        let src = self.src;
        // the first byte that needs a look: the closing quote, mostly
        let mut i = first_look(src, open + 1);
        let mut ascii = true;
        loop {
            match src.get(i) {
                None => return Err(Stop::Invalid("EOF while parsing a string", i)),
                Some(b'"') => {
                    let text = &src[open + 1..i];
                    if !ascii && std::str::from_utf8(text).is_err() {
                        return Err(Stop::Invalid("invalid UTF-8", open + 1));
                    }
                    self.nodes.push(str_node(open + 1, text, true));
                    self.pos = i + 1;
                    return Ok(());
                }
                Some(b'\\') => return self.escaped_string(open, i),
                Some(&b) if b < 0x20 => {
                    return Err(Stop::Invalid("control character in a string", i));
                }
                Some(_) => {
                    // past 0x7f: the string's UTF-8 is checked whole at its end
                    ascii = false;
                    i = first_escape(src, i + 1);
                }
            }
        }
    }

    /// The rest of a string with escapes, from the first `\` at `i`: unescaped onto the end of
    /// the buffer.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, open: usize, mut i: usize) -> Result<(), Stop> {
        self.odd = self.odd.wrapping_add(1);
        let src = self.src;
        let start = self.extra.len();
        self.extra.extend_from_slice(&src[open + 1..i]);
        loop {
            match src.get(i) {
                None => return Err(Stop::Invalid("EOF while parsing a string", i)),
                Some(b'"') => break,
                Some(b'\\') => {
                    let c = match src.get(i + 1) {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'b') => 0x08,
                        Some(b'f') => 0x0c,
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        Some(b'u') => {
                            let (ch, used) = self.unicode_escape(i)?;
                            let mut tmp = [0u8; 4];
                            self.extra
                                .extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                            i += used;
                            continue;
                        }
                        _ => return Err(Stop::Invalid("invalid escape", i)),
                    };
                    self.extra.push(c);
                    i += 2;
                }
                Some(&b) if b < 0x20 => {
                    return Err(Stop::Invalid("control character in a string", i));
                }
                Some(&b) => {
                    self.extra.push(b);
                    i += 1;
                }
            }
        }
        // the string's text as written (escapes are ASCII): valid UTF-8 exactly when every run of
        // raw bytes between escapes is
        if std::str::from_utf8(&src[open + 1..i]).is_err() {
            return Err(Stop::Invalid("invalid UTF-8", open + 1));
        }
        let s = &self.extra[start..];
        let plain = !s.iter().copied().any(escapes);
        // read past the line's end: in `extra` (see `text_of`)
        self.nodes.push(str_node(src.len() + start, s, plain));
        self.pos = i + 1;
        Ok(())
    }

    /// `\uXXXX` at `i` (a surrogate pair takes two): the character and the bytes read. A lone
    /// surrogate is an error, as in serde_json.
    fn unicode_escape(&self, i: usize) -> Result<(char, usize), Stop> {
        let hex = |at: usize| -> Result<u32, Stop> {
            let digits = self
                .src
                .get(at..at + 4)
                .ok_or(Stop::Invalid("EOF while parsing a string", at))?;
            let mut v = 0u32;
            for &d in digits {
                let n = (d as char)
                    .to_digit(16)
                    .ok_or(Stop::Invalid("invalid \\u escape", at))?;
                v = v * 16 + n;
            }
            Ok(v)
        };
        let first = hex(i + 2)?;
        match first {
            0xD800..=0xDBFF => {
                if self.src.get(i + 6..i + 8) != Some(b"\\u") {
                    return Err(Stop::Invalid("lone surrogate", i));
                }
                let second = hex(i + 8)?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(Stop::Invalid("lone surrogate", i));
                }
                let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                char::from_u32(c)
                    .map(|c| (c, 12))
                    .ok_or(Stop::Invalid("invalid \\u escape", i))
            }
            0xDC00..=0xDFFF => Err(Stop::Invalid("lone surrogate", i)),
            _ => char::from_u32(first)
                .map(|c| (c, 6))
                .ok_or(Stop::Invalid("invalid \\u escape", i)),
        }
    }

    /// A number at `pos`: an integer when it fits (u64, or i64 when negative), else an `f64`.
    fn number(&mut self) -> Result<(), Stop> {
        let src = self.src;
        let start = self.pos;
        let mut i = start;
        let negative = src[i] == b'-';
        if negative {
            i += 1;
        }
        let digits = i;
        // the end of the run of digits at `at`, which must not be empty
        let digits_from = |at: usize| {
            let mut end = at;
            while let Some(b'0'..=b'9') = src.get(end) {
                end += 1;
            }
            if end == at {
                return Err(Stop::Invalid("invalid number", at));
            }
            Ok(end)
        };
        i = match src.get(i) {
            Some(b'0') => i + 1,
            _ => digits_from(i)?,
        };
        let int_end = i;
        let mut float = false;
        if src.get(i) == Some(&b'.') {
            i = digits_from(i + 1)?;
            float = true;
        }
        if let Some(b'e' | b'E') = src.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = src.get(i) {
                i += 1;
            }
            i = digits_from(i)?;
            float = true;
        }
        self.pos = i;
        if !float && int_end - digits <= 20 {
            let mut v: u64 = 0;
            let mut fits = true;
            for &d in &src[digits..int_end] {
                match v
                    .checked_mul(10)
                    .and_then(|v| v.checked_add((d - b'0') as u64))
                {
                    Some(n) => v = n,
                    None => {
                        fits = false;
                        break;
                    }
                }
            }
            if fits {
                let node = if !negative {
                    Node::new(U64, 0, v)
                } else if v == 0 || v > 1 << 63 {
                    // serde_json: `-0` and integers below i64::MIN are floats
                    float_node(-(v as f64), start, i - start)
                } else {
                    Node::new(I64, 0, (v as i64).wrapping_neg() as u64)
                };
                self.nodes.push(node);
                return Ok(());
            }
        }
        // a number's bytes are ASCII
        let text = std::str::from_utf8(&src[start..i])
            .map_err(|_| Stop::Invalid("invalid number", start))?;
        let f: f64 = text
            .parse()
            .map_err(|_| Stop::Invalid("invalid number", start))?;
        if !f.is_finite() {
            return Err(Stop::Invalid("number out of range", start));
        }
        self.nodes.push(float_node(f, start, i - start));
        Ok(())
    }
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

impl Kind {
    /// The JSON type of a serde_json value.
    pub fn of(v: &serde_json::Value) -> Kind {
        use serde_json::Value as V;
        match v {
            V::Null => Kind::Null,
            V::Bool(_) => Kind::Bool,
            V::Number(_) => Kind::Number,
            V::String(_) => Kind::String,
            V::Array(_) => Kind::Array,
            V::Object(_) => Kind::Object,
        }
    }
}

/// Where a value is in its [`Doc`], to find it again without a lookup (never the root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos(u32);

impl Pos {
    /// No value.
    pub(crate) const NONE: Pos = Pos(0);
}

/// A view of one JSON value in a [`Doc`].
#[derive(Clone, Copy)]
pub struct Json<'a> {
    doc: &'a Doc,
    at: usize,
}

impl<'a> Json<'a> {
    fn node(self) -> Node {
        self.doc.nodes[self.at]
    }
    /// Where it is in its document.
    pub(crate) fn pos(self) -> Pos {
        Pos(self.at as u32)
    }
    /// Its JSON type.
    pub fn kind(self) -> Kind {
        match self.node().tag {
            NULL => Kind::Null,
            FALSE | TRUE => Kind::Bool,
            U64 | I64 | F64 => Kind::Number,
            STR => Kind::String,
            ARR => Kind::Array,
            _ => Kind::Object,
        }
    }
    /// Whether it is `null`.
    pub fn is_null(self) -> bool {
        self.node().tag == NULL
    }
    /// The boolean.
    pub fn as_bool(self) -> Option<bool> {
        match self.node().tag {
            TRUE => Some(true),
            FALSE => Some(false),
            _ => None,
        }
    }
    /// The number as `f64` (any number).
    pub fn as_f64(self) -> Option<f64> {
        let n = self.node();
        match n.tag {
            U64 => Some(n.x as f64),
            I64 => Some(n.x as i64 as f64),
            F64 => Some(f64::from_bits(n.x)),
            _ => None,
        }
    }
    /// The number when it is an integer that fits `i64`.
    pub fn as_i64(self) -> Option<i64> {
        let n = self.node();
        match n.tag {
            U64 => i64::try_from(n.x).ok(),
            I64 => Some(n.x as i64),
            _ => None,
        }
    }
    /// The number when it is an integer that fits `u64`.
    pub fn as_u64(self) -> Option<u64> {
        let n = self.node();
        match n.tag {
            U64 => Some(n.x),
            _ => None,
        }
    }
    /// The string.
    pub fn as_str(self) -> Option<&'a str> {
        let n = self.node();
        (n.tag == STR).then(|| self.doc.str_at(n))
    }
    /// The object.
    pub fn as_object(self) -> Option<Obj<'a>> {
        (self.node().tag == OBJ).then_some(Obj(self))
    }
    /// The array.
    pub fn as_array(self) -> Option<Arr<'a>> {
        (self.node().tag == ARR).then_some(Arr(self))
    }
    /// The member `key` when this is an object (the last, when the key repeats).
    pub fn get(self, key: &str) -> Option<Json<'a>> {
        self.as_object()?.get(key)
    }
    /// This array's or object's text in the line, when it is exactly what
    /// [`to_vec`] (and serde_json) would write for it: parsed from text, with no
    /// whitespace and no escapes inside, and every float in it written as the writer writes it
    /// (the shortest text that reads back the same: `1.5`, not `1.50` or `15e-1`). Writing it
    /// is then a copy; `None` for anything else, which is written value by value.
    ///
    /// ```
    /// use destination_kit::json::Doc;
    /// let doc = Doc::parse(br#"{"a":{"p":1.5,"q":[1,"x"]},"b":{"p":1.50},"c":{ "p":1 }}"#).unwrap();
    /// let v = |k: &str| doc.root().get(k).unwrap().verbatim().map(|t| t.as_str().to_owned());
    /// assert_eq!(v("a").as_deref(), Some(r#"{"p":1.5,"q":[1,"x"]}"#));
    /// assert_eq!(v("b"), None); // serde_json writes 1.5
    /// assert_eq!(v("c"), None); // whitespace
    /// ```
    pub fn verbatim(self) -> Option<Verbatim<'a>> {
        let n = self.node();
        if n.tag != OBJ && n.tag != ARR {
            return None;
        }
        let doc = self.doc;
        let i = doc
            .spans
            .binary_search_by_key(&(self.at as u32), |s| s.node)
            .ok()?;
        let span = doc.spans[i];
        if span.end == 0 {
            return None;
        }
        let inside = &doc.nodes[self.at + 1..self.at + 1 + n.n as usize];
        if !inside
            .iter()
            .all(|v| v.tag != F64 || float_written_as_read(*v, &doc.line))
        {
            return None;
        }
        let bytes = &doc.line[span.start as usize..span.end as usize];
        // SAFETY: the span is a slice of the line from an opening bracket to just after its
        // closing one, all of it parsed: the grammar outside strings is ASCII (the parser stops
        // at any other byte there), and every string in it was checked to be UTF-8.
        Some(Verbatim::new_unchecked(unsafe {
            std::str::from_utf8_unchecked(bytes)
        }))
    }
    /// A serde_json copy (for code that still takes one).
    pub fn to_serde(self) -> serde_json::Value {
        use serde_json::Value as V;
        let n = self.node();
        match n.tag {
            NULL => V::Null,
            FALSE => V::Bool(false),
            TRUE => V::Bool(true),
            U64 => V::from(n.x),
            I64 => V::from(n.x as i64),
            F64 => serde_json::Number::from_f64(f64::from_bits(n.x)).map_or(V::Null, V::Number),
            STR => V::String(self.doc.str_at(n).to_owned()),
            ARR => V::Array(Arr(self).iter().map(Json::to_serde).collect()),
            _ => V::Object(
                Obj(self)
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_serde()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Debug for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).unwrap_or_default())
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.node();
        match n.tag {
            NULL => s.serialize_unit(),
            FALSE => s.serialize_bool(false),
            TRUE => s.serialize_bool(true),
            U64 => s.serialize_u64(n.x),
            I64 => s.serialize_i64(n.x as i64),
            F64 => s.serialize_f64(f64::from_bits(n.x)),
            STR if n.plain => s.serialize_newtype_struct(write::PLAIN, self.doc.str_at(n)),
            STR => s.serialize_str(self.doc.str_at(n)),
            ARR => Arr(*self).serialize(s),
            _ => Obj(*self).serialize(s),
        }
    }
}

/// A view of a JSON object.
#[derive(Clone, Copy)]
pub struct Obj<'a>(Json<'a>);

impl<'a> Obj<'a> {
    /// The value of `key` (a repeated key kept its last value when the document was parsed).
    pub fn get(self, key: &str) -> Option<Json<'a>> {
        let doc = self.0.doc;
        let nodes = &doc.nodes;
        let want = key.as_bytes();
        let (len, head) = (want.len() as u32, prefix(want));
        let obj = nodes[self.0.at];
        let bits = filter_bits(key_hash(len, head));
        if obj.x & bits != bits {
            return None;
        }
        let mut i = self.0.at + 1;
        let end = i + obj.n as usize;
        while i < end {
            let k = nodes[i];
            if k.n == len
                && k.x >> 32 == head
                && (want.len() <= 4
                    || doc.text(k.offset() + 4..k.offset() + want.len()) == &want[4..])
            {
                return Some(Json { doc, at: i + 1 });
            }
            i = next_entry(nodes, i);
        }
        None
    }
    /// Its text in the line, when writing it would give exactly that (see [`Json::verbatim`]).
    pub fn verbatim(self) -> Option<Verbatim<'a>> {
        self.0.verbatim()
    }
    /// Its entries (a document's keys do not repeat).
    pub fn raw_len(self) -> usize {
        match self.0.node().w {
            u16::MAX => self.iter().count(),
            n => n as usize,
        }
    }
    /// Whether it has no entries.
    pub fn is_empty(self) -> bool {
        self.0.node().n == 0
    }
    /// The entries, in document order.
    pub fn iter(self) -> impl Iterator<Item = (&'a str, Json<'a>)> + 'a {
        let doc = self.0.doc;
        self.entries()
            .map(move |(key, value)| (doc.str_at(key), value))
    }
    /// The entries as key nodes and values.
    fn entries(self) -> impl Iterator<Item = (Node, Json<'a>)> + 'a {
        let doc = self.0.doc;
        let mut i = self.0.at + 1;
        let end = i + self.0.node().n as usize;
        std::iter::from_fn(move || {
            if i >= end {
                return None;
            }
            let entry = (doc.nodes[i], Json { doc, at: i + 1 });
            i = next_entry(&doc.nodes, i);
            Some(entry)
        })
    }
}

impl fmt::Debug for Obj<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Obj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.raw_len()))?;
        let doc = self.0.doc;
        for (key, value) in self.entries() {
            if key.plain {
                m.serialize_entry(&Plain(doc.str_at(key)), &value)?;
            } else {
                m.serialize_entry(doc.str_at(key), &value)?;
            }
        }
        m.end()
    }
}

/// A string with no byte JSON escapes, passed to a serializer as the newtype struct
/// [`write::PLAIN`]: [`write`]'s serializer copies it, every other one sees the string.
struct Plain<'a>(&'a str);

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(write::PLAIN, self.0)
    }
}

/// A view of a JSON array.
#[derive(Clone, Copy)]
pub struct Arr<'a>(Json<'a>);

impl<'a> Arr<'a> {
    /// The element at `index`.
    pub fn get(self, index: usize) -> Option<Json<'a>> {
        self.iter().nth(index)
    }
    /// How many elements.
    pub fn len(self) -> usize {
        self.0.node().x as usize
    }
    /// Whether it has no elements.
    pub fn is_empty(self) -> bool {
        self.0.node().n == 0
    }
    /// The elements.
    pub fn iter(self) -> impl Iterator<Item = Json<'a>> + 'a {
        let doc = self.0.doc;
        let mut i = self.0.at + 1;
        (0..self.0.node().x).map(move |_| {
            let value = Json { doc, at: i };
            i += doc.nodes[i].width();
            value
        })
    }
}

impl Serialize for Arr<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for v in self.iter() {
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}

/// `b` without JSON whitespace (space, tab, CR, LF) at either end. Not `trim_ascii`, which also
/// strips a form feed: a line around which one stands is not JSON.
///
/// ```
/// use destination_kit::json::trim_ws;
/// assert_eq!(trim_ws(b" \t{}\r\n"), b"{}");
/// assert_eq!(trim_ws(b"\x0c{}"), b"\x0c{}");
/// ```
pub fn trim_ws(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_dropped_trees_buffers_serve_the_next_parse_on_its_thread() {
        // a thread of its own: other tests' parses do not take the spare buffers meanwhile
        std::thread::spawn(|| {
            let line = br#"{"a":[1,2,{"b":"c"}],"d":"e"}"#;
            let first = Doc::parse(line).unwrap();
            let (nodes, spans) = (first.nodes.as_ptr(), first.spans.as_ptr());
            drop(first);
            let second = Doc::parse(br#"{"x":{"y":[true,null]}}"#).unwrap();
            assert_eq!(second.nodes.as_ptr(), nodes, "the same node buffer");
            assert_eq!(second.spans.as_ptr(), spans, "the same span buffer");
            // and the tree read from it is the second document's, whole
            assert_eq!(
                second.root().to_serde(),
                serde_json::json!({"x": {"y": [true, null]}})
            );
            // two trees alive at once: the second has buffers of its own
            let third = Doc::parse(line).unwrap();
            assert_ne!(third.nodes.as_ptr(), second.nodes.as_ptr());
            assert_eq!(third.root().get("d").unwrap().as_str(), Some("e"));
            drop((second, third));

            // a spare too small for a longer line is not used for it (nor dropped)
            let long = format!(r#"{{"k":[{}]}}"#, vec!["1"; 500].join(","));
            let big = Doc::parse(long.as_bytes()).unwrap();
            assert!(big.nodes.capacity() >= 500);
            assert_eq!(big.root().get("k").unwrap().as_array().unwrap().len(), 500);
            let kept = big.nodes.as_ptr();
            drop(big);
            // a tree over 256 kB of nodes is freed, not kept for the thread
            let huge = format!(r#"[{}]"#, vec!["1"; 40_000].join(","));
            let h = Doc::parse(huge.as_bytes()).unwrap();
            assert_eq!(h.root().as_array().unwrap().len(), 40_000);
            drop(h);
            let after = Doc::parse(line).unwrap();
            assert_eq!(
                after.nodes.as_ptr(),
                kept,
                "the huge tree's buffer was not kept"
            );
        })
        .join()
        .unwrap();
    }

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
            any::<String>().prop_map(V::String),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(V::Array),
                prop::collection::vec(("[a-e]{0,3}", inner), 0..6)
                    .prop_map(|kv| V::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Every array and object in `v`, itself included.
    fn containers(v: Json<'_>) -> Vec<Json<'_>> {
        let mut out = Vec::new();
        match v.kind() {
            Kind::Array => {
                out.push(v);
                for e in v.as_array().unwrap().iter() {
                    out.extend(containers(e));
                }
            }
            Kind::Object => {
                out.push(v);
                for (_, e) in v.as_object().unwrap().iter() {
                    out.extend(containers(e));
                }
            }
            _ => {}
        }
        out
    }

    /// serde_json's reading of `text`, or `None` when it refuses it.
    fn serde_reads(text: &[u8]) -> Option<serde_json::Value> {
        serde_json::from_slice(text).ok()
    }

    proptest! {
        /// Parsing any JSON text gives the tree serde_json gives, and writes it back the same.
        #[test]
        fn a_doc_reads_as_serde_json_reads(v in arb_json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
            let doc = Doc::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(doc.root().to_serde(), v.clone());
            let back: serde_json::Value = serde_json::from_str(&serde_json::to_string(&doc.root()).unwrap()).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(Doc::from_serde(&v).root().to_serde(), v);
        }

        /// The escape scan (16 bytes, then 8, then 1 at a time) finds what a byte-by-byte scan
        /// finds, from any start, wherever the byte sits relative to the 16- and 8-byte steps.
        #[test]
        fn first_escape_finds_the_first_byte_json_escapes(
            b in prop::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff, Just(b'a')], 0..70),
            start in 0usize..70,
        ) {
            let start = start.min(b.len());
            let naive = (start..b.len()).find(|&i| escapes(b[i])).unwrap_or(b.len());
            prop_assert_eq!(first_escape(&b, start), naive);
            // the common case: plain bytes up to one that needs a look
            let mut plain = vec![b'x'; b.len()];
            if let Some(last) = plain.last_mut() { *last = b'"'; }
            prop_assert_eq!(first_escape(&plain, 0), plain.len().saturating_sub(1));
            // the same scan stopping at bytes past 0x7f too
            let naive = (start..b.len()).find(|&i| escapes(b[i]) || b[i] > 0x7f).unwrap_or(b.len());
            prop_assert_eq!(first_look(&b, start), naive);
        }

        /// Any bytes in a key or a string value, escapes among them or not: the tree takes the
        /// line exactly when serde_json does (UTF-8 is checked per string now, not per line),
        /// and reads the same strings.
        #[test]
        fn strings_of_any_bytes_parse_as_serde_json_parses_them(
            key in prop::collection::vec(prop_oneof![Just(b'a'), Just(b'\\'), Just(b'n'), 0x80u8..=0xff, 0x20u8..0x80], 0..24),
            value in prop::collection::vec(prop_oneof![Just(b'a'), Just(b'\\'), Just(b'n'), 0x80u8..=0xff, 0x20u8..0x80, Just(0xc3), Just(0xa9)], 0..40),
        ) {
            let mut line = b"{\"".to_vec();
            line.extend_from_slice(&key);
            line.extend_from_slice(b"\":[\"");
            line.extend_from_slice(&value);
            line.extend_from_slice(b"\",1]}");
            let ours = Doc::parse(&line).ok().map(|d| d.root().to_serde());
            prop_assert_eq!(ours, serde_reads(&line), "{}", String::from_utf8_lossy(&line));
        }

        /// Every array and object that offers its text verbatim offers exactly the bytes the
        /// writer writes for it; compact text without escapes offers it at the root.
        #[test]
        fn verbatim_text_is_what_the_writer_writes(v in arb_json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
            let doc = Doc::parse(text.as_bytes()).unwrap();
            let mut offered = 0;
            for c in containers(doc.root()) {
                if let Some(t) = c.verbatim() {
                    offered += 1;
                    prop_assert_eq!(t.as_str().as_bytes(), &to_vec(&c).unwrap()[..]);
                    prop_assert_eq!(to_vec(&t).unwrap(), to_vec(&c).unwrap());
                }
            }
            let compact_plain = !pretty && !text.contains('\\');
            if compact_plain && matches!(v, serde_json::Value::Array(_) | serde_json::Value::Object(_)) {
                prop_assert!(doc.root().verbatim().is_some(), "{}", text);
                prop_assert!(offered > 0);
            }
            if pretty && text.contains('\n') {
                prop_assert!(doc.root().verbatim().is_none());
            }
        }

        /// A float spelled otherwise than the writer spells it (`1.50`, `15e-1`, `-0`, an
        /// integer past u64) makes its containers write value by value.
        #[test]
        fn verbatim_only_when_every_number_is_spelled_as_written(
            nums in prop::collection::vec(r"-?(0|[1-9][0-9]{0,22})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", 1..4)
        ) {
            let text = format!(r#"{{"a":[{}],"b":"x"}}"#, nums.join(","));
            let Ok(doc) = Doc::parse(text.as_bytes()) else { return Ok(()) }; // out of range
            let a = doc.root().get("a").unwrap();
            let written = to_vec(&a).unwrap();
            let same = written == format!("[{}]", nums.join(",")).into_bytes();
            prop_assert_eq!(a.verbatim().is_some(), same, "{}", text);
            prop_assert_eq!(doc.root().verbatim().is_some(), same);
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
            let written: serde_json::Value = serde_json::from_str(&serde_json::to_string(&doc.root()).unwrap()).unwrap();
            prop_assert_eq!(written, want);
        }

        /// Any bytes: the tree accepts exactly what serde_json accepts, and reads it the same.
        #[test]
        fn accepts_what_serde_json_accepts(text in r#"[ \[\]{}",:0-9eE+\-.a-z\\/\x00-\x1f\u{e9}]{0,24}"#) {
            let ours = Doc::parse(text.as_bytes()).ok().map(|d| d.root().to_serde());
            prop_assert_eq!(ours, serde_reads(text.as_bytes()));
        }

        /// Numbers in every shape read as serde_json reads them.
        #[test]
        fn numbers_read_as_serde_json_reads(text in r"-?(0|[1-9][0-9]{0,22})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?") {
            let ours = Doc::parse(text.as_bytes()).ok().map(|d| d.root().to_serde());
            prop_assert_eq!(ours, serde_reads(text.as_bytes()), "{}", text);
        }

        /// Strings with escapes of every kind read as serde_json reads them.
        #[test]
        fn escapes_read_as_serde_json_reads(parts in prop::collection::vec(prop_oneof![
            Just(r#"\""#.to_string()), Just(r"\\".to_string()), Just(r"\/".to_string()),
            Just(r"\b".to_string()), Just(r"\n".to_string()), Just(r"\u00e9".to_string()),
            Just(r"\ud83d\ude00".to_string()), Just(r"\ud800".to_string()), Just(r"\udc00".to_string()),
            Just(r"\u12".to_string()), Just(r"\x".to_string()), Just("\u{1}".to_string()),
            "[a-z\u{e9}]{0,9}",
        ], 0..8)) {
            let text = format!("[\"{}\"]", parts.concat());
            let ours = Doc::parse(text.as_bytes()).ok().map(|d| d.root().to_serde());
            prop_assert_eq!(ours, serde_reads(text.as_bytes()), "{}", text);
        }
    }

    #[test]
    fn number_edges_read_as_serde_json_reads() {
        for text in [
            "0",
            "-0",
            "-0.0",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
            "1557.29",
            "5e-324",
            "1e-400",
            "1.7976931348623157e308",
            "1e400",
            "-1e400",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "-01",
        ] {
            let ours = Doc::parse(text.as_bytes())
                .ok()
                .map(|d| d.root().to_serde());
            assert_eq!(ours, serde_reads(text.as_bytes()), "{text}");
            if let Some(v) = &ours {
                // the same number type, not only an equal value
                let theirs = serde_reads(text.as_bytes()).unwrap();
                assert_eq!(
                    (v.is_u64(), v.is_i64(), v.is_f64()),
                    (theirs.is_u64(), theirs.is_i64(), theirs.is_f64()),
                    "{text}"
                );
                if let Some(f) = theirs.as_f64() {
                    assert_eq!(v.as_f64().unwrap().to_bits(), f.to_bits(), "{text}");
                }
            }
        }
    }

    #[test]
    fn nesting_past_the_limit_is_an_error_not_a_crash() {
        for n in [MAX_DEPTH, 100_000] {
            let deep = format!("{}1{}", "[".repeat(n), "]".repeat(n));
            assert!(matches!(
                Doc::parse(deep.as_bytes()),
                Err(DocError::TooDeep { offset }) if offset == MAX_DEPTH - 1
            ));
            assert!(serde_reads(deep.as_bytes()).is_none());
        }
        let ok = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(serde_reads(ok.as_bytes()).is_some());
        assert!(Doc::parse(ok.as_bytes()).is_ok());
        // brackets inside strings do not count, and many shallow objects are fine
        let strings = format!("[\"{}\"]", "[".repeat(1000));
        assert!(Doc::parse(strings.as_bytes()).is_ok());
        let wide = format!("[{}]", vec!["{}"; 1000].join(","));
        assert_eq!(
            Doc::parse(wide.as_bytes())
                .unwrap()
                .root()
                .as_array()
                .unwrap()
                .len(),
            1000
        );
    }

    #[test]
    fn hostile_inputs_are_errors() {
        for bad in [
            &br#"{"a":1e400}"#[..],
            br#"{"a":"\ud800"}"#,
            b"{\"a\":\"\xff\"}",
            // UTF-8 is checked per string, and bytes past 0x7f are not JSON outside one
            b"{\"\xc3\":1}",
            b"{\"a\":\"x\xc3\"}",
            b"{\"a\":\"\xe9t\xc3\xa9\"}",
            b"{\"a\":\"\xc0\xaf\"}",
            b"{\"a\":\"\xed\xa0\x80\"}",
            b"{\"a\":\"\xf4\x90\x80\x80\"}",
            b"{\"a\":\"\\n\xc3\"}",
            b"{\"a\":\"\xc3\\u00a9\"}",
            b"{\"a\":\"0123456789abcdef\x80\"}",
            b"{\"a\":1\xc3\xa9}",
            b"{\"a\":\xc3\xa9}",
            b"\xef\xbb\xbf{\"a\":1}",
            b"{\"a\":\"x\x01\"}",
            br#"{"a":1,}"#,
            br#"[1,]"#,
            br#"{"a":01}"#,
            br#"{"a":NaN}"#,
            br#"{"a":1} x"#,
            br#"{"a" 1}"#,
            br#"{a:1}"#,
            br#"{"a":tru}"#,
            b"",
            b"  ",
            br#"{"a":"#,
            br#"{"a":"x"#,
        ] {
            assert!(
                matches!(Doc::parse(bad), Err(DocError::Json(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert!(serde_reads(bad).is_none());
        }
    }

    #[test]
    fn lookups_tell_keys_apart_past_their_first_four_bytes_and_skip_wide_values() {
        let wide = vec!["1"; 70_000].join(",");
        let text =
            format!(r#"{{"abcd1":1,"abcd2":2,"":3,"a":4,"ab\u0063":5,"big":[{wide}],"after":6}}"#);
        for doc in [
            Doc::parse(text.as_bytes()).unwrap(),
            Doc::from_serde(&serde_json::from_str(&text).unwrap()),
        ] {
            let o = doc.root().as_object().unwrap();
            let got = |k: &str| o.get(k).and_then(|v| v.as_i64());
            assert_eq!(
                [
                    got("abcd1"),
                    got("abcd2"),
                    got(""),
                    got("a"),
                    got("abc"),
                    got("after")
                ],
                [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6)]
            );
            assert_eq!([got("abcd"), got("abcd3"), got("b")], [None, None, None]);
            assert_eq!(o.get("big").unwrap().as_array().unwrap().len(), 70_000);
        }
        // more entries than an object node counts: counted by walking
        let many = (0..70_000)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let doc = Doc::parse(format!("{{{many}}}").as_bytes()).unwrap();
        let o = doc.root().as_object().unwrap();
        assert_eq!((o.raw_len(), o.iter().count()), (70_000, 70_000));
        assert_eq!(o.get("k69999").and_then(|v| v.as_u64()), Some(69_999));
        // a repeated key far apart in a large object still keeps the last value
        let doc = Doc::parse(format!("{{{many},\"k7\":\"last\"}}").as_bytes()).unwrap();
        let o = doc.root().as_object().unwrap();
        assert_eq!(o.get("k7").and_then(|v| v.as_str()), Some("last"));
        assert_eq!(o.raw_len(), 70_000);
    }

    #[test]
    fn nested_lookups_skip_whole_subtrees() {
        let doc = Doc::parse(
            br#"{"a":[{"x":{"y":[1,2,{"z":3}]}},[[]],{}],"b":{"c":{"d":"e"}},"s":"t\"u"}"#,
        )
        .unwrap();
        let r = doc.root();
        assert_eq!(
            r.get("b")
                .unwrap()
                .get("c")
                .unwrap()
                .get("d")
                .unwrap()
                .as_str(),
            Some("e")
        );
        assert_eq!(r.get("s").unwrap().as_str(), Some("t\"u"));
        let a = r.get("a").unwrap().as_array().unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a.get(1).unwrap().as_array().unwrap().len(), 1);
        assert!(a.get(2).unwrap().as_object().unwrap().is_empty());
        assert!(a.get(3).is_none());
        assert!(r.get("zz").is_none());
    }
}
