//! `destkit inspect` — not built yet.

use std::process::ExitCode;

/// Arguments of `destkit inspect`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `destkit inspect`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("destkit inspect: not built yet");
    ExitCode::from(2)
}
