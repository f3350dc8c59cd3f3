//! How bots and people talk: incoming webhooks, slash commands, button clicks and modals, each with a
//! `response_url` for later answers, and bots' direct answers to deliveries (within 3 s they are shown to the
//! user who invoked at once).

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::chat::{self, Place, Post};
use super::deliver::{self, Audience, Event};
use super::model::{self, Bot, Channel, ChatMessage, ChatUser, ChatView, ResponseUrl, SlashCommand};
use super::{count, ok, public, state, Actor, Body, BotFailure, Fail, Reply, Trigger};
use crate::api::{ApiContext, AppState};
use crate::engine::model::Endpoint;
use crate::engine::ResponseHandler;
use crate::store::{now_ms, MessageRecord, Page, StoreError};

/// How long the invoker waits for a bot's direct answer (the seed: "respond within 3 seconds").
const ANSWER_WAIT: Duration = Duration::from_secs(3);
const RESPONSE_URL_TTL_MS: i64 = 30 * 60 * 1000;
const RESPONSE_URL_USES: u32 = 5;

/// A channel a bot may post in: it must be installed there.
async fn bot_place(ctx: &ApiContext, bot: &Bot, channel_id: &str) -> Result<Place, Fail> {
    if channel_id.is_empty() {
        return Err(Fail::invalid("channel_id: required"));
    }
    bot.install(channel_id).ok_or_else(|| Fail::forbidden("bot not installed in channel"))?;
    let stored = ctx.store.get::<Channel>(&bot.org_id, "", channel_id).await?.filter(|c| c.id == channel_id);
    Ok(Place { id: channel_id.to_string(), stored })
}

async fn bot_user(ctx: &ApiContext, bot: &Bot) -> Result<ChatUser, Fail> {
    ctx.store.get::<ChatUser>(&bot.org_id, "", &bot.bot_user_id).await?.ok_or_else(|| Fail::not_found("user_not_found"))
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Fail> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Fail::invalid(e.to_string()),
        _ => Fail::new(StatusCode::BAD_REQUEST, "invalid_json").with("detail", e.to_string()),
    })
}

/// The answer to a bot's request, refusals too, with its rate window's headers.
fn with_window(result: Result<(StatusCode, Value), Fail>, w: crate::ratelimit::RateWindow) -> Reply {
    match result {
        Ok((status, body)) => {
            let mut resp = (status, Json(body)).into_response();
            w.set_headers(resp.headers_mut(), now_ms() / 1000);
            Ok(resp)
        }
        Err(f) => Err(f.or_window(w)),
    }
}

// ── incoming webhooks ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct IncomingIn {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    icon_emoji: Option<String>,
    #[serde(default)]
    attachments: Vec<Value>,
    #[serde(default)]
    thread_id: Option<String>,
}

/// The bot an incoming webhook token belongs to (`inc_{bot id}{random}`), compared in constant time.
async fn incoming_bot(ctx: &ApiContext, token: &str) -> Result<Bot, Fail> {
    let invalid = || Fail::new(StatusCode::UNAUTHORIZED, "invalid webhook");
    let id = token.strip_prefix("inc_").and_then(|t| t.get(..crate::ids::ID_CHARS)).ok_or_else(invalid)?;
    let bot = ctx.store.get_any::<Bot>(&format!("{}{id}", crate::ids::BOT)).await?.ok_or_else(invalid)?;
    if !model::same_hash(&bot.incoming_webhook_token, token) {
        return Err(invalid());
    }
    if bot.status != "active" {
        return Err(Fail::new(StatusCode::UNAUTHORIZED, format!("bot is {}", bot.status)));
    }
    Ok(bot)
}

/// An incoming webhook: posts a message as the bot, the URL being its credential.
#[utoipa::path(
    post, path = "/hooks/{token}", operation_id = "hooks.incoming", tag = "Bot interactions", security(()),
    params(("token" = String, Path, description = "The bot's incoming webhook token (`inc_…`)")),
    request_body = IncomingIn,
    responses(
        (status = 202, description = "`{ok, message_id}`", body = Value),
        BotFailure,
    ),
)]
async fn incoming(State(ctx): State<ApiContext>, Path(token): Path<String>, body: Bytes) -> Reply {
    let bot = incoming_bot(&ctx, &token).await?;
    let window = count(&ctx, &bot, "webhooks").await?;
    let posted = post_incoming(&ctx, &bot, &body).await;
    with_window(posted.map(|id| (StatusCode::ACCEPTED, json!({ "ok": true, "message_id": id }))), window)
}

async fn post_incoming(ctx: &ApiContext, bot: &Bot, body: &[u8]) -> Result<String, Fail> {
    let input: IncomingIn = parse_body(body)?;
    let place = bot_place(ctx, bot, &input.channel_id).await?;
    count(ctx, bot, "messages").await?;
    let author = bot_user(ctx, bot).await?;
    let post = Post {
        text: input.text,
        attachments: input.attachments,
        thread_id: input.thread_id,
        ephemeral_to: None,
        username: input.username,
        icon_emoji: input.icon_emoji,
    };
    Ok(chat::post_message(ctx, &bot.org_id, &place, &author, post).await?.id)
}

// ── response URLs ──

/// A `response_url` for the bot to answer `user_id` in the channel later; `message_id` is what
/// `replace_original` changes.
async fn response_url(
    ctx: &ApiContext,
    bot: &Bot,
    channel_id: &str,
    user_id: &str,
    message_id: Option<String>,
) -> Result<String, Fail> {
    let token = format!("resp_{}", crate::ids::random_token(40));
    let now = now_ms();
    let rec = ResponseUrl {
        id: model::hash(&token),
        org_id: bot.org_id.clone(),
        bot_id: bot.id.clone(),
        channel_id: channel_id.to_string(),
        user_id: user_id.to_string(),
        message_id,
        uses: 0,
        expires_at: now + RESPONSE_URL_TTL_MS,
        created_at: now,
    };
    ctx.store.insert(&rec).await?;
    Ok(public(ctx, &format!("/hooks/response/{token}")))
}

fn trigger(ctx: &ApiContext, bot: &Bot, user_id: &str, channel_id: &str) -> String {
    let id = format!("trig_{}", crate::ids::random_token(32));
    let t = Trigger {
        org_id: bot.org_id.clone(),
        bot_id: bot.id.clone(),
        user_id: user_id.to_string(),
        channel_id: channel_id.to_string(),
    };
    state(ctx).triggers.insert(id.clone(), t);
    id
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct AnswerIn {
    #[serde(default)]
    response_type: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachments: Option<Vec<Value>>,
    #[serde(default)]
    replace_original: bool,
    #[serde(default)]
    delete_original: bool,
    #[serde(default)]
    thread_id: Option<String>,
}

impl AnswerIn {
    fn is_empty(&self) -> bool {
        self.text.as_deref().is_none_or(|t| t.trim().is_empty()) && self.attachments.as_ref().is_none_or(Vec::is_empty)
    }
}

/// Acts on a bot's answer for `user_id` in the channel: replaces or deletes `original`, or posts a new message
/// (ephemeral ones for `user_id` only). Returns the message the answer is now in.
async fn act_on_answer(
    ctx: &ApiContext,
    bot: &Bot,
    channel_id: &str,
    user_id: &str,
    original: Option<&str>,
    answer: AnswerIn,
    ephemeral_by_default: bool,
) -> Result<Value, Fail> {
    let place = bot_place(ctx, bot, channel_id).await?;
    let author = bot_user(ctx, bot).await?;
    let response_type = answer
        .response_type
        .clone()
        .unwrap_or_else(|| if ephemeral_by_default { "ephemeral" } else { "in_channel" }.into());
    if !["in_channel", "ephemeral"].contains(&response_type.as_str()) {
        return Err(Fail::invalid("response_type: in_channel or ephemeral"));
    }
    if let (true, Some(original)) = (answer.delete_original, original) {
        chat::delete_message(ctx, &bot.org_id, &place, &author, original, true).await?;
        return Ok(json!({ "message_id": original, "deleted": true }));
    }
    if let (true, Some(original)) = (answer.replace_original, original) {
        let me = author.id.clone();
        let msg = chat::edit_message(
            ctx,
            &place,
            &author,
            original,
            answer.text.clone(),
            answer.attachments.clone(),
            move |m| m.user_id == me,
        )
        .await?;
        return Ok(answer_json(&msg));
    }
    if answer.is_empty() {
        return Err(Fail::invalid("text or attachments: required"));
    }
    count(ctx, bot, "messages").await?;
    let post = Post {
        text: answer.text.unwrap_or_default(),
        attachments: answer.attachments.unwrap_or_default(),
        thread_id: answer.thread_id,
        ephemeral_to: (response_type == "ephemeral").then(|| user_id.to_string()),
        username: None,
        icon_emoji: None,
    };
    let msg = chat::post_message(ctx, &bot.org_id, &place, &author, post).await?;
    Ok(answer_json(&msg))
}

fn answer_json(m: &ChatMessage) -> Value {
    json!({ "message_id": m.id, "response_type": m.response_type, "text": m.text, "attachments": m.attachments })
}

/// A bot's later answer through a `response_url`: usable a few times within 30 minutes.
#[utoipa::path(
    post, path = "/hooks/response/{token}", operation_id = "hooks.respond", tag = "Bot interactions", security(()),
    params(("token" = String, Path, description = "The token of a `response_url` (`resp_…`)")), request_body = AnswerIn,
    responses(
        (status = 200, body = Value,
            description = "`{ok, message_id, response_type, text, attachments}`, or `{ok, message_id, deleted}` \
            for `delete_original`"),
        BotFailure,
    ),
)]
async fn respond(State(ctx): State<ApiContext>, Path(token): Path<String>, body: Bytes) -> Reply {
    let id = model::hash(&token);
    let rec = ctx.store.get_any::<ResponseUrl>(&id).await?.ok_or_else(|| Fail::not_found("invalid_url"))?;
    let expired = || Fail::new(StatusCode::GONE, "expired_url");
    if now_ms() > rec.expires_at || rec.uses >= RESPONSE_URL_USES {
        return Err(expired());
    }
    let bot = ctx.store.get_any::<Bot>(&rec.bot_id).await?.ok_or_else(|| Fail::not_found("bot_not_found"))?;
    if bot.status != "active" {
        return Err(Fail::new(StatusCode::UNAUTHORIZED, format!("bot is {}", bot.status)));
    }
    let window = count(&ctx, &bot, "webhooks").await?;
    with_window(answer_through(&ctx, &bot, &rec, &body).await.map(|b| (StatusCode::OK, b)), window)
}

async fn answer_through(ctx: &ApiContext, bot: &Bot, rec: &ResponseUrl, body: &[u8]) -> Result<Value, Fail> {
    let id = rec.id.clone();
    let expired = || Fail::new(StatusCode::GONE, "expired_url");
    let answer: AnswerIn = parse_body(body)?;
    // Count the use first, in the writer, so that concurrent answers cannot exceed the limit.
    ctx.store
        .modify::<ResponseUrl>(&rec.org_id, &id, |r| {
            if r.uses >= RESPONSE_URL_USES {
                return Err(StoreError::Conflict("expired_url".into()));
            }
            r.uses += 1;
            Ok(())
        })
        .await
        .map_err(|e| if matches!(e, StoreError::Conflict(_)) { expired() } else { e.into() })?;
    let replacing = answer.replace_original || answer.delete_original;
    let out = act_on_answer(ctx, bot, &rec.channel_id, &rec.user_id, rec.message_id.as_deref(), answer, false).await?;
    if rec.message_id.is_none() && !replacing {
        // A command's URL: its next `replace_original` changes this answer.
        let posted = out["message_id"].as_str().map(str::to_string);
        ctx.store
            .modify::<ResponseUrl>(&rec.org_id, &id, move |r| {
                r.message_id = posted;
                Ok(())
            })
            .await?;
    }
    let mut body = json!({ "ok": true });
    if let Some(m) = out.as_object() {
        body.as_object_mut().expect("object").extend(m.clone());
    }
    Ok(body)
}

// ── slash commands ──

/// Splits arguments on spaces, keeping "quoted words" together.
fn split_args(text: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut any) = (vec![], String::new(), false, false);
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// The command's options filled from the words, checked against their types, choices and requiredness.
fn parse_args(cmd: &SlashCommand, text: &str) -> Result<Map<String, Value>, String> {
    let words = split_args(text);
    let mut args = Map::new();
    if cmd.options.is_empty() {
        return Ok(args);
    }
    if words.len() > cmd.options.len() {
        return Err(format!("too many arguments: expected at most {}", cmd.options.len()));
    }
    for (i, opt) in cmd.options.iter().enumerate() {
        let Some(word) = words.get(i) else {
            if opt.required {
                return Err(format!("missing argument: {}", opt.name));
            }
            continue;
        };
        let value = match opt.kind.as_str() {
            "number" => word.parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)),
            "integer" => word.parse::<i64>().ok().map(Value::from),
            "boolean" => match word.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => Some(Value::Bool(true)),
                "false" | "no" | "off" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => Some(Value::String(word.clone())),
        };
        let value = value.ok_or_else(|| format!("{} must be a {}", opt.name, opt.kind))?;
        if let Some(choices) = &opt.choices {
            let matches = |c: &Value| c == &value || c.as_str().is_some_and(|s| Some(s) == value.as_str());
            if !choices.iter().any(matches) {
                let list: Vec<String> =
                    choices.iter().map(|c| c.as_str().map_or(c.to_string(), str::to_string)).collect();
                return Err(format!("{} must be one of: {}", opt.name, list.join(", ")));
            }
        }
        args.insert(opt.name.clone(), value);
    }
    Ok(args)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CommandIn {
    channel_id: String,
    command: String,
}

/// Sends one event to one bot and waits (a little) for its direct answer.
async fn send_and_wait(ctx: &ApiContext, ev: Event<'_>) -> Result<Value, Fail> {
    let webhook_id = crate::ids::new("whk_");
    let rx = state(ctx).wait_for(&webhook_id);
    let sent = deliver::send(ctx, Event { webhook_id: Some(webhook_id.clone()), ..ev }).await;
    if let Err(e) = sent {
        state(ctx).stop_waiting(&webhook_id);
        return Err(e.into());
    }
    let answer = tokio::time::timeout(ANSWER_WAIT, rx).await.ok().and_then(Result::ok).unwrap_or(Value::Null);
    state(ctx).stop_waiting(&webhook_id);
    Ok(answer)
}

fn user_ref(u: &ChatUser) -> Value {
    json!({ "user_id": u.id, "username": u.username })
}

/// A user runs a slash command: `slash_command` goes to the bot that has it, whose direct answer comes back within 3 s.
#[utoipa::path(
    post, path = "/api/v1/commands.invoke", operation_id = "commands.invoke", tag = "Bot interactions",
    request_body = CommandIn,
    responses(
        (status = 200, description = "`{ok, command, bot_id, response}`", body = Value),
        BotFailure,
    ),
)]
async fn invoke_command(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<CommandIn>,
) -> Reply {
    let user = actor.user()?;
    let place = chat::access(&ctx, &actor, &input.channel_id, "messages:write").await?;
    let line = input.command.trim();
    let line = line.strip_prefix('/').ok_or_else(|| Fail::invalid("command: starts with /"))?;
    let (name, text) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let text = text.trim();
    let bots = state(&ctx).of_org(&ctx, actor.org()).await?;
    let found = bots.iter().filter(|b| b.status == "active" && b.install(&place.id).is_some()).find_map(|b| {
        let cmd = b.slash_commands.iter().find(|c| {
            c.command.eq_ignore_ascii_case(name) && (c.channels.is_empty() || c.channels.contains(&place.id))
        })?;
        Some((b.clone(), cmd.clone()))
    });
    let (bot, cmd) = found.ok_or_else(|| Fail::not_found("command_not_found").with("detail", format!("/{name}")))?;
    let args = parse_args(&cmd, text).map_err(|detail| Fail::invalid(detail).with("usage", cmd.usage()))?;
    let mut extra = Map::new();
    extra.insert("command".into(), json!(cmd.command));
    extra.insert("text".into(), json!(text));
    extra.insert("args".into(), Value::Object(args));
    extra.insert("user".into(), user_ref(user));
    extra.insert("response_url".into(), json!(response_url(&ctx, &bot, &place.id, &user.id, None).await?));
    extra.insert("trigger_id".into(), json!(trigger(&ctx, &bot, &user.id, &place.id)));
    let response = send_and_wait(&ctx, event(&place, user, "slash_command", extra, &bot)).await?;
    ok(json!({ "ok": true, "command": format!("/{}", cmd.command), "bot_id": bot.id, "response": response }))
}

fn event<'a>(
    place: &'a Place,
    user: &ChatUser,
    event_type: &'a str,
    extra: Map<String, Value>,
    bot: &'a Bot,
) -> Event<'a> {
    Event {
        org: &bot.org_id,
        event_type,
        event_id: None,
        webhook_id: None,
        channel: place.json(),
        sender: deliver::sender_json(user),
        payload: None,
        extra,
        audience: Audience::Bot(&bot.id),
        from_platform: false,
    }
}

// ── interactive messages ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ActionIn {
    channel_id: String,
    message_id: String,
    action_id: String,
    #[serde(default)]
    inputs: Option<Map<String, Value>>,
}

/// The adaptive-card actions of a message's attachments (and of their action sets).
fn card_actions(attachments: &[Value]) -> Vec<&Value> {
    let mut out = vec![];
    for a in attachments {
        let card = a.get("card").unwrap_or(a);
        out.extend(card.get("actions").and_then(Value::as_array).into_iter().flatten());
        for block in card.get("body").and_then(Value::as_array).into_iter().flatten() {
            if block.get("type").and_then(Value::as_str) == Some("ActionSet") {
                out.extend(block.get("actions").and_then(Value::as_array).into_iter().flatten());
            }
        }
    }
    out
}

/// A button click or form submit on a bot's message: `interactive.action` to that bot.
#[utoipa::path(
    post, path = "/api/v1/actions.invoke", operation_id = "actions.invoke", tag = "Bot interactions",
    request_body = ActionIn,
    responses(
        (status = 200, description = "`{ok, response}`", body = Value),
        BotFailure,
    ),
)]
async fn invoke_action(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<ActionIn>,
) -> Reply {
    let user = actor.user()?;
    let place = chat::access(&ctx, &actor, &input.channel_id, "messages:read").await?;
    let msg = ctx
        .store
        .get::<ChatMessage>(actor.org(), &place.id, &input.message_id)
        .await?
        .filter(|m| !m.deleted && m.ephemeral_to.as_ref().is_none_or(|to| to == &user.id))
        .ok_or_else(|| Fail::not_found("message_not_found"))?;
    let key = input.action_id.as_str();
    let action = card_actions(&msg.attachments)
        .into_iter()
        .find(|a| {
            let s = |k: &str| a.get(k).and_then(Value::as_str);
            s("id") == Some(key)
                || s("title").is_some_and(|t| t.eq_ignore_ascii_case(key))
                || a.pointer("/data/action").and_then(Value::as_str) == Some(key)
        })
        .cloned()
        .ok_or_else(|| Fail::not_found("action_not_found"))?;
    let author = ctx.store.get::<ChatUser>(actor.org(), "", &msg.user_id).await?;
    let bot_id = author.and_then(|a| a.bot_id).ok_or_else(|| Fail::not_found("action_not_found"))?;
    let bot = ctx.store.get::<Bot>(actor.org(), "", &bot_id).await?.ok_or_else(|| Fail::not_found("bot_not_found"))?;
    bot.install(&place.id).ok_or_else(|| Fail::forbidden("bot not installed in channel"))?;
    let mut data = action.get("data").and_then(Value::as_object).cloned().unwrap_or_default();
    data.extend(input.inputs.unwrap_or_default());
    let action_id = action.get("id").and_then(Value::as_str).unwrap_or(key);
    let mut extra = Map::new();
    extra.insert(
        "action".into(),
        json!({ "action_id": action_id, "action_type": action.get("type").cloned().unwrap_or(json!("Action.Submit")), "data": data }),
    );
    extra.insert("user".into(), user_ref(user));
    extra.insert("message".into(), json!({ "message_id": msg.id, "text": msg.text }));
    extra.insert(
        "response_url".into(),
        json!(response_url(&ctx, &bot, &place.id, &user.id, Some(msg.id.clone())).await?),
    );
    extra.insert("trigger_id".into(), json!(trigger(&ctx, &bot, &user.id, &place.id)));
    let response = send_and_wait(&ctx, event(&place, user, "interactive.action", extra, &bot)).await?;
    ok(json!({ "ok": true, "response": response }))
}

// ── modals ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OpenIn {
    trigger_id: String,
    modal: Value,
}

fn check_modal(modal: &Value) -> Result<(), Fail> {
    let s = |k: &str| modal.get(k).and_then(Value::as_str);
    if s("type") != Some("modal") || s("title").is_none() || s("callback_id").is_none() {
        return Err(Fail::invalid("modal: type \"modal\", title and callback_id are required"));
    }
    let elements =
        modal.get("elements").and_then(Value::as_array).ok_or_else(|| Fail::invalid("modal.elements: a list"))?;
    for e in elements {
        let kind = e.get("type").and_then(Value::as_str).unwrap_or_default();
        if !["select", "text_input", "checkbox", "textarea", "number"].contains(&kind)
            || e.get("name").and_then(Value::as_str).is_none()
        {
            return Err(Fail::invalid(
                "modal.elements: each has a name and a type (select, text_input, textarea, number, checkbox)",
            ));
        }
    }
    Ok(())
}

/// Opens a modal for the user a `trigger_id` came from (single use, 30 s).
#[utoipa::path(
    post, path = "/api/v1/views.open", operation_id = "views.open", tag = "Bot interactions", request_body = OpenIn,
    responses(
        (status = 200, description = "`{ok, view_id}`", body = Value),
        BotFailure,
    ),
)]
async fn open_view(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<OpenIn>,
) -> Reply {
    let Actor::Bot { bot, .. } = &actor else { return Err(Fail::forbidden("a bot token is needed")) };
    let t = state(&ctx)
        .triggers
        .remove(&input.trigger_id)
        .filter(|t| t.bot_id == bot.id && t.org_id == bot.org_id)
        .ok_or_else(|| Fail::not_found("invalid_trigger_id"))?;
    check_modal(&input.modal)?;
    let view = ChatView {
        id: crate::ids::new(crate::ids::VIEW),
        org_id: bot.org_id.clone(),
        user_id: t.user_id,
        bot_id: bot.id.clone(),
        channel_id: t.channel_id,
        modal: input.modal,
        created_at: now_ms(),
    };
    ctx.store.insert(&view).await?;
    ok(json!({ "ok": true, "view_id": view.id }))
}

/// The modals open for the calling user.
#[utoipa::path(
    get, path = "/api/v1/views.list", operation_id = "views.list", tag = "Bot interactions",
    responses(
        (status = 200, description = "`{ok, views}`", body = Value),
        BotFailure,
    ),
)]
async fn list_views(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>) -> Reply {
    let user = actor.user()?;
    let page = Page { limit: 1000, iterator: None, reverse: false, descending: false };
    let views = ctx.store.list::<ChatView>(actor.org(), &user.id, &page).await?;
    let out: Vec<Value> = views
        .iter()
        .map(|v| json!({ "view_id": v.id, "bot_id": v.bot_id, "channel_id": v.channel_id, "modal": v.modal }))
        .collect();
    ok(json!({ "ok": true, "views": out }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SubmitIn {
    view_id: String,
    #[serde(default)]
    values: Map<String, Value>,
}

/// Submits a modal: its values, checked against its elements, go to the bot as `interactive.action`.
#[utoipa::path(
    post, path = "/api/v1/views.submit", operation_id = "views.submit", tag = "Bot interactions",
    request_body = SubmitIn,
    responses(
        (status = 200, description = "`{ok, response}`", body = Value),
        BotFailure,
    ),
)]
async fn submit_view(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<SubmitIn>,
) -> Reply {
    let user = actor.user()?;
    let view = ctx
        .store
        .get::<ChatView>(actor.org(), &user.id, &input.view_id)
        .await?
        .ok_or_else(|| Fail::not_found("view_not_found"))?;
    let elements = view.modal["elements"].as_array().cloned().unwrap_or_default();
    for (name, value) in &input.values {
        let e = elements
            .iter()
            .find(|e| e["name"] == json!(name))
            .ok_or_else(|| Fail::invalid(format!("values: no element {name}")))?;
        if e["type"] == "select" {
            let allowed = e["options"].as_array().into_iter().flatten().any(|o| &o["value"] == value);
            if !allowed {
                return Err(Fail::invalid(format!("values.{name}: not one of the options")));
            }
        }
    }
    let bot =
        ctx.store.get::<Bot>(actor.org(), "", &view.bot_id).await?.ok_or_else(|| Fail::not_found("bot_not_found"))?;
    let place = bot_place(&ctx, &bot, &view.channel_id).await?;
    ctx.store.delete::<ChatView>(actor.org(), &view.id).await?;
    let callback_id = view.modal["callback_id"].clone();
    let mut extra = Map::new();
    extra.insert(
        "action".into(),
        json!({ "action_id": callback_id, "action_type": "view_submission", "data": input.values }),
    );
    extra.insert("view".into(), json!({ "view_id": view.id, "callback_id": callback_id }));
    extra.insert("user".into(), user_ref(user));
    extra.insert("response_url".into(), json!(response_url(&ctx, &bot, &place.id, &user.id, None).await?));
    extra.insert("trigger_id".into(), json!(trigger(&ctx, &bot, &user.id, &place.id)));
    let response = send_and_wait(&ctx, event(&place, user, "interactive.action", extra, &bot)).await?;
    ok(json!({ "ok": true, "response": response }))
}

// ── direct answers to deliveries ──

/// Acts on a bot's answer to a delivery (the seed's 5.6): posts it as the bot, and hands it to whoever waits.
pub struct Answers(pub Weak<AppState>);

impl ResponseHandler for Answers {
    fn answered(&self, msg: &Arc<MessageRecord>, _endpoint: &Endpoint, body: &str) {
        let Some(ctx) = self.0.upgrade() else { return };
        let answer: Option<AnswerIn> =
            serde_json::from_str(body).ok().filter(|a: &AnswerIn| !a.is_empty() || a.delete_original);
        let Some(answer) = answer else {
            state(&ctx).answered(&msg.id, Value::Null);
            return;
        };
        let msg = msg.clone();
        tokio::spawn(async move {
            let out = match act_on_delivery_answer(&ctx, &msg, answer).await {
                Ok(v) => v,
                Err(f) => {
                    tracing::warn!(message = %msg.id, refusal = ?f, "a bot's direct answer was not posted");
                    Value::Null
                }
            };
            state(&ctx).answered(&msg.id, out);
        });
    }
}

async fn act_on_delivery_answer(ctx: &ApiContext, msg: &MessageRecord, answer: AnswerIn) -> Result<Value, Fail> {
    let payload: Value = serde_json::from_str(msg.payload.as_deref().unwrap_or("{}")).unwrap_or_default();
    let s = |p: &str| payload.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let bot =
        ctx.store.get::<Bot>(&msg.org_id, "", &s("/bot_id")).await?.ok_or_else(|| Fail::not_found("bot_not_found"))?;
    let user_id = Some(s("/user/user_id")).filter(|u| !u.is_empty()).unwrap_or_else(|| s("/sender/user_id"));
    let original = Some(s("/message/message_id")).filter(|m| !m.is_empty());
    let targeted = matches!(msg.event_type.as_str(), "slash_command" | "interactive.action");
    act_on_answer(ctx, &bot, &s("/channel/channel_id"), &user_id, original.as_deref(), answer, targeted).await
}

pub fn authenticated_router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(invoke_command))
        .routes(routes!(invoke_action))
        .routes(routes!(open_view))
        .routes(routes!(list_views))
        .routes(routes!(submit_view))
}

/// Routes whose URL is the credential.
pub fn hooks_router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(incoming)).routes(routes!(respond))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy() -> SlashCommand {
        serde_json::from_value(json!({
            "command": "deploy", "usage": "/deploy <environment> <version>",
            "options": [
                {"name": "environment", "type": "string", "required": true, "choices": ["staging", "production"]},
                {"name": "version", "type": "string", "required": true}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn command_arguments_are_parsed_against_the_options() {
        let args = parse_args(&deploy(), "production v1.2.3").unwrap();
        assert_eq!(Value::Object(args), json!({"environment": "production", "version": "v1.2.3"}));
        assert!(parse_args(&deploy(), "moon v1").unwrap_err().contains("staging, production"));
        assert!(parse_args(&deploy(), "production").unwrap_err().contains("missing argument: version"));
        assert!(parse_args(&deploy(), "production v1 extra").unwrap_err().contains("too many"));
        assert_eq!(split_args(r#"say "hello world" now"#), ["say", "hello world", "now"]);
    }
}
