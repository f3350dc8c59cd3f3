//! The Svix Ingest API (`/ingest/api/v1/source…`, the SDKs' `ingest.source` and `ingest.endpoint`): a second face
//! over the one inbound gateway.
//!
//! A source IS a registration underneath: its `type` is the registration's `integrationId` (looked up among the
//! providers, so a preset added later is a source type at once), `config.secret` its webhook secret and the other
//! config fields its provider settings. Its requests arrive at its `ingestUrl` (`/ingest/in/{id}/{token}`) and go
//! through exactly the gateway's ingest path — verification, deduplication, storage, health, rate limit, replay —
//! and are forwarded into an application made for the source, whose endpoints are the source's ingest endpoints
//! (signed and retried by the engine). The registration is reachable by the registration API too (health, events,
//! refused requests, replay), but not at `/webhooks/{id}`: only the token makes a request the source's, and a
//! rotated-out token works for 48 h more.
//!
//! A `cron` source has no URL: a timer of the engine's due-time queue (`cron_…`, durable, claimed once per tick
//! across nodes) publishes its payload into its application on its schedule. Nor has a queue source (`rabbitMq`,
//! `sqs`, `nats`, `redis`, `mqtt`, hookd's own types): its registration's consumer takes its events from the broker
//! its `config` names ([`super::queues`]).

use std::sync::Arc;

use axum::extract::{ConnectInfo, OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::providers::{self, ProviderConfig};
use super::{gateway, queues, Registration, Status};
use crate::api::auth::OrgId;
use crate::api::endpoints;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, ListQuery, ListResponse};
use crate::api::portal::{self, AppPortalAccessOut, Capability, MAX_EXPIRY_SECS};
use crate::api::time::ts;
use crate::api::validate::check_ident;
use crate::api::ApiContext;
use crate::engine::model::{Application, Endpoint, EndpointSecret, Metadata};
use crate::error::{ClientError, Error, Result};
use crate::store::{impl_doc, now_ms, Doc, DocKind, Millis, TimerRecord};

mod cron_source;
mod endpoint;

use cron_source::{cron_plan, CronSpec};
pub use cron_source::{CronSources, CRON};

/// How long a rotated-out ingest URL token keeps working.
const TOKEN_GRACE_MS: Millis = 48 * 3_600_000;
/// Rotations within [`TOKEN_GRACE_MS`], as Svix allows: so many old URLs may work at once.
const MAX_ROTATIONS: usize = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub id: String,
    pub org_id: String,
    pub uid: Option<String>,
    pub name: String,
    /// The Svix Ingest `type`: a provider's name (the registration's `integrationId`), or `cron`.
    pub kind: String,
    pub metadata: Metadata,
    /// The application its events are published to; its endpoints are the source's.
    pub app_id: String,
    /// The gateway's registration that verifies its requests (none for `cron`).
    pub registration_id: Option<String>,
    /// The ingest URL's tokens, newest first; a rotated-out one works until it expires.
    pub tokens: Vec<EndpointSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<CronSpec>,
    /// The cron source's timer in the due-time queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_id: Option<String>,
    /// Config fields shown back (a public key); secrets are never shown.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub public_config: Map<String, Value>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl_doc!(Source, DocKind::IngestSource, parent: none, id: id, uid: uid);

impl Source {
    /// Whether `token` is one of the source's live URL tokens (each compared in constant time).
    fn accepts(&self, token: &str, now: Millis) -> bool {
        let mut ok = false;
        for t in crate::engine::model::live_secrets(&self.tokens, now) {
            ok |= providers::ct_eq(t.as_bytes(), token.as_bytes());
        }
        ok
    }
}

fn new_token() -> String {
    crate::ids::random_token(32)
}

fn ingest_url(ctx: &ApiContext, s: &Source) -> Option<String> {
    let token = s.tokens.first().filter(|_| s.registration_id.is_some())?;
    Some(format!("{}/ingest/in/{}/{}", ctx.cfg.public_url, s.id, token.key))
}

/// The ingest URLs a request to the source could have come to at `at`: one per token live then (a rotated-out
/// token keeps working for 48 h), for rechecking a provider that signs the URL.
pub(super) async fn urls_at(ctx: &ApiContext, org: &str, id: &str, at: Millis) -> Result<Vec<String>> {
    let Some(s) = ctx.store.get::<Source>(org, "", id).await? else { return Ok(vec![]) };
    let live = crate::engine::model::live_secrets(&s.tokens, at);
    Ok(live.map(|t| format!("{}/ingest/in/{}/{t}", ctx.cfg.public_url, s.id)).collect())
}

/// What a source's registration shows of it: id, name, type and ingest URL (None if it is gone).
pub(super) async fn summary(ctx: &ApiContext, org: &str, id: &str) -> Result<Option<Value>> {
    let Some(s) = ctx.store.get::<Source>(org, "", id).await? else { return Ok(None) };
    Ok(Some(json!({ "id": s.id, "name": s.name, "type": s.kind, "ingestUrl": ingest_url(ctx, &s) })))
}

// ── the wire formats, as the SDK spells them ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestSourceIn {
    name: String,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    /// A provider's name (`github`, `stripe`, … as `GET /integrations` lists them), `generic-webhook`, `cron`,
    /// or a queue kind (`rabbitMq`, `sqs`, `nats`, `redis`, `mqtt`).
    #[serde(rename = "type")]
    kind: String,
    /// `{secret, …}` for a provider (its other fields are the provider's settings, e.g. Meta's `verifyToken`);
    /// `{schedule, payload, contentType?, timezone?}` for `cron`; the broker and what to consume for a queue kind,
    /// as a queue registration's `config`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestSourceOut {
    id: String,
    uid: Option<String>,
    name: String,
    /// Where the provider sends its webhooks (none for `cron` or a queue kind).
    ingest_url: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[schema(value_type = Object)]
    config: Value,
    metadata: Metadata,
    created_at: String,
    updated_at: String,
}

fn out(ctx: &ApiContext, s: &Source) -> IngestSourceOut {
    let config = match &s.cron {
        Some(c) => serde_json::to_value(c).unwrap_or(Value::Null),
        None => Value::Object(s.public_config.clone()),
    };
    IngestSourceOut {
        id: s.id.clone(),
        uid: s.uid.clone(),
        name: s.name.clone(),
        ingest_url: ingest_url(ctx, s),
        kind: s.kind.clone(),
        config,
        metadata: s.metadata.clone(),
        created_at: ts(s.created_at),
        updated_at: ts(s.updated_at),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateTokenOut {
    ingest_url: Option<String>,
}

// ── checking a source ──

/// What a source's input asks for, checked.
enum Plan {
    Cron(CronSpec),
    /// A queue kind, with its config checked (as stored).
    Queue(String),
    Gateway {
        provider: &'static dyn providers::Provider,
        secret: Option<String>,
        config: Box<ProviderConfig>,
        public: Map<String, Value>,
    },
}

fn config_field(field: &str, msg: impl Into<String>) -> Error {
    Error::invalid(&["body", "config", field], msg)
}

fn plan(input: &IngestSourceIn) -> Result<Plan> {
    if input.name.trim().is_empty() || input.name.len() > 256 {
        return Err(Error::invalid(&["body", "name"], "1 to 256 characters"));
    }
    if let Some(uid) = &input.uid {
        check_ident(&["body", "uid"], uid, 256)?;
        if crate::ids::has_prefix(uid, crate::ids::SOURCE) {
            return Err(Error::invalid(&["body", "uid"], "must not look like a source id"));
        }
    }
    let mut config = match &input.config {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Error::invalid(&["body", "config"], "must be an object")),
    };
    if input.kind == "cron" {
        return cron_plan(config).map(Plan::Cron);
    }
    if queues::is_queue(&input.kind) {
        let checked = queues::check_config(&input.kind, Some(&Value::Object(config)))?;
        return Ok(Plan::Queue(checked.unwrap_or_default()));
    }
    let Some(provider) = providers::by_name(&input.kind) else {
        let mut known: Vec<&str> = providers::all().map(|p| p.name()).collect();
        known.push("cron");
        known.extend(queues::KINDS);
        return Err(Error::invalid(&["body", "type"], format!("unknown source type; one of: {}", known.join(", "))));
    };
    let secret = match config.remove("secret") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(config_field("secret", "must be a string")),
    };
    let uses_secret = provider.about().uses_secret;
    match &secret {
        None if uses_secret => return Err(config_field("secret", format!("required by {}", provider.name()))),
        Some(s) if s.len() < 8 || s.len() > 1024 => return Err(config_field("secret", "must be 8 to 1024 characters")),
        _ => {}
    }
    // Svix's name for the timestamp tolerance (Tailscale's config).
    if let Some(grace) = config.remove("timestampGraceSeconds") {
        config.insert("toleranceSeconds".into(), grace);
    }
    let public: Map<String, Value> =
        config.iter().filter(|(k, _)| *k == "publicKey").map(|(k, v)| (k.clone(), v.clone())).collect();
    let provider_config: ProviderConfig = serde_path_to_error::deserialize(Value::Object(config)).map_err(|e| {
        let text = e.inner().to_string();
        // "unknown field `x`, expected one of …": name the field; else the setting the error is in.
        match text.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
            Some(field) => config_field(field, format!("not a setting of {}", provider.name())),
            None => match e.path().iter().next() {
                Some(serde_path_to_error::Segment::Map { key }) => config_field(key, text),
                _ => Error::invalid(&["body", "config"], text),
            },
        }
    })?;
    super::check_config(provider, &provider_config, ["body", "config"])?;
    Ok(Plan::Gateway { provider, secret, config: Box::new(provider_config), public })
}

// ── storing a source and what it is made of ──

async fn load(ctx: &ApiContext, org: &str, key: &str) -> Result<Source> {
    ctx.store.get::<Source>(org, "", key).await?.ok_or_else(|| Error::missing("ingest source", key))
}

/// The source's application, made for it (internal: its uid is the source's id, so the applications API lists
/// it not and changes it not).
async fn make_app(ctx: &ApiContext, org: &str, source_id: &str, name: &str) -> Result<Application> {
    let app = Application::new(org, Some(source_id.to_string()), format!("Ingest source {name}"));
    ctx.store.insert(&app).await?;
    Ok(app)
}

async fn source_app(ctx: &ApiContext, s: &Source) -> Result<Arc<Application>> {
    ctx.engine.app(&s.org_id, &s.app_id).await?.ok_or_else(|| Error::missing("ingest source", &s.id))
}

/// Makes (or changes) the registration and the timer the source's plan asks for, and drops those it no longer
/// needs; `s` is changed to name them.
async fn apply(ctx: &ApiContext, s: &mut Source, plan: Plan) -> Result<()> {
    let now = now_ms();
    match plan {
        Plan::Gateway { provider, secret, config, public } => {
            stop_timer(ctx, s).await?;
            set_content_type(ctx, s, None).await?;
            s.cron = None;
            s.public_config = public;
            let existing = match &s.registration_id {
                Some(id) => ctx.store.get::<Registration>(&s.org_id, "", id).await?,
                None => None,
            };
            match existing {
                Some(mut reg) => {
                    queues::deleted(ctx, &reg).await?;
                    reg.integration_id = provider.name().to_string();
                    reg.source = None;
                    reg.provider_config = *config;
                    if let Some(secret) = secret {
                        if reg.secrets.first().map(|k| k.key.as_str()) != Some(secret.as_str()) {
                            reg.secrets = vec![EndpointSecret { key: secret, expires_at: None }];
                        }
                    }
                    super::save(ctx, &mut reg).await?;
                }
                None => {
                    let mut reg = new_registration(s, provider.name(), secret, now);
                    reg.status = if provider.name() == "notion" { Status::PendingVerification } else { Status::Active };
                    reg.provider_config = *config;
                    ctx.store.insert(&reg).await?;
                    s.registration_id = Some(reg.id);
                }
            }
            if s.tokens.is_empty() {
                s.tokens.push(EndpointSecret { key: new_token(), expires_at: None });
            }
        }
        Plan::Queue(config) => {
            stop_timer(ctx, s).await?;
            set_content_type(ctx, s, None).await?;
            s.cron = None;
            s.tokens.clear();
            let existing = match &s.registration_id {
                Some(id) => ctx.store.get::<Registration>(&s.org_id, "", id).await?,
                None => None,
            };
            let reg = match existing {
                Some(mut reg) => {
                    if reg.integration_id != s.kind {
                        queues::deleted(ctx, &reg).await?;
                    }
                    reg.integration_id = s.kind.clone();
                    reg.provider_config = ProviderConfig::default();
                    reg.source = Some(config);
                    super::save(ctx, &mut reg).await?;
                    reg
                }
                None => {
                    let mut reg = new_registration(s, &s.kind, None, now);
                    reg.source = Some(config);
                    ctx.store.insert(&reg).await?;
                    s.registration_id = Some(reg.id.clone());
                    reg
                }
            };
            s.public_config = match queues::config_out(&reg) {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            queues::changed(ctx, &reg).await?;
        }
        Plan::Cron(spec) => {
            drop_registration(ctx, s).await?;
            s.tokens.clear();
            s.public_config.clear();
            // A changed schedule starts afresh: the old timer is cancelled, a new one queued.
            stop_timer(ctx, s).await?;
            let (t, first) = cron_source::first_timer(s, &spec, now)?;
            set_content_type(ctx, s, spec.raw_content_type()).await?;
            s.timer_id = Some(t.id.clone());
            s.cron = Some(spec);
            ctx.store.timer_insert(t, first).await?;
            ctx.engine.work_due(first);
        }
    }
    Ok(())
}

/// The registration a source is made of, forwarding into its application.
fn new_registration(s: &Source, integration_id: &str, secret: Option<String>, now: Millis) -> Registration {
    Registration {
        id: crate::ids::new(super::REGISTRATION),
        org_id: s.org_id.clone(),
        integration_id: integration_id.to_string(),
        connection_id: s.id.clone(),
        events: vec!["*".into()],
        status: Status::Active,
        is_verified: false,
        secrets: vec![EndpointSecret {
            key: secret.unwrap_or_else(crate::engine::signing::new_secret),
            expires_at: None,
        }],
        provider_config: ProviderConfig::default(),
        destination_app_id: Some(s.app_id.clone()),
        rate_limit_per_minute: None,
        verification_token: None,
        metadata: None,
        retry_policy: None,
        transformation: None,
        source_id: Some(s.id.clone()),
        source: None,
        created_at: now,
        updated_at: now,
    }
}

/// Deletes the source's registration, stopping its queue consumer if it has one.
async fn drop_registration(ctx: &ApiContext, s: &mut Source) -> Result<()> {
    let Some(id) = s.registration_id.take() else { return Ok(()) };
    if let Some(reg) = ctx.store.get::<Registration>(&s.org_id, "", &id).await? {
        queues::deleted(ctx, &reg).await?;
    }
    ctx.store.delete::<Registration>(&s.org_id, &id).await?;
    super::registration_changed(ctx, &id);
    Ok(())
}

/// Names (or stops naming) the content type the source's application sends its payloads with.
async fn set_content_type(ctx: &ApiContext, s: &Source, content_type: Option<&str>) -> Result<()> {
    let Some(app) = ctx.store.get::<Application>(&s.org_id, "", &s.app_id).await? else {
        return Ok(());
    };
    if app.metadata.get(crate::engine::CONTENT_TYPE).map(String::as_str) == content_type {
        return Ok(());
    }
    let mut app = app;
    match content_type {
        Some(ct) => app.metadata.insert(crate::engine::CONTENT_TYPE.into(), ct.into()),
        None => app.metadata.remove(crate::engine::CONTENT_TYPE),
    };
    app.updated_at = now_ms();
    ctx.store.update(&app).await?;
    ctx.engine.invalidate(&app.id);
    Ok(())
}

async fn stop_timer(ctx: &ApiContext, s: &mut Source) -> Result<()> {
    if let Some(id) = s.timer_id.take() {
        ctx.store.timer_cancel(&s.org_id, &id, Some("ingest source changed".into()), now_ms(), vec![]).await?;
    }
    Ok(())
}

async fn save(ctx: &ApiContext, s: &mut Source) -> Result<()> {
    s.updated_at = now_ms();
    ctx.store.update(s).await?;
    gateway(ctx).sources.invalidate(&s.id);
    Ok(())
}

/// Creates a source (with `id` when the caller chose one); `uid` when it was addressed by one (upsert).
async fn create_source(ctx: &ApiContext, org: String, input: IngestSourceIn, uid: Option<String>) -> Result<Source> {
    let plan = plan(&input)?;
    let now = now_ms();
    let id = crate::ids::new(crate::ids::SOURCE);
    let mut s = Source {
        org_id: org.clone(),
        uid: input.uid.or(uid),
        name: input.name,
        kind: input.kind,
        metadata: input.metadata.unwrap_or_default(),
        app_id: String::new(),
        registration_id: None,
        tokens: vec![],
        cron: None,
        timer_id: None,
        public_config: Map::new(),
        created_at: now,
        updated_at: now,
        id,
    };
    if let Some(uid) = &s.uid {
        if ctx.store.get::<Source>(&org, "", uid).await?.is_some() {
            return Err(Error::conflict("An ingest source with this uid already exists"));
        }
    }
    let app = make_app(ctx, &org, &s.id, &s.name).await?;
    s.app_id = app.id.clone();
    let made = async {
        apply(ctx, &mut s, plan).await?;
        ctx.store.insert(&s).await?;
        Ok::<_, Error>(())
    }
    .await;
    if let Err(e) = made {
        // Nothing of a source that was refused is kept.
        let _ = remove_parts(ctx, &mut s).await;
        return Err(e);
    }
    Ok(s)
}

/// Deletes what the source is made of: its registration, its timer, its application (with its endpoints).
async fn remove_parts(ctx: &ApiContext, s: &mut Source) -> Result<()> {
    drop_registration(ctx, s).await?;
    stop_timer(ctx, s).await?;
    if !s.app_id.is_empty() {
        ctx.store.delete::<Application>(&s.org_id, &s.app_id).await?;
        ctx.engine.invalidate(&s.app_id);
    }
    Ok(())
}

// ── the source routes ──

/// The organization's sources, by id.
#[utoipa::path(
    get, path = "/ingest/api/v1/source", operation_id = "v1.ingest.source.list", tag = "Ingest Source",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<IngestSourceOut>),
        ClientError,
    ),
)]
async fn list_sources(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListResponse<IngestSourceOut>>> {
    let page = q.page(false);
    let rows = ctx.store.list::<Source>(&org, "", &page).await?;
    Ok(Json(list_response(rows, &page, |s| s.id.clone(), |s| out(&ctx, &s))))
}

#[utoipa::path(
    post, path = "/ingest/api/v1/source", operation_id = "v1.ingest.source.create", tag = "Ingest Source",
    request_body = IngestSourceIn,
    responses(
        (status = 201, body = IngestSourceOut),
        ClientError,
    ),
)]
async fn create(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    ValidJson(input): ValidJson<IngestSourceIn>,
) -> Result<(StatusCode, Json<IngestSourceOut>)> {
    let s = create_source(&ctx, org, input, None).await?;
    Ok((StatusCode::CREATED, Json(out(&ctx, &s))))
}

/// By id or uid.
#[utoipa::path(
    get, path = "/ingest/api/v1/source/{source_id}", operation_id = "v1.ingest.source.get", tag = "Ingest Source",
    params(("source_id" = String, Path)),
    responses(
        (status = 200, body = IngestSourceOut),
        ClientError,
    ),
)]
async fn get_source(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
) -> Result<Json<IngestSourceOut>> {
    Ok(Json(out(&ctx, &load(&ctx, &org, &id).await?)))
}

/// Replaces the source (its type and config too); a uid not yet used creates it (201).
#[utoipa::path(
    put, path = "/ingest/api/v1/source/{source_id}", operation_id = "v1.ingest.source.upsert", tag = "Ingest Source",
    params(("source_id" = String, Path)),
    request_body = IngestSourceIn,
    responses(
        (status = 200, body = IngestSourceOut),
        (status = 201, body = IngestSourceOut),
        ClientError,
    ),
)]
async fn upsert(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
    ValidJson(input): ValidJson<IngestSourceIn>,
) -> Result<(StatusCode, Json<IngestSourceOut>)> {
    let Some(mut s) = ctx.store.get::<Source>(&org, "", &id).await? else {
        if crate::ids::has_prefix(&id, crate::ids::SOURCE) {
            return Err(Error::missing("ingest source", &id));
        }
        check_ident(&["path", "source_id"], &id, 256)?;
        let s = create_source(&ctx, org, input, Some(id)).await?;
        return Ok((StatusCode::CREATED, Json(out(&ctx, &s))));
    };
    let plan = plan(&input)?;
    if input.name != s.name {
        let app_name = format!("Ingest source {}", input.name);
        ctx.store
            .modify::<Application>(&org, &s.app_id, move |a| {
                a.name = app_name;
                Ok(())
            })
            .await?;
        ctx.engine.invalidate(&s.app_id);
    }
    s.name = input.name;
    // Addressed by uid, the body may leave the uid out and keep it.
    s.uid = input.uid.or_else(|| (!crate::ids::has_prefix(&id, crate::ids::SOURCE)).then(|| id.clone()));
    s.metadata = input.metadata.unwrap_or_default();
    s.kind = input.kind;
    apply(&ctx, &mut s, plan).await?;
    save(&ctx, &mut s).await?;
    Ok((StatusCode::OK, Json(out(&ctx, &s))))
}

/// Deletes the source with its registration (and its stored events' forwarding), its schedule, its application and
/// its endpoints.
#[utoipa::path(
    delete, path = "/ingest/api/v1/source/{source_id}", operation_id = "v1.ingest.source.delete", tag = "Ingest Source",
    params(("source_id" = String, Path)),
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn delete_source(State(ctx): State<ApiContext>, OrgId(org): OrgId, Path(id): Path<String>) -> Result<StatusCode> {
    let mut s = load(&ctx, &org, &id).await?;
    ctx.store.delete::<Source>(&org, &s.id).await?;
    gateway(&ctx).sources.invalidate(&s.id);
    remove_parts(&ctx, &mut s).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestSourceConsumerPortalAccessIn {
    /// Seconds the link works: 1 to 604800 (7 days, the default).
    #[serde(default)]
    expiry: Option<u64>,
    /// The consumer sees the source's endpoints and what reached them, and changes nothing.
    #[serde(default)]
    read_only: Option<bool>,
}

/// A link to the app portal over the source's endpoints, for the consumer of the source's events: the same portal
/// and the same token checks as an application's (`/api/v1/auth/app-portal-access/{app_id}`).
#[utoipa::path(
    post, path = "/ingest/api/v1/source/{source_id}/dashboard",
    operation_id = "v1.ingest.authentication.consumer-portal-access", tag = "Ingest Source",
    params(("source_id" = String, Path)),
    request_body = IngestSourceConsumerPortalAccessIn,
    responses(
        (status = 200, body = AppPortalAccessOut),
        ClientError,
    ),
)]
async fn consumer_portal_access(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
    ValidJson(input): ValidJson<IngestSourceConsumerPortalAccessIn>,
) -> Result<Json<AppPortalAccessOut>> {
    let expiry = input.expiry.unwrap_or(MAX_EXPIRY_SECS);
    if !(1..=MAX_EXPIRY_SECS).contains(&expiry) {
        return Err(Error::invalid(&["body", "expiry"], "between 1 second and 7 days"));
    }
    let s = load(&ctx, &org, &id).await?;
    let app = source_app(&ctx, &s).await?;
    let capabilities =
        if input.read_only == Some(true) { vec![Capability::ViewBase] } else { Capability::ALL.to_vec() };
    let token = portal::issue(&ctx, &app, capabilities, vec![], None, expiry as i64 * 1000).await?;
    Ok(Json(AppPortalAccessOut { url: portal::url(&ctx.cfg.public_url, &token), token }))
}

/// A new token in the ingest URL; the previous ones keep working for 48 hours. At most three rotations within
/// 48 hours (409 beyond).
#[utoipa::path(
    post, path = "/ingest/api/v1/source/{source_id}/token/rotate", operation_id = "v1.ingest.source.rotate-token",
    tag = "Ingest Source",
    params(("source_id" = String, Path)),
    responses(
        (status = 200, body = RotateTokenOut),
        ClientError,
    ),
)]
async fn rotate_token(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
) -> Result<Json<RotateTokenOut>> {
    let mut s = load(&ctx, &org, &id).await?;
    if s.registration_id.is_none() || s.tokens.is_empty() {
        return Err(Error::bad_request(format!("A {} source has no ingest URL", s.kind)));
    }
    let now = now_ms();
    if s.tokens.iter().filter(|t| t.expires_at.is_some_and(|at| at > now)).count() >= MAX_ROTATIONS {
        return Err(Error::conflict("The token was rotated three times within 48 hours; try again later"));
    }
    crate::engine::model::rotate_secrets(&mut s.tokens, new_token(), TOKEN_GRACE_MS, now);
    save(&ctx, &mut s).await?;
    Ok(Json(RotateTokenOut { ingest_url: ingest_url(&ctx, &s) }))
}

// ── the ingest URL ──

/// The source a request to its ingest URL is for: None unless the token is one of its live ones.
async fn source_by_token(ctx: &ApiContext, id: &str, token: &str) -> Result<Option<Arc<Source>>> {
    let g = gateway(ctx);
    let s = match g.sources.get(id) {
        Some(s) => s,
        None => {
            let Some(rec) = ctx.store.doc_get_any(DocKind::IngestSource, id).await? else { return Ok(None) };
            let s: Arc<Source> = Arc::new(serde_json::from_str(&rec.data).map_err(Error::internal)?);
            g.sources.insert(id.to_string(), s.clone());
            s
        }
    };
    Ok(s.accepts(token, now_ms()).then_some(s))
}

fn unknown_source() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "success": false, "error": "Unknown ingest source" }))).into_response()
}

/// `POST {ingestUrl}`: the provider's request, through the gateway's ingest path as the source's registration.
#[utoipa::path(
    post, operation_id = "ingest_source_webhook", path = "/ingest/in/{source_id}/{token}", tag = "Ingest Source",
    security(()),
    params(("source_id" = String, Path), ("token" = String, Path)),
    request_body(
        content = String, content_type = "*/*",
        description = "The provider's request, verified on its raw bytes",
    ),
    responses(
        (status = 200, body = Value, description = "As `POST /webhooks/{registrationId}` answers"),
        (status = 401, description = "Bad signature: `{error, processingTimeMs}`", body = Value),
        (status = 404, description = "No such source, or not one of its tokens", body = Value),
        (status = 413, description = "Over the body limit (`HOOKD_MAX_BODY_BYTES`)", body = Value),
        (status = 429, description = "Over the source's rate; `Retry-After`", body = Value),
    ),
)]
async fn receive(
    State(ctx): State<ApiContext>,
    Path((id, token)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    req: Request,
) -> Response {
    let registration = match source_by_token(&ctx, &id, &token).await {
        Ok(Some(s)) => s.registration_id.clone(),
        Ok(None) => None,
        Err(e) => return e.into_response(),
    };
    match registration {
        Some(reg) => super::receive(ctx, reg, true, uri, peer, req).await,
        None => unknown_source(),
    }
}

/// `GET {ingestUrl}`: a provider's unsigned handshake (Meta's `hub.challenge`, …).
#[utoipa::path(
    get, operation_id = "ingest_source_handshake", path = "/ingest/in/{source_id}/{token}", tag = "Ingest Source",
    security(()),
    params(("source_id" = String, Path), ("token" = String, Path)),
    responses(
        (status = 200, description = "The provider's handshake answer", body = Value),
        (status = 404, description = "No such source, or not a handshake", body = Value),
    ),
)]
async fn handshake(
    State(ctx): State<ApiContext>,
    Path((id, token)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let registration = match source_by_token(&ctx, &id, &token).await {
        Ok(Some(s)) => s.registration_id.clone(),
        Ok(None) => None,
        Err(e) => return e.into_response(),
    };
    let Some(reg) = registration else { return unknown_source() };
    match super::get_handshake(&ctx, &reg, true, &uri, &headers).await {
        Ok(Some(resp)) => resp,
        Ok(None) => unknown_source(),
        Err(e) => e.into_response(),
    }
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list_sources, create))
        .routes(routes!(get_source, upsert, delete_source))
        .routes(routes!(rotate_token))
        .routes(routes!(consumer_portal_access))
        .routes(routes!(receive, handshake))
        .merge(endpoint::router())
}
