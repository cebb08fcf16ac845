//! The encoder on tamis' own CPU kernels (`tamis-kernels`), the default [`Encoder`].
//!
//! What it does differently from a padded tensor runtime, and why it is faster:
//! - **Packing.** A batch's sequences are laid end to end without padding rows: the
//!   dense layers run over real tokens only, and attention runs per sequence over its
//!   own keys (`tamis_kernels::attention`).
//! - **Fewer passes.** Q, K and V are one GEMM; biases and residuals are written into
//!   the output before the product accumulates onto them; attention reads Q/K/V in
//!   place through strides instead of copying per-head tensors.
//! - **No allocation per layer.** The activation buffers are sized once per forward
//!   pass and reused by every layer, and kept for the next pass (fresh pages cost the
//!   kernel's page clearing, 3–4 % of a reranking call).
//!
//! With `packing` off it runs padded batches (padding rows computed, masked as keys),
//! the way padded runtimes do: the packed-vs-padded test compares the two.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::Tensor;
use tamis_kernels::{AttentionProducts, Linear, Segment};

use crate::config::{EncoderConfig, Family, Head, HiddenAct};
use crate::encoder::{Encoder, HiddenStates, TokenBatch};
use crate::runtime::Precision;
use crate::{Error, Result};

mod modern_bert;

pub(crate) use modern_bert::ModernBertEncoder;

/// A BERT / XLM-RoBERTa / DeBERTa-v2 encoder with weights laid out for `tamis-kernels`.
#[derive(Debug)]
pub struct NativeEncoder {
    config: EncoderConfig,
    word: Vec<f32>,
    /// Absolute positions (DeBERTa-v3 has none).
    position: Option<Vec<f32>>,
    /// Token types (DeBERTa-v3 has none).
    token_type: Option<Vec<f32>>,
    /// DeBERTa's relative positions.
    relative: Option<Relative>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    head: Option<ClassifierHead>,
    /// The last layer's Q and K+V projections apart: a classifier reads only the first
    /// token's final state, so its last layer needs Q for that token alone.
    last_q: Linear,
    last_kv: Linear,
    /// bf16 where the dense products are bf16, `f32` otherwise.
    attention: AttentionProducts,
    pool: Arc<rayon::ThreadPool>,
    packing: bool,
    /// Activation buffers of finished passes, for the next ones.
    spare: Mutex<Vec<Buffers>>,
}

/// The activation buffers a forward pass writes before reading (so they may hold a
/// previous pass's values when handed out).
#[derive(Debug, Default)]
struct Buffers {
    qkv: Vec<f32>,
    context: Vec<f32>,
    attended: Vec<f32>,
    inner: Vec<f32>,
}

/// Sets of [`Buffers`] kept between passes: one per pass running at once, up to this.
const SPARE_BUFFERS: usize = 2;

/// Which final states a forward pass must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// Every token's (pooling).
    AllTokens,
    /// Each sequence's first token only (classification heads): the last layer then
    /// computes attention, FFN and norms for one row per sequence, an exact shortcut
    /// that saves about 5/6 of that layer.
    FirstTokens,
    /// Every row of the padded batch, padding rows computed (never keys), even when
    /// packing: ColBERT's query expansion reads them.
    EveryRow,
}

#[derive(Debug)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

#[derive(Debug)]
struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// Dense + tanh on the first token, then the output projection (BERT's pooler and
/// classifier, or RoBERTa's `classifier.dense` and `classifier.out_proj`); DeBERTa's
/// pooler has its own activation.
#[derive(Debug)]
struct ClassifierHead {
    dense: Linear,
    /// `None`: tanh.
    activation: Option<HiddenAct>,
    out: Linear,
}

/// DeBERTa's relative positions: each layer's relative embeddings through its position
/// projections, computed once at load (they depend on no input), and the bucket of
/// every distance up to the longest sequence.
#[derive(Debug)]
struct Relative {
    layers: Vec<RelativeTables>,
    span: usize,
    /// `buckets[d + max_position_embeddings − 1]`: the bucket of distance `d`.
    buckets: Vec<i32>,
}

/// One layer's `[2·span, hidden]` tables for the c2p and p2c terms.
#[derive(Debug)]
struct RelativeTables {
    keys: Option<Vec<f32>>,
    queries: Option<Vec<f32>>,
}

/// Looks tensors up by name and hands them over as `f32` values.
struct Tensors<'a> {
    dir: &'a Path,
    map: &'a HashMap<String, Tensor>,
}

impl Tensors<'_> {
    fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        crate::weights::f32_values(self.dir, self.map, name, shape)
    }

    fn linear(&self, prefix: &str, out_features: usize, in_features: usize) -> Result<Linear> {
        let weight = self.values(&format!("{prefix}.weight"), &[out_features, in_features])?;
        let bias = match self.map.contains_key(&format!("{prefix}.bias")) {
            true => Some(self.values(&format!("{prefix}.bias"), &[out_features])?),
            false => None,
        };
        Ok(Linear::from_torch(&weight, bias.as_deref(), out_features, in_features))
    }

    fn norm(&self, prefix: &str, width: usize) -> Result<Norm> {
        Ok(Norm {
            gamma: self.values(&format!("{prefix}.weight"), &[width])?,
            beta: self.values(&format!("{prefix}.bias"), &[width])?,
        })
    }

    /// A LayerNorm whose bias is zero where the checkpoint has none (`bias=False`).
    fn norm_bias_optional(&self, prefix: &str, width: usize) -> Result<Norm> {
        match self.map.contains_key(&format!("{prefix}.bias")) {
            true => self.norm(prefix, width),
            false => Ok(Norm {
                gamma: self.values(&format!("{prefix}.weight"), &[width])?,
                beta: vec![0.0; width],
            }),
        }
    }
}

/// DeBERTa's relative tables: `rel_embeddings` (through the encoder's LayerNorm where
/// `norm_rel_ebd` says) projected by each layer's position projections (its key and
/// query projections where `share_att_key`), and the bucket of every distance.
fn relative(
    t: &Tensors<'_>,
    prefix: &str,
    config: &EncoderConfig,
    d: &crate::config::DebertaConfig,
) -> Result<Relative> {
    let (h, span) = (config.hidden_size, d.span());
    let mut table = t.values(&format!("{prefix}encoder.rel_embeddings.weight"), &[2 * span, h])?;
    if d.norm_relative_embeddings {
        let norm = t.norm(&format!("{prefix}encoder.LayerNorm"), h)?;
        let eps = config.layer_norm_eps as f32;
        tamis_kernels::layer_norm(&mut table, h, &norm.gamma, &norm.beta, eps);
    }
    let project = |name: String| -> Result<Vec<f32>> {
        let mut out = vec![0.0f32; 2 * span * h];
        t.linear(&name, h, h)?.forward(&table, 2 * span, None, &mut out, 1);
        Ok(out)
    };
    let layers = (0..config.num_layers)
        .map(|n| {
            let l = format!("{prefix}encoder.layer.{n}.attention.self");
            let (keys, queries) = match d.share_att_key {
                true => (format!("{l}.key_proj"), format!("{l}.query_proj")),
                false => (format!("{l}.pos_key_proj"), format!("{l}.pos_query_proj")),
            };
            Ok(RelativeTables {
                keys: d.c2p.then(|| project(keys)).transpose()?,
                queries: d.p2c.then(|| project(queries)).transpose()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let longest = config.max_position_embeddings as i64;
    let buckets = (1 - longest..longest).map(|distance| d.bucket(distance) as i32).collect();
    Ok(Relative { layers, span, buckets })
}

/// The kernels' name of an activation.
fn kernel_activation(act: HiddenAct) -> tamis_kernels::Activation {
    match act {
        HiddenAct::GeluErf => tamis_kernels::Activation::GeluErf,
        HiddenAct::GeluTanh => tamis_kernels::Activation::GeluTanh,
        HiddenAct::Relu => tamis_kernels::Activation::Relu,
        HiddenAct::Silu => tamis_kernels::Activation::Silu,
    }
}

/// ModernBERT given to the BERT encoder (`load_encoder` gives it its own).
fn not_bert(dir: &Path) -> Error {
    Error::BadConfig {
        path: dir.join("config.json"),
        message: "ModernBERT runs on its own encoder, not BERT's".to_string(),
    }
}

/// The rows of a right-padded batch to compute, their positions within their sequence,
/// and each sequence's place among them: the real tokens only, or every padded row
/// where `every_row` asks (padding rows are then queries, never keys).
fn padded_layout(batch: &TokenBatch, every_row: bool) -> (Vec<u32>, Vec<usize>, Vec<Segment>) {
    let mut ids = Vec::with_capacity(batch.input_ids.len());
    let mut positions = Vec::with_capacity(batch.input_ids.len());
    let mut segments = Vec::with_capacity(batch.batch_size);
    for b in 0..batch.batch_size {
        let span = b * batch.seq_len..(b + 1) * batch.seq_len;
        // Batches are right-padded: the real tokens are the leading ones.
        let len = batch.attention_mask[span.clone()].iter().take_while(|&&m| m == 1).count().max(1);
        let width = if every_row { batch.seq_len } else { len };
        segments.push(Segment { start: ids.len(), rows: width, keys: len, queries: width });
        ids.extend_from_slice(&batch.input_ids[span][..width]);
        positions.extend(0..width);
    }
    (ids, positions, segments)
}

/// Final states laid end to end (`segments`) back in the padded `[batch, seq_len,
/// hidden]` layout callers pool over; rows past a segment stay 0.
fn to_padded(states: &[f32], segments: &[Segment], batch: &TokenBatch, h: usize) -> HiddenStates {
    let mut data = vec![0.0f32; batch.batch_size * batch.seq_len * h];
    for (b, segment) in segments.iter().enumerate() {
        let rows = segment.rows.min(batch.seq_len);
        data[b * batch.seq_len * h..][..rows * h]
            .copy_from_slice(&states[segment.start * h..][..rows * h]);
    }
    HiddenStates { data, hidden: h, seq_len: batch.seq_len }
}

impl NativeEncoder {
    /// Builds the encoder from the tensors of the model in `dir`; `packing` chooses
    /// packed (default) or padded execution.
    pub fn load(
        dir: &Path,
        config: EncoderConfig,
        tensors: HashMap<String, Tensor>,
        pool: Arc<rayon::ThreadPool>,
        packing: bool,
    ) -> Result<NativeEncoder> {
        if config.family == Family::ModernBert {
            return Err(not_bert(dir));
        }
        let prefix = crate::weights::encoder_prefix(dir, &tensors)?;
        let t = Tensors { dir, map: &tensors };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let e = format!("{prefix}embeddings");
        let word = t.values(&format!("{e}.word_embeddings.weight"), &[config.vocab_size, h])?;
        let deberta = config.deberta.as_ref();
        let position = match deberta.is_none_or(|d| d.position_biased_input) {
            true => Some(t.values(
                &format!("{e}.position_embeddings.weight"),
                &[config.max_position_embeddings, h],
            )?),
            false => None,
        };
        let token_type = match config.type_vocab_size {
            0 => None,
            types => Some(t.values(&format!("{e}.token_type_embeddings.weight"), &[types, h])?),
        };
        let embedding_norm = t.norm(&format!("{e}.LayerNorm"), h)?;
        let parts = match deberta {
            Some(_) => ["query_proj", "key_proj", "value_proj"],
            None => ["query", "key", "value"],
        };
        let relative = match deberta {
            Some(d) if d.relative_attention => Some(relative(&t, prefix, &config, d)?),
            _ => None,
        };
        let layers = (0..config.num_layers)
            .map(|n| {
                let l = format!("{prefix}encoder.layer.{n}");
                // Q, K and V stacked into one [3h, h] projection: one GEMM instead of three.
                let mut weight = Vec::with_capacity(3 * h * h);
                let mut bias = Vec::with_capacity(3 * h);
                for part in parts {
                    let p = format!("{l}.attention.self.{part}");
                    weight.extend(t.values(&format!("{p}.weight"), &[h, h])?);
                    bias.extend(t.values(&format!("{p}.bias"), &[h])?);
                }
                Ok(Layer {
                    qkv: Linear::from_torch(&weight, Some(&bias), 3 * h, h),
                    attention_out: t.linear(&format!("{l}.attention.output.dense"), h, h)?,
                    attention_norm: t.norm(&format!("{l}.attention.output.LayerNorm"), h)?,
                    intermediate: t.linear(&format!("{l}.intermediate.dense"), i, h)?,
                    output: t.linear(&format!("{l}.output.dense"), h, i)?,
                    output_norm: t.norm(&format!("{l}.output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let head = match config.head {
            Head::None => None,
            Head::Classifier { num_labels } => Some(match config.family {
                Family::Bert => ClassifierHead {
                    dense: t.linear(&format!("{prefix}pooler.dense"), h, h)?,
                    activation: None,
                    out: t.linear("classifier", num_labels, h)?,
                },
                Family::Roberta => ClassifierHead {
                    dense: t.linear("classifier.dense", h, h)?,
                    activation: None,
                    out: t.linear("classifier.out_proj", num_labels, h)?,
                },
                // `ContextPooler` sits outside the encoder.
                Family::DebertaV2 => ClassifierHead {
                    dense: t.linear("pooler.dense", h, h)?,
                    activation: deberta.map(|d| d.pooler_activation),
                    out: t.linear("classifier", num_labels, h)?,
                },
                Family::ModernBert => return Err(not_bert(dir)),
            }),
        };
        let last = layers.last().ok_or_else(|| {
            crate::weights::weights_error(dir, "config.json declares no layers".to_owned())
        })?;
        let (last_q, last_kv) = (last.qkv.outputs(0..h), last.qkv.outputs(h..3 * h));
        Ok(NativeEncoder {
            config,
            word,
            position,
            token_type,
            relative,
            embedding_norm,
            layers,
            head,
            last_q,
            last_kv,
            attention: AttentionProducts::F32,
            pool,
            packing,
            spare: Mutex::default(),
        })
    }

    /// The encoder with its layers' dense products, and attention's products as
    /// [`Precision`] says, in `precision` (the classifier head stays `f32`: one row per
    /// sequence, where quantizing would save nothing).
    pub fn with_precision(mut self, precision: Precision) -> NativeEncoder {
        for layer in &mut self.layers {
            for linear in [
                &mut layer.qkv,
                &mut layer.attention_out,
                &mut layer.intermediate,
                &mut layer.output,
            ] {
                precision.convert(linear);
            }
        }
        precision.convert(&mut self.last_q);
        precision.convert(&mut self.last_kv);
        self.attention = precision.attention();
        self
    }

    /// Runs the encoder. For [`Wanted::AllTokens`] it returns the last hidden states
    /// `[rows, hidden]` and where each sequence lies in them; for
    /// [`Wanted::FirstTokens`], `[batch, hidden]`: sequence `b`'s first token at row `b`.
    fn encode(&self, batch: &TokenBatch, wanted: Wanted) -> Result<(Vec<f32>, Vec<Segment>)> {
        let (tokens, segments) = self.layout(batch, wanted == Wanted::EveryRow)?;
        let rows = tokens.len();
        let c = &self.config;
        let h = c.hidden_size;
        let mut x = vec![0.0f32; rows * h];
        for (row, token) in x.chunks_exact_mut(h).zip(&tokens) {
            row.copy_from_slice(&self.word[token.id as usize * h..][..h]);
            if let Some(table) = &self.position {
                let position = &table[token.position as usize * h..][..h];
                row.iter_mut().zip(position).for_each(|(v, p)| *v += p);
            }
            if let Some(table) = &self.token_type {
                let kind = &table[token.kind as usize * h..][..h];
                row.iter_mut().zip(kind).for_each(|(v, k)| *v += k);
            }
        }
        Ok(self.pool.install(|| {
            let threads = self.pool.current_num_threads();
            let eps = c.layer_norm_eps as f32;
            let norm = &self.embedding_norm;
            tamis_kernels::layer_norm(&mut x, h, &norm.gamma, &norm.beta, eps);
            let mut buffers =
                self.spare.lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default();
            let Buffers { qkv, context, attended, inner } = &mut buffers;
            for (buffer, width) in [
                (&mut *qkv, 3 * h),
                (&mut *context, h),
                (&mut *attended, h),
                (&mut *inner, c.intermediate_size),
            ] {
                buffer.resize(rows * width, 0.0);
            }
            let last = self.layers.len() - 1;
            let mut out = None;
            for (index, layer) in self.layers.iter().enumerate() {
                if wanted == Wanted::FirstTokens && index == last {
                    out = Some(self.last_layer_first_tokens(layer, &x, &segments, qkv, context));
                    break;
                }
                layer.qkv.forward(&x, rows, None, qkv, threads);
                self.attend(index, qkv, &segments, context);
                layer.attention_out.forward(context, rows, Some(&x), attended, threads);
                self.feed_forward(layer, attended, inner, &mut x, rows, threads);
            }
            let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
            if spare.len() < SPARE_BUFFERS {
                spare.push(buffers);
            }
            out.unwrap_or((x, segments))
        }))
    }

    /// The second half of a layer: LayerNorm of `attended` (the attention output plus
    /// residual), the FFN, and its residual and LayerNorm into `out`.
    fn feed_forward(
        &self,
        layer: &Layer,
        attended: &mut [f32],
        inner: &mut [f32],
        out: &mut [f32],
        rows: usize,
        threads: usize,
    ) {
        let c = &self.config;
        let (h, eps) = (c.hidden_size, c.layer_norm_eps as f32);
        let norm = &layer.attention_norm;
        tamis_kernels::layer_norm(attended, h, &norm.gamma, &norm.beta, eps);
        layer.intermediate.forward(attended, rows, None, inner, threads);
        kernel_activation(c.hidden_act).apply(inner);
        layer.output.forward(inner, rows, Some(attended), out, threads);
        let norm = &layer.output_norm;
        tamis_kernels::layer_norm(out, h, &norm.gamma, &norm.beta, eps);
    }

    /// The last layer for each sequence's first token only: K and V of every row (they
    /// are what the first token attends to), Q, attention and FFN of one row each.
    fn last_layer_first_tokens(
        &self,
        layer: &Layer,
        x: &[f32],
        segments: &[Segment],
        qkv: &mut [f32],
        context: &mut [f32],
    ) -> (Vec<f32>, Vec<Segment>) {
        let c = &self.config;
        let (h, rows, b) = (c.hidden_size, x.len() / c.hidden_size, segments.len());
        let threads = self.pool.current_num_threads();
        let gather = |from: &[f32]| -> Vec<f32> {
            segments.iter().flat_map(|s| &from[s.start * h..][..h]).copied().collect()
        };
        let first_x = gather(x);
        self.last_kv.forward_strided(x, rows, None, &mut qkv[h..], 3 * h, threads);
        let mut first_q = vec![0.0f32; b * h];
        self.last_q.forward(&first_x, b, None, &mut first_q, threads);
        for (s, q) in segments.iter().zip(first_q.chunks_exact(h)) {
            qkv[s.start * 3 * h..][..h].copy_from_slice(q);
        }
        let firsts: Vec<Segment> = segments.iter().map(|s| Segment { queries: 1, ..*s }).collect();
        self.attend(self.layers.len() - 1, qkv, &firsts, context);
        let first_context = gather(context);
        let mut attended = vec![0.0f32; b * h];
        layer.attention_out.forward(&first_context, b, Some(&first_x), &mut attended, threads);
        let mut inner = vec![0.0f32; b * c.intermediate_size];
        let mut out = vec![0.0f32; b * h];
        self.feed_forward(layer, &mut attended, &mut inner, &mut out, b, threads);
        (out, (0..b).map(|i| Segment::packed(i, 1)).collect())
    }

    /// Layer `layer`'s attention: DeBERTa's disentangled attention where the model has
    /// relative positions (in `f32`), else the products `self.attention` says.
    fn attend(&self, layer: usize, qkv: &[f32], segments: &[Segment], context: &mut [f32]) {
        let c = &self.config;
        match &self.relative {
            Some(relative) => {
                let tables = &relative.layers[layer];
                let bias = tamis_kernels::RelativeBias {
                    position_keys: tables.keys.as_deref(),
                    position_queries: tables.queries.as_deref(),
                    span: relative.span,
                    buckets: &relative.buckets,
                };
                tamis_kernels::disentangled_attention(
                    qkv,
                    segments,
                    c.num_heads,
                    c.hidden_size,
                    &bias,
                    context,
                );
            }
            None => tamis_kernels::attention_with(
                self.attention,
                qkv,
                segments,
                c.num_heads,
                c.hidden_size,
                context,
            ),
        }
    }

    /// The rows to compute (token, position and segment ids) and each sequence's place
    /// among them: real tokens only when packing, every padded row otherwise or when
    /// `every_row` asks for them.
    fn layout(&self, batch: &TokenBatch, every_row: bool) -> Result<(Vec<RowIds>, Vec<Segment>)> {
        let c = &self.config;
        let mut rows = Vec::with_capacity(batch.input_ids.len());
        let mut segments = Vec::with_capacity(batch.batch_size);
        for b in 0..batch.batch_size {
            let span = b * batch.seq_len..(b + 1) * batch.seq_len;
            let mask = &batch.attention_mask[span.clone()];
            // Batches are right-padded: the real tokens are the leading ones.
            let len = mask.iter().take_while(|&&m| m == 1).count().max(1);
            let width = if self.packing && !every_row { len } else { batch.seq_len };
            segments.push(Segment { start: rows.len(), rows: width, keys: len, queries: width });
            for (i, (&id, &kind)) in batch.input_ids[span.clone()]
                .iter()
                .zip(&batch.type_ids[span])
                .take(width)
                .enumerate()
            {
                let position = match c.family {
                    Family::Bert | Family::ModernBert | Family::DebertaV2 => i as u32,
                    // RoBERTa numbers real tokens from pad + 1; padding keeps the pad id.
                    Family::Roberta if i < len => c.pad_token_id + 1 + i as u32,
                    Family::Roberta => c.pad_token_id,
                };
                rows.push(RowIds { id, position, kind });
            }
        }
        for token in &rows {
            // A model without token types reads none (DeBERTa-v3's pairs still carry them).
            if token.id as usize >= c.vocab_size
                || token.position as usize >= c.max_position_embeddings
                || (c.type_vocab_size > 0 && token.kind as usize >= c.type_vocab_size)
            {
                return Err(Error::InvalidOption {
                    name: "input",
                    message: format!(
                        "token {} (position {}, type {}) is outside the model's tables \
                         ({} tokens, {} positions, {} types): does tokenizer.json belong to this model?",
                        token.id,
                        token.position,
                        token.kind,
                        c.vocab_size,
                        c.max_position_embeddings,
                        c.type_vocab_size
                    ),
                });
            }
        }
        Ok((rows, segments))
    }
}

#[derive(Debug, Clone, Copy)]
struct RowIds {
    id: u32,
    position: u32,
    kind: u32,
}

impl Encoder for NativeEncoder {
    fn hidden_states(&self, batch: &TokenBatch) -> Result<HiddenStates> {
        self.padded_states(batch, Wanted::AllTokens)
    }

    fn hidden_states_every_row(&self, batch: &TokenBatch) -> Result<HiddenStates> {
        self.padded_states(batch, Wanted::EveryRow)
    }

    fn classify(&self, batch: &TokenBatch) -> Result<Vec<f32>> {
        let head = self.head.as_ref().ok_or(Error::InvalidOption {
            name: "model",
            message: "the encoder has no classification head".to_string(),
        })?;
        let h = self.config.hidden_size;
        let (first, segments) = self.encode(batch, Wanted::FirstTokens)?;
        let b = segments.len();
        let mut pooled = vec![0.0f32; b * h];
        head.dense.forward(&first, b, None, &mut pooled, 1);
        match head.activation {
            None => tamis_kernels::tanh(&mut pooled),
            Some(act) => kernel_activation(act).apply(&mut pooled),
        }
        let mut logits = vec![0.0f32; b * head.out.out_features()];
        head.out.forward(&pooled, b, None, &mut logits, 1);
        Ok(logits)
    }
}

impl NativeEncoder {
    /// The final states of `wanted` rows in the padded `[batch, seq_len, hidden]` layout.
    fn padded_states(&self, batch: &TokenBatch, wanted: Wanted) -> Result<HiddenStates> {
        let (states, segments) = self.encode(batch, wanted)?;
        Ok(to_padded(&states, &segments, batch, self.config.hidden_size))
    }
}
