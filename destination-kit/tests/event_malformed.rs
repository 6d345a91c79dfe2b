//! Malformed and invalid inputs: each one ends as a typed error with the exact path and problem.
//!
//! Parse errors (the input is not a message at all) come from `Message::from_slice`,
//! `parse_document` and `parse_lines`; validation errors (a message breaking a Segment rule) from
//! `Message::validate`, which includes the typed spec properties of recognised specced events.

use destination_kit::FieldError;
use destination_kit::event::{Message, ParseError, RecordReader, parse_document, parse_lines};
use serde_json::{Value, json};

/// A valid track message to break one field at a time.
fn base() -> Value {
    json!({
        "type": "track",
        "event": "Signed Up",
        "userId": "u-1",
        "messageId": "m-1",
        "timestamp": "2026-03-04T05:06:07.890Z",
        "properties": {"plan": "pro"},
        "context": {"ip": "203.0.113.9", "library": {"name": "analytics.js", "version": "5.2.0"}},
    })
}

/// `base()` with top-level keys replaced (`Some`) or removed (`None`).
fn with(changes: &[(&str, Option<Value>)]) -> Value {
    let mut v = base();
    let o = v.as_object_mut().unwrap();
    for (k, change) in changes {
        match change {
            Some(x) => {
                o.insert((*k).to_string(), x.clone());
            }
            None => {
                o.remove(*k);
            }
        }
    }
    v
}

/// The parse error of one input, as `path: message`.
fn parse_error(bytes: &[u8]) -> (String, String) {
    let e = Message::from_slice(bytes).expect_err("input must not parse");
    (e.path().to_string(), e.message())
}

/// The validation errors of a message that parses.
fn errors(v: Value) -> Vec<(String, String)> {
    let m = Message::from_value(v).expect("message must parse");
    m.validate()
        .into_iter()
        .map(|FieldError { path, message }| (path, message))
        .collect()
}

fn one(path: &str, message: &str) -> Vec<(String, String)> {
    vec![(path.to_string(), message.to_string())]
}

fn pe(path: &str, message: &str) -> (String, String) {
    (path.to_string(), message.to_string())
}

#[test]
fn the_base_message_is_valid() {
    assert_eq!(errors(base()), vec![]);
}

// ---- not JSON ----------------------------------------------------------------------------------

#[test]
fn empty_input() {
    assert_eq!(
        parse_error(b""),
        pe("$", "not valid JSON at column 0: EOF while parsing a value")
    );
}

#[test]
fn truncated_object() {
    assert_eq!(
        parse_error(br#"{"type":"track""#),
        pe(
            "$",
            "not valid JSON at column 15: EOF while parsing an object"
        )
    );
}

#[test]
fn trailing_comma() {
    assert_eq!(
        parse_error(br#"{"type":"track",}"#),
        pe("$", "not valid JSON at column 17: trailing comma")
    );
}

#[test]
fn single_quotes() {
    assert_eq!(
        parse_error(b"{'type':'track'}"),
        pe("$", "not valid JSON at column 2: key must be a string")
    );
}

#[test]
fn trailing_garbage() {
    assert_eq!(
        parse_error(br#"{"type":"track"} x"#),
        pe("$", "not valid JSON at column 18: trailing characters")
    );
}

#[test]
fn pretty_printed_error_reports_line_and_column() {
    assert_eq!(
        parse_error(b"{\n  \"type\": \"track\",\n  \"event\": tru!\n}"),
        pe("$", "not valid JSON at line 3, column 15: expected ident")
    );
}

#[test]
fn invalid_utf8_outside_a_string() {
    assert_eq!(parse_error(b"\xfe{}"), pe("$", "not valid UTF-8 at byte 0"));
}

#[test]
fn invalid_utf8_inside_a_string() {
    assert_eq!(
        parse_error(b"{\"type\":\"track\",\"event\":\"caf\xe9\"}"),
        pe("$", "not valid UTF-8 at byte 28")
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // serde_json stops at 128 levels; 10 000 would overflow a recursive parser's stack
    let deep = format!(
        r#"{{"type":"track","properties":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(
        parse_error(deep.as_bytes()),
        pe(
            "$",
            "not valid JSON at column 156: recursion limit exceeded"
        )
    );
    // the same through the document and stream parsers
    let recs = parse_document(deep.as_bytes());
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].errors(),
        vec![FieldError::new(
            "$",
            "not valid JSON at column 156: recursion limit exceeded"
        )]
    );
    // 100 levels are fine
    let ok = format!(
        r#"{{"type":"track","properties":{{"a":{}{}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert!(Message::from_slice(ok.as_bytes()).is_ok());
}

#[test]
fn number_out_of_range() {
    assert_eq!(
        parse_error(br#"{"type":"track","properties":{"revenue":1e400}}"#),
        pe("$", "not valid JSON at column 45: number out of range")
    );
}

// ---- JSON but not a message ----------------------------------------------------------------------

#[test]
fn an_array_is_not_a_message() {
    assert_eq!(
        parse_error(b"[1,2]"),
        pe("$", "expected a JSON object, got an array")
    );
}

#[test]
fn a_string_is_not_a_message() {
    assert_eq!(
        parse_error(br#""hello""#),
        pe("$", r#"expected a JSON object, got "hello""#)
    );
}

#[test]
fn null_is_not_a_message() {
    assert_eq!(
        parse_error(b"null"),
        pe("$", "expected a JSON object, got null")
    );
}

#[test]
fn missing_type() {
    assert_eq!(
        parse_error(br#"{"event":"x","userId":"u"}"#),
        pe(
            "type",
            "missing; expected one of track, identify, page, screen, group, alias"
        )
    );
}

#[test]
fn unknown_type() {
    assert_eq!(
        parse_error(br#"{"type":"purchase"}"#),
        pe(
            "type",
            r#"unknown call "purchase"; expected one of track, identify, page, screen, group, alias"#
        )
    );
}

#[test]
fn type_of_the_wrong_json_type() {
    assert_eq!(
        parse_error(br#"{"type":5}"#),
        pe("type", "expected a string, got 5")
    );
}

// ---- identity ---------------------------------------------------------------------------------------

#[test]
fn missing_user_and_anonymous_id() {
    assert_eq!(
        errors(with(&[("userId", None)])),
        one("userId", "missing: a message needs userId or anonymousId")
    );
}

#[test]
fn empty_user_id_counts_as_missing() {
    assert_eq!(
        errors(with(&[("userId", Some(json!("")))])),
        one("userId", "missing: a message needs userId or anonymousId")
    );
}

#[test]
fn user_id_of_the_wrong_type() {
    assert_eq!(
        errors(with(&[
            ("userId", Some(json!({"id": 1}))),
            ("anonymousId", Some(json!("a-1")))
        ])),
        one("userId", "expected a string, got an object")
    );
}

#[test]
fn anonymous_id_alone_is_enough() {
    assert_eq!(
        errors(with(&[
            ("userId", None),
            ("anonymousId", Some(json!("a-1")))
        ])),
        vec![]
    );
}

// ---- messageId ----------------------------------------------------------------------------------------

#[test]
fn missing_message_id() {
    assert_eq!(
        errors(with(&[("messageId", None)])),
        one("messageId", "missing")
    );
}

#[test]
fn message_id_of_101_characters() {
    let id = "m".repeat(101);
    assert_eq!(
        errors(with(&[("messageId", Some(json!(id)))])),
        one("messageId", "too long: 101 characters, at most 100")
    );
    // the limit is in characters, not bytes: 100 two-byte characters are fine
    let id = "é".repeat(100);
    assert_eq!(errors(with(&[("messageId", Some(json!(id)))])), vec![]);
}

#[test]
fn message_id_as_a_number() {
    assert_eq!(
        errors(with(&[("messageId", Some(json!(42)))])),
        one("messageId", "expected a string, got 42")
    );
}

#[test]
fn empty_message_id() {
    assert_eq!(
        errors(with(&[("messageId", Some(json!("")))])),
        one("messageId", "empty")
    );
}

// ---- dates --------------------------------------------------------------------------------------------

#[test]
fn timestamp_not_a_date() {
    assert_eq!(
        errors(with(&[("timestamp", Some(json!("yesterday")))])),
        one("timestamp", r#"not an ISO-8601 date: "yesterday""#)
    );
}

#[test]
fn zoneless_timestamp() {
    assert_eq!(
        errors(with(&[("timestamp", Some(json!("2026-03-04T05:06:07")))])),
        one(
            "timestamp",
            r#"not an ISO-8601 date with an offset: "2026-03-04T05:06:07" has no time zone (add Z or +00:00)"#
        )
    );
}

#[test]
fn zoneless_sent_at_with_a_space() {
    assert_eq!(
        errors(with(&[("sentAt", Some(json!("2026-03-04 05:06:07.123")))])),
        one(
            "sentAt",
            r#"not an ISO-8601 date with an offset: "2026-03-04 05:06:07.123" has no time zone (add Z or +00:00)"#
        )
    );
}

#[test]
fn date_without_a_time() {
    assert_eq!(
        errors(with(&[("originalTimestamp", Some(json!("2026-03-04")))])),
        one(
            "originalTimestamp",
            r#"not an ISO-8601 date-time: "2026-03-04" is a date without a time"#
        )
    );
}

#[test]
fn impossible_date() {
    assert_eq!(
        errors(with(&[("receivedAt", Some(json!("2026-02-30T00:00:00Z")))])),
        one(
            "receivedAt",
            r#"not a valid date: "2026-02-30T00:00:00Z" has a field out of range"#
        )
    );
}

#[test]
fn epoch_number_as_timestamp() {
    assert_eq!(
        errors(with(&[("timestamp", Some(json!(1_772_600_767)))])),
        one(
            "timestamp",
            "expected an ISO-8601 date string, got 1772600767"
        )
    );
}

#[test]
fn epoch_string_as_timestamp() {
    assert_eq!(
        errors(with(&[("timestamp", Some(json!("1772600767")))])),
        one(
            "timestamp",
            r#"not an ISO-8601 date: "1772600767" looks like a Unix epoch; send an ISO-8601 string"#
        )
    );
}

#[test]
fn multibyte_date_string_does_not_panic() {
    // byte 10 falls inside 'é': an earlier zoneless-date check sliced `&s[10..]` and panicked on
    // strings like these (found by review; kept as a regression test)
    for ts in [
        "2026-03-0é05:06:07.1",
        "2026-03-0é05:06:07+01:00",
        "2026-03-04T€5:06:07.123",
    ] {
        assert_eq!(
            errors(with(&[("timestamp", Some(json!(ts)))])),
            one("timestamp", &format!("not an ISO-8601 date: \"{ts}\"")),
        );
    }
}

// ---- call-specific fields ---------------------------------------------------------------------------

#[test]
fn track_without_event() {
    assert_eq!(
        errors(with(&[("event", None)])),
        one("event", "missing: a track call needs an event name")
    );
}

#[test]
fn track_with_empty_event() {
    assert_eq!(
        errors(with(&[("event", Some(json!("")))])),
        one("event", "empty")
    );
    assert_eq!(
        errors(with(&[("event", Some(json!("   ")))])),
        one("event", "empty")
    );
}

#[test]
fn track_with_numeric_event() {
    assert_eq!(
        errors(with(&[("event", Some(json!(12)))])),
        one("event", "expected a string, got 12")
    );
}

#[test]
fn group_without_group_id() {
    let v = json!({"type": "group", "userId": "u", "messageId": "m", "traits": {"name": "Acme"}});
    assert_eq!(
        errors(v),
        one("groupId", "missing: a group call needs groupId")
    );
}

#[test]
fn alias_without_previous_id() {
    let v = json!({"type": "alias", "userId": "u", "messageId": "m"});
    assert_eq!(
        errors(v),
        one("previousId", "missing: an alias call needs previousId")
    );
}

#[test]
fn alias_with_only_an_anonymous_id() {
    let v = json!({"type": "alias", "anonymousId": "a", "previousId": "p", "messageId": "m"});
    assert_eq!(
        errors(v),
        one("userId", "missing: an alias call needs userId")
    );
}

#[test]
fn page_name_of_the_wrong_type() {
    let v =
        json!({"type": "page", "anonymousId": "a", "messageId": "m", "name": 3, "category": ["x"]});
    assert_eq!(
        errors(v),
        vec![
            pe("name", "expected a string, got 3"),
            pe("category", "expected a string, got an array")
        ]
    );
}

// ---- objects ------------------------------------------------------------------------------------------

#[test]
fn null_where_an_object_belongs() {
    assert_eq!(
        errors(with(&[("context", Some(Value::Null))])),
        one("context", "expected an object, got null")
    );
    assert_eq!(
        errors(with(&[("integrations", Some(Value::Null))])),
        one("integrations", "expected an object, got null")
    );
}

#[test]
fn properties_as_an_array() {
    assert_eq!(
        errors(with(&[("properties", Some(json!([1, 2])))])),
        one("properties", "expected an object, got an array")
    );
}

#[test]
fn traits_as_a_string() {
    let v = json!({"type": "identify", "userId": "u", "messageId": "m", "traits": "vip"});
    assert_eq!(errors(v), one("traits", r#"expected an object, got "vip""#));
}

#[test]
fn context_object_of_the_wrong_type() {
    assert_eq!(
        errors(with(&[(
            "context",
            Some(json!({"device": "iPhone", "os": null}))
        )])),
        vec![
            pe("context.device", r#"expected an object, got "iPhone""#),
            pe("context.os", "expected an object, got null"),
        ]
    );
}

#[test]
fn context_scalars_of_the_wrong_type() {
    assert_eq!(
        errors(with(&[(
            "context",
            Some(json!({"ip": 3405803785u32, "active": "yes", "locale": "en-US"}))
        )])),
        vec![
            pe("context.ip", "expected a string, got 3405803785"),
            pe("context.active", r#"expected a boolean, got "yes""#),
        ]
    );
}

// ---- reserved traits and properties -------------------------------------------------------------

#[test]
fn identify_reserved_traits_of_the_wrong_type() {
    let v = json!({"type": "identify", "userId": "u", "messageId": "m",
        "traits": {"email": 5, "first_name": {"x": 1}, "age": "old", "address": "Main St 1", "plan": 7}});
    // `plan` is not a reserved identify trait: anything goes
    assert_eq!(
        errors(v),
        vec![
            pe("traits.address", r#"expected an object, got "Main St 1""#),
            pe("traits.age", r#"expected a number, got "old""#),
            pe("traits.email", "expected a string, got 5"),
            pe("traits.first_name", "expected a string, got an object"),
        ]
    );
}

#[test]
fn group_reserved_traits_of_the_wrong_type() {
    let v = json!({"type": "group", "userId": "u", "messageId": "m", "groupId": "g",
        "traits": {"employees": true, "industry": ["a"], "website": "https://acme.test"}});
    assert_eq!(
        errors(v),
        vec![
            pe(
                "traits.employees",
                "expected a string or a number, got true"
            ),
            pe("traits.industry", "expected a string, got an array"),
        ]
    );
}

#[test]
fn track_revenue_not_a_number() {
    assert_eq!(
        errors(with(&[(
            "properties",
            Some(json!({"revenue": "abc", "currency": 978}))
        )])),
        vec![
            pe("properties.revenue", r#"expected a number, got "abc""#),
            pe("properties.currency", "expected a string, got 978"),
        ]
    );
    // a numeric string is fine (lenient), and so is null
    assert_eq!(
        errors(with(&[(
            "properties",
            Some(json!({"revenue": "12.50", "value": null}))
        )])),
        vec![]
    );
}

#[test]
fn page_keywords_not_an_array_of_strings() {
    let v = json!({"type": "page", "anonymousId": "a", "messageId": "m",
        "properties": {"keywords": "a,b", "url": "https://x.test"}});
    assert_eq!(
        errors(v),
        one(
            "properties.keywords",
            r#"expected an array of strings, got "a,b""#
        )
    );
}

// ---- typed spec properties (destination_kit::spec) -------------------------------------------

fn order_completed(props: Value) -> Value {
    with(&[
        ("event", Some(json!("Order Completed"))),
        ("properties", Some(props)),
    ])
}

#[test]
fn products_not_an_array() {
    assert_eq!(
        errors(order_completed(
            json!({"order_id": "o1", "products": "p1,p2"})
        )),
        one("properties.products", r#"expected an array, got "p1,p2""#)
    );
}

#[test]
fn product_price_not_a_number() {
    let v = order_completed(json!({"order_id": "o1", "products": [
        {"product_id": "a", "price": 1},
        {"product_id": "b", "price": "2.50"},
        {"product_id": "c", "price": "abc"},
    ]}));
    assert_eq!(
        errors(v),
        one(
            "properties.products[2].price",
            r#"expected a number, got "abc""#
        )
    );
}

#[test]
fn null_product_in_the_list() {
    assert_eq!(
        errors(order_completed(
            json!({"order_id": "o1", "products": [{"product_id": "a"}, null]})
        )),
        one("properties.products[1]", "expected an object, got null")
    );
}

#[test]
fn spec_and_reserved_checks_report_a_path_once() {
    // `revenue` is both a reserved track property and a typed Order Completed property
    assert_eq!(
        errors(order_completed(json!({"order_id": "o1", "revenue": "abc"}))),
        one("properties.revenue", r#"expected a number, got "abc""#)
    );
}

#[test]
fn several_problems_are_all_reported_in_a_fixed_order() {
    let v = json!({"type": "track", "messageId": "m".repeat(101), "timestamp": "now",
        "context": [], "event": ""});
    assert_eq!(
        errors(v),
        vec![
            pe("userId", "missing: a message needs userId or anonymousId"),
            pe("messageId", "too long: 101 characters, at most 100"),
            pe("timestamp", r#"not an ISO-8601 date: "now""#),
            pe("context", "expected an object, got an array"),
            pe("event", "empty"),
        ]
    );
}

// ---- streams, batches and the `line N:` prefix ---------------------------------------------------

/// A JSON-lines file with a problem on several lines: every line gets its own record and the
/// errors render with their line number.
#[test]
fn a_stream_reports_each_line_with_its_number() {
    let good = base().to_string();
    let bad_price = order_completed(json!({"order_id": "o1", "products": [
        {"price": 1}, {"price": 2}, {"price": "abc"}]}))
    .to_string();
    let mut input = Vec::new();
    for line in [
        good.as_bytes(),
        b"",
        b"{not json",
        &b"{\"type\":\"track\",\"event\":\"\xff\"}"[..],
        b"   ",
        good.as_bytes(),
        bad_price.as_bytes(),
        br#"{"type":"group","userId":"u","messageId":"m"}"#,
    ] {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let rendered: Vec<(usize, Vec<String>)> = parse_lines(&input)
        .map(|r| {
            (
                r.line,
                r.line_errors().iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    assert_eq!(
        rendered,
        vec![
            (1, vec![]),
            (
                3,
                vec!["line 3: $: not valid JSON at column 2: key must be a string".to_string()]
            ),
            (4, vec!["line 4: $: not valid UTF-8 at byte 25".to_string()]),
            (6, vec![]),
            (
                7,
                vec![
                    r#"line 7: properties.products[2].price: expected a number, got "abc""#
                        .to_string()
                ]
            ),
            (
                8,
                vec!["line 8: groupId: missing: a group call needs groupId".to_string()]
            ),
        ]
    );
    // the streaming reader gives the same records
    let streamed: Vec<_> = RecordReader::new(&input[..])
        .map(|r| r.expect("reading a slice cannot fail"))
        .collect();
    assert_eq!(streamed, parse_lines(&input).collect::<Vec<_>>());
}

#[test]
fn batch_that_is_not_an_array() {
    let recs = parse_document(br#"{"batch": {"type": "track"}}"#);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].errors(),
        vec![FieldError::new(
            "batch",
            "expected an array of messages, got an object"
        )]
    );
}

#[test]
fn batch_items_carry_their_index_in_the_path() {
    let mut item_ok = base();
    item_ok["messageId"] = json!("b-0");
    let doc = json!({"batch": [item_ok, 7, {"type": "nope"}, {"type": "identify", "messageId": "b-3"}],
        "sentAt": "2026-03-04T05:06:08Z"});
    let recs = parse_document(doc.to_string().as_bytes());
    let got: Vec<(usize, Option<usize>, Vec<String>)> = recs
        .iter()
        .map(|r| {
            (
                r.line,
                r.batch_index,
                r.errors().iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Some(0), vec![]),
            (
                1,
                Some(1),
                vec!["batch[1]: expected a JSON object, got 7".to_string()]
            ),
            (
                1,
                Some(2),
                vec![
                    r#"batch[2].type: unknown call "nope"; expected one of track, identify, page, screen, group, alias"#
                        .to_string()
                ]
            ),
            (
                1,
                Some(3),
                vec!["batch[3].userId: missing: a message needs userId or anonymousId".to_string()]
            ),
        ]
    );
    assert!(matches!(recs[1].result, Err(ParseError::Field(_))));
}
