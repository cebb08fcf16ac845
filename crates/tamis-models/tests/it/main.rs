//! Integration tests of the model runtime: parity with the reference implementation.
//!
//! Fixtures under `tests/fixtures/` come from `scripts/parity/generate_fixtures.py`
//! (Hugging Face transformers and sentence-transformers); real models come from `shared/`.

// Test helpers fail by panicking, like the tests that call them.
#![allow(clippy::unwrap_used)]

mod encoders;
mod families;
mod fixtures;
mod hub;
mod late_interaction;
mod llm_rerankers;
mod long_texts;
mod precision;
mod real_models;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tamis_models::{ModelDir, ModelOrigin};

/// A model directory given by path.
pub fn local(path: PathBuf) -> ModelDir {
    ModelDir { path, origin: ModelOrigin::Local }
}

/// The committed fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// Expected embeddings, as written by the fixture script.
#[derive(Debug, Deserialize)]
pub struct EmbeddingCases {
    pub max_seq_length: usize,
    pub cases: Vec<EmbeddingCase>,
}

/// One text and its reference embedding.
#[derive(Debug, Deserialize)]
pub struct EmbeddingCase {
    pub text: String,
    pub prompt_name: Option<String>,
    pub input_ids: Vec<u32>,
    pub embedding: Vec<f32>,
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = fs_err::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Embeddings agree when cosine ≥ 0.99999 and no component differs by more than 1e-4.
pub fn assert_embedding_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: dimension");
    let dot: f32 = got.iter().zip(want).map(|(a, b)| a * b).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cosine = dot / (norm(got) * norm(want));
    let max_diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(cosine >= 0.99999, "{what}: cosine {cosine}");
    assert!(max_diff <= 1e-4, "{what}: max abs diff {max_diff}");
}

/// Checks a bi-encoder against a fixture, embedding all texts in one call so that
/// sorting, padding and batching are exercised too.
pub fn check_embedder(model: &tamis_models::BiEncoder, expected: &EmbeddingCases, what: &str) {
    use tamis_models::Prompt;
    assert_eq!(model.max_length(), expected.max_seq_length, "{what}: max length");
    fn prompt_of(case: &EmbeddingCase) -> Prompt<'_> {
        match &case.prompt_name {
            Some(name) => Prompt::Named(name.as_str()),
            None => Prompt::None,
        }
    }
    for case in &expected.cases {
        let tokens = model.tokenize(&[&case.text], prompt_of(case)).unwrap();
        assert_eq!(tokens[0].ids, case.input_ids, "{what}: token ids of {:?}", case.text);
    }
    let mut by_prompt: std::collections::BTreeMap<Option<&str>, Vec<&EmbeddingCase>> =
        Default::default();
    for case in &expected.cases {
        by_prompt.entry(case.prompt_name.as_deref()).or_default().push(case);
    }
    for cases in by_prompt.values() {
        let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
        let vectors = model.encode(&texts, prompt_of(cases[0])).unwrap();
        for (case, vector) in cases.iter().zip(&vectors) {
            assert_embedding_close(vector, &case.embedding, &format!("{what}: {:?}", case.text));
        }
    }
}
