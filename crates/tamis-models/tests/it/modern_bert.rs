//! Tiny random ModernBERT models against transformers / sentence-transformers
//! (fixtures from `scripts/parity/generate_encoder_families.py`): global and
//! sliding-window layers, rotary positions, GeGLU, both classifier poolings, pairs up
//! to 512 tokens, packed and padded.

use tamis_core::ScoreActivation;
use tamis_models::{CrossEncoder, CrossEncoderConfig, EncoderKind, RuntimeConfig};

use crate::fixtures::{check_bi_encoder_on, check_cross_encoder_on, runtime};
use crate::{fixtures_dir, local};

/// The native encoder packed (the default) and padded: ModernBERT has no candle build.
fn runtimes() -> [RuntimeConfig; 2] {
    let packed = runtime(EncoderKind::Native);
    [packed, RuntimeConfig { packing: false, ..packed }]
}

#[test]
fn modern_bert_cross_encoder_first_token_pooling() {
    check_cross_encoder_on("modernbert-ce-1label", ScoreActivation::Sigmoid, &runtimes());
}

#[test]
fn modern_bert_cross_encoder_mean_pooling_with_biases() {
    // Two labels and nothing declared: raw logits. Biases everywhere, a SiLU head, the
    // tanh GELU, and global attention every second layer.
    check_cross_encoder_on("modernbert-ce-2label-mean", ScoreActivation::Identity, &runtimes());
}

#[test]
fn modern_bert_embedder_mean_pooling() {
    check_bi_encoder_on("modernbert-embed-mean", &runtimes());
}

#[test]
fn candle_refuses_modern_bert_by_name() {
    let config = CrossEncoderConfig { runtime: runtime(EncoderKind::Candle), ..Default::default() };
    let err = CrossEncoder::load(&local(fixtures_dir().join("modernbert-ce-1label")), &config)
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("ModernBertForSequenceClassification"), "{message}");
    assert!(message.contains("--encoder candle"), "{message}");
}
