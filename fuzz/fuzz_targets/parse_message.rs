//! Feed arbitrary bytes to the message parser and everything that reads a parsed message.
//! Nothing may panic, and every message that parses must round-trip losslessly.
#![no_main]

use destination_kit::event::{Message, RecordReader, parse_datetime, parse_document};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for rec in parse_document(data) {
        let _ = rec.line_errors();
        if let Ok(m) = &rec.result {
            exercise(m);
        }
    }
    if let Ok(m) = Message::from_slice(data) {
        exercise(&m);
    }
    // the streaming reader yields exactly what the slice parser yields
    let streamed: Vec<_> = RecordReader::new(data).filter_map(Result::ok).collect();
    let sliced: Vec<_> = destination_kit::event::parse_lines(data).collect();
    assert_eq!(streamed, sliced);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_datetime(s);
    }
});

fn exercise(m: &Message) {
    let _ = m.validate();
    let _ = m.event_time();
    let _ = (m.user_id(), m.anonymous_id(), m.message_id(), m.event());
    let _ = (
        m.email(),
        m.full_name(),
        m.age(),
        m.employees(),
        m.created_at(),
    );
    let _ = (m.revenue(), m.value(), m.page_url(), m.page_keywords());
    let _ = m.enabled_for("Amplitude");
    let ctx = m.context();
    let _ = (ctx.ip(), ctx.device(), ctx.nested_str("device", "id"));
    // lossless: serialise and parse back to the same value
    let json = m.to_json();
    let back = Message::from_slice(json.as_bytes()).expect("a serialised message parses");
    assert_eq!(back.to_value(), m.to_value());
}
