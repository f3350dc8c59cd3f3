//! Messages: what the user publishes. Creating one answers 202 once it and its deliveries are committed.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::application::{self, ApplicationIn};
use crate::api::auth::OrgId;
use crate::api::extract::ValidJson;
use crate::api::idempotency::PendingKey;
use crate::api::pagination::{list_response, page, ListResponse};
use crate::api::time::{opt_ts, parse_ts, ts};
use crate::api::validate::{check_ident, multi};
use crate::api::{load_app, load_message, ApiContext};
use crate::engine::model::Application;
use crate::engine::NewMessage;
use crate::error::{ClientError, Error, Result};
use crate::store::{MessageFilter, MessageRecord, StoredResponse};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub payload_retention_period: Option<i64>,
    #[serde(default)]
    pub application: Option<ApplicationIn>,
    /// Deliver at this time (RFC 3339) instead of now.
    #[serde(default)]
    pub deliver_at: Option<String>,
}

impl MessageIn {
    pub fn example(event_type: String, payload: &serde_json::Value) -> Self {
        MessageIn {
            event_type,
            payload: RawValue::from_string(payload.to_string()).expect("a Value serializes to valid JSON"),
            event_id: None,
            channels: None,
            payload_retention_period: None,
            application: None,
            deliver_at: None,
        }
    }
}

/// The payload is echoed as it was received, byte for byte.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    pub id: String,
    pub event_type: String,
    pub event_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    pub channels: Option<Vec<String>>,
    pub timestamp: String,
}

pub fn payload_of(m: &MessageRecord, with_content: bool) -> Box<RawValue> {
    let text = m.payload.as_deref().filter(|_| with_content).unwrap_or("{}");
    RawValue::from_string(text.to_string()).unwrap_or_else(|_| RawValue::from_string("{}".into()).expect("valid"))
}

impl MessageOut {
    pub fn new(m: &MessageRecord, with_content: bool) -> Self {
        MessageOut {
            id: m.id.clone(),
            event_type: m.event_type.clone(),
            event_id: m.event_id.clone(),
            payload: payload_of(m, with_content),
            channels: m.channels.clone(),
            timestamp: ts(m.created_at),
        }
    }
}

/// Validates a message and publishes it through the engine (optionally to one endpoint only).
pub async fn publish(
    ctx: &ApiContext,
    app: &Application,
    input: MessageIn,
    only_endpoint: Option<String>,
) -> Result<Arc<MessageRecord>> {
    ctx.engine.publish(app, checked(ctx, app, input, only_endpoint).await?).await
}

/// The message `input` asks for, once its fields (and, where asked, its payload's schema) are checked.
async fn checked(ctx: &ApiContext, app: &Application, input: MessageIn, only: Option<String>) -> Result<NewMessage> {
    let msg = fields_checked(input, only)?;
    super::schema::PayloadSchemas::check(ctx, app, &msg.event_type, &msg.payload).await?;
    Ok(msg)
}

fn fields_checked(input: MessageIn, only_endpoint: Option<String>) -> Result<NewMessage> {
    check_ident(&["body", "eventType"], &input.event_type, 256)?;
    if let Some(id) = &input.event_id {
        check_ident(&["body", "eventId"], id, 256)?;
    }
    if let Some(channels) = &input.channels {
        if channels.is_empty() || channels.len() > 10 {
            return Err(Error::invalid(&["body", "channels"], "must hold 1 to 10 channels"));
        }
        for c in channels {
            check_ident(&["body", "channels"], c, 128)?;
        }
    }
    if !input.payload.get().trim_start().starts_with('{') {
        return Err(Error::invalid(&["body", "payload"], "must be a JSON object"));
    }
    if let Some(days) = input.payload_retention_period {
        if !(5..=90).contains(&days) {
            return Err(Error::invalid(&["body", "payloadRetentionPeriod"], "must be between 5 and 90 days"));
        }
    }
    let deliver_at = match &input.deliver_at {
        Some(s) => Some(
            parse_ts("deliverAt", s)
                .map_err(|_| Error::invalid(&["body", "deliverAt"], "expected an RFC 3339 date-time"))?,
        ),
        None => None,
    };
    Ok(NewMessage {
        event_type: input.event_type,
        event_id: input.event_id,
        channels: input.channels,
        payload: input.payload,
        deliver_at,
        only_endpoint,
        id: None,
        payload_retention: input.payload_retention_period.map(|days| Duration::from_secs(days as u64 * 86_400)),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct WithContent {
    with_content: Option<bool>,
}

#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/msg", tag = "Message",
    params(("app_id" = String, Path), WithContent),
    request_body = MessageIn,
    responses(
        (status = 202, body = MessageOut),
        ClientError,
    ),
)]
async fn create_message(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    Query(q): Query<WithContent>,
    key: Option<Extension<PendingKey>>,
    ValidJson(mut input): ValidJson<MessageIn>,
) -> Result<Response> {
    let app = application::load_or_create(&ctx, &org, &app_id, input.application.take()).await?;
    let with_content = q.with_content.unwrap_or(true);
    let Some(Extension(key)) = key else {
        let msg = publish(&ctx, &app, input, None).await?;
        return Ok((StatusCode::ACCEPTED, Json(MessageOut::new(&msg, with_content))).into_response());
    };
    // With an Idempotency-Key (the SDKs send one with every publish): the key is claimed, with this answer, in
    // the message's own commit.
    let prepared = ctx.engine.prepare(&app, checked(&ctx, &app, input, None).await?).await?;
    let body = serde_json::to_vec(&MessageOut::new(&prepared.msg, with_content)).map_err(anyhow::Error::from)?;
    let answer = StoredResponse { status: StatusCode::ACCEPTED.as_u16(), body: body.clone() };
    let (msg, deliveries) = (prepared.msg.clone(), prepared.deliveries.clone());
    match ctx.store.publish_claiming(&key.org, &key.scoped, key.since, key.stale, answer, msg, deliveries).await? {
        Some(ids) => {
            ctx.engine.start(prepared, ids);
            Ok(key.stored(StatusCode::ACCEPTED, body))
        }
        None => Ok(key.taken()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageListQuery {
    pub limit: Option<u64>,
    pub iterator: Option<String>,
    pub channel: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub with_content: Option<bool>,
    pub status: Option<i64>,
}

impl MessageListQuery {
    pub fn filter(&self, raw: Option<&str>) -> Result<MessageFilter> {
        Ok(MessageFilter {
            channel: self.channel.clone(),
            event_types: multi(raw, "event_types"),
            before: opt_ts("before", &self.before)?,
            after: opt_ts("after", &self.after)?,
        })
    }
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/msg", tag = "Message",
    params(("app_id" = String, Path), MessageListQuery),
    responses(
        (status = 200, body = ListResponse<MessageOut>),
        ClientError,
    ),
)]
async fn list_messages(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    Query(q): Query<MessageListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ListResponse<MessageOut>>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let filter = q.filter(raw.as_deref())?;
    let page = page(q.limit, q.iterator.as_deref(), true);
    let rows = ctx.store.message_list(&org, &app.id, &filter, &page).await?;
    let with_content = q.with_content.unwrap_or(true);
    Ok(Json(list_response(rows, &page, |m| m.id.clone(), |m| MessageOut::new(&m, with_content))))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/msg/{msg_id}", tag = "Message",
    params(("app_id" = String, Path), ("msg_id" = String, Path), WithContent),
    responses(
        (status = 200, body = MessageOut),
        ClientError,
    ),
)]
async fn get_message(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<WithContent>,
) -> Result<Json<MessageOut>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let msg = load_message(&ctx, &app, &msg_id).await?;
    Ok(Json(MessageOut::new(&msg, q.with_content.unwrap_or(true))))
}

#[utoipa::path(
    delete, path = "/api/v1/app/{app_id}/msg/{msg_id}/content", tag = "Message",
    params(("app_id" = String, Path), ("msg_id" = String, Path)),
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn expunge_content(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let msg = load_message(&ctx, &app, &msg_id).await?;
    ctx.store.message_expunge(&org, &app.id, &msg.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list_messages, create_message))
        .routes(routes!(get_message))
        .routes(routes!(expunge_content))
}
