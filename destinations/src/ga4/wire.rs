//! What one GA4 payload carries between [`super::mapping`] and [`super::request`], written so that
//! the request is assembled from slices of the payloads, without parsing the events back.
//!
//! - The **route** is the request-level identity, a JSON array `[client_id, user_id | null]`:
//!   payloads of one route share requests, and the request reads both ids from it.
//! - The **body** is a JSON array `[user_properties | null, event]`. Only the user properties
//!   (a few short traits) are scanned to find where the event starts; the event is copied into
//!   the request as the bytes the mapping wrote.
//!
//! ```
//! use destinations::ga4::wire;
//! let p = wire::payload("anon-1", Some("user-1"), None::<&()>, &serde_json::json!({"name": "x"}));
//! assert_eq!(p.route, r#"["anon-1","user-1"]"#);
//! let w = wire::read(p.body.get());
//! assert_eq!((w.user_properties, w.event), (None, r#"{"name":"x"}"#));
//! ```

use destination_kit::Payload;
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The payload of one GA4 event for `client` and `user`, with the user properties it carries.
///
/// # Panics
///
/// As [`Payload::json`]: when the event or the properties cannot be serialised (the runtime
/// rejects that one event with the reason).
pub fn payload<P: Serialize, E: Serialize>(
    client: &str,
    user: Option<&str>,
    user_properties: Option<&P>,
    event: &E,
) -> Payload {
    // destination-kit's writer: the same text as serde_json's, without its formatter layers
    let route = destination_kit::json::write::to_string(&(client, user)).unwrap_or_default();
    Payload::json(route, &(user_properties, event))
}

/// The ids a route names: `(client_id, user_id)`.
///
/// A route not written by [`payload`] is taken whole as the client id.
pub fn ids(route: &str) -> (Cow<'_, str>, Option<Cow<'_, str>>) {
    #[derive(serde::Deserialize)]
    struct Ids<'a>(
        #[serde(borrow)] Cow<'a, str>,
        #[serde(borrow)] Option<Cow<'a, str>>,
    );
    match serde_json::from_str::<Ids<'_>>(route) {
        Ok(Ids(c, u)) => (c, u),
        Err(_) => (Cow::Borrowed(route), None),
    }
}

/// One payload read back: slices of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read<'a> {
    /// The user-properties object, when the event carries any.
    pub user_properties: Option<&'a str>,
    /// The event object, as written.
    pub event: &'a str,
}

/// Split a body written by [`payload`] into its user properties and its event.
///
/// Any other body (a payload built by hand) is taken whole as the event, so that a request
/// always holds exactly one event per payload and a validation index still names its payload.
pub fn read(body: &str) -> Read<'_> {
    split(body).unwrap_or(Read {
        user_properties: None,
        event: body,
    })
}

fn split(body: &str) -> Option<Read<'_>> {
    let inner = body.strip_prefix('[')?.strip_suffix(']')?;
    if let Some(event) = inner.strip_prefix("null,") {
        return Some(Read {
            user_properties: None,
            event,
        });
    }
    let mut values = serde_json::Deserializer::from_str(inner).into_iter::<&RawValue>();
    let props = values.next()?.ok()?;
    let event = inner[values.byte_offset()..].strip_prefix(',')?;
    Some(Read {
        user_properties: Some(props.get()),
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_payload_reads_back_to_its_ids_properties_and_event() {
        let props = json!({"plan": {"value": "pro"}, "odd]\"key,": {"value": "[1,2]"}});
        let event = json!({"name": "purchase", "params": {"items": [{"item_id": "a,]"}]}});
        let p = payload("c\u{1f}1", Some("u \"1\""), Some(&props), &event);
        let (c, u) = ids(&p.route);
        assert_eq!((c.as_ref(), u.as_deref()), ("c\u{1f}1", Some("u \"1\"")));
        let r = read(p.body.get());
        let back: serde_json::Value =
            serde_json::from_str(r.user_properties.expect("properties")).expect("json");
        assert_eq!(back, props);
        let back: serde_json::Value = serde_json::from_str(r.event).expect("json");
        assert_eq!(back, event);
    }

    #[test]
    fn without_user_or_properties() {
        let p = payload("c", None, None::<&()>, &json!({"name": "x"}));
        assert_eq!(ids(&p.route), (Cow::Borrowed("c"), None));
        assert_eq!(
            read(p.body.get()),
            Read {
                user_properties: None,
                event: r#"{"name":"x"}"#
            }
        );
    }

    #[test]
    fn a_foreign_route_or_body_is_kept_whole() {
        assert_eq!(ids("plain-client"), (Cow::Borrowed("plain-client"), None));
        for body in [r#"{"name":"x"}"#, "[1]", "[{\"a\":1} {\"b\":2}]", "[]"] {
            assert_eq!(read(body).event, body, "{body}");
            assert_eq!(read(body).user_properties, None);
        }
    }
}
