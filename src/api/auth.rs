//! Bearer tokens. A token belongs to one organization and is stored as its SHA-256; lookups are cached briefly
//! because every request (and every publish) makes one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use super::ApiContext;
use crate::error::Error;

/// The organization the request's token belongs to; every query is scoped by it.
#[derive(Debug, Clone)]
pub struct OrgId(pub String);

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new token: `hk_` and 40 base62 characters (~238 bits).
pub fn new_token() -> String {
    format!("hk_{}", crate::ids::random_token(40))
}

/// The request's token: `Authorization: Bearer …`, or `x-api-key` (the timers API's way).
pub fn token_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The organization of the request's token (see [`token_of`]).
pub async fn org_for(ctx: &ApiContext, headers: &axum::http::HeaderMap) -> Result<OrgId, Error> {
    org_of_token(ctx, token_of(headers).ok_or_else(Error::unauthorized)?).await
}

/// The organization `token` belongs to, or 401 (the API's header and the dashboard's login form).
pub async fn org_of_token(ctx: &ApiContext, token: &str) -> Result<OrgId, Error> {
    let hash = hash_token(token);
    if let Some(org) = ctx.tokens.get(&hash) {
        return Ok(OrgId(org));
    }
    let org = ctx.store.token_org(hash).await?.ok_or_else(Error::unauthorized)?;
    ctx.tokens.insert(hash, org.clone());
    Ok(OrgId(org))
}

impl FromRequestParts<ApiContext> for OrgId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Self, Self::Rejection> {
        if let Some(org) = parts.extensions.get::<OrgId>() {
            return Ok(org.clone());
        }
        org_for(ctx, &parts.headers).await
    }
}
