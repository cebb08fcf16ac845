//! The three rerank dialects and `/predict` against the model called directly.

use serde_json::json;
use tamis_models::CrossEncoder;

use crate::{Setup, fixture};

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

const QUERY: &str = "what causes vitamin d deficiency";

fn documents() -> Vec<String> {
    (0..12)
        .map(|i| {
            format!("document {i} about vitamin d, sunlight and bones {}", "word ".repeat(i * 3))
        })
        .collect()
}

/// The fixture model's logits for QUERY against `documents`.
fn direct_logits(documents: &[String]) -> Vec<f32> {
    let model = CrossEncoder::load(&fixture("bert-ce-1label"), &Default::default()).expect("model");
    let pairs: Vec<(&str, &str)> = documents.iter().map(|d| (QUERY, d.as_str())).collect();
    model.predict(&pairs).expect("scores").iter().map(|p| p.logits[0]).collect()
}

fn best_first(logits: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order
}

#[tokio::test]
async fn tei_rerank_returns_sigmoid_scores_best_first() {
    let server = Setup::default().start();
    let docs = documents();
    let logits = direct_logits(&docs);
    let reply = server
        .post("/rerank", json!({ "query": QUERY, "texts": docs, "return_text": true }))
        .await
        .expect(200);
    let results = reply.body.as_array().expect("a bare array");
    assert_eq!(results.len(), docs.len());
    let order: Vec<usize> =
        results.iter().map(|r| r["index"].as_u64().expect("index") as usize).collect();
    assert_eq!(order, best_first(&logits));
    for result in results {
        let index = result["index"].as_u64().expect("index") as usize;
        let score = result["score"].as_f64().expect("score") as f32;
        assert!((score - sigmoid(logits[index])).abs() < 1e-5, "{score} vs {}", logits[index]);
        assert_eq!(result["text"], docs[index]);
    }
    for header in ["x-total-time", "x-inference-time", "x-queue-time"] {
        assert!(reply.headers.contains_key(header), "missing {header}");
    }

    let raw = server
        .post("/rerank", json!({ "query": QUERY, "texts": docs, "raw_scores": true }))
        .await
        .expect(200);
    let first = &raw.body[0];
    let index = first["index"].as_u64().expect("index") as usize;
    assert!((first["score"].as_f64().expect("score") as f32 - logits[index]).abs() < 1e-5);
    assert!(first.get("text").is_none(), "text only with return_text");
}

#[tokio::test]
async fn cohere_v1_jina_and_rerank_with_documents_share_one_shape() {
    let server = Setup::default().start();
    let docs = documents();
    let logits = direct_logits(&docs);
    let expected = best_first(&logits);
    let objects: Vec<serde_json::Value> = docs.iter().map(|d| json!({ "text": d })).collect();
    for (path, documents) in
        [("/v1/rerank", json!(docs)), ("/v1/rerank", json!(objects)), ("/rerank", json!(docs))]
    {
        let body =
            json!({ "query": QUERY, "documents": documents, "top_n": 3, "return_documents": true });
        let reply = server.post(path, body).await.expect(200);
        let results = reply.body["results"].as_array().expect("results");
        assert_eq!(results.len(), 3, "{path}: top_n");
        for (result, &index) in results.iter().zip(&expected) {
            assert_eq!(result["index"], index, "{path}");
            let score = result["relevance_score"].as_f64().expect("relevance_score") as f32;
            assert!((score - sigmoid(logits[index])).abs() < 1e-5);
            assert_eq!(result["document"]["text"], docs[index]);
        }
        assert_eq!(reply.body["model"], "tiny-ce");
        assert!(reply.body["usage"]["total_tokens"].as_u64().expect("tokens") > 0);
        assert_eq!(reply.body["meta"]["api_version"]["version"], "1");
        assert!(reply.body["id"].is_string());
    }
    // Without return_documents, no document.
    let reply =
        server.post("/v1/rerank", json!({ "query": QUERY, "documents": docs })).await.expect(200);
    assert_eq!(reply.body["results"].as_array().expect("results").len(), docs.len());
    assert!(reply.body["results"][0].get("document").is_none());
}

#[tokio::test]
async fn cohere_v2_needs_a_known_model_and_cuts_documents_to_max_tokens() {
    let server = Setup::default().start();
    let docs = documents();
    let body = json!({ "model": "tiny-ce", "query": QUERY, "documents": docs, "top_n": 2 });
    let reply = server.post("/v2/rerank", body).await.expect(200);
    assert_eq!(reply.body["results"].as_array().expect("results").len(), 2);
    assert_eq!(reply.body["meta"]["api_version"]["version"], "2");

    server.post("/v2/rerank", json!({ "query": QUERY, "documents": docs })).await.expect_error(
        422,
        "validation",
        "model",
    );
    server
        .post(
            "/v2/rerank",
            json!({ "model": "rerank-english-v3.0", "query": QUERY, "documents": docs }),
        )
        .await
        .expect_error(400, "bad_request", "tiny-ce");

    // With 2 tokens per document the scores are the model's on each document's first two
    // tokens.
    let model = CrossEncoder::load(&fixture("bert-ce-1label"), &Default::default()).expect("model");
    let cut: Vec<String> = docs
        .iter()
        .map(|d| {
            let offsets = tamis_core::Tokenize::token_offsets(&model, d).expect("offsets");
            d[..offsets[2].0].to_string()
        })
        .collect();
    assert!(cut.iter().all(|c| c.len() < 15), "{cut:?}");
    let body =
        json!({ "model": "tiny-ce", "query": QUERY, "documents": docs, "max_tokens_per_doc": 2 });
    let reply = server.post("/v2/rerank", body).await.expect(200);
    let logits = direct_logits(&cut);
    for result in reply.body["results"].as_array().expect("results") {
        let index = result["index"].as_u64().expect("index") as usize;
        let score = result["relevance_score"].as_f64().expect("score") as f32;
        assert!(
            (score - sigmoid(logits[index])).abs() < 1e-5,
            "document {index} was not cut to 2 tokens"
        );
    }
}

#[tokio::test]
async fn truncate_false_refuses_a_pair_longer_than_the_model_takes() {
    let server = Setup::default().start();
    let long = "word ".repeat(5000);
    let body = json!({ "query": QUERY, "texts": ["short", long], "truncate": false });
    server.post("/rerank", body).await.expect_error(422, "validation", "text 1");
    let body = json!({ "query": QUERY, "texts": ["short", long] });
    server.post("/rerank", body).await.expect(200);
}

#[tokio::test]
async fn predict_scores_pairs_as_tei_does() {
    let server = Setup::default().start();
    let docs = documents();
    let logits = direct_logits(&docs[..2]);
    let reply = server
        .post("/predict", json!({ "inputs": [QUERY, docs[0]], "parameters": {} }))
        .await
        .expect(200);
    let score = reply.body[0]["score"].as_f64().expect("flat list for one pair") as f32;
    assert!((score - sigmoid(logits[0])).abs() < 1e-5);
    assert_eq!(reply.body[0]["label"], "LABEL_0");
    let reply = server
        .post(
            "/predict",
            json!({ "inputs": [[QUERY, docs[0]], [QUERY, docs[1]]], "raw_scores": true }),
        )
        .await
        .expect(200);
    let second = reply.body[1][0]["score"].as_f64().expect("nested for several pairs") as f32;
    assert!((second - logits[1]).abs() < 1e-5);
    server.post("/predict", json!({ "inputs": "one text" })).await.expect_error(
        422,
        "validation",
        "pair",
    );
}

#[tokio::test]
async fn unknown_reranker_names_list_the_served_ones() {
    let server = Setup::default().start();
    let body = json!({ "model": "nope", "query": QUERY, "documents": ["a"] });
    server.post("/v1/rerank", body).await.expect_error(400, "bad_request", "tiny-ce");
    // A hub-style id whose last part is the served name is that model.
    let body = json!({ "model": "someone/tiny-ce", "query": QUERY, "documents": ["a"] });
    server.post("/v1/rerank", body).await.expect(200);
}
