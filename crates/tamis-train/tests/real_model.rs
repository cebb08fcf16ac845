//! The training forward on the real cross-encoder in the shared directory, at its full
//! 256 tokens, reproduces the logits `transformers` computed (`reference_scores.jsonl`):
//! the tiny fixtures of the unit tests never reach past 48 tokens.

use std::path::PathBuf;
use tamis_models::{EncoderConfig, PairTokenizer, Truncation};

use tamis_train::{Batch, CrossEncoderModel};

/// A model of the shared test data (`../shared` beside the project root, or
/// `TAMIS_SHARED_DIR`); tamis-testkit says the same, but would bring its TLS and tokio
/// dependencies into this crate's tests.
fn shared_model(name: &str) -> PathBuf {
    let shared = std::env::var_os("TAMIS_SHARED_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let dir = shared.join("models").join(name);
    assert!(
        dir.join("config.json").is_file(),
        "the shared test data is missing: no {}; put the shared data beside the project root or set TAMIS_SHARED_DIR",
        dir.display()
    );
    dir
}

#[test]
fn the_training_forward_gives_the_reference_logits_of_the_real_cross_encoder() {
    let dir = shared_model("tamis-ce-minilm-l6-nfcorpus");
    let config = EncoderConfig::from_file(&dir.join("config.json")).unwrap();
    let model = CrossEncoderModel::load(&dir, config, 0).unwrap();
    let tokenizer = PairTokenizer::load(&dir, 256, Truncation::LongestFirst).unwrap();
    let text = fs_err::read_to_string(dir.join("reference_scores.jsonl")).unwrap();
    let (mut checked, mut longest) = (0, 0);
    for line in text.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let query = case["query"].as_str().unwrap();
        let pairs: Vec<(&str, &str)> = case["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|doc| (query, doc.as_str().unwrap()))
            .collect();
        let mut batch = Batch::default();
        for tokens in tokenizer.tokenize(&pairs).unwrap() {
            longest = longest.max(tokens.ids.len());
            batch.push(&tokens.ids, &tokens.type_ids);
        }
        let (logits, _) = model.forward(&batch, None, 2);
        for (got, want) in logits.iter().zip(case["logits"].as_array().unwrap()) {
            let want = want.as_f64().unwrap() as f32;
            assert!((got - want).abs() <= 1e-4, "{query:?}: {got} vs {want}");
            checked += 1;
        }
    }
    assert!(checked >= 20 && longest == 256, "{checked} logits, longest pair {longest}");
}

/// Real pairs, up to 256 tokens: the parallel paths of the kernels, which the tiny
/// fixtures are too small to take, give the gradient one thread gives.
#[test]
fn the_backward_of_real_pairs_does_not_depend_on_the_thread_count() {
    let dir = shared_model("tamis-ce-minilm-l6-nfcorpus");
    let config = EncoderConfig::from_file(&dir.join("config.json")).unwrap();
    let model = CrossEncoderModel::load(&dir, config, 0).unwrap();
    let tokenizer = PairTokenizer::load(&dir, 256, Truncation::LongestFirst).unwrap();
    let text = fs_err::read_to_string(dir.join("reference_scores.jsonl")).unwrap();
    let case: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let query = case["query"].as_str().unwrap();
    let pairs: Vec<(&str, &str)> = case["documents"]
        .as_array()
        .unwrap()
        .iter()
        .take(8)
        .map(|doc| (query, doc.as_str().unwrap()))
        .collect();
    let mut batch = Batch::default();
    for tokens in tokenizer.tokenize(&pairs).unwrap() {
        batch.push(&tokens.ids, &tokens.type_ids);
    }
    let weights: Vec<f32> = (0..pairs.len()).map(|i| [1.0, -0.5, 2.0][i % 3]).collect();
    let gradient = |threads: usize| {
        let (_, tape) = model.forward(&batch, None, threads);
        let mut grads = model.params.zeros_like();
        model.backward(&batch, tape, &weights, &mut grads, threads);
        grads.tensors()
    };
    let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let one = pool(1).install(|| gradient(1));
    let two = pool(2).install(|| gradient(2));
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        let largest = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst <= 1e-4 * largest.max(1e-6), "{name}: {worst} (largest {largest})");
    }
}
