//! TEI and OpenAI embeddings against the model called directly.

use base64::Engine as _;
use serde_json::json;
use tamis_models::{BiEncoder, Prompt};

use crate::{Setup, fixture};

const TEXTS: [&str; 3] =
    ["vitamin d and bones", "the weather today", "a third, longer text about sunlight"];

fn direct() -> Vec<Vec<f32>> {
    let model = BiEncoder::load(&fixture("bert-embed-cls"), &Default::default()).expect("model");
    model.encode(&TEXTS, Prompt::Default).expect("vectors")
}

fn vectors(value: &serde_json::Value) -> Vec<Vec<f32>> {
    value
        .as_array()
        .expect("a list of vectors")
        .iter()
        .map(|v| {
            v.as_array()
                .expect("a vector")
                .iter()
                .map(|x| x.as_f64().expect("a number") as f32)
                .collect()
        })
        .collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn assert_close(got: &[f32], expected: &[f32]) {
    assert_eq!(got.len(), expected.len());
    let diff = got.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(diff < 1e-5, "max difference {diff}");
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let n = norm(v);
    v.iter().map(|x| x / n).collect()
}

#[tokio::test]
async fn tei_embed_matches_the_model_and_honours_normalize_and_dimensions() {
    let server = Setup::default().start();
    let expected = direct();
    let reply = server.post("/embed", json!({ "inputs": TEXTS })).await.expect(200);
    let got = vectors(&reply.body);
    assert_eq!(got.len(), 3);
    for (g, e) in got.iter().zip(&expected) {
        assert_close(g, &normalized(e));
        assert!((norm(g) - 1.0).abs() < 1e-5);
    }
    // One string in, one vector out (still a list of lists).
    let reply = server.post("/embed", json!({ "inputs": TEXTS[0] })).await.expect(200);
    assert_eq!(vectors(&reply.body).len(), 1);

    let reply =
        server.post("/embed", json!({ "inputs": TEXTS, "normalize": false })).await.expect(200);
    let raw = vectors(&reply.body);
    // The fixture model does not normalize: normalize false gives its own vectors.
    assert_close(&raw[1], &expected[1]);

    let reply =
        server.post("/embed", json!({ "inputs": TEXTS, "dimensions": 8 })).await.expect(200);
    let short = vectors(&reply.body);
    assert_close(&short[2], &normalized(&expected[2][..8]));
    server.post("/embed", json!({ "inputs": TEXTS, "dimensions": 100000 })).await.expect_error(
        400,
        "bad_request",
        "dimensions",
    );
}

#[tokio::test]
async fn openai_embeddings_in_float_and_base64() {
    let server = Setup::default().start();
    let expected = direct();
    let reply = server
        .post("/v1/embeddings", json!({ "input": TEXTS, "model": "tiny-embed" }))
        .await
        .expect(200);
    assert_eq!(reply.body["object"], "list");
    assert_eq!(reply.body["model"], "tiny-embed");
    let tokens = reply.body["usage"]["prompt_tokens"].as_u64().expect("prompt_tokens");
    assert!(tokens > 10);
    assert_eq!(reply.body["usage"]["total_tokens"], tokens);
    let data = reply.body["data"].as_array().expect("data");
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        let got: Vec<f32> = vectors(&json!([item["embedding"]])).remove(0);
        assert_close(&got, &normalized(&expected[i]));
    }

    let body = json!({ "input": TEXTS[1], "encoding_format": "base64", "dimensions": 16 });
    let reply = server.post("/v1/embeddings", body).await.expect(200);
    let encoded = reply.body["data"][0]["embedding"].as_str().expect("base64 text");
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
    let got: Vec<f32> =
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_close(&got, &normalized(&expected[1][..16]));
}

#[tokio::test]
async fn embedding_inputs_are_checked() {
    let server = Setup::default().start();
    server.post("/embed", json!({ "inputs": [] })).await.expect_error(
        400,
        "bad_request",
        "no inputs",
    );
    server.post("/embed", json!({ "inputs": ["ok", "  "] })).await.expect_error(
        400,
        "bad_request",
        "input 1",
    );
    server.post("/v1/embeddings", json!({ "input": [[1, 2, 3]] })).await.expect_error(
        422,
        "validation",
        "token ids",
    );
    server
        .post("/v1/embeddings", json!({ "input": "x", "model": "text-embedding-3-small" }))
        .await
        .expect_error(400, "bad_request", "tiny-embed");
    server
        .post("/v1/embeddings", json!({ "input": "x", "encoding_format": "int8" }))
        .await
        .expect_error(422, "validation", "encoding_format");
    let long = "word ".repeat(5000);
    server.post("/embed", json!({ "inputs": long, "truncate": false })).await.expect_error(
        422,
        "validation",
        "input 0",
    );
}

/// `return_multivector` returns a ColBERT model's token vectors, PyLate's for queries and
/// documents, through TEI's and OpenAI's routes.
#[tokio::test]
async fn a_colbert_model_returns_pylates_token_vectors_when_asked() {
    let server = Setup {
        rerankers: vec![
            ("tiny-ce".into(), fixture("bert-ce-1label")),
            ("tiny-colbert".into(), fixture("colbert-pylate")),
        ],
        ..Setup::default()
    }
    .start();
    let path = fixture("colbert-pylate").path.join("expected.json");
    let expected: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(path).expect("fixture")).expect("json");
    let rows_of = |value: &serde_json::Value| -> Vec<Vec<f32>> { vectors(value) };
    let check = |got: &[Vec<f32>], want: &serde_json::Value| {
        let want = rows_of(want);
        assert_eq!(got.len(), want.len());
        for (got, want) in got.iter().zip(&want) {
            assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-4), "{got:?} {want:?}");
        }
    };
    for (kind, input_type) in [("queries", "query"), ("documents", "document")] {
        let cases: Vec<&serde_json::Value> = expected[kind]
            .as_array()
            .expect("cases")
            .iter()
            .filter(|case| case["text"] != "")
            .collect();
        let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().expect("text")).collect();
        let body = json!({ "inputs": texts, "return_multivector": true, "input_type": input_type });
        let tei = server.post("/embed", body).await.expect(200);
        let openai = server
            .post(
                "/v1/embeddings",
                json!({ "input": texts, "model": "tiny-colbert", "return_multivector": true,
                        "input_type": input_type }),
            )
            .await
            .expect(200);
        assert_eq!(openai.body["model"], "tiny-colbert");
        for (idx, case) in cases.iter().enumerate() {
            check(&rows_of(&tei.body[idx]), &case["embeddings"]);
            check(&rows_of(&openai.body["data"][idx]["embedding"]), &case["embeddings"]);
        }
    }
    // Base64: the vectors' little-endian f32s end to end.
    let body = json!({ "input": "a cat", "return_multivector": true, "encoding_format": "base64" });
    let reply = server.post("/v1/embeddings", body).await.expect(200);
    let text = reply.body["data"][0]["embedding"].as_str().expect("base64");
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).expect("base64");
    let float = server
        .post("/v1/embeddings", json!({ "input": "a cat", "return_multivector": true }))
        .await
        .expect(200);
    let flat: Vec<f32> = rows_of(&float.body["data"][0]["embedding"]).concat();
    let decoded: Vec<f32> =
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(decoded, flat);

    // Misuse: clear 4xx.
    let bad = [
        (json!({ "input": "x", "model": "tiny-colbert" }), 400, "one vector per token"),
        (
            json!({ "input": "x", "return_multivector": true, "model": "tiny-ce" }),
            400,
            "not a ColBERT model",
        ),
        (
            json!({ "input": "x", "return_multivector": true, "dimensions": 4 }),
            422,
            "`dimensions` does not apply",
        ),
        (json!({ "input": "x", "input_type": "query" }), 422, "applies to multi-vector output"),
        (
            json!({ "input": "x", "return_multivector": true, "input_type": "passage" }),
            422,
            "input_type",
        ),
    ];
    for (body, status, needle) in bad {
        let reply = server.post("/v1/embeddings", body.clone()).await;
        assert_eq!(reply.status.as_u16(), status, "{body}: {}", reply.text);
        assert!(reply.text.contains(needle), "{body}: {}", reply.text);
    }
    let body = json!({ "inputs": "x", "return_multivector": true, "normalize": false });
    let reply = server.post("/embed", body).await;
    assert_eq!(reply.status.as_u16(), 422, "{}", reply.text);
    let plain = Setup::default().start();
    let body = json!({ "inputs": "x", "return_multivector": true });
    let reply = plain.post("/embed", body).await;
    assert!(reply.text.contains("serves no ColBERT model"), "{}", reply.text);
}
