//! Late-interaction (ColBERT) models: one unit vector per token, scored by MaxSim.
//!
//! The reference is PyLate (`pylate.models.ColBERT`), which reads both layouts found on
//! the hub:
//! - **PyLate / sentence-transformers**: `modules.json` lists a `Transformer` and one or
//!   more `Dense` projections; `config_sentence_transformers.json` holds the marker
//!   prefixes, lengths, expansion and skiplist settings.
//! - **colbert-ai**: `config.json` declares `HF_ColBERT`, the weights hold `bert.*` and a
//!   bias-free `linear` projection, `artifact.metadata` the markers and lengths. A
//!   directory with both (answerai-colbert-small-v1) is read as PyLate reads it: by
//!   `modules.json`.
//!
//! A text is stripped, tokenized with the model's template truncated at `length − 1`,
//! and the marker id is inserted after `[CLS]`; a query is then padded with `[MASK]` to
//! its full length, those rows masked as keys but kept in the output (query
//! expansion). A document drops the rows of skiplist tokens (punctuation). Each kept
//! row goes through the projections and is scaled to unit length. The encoder is BERT or
//! ModernBERT (GTE-ModernColBERT). `scripts/parity/generate_colbert.py` records PyLate's
//! outputs for both layouts and both encoders.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tamis_core::{PairScore, ScoreActivation, ScoreContract, TextRole, TokenMatrix, TokenStorage};
use tamis_kernels::Linear;

use crate::bi_encoder::{Module, SentenceBertConfig};
use crate::config::{COLBERT_ARCHITECTURE, EncoderConfig, Family, Head, read_json};
use crate::encoder::Encoder;
use crate::pooling::normalize;
use crate::runtime::{RuntimeConfig, for_each_sorted_batch, load_encoder};
use crate::source::ModelDir;
use crate::tokenizer::{TextTokenizer, Tokens, Truncation};
use crate::{Error, Result};

/// PyLate's lengths when a model sets none.
const DEFAULT_QUERY_LENGTH: usize = 32;
const DEFAULT_DOCUMENT_LENGTH: usize = 180;

/// How a late-interaction model is loaded and run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LateInteractionConfig {
    /// Threads and batch size.
    pub runtime: RuntimeConfig,
    /// Tokens per query, markers and expansion included; `None` uses the model's.
    pub query_length: Option<usize>,
    /// Most tokens per document, markers included; `None` uses the model's.
    pub document_length: Option<usize>,
}

/// Whether a text is a query or a document: they get different markers and lengths,
/// queries are expanded and documents lose their punctuation rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateRole {
    /// A search query.
    Query,
    /// A passage to be searched.
    Document,
}

/// A text as the encoder reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateInput {
    /// Token ids, markers and expansion included.
    pub ids: Vec<u32>,
    /// 1 where a token is attended to; 0 for expansion tokens (unless the model attends
    /// to them).
    pub attention_mask: Vec<u32>,
    /// Which rows the output keeps: a document drops its skiplist tokens.
    pub kept: Vec<bool>,
    /// Whether the text was cut to fit the length.
    pub truncated: bool,
    /// Tokens cut (see [`Tokens::dropped_tokens`]).
    pub dropped_tokens: usize,
}

/// A loaded ColBERT model.
#[derive(Debug)]
pub struct LateInteractionModel {
    dir: PathBuf,
    encoder: Arc<dyn Encoder>,
    encoder_config: EncoderConfig,
    runtime: RuntimeConfig,
    query_tokenizer: TextTokenizer,
    document_tokenizer: TextTokenizer,
    projections: Vec<Linear>,
    query_marker: Option<u32>,
    document_marker: Option<u32>,
    mask_id: u32,
    query_length: usize,
    document_length: usize,
    expansion: bool,
    attend_to_expansion: bool,
    skiplist: BTreeSet<u32>,
    lowercase: bool,
}

/// The settings a ColBERT model declares, from either layout.
#[derive(Debug)]
struct Settings {
    transformer_dir: PathBuf,
    /// Each projection module's directory, in order; empty for colbert-ai, whose
    /// projection lives in the encoder's weights.
    dense: Vec<PathBuf>,
    query_prefix: String,
    document_prefix: String,
    query_length: Option<usize>,
    document_length: Option<usize>,
    expansion: bool,
    attend_to_expansion: bool,
    skiplist_words: Vec<String>,
}

/// `config_sentence_transformers.json` of a PyLate model.
#[derive(Deserialize, Default)]
struct PylateConfig {
    model_type: Option<String>,
    similarity_fn_name: Option<String>,
    query_prefix: Option<String>,
    document_prefix: Option<String>,
    query_length: Option<usize>,
    document_length: Option<usize>,
    attend_to_expansion_tokens: Option<bool>,
    skiplist_words: Option<Vec<String>>,
    do_query_expansion: Option<bool>,
}

/// The parts of colbert-ai's `artifact.metadata` PyLate reads.
#[derive(Deserialize, Default)]
struct ArtifactMetadata {
    query_token_id: Option<String>,
    doc_token_id: Option<String>,
    query_maxlen: Option<usize>,
    doc_maxlen: Option<usize>,
    attend_to_mask_tokens: Option<bool>,
}

/// `1_Dense/config.json`.
#[derive(Deserialize)]
struct DenseConfig {
    in_features: usize,
    out_features: usize,
    #[serde(default = "yes")]
    bias: bool,
    #[serde(default)]
    activation_function: Option<String>,
    #[serde(default)]
    use_residual: bool,
}

fn yes() -> bool {
    true
}

/// Python's `string.punctuation`, PyLate's default skiplist.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Whether the model in `dir` is a late-interaction model (either layout), by its
/// files alone: what bi-encoder loading refuses.
pub fn is_late_interaction(dir: &Path) -> bool {
    if dir.join("modules.json").is_file() {
        let config: PylateConfig =
            read_json(&dir.join("config_sentence_transformers.json")).unwrap_or_default();
        let modules: Vec<Module> = read_json(&dir.join("modules.json")).unwrap_or_default();
        return config.model_type.as_deref() == Some("ColBERT")
            || config.similarity_fn_name.as_deref() == Some("MaxSim")
            || modules.iter().any(|m| m.kind.starts_with("pylate."));
    }
    #[derive(Deserialize)]
    struct Architectures {
        architectures: Option<Vec<String>>,
    }
    read_json::<Architectures>(&dir.join("config.json"))
        .ok()
        .and_then(|c| c.architectures)
        .is_some_and(|a| a.first().is_some_and(|a| a == COLBERT_ARCHITECTURE))
}

/// Refuses a late-interaction model where `expected` (another kind) is needed, before
/// any weights are read.
pub(crate) fn refuse_late_interaction(dir: &Path, expected: &'static str) -> Result<()> {
    if is_late_interaction(dir) {
        return Err(Error::WrongModelKind {
            dir: dir.to_path_buf(),
            found: "a late-interaction (ColBERT) model, with a vector per token",
            expected,
        });
    }
    Ok(())
}

/// Reads what the model in `dir` declares, refusing what is not a ColBERT model.
fn read_settings(dir: &Path) -> Result<Settings> {
    let not_colbert = |found: &'static str| Error::WrongModelKind {
        dir: dir.to_path_buf(),
        found,
        expected: "a late-interaction (ColBERT) model",
    };
    if !is_late_interaction(dir) {
        return Err(if dir.join("modules.json").is_file() {
            not_colbert("a bi-encoder (sentence-transformers, one vector per text)")
        } else {
            not_colbert(
                "a transformer without a ColBERT projection (neither a PyLate model nor HF_ColBERT)",
            )
        });
    }
    let default_skiplist = || PUNCTUATION.chars().map(String::from).collect();
    let modules_path = dir.join("modules.json");
    if modules_path.is_file() {
        let config: PylateConfig = {
            let path = dir.join("config_sentence_transformers.json");
            if path.is_file() { read_json(&path)? } else { PylateConfig::default() }
        };
        let modules: Vec<Module> = read_json(&modules_path)?;
        let mut transformer_dir = None;
        let mut dense = Vec::new();
        for module in modules {
            match module.kind.rsplit('.').next().unwrap_or(&module.kind) {
                "Transformer" => transformer_dir = Some(dir.join(&module.path)),
                "Dense" => dense.push(dir.join(&module.path)),
                // PyLate keeps only the Transformer and the Dense modules.
                _ => {}
            }
        }
        let transformer_dir = transformer_dir.ok_or_else(|| Error::BadConfig {
            path: modules_path.clone(),
            message: "no Transformer module".into(),
        })?;
        if dense.is_empty() {
            return Err(Error::BadConfig {
                path: modules_path,
                message: "no Dense projection: a ColBERT model projects each token's state".into(),
            });
        }
        let expansion = config.do_query_expansion.unwrap_or(true);
        return Ok(Settings {
            transformer_dir,
            dense,
            query_prefix: config.query_prefix.unwrap_or_else(|| "[Q] ".into()),
            document_prefix: config.document_prefix.unwrap_or_else(|| "[D] ".into()),
            query_length: config.query_length,
            document_length: config.document_length,
            expansion,
            attend_to_expansion: expansion && config.attend_to_expansion_tokens.unwrap_or(false),
            skiplist_words: config.skiplist_words.unwrap_or_else(default_skiplist),
        });
    }
    let path = dir.join("artifact.metadata");
    let metadata: ArtifactMetadata =
        if path.is_file() { read_json(&path)? } else { ArtifactMetadata::default() };
    Ok(Settings {
        transformer_dir: dir.to_path_buf(),
        dense: Vec::new(),
        query_prefix: metadata.query_token_id.unwrap_or_else(|| "[unused0]".into()),
        document_prefix: metadata.doc_token_id.unwrap_or_else(|| "[unused1]".into()),
        query_length: metadata.query_maxlen,
        document_length: metadata.doc_maxlen,
        expansion: true,
        attend_to_expansion: metadata.attend_to_mask_tokens.unwrap_or(false),
        skiplist_words: default_skiplist(),
    })
}

/// A projection module's weights, refusing what PyLate's default `Dense` does not do.
fn read_dense(dir: &Path, expected_in: usize) -> Result<Linear> {
    let config_path = dir.join("config.json");
    let config: DenseConfig = read_json(&config_path)?;
    let bad = |message: String| Error::BadConfig { path: config_path.clone(), message };
    let activation = config.activation_function.as_deref().unwrap_or("Identity");
    if !activation.ends_with("Identity") {
        return Err(bad(format!(
            "activation '{activation}' is not supported (tamis runs Identity projections)"
        )));
    }
    if config.use_residual {
        return Err(bad("use_residual is not supported".into()));
    }
    if config.in_features != expected_in {
        return Err(bad(format!(
            "in_features {} does not follow the previous module's {expected_in} outputs",
            config.in_features
        )));
    }
    let tensors = crate::weights::load(dir)?;
    let (out, input) = (config.out_features, config.in_features);
    let weight = crate::weights::f32_values(dir, &tensors, "linear.weight", &[out, input])?;
    let bias = match config.bias {
        true => Some(crate::weights::f32_values(dir, &tensors, "linear.bias", &[out])?),
        false => None,
    };
    Ok(Linear::from_torch(&weight, bias.as_deref(), out, input))
}

/// colbert-ai's projection: `linear.weight` beside the encoder's tensors, its output
/// width read from its shape.
fn read_colbert_ai_linear(dir: &Path, hidden: usize) -> Result<Linear> {
    let tensors = crate::weights::load(dir)?;
    let bad = |message: &str| crate::weights::weights_error(dir, message.to_owned());
    let tensor = tensors.get("linear.weight").ok_or_else(|| {
        bad("no linear.weight tensor: an HF_ColBERT checkpoint holds its projection there")
    })?;
    let &[out, input] = tensor.dims() else {
        return Err(bad("linear.weight is not a matrix"));
    };
    if input != hidden {
        return Err(bad("linear.weight does not take the encoder's hidden states"));
    }
    let weight = crate::weights::f32_values(dir, &tensors, "linear.weight", &[out, input])?;
    Ok(Linear::from_torch(&weight, None, out, input))
}

/// A special token's text from `tokenizer_config.json` or `special_tokens_map.json`
/// (a string, or an added-token object with `content`).
fn special_token(dir: &Path, name: &str) -> Option<String> {
    ["tokenizer_config.json", "special_tokens_map.json"].iter().find_map(|file| {
        let value: serde_json::Value = read_json(&dir.join(file)).ok()?;
        match value.get(name)? {
            serde_json::Value::String(text) => Some(text.clone()),
            other => other.get("content")?.as_str().map(str::to_owned),
        }
    })
}

/// Python's `str.strip()`: Unicode whitespace and the ASCII separators 0x1c–0x1f.
fn python_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

impl LateInteractionModel {
    /// Loads the ColBERT model in `model`.
    pub fn load(model: &ModelDir, config: &LateInteractionConfig) -> Result<LateInteractionModel> {
        let dir = &model.path;
        let settings = read_settings(dir)?;
        let (encoder_config, encoder, runtime) =
            load_encoder(&settings.transformer_dir, &config.runtime)?;
        if let Head::Classifier { .. } = encoder_config.head {
            return Err(Error::WrongModelKind {
                dir: dir.clone(),
                found: "a cross-encoder (sequence classification model)",
                expected: "a late-interaction (ColBERT) model",
            });
        }
        if !matches!(encoder_config.family, Family::Bert | Family::ModernBert) {
            return Err(Error::UnsupportedArchitecture {
                architecture: format!("{} as a ColBERT encoder", encoder_config.architecture),
                path: settings.transformer_dir.join("config.json"),
            });
        }
        let hidden = encoder_config.hidden_size;
        let projections = if settings.dense.is_empty() {
            vec![read_colbert_ai_linear(&settings.transformer_dir, hidden)?]
        } else {
            let mut width = hidden;
            let mut chain = Vec::new();
            for module in &settings.dense {
                let linear = read_dense(module, width)?;
                width = linear.out_features();
                chain.push(linear);
            }
            chain
        };
        let limit = encoder_config.max_positions();
        let length = |name: &'static str, asked: Option<usize>, declared, default| {
            let length = asked.or(declared).unwrap_or(default);
            if length > limit {
                return Err(Error::InvalidOption {
                    name,
                    message: format!("{length} is more than the model's {limit} positions"),
                });
            }
            Ok(length)
        };
        let query_length = length(
            "query_length",
            config.query_length,
            settings.query_length,
            DEFAULT_QUERY_LENGTH,
        )?;
        let document_length = length(
            "document_length",
            config.document_length,
            settings.document_length,
            DEFAULT_DOCUMENT_LENGTH,
        )?;
        // A ModernBERT local layer attends within `reach` rows. A [MASK] expansion row
        // further than that from every real token ([CLS], marker, [SEP] at least) has only
        // masked keys in its window. transformers still gives it a value (its masks are a
        // large negative, not −∞); tamis' attention, which skips masked keys, has none to
        // give, so such query lengths are refused. Real models are far inside the bound
        // (GTE-ModernColBERT: 32 tokens, reach 64).
        if let Some(modern) = &encoder_config.modern_bert
            && settings.expansion
            && !settings.attend_to_expansion
            && query_length > modern.local_reach + 3
        {
            return Err(Error::InvalidOption {
                name: "query_length",
                message: format!(
                    "{query_length} leaves [MASK] expansion rows of {} outside every real token's local attention window (reach {}): use at most {}",
                    dir.display(),
                    modern.local_reach,
                    modern.local_reach + 3
                ),
            });
        }
        let tdir = &settings.transformer_dir;
        // Markers are inserted after truncation, so the tokenizer keeps one place free.
        let marker_room = |prefix: &str| usize::from(!prefix.is_empty());
        let query_tokenizer = TextTokenizer::load(
            tdir,
            query_length.saturating_sub(marker_room(&settings.query_prefix)),
            Truncation::LongestFirst,
        )?;
        let document_tokenizer = TextTokenizer::load(
            tdir,
            document_length.saturating_sub(marker_room(&settings.document_prefix)),
            Truncation::LongestFirst,
        )?;
        let tokenizer_path = tdir.join("tokenizer.json");
        let marker = |prefix: &str| -> Result<Option<u32>> {
            if prefix.is_empty() {
                return Ok(None);
            }
            query_tokenizer.token_id(prefix).map(Some).ok_or_else(|| Error::Tokenizer {
                path: tokenizer_path.clone(),
                message: format!("the marker token {prefix:?} is not in the vocabulary"),
            })
        };
        let query_marker = marker(&settings.query_prefix)?;
        let document_marker = marker(&settings.document_prefix)?;
        // PyLate pads queries with the mask token whatever `pad_token` says.
        let mask_token = special_token(tdir, "mask_token").unwrap_or_else(|| "[MASK]".into());
        let mask_id = query_tokenizer.token_id(&mask_token).ok_or_else(|| Error::Tokenizer {
            path: tokenizer_path.clone(),
            message: format!("the mask token {mask_token:?} is not in the vocabulary"),
        })?;
        // Each word looked up whole; one missing from the vocabulary stands for the
        // unknown token, as `convert_tokens_to_ids` makes it.
        let unk_token = special_token(tdir, "unk_token").unwrap_or_else(|| "[UNK]".into());
        let unk_id = query_tokenizer.token_id(&unk_token);
        let skiplist = settings
            .skiplist_words
            .iter()
            .filter_map(|word| query_tokenizer.token_id(word).or(unk_id))
            .collect();
        let st_path = tdir.join("sentence_bert_config.json");
        let st: SentenceBertConfig =
            if st_path.is_file() { read_json(&st_path)? } else { Default::default() };
        Ok(LateInteractionModel {
            dir: dir.clone(),
            encoder,
            encoder_config,
            runtime,
            query_tokenizer,
            document_tokenizer,
            projections,
            query_marker,
            document_marker,
            mask_id,
            query_length,
            document_length,
            expansion: settings.expansion,
            attend_to_expansion: settings.attend_to_expansion,
            skiplist,
            lowercase: st.do_lower_case,
        })
    }

    /// Width of each token vector.
    pub fn dimension(&self) -> usize {
        self.projections.last().map_or(self.encoder_config.hidden_size, Linear::out_features)
    }

    /// Tokens per query, markers and expansion included.
    pub fn query_length(&self) -> usize {
        self.query_length
    }

    /// Most tokens per document, markers included.
    pub fn document_length(&self) -> usize {
        self.document_length
    }

    /// The arithmetic of its dense layers.
    pub fn precision(&self) -> crate::Precision {
        self.runtime.precision
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The encoder's configuration, as read from `config.json`.
    pub fn encoder_config(&self) -> &EncoderConfig {
        &self.encoder_config
    }

    /// Byte ranges of the first `n` tokens of `text` (all when it has fewer), without
    /// special tokens.
    pub fn first_token_offsets(&self, text: &str, n: usize) -> Result<Vec<(usize, usize)>> {
        self.document_tokenizer.first_token_offsets(text, n)
    }

    /// The ids a query is encoded from, markers and expansion included: two queries with
    /// equal ids get equal vectors.
    pub fn query_ids(&self, query: &str) -> Result<Vec<u32>> {
        Ok(self
            .prepare(&[query], LateRole::Query)?
            .into_iter()
            .next()
            .map_or_else(Vec::new, |input| input.ids))
    }

    /// The ids the encoder reads for `texts`, and which output rows are kept.
    pub fn prepare(&self, texts: &[&str], role: LateRole) -> Result<Vec<LateInput>> {
        let (tokenizer, marker) = match role {
            LateRole::Query => (&self.query_tokenizer, self.query_marker),
            LateRole::Document => (&self.document_tokenizer, self.document_marker),
        };
        let cleaned: Vec<String> = texts
            .iter()
            .map(|text| {
                let text = python_strip(text);
                if self.lowercase { text.to_lowercase() } else { text.to_owned() }
            })
            .collect();
        let tokens =
            tokenizer.encode_texts(&cleaned.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(tokens.into_iter().map(|tokens| self.input(tokens, marker, role)).collect())
    }

    fn input(&self, tokens: Tokens, marker: Option<u32>, role: LateRole) -> LateInput {
        let mut ids = tokens.ids;
        if let Some(marker) = marker {
            ids.insert(1.min(ids.len()), marker);
        }
        let mut attention_mask = vec![1; ids.len()];
        let expand = role == LateRole::Query && self.expansion;
        if expand && ids.len() < self.query_length {
            let pad = self.query_length - ids.len();
            ids.extend(std::iter::repeat_n(self.mask_id, pad));
            attention_mask.extend(std::iter::repeat_n(u32::from(self.attend_to_expansion), pad));
        }
        let kept = match role {
            LateRole::Query => vec![true; ids.len()],
            LateRole::Document => ids.iter().map(|id| !self.skiplist.contains(id)).collect(),
        };
        LateInput {
            ids,
            attention_mask,
            kept,
            truncated: tokens.truncated,
            dropped_tokens: tokens.dropped_tokens,
        }
    }

    /// Each text's token vectors, in input order.
    pub fn encode(&self, texts: &[&str], role: LateRole) -> Result<Vec<TokenMatrix>> {
        self.encode_prepared(&self.prepare(texts, role)?, role)
    }

    /// The token vectors of prepared texts, in input order.
    pub fn encode_prepared(
        &self,
        inputs: &[LateInput],
        role: LateRole,
    ) -> Result<Vec<TokenMatrix>> {
        // Expansion rows are computed though never attended to.
        let every_row = role == LateRole::Query && self.expansion;
        let hidden = self.encoder_config.hidden_size;
        let dim = self.dimension();
        let threads = self.runtime.threads();
        let tokens: Vec<Tokens> = inputs
            .iter()
            .map(|input| Tokens {
                ids: input.ids.clone(),
                type_ids: vec![0; input.ids.len()],
                truncated: input.truncated,
                dropped_tokens: 0,
            })
            .collect();
        let mut out = vec![TokenMatrix { dim, data: Vec::new() }; inputs.len()];
        let pad_id = self.encoder_config.pad_token_id;
        for_each_sorted_batch(&tokens, &self.runtime, pad_id, |positions, batch| {
            let mut batch = batch.clone();
            for (row, &position) in positions.iter().enumerate() {
                let mask = &inputs[position].attention_mask;
                batch.attention_mask[row * batch.seq_len..][..mask.len()].copy_from_slice(mask);
            }
            let states = if every_row {
                self.encoder.hidden_states_every_row(&batch)?
            } else {
                self.encoder.hidden_states(&batch)?
            };
            // The kept rows of the whole batch, projected together.
            let mut rows = Vec::new();
            let mut counts = Vec::with_capacity(positions.len());
            for (row, &position) in positions.iter().enumerate() {
                let sequence = states.sequence(row);
                let kept = &inputs[position].kept;
                let before = rows.len();
                for (state, _) in sequence.chunks_exact(hidden).zip(kept).filter(|(_, k)| **k) {
                    rows.extend_from_slice(state);
                }
                counts.push((rows.len() - before) / hidden);
            }
            let mut projected = rows;
            let mut width = hidden;
            for linear in &self.projections {
                let n = projected.len() / width;
                let mut next = vec![0.0f32; n * linear.out_features()];
                linear.forward(&projected, n, None, &mut next, threads);
                projected = next;
                width = linear.out_features();
            }
            let mut start = 0;
            for (&position, &count) in positions.iter().zip(&counts) {
                let mut data = projected[start * dim..(start + count) * dim].to_vec();
                data.chunks_exact_mut(dim).for_each(normalize);
                out[position] = TokenMatrix { dim, data };
                start += count;
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// Scores passages by MaxSim against the query, encoding both: the late-interaction stage
/// when no token vectors are stored. Scores are raw MaxSim sums (identity contract),
/// between minus and plus the query's row count.
impl tamis_core::Reranker for LateInteractionModel {
    fn score_contract(&self) -> ScoreContract {
        ScoreContract { activation: ScoreActivation::Identity }
    }

    fn score(&self, query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        let query = self.encode(&[query], LateRole::Query)?;
        let inputs = self.prepare(passages, LateRole::Document)?;
        let documents = self.encode_prepared(&inputs, LateRole::Document)?;
        let scores = max_sim_many(&query[0], &documents);
        Ok(scores
            .into_iter()
            .zip(&inputs)
            .map(|(score, input)| PairScore {
                score,
                logit: score,
                truncated: input.truncated,
                dropped_tokens: input.dropped_tokens,
            })
            .collect())
    }

    /// The query's ids, markers and expansion included.
    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        Ok(Some(self.query_ids(query)?))
    }
}

impl tamis_core::TokenEmbedder for LateInteractionModel {
    fn dimension(&self) -> usize {
        LateInteractionModel::dimension(self)
    }

    fn embed_tokens(&self, texts: &[&str], role: TextRole) -> tamis_core::Result<Vec<TokenMatrix>> {
        let role = match role {
            TextRole::Query => LateRole::Query,
            TextRole::Document => LateRole::Document,
        };
        Ok(self.encode(texts, role)?)
    }

    /// On tamis-kernels' MaxSim; widths or row counts that do not fit are an error.
    fn max_sim(
        &self,
        query: &TokenMatrix,
        documents: &[f32],
        rows: &[usize],
    ) -> tamis_core::Result<Vec<f32>> {
        let dim = LateInteractionModel::dimension(self);
        let total = rows.iter().try_fold(0usize, |sum, &r| sum.checked_add(r));
        if query.dim != dim || total.and_then(|t| t.checked_mul(dim)) != Some(documents.len()) {
            return Err(Error::InvalidOption {
                name: "token vectors",
                message: format!(
                    "the model's vectors have {dim} values; a query of width {} and {} \
                     document values for {} rows do not fit",
                    query.dim,
                    documents.len(),
                    total.map_or_else(|| "too many".to_string(), |t| t.to_string())
                ),
            }
            .into());
        }
        let mut scores = vec![0.0; rows.len()];
        tamis_kernels::max_sim(&query.data, dim, documents, rows, &mut scores);
        Ok(scores)
    }

    /// Decodes each block of documents on the thread that scores it, in cache.
    fn max_sim_stored(
        &self,
        query: &TokenMatrix,
        storage: TokenStorage,
        documents: &[&[u8]],
    ) -> tamis_core::Result<Vec<f32>> {
        let dim = LateInteractionModel::dimension(self);
        let row_bytes = storage.row_bytes(dim);
        let bad = documents.iter().position(|bytes| !bytes.len().is_multiple_of(row_bytes));
        if query.dim != dim || bad.is_some() {
            return Err(Error::InvalidOption {
                name: "token vectors",
                message: format!(
                    "the model's vectors have {dim} values ({row_bytes} bytes stored); a query \
                     of width {} or a document of {} bytes does not fit",
                    query.dim,
                    bad.map_or(0, |d| documents[d].len())
                ),
            }
            .into());
        }
        let rows: Vec<usize> = documents.iter().map(|bytes| bytes.len() / row_bytes).collect();
        let mut scores = vec![0.0; rows.len()];
        tamis_kernels::max_sim_with(&query.data, dim, &rows, &mut scores, |d, buf| {
            // Whole rows, checked above: decoding cannot fail.
            let _ = storage.decode_into(documents[d], dim, buf);
        });
        Ok(scores)
    }

    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        Ok(Some(self.query_ids(query)?))
    }
}

/// ColBERT's score: for each query vector, its largest dot product with a document
/// vector, summed over the query's vectors (0 when the document has none).
///
/// # Panics
/// If the two widths differ.
pub fn max_sim(query: &TokenMatrix, document: &TokenMatrix) -> f32 {
    max_sim_many(query, std::slice::from_ref(document))[0]
}

/// [`max_sim`] of `query` against each of `documents`, computed in parallel on the
/// current rayon pool.
///
/// # Panics
/// If a width differs from the query's.
pub fn max_sim_many(query: &TokenMatrix, documents: &[TokenMatrix]) -> Vec<f32> {
    assert!(documents.iter().all(|d| d.dim == query.dim), "max_sim: vectors of different widths");
    let rows: Vec<usize> = documents.iter().map(TokenMatrix::rows).collect();
    let all: Vec<f32> = documents.iter().flat_map(|d| d.data.iter().copied()).collect();
    let mut scores = vec![0.0; documents.len()];
    tamis_kernels::max_sim(&query.data, query.dim.max(1), &all, &rows, &mut scores);
    scores
}

#[cfg(test)]
mod tests;
