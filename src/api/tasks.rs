//! Background tasks, as Svix has them: replays too big for one request. A task is a document; it runs as a
//! tokio task on the node that accepted it, paging through the store `BATCH` messages at a time and handing each
//! page to the engine's due-time queue in one commit, with its progress (`data: {messagesProcessed,
//! messagesSent}`) saved after every page. The API's routes (`crate::outbound::background_task`) and the
//! dashboard's actions start them here.
//!
//! A task interrupted by a stop is not resumed: once it has not moved for [`STALE_MS`] it reads as `failed`
//! (`data.error` says so). Running it again is safe: replay-missing only sends what still has no delivery,
//! and bulk replay only sends again deliveries still in the asked-for state.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::ApiContext;
use crate::engine::filter::Subject;
use crate::engine::model::Endpoint;
use crate::engine::routing;
use crate::error::{Error, Result};
use crate::store::{impl_doc, now_ms, Doc, DocKind, Millis, ReplayFilter, Requeue};

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
    pub fn settled(mut self, now: Millis) -> Self {
        if self.status == TaskStatus::Running && now - self.updated_at > STALE_MS {
            self.status = TaskStatus::Failed;
            if let Value::Object(m) = &mut self.data {
                m.insert("error".into(), json!("interrupted: the node running it stopped; it is safe to run again"));
            }
        }
        self
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

pub enum Work {
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
                    .filter(|m| {
                        let payload = m.payload.as_deref().unwrap_or("{}");
                        let parsed = routing::parse_if_read(std::iter::once(&*endpoint), payload);
                        let subject = Subject {
                            event_type: &m.event_type,
                            channels: m.channels.as_deref(),
                            payload: parsed.as_ref(),
                        };
                        routing::receives(&endpoint, &subject)
                    })
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
pub async fn start(ctx: &ApiContext, org: &str, app_id: &str, kind: &str, work: Work) -> Result<BackgroundTask> {
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

/// Starts a replay-missing task (`endpoint.replay`) for `endpoint`: the messages of `[since, until)` its
/// filters match now and that it never got a delivery of. 409 while the endpoint is disabled.
pub async fn replay_missing(
    ctx: &ApiContext,
    endpoint: Endpoint,
    since: Millis,
    until: Millis,
) -> Result<BackgroundTask> {
    if endpoint.disabled {
        return Err(Error::conflict("The endpoint is disabled: enable it before replaying to it"));
    }
    let (org, app_id) = (endpoint.org_id.clone(), endpoint.app_id.clone());
    start(ctx, &org, &app_id, "endpoint.replay", Work::Missing { endpoint: Box::new(endpoint), since, until }).await
}
