//! `destkit bench --json` end to end on a small generated stream: the contract's keys, every
//! event accounted for, and the requests the local partner received.

use std::process::Command;

fn bench(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_destkit"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn bench_json_has_the_contract_keys_and_accounts_for_every_event() {
    let r = bench(&["--destination", "amplitude", "--events", "3000", "--json"]);
    for key in [
        "events",
        "parse_floor_eps",
        "recognise_eps",
        "map_eps",
        "pipeline_eps",
        "pipeline_to_floor",
        "peak_rss_mb",
        "requests",
    ] {
        assert!(r.get(key).is_some(), "missing {key}: {r}");
    }
    assert_eq!(r["events"], 3000);
    assert_eq!(r["delivered"], 3000);
    assert_eq!(r["report"]["input"], 3000);
    assert_eq!(r["report"]["rejected"], 0);
    // Amplitude batches: far fewer requests than events, and the sink saw them all
    let requests = r["requests"].as_u64().unwrap();
    assert!((2..=20).contains(&requests), "{requests}");
    assert!(r["parse_floor_eps"].as_f64().unwrap() > 0.0);
    assert!(r["pipeline_eps"].as_f64().unwrap() > 0.0);
}

#[test]
fn batch_size_one_sends_one_request_per_event() {
    let r = bench(&[
        "--destination",
        "webhook",
        "--events",
        "200",
        "--batch-size",
        "1",
        "--pipeline-only",
        "--json",
    ]);
    assert_eq!(r["report"]["input"], 200);
    assert_eq!(r["delivered"], 200);
    assert_eq!(r["requests"], 200);
}

#[test]
fn an_unknown_destination_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_destkit"))
        .args(["bench", "--destination", "nope", "--events", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown destination"));
}
