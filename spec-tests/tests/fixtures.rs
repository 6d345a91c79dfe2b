//! The canonical fixtures against the catalog and the event model: every spec event has a
//! fixture; every fixture parses, validates clean, is recognised as its variant with its typed
//! fields read back, and survives a lossless round trip; edge cases stay valid; malformed
//! inputs give their exact errors; `examples/events.jsonl` is generated from the fixtures.

use destination_kit::event::{CallType, Message};
use destination_kit::spec::{
    ALL, Ecommerce, Email, Family, LiveChat, OneOrMany, Query, SpecEvent, SpecEventKind, Video,
    recognise,
};
use serde_json::Value;
use spec_tests::fixtures::{self, Stage};
use std::collections::HashSet;

fn catalog() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/segment-spec.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn parse(v: &Value) -> Message {
    let bytes = serde_json::to_vec(v).unwrap();
    Message::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {v}"))
}

fn spec_of(v: &Value) -> SpecEvent {
    let msg = parse(v);
    match SpecEvent::from_message(&msg) {
        Some(Ok(s)) => s,
        other => panic!("{:?} not recognised cleanly: {other:?}", msg.event()),
    }
}

#[test]
fn every_catalog_event_has_exactly_one_fixture() {
    let cat = catalog();
    for family in Family::ALL {
        let events = cat["specs"][family.catalog_key()]["events"]
            .as_array()
            .unwrap();
        for e in events {
            let name = e["name"].as_str().unwrap();
            let kind = recognise(name).unwrap_or_else(|| panic!("{name} not in spec::ALL"));
            assert!(
                fixtures::try_spec_event(kind).is_some(),
                "catalog event {name:?} has no fixture in spec-tests/fixtures/spec/{}.json",
                family.catalog_key()
            );
        }
    }
    let all = fixtures::all_spec_events();
    assert_eq!(all.len(), 55);
    let names: HashSet<&str> = all
        .iter()
        .map(|(_, v)| v["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 55, "a spec event has two fixtures");
}

#[test]
fn every_fixture_has_a_distinct_message_id_and_fixed_times() {
    let mut all: Vec<(String, Value)> = fixtures::all_spec_events()
        .into_iter()
        .map(|(k, v)| (k.name.to_string(), v))
        .collect();
    all.extend(
        fixtures::calls()
            .into_iter()
            .map(|(c, v)| (c.to_string(), v)),
    );
    all.extend(
        fixtures::edge_cases()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v)),
    );
    let mut seen = HashSet::new();
    for (name, v) in &all {
        let id = v["messageId"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: messageId"));
        assert!(
            seen.insert(id.to_string()),
            "{name}: messageId {id} used twice"
        );
        let msg = parse(v);
        assert!(msg.event_time().is_some(), "{name}: no event time");
    }
    assert_eq!(seen.len(), 55 + 6 + fixtures::edge_cases().len());
}

#[test]
fn every_spec_fixture_is_valid_realistic_and_complete() {
    let cat = catalog();
    for (kind, v) in fixtures::all_spec_events() {
        let msg = parse(&v);
        assert_eq!(msg.call(), CallType::Track);
        assert_eq!(msg.validate(), vec![], "{}", kind.name);
        assert!(msg.user_id().is_some(), "{}: userId", kind.name);
        assert!(msg.timestamp().is_some(), "{}: timestamp", kind.name);
        let ctx = msg.context();
        assert!(ctx.library().is_some(), "{}: context.library", kind.name);
        assert!(ctx.ip().is_some(), "{}: context.ip", kind.name);
        assert!(
            ctx.user_agent().is_some(),
            "{}: context.userAgent",
            kind.name
        );
        if kind.family == Family::Email {
            assert!(msg.email().is_some(), "{}: context.traits.email", kind.name);
        }
        // every documented property is there, product lists hold two products
        let cat_event = cat["specs"][kind.family.catalog_key()]["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == kind.name)
            .unwrap();
        let props = msg.properties().unwrap();
        for p in cat_event["properties"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            assert!(
                props.contains_key(name),
                "{}: property {name} missing",
                kind.name
            );
            if p["type"] == "array<product>" {
                assert_eq!(
                    props[name].as_array().unwrap().len(),
                    2,
                    "{}: {name}",
                    kind.name
                );
            }
        }
        assert_eq!(fixtures::spec_message(kind), msg);
        let spec = spec_of(&v);
        assert!(std::ptr::eq(spec.kind(), kind), "{}", kind.name);
        assert_eq!(spec.family(), kind.family);
        assert_eq!(spec.name(), kind.name);
        assert_eq!(
            spec.extras(&msg).count(),
            0,
            "{}: untyped properties",
            kind.name
        );
        check_typed(kind, &spec);
    }
}

/// Real values of every fixture, read back through the typed structs.
fn check_typed(kind: &SpecEventKind, spec: &SpecEvent) {
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    match spec {
        SpecEvent::Ecommerce(e) => match e {
            Ecommerce::ProductsSearched(p) => {
                assert_eq!(
                    p.query.as_ref().and_then(Query::as_text),
                    Some("insulated water bottle")
                )
            }
            Ecommerce::ProductListViewed(p) => {
                assert_eq!(s(&p.list_id), "camp-kitchen-bestsellers");
                assert_eq!(p.products.len(), 2);
                assert_eq!(p.products[0].position, Some(1.0));
                assert_eq!(s(&p.products[1].name), "Enamel Camp Mug");
            }
            Ecommerce::ProductListFiltered(p) => {
                assert_eq!(s(&p.filters[1].filter_type), "price_max");
                assert_eq!(s(&p.filters[1].value), "30");
                assert_eq!(s(&p.sorts[0].value), "asc");
                assert_eq!(p.products[1].price, Some(7.5));
            }
            Ecommerce::PromotionViewed(p) => assert_eq!(s(&p.position), "home_hero"),
            Ecommerce::PromotionClicked(p) => {
                assert_eq!(s(&p.promotion_id), "promo_spring_kitchen");
                assert_eq!(s(&p.creative), "spring_banner_v2");
            }
            Ecommerce::ProductClicked(p) => {
                assert_eq!(s(&p.product.sku), "MUG-ENM-12-GRN");
                assert_eq!(p.product.position, Some(2.0));
            }
            Ecommerce::ProductViewed(p) => {
                assert_eq!(p.product.price, Some(7.5));
                assert_eq!(p.value, Some(15.0));
                assert_eq!(s(&p.currency), "USD");
            }
            Ecommerce::ProductAdded(p) => {
                assert_eq!(s(&p.cart_id), "cart_5d7f0b2e");
                assert_eq!(p.product.quantity, Some(2.0));
                assert_eq!(p.product.line_total(), Some(15.0));
            }
            Ecommerce::ProductRemoved(p) => {
                assert_eq!(p.product.id(), Some("prd_5f2a91c3"));
                assert_eq!(s(&p.product.brand), "Ridgeline Provisions");
            }
            Ecommerce::CartViewed(p) => {
                assert_eq!(p.products.len(), 2);
                assert_eq!(s(&p.products[0].coupon), "TRAIL5");
            }
            Ecommerce::CheckoutStarted(p) => {
                assert_eq!(p.value, Some(22.5));
                assert_eq!(
                    (p.shipping, p.tax, p.discount),
                    (Some(3.0), Some(2.0), Some(5.0))
                );
                assert_eq!(s(&p.affiliation), "Ridgeline Online Store");
            }
            Ecommerce::CheckoutStepViewed(p) => {
                assert_eq!(p.step, Some(2.0));
                assert_eq!(s(&p.shipping_method), "UPS Ground");
            }
            Ecommerce::CheckoutStepCompleted(p) => {
                assert_eq!(s(&p.payment_method), "Visa");
                assert_eq!(s(&p.checkout_id), "chk_e93a12f0");
            }
            Ecommerce::PaymentInfoEntered(p) => {
                assert_eq!(p.step, Some(3.0));
                assert_eq!(s(&p.order_id), "ord_104729");
            }
            Ecommerce::OrderUpdated(p) => {
                assert_eq!(p.total, Some(35.0));
                assert_eq!(p.products[1].quantity, Some(3.0));
            }
            Ecommerce::OrderCompleted(o) => {
                assert_eq!(o.total, Some(27.5));
                assert_eq!(o.subtotal, Some(22.5));
                assert_eq!(o.revenue, Some(22.5));
                assert_eq!(s(&o.coupon), "SPRING5");
                assert_eq!(o.products.len(), 2);
                assert_eq!(o.products[1].price, Some(7.5));
                assert_eq!(o.products[1].quantity, Some(2.0));
                let gross: f64 = o.products.iter().filter_map(|p| p.line_total()).sum();
                assert_eq!(gross - o.discount.unwrap(), o.subtotal.unwrap());
            }
            Ecommerce::OrderRefunded(p) => {
                assert_eq!(p.total, Some(27.5));
                assert_eq!(p.products.len(), 2);
            }
            Ecommerce::OrderCancelled(p) => {
                assert_eq!(s(&p.order_id), "ord_104733");
                assert_eq!(s(&p.currency), "USD");
            }
            Ecommerce::CouponEntered(p) => assert_eq!(s(&p.coupon_id), "SPRING5"),
            Ecommerce::CouponApplied(p) => {
                assert_eq!(p.discount, Some(5.0));
                assert_eq!(s(&p.coupon_name), "Spring $5 off");
            }
            Ecommerce::CouponDenied(p) => {
                assert_eq!(s(&p.coupon_id), "WINTER20");
                assert_eq!(s(&p.reason), "Coupon expired on 2026-02-28");
            }
            Ecommerce::CouponRemoved(p) => assert_eq!(s(&p.cart_id), "cart_5d7f0b2e"),
            Ecommerce::ProductAddedToWishlist(p) => {
                assert_eq!(s(&p.wishlist_name), "Summer Thru-Hike");
                assert_eq!(p.product.price, Some(349.0));
            }
            Ecommerce::ProductRemovedFromWishlist(p) => {
                assert_eq!(s(&p.wishlist_id), "wl_71c2d9");
                assert_eq!(s(&p.product.variant), "Sand");
            }
            Ecommerce::WishlistProductAddedToCart(p) => {
                assert_eq!(s(&p.cart_id), "cart_5d7f0b2e");
                assert_eq!(s(&p.product.name), "Two-Person Ultralight Tent");
            }
            Ecommerce::ProductShared(p) => {
                assert_eq!(s(&p.share_via), "email");
                assert_eq!(s(&p.recipient), "sam.okafor@example.net");
                assert_eq!(p.product.quantity, None);
            }
            Ecommerce::CartShared(p) => {
                assert_eq!(p.products.len(), 2);
                assert_eq!(s(&p.products[1].product_id), "prd_7b04e1d8");
                assert_eq!(p.products[1].price, None);
            }
            Ecommerce::ProductReviewed(p) => {
                assert_eq!(s(&p.rating), "4");
                assert!(s(&p.review_body).starts_with("Holds heat well"));
            }
        },
        SpecEvent::Video(v) => match v {
            Video::PlaybackStarted(p) => {
                assert_eq!(p.content_asset_ids, ["ca_0451", "ca_0452"]);
                assert_eq!(p.content_pod_ids.len(), 2);
                assert_eq!(
                    p.ad_asset_id,
                    Some(OneOrMany::Many(vec!["aa_9911".into(), "aa_9912".into()]))
                );
                assert_eq!(
                    p.ad_type.as_ref().and_then(OneOrMany::first),
                    Some("pre-roll")
                );
                assert_eq!((p.position, p.total_length), (Some(0), Some(1392)));
                assert_eq!(p.framerate, Some(29.97));
            }
            Video::PlaybackPaused(p)
            | Video::PlaybackBufferStarted(p)
            | Video::PlaybackBufferCompleted(p)
            | Video::PlaybackSeekCompleted(p)
            | Video::PlaybackResumed(p)
            | Video::PlaybackCompleted(p)
            | Video::PlaybackExited(p)
            | Video::PlaybackInterrupted(p)
            | Video::PlaybackSeekStarted(p) => {
                assert_eq!(s(&p.session_id), "vs_3c9e0f5a8b21");
                assert_eq!(s(&p.content_asset_id), "ca_0451");
                assert_eq!(p.ad_asset_id, None, "null reads as absent");
                assert_eq!(p.sound, Some(80));
                assert_eq!(p.ad_enabled, Some(true));
                assert!(p.position.unwrap() >= 312, "{}", kind.name);
                match v {
                    Video::PlaybackInterrupted(p) => assert_eq!(s(&p.method), "app_backgrounded"),
                    Video::PlaybackSeekStarted(p) => assert_eq!(p.seek_position, Some(540)),
                    Video::PlaybackBufferStarted(p) => assert_eq!(p.bitrate, Some(1800)),
                    Video::PlaybackExited(p) => assert_eq!(p.full_screen, Some(true)),
                    Video::PlaybackCompleted(p) => assert_eq!(p.position, p.total_length),
                    _ => assert_eq!(p.seek_position, None),
                }
            }
            Video::ContentStarted(c) | Video::ContentPlaying(c) | Video::ContentCompleted(c) => {
                assert_eq!(c.keywords, ["hiking", "alpine", "documentary"]);
                assert_eq!((s(&c.season), s(&c.episode)), ("2".into(), "4".into()));
                assert_eq!(c.total_length, Some(1320));
                assert_eq!(c.full_episode, Some(true));
                assert_eq!(s(&c.airdate), "2025-09-18T19:00:00Z");
                let expected = match v {
                    Video::ContentStarted(_) => 0,
                    Video::ContentPlaying(_) => 250,
                    _ => 1320,
                };
                assert_eq!(c.position, Some(expected));
            }
            Video::AdStarted(a) | Video::AdPlaying(a) | Video::AdCompleted(a) => {
                assert_eq!(s(&a.ad_type), "pre-roll");
                assert_eq!((a.pod_position, a.pod_length), (Some(1), Some(2)));
                assert_eq!(s(&a.load_type), "dynamic");
                assert_eq!(
                    a.content.as_ref().and_then(|c| c.title.clone()).as_deref(),
                    Some("Switchbacks: Above the Treeline")
                );
                let q = if matches!(v, Video::AdPlaying(_)) {
                    Some(2)
                } else {
                    None
                };
                assert_eq!(a.quartile, q);
            }
            Video::QualityUpdated(q) => {
                assert_eq!(q.bitrate, Some(4800));
                assert_eq!(q.startup_time, Some(1.42));
                assert_eq!(q.dropped_frames, Some(3));
            }
        },
        SpecEvent::LiveChat(c) => {
            let (LiveChat::ConversationStarted(p)
            | LiveChat::ConversationEnded(p)
            | LiveChat::MessageSent(p)
            | LiveChat::MessageReceived(p)) = c;
            assert_eq!(s(&p.agent_name), "Priya Raman");
            assert_eq!(s(&p.conversation_id), "conv_8d1f27");
            assert!(!s(&p.message_body).is_empty());
            if let LiveChat::ConversationEnded(p) = c {
                assert_eq!(p.conversation_duration, Some(312.0));
            }
        }
        SpecEvent::Email(e) => {
            let campaign = match e {
                Email::Bounced(p) => s(&p.campaign_name),
                Email::Delivered(p) => s(&p.campaign_name),
                Email::LinkClicked(p) => {
                    assert_eq!(s(&p.link_id), "lnk_hero_cta");
                    assert!(s(&p.link_url).starts_with("https://shop.ridgeline.example/sale/"));
                    s(&p.campaign_name)
                }
                Email::MarkedAsSpam(p) => s(&p.campaign_name),
                Email::Opened(p) => {
                    assert_eq!(s(&p.email_id), "em_2026w11_spring_4471");
                    s(&p.campaign_name)
                }
                Email::Unsubscribed(p) => {
                    assert_eq!(s(&p.list_name), "Weekly Trail Notes");
                    s(&p.campaign_name)
                }
            };
            assert_eq!(campaign, "Spring Sale 2026");
        }
    }
}

#[test]
fn every_fixture_round_trips_losslessly() {
    let mut all: Vec<Value> = fixtures::all_spec_events()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    all.extend(fixtures::calls().into_iter().map(|(_, v)| v));
    all.extend(fixtures::edge_cases().into_iter().map(|(_, v)| v));
    all.extend(fixtures::example_events());
    for v in &all {
        let msg = parse(v);
        assert_eq!(&msg.to_value(), v);
        let again: Value = serde_json::from_str(&msg.to_json()).unwrap();
        assert_eq!(&again, v);
        assert_eq!(&serde_json::to_value(&msg).unwrap(), v);
    }
    assert_eq!(all.len(), 55 + 6 + fixtures::edge_cases().len() + 66);
}

#[test]
fn the_six_calls_are_valid_and_not_spec_events() {
    let calls = fixtures::calls();
    let types: Vec<CallType> = calls.iter().map(|(c, _)| *c).collect();
    assert_eq!(types, CallType::ALL);
    for (call, v) in &calls {
        let msg = parse(v);
        assert_eq!(msg.call(), *call);
        assert_eq!(msg.validate(), vec![], "{call}");
        assert!(SpecEvent::from_message(&msg).is_none(), "{call}");
    }
    let identify = parse(&fixtures::call(CallType::Identify));
    assert_eq!(identify.email(), Some("alex.rivera@example.com"));
    assert_eq!(identify.first_name(), Some("Alex"));
    assert_eq!(
        identify.created_at().unwrap().to_rfc3339(),
        "2024-05-19T16:22:41+00:00"
    );
    let traits = identify.traits().unwrap();
    for t in [
        "address",
        "age",
        "avatar",
        "birthday",
        "company",
        "createdAt",
        "description",
        "email",
        "firstName",
        "gender",
        "id",
        "lastName",
        "name",
        "phone",
        "title",
        "username",
        "website",
    ] {
        assert!(traits.contains_key(t), "identify trait {t}");
    }
    let group = parse(&fixtures::call(CallType::Group));
    assert_eq!(group.group_id(), Some("grp_front_range_guides"));
    assert_eq!(group.traits().unwrap().len(), 12);
    let alias = parse(&fixtures::call(CallType::Alias));
    assert_eq!(
        alias.previous_id(),
        Some("0b7e3c1d-95a4-4f2e-8c61-3d2f9e7a5b10")
    );
    let page = parse(&fixtures::call(CallType::Page));
    assert_eq!(
        (page.name(), page.category()),
        (Some("Camp Kitchen"), Some("Shop"))
    );
    let screen = parse(&fixtures::call(CallType::Screen));
    assert_eq!(screen.name(), Some("Episode Detail"));
    let track = parse(&fixtures::call(CallType::Track));
    assert_eq!(track.event(), Some("Trail Map Downloaded"));
}

#[test]
fn edge_cases_are_valid_and_read_as_expected() {
    let edges = fixtures::edge_cases();
    assert!(edges.len() >= 15);
    for (name, v) in &edges {
        let msg = parse(v);
        assert_eq!(msg.validate(), vec![], "{name}");
        assert!(
            matches!(SpecEvent::from_message(&msg), Some(Ok(_))),
            "{name}"
        );
    }
    let order = |name: &str| match spec_of(&fixtures::edge_case(name)) {
        SpecEvent::Ecommerce(Ecommerce::OrderCompleted(o)) => o,
        other => panic!("{name}: {other:?}"),
    };
    let o = order("optional_properties_absent");
    assert_eq!(o.order_id.as_deref(), Some("ord_104801"));
    assert_eq!((o.total, o.products.len()), (None, 0));
    assert!(order("empty_products").products.is_empty());
    let o = order("numbers_as_strings");
    assert_eq!(
        (o.total, o.subtotal, o.tax),
        (Some(27.5), Some(22.5), Some(2.0))
    );
    assert_eq!(o.products[0].price, Some(12.5));
    assert_eq!(o.products[1].quantity, Some(2.0));
    let o = order("explicit_nulls");
    assert_eq!(
        (o.coupon.as_deref(), o.discount, o.checkout_id.as_deref()),
        (None, None, None)
    );
    assert_eq!(o.products[0].variant, None);
    assert_eq!(o.products[0].price, Some(12.5));
    let o = order("v1_alias_completed_order");
    assert_eq!(o.total, Some(27.5));
    let alias = spec_of(&fixtures::edge_case("v1_alias_completed_order"));
    assert_eq!(alias.name(), "Order Completed");
    let o = order("numeric_ids");
    assert_eq!(o.order_id.as_deref(), Some("104806"));
    assert_eq!(o.products[1].product_id.as_deref(), Some("5550002"));
    let v = fixtures::edge_case("custom_properties");
    let msg = parse(&v);
    let spec = spec_of(&v);
    let extras: Vec<&str> = spec.extras(&msg).map(|(k, _)| k).collect();
    assert_eq!(extras, ["delivery_notes", "gift_wrap"]);
    assert_eq!(msg.property("products").unwrap()[0]["color_hex"], "#2f5d50");

    match spec_of(&fixtures::edge_case("unicode_and_emoji")) {
        SpecEvent::Ecommerce(Ecommerce::ProductAdded(p)) => {
            assert_eq!(
                p.product.name.as_deref(),
                Some("保温マグ 🏔️☕ «Édition Spéciale»")
            );
            assert_eq!(p.product.variant.as_deref(), Some("رملي / ٣٥٠ مل"));
        }
        other => panic!("{other:?}"),
    }
    let long = fixtures::edge_case("very_long_strings");
    assert_eq!(long["messageId"].as_str().unwrap().len(), 100);
    match spec_of(&long) {
        SpecEvent::Ecommerce(Ecommerce::ProductReviewed(p)) => {
            assert_eq!(p.review_body.unwrap().chars().count(), 10_000);
            assert_eq!(p.review_id.unwrap().len(), 1004);
        }
        other => panic!("{other:?}"),
    }
    match spec_of(&fixtures::edge_case("integers_as_floats")) {
        SpecEvent::Video(Video::PlaybackPaused(p)) => {
            assert_eq!(
                (p.position, p.total_length, p.sound),
                (Some(312), Some(1392), Some(80))
            );
            assert_eq!(
                (p.bitrate, p.full_screen, p.framerate),
                (Some(3200), Some(false), Some(29.97))
            );
        }
        other => panic!("{other:?}"),
    }
    match spec_of(&fixtures::edge_case("structured_query")) {
        SpecEvent::Ecommerce(Ecommerce::ProductsSearched(p)) => match p.query {
            Some(Query::Object(m)) => assert_eq!(m["text"], "water bottle"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    match spec_of(&fixtures::edge_case("livestream_without_length")) {
        SpecEvent::Video(Video::ContentPlaying(c)) => {
            assert_eq!((c.total_length, c.livestream), (None, Some(true)))
        }
        other => panic!("{other:?}"),
    }
    let time = |name: &str| {
        parse(&fixtures::edge_case(name))
            .event_time()
            .unwrap()
            .to_rfc3339()
    };
    assert_eq!(time("far_past_timestamp"), "1901-12-13T20:45:52+00:00");
    assert_eq!(time("future_timestamp"), "2099-12-31T23:59:59.999+00:00");
    assert_eq!(
        time("timestamp_with_offset"),
        "2026-03-14T09:15:30.250+00:00"
    );
    // receivedAt − (sentAt − originalTimestamp): the device clock ran 5 minutes slow
    assert_eq!(time("derived_timestamp"), "2026-03-14T09:00:00+00:00");
    let anon = parse(&fixtures::edge_case("anonymous_only"));
    assert_eq!(
        (anon.user_id(), anon.user_or_anonymous_id().is_some()),
        (None, true)
    );
    assert_eq!(
        parse(&fixtures::edge_case("capitalised_call_type")).call(),
        CallType::Track
    );
}

#[test]
fn malformed_inputs_give_their_exact_errors() {
    let all = fixtures::malformed();
    assert!(all.len() >= 30, "only {} malformed inputs", all.len());
    let names: HashSet<&str> = all.iter().map(|m| m.name).collect();
    assert_eq!(names.len(), all.len(), "duplicate malformed names");
    for m in &all {
        assert!(!m.errors.is_empty(), "{}: no expected errors", m.name);
        match (m.stage, Message::from_slice(&m.bytes)) {
            (Stage::Parse, Err(e)) => {
                assert_eq!(e.path(), m.path, "{}", m.name);
                let rendered = e.to_string();
                if m.path == "$" && rendered.starts_with("$: not valid JSON") {
                    assert!(rendered.contains(m.errors[0]), "{}: {rendered}", m.name);
                } else {
                    assert_eq!(rendered, m.errors[0], "{}", m.name);
                }
            }
            (Stage::Validate, Ok(msg)) => {
                let errs = msg.validate();
                assert_eq!(
                    errs.first().map(|e| e.path.as_str()),
                    Some(m.path),
                    "{}",
                    m.name
                );
                let rendered: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
                assert_eq!(rendered, m.errors, "{}", m.name);
            }
            (stage, other) => panic!("{}: expected a {stage:?} failure, got {other:?}", m.name),
        }
    }
    let price = all
        .iter()
        .find(|m| m.name == "product_price_not_a_number")
        .unwrap();
    assert_eq!(
        price.errors,
        [r#"properties.products[2].price: expected a number, got "abc""#]
    );
    let not_array = all
        .iter()
        .find(|m| m.name == "products_not_an_array")
        .unwrap();
    assert_eq!(
        not_array.errors,
        ["properties.products: expected an array, got an object"]
    );
    let utf8 = all.iter().find(|m| m.name == "invalid_utf8").unwrap();
    assert!(std::str::from_utf8(&utf8.bytes).is_err());
}

#[test]
fn examples_file_is_generated_from_the_fixtures() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/events.jsonl");
    let expected = fixtures::examples_jsonl();
    if std::env::var_os("UPDATE_EXAMPLES").is_some() {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")).unwrap();
        std::fs::write(path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "examples/events.jsonl is out of date with spec-tests/fixtures; regenerate it with\n  \
         UPDATE_EXAMPLES=1 cargo test -p spec-tests --test fixtures examples_file"
    );

    // what it holds: 55 spec events, six calls, three invalid events, two duplicates
    let lines: Vec<&str> = actual.lines().collect();
    assert_eq!(lines.len(), 55 + 6 + 3 + 2);
    let mut spec = HashSet::new();
    let mut calls = HashSet::new();
    let mut ids = HashSet::new();
    let (mut invalid, mut duplicates) = (Vec::new(), 0);
    for line in &lines {
        let msg = Message::from_slice(line.as_bytes()).unwrap();
        calls.insert(msg.call());
        if !ids.insert(msg.message_id().unwrap().to_string()) {
            duplicates += 1;
            continue;
        }
        let errs = msg.validate();
        if !errs.is_empty() {
            invalid.push(errs[0].path.clone());
            continue;
        }
        if let Some(Ok(s)) = SpecEvent::from_message(&msg) {
            spec.insert(s.name());
        }
    }
    assert_eq!(spec.len(), ALL.len());
    assert_eq!(calls.len(), 6);
    assert_eq!(invalid, ["userId", "timestamp", "event"]);
    assert_eq!(duplicates, 2);
}

/// A message parsed from text holds destination-kit's own tree, one built from a value holds
/// serde_json maps; validation and spec recognition read each their own way (the tree with one
/// walk per object). Both must give the same result for every fixture, edge case and example,
/// and for each of them with every top-level field validation reads and every property's
/// value replaced by a value of another type (top-level fields also removed).
#[test]
fn tree_and_serde_messages_validate_and_recognise_alike() {
    let mut inputs: Vec<Value> = fixtures::all_spec_events()
        .into_iter()
        .map(|(_, v)| v)
        .chain(fixtures::edge_cases().into_iter().map(|(_, v)| v))
        .chain(fixtures::example_events())
        .collect();
    let others = [
        Value::Null,
        Value::Bool(true),
        serde_json::json!(-1.5),
        serde_json::json!("12.5"),
        serde_json::json!([]),
        serde_json::json!({"x": 1}),
    ];
    let originals = inputs.clone();
    // every top-level field validation reads, retyped or removed
    for v in &originals {
        for key in [
            "userId",
            "anonymousId",
            "messageId",
            "timestamp",
            "originalTimestamp",
            "sentAt",
            "receivedAt",
            "context",
            "integrations",
            "properties",
            "traits",
            "event",
            "name",
            "category",
            "groupId",
            "previousId",
        ] {
            for other in &others {
                let mut changed = v.clone();
                changed[key] = other.clone();
                inputs.push(changed);
            }
            let mut removed = v.clone();
            if let Some(m) = removed.as_object_mut() {
                m.remove(key);
            }
            inputs.push(removed);
        }
    }
    for v in &originals {
        let Some(props) = v.get("properties").and_then(Value::as_object) else {
            continue;
        };
        for key in props.keys() {
            for (i, other) in others.iter().enumerate() {
                let mut changed = v.clone();
                changed["properties"][key] = other.clone();
                // products: a product's fields too
                if i == 0
                    && let Some(Value::Array(products)) = v["properties"].get("products")
                    && let Some(Value::Object(first)) = products.first()
                {
                    for pk in first.keys() {
                        let mut p = v.clone();
                        p["properties"]["products"][0][pk] = serde_json::json!({"bad": true});
                        inputs.push(p);
                    }
                }
                inputs.push(changed);
            }
        }
    }
    assert!(inputs.len() > 1000, "{} inputs", inputs.len());
    for v in &inputs {
        let text = serde_json::to_vec(v).unwrap();
        let tree = Message::from_slice(&text).unwrap();
        assert!(tree.tree().is_some(), "parsed from text into a tree: {v}");
        let built = Message::from_value(v.clone()).unwrap();
        assert!(built.tree().is_none());
        assert_eq!(tree.validate(), built.validate(), "{v}");
        assert_eq!(
            SpecEvent::from_message(&tree),
            SpecEvent::from_message(&built),
            "{v}"
        );
    }
}
