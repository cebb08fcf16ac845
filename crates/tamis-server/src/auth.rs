//! API keys: `Authorization: Bearer KEY` (or `X-API-Key: KEY`) on every route but
//! `/health`. The full key may do anything; the read-only key may search, rerank and embed.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorType};
use crate::state::AppState;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Search, rerank, embed, read collections and metrics.
    Read,
    /// Create, change or delete collections and documents.
    Write,
}

/// The keys, kept as digests so that comparing them takes the same time for any input.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    full: Option<[u8; 32]>,
    read_only: Option<[u8; 32]>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Keys {
    /// The keys of a (validated) configuration.
    pub fn new(full: Option<&str>, read_only: Option<&str>) -> Keys {
        Keys { full: full.map(digest), read_only: read_only.map(digest) }
    }

    /// Whether `headers` grant `access`.
    pub fn check(&self, headers: &HeaderMap, access: Access) -> Result<(), ApiError> {
        let Some(full) = &self.full else {
            return Ok(());
        };
        let Some(given) = presented_key(headers) else {
            return Err(ApiError::new(
                ErrorType::Unauthorized,
                "this server needs an API key: send `Authorization: Bearer <key>`",
            ));
        };
        let given = digest(given);
        if bool::from(given.ct_eq(full)) {
            return Ok(());
        }
        let read_only = self.read_only.as_ref().is_some_and(|k| bool::from(given.ct_eq(k)));
        match (read_only, access) {
            (true, Access::Read) => Ok(()),
            (true, Access::Write) => Err(ApiError::new(
                ErrorType::Forbidden,
                "the read-only key may search, rerank and embed, not write",
            )),
            (false, _) => Err(ApiError::new(ErrorType::Unauthorized, "the API key is not valid")),
        }
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        return Some(
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .unwrap_or(value)
                .trim(),
        );
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Middleware for read routes.
pub async fn require_read(
    State(state): State<std::sync::Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match state.keys.check(request.headers(), Access::Read) {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

/// Middleware for write routes.
pub async fn require_write(
    State(state): State<std::sync::Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match state.keys.check(request.headers(), Access::Write) {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}
