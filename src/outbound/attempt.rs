//! Message attempts and delivery state: what was sent where, with what result; resending.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::message::{payload_of, MessageListQuery};
use crate::api::auth::OrgId;
use crate::api::pagination::{list_response, page, ListResponse};
use crate::api::time::{opt_ts, ts};
use crate::api::validate::multi;
use crate::api::{load_app, load_endpoint, load_message, ApiContext};
use crate::error::{ClientError, Error, Result};
use crate::store::{status, AttemptFilter, AttemptRecord, DeliveryRecord};

fn status_text(s: i64) -> &'static str {
    match s {
        status::SUCCESS => "success",
        status::PENDING => "pending",
        status::SENDING => "sending",
        status::CANCELED => "canceled",
        _ => "fail",
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct MessageAttemptOut {
    id: String,
    msg_id: String,
    endpoint_id: String,
    url: String,
    response: String,
    response_status_code: i64,
    response_duration_ms: i64,
    status: i64,
    status_text: &'static str,
    trigger_type: i64,
    timestamp: String,
}

impl From<AttemptRecord> for MessageAttemptOut {
    fn from(a: AttemptRecord) -> Self {
        MessageAttemptOut {
            status_text: status_text(a.status),
            id: a.id,
            msg_id: a.msg_id,
            endpoint_id: a.endpoint_id,
            url: a.url,
            response: a.response,
            response_status_code: a.status_code,
            response_duration_ms: a.duration_ms,
            status: a.status,
            trigger_type: a.manual as i64,
            timestamp: ts(a.created_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AttemptListQuery {
    limit: Option<u64>,
    iterator: Option<String>,
    status: Option<i64>,
    status_code_class: Option<i64>,
    channel: Option<String>,
    endpoint_id: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

impl AttemptListQuery {
    fn filter(&self, raw: Option<&str>) -> Result<AttemptFilter> {
        if self.status_code_class.is_some_and(|c| ![0, 100, 200, 300, 400, 500].contains(&c)) {
            return Err(Error::invalid(&["query", "status_code_class"], "must be one of 0, 100, 200, 300, 400, 500"));
        }
        Ok(AttemptFilter {
            msg_id: None,
            endpoint_id: None,
            status: self.status,
            status_code_class: self.status_code_class,
            before: opt_ts("before", &self.before)?,
            after: opt_ts("after", &self.after)?,
            event_types: multi(raw, "event_types"),
            channel: self.channel.clone(),
        })
    }
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", tag = "Message Attempt",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), AttemptListQuery),
    responses(
        (status = 200, body = ListResponse<MessageAttemptOut>),
        ClientError,
    ),
)]
async fn list_by_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(q): Query<AttemptListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ListResponse<MessageAttemptOut>>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let filter = AttemptFilter { endpoint_id: Some(ep.id), ..q.filter(raw.as_deref())? };
    let page = page(q.limit, q.iterator.as_deref(), true);
    let rows = ctx.store.attempt_list(&org, &app.id, &filter, &page).await?;
    Ok(Json(list_response(rows, &page, |a| a.id.clone(), Into::into)))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/attempt/msg/{msg_id}", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), AttemptListQuery),
    responses(
        (status = 200, body = ListResponse<MessageAttemptOut>),
        ClientError,
    ),
)]
async fn list_by_msg(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<AttemptListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ListResponse<MessageAttemptOut>>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let msg = load_message(&ctx, &app, &msg_id).await?;
    let endpoint_id = match &q.endpoint_id {
        Some(key) => Some(load_endpoint(&ctx, &app, key).await?.id),
        None => None,
    };
    let filter = AttemptFilter { msg_id: Some(msg.id), endpoint_id, ..q.filter(raw.as_deref())? };
    let page = page(q.limit, q.iterator.as_deref(), true);
    let rows = ctx.store.attempt_list(&org, &app.id, &filter, &page).await?;
    Ok(Json(list_response(rows, &page, |a| a.id.clone(), Into::into)))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("attempt_id" = String, Path)),
    responses(
        (status = 200, body = MessageAttemptOut),
        ClientError,
    ),
)]
async fn get_attempt(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> Result<Json<MessageAttemptOut>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let msg = load_message(&ctx, &app, &msg_id).await?;
    let a = ctx
        .store
        .attempt_get(&org, &app.id, &msg.id, &attempt_id)
        .await?
        .ok_or_else(|| Error::missing("attempt", &attempt_id))?;
    Ok(Json(a.into()))
}

#[utoipa::path(
    delete, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("attempt_id" = String, Path)),
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn expunge_attempt(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let msg = load_message(&ctx, &app, &msg_id).await?;
    if !ctx.store.attempt_expunge(&org, &app.id, &msg.id, &attempt_id).await? {
        return Err(Error::missing("attempt", &attempt_id));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct MessageEndpointOut {
    id: String,
    uid: Option<String>,
    url: String,
    description: String,
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    disabled: bool,
    throttle_rate: Option<u16>,
    status: i64,
    status_text: &'static str,
    next_attempt: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SimpleListQuery {
    limit: Option<u64>,
    iterator: Option<String>,
}

/// The endpoints a message was (or is being) delivered to, with the delivery's state.
#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), SimpleListQuery),
    responses(
        (status = 200, body = ListResponse<MessageEndpointOut>),
        ClientError,
    ),
)]
async fn attempted_destinations(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<SimpleListQuery>,
) -> Result<Json<ListResponse<MessageEndpointOut>>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let msg = load_message(&ctx, &app, &msg_id).await?;
    let page = page(q.limit, q.iterator.as_deref(), false);
    let rows = ctx.store.deliveries_of_message(&org, &app.id, &msg.id, &page).await?;
    let endpoints = ctx.engine.endpoints_of(&org, &app.id).await?;
    let mut out = list_response(rows, &page, |d| d.endpoint_id.clone(), |d: DeliveryRecord| d);
    let data = out
        .data
        .drain(..)
        .filter_map(|d| {
            let ep = endpoints.iter().find(|e| e.id == d.endpoint_id)?;
            Some(MessageEndpointOut {
                id: ep.id.clone(),
                uid: ep.uid.clone(),
                url: ep.url.clone(),
                description: ep.description.clone(),
                event_types: ep.filter_types.clone(),
                channels: ep.channels.clone(),
                disabled: ep.disabled,
                throttle_rate: ep.throttle_rate,
                status: d.status,
                status_text: status_text(d.status),
                next_attempt: d.next_attempt_at.filter(|_| d.status == status::PENDING).map(ts),
                created_at: ts(ep.created_at),
                updated_at: ts(ep.updated_at),
            })
        })
        .collect();
    Ok(Json(ListResponse { data, iterator: out.iterator, prev_iterator: out.prev_iterator, done: out.done }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EndpointMessageOut {
    id: String,
    event_type: String,
    event_id: Option<String>,
    #[schema(value_type = Object)]
    payload: Box<RawValue>,
    channels: Option<Vec<String>>,
    timestamp: String,
    status: i64,
    status_text: &'static str,
    next_attempt: Option<String>,
}

/// The messages sent (or being sent) to an endpoint, with their delivery state; `status=2` lists dead letters.
#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg", tag = "Message Attempt",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), MessageListQuery),
    responses(
        (status = 200, body = ListResponse<EndpointMessageOut>),
        ClientError,
    ),
)]
async fn attempted_messages(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(q): Query<MessageListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ListResponse<EndpointMessageOut>>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let filter = q.filter(raw.as_deref())?;
    let page = page(q.limit, q.iterator.as_deref(), true);
    let rows = ctx.store.messages_of_endpoint(&org, &app.id, &ep.id, q.status, &filter, &page).await?;
    let with_content = q.with_content.unwrap_or(true);
    Ok(Json(list_response(
        rows,
        &page,
        |(m, _)| m.id.clone(),
        |(m, d)| EndpointMessageOut {
            payload: payload_of(&m, with_content),
            id: m.id,
            event_type: m.event_type,
            event_id: m.event_id,
            channels: m.channels,
            timestamp: ts(m.created_at),
            status: d.status,
            status_text: status_text(d.status),
            next_attempt: d.next_attempt_at.filter(|_| d.status == status::PENDING).map(ts),
        },
    )))
}

/// Sends a message to an endpoint once more, whatever became of earlier attempts.
#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 202, body = Value),
        ClientError,
    ),
)]
async fn resend(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, msg_id, ep_id)): Path<(String, String, String)>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let msg = load_message(&ctx, &app, &msg_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    crate::api::resend(&ctx, &app, msg, &ep).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list_by_endpoint))
        .routes(routes!(list_by_msg))
        .routes(routes!(get_attempt))
        .routes(routes!(expunge_attempt))
        .routes(routes!(attempted_destinations))
        .routes(routes!(attempted_messages))
        .routes(routes!(resend))
}
