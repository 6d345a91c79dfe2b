//! The seam between the runtime and a durable store: [`Journal`].

use crate::runtime::EventOutcome;
use std::time::SystemTime;

/// What an earlier run left for one input position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Earlier {
    /// Nothing: a new event.
    New,
    /// Accepted and not terminal: resume it.
    Unfinished {
        /// When its retry budget started (it keeps counting from there).
        since: SystemTime,
        /// Whether de-duplication already let it through (it is not checked again).
        dedup_passed: bool,
        /// HTTP attempts already made for it (its backoff continues from there).
        attempts: u32,
        /// When its next attempt was due (it is not sent again before).
        next_at: Option<SystemTime>,
    },
    /// It reached this outcome: count it, do not do it again.
    Finished(EventOutcome),
}

/// Durable bookkeeping the runtime reports to, for crash safety. The runtime calls it for every
/// input position: [`Journal::earlier`] first, then [`Journal::accepted`] when the event passed
/// every check and is about to be sent, and [`Journal::terminal`] with its outcome. Without a
/// journal (the default) nothing survives the process.
pub trait Journal: Send + Sync + 'static {
    /// What an earlier run left for `(line, batch_index)`.
    fn earlier(&self, line: usize, batch_index: Option<usize>) -> Earlier;
    /// The event is accepted (it is about to be sent): record it. Returns when its retry budget
    /// started — `now`, or the time an earlier run accepted it.
    fn accepted(
        &self,
        line: usize,
        batch_index: Option<usize>,
        message_id: &str,
        now: SystemTime,
    ) -> SystemTime;
    /// The event reached its outcome.
    fn terminal(&self, outcome: &EventOutcome);
    /// The event was tried `attempts` times and waits for a retry at `next_at`. The default
    /// records nothing (attempts then count from 0 again after a restart).
    fn attempted(
        &self,
        _line: usize,
        _batch_index: Option<usize>,
        _attempts: u32,
        _next_at: SystemTime,
    ) {
    }
}
