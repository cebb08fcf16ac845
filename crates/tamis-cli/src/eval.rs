//! `tamis eval`: retrieval quality on a BEIR-layout dataset, with trec_eval's metrics.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};
use tamis_engine::{Index, IndexSettings, IngestModels, SearchRequest};
use tamis_eval::{Dataset, EvalConfig, Evaluator, Latencies, Metric, Run};

use crate::index::{CreationArgs, ingest};
use crate::jsonl::progress;
use crate::model_args::{EngineModelArgs, configure_threads};
use crate::search::{FusionArgs, ModeArg};

/// Measure retrieval quality on a BEIR-layout dataset: nDCG@10, Recall@100, MRR@10, P@5
/// and MAP@100 for each retrieval mode, with per-query latency.
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
///       --mode bm25 --mode dense --mode hybrid
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

    /// Documents kept per query in the run (Recall@100 needs 100).
    #[arg(long, default_value_t = 100, value_name = "N")]
    depth: usize,

    /// Chunks taken from each retriever before fusion and grouping [default: --depth].
    #[arg(long, value_name = "N")]
    candidates: Option<usize>,

    /// Drop a retrieved document whose id is the query's (ArguAna, Quora).
    #[arg(long)]
    ignore_identical_ids: bool,

    /// Where evaluation indexes are kept [default: $XDG_CACHE_HOME/tamis/eval, else ~/.cache/tamis/eval].
    #[arg(long, env = "TAMIS_EVAL_CACHE", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Write the run (`qid Q0 docid rank score tag`) to this file; with several modes,
    /// one file per mode with the mode's name appended.
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
}

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    configure_threads(args.model.source.threads);
    anyhow::ensure!(args.depth > 0, "--depth must be at least 1");
    let fusion = args.fusion.fusion()?;
    let dataset = Dataset::load(&args.dataset, &args.split)?;
    let spec =
        args.model.model.as_deref().context(
            "tamis eval needs --model (the bi-encoder the evaluation index is built with)",
        )?;
    let embedder = args.model.load_embedder(spec)?;
    let embedder_id = args.model.embedder_id(spec);
    let mut settings = IndexSettings::new(embedder_id, embedder.dimension());
    args.creation.apply(&mut settings);
    let index_dir = index_dir(args, &settings)?;
    let started = Instant::now();
    let mut index = if index_dir.join(tamis_engine::storage::STORE_FILE).is_file() {
        Index::open(&index_dir)?
    } else {
        fs_err::create_dir_all(&index_dir)?;
        Index::create(&index_dir, settings)?
    };
    // Always ingest: unchanged documents are skipped by hash, so a finished index costs a
    // scan and an interrupted build resumes.
    let documents = crate::corpus::read_documents(&args.dataset.join("corpus.jsonl"))?;
    let models = IngestModels { embedder: &embedder, tokenizer: &embedder };
    let report = ingest(&mut index, &documents, models, 64, false)?;
    let (n_docs, n_chunks) = index.store().counts()?;
    eprintln!(
        "index {}: {n_docs} document(s), {n_chunks} chunk(s) ({} embedded now, {:.1} s)",
        index_dir.display(),
        report.written,
        started.elapsed().as_secs_f64()
    );

    let evaluator = Evaluator::new(
        &dataset.qrels,
        EvalConfig { ignore_identical_ids: args.ignore_identical_ids, ..Default::default() },
    )?;
    let mut rows = Vec::new();
    for &mode in &args.mode {
        let mut run = Run::new();
        let mut latencies = Vec::with_capacity(dataset.queries.len());
        let bar = progress(dataset.queries.len(), "queries");
        for query in &dataset.queries {
            let mut request = SearchRequest::new(&query.text, mode.into());
            request.k = args.depth;
            request.depth = args.candidates.unwrap_or(args.depth);
            request.fusion = fusion.clone();
            let start = Instant::now();
            let hits = index.search(&request, Some(&embedder))?;
            latencies.push(start.elapsed());
            run.insert_query(&query.id, hits.into_iter().map(|h| (h.doc_id, f64::from(h.score))));
            bar.inc(1);
        }
        bar.finish_and_clear();
        if let Some(path) = &args.run_output {
            let path = run_path(path, mode, args.mode.len());
            run.write_trec(&path, &format!("tamis-{}", mode.name()))?;
        }
        let report = evaluator.evaluate(&run);
        let latency = Latencies::from_samples(latencies).context("the split judges no query")?;
        rows.push((mode, report, latency));
    }

    let metrics: Vec<Metric> = evaluator.config().metrics.clone();
    if args.json {
        let results: Vec<serde_json::Value> = rows
            .iter()
            .map(|(mode, report, latency)| {
                let values: serde_json::Map<String, serde_json::Value> =
                    report.mean.iter().map(|(m, v)| (m.label(), json!(v))).collect();
                json!({
                    "mode": mode.name(),
                    "queries": report.n_queries,
                    "metrics": values,
                    "latency_ms": {
                        "p50": latency.p50.as_secs_f64() * 1e3,
                        "p95": latency.p95.as_secs_f64() * 1e3,
                    },
                })
            })
            .collect();
        let output = json!({
            "dataset": args.dataset.display().to_string(),
            "split": args.split,
            "documents": n_docs,
            "chunks": n_chunks,
            "results": results,
        });
        println!("{output}");
    } else {
        let n_queries = rows.first().map_or(0, |(_, report, _)| report.n_queries);
        println!(
            "{} ({} split, {n_queries} queries, {n_docs} documents, {n_chunks} chunks)",
            args.dataset.display(),
            args.split
        );
        let mut header = format!("{:<8}", "mode");
        for metric in &metrics {
            header.push_str(&format!(" {:>10}", metric.label()));
        }
        println!("{header} {:>8} {:>8}", "p50 ms", "p95 ms");
        for (mode, report, latency) in &rows {
            let mut line = format!("{:<8}", mode.name());
            for (_, value) in report.mean.iter() {
                line.push_str(&format!(" {value:>10.4}"));
            }
            println!(
                "{line} {:>8.2} {:>8.2}",
                latency.p50.as_secs_f64() * 1e3,
                latency.p95.as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}

/// `<cache>/<dataset name>-<digest>`: the digest covers the corpus bytes and every
/// creation setting, so a changed corpus or setting gets its own index.
fn index_dir(args: &EvalArgs, settings: &IndexSettings) -> anyhow::Result<PathBuf> {
    let corpus = args.dataset.join("corpus.jsonl");
    let mut hasher = Sha256::new();
    let mut file = fs_err::File::open(&corpus)?;
    std::io::copy(&mut file, &mut hasher)?;
    hasher.update(format!("{settings:?}").as_bytes());
    let digest: String =
        hasher.finalize().iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    let name = fs_err::canonicalize(&args.dataset)?
        .file_name()
        .map_or_else(|| "dataset".to_string(), |n| n.to_string_lossy().into_owned());
    let cache = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => default_cache()?,
    };
    Ok(cache.join(format!("{name}-{digest}")))
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

fn run_path(path: &Path, mode: ModeArg, n_modes: usize) -> PathBuf {
    if n_modes == 1 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}", mode.name()));
    PathBuf::from(name)
}
