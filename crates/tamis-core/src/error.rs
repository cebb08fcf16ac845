//! The error type shared by the traits of this crate.

/// Whose fault an error is: decides exit codes in the CLI and statuses in the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller gave something invalid (bad text, a malformed file, wrong model kind).
    User,
    /// The caller named something that does not exist: an index, a collection, a model, a
    /// file. The caller's to fix, like [`ErrorKind::User`], but told apart so that the
    /// server answers 404 and the CLI exits with its own code.
    NotFound,
    /// A resource is not reachable right now (hub offline, disk full); retrying may help.
    Unavailable,
    /// A bug or a broken invariant inside tamis or a dependency.
    Internal,
}

/// Errors returned through the [`crate::Embedder`] and [`crate::Reranker`] traits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input text was empty (or only whitespace) where content is required.
    #[error("input {index} is empty")]
    EmptyText {
        /// Position of the offending text in the request.
        index: usize,
    },
    /// A model returned a different number of results than it was given inputs.
    #[error("the model returned {got} results for {expected} inputs")]
    WrongCount {
        /// Inputs given.
        expected: usize,
        /// Results returned.
        got: usize,
    },
    /// A model implementation failed; the source says why.
    #[error("{source}")]
    Model {
        /// Whose fault the failure is.
        kind: ErrorKind,
        /// The implementation's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::EmptyText { .. } => ErrorKind::User,
            Error::WrongCount { .. } => ErrorKind::Internal,
            Error::Model { kind, .. } => *kind,
        }
    }
}

/// Checks that a model answered every input: `Ok(results)` when the counts agree.
pub fn expect_count<T>(results: Vec<T>, expected: usize) -> Result<Vec<T>> {
    if results.len() == expected {
        Ok(results)
    } else {
        Err(Error::WrongCount { expected, got: results.len() })
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
