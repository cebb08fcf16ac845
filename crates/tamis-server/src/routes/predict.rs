//! TEI's classification route, `POST /predict`, over the default cross-encoder: a pair
//! `[query, passage]` (or a list of pairs) gets `[{label, score}]`. It is what
//! `huggingface_hub.InferenceClient(model=".../predict").text_classification([q, p])` calls.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

/// What to classify.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PredictInputs {
    /// One `[query, passage]` pair.
    Pair([String; 2]),
    /// Several pairs.
    Pairs(Vec<[String; 2]>),
    /// A single text: a cross-encoder needs a pair, so this is refused clearly.
    Single(String),
}

/// `POST /predict`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PredictRequest {
    /// A pair or a list of pairs.
    pub inputs: PredictInputs,
    /// Raw logits instead of 0..1 scores.
    #[serde(default)]
    pub raw_scores: bool,
    /// Cut pairs longer than the model's limit (default true).
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Sent by `huggingface_hub` (`top_k`, `function_to_apply`); ignored.
    #[serde(default)]
    pub parameters: Option<serde_json::Value>,
    /// The reranker's name (default: the server's first).
    #[serde(default)]
    pub model: Option<String>,
}

/// One label's score.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabelScore {
    /// `LABEL_0` for a one-logit cross-encoder.
    pub label: String,
    /// Sigmoid of the logit (or the declared 0..1 score); the logit with `raw_scores`.
    pub score: f32,
}

/// What `POST /predict` answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PredictResponse {
    /// For one pair: its labels.
    One(Vec<LabelScore>),
    /// For a list of pairs: the labels of each.
    Many(Vec<Vec<LabelScore>>),
}

/// TEI classification: a flat list for one pair, a list of lists for several.
#[utoipa::path(post, path = "/predict", request_body = PredictRequest,
    responses((status = 200, body = PredictResponse)), tag = "rerank")]
pub async fn predict(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<PredictRequest>,
) -> Result<Response, ApiError> {
    let (pairs, single) = match request.inputs {
        PredictInputs::Pair(pair) => (vec![pair], true),
        PredictInputs::Pairs(pairs) => (pairs, false),
        PredictInputs::Single(_) => {
            return Err(ApiError::validation(
                "`inputs` must be a [query, passage] pair (or a list of pairs): this server classifies with a cross-encoder",
            ));
        }
    };
    if pairs.is_empty() {
        return Err(ApiError::bad_request("no pairs to classify: send at least one"));
    }
    let limits = &state.config.limits;
    limits.check_texts("pairs", pairs.iter().map(|[_, passage]| passage.as_str()))?;
    for [query, _] in &pairs {
        limits.check_query(query)?;
    }
    let model = state.reranker(request.model.as_deref())?.clone();
    let truncate = request.truncate.unwrap_or(true);
    // Pairs may have different queries: score each query's pairs together.
    let mut scores = Vec::with_capacity(pairs.len());
    let mut queue_time = std::time::Duration::ZERO;
    let mut inference_time = std::time::Duration::ZERO;
    for [query, passage] in pairs {
        let timed = model.score(query, vec![passage], truncate, None).await?;
        queue_time += timed.queue_time;
        inference_time += timed.inference_time;
        let output = timed.value[0];
        let score = if request.raw_scores { output.logit } else { output.relevance };
        scores.push(vec![LabelScore { label: "LABEL_0".into(), score }]);
    }
    let headers = crate::models::timing_headers(queue_time, inference_time);
    if single {
        let first = scores.into_iter().next().unwrap_or_default();
        return Ok((headers, Json(first)).into_response());
    }
    Ok((headers, Json(scores)).into_response())
}
