//! Creating, editing and deleting inbound registrations and rotating their secret from the dashboard, through
//! the inbound API (`POST /integrations/{provider}/webhooks`, `PATCH|DELETE /webhooks/{id}`,
//! `POST /webhooks/{id}/rotate-secret`) called in process ([`super::forms`]). A secret is shown once, on the
//! page that answers the form that made it: hookd keeps it sealed and shows it nowhere else.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::forms::{done, form, refused, request, segment, submit, Fields, FormErrors};
use super::pages::page_context;
use super::{render, Session, UiError, UiResult};
use crate::api::console;
use crate::api::ApiContext;

const FORM: &str = "inbound_form.html";
const ROTATE: &str = "inbound_rotate.html";
/// The form's fields, by the API's names, so that a 422's `loc` finds them.
const FIELDS: &[&str] = &[
    "integrationId",
    "connectionId",
    "events",
    "webhookSecret",
    "config",
    "destination.appId",
    "status",
    "rateLimitPerMinute",
    "providerConfig",
    "metadata",
    "retryPolicy.maxRetries",
    "retryPolicy.backoffSeconds",
    "transformation.template",
    "transformation.code",
    "transformation.variables",
];
/// The fields drawn folded away ("More settings") unless one holds something.
const MORE: &[&str] = &[
    "providerConfig",
    "metadata",
    "retryPolicy.maxRetries",
    "retryPolicy.backoffSeconds",
    "transformation.template",
    "transformation.code",
    "transformation.variables",
];
/// The ready-made shapes a registration's transformation offers (the API's `transformation.template`).
const SHAPES: &[(&str, &str)] = &[
    ("", "None"),
    ("slack", "Slack message"),
    ("discord", "Discord message"),
    ("teams", "Microsoft Teams card"),
    ("github-dispatch", "GitHub repository dispatch"),
    ("gitlab-trigger", "GitLab pipeline trigger"),
];
const ROTATE_FIELDS: &[&str] = &["webhookSecret", "gracePeriodSeconds"];

/// The API's body for the form. Creating sends what only creation takes (the connection, the secret, the retry
/// policy); an edit sends its status and every field it shows, blank ones cleared.
fn body_of(fields: &Fields, errors: &mut FormErrors, creating: bool) -> Value {
    let mut body = json!({
        "events": fields.list("events"),
        "destination": fields.text("destination.appId").map(|app| json!({ "appId": app })),
        "rateLimitPerMinute": fields.number("rateLimitPerMinute", errors),
        "providerConfig": fields.json("providerConfig", errors).unwrap_or_else(|| json!({})),
        // A queue source's broker: blank keeps it (the API shows it masked, so it is never drawn back).
        "config": fields.json("config", errors),
        "metadata": fields.json("metadata", errors).or((!creating).then(|| json!({}))),
        "transformation": transformation(fields, errors),
    });
    if creating {
        body["connectionId"] = json!(fields.get("connectionId"));
        body["webhookSecret"] = json!(fields.text("webhookSecret"));
        let mut retry = Map::new();
        for (name, key) in [("retryPolicy.maxRetries", "maxRetries"), ("retryPolicy.backoffSeconds", "backoffSeconds")]
        {
            if let Some(n) = fields.number(name, errors) {
                retry.insert(key.into(), n.into());
            }
        }
        body["retryPolicy"] = if retry.is_empty() { Value::Null } else { Value::Object(retry) };
    } else {
        body["status"] = json!(fields.get("status"));
    }
    body
}

/// The registration's transformation: ready-made or code, or none (`null`, which an edit takes as "remove it").
fn transformation(fields: &Fields, errors: &mut FormErrors) -> Value {
    let (code, template) = (fields.text("transformation.code"), fields.text("transformation.template"));
    if code.is_none() && template.is_none() {
        return Value::Null;
    }
    let variables = fields.pairs("transformation.variables", '=').unwrap_or_else(|line| {
        errors.field("transformation.variables", line);
        Map::new()
    });
    json!({ "code": code, "template": template, "variables": variables })
}

/// What the form draws besides the values: the providers, the applications to forward to, whether "More
/// settings" is open.
async fn extra(
    ctx: &ApiContext,
    session: &Session,
    values: &Value,
    errors: &FormErrors,
    reg: Option<&Value>,
) -> Result<minijinja::Value, UiError> {
    let providers = console::inbound(ctx).providers();
    let listed = request(ctx, session, Method::GET, "/api/v1/app?limit=250").await?;
    let mut apps: Vec<(String, String)> = vec![(String::new(), "Nowhere: keep the events only".into())];
    for a in listed["data"].as_array().into_iter().flatten() {
        let id = a["id"].as_str().unwrap_or_default();
        let name = a["name"].as_str().unwrap_or_default();
        apps.push((id.to_string(), format!("{name} ({})", a["uid"].as_str().unwrap_or(id))));
    }
    // An organization with more applications than one page lists: the current destination stays a choice.
    if let Some(current) = values["destination.appId"].as_str().filter(|c| !c.is_empty()) {
        if !apps.iter().any(|(id, _)| id == current) {
            apps.push((current.to_string(), current.to_string()));
        }
    }
    let more_open = MORE
        .iter()
        .any(|f| errors.fields.contains_key(*f) || values[*f].as_str().is_some_and(|v| !v.trim().is_empty()));
    let provider = reg.and_then(|r| providers.iter().find(|p| p["integrationId"] == r["integrationId"]).cloned());
    let mut statuses = vec![
        ("active".to_string(), "Active".to_string()),
        ("inactive".into(), "Inactive: requests to its URL are refused (404)".into()),
    ];
    // `failed` or `pending_verification`, which hookd or the API set: kept unless changed.
    if let Some(other) = values["status"].as_str().filter(|s| !["active", "inactive"].contains(s)) {
        statuses.push((other.to_string(), other.replace('_', " ")));
    }
    Ok(page_context! { nav => "inbound", providers, apps, more_open, reg, provider, statuses, shapes => SHAPES })
}

pub async fn new_form(State(ctx): State<ApiContext>, session: Session) -> UiResult {
    let values = json!({ "events": "*" });
    let extra = extra(&ctx, &session, &values, &FormErrors::default(), None).await?;
    Ok(form(FORM, &session, values, extra))
}

pub async fn create(State(ctx): State<ApiContext>, session: Session, fields: Fields) -> UiResult {
    fields.check_csrf(&session)?;
    let mut errors = FormErrors::default();
    let body = body_of(&fields, &mut errors, true);
    let provider = fields.get("integrationId").to_string();
    if provider.is_empty() {
        errors.field("integrationId", "Pick the provider that will send the webhooks.");
    }
    let path = format!("/integrations/{}/webhooks", segment(&provider));
    match submit(&ctx, &session, Method::POST, &path, Some(body), FIELDS, errors).await? {
        Ok(created) => return created_page(&ctx, &session, &provider, &created, false),
        Err(refusal) => errors = refusal,
    }
    // The provider is a path parameter: its 422 says `path.integrationId`.
    if let Some(msg) = errors.general.iter().position(|m| m.starts_with("path.integrationId: ")) {
        let msg = errors.general.remove(msg);
        errors.field("integrationId", msg.trim_start_matches("path.integrationId: "));
    }
    let values = json!(fields.values());
    let extra = extra(&ctx, &session, &values, &errors, None).await?;
    Ok(refused(FORM, &session, &fields, errors, extra))
}

/// The URL to give the provider and the secret, shown this once (after creating, or rotating).
fn created_page(ctx: &ApiContext, session: &Session, provider: &str, answer: &Value, rotated: bool) -> UiResult {
    let about = console::inbound(ctx).providers().into_iter().find(|p| p["integrationId"] == provider);
    Ok(render(
        StatusCode::OK,
        "inbound_secret.html",
        page_context! { nav => "inbound", csrf => session.csrf, answer, about, rotated },
    ))
}

/// The registration as the API shows it; 404 for an unknown id or another organization's.
async fn registration(ctx: &ApiContext, session: &Session, id: &str) -> Result<Value, UiError> {
    Ok(console::inbound(ctx).registration(ctx, &session.org, id).await?)
}

/// What the edit form holds: the registration's fields by the form's names. The API shows the rate in force;
/// the server's default is left blank, so that saving does not pin it.
fn values_of(reg: &Value, default_rate: u32) -> Value {
    let events: Vec<&str> = reg["events"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let pretty = |v: &Value| match v {
        Value::Null => String::new(),
        Value::Object(m) if m.is_empty() => String::new(),
        v => serde_json::to_string_pretty(v).unwrap_or_default(),
    };
    let t = &reg["transformation"];
    let variables: Vec<String> = t["variables"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    json!({
        "events": events.join(", "),
        "destination.appId": reg["destination"]["appId"],
        "status": reg["status"],
        "rateLimitPerMinute": reg["rateLimitPerMinute"].as_u64().filter(|r| *r != u64::from(default_rate)),
        "providerConfig": pretty(&reg["providerConfig"]),
        "metadata": pretty(&reg["metadata"]),
        "transformation.template": t["template"],
        "transformation.code": t["code"],
        "transformation.variables": variables.join("\n"),
    })
}

pub async fn edit_form(State(ctx): State<ApiContext>, session: Session, Path(id): Path<String>) -> UiResult {
    let reg = registration(&ctx, &session, &id).await?;
    let values = values_of(&reg, ctx.cfg.inbound_rate_per_minute);
    let extra = extra(&ctx, &session, &values, &FormErrors::default(), Some(&reg)).await?;
    Ok(form(FORM, &session, values, extra))
}

pub async fn update(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(id): Path<String>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let reg = registration(&ctx, &session, &id).await?;
    let reg_id = reg["id"].as_str().unwrap_or_default();
    let mut errors = FormErrors::default();
    let body = body_of(&fields, &mut errors, false);
    let path = format!("/webhooks/{}", segment(reg_id));
    match submit(&ctx, &session, Method::PATCH, &path, Some(body), FIELDS, errors).await? {
        Ok(_) => return Ok(done(&format!("/ui/inbound/{reg_id}"), "inbound-saved")),
        Err(refusal) => errors = refusal,
    }
    let values = json!(fields.values());
    let extra = extra(&ctx, &session, &values, &errors, Some(&reg)).await?;
    Ok(refused(FORM, &session, &fields, errors, extra))
}

pub async fn delete(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(id): Path<String>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let reg = registration(&ctx, &session, &id).await?;
    let path = format!("/webhooks/{}", segment(reg["id"].as_str().unwrap_or_default()));
    request(&ctx, &session, Method::DELETE, &path).await?;
    Ok(done("/ui/inbound", "inbound-deleted"))
}

pub async fn rotate_form(State(ctx): State<ApiContext>, session: Session, Path(id): Path<String>) -> UiResult {
    let reg = registration(&ctx, &session, &id).await?;
    let values = json!({ "gracePeriodSeconds": "86400" });
    Ok(form(ROTATE, &session, values, page_context! { nav => "inbound", reg }))
}

pub async fn rotate(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(id): Path<String>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let reg = registration(&ctx, &session, &id).await?;
    let reg_id = reg["id"].as_str().unwrap_or_default();
    let mut errors = FormErrors::default();
    let body = json!({
        "webhookSecret": fields.text("webhookSecret"),
        "gracePeriodSeconds": fields.number("gracePeriodSeconds", &mut errors),
    });
    let path = format!("/webhooks/{}/rotate-secret", segment(reg_id));
    match submit(&ctx, &session, Method::POST, &path, Some(body), ROTATE_FIELDS, errors).await? {
        Ok(mut answer) => {
            answer["webhookUrl"] = reg["webhookUrl"].clone();
            answer["registrationId"] = reg["id"].clone();
            return created_page(&ctx, &session, reg["integrationId"].as_str().unwrap_or_default(), &answer, true);
        }
        Err(refusal) => errors = refusal,
    }
    Ok(refused(ROTATE, &session, &fields, errors, page_context! { nav => "inbound", reg }))
}
