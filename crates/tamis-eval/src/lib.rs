//! IR evaluation for tamis with trec_eval's conventions: the numbers pytrec_eval and BEIR report.
//!
//! - [`Dataset`] loads one split of a dataset in the BEIR layout (its [`Qrels`] and the
//!   [`Query`] texts they judge); [`corpus_docs`] streams the corpus.
//! - [`Run`] holds what a system returned, reads and writes TREC run files, and ranks each
//!   query's documents as trec_eval does ([`trec_order`]: score descending, ties by document id
//!   descending), whatever order the system gave.
//! - [`Evaluator`] measures a run against qrels with the [`Metric`]s of an [`EvalConfig`]
//!   (by default nDCG@10, Recall@100, P@5, MRR@10 and MAP@100) into a [`Report`] of per-query
//!   values and means. Every judged query counts; one the run does not answer scores 0
//!   (pytrec_eval would drop it: see [`QueryScope`]).
//! - [`Latencies`] and [`mean`] summarize measurements for reports.
//! - [`Harness`] runs an [`Experiment`] (stage-1 modes, rerankings of each) over a dataset
//!   against a `tamis_engine::Index`, with any `Embedder` and `Reranker`, into an
//!   [`Evaluation`]: a [`Row`] per run with its per-stage latencies and its [`Report`],
//!   telling a [`Progress`] as it goes. [`IndexKey`] names the index an experiment needs,
//!   from the corpus and the creation settings, so a caller can build it once and reuse it.
//!
//! The values agree with pytrec_eval to 1e-6 on every query of the fixtures in
//! `tests/fixtures/`, made by `scripts/eval/generate_fixture.py`.
//!
//! ```
//! use tamis_eval::{EvalConfig, Evaluator, Metric, Qrels, Run};
//!
//! // q1: d1 is highly relevant, d2 relevant, d3 judged non-relevant.
//! let qrels: Qrels = [("q1", "d1", 2), ("q1", "d2", 1), ("q1", "d3", 0)].into_iter().collect();
//! // d3 and d2 tie: trec_eval puts the larger id first, so d3 ranks 1 and d2 ranks 2.
//! let run: Run = [("q1", "d2", 0.9), ("q1", "d3", 0.9), ("q1", "d1", 0.5)].into_iter().collect();
//!
//! let config = EvalConfig { metrics: vec![Metric::Mrr(10), Metric::Precision(2)], ..EvalConfig::default() };
//! let report = Evaluator::new(&qrels, config)?.evaluate(&run);
//! assert_eq!(report.n_queries, 1);
//! assert_eq!(report.mean.get(Metric::Mrr(10)), Some(0.5));
//! assert_eq!(report.per_query["q1"].get(Metric::Precision(2)), Some(0.5));
//! assert_eq!("ndcg@10".parse::<Metric>()?, Metric::Ndcg(10));
//! # Ok::<(), tamis_eval::Error>(())
//! ```
#![deny(missing_docs)]

mod beir;
mod error;
mod evaluator;
mod harness;
mod index_key;
mod metric;
mod qrels;
mod run;
mod summary;

pub use beir::{Dataset, JsonLines, Query, available_splits, corpus_docs};
pub use error::{Error, ErrorKind, Result};
pub use evaluator::{EvalConfig, Evaluator, Metrics, QueryScope, Report};
pub use harness::{
    Evaluation, Experiment, Harness, NoProgress, Progress, RerankModel, RerankPlan, Row,
    SCORE_CACHE_PAIRS, StageLatency, params_label, short_name,
};
pub use index_key::{INDEX_KEY_FORMAT, IndexKey};
pub use metric::Metric;
pub use qrels::{Judgments, Qrels};
pub use run::{Run, trec_order};
pub use summary::{Latencies, mean, nearest_rank_percentile};
