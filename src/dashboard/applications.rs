//! Creating, editing and deleting applications from the dashboard, through the API ([`super::forms`]).

use axum::extract::{Path, State};
use axum::http::Method;
use serde_json::{json, Map, Value};

use super::forms::{done, form, refused, request, submit, Fields, FormErrors};
use super::pages::{page_context, AppView};
use super::{Session, UiResult};
use crate::api::{load_app, not_internal, ApiContext};
use crate::engine::model::Application;

const TEMPLATE: &str = "app_form.html";
/// The form's fields, by the API's names, so that a 422's `loc` finds them.
const FIELDS: &[&str] = &["name", "uid", "rateLimit", "messageRetentionPeriod", "metadata"];

/// The API's body for the form: an edit sends every field, blank ones as `null`, so that clearing one clears it.
fn body_of(fields: &Fields, errors: &mut FormErrors) -> Value {
    let metadata = fields.pairs("metadata", '=').unwrap_or_else(|line| {
        errors.field("metadata", line);
        Map::new()
    });
    json!({
        "name": fields.get("name"),
        "uid": fields.text("uid"),
        "rateLimit": fields.number("rateLimit", errors),
        "messageRetentionPeriod": fields.number("messageRetentionPeriod", errors),
        "metadata": metadata,
    })
}

pub async fn new_form(session: Session) -> UiResult {
    Ok(form(TEMPLATE, &session, json!({}), minijinja::context! { nav => "apps" }))
}

pub async fn create(State(ctx): State<ApiContext>, session: Session, fields: Fields) -> UiResult {
    fields.check_csrf(&session)?;
    let mut errors = FormErrors::default();
    let body = body_of(&fields, &mut errors);
    match submit(&ctx, &session, Method::POST, "/api/v1/app", Some(body), FIELDS, errors).await? {
        Ok(app) => return Ok(done(&format!("/ui/apps/{}", app["id"].as_str().unwrap_or_default()), "app-created")),
        Err(refusal) => errors = refusal,
    }
    Ok(refused(TEMPLATE, &session, &fields, errors, minijinja::context! { nav => "apps" }))
}

pub async fn edit_form(State(ctx): State<ApiContext>, session: Session, Path(app_id): Path<String>) -> UiResult {
    let app = editable(&ctx, &session, &app_id).await?;
    let metadata: Vec<String> = app.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let values = json!({
        "name": app.name,
        "uid": app.uid,
        "rateLimit": app.throttle_rate,
        "messageRetentionPeriod": app.retention_days,
        "metadata": metadata.join("\n"),
    });
    Ok(form(TEMPLATE, &session, values, page_context! { nav => "apps", app => AppView::from(&app) }))
}

pub async fn update(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(app_id): Path<String>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let app = editable(&ctx, &session, &app_id).await?;
    let mut errors = FormErrors::default();
    let body = body_of(&fields, &mut errors);
    let path = format!("/api/v1/app/{}", app.id);
    match submit(&ctx, &session, Method::PATCH, &path, Some(body), FIELDS, errors).await? {
        Ok(_) => return Ok(done(&format!("/ui/apps/{}", app.id), "app-saved")),
        Err(refusal) => errors = refusal,
    }
    let app = AppView::from(&app);
    Ok(refused(TEMPLATE, &session, &fields, errors, page_context! { nav => "apps", app }))
}

pub async fn delete(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(app_id): Path<String>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let app = editable(&ctx, &session, &app_id).await?;
    request(&ctx, &session, Method::DELETE, &format!("/api/v1/app/{}", app.id)).await?;
    Ok(done("/ui/apps", "app-deleted"))
}

/// The application, unless it is hookd's own (changed by its face only: 403).
pub(super) async fn editable(ctx: &ApiContext, session: &Session, app_id: &str) -> Result<Application, super::UiError> {
    let app = load_app(ctx, &session.org, app_id).await?;
    not_internal(&app, "it is changed by hookd alone")?;
    Ok((*app).clone())
}
