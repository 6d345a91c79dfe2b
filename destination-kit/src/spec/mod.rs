//! Specced semantic events: Ecommerce v2 (28), Video (17), Live Chat (4), Email (6).
//!
//! PLACEHOLDER API — being filled in. The public shape below is the contract other modules use.

use crate::error::FieldError;
use crate::event::Message;

/// A spec family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Ecommerce v2.
    Ecommerce,
    /// Video.
    Video,
    /// Live Chat.
    LiveChat,
    /// Email.
    Email,
}

impl Family {
    /// All four families.
    pub const ALL: [Family; 4] = [Family::Ecommerce, Family::Video, Family::LiveChat, Family::Email];
    /// `"ecommerce"`, `"video"`, `"live_chat"`, `"email"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ecommerce => "ecommerce",
            Family::Video => "video",
            Family::LiveChat => "live_chat",
            Family::Email => "email",
        }
    }
}

/// One entry of the catalog: a specced event's family, exact name and v1 aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecEventKind {
    /// Its family.
    pub family: Family,
    /// The exact spec name (`"Order Completed"`).
    pub name: &'static str,
    /// Ecommerce v1 names that also recognise it.
    pub v1_aliases: &'static [&'static str],
}

/// Every specced event (55), in catalog order.
pub static ALL: &[SpecEventKind] = &[];

/// The catalog entry for a track event name (exact spec name or v1 alias).
pub fn recognise(event_name: &str) -> Option<&'static SpecEventKind> {
    ALL.iter()
        .find(|k| k.name == event_name || k.v1_aliases.contains(&event_name))
}

/// A recognised specced event with typed properties.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecEvent {
    /// Placeholder.
    Placeholder(&'static SpecEventKind),
}

impl SpecEvent {
    /// Recognise a track message: `None` when it is not a specced event, `Some(Err)` when it is
    /// but a typed property has the wrong type.
    pub fn from_message(msg: &Message) -> Option<Result<SpecEvent, Vec<FieldError>>> {
        let kind = recognise(msg.event()?)?;
        Some(Ok(SpecEvent::Placeholder(kind)))
    }
    /// Its catalog entry.
    pub fn kind(&self) -> &'static SpecEventKind {
        match self {
            SpecEvent::Placeholder(k) => k,
        }
    }
}
