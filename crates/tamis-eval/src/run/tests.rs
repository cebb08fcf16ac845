use super::*;

/// Sorts `hits` with [`trec_order`] and checks the document order.
fn check_order(hits: &[(&str, f64)], expect: &[&str]) {
    let run: Run = hits.iter().map(|&(doc_id, score)| ("q", doc_id, score)).collect();
    let got: Vec<&str> = run.ranked("q").into_iter().map(|(doc_id, _)| doc_id).collect();
    assert_eq!(got, expect, "order of {hits:?}");
}

#[test]
fn ranked_sorts_by_score_then_doc_id_descending_bytes() {
    check_order(&[("a", 0.1), ("b", 0.3), ("c", 0.2)], &["b", "c", "a"]);
    // As strings "9" > "100" > "10" > "1"; as numbers the order would be the reverse.
    check_order(&[("1", 1.0), ("10", 1.0), ("100", 1.0), ("9", 1.0)], &["9", "100", "10", "1"]);
    check_order(&[("9", 0.5), ("10", 1.0), ("100", 1.0)], &["100", "10", "9"]);
    // Bytes, not letters: 'a' > 'A', and the UTF-8 bytes of 'é' above every ASCII byte.
    check_order(
        &[("Doc-A", 2.0), ("doc-a", 2.0), ("doc-\u{e9}", 2.0), ("doc-z", 2.0)],
        &["doc-\u{e9}", "doc-z", "doc-a", "Doc-A"],
    );
    // Negative zero ties with zero, as in C.
    check_order(&[("a", -0.0), ("b", 0.0), ("c", -1.0)], &["b", "a", "c"]);
    check_order(&[], &[]);
}

#[test]
fn insert_replaces_and_insert_query_registers_empty_answers() {
    let mut run = Run::new();
    assert_eq!(run.insert("q1", "d1", 1.0), None);
    assert_eq!(run.insert("q1", "d1", 2.0), Some(1.0));
    run.insert_query("q2", Vec::<(String, f64)>::new());
    run.insert_query("q3", [("d1", 0.5), ("d2", 0.25)]);
    assert_eq!(run.len(), 3);
    assert!(run.contains_query("q2") && !run.contains_query("q4"));
    assert_eq!(run.ranked("q2"), vec![]);
    assert_eq!(run.ranked("q4"), vec![]);
    assert_eq!(run.ranked("q3"), vec![("d1", 0.5), ("d2", 0.25)]);
    assert_eq!(run.query_ids().collect::<Vec<_>>(), ["q1", "q2", "q3"]);
}

#[test]
fn trec_files_round_trip_exact_scores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.trec");
    let scores = [0.1, 1.0 / 3.0, f64::from(0.1f32), 1e-300, -2.5, 7.0, 7.0, f64::INFINITY];
    let run: Run = scores
        .iter()
        .enumerate()
        .map(|(doc_idx, &score)| ("q1", format!("d{doc_idx}"), score))
        .collect();
    run.write_trec(&path, "tamis").unwrap();
    let text = fs_err::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "q1 Q0 d7 1 inf tamis");
    assert_eq!(lines[1], "q1 Q0 d6 2 7 tamis");
    assert_eq!(lines[2], "q1 Q0 d5 3 7 tamis");
    assert_eq!(lines[3], "q1 Q0 d1 4 0.3333333333333333 tamis");
    assert_eq!(lines[4], "q1 Q0 d2 5 0.10000000149011612 tamis");
    assert_eq!(lines[5], "q1 Q0 d0 6 0.1 tamis");
    assert_eq!(Run::read_trec(&path).unwrap(), run);
}

#[test]
fn unwritable_runs_are_typed_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.trec");
    let check = |run: Run, tag: &str, expect: &str| {
        let err = run.write_trec(&path, tag).unwrap_err();
        assert_eq!(err.to_string(), expect);
        assert_eq!(err.kind(), crate::ErrorKind::User);
        assert!(!path.exists(), "{expect}: a file was written");
    };
    let ok = || Run::from_iter([("q1", "d1", 1.0)]);
    check(
        Run::from_iter([("q 1", "d1", 1.0)]),
        "t",
        "cannot write query id \"q 1\" to a TREC run file: it is empty or contains whitespace",
    );
    check(
        Run::from_iter([("q1", "d\t1", 1.0)]),
        "t",
        "cannot write document id \"d\\t1\" to a TREC run file: it is empty or contains whitespace",
    );
    check(
        ok(),
        "",
        "cannot write run tag \"\" to a TREC run file: it is empty or contains whitespace",
    );
    check(
        ok(),
        "my run",
        "cannot write run tag \"my run\" to a TREC run file: it is empty or contains whitespace",
    );
    check(
        Run::from_iter([("q1", "d1", f64::NAN)]),
        "t",
        "the score of document d1 for query q1 is not a number",
    );
}

/// Reads `text` as a run file and checks the error's line and message.
fn check_read_error(text: &str, line: usize, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.trec");
    fs_err::write(&path, text).unwrap();
    let err = Run::read_trec(&path).unwrap_err();
    let (Error::BadLine { line: got, .. } | Error::DuplicateHit { line: got, .. }) = &err else {
        panic!("{text:?}: unexpected error {err}");
    };
    assert_eq!(*got, line, "{err}");
    assert_eq!(err.to_string(), format!("{}:{line}: {expect}", path.display()));
}

#[test]
fn bad_run_lines_are_errors_naming_the_line() {
    let good = "q1 Q0 d1 1 2.5 t\n";
    check_read_error(
        &format!("{good}q1 Q0 d2 2 1.5\n"),
        2,
        &format!("expected {TREC_LINE}, found \"q1 Q0 d2 2 1.5\""),
    );
    check_read_error(
        &format!("{good}\nq1 Q0 d2 2 high t\n"),
        3,
        "expected a number in the fifth field (score), found \"q1 Q0 d2 2 high t\"",
    );
    check_read_error(
        &format!("{good}q1 Q0 d2 2 NaN t\n"),
        2,
        "expected a number in the fifth field (score), found \"q1 Q0 d2 2 NaN t\"",
    );
    check_read_error(
        &format!("{good}q2 Q0 d1 1 1 t\r\nq1 Q0 d1 2 1 t\n"),
        3,
        "document d1 appears twice for query q1",
    );
}

#[test]
fn reading_a_missing_run_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.trec");
    let err = Run::read_trec(&path).unwrap_err();
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    assert_eq!(err.kind(), crate::ErrorKind::NotFound);
}

/// Found by the `eval_readers` fuzz target: a run or qrels file that is not UTF-8 was an IO
/// error of kind `Unavailable` (exit 75, "try again later"); it is the user's file to fix.
#[test]
fn files_that_are_not_utf8_are_the_users_fault() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.tsv");
    fs_err::write(&path, b"query-id\tcorpus-id\tscore\nq\xe9\td1\t1\n").unwrap();
    let run_err = Run::read_trec(&path).unwrap_err();
    let qrels_err = crate::Qrels::read_beir_tsv(&path).unwrap_err();
    for err in [run_err, qrels_err] {
        assert_eq!(err.kind(), crate::ErrorKind::User, "{err}");
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }
}
