//! The BERT / XLM-RoBERTa encoder on candle's CPU tensors.
//!
//! One implementation serves both families: they differ only in how position ids
//! are numbered and in the classification head, both read from `config.json`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use crate::config::{EncoderConfig, Family, Head, HiddenAct};
use crate::encoder::{Encoder, HiddenStates, TokenBatch};
use crate::{Error, Result};

/// A transformer encoder with its weights loaded, run on a dedicated thread pool.
#[derive(Debug)]
pub struct CandleEncoder {
    config: EncoderConfig,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    head: Option<ClassifierHead>,
    pool: Arc<rayon::ThreadPool>,
}

#[derive(Debug)]
struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

#[derive(Debug)]
struct Layer {
    /// Query, key and value projections fused into one GEMM.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

#[derive(Debug)]
enum ClassifierHead {
    /// BERT: `pooler.dense` + tanh on `[CLS]`, then `classifier`.
    Bert { pooler: Linear, classifier: Linear },
    /// RoBERTa: `classifier.dense` + tanh on `<s>`, then `classifier.out_proj`.
    Roberta { dense: Linear, out_proj: Linear },
}

impl CandleEncoder {
    /// Builds the encoder from the tensors of the model in `dir`.
    pub fn load(
        dir: &Path,
        config: EncoderConfig,
        tensors: HashMap<String, Tensor>,
        pool: Arc<rayon::ThreadPool>,
    ) -> Result<CandleEncoder> {
        let weights_error = |source| Error::Weights { dir: dir.to_path_buf(), source };
        let prefix = crate::weights::encoder_prefix(dir, &tensors)?;
        let root = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let encoder =
            if prefix.is_empty() { root.clone() } else { root.pp(prefix.trim_end_matches('.')) };
        let embeddings =
            Embeddings::load(&config, encoder.pp("embeddings")).map_err(weights_error)?;
        let layers = (0..config.num_layers)
            .map(|i| Layer::load(&config, encoder.pp(format!("encoder.layer.{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(weights_error)?;
        let head = match config.head {
            Head::None => None,
            Head::Classifier { num_labels } => Some(
                ClassifierHead::load(&config, num_labels, &root, &encoder)
                    .map_err(weights_error)?,
            ),
        };
        Ok(CandleEncoder { config, embeddings, layers, head, pool })
    }

    fn encode(&self, batch: &TokenBatch) -> candle_core::Result<Tensor> {
        let (b, s) = (batch.batch_size, batch.seq_len);
        let device = Device::Cpu;
        let ids = Tensor::from_slice(&batch.input_ids, (b, s), &device)?;
        let types = Tensor::from_slice(&batch.type_ids, (b, s), &device)?;
        let positions = Tensor::from_vec(position_ids(&self.config, batch), (b, s), &device)?;
        let mut x = self.embeddings.forward(&ids, &types, &positions)?;
        // Additive mask over keys: 0 for tokens, the most negative float for padding.
        let mask: Vec<f32> =
            batch.attention_mask.iter().map(|&m| if m == 1 { 0.0 } else { f32::MIN }).collect();
        let mask = Tensor::from_vec(mask, (b, 1, 1, s), &device)?;
        for layer in &self.layers {
            x = layer.forward(&x, &mask, &self.config)?;
        }
        Ok(x)
    }
}

/// BERT numbers positions from 0; RoBERTa from `pad_token_id + 1`, padding keeping `pad_token_id`.
fn position_ids(config: &EncoderConfig, batch: &TokenBatch) -> Vec<u32> {
    let mut positions = Vec::with_capacity(batch.input_ids.len());
    for row in 0..batch.batch_size {
        match config.family {
            Family::Bert | Family::ModernBert | Family::DebertaV2 => {
                positions.extend(0..batch.seq_len as u32)
            }
            Family::Roberta => {
                let mut seen = 0;
                for &m in batch.mask_row(row) {
                    seen += m;
                    positions.push(if m == 1 {
                        config.pad_token_id + seen
                    } else {
                        config.pad_token_id
                    });
                }
            }
        }
    }
    positions
}

impl Embeddings {
    fn load(config: &EncoderConfig, vb: VarBuilder) -> candle_core::Result<Embeddings> {
        let h = config.hidden_size;
        Ok(Embeddings {
            word: candle_nn::embedding(config.vocab_size, h, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                config.max_position_embeddings,
                h,
                vb.pp("position_embeddings"),
            )?,
            token_type: candle_nn::embedding(
                config.type_vocab_size,
                h,
                vb.pp("token_type_embeddings"),
            )?,
            norm: candle_nn::layer_norm(h, config.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    /// Returns `[batch * seq_len, hidden]`.
    fn forward(
        &self,
        ids: &Tensor,
        types: &Tensor,
        positions: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let x = self.word.forward(ids)?;
        let x = (x + self.position.forward(positions)?)?;
        let x = (x + self.token_type.forward(types)?)?;
        let (b, s, h) = x.dims3()?;
        self.norm.forward(&x.reshape((b * s, h))?)
    }
}

impl Layer {
    fn load(config: &EncoderConfig, vb: VarBuilder) -> candle_core::Result<Layer> {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let eps = config.layer_norm_eps;
        let attention = vb.pp("attention");
        let parts = ["query", "key", "value"]
            .map(|name| candle_nn::linear(h, h, attention.pp("self").pp(name)));
        let [q, k, v] = parts;
        let (q, k, v) = (q?, k?, v?);
        let weight = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
        let bias = match (q.bias(), k.bias(), v.bias()) {
            (Some(qb), Some(kb), Some(vb)) => Some(Tensor::cat(&[qb, kb, vb], 0)?),
            _ => None,
        };
        Ok(Layer {
            qkv: Linear::new(weight, bias),
            attention_out: candle_nn::linear(h, h, attention.pp("output.dense"))?,
            attention_norm: candle_nn::layer_norm(h, eps, attention.pp("output.LayerNorm"))?,
            intermediate: candle_nn::linear(h, i, vb.pp("intermediate.dense"))?,
            output: candle_nn::linear(i, h, vb.pp("output.dense"))?,
            output_norm: candle_nn::layer_norm(h, eps, vb.pp("output.LayerNorm"))?,
        })
    }

    /// `x` is `[batch * seq_len, hidden]`; `mask` is `[batch, 1, 1, seq_len]`.
    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        config: &EncoderConfig,
    ) -> candle_core::Result<Tensor> {
        let (b, _, _, s) = mask.dims4()?;
        let h = config.hidden_size;
        let heads = config.num_heads;
        let head_dim = h / heads;
        let qkv = self.qkv.forward(x)?;
        let split = |index: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(1, index * h, h)?
                .reshape((b, s, heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let scale = 1.0 / (head_dim as f64).sqrt();
        let q = (split(0)? * scale)?;
        let k = split(1)?;
        let v = split(2)?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b * s, h))?;
        let attended =
            self.attention_norm.forward(&(self.attention_out.forward(&context)? + x)?)?;
        let inner = self.intermediate.forward(&attended)?;
        let inner = match config.hidden_act {
            HiddenAct::GeluErf => inner.gelu_erf()?,
            HiddenAct::GeluTanh => inner.gelu()?,
            HiddenAct::Relu => inner.relu()?,
            HiddenAct::Silu => inner.silu()?,
        };
        self.output_norm.forward(&(self.output.forward(&inner)? + attended)?)
    }
}

impl ClassifierHead {
    fn load(
        config: &EncoderConfig,
        num_labels: usize,
        root: &VarBuilder,
        encoder: &VarBuilder,
    ) -> candle_core::Result<ClassifierHead> {
        let h = config.hidden_size;
        Ok(match config.family {
            Family::Bert => ClassifierHead::Bert {
                pooler: candle_nn::linear(h, h, encoder.pp("pooler.dense"))?,
                classifier: candle_nn::linear(h, num_labels, root.pp("classifier"))?,
            },
            Family::Roberta => ClassifierHead::Roberta {
                dense: candle_nn::linear(h, h, root.pp("classifier.dense"))?,
                out_proj: candle_nn::linear(h, num_labels, root.pp("classifier.out_proj"))?,
            },
            // `load_encoder` sends these to the native encoder only.
            Family::ModernBert | Family::DebertaV2 => {
                return Err(candle_core::Error::Msg(format!(
                    "the candle encoder does not run {:?}",
                    config.family
                )));
            }
        })
    }

    /// `first_tokens` is `[batch, hidden]`, the states of each sequence's first token.
    fn forward(&self, first_tokens: &Tensor) -> candle_core::Result<Tensor> {
        let (dense, out) = match self {
            ClassifierHead::Bert { pooler, classifier } => (pooler, classifier),
            ClassifierHead::Roberta { dense, out_proj } => (dense, out_proj),
        };
        out.forward(&dense.forward(first_tokens)?.tanh()?)
    }
}

impl Encoder for CandleEncoder {
    fn hidden_states(&self, batch: &TokenBatch) -> Result<HiddenStates> {
        let data = self
            .pool
            .install(|| self.encode(batch)?.flatten_all()?.to_vec1::<f32>())
            .map_err(Error::Inference)?;
        Ok(HiddenStates { data, hidden: self.config.hidden_size, seq_len: batch.seq_len })
    }

    /// Padded, so every row is computed already.
    fn hidden_states_every_row(&self, batch: &TokenBatch) -> Result<HiddenStates> {
        self.hidden_states(batch)
    }

    fn classify(&self, batch: &TokenBatch) -> Result<Vec<f32>> {
        let head = self.head.as_ref().ok_or(Error::InvalidOption {
            name: "model",
            message: "the encoder has no classification head".to_string(),
        })?;
        let (b, s, h) = (batch.batch_size, batch.seq_len, self.config.hidden_size);
        self.pool
            .install(|| {
                let states = self.encode(batch)?.reshape((b, s, h))?;
                let first = states.i((.., 0))?.contiguous()?;
                head.forward(&first)?.flatten_all()?.to_vec1::<f32>()
            })
            .map_err(Error::Inference)
    }
}
