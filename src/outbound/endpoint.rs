//! Endpoints: where an application's messages go, and how they are signed and retried.
//!
//! Beyond the Svix fields, an endpoint may carry `signature` (one of the seeds' `sha256=` schemes, or a
//! preset: `{"preset": "tms" | "minoots" | "chat"}`) and `retrySchedule` (durations such as `["5s", "25s"]`);
//! a PATCH may replace its custom `headers` too, so that one request changes an endpoint as a whole.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::background_task::{self, BackgroundTaskOut, TaskStatus};
use super::message::{MessageIn, MessageOut};
use crate::api::auth::OrgId;
pub(super) use crate::api::endpoints::HeadersOut;
pub(super) use crate::api::endpoints::{check_headers, save};
use crate::api::endpoints::{insert, new_endpoint, parse_filter, parse_schedule};
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, ListQuery, ListResponse};
use crate::api::time::{opt_ts, parse_ts, ts};
use crate::api::validate::{check_ident, double_option};
use crate::api::{load_app, load_endpoint, ApiContext};
use crate::engine::model::{Application, Endpoint, Metadata};
use crate::engine::signing::HmacScheme;
use crate::error::{ClientError, Error, Result};

/// `signature` as written by a user: a whole scheme, or a preset by name.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SignatureIn {
    Preset { preset: String },
    Scheme(HmacScheme),
}

impl SignatureIn {
    fn resolve(self) -> Result<HmacScheme> {
        let scheme = match self {
            SignatureIn::Preset { preset } => HmacScheme::preset(&preset).ok_or_else(|| {
                Error::invalid(&["body", "signature", "preset"], "unknown preset (tms, minoots, chat)")
            })?,
            SignatureIn::Scheme(s) => s,
        };
        scheme.validate().map_err(|e| Error::invalid(&["body", "signature"], e))?;
        Ok(scheme)
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    pub url: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, alias = "filterTypes")]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<u16>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub signature: Option<SignatureIn>,
    #[serde(default)]
    pub retry_schedule: Option<Vec<String>>,
    /// hookd's own: a payload filter (`{"payload": {"amount": {"$gte": 100}}}`); see `engine::filter`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    #[serde(default, alias = "filterTypes", deserialize_with = "double_option")]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    pub channels: Option<Option<Vec<String>>>,
    pub disabled: Option<bool>,
    pub metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "double_option")]
    pub uid: Option<Option<String>>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    pub throttle_rate: Option<Option<u16>>,
    #[serde(default, deserialize_with = "double_option")]
    pub signature: Option<Option<SignatureIn>>,
    #[serde(default, deserialize_with = "double_option")]
    pub retry_schedule: Option<Option<Vec<String>>>,
    /// hookd's own: every custom header, replacing those set (as `PUT …/headers` does).
    pub headers: Option<BTreeMap<String, String>>,
    /// hookd's own: the payload filter (`null` removes it).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Option<serde_json::Value>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    pub id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub disabled: bool,
    pub throttle_rate: Option<u16>,
    pub metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<HmacScheme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Endpoint> for EndpointOut {
    fn from(e: &Endpoint) -> Self {
        EndpointOut {
            id: e.id.clone(),
            uid: e.uid.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            event_types: e.filter_types.clone(),
            channels: e.channels.clone(),
            disabled: e.disabled,
            throttle_rate: e.throttle_rate,
            metadata: e.metadata.clone(),
            signature: e.signature.clone(),
            retry_schedule: e.retry_schedule.as_ref().map(|s| {
                s.iter()
                    .map(|ms| humantime::format_duration(std::time::Duration::from_millis(*ms)).to_string())
                    .collect()
            }),
            filter: e.filter.as_ref().map(|f| f.as_json().clone()),
            created_at: ts(e.created_at),
            updated_at: ts(e.updated_at),
        }
    }
}

pub(super) async fn create(ctx: &ApiContext, app: &Application, input: EndpointIn) -> Result<Endpoint> {
    let mut ep = new_endpoint(app, input.url, input.secret, input.headers.unwrap_or_default())?;
    ep.uid = input.uid;
    ep.description = input.description;
    ep.filter_types = input.event_types;
    ep.channels = input.channels;
    ep.disabled = input.disabled;
    ep.metadata = input.metadata;
    ep.throttle_rate = input.throttle_rate;
    ep.signature = input.signature.map(SignatureIn::resolve).transpose()?;
    ep.retry_schedule = parse_schedule(input.retry_schedule)?;
    ep.filter = parse_filter(input.filter)?;
    insert(ctx, &ep).await?;
    Ok(ep)
}

#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/endpoint", tag = "Endpoint",
    params(("app_id" = String, Path)),
    request_body = EndpointIn,
    responses(
        (status = 201, body = EndpointOut),
        ClientError,
    ),
)]
async fn create_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    ValidJson(input): ValidJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>)> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = create(&ctx, &app, input).await?;
    ctx.engine.emit_endpoint_event("endpoint.created", &app, &ep);
    Ok((StatusCode::CREATED, Json((&ep).into())))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/endpoint", tag = "Endpoint",
    params(("app_id" = String, Path), ListQuery),
    responses(
        (status = 200, body = ListResponse<EndpointOut>),
        ClientError,
    ),
)]
async fn list_endpoints(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListResponse<EndpointOut>>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let page = q.page(false);
    let rows = ctx.store.list::<Endpoint>(&org, &app.id, &page).await?;
    Ok(Json(list_response(rows, &page, |e| e.id.clone(), |e| (&e).into())))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = EndpointOut),
        ClientError,
    ),
)]
async fn get_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> Result<Json<EndpointOut>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    Ok(Json((&load_endpoint(&ctx, &app, &ep_id).await?).into()))
}

#[utoipa::path(
    put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = EndpointIn,
    responses(
        (status = 200, description = "Updated", body = EndpointOut),
        (status = 201, description = "Created", body = EndpointOut),
        ClientError,
    ),
)]
async fn update_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>)> {
    let app = load_app(&ctx, &org, &app_id).await?;
    match ctx.store.get::<Endpoint>(&org, &app.id, &ep_id).await? {
        Some(mut ep) => {
            let was_disabled = ep.disabled;
            ep.url = input.url;
            ep.description = input.description;
            ep.filter_types = input.event_types;
            ep.channels = input.channels;
            ep.disabled = input.disabled;
            ep.metadata = input.metadata;
            // Addressed by uid, the body may leave the uid out and keep it.
            ep.uid = input.uid.or_else(|| (!crate::ids::has_prefix(&ep_id, crate::ids::EP)).then(|| ep_id.clone()));
            ep.throttle_rate = input.throttle_rate;
            if let Some(sig) = input.signature {
                ep.signature = Some(sig.resolve()?);
            }
            if input.retry_schedule.is_some() {
                ep.retry_schedule = parse_schedule(input.retry_schedule)?;
            }
            ep.filter = parse_filter(input.filter)?;
            save(&ctx, &mut ep).await?;
            crate::api::endpoint_updated(&ctx, &app, was_disabled, &ep);
            Ok((StatusCode::OK, Json((&ep).into())))
        }
        None if !crate::ids::has_prefix(&ep_id, crate::ids::EP) => {
            let ep = create(&ctx, &app, EndpointIn { uid: Some(ep_id), ..input }).await?;
            ctx.engine.emit_endpoint_event("endpoint.created", &app, &ep);
            Ok((StatusCode::CREATED, Json((&ep).into())))
        }
        None => Err(Error::missing("endpoint", &ep_id)),
    }
}

#[utoipa::path(
    patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = EndpointPatch,
    responses(
        (status = 200, body = EndpointOut),
        ClientError,
    ),
)]
async fn patch_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(p): ValidJson<EndpointPatch>,
) -> Result<Json<EndpointOut>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let mut ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let was_disabled = ep.disabled;
    if let Some(v) = p.url {
        ep.url = v;
    }
    if let Some(v) = p.description {
        ep.description = v;
    }
    if let Some(v) = p.event_types {
        ep.filter_types = v;
    }
    if let Some(v) = p.channels {
        ep.channels = v;
    }
    if let Some(v) = p.disabled {
        ep.disabled = v;
    }
    if let Some(v) = p.metadata {
        ep.metadata = v;
    }
    if let Some(v) = p.uid {
        ep.uid = v;
    }
    if let Some(v) = p.throttle_rate {
        ep.throttle_rate = v;
    }
    if let Some(v) = p.signature {
        ep.signature = v.map(SignatureIn::resolve).transpose()?;
    }
    if let Some(v) = p.filter {
        ep.filter = parse_filter(v)?;
    }
    if let Some(v) = p.retry_schedule {
        ep.retry_schedule = parse_schedule(v)?;
    }
    if let Some(v) = p.headers {
        check_headers(&v.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect())?;
        ep.headers = v;
    }
    save(&ctx, &mut ep).await?;
    crate::api::endpoint_updated(&ctx, &app, was_disabled, &ep);
    Ok(Json((&ep).into()))
}

#[utoipa::path(
    delete, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn delete_endpoint(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    ctx.store.delete::<Endpoint>(&org, &ep.id).await?;
    ctx.engine.invalidate(&app.id);
    ctx.engine.emit_endpoint_event("endpoint.deleted", &app, &ep);
    Ok(StatusCode::NO_CONTENT)
}

// ── headers ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct HeadersIn {
    pub(super) headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct HeadersPatchIn {
    headers: BTreeMap<String, Option<String>>,
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = HeadersOut),
        ClientError,
    ),
)]
async fn get_headers(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> Result<Json<HeadersOut>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    Ok(Json((&ep).into()))
}

#[utoipa::path(
    put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = HeadersIn,
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn put_headers(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<HeadersIn>,
) -> Result<StatusCode> {
    check_headers(&input.headers.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect())?;
    let app = load_app(&ctx, &org, &app_id).await?;
    let mut ep = load_endpoint(&ctx, &app, &ep_id).await?;
    crate::api::endpoints::put_headers(&ctx, &mut ep, input.headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = HeadersPatchIn,
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn patch_headers(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<HeadersPatchIn>,
) -> Result<StatusCode> {
    check_headers(&input.headers)?;
    let app = load_app(&ctx, &org, &app_id).await?;
    let mut ep = load_endpoint(&ctx, &app, &ep_id).await?;
    crate::api::endpoints::patch_headers(&ctx, &mut ep, input.headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ── secret ──

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct SecretOut {
    pub(super) key: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RotateIn {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    grace_period_seconds: Option<u32>,
}

/// Rotates `ep`'s signing key as `input` asks; answers with the new key.
pub(super) async fn rotate(ctx: &ApiContext, ep: &mut Endpoint, input: RotateIn) -> Result<String> {
    crate::api::endpoints::rotate_secret(ctx, ep, input.key, input.grace_period_seconds).await
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses(
        (status = 200, body = SecretOut),
        ClientError,
    ),
)]
async fn get_secret(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> Result<Json<SecretOut>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let key = ep.secrets.first().map(|s| s.key.clone()).unwrap_or_default();
    Ok(Json(SecretOut { key }))
}

/// The old key keeps signing beside the new one for the grace period (24 h unless said otherwise). Answers
/// with the new key (svix-server answers 204, but its SDKs read a body).
#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = RotateIn,
    responses(
        (status = 200, body = SecretOut),
        ClientError,
    ),
)]
async fn rotate_secret(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<RotateIn>,
) -> Result<Json<SecretOut>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let mut ep = load_endpoint(&ctx, &app, &ep_id).await?;
    Ok(Json(SecretOut { key: rotate(&ctx, &mut ep, input).await? }))
}

// ── recover, send-example, stats ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RecoverIn {
    since: String,
    #[serde(default)]
    until: Option<String>,
}

/// Sends again every failed message of the endpoint created since `since` (and before `until`).
#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = RecoverIn,
    responses(
        (status = 202, body = BackgroundTaskOut),
        ClientError,
    ),
)]
async fn recover(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<RecoverIn>,
) -> Result<(StatusCode, Json<BackgroundTaskOut>)> {
    let since = parse_ts("since", &input.since)
        .map_err(|_| Error::invalid(&["body", "since"], "expected an RFC 3339 date-time"))?;
    let until = opt_ts("until", &input.until)
        .map_err(|_| Error::invalid(&["body", "until"], "expected an RFC 3339 date-time"))?;
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let n = crate::api::recover(&ctx, &ep, since, until).await?;
    // Queued in one commit: the task is recorded finished, so that `background-task` lists it.
    let data = serde_json::json!({ "messagesProcessed": n, "messagesSent": n });
    let task = background_task::record(&ctx, &org, "endpoint.recover", TaskStatus::Finished, data).await?;
    Ok((StatusCode::ACCEPTED, Json((&task).into())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventExampleIn {
    event_type: String,
}

/// Sends an example of the event type (its schema's first example, or `{}`) to this endpoint only.
#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = EventExampleIn,
    responses(
        (status = 200, body = MessageOut),
        ClientError,
    ),
)]
async fn send_example(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    ValidJson(input): ValidJson<EventExampleIn>,
) -> Result<Json<MessageOut>> {
    check_ident(&["body", "eventType"], &input.event_type, 256)?;
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let example = crate::api::endpoints::example_payload(&ctx, &org, &input.event_type).await?;
    let input = MessageIn::example(input.event_type, &example);
    let msg = super::message::publish(&ctx, &app, input, Some(ep.id)).await?;
    Ok(Json(MessageOut::new(&msg, true)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    since: Option<String>,
    until: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct StatsOut {
    success: i64,
    pending: i64,
    sending: i64,
    fail: i64,
    canceled: i64,
    /// hookd's own: the endpoint's circuit breaker (absent when the breaker is turned off).
    #[serde(skip_serializing_if = "Option::is_none")]
    circuit: Option<CircuitOut>,
}

/// An endpoint's circuit breaker, as every node sees it (the count of failures in a row is in the store).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct CircuitOut {
    /// `open` once `HOOKD_BREAKER_FAILURES` attempts in a row have failed (deliveries wait; one probe at a time
    /// tests the endpoint), `closed` otherwise.
    state: &'static str,
    /// Attempts failed in a row since the last success.
    consecutive_failures: i64,
    /// The first of those failures.
    failing_since: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), StatsQuery),
    responses(
        (status = 200, body = StatsOut),
        ClientError,
    ),
)]
async fn stats(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<StatsOut>> {
    let (since, until) = (opt_ts("since", &q.since)?, opt_ts("until", &q.until)?);
    let app = load_app(&ctx, &org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let s = ctx.store.endpoint_stats(&org, &app.id, &ep.id, since, until).await?;
    let threshold = ctx.cfg.breaker.failures as i64;
    let circuit = match threshold {
        0 => None,
        _ => {
            let failing = ctx.store.endpoint_failing(&ep.id).await?;
            let failures = failing.map_or(0, |f| f.consecutive);
            Some(CircuitOut {
                state: if failures >= threshold { "open" } else { "closed" },
                consecutive_failures: failures,
                failing_since: failing.map(|f| ts(f.since)),
            })
        }
    };
    Ok(Json(StatsOut {
        success: s.success,
        pending: s.pending,
        sending: s.sending,
        fail: s.fail,
        canceled: s.canceled,
        circuit,
    }))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, patch_endpoint, delete_endpoint))
        .routes(routes!(get_headers, put_headers, patch_headers))
        .routes(routes!(get_secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(recover))
        .routes(routes!(send_example))
        .routes(routes!(stats))
}
