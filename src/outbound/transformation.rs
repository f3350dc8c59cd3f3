//! Endpoint transformations, as the Svix API defines them (`endpoint.transformation.get/patch` in the SDKs):
//! JavaScript `code` with `enabled` and `variables`. hookd adds `template`, a ready-made shape (`slack`,
//! `discord`, `teams`, `github-dispatch`, `gitlab-trigger`) used when there is no code, and a dry run
//! (`…/transformation/simulate`) that shows what a payload would become without sending it.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::OrgId;
use crate::api::endpoints::{self, check_transformation, TransformationChange};
use crate::api::extract::ValidJson;
use crate::api::time::ts;
use crate::api::validate::{check_ident, double_option};
use crate::api::{load_app, load_endpoint, ApiContext};
use crate::engine::transform::{Outcome, Preset, Transformation, WebhookIn};
use crate::error::{ClientError, Error, Result};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTransformationOut {
    code: Option<String>,
    enabled: bool,
    variables: Option<BTreeMap<String, String>>,
    updated_at: Option<String>,
    /// hookd's own: the ready-made shape used when there is no code.
    template: Option<Preset>,
}

impl From<Option<&Transformation>> for EndpointTransformationOut {
    fn from(t: Option<&Transformation>) -> Self {
        let t = t.cloned().unwrap_or_default();
        EndpointTransformationOut {
            code: t.code,
            enabled: t.enabled,
            variables: (!t.variables.is_empty()).then_some(t.variables),
            updated_at: t.updated_at.map(ts),
            template: t.template,
        }
    }
}

/// Svix's `EndpointTransformationPatch` (and the older `EndpointTransformationIn`): absent fields are kept,
/// `null` clears.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTransformationPatch {
    #[serde(default, deserialize_with = "double_option")]
    code: Option<Option<String>>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    variables: Option<Option<BTreeMap<String, String>>>,
    #[serde(default, deserialize_with = "double_option")]
    template: Option<Option<Preset>>,
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = EndpointTransformationOut),
        ClientError,
    ),
)]
async fn get_transformation(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> Result<Json<EndpointTransformationOut>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    Ok(Json(ep.transformation.as_ref().into()))
}

/// Sets or changes the endpoint's transformation. A new one with code or a template is enabled unless
/// `enabled: false` is given.
#[utoipa::path(
    patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = EndpointTransformationPatch,
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn patch_transformation(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(p): ValidJson<EndpointTransformationPatch>,
) -> Result<StatusCode> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let mut ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let change =
        TransformationChange { code: p.code, enabled: p.enabled, variables: p.variables, template: p.template };
    endpoints::patch_transformation(&ctx, &mut ep, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A dry run: the endpoint's transformation (or the `code`/`template` given) applied to a payload.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTransformationSimulateIn {
    event_type: String,
    #[schema(value_type = Object)]
    payload: Box<RawValue>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    template: Option<Preset>,
    #[serde(default)]
    variables: Option<BTreeMap<String, String>>,
    /// Accepted for Svix's shape; not used.
    #[serde(default)]
    #[allow(dead_code)]
    channels: Option<Vec<String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTransformationSimulateOut {
    /// `POST` or `PUT`; absent when cancelled.
    method: Option<String>,
    url: Option<String>,
    #[schema(value_type = Object)]
    payload: Option<Box<RawValue>>,
    /// The handler returned `cancel: true`: nothing would be sent.
    cancel: bool,
}

#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation/simulate", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = EndpointTransformationSimulateIn,
    responses(
        (status = 200, body = EndpointTransformationSimulateOut),
        ClientError,
    ),
)]
async fn simulate(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<EndpointTransformationSimulateIn>,
) -> Result<Json<EndpointTransformationSimulateOut>> {
    check_ident(&["body", "eventType"], &input.event_type, 256)?;
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    // The stored one, with what the request gives instead (the dry run enables it).
    let mut t = ep.transformation.clone().unwrap_or_default();
    if input.code.is_some() || input.template.is_some() {
        (t.code, t.template) = (input.code, input.template);
    }
    if let Some(variables) = input.variables {
        t.variables = variables;
    }
    check_transformation(&t)?;
    let webhook = WebhookIn { method: "POST", url: &ep.url, event_type: &input.event_type, payload: &input.payload };
    let out = ctx
        .engine
        .transformer
        .dry_run(&t, webhook, &ctx.engine.egress)
        .await
        .map_err(|why| Error::new(StatusCode::BAD_REQUEST, "transformation_failed", why))?;
    Ok(Json(match out {
        Outcome::Cancel => EndpointTransformationSimulateOut { method: None, url: None, payload: None, cancel: true },
        Outcome::Send { method, url, payload, .. } => EndpointTransformationSimulateOut {
            method: Some(method.to_string()),
            url: Some(url),
            payload: Some(payload),
            cancel: false,
        },
    }))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(get_transformation, patch_transformation)).routes(routes!(simulate))
}
