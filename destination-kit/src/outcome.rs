//! Outcomes: every input event ends in exactly one, and the [`DeliveryReport`] counts them.

use crate::classify::ErrorKind;
use serde::Serialize;

/// The terminal outcome of one input event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The partner accepted it.
    Delivered,
    /// Same messageId seen within the de-duplication window.
    Duplicate,
    /// Not for this destination: integrations opt-out, or an event it does not support.
    Filtered {
        /// Why.
        reason: String,
    },
    /// Invalid event or mapping error: permanent, never sent.
    Rejected {
        /// Why (names the field and the problem).
        reason: String,
    },
    /// The partner refused it permanently (400, 401/403, 404, 422, …).
    Failed {
        /// What kind of failure.
        kind: ErrorKind,
        /// The partner's reason or the status.
        reason: String,
        /// The last HTTP status, when there was one.
        status: Option<u16>,
    },
    /// Still retryable when the retry budget ran out.
    Expired {
        /// The last failure.
        reason: String,
        /// The last HTTP status, when there was one.
        status: Option<u16>,
    },
}

impl Outcome {
    /// `"delivered"`, `"duplicate"`, … (as in reports).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Duplicate => "duplicate",
            Outcome::Filtered { .. } => "filtered",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Failed { .. } => "failed",
            Outcome::Expired { .. } => "expired",
        }
    }

    /// Whether this outcome makes a run unsuccessful (exit status 1): rejected, failed, expired.
    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            Outcome::Rejected { .. } | Outcome::Failed { .. } | Outcome::Expired { .. }
        )
    }

    /// The reason, for outcomes that have one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Filtered { reason }
            | Outcome::Rejected { reason }
            | Outcome::Failed { reason, .. }
            | Outcome::Expired { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Counts of a delivery run. `input` always equals the sum of the six outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeliveryReport {
    /// Input events (lines, or messages of a batch).
    pub input: u64,
    /// Accepted by the partner.
    pub delivered: u64,
    /// Dropped as duplicates.
    pub duplicate: u64,
    /// Not for this destination.
    pub filtered: u64,
    /// Invalid, never sent.
    pub rejected: u64,
    /// Refused permanently by the partner.
    pub failed: u64,
    /// Retry budget ran out.
    pub expired: u64,
    /// HTTP requests sent (every attempt).
    pub requests: u64,
    /// Requests that were retries of an earlier attempt.
    pub retries: u64,
    /// Bytes of request bodies sent.
    #[serde(default)]
    pub bytes_sent: u64,
}

impl DeliveryReport {
    /// Count one outcome.
    pub fn record(&mut self, o: &Outcome) {
        match o {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Duplicate => self.duplicate += 1,
            Outcome::Filtered { .. } => self.filtered += 1,
            Outcome::Rejected { .. } => self.rejected += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Expired { .. } => self.expired += 1,
        }
    }

    /// Sum of the six outcome counts.
    pub fn outcomes(&self) -> u64 {
        self.delivered + self.duplicate + self.filtered + self.rejected + self.failed + self.expired
    }

    /// The accounting invariant: every input event has exactly one outcome.
    pub fn adds_up(&self) -> bool {
        self.input == self.outcomes()
    }

    /// Whether any event ended rejected, failed or expired (exit status 1).
    pub fn has_problems(&self) -> bool {
        self.rejected + self.failed + self.expired > 0
    }
}
