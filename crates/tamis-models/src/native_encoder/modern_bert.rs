//! ModernBERT on tamis' kernels: the layers of transformers' `ModernBertModel`, run
//! packed as its flash-attention path runs them (no padding rows, each sequence
//! attending to its own keys).
//!
//! A layer is pre-norm: `x += Wo·attention(rope(Wqkv·norm(x)))`, then
//! `x += Wo·GeGLU(Wi·norm(x))`; layer 0 has no attention norm, and a final norm closes
//! the stack. Layer `i` attends globally when `i % global_every == 0`, else to the keys
//! within `local_attention / 2` rows (`Reach::Local`), each kind with its own rotary
//! base. The classifier pools (first token or mean over the real tokens), then
//! `dense → activation → norm → classifier`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::Tensor;
use tamis_kernels::{AttentionProducts, Linear, Reach, RopeTable, Segment};

use super::{Norm, SPARE_BUFFERS, Tensors, Wanted, kernel_activation, padded_layout, to_padded};
use crate::config::{ClassifierPooling, EncoderConfig, ModernBertConfig};
use crate::encoder::{Encoder, HiddenStates, TokenBatch};
use crate::runtime::Precision;
use crate::{Error, Result};

/// A ModernBERT encoder with weights laid out for `tamis-kernels`.
#[derive(Debug)]
pub(crate) struct ModernBertEncoder {
    config: EncoderConfig,
    modern: ModernBertConfig,
    word: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    final_norm: Norm,
    head: Option<Head>,
    global_rope: RopeTable,
    local_rope: RopeTable,
    /// The last layer's Q and K+V projections apart: a first-token classifier reads
    /// only that token's final state, so its last layer needs Q for it alone.
    last_q: Linear,
    last_kv: Linear,
    pool: Arc<rayon::ThreadPool>,
    packing: bool,
    spare: Mutex<Vec<Buffers>>,
}

#[derive(Debug)]
struct Layer {
    /// `None` in layer 0, whose input is the embeddings' norm already.
    attention_norm: Option<Norm>,
    qkv: Linear,
    attention_out: Linear,
    mlp_norm: Norm,
    /// `Wi`: the GeGLU's input half, then its gate half.
    input_gate: Linear,
    output: Linear,
    reach: Reach,
}

#[derive(Debug)]
struct Head {
    dense: Linear,
    norm: Norm,
    classifier: Linear,
}

/// What the last layer reads: its input, and that input through the attention norm.
struct LastLayer<'a> {
    x: &'a [f32],
    normed: &'a [f32],
    rope: &'a RopeTable,
}

/// The activation buffers a pass writes before reading.
#[derive(Debug, Default)]
struct Buffers {
    normed: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    next: Vec<f32>,
    input_gate: Vec<f32>,
    inner: Vec<f32>,
}

impl ModernBertEncoder {
    /// Builds the encoder from the tensors of the model in `dir` (`model.`-prefixed as
    /// `ModernBertForSequenceClassification` saves them, or bare as `ModernBertModel`).
    pub(crate) fn load(
        dir: &Path,
        config: EncoderConfig,
        tensors: HashMap<String, Tensor>,
        pool: Arc<rayon::ThreadPool>,
        packing: bool,
    ) -> Result<ModernBertEncoder> {
        let modern = config.modern_bert.clone().ok_or_else(|| Error::BadConfig {
            path: dir.join("config.json"),
            message: "not a ModernBERT configuration".to_string(),
        })?;
        let prefix = ["", "model."]
            .into_iter()
            .find(|p| tensors.contains_key(&format!("{p}embeddings.tok_embeddings.weight")))
            .ok_or_else(|| {
                crate::weights::weights_error(
                    dir,
                    "no embeddings.tok_embeddings.weight tensor (with or without a model. prefix)"
                        .to_owned(),
                )
            })?;
        let t = Tensors { dir, map: &tensors };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let word = t.values(
            &format!("{prefix}embeddings.tok_embeddings.weight"),
            &[config.vocab_size, h],
        )?;
        let embedding_norm = t.norm_bias_optional(&format!("{prefix}embeddings.norm"), h)?;
        let layers = (0..config.num_layers)
            .map(|n| {
                let l = format!("{prefix}layers.{n}");
                let attention_norm = match n {
                    0 => None,
                    _ => Some(t.norm_bias_optional(&format!("{l}.attn_norm"), h)?),
                };
                Ok(Layer {
                    attention_norm,
                    qkv: t.linear(&format!("{l}.attn.Wqkv"), 3 * h, h)?,
                    attention_out: t.linear(&format!("{l}.attn.Wo"), h, h)?,
                    mlp_norm: t.norm_bias_optional(&format!("{l}.mlp_norm"), h)?,
                    input_gate: t.linear(&format!("{l}.mlp.Wi"), 2 * i, h)?,
                    output: t.linear(&format!("{l}.mlp.Wo"), h, i)?,
                    reach: match modern.is_global(n) {
                        true => Reach::Global,
                        false => Reach::Local(modern.local_reach),
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let last = layers.last().ok_or_else(|| {
            crate::weights::weights_error(dir, "config.json declares no layers".to_owned())
        })?;
        let (last_q, last_kv) = (last.qkv.outputs(0..h), last.qkv.outputs(h..3 * h));
        let final_norm = t.norm_bias_optional(&format!("{prefix}final_norm"), h)?;
        let head = match config.head {
            crate::config::Head::None => None,
            crate::config::Head::Classifier { num_labels } => Some(Head {
                dense: t.linear("head.dense", h, h)?,
                norm: t.norm_bias_optional("head.norm", h)?,
                classifier: t.linear("classifier", num_labels, h)?,
            }),
        };
        let head_dim = h / config.num_heads;
        let positions = config.max_position_embeddings;
        let global_rope = RopeTable::new(head_dim, modern.global_rope_theta, positions);
        let local_rope = RopeTable::new(head_dim, modern.local_rope_theta, positions);
        Ok(ModernBertEncoder {
            config,
            modern,
            word,
            embedding_norm,
            layers,
            final_norm,
            head,
            global_rope,
            local_rope,
            last_q,
            last_kv,
            pool,
            packing,
            spare: Mutex::default(),
        })
    }

    /// The encoder with its layers' dense products in `precision` (attention's products
    /// stay `f32`: the local layers' blocks are small, and the global ones take their
    /// queries in blocks that bf16's packing does not serve yet).
    pub(crate) fn with_precision(mut self, precision: Precision) -> ModernBertEncoder {
        for layer in &mut self.layers {
            for linear in
                [&mut layer.qkv, &mut layer.attention_out, &mut layer.input_gate, &mut layer.output]
            {
                precision.convert(linear);
            }
        }
        precision.convert(&mut self.last_q);
        precision.convert(&mut self.last_kv);
        self
    }

    /// The final (normed) states of the rows `wanted` asks for, and each sequence's
    /// place among them.
    fn encode(&self, batch: &TokenBatch, wanted: Wanted) -> Result<(Vec<f32>, Vec<Segment>)> {
        let c = &self.config;
        let every_row = wanted == Wanted::EveryRow || !self.packing;
        let (ids, positions, segments) = padded_layout(batch, every_row);
        for (&id, &position) in ids.iter().zip(&positions) {
            if id as usize >= c.vocab_size || position >= c.max_position_embeddings {
                return Err(Error::InvalidOption {
                    name: "input",
                    message: format!(
                        "token {id} at position {position} is outside the model's tables \
                         ({} tokens, {} positions): does tokenizer.json belong to this model?",
                        c.vocab_size, c.max_position_embeddings
                    ),
                });
            }
        }
        let (rows, h, inner_width) = (ids.len(), c.hidden_size, c.intermediate_size);
        let mut x = vec![0.0f32; rows * h];
        for (row, &id) in x.chunks_exact_mut(h).zip(&ids) {
            row.copy_from_slice(&self.word[id as usize * h..][..h]);
        }
        let eps = c.layer_norm_eps as f32;
        let activation = kernel_activation(c.hidden_act);
        Ok(self.pool.install(|| {
            let threads = self.pool.current_num_threads();
            let norm = &self.embedding_norm;
            tamis_kernels::layer_norm(&mut x, h, &norm.gamma, &norm.beta, eps);
            let mut buffers =
                self.spare.lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default();
            let Buffers { normed, qkv, context, next, input_gate, inner } = &mut buffers;
            for (buffer, width) in [
                (&mut *normed, h),
                (&mut *qkv, 3 * h),
                (&mut *context, h),
                (&mut *next, h),
                (&mut *input_gate, 2 * inner_width),
                (&mut *inner, inner_width),
            ] {
                buffer.resize(rows * width, 0.0);
            }
            let first_only = wanted == Wanted::FirstTokens
                && self.modern.classifier_pooling == ClassifierPooling::First;
            let last = self.layers.len() - 1;
            let mut firsts = None;
            for (index, layer) in self.layers.iter().enumerate() {
                let attention_input = match &layer.attention_norm {
                    Some(norm) => {
                        normed.copy_from_slice(&x);
                        tamis_kernels::layer_norm(normed, h, &norm.gamma, &norm.beta, eps);
                        &normed[..]
                    }
                    None => &x[..],
                };
                let rope = match layer.reach {
                    Reach::Global => &self.global_rope,
                    Reach::Local(_) => &self.local_rope,
                };
                if first_only && index == last {
                    let inputs = LastLayer { x: &x, normed: attention_input, rope };
                    firsts = Some(self.last_layer_first_tokens(
                        layer, inputs, &segments, &positions, qkv, context,
                    ));
                    break;
                }
                layer.qkv.forward(attention_input, rows, None, qkv, threads);
                // Queries and keys are 2·heads consecutive heads from column 0.
                rope.apply(qkv, 3 * h, 0, 2 * c.num_heads, &positions);
                tamis_kernels::attention_reaching(
                    AttentionProducts::F32,
                    layer.reach,
                    qkv,
                    &segments,
                    c.num_heads,
                    h,
                    context,
                );
                layer.attention_out.forward(context, rows, Some(&x), next, threads);
                std::mem::swap(&mut x, next);
                normed.copy_from_slice(&x);
                let norm = &layer.mlp_norm;
                tamis_kernels::layer_norm(normed, h, &norm.gamma, &norm.beta, eps);
                layer.input_gate.forward(normed, rows, None, input_gate, threads);
                tamis_kernels::gated(input_gate, rows, inner_width, activation, inner);
                layer.output.forward(inner, rows, Some(&x), next, threads);
                std::mem::swap(&mut x, next);
            }
            let (mut states, segments) = firsts.unwrap_or((x, segments));
            let norm = &self.final_norm;
            tamis_kernels::layer_norm(&mut states, h, &norm.gamma, &norm.beta, eps);
            let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
            if spare.len() < SPARE_BUFFERS {
                spare.push(buffers);
            }
            (states, segments)
        }))
    }

    /// The last layer for each sequence's first token only (an exact shortcut): K and V
    /// of every row, which the first token attends to, then Q, attention, the output
    /// projection and the MLP for one row per sequence. Returns `[batch, hidden]` before
    /// the final norm.
    fn last_layer_first_tokens(
        &self,
        layer: &Layer,
        inputs: LastLayer<'_>,
        segments: &[Segment],
        positions: &[usize],
        qkv: &mut [f32],
        context: &mut [f32],
    ) -> (Vec<f32>, Vec<Segment>) {
        let c = &self.config;
        let (h, inner_width) = (c.hidden_size, c.intermediate_size);
        let (rows, b) = (inputs.x.len() / h, segments.len());
        let threads = self.pool.current_num_threads();
        let gather = |from: &[f32]| -> Vec<f32> {
            segments.iter().flat_map(|s| &from[s.start * h..][..h]).copied().collect()
        };
        self.last_kv.forward_strided(inputs.normed, rows, None, &mut qkv[h..], 3 * h, threads);
        let mut first_q = vec![0.0f32; b * h];
        self.last_q.forward(&gather(inputs.normed), b, None, &mut first_q, threads);
        for (s, q) in segments.iter().zip(first_q.chunks_exact(h)) {
            qkv[s.start * 3 * h..][..h].copy_from_slice(q);
        }
        // The keys rotate by their positions; each query sits at position 0, where the
        // rotation is exactly the identity (cos 1, sin 0).
        inputs.rope.apply(qkv, 3 * h, h, c.num_heads, positions);
        let firsts: Vec<Segment> = segments.iter().map(|s| Segment { queries: 1, ..*s }).collect();
        let products = AttentionProducts::F32;
        tamis_kernels::attention_reaching(
            products,
            layer.reach,
            qkv,
            &firsts,
            c.num_heads,
            h,
            context,
        );
        let mut attended = vec![0.0f32; b * h];
        let first_x = gather(inputs.x);
        layer.attention_out.forward(&gather(context), b, Some(&first_x), &mut attended, threads);
        let mut normed = attended.clone();
        let (norm, eps) = (&layer.mlp_norm, c.layer_norm_eps as f32);
        tamis_kernels::layer_norm(&mut normed, h, &norm.gamma, &norm.beta, eps);
        let mut input_gate = vec![0.0f32; b * 2 * inner_width];
        layer.input_gate.forward(&normed, b, None, &mut input_gate, threads);
        let mut inner = vec![0.0f32; b * inner_width];
        let activation = kernel_activation(c.hidden_act);
        tamis_kernels::gated(&input_gate, b, inner_width, activation, &mut inner);
        let mut out = vec![0.0f32; b * h];
        layer.output.forward(&inner, b, Some(&attended), &mut out, threads);
        (out, (0..b).map(|i| Segment::packed(i, 1)).collect())
    }

    /// What the classifier pools from each sequence's final states, `[batch, hidden]`.
    fn pooled(&self, states: &[f32], segments: &[Segment]) -> Vec<f32> {
        let h = self.config.hidden_size;
        let mut pooled = vec![0.0f32; segments.len() * h];
        for (out, s) in pooled.chunks_exact_mut(h).zip(segments) {
            match self.modern.classifier_pooling {
                ClassifierPooling::First => out.copy_from_slice(&states[s.start * h..][..h]),
                ClassifierPooling::Mean => {
                    for row in states[s.start * h..][..s.keys * h].chunks_exact(h) {
                        out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
                    }
                    let inverse = 1.0 / s.keys as f32;
                    out.iter_mut().for_each(|o| *o *= inverse);
                }
            }
        }
        pooled
    }
}

impl Encoder for ModernBertEncoder {
    fn hidden_states(&self, batch: &TokenBatch) -> Result<HiddenStates> {
        let (states, segments) = self.encode(batch, Wanted::AllTokens)?;
        Ok(to_padded(&states, &segments, batch, self.config.hidden_size))
    }

    fn hidden_states_every_row(&self, batch: &TokenBatch) -> Result<HiddenStates> {
        let (states, segments) = self.encode(batch, Wanted::EveryRow)?;
        Ok(to_padded(&states, &segments, batch, self.config.hidden_size))
    }

    fn classify(&self, batch: &TokenBatch) -> Result<Vec<f32>> {
        let head = self.head.as_ref().ok_or(Error::InvalidOption {
            name: "model",
            message: "the encoder has no classification head".to_string(),
        })?;
        let (states, segments) = self.encode(batch, Wanted::FirstTokens)?;
        let (b, h) = (segments.len(), self.config.hidden_size);
        let pooled = self.pooled(&states, &segments);
        let mut dense = vec![0.0f32; b * h];
        head.dense.forward(&pooled, b, None, &mut dense, 1);
        kernel_activation(self.modern.classifier_activation).apply(&mut dense);
        let eps = self.config.layer_norm_eps as f32;
        tamis_kernels::layer_norm(&mut dense, h, &head.norm.gamma, &head.norm.beta, eps);
        let mut logits = vec![0.0f32; b * head.classifier.out_features()];
        head.classifier.forward(&dense, b, None, &mut logits, 1);
        Ok(logits)
    }
}
