//! `destkit serve --config FILE --port P`: the Segment HTTP Tracking API on 127.0.0.1.
//!
//! Each write key maps to a source with its own destinations (TOML, see [`config`]). Accepted
//! messages get `receivedAt`, a `messageId` when missing and a skew-corrected `timestamp`
//! ([`ingest`]), then go through dedup (per source), mapping, batching and retries to each of the
//! source's destinations, one delivery runtime per source × destination. On SIGTERM or Ctrl-C it
//! stops accepting (503), drains in-flight deliveries within `--drain-timeout`, prints a report
//! per destination (and writes it as JSON with `--report`), and exits 0 when no event ended
//! rejected, failed or expired, 1 when some did, 2 for a bad config.

pub mod config;
pub mod http;
pub mod ingest;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `destkit serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The sources and destinations (TOML: `[[sources]] name, write_key, [[sources.destinations]]`).
    #[arg(long)]
    pub config: PathBuf,
    /// Port on 127.0.0.1 (0 picks a free one; the address is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// How long SIGTERM waits for in-flight deliveries (e.g. `30s`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub drain_timeout: Option<Duration>,
    /// Write the final report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print less: no per-destination table at shutdown.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Run `destkit serve`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("destkit serve: not built yet");
    ExitCode::from(2)
}
