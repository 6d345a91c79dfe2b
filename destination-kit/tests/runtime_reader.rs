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
