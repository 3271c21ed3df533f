//! One error type for every handler, answered as RFC 9457 problem JSON with a stable `code`.
//! Internal causes go to the log, never to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::AuthError;
use crate::domain::conflict::Conflict;
use crate::domain::email::EmailError;
use crate::domain::list::FieldError;
use crate::flows::{FlowError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the body is not valid JSON for this request: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidField(#[from] FieldError),
    #[error("the email address is not valid: {0}")]
    InvalidEmail(#[from] EmailError),
    #[error("a valid API key is required (Authorization: Bearer csk_...)")]
    Unauthorized,
    #[error("this key's role may not use this endpoint")]
    Forbidden,
    #[error("no such resource")]
    NotFound,
    #[error("no list with this slug")]
    UnknownList,
    #[error("`evidence.consent_text_sha256` names no version of this list's consent text")]
    UnknownConsentText,
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(#[from] Conflict),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("expected Content-Type: {0}")]
    UnsupportedMediaType(&'static str),
    #[error("the request body did not arrive within {} ms", .0.as_millis())]
    RequestTimeout(std::time::Duration),
    #[error("too many requests; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("storage is unavailable; retry shortly")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// RFC 9457 problem document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// `urn:consentry:problem:<code>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'a str,
    pub status: u16,
    /// Stable machine code, e.g. `invalid_email`, `unauthorized`, `rate_limited`.
    pub code: &'a str,
    pub detail: String,
}

impl ApiError {
    /// (status, stable code, title).
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            InvalidRequest(_) | InvalidField(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid request",
            ),
            InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json", "Invalid JSON body"),
            InvalidEmail(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_email",
                "Invalid email address",
            ),
            Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            UnknownList => (StatusCode::NOT_FOUND, "unknown_list", "Unknown list"),
            UnknownConsentText => (
                StatusCode::BAD_REQUEST,
                "unknown_consent_text",
                "Unknown consent text",
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Conflict(conflict) => (StatusCode::CONFLICT, conflict.code(), "Conflict"),
            PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            RequestTimeout(_) => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "Request timeout",
            ),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_)
            | StoreError::Connect(_)
            | StoreError::SharedTransactionLost(_)
            | StoreError::SharedReadFailed(_)
            | StoreError::ErasedFramesKept => ApiError::Unavailable,
            other => ApiError::Internal(other.into()),
        }
    }
}

/// An id in a path that is not in the form this service issues names nothing here.
impl From<crate::domain::ids::InvalidId> for ApiError {
    fn from(_: crate::domain::ids::InvalidId) -> Self {
        ApiError::NotFound
    }
}

impl From<FlowError> for ApiError {
    fn from(error: FlowError) -> Self {
        match error {
            FlowError::NotFound => ApiError::NotFound,
            FlowError::Conflict(conflict) => ApiError::Conflict(conflict),
            FlowError::Store(e) => e.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Invalid => ApiError::Unauthorized,
            AuthError::Throttled(retry_after) => ApiError::RateLimited { retry_after },
            AuthError::Store(e) => e.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, title) = self.parts();
        if status.is_server_error() {
            // The full cause chain, for operators only.
            tracing::error!(error = ?self, code, "request failed");
        }
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            ApiError::RateLimited { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Unavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            // The rest of a late body is not worth waiting for.
            ApiError::RequestTimeout(_) => {
                response.force_close();
            }
            _ => {}
        }
        response.json(Problem {
            kind: format!("urn:consentry:problem:{code}"),
            title,
            status: status.as_u16(),
            code,
            detail: self.to_string(),
        })
    }
}
