//! Loading safetensors weights, single-file or sharded.
//!
//! Files are read into memory rather than memory-mapped: mapping needs `unsafe`
//! (the file could change under us) and the models tamis runs fit in RAM twice.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::{Error, Result};

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: HashMap<String, String>,
}

/// The shard file names listed by a `model.safetensors.index.json`, sorted and unique.
pub(crate) fn shard_names(index_path: &Path) -> Result<Vec<String>> {
    let index: ShardIndex = crate::config::read_json(index_path)?;
    let names: BTreeSet<String> = index.weight_map.into_values().collect();
    for name in &names {
        if name.contains("..") || name.starts_with('/') {
            return Err(Error::BadConfig {
                path: index_path.to_path_buf(),
                message: format!("shard name '{name}' leaves the model directory"),
            });
        }
    }
    Ok(names.into_iter().collect())
}

/// The safetensors files of the model in `dir`: `model.safetensors`, or the shards a
/// `model.safetensors.index.json` names, each checked to exist.
pub(crate) fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    let files: Vec<PathBuf> = if single.is_file() {
        vec![single]
    } else if index.is_file() {
        shard_names(&index)?.into_iter().map(|name| dir.join(name)).collect()
    } else if dir.join("pytorch_model.bin").is_file() {
        return Err(Error::PickleWeights { dir: dir.to_path_buf() });
    } else {
        return Err(Error::MissingFile {
            path: single,
            hint: "the weights must be model.safetensors or a sharded model.safetensors.index.json",
        });
    };
    if let Some(missing) = files.iter().find(|file| !file.is_file()) {
        return Err(Error::MissingFile {
            path: missing.clone(),
            hint: "a shard named by the index",
        });
    }
    Ok(files)
}

/// Every tensor of the model in `dir`, by name (the names transformers' BERT and
/// XLM-RoBERTa give them: see [`modern_name`] and [`flash_names`]).
pub(crate) fn load(dir: &Path) -> Result<HashMap<String, Tensor>> {
    let mut tensors = HashMap::new();
    for file in weight_files(dir)? {
        let shard = candle_core::safetensors::load(&file, &Device::Cpu)
            .map_err(|source| Error::Weights { dir: dir.to_path_buf(), source })?;
        tensors.extend(shard.into_iter().map(|(name, tensor)| (modern_name(name), tensor)));
    }
    flash_names(tensors).map_err(|source| Error::Weights { dir: dir.to_path_buf(), source })
}

/// Jina's "XLM-RoBERTa flash implementation" (jina-reranker-v2, jina-embeddings-v3's
/// base) names the same post-norm layers as flash-attention's BERT does: `emb_ln`,
/// `encoder.layers.N.mixer.Wqkv` (Q, K and V stacked by rows), `mixer.out_proj`,
/// `norm1`, `mlp.fc1`, `mlp.fc2`, `norm2`. They are renamed (and `Wqkv` split) to
/// transformers' names, so every encoder reads one layout; other checkpoints pass
/// through unchanged.
fn flash_names(tensors: HashMap<String, Tensor>) -> candle_core::Result<HashMap<String, Tensor>> {
    if !tensors.keys().any(|name| name.contains(".mixer.Wqkv.")) {
        return Ok(tensors);
    }
    let mut renamed = HashMap::with_capacity(tensors.len() + tensors.len() / 4);
    for (name, tensor) in tensors {
        if let Some(stem) = name.strip_suffix("emb_ln.weight") {
            renamed.insert(format!("{stem}embeddings.LayerNorm.weight"), tensor);
            continue;
        }
        if let Some(stem) = name.strip_suffix("emb_ln.bias") {
            renamed.insert(format!("{stem}embeddings.LayerNorm.bias"), tensor);
            continue;
        }
        let Some((before, after)) = name.split_once("encoder.layers.") else {
            renamed.insert(name, tensor);
            continue;
        };
        let (layer, part) = after.split_once('.').unwrap_or((after, ""));
        let base = format!("{before}encoder.layer.{layer}");
        if let Some(kind) = part.strip_prefix("mixer.Wqkv.") {
            let third = tensor.dim(0)? / 3;
            for (index, head) in ["query", "key", "value"].into_iter().enumerate() {
                let slice = tensor.narrow(0, index * third, third)?;
                renamed.insert(format!("{base}.attention.self.{head}.{kind}"), slice);
            }
            continue;
        }
        let mapped = [
            ("mixer.out_proj.", "attention.output.dense."),
            ("norm1.", "attention.output.LayerNorm."),
            ("mlp.fc1.", "intermediate.dense."),
            ("mlp.fc2.", "output.dense."),
            ("norm2.", "output.LayerNorm."),
        ]
        .into_iter()
        .find_map(|(from, to)| part.strip_prefix(from).map(|kind| format!("{base}.{to}{kind}")));
        match mapped {
            Some(new_name) => renamed.insert(new_name, tensor),
            None => renamed.insert(name, tensor),
        };
    }
    Ok(renamed)
}

/// Old TensorFlow-era checkpoints call LayerNorm parameters `gamma`/`beta`.
fn modern_name(name: String) -> String {
    if let Some(stem) = name.strip_suffix("LayerNorm.gamma") {
        format!("{stem}LayerNorm.weight")
    } else if let Some(stem) = name.strip_suffix("LayerNorm.beta") {
        format!("{stem}LayerNorm.bias")
    } else {
        name
    }
}

/// The prefix under which the encoder's tensors live: `bert.`, `roberta.`, `deberta.`, or none
/// (sentence-transformers saves the bare encoder); an error naming `dir` when none fits.
pub(crate) fn encoder_prefix(
    dir: &Path,
    tensors: &HashMap<String, Tensor>,
) -> Result<&'static str> {
    ["", "bert.", "roberta.", "model.", "deberta."]
        .into_iter()
        .find(|prefix| tensors.contains_key(&format!("{prefix}embeddings.word_embeddings.weight")))
        .ok_or_else(|| Error::Weights {
            dir: dir.to_path_buf(),
            source: candle_core::Error::Msg(
                "no embeddings.word_embeddings.weight tensor (with or without a bert./roberta. prefix)"
                    .to_string(),
            ),
        })
}

/// The `f32` values of tensor `name`, which must have `shape`; an error naming `dir`
/// when it is missing or shaped otherwise.
pub(crate) fn f32_values(
    dir: &Path,
    tensors: &HashMap<String, Tensor>,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>> {
    let error = |message: String| Error::Weights {
        dir: dir.to_path_buf(),
        source: candle_core::Error::Msg(message),
    };
    let tensor = tensors.get(name).ok_or_else(|| error(format!("no tensor named {name}")))?;
    if tensor.dims() != shape {
        return Err(error(format!(
            "tensor {name} has shape {:?}, config.json implies {shape:?}",
            tensor.dims()
        )));
    }
    tensor
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|source| Error::Weights { dir: dir.to_path_buf(), source })
}

/// An encoder checkpoint's tensors, read as `f32` by name: what training starts from.
#[derive(Debug)]
pub struct EncoderWeights {
    dir: PathBuf,
    prefix: &'static str,
    tensors: HashMap<String, Tensor>,
}

impl EncoderWeights {
    /// Reads every tensor of the model in `dir` (single-file or sharded safetensors).
    pub fn load(dir: &Path) -> Result<EncoderWeights> {
        let tensors = load(dir)?;
        let prefix = encoder_prefix(dir, &tensors)?;
        Ok(EncoderWeights { dir: dir.to_path_buf(), prefix, tensors })
    }

    /// The prefix of the encoder's tensor names: `bert.`, `roberta.`, `model.` or none.
    pub fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// Whether a tensor called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The values of tensor `name`, row-major, checked to have `shape`.
    pub fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        f32_values(&self.dir, &self.tensors, name, shape)
    }
}
