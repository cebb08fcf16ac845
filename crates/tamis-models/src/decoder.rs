//! A Qwen2 / Qwen3 decoder on tamis' own kernels, run the way a reranker needs it.
//!
//! A reranker reads one number from the last position of each `prompt + document`
//! sequence, so the forward pass is shaped around that, with three exact shortcuts:
//! - **Shared prefix.** The rows before the first document token (system prompt,
//!   instruction, query) are computed once per query; every document's rows attend to
//!   their keys and values as if the prefix preceded each (`causal_attention`).
//! - **Packing.** Documents lie end to end without padding; positions restart after
//!   the prefix for each, so every token sees the positions it would see alone.
//! - **Last rows only.** The last layer runs attention, MLP and the final norm for the
//!   last row of each document alone; the caller applies two rows of the output head,
//!   never the vocabulary-wide projection.

mod config;
mod tensors;

use std::sync::Arc;

use tamis_kernels::{AttentionProducts, CausalSegment, Linear, RopeTable};

pub use config::{DecoderConfig, DecoderFamily, is_causal_lm};
pub(crate) use tensors::{Tensors, Values};

use crate::Result;
use crate::runtime::Precision;

/// One query's rows: a shared prefix and the documents that follow it.
#[derive(Debug, Clone)]
pub(crate) struct Group<'a> {
    pub(crate) prefix: &'a [u32],
    pub(crate) documents: Vec<&'a [u32]>,
}

/// A Qwen2 / Qwen3 decoder, weights laid out for `tamis-kernels`.
#[derive(Debug)]
pub(crate) struct Decoder {
    config: DecoderConfig,
    embeddings: Values,
    layers: Vec<Layer>,
    final_norm: Vec<f32>,
    rope: RopeTable,
    /// The attention products' precision: bf16 with the dense layers' bf16, else `f32`.
    attention: AttentionProducts,
    pool: Arc<rayon::ThreadPool>,
}

#[derive(Debug)]
struct Layer {
    input_norm: Vec<f32>,
    /// Q, K and V fused: `[(heads + 2·kv_heads)·head_dim, hidden]`.
    qkv: Linear,
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    o: Linear,
    post_norm: Vec<f32>,
    /// The gate and up projections fused: `[2·intermediate, hidden]`.
    gate_up: Linear,
    down: Linear,
}

impl Decoder {
    /// Builds the decoder from `tensors` (consumed; the output head's rows are left for
    /// the caller), with rotary tables for `max_positions` positions.
    pub(crate) fn load(
        config: DecoderConfig,
        tensors: &mut Tensors,
        max_positions: usize,
        pool: Arc<rayon::ThreadPool>,
    ) -> Result<Decoder> {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let (q, kv) = (config.num_heads * config.head_dim, config.num_kv_heads * config.head_dim);
        let embeddings = tensors.take("model.embed_tokens.weight", &[config.vocab_size, h])?;
        let mut layers = Vec::with_capacity(config.num_layers);
        for l in 0..config.num_layers {
            let p = format!("model.layers.{l}");
            let norm =
                |t: &mut Tensors, name: &str, len| t.vector(&format!("{p}.{name}.weight"), len);
            let attn = format!("{p}.self_attn");
            let parts = [
                (format!("{attn}.q_proj"), q),
                (format!("{attn}.k_proj"), kv),
                (format!("{attn}.v_proj"), kv),
            ];
            let parts: Vec<(&str, usize)> = parts.iter().map(|(n, o)| (n.as_str(), *o)).collect();
            let mlp = format!("{p}.mlp");
            let (gate, up) = (format!("{mlp}.gate_proj"), format!("{mlp}.up_proj"));
            layers.push(Layer {
                input_norm: norm(tensors, "input_layernorm", h)?,
                qkv: tensors.linear(&parts, h, config.qkv_bias)?,
                q_norm: match config.qk_norm {
                    true => Some(norm(tensors, "self_attn.q_norm", config.head_dim)?),
                    false => None,
                },
                k_norm: match config.qk_norm {
                    true => Some(norm(tensors, "self_attn.k_norm", config.head_dim)?),
                    false => None,
                },
                o: tensors.linear(&[(&format!("{attn}.o_proj"), h)], q, config.o_bias)?,
                post_norm: norm(tensors, "post_attention_layernorm", h)?,
                gate_up: tensors.linear(&[(&gate, i), (&up, i)], h, false)?,
                down: tensors.linear(&[(&format!("{mlp}.down_proj"), h)], i, false)?,
            });
        }
        let final_norm = tensors.vector("model.norm.weight", h)?;
        let rope = RopeTable::new(config.head_dim, config.rope_theta as f32, max_positions);
        let attention = AttentionProducts::F32;
        Ok(Decoder { config, embeddings, layers, final_norm, rope, attention, pool })
    }

    /// The decoder with its layers' dense products in `precision`, and attention's in bf16
    /// when that is bf16 (the embeddings and the output head's rows stay as loaded).
    pub(crate) fn with_precision(mut self, precision: Precision) -> Decoder {
        for layer in &mut self.layers {
            for linear in [&mut layer.qkv, &mut layer.o, &mut layer.gate_up, &mut layer.down] {
                precision.convert(linear);
            }
        }
        self.attention = precision.attention();
        self
    }

    pub(crate) fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// The rotary position table.
    #[cfg(test)]
    pub(crate) fn rope(&self) -> &RopeTable {
        &self.rope
    }

    /// The embedding table, which tied models also use as their output head.
    pub(crate) fn embeddings(&self) -> &Values {
        &self.embeddings
    }

    /// The final, normalized hidden state of each document's last token, `[documents,
    /// hidden]` in the groups' order. All groups run in one pass.
    pub(crate) fn last_states(&self, groups: &[Group<'_>]) -> Vec<f32> {
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let (mut segments, mut last) = (Vec::new(), Vec::new());
        for group in groups {
            let prefix_start = ids.len();
            let prefix = group.prefix.len();
            ids.extend_from_slice(group.prefix);
            positions.extend(0..prefix);
            if prefix > 0 {
                segments.push(CausalSegment::alone(prefix_start, prefix));
                // The prefix's keys and values serve the documents; no output row is read.
                last.push(CausalSegment {
                    queries: 0,
                    ..CausalSegment::alone(prefix_start, prefix)
                });
            }
            for document in &group.documents {
                let segment = CausalSegment {
                    start: ids.len(),
                    rows: document.len(),
                    context_start: prefix_start,
                    context_rows: prefix,
                    queries: document.len(),
                };
                ids.extend_from_slice(document);
                positions.extend(prefix..prefix + document.len());
                segments.push(segment);
                last.push(CausalSegment { queries: document.len().min(1), ..segment });
            }
        }
        self.forward(&ids, &positions, &segments, &last)
    }

    /// Runs the layers over packed `ids` at `positions`: every layer but the last over
    /// `segments`, the last over `last` (the same rows, with fewer queries). Returns the
    /// final-normed states of `last`'s query rows, in order.
    pub(crate) fn forward(
        &self,
        ids: &[u32],
        positions: &[usize],
        segments: &[CausalSegment],
        last: &[CausalSegment],
    ) -> Vec<f32> {
        let c = &self.config;
        let (h, inter, rows) = (c.hidden_size, c.intermediate_size, ids.len());
        let shape = c.head_shape();
        let (q_width, width) = (shape.q_width(), shape.qkv_width());
        let eps = c.rms_norm_eps as f32;
        self.pool.install(|| {
            let threads = self.pool.current_num_threads();
            let mut x = vec![0.0f32; rows * h];
            for (row, &id) in x.chunks_exact_mut(h).zip(ids) {
                self.embeddings.row_into(id as usize, h, row);
            }
            let mut normed = vec![0.0f32; rows * h];
            let mut qkv = vec![0.0f32; rows * width];
            let mut attended = vec![0.0f32; rows * q_width];
            let mut gate_up = vec![0.0f32; rows * 2 * inter];
            let mut gated = vec![0.0f32; rows * inter];
            let count = self.layers.len();
            for (l, layer) in self.layers.iter().enumerate() {
                normed.copy_from_slice(&x);
                tamis_kernels::rms_norm(&mut normed, h, &layer.input_norm, eps);
                layer.qkv.forward(&normed, rows, None, &mut qkv, threads);
                if let (Some(q_norm), Some(k_norm)) = (&layer.q_norm, &layer.k_norm) {
                    let (heads, kv, d) = (shape.heads, shape.kv_heads, shape.head_dim);
                    tamis_kernels::rms_norm_heads(&mut qkv, width, 0, heads, d, q_norm, eps);
                    tamis_kernels::rms_norm_heads(&mut qkv, width, q_width, kv, d, k_norm, eps);
                }
                // The key heads follow the query heads: one rotation covers both.
                self.rope.apply(&mut qkv, width, 0, shape.heads + shape.kv_heads, positions);
                if l + 1 < count {
                    tamis_kernels::causal_attention_with(
                        self.attention,
                        &qkv,
                        shape,
                        segments,
                        &mut attended,
                    );
                    // `x + o(attention)` into the free buffer, which then becomes `x`.
                    layer.o.forward(&attended, rows, Some(&x), &mut normed, threads);
                    std::mem::swap(&mut x, &mut normed);
                    self.mlp(layer, &mut x, &mut normed, &mut gate_up, &mut gated, rows, threads);
                    continue;
                }
                // The last layer: only the rows that are read go past attention.
                tamis_kernels::causal_attention_with(
                    self.attention,
                    &qkv,
                    shape,
                    last,
                    &mut attended,
                );
                let picked: Vec<usize> = last
                    .iter()
                    .flat_map(|s| s.start + s.rows - s.queries..s.start + s.rows)
                    .collect();
                let m = picked.len();
                let gather = |buffer: &[f32], w: usize| -> Vec<f32> {
                    picked.iter().flat_map(|&r| buffer[r * w..][..w].iter().copied()).collect()
                };
                let (attended, x_picked) = (gather(&attended, q_width), gather(&x, h));
                let mut out = vec![0.0f32; m * h];
                layer.o.forward(&attended, m, Some(&x_picked), &mut out, threads);
                let mut scratch = vec![0.0f32; m * h];
                gate_up.truncate(m * 2 * inter);
                gated.truncate(m * inter);
                self.mlp(layer, &mut out, &mut scratch, &mut gate_up, &mut gated, m, threads);
                tamis_kernels::rms_norm(&mut out, h, &self.final_norm, eps);
                return out;
            }
            unreachable!("a decoder has at least one layer (checked by DecoderConfig)")
        })
    }

    /// `x += down(swiglu(gate_up(rms_norm(x))))` over `rows` rows, with `normed`,
    /// `gate_up` and `gated` as scratch.
    #[allow(clippy::too_many_arguments)]
    fn mlp(
        &self,
        layer: &Layer,
        x: &mut Vec<f32>,
        normed: &mut Vec<f32>,
        gate_up: &mut [f32],
        gated: &mut [f32],
        rows: usize,
        threads: usize,
    ) {
        let (h, inter) = (self.config.hidden_size, self.config.intermediate_size);
        normed.copy_from_slice(x);
        tamis_kernels::rms_norm(normed, h, &layer.post_norm, self.config.rms_norm_eps as f32);
        layer.gate_up.forward(normed, rows, None, gate_up, threads);
        tamis_kernels::swiglu(gate_up, rows, inter, gated);
        // `normed` is free again: write `x + down(...)` there, then swap.
        layer.down.forward(gated, rows, Some(x), normed, threads);
        std::mem::swap(x, normed);
    }
}
