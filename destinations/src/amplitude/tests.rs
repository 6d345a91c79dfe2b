//! Unit and snapshot tests of the Amplitude mapping, requests and response handling.

use super::mapping::{GROUPIDENTIFY, HTTPAPI, USERMAP};
use super::*;
use destination_kit::destination::parse_settings;
use destination_kit::{ErrorKind, Verdict};
use serde_json::{Value, json};
use spec_tests::snapshot::{map_json, payloads, show_request_with};
use std::time::{Duration, SystemTime};

fn settings_with(extra: Value) -> AmplitudeSettings {
    let mut v = json!({"api_key": mock::API_KEY, "endpoint": "https://amplitude.example.test"});
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    parse_settings(v).expect("valid settings")
}

fn settings() -> AmplitudeSettings {
    settings_with(json!({}))
}

fn base(call: &str, id: &str) -> Value {
    json!({
        "type": call,
        "messageId": id,
        "userId": "user-0001",
        "anonymousId": "anon-0001",
        "timestamp": "2026-01-09T08:30:00.250Z",
        "context": {
            "ip": "203.0.113.9",
            "locale": "en-GB",
            "device": {"type": "ios", "model": "iPhone15,2", "manufacturer": "Apple"},
            "os": {"name": "iOS", "version": "17.2"},
            "app": {"version": "3.1.0"},
            "library": {"name": "analytics-ios", "version": "4.1.0"},
            "location": {"country": "GB", "city": "London", "latitude": 51.5, "longitude": -0.12},
            "traits": {"plan": "pro"}
        },
    })
}

fn track(event: &str, id: &str, props: Value) -> Value {
    let mut v = base("track", id);
    v["event"] = json!(event);
    v["properties"] = props;
    v
}

fn map_with(s: &AmplitudeSettings, v: Value) -> Mapped {
    map_json(&Amplitude, s, v)
}

/// The request with the api_key masked in the body too (it lives there).
fn show(req: &PartnerRequest) -> Value {
    let ct = req
        .headers
        .iter()
        .find(|(k, _)| k == http::header::CONTENT_TYPE)
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let body = if ct.starts_with("application/json") {
        let mut b: Value = serde_json::from_slice(&req.body).expect("JSON body");
        assert_eq!(b["api_key"], mock::API_KEY, "the key travels in the body");
        b["api_key"] = json!("[redacted]");
        b
    } else {
        let mut out = serde_json::Map::new();
        for (k, v) in url::form_urlencoded::parse(&req.body) {
            let v = if k == "api_key" {
                assert_eq!(v, mock::API_KEY);
                json!("[redacted]")
            } else {
                serde_json::from_str(&v).expect("a JSON form field")
            };
            out.insert(k.into_owned(), v);
        }
        Value::Object(out)
    };
    show_request_with(req, body)
}

/// Map `v` and show one request per route, in order of first appearance.
fn requests_for(s: &AmplitudeSettings, v: Value) -> Vec<Value> {
    let p = payloads(map_with(s, v));
    let mut routes: Vec<String> = Vec::new();
    for x in &p {
        if !routes.contains(&x.route.to_string()) {
            routes.push(x.route.to_string());
        }
    }
    routes
        .iter()
        .map(|r| {
            let b: Vec<Payload> = p
                .iter()
                .filter(|x| x.route == r.as_str())
                .cloned()
                .collect();
            show(&Amplitude.request(s, r, &b))
        })
        .collect()
}

#[test]
fn snapshot_order_completed_with_products() {
    let v = track(
        "Order Completed",
        "m-oc",
        json!({"order_id": "o-1", "total": 124.8, "revenue": 110, "currency": "EUR",
        "products": [
            {"product_id": "sku-1", "name": "Runner", "price": 59.9, "quantity": 2},
            {"product_id": "sku-2", "name": "Sock", "price": 5, "quantity": 1}
        ]}),
    );
    let r = requests_for(&settings(), v);
    assert_eq!(r.len(), 1);
    let ev = r[0]["body"]["events"].as_array().unwrap();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[1]["insert_id"], "m-oc-0");
    assert_eq!(ev[2]["insert_id"], "m-oc-1");
    insta::assert_json_snapshot!("amplitude_order_completed", r);
}

#[test]
fn snapshot_order_refunded() {
    let v = track(
        "Order Refunded",
        "m-or",
        json!({"order_id": "o-1", "total": 30}),
    );
    insta::assert_json_snapshot!("amplitude_order_refunded", requests_for(&settings(), v));
}

#[test]
fn snapshot_video() {
    let v = track(
        "Video Content Playing",
        "m-vcp",
        json!({"session_id": "s1", "asset_id": "a1", "title": "Pilot", "position": 30, "total_length": 1200}),
    );
    insta::assert_json_snapshot!("amplitude_video", requests_for(&settings(), v));
}

#[test]
fn snapshot_live_chat() {
    let v = track(
        "Live Chat Conversation Started",
        "m-lc",
        json!({"agent_id": "a-7", "conversation_id": "c-1"}),
    );
    insta::assert_json_snapshot!("amplitude_live_chat", requests_for(&settings(), v));
}

#[test]
fn snapshot_email() {
    let v = track(
        "Unsubscribed",
        "m-un",
        json!({"email_id": "e-1", "list_id": "l-1", "list_name": "News"}),
    );
    insta::assert_json_snapshot!("amplitude_email", requests_for(&settings(), v));
}

#[test]
fn snapshot_identify() {
    let mut v = base("identify", "m-id");
    v["traits"] = json!({"email": "a@example.com", "plan": "pro", "seats": 4});
    insta::assert_json_snapshot!("amplitude_identify", requests_for(&settings(), v));
}

#[test]
fn snapshot_group_two_calls() {
    let mut v = base("group", "m-gr");
    v["groupId"] = json!("team-42");
    v["traits"] = json!({"name": "Team 42", "employees": 12});
    let r = requests_for(&settings(), v);
    assert_eq!(r.len(), 2);
    assert!(r[1]["url"].as_str().unwrap().ends_with("/groupidentify"));
    insta::assert_json_snapshot!("amplitude_group", r);
}

#[test]
fn snapshot_alias_usermap() {
    let mut v = base("alias", "m-al");
    v["previousId"] = json!("anon-0001");
    insta::assert_json_snapshot!("amplitude_alias", requests_for(&settings(), v));
}

#[test]
fn snapshot_page_and_screen() {
    let mut p = base("page", "m-pg");
    p["name"] = json!("Pricing");
    p["properties"] = json!({"url": "https://example.com/pricing"});
    let mut sc = base("screen", "m-sc");
    sc["properties"] = json!({"tab": 2});
    let s = settings_with(json!({"min_id_length": 3, "region": "eu"}));
    insta::assert_json_snapshot!(
        "amplitude_page_screen",
        [requests_for(&s, p), requests_for(&s, sc)]
    );
}

#[test]
fn regions_pick_hosts() {
    let us: AmplitudeSettings = parse_settings(json!({"api_key": "k"})).unwrap();
    let eu: AmplitudeSettings = parse_settings(json!({"api_key": "k", "region": "eu"})).unwrap();
    let one = [Payload::json(HTTPAPI, &json!({}))];
    assert_eq!(
        Amplitude.request(&us, HTTPAPI, &one).url,
        "https://api2.amplitude.com/2/httpapi"
    );
    assert_eq!(
        Amplitude.request(&us, USERMAP, &one).url,
        "https://api.amplitude.com/usermap"
    );
    assert_eq!(
        Amplitude.request(&eu, GROUPIDENTIFY, &one).url,
        "https://api.eu.amplitude.com/groupidentify"
    );
    assert_eq!(
        Amplitude.request(&eu, HTTPAPI, &one).url,
        "https://api.eu.amplitude.com/2/httpapi"
    );
}

#[test]
fn ids_follow_amplitude_rules() {
    let s = settings();
    let mut v = track("Thing", "m", json!({}));
    v["userId"] = json!("u1");
    match map_with(&s, v.clone()) {
        Mapped::Invalid { reason } => assert!(reason.contains("min_id_length"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // with min_id_length it goes, and the option is sent
    let s3 = settings_with(json!({"min_id_length": 2}));
    let r = requests_for(&s3, v.clone());
    assert_eq!(r[0]["body"]["options"], json!({"min_id_length": 2}));
    // a placeholder device id is dropped when the user id is fine
    let mut v = track("Thing", "m", json!({}));
    v["anonymousId"] = json!("undefined");
    let r = requests_for(&s, v);
    assert!(r[0]["body"]["events"][0].get("device_id").is_none());
    // no usable id at all
    let mut v = track("Thing", "m", json!({}));
    v.as_object_mut().unwrap().remove("userId");
    v["anonymousId"] = json!("null");
    assert!(matches!(map_with(&s, v.clone()), Mapped::Invalid { .. }));
    // a placeholder anonymousId does not hide a usable context.device.id
    v["context"]["device"]["id"] = json!("device-12345");
    let r = requests_for(&s, v);
    assert_eq!(r[0]["body"]["events"][0]["device_id"], "device-12345");
}

/// Amplitude answers 403 for its firewall or a sanctioned region; a wrong key is a 400. The
/// events fail, but not as an auth failure (which would send the user to check the key).
#[test]
fn a_403_fails_the_batch_as_a_client_error_not_auth() {
    let r = resp(403, json!({"code": 403, "error": "Forbidden"}));
    let v = Amplitude.interpret(&settings(), &r, &batch(2), SystemTime::now());
    assert_eq!(v.len(), 2);
    for x in v.iter() {
        match x {
            Verdict::Failed {
                kind: ErrorKind::Client,
                reason,
            } => assert!(reason.contains("not an API key problem"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}

/// Deliver `events` (one JSON line each) to `settings`' endpoint.
async fn deliver_all(settings: Value, events: &[Value]) -> destination_kit::DeliveryReport {
    use destination_kit::runtime::{DeliveryConfig, Runtime};
    let mut input = Vec::new();
    for e in events {
        input.extend_from_slice(e.to_string().as_bytes());
        input.push(b'\n');
    }
    let dest = super::configure(settings, None).expect("valid settings");
    Runtime::new(dest, DeliveryConfig::default().concurrency(1))
        .deliver_bytes(&input)
        .await
        .report
}

/// HTTP V2 takes "fewer than 2,000" events a request: 2,000 events go in two requests, all
/// delivered (the mock answers 413 at 2,000).
#[tokio::test]
async fn two_thousand_events_go_in_two_requests() {
    let m = mock::AmplitudeMock::start().await;
    let events: Vec<Value> = (0..2_000)
        .map(|i| track("Thing", &format!("m{i}"), json!({})))
        .collect();
    let report = deliver_all(m.partner.settings.clone(), &events).await;
    assert_eq!(report.delivered, 2_000, "{report:?}");
    let sizes: Vec<usize> = m
        .partner
        .received()
        .await
        .iter()
        .filter(|q| q.url.path() == "/2/httpapi")
        .map(|q| {
            serde_json::from_slice::<Value>(&q.body).unwrap()["events"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![1_999, 1]);
}

/// Group Identify takes at most 1,024 identifications a request (its own limit, below the
/// events'): 1,100 group calls go in two requests, all delivered.
#[tokio::test]
async fn group_identify_requests_carry_at_most_1024_identifications() {
    let m = mock::AmplitudeMock::start().await;
    let events: Vec<Value> = (0..1_100)
        .map(|i| {
            let mut v = base("group", &format!("g{i}"));
            v["groupId"] = json!(format!("team-{i}"));
            v["traits"] = json!({"name": format!("Team {i}")});
            v
        })
        .collect();
    let report = deliver_all(m.partner.settings.clone(), &events).await;
    assert_eq!(report.delivered, 1_100, "{report:?}");
    let sizes: Vec<usize> = m
        .partner
        .received()
        .await
        .iter()
        .filter(|q| q.url.path() == "/groupidentify")
        .map(|q| {
            let (_, v) = url::form_urlencoded::parse(&q.body)
                .find(|(k, _)| k == "identification")
                .expect("identification");
            serde_json::from_str::<Value>(&v)
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![1_024, 76]);
    assert_eq!(m.group_identifications().len(), 1_100);
}

#[test]
fn api_key_never_in_debug() {
    let s = settings();
    assert!(!format!("{s:?}").contains(mock::API_KEY));
    let p = payloads(map_with(&s, track("Thing", "m", json!({}))));
    let req = Amplitude.request(&s, HTTPAPI, &p);
    assert!(!format!("{req:?}").contains(mock::API_KEY));
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
        .map(|i| Payload::json(HTTPAPI, &json!({"i": i})))
        .collect()
}

#[test]
fn a_400_with_indices_fails_only_those() {
    let r = resp(
        400,
        json!({"code": 400, "error": "Invalid field values on some events",
               "events_with_invalid_fields": {"time": [3]},
               "events_with_missing_fields": {"event_type": [0]},
               "silenced_events": [4], "throttled_events": [2]}),
    );
    let v = Amplitude.interpret(&settings(), &r, &batch(6), SystemTime::now());
    let fail = |r: &str| Verdict::Failed {
        kind: ErrorKind::Client,
        reason: r.into(),
    };
    assert_eq!(
        v.get(0),
        Some(&fail("Amplitude: missing field `event_type`"))
    );
    assert_eq!(v.get(1), Some(&Verdict::Resend));
    assert!(
        matches!(v.get(2), Some(Verdict::Retry { after: Some(d), .. }) if *d == Duration::from_secs(30))
    );
    assert_eq!(v.get(3), Some(&fail("Amplitude: invalid field `time`")));
    assert!(
        matches!(v.get(4), Some(Verdict::Failed { reason, .. }) if reason.contains("silenced"))
    );
    assert_eq!(v.get(5), Some(&Verdict::Resend));
}

#[test]
fn invalid_api_key_fails_all_as_auth() {
    let r = resp(400, json!({"code": 400, "error": "Invalid API key"}));
    let v = Amplitude.interpret(&settings(), &r, &batch(3), SystemTime::now());
    assert!(v.iter().all(|x| matches!(
        x,
        Verdict::Failed {
            kind: ErrorKind::Auth,
            ..
        }
    )));
    // a 400 without indices fails everything as a client error
    let r = resp(
        400,
        json!({"code": 400, "error": "Invalid JSON request body"}),
    );
    let v = Amplitude.interpret(&settings(), &r, &batch(2), SystemTime::now());
    assert!(v.iter().all(|x| matches!(
        x,
        Verdict::Failed {
            kind: ErrorKind::Client,
            ..
        }
    )));
}

#[test]
fn a_429_waits_30_s_unless_retry_after_says_otherwise() {
    let r = resp(429, json!({"code": 429, "error": "Too many requests"}));
    let v = Amplitude.interpret(&settings(), &r, &batch(2), SystemTime::now());
    assert!(v.iter().all(|x| matches!(x, Verdict::Retry { kind: ErrorKind::Throttling, after: Some(d), .. } if *d == Duration::from_secs(30))));
    let mut r = r;
    r.headers.insert("retry-after", "7".parse().unwrap());
    let v = Amplitude.interpret(&settings(), &r, &batch(1), SystemTime::now());
    assert!(
        matches!(v.get(0), Some(Verdict::Retry { after: Some(d), .. }) if *d == Duration::from_secs(7))
    );
    // 413 splits, 502 retries: the shared classifier
    let v = Amplitude.interpret(
        &settings(),
        &resp(413, json!({})),
        &batch(2),
        SystemTime::now(),
    );
    assert!(matches!(
        v.get(0),
        Some(Verdict::Retry {
            kind: ErrorKind::PayloadTooLarge,
            ..
        })
    ));
    let v = Amplitude.interpret(
        &settings(),
        &resp(502, json!({})),
        &batch(1),
        SystemTime::now(),
    );
    assert!(matches!(
        v.get(0),
        Some(Verdict::Retry {
            kind: ErrorKind::Server,
            ..
        })
    ));
}

#[tokio::test]
async fn mock_validates_like_amplitude() {
    let m = mock::AmplitudeMock::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/2/httpapi", m.partner.uri());
    let post = |b: Value| http.post(&url).json(&b).send();
    let r = post(json!({"api_key": "wrong", "events": []}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "Invalid API key");
    let r = post(json!({"api_key": mock::API_KEY, "events": [
        {"event_type": "a", "user_id": "user-0001", "time": 1, "insert_id": "i0"},
        {"event_type": "b", "user_id": "u1", "time": 1, "insert_id": "i1"},
        {"event_type": "c", "user_id": "user-0001", "time": "2026-01-01T00:00:00Z", "insert_id": "i2"},
        {"user_id": "user-0001", "time": 1}
    ]})).await.unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["events_with_invalid_fields"], json!({"time": [2]}));
    assert_eq!(
        b["events_with_missing_fields"],
        json!({"event_type": [3], "insert_id": [3], "user_id": [1]})
    );
    assert!(m.ingested().is_empty(), "a 400 ingests nothing");
    let r = post(json!({"api_key": mock::API_KEY, "events": [
        {"event_type": "a", "user_id": "user-0001", "time": 1, "insert_id": "i0"},
        {"event_type": "a", "user_id": "user-0001", "time": 1, "insert_id": "i0"}
    ]}))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["events_ingested"], 2);
    assert_eq!((m.ingested().len(), m.duplicates()), (1, 1));
    // "fewer than 2,000 events": 1,999 go, 2,000 are too many
    let many = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"event_type": "a", "user_id": "user-0001", "time": 1, "insert_id": format!("x{i}")}))
            .collect()
    };
    let status = |n| post(json!({"api_key": mock::API_KEY, "events": many(n)}));
    assert_eq!(status(2_000).await.unwrap().status(), 413);
    assert_eq!(status(1_999).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_mock_that_keeps_nothing_answers_and_deduplicates_the_same() {
    use spec_tests::mock::Recording;
    let m = mock::AmplitudeMock::start_with(Recording::Off).await;
    let http = reqwest::Client::new();
    let url = format!("{}/2/httpapi", m.partner.uri());
    let body = json!({"api_key": mock::API_KEY, "events": [
        {"event_type": "a", "user_id": "user-0001", "time": 1, "insert_id": "i0"},
        {"event_type": "a", "user_id": "user-0001", "time": 1, "insert_id": "i0"},
        {"event_type": "a", "user_id": "user-0002", "time": 1, "insert_id": "i0"}
    ]});
    for _ in 0..2 {
        let r = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["events_ingested"], 3);
    }
    // the same dedup key (who, insert_id) as a kept mock: two first copies, four duplicates
    assert_eq!((m.accepted(), m.duplicates()), (2, 4));
    assert!(m.ingested().is_empty(), "nothing kept");
    assert!(m.partner.received().await.is_empty(), "no request kept");
    let kept = mock::AmplitudeMock::start().await;
    let url = format!("{}/2/httpapi", kept.partner.uri());
    http.post(&url).json(&body).send().await.unwrap();
    assert_eq!((kept.accepted(), kept.ingested().len()), (2, 2));
    assert_eq!(kept.partner.received().await.len(), 1);
}

/// The coverage table in the module doc, computed from the canonical fixtures.
#[test]
fn coverage_matches_the_documented_table() {
    use destination_kit::spec::Family;
    let s = settings();
    let mut counts = std::collections::BTreeMap::new();
    for (kind, v) in spec_tests::fixtures::all_spec_events() {
        let p = payloads(map_with(&s, v));
        let body: Value = serde_json::from_str(p[0].body.get()).unwrap();
        assert_eq!(body["event_type"], kind.name);
        let how = if body.get("revenueType").is_some() {
            "native"
        } else {
            "custom"
        };
        *counts.entry((kind.family, how)).or_insert(0) += 1;
    }
    let get = |f, h| counts.get(&(f, h)).copied().unwrap_or(0);
    let table: Vec<(usize, usize)> = Family::ALL
        .iter()
        .map(|f| (get(*f, "native"), get(*f, "custom")))
        .collect();
    assert_eq!(table, [(2, 26), (0, 17), (0, 4), (0, 6)]);
}

#[test]
fn session_id_comes_from_the_amplitude_integration_options() {
    let mut v = track("Thing", "m", json!({}));
    v["integrations"] = json!({"Amplitude": {"session_id": 1767947000000i64}});
    let r = requests_for(&settings(), v);
    assert_eq!(r[0]["body"]["events"][0]["session_id"], 1767947000000i64);
    let r = requests_for(&settings(), track("Thing", "m", json!({})));
    assert!(r[0]["body"]["events"][0].get("session_id").is_none());
}

#[test]
fn library_is_name_slash_version_or_the_name_alone() {
    let library_of = |lib: Value| {
        let mut v = track("Thing", "m-lib", json!({}));
        v["context"]["library"] = lib;
        let p = payloads(map_with(&settings(), v));
        let body: Value = serde_json::from_str(p[0].body.get()).expect("JSON");
        body["library"].clone()
    };
    assert_eq!(
        library_of(json!({"name": "analytics.js", "version": "5.2.0"})),
        json!("analytics.js/5.2.0")
    );
    assert_eq!(
        library_of(json!({"name": "analytics.js"})),
        json!("analytics.js")
    );
    assert_eq!(library_of(json!({"version": "5.2.0"})), Value::Null);
}

/// Amplitude's `quantity` is an integer: a fractional one is not rounded into it (that would
/// change the revenue Amplitude computes from price × quantity); it is left out there and kept,
/// as sent, in the event's properties.
#[test]
fn a_fractional_quantity_stays_in_the_properties_only() {
    let r = requests_for(
        &settings(),
        track(
            "Order Completed",
            "m-q",
            json!({"order_id": "o", "revenue": 3.75, "price": 2.5, "quantity": 1.5}),
        ),
    );
    let oc = &r[0]["body"]["events"][0];
    assert_eq!(oc.get("quantity"), None);
    assert_eq!((&oc["revenue"], &oc["price"]), (&json!(3.75), &json!(2.5)));
    assert_eq!(oc["event_properties"]["quantity"], json!(1.5));
}

#[test]
fn order_amounts_given_as_numeric_strings_are_read_as_numbers() {
    let events_of = |v: Value| {
        let r = requests_for(&settings(), v);
        r[0]["body"]["events"].as_array().expect("events").clone()
    };
    let oc = events_of(track(
        "Order Completed",
        "m-s",
        json!({"order_id": "o", "total": "20", "revenue": " 12.5 ", "price": "3", "quantity": "2"}),
    ));
    assert_eq!(oc.len(), 1, "no products, no product events");
    assert_eq!(
        (&oc[0]["revenue"], &oc[0]["price"], &oc[0]["quantity"]),
        (&json!(12.5), &json!(3.0), &json!(2))
    );
    // revenue absent: total
    let oc = events_of(track(
        "Order Completed",
        "m-t",
        json!({"order_id": "o", "total": "20"}),
    ));
    assert_eq!(oc[0]["revenue"], json!(20.0));
    // a refund is negative whatever the sign sent, from total, else revenue, else value
    for (props, amount) in [
        (json!({"order_id": "o", "total": "30", "revenue": 7}), -30.0),
        (json!({"order_id": "o", "revenue": "-7"}), -7.0),
        (json!({"order_id": "o", "value": 4}), -4.0),
    ] {
        let r = events_of(track("Order Refunded", "m-r", props));
        assert_eq!(
            (&r[0]["revenue"], &r[0]["revenueType"]),
            (&json!(amount), &json!("Refund"))
        );
    }
}
