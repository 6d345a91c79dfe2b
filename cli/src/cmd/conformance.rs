//! `destkit conformance --destination NAME [--json]`: the conformance suite against the
//! destination's built-in mock partner.
//!
//! Prints the checks and the coverage matrix (spec event × mapped / custom / unsupported /
//! failing) as text, or with `--json` (**contract**):
//! `{"destination", "passed", "checks": [{"name", "passed", "detail"}], "coverage": [{"family",
//! "event", "status"}]}`. Exit status: 0 when every check passes, 1 when one fails, 2 for bad
//! usage (an unknown destination).

use destinations::registry;
use spec_tests::Suite;
use std::process::ExitCode;

/// Arguments of `destkit conformance`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Destination slug (`webhook`, `ga4`, `amplitude`, `mixpanel`, `braze`, `intercom`,
    /// `adobe-media`).
    #[arg(long, short = 'd')]
    pub destination: String,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Run `destkit conformance`.
pub fn run(args: Args) -> ExitCode {
    let Some(entry) = registry::find(&args.destination) else {
        eprintln!(
            "destkit conformance: unknown destination {:?}; known: {}",
            args.destination,
            registry::slugs()
        );
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("destkit conformance: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = rt.block_on(async {
        let mock = (entry.start_mock)(spec_tests::mock::Recording::On).await;
        Suite::from_configure(entry.configure)
            .against(mock)
            .run()
            .await
    });
    if args.json {
        match serde_json::to_string_pretty(&report.to_json()) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("destkit conformance: cannot print the report: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{report}");
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
