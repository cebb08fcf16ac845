//! `tamis rerank`: a query and its candidate documents in, documents sorted by relevance out.

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;
use tamis_core::{PairScore, Reranker, ScoreActivation};
use tamis_models::{CrossEncoder, RerankerModel, Truncation};

use crate::jsonl::lines::{RerankDocument, parse_rerank_line};
use crate::jsonl::{IoArgs, Output, progress, read_lines};
use crate::model_args::{ModelArgs, Role, configure_threads};
use crate::stage_args::LlmArgs;

/// Rerank documents against a query with a cross-encoder or an LLM reranker.
///
/// Reads JSON Lines, one `{"query": "...", "documents": ["...", ...]}` per line
/// (documents may also be `{"text": "..."}` objects), and writes one
/// `{"results": [{"index": i, "score": s, "truncated": b}, ...]}` per line, sorted by
/// score, highest first; `index` points into that line's `documents`.
///
/// Scores follow the model's declared activation (`sentence_transformers.activation_fn`
/// in config.json; otherwise sigmoid for one-label models, as sentence-transformers
/// does). --raw returns the logits instead. Pairs longer than the model's maximum
/// length are truncated (longest side first by default) and flagged `truncated`.
///
/// LLM rerankers (a config.json with Qwen3ForCausalLM / Qwen2ForCausalLM) score with
/// their own prompt: Qwen3-Reranker gives the probability of "yes" (--raw: the logit
/// difference of "yes" and "no"), mxbai-rerank-v2 the logit difference of "1" and "0".
/// Their hub ids need no flag; a directory needs --reranker-kind. Only the document is
/// ever cut, never the prompt.
///
/// ColBERT models (PyLate or colbert-ai layout) encode the query and each document into
/// token vectors and score by MaxSim, the sum over query tokens of the best match among
/// the document's (a raw score, up to the query's token count); --max-length sets the
/// document length.
///
/// Examples:
///   echo '{"query": "what is a tamis", "documents": ["a drum sieve", "a river"]}' |
///     tamis rerank --model cross-encoder/ms-marco-MiniLM-L-6-v2 --top-n 1
///   tamis rerank --model Qwen/Qwen3-Reranker-0.6B --instruction "Find the recipe" < in.jsonl
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RerankArgs {
    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    io: IoArgs,

    #[command(flatten)]
    llm: LlmArgs,

    /// Return raw logits instead of the model's declared activation.
    #[arg(long)]
    raw: bool,

    /// Keep only the N best documents per query.
    #[arg(long, value_name = "N")]
    top_n: Option<usize>,

    /// Which side of a too-long pair is cut.
    #[arg(long, value_enum, default_value = "longest-first")]
    truncation: TruncationArg,

    /// For models with several labels: the label whose score ranks documents.
    #[arg(long, value_name = "INDEX")]
    label: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TruncationArg {
    /// Cut the longer of query and document first (sentence-transformers' default).
    LongestFirst,
    /// Cut only the document.
    OnlySecond,
}

#[derive(Serialize)]
struct RerankOutput {
    results: Vec<RankedDocument>,
}

#[derive(Serialize)]
struct RankedDocument {
    index: usize,
    score: f32,
    /// Every label's score, for models with several labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    scores: Option<Vec<f32>>,
    truncated: bool,
}

pub fn run(args: &RerankArgs) -> anyhow::Result<()> {
    configure_threads(args.model.source.threads);
    if args.top_n == Some(0) {
        anyhow::bail!("--top-n must be at least 1");
    }
    let lines = read_lines(args.io.input.as_deref(), parse_rerank_line)?;
    let mut config = args.llm.config(args.model.runtime(Role::Rerank), args.model.max_length);
    config.max_pass_tokens = args.model.max_batch_tokens;
    config.cross_encoder.truncation = match args.truncation {
        TruncationArg::LongestFirst => Truncation::LongestFirst,
        TruncationArg::OnlySecond => Truncation::OnlySecond,
    };
    config.cross_encoder.activation = args.raw.then_some(ScoreActivation::Identity);
    config.cross_encoder.label = args.label;
    let model_dir = args.model.resolve()?;
    let model = RerankerModel::load(&model_dir, &config)
        .with_context(|| format!("loading reranker {}", args.model.model))?;
    args.llm.check_used(&[&model])?;
    if !matches!(model, RerankerModel::CrossEncoder(_)) && args.label.is_some() {
        anyhow::bail!(
            "--label applies to cross-encoders with several labels; LLM rerankers and ColBERT \
             models have one score"
        );
    }
    let mut output = Output::open(args.io.output.as_deref())?;
    let bar = progress(lines.len(), "queries");
    for (line_index, line) in lines.iter().enumerate() {
        let documents: Vec<&str> = line.documents.iter().map(RerankDocument::text).collect();
        let results = match &model {
            RerankerModel::CrossEncoder(model) => {
                rank_cross(model, &line.query, &documents, args.top_n)
            }
            RerankerModel::Llm { model, instruction } => {
                let scored = model.score_passages(&line.query, instruction.as_deref(), &documents);
                scored.map_err(anyhow::Error::from).and_then(|s| rank_scored(&s, args))
            }
            RerankerModel::LateInteraction(model) => model
                .score(&line.query, &documents)
                .map_err(anyhow::Error::from)
                .and_then(|s| rank_scored(&s, args)),
        }
        .with_context(|| format!("scoring query {} of the input", line_index + 1))?;
        output.write(&RerankOutput { results })?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    output.finish()
}

fn rank_cross(
    model: &CrossEncoder,
    query: &str,
    documents: &[&str],
    top_n: Option<usize>,
) -> anyhow::Result<Vec<RankedDocument>> {
    let multi_label = model.num_labels() > 1;
    Ok(model
        .rank(query, documents, top_n)?
        .into_iter()
        .map(|r| RankedDocument {
            index: r.index,
            score: r.score,
            truncated: r.prediction.truncated,
            scores: multi_label.then_some(r.prediction.scores),
        })
        .collect())
}

/// The best of one-score results (LLM rerankers, ColBERT), in the CLI's output shape.
fn rank_scored(scored: &[PairScore], args: &RerankArgs) -> anyhow::Result<Vec<RankedDocument>> {
    let scores: Vec<f32> =
        scored.iter().map(|s| if args.raw { s.logit } else { s.score }).collect();
    Ok(tamis_core::best_first(&scores, args.top_n)
        .into_iter()
        .map(|index| RankedDocument {
            index,
            score: scores[index],
            truncated: scored[index].truncated,
            scores: None,
        })
        .collect())
}
