//! The app portal at `/portal/`: the page a SaaS hands one of its customers (the `url` of
//! `POST /api/v1/auth/app-portal-access/{app_id}`) to see and manage that one application's endpoints, their
//! attempts, its destinations and its messages.
//!
//! The page is a small script over the API itself: the link carries the portal token in its fragment
//! (`/portal/#key=appsk_…`, which browsers send to no server and put in no `Referer`), the script moves it into
//! the tab's `sessionStorage`, takes it out of the address bar, and sends it as a bearer token. So every action
//! goes through the same handlers and the same portal gate ([`crate::api::portal`]) as a program's would, and
//! nothing of another application is reachable by page that is not by API. No cookie is involved: the portal
//! works in an iframe of the customer's product on any site, where browsers block or partition third-party
//! cookies, and an action cannot be forged by another site (no ambient credential), so it needs no CSRF token.
//! Unlike the dashboard (`X-Frame-Options: DENY`), the portal may be framed by any site: without the token a
//! framed portal shows nothing.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;

use crate::api::portal::{Capability, PortalGrant};
use crate::api::time::ts;
use crate::api::ApiContext;
use crate::error::{Error, Result};

const PAGE: &str = include_str!("templates/portal.html");

/// The portal's own headers: its script and the dashboard's stylesheet only, any site may frame it, it sends
/// no `Referer` (the fragment is never in one, but the page's links need not say where they came from either).
fn portal_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; \
             form-action 'none'; frame-ancestors *; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn page() -> Response {
    portal_headers(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response())
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "portal.js" => (include_str!("assets/portal.js"), "text/javascript; charset=utf-8"),
        "portal.css" => (include_str!("assets/portal.css"), "text/css; charset=utf-8"),
        _ => return Error::not_found().into_response(),
    };
    portal_headers(
        ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response(),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionOut {
    app_id: String,
    app_uid: Option<String>,
    app_name: String,
    capabilities: Vec<Capability>,
    feature_flags: Vec<String>,
    expires_at: String,
}

/// What the page needs to know of its token: the application, and which buttons to show.
async fn session(grant: Option<Extension<PortalGrant>>) -> Result<Json<SessionOut>> {
    let Extension(grant) = grant.ok_or_else(Error::unauthorized)?;
    Ok(Json(SessionOut {
        app_id: grant.app.id.clone(),
        app_uid: grant.app.uid.clone(),
        app_name: grant.app.name.clone(),
        capabilities: grant.token.capabilities.clone(),
        feature_flags: grant.token.feature_flags.clone(),
        expires_at: ts(grant.token.expires_at),
    }))
}

pub fn router() -> Router<ApiContext> {
    // `/portal/` arrives as `/portal`: trailing slashes are trimmed before routing.
    Router::new()
        .route("/portal", get(page))
        .route("/portal/session", get(session))
        .route("/portal/assets/{file}", get(asset))
}
