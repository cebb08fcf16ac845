//! The router: which route needs which key, which routes are admission-bounded.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri, header};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};

use crate::auth::{require_read, require_write};
use crate::error::{ApiError, ErrorType};
use crate::playground;
use crate::state::{AppState, admit, observe};

pub mod collections;
pub mod embed;
pub mod meta;
pub mod predict;
pub mod rerank;

#[cfg(test)]
mod tests;

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
    let mut public = Router::new().route("/health", get(meta::health));
    if state.config.playground {
        public = public.merge(playground::routes());
    }
    public
        .merge(inference)
        // `/v1/collections/{name}` is both read (GET) and write (PUT, DELETE).
        .merge(read.merge(write))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(map_response(json_errors))
        .layer(from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}

/// axum adds the `Allow` header to what this returns.
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorType::MethodNotAllowed,
        format!("{} does not take {method} (see the Allow header)", uri.path()),
    )
}

/// The safety net under the contract that every error answers `{"error", "error_type"}`:
/// a non-JSON error response (a rejection of axum's not mapped by the handlers'
/// extractors, a layer's own answer) is rewritten into that shape, keeping its message and
/// its `Allow` and `Retry-After` headers. The known ones are mapped where they arise; the
/// test `every_kind_of_error_answers_in_one_shape` lists them.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // axum's rejection texts are one line; a longer body is not worth keeping whole.
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let mut mapped = ApiError::new(ErrorType::from_status(status), message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            mapped.headers_mut().insert(name, value.clone());
        }
    }
    mapped
}
