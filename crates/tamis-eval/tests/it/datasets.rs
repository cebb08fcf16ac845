//! The shared BEIR datasets load whole, with the counts of `shared/datasets/README.md`.

use tamis_eval::{Dataset, available_splits, corpus_docs};

/// Loads `split` of the shared dataset `name` and checks its counts.
fn check(name: &str, split: &str, n_queries: usize, n_judgments: usize, n_docs: usize) -> Dataset {
    let dir = tamis_testkit::shared_dataset(name);
    let data = Dataset::load(&dir, split).unwrap();
    assert_eq!(data.queries.len(), n_queries, "{name} {split} queries");
    assert_eq!(data.qrels.len(), n_queries, "{name} {split} judged queries");
    assert_eq!(data.qrels.n_judgments(), n_judgments, "{name} {split} judgments");
    // Every judgment of these files is relevant (README: scores are all >= 1).
    let n_relevant: usize = data.qrels.iter().map(|(_, judgments)| judgments.n_relevant()).sum();
    assert_eq!(n_relevant, n_judgments, "{name} {split} relevant judgments");
    let order: Vec<&str> = data.queries.iter().map(|query| query.id.as_str()).collect();
    assert_eq!(order, data.qrels.query_ids().collect::<Vec<_>>(), "queries follow the qrels order");
    let docs: Vec<_> = corpus_docs(&dir).unwrap().map(Result::unwrap).collect();
    assert_eq!(docs.len(), n_docs, "{name} documents");
    data
}

#[test]
fn nfcorpus_test_split() {
    let data = check("nfcorpus", "test", 323, 12_334, 3_633);
    assert!(
        data.queries.iter().all(|query| query.id.starts_with("PLAIN-") && !query.text.is_empty())
    );
    assert_eq!(available_splits(&data.dir).unwrap(), ["dev", "test", "train"]);
    let dev = Dataset::load(&data.dir, "dev").unwrap();
    assert_eq!((dev.queries.len(), dev.qrels.n_judgments()), (324, 11_385));
}

#[test]
fn cranfield_test_split() {
    let data = check("cranfield", "test", 225, 1_612, 1_400);
    assert_eq!(available_splits(&data.dir).unwrap(), ["test"]);
    let empty: Vec<String> = corpus_docs(&data.dir)
        .unwrap()
        .map(Result::unwrap)
        .filter(|doc| doc.title.is_empty() && doc.text.is_empty())
        .map(|doc| doc.id)
        .collect();
    assert_eq!(empty, ["471", "995"]);
    let grades: std::collections::BTreeSet<i64> = data
        .qrels
        .iter()
        .flat_map(|(_, judgments)| judgments.iter().map(|(_, grade)| grade))
        .collect();
    assert_eq!(grades.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4]);
}
