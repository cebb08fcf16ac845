//! The models the server runs, each behind its batcher: async entry points for the
//! wire-format routes, and the engine's synchronous traits (`Embedder`, `Reranker`,
//! `Tokenize`) for search and ingest, which run on blocking threads.
//!
//! Tokenization happens on the caller's thread (many at once); only forward passes go
//! through the model thread.

use std::sync::Arc;
use std::time::Duration;

use tamis_core::{
    Embedder, PairScore, Reranker, ScoreActivation, ScoreContract, TextRole, TokenEmbedder,
    TokenMatrix, Tokenize,
};
use tamis_models::{
    BiEncoder, CrossEncoder, EncoderInput, LateInput, LateInteractionModel, LateRole, LlmPrompt,
    LlmReranker, Prediction, Prompt, RerankerKind, RerankerModel, Tokens, max_sim_many,
};

use crate::batcher::{BatchLimits, BatchModel, Batcher, Done, Priority};
use crate::error::{ApiError, Error};
use crate::metrics::Metrics;

/// A result with the time it spent waiting and computing.
#[derive(Debug)]
pub struct Timed<T> {
    /// The result.
    pub value: T,
    /// Waiting for the model thread.
    pub queue_time: Duration,
    /// In forward passes.
    pub inference_time: Duration,
}

impl<T> Timed<T> {
    /// `x-queue-time` and `x-inference-time`, in milliseconds.
    pub fn headers(&self) -> axum::http::HeaderMap {
        timing_headers(self.queue_time, self.inference_time)
    }

    fn from_done<O>(done: &Done<O>, value: T) -> Timed<T> {
        Timed { value, queue_time: done.queue_time, inference_time: done.inference_time }
    }
}

/// `x-queue-time` and `x-inference-time` for these durations, in milliseconds (TEI's).
pub(crate) fn timing_headers(
    queue_time: Duration,
    inference_time: Duration,
) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("x-queue-time", crate::state::millis(queue_time));
    headers.insert("x-inference-time", crate::state::millis(inference_time));
    headers
}

/// Runs blocking work (tokenization, the engine) off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|err| Err(ApiError::internal(format!("a worker thread failed: {err}"))))
}

struct CrossForward {
    model: Arc<CrossEncoder>,
    /// Tests only (see [`RerankModel::panicking_on_token`]): a pass holding this token id
    /// panics.
    panic_on_token: Option<u32>,
}

impl BatchModel for CrossForward {
    type Input = Tokens;
    type Output = Prediction;

    fn tokens(input: &Tokens) -> usize {
        input.ids.len()
    }

    fn forward(&self, inputs: &[Tokens]) -> Result<Vec<Prediction>, ApiError> {
        if let Some(marker) = self.panic_on_token
            && inputs.iter().any(|t| t.ids.contains(&marker))
        {
            panic!("injected panic: the pass holds token {marker}");
        }
        Ok(self.model.predict_tokens(inputs)?)
    }
}

struct LlmForward(Arc<LlmReranker>);

impl BatchModel for LlmForward {
    type Input = LlmPrompt;
    type Output = Vec<PairScore>;

    fn tokens(input: &LlmPrompt) -> usize {
        input.rows()
    }

    fn forward(&self, inputs: &[LlmPrompt]) -> Result<Vec<Vec<PairScore>>, ApiError> {
        Ok(self.0.score_prepared(inputs))
    }
}

/// One text for a ColBERT model's thread: queries and documents are encoded apart.
struct LateItem {
    input: LateInput,
    role: LateRole,
}

struct LateForward(Arc<LateInteractionModel>);

impl BatchModel for LateForward {
    type Input = LateItem;
    type Output = TokenMatrix;

    fn tokens(item: &LateItem) -> usize {
        item.input.ids.len()
    }

    fn forward(&self, items: &[LateItem]) -> Result<Vec<TokenMatrix>, ApiError> {
        let mut out = vec![None; items.len()];
        for role in [LateRole::Query, LateRole::Document] {
            let (positions, inputs): (Vec<usize>, Vec<LateInput>) = items
                .iter()
                .enumerate()
                .filter(|(_, item)| item.role == role)
                .map(|(position, item)| (position, item.input.clone()))
                .unzip();
            if inputs.is_empty() {
                continue;
            }
            for (position, vectors) in
                positions.into_iter().zip(self.0.encode_prepared(&inputs, role)?)
            {
                out[position] = Some(vectors);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// A query and its documents, prepared on the caller's thread, for the model thread.
fn late_items(query: Vec<LateInput>, documents: Vec<LateInput>) -> Vec<LateItem> {
    let item = |role| move |input| LateItem { input, role };
    query
        .into_iter()
        .map(item(LateRole::Query))
        .chain(documents.into_iter().map(item(LateRole::Document)))
        .collect()
}

/// Copies of `items` for the model thread (the originals keep what scoring reports).
fn late_clones(items: &[LateItem]) -> Vec<LateItem> {
    items.iter().map(|item| LateItem { input: item.input.clone(), role: item.role }).collect()
}

/// MaxSim of the first output (the query's vectors) against each of the others.
fn late_scores(items: &[LateItem], vectors: &[TokenMatrix]) -> Vec<PairScore> {
    let Some((query, documents)) = vectors.split_first() else { return Vec::new() };
    max_sim_many(query, documents)
        .into_iter()
        .zip(&items[1..])
        .map(|(score, item)| PairScore {
            score,
            logit: score,
            truncated: item.input.truncated,
            dropped_tokens: item.input.dropped_tokens,
        })
        .collect()
}

/// A served reranker: a cross-encoder, an LLM reranker whose batching unit is one
/// query's prompts (so the query's prefix is computed once for all its documents), or a
/// ColBERT model whose thread encodes texts, MaxSim running on the caller's.
#[derive(Debug)]
pub struct RerankModel {
    /// The name clients use (`model` fields, `/info`).
    pub name: String,
    /// How indexes record it (see `LateInteractionSettings::model_id`): a ColBERT model
    /// scores, and computes at upsert, the token vectors of collections that record this
    /// id. The name unless set.
    pub index_id: String,
    scorer: Scorer,
}

#[derive(Debug)]
enum Scorer {
    Cross { model: Arc<CrossEncoder>, label: usize, batcher: Batcher<CrossForward> },
    Llm { model: Arc<LlmReranker>, instruction: Option<String>, batcher: Batcher<LlmForward> },
    Late { model: Arc<LateInteractionModel>, batcher: Batcher<LateForward> },
}

/// The outcome for one (query, text) pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairOutput {
    /// The ranking label's raw logit.
    pub logit: f32,
    /// The score under the model's declared activation.
    pub score: f32,
    /// A score in 0..1: the declared score when the activation gives one, else the
    /// logit's sigmoid (what Cohere's and Jina's `relevance_score` promise).
    pub relevance: f32,
    /// Whether the pair was cut to fit.
    pub truncated: bool,
    /// Tokens cut: exact up to about 8 bytes of text per token of the model's length, a
    /// lower bound (above 0) for longer texts, which are tokenized only as far as needed.
    pub dropped_tokens: usize,
    /// Tokens the model read.
    pub tokens: usize,
}

impl RerankModel {
    /// Starts the model thread of `model`, served as `name`.
    pub fn new(
        name: String,
        model: RerankerModel,
        limits: BatchLimits,
        metrics: Arc<Metrics>,
    ) -> crate::Result<RerankModel> {
        let model = match model {
            RerankerModel::Llm { model, instruction } => {
                let model: Arc<LlmReranker> = Arc::from(model);
                let forward = Arc::new(LlmForward(model.clone()));
                let batcher = Batcher::spawn(&name, forward, limits, metrics)?;
                return Ok(RerankModel {
                    index_id: name.clone(),
                    name,
                    scorer: Scorer::Llm { model, instruction, batcher },
                });
            }
            RerankerModel::LateInteraction(model) => {
                let model: Arc<LateInteractionModel> = Arc::from(model);
                let forward = Arc::new(LateForward(model.clone()));
                let batcher = Batcher::spawn(&name, forward, limits, metrics)?;
                return Ok(RerankModel {
                    index_id: name.clone(),
                    name,
                    scorer: Scorer::Late { model, batcher },
                });
            }
            RerankerModel::CrossEncoder(model) => *model,
        };
        let label = model.ranking_label().map_err(|source| Error::Startup {
            context: format!("cross-encoder {name}"),
            kind: source.kind(),
            source: Box::new(source),
        })?;
        RerankModel::spawn(name, model, label, limits, metrics, None)
    }

    /// A model whose forward pass panics on any batch holding token `token_id`: for tests
    /// of panic containment (`batcher::Health`, `/ready`), nothing else.
    #[doc(hidden)]
    pub fn panicking_on_token(
        name: String,
        model: CrossEncoder,
        limits: BatchLimits,
        metrics: Arc<Metrics>,
        token_id: u32,
    ) -> crate::Result<RerankModel> {
        RerankModel::spawn(name, model, 0, limits, metrics, Some(token_id))
    }

    fn spawn(
        name: String,
        model: CrossEncoder,
        label: usize,
        limits: BatchLimits,
        metrics: Arc<Metrics>,
        panic_on_token: Option<u32>,
    ) -> crate::Result<RerankModel> {
        let model = Arc::new(model);
        let forward = CrossForward { model: model.clone(), panic_on_token };
        let batcher = Batcher::spawn(&name, Arc::new(forward), limits, metrics)?;
        Ok(RerankModel {
            index_id: name.clone(),
            name,
            scorer: Scorer::Cross { model, label, batcher },
        })
    }

    /// Records `id` (rather than the name) as the model's id in indexes (see
    /// [`RerankModel::index_id`]).
    pub fn with_index_id(mut self, id: String) -> RerankModel {
        self.index_id = id;
        self
    }

    fn not_late(&self) -> tamis_core::Error {
        tamis_core::Error::Model {
            kind: tamis_core::ErrorKind::User,
            source: format!("{} is not a late-interaction (ColBERT) model", self.name).into(),
        }
    }

    /// Whether it is a late-interaction (ColBERT) model, which also serves as a
    /// [`TokenEmbedder`].
    pub fn is_late_interaction(&self) -> bool {
        matches!(self.scorer, Scorer::Late { .. })
    }

    /// Whether its model thread can answer (see `batcher::Health::can_serve`).
    pub fn can_serve(&self) -> bool {
        match &self.scorer {
            Scorer::Cross { batcher, .. } => batcher.health().can_serve(),
            Scorer::Llm { batcher, .. } => batcher.health().can_serve(),
            Scorer::Late { batcher, .. } => batcher.health().can_serve(),
        }
    }

    /// Most tokens in one input.
    pub fn max_length(&self) -> usize {
        match &self.scorer {
            Scorer::Cross { model, .. } => model.max_length(),
            Scorer::Llm { model, .. } => model.max_length(),
            Scorer::Late { model, .. } => model.document_length(),
        }
    }

    /// Logits per pair (1 for LLM rerankers).
    pub fn labels(&self) -> usize {
        match &self.scorer {
            Scorer::Cross { model, .. } => model.num_labels(),
            Scorer::Llm { .. } | Scorer::Late { .. } => 1,
        }
    }

    /// The activation that makes scores from logits.
    pub fn activation(&self) -> ScoreActivation {
        match &self.scorer {
            Scorer::Cross { model, .. } => model.activation(),
            Scorer::Llm { model, .. } => model.activation(),
            Scorer::Late { .. } => ScoreActivation::Identity,
        }
    }

    /// The arithmetic of its dense layers.
    pub fn precision(&self) -> tamis_models::Precision {
        match &self.scorer {
            Scorer::Cross { model, .. } => model.precision(),
            Scorer::Llm { model, .. } => model.precision(),
            Scorer::Late { model, .. } => model.precision(),
        }
    }

    /// The LLM reranker's template (`None` for a cross-encoder).
    pub fn llm_kind(&self) -> Option<RerankerKind> {
        match &self.scorer {
            Scorer::Cross { .. } | Scorer::Late { .. } => None,
            Scorer::Llm { model, .. } => Some(model.kind()),
        }
    }

    /// Scores `texts` against `query`, in input order. With `truncate` false a pair longer
    /// than the model's limit is an error instead of being cut. `instruction` replaces an
    /// LLM reranker's configured one; a cross-encoder takes none.
    pub async fn score(
        &self,
        query: String,
        texts: Vec<String>,
        truncate: bool,
        instruction: Option<String>,
    ) -> Result<Timed<Vec<PairOutput>>, ApiError> {
        let too_long = |idx: usize| {
            ApiError::validation(format!(
                "text {idx} with the query is longer than the model's {} tokens; send \
                     \"truncate\": true to cut it",
                self.max_length()
            ))
        };
        let contract = ScoreContract { activation: self.activation() };
        match &self.scorer {
            Scorer::Cross { model, label, batcher } => {
                if instruction.is_some() {
                    return Err(ApiError::validation(format!(
                        "`instruction` applies to LLM rerankers; {} is a cross-encoder",
                        self.name
                    )));
                }
                let model = model.clone();
                let inputs = blocking(move || {
                    let pairs: Vec<(&str, &str)> =
                        texts.iter().map(|t| (query.as_str(), t.as_str())).collect();
                    Ok(model.tokenize(&pairs)?)
                })
                .await?;
                if !truncate && let Some(idx) = inputs.iter().position(|t| t.truncated) {
                    return Err(too_long(idx));
                }
                let lengths: Vec<usize> = inputs.iter().map(|t| t.ids.len()).collect();
                let done = batcher.run(inputs).await?;
                let outputs = done
                    .outputs
                    .iter()
                    .zip(lengths)
                    .map(|(p, tokens)| output(&contract, p.pair_score(*label), tokens))
                    .collect();
                Ok(Timed::from_done(&done, outputs))
            }
            Scorer::Late { model, batcher } => {
                if instruction.is_some() {
                    return Err(ApiError::validation(format!(
                        "`instruction` applies to LLM rerankers; {} is a ColBERT model",
                        self.name
                    )));
                }
                let model = model.clone();
                let items = blocking(move || {
                    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                    let query = model.prepare(&[query.as_str()], LateRole::Query)?;
                    Ok(late_items(query, model.prepare(&texts, LateRole::Document)?))
                })
                .await?;
                if !truncate && let Some(idx) = items[1..].iter().position(|i| i.input.truncated) {
                    return Err(too_long(idx));
                }
                let done = batcher.run(late_clones(&items)).await?;
                // MaxSim sums the query rows' best cosines: over the row count, it is
                // their mean, and its positive part is the 0..1 relevance (a sigmoid of
                // the sum would be about 1 for every document).
                let rows = done.outputs.first().map_or(1, TokenMatrix::rows).max(1) as f32;
                let outputs = late_scores(&items, &done.outputs)
                    .into_iter()
                    .zip(&items[1..])
                    .map(|(score, item)| PairOutput {
                        relevance: (score.score / rows).clamp(0.0, 1.0),
                        ..output(&contract, score, item.input.ids.len())
                    })
                    .collect();
                Ok(Timed::from_done(&done, outputs))
            }
            Scorer::Llm { model, instruction: configured, batcher } => {
                let model = model.clone();
                let instruction = instruction.or_else(|| configured.clone());
                let prompt = blocking(move || {
                    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                    Ok(model.prepare(&query, instruction.as_deref(), &texts)?)
                })
                .await?;
                if !truncate && let Some(idx) = prompt.dropped_tokens().iter().position(|d| *d > 0)
                {
                    return Err(too_long(idx));
                }
                let lengths = prompt.lengths();
                let mut done = batcher.run(vec![prompt]).await?;
                let scores = done.outputs.pop().unwrap_or_default();
                let outputs = scores
                    .into_iter()
                    .zip(lengths)
                    .map(|(score, tokens)| output(&contract, score, tokens))
                    .collect();
                Ok(Timed::from_done(&done, outputs))
            }
        }
    }

    /// A ColBERT model's token vectors of `texts` (one matrix each, in order) and the
    /// tokens read, encoded as queries or documents; with `truncate` false a text longer
    /// than the model's length is an error instead of being cut.
    pub async fn token_vectors(
        &self,
        texts: Vec<String>,
        role: LateRole,
        truncate: bool,
    ) -> Result<Timed<(Vec<TokenMatrix>, usize)>, ApiError> {
        let Scorer::Late { model, batcher } = &self.scorer else {
            return Err(ApiError::validation(format!(
                "{} gives one score per pair, not token vectors; name a ColBERT model",
                self.name
            )));
        };
        let model = model.clone();
        let inputs = blocking(move || {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            Ok(model.prepare(&texts, role)?)
        })
        .await?;
        if !truncate && let Some(idx) = inputs.iter().position(|input| input.truncated) {
            return Err(ApiError::validation(format!(
                "input {idx} is longer than the model's {} tokens; send \"truncate\": true to \
                 cut it",
                self.max_length()
            )));
        }
        let tokens = inputs.iter().map(|input| input.ids.len()).sum();
        let items = inputs.into_iter().map(|input| LateItem { input, role }).collect();
        let done = batcher.run(items).await?;
        Ok(Timed::from_done(&done, (done.outputs.clone(), tokens)))
    }

    /// `text` cut after its first `max_tokens` tokens (Cohere's `max_tokens_per_doc`).
    /// Tokenizes only about `max_tokens` tokens' worth of the text.
    pub fn cut_to_tokens<'t>(&self, text: &'t str, max_tokens: usize) -> Result<&'t str, ApiError> {
        let n = max_tokens.saturating_add(1);
        let offsets = match &self.scorer {
            Scorer::Cross { model, .. } => model.first_token_offsets(text, n)?,
            Scorer::Llm { model, .. } => model.first_token_offsets(text, n)?,
            Scorer::Late { model, .. } => model.first_token_offsets(text, n)?,
        };
        Ok(match offsets.get(max_tokens) {
            // A tokenizer's offset need not be a char boundary (a byte-level token inside a
            // character): cut before that character rather than panic.
            Some(&(start, _)) => text.get(..floor_char_boundary(text, start)).unwrap_or(text),
            None => text,
        })
    }
}

fn output(contract: &ScoreContract, score: PairScore, tokens: usize) -> PairOutput {
    PairOutput {
        logit: score.logit,
        score: score.score,
        relevance: contract.relevance(score.logit, score.score),
        truncated: score.truncated,
        dropped_tokens: score.dropped_tokens,
        tokens,
    }
}

impl Reranker for RerankModel {
    fn score_contract(&self) -> ScoreContract {
        ScoreContract { activation: self.activation() }
    }

    /// Called by the engine's pipeline on a blocking thread: tokenizes here, waits for the
    /// model thread.
    fn score(&self, query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        match &self.scorer {
            Scorer::Cross { model, label, batcher } => {
                let pairs: Vec<(&str, &str)> = passages.iter().map(|p| (query, *p)).collect();
                let inputs = model.tokenize(&pairs)?;
                let done =
                    batcher.run_blocking(inputs, Priority::Interactive).map_err(model_error)?;
                Ok(done.outputs.iter().map(|p| p.pair_score(*label)).collect())
            }
            Scorer::Llm { model, instruction, batcher } => {
                let prompt = model.prepare(query, instruction.as_deref(), passages)?;
                let mut done = batcher
                    .run_blocking(vec![prompt], Priority::Interactive)
                    .map_err(model_error)?;
                Ok(done.outputs.pop().unwrap_or_default())
            }
            Scorer::Late { model, batcher } => {
                let items = late_items(
                    model.prepare(&[query], LateRole::Query)?,
                    model.prepare(passages, LateRole::Document)?,
                );
                let done = batcher
                    .run_blocking(late_clones(&items), Priority::Interactive)
                    .map_err(model_error)?;
                Ok(late_scores(&items, &done.outputs))
            }
        }
    }

    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        match &self.scorer {
            Scorer::Cross { model, .. } => model.query_key(query),
            Scorer::Late { model, .. } => Reranker::query_key(model.as_ref(), query),
            // The query is mixed into the template's text before tokenizing.
            Scorer::Llm { .. } => Ok(None),
        }
    }
}

/// A ColBERT model's token vectors, for a late-interaction stage over stored vectors and
/// for the vectors an upsert stores: encoded on the model thread (queries first,
/// documents as bulk work), scored on the caller's. Any other reranker has none, and says
/// so.
impl TokenEmbedder for RerankModel {
    fn dimension(&self) -> usize {
        match &self.scorer {
            Scorer::Late { model, .. } => model.dimension(),
            Scorer::Cross { .. } | Scorer::Llm { .. } => 0,
        }
    }

    fn embed_tokens(&self, texts: &[&str], role: TextRole) -> tamis_core::Result<Vec<TokenMatrix>> {
        let Scorer::Late { model, batcher } = &self.scorer else {
            return Err(self.not_late());
        };
        let (role, priority) = match role {
            TextRole::Query => (LateRole::Query, Priority::Interactive),
            TextRole::Document => (LateRole::Document, Priority::Bulk),
        };
        let items: Vec<LateItem> =
            model.prepare(texts, role)?.into_iter().map(|input| LateItem { input, role }).collect();
        Ok(batcher.run_blocking(items, priority).map_err(model_error)?.outputs)
    }

    fn max_sim(
        &self,
        query: &TokenMatrix,
        documents: &[f32],
        rows: &[usize],
    ) -> tamis_core::Result<Vec<f32>> {
        match &self.scorer {
            Scorer::Late { model, .. } => model.max_sim(query, documents, rows),
            Scorer::Cross { .. } | Scorer::Llm { .. } => Err(self.not_late()),
        }
    }

    fn max_sim_stored(
        &self,
        query: &TokenMatrix,
        storage: tamis_core::TokenStorage,
        documents: &[&[u8]],
    ) -> tamis_core::Result<Vec<f32>> {
        match &self.scorer {
            Scorer::Late { model, .. } => model.max_sim_stored(query, storage, documents),
            Scorer::Cross { .. } | Scorer::Llm { .. } => Err(self.not_late()),
        }
    }

    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        Reranker::query_key(self, query)
    }
}

struct BiForward(Arc<BiEncoder>);

impl BatchModel for BiForward {
    type Input = EncoderInput;
    type Output = Vec<f32>;

    fn tokens(input: &EncoderInput) -> usize {
        input.tokens.ids.len()
    }

    fn forward(&self, inputs: &[EncoderInput]) -> Result<Vec<Vec<f32>>, ApiError> {
        Ok(self.0.encode_prepared(inputs)?)
    }
}

/// A served bi-encoder.
#[derive(Debug)]
pub struct EmbedModel {
    /// The name clients use.
    pub name: String,
    /// The id recorded in the indexes it embeds for (see `IndexSettings::embedder_id`);
    /// the name unless set.
    pub index_id: String,
    model: Arc<BiEncoder>,
    batcher: Batcher<BiForward>,
}

/// Vectors (not normalized) and the tokens read.
#[derive(Debug)]
pub struct Embedded {
    /// One per text, pooled, before any normalization.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens of all texts.
    pub tokens: usize,
}

impl EmbedModel {
    /// Starts the model thread of `model`, served as `name`.
    pub fn new(
        name: String,
        model: BiEncoder,
        limits: BatchLimits,
        metrics: Arc<Metrics>,
    ) -> crate::Result<EmbedModel> {
        let model = Arc::new(model);
        let batcher = Batcher::spawn(&name, Arc::new(BiForward(model.clone())), limits, metrics)?;
        Ok(EmbedModel { index_id: name.clone(), name, model, batcher })
    }

    /// Whether its model thread can answer (see `batcher::Health::can_serve`).
    pub fn can_serve(&self) -> bool {
        self.batcher.health().can_serve()
    }

    /// Records `id` (rather than the name) in the indexes it creates, and expects it in
    /// those it opens.
    pub fn with_index_id(mut self, id: String) -> EmbedModel {
        self.index_id = id;
        self
    }

    /// The loaded model.
    pub fn model(&self) -> &BiEncoder {
        &self.model
    }

    /// Embeds `texts` with the prompt named `prompt_name` (else the model's default).
    /// With `truncate` false a text longer than the model's limit is an error.
    pub async fn embed(
        &self,
        texts: Vec<String>,
        prompt_name: Option<String>,
        truncate: bool,
    ) -> Result<Timed<Embedded>, ApiError> {
        let model = self.model.clone();
        let inputs = blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let prompt = prompt_name.as_deref().map_or(Prompt::Default, Prompt::Named);
            model.prepare(&refs, prompt).map_err(|err| match err {
                tamis_models::Error::UnknownPrompt { .. } => ApiError::validation(err.to_string()),
                other => other.into(),
            })
        })
        .await?;
        if !truncate && let Some(idx) = inputs.iter().position(|t| t.tokens.truncated) {
            return Err(ApiError::validation(format!(
                "input {idx} is longer than the model's {} tokens; send \"truncate\": true \
                     to cut it",
                self.model.max_length()
            )));
        }
        let tokens = inputs.iter().map(|t| t.tokens.ids.len()).sum();
        let done = self.batcher.run(inputs).await?;
        let embedded = Embedded { vectors: done.outputs.clone(), tokens };
        Ok(Timed::from_done(&done, embedded))
    }
}

impl Embedder for EmbedModel {
    fn dimension(&self) -> usize {
        self.model.dimension()
    }

    /// Called by the engine (query embedding, ingest) on a blocking thread. Documents are
    /// bulk work: they yield to queries (see `batcher::Priority`).
    fn embed(&self, texts: &[&str], role: TextRole) -> tamis_core::Result<Vec<Vec<f32>>> {
        let inputs = self.model.prepare(texts, self.model.prompt_for(role))?;
        let priority = match role {
            TextRole::Query => Priority::Interactive,
            TextRole::Document => Priority::Bulk,
        };
        let mut vectors = self.batcher.run_blocking(inputs, priority).map_err(model_error)?.outputs;
        if self.model.normalizes() {
            vectors.iter_mut().for_each(|v| tamis_models::normalize(v));
        }
        Ok(vectors)
    }
    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        self.model.query_key(query)
    }
}

impl Tokenize for EmbedModel {
    fn token_offsets(&self, text: &str) -> tamis_core::Result<Vec<(usize, usize)>> {
        self.model.token_offsets(text)
    }

    fn max_tokens(&self) -> usize {
        self.model.max_tokens()
    }
}

/// The largest char boundary of `text` at or before `idx` (`str::floor_char_boundary`,
/// unstable).
fn floor_char_boundary(text: &str, idx: usize) -> usize {
    let mut idx = idx.min(text.len());
    while !text.is_char_boundary(idx) {
        idx -= 1;
    }
    idx
}

/// A batcher failure seen through the engine's traits.
fn model_error(err: ApiError) -> tamis_core::Error {
    let kind = match err.error_type {
        crate::error::ErrorType::BadRequest | crate::error::ErrorType::Validation => {
            tamis_core::ErrorKind::User
        }
        crate::error::ErrorType::NotFound => tamis_core::ErrorKind::NotFound,
        _ => tamis_core::ErrorKind::Internal,
    };
    tamis_core::Error::Model { kind, source: err.message.into() }
}

#[cfg(test)]
mod tests;
