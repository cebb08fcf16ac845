//! The search service: collections, their documents, and two-stage search.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tamis_core::TokenEmbedder;
use tamis_engine::backend::BackendStats;
use tamis_engine::chunker::ChunkMode;
use tamis_engine::filter::Filter;
use tamis_engine::fusion::Fusion;
use tamis_engine::ingest::Silent;
use tamis_engine::pipeline::{AdaptiveDepth, ChunkAggregation, PipelineRequest, RerankStage};
use tamis_engine::result_cache::{CachedAnswer, Paraphrase};
use tamis_engine::{
    Document, Index, IndexSettings, IngestConfig, IngestModels, LateInteractionSettings,
    SearchMode, SearchRequest, SettingsOverrides, TokenStorage, ingest_shared,
};
use utoipa::ToSchema;

use crate::collections::Collection;
use crate::config::{Limits, over_limit};
use crate::error::{ApiError, ErrorType};
use crate::json::{ApiJson, ApiPath, body_rejected};
use crate::models::{RerankModel, blocking};
use crate::state::AppState;

/// `PUT /v1/collections/{name}`: settings fixed at creation (all optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    /// `windows` (default): overlapping token windows; `whole`: one chunk per document.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub chunking: Option<ChunkMode>,
    /// Most tokens per window (default: what the bi-encoder takes).
    #[serde(default)]
    pub chunk_tokens: Option<usize>,
    /// Tokens shared by consecutive windows (default 32).
    #[serde(default)]
    pub overlap: Option<usize>,
    /// Prepend the title to each chunk before embedding (default true).
    #[serde(default)]
    pub prepend_title: Option<bool>,
    /// BM25 with English stemming (default true).
    #[serde(default)]
    pub stemming: Option<bool>,
    /// BM25 without English stop words (default true).
    #[serde(default)]
    pub stopwords: Option<bool>,
    /// BM25 term-frequency saturation `k1`, at least 0 (default 1.2).
    #[serde(default)]
    pub bm25_k1: Option<f32>,
    /// BM25 length normalization `b`, 0 to 1 (default 0.75).
    #[serde(default)]
    pub bm25_b: Option<f32>,
    /// BM25 weight of the title field against the text's 1, above 0 (default 1).
    #[serde(default)]
    pub title_weight: Option<f32>,
    /// Below this many chunks vectors are searched exactly (default 20000).
    #[serde(default)]
    pub exact_below: Option<usize>,
    /// HNSW `M`, links per node (default 16).
    #[serde(default)]
    pub hnsw_m: Option<usize>,
    /// HNSW `ef_construction`, candidates per insertion (default 128).
    #[serde(default)]
    pub hnsw_ef_construction: Option<usize>,
    /// HNSW `ef` at search time, at least the candidates asked for (default 64).
    #[serde(default)]
    pub hnsw_ef_search: Option<usize>,
    /// A served ColBERT reranker (by name) whose token vectors each chunk stores, so that
    /// a search reranking with it scores them instead of encoding its candidates; every
    /// upsert then needs the server to serve that model.
    #[serde(default)]
    pub late_interaction: Option<String>,
    /// How `late_interaction` token vectors are stored: `f16` (default, 2 bytes per value)
    /// or `int8` (1 byte per value and 4 per vector).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub token_storage: Option<TokenStorage>,
}

impl CreateCollection {
    /// The settings the body changes, as the CLI's creation flags give them.
    fn overrides(&self) -> SettingsOverrides {
        SettingsOverrides {
            chunking: self.chunking,
            chunk_tokens: self.chunk_tokens,
            overlap: self.overlap,
            prepend_title: self.prepend_title,
            stemming: self.stemming,
            stopwords: self.stopwords,
            bm25_k1: self.bm25_k1,
            bm25_b: self.bm25_b,
            title_weight: self.title_weight,
            exact_below: self.exact_below,
            hnsw_m: self.hnsw_m,
            hnsw_ef_construction: self.hnsw_ef_construction,
            hnsw_ef_search: self.hnsw_ef_search,
        }
    }
}

/// A document to upsert.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentInput {
    /// Unique in the collection; an existing id is replaced (not blank).
    #[schema(pattern = r"\S")]
    pub id: String,
    /// Optional title.
    #[serde(default)]
    pub title: String,
    /// The text.
    pub text: String,
    /// JSON metadata for filters.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `POST /v1/collections/{name}/documents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertDocuments {
    /// The documents, written in batches that are each all-or-nothing (at least one).
    #[schema(min_items = 1)]
    pub documents: Vec<DocumentInput>,
}

/// `DELETE /v1/collections/{name}/documents` (or `POST …/documents/delete`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteDocuments {
    /// These ids.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    /// Every document whose metadata passes this filter expression (400 beyond the
    /// server's filter limits: `--max-filter-depth`, `--max-filter-terms`, `--max-filter-bytes`).
    #[serde(default)]
    pub filter: Option<String>,
}

/// One reranking stage of a search.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerankSpec {
    /// The reranker's name (default: the server's first).
    #[serde(default)]
    pub model: Option<String>,
    /// Candidates it scores (default 100 for the first stage, else the previous stage's).
    #[serde(default)]
    pub candidates: Option<usize>,
}

/// Reuse a cached paraphrase's answer (see `SearchBody::paraphrase`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParaphraseSpec {
    /// The least cosine similarity of the two queries' embeddings, in (0, 1] (default
    /// 0.97, chosen on NFCorpus: see the README).
    #[serde(default)]
    pub min_cosine: Option<f32>,
    /// A reranker of this server that must also score (query, cached query) at least
    /// `confirm_min_score` (default: no check).
    #[serde(default)]
    pub confirm_model: Option<String>,
    /// The least score of that check, in the reranker's score units (needed with
    /// `confirm_model`).
    #[serde(default)]
    pub confirm_min_score: Option<f32>,
}

/// `POST /v1/collections/{name}/search`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// The query (not blank).
    #[schema(pattern = r"\S")]
    pub query: String,
    /// `bm25`, `dense` or `hybrid` (default: hybrid with a bi-encoder, else bm25).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub mode: Option<SearchMode>,
    /// Documents returned (default 10).
    #[serde(default)]
    pub k: Option<usize>,
    /// Chunks each retriever contributes before fusion (default 100).
    #[serde(default)]
    pub depth: Option<usize>,
    /// HNSW search breadth of this query, 1 to 1000 (default: the collection's
    /// `hnsw_ef_search`); the walk keeps max(ef_search, depth) candidates.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub ef_search: Option<usize>,
    /// Metadata filter expression (as `tamis search --filter`; 400 beyond the server's
    /// filter limits: `--max-filter-depth`, `--max-filter-terms`, `--max-filter-bytes`).
    #[serde(default)]
    pub filter: Option<String>,
    /// BM25 `k1` of this query (default: the collection's); with `bm25_b` and
    /// `title_weight`, for trying parameters before creating a collection with them.
    #[serde(default)]
    pub bm25_k1: Option<f32>,
    /// BM25 `b` of this query, 0 to 1 (default: the collection's).
    #[serde(default)]
    pub bm25_b: Option<f32>,
    /// BM25 title weight of this query (default: the collection's).
    #[serde(default)]
    pub title_weight: Option<f32>,
    /// Hybrid fusion: `{"method": "rrf", "k": 60, "weights": [1, 1]}` or
    /// `{"method": "linear", "normalization": "minmax", "weights": [1, 1]}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fusion: Option<Fusion>,
    /// The reranking cascade, in order (empty or absent: stage 1 only).
    #[serde(default)]
    pub rerank: Vec<RerankSpec>,
    /// How a document's chunk scores combine: `max` (default), `first`, `mean-top2`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub aggregate: Option<ChunkAggregation>,
    /// Order reranked documents by fusing stage-1 and last-reranker ranks/scores.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fuse_stages: Option<Fusion>,
    /// Stop scoring after this many candidates in a row fail to enter the top k.
    #[serde(default)]
    pub adaptive_patience: Option<usize>,
    /// Keep only documents the last reranker scored at least this high.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Time budget of all rerank stages; the unscored tail keeps stage-1 order.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// Raw logits instead of each model's declared activation.
    #[serde(default)]
    pub raw_scores: bool,
    /// Also answer with the cached answer of a query close to this one by embedding:
    /// another query's answer, which the response's `cache` names (off unless given;
    /// needs the bi-encoder).
    #[serde(default)]
    pub paraphrase: Option<ParaphraseSpec>,
    /// `false`: run the whole pipeline and leave the result cache alone (default true:
    /// an answer stored for a query every stage reads the same, since the collection's
    /// last write, is returned, and says so in `cache`).
    #[serde(default)]
    pub cache: Option<bool>,
}

/// A document of a search result.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    /// 1-based.
    pub rank: usize,
    /// The document id.
    pub id: String,
    /// What ordered it; see `score_kind`.
    pub score: f32,
    /// `stage1` (with bm25/cosine/fused), `reranker` (with its activation) or `fused`.
    #[schema(value_type = Object)]
    pub score_kind: serde_json::Value,
    /// Title.
    pub title: String,
    /// The best chunk's text.
    pub text: String,
    /// Rank and score in stage 1.
    #[schema(value_type = Object)]
    pub stage1: serde_json::Value,
    /// Rank and score of its stage-1 chunk in the BM25 list and in the dense list
    /// (`{"bm25": {rank, score} | null, "dense": … | null}`): what hybrid fused.
    #[schema(value_type = Object)]
    pub retrievers: serde_json::Value,
    /// Rank and score after each reranker (null where it was not scored).
    #[schema(value_type = Vec<Object>)]
    pub reranks: serde_json::Value,
    /// Tokens the last reranker cut from its passage (a lower bound for very long passages,
    /// which are tokenized only as far as truncation needs).
    pub dropped_tokens: usize,
    /// The document's metadata (null when it has none).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// The collection `name`; on a blocking thread, since a shared catalog reads the database.
async fn collection(state: &Arc<AppState>, name: &str) -> Result<Arc<Collection>, ApiError> {
    let (state, name) = (state.clone(), name.to_string());
    blocking(move || state.collections()?.get(&name)).await
}

fn describe(collection: &Collection) -> Result<serde_json::Value, ApiError> {
    let index = collection.read();
    let stats = index.stats()?;
    Ok(describe_index(&collection.name, &index, &stats))
}

fn describe_index(name: &str, index: &Index, stats: &BackendStats) -> serde_json::Value {
    let settings = index.settings();
    serde_json::json!({
        "name": name,
        "documents": stats.documents,
        "chunks": stats.chunks,
        "vectors": stats.vectors,
        "hnsw": stats.vector_index == "hnsw",
        "backend": stats.backend,
        "settings": {
            "embedder": settings.embedder_id,
            "dimension": settings.dimension,
            "chunking": settings.chunking,
            "stemming": settings.lexical.stemming,
            "stopwords": settings.lexical.stopwords,
            "fields": settings.lexical.fields.name(),
            "bm25": settings.lexical.bm25,
            "exact_below": settings.exact_below,
            "hnsw_m": settings.hnsw.m,
            "hnsw_ef_construction": settings.hnsw.ef_construction,
            "hnsw_ef_search": settings.hnsw.ef_search,
        },
        "late_interaction": settings.late_interaction.as_ref().map(|late| {
            let tokens = stats.token_vectors;
            serde_json::json!({
                "model": late.model_id,
                "dimension": late.dimension,
                "storage": late.storage,
                "chunks": tokens.map_or(0, |t| t.chunks),
                "vectors": tokens.map_or(0, |t| t.vectors),
                "bytes": tokens.map_or(0, |t| t.bytes),
            })
        }),
    })
}

/// `GET /v1/collections`.
#[utoipa::path(get, path = "/v1/collections", tag = "collections",
    responses((status = 200, description = "Every collection with its counts")))]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    state.collections()?;
    let described = blocking(move || {
        let collections = state.collections()?;
        let mut described = Vec::new();
        for name in collections.names()? {
            match collections.get(&name) {
                Ok(collection) => described.push(describe(&collection)?),
                // Dropped by another node since the names were read.
                Err(err) if err.error_type == ErrorType::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        Ok(described)
    })
    .await?;
    Ok(Json(serde_json::json!({ "collections": described })))
}

/// `GET /v1/collections/{name}`.
#[utoipa::path(get, path = "/v1/collections/{name}", params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The collection: 1 to 64 of A-Z a-z 0-9 _ -")), tag = "collections",
    responses((status = 200, description = "Counts and settings"), (status = 404)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let collection = collection(&state, &name).await?;
    Ok(Json(blocking(move || describe(&collection)).await?))
}

/// `PUT /v1/collections/{name}`: creates it (409 if it exists).
#[utoipa::path(put, path = "/v1/collections/{name}", params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The collection: 1 to 64 of A-Z a-z 0-9 _ -")), request_body = CreateCollection, tag = "collections",
    responses((status = 201, description = "Created"), (status = 409)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| body_rejected(&rejection))?;
    // The body is optional: no body means every default.
    let body: CreateCollection = if body.iter().all(u8::is_ascii_whitespace) {
        CreateCollection::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| ApiError::validation(err.to_string()))?
    };
    let embedder = state.collections()?.embedder()?.clone();
    let mut settings = IndexSettings::new(embedder.index_id.clone(), embedder.model().dimension());
    body.overrides().apply(&mut settings);
    settings.late_interaction = match (&body.late_interaction, body.token_storage) {
        (Some(name), storage) => {
            let model = state.reranker(Some(name))?;
            if !model.is_late_interaction() {
                return Err(ApiError::validation(format!(
                    "`late_interaction` names a ColBERT model; {} is not one",
                    model.name
                )));
            }
            Some(LateInteractionSettings {
                model_id: model.index_id.clone(),
                dimension: TokenEmbedder::dimension(model.as_ref()),
                storage: storage.unwrap_or_default(),
            })
        }
        (None, Some(_)) => {
            return Err(ApiError::validation("`token_storage` needs `late_interaction`"));
        }
        (None, None) => None,
    };
    let described = blocking(move || {
        let collection = state.collections()?.create(&name, settings)?;
        describe(&collection)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(described)).into_response())
}

/// `DELETE /v1/collections/{name}`: removes it and its files.
#[utoipa::path(delete, path = "/v1/collections/{name}", params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The collection: 1 to 64 of A-Z a-z 0-9 _ -")), tag = "collections",
    responses((status = 200, description = "Deleted"), (status = 404)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let deleted = name.clone();
    blocking(move || state.collections()?.delete(&name)).await?;
    Ok(Json(serde_json::json!({ "deleted": deleted })))
}

/// Documents per all-or-nothing batch of an upsert.
const UPSERT_BATCH_DOCS: usize = 64;

/// `POST /v1/collections/{name}/documents`: upserts in all-or-nothing batches of 64.
///
/// Each batch is embedded without holding the collection's lock (the write lock is held
/// only to write it), so searches on the collection answer while a long upsert embeds;
/// its documents are bulk work for the bi-encoder's batcher, which serves queries first.
#[utoipa::path(post, path = "/v1/collections/{name}/documents", params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The collection: 1 to 64 of A-Z a-z 0-9 _ -")), request_body = UpsertDocuments,
    tag = "collections", responses((status = 200, description = "Written, unchanged, chunks")))]
pub async fn upsert(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<UpsertDocuments>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if body.documents.is_empty() {
        return Err(ApiError::bad_request("no documents: send at least one"));
    }
    check_documents(&state.config.limits, &body.documents)?;
    let collection = collection(&state, &name).await?;
    let embedder = state.collections()?.embedder()?.clone();
    let documents: Vec<Document> = body
        .documents
        .into_iter()
        .map(|d| Document { id: d.id, title: d.title, text: d.text, metadata: d.metadata })
        .collect();
    let state2 = state.clone();
    let report = blocking(move || {
        let _writing = collection.begin_write()?;
        state2.collections()?.check_embedder(&collection.read())?;
        let late = late_model(&state2, &collection.read())?;
        let models = IngestModels {
            late: late.as_deref().map(|model| model as &dyn TokenEmbedder),
            ..IngestModels::new(&*embedder, &*embedder)
        };
        let config = IngestConfig { batch_docs: UPSERT_BATCH_DOCS };
        let documents = documents.into_iter().map(Ok);
        let report = ingest_shared(collection.lock(), documents, models, config, &mut Silent)?;
        Ok(serde_json::json!({
            "written": report.written,
            "unchanged": report.unchanged,
            "chunks": report.chunks,
        }))
    })
    .await?;
    Ok(Json(report))
}

/// The served ColBERT model whose token vectors `index` stores, if it stores any; an
/// error when this server does not serve it (the vectors of new chunks cannot be
/// computed).
fn late_model(state: &AppState, index: &Index) -> Result<Option<Arc<RerankModel>>, ApiError> {
    let Some(late) = &index.settings().late_interaction else {
        return Ok(None);
    };
    let served = state
        .rerankers
        .iter()
        .find(|model| model.is_late_interaction() && model.index_id == late.model_id);
    match served {
        Some(model) => Ok(Some(model.clone())),
        None => Err(ApiError::validation(format!(
            "the collection stores the token vectors of late-interaction model '{}', which \
             this server does not serve: start it with --reranker {0} to write to it",
            late.model_id
        ))),
    }
}

/// The rules of an upsert's documents, checked before anything is embedded: ids, the
/// limits, and metadata that is an object (as `tamis index` requires).
fn check_documents(limits: &Limits, documents: &[DocumentInput]) -> Result<(), ApiError> {
    limits.check_texts("documents", documents.iter().map(|d| d.text.as_str()))?;
    limits.check_texts("titles", documents.iter().map(|d| d.title.as_str()))?;
    for (idx, document) in documents.iter().enumerate() {
        if document.id.trim().is_empty() {
            return Err(ApiError::bad_request(format!("document {idx} has an empty id")));
        }
        let Some(metadata) = &document.metadata else {
            continue;
        };
        if !metadata.is_object() {
            return Err(ApiError::bad_request(format!(
                "document {idx}: `metadata` must be a JSON object"
            )));
        }
        let n_bytes = metadata.to_string().len();
        if n_bytes > limits.max_metadata_bytes {
            return Err(over_limit(
                ErrorType::PayloadTooLarge,
                format!("document {idx}: `metadata` is {n_bytes} bytes"),
                limits.max_metadata_bytes,
                "max-metadata-bytes",
            ));
        }
    }
    Ok(())
}

/// Most rerank stages in one search: a cascade longer than this scores the same
/// candidates again for nothing (the server has few rerankers).
const MAX_RERANK_STAGES: usize = 8;

/// The limits of a search body, checked before anything runs.
fn check_search(limits: &Limits, body: &SearchBody) -> Result<(), ApiError> {
    if body.query.trim().is_empty() {
        return Err(ApiError::bad_request("`query` is empty"));
    }
    limits.check_query(&body.query)?;
    Limits::check_at_most("k", body.k, limits.max_k, "max-k")?;
    Limits::check_at_most("depth", body.depth, limits.max_depth, "max-depth")?;
    if body.rerank.len() > MAX_RERANK_STAGES {
        return Err(ApiError::bad_request(format!(
            "{} rerank stages; a search takes at most {MAX_RERANK_STAGES}",
            body.rerank.len()
        )));
    }
    for (idx, stage) in body.rerank.iter().enumerate() {
        let field = format!("rerank[{idx}].candidates");
        Limits::check_at_most(&field, stage.candidates, limits.max_candidates, "max-candidates")?;
    }
    Ok(())
}

/// `DELETE /v1/collections/{name}/documents` (also `POST …/documents/delete`): by ids or filter.
#[utoipa::path(delete, path = "/v1/collections/{name}/documents", params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The collection: 1 to 64 of A-Z a-z 0-9 _ -")), request_body = DeleteDocuments,
    tag = "collections", responses((status = 200, description = "How many were deleted")))]
pub async fn delete_documents(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<DeleteDocuments>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let collection = collection(&state, &name).await?;
    let limits = &state.config.limits;
    let filter =
        body.filter.as_deref().map(|f| Filter::parse_with(f, &limits.filter)).transpose()?;
    let ids = body.ids;
    if ids.is_none() == filter.is_none() {
        return Err(ApiError::bad_request("send `ids` or `filter` (one of them)"));
    }
    if let Some(ids) = &ids {
        // As many as one upsert may write, so a client deletes what it wrote in as many requests.
        limits.check_texts("ids", ids.iter().map(String::as_str))?;
    }
    let deleted = blocking(move || {
        let _writing = collection.begin_write()?;
        let mut index = collection.write();
        let deleted = match (ids, filter) {
            (Some(ids), _) => {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                index.delete(&ids)?
            }
            (None, Some(filter)) => index.delete_matching(&filter)?.0,
            (None, None) => 0,
        };
        index.flush()?;
        Ok(deleted)
    })
    .await?;
    Ok(Json(serde_json::json!({ "deleted": deleted })))
}

/// `POST /v1/collections/{name}/search`: stage 1, then the rerank cascade.
#[utoipa::path(post, path = "/v1/collections/{name}/search", params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The collection: 1 to 64 of A-Z a-z 0-9 _ -")), request_body = SearchBody,
    tag = "collections", responses((status = 200, description = "Results, per-stage timings (those of the run that stored the answer when `cache` is set)")))]
pub async fn search(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_search(&state.config.limits, &body)?;
    let collection = collection(&state, &name).await?;
    let limits = &state.config.limits.filter;
    let filter = body.filter.as_deref().map(|f| Filter::parse_with(f, limits)).transpose()?;
    let rerankers = body
        .rerank
        .iter()
        .map(|spec| state.cached_reranker(spec.model.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let confirm = match &body.paraphrase {
        Some(ParaphraseSpec { confirm_model: Some(model), confirm_min_score, .. }) => {
            let min_score = confirm_min_score.ok_or_else(|| {
                ApiError::bad_request("`paraphrase.confirm_model` needs `confirm_min_score`")
            })?;
            Some((state.cached_reranker(Some(model))?, min_score))
        }
        Some(ParaphraseSpec { confirm_min_score: Some(_), .. }) => {
            return Err(ApiError::bad_request(
                "`paraphrase.confirm_min_score` needs `confirm_model`",
            ));
        }
        _ => None,
    };
    let state2 = state.clone();
    blocking(move || {
        let index = collection.read();
        let collections = state2.collections()?;
        let embedder = collections.query_embedder().map(|e| e as &dyn tamis_core::Embedder);
        let default_mode = if embedder.is_some() { SearchMode::Hybrid } else { SearchMode::Bm25 };
        let mut search = SearchRequest::new(&body.query, body.mode.unwrap_or(default_mode));
        if search.mode != SearchMode::Bm25 {
            collections.check_embedder(&index)?;
        }
        search.filter = filter.as_ref();
        search.depth = body.depth.unwrap_or(search.depth);
        search.ef_search = body.ef_search;
        search.bm25 =
            index.settings().lexical.bm25.overridden(body.bm25_k1, body.bm25_b, body.title_weight);
        if let Some(fusion) = &body.fusion {
            search.fusion = fusion.clone();
        }
        let mut previous = 100;
        let stages: Vec<RerankStage<'_>> = body
            .rerank
            .iter()
            .zip(&rerankers)
            .map(|(spec, reranker)| {
                previous = spec.candidates.unwrap_or(previous);
                let model = reranker.cached.inner();
                // Stored token vectors are scored where the collection keeps some (another
                // model's are refused); otherwise the model encodes each pair, at
                // interactive priority and through the score cache.
                if model.is_late_interaction() && index.settings().late_interaction.is_some() {
                    RerankStage::late_interaction(
                        &reranker.name,
                        model.as_ref(),
                        &model.index_id,
                        previous,
                    )
                } else {
                    RerankStage::new(&reranker.name, &reranker.cached, previous)
                }
            })
            .collect();
        let k = body.k.unwrap_or(10);
        let mut request = PipelineRequest::new(search, stages);
        request.k = k;
        if body.rerank.is_empty() {
            request.search.k = k;
        } else {
            request.search.k = request.stages[0].candidates.max(k);
        }
        // Each retriever must offer at least as many chunks as documents are wanted.
        request.search.depth = request.search.depth.max(request.search.k);
        request.aggregation = body.aggregate.unwrap_or_default();
        request.stage_fusion = body.fuse_stages.clone();
        request.adaptive = body.adaptive_patience.map(|patience| AdaptiveDepth { patience, k });
        request.min_score = body.min_score;
        request.deadline = body.deadline_ms.map(Duration::from_millis);
        request.raw_scores = body.raw_scores;
        let answer = if body.cache == Some(false) {
            CachedAnswer {
                response: Arc::new(index.search_and_rerank(&request, embedder)?),
                hit: None,
            }
        } else {
            let paraphrase = body.paraphrase.as_ref().map(|spec| Paraphrase {
                min_cosine: spec.min_cosine.unwrap_or(Paraphrase::DEFAULT_MIN_COSINE),
                confirm: confirm
                    .as_ref()
                    .map(|(model, score)| (&model.cached as &dyn tamis_core::Reranker, *score)),
            });
            if paraphrase.is_some() && embedder.is_none() {
                return Err(ApiError::bad_request(
                    "`paraphrase` compares query embeddings: this server has no embedding model",
                ));
            }
            index.search_cached_with(
                &state2.result_cache,
                &request,
                embedder,
                paraphrase.as_ref(),
            )?
        };
        let response = &answer.response;
        if answer.hit.is_none() {
            for stage in &response.stages {
                state2.metrics.observe_stage(&stage.name, stage.elapsed);
            }
        }
        // Read at answer time, so a cached answer shows the metadata as it is now.
        let ids: Vec<&str> = response.hits.iter().map(|hit| hit.doc_id.as_str()).collect();
        let mut metadata = index.metadata(&ids)?;
        let results: Vec<SearchResult> = response
            .hits
            .iter()
            .enumerate()
            .map(|(idx, hit)| SearchResult {
                rank: idx + 1,
                id: hit.doc_id.clone(),
                score: hit.score,
                score_kind: serde_json::json!(hit.score_kind),
                title: hit.title.clone(),
                text: hit.text.clone(),
                stage1: serde_json::json!(hit.stage1),
                retrievers: serde_json::json!(hit.retrievers),
                reranks: serde_json::json!(hit.reranks),
                dropped_tokens: hit.dropped_tokens,
                metadata: metadata.remove(&hit.doc_id),
            })
            .collect();
        let stages: Vec<serde_json::Value> = response
            .stages
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "documents": s.documents,
                    "pairs": s.pairs,
                    "elapsed_ms": s.elapsed.as_secs_f64() * 1e3,
                    "stopped": s.stopped,
                })
            })
            .collect();
        let cache = answer.hit.as_ref().map(|hit| {
            serde_json::json!({
                "level": hit.level,
                "query": hit.query,
                "age_ms": hit.age.as_secs_f64() * 1e3,
                "cosine": hit.cosine,
                "confirm_score": hit.confirm_score,
            })
        });
        Ok(Json(serde_json::json!({
            "results": results,
            "stages": stages,
            "deadline_exceeded": response.deadline_exceeded,
            "cache": cache,
        })))
    })
    .await
}
