//! Unit and snapshot tests of the GA4 mapping, request and response handling.

use super::mapping::custom_event_name;
use super::*;
use destination_kit::destination::parse_settings;
use destination_kit::{ErrorKind, Verdict};
use serde_json::{Value, json};
use spec_tests::snapshot::{map_json, payloads, show_request as show};
use std::time::SystemTime;

const NOW: &str = "2026-01-10T12:00:00Z";

fn settings_with(extra: Value) -> Ga4Settings {
    let mut v = json!({
        "measurement_id": mock::MEASUREMENT_ID,
        "api_secret": mock::API_SECRET,
        "endpoint": "https://ga4.example.test",
        "now": NOW,
    });
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    parse_settings(v).expect("valid settings")
}

fn settings() -> Ga4Settings {
    settings_with(json!({}))
}

fn base(call: &str, id: &str) -> Value {
    json!({
        "type": call,
        "messageId": id,
        "userId": "user-1",
        "anonymousId": "anon-1",
        "timestamp": "2026-01-09T08:30:00.250Z",
        "context": {
            "ip": "203.0.113.9",
            "page": {"url": "https://shop.example/p/1", "title": "Shoes", "referrer": "https://search.example/"},
            "traits": {"plan": "pro", "email": "a@example.com", "logins": 3}
        },
    })
}

fn track(event: &str, id: &str, props: Value) -> Value {
    let mut v = base("track", id);
    v["event"] = json!(event);
    v["properties"] = props;
    v
}

fn map_with(s: &Ga4Settings, v: Value) -> Mapped {
    map_json(&Ga4, s, v)
}

fn request_for(s: &Ga4Settings, v: Value) -> Value {
    let p = payloads(map_with(s, v));
    assert_eq!(p.len(), 1, "one GA4 event per Segment event");
    show(&Ga4.request(s, &p[0].route, &p))
}

fn products() -> Value {
    json!([
        {"product_id": "sku-1", "name": "Runner", "brand": "Acme", "category": "Shoes",
         "variant": "red", "price": "59.90", "quantity": 2, "coupon": "SPRING", "position": 1},
        {"sku": "sku-2", "name": "Sock", "price": 5, "quantity": 1}
    ])
}

#[test]
fn snapshot_purchase() {
    let v = track(
        "Order Completed",
        "m-oc",
        json!({"order_id": "o-1", "total": 124.8, "revenue": 110, "shipping": 4.9, "tax": 9.9,
               "coupon": "SPRING", "currency": "EUR", "affiliation": "web", "products": products()}),
    );
    insta::assert_json_snapshot!("ga4_purchase", request_for(&settings(), v));
}

#[test]
fn snapshot_video_start() {
    let v = track(
        "Video Playback Started",
        "m-vps",
        json!({"session_id": "s1", "position": 30, "total_length": 120, "video_player": "youtube",
               "sound": 80, "full_screen": false}),
    );
    insta::assert_json_snapshot!("ga4_video_start", request_for(&settings(), v));
}

#[test]
fn snapshot_live_chat_custom() {
    let v = track(
        "Live Chat Message Sent",
        "m-lc",
        json!({"agent_id": "a-7", "agent_name": "Ann", "conversation_id": "c-1",
               "message_body": "Hello", "conversation_duration": 42}),
    );
    insta::assert_json_snapshot!("ga4_live_chat", request_for(&settings(), v));
}

#[test]
fn snapshot_email_custom() {
    let v = track(
        "Email Link Clicked",
        "m-email",
        json!({"email_id": "e-1", "email_subject": "Sale", "campaign_id": "c-9",
               "link_url": "https://shop.example/sale", "nested": {"dropped": true}}),
    );
    insta::assert_json_snapshot!("ga4_email", request_for(&settings(), v));
}

#[test]
fn snapshot_page() {
    let mut v = base("page", "m-page");
    v["name"] = json!("Product");
    v["category"] = json!("Shop");
    v["properties"] = json!({"url": "https://shop.example/p/2"});
    insta::assert_json_snapshot!("ga4_page", request_for(&settings(), v));
}

#[test]
fn snapshot_screen() {
    let mut v = base("screen", "m-screen");
    v["name"] = json!("Checkout");
    v["properties"] = json!({"variant": "b"});
    insta::assert_json_snapshot!("ga4_screen", request_for(&settings(), v));
}

#[test]
fn snapshot_group() {
    let mut v = base("group", "m-group");
    v["groupId"] = json!("team-42");
    v["traits"] = json!({"name": "Team 42"});
    insta::assert_json_snapshot!("ga4_group", request_for(&settings(), v));
}

#[test]
fn snapshot_app_stream_eu() {
    let s: Ga4Settings = parse_settings(json!({
        "firebase_app_id": "1:1234:android:abcd",
        "api_secret": "app-secret",
        "region": "eu",
        "now": NOW,
    }))
    .expect("settings");
    let mut v = track(
        "Products Searched",
        "m-search",
        json!({"query": "red shoes"}),
    );
    v["context"]["device"] = json!({"id": "0123456789abcdef0123456789abcdef"});
    let shown = request_for(&s, v);
    assert_eq!(
        shown["url"],
        "https://region1.google-analytics.com/mp/collect?firebase_app_id=1:1234:android:abcd&api_secret=[redacted]"
    );
    insta::assert_json_snapshot!("ga4_app_stream_search", shown);
}

#[test]
fn identify_and_alias_are_unsupported_with_a_reason() {
    let mut v = base("identify", "m-id");
    v["traits"] = json!({"plan": "pro"});
    match map_with(&settings(), v) {
        Mapped::Unsupported { reason } => {
            assert!(reason.contains("at least one event"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let mut v = base("alias", "m-al");
    v["previousId"] = json!("anon-1");
    assert!(matches!(
        map_with(&settings(), v),
        Mapped::Unsupported { .. }
    ));
}

#[test]
fn purchase_without_order_id_is_rejected_never_empty() {
    for props in [
        json!({"total": 10}),
        json!({"order_id": "", "total": 10}),
        json!({"order_id": "  "}),
    ] {
        match map_with(&settings(), track("Order Completed", "m", props)) {
            Mapped::Invalid { reason } => assert!(reason.contains("order_id"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
    // a numeric order_id becomes a string transaction_id
    let r = request_for(
        &settings(),
        track("Order Completed", "m", json!({"order_id": 991, "total": 1})),
    );
    assert_eq!(r["body"]["events"][0]["params"]["transaction_id"], "991");
    assert_eq!(r["body"]["events"][0]["params"]["currency"], "USD");
}

#[test]
fn older_than_72_hours_is_rejected_not_clamped() {
    let mut v = track("Product Viewed", "m-old", json!({"product_id": "p"}));
    v["timestamp"] = json!("2026-01-07T11:59:59Z"); // 72 h and 1 s before NOW
    match map_with(&settings(), v.clone()) {
        Mapped::Invalid { reason } => {
            assert!(reason.contains("72 hours"), "{reason}");
            assert!(reason.contains("2026-01-07T11:59:59.000Z"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    v["timestamp"] = json!("2026-01-07T12:00:01Z"); // just inside
    let r = request_for(&settings(), v);
    assert_eq!(
        r["body"]["events"][0]["timestamp_micros"],
        1_767_787_201_000_000i64
    );
}

#[test]
fn future_beyond_skew_is_rejected() {
    let mut v = track("Product Viewed", "m-f", json!({"product_id": "p"}));
    v["timestamp"] = json!("2026-01-10T12:14:00Z");
    assert!(matches!(map_with(&settings(), v.clone()), Mapped::Send(_)));
    v["timestamp"] = json!("2026-01-10T12:16:00Z");
    match map_with(&settings(), v) {
        Mapped::Invalid { reason } => assert!(reason.contains("clock skew"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn custom_names_follow_ga4_rules() {
    assert_eq!(
        custom_event_name("Video Playback Paused").unwrap(),
        "Video_Playback_Paused"
    );
    assert_eq!(custom_event_name("Signed-Up! (v2)").unwrap(), "SignedUp_v2");
    assert_eq!(custom_event_name("42 things").unwrap(), "things");
    assert!(custom_event_name("123").is_err());
    assert!(
        custom_event_name("session start")
            .unwrap_err()
            .contains("reserved")
    );
    assert!(
        custom_event_name("google stuff")
            .unwrap_err()
            .contains("reserved")
    );
    assert!(
        custom_event_name(&"a".repeat(41))
            .unwrap_err()
            .contains("41")
    );
    match map_with(&settings(), track("screen view", "m", json!({}))) {
        Mapped::Invalid { reason } => assert!(reason.contains("reserved")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn items_need_an_id_or_name() {
    let v = track(
        "Product List Viewed",
        "m",
        json!({"list_id": "l", "products": [{"price": 1}]}),
    );
    match map_with(&settings(), v) {
        Mapped::Invalid { reason } => {
            assert!(reason.starts_with("properties.products[0]"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn params_are_capped_at_25_and_scalar() {
    let mut props = serde_json::Map::new();
    for i in 0..40 {
        props.insert(format!("p{i:02}"), json!(i));
    }
    props.insert("arr".into(), json!([1]));
    props.insert("ga_x".into(), json!(1));
    props.insert("long".into(), json!("x".repeat(150)));
    let r = request_for(
        &settings(),
        track("Thing Happened", "m", Value::Object(props)),
    );
    let params = r["body"]["events"][0]["params"].as_object().unwrap();
    assert_eq!(params.len(), 25);
    assert!(!params.contains_key("arr") && !params.contains_key("ga_x"));
}

#[test]
fn capped_params_and_user_properties_are_chosen_in_key_order_whatever_the_line_order() {
    // keys written in reverse: a parsed line (tree) keeps that order, a serde_json map sorts;
    // which 25 are kept must not depend on which of the two the message is
    let entries = |prefix: &str| {
        (0..40)
            .rev()
            .map(|i| format!("\"{prefix}{i:02}\":{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let line = format!(
        r#"{{"type":"track","event":"Thing Happened","messageId":"m","anonymousId":"a","timestamp":"2026-01-09T08:30:00.250Z","properties":{{{}}},"context":{{"traits":{{{}}}}}}}"#,
        entries("p"),
        entries("t")
    );
    let parsed = destination_kit::Message::from_slice(line.as_bytes()).expect("a message");
    assert!(parsed.tree().is_some(), "read through the tree");
    let ev = destination_kit::Event::new(&parsed, None, parsed.event_time().expect("a time"));
    let p = payloads(Ga4.map(&settings(), &ev));
    let body = show(&Ga4.request(&settings(), &p[0].route, &p))["body"].clone();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let want = |prefix: &str| {
        (0..25)
            .map(|i| format!("{prefix}{i:02}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&body["events"][0]["params"]), want("p"));
    assert_eq!(keys(&body["user_properties"]), want("t"));
    assert_eq!(body["user_properties"]["t07"], json!({"value": 7}));
    // and the same as the message built from a value
    let built: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(request_for(&settings(), built)["body"], body);
}

#[test]
fn one_request_per_user_with_merged_user_properties() {
    let s = settings();
    let mut a = track("Product Viewed", "m1", json!({"product_id": "p1"}));
    a["context"]["traits"] = json!({"plan": "free", "tier": 1});
    let mut b = track(
        "Product Added",
        "m2",
        json!({"product_id": "p2", "price": 3}),
    );
    b["context"]["traits"] = json!({"plan": "pro"});
    let mut c = track("Product Added", "m3", json!({"product_id": "p3"}));
    c["userId"] = json!("user-2");
    let pa = payloads(map_with(&s, a));
    let pb = payloads(map_with(&s, b));
    let pc = payloads(map_with(&s, c));
    assert_eq!(pa[0].route, pb[0].route);
    assert_ne!(pa[0].route, pc[0].route, "a batch never mixes users");
    let batch = [pa[0].clone(), pb[0].clone()];
    let r = show(&Ga4.request(&s, &pa[0].route, &batch));
    assert_eq!(r["body"]["client_id"], "anon-1");
    assert_eq!(r["body"]["user_id"], "user-1");
    assert_eq!(
        r["body"]["user_properties"],
        json!({"plan": {"value": "pro"}, "tier": {"value": 1}})
    );
    assert_eq!(r["body"]["events"].as_array().unwrap().len(), 2);
}

/// GA4 takes at most 25 user properties a request: merging the traits of one user's events
/// keeps the last event's (each event has at most 25), then earlier events' while there is room.
#[test]
fn merged_user_properties_stay_within_25_the_last_events_first() {
    let s = settings();
    let traits = |prefix: &str, n: usize| {
        let mut m = serde_json::Map::new();
        for i in 0..n {
            m.insert(format!("{prefix}{i:02}"), json!(i));
        }
        Value::Object(m)
    };
    let mut a = track("Product Viewed", "m1", json!({"product_id": "p1"}));
    a["context"]["traits"] = traits("a", 25);
    let mut b = track("Product Viewed", "m2", json!({"product_id": "p2"}));
    b["context"]["traits"] = traits("b", 20);
    b["context"]["traits"]["a00"] = json!("later");
    let (pa, pb) = (payloads(map_with(&s, a)), payloads(map_with(&s, b)));
    assert_eq!(pa[0].route, pb[0].route, "same request");
    let r = show(&Ga4.request(&s, &pa[0].route, &[pa[0].clone(), pb[0].clone()]));
    let props = r["body"]["user_properties"].as_object().unwrap();
    assert_eq!(props.len(), 25);
    // all 21 of the last event's, the later value winning, then 4 of the first event's
    assert_eq!(props["a00"], json!({"value": "later"}));
    assert!((0..20).all(|i| props.contains_key(&format!("b{i:02}"))));
    assert_eq!(props.keys().filter(|k| k.starts_with('a')).count(), 5);
}

/// Google's reserved names are its list (`ad_click`, `ad_impression`, …), not every name that
/// starts with `ad_`: a customer's `ad_banner_closed` is a valid custom event.
#[test]
fn reserved_names_are_googles_list_not_an_ad_prefix() {
    for name in [
        "ad_click",
        "ad_impression",
        "adunit_exposure",
        "first_visit",
    ] {
        let err = custom_event_name(name).unwrap_err();
        assert!(err.contains("reserved"), "{name}: {err}");
    }
    assert_eq!(
        custom_event_name("ad banner closed").unwrap(),
        "ad_banner_closed"
    );
}

/// Personal data never goes as a param (Google's policy, as for user properties); a property
/// called `name` (a product's, a promotion's) does.
#[test]
fn personal_data_is_never_a_param() {
    let v = track(
        "Newsletter Joined",
        "m-pii",
        json!({"email": "a@example.com", "phone": "+44 20 7946 0000", "first_name": "Ann",
               "lastName": "Lee", "username": "ann", "name": "Weekly", "list": "news"}),
    );
    let r = request_for(&settings(), v);
    let params = r["body"]["events"][0]["params"].as_object().unwrap();
    let mut names: Vec<&str> = params.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["list", "name"]);
}

/// The B2B SaaS spec's Signed Up / Signed In are GA4's `sign_up` / `login` (partners.md), with
/// `method` when given and no personal fields.
#[test]
fn signed_up_and_signed_in_are_sign_up_and_login() {
    let r = request_for(
        &settings(),
        track(
            "Signed Up",
            "m-su",
            json!({"type": "organic", "method": "Google", "email": "a@example.com",
                   "first_name": "Ann", "title": "CTO"}),
        ),
    );
    assert_eq!(r["body"]["events"][0]["name"], "sign_up",);
    assert_eq!(
        r["body"]["events"][0]["params"],
        json!({"method": "Google", "title": "CTO", "type": "organic"})
    );
    let r = request_for(
        &settings(),
        track("Signed In", "m-si", json!({"username": "ann"})),
    );
    assert_eq!(r["body"]["events"][0]["name"], "login");
    assert_eq!(r["body"]["events"][0]["params"], json!({}));
}

/// Product Shared's item_id is the product's id as an item gets it: product_id, else sku.
#[test]
fn product_shared_item_id_falls_back_to_sku() {
    let share = |props: Value| {
        let r = request_for(&settings(), track("Product Shared", "m-ps", props));
        r["body"]["events"][0]["params"]["item_id"].clone()
    };
    assert_eq!(
        share(json!({"sku": "sku-1", "share_via": "email"})),
        "sku-1"
    );
    assert_eq!(share(json!({"product_id": "", "sku": "sku-1"})), "sku-1");
    assert_eq!(share(json!({"product_id": "p-1", "sku": "sku-1"})), "p-1");
}

/// A video's `session_id` is the playback's, not GA4's Analytics session (the `session_id`
/// param): it goes as `video_session_id`.
#[test]
fn a_video_session_id_is_not_sent_as_gas_session_id() {
    let r = request_for(
        &settings(),
        track(
            "Video Playback Started",
            "m-v",
            json!({"session_id": "play-1", "position": 0, "total_length": 60}),
        ),
    );
    let params = &r["body"]["events"][0]["params"];
    assert_eq!(params["video_session_id"], "play-1");
    assert!(params.get("session_id").is_none(), "{params}");
}

#[test]
fn every_payload_is_one_event_of_the_request_in_order_even_one_built_by_hand() {
    let s = settings();
    let mut a = track("Product Viewed", "m1", json!({"product_id": "p1"}));
    a["anonymousId"] = json!("anon \"quoted\"");
    let mut b = a.clone();
    b["messageId"] = json!("m2");
    b["event"] = json!("Cart Viewed");
    let pa = payloads(map_with(&s, a));
    let pb = payloads(map_with(&s, b));
    let by_hand = Payload::json(pa[0].route.clone(), &json!({"name": "by_hand"}));
    let batch = [pa[0].clone(), by_hand, pb[0].clone()];
    let r = show(&Ga4.request(&s, &pa[0].route, &batch));
    assert_eq!(r["body"]["client_id"], "anon \"quoted\"");
    let names: Vec<&str> = r["body"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["view_item", "by_hand", "view_cart"]);
    assert_eq!(
        r["body"]["events"][0]["params"]["items"][0]["item_id"],
        "p1"
    );
}

#[test]
fn secret_never_shows() {
    let s = settings();
    assert!(!format!("{s:?}").contains(mock::API_SECRET));
    let p = payloads(map_with(&s, track("Cart Viewed", "m", json!({}))));
    let req = Ga4.request(&s, &p[0].route, &p);
    assert!(
        req.url.contains(mock::API_SECRET),
        "the real URL carries it"
    );
    assert!(!format!("{req:?}").contains(mock::API_SECRET));
    assert!(!req.redacted_url().contains(mock::API_SECRET));
}

fn resp(status: u16, body: Value) -> PartnerResponse {
    PartnerResponse {
        status,
        headers: http::HeaderMap::new(),
        body: serde_json::to_vec(&body).unwrap().into(),
    }
}

fn batch(n: usize) -> Vec<Payload> {
    (0..n)
        .map(|i| Payload::json("c", &json!({"i": i})))
        .collect()
}

#[test]
fn validation_messages_fail_the_named_events_and_resend_the_rest() {
    let s = settings_with(json!({"validate": true}));
    let r = resp(
        200,
        json!({"validationMessages": [
            {"fieldPath": "events[1].params.currency", "description": "currency is required", "validationCode": "VALUE_REQUIRED"},
            {"fieldPath": "events[1].name", "description": "x", "validationCode": "NAME_INVALID"}
        ]}),
    );
    let v = Ga4.interpret(&s, &r, &batch(3), SystemTime::now());
    assert_eq!(v.get(0), Some(&Verdict::Resend));
    assert_eq!(
        v.get(1),
        Some(&Verdict::Failed {
            kind: ErrorKind::Client,
            reason:
                "GA4 validation VALUE_REQUIRED at events[1].params.currency: currency is required"
                    .into()
        })
    );
    assert_eq!(v.get(2), Some(&Verdict::Resend));
    // a message about the request fails every event with that message
    let r = resp(
        200,
        json!({"validationMessages": [{"fieldPath": "client_id", "description": "client_id is required", "validationCode": "VALUE_REQUIRED"}]}),
    );
    let v = Ga4.interpret(&s, &r, &batch(2), SystemTime::now());
    assert!(
        v.iter()
            .all(|x| matches!(x, Verdict::Failed { reason, .. } if reason.contains("client_id")))
    );
    // empty list: delivered
    let v = Ga4.interpret(
        &s,
        &resp(200, json!({"validationMessages": []})),
        &batch(2),
        SystemTime::now(),
    );
    assert!(v.iter().all(|x| *x == Verdict::Delivered));
}

#[test]
fn production_trusts_204_and_classifies_the_rest() {
    let s = settings();
    let ok = PartnerResponse {
        status: 204,
        headers: http::HeaderMap::new(),
        body: Default::default(),
    };
    assert!(
        Ga4.interpret(&s, &ok, &batch(2), SystemTime::now())
            .iter()
            .all(|v| *v == Verdict::Delivered)
    );
    let v = Ga4.interpret(&s, &resp(500, json!({})), &batch(1), SystemTime::now());
    assert!(matches!(
        v.get(0),
        Some(Verdict::Retry {
            kind: ErrorKind::Server,
            ..
        })
    ));
}

#[test]
fn settings_are_validated() {
    let bad = [
        json!({"api_secret": "s"}),
        json!({"measurement_id": "G-1", "firebase_app_id": "1:2:web:3", "api_secret": "s"}),
        json!({"measurement_id": "G-1", "api_secret": ""}),
        json!({"measurement_id": "G-1", "api_secret": "s", "default_currency": "euro"}),
        json!({"measurement_id": "G-1", "api_secret": "s", "region": "mars"}),
        json!({"measurement_id": "G-1", "api_secret": "s", "now": "yesterday"}),
    ];
    for b in bad {
        assert!(parse_settings::<Ga4Settings>(b.clone()).is_err(), "{b}");
    }
    let s: Ga4Settings =
        parse_settings(json!({"measurement_id": "G-1", "api_secret": "s", "debug": true})).unwrap();
    assert!(s.validate);
    assert_eq!(
        super::request::url(&s),
        "https://www.google-analytics.com/debug/mp/collect?measurement_id=G-1&api_secret=s"
    );
}

#[tokio::test]
async fn mock_validation_server_checks_like_google() {
    let m = mock::Ga4Mock::start().await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}/debug/mp/collect?measurement_id=G-1&api_secret=x",
        m.partner.uri()
    );
    let body = json!({"client_id": "c", "events": [
        {"name": "purchase", "params": {"value": 3, "transaction_id": ""}},
        {"name": "session_start", "params": {}},
        {"name": "ok_event", "params": {"items": [{"price": 1}], "obj": {"a": 1}}}
    ]});
    let r: Value = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = r["validationMessages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["fieldPath"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "events[0].params.currency",
            "events[0].params.transaction_id",
            "events[1].name",
            "events[2].params.items[0]",
            "events[2].params.obj",
        ]
    );
    // production: 204 even for garbage, and the wrong secret is only counted
    let r = http
        .post(format!(
            "{}/mp/collect?measurement_id=G-1&api_secret=x",
            m.partner.uri()
        ))
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(m.bad_secret_requests(), 2);
}

/// The coverage table in the module doc, computed from the canonical fixtures.
#[test]
fn coverage_matches_the_documented_table() {
    use destination_kit::spec::Family;
    let s = settings_with(json!({"now": "2026-03-14T12:00:00Z"}));
    let mut counts = std::collections::BTreeMap::new();
    for (kind, v) in spec_tests::fixtures::all_spec_events() {
        let p = payloads(map_with(&s, v));
        let body: Value = serde_json::from_str(super::wire::read(p[0].body.get()).event).unwrap();
        let name = body["name"].as_str().unwrap().to_string();
        let custom = custom_event_name(kind.name).unwrap();
        let how = if name == custom { "custom" } else { "native" };
        *counts.entry((kind.family, how)).or_insert(0) += 1;
    }
    let get = |f, h| counts.get(&(f, h)).copied().unwrap_or(0);
    let table: Vec<(usize, usize)> = Family::ALL
        .iter()
        .map(|f| (get(*f, "native"), get(*f, "custom")))
        .collect();
    assert_eq!(table, [(17, 11), (3, 14), (0, 4), (0, 6)]);
}

#[test]
fn more_than_200_items_is_rejected_not_cut() {
    let products: Vec<Value> = (0..201)
        .map(|i| json!({"product_id": format!("p{i}")}))
        .collect();
    let v = track(
        "Order Completed",
        "m",
        json!({"order_id": "o", "products": products}),
    );
    match map_with(&settings(), v) {
        Mapped::Invalid { reason } => assert!(reason.contains("at most 200"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let v = track("Cart Viewed", "m", json!({"products": products[..200]}));
    assert!(matches!(map_with(&settings(), v), Mapped::Send(_)));
}

#[test]
fn a_product_becomes_the_same_item_in_an_order_as_in_any_other_event() {
    // an empty product_id falls back to sku, a product's affiliation is kept, and a fractional
    // quantity or position is rounded: the same rules whether the event is an order or not
    let products = json!([
        {"product_id": "", "sku": "sku-9", "name": "Rope", "quantity": 2.5, "position": 1.4,
         "affiliation": "outlet", "price": "3.50"},
        {"product_id": 77, "name": "", "brand": "Acme", "quantity": "4"}
    ]);
    let expected = json!([
        {"item_id": "sku-9", "item_name": "Rope", "affiliation": "outlet", "index": 1,
         "price": 3.5, "quantity": 3},
        {"item_id": "77", "item_brand": "Acme", "quantity": 4}
    ]);
    let items_of = |event: &str, props: Value| {
        let r = request_for(&settings(), track(event, "m", props));
        r["body"]["events"][0]["params"]["items"].clone()
    };
    for (event, props) in [
        (
            "Checkout Started",
            json!({"currency": "EUR", "products": products.clone()}),
        ),
        ("Cart Viewed", json!({"products": products.clone()})),
        (
            "Order Completed",
            json!({"order_id": "o-9", "products": products.clone()}),
        ),
        (
            "Order Refunded",
            json!({"order_id": "o-9", "products": products.clone()}),
        ),
    ] {
        assert_eq!(items_of(event, props), expected, "{event}");
    }
}

#[test]
fn a_refund_carries_its_id_value_currency_and_items_only() {
    let v = track(
        "Order Refunded",
        "m-r",
        json!({"order_id": 1234, "total": "30", "revenue": 25, "currency": "EUR",
               "coupon": "X", "affiliation": "web", "shipping": 2, "tax": 1,
               "products": [{"product_id": "p-1", "price": 30}]}),
    );
    let r = request_for(&settings(), v);
    assert_eq!(r["body"]["events"][0]["name"], "refund");
    assert_eq!(
        r["body"]["events"][0]["params"],
        json!({"transaction_id": "1234", "currency": "EUR", "value": 30.0,
               "items": [{"item_id": "p-1", "price": 30.0}]})
    );
}
