//! # destination-kit
//!
//! A framework for partner destinations of Segment events. A partner implements one trait,
//! [`Destination`], that maps Segment-spec events (above all the specced semantic events of the
//! Ecommerce v2, Video, Live Chat and Email specs) into its own API calls. The framework does the
//! rest: parsing and validating events ([`event`]), recognising specced events ([`spec`]),
//! de-duplication, batching, HTTP, retry classification ([`classify`]), retries with a budget,
//! and an outcome for every event ([`outcome`]).
//!
//! ```
//! use destination_kit::event::Message;
//!
//! let msg = Message::from_slice(br#"{"type":"track","event":"Order Completed","userId":"u1",
//!     "messageId":"m1","timestamp":"2026-01-02T03:04:05Z","properties":{"order_id":"o1","total":"12.50"}}"#).unwrap();
//! assert_eq!(msg.event(), Some("Order Completed"));
//! assert!(msg.validate().is_empty());
//! ```

pub mod classify;
pub mod destination;
pub mod error;
pub mod event;
pub mod json;
pub mod outcome;
pub mod runtime;
pub mod secret;
pub mod spec;

pub use classify::ErrorKind;
pub use destination::{
    BatchLimits, Configured, Destination, DestinationInfo, DynDestination, Event, HttpClient,
    Mapped, PartnerRequest, PartnerResponse, Payload, Settings, SettingsError, TransportError,
    Verdict, Verdicts,
};
pub use error::{FieldError, ParseError};
pub use event::{CallType, Message};
pub use outcome::{DeliveryReport, Outcome};
pub use secret::Secret;
