//! Registering, editing, disabling and deleting bots, rotating their token and installing them in channels, from
//! the dashboard, through the bots' admin API (`/api/v1/bots…`) called in process ([`super::forms`]). A bot's
//! token and webhook secret are stored hashed: the page answering the form that made one shows it, once.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::forms::{done, form, refused, request, segment, submit, Fields, FormErrors};
use super::pages::page_context;
use super::{render, Session, UiError, UiResult};
use crate::api::console;
use crate::api::ApiContext;
use crate::error::Error;

const FORM: &str = "bot_form.html";
const INSTALL: &str = "bot_install.html";
const SHOWN_ONCE: &str = "bot_secret.html";
/// The form's fields, by the API's names: the bots API's refusals name them (`name: 1 to 80 characters`).
const FIELDS: &[&str] = &[
    "name",
    "description",
    "icon_url",
    "owner_id",
    "owner_type",
    "tier",
    "scopes",
    "webhook_url",
    "webhook_events",
    "slash_commands",
];
const INSTALL_FIELDS: &[&str] = &["channel_id", "permissions", "external"];

/// The API's body for the form. Blank optional fields are left as they are on an edit (the API changes only
/// what it is given); the lists and the description are sent whole, so that emptying them empties them.
fn body_of(fields: &Fields, errors: &mut FormErrors, creating: bool) -> Value {
    let commands = fields.json("slash_commands", errors).or((!creating).then(|| json!([])));
    json!({
        "name": fields.get("name"),
        "description": fields.get("description"),
        "icon_url": fields.text("icon_url"),
        "owner_id": fields.text("owner_id"),
        "owner_type": fields.text("owner_type"),
        "tier": fields.text("tier"),
        "scopes": fields.list("scopes"),
        "webhook_url": fields.text("webhook_url"),
        "webhook_events": fields.list("webhook_events"),
        "slash_commands": commands,
    })
}

/// The bots API says which field it refused at the start of its `detail` (`webhook_url: …`, `body.slash_commands.0:
/// …` for a body of the wrong shape), several joined by `; `: each message goes beside its field. A message that
/// does not start so (a channel not found) stays above the form, whole.
fn placed(mut errors: FormErrors, form_fields: &[&str]) -> FormErrors {
    let field_of = |part: &str| {
        let (loc, msg) = part.split_once(": ")?;
        let path: Vec<&str> = loc.split('.').skip_while(|s| *s == "body").collect();
        let field = (1..=path.len()).rev().map(|n| path[..n].join(".")).find(|f| form_fields.contains(&f.as_str()));
        field.map(|f| (f, msg.to_string()))
    };
    for message in std::mem::take(&mut errors.general) {
        match message.split("; ").map(field_of).collect::<Option<Vec<_>>>() {
            Some(placed) => placed.into_iter().for_each(|(f, msg)| errors.field(&f, msg)),
            None => errors.general.push(message),
        }
    }
    errors
}

/// Calls the bots API as the session's organization, with refusals placed beside their fields.
async fn call(
    ctx: &ApiContext,
    session: &Session,
    method: Method,
    path: &str,
    body: Value,
    form_fields: &[&str],
    errors: FormErrors,
) -> Result<Result<Value, FormErrors>, UiError> {
    Ok(submit(ctx, session, method, path, Some(body), form_fields, errors).await?.map_err(|e| placed(e, form_fields)))
}

/// What the form draws besides the values: the scopes, event types, tiers and owner types the API accepts.
fn extra(ctx: &ApiContext, bot: Option<&Value>) -> minijinja::Value {
    let choices = console::bots(ctx).choices();
    // (value, label) pairs for the selects.
    let pairs = |key: &str| -> Vec<(Value, Value)> {
        choices[key].as_array().into_iter().flatten().map(|v| (v.clone(), v.clone())).collect()
    };
    let (tiers, owner_types) = (pairs("tiers"), pairs("owner_types"));
    page_context! { nav => "bots", choices, tiers, owner_types, bot }
}

/// The bot as the API lists it; 404 naming it for an unknown id or another organization's.
async fn bot_of(ctx: &ApiContext, session: &Session, id: &str) -> Result<Value, UiError> {
    let bots = console::bots(ctx).bots(ctx, &session.org).await?;
    Ok(bots.into_iter().find(|b| b["bot_id"] == id).ok_or_else(|| Error::missing("bot", id))?)
}

fn path_of(bot: &Value, rest: &str) -> String {
    format!("/api/v1/bots/{}{rest}", segment(bot["bot_id"].as_str().unwrap_or_default()))
}

/// The page showing what hookd keeps only hashed (a token, a webhook secret), once.
fn shown_once(session: &Session, bot: &Value, shown: Value, rotated: bool) -> UiResult {
    Ok(render(StatusCode::OK, SHOWN_ONCE, page_context! { nav => "bots", csrf => session.csrf, bot, shown, rotated }))
}

pub async fn new_form(State(ctx): State<ApiContext>, session: Session) -> UiResult {
    let choices = console::bots(&ctx).choices();
    // A new bot gets every event, as the API gives one registered without `webhook_events`.
    let values = json!({ "webhook_events": choices["webhook_events"], "tier": "standard", "owner_type": "user" });
    Ok(form(FORM, &session, values, extra(&ctx, None)))
}

pub async fn create(State(ctx): State<ApiContext>, session: Session, fields: Fields) -> UiResult {
    fields.check_csrf(&session)?;
    let mut errors = FormErrors::default();
    let body = body_of(&fields, &mut errors, true);
    match call(&ctx, &session, Method::POST, "/api/v1/bots", body, FIELDS, errors).await? {
        Ok(bot) => {
            let shown = bot["credentials"].clone();
            return shown_once(&session, &bot, shown, false);
        }
        Err(refusal) => errors = refusal,
    }
    Ok(refused(FORM, &session, &fields, errors, extra(&ctx, None)))
}

pub async fn edit_form(State(ctx): State<ApiContext>, session: Session, Path(id): Path<String>) -> UiResult {
    let bot = bot_of(&ctx, &session, &id).await?;
    let commands = bot["slash_commands"].as_array().filter(|c| !c.is_empty());
    let values = json!({
        "name": bot["name"], "description": bot["description"], "icon_url": bot["icon_url"],
        "owner_id": bot["owner_id"], "owner_type": bot["owner_type"], "tier": bot["tier"],
        "scopes": bot["scopes"], "webhook_url": bot["webhook_url"], "webhook_events": bot["webhook_events"],
        "slash_commands": commands.map(|c| serde_json::to_string_pretty(c).unwrap_or_default()),
    });
    Ok(form(FORM, &session, values, extra(&ctx, Some(&bot))))
}

pub async fn update(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(id): Path<String>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let bot = bot_of(&ctx, &session, &id).await?;
    let mut errors = FormErrors::default();
    let body = body_of(&fields, &mut errors, false);
    match call(&ctx, &session, Method::PATCH, &path_of(&bot, ""), body, FIELDS, errors).await? {
        // A first webhook URL gave the bot a webhook secret: shown this once.
        Ok(saved) if saved["credentials"]["webhook_secret"].is_string() => {
            let shown = json!({ "webhook_secret": saved["credentials"]["webhook_secret"] });
            return shown_once(&session, &saved, shown, false);
        }
        Ok(_) => return Ok(done(&format!("/ui/bots/{id}"), "bot-saved")),
        Err(refusal) => errors = refusal,
    }
    Ok(refused(FORM, &session, &fields, errors, extra(&ctx, Some(&bot))))
}

/// Delete, rotate the token, disable, enable: a button that asks first (most) and posts here.
pub async fn act(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((id, action)): Path<(String, String)>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let bot = bot_of(&ctx, &session, &id).await?;
    let (method, rest, code) = match action.as_str() {
        "delete" => (Method::DELETE, "", "bot-deleted"),
        "rotate-token" => (Method::POST, "/rotate-token", ""),
        "disable" => (Method::POST, "/disable", "bot-disabled"),
        "enable" => (Method::POST, "/enable", "bot-enabled"),
        _ => return Err(Error::not_found().into()),
    };
    let answer = request(&ctx, &session, method, &path_of(&bot, rest)).await?;
    match action.as_str() {
        "delete" => Ok(done("/ui/bots", code)),
        "rotate-token" => shown_once(&session, &bot, answer, true),
        _ => Ok(done(&format!("/ui/bots/{id}"), code)),
    }
}

/// The install form's extra: the organization's channels (the built-in chat's), as suggestions.
async fn install_extra(ctx: &ApiContext, session: &Session, bot: &Value) -> Result<minijinja::Value, UiError> {
    let listed = request(ctx, session, Method::GET, "/api/v1/channels.list").await?;
    let channels = listed["channels"].clone();
    let choices = console::bots(ctx).choices();
    Ok(page_context! { nav => "bots", bot, channels, choices })
}

pub async fn install_form(State(ctx): State<ApiContext>, session: Session, Path(id): Path<String>) -> UiResult {
    let bot = bot_of(&ctx, &session, &id).await?;
    let extra = install_extra(&ctx, &session, &bot).await?;
    Ok(form(INSTALL, &session, json!({}), extra))
}

pub async fn install(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(id): Path<String>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let bot = bot_of(&ctx, &session, &id).await?;
    let body = json!({
        "channel_id": fields.get("channel_id"),
        "permissions": fields.list("permissions"),
        "external": fields.get("external") == "true",
    });
    let errors = match call(
        &ctx,
        &session,
        Method::POST,
        &path_of(&bot, "/install"),
        body,
        INSTALL_FIELDS,
        FormErrors::default(),
    )
    .await?
    {
        Ok(_) => return Ok(done(&format!("/ui/bots/{id}"), "bot-installed")),
        Err(refusal) => refusal,
    };
    let extra = install_extra(&ctx, &session, &bot).await?;
    Ok(refused(INSTALL, &session, &fields, errors, extra))
}

pub async fn uninstall(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((id, channel)): Path<(String, String)>,
    fields: Fields,
) -> UiResult {
    fields.check_csrf(&session)?;
    let bot = bot_of(&ctx, &session, &id).await?;
    let path = path_of(&bot, &format!("/install/{}", segment(&channel)));
    request(&ctx, &session, Method::DELETE, &path).await?;
    Ok(done(&format!("/ui/bots/{id}"), "bot-uninstalled"))
}
