//! End-to-end tests of the `tamis` binary: real models, real processes, real pipes.

// Test helpers fail by panicking, like the tests that call them.
#![allow(clippy::unwrap_used)]

mod bench;
mod crash;
mod embed;
mod eval;
mod exit;
mod hf_cache;
mod index;
mod pipeline;
mod postgres;
mod rerank;
mod serve_crash;
mod server;
mod train;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `tamis` with `args`, feeding `stdin`, with a clean Hugging Face environment
/// (an empty cache and offline) unless `envs` says otherwise.
pub fn tamis(args: &[&str], stdin: &str, envs: &[(&str, &Path)]) -> Output {
    let empty_cache = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tamis"));
    command
        .args(args)
        .env("HF_HUB_CACHE", empty_cache.path())
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_HOME")
        .env("TAMIS_THREADS", "2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    // The command may exit before reading its input (a bad flag): a closed pipe is fine.
    if let Err(err) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "writing to tamis: {err}");
    }
    child.wait_with_output().unwrap()
}

/// A model fixture of `tamis-models` (tiny real weights) by directory name.
pub fn model_fixture(name: &str) -> String {
    tamis_testkit::workspace_root()
        .join("crates/tamis-models/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Runs `tamis` like [`tamis`] with no input, and asserts it succeeded.
pub fn tamis_ok(args: &[&str]) -> Output {
    let output = tamis(args, "", &[]);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Standard output as JSON lines; panics with standard error when the run failed.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    assert!(output.status.success(), "tamis failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The exit status of a malformed command line (clap's).
pub const USAGE: i32 = 2;
/// The exit status of wrong input or flag values (sysexits' EX_DATAERR).
pub const INPUT: i32 = 65;
/// The exit status of a missing index, collection, model or file (EX_NOINPUT).
pub const NOT_FOUND: i32 = 66;
/// The exit status of a failure retrying may cure (EX_TEMPFAIL).
pub const UNAVAILABLE: i32 = 75;

/// Asserts a run failed with exit status `status` and a one-line error containing `needle`.
pub fn assert_fails_with(output: &Output, status: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(status), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("tamis: error: "), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

pub fn model_path(name: &str) -> String {
    tamis_testkit::shared_model(name).display().to_string()
}
