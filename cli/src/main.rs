//! `destkit`: deliver, replay, inspect, conformance, mock, serve, bench.
//!
//! Exit status: 0 when no event ended rejected, failed or expired; 1 when some did; 2 for bad
//! usage or unreadable input.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

// Printing that never panics: the standard macros panic when stdout or stderr is a closed pipe
// (`destkit deliver … 2>&1 | head -1`), which ended a run with status 101 mid-delivery. These
// shadow them in every module below (declared first, so their textual scope covers the
// crate): a write to a closed pipe is dropped and the run goes on to its own exit status.
macro_rules! println {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
macro_rules! print {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}
macro_rules! eprintln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
macro_rules! eprint {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}

mod alloc;
mod bench;
mod cmd;
mod settings;

/// mimalloc: the pipeline allocates many small short-lived values per event (JSON trees,
/// serialised payloads); glibc malloc spent a third of the pipeline's CPU on them. Called
/// through [`alloc::Mimalloc`], which takes mimalloc's plain entry points (see there why).
#[global_allocator]
static GLOBAL: alloc::Mimalloc = alloc::Mimalloc;

/// destination-kit's command line.
#[derive(Parser, Debug)]
#[command(
    name = "destkit",
    version,
    about = "Deliver Segment events to partner destinations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Deliver events to a destination (its built-in mock partner unless --endpoint is given).
    Deliver(cmd::deliver::Args),
    /// Resend an archive with the original event times, rate-limited and resumable.
    Replay(cmd::replay::Args),
    /// Read events and print, per event, its call type, spec event and validation errors.
    Inspect(cmd::inspect::Args),
    /// Run the conformance suite for a destination against its built-in mock partner.
    Conformance(cmd::conformance::Args),
    /// Run a destination's mock partner as a standalone server.
    Mock(cmd::mock::Args),
    /// Accept the Segment HTTP Tracking API and deliver to the configured destinations.
    Serve(cmd::serve::Args),
    /// Measure throughput and memory against the parse floor.
    Bench(cmd::bench::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Deliver(a) => cmd::deliver::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Conformance(a) => cmd::conformance::run(a),
        Command::Mock(a) => cmd::mock::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    }
}
