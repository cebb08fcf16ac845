//! Errors of the BM25 index.

use std::path::PathBuf;

pub use tamis_core::ErrorKind;

/// Everything that can go wrong creating, opening, writing or searching a [`crate::Bm25Index`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `open` was given a directory that holds no tamis BM25 index.
    #[error("{} is not a tamis BM25 index: {} is missing", path.display(), config.display())]
    NotAnIndex {
        /// The directory that was given.
        path: PathBuf,
        /// The settings file that was looked for.
        config: PathBuf,
    },
    /// `create` was given a directory that already holds an index.
    #[error("{} already holds an index", path.display())]
    AlreadyExists {
        /// The directory that was given.
        path: PathBuf,
    },
    /// The settings file of an index cannot be understood.
    #[error("corrupt index settings in {}, line {line}: {problem}", path.display())]
    CorruptConfig {
        /// The settings file.
        path: PathBuf,
        /// The 1-based line at fault, or 0 when the problem is the file as a whole.
        line: usize,
        /// What is wrong there.
        problem: String,
    },
    /// The settings file was written by a newer version of tamis.
    #[error(
        "index settings in {} have format {found}, but this version of tamis reads format {supported}",
        path.display()
    )]
    UnsupportedFormat {
        /// The settings file.
        path: PathBuf,
        /// The format it declares.
        found: u64,
        /// The format this version reads.
        supported: u64,
    },
    /// The tantivy schema does not have the field the settings call for.
    #[error("the index in {} has no field '{field}' that its settings call for", path.display())]
    SchemaMismatch {
        /// The index directory.
        path: PathBuf,
        /// The missing (or mistyped) field.
        field: &'static str,
    },
    /// The commit payload is not a sequence number written by this crate.
    #[error("the last commit of the index in {} carries payload '{payload}', not 'seq=<n>'", path.display())]
    CorruptPayload {
        /// The index directory.
        path: PathBuf,
        /// The payload found.
        payload: String,
    },
    /// A BM25 parameter is out of its range (see [`crate::Bm25Params`]).
    #[error(transparent)]
    InvalidParameter(#[from] tamis_core::InvalidBm25Param),
    /// Another process holds the index's write lock.
    #[error(
        "{}: another process is writing this index; searches can run beside it, writes wait \
         until it stops",
        path.display()
    )]
    Busy {
        /// The index directory.
        path: PathBuf,
    },
    /// A file of the index is damaged so that tantivy panicked reading it.
    #[error(
        "the BM25 index in {} is damaged (a file of it cannot be read); rebuild the index from its documents",
        path.display()
    )]
    Damaged {
        /// The index directory.
        path: PathBuf,
    },
    /// Reading or writing a file failed (the error names the file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// tantivy failed on the index.
    #[error("index {}: {source}", path.display())]
    Tantivy {
        /// The index directory.
        path: PathBuf,
        /// tantivy's error.
        source: tantivy::TantivyError,
    },
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotAnIndex { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. }
            | Error::CorruptConfig { .. }
            | Error::UnsupportedFormat { .. }
            | Error::SchemaMismatch { .. }
            | Error::InvalidParameter(_)
            | Error::Damaged { .. } => ErrorKind::User,
            Error::Io(_) | Error::Busy { .. } => ErrorKind::Unavailable,
            Error::Tantivy { source, .. } => match source {
                // Another writer holds the directory, or the disk failed: retrying may help.
                tantivy::TantivyError::LockFailure(..)
                | tantivy::TantivyError::IoError(_)
                | tantivy::TantivyError::OpenDirectoryError(_) => ErrorKind::Unavailable,
                // The index was written by a tantivy this build cannot read.
                tantivy::TantivyError::IncompatibleIndex(_) => ErrorKind::User,
                _ => ErrorKind::Internal,
            },
            Error::CorruptPayload { .. } => ErrorKind::Internal,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
