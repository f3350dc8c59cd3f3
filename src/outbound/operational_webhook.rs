//! Operational webhook endpoints (`/api/v1/operational-webhook/endpoint`, the Svix SDKs'
//! `operationalWebhook.endpoint`): where an organization hears about its own service — endpoints created,
//! updated, deleted, disabled and enabled, deliveries failing, exhausted and recovered, inbound registrations
//! failing, timer webhooks exhausted. They are endpoints of the organization's operational application (see
//! [`crate::engine::operational`]), so they are signed with their own secret and retried like any endpoint.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::endpoint::{check_headers, create, rotate, save, EndpointIn, HeadersIn, HeadersOut, RotateIn, SecretOut};
use crate::api::auth::OrgId;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, ListQuery, ListResponse};
use crate::api::time::ts;
use crate::api::ApiContext;
use crate::engine::model::{Application, Endpoint, Metadata};
use crate::error::{ClientError, Error, Result};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointIn {
    pub url: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub throttle_rate: Option<u16>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    /// The operational events to send (`endpoint.disabled`, `message.attempt.*`, …); all when absent.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Only when the endpoint is created; rotate it afterwards.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    /// Only when the endpoint is created; set them with `…/headers` afterwards.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointOut {
    pub id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub throttle_rate: Option<u16>,
    pub disabled: bool,
    pub event_types: Option<Vec<String>>,
    pub metadata: Metadata,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Endpoint> for OperationalWebhookEndpointOut {
    fn from(e: &Endpoint) -> Self {
        OperationalWebhookEndpointOut {
            id: e.id.clone(),
            uid: e.uid.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            throttle_rate: e.throttle_rate,
            disabled: e.disabled,
            event_types: e.filter_types.clone(),
            metadata: e.metadata.clone(),
            created_at: ts(e.created_at),
            updated_at: ts(e.updated_at),
        }
    }
}

impl From<OperationalWebhookEndpointIn> for EndpointIn {
    fn from(i: OperationalWebhookEndpointIn) -> Self {
        EndpointIn {
            url: i.url,
            description: i.description,
            event_types: i.event_types,
            channels: None,
            disabled: i.disabled,
            metadata: i.metadata,
            uid: i.uid,
            secret: i.secret,
            throttle_rate: i.throttle_rate,
            headers: i.headers,
            signature: None,
            retry_schedule: None,
            filter: None,
        }
    }
}

/// The operational endpoint `key` and its application (made with the organization's first one), or 404.
async fn load(ctx: &ApiContext, org: &str, key: &str) -> Result<(std::sync::Arc<Application>, Endpoint)> {
    let missing = || Error::missing("operational webhook endpoint", key);
    let app = ctx.engine.ops_app(org).await?.ok_or_else(missing)?;
    let ep = ctx.store.get::<Endpoint>(&app.org_id, &app.id, key).await?.ok_or_else(missing)?;
    Ok((app, ep))
}

#[utoipa::path(
    get, path = "/api/v1/operational-webhook/endpoint", tag = "Webhook Endpoint",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<OperationalWebhookEndpointOut>),
        ClientError,
    ),
)]
async fn list_operational_webhook_endpoints(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListResponse<OperationalWebhookEndpointOut>>> {
    let page = q.page(false);
    let rows = match ctx.engine.ops_app(&org).await? {
        Some(app) => ctx.store.list::<Endpoint>(&app.org_id, &app.id, &page).await?,
        None => vec![],
    };
    Ok(Json(list_response(rows, &page, |e| e.id.clone(), |e| (&e).into())))
}

#[utoipa::path(
    post, path = "/api/v1/operational-webhook/endpoint", tag = "Webhook Endpoint",
    request_body = OperationalWebhookEndpointIn,
    responses(
        (status = 201, body = OperationalWebhookEndpointOut),
        ClientError,
    ),
)]
async fn create_operational_webhook_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    ValidJson(input): ValidJson<OperationalWebhookEndpointIn>,
) -> Result<(StatusCode, Json<OperationalWebhookEndpointOut>)> {
    let app = ctx.engine.ops_app_or_create(&org).await?;
    let ep = create(&ctx, &app, input.into()).await?;
    Ok((StatusCode::CREATED, Json((&ep).into())))
}

#[utoipa::path(
    get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = OperationalWebhookEndpointOut),
        ClientError,
    ),
)]
async fn get_operational_webhook_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(ep_id): Path<String>,
) -> Result<Json<OperationalWebhookEndpointOut>> {
    let (_, ep) = load(&ctx, &org, &ep_id).await?;
    Ok(Json((&ep).into()))
}

/// Updates the endpoint, or creates it with this uid (the SDKs' `upsert`).
#[utoipa::path(
    put, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path)),
    request_body = OperationalWebhookEndpointIn,
    responses(
        (status = 200, description = "Updated", body = OperationalWebhookEndpointOut),
        (status = 201, description = "Created", body = OperationalWebhookEndpointOut),
        ClientError,
    ),
)]
async fn update_operational_webhook_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(ep_id): Path<String>,
    ValidJson(input): ValidJson<OperationalWebhookEndpointIn>,
) -> Result<(StatusCode, Json<OperationalWebhookEndpointOut>)> {
    let app = ctx.engine.ops_app_or_create(&org).await?;
    match ctx.store.get::<Endpoint>(&app.org_id, &app.id, &ep_id).await? {
        Some(mut ep) => {
            ep.url = input.url;
            ep.description = input.description;
            ep.throttle_rate = input.throttle_rate;
            ep.disabled = input.disabled;
            ep.filter_types = input.event_types;
            ep.metadata = input.metadata;
            ep.uid = input.uid.or_else(|| (!crate::ids::has_prefix(&ep_id, crate::ids::EP)).then(|| ep_id.clone()));
            save(&ctx, &mut ep).await?;
            Ok((StatusCode::OK, Json((&ep).into())))
        }
        None if !crate::ids::has_prefix(&ep_id, crate::ids::EP) => {
            let input = OperationalWebhookEndpointIn { uid: Some(ep_id), ..input };
            let ep = create(&ctx, &app, input.into()).await?;
            Ok((StatusCode::CREATED, Json((&ep).into())))
        }
        None => Err(Error::missing("operational webhook endpoint", &ep_id)),
    }
}

#[utoipa::path(
    delete, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path)),
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn delete_operational_webhook_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(ep_id): Path<String>,
) -> Result<StatusCode> {
    let (app, ep) = load(&ctx, &org, &ep_id).await?;
    ctx.store.delete::<Endpoint>(&app.org_id, &ep.id).await?;
    ctx.engine.invalidate(&app.id);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = SecretOut),
        ClientError,
    ),
)]
async fn get_operational_webhook_endpoint_secret(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(ep_id): Path<String>,
) -> Result<Json<SecretOut>> {
    let (_, ep) = load(&ctx, &org, &ep_id).await?;
    Ok(Json(SecretOut { key: ep.secrets.first().map(|s| s.key.clone()).unwrap_or_default() }))
}

/// The old key keeps signing beside the new one for the grace period (24 h unless said otherwise).
#[utoipa::path(
    post, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path)),
    request_body = RotateIn,
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn rotate_operational_webhook_endpoint_secret(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(ep_id): Path<String>,
    ValidJson(input): ValidJson<RotateIn>,
) -> Result<StatusCode> {
    let (_, mut ep) = load(&ctx, &org, &ep_id).await?;
    rotate(&ctx, &mut ep, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = HeadersOut),
        ClientError,
    ),
)]
async fn get_operational_webhook_endpoint_headers(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(ep_id): Path<String>,
) -> Result<Json<HeadersOut>> {
    let (_, ep) = load(&ctx, &org, &ep_id).await?;
    Ok(Json((&ep).into()))
}

#[utoipa::path(
    put, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path)),
    request_body = HeadersIn,
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn update_operational_webhook_endpoint_headers(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(ep_id): Path<String>,
    ValidJson(input): ValidJson<HeadersIn>,
) -> Result<StatusCode> {
    check_headers(&input.headers.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect())?;
    let (_, mut ep) = load(&ctx, &org, &ep_id).await?;
    ep.headers = input.headers;
    save(&ctx, &mut ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list_operational_webhook_endpoints, create_operational_webhook_endpoint))
        .routes(routes!(
            get_operational_webhook_endpoint,
            update_operational_webhook_endpoint,
            delete_operational_webhook_endpoint
        ))
        .routes(routes!(get_operational_webhook_endpoint_secret))
        .routes(routes!(rotate_operational_webhook_endpoint_secret))
        .routes(routes!(get_operational_webhook_endpoint_headers, update_operational_webhook_endpoint_headers))
}
