//! `tamis eval`: retrieval quality on a BEIR-layout dataset, with trec_eval's metrics.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;
use tamis_engine::backend::Catalog;
use tamis_engine::pipeline::LateStage;
use tamis_engine::{IndexSettings, IngestModels, ScoreKind};
use tamis_eval::{Dataset, EvalConfig, Experiment, Harness, IndexKey, Progress, RerankModel};
use tamis_models::RerankerModel;
use tamis_postgres::PgOptions;

use crate::index::{CreationArgs, LateArgs, ingest};
use crate::jsonl::progress;
use crate::location::connect_postgres;
use crate::model_args::{EngineModelArgs, configure_threads};
use crate::search::{FusionArgs, ModeArg};
use crate::stage_args::StageArgs;

mod report;

/// Measure retrieval quality on a BEIR-layout dataset: nDCG@10, Recall@100, MRR@10, P@5
/// and MAP@100 for each retrieval mode, then for each reranking of it (--rerank, with
/// --candidates and --fuse-stages rows), with per-stage latency.
///
/// The dataset folder holds corpus.jsonl, queries.jsonl and `qrels/<split>.tsv`. Only the
/// queries judged in the split are run. Metrics follow trec_eval (as pytrec_eval and
/// BEIR report them): each query's list is ordered by score, ties by document id
/// descending; graded gains in nDCG; every judged query counts, an unanswered one scores 0.
///
/// The index is built once under the cache directory, keyed by the corpus contents, the
/// bi-encoder and the creation settings; later runs only run the queries.
///
/// Example:
///   tamis eval --dataset ../shared/datasets/nfcorpus --model sentence-transformers/all-MiniLM-L6-v2 \
///       --rerank cross-encoder/ms-marco-MiniLM-L-6-v2 --candidates 30 --candidates 100 \
///       --fuse-stages rrf
///
/// Reranked rows rank the reranked head first and the rest of the stage-1 list below it,
/// --depth documents in all.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EvalArgs {
    /// The dataset folder (BEIR layout).
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,

    /// The qrels split to evaluate.
    #[arg(long, default_value = "test", value_name = "NAME")]
    split: String,

    /// Retrieval modes to evaluate, one row each (repeatable).
    #[arg(long, value_enum, default_values = ["bm25", "dense", "hybrid"])]
    mode: Vec<ModeArg>,

    /// The top k that --adaptive-patience protects (nDCG@10 looks at 10).
    #[arg(long, short = 'k', default_value_t = 10, value_name = "N")]
    k: usize,

    /// Documents kept per query in the run (Recall@100 needs 100).
    #[arg(long, default_value_t = 100, value_name = "N")]
    depth: usize,

    /// HNSW search breadth of every query, 1 to 1000 (default: the index's). The walk
    /// keeps max(N, --depth) candidates.
    #[arg(long, value_name = "N")]
    ef_search: Option<usize>,

    /// Candidates each --rerank model scores, as one row per value; a comma list gives a
    /// cascade's windows, one per reranker (e.g. 100,30). Default: 100.
    #[arg(long, value_name = "N[,N…]")]
    candidates: Vec<String>,

    /// Drop a retrieved document whose id is the query's (ArguAna, Quora).
    #[arg(long)]
    ignore_identical_ids: bool,

    /// Where evaluation indexes are kept [default: $XDG_CACHE_HOME/tamis/eval, else ~/.cache/tamis/eval].
    #[arg(long, env = "TAMIS_EVAL_CACHE", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Build and search the evaluation index in PostgreSQL + pgvector instead of the cache
    /// directory: a postgres:// URL (as for `tamis index`); the collection is named after
    /// the dataset and settings, and reused like a cached directory.
    #[arg(long, value_name = "URL")]
    store: Option<String>,

    /// Write the run (`qid Q0 docid rank score tag`) to this file; with several rows, one
    /// file per row with the row's name appended.
    #[arg(long, value_name = "FILE")]
    run_output: Option<PathBuf>,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    model: EngineModelArgs,

    #[command(flatten)]
    creation: CreationArgs,

    /// The evaluation index stores this model's token vectors, so that `--rerank` with
    /// it scores from them (an index of its own in the cache).
    #[command(flatten)]
    late: LateArgs,

    #[command(flatten)]
    fusion: FusionArgs,

    #[command(flatten)]
    stages: StageArgs,
}

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    configure_threads(args.model.source.threads);
    anyhow::ensure!(args.depth > 0, "--depth must be at least 1");
    let fusion = args.fusion.fusion()?;
    let dataset = Dataset::load(&args.dataset, &args.split)?;
    let windows = windows(args, args.stages.rerankers.len())?;
    let spec =
        args.model.model.as_deref().context(
            "tamis eval needs --model (the bi-encoder the evaluation index is built with)",
        )?;
    let cache = match &args.store {
        Some(_) => PathBuf::new(),
        None => cache_dir(args)?,
    };
    let DatasetIndex { index, embedder, documents, chunks, bm25 } = DatasetIndex::open(
        &args.dataset,
        spec,
        &args.model,
        &args.creation,
        &args.late,
        args.store.as_deref(),
        &cache,
    )?;

    let cross_encoders = args.stages.load_models(&args.model.source)?;
    let model_ids: Vec<String> = args
        .stages
        .rerankers
        .iter()
        .map(|spec| crate::model_args::model_id(spec, args.model.source.revision.as_deref()))
        .collect();
    let rerankers: Vec<RerankModel<'_>> = args
        .stages
        .rerankers
        .iter()
        .zip(&cross_encoders)
        .zip(&model_ids)
        .map(|((name, model), model_id)| RerankModel {
            name,
            reranker: model,
            // A late-interaction model scores from the token vectors the index stores.
            late: match model {
                RerankerModel::LateInteraction(late) => {
                    Some(LateStage { model_id, model: late.as_ref() })
                }
                _ => None,
            },
        })
        .collect();
    let experiment = Experiment {
        modes: args.mode.iter().map(|&mode| mode.into()).collect(),
        depth: args.depth,
        k: args.k,
        ef_search: args.ef_search,
        bm25,
        fusion,
        rerank: args.stages.plan(windows),
        eval: EvalConfig { ignore_identical_ids: args.ignore_identical_ids, ..Default::default() },
    };
    let harness = Harness {
        index: &index,
        dataset: &dataset,
        embedder: Some(&embedder),
        rerankers: &rerankers,
    };
    let evaluation = harness.run(&experiment, &mut Bars::default())?;

    let n_rows = evaluation.rows.len();
    let mut run_files = Vec::with_capacity(n_rows);
    for row in &evaluation.rows {
        let run_file = match &args.run_output {
            Some(path) => {
                let path = run_path(path, &row.slug(), n_rows);
                row.run.write_trec(&path, &format!("tamis-{}", row.slug()))?;
                Some(path)
            }
            None => None,
        };
        run_files.push(run_file);
    }
    let summary = report::Summary {
        args,
        n_docs: documents,
        n_chunks: chunks,
        evaluation: &evaluation,
        run_files: &run_files,
    };
    if args.json {
        summary.print_json()
    } else {
        summary.print_table()
    }
    Ok(())
}

/// A dataset's corpus in an index: the one `tamis eval` measures, and the one `tamis
/// train` mines negatives from.
pub(crate) struct DatasetIndex {
    /// The index, holding the whole corpus.
    pub index: tamis_engine::Index,
    /// Its bi-encoder.
    pub embedder: tamis_models::BiEncoder,
    /// Documents in the index.
    pub documents: u64,
    /// Chunks in the index.
    pub chunks: u64,
    /// The BM25 parameter sets its searches run with: every combination of the BM25
    /// flags' values, the defaults where a flag is not given (passed with every query, so
    /// an index built earlier, with other defaults, is searched with these); none on a
    /// backend that does not rank with BM25, which refuses the flags.
    pub bm25: Vec<tamis_engine::Bm25Params>,
}

impl DatasetIndex {
    /// Opens (or builds, once) the index of `dataset`'s corpus for the bi-encoder `spec`
    /// and the creation settings: in PostgreSQL when `store` is a URL, else under
    /// `cache`, named by [`IndexKey`] so that another corpus, setting or embedding
    /// precision gets its own.
    /// Always ingests: unchanged documents are skipped by hash, so a finished index costs
    /// a scan and an interrupted build resumes.
    pub fn open(
        dataset: &Path,
        spec: &str,
        model: &EngineModelArgs,
        creation: &CreationArgs,
        late: &LateArgs,
        store: Option<&str>,
        cache: &Path,
    ) -> anyhow::Result<DatasetIndex> {
        // Checked first: a bad value should not cost loading the model or embedding.
        let bm25 = creation.bm25_grid(tamis_engine::LexicalSettings::default().bm25)?;
        let embedder = model.load_embedder(spec)?;
        let mut settings = IndexSettings::new(model.embedder_id(spec), embedder.dimension());
        // BM25's parameters apply at query time and are no part of the index's key: the
        // index is built with the defaults, and an evaluation passes its own.
        creation.apply_but_bm25(&mut settings);
        let late = late.load(model)?.map(|(late, late_settings)| {
            settings.late_interaction = Some(late_settings);
            late
        });
        let key = IndexKey::for_dataset(dataset, &settings, embedder.precision().name())?.name();
        let started = Instant::now();
        let (mut index, location) = match store {
            Some(url) => {
                let options = PgOptions { normalized: embedder.normalizes(), ..Default::default() };
                let catalog = connect_postgres(url, options)?;
                let index = match catalog.open(&key)? {
                    Some(index) => index,
                    None => catalog.create(&key, settings)?,
                };
                (index, format!("{} collection '{key}'", catalog.location()))
            }
            None => {
                let index_dir = cache.join(&key);
                let index = if index_dir.join(tamis_embedded::store::STORE_FILE).is_file() {
                    tamis_embedded::open(&index_dir)?
                } else {
                    fs_err::create_dir_all(&index_dir)?;
                    tamis_embedded::create(&index_dir, settings)?
                };
                (index, index_dir.display().to_string())
            }
        };
        let corpus = dataset.join("corpus.jsonl");
        let n_docs = tamis_engine::DocumentSource::check(&corpus)?;
        let models = IngestModels {
            late: late.as_ref().map(|late| late as &dyn tamis_core::TokenEmbedder),
            ..IngestModels::new(&embedder, &embedder)
        };
        let report = ingest(&mut index, &corpus, n_docs, models, 64, false)?;
        let stats = index.stats()?;
        eprintln!(
            "index {location}: {} document(s), {} chunk(s) ({} embedded now, {:.1} s)",
            stats.documents,
            stats.chunks,
            report.written,
            started.elapsed().as_secs_f64()
        );
        let bm25 = if stats.lexical_scoring == ScoreKind::Bm25 {
            bm25
        } else {
            anyhow::ensure!(
                !creation.any_bm25(),
                "--bm25-k1, --bm25-b and --title-weight need an index that ranks with BM25; this \
                 PostgreSQL collection ranks text with ts_rank until `tamis index \
                 --rebuild-lexical` builds its postings"
            );
            Vec::new()
        };
        Ok(DatasetIndex { index, embedder, documents: stats.documents, chunks: stats.chunks, bm25 })
    }
}

/// The harness's rows as progress bars on standard error, one row at a time.
#[derive(Debug, Default)]
struct Bars {
    bar: Option<ProgressBar>,
}

impl Progress for Bars {
    fn row_started(&mut self, label: &str, queries: usize) {
        self.bar = Some(progress(queries, label));
    }

    fn query_finished(&mut self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn row_finished(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The candidate windows of each reranked row: `--candidates` values, one count per
/// reranker each.
fn windows(args: &EvalArgs, n_rerankers: usize) -> anyhow::Result<Vec<Vec<usize>>> {
    if n_rerankers == 0 {
        anyhow::ensure!(args.candidates.is_empty(), "--candidates needs --rerank");
        anyhow::ensure!(!args.stages.fuses(), "--fuse-stages needs --rerank");
        return Ok(Vec::new());
    }
    if args.candidates.is_empty() {
        anyhow::ensure!(
            n_rerankers == 1,
            "a cascade of {n_rerankers} rerankers needs --candidates with one count per reranker (e.g. 100,30)"
        );
        return Ok(vec![vec![100]]);
    }
    args.candidates
        .iter()
        .map(|value| {
            let windows = value
                .split(',')
                .map(|n| {
                    n.trim()
                        .parse::<usize>()
                        .with_context(|| format!("--candidates: '{n}' is not a count"))
                })
                .collect::<anyhow::Result<Vec<usize>>>()?;
            anyhow::ensure!(
                windows.len() == n_rerankers,
                "--candidates {value}: {} count(s) for {n_rerankers} reranker(s)",
                windows.len()
            );
            Ok(windows)
        })
        .collect()
}

pub(crate) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Where evaluation directories are kept: --cache-dir, else the user's cache directory.
fn cache_dir(args: &EvalArgs) -> anyhow::Result<PathBuf> {
    match &args.cache_dir {
        Some(dir) => Ok(dir.clone()),
        None => default_cache(),
    }
}

pub(crate) fn default_cache() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").context(
            "no cache directory: set --cache-dir, TAMIS_EVAL_CACHE, XDG_CACHE_HOME or HOME",
        )?)
        .join(".cache"),
    };
    Ok(base.join("tamis").join("eval"))
}

/// `FILE` for a single row, else `FILE.<row slug>`.
fn run_path(path: &Path, slug: &str, n_rows: usize) -> PathBuf {
    if n_rows == 1 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{slug}"));
    PathBuf::from(name)
}
