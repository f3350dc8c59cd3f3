//! Who gets an event, and what they get: one engine message per bot (its payload names the bot), sent only to
//! the bot's endpoint. Message events also go to the outbound application `hookd-chat`, through which an
//! outside chat platform receives what bots post.

use serde_json::{json, Map, Value};

use super::model::{Bot, Channel, ChatMessage, ChatUser};
use super::state;
use crate::api::time::ts;
use crate::api::ApiContext;
use crate::engine::NewMessage;
use crate::error::{Error, Result};
use crate::store::now_ms;

/// The application an outside platform creates to receive the chat's message events.
pub const PLATFORM_APP_UID: &str = "hookd-chat";

/// Who an event is for.
pub enum Audience<'a> {
    /// Bots installed in the channel and subscribed to the event type, but the one that caused it.
    Channel { channel_id: &'a str, except_bot: Option<&'a str> },
    /// Every active bot subscribed to the type (a channel was created: nobody is installed yet).
    Org,
    /// One bot (a command's, or the author of the message clicked on), subscribed or not.
    Bot(&'a str),
}

pub struct Event<'a> {
    pub org: &'a str,
    pub event_type: &'a str,
    /// Given by an outside platform (`POST /api/v1/events`), or fresh.
    pub event_id: Option<String>,
    /// The delivery's id, chosen by a caller that waits for the bot's answer (one bot only).
    pub webhook_id: Option<String>,
    pub channel: Value,
    pub sender: Value,
    /// The `payload` field; None for the seed's slash command and action shapes, which have none.
    pub payload: Option<Value>,
    /// Top-level fields beside the common ones (`command`, `args`, `response_url`, …).
    pub extra: Map<String, Value>,
    pub audience: Audience<'a>,
    /// Given by the outside platform itself: not sent back to it through `hookd-chat`.
    pub from_platform: bool,
}

pub fn channel_json(c: &Channel) -> Value {
    json!({ "channel_id": c.id, "name": c.name, "type": c.kind })
}

pub fn sender_json(u: &ChatUser) -> Value {
    json!({ "user_id": u.id, "username": u.username, "display_name": u.display_name, "is_bot": u.is_bot })
}

/// The message as the API and the events show it.
pub fn message_json(m: &ChatMessage, author: Option<&ChatUser>) -> Value {
    let mut reactions: Vec<Value> = m
        .reactions
        .iter()
        .filter(|r| !r.users.is_empty())
        .map(|r| json!({ "reaction": r.reaction, "count": r.users.len(), "users": r.users }))
        .collect();
    reactions.sort_by(|a, b| a["reaction"].as_str().cmp(&b["reaction"].as_str()));
    json!({
        "message_id": m.id,
        "channel_id": m.channel_id,
        "user_id": m.user_id,
        "username": m.username.clone().or_else(|| author.map(|a| a.username.clone())),
        "is_bot": author.is_some_and(|a| a.is_bot),
        "icon_emoji": m.icon_emoji,
        "text": m.text,
        "attachments": m.attachments,
        "thread_id": m.thread_id,
        "ts": ts(m.created_at),
        "edited_ts": m.edited_at.map(ts),
        "reactions": reactions,
        "response_type": m.response_type,
    })
}

/// Publishes the event to each bot it is for; returns how many bots it went to.
pub async fn send(ctx: &ApiContext, ev: Event<'_>) -> Result<usize> {
    let bots = state(ctx).of_org(ctx, ev.org).await?;
    let event_id = ev.event_id.clone().unwrap_or_else(|| crate::ids::new("evt_"));
    let timestamp = ts(now_ms());
    let targets = bots.iter().filter(|b| is_for(b, &ev));
    let mut sent = 0;
    for bot in targets {
        let webhook_id = ev.webhook_id.clone().unwrap_or_else(|| crate::ids::new("whk_"));
        let mut body = ev.extra.clone();
        body.insert("webhook_id".into(), json!(webhook_id));
        body.insert("event_id".into(), json!(event_id));
        body.insert("event_type".into(), json!(ev.event_type));
        body.insert("timestamp".into(), json!(timestamp));
        body.insert("bot_id".into(), json!(bot.id));
        body.insert("channel".into(), ev.channel.clone());
        body.insert("sender".into(), ev.sender.clone());
        if let Some(p) = &ev.payload {
            body.insert("payload".into(), p.clone());
        }
        publish(ctx, bot, webhook_id, ev.event_type, &event_id, Value::Object(body)).await?;
        sent += 1;
    }
    if ev.event_type.starts_with("message.") && !ev.from_platform {
        to_platform(ctx, &ev, &event_id, &timestamp).await?;
    }
    Ok(sent)
}

fn is_for(bot: &Bot, ev: &Event<'_>) -> bool {
    if bot.status != "active" || bot.endpoint_id.is_none() {
        return false;
    }
    let subscribed = bot.webhook_events.iter().any(|t| t == ev.event_type);
    match ev.audience {
        Audience::Channel { channel_id, except_bot } => {
            subscribed && bot.install(channel_id).is_some() && except_bot != Some(bot.id.as_str())
        }
        Audience::Org => subscribed,
        Audience::Bot(id) => bot.id == id,
    }
}

/// One delivery to the bot's endpoint; the message id is the payload's `webhook_id` (and `X-Webhook-ID`).
pub async fn publish(
    ctx: &ApiContext,
    bot: &Bot,
    webhook_id: String,
    event_type: &str,
    event_id: &str,
    body: Value,
) -> Result<()> {
    let app = ctx.engine.app(&bot.org_id, &bot.app_id).await?.ok_or_else(Error::not_found)?;
    let msg = NewMessage {
        event_type: event_type.into(),
        event_id: Some(event_id.to_string()),
        channels: None,
        payload: serde_json::value::to_raw_value(&body).map_err(Error::internal)?,
        deliver_at: None,
        only_endpoint: bot.endpoint_id.clone(),
        id: Some(webhook_id),
        payload_retention: None,
    };
    match ctx.engine.publish(&app, msg).await {
        // The same event given twice by an outside platform: the bot has it already.
        Err(Error::Http { status, .. }) if status == axum::http::StatusCode::CONFLICT => Ok(()),
        other => other.map(|_| ()),
    }
}

async fn to_platform(ctx: &ApiContext, ev: &Event<'_>, event_id: &str, timestamp: &str) -> Result<()> {
    let Some(app) = ctx.engine.app(ev.org, PLATFORM_APP_UID).await? else { return Ok(()) };
    let body = json!({
        "event_id": event_id, "event_type": ev.event_type, "timestamp": timestamp,
        "channel": ev.channel, "sender": ev.sender, "payload": ev.payload,
    });
    let msg = NewMessage {
        event_type: ev.event_type.into(),
        event_id: Some(event_id.to_string()),
        channels: None,
        payload: serde_json::value::to_raw_value(&body).map_err(Error::internal)?,
        deliver_at: None,
        only_endpoint: None,
        id: None,
        payload_retention: None,
    };
    match ctx.engine.publish(&app, msg).await {
        Err(Error::Http { status, .. }) if status == axum::http::StatusCode::CONFLICT => Ok(()),
        other => other.map(|_| ()),
    }
}
