//! One error type for every face. Client errors answer their status with svix-server's body
//! (`{"code","detail"}`, or `{"detail":[{loc,msg,type}]}` for 422); internal errors are logged and answer an
//! opaque 500.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{detail}")]
    Http { status: StatusCode, code: &'static str, detail: String },
    #[error("validation failed")]
    Validation(Vec<ValidationItem>),
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A 4xx body, as the OpenAPI document shows it: svix-server's `HttpErrorOut`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // only described, never built: errors are made by `Error::into_response`
pub struct HttpErrorOut {
    code: String,
    detail: String,
}

/// The client errors of every operation but the bots', for `responses(...)` in the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[response(status = "4XX", description = "`{code, detail}`")]
#[allow(dead_code)]
pub struct ClientError(HttpErrorOut);

/// A 422 body, as the OpenAPI document shows it: svix-server's `HTTPValidationError`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct HttpValidationError {
    detail: Vec<ValidationItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationItem {
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl Error {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Error::Http { status, code, detail: detail.into() }
    }
    /// The error an API answer of `status` with JSON `body` stands for: the inverse of `into_response`, for
    /// callers of the API in process (the dashboard's forms).
    pub fn from_answer(status: StatusCode, body: &serde_json::Value) -> Self {
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            if let Ok(items) = serde_json::from_value::<Vec<ValidationItem>>(body["detail"].clone()) {
                return Error::Validation(items);
            }
        }
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            return Error::Internal(anyhow::anyhow!("the API answered {status}: {body}"));
        }
        const CODES: &[&str] = &[
            "not_found",
            "conflict",
            "bad_request",
            "forbidden",
            "invalid_json",
            "payload_too_large",
            "authentication_failed",
            "rate_limited",
            "unavailable",
            "method_not_allowed",
        ];
        let code = body["code"].as_str().and_then(|c| CODES.iter().find(|k| **k == c)).copied().unwrap_or("error");
        // The bots face answers `{ok: false, error}`, with a `detail` only sometimes.
        let detail = match (body["detail"].as_str(), body["error"].as_str()) {
            (Some(d), _) | (None, Some(d)) => d.to_string(),
            (None, None) => body["detail"].to_string(),
        };
        Error::Http { status, code, detail }
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Entity not found")
    }
    /// A 404 that names what was looked for, so a typo in an id is seen at once: "application `acme` not found".
    pub fn missing(kind: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{kind} `{id}` not found"))
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_failed",
            "Invalid or missing token (Authorization: Bearer …, or x-api-key)",
        )
    }
    /// A 422 for one field: `loc` like `["body", "url"]`.
    pub fn invalid(loc: &[&str], msg: impl Into<String>) -> Self {
        Error::Validation(vec![ValidationItem {
            loc: loc.iter().map(|s| s.to_string()).collect(),
            msg: msg.into(),
            kind: "value_error".into(),
        }])
    }
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Error::Internal(err.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::Http { status, code, detail } => {
                let mut resp =
                    (status, axum::Json(serde_json::json!({ "code": code, "detail": detail }))).into_response();
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    resp.headers_mut().insert("retry-after", HeaderValue::from(1));
                }
                resp
            }
            Error::Validation(items) => {
                (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(serde_json::json!({ "detail": items }))).into_response()
            }
            Error::RateLimited { retry_after_secs } => {
                let mut resp = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(serde_json::json!({ "code": "rate_limited", "detail": "Too many requests" })),
                )
                    .into_response();
                resp.headers_mut().insert("retry-after", HeaderValue::from(retry_after_secs));
                resp
            }
            Error::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(serde_json::json!({ "code": "internal_error", "detail": "Internal error" })),
                )
                    .into_response()
            }
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(err: crate::store::StoreError) -> Self {
        match err {
            crate::store::StoreError::Conflict(what) => Error::conflict(what),
            e @ crate::store::StoreError::Unavailable => {
                Error::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string())
            }
            crate::store::StoreError::Other(e) => Error::Internal(e),
        }
    }
}
