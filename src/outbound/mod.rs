//! The outbound face: the Svix server API (`/api/v1/…`), so that the official Svix SDKs work against hookd
//! unchanged. Each resource file ends in `pub fn router()`; this module holds what they share: JSON input with
//! 4xx errors, cursor pagination, timestamps, path lookups and the idempotency layer.

pub mod application;
pub mod attempt;
pub mod endpoint;
pub mod event_type;
pub mod message;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa_axum::router::OpenApiRouter;

use crate::engine::model::{Application, Endpoint};
use crate::error::{Error, Result};
use crate::server::ApiContext;
use crate::store::{Millis, Page};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .merge(application::router())
        .merge(endpoint::router())
        .merge(event_type::router())
        .merge(message::router())
        .merge(attempt::router())
}

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

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    Ascending,
    Descending,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub limit: Option<u64>,
    pub iterator: Option<String>,
    #[param(inline)]
    pub order: Option<Ordering>,
}

impl ListQuery {
    pub fn page(&self, default_desc: bool) -> Page {
        page(self.limit, self.iterator.as_deref(), self.order.map_or(default_desc, |o| o == Ordering::Descending))
    }
}

/// Builds a page from the Svix query parameters (`limit` 1–250, default 50).
pub fn page(limit: Option<u64>, iterator: Option<&str>, descending: bool) -> Page {
    let (iterator, reverse) = match iterator.filter(|s| !s.is_empty()) {
        Some(it) => match it.strip_prefix('-') {
            Some(rest) => (Some(rest.to_string()), true),
            None => (Some(it.to_string()), false),
        },
        None => (None, false),
    };
    Page { limit: limit.unwrap_or(50).clamp(1, 250) as usize, iterator, reverse, descending }
}

/// Turns the `limit + 1` rows a store returned (in walking order) into a Svix list response.
pub fn list_response<R, T>(
    mut rows: Vec<R>,
    page: &Page,
    id: impl Fn(&R) -> String,
    map: impl FnMut(R) -> T,
) -> ListResponse<T> {
    let more = rows.len() > page.limit;
    rows.truncate(page.limit);
    if page.reverse {
        rows.reverse();
    }
    let iterator = rows.last().map(&id).or_else(|| page.iterator.clone());
    let prev_iterator = rows.first().map(|r| format!("-{}", id(r)));
    ListResponse { data: rows.into_iter().map(map).collect(), iterator, prev_iterator, done: !more }
}

pub fn ts(ms: Millis) -> String {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An RFC 3339 date-time; one without an offset is taken as UTC.
pub fn parse_ts(field: &str, s: &str) -> Result<Millis> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .or_else(|_| s.parse::<chrono::NaiveDateTime>().map(|d| d.and_utc().timestamp_millis()))
        .map_err(|_| Error::invalid(&["query", field], "expected an RFC 3339 date-time"))
}

/// A list query parameter: comma-separated (as the Svix SDKs send it) and/or repeated.
pub fn multi(raw: Option<&str>, key: &str) -> Option<Vec<String>> {
    let values: Vec<String> = url::form_urlencoded::parse(raw?.as_bytes())
        .filter(|(k, _)| k == key || k.strip_suffix("[]") == Some(key))
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then_some(values)
}

pub fn opt_ts(field: &str, s: &Option<String>) -> Result<Option<Millis>> {
    s.as_deref().map(|s| parse_ts(field, s)).transpose()
}

/// Names, uids, event types and channels share one alphabet.
pub fn check_ident(loc: &[&str], value: &str, max: usize) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(loc, format!("must be 1-{max} characters of a-z, A-Z, 0-9, '-', '_', '.'")))
    }
}

/// For PATCH bodies: absent → None, `null` → Some(None), a value → Some(Some(v)).
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub async fn load_app(ctx: &ApiContext, org: &str, key: &str) -> Result<Arc<Application>> {
    ctx.engine.app(org, key).await?.ok_or_else(Error::not_found)
}

pub async fn load_endpoint(ctx: &ApiContext, app: &Application, key: &str) -> Result<Endpoint> {
    ctx.store.get::<Endpoint>(&app.org_id, &app.id, key).await?.ok_or_else(Error::not_found)
}

/// How long an `Idempotency-Key` replays the first answer.
const IDEMPOTENCY_WINDOW_MS: Millis = 12 * 3600 * 1000;

/// Replays the first successful answer to a POST carrying the same `Idempotency-Key` (per organization and path).
pub async fn idempotency(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    // Only the API's own POSTs: providers send headers of that name to inbound URLs for their own reasons.
    let Some(key) = key.filter(|_| req.method() == Method::POST && req.uri().path().starts_with("/api/")) else {
        return next.run(req).await;
    };
    let org = match crate::auth::org_for(&ctx, req.headers()).await {
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
