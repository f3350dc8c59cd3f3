//! The event catalog as pages: in the dashboard (`/ui/catalog`), in public at `/catalog/` for the organizations
//! `HOOKD_PUBLIC_CATALOG` names (no token; nothing but the names, descriptions and schemas of the types that no
//! feature flag holds back), and as JSON
//! for the app portal's catalog view (`/portal/catalog`). All three draw [`crate::api::catalog::view`].

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::pages::page_context;
use super::{render, Session, UiError, UiResult};
use crate::api::catalog;
use crate::api::portal::PortalGrant;
use crate::api::{ApiContext, DefaultOrg};
use crate::error::Error;

/// Where the organization's catalog is public, if it is.
fn public_path(ctx: &ApiContext, org: &str) -> Option<String> {
    let listed = |name: &str| ctx.cfg.public_catalog.iter().any(|o| o == name);
    if org == ctx.parts.get::<DefaultOrg>().0 && listed("default") {
        Some("/catalog/".into())
    } else if listed(org) {
        Some(format!("/catalog/{org}/"))
    } else {
        None
    }
}

pub async fn dashboard(State(ctx): State<ApiContext>, session: Session) -> UiResult {
    let groups = catalog::view(&catalog::all_types(&ctx, &session.org).await?, None);
    let public_url = public_path(&ctx, &session.org);
    Ok(render(
        StatusCode::OK,
        "catalog.html",
        page_context! { nav => "catalog", csrf => session.csrf, groups, public_url },
    ))
}

/// The organization a public catalog path names, if its catalog is public; 404 otherwise (as if there were none).
fn public_org(ctx: &ApiContext, key: Option<&str>) -> Result<String, UiError> {
    let org = match key {
        None => ctx.parts.get::<DefaultOrg>().0.clone(),
        Some(org) => org.to_string(),
    };
    match public_path(ctx, &org) {
        Some(path) if key.is_none() == (path == "/catalog/") => Ok(org),
        _ => Err(UiError(Error::not_found())),
    }
}

/// A public page: readable by anyone, framed by no one, cached briefly.
fn public(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    resp
}

async fn public_page(ctx: &ApiContext, key: Option<&str>) -> UiResult {
    let org = public_org(ctx, key)?;
    // Types behind a feature flag are not released to everyone: the public page leaves them out.
    let groups = catalog::view(&catalog::all_types(ctx, &org).await?, Some(&[]));
    let base = public_path(ctx, &org);
    Ok(public(render(StatusCode::OK, "public_catalog.html", page_context! { groups, base })))
}

async fn public_openapi(ctx: &ApiContext, key: Option<&str>) -> UiResult {
    let org = public_org(ctx, key)?;
    let types: Vec<_> = catalog::all_types(ctx, &org).await?.into_iter().filter(|t| t.released_to(&[])).collect();
    let doc = catalog::openapi_document(&types, "Webhook events");
    Ok(public(Json(doc).into_response()))
}

pub async fn public_default(State(ctx): State<ApiContext>) -> UiResult {
    public_page(&ctx, None).await
}

pub async fn public_of(State(ctx): State<ApiContext>, Path(org): Path<String>) -> UiResult {
    public_page(&ctx, Some(&org)).await
}

pub async fn openapi_default(State(ctx): State<ApiContext>) -> UiResult {
    public_openapi(&ctx, None).await
}

pub async fn openapi_of(State(ctx): State<ApiContext>, Path(org): Path<String>) -> UiResult {
    public_openapi(&ctx, Some(&org)).await
}

/// The catalog a portal token may see: the types without a feature flag, or with one of its own.
pub async fn portal(
    State(ctx): State<ApiContext>,
    grant: Option<Extension<PortalGrant>>,
) -> Result<Json<Vec<catalog::Group>>, Error> {
    let Extension(grant) = grant.ok_or_else(Error::unauthorized)?;
    let types = catalog::all_types(&ctx, &grant.app.org_id).await?;
    Ok(Json(catalog::view(&types, Some(&grant.token.feature_flags))))
}
