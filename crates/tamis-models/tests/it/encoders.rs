//! The execution strategies agree: packed and padded batches on the native encoder,
//! and the native encoder against candle's, on the real models in `shared/`.

use tamis_models::{
    BiEncoder, BiEncoderConfig, CrossEncoder, CrossEncoderConfig, EncoderKind, Prompt,
    RuntimeConfig,
};

use crate::local;

/// One batch holds every input, so short ones are padded to the longest when padding.
fn one_batch(encoder: EncoderKind, packing: bool) -> RuntimeConfig {
    RuntimeConfig {
        encoder,
        packing,
        threads: Some(2),
        batch_size: 256,
        max_batch_tokens: 1 << 20,
        ..Default::default()
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Logits of every reference pair (lengths from a dozen tokens to the 256 limit).
fn cross_encoder_logits(runtime: RuntimeConfig) -> (Vec<f32>, Vec<f32>) {
    let (dir, references) = tamis_testkit::reference_scores();
    let config = CrossEncoderConfig { runtime, ..Default::default() };
    let model = CrossEncoder::load(&local(dir), &config).unwrap();
    let mut pairs = Vec::new();
    let mut want = Vec::new();
    for reference in &references {
        pairs.extend(reference.documents.iter().map(|d| (reference.query.as_str(), d.as_str())));
        want.extend(&reference.logits);
    }
    let lengths: Vec<usize> = model.tokenize(&pairs).unwrap().iter().map(|t| t.ids.len()).collect();
    let (shortest, longest) = (lengths.iter().min().unwrap(), lengths.iter().max().unwrap());
    assert!(longest - shortest > 100, "the pairs must differ in length ({shortest}..{longest})");
    let got = model.predict(&pairs).unwrap().iter().map(|p| p.logits[0]).collect();
    (got, want)
}

#[test]
fn packed_and_padded_execution_give_the_same_scores() {
    let (packed, reference) = cross_encoder_logits(one_batch(EncoderKind::Native, true));
    let (padded, _) = cross_encoder_logits(one_batch(EncoderKind::Native, false));
    assert!(max_diff(&packed, &padded) <= 1e-5, "packed vs padded: {}", max_diff(&packed, &padded));
    assert!(max_diff(&packed, &reference) <= 1e-4, "packed vs transformers");
    assert!(max_diff(&padded, &reference) <= 1e-4, "padded vs transformers");
}

#[test]
fn native_and_candle_encoders_agree_on_the_real_cross_encoder() {
    let (native, _) = cross_encoder_logits(one_batch(EncoderKind::Native, true));
    let (candle, reference) = cross_encoder_logits(one_batch(EncoderKind::Candle, true));
    assert!(max_diff(&native, &candle) <= 1e-4, "native vs candle: {}", max_diff(&native, &candle));
    assert!(max_diff(&candle, &reference) <= 1e-4, "candle vs transformers");
}

#[test]
fn packed_and_padded_embeddings_agree() {
    let dir = tamis_testkit::shared_model("all-MiniLM-L6-v2");
    let texts: Vec<String> = (0..12)
        .map(|i| format!("a tamis is a fine sieve {}", "used after the coarse one ".repeat(i * 4)))
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let embed = |packing| {
        let config = BiEncoderConfig {
            runtime: one_batch(EncoderKind::Native, packing),
            ..Default::default()
        };
        BiEncoder::load(&local(dir.clone()), &config).unwrap().encode(&texts, Prompt::None).unwrap()
    };
    let (packed, padded) = (embed(true), embed(false));
    for (a, b) in packed.iter().zip(&padded) {
        assert!(max_diff(a, b) <= 1e-5, "packed vs padded embedding: {}", max_diff(a, b));
    }
}
