//! Canonical fixtures: a realistic track event for every specced event, the six calls, valid
//! edge cases and malformed inputs with the exact error each must give.
//!
//! The data lives in JSON files under `spec-tests/fixtures/` (included at compile time, so it
//! can be read and diffed): `spec/<catalog key>.json` holds one track event per spec event in
//! catalog order, `calls.json` the six calls, `edge_cases.json` valid oddities,
//! `malformed.json` invalid inputs. Every fixture has its own `messageId` and a fixed
//! timestamp, so runs are reproducible.
//!
//! ```
//! use destination_kit::spec::{recognise, ALL};
//! use spec_tests::fixtures;
//!
//! let order = fixtures::spec_event(recognise("Order Completed").unwrap());
//! assert_eq!(order["properties"]["total"], 27.5);
//! assert_eq!(fixtures::all_spec_events().len(), ALL.len());
//! ```

use destination_kit::event::{CallType, Message};
use destination_kit::spec::{ALL, Family, SpecEventKind};
use serde_json::Value;
use std::sync::OnceLock;

const ECOMMERCE: &str = include_str!("../fixtures/spec/ecommerce_v2.json");
const VIDEO: &str = include_str!("../fixtures/spec/video.json");
const LIVE_CHAT: &str = include_str!("../fixtures/spec/live_chat.json");
const EMAIL: &str = include_str!("../fixtures/spec/email.json");
const CALLS: &str = include_str!("../fixtures/calls.json");
const EDGE_CASES: &str = include_str!("../fixtures/edge_cases.json");
const MALFORMED: &str = include_str!("../fixtures/malformed.json");

fn parsed(cell: &'static OnceLock<Value>, text: &'static str, file: &str) -> &'static Value {
    cell.get_or_init(|| {
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("spec-tests/fixtures/{file} is not valid JSON: {e}"))
    })
}

fn family_file(family: Family) -> &'static [Value] {
    static CELLS: [OnceLock<Value>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let (i, text) = match family {
        Family::Ecommerce => (0, ECOMMERCE),
        Family::Video => (1, VIDEO),
        Family::LiveChat => (2, LIVE_CHAT),
        Family::Email => (3, EMAIL),
    };
    let file = format!("spec/{}.json", family.catalog_key());
    parsed(&CELLS[i], text, &file)
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The canonical track event for `kind`, if there is one (every catalog event should have one;
/// a test enforces it).
pub fn try_spec_event(kind: &SpecEventKind) -> Option<Value> {
    family_file(kind.family)
        .iter()
        .find(|v| v["event"] == kind.name)
        .cloned()
}

/// The canonical track event for `kind`: valid, with `userId`, `anonymousId`, a distinct
/// `messageId`, fixed ISO timestamps, a context with library, ip and userAgent, and every
/// property the spec documents for the event (product lists hold two products).
///
/// # Panics
/// When the fixture files have no event named `kind.name` (see [`try_spec_event`]).
pub fn spec_event(kind: &SpecEventKind) -> Value {
    try_spec_event(kind).unwrap_or_else(|| {
        panic!(
            "no fixture for spec event {:?}: add one to spec-tests/fixtures/spec/{}.json",
            kind.name,
            kind.family.catalog_key()
        )
    })
}

/// The canonical fixture of `kind` as a parsed [`Message`].
///
/// # Panics
/// When there is no fixture, or it does not parse (a test guards both).
pub fn spec_message(kind: &SpecEventKind) -> Message {
    Message::from_value(spec_event(kind))
        .unwrap_or_else(|e| panic!("fixture of {:?} does not parse: {e}", kind.name))
}

/// Every spec event of [`ALL`] with its canonical fixture, in catalog order.
///
/// # Panics
/// When an event has no fixture.
pub fn all_spec_events() -> Vec<(&'static SpecEventKind, Value)> {
    ALL.iter().map(|k| (k, spec_event(k))).collect()
}

/// One valid message of each call: a custom track event, identify with the reserved traits,
/// page, screen, group with the reserved group traits, and alias.
pub fn calls() -> Vec<(CallType, Value)> {
    static CELL: OnceLock<Value> = OnceLock::new();
    parsed(&CELL, CALLS, "calls.json")
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let call = v["type"].as_str().and_then(CallType::parse);
            (
                call.expect("calls.json: every call has a known type"),
                v.clone(),
            )
        })
        .collect()
}

/// The fixture of one call (see [`calls`]).
pub fn call(call: CallType) -> Value {
    calls()
        .into_iter()
        .find(|(c, _)| *c == call)
        .map(|(_, v)| v)
        .expect("calls.json has every call")
}

/// Valid but unusual events, by name: optional properties absent, no properties object, empty
/// products, unicode and emoji, very long strings (and a 100-character messageId), numbers sent
/// as strings, integers sent as floats, explicit nulls, far-past, future and offset timestamps,
/// a v1 alias, anonymous-only, a derived timestamp, numeric ids, custom properties, a
/// structured search query, a livestream without length, a capitalised call type.
/// Each parses, validates clean and is recognised.
pub fn edge_cases() -> Vec<(&'static str, Value)> {
    static CELL: OnceLock<Value> = OnceLock::new();
    parsed(&CELL, EDGE_CASES, "edge_cases.json")
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["name"].as_str().unwrap_or(""), e["event"].clone()))
        .collect()
}

/// One edge case by name.
///
/// # Panics
/// When there is no such edge case.
pub fn edge_case(name: &str) -> Value {
    edge_cases()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no edge case named {name:?}"))
}

/// Where a malformed input fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// [`Message::from_slice`](destination_kit::event::Message::from_slice) fails.
    Parse,
    /// It parses, but [`Message::validate`](destination_kit::event::Message::validate) reports
    /// errors.
    Validate,
}

/// A malformed or invalid input and the error it must give.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// A short name (`product_price_not_a_number`).
    pub name: &'static str,
    /// The input bytes (not always JSON, not always UTF-8).
    pub bytes: Vec<u8>,
    /// The exact path of the (first) error: `$` for the document, else a field path such as
    /// `properties.products[2].price`.
    pub path: &'static str,
    /// Where it fails.
    pub stage: Stage,
    /// Every error it gives, rendered `path: message`, in order. For input that is not JSON
    /// at all (path `$`, error "not valid JSON …") it holds only serde_json's description
    /// (`EOF while parsing an object`), which the rendered error must contain.
    pub errors: Vec<&'static str>,
}

/// The malformed and invalid inputs: bad JSON, invalid UTF-8, deep nesting, huge numbers, not
/// an object, missing or wrong `type`, missing ids, a 101-character messageId, bad dates, track
/// without event, group without groupId, alias without previousId, objects of the wrong type,
/// and typed spec properties that cannot be read (products not an array, a price of `"abc"`,
/// null where a product belongs, fractional integers, …).
pub fn malformed() -> Vec<Malformed> {
    static CELL: OnceLock<Value> = OnceLock::new();
    parsed(&CELL, MALFORMED, "malformed.json")
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let name = e["name"].as_str().unwrap_or("");
            let bytes = if let Some(t) = e["text"].as_str() {
                t.as_bytes().to_vec()
            } else if let Some(h) = e["hex"].as_str() {
                from_hex(h).unwrap_or_else(|| panic!("malformed.json: {name}: bad hex"))
            } else {
                serde_json::to_vec(&e["json"]).unwrap_or_default()
            };
            Malformed {
                name,
                bytes,
                path: e["path"].as_str().unwrap_or(""),
                stage: match e["stage"].as_str() {
                    Some("parse") => Stage::Parse,
                    _ => Stage::Validate,
                },
                errors: e["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect(),
            }
        })
        .collect()
}

fn from_hex(h: &str) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The lines of `examples/events.jsonl`, the sample file the README's main command reads:
/// every spec event, the six calls, three invalid events (no user or anonymous id, a bad
/// timestamp, a track without `event`) and two duplicates (the same messageId as an earlier
/// line). Deterministic; a test keeps the file equal to it.
pub fn example_events() -> Vec<Value> {
    let calls = calls();
    let spec = all_spec_events();
    let mut out = Vec::new();
    let call = |c: CallType| calls.iter().find(|(t, _)| *t == c).map(|(_, v)| v.clone());
    out.extend(call(CallType::Identify));
    out.extend(call(CallType::Alias));
    out.extend(call(CallType::Group));
    out.extend(call(CallType::Page));
    let mut invalid = invalid_examples().into_iter();
    for (i, (_, ev)) in spec.iter().enumerate() {
        out.push(ev.clone());
        match i {
            // a duplicate right after the original, as a retrying client sends it
            9 => out.push(ev.clone()),
            12 => out.extend(invalid.next()),
            15 => out.extend(call(CallType::Track)),
            27 => out.extend(call(CallType::Screen)),
            30 => out.extend(invalid.next()),
            44 => out.extend(invalid.next()),
            _ => {}
        }
    }
    // a late duplicate of Order Completed
    out.push(spec[15].1.clone());
    out
}

fn invalid_examples() -> Vec<Value> {
    let mut no_ids = spec_event(&ALL[6]);
    strip(&mut no_ids, &["userId", "anonymousId"]);
    set(&mut no_ids, "messageId", "ex-invalid-no-ids-0001".into());
    let mut bad_time = spec_event(&ALL[31]);
    set(&mut bad_time, "timestamp", "14/03/2026 09:21".into());
    set(
        &mut bad_time,
        "messageId",
        "ex-invalid-bad-timestamp-0002".into(),
    );
    let mut no_event = call(CallType::Track);
    strip(&mut no_event, &["event"]);
    set(
        &mut no_event,
        "messageId",
        "ex-invalid-no-event-0003".into(),
    );
    vec![no_ids, bad_time, no_event]
}

fn strip(v: &mut Value, keys: &[&str]) {
    if let Some(m) = v.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
}

fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(m) = v.as_object_mut() {
        m.insert(key.to_string(), value);
    }
}

/// [`example_events`] as JSON lines (one compact object per line, newline-terminated): the
/// exact content of `examples/events.jsonl`.
pub fn examples_jsonl() -> String {
    let mut s = String::new();
    for v in example_events() {
        s.push_str(&serde_json::to_string(&v).unwrap_or_default());
        s.push('\n');
    }
    s
}
