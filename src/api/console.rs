//! What the dashboard shows and does on the inbound, timers and bots faces, which it may not import: each of
//! those faces implements its trait here over its own API logic (the same functions its handlers call), and the
//! server registers the implementations in [`AppState::parts`](super::AppState::parts) as `Arc<dyn …>`.
//! Answers are the API's own JSON, so that the dashboard shows exactly what the API would.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::Method;
use serde_json::Value;

use super::ApiContext;
use crate::error::Result;
use crate::store::{Millis, TimerRecord};

#[async_trait]
pub trait InboundConsole: Send + Sync {
    /// Every registration of `org`, as `GET /webhooks/{id}` answers it, with its `health` (status, counts,
    /// recommendations) as `GET /webhooks/{id}/health` answers it.
    async fn registrations(&self, ctx: &ApiContext, org: &str) -> Result<Vec<Value>>;
    /// One registration, in the same shape; 404 for another organization's.
    async fn registration(&self, ctx: &ApiContext, org: &str, id: &str) -> Result<Value>;
    /// A stored event in full (`GET /webhooks/{id}/events/{event}`), with `verdict`: how its signature checked
    /// when it arrived and whether it still checks against the registration's secrets.
    async fn event(&self, ctx: &ApiContext, org: &str, id: &str, event_id: &str) -> Result<Value>;
    /// Publishes the stored event to the registration's destination again; answers the new message's id.
    async fn replay(&self, ctx: &ApiContext, org: &str, id: &str, event_id: &str) -> Result<String>;
    /// Every provider hookd verifies, for the registration form: `{integrationId, title, secret, usesSecret}`,
    /// `secret` saying where the registration's secret comes from.
    fn providers(&self) -> Vec<Value>;
}

/// What the dashboard can do to a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    Pause,
    Resume,
    Cancel,
}

#[async_trait]
pub trait TimersConsole: Send + Sync {
    /// The timer as `GET /timers/{id}` shows it (status, progress, time remaining, expiry), with
    /// `nextFiringAt` while it runs: its next progress milestone, or its expiry.
    fn view(&self, timer: &TimerRecord, now: Millis) -> Result<Value>;
    /// Pauses, resumes or cancels a timer as the API's routes do (409 when it is not in a state for it).
    async fn act(&self, ctx: &ApiContext, org: &str, id: &str, action: TimerAction) -> Result<Value>;
}

#[async_trait]
pub trait BotsConsole: Send + Sync {
    /// Every bot of `org`, as `GET /api/v1/bots` shows them (no credentials), with `app_id`, the engine
    /// application their outgoing webhooks are messages of.
    async fn bots(&self, ctx: &ApiContext, org: &str) -> Result<Vec<Value>>;
    /// What a bot's form offers: `{scopes, webhook_events, tiers, owner_types}`, the values `BotIn` accepts.
    fn choices(&self) -> Value;
}

/// The HTTP API, called in process as an organization's own token would call it. The dashboard's forms create,
/// change and delete through it, so that what they accept, refuse and store is exactly what the API does.
#[async_trait]
pub trait Api: Send + Sync {
    /// Answers the route's JSON body (`null` for an empty one), or the error the API answers: a 422's `loc`
    /// paths name the body's fields (`["body", "url"]`), which the dashboard shows beside its inputs.
    async fn call(&self, ctx: &ApiContext, org: &str, method: Method, path: &str, body: Option<Value>)
        -> Result<Value>;
}

pub fn api(ctx: &ApiContext) -> &Arc<dyn Api> {
    ctx.parts.get()
}

/// The registered implementations, for the dashboard.
pub fn inbound(ctx: &ApiContext) -> &Arc<dyn InboundConsole> {
    ctx.parts.get()
}

pub fn timers(ctx: &ApiContext) -> &Arc<dyn TimersConsole> {
    ctx.parts.get()
}

pub fn bots(ctx: &ApiContext) -> &Arc<dyn BotsConsole> {
    ctx.parts.get()
}
