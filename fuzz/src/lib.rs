//! What the fuzz targets share: the input guards and the scratch directories.

use std::path::PathBuf;

/// Nesting the filter targets let through: the parser, `Filter::matches` and both SQL
/// translations recurse once per `(`, `not`, `and` and `or`, without a bound yet (issue 18
/// adds one). Until it lands, deeper inputs are skipped so that the campaign finds other
/// faults instead of that known one.
pub const MAX_FILTER_NESTING: usize = 64;

/// Whether `expression` may nest deeper than [`MAX_FILTER_NESTING`]: counts every `(` and
/// every `not`, `and`, `or` word (in any case, even inside strings, which only skips more).
pub fn filter_too_deep(expression: &str) -> bool {
    let parens = expression.matches('(').count();
    let words = expression
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|word| {
            ["not", "and", "or"].iter().any(|keyword| word.eq_ignore_ascii_case(keyword))
        })
        .count();
    parens + words > MAX_FILTER_NESTING
}

/// A directory for one target's files, in memory when `/dev/shm` exists: the targets that
/// write their input to files run thousands of times a second.
pub fn scratch_root() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() { shm } else { std::env::temp_dir() }
}

/// A fresh temporary directory under [`scratch_root`].
pub fn scratch_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(scratch_root())
        .expect("a temporary directory: the fuzz machine's disk is full or read-only")
}
