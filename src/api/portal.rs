//! App portal tokens: what `POST /api/v1/auth/app-portal-access/{app_id}` hands a SaaS to give one of its
//! customers, and the gate that keeps such a token inside that customer's application.
//!
//! * A token (`appsk_` and 40 base62 characters) is stored as a document of its application whose id is the
//!   token's SHA-256, never the token itself, with its capabilities and its expiry. Logout deletes it,
//!   `expire-all` deletes (or shortens) every token of the application, deleting the application deletes them
//!   too. Every request reads the document, so a revoked token stops at once on every node.
//! * [`gate`] runs in front of every route. A request carrying a portal token gets the token's organization
//!   (the [`OrgId`] the handlers read) only on the routes [`need`] lists, only for its own application (by id
//!   or uid; another application is 404), and only with the capability the route needs (403 otherwise).
//!   Destinations and their polling tokens go with endpoints and their secrets.
//!   Everything else — the organization's other applications, creating messages, event types' changes,
//!   inbound, timers, bots, the dashboard — is 403. The handlers themselves know nothing of portal tokens.

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::{hash_token, token_of, OrgId};
use super::ApiContext;
use crate::engine::model::Application;
use crate::error::{Error, Result};
use crate::store::{impl_doc, now_ms, Doc, DocKind, Millis};

/// Every portal token starts with this (as Svix's do).
pub const TOKEN_PREFIX: &str = "appsk_";
/// The longest a portal token lives, and how long one lives unless asked otherwise.
pub const MAX_EXPIRY_SECS: u64 = 7 * 86_400;

/// A portal link: for an application (`/api/v1/auth/app-portal-access/{app_id}`) or an Ingest source's
/// endpoints (`/ingest/api/v1/source/{source_id}/dashboard`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppPortalAccessOut {
    /// Opens the portal for the application: `{HOOKD_PUBLIC_URL}/portal/#key={token}`.
    pub url: String,
    pub token: String,
}

/// What a portal token may do, as Svix names it. `ViewBase` is always granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Capability {
    /// Read the application's endpoints, messages and attempts (not the endpoints' secrets or headers).
    ViewBase,
    /// Read an endpoint's signing secret and custom headers.
    ViewEndpointSecret,
    /// Read and rotate an endpoint's signing secret.
    ManageEndpointSecret,
    /// Read, change and try an endpoint's transformation (its variables may hold a receiver's token, so reading
    /// needs it too).
    ManageTransformations,
    /// Resend a message, recover failed ones, replay missing ones, send an example.
    CreateAttempts,
    /// Create, change, disable and delete endpoints (secrets and headers included).
    ManageEndpoint,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::ViewBase,
        Capability::ViewEndpointSecret,
        Capability::ManageEndpointSecret,
        Capability::ManageTransformations,
        Capability::CreateAttempts,
        Capability::ManageEndpoint,
    ];
}

/// A stored portal token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalToken {
    /// The hex SHA-256 of the token.
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    pub capabilities: Vec<Capability>,
    #[serde(default)]
    pub feature_flags: Vec<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

impl_doc!(PortalToken, DocKind::PortalToken, parent: app_id, id: id, uid: none);

/// The portal token a request carries, with its application: put in the request's extensions by [`gate`].
#[derive(Debug, Clone)]
pub struct PortalGrant {
    pub token: Arc<PortalToken>,
    pub app: Arc<Application>,
}

/// What a route asks of a portal token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    View,
    ViewSecret,
    RotateSecret,
    ManageEndpoint,
    CreateAttempts,
    Transformations,
}

impl PortalGrant {
    fn has(&self, c: Capability) -> bool {
        self.token.capabilities.contains(&c)
    }

    /// Whether the token's capabilities cover `need` (`ManageEndpoint` covers the secret's, as in Svix).
    pub fn allows(&self, need: Need) -> bool {
        use Capability::*;
        match need {
            Need::View => true,
            Need::ViewSecret => {
                self.has(ViewEndpointSecret) || self.has(ManageEndpointSecret) || self.has(ManageEndpoint)
            }
            Need::RotateSecret => self.has(ManageEndpointSecret) || self.has(ManageEndpoint),
            Need::ManageEndpoint => self.has(ManageEndpoint),
            Need::CreateAttempts => self.has(CreateAttempts),
            Need::Transformations => self.has(ManageTransformations),
        }
    }
}

/// Where `token` opens the portal. The token rides in the fragment, which browsers never send to a server.
pub fn url(public_url: &str, token: &str) -> String {
    format!("{}/portal/#key={token}", public_url.trim_end_matches('/'))
}

fn token_id(token: &str) -> String {
    hex::encode(hash_token(token))
}

/// Stores a new token for `app` and returns it. Tokens of the application that have expired are dropped on the
/// way, so that they do not pile up.
pub async fn issue(
    ctx: &ApiContext,
    app: &Application,
    mut capabilities: Vec<Capability>,
    feature_flags: Vec<String>,
    session_id: Option<String>,
    expiry_ms: Millis,
) -> Result<String> {
    if !capabilities.contains(&Capability::ViewBase) {
        capabilities.insert(0, Capability::ViewBase);
    }
    let mut seen = std::collections::HashSet::new();
    capabilities.retain(|c| seen.insert(*c));
    let token = format!("{TOKEN_PREFIX}{}", crate::ids::random_token(40));
    let now = now_ms();
    let doc = PortalToken {
        id: token_id(&token),
        org_id: app.org_id.clone(),
        app_id: app.id.clone(),
        capabilities,
        feature_flags,
        session_id,
        created_at: now,
        expires_at: now + expiry_ms,
    };
    ctx.store.insert(&doc).await?;
    for t in tokens_of(ctx, app).await? {
        if t.expires_at <= now {
            ctx.store.delete::<PortalToken>(&t.org_id, &t.id).await?;
        }
    }
    Ok(token)
}

/// Every stored token of `app`, read a page at a time (expired ones are dropped as new ones are issued, so
/// these are about as many as are live).
async fn tokens_of(ctx: &ApiContext, app: &Application) -> Result<Vec<PortalToken>> {
    Ok(ctx.store.list_all::<PortalToken>(&app.org_id, &app.id).await?)
}

/// The live grant of `token`, or None: not a portal token, expired, revoked, or its application is gone or one
/// hookd keeps for itself without a portal (a token issued for it before such applications had none).
pub async fn grant_of(ctx: &ApiContext, token: &str) -> Result<Option<PortalGrant>> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some(stored) = ctx.store.get_any::<PortalToken>(&token_id(token)).await? else { return Ok(None) };
    if stored.expires_at <= now_ms() {
        // Gone for good: drop it now rather than when the application's next token is issued.
        ctx.store.delete::<PortalToken>(&stored.org_id, &stored.id).await?;
        return Ok(None);
    }
    let Some(app) = ctx.engine.app(&stored.org_id, &stored.app_id).await?.filter(|a| a.has_portal()) else {
        return Ok(None);
    };
    Ok(Some(PortalGrant { token: Arc::new(stored), app }))
}

/// Ends one token (logout).
pub async fn revoke(ctx: &ApiContext, token: &PortalToken) -> Result<()> {
    ctx.store.delete::<PortalToken>(&token.org_id, token.id()).await?;
    Ok(())
}

/// Ends the tokens of `app` (those of `session_ids` only, when given): at once, or `delay_ms` from now if that
/// comes before their own expiry. Returns how many were ended or shortened.
pub async fn expire_all(
    ctx: &ApiContext,
    app: &Application,
    delay_ms: Millis,
    session_ids: Option<Vec<String>>,
) -> Result<u64> {
    let until = now_ms() + delay_ms;
    let mut n = 0;
    for t in tokens_of(ctx, app).await? {
        let picked = session_ids.as_ref().is_none_or(|ids| t.session_id.as_ref().is_some_and(|s| ids.contains(s)));
        if !picked || t.expires_at <= until {
            continue;
        }
        if delay_ms == 0 {
            ctx.store.delete::<PortalToken>(&t.org_id, &t.id).await?;
        } else {
            ctx.store
                .modify::<PortalToken>(&t.org_id, &t.id, move |doc| {
                    doc.expires_at = doc.expires_at.min(until);
                    Ok(())
                })
                .await?;
        }
        n += 1;
    }
    Ok(n)
}

/// What a portal token needs for `method route` (the router's pattern), or None when no portal token may use
/// the route at all. Routes under `/api/v1/app/{app_id}` are also checked against the token's application.
///
/// | routes | needs |
/// |---|---|
/// | `GET` of the application, its endpoints, messages, attempts, stats; `GET` event types (the catalog) | `ViewBase` |
/// | `GET …/endpoint/{id}/secret`, `…/headers` | `ViewEndpointSecret`, `ManageEndpointSecret` or `ManageEndpoint` |
/// | `POST …/endpoint/{id}/secret/rotate` | `ManageEndpointSecret` or `ManageEndpoint` |
/// | `POST …/endpoint`, `PUT`/`PATCH`/`DELETE …/endpoint/{id}`, `PUT`/`PATCH …/headers` | `ManageEndpoint` |
/// | `POST …/destination`, `PUT`/`PATCH`/`DELETE …/destination/{id}`, `POST …/destination/{id}/skip`, a poller consumer's `seek` | `ManageEndpoint` |
/// | `GET …/destination/{id}/secret`, a polling endpoint's token | as an endpoint's secret; rotating the token as rotating a secret |
/// | `…/destination/{id}/transformation` | `ManageTransformations` |
/// | `POST …/resend`, `…/recover`, `…/replay-missing`, `…/bulk-replay`, `…/send-example`, `…/destination/{id}/force-retry` | `CreateAttempts` |
/// | `POST /api/v1/auth/logout` | (its own token) |
/// | `POST /api/v1/filter/test` (reads nothing stored) | `ViewBase` |
/// | anything else: other applications' routes, publishing, expunging, event type changes, the application's own changes, new portal links, inbound, timers, bots, the dashboard | refused |
pub fn need(method: &Method, route: &str) -> Option<Need> {
    let read = method == Method::GET || method == Method::HEAD;
    match route {
        "/api/v1/auth/logout" if method == Method::POST => return Some(Need::View),
        "/portal/session" | "/portal/catalog" | "/api/v1/event-type" | "/api/v1/event-type/{event_type_name}"
            if read =>
        {
            return Some(Need::View)
        }
        "/api/v1/health" | "/api/v1/health/ping" => return Some(Need::View),
        // Stateless: tries a filter on a sample the caller sends.
        "/api/v1/filter/test" if method == Method::POST => return Some(Need::View),
        // A polling endpoint's token reads what the application's customer may read, and is kept like a secret.
        "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token" if read => return Some(Need::ViewSecret),
        "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token/rotate" if method == Method::POST => {
            return Some(Need::RotateSecret)
        }
        _ => {}
    }
    let rest = route.strip_prefix("/api/v1/app/{app_id}")?;
    if rest.starts_with("/endpoint/{endpoint_id}/transformation")
        || rest.starts_with("/destination/{destination_id}/transformation")
    {
        return Some(Need::Transformations);
    }
    if read {
        return Some(match rest {
            "/endpoint/{endpoint_id}/secret"
            | "/endpoint/{endpoint_id}/headers"
            | "/destination/{destination_id}/secret" => Need::ViewSecret,
            _ => Need::View,
        });
    }
    match (method.as_str(), rest) {
        ("POST", "/endpoint" | "/destination")
        | ("PUT" | "PATCH" | "DELETE", "/endpoint/{endpoint_id}" | "/destination/{destination_id}")
        | ("PUT" | "PATCH", "/endpoint/{endpoint_id}/headers")
        // Skipping gives up on events for good; seeking moves a consumer's cursor: managing, not retrying.
        | ("POST", "/destination/{destination_id}/skip" | "/poller/{sink_id}/consumer/{consumer_id}/seek") => {
            Some(Need::ManageEndpoint)
        }
        ("POST", "/endpoint/{endpoint_id}/secret/rotate") => Some(Need::RotateSecret),
        (
            "POST",
            "/msg/{msg_id}/endpoint/{endpoint_id}/resend"
            | "/endpoint/{endpoint_id}/recover"
            | "/endpoint/{endpoint_id}/replay-missing"
            | "/endpoint/{endpoint_id}/bulk-replay"
            | "/endpoint/{endpoint_id}/send-example"
            | "/destination/{destination_id}/force-retry",
        ) => Some(Need::CreateAttempts),
        _ => None,
    }
}

fn forbidden(detail: impl Into<String>) -> Error {
    Error::new(StatusCode::FORBIDDEN, "forbidden", detail)
}

/// The portal gate (see the module's documentation). Requests without a portal token pass untouched; so does
/// a portal token that is not live, which the route's own token check then refuses (401).
pub async fn gate(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    let Some(token) = token_of(req.headers()).filter(|t| t.starts_with(TOKEN_PREFIX)) else {
        return next.run(req).await;
    };
    let grant = match grant_of(&ctx, token).await {
        Ok(Some(grant)) => grant,
        Ok(None) => return next.run(req).await,
        Err(e) => return e.into_response(),
    };
    let (mut parts, body) = req.into_parts();
    // No route matched: the router's own 404 answers, with nothing granted.
    let Some(route) = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_string()) else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let Some(need) = need(&parts.method, &route) else {
        return forbidden(
            "An app portal token reaches only its application's endpoints, destinations, messages and attempts",
        )
        .into_response();
    };
    if route.starts_with("/api/v1/app/{app_id}") || route.starts_with("/api/v1/auth/app/{app_id}") {
        let params = RawPathParams::from_request_parts(&mut parts, &ctx).await;
        let key = params.ok().and_then(|p| p.iter().find(|(k, _)| *k == "app_id").map(|(_, v)| v.to_string()));
        let app = &grant.app;
        if key.is_none_or(|k| k != app.id && Some(k.as_str()) != app.uid.as_deref()) {
            return Error::not_found().into_response();
        }
    }
    if !grant.allows(need) {
        let what = match need {
            Need::ViewSecret => "ViewEndpointSecret",
            Need::RotateSecret => "ManageEndpointSecret",
            Need::ManageEndpoint => "ManageEndpoint",
            Need::CreateAttempts => "CreateAttempts",
            Need::Transformations => "ManageTransformations",
            Need::View => "ViewBase",
        };
        return forbidden(format!("This app portal token lacks the {what} capability")).into_response();
    }
    parts.extensions.insert(OrgId(grant.app.org_id.clone()));
    parts.extensions.insert(grant);
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_capabilities() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(need(&get, "/api/v1/app/{app_id}/endpoint"), Some(Need::View));
        assert_eq!(need(&get, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret"), Some(Need::ViewSecret));
        assert_eq!(need(&post, "/api/v1/app/{app_id}/endpoint"), Some(Need::ManageEndpoint));
        assert_eq!(need(&Method::DELETE, "/api/v1/app/{app_id}/endpoint/{endpoint_id}"), Some(Need::ManageEndpoint));
        assert_eq!(need(&post, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate"), Some(Need::RotateSecret));
        assert_eq!(
            need(&post, "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend"),
            Some(Need::CreateAttempts)
        );
        for (m, route) in [
            (&get, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation"),
            (&Method::PATCH, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation"),
            (&post, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation/simulate"),
        ] {
            assert_eq!(need(m, route), Some(Need::Transformations), "{m} {route}");
        }
        assert_eq!(need(&post, "/api/v1/app/{app_id}/destination"), Some(Need::ManageEndpoint));
        assert_eq!(need(&post, "/api/v1/app/{app_id}/destination/{destination_id}/skip"), Some(Need::ManageEndpoint));
        assert_eq!(
            need(&post, "/api/v1/app/{app_id}/destination/{destination_id}/force-retry"),
            Some(Need::CreateAttempts)
        );
        assert_eq!(need(&get, "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token"), Some(Need::ViewSecret));
        assert_eq!(need(&post, "/api/v1/app/{app_id}/msg"), None);
        assert_eq!(need(&Method::DELETE, "/api/v1/app/{app_id}"), None);
        assert_eq!(need(&Method::DELETE, "/api/v1/app/{app_id}/msg/{msg_id}/content"), None);
        assert_eq!(need(&get, "/api/v1/app"), None);
        assert_eq!(need(&post, "/api/v1/auth/app-portal-access/{app_id}"), None);
        assert_eq!(need(&post, "/api/v1/event-type"), None);
        assert_eq!(need(&get, "/timers"), None);
        assert_eq!(need(&get, "/ui/apps/{app}"), None);
    }
}
