//! The harness on a tiny dataset with the testkit's fake models: BM25 rankings worked out
//! by hand, the reranker's (word overlap) too.

use tamis_engine::Document;
use tamis_engine::fusion::Fusion;
use tamis_engine::{Bm25Params, Index, IndexSettings, IngestModels, SearchMode};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder, OverlapReranker};

use super::{Experiment, Harness, NoProgress, Progress, RerankModel, Row};
use crate::{Dataset, Error, Metric};

/// Eight documents; `d7` is long, so BM25 ranks the short `d6` above it for "zebra
/// stripes" while the overlap reranker (the share of query words present) prefers `d7`.
const DOCUMENTS: [(&str, &str); 8] = [
    ("d1", "apple banana cherry"),
    ("d2", "apple apple apple apple"),
    ("d3", "lion tiger bear"),
    ("d4", "tiger shark whale"),
    ("d5", "river mountain forest"),
    ("d6", "zebra zebra zebra zebra zebra zebra"),
    ("d7", "zebra stripes"),
    ("d8", "cherry pie"),
];

/// q3 shares no word with its relevant document: BM25 answers nothing.
const QUERIES: [(&str, &str); 4] = [
    ("q1", "apple banana cherry"),
    ("q2", "lion tiger"),
    ("q3", "sun moon star"),
    ("q4", "zebra stripes"),
];

const QRELS: &str =
    "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\nq2\td4\t1\nq3\td5\t1\nq4\td7\t1\n";

/// A dataset directory and an index of its corpus (`d7` padded to 32 words).
fn fixture(root: &std::path::Path) -> (Dataset, Index) {
    let documents: Vec<Document> = DOCUMENTS
        .iter()
        .map(|(id, text)| {
            let mut text = text.to_string();
            if *id == "d7" {
                (0..30).for_each(|i| text.push_str(&format!(" filler{i}")));
            }
            Document { id: id.to_string(), title: String::new(), text, metadata: None }
        })
        .collect();
    let data = root.join("tiny");
    fs_err::create_dir_all(data.join("qrels")).unwrap();
    let corpus: Vec<String> = documents
        .iter()
        .map(|d| serde_json::json!({"_id": d.id, "title": "", "text": d.text}).to_string())
        .collect();
    fs_err::write(data.join("corpus.jsonl"), corpus.join("\n")).unwrap();
    let queries: Vec<String> = QUERIES
        .iter()
        .map(|(id, text)| serde_json::json!({"_id": id, "text": text}).to_string())
        .collect();
    fs_err::write(data.join("queries.jsonl"), queries.join("\n")).unwrap();
    fs_err::write(data.join("qrels/test.tsv"), QRELS).unwrap();
    let dataset = Dataset::load(&data, "test").unwrap();

    let settings = IndexSettings::new("hash", HASH_DIMENSION);
    let mut index = tamis_embedded::create(&root.join("index"), settings).unwrap();
    let models = IngestModels::new(&HashEmbedder, &HashEmbedder);
    index.ingest_batch(&documents, models).unwrap();
    index.flush().unwrap();
    (dataset, index)
}

/// BM25 and hybrid, reranked at 2 and 4 candidates, each with a fused row (stage 1's
/// order: the reranker's weight is 0) and an adaptive one (patience 1, protecting the
/// top 1, one document per reranker call).
fn experiment(modes: Vec<SearchMode>) -> Experiment {
    let mut experiment = Experiment::new(modes);
    experiment.k = 1;
    experiment.rerank.windows = vec![vec![2], vec![4]];
    experiment.rerank.stage_fusion = Some(Fusion::Rrf { k: 60.0, weights: vec![1.0, 0.0] });
    experiment.rerank.adaptive_patience = vec![1];
    experiment.rerank.batch_docs = 1;
    experiment
}

fn mean(row: &Row, metric: Metric) -> f64 {
    row.report.mean.get(metric).unwrap()
}

fn pairs(row: &Row) -> f64 {
    assert_eq!(row.stages.len(), 2, "{}", row.label);
    row.stages[1].pairs_per_query
}

fn assert_close(got: f64, expected: f64, what: &str) {
    assert!((got - expected).abs() < 1e-9, "{what}: {got} vs {expected}");
}

#[test]
fn rows_come_in_order_with_their_labels_metrics_and_pairs() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, index) = fixture(root.path());
    let reranker = OverlapReranker::default();
    let rerankers = [RerankModel { name: "fakes/overlap", reranker: &reranker, late: None }];
    let harness = Harness {
        index: &index,
        dataset: &dataset,
        embedder: Some(&HashEmbedder),
        rerankers: &rerankers,
    };
    let evaluation = harness
        .run(&experiment(vec![SearchMode::Bm25, SearchMode::Hybrid]), &mut NoProgress)
        .unwrap();

    let labels: Vec<&str> = evaluation.rows.iter().map(|r| r.label.as_str()).collect();
    let mut expected = Vec::new();
    for mode in ["bm25", "hybrid"] {
        expected.push(mode.to_string());
        for window in [2, 4] {
            let base = format!("{mode} → overlap@{window}");
            expected.extend([
                base.clone(),
                format!("{base} fused"),
                format!("{base} adaptive(patience 1)"),
            ]);
        }
    }
    assert_eq!(labels, expected);
    assert_eq!(evaluation.metrics, Metric::DEFAULTS);
    let cached: Vec<bool> = evaluation.rows.iter().map(|r| r.cached).collect();
    let one_mode = [false, false, true, true, false, true, true];
    assert_eq!(cached, [one_mode, one_mode].concat());
    assert_eq!(evaluation.rows[7].mode, SearchMode::Hybrid);
    assert_eq!(evaluation.rows[3].slug(), "bm25_overlap_2_adaptive_patience_1");

    // BM25: q1 and q2 find their documents first (q2's two in grade order), q3 nothing,
    // q4 its document second, under d6.
    let bm25 = &evaluation.rows[0];
    assert_eq!(bm25.stages.len(), 1);
    assert_eq!(bm25.stages[0].name, "stage1");
    assert_eq!(bm25.stages[0].latency.count, 4);
    assert_eq!(bm25.report.n_queries, 4);
    assert_eq!(bm25.run.ranked("q4").iter().map(|(d, _)| *d).collect::<Vec<_>>(), ["d6", "d7"]);
    assert!(!bm25.run.contains_query("q3") || bm25.run.ranked("q3").is_empty());
    assert_close(mean(bm25, Metric::Mrr(10)), (1.0 + 1.0 + 0.0 + 0.5) / 4.0, "bm25 MRR");
    assert_close(
        mean(bm25, Metric::Ndcg(10)),
        (1.0 + 1.0 + 0.0 + 1.0 / 3f64.log2()) / 4.0,
        "bm25 nDCG",
    );
    assert_close(mean(bm25, Metric::Recall(100)), 0.75, "bm25 recall");
    assert_close(mean(bm25, Metric::Precision(5)), (0.2 + 0.4 + 0.0 + 0.2) / 4.0, "bm25 P@5");

    // Reranking 2 lifts d7 over d6 for q4; the fused row keeps stage 1's order; adaptive
    // depth scores both candidates anyway (each one it scores enters the top 1 or ends a
    // window of 2).
    for (row_idx, mrr, n_pairs) in [
        (1, 0.75, (2.0 + 2.0 + 0.0 + 2.0) / 4.0),
        (2, 0.625, 1.5),
        (3, 0.75, 1.5),
        // At 4 candidates q1 has three (d1, then d2 and d8 with one word each); adaptive
        // depth stops after d2, which does not enter the top 1.
        (4, 0.75, (3.0 + 2.0 + 0.0 + 2.0) / 4.0),
        (5, 0.625, 1.75),
        (6, 0.75, (2.0 + 2.0 + 0.0 + 2.0) / 4.0),
    ] {
        let row = &evaluation.rows[row_idx];
        assert_close(mean(row, Metric::Mrr(10)), mrr, &row.label);
        assert_close(pairs(row), n_pairs, &row.label);
        assert_eq!(row.stages[1].name, "fakes/overlap");
        assert_close(mean(row, Metric::Recall(100)), 0.75, &row.label);
    }
    // A reranked row ranks by position: its scores are depth - rank + 1.
    let ranked = evaluation.rows[1].run.ranked("q4");
    assert_eq!(
        ranked.iter().map(|(d, s)| (*d, *s)).collect::<Vec<_>>(),
        [("d7", 2.0), ("d6", 1.0)]
    );

    // Hybrid retrieves all eight documents for every query: each window is scored whole.
    assert_eq!(evaluation.rows[7].run.ranked("q3").len(), 8);
    assert_close(pairs(&evaluation.rows[8]), 2.0, "hybrid @2");
    assert_close(pairs(&evaluation.rows[11]), 4.0, "hybrid @4");
    assert!(pairs(&evaluation.rows[13]) < 4.0, "adaptive depth stops early");
}

#[test]
fn the_model_scores_each_pair_once() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, index) = fixture(root.path());
    let reranker = OverlapReranker::default();
    let rerankers = [RerankModel { name: "overlap", reranker: &reranker, late: None }];
    let harness =
        Harness { index: &index, dataset: &dataset, embedder: None, rerankers: &rerankers };
    let evaluation = harness.run(&experiment(vec![SearchMode::Bm25]), &mut NoProgress).unwrap();
    let asked: f64 = evaluation.rows.iter().skip(1).map(|row| pairs(row) * 4.0).sum();
    assert_close(asked, 6.0 + 6.0 + 6.0 + 7.0 + 7.0 + 6.0, "pairs the rows asked for");
    // The fused and adaptive rows, and the @4 row's first two candidates, came from the
    // harness's cache: the model saw q1's, q2's and q4's two candidates and q1's d8.
    assert_eq!(reranker.pairs_scored(), 7);
}

/// Records what the harness tells it.
#[derive(Debug, Default)]
struct Recorder {
    events: Vec<String>,
}

impl Progress for Recorder {
    fn row_started(&mut self, label: &str, queries: usize) {
        self.events.push(format!("start {label} {queries}"));
    }

    fn query_finished(&mut self) {
        self.events.push("query".into());
    }

    fn row_finished(&mut self) {
        self.events.push("finish".into());
    }
}

#[test]
fn progress_hears_every_row_and_query() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, index) = fixture(root.path());
    let reranker = OverlapReranker::default();
    let rerankers = [RerankModel { name: "overlap", reranker: &reranker, late: None }];
    let harness =
        Harness { index: &index, dataset: &dataset, embedder: None, rerankers: &rerankers };
    let mut experiment = Experiment::new(vec![SearchMode::Bm25]);
    experiment.rerank.windows = vec![vec![3]];
    let mut recorder = Recorder::default();
    let evaluation = harness.run(&experiment, &mut recorder).unwrap();
    assert_eq!(evaluation.rows.len(), 2);
    let per_row = |label: &str| {
        let mut events = vec![format!("start {label} 4")];
        events.extend(std::iter::repeat_n("query".to_string(), 4));
        events.push("finish".into());
        events
    };
    assert_eq!(recorder.events, [per_row("bm25"), per_row("bm25 → overlap@3")].concat());
}

#[test]
fn an_experiment_that_cannot_run_fails_before_any_query() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, index) = fixture(root.path());
    let reranker = OverlapReranker::default();
    let one = [RerankModel { name: "overlap", reranker: &reranker, late: None }];
    let run = |experiment: &Experiment, rerankers: &[RerankModel<'_>]| {
        let harness = Harness { index: &index, dataset: &dataset, embedder: None, rerankers };
        harness.run(experiment, &mut NoProgress).unwrap_err()
    };
    let mut experiment = Experiment::new(vec![SearchMode::Bm25]);
    experiment.depth = 0;
    assert!(matches!(run(&experiment, &[]), Error::ZeroDepth));

    let mut experiment = Experiment::new(vec![SearchMode::Bm25]);
    experiment.rerank.windows = vec![vec![10], vec![10, 3]];
    assert!(matches!(run(&experiment, &one), Error::WindowCount { expected: 1, got: 2 }));
    assert!(matches!(run(&experiment, &[]), Error::WindowCount { expected: 0, got: 1 }));

    let experiment = Experiment::new(vec![SearchMode::Bm25]);
    assert!(matches!(run(&experiment, &one), Error::NoWindows { rerankers: 1 }));

    let mut experiment = Experiment::new(vec![SearchMode::Hybrid]);
    experiment.fusion = Fusion::Rrf { k: 60.0, weights: vec![1.0] };
    let err = run(&experiment, &[]);
    assert!(matches!(err, Error::Engine(_)), "{err}");
    assert_eq!(err.kind(), crate::ErrorKind::User);
    assert_eq!(reranker.pairs_scored(), 0);
}

#[test]
fn dense_rows_need_the_embedder() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, index) = fixture(root.path());
    let harness = Harness { index: &index, dataset: &dataset, embedder: None, rerankers: &[] };
    let err = harness.run(&Experiment::new(vec![SearchMode::Dense]), &mut NoProgress).unwrap_err();
    assert!(matches!(err, Error::Engine(tamis_engine::Error::EmbedderRequired)), "{err}");
}

#[test]
fn a_bm25_sweep_runs_each_set_and_dense_once() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, index) = fixture(root.path());
    let harness =
        Harness { index: &index, dataset: &dataset, embedder: Some(&HashEmbedder), rerankers: &[] };
    let normalized = Bm25Params { k1: 1.2, b: 0.75, title_weight: 1.0 };
    let flat = Bm25Params { b: 0.0, ..normalized };
    let mut experiment = Experiment::new(vec![SearchMode::Bm25, SearchMode::Dense]);
    experiment.bm25 = vec![normalized, flat];
    let evaluation = harness.run(&experiment, &mut NoProgress).unwrap();
    let labels: Vec<&str> = evaluation.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["bm25 [k1 1.2 b 0.75 title 1]", "dense", "bm25 [k1 1.2 b 0 title 1]"]);
    let sets: Vec<Option<Bm25Params>> = evaluation.rows.iter().map(|r| r.bm25).collect();
    assert_eq!(sets, [Some(normalized), None, Some(flat)]);
    // Length normalization is what puts the short d6 above the long d7 for "zebra
    // stripes"; without it (b = 0) d7's second term wins.
    let top = |row: &Row| row.run.ranked("q4")[0].0.to_owned();
    assert_eq!(top(&evaluation.rows[0]), "d6");
    assert_eq!(top(&evaluation.rows[2]), "d7");
}
