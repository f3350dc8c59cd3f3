//! Svix's authentication routes: app portal links (`authentication.appPortalAccess`), logging a portal token
//! out, and expiring every portal token of an application. What a portal token may reach is decided by
//! [`crate::api::portal`].

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::application::{self, ApplicationIn};
use crate::api::auth::{org_for, OrgId};
use crate::api::extract::ValidJson;
use crate::api::portal::{self, AppPortalAccessOut, Capability, PortalGrant, MAX_EXPIRY_SECS};
use crate::api::validate::check_ident;
use crate::api::{load_app, not_internal, ApiContext};
use crate::error::{ClientError, Error, Result};

/// Svix's default and longest lifetime of a portal token.

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessIn {
    /// Creates the application when the one in the path does not exist (its uid is the path's).
    #[serde(default)]
    pub application: Option<ApplicationIn>,
    /// What the token may do; `ViewBase` is always included. All of them when not given.
    #[serde(default)]
    pub capabilities: Option<Vec<Capability>>,
    /// Seconds the token lives: at most 7 days, the default. (Svix asks for at least an hour; hookd takes
    /// any positive number.)
    #[serde(default)]
    pub expiry: Option<u64>,
    #[serde(default)]
    pub feature_flags: Option<Vec<String>>,
    /// Deprecated in Svix: `true` means `capabilities: ["ViewBase"]` when no capabilities are given.
    #[serde(default)]
    pub read_only: Option<bool>,
    /// Tagged on the token, so that `expire-all` can end one session's tokens.
    #[serde(default)]
    pub session_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationTokenExpireIn {
    /// Seconds until the tokens end (at once when not given).
    #[serde(default)]
    pub expiry: Option<u64>,
    /// Only the tokens created with one of these `sessionId`s.
    #[serde(default)]
    pub session_ids: Option<Vec<String>>,
}

/// A link to the app portal of one application, and its token (which also works as a bearer token on that
/// application's routes of this API, as far as its capabilities allow).
#[utoipa::path(
    post, path = "/api/v1/auth/app-portal-access/{app_id}", tag = "Authentication",
    params(("app_id" = String, Path)),
    request_body = AppPortalAccessIn,
    responses(
        (status = 200, body = AppPortalAccessOut),
        ClientError,
    ),
)]
async fn app_portal_access(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    ValidJson(input): ValidJson<AppPortalAccessIn>,
) -> Result<Json<AppPortalAccessOut>> {
    let expiry = input.expiry.unwrap_or(MAX_EXPIRY_SECS);
    if !(1..=MAX_EXPIRY_SECS).contains(&expiry) {
        return Err(Error::invalid(&["body", "expiry"], "between 1 second and 7 days"));
    }
    let flags = input.feature_flags.unwrap_or_default();
    for flag in &flags {
        check_ident(&["body", "featureFlags"], flag, 256)?;
    }
    if let Some(session) = &input.session_id {
        check_ident(&["body", "sessionId"], session, 256)?;
    }
    let capabilities = match (input.capabilities, input.read_only) {
        (Some(caps), _) => caps,
        (None, Some(true)) => vec![Capability::ViewBase],
        (None, _) => Capability::ALL.to_vec(),
    };
    let app = application::load_or_create(&ctx, &org, &app_id, input.application).await?;
    not_internal(&app, "it has no app portal")?;
    let token = portal::issue(&ctx, &app, capabilities, flags, input.session_id, expiry as i64 * 1000).await?;
    let url = portal::url(&ctx.cfg.public_url, &token);
    Ok(Json(AppPortalAccessOut { url, token }))
}

/// Ends the app portal token the request carries. Other tokens cannot be logged out (403).
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "Authentication",
    responses(
        (status = 204, description = "The token no longer works"),
        ClientError,
    ),
)]
async fn logout(
    State(ctx): State<ApiContext>,
    grant: Option<Extension<PortalGrant>>,
    headers: HeaderMap,
) -> Result<StatusCode> {
    let Some(Extension(grant)) = grant else {
        org_for(&ctx, &headers).await?;
        return Err(Error::new(StatusCode::FORBIDDEN, "forbidden", "Only an app portal token can be logged out"));
    };
    portal::revoke(&ctx, &grant.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every app portal token of the application (or those of some sessions), at once or after `expiry`
/// seconds.
#[utoipa::path(
    post, path = "/api/v1/auth/app/{app_id}/expire-all", tag = "Authentication",
    params(("app_id" = String, Path)),
    request_body = ApplicationTokenExpireIn,
    responses(
        (status = 204, description = "The tokens end as asked"),
        ClientError,
    ),
)]
async fn expire_all(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    ValidJson(input): ValidJson<ApplicationTokenExpireIn>,
) -> Result<StatusCode> {
    let delay = input.expiry.unwrap_or(0);
    if delay > MAX_EXPIRY_SECS {
        return Err(Error::invalid(&["body", "expiry"], "at most 7 days"));
    }
    let app = load_app(&ctx, &org, &app_id).await?;
    let n = portal::expire_all(&ctx, &app, delay as i64 * 1000, input.session_ids).await?;
    tracing::info!(app = %app.id, tokens = n, "app portal tokens expired");
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(app_portal_access)).routes(routes!(logout)).routes(routes!(expire_all))
}
