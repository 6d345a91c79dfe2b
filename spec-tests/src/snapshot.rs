//! Helpers for a destination's own unit and snapshot tests: map one JSON event the way the
//! runtime would, and show a partner request as JSON with its secrets masked.
//!
//! ```
//! use spec_tests::snapshot::show_request;
//! use destination_kit::PartnerRequest;
//! let req = PartnerRequest::post_json("https://api.example.com/v1?key=k", r#"{"a":1}"#)
//!     .bearer("sk_live")
//!     .secret_param("key");
//! let shown = show_request(&req);
//! assert_eq!(shown["url"], "https://api.example.com/v1?key=[redacted]");
//! assert_eq!(shown["body"]["a"], 1);
//! assert!(!shown.to_string().contains("sk_live"));
//! ```

use destination_kit::spec::SpecEvent;
use destination_kit::{Destination, Event, Mapped, Message, PartnerRequest, Payload};
use serde_json::{Value, json};

/// Map one event given as JSON, as the runtime would: parse, recognise its specced event (a
/// typed-property error leaves it unrecognised), take its event time, call `map`.
///
/// Panics when the JSON is not a message or has no usable time (a test's own mistake).
pub fn map_json<D: Destination>(dest: &D, settings: &D::Settings, event: Value) -> Mapped {
    let m = Message::from_value(event).expect("a message");
    let spec = SpecEvent::from_message(&m).and_then(Result::ok);
    let ev = Event::new(&m, spec.as_ref(), m.event_time().expect("a time"));
    dest.map(settings, &ev)
}

/// The payloads of a [`Mapped::Send`]; panics on anything else.
pub fn payloads(m: Mapped) -> Vec<Payload> {
    match m {
        Mapped::Send(p) => p,
        other => panic!("expected payloads, got {other:?}"),
    }
}

/// A request as JSON — method, URL and headers with secrets masked, and the JSON body.
pub fn show_request(req: &PartnerRequest) -> Value {
    let body = serde_json::from_slice::<Value>(&req.body).expect("JSON body");
    show_request_with(req, body)
}

/// A request as JSON with a body the caller decoded (form bodies, a key masked in the body).
pub fn show_request_with(req: &PartnerRequest, body: Value) -> Value {
    json!({
        "method": req.method.as_str(),
        "url": req.redacted_url(),
        "headers": req.redacted_headers(),
        "body": body,
    })
}
