//! `config.json` as the encoder needs it: sizes, activation, padding and head.
//!
//! Every value the forward pass depends on comes from the file (position offset,
//! token types, layer-norm epsilon, GELU flavour, ModernBERT's rotary bases and
//! windows), so one loader serves every family.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tamis_core::ScoreActivation;

use crate::{Error, Result};

/// The encoder families tamis runs; they differ in position ids and the classification head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// BERT: positions from 0, a pooler (dense + tanh) under the classifier.
    Bert,
    /// RoBERTa / XLM-RoBERTa: positions start after the padding id; the head is
    /// `classifier.dense` + tanh + `classifier.out_proj`.
    Roberta,
    /// ModernBERT: rotary positions, pre-norm layers alternating global and local
    /// (sliding-window) attention, GeGLU, mostly without biases; its head pools (first
    /// token or mean), then dense + activation + LayerNorm + `classifier`.
    /// [`EncoderConfig::modern_bert`] holds what only it has.
    ModernBert,
    /// DeBERTa-v2 and v3: BERT's post-norm layers with disentangled attention (content
    /// and relative-position terms), optional absolute positions and token types, and a
    /// pooler with its own activation. [`EncoderConfig::deberta`] holds what only it has.
    DebertaV2,
}

/// What only DeBERTa-v2/v3's `config.json` declares.
#[derive(Debug, Clone, PartialEq)]
pub struct DebertaConfig {
    /// Attention adds relative-position terms (`relative_attention`).
    pub relative_attention: bool,
    /// The content→position term (`"c2p"` in `pos_att_type`).
    pub c2p: bool,
    /// The position→content term (`"p2c"`).
    pub p2c: bool,
    /// Distances fall into this many log buckets on either side (`position_buckets`;
    /// 0: none, distances are clamped at `max_relative_positions`).
    pub position_buckets: usize,
    /// The largest distance the buckets spread over (`max_relative_positions`, else
    /// `max_position_embeddings`).
    pub max_relative_positions: usize,
    /// The position terms reuse the content key and query projections (`share_att_key`).
    pub share_att_key: bool,
    /// The relative embeddings pass a LayerNorm first (`norm_rel_ebd` has `layer_norm`).
    pub norm_relative_embeddings: bool,
    /// Absolute position embeddings are added to the input (`position_biased_input`).
    pub position_biased_input: bool,
    /// The pooler's activation (`pooler_hidden_act`).
    pub pooler_activation: HiddenAct,
}

impl DebertaConfig {
    /// Half the rows of the relative embedding table: the buckets, else the largest distance.
    pub fn span(&self) -> usize {
        match self.position_buckets {
            0 => self.max_relative_positions,
            buckets => buckets,
        }
    }

    /// The bucket of the distance `d` (query position minus key position), as
    /// transformers' `make_log_bucket_position` computes it in `f32`.
    pub fn bucket(&self, d: i64) -> i64 {
        if self.position_buckets == 0 {
            return d;
        }
        let mid = (self.position_buckets / 2) as i64;
        let abs = if d < mid && d > -mid { mid - 1 } else { d.abs() };
        if abs <= mid {
            return d;
        }
        let spread = (((self.max_relative_positions - 1) as f64 / mid as f64) as f32).ln();
        let log = ((abs as f32 / mid as f32).ln() / spread * (mid - 1) as f32).ceil() + mid as f32;
        log as i64 * d.signum()
    }
}

/// How a ModernBERT classifier pools the final states before its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierPooling {
    /// The first token's state (`"cls"`).
    First,
    /// The mean over the sequence's tokens (`"mean"`).
    Mean,
}

/// What only ModernBERT's `config.json` declares.
#[derive(Debug, Clone, PartialEq)]
pub struct ModernBertConfig {
    /// Rotary base of the global-attention layers (`global_rope_theta`).
    pub global_rope_theta: f32,
    /// Rotary base of the local layers (`local_rope_theta`, else the global one).
    pub local_rope_theta: f32,
    /// Keys a local layer's query reaches on either side: `local_attention / 2`.
    pub local_reach: usize,
    /// Layer `i` attends globally when `i % global_every == 0`
    /// (`global_attn_every_n_layers`).
    pub global_every: usize,
    /// What the classifier pools.
    pub classifier_pooling: ClassifierPooling,
    /// The activation between the head's dense layer and its norm.
    pub classifier_activation: HiddenAct,
}

impl ModernBertConfig {
    /// Whether layer `index` attends globally (else within [`Self::local_reach`]).
    pub fn is_global(&self, index: usize) -> bool {
        index.is_multiple_of(self.global_every)
    }
}

/// The non-linearity of the feed-forward blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenAct {
    /// GELU with the exact erf (`gelu`).
    GeluErf,
    /// GELU with the tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    GeluTanh,
    /// `relu`.
    Relu,
    /// `silu` / `swish`.
    Silu,
}

/// What sits on top of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// None: the model yields token embeddings (a bi-encoder).
    None,
    /// A sequence-classification head with this many labels (a cross-encoder).
    Classifier {
        /// Number of output logits per pair.
        num_labels: usize,
    },
}

/// The validated configuration of one encoder.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    /// Model family.
    pub family: Family,
    /// Architecture as declared (`architectures[0]`, or the model type).
    pub architecture: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Number of attention heads.
    pub num_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    pub hidden_act: HiddenAct,
    /// Size of the position embedding table.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table (1 for XLM-R).
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    pub pad_token_id: u32,
    /// Head on top of the encoder.
    pub head: Head,
    /// Activation the model declares for its scores, if any.
    pub declared_activation: Option<ScoreActivation>,
    /// ModernBERT's settings: `Some` exactly when `family` is [`Family::ModernBert`].
    pub modern_bert: Option<ModernBertConfig>,
    /// DeBERTa's settings: `Some` exactly when `family` is [`Family::DebertaV2`].
    pub deberta: Option<DebertaConfig>,
}

/// The most positions a model may declare (the longest encoders have 8,192).
const MAX_POSITIONS: usize = 1 << 17;

/// The architecture colbert-ai's checkpoints declare: a BERT encoder (its tensors under
/// `bert.`) and a `linear` projection, which the late-interaction loader reads.
pub(crate) const COLBERT_ARCHITECTURE: &str = "HF_ColBERT";

#[derive(Deserialize)]
struct RawConfig {
    architectures: Option<Vec<String>>,
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    hidden_act: Option<String>,
    max_position_embeddings: usize,
    type_vocab_size: Option<usize>,
    layer_norm_eps: Option<f64>,
    pad_token_id: Option<u32>,
    position_embedding_type: Option<String>,
    id2label: Option<BTreeMap<String, String>>,
    num_labels: Option<usize>,
    sentence_transformers: Option<StConfigSection>,
    sbert_ce_default_activation_function: Option<String>,
    // ModernBERT's own names and settings.
    hidden_activation: Option<String>,
    norm_eps: Option<f64>,
    global_rope_theta: Option<f32>,
    local_rope_theta: Option<f32>,
    local_attention: Option<usize>,
    global_attn_every_n_layers: Option<usize>,
    classifier_pooling: Option<String>,
    classifier_activation: Option<String>,
    rope_scaling: Option<serde_json::Value>,
    // DeBERTa-v2/v3's.
    relative_attention: Option<bool>,
    position_buckets: Option<i64>,
    max_relative_positions: Option<i64>,
    pos_att_type: Option<serde_json::Value>,
    share_att_key: Option<bool>,
    norm_rel_ebd: Option<String>,
    position_biased_input: Option<bool>,
    pooler_hidden_act: Option<String>,
    pooler_hidden_size: Option<usize>,
    embedding_size: Option<usize>,
    conv_kernel_size: Option<usize>,
    attention_head_size: Option<usize>,
}

#[derive(Deserialize)]
struct StConfigSection {
    activation_fn: Option<String>,
}

/// The activation named `name` in a config (`hidden_act` and the like).
fn activation(name: &str) -> std::result::Result<HiddenAct, String> {
    match name {
        "gelu" => Ok(HiddenAct::GeluErf),
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(HiddenAct::GeluTanh),
        "relu" => Ok(HiddenAct::Relu),
        "silu" | "swish" => Ok(HiddenAct::Silu),
        other => Err(format!("activation '{other}' is not supported")),
    }
}

/// DeBERTa's settings, with transformers' defaults for what the file leaves out; what
/// tamis does not run is refused by name.
fn deberta(raw: &RawConfig) -> std::result::Result<DebertaConfig, String> {
    let h = raw.hidden_size;
    if raw.embedding_size.is_some_and(|e| e != h) {
        return Err("embedding_size different from hidden_size is not supported".to_string());
    }
    if raw.pooler_hidden_size.is_some_and(|p| p != h) {
        return Err("pooler_hidden_size different from hidden_size is not supported".to_string());
    }
    if raw.conv_kernel_size.is_some_and(|k| k > 0) {
        return Err(
            "conv_kernel_size (DeBERTa-v2's convolution layer) is not supported".to_string()
        );
    }
    if raw.attention_head_size.is_some_and(|a| a * raw.num_attention_heads != h) {
        return Err("attention_head_size must be hidden_size / num_attention_heads".to_string());
    }
    // A list, or the older "p2c|c2p" string.
    let kinds: Vec<String> = match &raw.pos_att_type {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::String(text)) => {
            text.to_lowercase().split('|').map(|k| k.trim().to_string()).collect()
        }
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|k| k.as_str().map(str::to_lowercase).ok_or("pos_att_type must hold strings"))
            .collect::<std::result::Result<_, _>>()?,
        Some(_) => return Err("pos_att_type must be a list or a string".to_string()),
    };
    if let Some(other) = kinds.iter().find(|k| !["c2p", "p2c", ""].contains(&k.as_str())) {
        return Err(format!("pos_att_type '{other}' is not supported (only c2p and p2c)"));
    }
    let relative_attention = raw.relative_attention.unwrap_or(false);
    let (c2p, p2c) = (kinds.iter().any(|k| k == "c2p"), kinds.iter().any(|k| k == "p2c"));
    if !relative_attention && (c2p || p2c) {
        // transformers still divides the scores by the terms it does not add.
        return Err("pos_att_type without relative_attention is not supported".to_string());
    }
    let max_relative_positions = match raw.max_relative_positions {
        Some(m) if m >= 1 => m as usize,
        _ => raw.max_position_embeddings,
    };
    let position_buckets = raw.position_buckets.filter(|&b| b > 0).unwrap_or(0) as usize;
    if position_buckets.max(max_relative_positions) > MAX_POSITIONS {
        return Err(format!("relative positions beyond {MAX_POSITIONS} are not supported"));
    }
    if position_buckets == 1 || (position_buckets > 0 && max_relative_positions < 2) {
        return Err("position_buckets needs at least 2 buckets and 2 positions".to_string());
    }
    let norm = raw.norm_rel_ebd.as_deref().unwrap_or("none").to_lowercase();
    Ok(DebertaConfig {
        relative_attention,
        c2p,
        p2c,
        position_buckets,
        max_relative_positions,
        share_att_key: raw.share_att_key.unwrap_or(false),
        norm_relative_embeddings: norm.split('|').any(|n| n.trim() == "layer_norm"),
        position_biased_input: raw.position_biased_input.unwrap_or(true),
        pooler_activation: activation(raw.pooler_hidden_act.as_deref().unwrap_or("gelu"))?,
    })
}

/// ModernBERT's settings, with transformers' defaults for what the file leaves out.
fn modern_bert(raw: &RawConfig) -> std::result::Result<ModernBertConfig, String> {
    if raw.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
        return Err("rope_scaling is not supported".to_string());
    }
    let local_attention = raw.local_attention.unwrap_or(128);
    if local_attention < 2 {
        return Err(format!("local_attention {local_attention} leaves no window"));
    }
    let global_every = raw.global_attn_every_n_layers.unwrap_or(3);
    if global_every == 0 {
        return Err("global_attn_every_n_layers must be at least 1".to_string());
    }
    let head_dim = raw.hidden_size / raw.num_attention_heads.max(1);
    if !head_dim.is_multiple_of(2) {
        return Err(format!("rotary positions need an even head width, not {head_dim}"));
    }
    let global_rope_theta = raw.global_rope_theta.unwrap_or(160_000.0);
    let classifier_pooling = match raw.classifier_pooling.as_deref().unwrap_or("cls") {
        "cls" => ClassifierPooling::First,
        "mean" => ClassifierPooling::Mean,
        other => return Err(format!("classifier_pooling '{other}' is not supported")),
    };
    Ok(ModernBertConfig {
        global_rope_theta,
        local_rope_theta: raw.local_rope_theta.unwrap_or(global_rope_theta),
        local_reach: local_attention / 2,
        global_every,
        classifier_pooling,
        classifier_activation: activation(raw.classifier_activation.as_deref().unwrap_or("gelu"))?,
    })
}

impl EncoderConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<EncoderConfig> {
        let raw: RawConfig = read_json(path)?;
        let bad = |message: String| Error::BadConfig { path: path.to_path_buf(), message };
        let model_type = raw.model_type.clone().unwrap_or_default();
        let architecture = raw
            .architectures
            .as_ref()
            .and_then(|a| a.first().cloned())
            .unwrap_or_else(|| model_type.clone());
        let unsupported = || Error::UnsupportedArchitecture {
            architecture: architecture.clone(),
            path: path.to_path_buf(),
        };
        // Some remote-code checkpoints declare no model_type (jina-reranker-v2): the
        // architecture names the family then.
        let model_type = match model_type.as_str() {
            "" => model_type_of(&architecture).unwrap_or_default().to_string(),
            _ => model_type,
        };
        let family = match model_type.as_str() {
            "bert" => Family::Bert,
            "roberta" | "xlm-roberta" | "camembert" => Family::Roberta,
            "modernbert" => Family::ModernBert,
            "deberta-v2" => Family::DebertaV2,
            _ => return Err(unsupported()),
        };
        let head = match architecture.as_str() {
            a if a.ends_with("ForSequenceClassification") => {
                Head::Classifier { num_labels: num_labels(&raw) }
            }
            a if a.ends_with("Model")
                || a == model_type
                || a.ends_with("ForMaskedLM")
                || a == COLBERT_ARCHITECTURE =>
            {
                Head::None
            }
            _ => return Err(unsupported()),
        };
        if let Some(kind) = raw.position_embedding_type.as_deref()
            && kind != "absolute"
        {
            return Err(bad(format!(
                "position_embedding_type '{kind}' is not supported (only 'absolute')"
            )));
        }
        let act_name = raw.hidden_act.as_deref().or(raw.hidden_activation.as_deref());
        let hidden_act = activation(act_name.unwrap_or("gelu")).map_err(bad)?;
        if raw.num_attention_heads == 0 || !raw.hidden_size.is_multiple_of(raw.num_attention_heads)
        {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                raw.hidden_size, raw.num_attention_heads
            )));
        }
        let declared_activation = declared_activation(&raw).map_err(bad)?;
        // Tables sized by this number are built at load for the families that have none
        // in their weights (rotary angles, relative buckets).
        if raw.max_position_embeddings > MAX_POSITIONS {
            return Err(bad(format!(
                "max_position_embeddings {} is beyond {MAX_POSITIONS}, the longest tamis runs",
                raw.max_position_embeddings
            )));
        }
        let pad_token_id = raw.pad_token_id.unwrap_or(match family {
            Family::Bert | Family::DebertaV2 => 0,
            Family::Roberta => 1,
            Family::ModernBert => 50283,
        });
        let modern_bert = match family {
            Family::ModernBert => Some(modern_bert(&raw).map_err(bad)?),
            _ => None,
        };
        let deberta = match family {
            Family::DebertaV2 => Some(deberta(&raw).map_err(bad)?),
            _ => None,
        };
        let (default_eps, default_types) = match family {
            Family::Bert | Family::Roberta => (1e-12, 2),
            // DeBERTa-v3 declares 0 token types (it has no table).
            Family::DebertaV2 => (1e-7, 0),
            // ModernBERT reads no token types: every row takes type 0 of a one-row table.
            Family::ModernBert => (1e-5, 1),
        };
        Ok(EncoderConfig {
            family,
            architecture,
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            num_layers: raw.num_hidden_layers,
            num_heads: raw.num_attention_heads,
            intermediate_size: raw.intermediate_size,
            hidden_act,
            max_position_embeddings: raw.max_position_embeddings,
            type_vocab_size: match family {
                Family::ModernBert => default_types,
                _ => raw.type_vocab_size.unwrap_or(default_types),
            },
            layer_norm_eps: raw.layer_norm_eps.or(raw.norm_eps).unwrap_or(default_eps),
            pad_token_id,
            head,
            declared_activation,
            modern_bert,
            deberta,
        })
    }

    /// Floating-point operations of one forward pass over a sequence of `len` tokens
    /// (multiply and add counted apart): per layer the dense layers' `2·len·(4h² + 2h·i)`
    /// (`2·len·(4h² + 3h·i)` for ModernBERT's gated MLP) and attention's
    /// `4·len·keys·h`, where `keys` is `len`, or at most the window in ModernBERT's local
    /// layers, plus DeBERTa's position terms, `2·len·2·span·h` each. Embeddings, norms,
    /// activations, the head and DeBERTa's per-pair gathers are left out (under 1% for
    /// MiniLM). Used to report achieved FLOP/s.
    pub fn forward_flops(&self, len: usize) -> f64 {
        let n = len as f64;
        (0..self.num_layers)
            .map(|layer| n * self.dense_flops_per_row() + self.attention_flops(layer, n, n))
            .sum()
    }

    /// [`EncoderConfig::forward_flops`] when only the first token's final state is read
    /// (a classification head): the last layer computes K and V for every token, and Q,
    /// attention, output projection and FFN for the first token alone. A ModernBERT
    /// that pools the mean computes its last layer whole.
    pub fn first_token_flops(&self, len: usize) -> f64 {
        if let Some(modern) = &self.modern_bert {
            if modern.classifier_pooling == ClassifierPooling::Mean {
                return self.forward_flops(len);
            }
            let (n, h) = (len as f64, self.hidden_size as f64);
            let last = self.num_layers.saturating_sub(1);
            let earlier: f64 = (0..last)
                .map(|layer| n * self.dense_flops_per_row() + self.attention_flops(layer, n, n))
                .sum();
            let key_values = 2.0 * n * 2.0 * h * h;
            let first_row = self.dense_flops_per_row() - 2.0 * 2.0 * h * h;
            return earlier + key_values + first_row + self.attention_flops(last, 1.0, n);
        }
        let (n, h, i) = (len as f64, self.hidden_size as f64, self.intermediate_size as f64);
        let full = |layers: f64| layers * (2.0 * n * (4.0 * h * h + 2.0 * h * i) + 4.0 * n * n * h);
        let last = 2.0 * n * 2.0 * h * h + 2.0 * (2.0 * h * h + 2.0 * h * i) + 4.0 * n * h;
        let layers = self.num_layers.saturating_sub(1) as f64;
        full(layers)
            + last
            + layers * self.position_term_flops(n, n)
            + self.position_term_flops(1.0, n)
    }

    /// DeBERTa's position terms in one layer for `queries` rows over `keys` keys: c2p
    /// projects each query on the `2·span` table rows, p2c each key.
    fn position_term_flops(&self, queries: f64, keys: f64) -> f64 {
        let Some(d) = self.deberta.as_ref().filter(|d| d.relative_attention) else { return 0.0 };
        let per_row = 2.0 * (2 * d.span()) as f64 * self.hidden_size as f64;
        f64::from(u8::from(d.c2p)) * queries * per_row + f64::from(u8::from(d.p2c)) * keys * per_row
    }

    /// The dense layers' operations per row of one layer.
    fn dense_flops_per_row(&self) -> f64 {
        let (h, i) = (self.hidden_size as f64, self.intermediate_size as f64);
        let feed_forward = match self.family {
            Family::ModernBert => 3.0 * h * i,
            Family::Bert | Family::Roberta | Family::DebertaV2 => 2.0 * h * i,
        };
        2.0 * (4.0 * h * h + feed_forward)
    }

    /// Attention's two products in layer `layer` for `queries` rows over `keys` keys.
    fn attention_flops(&self, layer: usize, queries: f64, keys: f64) -> f64 {
        let reached = match &self.modern_bert {
            Some(m) if !m.is_global(layer) => keys.min((2 * m.local_reach + 1) as f64),
            _ => keys,
        };
        4.0 * queries * reached * self.hidden_size as f64
    }

    /// The longest sequence the position table allows (XLM-R loses `pad_token_id + 1` slots).
    pub fn max_positions(&self) -> usize {
        match self.family {
            Family::Bert | Family::ModernBert | Family::DebertaV2 => self.max_position_embeddings,
            Family::Roberta => {
                self.max_position_embeddings.saturating_sub(self.pad_token_id as usize + 1)
            }
        }
    }
}

/// The `model_type` an architecture belongs to, for configs that leave it out.
fn model_type_of(architecture: &str) -> Option<&'static str> {
    [
        ("XLMRoberta", "xlm-roberta"),
        ("Roberta", "roberta"),
        ("Camembert", "camembert"),
        ("ModernBert", "modernbert"),
        ("DebertaV2", "deberta-v2"),
        ("Bert", "bert"),
    ]
    .into_iter()
    .find(|(prefix, _)| architecture.starts_with(prefix))
    .map(|(_, model_type)| model_type)
}

/// Labels as transformers counts them: `id2label` wins over `num_labels`; 2 when neither.
fn num_labels(raw: &RawConfig) -> usize {
    raw.id2label.as_ref().map(BTreeMap::len).or(raw.num_labels).unwrap_or(2)
}

/// The activation from `sentence_transformers.activation_fn` or the older
/// `sbert_ce_default_activation_function`; `None` when the model declares none.
fn declared_activation(raw: &RawConfig) -> std::result::Result<Option<ScoreActivation>, String> {
    let declared = raw
        .sentence_transformers
        .as_ref()
        .and_then(|s| s.activation_fn.as_deref())
        .or(raw.sbert_ce_default_activation_function.as_deref());
    let Some(name) = declared else { return Ok(None) };
    let short = name.rsplit('.').next().unwrap_or(name);
    match short {
        "Identity" => Ok(Some(ScoreActivation::Identity)),
        "Sigmoid" => Ok(Some(ScoreActivation::Sigmoid)),
        "Tanh" => Ok(Some(ScoreActivation::Tanh)),
        "Softmax" => Ok(Some(ScoreActivation::Softmax)),
        _ => Err(format!("activation function '{name}' is not supported")),
    }
}

/// Reads a JSON file into `T`, naming the file in errors.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs_err::read_to_string(path)?;
    serde_json::from_str(&text)
        .map_err(|source| Error::BadJson { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests;
