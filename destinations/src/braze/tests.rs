//! Unit and snapshot tests of the Braze mapping, request and response handling.

use super::mock::{self, BrazeMock};
use super::*;
use destination_kit::destination::parse_settings;
use destination_kit::{ErrorKind, HttpClient, Verdict};
use serde_json::{Value, json};
use spec_tests::snapshot::{map_json, payloads, show_request as show};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NOW: &str = "2026-01-10T12:00:00Z";

fn settings_with(extra: Value) -> BrazeSettings {
    let mut v = json!({
        "api_key": mock::API_KEY,
        "rest_endpoint": "https://rest.iad-01.braze.com",
        "app_id": "app-123",
        "now": NOW,
    });
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    parse_settings(v).expect("valid settings")
}

fn settings() -> BrazeSettings {
    settings_with(json!({}))
}

fn base(call: &str, id: &str) -> Value {
    json!({
        "type": call,
        "messageId": id,
        "userId": "user-1",
        "anonymousId": "anon-1",
        "timestamp": "2026-01-09T08:30:00.250Z",
    })
}

fn track(event: &str, id: &str, props: Value) -> Value {
    let mut v = base("track", id);
    v["event"] = json!(event);
    v["properties"] = props;
    v
}

fn map_with(s: &BrazeSettings, v: Value) -> Mapped {
    map_json(&Braze, s, v)
}

fn request_for(s: &BrazeSettings, v: Value) -> Value {
    let p = payloads(map_with(s, v));
    let route = p[0].route.to_string();
    assert!(p.iter().all(|x| x.route == route));
    show(&Braze.request(s, &route, &p))
}

fn body_of(v: Value) -> Value {
    request_for(&settings(), v)["body"].clone()
}

// ---- settings --------------------------------------------------------------------------------

#[test]
fn rest_endpoint_is_validated() {
    let ok = |e: &str| {
        parse_settings::<BrazeSettings>(json!({"api_key": "k", "rest_endpoint": e})).map(|_| ())
    };
    assert!(ok("https://rest.iad-01.braze.com").is_ok());
    assert!(ok("https://rest.fra-02.braze.eu/").is_ok());
    assert!(ok("https://rest.us-10.braze.com").is_ok());
    assert!(ok("http://127.0.0.1:8080").is_ok());
    for bad in [
        "https://dashboard-01.braze.com",
        "https://rest.iad-01.braze.com/users/track",
        "http://rest.iad-01.braze.com",
        "rest.iad-01.braze.com",
        "https://rest.iad01.braze.com",
    ] {
        let e = ok(bad).unwrap_err();
        assert_eq!(e.key, "rest_endpoint", "{bad}: {e}");
    }
    let s = settings();
    assert!(!format!("{s:?}").contains(mock::API_KEY));
    let req = Braze.request(
        &s,
        "track",
        &payloads(map_with(&s, track("X", "m", json!({})))),
    );
    assert!(!format!("{req:?}").contains(mock::API_KEY));
    assert_eq!(
        req.headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str()),
        Some("Bearer braze-test-rest-key")
    );
}

// ---- mapping ---------------------------------------------------------------------------------

#[test]
fn anonymous_users_get_a_user_alias_that_creates_the_profile() {
    let mut v = track("Clicked", "m-anon", json!({"$secret": 1, "a": 1}));
    v.as_object_mut().unwrap().remove("userId");
    let b = body_of(v);
    let e = &b["events"][0];
    assert_eq!(
        e["user_alias"],
        json!({"alias_name": "anon-1", "alias_label": "anonymous_id"})
    );
    assert_eq!(e["_update_existing_only"], false);
    assert!(e.get("external_id").is_none());
    // keys with a leading $ are refused by Braze and dropped
    assert_eq!(e["properties"], json!({"a": 1}));
}

#[test]
fn future_events_are_rejected_and_old_ones_sent() {
    let mut v = track("Clicked", "m-f", json!({}));
    v["timestamp"] = json!("2026-01-10T13:00:01Z");
    match map_with(&settings(), v) {
        Mapped::Invalid { reason } => assert!(reason.contains("1 hour"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let mut old = track("Clicked", "m-o", json!({}));
    old["timestamp"] = json!("2019-03-01T00:00:00Z");
    assert_eq!(
        body_of(old)["events"][0]["time"],
        "2019-03-01T00:00:00.000Z"
    );
}

#[test]
fn ecommerce_event_lacking_required_fields_falls_back_to_a_custom_event() {
    // no price on the product: Braze would drop ecommerce.order_placed, so it goes as a custom event
    let b = body_of(track(
        "Order Completed",
        "m-oc-bad",
        json!({"order_id": "o1", "total": 10, "products": [{"product_id": "p1", "name": "Pen"}]}),
    ));
    assert_eq!(b["events"][0]["name"], "Order Completed");
    // negative total: also a custom event
    let b = body_of(track(
        "Order Refunded",
        "m-or-neg",
        json!({"order_id": "o1", "total": -5}),
    ));
    assert_eq!(b["events"][0]["name"], "Order Refunded");
    // a product id in sku only, no variant: variant_id falls back to the sku
    let b = body_of(track(
        "Product Viewed",
        "m-pv",
        json!({"sku": "SKU-1", "name": "Pen", "price": "2.50"}),
    ));
    assert_eq!(b["events"][0]["name"], "ecommerce.product_viewed");
    assert_eq!(b["events"][0]["properties"]["variant_id"], "SKU-1");
    assert_eq!(b["events"][0]["properties"]["price"], 2.5);
}

#[test]
fn v1_alias_is_recognised_and_mapped_natively() {
    let b = body_of(track(
        "Completed Order",
        "m-v1",
        json!({"order_id": "o9", "total": 0, "products": []}),
    ));
    assert_eq!(b["events"][0]["name"], "ecommerce.order_placed");
}

#[test]
fn identify_without_traits_is_filtered_and_alias_needs_both_ids() {
    assert!(matches!(
        map_with(&settings(), base("identify", "m-i")),
        Mapped::Unsupported { .. }
    ));
    let mut a = base("alias", "m-a");
    a.as_object_mut().unwrap().remove("userId");
    a["previousId"] = json!("anon-1");
    assert!(matches!(map_with(&settings(), a), Mapped::Invalid { .. }));
}

// ---- snapshots -------------------------------------------------------------------------------

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
fn snapshot_ecommerce() {
    let order = json!({
        "checkout_id": "c1", "order_id": "o1", "affiliation": "Store", "subtotal": 22.5, "total": 27.5,
        "revenue": 25.0, "shipping": 3, "tax": 2, "discount": 2.5, "coupon": "HIVER", "currency": "EUR",
        "products": [
            {"product_id": "p1", "sku": "S-1", "name": "Monopoly", "price": 19, "quantity": 1, "category": "Games", "url": "https://shop.example/p1", "image_url": "https://shop.example/p1.jpg"},
            {"product_id": "p2", "sku": "S-2", "name": "Uno", "price": 3.5, "quantity": 2, "variant": "deluxe"}
        ]
    });
    insta::assert_json_snapshot!(
        "order_completed",
        request_for(&settings(), track("Order Completed", "m-oc", order))
    );
    insta::assert_json_snapshot!(
        "product_added",
        request_for(
            &settings(),
            track(
                "Product Added",
                "m-pa",
                json!({"cart_id": "cart-7", "product_id": "p1", "name": "Monopoly", "price": 19, "quantity": 2, "brand": "Hasbro"})
            )
        )
    );
    insta::assert_json_snapshot!(
        "product_viewed",
        request_for(
            &settings(),
            track(
                "Product Viewed",
                "m-pv",
                json!({"product_id": "p1", "name": "Monopoly", "variant": "classic", "price": 19, "currency": "USD", "category": "Games"})
            )
        )
    );
    insta::assert_json_snapshot!(
        "order_cancelled",
        request_for(
            &settings(),
            track(
                "Order Cancelled",
                "m-ocx",
                json!({"order_id": "o1", "total": 27.5, "currency": "EUR"})
            )
        )
    );
    insta::assert_json_snapshot!(
        "cart_viewed_custom",
        request_for(
            &settings(),
            track(
                "Cart Viewed",
                "m-cv",
                json!({"cart_id": "cart-7", "products": [{"product_id": "p1"}]})
            )
        )
    );
}

#[test]
fn snapshot_video_and_live_chat() {
    insta::assert_json_snapshot!(
        "video_playback_started",
        request_for(
            &settings(),
            track(
                "Video Playback Started",
                "m-vid",
                json!({"session_id": "s1", "content_asset_ids": ["a1"], "position": 0, "total_length": 392, "livestream": false})
            )
        )
    );
    insta::assert_json_snapshot!(
        "live_chat_message_sent",
        request_for(
            &settings(),
            track(
                "Live Chat Message Sent",
                "m-chat",
                json!({"agent_id": "ag1", "conversation_id": "cv1", "message_body": "hi"})
            )
        )
    );
}

#[test]
fn snapshot_email() {
    insta::assert_json_snapshot!(
        "unsubscribed_list",
        request_for(
            &settings(),
            track(
                "Unsubscribed",
                "m-unsub",
                json!({"email_id": "e1", "campaign_id": "c1", "list_id": "0b0e1c6a-list", "list_name": "Weekly"})
            )
        )
    );
    insta::assert_json_snapshot!(
        "unsubscribed_global",
        request_for(
            &settings(),
            track("Unsubscribed", "m-unsub2", json!({"email_id": "e1"}))
        )
    );
    insta::assert_json_snapshot!(
        "marked_as_spam",
        request_for(
            &settings(),
            track(
                "Email Marked as Spam",
                "m-spam",
                json!({"email_id": "e1", "email_subject": "Sale"})
            )
        )
    );
    insta::assert_json_snapshot!(
        "email_opened",
        request_for(
            &settings(),
            track(
                "Email Opened",
                "m-open",
                json!({"email_id": "e1", "campaign_name": "Winter"})
            )
        )
    );
}

#[test]
fn snapshot_calls() {
    let mut page = base("page", "m-page");
    page["name"] = json!("Pricing");
    page["category"] = json!("Docs");
    page["properties"] = json!({"path": "/pricing"});
    insta::assert_json_snapshot!("page", request_for(&settings(), page));
    let mut screen = base("screen", "m-screen");
    screen["name"] = json!("Home");
    insta::assert_json_snapshot!("screen", request_for(&settings(), screen));
    let mut ident = base("identify", "m-ident");
    ident["traits"] = json!({"email": "ada@example.com", "firstName": "Ada", "last_name": "Lovelace",
        "phone": "+44 20 7946 0000", "birthday": "1815-12-10T00:00:00Z", "gender": "female",
        "address": {"city": "London", "country": "GB"}, "plan": "pro"});
    insta::assert_json_snapshot!("identify", request_for(&settings(), ident));
    let mut group = base("group", "m-group");
    group["groupId"] = json!("acme-inc");
    group["traits"] = json!({"name": "Acme"});
    insta::assert_json_snapshot!("group", request_for(&settings(), group));
    let mut alias = base("alias", "m-alias");
    alias["previousId"] = json!("anon-1");
    insta::assert_json_snapshot!("alias", request_for(&settings(), alias));
}

// ---- quirks against the mock -----------------------------------------------------------------

const MOCK_NOW_SECS: u64 = 1_768_046_400; // 2026-01-10T12:00:00Z

fn mock_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(MOCK_NOW_SECS)
}

fn mock_settings(mock: &BrazeMock) -> BrazeSettings {
    let mut v = mock.settings();
    v["now"] = json!(NOW);
    parse_settings(v).expect("mock settings")
}

async fn send(s: &BrazeSettings, batch: &[Payload]) -> (u16, Verdicts) {
    let http = HttpClient::new(Duration::from_secs(5));
    let route = batch[0].route.to_string();
    let req = Braze.request(s, &route, batch);
    let resp = Braze
        .send(s, &http, req, batch)
        .await
        .expect("the mock answers");
    let v = Braze.interpret(s, &resp, batch, mock_now());
    assert_eq!(v.len(), batch.len());
    (resp.status, v)
}

/// attributes and events interleaved: [attr0, ev0, attr1, ev1, ev2]
fn mixed() -> Vec<Payload> {
    let s = settings();
    let mut out = Vec::new();
    let mut ident = base("identify", "m-i0");
    ident["traits"] = json!({"plan": "a"});
    out.extend(payloads(map_with(&s, ident.clone())));
    out.extend(payloads(map_with(&s, track("A", "m-e0", json!({})))));
    ident["traits"] = json!({"plan": "b"});
    out.extend(payloads(map_with(&s, ident)));
    out.extend(payloads(map_with(&s, track("B", "m-e1", json!({})))));
    out.extend(payloads(map_with(&s, track("C", "m-e2", json!({})))));
    out
}

fn failed_positions(v: &Verdicts) -> Vec<usize> {
    v.iter()
        .enumerate()
        .filter(|(_, v)| matches!(v, Verdict::Failed { .. }))
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test]
async fn quirk_201_errors_map_back_per_array() {
    let mock = BrazeMock::start().await.reject_indices("events", [1]);
    let s = mock_settings(&mock);
    let mut batch = mixed();
    // attribute 1 (batch position 2) has no identifier: the mock lists attributes[1]
    batch[2] = Payload::json("track", &json!({"plan": "b"})).part("attributes");
    let (status, v) = send(&s, &batch).await;
    assert_eq!(status, 201);
    // events[1] is batch position 3; attributes[1] is batch position 2
    assert_eq!(failed_positions(&v), vec![2, 3]);
    assert!(
        matches!(v.get(2), Some(Verdict::Failed { kind: ErrorKind::Client, reason }) if reason.contains("attributes") && reason.contains("required"))
    );
    assert_eq!(v.get(0), Some(&Verdict::Delivered));
    assert_eq!(v.get(4), Some(&Verdict::Delivered));
    assert_eq!(mock.processed(), [1, 2, 0]);
    let reqs = mock.received().await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].url.path(), "/users/track");
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body["attributes"].as_array().unwrap().len(), 2);
    assert_eq!(body["events"].as_array().unwrap().len(), 3);
    assert!(body.get("purchases").is_none());
}

#[tokio::test]
async fn quirk_strict_ecommerce_schema_is_enforced_by_the_mock() {
    let mock = BrazeMock::start().await;
    let s = mock_settings(&mock);
    let good = payloads(map_with(
        &s,
        track(
            "Order Completed",
            "m-oc",
            json!({"order_id": "o1", "total": 5, "products": [{"product_id": "p", "name": "n", "price": 5}]}),
        ),
    ));
    let bad = Payload::json(
        "track",
        &json!({"external_id": "u", "name": "ecommerce.order_placed", "time": "2026-01-09T00:00:00Z",
            "properties": {"order_id": "o2", "total_value": -1, "currency": "USD", "products": [], "source": "x", "color": "red"}}),
    )
    .part("events");
    let batch = vec![good[0].clone(), bad];
    let (status, v) = send(&s, &batch).await;
    assert_eq!(status, 201);
    assert_eq!(v.get(0), Some(&Verdict::Delivered));
    assert!(
        matches!(v.get(1), Some(Verdict::Failed { reason, .. }) if reason.contains("metadata") || reason.contains(">= 0"))
    );
    assert_eq!(mock.processed(), [0, 1, 0]);
}

#[tokio::test]
async fn quirk_fatal_message_fails_all_even_with_2xx() {
    let mock = BrazeMock::start().await.fatal_next(1);
    let s = mock_settings(&mock);
    let (status, v) = send(&s, &mixed()).await;
    assert_eq!(status, 201);
    assert_eq!(failed_positions(&v), vec![0, 1, 2, 3, 4]);
    assert_eq!(mock.processed(), [0, 0, 0]);
    assert_eq!(mock.received().await.len(), 1);
}

#[tokio::test]
async fn quirk_202_queued_is_delivered() {
    let mock = BrazeMock::start().await.queued_next(1);
    let s = mock_settings(&mock);
    let (status, v) = send(&s, &mixed()).await;
    assert_eq!(status, 202);
    assert!(v.iter().all(|v| *v == Verdict::Delivered));
}

#[tokio::test]
async fn quirk_429_waits_for_x_ratelimit_reset_and_5xx_retries() {
    let mock = BrazeMock::start()
        .await
        .now(NOW.parse().unwrap())
        .throttle_next(1, 5)
        .fail_next(1, 502)
        .throttle_retry_after(1, 9);
    let s = mock_settings(&mock);
    let (status, v) = send(&s, &mixed()).await;
    assert_eq!(status, 429);
    assert!(v.iter().all(|v| matches!(v,
        Verdict::Retry { kind: ErrorKind::Throttling, after: Some(d), .. } if *d == Duration::from_secs(5))), "{v:?}");
    let (status, v) = send(&s, &mixed()).await;
    assert_eq!(status, 502);
    assert!(v.iter().all(|v| matches!(
        v,
        Verdict::Retry {
            kind: ErrorKind::Server,
            ..
        }
    )));
    // Retry-After, when present, wins over X-RateLimit-Reset (3 s after the mock's clock)
    let (status, v) = send(&s, &mixed()).await;
    assert_eq!(status, 429);
    assert!(v.iter().all(|v| matches!(v,
        Verdict::Retry { kind: ErrorKind::Throttling, after: Some(d), .. } if *d == Duration::from_secs(9))), "{v:?}");
    let (status, v) = send(&s, &mixed()).await;
    assert_eq!(status, 201);
    assert!(v.iter().all(|v| *v == Verdict::Delivered));
    assert_eq!(mock.received().await.len(), 4);
    assert_eq!(mock.processed(), [2, 3, 0]);
}

#[tokio::test]
async fn quirk_wrong_key_is_auth_and_76_events_are_refused() {
    let mock = BrazeMock::start().await;
    let mut v = mock.settings();
    v["api_key"] = json!("wrong");
    let wrong: BrazeSettings = parse_settings(v).unwrap();
    let (status, verdicts) = send(&wrong, &mixed()).await;
    assert_eq!(status, 401);
    assert!(verdicts.iter().all(|v| matches!(
        v,
        Verdict::Failed {
            kind: ErrorKind::Auth,
            ..
        }
    )));
    let s = mock_settings(&mock);
    let many: Vec<Payload> = (0..76)
        .flat_map(|i| payloads(map_with(&s, track("E", &format!("m{i}"), json!({})))))
        .collect();
    let (status, verdicts) = send(&s, &many).await;
    assert_eq!(status, 400);
    assert!(verdicts.iter().all(|v| matches!(v, Verdict::Failed { kind: ErrorKind::Client, reason } if reason.contains("Max Input Length"))));
    assert_eq!(mock.processed(), [0, 0, 0]);
}

#[tokio::test]
async fn alias_merges_through_users_merge() {
    let mock = BrazeMock::start().await;
    let s = mock_settings(&mock);
    let mut a = base("alias", "m-al");
    a["previousId"] = json!("anon-1");
    let p = payloads(map_with(&s, a));
    let (status, v) = send(&s, &p).await;
    assert_eq!(status, 202);
    assert_eq!(v.into_vec(), vec![Verdict::Delivered]);
    assert_eq!(mock.merged(), 1);
    let reqs = mock.received().await;
    assert_eq!(reqs[0].url.path(), "/users/merge");
}

#[tokio::test]
async fn mock_checks_objects_like_braze() {
    let mock = BrazeMock::start().await;
    let s = mock_settings(&mock);
    let ev = |o: Value| Payload::json("track", &o).part("events");
    let batch = vec![
        ev(json!({"external_id": "u", "name": "ok", "time": "2026-01-09T08:30:00.250Z"})),
        ev(json!({"external_id": "u", "name": "epoch", "time": 1_767_947_400})),
        ev(json!({"external_id": "u", "time": "2026-01-09T08:30:00Z"})),
        ev(
            json!({"external_id": "u", "name": "x", "time": "2026-01-09T08:30:00Z", "properties": {"$x": 1}}),
        ),
        ev(
            json!({"external_id": "u", "name": "ecommerce.product_viewed", "time": "2026-01-09T08:30:00Z",
            "properties": {"product_id": "p", "product_name": "n", "variant_id": "v", "price": 1, "currency": "USD"}}),
        ),
        Payload::json(
            "track",
            &json!({"external_id": "u", "product_id": "p", "currency": "USD", "price": 2.5,
            "time": "2026-01-09T08:30:00Z"}),
        )
        .part("purchases"),
        Payload::json(
            "track",
            &json!({"external_id": "u", "product_id": "p", "currency": "US", "price": 2.5,
            "time": "2026-01-09T08:30:00Z"}),
        )
        .part("purchases"),
    ];
    let (status, v) = send(&s, &batch).await;
    assert_eq!(status, 201);
    assert_eq!(failed_positions(&v), vec![1, 2, 3, 4, 6]);
    let reason = |i: usize| match v.get(i) {
        Some(Verdict::Failed { reason, .. }) => reason.clone(),
        other => panic!("{other:?}"),
    };
    assert!(reason(1).contains("ISO 8601"));
    assert!(reason(2).contains("'name'"));
    assert!(reason(3).contains("'$'"));
    assert!(reason(4).contains("'source' is required"));
    assert!(reason(6).contains("purchases") && reason(6).contains("currency"));
    assert_eq!(mock.processed(), [0, 1, 1]);
}

/// A birthday in another script (byte 10 inside a character) is left out; the identify still
/// carries every other trait (it used to panic and reject the whole event).
#[test]
fn a_birthday_not_in_iso_form_is_left_out_and_the_rest_goes() {
    let mut ident = base("identify", "m-bday");
    ident["traits"] = json!({"email": "ada@example.com", "birthday": "1990年5月1日"});
    let a = &body_of(ident)["attributes"][0];
    assert_eq!(a["email"], "ada@example.com");
    assert!(a.get("dob").is_none(), "{a}");
    let mut ident = base("identify", "m-bday2");
    ident["traits"] = json!({"birthday": "1990-05-01T00:00:00Z"});
    assert_eq!(body_of(ident)["attributes"][0]["dob"], "1990-05-01");
}

/// Every property whose value did not go into a Braze field is in `metadata`: a `revenue`
/// beside the `total` taken, an `order_id` beside the `checkout_id` taken, a refund's `cart_id`,
/// a completed order's `reason`.
#[test]
fn properties_not_taken_into_braze_fields_stay_in_metadata() {
    let props_of = |event: &str, props: Value| {
        body_of(track(event, "m-meta", props))["events"][0]["properties"].clone()
    };
    let p = props_of(
        "Order Completed",
        json!({"order_id": "o1", "total": 27.5, "revenue": 25.0, "reason": "gift", "products": []}),
    );
    assert_eq!(p["total_value"], json!(27.5));
    assert_eq!(p["metadata"], json!({"revenue": 25.0, "reason": "gift"}));
    let p = props_of(
        "Checkout Started",
        json!({"checkout_id": "c1", "order_id": "o1", "value": 30, "revenue": 25.0, "products": []}),
    );
    assert_eq!(
        (&p["checkout_id"], &p["total_value"]),
        (&json!("c1"), &json!(30.0))
    );
    assert_eq!(p["metadata"], json!({"order_id": "o1", "revenue": 25.0}));
    let p = props_of(
        "Order Refunded",
        json!({"order_id": "o1", "total": 5, "cart_id": "cart-9", "products": []}),
    );
    assert_eq!(p["metadata"], json!({"cart_id": "cart-9"}));
    // what was taken is not repeated
    let p = props_of(
        "Order Cancelled",
        json!({"order_id": "o1", "total": 5, "reason": "late", "products": []}),
    );
    assert_eq!(p["cancel_reason"], "late");
    assert!(p.get("metadata").is_none(), "{p}");
}

/// An address's fields beyond city and country go as a nested custom attribute.
#[test]
fn the_rest_of_an_address_is_a_nested_custom_attribute() {
    let mut ident = base("identify", "m-addr");
    ident["traits"] = json!({"address": {"city": "London", "country": "GB",
        "street": "12 St James's Sq", "postalCode": "SW1Y 4LB"}});
    let a = &body_of(ident)["attributes"][0];
    assert_eq!(
        (&a["home_city"], &a["country"]),
        (&json!("London"), &json!("GB"))
    );
    assert_eq!(
        a["address"],
        json!({"street": "12 St James's Sq", "postalCode": "SW1Y 4LB"})
    );
}

/// A page is `Viewed {category} {name} Page` (partners.md), leaving out what it lacks.
#[test]
fn page_names_carry_the_category() {
    let name_of = |name: Option<&str>, category: Option<&str>| {
        let mut page = base("page", "m-page");
        if let Some(n) = name {
            page["name"] = json!(n);
        }
        if let Some(c) = category {
            page["category"] = json!(c);
        }
        body_of(page)["events"][0]["name"].clone()
    };
    assert_eq!(
        name_of(Some("Pricing"), Some("Docs")),
        "Viewed Docs Pricing Page"
    );
    assert_eq!(name_of(Some("Pricing"), None), "Viewed Pricing Page");
    assert_eq!(name_of(None, Some("Docs")), "Viewed Docs Page");
    assert_eq!(name_of(None, None), "Viewed Page");
}

/// Braze's product_viewed has no quantity: a quantity Braze would refuse in a cart (0, 1.5)
/// does not turn a Product Viewed into a plain custom event; it stays in `metadata`.
#[test]
fn a_product_viewed_is_native_whatever_its_quantity() {
    let b = body_of(track(
        "Product Viewed",
        "m-pv-q0",
        json!({"product_id": "p1", "name": "Pen", "price": 2, "quantity": 0}),
    ));
    assert_eq!(b["events"][0]["name"], "ecommerce.product_viewed");
    assert_eq!(
        b["events"][0]["properties"]["metadata"],
        json!({"quantity": 0})
    );
}
