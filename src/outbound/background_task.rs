//! Background tasks, as Svix has them (`/api/v1/background-task`): replays too big for one request. A task is
//! a document; it runs as a tokio task on the node that accepted it, paging through the store `BATCH` messages
//! at a time and handing each page to the engine's due-time queue in one commit, with its progress
//! (`data: {messagesProcessed, messagesSent}`) saved after every page.
//!
//! * `POST …/endpoint/{id}/replay-missing` (`endpoint.replay`): the messages the endpoint should have received
//!   (its filters match them now) and never got a delivery for — created while it was disabled or filtered.
//! * `POST …/endpoint/{id}/bulk-replay` (`endpoint.bulk-replay`): the endpoint's deliveries of a time range
//!   again, by status (failed only, succeeded only, or both), event types and channel.
//! * `POST …/endpoint/{id}/recover` (`endpoint.recover`, in [`super::endpoint`]) is recorded here too.
//!
//! A task interrupted by a stop is not resumed: once it has not moved for [`STALE_MS`] it reads as `failed`
//! (`data.error` says so). Running it again is safe: replay-missing only sends what still has no delivery,
//! and bulk replay only sends again deliveries still in the asked-for state.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::OrgId;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, ListResponse, Ordering};
pub use crate::api::tasks::{record, BackgroundTask, TaskStatus, STALE_MS};
use crate::api::tasks::{start, Work};
use crate::api::time::{parse_ts, ts};
use crate::api::{load_app, load_endpoint, ApiContext};
use crate::engine::model::Endpoint;
use crate::error::{ClientError, Error, Result};
use crate::store::{now_ms, status, Millis, ReplayFilter};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundTaskOut {
    pub id: String,
    pub status: TaskStatus,
    pub task: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub updated_at: String,
}

impl From<&BackgroundTask> for BackgroundTaskOut {
    fn from(t: &BackgroundTask) -> Self {
        BackgroundTaskOut {
            id: t.id.clone(),
            status: t.status,
            task: t.task.clone(),
            data: t.data.clone(),
            updated_at: ts(t.updated_at),
        }
    }
}

// ── routes ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ReplayIn {
    since: String,
    #[serde(default)]
    until: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct BulkReplayIn {
    since: String,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    event_types: Option<Vec<String>>,
    #[serde(default)]
    channel: Option<String>,
    /// Svix's message status: 0 succeeded, 2 failed; absent for both.
    #[serde(default)]
    status: Option<i64>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    status_code_class: Option<i64>,
}

/// `[since, until)` from the body: RFC 3339 date-times, `since` before `until` (now when absent).
fn range(since: &str, until: &Option<String>) -> Result<(Millis, Millis)> {
    let since =
        parse_ts("since", since).map_err(|_| Error::invalid(&["body", "since"], "expected an RFC 3339 date-time"))?;
    let until = match until {
        Some(u) => {
            parse_ts("until", u).map_err(|_| Error::invalid(&["body", "until"], "expected an RFC 3339 date-time"))?
        }
        None => i64::MAX,
    };
    if since >= until {
        return Err(Error::invalid(&["body", "until"], "must be after since"));
    }
    Ok((since, until))
}

async fn enabled_endpoint(ctx: &ApiContext, org: &str, app_id: &str, ep_id: &str) -> Result<(String, Endpoint)> {
    let app = load_app(ctx, org, app_id).await?;
    let ep = load_endpoint(ctx, &app, ep_id).await?;
    if ep.disabled {
        return Err(Error::conflict("The endpoint is disabled: enable it before replaying to it"));
    }
    Ok((app.id.clone(), ep))
}

/// Sends the endpoint every message of `[since, until)` it should have received and never got an attempt
/// for: one its filters match now, with no delivery to it (created while it was disabled, or filtered out).
#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = ReplayIn,
    responses(
        (status = 202, body = BackgroundTaskOut),
        ClientError,
    ),
)]
async fn replay_missing(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<ReplayIn>,
) -> Result<(StatusCode, Json<BackgroundTaskOut>)> {
    let (since, until) = range(&input.since, &input.until)?;
    let app = load_app(&ctx, &org, &app_id).await?;
    let endpoint = load_endpoint(&ctx, &app, &ep_id).await?;
    let t = crate::api::tasks::replay_missing(&ctx, endpoint, since, until).await?;
    Ok((StatusCode::ACCEPTED, Json((&t).into())))
}

/// Sends the endpoint again its deliveries of messages created in `[since, until)`: those that failed
/// (`status: 2`), that succeeded (`status: 0`), or both (no `status`); optionally only some event types or one
/// channel. A delivery still on its way is left alone.
#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = BulkReplayIn,
    responses(
        (status = 202, body = BackgroundTaskOut),
        ClientError,
    ),
)]
async fn bulk_replay(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<BulkReplayIn>,
) -> Result<(StatusCode, Json<BackgroundTaskOut>)> {
    let (since, until) = range(&input.since, &input.until)?;
    let statuses = match input.status {
        None => vec![status::SUCCESS, status::FAIL],
        Some(s @ (status::SUCCESS | status::FAIL)) => vec![s],
        Some(_) => {
            return Err(Error::invalid(
                &["body", "status"],
                "0 (succeeded) or 2 (failed): pending and sending deliveries are on their way already",
            ))
        }
    };
    if input.tag.is_some() {
        return Err(Error::invalid(&["body", "tag"], "hookd's messages have no tags"));
    }
    if input.status_code_class.is_some() {
        return Err(Error::invalid(&["body", "statusCodeClass"], "not supported: filter by status instead"));
    }
    for t in input.event_types.iter().flatten() {
        crate::api::validate::check_ident(&["body", "eventTypes"], t, 256)?;
    }
    if let Some(c) = &input.channel {
        crate::api::validate::check_ident(&["body", "channel"], c, 128)?;
    }
    let (app_id, endpoint) = enabled_endpoint(&ctx, &org, &app_id, &ep_id).await?;
    let filter = ReplayFilter {
        endpoint_id: endpoint.id,
        since,
        until,
        statuses,
        event_types: input.event_types.filter(|t| !t.is_empty()),
        channel: input.channel,
    };
    let t = start(&ctx, &org, &app_id, "endpoint.bulk-replay", Work::Bulk(filter)).await?;
    Ok((StatusCode::ACCEPTED, Json((&t).into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TaskListQuery {
    limit: Option<u64>,
    iterator: Option<String>,
    #[param(inline)]
    order: Option<Ordering>,
    #[param(inline)]
    status: Option<TaskStatus>,
    task: Option<String>,
}

/// The organization's background tasks, newest first unless `order=ascending`.
#[utoipa::path(
    get, path = "/api/v1/background-task", tag = "Background Tasks",
    params(TaskListQuery),
    responses(
        (status = 200, body = ListResponse<BackgroundTaskOut>),
        ClientError,
    ),
)]
async fn list_tasks(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Query(q): Query<TaskListQuery>,
) -> Result<Json<ListResponse<BackgroundTaskOut>>> {
    let page =
        crate::api::pagination::page(q.limit, q.iterator.as_deref(), q.order.is_none_or(|o| o == Ordering::Descending));
    let rows = match &q.task {
        Some(kind) => ctx.store.list_where::<BackgroundTask>(&org, "", "task", kind, &page).await?,
        None => ctx.store.list::<BackgroundTask>(&org, "", &page).await?,
    };
    let now = now_ms();
    let mut out = list_response(rows, &page, |t| t.id.clone(), |t| t.settled(now));
    // The status is filtered after paging: a stale task's status is known only once read.
    if let Some(s) = q.status {
        out.data.retain(|t| t.status == s);
    }
    Ok(Json(ListResponse {
        data: out.data.iter().map(Into::into).collect(),
        iterator: out.iterator,
        prev_iterator: out.prev_iterator,
        done: out.done,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/background-task/{task_id}", tag = "Background Tasks",
    params(("task_id" = String, Path)),
    responses(
        (status = 200, body = BackgroundTaskOut),
        ClientError,
    ),
)]
async fn get_task(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(task_id): Path<String>,
) -> Result<Json<BackgroundTaskOut>> {
    let t = ctx
        .store
        .get::<BackgroundTask>(&org, "", &task_id)
        .await?
        .ok_or_else(|| Error::missing("background task", &task_id))?;
    Ok(Json((&t.settled(now_ms())).into()))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(replay_missing))
        .routes(routes!(bulk_replay))
        .routes(routes!(list_tasks))
        .routes(routes!(get_task))
}
