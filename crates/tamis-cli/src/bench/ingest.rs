//! `tamis bench ingest`: what indexing costs beyond embedding.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;
use tamis_core::{Embedder, TextRole};
use tamis_engine::ingest::{Silent, embedding_inputs};
use tamis_engine::{DocumentSource, IndexSettings, IngestConfig, IngestModels};

use crate::index::CreationArgs;
use crate::model_args::{ModelArgs, Role};

/// Time ingestion against embedding alone, on the same chunks: documents per second of
/// `tamis index` into a fresh index (chunking, embedding, the store, BM25 and vectors),
/// and of the bi-encoder embedding exactly the texts that ingest embeds, in the same
/// blocks (one call per batch of documents). Rounds alternate the two, each ingest into
/// a new index in a temporary directory, so both see the same machine state; one block
/// is embedded untimed first.
///
/// Example:
///   tamis bench ingest --model ../shared/models/all-MiniLM-L6-v2 \
///     --input ../shared/datasets/nfcorpus/corpus.jsonl --limit 1000
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct IngestBenchArgs {
    #[command(flatten)]
    model: ModelArgs,

    /// Documents, as `tamis index --input` takes them.
    #[arg(long, short = 'i', value_name = "PATH")]
    input: PathBuf,

    /// Use only the first N documents.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Documents per all-or-nothing batch (as `tamis index --batch-docs`).
    #[arg(long, default_value_t = 64, value_name = "N")]
    batch_docs: usize,

    /// Rounds, each one embedding pass and one ingest.
    #[arg(long, default_value_t = 2, value_name = "N")]
    rounds: usize,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    creation: CreationArgs,
}

#[derive(Debug, Serialize)]
struct IngestReport {
    cpu: String,
    threads: usize,
    documents: usize,
    chunks: usize,
    batch_docs: usize,
    /// Seconds of each round's embedding pass and ingest.
    embed_seconds: Vec<f64>,
    ingest_seconds: Vec<f64>,
    embed_documents_per_second: f64,
    ingest_documents_per_second: f64,
    /// Ingest over embedding alone, each at its best round.
    ratio: f64,
}

pub fn run(args: &IngestBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    anyhow::ensure!(args.batch_docs > 0, "--batch-docs must be at least 1");
    DocumentSource::check(&args.input)?;
    let documents = DocumentSource::open(&args.input)?
        .take(args.limit.unwrap_or(usize::MAX))
        .collect::<tamis_engine::Result<Vec<_>>>()?;
    let model = super::load_bi_encoder(&args.model)?;
    let mut settings = IndexSettings::new(args.model.model.clone(), model.dimension());
    args.creation.apply(&mut settings)?;
    let blocks: Vec<Vec<String>> = documents
        .chunks(args.batch_docs)
        .map(|batch| {
            let mut inputs = Vec::new();
            for doc in batch {
                inputs.extend(embedding_inputs(doc, &settings, &model)?);
            }
            Ok(inputs)
        })
        .collect::<tamis_engine::Result<_>>()?;
    let n_chunks = blocks.iter().map(Vec::len).sum();
    let models = IngestModels::new(&model, &model);
    let (mut embed_seconds, mut ingest_seconds) = (Vec::new(), Vec::new());
    // One untimed block first: the first pass pays for page faults and pool start-up.
    if let Some(block) = blocks.first() {
        let refs: Vec<&str> = block.iter().map(String::as_str).collect();
        model.embed(&refs, TextRole::Document)?;
    }
    let bar = crate::jsonl::progress(args.rounds * 2, "passes");
    for _ in 0..args.rounds {
        let start = Instant::now();
        for block in &blocks {
            let refs: Vec<&str> = block.iter().map(String::as_str).collect();
            model.embed(&refs, TextRole::Document)?;
        }
        embed_seconds.push(start.elapsed().as_secs_f64());
        bar.inc(1);

        let dir = tempfile::tempdir()?;
        let start = Instant::now();
        let mut index = tamis_embedded::create(&dir.path().join("index"), settings.clone())?;
        let config = IngestConfig { batch_docs: args.batch_docs };
        let source = documents.iter().cloned().map(Ok);
        let report = tamis_engine::ingest(&mut index, source, models, config, &mut Silent)?;
        ingest_seconds.push(start.elapsed().as_secs_f64());
        anyhow::ensure!(
            report.chunks == n_chunks,
            "ingest embedded {} chunks, not {n_chunks}",
            report.chunks
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    let best = |seconds: &[f64]| seconds.iter().copied().fold(f64::INFINITY, f64::min);
    let n_docs = documents.len();
    let embed_rate = n_docs as f64 / best(&embed_seconds);
    let ingest_rate = n_docs as f64 / best(&ingest_seconds);
    let report = IngestReport {
        cpu: crate::machine::cpu_model(),
        threads: args.model.runtime(Role::Embed).threads(),
        documents: n_docs,
        chunks: n_chunks,
        batch_docs: args.batch_docs,
        embed_seconds,
        ingest_seconds,
        embed_documents_per_second: embed_rate,
        ingest_documents_per_second: ingest_rate,
        ratio: ingest_rate / embed_rate,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{} documents, {} chunks, batches of {}, {} threads, {}",
        report.documents, report.chunks, report.batch_docs, report.threads, report.cpu
    );
    println!(
        "  embedding alone  {embed_rate:8.1} documents/s  (rounds: {:?} s)",
        rounded(&report.embed_seconds)
    );
    println!(
        "  ingest           {ingest_rate:8.1} documents/s  (rounds: {:?} s)",
        rounded(&report.ingest_seconds)
    );
    println!("  ingest / embedding alone = {:.3}", report.ratio);
    Ok(())
}

fn rounded(seconds: &[f64]) -> Vec<f64> {
    seconds.iter().map(|s| (s * 100.0).round() / 100.0).collect()
}
