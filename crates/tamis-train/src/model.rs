//! A BERT cross-encoder whose parameters can be trained: the forward pass keeps what the
//! backward pass needs, and the backward pass fills a gradient of the same shape.

use tamis_kernels::{Segment, gelu_erf, gelu_erf_backward};
use tamis_models::{EncoderConfig, EncoderWeights, Family, HiddenAct};

use crate::ops::{
    AttentionSaved, Dropout, NormSaved, apply_mask, attention_backward, attention_forward,
    embedding_backward, embedding_forward, layer_norm_backward, layer_norm_forward,
    linear_backward, linear_forward, tanh_backward, tanh_forward,
};
use crate::{Error, Result};

#[cfg(test)]
mod tests;

/// The tensors of a [`Params`] in their fixed order, borrowed with `$($borrow)+`: one
/// list for both [`Params::tensors_mut`] and [`Params::tensors_ref`].
macro_rules! every_tensor {
    ($params:expr, $($borrow:tt)+) => {{
        let params = $params;
        let mut tensors = vec![
            $($borrow)+ params.word,
            $($borrow)+ params.position,
            $($borrow)+ params.token_type,
            $($borrow)+ params.embedding_norm.gamma,
            $($borrow)+ params.embedding_norm.beta,
        ];
        for layer in $($borrow)+ params.layers {
            tensors.extend([
                $($borrow)+ layer.qkv.weight,
                $($borrow)+ layer.qkv.bias,
                $($borrow)+ layer.attention_out.weight,
                $($borrow)+ layer.attention_out.bias,
                $($borrow)+ layer.attention_norm.gamma,
                $($borrow)+ layer.attention_norm.beta,
                $($borrow)+ layer.intermediate.weight,
                $($borrow)+ layer.intermediate.bias,
                $($borrow)+ layer.output.weight,
                $($borrow)+ layer.output.bias,
                $($borrow)+ layer.output_norm.gamma,
                $($borrow)+ layer.output_norm.beta,
            ]);
        }
        tensors.extend([
            $($borrow)+ params.pooler.weight,
            $($borrow)+ params.pooler.bias,
            $($borrow)+ params.classifier.weight,
            $($borrow)+ params.classifier.bias,
        ]);
        tensors
    }};
}

/// A dense layer's parameters, weight in PyTorch's `[out, in]` layout.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearParams {
    /// `[out, in]`.
    pub weight: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

/// A LayerNorm's gain and bias.
#[derive(Debug, Clone, PartialEq)]
pub struct NormParams {
    /// γ.
    pub gamma: Vec<f32>,
    /// β.
    pub beta: Vec<f32>,
}

/// One transformer layer's parameters; Q, K and V are fused into one `[3h, h]` layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerParams {
    /// Query, key and value projections, in that order.
    pub qkv: LinearParams,
    /// The attention output projection.
    pub attention_out: LinearParams,
    /// The LayerNorm after attention.
    pub attention_norm: NormParams,
    /// The feed-forward expansion.
    pub intermediate: LinearParams,
    /// The feed-forward contraction.
    pub output: LinearParams,
    /// The LayerNorm after the feed-forward block.
    pub output_norm: NormParams,
}

/// Every parameter of a BERT cross-encoder (and, with the same shapes, its gradient).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// `[vocab, h]`.
    pub word: Vec<f32>,
    /// `[positions, h]`.
    pub position: Vec<f32>,
    /// `[types, h]`.
    pub token_type: Vec<f32>,
    /// The LayerNorm over the summed embeddings.
    pub embedding_norm: NormParams,
    /// The transformer layers.
    pub layers: Vec<LayerParams>,
    /// The head's dense + tanh over the first token: BERT's pooler, RoBERTa's
    /// `classifier.dense`.
    pub pooler: LinearParams,
    /// The head's output layer, `[1, h]`: BERT's `classifier`, RoBERTa's
    /// `classifier.out_proj`.
    pub classifier: LinearParams,
}

impl Params {
    /// The same shapes, all zeros: a gradient to accumulate into.
    pub fn zeros_like(&self) -> Params {
        let mut zeros = self.clone();
        zeros.for_each_mut(|_, values| values.fill(0.0));
        zeros
    }

    /// Each tensor's name, in the order of [`tensors_mut`](Self::tensors_mut): its
    /// `transformers` name in a BERT (the fused QKV as `…attention.self.qkv`), whatever
    /// the family; [`Naming::hugging_face`] gives the family's own.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            "bert.embeddings.word_embeddings.weight",
            "bert.embeddings.position_embeddings.weight",
            "bert.embeddings.token_type_embeddings.weight",
            "bert.embeddings.LayerNorm.weight",
            "bert.embeddings.LayerNorm.bias",
        ]
        .map(str::to_owned)
        .to_vec();
        for n in 0..self.layers.len() {
            let l = format!("bert.encoder.layer.{n}");
            for module in [
                "attention.self.qkv",
                "attention.output.dense",
                "attention.output.LayerNorm",
                "intermediate.dense",
                "output.dense",
                "output.LayerNorm",
            ] {
                names.push(format!("{l}.{module}.weight"));
                names.push(format!("{l}.{module}.bias"));
            }
        }
        for module in ["bert.pooler.dense", "classifier"] {
            names.push(format!("{module}.weight"));
            names.push(format!("{module}.bias"));
        }
        names
    }

    /// Every tensor, in a fixed order (see [`names`](Self::names)).
    pub fn tensors_mut(&mut self) -> Vec<&mut Vec<f32>> {
        every_tensor!(self, &mut)
    }

    /// Every tensor, in [`names`](Self::names)' order.
    pub fn tensors_ref(&self) -> Vec<&Vec<f32>> {
        every_tensor!(self, &)
    }

    /// Calls `f` with each tensor's name and values, in [`names`](Self::names)' order.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&str, &mut Vec<f32>)) {
        let names = self.names();
        for (name, values) in names.iter().zip(self.tensors_mut()) {
            f(name, values);
        }
    }

    /// Each tensor's name and a copy of its values, in [`names`](Self::names)' order.
    pub fn tensors(&self) -> Vec<(String, Vec<f32>)> {
        let mut copy = self.clone();
        let names = self.names();
        names
            .into_iter()
            .zip(copy.tensors_mut())
            .map(|(name, values)| (name, std::mem::take(values)))
            .collect()
    }
}

/// A packed batch of token sequences (no padding), one per (query, passage) pair.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The position id of each sequence's first token: 0 for BERT, `pad_token_id + 1`
    /// for RoBERTa (see [`CrossEncoderModel::batch`]).
    pub first_position: u32,
    /// Token ids, sequences end to end.
    pub ids: Vec<u32>,
    /// Token-type ids, one per token.
    pub types: Vec<u32>,
    /// Position ids, one per token.
    pub positions: Vec<u32>,
    /// Where each sequence lies.
    pub segments: Vec<Segment>,
}

impl Batch {
    /// Appends one sequence of `ids` with its `types`, positions counting from
    /// `first_position`.
    pub fn push(&mut self, ids: &[u32], types: &[u32]) {
        assert_eq!(ids.len(), types.len(), "Batch::push: ids and types differ in length");
        let start = self.ids.len();
        self.ids.extend_from_slice(ids);
        self.types.extend_from_slice(types);
        let first = self.first_position;
        self.positions.extend(first..first + ids.len() as u32);
        self.segments.push(Segment::packed(start, ids.len()));
    }

    /// Number of tokens.
    pub fn tokens(&self) -> usize {
        self.ids.len()
    }
}

/// BERT's dropout rates (`hidden_dropout_prob`, `attention_probs_dropout_prob`,
/// `classifier_dropout`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropoutRates {
    /// After the embeddings and after each layer's two output projections.
    pub hidden: f32,
    /// On the attention weights.
    pub attention: f32,
    /// On the pooled output, before the classifier.
    pub classifier: f32,
}

impl DropoutRates {
    /// The rates a `config.json` declares, with `transformers`' defaults (0.1, 0.1, and
    /// the hidden rate for the classifier) where it is silent.
    pub fn from_config(config: &serde_json::Value) -> DropoutRates {
        let rate = |key: &str| config[key].as_f64().map(|p| p as f32);
        let hidden = rate("hidden_dropout_prob").unwrap_or(0.1);
        DropoutRates {
            hidden,
            attention: rate("attention_probs_dropout_prob").unwrap_or(0.1),
            classifier: rate("classifier_dropout").unwrap_or(hidden),
        }
    }
}

/// Dropout for one training step: the rates, and the run's seed and the step, from which
/// every mask is drawn (so a resumed run draws the same masks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepDropout {
    /// The rates.
    pub rates: DropoutRates,
    /// The run's seed.
    pub seed: u64,
    /// The step.
    pub step: u64,
}

impl StepDropout {
    /// Dropout at site `site` with rate `p`, or none when `p` is 0.
    fn at(&self, site: u64, p: f32) -> Option<Dropout> {
        (p > 0.0).then(|| Dropout { p, key: Dropout::key(self.seed, self.step, site) })
    }
}

/// Dropout sites: the embeddings, the classifier, three per layer from `LAYER_SITES`,
/// and (RoBERTa's head) the head's input after the layers.
const EMBEDDING_SITE: u64 = 0;
const CLASSIFIER_SITE: u64 = 1;
const LAYER_SITES: u64 = 2;

/// Applies dropout at `site` to `x` in place and returns its mask.
fn drop_out(
    dropout: Option<&StepDropout>,
    site: u64,
    rate: impl Fn(&DropoutRates) -> f32,
    x: &mut [f32],
) -> Option<Vec<f32>> {
    let dropout = dropout.and_then(|d| d.at(site, rate(&d.rates)))?;
    let mask = dropout.mask(0, x.len());
    apply_mask(x, &mask);
    Some(mask)
}

/// A trainable BERT cross-encoder with one output logit.
#[derive(Debug, Clone)]
pub struct CrossEncoderModel {
    config: EncoderConfig,
    /// The parameters, updated in place by the optimizer.
    pub params: Params,
}

/// Activations of one layer kept for the backward pass.
#[derive(Debug)]
struct LayerTape {
    input: Vec<f32>,
    qkv: Vec<f32>,
    attention: AttentionSaved,
    context: Vec<f32>,
    attention_out_mask: Option<Vec<f32>>,
    attention_norm: NormSaved,
    hidden: Vec<f32>,
    intermediate: Vec<f32>,
    activated: Vec<f32>,
    output_mask: Option<Vec<f32>>,
    output_norm: NormSaved,
}

/// What [`CrossEncoderModel::forward`] keeps for [`CrossEncoderModel::backward`].
#[derive(Debug)]
pub struct Tape {
    embedding_norm: NormSaved,
    embedding_mask: Option<Vec<f32>>,
    layers: Vec<LayerTape>,
    /// The head's input: the first tokens, dropped out in RoBERTa's head.
    first_tokens: Vec<f32>,
    first_tokens_mask: Option<Vec<f32>>,
    pooled: Vec<f32>,
    classifier_mask: Option<Vec<f32>>,
}

impl CrossEncoderModel {
    /// The model in `dir` with its config: a BERT or (XLM-)RoBERTa cross-encoder with
    /// one label, whose head is kept, or an encoder without one (a bi-encoder), which
    /// gets a new head drawn as `transformers` initializes one (normal, σ = 0.02, zero
    /// bias) from `seed`. A BERT bi-encoder's pooler is kept, as
    /// `BertForSequenceClassification` keeps it; RoBERTa's head never uses the pooler.
    pub fn load(
        dir: &std::path::Path,
        config: EncoderConfig,
        seed: u64,
    ) -> Result<CrossEncoderModel> {
        if matches!(config.family, Family::ModernBert | Family::DebertaV2) {
            return Err(Error::Unsupported(format!(
                "{}: training supports BERT and XLM-RoBERTa encoders; {} is not trainable yet",
                dir.display(),
                config.architecture
            )));
        }
        if config.hidden_act != HiddenAct::GeluErf {
            return Err(Error::Unsupported(format!(
                "{}: training supports the exact GELU (hidden_act \"gelu\") only",
                dir.display()
            )));
        }
        let weights = EncoderWeights::load(dir)?;
        let p = weights.prefix();
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let linear = |name: &str, out: usize, inputs: usize| -> Result<LinearParams> {
            Ok(LinearParams {
                weight: weights.values(&format!("{name}.weight"), &[out, inputs])?,
                bias: weights.values(&format!("{name}.bias"), &[out])?,
            })
        };
        let norm = |name: &str| -> Result<NormParams> {
            Ok(NormParams {
                gamma: weights.values(&format!("{name}.weight"), &[h])?,
                beta: weights.values(&format!("{name}.bias"), &[h])?,
            })
        };
        let e = format!("{p}embeddings");
        let mut layers = Vec::with_capacity(config.num_layers);
        for n in 0..config.num_layers {
            let l = format!("{p}encoder.layer.{n}");
            let mut qkv = LinearParams {
                weight: Vec::with_capacity(3 * h * h),
                bias: Vec::with_capacity(3 * h),
            };
            for part in ["query", "key", "value"] {
                let one = linear(&format!("{l}.attention.self.{part}"), h, h)?;
                qkv.weight.extend(one.weight);
                qkv.bias.extend(one.bias);
            }
            layers.push(LayerParams {
                qkv,
                attention_out: linear(&format!("{l}.attention.output.dense"), h, h)?,
                attention_norm: norm(&format!("{l}.attention.output.LayerNorm"))?,
                intermediate: linear(&format!("{l}.intermediate.dense"), i, h)?,
                output: linear(&format!("{l}.output.dense"), h, i)?,
                output_norm: norm(&format!("{l}.output.LayerNorm"))?,
            });
        }
        let mut random = Normal::new(seed);
        let mut fresh = |out: usize, inputs: usize| LinearParams {
            weight: (0..out * inputs).map(|_| 0.02 * random.sample()).collect(),
            bias: vec![0.0; out],
        };
        let naming = Naming::of(config.family);
        let (dense, out) = (naming.head_dense(p), naming.head_out);
        let pooler = match weights.contains(&format!("{dense}.weight")) {
            true => linear(&dense, h, h)?,
            false => fresh(h, h),
        };
        let classifier = match weights.contains(&format!("{out}.weight")) {
            true => linear(out, 1, h)?,
            false => fresh(1, h),
        };
        let params = Params {
            word: weights
                .values(&format!("{e}.word_embeddings.weight"), &[config.vocab_size, h])?,
            position: weights.values(
                &format!("{e}.position_embeddings.weight"),
                &[config.max_position_embeddings, h],
            )?,
            token_type: weights.values(
                &format!("{e}.token_type_embeddings.weight"),
                &[config.type_vocab_size, h],
            )?,
            embedding_norm: norm(&format!("{e}.LayerNorm"))?,
            layers,
            pooler,
            classifier,
        };
        Ok(CrossEncoderModel { config, params })
    }

    /// The configuration the model was loaded with.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// An empty batch numbering positions as this model's family does.
    pub fn batch(&self) -> Batch {
        let first_position = match self.config.family {
            // `load` refuses the others.
            Family::Bert | Family::ModernBert | Family::DebertaV2 => 0,
            Family::Roberta => self.config.pad_token_id + 1,
        };
        Batch { first_position, ..Batch::default() }
    }

    /// How `transformers` names this model's tensors.
    pub fn naming(&self) -> Naming {
        Naming::of(self.config.family)
    }

    /// The sequence-classification class of the base's own: `BertModel` and
    /// `BertForSequenceClassification` give `BertForSequenceClassification`,
    /// `XLMRobertaModel` gives `XLMRobertaForSequenceClassification`, `RobertaForMaskedLM`
    /// `RobertaForSequenceClassification`; a base that names no class gets its family's.
    pub fn architecture(&self) -> String {
        let named = &self.config.architecture;
        ["ForSequenceClassification", "ForMaskedLM", "Model"]
            .iter()
            .find_map(|suffix| named.strip_suffix(suffix).filter(|stem| !stem.is_empty()))
            .map_or_else(
                || self.naming().architecture.to_owned(),
                |stem| format!("{stem}ForSequenceClassification"),
            )
    }

    /// One logit per sequence of `batch`, and the tape for [`backward`](Self::backward).
    /// With `dropout` the pass is a training one (BERT's dropouts on); without, it is
    /// the model's inference forward.
    ///
    /// # Panics
    /// If a token, position or type id is outside the model's tables (the caller
    /// tokenizes with the model's tokenizer and truncates to its positions).
    pub fn forward(
        &self,
        batch: &Batch,
        dropout: Option<&StepDropout>,
        threads: usize,
    ) -> (Vec<f32>, Tape) {
        let c = &self.config;
        let p = &self.params;
        let (h, tokens) = (c.hidden_size, batch.tokens());
        let eps = c.layer_norm_eps as f32;

        let mut summed = vec![0.0; tokens * h];
        embedding_forward(&p.word, h, &batch.ids, &mut summed);
        embedding_forward(&p.position, h, &batch.positions, &mut summed);
        embedding_forward(&p.token_type, h, &batch.types, &mut summed);
        let mut x = vec![0.0; tokens * h];
        let embedding_norm = layer_norm_forward(
            &summed,
            &p.embedding_norm.gamma,
            &p.embedding_norm.beta,
            eps,
            &mut x,
        );
        let embedding_mask = drop_out(dropout, EMBEDDING_SITE, |r| r.hidden, &mut x);

        let mut layers = Vec::with_capacity(p.layers.len());
        let last = p.layers.len().checked_sub(1);
        for (n, layer) in p.layers.iter().enumerate() {
            let site = LAYER_SITES + 3 * n as u64;
            let first_only = Some(n) == last;
            let (next, tape) =
                self.layer_forward(layer, x, batch, site, dropout, first_only, threads);
            x = next;
            layers.push(tape);
        }

        let sequences = batch.segments.len();
        // The last layer kept only the first tokens (a model without layers has them all).
        let mut first_tokens = match last {
            Some(_) => x,
            None => first_rows(&x, &batch.segments, h),
        };
        // RoBERTa's head drops its input out; BERT's pooler does not.
        let head_site = LAYER_SITES + 3 * p.layers.len() as u64;
        let first_tokens_mask = match self.config.family {
            // `load` refuses the others.
            Family::Bert | Family::ModernBert | Family::DebertaV2 => None,
            Family::Roberta => drop_out(dropout, head_site, |r| r.classifier, &mut first_tokens),
        };
        let mut pooled = vec![0.0; sequences * h];
        linear_forward(
            &first_tokens,
            &p.pooler.weight,
            &p.pooler.bias,
            sequences,
            &mut pooled,
            threads,
        );
        tanh_forward(&mut pooled);
        let mut classifier_input = pooled.clone();
        let classifier_mask =
            drop_out(dropout, CLASSIFIER_SITE, |r| r.classifier, &mut classifier_input);
        let mut logits = vec![0.0; sequences];
        linear_forward(
            &classifier_input,
            &p.classifier.weight,
            &p.classifier.bias,
            sequences,
            &mut logits,
            threads,
        );
        let tape = Tape {
            embedding_norm,
            embedding_mask,
            layers,
            first_tokens,
            first_tokens_mask,
            pooled,
            classifier_mask,
        };
        (logits, tape)
    }

    /// Adds to `grads` the gradient of a loss whose gradient with respect to the logits
    /// of [`forward`](Self::forward) is `d_logits`.
    pub fn backward(
        &self,
        batch: &Batch,
        tape: Tape,
        d_logits: &[f32],
        grads: &mut Params,
        threads: usize,
    ) {
        let c = &self.config;
        let p = &self.params;
        let (h, i, tokens) = (c.hidden_size, c.intermediate_size, batch.tokens());
        let sequences = batch.segments.len();
        assert_eq!(d_logits.len(), sequences, "backward: one logit gradient per sequence");

        let mut d_pooled = vec![0.0; sequences * h];
        let g = &mut grads.classifier;
        let mut classifier_input = tape.pooled.clone();
        if let Some(mask) = &tape.classifier_mask {
            apply_mask(&mut classifier_input, mask);
        }
        linear_backward(
            &classifier_input,
            &p.classifier.weight,
            d_logits,
            sequences,
            Some((&mut d_pooled, false)),
            &mut g.weight,
            &mut g.bias,
            threads,
        );
        if let Some(mask) = &tape.classifier_mask {
            apply_mask(&mut d_pooled, mask);
        }
        tanh_backward(&tape.pooled, &mut d_pooled);
        let mut d_first = vec![0.0; sequences * h];
        let g = &mut grads.pooler;
        linear_backward(
            &tape.first_tokens,
            &p.pooler.weight,
            &d_pooled,
            sequences,
            Some((&mut d_first, false)),
            &mut g.weight,
            &mut g.bias,
            threads,
        );

        if let Some(mask) = &tape.first_tokens_mask {
            apply_mask(&mut d_first, mask);
        }
        let mut scratch = Scratch::new(tokens, h, i);
        // The last layer's output is the first tokens only, as its forward kept them.
        let mut d_x = match p.layers.is_empty() {
            true => scatter_rows(&d_first, &batch.segments, tokens, h),
            false => d_first,
        };
        let last = p.layers.len().checked_sub(1);
        let layers = p.layers.iter().zip(tape.layers).zip(&mut grads.layers).enumerate().rev();
        for (n, ((layer, saved), g)) in layers {
            let first_only = Some(n) == last;
            self.layer_backward(
                layer,
                saved,
                g,
                batch,
                first_only,
                &mut d_x,
                &mut scratch,
                threads,
            );
        }

        if let Some(mask) = &tape.embedding_mask {
            apply_mask(&mut d_x, mask);
        }
        let mut d_summed = vec![0.0; tokens * h];
        let norm = &mut grads.embedding_norm;
        layer_norm_backward(
            &d_x,
            &tape.embedding_norm,
            &p.embedding_norm.gamma,
            &mut d_summed,
            &mut norm.gamma,
            &mut norm.beta,
        );
        embedding_backward(&d_summed, h, &batch.ids, &mut grads.word);
        embedding_backward(&d_summed, h, &batch.positions, &mut grads.position);
        embedding_backward(&d_summed, h, &batch.types, &mut grads.token_type);
    }

    /// One layer's forward over `x` (`[tokens, h]`), returning its output and tape.
    /// With `first_only` (the last layer: the pooler reads nothing else), only each
    /// sequence's first token is carried past attention, which still reads every
    /// token, and the output is `[sequences, h]`.
    #[allow(clippy::too_many_arguments)]
    fn layer_forward(
        &self,
        layer: &LayerParams,
        x: Vec<f32>,
        batch: &Batch,
        site: u64,
        dropout: Option<&StepDropout>,
        first_only: bool,
        threads: usize,
    ) -> (Vec<f32>, LayerTape) {
        let c = &self.config;
        let (h, i, tokens) = (c.hidden_size, c.intermediate_size, batch.tokens());
        let eps = c.layer_norm_eps as f32;
        let mut qkv = vec![0.0; tokens * 3 * h];
        linear_forward(&x, &layer.qkv.weight, &layer.qkv.bias, tokens, &mut qkv, threads);
        let segments = attended(&batch.segments, first_only);
        let mut context = vec![0.0; tokens * h];
        let attention_dropout = dropout.and_then(|d| d.at(site, d.rates.attention));
        let attention =
            attention_forward(&qkv, &segments, c.num_heads, h, &mut context, attention_dropout);
        let (rows, context, first_inputs) = match first_only {
            true => (
                batch.segments.len(),
                first_rows(&context, &batch.segments, h),
                Some(first_rows(&x, &batch.segments, h)),
            ),
            false => (tokens, context, None),
        };
        let residual = first_inputs.as_deref().unwrap_or(&x);

        let mut projected = vec![0.0; rows * h];
        let out = &layer.attention_out;
        linear_forward(&context, &out.weight, &out.bias, rows, &mut projected, threads);
        let attention_out_mask = drop_out(dropout, site + 1, |r| r.hidden, &mut projected);
        projected.iter_mut().zip(residual).for_each(|(a, r)| *a += r);
        let mut hidden = vec![0.0; rows * h];
        let norm = &layer.attention_norm;
        let attention_norm =
            layer_norm_forward(&projected, &norm.gamma, &norm.beta, eps, &mut hidden);

        let mut intermediate = vec![0.0; rows * i];
        let up = &layer.intermediate;
        linear_forward(&hidden, &up.weight, &up.bias, rows, &mut intermediate, threads);
        let mut activated = intermediate.clone();
        gelu_erf(&mut activated);
        let mut output = vec![0.0; rows * h];
        let down = &layer.output;
        linear_forward(&activated, &down.weight, &down.bias, rows, &mut output, threads);
        let output_mask = drop_out(dropout, site + 2, |r| r.hidden, &mut output);
        output.iter_mut().zip(&hidden).for_each(|(a, r)| *a += r);
        let mut next = vec![0.0; rows * h];
        let norm = &layer.output_norm;
        let output_norm = layer_norm_forward(&output, &norm.gamma, &norm.beta, eps, &mut next);
        let tape = LayerTape {
            input: x,
            qkv,
            attention,
            context,
            attention_out_mask,
            attention_norm,
            hidden,
            intermediate,
            activated,
            output_mask,
            output_norm,
        };
        (next, tape)
    }

    /// The backward pass of [`layer_forward`](Self::layer_forward) with the same
    /// `first_only`: `d_x` holds the gradient of the layer's output on entry and that of
    /// its input (`[tokens, h]`) on return.
    #[allow(clippy::too_many_arguments)]
    fn layer_backward(
        &self,
        layer: &LayerParams,
        saved: LayerTape,
        g: &mut LayerParams,
        batch: &Batch,
        first_only: bool,
        d_x: &mut Vec<f32>,
        scratch: &mut Scratch,
        threads: usize,
    ) {
        let c = &self.config;
        let (h, i, tokens) = (c.hidden_size, c.intermediate_size, batch.tokens());
        let rows = d_x.len() / h;
        let d_output = &mut scratch.output[..rows * h];
        let d_hidden = &mut scratch.hidden[..rows * h];
        let d_intermediate = &mut scratch.intermediate[..rows * i];
        let d_projected = &mut scratch.projected[..rows * h];

        let norm = &mut g.output_norm;
        let gamma = &layer.output_norm.gamma;
        layer_norm_backward(
            d_x,
            &saved.output_norm,
            gamma,
            d_output,
            &mut norm.gamma,
            &mut norm.beta,
        );
        d_hidden.copy_from_slice(d_output);
        if let Some(mask) = &saved.output_mask {
            apply_mask(d_output, mask);
        }
        let o = &mut g.output;
        let down = &layer.output.weight;
        let d_in = Some((&mut *d_intermediate, false));
        linear_backward(
            &saved.activated,
            down,
            d_output,
            rows,
            d_in,
            &mut o.weight,
            &mut o.bias,
            threads,
        );
        gelu_erf_backward(&saved.intermediate, d_intermediate);
        let o = &mut g.intermediate;
        let up = &layer.intermediate.weight;
        let d_in = Some((&mut *d_hidden, true));
        linear_backward(
            &saved.hidden,
            up,
            d_intermediate,
            rows,
            d_in,
            &mut o.weight,
            &mut o.bias,
            threads,
        );

        let norm = &mut g.attention_norm;
        let gamma = &layer.attention_norm.gamma;
        let saved_norm = &saved.attention_norm;
        layer_norm_backward(
            d_hidden,
            saved_norm,
            gamma,
            d_projected,
            &mut norm.gamma,
            &mut norm.beta,
        );
        // The residual: the first tokens' gradient goes back to their rows of the input.
        match first_only {
            true => *d_x = scatter_rows(d_projected, &batch.segments, tokens, h),
            false => d_x.copy_from_slice(d_projected),
        }
        if let Some(mask) = &saved.attention_out_mask {
            apply_mask(d_projected, mask);
        }
        let o = &mut g.attention_out;
        let out = &layer.attention_out.weight;
        let mut d_first_context = Vec::new();
        let d_context = match first_only {
            true => {
                d_first_context.resize(rows * h, 0.0);
                &mut d_first_context[..]
            }
            false => &mut scratch.context[..],
        };
        let d_in = Some((&mut *d_context, false));
        linear_backward(
            &saved.context,
            out,
            d_projected,
            rows,
            d_in,
            &mut o.weight,
            &mut o.bias,
            threads,
        );
        if first_only {
            // Attention reads only the query rows of its output gradient.
            for (segment, d) in batch.segments.iter().zip(d_first_context.chunks_exact(h)) {
                scratch.context[segment.start * h..][..h].copy_from_slice(d);
            }
        }
        let segments = attended(&batch.segments, first_only);
        attention_backward(
            &saved.qkv,
            &segments,
            c.num_heads,
            h,
            &saved.attention,
            &scratch.context,
            &mut scratch.qkv,
        );
        let o = &mut g.qkv;
        let d_in = Some((&mut d_x[..], true));
        let qkv = &layer.qkv.weight;
        linear_backward(
            &saved.input,
            qkv,
            &scratch.qkv,
            tokens,
            d_in,
            &mut o.weight,
            &mut o.bias,
            threads,
        );
    }
}

/// How `transformers` names a family's tensors where they differ from BERT's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Naming {
    /// The family named.
    pub family: Family,
    /// The prefix of the encoder's tensors: `bert.` or `roberta.`.
    pub prefix: &'static str,
    /// The family's sequence-classification architecture, for a base whose `config.json`
    /// names none (see [`CrossEncoderModel::architecture`]).
    pub architecture: &'static str,
    /// The head's output layer: `classifier` or `classifier.out_proj`.
    pub head_out: &'static str,
}

impl Naming {
    /// The names of `family` (the families training refuses get BERT's).
    pub fn of(family: Family) -> Naming {
        match family {
            Family::Bert | Family::ModernBert | Family::DebertaV2 => Naming {
                family,
                prefix: "bert.",
                architecture: "BertForSequenceClassification",
                head_out: "classifier",
            },
            Family::Roberta => Naming {
                family,
                prefix: "roberta.",
                architecture: "XLMRobertaForSequenceClassification",
                head_out: "classifier.out_proj",
            },
        }
    }

    /// The head's dense layer, under the encoder prefix `prefix` that the weights use
    /// (BERT's pooler sits inside the encoder; RoBERTa's head outside it).
    fn head_dense(&self, prefix: &str) -> String {
        match self.family {
            Family::Bert | Family::ModernBert | Family::DebertaV2 => {
                format!("{prefix}pooler.dense")
            }
            Family::Roberta => "classifier.dense".to_owned(),
        }
    }

    /// The `transformers` name of the tensor [`Params::names`] calls `name`.
    pub fn hugging_face(&self, name: &str) -> String {
        if let Some(kind) = name.strip_prefix("bert.pooler.dense.") {
            return format!("{}.{kind}", self.head_dense(self.prefix));
        }
        if let Some(kind) = name.strip_prefix("classifier.") {
            return format!("{}.{kind}", self.head_out);
        }
        match name.strip_prefix("bert.") {
            Some(rest) => format!("{}{rest}", self.prefix),
            None => name.to_owned(),
        }
    }
}

/// Gradient buffers for [`CrossEncoderModel::layer_backward`], sized for every token and
/// shared by the layers (the last one uses their leading rows).
struct Scratch {
    output: Vec<f32>,
    hidden: Vec<f32>,
    intermediate: Vec<f32>,
    projected: Vec<f32>,
    context: Vec<f32>,
    qkv: Vec<f32>,
}

impl Scratch {
    fn new(tokens: usize, h: usize, i: usize) -> Scratch {
        Scratch {
            output: vec![0.0; tokens * h],
            hidden: vec![0.0; tokens * h],
            intermediate: vec![0.0; tokens * i],
            projected: vec![0.0; tokens * h],
            context: vec![0.0; tokens * h],
            qkv: vec![0.0; tokens * 3 * h],
        }
    }
}

/// The segments as attention runs them: every row a query, or with `first_only` the
/// first row alone.
fn attended(segments: &[Segment], first_only: bool) -> Vec<Segment> {
    let queries = |s: &Segment| if first_only { 1 } else { s.queries };
    segments.iter().map(|s| Segment { queries: queries(s), ..*s }).collect()
}

/// Each segment's first row of `x` (`width` wide), one after another.
fn first_rows(x: &[f32], segments: &[Segment], width: usize) -> Vec<f32> {
    let mut rows = Vec::with_capacity(segments.len() * width);
    for segment in segments {
        rows.extend_from_slice(&x[segment.start * width..][..width]);
    }
    rows
}

/// The inverse of [`first_rows`]: `[tokens, width]`, zero but each segment's first row.
fn scatter_rows(first: &[f32], segments: &[Segment], tokens: usize, width: usize) -> Vec<f32> {
    let mut x = vec![0.0; tokens * width];
    for (segment, row) in segments.iter().zip(first.chunks_exact(width)) {
        x[segment.start * width..][..width].copy_from_slice(row);
    }
    x
}

/// Standard normal draws (Box–Muller over a 64-bit LCG), for initializing new layers
/// reproducibly from a seed.
#[derive(Debug)]
pub(crate) struct Normal {
    state: u64,
    spare: Option<f32>,
}

impl Normal {
    pub(crate) fn new(seed: u64) -> Normal {
        Normal { state: seed ^ 0x9E37_79B9_7F4A_7C15, spare: None }
    }

    fn uniform(&mut self) -> f64 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // 53 high bits, shifted off zero so that the logarithm below is finite.
        ((self.state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub(crate) fn sample(&mut self) -> f32 {
        if let Some(spare) = self.spare.take() {
            return spare;
        }
        let radius = (-2.0 * self.uniform().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.uniform();
        self.spare = Some((radius * angle.sin()) as f32);
        (radius * angle.cos()) as f32
    }
}
