//! `deliver_reader`: streaming JSON lines (several chunks), envelopes on a line, a pretty-printed
//! document, and a read error.

#[path = "runtime_support.rs"]
mod support;

use serde_json::json;
use std::io::{BufReader, Cursor, Read};
use support::*;

#[tokio::test]
async fn json_lines_stream_through_in_chunks() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::batched(100), &server.uri(), config());
    let mut input = events(700);
    input.extend_from_slice(b"\nnot json\n");
    let envelope = json!({"batch": [serde_json::from_str::<serde_json::Value>(&track("env1", "2026-01-02T03:04:05Z")).unwrap()]});
    input.extend_from_slice(envelope.to_string().as_bytes());
    input.push(b'\n');
    let r = rt.deliver_reader(Cursor::new(input)).await;
    check(&r);
    assert_eq!(r.report.input, 702);
    assert_eq!((r.report.delivered, r.report.rejected), (701, 1));
    assert_eq!(r.events[700].line, 702, "blank lines still count");
    assert!(
        r.events[700]
            .outcome
            .reason()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_eq!(r.events[701].batch_index, Some(0));
    assert_eq!(received(&server).await, 8);
    assert!(r.warnings.is_empty());
}

#[tokio::test]
async fn a_pretty_printed_document_is_read_whole() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::batched(100), &server.uri(), config());
    let doc = json!({"batch": [
        serde_json::from_str::<serde_json::Value>(&track("p1", "2026-01-02T03:04:05Z")).unwrap(),
        serde_json::from_str::<serde_json::Value>(&track("p2", "2026-01-02T03:04:05Z")).unwrap(),
    ]});
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let r = rt.deliver_reader(Cursor::new(text.into_bytes())).await;
    check(&r);
    assert_eq!((r.report.input, r.report.delivered), (2, 2));
}

struct FailsAfter(Cursor<Vec<u8>>);

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("disk on fire")),
            n => Ok(n),
        }
    }
}

#[tokio::test]
async fn a_read_error_ends_the_input_with_a_warning() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::default(), &server.uri(), config());
    let r = rt
        .deliver_reader(BufReader::new(FailsAfter(Cursor::new(events(3)))))
        .await;
    check(&r);
    assert_eq!(r.report.delivered, 3);
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("disk on fire"), "{:?}", r.warnings);
}

/// Hands out at most `max` bytes per read, so lines straddle reads and the reader's blocks.
struct Trickle(Cursor<Vec<u8>>, usize);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1);
        self.0.read(&mut buf[..n])
    }
}

#[tokio::test]
async fn lines_straddling_reads_and_blocks_arrive_whole() {
    // ~1 MB of lines: the reader's 256 KiB blocks end mid-line several times; one line is
    // longer than two blocks; CRLF endings, blank lines, a last line with no newline
    let long_event = "x".repeat(600_000);
    let long = serde_json::json!({"type": "track", "event": long_event, "userId": "u1",
        "messageId": "long", "timestamp": "2026-01-02T03:04:05Z"})
    .to_string();
    let mut input = b"\r\n".to_vec(); // line 1
    for i in 0..1500 {
        input.extend_from_slice(track(&format!("m{i}"), "2026-01-02T03:04:05Z").as_bytes());
        input.extend_from_slice(b"\r\n"); // lines 2..=1501
    }
    input.extend_from_slice(long.as_bytes()); // line 1502
    input.extend_from_slice(b"\n   \n"); // line 1503 blank
    input.extend_from_slice(track("last", "2026-01-02T03:04:05Z").as_bytes()); // 1504, no \n
    for max in [7, 4096, 1 << 20] {
        let server = partner_answering(200).await;
        let (rt, _c) = runtime(TestDest::batched(400), &server.uri(), config());
        let r = rt
            .deliver_reader(BufReader::new(Trickle(Cursor::new(input.clone()), max)))
            .await;
        check(&r);
        assert_eq!((r.report.input, r.report.delivered), (1502, 1502), "{max}");
        let lines: Vec<usize> = r.events.iter().map(|e| e.line).collect();
        assert_eq!(lines[0], 2, "{max}");
        assert_eq!(lines[1499..], [1501, 1502, 1504], "{max}");
        let bodies = server.received_requests().await.unwrap_or_default();
        let whole = format!(r#""event":"{long_event}""#);
        let with_long = bodies
            .iter()
            .filter(|b| String::from_utf8_lossy(&b.body).contains(&whole))
            .count();
        assert_eq!(
            with_long, 1,
            "the long line's event reaches the partner whole ({max})"
        );
    }
}

#[tokio::test]
async fn a_pretty_printed_document_after_blank_lines_is_read_whole() {
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::batched(100), &server.uri(), config());
    let doc: serde_json::Value =
        serde_json::from_str(&track("p1", "2026-01-02T03:04:05Z")).unwrap();
    let text = format!("\n\n  {}\n", serde_json::to_string_pretty(&doc).unwrap());
    let r = rt
        .deliver_reader(BufReader::new(Trickle(Cursor::new(text.into_bytes()), 5)))
        .await;
    check(&r);
    assert_eq!((r.report.input, r.report.delivered), (1, 1));
}

#[tokio::test]
async fn events_read_through_reused_blocks_reach_the_partner_intact() {
    // ~6.6 MB of distinct ~1 kB events: the reader goes through ~25 blocks of 256 KiB and reads
    // into those whose lines are all parsed again; every event must arrive as it was written
    let name = |i: usize| {
        format!(
            "E{i}-{}",
            char::from(b'a' + (i % 26) as u8).to_string().repeat(1000)
        )
    };
    let mut input = Vec::new();
    for i in 0..6000 {
        let line = json!({"type": "track", "event": name(i), "userId": "u1",
            "messageId": format!("m{i}"), "timestamp": "2026-01-02T03:04:05Z"});
        input.extend_from_slice(line.to_string().as_bytes());
        input.push(b'\n');
    }
    let server = partner_answering(200).await;
    let (rt, _c) = runtime(TestDest::batched(500), &server.uri(), config());
    let r = rt
        .deliver_reader(BufReader::new(Trickle(Cursor::new(input), 100_000)))
        .await;
    check(&r);
    assert_eq!((r.report.input, r.report.delivered), (6000, 6000));
    let mut seen = std::collections::HashMap::new();
    for req in server.received_requests().await.unwrap_or_default() {
        let batch: Vec<serde_json::Value> = serde_json::from_slice(&req.body).unwrap();
        for p in batch {
            let id = p["id"].as_str().unwrap().to_string();
            seen.insert(id, p["event"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen.len(), 6000);
    for i in 0..6000 {
        assert_eq!(seen[&format!("m{i}")], name(i), "event m{i}");
    }
}
