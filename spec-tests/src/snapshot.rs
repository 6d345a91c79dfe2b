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
/// The event is mapped twice: as a message built from the value (read through serde_json) and
/// as one parsed from its text (read through destination-kit's tree, when the destination's
/// `map` reads it). Both must give the same outcome and the same payloads (bodies compared as
/// JSON values: a tree keeps the line's key order), or this panics naming the difference; so
/// every test that maps through here proves the two readings alike.
///
/// Panics when the JSON is not a message or has no usable time (a test's own mistake).
pub fn map_json<D: Destination>(dest: &D, settings: &D::Settings, event: Value) -> Mapped {
    let line = serde_json::to_vec(&event).expect("a JSON value serialises");
    let built = map_message(
        dest,
        settings,
        &Message::from_value(event).expect("a message"),
    );
    let parsed = map_message(
        dest,
        settings,
        &Message::from_slice(&line).expect("a message"),
    );
    assert_eq!(
        outline(&parsed),
        outline(&built),
        "the event parsed from text (tree) and built from a value (serde_json) map differently"
    );
    built
}

fn map_message<D: Destination>(dest: &D, settings: &D::Settings, m: &Message) -> Mapped {
    let spec = SpecEvent::from_message(m).and_then(Result::ok);
    let ev = Event::new(m, spec.as_ref(), m.event_time().expect("a time"));
    dest.map(settings, &ev)
}

/// A mapping as JSON, for comparing two: the outcome and reason, or every payload's route,
/// part and body.
fn outline(m: &Mapped) -> Value {
    match m {
        Mapped::Send(p) => Value::Array(
            p.iter()
                .map(|p| {
                    json!({
                        "route": p.route,
                        "part": p.part,
                        "body": serde_json::from_str::<Value>(p.body.get()).expect("JSON body"),
                    })
                })
                .collect(),
        ),
        Mapped::Unsupported { reason } => json!({"unsupported": reason}),
        Mapped::Invalid { reason } => json!({"invalid": reason}),
    }
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
