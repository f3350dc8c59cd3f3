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

use std::collections::BTreeMap;
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
use crate::api::endpoints::{self, HeadersOut, TransformationChange};
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, ListQuery, ListResponse};
use crate::api::portal::{self, AppPortalAccessOut, Capability, MAX_EXPIRY_SECS};
use crate::api::time::ts;
use crate::api::validate::{check_ident, double_option};
use crate::api::{load_endpoint, ApiContext};
use crate::engine::cron::{self, CronError};
use crate::engine::model::{Application, Endpoint, EndpointSecret, Metadata};
use crate::engine::scheduler::TimerHandler;
use crate::engine::{Engine, NewMessage};
use crate::error::{ClientError, Error, Result};
use crate::store::{impl_doc, now_ms, timer_status, Doc, DocKind, Millis, TimerJob, TimerRecord, TimerStep};

/// The prefix of the cron sources' timers (the engine hands this face the due timers whose id has it).
pub const CRON: &str = "cron_";
/// How long a rotated-out ingest URL token keeps working.
const TOKEN_GRACE_MS: Millis = 48 * 3_600_000;
/// Rotations within [`TOKEN_GRACE_MS`], as Svix allows: so many old URLs may work at once.
const MAX_ROTATIONS: usize = 3;
/// The event type of a cron source's messages.
const CRON_EVENT: &str = "cron";

/// A cron source's schedule and what it sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronSpec {
    pub schedule: String,
    /// An IANA time zone the schedule is read in (hookd's own; UTC by default, as Svix's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Sent as it is when it is JSON, else as a JSON string; with a `contentType` other than JSON's, sent as
    /// written with that content type.
    pub payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

impl CronSpec {
    fn zone(&self) -> &str {
        self.timezone.as_deref().unwrap_or("UTC")
    }

    /// The content type its payload is sent with when not JSON (Svix's default is `application/json`).
    fn raw_content_type(&self) -> Option<&str> {
        let ct = self.content_type.as_deref()?;
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        (essence != "application/json" && !essence.ends_with("+json")).then_some(ct)
    }
}

/// What the cron timer's `spec` holds: the schedule, and where it publishes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CronTimer {
    source_id: String,
    app_id: String,
    #[serde(flatten)]
    spec: CronSpec,
}

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
    let provider_config: ProviderConfig = serde_json::from_value(Value::Object(config)).map_err(|e| {
        let text = e.to_string();
        // "unknown field `x`, expected one of …": name the field.
        match text.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
            Some(field) => config_field(field, format!("not a setting of {}", provider.name())),
            None => Error::invalid(&["body", "config"], text),
        }
    })?;
    if let Some(field) = provider.preset().and_then(|p| p.missing_config(&provider_config)) {
        return Err(config_field(field, format!("required by {}", provider.name())));
    }
    provider.check_config(&provider_config).map_err(|e| Error::invalid(&["body", "config"], e.to_string()))?;
    Ok(Plan::Gateway { provider, secret, config: Box::new(provider_config), public })
}

fn cron_plan(mut config: Map<String, Value>) -> Result<CronSpec> {
    let mut text = |field: &str, required: bool| -> Result<Option<String>> {
        match config.remove(field) {
            Some(Value::String(s)) => Ok(Some(s)),
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(config_field(field, "required")),
            Some(_) => Err(config_field(field, "must be a string")),
        }
    };
    let spec = CronSpec {
        schedule: text("schedule", true)?.unwrap_or_default().trim().to_string(),
        payload: text("payload", true)?.unwrap_or_default(),
        content_type: text("contentType", false)?,
        timezone: text("timezone", false)?,
    };
    if let Some(field) = config.keys().next() {
        return Err(config_field(field, "not a setting of cron"));
    }
    if let Some(ct) = &spec.content_type {
        let (kind, sub) = ct.split(';').next().unwrap_or("").split_once('/').unwrap_or(("", ""));
        let token = |t: &str| !t.trim().is_empty() && t.trim().chars().all(|c| c.is_ascii_graphic() && c != '/');
        let valid =
            token(kind) && token(sub) && ct.len() <= 256 && ct.chars().all(|c| c == ' ' || c.is_ascii_graphic());
        if !valid {
            return Err(config_field("contentType", "a media type such as \"text/plain\""));
        }
    }
    if spec.payload.len() > 256 * 1024 {
        return Err(config_field("payload", "at most 256 KiB"));
    }
    cron::next_after(&spec.schedule, spec.zone(), now_ms()).map_err(|e| match e {
        CronError::Expression(m) => config_field("schedule", format!("not a cron schedule: {m}")),
        CronError::Timezone => config_field("timezone", "an IANA time zone such as \"Europe/Paris\""),
    })?;
    Ok(spec)
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
            let first = cron::next_after(&spec.schedule, spec.zone(), now)
                .map_err(|_| config_field("schedule", "has no next moment"))?;
            let timer = CronTimer { source_id: s.id.clone(), app_id: s.app_id.clone(), spec: spec.clone() };
            let t = TimerRecord {
                rowid: 0,
                id: crate::ids::new(CRON),
                org_id: s.org_id.clone(),
                status: timer_status::RUNNING,
                created_at: now,
                expires_at: first,
                agent_id: None,
                project_id: None,
                milestones_sent: 0,
                ended_at: None,
                cancel_reason: None,
                paused_at: None,
                paused_ms: 0,
                spec: serde_json::to_string(&timer).map_err(Error::internal)?,
                cycle_start: now,
                runs: 0,
            };
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

// ── ingest endpoints ──

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

// ── cron sources ──

/// Runs the cron sources' due ticks for the engine's scheduler.
pub struct CronSources;

#[async_trait::async_trait]
impl TimerHandler for CronSources {
    async fn fire(&self, engine: Arc<Engine>, job: TimerJob) {
        if let Err(e) = fire(&engine, job).await {
            // The job keeps its lease and comes back when it runs out.
            tracing::error!(error = ?e, "running a cron source");
        }
    }
}

/// The cron payload as a message's: JSON as it is, anything else — or anything with a non-JSON content type,
/// which the dispatcher sends as written — as a JSON string.
fn cron_payload(spec: &CronSpec) -> Result<Box<serde_json::value::RawValue>> {
    let payload = &spec.payload;
    match serde_json::from_str::<Box<serde_json::value::RawValue>>(payload) {
        Ok(raw) if spec.raw_content_type().is_none() => Ok(raw),
        _ => serde_json::value::to_raw_value(payload).map_err(Error::internal),
    }
}

/// One tick: the payload into the source's application, and the timer moved to the next tick, in one commit
/// made only if no other node moved it first. Ticks missed while hookd was down are skipped: the late one fires
/// once.
async fn fire(engine: &Engine, job: TimerJob) -> Result<()> {
    let t = &job.timer;
    let timer: CronTimer = serde_json::from_str(&t.spec).map_err(Error::internal)?;
    let early = t.expires_at - now_ms();
    if early > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(early as u64)).await;
    }
    engine.metrics.timer_fired(t.expires_at);
    let now = now_ms().max(t.expires_at);
    // A schedule with no later moment ends the timer.
    let next = cron::next_after(&timer.spec.schedule, timer.spec.zone(), now).ok();
    let mut prepared = vec![];
    if let Some(app) = engine.app(&t.org_id, &timer.app_id).await? {
        let msg = NewMessage {
            event_type: CRON_EVENT.into(),
            event_id: None,
            channels: None,
            payload: cron_payload(&timer.spec)?,
            deliver_at: None,
            only_endpoint: None,
            id: None,
            payload_retention: None,
        };
        prepared.push(engine.prepare(&app, msg).await?);
    }
    let step = TimerStep {
        job_id: job.job_id,
        rowid: t.rowid,
        from: (t.milestones_sent, t.runs),
        milestones_sent: 0,
        now,
        next_cycle: next.map(|at| (t.expires_at, at)),
        next_run_at: next,
    };
    let forward: crate::store::Forward = prepared.iter().map(|p| (p.msg.clone(), p.deliveries.clone())).collect();
    if let Some(ids) = engine.store.timer_advance(step, forward).await? {
        for (p, ids) in prepared.into_iter().zip(ids) {
            engine.start(p, ids);
        }
        if let Some(at) = next {
            engine.work_due(at);
        }
    }
    tracing::debug!(source = %timer.source_id, "cron source ticked");
    Ok(())
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list_sources, create))
        .routes(routes!(get_source, upsert, delete_source))
        .routes(routes!(rotate_token))
        .routes(routes!(consumer_portal_access))
        .routes(routes!(receive, handshake))
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, upsert_endpoint, delete_endpoint))
        .routes(routes!(get_secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(get_headers, put_headers, patch_headers))
        .routes(routes!(get_transformation, patch_transformation))
}
