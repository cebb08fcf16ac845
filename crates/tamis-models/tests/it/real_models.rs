//! The real models in `shared/models/` reproduce their reference outputs.

use tamis_core::ScoreActivation;
use tamis_models::{BiEncoder, BiEncoderConfig, CrossEncoder, CrossEncoderConfig};

use crate::{EmbeddingCases, check_embedder, fixtures_dir, local, read_json};

/// `reference_scores.jsonl` lists transformers' logits; every one must be met within 1e-4.
#[test]
fn shared_cross_encoder_reproduces_reference_scores() {
    let (dir, references) = tamis_testkit::reference_scores();
    let model = CrossEncoder::load(&local(dir), &CrossEncoderConfig::default()).unwrap();
    // The model declares Identity: its scores are raw logits.
    assert_eq!(model.activation(), ScoreActivation::Identity);
    assert_eq!(model.num_labels(), 1);
    let mut n_pairs = 0;
    let mut n_truncated = 0;
    for (line_no, reference) in references.iter().enumerate() {
        assert_eq!(reference.max_length, model.max_length());
        let pairs: Vec<(&str, &str)> =
            reference.documents.iter().map(|d| (reference.query.as_str(), d.as_str())).collect();
        let predictions = model.predict(&pairs).unwrap();
        for (i, prediction) in predictions.iter().enumerate() {
            let want = reference.logits[i];
            let got = prediction.logits[0];
            assert!(
                (got - want).abs() <= 1e-4,
                "line {line_no} doc {i}: logit {got}, reference {want}"
            );
            assert_eq!(prediction.scores[0], got, "identity activation keeps the logit");
            assert_eq!(
                prediction.truncated, reference.truncated[i],
                "line {line_no} doc {i}: truncated flag"
            );
            n_pairs += 1;
            n_truncated += usize::from(prediction.truncated);
        }
    }
    assert!(n_pairs >= 20 && n_truncated > 0, "{n_pairs} pairs, {n_truncated} truncated");
}

/// all-MiniLM-L6-v2 against sentence-transformers on ~50 varied sentences.
#[test]
fn shared_bi_encoder_matches_sentence_transformers() {
    let dir = tamis_testkit::shared_model("all-MiniLM-L6-v2");
    let config = BiEncoderConfig {
        runtime: tamis_models::RuntimeConfig { batch_size: 16, ..Default::default() },
        ..Default::default()
    };
    let model = BiEncoder::load(&local(dir), &config).unwrap();
    assert_eq!(model.dimension(), 384);
    assert!(model.normalizes());
    let expected: EmbeddingCases = read_json(&fixtures_dir().join("minilm-embeddings.json"));
    assert!(expected.cases.len() >= 40);
    check_embedder(&model, &expected, "all-MiniLM-L6-v2");
}

/// The vocab.txt fallback tokenizes the real BERT vocabulary exactly as its tokenizer.json.
#[test]
fn vocab_txt_fallback_matches_tokenizer_json_on_real_vocabulary() {
    let (dir, references) = tamis_testkit::reference_scores();
    let copy = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"] {
        std::os::unix::fs::symlink(dir.join(file), copy.path().join(file)).unwrap();
    }
    let config = CrossEncoderConfig::default();
    let with_json = CrossEncoder::load(&local(dir), &config).unwrap();
    let with_vocab = CrossEncoder::load(&local(copy.path().to_path_buf()), &config).unwrap();
    for reference in &references {
        let pairs: Vec<(&str, &str)> =
            reference.documents.iter().map(|d| (reference.query.as_str(), d.as_str())).collect();
        assert_eq!(with_vocab.tokenize(&pairs).unwrap(), with_json.tokenize(&pairs).unwrap());
    }
}

/// Token offsets (used to chunk documents) are byte ranges that slice the original text.
#[test]
fn token_offsets_slice_the_original_text() {
    use tamis_core::Tokenize;
    let model = BiEncoder::load(
        &local(tamis_testkit::shared_model("all-MiniLM-L6-v2")),
        &BiEncoderConfig::default(),
    )
    .unwrap();
    assert_eq!(model.max_tokens(), 256);
    let text = "Vitamin D3 (cholecalciferol) — 1,000 IU/day in Zürich; 日本語 too.";
    let offsets = model.token_offsets(text).unwrap();
    assert!(offsets.len() > 15, "{offsets:?}");
    let mut previous_end = 0;
    for &(start, end) in &offsets {
        assert!(start >= previous_end && end > start && end <= text.len(), "{offsets:?}");
        assert!(text.get(start..end).is_some(), "({start}, {end}) is not on a char boundary");
        previous_end = end;
    }
    assert_eq!(&text[offsets[0].0..offsets[0].1], "Vitamin");
}

/// A result cache merges queries whose keys are equal: the real models must then give
/// the same vectors and scores, bit for bit, and the keys must tell apart spellings the
/// models read differently.
#[test]
fn equal_query_keys_give_equal_outputs_on_the_shared_models() {
    use tamis_core::{Embedder, Reranker, TextRole};
    let embedder = BiEncoder::load(
        &local(tamis_testkit::shared_model("all-MiniLM-L6-v2")),
        &BiEncoderConfig::default(),
    )
    .unwrap();
    let (dir, _) = tamis_testkit::reference_scores();
    let reranker = CrossEncoder::load(&local(dir), &CrossEncoderConfig::default()).unwrap();
    let passages = ["Vitamin D deficiency weakens bones.", "Calcium and bone density in adults."];
    let same = [
        ("Vitamin D and bone health", "vitamin  d and BONE health"),
        ("café au lait", "cafe au lait"),
        (" vitamin d\t", "vitamin d"),
    ];
    let different = [("vitamin d", "vitamin d?"), ("vitamin d bones", "bones vitamin d")];
    for (a, b) in same.iter().chain(&different) {
        let equal = same.contains(&(*a, *b));
        let keys = |q: &str| (embedder.query_key(q).unwrap(), reranker.query_key(q).unwrap());
        let (ka, kb) = (keys(a), keys(b));
        assert!(ka.0.is_some() && ka.1.is_some());
        assert_eq!(ka == kb, equal, "{a:?} / {b:?}");
        let vectors = embedder.embed(&[a, b], TextRole::Query).unwrap();
        assert_eq!(vectors[0] == vectors[1], equal, "{a:?} / {b:?}: vectors");
        let (sa, sb) =
            (reranker.score(a, &passages).unwrap(), reranker.score(b, &passages).unwrap());
        assert_eq!(sa == sb, equal, "{a:?} / {b:?}: scores");
    }
}
