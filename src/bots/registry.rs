//! The admin API: registering bots (each with its engine application and endpoint, its user and its
//! credentials), their status, token rotation, channel installation; chat users; and events published by an
//! outside chat platform that uses hookd as its bot gateway.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::deliver::{self, Audience, Event};
use super::model::{self, Bot, ChatUser, Install, SlashCommand};
use super::{ok, public, state, Actor, Body, BotFailure, Fail, Reply};
use crate::api::time::ts;
use crate::api::validate::check_ident;
use crate::api::ApiContext;
use crate::engine::model::{Application, Endpoint, EndpointSecret};
use crate::engine::signing::{self, HmacScheme};
use crate::store::{now_ms, StoreError};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BotIn {
    name: Option<String>,
    description: Option<String>,
    icon_url: Option<String>,
    owner_id: Option<String>,
    owner_type: Option<String>,
    scopes: Option<Vec<String>>,
    webhook_url: Option<String>,
    webhook_events: Option<Vec<String>>,
    slash_commands: Option<Vec<SlashCommand>>,
    tier: Option<String>,
}

impl BotIn {
    async fn check(&self, ctx: &ApiContext) -> Result<(), Fail> {
        if let Some(name) = &self.name {
            if name.trim().is_empty() || name.len() > 80 {
                return Err(Fail::invalid("name: 1 to 80 characters"));
            }
        }
        if let Some(s) = self.scopes.iter().flatten().find(|s| !model::SCOPES.contains(&s.as_str())) {
            return Err(Fail::invalid(format!("scopes: unknown scope {s}")));
        }
        if let Some(t) = self.webhook_events.iter().flatten().find(|t| !model::EVENT_TYPES.contains(&t.as_str())) {
            return Err(Fail::invalid(format!("webhook_events: unknown event type {t}")));
        }
        if let Some(url) = &self.webhook_url {
            ctx.engine.egress.check_destination(url).await.map_err(|e| Fail::invalid(format!("webhook_url: {e}")))?;
        }
        if let Some(tier) = &self.tier {
            if !model::TIERS.contains(&tier.as_str()) {
                return Err(Fail::invalid("tier: free, standard or enterprise"));
            }
        }
        if let Some(t) = &self.owner_type {
            if !model::OWNER_TYPES.contains(&t.as_str()) {
                return Err(Fail::invalid("owner_type: user, team or organization"));
            }
        }
        let mut names = std::collections::HashSet::new();
        for c in self.slash_commands.iter().flatten() {
            let name_ok = !c.command.is_empty()
                && c.command.len() <= 32
                && c.command.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            if !name_ok || !names.insert(c.command.to_ascii_lowercase()) {
                return Err(Fail::invalid(format!("slash_commands: bad or repeated command name {:?}", c.command)));
            }
            for o in &c.options {
                if !["string", "number", "integer", "boolean", "user", "channel"].contains(&o.kind.as_str()) {
                    return Err(Fail::invalid(format!(
                        "slash_commands: option {} has unknown type {}",
                        o.name, o.kind
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The top-level fields of [`view`], for the OpenAPI document.
const BOT: &str = "`{bot_id, app_id, name, description, icon_url, owner_id, owner_type, bot_user_id, scopes, \
    webhook_url, webhook_events, slash_commands, tier, status, installed_channels, installations, credentials, \
    created_at, updated_at}`";

/// The bot as the API shows it; `secrets` adds the token and webhook secret, shown only when made.
fn view(ctx: &ApiContext, b: &Bot, secrets: Option<(&str, &str)>) -> Value {
    let mut credentials =
        json!({ "incoming_webhook_url": public(ctx, &format!("/hooks/{}", b.incoming_webhook_token)) });
    if let Some((token, secret)) = secrets {
        credentials["bot_token"] = json!(token);
        credentials["webhook_secret"] = json!(secret);
    }
    json!({
        "bot_id": b.id, "app_id": b.app_id, "name": b.name, "description": b.description, "icon_url": b.icon_url,
        "owner_id": b.owner_id, "owner_type": b.owner_type, "bot_user_id": b.bot_user_id,
        "scopes": b.scopes, "webhook_url": b.webhook_url, "webhook_events": b.webhook_events,
        "slash_commands": b.slash_commands, "tier": b.tier, "status": b.status,
        "installed_channels": b.installed_channels.iter().map(|i| &i.channel_id).collect::<Vec<_>>(),
        "installations": b.installed_channels.iter().map(|i| json!({
            "channel_id": i.channel_id, "permissions": i.permissions, "installed_at": ts(i.installed_at),
        })).collect::<Vec<_>>(),
        "credentials": credentials,
        "created_at": ts(b.created_at), "updated_at": ts(b.updated_at),
    })
}

/// `CI/CD Bot` → `cicd-bot`.
fn username_of(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if (c == ' ' || c == '-' || c == '_') && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "bot".into()
    } else {
        out
    }
}

fn new_bot_token(bot_id: &str) -> String {
    // Any id may come in from the path (schemathesis sent one shorter than the prefix, which panicked).
    format!("xbot-{}{}", bot_id.strip_prefix(crate::ids::BOT).unwrap_or(bot_id), crate::ids::random_token(32))
}

fn bot_endpoint(ctx: &ApiContext, b: &Bot, url: &str, secret: String) -> Endpoint {
    Endpoint {
        id: crate::ids::new(crate::ids::EP),
        org_id: b.org_id.clone(),
        app_id: b.app_id.clone(),
        uid: None,
        url: url.to_string(),
        description: format!("webhooks of bot {}", b.name),
        filter_types: None,
        channels: None,
        disabled: false,
        metadata: [(crate::engine::ON_RESPONSE.to_string(), "bot".to_string())].into(),
        headers: [
            ("X-Bot-ID".to_string(), b.id.clone()),
            ("User-Agent".to_string(), "ChatPlatform-Webhook/1.0".to_string()),
        ]
        .into(),
        secrets: vec![EndpointSecret { key: secret, expires_at: None }],
        throttle_rate: None,
        signature: HmacScheme::preset("chat"),
        retry_schedule: Some(ctx.cfg.bot_retry_schedule.iter().map(|d| d.as_millis() as u64).collect()),
        filter: None,
        transformation: None,
        created_at: b.created_at,
        updated_at: b.created_at,
    }
}

/// Registers a bot: its user, its engine application and (with `webhook_url`) its signed endpoint.
#[utoipa::path(
    post, path = "/api/v1/bots", operation_id = "bots.create", tag = "Bots", request_body = BotIn,
    responses(
        (status = 201, body = Value, description = format!(
            "The bot, {BOT}, with its `credentials.bot_token` and `credentials.webhook_secret` shown this once, \
            and its user's `username`"
        )),
        BotFailure,
    ),
)]
async fn create(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>, Body(input): Body<BotIn>) -> Reply {
    let org = actor.admin()?.to_string();
    input.check(&ctx).await?;
    let name = input.name.clone().ok_or_else(|| Fail::invalid("name: required"))?;
    let now = now_ms();
    let bot_id = crate::ids::new(crate::ids::BOT);
    let app = Application::new(org.clone(), Some(bot_id.clone()), format!("bot: {name}"));
    // The bot's user, under the first free username made from its name.
    let base = username_of(&name);
    let mut user = ChatUser {
        id: crate::ids::new(crate::ids::BOT_USER),
        org_id: org.clone(),
        username: base.clone(),
        display_name: name.clone(),
        is_bot: true,
        bot_id: Some(bot_id.clone()),
        token_hash: None,
        created_at: now,
    };
    for n in 2.. {
        match ctx.store.insert(&user).await {
            Ok(()) => break,
            Err(StoreError::Conflict(_)) if n < 100 => user.username = format!("{base}-{n}"),
            Err(e) => return Err(e.into()),
        }
    }
    let token = new_bot_token(&bot_id);
    let secret = signing::new_secret();
    let mut bot = Bot {
        id: bot_id.clone(),
        org_id: org.clone(),
        app_id: app.id.clone(),
        endpoint_id: None,
        name,
        description: input.description.unwrap_or_default(),
        icon_url: input.icon_url,
        owner_id: input.owner_id,
        owner_type: input.owner_type.unwrap_or_else(|| "user".into()),
        bot_user_id: user.id.clone(),
        bot_token_hash: model::hash(&token),
        previous_token_hash: None,
        previous_token_valid_until: None,
        webhook_secret_hash: model::hash(&secret),
        incoming_webhook_token: format!("inc_{}{}", &bot_id[crate::ids::BOT.len()..], crate::ids::random_token(24)),
        scopes: input.scopes.unwrap_or_default(),
        webhook_url: input.webhook_url.clone(),
        webhook_events: input
            .webhook_events
            .unwrap_or_else(|| model::EVENT_TYPES.iter().map(|t| t.to_string()).collect()),
        slash_commands: input.slash_commands.unwrap_or_default(),
        tier: input.tier.unwrap_or_else(|| "standard".into()),
        status: "active".into(),
        installed_channels: vec![],
        created_at: now,
        updated_at: now,
    };
    ctx.store.insert(&app).await?;
    // The endpoint keeps the secret (it signs with it); the bot record keeps its hash, as the seed's schema does.
    if let Some(url) = &input.webhook_url {
        let ep = bot_endpoint(&ctx, &bot, url, secret.clone());
        bot.endpoint_id = Some(ep.id.clone());
        ctx.store.insert(&ep).await?;
    }
    ctx.store.insert(&bot).await?;
    ctx.engine.invalidate(&app.id);
    state(&ctx).changed(&org);
    let mut body = view(&ctx, &bot, Some((&token, &secret)));
    body["username"] = json!(user.username);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn load(ctx: &ApiContext, actor: &Actor, bot_id: &str) -> Result<Bot, Fail> {
    let org = actor.admin()?;
    ctx.store.get::<Bot>(org, "", bot_id).await?.ok_or_else(|| Fail::not_found("bot_not_found"))
}

/// The organization's bots.
#[utoipa::path(
    get, path = "/api/v1/bots", operation_id = "bots.list", tag = "Bots",
    responses(
        (status = 200, description = "`{ok, bots}`", body = Value),
        BotFailure,
    ),
)]
async fn list(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>) -> Reply {
    let org = actor.admin()?;
    let bots = state(&ctx).of_org(&ctx, org).await?;
    ok(json!({ "ok": true, "bots": bots.iter().map(|b| view(&ctx, b, None)).collect::<Vec<_>>() }))
}

/// One bot, without its secrets.
#[utoipa::path(
    get, path = "/api/v1/bots/{bot_id}", operation_id = "bots.get", tag = "Bots",
    params(("bot_id" = String, Path, description = "The bot")),
    responses(
        (status = 200, description = format!("The bot, {BOT}"), body = Value),
        BotFailure,
    ),
)]
async fn get_one(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>, Path(id): Path<String>) -> Reply {
    let bot = load(&ctx, &actor, &id).await?;
    ok(view(&ctx, &bot, None))
}

/// Applies `change` to the stored bot at once (no change lost to another at the same moment).
async fn change(
    ctx: &ApiContext,
    org: &str,
    id: &str,
    change: impl FnOnce(&mut Bot) -> crate::store::StoreResult<()> + Send + 'static,
) -> Result<Bot, Fail> {
    let bot = ctx.store.modify::<Bot>(org, id, change).await?.ok_or_else(|| Fail::not_found("bot_not_found"))?;
    state(ctx).changed(org);
    Ok(bot)
}

/// Changes the fields given; a first `webhook_url` gives the bot its endpoint and a webhook secret.
#[utoipa::path(
    patch, path = "/api/v1/bots/{bot_id}", operation_id = "bots.update", tag = "Bots",
    params(("bot_id" = String, Path, description = "The bot")), request_body = BotIn,
    responses(
        (status = 200, body = Value, description = format!(
            "The bot, {BOT}; with `credentials.webhook_secret` when this gave it its first webhook"
        )),
        BotFailure,
    ),
)]
async fn update(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Body(input): Body<BotIn>,
) -> Reply {
    let bot = load(&ctx, &actor, &id).await?;
    input.check(&ctx).await?;
    let mut new_secret = None;
    if let Some(url) = &input.webhook_url {
        match &bot.endpoint_id {
            Some(ep_id) => {
                let mut ep = ctx
                    .store
                    .get::<Endpoint>(&bot.org_id, &bot.app_id, ep_id)
                    .await?
                    .ok_or_else(|| Fail::not_found("endpoint_not_found"))?;
                ep.url = url.clone();
                ep.updated_at = now_ms();
                ctx.store.update(&ep).await?;
            }
            None => {
                // A bot registered without a webhook gets one now, with a fresh secret (shown in this answer).
                let secret = signing::new_secret();
                let ep = bot_endpoint(&ctx, &bot, url, secret.clone());
                ctx.store.insert(&ep).await?;
                let (ep_id, hash) = (Some(ep.id), model::hash(&secret));
                change(&ctx, &bot.org_id, &bot.id, move |b| {
                    b.endpoint_id = ep_id;
                    b.webhook_secret_hash = hash;
                    Ok(())
                })
                .await?;
                new_secret = Some(secret);
            }
        }
        ctx.engine.invalidate(&bot.app_id);
    }
    let bot = change(&ctx, &bot.org_id, &bot.id, move |b| {
        if let Some(v) = input.name {
            b.name = v;
        }
        if let Some(v) = input.description {
            b.description = v;
        }
        if input.icon_url.is_some() {
            b.icon_url = input.icon_url;
        }
        if input.owner_id.is_some() {
            b.owner_id = input.owner_id;
        }
        if let Some(v) = input.owner_type {
            b.owner_type = v;
        }
        if let Some(v) = input.scopes {
            b.scopes = v;
        }
        if input.webhook_url.is_some() {
            b.webhook_url = input.webhook_url;
        }
        if let Some(v) = input.webhook_events {
            b.webhook_events = v;
        }
        if let Some(v) = input.slash_commands {
            b.slash_commands = v;
        }
        if let Some(v) = input.tier {
            b.tier = v;
        }
        b.updated_at = now_ms();
        Ok(())
    })
    .await?;
    let mut out = view(&ctx, &bot, None);
    if let Some(secret) = new_secret {
        out["credentials"]["webhook_secret"] = json!(secret);
    }
    ok(out)
}

async fn set_status(ctx: &ApiContext, actor: &Actor, id: &str, status: &'static str) -> Reply {
    let org = actor.admin()?;
    let bot = change(ctx, org, id, move |b| {
        b.status = status.into();
        b.updated_at = now_ms();
        Ok(())
    })
    .await?;
    ok(view(ctx, &bot, None))
}

/// Disables the bot: its tokens are refused and it gets no events until enabled.
#[utoipa::path(
    post, path = "/api/v1/bots/{bot_id}/disable", operation_id = "bots.disable", tag = "Bots",
    params(("bot_id" = String, Path, description = "The bot")),
    responses(
        (status = 200, description = format!("The bot, {BOT}, with `status` `disabled`"), body = Value),
        BotFailure,
    ),
)]
async fn disable(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>, Path(id): Path<String>) -> Reply {
    set_status(&ctx, &actor, &id, "disabled").await
}

/// Suspends the bot: as disabled (tokens refused, no events), but shown as `suspended`.
#[utoipa::path(
    post, path = "/api/v1/bots/{bot_id}/suspend", operation_id = "bots.suspend", tag = "Bots",
    params(("bot_id" = String, Path, description = "The bot")),
    responses(
        (status = 200, description = format!("The bot, {BOT}, with `status` `suspended`"), body = Value),
        BotFailure,
    ),
)]
async fn suspend(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>, Path(id): Path<String>) -> Reply {
    set_status(&ctx, &actor, &id, "suspended").await
}

/// Makes the bot active again.
#[utoipa::path(
    post, path = "/api/v1/bots/{bot_id}/enable", operation_id = "bots.enable", tag = "Bots",
    params(("bot_id" = String, Path, description = "The bot")),
    responses(
        (status = 200, description = format!("The bot, {BOT}, with `status` `active`"), body = Value),
        BotFailure,
    ),
)]
async fn enable(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>, Path(id): Path<String>) -> Reply {
    set_status(&ctx, &actor, &id, "active").await
}

/// Deletes the bot, its user and its engine application.
#[utoipa::path(
    delete, path = "/api/v1/bots/{bot_id}", operation_id = "bots.delete", tag = "Bots",
    params(("bot_id" = String, Path, description = "The bot")),
    responses(
        (status = 200, description = "`{ok}`", body = Value),
        BotFailure,
    ),
)]
async fn remove(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>, Path(id): Path<String>) -> Reply {
    let bot = load(&ctx, &actor, &id).await?;
    ctx.store.delete::<Application>(&bot.org_id, &bot.app_id).await?;
    ctx.store.delete::<ChatUser>(&bot.org_id, &bot.bot_user_id).await?;
    ctx.store.delete::<Bot>(&bot.org_id, &bot.id).await?;
    ctx.engine.invalidate(&bot.app_id);
    state(&ctx).changed(&bot.org_id);
    ok(json!({ "ok": true }))
}

/// A new token; the old one keeps working for the grace period (the seed's hour), then never again.
#[utoipa::path(
    post, path = "/api/v1/bots/{bot_id}/rotate-token", operation_id = "bots.rotateToken", tag = "Bots",
    params(("bot_id" = String, Path, description = "The bot")),
    responses(
        (status = 200, description = "`{ok, bot_token, previous_token_valid_until}`", body = Value),
        BotFailure,
    ),
)]
async fn rotate_token(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Reply {
    let org = actor.admin()?.to_string();
    let token = new_bot_token(&id);
    let (hash, until) = (model::hash(&token), now_ms() + ctx.cfg.bot_token_grace.as_millis() as i64);
    change(&ctx, &org, &id, move |b| {
        b.previous_token_hash = Some(std::mem::replace(&mut b.bot_token_hash, hash));
        b.previous_token_valid_until = Some(until);
        b.updated_at = now_ms();
        Ok(())
    })
    .await?;
    ok(json!({ "ok": true, "bot_token": token, "previous_token_valid_until": ts(until) }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct InstallIn {
    channel_id: String,
    #[serde(default)]
    permissions: Vec<String>,
    /// The channel is an outside platform's (hookd as its bot gateway), not one of the built-in store.
    #[serde(default)]
    external: bool,
}

/// Installs the bot in a channel: of the built-in store (its user joins; the channel may be given by name), or of
/// an outside platform (`external: true`, or any channel once the organization has the gateway's `hookd-chat`
/// application). Any other unknown channel is a 404: installed there, the bot would wait for events that never
/// come.
#[utoipa::path(
    post, path = "/api/v1/bots/{bot_id}/install", operation_id = "bots.install", tag = "Bots",
    params(("bot_id" = String, Path, description = "The bot")), request_body = InstallIn,
    responses(
        (status = 200, description = "`{ok, bot_id, channel_id, permissions}`", body = Value),
        BotFailure,
    ),
)]
async fn install(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Body(input): Body<InstallIn>,
) -> Reply {
    let org = actor.admin()?.to_string();
    if input.channel_id.trim().is_empty() || input.channel_id.len() > 128 {
        return Err(Fail::invalid("channel_id: 1 to 128 characters"));
    }
    if let Some(p) = input.permissions.iter().find(|p| !model::SCOPES.contains(&p.as_str())) {
        return Err(Fail::invalid(format!("permissions: unknown scope {p}")));
    }
    load(&ctx, &actor, &id).await?; // an unknown bot is named first
    let stored = ctx.store.get::<model::Channel>(&org, "", &input.channel_id).await?;
    let channel_id = match &stored {
        Some(c) if !input.external => c.id.clone(),
        _ if input.external => input.channel_id.clone(),
        None if ctx.engine.app(&org, deliver::PLATFORM_APP_UID).await?.is_some() => input.channel_id.clone(),
        _ => {
            return Err(Fail::not_found("channel_not_found").with(
                "detail",
                format!(
                    "channel `{}` not found: create it with POST /api/v1/channels.create and install the bot with \
                     its channel.channel_id; for an outside platform's channel, send \"external\": true",
                    input.channel_id
                ),
            ))
        }
    };
    let (installed, permissions) = (channel_id.clone(), input.permissions.clone());
    let bot = change(&ctx, &org, &id, move |b| {
        b.installed_channels.retain(|i| i.channel_id != installed);
        b.installed_channels.push(Install { channel_id: installed, permissions, installed_at: now_ms() });
        Ok(())
    })
    .await?;
    if stored.is_some() && !input.external {
        super::chat::join(&ctx, &org, &channel_id, &bot.bot_user_id).await?;
    }
    ok(json!({ "ok": true, "bot_id": bot.id, "channel_id": channel_id, "permissions": input.permissions }))
}

/// Removes the bot from a channel (its user leaves a built-in one).
#[utoipa::path(
    delete, path = "/api/v1/bots/{bot_id}/install/{channel_id}", operation_id = "bots.uninstall", tag = "Bots",
    params(
        ("bot_id" = String, Path, description = "The bot"),
        ("channel_id" = String, Path, description = "The channel it is installed in"),
    ),
    responses(
        (status = 200, description = "`{ok}`", body = Value),
        BotFailure,
    ),
)]
async fn uninstall(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Path((id, channel_id)): Path<(String, String)>,
) -> Reply {
    let org = actor.admin()?.to_string();
    let ch = channel_id.clone();
    let bot = change(&ctx, &org, &id, move |b| {
        let before = b.installed_channels.len();
        b.installed_channels.retain(|i| i.channel_id != ch);
        if b.installed_channels.len() == before {
            return Err(StoreError::Conflict("not installed".into()));
        }
        Ok(())
    })
    .await
    .map_err(|f| if f.is_conflict() { Fail::not_found("not_installed") } else { f })?;
    if ctx.store.get::<model::Channel>(&org, "", &channel_id).await?.is_some() {
        super::chat::leave(&ctx, &org, &channel_id, &bot.bot_user_id).await?;
    }
    ok(json!({ "ok": true }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UserIn {
    username: String,
    display_name: Option<String>,
}

/// A person of the chat, with a token to act through the API.
#[utoipa::path(
    post, path = "/api/v1/users", operation_id = "users.create", tag = "Bots", request_body = UserIn,
    responses(
        (status = 201, description = "`{ok, user, token}`: the `xuser-…` token is shown this once", body = Value),
        BotFailure,
    ),
)]
async fn create_user(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<UserIn>,
) -> Reply {
    let org = actor.admin()?.to_string();
    let valid = !input.username.is_empty()
        && input.username.len() <= 64
        && input.username.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        return Err(Fail::invalid("username: 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    let id = crate::ids::new(crate::ids::USER);
    let token = format!("xuser-{}{}", &id[crate::ids::USER.len()..], crate::ids::random_token(32));
    let user = ChatUser {
        id,
        org_id: org,
        display_name: input.display_name.unwrap_or_else(|| input.username.clone()),
        username: input.username,
        is_bot: false,
        bot_id: None,
        token_hash: Some(model::hash(&token)),
        created_at: now_ms(),
    };
    match ctx.store.insert(&user).await {
        Err(StoreError::Conflict(_)) => return Err(Fail::new(StatusCode::CONFLICT, "username_taken")),
        other => other?,
    }
    let body = json!({ "ok": true, "user": super::chat::user_json(&user), "token": token });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PlatformEventIn {
    event_type: String,
    channel: Value,
    #[serde(default)]
    sender: Value,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    event_id: Option<String>,
}

/// An event of an outside chat platform, fanned out to the bots installed in its channel.
#[utoipa::path(
    post, path = "/api/v1/events", operation_id = "events.publish", tag = "Bots", request_body = PlatformEventIn,
    responses(
        (status = 202, description = "`{ok, event_id, deliveries}`", body = Value),
        BotFailure,
    ),
)]
async fn platform_event(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<PlatformEventIn>,
) -> Reply {
    let org = actor.admin()?.to_string();
    if !model::EVENT_TYPES.contains(&input.event_type.as_str()) {
        return Err(Fail::invalid(format!("event_type: one of {}", model::EVENT_TYPES.join(", "))));
    }
    let channel_id = input.channel.get("channel_id").and_then(Value::as_str).map(str::to_string);
    let Some(channel_id) = channel_id.filter(|c| !c.is_empty()) else {
        return Err(Fail::invalid("channel.channel_id: required"));
    };
    if let Some(id) = &input.event_id {
        check_ident(&["body", "event_id"], id, 256).map_err(Fail::from)?;
    }
    let event_id = input.event_id.clone().unwrap_or_else(|| crate::ids::new("evt_"));
    let audience = match input.event_type.as_str() {
        "channel.created" => Audience::Org,
        _ => Audience::Channel { channel_id: &channel_id, except_bot: None },
    };
    let deliveries = deliver::send(
        &ctx,
        Event {
            org: &org,
            event_type: &input.event_type,
            event_id: Some(event_id.clone()),
            webhook_id: None,
            channel: input.channel,
            sender: input.sender,
            payload: Some(input.payload),
            extra: Default::default(),
            audience,
            from_platform: true,
        },
    )
    .await?;
    let body = json!({ "ok": true, "event_id": event_id, "deliveries": deliveries });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, remove))
        .routes(routes!(disable))
        .routes(routes!(suspend))
        .routes(routes!(enable))
        .routes(routes!(rotate_token))
        .routes(routes!(install))
        .routes(routes!(uninstall))
        .routes(routes!(create_user))
        .routes(routes!(platform_event))
}

/// The dashboard's view of the bots face: the same bots `GET /api/v1/bots` lists.
pub struct Console;

#[async_trait::async_trait]
impl crate::api::console::BotsConsole for Console {
    async fn bots(&self, ctx: &ApiContext, org: &str) -> crate::error::Result<Vec<Value>> {
        let bots = state(ctx).of_org(ctx, org).await?;
        Ok(bots.iter().map(|b| view(ctx, b, None)).collect())
    }

    fn choices(&self) -> Value {
        json!({
            "scopes": model::SCOPES, "webhook_events": model::EVENT_TYPES,
            "tiers": model::TIERS, "owner_types": model::OWNER_TYPES,
        })
    }
}
