//! The built-in chat store and the seed's bot REST API over it: channels and members, messages (threads,
//! edits, deletions, reactions), users and files. Every change that bots may hear of goes out through
//! [`deliver`](super::deliver).

use axum::extract::multipart::{Multipart, MultipartError};
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::Extension;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::deliver::{self, channel_json, message_json, sender_json, Audience, Event};
use super::model::{Channel, ChatFile, ChatMessage, ChatUser, Reaction};
use super::{count, ok, Actor, Body, BotFailure, Fail, Reply};
use crate::api::time::ts;
use crate::api::ApiContext;
use crate::store::{now_ms, Page, StoreError};

pub fn user_json(u: &ChatUser) -> Value {
    json!({ "user_id": u.id, "username": u.username, "display_name": u.display_name, "is_bot": u.is_bot, "bot_id": u.bot_id })
}

/// A channel the caller may use: one of the built-in store, or an outside platform's that a bot is installed in.
pub struct Place {
    pub id: String,
    pub stored: Option<Channel>,
}

impl Place {
    pub fn json(&self) -> Value {
        match &self.stored {
            Some(c) => channel_json(c),
            None => json!({ "channel_id": self.id, "name": self.id, "type": "public" }),
        }
    }
}

/// Checks that the caller may act in the channel with `scope`: the scope first (403 `missing scope: …`), then a
/// bot's installation (403 `bot not installed in channel`, or its per-channel permissions), a user's membership
/// of a private channel.
pub async fn access(ctx: &ApiContext, actor: &Actor, channel_id: &str, scope: &str) -> Result<Place, Fail> {
    actor.need(scope)?;
    if channel_id.is_empty() {
        return Err(Fail::invalid("channel_id: required"));
    }
    let stored = ctx.store.get::<Channel>(actor.org(), "", channel_id).await?.filter(|c| c.id == channel_id);
    match actor {
        Actor::Bot { bot, .. } => {
            let install = bot.install(channel_id).ok_or_else(|| Fail::forbidden("bot not installed in channel"))?;
            let limited = scope.starts_with("messages:") && !install.permissions.is_empty();
            if limited && !install.permissions.iter().any(|p| p == scope) {
                return Err(Fail::missing_scope(scope));
            }
        }
        Actor::User { user, .. } => {
            let c = stored.as_ref().ok_or_else(|| Fail::not_found("channel_not_found"))?;
            if c.kind == "private" && !c.members.contains(&user.id) {
                return Err(Fail::forbidden("not_in_channel"));
            }
        }
        Actor::Admin { .. } => {
            stored.as_ref().ok_or_else(|| Fail::not_found("channel_not_found"))?;
        }
    }
    Ok(Place { id: channel_id.to_string(), stored })
}

/// What is posted.
#[derive(Debug, Default)]
pub struct Post {
    pub text: String,
    pub attachments: Vec<Value>,
    pub thread_id: Option<String>,
    /// `ephemeral`: for `ephemeral_to` only.
    pub ephemeral_to: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
}

/// `@name` words of the text that name users: the seed's `mentions`.
async fn mentions(ctx: &ApiContext, org: &str, text: &str) -> Result<Vec<Value>, Fail> {
    let mut out = vec![];
    for word in text.split_whitespace().filter_map(|w| w.strip_prefix('@')) {
        let name = word.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        if let Some(u) = ctx.store.get::<ChatUser>(org, "", name).await?.filter(|u| u.username == name) {
            let m = json!({ "user_id": u.id, "type": if u.is_bot { "bot" } else { "user" } });
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// Posts a message as `author` and tells the channel's bots (but the author's own) of it.
pub async fn post_message(
    ctx: &ApiContext,
    org: &str,
    place: &Place,
    author: &ChatUser,
    p: Post,
) -> Result<ChatMessage, Fail> {
    if p.text.len() > 40_000 || p.attachments.len() > 100 {
        return Err(Fail::invalid("text: at most 40000 bytes; attachments: at most 100"));
    }
    if p.text.trim().is_empty() && p.attachments.is_empty() {
        return Err(Fail::invalid("text or attachments: required"));
    }
    if let Some(t) = &p.thread_id {
        ctx.store.get::<ChatMessage>(org, &place.id, t).await?.ok_or_else(|| Fail::not_found("thread_not_found"))?;
    }
    let msg = ChatMessage {
        id: crate::ids::new(crate::ids::CHAT_MSG),
        org_id: org.to_string(),
        channel_id: place.id.clone(),
        user_id: author.id.clone(),
        text: p.text,
        attachments: p.attachments,
        thread_id: p.thread_id,
        response_type: if p.ephemeral_to.is_some() { "ephemeral" } else { "in_channel" }.into(),
        ephemeral_to: p.ephemeral_to,
        username: p.username,
        icon_emoji: p.icon_emoji,
        reactions: vec![],
        deleted: false,
        edited_at: None,
        created_at: now_ms(),
    };
    ctx.store.insert(&msg).await?;
    if msg.ephemeral_to.is_none() {
        let payload = json!({
            "message_id": msg.id, "text": msg.text, "mentions": mentions(ctx, org, &msg.text).await?,
            "attachments": msg.attachments, "thread_id": msg.thread_id,
        });
        tell(ctx, org, place, author, "message.sent", payload).await?;
    }
    Ok(msg)
}

/// Sends a channel event to its installed bots, but the author's.
pub async fn tell(
    ctx: &ApiContext,
    org: &str,
    place: &Place,
    author: &ChatUser,
    event_type: &str,
    payload: Value,
) -> Result<(), Fail> {
    deliver::send(
        ctx,
        Event {
            org,
            event_type,
            event_id: None,
            webhook_id: None,
            channel: place.json(),
            sender: sender_json(author),
            payload: Some(payload),
            extra: Default::default(),
            from_platform: false,
            audience: Audience::Channel { channel_id: &place.id, except_bot: author.bot_id.as_deref() },
        },
    )
    .await?;
    Ok(())
}

/// Edits a message (`may` refuses whom it must) and sends `message.edited`.
pub async fn edit_message(
    ctx: &ApiContext,
    place: &Place,
    editor: &ChatUser,
    message_id: &str,
    text: Option<String>,
    attachments: Option<Vec<Value>>,
    may: impl FnOnce(&ChatMessage) -> bool + Send + 'static,
) -> Result<ChatMessage, Fail> {
    let (org, channel_id) = (editor.org_id.as_str(), place.id.clone());
    let msg = ctx
        .store
        .modify::<ChatMessage>(org, message_id, move |m| {
            if m.channel_id != channel_id || m.deleted {
                return Err(StoreError::Conflict("message_not_found".into()));
            }
            if !may(m) {
                return Err(StoreError::Conflict("cant_update_message".into()));
            }
            if let Some(t) = text {
                m.text = t;
            }
            if let Some(a) = attachments {
                m.attachments = a;
            }
            m.edited_at = Some(now_ms());
            Ok(())
        })
        .await
        .map_err(refusal)?
        .ok_or_else(|| Fail::not_found("message_not_found"))?;
    let payload = json!({
        "message_id": msg.id, "text": msg.text, "attachments": msg.attachments, "thread_id": msg.thread_id,
        "editor": editor.id,
    });
    tell(ctx, org, place, editor, "message.edited", payload).await?;
    Ok(msg)
}

/// A refusal from inside a document change (`Conflict(error)`) as its answer.
fn refusal(e: StoreError) -> Fail {
    match e {
        StoreError::Conflict(what) if what == "message_not_found" => Fail::not_found("message_not_found"),
        StoreError::Conflict(what) if what == "already_reacted" || what == "no_reaction" => {
            Fail::new(StatusCode::CONFLICT, what)
        }
        StoreError::Conflict(what) => Fail::forbidden(what),
        e => e.into(),
    }
}

pub async fn delete_message(
    ctx: &ApiContext,
    org: &str,
    place: &Place,
    deleter: &ChatUser,
    message_id: &str,
    any_author: bool,
) -> Result<(), Fail> {
    let (channel_id, who) = (place.id.clone(), deleter.id.clone());
    ctx.store
        .modify::<ChatMessage>(org, message_id, move |m| {
            if m.channel_id != channel_id || m.deleted {
                return Err(StoreError::Conflict("message_not_found".into()));
            }
            if !any_author && m.user_id != who {
                return Err(StoreError::Conflict("cant_delete_message".into()));
            }
            m.deleted = true;
            Ok(())
        })
        .await
        .map_err(refusal)?
        .ok_or_else(|| Fail::not_found("message_not_found"))?;
    let payload = json!({ "message_id": message_id, "deleter": deleter.id });
    tell(ctx, org, place, deleter, "message.deleted", payload).await
}

/// Adds the user to a built-in channel's members (and tells the bots), unless they are one already.
pub async fn join(ctx: &ApiContext, org: &str, channel_id: &str, user_id: &str) -> Result<(), Fail> {
    membership(ctx, org, channel_id, user_id, true).await
}

pub async fn leave(ctx: &ApiContext, org: &str, channel_id: &str, user_id: &str) -> Result<(), Fail> {
    membership(ctx, org, channel_id, user_id, false).await
}

async fn membership(ctx: &ApiContext, org: &str, channel_id: &str, user_id: &str, joining: bool) -> Result<(), Fail> {
    let uid = user_id.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let channel = ctx
        .store
        .modify::<Channel>(org, channel_id, move |c| {
            let is_member = c.members.contains(&uid);
            if joining && !is_member {
                c.members.push(uid);
                let _ = tx.send(());
            } else if !joining && is_member {
                c.members.retain(|m| m != &uid);
                let _ = tx.send(());
            }
            Ok(())
        })
        .await?
        .ok_or_else(|| Fail::not_found("channel_not_found"))?;
    if rx.try_recv().is_ok() {
        let user =
            ctx.store.get::<ChatUser>(org, "", user_id).await?.ok_or_else(|| Fail::not_found("user_not_found"))?;
        let place = Place { id: channel.id.clone(), stored: Some(channel) };
        let event = if joining { "member.joined" } else { "member.left" };
        tell(ctx, org, &place, &user, event, json!({ "user": sender_json(&user) })).await?;
    }
    Ok(())
}

// ── channels ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ChannelIn {
    name: String,
    #[serde(rename = "type", default = "public")]
    kind: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    channel_id: Option<String>,
}

fn public() -> String {
    "public".into()
}

fn check_channel_name(name: &str) -> Result<(), Fail> {
    let ok = !name.is_empty()
        && name.len() <= 80
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Fail::invalid("name: 1 to 80 lowercase letters, digits, '-' or '_'"))
    }
}

/// Creates a channel of the built-in store, with its creator (a bot's user or a user) as first member.
#[utoipa::path(
    post, path = "/api/v1/channels.create", operation_id = "channels.create", tag = "Bot API", request_body = ChannelIn,
    responses(
        (status = 200, description = "`{ok, channel}`", body = Value),
        BotFailure,
    ),
)]
async fn create_channel(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<ChannelIn>,
) -> Reply {
    actor.need("channels:write")?;
    check_channel_name(&input.name)?;
    if !["public", "private"].contains(&input.kind.as_str()) {
        return Err(Fail::invalid("type: public or private"));
    }
    let id = match input.channel_id {
        Some(id)
            if id.starts_with("ch_")
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            id
        }
        Some(_) => return Err(Fail::invalid("channel_id: ch_ then letters, digits, '_' or '-'")),
        None => crate::ids::new(crate::ids::CHANNEL),
    };
    let creator = actor.chat_user(&ctx).await.ok();
    let channel = Channel {
        id,
        org_id: actor.org().to_string(),
        name: input.name,
        kind: input.kind,
        topic: input.topic,
        members: creator.iter().map(|u| u.id.clone()).collect(),
        created_at: now_ms(),
    };
    match ctx.store.insert(&channel).await {
        Err(StoreError::Conflict(_)) => return Err(Fail::new(StatusCode::CONFLICT, "name_taken")),
        other => other?,
    }
    deliver::send(
        &ctx,
        Event {
            org: actor.org(),
            event_type: "channel.created",
            event_id: None,
            webhook_id: None,
            channel: channel_json(&channel),
            sender: creator.as_deref().map(sender_json).unwrap_or(Value::Null),
            payload: Some(json!({ "channel": channel_view(&channel) })),
            extra: Default::default(),
            from_platform: false,
            audience: Audience::Org,
        },
    )
    .await?;
    ok(json!({ "ok": true, "channel": channel_view(&channel) }))
}

fn channel_view(c: &Channel) -> Value {
    json!({
        "channel_id": c.id, "name": c.name, "type": c.kind, "topic": c.topic, "members": c.members,
        "created_at": ts(c.created_at),
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ChannelPatch {
    channel_id: String,
    name: Option<String>,
    topic: Option<String>,
}

/// Renames a built-in channel or sets its topic.
#[utoipa::path(
    post, path = "/api/v1/channels.update", operation_id = "channels.update", tag = "Bot API",
    request_body = ChannelPatch,
    responses(
        (status = 200, description = "`{ok, channel}`", body = Value),
        BotFailure,
    ),
)]
async fn update_channel(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<ChannelPatch>,
) -> Reply {
    actor.need("channels:write")?;
    let place = access(&ctx, &actor, &input.channel_id, "channels:write").await?;
    if place.stored.is_none() {
        return Err(Fail::not_found("channel_not_found"));
    }
    if let Some(n) = &input.name {
        check_channel_name(n)?;
    }
    let (name, topic) = (input.name, input.topic);
    let channel = ctx
        .store
        .modify::<Channel>(actor.org(), &input.channel_id, move |c| {
            if let Some(n) = name {
                c.name = n;
            }
            if let Some(t) = topic {
                c.topic = t;
            }
            Ok(())
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => Fail::new(StatusCode::CONFLICT, "name_taken"),
            e => e.into(),
        })?
        .ok_or_else(|| Fail::not_found("channel_not_found"))?;
    let place = Place { id: channel.id.clone(), stored: Some(channel.clone()) };
    let sender = actor.chat_user(&ctx).await.ok();
    deliver::send(
        &ctx,
        Event {
            org: actor.org(),
            event_type: "channel.updated",
            event_id: None,
            webhook_id: None,
            channel: place.json(),
            sender: sender.as_deref().map(sender_json).unwrap_or(Value::Null),
            payload: Some(json!({ "channel": channel_view(&channel) })),
            extra: Default::default(),
            from_platform: false,
            audience: Audience::Channel {
                channel_id: &place.id,
                except_bot: sender.as_ref().and_then(|s| s.bot_id.as_deref()),
            },
        },
    )
    .await?;
    ok(json!({ "ok": true, "channel": channel_view(&channel) }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberIn {
    channel_id: String,
    #[serde(default)]
    user_id: Option<String>,
}

/// The calling user joins the channel.
#[utoipa::path(
    post, path = "/api/v1/channels.join", operation_id = "channels.join", tag = "Bot API", request_body = MemberIn,
    responses(
        (status = 200, description = "`{ok}`", body = Value),
        BotFailure,
    ),
)]
async fn join_channel(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<MemberIn>,
) -> Reply {
    let user = actor.user()?;
    let place = access(&ctx, &actor, &input.channel_id, "channels:read").await?;
    join(&ctx, actor.org(), &place.id, &user.id).await?;
    ok(json!({ "ok": true }))
}

/// The calling user leaves the channel.
#[utoipa::path(
    post, path = "/api/v1/channels.leave", operation_id = "channels.leave", tag = "Bot API", request_body = MemberIn,
    responses(
        (status = 200, description = "`{ok}`", body = Value),
        BotFailure,
    ),
)]
async fn leave_channel(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<MemberIn>,
) -> Reply {
    let user = actor.user()?;
    leave(&ctx, actor.org(), &input.channel_id, &user.id).await?;
    ok(json!({ "ok": true }))
}

/// Adds `user_id` to the channel's members.
#[utoipa::path(
    post, path = "/api/v1/channels.invite", operation_id = "channels.invite", tag = "Bot API", request_body = MemberIn,
    responses(
        (status = 200, description = "`{ok}`", body = Value),
        BotFailure,
    ),
)]
async fn invite(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<MemberIn>,
) -> Reply {
    let place = access(&ctx, &actor, &input.channel_id, "channels:write").await?;
    if let Actor::User { user, .. } = &actor {
        if !place.stored.as_ref().is_some_and(|c| c.members.contains(&user.id)) {
            return Err(Fail::forbidden("not_in_channel"));
        }
    }
    let user_id = input.user_id.ok_or_else(|| Fail::invalid("user_id: required"))?;
    ctx.store.get::<ChatUser>(actor.org(), "", &user_id).await?.ok_or_else(|| Fail::not_found("user_not_found"))?;
    join(&ctx, actor.org(), &place.id, &user_id).await?;
    ok(json!({ "ok": true }))
}

/// The channels the caller may see.
#[utoipa::path(
    get, path = "/api/v1/channels.list", operation_id = "channels.list", tag = "Bot API",
    responses(
        (status = 200, description = "`{ok, channels}`", body = Value),
        BotFailure,
    ),
)]
async fn list_channels(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>) -> Reply {
    actor.need("channels:read")?;
    let page = Page { limit: 10_000, iterator: None, reverse: false, descending: false };
    let channels = ctx.store.list::<Channel>(actor.org(), "", &page).await?;
    let visible = channels.iter().filter(|c| match &actor {
        Actor::Bot { bot, .. } => c.kind == "public" || bot.install(&c.id).is_some(),
        Actor::User { user, .. } => c.kind == "public" || c.members.contains(&user.id),
        Actor::Admin { .. } => true,
    });
    ok(json!({ "ok": true, "channels": visible.map(channel_view).collect::<Vec<_>>() }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ChannelQuery {
    #[serde(default)]
    channel_id: String,
    /// `channels.history`: messages per page, 1 to 1000 (100 by default).
    limit: Option<usize>,
    /// `channels.history`: the `next_cursor` of the page before.
    cursor: Option<String>,
    /// `channels.history`: only this thread (its first message and its replies).
    thread_id: Option<String>,
}

/// One channel.
#[utoipa::path(
    get, path = "/api/v1/channels.info", operation_id = "channels.info", tag = "Bot API", params(ChannelQuery),
    responses(
        (status = 200, description = "`{ok, channel}`", body = Value),
        BotFailure,
    ),
)]
async fn channel_info(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<ChannelQuery>,
) -> Reply {
    let place = access(&ctx, &actor, &q.channel_id, "channels:read").await?;
    let channel = match &place.stored {
        Some(c) => channel_view(c),
        None => place.json(),
    };
    ok(json!({ "ok": true, "channel": channel }))
}

/// The channel's messages, newest first, a page at a time.
#[utoipa::path(
    get, path = "/api/v1/channels.history", operation_id = "channels.history", tag = "Bot API", params(ChannelQuery),
    responses(
        (status = 200, description = "`{ok, messages, has_more, next_cursor}`", body = Value),
        BotFailure,
    ),
)]
async fn history(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<ChannelQuery>,
) -> Reply {
    let place = access(&ctx, &actor, &q.channel_id, "channels:history").await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Fail::invalid("limit: 1 to 1000"));
    }
    let viewer = match &actor {
        Actor::Bot { bot, .. } => Some(bot.bot_user_id.clone()),
        Actor::User { user, .. } => Some(user.id.clone()),
        Actor::Admin { .. } => None,
    };
    let page = Page { limit, iterator: q.cursor, reverse: false, descending: true };
    let mut rows = match &q.thread_id {
        // A thread: its replies, newest first, and on the last page the message that started it.
        Some(t) => ctx.store.list_where::<ChatMessage>(actor.org(), &place.id, "thread_id", t, &page).await?,
        None => ctx.store.list::<ChatMessage>(actor.org(), &place.id, &page).await?,
    };
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if has_more { rows.last().map(|m| m.id.clone()) } else { None };
    if let (Some(t), false) = (&q.thread_id, has_more) {
        let root = ctx.store.get::<ChatMessage>(actor.org(), &place.id, t).await?;
        rows.extend(root);
    }
    let mut messages = vec![];
    // A page is mostly a few people talking: each author is read once.
    let mut authors = std::collections::HashMap::new();
    for m in rows.iter().filter(|m| !m.deleted) {
        if m.ephemeral_to.is_some() && m.ephemeral_to != viewer {
            continue;
        }
        if !authors.contains_key(&m.user_id) {
            let author = ctx.store.get::<ChatUser>(actor.org(), "", &m.user_id).await?;
            authors.insert(m.user_id.clone(), author);
        }
        messages.push(message_json(m, authors[&m.user_id].as_ref()));
    }
    ok(json!({ "ok": true, "messages": messages, "has_more": has_more, "next_cursor": next_cursor }))
}

// ── messages ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PostIn {
    channel_id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    attachments: Vec<Value>,
    #[serde(default)]
    thread_id: Option<String>,
}

/// Posts a message as the bot or user (in a thread with `thread_id`).
#[utoipa::path(
    post, path = "/api/v1/chat.postMessage", operation_id = "chat.postMessage", tag = "Bot API", request_body = PostIn,
    responses(
        (status = 200, description = "`{ok, message_id, channel_id, ts}`", body = Value),
        BotFailure,
    ),
)]
async fn post_msg(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<PostIn>,
) -> Reply {
    let place = access(&ctx, &actor, &input.channel_id, "messages:write").await?;
    let author = actor.chat_user(&ctx).await?;
    // A bot's answer shows its messages window: the limit a post counts against.
    let window = match &actor {
        Actor::Bot { bot, .. } => Some(count(&ctx, bot, "messages").await?),
        _ => None,
    };
    if let (Actor::User { user, .. }, Some(c)) = (&actor, &place.stored) {
        if !c.members.contains(&user.id) {
            join(&ctx, actor.org(), &c.id, &user.id).await?; // posting in a public channel joins it
        }
    }
    let post = Post { text: input.text, attachments: input.attachments, thread_id: input.thread_id, ..Post::default() };
    let msg = post_message(&ctx, actor.org(), &place, &author, post).await?;
    let mut resp =
        ok(json!({ "ok": true, "message_id": msg.id, "channel_id": msg.channel_id, "ts": ts(msg.created_at) }))?;
    if let Some(w) = window {
        w.set_headers(resp.headers_mut(), now_ms() / 1000);
    }
    Ok(resp)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateIn {
    channel_id: String,
    message_id: String,
    text: Option<String>,
    attachments: Option<Vec<Value>>,
}

/// Edits one of the caller's own messages.
#[utoipa::path(
    post, path = "/api/v1/chat.update", operation_id = "chat.update", tag = "Bot API", request_body = UpdateIn,
    responses(
        (status = 200, description = "`{ok, message_id, channel_id, ts}`", body = Value),
        BotFailure,
    ),
)]
async fn update_msg(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<UpdateIn>,
) -> Reply {
    let place = access(&ctx, &actor, &input.channel_id, "messages:write").await?;
    let editor = actor.chat_user(&ctx).await?;
    let me = editor.id.clone();
    let msg =
        edit_message(&ctx, &place, &editor, &input.message_id, input.text, input.attachments, move |m| m.user_id == me)
            .await?;
    ok(json!({ "ok": true, "message_id": msg.id, "channel_id": msg.channel_id, "ts": ts(msg.created_at) }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteIn {
    channel_id: String,
    message_id: String,
}

/// Deletes one of the caller's own messages.
#[utoipa::path(
    post, path = "/api/v1/chat.delete", operation_id = "chat.delete", tag = "Bot API", request_body = DeleteIn,
    responses(
        (status = 200, description = "`{ok, message_id, channel_id}`", body = Value),
        BotFailure,
    ),
)]
async fn delete_msg(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<DeleteIn>,
) -> Reply {
    let place = access(&ctx, &actor, &input.channel_id, "messages:write").await?;
    let deleter = actor.chat_user(&ctx).await?;
    delete_message(&ctx, actor.org(), &place, &deleter, &input.message_id, false).await?;
    ok(json!({ "ok": true, "message_id": input.message_id, "channel_id": input.channel_id }))
}

// ── users ──

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UserQuery {
    #[serde(default)]
    user_id: String,
}

/// One chat user.
#[utoipa::path(
    get, path = "/api/v1/users.info", operation_id = "users.info", tag = "Bot API", params(UserQuery),
    responses(
        (status = 200, description = "`{ok, user}`", body = Value),
        BotFailure,
    ),
)]
async fn user_info(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<UserQuery>,
) -> Reply {
    actor.need("users:read")?;
    let user = ctx.store.get::<ChatUser>(actor.org(), "", &q.user_id).await?.filter(|u| u.id == q.user_id);
    let user = user.ok_or_else(|| Fail::not_found("user_not_found"))?;
    ok(json!({ "ok": true, "user": user_json(&user) }))
}

/// The organization's chat users, bots' users included.
#[utoipa::path(
    get, path = "/api/v1/users.list", operation_id = "users.list", tag = "Bot API",
    responses(
        (status = 200, description = "`{ok, users}`", body = Value),
        BotFailure,
    ),
)]
async fn users_list(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>) -> Reply {
    actor.need("users:read")?;
    let page = Page { limit: 10_000, iterator: None, reverse: false, descending: false };
    let users = ctx.store.list::<ChatUser>(actor.org(), "", &page).await?;
    ok(json!({ "ok": true, "users": users.iter().map(user_json).collect::<Vec<_>>() }))
}

// ── reactions ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReactionIn {
    channel_id: String,
    message_id: String,
    reaction: String,
}

async fn react(ctx: &ApiContext, actor: &Actor, input: ReactionIn, adding: bool) -> Reply {
    let place = access(ctx, actor, &input.channel_id, "reactions:write").await?;
    let user = actor.chat_user(ctx).await?;
    let name = input.reaction.trim_matches(':').to_string();
    if name.is_empty() || name.len() > 64 {
        return Err(Fail::invalid("reaction: an emoji name"));
    }
    let (channel_id, who, r) = (place.id.clone(), user.id.clone(), name.clone());
    ctx.store
        .modify::<ChatMessage>(actor.org(), &input.message_id, move |m| {
            if m.channel_id != channel_id || m.deleted {
                return Err(StoreError::Conflict("message_not_found".into()));
            }
            let pos = m.reactions.iter().position(|x| x.reaction == r);
            match (adding, pos) {
                (true, Some(i)) if m.reactions[i].users.contains(&who) => {
                    Err(StoreError::Conflict("already_reacted".into()))
                }
                (true, Some(i)) => {
                    m.reactions[i].users.push(who);
                    Ok(())
                }
                (true, None) => {
                    m.reactions.push(Reaction { reaction: r, users: vec![who] });
                    Ok(())
                }
                (false, Some(i)) if m.reactions[i].users.contains(&who) => {
                    m.reactions[i].users.retain(|u| u != &who);
                    Ok(())
                }
                (false, _) => Err(StoreError::Conflict("no_reaction".into())),
            }
        })
        .await
        .map_err(refusal)?
        .ok_or_else(|| Fail::not_found("message_not_found"))?;
    let payload = json!({
        "message_id": input.message_id, "reaction": name, "user_id": user.id,
        "action": if adding { "added" } else { "removed" },
    });
    tell(ctx, actor.org(), &place, &user, "message.reaction", payload).await?;
    ok(json!({ "ok": true }))
}

/// Adds the caller's reaction to a message.
#[utoipa::path(
    post, path = "/api/v1/reactions.add", operation_id = "reactions.add", tag = "Bot API", request_body = ReactionIn,
    responses(
        (status = 200, description = "`{ok}`", body = Value),
        BotFailure,
    ),
)]
async fn reactions_add(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<ReactionIn>,
) -> Reply {
    react(&ctx, &actor, input, true).await
}

/// Removes the caller's reaction from a message.
#[utoipa::path(
    post, path = "/api/v1/reactions.remove", operation_id = "reactions.remove", tag = "Bot API",
    request_body = ReactionIn,
    responses(
        (status = 200, description = "`{ok}`", body = Value),
        BotFailure,
    ),
)]
async fn reactions_remove(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Body(input): Body<ReactionIn>,
) -> Reply {
    react(&ctx, &actor, input, false).await
}

// ── files ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FileIn {
    #[serde(default)]
    channel_id: Option<String>,
    filename: String,
    /// Base64 of the bytes.
    content: String,
    #[serde(default)]
    mimetype: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

/// What `files.upload` was given: JSON with base64 `content`, or a multipart form as Slack's `files.upload`
/// takes (a `file` part, and `channel_id`, `filename`, `title`, `mimetype` fields).
struct Upload {
    channel_id: Option<String>,
    filename: String,
    bytes: Vec<u8>,
    mimetype: Option<String>,
    title: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = Fail;

    async fn from_request(req: Request, state: &S) -> Result<Self, Fail> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let Body(input) = Body::<FileIn>::from_request(req, state).await?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(input.content.trim())
                .map_err(|_| Fail::invalid("content: base64 of the file"))?;
            let FileIn { channel_id, filename, mimetype, title, .. } = input;
            return Ok(Upload { channel_id, filename, bytes, mimetype, title });
        }
        let bad = |e: MultipartError| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Fail::new(e.status(), "file_too_large").with("detail", e.body_text()),
            status => Fail::new(status, "invalid_form").with("detail", e.body_text()),
        };
        let mut form = Multipart::from_request(req, state).await.map_err(|e| Fail::invalid(e.body_text()))?;
        let mut up = Upload { channel_id: None, filename: String::new(), bytes: vec![], mimetype: None, title: None };
        let mut got_file = false;
        while let Some(field) = form.next_field().await.map_err(bad)? {
            match field.name().unwrap_or_default().to_string().as_str() {
                "file" => {
                    if up.filename.is_empty() {
                        up.filename = field.file_name().unwrap_or_default().to_string();
                    }
                    up.mimetype = up.mimetype.or_else(|| field.content_type().map(str::to_string));
                    up.bytes = field.bytes().await.map_err(bad)?.to_vec();
                    got_file = true;
                }
                name @ ("channel_id" | "filename" | "title" | "mimetype") => {
                    let value = field.text().await.map_err(bad)?;
                    match name {
                        "channel_id" => up.channel_id = Some(value),
                        "filename" => up.filename = value,
                        "title" => up.title = Some(value),
                        _ => up.mimetype = Some(value),
                    }
                }
                other => return Err(Fail::invalid(format!("unknown form field: {other}"))),
            }
        }
        if !got_file {
            return Err(Fail::invalid("file: the form has no file part"));
        }
        Ok(up)
    }
}

/// The multipart form of `files.upload` (read by the `Upload` extractor), as the OpenAPI document shows it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // only described
struct FileForm {
    /// The file's bytes; its part's file name and content type are the defaults of `filename` and `mimetype`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    channel_id: Option<String>,
    filename: Option<String>,
    title: Option<String>,
    mimetype: Option<String>,
}

fn file_json(f: &ChatFile) -> Value {
    json!({ "file_id": f.id, "name": f.name, "title": f.title, "size": f.size, "mimetype": f.mimetype, "channel_id": f.channel_id, "user_id": f.user_id })
}

/// Keeps a file in the store (up to `bot_max_file_bytes`), and shares it in a channel when one is named.
#[utoipa::path(
    post, path = "/api/v1/files.upload", operation_id = "files.upload", tag = "Bot API",
    request_body(
        description = "JSON with the file in base64 `content`, or a multipart form (as Slack's `files.upload`): \
            a `file` part, and `channel_id`, `filename`, `title`, `mimetype` fields",
        content((FileIn = "application/json"), (FileForm = "multipart/form-data")),
    ),
    responses(
        (status = 200, description = "`{ok, file}`, and `message_id` when shared in a channel", body = Value),
        BotFailure,
    ),
)]
async fn upload(State(ctx): State<ApiContext>, Extension(actor): Extension<Actor>, input: Upload) -> Reply {
    actor.need("files:write")?;
    let place = match &input.channel_id {
        Some(c) => Some(access(&ctx, &actor, c, "files:write").await?),
        None => None,
    };
    let user = actor.chat_user(&ctx).await?;
    if input.filename.trim().is_empty() || input.filename.len() > 255 {
        return Err(Fail::invalid("filename: 1 to 255 characters"));
    }
    if input.bytes.len() > ctx.cfg.bot_max_file_bytes {
        return Err(Fail::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large")
            .with("detail", format!("files are limited to {} bytes", ctx.cfg.bot_max_file_bytes)));
    }
    let file = ChatFile {
        id: crate::ids::new(crate::ids::FILE),
        org_id: actor.org().to_string(),
        channel_id: input.channel_id.clone(),
        user_id: user.id.clone(),
        name: input.filename,
        title: input.title,
        mimetype: input.mimetype.unwrap_or_else(|| "application/octet-stream".into()),
        size: input.bytes.len(),
        content: base64::engine::general_purpose::STANDARD.encode(&input.bytes),
        created_at: now_ms(),
    };
    ctx.store.insert(&file).await?;
    let mut body = json!({ "ok": true, "file": file_json(&file) });
    if let Some(place) = place {
        let attachment = json!({ "type": "file", "file_id": file.id, "name": file.name, "size": file.size, "mimetype": file.mimetype });
        let text = file.title.clone().unwrap_or_else(|| file.name.clone());
        let msg = post_message(
            &ctx,
            actor.org(),
            &place,
            &user,
            Post { text, attachments: vec![attachment], ..Post::default() },
        )
        .await?;
        body["message_id"] = json!(msg.id);
    }
    ok(body)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FileQuery {
    #[serde(default)]
    file_id: String,
}

/// A file, with its bytes in base64 `content`.
#[utoipa::path(
    get, path = "/api/v1/files.info", operation_id = "files.info", tag = "Bot API", params(FileQuery),
    responses(
        (status = 200, description = "`{ok, file, content}`", body = Value),
        BotFailure,
    ),
)]
async fn file_info(
    State(ctx): State<ApiContext>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<FileQuery>,
) -> Reply {
    actor.need("files:read")?;
    let file = ctx
        .store
        .get::<ChatFile>(actor.org(), "", &q.file_id)
        .await?
        .ok_or_else(|| Fail::not_found("file_not_found"))?;
    if let (Some(c), Actor::Bot { .. } | Actor::User { .. }) = (&file.channel_id, &actor) {
        access(&ctx, &actor, c, "files:read").await?;
    }
    ok(json!({ "ok": true, "file": file_json(&file), "content": file.content }))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(post_msg))
        .routes(routes!(update_msg))
        .routes(routes!(delete_msg))
        .routes(routes!(create_channel))
        .routes(routes!(update_channel))
        .routes(routes!(join_channel))
        .routes(routes!(leave_channel))
        .routes(routes!(invite))
        .routes(routes!(list_channels))
        .routes(routes!(channel_info))
        .routes(routes!(history))
        .routes(routes!(user_info))
        .routes(routes!(users_list))
        .routes(routes!(reactions_add))
        .routes(routes!(reactions_remove))
        .routes(routes!(upload))
        .routes(routes!(file_info))
}
