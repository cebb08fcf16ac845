//! The extractors handlers use: axum's, with their rejections turned into the server's
//! errors (422 naming the field, 413 for a body over the limit, 415 without a JSON content
//! type, 400 for a path segment that is not UTF-8), so that no rejection answers in
//! axum's plain-text shape.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorType};

/// A JSON request body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(rejected(&rejection)),
        }
    }
}

fn rejected(rejection: &JsonRejection) -> ApiError {
    match rejection {
        // axum's text names the path of the field (`documents[2]: invalid type …`).
        JsonRejection::JsonDataError(err) => ApiError::validation(clean(&err.body_text())),
        JsonRejection::JsonSyntaxError(err) => {
            ApiError::validation(format!("malformed JSON: {}", clean(&err.body_text())))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorType::UnsupportedMediaType,
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(err) => body_rejected(err),
        other => ApiError::bad_request(clean(&other.body_text())),
    }
}

/// A body that could not be read: over the limit (by its `Content-Length` or as it
/// streamed in), or cut off.
pub fn body_rejected(rejection: &BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            ErrorType::PayloadTooLarge,
            "the request body is larger than the server's limit (--max-body-bytes)",
        );
    }
    ApiError::bad_request(format!("reading the request body: {}", rejection.body_text()))
}

/// A path parameter.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_rejected(&rejection)),
        }
    }
}

fn path_rejected(rejection: &PathRejection) -> ApiError {
    match rejection {
        // A route without the parameter: the router is wrong, not the client.
        PathRejection::MissingPathParams(err) => ApiError::internal(err.body_text()),
        // Invalid UTF-8 after percent-decoding, or a value of the wrong type.
        other => ApiError::bad_request(other.body_text()),
    }
}

/// axum's messages start with a generic preamble; the part after it says what is wrong.
fn clean(text: &str) -> String {
    let text = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .or_else(|| text.strip_prefix("Failed to parse the request body as JSON: "))
        .unwrap_or(text);
    text.to_string()
}
