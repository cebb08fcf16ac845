//! Errors of the engine.

use std::path::PathBuf;

pub use tamis_core::ErrorKind;

/// Any error a backend's library raises.
type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// A filter expression exceeds one of its [`FilterLimits`](crate::filter::FilterLimits).
    #[error("filter too large: it {} ({} = {max}; {} raises it)", limit.exceeded(*max), limit.name(), limit.flag())]
    FilterTooLarge {
        /// The limit exceeded.
        limit: crate::filter::FilterLimit,
        /// Its value.
        max: usize,
    },
    /// A filter limit is set out of its range.
    #[error("{} must be between 1 and {ceiling}, not {value} ({})", limit.name(), limit.flag())]
    InvalidFilterLimit {
        /// The limit.
        limit: crate::filter::FilterLimit,
        /// The value given.
        value: usize,
        /// The highest value allowed.
        ceiling: usize,
    },
    /// A database refused a filter as too complex (limits raised above the defaults, or a
    /// filter built by hand): the client's to simplify, so it names no file or database.
    #[error("filter too complex for the {backend} backend: {reason}: simplify it")]
    FilterTooComplex {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The database's message (which names no path).
        reason: String,
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
    /// Index settings are out of range (chunking has its own error).
    #[error("invalid index settings: {message}")]
    InvalidSettings {
        /// What is wrong.
        message: String,
    },
    /// A chunking configuration is inconsistent.
    #[error("invalid chunking: {message}")]
    InvalidChunking {
        /// What is wrong.
        message: String,
    },
    /// A document to ingest is malformed (a bad JSON line, a file that is not UTF-8).
    #[error("{location}: {reason}")]
    BadInput {
        /// Where: `line N of FILE`, or the file.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A model failed (embedding, tokenizing, reranking).
    #[error(transparent)]
    Model(tamis_core::Error),
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
    /// Another process is writing the index: searches can run, writes wait until it stops.
    #[error(
        "{location}: another process is writing this index; searches can run beside it, \
         writes wait until it stops"
    )]
    Busy {
        /// What is locked: the index, or the part of it that holds the write lock.
        location: String,
    },
    /// A backend failed or refused: a database, the embedded store or one of its indexes.
    #[error(transparent)]
    Backend(BackendError),
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
    /// A late-interaction stage's model is not the one whose token vectors the index
    /// stores.
    #[error(
        "index {location} stores the token vectors of late-interaction model '{indexed_with}', not '{requested}': rerank with that model, or build a new index with --late-interaction {requested}"
    )]
    LateModelMismatch {
        /// Where the index lives.
        location: String,
        /// The late-interaction model recorded in the index.
        indexed_with: String,
        /// The model asked for.
        requested: String,
    },
    /// A late-interaction model was given to write token vectors into an index created
    /// without one.
    #[error(
        "index {location} was created without a late-interaction model, and the models an index stores are fixed when it is created; build a new index with one to store token vectors"
    )]
    NoTokenVectors {
        /// Where the index lives.
        location: String,
    },
    /// An ingest into an index that stores token vectors was given no late-interaction
    /// model to compute them.
    #[error(
        "the index stores the token vectors of late-interaction model '{model_id}': writing to it needs that model"
    )]
    LateModelRequired {
        /// The late-interaction model recorded in the index.
        model_id: String,
    },
    /// Dense or hybrid search was asked for without an embedder.
    #[error("dense and hybrid search need the index's bi-encoder")]
    EmbedderRequired,
    /// Reading documents to ingest failed (the error names the path).
    #[error(transparent)]
    Io(std::io::Error),
    /// An embedding has the wrong length for the index.
    #[error("the embedder returned {got} dimensions, the index holds {expected}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// What the embedder returned.
        got: usize,
    },
    /// Token vectors have the wrong width for the index, or a model returned them so.
    #[error(
        "the late-interaction model gives {got}-dimensional token vectors, the index holds {expected}"
    )]
    TokenDimensionMismatch {
        /// The index's token dimension.
        expected: usize,
        /// What the model gave.
        got: usize,
    },
    /// A chunk's stored token vectors are not whole rows of the index's dimension: the
    /// index is damaged.
    #[error(
        "{location}: the token vectors stored for chunk {key} are damaged ({source}): rebuild the index"
    )]
    CorruptTokenVectors {
        /// Where the index lives.
        location: String,
        /// The chunk.
        key: tamis_core::ChunkKey,
        /// What is wrong with them.
        source: tamis_core::BadTokenBytes,
    },
    /// A setting could not be (de)serialized.
    #[error("settings: {0}")]
    Json(serde_json::Error),
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidFusion { .. }
            | Error::InvalidPipeline { .. }
            | Error::InvalidFilter { .. }
            | Error::FilterTooLarge { .. }
            | Error::InvalidFilterLimit { .. }
            | Error::FilterTooComplex { .. }
            | Error::InvalidChunking { .. }
            | Error::BadInput { .. }
            | Error::InvalidSearch { .. }
            | Error::InvalidSettings { .. }
            | Error::InvalidCollectionName { .. }
            | Error::IndexExists { .. }
            | Error::CollectionExists { .. }
            | Error::EmbedderMismatch { .. }
            | Error::DimensionMismatch { .. }
            | Error::TokenDimensionMismatch { .. }
            | Error::LateModelMismatch { .. }
            | Error::NoTokenVectors { .. }
            | Error::LateModelRequired { .. }
            | Error::EmbedderRequired => ErrorKind::User,
            Error::NoIndex { .. } | Error::NoCollection { .. } => ErrorKind::NotFound,
            Error::Json(_) | Error::CorruptTokenVectors { .. } => ErrorKind::Internal,
            // A missing or unreadable input is the caller's to fix; a failing disk is not.
            Error::Io(err) => match err.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::IsADirectory => ErrorKind::User,
                _ => ErrorKind::Unavailable,
            },
            Error::Busy { .. } => ErrorKind::Unavailable,
            Error::Model(err) => err.kind(),
            Error::Backend(err) => err.kind(),
        }
    }
}

/// A backend's own error, carried through the engine whole: its message is this error's and
/// its causes follow it, so nothing the backend said is lost; [`kind`](BackendError::kind)
/// says whose fault it is, [`location`](BackendError::location) where the index lives.
///
/// Backends build one for what only they can fail at (a SQLite statement, a tantivy commit,
/// a database query) and use the engine's own variants ([`Error::IndexExists`],
/// [`Error::Busy`], ...) for what every backend can report, so callers can match on those.
#[derive(Debug)]
pub struct BackendError {
    kind: ErrorKind,
    location: String,
    source: BoxedError,
}

impl BackendError {
    /// `source`, raised by the backend of the index at `location` (never with credentials).
    pub fn new(
        kind: ErrorKind,
        location: impl Into<String>,
        source: impl Into<BoxedError>,
    ) -> Self {
        BackendError { kind, location: location.into(), source: source.into() }
    }

    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Where the index lives (a directory, or a database without credentials).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The backend's own error, to downcast to the backend crate's error type.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.source.as_ref()
    }
}

// Transparent: the backend's message is the message, and its causes are the causes (the
// backend's error itself is not repeated as a cause of its own text).
impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
