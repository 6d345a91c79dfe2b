//! The event model: lossless round trips, typed accessors for common fields, context objects,
//! reserved traits and properties, the three input shapes, and the event-time rule.

use chrono::{DateTime, TimeZone, Utc};
use destination_kit::event::{
    CallType, Message, RecordReader, event_time_from, parse_document, parse_lines,
};
use serde_json::{Value, json};

fn msg(v: Value) -> Message {
    Message::from_value(v).expect("a message")
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test date")
        .with_timezone(&Utc)
}

// ---- lossless round trips ------------------------------------------------------------------------

/// One realistic message per call, each with fields the model does not know about at every level.
fn round_trip_inputs() -> Vec<String> {
    vec![
        r#"{"type":"track","event":"Order Completed","userId":"u-19","anonymousId":"a-7","messageId":"ajs-next-1a2b","timestamp":"2026-03-04T05:06:07.890Z","originalTimestamp":"2026-03-04T05:06:07.123+01:00","sentAt":"2026-03-04T05:06:08.000Z","receivedAt":"2026-03-04T05:06:09.456Z","version":2,"properties":{"order_id":"o-1","total":"27.50","products":[{"product_id":"p1","price":12.5,"quantity":2,"x_colour":"teal"}],"nested":{"a":[1,2.5,-3e-7,null,true,{"b":"ü"}]}},"context":{"ip":"203.0.113.9","library":{"name":"analytics.js","version":"5.2.0"},"device":{"id":"d-1","x_rooted":false},"x_custom":{"deep":{"deeper":[{"k":"v"}]}},"page":{"url":"https://shop.test/checkout","title":"Checkout"}},"integrations":{"All":true,"Mixpanel":false,"Amplitude":{"session_id":1772600767}},"x_top_level":{"kept":"yes"},"_metadata":{"bundled":["Segment.io"],"unbundled":[]}}"#.to_string(),
        r#"{"type":"identify","userId":"u-19","messageId":"m-2","timestamp":"2026-03-04T05:06:07Z","traits":{"email":"ada@example.test","first_name":"Ada","lastName":"Lovelace","age":"36","address":{"city":"London","postalCode":"NW1","x_flat":"2B"},"company":{"name":"Engines Ltd","employee_count":12},"x_loyalty":{"tier":"gold"}},"context":{"traits":{"x":1},"locale":"en-GB","timezone":"Europe/London","userAgentData":{"brands":[{"brand":"Chromium","version":"130"}],"mobile":false,"platform":"macOS"}}}"#.to_string(),
        r#"{"type":"page","anonymousId":"a-7","messageId":"m-3","name":"Pricing","category":"Docs","properties":{"path":"/pricing","url":"https://x.test/pricing","keywords":["plans","cost"],"x_ab":"B"},"context":{"campaign":{"name":"spring","source":"news","medium":"email","term":"t","content":"c","x_utm_id":"9"},"referrer":{"type":"dataxu","id":"r-1"},"screen":{"width":1920,"height":1080,"density":2}}}"#.to_string(),
        r#"{"type":"screen","userId":"u-1","messageId":"m-4","name":"Home","properties":{"name":"Home","x_tab":3},"context":{"app":{"name":"Shop","version":"4.1.0","build":"412","namespace":"test.shop"},"os":{"name":"iOS","version":"18.1"},"network":{"wifi":true,"cellular":false,"carrier":"T"},"location":{"city":"Oslo","latitude":59.91,"longitude":10.75},"device":{"advertisingId":"idfa","adTrackingEnabled":true,"manufacturer":"Apple","model":"iPhone16,1","type":"ios","token":"apns"}}}"#.to_string(),
        r#"{"type":"group","userId":"u-1","messageId":"m-5","groupId":"g-42","traits":{"name":"Initech","Industry":"Software","employees":"120","plan":"enterprise","x_tier":1},"context":{"groupId":"g-42","channel":"server","userAgent":"Mozilla/5.0"}}"#.to_string(),
        r#"{"type":"alias","userId":"u-1","previousId":"a-7","messageId":"m-6","integrations":{"All":false,"Intercom":true},"x_unknown":[[[]]],"big":18446744073709551615,"neg":-9223372036854775808,"tiny":5e-324}"#.to_string(),
    ]
}

#[test]
fn parse_then_serialise_gives_the_same_json_value() {
    for input in round_trip_inputs() {
        let original: Value = serde_json::from_str(&input).unwrap();
        let m = Message::from_slice(input.as_bytes()).unwrap();
        assert_eq!(m.to_value(), original, "to_value of {input}");
        // through text and back, and through serde's Serialize / Deserialize
        let text = m.to_json();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), original);
        assert_eq!(serde_json::to_value(&m).unwrap(), original);
        let back: Message = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(m.clone().into_value(), original);
    }
}

#[test]
fn unknown_fields_stay_reachable() {
    let m = Message::from_slice(round_trip_inputs()[0].as_bytes()).unwrap();
    assert_eq!(m.get("x_top_level"), Some(&json!({"kept": "yes"})));
    assert_eq!(
        m.context()
            .get("x_custom")
            .and_then(|c| c.pointer("/deep/deeper/0/k")),
        Some(&json!("v"))
    );
    assert_eq!(
        m.context().device().and_then(|d| d.get("x_rooted")),
        Some(&json!(false))
    );
    assert_eq!(
        m.property("nested").and_then(|n| n.pointer("/a/5/b")),
        Some(&json!("ü"))
    );
}

#[test]
fn fixtures_file_round_trips_when_present() {
    // examples/events.jsonl is generated by spec-tests from the canonical fixtures; every line of
    // it must round-trip. The inline inputs above cover the same ground if it is not there yet.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/events.jsonl");
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let mut n = 0;
    for (line, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        if raw.trim_ascii().is_empty() {
            continue;
        }
        let original: Value = serde_json::from_slice(raw).unwrap();
        let m = Message::from_slice(raw).unwrap_or_else(|e| panic!("line {}: {e}", line + 1));
        assert_eq!(m.to_value(), original, "line {}", line + 1);
        n += 1;
    }
    assert!(n > 50, "examples/events.jsonl has only {n} events");
}

#[test]
fn set_refuses_to_change_the_type() {
    let mut m = Message::new(CallType::Track);
    m.set("type", json!("identify"));
    m.set("receivedAt", json!("2026-03-04T05:06:09Z"));
    assert_eq!(m.call(), CallType::Track);
    assert_eq!(
        m.to_value(),
        json!({"type": "track", "receivedAt": "2026-03-04T05:06:09Z"})
    );
}

#[test]
fn type_is_case_insensitive_and_kept_as_sent() {
    let m = msg(json!({"type": "Track", "event": "x"}));
    assert_eq!(m.call(), CallType::Track);
    assert_eq!(m.get("type"), Some(&json!("Track")));
}

// ---- accessors -------------------------------------------------------------------------------------

#[test]
fn common_fields() {
    let m = Message::from_slice(round_trip_inputs()[0].as_bytes()).unwrap();
    assert_eq!(m.call(), CallType::Track);
    assert_eq!(m.message_id(), Some("ajs-next-1a2b"));
    assert_eq!(m.user_id(), Some("u-19"));
    assert_eq!(m.anonymous_id(), Some("a-7"));
    assert_eq!(m.user_or_anonymous_id(), Some("u-19"));
    assert_eq!(m.event(), Some("Order Completed"));
    assert_eq!(m.timestamp_raw(), Some("2026-03-04T05:06:07.890Z"));
    assert_eq!(m.timestamp(), Some(utc("2026-03-04T05:06:07.890Z")));
    // offsets are normalised to UTC
    assert_eq!(
        m.original_timestamp(),
        Some(utc("2026-03-04T04:06:07.123Z"))
    );
    assert_eq!(m.sent_at(), Some(utc("2026-03-04T05:06:08Z")));
    assert_eq!(m.received_at(), Some(utc("2026-03-04T05:06:09.456Z")));
    assert_eq!(m.version(), Some(&json!(2)));
    assert_eq!(m.integrations().map(|i| i.len()), Some(3));
    assert_eq!(m.property("order_id"), Some(&json!("o-1")));
    assert_eq!(m.properties().map(|p| p.len()), Some(4));
}

#[test]
fn context_objects() {
    let all = round_trip_inputs();
    let t = Message::from_slice(all[0].as_bytes()).unwrap();
    let c = t.context();
    assert_eq!(c.ip(), Some("203.0.113.9"));
    assert_eq!(c.nested_str("library", "name"), Some("analytics.js"));
    assert_eq!(
        c.library().and_then(|l| l.get("version")),
        Some(&json!("5.2.0"))
    );
    assert_eq!(c.nested_str("device", "id"), Some("d-1"));
    assert_eq!(c.nested_str("page", "title"), Some("Checkout"));
    assert_eq!(c.page().map(|p| p.len()), Some(2));

    let i = Message::from_slice(all[1].as_bytes()).unwrap();
    let c = i.context();
    assert_eq!(c.locale(), Some("en-GB"));
    assert_eq!(c.timezone(), Some("Europe/London"));
    assert_eq!(c.traits().and_then(|t| t.get("x")), Some(&json!(1)));
    assert_eq!(
        c.user_agent_data().and_then(|u| u.get("platform")),
        Some(&json!("macOS"))
    );

    let p = Message::from_slice(all[2].as_bytes()).unwrap();
    let c = p.context();
    assert_eq!(c.nested_str("campaign", "medium"), Some("email"));
    assert_eq!(c.campaign().map(|x| x.len()), Some(6));
    assert_eq!(c.nested_str("referrer", "type"), Some("dataxu"));
    assert_eq!(c.referrer().map(|x| x.len()), Some(2));
    assert_eq!(c.screen().and_then(|s| s.get("density")), Some(&json!(2)));

    let s = Message::from_slice(all[3].as_bytes()).unwrap();
    let c = s.context();
    assert_eq!(c.nested_str("app", "namespace"), Some("test.shop"));
    assert_eq!(c.app().map(|x| x.len()), Some(4));
    assert_eq!(c.nested_str("os", "version"), Some("18.1"));
    assert_eq!(c.os().map(|x| x.len()), Some(2));
    assert_eq!(c.network().and_then(|n| n.get("wifi")), Some(&json!(true)));
    assert_eq!(
        c.location().and_then(|l| l.get("latitude")),
        Some(&json!(59.91))
    );
    assert_eq!(c.nested_str("device", "token"), Some("apns"));
    assert_eq!(c.device().map(|x| x.len()), Some(6));

    let g = Message::from_slice(all[4].as_bytes()).unwrap();
    let c = g.context();
    assert_eq!(c.group_id(), Some("g-42"));
    assert_eq!(c.channel(), Some("server"));
    assert_eq!(c.user_agent(), Some("Mozilla/5.0"));
    assert_eq!(c.active(), None);
    assert_eq!(c.raw().map(|r| r.len()), Some(3));

    // no context at all: every accessor is None
    let a = Message::from_slice(all[5].as_bytes()).unwrap();
    assert!(a.context().raw().is_none());
    assert_eq!(a.context().ip(), None);
    assert_eq!(a.context().device(), None);
}

#[test]
fn reserved_identify_traits_in_camel_or_snake_case() {
    let m = msg(
        json!({"type": "identify", "userId": "u", "messageId": "m", "traits": {
        "address": {"city": "Lyon", "country": "FR"}, "age": "36", "avatar": "https://a.test/x.png",
        "birthday": "1990-04-01", "company": {"name": "Acme", "id": "c-1"},
        "created_at": "2025-01-02T03:04:05+01:00", "description": "early adopter",
        "email": "ada@example.test", "first_name": "Ada", "gender": "female", "id": "u",
        "lastName": "Lovelace", "phone": "+33 1 23 45 67 89", "title": "Engineer",
        "username": "ada", "website": "https://ada.test"}}),
    );
    assert_eq!(
        m.address().and_then(|a| a.get("city")),
        Some(&json!("Lyon"))
    );
    assert_eq!(m.age(), Some(36.0));
    assert_eq!(m.avatar(), Some("https://a.test/x.png"));
    assert_eq!(m.birthday(), Some("1990-04-01"));
    assert_eq!(
        m.company().and_then(|c| c.get("name")),
        Some(&json!("Acme"))
    );
    assert_eq!(m.created_at(), Some(utc("2025-01-02T02:04:05Z")));
    assert_eq!(m.description(), Some("early adopter"));
    assert_eq!(m.email(), Some("ada@example.test"));
    assert_eq!(m.first_name(), Some("Ada"));
    assert_eq!(m.gender(), Some("female"));
    assert_eq!(m.trait_id(), Some("u"));
    assert_eq!(m.last_name(), Some("Lovelace"));
    assert_eq!(m.trait_name(), None);
    assert_eq!(m.full_name().as_deref(), Some("Ada Lovelace"));
    assert_eq!(m.phone(), Some("+33 1 23 45 67 89"));
    assert_eq!(m.job_title(), Some("Engineer"));
    assert_eq!(m.username(), Some("ada"));
    assert_eq!(m.website(), Some("https://ada.test"));
    assert!(m.validate().is_empty(), "{:?}", m.validate());
}

#[test]
fn reserved_group_traits_are_case_insensitive() {
    let m = msg(
        json!({"type": "group", "userId": "u", "groupId": "g", "traits": {
        "Name": "Initech", "INDUSTRY": "Software", "employees": "120", "Plan": "enterprise",
        "email": "ops@initech.test", "website": "https://initech.test", "id": "g"}}),
    );
    assert_eq!(m.group_id(), Some("g"));
    assert_eq!(m.trait_name(), Some("Initech"));
    assert_eq!(m.industry(), Some("Software"));
    assert_eq!(m.employees(), Some(120.0));
    assert_eq!(m.plan(), Some("enterprise"));
    assert_eq!(m.email(), Some("ops@initech.test"));
    assert_eq!(m.website(), Some("https://initech.test"));
    // identify traits are not case-insensitive: `Name` is a custom trait there
    let i = msg(json!({"type": "identify", "userId": "u", "traits": {"Name": "x"}}));
    assert_eq!(i.trait_name(), None);
}

#[test]
fn traits_fall_back_to_context_traits_on_other_calls() {
    let m =
        msg(json!({"type": "track", "event": "x", "context": {"traits": {"email": "c@x.test"}}}));
    assert_eq!(m.email(), Some("c@x.test"));
    // identify's own traits win over context.traits
    let i = msg(
        json!({"type": "identify", "traits": {"email": "own@x.test"},
        "context": {"traits": {"email": "c@x.test"}}}),
    );
    assert_eq!(i.email(), Some("own@x.test"));
}

#[test]
fn reserved_track_properties() {
    let m = msg(json!({"type": "track", "event": "x",
        "properties": {"revenue": "19.99", "currency": "EUR", "value": 3}}));
    assert_eq!(m.revenue(), Some(19.99));
    assert_eq!(m.currency(), Some("EUR"));
    assert_eq!(m.value(), Some(3.0));
    let bad = msg(json!({"type": "track", "event": "x", "properties": {"revenue": "abc"}}));
    assert_eq!(bad.revenue(), None);
}

#[test]
fn reserved_page_and_screen_properties() {
    let p = msg(json!({"type": "page", "name": "Pricing", "properties": {
        "path": "/pricing", "referrer": "https://r.test", "search": "?q=1", "title": "Pricing",
        "url": "https://x.test/pricing?q=1", "keywords": ["plans", 3, "cost"]}}));
    assert_eq!(p.page_name(), Some("Pricing"));
    assert_eq!(p.page_path(), Some("/pricing"));
    assert_eq!(p.page_referrer(), Some("https://r.test"));
    assert_eq!(p.page_search(), Some("?q=1"));
    assert_eq!(p.page_title(), Some("Pricing"));
    assert_eq!(p.page_url(), Some("https://x.test/pricing?q=1"));
    assert_eq!(p.page_keywords(), Some(vec!["plans", "cost"]));
    // context.page is the fallback (analytics.js sends both)
    let t = msg(json!({"type": "track", "event": "x",
        "context": {"page": {"url": "https://x.test/a", "path": "/a"}}}));
    assert_eq!(t.page_url(), Some("https://x.test/a"));
    assert_eq!(t.page_path(), Some("/a"));
    assert_eq!(t.page_title(), None);
    // screen: top-level name, else properties.name
    let s = msg(json!({"type": "screen", "properties": {"name": "Cart"}}));
    assert_eq!(s.screen_name(), Some("Cart"));
    assert_eq!(s.name(), None);
    let c = msg(json!({"type": "page", "category": "Docs"}));
    assert_eq!(c.category(), Some("Docs"));
}

#[test]
fn alias_fields() {
    let m = msg(json!({"type": "alias", "userId": "u", "previousId": "a"}));
    assert_eq!(m.previous_id(), Some("a"));
    assert_eq!(m.user_id(), Some("u"));
}

#[test]
fn integrations_opt_out() {
    let m = msg(json!({"type": "track", "event": "x",
        "integrations": {"All": false, "Amplitude": true, "mixpanel": {"key": 1}, "Braze": false}}));
    assert!(m.enabled_for("Amplitude"));
    assert!(
        m.enabled_for("Mixpanel"),
        "case-insensitive match, options object = enabled"
    );
    assert!(!m.enabled_for("Braze"));
    assert!(!m.enabled_for("Intercom"), "All: false covers the unnamed");
    let none = msg(json!({"type": "track", "event": "x"}));
    assert!(none.enabled_for("Intercom"));
    let all_true = msg(json!({"type": "track", "event": "x", "integrations": {"Intercom": false}}));
    assert!(!all_true.enabled_for("Intercom"));
    assert!(all_true.enabled_for("Braze"));
}

#[test]
fn integrations_keys_differing_in_case_pick_the_first_in_key_order_parsed_or_built() {
    // "MIXPANEL" sorts before "mixpanel"; the line has them the other way round
    let line = br#"{"type":"track","event":"x","integrations":{"mixpanel":false,"MIXPANEL":true}}"#;
    let parsed = Message::from_slice(line).unwrap();
    assert!(parsed.tree().is_some());
    let built = Message::from_value(serde_json::from_slice(line).unwrap()).unwrap();
    for m in [&parsed, &built] {
        assert!(m.enabled_for("Mixpanel"));
        assert!(!m.enabled_for("mixpanel"), "the exact key wins");
    }
}

// ---- input shapes ----------------------------------------------------------------------------------

#[test]
fn one_pretty_printed_message() {
    let doc = b"\n  {\n  \"type\": \"identify\",\n  \"userId\": \"u\"\n}\n\n";
    let recs = parse_document(doc);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].line, 1);
    assert_eq!(recs[0].batch_index, None);
    assert_eq!(
        recs[0].message().map(Message::call),
        Some(CallType::Identify)
    );
}

#[test]
fn a_json_lines_stream() {
    let doc =
        b"{\"type\":\"track\",\"event\":\"a\"}\r\n\n{\"type\":\"page\"}\n{\"type\":\"screen\"}";
    let got: Vec<(usize, CallType)> = parse_document(doc)
        .iter()
        .map(|r| (r.line, r.message().unwrap().call()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, CallType::Track),
            (3, CallType::Page),
            (4, CallType::Screen)
        ]
    );
}

#[test]
fn a_batch_envelope() {
    let doc = br#"{"batch":[{"type":"track","event":"a","userId":"u","messageId":"1"},{"type":"identify","userId":"u","messageId":"2"}],"sentAt":"2026-03-04T05:06:08Z","writeKey":"not kept on messages"}"#;
    let recs = parse_document(doc);
    assert_eq!(recs.len(), 2);
    assert_eq!(
        recs.iter().map(|r| r.batch_index).collect::<Vec<_>>(),
        vec![Some(0), Some(1)]
    );
    assert!(recs.iter().all(|r| r.line == 1 && r.is_valid()));
    assert_eq!(recs[1].message().unwrap().message_id(), Some("2"));
    assert_eq!(recs[1].message().unwrap().get("writeKey"), None);
}

#[test]
fn batch_envelopes_inside_a_stream_keep_their_line() {
    let doc = b"{\"type\":\"page\"}\n{\"batch\":[{\"type\":\"track\"},{\"type\":\"alias\"}]}\n{\"batch\":[]}\n{\"type\":\"group\"}\n";
    let got: Vec<(usize, Option<usize>, CallType)> = parse_lines(doc)
        .map(|r| (r.line, r.batch_index, r.message().unwrap().call()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, None, CallType::Page),
            (2, Some(0), CallType::Track),
            (2, Some(1), CallType::Alias),
            (4, None, CallType::Group),
        ]
    );
}

#[test]
fn the_reader_streams_from_any_bufread() {
    // a reader with a 7-byte buffer forces lines to span many reads
    let doc =
        b"{\"type\":\"page\",\"name\":\"a long enough name\"}\n\xff\xfe\n{\"type\":\"screen\"}\n";
    let reader = std::io::BufReader::with_capacity(7, &doc[..]);
    let recs: Vec<_> = RecordReader::new(reader).map(Result::unwrap).collect();
    assert_eq!(recs.len(), 3);
    assert_eq!(
        recs[0].message().unwrap().name(),
        Some("a long enough name")
    );
    assert_eq!(recs[1].line, 2);
    assert_eq!(
        recs[1].errors()[0].to_string(),
        "$: not valid UTF-8 at byte 0"
    );
    assert_eq!(recs[2].message().unwrap().call(), CallType::Screen);
}

#[test]
fn a_reader_error_ends_the_stream_with_an_error() {
    struct Failing(u8);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                self.0 = 1;
                let line = b"{\"type\":\"page\"}\n";
                buf[..line.len()].copy_from_slice(line);
                Ok(line.len())
            } else {
                Err(std::io::Error::other("disk on fire"))
            }
        }
    }
    let mut it = RecordReader::new(std::io::BufReader::new(Failing(0)));
    assert!(it.next().unwrap().is_ok());
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "disk on fire");
    assert!(it.next().is_none());
}

// ---- the event-time rule -----------------------------------------------------------------------------

fn times(v: Value) -> Option<DateTime<Utc>> {
    let mut m = json!({"type": "track", "event": "x", "userId": "u"});
    for (k, x) in v.as_object().unwrap() {
        m[k] = x.clone();
    }
    msg(m).event_time()
}

#[test]
fn timestamp_wins() {
    assert_eq!(
        times(json!({"timestamp": "2026-03-04T05:06:07+02:00",
            "originalTimestamp": "2026-01-01T00:00:00Z", "sentAt": "2026-01-01T00:00:10Z",
            "receivedAt": "2026-01-01T00:05:10Z"})),
        Some(utc("2026-03-04T03:06:07Z"))
    );
}

#[test]
fn original_timestamp_is_corrected_by_received_minus_sent() {
    // the device clock is 1 h 2 min 3.5 s behind: sentAt says 10:00:00, the server got it 11:02:03.5
    assert_eq!(
        times(json!({"originalTimestamp": "2026-03-04T09:59:30.250Z",
            "sentAt": "2026-03-04T10:00:00Z", "receivedAt": "2026-03-04T11:02:03.500Z"})),
        Some(utc("2026-03-04T11:01:33.750Z"))
    );
    // and a clock that is ahead
    assert_eq!(
        times(json!({"originalTimestamp": "2026-03-04T12:00:00Z",
            "sentAt": "2026-03-04T12:00:05Z", "receivedAt": "2026-03-04T11:00:05Z"})),
        Some(utc("2026-03-04T11:00:00Z"))
    );
}

#[test]
fn original_timestamp_as_sent_without_both_sent_and_received() {
    assert_eq!(
        times(
            json!({"originalTimestamp": "2026-03-04T09:59:30Z", "sentAt": "2026-03-04T10:00:00Z"})
        ),
        Some(utc("2026-03-04T09:59:30Z"))
    );
    assert_eq!(
        times(
            json!({"originalTimestamp": "2026-03-04T09:59:30Z", "receivedAt": "2026-03-04T10:00:00Z"})
        ),
        Some(utc("2026-03-04T09:59:30Z"))
    );
}

#[test]
fn received_at_then_sent_at_then_nothing() {
    assert_eq!(
        times(json!({"sentAt": "2026-03-04T10:00:00Z", "receivedAt": "2026-03-04T10:00:02Z"})),
        Some(utc("2026-03-04T10:00:02Z"))
    );
    assert_eq!(
        times(json!({"sentAt": "2026-03-04T10:00:00Z"})),
        Some(utc("2026-03-04T10:00:00Z"))
    );
    assert_eq!(times(json!({})), None);
}

#[test]
fn invalid_times_count_as_absent() {
    assert_eq!(
        times(json!({"timestamp": "soon", "originalTimestamp": "2026-03-04T09:59:30Z"})),
        Some(utc("2026-03-04T09:59:30Z"))
    );
    assert_eq!(
        times(json!({"timestamp": 1772600767, "sentAt": "2026-03-04T10:00:00"})),
        None
    );
}

#[test]
fn extreme_skew_does_not_overflow() {
    let t = |y: i32| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
    // the arithmetic stays within chrono's range for any four-digit years
    assert_eq!(
        event_time_from(None, Some(t(9999)), Some(t(1)), Some(t(9999))),
        Some(t(9999) - (t(1) - t(9999)))
    );
    assert_eq!(
        event_time_from(None, Some(t(1)), Some(t(9999)), Some(t(1))),
        Some(t(1) - (t(9999) - t(1)))
    );
    // beyond chrono's range the skew cannot be applied: originalTimestamp as sent
    let min = DateTime::<Utc>::MIN_UTC;
    let max = DateTime::<Utc>::MAX_UTC;
    assert_eq!(
        event_time_from(None, Some(min), Some(max), Some(min)),
        Some(min)
    );
}

#[test]
fn event_time_from_matches_the_message_rule() {
    let m = msg(
        json!({"type": "track", "event": "x", "originalTimestamp": "2026-03-04T09:59:30Z",
        "sentAt": "2026-03-04T10:00:00Z", "receivedAt": "2026-03-04T10:00:01Z"}),
    );
    assert_eq!(
        m.event_time(),
        event_time_from(
            m.timestamp(),
            m.original_timestamp(),
            m.sent_at(),
            m.received_at()
        )
    );
    assert_eq!(m.event_time(), Some(utc("2026-03-04T09:59:31Z")));
}
