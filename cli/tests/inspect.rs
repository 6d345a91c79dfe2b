//! `destkit inspect` end to end: exact output lines and exit status.

use assert_cmd::Command;
use std::io::Write;

fn destkit() -> Command {
    Command::cargo_bin("destkit").expect("the destkit binary")
}

/// A file with one line of each kind: valid, invalid, not JSON, blank, invalid UTF-8, a v1 alias,
/// a batch envelope.
fn mixed_file() -> tempfile::NamedTempFile {
    let lines: Vec<&[u8]> = vec![
        // 1: a valid spec event
        br#"{"type":"track","event":"Order Completed","userId":"u-1","messageId":"m-1","timestamp":"2026-03-04T05:06:07Z","properties":{"order_id":"o-1","total":"27.50","products":[{"product_id":"p1","price":12.5}]}}"#,
        // 2: a valid identify
        br#"{"type":"identify","anonymousId":"a-1","messageId":"m-2","traits":{"email":"ada@example.test"}}"#,
        // 3: invalid: no ids, zoneless timestamp, a bad product price
        br#"{"type":"track","event":"Order Completed","messageId":"m-3","timestamp":"2026-03-04T05:06:07","properties":{"products":[{"price":1},{"price":2},{"price":"abc"}]}}"#,
        // 4: not JSON
        b"this is not json",
        // 5: blank
        b"   ",
        // 6: invalid UTF-8
        b"{\"type\":\"page\",\"name\":\"caf\xe9\"}",
        // 7: a v1 alias, with a numeric messageId
        br#"{"type":"track","event":"Completed Order","userId":"u-1","messageId":42}"#,
        // 8: a batch envelope with one good and one bad item
        br#"{"batch":[{"type":"group","userId":"u","messageId":"b-0","groupId":"g"},{"type":"alias","userId":"u","messageId":"b-1"}]}"#,
        // 9: JSON but not a message
        br#"[{"type":"track"}]"#,
        // 10: valid, a non-spec track event
        br#"{"type":"track","event":"Signed Up","userId":"u-2","messageId":"m-10"}"#,
    ];
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for l in lines {
        f.write_all(l).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
    f
}

const MIXED_EXPECTED: &[&str] = &[
    r#"{"line":1,"type":"track","messageId":"m-1","spec":{"family":"ecommerce","event":"Order Completed"},"errors":[]}"#,
    r#"{"line":2,"type":"identify","messageId":"m-2","spec":null,"errors":[]}"#,
    r#"{"line":3,"type":"track","messageId":"m-3","spec":{"family":"ecommerce","event":"Order Completed"},"errors":[{"path":"userId","message":"missing: a message needs userId or anonymousId"},{"path":"timestamp","message":"not an ISO-8601 date with an offset: \"2026-03-04T05:06:07\" has no time zone (add Z or +00:00)"},{"path":"properties.products[2].price","message":"expected a number, got \"abc\""}]}"#,
    r#"{"line":4,"type":null,"messageId":null,"spec":null,"errors":[{"path":"$","message":"not valid JSON at column 2: expected ident"}]}"#,
    r#"{"line":6,"type":null,"messageId":null,"spec":null,"errors":[{"path":"$","message":"not valid UTF-8 at byte 26"}]}"#,
    r#"{"line":7,"type":"track","messageId":42,"spec":{"family":"ecommerce","event":"Order Completed"},"errors":[{"path":"messageId","message":"expected a string, got 42"}]}"#,
    r#"{"line":8,"type":"group","messageId":"b-0","spec":null,"errors":[]}"#,
    r#"{"line":8,"type":"alias","messageId":"b-1","spec":null,"errors":[{"path":"batch[1].previousId","message":"missing: an alias call needs previousId"}]}"#,
    r#"{"line":9,"type":null,"messageId":null,"spec":null,"errors":[{"path":"$","message":"expected a JSON object, got an array"}]}"#,
    r#"{"line":10,"type":"track","messageId":"m-10","spec":null,"errors":[]}"#,
];

fn expected_stdout(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn a_mixed_file_gives_one_object_per_event_in_order_and_exit_1() {
    let f = mixed_file();
    let out = destkit()
        .args(["inspect", f.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        expected_stdout(MIXED_EXPECTED)
    );
    assert_eq!(out.status.code(), Some(1));
    // stderr is not a terminal here: no summary, nothing else
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
}

#[test]
fn stdin_with_a_dash_or_no_argument() {
    let input = std::fs::read(mixed_file().path()).unwrap();
    for args in [&["inspect", "-"][..], &["inspect"][..]] {
        let out = destkit()
            .args(args)
            .write_stdin(input.clone())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            expected_stdout(MIXED_EXPECTED),
            "{args:?}"
        );
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn every_line_valid_exits_0() {
    let input = concat!(
        r#"{"type":"page","anonymousId":"a","messageId":"p-1","name":"Home"}"#,
        "\n\n",
        r#"{"type":"track","event":"Video Playback Started","userId":"u","messageId":"v-1","properties":{"session_id":"s-1"}}"#,
        "\n",
        r#"{"type":"track","event":"Email Opened","userId":"u","messageId":"e-1"}"#,
    );
    destkit()
        .arg("inspect")
        .write_stdin(input)
        .assert()
        .code(0)
        .stdout(expected_stdout(&[
            r#"{"line":1,"type":"page","messageId":"p-1","spec":null,"errors":[]}"#,
            r#"{"line":3,"type":"track","messageId":"v-1","spec":{"family":"video","event":"Video Playback Started"},"errors":[]}"#,
            r#"{"line":4,"type":"track","messageId":"e-1","spec":{"family":"email","event":"Email Opened"},"errors":[]}"#,
        ]));
}

#[test]
fn empty_input_prints_nothing_and_exits_0() {
    destkit()
        .arg("inspect")
        .write_stdin("\n\n")
        .assert()
        .code(0)
        .stdout("");
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-events.jsonl");
    let out = destkit()
        .args(["inspect", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!(
            "destkit inspect: cannot read {}: ",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn a_directory_is_unreadable_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = destkit()
        .args(["inspect", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().starts_with(&format!(
        "destkit inspect: cannot read {}: ",
        dir.path().display()
    )));
}

#[test]
fn bad_usage_exits_2() {
    destkit()
        .args(["inspect", "a.jsonl", "b.jsonl"])
        .assert()
        .code(2)
        .stdout("");
    destkit()
        .args(["inspect", "--no-such-flag"])
        .assert()
        .code(2);
}
