//! The bots screens: bots with their installations, and a bot's outgoing webhooks — messages of the engine
//! application the bot is delivered through, each with its delivery's state and attempts (the message pages of
//! `/ui/apps/…` show them in full). The bots themselves come through [`crate::api::console::BotsConsole`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::pages::{page_context, pager, status_name, time, AttemptView};
use super::{render, Session, UiResult};
use crate::api::console;
use crate::api::pagination::page;
use crate::api::ApiContext;
use crate::error::Error;
use crate::store::{MessageFilter, Page};

/// The newest `n` attempts of a bot's webhooks.
async fn attempts_of(ctx: &ApiContext, org: &str, app_id: &str, n: usize) -> Result<Vec<AttemptView>, Error> {
    Ok(super::live::app_attempts(ctx, org, app_id, None, n).await?.into_iter().map(Into::into).collect())
}

#[derive(Deserialize)]
pub struct BotsParams {
    done: Option<String>,
}

pub async fn bots(State(ctx): State<ApiContext>, session: Session, Query(q): Query<BotsParams>) -> UiResult {
    let mut rows = Vec::new();
    for bot in console::bots(&ctx).bots(&ctx, &session.org).await? {
        let app_id = bot["app_id"].as_str().unwrap_or_default().to_string();
        let last = attempts_of(&ctx, &session.org, &app_id, 1).await?.into_iter().next();
        rows.push(page_context! { bot, last });
    }
    let flash = q.done.as_deref().and_then(super::ops::done_message);
    Ok(render(StatusCode::OK, "bots.html", page_context! { nav => "bots", csrf => session.csrf, bots => rows, flash }))
}

#[derive(Deserialize)]
pub struct BotParams {
    iterator: Option<String>,
    done: Option<String>,
}

pub async fn bot(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<BotParams>,
) -> UiResult {
    let bots = console::bots(&ctx).bots(&ctx, &session.org).await?;
    let bot: Value = bots.into_iter().find(|b| b["bot_id"] == id.as_str()).ok_or_else(|| Error::missing("bot", &id))?;
    let app_id = bot["app_id"].as_str().unwrap_or_default().to_string();
    let page = page(Some(25), q.iterator.as_deref(), true);
    let rows = ctx.store.message_list(&session.org, &app_id, &MessageFilter::default(), &page).await?;
    let (rows, pager) = pager(rows, &page, |m| m.id.clone());
    let one = Page { limit: 1, iterator: None, reverse: false, descending: false };
    let mut webhooks = Vec::with_capacity(rows.len());
    for m in &rows {
        // A bot's application has one endpoint: one delivery per message.
        let d = ctx.store.deliveries_of_message(&session.org, &app_id, &m.id, &one).await?.into_iter().next();
        webhooks.push(page_context! {
            id => m.id, event_type => m.event_type, at => time(m.created_at),
            status => d.as_ref().map(|d| status_name(d.status)), attempts => d.as_ref().map(|d| d.attempts),
        });
    }
    let attempts = attempts_of(&ctx, &session.org, &app_id, 10).await?;
    Ok(render(
        StatusCode::OK,
        "bot.html",
        page_context! { nav => "bots", csrf => session.csrf, bot, app_id, webhooks, pager, attempts,
        flash => q.done.as_deref().and_then(super::ops::done_message) },
    ))
}
