//! Destinations (`/api/v1/app/{app_id}/destination`): ordered consumers of an application's messages, as the Svix
//! SDK 2.5 spells them — `type` + `config`, batching (`batchSize`, `maxWaitSecs`), the same filters as endpoints
//! (event types, channels, and hookd's payload `filter`) — with their control routes (skip, force-retry, the next
//! and last acknowledged events, attempts). The engine side is `engine::destinations`; polling endpoints are read
//! through `outbound::poller`.
//!
//! A destination's `config` is sealed at rest as a whole and never shown whole: a FIFO endpoint's key is masked
//! (hookd's own `GET …/secret` answers it, as for endpoints), sensitive headers are named without their values,
//! and sinks show their [`crate::engine::sinks::SinkConfig::redacted`] form.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::OrgId;
use crate::api::endpoints::parse_filter;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, ListQuery, ListResponse};
use crate::api::time::ts;
use crate::api::validate::{check_ident, double_option};
use crate::api::{load_app, ApiContext};
use crate::engine::destinations::{parse_config, Destination, Target, FIFO, POLLING};
use crate::engine::model::{Application, Metadata};
use crate::error::{ClientError, Error, Result};
use crate::store::destinations::{DestinationAttempt, DestinationState};
use crate::store::{now_ms, status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DestinationStatusIn {
    Enabled,
    Disabled,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationIn {
    /// `fifoEndpoint`, `pollingEndpoint`, or a broker, database or queue kind.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Value,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub status: Option<DestinationStatusIn>,
    /// 1 to 1000 (100).
    #[serde(default)]
    pub batch_size: Option<i64>,
    /// 0 to 300 (0).
    #[serde(default)]
    pub max_wait_secs: Option<i64>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub metadata: Metadata,
    /// hookd's own: a payload filter, as endpoints have.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationPatch {
    /// With `config`: the type may not change, but its config may.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    #[serde(default, deserialize_with = "double_option")]
    pub uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub status: Option<Option<DestinationStatusIn>>,
    #[serde(default, deserialize_with = "double_option")]
    pub batch_size: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub max_wait_secs: Option<Option<i64>>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Option<Value>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationOut {
    pub id: String,
    pub uid: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    /// Secrets masked.
    #[schema(value_type = Object)]
    pub config: Value,
    /// `enabled`, `paused` (nothing to send yet is never paused: hookd does not pause), `disabled` or `retrying`.
    pub status: &'static str,
    /// The last log position acknowledged.
    pub current_iterator: String,
    /// hookd's own: how many of the application's messages were committed after `currentIterator` (those the
    /// destination does not take count too), as `hookd_destination_lag` on `/metrics`.
    pub lag: i64,
    pub failure_reason: Option<String>,
    pub next_retry_at: Option<String>,
    pub batch_size: u16,
    pub max_wait_secs: u16,
    pub event_types: Vec<String>,
    pub channels: Vec<String>,
    pub metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
    pub created_at: String,
    pub updated_at: String,
}

fn status_of(d: &Destination, st: Option<&DestinationState>) -> &'static str {
    if !d.enabled {
        "disabled"
    } else if st.is_some_and(|s| s.next_retry_at.is_some()) {
        "retrying"
    } else {
        "enabled"
    }
}

/// `head`: the application's last log position.
fn out(d: &Destination, st: Option<&DestinationState>, head: i64) -> DestinationOut {
    let config = d.target().map(|t| t.redacted()).unwrap_or(Value::Null);
    let acked = st.map_or(0, |s| s.acked_pos);
    DestinationOut {
        id: d.id.clone(),
        uid: d.uid.clone(),
        kind: d.kind.clone(),
        config,
        status: status_of(d, st),
        current_iterator: acked.to_string(),
        lag: (head - acked).max(0),
        failure_reason: st.and_then(|s| s.failure_reason.clone()),
        next_retry_at: st.and_then(|s| s.next_retry_at).map(ts),
        batch_size: d.batch_size,
        max_wait_secs: d.max_wait_secs,
        event_types: d.event_types.clone().unwrap_or_default(),
        channels: d.channels.clone().unwrap_or_default(),
        metadata: d.metadata.clone(),
        filter: d.filter.as_ref().map(|f| f.as_json().clone()),
        created_at: ts(d.created_at),
        updated_at: ts(d.updated_at),
    }
}

async fn out_of(ctx: &ApiContext, d: &Destination) -> Result<DestinationOut> {
    let st = ctx.store.destination_state(&d.id).await?;
    Ok(out(d, st.as_ref(), ctx.store.log_head(&d.app_id).await?))
}

/// Checks `config` for `kind` and answers what to store, with a 422 naming the field.
async fn check_config(ctx: &ApiContext, kind: &str, config: &Value) -> Result<String> {
    let target = parse_config(kind, config, &ctx.engine.egress).map_err(|e| {
        if e.field.is_empty() && !matches!(kind, FIFO | POLLING) {
            return Error::invalid(&["body", "type"], e.message);
        }
        let mut loc = vec!["body", "config"];
        loc.extend(e.field.iter().map(String::as_str));
        Error::invalid(&loc, e.message)
    })?;
    if let Target::Fifo(c) = &target {
        // Resolved now, so that a name pointing at a private network is refused when saved, as endpoints' are.
        ctx.engine.egress.check_destination(&c.url).await.map_err(|e| Error::invalid(&["body", "config", "url"], e))?;
    }
    Ok(target.stored(config).to_string())
}

fn check_sizes(batch_size: Option<i64>, max_wait_secs: Option<i64>) -> Result<(u16, u16)> {
    let batch = batch_size.unwrap_or(100);
    if !(1..=1000).contains(&batch) {
        return Err(Error::invalid(&["body", "batchSize"], "must be between 1 and 1000"));
    }
    let wait = max_wait_secs.unwrap_or(0);
    if !(0..=300).contains(&wait) {
        return Err(Error::invalid(&["body", "maxWaitSecs"], "must be between 0 and 300"));
    }
    Ok((batch as u16, wait as u16))
}

fn check_lists(d: &Destination) -> Result<()> {
    for (field, list) in [("eventTypes", &d.event_types), ("channels", &d.channels)] {
        for (i, v) in list.iter().flatten().enumerate().filter(|(_, v)| *v != "*") {
            let at = i.to_string();
            // An event type may end in a `*` wildcard (`order.*`), as endpoints' filters do.
            let name = if field == "eventTypes" { v.trim_end_matches('*').trim_end_matches('.') } else { v };
            check_ident(&["body", field, at.as_str()], name, 256)?;
        }
    }
    if let Some(uid) = &d.uid {
        check_ident(&["body", "uid"], uid, 60)?;
        if crate::ids::has_prefix(uid, crate::ids::DESTINATION) {
            return Err(Error::invalid(&["body", "uid"], "must not look like a destination id"));
        }
    }
    Ok(())
}

/// The destination `key` (id or uid) of the application `app_key` of `org`, or 404: what most routes start with.
pub async fn destination_of(ctx: &ApiContext, org: &str, app_key: &str, key: &str) -> Result<Destination> {
    let app = load_app(ctx, org, app_key).await?;
    load_destination(ctx, &app, key).await
}

/// The destination `key` (id or uid) of `app`, or 404.
pub async fn load_destination(ctx: &ApiContext, app: &Application, key: &str) -> Result<Destination> {
    ctx.store.get::<Destination>(&app.org_id, &app.id, key).await?.ok_or_else(|| Error::missing("destination", key))
}

async fn create(ctx: &ApiContext, app: &Application, input: DestinationIn) -> Result<Destination> {
    let (batch_size, max_wait_secs) = check_sizes(input.batch_size, input.max_wait_secs)?;
    let config = check_config(ctx, &input.kind, &input.config).await?;
    let now = now_ms();
    let d = Destination {
        id: crate::ids::new(crate::ids::DESTINATION),
        org_id: app.org_id.clone(),
        app_id: app.id.clone(),
        uid: input.uid,
        kind: input.kind,
        config,
        enabled: input.status != Some(DestinationStatusIn::Disabled),
        batch_size,
        max_wait_secs,
        event_types: input.event_types,
        channels: input.channels,
        metadata: input.metadata,
        filter: parse_filter(input.filter)?,
        transformation: None,
        poller_token: None,
        old_poller_token: None,
        created_at: now,
        updated_at: now,
    };
    check_lists(&d)?;
    // The cursor first: a destination document without one would be shown with none.
    ctx.store.destination_state_create(&d.id, &d.org_id, &d.app_id, d.pushed()).await?;
    if let Err(e) = ctx.store.insert(&d).await {
        ctx.store.destination_state_delete(&d.id).await?;
        return Err(e.into());
    }
    ctx.engine.destinations.poke(&d.app_id);
    Ok(d)
}

/// Stores a changed destination and turns its worker on or off.
async fn save(ctx: &ApiContext, d: &mut Destination) -> Result<()> {
    check_lists(d)?;
    d.updated_at = now_ms();
    if !ctx.store.update(d).await? {
        return Err(Error::missing("destination", &d.id));
    }
    ctx.store.destination_set_active(&d.id, d.pushed()).await?;
    ctx.engine.destinations.poke(&d.app_id);
    Ok(())
}

#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/destination", tag = "Destination",
    params(("app_id" = String, Path)),
    request_body = DestinationIn,
    responses((status = 201, body = DestinationOut), ClientError),
)]
async fn create_destination(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    ValidJson(input): ValidJson<DestinationIn>,
) -> Result<(StatusCode, Json<DestinationOut>)> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let d = create(&ctx, &app, input).await?;
    Ok((StatusCode::CREATED, Json(out_of(&ctx, &d).await?)))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/destination", tag = "Destination",
    params(("app_id" = String, Path), ListQuery),
    responses((status = 200, body = ListResponse<DestinationOut>), ClientError),
)]
async fn list_destinations(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListResponse<DestinationOut>>> {
    let app = load_app(&ctx, &org, &app_id).await?;
    let page = q.page(false);
    let rows = ctx.store.list::<Destination>(&org, &app.id, &page).await?;
    let mut states = std::collections::HashMap::new();
    for d in &rows {
        if let Some(st) = ctx.store.destination_state(&d.id).await? {
            states.insert(d.id.clone(), st);
        }
    }
    let head = ctx.store.log_head(&app.id).await?;
    Ok(Json(list_response(rows, &page, |d| d.id.clone(), |d| out(&d, states.get(&d.id), head))))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/destination/{destination_id}", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    responses((status = 200, body = DestinationOut), ClientError),
)]
async fn get_destination(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<DestinationOut>> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    Ok(Json(out_of(&ctx, &d).await?))
}

#[utoipa::path(
    put, path = "/api/v1/app/{app_id}/destination/{destination_id}", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    request_body = DestinationIn,
    responses(
        (status = 200, description = "Updated", body = DestinationOut),
        (status = 201, description = "Created", body = DestinationOut),
        ClientError,
    ),
)]
async fn update_destination(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
    ValidJson(input): ValidJson<DestinationIn>,
) -> Result<(StatusCode, Json<DestinationOut>)> {
    let app = load_app(&ctx, &org, &app_id).await?;
    match ctx.store.get::<Destination>(&org, &app.id, &id).await? {
        Some(mut d) => {
            if input.kind != d.kind {
                return Err(Error::invalid(&["body", "type"], "a destination's type cannot change"));
            }
            let (batch_size, max_wait_secs) = check_sizes(input.batch_size, input.max_wait_secs)?;
            d.config = check_config(&ctx, &input.kind, &input.config).await?;
            d.batch_size = batch_size;
            d.max_wait_secs = max_wait_secs;
            d.enabled = input.status != Some(DestinationStatusIn::Disabled);
            d.event_types = input.event_types;
            d.channels = input.channels;
            d.metadata = input.metadata;
            d.filter = parse_filter(input.filter)?;
            d.uid = input.uid.or_else(|| (!crate::ids::has_prefix(&id, crate::ids::DESTINATION)).then(|| id.clone()));
            save(&ctx, &mut d).await?;
            Ok((StatusCode::OK, Json(out_of(&ctx, &d).await?)))
        }
        None if !crate::ids::has_prefix(&id, crate::ids::DESTINATION) => {
            let d = create(&ctx, &app, DestinationIn { uid: Some(id), ..input }).await?;
            Ok((StatusCode::CREATED, Json(out_of(&ctx, &d).await?)))
        }
        None => Err(Error::missing("destination", &id)),
    }
}

#[utoipa::path(
    patch, path = "/api/v1/app/{app_id}/destination/{destination_id}", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    request_body = DestinationPatch,
    responses((status = 200, body = DestinationOut), ClientError),
)]
async fn patch_destination(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
    ValidJson(p): ValidJson<DestinationPatch>,
) -> Result<Json<DestinationOut>> {
    let mut d = destination_of(&ctx, &org, &app_id, &id).await?;
    if let Some(kind) = &p.kind {
        if *kind != d.kind {
            return Err(Error::invalid(&["body", "type"], "a destination's type cannot change"));
        }
    }
    if let Some(config) = &p.config {
        // The fields given replace the stored ones (`null` removes one): the SDK's patch sends a FIFO endpoint's
        // `url` alone, which must not drop its headers or replace its key.
        let mut merged: Value = serde_json::from_str(&d.config).unwrap_or_else(|_| Value::Object(Default::default()));
        match (merged.as_object_mut(), config) {
            (Some(stored), Value::Object(given)) => {
                for (k, v) in given {
                    if v.is_null() {
                        stored.remove(k);
                    } else {
                        stored.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => merged = config.clone(),
        }
        d.config = check_config(&ctx, &d.kind, &merged).await?;
    }
    if let Some(v) = p.uid {
        d.uid = v;
    }
    if let Some(v) = p.status {
        d.enabled = v != Some(DestinationStatusIn::Disabled);
    }
    let batch = p.batch_size.map(|b| b.unwrap_or(100)).unwrap_or(d.batch_size as i64);
    let wait = p.max_wait_secs.map(|w| w.unwrap_or(0)).unwrap_or(d.max_wait_secs as i64);
    (d.batch_size, d.max_wait_secs) = check_sizes(Some(batch), Some(wait))?;
    if let Some(v) = p.event_types {
        d.event_types = Some(v);
    }
    if let Some(v) = p.channels {
        d.channels = Some(v);
    }
    if let Some(v) = p.metadata {
        d.metadata = v;
    }
    if let Some(v) = p.filter {
        d.filter = parse_filter(v)?;
    }
    save(&ctx, &mut d).await?;
    Ok(Json(out_of(&ctx, &d).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/app/{app_id}/destination/{destination_id}", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    responses((status = 204), ClientError),
)]
async fn delete_destination(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    ctx.store.delete::<Destination>(&org, &d.id).await?;
    ctx.store.destination_state_delete(&d.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ── the signing key (hookd's own, as endpoints have it) ──

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DestinationSecretOut {
    key: String,
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/destination/{destination_id}/secret", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    responses((status = 200, body = DestinationSecretOut), ClientError),
)]
async fn get_destination_secret(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<DestinationSecretOut>> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    match d.target() {
        Ok(Target::Fifo(c)) => Ok(Json(DestinationSecretOut { key: c.key })),
        _ => Err(Error::bad_request("only a fifoEndpoint signs its batches")),
    }
}

// ── transformation ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct DestinationTransformIn {
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DestinationTransformationOut {
    code: Option<String>,
    enabled: bool,
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/destination/{destination_id}/transformation", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    responses((status = 200, body = DestinationTransformationOut), ClientError),
)]
async fn get_destination_transformation(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<DestinationTransformationOut>> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    Ok(Json(DestinationTransformationOut { enabled: d.transformation.is_some(), code: d.transformation }))
}

/// Sets (compiled first: a 422 with the error) or removes (`code` null) the transformation run on each batch:
/// `handler({events: [{payload, eventType}]})` returns `{requestBody}`.
#[utoipa::path(
    patch, path = "/api/v1/app/{app_id}/destination/{destination_id}/transformation", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    request_body = DestinationTransformIn,
    responses((status = 204), ClientError),
)]
async fn patch_destination_transformation(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
    ValidJson(input): ValidJson<DestinationTransformIn>,
) -> Result<StatusCode> {
    let mut d = destination_of(&ctx, &org, &app_id, &id).await?;
    if let Some(code) = &input.code {
        let t = crate::engine::transform::Transformation { code: Some(code.clone()), ..Default::default() };
        ctx.engine.transformer.check(&t).await.map_err(|e| Error::invalid(&["body", "code"], e))?;
    }
    d.transformation = input.code;
    save(&ctx, &mut d).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ── control ──

#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/destination/{destination_id}/force-retry", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    responses((status = 204), ClientError),
)]
async fn force_retry_destination(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    ctx.store.destination_retry_now(&d.id, now_ms()).await?;
    ctx.engine.destinations.poke(&d.app_id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SkipParams {
    /// The position to resume after (a `currentIterator`, or an `iterator` of the poller); without one, the
    /// batch that failed last is skipped.
    #[serde(default)]
    iterator: Option<String>,
}

fn parse_iterator(field: &[&str], it: &str) -> Result<i64> {
    it.trim()
        .parse::<i64>()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| Error::invalid(field, "not an iterator of this log"))
}

#[utoipa::path(
    post, path = "/api/v1/app/{app_id}/destination/{destination_id}/skip", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path), SkipParams),
    request_body = SkipParams,
    responses((status = 204), ClientError),
)]
async fn skip_destination_events(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
    Query(q): Query<SkipParams>,
    body: axum::body::Bytes,
) -> Result<StatusCode> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    // The body is optional: the SDKs of other versions send the iterator as a query parameter.
    let body: SkipParams = match body.iter().all(u8::is_ascii_whitespace) {
        true => SkipParams::default(),
        false => serde_json::from_slice(&body).map_err(|e| Error::invalid(&["body"], e.to_string()))?,
    };
    let iterator = body.iterator.or(q.iterator);
    let to = match iterator {
        Some(it) => parse_iterator(&["body", "iterator"], &it)?,
        None => {
            let page = crate::store::Page { limit: 1, iterator: None, reverse: false, descending: true };
            let last = ctx.store.destination_attempts(&d.id, &page).await?.into_iter().next();
            match last.filter(|a| a.status == status::FAIL) {
                Some(a) => a.last_pos,
                None => return Err(Error::invalid(&["body", "iterator"], "no failed batch to skip: give an iterator")),
            }
        }
    };
    let head = ctx.store.log_head(&d.app_id).await?;
    if to > head {
        return Err(Error::invalid(&["body", "iterator"], "after the application's last message"));
    }
    ctx.store.destination_skip(&d.id, to).await?;
    ctx.engine.destinations.poke(&d.app_id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventOut {
    event_type: String,
    /// The payload's JSON text.
    payload: String,
    timestamp: String,
    /// hookd's own: the message and its log position.
    msg_id: String,
    iterator: String,
}

fn event_out(e: crate::store::destinations::LogEntry) -> EventOut {
    EventOut {
        event_type: e.msg.event_type,
        payload: e.msg.payload.as_deref().unwrap_or("null").to_string(),
        timestamp: ts(e.msg.created_at),
        msg_id: e.msg.id,
        iterator: e.pos.to_string(),
    }
}

/// The oldest event the destination takes that it has not acknowledged; 404 when it is up to date.
#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/destination/{destination_id}/next-event", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    responses((status = 200, body = EventOut), ClientError),
)]
async fn get_destination_next_event(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<EventOut>> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    let st = ctx.store.destination_state(&d.id).await?.ok_or_else(|| Error::missing("destination", &id))?;
    let mut at = st.acked_pos;
    loop {
        let entries = ctx.store.log_read(&d.app_id, at, 500).await?;
        let Some(last) = entries.last().map(|e| e.pos) else { break };
        let full = entries.len() == 500;
        if let Some(e) = entries
            .into_iter()
            .find(|e| d.takes(&e.msg.event_type, e.msg.channels.as_deref(), e.msg.payload.as_deref()))
        {
            return Ok(Json(event_out(e)));
        }
        if !full {
            break;
        }
        at = last;
    }
    Err(Error::new(StatusCode::NOT_FOUND, "not_found", "The destination has acknowledged every event"))
}

/// The last event the destination's receiver took; 404 before the first.
#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/destination/{destination_id}/last-acked-event", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path)),
    responses((status = 200, body = EventOut), ClientError),
)]
async fn get_destination_last_acked_event(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<EventOut>> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    let none = || Error::new(StatusCode::NOT_FOUND, "not_found", "The destination has acknowledged no event yet");
    let last = ctx.store.destination_last_taken(&d.id).await?.ok_or_else(none)?;
    let found = ctx.store.log_read(&d.app_id, last - 1, 1).await?.into_iter().next();
    Ok(Json(event_out(found.filter(|e| e.pos == last).ok_or_else(none)?)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct DestinationAttemptOut {
    id: String,
    destination_id: String,
    /// 0 success, 2 fail (as messages' statuses).
    status: i64,
    /// `success` or `fail`; hookd adds the receiver's answer or the sink's error after a failure.
    status_text: String,
    /// hookd's own: the receiver's HTTP status (0 without one).
    response_status_code: i64,
    first_msg_id: String,
    last_msg_id: String,
    num_events: i64,
    response_duration_ms: i64,
    timestamp: String,
}

impl From<DestinationAttempt> for DestinationAttemptOut {
    fn from(a: DestinationAttempt) -> Self {
        DestinationAttemptOut {
            status_text: if a.status == status::SUCCESS {
                "success".into()
            } else {
                format!("fail: {}", a.status_text)
            },
            id: a.id,
            destination_id: a.destination_id,
            status: a.status,
            response_status_code: a.status_code,
            first_msg_id: a.first_msg_id,
            last_msg_id: a.last_msg_id,
            num_events: a.num_events,
            response_duration_ms: a.duration_ms,
            timestamp: ts(a.created_at),
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/destination/{destination_id}/attempt", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path), ListQuery),
    responses((status = 200, body = ListResponse<DestinationAttemptOut>), ClientError),
)]
async fn list_destination_attempts(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListResponse<DestinationAttemptOut>>> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    let page = q.page(true);
    let rows = ctx.store.destination_attempts(&d.id, &page).await?;
    Ok(Json(list_response(rows, &page, |a| a.id.clone(), DestinationAttemptOut::from)))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}/destination/{destination_id}/attempt/{attempt_id}", tag = "Destination",
    params(("app_id" = String, Path), ("destination_id" = String, Path), ("attempt_id" = String, Path)),
    responses((status = 200, body = DestinationAttemptOut), ClientError),
)]
async fn get_destination_attempt(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((app_id, id, attempt_id)): Path<(String, String, String)>,
) -> Result<Json<DestinationAttemptOut>> {
    let d = destination_of(&ctx, &org, &app_id, &id).await?;
    let a = ctx
        .store
        .destination_attempt(&d.id, &attempt_id)
        .await?
        .ok_or_else(|| Error::missing("attempt", &attempt_id))?;
    Ok(Json(a.into()))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list_destinations, create_destination))
        .routes(routes!(get_destination, update_destination, patch_destination, delete_destination))
        .routes(routes!(get_destination_secret))
        .routes(routes!(get_destination_transformation, patch_destination_transformation))
        .routes(routes!(force_retry_destination))
        .routes(routes!(skip_destination_events))
        .routes(routes!(get_destination_next_event))
        .routes(routes!(get_destination_last_acked_event))
        .routes(routes!(list_destination_attempts))
        .routes(routes!(get_destination_attempt))
}
