//! Errors of the PostgreSQL backend, and how database failures become engine errors.

use tamis_core::ErrorKind;
use tamis_engine::BackendError;

/// What can go wrong in the PostgreSQL backend: settings, connecting, statements.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL or an option is invalid.
    #[error("{0}")]
    Config(String),
    /// The database could not be reached or refused the connection.
    #[error("{location}: {message}")]
    Connect {
        /// The database, without credentials.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// The database holds what this tamis cannot use.
    #[error("{location}: {message}")]
    Schema {
        /// The database, without credentials.
        location: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A statement failed, or the database refused it.
    #[error("{location}: {message}")]
    Database {
        /// The database, without credentials.
        location: String,
        /// Whose fault it is (from the SQLSTATE).
        kind: ErrorKind,
        /// What was being done, and the server's own message.
        message: String,
    },
    /// What every backend can report (a collection is missing, a name is invalid...).
    #[error(transparent)]
    Engine(#[from] tamis_engine::Error),
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::User,
            Error::Connect { .. } => ErrorKind::Unavailable,
            Error::Schema { .. } => ErrorKind::User,
            Error::Database { kind, .. } => *kind,
            Error::Engine(err) => err.kind(),
        }
    }
}

/// The engine's own variants pass through; the rest become
/// [`Backend`](tamis_engine::Error::Backend) errors that carry this one whole.
impl From<Error> for tamis_engine::Error {
    fn from(err: Error) -> tamis_engine::Error {
        let (location, err) = match err {
            Error::Engine(inner) => return inner,
            // Named as the backend, since a setting is refused before any database is asked.
            Error::Config(message) => {
                let location = "postgres".to_string();
                (location.clone(), Error::Database { location, kind: ErrorKind::User, message })
            }
            Error::Connect { ref location, .. }
            | Error::Schema { ref location, .. }
            | Error::Database { ref location, .. } => (location.clone(), err),
        };
        tamis_engine::Error::Backend(BackendError::new(err.kind(), location, err))
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A failed statement as an engine error (see [`statement_error`]).
pub(crate) fn database(location: &str, what: &str, err: &postgres::Error) -> tamis_engine::Error {
    statement_error(location, what, err).into()
}

/// A failed statement: connection trouble is `Unavailable` (retry), a constraint or data
/// problem `User`, anything else `Internal`. The message carries the server's own text and
/// SQLSTATE, never the connection string.
pub(crate) fn statement_error(location: &str, what: &str, err: &postgres::Error) -> Error {
    let (kind, detail) = match err.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let kind = match &code[..2] {
                // read-only transaction: a write sent to a standby or through a read-only
                // role; the deployment, not tamis, decides where writes go
                "25" if code == "25006" => ErrorKind::User,
                // connection exception, insufficient resources, operator intervention
                // (admin shutdown, terminated backend), system error
                "08" | "53" | "57" | "58" => ErrorKind::Unavailable,
                // serialization failure / deadlock: retrying succeeds
                "40" => ErrorKind::Unavailable,
                // data exception, integrity constraint violation, invalid authorization
                // (wrong password)
                "22" | "23" | "28" => ErrorKind::User,
                // invalid catalog name: no such database
                "3D" => ErrorKind::NotFound,
                _ => ErrorKind::Internal,
            };
            (kind, format!("{} (SQLSTATE {code})", db.message()))
        }
        // No server error: the connection broke or could not be used.
        None if err.is_closed() => {
            (ErrorKind::Unavailable, "the connection to the database was closed".to_string())
        }
        None => (ErrorKind::Unavailable, with_sources(err)),
    };
    Error::Database { location: location.to_string(), kind, message: format!("{what}: {detail}") }
}

/// The error and its causes: rust-postgres keeps the reason (a TLS certificate refused,
/// a socket error) in the source, not in its own message.
fn with_sources(err: &postgres::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// Whether a failed statement means a table is gone (the collection was dropped).
pub(crate) fn is_undefined_table(err: &postgres::Error) -> bool {
    err.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE)
}

/// Whether `err` names a column the table lacks.
pub(crate) fn is_undefined_column(err: &postgres::Error) -> bool {
    err.code() == Some(&postgres::error::SqlState::UNDEFINED_COLUMN)
}
