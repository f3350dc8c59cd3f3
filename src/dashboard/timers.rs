//! The timers screens: running, paused and finished timers (paged by the store's cursor, filtered by status),
//! a timer's page, and pause, resume and cancel — the timers face's own logic, through
//! [`crate::api::console::TimersConsole`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

use super::pages::{page_context, pager};
use super::{render, Session, UiResult};
use crate::api::console::{self, TimerAction};
use crate::api::pagination::page;
use crate::api::ApiContext;
use crate::engine::model::TIMERS_APP_UID;
use crate::error::Error;
use crate::store::{now_ms, timer_status, Millis, TimerFilter, TimerRecord};

/// The status tabs: (query value, store status, label).
const TABS: &[(&str, Option<i64>, &str)] = &[
    ("", None, "All"),
    ("running", Some(timer_status::RUNNING), "Running"),
    ("paused", Some(timer_status::PAUSED), "Paused"),
    ("expired", Some(timer_status::EXPIRED), "Expired"),
    ("cancelled", Some(timer_status::CANCELLED), "Cancelled"),
];

/// The API's view of a timer, with what the page prints: `percent` done and `remaining` in words.
pub(super) fn view(ctx: &ApiContext, t: &TimerRecord, now: Millis) -> Result<Value, Error> {
    let mut v = console::timers(ctx).view(t, now)?;
    v["percent"] = json!((v["progress"].as_f64().unwrap_or(0.0) * 100.0).round() as i64);
    v["remaining"] = json!(words(v["timeRemaining"].as_i64().unwrap_or(0)));
    v["total"] = json!(words(v["duration"].as_i64().unwrap_or(0)));
    Ok(v)
}

/// `93_000` → `1 min 33 s`: the two largest units.
fn words(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let units = [(86_400, "d"), (3600, "h"), (60, "min"), (1, "s")];
    let parts: Vec<String> = units
        .iter()
        .scan(s, |left, &(size, name)| {
            let n = *left / size;
            *left %= size;
            Some((n, name))
        })
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, name)| format!("{n} {name}"))
        .collect();
    if parts.is_empty() {
        "0 s".into()
    } else {
        parts.join(" ")
    }
}

#[derive(Deserialize)]
pub struct TimersParams {
    status: Option<String>,
    iterator: Option<String>,
}

pub async fn timers(State(ctx): State<ApiContext>, session: Session, Query(q): Query<TimersParams>) -> UiResult {
    let tab = q.status.as_deref().unwrap_or("");
    let Some(&(tab, status, _)) = TABS.iter().find(|t| t.0 == tab) else {
        return Err(Error::invalid(&["query", "status"], "running, paused, expired or cancelled").into());
    };
    let filter = TimerFilter { status, ..Default::default() };
    let page = page(Some(25), q.iterator.as_deref(), true);
    let rows = ctx.store.timer_list(&session.org, &filter, &page).await?;
    let (rows, pager) = pager(rows, &page, |t| t.id.clone());
    let now = now_ms();
    let timers = rows.iter().map(|t| view(&ctx, t, now)).collect::<Result<Vec<Value>, _>>()?;
    let tabs: Vec<_> = TABS.iter().map(|(value, _, label)| page_context! { value, label }).collect();
    // The webhooks' deliveries: the timers application is left out of the applications list.
    let deliveries = ctx.engine.app(&session.org, TIMERS_APP_UID).await?.map(|a| a.id.clone());
    Ok(render(
        StatusCode::OK,
        "timers.html",
        page_context! { nav => "timers", csrf => session.csrf, timers, pager, tabs, tab, deliveries },
    ))
}

#[derive(Deserialize)]
pub struct TimerParams {
    done: Option<String>,
}

pub async fn timer(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<TimerParams>,
) -> UiResult {
    let t = ctx.store.timer_get(&session.org, &id).await?.ok_or_else(Error::not_found)?;
    let timer = view(&ctx, &t, now_ms())?;
    let details = serde_json::to_string_pretty(&serde_json::json!({
        "events": timer["events"], "metadata": timer["metadata"],
    }))
    .unwrap_or_default();
    Ok(render(
        StatusCode::OK,
        "timer.html",
        page_context! { nav => "timers", csrf => session.csrf, timer, details, done => q.done },
    ))
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

pub async fn act(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> UiResult {
    session.check_csrf(&form.csrf)?;
    let (action, done) = match action.as_str() {
        "pause" => (TimerAction::Pause, "paused"),
        "resume" => (TimerAction::Resume, "resumed"),
        "cancel" => (TimerAction::Cancel, "cancelled"),
        _ => return Err(Error::not_found().into()),
    };
    console::timers(&ctx).act(&ctx, &session.org, &id, action).await?;
    Ok(Redirect::to(&format!("/ui/timers/{id}?done={done}")).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn words_names_the_two_largest_units() {
        assert_eq!(super::words(93_000), "1 min 33 s");
        assert_eq!(super::words(3_600_000), "1 h");
        assert_eq!(super::words(90_061_000), "1 d 1 h");
        assert_eq!(super::words(400), "0 s");
    }
}
