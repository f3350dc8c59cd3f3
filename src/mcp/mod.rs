//! The Model Context Protocol face: hookd's timers, messages, deliveries and inbound events as MCP tools and
//! resources, for agents. `hookd mcp` speaks stdio to a desktop assistant and calls a running hookd over HTTP;
//! `hookd serve` offers the streamable HTTP transport at `/mcp`, behind the same bearer tokens.
//!
//! Every tool is a call to hookd's own HTTP API with the caller's token ([`client`]): over stdio that is the only
//! way in, and at `/mcp` the server calls itself on loopback. One implementation serves both transports, and a
//! tool can reach only what the token's organization can — the API enforces tenancy exactly as for any client.

pub mod client;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::{Peer, RequestContext};
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::ApiContext;
use client::{seg, ApiClient, ApiError};

/// A captured request whose signature `verify_signature` checks.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub provider: String,
    pub secret: String,
    /// `name: value` lines.
    pub headers: Vec<String>,
    pub url: String,
    pub tolerance: Option<u64>,
    pub body: String,
}

/// Checks a [`SignedRequest`] with the verifiers of `hookd verify`; the assembly hands it in, so that this face
/// does not reach into the inbound gateway that owns them.
pub type Verifier = fn(SignedRequest) -> Result<(), String>;

/// The MCP server: one per session.
#[derive(Clone)]
pub struct HookdMcp {
    api: ApiClient,
    /// The token of `hookd mcp`; at `/mcp` each request brings its own.
    token: Option<String>,
    verify: Verifier,
    /// Resource subscriptions of this session, by URI.
    watches: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
    tool_router: ToolRouter<Self>,
}

fn text(v: impl Into<String>) -> ContentBlock {
    ContentBlock::text(v.into())
}

/// The tool's answer: hookd's JSON, or an error an agent can act on.
fn answer(r: Result<Value, ApiError>) -> CallToolResult {
    match r {
        Ok(v) => CallToolResult::success(vec![text(serde_json::to_string_pretty(&v).unwrap_or_default())]),
        Err(e) => CallToolResult::error(vec![text(e.0)]),
    }
}

fn bad(msg: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![text(msg)])
}

/// Drops `null` members so that the API applies its own defaults.
fn object(pairs: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        pairs.into_iter().filter_map(|(k, v)| v.filter(|v| !v.is_null()).map(|v| (k.to_string(), v))).collect(),
    )
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateTimer {
    /// A name to recognise the timer by, e.g. "deployment reminder".
    pub name: Option<String>,
    /// How long until it fires: "30s", "15m", "2h", "1d", or milliseconds. Optional when `every` or `cron` is given.
    pub duration: Option<Value>,
    /// Recurring: fire every period ("5m", "1h", or milliseconds).
    pub every: Option<Value>,
    /// Recurring: a cron expression (5 fields, or 6 with seconds), read in `timezone`.
    pub cron: Option<String>,
    /// IANA time zone for `cron`, e.g. "Europe/Paris" (UTC by default).
    pub timezone: Option<String>,
    /// A recurring timer stops after this many runs.
    pub max_runs: Option<i64>,
    /// The agent the timer belongs to (a filter for list_timers).
    pub agent_id: Option<String>,
    /// The project the timer belongs to (a filter for list_timers).
    pub project_id: Option<String>,
    /// Free-form JSON kept with the timer.
    pub metadata: Option<Value>,
    /// URL that receives a signed `timer_expired` webhook when the timer fires.
    pub webhook: Option<String>,
    /// A message carried in the expiry webhook.
    pub message: Option<String>,
    /// JSON carried in the expiry webhook.
    pub data: Option<Value>,
    /// The full MINOOTS `events` object (`on_expire`, `on_progress` with `webhook` and `intervals`); when given,
    /// `webhook`, `message` and `data` are ignored.
    pub events: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TimerId {
    /// The timer's id (`timer_…`), as create_timer or list_timers return it.
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CancelTimer {
    /// The timer's id.
    pub id: String,
    /// Why it is cancelled; sent in the `timer_cancelled` webhook.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListTimers {
    /// running, paused, expired or cancelled.
    pub status: Option<String>,
    pub agent_id: Option<String>,
    pub project_id: Option<String>,
    /// At most this many (newest first; 50 by default).
    pub limit: Option<u64>,
    /// The `iterator` of the previous page.
    pub iterator: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct QuickWait {
    /// How long: "30s", "15m", "2h", "1d", or milliseconds.
    pub duration: Value,
    /// URL that receives the expiry webhook.
    pub webhook: Option<String>,
    pub message: Option<String>,
    pub data: Option<Value>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AppRef {
    /// The application: its id (`app_…`) or its uid.
    pub application: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DestinationRef {
    /// The application: its id (`app_…`) or its uid.
    pub application: String,
    /// The destination's id (`dst_…`) or uid, as list_destinations returns it.
    pub destination_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendMessage {
    /// The application: its id (`app_…`) or its uid.
    pub application: String,
    /// The event type, e.g. "invoice.paid".
    pub event_type: String,
    /// The JSON payload every subscribed endpoint receives.
    pub payload: Value,
    /// An idempotency key: a second message with the same one is not sent again.
    pub event_id: Option<String>,
    /// Channels to send on; endpoints filtered by channel only get messages on theirs.
    pub channels: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct MessageRef {
    /// The application: its id or uid.
    pub application: String,
    /// The message's id (`msg_…`) or its event id.
    pub message_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FailedDeliveries {
    /// The application: its id or uid.
    pub application: String,
    /// Only this endpoint (id or uid); all of the application's endpoints when absent.
    pub endpoint_id: Option<String>,
    /// At most this many attempts per endpoint (20 by default).
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Resend {
    pub application: String,
    pub message_id: String,
    /// The endpoint to send the message to again.
    pub endpoint_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Recover {
    pub application: String,
    pub endpoint_id: String,
    /// Resend every message that failed to reach the endpoint since this time (RFC 3339, e.g.
    /// "2026-01-31T12:00:00Z").
    pub since: String,
    /// Up to this time (RFC 3339); now when absent.
    pub until: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct InboundEvents {
    /// The inbound registration (`whin_…`); without it, the registrations are listed so that you can pick one.
    pub registration_id: Option<String>,
    /// At most this many events (newest first).
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReplayInbound {
    pub registration_id: String,
    /// The inbound event to deliver to its destination again.
    pub event_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct VerifySignature {
    /// The secret the sender signs with (an endpoint's `whsec_…`, a provider's signing secret).
    pub secret: String,
    /// How the request is signed: "standardwebhooks" (hookd, Svix; the default) or an inbound provider:
    /// "github", "stripe", "slack", "shopify", "twilio", "discord", …
    pub provider: Option<String>,
    /// The request's headers, name to value.
    pub headers: HashMap<String, String>,
    /// The raw body, exactly as received.
    pub body: String,
    /// The URL the request was sent to (Twilio signs it).
    pub url: Option<String>,
    /// Accept a timestamp this many seconds away from now (for an older captured request).
    pub tolerance_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Watch {
    /// A resource URI: `hookd://timers/{id}` or `hookd://apps/{app}/messages/{id}`.
    pub uri: String,
}

#[tool_router]
impl HookdMcp {
    pub fn new(api: ApiClient, token: Option<String>, verify: Verifier) -> Self {
        HookdMcp { api, token, verify, watches: Default::default(), tool_router: Self::tool_router() }
    }

    /// The caller's token: `hookd mcp`'s own, or the one on the HTTP request that carried this call.
    fn token(&self, ctx: &RequestContext<RoleServer>) -> Result<String, ApiError> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| crate::api::auth::token_of(&p.headers).map(str::to_string))
            .ok_or_else(|| ApiError("no bearer token on this request".into()))
    }

    async fn call(
        &self,
        ctx: &RequestContext<RoleServer>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        self.api.call(&self.token(ctx)?, method, path, body).await
    }

    #[tool(
        description = "Create a timer: a one-shot one (`duration`) or a recurring one (`every` or `cron`). When it \
        fires, hookd POSTs a signed `timer_expired` webhook to `webhook`. Returns the timer with its id; subscribe to \
        hookd://timers/{id} to be told when it fires."
    )]
    async fn create_timer(
        &self,
        Parameters(p): Parameters<CreateTimer>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let events = p.events.unwrap_or_else(|| {
            let expire = object(vec![
                ("webhook", p.webhook.map(Value::from)),
                ("message", p.message.map(Value::from)),
                ("data", p.data),
            ]);
            if expire.as_object().is_some_and(Map::is_empty) {
                json!({})
            } else {
                json!({ "on_expire": expire })
            }
        });
        let body = object(vec![
            ("name", p.name.map(Value::from)),
            ("duration", p.duration),
            ("every", p.every),
            ("cron", p.cron.map(Value::from)),
            ("timezone", p.timezone.map(Value::from)),
            ("maxRuns", p.max_runs.map(Value::from)),
            ("agentId", p.agent_id.map(Value::from)),
            ("projectId", p.project_id.map(Value::from)),
            ("metadata", p.metadata),
            ("events", Some(events)),
        ]);
        answer(self.call(&ctx, Method::POST, "/timers", Some(&body)).await.map(|v| v["timer"].clone()))
    }

    #[tool(description = "A timer with its status (running, paused, expired, cancelled), time remaining and progress.")]
    async fn get_timer(&self, Parameters(p): Parameters<TimerId>, ctx: RequestContext<RoleServer>) -> CallToolResult {
        answer(self.call(&ctx, Method::GET, &format!("/timers/{}", seg(&p.id)), None).await.map(|v| v["timer"].clone()))
    }

    #[tool(description = "List timers, newest first, optionally filtered by status, agent_id and project_id.")]
    async fn list_timers(
        &self,
        Parameters(p): Parameters<ListTimers>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let q = query(&[
            ("status", p.status),
            ("agent_id", p.agent_id),
            ("project_id", p.project_id),
            ("limit", p.limit.map(|l| l.to_string())),
            ("iterator", p.iterator),
        ]);
        answer(self.call(&ctx, Method::GET, &format!("/timers{q}"), None).await)
    }

    #[tool(description = "Cancel a running or paused timer; its webhook gets `timer_cancelled`.")]
    async fn cancel_timer(
        &self,
        Parameters(p): Parameters<CancelTimer>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let body = object(vec![("reason", p.reason.map(Value::from))]);
        let path = format!("/timers/{}", seg(&p.id));
        answer(self.call(&ctx, Method::DELETE, &path, Some(&body)).await.map(|v| v["timer"].clone()))
    }

    #[tool(description = "Pause a running timer: it does not fire until resumed.")]
    async fn pause_timer(&self, Parameters(p): Parameters<TimerId>, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let path = format!("/timers/{}/pause", seg(&p.id));
        answer(self.call(&ctx, Method::POST, &path, None).await.map(|v| v["timer"].clone()))
    }

    #[tool(description = "Resume a paused timer; its expiry moves later by the time it spent paused.")]
    async fn resume_timer(
        &self,
        Parameters(p): Parameters<TimerId>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = format!("/timers/{}/resume", seg(&p.id));
        answer(self.call(&ctx, Method::POST, &path, None).await.map(|v| v["timer"].clone()))
    }

    #[tool(description = "A plain delay: a timer that only POSTs to `webhook` when `duration` has passed.")]
    async fn quick_wait(
        &self,
        Parameters(p): Parameters<QuickWait>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let body = object(vec![
            ("duration", Some(p.duration)),
            ("webhook", p.webhook.map(Value::from)),
            ("message", p.message.map(Value::from)),
            ("data", p.data),
            ("name", p.name.map(Value::from)),
        ]);
        answer(self.call(&ctx, Method::POST, "/quick/wait", Some(&body)).await.map(|v| v["timer"].clone()))
    }

    #[tool(description = "Send a webhook message: hookd signs it and delivers it, with retries, to every endpoint of \
        the application subscribed to the event type. Returns the message with its id; read its attempts with \
        get_message, or subscribe to hookd://apps/{application}/messages/{id}.")]
    async fn send_message(
        &self,
        Parameters(p): Parameters<SendMessage>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let body = object(vec![
            ("eventType", Some(Value::from(p.event_type))),
            ("payload", Some(p.payload)),
            ("eventId", p.event_id.map(Value::from)),
            ("channels", p.channels.map(Value::from)),
        ]);
        let path = format!("/api/v1/app/{}/msg", seg(&p.application));
        answer(self.call(&ctx, Method::POST, &path, Some(&body)).await)
    }

    #[tool(description = "A message with its delivery attempts (status success, pending, sending or fail; the \
        endpoint's response code and body).")]
    async fn get_message(
        &self,
        Parameters(p): Parameters<MessageRef>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        answer(self.message_with_attempts(&ctx, &p.application, &p.message_id).await)
    }

    #[tool(description = "Failed delivery attempts of an application (or one endpoint), newest first, each with its \
        message id and endpoint id: pass them to resend, or use recover_endpoint for everything since a time.")]
    async fn list_failed_deliveries(
        &self,
        Parameters(p): Parameters<FailedDeliveries>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let app = seg(&p.application);
        let endpoints = match p.endpoint_id {
            Some(e) => vec![e],
            None => match self.call(&ctx, Method::GET, &format!("/api/v1/app/{app}/endpoint?limit=250"), None).await {
                Ok(v) => ids(&v),
                Err(e) => return answer(Err(e)),
            },
        };
        let limit = p.limit.unwrap_or(20).clamp(1, 250);
        let mut failed = vec![];
        for ep in endpoints {
            let path = format!("/api/v1/app/{app}/attempt/endpoint/{}?status=2&limit={limit}", seg(&ep));
            match self.call(&ctx, Method::GET, &path, None).await {
                Ok(v) => failed.extend(v["data"].as_array().cloned().unwrap_or_default()),
                Err(e) => return answer(Err(e)),
            }
        }
        answer(Ok(json!({ "failed": failed })))
    }

    #[tool(description = "Send a message to an endpoint again (after fixing the endpoint, say).")]
    async fn resend(&self, Parameters(p): Parameters<Resend>, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let path = format!(
            "/api/v1/app/{}/msg/{}/endpoint/{}/resend",
            seg(&p.application),
            seg(&p.message_id),
            seg(&p.endpoint_id)
        );
        answer(self.call(&ctx, Method::POST, &path, None).await.map(|_| json!({ "resent": true })))
    }

    #[tool(description = "Resend every message that failed to reach an endpoint since a time (RFC 3339).")]
    async fn recover_endpoint(
        &self,
        Parameters(p): Parameters<Recover>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let body = object(vec![("since", Some(Value::from(p.since))), ("until", p.until.map(Value::from))]);
        let path = format!("/api/v1/app/{}/endpoint/{}/recover", seg(&p.application), seg(&p.endpoint_id));
        answer(self.call(&ctx, Method::POST, &path, Some(&body)).await)
    }

    #[tool(description = "Webhooks hookd received from a provider (GitHub, Stripe, …) on an inbound registration, \
        newest first; without registration_id, the registrations.")]
    async fn list_inbound_events(
        &self,
        Parameters(p): Parameters<InboundEvents>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let q = query(&[("limit", p.limit.map(|l| l.to_string()))]);
        let path = match p.registration_id {
            Some(r) => format!("/webhooks/{}/events{q}", seg(&r)),
            None => format!("/webhooks{q}"),
        };
        answer(self.call(&ctx, Method::GET, &path, None).await)
    }

    #[tool(description = "An application's destinations: consumers of its events in order and in batches (a FIFO \
        endpoint, a polling endpoint, a broker, a database or a queue). Each has its type, config (secrets masked), \
        status (enabled, retrying or disabled), lag (events committed after its cursor), failureReason and \
        nextRetryAt.")]
    async fn list_destinations(
        &self,
        Parameters(p): Parameters<AppRef>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = format!("/api/v1/app/{}/destination?limit=250", seg(&p.application));
        answer(self.call(&ctx, Method::GET, &path, None).await.map(|v| json!({ "destinations": v["data"] })))
    }

    #[tool(description = "Try a retrying destination's failed batch now rather than at its nextRetryAt (after \
        fixing its receiver, say). Its order is kept: nothing after that batch goes before it.")]
    async fn retry_destination(
        &self,
        Parameters(p): Parameters<DestinationRef>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = format!("/api/v1/app/{}/destination/{}/force-retry", seg(&p.application), seg(&p.destination_id));
        answer(self.call(&ctx, Method::POST, &path, None).await.map(|_| json!({ "retrying": true })))
    }

    #[tool(description = "Deliver a received inbound event to its registration's destination again.")]
    async fn replay_inbound_event(
        &self,
        Parameters(p): Parameters<ReplayInbound>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = format!("/webhooks/{}/events/{}/replay", seg(&p.registration_id), seg(&p.event_id));
        answer(self.call(&ctx, Method::POST, &path, None).await)
    }

    #[tool(description = "Check a captured webhook request's signature with hookd's verifiers (the same as `hookd \
        verify`): Standard Webhooks (hookd, Svix) or a provider's scheme.")]
    async fn verify_signature(&self, Parameters(p): Parameters<VerifySignature>) -> CallToolResult {
        let req = SignedRequest {
            provider: p.provider.unwrap_or_else(|| "standardwebhooks".into()),
            secret: p.secret,
            headers: p.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect(),
            url: p.url.unwrap_or_default(),
            tolerance: p.tolerance_seconds,
            body: p.body,
        };
        match (self.verify)(req) {
            Ok(()) => CallToolResult::success(vec![text("verified: the signature is valid")]),
            Err(e) => bad(e),
        }
    }

    #[tool(description = "Be told (notifications/resources/updated) when a timer fires or changes state, or when a \
        message's delivery attempts change: `uri` is hookd://timers/{id} or hookd://apps/{app}/messages/{id}. The \
        same as resources/subscribe, for clients that cannot send it.")]
    async fn watch(&self, Parameters(p): Parameters<Watch>, ctx: RequestContext<RoleServer>) -> CallToolResult {
        match self.start_watch(&p.uri, &ctx).await {
            Ok(()) => CallToolResult::success(vec![text(format!("watching {}", p.uri))]),
            Err(e) => bad(e.0),
        }
    }
}

/// The ids in a list answer (`data` for the Svix-shaped API).
fn ids(v: &Value) -> Vec<String> {
    v["data"].as_array().into_iter().flatten().filter_map(|e| e["id"].as_str().map(str::to_string)).collect()
}

/// What a resource URI names.
enum Uri<'a> {
    App(&'a str),
    Endpoint(&'a str, &'a str),
    Message(&'a str, &'a str),
    Timer(&'a str),
}

fn parse_uri(uri: &str) -> Option<Uri<'_>> {
    let parts: Vec<&str> = uri.strip_prefix("hookd://")?.split('/').collect();
    match parts.as_slice() {
        ["apps", a] => Some(Uri::App(a)),
        ["apps", a, "endpoints", e] => Some(Uri::Endpoint(a, e)),
        ["apps", a, "messages", m] => Some(Uri::Message(a, m)),
        ["timers", t] => Some(Uri::Timer(t)),
        _ => None,
    }
    .filter(|u| match u {
        Uri::App(a) | Uri::Timer(a) => !a.is_empty(),
        Uri::Endpoint(a, b) | Uri::Message(a, b) => !a.is_empty() && !b.is_empty(),
    })
}

const URI_HELP: &str =
    "hookd://apps/{app}, hookd://apps/{app}/endpoints/{id}, hookd://apps/{app}/messages/{id} or hookd://timers/{id}";

impl HookdMcp {
    async fn message_with_attempts(
        &self,
        ctx: &RequestContext<RoleServer>,
        app: &str,
        msg: &str,
    ) -> Result<Value, ApiError> {
        let (app, msg) = (seg(app), seg(msg));
        let message = self.call(ctx, Method::GET, &format!("/api/v1/app/{app}/msg/{msg}"), None).await?;
        let id = message["id"].as_str().map(seg).unwrap_or(msg);
        let attempts =
            self.call(ctx, Method::GET, &format!("/api/v1/app/{app}/attempt/msg/{id}?limit=250"), None).await?;
        Ok(json!({ "message": message, "attempts": attempts["data"] }))
    }

    /// The JSON document a resource URI names.
    async fn read(&self, ctx: &RequestContext<RoleServer>, uri: &str) -> Result<Value, ApiError> {
        match parse_uri(uri) {
            Some(Uri::App(a)) => {
                let app = self.call(ctx, Method::GET, &format!("/api/v1/app/{}", seg(a)), None).await?;
                let endpoints = self.call(ctx, Method::GET, &format!("/api/v1/app/{}/endpoint", seg(a)), None).await?;
                Ok(json!({ "application": app, "endpoints": endpoints["data"] }))
            }
            Some(Uri::Endpoint(a, e)) => {
                self.call(ctx, Method::GET, &format!("/api/v1/app/{}/endpoint/{}", seg(a), seg(e)), None).await
            }
            Some(Uri::Message(a, m)) => self.message_with_attempts(ctx, a, m).await,
            Some(Uri::Timer(t)) => {
                Ok(self.call(ctx, Method::GET, &format!("/timers/{}", seg(t)), None).await?["timer"].clone())
            }
            None => Err(ApiError(format!("unknown resource {uri:?}: expected {URI_HELP}"))),
        }
    }

    /// What a watched resource is now, reduced to what a change is noticed by, and whether it can change no more.
    async fn fingerprint(&self, token: &str, uri: &str) -> Result<(String, bool), ApiError> {
        match parse_uri(uri) {
            Some(Uri::Timer(t)) => {
                let v = self.api.call(token, Method::GET, &format!("/timers/{}", seg(t)), None).await?;
                let status = v["timer"]["status"].as_str().unwrap_or_default().to_string();
                let done = status == "expired" || status == "cancelled";
                Ok((format!("{status}/{}", v["timer"]["runs"]), done))
            }
            Some(Uri::Message(a, m)) => {
                let path = format!("/api/v1/app/{}/attempt/msg/{}?limit=250", seg(a), seg(m));
                let v = self.api.call(token, Method::GET, &path, None).await?;
                let seen: Vec<String> = v["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| format!("{}:{}", a["id"].as_str().unwrap_or_default(), a["status"]))
                    .collect();
                Ok((seen.join(","), false))
            }
            _ => Err(ApiError(format!(
                "cannot watch {uri:?}: expected hookd://timers/{{id}} or hookd://apps/{{app}}/messages/{{id}}"
            ))),
        }
    }

    /// Watches `uri` for this session: hookd's API is read every half second (it is the same for both
    /// transports), and `notifications/resources/updated` goes out on each change until the resource can change
    /// no more, the client unsubscribes, or the session ends.
    async fn start_watch(&self, uri: &str, ctx: &RequestContext<RoleServer>) -> Result<(), ApiError> {
        let token = self.token(ctx)?;
        // Checked now, so that an unknown or another organization's resource is refused at once.
        let (mut last, mut done) = self.fingerprint(&token, uri).await?;
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(old) = self.watches.lock().expect("watches").insert(uri.to_string(), stop.clone()) {
            old.store(true, Ordering::Relaxed);
        }
        let (this, uri, peer): (Self, String, Peer<RoleServer>) = (self.clone(), uri.to_string(), ctx.peer.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
            while !done && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok((now, finished)) = this.fingerprint(&token, &uri).await else { continue };
                done = finished;
                if now != last {
                    last = now;
                    if peer
                        .notify_resource_updated(rmcp::model::ResourceUpdatedNotificationParam::new(uri.clone()))
                        .await
                        .is_err()
                    {
                        return; // the session is gone
                    }
                }
            }
            this.watches.lock().expect("watches").remove(&uri);
        });
        Ok(())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for HookdMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder().enable_tools().enable_resources().enable_resources_subscribe().build(),
        )
        .with_server_info(Implementation::new("hookd", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "hookd schedules timers, sends signed webhooks with retries, and receives providers' webhooks. \
                 Create timers with create_timer, send webhooks with send_message, and follow a timer or a message \
                 by subscribing to its resource (hookd://timers/{id}, hookd://apps/{app}/messages/{id}).",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut out = vec![];
        let apps = self.call(&ctx, Method::GET, "/api/v1/app?limit=50", None).await.map_err(internal)?;
        for app in apps["data"].as_array().into_iter().flatten() {
            let id = app["id"].as_str().unwrap_or_default();
            let name = app["name"].as_str().unwrap_or(id);
            out.push(json_resource(format!("hookd://apps/{id}"), format!("application {name}")));
            let eps = self
                .call(&ctx, Method::GET, &format!("/api/v1/app/{id}/endpoint?limit=50"), None)
                .await
                .map_err(internal)?;
            for ep in eps["data"].as_array().into_iter().flatten() {
                let eid = ep["id"].as_str().unwrap_or_default();
                let url = ep["url"].as_str().unwrap_or_default();
                out.push(json_resource(
                    format!("hookd://apps/{id}/endpoints/{eid}"),
                    format!("endpoint {url} of {name}"),
                ));
            }
        }
        let timers = self.call(&ctx, Method::GET, "/timers?limit=50", None).await.map_err(internal)?;
        for t in timers["timers"].as_array().into_iter().flatten() {
            let id = t["id"].as_str().unwrap_or_default();
            let label = format!("timer {} ({})", t["name"].as_str().unwrap_or(id), t["status"].as_str().unwrap_or(""));
            out.push(json_resource(format!("hookd://timers/{id}"), label));
        }
        Ok(ListResourcesResult::with_all_items(out))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let t = |uri: &str, name: &str| ResourceTemplate::new(uri, name).with_mime_type("application/json");
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            t("hookd://apps/{app}", "An application and its endpoints"),
            t("hookd://apps/{app}/endpoints/{endpoint}", "An endpoint"),
            t("hookd://apps/{app}/messages/{message}", "A message and its delivery attempts"),
            t("hookd://timers/{timer}", "A timer"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let v = self.read(&ctx, &request.uri).await.map_err(|e| ErrorData::resource_not_found(e.0, None))?;
        let body = serde_json::to_string_pretty(&v).unwrap_or_default();
        let contents = ResourceContents::TextResourceContents {
            uri: request.uri,
            mime_type: Some("application/json".into()),
            text: body,
            meta: None,
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    #[allow(deprecated)] // resources/subscribe is what the clients of protocol versions up to 2025-11-25 send
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.start_watch(&request.uri, &ctx).await.map_err(|e| ErrorData::invalid_params(e.0, None))
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Some(stop) = self.watches.lock().expect("watches").remove(&request.uri) {
            stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn json_resource(uri: String, name: String) -> Resource {
    Resource::new(uri, name).with_mime_type("application/json")
}

fn internal(e: ApiError) -> ErrorData {
    ErrorData::internal_error(e.0, None)
}

/// `hookd mcp`: serves one assistant on standard input and output, calling the hookd at `url` with `token`.
pub async fn serve_stdio(url: &str, token: String, verify: Verifier) -> anyhow::Result<()> {
    let server = HookdMcp::new(ApiClient::new(url), Some(token), verify);
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

/// Where `/mcp` calls the API: the server itself, on loopback.
pub struct McpState {
    pub api_base: String,
    pub verify: Verifier,
}

/// `/mcp`: the streamable HTTP transport, for requests with a valid token (401 otherwise, as the API answers).
pub fn router(ctx: &ApiContext) -> axum::Router<ApiContext> {
    use rmcp::transport::streamable_http_server::{
        session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
    };
    let state = ctx.parts.get::<McpState>();
    let (api, verify) = (ApiClient::new(&state.api_base), state.verify);
    // The Host check guards unauthenticated local servers against DNS rebinding; every request here carries a
    // bearer token a rebinding page cannot have, and hookd answers on whatever name it is published under.
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    // A session that only waits for a watched timer sends nothing meanwhile: it is kept an hour idle, not the
    // SDK's five minutes, before it is taken for abandoned.
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(Duration::from_secs(3600));
    let service: StreamableHttpService<HookdMcp, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(HookdMcp::new(api.clone(), None, verify)), Arc::new(sessions), config);
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(ctx.clone(), authenticate))
}

async fn authenticate(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    if let Err(e) = crate::api::auth::org_for(&ctx, req.headers()).await {
        return e.into_response();
    }
    let ending = req.method() == axum::http::Method::DELETE;
    let mut resp = next.run(req).await;
    // The transport ends a session with 202; the specification's clients (the official Python one) take only 200
    // or 204 for an ended session and report the rest as a failure.
    if ending && resp.status() == axum::http::StatusCode::ACCEPTED {
        *resp.status_mut() = axum::http::StatusCode::OK;
    }
    resp
}
