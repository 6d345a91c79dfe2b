//! `destkit deliver` — not built yet.

use std::process::ExitCode;

/// Arguments of `destkit deliver`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `destkit deliver`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("destkit deliver: not built yet");
    ExitCode::from(2)
}
