//! Errors of the engine.

use std::path::PathBuf;

pub use tamis_core::ErrorKind;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A fusion configuration does not fit its inputs.
    #[error("invalid fusion: {message}")]
    InvalidFusion {
        /// What is wrong.
        message: String,
    },
    /// A filter expression could not be parsed.
    #[error("invalid filter at character {position}: {message}")]
    InvalidFilter {
        /// 0-based character offset of the problem in the expression.
        position: usize,
        /// What was expected.
        message: String,
    },
    /// A chunking configuration is inconsistent.
    #[error("invalid chunking: {message}")]
    InvalidChunking {
        /// What is wrong.
        message: String,
    },
    /// A model failed (embedding, tokenizing, reranking).
    #[error(transparent)]
    Model(tamis_core::Error),
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
    /// Filesystem access failed (the error names the path).
    #[error(transparent)]
    Io(std::io::Error),
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidFusion { .. }
            | Error::InvalidFilter { .. }
            | Error::InvalidChunking { .. }
            | Error::SchemaVersion { .. } => ErrorKind::User,
            Error::Model(err) => err.kind(),
            Error::Store { .. } | Error::Io(_) => ErrorKind::Unavailable,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
