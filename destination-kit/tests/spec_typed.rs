//! Typed reads of specced events: lenient where clients are sloppy, strict where it matters,
//! with exact error paths; recognition only of track calls with exact names or v1 aliases.

use destination_kit::event::Message;
use destination_kit::spec::{
    Ecommerce, Email, Family, LiveChat, OneOrMany, SpecEvent, Video, recognise,
};
use serde_json::{Value, json};

fn track(event: &str, properties: Value) -> Message {
    Message::from_value(json!({
        "type": "track", "event": event, "userId": "u1", "messageId": "m1",
        "timestamp": "2026-03-14T09:00:00Z", "properties": properties,
    }))
    .unwrap()
}

fn read(event: &str, properties: Value) -> Result<SpecEvent, Vec<String>> {
    match SpecEvent::from_message(&track(event, properties)) {
        Some(r) => r.map_err(|errs| errs.iter().map(|e| e.to_string()).collect()),
        None => panic!("{event} not recognised"),
    }
}

fn order(properties: Value) -> destination_kit::spec::OrderCompleted {
    match read("Order Completed", properties) {
        Ok(SpecEvent::Ecommerce(Ecommerce::OrderCompleted(o))) => o,
        other => panic!("{other:?}"),
    }
}

#[test]
fn numeric_strings_read_as_numbers() {
    let o = order(json!({"total": "12.50", "tax": " 2 ", "shipping": "1e1",
        "products": [{"price": "7.25", "quantity": "3"}]}));
    assert_eq!(o.total, Some(12.5));
    assert_eq!(o.tax, Some(2.0));
    assert_eq!(o.shipping, Some(10.0));
    assert_eq!(o.products[0].price, Some(7.25));
    assert_eq!(o.products[0].quantity, Some(3.0));
}

#[test]
fn unparseable_numbers_are_errors_with_the_exact_path() {
    let errs = read(
        "Order Completed",
        json!({"total": "abc", "products": [{"price": 1}, {"price": 2}, {"price": "abc"}]}),
    )
    .unwrap_err();
    assert_eq!(
        errs,
        [
            r#"properties.total: expected a number, got "abc""#,
            r#"properties.products[2].price: expected a number, got "abc""#,
        ]
    );
    for bad in [
        json!("NaN"),
        json!("inf"),
        json!(""),
        json!("12,50"),
        json!(true),
        json!([1]),
    ] {
        let errs = read("Order Completed", json!({ "revenue": bad })).unwrap_err();
        assert_eq!(errs.len(), 1, "{bad}");
        assert!(
            errs[0].starts_with("properties.revenue: expected a number, got "),
            "{bad}"
        );
    }
}

#[test]
fn wrong_shapes_are_errors_with_the_exact_path() {
    let errs = read("Order Completed", json!({"products": {"0": {"price": 1}}})).unwrap_err();
    assert_eq!(
        errs,
        ["properties.products: expected an array, got an object"]
    );
    let errs = read("Cart Viewed", json!({"products": [null, 3]})).unwrap_err();
    assert_eq!(
        errs,
        [
            "properties.products[0]: expected an object, got null",
            "properties.products[1]: expected an object, got 3",
        ]
    );
    let errs = read(
        "Order Completed",
        json!({"order_id": ["o1"], "currency": {"code": "USD"}}),
    )
    .unwrap_err();
    assert_eq!(
        errs,
        [
            "properties.order_id: expected a string, got an array",
            "properties.currency: expected a string, got an object",
        ]
    );
    let errs = read("Video Ad Playing", json!({"content": {"position": "late"}})).unwrap_err();
    assert_eq!(
        errs,
        [r#"properties.content.position: expected an integer, got "late""#]
    );
    let errs = read("Product Viewed", json!({"price": "free"})).unwrap_err();
    assert_eq!(errs, [r#"properties.price: expected a number, got "free""#]);
}

#[test]
fn integers_accept_whole_floats_and_reject_fractions() {
    let paused = |p: Value| match read("Video Playback Paused", p) {
        Ok(SpecEvent::Video(Video::PlaybackPaused(p))) => Ok(p),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    };
    let p = paused(json!({"position": 3.0, "sound": "80", "total_length": "1392.0"})).unwrap();
    assert_eq!(
        (p.position, p.sound, p.total_length),
        (Some(3), Some(80), Some(1392))
    );
    assert_eq!(
        paused(json!({"position": 3.5})).unwrap_err(),
        ["properties.position: expected an integer, got 3.5"]
    );
    assert_eq!(
        paused(json!({"bitrate": 1e300})).unwrap_err(),
        ["properties.bitrate: expected an integer, got 1e+300"]
    );
    assert_eq!(
        paused(json!({"full_screen": 1})).unwrap_err(),
        ["properties.full_screen: expected a boolean, got 1"]
    );
    let p = paused(json!({"full_screen": "TRUE", "ad_enabled": "false"})).unwrap();
    assert_eq!((p.full_screen, p.ad_enabled), (Some(true), Some(false)));
}

#[test]
fn explicit_null_is_absent() {
    let o = order(json!({"total": null, "coupon": null, "products": null}));
    assert_eq!((o.total, o.coupon, o.products.len()), (None, None, 0));
    let o = order(json!({"products": [{"price": null, "name": "Mug"}]}));
    assert_eq!(
        (o.products[0].price, o.products[0].name.as_deref()),
        (None, Some("Mug"))
    );
}

#[test]
fn ids_sent_as_numbers_read_as_strings() {
    let o = order(json!({"order_id": 104729, "products": [{"product_id": 17, "sku": 4.5}]}));
    assert_eq!(o.order_id.as_deref(), Some("104729"));
    assert_eq!(o.products[0].product_id.as_deref(), Some("17"));
    assert_eq!(o.products[0].sku.as_deref(), Some("4.5"));
}

#[test]
fn v1_aliases_recognise_the_v2_event() {
    for (alias, name) in [
        ("Completed Order", "Order Completed"),
        ("Viewed Product", "Product Viewed"),
        ("Started Order", "Checkout Started"),
        ("Viewed Product Category", "Product List Viewed"),
    ] {
        let spec = read(alias, json!({})).unwrap();
        assert_eq!(spec.name(), name);
        assert_eq!(spec.family(), Family::Ecommerce);
        assert!(spec.kind().v1_aliases.contains(&alias));
    }
    let o = match read("Completed Order", json!({"total": "27.50"})).unwrap() {
        SpecEvent::Ecommerce(Ecommerce::OrderCompleted(o)) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(o.total, Some(27.5));
}

#[test]
fn only_track_calls_with_exact_names_are_recognised() {
    assert!(SpecEvent::from_message(&track("order completed", json!({}))).is_none());
    assert!(SpecEvent::from_message(&track("Order Completed ", json!({}))).is_none());
    assert!(SpecEvent::from_message(&track("Signed Up", json!({}))).is_none());
    let page = Message::from_value(json!({"type": "page", "event": "Order Completed",
        "name": "Order Completed", "userId": "u1"}))
    .unwrap();
    assert!(SpecEvent::from_message(&page).is_none());
    // properties that are not an object read as empty here; validate reports them
    let msg = Message::from_value(json!({"type": "track", "event": "Order Completed",
        "userId": "u1", "messageId": "m1", "properties": [1]}))
    .unwrap();
    assert!(matches!(SpecEvent::from_message(&msg), Some(Ok(_))));
    let paths: Vec<String> = msg.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["properties"]);
}

#[test]
fn validate_reports_typed_property_errors() {
    let msg = track("Order Completed", json!({"products": [{"price": "abc"}]}));
    let errs: Vec<String> = msg.validate().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errs,
        [r#"properties.products[0].price: expected a number, got "abc""#]
    );
}

#[test]
fn product_level_events_read_the_product_flat() {
    match read(
        "Product Added",
        json!({"cart_id": "c1", "product_id": "p1", "price": "9.99", "quantity": 2}),
    )
    .unwrap()
    {
        SpecEvent::Ecommerce(Ecommerce::ProductAdded(p)) => {
            assert_eq!(p.cart_id.as_deref(), Some("c1"));
            assert_eq!(p.product.id(), Some("p1"));
            assert_eq!(p.product.price, Some(9.99));
            assert_eq!(p.product.line_total(), Some(19.98));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn untyped_extras_stay_reachable() {
    let msg = track(
        "Product Viewed",
        json!({"product_id": "p1", "price": 3, "currency": "EUR", "color": "teal", "size": "M"}),
    );
    let spec = SpecEvent::from_message(&msg).unwrap().unwrap();
    let extras: Vec<(&str, &Value)> = spec.extras(&msg).collect();
    assert_eq!(extras, [("color", &json!("teal")), ("size", &json!("M"))]);
    assert!(spec.is_typed_key("price") && spec.is_typed_key("currency"));
    assert!(!spec.is_typed_key("color"));
    assert_eq!(msg.property("color"), Some(&json!("teal")));
}

#[test]
fn video_ids_read_one_or_many() {
    match read(
        "Video Playback Started",
        json!({"ad_asset_id": ["a1", "a2"], "ad_pod_id": "p1", "content_asset_ids": ["c1"]}),
    )
    .unwrap()
    {
        SpecEvent::Video(Video::PlaybackStarted(p)) => {
            let ads = p.ad_asset_id.unwrap();
            assert_eq!(ads.iter().collect::<Vec<_>>(), ["a1", "a2"]);
            assert_eq!(ads.first(), Some("a1"));
            assert_eq!(p.ad_pod_id, Some(OneOrMany::One("p1".into())));
            assert_eq!(p.content_asset_ids, ["c1"]);
        }
        other => panic!("{other:?}"),
    }
    let errs = read("Video Playback Paused", json!({"ad_pod_id": {"id": 1}})).unwrap_err();
    assert_eq!(
        errs,
        ["properties.ad_pod_id: expected a string or an array of strings, got an object"]
    );
}

#[test]
fn other_families_read_their_properties() {
    match read(
        "Live Chat Message Sent",
        json!({"conversation_duration": "41.5", "agent_id": 7}),
    )
    .unwrap()
    {
        SpecEvent::LiveChat(LiveChat::MessageSent(c)) => {
            assert_eq!(c.conversation_duration, Some(41.5));
            assert_eq!(c.agent_id.as_deref(), Some("7"));
        }
        other => panic!("{other:?}"),
    }
    match read("Unsubscribed", json!({"list_id": "l1"})).unwrap() {
        SpecEvent::Email(Email::Unsubscribed(u)) => assert_eq!(u.list_id.as_deref(), Some("l1")),
        other => panic!("{other:?}"),
    }
    let errs = read("Email Link Clicked", json!({"link_url": false})).unwrap_err();
    assert_eq!(errs, ["properties.link_url: expected a string, got false"]);
    let errs = read("Products Searched", json!({"query": ["boots"]})).unwrap_err();
    assert_eq!(
        errs,
        ["properties.query: expected a string or an object, got an array"]
    );
}

#[test]
fn kinds_serialise_as_inspect_prints_them() {
    let k = recognise("Video Ad Playing").unwrap();
    assert_eq!(
        serde_json::to_value(k).unwrap(),
        json!({"family": "video", "event": "Video Ad Playing"})
    );
    assert_eq!(Family::parse("ecommerce_v2"), Some(Family::Ecommerce));
    assert_eq!(Family::parse("live_chat"), Some(Family::LiveChat));
    assert_eq!(Family::LiveChat.to_string(), "live_chat");
}

#[test]
fn small_and_large_property_maps_read_alike() {
    // a small map is walked once, a large one looked up key by key: same values, same errors in
    // the same order
    let product = json!({"product_id": 7, "sku": "S-1", "price": "abc", "quantity": "2",
        "name": ["not", "a", "string"], "position": 3, "url": null});
    let props = |extra: usize| {
        let mut p = json!({"order_id": "o-1", "total": "x", "revenue": 10,
            "products": [product.clone(), product.clone()]});
        for i in 0..extra {
            p[format!("custom_{i:02}")] = json!(i);
            p["products"][0][format!("custom_{i:02}")] = json!(i);
        }
        p
    };
    let small = read("Order Completed", props(0));
    let large = read("Order Completed", props(40));
    let errors = small.clone().unwrap_err();
    assert_eq!(
        errors,
        vec![
            "properties.total: expected a number, got \"x\"",
            "properties.products[0].name: expected a string, got an array",
            "properties.products[0].price: expected a number, got \"abc\"",
            "properties.products[1].name: expected a string, got an array",
            "properties.products[1].price: expected a number, got \"abc\"",
        ]
    );
    assert_eq!(small, large);
    // and the values, where nothing is wrong
    let good = |extra: usize| {
        let mut p = json!({"order_id": 12, "total": "20.5", "coupon": "C",
            "products": [{"product_id": 7, "price": "2.5", "quantity": 4, "position": 1}]});
        for i in 0..extra {
            p[format!("z{i:02}")] = json!(i);
            p["products"][0][format!("z{i:02}")] = json!(i);
        }
        order(p)
    };
    let (s, l) = (good(0), good(40));
    assert_eq!(s, l);
    assert_eq!(s.order_id.as_deref(), Some("12"));
    assert_eq!(s.total, Some(20.5));
    assert_eq!(s.products[0].product_id.as_deref(), Some("7"));
    assert_eq!(s.products[0].line_total(), Some(10.0));
}
