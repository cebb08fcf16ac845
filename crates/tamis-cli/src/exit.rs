//! The exit status of a failed command: chosen by whose fault the error is.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success (also when the reader of standard output closed it early) |
//! | 2 | usage: clap refused the command line (unknown flag, missing argument, a value a flag cannot take) |
//! | 65 | input: what the user gave is wrong (a malformed file or JSON line, a flag value out of range, an index built with another model) |
//! | 66 | not found: a named index, collection, model, dataset or file does not exist |
//! | 70 | internal: a bug in tamis or a library it uses |
//! | 75 | unavailable: retrying may succeed (another process is writing the index, the database or the hub is unreachable, the disk is full) |
//!
//! Why these numbers: 65, 66, 70 and 75 are `sysexits.h`'s EX_DATAERR, EX_NOINPUT,
//! EX_SOFTWARE and EX_TEMPFAIL, whose meanings are exactly the library error kinds
//! (`tamis_core::ErrorKind`: User, NotFound, Internal, Unavailable); EX_TEMPFAIL in
//! particular tells a script or a supervisor that trying again later is the remedy. A
//! usage error stays 2, as clap, getopt-based tools and the POSIX utilities exit, rather
//! than EX_USAGE (64): nobody expects another code for a mistyped flag. 1 is left unused,
//! so it never hides one of these.
//!
//! The kind is found by walking the error's chain from the outside in and taking the first
//! error of a known type: the library errors (each has `kind()`), the CLI's own [`Failure`],
//! IO errors and JSON errors. An error the CLI raises itself with `anyhow` (`ensure!`,
//! `bail!`, `.context()` on a missing option) is about the command line or its input, so a
//! chain with no known type is an input error; the CLI types the exceptions as [`Failure`].

use std::process::ExitCode;

use tamis_core::ErrorKind;

/// Why a command failed, as its exit status tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// clap refused the command line.
    Usage,
    /// The user's input or a flag value is wrong.
    Input,
    /// Something named does not exist.
    NotFound,
    /// A bug.
    Internal,
    /// Retrying may succeed.
    Unavailable,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Usage => 2,
            Exit::Input => 65,
            Exit::NotFound => 66,
            Exit::Internal => 70,
            Exit::Unavailable => 75,
        }
    }

    /// The exit status of a failure of `kind`.
    pub fn of_kind(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::User => Exit::Input,
            ErrorKind::NotFound => Exit::NotFound,
            ErrorKind::Unavailable => Exit::Unavailable,
            // Internal, and any kind added later until it is given a status here.
            _ => Exit::Internal,
        }
    }

    /// The exit status `err` calls for (see the module documentation).
    pub fn of(err: &anyhow::Error) -> Exit {
        err.chain().find_map(classify).unwrap_or(Exit::Input)
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// An error the CLI raises itself whose exit status is not the default (input).
#[derive(Debug)]
pub struct Failure {
    exit: Exit,
    message: String,
}

impl Failure {
    /// Something named on the command line does not exist (`tamis index --delete` on a
    /// location holding no index).
    pub fn not_found(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure { exit: Exit::NotFound, message: message.into() })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit status of one error of the chain, when its type tells it.
fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    if let Some(failure) = cause.downcast_ref::<Failure>() {
        return Some(failure.exit);
    }
    // `tamis_server::Error::Startup` carries its source's kind.
    let kind = None
        .or_else(|| cause.downcast_ref::<tamis_engine::Error>().map(tamis_engine::Error::kind))
        .or_else(|| cause.downcast_ref::<tamis_embedded::Error>().map(tamis_embedded::Error::kind))
        .or_else(|| cause.downcast_ref::<tamis_eval::Error>().map(tamis_eval::Error::kind))
        .or_else(|| cause.downcast_ref::<tamis_models::Error>().map(tamis_models::Error::kind))
        .or_else(|| cause.downcast_ref::<tamis_core::Error>().map(tamis_core::Error::kind))
        .or_else(|| cause.downcast_ref::<tamis_postgres::Error>().map(tamis_postgres::Error::kind))
        .or_else(|| cause.downcast_ref::<tamis_server::Error>().map(tamis_server::Error::kind))
        .or_else(|| cause.downcast_ref::<tamis_train::Error>().map(tamis_train::Error::kind));
    if let Some(kind) = kind {
        return Some(Exit::of_kind(kind));
    }
    if let Some(json) = cause.downcast_ref::<serde_json::Error>() {
        return Some(match json.io_error_kind() {
            Some(io_kind) => of_io(io_kind),
            None => Exit::Input,
        });
    }
    cause.downcast_ref::<std::io::Error>().map(|io| of_io(io.kind()))
}

/// An IO error: a missing path is not found, a path the user cannot use or a malformed
/// stream is the input's fault, anything else (a full disk, a refused connection) may pass.
fn of_io(kind: std::io::ErrorKind) -> Exit {
    use std::io::ErrorKind as Io;
    match kind {
        Io::NotFound => Exit::NotFound,
        Io::PermissionDenied
        | Io::AlreadyExists
        | Io::InvalidInput
        | Io::InvalidData
        | Io::UnexpectedEof
        | Io::IsADirectory
        | Io::NotADirectory => Exit::Input,
        _ => Exit::Unavailable,
    }
}

#[cfg(test)]
mod tests;
