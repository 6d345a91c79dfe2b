//! The pure, per-event half of the pipeline: validation, the destination's filters, spec
//! recognition and `map`. It needs no shared state, so the driver runs it on chunks of input on
//! the blocking pool, in parallel with its own sequential work (dedup, batching, accounting);
//! order is kept. What needs state — the journal, dedup — stays in the driver, which applies it
//! to the prepared result exactly as if it had run every step itself.

use super::{Body, Input};
use crate::destination::{DestinationInfo, DynDestination, Event, Mapped, Payload};
use crate::error::Errors;
use crate::event::parse_line_as;
use crate::outcome::Outcome;
use std::time::SystemTime;

/// An input event after the pure steps.
pub(crate) struct Prepared {
    pub line: usize,
    pub batch_index: Option<usize>,
    /// The raw line, for the dead letter of a line that did not parse.
    pub raw: Option<Box<str>>,
    /// `messageId`, when the message parsed and had one.
    pub message_id: Option<IdText>,
    /// The event as JSON, kept only when a dead-letter file is written.
    pub event: Option<serde_json::Value>,
    pub step: Step,
}

/// Where the event stands after the pure steps.
pub(crate) enum Step {
    /// Ends before de-duplication: rejected (unparseable, invalid) or filtered (call type,
    /// integrations opt-out).
    Early(Outcome),
    /// Valid and for this destination: de-duplicate, then this.
    Candidate(AfterDedup),
}

/// What a fresh (not duplicate) event becomes.
pub(crate) enum AfterDedup {
    /// `map` said unsupported, or mapped to nothing.
    Filtered(String),
    /// A typed spec property or `map` said invalid.
    Rejected(String),
    /// Payloads to batch and send: inline when there is one (most events), so the `Vec` that
    /// `map` returned is freed on the thread that allocated it (see [`IdText`] for why).
    Send(smallvec::SmallVec<[Payload; 1]>),
}

/// Ids of at most this many bytes travel inline (Segment's are 36–50 bytes).
const INLINE_ID: usize = 62;

/// A `messageId` on its way from a blocking thread to the driver, inline when short. A `String`
/// made on the blocking thread and freed on the driver's was a free across threads per event
/// (mimalloc's cross-thread free touches a cache line the allocating thread is using): with the
/// `Vec` of payloads, held inline for the same reason, `mi_free` went from 6.5 % to 3.1 % of a
/// GA4 run's `perf` samples, for ~1 % of its instructions.
pub(crate) enum IdText {
    Inline(u8, [u8; INLINE_ID]),
    Long(Box<str>),
}

impl IdText {
    /// The id's text.
    pub fn new(id: &str) -> IdText {
        if id.len() <= INLINE_ID {
            let mut bytes = [0u8; INLINE_ID];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            IdText::Inline(id.len() as u8, bytes)
        } else {
            IdText::Long(id.into())
        }
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            // SAFETY: `Inline` holds the first `len` bytes of a `&str` (`new`), all of it: UTF-8
            IdText::Inline(len, bytes) => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            IdText::Long(s) => s,
        }
    }
}

/// Everything [`prepare`] needs, cheap to clone into a blocking task.
#[derive(Clone)]
pub(crate) struct Preparer {
    pub dest: std::sync::Arc<dyn DynDestination>,
    pub info: std::sync::Arc<DestinationInfo>,
    pub keep_event: bool,
}

impl Preparer {
    /// Prepare one input onto `out`: parse it first when it is still a raw line (a line holding
    /// a `{"batch": [...]}` envelope gives one result per event in it). A `Body::Line` is one
    /// line already (the readers split at newlines), so it is parsed as one, not searched for
    /// newlines again byte by byte (dropping that search cut an Amplitude pipeline by 8 %).
    pub fn prepare_input(&self, input: Input, now: SystemTime, out: &mut Vec<Prepared>) {
        match input.body {
            Body::Parsed(r) => {
                out.push(self.prepare(input.line, input.batch_index, input.raw, *r, now))
            }
            Body::Line(bytes) => {
                let records = parse_line_as(input.line, &bytes, Some(&bytes), self.info.reads_tree);
                out.extend(records.map(|r| {
                    let raw = match (&r.result, self.keep_event) {
                        (Err(_), true) => Some(String::from_utf8_lossy(&bytes).into()),
                        _ => None,
                    };
                    self.prepare(input.line, r.batch_index, raw, r.result, now)
                }));
            }
        }
    }

    /// Run the pure steps on one parsed input (`raw`: its line, kept for the dead letter when
    /// it did not parse). A panic in the destination's `map` rejects that one event, with the
    /// panic's message.
    fn prepare(
        &self,
        line: usize,
        batch_index: Option<usize>,
        raw: Option<Box<str>>,
        result: Result<crate::event::Message, crate::event::ParseError>,
        now: SystemTime,
    ) -> Prepared {
        let mut out = Prepared {
            line,
            batch_index,
            raw: None,
            message_id: None,
            event: None,
            step: Step::Early(Outcome::Delivered),
        };
        let msg = match result {
            Ok(m) => m,
            Err(e) => {
                out.raw = raw;
                out.step = Step::Early(Outcome::Rejected {
                    reason: e.to_string(),
                });
                return out;
            }
        };
        out.message_id = msg.message_id().map(IdText::new);
        if self.keep_event {
            out.event = Some(msg.to_value());
        }
        out.step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.steps(&msg, now)))
            .unwrap_or_else(|panic| {
                let mut reason = format!("{} panicked while mapping this event", self.info.name);
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied());
                if let Some(why) = why {
                    reason.push_str(": ");
                    reason.push_str(why);
                }
                Step::Early(Outcome::Rejected { reason })
            });
        out
    }

    /// Validation, the filters, recognition and `map` of a parsed message.
    fn steps(&self, msg: &crate::event::Message, now: SystemTime) -> Step {
        let (errs, checked) = msg.validate_and_check();
        if !errs.is_empty() {
            return Step::Early(Outcome::Rejected {
                reason: Errors(&errs).to_string(),
            });
        }
        let info = &self.info;
        if !info.calls.contains(&msg.call()) {
            return Step::Early(Outcome::Filtered {
                reason: format!("{} does not take {} calls", info.name, msg.call()),
            });
        }
        if !msg.enabled_for(info.name) {
            return Step::Early(Outcome::Filtered {
                reason: format!("integrations opt-out for {}", info.name),
            });
        }
        let time = msg
            .event_time()
            .unwrap_or_else(|| chrono::DateTime::<chrono::Utc>::from(now));
        // the typed spec event is built only if `map` asks for it
        let later = std::sync::OnceLock::new();
        let given;
        let event = match checked {
            crate::spec::Checked::Reads(kind) => Event::with_spec_later(msg, kind, &later, time),
            crate::spec::Checked::Read(spec) => {
                given = spec.and_then(Result::ok);
                Event::new(msg, given.as_deref(), time)
            }
        };
        let after = match self.dest.map(&event) {
            Mapped::Unsupported { reason } => AfterDedup::Filtered(reason),
            Mapped::Invalid { reason } => AfterDedup::Rejected(reason),
            Mapped::Send(p) if p.is_empty() => {
                AfterDedup::Filtered(format!("{} mapped it to nothing to send", info.name))
            }
            Mapped::Send(mut p) if p.len() == 1 => {
                // the list freed here, where `map` allocated it, not on the driver's thread
                AfterDedup::Send(smallvec::smallvec![p.pop().expect("one payload")])
            }
            Mapped::Send(p) => AfterDedup::Send(smallvec::SmallVec::from_vec(p)),
        };
        Step::Candidate(after)
    }
}

#[cfg(test)]
mod tests {
    use super::{INLINE_ID, IdText};

    #[test]
    fn an_id_reads_back_as_given_inline_or_not() {
        let long = "é".repeat(40); // 80 bytes
        let edge = "x".repeat(INLINE_ID);
        let past = "x".repeat(INLINE_ID + 1);
        let multi = format!("{}é", "x".repeat(INLINE_ID - 2)); // exactly INLINE_ID bytes
        for id in [
            "",
            "m1",
            "ajs-next-7a28786ac3aa7b4e88bc8e8c0e696052",
            &edge,
            &multi,
        ] {
            let t = IdText::new(id);
            assert!(matches!(t, IdText::Inline(..)), "{id:?} is inline");
            assert_eq!(t.as_str(), id);
        }
        for id in [&past, &long] {
            let t = IdText::new(id);
            assert!(matches!(t, IdText::Long(_)), "{id:?} is not inline");
            assert_eq!(t.as_str(), id);
        }
    }
}
