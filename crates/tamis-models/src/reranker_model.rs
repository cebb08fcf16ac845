//! Any reranker tamis runs, loaded from what the model directory declares: a
//! sequence-classification encoder (cross-encoder), a causal LM (LLM reranker) or a
//! ColBERT model (late interaction, scoring by MaxSim).

use tamis_core::{PairScore, Reranker, ScoreContract};

use crate::{
    CrossEncoder, CrossEncoderConfig, LateInteractionConfig, LateInteractionModel, LlmReranker,
    LlmRerankerConfig, ModelDir, RerankerKind, Result,
};

/// How to load a reranker of either kind.
#[derive(Debug, Clone, Default)]
pub struct RerankerConfig {
    /// Settings of a cross-encoder (its `runtime` serves LLM rerankers too).
    pub cross_encoder: CrossEncoderConfig,
    /// LLM rerankers: the template, when the model's hub id does not say (ignored by
    /// cross-encoders).
    pub kind: Option<RerankerKind>,
    /// LLM rerankers: the instruction in every prompt, the template's default when
    /// `None` (ignored by cross-encoders).
    pub instruction: Option<String>,
    /// LLM rerankers: most token rows per forward pass; `None`: [`crate::DEFAULT_PASS_TOKENS`].
    pub max_pass_tokens: Option<usize>,
}

/// A loaded reranker: a cross-encoder or an LLM reranker.
#[derive(Debug)]
pub enum RerankerModel {
    /// A sequence-classification encoder.
    CrossEncoder(Box<CrossEncoder>),
    /// A decoder LLM scoring with answer-token logits.
    Llm {
        /// The model.
        model: Box<LlmReranker>,
        /// The instruction used by [`Reranker::score`].
        instruction: Option<String>,
    },
    /// A ColBERT model, encoding query and passages and scoring by MaxSim.
    LateInteraction(Box<LateInteractionModel>),
}

impl RerankerModel {
    /// Loads the model in `dir` as what it declares: a ColBERT model (PyLate or
    /// colbert-ai layout) as a late-interaction reranker, whose documents are cut at the
    /// cross-encoder's `max_length`; a `*ForCausalLM` as an LLM reranker; anything else
    /// as a cross-encoder (which ignores `kind` and `instruction`, so that one setting can
    /// serve every stage of a cascade).
    pub fn load(dir: &ModelDir, config: &RerankerConfig) -> Result<RerankerModel> {
        if crate::late_interaction::is_late_interaction(&dir.path) {
            let late = LateInteractionConfig {
                runtime: config.cross_encoder.runtime,
                document_length: config.cross_encoder.max_length,
                ..Default::default()
            };
            let model = LateInteractionModel::load(dir, &late)?;
            return Ok(RerankerModel::LateInteraction(Box::new(model)));
        }
        if !crate::is_causal_lm(&dir.path)? {
            let model = CrossEncoder::load(dir, &config.cross_encoder)?;
            return Ok(RerankerModel::CrossEncoder(Box::new(model)));
        }
        let llm = LlmRerankerConfig {
            runtime: config.cross_encoder.runtime,
            max_length: config.cross_encoder.max_length,
            kind: config.kind,
            max_pass_tokens: config.max_pass_tokens.unwrap_or(crate::DEFAULT_PASS_TOKENS),
            ..Default::default()
        };
        let model = LlmReranker::load(dir, &llm)?;
        Ok(RerankerModel::Llm { model: Box::new(model), instruction: config.instruction.clone() })
    }

    /// Whether it is an LLM reranker.
    pub fn is_llm(&self) -> bool {
        matches!(self, RerankerModel::Llm { .. })
    }

    /// The arithmetic of its dense layers.
    pub fn precision(&self) -> crate::Precision {
        match self {
            RerankerModel::CrossEncoder(model) => model.precision(),
            RerankerModel::Llm { model, .. } => model.precision(),
            RerankerModel::LateInteraction(model) => model.precision(),
        }
    }

    /// Most tokens in one input.
    pub fn max_length(&self) -> usize {
        match self {
            RerankerModel::CrossEncoder(model) => model.max_length(),
            RerankerModel::Llm { model, .. } => model.max_length(),
            RerankerModel::LateInteraction(model) => model.document_length(),
        }
    }
}

impl Reranker for RerankerModel {
    fn score_contract(&self) -> ScoreContract {
        match self {
            RerankerModel::CrossEncoder(model) => model.score_contract(),
            RerankerModel::Llm { model, .. } => model.score_contract(),
            RerankerModel::LateInteraction(model) => model.score_contract(),
        }
    }

    fn score(&self, query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        match self {
            RerankerModel::CrossEncoder(model) => model.score(query, passages),
            RerankerModel::Llm { model, instruction } => {
                Ok(model.score_passages(query, instruction.as_deref(), passages)?)
            }
            RerankerModel::LateInteraction(model) => model.score(query, passages),
        }
    }

    /// A cross-encoder's or a ColBERT model's; an LLM reranker's prompt mixes the query
    /// into its template, so it has none.
    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        match self {
            RerankerModel::CrossEncoder(model) => model.query_key(query),
            RerankerModel::LateInteraction(model) => model.query_key(query),
            RerankerModel::Llm { .. } => Ok(None),
        }
    }
}

impl From<CrossEncoder> for RerankerModel {
    fn from(model: CrossEncoder) -> Self {
        RerankerModel::CrossEncoder(Box::new(model))
    }
}
