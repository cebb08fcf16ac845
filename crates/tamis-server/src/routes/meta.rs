//! Liveness, readiness, server information, metrics and the OpenAPI document.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{ApiError, ErrorBody};
use crate::models::blocking;
use crate::state::AppState;

/// `GET /health`: the process answers (no key needed).
#[utoipa::path(get, path = "/health", tag = "meta",
    responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: models serving and collections open; 503 once shutdown has begun, while
/// a model cannot serve, or while the store cannot be read.
#[utoipa::path(get, path = "/ready", tag = "meta", responses(
    (status = 200, description = "Ready: the models and the number of collections"),
    (status = 503, description = "Not ready (shutting down, a model that cannot serve, store unavailable)", body = ErrorBody)))]
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.is_shutting_down() {
        return ApiError::unavailable("the server is shutting down").into_response();
    }
    // A model that cannot answer makes its requests fail: take the node out of rotation.
    if let Some(model) = state.unready_model() {
        let message = format!(
            "model {model} cannot serve: its forward passes keep panicking or its thread is \
             restarting"
        );
        return ApiError::unavailable(message).into_response();
    }
    // A node whose shared store cannot be read is not ready to search.
    let names = collection_names(&state).await;
    let collections = match names {
        Ok(names) => names.map(|n| n.len()),
        Err(err) => {
            let message = format!("the store is unavailable: {}", err.message);
            return ApiError::unavailable(message).into_response();
        }
    };
    Json(json!({
        "status": "ready",
        "embedder": state.embedder.as_ref().map(|e| e.name.clone()),
        "rerankers": state.rerankers.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        "collections": collections,
    }))
    .into_response()
}

/// `GET /info`: models, versions and limits.
pub async fn info(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let limits = &state.config.limits;
    let embedder = state.embedder.as_ref().map(|e| {
        let model = e.model();
        json!({
            "name": e.name,
            "index_id": e.index_id,
            "dimension": model.dimension(),
            "max_tokens": model.max_length(),
            "normalized": model.normalizes(),
            "prompts": model.prompts(),
            "precision": model.precision().name(),
        })
    });
    let rerankers: Vec<serde_json::Value> = state
        .rerankers
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "kind": if r.is_late_interaction() {
                    "late-interaction"
                } else if r.llm_kind().is_some() {
                    "llm"
                } else {
                    "cross-encoder"
                },
                "max_tokens": r.max_length(),
                "labels": r.labels(),
                "activation": r.activation(),
                "llm_template": r.llm_kind().map(|kind| kind.name()),
                "precision": r.precision().name(),
            })
        })
        .collect();
    Json(json!({
        "name": "tamis",
        "version": env!("CARGO_PKG_VERSION"),
        "embedder": embedder,
        "rerankers": rerankers,
        "collections": collection_names(&state).await.ok().flatten(),
        "limits": {
            "max_body_bytes": limits.max_body_bytes,
            "max_concurrent_requests": limits.max_concurrent_requests,
            "max_inputs_per_request": limits.max_inputs_per_request,
            "max_batch_tokens": limits.max_batch_tokens,
            "max_batch_inputs": limits.max_batch_inputs,
            "max_k": limits.max_k,
            "max_depth": limits.max_depth,
            "max_candidates": limits.max_candidates,
            "max_query_bytes": limits.max_query_bytes,
            "max_document_bytes": limits.max_document_bytes,
            "max_metadata_bytes": limits.max_metadata_bytes,
            "max_filter_depth": limits.filter.max_depth,
            "max_filter_terms": limits.filter.max_terms,
            "max_filter_bytes": limits.filter.max_bytes,
        },
        "result_cache": {
            "max_entries": state.result_cache.config().max_entries,
            "max_bytes": state.result_cache.config().max_bytes,
            "stats": state.result_cache.stats(),
        },
        "auth": state.config.api_key.is_some(),
    }))
}

/// `GET /metrics`: Prometheus (OpenMetrics text).
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    if let Some(collections) = &state.collections
        && let Some(cache) = collections.query_embedder()
    {
        let stats = cache.stats();
        state.metrics.sync_cache("query_embeddings", stats.hits, stats.misses);
    }
    for (name, stats) in state.score_cache_stats() {
        state.metrics.sync_cache(&format!("scores:{name}"), stats.hits, stats.misses);
    }
    state.metrics.sync_result_cache(&state.result_cache.stats());
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.encode(),
    )
        .into_response()
}

/// `GET /openapi.json`.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

/// The collections' names (`None` without a data directory or store); the read blocks
/// when the catalog is a database.
async fn collection_names(state: &Arc<AppState>) -> Result<Option<Vec<String>>, ApiError> {
    let state = state.clone();
    blocking(move || state.collections.as_ref().map(|c| c.names()).transpose()).await
}
