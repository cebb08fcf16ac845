//! Rerank in three dialects over one engine: TEI (`POST /rerank`), Cohere v1 / Jina
//! (`POST /v1/rerank`, and `/rerank` with `documents`), Cohere v2 (`POST /v2/rerank`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Limits;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::models::{PairOutput, RerankModel, Timed};
use crate::state::AppState;

/// A document: a string, or an object with `text` (Cohere v1, Jina).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum DocumentInput {
    /// The text itself.
    Text(String),
    /// `{"text": …}`; other fields are ignored.
    Object {
        /// The text.
        text: String,
    },
}

impl DocumentInput {
    fn into_text(self) -> String {
        match self {
            DocumentInput::Text(text) | DocumentInput::Object { text } => text,
        }
    }
}

/// Which end of a long input TEI cuts; only `Right` is supported.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
pub enum TruncationDirection {
    /// Keep the beginning.
    #[default]
    #[serde(alias = "right")]
    Right,
    /// Keep the end.
    #[serde(alias = "left")]
    Left,
}

/// `POST /rerank`: TEI's request, or Cohere v1's when it has `documents` instead of `texts`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RerankRequest {
    /// The query (not blank).
    #[schema(pattern = r"\S")]
    pub query: String,
    /// TEI: the texts to rank.
    #[serde(default)]
    pub texts: Option<Vec<String>>,
    /// Cohere / Jina: the documents to rank (answered in their shape).
    #[serde(default)]
    pub documents: Option<Vec<DocumentInput>>,
    /// Cut pairs longer than the model's limit (default true); false makes them an error.
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Which end is cut.
    #[serde(default)]
    pub truncation_direction: Option<TruncationDirection>,
    /// Raw logits instead of 0..1 scores.
    #[serde(default)]
    pub raw_scores: bool,
    /// Echo each text.
    #[serde(default)]
    pub return_text: bool,
    /// Cohere / Jina: keep the best n.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub top_n: Option<usize>,
    /// Cohere / Jina: echo each document.
    #[serde(default)]
    pub return_documents: Option<bool>,
    /// Cohere / Jina: the reranker's name (default: the server's first).
    #[serde(default)]
    pub model: Option<String>,
    /// LLM rerankers (tamis' extension): the instruction in the prompt, replacing the
    /// server's (a 422 for a cross-encoder).
    #[serde(default)]
    pub instruction: Option<String>,
}

/// One TEI result.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeiRank {
    /// Position in the request.
    pub index: usize,
    /// Sigmoid of the logit (or the declared 0..1 score); the logit with `raw_scores`.
    pub score: f32,
    /// The text, with `return_text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `POST /v1/rerank`: Cohere v1 and Jina.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CohereRerankRequest {
    /// The reranker's name (default: the server's first).
    #[serde(default)]
    pub model: Option<String>,
    /// The query (not blank).
    #[schema(pattern = r"\S")]
    pub query: String,
    /// Strings or `{text}` objects (at least one).
    #[schema(min_items = 1)]
    pub documents: Vec<DocumentInput>,
    /// Keep the best n (default: all).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub top_n: Option<usize>,
    /// Echo each document as `{text}` (default false).
    #[serde(default)]
    pub return_documents: Option<bool>,
    /// Cut each document to this many tokens before scoring.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_tokens_per_doc: Option<usize>,
    /// LLM rerankers (tamis' extension): the instruction in the prompt, replacing the
    /// server's (a 422 for a cross-encoder).
    #[serde(default)]
    pub instruction: Option<String>,
}

/// `POST /v2/rerank`: Cohere v2.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CohereV2RerankRequest {
    /// The reranker's name.
    pub model: String,
    /// The query (not blank).
    #[schema(pattern = r"\S")]
    pub query: String,
    /// The documents (at least one).
    #[schema(min_items = 1)]
    pub documents: Vec<DocumentInput>,
    /// Keep the best n (default: all).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub top_n: Option<usize>,
    /// Cut each document to this many tokens before scoring.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_tokens_per_doc: Option<usize>,
    /// Echo each document as `{text}` (default false).
    #[serde(default)]
    pub return_documents: Option<bool>,
    /// LLM rerankers (tamis' extension): the instruction in the prompt, replacing the
    /// server's (a 422 for a cross-encoder).
    #[serde(default)]
    pub instruction: Option<String>,
}

/// A Cohere / Jina result.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohereResult {
    /// Position in the request.
    pub index: usize,
    /// In 0..1.
    pub relevance_score: f32,
    /// `{text}`, with `return_documents`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<CohereDocument>,
}

/// An echoed document.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohereDocument {
    /// Its text.
    pub text: String,
}

/// The Cohere / Jina response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohereRerankResponse {
    /// A fresh id per response.
    pub id: String,
    /// Best first.
    pub results: Vec<CohereResult>,
    /// The reranker's name.
    pub model: String,
    /// Tokens read (Jina).
    pub usage: Usage,
    /// API version and billed units (Cohere).
    pub meta: serde_json::Value,
}

/// Tokens a request used.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    /// Tokens the model read.
    pub total_tokens: usize,
    /// Same, as OpenAI names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<usize>,
}

/// What the three dialects share once parsed.
struct Ranking {
    query: String,
    texts: Vec<String>,
    truncate: bool,
    top_n: Option<usize>,
    max_tokens_per_doc: Option<usize>,
    instruction: Option<String>,
}

impl Ranking {
    fn validate(&self, state: &AppState) -> Result<(), ApiError> {
        if self.query.trim().is_empty() {
            return Err(ApiError::bad_request("`query` is empty"));
        }
        if self.texts.is_empty() {
            return Err(ApiError::bad_request("no documents to rerank: send at least one"));
        }
        let limits = &state.config.limits;
        limits.check_query(&self.query)?;
        if let Some(instruction) = &self.instruction {
            limits.check_query_sized("instruction", instruction)?;
        }
        limits.check_texts("documents", self.texts.iter().map(String::as_str))?;
        Limits::check_at_most("top_n", self.top_n, limits.max_k, "max-k")?;
        if self.top_n == Some(0) {
            return Err(ApiError::bad_request("`top_n` must be at least 1"));
        }
        if self.max_tokens_per_doc == Some(0) {
            return Err(ApiError::bad_request("`max_tokens_per_doc` must be at least 1"));
        }
        Ok(())
    }

    /// Scores every text; returns the outputs in request order.
    async fn score(self, model: &RerankModel) -> Result<Timed<Vec<PairOutput>>, ApiError> {
        let texts = match self.max_tokens_per_doc {
            Some(max_tokens) => self
                .texts
                .iter()
                .map(|t| model.cut_to_tokens(t, max_tokens).map(str::to_string))
                .collect::<Result<_, _>>()?,
            None => self.texts,
        };
        model.score(self.query, texts, self.truncate, self.instruction).await
    }
}

/// Indices of `outputs` best first by the declared score, at most `top_n`.
fn ranked(outputs: &[PairOutput], top_n: Option<usize>) -> Vec<usize> {
    let scores: Vec<f32> = outputs.iter().map(|o| o.score).collect();
    tamis_core::best_first(&scores, top_n)
}

fn response_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// What `POST /rerank` answers: TEI's list, or Cohere's response to Cohere's request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RerankResponse {
    /// With `texts`: best first.
    Tei(Vec<TeiRank>),
    /// With `documents`.
    Cohere(CohereRerankResponse),
}

/// TEI rerank; with `documents` instead of `texts`, Cohere v1's request and response.
#[utoipa::path(post, path = "/rerank", request_body = RerankRequest,
    responses((status = 200, description = "Best first", body = RerankResponse)), tag = "rerank")]
pub async fn tei(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<RerankRequest>,
) -> Result<Response, ApiError> {
    if matches!(request.truncation_direction, Some(TruncationDirection::Left)) {
        return Err(ApiError::validation(
            "truncation_direction Left is not supported: cross-encoders cut the longer side of the pair from the right",
        ));
    }
    let (texts, documents) = (request.texts, request.documents);
    let texts = match (texts, documents) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "send `texts` (TEI) or `documents` (Cohere), not both",
            ));
        }
        (None, Some(documents)) => {
            let cohere = CohereRerankRequest {
                model: request.model,
                query: request.query,
                documents,
                top_n: request.top_n,
                return_documents: request.return_documents,
                max_tokens_per_doc: None,
                instruction: request.instruction,
            };
            return cohere_v1_impl(&state, cohere).await;
        }
        (Some(texts), None) => texts,
        (None, None) => return Err(ApiError::validation("missing field `texts`")),
    };
    let model = state.reranker(request.model.as_deref())?.clone();
    let ranking = Ranking {
        query: request.query,
        texts,
        truncate: request.truncate.unwrap_or(true),
        top_n: request.top_n,
        max_tokens_per_doc: None,
        instruction: request.instruction,
    };
    ranking.validate(&state)?;
    let texts = request.return_text.then(|| ranking.texts.clone());
    let top_n = ranking.top_n;
    let timed = ranking.score(&model).await?;
    let results: Vec<TeiRank> = ranked(&timed.value, top_n)
        .into_iter()
        .map(|index| {
            let output = &timed.value[index];
            TeiRank {
                index,
                score: if request.raw_scores { output.logit } else { output.relevance },
                text: texts.as_ref().map(|t| t[index].clone()),
            }
        })
        .collect();
    Ok((timed.headers(), Json(results)).into_response())
}

/// Cohere v1 / Jina rerank.
#[utoipa::path(post, path = "/v1/rerank", request_body = CohereRerankRequest,
    responses((status = 200, body = CohereRerankResponse)), tag = "rerank")]
pub async fn cohere_v1(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<CohereRerankRequest>,
) -> Result<Response, ApiError> {
    cohere_v1_impl(&state, request).await
}

async fn cohere_v1_impl(
    state: &AppState,
    request: CohereRerankRequest,
) -> Result<Response, ApiError> {
    let model = state.reranker(request.model.as_deref())?.clone();
    let ranking = Ranking {
        query: request.query,
        texts: request.documents.into_iter().map(DocumentInput::into_text).collect(),
        truncate: true,
        top_n: request.top_n,
        max_tokens_per_doc: request.max_tokens_per_doc,
        instruction: request.instruction,
    };
    cohere_response(state, &model, ranking, request.return_documents.unwrap_or(false), "1").await
}

/// Cohere v2 rerank.
#[utoipa::path(post, path = "/v2/rerank", request_body = CohereV2RerankRequest,
    responses((status = 200, body = CohereRerankResponse)), tag = "rerank")]
pub async fn cohere_v2(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<CohereV2RerankRequest>,
) -> Result<Response, ApiError> {
    let model = state.reranker(Some(&request.model))?.clone();
    let ranking = Ranking {
        query: request.query,
        texts: request.documents.into_iter().map(DocumentInput::into_text).collect(),
        truncate: true,
        top_n: request.top_n,
        max_tokens_per_doc: request.max_tokens_per_doc,
        instruction: request.instruction,
    };
    cohere_response(&state, &model, ranking, request.return_documents.unwrap_or(false), "2").await
}

async fn cohere_response(
    state: &AppState,
    model: &Arc<RerankModel>,
    ranking: Ranking,
    return_documents: bool,
    api_version: &str,
) -> Result<Response, ApiError> {
    ranking.validate(state)?;
    let texts = return_documents.then(|| ranking.texts.clone());
    let top_n = ranking.top_n;
    let timed = ranking.score(model).await?;
    let results = ranked(&timed.value, top_n)
        .into_iter()
        .map(|index| CohereResult {
            index,
            relevance_score: timed.value[index].relevance,
            document: texts.as_ref().map(|t| CohereDocument { text: t[index].clone() }),
        })
        .collect();
    let total_tokens = timed.value.iter().map(|o| o.tokens).sum();
    let body = CohereRerankResponse {
        id: response_id(),
        results,
        model: model.name.clone(),
        usage: Usage { total_tokens, prompt_tokens: None },
        meta: serde_json::json!({
            "api_version": { "version": api_version },
            "billed_units": { "search_units": 1 },
        }),
    };
    Ok((timed.headers(), Json(body)).into_response())
}
