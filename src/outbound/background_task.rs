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

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::OrgId;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, ListResponse, Ordering};
use crate::api::time::{parse_ts, ts};
use crate::api::{load_app, load_endpoint, ApiContext};
use crate::engine::model::Endpoint;
use crate::engine::routing;
use crate::error::{ClientError, Error, Result};
use crate::store::{impl_doc, now_ms, status, Doc, DocKind, Millis, ReplayFilter, Requeue};

/// Messages handed to the engine per commit: small enough that live traffic keeps its turn.
const BATCH: usize = 500;
/// A running task that has not saved progress for this long was interrupted (its node stopped).
pub const STALE_MS: Millis = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Running,
    Finished,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackgroundTask {
    pub id: String,
    pub org_id: String,
    pub status: TaskStatus,
    /// `endpoint.replay`, `endpoint.bulk-replay`, `endpoint.recover`.
    pub task: String,
    pub data: Value,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl_doc!(BackgroundTask, DocKind::BackgroundTask, parent: none, id: id, uid: none);

impl BackgroundTask {
    /// As it should read now: a running task whose node stopped is failed.
    fn settled(mut self, now: Millis) -> Self {
        if self.status == TaskStatus::Running && now - self.updated_at > STALE_MS {
            self.status = TaskStatus::Failed;
            if let Value::Object(m) = &mut self.data {
                m.insert("error".into(), json!("interrupted: the node running it stopped; it is safe to run again"));
            }
        }
        self
    }
}

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

/// Stores a new task of `kind` in `status`, with `data`.
pub async fn record(
    ctx: &ApiContext,
    org: &str,
    kind: &str,
    status: TaskStatus,
    data: Value,
) -> Result<BackgroundTask> {
    let now = now_ms();
    let task = BackgroundTask {
        id: crate::ids::new(crate::ids::TASK),
        org_id: org.to_string(),
        status,
        task: kind.to_string(),
        data,
        created_at: now,
        updated_at: now,
    };
    ctx.store.insert(&task).await?;
    Ok(task)
}

// ── running ──

enum Work {
    Missing { endpoint: Box<Endpoint>, since: Millis, until: Millis },
    Bulk(ReplayFilter),
}

#[derive(Default)]
struct Progress {
    processed: u64,
    sent: u64,
}

impl Progress {
    fn data(&self) -> Value {
        json!({ "messagesProcessed": self.processed, "messagesSent": self.sent })
    }
}

/// Saves the task's state (and so its heartbeat).
async fn save(ctx: &ApiContext, t: &BackgroundTask, status: TaskStatus, data: Value) -> Result<()> {
    ctx.store
        .modify::<BackgroundTask>(&t.org_id, &t.id, move |doc| {
            doc.status = status;
            doc.data = data;
            doc.updated_at = now_ms();
            Ok(())
        })
        .await?;
    Ok(())
}

/// Lets live traffic go first between two pages: while the dispatcher's queue is more than a quarter full,
/// waits for it to drain (a second at most, so that progress keeps being saved).
async fn pace(ctx: &ApiContext) {
    tokio::task::yield_now().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while ctx.engine.dispatch_backlog() > crate::engine::READY_CAPACITY / 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(ctx: &ApiContext, t: &BackgroundTask, app_id: &str, work: Work, p: &mut Progress) -> Result<()> {
    let org = &t.org_id;
    match work {
        Work::Missing { endpoint, since, until } => {
            let mut after: Option<String> = None;
            loop {
                let page = ctx
                    .store
                    .messages_without_delivery(org, app_id, &endpoint.id, since, until, after.as_deref(), BATCH)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                p.processed += page.len() as u64;
                let msg_ids: Vec<String> = page
                    .iter()
                    .filter(|m| routing::matches(&endpoint, &m.event_type, m.channels.as_deref()))
                    .map(|m| m.id.clone())
                    .collect();
                if !msg_ids.is_empty() {
                    let what = Requeue::Missing { endpoint_id: endpoint.id.clone(), msg_ids };
                    p.sent += ctx.store.requeue(org, app_id, what).await?;
                    ctx.engine.work_due(now_ms());
                }
                save(ctx, t, TaskStatus::Running, p.data()).await?;
                if page.len() < BATCH {
                    break;
                }
                pace(ctx).await;
            }
        }
        Work::Bulk(filter) => {
            let mut after = String::new();
            loop {
                let page = ctx.store.deliveries_matching(org, app_id, &filter, &after, BATCH).await?;
                let Some((_, last)) = page.last() else { break };
                after = last.clone();
                p.processed += page.len() as u64;
                let ids = page.iter().map(|(id, _)| *id).collect();
                let what = Requeue::Deliveries {
                    endpoint_id: filter.endpoint_id.clone(),
                    ids,
                    statuses: filter.statuses.clone(),
                };
                let n = ctx.store.requeue(org, app_id, what).await?;
                if n > 0 {
                    p.sent += n;
                    ctx.engine.work_due(now_ms());
                }
                save(ctx, t, TaskStatus::Running, p.data()).await?;
                if page.len() < BATCH {
                    break;
                }
                pace(ctx).await;
            }
        }
    }
    Ok(())
}

/// Records a running task and starts it on this node; answers with the task as it is now.
async fn start(ctx: &ApiContext, org: &str, app_id: &str, kind: &str, work: Work) -> Result<BackgroundTask> {
    let t = record(ctx, org, kind, TaskStatus::Running, Progress::default().data()).await?;
    let (ctx2, t2, app_id) = (ctx.clone(), t.clone(), app_id.to_string());
    tokio::spawn(async move {
        let mut p = Progress::default();
        let outcome = run(&ctx2, &t2, &app_id, work, &mut p).await;
        let (status, mut data) = match &outcome {
            Ok(()) => (TaskStatus::Finished, p.data()),
            Err(e) => {
                tracing::warn!(task = %t2.id, error = ?e, "background task failed");
                (TaskStatus::Failed, p.data())
            }
        };
        if let (Err(e), Value::Object(m)) = (&outcome, &mut data) {
            m.insert("error".into(), json!(e.to_string()));
        }
        if let Err(e) = save(&ctx2, &t2, status, data).await {
            tracing::error!(task = %t2.id, error = ?e, "saving a background task's end");
        }
        tracing::info!(task = %t2.id, kind = %t2.task, processed = p.processed, sent = p.sent, "background task ended");
    });
    Ok(t)
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
    let (app_id, endpoint) = enabled_endpoint(&ctx, &org, &app_id, &ep_id).await?;
    let t = start(&ctx, &org, &app_id, "endpoint.replay", Work::Missing { endpoint: Box::new(endpoint), since, until })
        .await?;
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
    let t = ctx.store.get::<BackgroundTask>(&org, "", &task_id).await?.ok_or_else(Error::not_found)?;
    Ok(Json((&t.settled(now_ms())).into()))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(replay_missing))
        .routes(routes!(bulk_replay))
        .routes(routes!(list_tasks))
        .routes(routes!(get_task))
}
