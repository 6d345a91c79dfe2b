//! The suite's [`Report`]: named checks and the coverage matrix, as a table or JSON.

use serde::Serialize;
use std::fmt;

/// The result of one named check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name (`coverage`, `wire.timestamp`, `classification.429_retry_after`, …).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was checked, or each failure: which event, what was expected, what the partner got.
    pub detail: String,
}

/// How a destination handles one specced event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageStatus {
    /// Mapped to the partner's own event type.
    Mapped,
    /// Sent as a custom event (the destination does not list it among its native events).
    Custom,
    /// Declared unsupported, with a reason.
    Unsupported,
    /// Invalid, a panic, an empty answer, or an unsupported answer without a reason.
    Failing,
}

impl CoverageStatus {
    /// `"mapped"`, `"custom"`, `"unsupported"`, `"failing"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageStatus::Mapped => "mapped",
            CoverageStatus::Custom => "custom",
            CoverageStatus::Unsupported => "unsupported",
            CoverageStatus::Failing => "failing",
        }
    }
}

/// One row of the coverage matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageRow {
    /// `ecommerce`, `video`, `live_chat`, `email`.
    pub family: String,
    /// The spec event name.
    pub event: String,
    /// Its status.
    pub status: CoverageStatus,
    /// Whether the destination claims the family (only claimed families fail the suite).
    #[serde(skip)]
    pub claimed: bool,
    /// The unsupported reason or the failure.
    #[serde(skip)]
    pub note: String,
}

/// What [`crate::Suite::run`] returns.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The destination's slug.
    pub destination: String,
    /// Whether every check passed.
    pub passed: bool,
    /// Every check, in the order run.
    pub checks: Vec<Check>,
    /// Every specced event (55) and how the destination handles it.
    pub coverage: Vec<CoverageRow>,
}

impl Report {
    pub(crate) fn new(destination: &str) -> Report {
        Report {
            destination: destination.to_string(),
            passed: true,
            checks: Vec::new(),
            coverage: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        name: impl Into<String>,
        passed: bool,
        detail: impl Into<String>,
    ) {
        self.passed &= passed;
        self.checks.push(Check {
            name: name.into(),
            passed,
            detail: detail.into(),
        });
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.passed
    }

    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The checks that failed.
    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.passed).collect()
    }

    /// Panic with a readable list of the failed checks unless every check passed.
    #[track_caller]
    pub fn assert_conformant(&self) {
        if self.passed {
            return;
        }
        let mut s = format!(
            "destination `{}` is not conformant; failed checks:\n",
            self.destination
        );
        for c in self.failed() {
            s.push_str(&format!("- {}:\n", c.name));
            for l in c.detail.lines() {
                s.push_str(&format!("    {l}\n"));
            }
        }
        panic!("{s}");
    }

    /// The report as JSON (**contract** of `destkit conformance --json`): `destination`,
    /// `passed`, `checks` (name, passed, detail), `coverage` (family, event, status).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The coverage matrix as a text table (family, event, status, note).
    pub fn coverage_table(&self) -> String {
        let w = self
            .coverage
            .iter()
            .map(|r| r.event.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut s = format!(
            "{:<10}  {:<w$}  {:<11}  note\n",
            "family", "event", "status"
        );
        for r in &self.coverage {
            let mut note = r.note.clone();
            if !r.claimed {
                note = format!("(family not claimed) {note}");
            }
            let row = format!(
                "{:<10}  {:<w$}  {:<11}  {}",
                r.family,
                r.event,
                r.status.as_str(),
                note.trim()
            );
            s.push_str(row.trim_end());
            s.push('\n');
        }
        let count = |st: CoverageStatus| self.coverage.iter().filter(|r| r.status == st).count();
        s.push_str(&format!(
            "{} mapped, {} custom, {} unsupported, {} failing\n",
            count(CoverageStatus::Mapped),
            count(CoverageStatus::Custom),
            count(CoverageStatus::Unsupported),
            count(CoverageStatus::Failing)
        ));
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "conformance of `{}`", self.destination)?;
        for c in &self.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            let mut lines = c.detail.lines();
            writeln!(f, "{mark} {:<32} {}", c.name, lines.next().unwrap_or(""))?;
            for l in lines {
                writeln!(f, "     {:<32} {l}", "")?;
            }
        }
        writeln!(f)?;
        write!(f, "{}", self.coverage_table())?;
        let failed = self.failed().len();
        if failed == 0 {
            writeln!(f, "\nPASSED: {} checks", self.checks.len())
        } else {
            writeln!(f, "\nFAILED: {failed} of {} checks", self.checks.len())
        }
    }
}
