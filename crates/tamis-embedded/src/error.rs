//! Errors of the embedded backend, and how they become engine errors at the
//! [`Backend`](tamis_engine::backend::Backend) boundary.

use std::path::{Path, PathBuf};

use tamis_core::ErrorKind;
use tamis_engine::BackendError;

/// Everything that can go wrong in an index directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQLite store failed.
    #[error("index store {}: {source}", path.display())]
    Store {
        /// The store file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The store was written by an incompatible version of tamis.
    #[error("index store {} has schema version {found}, this tamis reads version {expected}: rebuild the index", path.display())]
    SchemaVersion {
        /// The store file.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The version this build reads.
        expected: i64,
    },
    /// The index directory is damaged.
    #[error("index {} is damaged: {message}", path.display())]
    CorruptIndex {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The BM25 index failed.
    #[error(transparent)]
    Lexical(#[from] tamis_lexical::Error),
    /// The vector index failed.
    #[error(transparent)]
    Vector(#[from] tamis_vector::Error),
    /// Filesystem access failed (the error names the path).
    #[error(transparent)]
    Io(std::io::Error),
    /// What every backend can report: invalid settings, an index already there, ...
    #[error(transparent)]
    Engine(#[from] tamis_engine::Error),
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::SchemaVersion { .. } => ErrorKind::User,
            Error::CorruptIndex { .. } => ErrorKind::Internal,
            Error::Store { .. } | Error::Io(_) => ErrorKind::Unavailable,
            Error::Lexical(err) => err.kind(),
            Error::Vector(err) => err.kind(),
            Error::Engine(err) => err.kind(),
        }
    }

    /// This error as the engine reports it, for the index in `dir`: what every backend can
    /// report becomes the engine's own variant (a busy BM25 directory is
    /// [`Busy`](tamis_engine::Error::Busy)), the rest a
    /// [`Backend`](tamis_engine::Error::Backend) error carrying this one whole, its kind
    /// and its causes.
    pub fn into_engine(self, dir: &Path) -> tamis_engine::Error {
        match self {
            Error::Engine(err) => err,
            Error::Lexical(tamis_lexical::Error::Busy { path }) => {
                tamis_engine::Error::Busy { location: path.display().to_string() }
            }
            err => tamis_engine::Error::Backend(BackendError::new(
                err.kind(),
                dir.display().to_string(),
                err,
            )),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
