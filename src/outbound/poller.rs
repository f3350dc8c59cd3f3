//! Polling endpoints: a customer reads its application's log itself instead of receiving webhooks.
//!
//! * `GET /api/v1/app/{app_id}/poller/{sink_id}` pages through the messages the destination takes (its event
//!   types, channels and payload filter, narrowed further by `event_type` and `channel`), from `iterator`, or from
//!   `after` (a time), or from the destination's creation. An iterator is a log position: the page's `iterator`
//!   continues after it, and `done` says the end was reached.
//! * `…/consumer/{consumer_id}` keeps the iterator on the server, per consumer: each poll continues where the
//!   consumer's last one ended (or from `iterator` when given) and stores where this one ended; `…/seek` moves it
//!   to a time.
//! * A poller token (`GET|POST /api/v1/auth/app/{app_id}/poller/{endpoint_id}/token[/rotate]`) reads this one
//!   polling endpoint and nothing else: given where an organization's token goes, these routes take it instead,
//!   and every other route refuses it (it is no organization's token).

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::destination::load_destination;
use crate::api::auth::{org_for, token_of, OrgId};
use crate::api::extract::ValidJson;
use crate::api::time::{parse_ts, ts};
use crate::api::{load_app, ApiContext};
use crate::engine::destinations::{Destination, PollerToken, POLLING};
use crate::error::{ClientError, Error, Result};
use crate::store::now_ms;

/// Messages read from the log at once while filling a page.
const CHUNK: usize = 500;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollingEndpointMessageOut {
    pub id: String,
    pub event_type: String,
    pub event_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub timestamp: String,
    pub deliver_at: Option<String>,
    pub headers: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollingEndpointOut {
    pub data: Vec<PollingEndpointMessageOut>,
    pub iterator: String,
    pub done: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollQuery {
    /// 1 to 250 (50).
    limit: Option<u64>,
    iterator: Option<String>,
    event_type: Option<String>,
    channel: Option<String>,
    /// Start after the messages created before this time (without `iterator`).
    after: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumerQuery {
    limit: Option<u64>,
    iterator: Option<String>,
}

/// The polling endpoint the request may read: with the organization's token, or with this endpoint's poller token.
async fn authorize(ctx: &ApiContext, headers: &HeaderMap, app_id: &str, sink_id: &str) -> Result<Destination> {
    let token = token_of(headers).ok_or_else(Error::unauthorized)?;
    let d = if token.starts_with(PollerToken::PREFIX) {
        // By id only: a poller token names no organization to look a uid up in.
        let d =
            ctx.store.get_any::<Destination>(sink_id).await?.ok_or_else(|| Error::missing("destination", sink_id))?;
        let now = now_ms();
        let admitted = [&d.poller_token, &d.old_poller_token].into_iter().flatten().any(|t| t.admits(token, now));
        if !admitted {
            return Err(Error::unauthorized());
        }
        let app = ctx.engine.app(&d.org_id, &d.app_id).await?.ok_or_else(|| Error::missing("application", app_id))?;
        if app_id != app.id && Some(app_id) != app.uid.as_deref() {
            return Err(Error::missing("destination", sink_id));
        }
        d
    } else {
        let OrgId(org) = org_for(ctx, headers).await?;
        let app = load_app(ctx, &org, app_id).await?;
        load_destination(ctx, &app, sink_id).await?
    };
    if d.kind != POLLING {
        return Err(Error::bad_request(format!("{sink_id} is a {} destination, not a pollingEndpoint", d.kind)));
    }
    Ok(d)
}

fn parse_iterator(it: &str) -> Result<i64> {
    it.trim()
        .parse::<i64>()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| Error::invalid(&["query", "iterator"], "not an iterator of this poller"))
}

/// One page of what `d` takes after position `from`.
async fn read(
    ctx: &ApiContext,
    d: &Destination,
    from: i64,
    limit: usize,
    event_type: Option<&str>,
    channel: Option<&str>,
) -> Result<PollingEndpointOut> {
    let (mut data, mut at, mut done) = (Vec::new(), from, false);
    'pages: loop {
        let entries = ctx.store.log_read(&d.app_id, at, CHUNK).await?;
        let end = entries.len() < CHUNK;
        for e in entries {
            at = e.pos;
            let m = e.msg;
            let wanted = event_type.is_none_or(|t| t == m.event_type)
                && channel.is_none_or(|c| m.channels.as_ref().is_some_and(|chs| chs.iter().any(|x| x == c)))
                && d.takes(&m.event_type, m.channels.as_deref(), m.payload.as_deref());
            if !wanted {
                continue;
            }
            let payload =
                RawValue::from_string(m.payload.as_deref().unwrap_or("null").to_string()).map_err(Error::internal)?;
            data.push(PollingEndpointMessageOut {
                id: m.id,
                event_type: m.event_type,
                event_id: m.event_id,
                payload,
                channels: m.channels,
                tags: None,
                timestamp: ts(m.created_at),
                deliver_at: None,
                headers: None,
            });
            if data.len() == limit {
                break 'pages;
            }
        }
        if end {
            done = true;
            break;
        }
    }
    Ok(PollingEndpointOut { data, iterator: at.to_string(), done })
}

fn limit_of(limit: Option<u64>) -> usize {
    limit.unwrap_or(50).clamp(1, 250) as usize
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/poller/{sink_id}", tag = "Message Poller",
    params(("app_id" = String, Path), ("sink_id" = String, Path), PollQuery),
    responses((status = 200, body = PollingEndpointOut), ClientError),
)]
async fn poller_poll(
    State(ctx): State<ApiContext>,
    headers: HeaderMap,
    Path((app_id, sink_id)): Path<(String, String)>,
    Query(q): Query<PollQuery>,
) -> Result<Json<PollingEndpointOut>> {
    let d = authorize(&ctx, &headers, &app_id, &sink_id).await?;
    let st = ctx.store.destination_state(&d.id).await?.ok_or_else(|| Error::missing("destination", &sink_id))?;
    let from = match (q.iterator.as_deref().filter(|i| !i.is_empty()), &q.after) {
        (Some(it), _) => parse_iterator(it)?,
        (None, Some(after)) => {
            let after = parse_ts("after", after)?;
            ctx.store.log_position_before(&d.app_id, after, st.start_pos).await?
        }
        (None, None) => st.start_pos,
    };
    let page = read(&ctx, &d, from, limit_of(q.limit), q.event_type.as_deref(), q.channel.as_deref()).await?;
    Ok(Json(page))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}", tag = "Message Poller",
    params(("app_id" = String, Path), ("sink_id" = String, Path), ("consumer_id" = String, Path), ConsumerQuery),
    responses((status = 200, body = PollingEndpointOut), ClientError),
)]
async fn poller_consumer_poll(
    State(ctx): State<ApiContext>,
    headers: HeaderMap,
    Path((app_id, sink_id, consumer)): Path<(String, String, String)>,
    Query(q): Query<ConsumerQuery>,
) -> Result<Json<PollingEndpointOut>> {
    crate::api::validate::check_ident(&["path", "consumer_id"], &consumer, 256)?;
    let d = authorize(&ctx, &headers, &app_id, &sink_id).await?;
    let from = match q.iterator.as_deref().filter(|i| !i.is_empty()) {
        Some(it) => parse_iterator(it)?,
        None => match ctx.store.poller_consumer(&d.id, &consumer).await? {
            Some(pos) => pos,
            None => {
                let st =
                    ctx.store.destination_state(&d.id).await?.ok_or_else(|| Error::missing("destination", &sink_id))?;
                st.start_pos
            }
        },
    };
    let page = read(&ctx, &d, from, limit_of(q.limit), None, None).await?;
    let pos = parse_iterator(&page.iterator)?;
    ctx.store.poller_consumer_set(&d.id, &consumer, pos, now_ms()).await?;
    Ok(Json(page))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PollingEndpointConsumerSeekIn {
    after: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PollingEndpointConsumerSeekOut {
    iterator: String,
}

#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}/seek", tag = "Message Poller",
    params(("app_id" = String, Path), ("sink_id" = String, Path), ("consumer_id" = String, Path)),
    request_body = PollingEndpointConsumerSeekIn,
    responses((status = 200, body = PollingEndpointConsumerSeekOut), ClientError),
)]
async fn poller_consumer_seek(
    State(ctx): State<ApiContext>,
    headers: HeaderMap,
    Path((app_id, sink_id, consumer)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<PollingEndpointConsumerSeekOut>> {
    // Read once the caller is known: a request without a token is a 401 whatever its body.
    let d = authorize(&ctx, &headers, &app_id, &sink_id).await?;
    crate::api::validate::check_ident(&["path", "consumer_id"], &consumer, 256)?;
    let request = axum::extract::Request::new(axum::body::Body::from(body));
    let ValidJson(input) =
        <ValidJson<PollingEndpointConsumerSeekIn> as axum::extract::FromRequest<()>>::from_request(request, &())
            .await?;
    let after = crate::api::time::parse_ts("after", &input.after)
        .map_err(|_| Error::invalid(&["body", "after"], "expected an RFC 3339 date-time"))?;
    let st = ctx.store.destination_state(&d.id).await?.ok_or_else(|| Error::missing("destination", &sink_id))?;
    let pos = ctx.store.log_position_before(&d.app_id, after, st.start_pos).await?;
    ctx.store.poller_consumer_set(&d.id, &consumer, pos, now_ms()).await?;
    Ok(Json(PollingEndpointConsumerSeekOut { iterator: pos.to_string() }))
}

// ── poller tokens ──

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenOut {
    id: String,
    token: String,
    name: Option<String>,
    created_at: String,
    expires_at: Option<String>,
    scopes: Option<Vec<String>>,
}

fn token_out(d: &Destination, t: &PollerToken) -> ApiTokenOut {
    ApiTokenOut {
        id: d.id.clone(),
        token: t.token.clone(),
        name: None,
        created_at: ts(t.created_at),
        expires_at: t.expires_at.map(ts),
        scopes: Some(vec![format!("poller:{}", d.id)]),
    }
}

async fn polling_destination(ctx: &ApiContext, org: &str, app_id: &str, id: &str) -> Result<Destination> {
    let app = load_app(ctx, org, app_id).await?;
    let d = load_destination(ctx, &app, id).await?;
    if d.kind != POLLING {
        return Err(Error::bad_request(format!("{id} is a {} destination, not a pollingEndpoint", d.kind)));
    }
    Ok(d)
}

/// The polling endpoint's current token (made on first ask).
#[utoipa::path(
    get, path = "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token", tag = "Authentication",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = ApiTokenOut), ClientError),
)]
async fn get_poller_token(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<ApiTokenOut>> {
    let d = polling_destination(&ctx, &org, &app_id, &id).await?;
    let now = now_ms();
    if let Some(t) = d.poller_token.as_ref().filter(|t| t.expires_at.is_none_or(|e| e > now)) {
        return Ok(Json(token_out(&d, t)));
    }
    let d = ctx
        .store
        .modify::<Destination>(&org, &d.id, move |d| {
            // Another request may have made one meanwhile: keep it.
            if d.poller_token.as_ref().is_none_or(|t| t.expires_at.is_some_and(|e| e <= now)) {
                d.poller_token = Some(PollerToken::new(now, None));
            }
            Ok(())
        })
        .await?
        .ok_or_else(|| Error::missing("destination", &id))?;
    let t = d.poller_token.as_ref().ok_or_else(|| Error::internal(anyhow::anyhow!("no poller token was kept")))?;
    Ok(Json(token_out(&d, t)))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotatePollerTokenIn {
    /// Seconds the new token lives (up to a year); forever without.
    #[serde(default)]
    expiry: Option<i64>,
    /// Seconds the old token still works (0 to 86400; 300).
    #[serde(default)]
    old_token_expiry: Option<i64>,
}

#[utoipa::path(
    post, path = "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token/rotate", tag = "Authentication",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = RotatePollerTokenIn,
    responses((status = 200, body = ApiTokenOut), ClientError),
)]
async fn rotate_poller_token(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
    ValidJson(input): ValidJson<RotatePollerTokenIn>,
) -> Result<Json<ApiTokenOut>> {
    if input.expiry.is_some_and(|e| !(1..=31_536_000).contains(&e)) {
        return Err(Error::invalid(&["body", "expiry"], "must be between 1 and 31536000 seconds"));
    }
    let old_expiry = input.old_token_expiry.unwrap_or(300);
    if !(0..=86_400).contains(&old_expiry) {
        return Err(Error::invalid(&["body", "oldTokenExpiry"], "must be between 0 and 86400 seconds"));
    }
    let d = polling_destination(&ctx, &org, &app_id, &id).await?;
    let now = now_ms();
    let d = ctx
        .store
        .modify::<Destination>(&org, &d.id, move |d| {
            d.old_poller_token = d.poller_token.take().map(|mut t| {
                let until = now + old_expiry * 1000;
                t.expires_at = Some(t.expires_at.map_or(until, |e| e.min(until)));
                t
            });
            d.poller_token = Some(PollerToken::new(now, input.expiry.map(|e| now + e * 1000)));
            Ok(())
        })
        .await?
        .ok_or_else(|| Error::missing("destination", &id))?;
    let t = d.poller_token.as_ref().ok_or_else(|| Error::internal(anyhow::anyhow!("no poller token was kept")))?;
    Ok(Json(token_out(&d, t)))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(poller_poll))
        .routes(routes!(poller_consumer_poll))
        .routes(routes!(poller_consumer_seek))
        .routes(routes!(get_poller_token))
        .routes(routes!(rotate_poller_token))
}
