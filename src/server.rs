//! Assembles the program: store, engine, workers and the HTTP faces, and stops them gracefully.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, OriginalUri, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, ServiceExt};
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tower::util::MapRequest;
use tower_http::normalize_path::NormalizePath;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::extract::{payload_too_large, BodyLimit};
use crate::api::{ApiContext, AppState, Parts};
use crate::config::Config;
use crate::engine::Engine;
use crate::error::Error;
use crate::shutdown::Shutdown;
use crate::store::{DeliveryJob, DocKind, StoreEvent};

pub struct Server {
    listener: TcpListener,
    ctx: ApiContext,
    ready: mpsc::Receiver<DeliveryJob>,
    /// The admin token generated on first start, when none was configured.
    pub generated_token: Option<String>,
}

impl Server {
    /// Opens (and migrates) the store, makes sure an admin token exists, and binds the listener.
    pub async fn build(mut cfg: Config) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(cfg.listen).await.map_err(|e| bind_error(cfg.listen, e))?;
        if cfg.public_url.is_empty() {
            cfg.public_url = format!("http://{}", listener.local_addr()?);
        }
        let cfg = Arc::new(cfg);
        let opened = crate::store::open(&cfg.database_url, cfg.durability, true).await?;
        let store = match crate::store::sealed::start(opened.clone(), &cfg.keys, &cfg.database_url).await {
            Ok(store) => store,
            Err(e) => {
                // A wrong key stops the start: the node it registered must not look alive to the others.
                let _ = opened.leave().await;
                return Err(e);
            }
        };
        let org = store.default_org().await?;
        let mut generated_token = None;
        if let Some(token) = &cfg.admin_token {
            store.token_insert(crate::api::auth::hash_token(token), &org, "admin").await?;
        } else if store.token_count().await? == 0 {
            let token = crate::api::auth::new_token();
            store.token_insert(crate::api::auth::hash_token(&token), &org, "admin").await?;
            generated_token = Some(token);
        }
        let (engine, ready) = Engine::new(store.clone(), cfg.clone())?;
        engine.set_timer_handler(crate::timers::TIMER, Arc::new(crate::timers::Timers));
        engine.set_timer_handler(crate::inbound::ingest::CRON, Arc::new(crate::inbound::ingest::CronSources));
        let tokens = moka::sync::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(60)).build();
        // Each face's own state, reached by the face through `AppState::parts`.
        let mut parts = Parts::default();
        parts.insert(crate::inbound::Gateway::default());
        parts.insert(crate::inbound::queues::QueueSources::default());
        parts.insert(crate::bots::BotsState::default());
        // What the dashboard shows of the faces it may not import (crate::api::console).
        parts.insert::<Arc<dyn crate::api::console::InboundConsole>>(Arc::new(crate::inbound::Console));
        parts.insert::<Arc<dyn crate::api::console::TimersConsole>>(Arc::new(crate::timers::Console));
        parts.insert::<Arc<dyn crate::api::console::BotsConsole>>(Arc::new(crate::bots::registry::Console));
        parts.insert::<Arc<dyn crate::api::console::Api>>(Arc::new(InProcessApi));
        parts.insert(crate::dashboard::Sessions::default());
        parts.insert(crate::outbound::schema::PayloadSchemas::default());
        parts.insert(crate::api::DefaultOrg(org.clone()));
        parts.insert(crate::mcp::McpState {
            api_base: loopback_url(listener.local_addr()?),
            verify: crate::devtools::verify_signed,
        });
        let ctx = Arc::new(AppState { engine, store, cfg, tokens, parts });
        ctx.engine.set_response_handler(Arc::new(crate::bots::interact::Answers(Arc::downgrade(&ctx))));
        Ok(Server { listener, ctx, ready, generated_token })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub fn context(&self) -> ApiContext {
        self.ctx.clone()
    }

    /// Serves until `shutdown` fires; then stops taking requests, gives those open and the deliveries in flight
    /// `shutdown_grace` to finish, and returns. Work not finished resumes on the next start; on PostgreSQL the
    /// node leaves the cluster, and the other nodes take that work over at once.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let engine = self.ctx.engine.clone();
        let store = self.ctx.store.clone();
        let grace = self.ctx.cfg.shutdown_grace;
        let dispatcher = tokio::spawn(engine.clone().run_dispatcher(self.ready, shutdown.clone()));
        let scheduler = tokio::spawn(engine.clone().run_scheduler(shutdown.clone()));
        let destinations = tokio::spawn(engine.clone().run_destinations(shutdown.clone()));
        let retention = tokio::spawn(engine.run_retention(shutdown.clone()));
        let queue_sources = tokio::spawn(crate::inbound::queues::run(self.ctx.clone(), shutdown.clone()));
        if let Some(events) = self.ctx.store.events() {
            tokio::spawn(follow_store_events(self.ctx.clone(), events, shutdown.clone()));
        }
        let app = trim_trailing_slashes(router(self.ctx));
        let stop = shutdown.clone();
        // With the peer's address: the inbound gateway keeps it with the requests it refuses.
        let app = ServiceExt::<Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(app);
        let serve = axum::serve(self.listener, app).with_graceful_shutdown(async move { stop.wait().await });
        // The graceful drain waits for every connection to close, and a client may hold an idle keep-alive
        // connection open for as long as it likes: past the grace, hookd stops waiting for it.
        tokio::select! {
            served = serve.into_future() => served?,
            _ = async { shutdown.wait().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "connections still open after the shutdown grace; closing them");
            }
        }
        let _ = scheduler.await;
        let _ = retention.await;
        let _ = dispatcher.await;
        let _ = destinations.await;
        let _ = queue_sources.await;
        if let Err(e) = store.leave().await {
            tracing::warn!(error = %e, "leaving the cluster; the other nodes take over this node's work after its timeout");
        }
        Ok(())
    }
}

/// Why the listen address could not be taken, and what to do about it.
fn bind_error(addr: SocketAddr, e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {addr}: the address is already in use (another hookd, or another program, is listening \
             there). Stop it, or choose another address with --listen or HOOKD_LISTEN (e.g. --listen 127.0.0.1:{})",
            addr.port().wrapping_add(1).max(1)
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "cannot listen on {addr}: permission denied (ports below 1024 need privileges). Choose another address \
             with --listen or HOOKD_LISTEN"
        ),
        _ => anyhow::Error::new(e).context(format!("cannot listen on {addr}")),
    }
}

/// The server as seen from itself: `/mcp` calls the API here. A wildcard listen address is reached on loopback.
pub fn loopback_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Acts on what other nodes sharing the store changed: due work wakes the scheduler, and changed
/// configuration leaves every cache at once (not after a TTL).
async fn follow_store_events(ctx: ApiContext, mut events: broadcast::Receiver<StoreEvent>, shutdown: Shutdown) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = shutdown.wait() => return,
        };
        match event {
            Ok(StoreEvent::Due(at)) => ctx.engine.work_due(at),
            Ok(StoreEvent::Tokens) => ctx.tokens.invalidate_all(),
            Ok(StoreEvent::Changed { kind, org_id, parent, id }) => match kind {
                DocKind::Application => ctx.engine.invalidate(&id),
                DocKind::Endpoint => ctx.engine.invalidate(&parent),
                DocKind::InboundRegistration => crate::inbound::registration_changed(&ctx, &id),
                DocKind::IngestSource => crate::inbound::source_changed(&ctx, &id),
                DocKind::Bot => crate::bots::state(&ctx).changed(&org_id),
                DocKind::DashboardSession => crate::dashboard::session_changed(&ctx, &id),
                _ => {}
            },
            Ok(StoreEvent::Missed) => drop_every_cache(&ctx),
            Ok(StoreEvent::Announced { kind, body }) => ctx.engine.announced(&kind, &body),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "missed changes from other nodes; dropping every cache");
                drop_every_cache(&ctx);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn drop_every_cache(ctx: &ApiContext) {
    ctx.engine.invalidate_all();
    ctx.tokens.invalidate_all();
    crate::inbound::registrations_changed(ctx);
    crate::bots::state(ctx).all_changed();
    crate::dashboard::sessions_changed(ctx);
}

/// The whole server's OpenAPI document: each face's routes bring their own paths and schemas.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "hookd",
        description = "Sends, receives, schedules and routes webhooks. The outbound API is the Svix server API.",
    ),
    // The error bodies that `ClientError` and `BotFailure` refer to.
    components(schemas(crate::error::HttpErrorOut, crate::bots::BotError)),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("apiKey" = [])),
    tags(
        (name = "Application"), (name = "Endpoint"), (name = "Event Type"), (name = "Message"),
        (name = "Message Attempt"), (name = "Authentication"), (name = "Health"), (name = "Inbound"),
        (name = "Ingest Source"), (name = "Ingest Endpoint"), (name = "Timers"), (name = "Bots"), (name = "Bot API"),
        (name = "Bot interactions"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An hookd token; bot routes also take `xbot-…` and `xuser-…` tokens"))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme("apiKey", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))));
    }
}

/// The routes of the HTTP API, each face's.
fn api_routes(ctx: &ApiContext) -> OpenApiRouter<ApiContext> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::outbound::router())
        .merge(crate::inbound::router())
        .merge(crate::timers::router())
        .merge(crate::bots::router(ctx.clone()))
        .routes(routes!(health))
        .routes(routes!(ping))
}

pub fn router(ctx: ApiContext) -> Router {
    let (router, api) = api_routes(&ctx).split_for_parts();
    let document = Bytes::from(api.to_json().expect("the OpenAPI document serializes"));
    router
        .route("/openapi.json", get(move || async move { ([(header::CONTENT_TYPE, "application/json")], document) }))
        .route("/metrics", get(metrics))
        .merge(crate::dashboard::router(&ctx))
        .merge(crate::mcp::router(&ctx))
        .fallback(|| async { Error::new(StatusCode::NOT_FOUND, "not_found", "No such route") })
        .layer(middleware::from_fn_with_state(ctx.clone(), crate::api::idempotency::idempotency))
        // Outside the idempotency layer, which then finds a portal token's organization settled.
        .layer(middleware::from_fn_with_state(ctx.clone(), crate::api::portal::gate))
        .layer(DefaultBodyLimit::max(ctx.cfg.max_body_bytes))
        .layer(middleware::from_fn_with_state(BodyLimit(ctx.cfg.max_body_bytes), json_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(middleware::from_fn(crate::telemetry::trace_requests))
        .with_state(ctx)
}

/// The API's routes called in process for the dashboard's forms ([`crate::api::console::Api`]). The router is
/// made for each call (forms are rare): one kept here would hold the context that holds it.
struct InProcessApi;

#[async_trait::async_trait]
impl crate::api::console::Api for InProcessApi {
    async fn call(
        &self,
        ctx: &ApiContext,
        org: &str,
        method: axum::http::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, Error> {
        use tower::ServiceExt as _;
        let router = api_routes(ctx)
            .split_for_parts()
            .0
            .layer(middleware::from_fn_with_state(BodyLimit(ctx.cfg.max_body_bytes), json_errors))
            .with_state(ctx.clone());
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .map_err(anyhow::Error::from)?;
        req.extensions_mut().insert(crate::api::auth::OrgId(org.to_string()));
        let resp = router.oneshot(req).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.map_err(anyhow::Error::from)?;
        let value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) if bytes.is_empty() => serde_json::Value::Null,
            Err(_) => serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        };
        if status.is_success() {
            Ok(value)
        } else {
            Err(Error::from_answer(status, &value))
        }
    }
}

/// svix-server answers a path with a trailing slash (`POST /api/v1/app/`, as older Svix documentation writes
/// it) as the path without it: the slash is trimmed before routing, so around the router rather than in it (a
/// router's own layers run once a route is chosen). `/` stays `/`. The URI as sent is kept as `OriginalUri`,
/// which the router does not overwrite: an inbound provider that signs the URL it posts to (Twilio) is verified
/// against that URL, slash included.
pub fn trim_trailing_slashes(router: Router) -> MapRequest<NormalizePath<Router>, fn(Request) -> Request> {
    fn keep_original_uri(mut req: Request) -> Request {
        let uri = req.uri().clone();
        req.extensions_mut().insert(OriginalUri(uri));
        req
    }
    MapRequest::new(NormalizePath::trim_trailing_slash(router), keep_original_uri as fn(Request) -> Request)
}

/// Healthy when the store answers.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "Health",
    security(()),
    responses(
        (status = 204, description = "The server and its store are up"),
    ),
)]
async fn health(State(ctx): State<ApiContext>) -> Result<StatusCode, Error> {
    ctx.store.next_due_at(0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Answers as soon as the server takes requests.
#[utoipa::path(
    get, path = "/api/v1/health/ping", tag = "Health",
    security(()),
    responses(
        (status = 204, description = "Up"),
    ),
)]
async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn metrics(State(ctx): State<ApiContext>) -> impl IntoResponse {
    let text = ctx.engine.render_metrics().await;
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
}

/// Gives every error answer a JSON body, including those made by the framework (unknown method, a query string
/// that does not parse, a body over the limit). The dashboard's error pages are HTML and stay so. It also tells
/// the handlers the body limit, so that their 413s name it.
async fn json_errors(State(limit): State<BodyLimit>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(limit);
    let mut resp = with_json_body(limit, next.run(req).await).await;
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body is never read, so the connection cannot carry another request: say so, or a client
        // that pools it sends its next request into a connection the server is closing.
        resp.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    resp
}

async fn with_json_body(limit: BodyLimit, resp: Response) -> Response {
    let status = resp.status();
    let is_json_or_page = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json_or_page {
        return resp;
    }
    let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
    let text = match axum::body::to_bytes(resp.into_body(), 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let mut out = if text.starts_with("Failed to deserialize query string") {
        Error::invalid(&["query"], text).into_response()
    } else if status == StatusCode::PAYLOAD_TOO_LARGE {
        payload_too_large(Some(limit)).into_response()
    } else if let Some(why) = text.strip_prefix("fail to deserialize request body") {
        // The MCP transport's word for a body that is not JSON-RPC: a bad request, as elsewhere in the API.
        Error::new(StatusCode::BAD_REQUEST, "invalid_json", format!("Malformed JSON-RPC body:{why}")).into_response()
    } else {
        let code = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            s if s.is_server_error() => "internal_error",
            _ => "bad_request",
        };
        let detail = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
        (status, axum::Json(serde_json::json!({ "code": code, "detail": detail }))).into_response()
    };
    if let Some(v) = retry_after {
        out.headers_mut().insert(header::RETRY_AFTER, v);
    }
    out.map(Body::new)
}
