//! The live tail: attempts as the engine records them, pushed to the page over Server-Sent Events.
//!
//! The page (`/ui/live`, optionally `?app=`) opens an `EventSource` on `/ui/live/events`; each attempt of the
//! session's organization (and application, when filtered) is one `attempt` event whose id is the attempt's id.
//! The browser reconnects by itself after a drop and sends that id as `Last-Event-ID`: with an application
//! filter, the attempts recorded meanwhile are sent first (one indexed page of them). A stream ends at the first
//! attempt after its session does (logout, expiry) and when the engine stops (shutdown). On PostgreSQL with
//! several nodes the engine also hands over the other nodes' attempts (see [`crate::engine::live`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};

use super::pages::{page_context, AppView, AttemptView};
use super::{render, Session, UiResult};
use crate::api::{load_app, ApiContext};
use crate::engine::live::{AttemptEvent, AttemptWatch, Watched};
use crate::engine::model::Application;
use crate::store::{AttemptFilter, AttemptRecord, Page};

/// How many attempts the page starts with (an application's newest), and how many a reconnect catches up on.
const RECENT: usize = 25;

#[derive(Deserialize)]
pub struct LiveParams {
    app: Option<String>,
}

/// One row of the tail: the attempt, with its application's name and the message's event type.
#[derive(Serialize)]
struct LiveRow {
    #[serde(flatten)]
    attempt: AttemptView,
    app_id: String,
    app_name: String,
    event_type: Option<String>,
    will_retry: bool,
}

fn row(attempt: AttemptRecord, app_name: &str, event_type: Option<String>, will_retry: bool) -> LiveRow {
    LiveRow {
        app_id: attempt.app_id.clone(),
        app_name: app_name.to_string(),
        attempt: attempt.into(),
        event_type,
        will_retry,
    }
}

/// An application's newest `n` attempts, newest first — or, `after` an attempt id, the next `n`, oldest first.
/// Read endpoint by endpoint, so that every read walks the `(endpoint_id, id)` index whatever the
/// application's size.
pub(super) async fn app_attempts(
    ctx: &ApiContext,
    org: &str,
    app_id: &str,
    after: Option<&str>,
    n: usize,
) -> Result<Vec<AttemptRecord>, crate::error::Error> {
    let page = Page { limit: n, iterator: after.map(str::to_string), reverse: after.is_some(), descending: true };
    let mut all = Vec::new();
    for ep in ctx.engine.endpoints_of(org, app_id).await?.iter() {
        let filter = AttemptFilter { endpoint_id: Some(ep.id.clone()), ..Default::default() };
        all.extend(ctx.store.attempt_list(org, app_id, &filter, &page).await?.into_iter().take(n));
    }
    // Ids are time-ordered.
    match after {
        Some(_) => all.sort_by(|a, b| a.id.cmp(&b.id)),
        None => all.sort_by(|a, b| b.id.cmp(&a.id)),
    }
    all.truncate(n);
    Ok(all)
}

/// Rows for attempts read from the store, with their messages' event types (one lookup by id per message).
async fn stored_rows(
    ctx: &ApiContext,
    app: &Application,
    attempts: Vec<AttemptRecord>,
) -> Result<Vec<LiveRow>, super::UiError> {
    let mut types: std::collections::HashMap<String, String> = Default::default();
    let mut rows = Vec::with_capacity(attempts.len());
    for a in attempts {
        if !types.contains_key(&a.msg_id) {
            let kind = ctx.store.message_get(&app.org_id, &app.id, &a.msg_id).await?.map(|m| m.event_type);
            types.insert(a.msg_id.clone(), kind.unwrap_or_default());
        }
        let kind = types.get(&a.msg_id).filter(|k| !k.is_empty()).cloned();
        rows.push(row(a, &app.name, kind, false));
    }
    Ok(rows)
}

/// The application named by `?app=`, if any; 404 when it is not the session's organization's.
async fn filter_app(
    ctx: &ApiContext,
    session: &Session,
    q: &LiveParams,
) -> Result<Option<Arc<Application>>, super::UiError> {
    match q.app.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(key) => Ok(Some(load_app(ctx, &session.org, key).await?)),
        None => Ok(None),
    }
}

pub async fn live(State(ctx): State<ApiContext>, session: Session, Query(q): Query<LiveParams>) -> UiResult {
    let app = filter_app(&ctx, &session, &q).await?;
    let mut recent = Vec::new();
    if let Some(app) = &app {
        let rows = app_attempts(&ctx, &session.org, &app.id, None, RECENT).await?;
        recent = stored_rows(&ctx, app, rows).await?;
    }
    // The filter's choices: the newest applications (a bookmark can name any other).
    let first = Page { limit: 50, iterator: None, reverse: false, descending: true };
    let apps: Vec<AppView> =
        crate::api::user_apps(&ctx, &session.org, &first).await?.iter().take(50).map(AppView::from).collect();
    let source = match &app {
        Some(app) => format!("/ui/live/events?app={}", app.id),
        None => "/ui/live/events".to_string(),
    };
    Ok(render(
        StatusCode::OK,
        "live.html",
        page_context! { nav => "live", csrf => session.csrf, app => app.as_deref().map(AppView::from), apps, recent,
        source },
    ))
}

/// What the event stream walks through: first the attempts missed since `Last-Event-ID`, then the live ones.
struct Tail {
    ctx: ApiContext,
    /// The session's id: the stream ends at the first attempt after the session does (logout, expiry).
    session: String,
    org: String,
    app_id: Option<String>,
    backlog: std::vec::IntoIter<LiveRow>,
    watch: AttemptWatch,
}

impl Tail {
    async fn next_event(&mut self) -> Option<Event> {
        if let Some(row) = self.backlog.next() {
            return Some(attempt_event(&row));
        }
        loop {
            match self.watch.next().await? {
                Watched::Missed(n) => return Some(Event::default().event("missed").data(n.to_string())),
                Watched::Attempt(e) if self.wants(&e) => {
                    if !super::session_live(&self.ctx, &self.session).await {
                        return None;
                    }
                    let name = match self.ctx.engine.app(&self.org, &e.attempt.app_id).await {
                        Ok(Some(app)) => app.name.clone(),
                        _ => e.attempt.app_id.clone(),
                    };
                    let row = row(e.attempt.clone(), &name, Some(e.event_type.clone()), e.will_retry);
                    return Some(attempt_event(&row));
                }
                Watched::Attempt(_) => {}
            }
        }
    }

    fn wants(&self, e: &AttemptEvent) -> bool {
        e.attempt.org_id == self.org && self.app_id.as_ref().is_none_or(|a| *a == e.attempt.app_id)
    }
}

fn attempt_event(row: &LiveRow) -> Event {
    let data = serde_json::to_string(row).unwrap_or_default();
    Event::default().event("attempt").id(row.attempt.id.clone()).data(data)
}

pub async fn events(
    State(ctx): State<ApiContext>,
    session: Session,
    headers: HeaderMap,
    Query(q): Query<LiveParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, super::UiError> {
    let app = filter_app(&ctx, &session, &q).await?;
    // Watch first, then catch up: an attempt recorded in between shows twice at worst (the page skips repeats).
    let watch = ctx.engine.watch_attempts();
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).filter(|id| !id.is_empty());
    let mut backlog = Vec::new();
    if let (Some(app), Some(last)) = (&app, last) {
        let rows = app_attempts(&ctx, &session.org, &app.id, Some(last), RECENT).await?;
        backlog = stored_rows(&ctx, app, rows).await?;
    }
    let tail = Tail {
        ctx: ctx.clone(),
        session: session.id.clone(),
        org: session.org.clone(),
        app_id: app.map(|a| a.id.clone()),
        backlog: backlog.into_iter(),
        watch,
    };
    let stream = futures::stream::unfold(tail, |mut tail| async move {
        let event = tail.next_event().await?;
        Some((Ok(event), tail))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
