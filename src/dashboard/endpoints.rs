//! Creating, editing and deleting an application's endpoints from the dashboard, through the API
//! ([`super::forms`]), and showing an endpoint's signing secret when asked (never before: a page carries the key
//! only as the answer to the button's POST).

use axum::extract::{Path, State};
use axum::http::Method;
use serde_json::{json, Map, Value};

use super::applications::editable;
use super::forms::{done, form, refused, request, submit, Fields, FormErrors};
use super::ops::event_type_names;
use super::pages::{endpoint_page, page_context, retry_schedule, AppView, EndpointView};
use super::{Session, UiError, UiResult};
use crate::api::{load_endpoint, ApiContext};
use crate::engine::model::{Application, Endpoint};
use crate::engine::signing::HmacScheme;

const TEMPLATE: &str = "endpoint_form.html";
/// The form's fields, by the API's names, so that a 422's `loc` finds them. The event types are ticked
/// (`eventTypes`) or typed (`eventTypesOther`: patterns and types not declared); the API's message about either
/// is shown beside both.
const FIELDS: &[&str] = &[
    "url",
    "description",
    "uid",
    "eventTypes",
    "channels",
    "throttleRate",
    "headers",
    "disabled",
    "retrySchedule",
    "signature",
    "metadata",
    "secret",
    "filter",
];
/// The seeds' `sha256=` schemes an endpoint may be signed with beside Standard Webhooks ([`HmacScheme::preset`]).
const SIGNATURES: &[(&str, &str)] = &[
    ("", "Standard Webhooks only"),
    ("tms", "also TMS (X-TMS-Signature)"),
    ("minoots", "also MINOOTS (x-minoots-signature)"),
    ("chat", "also the chat platform's (X-Webhook-Signature)"),
];
/// The signature choice of an endpoint whose scheme was written out through the API: kept as it is.
const CUSTOM: &str = "custom";

/// The API's body for the form. An edit sends every field, blank ones as `null`, so that clearing one clears it.
fn body_of(fields: &Fields, errors: &mut FormErrors, creating: bool) -> Value {
    let mut pairs = |name: &str, sep: char| {
        fields.pairs(name, sep).unwrap_or_else(|line| {
            errors.field(name, line);
            Map::new()
        })
    };
    let (headers, metadata) = (pairs("headers", ':'), pairs("metadata", '='));
    let mut event_types = fields.list("eventTypes");
    for typed in fields.list("eventTypesOther") {
        if !event_types.contains(&typed) {
            event_types.push(typed);
        }
    }
    let some = |items: Vec<String>| (!items.is_empty()).then_some(items);
    let mut body = json!({
        "url": fields.get("url"),
        "description": fields.get("description"),
        "uid": fields.text("uid"),
        "eventTypes": some(event_types),
        "channels": some(fields.list("channels")),
        "throttleRate": fields.number("throttleRate", errors),
        "headers": headers,
        "disabled": fields.get("disabled") == "true",
        "retrySchedule": some(fields.list("retrySchedule")),
        "metadata": metadata,
        "filter": fields.json("filter", errors),
    });
    match fields.get("signature") {
        CUSTOM => {}
        "" => body["signature"] = Value::Null,
        preset => body["signature"] = json!({ "preset": preset }),
    }
    if creating {
        body["secret"] = json!(fields.text("secret"));
    }
    body
}

/// What the form shows for a stored endpoint: ticked the organization's event types it subscribes to, typed the
/// rest.
fn values_of(ep: &Endpoint, declared: &[String]) -> Value {
    let (ticked, typed): (Vec<String>, Vec<String>) =
        ep.filter_types.iter().flatten().cloned().partition(|t| declared.contains(t));
    let lines = |pairs: Vec<String>| pairs.join("\n");
    json!({
        "url": ep.url,
        "description": ep.description,
        "uid": ep.uid,
        "eventTypes": ticked,
        "eventTypesOther": typed.join(", "),
        "channels": ep.channels.as_ref().map(|c| c.join(", ")),
        "throttleRate": ep.throttle_rate,
        "headers": lines(ep.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect()),
        "disabled": if ep.disabled { "true" } else { "" },
        "retrySchedule": retry_schedule(ep).map(|s| s.join(", ")),
        "signature": signature_choice(ep),
        "metadata": lines(ep.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        "filter": ep.filter.as_ref().map(|f| serde_json::to_string_pretty(f.as_json()).unwrap_or_default()),
    })
}

/// The signature choice that stands for the endpoint's scheme: none, a preset's name, or its own.
fn signature_choice(ep: &Endpoint) -> &'static str {
    let Some(scheme) = &ep.signature else { return "" };
    let preset =
        SIGNATURES.iter().map(|(name, _)| *name).find(|name| HmacScheme::preset(name).as_ref() == Some(scheme));
    preset.unwrap_or(CUSTOM)
}

/// What the form page shows besides the fields: where it is, and the choices it offers (`event_types`: the
/// organization's, to tick).
fn context(app: &Application, ep: Option<&Endpoint>, event_types: Vec<String>) -> minijinja::Value {
    let custom = ep.is_some_and(|e| signature_choice(e) == CUSTOM);
    let mut signatures: Vec<(&str, &str)> = SIGNATURES.to_vec();
    if custom {
        signatures.push((CUSTOM, "its own scheme, as set through the API (kept)"));
    }
    page_context! { nav => "apps", app => AppView::from(app), endpoint => ep.map(EndpointView::from), event_types,
    signatures }
}

pub async fn new_form(State(ctx): State<ApiContext>, session: Session, Path(app_id): Path<String>) -> UiResult {
    let app = editable(&ctx, &session, &app_id).await?;
    let extra = context(&app, None, event_type_names(&ctx, &session.org).await?);
    Ok(form(TEMPLATE, &session, json!({}), extra))
}

pub async fn create(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(app_id): Path<String>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let app = editable(&ctx, &session, &app_id).await?;
    let mut errors = FormErrors::default();
    let body = body_of(&fields, &mut errors, true);
    let path = format!("/api/v1/app/{}/endpoint", app.id);
    match submit(&ctx, &session, Method::POST, &path, Some(body), FIELDS, errors).await? {
        Ok(ep) => {
            let ep_id = ep["id"].as_str().unwrap_or_default();
            return Ok(done(&format!("/ui/apps/{}/endpoints/{ep_id}", app.id), "endpoint-created"));
        }
        Err(refusal) => errors = refusal,
    }
    let extra = context(&app, None, event_type_names(&ctx, &session.org).await?);
    Ok(refused(TEMPLATE, &session, &fields, errors, extra))
}

pub async fn edit_form(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> UiResult {
    let (app, ep) = editable_endpoint(&ctx, &session, &app_id, &ep_id).await?;
    let declared = event_type_names(&ctx, &session.org).await?;
    let values = values_of(&ep, &declared);
    Ok(form(TEMPLATE, &session, values, context(&app, Some(&ep), declared)))
}

pub async fn update(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let (app, ep) = editable_endpoint(&ctx, &session, &app_id, &ep_id).await?;
    let mut errors = FormErrors::default();
    let body = body_of(&fields, &mut errors, false);
    let path = format!("/api/v1/app/{}/endpoint/{}", app.id, ep.id);
    match submit(&ctx, &session, Method::PATCH, &path, Some(body), FIELDS, errors).await? {
        Ok(_) => return Ok(done(&format!("/ui/apps/{}/endpoints/{}", app.id, ep.id), "endpoint-saved")),
        Err(refusal) => errors = refusal,
    }
    let extra = context(&app, Some(&ep), event_type_names(&ctx, &session.org).await?);
    Ok(refused(TEMPLATE, &session, &fields, errors, extra))
}

pub async fn delete(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let (app, ep) = editable_endpoint(&ctx, &session, &app_id, &ep_id).await?;
    let path = format!("/api/v1/app/{}/endpoint/{}", app.id, ep.id);
    request(&ctx, &session, Method::DELETE, &path).await?;
    Ok(done(&format!("/ui/apps/{}", app.id), "endpoint-deleted"))
}

/// The endpoint's page with its current signing key shown (as `GET …/secret` answers it), to copy.
pub async fn reveal_secret(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let (app, ep) = editable_endpoint(&ctx, &session, &app_id, &ep_id).await?;
    let path = format!("/api/v1/app/{}/endpoint/{}/secret", app.id, ep.id);
    let secret = request(&ctx, &session, Method::GET, &path).await?;
    let key = secret["key"].as_str().map(str::to_string);
    endpoint_page(&ctx, &session, &app.id, &ep.id, Default::default(), key).await
}

/// The endpoint of one of the user's applications (hookd's own change through their faces only: 403).
pub(super) async fn editable_endpoint(
    ctx: &ApiContext,
    session: &Session,
    app_id: &str,
    ep_id: &str,
) -> Result<(Application, Endpoint), UiError> {
    let app = editable(ctx, session, app_id).await?;
    let ep = load_endpoint(ctx, &app, ep_id).await?;
    Ok((app, ep))
}
