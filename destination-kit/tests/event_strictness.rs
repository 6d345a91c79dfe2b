//! What a line and a timestamp must be to pass: ISO-8601 in its full shape (an offset without
//! a colon only in `YYYY-MM-DDTHH:MM:SS[.f]±HHMM`), a second of 60 only at 23:59:60 UTC, and
//! JSON whitespace around a line (a form feed is not).

use destination_kit::event::{Message, parse_datetime, parse_lines};

fn msg_with_ts(ts: &str) -> Message {
    let line =
        serde_json::json!({"type":"track","event":"E","userId":"u","messageId":"m","timestamp":ts});
    Message::from_slice(line.to_string().as_bytes()).unwrap()
}

/// chrono's general parser took one-digit fields, signed years and spaces between fields.
#[test]
fn non_iso_timestamps_are_rejected() {
    for s in [
        "2026-1-1T1:2:3+0000",
        "0-1-1T0:0:0+0000",
        "-2026-01-01T00:00:00+0000",
        " 2026-01-01T00:00:00+0000",
        "2026-01-01T 00:00:00+0000",
        "2026-01-01T00:00:00\n+00:00",
        "2026-01-01T00:00:00   +00:00",
    ] {
        assert!(
            parse_datetime(s).is_err(),
            "{s:?} accepted as {:?}",
            parse_datetime(s)
        );
        assert!(
            !msg_with_ts(s).validate().is_empty(),
            "{s:?} passes validation"
        );
    }
}

/// The offset without a colon, in the full shape, is still taken, with or without a fraction.
#[test]
fn an_offset_without_a_colon_is_read_in_the_full_shape() {
    for (s, want) in [
        ("2026-01-02T03:04:05+0200", "2026-01-02T01:04:05+00:00"),
        (
            "2026-01-02T03:04:05.250-0130",
            "2026-01-02T04:34:05.250+00:00",
        ),
    ] {
        let d = parse_datetime(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(d.with_timezone(&chrono::Utc).to_rfc3339(), want, "{s}");
        assert!(msg_with_ts(s).validate().is_empty(), "{s}");
    }
}

/// `:60` is a leap second only at 23:59:60 UTC.
#[test]
fn second_60_is_only_a_leap_second_at_23_59_60_utc() {
    let s = "2026-06-30T12:34:60.123Z";
    let err = parse_datetime(s).unwrap_err();
    assert!(err.contains("second 60"), "{err}");
    assert!(!msg_with_ts(s).validate().is_empty());
    for ok in ["2016-12-31T23:59:60Z", "2017-01-01T00:59:60+01:00"] {
        assert!(parse_datetime(ok).is_ok(), "{ok}");
    }
}

/// U+000C is not JSON whitespace: a line wrapped in form feeds is not a message.
#[test]
fn form_feed_is_not_json_whitespace() {
    let line = b"\x0c{\"type\":\"track\",\"event\":\"E\",\"userId\":\"u\",\"messageId\":\"m\"}\x0c";
    assert!(serde_json::from_slice::<serde_json::Value>(line).is_err());
    let recs: Vec<_> = parse_lines(line).collect();
    assert!(recs[0].result.is_err(), "accepted: {:?}", recs[0].result);
    // spaces, tabs and CR around a line are fine
    let recs: Vec<_> = parse_lines(
        b" \t{\"type\":\"track\",\"event\":\"E\",\"userId\":\"u\",\"messageId\":\"m\"}\r",
    )
    .collect();
    assert!(recs[0].result.is_ok(), "{:?}", recs[0].result);
}
