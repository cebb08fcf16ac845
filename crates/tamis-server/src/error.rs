//! The one error→status table of the server, and its one JSON error shape.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tamis_core::ErrorKind;

/// Errors of the server library itself (configuration, binding).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range.
    #[error("invalid setting {name}: {message}")]
    InvalidConfig {
        /// The setting.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Loading a model or opening an index failed.
    #[error("{context}: {source}")]
    Startup {
        /// What was being loaded.
        context: String,
        /// Whose fault it is (the source's own kind).
        kind: ErrorKind,
        /// Why it failed.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Listening or serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// Committing the collections at shutdown failed.
    #[error("committing collections at shutdown: {0}")]
    Flush(String),
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfig { .. } => ErrorKind::User,
            Error::Startup { kind, .. } => *kind,
            // Binding the address (in use, not permitted), or the runtime's threads.
            Error::Io(err) => match err.kind() {
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::AddrNotAvailable => {
                    ErrorKind::User
                }
                _ => ErrorKind::Unavailable,
            },
            Error::Flush(_) => ErrorKind::Unavailable,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong with a request, as the client sees it: `{"error": …, "error_type": …}`.
///
/// Every handler returns this; the status comes from [`ErrorType`] alone, so the table
/// below is the whole mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// Decides the status.
    pub error_type: ErrorType,
    /// One line for the client.
    pub message: String,
    /// Seconds after which a retry may succeed (sent as `Retry-After`).
    pub retry_after_s: Option<u32>,
}

/// The kinds of failure a client can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// Valid JSON that breaks a rule (empty `documents`, unknown model…): 400.
    BadRequest,
    /// Missing or wrong API key: 401.
    Unauthorized,
    /// A read-only key tried to write: 403.
    Forbidden,
    /// No such collection or route: 404.
    NotFound,
    /// The route exists, not with this method: 405 (with `Allow`).
    MethodNotAllowed,
    /// The collection already exists: 409.
    Conflict,
    /// The body is larger than the limit: 413.
    PayloadTooLarge,
    /// Not JSON: 415.
    UnsupportedMediaType,
    /// Malformed JSON, a wrong type, a missing field, an input too long to keep whole: 422.
    Validation,
    /// The queue is full: 429 with `Retry-After`.
    Overloaded,
    /// A bug or a failed model: 500.
    Internal,
    /// Not ready (models loading, shutting down) or a resource is unavailable: 503.
    Unavailable,
}

impl ErrorType {
    /// The HTTP status of this kind of failure.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadRequest => StatusCode::BAD_REQUEST,
            ErrorType::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorType::Forbidden => StatusCode::FORBIDDEN,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorType::Conflict => StatusCode::CONFLICT,
            ErrorType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorType::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error_type` string of the JSON body.
    pub fn name(self) -> &'static str {
        match self {
            ErrorType::BadRequest => "bad_request",
            ErrorType::Unauthorized => "unauthorized",
            ErrorType::Forbidden => "forbidden",
            ErrorType::NotFound => "not_found",
            ErrorType::MethodNotAllowed => "method_not_allowed",
            ErrorType::Conflict => "conflict",
            ErrorType::PayloadTooLarge => "payload_too_large",
            ErrorType::UnsupportedMediaType => "unsupported_media_type",
            ErrorType::Validation => "validation",
            ErrorType::Overloaded => "overloaded",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
        }
    }

    /// The kind of failure a status stands for: how an error response that did not come
    /// from a handler (one of axum's own) is brought into the table. A status the table
    /// does not have becomes the nearest one: 400 for a client's fault, else 500.
    pub fn from_status(status: StatusCode) -> ErrorType {
        const ALL: [ErrorType; 12] = [
            ErrorType::BadRequest,
            ErrorType::Unauthorized,
            ErrorType::Forbidden,
            ErrorType::NotFound,
            ErrorType::MethodNotAllowed,
            ErrorType::Conflict,
            ErrorType::PayloadTooLarge,
            ErrorType::UnsupportedMediaType,
            ErrorType::Validation,
            ErrorType::Overloaded,
            ErrorType::Internal,
            ErrorType::Unavailable,
        ];
        match ALL.into_iter().find(|t| t.status() == status) {
            Some(error_type) => error_type,
            None if status.is_client_error() => ErrorType::BadRequest,
            None => ErrorType::Internal,
        }
    }
}

/// The body of every error response.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// One line saying what is wrong.
    pub error: String,
    /// `bad_request` (400), `unauthorized` (401), `forbidden` (403), `not_found` (404),
    /// `method_not_allowed` (405), `conflict` (409), `payload_too_large` (413),
    /// `unsupported_media_type` (415), `validation` (422), `overloaded` (429), `internal`
    /// (500), `unavailable` (503).
    pub error_type: String,
}

impl ApiError {
    /// An error of `error_type` saying `message`.
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError { error_type, message: message.into(), retry_after_s: None }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::BadRequest, message)
    }

    /// 422.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::Validation, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::NotFound, message)
    }

    /// 503.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::Unavailable, message)
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::Internal, message)
    }

    /// 429, retry after `seconds`.
    pub fn overloaded(message: impl Into<String>, seconds: u32) -> ApiError {
        ApiError { retry_after_s: Some(seconds), ..ApiError::new(ErrorType::Overloaded, message) }
    }

    /// The error a library failure becomes: its kind says whose fault it is.
    pub fn from_kind(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        let error_type = match kind {
            ErrorKind::User => ErrorType::BadRequest,
            ErrorKind::NotFound => ErrorType::NotFound,
            ErrorKind::Unavailable => ErrorType::Unavailable,
            _ => ErrorType::Internal,
        };
        ApiError::new(error_type, message)
    }
}

impl From<tamis_engine::Error> for ApiError {
    fn from(err: tamis_engine::Error) -> ApiError {
        let error_type = match &err {
            tamis_engine::Error::IndexExists { .. }
            | tamis_engine::Error::CollectionExists { .. } => ErrorType::Conflict,
            // A missing index or collection is NotFound by its kind: 404.
            _ => return ApiError::from_kind(err.kind(), err.to_string()),
        };
        ApiError::new(error_type, err.to_string())
    }
}

impl From<tamis_models::Error> for ApiError {
    fn from(err: tamis_models::Error) -> ApiError {
        ApiError::from_kind(err.kind(), err.to_string())
    }
}

impl From<tamis_core::Error> for ApiError {
    fn from(err: tamis_core::Error) -> ApiError {
        ApiError::from_kind(err.kind(), err.to_string())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.error_type.name())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.error_type.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), "{}", self.message);
        }
        let body = ErrorBody { error: self.message, error_type: self.error_type.name().into() };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_s {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
