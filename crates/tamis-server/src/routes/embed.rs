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
use tamis_core::TokenMatrix;
use tamis_models::LateRole;

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
    /// tamis: one vector per token from a served ColBERT model instead of one per text;
    /// the response is then `[[[f32]]]`, each input's token vectors (unit length).
    #[serde(default)]
    pub return_multivector: Option<bool>,
    /// tamis, with `return_multivector`: the ColBERT model's name (default: the first
    /// served); ignored otherwise (TEI serves one model).
    #[serde(default)]
    pub model: Option<String>,
    /// With `return_multivector`: encode the texts as `query` (ColBERT's query marker,
    /// padded with `[MASK]` to the query length) or `document` (default).
    #[serde(default)]
    pub input_type: Option<InputType>,
}

/// How a ColBERT model reads a text.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// A search query.
    Query,
    /// A passage to search.
    #[default]
    Document,
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
    /// One vector per token (Jina's field) from the ColBERT model `model` names (default:
    /// the first served): each `embedding` is then a list of vectors, or in base64 the
    /// vectors' little-endian f32s end to end.
    #[serde(default)]
    pub return_multivector: Option<bool>,
    /// With `return_multivector`: `query` or `document` (default).
    #[serde(default)]
    pub input_type: Option<InputType>,
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
    /// `return_multivector`: one vector per token.
    Multi(Vec<Vec<f32>>),
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

/// Checks the common rules and runs the ColBERT model `name` (or the first served) on
/// `texts`: one matrix of token vectors per text.
async fn embed_tokens(
    state: &AppState,
    name: Option<&str>,
    texts: Vec<String>,
    input_type: Option<InputType>,
    truncate: bool,
) -> Result<(String, Timed<(Vec<TokenMatrix>, usize)>), ApiError> {
    let model = state.late_reranker(name)?.clone();
    if texts.is_empty() {
        return Err(ApiError::bad_request("no inputs to embed: send at least one"));
    }
    state.config.limits.check_texts("inputs", texts.iter().map(String::as_str))?;
    if let Some(idx) = texts.iter().position(|t| t.trim().is_empty()) {
        return Err(ApiError::bad_request(format!("input {idx} is empty")));
    }
    let role = match input_type.unwrap_or_default() {
        InputType::Query => LateRole::Query,
        InputType::Document => LateRole::Document,
    };
    Ok((model.name.clone(), model.token_vectors(texts, role, truncate).await?))
}

/// What only multi-vector output takes, refused without it; and what it cannot honour.
fn check_multivector(
    multivector: bool,
    input_type: Option<InputType>,
    dimensions: Option<usize>,
) -> Result<(), ApiError> {
    if !multivector && input_type.is_some() {
        return Err(ApiError::validation(
            "`input_type` applies to multi-vector output: send \"return_multivector\": true",
        ));
    }
    if multivector && dimensions.is_some() {
        return Err(ApiError::validation(
            "`dimensions` does not apply to multi-vector output: a ColBERT model's token \
             vectors have the width it was trained with",
        ));
    }
    Ok(())
}

fn rows(matrix: &TokenMatrix) -> Vec<Vec<f32>> {
    matrix.data.chunks(matrix.dim.max(1)).map(<[f32]>::to_vec).collect()
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
    let multivector = request.return_multivector == Some(true);
    check_multivector(multivector, request.input_type, request.dimensions)?;
    if multivector {
        if request.prompt_name.is_some() || request.normalize == Some(false) {
            return Err(ApiError::validation(
                "`prompt_name` and `normalize: false` do not apply to multi-vector output: a \
                 ColBERT model marks queries itself (`input_type`) and its vectors are unit \
                 length",
            ));
        }
        let texts = request.inputs.into_texts("inputs")?;
        let truncate = request.truncate.unwrap_or(true);
        let name = request.model.as_deref();
        let (_, timed) = embed_tokens(&state, name, texts, request.input_type, truncate).await?;
        let vectors: Vec<Vec<Vec<f32>>> = timed.value.0.iter().map(rows).collect();
        return Ok((timed.headers(), Json(vectors)).into_response());
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
    let multivector = request.return_multivector == Some(true);
    check_multivector(multivector, request.input_type, request.dimensions)?;
    if multivector {
        return openai_multivector(&state, request).await;
    }
    let model = state.embedder()?.clone();
    if let Some(name) = request.model.as_deref().filter(|n| !n.is_empty())
        && name != model.name
        && name.rsplit('/').next() != Some(model.name.as_str())
    {
        let late = state.late_reranker(Some(name)).is_ok();
        return Err(ApiError::bad_request(if late {
            format!(
                "{name} is a ColBERT model, which gives one vector per token: send \
                 \"return_multivector\": true"
            )
        } else {
            format!("unknown model {name:?}; this server embeds with {}", model.name)
        }));
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

/// OpenAI embeddings with `return_multivector`: each input's token vectors.
async fn openai_multivector(
    state: &AppState,
    request: OpenAiEmbedRequest,
) -> Result<Response, ApiError> {
    let texts = request.input.into_texts("input")?;
    let name = request.model.as_deref();
    let (model, timed) = embed_tokens(state, name, texts, request.input_type, true).await?;
    let format = request.encoding_format.unwrap_or_default();
    let data = timed
        .value
        .0
        .iter()
        .enumerate()
        .map(|(index, matrix)| {
            let embedding = match format {
                EncodingFormat::Float => EmbeddingData::Multi(rows(matrix)),
                EncodingFormat::Base64 => {
                    let bytes: Vec<u8> = matrix.data.iter().flat_map(|x| x.to_le_bytes()).collect();
                    EmbeddingData::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
            };
            OpenAiEmbedding { object: "embedding", embedding, index }
        })
        .collect();
    let tokens = timed.value.1;
    let body = OpenAiEmbedResponse {
        object: "list",
        data,
        model,
        usage: Usage { total_tokens: tokens, prompt_tokens: Some(tokens) },
    };
    Ok((timed.headers(), Json(body)).into_response())
}
