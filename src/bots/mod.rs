//! Bots (seed 003): the chat platform's bot integration, run on a small built-in chat store. Every outgoing
//! webhook is a delivery of the engine: each bot is an engine application with one endpoint signed with the
//! seed's `X-Webhook-Signature`, retried on the seed's schedule, dead-lettered after it. A bot's direct answer to
//! a delivery comes back through the engine's [`ResponseHandler`](crate::engine::ResponseHandler).
//!
//! * [`registry`] — the admin API: bots, tokens, installation, users, and events from an outside platform.
//! * [`chat`] — the REST API of the seed's table (messages, channels, users, reactions, files).
//! * [`interact`] — incoming webhooks, slash commands, button clicks, modals, response URLs and direct answers.
//! * [`deliver`] — who gets an event, and its payload.
//!
//! The API is described in `docs/bots.md`.

pub mod chat;
pub mod deliver;
pub mod interact;
pub mod model;
pub mod registry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use utoipa_axum::router::OpenApiRouter;

use crate::api::extract::ValidJson;
use crate::api::ApiContext;
use crate::error::Error;
use crate::ratelimit::RateWindow;
use crate::store::{now_ms, Page};
use model::{Bot, ChatUser};

/// What the bots face keeps in memory.
pub struct BotsState {
    /// `trigger_id` → what it may open a modal for; short-lived and single-use, so not stored.
    triggers: moka::sync::Cache<String, Trigger>,
    /// Deliveries whose direct answer someone is waiting for (a command's invoker), by message id.
    waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// Each organization's bots: every event looks them up.
    bots: moka::sync::Cache<String, Arc<Vec<Arc<Bot>>>>,
}

#[derive(Debug, Clone)]
struct Trigger {
    org_id: String,
    bot_id: String,
    user_id: String,
    channel_id: String,
}

const TRIGGER_TTL: Duration = Duration::from_secs(30);

impl Default for BotsState {
    fn default() -> Self {
        BotsState {
            triggers: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(TRIGGER_TTL).build(),
            waiting: Mutex::new(HashMap::new()),
            bots: moka::sync::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(5)).build(),
        }
    }
}

/// The bots face's state, registered in [`AppState::parts`](crate::api::AppState::parts) by the server.
pub fn state(ctx: &ApiContext) -> &BotsState {
    ctx.parts.get()
}

impl BotsState {
    /// The organization's bots (cached; every change calls [`BotsState::changed`]).
    pub async fn of_org(&self, ctx: &ApiContext, org: &str) -> crate::error::Result<Arc<Vec<Arc<Bot>>>> {
        if let Some(bots) = self.bots.get(org) {
            return Ok(bots);
        }
        let page = Page { limit: 100_000, iterator: None, reverse: false, descending: false };
        let bots: Arc<Vec<Arc<Bot>>> =
            Arc::new(ctx.store.list::<Bot>(org, "", &page).await?.into_iter().map(Arc::new).collect());
        self.bots.insert(org.to_string(), bots.clone());
        Ok(bots)
    }

    /// Registers interest in the direct answer to delivery `msg_id`.
    fn wait_for(&self, msg_id: &str) -> oneshot::Receiver<Value> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("waiting").insert(msg_id.to_string(), tx);
        rx
    }

    fn stop_waiting(&self, msg_id: &str) {
        self.waiting.lock().expect("waiting").remove(msg_id);
    }

    /// Hands a delivery's answer (or null) to whoever waits for it.
    fn answered(&self, msg_id: &str, answer: Value) {
        if let Some(tx) = self.waiting.lock().expect("waiting").remove(msg_id) {
            let _ = tx.send(answer);
        }
    }

    pub fn changed(&self, org: &str) {
        self.bots.invalidate(org);
    }

    /// Changes were missed (the store's change feed was interrupted): no cached bot can be trusted.
    pub fn all_changed(&self) {
        self.bots.invalidate_all();
    }
}

/// Counts one request of `kind` against the bot's tier, refusing it over the limit.
pub async fn count(ctx: &ApiContext, bot: &Bot, kind: &str) -> Result<RateWindow, Fail> {
    let w = take(ctx, bot, kind).await?;
    if w.allowed {
        Ok(w)
    } else {
        Err(Fail::rate_limited(w))
    }
}

/// Counts one request of `kind` (`messages`, `api`, `webhooks`) against the bot's tier, in the store, so that
/// the tier holds for every node.
pub async fn take(ctx: &ApiContext, bot: &Bot, kind: &str) -> Result<RateWindow, Fail> {
    let (messages, api, webhooks) = model::tier_limits(&bot.tier);
    let limit = match kind {
        "messages" => messages,
        "api" => api,
        _ => webhooks,
    };
    Ok(ctx.store.rate_window(&format!("bot:{}:{kind}", bot.id), limit, now_ms() / 1000).await?)
}

// ── errors: the seed's `{ok: false, error}` ──

/// An answer refusing a bots request: `{"ok": false, "error": …}` (plus `detail`, `usage`, `retry_after`).
#[derive(Debug)]
pub struct Fail {
    status: StatusCode,
    body: Value,
    window: Option<RateWindow>,
}

/// An error answer of the bots face, as the OpenAPI document shows it (the seed's `{ok: false, error}`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // only described; answers are made by `Fail`
pub struct BotError {
    ok: bool,
    error: String,
}

/// The client errors of every bots operation, for `responses(...)` in the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[response(status = "4XX", description = "`{ok: false, error}`")]
#[allow(dead_code)]
pub struct BotFailure(BotError);

impl Fail {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Fail {
        Fail { status, body: json!({ "ok": false, "error": error.into() }), window: None }
    }
    pub fn invalid(detail: impl Into<String>) -> Fail {
        Fail::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_arguments").with("detail", detail.into())
    }
    pub fn forbidden(error: impl Into<String>) -> Fail {
        Fail::new(StatusCode::FORBIDDEN, error)
    }
    pub fn not_found(error: &str) -> Fail {
        Fail::new(StatusCode::NOT_FOUND, error)
    }
    pub fn missing_scope(scope: &str) -> Fail {
        Fail::forbidden(format!("missing scope: {scope}"))
    }
    pub fn rate_limited(window: RateWindow) -> Fail {
        let retry_after = window.retry_after(now_ms() / 1000);
        Fail {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({ "ok": false, "error": "rate_limited", "retry_after": retry_after }),
            window: Some(window),
        }
    }
    /// Carries the rate headers of `w`, unless it has its own (a refusal over another limit).
    pub fn or_window(mut self, w: RateWindow) -> Fail {
        self.window.get_or_insert(w);
        self
    }
    pub fn is_conflict(&self) -> bool {
        self.status == StatusCode::CONFLICT
    }
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Fail {
        self.body[key] = value.into();
        self
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body)).into_response();
        if let Some(w) = self.window {
            w.set_headers(resp.headers_mut(), now_ms() / 1000);
        }
        resp
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        match e {
            Error::Http { status, code, detail } => Fail::new(status, code).with("detail", detail),
            Error::Validation(items) => Fail::invalid(
                items.iter().map(|i| format!("{}: {}", i.loc.join("."), i.msg)).collect::<Vec<_>>().join("; "),
            ),
            Error::RateLimited { retry_after_secs } => {
                Fail::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited").with("retry_after", retry_after_secs)
            }
            Error::Internal(e) => {
                tracing::error!(error = ?e, "bots request failed");
                Fail::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        }
    }
}

impl From<crate::store::StoreError> for Fail {
    fn from(e: crate::store::StoreError) -> Fail {
        Error::from(e).into()
    }
}

pub type Reply = Result<Response, Fail>;

pub fn ok(body: Value) -> Reply {
    Ok(Json(body).into_response())
}

/// A JSON body whose refusals (malformed, wrong shape, too large) are `{ok: false}` answers.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Fail;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match ValidJson::<T>::from_request(req, state).await {
            Ok(ValidJson(v)) => Ok(Body(v)),
            Err(Error::Http { status, detail, .. }) if status == StatusCode::BAD_REQUEST => {
                Err(Fail::new(status, "invalid_json").with("detail", detail))
            }
            Err(e) => Err(e.into()),
        }
    }
}

// ── who is calling ──

/// The caller of a bots route: the platform's operator (an hookd API token), a bot, or a user.
#[derive(Debug, Clone)]
pub enum Actor {
    Admin { org: String },
    Bot { org: String, bot: Arc<Bot> },
    User { org: String, user: Arc<ChatUser> },
}

impl Actor {
    pub fn org(&self) -> &str {
        match self {
            Actor::Admin { org } | Actor::Bot { org, .. } | Actor::User { org, .. } => org,
        }
    }

    /// The chat user acting: the bot's user, or the user. Admins act as nobody.
    pub async fn chat_user(&self, ctx: &ApiContext) -> Result<Arc<ChatUser>, Fail> {
        match self {
            Actor::User { user, .. } => Ok(user.clone()),
            Actor::Bot { org, bot } => Ok(Arc::new(
                ctx.store
                    .get::<ChatUser>(org, "", &bot.bot_user_id)
                    .await?
                    .ok_or_else(|| Fail::not_found("user_not_found"))?,
            )),
            Actor::Admin { .. } => Err(Fail::forbidden("a bot or user token is needed")),
        }
    }

    /// Refuses a bot without `scope` (users and admins have every scope).
    pub fn need(&self, scope: &str) -> Result<(), Fail> {
        match self {
            Actor::Bot { bot, .. } if !bot.has_scope(scope) => Err(Fail::missing_scope(scope)),
            _ => Ok(()),
        }
    }

    pub fn admin(&self) -> Result<&str, Fail> {
        match self {
            Actor::Admin { org } => Ok(org),
            _ => Err(Fail::forbidden("an admin token is needed")),
        }
    }

    /// The person acting, for what only people do (join, react, invoke commands, click).
    pub fn user(&self) -> Result<&Arc<ChatUser>, Fail> {
        match self {
            Actor::User { user, .. } => Ok(user),
            _ => Err(Fail::forbidden("a user token is needed")),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

/// The seed's `ValidateBotToken`: prefix, bot id, hash (the current one, or the previous one in its grace
/// period), status.
pub async fn validate_bot_token(ctx: &ApiContext, token: &str) -> Result<Arc<Bot>, Fail> {
    let invalid = || Fail::new(StatusCode::UNAUTHORIZED, "invalid_auth");
    let rest = token.strip_prefix("xbot-").ok_or_else(invalid)?;
    let bot_id = format!("bot_{}", rest.get(..crate::ids::ID_CHARS).ok_or_else(invalid)?);
    let bot = ctx.store.get_any::<Bot>(&bot_id).await?.ok_or_else(invalid)?;
    let h = model::hash(token);
    let current = model::same_hash(&h, &bot.bot_token_hash);
    let previous = bot.previous_token_valid_until.is_some_and(|until| now_ms() < until)
        && bot.previous_token_hash.as_deref().is_some_and(|p| model::same_hash(&h, p));
    if !current && !previous {
        return Err(invalid());
    }
    if bot.status != "active" {
        return Err(Fail::new(StatusCode::UNAUTHORIZED, format!("bot is {}", bot.status)));
    }
    Ok(Arc::new(bot))
}

async fn actor_for(ctx: &ApiContext, headers: &HeaderMap) -> Result<Actor, Fail> {
    let invalid = || Fail::new(StatusCode::UNAUTHORIZED, "invalid_auth");
    match bearer(headers) {
        Some(t) if t.starts_with("xbot-") => {
            let bot = validate_bot_token(ctx, t).await?;
            Ok(Actor::Bot { org: bot.org_id.clone(), bot })
        }
        Some(t) if t.starts_with("xuser-") => {
            let user_id = format!("usr_{}", t.get(6..6 + crate::ids::ID_CHARS).ok_or_else(invalid)?);
            let user = ctx.store.get_any::<ChatUser>(&user_id).await?.ok_or_else(invalid)?;
            match &user.token_hash {
                Some(h) if model::same_hash(h, &model::hash(t)) => {
                    Ok(Actor::User { org: user.org_id.clone(), user: Arc::new(user) })
                }
                _ => Err(invalid()),
            }
        }
        _ => match crate::api::auth::org_for(ctx, headers).await {
            Ok(org) => Ok(Actor::Admin { org: org.0 }),
            Err(_) => Err(invalid()),
        },
    }
}

/// Authenticates every bots route, counts a bot's API call against its tier, and puts the rate headers on
/// every answer to a bot.
async fn authenticate(State(ctx): State<ApiContext>, mut req: Request, next: Next) -> Response {
    // The organization's own call in process (the dashboard's forms: crate::api::console::Api).
    let actor = match req.extensions().get::<crate::api::auth::OrgId>() {
        Some(org) => Ok(Actor::Admin { org: org.0.clone() }),
        None => actor_for(&ctx, req.headers()).await,
    };
    let actor = match actor {
        Ok(a) => a,
        Err(f) => return f.into_response(),
    };
    let window = match &actor {
        Actor::Bot { bot, .. } => {
            let w = match take(&ctx, bot, "api").await {
                Ok(w) => w,
                Err(f) => return f.into_response(),
            };
            if !w.allowed {
                return Fail::rate_limited(w).into_response();
            }
            Some(w)
        }
        _ => None,
    };
    req.extensions_mut().insert(actor);
    let mut resp = next.run(req).await;
    if let Some(w) = window {
        if !resp.headers().contains_key("x-ratelimit-limit") {
            w.set_headers(resp.headers_mut(), now_ms() / 1000);
        }
    }
    resp
}

/// The public address of a hookd path.
pub fn public(ctx: &ApiContext, path: &str) -> String {
    format!("{}{path}", ctx.cfg.public_url)
}

pub fn router(ctx: ApiContext) -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .merge(registry::router())
        .merge(chat::router())
        .merge(interact::authenticated_router())
        .layer(middleware::from_fn_with_state(ctx, authenticate))
        .merge(interact::hooks_router())
}
