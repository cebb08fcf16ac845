use super::*;

/// A dataset directory holding `files` (relative path, content).
fn dataset(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, content).unwrap();
    }
    dir
}

const QUERIES: &str = concat!(
    "{\"_id\": \"q1\", \"text\": \"first\", \"metadata\": {\"url\": \"u1\"}}\n",
    "{\"_id\": \"q2\", \"text\": \"second\"}\n",
    "\n",
    "{\"_id\": \"q3\", \"text\": \"unjudged\"}\n",
);
const QRELS: &str = "query-id\tcorpus-id\tscore\r\nq2\td1\t1\r\nq1\td2\t2\r\nq2\td3\t0\r\n";

#[test]
fn load_returns_the_judged_queries_in_qrels_order() {
    let dir =
        dataset(&[("queries.jsonl", QUERIES), ("qrels/test.tsv", QRELS), ("qrels/dev.tsv", QRELS)]);
    let data = Dataset::load(dir.path(), "test").unwrap();
    let ids: Vec<(&str, &str)> =
        data.queries.iter().map(|query| (query.id.as_str(), query.text.as_str())).collect();
    assert_eq!(ids, [("q2", "second"), ("q1", "first")]);
    assert_eq!(data.queries[1].metadata, Some(serde_json::json!({"url": "u1"})));
    assert_eq!(data.queries[0].metadata, None);
    assert_eq!((data.qrels.len(), data.qrels.n_judgments(), data.split.as_str()), (2, 3, "test"));
    assert_eq!(available_splits(dir.path()).unwrap(), ["dev", "test"]);
}

#[test]
fn a_judged_query_without_text_is_an_error_naming_it() {
    let qrels = format!("{QRELS}q7\td1\t1\n");
    let dir = dataset(&[("queries.jsonl", QUERIES), ("qrels/test.tsv", &qrels)]);
    let err = Dataset::load(dir.path(), "test").unwrap_err();
    assert!(matches!(&err, Error::MissingQuery { query_id, .. } if query_id == "q7"), "{err}");
    assert!(err.to_string().starts_with("query q7 is judged in "), "{err}");
}

#[test]
fn missing_files_are_errors_naming_the_path_and_the_layout() {
    let dir =
        dataset(&[("qrels/test.tsv", QRELS), ("qrels/dev.tsv", QRELS), ("qrels/notes.txt", "")]);
    let err = Dataset::load(dir.path(), "test").unwrap_err();
    let queries = dir.path().join("queries.jsonl");
    assert!(matches!(&err, Error::MissingFile { path } if *path == queries), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is missing: a BEIR dataset directory holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv",
            queries.display()
        )
    );
    assert_eq!(err.kind(), crate::ErrorKind::NotFound);

    let err = Dataset::load(dir.path(), "train").unwrap_err();
    assert!(
        matches!(&err, Error::MissingSplit { available, .. } if available == &["dev", "test"]),
        "{err}"
    );
    assert!(err.to_string().ends_with("available splits: dev, test"), "{err}");

    let absent = dir.path().join("absent");
    let err = Dataset::load(&absent, "test").unwrap_err();
    assert!(matches!(&err, Error::MissingFile { path } if *path == absent), "{err}");
    let err = available_splits(&absent).unwrap_err();
    assert!(matches!(&err, Error::MissingFile { path } if *path == absent.join("qrels")), "{err}");
    let err = corpus_docs(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::MissingFile { path } if *path == dir.path().join("corpus.jsonl")),
        "{err}"
    );
}

#[test]
fn corpus_docs_streams_lines_and_names_a_bad_one() {
    let corpus = concat!(
        "{\"_id\": \"d1\", \"title\": \"Caf\\u00e9\", \"text\": \"t1\", \"metadata\": {\"year\": 2015}}\r\n",
        "{\"_id\": \"d2\", \"text\": \"\"}\r\n",
        "\r\n",
        "{\"_id\": \"d3\", \"title\": 3, \"text\": \"t3\"}\n",
        "{\"_id\": \"d4\", \"title\": \"no text\"}\n",
        "{\"_id\": \"d5\", \"text\": \"fine\"}\n",
    );
    let dir = dataset(&[("corpus.jsonl", corpus)]);
    let docs: Vec<tamis_engine::Result<tamis_engine::Document>> =
        corpus_docs(dir.path()).unwrap().collect();
    assert_eq!(docs.len(), 5);
    let first = docs[0].as_ref().unwrap();
    assert_eq!(
        (first.id.as_str(), first.title.as_str(), first.text.as_str()),
        ("d1", "Caf\u{e9}", "t1")
    );
    assert_eq!(first.metadata, Some(serde_json::json!({"year": 2015})));
    let second = docs[1].as_ref().unwrap();
    assert_eq!((second.title.as_str(), second.text.as_str(), &second.metadata), ("", "", &None));
    // A wrong type and a missing text are named by their line (the text is required: a
    // corpus whose field is named otherwise would index empty documents).
    let path = dir.path().join("corpus.jsonl");
    for (item, line, what) in [(2, 4, "invalid type"), (3, 5, "missing field `text`")] {
        let err = docs[item].as_ref().unwrap_err().to_string();
        assert!(err.starts_with(&format!("line {line} of {}", path.display())), "{err}");
        assert!(err.contains(what), "{err}");
    }
    assert_eq!(docs[4].as_ref().unwrap().id, "d5");
}
