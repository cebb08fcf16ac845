//! Decoder LLMs as rerankers: Qwen3-Reranker and mxbai-rerank-v2.
//!
//! Both read a prompt holding the query and one document and score it with the logits
//! of two answer tokens at the last position. The prompt is cut into the part a query's
//! documents share and the part each adds (`template`), and the decoder computes the
//! shared part once per query (`crate::decoder`). Only the two answer rows of the
//! output head are kept; the vocabulary-wide projection is never computed.

mod template;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tamis_core::{PairScore, Reranker, ScoreActivation, ScoreContract};
use tokenizers::Tokenizer;

pub use template::RerankerKind;
use template::{DocumentRows, Prompt, Template};

use crate::decoder::{Decoder, DecoderConfig, Group, Tensors, Values};
use crate::{Error, ModelDir, ModelOrigin, Precision, Result, RuntimeConfig, Tokens};

/// The default of [`LlmRerankerConfig::max_pass_tokens`].
pub const DEFAULT_PASS_TOKENS: usize = 8192;

/// How to load an LLM reranker.
#[derive(Debug, Clone)]
pub struct LlmRerankerConfig {
    /// Threads (its `max_batch_tokens` is for encoders: see `max_pass_tokens`).
    pub runtime: RuntimeConfig,
    /// Most token rows per forward pass (a pass holds one document at least). Larger
    /// than encoders' batches: the weights are widened from bf16 once per pass, and
    /// 8192 rows hold a query of 20 documents of 250 tokens (measured 11% faster than
    /// 4096 on Qwen3-Reranker-0.6B's shapes, `bench/runs/2026-12-04-xeon-2core/llm-rerankers.md`).
    pub max_pass_tokens: usize,
    /// Most tokens in one prompt, template included; `None`: the reference code's
    /// default (8192 for Qwen3-Reranker; for mxbai-rerank-v2, 8192 for the query and
    /// document plus its template), within the model's position limit.
    pub max_length: Option<usize>,
    /// The template; `None` works it out from the hub id (an error for a directory of
    /// unknown origin).
    pub kind: Option<RerankerKind>,
    /// Compute a query's shared prompt prefix once for all its documents (the default);
    /// off, every document's whole prompt runs on its own. Same scores either way: off
    /// only to measure what sharing saves.
    pub share_prefix: bool,
}

impl Default for LlmRerankerConfig {
    fn default() -> Self {
        LlmRerankerConfig {
            runtime: RuntimeConfig::default(),
            max_pass_tokens: DEFAULT_PASS_TOKENS,
            max_length: None,
            kind: None,
            share_prefix: true,
        }
    }
}

/// A decoder reranker loaded for scoring.
#[derive(Debug)]
pub struct LlmReranker {
    dir: PathBuf,
    decoder: Decoder,
    template: Template,
    /// The output head's rows for the relevant and not relevant answers.
    head: (Vec<f32>, Vec<f32>),
    max_pass_tokens: usize,
    share_prefix: bool,
    precision: Precision,
}

/// One document's score parts, for tests and reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnswerLogits {
    /// The logit of the relevant answer ("yes", "1").
    pub relevant: f32,
    /// The logit of the not relevant answer ("no", "0").
    pub not_relevant: f32,
}

impl LlmReranker {
    /// Loads the reranker in `model`.
    pub fn load(model: &ModelDir, config: &LlmRerankerConfig) -> Result<LlmReranker> {
        config.runtime.validate()?;
        if config.max_pass_tokens == 0 {
            return Err(Error::InvalidOption {
                name: "max_pass_tokens",
                message: "must be at least 1".into(),
            });
        }
        let dir = &model.path;
        let kind = resolve_kind(model, config.kind)?;
        let decoder_config = DecoderConfig::from_file(&dir.join("config.json"))?;
        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            return Err(Error::MissingFile {
                path: tokenizer_path,
                hint: "LLM rerankers need the fast tokenizer file; save it with `tokenizer.save_pretrained(dir)` in transformers",
            });
        }
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| {
            Error::Tokenizer { path: tokenizer_path.clone(), message: e.to_string() }
        })?;
        tokenizer.with_truncation(None).map_err(|e| Error::Tokenizer {
            path: tokenizer_path.clone(),
            message: e.to_string(),
        })?;
        tokenizer.with_padding(None);
        if config.max_length == Some(0) {
            return Err(Error::InvalidOption {
                name: "max_length",
                message: "must be at least 1".into(),
            });
        }
        let limit = decoder_config.max_position_embeddings;
        let template = Template::new(kind, tokenizer, tokenizer_path, config.max_length, limit)?;
        let (relevant, not_relevant) = template.answers;
        // Every id the tokenizer can give must have an embedding row.
        let vocab = decoder_config.vocab_size;
        let tokenizer_size = template.vocab_size();
        if tokenizer_size > vocab {
            return Err(Error::BadConfig {
                path: dir.join("config.json"),
                message: format!(
                    "the tokenizer has {tokenizer_size} tokens but vocab_size is {vocab}: the tokenizer does not belong to this model"
                ),
            });
        }
        let mut tensors = Tensors::load(dir)?;
        let hidden = decoder_config.hidden_size;
        let tied = decoder_config.tie_word_embeddings;
        let untied_head = match tied {
            false => Some(tensors.take("lm_head.weight", &[vocab, hidden])?),
            true => None,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.runtime.threads())
            .thread_name(|i| format!("tamis-model-{i}"))
            .build()
            .map_err(|e| Error::InvalidOption { name: "threads", message: e.to_string() })?;
        let positions = template.max_length();
        let decoder = Decoder::load(decoder_config, &mut tensors, positions, Arc::new(pool))?
            .with_precision(config.runtime.precision.resolve_llm());
        let table: &Values = untied_head.as_ref().unwrap_or(decoder.embeddings());
        let row = |id: u32| {
            let mut row = vec![0.0; hidden];
            table.row_into(id as usize, hidden, &mut row);
            row
        };
        let head = (row(relevant), row(not_relevant));
        Ok(LlmReranker {
            dir: dir.clone(),
            decoder,
            template,
            head,
            max_pass_tokens: config.max_pass_tokens,
            share_prefix: config.share_prefix,
            precision: config.runtime.precision.resolve_llm(),
        })
    }

    /// The template in use.
    pub fn kind(&self) -> RerankerKind {
        self.template.kind()
    }

    /// Most tokens in one prompt, template included.
    pub fn max_length(&self) -> usize {
        self.template.max_length()
    }

    /// The arithmetic of its decoder layers.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Tokens of the template (system prompt, separators, answer cue) outside the span
    /// the model's reference code cuts to its own `max_length`: this `max_length` minus
    /// that one.
    pub fn template_tokens(&self) -> usize {
        self.template.fixed_len()
    }

    /// The token ids whose logits make the score: (relevant, not relevant), e.g. the ids
    /// of "yes" and "no".
    pub fn answer_token_ids(&self) -> (u32, u32) {
        self.template.answers
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The decoder's configuration.
    pub fn decoder_config(&self) -> &DecoderConfig {
        self.decoder.config()
    }

    /// How scores are made from logits: Qwen3-Reranker's is the probability of "yes"
    /// (sigmoid of the logit difference), mxbai-rerank-v2's the raw difference.
    pub fn activation(&self) -> ScoreActivation {
        match self.kind() {
            RerankerKind::Qwen3 => ScoreActivation::Sigmoid,
            RerankerKind::MxbaiV2 => ScoreActivation::Identity,
        }
    }

    /// The whole prompt of each passage, as the reference code tokenizes it (the shared
    /// prefix included), with what was cut to fit.
    pub fn tokenize(
        &self,
        query: &str,
        instruction: Option<&str>,
        passages: &[&str],
    ) -> Result<Vec<Tokens>> {
        let prompt = self.template.prompt(query, instruction, passages)?;
        Ok(prompt
            .documents
            .into_iter()
            .map(|document| {
                let ids: Vec<u32> = prompt.prefix.iter().copied().chain(document.ids).collect();
                Tokens {
                    type_ids: vec![0; ids.len()],
                    ids,
                    truncated: document.dropped_tokens > 0,
                    dropped_tokens: document.dropped_tokens,
                }
            })
            .collect())
    }

    /// Byte ranges of the first `n` tokens of `text` (all when it has fewer), as the
    /// model's tokenizer cuts it.
    pub fn first_token_offsets(&self, text: &str, n: usize) -> Result<Vec<(usize, usize)>> {
        let mut offsets = self.template.offsets(text)?;
        offsets.truncate(n);
        Ok(offsets)
    }

    /// Tokenizes the prompts of `passages` for [`LlmReranker::score_prepared`]: a server
    /// tokenizes on its request threads and runs several queries in one pass.
    pub fn prepare(
        &self,
        query: &str,
        instruction: Option<&str>,
        passages: &[&str],
    ) -> Result<LlmPrompt> {
        Ok(LlmPrompt(self.template.prompt(query, instruction, passages)?))
    }

    /// The logits of the two answers for each passage, in input order.
    pub fn answer_logits(
        &self,
        query: &str,
        instruction: Option<&str>,
        passages: &[&str],
    ) -> Result<Vec<AnswerLogits>> {
        let prompt = self.template.prompt(query, instruction, passages)?;
        Ok(self.logits(&[&prompt]).remove(0))
    }

    /// Scores each passage against `query`, in input order, with `instruction` (the
    /// template's default when `None`).
    pub fn score_passages(
        &self,
        query: &str,
        instruction: Option<&str>,
        passages: &[&str],
    ) -> Result<Vec<PairScore>> {
        Ok(self.score_prepared(&[self.prepare(query, instruction, passages)?]).remove(0))
    }

    /// Scores prepared prompts, one list per prompt in its passages' order; prompts are
    /// packed into as few forward passes as `max_pass_tokens` allows.
    pub fn score_prepared(&self, prompts: &[LlmPrompt]) -> Vec<Vec<PairScore>> {
        let inner: Vec<&Prompt> = prompts.iter().map(|p| &p.0).collect();
        let activation = self.activation();
        inner
            .iter()
            .zip(self.logits(&inner))
            .map(|(prompt, logits)| {
                prompt
                    .documents
                    .iter()
                    .zip(logits)
                    .map(|(document, l)| {
                        let logit = l.relevant - l.not_relevant;
                        let mut score = [logit];
                        activation.apply(&mut score);
                        PairScore {
                            score: score[0],
                            logit,
                            truncated: document.dropped_tokens > 0,
                            dropped_tokens: document.dropped_tokens,
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The answer logits of every document of every prompt, in order.
    ///
    /// Documents are packed into passes of at most `max_pass_tokens` rows, in order:
    /// a prompt's documents in one pass share one copy of its prefix, a prompt split
    /// over two passes has its prefix in each, and a pass holds at least one document.
    fn logits(&self, prompts: &[&Prompt]) -> Vec<Vec<AnswerLogits>> {
        // Without sharing, each document's whole prompt is a prompt of its own.
        let unshared: Vec<Prompt>;
        let units: Vec<&Prompt> = match self.share_prefix {
            true => prompts.to_vec(),
            false => {
                unshared = prompts
                    .iter()
                    .flat_map(|p| {
                        p.documents.iter().map(|d| Prompt {
                            prefix: Vec::new(),
                            documents: vec![DocumentRows {
                                ids: p.prefix.iter().chain(&d.ids).copied().collect(),
                                dropped_tokens: d.dropped_tokens,
                            }],
                        })
                    })
                    .collect();
                unshared.iter().collect()
            }
        };
        // Passes: lists of (unit, documents of it), filled greedily in order.
        let mut passes: Vec<Vec<(usize, std::ops::Range<usize>)>> = Vec::new();
        let mut pass: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
        let mut rows = 0;
        for (u, unit) in units.iter().enumerate() {
            for (d, document) in unit.documents.iter().enumerate() {
                let continues = pass.last().is_some_and(|(last, _)| *last == u);
                let mut cost = document.ids.len() + if continues { 0 } else { unit.prefix.len() };
                if !pass.is_empty() && rows + cost > self.max_pass_tokens {
                    passes.push(std::mem::take(&mut pass));
                    // A new pass carries the prefix again.
                    (rows, cost) = (0, document.ids.len() + unit.prefix.len());
                }
                match pass.last_mut() {
                    Some((last, range)) if *last == u => range.end = d + 1,
                    _ => pass.push((u, d..d + 1)),
                }
                rows += cost;
            }
        }
        if !pass.is_empty() {
            passes.push(pass);
        }
        let mut logits: Vec<Vec<AnswerLogits>> =
            units.iter().map(|u| Vec::with_capacity(u.documents.len())).collect();
        for pass in passes {
            let groups: Vec<Group<'_>> = pass
                .iter()
                .map(|(u, range)| Group {
                    prefix: &units[*u].prefix,
                    documents: units[*u].documents[range.clone()]
                        .iter()
                        .map(|d| &d.ids[..])
                        .collect(),
                })
                .collect();
            let states = self.decoder.last_states(&groups);
            let mut states = states.chunks_exact(self.head.0.len());
            for (u, range) in &pass {
                for state in states.by_ref().take(range.len()) {
                    logits[*u].push(AnswerLogits {
                        relevant: dot(state, &self.head.0),
                        not_relevant: dot(state, &self.head.1),
                    });
                }
            }
        }
        if self.share_prefix {
            return logits;
        }
        // Back from one unit per document to one list per prompt.
        let mut units = logits.into_iter().flatten();
        prompts.iter().map(|p| units.by_ref().take(p.documents.len()).collect()).collect()
    }
}

/// A query's prompts, tokenized by [`LlmReranker::prepare`].
#[derive(Debug, Clone)]
pub struct LlmPrompt(Prompt);

impl LlmPrompt {
    /// Token rows its forward pass computes: the shared prefix once, then each document's.
    pub fn rows(&self) -> usize {
        self.0.prefix.len() + self.0.documents.iter().map(|d| d.ids.len()).sum::<usize>()
    }

    /// Documents it holds.
    pub fn documents(&self) -> usize {
        self.0.documents.len()
    }

    /// Each document's whole prompt length in tokens (prefix included), in order.
    pub fn lengths(&self) -> Vec<usize> {
        self.0.documents.iter().map(|d| self.0.prefix.len() + d.ids.len()).collect()
    }

    /// Tokens cut from each document (and, for mxbai-rerank-v2, from the query) to fit.
    pub fn dropped_tokens(&self) -> Vec<usize> {
        self.0.documents.iter().map(|d| d.dropped_tokens).collect()
    }
}

/// A dot product accumulated in `f64`: one per document, so precision costs nothing.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>() as f32
}

/// The template: the one asked for, else the one of a known hub id (given as such or as
/// a path into the hub cache); an error naming the flag otherwise.
fn resolve_kind(model: &ModelDir, asked: Option<RerankerKind>) -> Result<RerankerKind> {
    if let Some(kind) = asked {
        return Ok(kind);
    }
    let known = match &model.origin {
        ModelOrigin::Hub { repo, .. } => RerankerKind::of_hub_repo(repo),
        ModelOrigin::Local => None,
    };
    let known = known.or_else(|| {
        RerankerKind::of_cache_path(
            &model.path.canonicalize().unwrap_or_else(|_| model.path.clone()),
        )
    });
    known.ok_or_else(|| Error::UnknownRerankerTemplate { dir: model.path.clone() })
}

impl Reranker for LlmReranker {
    fn score_contract(&self) -> ScoreContract {
        ScoreContract { activation: self.activation() }
    }

    fn score(&self, query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        Ok(self.score_passages(query, None, passages)?)
    }
}

#[cfg(test)]
mod tests;
