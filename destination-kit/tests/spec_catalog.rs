//! The typed spec module against the catalog (`spec-tests/catalog/segment-spec.json`, a vendored
//! copy of `../shared/spec/segment-spec.json`): every event of the four families is in `ALL`
//! with the same family, name and v1 aliases, and every documented property is typed and read
//! strictly.

use destination_kit::spec::{ALL, Family, SpecEvent, recognise};
use serde_json::{Map, Value, json};

fn catalog() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spec-tests/catalog/segment-spec.json"
    );
    let text = std::fs::read_to_string(path).expect("vendored catalog present");
    serde_json::from_str(&text).expect("catalog is JSON")
}

fn events(cat: &Value, family: Family) -> Vec<Value> {
    cat["specs"][family.catalog_key()]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn all_lists_every_catalog_event_in_order_with_family_name_and_aliases() {
    let cat = catalog();
    let mut expected = Vec::new();
    for family in Family::ALL {
        for e in events(&cat, family) {
            let aliases: Vec<String> = match &e["v1_alias"] {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => vec![],
            };
            expected.push((family, e["name"].as_str().unwrap().to_string(), aliases));
        }
    }
    let actual: Vec<(Family, String, Vec<String>)> = ALL
        .iter()
        .map(|k| {
            (
                k.family,
                k.name.to_string(),
                k.v1_aliases.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(actual, expected);
    let counts: Vec<usize> = Family::ALL.iter().map(|f| f.events().len()).collect();
    assert_eq!(counts, [28, 17, 4, 6]);
    assert_eq!(ALL.len(), 55);
}

#[test]
fn recognise_matches_names_and_aliases_exactly() {
    for k in ALL {
        assert_eq!(recognise(k.name), Some(k));
        for a in k.v1_aliases {
            assert_eq!(recognise(a), Some(k));
        }
        assert_eq!(recognise(&k.name.to_lowercase()), None, "{}", k.name);
        assert_eq!(recognise(&format!("{} ", k.name)), None);
    }
    assert_eq!(
        recognise("Completed Order").map(|k| k.name),
        Some("Order Completed")
    );
    assert_eq!(recognise("Signed Up"), None);
    assert_eq!(recognise(""), None);
}

/// A value that is wrong for a catalog type.
fn wrong_value(ty: &str) -> Value {
    match ty {
        "number" | "integer" | "float" => json!("abc"),
        "boolean" => json!("maybe"),
        "string|object" => json!([1]),
        t if t.starts_with("object") => json!("x"),
        _ => json!({"unexpected": "object"}),
    }
}

fn expected_kind(ty: &str) -> &'static str {
    match ty {
        "number" | "float" => "a number",
        "integer" => "an integer",
        "boolean" => "a boolean",
        "string|object" => "a string or an object",
        "string|array<string>" => "a string or an array of strings",
        t if t.starts_with("array") => "an array",
        t if t.starts_with("object") => "an object",
        _ => "a string",
    }
}

#[test]
fn every_catalog_property_is_typed_and_read_strictly() {
    let cat = catalog();
    let mut checked = 0;
    for family in Family::ALL {
        for (e, kind) in events(&cat, family).iter().zip(family.events()) {
            assert_eq!(e["name"], kind.name);
            let empty = SpecEvent::from_properties(kind, None).unwrap();
            for p in e["properties"].as_array().unwrap() {
                let name = p["name"].as_str().unwrap();
                let ty = p["type"].as_str().unwrap();
                assert!(
                    empty.is_typed_key(name),
                    "{}: {name} is not typed",
                    kind.name
                );
                // The playback ad fields are lists on Video Playback Started (the spec's own
                // example sends `ad_type` as a list too): one struct reads one or many.
                let ty = if matches!(name, "ad_asset_id" | "ad_pod_id" | "ad_type") {
                    "string|array<string>"
                } else {
                    ty
                };
                let mut props = Map::new();
                props.insert(name.to_string(), wrong_value(ty));
                let errs = SpecEvent::from_properties(kind, Some(&props)).expect_err(&format!(
                    "{}: {name} = {}",
                    kind.name,
                    wrong_value(ty)
                ));
                assert_eq!(errs.len(), 1, "{}: {errs:?}", kind.name);
                assert_eq!(errs[0].path, format!("properties.{name}"), "{}", kind.name);
                assert!(
                    errs[0]
                        .message
                        .starts_with(&format!("expected {}, got", expected_kind(ty))),
                    "{}.{name}: {}",
                    kind.name,
                    errs[0].message
                );
                // and null is the same as absent
                props.insert(name.to_string(), Value::Null);
                assert_eq!(
                    SpecEvent::from_properties(kind, Some(&props)).unwrap(),
                    empty,
                    "{}.{name}: null",
                    kind.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 400, "only {checked} properties checked");
}

#[test]
fn vendored_catalog_equals_the_shared_one_when_present() {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/spec/segment-spec.json"
    );
    if let Ok(text) = std::fs::read_to_string(shared) {
        let original: Value = serde_json::from_str(&text).unwrap();
        assert!(
            original == catalog(),
            "spec-tests/catalog/segment-spec.json differs from {shared}: copy it over"
        );
    }
}
