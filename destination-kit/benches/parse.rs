//! Parse + validate + spec recognition over a realistic event mix, beside the floor: each line
//! checked as UTF-8 once, then `serde_json::from_str::<serde_json::Value>` (as
//! `Message::from_slice` reads it), in the same run.
//!
//! The mix is `examples/events.jsonl` (every specced event and call, ~1.2 KB each, with full
//! context), or a small inline mix when that file is absent.
//!
//! `cargo bench -p destination-kit --bench parse -- --warm-up-time 1 --measurement-time 5`
//!
//! `borrowed_top_level` is a probe, not a path the pipeline takes: the same lines into a struct
//! that borrows the top-level strings and keeps `properties`, `context`, `traits` and
//! `integrations` as unparsed `RawValue` slices — the least an event model that borrows from the
//! input line would do. It bounds what such a model could gain over the owned `Value` tree.
//!
//! Two more probes ask where the floor's time goes. `sonic_rs_to_serde_value` tokenises with
//! sonic-rs (SIMD) but builds the same `serde_json::Value` tree: if it is no faster, building
//! the tree (a `String` per key and value, B-tree nodes) is the cost, not reading the text.
//! `sonic_rs_value` builds sonic-rs's own owned tree, whose nodes and strings live in one
//! arena per document: what an owned event model on an arena-allocated tree would parse at.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use destination_kit::event::parse_lines;
use destination_kit::spec::SpecEvent;
use serde_json::Value;
use serde_json::value::RawValue;

const INLINE_MIX: &str = concat!(
    r#"{"type":"track","event":"Order Completed","userId":"u-1","anonymousId":"a-1","messageId":"m-1","timestamp":"2026-03-04T05:06:07.890Z","sentAt":"2026-03-04T05:06:08.000Z","properties":{"order_id":"o-1","total":"27.50","revenue":25,"currency":"USD","products":[{"product_id":"p1","sku":"S-1","name":"Tent","price":12.5,"quantity":2},{"product_id":"p2","price":"2.50","quantity":1}]},"context":{"ip":"203.0.113.9","library":{"name":"analytics.js","version":"5.2.0"},"page":{"url":"https://x.test/checkout"},"userAgent":"Mozilla/5.0"}}"#,
    "\n",
    r#"{"type":"identify","userId":"u-1","messageId":"m-2","timestamp":"2026-03-04T05:06:07Z","traits":{"email":"ada@example.test","firstName":"Ada","age":36,"address":{"city":"London"}},"context":{"locale":"en-GB"}}"#,
    "\n",
    r#"{"type":"page","anonymousId":"a-1","messageId":"m-3","timestamp":"2026-03-04T05:06:07Z","name":"Pricing","properties":{"path":"/pricing","url":"https://x.test/pricing"}}"#,
    "\n",
    r#"{"type":"track","event":"Video Content Playing","userId":"u-1","messageId":"m-4","timestamp":"2026-03-04T05:06:07Z","properties":{"session_id":"s-1","asset_id":"v-9","position":20,"total_length":600,"title":"Intro"}}"#,
    "\n",
);

fn load_mix() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/events.jsonl");
    std::fs::read(path).unwrap_or_else(|_| INLINE_MIX.as_bytes().to_vec())
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
}

/// The floor: every line to a `serde_json::Value`.
fn floor(bytes: &[u8]) -> usize {
    lines(bytes)
        .filter(|l| std::str::from_utf8(l).is_ok_and(|s| serde_json::from_str::<Value>(s).is_ok()))
        .count()
}

/// Parse only: every line to a `Message`.
fn parse_only(bytes: &[u8]) -> usize {
    parse_lines(bytes).filter(|r| r.result.is_ok()).count()
}

/// The full front half of the pipeline: parse, validate, recognise the specced event (one pass).
fn parse_validate_recognise(bytes: &[u8]) -> usize {
    let mut valid = 0;
    for rec in parse_lines(bytes) {
        if let Ok(m) = rec.result {
            let (errors, spec) = m.validate_and_recognise();
            valid += usize::from(errors.is_empty());
            black_box(spec);
        }
    }
    valid
}

/// The same, as two calls: `validate()` then `SpecEvent::from_message` (reads spec properties
/// twice).
fn validate_then_from_message(bytes: &[u8]) -> usize {
    let mut valid = 0;
    for rec in parse_lines(bytes) {
        if let Ok(m) = rec.result {
            valid += usize::from(m.validate().is_empty());
            black_box(SpecEvent::from_message(&m));
        }
    }
    valid
}

/// The top level of a message, borrowed from the line; nested objects left as raw JSON.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // read by the parse only
struct BorrowedTop<'a> {
    #[serde(rename = "type", borrow)]
    call: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    event: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "userId", borrow)]
    user_id: Option<&'a RawValue>,
    #[serde(rename = "anonymousId", borrow)]
    anonymous_id: Option<&'a RawValue>,
    #[serde(rename = "messageId", borrow)]
    message_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    context: Option<&'a RawValue>,
    #[serde(borrow)]
    traits: Option<&'a RawValue>,
    #[serde(borrow)]
    integrations: Option<&'a RawValue>,
}

/// The probe: every line to a [`BorrowedTop`].
fn borrowed_top_level(bytes: &[u8]) -> usize {
    lines(bytes)
        .filter(|l| serde_json::from_slice::<BorrowedTop>(l).is_ok())
        .count()
}

/// Probe: every line tokenised by sonic-rs into a `serde_json::Value`.
fn sonic_rs_to_serde_value(bytes: &[u8]) -> usize {
    lines(bytes)
        .filter(|l| sonic_rs::from_slice::<Value>(l).is_ok())
        .count()
}

/// Probe: every line into sonic-rs's own arena-allocated tree.
fn sonic_rs_value(bytes: &[u8]) -> usize {
    lines(bytes)
        .filter(|l| sonic_rs::from_slice::<sonic_rs::Value>(l).is_ok())
        .count()
}

/// Every line into `destination_kit::json::Doc`, the tree a parsed `Message` holds.
fn json_doc(bytes: &[u8]) -> usize {
    lines(bytes)
        .filter(|l| destination_kit::json::Doc::parse(l).is_ok())
        .count()
}

/// One measured function over the whole mix; returns a count so the work is not optimised away.
type Run = fn(&[u8]) -> usize;

fn bench(c: &mut Criterion) {
    let mix = load_mix();
    let events = lines(&mix).count() as u64;
    let bytes = mix.len() as u64;
    assert_eq!(floor(&mix) as u64, events, "the mix is all JSON");
    assert_eq!(parse_only(&mix) as u64, events, "the mix is all messages");
    assert_eq!(
        borrowed_top_level(&mix) as u64,
        events,
        "the probe reads every line"
    );
    for probe in [sonic_rs_to_serde_value, sonic_rs_value] {
        assert_eq!(probe(&mix) as u64, events, "the probes read every line");
    }
    let runs: [(&str, Run); 8] = [
        ("json_doc", json_doc),
        ("serde_json_value_floor", floor),
        ("borrowed_top_level", borrowed_top_level),
        ("sonic_rs_to_serde_value", sonic_rs_to_serde_value),
        ("sonic_rs_value", sonic_rs_value),
        ("message_parse", parse_only),
        ("parse_validate_recognise", parse_validate_recognise),
        ("validate_then_from_message", validate_then_from_message),
    ];
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(bytes)),
        ("events", Throughput::Elements(events)),
    ] {
        let mut g = c.benchmark_group(format!("parse_mix_{unit}"));
        g.throughput(throughput);
        for (name, f) in runs {
            // the events view only for the floor and the full path
            if unit == "events"
                && !matches!(
                    name,
                    "serde_json_value_floor"
                        | "borrowed_top_level"
                        | "sonic_rs_to_serde_value"
                        | "sonic_rs_value"
                        | "json_doc"
                        | "parse_validate_recognise"
                )
            {
                continue;
            }
            g.bench_with_input(BenchmarkId::new(name, events), &mix, |b, mix| {
                b.iter(|| f(black_box(mix)))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
