use super::{EncoderConfig, Family, Head, HiddenAct};
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
fn unsupported_architecture_is_named() {
    let err = parse(&format!(
        r#"{{"architectures": ["DistilBertModel"], "model_type": "distilbert", {SIZES}}}"#
    ))
    .unwrap_err();
    assert!(matches!(err, Error::UnsupportedArchitecture { .. }));
    assert!(err.to_string().contains("DistilBertModel"), "{err}");
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
