//! # spec-tests
//!
//! The conformance suite for destination-kit destinations: canonical fixtures for every specced
//! event, a mock-partner toolkit on wiremock, and the checks a destination must pass.
//!
//! ```no_run
//! # async fn demo<D: destination_kit::Destination + Clone>(dest: D, mock: spec_tests::mock::MockPartner) {
//! let report = spec_tests::Suite::new(dest, serde_json::Value::Null).against(mock).run().await;
//! println!("{report}");
//! report.assert_conformant();
//! # }
//! ```
//!
//! See `spec-tests/README.md` for a walk-through ("your destination in fifteen minutes").

pub mod evidence;
pub mod fault;
pub mod fixtures;
pub mod logs;
pub mod mock;
pub mod report;
pub mod snapshot;
pub mod suite;

pub use report::{Check, CoverageRow, CoverageStatus, Report};
pub use suite::{Configure, ConfigureFn, Factory, RETRY_AFTER_SECS, Suite};
