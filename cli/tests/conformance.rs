//! `destkit conformance` end to end: the JSON contract, the text table, and the exit statuses
//! (0 passed, 1 failed, 2 unknown destination).

use assert_cmd::Command;
use serde_json::Value;

fn destkit() -> Command {
    Command::cargo_bin("destkit").unwrap()
}

/// Run `destkit conformance --destination slug --json`: exit code and parsed output.
fn json_run(slug: &str) -> (i32, Value) {
    let out = destkit()
        .args(["conformance", "--destination", slug, "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{slug}: stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap(), v)
}

/// Every key of the contract, with the right types and values.
fn assert_contract(slug: &str, v: &Value) {
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["checks", "coverage", "destination", "passed"],
        "{slug}"
    );
    assert_eq!(v["destination"], slug);
    assert!(v["passed"].is_boolean());
    let checks = v["checks"].as_array().unwrap();
    for c in checks {
        let mut k: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort();
        assert_eq!(k, ["detail", "name", "passed"], "{slug}: {c}");
    }
    let passed_all = checks.iter().all(|c| c["passed"] == true);
    assert_eq!(
        v["passed"], passed_all,
        "{slug}: passed is the and of the checks"
    );
    let coverage = v["coverage"].as_array().unwrap();
    assert_eq!(coverage.len(), 55, "{slug}: every specced event");
    for row in coverage {
        let mut k: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        k.sort();
        assert_eq!(k, ["event", "family", "status"], "{slug}: {row}");
        let st = row["status"].as_str().unwrap();
        assert!(
            ["mapped", "custom", "unsupported", "failing"].contains(&st),
            "{slug}: {row}"
        );
    }
    assert_eq!(coverage[0]["family"], "ecommerce");
    assert_eq!(coverage[54]["event"], "Unsubscribed");
}

#[test]
fn webhook_passes_with_the_json_contract() {
    let (code, v) = json_run("webhook");
    assert_contract("webhook", &v);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["passed"], true);
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for want in [
        "coverage",
        "wire.accepted",
        "wire.timestamp",
        "wire.dedup_key",
        "wire.products",
        "classification.400",
        "classification.401",
        "classification.403",
        "classification.404",
        "classification.408",
        "classification.413",
        "classification.422",
        "classification.429_retry_after",
        "classification.500",
        "classification.501",
        "classification.503",
        "classification.timeout",
        "classification.reset",
        "retry_after",
        "split_413",
        "partial_batch",
        "duplicates",
        "shuffled_time",
        "bad_input",
        "accounting",
        "secrets",
    ] {
        assert!(names.contains(&want), "missing check {want}: {names:?}");
    }
    // the webhook passes every event on as it is
    assert!(
        v["coverage"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "mapped")
    );
}

#[test]
fn text_output_has_checks_and_the_coverage_table() {
    let out = destkit()
        .args(["conformance", "--destination", "webhook"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("ok   classification.429_retry_after"), "{s}");
    assert!(s.contains("family      event"), "{s}");
    assert!(s.contains("Order Completed"), "{s}");
    assert!(
        s.contains("55 mapped, 0 custom, 0 unsupported, 0 failing"),
        "{s}"
    );
    assert!(s.contains("PASSED"), "{s}");
}

#[test]
fn unknown_destination_is_a_usage_error() {
    let out = destkit()
        .args(["conformance", "--destination", "nope", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown destination \"nope\""), "{err}");
    assert!(err.contains("webhook"), "{err}");
}

#[test]
fn missing_destination_flag_is_a_usage_error() {
    let out = destkit().args(["conformance"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Every registry destination: the JSON contract holds and the exit status follows `passed`
/// (1 for a destination that fails a check, 0 for one that passes).
#[test]
fn every_destination_exits_by_its_result() {
    for slug in [
        "ga4",
        "amplitude",
        "mixpanel",
        "braze",
        "intercom",
        "adobe-media",
    ] {
        let (code, v) = json_run(slug);
        assert_contract(slug, &v);
        let want = if v["passed"] == true { 0 } else { 1 };
        assert_eq!(code, want, "{slug}: exit status follows passed");
    }
}
