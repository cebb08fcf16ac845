use super::*;

fn parse(text: &str) -> crate::Result<Qrels> {
    Qrels::parse_beir_tsv(text, Path::new("qrels/test.tsv"))
}

#[test]
fn beir_tsv_keeps_every_judgment_and_accepts_crlf_and_blank_lines() {
    let qrels = parse(
        "query-id\tcorpus-id\tscore\r\nq2\td1\t2\r\n\r\nq2\td2\t0\r\nq1\td1\t-1\r\nq2\td3\t1\r\n",
    )
    .unwrap();
    assert_eq!(qrels.query_ids().collect::<Vec<_>>(), ["q2", "q1"]);
    assert_eq!((qrels.len(), qrels.n_judgments()), (2, 4));
    let q2 = qrels.get("q2").unwrap();
    assert_eq!((q2.len(), q2.n_relevant()), (3, 2));
    assert_eq!((q2.grade("d1"), q2.grade("d2"), q2.grade("d9")), (Some(2), Some(0), None));
    assert_eq!(q2.ideal_gains(), [2, 1]);
    let q1 = qrels.get("q1").unwrap();
    assert_eq!(
        (q1.grade("d1"), q1.gain("d1"), q1.is_relevant("d1"), q1.n_relevant()),
        (Some(-1), 0, false, 0)
    );
    assert!(qrels.get("q3").is_none());
}

/// Parses `text` and checks the error's line and what it says was expected.
fn check_error(text: &str, line: usize, expected: &str) {
    let err = parse(text).unwrap_err();
    let Error::BadLine { line: got_line, expected: got_expected, path, .. } = &err else {
        panic!("{text:?}: unexpected error {err}");
    };
    assert_eq!((*got_line, *got_expected), (line, expected), "{text:?}");
    assert_eq!(path, Path::new("qrels/test.tsv"));
    assert_eq!(err.kind(), crate::ErrorKind::User);
}

#[test]
fn bad_qrels_lines_are_errors_naming_the_line() {
    let header = "query-id\tcorpus-id\tscore\n";
    check_error("q1\td1\t1\n", 1, BEIR_HEADER);
    check_error(
        &format!("{header}q1\td1\t1\nq1 d2 1\n"),
        3,
        "3 tab-separated fields: query-id, corpus-id, score",
    );
    check_error(
        &format!("{header}q1\td1\t1\tx\n"),
        2,
        "3 tab-separated fields: query-id, corpus-id, score",
    );
    check_error(
        &format!("{header}\r\n\r\nq1\td1\thigh\r\n"),
        4,
        "an integer score in the third field",
    );
    check_error(&format!("{header}q1\td1\t1.5\n"), 2, "an integer score in the third field");
    check_error(&format!("{header}\td1\t1\n"), 2, "a non-empty query-id and corpus-id");
    let err = parse(&format!("{header}q1\td1\t1\nq1\t\t1\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "qrels/test.tsv:3: expected a non-empty query-id and corpus-id, found \"q1\\t\\t1\""
    );
}

#[test]
fn repeated_judgments_keep_the_last_grade() {
    let mut qrels = Qrels::new();
    assert_eq!(qrels.insert("q", "d", 2), None);
    assert_eq!(qrels.insert("q", "d", 0), Some(2));
    assert_eq!(qrels.get("q").unwrap().n_relevant(), 0);
    assert_eq!(qrels.insert("q", "d", 1), Some(0));
    assert_eq!((qrels.get("q").unwrap().n_relevant(), qrels.n_judgments()), (1, 1));
}

#[test]
fn empty_files_have_no_queries() {
    assert!(parse("").unwrap().is_empty());
    assert!(parse("query-id\tcorpus-id\tscore\n").unwrap().is_empty());
}

#[test]
fn retain_queries_keeps_the_order_and_drops_the_rest() {
    let mut qrels = Qrels::new();
    for (query, doc) in [("q2", "a"), ("q1", "b"), ("q3", "c"), ("q1", "d")] {
        qrels.insert(query, doc, 1);
    }
    qrels.retain_queries(|query| query != "q1");
    assert_eq!(qrels.query_ids().collect::<Vec<_>>(), ["q2", "q3"]);
    assert!(qrels.get("q1").is_none());
    assert_eq!(qrels.n_judgments(), 2);
}
