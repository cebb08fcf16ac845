//! Errors of vector indexing and search.

use std::path::PathBuf;

use tamis_core::ChunkKey;
pub use tamis_core::ErrorKind;

/// Everything that can go wrong building, searching, saving or loading a vector index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector or query does not have the index's dimension.
    #[error("vector has {got} dimensions, but the index has {expected}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The length of the vector that was given.
        got: usize,
    },
    /// A vector to index holds a NaN or an infinity.
    #[error("vector for key {key} holds a non-finite value at position {position}")]
    NonFiniteVector {
        /// The key the vector was given for.
        key: ChunkKey,
        /// The first offending component.
        position: usize,
    },
    /// A query holds a NaN or an infinity.
    #[error("query holds a non-finite value at position {position}")]
    NonFiniteQuery {
        /// The first offending component.
        position: usize,
    },
    /// A vector to index under the cosine metric has length zero, so it has no direction.
    #[error("vector for key {key} is all zeros, which has no cosine similarity")]
    ZeroVector {
        /// The key the vector was given for.
        key: ChunkKey,
    },
    /// A query under the cosine metric has length zero, so it has no direction.
    #[error("query is all zeros, which has no cosine similarity")]
    ZeroQuery,
    /// The key is above [`MAX_KEY`](crate::MAX_KEY): such keys mark removed vectors inside
    /// the HNSW graph.
    #[error("key {key} is reserved and cannot be indexed")]
    ReservedKey {
        /// The key that was given.
        key: ChunkKey,
    },
    /// A construction parameter is outside its valid range.
    #[error("invalid parameter {name}: {message}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A path cannot be handed to the index library because it is not valid UTF-8.
    #[error("path {} is not valid UTF-8", path.display())]
    NonUtf8Path {
        /// The path that was given.
        path: PathBuf,
    },
    /// An index file exists but could not be read as an index this crate opens.
    #[error("cannot load vector index {}: {reason}", path.display())]
    Load {
        /// The index file.
        path: PathBuf,
        /// What the loader reported.
        reason: String,
    },
    /// An index file's checksum is not the one recorded when it was saved: it was damaged
    /// or replaced since.
    #[error(
        "vector index {} is damaged: its CRC-32 is {found:08x}, not the {expected:08x} recorded when it was saved",
        path.display()
    )]
    Checksum {
        /// The index file.
        path: PathBuf,
        /// The CRC-32 recorded at saving.
        expected: u32,
        /// The CRC-32 of the file now.
        found: u32,
    },
    /// Writing an index file failed.
    #[error("cannot save vector index {}: {reason}", path.display())]
    Save {
        /// The index file.
        path: PathBuf,
        /// What the writer reported.
        reason: String,
    },
    /// A file system operation failed; the message names the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The ANN library failed on an operation that valid input should not make fail.
    #[error("vector index backend failed to {operation}: {message}")]
    Backend {
        /// What was being done.
        operation: &'static str,
        /// The library's message.
        message: String,
    },
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io(err) => match err.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                std::io::ErrorKind::PermissionDenied => ErrorKind::User,
                _ => ErrorKind::Unavailable,
            },
            Error::Save { .. } => ErrorKind::Unavailable,
            Error::Backend { .. } => ErrorKind::Internal,
            _ => ErrorKind::User,
        }
    }

    /// Wraps a failure of the ANN library.
    pub(crate) fn backend(operation: &'static str, err: impl std::fmt::Display) -> Self {
        Error::Backend { operation, message: err.to_string() }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
