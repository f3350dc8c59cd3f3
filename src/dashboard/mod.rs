//! The dashboard at `/ui/`: server-rendered pages over the same store and engine calls as the API, for people
//! rather than programs. Templates, the stylesheet and the script are compiled into the binary, so serving it
//! needs no CDN and building it no Node.js.
//!
//! * Login takes an API token in a form; the organization it belongs to scopes every page of the session.
//! * The session cookie (`hookd_session`, `HttpOnly; SameSite=Strict; Path=/ui`) holds a random id; the store keeps
//!   only its SHA-256, with the organization and the session's CSRF token. So a session outlives a restart, every
//!   node of a PostgreSQL cluster knows it (no sticky load balancing), and logging out ends it everywhere.
//! * Every POST carries the session's CSRF token in a hidden field (403 without it) and, when the browser sends
//!   `Origin`, must come from the page's own origin; SameSite=Strict keeps the cookie off other sites' requests.
//! * Every screen has its own URL, reached by ordinary links; lists page with the store's cursor pagination.
//! * The app portal (`/portal/`, [`portal`]) is the one part meant for an application's customer, not the
//!   operator: scoped to one application by a portal token, and embeddable in an iframe.
//! * `pages` holds the screens people read (overview, applications, endpoint, message) and `ops` what operators
//!   act with: activity charts drawn as SVG, the endpoint's actions, the message search, the headers sent.
//! * The forms that create, change and delete go through the API ([`forms`]): `applications`, `endpoints` (with
//!   revealing a signing secret when asked) and `transformations` (an editor that tries the code on a sample).
//! * The live tail (`live`) streams the engine's attempts over Server-Sent Events; the inbound, timers and bots
//!   screens reach those faces through `crate::api::console` (a face may not import another), and their forms
//!   (`inbound_forms`, `timer_forms`, `bot_forms`, like `applications`) through the HTTP API called in process.

mod applications;
mod bot_forms;
mod bots;
mod catalog;
mod destinations;
mod endpoints;
mod forms;
mod inbound;
mod inbound_forms;
mod live;
mod ops;
mod pages;
mod portal;
mod timer_forms;
mod timers;
mod transformations;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::{header, request, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use serde::{Deserialize, Serialize};

use crate::api::ApiContext;
use crate::error::Error;
use crate::store::{impl_doc, now_ms, Doc, DocKind, Millis};

const COOKIE: &str = "hookd_session";
/// How long a session lasts (the cookie's `Max-Age` too).
const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// A signed-in browser as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionDoc {
    /// The hex SHA-256 of the cookie's id.
    id: String,
    org_id: String,
    csrf: String,
    created_at: Millis,
    expires_at: Millis,
}

impl_doc!(SessionDoc, DocKind::DashboardSession, parent: none, id: id, uid: none);

/// Sessions read lately, so that a page, and each event of a live tail, costs no store read. A logout through
/// another node reaches this cache by the store's change events ([`session_changed`]); the time to live bounds
/// what a missed event could keep. Registered in `AppState::parts`.
pub struct Sessions(moka::sync::Cache<String, Arc<SessionDoc>>);

impl Default for Sessions {
    fn default() -> Self {
        Sessions(moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(60)).build())
    }
}

fn sessions(ctx: &ApiContext) -> &Sessions {
    ctx.parts.get::<Sessions>()
}

/// The session stored under `id`, through the cache.
async fn load_session(ctx: &ApiContext, id: &str) -> Result<Option<Arc<SessionDoc>>, UiError> {
    if let Some(doc) = sessions(ctx).0.get(id) {
        return Ok(Some(doc));
    }
    let Some(doc) = ctx.store.get_any::<SessionDoc>(id).await? else { return Ok(None) };
    let doc = Arc::new(doc);
    sessions(ctx).0.insert(id.to_string(), doc.clone());
    Ok(Some(doc))
}

/// Another node ended the session `id`.
pub fn session_changed(ctx: &ApiContext, id: &str) {
    sessions(ctx).0.invalidate(id);
}

/// Changes from other nodes may have been missed.
pub fn sessions_changed(ctx: &ApiContext) {
    sessions(ctx).0.invalidate_all();
}

/// A signed-in browser: the organization its token belongs to, and the token its forms must carry.
#[derive(Debug)]
pub struct Session {
    pub org: String,
    pub csrf: String,
    /// The stored document's id.
    pub(crate) id: String,
}

impl Session {
    /// 403 unless `sent` is this session's CSRF token.
    fn check_csrf(&self, sent: &str) -> Result<(), UiError> {
        if bool::from(sent.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(UiError(Error::new(StatusCode::FORBIDDEN, "forbidden", "The form was stale or forged; reload it.")))
        }
    }
}

fn session_id(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<ApiContext> for Session {
    /// No session: to the login page.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut request::Parts, ctx: &ApiContext) -> Result<Self, Self::Rejection> {
        let Some(id) = cookie_value(&parts.headers, COOKIE).map(session_id) else {
            return Err(Redirect::to("/ui/login").into_response());
        };
        let stored = load_session(ctx, &id).await.map_err(IntoResponse::into_response)?;
        let now = now_ms();
        match stored {
            Some(doc) if doc.expires_at > now => {
                Ok(Session { org: doc.org_id.clone(), csrf: doc.csrf.clone(), id: doc.id.clone() })
            }
            Some(expired) => {
                let _ = ctx.store.delete::<SessionDoc>(&expired.org_id, &expired.id).await;
                sessions(ctx).0.invalidate(&id);
                Err(Redirect::to("/ui/login").into_response())
            }
            None => Err(Redirect::to("/ui/login").into_response()),
        }
    }
}

impl OptionalFromRequestParts<ApiContext> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut request::Parts, ctx: &ApiContext) -> Result<Option<Self>, Self::Rejection> {
        Ok(<Session as FromRequestParts<ApiContext>>::from_request_parts(parts, ctx).await.ok())
    }
}

/// Starts a session for `org`; returns the `Set-Cookie` value. The organization's expired sessions are dropped on
/// the way, so that sessions nobody came back to do not pile up.
async fn start_session(ctx: &ApiContext, org: String) -> Result<String, UiError> {
    let cookie = crate::ids::random_token(43);
    let now = now_ms();
    let doc = SessionDoc {
        id: session_id(&cookie),
        org_id: org,
        csrf: crate::ids::random_token(32),
        created_at: now,
        expires_at: now + LIFETIME.as_millis() as Millis,
    };
    ctx.store.insert(&doc).await?;
    let mut iterator = None;
    loop {
        let page = crate::store::Page { limit: 500, iterator: iterator.take(), reverse: false, descending: false };
        let rows = ctx.store.list::<SessionDoc>(&doc.org_id, "", &page).await?;
        for old in rows.iter().take(500).filter(|s| s.expires_at <= now) {
            ctx.store.delete::<SessionDoc>(&old.org_id, &old.id).await?;
        }
        if rows.len() <= 500 {
            break;
        }
        iterator = rows.get(499).map(|s| s.id.clone());
    }
    let secure = if ctx.cfg.public_url.starts_with("https://") { "; Secure" } else { "" };
    Ok(format!("{COOKIE}={cookie}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}", LIFETIME.as_secs()))
}

/// Whether the session with this id still is (not logged out, not expired).
async fn session_live(ctx: &ApiContext, id: &str) -> bool {
    matches!(load_session(ctx, id).await, Ok(Some(doc)) if doc.expires_at > now_ms())
}

async fn end_session(ctx: &ApiContext, session: &Session) -> Result<String, UiError> {
    ctx.store.delete::<SessionDoc>(&session.org, &session.id).await?;
    sessions(ctx).0.invalidate(&session.id);
    Ok(format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"))
}

/// The templates, parsed once. HTML is escaped in every `.html` template.
static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    env.add_filter("when", when);
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("form_macros.html", include_str!("templates/form_macros.html")),
        ("app_form.html", include_str!("templates/app_form.html")),
        ("login.html", include_str!("templates/login.html")),
        ("error.html", include_str!("templates/error.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("apps.html", include_str!("templates/apps.html")),
        ("app.html", include_str!("templates/app.html")),
        ("portal_link.html", include_str!("templates/portal_link.html")),
        ("endpoint.html", include_str!("templates/endpoint.html")),
        ("endpoint_form.html", include_str!("templates/endpoint_form.html")),
        ("transformation_form.html", include_str!("templates/transformation_form.html")),
        ("message.html", include_str!("templates/message.html")),
        ("macros.html", include_str!("templates/macros.html")),
        ("charts.html", include_str!("templates/charts.html")),
        ("messages.html", include_str!("templates/messages.html")),
        ("endpoint_actions.html", include_str!("templates/endpoint_actions.html")),
        ("sent_headers.html", include_str!("templates/sent_headers.html")),
        ("live.html", include_str!("templates/live.html")),
        ("inbound.html", include_str!("templates/inbound.html")),
        ("inbound_registration.html", include_str!("templates/inbound_registration.html")),
        ("inbound_refused.html", include_str!("templates/inbound_refused.html")),
        ("inbound_event.html", include_str!("templates/inbound_event.html")),
        ("inbound_form.html", include_str!("templates/inbound_form.html")),
        ("inbound_secret.html", include_str!("templates/inbound_secret.html")),
        ("inbound_rotate.html", include_str!("templates/inbound_rotate.html")),
        ("timers.html", include_str!("templates/timers.html")),
        ("timer.html", include_str!("templates/timer.html")),
        ("timer_macros.html", include_str!("templates/timer_macros.html")),
        ("timer_form.html", include_str!("templates/timer_form.html")),
        ("bots.html", include_str!("templates/bots.html")),
        ("bot.html", include_str!("templates/bot.html")),
        ("bot_form.html", include_str!("templates/bot_form.html")),
        ("bot_secret.html", include_str!("templates/bot_secret.html")),
        ("bot_install.html", include_str!("templates/bot_install.html")),
        ("catalog_macros.html", include_str!("templates/catalog_macros.html")),
        ("catalog.html", include_str!("templates/catalog.html")),
        ("public_catalog.html", include_str!("templates/public_catalog.html")),
    ] {
        env.add_template(name, source).unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
});

/// The API's RFC 3339 timestamps as the pages print times (`{{ t.createdAt|when }}`); anything else as it is.
fn when(value: String) -> String {
    match chrono::DateTime::parse_from_rfc3339(&value) {
        Ok(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => value,
    }
}

/// Renders template `name` with `context` as an HTML answer of `status`.
fn render(status: StatusCode, name: &str, context: minijinja::Value) -> Response {
    let rendered = TEMPLATES.get_template(name).and_then(|t| t.render(context));
    match rendered {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = format!("{e:#}"), "rendering a dashboard page");
            (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], "Internal error")
                .into_response()
        }
    }
}

/// An error shown as a page rather than as the API's JSON.
pub struct UiError(Error);

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        UiError(e)
    }
}

impl From<crate::store::StoreError> for UiError {
    fn from(e: crate::store::StoreError) -> Self {
        UiError(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, detail) = match self.0 {
            Error::Http { status, detail, .. } => (status, detail),
            Error::Validation(items) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                items.iter().map(|i| format!("{}: {}", i.loc.join("."), i.msg)).collect::<Vec<_>>().join("; "),
            ),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "Too many requests".into()),
            Error::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error on a dashboard page");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal error".into())
            }
        };
        let page = ErrorPage { status, detail };
        let mut resp = page.render(None, "");
        resp.extensions_mut().insert(page);
        resp
    }
}

/// An error page as drawn; [`error_navigation`] draws it again with the navigation of the session, which the
/// handler that failed may not have had.
#[derive(Clone)]
struct ErrorPage {
    status: StatusCode,
    detail: String,
}

impl ErrorPage {
    fn render(&self, csrf: Option<&str>, nav: &str) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let context = minijinja::context! { title, status => self.status.as_u16(), detail => &self.detail, csrf, nav };
        render(self.status, "error.html", context)
    }
}

/// Error pages of a signed-in browser keep the navigation (and the section the path is in highlighted).
async fn error_navigation(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    let id = cookie_value(req.headers(), COOKIE).map(session_id);
    let nav = match req.uri().path().split('/').nth(2).unwrap_or("") {
        "" => "overview",
        section => section,
    }
    .to_string();
    let resp = next.run(req).await;
    let (Some(page), Some(id)) = (resp.extensions().get::<ErrorPage>(), id) else { return resp };
    match load_session(&ctx, &id).await {
        Ok(Some(doc)) if doc.expires_at > now_ms() => page.render(Some(&doc.csrf), &nav),
        _ => resp,
    }
}

pub type UiResult = Result<Response, UiError>;

/// Headers every dashboard answer carries: nothing from elsewhere runs or frames it, nothing is cached.
async fn page_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// A POST whose `Origin` names another site is refused before anything reads it (the login form has no
/// session, hence no CSRF token, to protect it otherwise).
async fn same_origin(req: Request, next: Next) -> Response {
    if req.method() == Method::POST {
        let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
        if let Some(origin) = origin {
            let origin_host = origin.split_once("://").map(|(_, rest)| rest);
            if origin_host.is_none() || origin_host != host {
                let err = Error::new(StatusCode::FORBIDDEN, "forbidden", "Cross-origin form posts are refused.");
                return UiError(err).into_response();
            }
        }
    }
    next.run(req).await
}

async fn asset(path: axum::extract::Path<String>) -> Response {
    let (body, kind) = match path.as_str() {
        "app.css" => (include_str!("assets/app.css"), "text/css; charset=utf-8"),
        "app.js" => (include_str!("assets/app.js"), "text/javascript; charset=utf-8"),
        "live.js" => (include_str!("assets/live.js"), "text/javascript; charset=utf-8"),
        _ => return UiError(Error::not_found()).into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

pub fn router(ctx: &ApiContext) -> Router<ApiContext> {
    Router::new()
        .route("/ui", get(pages::overview))
        .route("/ui/login", get(pages::login_form).post(pages::login))
        .route("/ui/logout", post(pages::logout))
        .route("/ui/apps", get(pages::apps))
        .route("/ui/apps/new", get(applications::new_form).post(applications::create))
        .route("/ui/apps/{app}", get(pages::app))
        .route("/ui/apps/{app}/edit", get(applications::edit_form).post(applications::update))
        .route("/ui/apps/{app}/delete", post(applications::delete))
        .route("/ui/apps/{app}/portal-link", post(pages::portal_link))
        .route("/ui/apps/{app}/endpoints/new", get(endpoints::new_form).post(endpoints::create))
        .route("/ui/apps/{app}/endpoints/{ep}", get(pages::endpoint))
        .route("/ui/apps/{app}/endpoints/{ep}/edit", get(endpoints::edit_form).post(endpoints::update))
        .route("/ui/apps/{app}/endpoints/{ep}/delete", post(endpoints::delete))
        .route("/ui/apps/{app}/endpoints/{ep}/secret", post(endpoints::reveal_secret))
        .route("/ui/apps/{app}/endpoints/{ep}/state", post(pages::set_endpoint_state))
        .route("/ui/apps/{app}/endpoints/{ep}/recover", post(pages::recover))
        .route("/ui/apps/{app}/endpoints/{ep}/rotate", post(ops::rotate_secret))
        .route("/ui/apps/{app}/endpoints/{ep}/send-example", post(ops::send_example))
        .route("/ui/apps/{app}/endpoints/{ep}/replay-missing", post(ops::replay_missing))
        .route("/ui/apps/{app}/messages", get(ops::messages))
        .route("/ui/apps/{app}/destinations/{id}/skip", post(destinations::skip))
        .route("/ui/apps/{app}/destinations/{id}/force-retry", post(destinations::force_retry))
        .route(
            "/ui/apps/{app}/endpoints/{ep}/transformation",
            get(transformations::edit_form).post(transformations::save),
        )
        .route("/ui/apps/{app}/endpoints/{ep}/transformation/try", post(transformations::try_it))
        .route("/ui/apps/{app}/messages/{msg}", get(pages::message))
        .route("/ui/apps/{app}/messages/{msg}/resend", post(pages::resend))
        .route("/ui/live", get(live::live))
        .route("/ui/live/events", get(live::events))
        .route("/ui/inbound", get(inbound::registrations))
        .route("/ui/inbound/new", get(inbound_forms::new_form).post(inbound_forms::create))
        .route("/ui/inbound/{id}", get(inbound::registration))
        .route("/ui/inbound/{id}/edit", get(inbound_forms::edit_form).post(inbound_forms::update))
        .route("/ui/inbound/{id}/delete", post(inbound_forms::delete))
        .route("/ui/inbound/{id}/rotate", get(inbound_forms::rotate_form).post(inbound_forms::rotate))
        .route("/ui/inbound/{id}/events/{event}", get(inbound::event))
        .route("/ui/inbound/{id}/events/{event}/replay", post(inbound::replay))
        .route("/ui/timers", get(timers::timers))
        .route("/ui/timers/new", get(timer_forms::new_form).post(timer_forms::create))
        .route("/ui/timers/{id}", get(timers::timer))
        .route("/ui/timers/{id}/{action}", post(timers::act))
        .route("/ui/bots", get(bots::bots))
        .route("/ui/bots/new", get(bot_forms::new_form).post(bot_forms::create))
        .route("/ui/bots/{id}", get(bots::bot))
        .route("/ui/bots/{id}/edit", get(bot_forms::edit_form).post(bot_forms::update))
        .route("/ui/bots/{id}/install", get(bot_forms::install_form).post(bot_forms::install))
        .route("/ui/bots/{id}/uninstall/{channel}", post(bot_forms::uninstall))
        .route("/ui/bots/{id}/{action}", post(bot_forms::act))
        .route("/ui/catalog", get(catalog::dashboard))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/{*rest}", get(|| async { UiError(Error::not_found()) }))
        .layer(middleware::from_fn_with_state(ctx.clone(), error_navigation))
        .layer(middleware::from_fn(same_origin))
        .layer(middleware::from_fn(page_headers))
        // After the layers: the app portal has headers of its own (it may be framed), and so has the public
        // catalog (no session, no forms).
        .merge(portal::router())
        .route("/portal/catalog", get(catalog::portal))
        .route("/catalog", get(catalog::public_default))
        .route("/catalog/openapi.json", get(catalog::openapi_default))
        .route("/catalog/{org}", get(catalog::public_of))
        .route("/catalog/{org}/openapi.json", get(catalog::openapi_of))
}

#[cfg(test)]
mod contrast {
    //! Every rule of the dashboard's style sheets that sets both a text colour and a background (badges, notices,
    //! buttons) meets WCAG AA: a contrast of at least 4.5:1, the bar for text under 18.66 px bold.

    fn luminance(hex: &str) -> f64 {
        let hex = hex.trim_start_matches('#');
        let channel = |i: usize| {
            let c = u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// The value of `prop` in a declaration block, with `var(--x)` looked up in `vars`; None when absent or not a
    /// colour of six hex digits.
    fn colour(block: &str, prop: &str, vars: &[(String, String)]) -> Option<String> {
        let value = block
            .split(';')
            .filter_map(|d| d.split_once(':'))
            .find(|(name, _)| name.trim() == prop)
            .map(|(_, v)| v.trim().to_string())?;
        let value = match value.strip_prefix("var(").and_then(|v| v.strip_suffix(')')) {
            Some(var) => vars.iter().find(|(n, _)| n == var.trim())?.1.clone(),
            None => value,
        };
        (value.len() == 7 && value.starts_with('#')).then_some(value)
    }

    #[test]
    fn text_on_coloured_backgrounds_meets_wcag_aa() {
        let mut checked = 0;
        for css in [include_str!("assets/app.css"), include_str!("assets/portal.css")] {
            let vars: Vec<(String, String)> = css
                .split([';', '{', '}'])
                .filter_map(|d| d.trim().split_once(':'))
                .filter(|(n, _)| n.starts_with("--"))
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect();
            for rule in css.split('}') {
                let Some((selector, block)) = rule.split_once('{') else { continue };
                let (Some(fg), Some(bg)) = (colour(block, "color", &vars), colour(block, "background", &vars)) else {
                    continue;
                };
                let ratio = contrast(&fg, &bg);
                assert!(ratio >= 4.5, "{}: {fg} on {bg} is {ratio:.2}:1", selector.trim());
                checked += 1;
            }
        }
        assert!(checked >= 8, "the badges' rules were found ({checked})");
    }
}
