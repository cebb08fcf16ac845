//! The router: which route needs which key, which routes are admission-bounded.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post, put};

use crate::auth::{require_read, require_write};
use crate::error::ApiError;
use crate::state::{AppState, admit, observe};

pub mod collections;
pub mod embed;
pub mod meta;
pub mod predict;
pub mod rerank;

/// Every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    // Inference: bounded by admission (429 beyond it), any key.
    let inference = Router::new()
        .route("/rerank", post(rerank::tei))
        .route("/v1/rerank", post(rerank::cohere_v1))
        .route("/v2/rerank", post(rerank::cohere_v2))
        .route("/predict", post(predict::predict))
        .route("/embed", post(embed::tei))
        .route("/v1/embeddings", post(embed::openai))
        .route("/v1/collections/{name}/search", post(collections::search))
        .layer(from_fn_with_state(state.clone(), admit))
        .layer(from_fn_with_state(state.clone(), require_read));
    let read = Router::new()
        .route("/ready", get(meta::ready))
        .route("/info", get(meta::info))
        .route("/metrics", get(meta::metrics))
        .route("/openapi.json", get(meta::openapi))
        .route("/v1/collections", get(collections::list))
        .route("/v1/collections/{name}", get(collections::get))
        .layer(from_fn_with_state(state.clone(), require_read));
    // Upserts embed, so they count against admission like inference does.
    let upsert = Router::new()
        .route("/v1/collections/{name}/documents", post(collections::upsert))
        .layer(from_fn_with_state(state.clone(), admit));
    let write = Router::new()
        .route("/v1/collections/{name}", put(collections::create).delete(collections::delete))
        .route("/v1/collections/{name}/documents", delete(collections::delete_documents))
        .route("/v1/collections/{name}/documents/delete", post(collections::delete_documents))
        .merge(upsert)
        .layer(from_fn_with_state(state.clone(), require_write));
    let max_body_bytes = state.config.limits.max_body_bytes;
    Router::new()
        .route("/health", get(meta::health))
        .merge(inference)
        // `/v1/collections/{name}` is both read (GET) and write (PUT, DELETE).
        .merge(read.merge(write))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}
