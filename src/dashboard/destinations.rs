//! An application's destinations on its page (state, how far behind, the last failure) and the two things an
//! operator does to one that is stuck: skip the failed batch, or retry it now. Through the API, as the forms are.

use axum::extract::{Path, State};
use axum::http::Method;
use serde_json::Value;

use super::forms::{done, request};
use super::pages::page_context;
use super::{Session, UiResult};
use crate::api::ApiContext;
use crate::engine::model::Application;

/// The rows of the application page's destinations table.
pub(super) async fn rows(
    ctx: &ApiContext,
    session: &Session,
    app: &Application,
) -> Result<Vec<minijinja::Value>, super::UiError> {
    let list = request(ctx, session, Method::GET, &format!("/api/v1/app/{}/destination?limit=250", app.id)).await?;
    let rows = list["data"].as_array().cloned().unwrap_or_default();
    Ok(rows
        .into_iter()
        .map(|d| {
            let next_retry = d["nextRetryAt"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| super::pages::time(t.timestamp_millis()));
            page_context! {
                id => d["id"], uid => d["uid"], kind => d["type"], status => d["status"],
                target => target_of(&d),
                lag => d["lag"], cursor => d["currentIterator"],
                failure => d["failureReason"], next_retry,
                event_types => d["eventTypes"], batch_size => d["batchSize"],
            }
        })
        .collect())
}

/// Where a destination sends, as its (masked) config names it.
fn target_of(d: &Value) -> String {
    let c = &d["config"];
    let s = |k: &str| c[k].as_str().map(str::to_string);
    match d["type"].as_str().unwrap_or_default() {
        "pollingEndpoint" => "polled by its consumers".to_string(),
        "rabbitMq" => s("routingKey").map(|k| format!("routing key {k}")).unwrap_or_default(),
        "sqs" => s("queueUrl").unwrap_or_default(),
        "postgres" => s("tableName").map(|t| format!("table {t}")).unwrap_or_default(),
        _ => s("url").or_else(|| s("stream")).or_else(|| s("subject")).or_else(|| s("topic")).unwrap_or_default(),
    }
}

/// `skip` or `force-retry`, then back to the application's page.
async fn act(ctx: &ApiContext, session: &Session, app_id: &str, id: &str, action: &str, code: &str) -> UiResult {
    request(ctx, session, Method::POST, &format!("/api/v1/app/{app_id}/destination/{id}/{action}")).await?;
    Ok(done(&format!("/ui/apps/{app_id}"), code))
}

pub async fn skip(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, id)): Path<(String, String)>,
    fields: super::forms::Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    act(&ctx, &session, &app_id, &id, "skip", "destination-skipped").await
}

pub async fn force_retry(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, id)): Path<(String, String)>,
    fields: super::forms::Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    act(&ctx, &session, &app_id, &id, "force-retry", "destination-retried").await
}
