//! The evaluation harness: every row of an [`Experiment`] (each stage-1 mode, then each
//! reranking of it) run over a dataset's judged queries against an [`Index`], timed per
//! stage and measured by the [`Evaluator`].
//!
//! Building, opening and filling the index are the caller's, who knows where indexes live
//! (a directory, a database); [`IndexKey`](crate::IndexKey) names the one an experiment's
//! corpus and settings call for. Models come in through the engine's traits, so any
//! [`Embedder`] and [`Reranker`] will do (real ones, the testkit's fakes, a Python
//! callback). The harness prints nothing: it tells a [`Progress`] what it is doing.
//!
//! Rows come in this order, for each BM25 parameter set of [`Experiment::bm25`] (dense
//! rows only for the first: they do not use BM25), for each mode of [`Experiment::modes`]:
//! 1. `<mode>` (`<mode> [k1 0.9 b 0.4 title 1]` when several sets are swept): stage 1
//!    alone, `depth` documents per query, ranked by their stage-1 score;
//! 2. for each entry of [`RerankPlan::windows`], `<mode> → <model>@<window> → …` (each
//!    reranker named by [`short_name`]), then, when [`RerankPlan::stage_fusion`] is set, the
//!    same label with ` fused`, then one ` adaptive(patience N)` row per
//!    [`RerankPlan::adaptive_patience`].
//!
//! A reranked row ranks the reranked head first and the rest of the stage-1 list below it,
//! `depth` documents in all, and gives each document its position as its score (the list
//! mixes reranker and stage-1 scores, and trec_eval re-sorts by score).

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use tamis_core::{Bm25Params, Embedder, PairScore, Reranker, ScoreContract};
use tamis_engine::cache::CachedReranker;
use tamis_engine::fusion::Fusion;
use tamis_engine::pipeline::{
    AdaptiveDepth, ChunkAggregation, LateStage, PipelineRequest, RerankStage,
};
use tamis_engine::{Index, SearchMode, SearchRequest};

use crate::{Dataset, Error, EvalConfig, Evaluator, Latencies, Metric, Report, Run};

/// Scores each reranker's cache keeps (see [`Row::cached`]).
pub const SCORE_CACHE_PAIRS: usize = 100_000;

/// What to run and measure: the retrieval modes, the rerankings of each, and the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Stage-1 retrieval modes, one row each (and their rerankings after it).
    pub modes: Vec<SearchMode>,
    /// Documents kept per query in every run (and chunks taken from each retriever).
    pub depth: usize,
    /// The top k that adaptive depth protects (nDCG@10 looks at 10).
    pub k: usize,
    /// HNSW search breadth of every query (`None`: the index's).
    pub ef_search: Option<usize>,
    /// BM25 parameter sets, each run as its own rows (empty: the index's own). They apply
    /// at query time, so a sweep reuses one index and its embeddings.
    pub bm25: Vec<Bm25Params>,
    /// How hybrid mode fuses the BM25 and dense lists.
    pub fusion: Fusion,
    /// The reranked rows.
    pub rerank: RerankPlan,
    /// The metrics, and which documents and queries count.
    pub eval: EvalConfig,
}

impl Experiment {
    /// Stage 1 in `modes`, 100 documents per query, k 10, the index's ef, RRF (k = 60),
    /// no reranking, [`EvalConfig::default`].
    pub fn new(modes: Vec<SearchMode>) -> Experiment {
        Experiment {
            modes,
            depth: 100,
            k: 10,
            ef_search: None,
            bm25: Vec::new(),
            fusion: Fusion::rrf(2),
            rerank: RerankPlan::default(),
            eval: EvalConfig::default(),
        }
    }

    /// Checks what can be checked before any query runs, with `n_rerankers` models.
    pub fn validate(&self, n_rerankers: usize) -> crate::Result<()> {
        if self.depth == 0 {
            return Err(Error::ZeroDepth);
        }
        self.fusion.validate(2)?;
        if let Some(fusion) = &self.rerank.stage_fusion {
            fusion.validate(2)?;
        }
        if n_rerankers > 0 && self.rerank.windows.is_empty() {
            return Err(Error::NoWindows { rerankers: n_rerankers });
        }
        match self.rerank.windows.iter().find(|windows| windows.len() != n_rerankers) {
            Some(windows) => Err(Error::WindowCount { expected: n_rerankers, got: windows.len() }),
            None => Ok(()),
        }
    }
}

/// The reranked rows of each mode, and the options every reranked query uses.
#[derive(Debug, Clone, PartialEq)]
pub struct RerankPlan {
    /// One reranked row per entry: the candidates each reranker scores, one count per
    /// reranker in cascade order (`[100, 30]`: the first model scores 100, the second the
    /// first's top 30).
    pub windows: Vec<Vec<usize>>,
    /// When set, each reranked row is followed by one ordered by this fusion of the
    /// stage-1 list and the last reranker's (two lists, stage 1 first).
    pub stage_fusion: Option<Fusion>,
    /// Each reranked row is followed by one per patience, stopping early by
    /// [`AdaptiveDepth`] with [`Experiment::k`] as the top k it protects.
    pub adaptive_patience: Vec<usize>,
    /// How a document's chunk scores make its score.
    pub aggregation: ChunkAggregation,
    /// Keep only documents the last reranker scored at least this high.
    pub min_score: Option<f32>,
    /// Time budget of all rerank stages of one query.
    pub deadline: Option<Duration>,
    /// Raw logits instead of each model's declared activation.
    pub raw_scores: bool,
    /// Documents per reranker call.
    pub batch_docs: usize,
}

impl Default for RerankPlan {
    /// No reranked rows; the options of [`PipelineRequest::new`].
    fn default() -> Self {
        RerankPlan {
            windows: Vec::new(),
            stage_fusion: None,
            adaptive_patience: Vec::new(),
            aggregation: ChunkAggregation::Max,
            min_score: None,
            deadline: None,
            raw_scores: false,
            batch_docs: 16,
        }
    }
}

/// A reranker of the cascade and the name rows and stage timings call it by.
#[derive(Clone, Copy)]
pub struct RerankModel<'a> {
    /// The model id (a hub id or a path): stages are named by it, labels by its
    /// [`short_name`].
    pub name: &'a str,
    /// The model.
    pub reranker: &'a dyn Reranker,
    /// Set for a late-interaction model, which then scores from the token vectors the
    /// index stores (see [`RerankStage::late`]).
    pub late: Option<LateStage<'a>>,
}

impl std::fmt::Debug for RerankModel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RerankModel").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Hears what the harness is doing (a command line draws progress bars); it must not fail.
pub trait Progress {
    /// A row starts: `queries` queries to run under `label` (the row's label).
    fn row_started(&mut self, label: &str, queries: usize);
    /// One more query of the current row is done.
    fn query_finished(&mut self);
    /// The current row is done.
    fn row_finished(&mut self);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn row_started(&mut self, _label: &str, _queries: usize) {}
    fn query_finished(&mut self) {}
    fn row_finished(&mut self) {}
}

/// The index, the dataset and the models an experiment runs with.
#[derive(Clone, Copy)]
pub struct Harness<'a> {
    /// The index, already holding the dataset's corpus.
    pub index: &'a Index,
    /// The judged queries and their qrels.
    pub dataset: &'a Dataset,
    /// The index's bi-encoder: needed for dense and hybrid modes.
    pub embedder: Option<&'a dyn Embedder>,
    /// The cascade, in order (none: stage-1 rows only).
    pub rerankers: &'a [RerankModel<'a>],
}

impl std::fmt::Debug for Harness<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("dataset", &self.dataset.dir)
            .field("split", &self.dataset.split)
            .field("rerankers", &self.rerankers)
            .finish_non_exhaustive()
    }
}

/// Every row of an experiment, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The metrics, in the order each [`Report`] lists them.
    pub metrics: Vec<Metric>,
    /// The rows, in the order the module documentation gives.
    pub rows: Vec<Row>,
}

/// One row: a ranking of every judged query, what each stage cost, and its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `hybrid`, `hybrid → ms-marco-MiniLM-L-6-v2@100 fused`, …
    pub label: String,
    /// Its stage-1 mode.
    pub mode: SearchMode,
    /// The BM25 parameters its stage 1 ran with (`None`: the index's own, or a dense row).
    pub bm25: Option<Bm25Params>,
    /// Its ranking of each query.
    pub run: Run,
    /// Stage 1 first, then each reranker; a stage no query ran is left out.
    pub stages: Vec<StageLatency>,
    /// A fused or adaptive row: its pairs were scored by the plain reranked row before it
    /// and come from the harness's score cache (up to [`SCORE_CACHE_PAIRS`] per
    /// reranker), so its rerank times do not measure the model; its pairs do.
    pub cached: bool,
    /// Its metrics.
    pub report: Report,
}

impl Row {
    /// The label as a file-name and run-tag part: runs of characters other than letters,
    /// digits, `.` and `-` become one `_` (`hybrid → ce@4` → `hybrid_ce_4`).
    pub fn slug(&self) -> String {
        self.label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect::<String>()
            .split('_')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("_")
    }
}

/// What one stage cost over every query of a row.
#[derive(Debug, Clone, PartialEq)]
pub struct StageLatency {
    /// `stage1`, or the reranker's [`RerankModel::name`].
    pub name: String,
    /// Its latency per query (stage 1's includes embedding the query).
    pub latency: Latencies,
    /// (query, chunk) pairs it scored per query, on average (0 for stage 1).
    pub pairs_per_query: f64,
}

/// The last path component of a model id: `cross-encoder/ms-marco-MiniLM-L-6-v2` →
/// `ms-marco-MiniLM-L-6-v2`.
pub fn short_name(model: &str) -> &str {
    model.trim_end_matches('/').rsplit('/').next().unwrap_or(model)
}

/// Which of the optional behaviours a reranked row turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Plain,
    Fused,
    Adaptive { patience: usize },
}

impl Variant {
    fn suffix(self) -> String {
        match self {
            Variant::Plain => String::new(),
            Variant::Fused => " fused".to_string(),
            Variant::Adaptive { patience } => format!(" adaptive(patience {patience})"),
        }
    }
}

/// A reranker borrowed into the harness's score cache.
struct Borrowed<'a>(&'a dyn Reranker);

impl Reranker for Borrowed<'_> {
    fn score_contract(&self) -> ScoreContract {
        self.0.score_contract()
    }

    fn score(&self, query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        self.0.score(query, passages)
    }

    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        self.0.query_key(query)
    }
}

/// A row's run and what its stages cost, before evaluation.
#[derive(Debug)]
struct Measured {
    run: Run,
    samples: Vec<StageSamples>,
}

/// Samples of one stage over the queries of a row.
#[derive(Debug, Default)]
struct StageSamples {
    name: String,
    elapsed: Vec<Duration>,
    /// (query, chunk) pairs scored, summed over queries.
    pairs: usize,
}

impl Harness<'_> {
    /// Runs and evaluates every row of `experiment`, telling `progress` as it goes.
    pub fn run(
        &self,
        experiment: &Experiment,
        progress: &mut dyn Progress,
    ) -> crate::Result<Evaluation> {
        experiment.validate(self.rerankers.len())?;
        let evaluator = Evaluator::new(&self.dataset.qrels, experiment.eval.clone())?;
        // One cache per reranker for all rows: a fused or adaptive row asks for pairs its
        // plain row scored, and a model's score of a pair does not depend on the row.
        let capacity = NonZeroUsize::new(SCORE_CACHE_PAIRS).expect("a non-zero constant");
        let cached: Vec<CachedReranker<Borrowed<'_>>> = self
            .rerankers
            .iter()
            .map(|model| CachedReranker::new(Borrowed(model.reranker), model.name, capacity))
            .collect();
        let stages: Vec<RerankStage<'_>> = self
            .rerankers
            .iter()
            .zip(&cached)
            .map(|(model, reranker)| RerankStage {
                late: model.late,
                ..RerankStage::new(model.name, reranker, 0)
            })
            .collect();
        let mut variants = vec![Variant::Plain];
        if experiment.rerank.stage_fusion.is_some() {
            variants.push(Variant::Fused);
        }
        variants.extend(
            experiment
                .rerank
                .adaptive_patience
                .iter()
                .map(|&patience| Variant::Adaptive { patience }),
        );
        let sets: Vec<Option<Bm25Params>> = match experiment.bm25.as_slice() {
            [] => vec![None],
            sets => sets.iter().copied().map(Some).collect(),
        };
        let mut rows = Vec::new();
        for (set_idx, &bm25) in sets.iter().enumerate() {
            for &mode in &experiment.modes {
                let bm25 = if mode == SearchMode::Dense { None } else { bm25 };
                if mode == SearchMode::Dense && set_idx > 0 {
                    continue;
                }
                let name = match bm25 {
                    Some(params) if sets.len() > 1 => {
                        format!("{} [{}]", mode_name(mode), params_label(&params))
                    }
                    _ => mode_name(mode).to_string(),
                };
                let stage1 = Stage1 { mode, bm25 };
                let measured = self.stage1_run(experiment, stage1, &name, progress)?;
                rows.push(row(name.clone(), stage1, measured, &evaluator));
                for windows in &experiment.rerank.windows {
                    let cascade: Vec<String> = self
                        .rerankers
                        .iter()
                        .zip(windows)
                        .map(|(model, window)| format!("{}@{window}", short_name(model.name)))
                        .collect();
                    let base = format!("{name} → {}", cascade.join(" → "));
                    for &variant in &variants {
                        let rerun = Rerun { stage1, windows, variant, stages: &stages };
                        let label = format!("{base}{}", variant.suffix());
                        let measured = self.reranked_run(experiment, &rerun, &label, progress)?;
                        let mut row = row(label, stage1, measured, &evaluator);
                        row.cached = variant != Variant::Plain;
                        rows.push(row);
                    }
                }
            }
        }
        Ok(Evaluation { metrics: evaluator.config().metrics.clone(), rows })
    }

    /// Stage 1 alone, ranked by its scores.
    fn stage1_run(
        &self,
        experiment: &Experiment,
        stage1: Stage1,
        label: &str,
        progress: &mut dyn Progress,
    ) -> crate::Result<Measured> {
        let queries = &self.dataset.queries;
        let mut run = Run::new();
        let mut elapsed = Vec::with_capacity(queries.len());
        progress.row_started(label, queries.len());
        for query in queries {
            let request = stage1_request(experiment, &query.text, stage1);
            let start = Instant::now();
            let hits = self.index.search(&request, self.embedder)?;
            elapsed.push(start.elapsed());
            run.insert_query(&query.id, hits.into_iter().map(|h| (h.doc_id, f64::from(h.score))));
            progress.query_finished();
        }
        progress.row_finished();
        Ok(Measured {
            run,
            samples: vec![StageSamples { name: "stage1".into(), elapsed, pairs: 0 }],
        })
    }

    /// Stage 1 and the rerankers, ranked by position.
    fn reranked_run(
        &self,
        experiment: &Experiment,
        rerun: &Rerun<'_>,
        label: &str,
        progress: &mut dyn Progress,
    ) -> crate::Result<Measured> {
        let queries = &self.dataset.queries;
        let mut run = Run::new();
        let mut samples: Vec<StageSamples> = Vec::new();
        progress.row_started(label, queries.len());
        for query in queries {
            let request = pipeline_request(experiment, rerun, &query.text);
            let response = self.index.search_and_rerank(&request, self.embedder)?;
            let n_hits = response.hits.len();
            run.insert_query(
                &query.id,
                response.hits.into_iter().enumerate().map(|(i, h)| (h.doc_id, (n_hits - i) as f64)),
            );
            for (stage_idx, stage) in response.stages.iter().enumerate() {
                if samples.len() <= stage_idx {
                    samples.push(StageSamples { name: stage.name.clone(), ..Default::default() });
                }
                samples[stage_idx].elapsed.push(stage.elapsed);
                samples[stage_idx].pairs += stage.pairs;
            }
            progress.query_finished();
        }
        progress.row_finished();
        Ok(Measured { run, samples })
    }
}

/// What a row's stage 1 runs: a mode, with BM25 parameters or the index's own.
#[derive(Debug, Clone, Copy)]
struct Stage1 {
    mode: SearchMode,
    bm25: Option<Bm25Params>,
}

/// One reranked row: its stage 1, candidate windows and variant, over the cached cascade.
struct Rerun<'a> {
    stage1: Stage1,
    windows: &'a [usize],
    variant: Variant,
    stages: &'a [RerankStage<'a>],
}

/// Stage 1 of every row: `depth` documents from `depth` chunks per retriever.
fn stage1_request<'a>(
    experiment: &Experiment,
    query: &'a str,
    stage1: Stage1,
) -> SearchRequest<'a> {
    let mut request = SearchRequest::new(query, stage1.mode);
    request.k = experiment.depth;
    request.depth = experiment.depth;
    request.ef_search = experiment.ef_search;
    request.bm25 = stage1.bm25;
    request.fusion = experiment.fusion.clone();
    request
}

/// The two-stage request of one query of a reranked row, returning `depth` documents.
fn pipeline_request<'a>(
    experiment: &Experiment,
    rerun: &Rerun<'a>,
    query: &'a str,
) -> PipelineRequest<'a> {
    let plan = &experiment.rerank;
    let search = stage1_request(experiment, query, rerun.stage1);
    let stages = rerun
        .stages
        .iter()
        .zip(rerun.windows)
        .map(|(stage, &candidates)| RerankStage { candidates, ..*stage })
        .collect();
    let stage1_k = search.k;
    let mut request = PipelineRequest::new(search, stages);
    request.search.k = stage1_k;
    request.k = experiment.depth;
    request.aggregation = plan.aggregation;
    request.stage_fusion = match rerun.variant {
        Variant::Fused => plan.stage_fusion.clone(),
        _ => None,
    };
    request.adaptive = match rerun.variant {
        Variant::Adaptive { patience } => Some(AdaptiveDepth { patience, k: experiment.k }),
        _ => None,
    };
    request.min_score = plan.min_score;
    request.deadline = plan.deadline;
    request.raw_scores = plan.raw_scores;
    request.batch_docs = plan.batch_docs;
    request
}

/// A row from its run and samples, evaluated.
fn row(label: String, stage1: Stage1, measured: Measured, evaluator: &Evaluator<'_>) -> Row {
    let Measured { run, samples } = measured;
    let stages = samples
        .into_iter()
        .filter_map(|s| {
            let n_queries = s.elapsed.len().max(1) as f64;
            Latencies::from_samples(s.elapsed).map(|latency| StageLatency {
                name: s.name,
                latency,
                pairs_per_query: s.pairs as f64 / n_queries,
            })
        })
        .collect();
    let report = evaluator.evaluate(&run);
    Row { label, mode: stage1.mode, bm25: stage1.bm25, run, stages, cached: false, report }
}

/// A parameter set as row labels spell it: `k1 0.9 b 0.4 title 1`.
pub fn params_label(params: &Bm25Params) -> String {
    format!("k1 {} b {} title {}", params.k1, params.b, params.title_weight)
}

/// A mode as labels spell it.
fn mode_name(mode: SearchMode) -> &'static str {
    match mode {
        SearchMode::Bm25 => "bm25",
        SearchMode::Dense => "dense",
        SearchMode::Hybrid => "hybrid",
    }
}

#[cfg(test)]
mod tests;
