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

/// One request per kind of error response the server gives, each checked for its status
/// and the one shape `{"error", "error_type"}` (with a JSON content type): the error
/// contract of ARCHITECTURE.md.
#[tokio::test]
async fn every_kind_of_error_answers_in_one_shape() {
    let limits = Limits { max_body_bytes: 4096, max_concurrent_requests: 1, ..Limits::default() };
    let setup =
        Setup { limits, api_key: Some("full"), read_only_key: Some("read"), ..Setup::default() };
    let server = setup.start();
    let key = Some("full");
    let rerank = json!({ "query": "q", "texts": ["a"] });
    let mut replies = Vec::new();

    // 400: a rule of the request, a path segment that is not UTF-8, a bad name.
    let reply = server
        .call(Method::POST, "/rerank", Some(json!({ "query": " ", "texts": ["a"] })), key)
        .await;
    replies.push(reply.expect_error(400, "bad_request", "query"));
    let reply = server.call(Method::GET, "/v1/collections/%FF", None, key).await;
    replies.push(reply.expect_error(400, "bad_request", "UTF-8"));
    let reply = server.call(Method::PUT, "/v1/collections/a.b", None, key).await;
    replies.push(reply.expect_error(400, "bad_request", "invalid collection name"));
    // 401, 403: the keys.
    replies.push(server.call(Method::GET, "/info", None, None).await.expect_error(
        401,
        "unauthorized",
        "API key",
    ));
    let reply = server.call(Method::PUT, "/v1/collections/docs", None, Some("read")).await;
    replies.push(reply.expect_error(403, "forbidden", "read-only"));
    // 404: a route, a collection.
    replies.push(server.call(Method::GET, "/nope", None, key).await.expect_error(
        404,
        "not_found",
        "/nope",
    ));
    let reply = server.call(Method::GET, "/v1/collections/missing", None, key).await;
    replies.push(reply.expect_error(404, "not_found", "missing"));
    // 405, with the methods the route takes.
    let reply = server.call(Method::GET, "/rerank", None, key).await;
    let reply = reply.expect_error(405, "method_not_allowed", "GET");
    assert_eq!(reply.headers["allow"], "POST");
    replies.push(reply);
    let reply = server.call(Method::PATCH, "/v1/collections/docs", None, key).await;
    replies.push(reply.expect_error(405, "method_not_allowed", "PATCH"));
    // 409.
    server.call(Method::PUT, "/v1/collections/docs", None, key).await.expect(201);
    let reply = server.call(Method::PUT, "/v1/collections/docs", None, key).await;
    replies.push(reply.expect_error(409, "conflict", "exists"));
    // 413: a JSON body over the limit, a raw one (the optional body of PUT), and one
    // whose Content-Length alone says so.
    let big = json!({ "query": "q", "texts": ["x".repeat(5000)] });
    replies.push(server.call(Method::POST, "/rerank", Some(big), key).await.expect_error(
        413,
        "payload_too_large",
        "--max-body-bytes",
    ));
    let request = Request::put("/v1/collections/other")
        .header("authorization", "Bearer full")
        .body(Body::from(format!("{{\"chunking\": \"{}\"}}", "w".repeat(5000))))
        .expect("request");
    replies.push(server.send(request).await.expect_error(413, "payload_too_large", "limit"));
    let request = Request::post("/v1/embeddings")
        .header("authorization", "Bearer full")
        .header("content-type", "application/json")
        .header("content-length", "1000000")
        .body(Body::from(format!("{{\"input\": \"{}\"}}", "y".repeat(999_986))))
        .expect("request");
    replies.push(server.send(request).await.expect_error(413, "payload_too_large", "limit"));
    // 415, 422.
    let request = Request::post("/rerank")
        .header("authorization", "Bearer full")
        .body(Body::from(rerank.to_string()))
        .expect("request");
    replies.push(server.send(request).await.expect_error(
        415,
        "unsupported_media_type",
        "application/json",
    ));
    let reply = server.call(Method::POST, "/rerank", Some(json!({ "query": 1 })), key).await;
    replies.push(reply.expect_error(422, "validation", "query"));
    let reply =
        server.call(Method::PUT, "/v1/collections/other", Some(json!({ "chunks": 1 })), key).await;
    replies.push(reply.expect_error(422, "validation", "chunks"));
    // 429, with Retry-After.
    let slot = server.state.try_admit().expect("a free slot");
    let reply = server.call(Method::POST, "/rerank", Some(rerank.clone()), key).await;
    let reply = reply.expect_error(429, "overloaded", "limit of 1");
    assert_eq!(reply.headers["retry-after"], "1");
    replies.push(reply);
    drop(slot);
    // 503: the store is gone (its directory removed under the server), then shutdown.
    fs_err::remove_dir_all(server.dir.path().join("collections")).expect("remove the store");
    let reply = server.call(Method::GET, "/ready", None, key).await;
    replies.push(reply.expect_error(503, "unavailable", "store"));
    server.state.begin_shutdown();
    let reply = server.call(Method::GET, "/ready", None, key).await;
    replies.push(reply.expect_error(503, "unavailable", "shutting down"));

    for reply in &replies {
        assert_eq!(reply.headers["content-type"], "application/json", "{}", reply.text);
        let keys: Vec<&String> = reply.body.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["error", "error_type"], "{}", reply.text);
    }
}

/// The limits on what a client controls: at the limit the request is served, one past
/// it gets a 4xx naming the flag that raises it.
#[tokio::test]
async fn each_limit_admits_its_value_and_refuses_one_more_naming_its_flag() {
    let limits = Limits {
        max_inputs_per_request: 3,
        max_k: 2,
        max_depth: 5,
        max_candidates: 4,
        max_query_bytes: 10,
        max_document_bytes: 20,
        max_metadata_bytes: 30,
        ..Limits::default()
    };
    let server = Setup { limits, ..Setup::default() }.start();

    // Documents per rerank, and their length; the query's length; top_n.
    let ok = |reply: crate::Reply| reply.expect(200);
    ok(server.post("/rerank", json!({ "query": "q".repeat(10), "texts": ["a", "b", "c"] })).await);
    server.post("/rerank", json!({ "query": "q".repeat(11), "texts": ["a"] })).await.expect_error(
        400,
        "bad_request",
        "--max-query-bytes",
    );
    server
        .post("/v1/rerank", json!({ "query": "q", "documents": ["a", "b", "c", "d"] }))
        .await
        .expect_error(413, "payload_too_large", "--max-inputs-per-request");
    ok(server.post("/rerank", json!({ "query": "q", "texts": ["d".repeat(20)] })).await);
    server.post("/rerank", json!({ "query": "q", "texts": ["d".repeat(21)] })).await.expect_error(
        413,
        "payload_too_large",
        "--max-document-bytes",
    );
    ok(server.post("/v1/rerank", json!({ "query": "q", "documents": ["a"], "top_n": 2 })).await);
    server
        .post("/v1/rerank", json!({ "query": "q", "documents": ["a"], "top_n": 3 }))
        .await
        .expect_error(400, "bad_request", "--max-k");
    // Pairs per /predict, inputs per embedding request.
    let pair = json!(["q", "p"]);
    ok(server.post("/predict", json!({ "inputs": [pair, pair, pair] })).await);
    server.post("/predict", json!({ "inputs": [pair, pair, pair, pair] })).await.expect_error(
        413,
        "payload_too_large",
        "--max-inputs-per-request",
    );
    ok(server.post("/embed", json!({ "inputs": ["a", "b", "c"] })).await);
    server.post("/v1/embeddings", json!({ "input": ["a", "b", "c", "d"] })).await.expect_error(
        413,
        "payload_too_large",
        "--max-inputs-per-request",
    );
    server.post("/embed", json!({ "inputs": "e".repeat(21) })).await.expect_error(
        413,
        "payload_too_large",
        "--max-document-bytes",
    );

    // Upserts: documents per request, text length, metadata size.
    server.call(Method::PUT, "/v1/collections/docs", None, None).await.expect(201);
    let doc = |id: &str, text: &str, metadata: serde_json::Value| json!({ "id": id, "text": text, "metadata": metadata });
    let upsert = |documents: Vec<serde_json::Value>| json!({ "documents": documents });
    // {"k":"…"} is 8 bytes around the value.
    let (fits, over) = (json!({ "k": "m".repeat(22) }), json!({ "k": "m".repeat(23) }));
    let reply = server
        .post(
            "/v1/collections/docs/documents",
            upsert(vec![
                doc("a", &"t".repeat(20), fits),
                doc("b", "t", json!({})),
                doc("c", "t", json!(null)),
            ]),
        )
        .await;
    assert_eq!(reply.expect(200).body["written"], 3);
    server
        .post("/v1/collections/docs/documents", upsert(vec![doc("a", "t", over)]))
        .await
        .expect_error(413, "payload_too_large", "--max-metadata-bytes");
    server
        .post("/v1/collections/docs/documents", upsert(vec![doc("a", &"t".repeat(21), json!({}))]))
        .await
        .expect_error(413, "payload_too_large", "--max-document-bytes");
    let four: Vec<_> = ["a", "b", "c", "d"].iter().map(|id| doc(id, "t", json!({}))).collect();
    server.post("/v1/collections/docs/documents", upsert(four)).await.expect_error(
        413,
        "payload_too_large",
        "--max-inputs-per-request",
    );

    // Searches: k, depth, candidates, query length.
    let search = |body: serde_json::Value| server.post("/v1/collections/docs/search", body);
    ok(search(json!({ "query": "t", "k": 2, "depth": 5, "rerank": [{ "candidates": 4 }] })).await);
    search(json!({ "query": "t", "k": 3 })).await.expect_error(400, "bad_request", "--max-k");
    search(json!({ "query": "t", "depth": 6 })).await.expect_error(
        400,
        "bad_request",
        "--max-depth",
    );
    search(json!({ "query": "t", "rerank": [{ "candidates": 4 }, { "candidates": 5 }] }))
        .await
        .expect_error(400, "bad_request", "--max-candidates");
    search(json!({ "query": "q".repeat(11) })).await.expect_error(
        400,
        "bad_request",
        "--max-query-bytes",
    );

    // Ids per deletion (the upserts above wrote a, b and c).
    let delete = |ids: &[&str]| json!({ "ids": ids });
    let reply =
        server.post("/v1/collections/docs/documents/delete", delete(&["a", "b", "x"])).await;
    assert_eq!(reply.expect(200).body["deleted"], 2);
    server
        .post("/v1/collections/docs/documents/delete", delete(&["c", "d", "e", "f"]))
        .await
        .expect_error(413, "payload_too_large", "--max-inputs-per-request");

    // /info reports every limit in force.
    let info = server.get("/info").await.expect(200);
    for (name, value) in [
        ("max_inputs_per_request", 3),
        ("max_k", 2),
        ("max_depth", 5),
        ("max_candidates", 4),
        ("max_query_bytes", 10),
        ("max_document_bytes", 20),
        ("max_metadata_bytes", 30),
        ("max_filter_depth", 32),
    ] {
        assert_eq!(info.body["limits"][name], value, "{name} in {}", info.body);
    }
}

#[tokio::test]
async fn upsert_metadata_must_be_an_object() {
    let server = Setup::default().start();
    server.call(Method::PUT, "/v1/collections/docs", None, None).await.expect(201);
    for metadata in [json!([1, 2]), json!("year=2020"), json!(3)] {
        let documents = json!({ "documents": [{ "id": "a", "text": "t", "metadata": metadata }] });
        server.post("/v1/collections/docs/documents", documents).await.expect_error(
            400,
            "bad_request",
            "must be a JSON object",
        );
    }
    let reply = server.get("/v1/collections/docs").await.expect(200);
    assert_eq!(reply.body["documents"], 0, "nothing was written");
}

/// Collection names are the same in every catalog: 1 to 64 of `A-Z a-z 0-9 _ -`.
#[tokio::test]
async fn collection_names_are_checked_before_anything_is_created() {
    let server = Setup::default().start();
    let longest = "n".repeat(64);
    server.call(Method::PUT, &format!("/v1/collections/{longest}"), None, None).await.expect(201);
    let too_long = format!("/v1/collections/{}", "n".repeat(65));
    server.call(Method::PUT, &too_long, None, None).await.expect_error(
        400,
        "bad_request",
        "invalid collection name",
    );
}
