//! `destkit replay` — not built yet.

use std::process::ExitCode;

/// Arguments of `destkit replay`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `destkit replay`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("destkit replay: not built yet");
    ExitCode::from(2)
}
