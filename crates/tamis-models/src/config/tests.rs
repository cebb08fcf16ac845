use super::{ClassifierPooling, EncoderConfig, Family, Head, HiddenAct};
use crate::Error;
use tamis_core::ScoreActivation;

fn parse(json: &str) -> crate::Result<EncoderConfig> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs_err::write(&path, json).unwrap();
    EncoderConfig::from_file(&path)
}

const SIZES: &str = r#""vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 514"#;

#[test]
fn bert_cross_encoder_reads_labels_and_activation() {
    let config = parse(&format!(
        r#"{{"architectures": ["BertForSequenceClassification"], "model_type": "bert", {SIZES},
        "id2label": {{"0": "LABEL_0"}}, "hidden_act": "gelu",
        "sentence_transformers": {{"activation_fn": "torch.nn.modules.linear.Identity"}}}}"#
    ))
    .unwrap();
    assert_eq!(config.family, Family::Bert);
    assert_eq!(config.head, Head::Classifier { num_labels: 1 });
    assert_eq!(config.hidden_act, HiddenAct::GeluErf);
    assert_eq!(config.declared_activation, Some(ScoreActivation::Identity));
    assert_eq!(config.pad_token_id, 0);
    assert_eq!(config.max_positions(), 514);
}

#[test]
fn xlmr_positions_lose_the_padding_offset() {
    let config = parse(&format!(
        r#"{{"architectures": ["XLMRobertaForSequenceClassification"], "model_type": "xlm-roberta",
        {SIZES}, "pad_token_id": 1, "hidden_act": "gelu_pytorch_tanh",
        "sbert_ce_default_activation_function": "torch.nn.modules.activation.Sigmoid"}}"#
    ))
    .unwrap();
    assert_eq!(config.family, Family::Roberta);
    assert_eq!(config.head, Head::Classifier { num_labels: 2 });
    assert_eq!(config.hidden_act, HiddenAct::GeluTanh);
    assert_eq!(config.max_positions(), 512);
    assert_eq!(config.declared_activation, Some(ScoreActivation::Sigmoid));
}

#[test]
fn modern_bert_reads_its_own_names_and_defaults() {
    let config = parse(
        r#"{"architectures": ["ModernBertForSequenceClassification"], "model_type": "modernbert",
        "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4,
        "intermediate_size": 48, "max_position_embeddings": 8192, "hidden_activation": "gelu",
        "norm_eps": 1e-5, "local_attention": 128, "classifier_pooling": "mean",
        "id2label": {"0": "LABEL_0"}}"#,
    )
    .unwrap();
    assert_eq!(config.family, Family::ModernBert);
    assert_eq!(config.hidden_act, HiddenAct::GeluErf);
    assert_eq!(config.layer_norm_eps, 1e-5);
    assert_eq!(config.max_positions(), 8192);
    assert_eq!(config.pad_token_id, 50283);
    let modern = config.modern_bert.as_ref().unwrap();
    assert_eq!((modern.local_reach, modern.global_every), (64, 3));
    assert_eq!((modern.global_rope_theta, modern.local_rope_theta), (160_000.0, 160_000.0));
    assert_eq!(modern.classifier_pooling, ClassifierPooling::Mean);
    assert!(modern.is_global(0) && !modern.is_global(1) && modern.is_global(3));
    // Layers 0 and 3 attend to every key, 1 and 2 to the 129 of their window; the gated
    // MLP's input layer is twice as wide.
    let (n, h, i) = (4096.0, 32.0, 48.0);
    let dense = 2.0 * n * (4.0 * h * h + 3.0 * h * i);
    let want = 4.0 * dense + 2.0 * 4.0 * n * n * h + 2.0 * 4.0 * n * 129.0 * h;
    assert_eq!(config.forward_flops(4096), want);
}

#[test]
fn modern_bert_refuses_what_it_does_not_run() {
    for (field, needle) in [
        (r#""rope_scaling": {"rope_type": "yarn", "factor": 4.0}"#, "rope_scaling"),
        (r#""classifier_pooling": "max""#, "classifier_pooling 'max'"),
        (r#""global_attn_every_n_layers": 0"#, "global_attn_every_n_layers"),
        (r#""hidden_activation": "quick_gelu""#, "quick_gelu"),
    ] {
        let err = parse(&format!(
            r#"{{"architectures": ["ModernBertModel"], "model_type": "modernbert", {SIZES}, {field}}}"#
        ))
        .unwrap_err();
        assert!(err.to_string().contains(needle), "{field}: {err}");
    }
}

#[test]
fn deberta_reads_the_string_form_of_its_position_terms() {
    let config = parse(&format!(
        r#"{{"architectures": ["DebertaV2ForSequenceClassification"], "model_type": "deberta-v2",
        {SIZES}, "relative_attention": true, "pos_att_type": "p2c|c2p", "position_buckets": 256,
        "max_relative_positions": -1, "type_vocab_size": 0, "norm_rel_ebd": "layer_norm"}}"#
    ))
    .unwrap();
    assert_eq!(config.family, Family::DebertaV2);
    assert_eq!((config.type_vocab_size, config.layer_norm_eps), (0, 1e-7));
    let deberta = config.deberta.unwrap();
    assert!(deberta.c2p && deberta.p2c && deberta.norm_relative_embeddings);
    assert!(deberta.position_biased_input, "transformers' default");
    assert_eq!((deberta.span(), deberta.max_relative_positions), (256, 514));
    // Near distances keep their value; far ones share logarithmic buckets.
    assert_eq!((deberta.bucket(-5), deberta.bucket(127)), (-5, 127));
    assert!(deberta.bucket(400) < 256 && deberta.bucket(400) == -deberta.bucket(-400));
}

#[test]
fn deberta_refuses_what_it_does_not_run() {
    for (field, needle) in [
        (r#""conv_kernel_size": 3"#, "conv_kernel_size"),
        (r#""embedding_size": 16"#, "embedding_size"),
        (r#""pos_att_type": ["c2p", "p2p"]"#, "p2p"),
        (r#""pos_att_type": ["c2p"], "relative_attention": false"#, "relative_attention"),
        (r#""relative_attention": true, "position_buckets": 1000000000"#, "relative positions"),
    ] {
        let err = parse(&format!(
            r#"{{"architectures": ["DebertaV2Model"], "model_type": "deberta-v2", {SIZES}, {field}}}"#
        ))
        .unwrap_err();
        assert!(err.to_string().contains(needle), "{field}: {err}");
    }
}

#[test]
fn positions_beyond_what_tamis_runs_are_refused_before_any_table_is_built() {
    let err = parse(
        r#"{"architectures": ["ModernBertModel"], "model_type": "modernbert", "vocab_size": 100,
        "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 64, "max_position_embeddings": 1000000000}"#,
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadConfig { .. }), "{err}");
    assert!(err.to_string().contains("max_position_embeddings 1000000000"), "{err}");
}

#[test]
fn modern_bert_needs_an_even_head_width() {
    let err = parse(
        r#"{"architectures": ["ModernBertModel"], "model_type": "modernbert", "vocab_size": 100,
        "hidden_size": 36, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 64, "max_position_embeddings": 512}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("even head width"), "{err}");
}

#[test]
fn unsupported_architecture_is_named() {
    let err = parse(&format!(
        r#"{{"architectures": ["DistilBertModel"], "model_type": "distilbert", {SIZES}}}"#
    ))
    .unwrap_err();
    assert!(matches!(err, Error::UnsupportedArchitecture { .. }));
    assert!(err.to_string().contains("DistilBertModel"), "{err}");
    assert!(
        err.to_string().contains("ModernBertForSequenceClassification"),
        "lists what runs: {err}"
    );
}

#[test]
fn relative_positions_are_refused() {
    let err = parse(&format!(
        r#"{{"model_type": "bert", {SIZES}, "position_embedding_type": "relative_key"}}"#
    ))
    .unwrap_err();
    assert!(err.to_string().contains("relative_key"), "{err}");
}

#[test]
fn malformed_json_names_the_file() {
    let err = parse("{not json").unwrap_err();
    assert!(matches!(err, Error::BadJson { .. }));
    assert!(err.to_string().contains("config.json"), "{err}");
}
