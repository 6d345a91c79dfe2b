//! `destkit mock` — not built yet.

use std::process::ExitCode;

/// Arguments of `destkit mock`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `destkit mock`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("destkit mock: not built yet");
    ExitCode::from(2)
}
