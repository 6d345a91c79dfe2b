//! Captured logs: a process-wide `tracing` subscriber that keeps every event and span field as
//! text, so the `secrets` check can search what the runtime and the destination logged.
//!
//! Installed on first use when no global subscriber exists yet; a process that already has one
//! (a CLI with its own logging) is not captured, and the check says so.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::span;

/// Most bytes kept; later lines are dropped.
const CAP: usize = 8 << 20;

/// The capturing subscriber.
#[derive(Debug, Default)]
pub struct Capture {
    buf: Mutex<String>,
    next_id: AtomicU64,
}

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl Capture {
    fn push(&self, line: String) {
        let mut b = self.buf.lock().expect("log lock");
        if b.len() + line.len() < CAP {
            b.push_str(&line);
            b.push('\n');
        }
    }
    /// Everything captured so far.
    pub fn text(&self) -> String {
        self.buf.lock().expect("log lock").clone()
    }
    /// Bytes captured so far (a mark for [`Capture::text_since`]).
    pub fn len(&self) -> usize {
        self.buf.lock().expect("log lock").len()
    }
    /// Whether nothing was captured yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// What was captured after the mark `from` (from [`Capture::len`]). Other work running in
    /// the same process at the same time shows up too.
    pub fn text_since(&self, from: usize) -> String {
        let b = self.buf.lock().expect("log lock");
        b.get(from..).unwrap_or_default().to_string()
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &span::Attributes<'_>) -> span::Id {
        let mut s = format!("span {}", attrs.metadata().name());
        attrs.record(&mut Line(&mut s));
        self.push(s);
        span::Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &span::Id, values: &span::Record<'_>) {
        let mut s = String::from("span record");
        values.record(&mut Line(&mut s));
        self.push(s);
    }
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let m = event.metadata();
        let mut s = format!("{} {}", m.level(), m.target());
        event.record(&mut Line(&mut s));
        self.push(s);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

/// The process-wide capture, installing it on first call; `None` when another global
/// subscriber was installed first.
pub fn capture() -> Option<&'static Capture> {
    static CELL: OnceLock<Option<&'static Capture>> = OnceLock::new();
    *CELL.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::default());
        struct Fwd(&'static Capture);
        impl tracing::Subscriber for Fwd {
            fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
                self.0.enabled(m)
            }
            fn new_span(&self, a: &span::Attributes<'_>) -> span::Id {
                self.0.new_span(a)
            }
            fn record(&self, i: &span::Id, v: &span::Record<'_>) {
                self.0.record(i, v)
            }
            fn record_follows_from(&self, a: &span::Id, b: &span::Id) {
                self.0.record_follows_from(a, b)
            }
            fn event(&self, e: &tracing::Event<'_>) {
                self.0.event(e)
            }
            fn enter(&self, i: &span::Id) {
                self.0.enter(i)
            }
            fn exit(&self, i: &span::Id) {
                self.0.exit(i)
            }
        }
        tracing::subscriber::set_global_default(Fwd(c))
            .ok()
            .map(|_| c)
    })
}
