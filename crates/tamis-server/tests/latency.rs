//! A search during a long upsert, with the real bi-encoder, timed.
//!
//! A test binary of its own, unlike the crate's other tests (`tests/it`): cargo runs the
//! tests of one binary in parallel, and a timing measured beside other tests' forward
//! passes would say nothing about the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::json;
use tamis_models::{BiEncoder, ModelDir, ModelOrigin};
use tamis_server::{AppState, EmbedModel, Limits, Metrics, Models, ServerConfig};
use tower::ServiceExt;

async fn send(
    router: &Router,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid request");
    let response = router.clone().oneshot(request).await.expect("infallible router");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

/// The first `n` NFCorpus documents, as an upsert body.
fn nfcorpus_documents(n: usize) -> serde_json::Value {
    let corpus = tamis_testkit::shared_dataset("nfcorpus").join("corpus.jsonl");
    let text = fs_err::read_to_string(corpus).expect("the shared NFCorpus");
    let documents: Vec<serde_json::Value> = text
        .lines()
        .take(n)
        .map(|line| {
            let doc: serde_json::Value = serde_json::from_str(line).expect("a BEIR line");
            json!({ "id": doc["_id"], "title": doc["title"], "text": doc["text"] })
        })
        .collect();
    json!({ "documents": documents })
}

#[tokio::test]
async fn a_search_answers_within_a_second_during_a_long_upsert_to_its_collection() {
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let metrics = Arc::new(Metrics::new());
    let limits = Limits::default();
    let model_dir = ModelDir {
        path: tamis_testkit::shared_model("all-MiniLM-L6-v2"),
        origin: ModelOrigin::Local,
    };
    let model = BiEncoder::load(&model_dir, &Default::default()).expect("the shared bi-encoder");
    let embedder = EmbedModel::new("minilm".into(), model, limits.batch(), metrics.clone())
        .expect("the model thread");
    let catalog = tamis_embedded::EmbeddedCatalog::open(&data_dir.path().join("collections"))
        .expect("a catalog");
    let config = ServerConfig { limits, api_key: None, read_only_key: None, playground: false };
    let models = Models { embedder: Some(embedder), rerankers: vec![] };
    let state = AppState::new(config, models, Some(Box::new(catalog)), metrics).expect("state");
    let router = tamis_server::router(Arc::new(state));

    assert_eq!(send(&router, "PUT", "/v1/collections/nf", json!({})).await.0, 201);
    let seed = json!({ "documents": [{ "id": "seed", "text": "vitamin d and bone health" }] });
    assert_eq!(send(&router, "POST", "/v1/collections/nf/documents", seed).await.0, 200);

    let upsert_router = router.clone();
    let started = Instant::now();
    let upsert = tokio::spawn(async move {
        let body = nfcorpus_documents(400);
        send(&upsert_router, "POST", "/v1/collections/nf/documents", body).await
    });
    // Let the upsert get well into its embedding.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies = Vec::new();
    for query in ["vitamin d", "breast cancer risk", "statins and cholesterol"] {
        let sent = Instant::now();
        let body = json!({ "query": query, "k": 1, "mode": "hybrid" });
        let (status, reply) = send(&router, "POST", "/v1/collections/nf/search", body).await;
        latencies.push(sent.elapsed());
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["results"].as_array().expect("results").len(), 1);
    }
    assert!(!upsert.is_finished(), "the upsert ended before the searches: nothing was measured");
    let (status, reply) = upsert.await.expect("the upsert task");
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["written"], 400);
    let upsert_time = started.elapsed();
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(1),
        "a search took {slowest:?} during a {upsert_time:?} upsert: {latencies:?}"
    );
}
