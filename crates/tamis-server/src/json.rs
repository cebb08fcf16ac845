//! The JSON body extractor: axum's, with its rejections turned into the server's errors
//! (422 naming the field, 413 for a body over the limit, 415 without a JSON content type).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
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
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                ErrorType::PayloadTooLarge,
                "the request body is larger than the server's limit",
            )
        }
        other => ApiError::bad_request(clean(&other.body_text())),
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
