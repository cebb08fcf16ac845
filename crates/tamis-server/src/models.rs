//! The models the server runs, each behind its batcher: async entry points for the
//! wire-format routes, and the engine's synchronous traits (`Embedder`, `Reranker`,
//! `Tokenize`) for search and ingest, which run on blocking threads.
//!
//! Tokenization happens on the caller's thread (many at once); only forward passes go
//! through the model thread.

use std::sync::Arc;
use std::time::Duration;

use tamis_core::{Embedder, PairScore, Reranker, ScoreContract, TextRole, Tokenize};
use tamis_models::{BiEncoder, CrossEncoder, EncoderInput, Prediction, Prompt, Tokens};

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

/// A served cross-encoder.
#[derive(Debug)]
pub struct RerankModel {
    /// The name clients use (`model` fields, `/info`).
    pub name: String,
    model: Arc<CrossEncoder>,
    label: usize,
    batcher: Batcher<CrossForward>,
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
        model: CrossEncoder,
        limits: BatchLimits,
        metrics: Arc<Metrics>,
    ) -> crate::Result<RerankModel> {
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
        Ok(RerankModel { name, model, label, batcher })
    }

    /// Whether its model thread can answer (see `batcher::Health::can_serve`).
    pub fn can_serve(&self) -> bool {
        self.batcher.health().can_serve()
    }

    /// The loaded model.
    pub fn model(&self) -> &CrossEncoder {
        &self.model
    }

    /// Scores `texts` against `query`, in input order. With `truncate` false a pair longer
    /// than the model's limit is an error instead of being cut.
    pub async fn score(
        &self,
        query: String,
        texts: Vec<String>,
        truncate: bool,
    ) -> Result<Timed<Vec<PairOutput>>, ApiError> {
        let model = self.model.clone();
        let inputs = blocking(move || {
            let pairs: Vec<(&str, &str)> =
                texts.iter().map(|t| (query.as_str(), t.as_str())).collect();
            Ok(model.tokenize(&pairs)?)
        })
        .await?;
        if !truncate && let Some(idx) = inputs.iter().position(|t| t.truncated) {
            return Err(ApiError::validation(format!(
                "text {idx} with the query is longer than the model's {} tokens; send \
                     \"truncate\": true to cut it",
                self.model.max_length()
            )));
        }
        let lengths: Vec<usize> = inputs.iter().map(|t| t.ids.len()).collect();
        let done = self.batcher.run(inputs).await?;
        let outputs = done
            .outputs
            .iter()
            .zip(lengths)
            .map(|(prediction, tokens)| self.output(prediction, tokens))
            .collect();
        Ok(Timed::from_done(&done, outputs))
    }

    fn output(&self, prediction: &Prediction, tokens: usize) -> PairOutput {
        let logit = prediction.logits[self.label];
        let score = prediction.scores[self.label];
        let relevance =
            ScoreContract { activation: self.model.activation() }.relevance(logit, score);
        PairOutput {
            logit,
            score,
            relevance,
            truncated: prediction.truncated,
            dropped_tokens: prediction.dropped_tokens,
            tokens,
        }
    }

    /// `text` cut after its first `max_tokens` tokens (Cohere's `max_tokens_per_doc`).
    /// Tokenizes only about `max_tokens` tokens' worth of the text.
    pub fn cut_to_tokens<'t>(&self, text: &'t str, max_tokens: usize) -> Result<&'t str, ApiError> {
        let offsets = self.model.first_token_offsets(text, max_tokens.saturating_add(1))?;
        Ok(match offsets.get(max_tokens) {
            // A tokenizer's offset need not be a char boundary (a byte-level token inside a
            // character): cut before that character rather than panic.
            Some(&(start, _)) => text.get(..floor_char_boundary(text, start)).unwrap_or(text),
            None => text,
        })
    }
}

impl Reranker for RerankModel {
    fn score_contract(&self) -> ScoreContract {
        ScoreContract { activation: self.model.activation() }
    }

    /// Called by the engine's pipeline on a blocking thread: tokenizes here, waits for the
    /// model thread.
    fn score(&self, query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        let pairs: Vec<(&str, &str)> = passages.iter().map(|p| (query, *p)).collect();
        let inputs = self.model.tokenize(&pairs)?;
        let done = self.batcher.run_blocking(inputs, Priority::Interactive).map_err(model_error)?;
        Ok(done.outputs.iter().map(|p| p.pair_score(self.label)).collect())
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
