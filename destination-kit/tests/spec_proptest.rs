//! The spec reader never panics: arbitrary JSON as the properties of every specced event reads
//! either cleanly or as errors whose paths all lie under `properties`.

use destination_kit::spec::{ALL, SpecEvent};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[0-9a-z. -]{0,8}".prop_map(Value::from),
        Just(json!("12.50")),
        Just(json!("NaN")),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly real property keys, so the typed fields get exercised.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "products",
            "price",
            "quantity",
            "total",
            "order_id",
            "position",
            "content",
            "ad_asset_id",
            "keywords",
            "filters",
            "sorts",
            "query",
            "type",
            "full_screen",
            "total_length",
            "sound",
            "startupTime",
            "rating",
            "product_id",
        ])
        .prop_map(String::from),
        "[a-z_]{1,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_properties_never_panic(
        props in prop::collection::btree_map(key(), value(), 0..8),
        idx in 0..ALL.len(),
    ) {
        let props: Map<String, Value> = props.into_iter().collect();
        let kind = &ALL[idx];
        match SpecEvent::from_properties(kind, Some(&props)) {
            Ok(ev) => prop_assert!(std::ptr::eq(ev.kind(), kind)),
            Err(errs) => {
                prop_assert!(!errs.is_empty());
                for e in errs {
                    prop_assert!(e.path.starts_with("properties."), "{}", e);
                    prop_assert!(e.message.starts_with("expected "), "{}", e);
                }
            }
        }
    }
}
