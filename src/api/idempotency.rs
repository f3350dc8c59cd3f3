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

/// A key handed to a route that claims it in the commit of its own write, with its answer (a message's publish:
/// `POST /api/v1/app/{app}/msg`), instead of the layer claiming it before and storing the answer after — two
/// more group commits on the SDKs' hottest call. Nothing is read first: a key seen before makes the claim fail,
/// and only then is the first answer looked up and replayed.
#[derive(Debug, Clone)]
pub struct PendingKey {
    pub org: String,
    pub scoped: String,
    /// Older answers than this are taken over.
    pub since: Millis,
    /// Older marks of a request in progress than this are taken over (their node died).
    pub stale: Millis,
}

/// On a route's response: another request claimed the key first; its answer is to be replayed.
#[derive(Clone)]
struct KeyTaken;

impl PendingKey {
    fn new(org: &str, scoped: &str, now: Millis) -> Self {
        PendingKey {
            org: org.to_string(),
            scoped: scoped.to_string(),
            since: now - IDEMPOTENCY_WINDOW_MS,
            stale: now - STALE_MS,
        }
    }

    /// The answer `body` (JSON) with `status`, as stored under the key in the route's commit.
    pub fn stored(&self, status: StatusCode, body: Vec<u8>) -> Response {
        (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
    }

    /// The route wrote nothing: another request has the key.
    pub fn taken(&self) -> Response {
        let mut resp = Error::conflict("a request with this Idempotency-Key is in progress").into_response();
        resp.extensions_mut().insert(KeyTaken);
        resp
    }
}

/// Whether the route claims its key itself ([`PendingKey`]).
fn claims_in_its_commit(path: &str) -> bool {
    matches!(path.split('/').collect::<Vec<_>>()[..], ["", "api", "v1", "app", _, "msg"])
}

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
    let mut req = req;
    req.extensions_mut().insert(org.clone());
    if claims_in_its_commit(req.uri().path()) {
        req.extensions_mut().insert(PendingKey::new(&org.0, &scoped, crate::store::now_ms()));
        let resp = next.run(req).await;
        if resp.extensions().get::<KeyTaken>().is_none() {
            return resp;
        }
        // Another request has the key: its answer, once committed.
        return match settle(&ctx, &org.0, &scoped, true).await {
            Ok(_) => Error::conflict("a request with this Idempotency-Key failed; retry it").into_response(),
            Err(answer) => answer,
        };
    }
    if let Err(answer) = settle(&ctx, &org.0, &scoped, false).await {
        return answer;
    }
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

/// Waits until the key is free to run with — claimed now, or (`own_commit`, after a route found it taken) read
/// as free — or answers: the first request's answer replayed, or 409 when it is still running after a while. Two
/// requests with one key at once, on one node or on two, so run once: the other replays the first's answer.
async fn settle(ctx: &ApiContext, org: &str, scoped: &str, own_commit: bool) -> Result<(), Response> {
    let deadline = tokio::time::Instant::now() + RUNNING_WAIT;
    loop {
        let now = crate::store::now_ms();
        let (since, stale) = (now - IDEMPOTENCY_WINDOW_MS, now - STALE_MS);
        let claim = match own_commit {
            true => ctx.store.idempotency_peek(org, scoped, since, stale).await,
            false => ctx.store.idempotency_begin(org, scoped, since, stale).await,
        };
        match claim {
            Ok(IdempotencyClaim::Run) => return Ok(()),
            Ok(IdempotencyClaim::Done(stored)) => return Err(replay(stored)),
            Ok(IdempotencyClaim::Running) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(RUNNING_POLL).await
            }
            Ok(IdempotencyClaim::Running) => {
                return Err(Error::conflict("a request with this Idempotency-Key is still in progress").into_response())
            }
            Err(e) => return Err(Error::from(e).into_response()),
        }
    }
}

fn replay(stored: StoredResponse) -> Response {
    Response::builder()
        .status(stored.status)
        .header("content-type", "application/json")
        .body(Body::from(stored.body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
