//! The engine's typed errors raised as the Python package's exceptions.
//!
//! The classes live in Python (`tamis/errors.py`) because each also derives from the
//! built-in exception a Python caller would catch (`ValueError`, `LookupError`, ...),
//! which PyO3's exception macros cannot express. They are looked up when an error is
//! raised; that module is imported by the package before this one can be called.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;
use tamis_core::ErrorKind;

/// The exception class for one kind of fault.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::User => "InvalidInputError",
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::Unavailable => "UnavailableError",
        ErrorKind::Internal => "InternalError",
        // A kind added later, until it gets its own class.
        _ => "TamisError",
    }
}

/// `err` and its sources, joined as the CLI prints them (`anyhow`'s `{:#}`).
fn message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some variants already quote their source in their own message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A Python exception of the class for `kind`, carrying `text`.
pub(crate) fn raise(py: Python<'_>, kind: ErrorKind, text: String) -> PyErr {
    let class = py
        .import("tamis.errors")
        .and_then(|module| module.getattr(class_name(kind)))
        .and_then(|class| class.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, text),
        // Only when `tamis._tamis` is imported without its package.
        Err(_) => PyRuntimeError::new_err(text),
    }
}

/// An engine error, reduced to what the exception carries where the GIL is released
/// (the engine's error types are large; this keeps closures' results small).
#[derive(Debug)]
pub(crate) struct Failure {
    kind: ErrorKind,
    message: String,
}

impl From<tamis_models::Error> for Failure {
    fn from(err: tamis_models::Error) -> Self {
        Failure { kind: err.kind(), message: message(&err) }
    }
}

impl From<tamis_engine::Error> for Failure {
    fn from(err: tamis_engine::Error) -> Self {
        Failure { kind: err.kind(), message: message(&err) }
    }
}

impl From<tamis_postgres::Error> for Failure {
    fn from(err: tamis_postgres::Error) -> Self {
        Failure { kind: err.kind(), message: message(&err) }
    }
}

impl Failure {
    /// A failure of `kind` with `message`.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure { kind, message: message.into() }
    }

    /// The caller's mistake.
    pub(crate) fn user(message: impl Into<String>) -> Self {
        Failure::new(ErrorKind::User, message)
    }

    /// The package's exception for it.
    pub(crate) fn raise(self, py: Python<'_>) -> PyErr {
        raise(py, self.kind, self.message)
    }
}

/// A bad argument, raised as `InvalidInputError` (a `ValueError`).
pub(crate) fn invalid(py: Python<'_>, text: impl Into<String>) -> PyErr {
    raise(py, ErrorKind::User, text.into())
}
