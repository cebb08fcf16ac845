//! The trained model as a Hugging Face `BertForSequenceClassification` (or
//! `XLMRobertaForSequenceClassification`) directory, which `transformers`,
//! sentence-transformers' `CrossEncoder` and every tamis command load.

use std::path::Path;

use crate::checkpoint::{replace_dir, sibling, sync_dir, write_synced, write_tensors};
use crate::model::CrossEncoderModel;
use crate::{Error, Result};

/// Tokenizer files copied from the base model when it has them (WordPiece's vocabulary,
/// SentencePiece's model, byte-level BPE's vocabulary and merges).
const TOKENIZER_FILES: [&str; 7] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "sentencepiece.bpe.model",
    "vocab.json",
    "merges.txt",
];

/// Writes `model` to `out`: `config.json` from `base`'s with the
/// classification head declared, `model.safetensors` under `transformers`' names (Q, K
/// and V split again), `base`'s tokenizer files with `model_max_length` set to
/// `max_length` (what inference truncates to: the training length, or longer where the
/// caller chose so), and `card` as `README.md`. The directory is assembled beside `out`
/// and renamed into place: it appears whole or not at all. An existing `out` is an error unless `overwrite`, and
/// then it is replaced only once the new directory is complete.
pub fn export(
    model: &CrossEncoderModel,
    base: &Path,
    out: &Path,
    max_length: usize,
    card: &str,
    overwrite: bool,
) -> Result<()> {
    if out.exists() && !overwrite {
        return Err(Error::OutputExists { path: out.to_owned() });
    }
    let staging = sibling(out, "partial");
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    fs_err::create_dir_all(&staging)?;

    let mut config: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(base.join("config.json"))?)?;
    config["architectures"] = serde_json::json!([model.architecture()]);
    config["id2label"] = serde_json::json!({"0": "LABEL_0"});
    config["label2id"] = serde_json::json!({"LABEL_0": 0});
    // sentence-transformers' CrossEncoder reads its score activation from here: a
    // cross-encoder base keeps the one it declares (raw logits stay raw logits); a new
    // head gets sentence-transformers' own default for one label, the sigmoid.
    if config["sentence_transformers"]["activation_fn"].as_str().is_none() {
        config["sentence_transformers"] =
            serde_json::json!({"activation_fn": "torch.nn.modules.activation.Sigmoid"});
    }
    write_synced(&staging.join("config.json"), serde_json::to_string_pretty(&config)?.as_bytes())?;

    write_tensors(&staging.join("model.safetensors"), &hugging_face_tensors(model))?;

    for name in TOKENIZER_FILES {
        let from = base.join(name);
        if !from.is_file() {
            continue;
        }
        if name == "tokenizer_config.json" {
            let mut tokenizer: serde_json::Value =
                serde_json::from_str(&fs_err::read_to_string(&from)?)?;
            tokenizer["model_max_length"] = serde_json::json!(max_length);
            write_synced(
                &staging.join(name),
                serde_json::to_string_pretty(&tokenizer)?.as_bytes(),
            )?;
        } else {
            write_synced(&staging.join(name), &fs_err::read(&from)?)?;
        }
    }
    write_synced(&staging.join("README.md"), card.as_bytes())?;
    sync_dir(&staging)?;
    replace_dir(&staging, out, "replaced")
}

/// Every parameter under its `transformers` name (the family's, see
/// [`Naming::hugging_face`](crate::model::Naming::hugging_face)) and shape.
fn hugging_face_tensors(model: &CrossEncoderModel) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let naming = model.naming();
    bert_tensors(model)
        .into_iter()
        .map(|(name, shape, values)| (naming.hugging_face(&name), shape, values))
        .collect()
}

/// Every parameter under its name in a BERT, and its shape.
fn bert_tensors(model: &CrossEncoderModel) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let c = model.config();
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let p = &model.params;
    let mut out = vec![
        (
            "bert.embeddings.word_embeddings.weight".to_owned(),
            vec![c.vocab_size, h],
            p.word.clone(),
        ),
        (
            "bert.embeddings.position_embeddings.weight".to_owned(),
            vec![c.max_position_embeddings, h],
            p.position.clone(),
        ),
        (
            "bert.embeddings.token_type_embeddings.weight".to_owned(),
            vec![c.type_vocab_size, h],
            p.token_type.clone(),
        ),
        ("bert.embeddings.LayerNorm.weight".to_owned(), vec![h], p.embedding_norm.gamma.clone()),
        ("bert.embeddings.LayerNorm.bias".to_owned(), vec![h], p.embedding_norm.beta.clone()),
    ];
    for (n, layer) in p.layers.iter().enumerate() {
        let l = format!("bert.encoder.layer.{n}");
        for (part, (weight, bias)) in ["query", "key", "value"]
            .iter()
            .zip(layer.qkv.weight.chunks_exact(h * h).zip(layer.qkv.bias.chunks_exact(h)))
        {
            out.push((format!("{l}.attention.self.{part}.weight"), vec![h, h], weight.to_vec()));
            out.push((format!("{l}.attention.self.{part}.bias"), vec![h], bias.to_vec()));
        }
        let dense = [
            ("attention.output.dense", &layer.attention_out, [h, h]),
            ("intermediate.dense", &layer.intermediate, [i, h]),
            ("output.dense", &layer.output, [h, i]),
        ];
        for (name, linear, shape) in dense {
            out.push((format!("{l}.{name}.weight"), shape.to_vec(), linear.weight.clone()));
            out.push((format!("{l}.{name}.bias"), vec![shape[0]], linear.bias.clone()));
        }
        for (name, norm) in [
            ("attention.output.LayerNorm", &layer.attention_norm),
            ("output.LayerNorm", &layer.output_norm),
        ] {
            out.push((format!("{l}.{name}.weight"), vec![h], norm.gamma.clone()));
            out.push((format!("{l}.{name}.bias"), vec![h], norm.beta.clone()));
        }
    }
    out.push(("bert.pooler.dense.weight".to_owned(), vec![h, h], p.pooler.weight.clone()));
    out.push(("bert.pooler.dense.bias".to_owned(), vec![h], p.pooler.bias.clone()));
    out.push(("classifier.weight".to_owned(), vec![1, h], p.classifier.weight.clone()));
    out.push(("classifier.bias".to_owned(), vec![1], p.classifier.bias.clone()));
    out
}

/// Keeps the complete model directory `candidate` (written by [`export`]) under the name
/// `kept`, replacing what was kept whole: a training run's best model so far.
pub fn keep(candidate: &Path, kept: &Path) -> Result<()> {
    replace_dir(candidate, kept, "replaced")
}

/// Publishes the kept model directory `kept` as `out`, with `card` as its `README.md`;
/// `out` is replaced only when `overwrite`, and only once `kept` is complete.
pub fn publish(kept: &Path, out: &Path, card: &str, overwrite: bool) -> Result<()> {
    if out.exists() && !overwrite {
        return Err(Error::OutputExists { path: out.to_owned() });
    }
    write_synced(&kept.join("README.md"), card.as_bytes())?;
    sync_dir(kept)?;
    replace_dir(kept, out, "replaced")
}
