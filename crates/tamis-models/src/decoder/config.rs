//! `config.json` of a Qwen2 / Qwen3 causal language model, read and validated once.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// The decoder families tamis runs. They share the layer; they differ in biases,
/// per-head query/key norms and the default head width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderFamily {
    /// `Qwen2ForCausalLM` (mxbai-rerank-v2): biases on Q, K and V, none on the output.
    Qwen2,
    /// `Qwen3ForCausalLM` (Qwen3-Reranker): RMSNorm on each query and key head before
    /// the rotation; biases on all four projections only with `attention_bias`.
    Qwen3,
}

/// The shape and settings of a decoder, from `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    /// The family.
    pub family: DecoderFamily,
    /// `architectures[0]`, e.g. `Qwen3ForCausalLM`.
    pub architecture: String,
    /// Rows of the embedding table (may exceed the tokenizer's size).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Decoder layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention); divides `num_heads`.
    pub num_kv_heads: usize,
    /// Width of one head: `head_dim` when given, else 128 for Qwen3 (its class default)
    /// and `hidden_size / num_heads` for Qwen2, as transformers resolves it.
    pub head_dim: usize,
    /// Width of the gated MLP.
    pub intermediate_size: usize,
    /// The longest sequence the model was trained for.
    pub max_position_embeddings: usize,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f64,
    /// Base of the rotary position angles.
    pub rope_theta: f64,
    /// Whether the output head is the embedding table.
    pub tie_word_embeddings: bool,
    /// Whether Q, K and V have biases.
    pub qkv_bias: bool,
    /// Whether the attention output projection has a bias.
    pub o_bias: bool,
    /// Whether each query and key head is RMS-normalized before the rotation.
    pub qk_norm: bool,
}

#[derive(Deserialize)]
struct RawConfig {
    architectures: Option<Vec<String>>,
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    intermediate_size: usize,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default = "default_max_positions")]
    max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    rope_theta: f64,
    rope_scaling: Option<serde_json::Value>,
    partial_rotary_factor: Option<f64>,
    #[serde(default)]
    tie_word_embeddings: bool,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    use_sliding_window: bool,
    layer_types: Option<Vec<String>>,
}

fn default_act() -> String {
    "silu".to_string()
}
fn default_max_positions() -> usize {
    32768
}
fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10_000.0
}

impl DecoderConfig {
    /// Reads and validates `config.json`, refusing settings these models do not use
    /// (and tamis does not implement) rather than running them wrongly.
    pub fn from_file(path: &Path) -> Result<DecoderConfig> {
        let raw: RawConfig = crate::config::read_json(path)?;
        let bad = |message: String| Error::BadConfig { path: path.to_path_buf(), message };
        let model_type = raw.model_type.clone().unwrap_or_default();
        let architecture =
            raw.architectures.as_ref().and_then(|a| a.first().cloned()).unwrap_or_default();
        let family = match (model_type.as_str(), architecture.as_str()) {
            ("qwen2", "Qwen2ForCausalLM") => DecoderFamily::Qwen2,
            ("qwen3", "Qwen3ForCausalLM") => DecoderFamily::Qwen3,
            _ => {
                return Err(Error::UnsupportedArchitecture {
                    architecture: format!("{architecture} ({model_type})"),
                    path: path.to_path_buf(),
                });
            }
        };
        if raw.hidden_act != "silu" {
            return Err(bad(format!(
                "hidden_act '{}' is not supported (only 'silu')",
                raw.hidden_act
            )));
        }
        if let Some(scaling) = raw.rope_scaling.as_ref().filter(|v| !v.is_null()) {
            let kind = scaling.get("rope_type").or_else(|| scaling.get("type"));
            if kind.and_then(|k| k.as_str()) != Some("default") {
                return Err(bad(format!(
                    "rope_scaling {scaling} is not supported (only the default rotation)"
                )));
            }
        }
        if raw.partial_rotary_factor.is_some_and(|f| f != 1.0) {
            return Err(bad("partial_rotary_factor other than 1 is not supported".into()));
        }
        let sliding = raw.use_sliding_window
            || raw.layer_types.iter().flatten().any(|t| t != "full_attention");
        if sliding {
            return Err(bad("sliding-window attention is not supported".into()));
        }
        let heads = raw.num_attention_heads;
        let kv_heads = raw.num_key_value_heads.unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(bad(format!(
                "num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
            )));
        }
        let head_dim = raw.head_dim.unwrap_or(match family {
            DecoderFamily::Qwen3 => 128,
            DecoderFamily::Qwen2 => raw.hidden_size / heads,
        });
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(bad(format!(
                "head_dim {head_dim} must be even and above 0 (rotary pairs)"
            )));
        }
        if raw.hidden_size == 0 || raw.num_hidden_layers == 0 || raw.vocab_size == 0 {
            return Err(
                bad("hidden_size, num_hidden_layers and vocab_size must be above 0".into()),
            );
        }
        let (qkv_bias, o_bias, qk_norm) = match family {
            DecoderFamily::Qwen2 => (true, false, false),
            DecoderFamily::Qwen3 => (raw.attention_bias, raw.attention_bias, true),
        };
        Ok(DecoderConfig {
            family,
            architecture,
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            num_layers: raw.num_hidden_layers,
            num_heads: heads,
            num_kv_heads: kv_heads,
            head_dim,
            intermediate_size: raw.intermediate_size,
            max_position_embeddings: raw.max_position_embeddings,
            rms_norm_eps: raw.rms_norm_eps,
            rope_theta: raw.rope_theta,
            tie_word_embeddings: raw.tie_word_embeddings,
            qkv_bias,
            o_bias,
            qk_norm,
        })
    }

    /// The head layout for `tamis_kernels::causal_attention`.
    pub(crate) fn head_shape(&self) -> tamis_kernels::HeadShape {
        tamis_kernels::HeadShape {
            heads: self.num_heads,
            kv_heads: self.num_kv_heads,
            head_dim: self.head_dim,
        }
    }

    /// Floating-point operations (multiply and add apart) of the layers over `rows`
    /// token rows that each attend to `keys` keys on average: the dense layers'
    /// `2·rows·(hidden·(q + 2kv) + q·hidden + 3·hidden·inter)` and attention's
    /// `4·rows·keys·q` per layer. Used to report achieved FLOP/s.
    pub fn layer_flops(&self, rows: usize, keys: f64) -> f64 {
        let (h, i) = (self.hidden_size as f64, self.intermediate_size as f64);
        let q = (self.num_heads * self.head_dim) as f64;
        let kv = (self.num_kv_heads * self.head_dim) as f64;
        let dense = 2.0 * (h * (q + 2.0 * kv) + q * h + 3.0 * h * i);
        self.num_layers as f64 * rows as f64 * (dense + 4.0 * keys * q)
    }
}

/// Whether the `config.json` in `dir` declares a causal language model (`*ForCausalLM`),
/// which runs as an LLM reranker rather than as an encoder. `Ok(false)` when the file
/// has no `architectures`.
pub fn is_causal_lm(dir: &Path) -> Result<bool> {
    #[derive(Deserialize)]
    struct Architectures {
        architectures: Option<Vec<String>>,
    }
    let path = dir.join("config.json");
    if !path.is_file() {
        return Err(Error::MissingFile {
            path,
            hint: "a model directory in Hugging Face layout has config.json, tokenizer.json and model.safetensors",
        });
    }
    let raw: Architectures = crate::config::read_json(&path)?;
    Ok(raw.architectures.iter().flatten().any(|a| a.ends_with("ForCausalLM")))
}
