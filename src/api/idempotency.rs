//! The `Idempotency-Key` layer of the API's POSTs.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiContext;
use crate::error::Error;
use crate::store::{IdempotencyClaim, Millis, StoredResponse};
use std::time::Duration;

/// How long an `Idempotency-Key` replays the first answer.
const IDEMPOTENCY_WINDOW_MS: Millis = 12 * 3600 * 1000;
/// A request still marked in progress after this died with its node: its key may be taken over.
const STALE_MS: Millis = 60 * 1000;
/// How long a request waits for another with its key to finish, and how often it looks.
const RUNNING_WAIT: Duration = Duration::from_secs(10);
const RUNNING_POLL: Duration = Duration::from_millis(20);

/// Replays the first successful answer to a POST carrying the same `Idempotency-Key` (per organization and path).
pub async fn idempotency(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    // Only the API's own POSTs: providers send headers of that name to inbound URLs for their own reasons.
    let Some(key) = key.filter(|_| req.method() == Method::POST && req.uri().path().starts_with("/api/")) else {
        return next.run(req).await;
    };
    // An app portal token's organization was settled by the portal gate, outside this layer.
    let org = match req.extensions().get::<super::auth::OrgId>() {
        Some(org) => org.clone(),
        None => match super::auth::org_for(&ctx, req.headers()).await {
            Ok(org) => org,
            Err(e) => return e.into_response(),
        },
    };
    let scoped = format!("{} {}", req.uri().path(), key);
    // The first request with a key claims it in the store, so that two at once — on one node or on two — run
    // once: the other waits for the first's answer and replays it.
    let deadline = tokio::time::Instant::now() + RUNNING_WAIT;
    loop {
        let now = crate::store::now_ms();
        match ctx.store.idempotency_begin(&org.0, &scoped, now - IDEMPOTENCY_WINDOW_MS, now - STALE_MS).await {
            Ok(IdempotencyClaim::Run) => break,
            Ok(IdempotencyClaim::Done(stored)) => return replay(stored),
            Ok(IdempotencyClaim::Running) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(RUNNING_POLL).await
            }
            Ok(IdempotencyClaim::Running) => {
                return Error::conflict("a request with this Idempotency-Key is still in progress").into_response()
            }
            Err(e) => return Error::from(e).into_response(),
        }
    }
    let mut req = req;
    req.extensions_mut().insert(org.clone());
    let resp = next.run(req).await;
    if !resp.status().is_success() {
        // Only successes are kept: a failed request may be retried with the same key.
        if let Err(e) = ctx.store.idempotency_abandon(&org.0, &scoped).await {
            tracing::warn!(error = ?e, "letting go of an Idempotency-Key");
        }
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

fn replay(stored: StoredResponse) -> Response {
    Response::builder()
        .status(stored.status)
        .header("content-type", "application/json")
        .body(Body::from(stored.body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
