//! One file per subcommand.

pub mod bench;
pub mod conformance;
pub mod deliver;
pub mod inspect;
pub mod mock;
pub mod replay;
pub mod serve;
