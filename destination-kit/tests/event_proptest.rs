//! Property tests: no input panics the parser, the validator or the event-time rule, and every
//! message that parses round-trips losslessly.

use destination_kit::event::{
    Message, RecordReader, parse_datetime, parse_document, parse_json, parse_lines,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Arbitrary JSON values, up to a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        ".{0,12}".prop_map(Value::String),
        interesting_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Keys the model reads, and some it does not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "type", "event", "userId", "anonymousId", "messageId", "timestamp",
            "originalTimestamp", "sentAt", "receivedAt", "context", "integrations", "properties",
            "traits", "groupId", "previousId", "name", "category", "batch", "products", "price",
            "revenue", "currency", "value", "email", "firstName", "first_name", "age", "address",
            "employees", "keywords", "url", "page", "device", "ip", "active", "All", "order_id",
            "total", "quantity",
        ])
        .prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

/// Strings close to what the model parses: dates, numbers, call types, multi-byte characters.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "track",
            "identify",
            "page",
            "screen",
            "group",
            "alias",
            "Track",
            "Order Completed",
            "Product Viewed",
            "Video Playback Started",
            "Email Opened",
            "Live Chat Message Sent",
            "Completed Order",
            "12.50",
            "abc",
            "",
            "NaN",
            "inf",
            "-0",
            "1e400",
        ])
        .prop_map(str::to_string),
        // date-shaped strings, including broken ones
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[T t][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|z|[+-][0-9]{2}:?[0-9]{2})?",
        "[0-9é€-]{8,14}[T ][0-9:.é]{6,12}.{0,3}",
    ]
}

/// Objects that are close to messages: a valid `type` and a random subset of message fields.
fn message_like() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "track", "identify", "page", "screen", "group", "alias",
        ]),
        prop::collection::vec((key(), any_json()), 0..12),
        prop::option::of(interesting_string()),
        prop::option::of(interesting_string()),
    )
        .prop_map(|(t, fields, ts, event)| {
            let mut m: Map<String, Value> = fields.into_iter().collect();
            m.insert("type".into(), json!(t));
            if let Some(ts) = ts {
                m.insert("originalTimestamp".into(), json!(ts));
            }
            if let Some(e) = event {
                m.insert("event".into(), json!(e));
            }
            Value::Object(m)
        })
}

/// Everything a consumer may call on a parsed message.
fn exercise(m: &Message) {
    let _ = m.validate();
    let _ = m.event_time();
    let _ = (
        m.user_id(),
        m.anonymous_id(),
        m.message_id(),
        m.event(),
        m.group_id(),
    );
    let _ = (
        m.email(),
        m.full_name(),
        m.age(),
        m.employees(),
        m.created_at(),
    );
    let _ = (m.industry(), m.address(), m.company(), m.trait_id());
    let _ = (
        m.revenue(),
        m.value(),
        m.currency(),
        m.page_url(),
        m.page_keywords(),
    );
    let _ = m.enabled_for("Amplitude");
    let c = m.context();
    let _ = (c.ip(), c.device(), c.nested_str("device", "id"), c.active());
    let _ = format!("{m:?}");
    // lossless: through text and back gives the same value
    let back = Message::from_slice(m.to_json().as_bytes()).expect("serialised message parses");
    assert_eq!(back.to_value(), m.to_value());
}

fn exercise_bytes(bytes: &[u8]) {
    for r in parse_document(bytes) {
        let _ = r.line_errors();
        if let Ok(m) = &r.result {
            exercise(m);
        }
    }
    if let Ok(m) = Message::from_slice(bytes) {
        exercise(&m);
    }
    let streamed: Vec<_> = RecordReader::new(bytes).map(Result::unwrap).collect();
    let sliced: Vec<_> = parse_lines(bytes).collect();
    assert_eq!(streamed, sliced);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise_bytes(&bytes);
    }

    #[test]
    fn arbitrary_json_values_never_panic(v in any_json()) {
        if let Ok(m) = Message::from_value(v.clone()) {
            exercise(&m);
            prop_assert_eq!(m.to_value(), v.clone());
        }
        exercise_bytes(v.to_string().as_bytes());
    }

    #[test]
    fn message_like_objects_never_panic_and_round_trip(v in message_like()) {
        let m = Message::from_value(v.clone()).expect("a valid type always parses");
        exercise(&m);
        prop_assert_eq!(m.to_value(), v.clone());
        let text = v.to_string();
        let recs = parse_document(text.as_bytes());
        // a message-like object is one record, unless it has `batch` and no `type` (it has type)
        prop_assert_eq!(recs.len(), 1);
        prop_assert_eq!(recs[0].message().map(Message::to_value), Some(v));
    }

    #[test]
    fn streams_of_values_keep_one_record_per_line(vs in prop::collection::vec(message_like(), 1..8)) {
        let text: String = vs.iter().map(|v| v.to_string() + "\n").collect();
        let recs: Vec<_> = parse_lines(text.as_bytes()).collect();
        prop_assert_eq!(recs.len(), vs.len());
        for (i, (r, v)) in recs.iter().zip(&vs).enumerate() {
            prop_assert_eq!(r.line, i + 1);
            prop_assert_eq!(r.message().map(Message::to_value), Some(v.clone()));
        }
    }

    #[test]
    fn mutated_messages_never_panic(
        v in message_like(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        // flip bytes of a message's JSON: mostly broken JSON and broken UTF-8
        let mut bytes = v.to_string().into_bytes();
        for (at, b) in cuts {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        exercise_bytes(&bytes);
        let _ = parse_json(&bytes);
    }

    #[test]
    fn date_parsing_never_panics(s in interesting_string()) {
        let _ = parse_datetime(&s);
    }

    #[test]
    fn any_string_as_a_date_never_panics(s in ".{0,40}") {
        let _ = parse_datetime(&s);
    }
}

/// Strings of the canonical shape `YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)` with every field drawn
/// from a range a little wider than valid, so some are out of range.
fn canonical_shaped_time() -> impl Strategy<Value = String> {
    (
        (0u32..=9999, 0u32..=13, 0u32..=32),
        (0u32..=25, 0u32..=61, 0u32..=61),
        prop::option::of("[0-9]{1,11}"),
        prop_oneof![
            Just("Z".to_string()),
            (prop::bool::ANY, 0u32..=25, 0u32..=61)
                .prop_map(|(neg, h, m)| format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' })),
        ],
    )
        .prop_map(|((y, mo, d), (h, mi, s), frac, off)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// The fast path for the shape every library sends agrees with chrono's RFC 3339 parser:
    /// the same instant and offset whenever chrono accepts, an error whenever it refuses —
    /// except a second of 60 away from 23:59 UTC, which chrono takes and we refuse (a leap
    /// second is only ever 23:59:60 UTC).
    #[test]
    fn canonical_times_parse_as_chrono_does(s in canonical_shaped_time()) {
        use chrono::Timelike;
        let ours = parse_datetime(&s);
        match chrono::DateTime::parse_from_rfc3339(&s) {
            Ok(want)
                if want.nanosecond() >= 1_000_000_000
                    && !(want.with_timezone(&chrono::Utc).hour() == 23
                        && want.with_timezone(&chrono::Utc).minute() == 59) =>
            {
                prop_assert!(ours.is_err(), "{s} accepted: {ours:?}");
            }
            Ok(want) => {
                let got = ours.expect("chrono accepts it");
                prop_assert_eq!(got, want);
                prop_assert_eq!(got.offset(), want.offset());
            }
            Err(_) => prop_assert!(ours.is_err(), "{s} accepted: {ours:?}"),
        }
    }
}

#[test]
fn canonical_time_examples() {
    let t = |s: &str| parse_datetime(s).map(|d| d.to_rfc3339());
    assert_eq!(
        t("2024-05-01T12:00:00.006Z").unwrap(),
        "2024-05-01T12:00:00.006+00:00"
    );
    assert_eq!(
        t("2024-02-29T23:59:59+05:30").unwrap(),
        "2024-02-29T23:59:59+05:30"
    );
    assert_eq!(
        t("2024-05-01T12:00:00.123456789-07:00").unwrap(),
        "2024-05-01T12:00:00.123456789-07:00"
    );
    assert!(
        t("2023-02-29T00:00:00Z")
            .unwrap_err()
            .contains("out of range")
    );
    assert!(t("2024-13-01T00:00:00Z").is_err());
    // shapes the fast path leaves to chrono still parse
    assert_eq!(
        t("2024-05-01 12:00:00z").unwrap(),
        "2024-05-01T12:00:00+00:00"
    );
    assert_eq!(
        t("2024-05-01T12:00:00+0200").unwrap(),
        "2024-05-01T12:00:00+02:00"
    );
}
