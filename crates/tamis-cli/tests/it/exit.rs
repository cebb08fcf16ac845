//! The exit status says whose fault a failure is: one case of each status.

use crate::{
    INPUT, NOT_FOUND, UNAVAILABLE, USAGE, assert_fails_with, model_fixture, tamis, tamis_ok,
};

#[test]
fn a_bad_flag_is_a_usage_error() {
    let output = tamis(&["search", "index", "query", "--no-such-flag"], "", &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(USAGE), "{stderr}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
    let output = tamis(&["search", "index", "query", "--mode", "fuzzy"], "", &[]);
    assert_eq!(output.status.code(), Some(USAGE));
    // The table is in the top-level help, which succeeds.
    let help = tamis_ok(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for line in
        ["Exit status:", "  65  input", "  66  not found", "  70  internal", "  75  unavailable"]
    {
        assert!(help.contains(line), "{line:?} not in: {help}");
    }
}

#[test]
fn a_bad_input_line_is_an_input_error() {
    let output = tamis(&["embed", "-m", &model_fixture("bert-embed-cls")], "not json\n", &[]);
    assert_fails_with(&output, INPUT, "line 1 of standard input");
}

#[test]
fn a_missing_index_is_not_found() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("no-index");
    let output = tamis(&["search", missing.to_str().unwrap(), "q", "--mode", "bm25"], "", &[]);
    assert_fails_with(&output, NOT_FOUND, "holds no tamis index");
    let output = tamis(&["info", missing.to_str().unwrap()], "", &[]);
    assert_fails_with(&output, NOT_FOUND, "holds no tamis index");
    for delete in [["--delete", "d1"], ["--delete-where", "year < 2000"]] {
        let mut args = vec!["index", missing.to_str().unwrap()];
        args.extend(delete);
        assert_fails_with(&tamis(&args, "", &[]), NOT_FOUND, "holds no index to delete from");
    }
    let input = work.path().join("missing.jsonl");
    let output =
        tamis(&["index", missing.to_str().unwrap(), "--input", input.to_str().unwrap()], "", &[]);
    assert_fails_with(&output, NOT_FOUND, "missing.jsonl");
}

/// An index in `work` holding one document, "a", made by `tamis index`.
fn one_document_index(work: &std::path::Path) -> std::path::PathBuf {
    let corpus = work.join("corpus.jsonl");
    fs_err::write(&corpus, "{\"id\": \"a\", \"text\": \"statins lower cholesterol\"}\n").unwrap();
    let index = work.join("index");
    let model = model_fixture("bert-embed-cls");
    tamis_ok(&["index", index.to_str().unwrap(), "-i", corpus.to_str().unwrap(), "-m", &model]);
    index
}

#[test]
fn a_locked_index_is_unavailable() {
    let work = tempfile::tempdir().unwrap();
    let index = one_document_index(work.path());
    let dir = index.to_str().unwrap();
    // This test process writes, so it holds the index's write lock until dropped.
    let mut writer = tamis_embedded::open(&index).unwrap();
    writer.delete(&["no-such-document"]).unwrap();
    let output = tamis(&["index", dir, "--delete", "a"], "", &[]);
    assert_fails_with(&output, UNAVAILABLE, "another process is writing this index");
    drop(writer);
    tamis_ok(&["index", dir, "--delete", "a"]);
}

/// A reader that closes the pipe early (`tamis info … | head -c 1`) ends tamis as it ends
/// `cat`, by SIGPIPE, silently: not with a panic and its backtrace.
#[cfg(unix)]
#[test]
fn a_closed_standard_output_ends_tamis_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let work = tempfile::tempdir().unwrap();
    let index = one_document_index(work.path());
    let dir = index.to_str().unwrap();
    // The read end is closed before tamis starts, so its first write meets a closed pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tamis"))
        .args(["info", dir])
        .env("HF_HUB_OFFLINE", "1")
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.signal(), Some(libc::SIGPIPE), "{:?}: {stderr}", output.status);
}
