//! One file per subcommand.

pub mod bench;
pub mod conformance;
pub mod deliver;
pub mod inspect;
pub mod mock;
pub mod replay;
pub mod serve;

/// Whether two paths name the same file (the same device and inode; `false` when either
/// cannot be read). A `--dead-letter` or cursor file that is the input would empty the input
/// before it is read.
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
