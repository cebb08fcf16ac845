//! `tamis serve`: the HTTP server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tamis_engine::result_cache::ResultCacheConfig;
use tamis_models::{BiEncoder, BiEncoderConfig, RerankerModel};
use tamis_server::{AppState, EmbedModel, Limits, Metrics, Models, RerankModel, ServerConfig};

use crate::filter_args::FilterLimitArgs;
use crate::location::open_catalog;
use crate::model_args::{EngineModelArgs, Role, configure_threads};
use crate::stage_args::LlmArgs;

/// Serve rerank, embeddings and search over HTTP.
///
/// Speaks the wire formats clients already use: TEI (`POST /rerank`, `/embed`,
/// `/predict`), Cohere v1 and Jina (`POST /v1/rerank`), Cohere v2 (`POST /v2/rerank`) and
/// OpenAI (`POST /v1/embeddings`); plus the search service under `/v1/collections` when
/// --data-dir is given, `/health`, `/ready`, `/info`, `/metrics` and `/openapi.json`.
///
/// Example:
///   tamis serve --model sentence-transformers/all-MiniLM-L6-v2 \
///       --reranker cross-encoder/ms-marco-MiniLM-L-6-v2 --data-dir ./tamis-data --api-key "$KEY"
///
/// Prints `listening on http://ADDR` once it accepts connections. Ctrl-C or SIGTERM stops
/// it gracefully: requests in flight finish and collections are committed.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    model: EngineModelArgs,

    /// Reranker to serve, as DIR|ID or NAME=DIR|ID (repeatable; the first is the
    /// default): a cross-encoder or an LLM reranker (Qwen3-Reranker, mxbai-rerank-v2).
    /// Clients pick one by NAME in `model` (default name: the directory's name or the hub
    /// id), and may send an `instruction` to an LLM reranker.
    #[arg(long = "reranker", visible_alias = "rerank", value_name = "[NAME=]DIR|ID")]
    rerankers: Vec<String>,

    #[command(flatten)]
    llm: LlmArgs,

    /// Directory of the search service's collections (created if missing); without it only
    /// rerank and embeddings are served.
    #[arg(long, env = "TAMIS_DATA_DIR", value_name = "DIR", conflicts_with = "store")]
    data_dir: Option<PathBuf>,

    /// Keep collections in PostgreSQL + pgvector instead of a data directory:
    /// `postgres://user@host:port/db` (parameters `sslmode`, `pool_size`,
    /// `connect_timeout`, `sslrootcert`; the password may come from PGPASSWORD). Any number
    /// of servers may share one database: none keeps state the others need.
    #[arg(long, env = "TAMIS_STORE", hide_env_values = true, value_name = "URL")]
    store: Option<String>,

    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TAMIS_BIND", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    bind: SocketAddr,

    /// Key required on every route but /health (`Authorization: Bearer KEY`).
    #[arg(long, env = "TAMIS_API_KEY", hide_env_values = true, value_name = "KEY")]
    api_key: Option<String>,

    /// A second key that may search, rerank and embed but not write (needs --api-key).
    #[arg(long, env = "TAMIS_READ_ONLY_KEY", hide_env_values = true, value_name = "KEY")]
    read_only_key: Option<String>,

    /// Do not serve the search playground (the page at / and /ui that searches, compares
    /// configurations and uploads through this API, with the key its user types).
    #[arg(long)]
    no_playground: bool,

    /// Largest request body in bytes (413 beyond it). A request's memory is a small multiple
    /// of its body plus work bounded by the models' lengths (long texts are tokenized only
    /// as far as truncation needs; a text without whitespace is tokenized whole).
    #[arg(long, default_value_t = Limits::default().max_body_bytes, value_name = "BYTES")]
    max_body_bytes: usize,

    /// Inference requests running or waiting at once; one more gets 429 with Retry-After.
    #[arg(long, default_value_t = Limits::default().max_concurrent_requests, value_name = "N")]
    max_concurrent_requests: usize,

    /// Most documents, inputs or pairs in one request: rerank, embed, predict, upsert (413
    /// beyond it). The default, 1000, is the most documents Cohere's rerank API
    /// recommends per request.
    #[arg(long, default_value_t = Limits::default().max_inputs_per_request, value_name = "N")]
    max_inputs_per_request: usize,

    /// Most tokens in one forward pass, across concurrent requests.
    #[arg(long, default_value_t = Limits::default().max_batch_tokens, value_name = "N")]
    max_batch_tokens: usize,

    /// Most inputs in one forward pass, across concurrent requests.
    #[arg(long, default_value_t = Limits::default().max_batch_inputs, value_name = "N")]
    max_batch_inputs: usize,

    /// Entries of the query-embedding cache and of each reranker's score cache.
    #[arg(long, default_value_t = Limits::default().cache_entries, value_name = "N")]
    cache_entries: usize,

    /// Answers the search result cache keeps, least recently used first out; 0 turns it
    /// off. A write to a collection makes its answers unreachable at once.
    #[arg(long, default_value_t = Limits::default().result_cache.max_entries, value_name = "N")]
    result_cache_entries: usize,

    /// Megabytes of answers the search result cache keeps (hit texts, titles, ids).
    #[arg(long, default_value_t = Limits::default().result_cache.max_bytes >> 20, value_name = "MB")]
    result_cache_mb: usize,

    /// Largest search `k` and rerank `top_n` (400 beyond it): a page of results; more is
    /// an export, which search is not for.
    #[arg(long, default_value_t = Limits::default().max_k, value_name = "N")]
    max_k: usize,

    /// Largest search `depth`, the chunks each retriever contributes (400 beyond it): ten
    /// times the default of 100; past it stage 1 costs more than the reranking it feeds.
    #[arg(long, default_value_t = Limits::default().max_depth, value_name = "N")]
    max_depth: usize,

    /// Most `candidates` one rerank stage of a search scores (400 beyond it): as many
    /// pairs as one rerank request may send.
    #[arg(long, default_value_t = Limits::default().max_candidates, value_name = "N")]
    max_candidates: usize,

    /// Longest query in bytes, for search, rerank and predict (400 beyond it): far beyond
    /// any model's window (512 tokens are roughly 2 KiB of English).
    #[arg(long, default_value_t = Limits::default().max_query_bytes, value_name = "BYTES")]
    max_query_bytes: usize,

    /// Longest text of one document, input or passage (and title), in bytes (413 beyond
    /// it): a long chapter; larger documents are better split before they are sent.
    #[arg(long, default_value_t = Limits::default().max_document_bytes, value_name = "BYTES")]
    max_document_bytes: usize,

    /// Largest `metadata` of one upserted document, as JSON, in bytes (413 beyond it):
    /// filters read metadata; documents are not stored in it.
    #[arg(long, default_value_t = Limits::default().max_metadata_bytes, value_name = "BYTES")]
    max_metadata_bytes: usize,

    #[command(flatten)]
    filter_limits: FilterLimitArgs,
}

/// The name clients use for a model: NAME= if given, else a directory's last component,
/// else the hub id.
fn split_name(spec: &str) -> (String, &str) {
    if let Some((name, target)) = spec.split_once('=')
        && !name.is_empty()
        && !name.contains('/')
    {
        return (name.to_string(), target);
    }
    let path = std::path::Path::new(spec);
    let name = match path.file_name().and_then(|n| n.to_str()) {
        Some(base) if path.is_dir() => base.to_string(),
        _ => spec.to_string(),
    };
    (name, spec)
}

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let source = &args.model.source;
    configure_threads(source.threads);
    let config = ServerConfig {
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            max_concurrent_requests: args.max_concurrent_requests,
            max_inputs_per_request: args.max_inputs_per_request,
            max_batch_tokens: args.max_batch_tokens,
            max_batch_inputs: args.max_batch_inputs,
            cache_entries: args.cache_entries,
            result_cache: ResultCacheConfig {
                max_entries: args.result_cache_entries,
                max_bytes: args.result_cache_mb.saturating_mul(1 << 20),
            },
            max_k: args.max_k,
            max_depth: args.max_depth,
            max_candidates: args.max_candidates,
            max_query_bytes: args.max_query_bytes,
            max_document_bytes: args.max_document_bytes,
            max_metadata_bytes: args.max_metadata_bytes,
            filter: args.filter_limits.limits(),
        },
        api_key: args.api_key.clone(),
        read_only_key: args.read_only_key.clone(),
        playground: !args.no_playground,
    };
    config.validate()?;
    anyhow::ensure!(
        args.model.model.is_some() || !args.rerankers.is_empty(),
        "nothing to serve: give --model (embeddings, search) and/or --reranker"
    );
    let metrics = Arc::new(Metrics::new());
    let batch = config.limits.batch();
    let embedder = match &args.model.model {
        Some(spec) => {
            let (name, target) = split_name(spec);
            let dir = source.resolve(target, None)?;
            source.check_index_embedder()?;
            let model_config =
                BiEncoderConfig { runtime: source.runtime(Role::Embed), ..Default::default() };
            let model = BiEncoder::load(&dir, &model_config)
                .with_context(|| format!("loading bi-encoder {target}"))?;
            let served = EmbedModel::new(name, model, batch, metrics.clone())?;
            Some(served.with_index_id(args.model.embedder_id(target)))
        }
        None => None,
    };
    let mut rerankers = Vec::new();
    let mut loaded = Vec::new();
    for spec in &args.rerankers {
        let (name, target) = split_name(spec);
        anyhow::ensure!(
            rerankers.iter().all(|r: &RerankModel| r.name != name),
            "two rerankers are named {name}: name them with NAME=DIR"
        );
        let dir = source.resolve(target, None)?;
        let model = RerankerModel::load(&dir, &args.llm.config(source.runtime(Role::Rerank), None))
            .with_context(|| format!("loading reranker {target}"))?;
        loaded.push(model.is_llm());
        let served = RerankModel::new(name, model, batch, metrics.clone())?;
        // A ColBERT model scores the token vectors of indexes that recorded it by this id.
        rerankers.push(served.with_index_id(args.model.embedder_id(target)));
    }
    args.llm.check_any_llm(&loaded)?;
    // Collections created through the server embed with its bi-encoder: unit-length
    // vectors let pgvector use inner product.
    let normalized = embedder.as_ref().is_some_and(|e| e.model().normalizes());
    let options = tamis_postgres::PgOptions { normalized, ..Default::default() };
    let catalog = open_catalog(args.data_dir.as_deref(), args.store.as_deref(), options)?;
    let state = AppState::new(config, Models { embedder, rerankers }, catalog, metrics)?;
    tamis_server::run(state, args.bind, |addr| {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on http://{addr}");
        let _ = stdout.flush();
    })?;
    Ok(())
}
