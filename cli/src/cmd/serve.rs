//! `destkit serve` — not built yet.

use std::process::ExitCode;

/// Arguments of `destkit serve`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `destkit serve`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("destkit serve: not built yet");
    ExitCode::from(2)
}
