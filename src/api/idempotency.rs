//! The `Idempotency-Key` layer of the API's POSTs.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiContext;
use crate::error::Error;
use crate::store::Millis;

/// How long an `Idempotency-Key` replays the first answer.
const IDEMPOTENCY_WINDOW_MS: Millis = 12 * 3600 * 1000;

/// Replays the first successful answer to a POST carrying the same `Idempotency-Key` (per organization and path).
pub async fn idempotency(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    // Only the API's own POSTs: providers send headers of that name to inbound URLs for their own reasons.
    let Some(key) = key.filter(|_| req.method() == Method::POST && req.uri().path().starts_with("/api/")) else {
        return next.run(req).await;
    };
    let org = match super::auth::org_for(&ctx, req.headers()).await {
        Ok(org) => org,
        Err(e) => return e.into_response(),
    };
    let scoped = format!("{} {}", req.uri().path(), key);
    let since = crate::store::now_ms() - IDEMPOTENCY_WINDOW_MS;
    match ctx.store.idempotency_get(&org.0, &scoped, since).await {
        Ok(Some(stored)) => {
            return Response::builder()
                .status(stored.status)
                .header("content-type", "application/json")
                .body(Body::from(stored.body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
        Ok(None) => {}
        Err(e) => return Error::from(e).into_response(),
    }
    let mut req = req;
    req.extensions_mut().insert(org.clone());
    let resp = next.run(req).await;
    if !resp.status().is_success() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let stored = crate::store::StoredResponse { status: parts.status.as_u16(), body: bytes.to_vec() };
    if let Err(e) = ctx.store.idempotency_put(&org.0, &scoped, stored).await {
        tracing::warn!(error = ?e, "storing an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}
