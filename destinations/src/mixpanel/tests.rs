//! Unit and snapshot tests of the Mixpanel mapping, request and response handling.

use super::mapping::{insert_id, is_valid_insert_id, product_insert_id};
use super::mock::{self, MixpanelMock};
use super::*;
use destination_kit::destination::parse_settings;
use destination_kit::{ErrorKind, HttpClient, Verdict};
use serde_json::{Value, json};
use spec_tests::snapshot::{map_json, payloads, show_request as show};
use std::time::{Duration, SystemTime};

const NOW: &str = "2026-01-10T12:00:00Z";

fn settings_with(extra: Value) -> MixpanelSettings {
    let mut v = json!({
        "project_token": mock::TOKEN,
        "api_secret": mock::SECRET,
        "project_id": mock::PROJECT_ID,
        "endpoint": "https://api.mixpanel.test",
        "now": NOW,
    });
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    parse_settings(v).expect("valid settings")
}

fn settings() -> MixpanelSettings {
    settings_with(json!({}))
}

fn base(call: &str, id: &str) -> Value {
    json!({
        "type": call,
        "messageId": id,
        "userId": "user-1",
        "anonymousId": "anon-1",
        "timestamp": "2026-01-09T08:30:00.250Z",
        "context": {"ip": "203.0.113.9", "page": {"url": "https://shop.example/p/1"}, "os": {"name": "iOS"}},
    })
}

fn track(event: &str, id: &str, props: Value) -> Value {
    let mut v = base("track", id);
    v["event"] = json!(event);
    v["properties"] = props;
    v
}

fn map_with(s: &MixpanelSettings, v: Value) -> Mapped {
    map_json(&Mixpanel, s, v)
}

/// Map `v`, build the request for its payloads (all of one route), and show it.
fn request_for(s: &MixpanelSettings, v: Value) -> Value {
    let p = payloads(map_with(s, v));
    let route = p[0].route.to_string();
    assert!(p.iter().all(|x| x.route == route));
    show(&Mixpanel.request(s, &route, &p))
}

// ---- ids -------------------------------------------------------------------------------------

#[test]
fn insert_id_keeps_valid_ids_and_hashes_the_rest() {
    assert_eq!(insert_id("abc-123"), "abc-123");
    let long = insert_id("0123456789-0123456789-0123456789-0123456789");
    assert_eq!(long.len(), 33);
    assert!(long.starts_with('x'));
    assert!(is_valid_insert_id(&long));
    // dropping the bad characters would make these collide; hashing keeps them apart
    assert_ne!(insert_id("a_b"), insert_id("a.b"));
    assert_ne!(insert_id("a_b"), "ab");
    // deterministic: a replay dedups against the original
    assert_eq!(insert_id("msg:1/2"), insert_id("msg:1/2"));
    // a refused value is hashed too
    assert!(insert_id("null").starts_with('x'));
    assert_eq!(product_insert_id("abc", 2), "abc-p2");
    let p = product_insert_id("0123456789abcdef0123456789abcdef-x", 0);
    assert!(is_valid_insert_id(&p));
    assert_ne!(
        p,
        product_insert_id("0123456789abcdef0123456789abcdef-x", 1)
    );
}

#[test]
fn settings_validate_and_redact() {
    let s = settings();
    assert!(!format!("{s:?}").contains(mock::SECRET));
    let err = parse_settings::<MixpanelSettings>(json!({"project_token": "t"})).unwrap_err();
    assert_eq!(err.key, "api_secret");
    let err = parse_settings::<MixpanelSettings>(
        json!({"project_token": "t", "service_account_username": "sa", "service_account_secret": "x"}),
    )
    .unwrap_err();
    assert_eq!(err.key, "project_id");
    let err = parse_settings::<MixpanelSettings>(
        json!({"project_token": "t", "api_secret": "s", "region": "mars"}),
    )
    .unwrap_err();
    assert!(
        err.message.contains("`mars`") && err.message.contains("`eu`"),
        "{err}"
    );
    let eu = parse_settings::<MixpanelSettings>(
        json!({"project_token": "t", "api_secret": "s", "region": "eu"}),
    )
    .unwrap();
    assert_eq!(eu.base_url(), "https://api-eu.mixpanel.com");
    let sa = parse_settings::<MixpanelSettings>(json!({"project_token": "t",
        "service_account_username": "sa.user", "service_account_secret": "sa-pass", "project_id": "7", "region": "in"}))
    .unwrap();
    let req = Mixpanel.request(&sa, "import", &[]);
    assert_eq!(
        req.url,
        "https://api-in.mixpanel.com/import?strict=1&project_id=7"
    );
    assert!(!format!("{req:?}").contains("c2EudXNlcjpzYS1wYXNz"));
}

// ---- mapping ---------------------------------------------------------------------------------

#[test]
fn custom_properties_never_overwrite_reserved_keys() {
    let s = settings();
    let req = request_for(
        &s,
        track(
            "Clicked",
            "m-1",
            json!({"time": 1, "distinct_id": "evil", "token": "x", "ip": "1.1.1.1", "color": "red"}),
        ),
    );
    let p = &req["body"][0]["properties"];
    assert_eq!(p["time"], 1_767_947_400_250_i64);
    assert_eq!(p["distinct_id"], "user-1");
    assert_eq!(p["ip"], "203.0.113.9");
    assert_eq!(p["color"], "red");
    assert!(p.get("token").is_none());
}

#[test]
fn refused_user_id_falls_back_to_anonymous_id_and_none_is_rejected() {
    let s = settings();
    let mut v = track("Clicked", "m-2", json!({}));
    v["userId"] = json!("null");
    let req = request_for(&s, v.clone());
    assert_eq!(req["body"][0]["properties"]["distinct_id"], "anon-1");
    // a refused value is not sent as $user_id either
    assert!(req["body"][0]["properties"].get("$user_id").is_none());
    v["anonymousId"] = json!("undefined");
    match map_with(&s, v) {
        Mapped::Invalid { reason } => assert!(reason.contains("distinct_id"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn historical_window_rejects_before_1971_and_future_events() {
    let s = settings();
    let mut old = track("Clicked", "m-old", json!({}));
    old["timestamp"] = json!("1970-06-01T00:00:00Z");
    match map_with(&s, old) {
        Mapped::Invalid { reason } => assert!(reason.contains("before 1971"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let mut future = track("Clicked", "m-fut", json!({}));
    future["timestamp"] = json!("2026-01-10T13:00:01Z"); // now + 1h + 1s
    match map_with(&s, future) {
        Mapped::Invalid { reason } => assert!(reason.contains("1 hour"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // a 3-year-old replay is fine: /import has no window
    let mut replay = track("Clicked", "m-replay", json!({}));
    replay["timestamp"] = json!("2023-01-01T00:00:00Z");
    let req = request_for(&s, replay);
    assert!(req["url"].as_str().unwrap().contains("/import?strict=1"));
    // exactly one hour ahead is still accepted
    let mut edge = track("Clicked", "m-edge", json!({}));
    edge["timestamp"] = json!("2026-01-10T13:00:00Z");
    assert!(matches!(map_with(&s, edge), Mapped::Send(_)));
}

#[test]
fn alias_is_unsupported_under_simplified_id_merge() {
    let mut v = base("alias", "m-al");
    v["previousId"] = json!("anon-1");
    match map_with(&settings(), v) {
        Mapped::Unsupported { reason } => {
            assert!(reason.contains("Simplified ID Merge"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn identify_without_traits_is_filtered() {
    let v = base("identify", "m-id0");
    assert!(matches!(
        map_with(&settings(), v),
        Mapped::Unsupported { .. }
    ));
}

// ---- snapshots of exact requests -------------------------------------------------------------

#[test]
fn snapshot_track_custom() {
    insta::assert_json_snapshot!(
        "track_custom",
        request_for(
            &settings(),
            track(
                "Song Played",
                "m-track",
                json!({"title": "Blue", "plays": 3})
            )
        )
    );
}

#[test]
fn snapshot_page_and_screen() {
    let mut page = base("page", "m-page");
    page["name"] = json!("Pricing");
    page["category"] = json!("Docs");
    page["properties"] = json!({"path": "/pricing"});
    insta::assert_json_snapshot!("page", request_for(&settings(), page));
    let mut screen = base("screen", "m-screen");
    screen["properties"] = json!({"variant": "b"});
    insta::assert_json_snapshot!("screen_unnamed", request_for(&settings(), screen));
}

#[test]
fn snapshot_identify() {
    let mut v = base("identify", "m-ident");
    v["traits"] = json!({"email": "ada@example.com", "firstName": "Ada", "last_name": "Lovelace",
        "phone": "+44 20 7946 0000", "createdAt": "2020-01-01T00:00:00Z", "plan": "pro"});
    insta::assert_json_snapshot!("identify", request_for(&settings(), v));
}

#[test]
fn snapshot_group() {
    let mut v = base("group", "m-group");
    v["groupId"] = json!("acme-inc");
    v["traits"] = json!({"name": "Acme Inc", "employees": 120});
    insta::assert_json_snapshot!("group", request_for(&settings(), v));
}

#[test]
fn snapshot_alias_original_recent_and_old() {
    let s = settings_with(json!({"identity_merge": "original"}));
    let mut v = base("alias", "m-alias");
    v["previousId"] = json!("anon-1");
    insta::assert_json_snapshot!("alias_recent_track", request_for(&s, v.clone()));
    v["timestamp"] = json!("2025-12-01T00:00:00Z"); // 40 days before now: /track would refuse it
    let req = request_for(&s, v);
    assert!(req["url"].as_str().unwrap().contains("/import?strict=1"));
    insta::assert_json_snapshot!("alias_old_import", req);
}

// ---- quirks against the mock -----------------------------------------------------------------

fn mock_settings(mock: &MixpanelMock) -> MixpanelSettings {
    let mut v = mock.settings();
    v["now"] = json!(NOW);
    parse_settings(v).expect("mock settings")
}

async fn send(s: &MixpanelSettings, batch: &[Payload]) -> (u16, Verdicts) {
    let http = HttpClient::new(Duration::from_secs(5));
    let route = batch[0].route.to_string();
    let req = Mixpanel.request(s, &route, batch);
    let resp = Mixpanel
        .send(s, &http, req, batch)
        .await
        .expect("the mock answers");
    let v = Mixpanel.interpret(s, &resp, batch, SystemTime::now());
    assert_eq!(v.len(), batch.len());
    (resp.status, v)
}

fn events(n: usize) -> Vec<Payload> {
    let s = settings();
    (0..n)
        .flat_map(|i| {
            payloads(map_with(
                &s,
                track("Clicked", &format!("m-{i}"), json!({"i": i})),
            ))
        })
        .collect()
}

#[tokio::test]
async fn quirk_strict_failed_records_fail_only_listed_indices_others_delivered() {
    let mock = MixpanelMock::start().await.now(NOW.parse().unwrap());
    let s = mock_settings(&mock);
    let mut batch = events(4);
    // record 2 carries an $insert_id Mixpanel refuses (37 bytes): the mock lists it
    let bad = Payload::json(
        "import",
        &json!({"event": "Clicked", "properties": {"time": 1_767_947_400_250_i64, "distinct_id": "u",
            "$insert_id": "0123456789012345678901234567890123456"}}),
    );
    batch[2] = bad;
    let (status, v) = send(&s, &batch).await;
    assert_eq!(status, 400);
    let v = v.into_vec();
    assert_eq!(v[0], Verdict::Delivered);
    assert_eq!(v[1], Verdict::Delivered);
    assert!(
        matches!(&v[2], Verdict::Failed { kind: ErrorKind::Client, reason } if reason.contains("properties.$insert_id")),
        "{:?}",
        v[2]
    );
    assert_eq!(v[3], Verdict::Delivered);
    // the valid ones were imported and nothing is resent
    assert_eq!(mock.imported(), 3);
    assert_eq!(mock.received().await.len(), 1);
}

#[tokio::test]
async fn quirk_injected_reject_indices() {
    let mock = MixpanelMock::start().await.reject_indices([1, 3]);
    let s = mock_settings(&mock);
    let (status, v) = send(&s, &events(5)).await;
    assert_eq!(status, 400);
    let failed: Vec<usize> = v
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v, Verdict::Failed { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(failed, vec![1, 3]);
    assert_eq!(mock.imported(), 3);
    let reqs = mock.received().await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].url.path(), "/import");
    assert_eq!(reqs[0].url.query(), Some("strict=1&project_id=424242"));
}

#[tokio::test]
async fn quirk_401_is_an_auth_failure() {
    let mock = MixpanelMock::start().await;
    let mut v = mock.settings();
    v["api_secret"] = json!("wrong-secret");
    let s: MixpanelSettings = parse_settings(v).unwrap();
    let (status, verdicts) = send(&s, &events(2)).await;
    assert_eq!(status, 401);
    for v in verdicts.iter() {
        assert!(
            matches!(v, Verdict::Failed { kind: ErrorKind::Auth, reason } if reason.contains("Invalid credentials")),
            "{v:?}"
        );
    }
    assert_eq!(mock.imported(), 0);
}

#[tokio::test]
async fn quirk_413_splits_and_429_retries_after() {
    let mock = MixpanelMock::start()
        .await
        .fail_next(1, 413)
        .throttle_next(1, Some(7));
    let s = mock_settings(&mock);
    let (status, v) = send(&s, &events(2)).await;
    assert_eq!(status, 413);
    assert!(v.iter().all(|v| matches!(
        v,
        Verdict::Retry {
            kind: ErrorKind::PayloadTooLarge,
            ..
        }
    )));
    let (status, v) = send(&s, &events(2)).await;
    assert_eq!(status, 429);
    assert!(v.iter().all(|v| matches!(v,
        Verdict::Retry { kind: ErrorKind::Throttling, after: Some(d), .. } if *d == Duration::from_secs(7))));
    let (status, v) = send(&s, &events(2)).await;
    assert_eq!(status, 200);
    assert!(v.iter().all(|v| *v == Verdict::Delivered));
    assert_eq!(mock.received().await.len(), 3);
    assert_eq!(mock.imported(), 2);
}

#[tokio::test]
async fn quirk_engage_answers_zero_means_failed() {
    let mock = MixpanelMock::start().await;
    let s = mock_settings(&mock);
    let mut v = base("identify", "m-e1");
    v["traits"] = json!({"email": "a@b.co"});
    let good = payloads(map_with(&s, v));
    let (status, verdicts) = send(&s, &good).await;
    assert_eq!(status, 200);
    assert_eq!(verdicts.into_vec(), vec![Verdict::Delivered]);
    // a profile update with the wrong token: Mixpanel answers 200 "0"
    let bad = vec![Payload::json(
        "engage",
        &json!({"$token": "not-the-token", "$distinct_id": "u", "$set": {"a": 1}}),
    )];
    let (status, verdicts) = send(&s, &bad).await;
    assert_eq!(status, 200);
    assert!(
        matches!(&verdicts.into_vec()[0], Verdict::Failed { kind: ErrorKind::Client, reason } if reason.contains("answered 0"))
    );
    let reqs = mock.received().await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].url.path(), "/engage");
    assert_eq!(reqs[0].url.query(), Some("ip=0"));
    assert!(reqs[0].headers.get("authorization").is_none());
}

#[test]
fn snapshot_order_completed_with_product_purchased() {
    let order = json!({
        "checkout_id": "c1", "order_id": "o1", "total": 27.5, "revenue": 25.0, "currency": "EUR",
        "coupon": "HIVER",
        "products": [
            {"product_id": "p1", "sku": "S-1", "name": "Monopoly", "price": 19, "quantity": 1},
            {"product_id": "p2", "sku": "S-2", "name": "Uno", "price": 3.5, "quantity": 2, "currency": "EUR"}
        ]
    });
    let raw = payloads(map_with(
        &settings(),
        track("Order Completed", "m-oc", order.clone()),
    ));
    // the product's own currency does not duplicate the order's: no duplicate JSON keys
    assert_eq!(raw[2].body.get().matches("\"currency\"").count(), 1);
    let req = request_for(&settings(), track("Order Completed", "m-oc", order));
    let body = req["body"].as_array().unwrap();
    assert_eq!(body.len(), 3);
    let t = body[0]["properties"]["time"].as_i64().unwrap();
    assert_eq!(body[1]["properties"]["time"], t - 1);
    assert_eq!(body[2]["properties"]["time"], t - 2);
    assert_eq!(body[1]["properties"]["$insert_id"], "m-oc-p0");
    assert_eq!(body[2]["properties"]["$insert_id"], "m-oc-p1");
    insta::assert_json_snapshot!("order_completed", req);
}

#[test]
fn snapshot_v1_alias_is_sent_under_the_v2_name() {
    let req = request_for(
        &settings(),
        track(
            "Completed Order",
            "m-v1",
            json!({"order_id": "o9", "total": 1}),
        ),
    );
    assert_eq!(req["body"][0]["event"], "Order Completed");
    assert_eq!(req["body"].as_array().unwrap().len(), 1);
}

#[test]
fn snapshot_video_live_chat_email() {
    insta::assert_json_snapshot!(
        "video_content_playing",
        request_for(
            &settings(),
            track(
                "Video Content Playing",
                "m-vid",
                json!({"session_id": "s1", "asset_id": "a1", "title": "Pilot", "position": 120, "total_length": 1800})
            )
        )
    );
    insta::assert_json_snapshot!(
        "live_chat_conversation_started",
        request_for(
            &settings(),
            track(
                "Live Chat Conversation Started",
                "m-chat",
                json!({"agent_id": "ag1", "agent_name": "Sam", "conversation_id": "cv1"})
            )
        )
    );
    insta::assert_json_snapshot!(
        "email_link_clicked",
        request_for(
            &settings(),
            track(
                "Email Link Clicked",
                "m-email",
                json!({"email_id": "e1", "campaign_id": "c1", "link_id": "l1", "link_url": "https://x.example"})
            )
        )
    );
}

#[tokio::test]
async fn mock_checks_limits_and_record_fields_like_mixpanel() {
    let mock = MixpanelMock::start().await.now(NOW.parse().unwrap());
    let s = mock_settings(&mock);
    let rec = |t: i64, ins: &str, did: &str| {
        Payload::json(
            "import",
            &json!({"event": "E", "properties": {"time": t, "distinct_id": did, "$insert_id": ins}}),
        )
    };
    // more than 2,000 records: the whole request is refused
    let many: Vec<Payload> = (0..2001)
        .map(|i| rec(1_767_947_400_000, &format!("i{i}"), "u"))
        .collect();
    let (status, v) = send(&s, &many).await;
    assert_eq!(status, 400);
    assert!(v.iter().all(|v| matches!(
        v,
        Verdict::Failed {
            kind: ErrorKind::Client,
            ..
        }
    )));
    // over the byte cap: 413, which the runtime splits
    let big = "x".repeat(mock::BODY_LIMIT);
    let huge = vec![Payload::json(
        "import",
        &json!({"event": "E", "properties": {"time": 1_767_947_400, "distinct_id": "u", "$insert_id": "a", "blob": big}}),
    )];
    let (status, v) = send(&s, &huge).await;
    assert_eq!(status, 413);
    assert!(matches!(
        v.get(0),
        Some(Verdict::Retry {
            kind: ErrorKind::PayloadTooLarge,
            ..
        })
    ));
    // per-record checks: seconds accepted; before 1971, 2 h ahead, refused distinct_id fail
    let batch = vec![
        rec(1_767_947_400, "ok-seconds", "u"),
        rec(0, "epoch", "u"),
        rec(1_768_053_600_000, "two-hours-ahead", "u"),
        rec(1_767_947_400_000, "bad-id", "undefined"),
    ];
    let (status, v) = send(&s, &batch).await;
    assert_eq!(status, 400);
    let v = v.into_vec();
    assert_eq!(v[0], Verdict::Delivered);
    for (i, field) in [
        (1, "properties.time"),
        (2, "properties.time"),
        (3, "properties.distinct_id"),
    ] {
        assert!(
            matches!(&v[i], Verdict::Failed { reason, .. } if reason.contains(field)),
            "{i}: {:?}",
            v[i]
        );
    }
    assert_eq!(mock.imported(), 1);
}

/// Product records go a ms before their order, but never before 1971-01-01, the earliest time
/// `/import` takes: an order at that very instant keeps its products.
#[test]
fn product_records_are_never_before_the_earliest_time_import_takes() {
    let mut v = track(
        "Order Completed",
        "m-edge-oc",
        json!({"order_id": "o1", "products": [{"product_id": "p1", "price": 1}, {"product_id": "p2", "price": 2}]}),
    );
    v["timestamp"] = json!("1971-01-01T00:00:00.000Z");
    let req = request_for(&settings(), v);
    let earliest = super::mapping::earliest_time().timestamp_millis();
    let times: Vec<i64> = req["body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["properties"]["time"].as_i64().unwrap())
        .collect();
    assert_eq!(times, [earliest; 3]);
}
