//! The dead-letter file: one JSON line per event that ended `rejected`, `failed` or `expired`.
//!
//! Each line: `{"line", "batch_index", "message_id", "outcome", "kind", "reason", "attempts", "last_status",
//! "event"}` where `event` is the original message (or, for input that did not parse, `raw`:
//! the input line as text). Settings, request URLs and headers are never written.

use crate::outcome::Outcome;
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// One dead-letter entry before it is written.
#[derive(Debug, Clone)]
pub struct DeadLetterEntry<'a> {
    /// Input line (or submission number).
    pub line: usize,
    /// Position inside a `{"batch": [...]}` envelope, when it came from one.
    pub batch_index: Option<usize>,
    /// The event's messageId, when it had one.
    pub message_id: Option<&'a str>,
    /// The outcome (rejected, failed or expired).
    pub outcome: &'a Outcome,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP status seen.
    pub last_status: Option<u16>,
    /// The original event JSON.
    pub event: Option<Value>,
    /// The raw input text, when it did not parse.
    pub raw: Option<&'a str>,
}

/// A JSON-lines dead-letter writer (appends; buffered; flushed by [`DeadLetter::flush`]).
#[derive(Debug)]
pub struct DeadLetter {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
}

impl DeadLetter {
    /// Open `path` for appending (created when missing).
    pub fn open(path: &Path) -> io::Result<DeadLetter> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(DeadLetter {
            path: path.to_path_buf(),
            out: BufWriter::new(f),
            written: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries written by this writer.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Write one entry.
    pub fn write(&mut self, e: &DeadLetterEntry<'_>) -> io::Result<()> {
        let kind = match e.outcome {
            Outcome::Failed { kind, .. } => Some(kind.as_str()),
            _ => None,
        };
        let mut line = json!({
            "line": e.line,
            "batch_index": e.batch_index,
            "message_id": e.message_id,
            "outcome": e.outcome.name(),
            "kind": kind,
            "reason": e.outcome.reason(),
            "attempts": e.attempts,
            "last_status": e.last_status,
            "event": e.event,
        });
        if let Some(raw) = e.raw {
            line["raw"] = Value::String(raw.to_string());
        }
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Flush buffered entries to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
