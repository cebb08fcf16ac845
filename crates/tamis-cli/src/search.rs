//! `tamis search`: stage-1 search of an index from the command line.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use tamis_engine::filter::Filter;
use tamis_engine::{Index, ScoreKind, SearchHit, SearchMode, SearchRequest};

use crate::model_args::{EngineModelArgs, configure_threads};

/// Search an index: BM25, dense vectors, or both fused (RRF, k = 60).
///
/// Results are documents, each with its best chunk. Scores are labelled with their
/// kind (bm25, cosine or fused): a fused score only orders one result list.
///
/// Filters apply inside both retrievers. Syntax:
///   lang = "en" and (year >= 2010 or tags in ["a", "b"]) and exists(source.name)
///
/// Example:
///   tamis search ./nfcorpus-index "vitamin d and breast cancer" --mode hybrid --k 5
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SearchArgs {
    /// The index directory.
    dir: PathBuf,

    /// The query text.
    query: String,

    /// Retrievers to use.
    #[arg(long, value_enum, default_value = "hybrid")]
    mode: ModeArg,

    /// Documents to return.
    #[arg(long, short = 'k', default_value_t = 10, value_name = "N")]
    k: usize,

    /// Chunks taken from each retriever before fusion.
    #[arg(long, default_value_t = 100, value_name = "N")]
    candidates: usize,

    /// Only documents whose metadata passes this expression.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    model: EngineModelArgs,
}

/// A retrieval mode as flags spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Bm25,
    Dense,
    Hybrid,
}

impl ModeArg {
    pub fn name(self) -> &'static str {
        match self {
            ModeArg::Bm25 => "bm25",
            ModeArg::Dense => "dense",
            ModeArg::Hybrid => "hybrid",
        }
    }
}

impl From<ModeArg> for SearchMode {
    fn from(mode: ModeArg) -> SearchMode {
        match mode {
            ModeArg::Bm25 => SearchMode::Bm25,
            ModeArg::Dense => SearchMode::Dense,
            ModeArg::Hybrid => SearchMode::Hybrid,
        }
    }
}

#[derive(Serialize)]
struct JsonHit<'a> {
    rank: usize,
    id: &'a str,
    score: f32,
    score_kind: ScoreKind,
    title: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bm25_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dense_rank: Option<usize>,
}

pub fn run(args: &SearchArgs) -> anyhow::Result<()> {
    configure_threads(args.model.source.threads);
    let filter = args.filter.as_deref().map(Filter::parse).transpose()?;
    let index = Index::open(&args.dir)?;
    let mode = SearchMode::from(args.mode);
    let embedder = match mode {
        SearchMode::Bm25 => None,
        _ => {
            if let Some(spec) = &args.model.model {
                index.check_embedder(&args.model.embedder_id(spec))?;
            }
            Some(args.model.load_embedder(&index.settings().embedder_id)?)
        }
    };
    let mut request = SearchRequest::new(&args.query, mode);
    request.k = args.k;
    request.depth = args.candidates;
    request.filter = filter.as_ref();
    let hits = index.search(&request, embedder.as_ref().map(|e| e as &dyn tamis_core::Embedder))?;
    if args.json {
        let results: Vec<JsonHit<'_>> =
            hits.iter().enumerate().map(|(i, h)| json_hit(i, h)).collect();
        println!("{}", serde_json::json!({ "results": results }));
    } else {
        for (i, hit) in hits.iter().enumerate() {
            let snippet: String = hit.text.chars().take(100).collect::<String>().replace('\n', " ");
            println!(
                "{:>3}  {:<20}  {:>9.4} {:<7}  {}  {}",
                i + 1,
                hit.doc_id,
                hit.score,
                kind_name(hit.score_kind),
                hit.title,
                snippet
            );
        }
    }
    Ok(())
}

fn json_hit(i: usize, hit: &SearchHit) -> JsonHit<'_> {
    JsonHit {
        rank: i + 1,
        id: &hit.doc_id,
        score: hit.score,
        score_kind: hit.score_kind,
        title: &hit.title,
        text: &hit.text,
        bm25_rank: hit.bm25.map(|(rank, _)| rank),
        dense_rank: hit.dense.map(|(rank, _)| rank),
    }
}

fn kind_name(kind: ScoreKind) -> &'static str {
    match kind {
        ScoreKind::Bm25 => "bm25",
        ScoreKind::Cosine => "cosine",
        ScoreKind::Fused => "fused",
    }
}
