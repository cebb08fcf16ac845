//! Bi-encoders: texts to vectors with sentence-transformers semantics.
//!
//! The model directory's `modules.json` decides the pipeline (Transformer → Pooling →
//! optional Normalize), `sentence_bert_config.json` the maximum length and
//! `config_sentence_transformers.json` the named prompts (e5/bge `query: ` style).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tamis_core::{Embedder, TextRole};

use crate::config::{EncoderConfig, Head, read_json};
use crate::encoder::Encoder;
use crate::pooling::{Pooling, normalize};
use crate::runtime::{Precision, RuntimeConfig, for_each_sorted_batch, load_encoder};
use crate::source::ModelDir;
use crate::tokenizer::{TextTokenizer, Tokens, Truncation};
use crate::{Error, Result};

/// How a bi-encoder is loaded and run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BiEncoderConfig {
    /// Threads and batch size.
    pub runtime: RuntimeConfig,
    /// Maximum tokens per text; `None` uses the model's `max_seq_length`.
    pub max_length: Option<usize>,
    /// `Some(true)` normalizes to unit length even without a `Normalize` module;
    /// `Some(false)` never does; `None` follows the model.
    pub normalize: Option<bool>,
    /// Text prepended to queries, overriding the model's `query` prompt.
    pub query_prompt: Option<String>,
    /// Text prepended to documents, overriding the model's `document` prompt.
    pub document_prompt: Option<String>,
}

/// Which prompt to prepend to the texts of one [`BiEncoder::encode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt<'a> {
    /// The model's default prompt, if it declares one (sentence-transformers' behaviour).
    Default,
    /// No prompt at all.
    None,
    /// A prompt the model declares by name (`query`, `document`, …).
    Named(&'a str),
    /// This literal text.
    Text(&'a str),
}

/// A text tokenized for [`BiEncoder::encode_prepared`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderInput {
    /// The tokens, prompt included.
    pub tokens: Tokens,
    /// Leading tokens left out of pooling (the prompt's, when the model excludes it).
    pub skip_tokens: usize,
}

/// A loaded bi-encoder.
#[derive(Debug)]
pub struct BiEncoder {
    dir: PathBuf,
    encoder: Arc<dyn Encoder>,
    encoder_config: EncoderConfig,
    tokenizer: TextTokenizer,
    pad_id: u32,
    hidden: usize,
    pooling: Pooling,
    normalize: bool,
    lowercase: bool,
    max_length: usize,
    runtime: RuntimeConfig,
    prompts: BTreeMap<String, String>,
    default_prompt_name: Option<String>,
    query_prompt: Option<String>,
    document_prompt: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Module {
    pub(crate) path: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

#[derive(Deserialize, Default)]
pub(crate) struct SentenceBertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    pub(crate) do_lower_case: bool,
}

#[derive(Deserialize, Default)]
struct StModelConfig {
    #[serde(default)]
    prompts: BTreeMap<String, String>,
    default_prompt_name: Option<String>,
}

/// The parts of a sentence-transformers pipeline that tamis reproduces.
struct Pipeline {
    transformer_dir: PathBuf,
    pooling: Pooling,
    normalize: bool,
}

impl BiEncoder {
    /// Loads the bi-encoder in `model`.
    pub fn load(model: &ModelDir, config: &BiEncoderConfig) -> Result<BiEncoder> {
        let dir = &model.path;
        crate::late_interaction::refuse_late_interaction(dir, "a bi-encoder (embedding model)")?;
        let pipeline = read_pipeline(dir)?;
        let (encoder_config, encoder, runtime) =
            load_encoder(&pipeline.transformer_dir, &config.runtime)?;
        if let Head::Classifier { .. } = encoder_config.head {
            return Err(Error::WrongModelKind {
                dir: dir.clone(),
                found: "a cross-encoder (sequence classification model)",
                expected: "a bi-encoder (embedding model)",
            });
        }
        let st_path = pipeline.transformer_dir.join("sentence_bert_config.json");
        let st: SentenceBertConfig =
            if st_path.is_file() { read_json(&st_path)? } else { Default::default() };
        let max_length =
            resolve_max_length(&encoder_config, config.max_length.or(st.max_seq_length), dir)?;
        let model_config_path = dir.join("config_sentence_transformers.json");
        let st_model: StModelConfig = if model_config_path.is_file() {
            read_json(&model_config_path)?
        } else {
            Default::default()
        };
        let tokenizer =
            TextTokenizer::load(&pipeline.transformer_dir, max_length, Truncation::LongestFirst)?;
        Ok(BiEncoder {
            dir: dir.clone(),
            encoder,
            encoder_config: encoder_config.clone(),
            tokenizer,
            pad_id: encoder_config.pad_token_id,
            hidden: encoder_config.hidden_size,
            pooling: pipeline.pooling,
            normalize: config.normalize.unwrap_or(pipeline.normalize),
            lowercase: st.do_lower_case,
            max_length,
            runtime,
            prompts: st_model.prompts,
            default_prompt_name: st_model.default_prompt_name,
            query_prompt: config.query_prompt.clone(),
            document_prompt: config.document_prompt.clone(),
        })
    }

    /// The encoder's configuration, as read from `config.json`.
    pub fn encoder_config(&self) -> &EncoderConfig {
        &self.encoder_config
    }

    /// Length of the vectors this model returns.
    pub fn dimension(&self) -> usize {
        self.hidden * self.pooling.modes.len()
    }

    /// Maximum tokens per text; longer texts are truncated.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The arithmetic of its dense layers.
    pub fn precision(&self) -> Precision {
        self.runtime.precision
    }

    /// Whether vectors are scaled to unit length.
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// The prompts the model declares, by name.
    pub fn prompts(&self) -> &BTreeMap<String, String> {
        &self.prompts
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tokenizes `texts` exactly as [`BiEncoder::encode`] does: prompt, surrounding
    /// whitespace stripped, lowercasing, truncation.
    pub fn tokenize(&self, texts: &[&str], prompt: Prompt<'_>) -> Result<Vec<Tokens>> {
        let prompt_text = self.prompt_text(prompt)?.unwrap_or("");
        let prepared: Vec<String> = texts
            .iter()
            .map(|t| {
                let text = format!("{prompt_text}{t}");
                let text = strip(&text);
                if self.lowercase { text.to_lowercase() } else { text.to_owned() }
            })
            .collect();
        self.tokenizer.encode_texts(&prepared.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Embeds `texts` after prepending `prompt`, one vector per text in input order.
    pub fn encode(&self, texts: &[&str], prompt: Prompt<'_>) -> Result<Vec<Vec<f32>>> {
        let mut vectors = self.encode_prepared(&self.prepare(texts, prompt)?)?;
        if self.normalize {
            vectors.iter_mut().for_each(|v| normalize(v));
        }
        Ok(vectors)
    }

    /// Tokenizes `texts` for [`BiEncoder::encode_prepared`]: a server tokenizes on its
    /// request threads and batches the model calls of many requests.
    pub fn prepare(&self, texts: &[&str], prompt: Prompt<'_>) -> Result<Vec<EncoderInput>> {
        // sentence-transformers masks [CLS] and the prompt's tokens out of pooling when
        // `include_prompt` is false; the prompt length counts its tokens minus the final [SEP].
        let skip_tokens = match self.prompt_text(prompt)? {
            Some(p) if !self.pooling.include_prompt => {
                self.tokenizer.count_tokens(strip(p))?.saturating_sub(1)
            }
            _ => 0,
        };
        Ok(self
            .tokenize(texts, prompt)?
            .into_iter()
            .map(|tokens| EncoderInput { tokens, skip_tokens })
            .collect())
    }

    /// The prepared texts' pooled vectors, in input order, **not normalized** (the caller
    /// decides: [`BiEncoder::normalizes`] says what the model does).
    pub fn encode_prepared(&self, inputs: &[EncoderInput]) -> Result<Vec<Vec<f32>>> {
        let tokens: Vec<&Tokens> = inputs.iter().map(|input| &input.tokens).collect();
        let mut vectors = vec![Vec::new(); inputs.len()];
        for_each_sorted_batch(&tokens, &self.runtime, self.pad_id, |positions, batch| {
            let states = self.encoder.hidden_states(batch)?;
            for (row, &position) in positions.iter().enumerate() {
                let mut mask = batch.mask_row(row).to_vec();
                mask.iter_mut().take(inputs[position].skip_tokens).for_each(|m| *m = 0);
                vectors[position] = self.pooling.pool(states.sequence(row), &mask, self.hidden);
            }
            Ok(())
        })?;
        Ok(vectors)
    }

    /// The role's prompt, for [`BiEncoder::prepare`].
    pub fn prompt_for(&self, role: TextRole) -> Prompt<'_> {
        self.role_prompt(role)
    }

    fn prompt_text<'a>(&'a self, prompt: Prompt<'a>) -> Result<Option<&'a str>> {
        let named = |name: &str| -> Result<&'a str> {
            self.prompts.get(name).map(String::as_str).ok_or_else(|| Error::UnknownPrompt {
                name: name.to_string(),
                available: self.prompts.keys().cloned().collect::<Vec<_>>().join(", "),
            })
        };
        Ok(match prompt {
            Prompt::None => None,
            Prompt::Text(text) => Some(text),
            Prompt::Named(name) => Some(named(name)?),
            Prompt::Default => match &self.default_prompt_name {
                Some(name) => Some(named(name)?),
                None => None,
            },
        })
    }

    /// The prompt for a role: the configured override, else the model's prompt of that
    /// name (`query`; `document` or `passage`), else the model's default.
    fn role_prompt(&self, role: TextRole) -> Prompt<'_> {
        let (configured, names): (&Option<String>, &[&str]) = match role {
            TextRole::Query => (&self.query_prompt, &["query"]),
            TextRole::Document => (&self.document_prompt, &["document", "passage"]),
        };
        if let Some(text) = configured {
            return Prompt::Text(text);
        }
        names
            .iter()
            .find(|name| self.prompts.contains_key(**name))
            .map_or(Prompt::Default, |name| Prompt::Named(name))
    }
}

impl tamis_core::Tokenize for BiEncoder {
    fn token_offsets(&self, text: &str) -> tamis_core::Result<Vec<(usize, usize)>> {
        Ok(self.tokenizer.token_offsets(text)?)
    }

    fn max_tokens(&self) -> usize {
        self.max_length
    }
}

impl Embedder for BiEncoder {
    fn dimension(&self) -> usize {
        BiEncoder::dimension(self)
    }

    fn embed(&self, texts: &[&str], role: TextRole) -> tamis_core::Result<Vec<Vec<f32>>> {
        Ok(self.encode(texts, self.role_prompt(role))?)
    }

    /// The encoder's input ids, prompt and truncation included.
    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        let tokens = self.tokenize(&[query], self.role_prompt(TextRole::Query))?;
        Ok(tokens.into_iter().next().map(|t| t.ids))
    }
}

/// Reads `modules.json`; a plain Hugging Face model gets mean pooling, as in sentence-transformers.
fn read_pipeline(dir: &Path) -> Result<Pipeline> {
    let modules_path = dir.join("modules.json");
    if !modules_path.is_file() {
        return Ok(Pipeline {
            transformer_dir: dir.to_path_buf(),
            pooling: Pooling::mean(),
            normalize: false,
        });
    }
    let modules: Vec<Module> = read_json(&modules_path)?;
    let mut pipeline =
        Pipeline { transformer_dir: dir.to_path_buf(), pooling: Pooling::mean(), normalize: false };
    for module in modules {
        let kind = module.kind.rsplit('.').next().unwrap_or(&module.kind);
        match kind {
            "Transformer" => pipeline.transformer_dir = dir.join(&module.path),
            "Pooling" => {
                pipeline.pooling = Pooling::from_file(&dir.join(&module.path).join("config.json"))?
            }
            "Normalize" => pipeline.normalize = true,
            _ => {
                return Err(Error::BadConfig {
                    path: modules_path,
                    message: format!(
                        "module type '{}' is not supported (tamis runs Transformer, Pooling and Normalize)",
                        module.kind
                    ),
                });
            }
        }
    }
    Ok(pipeline)
}

/// The requested length, capped by what the position table holds.
pub(crate) fn resolve_max_length(
    config: &EncoderConfig,
    requested: Option<usize>,
    dir: &Path,
) -> Result<usize> {
    let limit = config.max_positions();
    match requested {
        Some(0) => {
            Err(Error::InvalidOption { name: "max_length", message: "must be at least 1".into() })
        }
        Some(n) => Ok(n.min(limit)),
        None => Ok(tokenizer_max_length(dir).map_or(limit, |n| n.min(limit))),
    }
}

/// `model_max_length` from `tokenizer_config.json`, ignoring transformers' "unset" sentinel (1e30).
pub(crate) fn tokenizer_max_length(dir: &Path) -> Option<usize> {
    #[derive(Deserialize)]
    struct TokenizerConfig {
        model_max_length: Option<f64>,
    }
    let config: TokenizerConfig = read_json(&dir.join("tokenizer_config.json")).ok()?;
    config.model_max_length.filter(|n| *n >= 1.0 && *n < 1e9).map(|n| n as usize)
}

/// `text` without the surrounding whitespace that Python's `str.strip()` removes, as
/// sentence-transformers strips every text (prompt included) before tokenizing: it
/// matters for byte-level BPE tokenizers (ModernBERT's), where spaces are tokens.
fn strip(text: &str) -> &str {
    // Python's `isspace` adds the four ASCII separators U+001C..U+001F to Unicode's White_Space.
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}
