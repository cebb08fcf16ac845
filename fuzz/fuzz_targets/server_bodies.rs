//! Every request body of `tamis serve`, through the real router in-process: axum's JSON
//! extraction into the wire types, the handlers' validation, and what runs after it (the
//! fixture models of `tamis-models` keep inference fast).
//!
//! The first input byte picks the route, the rest is the body. Writes go to the collection
//! `writes` and are undone after each input, so every input meets the same server.
//!
//! Invariants: no panic; no 5xx answer to any body; every error answer is the JSON
//! `{"error": …, "error_type": …}`.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tamis_models::{BiEncoder, CrossEncoder, ModelDir, ModelOrigin};
use tamis_server::{AppState, EmbedModel, Limits, Metrics, Models, RerankModel, ServerConfig};
use tower::ServiceExt;

/// (method, path) of every route that takes a body.
const ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/rerank"),
    (Method::POST, "/v1/rerank"),
    (Method::POST, "/v2/rerank"),
    (Method::POST, "/predict"),
    (Method::POST, "/embed"),
    (Method::POST, "/v1/embeddings"),
    (Method::PUT, "/v1/collections/created"),
    (Method::POST, "/v1/collections/writes/documents"),
    (Method::POST, "/v1/collections/writes/documents/delete"),
    (Method::DELETE, "/v1/collections/writes/documents"),
    (Method::POST, "/v1/collections/main/search"),
];

struct Server {
    runtime: tokio::runtime::Runtime,
    router: Router,
    _dir: tempfile::TempDir,
}

fn fixture(name: &str) -> ModelDir {
    let path =
        tamis_testkit::workspace_root().join("crates/tamis-models/tests/fixtures").join(name);
    ModelDir { path, origin: ModelOrigin::Local }
}

/// The status and JSON body of a request.
async fn send(router: &Router, method: Method, path: &str, body: Vec<u8>) -> (u16, Value, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("a valid request");
    let response = router.clone().oneshot(request).await.expect("the router is infallible");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.expect("a body").to_bytes().to_vec();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes)
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tamis_fuzz::scratch_dir("tamis-fuzz-server");
        let metrics = Arc::new(Metrics::new());
        let limits = Limits::default();
        let batch = limits.batch();
        let bi_encoder = BiEncoder::load(&fixture("bert-embed-cls"), &Default::default())
            .expect("loading the fixture bi-encoder");
        let embedder = EmbedModel::new("tiny-embed".into(), bi_encoder, batch, metrics.clone())
            .expect("the embedder thread");
        let cross_encoder = CrossEncoder::load(&fixture("bert-ce-1label"), &Default::default())
            .expect("loading the fixture cross-encoder");
        let reranker =
            RerankModel::new("tiny-ce".into(), cross_encoder.into(), batch, metrics.clone())
                .expect("the reranker thread");
        let catalog = tamis_embedded::EmbeddedCatalog::open(&dir.path().join("collections"))
            .expect("the catalog");
        let config = ServerConfig { limits, api_key: None, read_only_key: None, playground: false };
        let models = Models { embedder: Some(embedder), rerankers: vec![reranker] };
        let state = AppState::new(config, models, Some(Box::new(catalog)), metrics)
            .expect("the server state");
        let router = tamis_server::router(Arc::new(state));
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        runtime.block_on(async {
            for name in ["main", "writes"] {
                let path = format!("/v1/collections/{name}");
                let (status, _, body) = send(&router, Method::PUT, &path, b"{}".to_vec()).await;
                assert_eq!(status, 201, "creating {name}: {}", String::from_utf8_lossy(&body));
            }
            let documents: Vec<Value> = tamis_testkit::tricky_metadata()
                .into_iter()
                .enumerate()
                .map(|(idx, metadata)| {
                    json!({"id": format!("d{idx}"), "title": "a title",
                           "text": format!("document {idx} about sieves"), "metadata": metadata})
                })
                .collect();
            let body = serde_json::to_vec(&json!({ "documents": documents })).expect("json");
            let path = "/v1/collections/main/documents";
            let (status, _, body) = send(&router, Method::POST, path, body).await;
            assert_eq!(status, 200, "seeding main: {}", String::from_utf8_lossy(&body));
        });
        Server { runtime, router, _dir: dir }
    })
}

/// Puts the server back as it was before a write that succeeded.
async fn undo(router: &Router, path: &str, body: &[u8]) {
    if path == "/v1/collections/created" {
        let (status, _, text) = send(router, Method::DELETE, path, Vec::new()).await;
        assert_eq!(status, 200, "dropping `created`: {}", String::from_utf8_lossy(&text));
    } else if path == "/v1/collections/writes/documents" {
        let written: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
        let ids: Vec<Value> = written["documents"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d["id"].clone())
            .collect();
        let body = serde_json::to_vec(&json!({ "ids": ids })).expect("json");
        let (status, _, text) = send(router, Method::DELETE, path, body).await;
        assert_eq!(status, 200, "deleting what was written: {}", String::from_utf8_lossy(&text));
    }
}

fuzz_target!(|data: &[u8]| {
    let [route, body @ ..] = data else { return };
    let (method, path) = &ROUTES[usize::from(*route) % ROUTES.len()];
    let server = server();
    server.runtime.block_on(async {
        let (status, reply, text) = send(&server.router, method.clone(), path, body.to_vec()).await;
        let text = String::from_utf8_lossy(&text);
        assert!(status < 500, "{method} {path} answered {status}: {text}");
        if status >= 400 {
            assert!(
                reply["error"].is_string() && reply["error_type"].is_string(),
                "{method} {path} answered {status} without an error body: {text}"
            );
        } else if *method != Method::DELETE {
            undo(&server.router, path, body).await;
        }
    });
});
