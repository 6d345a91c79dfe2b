//! Unit and snapshot tests of the Intercom mapping, requests and answer quirks.

use super::mapping::{MAX_METADATA_KEYS, Treatment, event_name, family_of, treatment};
use super::*;
use destination_kit::destination::parse_settings;
use destination_kit::spec::{self};
use destination_kit::{ErrorKind, Verdict};
use serde_json::{Value, json};
use spec_tests::fixtures;
use spec_tests::snapshot::{map_json, payloads, show_request as show};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn settings() -> IntercomSettings {
    parse_settings(json!({"access_token": "tok-secret-123", "region": "eu"})).expect("settings")
}

fn map_value(v: Value) -> Mapped {
    map_json(&Intercom, &settings(), v)
}

fn request_for(v: Value) -> Value {
    let p = payloads(map_value(v));
    assert_eq!(p.len(), 1, "one Intercom request per Segment event");
    let req = Intercom.request(&settings(), &p[0].route, &p);
    assert!(
        !format!("{req:?}").contains("tok-secret-123"),
        "the token never shows in Debug"
    );
    show(&req)
}

fn spec_fixture(name: &str) -> Value {
    fixtures::spec_event(spec::recognise(name).expect("a spec event"))
}

fn call_fixture(call: CallType) -> Value {
    fixtures::call(call)
}

use destination_kit::{CallType, Settings as _};

#[test]
fn every_spec_event_has_a_decision_and_the_totals_match_the_docs() {
    let mut counts = std::collections::BTreeMap::new();
    for kind in spec::ALL {
        let t = treatment(kind.name).unwrap_or_else(|| panic!("no decision for {}", kind.name));
        assert_eq!(family_of(kind.name), Some(kind.family), "{}", kind.name);
        let col = match t {
            Treatment::Native(_) => 0,
            Treatment::Custom => 1,
            Treatment::Unsupported(_) => 2,
        };
        counts.entry(kind.family.as_str()).or_insert([0; 3])[col] += 1;
    }
    let expected: std::collections::BTreeMap<&str, [i32; 3]> = [
        ("ecommerce", [1, 27, 0]),
        ("video", [0, 10, 7]),
        ("live_chat", [4, 0, 0]),
        ("email", [6, 0, 0]),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected);
}

#[test]
fn every_fixture_maps_as_its_decision_says_within_the_metadata_limits() {
    for (kind, v) in fixtures::all_spec_events() {
        match (treatment(kind.name).expect("decided"), map_value(v)) {
            (Treatment::Unsupported(reason), Mapped::Unsupported { reason: got }) => {
                assert!(got.contains(reason), "{}: {got}", kind.name)
            }
            (Treatment::Native(_) | Treatment::Custom, Mapped::Send(p)) => {
                let want = if kind.name == "Unsubscribed" { 2 } else { 1 };
                assert_eq!(p.len(), want, "{}", kind.name);
                let body: Value = serde_json::from_str(p[want - 1].body.get()).expect("JSON");
                if let Some(md) = body.get("metadata").and_then(Value::as_object) {
                    assert!(md.len() <= MAX_METADATA_KEYS, "{}: {md:?}", kind.name);
                    for (k, v) in md {
                        let typed = k == "price" && v["amount"].is_i64();
                        assert!(
                            typed || !(v.is_object() || v.is_array()),
                            "{}: {k} is nested",
                            kind.name
                        );
                    }
                }
            }
            (t, m) => panic!("{}: decided {t:?}, mapped {m:?}", kind.name),
        }
    }
}

#[test]
fn snapshot_live_chat_message_sent() {
    let req = request_for(spec_fixture("Live Chat Message Sent"));
    let keys: Vec<&String> = req["body"]["metadata"]
        .as_object()
        .expect("metadata")
        .keys()
        .collect();
    assert!(keys.len() <= MAX_METADATA_KEYS);
    insta::assert_json_snapshot!("intercom_live_chat_message_sent", req);
}

#[test]
fn live_chat_keys_come_first_in_the_documented_order() {
    let v = json!({"type": "track", "event": "Live Chat Message Received", "userId": "u1",
        "messageId": "m1", "timestamp": "2026-03-14T09:00:00Z",
        "properties": {"aaa": 1, "aab": 2, "aac": 3, "aad": 4, "message_body": "hi",
            "conversation_duration": 30, "message_id": "msg-1", "agent_username": "ann",
            "agent_name": "Ann", "agent_id": "a1", "conversation_id": "c1"}});
    let p = payloads(map_value(v));
    // serde_json without preserve_order sorts keys, so read the raw text for order
    let raw = p[0].body.get();
    let order = [
        "conversation_id",
        "agent_id",
        "agent_name",
        "agent_username",
        "message_id",
        "conversation_duration",
        "message_body",
        "aaa",
        "aab",
        "aac",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|k| raw.find(&format!("\"{k}\"")).expect(k))
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{raw}");
    assert!(!raw.contains("\"aad\""), "the 11th key is left out: {raw}");
}

#[test]
fn snapshot_order_completed_with_price() {
    let req = request_for(spec_fixture("Order Completed"));
    let price = &req["body"]["metadata"]["price"];
    assert!(price["amount"].is_i64(), "{price}");
    assert!(req["body"]["metadata"].get("products").is_none());
    insta::assert_json_snapshot!("intercom_order_completed", req);
}

#[test]
fn revenue_becomes_cents_and_currency_defaults_to_usd() {
    let v = json!({"type": "track", "event": "Plan.Upgraded$", "userId": "u1",
        "messageId": "m1", "timestamp": "2026-03-14T09:00:00.900Z",
        "properties": {"revenue": 19.99, "tags": ["a", "b"], "nested": {"x": 1}, "gone": null}});
    let req = request_for(v);
    assert_eq!(
        req["body"],
        json!({"event_name": "Plan-Upgraded-", "created_at": 1_773_478_800,
               "user_id": "u1",
               "metadata": {"price": {"amount": 1999, "currency": "USD"}, "tags": "a, b"}})
    );
}

#[test]
fn snapshot_email_opened() {
    insta::assert_json_snapshot!(
        "intercom_email_opened",
        request_for(spec_fixture("Email Opened"))
    );
}

#[test]
fn snapshot_unsubscribed_is_a_contact_update_and_a_data_event() {
    let p = payloads(map_value(spec_fixture("Unsubscribed")));
    let reqs: Vec<Value> = p
        .iter()
        .map(|p| show(&Intercom.request(&settings(), &p.route, std::slice::from_ref(p))))
        .collect();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["body"]["unsubscribed_from_emails"], json!(true));
    assert_eq!(reqs[1]["body"]["event_name"], json!("Unsubscribed"));
    insta::assert_json_snapshot!("intercom_unsubscribed", reqs);
}

#[test]
fn products_become_a_flat_list_of_ids() {
    let req = request_for(spec_fixture("Cart Viewed"));
    assert_eq!(
        req["body"]["metadata"]["product_ids"],
        json!("prd_5f2a91c3, prd_7b04e1d8")
    );
}

#[test]
fn the_native_list_of_the_hints_is_the_table() {
    let hints = Intercom.conformance_hints();
    let native: Vec<&str> = spec::ALL
        .iter()
        .filter(|k| matches!(treatment(k.name), Some(Treatment::Native(_))))
        .map(|k| k.name)
        .collect();
    assert_eq!(hints.native_events.expect("declared").to_vec(), native);
}

#[test]
fn snapshot_video_playback_started_custom() {
    insta::assert_json_snapshot!(
        "intercom_video_playback_started",
        request_for(spec_fixture("Video Playback Started"))
    );
}

#[test]
fn snapshot_custom_track() {
    insta::assert_json_snapshot!(
        "intercom_track_custom",
        request_for(call_fixture(CallType::Track))
    );
}

#[test]
fn snapshot_identify_contact() {
    insta::assert_json_snapshot!(
        "intercom_identify",
        request_for(call_fixture(CallType::Identify))
    );
}

#[test]
fn snapshot_group_company() {
    let req = request_for(call_fixture(CallType::Group));
    assert!(req["body"].get("attach_user_id").is_none(), "{req}");
    insta::assert_json_snapshot!("intercom_group", req);
}

#[test]
fn page_screen_alias_are_unsupported_with_reasons() {
    for (call, want) in [
        (CallType::Page, "no server-side page API"),
        (CallType::Screen, "no server-side screen API"),
        (CallType::Alias, "no alias API"),
    ] {
        match map_value(call_fixture(call)) {
            Mapped::Unsupported { reason } => assert!(reason.contains(want), "{reason}"),
            other => panic!("{call:?}: {other:?}"),
        }
    }
}

#[test]
fn anonymous_only_events_are_rejected_and_email_is_the_fallback() {
    let mut v = json!({"type": "track", "event": "Live Chat Message Sent",
        "anonymousId": "a1", "messageId": "m1", "timestamp": "2026-03-14T09:00:00Z",
        "properties": {"conversation_id": "c1"}});
    match map_value(v.clone()) {
        Mapped::Invalid { reason } => assert!(reason.contains("userId or an email"), "{reason}"),
        other => panic!("{other:?}"),
    }
    v["context"] = json!({"traits": {"email": "a@example.com"}});
    let req = request_for(v);
    assert_eq!(req["body"]["email"], json!("a@example.com"));
    assert!(req["body"].get("user_id").is_none());
}

#[test]
fn event_names_lose_dots_and_dollars() {
    assert_eq!(event_name("a.b$c"), "a-b-c");
    assert!(matches!(
        event_name("Order Completed"),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn regions_and_endpoint() {
    let mut s = settings();
    let p = payloads(map_value(spec_fixture("Email Opened")));
    assert_eq!(
        Intercom.request(&s, "events", &p).url,
        "https://api.eu.intercom.io/events"
    );
    s.set_endpoint("http://127.0.0.1:9/");
    assert_eq!(
        Intercom.request(&s, "events", &p).url,
        "http://127.0.0.1:9/events"
    );
    let au: IntercomSettings =
        parse_settings(json!({"access_token": "t", "region": "au"})).expect("au");
    assert_eq!(au.base_url(), "https://api.au.intercom.io");
    let err = parse_settings::<IntercomSettings>(json!({"access_token": " "})).unwrap_err();
    assert_eq!(err.key, "access_token");
    let err = parse_settings::<IntercomSettings>(json!({"access_token": "t", "region": "jp"}))
        .unwrap_err();
    assert!(err.message.contains("unknown variant"), "{err}");
    assert_eq!(format!("{s:?}").matches("tok-secret-123").count(), 0);
}

// ---- answers -----------------------------------------------------------------------------------

fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> PartnerResponse {
    let mut h = http::HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    PartnerResponse {
        status,
        headers: h,
        body: body.to_string().into(),
    }
}

fn one(route: &'static str) -> Vec<Payload> {
    vec![Payload::json(route, &json!({}))]
}

const T0: u64 = 1_773_478_800;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn interpret(r: &PartnerResponse, route: &'static str) -> Verdict {
    let v = Intercom.interpret(&settings(), r, &one(route), at(T0));
    assert_eq!(v.len(), 1);
    v.get(0).cloned().expect("one verdict")
}

fn error_body(code: &str, msg: &str) -> String {
    json!({"type": "error.list", "request_id": "r1", "errors": [{"code": code, "message": msg}]})
        .to_string()
}

#[test]
fn accepted_202_with_empty_body_is_delivered() {
    assert_eq!(interpret(&resp(202, &[], ""), "events"), Verdict::Delivered);
}

#[test]
fn rate_limited_waits_until_x_ratelimit_reset() {
    let reset = (T0 + 7).to_string();
    let body = error_body("rate_limit_exceeded", "Exceeded rate limit");
    assert_eq!(
        interpret(
            &resp(429, &[("x-ratelimit-reset", &reset)], &body),
            "events"
        ),
        Verdict::Retry {
            kind: ErrorKind::Throttling,
            after: Some(Duration::from_secs(7)),
            reason: "HTTP 429: rate_limit_exceeded: Exceeded rate limit".into()
        }
    );
    // Retry-After wins when both are given; a reset in the past means now
    match interpret(
        &resp(
            429,
            &[("x-ratelimit-reset", &reset), ("retry-after", "2")],
            &body,
        ),
        "events",
    ) {
        Verdict::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(2))),
        other => panic!("{other:?}"),
    }
    let past = (T0 - 5).to_string();
    match interpret(&resp(429, &[("x-ratelimit-reset", &past)], &body), "events") {
        Verdict::Retry { after, .. } => assert_eq!(after, Some(Duration::ZERO)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn conflict_is_retried_on_contacts_only() {
    let body = error_body(
        "conflict",
        "A contact matching those details already exists",
    );
    assert!(matches!(
        interpret(&resp(409, &[], &body), "contacts"),
        Verdict::Retry { kind: ErrorKind::Transient, after: None, ref reason }
            if reason.starts_with("HTTP 409: conflict: A contact matching")
    ));
    assert!(matches!(
        interpret(&resp(409, &[], &body), "events"),
        Verdict::Failed {
            kind: ErrorKind::Client,
            ..
        }
    ));
}

#[test]
fn not_found_and_auth_fail_with_the_error_list_reason() {
    assert_eq!(
        interpret(
            &resp(404, &[], &error_body("not_found", "User Not Found")),
            "events"
        ),
        Verdict::Failed {
            kind: ErrorKind::Client,
            reason: "HTTP 404: not_found: User Not Found".into()
        }
    );
    assert_eq!(
        interpret(
            &resp(
                401,
                &[],
                &error_body("unauthorized", "Access Token Invalid")
            ),
            "events"
        ),
        Verdict::Failed {
            kind: ErrorKind::Auth,
            reason: "HTTP 401: unauthorized: Access Token Invalid".into()
        }
    );
    assert!(matches!(
        interpret(&resp(500, &[], "oops"), "events"),
        Verdict::Retry { kind: ErrorKind::Server, ref reason, .. } if reason == "HTTP 500: oops"
    ));
}

/// An event's own `product_ids` (no `products` to take ids from) is kept, joined like the
/// products' ids; with `products`, theirs win and the property is not sent twice.
#[test]
fn an_events_own_product_ids_are_kept_when_there_are_no_products() {
    let meta_of = |props: Value| {
        let v = json!({"type": "track", "event": "Bundle Viewed", "userId": "u1",
            "messageId": "m1", "timestamp": "2026-03-14T09:00:00Z", "properties": props});
        request_for(v)["body"]["metadata"].clone()
    };
    assert_eq!(
        meta_of(json!({"product_ids": ["p1", 2], "bundle": "b1"})),
        json!({"product_ids": "p1, 2", "bundle": "b1"})
    );
    assert_eq!(
        meta_of(json!({"product_ids": "p1", "bundle": "b1"})),
        json!({"product_ids": "p1", "bundle": "b1"})
    );
    assert_eq!(
        meta_of(json!({"product_ids": ["x"], "products": [{"product_id": "p9"}]})),
        json!({"product_ids": "p9"})
    );
}

/// A group's reserved traits are read in any case (`Plan` fills `plan`), so they are not also
/// sent as custom attributes (which must exist in the workspace).
#[test]
fn group_traits_in_another_case_fill_the_company_fields_only() {
    let v = json!({"type": "group", "groupId": "g1", "userId": "u1", "messageId": "m1",
        "timestamp": "2026-03-14T09:00:00Z",
        "traits": {"Name": "Acme", "Plan": "pro", "Industry": "Retail", "tier": "gold"}});
    let body = &request_for(v)["body"];
    assert_eq!(
        (&body["name"], &body["plan"], &body["industry"]),
        (&json!("Acme"), &json!("pro"), &json!("Retail"))
    );
    assert_eq!(body["custom_attributes"], json!({"tier": "gold"}));
}

/// Intercom reads a metadata key ending in `_date` as a Unix-timestamp date: an ISO-8601 string
/// there goes as Unix seconds; a number, or a string that is not a date, as it is.
#[test]
fn metadata_dates_go_as_unix_seconds() {
    let v = json!({"type": "track", "event": "Trial Extended", "userId": "u1",
        "messageId": "m1", "timestamp": "2026-03-14T09:00:00Z",
        "properties": {"trial_end_date": "2026-04-01T00:00:00Z", "renewal_date": 1775000000,
                       "note_date": "soon", "plan": "pro"}});
    assert_eq!(
        request_for(v)["body"]["metadata"],
        json!({"trial_end_date": 1_775_001_600, "renewal_date": 1775000000,
               "note_date": "soon", "plan": "pro"})
    );
}
