//! `tamis search`: stage-1 search of an index from the command line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use tamis_engine::filter::Filter;
use tamis_engine::fusion::{Fusion, Normalization};
use tamis_engine::pipeline::{PipelineRequest, PipelineResponse};
use tamis_engine::result_cache::{ResultCache, ResultCacheConfig};
use tamis_engine::{Index, ScoreKind, SearchHit, SearchMode, SearchRequest};

use crate::filter_args::FilterLimitArgs;
use crate::jsonl::{Output, read_lines, source_name};
use crate::location::LocationArgs;
use crate::model_args::{EngineModelArgs, configure_threads};
use crate::stage_args::{StageArgs, Variant};

/// Search an index: BM25, dense vectors, or both fused (RRF with k = 60 by default).
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
    /// The index to search.
    #[command(flatten)]
    location: LocationArgs,

    /// The query text (or --queries).
    #[arg(required_unless_present = "queries", conflicts_with = "queries")]
    query: Option<String>,

    /// Answer many queries in one process: JSON Lines `{"query": "…", "id": …}` (`id`
    /// optional, any JSON) from FILE, `-` for standard input; one JSON line out per query,
    /// in order, as `--json` prints it plus `id` and `cache`. A repeated query, or one
    /// every stage reads the same (another case or spacing, with uncased models), is
    /// answered from the result cache, and its `cache` says so; the cache's counts go to
    /// standard error at the end.
    #[arg(long, value_name = "FILE")]
    queries: Option<PathBuf>,

    /// Answers the result cache keeps with --queries, least recently used out (0: off).
    #[arg(long, default_value_t = ResultCacheConfig::default().max_entries, value_name = "N")]
    result_cache_entries: usize,

    /// Retrievers to use.
    #[arg(long, value_enum, default_value = "hybrid")]
    mode: ModeArg,

    /// Documents to return.
    #[arg(long, short = 'k', default_value_t = 10, value_name = "N")]
    k: usize,

    /// Chunks taken from each retriever before fusion.
    #[arg(long, default_value_t = 100, value_name = "N")]
    candidates: usize,

    /// HNSW search breadth of this query, 1 to 1000 (default: the index's, set by
    /// `tamis index --hnsw-ef-search`). The walk keeps max(N, --candidates) candidates:
    /// higher finds more of the true nearest chunks, more slowly. Exact search ignores it.
    #[arg(long, value_name = "N")]
    ef_search: Option<usize>,

    /// BM25 k1 of this search (default: the index's, set by `tamis index --bm25-k1`): to
    /// try parameters on a built index before creating one with them.
    #[arg(long, value_name = "K1", allow_negative_numbers = true)]
    bm25_k1: Option<f32>,

    /// BM25 b of this search, 0 to 1 (default: the index's).
    #[arg(long, value_name = "B", allow_negative_numbers = true)]
    bm25_b: Option<f32>,

    /// BM25 title weight of this search (default: the index's).
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    title_weight: Option<f32>,

    /// Only documents whose metadata passes this expression.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    #[command(flatten)]
    filter_limits: FilterLimitArgs,

    #[command(flatten)]
    fusion: FusionArgs,

    #[command(flatten)]
    stages: StageArgs,

    /// Candidates each --rerank model scores, in cascade order [default: 100 for one
    /// reranker; required for a cascade].
    #[arg(long, value_delimiter = ',', value_name = "N,…")]
    rerank_candidates: Vec<usize>,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    model: EngineModelArgs,
}

/// How hybrid mode fuses the BM25 and dense lists.
#[derive(Debug, Args)]
pub struct FusionArgs {
    /// Fusion of the two lists: reciprocal ranks (`rrf`), or a weighted sum of scores
    /// normalized per list (`minmax`, `zscore`).
    #[arg(long, value_enum, default_value = "rrf", value_name = "METHOD")]
    fusion: FusionMethod,

    /// RRF's rank offset k (score = Σ weight / (k + rank)).
    #[arg(long, default_value_t = 60.0, value_name = "K")]
    rrf_k: f32,

    /// Weights of the BM25 and dense lists, in that order.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 1.0], value_name = "BM25,DENSE")]
    weights: Vec<f32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FusionMethod {
    Rrf,
    Minmax,
    Zscore,
}

impl FusionArgs {
    /// The engine's fusion, validated for two lists.
    pub fn fusion(&self) -> anyhow::Result<Fusion> {
        let weights = self.weights.clone();
        let fusion = match self.fusion {
            FusionMethod::Rrf => Fusion::Rrf { k: self.rrf_k, weights },
            FusionMethod::Minmax => {
                Fusion::Linear { normalization: Normalization::MinMax, weights }
            }
            FusionMethod::Zscore => {
                Fusion::Linear { normalization: Normalization::ZScore, weights }
            }
        };
        fusion.validate(2)?;
        Ok(fusion)
    }
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
    let limits = args.filter_limits.limits();
    limits.validate()?;
    let filter = args.filter.as_deref().map(|f| Filter::parse_with(f, &limits)).transpose()?;
    let fusion = args.fusion.fusion()?;
    let patience = args.stages.patience()?;
    let index = args.location.resolve()?.open()?;
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
    let settings = Stage1Settings {
        mode,
        k: args.k,
        depth: args.candidates,
        ef_search: args.ef_search,
        bm25: index.settings().lexical.bm25.overridden(
            args.bm25_k1,
            args.bm25_b,
            args.title_weight,
        ),
        filter,
        fusion,
    };
    let embedder = embedder.as_ref().map(|e| e as &dyn tamis_core::Embedder);
    if let Some(path) = &args.queries {
        return answer_queries(args, &index, &settings, embedder, patience, path);
    }
    let request = settings.request(args.query.as_deref().unwrap_or_default());
    if !args.stages.rerankers.is_empty() {
        return rerank_and_print(args, &index, request, embedder, patience);
    }
    let hits = index.search(&request, embedder)?;
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

/// What every query of one `tamis search` shares.
struct Stage1Settings {
    mode: SearchMode,
    k: usize,
    depth: usize,
    ef_search: Option<usize>,
    bm25: Option<tamis_core::Bm25Params>,
    filter: Option<Filter>,
    fusion: Fusion,
}

impl Stage1Settings {
    fn request<'a>(&'a self, query: &'a str) -> SearchRequest<'a> {
        let mut request = SearchRequest::new(query, self.mode);
        request.k = self.k;
        request.depth = self.depth;
        request.ef_search = self.ef_search;
        request.bm25 = self.bm25;
        request.filter = self.filter.as_ref();
        request.fusion = self.fusion.clone();
        request
    }
}

/// The candidates each reranker scores, one count per reranker.
fn windows(args: &SearchArgs, rerankers: usize) -> anyhow::Result<Vec<usize>> {
    Ok(match (args.rerank_candidates.as_slice(), rerankers) {
        ([], 0) => Vec::new(),
        ([], 1) => vec![100],
        ([], n) => anyhow::bail!(
            "a cascade of {n} rerankers needs --rerank-candidates, one count per reranker"
        ),
        (given, _) => given.to_vec(),
    })
}

/// One line of `--queries`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryLine {
    query: String,
    #[serde(default)]
    id: Option<serde_json::Value>,
}

fn parse_query_line(line: &str) -> anyhow::Result<QueryLine> {
    let parsed: QueryLine = serde_json::from_str(line)?;
    anyhow::ensure!(!parsed.query.trim().is_empty(), "`query` is empty");
    Ok(parsed)
}

/// `--queries`: every query of a file through the pipeline and one result cache.
fn answer_queries(
    args: &SearchArgs,
    index: &Index,
    settings: &Stage1Settings,
    embedder: Option<&dyn tamis_core::Embedder>,
    patience: Option<usize>,
    path: &Path,
) -> anyhow::Result<()> {
    let input = (path != Path::new("-")).then_some(path);
    let lines = read_lines(input, parse_query_line)?;
    let rerankers = if args.stages.rerankers.is_empty() {
        Vec::new()
    } else {
        args.stages.load(&args.model.source)?
    };
    let windows = windows(args, rerankers.len())?;
    let variant = Variant { fused: args.stages.fuses(), patience };
    let cache = ResultCache::new(ResultCacheConfig {
        max_entries: args.result_cache_entries,
        ..ResultCacheConfig::default()
    });
    let mut output = Output::open(None)?;
    for (line_idx, line) in lines.iter().enumerate() {
        let mut search = settings.request(&line.query);
        let request = if rerankers.is_empty() {
            let mut request = PipelineRequest::new(search, Vec::new());
            (request.search.k, request.k) = (args.k, args.k);
            request
        } else {
            search.k = windows.first().copied().unwrap_or(args.k).max(args.k);
            args.stages.request(search, &rerankers, &windows, args.k, variant)?
        };
        let answer = index
            .search_cached(&cache, &request, embedder)
            .with_context(|| format!("query {} of {}", line_idx + 1, source_name(input)))?;
        let mut json = pipeline_json(&answer.response);
        json["id"] = line.id.clone().unwrap_or(serde_json::Value::Null);
        json["cache"] = match &answer.hit {
            Some(hit) => serde_json::json!({
                "level": hit.level,
                "query": hit.query,
                "age_ms": hit.age.as_secs_f64() * 1e3,
            }),
            None => serde_json::Value::Null,
        };
        output.write(&json)?;
    }
    output.finish()?;
    let stats = cache.stats();
    eprintln!(
        "result cache: {} exact and {} normalized hits, {} misses, {} uncacheable, of {} queries",
        stats.exact_hits,
        stats.normalized_hits,
        stats.misses,
        stats.uncacheable,
        lines.len()
    );
    Ok(())
}

/// A pipeline answer as `--json` prints it.
fn pipeline_json(response: &PipelineResponse) -> serde_json::Value {
    let results: Vec<serde_json::Value> = response
        .hits
        .iter()
        .enumerate()
        .map(|(i, hit)| {
            let mut result = serde_json::json!(hit);
            result["rank"] = serde_json::json!(i + 1);
            result
        })
        .collect();
    let timings: serde_json::Map<String, serde_json::Value> = response
        .stages
        .iter()
        .map(|s| (s.name.clone(), serde_json::json!(s.elapsed.as_secs_f64() * 1e3)))
        .collect();
    let stopped: Vec<_> = response.stages.iter().map(|s| s.stopped).collect();
    serde_json::json!({
        "results": results,
        "timings_ms": timings,
        "deadline_exceeded": response.deadline_exceeded,
        "stopped": stopped,
    })
}

/// The two-stage path: stage 1 hands its candidates to the rerankers.
fn rerank_and_print(
    args: &SearchArgs,
    index: &Index,
    mut search: SearchRequest<'_>,
    embedder: Option<&dyn tamis_core::Embedder>,
    patience: Option<usize>,
) -> anyhow::Result<()> {
    let rerankers = args.stages.load(&args.model.source)?;
    let windows = windows(args, rerankers.len())?;
    search.k = windows.first().copied().unwrap_or(args.k).max(args.k);
    let variant = Variant { fused: args.stages.fuses(), patience };
    let request = args.stages.request(search, &rerankers, &windows, args.k, variant)?;
    let response = index.search_and_rerank(&request, embedder)?;
    if args.json {
        println!("{}", pipeline_json(&response));
    } else {
        for (i, hit) in response.hits.iter().enumerate() {
            let snippet: String = hit.text.chars().take(80).collect::<String>().replace('\n', " ");
            println!(
                "{:>3}  {:<20}  {:>9.4}  (stage 1: #{})  {}  {}",
                i + 1,
                hit.doc_id,
                hit.score,
                hit.stage1.rank,
                hit.title,
                snippet
            );
        }
        if response.deadline_exceeded {
            eprintln!("deadline exceeded: unscored candidates keep their stage-1 order");
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
        ScoreKind::TsRank => "ts_rank",
        ScoreKind::Cosine => "cosine",
        ScoreKind::Fused => "fused",
    }
}
