//! The tamis HTTP service, started by `tamis serve`.
//!
//! - Rerank in the wire formats clients already speak: TEI (`/rerank`, `/predict`),
//!   Cohere v1 and Jina (`/v1/rerank`), Cohere v2 (`/v2/rerank`).
//! - Embeddings: TEI (`/embed`) and OpenAI (`/v1/embeddings`).
//! - The search service: collections, documents and two-stage search (`/v1/collections/…`).
//! - `/health`, `/ready`, `/info`, `/metrics` (Prometheus), `/openapi.json`.
//!
//! The engine stays synchronous: handlers tokenize and search on blocking threads, and
//! every forward pass goes through one model thread per model ([`batcher`]), which
//! batches the inputs of concurrent requests under a token budget. Admission bounds the
//! requests in flight (429 beyond), so memory stays bounded under overload.
#![deny(missing_docs)]

pub mod auth;
pub mod batcher;
pub mod collections;
mod config;
mod error;
mod json;
pub mod metrics;
pub mod models;
mod openapi;
pub mod playground;
pub mod routes;
mod state;

use std::future::Future;
use std::sync::Arc;

pub use config::{Limits, ServerConfig};
pub use error::{ApiError, Error, ErrorType, Result};
pub use metrics::Metrics;
pub use models::{EmbedModel, RerankModel};
pub use routes::router;
pub use state::{Admitted, AppState, Models};

/// Serves `state` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in flight finish, and commits every collection.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = router(state.clone());
    let signalled = state.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            signalled.begin_shutdown();
            tracing::info!("shutting down: finishing requests in flight");
        })
        .await?;
    if state.collections.is_some() {
        let flushing = state.clone();
        let flushed = tokio::task::spawn_blocking(move || {
            flushing.collections.as_ref().map_or(Ok(()), |c| c.flush_all())
        })
        .await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(Error::Flush(err.message)),
            Err(err) => return Err(Error::Flush(err.to_string())),
        }
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Runs a server to completion on its own tokio runtime (for synchronous callers such as
/// the CLI): binds `bind`, calls `on_listening` with the bound address (port 0 picks a
/// free one), serves until Ctrl-C or SIGTERM, then shuts down gracefully.
pub fn run(
    state: AppState,
    bind: std::net::SocketAddr,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<()> {
    // Two async workers are plenty: handlers only parse, route and wait; tokenization and
    // search run on the blocking pool, forward passes on the model threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tamis-http")
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        on_listening(listener.local_addr()?);
        serve(listener, Arc::new(state), shutdown_signal()).await
    })
}
