//! `destkit inspect [FILE|-]`: read events and print, per event, one JSON object (**contract**):
//!
//! ```text
//! {"line":7,"type":"track","messageId":"m-7","spec":{"family":"ecommerce","event":"Order Completed"},"errors":[{"path":"properties.products[2].price","message":"expected a number, got \"abc\""}]}
//! ```
//!
//! - `line`: the 1-based input line; blank lines are skipped (they are not events) but counted;
//! - `type`: the call (`track`, `identify`, `page`, `screen`, `group`, `alias`), or `null` when
//!   the line is not a message (not JSON, not an object, no or unknown `type`);
//! - `messageId`: as sent (any JSON value), `null` when absent or the line is not a message;
//! - `spec`: the recognised specced event of a track call (`family`: `ecommerce`, `video`,
//!   `live_chat` or `email`; `event`: the canonical spec name, also for a v1 alias), else `null`;
//! - `errors`: every parse or validation problem as `{"path", "message"}`; empty when valid.
//!
//! A line holding a `{"batch": [...]}` envelope gives one object per item, all with that line,
//! and paths starting `batch[i].`. The input is read line by line, never whole.
//!
//! Exit status: 0 when every event is valid, 1 when any is not, 2 for bad usage or input that
//! cannot be read (the file is named on stderr).

use destination_kit::FieldError;
use destination_kit::event::{CallType, Record, RecordReader};
use destination_kit::spec;
use serde::Serialize;
use serde_json::Value;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

/// Arguments of `destkit inspect` (**contract**).
#[derive(clap::Args, Debug)]
#[command(after_help = "Prints one JSON object per event: \
{\"line\", \"type\", \"messageId\", \"spec\": {\"family\", \"event\"} | null, \"errors\": [{\"path\", \"message\"}]}. \
Blank lines are skipped. Exit status: 0 all valid, 1 some invalid, 2 bad usage or unreadable input.")]
pub struct Args {
    /// Events as JSON lines (a line may also hold a `{"batch": [...]}` envelope); `-` or nothing
    /// for stdin.
    #[arg(value_name = "FILE|-")]
    pub input: Option<String>,
}

/// One output line.
#[derive(Serialize)]
struct Inspected<'a> {
    line: usize,
    #[serde(rename = "type")]
    call: Option<&'static str>,
    #[serde(rename = "messageId")]
    message_id: Option<&'a Value>,
    spec: Option<SpecName>,
    errors: Vec<FieldError>,
}

/// The `spec` member: family and canonical event name.
#[derive(Serialize)]
struct SpecName {
    family: &'static str,
    event: &'static str,
}

impl<'a> Inspected<'a> {
    fn of(record: &'a Record) -> Self {
        let msg = record.message();
        let spec = msg
            .filter(|m| m.call() == CallType::Track)
            .and_then(|m| m.event())
            .and_then(spec::recognise)
            .map(|k| SpecName {
                family: k.family.as_str(),
                event: k.name,
            });
        Inspected {
            line: record.line,
            call: msg.map(|m| m.call().as_str()),
            message_id: msg.and_then(|m| m.get("messageId")),
            spec,
            errors: record.errors(),
        }
    }
}

/// Run `destkit inspect`.
pub fn run(args: Args) -> ExitCode {
    let (name, input): (String, Box<dyn BufRead>) = match args.input.as_deref() {
        None | Some("-") => ("stdin".into(), Box::new(io::stdin().lock())),
        Some(path) => match File::open(path) {
            Ok(f) => (
                path.to_string(),
                Box::new(BufReader::with_capacity(1 << 16, f)),
            ),
            Err(e) => {
                eprintln!("destkit inspect: cannot read {path}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let (mut events, mut invalid) = (0usize, 0usize);
    for item in RecordReader::new(input) {
        let record = match item {
            Ok(r) => r,
            Err(e) => {
                let _ = out.flush();
                eprintln!("destkit inspect: cannot read {name}: {e}");
                return ExitCode::from(2);
            }
        };
        let inspected = Inspected::of(&record);
        events += 1;
        if !inspected.errors.is_empty() {
            invalid += 1;
        }
        let written = serde_json::to_writer(&mut out, &inspected)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = written {
            return write_failed(&e, invalid);
        }
    }
    if let Err(e) = out.flush() {
        return write_failed(&e, invalid);
    }
    if io::stderr().is_terminal() {
        eprintln!("destkit inspect: {events} events, {invalid} invalid");
    }
    ExitCode::from(u8::from(invalid > 0))
}

/// Stdout went away: a closed pipe (`| head`) ends quietly, anything else is an error.
fn write_failed(e: &io::Error, invalid: usize) -> ExitCode {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::from(u8::from(invalid > 0));
    }
    eprintln!("destkit inspect: cannot write the output: {e}");
    ExitCode::from(2)
}
