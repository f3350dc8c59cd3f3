//! A source's ingest endpoints (`/ingest/api/v1/source/{id}/endpoint…`, the SDKs' `ingest.endpoint`): the
//! endpoints of the application made for the source, through the same `api::endpoints` functions as the outbound
//! API's, under the Ingest API's names.

use std::collections::BTreeMap;

use super::*;
use crate::api::endpoints::{HeadersOut, TransformationChange};
use crate::api::load_endpoint;
use crate::api::validate::double_option;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestEndpointIn {
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    throttle_rate: Option<u16>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    disabled: bool,
    /// `whsec_` + base64 of 24 to 75 bytes; made when absent.
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestEndpointUpsertIn {
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    throttle_rate: Option<u16>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestEndpointOut {
    id: String,
    url: String,
    description: String,
    throttle_rate: Option<u16>,
    uid: Option<String>,
    disabled: bool,
    metadata: Metadata,
    created_at: String,
    updated_at: String,
}

impl From<&Endpoint> for IngestEndpointOut {
    fn from(e: &Endpoint) -> Self {
        IngestEndpointOut {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            throttle_rate: e.throttle_rate,
            uid: e.uid.clone(),
            disabled: e.disabled,
            metadata: e.metadata.clone(),
            created_at: ts(e.created_at),
            updated_at: ts(e.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestEndpointSecretOut {
    key: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestEndpointSecretIn {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    grace_period_seconds: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IngestEndpointHeadersIn {
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IngestEndpointHeadersPatchIn {
    headers: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestEndpointTransformationOut {
    code: Option<String>,
    enabled: bool,
    variables: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct IngestEndpointTransformationPatch {
    #[serde(default, deserialize_with = "double_option")]
    code: Option<Option<String>>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    variables: Option<Option<BTreeMap<String, String>>>,
}

/// The source's application and the endpoint `key` (id or uid) of it; 404 for another organization's.
async fn load_ep(ctx: &ApiContext, org: &str, source: &str, key: &str) -> Result<(Arc<Application>, Endpoint)> {
    let s = load(ctx, org, source).await?;
    let app = source_app(ctx, &s).await?;
    let ep = load_endpoint(ctx, &app, key).await?;
    Ok((app, ep))
}

fn check_uid(uid: &Option<String>) -> Result<()> {
    if let Some(uid) = uid {
        check_ident(&["body", "uid"], uid, 256)?;
    }
    Ok(())
}

#[utoipa::path(
    get, path = "/ingest/api/v1/source/{source_id}/endpoint", operation_id = "v1.ingest.endpoint.list",
    tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ListQuery),
    responses(
        (status = 200, body = ListResponse<IngestEndpointOut>),
        ClientError,
    ),
)]
async fn list_endpoints(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(source): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListResponse<IngestEndpointOut>>> {
    let s = load(&ctx, &org, &source).await?;
    let page = q.page(false);
    let rows = ctx.store.list::<Endpoint>(&org, &s.app_id, &page).await?;
    Ok(Json(list_response(rows, &page, |e| e.id.clone(), |e| (&e).into())))
}

/// An endpoint that receives each event the source accepts, signed (Standard Webhooks) and retried.
#[utoipa::path(
    post, path = "/ingest/api/v1/source/{source_id}/endpoint", operation_id = "v1.ingest.endpoint.create",
    tag = "Ingest Endpoint",
    params(("source_id" = String, Path)),
    request_body = IngestEndpointIn,
    responses(
        (status = 201, body = IngestEndpointOut),
        ClientError,
    ),
)]
async fn create_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(source): Path<String>,
    ValidJson(input): ValidJson<IngestEndpointIn>,
) -> Result<(StatusCode, Json<IngestEndpointOut>)> {
    let s = load(&ctx, &org, &source).await?;
    let app = source_app(&ctx, &s).await?;
    check_uid(&input.uid)?;
    let mut ep = endpoints::new_endpoint(&app, input.url, input.secret, input.headers.unwrap_or_default())?;
    ep.uid = input.uid;
    ep.description = input.description;
    ep.throttle_rate = input.throttle_rate;
    ep.disabled = input.disabled;
    ep.metadata = input.metadata;
    endpoints::insert(&ctx, &ep).await?;
    Ok((StatusCode::CREATED, Json((&ep).into())))
}

#[utoipa::path(
    get, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}", operation_id = "v1.ingest.endpoint.get",
    tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = IngestEndpointOut),
        ClientError,
    ),
)]
async fn get_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
) -> Result<Json<IngestEndpointOut>> {
    let (_, ep) = load_ep(&ctx, &org, &source, &ep_id).await?;
    Ok(Json((&ep).into()))
}

/// Replaces the endpoint's fields; a uid not yet used creates it (201).
#[utoipa::path(
    put, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}", operation_id = "v1.ingest.endpoint.upsert",
    tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = IngestEndpointUpsertIn,
    responses(
        (status = 200, body = IngestEndpointOut),
        (status = 201, body = IngestEndpointOut),
        ClientError,
    ),
)]
async fn upsert_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<IngestEndpointUpsertIn>,
) -> Result<(StatusCode, Json<IngestEndpointOut>)> {
    let s = load(&ctx, &org, &source).await?;
    let app = source_app(&ctx, &s).await?;
    check_uid(&input.uid)?;
    let by_uid = !crate::ids::has_prefix(&ep_id, crate::ids::EP);
    let (status, mut ep) = match ctx.store.get::<Endpoint>(&org, &app.id, &ep_id).await? {
        Some(ep) => (StatusCode::OK, ep),
        None if by_uid => {
            check_ident(&["path", "endpoint_id"], &ep_id, 256)?;
            (StatusCode::CREATED, endpoints::new_endpoint(&app, input.url.clone(), None, BTreeMap::new())?)
        }
        None => return Err(Error::missing("endpoint", &ep_id)),
    };
    ep.url = input.url;
    ep.description = input.description;
    ep.throttle_rate = input.throttle_rate;
    ep.disabled = input.disabled;
    ep.metadata = input.metadata;
    // Addressed by uid, the body may leave the uid out and keep it.
    ep.uid = input.uid.or_else(|| by_uid.then(|| ep_id.clone()));
    match status {
        StatusCode::CREATED => endpoints::insert(&ctx, &ep).await?,
        _ => endpoints::save(&ctx, &mut ep).await?,
    }
    Ok((status, Json((&ep).into())))
}

#[utoipa::path(
    delete, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
    operation_id = "v1.ingest.endpoint.delete", tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn delete_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let (app, ep) = load_ep(&ctx, &org, &source, &ep_id).await?;
    ctx.store.delete::<Endpoint>(&org, &ep.id).await?;
    ctx.engine.invalidate(&app.id);
    Ok(StatusCode::NO_CONTENT)
}

/// The key the endpoint's deliveries are signed with (verify with any Svix or Standard Webhooks library).
#[utoipa::path(
    get, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret",
    operation_id = "v1.ingest.endpoint.get-secret", tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = IngestEndpointSecretOut),
        ClientError,
    ),
)]
async fn get_secret(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
) -> Result<Json<IngestEndpointSecretOut>> {
    let (_, ep) = load_ep(&ctx, &org, &source, &ep_id).await?;
    Ok(Json(IngestEndpointSecretOut { key: ep.secrets.first().map(|s| s.key.clone()).unwrap_or_default() }))
}

/// A new signing key; the old one keeps signing beside it for the grace period (24 h unless said otherwise).
#[utoipa::path(
    post, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret/rotate",
    operation_id = "v1.ingest.endpoint.rotate-secret", tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = IngestEndpointSecretIn,
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn rotate_secret(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<IngestEndpointSecretIn>,
) -> Result<StatusCode> {
    let (_, mut ep) = load_ep(&ctx, &org, &source, &ep_id).await?;
    endpoints::rotate_secret(&ctx, &mut ep, input.key, input.grace_period_seconds).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
    operation_id = "v1.ingest.endpoint.get-headers", tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = HeadersOut),
        ClientError,
    ),
)]
async fn get_headers(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
) -> Result<Json<HeadersOut>> {
    let (_, ep) = load_ep(&ctx, &org, &source, &ep_id).await?;
    Ok(Json((&ep).into()))
}

/// Replaces every custom header sent to the endpoint.
#[utoipa::path(
    put, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
    operation_id = "v1.ingest.endpoint.set-headers", tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = IngestEndpointHeadersIn,
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn put_headers(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<IngestEndpointHeadersIn>,
) -> Result<StatusCode> {
    let (_, mut ep) = load_ep(&ctx, &org, &source, &ep_id).await?;
    endpoints::put_headers(&ctx, &mut ep, input.headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the headers named (`null` removes one), keeping the others (as the outbound endpoints' PATCH).
#[utoipa::path(
    patch, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
    operation_id = "v1.ingest.endpoint.patch-headers", tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = IngestEndpointHeadersPatchIn,
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn patch_headers(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<IngestEndpointHeadersPatchIn>,
) -> Result<StatusCode> {
    let (_, mut ep) = load_ep(&ctx, &org, &source, &ep_id).await?;
    endpoints::patch_headers(&ctx, &mut ep, input.headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation",
    operation_id = "v1.ingest.endpoint.transformation.get", tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = IngestEndpointTransformationOut),
        ClientError,
    ),
)]
async fn get_transformation(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
) -> Result<Json<IngestEndpointTransformationOut>> {
    let (_, ep) = load_ep(&ctx, &org, &source, &ep_id).await?;
    let t = ep.transformation.unwrap_or_default();
    Ok(Json(IngestEndpointTransformationOut {
        code: t.code,
        enabled: t.enabled,
        variables: (!t.variables.is_empty()).then_some(t.variables),
    }))
}

/// JavaScript `handler(webhook)` run on each delivery before it is signed, as an outbound endpoint's.
#[utoipa::path(
    patch, path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation",
    operation_id = "v1.ingest.endpoint.transformation.patch", tag = "Ingest Endpoint",
    params(("source_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = IngestEndpointTransformationPatch,
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn patch_transformation(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((source, ep_id)): Path<(String, String)>,
    ValidJson(p): ValidJson<IngestEndpointTransformationPatch>,
) -> Result<StatusCode> {
    let (_, mut ep) = load_ep(&ctx, &org, &source, &ep_id).await?;
    let change = TransformationChange { code: p.code, enabled: p.enabled, variables: p.variables, template: None };
    endpoints::patch_transformation(&ctx, &mut ep, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, upsert_endpoint, delete_endpoint))
        .routes(routes!(get_secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(get_headers, put_headers, patch_headers))
        .routes(routes!(get_transformation, patch_transformation))
}
