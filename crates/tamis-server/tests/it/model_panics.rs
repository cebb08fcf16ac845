//! A forward pass that panics fails its own requests with a 500, and the model serves
//! the next ones; `/ready` says when it cannot serve (`batcher::Health`).

use std::sync::Arc;

use serde_json::json;
use tamis_models::CrossEncoder;
use tamis_server::{AppState, Limits, Metrics, Models, RerankModel, ServerConfig};

use crate::{TestServer, fixture};

/// A server whose reranker panics on every pass holding the token of `marker`.
fn server_panicking_on(marker: &str) -> TestServer {
    let model = CrossEncoder::load(&fixture("bert-ce-1label"), &Default::default()).expect("model");
    let token_id = model.tokenize(&[("q", marker)]).expect("tokens")[0].ids[3];
    let clean = model.tokenize(&[("a query", "a cat sat on the mat")]).expect("tokens");
    assert!(!clean[0].ids.contains(&token_id), "the marker must be a token of its own");
    let metrics = Arc::new(Metrics::new());
    let limits = Limits::default();
    let reranker = RerankModel::panicking_on_token(
        "tiny-ce".into(),
        model,
        limits.batch(),
        metrics.clone(),
        token_id,
    )
    .expect("reranker thread");
    let config = ServerConfig { limits, api_key: None, read_only_key: None, playground: false };
    let models = Models { embedder: None, rerankers: vec![reranker] };
    let state = Arc::new(AppState::new(config, models, None, metrics).expect("state"));
    let dir = tempfile::TempDir::new().expect("temp dir");
    TestServer { router: tamis_server::router(state.clone()), state, dir }
}

#[tokio::test]
async fn a_panicking_forward_pass_fails_its_request_and_the_next_one_succeeds() {
    let server = server_panicking_on("xylophone");
    let good = json!({ "query": "a query", "texts": ["a cat sat on the mat"] });
    server.post("/rerank", good.clone()).await.expect(200);
    let bad = json!({ "query": "a query", "texts": ["a xylophone"] });
    server.post("/rerank", bad.clone()).await.expect_error(500, "internal", "internal error");
    // The model thread survived: the next request is served, and one panic leaves the
    // node ready.
    server.post("/rerank", good.clone()).await.expect(200);
    server.get("/ready").await.expect(200);
    let metrics = server.get("/metrics").await.text;
    assert!(metrics.contains("tamis_model_panics_total{model=\"tiny-ce\"} 1"), "{metrics}");

    // Passes that keep panicking (the good pass above reset the count) make the node
    // unready, naming the model, until one succeeds.
    for _ in 0..tamis_server::batcher::UNREADY_AFTER_PANICS {
        server.post("/rerank", bad.clone()).await.expect(500);
    }
    server.get("/ready").await.expect_error(503, "unavailable", "tiny-ce");
    server.post("/rerank", good).await.expect(200);
    server.get("/ready").await.expect(200);
}
