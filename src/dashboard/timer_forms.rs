//! Creating a timer from the dashboard, through `POST /timers` called in process ([`super::forms`]). The timers
//! API has no route that changes a timer once made, so neither has the dashboard: it pauses, resumes and
//! cancels ([`super::timers::act`]).

use axum::extract::State;
use axum::http::Method;
use serde_json::{json, Value};

use super::forms::{done, form, refused, submit, Fields, FormErrors};
use super::pages::page_context;
use super::{Session, UiResult};
use crate::api::ApiContext;

const FORM: &str = "timer_form.html";
/// The form's fields, by the API's names, so that a 422's `loc` finds them.
const FIELDS: &[&str] = &[
    "name",
    "duration",
    "every",
    "cron",
    "timezone",
    "max_runs",
    "agent_id",
    "project_id",
    "metadata",
    "events.on_expire.webhook",
    "events.on_expire.message",
    "events.on_expire.data",
    "events.on_expire.format",
    "events.on_progress.intervals",
    "events.on_progress.webhook",
];
/// The payload shapes a timer webhook takes (`format`): blank lets the URL decide.
const FORMATS: &[(&str, &str)] = &[
    ("", "Chosen by the URL (Slack, Discord, Teams incoming webhooks get theirs)"),
    ("json", "The timer's JSON, as it is"),
    ("slack", "Slack message"),
    ("discord", "Discord message"),
    ("teams", "Microsoft Teams card"),
];

/// The API's body for the form. Progress milestones go to the expiry's webhook unless they name their own.
fn body_of(fields: &Fields, errors: &mut FormErrors) -> Value {
    let url = fields.text("events.on_expire.webhook");
    let format = fields.text("events.on_expire.format");
    let typed = ["events.on_expire.message", "events.on_expire.data"].iter().any(|f| fields.text(f).is_some());
    let on_expire = (url.is_some() || typed).then(|| {
        json!({
            "webhook": url,
            "message": fields.text("events.on_expire.message"),
            "data": fields.json("events.on_expire.data", errors),
            "format": format,
        })
    });
    let intervals = fields.list("events.on_progress.intervals");
    let progress_url = fields.text("events.on_progress.webhook");
    let on_progress = (!intervals.is_empty() || progress_url.is_some()).then(|| {
        let mut p = json!({ "intervals": intervals, "format": format });
        // Left out rather than null when there is none: the API then says it is missing.
        if let Some(url) = progress_url.or(url) {
            p["webhook"] = url.into();
        }
        p
    });
    json!({
        "name": fields.text("name"),
        "duration": fields.text("duration"),
        "every": fields.text("every"),
        "cron": fields.text("cron"),
        "timezone": fields.text("timezone"),
        "max_runs": fields.number("max_runs", errors),
        "agent_id": fields.text("agent_id"),
        "project_id": fields.text("project_id"),
        "metadata": fields.json("metadata", errors),
        "events": { "on_expire": on_expire, "on_progress": on_progress },
    })
}

pub async fn new_form(session: Session) -> UiResult {
    Ok(form(FORM, &session, json!({}), page_context! { nav => "timers", formats => FORMATS }))
}

pub async fn create(State(ctx): State<ApiContext>, session: Session, fields: Fields) -> UiResult {
    fields.check_csrf(&session)?;
    let mut errors = FormErrors::default();
    let body = body_of(&fields, &mut errors);
    match submit(&ctx, &session, Method::POST, "/timers", Some(body), FIELDS, errors).await? {
        Ok(created) => {
            let id = created["timer"]["id"].as_str().unwrap_or_default();
            return Ok(done(&format!("/ui/timers/{id}"), "created"));
        }
        Err(refusal) => errors = refusal,
    }
    Ok(refused(FORM, &session, &fields, errors, page_context! { nav => "timers", formats => FORMATS }))
}
