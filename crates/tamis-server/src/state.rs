//! What every handler shares, and the middleware that guards it (admission, metrics).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tamis_engine::backend::Catalog;
use tamis_engine::cache::{CacheStats, CachedReranker};
use tamis_engine::result_cache::ResultCache;
use tokio::sync::Semaphore;

use crate::auth::Keys;
use crate::collections::Collections;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::models::{EmbedModel, RerankModel};

/// The loaded models a server starts with.
#[derive(Debug, Default)]
pub struct Models {
    /// The bi-encoder (embeddings, dense search, ingest).
    pub embedder: Option<EmbedModel>,
    /// Cross-encoders, the first being the default.
    pub rerankers: Vec<RerankModel>,
}

/// A reranker behind its (query, passage) → score cache.
#[derive(Debug)]
pub struct CachedModel {
    /// The reranker's name.
    pub name: String,
    /// The cached reranker the pipeline calls.
    pub cached: CachedReranker<Arc<RerankModel>>,
}

/// The state behind every route.
#[derive(Debug)]
pub struct AppState {
    /// The validated configuration.
    pub config: ServerConfig,
    /// The bi-encoder, if one is served.
    pub embedder: Option<Arc<EmbedModel>>,
    /// The cross-encoders, by name; the first is the default.
    pub rerankers: Vec<Arc<RerankModel>>,
    /// The same, behind score caches, for searches (same order).
    cached_rerankers: Vec<Arc<CachedModel>>,
    /// The collections, when the server has a data directory.
    pub collections: Option<Collections>,
    /// Whole search answers, for every collection (keyed by each one's identity and last
    /// write, so a write never leaves a stale answer).
    pub result_cache: ResultCache,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
    pub(crate) keys: Keys,
    admission: Arc<Semaphore>,
    shutting_down: AtomicBool,
}

impl AppState {
    /// The state of a server with `models`, serving the collections of `catalog` (none:
    /// models only).
    pub fn new(
        config: ServerConfig,
        models: Models,
        catalog: Option<Box<dyn Catalog>>,
        metrics: Arc<Metrics>,
    ) -> crate::Result<AppState> {
        config.validate()?;
        let embedder = models.embedder.map(Arc::new);
        let rerankers: Vec<Arc<RerankModel>> = models.rerankers.into_iter().map(Arc::new).collect();
        let capacity = NonZeroUsize::new(config.limits.cache_entries).unwrap_or(NonZeroUsize::MIN);
        let cached_rerankers = rerankers
            .iter()
            .map(|model| {
                let cached = CachedReranker::new(model.clone(), model.name.clone(), capacity);
                Arc::new(CachedModel { name: model.name.clone(), cached })
            })
            .collect();
        let collections = catalog
            .map(|catalog| {
                Collections::open(catalog, embedder.clone(), config.limits.cache_entries)
            })
            .transpose()?;
        let result_cache = ResultCache::new(config.limits.result_cache);
        Ok(AppState {
            result_cache,
            keys: Keys::new(config.api_key.as_deref(), config.read_only_key.as_deref()),
            admission: Arc::new(Semaphore::new(config.limits.max_concurrent_requests)),
            config,
            embedder,
            rerankers,
            cached_rerankers,
            collections,
            metrics,
            shutting_down: AtomicBool::new(false),
        })
    }

    /// The reranker a request names (by name, or by its directory's last component), or the
    /// default one.
    pub fn reranker(&self, name: Option<&str>) -> Result<&Arc<RerankModel>, ApiError> {
        let Some(first) = self.rerankers.first() else {
            return Err(ApiError::bad_request(
                "this server has no reranker (start it with --reranker)",
            ));
        };
        match name.map(str::trim).filter(|n| !n.is_empty()) {
            None => Ok(first),
            Some(name) => self
                .rerankers
                .iter()
                .find(|r| r.name == name || name.rsplit('/').next() == Some(r.name.as_str()))
                .ok_or_else(|| {
                    let known: Vec<&str> = self.rerankers.iter().map(|r| r.name.as_str()).collect();
                    ApiError::bad_request(format!(
                        "unknown reranker {name:?}; this server has {}",
                        known.join(", ")
                    ))
                }),
        }
    }

    /// The ColBERT model a request names, or the first one served.
    pub fn late_reranker(&self, name: Option<&str>) -> Result<&Arc<RerankModel>, ApiError> {
        match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => {
                let model = self.reranker(Some(name))?;
                if model.is_late_interaction() {
                    Ok(model)
                } else {
                    Err(ApiError::bad_request(format!(
                        "{name} is not a ColBERT model: it gives no token vectors"
                    )))
                }
            }
            None => self.rerankers.iter().find(|r| r.is_late_interaction()).ok_or_else(|| {
                ApiError::bad_request(
                    "this server serves no ColBERT model for multi-vector output (start it \
                     with --reranker a ColBERT model)",
                )
            }),
        }
    }

    /// The reranker a search names, behind its score cache.
    pub fn cached_reranker(&self, name: Option<&str>) -> Result<Arc<CachedModel>, ApiError> {
        let model = self.reranker(name)?;
        let idx = self
            .rerankers
            .iter()
            .position(|r| Arc::ptr_eq(r, model))
            .ok_or_else(|| ApiError::internal("a reranker without its cache: this is a bug"))?;
        Ok(self.cached_rerankers[idx].clone())
    }

    /// Hits and misses of each reranker's score cache.
    pub fn score_cache_stats(&self) -> Vec<(String, CacheStats)> {
        self.cached_rerankers.iter().map(|c| (c.name.clone(), c.cached.stats())).collect()
    }

    /// The bi-encoder, or a clear error.
    pub fn embedder(&self) -> Result<&Arc<EmbedModel>, ApiError> {
        self.embedder.as_ref().ok_or_else(|| {
            ApiError::bad_request("this server has no embedding model (start it with --model)")
        })
    }

    /// The collections, or a clear error.
    pub fn collections(&self) -> Result<&Collections, ApiError> {
        self.collections.as_ref().ok_or_else(|| {
            ApiError::bad_request("this server has no data directory (start it with --data-dir)")
        })
    }

    /// The name of a served model that cannot answer now (its thread is restarting, or
    /// its passes keep panicking: `batcher::Health`), for `/ready`.
    pub fn unready_model(&self) -> Option<&str> {
        let embedder = self.embedder.iter().filter(|e| !e.can_serve()).map(|e| e.name.as_str());
        let rerankers = self.rerankers.iter().filter(|r| !r.can_serve()).map(|r| r.name.as_str());
        embedder.chain(rerankers).next()
    }

    /// Takes an admission slot, or `None` when every slot is taken (the caller answers 429).
    pub fn try_admit(&self) -> Option<Admitted> {
        let permit = self.admission.clone().try_acquire_owned().ok()?;
        self.metrics.queue_depth().inc();
        Some(Admitted { metrics: self.metrics.clone(), _permit: permit })
    }

    /// Marks the server as stopping: `/ready` fails so balancers stop sending work.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// An admitted inference request: counted in the queue-depth gauge, and holding one of the
/// admission slots, until it is answered or dropped.
#[derive(Debug)]
pub struct Admitted {
    metrics: Arc<Metrics>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.metrics.queue_depth().dec();
    }
}

/// Middleware of the inference routes: a bounded number run or wait at once; beyond that
/// the client gets 429 at once, its body discarded unparsed, so memory stays bounded.
pub async fn admit(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(_admitted) = state.try_admit() else {
        drain(request.into_body(), state.config.limits.max_body_bytes).await;
        return ApiError::overloaded(
            format!(
                "the server is at its limit of {} concurrent inference requests; retry shortly",
                state.config.limits.max_concurrent_requests
            ),
            1,
        )
        .into_response();
    };
    next.run(request).await
}

/// Reads and discards a rejected request's body, chunk by chunk (memory stays flat), so
/// the connection can carry the client's retry: answering before the body is read makes
/// the server close the connection, and a client still sending sees a reset instead of
/// its 429. A body over the limit is not worth draining: the connection closes then.
async fn drain(mut body: axum::body::Body, limit: usize) {
    use http_body_util::BodyExt;
    let mut seen = 0;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |data| data.len());
        if seen > limit {
            break;
        }
    }
}

/// Middleware of every route: request metrics and `x-total-time`.
pub async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let mut response = next.run(request).await;
    let elapsed = start.elapsed();
    state.metrics.observe_request(&route, response.status().as_u16(), elapsed);
    response.headers_mut().insert("x-total-time", millis(elapsed));
    response
}

/// A duration as a header value in whole milliseconds (TEI's convention).
pub fn millis(duration: std::time::Duration) -> HeaderValue {
    HeaderValue::from(duration.as_millis() as u64)
}
