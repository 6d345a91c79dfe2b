//! `destkit bench` — not built yet.

use std::process::ExitCode;

/// Arguments of `destkit bench`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `destkit bench`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("destkit bench: not built yet");
    ExitCode::from(2)
}
