//! Tiny random BERT and XLM-R models against transformers / sentence-transformers.

use serde::Deserialize;
use tamis_core::ScoreActivation;
use tamis_models::{
    BiEncoder, BiEncoderConfig, CrossEncoder, CrossEncoderConfig, EncoderKind, RuntimeConfig,
    Truncation,
};

use crate::{EmbeddingCases, check_embedder, fixtures_dir, local, read_json};

#[derive(Deserialize)]
struct PairCases {
    max_length: usize,
    num_labels: usize,
    cases: Vec<PairCase>,
}

#[derive(Deserialize)]
struct PairCase {
    query: String,
    document: String,
    truncation: String,
    input_ids: Vec<u32>,
    token_type_ids: Vec<u32>,
    truncated: bool,
    logits: Vec<f32>,
}

/// Small batches, so that one call spans several batches.
pub fn runtime(encoder: EncoderKind) -> RuntimeConfig {
    RuntimeConfig { encoder, threads: Some(2), batch_size: 4, ..Default::default() }
}

/// Both encoders must meet the reference: the native one is the product, candle the
/// independent implementation it is checked against.
const ENCODERS: [EncoderKind; 2] = [EncoderKind::Native, EncoderKind::Candle];

fn check_cross_encoder(name: &str, activation: ScoreActivation) {
    check_cross_encoder_on(name, activation, &ENCODERS.map(runtime));
}

/// Checks the cross-encoder fixture `name` on each of `runtimes`, with both truncations.
pub fn check_cross_encoder_on(name: &str, activation: ScoreActivation, runtimes: &[RuntimeConfig]) {
    let dir = fixtures_dir().join(name);
    let expected: PairCases = read_json(&dir.join("expected.json"));
    for ((truncation, label), runtime) in
        [(Truncation::LongestFirst, "longest_first"), (Truncation::OnlySecond, "only_second")]
            .into_iter()
            .flat_map(|t| runtimes.iter().map(move |r| (t, *r)))
    {
        let encoder = (runtime.encoder, runtime.packing);
        let config = CrossEncoderConfig { runtime, truncation, ..Default::default() };
        let model = CrossEncoder::load(&local(dir.clone()), &config).unwrap();
        assert_eq!(model.num_labels(), expected.num_labels, "{name}");
        assert_eq!(model.max_length(), expected.max_length, "{name}");
        assert_eq!(model.activation(), activation, "{name}: declared activation");
        let cases: Vec<&PairCase> =
            expected.cases.iter().filter(|c| c.truncation == label).collect();
        assert!(!cases.is_empty(), "{name}: no {label} cases");
        let pairs: Vec<(&str, &str)> =
            cases.iter().map(|c| (c.query.as_str(), c.document.as_str())).collect();
        let tokens = model.tokenize(&pairs).unwrap();
        let predictions = model.predict(&pairs).unwrap();
        for ((case, tokens), prediction) in cases.iter().zip(&tokens).zip(&predictions) {
            let what =
                format!("{name} {label} {encoder:?} ({:?}, {:?})", case.query, case.document);
            assert_eq!(tokens.ids, case.input_ids, "{what}: token ids");
            assert_eq!(tokens.type_ids, case.token_type_ids, "{what}: token type ids");
            assert_eq!(prediction.truncated, case.truncated, "{what}: truncated");
            assert_eq!(prediction.dropped_tokens > 0, case.truncated, "{what}: dropped tokens");
            if case.truncated {
                assert_eq!(tokens.ids.len(), expected.max_length, "{what}: cut to the limit");
            }
            assert_eq!(prediction.logits.len(), case.logits.len(), "{what}: labels");
            for (got, want) in prediction.logits.iter().zip(&case.logits) {
                assert!((got - want).abs() <= 1e-4, "{what}: logit {got}, reference {want}");
            }
            let mut scores = prediction.logits.clone();
            activation.apply(&mut scores);
            assert_eq!(prediction.scores, scores, "{what}: scores follow the activation");
        }
    }
}

#[test]
fn bert_cross_encoder_one_label() {
    // No activation declared and one label: sigmoid, as sentence-transformers does.
    check_cross_encoder("bert-ce-1label", ScoreActivation::Sigmoid);
}

#[test]
fn bert_cross_encoder_two_labels_tanh_gelu() {
    check_cross_encoder("bert-ce-2label", ScoreActivation::Sigmoid);
}

#[test]
fn xlmr_cross_encoder_one_label() {
    check_cross_encoder("xlmr-ce-1label", ScoreActivation::Sigmoid);
}

#[test]
fn xlmr_cross_encoder_two_labels() {
    // Several labels and nothing declared: raw logits.
    check_cross_encoder("xlmr-ce-2label", ScoreActivation::Identity);
}

fn check_bi_encoder(name: &str) {
    check_bi_encoder_on(name, &ENCODERS.map(runtime));
}

/// Checks the embedder fixture `name` on each of `runtimes`.
pub fn check_bi_encoder_on(name: &str, runtimes: &[RuntimeConfig]) {
    let dir = fixtures_dir().join(name);
    let expected: EmbeddingCases = read_json(&dir.join("expected.json"));
    for &runtime in runtimes {
        let config = BiEncoderConfig { runtime, ..Default::default() };
        let model = BiEncoder::load(&local(dir.clone()), &config).unwrap();
        let what = format!("{name} {:?} packing {}", runtime.encoder, runtime.packing);
        check_embedder(&model, &expected, &what);
    }
}

#[test]
fn xlmr_embedder_mean_pooling_with_prompts() {
    check_bi_encoder("xlmr-embed-mean");
}

#[test]
fn bert_embedder_cls_pooling() {
    check_bi_encoder("bert-embed-cls");
}

#[test]
fn bert_embedder_max_pooling() {
    check_bi_encoder("bert-embed-max");
}

#[test]
fn bert_embedder_last_token_pooling() {
    check_bi_encoder("bert-embed-lasttoken");
}

#[test]
fn raw_switch_returns_logits() {
    let dir = fixtures_dir().join("bert-ce-1label");
    let raw =
        CrossEncoderConfig { activation: Some(ScoreActivation::Identity), ..Default::default() };
    let model = CrossEncoder::load(&local(dir.clone()), &raw).unwrap();
    let prediction = &model.predict(&[("query", "passage")]).unwrap()[0];
    assert_eq!(prediction.scores, prediction.logits);
}

#[test]
fn wrong_model_kind_is_refused_both_ways() {
    let embedder_dir = fixtures_dir().join("bert-embed-cls");
    let err = CrossEncoder::load(&local(embedder_dir), &CrossEncoderConfig::default()).unwrap_err();
    assert!(err.to_string().contains("but a cross-encoder"), "{err}");
    let ranker_dir = fixtures_dir().join("bert-ce-1label");
    let err = BiEncoder::load(&local(ranker_dir), &BiEncoderConfig::default()).unwrap_err();
    assert!(err.to_string().contains("bi-encoder"), "{err}");
}

#[test]
fn multi_label_reranking_needs_a_label() {
    use tamis_core::Reranker;
    let dir = fixtures_dir().join("bert-ce-2label");
    let model = CrossEncoder::load(&local(dir.clone()), &CrossEncoderConfig::default()).unwrap();
    let err = model.score("q", &["p"]).unwrap_err();
    assert!(err.to_string().contains("2 labels"), "{err}");
    let config = CrossEncoderConfig { label: Some(1), ..Default::default() };
    let model = CrossEncoder::load(&local(dir), &config).unwrap();
    let scores = model.score("q", &["p", "q"]).unwrap();
    let predictions = model.predict(&[("q", "p"), ("q", "q")]).unwrap();
    assert_eq!(scores[0].score, predictions[0].scores[1]);
    assert_eq!(scores[1].score, predictions[1].scores[1]);
}

/// Copies a fixture model into a temporary directory, minus its weights.
fn copy_without_weights(name: &str) -> tempfile::TempDir {
    let source = fixtures_dir().join(name);
    let target = tempfile::tempdir().unwrap();
    for entry in fs_err::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().unwrap() != "model.safetensors" {
            fs_err::copy(&path, target.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    target
}

#[test]
fn sharded_weights_give_the_same_scores() {
    let name = "xlmr-ce-1label";
    let tensors = candle_core::safetensors::load(
        fixtures_dir().join(name).join("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let dir = copy_without_weights(name);
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let (first, second) = names.split_at(names.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (shard, shard_names) in
        [("model-00001-of-00002.safetensors", first), ("model-00002-of-00002.safetensors", second)]
    {
        let part: std::collections::HashMap<String, candle_core::Tensor> =
            shard_names.iter().map(|n| ((*n).clone(), tensors[*n].clone())).collect();
        candle_core::safetensors::save(&part, dir.path().join(shard)).unwrap();
        for n in shard_names {
            weight_map.insert((*n).clone(), serde_json::Value::from(shard));
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    fs_err::write(dir.path().join("model.safetensors.index.json"), index.to_string()).unwrap();

    let pairs = [
        ("vitamin d", "bone health and vitamin d"),
        ("trains", "a long text about trains in Europe"),
    ];
    let sharded =
        CrossEncoder::load(&local(dir.path().to_path_buf()), &CrossEncoderConfig::default())
            .unwrap();
    let single =
        CrossEncoder::load(&local(fixtures_dir().join(name)), &CrossEncoderConfig::default())
            .unwrap();
    assert_eq!(sharded.predict(&pairs).unwrap(), single.predict(&pairs).unwrap());
}

#[test]
fn pickle_weights_are_refused_with_a_fix() {
    let dir = copy_without_weights("bert-ce-1label");
    fs_err::write(dir.path().join("pytorch_model.bin"), b"not loaded").unwrap();
    let err = CrossEncoder::load(&local(dir.path().to_path_buf()), &CrossEncoderConfig::default())
        .unwrap_err();
    assert!(matches!(err, tamis_models::Error::PickleWeights { .. }), "{err}");
    assert!(err.to_string().contains("safetensors"), "{err}");
    fs_err::remove_file(dir.path().join("pytorch_model.bin")).unwrap();
    let err = CrossEncoder::load(&local(dir.path().to_path_buf()), &CrossEncoderConfig::default())
        .unwrap_err();
    assert!(err.to_string().contains("model.safetensors is missing"), "{err}");
}

#[test]
fn thread_count_and_batch_size_do_not_change_scores() {
    let dir = fixtures_dir().join("bert-ce-2label");
    let expected: PairCases = read_json(&dir.join("expected.json"));
    let pairs: Vec<(&str, &str)> =
        expected.cases.iter().map(|c| (c.query.as_str(), c.document.as_str())).collect();
    let run = |threads, batch_size| {
        let config = CrossEncoderConfig {
            runtime: RuntimeConfig { threads: Some(threads), batch_size, ..Default::default() },
            ..Default::default()
        };
        CrossEncoder::load(&local(dir.clone()), &config).unwrap().predict(&pairs).unwrap()
    };
    let reference = run(1, 1);
    for (threads, batch_size) in [(2, 1), (1, 7), (2, 32)] {
        for (a, b) in reference.iter().zip(run(threads, batch_size)) {
            for (x, y) in a.logits.iter().zip(&b.logits) {
                assert!((x - y).abs() <= 1e-5, "threads {threads} batch {batch_size}: {x} vs {y}");
            }
        }
    }
}

#[test]
fn invalid_runtime_settings_are_refused() {
    let dir = fixtures_dir().join("bert-ce-1label");
    let invalid = [
        RuntimeConfig { threads: Some(0), ..Default::default() },
        RuntimeConfig { batch_size: 0, ..Default::default() },
        RuntimeConfig { max_batch_tokens: 0, ..Default::default() },
    ];
    for runtime in invalid {
        let config = CrossEncoderConfig { runtime, ..Default::default() };
        let err = CrossEncoder::load(&local(dir.clone()), &config).unwrap_err();
        assert!(matches!(err, tamis_models::Error::InvalidOption { .. }), "{err}");
    }
    let config = CrossEncoderConfig { max_length: Some(2), ..Default::default() };
    let err = CrossEncoder::load(&local(dir), &config).unwrap_err();
    assert!(err.to_string().contains("special tokens"), "{err}");
}

#[test]
fn bert_without_tokenizer_json_falls_back_to_vocab_txt() {
    let name = "bert-ce-1label";
    let dir = copy_without_weights(name);
    fs_err::copy(
        fixtures_dir().join(name).join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    fs_err::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let expected: PairCases = read_json(&fixtures_dir().join(name).join("expected.json"));
    let model =
        CrossEncoder::load(&local(dir.path().to_path_buf()), &CrossEncoderConfig::default())
            .unwrap();
    let cases: Vec<&PairCase> =
        expected.cases.iter().filter(|c| c.truncation == "longest_first").collect();
    let pairs: Vec<(&str, &str)> =
        cases.iter().map(|c| (c.query.as_str(), c.document.as_str())).collect();
    for (case, tokens) in cases.iter().zip(model.tokenize(&pairs).unwrap()) {
        assert_eq!(tokens.ids, case.input_ids, "{:?} / {:?}", case.query, case.document);
        assert_eq!(tokens.type_ids, case.token_type_ids);
    }
    // Without either file the error names what is needed.
    fs_err::remove_file(dir.path().join("vocab.txt")).unwrap();
    let err = CrossEncoder::load(&local(dir.path().to_path_buf()), &CrossEncoderConfig::default())
        .unwrap_err();
    assert!(err.to_string().contains("tokenizer.json is missing"), "{err}");
}
