//! What the fuzz targets share: the input guards and the scratch directories.

use std::path::PathBuf;

/// A directory for one target's files, in memory when `/dev/shm` exists: the targets that
/// write their input to files run thousands of times a second.
pub fn scratch_root() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() { shm } else { std::env::temp_dir() }
}

/// A fresh temporary directory under [`scratch_root`].
pub fn scratch_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(scratch_root())
        .expect("a temporary directory: the fuzz machine's disk is full or read-only")
}
