//! Integration tests: the real router driven in-process (no ports), with real models — the
//! tiny test fixtures of `tamis-models` for speed, the shared models where scores matter.

mod collections;
mod embed;
mod errors;
mod model_panics;
mod playground;
mod probes;
mod real_models;
mod rerank;
mod shutdown;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tamis_embedded::EmbeddedCatalog;
use tamis_engine::backend::Catalog;
use tamis_models::{BiEncoder, ModelDir, ModelOrigin, RerankerConfig, RerankerModel};
use tamis_server::{AppState, EmbedModel, Limits, Metrics, Models, RerankModel, ServerConfig};
use tempfile::TempDir;
use tower::ServiceExt;

/// A test fixture model of `tamis-models`.
pub fn fixture(name: &str) -> ModelDir {
    let path =
        tamis_testkit::workspace_root().join("crates/tamis-models/tests/fixtures").join(name);
    ModelDir { path, origin: ModelOrigin::Local }
}

/// Which models and settings a test server gets.
#[derive(Debug)]
pub struct Setup {
    pub embedder: Option<ModelDir>,
    pub rerankers: Vec<(String, ModelDir)>,
    pub limits: Limits,
    pub api_key: Option<&'static str>,
    pub read_only_key: Option<&'static str>,
    pub data_dir: bool,
    /// How the rerankers load (an LLM reranker's template and length, say).
    pub reranker_config: RerankerConfig,
    /// Serve the data directory of an earlier server instead of a new one.
    pub reuse_dir: Option<TempDir>,
    pub playground: bool,
}

impl Default for Setup {
    /// The fixture bi-encoder and cross-encoder, a data directory, no keys.
    fn default() -> Self {
        Setup {
            embedder: Some(fixture("bert-embed-cls")),
            rerankers: vec![("tiny-ce".into(), fixture("bert-ce-1label"))],
            limits: Limits::default(),
            api_key: None,
            read_only_key: None,
            data_dir: true,
            reranker_config: RerankerConfig::default(),
            reuse_dir: None,
            playground: true,
        }
    }
}

/// A server's router, its state, and the data directory it owns.
#[derive(Debug)]
pub struct TestServer {
    pub router: Router,
    pub state: Arc<AppState>,
    pub dir: TempDir,
}

impl Setup {
    pub fn start(self) -> TestServer {
        let dir = self.reuse_dir.unwrap_or_else(|| TempDir::new().expect("temp dir"));
        let metrics = Arc::new(Metrics::new());
        let batch = self.limits.batch();
        let embedder = self.embedder.map(|model_dir| {
            let model = BiEncoder::load(&model_dir, &Default::default()).expect("bi-encoder");
            EmbedModel::new("tiny-embed".into(), model, batch, metrics.clone()).expect("embedder")
        });
        let rerankers = self
            .rerankers
            .into_iter()
            .map(|(name, model_dir)| {
                let model =
                    RerankerModel::load(&model_dir, &self.reranker_config).expect("reranker");
                RerankModel::new(name, model, batch, metrics.clone()).expect("reranker thread")
            })
            .collect();
        let catalog = self.data_dir.then(|| embedded_catalog(dir.path()));
        let config = ServerConfig {
            limits: self.limits,
            api_key: self.api_key.map(str::to_string),
            read_only_key: self.read_only_key.map(str::to_string),
            playground: self.playground,
        };
        let state = Arc::new(
            AppState::new(config, Models { embedder, rerankers }, catalog, metrics).expect("state"),
        );
        TestServer { router: tamis_server::router(state.clone()), state, dir }
    }
}

/// A response, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub text: String,
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        self
    }

    /// Asserts an error response: status, `error_type`, and a message containing `needle`.
    #[track_caller]
    pub fn expect_error(self, status: u16, error_type: &str, needle: &str) -> Reply {
        let reply = self.expect(status);
        assert_eq!(reply.body["error_type"], error_type, "body: {}", reply.text);
        let message = reply.body["error"].as_str().expect("an error message");
        assert!(message.contains(needle), "{message:?} does not mention {needle:?}");
        reply
    }
}

/// Sends a raw request to `router`.
pub async fn send_to(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.expect("infallible router");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Reply { status, headers, body, text }
}

/// Posts `body` as JSON to `router` (for tasks that hold only the router).
pub async fn post_to(router: &Router, path: &str, body: serde_json::Value) -> Reply {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid request");
    send_to(router, request).await
}

impl TestServer {
    /// Sends a raw request.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        send_to(&self.router, request).await
    }

    /// Sends `body` as JSON with `key` as bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        key: Option<&str>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.expect("a valid request")).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> Reply {
        self.call(Method::POST, path, Some(body), None).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, None).await
    }
}

/// The shared models directory's model `name`.
pub fn shared(name: &str) -> ModelDir {
    let path: PathBuf = tamis_testkit::shared_model(name);
    ModelDir { path, origin: ModelOrigin::Local }
}

/// The collections of a data directory, as `tamis serve --data-dir` opens them.
pub fn embedded_catalog(data_dir: &std::path::Path) -> Box<dyn Catalog> {
    Box::new(EmbeddedCatalog::open(&data_dir.join("collections")).expect("catalog"))
}

/// (documents, chunks) of an index.
pub fn counts(index: &tamis_engine::Index) -> (u64, u64) {
    let stats = index.stats().expect("stats");
    (stats.documents, stats.chunks)
}
