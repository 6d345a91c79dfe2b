//! `destkit conformance` — not built yet.

use std::process::ExitCode;

/// Arguments of `destkit conformance`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `destkit conformance`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("destkit conformance: not built yet");
    ExitCode::from(2)
}
