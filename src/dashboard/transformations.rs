//! An endpoint's transformation, edited on its own page: the JavaScript (or a ready-made shape), whether it runs,
//! its variables, and "Try it" on a sample before saving. Both buttons post the same form through the API: the
//! dry run (`…/transformation/simulate`) with the code as typed, and the save (`PATCH …/transformation`), which
//! refuses code that does not compile with a 422 naming `code`, shown beside the code box.

use axum::extract::{Path, State};
use axum::http::Method;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::endpoints::editable_endpoint;
use super::forms::{done, form, refused, submit, Fields, FormErrors};
use super::pages::{page_context, AppView, EndpointView};
use super::{Session, UiResult};
use crate::api::ApiContext;
use crate::engine::model::{Application, Endpoint};
use crate::engine::transform::Preset;

const TEMPLATE: &str = "transformation_form.html";
/// The API's names: the transformation's (`PATCH`) and the sample's (`simulate`).
const FIELDS: &[&str] = &["code", "template", "enabled", "variables", "eventType", "payload"];

/// What "Try it" gave: what would be sent, or why nothing would.
#[derive(Serialize, Default)]
struct Trial {
    method: Option<String>,
    url: Option<String>,
    result: Option<String>,
    cancel: bool,
    /// Neither code nor a shape: the message is sent as published.
    none: bool,
    error: Option<String>,
}

fn extra(app: &Application, ep: &Endpoint, trial: Option<Trial>) -> minijinja::Value {
    let mut templates = vec![(String::new(), "None: the code, or the message as published".to_string())];
    templates.extend(Preset::NAMES.split(", ").map(|name| (name.to_string(), name.to_string())));
    page_context! { nav => "apps", app => AppView::from(app), endpoint => EndpointView::from(ep), templates, trial }
}

/// The variables typed, replacing the stored ones; None when left blank (the stored ones are kept).
fn variables(fields: &Fields, errors: &mut FormErrors) -> Option<Map<String, Value>> {
    if fields.get("variables").is_empty() {
        return None;
    }
    fields.pairs("variables", '=').map_err(|line| errors.field("variables", line)).ok()
}

pub async fn edit_form(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> UiResult {
    let (app, ep) = editable_endpoint(&ctx, &session, &app_id, &ep_id).await?;
    let t = ep.transformation.clone().unwrap_or_default();
    // The sample: an event type it receives (or one declared) and that type's example payload.
    let concrete = ep.filter_types.iter().flatten().find(|t| !t.contains('*')).cloned();
    let declared = super::ops::event_type_names(&ctx, &session.org).await?;
    let event_type = concrete.or(declared.into_iter().next()).unwrap_or_else(|| "invoice.paid".to_string());
    let example = crate::api::endpoints::example_payload(&ctx, &session.org, &event_type).await?;
    let values = json!({
        "code": t.code,
        "template": t.template.map(Preset::name),
        // A new transformation runs once saved, as the API's default.
        "enabled": if t.enabled || ep.transformation.is_none() { "true" } else { "" },
        "eventType": event_type,
        "payload": serde_json::to_string_pretty(&example).unwrap_or_default(),
    });
    Ok(form(TEMPLATE, &session, values, extra(&app, &ep, None)))
}

pub async fn save(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let (app, ep) = editable_endpoint(&ctx, &session, &app_id, &ep_id).await?;
    let mut errors = FormErrors::default();
    let mut body = json!({
        "code": fields.text("code"),
        "template": fields.text("template"),
        "enabled": fields.get("enabled") == "true",
    });
    if let Some(vars) = variables(&fields, &mut errors) {
        body["variables"] = Value::Object(vars);
    }
    let path = format!("/api/v1/app/{}/endpoint/{}/transformation", app.id, ep.id);
    match submit(&ctx, &session, Method::PATCH, &path, Some(body), FIELDS, errors).await? {
        Ok(_) => return Ok(done(&format!("/ui/apps/{}/endpoints/{}", app.id, ep.id), "transformation-saved")),
        Err(refusal) => errors = refusal,
    }
    Ok(refused(TEMPLATE, &session, &fields, errors, extra(&app, &ep, None)))
}

/// Runs the code or shape as typed (the stored variables unless others are typed) on the sample, and draws the
/// form again, as typed, with the outcome.
pub async fn try_it(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let (app, ep) = editable_endpoint(&ctx, &session, &app_id, &ep_id).await?;
    let mut errors = FormErrors::default();
    let payload = serde_json::from_str::<Value>(fields.get("payload"))
        .map_err(|e| errors.field("payload", format!("The sample is not JSON: {e}")))
        .ok();
    let mut body = json!({ "eventType": fields.get("eventType"), "payload": payload });
    if let Some(vars) = variables(&fields, &mut errors) {
        body["variables"] = Value::Object(vars);
    }
    let mut trial = Trial::default();
    match (fields.text("code"), fields.text("template")) {
        (None, None) => trial.none = true,
        (code, template) => {
            body["code"] = json!(code);
            body["template"] = json!(template);
        }
    }
    if errors.is_empty() && !trial.none {
        let path = format!("/api/v1/app/{}/endpoint/{}/transformation/simulate", app.id, ep.id);
        match submit(&ctx, &session, Method::POST, &path, Some(body), FIELDS, FormErrors::default()).await? {
            Ok(out) if out["cancel"] == true => trial.cancel = true,
            Ok(out) => {
                trial.method = out["method"].as_str().map(str::to_string);
                trial.url = out["url"].as_str().map(str::to_string);
                trial.result = serde_json::to_string_pretty(&out["payload"]).ok();
            }
            // The handler threw, returned nothing usable or did not compile: the trial's outcome.
            Err(refusal) if refusal.fields.is_empty() => trial.error = Some(refusal.general.join(" ")),
            Err(refusal) => errors = refusal,
        }
    }
    if !errors.is_empty() {
        return Ok(refused(TEMPLATE, &session, &fields, errors, extra(&app, &ep, None)));
    }
    Ok(form(TEMPLATE, &session, fields.values(), extra(&app, &ep, Some(trial))))
}
