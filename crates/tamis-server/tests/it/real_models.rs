//! The shared real models over HTTP: reference parity, and batching of concurrent requests.

use serde_json::json;

use crate::{Setup, TestServer, shared};

fn real_server() -> TestServer {
    Setup {
        embedder: Some(shared("all-MiniLM-L6-v2")),
        rerankers: vec![("ce".into(), shared("tamis-ce-minilm-l6-nfcorpus"))],
        data_dir: false,
        ..Setup::default()
    }
    .start()
}

#[tokio::test]
async fn rerank_over_http_reproduces_the_reference_logits() {
    let server = real_server();
    let (_, lines) = tamis_testkit::reference_scores();
    for line in &lines {
        let body = json!({ "query": line.query, "texts": line.documents, "raw_scores": true });
        let reply = server.post("/rerank", body).await.expect(200);
        for result in reply.body.as_array().expect("results") {
            let index = result["index"].as_u64().expect("index") as usize;
            let logit = result["score"].as_f64().expect("score") as f32;
            let expected = line.logits[index];
            assert!(
                (logit - expected).abs() < 1e-4,
                "{}: document {index}: {logit} vs {expected}",
                line.query
            );
        }
        let body = json!({ "model": "ce", "query": line.query, "documents": line.documents });
        let reply = server.post("/v2/rerank", body).await.expect(200);
        let first = &reply.body["results"][0];
        let index = first["index"].as_u64().expect("index") as usize;
        let best = line.logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert!(
            (line.logits[index] - best).abs() < 2e-4,
            "{}: the best document is not first",
            line.query
        );
        let relevance = first["relevance_score"].as_f64().expect("relevance") as f32;
        assert!((relevance - 1.0 / (1.0 + (-best).exp())).abs() < 1e-4);
    }
}

#[tokio::test]
async fn openai_embeddings_reproduce_sentence_transformers() {
    let server = real_server();
    let path = tamis_testkit::workspace_root()
        .join("crates/tamis-models/tests/fixtures/minilm-embeddings.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(path).expect("fixture")).expect("JSON");
    let cases: Vec<&serde_json::Value> = fixture["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["prompt_name"].is_null())
        .take(16)
        .collect();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().expect("text")).collect();
    let reply = server.post("/v1/embeddings", json!({ "input": texts })).await.expect(200);
    for (case, item) in cases.iter().zip(reply.body["data"].as_array().expect("data")) {
        let expected: Vec<f64> = case["embedding"]
            .as_array()
            .expect("embedding")
            .iter()
            .map(|x| x.as_f64().expect("f64"))
            .collect();
        let got: Vec<f64> = item["embedding"]
            .as_array()
            .expect("embedding")
            .iter()
            .map(|x| x.as_f64().expect("f64"))
            .collect();
        let cosine: f64 = expected.iter().zip(&got).map(|(a, b)| a * b).sum::<f64>()
            / (expected.iter().map(|a| a * a).sum::<f64>().sqrt()
                * got.iter().map(|b| b * b).sum::<f64>().sqrt());
        assert!(cosine >= 0.99999, "{}: cosine {cosine}", case["text"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_batched_and_answered_exactly() {
    let server = real_server();
    let (_, lines) = tamis_testkit::reference_scores();
    let passages: Vec<String> = lines.iter().flat_map(|l| l.documents.clone()).collect();
    let request = |i: usize, n: usize| {
        let texts: Vec<&String> = passages.iter().cycle().skip(i).take(n).collect();
        json!({ "query": lines[i % lines.len()].query, "texts": texts, "raw_scores": true })
    };
    // 16 requests of 20 documents and one of 120 (more than one pass holds), at once.
    let mut bodies: Vec<serde_json::Value> = (0..16).map(|i| request(i, 20)).collect();
    bodies.push(request(3, 120));
    let handles: Vec<_> = bodies
        .iter()
        .cloned()
        .map(|body| {
            let router = server.router.clone();
            tokio::spawn(
                async move { crate::post_to(&router, "/rerank", body).await.expect(200).body },
            )
        })
        .collect();
    let mut concurrent = Vec::new();
    for handle in handles {
        concurrent.push(handle.await.expect("task"));
    }
    let metrics = server.get("/metrics").await.expect(200).text;
    let passes: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tamis_batch_inputs_count{model=\"ce\"} "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a pass count");
    // 440 pairs; passes hold at most 64 inputs: ≥ 7 passes, far fewer than 17 requests' worth
    // of small ones plus the split of the large one.
    assert!(passes < 17.0, "{passes} passes for 17 concurrent requests");

    // Each answer equals the same request sent alone.
    for (body, got) in bodies.into_iter().zip(concurrent) {
        let alone = server.post("/rerank", body).await.expect(200).body;
        let got = got.as_array().expect("results");
        assert_eq!(got.len(), alone.as_array().expect("results").len());
        for result in got {
            let index = &result["index"];
            let twin = alone
                .as_array()
                .expect("results")
                .iter()
                .find(|r| &r["index"] == index)
                .expect("same index");
            let (a, b) =
                (result["score"].as_f64().expect("score"), twin["score"].as_f64().expect("score"));
            assert!((a - b).abs() < 1e-4, "document {index}: {a} batched vs {b} alone");
        }
    }
}
