//! The error→status table, backpressure and the auth rules.

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;
use tamis_server::Limits;

use crate::Setup;

#[tokio::test]
async fn malformed_bodies_get_422_naming_the_field() {
    let server = Setup::default().start();
    let request = Request::post("/rerank")
        .header("content-type", "application/json")
        .body(Body::from("{\"query\": \"q\", \"texts\": [\"a\""))
        .expect("request");
    server.send(request).await.expect_error(422, "validation", "malformed JSON");
    server.post("/rerank", json!({ "query": 3, "texts": ["a"] })).await.expect_error(
        422,
        "validation",
        "query",
    );
    server.post("/v1/rerank", json!({ "query": "q", "documents": ["a", 7] })).await.expect_error(
        422,
        "validation",
        "documents[1]",
    );
    server.post("/v1/rerank", json!({ "documents": ["a"] })).await.expect_error(
        422,
        "validation",
        "query",
    );
    server.post("/rerank", json!({ "query": "q" })).await.expect_error(422, "validation", "texts");
    let request = Request::post("/rerank").body(Body::from("{}")).expect("request");
    server.send(request).await.expect_error(415, "unsupported_media_type", "application/json");
}

#[tokio::test]
async fn empty_and_oversized_requests() {
    let limits = Limits { max_body_bytes: 4096, max_inputs_per_request: 5, ..Limits::default() };
    let server = Setup { limits, ..Setup::default() }.start();
    server.post("/v1/rerank", json!({ "query": "q", "documents": [] })).await.expect_error(
        400,
        "bad_request",
        "no documents",
    );
    server.post("/rerank", json!({ "query": " ", "texts": ["a"] })).await.expect_error(
        400,
        "bad_request",
        "query",
    );
    server.post("/rerank", json!({ "query": "q", "texts": vec!["a"; 6] })).await.expect_error(
        413,
        "payload_too_large",
        "at most 5",
    );
    let big = "x".repeat(5000);
    server.post("/rerank", json!({ "query": "q", "texts": [big] })).await.expect_error(
        413,
        "payload_too_large",
        "limit",
    );
    server.get("/nope").await.expect_error(404, "not_found", "/nope");
    // An upsert embeds as many texts as an embedding request: the same limit.
    server.call(Method::PUT, "/v1/collections/docs", None, None).await.expect(201);
    let documents: Vec<_> = (0..6).map(|i| json!({ "id": format!("d{i}"), "text": "t" })).collect();
    server
        .post("/v1/collections/docs/documents", json!({ "documents": documents }))
        .await
        .expect_error(413, "payload_too_large", "at most 5");
    let five = &documents[..5];
    let reply = server.post("/v1/collections/docs/documents", json!({ "documents": five })).await;
    assert_eq!(reply.expect(200).body["written"], 5);
}

#[tokio::test]
async fn a_full_queue_answers_429_with_retry_after() {
    let limits = Limits { max_concurrent_requests: 2, ..Limits::default() };
    let server = Setup { limits, ..Setup::default() }.start();
    let first = server.state.try_admit().expect("a free slot");
    let second = server.state.try_admit().expect("a free slot");
    let metrics = server.get("/metrics").await.expect(200);
    assert!(metrics.text.contains("tamis_queue_depth 2"), "{}", metrics.text);
    let reply = server.post("/rerank", json!({ "query": "q", "texts": ["a"] })).await.expect_error(
        429,
        "overloaded",
        "limit of 2",
    );
    assert_eq!(reply.headers["retry-after"], "1");
    // Liveness and metrics are not inference: they still answer.
    server.get("/health").await.expect(200);
    // Upserts embed too: they wait their turn like inference (writes that embed nothing
    // do not).
    server.call(Method::PUT, "/v1/collections/docs", None, None).await.expect(201);
    let upsert = json!({ "documents": [{ "id": "d1", "text": "t" }] });
    server.post("/v1/collections/docs/documents", upsert.clone()).await.expect_error(
        429,
        "overloaded",
        "limit of 2",
    );
    let delete = json!({ "ids": ["d1"] });
    server.post("/v1/collections/docs/documents/delete", delete).await.expect(200);
    drop((first, second));
    server.post("/rerank", json!({ "query": "q", "texts": ["a"] })).await.expect(200);
    server.post("/v1/collections/docs/documents", upsert).await.expect(200);
}

#[tokio::test]
async fn keys_guard_every_route_but_health() {
    let setup =
        Setup { api_key: Some("full-key"), read_only_key: Some("read-key"), ..Setup::default() };
    let server = setup.start();
    let rerank = json!({ "query": "q", "texts": ["a"] });
    server.get("/health").await.expect(200);
    for path in ["/ready", "/info", "/metrics", "/openapi.json", "/v1/collections"] {
        server.get(path).await.expect_error(401, "unauthorized", "API key");
        server.call(Method::GET, path, None, Some("wrong")).await.expect_error(
            401,
            "unauthorized",
            "not valid",
        );
        server.call(Method::GET, path, None, Some("read-key")).await.expect(200);
    }
    server.post("/rerank", rerank.clone()).await.expect_error(401, "unauthorized", "API key");
    server.call(Method::POST, "/rerank", Some(rerank.clone()), Some("read-key")).await.expect(200);
    server.call(Method::POST, "/rerank", Some(rerank), Some("full-key")).await.expect(200);

    // Writes need the full key.
    server.call(Method::PUT, "/v1/collections/docs", None, Some("read-key")).await.expect_error(
        403,
        "forbidden",
        "read-only",
    );
    server.call(Method::PUT, "/v1/collections/docs", None, Some("full-key")).await.expect(201);
    let docs = json!({ "documents": [{ "id": "1", "text": "hello" }] });
    server
        .call(Method::POST, "/v1/collections/docs/documents", Some(docs.clone()), Some("read-key"))
        .await
        .expect(403);
    server
        .call(Method::POST, "/v1/collections/docs/documents", Some(docs), Some("full-key"))
        .await
        .expect(200);
    let search = json!({ "query": "hello" });
    server
        .call(Method::POST, "/v1/collections/docs/search", Some(search), Some("read-key"))
        .await
        .expect(200);
    server.call(Method::DELETE, "/v1/collections/docs", None, Some("read-key")).await.expect(403);

    // X-API-Key works too.
    let request =
        Request::get("/info").header("x-api-key", "read-key").body(Body::empty()).expect("request");
    server.send(request).await.expect(200);
}

#[tokio::test]
async fn ready_info_metrics_and_openapi_describe_the_server() {
    let server = Setup::default().start();
    let ready = server.get("/ready").await.expect(200);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["rerankers"], json!(["tiny-ce"]));
    let info = server.get("/info").await.expect(200);
    assert_eq!(info.body["embedder"]["name"], "tiny-embed");
    assert_eq!(info.body["rerankers"][0]["activation"], "sigmoid");
    assert_eq!(info.body["limits"]["max_concurrent_requests"], 128);

    server.post("/rerank", json!({ "query": "q", "texts": ["a", "b"] })).await.expect(200);
    let metrics = server.get("/metrics").await.expect(200);
    for needle in [
        "tamis_http_requests_total{route=\"/rerank\",status=\"200\"} 1",
        "tamis_batch_inputs_count{model=\"tiny-ce\"} 1",
        "tamis_tokens_total{model=\"tiny-ce\"}",
        "tamis_queue_depth 0",
    ] {
        assert!(metrics.text.contains(needle), "no {needle} in\n{}", metrics.text);
    }

    let openapi = server.get("/openapi.json").await.expect(200);
    for path in [
        "/rerank",
        "/v1/rerank",
        "/v2/rerank",
        "/embed",
        "/v1/embeddings",
        "/v1/collections/{name}/search",
    ] {
        assert!(
            openapi.body["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }

    server.state.begin_shutdown();
    server.get("/ready").await.expect(503);
}
