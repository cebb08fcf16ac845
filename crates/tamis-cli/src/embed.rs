//! `tamis embed`: texts in, vectors out, as JSON Lines.

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;
use tamis_models::{BiEncoder, BiEncoderConfig, Prompt};

use crate::jsonl::lines::parse_embed_line;
use crate::jsonl::{IoArgs, Output, progress, read_lines};
use crate::model_args::{self, ModelArgs, configure_threads};

/// Embed texts with a bi-encoder.
///
/// Reads JSON Lines, one `{"text": "..."}` or `{"id": ..., "text": "..."}` per line,
/// and writes one `{"id": ..., "embedding": [...]}` per line in the same order.
/// Pooling, normalization and maximum length follow the model's sentence-transformers
/// files (modules.json, 1_Pooling/config.json, sentence_bert_config.json).
///
/// Example:
///   echo '{"id": 1, "text": "a tamis is a fine sieve"}' |
///     tamis embed --model sentence-transformers/all-MiniLM-L6-v2
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EmbedArgs {
    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    io: IoArgs,

    /// Prepend the model's prompt for this role (e5/bge-style `query: ` / `passage: `),
    /// or a --query-prompt/--document-prompt given here.
    #[arg(long, value_enum, conflicts_with_all = ["prompt", "prompt_name"])]
    role: Option<Role>,

    /// Prepend the model's prompt of this name (from config_sentence_transformers.json).
    #[arg(long, value_name = "NAME", conflicts_with = "prompt")]
    prompt_name: Option<String>,

    /// Prepend this literal text to every input.
    #[arg(long, value_name = "TEXT")]
    prompt: Option<String>,

    /// Prompt for --role query, overriding the model's.
    #[arg(long, value_name = "TEXT")]
    query_prompt: Option<String>,

    /// Prompt for --role document, overriding the model's.
    #[arg(long, value_name = "TEXT")]
    document_prompt: Option<String>,

    /// Scale every vector to unit length, even if the model has no Normalize module.
    #[arg(long, conflicts_with = "no_normalize")]
    normalize: bool,

    /// Never normalize, even if the model has a Normalize module.
    #[arg(long)]
    no_normalize: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Role {
    Query,
    Document,
}

#[derive(Serialize)]
struct EmbedOutput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: &'a Option<serde_json::Value>,
    embedding: &'a [f32],
}

/// Texts embedded per call, so output streams and progress moves.
const CHUNK: usize = 256;

pub fn run(args: &EmbedArgs) -> anyhow::Result<()> {
    configure_threads(args.model.source.threads);
    let lines = read_lines(args.io.input.as_deref(), parse_embed_line)?;
    let normalize = match (args.normalize, args.no_normalize) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let config = BiEncoderConfig {
        runtime: args.model.runtime(model_args::Role::Embed),
        max_length: args.model.max_length,
        normalize,
        query_prompt: args.query_prompt.clone(),
        document_prompt: args.document_prompt.clone(),
    };
    let model_dir = args.model.resolve()?;
    let model = BiEncoder::load(&model_dir, &config)
        .with_context(|| format!("loading bi-encoder {}", args.model.model))?;
    let mut output = Output::open(args.io.output.as_deref())?;
    let bar = progress(lines.len(), "texts");
    for chunk in lines.chunks(CHUNK) {
        let texts: Vec<&str> = chunk.iter().map(|l| l.text.as_str()).collect();
        let vectors = embed_chunk(&model, &texts, args)?;
        for (line, vector) in chunk.iter().zip(&vectors) {
            output.write(&EmbedOutput { id: &line.id, embedding: vector })?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    output.finish()
}

fn embed_chunk(
    model: &BiEncoder,
    texts: &[&str],
    args: &EmbedArgs,
) -> anyhow::Result<Vec<Vec<f32>>> {
    use tamis_core::{Embedder, TextRole};
    Ok(match (args.role, &args.prompt_name, &args.prompt) {
        (Some(Role::Query), ..) => model.embed(texts, TextRole::Query)?,
        (Some(Role::Document), ..) => model.embed(texts, TextRole::Document)?,
        (None, Some(name), _) => model.encode(texts, Prompt::Named(name))?,
        (None, None, Some(text)) => model.encode(texts, Prompt::Text(text))?,
        (None, None, None) => model.encode(texts, Prompt::Default)?,
    })
}
