//! `tamis rerank`: a query and its candidate documents in, documents sorted by relevance out.

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;
use tamis_core::ScoreActivation;
use tamis_models::{CrossEncoder, CrossEncoderConfig, Truncation};

use crate::jsonl::lines::{RerankDocument, parse_rerank_line};
use crate::jsonl::{IoArgs, Output, progress, read_lines};
use crate::model_args::{ModelArgs, configure_threads};

/// Rerank documents against a query with a cross-encoder.
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
/// Example:
///   echo '{"query": "what is a tamis", "documents": ["a drum sieve", "a river"]}' |
///     tamis rerank --model cross-encoder/ms-marco-MiniLM-L-6-v2 --top-n 1
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RerankArgs {
    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    io: IoArgs,

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
    let config = CrossEncoderConfig {
        runtime: args.model.runtime(),
        max_length: args.model.max_length,
        truncation: match args.truncation {
            TruncationArg::LongestFirst => Truncation::LongestFirst,
            TruncationArg::OnlySecond => Truncation::OnlySecond,
        },
        activation: args.raw.then_some(ScoreActivation::Identity),
        label: args.label,
    };
    let model_dir = args.model.resolve()?;
    let model = CrossEncoder::load(&model_dir, &config)
        .with_context(|| format!("loading cross-encoder {}", args.model.model))?;
    let mut output = Output::open(args.io.output.as_deref())?;
    let bar = progress(lines.len(), "queries");
    for (line_index, line) in lines.iter().enumerate() {
        let documents: Vec<&str> = line.documents.iter().map(RerankDocument::text).collect();
        let ranked = model
            .rank(&line.query, &documents, args.top_n)
            .with_context(|| format!("scoring query {} of the input", line_index + 1))?;
        let multi_label = model.num_labels() > 1;
        let results = ranked
            .into_iter()
            .map(|r| RankedDocument {
                index: r.index,
                score: r.score,
                truncated: r.prediction.truncated,
                scores: multi_label.then_some(r.prediction.scores),
            })
            .collect();
        output.write(&RerankOutput { results })?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    output.finish()
}
