//! Embeddings: TEI (`POST /embed`) and OpenAI (`POST /v1/embeddings`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::json::ApiJson;
use crate::models::{Embedded, Timed};
use crate::routes::rerank::{TruncationDirection, Usage};
use crate::state::AppState;

/// One text or several.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Inputs {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
    /// Token ids (OpenAI allows them); refused with a clear error.
    Tokens(Vec<serde_json::Value>),
}

impl Inputs {
    fn into_texts(self, field: &str) -> Result<Vec<String>, ApiError> {
        match self {
            Inputs::One(text) => Ok(vec![text]),
            Inputs::Many(texts) => Ok(texts),
            Inputs::Tokens(_) => Err(ApiError::validation(format!(
                "`{field}` must be a string or a list of strings (token ids are not supported)"
            ))),
        }
    }
}

/// `POST /embed` (TEI).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TeiEmbedRequest {
    /// A text or a list of texts.
    pub inputs: Inputs,
    /// L2-normalize each vector (default true).
    #[serde(default)]
    pub normalize: Option<bool>,
    /// Cut texts longer than the model's limit (default true); false makes them an error.
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Which end is cut; only `Right`.
    #[serde(default)]
    pub truncation_direction: Option<TruncationDirection>,
    /// A prompt the model declares (`query`, …); default: the model's default prompt.
    #[serde(default)]
    pub prompt_name: Option<String>,
    /// Keep the first n dimensions (then normalize, if asked).
    #[serde(default)]
    pub dimensions: Option<usize>,
}

/// `POST /v1/embeddings` (OpenAI).
#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenAiEmbedRequest {
    /// A text or a list of texts.
    pub input: Inputs,
    /// The model's name (checked when given).
    #[serde(default)]
    pub model: Option<String>,
    /// `float` (default) or `base64` (little-endian f32).
    #[serde(default)]
    pub encoding_format: Option<EncodingFormat>,
    /// Keep the first n dimensions, re-normalized.
    #[serde(default)]
    pub dimensions: Option<usize>,
    /// Ignored (OpenAI's end-user id).
    #[serde(default)]
    pub user: Option<String>,
}

/// How OpenAI vectors are written.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// JSON numbers.
    #[default]
    Float,
    /// Base64 of little-endian f32s.
    Base64,
}

/// `POST /v1/embeddings` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiEmbedResponse {
    /// Always `list`.
    pub object: &'static str,
    /// One per input, in order.
    pub data: Vec<OpenAiEmbedding>,
    /// The model's name.
    pub model: String,
    /// Tokens read.
    pub usage: Usage,
}

/// One vector.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiEmbedding {
    /// Always `embedding`.
    pub object: &'static str,
    /// Numbers, or a base64 string.
    pub embedding: EmbeddingData,
    /// Position in the request.
    pub index: usize,
}

/// A vector as OpenAI writes it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingData {
    /// `encoding_format: float`.
    Float(Vec<f32>),
    /// `encoding_format: base64`: little-endian f32s.
    Base64(String),
}

/// Checks the common rules and runs the model.
async fn embed(
    state: &AppState,
    texts: Vec<String>,
    prompt_name: Option<String>,
    truncate: bool,
) -> Result<Timed<Embedded>, ApiError> {
    let model = state.embedder()?.clone();
    if texts.is_empty() {
        return Err(ApiError::bad_request("no inputs to embed: send at least one"));
    }
    state.config.limits.check_texts("inputs", texts.iter().map(String::as_str))?;
    if let Some(idx) = texts.iter().position(|t| t.trim().is_empty()) {
        return Err(ApiError::bad_request(format!("input {idx} is empty")));
    }
    model.embed(texts, prompt_name, truncate).await
}

/// Keeps the first `dimensions` components (Matryoshka), then normalizes if asked.
fn shape(mut vector: Vec<f32>, dimensions: Option<usize>, normalize: bool) -> Vec<f32> {
    if let Some(d) = dimensions {
        vector.truncate(d);
    }
    if normalize {
        tamis_models::normalize(&mut vector);
    }
    vector
}

fn check_dimensions(state: &AppState, dimensions: Option<usize>) -> Result<(), ApiError> {
    let full = state.embedder()?.model().dimension();
    match dimensions {
        Some(0) => Err(ApiError::bad_request("`dimensions` must be at least 1")),
        Some(d) if d > full => Err(ApiError::bad_request(format!(
            "`dimensions` is {d}; the model's vectors have {full}"
        ))),
        _ => Ok(()),
    }
}

/// TEI embeddings: `[[f32]]`, one vector per input.
#[utoipa::path(post, path = "/embed", request_body = TeiEmbedRequest,
    responses((status = 200, body = Vec<Vec<f32>>)), tag = "embed")]
pub async fn tei(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<TeiEmbedRequest>,
) -> Result<Response, ApiError> {
    if matches!(request.truncation_direction, Some(TruncationDirection::Left)) {
        return Err(ApiError::validation("truncation_direction Left is not supported"));
    }
    check_dimensions(&state, request.dimensions)?;
    let texts = request.inputs.into_texts("inputs")?;
    let timed = embed(&state, texts, request.prompt_name, request.truncate.unwrap_or(true)).await?;
    let normalize = request.normalize.unwrap_or(true);
    let vectors: Vec<Vec<f32>> = timed
        .value
        .vectors
        .iter()
        .map(|v| shape(v.clone(), request.dimensions, normalize))
        .collect();
    Ok((timed.headers(), Json(vectors)).into_response())
}

/// OpenAI embeddings.
#[utoipa::path(post, path = "/v1/embeddings", request_body = OpenAiEmbedRequest,
    responses((status = 200, body = OpenAiEmbedResponse)), tag = "embed")]
pub async fn openai(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<OpenAiEmbedRequest>,
) -> Result<Response, ApiError> {
    let model = state.embedder()?.clone();
    if let Some(name) = request.model.as_deref().filter(|n| !n.is_empty())
        && name != model.name
        && name.rsplit('/').next() != Some(model.name.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "unknown model {name:?}; this server embeds with {}",
            model.name
        )));
    }
    check_dimensions(&state, request.dimensions)?;
    let texts = request.input.into_texts("input")?;
    let timed = embed(&state, texts, None, true).await?;
    let format = request.encoding_format.unwrap_or_default();
    let data = timed
        .value
        .vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            // OpenAI's vectors are unit length; so are ours, whatever the model declares.
            let vector = shape(vector.clone(), request.dimensions, true);
            let embedding = match format {
                EncodingFormat::Float => EmbeddingData::Float(vector),
                EncodingFormat::Base64 => {
                    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                    EmbeddingData::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
            };
            OpenAiEmbedding { object: "embedding", embedding, index }
        })
        .collect();
    let tokens = timed.value.tokens;
    let body = OpenAiEmbedResponse {
        object: "list",
        data,
        model: model.name.clone(),
        usage: Usage { total_tokens: tokens, prompt_tokens: Some(tokens) },
    };
    Ok((timed.headers(), Json(body)).into_response())
}
