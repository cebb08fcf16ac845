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

/// A server whose one reranker is the tiny Qwen3-Reranker fixture, and that fixture's
/// reference results.
fn llm_server() -> (crate::TestServer, serde_json::Value) {
    let dir = fixture("llm/qwen3-reranker-tied");
    let expected = fs_err::read_to_string(dir.path.join("expected.json")).expect("expected.json");
    let mut reranker_config = tamis_models::RerankerConfig {
        kind: Some(tamis_models::RerankerKind::Qwen3),
        ..Default::default()
    };
    // The prompt length the reference ran with.
    reranker_config.cross_encoder.max_length = Some(160);
    let setup =
        Setup { rerankers: vec![("tiny-qwen3".into(), dir)], reranker_config, ..Setup::default() };
    (setup.start(), serde_json::from_str(&expected).expect("json"))
}

#[tokio::test]
async fn an_llm_reranker_answers_every_dialect_with_its_instruction() {
    let (server, expected) = llm_server();
    let case = expected["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| {
            c["instruction"].is_string() && c["documents"].as_array().expect("docs").len() >= 3
        })
        .expect("a case with an instruction")
        .clone();
    let (query, documents, instruction) =
        (&case["query"], &case["documents"], &case["instruction"]);
    let want = |index: usize, key: &str| case["results"][index][key].as_f64().expect("a number");
    let tei = server
        .post("/rerank", json!({ "query": query, "texts": documents, "instruction": instruction }))
        .await
        .expect(200);
    for result in tei.body.as_array().expect("a bare array") {
        let index = result["index"].as_u64().expect("index") as usize;
        let score = result["score"].as_f64().expect("score");
        assert!((score - want(index, "score")).abs() < 1e-4, "{score} vs {}", want(index, "score"));
    }
    for (path, model) in [("/v1/rerank", json!(null)), ("/v2/rerank", json!("tiny-qwen3"))] {
        let body = json!({ "model": model, "query": query, "documents": documents, "instruction": instruction });
        let reply = server.post(path, body).await.expect(200);
        for result in reply.body["results"].as_array().expect("results") {
            let index = result["index"].as_u64().expect("index") as usize;
            let score = result["relevance_score"].as_f64().expect("score");
            assert!((score - want(index, "score")).abs() < 1e-4, "{path}: {score}");
        }
    }
    // Without one, the default instruction gives other scores.
    let default =
        server.post("/rerank", json!({ "query": query, "texts": documents })).await.expect(200);
    let first = &default.body[0];
    let index = first["index"].as_u64().expect("index") as usize;
    assert!((first["score"].as_f64().expect("score") - want(index, "score")).abs() > 1e-4);
    let info = server.get("/info").await.expect(200);
    assert_eq!(info.body["rerankers"][0]["llm_template"], "qwen3", "{}", info.text);
}

#[tokio::test]
async fn an_instruction_for_a_cross_encoder_is_refused() {
    let server = Setup::default().start();
    let body = json!({ "query": QUERY, "texts": ["a"], "instruction": "x" });
    server.post("/rerank", body).await.expect_error(
        422,
        "validation",
        "`instruction` applies to LLM rerankers",
    );
}

#[tokio::test]
async fn a_hostile_instruction_gets_a_clear_4xx() {
    let (server, _) = llm_server();
    let texts = json!(["a", "b"]);
    let wrong_type = json!({ "query": QUERY, "texts": texts, "instruction": 7 });
    server.post("/rerank", wrong_type).await.expect_error(422, "validation", "instruction");
    let nested = json!({ "query": QUERY, "texts": texts, "instruction": {"a": [[["x"]]]} });
    server.post("/rerank", nested).await.expect_error(422, "validation", "instruction");
    let huge = "why ".repeat(1 << 16);
    let body =
        json!({ "model": "tiny-qwen3", "query": QUERY, "documents": texts, "instruction": huge });
    server.post("/v2/rerank", body).await.expect_error(400, "bad_request", "`instruction` is");
    // An instruction that leaves no room for a document is the caller's to fix.
    let long = "why ".repeat(2000);
    let body = json!({ "query": QUERY, "texts": texts, "instruction": long });
    let reply = server.post("/rerank", body).await;
    assert!(reply.status.is_client_error(), "{}: {}", reply.status, reply.text);
    assert!(reply.text.contains("leave no room for a document"), "{}", reply.text);
}

/// A reranker loaded with int8 products is served like any other, says so in `/info`,
/// and scores close to (not equal to) its fp32 twin.
#[tokio::test]
async fn an_int8_reranker_is_served_and_named_in_info() {
    use tamis_models::{Precision, RuntimeConfig};
    let documents = ["a cat sat on the mat", "stock markets fell", "the cat slept"];
    let mut scores = Vec::new();
    for precision in [Precision::Fp32, Precision::Int8] {
        let mut setup = Setup::default();
        setup.reranker_config.cross_encoder.runtime =
            RuntimeConfig { precision, ..Default::default() };
        let server = setup.start();
        let info = server.get("/info").await.expect(200);
        assert_eq!(info.body["rerankers"][0]["precision"], precision.name(), "{}", info.text);
        assert_eq!(info.body["embedder"]["precision"], "fp32", "{}", info.text);
        let body = json!({ "query": "where is the cat", "texts": documents, "raw_scores": true });
        let reply = server.post("/rerank", body).await.expect(200);
        let mut by_index = vec![0.0; documents.len()];
        for result in reply.body.as_array().expect("a bare array") {
            by_index[result["index"].as_u64().expect("index") as usize] =
                result["score"].as_f64().expect("score");
        }
        scores.push(by_index);
    }
    let worst = scores[0].iter().zip(&scores[1]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst > 0.0 && worst < 0.1, "int8 against fp32: largest difference {worst}");
}

#[tokio::test]
async fn a_colbert_model_reranks_by_max_sim_in_every_dialect() {
    let server = Setup {
        rerankers: vec![("tiny-colbert".into(), fixture("colbert-pylate"))],
        ..Setup::default()
    }
    .start();
    let docs = documents();
    let model =
        tamis_models::LateInteractionModel::load(&fixture("colbert-pylate"), &Default::default())
            .expect("model");
    let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
    let direct: Vec<f32> = tamis_core::Reranker::score(&model, QUERY, &texts)
        .expect("scores")
        .iter()
        .map(|p| p.score)
        .collect();
    // Raw scores are MaxSim sums, best first.
    let body = json!({ "query": QUERY, "texts": docs, "raw_scores": true });
    let reply = server.post("/rerank", body).await.expect(200);
    let results = reply.body.as_array().expect("a bare array");
    let order: Vec<usize> =
        results.iter().map(|r| r["index"].as_u64().expect("index") as usize).collect();
    assert_eq!(order, best_first(&direct));
    for result in results {
        let index = result["index"].as_u64().expect("index") as usize;
        let score = result["score"].as_f64().expect("score") as f32;
        assert!((score - direct[index]).abs() < 1e-4, "{score} vs {}", direct[index]);
    }
    // Relevance: the mean of the 16 query rows' best cosines, so within 0..1 and not
    // saturated as a sigmoid of the sum would be.
    let body = json!({ "model": "tiny-colbert", "query": QUERY, "documents": docs });
    let reply = server.post("/v2/rerank", body).await.expect(200);
    for result in reply.body["results"].as_array().expect("results") {
        let index = result["index"].as_u64().expect("index") as usize;
        let relevance = result["relevance_score"].as_f64().expect("score") as f32;
        let want = (direct[index] / model.query_length() as f32).clamp(0.0, 1.0);
        assert!((relevance - want).abs() < 1e-5, "{relevance} vs {want}");
        assert!(relevance < 0.999, "{relevance}");
    }
    let body = json!({ "query": QUERY, "texts": ["a"], "instruction": "x" });
    server.post("/rerank", body).await.expect_error(422, "validation", "ColBERT");
}
