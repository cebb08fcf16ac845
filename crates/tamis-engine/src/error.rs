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
    /// A pipeline request does not hold together.
    #[error("invalid pipeline: {message}")]
    InvalidPipeline {
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
    /// A collection name has characters a catalog does not allow.
    #[error("invalid collection name {name:?}: use 1 to 64 letters, digits, `_` or `-`")]
    InvalidCollectionName {
        /// The name given.
        name: String,
    },
    /// A search request is out of range.
    #[error("invalid search: {message}")]
    InvalidSearch {
        /// What is wrong.
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
    /// `create` found an index already there.
    #[error("{} already holds an index: open it, or choose an empty directory", path.display())]
    IndexExists {
        /// The directory.
        path: PathBuf,
    },
    /// `open` found no index.
    #[error("{} holds no tamis index (no store.sqlite): create one with `tamis index`", path.display())]
    NoIndex {
        /// The directory.
        path: PathBuf,
    },
    /// The index directory is damaged.
    #[error("index {} is damaged: {message}", path.display())]
    CorruptIndex {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A catalog already has a collection by that name.
    #[error("collection '{name}' already exists in {location}: open it, or choose another name")]
    CollectionExists {
        /// The catalog (never with credentials).
        location: String,
        /// The collection's name.
        name: String,
    },
    /// A catalog has no collection by that name.
    #[error("{location} holds no collection '{name}': create it with `tamis index`")]
    NoCollection {
        /// The catalog (never with credentials).
        location: String,
        /// The collection's name.
        name: String,
    },
    /// An external backend (a database) failed or refused.
    #[error("{location}: {message}")]
    Backend {
        /// The backend (never with credentials).
        location: String,
        /// Whose fault it is.
        kind: ErrorKind,
        /// What went wrong, with its causes.
        message: String,
    },
    /// The index was built with another bi-encoder.
    #[error(
        "index {location} was built with embedder '{indexed_with}', not '{requested}': use that model, or build a new index"
    )]
    EmbedderMismatch {
        /// Where the index lives.
        location: String,
        /// The embedder recorded in the index.
        indexed_with: String,
        /// The embedder asked for.
        requested: String,
    },
    /// Dense or hybrid search was asked for without an embedder.
    #[error("dense and hybrid search need the index's bi-encoder")]
    EmbedderRequired,
    /// An embedding has the wrong length for the index.
    #[error("the embedder returned {got} dimensions, the index holds {expected}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// What the embedder returned.
        got: usize,
    },
    /// The BM25 index failed.
    #[error(transparent)]
    Lexical(#[from] tamis_lexical::Error),
    /// The vector index failed.
    #[error(transparent)]
    Vector(#[from] tamis_vector::Error),
    /// A setting could not be (de)serialized.
    #[error("settings: {0}")]
    Json(serde_json::Error),
    /// Filesystem access failed (the error names the path).
    #[error(transparent)]
    Io(std::io::Error),
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidFusion { .. }
            | Error::InvalidPipeline { .. }
            | Error::InvalidFilter { .. }
            | Error::InvalidChunking { .. }
            | Error::InvalidSearch { .. }
            | Error::InvalidCollectionName { .. }
            | Error::SchemaVersion { .. }
            | Error::IndexExists { .. }
            | Error::CollectionExists { .. }
            | Error::EmbedderMismatch { .. }
            | Error::DimensionMismatch { .. }
            | Error::EmbedderRequired => ErrorKind::User,
            Error::NoIndex { .. } | Error::NoCollection { .. } => ErrorKind::NotFound,
            Error::CorruptIndex { .. } | Error::Json(_) => ErrorKind::Internal,
            Error::Lexical(err) => err.kind(),
            Error::Vector(err) => err.kind(),
            Error::Model(err) => err.kind(),
            Error::Backend { kind, .. } => *kind,
            Error::Store { .. } | Error::Io(_) => ErrorKind::Unavailable,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
