//! One file per subcommand.

pub mod bench;
pub mod conformance;
pub mod deliver;
pub mod inspect;
pub mod mock;
pub mod replay;
pub mod serve;

/// The async runtime of the commands that run the delivery pipeline (`deliver`, `replay`,
/// `bench`): [`destination_kit::runtime::tokio_runtime`], whose doc says what each part is worth.
pub fn pipeline_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    destination_kit::runtime::tokio_runtime()
}
