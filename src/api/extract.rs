//! Request extractors whose rejections are the API's JSON errors.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A JSON body: malformed JSON is a 400, the wrong shape a 422, too large a 413 — each with a JSON body.
/// An empty body reads as `{}`.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ValidJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "Request body is too large")
            } else {
                Error::bad_request(e.body_text())
            }
        })?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(body).map(ValidJson).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => Error::invalid(&["body"], e.to_string()),
            _ => Error::new(StatusCode::BAD_REQUEST, "invalid_json", format!("Malformed JSON body: {e}")),
        })
    }
}
