//! The encoder families beyond BERT and XLM-R against transformers /
//! sentence-transformers (fixtures from `scripts/parity/generate_encoder_families.py`),
//! pairs up to 512 tokens, packed and padded:
//! - ModernBERT: global and sliding-window layers, rotary positions, GeGLU, both
//!   classifier poolings;
//! - DeBERTa-v2/v3: disentangled attention with log buckets or clamped distances, both
//!   position terms or one, shared or separate position projections;
//! - jina-reranker-v2: an XLM-R under flash-attention names, without a model_type.

use serde::Deserialize;
use tamis_core::ScoreActivation;
use tamis_models::{CrossEncoder, CrossEncoderConfig, EncoderConfig, EncoderKind, RuntimeConfig};

use crate::fixtures::{check_bi_encoder_on, check_cross_encoder_on, runtime};
use crate::{fixtures_dir, local, read_json};

/// The native encoder packed (the default) and padded: these families have no candle build.
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

#[test]
fn deberta_v3_cross_encoder() {
    check_cross_encoder_on("deberta-v3-ce-1label", ScoreActivation::Sigmoid, &runtimes());
}

#[test]
fn deberta_v2_cross_encoder_c2p_only_with_absolute_positions() {
    check_cross_encoder_on("deberta-v2-ce-2label", ScoreActivation::Identity, &runtimes());
}

#[test]
fn deberta_v3_embedder_mean_pooling() {
    check_bi_encoder_on("deberta-v3-embed-mean", &runtimes());
}

#[derive(Deserialize)]
struct Buckets {
    buckets: Vec<i64>,
}

#[test]
fn deberta_buckets_every_distance_as_transformers_does() {
    for name in ["deberta-v3-ce-1label", "deberta-v2-ce-2label"] {
        let dir = fixtures_dir().join(name);
        let want: Buckets = read_json(&dir.join("expected.json"));
        let config = EncoderConfig::from_file(&dir.join("config.json")).unwrap();
        let deberta = config.deberta.unwrap();
        let reach = (want.buckets.len() / 2) as i64;
        let got: Vec<i64> = (-reach..=reach).map(|d| deberta.bucket(d)).collect();
        assert_eq!(got, want.buckets, "{name}");
    }
}

#[test]
fn candle_refuses_deberta_by_name() {
    let config = CrossEncoderConfig { runtime: runtime(EncoderKind::Candle), ..Default::default() };
    let err = CrossEncoder::load(&local(fixtures_dir().join("deberta-v3-ce-1label")), &config)
        .unwrap_err();
    assert!(err.to_string().contains("DebertaV2ForSequenceClassification"), "{err}");
}

#[test]
fn jina_reranker_v2_flash_names_on_both_encoders() {
    // No model_type in config.json, `mixer.Wqkv` and `emb_ln` names, bf16 weights: renamed
    // at load, so candle, which reads transformers' names only, checks it too.
    let [packed, padded] = runtimes();
    let candle = runtime(EncoderKind::Candle);
    check_cross_encoder_on("jina-reranker-v2", ScoreActivation::Sigmoid, &[packed, padded, candle]);
}
