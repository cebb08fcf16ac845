//! BM25 quality on NFCorpus and Cranfield against the reference numbers of the dataset README.

use std::time::Instant;

use tamis_engine::Document;
use tamis_eval::{Dataset, EvalConfig, Evaluator, Metric, Run};
use tamis_lexical::{Bm25Config, Bm25Index, FieldMode, LexicalDoc};

/// Mean metrics of one run over every judged query of a split.
#[derive(Debug, Clone, Copy)]
struct Metrics {
    ndcg_at_10: f64,
    recall_at_100: f64,
}

/// Indexes the corpus with `config`, runs every judged query and averages the metrics
/// with trec_eval's conventions (`tamis-eval`).
fn evaluate(name: &str, data: &Dataset, docs: &[Document], config: &Bm25Config) -> Metrics {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut index = Bm25Index::create(dir.path(), config).unwrap();
    let lexical: Vec<LexicalDoc<'_>> = docs
        .iter()
        .enumerate()
        .map(|(key, doc)| LexicalDoc { key: key as u64, title: &doc.title, text: &doc.text })
        .collect();
    index.upsert(&lexical).unwrap();
    index.commit(1).unwrap();
    let index_secs = started.elapsed().as_secs_f64();
    assert_eq!(index.len(), docs.len());

    let started = Instant::now();
    let mut run = Run::new();
    for query in &data.queries {
        let hits = index.search(&query.text, 100, None).unwrap();
        run.insert_query(
            &query.id,
            hits.iter().map(|hit| (docs[hit.key as usize].id.as_str(), f64::from(hit.score))),
        );
    }
    let eval_config =
        EvalConfig { metrics: vec![Metric::Ndcg(10), Metric::Recall(100)], ..Default::default() };
    let report = Evaluator::new(&data.qrels, eval_config).unwrap().evaluate(&run);
    let metrics = Metrics {
        ndcg_at_10: report.mean.get(Metric::Ndcg(10)).unwrap(),
        recall_at_100: report.mean.get(Metric::Recall(100)).unwrap(),
    };
    eprintln!(
        "{name} {:?}: nDCG@10 {:.4}, Recall@100 {:.4} ({} docs indexed in {index_secs:.2} s, {} queries in {:.2} s)",
        config.fields,
        metrics.ndcg_at_10,
        metrics.recall_at_100,
        docs.len(),
        data.queries.len(),
        started.elapsed().as_secs_f64(),
    );
    metrics
}

/// The bm25s row of the dataset README (k1 0.9, b 0.4, Snowball stemmer and stop words,
/// `title + " " + text`).
struct Reference {
    ndcg_at_10: f64,
    recall_at_100: f64,
}

/// How far below the bm25s reference the default configuration may land.
const REFERENCE_TOLERANCE: f64 = 0.01;

/// How far below the numbers measured when this test was written a run may land: BM25 is
/// deterministic, so anything more is a regression (in the analyzer, the scoring or the
/// collector), not noise.
const REGRESSION_TOLERANCE: f64 = 0.005;

/// Checks both field modes on one dataset: the default against the bm25s reference, and
/// each mode against what it measured when this test was written (the default parameters:
/// k1 1.2, b 0.75, title weight 0.5; stemming and stop words on).
fn check_dataset(
    name: &str,
    n_queries: usize,
    reference: Reference,
    measured: [(FieldMode, Metrics); 2],
) {
    let dir = tamis_testkit::shared_dataset(name);
    let data = Dataset::load(&dir, "test").unwrap();
    let docs: Vec<Document> =
        tamis_eval::corpus_docs(&dir).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(data.queries.len(), n_queries, "{name}: judged test queries");
    for (fields, floor) in measured {
        let config = Bm25Config { fields, ..Bm25Config::default() };
        let got = evaluate(name, &data, &docs, &config);
        if config == Bm25Config::default() {
            assert!(
                got.ndcg_at_10 >= reference.ndcg_at_10 - REFERENCE_TOLERANCE,
                "{name}: nDCG@10 {:.4} is more than {REFERENCE_TOLERANCE} below bm25s's {:.4}",
                got.ndcg_at_10,
                reference.ndcg_at_10
            );
            assert!(
                got.recall_at_100 >= reference.recall_at_100 - REFERENCE_TOLERANCE,
                "{name}: Recall@100 {:.4} is more than {REFERENCE_TOLERANCE} below bm25s's {:.4}",
                got.recall_at_100,
                reference.recall_at_100
            );
        }
        assert!(
            got.ndcg_at_10 >= floor.ndcg_at_10 - REGRESSION_TOLERANCE,
            "{name} {fields:?}: nDCG@10 {:.4} regressed from {:.4}",
            got.ndcg_at_10,
            floor.ndcg_at_10
        );
        assert!(
            got.recall_at_100 >= floor.recall_at_100 - REGRESSION_TOLERANCE,
            "{name} {fields:?}: Recall@100 {:.4} regressed from {:.4}",
            got.recall_at_100,
            floor.recall_at_100
        );
    }
}

#[test]
fn default_is_multifield() {
    // Chosen because it measured better on both datasets below; keep this in step with them.
    assert_eq!(Bm25Config::default().fields, FieldMode::Multifield);
}

#[test]
fn nfcorpus_matches_bm25s() {
    check_dataset(
        "nfcorpus",
        323,
        Reference { ndcg_at_10: 0.3177, recall_at_100: 0.2468 },
        [
            (FieldMode::Multifield, Metrics { ndcg_at_10: 0.3291, recall_at_100: 0.2474 }),
            (FieldMode::Concatenated, Metrics { ndcg_at_10: 0.3205, recall_at_100: 0.2466 }),
        ],
    );
}

#[test]
fn cranfield_matches_bm25s() {
    check_dataset(
        "cranfield",
        225,
        Reference { ndcg_at_10: 0.3517, recall_at_100: 0.7258 },
        [
            (FieldMode::Multifield, Metrics { ndcg_at_10: 0.3775, recall_at_100: 0.7501 }),
            (FieldMode::Concatenated, Metrics { ndcg_at_10: 0.3687, recall_at_100: 0.7360 }),
        ],
    );
}
