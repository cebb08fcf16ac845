//! Loading safetensors weights, single-file or sharded.
//!
//! Files are read, not memory-mapped (mapping needs `unsafe`: the file could change
//! under us), and read tensor by tensor in pieces ([`read_tensors`]), so that loading
//! never holds a file's bytes beside the tensors made of them.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use safetensors::Dtype;
use safetensors::tensor::{Metadata, TensorInfo};
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
/// XLM-RoBERTa give them: see [`modern_name`] and [`flash_names`]), in the file's dtype.
pub(crate) fn load(dir: &Path) -> Result<HashMap<String, Tensor>> {
    let mut tensors = HashMap::new();
    read_tensors(dir, |name, info, tensor| {
        let shape = info.shape.clone();
        // A tensor of the file's dtype from its values of `$n` bytes each.
        macro_rules! read {
            ($n:literal, $decode:expr) => {
                Tensor::from_vec(tensor.values::<$n, _>($decode)?, shape, &Device::Cpu)
            };
        }
        let made = match info.dtype {
            Dtype::F32 => read!(4, |b| f32::from_le_bytes(*b)),
            Dtype::F16 => read!(2, |b| half::f16::from_le_bytes(*b)),
            Dtype::BF16 => read!(2, |b| half::bf16::from_le_bytes(*b)),
            Dtype::F64 => read!(8, |b| f64::from_le_bytes(*b)),
            Dtype::I64 => read!(8, |b| i64::from_le_bytes(*b)),
            Dtype::I32 => read!(4, |b| i32::from_le_bytes(*b)),
            Dtype::U32 => read!(4, |b| u32::from_le_bytes(*b)),
            Dtype::U8 => read!(1, |b| b[0]),
            other => {
                let read = "F32, F16, BF16, F64, I64, I32, U32 and U8";
                return Err(weights_error(
                    dir,
                    format!("tensor {name} is {other:?}; tamis reads {read}"),
                ));
            }
        }
        .map_err(|source| Error::Weights { dir: dir.to_path_buf(), source })?;
        tensors.insert(modern_name(name), made);
        Ok(())
    })?;
    flash_names(tensors).map_err(|source| Error::Weights { dir: dir.to_path_buf(), source })
}

/// Bytes read at a time: a multiple of every element's width.
pub(crate) const READ_PIECE: usize = 1 << 20;
/// The largest header the safetensors format allows (its reference reader's limit).
const MAX_HEADER: u64 = 100_000_000;

/// One tensor's bytes, next in the file: [`TensorBytes::values`] reads them.
pub(crate) struct TensorBytes<'a> {
    reader: &'a mut fs_err::File,
    piece: &'a mut [u8],
    bytes: usize,
}

impl TensorBytes<'_> {
    /// The tensor's values, `N` bytes each, decoded a piece at a time.
    pub(crate) fn values<const N: usize, T>(
        self,
        decode: impl Fn(&[u8; N]) -> T,
    ) -> std::io::Result<Vec<T>> {
        let mut values = Vec::with_capacity(self.bytes / N);
        let mut left = self.bytes;
        while left > 0 {
            let take = left.min(self.piece.len());
            self.reader.read_exact(&mut self.piece[..take])?;
            let (whole, _) = self.piece[..take].as_chunks::<N>();
            values.extend(whole.iter().map(&decode));
            left -= take;
        }
        Ok(values)
    }
}

/// Reads the single or sharded safetensors of the model in `dir` tensor by tensor in
/// pieces of [`READ_PIECE`] bytes, handing each to `visit` with its name and header
/// entry: memory holds what `visit` keeps and one piece, never a file's bytes beside
/// them (reading a 1.2 GB checkpoint whole doubled the peak memory of loading it).
pub(crate) fn read_tensors(
    dir: &Path,
    mut visit: impl FnMut(String, &TensorInfo, TensorBytes<'_>) -> Result<()>,
) -> Result<()> {
    let mut piece = vec![0u8; READ_PIECE];
    for file in weight_files(dir)? {
        let bad = |why: String| {
            weights_error(dir, format!("{} is not a safetensors file: {why}", file.display()))
        };
        let mut reader = fs_err::File::open(&file)?;
        let file_len = reader.metadata()?.len();
        let mut len = [0u8; 8];
        reader
            .read_exact(&mut len)
            .map_err(|_| bad("shorter than its 8-byte header length".into()))?;
        let header_len = u64::from_le_bytes(len);
        if header_len > MAX_HEADER || 8 + header_len > file_len {
            return Err(bad(format!("a header of {header_len} bytes in a file of {file_len}")));
        }
        let mut header = vec![0u8; header_len as usize];
        reader.read_exact(&mut header)?;
        // The crate's parser checks what its own reader checks: offsets contiguous from
        // zero, each tensor's size its dtype times its shape.
        let metadata: Metadata =
            serde_json::from_slice(&header).map_err(|e| bad(format!("its header: {e}")))?;
        let data_len = file_len - 8 - header_len;
        if metadata.data_len() as u64 != data_len {
            return Err(bad(format!(
                "its header describes {} bytes of tensors, the file holds {data_len}",
                metadata.data_len()
            )));
        }
        let mut tensors: Vec<_> = metadata.tensors().into_iter().collect();
        tensors.sort_by_key(|(_, info)| info.data_offsets);
        for (name, info) in tensors {
            let bytes = info.data_offsets.1 - info.data_offsets.0;
            // In order, so the seek moves nothing unless `visit` left a tensor unread.
            reader.seek(SeekFrom::Start(8 + header_len + info.data_offsets.0 as u64))?;
            visit(name, info, TensorBytes { reader: &mut reader, piece: &mut piece, bytes })?;
        }
    }
    Ok(())
}

/// A malformed-weights error about the model in `dir`, with `message`.
pub(crate) fn weights_error(dir: &Path, message: String) -> Error {
    Error::Weights { dir: dir.to_path_buf(), source: candle_core::Error::Msg(message) }
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
        .ok_or_else(|| {
            weights_error(
                dir,
                "no embeddings.word_embeddings.weight tensor (with or without a bert./roberta. prefix)"
                    .to_string(),
            )
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
    let error = |message: String| weights_error(dir, message);
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

#[cfg(test)]
mod tests;
