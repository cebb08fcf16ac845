use std::path::Path;

use serde_json::json;

use super::DocumentSource;
use crate::Document;
use crate::Error;

fn write(dir: &Path, name: &str, text: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).unwrap();
    }
    fs_err::write(&path, text).unwrap();
    path
}

fn read_all(path: &Path) -> Vec<crate::Result<Document>> {
    DocumentSource::open(path).unwrap().collect()
}

fn bad_input(err: &Error) -> (&str, &str) {
    match err {
        Error::BadInput { location, reason } => (location.as_str(), reason.as_str()),
        other => panic!("expected BadInput, got {other:?}"),
    }
}

#[test]
fn beir_and_generic_lines_read_alike_and_blank_lines_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "corpus.jsonl",
        br#"{"_id": "d1", "title": "T", "text": "one", "metadata": {"year": 2010}}

{"id": 7, "text": "two"}
{"_id": "d3", "text": "three", "metadata": null}
"#,
    );
    let docs: Vec<Document> = read_all(&path).into_iter().map(Result::unwrap).collect();
    let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["d1", "7", "d3"]);
    assert_eq!(docs[0].title, "T");
    assert_eq!(docs[0].metadata, Some(json!({"year": 2010})));
    assert_eq!(docs[1].title, "");
    assert_eq!(docs[1].text, "two");
    assert_eq!(DocumentSource::check(&path).unwrap(), 3);
}

#[test]
fn a_bad_line_is_named_by_its_number_and_the_lines_before_it_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 4] = [
        ("not json", "expected {\"_id\" or \"id\""),
        (r#"{"_id": "", "text": "t"}"#, "the id is empty"),
        (r#"{"_id": "x", "text": "t", "metadata": [1]}"#, "metadata must be a JSON object"),
        (r#"{"_id": "x", "title": "no text"}"#, "missing field `text`"),
    ];
    for (bad, expected) in cases {
        let text = format!("{{\"_id\": \"ok\", \"text\": \"fine\"}}\n\n{bad}\n");
        let path = write(dir.path(), "c.jsonl", text.as_bytes());
        let docs = read_all(&path);
        assert_eq!(docs.len(), 2, "{bad}");
        assert_eq!(docs[0].as_ref().unwrap().id, "ok");
        let err = docs[1].as_ref().unwrap_err();
        let (location, reason) = bad_input(err);
        assert_eq!(location, format!("line 3 of {}", path.display()));
        assert!(reason.contains(expected), "{reason}");
        assert_eq!(err.kind(), crate::ErrorKind::User);
        let checked = DocumentSource::check(&path).unwrap_err();
        assert_eq!(bad_input(&checked).0, location);
    }
}

#[test]
fn an_input_without_documents_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "empty.jsonl", b"\n\n");
    let err = DocumentSource::check(&path).unwrap_err();
    assert_eq!(bad_input(&err).1, "holds no documents");
    let empty_dir = dir.path().join("nothing");
    fs_err::create_dir_all(&empty_dir).unwrap();
    write(&empty_dir, "notes.pdf", b"%PDF");
    let err = DocumentSource::check(&empty_dir).unwrap_err();
    assert_eq!(bad_input(&err).1, "holds no .txt or .md files");
}

#[test]
fn a_directory_gives_its_text_files_in_path_order_with_relative_ids() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.md", b"# b");
    write(dir.path(), "a/z.txt", b"z text");
    write(dir.path(), "a/skip.json", b"{}");
    write(dir.path(), "c.txt", b"c text");
    let docs: Vec<Document> = read_all(dir.path()).into_iter().map(Result::unwrap).collect();
    let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["a/z.txt", "b.md", "c.txt"]);
    assert_eq!(docs[0].text, "z text");
}

#[test]
fn a_file_that_is_not_utf8_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "latin1.txt", b"caf\xe9");
    let docs = read_all(dir.path());
    let (location, reason) = bad_input(docs[0].as_ref().unwrap_err());
    assert_eq!(location, path.display().to_string());
    assert_eq!(reason, "only UTF-8 text files can be indexed");
}

#[test]
fn a_missing_input_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    let err = DocumentSource::open(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.jsonl"), "{err}");
}

#[test]
fn a_line_that_is_not_utf8_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path =
        write(dir.path(), "c.jsonl", b"{\"_id\": \"d1\", \"text\": \"t\"}\n{\"_id\": \"d\xff\"}\n");
    let docs = read_all(&path);
    assert_eq!(docs[0].as_ref().unwrap().id, "d1");
    let (location, reason) = bad_input(docs[1].as_ref().unwrap_err());
    assert_eq!(location, format!("line 2 of {}", path.display()));
    assert_eq!(reason, "not UTF-8 text");
}

#[test]
fn links_to_directories_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/doc.txt", b"text");
    // A loop: a/loop -> .. ; following it would never end.
    std::os::unix::fs::symlink(dir.path(), dir.path().join("a/loop")).unwrap();
    let docs: Vec<Document> = read_all(dir.path()).into_iter().map(Result::unwrap).collect();
    let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["a/doc.txt"]);
}
