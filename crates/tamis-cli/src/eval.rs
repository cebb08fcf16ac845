//! `tamis eval`: retrieval quality on a BEIR-layout dataset, with trec_eval's metrics.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use sha2::{Digest, Sha256};
use tamis_engine::backend::Catalog;
use tamis_engine::{Index, IndexSettings, IngestModels, SearchRequest};
use tamis_eval::{Dataset, EvalConfig, Evaluator, Latencies, Run};
use tamis_postgres::PgOptions;

use crate::index::{CreationArgs, ingest};
use crate::jsonl::progress;
use crate::location::connect_postgres;
use crate::model_args::{EngineModelArgs, configure_threads};
use crate::search::{FusionArgs, ModeArg};
use crate::stage_args::{LoadedReranker, StageArgs, Variant};

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
    let experiments = experiments(args, args.stages.rerankers.len())?;
    let spec =
        args.model.model.as_deref().context(
            "tamis eval needs --model (the bi-encoder the evaluation index is built with)",
        )?;
    let embedder = args.model.load_embedder(spec)?;
    let embedder_id = args.model.embedder_id(spec);
    let mut settings = IndexSettings::new(embedder_id, embedder.dimension());
    args.creation.apply(&mut settings);
    let (cache, key) = index_key(args, &settings)?;
    let started = Instant::now();
    let (mut index, index_location) = match &args.store {
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
    // Always ingest: unchanged documents are skipped by hash, so a finished index costs a
    // scan and an interrupted build resumes.
    let corpus = args.dataset.join("corpus.jsonl");
    let n_docs = tamis_engine::DocumentSource::check(&corpus)?;
    let models = IngestModels { embedder: &embedder, tokenizer: &embedder };
    let report = ingest(&mut index, &corpus, n_docs, models, 64, false)?;
    let stats = index.stats()?;
    eprintln!(
        "index {index_location}: {} document(s), {} chunk(s) ({} embedded now, {:.1} s)",
        stats.documents,
        stats.chunks,
        report.written,
        started.elapsed().as_secs_f64()
    );

    let evaluator = Evaluator::new(
        &dataset.qrels,
        EvalConfig { ignore_identical_ids: args.ignore_identical_ids, ..Default::default() },
    )?;
    let rerankers = args.stages.load(&args.model.source)?;
    let ctx = Queries { index: &index, embedder: &embedder, dataset: &dataset };
    let mut rows: Vec<Row> = Vec::new();
    for &mode in &args.mode {
        let search = |query| stage1_request(query, mode, args.depth, args.ef_search, &fusion);
        let mut run = Run::new();
        let mut latencies = Vec::with_capacity(dataset.queries.len());
        let bar = progress(dataset.queries.len(), mode.name());
        for query in &dataset.queries {
            let start = Instant::now();
            let hits = index.search(&search(&query.text), Some(&embedder))?;
            latencies.push(start.elapsed());
            run.insert_query(&query.id, hits.into_iter().map(|h| (h.doc_id, f64::from(h.score))));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let stage1 = StageSamples { name: "stage1".into(), elapsed: latencies, pairs: 0 };
        rows.push(Row::new(mode.name().to_string(), run, vec![stage1]));

        for windows in &experiments {
            let names: Vec<String> = args.stages.rerankers.iter().map(|r| short_name(r)).collect();
            let base = format!(
                "{} → {}",
                mode.name(),
                names
                    .iter()
                    .zip(windows)
                    .map(|(n, w)| format!("{n}@{w}"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            );
            let mut variants = vec![(Variant::default(), String::new())];
            if args.stages.fuses() {
                variants.push((Variant { fused: true, ..Variant::default() }, " fused".into()));
            }
            for &patience in &args.stages.adaptive_patience {
                let variant =
                    Variant { patience: Some(patience), top_k: Some(args.k), ..Variant::default() };
                variants.push((variant, format!(" adaptive(patience {patience})")));
            }
            for (variant, suffix) in variants {
                let label = format!("{base}{suffix}");
                let rerun = Rerun { windows, variant, label, stage1: &search };
                let mut row = reranked_row(args, &ctx, &rerankers, &rerun)?;
                // Its pairs came from the score cache, filled by the plain row before it.
                row.cached = variant != Variant::default();
                rows.push(row);
            }
        }
    }

    let n_rows = rows.len();
    for row in &mut rows {
        if let Some(path) = &args.run_output {
            let path = run_path(path, &row.label, n_rows);
            row.run.write_trec(&path, &format!("tamis-{}", slug(&row.label)))?;
            row.run_file = Some(path);
        }
    }
    let reports: Vec<(&Row, tamis_eval::Report)> =
        rows.iter().map(|row| (row, evaluator.evaluate(&row.run))).collect();
    let summary = report::Summary {
        args,
        n_docs: stats.documents,
        n_chunks: stats.chunks,
        metrics: &evaluator.config().metrics,
    };
    if args.json {
        summary.print_json(&reports)
    } else {
        summary.print_table(&reports)
    }
    Ok(())
}

/// What every row's queries run against.
struct Queries<'a> {
    index: &'a Index,
    embedder: &'a tamis_models::BiEncoder,
    dataset: &'a Dataset,
}

/// One reranked row: its candidate windows, its variant, its label.
struct Rerun<'a, F> {
    windows: &'a [usize],
    variant: Variant,
    label: String,
    stage1: &'a F,
}

/// Runs every query through stage 1 and the rerankers, ranking by position (the list mixes
/// reranker and stage-1 scores, and trec_eval re-sorts by score).
fn reranked_row<'q, F: Fn(&'q str) -> SearchRequest<'q>>(
    args: &EvalArgs,
    ctx: &Queries<'q>,
    rerankers: &[LoadedReranker],
    rerun: &Rerun<'_, F>,
) -> anyhow::Result<Row> {
    let mut run = Run::new();
    let mut stage_samples: Vec<StageSamples> = Vec::new();
    let bar = progress(ctx.dataset.queries.len(), &rerun.label);
    for query in &ctx.dataset.queries {
        let request = args.stages.request(
            (rerun.stage1)(&query.text),
            rerankers,
            rerun.windows,
            args.depth,
            rerun.variant,
        )?;
        let response = ctx.index.search_and_rerank(&request, Some(ctx.embedder))?;
        let n = response.hits.len();
        run.insert_query(
            &query.id,
            response.hits.into_iter().enumerate().map(|(i, h)| (h.doc_id, (n - i) as f64)),
        );
        for (stage_idx, stage) in response.stages.iter().enumerate() {
            if stage_samples.len() <= stage_idx {
                stage_samples.push(StageSamples { name: stage.name.clone(), ..Default::default() });
            }
            stage_samples[stage_idx].elapsed.push(stage.elapsed);
            stage_samples[stage_idx].pairs += stage.pairs;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Row::new(rerun.label.clone(), run, stage_samples))
}

/// Stage 1 of every row: `depth` documents from `depth` chunks per retriever.
fn stage1_request<'a>(
    query: &'a str,
    mode: ModeArg,
    depth: usize,
    ef_search: Option<usize>,
    fusion: &tamis_engine::fusion::Fusion,
) -> SearchRequest<'a> {
    let mut request = SearchRequest::new(query, mode.into());
    request.k = depth;
    request.depth = depth;
    request.ef_search = ef_search;
    request.fusion = fusion.clone();
    request
}

/// What one stage cost over every query of a row.
#[derive(Debug, Default)]
struct StageSamples {
    name: String,
    elapsed: Vec<Duration>,
    /// (query, chunk) pairs scored, summed over queries.
    pairs: usize,
}

/// A stage's latency summary and its mean pairs per query.
#[derive(Debug, Clone)]
pub(crate) struct StageSummary {
    name: String,
    latency: Latencies,
    pairs_per_query: f64,
}

/// One row of the report: a ranking of every judged query and its per-stage costs.
pub(crate) struct Row {
    label: String,
    run: Run,
    stages: Vec<StageSummary>,
    /// Its reranker scores came from the cache: rerank times say nothing, pairs do.
    cached: bool,
    /// Where --run-output wrote its run.
    run_file: Option<PathBuf>,
}

impl Row {
    fn new(label: String, run: Run, samples: Vec<StageSamples>) -> Row {
        let stages = samples
            .into_iter()
            .filter_map(|s| {
                let n_queries = s.elapsed.len().max(1) as f64;
                Latencies::from_samples(s.elapsed).map(|latency| StageSummary {
                    name: s.name,
                    latency,
                    pairs_per_query: s.pairs as f64 / n_queries,
                })
            })
            .collect();
        Row { label, run, stages, cached: false, run_file: None }
    }
}

/// The candidate windows of each reranked row: `--candidates` values, one count per
/// reranker each.
fn experiments(args: &EvalArgs, n_rerankers: usize) -> anyhow::Result<Vec<Vec<usize>>> {
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

/// The last path component of a model spec: `cross-encoder/ms-marco-MiniLM-L-6-v2` →
/// `ms-marco-MiniLM-L-6-v2`.
pub(crate) fn short_name(spec: &str) -> String {
    spec.trim_end_matches('/').rsplit('/').next().unwrap_or(spec).to_string()
}

fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

pub(crate) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// `<cache>/<dataset name>-<digest>`: the digest covers the corpus bytes and every
/// creation setting, so a changed corpus or setting gets its own index.
/// The cache directory and the evaluation index's name in it (or its collection name):
/// `<dataset>-<digest of the corpus and settings>`.
fn index_key(args: &EvalArgs, settings: &IndexSettings) -> anyhow::Result<(PathBuf, String)> {
    let corpus = args.dataset.join("corpus.jsonl");
    let mut hasher = Sha256::new();
    let mut file = fs_err::File::open(&corpus)?;
    std::io::copy(&mut file, &mut hasher)?;
    hasher.update(format!("{settings:?}").as_bytes());
    let digest: String =
        hasher.finalize().iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    let name: String = fs_err::canonicalize(&args.dataset)?
        .file_name()
        .map_or_else(|| "dataset".to_string(), |n| n.to_string_lossy().into_owned())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    let cache = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None if args.store.is_some() => PathBuf::new(),
        None => default_cache()?,
    };
    Ok((cache, format!("{name}-{digest}")))
}

fn default_cache() -> anyhow::Result<PathBuf> {
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
fn run_path(path: &Path, label: &str, n_rows: usize) -> PathBuf {
    if n_rows == 1 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}", slug(label)));
    PathBuf::from(name)
}
