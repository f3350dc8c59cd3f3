//! The inbound face (seed 002): tenants register webhooks for their providers; hookd verifies what arrives on
//! the raw bytes, normalises it into the seed's `WebhookEvent`, deduplicates it by the provider's delivery id,
//! and — when it matches the registration's `events` — forwards it through the engine to an outbound
//! application, so it fans out to that application's endpoints with all the engine's retries and signatures.
//!
//! The ingest handler makes no outbound HTTP call — except the few a provider names ([`Provider::document_url`],
//! [`Provider::confirm_url`]: AWS SNS's certificate, cached, and its subscription's confirmation), made through the
//! engine's egress-guarded client: it answers 200 once the inbound event (and the message it forwards, in the same
//! commit) is stored.
//!
//! [`Provider::document_url`]: providers::Provider::document_url
//! [`Provider::confirm_url`]: providers::Provider::confirm_url

pub mod ingest;
pub mod providers;
pub mod queues;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{ConnectInfo, FromRequest, OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::OrgId;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, page, ListResponse};
use crate::api::time::ts;
use crate::api::validate::{check_ident, double_option};
use crate::api::{load_app, ApiContext};
use crate::engine::metrics::verdict;
use crate::engine::model::EndpointSecret;
use crate::engine::transform::{Outcome, Preset, Transformation, WebhookIn};
use crate::engine::{routing, NewMessage};
use crate::error::{ClientError, Error, Result};
use crate::ratelimit::RateWindow;
use crate::store::{impl_doc, now_ms, Doc, DocKind, InboundEventRecord, InboundRefusedRecord, InboundStats, Millis};
use providers::{Incoming, Normalized, ProviderConfig};

const REGISTRATION: &str = "whr_";
const INBOUND_EVENT: &str = "inev_";
const REFUSED: &str = "inref_";
/// A registration's health is computed over the last this many hours (whole hours, the current one included):
/// long enough to span a provider's quiet night, short enough that a bad spell is forgotten within a day.
const HEALTH_WINDOW_HOURS: i64 = 24;
/// The failure rate judges a registration's health once its window holds this many requests; below that, the
/// failures in a row alone do.
const RATE_JUDGED_FROM: i64 = 5;
/// How long a fetched document (an SNS certificate) is kept: a URL names one certificate, and AWS publishes a new
/// one under a new URL.
const DOCUMENT_TTL: Duration = Duration::from_secs(24 * 3600);
/// The most a fetched document may hold: a certificate is a few KiB.
const DOCUMENT_MAX_BYTES: usize = 64 * 1024;
/// How long a fetch may take: SNS waits 15 s for the answer, which waits for the fetches.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Inactive,
    Failed,
    /// Waiting for the provider's verification message (Notion).
    PendingVerification,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub backoff_seconds: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    pub id: String,
    pub org_id: String,
    pub integration_id: String,
    pub connection_id: String,
    pub events: Vec<String>,
    pub status: Status,
    pub is_verified: bool,
    /// Newest first; rotated-out secrets verify until they expire.
    pub secrets: Vec<EndpointSecret>,
    pub provider_config: ProviderConfig,
    /// The outbound application matching events are published to.
    pub destination_app_id: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
    /// Notion's verification token, captured from its first (unsigned) request.
    pub verification_token: Option<String>,
    pub metadata: Option<Value>,
    pub retry_policy: Option<RetryPolicy>,
    /// Changes (or drops) the normalised event before it is forwarded, as an endpoint's transformation does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation: Option<Transformation>,
    /// The Ingest source this registration is (`src_…`): its requests arrive at the source's ingest URL only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// A queue source's config (`rabbitMq {uri, queue, …}`, `sqs {queueUrl, …}`, …) as JSON text, checked;
    /// sealed at rest as one string (`store::sealed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl_doc!(Registration, DocKind::InboundRegistration, parent: none, id: id, uid: none);

impl Registration {
    fn live_secrets(&self, now: Millis) -> Vec<&str> {
        crate::engine::model::live_secrets(&self.secrets, now).collect()
    }

    /// Whether `n` is one of the events this registration asked for. Patterns match case-insensitively against
    /// `{entityType}.{eventType}` and against the provider's own event name, with a trailing `*` as a wildcard.
    fn wants(&self, n: &Normalized) -> bool {
        let composite = format!("{}.{}", n.entity_type, n.event_type).to_ascii_lowercase();
        let native = n.native_type.as_deref().map(str::to_ascii_lowercase);
        self.events.iter().map(|p| p.to_ascii_lowercase()).any(|p| {
            routing::type_matches(&p, &composite) || native.as_deref().is_some_and(|t| routing::type_matches(&p, t))
        })
    }
}

/// The name an inbound event is matched and forwarded by: the provider's own, else `{entityType}.{eventType}`.
fn match_key(n: &Normalized) -> String {
    let raw = n.native_type.clone().unwrap_or_else(|| format!("{}.{}", n.entity_type, n.event_type));
    let clean: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).take(256).collect();
    if clean.is_empty() {
        "event".into()
    } else {
        clean
    }
}

/// What the inbound face keeps in memory: the registration cache (the seed's 5-minute cache, with its hit rate),
/// the ingest sources' cache and the per-registration rate windows.
pub struct Gateway {
    cache: moka::sync::Cache<String, Arc<Registration>>,
    /// Ingest sources by id, for their ingest URLs (each request checks its token against the source's).
    sources: moka::sync::Cache<String, Arc<ingest::Source>>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// The minute a refusal of each (registration, reason) was last kept, for those kept one a minute.
    kept_minute: moka::sync::Cache<(String, &'static str), i64>,
    /// Documents providers verify under (AWS SNS's certificates), by URL.
    documents: moka::sync::Cache<String, Arc<Vec<u8>>>,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            cache: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(300)).build(),
            sources: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(300)).build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            kept_minute: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(120))
                .build(),
            documents: moka::sync::Cache::builder().max_capacity(1_000).time_to_live(DOCUMENT_TTL).build(),
        }
    }
}

/// Forgets a cached registration that changed (through another node).
pub fn registration_changed(ctx: &ApiContext, id: &str) {
    gateway(ctx).cache.invalidate(id);
}

/// Forgets a cached ingest source that changed (through another node).
pub fn source_changed(ctx: &ApiContext, id: &str) {
    gateway(ctx).sources.invalidate(id);
}

/// Changes were missed (the store's change feed was interrupted): no cached registration can be trusted.
pub fn registrations_changed(ctx: &ApiContext) {
    gateway(ctx).cache.invalidate_all();
    gateway(ctx).sources.invalidate_all();
}

/// The inbound face's state, registered in [`AppState::parts`](crate::api::AppState::parts) by the server.
fn gateway(ctx: &ApiContext) -> &Gateway {
    ctx.parts.get()
}

impl Gateway {
    /// A registration by id, from the cache when it can (ingest looks one up per request).
    async fn registration(&self, ctx: &ApiContext, id: &str) -> Result<Option<Arc<Registration>>> {
        if let Some(reg) = self.cache.get(id) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(reg));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let Some(rec) = ctx.store.doc_get_any(DocKind::InboundRegistration, id).await? else { return Ok(None) };
        let reg: Arc<Registration> = Arc::new(serde_json::from_str(&rec.data).map_err(Error::internal)?);
        self.cache.insert(id.to_string(), reg.clone());
        Ok(Some(reg))
    }

    /// Whether this is the first refusal of `reason` for the registration this minute (on this node).
    fn first_this_minute(&self, registration_id: &str, reason: &'static str, now: Millis) -> bool {
        let (key, minute) = ((registration_id.to_string(), reason), now / 60_000);
        let first = self.kept_minute.get(&key) != Some(minute);
        if first {
            self.kept_minute.insert(key, minute);
        }
        first
    }

    fn cache_hit_rate(&self) -> f64 {
        let (h, m) = (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed));
        if h + m == 0 {
            0.0
        } else {
            h as f64 / (h + m) as f64
        }
    }
}

// ── registration API ──

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegistrationIn {
    connection_id: String,
    events: Vec<String>,
    #[serde(default)]
    retry_policy: Option<RetryPolicy>,
    #[serde(default)]
    metadata: Option<Value>,
    /// A secret the provider issued (Stripe `whsec_…`, Slack signing secret, Twilio auth token, …); generated
    /// when absent.
    #[serde(default)]
    webhook_secret: Option<String>,
    #[serde(default)]
    provider_config: Option<ProviderConfig>,
    #[serde(default)]
    destination: Option<DestinationIn>,
    #[serde(default)]
    rate_limit_per_minute: Option<u32>,
    #[serde(default)]
    transformation: Option<TransformationIn>,
    /// A queue source's broker (integration ids `rabbitMq`, `sqs`, `nats`, `redis`, `mqtt`; see
    /// `engine::sources`), each with `eventTypePath` (a dotted path into the JSON body) and `eventTypeHeader`
    /// (default `hookd-event-type`) saying where the event type is.
    #[serde(default)]
    config: Option<Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DestinationIn {
    app_id: String,
}

/// A registration's transformation: JavaScript `code` (`function handler(webhook)`, given `{eventType, payload}`
/// with the normalised event as the payload; it may change both, or return `cancel: true` to forward nothing) or a
/// ready-made `template` (`slack`, `discord`, `teams`, `github-dispatch`, `gitlab-trigger`).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TransformationIn {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    template: Option<Preset>,
    #[serde(default)]
    variables: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

impl TransformationIn {
    fn into_model(self) -> Result<Transformation> {
        if self.code.as_ref().is_some_and(|c| c.len() > crate::engine::transform::sandbox::MAX_CODE_BYTES) {
            return Err(Error::invalid(&["body", "transformation", "code"], "at most 64 KiB"));
        }
        Ok(Transformation {
            enabled: self.enabled.unwrap_or(true),
            code: self.code.filter(|c| !c.trim().is_empty()),
            template: self.template,
            variables: self.variables.unwrap_or_default(),
            updated_at: Some(now_ms()),
        })
    }

    fn from_model(t: &Transformation) -> TransformationIn {
        TransformationIn {
            code: t.code.clone(),
            template: t.template,
            variables: (!t.variables.is_empty()).then(|| t.variables.clone()),
            enabled: Some(t.enabled),
        }
    }
}

/// The transformation a registration is given, its code compiled first: code that does not compile would fail
/// every event, so it is refused when saved (422 naming it, with the error), as an endpoint's is.
async fn compiled(ctx: &ApiContext, t: Option<TransformationIn>) -> Result<Option<Transformation>> {
    let Some(t) = t.map(TransformationIn::into_model).transpose()? else { return Ok(None) };
    let code = &["body", "transformation", "code"];
    ctx.engine.transformer.check(&t).await.map_err(|e| Error::invalid(code, e))?;
    Ok(Some(t))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegistrationPatch {
    events: Option<Vec<String>>,
    status: Option<Status>,
    #[serde(default, deserialize_with = "double_option")]
    destination: Option<Option<DestinationIn>>,
    provider_config: Option<ProviderConfig>,
    #[serde(default, deserialize_with = "double_option")]
    rate_limit_per_minute: Option<Option<u32>>,
    metadata: Option<Value>,
    #[serde(default, deserialize_with = "double_option")]
    transformation: Option<Option<TransformationIn>>,
    /// A queue source's new broker config (replaces the old one whole; its consumer restarts with it).
    config: Option<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegistrationOut {
    id: String,
    tenant_id: String,
    integration_id: String,
    connection_id: String,
    /// Where the provider sends its requests: `/webhooks/{id}`, or an Ingest source's `ingestUrl`.
    webhook_url: Option<String>,
    events: Vec<String>,
    status: Status,
    is_verified: bool,
    failure_count: i64,
    destination: Option<Value>,
    provider_config: ProviderConfig,
    rate_limit_per_minute: u32,
    verification_token: Option<String>,
    metadata: Option<Value>,
    retry_policy: Option<RetryPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transformation: Option<TransformationIn>,
    /// The Ingest source this registration is: it takes requests at the source's `ingestUrl`, not `webhookUrl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    ingest_source_id: Option<String>,
    /// A queue source's config, credentials masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<Value>,
    /// A queue source's consumer, as the node answering sees it: `{running, connected, consumed, returned,
    /// lastError}` (`running` false on a node that does not hold it).
    #[serde(skip_serializing_if = "Option::is_none")]
    consumer: Option<Value>,
    created_at: String,
    updated_at: String,
}

fn webhook_url(ctx: &ApiContext, id: &str) -> String {
    format!("{}/webhooks/{id}", ctx.cfg.public_url)
}

/// Where a registration takes requests, and the Ingest source it is (if any): a source's registration refuses
/// requests at `/webhooks/{id}`, so its URL is the source's ingest URL.
struct Reach {
    url: Option<String>,
    source: Option<Value>,
}

async fn reach(ctx: &ApiContext, r: &Registration) -> Result<Reach> {
    let Some(source_id) = &r.source_id else {
        return Ok(Reach { url: Some(webhook_url(ctx, &r.id)), source: None });
    };
    let source = ingest::summary(ctx, &r.org_id, source_id).await?;
    let url = source.as_ref().and_then(|s| s["ingestUrl"].as_str()).map(String::from);
    Ok(Reach { url, source })
}

fn out(ctx: &ApiContext, r: &Registration, stats: &InboundStats, reach: &Reach) -> RegistrationOut {
    RegistrationOut {
        id: r.id.clone(),
        tenant_id: r.org_id.clone(),
        integration_id: r.integration_id.clone(),
        connection_id: r.connection_id.clone(),
        webhook_url: reach.url.clone(),
        events: r.events.clone(),
        status: r.status,
        is_verified: r.is_verified,
        failure_count: stats.consecutive_failures,
        destination: r.destination_app_id.as_ref().map(|a| json!({ "appId": a })),
        provider_config: r.provider_config.clone(),
        rate_limit_per_minute: r.rate_limit_per_minute.unwrap_or(ctx.cfg.inbound_rate_per_minute),
        verification_token: r.verification_token.clone(),
        metadata: r.metadata.clone(),
        retry_policy: r.retry_policy.clone(),
        transformation: r.transformation.as_ref().map(TransformationIn::from_model),
        ingest_source_id: r.source_id.clone(),
        config: queues::config_out(r),
        consumer: queues::consumer_out(ctx, r),
        created_at: ts(r.created_at),
        updated_at: ts(r.updated_at),
    }
}

fn check_events(events: &[String]) -> Result<()> {
    if events.is_empty() {
        return Err(Error::invalid(&["body", "events"], "must name at least one event (\"*\" for all)"));
    }
    for e in events {
        let name = e.trim_end_matches('*').trim_end_matches('.');
        check_ident(&["body", "events"], name, 256).or_else(|err| if e == "*" { Ok(()) } else { Err(err) })?;
    }
    Ok(())
}

/// A secret given rather than generated: something a provider could have issued.
fn check_secret(secret: Option<&str>) -> Result<()> {
    match secret {
        Some(s) if s.len() < 8 || s.len() > 1024 => {
            Err(Error::invalid(&["body", "webhookSecret"], "must be 8 to 1024 characters"))
        }
        _ => Ok(()),
    }
}

/// Provider settings the provider could verify requests with (a Discord key, a generic scheme, a preset's
/// `verifyToken`, …); a refusal names the setting under `at` (`["body", "providerConfig"]`, an Ingest source's
/// `["body", "config"]`).
pub(crate) fn check_config(provider: &dyn providers::Provider, config: &ProviderConfig, at: [&str; 2]) -> Result<()> {
    let field = |f: &str| Error::invalid(&[at[0], at[1], f], format!("required by {}", provider.name()));
    if let Some(f) = provider.preset().and_then(|p| p.missing_config(config)) {
        return Err(field(f));
    }
    provider.check_config(config).map_err(|e| match e.setting() {
        Some(f) => Error::invalid(&[at[0], at[1], f], e.to_string()),
        None => Error::invalid(&at, e.to_string()),
    })
}

async fn check_destination(ctx: &ApiContext, org: &str, d: Option<DestinationIn>) -> Result<Option<String>> {
    match d {
        Some(d) => Ok(Some(
            load_app(ctx, org, &d.app_id)
                .await
                .map_err(|_| Error::invalid(&["body", "destination", "appId"], "no such application"))?
                .id
                .clone(),
        )),
        None => Ok(None),
    }
}

#[utoipa::path(
    post, path = "/integrations/{integration_id}/webhooks",
    operation_id = "create_inbound_registration", tag = "Inbound",
    params(("integration_id" = String, Path)),
    request_body = RegistrationIn,
    responses(
        (status = 201, description = "`{registrationId, webhookUrl, webhookSecret, …}`", body = Value),
        ClientError,
    ),
)]
async fn create(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(integration_id): Path<String>,
    ValidJson(input): ValidJson<RegistrationIn>,
) -> Result<(StatusCode, Json<Value>)> {
    let provider = providers::by_name(&integration_id);
    if provider.is_none() && !queues::is_queue(&integration_id) {
        let known: Vec<&str> = providers::all().map(|p| p.name()).chain(queues::KINDS.iter().copied()).collect();
        return Err(Error::invalid(
            &["path", "integrationId"],
            format!("unknown provider; one of: {}", known.join(", ")),
        ));
    }
    let source = queues::check_config(&integration_id, input.config.as_ref())?;
    if input.connection_id.trim().is_empty() {
        return Err(Error::invalid(&["body", "connectionId"], "must not be empty"));
    }
    check_events(&input.events)?;
    if input.rate_limit_per_minute == Some(0) {
        return Err(Error::invalid(&["body", "rateLimitPerMinute"], "must be at least 1"));
    }
    check_secret(input.webhook_secret.as_deref())?;
    // A data preset whose provider issues the key cannot work with one hookd makes up.
    let data_preset =
        provider.and_then(|p| p.preset()).filter(|_| !providers::PROVIDERS.iter().any(|c| c.name() == integration_id));
    if let (Some(p), None) = (data_preset, &input.webhook_secret) {
        if p.issued {
            return Err(Error::invalid(
                &["body", "webhookSecret"],
                format!("required: {} issues it ({})", p.title, p.secret),
            ));
        }
    }
    let provider_config = input.provider_config.unwrap_or_default();
    if let Some(provider) = provider {
        check_config(provider, &provider_config, ["body", "providerConfig"])?;
    }
    let destination_app_id = check_destination(&ctx, &org, input.destination).await?;
    let now = now_ms();
    let secret = input.webhook_secret.unwrap_or_else(crate::engine::signing::new_secret);
    let reg = Registration {
        id: crate::ids::new(REGISTRATION),
        org_id: org,
        status: if integration_id == "notion" { Status::PendingVerification } else { Status::Active },
        integration_id,
        connection_id: input.connection_id,
        events: input.events,
        is_verified: false,
        secrets: vec![EndpointSecret { key: secret.clone(), expires_at: None }],
        provider_config,
        destination_app_id,
        rate_limit_per_minute: input.rate_limit_per_minute,
        verification_token: None,
        metadata: input.metadata,
        retry_policy: input.retry_policy,
        transformation: compiled(&ctx, input.transformation).await?,
        source_id: None,
        source,
        created_at: now,
        updated_at: now,
    };
    ctx.store.insert(&reg).await?;
    queues::changed(&ctx, &reg).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "registrationId": reg.id,
            "webhookUrl": webhook_url(&ctx, &reg.id),
            "webhookSecret": secret,
            "status": reg.status,
            "createdAt": ts(reg.created_at),
        })),
    ))
}

async fn load(ctx: &ApiContext, org: &str, id: &str) -> Result<Registration> {
    ctx.store.get::<Registration>(org, "", id).await?.ok_or_else(|| Error::missing("webhook registration", id))
}

async fn save(ctx: &ApiContext, reg: &mut Registration) -> Result<()> {
    reg.updated_at = now_ms();
    ctx.store.update(reg).await?;
    gateway(ctx).cache.invalidate(&reg.id);
    Ok(())
}

/// Why a request was refused, as stored and listed (`reason`).
mod reason {
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const MISSING_SIGNATURE: &str = "missing_signature";
    pub const STALE: &str = "stale";
    pub const CONFIG: &str = "config";
    pub const MALFORMED: &str = "malformed";
    pub const TOO_LARGE: &str = "too_large";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const INACTIVE: &str = "inactive";
    /// A document the provider names (AWS SNS's certificate, its subscription's confirmation URL) could not be
    /// fetched: the egress policy refused its address, or its host failed.
    pub const FETCH_FAILED: &str = "fetch_failed";

    pub fn of(e: &super::providers::VerifyError) -> &'static str {
        use super::providers::VerifyError;
        match e {
            VerifyError::Missing(_) => MISSING_SIGNATURE,
            VerifyError::Malformed(_) | VerifyError::BadSignature => BAD_SIGNATURE,
            VerifyError::Stale => STALE,
            VerifyError::Config(_) => CONFIG,
        }
    }
}

/// How much of a refused request's body is kept: enough to tell what it was.
const REFUSED_BODY_BYTES: usize = 2048;
/// A refused request keeps at most this many of its headers, each clipped to [`REFUSED_HEADER_CHARS`].
const REFUSED_HEADERS: usize = 24;
const REFUSED_HEADER_CHARS: usize = 256;

/// The headers kept with a refused request: the generic ones that tell where it came from and what it is, and
/// those a provider signs and identifies its deliveries with (credentials redacted, as for events).
fn refused_headers(headers: &HeaderMap) -> Value {
    const GENERIC: &[&str] = &["content-type", "content-length", "user-agent", "x-forwarded-for", "forwarded"];
    const TELLING: &[&str] = &["signature", "timestamp", "event", "delivery", "webhook", "hook", "request-id", "topic"];
    let kept = headers_object(headers)
        .into_iter()
        .filter(|(k, _)| GENERIC.contains(&k.as_str()) || TELLING.iter().any(|t| k.contains(t)))
        .take(REFUSED_HEADERS)
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            let clipped = match v.char_indices().nth(REFUSED_HEADER_CHARS) {
                Some((at, _)) => format!("{}…", &v[..at]),
                None => v.to_string(),
            };
            (k, Value::String(clipped))
        });
    Value::Object(kept.collect())
}

/// What is known of a request when it is refused.
struct Refusal<'a> {
    status: StatusCode,
    reason: &'static str,
    detail: String,
    headers: &'a HeaderMap,
    body: &'a [u8],
    /// Its length, when the body was not read whole (too large).
    size: Option<usize>,
    source_ip: Option<String>,
}

/// Keeps a refused request with its reason (the newest [`crate::store::INBOUND_REFUSED_KEPT`] per registration,
/// for [`crate::store::INBOUND_REFUSED_KEPT_MS`]) and answers it. A bad signature or an unreadable, too large
/// body counts against the registration's health too; when that makes the health degraded or failed, an
/// `inbound.registration.failing` operational event says so. Refusals that count nothing (over the rate, to an
/// inactive registration) are kept one a minute per registration and node, so that a flood writes little.
async fn refuse_and_keep(
    ctx: &ApiContext,
    reg: &Arc<Registration>,
    r: Refusal<'_>,
    started: Instant,
    window: Option<&RateWindow>,
) -> Result<Response> {
    let failure = !matches!(r.reason, reason::RATE_LIMITED | reason::INACTIVE);
    let now = now_ms();
    if failure || gateway(ctx).first_this_minute(&reg.id, r.reason, now) {
        let record = InboundRefusedRecord {
            id: crate::ids::new(REFUSED),
            org_id: reg.org_id.clone(),
            registration_id: reg.id.clone(),
            received_at: now,
            status: i64::from(r.status.as_u16()),
            reason: r.reason.to_string(),
            detail: r.detail.clone(),
            source_ip: r.source_ip,
            headers: refused_headers(r.headers).to_string(),
            body: r.body[..r.body.len().min(REFUSED_BODY_BYTES)].to_vec(),
            body_size: r.size.unwrap_or(r.body.len()) as i64,
        };
        ctx.store.inbound_refuse(record, failure).await?;
        if failure {
            report_failing(ctx, reg).await;
        }
    }
    Ok(refuse(r.status, r.detail, started, window))
}

/// After a refusal counted against the registration: when it changed the health to degraded or failed, an
/// `inbound.registration.failing` operational event (sent in the background, off the request).
async fn report_failing(ctx: &ApiContext, reg: &Registration) {
    // Read before answering (not in the background), so that the next request's failure is not counted in
    // this one's "after" and the same change of health reported twice.
    let after = match stats_of(ctx, &reg.id).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = ?e, "reading an inbound registration's health");
            return;
        }
    };
    // The same counts one failure earlier: what the health was before this one.
    let before = InboundStats {
        recent_total: after.recent_total - 1,
        recent_failures: after.recent_failures - 1,
        consecutive_failures: after.consecutive_failures - 1,
        ..after.clone()
    };
    let (was, is) = (health(ctx, reg, &before), health(ctx, reg, &after));
    if is.status != was.status && is.status != "healthy" {
        let data = json!({
            "registrationId": reg.id,
            "integrationId": reg.integration_id,
            "connectionId": reg.connection_id,
            "status": is.status,
            "previousStatus": was.status,
            "failureCount": is.failure_count,
            "failureRate": is.failure_rate,
            "lastFailureAt": is.last_failure_at,
        });
        ctx.engine.emit_operational(&reg.org_id, "inbound.registration.failing", data);
    }
}

/// The registrations' counters over the health's recent window.
async fn stats_for(ctx: &ApiContext, ids: Vec<String>) -> Result<HashMap<String, InboundStats>> {
    let since = now_ms() - HEALTH_WINDOW_HOURS * 3_600_000;
    Ok(ctx.store.inbound_stats(ids, since).await?)
}

async fn stats_of(ctx: &ApiContext, id: &str) -> Result<InboundStats> {
    Ok(stats_for(ctx, vec![id.to_string()]).await?.remove(id).unwrap_or_default())
}

#[utoipa::path(
    get, operation_id = "get_inbound_registration", path = "/webhooks/{registration_id}", tag = "Inbound",
    params(("registration_id" = String, Path)),
    responses(
        (status = 200, body = RegistrationOut),
        ClientError,
    ),
)]
async fn get_one(
    State(ctx): State<ApiContext>,
    auth: std::result::Result<OrgId, Error>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response> {
    let org = match auth {
        Ok(OrgId(org)) => org,
        // Without a token, a GET is a provider's handshake (Meta's `hub.challenge`, Dropbox's `challenge`,
        // Okta's verification) or refused as before.
        Err(unauthenticated) => {
            return get_handshake(&ctx, &id, false, &uri, &headers).await?.ok_or(unauthenticated);
        }
    };
    let reg = load(&ctx, &org, &id).await?;
    let stats = stats_of(&ctx, &reg.id).await?;
    Ok(Json(out(&ctx, &reg, &stats, &reach(&ctx, &reg).await?)).into_response())
}

/// The answer to an unsigned GET handshake of a registration's provider, if the request is one.
async fn get_handshake(
    ctx: &ApiContext,
    id: &str,
    via_source: bool,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<Option<Response>> {
    let Some(reg) = gateway(ctx).registration(ctx, id).await?.filter(|r| r.source_id.is_some() == via_source) else {
        return Ok(None);
    };
    let Some(provider) = providers::by_name(&reg.integration_id).filter(|_| reg.status != Status::Inactive) else {
        return Ok(None);
    };
    let url = format!("{}{}", ctx.cfg.public_url, uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path()));
    let req = Incoming { headers, body: &[], url: &url, now: now_ms() / 1000 };
    let reply = provider.unsigned_handshake(&req, "GET", &reg.provider_config, &reg.live_secrets(now_ms()));
    if reply.is_some() {
        ctx.engine.metrics.inbound(provider.name(), verdict::HANDSHAKE);
    }
    Ok(reply.map(|r| handshake_answer(r, None)))
}

/// `GET /integrations`: every provider an `integrationId` names, and how each verifies; then the queue kinds,
/// whose registrations consume from a broker instead.
#[utoipa::path(
    get, operation_id = "list_inbound_presets", path = "/integrations", tag = "Inbound",
    responses(
        (
            status = 200, body = Value,
            description = "`{data: [{name, title, family, signatureHeaders, algorithm, message, encoding, prefix, \
                timestamp, deliveryId, eventType, handshake, config, docs, …}], total}`",
        ),
        ClientError,
    ),
)]
async fn list_presets(OrgId(_org): OrgId) -> Json<Value> {
    let data: Vec<Value> = providers::all()
        .map(describe_provider)
        .chain(queues::KINDS.iter().copied().filter_map(queues::describe))
        .collect();
    Json(json!({ "total": data.len(), "data": data }))
}

/// How a provider verifies: its data preset's description, or `code` for a provider with a flow of its own.
pub fn describe_provider(p: &dyn providers::Provider) -> Value {
    let about = p.about();
    match p.preset() {
        Some(preset) => {
            let mut v = preset.describe();
            v["name"] = json!(p.name());
            v["title"] = json!(about.title);
            v
        }
        None => json!({
            "name": p.name(), "title": about.title, "family": "code", "secretHelp": about.secret,
            "usesSecret": about.uses_secret,
        }),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    integration_id: Option<String>,
    connection_id: Option<String>,
}

/// Every registration of a tenant (they are few; the seed's answers are not paginated).
async fn all_registrations(ctx: &ApiContext, org: &str) -> Result<Vec<Registration>> {
    let everything = crate::store::Page { limit: 100_000, iterator: None, reverse: false, descending: false };
    Ok(ctx.store.list::<Registration>(org, "", &everything).await?)
}

#[utoipa::path(
    get, operation_id = "list_inbound_registrations", path = "/webhooks", tag = "Inbound",
    params(ListQuery),
    responses(
        (status = 200, body = Value),
        ClientError,
    ),
)]
async fn list(State(ctx): State<ApiContext>, OrgId(org): OrgId, Query(q): Query<ListQuery>) -> Result<Json<Value>> {
    let mut regs = all_registrations(&ctx, &org).await?;
    regs.retain(|r| {
        q.integration_id.as_ref().is_none_or(|i| &r.integration_id == i)
            && q.connection_id.as_ref().is_none_or(|c| &r.connection_id == c)
    });
    let stats = stats_for(&ctx, regs.iter().map(|r| r.id.clone()).collect()).await?;
    let mut webhooks: Vec<RegistrationOut> = Vec::with_capacity(regs.len());
    for r in &regs {
        webhooks.push(out(&ctx, r, &stats[&r.id], &reach(&ctx, r).await?));
    }
    Ok(Json(json!({ "total": webhooks.len(), "webhooks": webhooks })))
}

#[utoipa::path(
    patch, operation_id = "patch_inbound_registration", path = "/webhooks/{registration_id}", tag = "Inbound",
    params(("registration_id" = String, Path)),
    request_body = RegistrationPatch,
    responses(
        (status = 200, body = RegistrationOut),
        ClientError,
    ),
)]
async fn patch(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
    ValidJson(p): ValidJson<RegistrationPatch>,
) -> Result<Json<RegistrationOut>> {
    let mut reg = load(&ctx, &org, &id).await?;
    if let (Some(source), Some(_)) = (&reg.source_id, &p.destination) {
        let msg = format!(
            "the ingest source {source}'s events go to its endpoints (/ingest/api/v1/source/{source}/endpoint)"
        );
        return Err(Error::invalid(&["body", "destination"], msg));
    }
    if let Some(events) = p.events {
        check_events(&events)?;
        reg.events = events;
    }
    if let Some(status) = p.status {
        reg.status = status;
    }
    if let Some(d) = p.destination {
        reg.destination_app_id = check_destination(&ctx, &org, d).await?;
    }
    if let Some(c) = p.provider_config {
        if let Some(provider) = providers::by_name(&reg.integration_id) {
            check_config(provider, &c, ["body", "providerConfig"])?;
        }
        reg.provider_config = c;
    }
    if let Some(r) = p.rate_limit_per_minute {
        if r == Some(0) {
            return Err(Error::invalid(&["body", "rateLimitPerMinute"], "must be at least 1"));
        }
        reg.rate_limit_per_minute = r;
    }
    if let Some(m) = p.metadata {
        reg.metadata = Some(m);
    }
    if let Some(t) = p.transformation {
        reg.transformation = compiled(&ctx, t).await?;
    }
    if let Some(c) = p.config {
        reg.source = queues::check_config(&reg.integration_id, Some(&c))?;
    }
    save(&ctx, &mut reg).await?;
    queues::changed(&ctx, &reg).await?;
    let stats = stats_of(&ctx, &reg.id).await?;
    Ok(Json(out(&ctx, &reg, &stats, &reach(&ctx, &reg).await?)))
}

#[utoipa::path(
    delete, operation_id = "delete_inbound_registration", path = "/webhooks/{registration_id}", tag = "Inbound",
    params(("registration_id" = String, Path)),
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn delete(State(ctx): State<ApiContext>, OrgId(org): OrgId, Path(id): Path<String>) -> Result<StatusCode> {
    let reg = load(&ctx, &org, &id).await?;
    if let Some(source) = &reg.source_id {
        return Err(Error::conflict(format!(
            "This registration is the ingest source {source}: delete the source (DELETE /ingest/api/v1/source/{source})"
        )));
    }
    queues::deleted(&ctx, &reg).await?;
    ctx.store.delete::<Registration>(&org, &reg.id).await?;
    gateway(&ctx).cache.invalidate(&reg.id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RotateIn {
    #[serde(default)]
    grace_period_seconds: Option<u32>,
    /// A new provider-issued secret; generated when absent.
    #[serde(default)]
    webhook_secret: Option<String>,
}

/// A new secret; the old one keeps verifying for the grace period (24 h unless said otherwise, at most 7 days).
#[utoipa::path(
    post, operation_id = "rotate_inbound_secret", path = "/webhooks/{registration_id}/rotate-secret", tag = "Inbound",
    params(("registration_id" = String, Path)),
    request_body = RotateIn,
    responses(
        (status = 200, body = Value),
        ClientError,
    ),
)]
async fn rotate(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
    ValidJson(input): ValidJson<RotateIn>,
) -> Result<Json<Value>> {
    let grace = input.grace_period_seconds.unwrap_or(86_400);
    if grace > 7 * 86_400 {
        return Err(Error::invalid(&["body", "gracePeriodSeconds"], "at most 7 days"));
    }
    check_secret(input.webhook_secret.as_deref())?;
    let mut reg = load(&ctx, &org, &id).await?;
    let now = now_ms();
    let until = now + grace as i64 * 1000;
    let secret = input.webhook_secret.unwrap_or_else(crate::engine::signing::new_secret);
    crate::engine::model::rotate_secrets(&mut reg.secrets, secret.clone(), grace as i64 * 1000, now);
    save(&ctx, &mut reg).await?;
    Ok(Json(json!({ "webhookSecret": secret, "previousSecretValidUntil": ts(until) })))
}

// ── health ──

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct HealthOut {
    registration_id: String,
    status: &'static str,
    /// Requests refused in a row since the last accepted one.
    failure_count: i64,
    last_event_at: Option<String>,
    last_failure_at: Option<String>,
    /// Percent of the window's requests that were refused.
    failure_rate: f64,
    /// What to do about it, each an action in hookd or at the provider.
    recommendations: Vec<String>,
    /// Requests in the window: accepted and refused (not those over the rate or to an inactive registration).
    total_count: i64,
    failed_count: i64,
    /// The window the counts and the rate are over: the last this many whole hours.
    window_hours: i64,
}

/// The seed's rules, over the recent window: failed at 3+ failures in a row, a failure rate over 25 % or status
/// `failed`; degraded at 1–2 failures in a row, a rate of 5–25 % or a status other than `active`; healthy
/// otherwise. The rate judges only once the window holds [`RATE_JUDGED_FROM`] requests, so that one stray
/// request to a quiet registration does not fail it; old failures leave the window, so health recovers.
fn health(ctx: &ApiContext, r: &Registration, s: &InboundStats) -> HealthOut {
    let rate = match s.recent_total {
        0 => 0.0,
        total => (s.recent_failures as f64 * 100.0 / total as f64 * 100.0).round() / 100.0,
    };
    let judged = s.recent_total >= RATE_JUDGED_FROM;
    let status = if s.consecutive_failures >= 3 || (judged && rate > 25.0) || r.status == Status::Failed {
        "failed"
    } else if s.consecutive_failures >= 1 || (judged && rate >= 5.0) || r.status != Status::Active {
        "degraded"
    } else {
        "healthy"
    };
    HealthOut {
        registration_id: r.id.clone(),
        status,
        failure_count: s.consecutive_failures,
        last_event_at: s.last_event_at.map(ts),
        last_failure_at: s.last_failure_at.map(ts),
        failure_rate: rate,
        recommendations: if status == "healthy" { vec![] } else { recommendations(ctx, r, s) },
        total_count: s.recent_total,
        failed_count: s.recent_failures,
        window_hours: HEALTH_WINDOW_HOURS,
    }
}

/// What the tenant can do about an unhealthy registration: by its status, then by why its recent requests were
/// refused (most frequent first). Each names where to act: a hookd call, a setting, or the provider's side.
fn recommendations(ctx: &ApiContext, r: &Registration, s: &InboundStats) -> Vec<String> {
    let (p, id) = (&r.integration_id, &r.id);
    let mut out = Vec::new();
    match r.status {
        Status::Inactive => out.push(format!(
            "The registration is inactive: {p}'s requests are answered 404 and not kept. To receive them again, set \
             its status to active (PATCH /webhooks/{id} with {{\"status\": \"active\"}})."
        )),
        Status::Failed => out.push(format!(
            "The registration was marked failed: once the cause is fixed, set its status to active (PATCH \
             /webhooks/{id} with {{\"status\": \"active\"}})."
        )),
        Status::PendingVerification => out.push(format!(
            "Waiting for {p}'s verification request: add this registration's webhook URL in {p}'s webhook \
             settings; hookd keeps the token it sends (verificationToken), which {p} then asks for."
        )),
        Status::Active => {}
    }
    let mut lost = false;
    for (reason, n) in &s.recent_reasons {
        let times = if *n == 1 { "1 request".to_string() } else { format!("{n} requests") };
        let window = format!("in the last {HEALTH_WINDOW_HOURS} h");
        let text = match reason.as_str() {
            // An Ingest source's secret and settings are its `config`, changed through the Ingest API.
            reason::BAD_SIGNATURE if r.source_id.is_some() => format!(
                "{times} {window} failed signature verification: check that the secret set at {p} is the source's \
                 config.secret; to change it, PUT /ingest/api/v1/source/{} with the secret {p} shows.",
                r.source_id.as_deref().unwrap_or_default()
            ),
            reason::CONFIG if r.source_id.is_some() => format!(
                "{times} {window} could not be verified with the source's config: fix it (PUT \
                 /ingest/api/v1/source/{}).",
                r.source_id.as_deref().unwrap_or_default()
            ),
            reason::BAD_SIGNATURE => format!(
                "{times} {window} failed signature verification: check that the secret set at {p} is this \
                 registration's webhook secret. To start again with a new one, rotate it (POST \
                 /webhooks/{id}/rotate-secret) and paste it at {p}."
            ),
            reason::MISSING_SIGNATURE => format!(
                "{times} {window} carried no signature: turn signing on in {p}'s webhook settings, and check that \
                 the requests come from {p}."
            ),
            reason::STALE => format!(
                "{times} {window} had a timestamp outside {p}'s tolerance (delayed or replayed): check this \
                 server's clock (NTP); an old event must be sent anew by {p}, not replayed."
            ),
            reason::CONFIG => format!(
                "{times} {window} could not be verified with this registration's provider configuration: fix \
                 providerConfig (PATCH /webhooks/{id})."
            ),
            reason::MALFORMED => format!(
                "{times} {window} could not be read as {p} events: check the content type and payload format set \
                 at {p}."
            ),
            reason::TOO_LARGE => format!(
                "{times} {window} were larger than the limit of {} bytes: raise it with HOOKD_MAX_BODY_BYTES, or \
                 have {p} send smaller events.",
                ctx.cfg.max_body_bytes
            ),
            reason::FETCH_FAILED => format!(
                "{times} {window} needed a fetch from {p} that failed (a signing certificate, or a subscription's \
                 confirmation): GET /webhooks/{id}/refused says why. An address the egress policy refuses is \
                 allowed with HOOKD_ALLOWED_CIDRS or HOOKD_ALLOW_PRIVATE_NETWORKS; {p} sends a confirmation again \
                 when asked to (Request confirmation, in its console)."
            ),
            reason::RATE_LIMITED => format!(
                "Requests over the limit of {} a minute were answered 429 {window} (providers retry later): raise \
                 rateLimitPerMinute (PATCH /webhooks/{id}).",
                r.rate_limit_per_minute.unwrap_or(ctx.cfg.inbound_rate_per_minute)
            ),
            _ => continue,
        };
        lost |= reason != reason::RATE_LIMITED;
        out.push(text);
    }
    if lost {
        out.push(format!(
            "Once fixed, have {p} send the refused events again (from its log of webhook deliveries): hookd kept \
             only what it needs to show why each was refused (GET /webhooks/{id}/refused)."
        ));
    }
    if out.is_empty() {
        out.push(format!(
            "See why requests were refused: GET /webhooks/{id}/refused, or the registration's dashboard page."
        ));
    }
    out
}

#[utoipa::path(
    get, operation_id = "get_inbound_registration_health", path = "/webhooks/{registration_id}/health", tag = "Inbound",
    params(("registration_id" = String, Path)),
    responses(
        (status = 200, body = HealthOut),
        ClientError,
    ),
)]
async fn registration_health(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
) -> Result<Json<HealthOut>> {
    let reg = load(&ctx, &org, &id).await?;
    let stats = stats_of(&ctx, &reg.id).await?;
    Ok(Json(health(&ctx, &reg, &stats)))
}

#[utoipa::path(
    get, operation_id = "get_inbound_health", path = "/webhooks/health", tag = "Inbound",
    responses(
        (status = 200, body = Value),
        ClientError,
    ),
)]
async fn service_health(State(ctx): State<ApiContext>, OrgId(org): OrgId) -> Result<Json<Value>> {
    let regs = all_registrations(&ctx, &org).await?;
    let stats = stats_for(&ctx, regs.iter().map(|r| r.id.clone()).collect()).await?;
    let failed = regs.iter().filter(|r| health(&ctx, r, &stats[&r.id]).status == "failed").count();
    Ok(Json(json!({
        "status": if failed == 0 { "healthy" } else { "degraded" },
        "registrationsCount": regs.len(),
        "failedRegistrationsCount": failed,
        "cacheHitRate": (gateway(&ctx).cache_hit_rate() * 1000.0).round() / 1000.0,
    })))
}

/// The seed's `getUnhealthyWebhooks`: every registration whose health is `degraded` or `failed`, worst first.
#[utoipa::path(
    get, operation_id = "list_unhealthy_inbound_registrations", path = "/webhooks/unhealthy", tag = "Inbound",
    responses(
        (status = 200, description = "`{webhooks: [WebhookHealth + integrationId, connectionId], total}`", body = Value),
        ClientError,
    ),
)]
async fn unhealthy(State(ctx): State<ApiContext>, OrgId(org): OrgId) -> Result<Json<Value>> {
    let regs = all_registrations(&ctx, &org).await?;
    let stats = stats_for(&ctx, regs.iter().map(|r| r.id.clone()).collect()).await?;
    let mut sick: Vec<(&Registration, HealthOut)> =
        regs.iter().map(|r| (r, health(&ctx, r, &stats[&r.id]))).filter(|(_, h)| h.status != "healthy").collect();
    sick.sort_by_key(|(_, h)| (h.status != "failed", std::cmp::Reverse(h.failure_count)));
    let webhooks: Vec<Value> = sick
        .into_iter()
        .map(|(r, h)| {
            let mut v = serde_json::to_value(&h).unwrap_or(Value::Null);
            v["integrationId"] = json!(r.integration_id);
            v["connectionId"] = json!(r.connection_id);
            v
        })
        .collect();
    Ok(Json(json!({ "total": webhooks.len(), "webhooks": webhooks })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct TroubleshootQuery {
    /// How many of the newest processing logs to include (default 20, at most 1000).
    logs_limit: Option<u32>,
    connection_id: Option<String>,
}

/// The seed's troubleshooting call: the integration's registrations with their health, and the newest
/// `logsLimit` events they processed (newest first). Refused requests are counted in each registration's
/// health and listed, with their reasons, by `GET /webhooks/{id}/refused`.
#[utoipa::path(
    get, path = "/integrations/{integration_id}/webhooks",
    operation_id = "troubleshoot_inbound_integration", tag = "Inbound",
    params(("integration_id" = String, Path), TroubleshootQuery),
    responses(
        (status = 200, description = "`{integrationId, webhooks: [registration + health], total, logs}`", body = Value),
        ClientError,
    ),
)]
async fn troubleshoot(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(integration_id): Path<String>,
    Query(q): Query<TroubleshootQuery>,
) -> Result<Json<Value>> {
    let limit = q.logs_limit.unwrap_or(20);
    if limit > 1000 {
        return Err(Error::invalid(&["query", "logsLimit"], "at most 1000"));
    }
    let mut regs = all_registrations(&ctx, &org).await?;
    regs.retain(|r| {
        r.integration_id == integration_id && q.connection_id.as_ref().is_none_or(|c| &r.connection_id == c)
    });
    let stats = stats_for(&ctx, regs.iter().map(|r| r.id.clone()).collect()).await?;
    let mut logs: Vec<(Millis, String, Value)> = Vec::new();
    if limit > 0 {
        let newest = crate::store::Page { limit: limit as usize, iterator: None, reverse: false, descending: true };
        for r in &regs {
            for e in ctx.store.inbound_events(&org, &r.id, &newest).await?.into_iter().take(limit as usize) {
                let mut v = event_out(&ctx, r, &e, false);
                let n: Value = serde_json::from_str(&e.normalized).unwrap_or(Value::Null);
                for k in ["eventType", "entityType", "entityId"] {
                    v[k] = n.get(k).cloned().unwrap_or(Value::Null);
                }
                v["outcome"] = json!(if e.forwarded_msg_id.is_some() { "forwarded" } else { "stored" });
                logs.push((e.received_at, e.id.clone(), v));
            }
        }
    }
    logs.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    logs.truncate(limit as usize);
    let mut webhooks: Vec<Value> = Vec::with_capacity(regs.len());
    for r in &regs {
        webhooks.push(with_health(&ctx, r, &stats[&r.id]).await?);
    }
    Ok(Json(json!({
        "integrationId": integration_id,
        "total": webhooks.len(),
        "webhooks": webhooks,
        "logs": logs.into_iter().map(|(_, _, v)| v).collect::<Vec<_>>(),
    })))
}

// ── stored events and replay ──

/// The stored event in full: its summary, with `data` derived from the stored request by the provider again.
fn full_event(ctx: &ApiContext, reg: &Registration, e: &InboundEventRecord) -> Value {
    let mut event: Value = serde_json::from_str(&e.normalized).unwrap_or(Value::Null);
    let headers = stored_headers(e);
    let url = with_query(webhook_url(ctx, &reg.id), e);
    let req = Incoming { headers: &headers, body: &e.body, url: &url, now: e.received_at / 1000 };
    let data = match providers::by_name(&reg.integration_id) {
        Some(p) => p.normalize(&req, &reg.provider_config).ok().map_or(Value::Null, |n| n.data),
        None => queues::body_data(&e.body),
    };
    if let Value::Object(m) = &mut event {
        m.insert("data".into(), data);
    }
    event
}

/// Kept among a stored event's headers: the query string it came with, which some providers sign (Twilio, PandaDoc)
/// and a recheck must give back. Not a header name, so it is never taken for one.
const QUERY_KEY: &str = ":query";

/// `url` with the query string `e` came with.
fn with_query(url: String, e: &InboundEventRecord) -> String {
    let stored: HashMap<String, String> = serde_json::from_str(&e.headers).unwrap_or_default();
    match stored.get(QUERY_KEY) {
        Some(q) => format!("{url}?{q}"),
        None => url,
    }
}

/// The request headers stored with an event, as a header map again.
fn stored_headers(e: &InboundEventRecord) -> HeaderMap {
    let stored: HashMap<String, String> = serde_json::from_str(&e.headers).unwrap_or_default();
    stored
        .iter()
        .filter_map(|(k, v)| {
            Some((axum::http::HeaderName::try_from(k.as_str()).ok()?, HeaderValue::try_from(v.as_str()).ok()?))
        })
        .collect()
}

/// The verdict on a stored event's signature. Only requests that verified are stored, so at receipt it was
/// `verified`; `recheck` runs the provider's check again on the stored bytes, at the time it arrived, with the
/// secrets live then, at the URL it came to (a source's: any of its ingest URLs live then) — it fails when the
/// secret has since been replaced or the provider signs a header hookd stores redacted (`Authorization`).
async fn verdict_of(ctx: &ApiContext, reg: &Registration, e: &InboundEventRecord) -> Result<Value> {
    if queues::is_queue(&reg.integration_id) {
        return Ok(json!({ "atReceipt": "consumed", "provider": reg.integration_id }));
    }
    let Some(p) = providers::by_name(&reg.integration_id) else {
        let recheck = json!({ "ok": false, "error": "unknown provider" });
        return Ok(json!({ "atReceipt": verdict::VERIFIED, "provider": reg.integration_id, "recheck": recheck }));
    };
    let urls = match &reg.source_id {
        Some(src) => ingest::urls_at(ctx, &reg.org_id, src, e.received_at).await?,
        None => vec![webhook_url(ctx, &reg.id)],
    };
    let urls: Vec<String> = urls.into_iter().map(|u| with_query(u, e)).collect();
    let headers = stored_headers(e);
    let secrets = reg.live_secrets(e.received_at);
    let mut outcome = Err(providers::VerifyError::Config("the source is gone".into()));
    for url in &urls {
        let req = Incoming { headers: &headers, body: &e.body, url, now: e.received_at / 1000 };
        outcome = verify_request(ctx, p, &req, &secrets, &reg.provider_config).await.map_err(|u| match u {
            Unverified::Signature(e) => e,
            Unverified::Fetch(f) => providers::VerifyError::Config(f.detail),
        });
        if outcome.is_ok() {
            break;
        }
    }
    let recheck = match outcome {
        Ok(()) => json!({ "ok": true }),
        Err(err) => json!({ "ok": false, "error": err.to_string() }),
    };
    Ok(json!({ "atReceipt": verdict::VERIFIED, "provider": reg.integration_id, "recheck": recheck }))
}

/// A registration as `GET /webhooks/{id}` answers it, with its `health`.
/// With the Ingest source it is (`ingestSource`: id, name, type, ingestUrl), for the dashboard.
async fn with_health(ctx: &ApiContext, r: &Registration, s: &InboundStats) -> Result<Value> {
    let reach = reach(ctx, r).await?;
    let mut v = serde_json::to_value(out(ctx, r, s, &reach)).unwrap_or(Value::Null);
    v["health"] = serde_json::to_value(health(ctx, r, s)).unwrap_or(Value::Null);
    if let Some(source) = reach.source {
        v["ingestSource"] = source;
    }
    Ok(v)
}

fn event_out(ctx: &ApiContext, reg: &Registration, e: &InboundEventRecord, with_body: bool) -> Value {
    let mut v = json!({
        "id": e.id,
        "registrationId": e.registration_id,
        "deliveryId": e.delivery_id,
        "receivedAt": ts(e.received_at),
        "matchKey": e.match_key,
        "forwardedMessageId": e.forwarded_msg_id,
    });
    if with_body {
        v["event"] = full_event(ctx, reg, e);
        v["headers"] = serde_json::from_str(&e.headers).unwrap_or(Value::Null);
        v["body"] = Value::String(String::from_utf8_lossy(&e.body).into_owned());
    }
    v
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    limit: Option<u64>,
    iterator: Option<String>,
}

#[utoipa::path(
    get, operation_id = "list_inbound_events", path = "/webhooks/{registration_id}/events", tag = "Inbound",
    params(("registration_id" = String, Path), EventsQuery),
    responses(
        (status = 200, body = ListResponse<Value>),
        ClientError,
    ),
)]
async fn list_events(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<ListResponse<Value>>> {
    let reg = load(&ctx, &org, &id).await?;
    let page = page(q.limit, q.iterator.as_deref(), true);
    let rows = ctx.store.inbound_events(&org, &reg.id, &page).await?;
    Ok(Json(list_response(rows, &page, |e| e.id.clone(), |e| event_out(&ctx, &reg, &e, false))))
}

/// A refused request as `GET /webhooks/{id}/refused` lists it.
fn refused_out(r: &InboundRefusedRecord) -> Value {
    json!({
        "id": r.id,
        "registrationId": r.registration_id,
        "receivedAt": ts(r.received_at),
        "status": r.status,
        "reason": r.reason,
        "detail": r.detail,
        "sourceIp": r.source_ip,
        "headers": serde_json::from_str::<Value>(&r.headers).unwrap_or(Value::Null),
        "body": String::from_utf8_lossy(&r.body),
        "bodySize": r.body_size,
        "bodyTruncated": (r.body.len() as i64) < r.body_size,
    })
}

/// The requests this registration refused, newest first, each with its reason (`bad_signature`,
/// `missing_signature`, `stale`, `config`, `malformed`, `too_large`, `rate_limited`, `inactive`), the status
/// answered, the source address, a few headers and the body's first 2 KiB. The newest 100 are kept, for 7 days;
/// of the requests over the rate or to an inactive registration, the first of each minute.
#[utoipa::path(
    get, operation_id = "list_inbound_refused_requests", path = "/webhooks/{registration_id}/refused", tag = "Inbound",
    params(("registration_id" = String, Path), EventsQuery),
    responses(
        (status = 200, body = ListResponse<Value>),
        ClientError,
    ),
)]
async fn list_refused(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<ListResponse<Value>>> {
    let reg = load(&ctx, &org, &id).await?;
    let page = page(q.limit, q.iterator.as_deref(), true);
    let rows = ctx.store.inbound_refused(&org, &reg.id, &page).await?;
    Ok(Json(list_response(rows, &page, |r| r.id.clone(), |r| refused_out(&r))))
}

#[utoipa::path(
    get, operation_id = "get_inbound_event", path = "/webhooks/{registration_id}/events/{event_id}", tag = "Inbound",
    params(("registration_id" = String, Path), ("event_id" = String, Path)),
    responses(
        (status = 200, body = Value),
        ClientError,
    ),
)]
async fn get_event(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let reg = load(&ctx, &org, &id).await?;
    let e =
        ctx.store.inbound_event(&org, &reg.id, &event_id).await?.ok_or_else(|| Error::missing("event", &event_id))?;
    Ok(Json(event_out(&ctx, &reg, &e, true)))
}

/// Publishes a stored inbound event to the registration's destination again, as a new message.
#[utoipa::path(
    post, path = "/webhooks/{registration_id}/events/{event_id}/replay",
    operation_id = "replay_inbound_event", tag = "Inbound",
    params(("registration_id" = String, Path), ("event_id" = String, Path)),
    responses(
        (status = 200, body = Value),
        ClientError,
    ),
)]
async fn replay(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let msg_id = replay_event(&ctx, &org, &id, &event_id).await?;
    Ok(Json(json!({ "success": true, "messageId": msg_id })))
}

/// Publishes a stored event again (the API's route and the dashboard's button); answers the message's id.
async fn replay_event(ctx: &ApiContext, org: &str, id: &str, event_id: &str) -> Result<String> {
    let reg = load(ctx, org, id).await?;
    let e = ctx.store.inbound_event(org, &reg.id, event_id).await?.ok_or_else(|| Error::missing("event", event_id))?;
    let app_id =
        reg.destination_app_id.as_deref().ok_or_else(|| Error::bad_request("The registration has no destination"))?;
    let app = load_app(ctx, org, app_id).await?;
    let payload = serde_json::value::to_raw_value(&full_event(ctx, &reg, &e)).map_err(Error::internal)?;
    let msg = NewMessage {
        event_type: e.match_key.clone(),
        event_id: None,
        channels: None,
        payload,
        deliver_at: None,
        only_endpoint: None,
        id: None,
        payload_retention: None,
    };
    Ok(ctx.engine.publish(&app, msg).await?.id.clone())
}

/// The dashboard's view of the inbound face: registrations with health, events with their verdict, replay.
pub struct Console;

#[async_trait::async_trait]
impl crate::api::console::InboundConsole for Console {
    async fn registrations(&self, ctx: &ApiContext, org: &str) -> Result<Vec<Value>> {
        let regs = all_registrations(ctx, org).await?;
        let stats = stats_for(ctx, regs.iter().map(|r| r.id.clone()).collect()).await?;
        let mut out = Vec::with_capacity(regs.len());
        for r in &regs {
            out.push(with_health(ctx, r, &stats[&r.id]).await?);
        }
        Ok(out)
    }

    async fn registration(&self, ctx: &ApiContext, org: &str, id: &str) -> Result<Value> {
        let reg = load(ctx, org, id).await?;
        with_health(ctx, &reg, &stats_of(ctx, &reg.id).await?).await
    }

    async fn event(&self, ctx: &ApiContext, org: &str, id: &str, event_id: &str) -> Result<Value> {
        let reg = load(ctx, org, id).await?;
        let e =
            ctx.store.inbound_event(org, &reg.id, event_id).await?.ok_or_else(|| Error::missing("event", event_id))?;
        let mut v = event_out(ctx, &reg, &e, true);
        v["verdict"] = verdict_of(ctx, &reg, &e).await?;
        Ok(v)
    }

    async fn replay(&self, ctx: &ApiContext, org: &str, id: &str, event_id: &str) -> Result<String> {
        replay_event(ctx, org, id, event_id).await
    }

    fn providers(&self) -> Vec<Value> {
        providers::all()
            .map(|p| {
                let about = p.about();
                let (verifies, docs) = match p.preset() {
                    Some(preset) => {
                        let place = preset.headers.first().map(|h| format!(" in {h}")).unwrap_or_default();
                        let window = match preset.tolerance {
                            0 => String::new(),
                            t => format!(", timestamp within {t} s"),
                        };
                        (format!("{}{place}{window}", preset.how().replace('`', "")), Some(preset.docs))
                    }
                    None => ("its own code".to_string(), None),
                };
                json!({
                    "integrationId": p.name(), "title": about.title, "secret": about.secret,
                    "usesSecret": about.uses_secret, "verifies": verifies, "docs": docs,
                })
            })
            .chain(queues::KINDS.iter().copied().filter_map(queues::describe).map(|q| {
                let fields = |k: &str| {
                    q[k].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
                };
                let consumes = q["consumes"].as_str().unwrap_or_default();
                json!({
                    "integrationId": q["name"], "title": q["title"], "usesSecret": false, "queue": true,
                    "secret": format!("A queue source: it consumes {consumes}. Its Queue (JSON) config takes {}; \
                        optionally {}.", fields("config"), fields("optionalConfig")),
                    "verifies": format!("nothing: it consumes {consumes}"),
                })
            }))
            .collect()
    }
}

// ── ingest ──

fn answer(status: StatusCode, body: impl Serialize, window: Option<&RateWindow>) -> Response {
    let mut resp = (status, Json(body)).into_response();
    if let Some(w) = window {
        w.set_headers(resp.headers_mut(), now_ms() / 1000);
    }
    resp
}

/// A handshake's answer, in the content type the provider expects (Twitch and Dropbox read plain text).
fn handshake_answer(reply: providers::preset::Reply, window: Option<&RateWindow>) -> Response {
    let mut resp =
        (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, reply.content_type)], reply.body).into_response();
    if let Some(w) = window {
        w.set_headers(resp.headers_mut(), now_ms() / 1000);
    }
    resp
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(axum::http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn elapsed(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

fn refuse(status: StatusCode, error: String, started: Instant, window: Option<&RateWindow>) -> Response {
    answer(status, json!({ "success": false, "error": error, "processingTimeMs": elapsed(started) }), window)
}

/// Headers as stored with the event (and printed by `hookd listen`): repeated ones joined, credentials redacted.
pub fn headers_object(headers: &HeaderMap) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    for (k, v) in headers {
        let value = match k.as_str() {
            "authorization" | "cookie" | "proxy-authorization" => "[redacted]".to_string(),
            _ => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        };
        match map.get_mut(k.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&value);
            }
            _ => {
                map.insert(k.as_str().to_string(), Value::String(value));
            }
        }
    }
    map
}

/// The seed's `WebhookEvent`, as stored and forwarded, with where it came from.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookEvent<'a> {
    provider_id: &'a str,
    event_type: &'a str,
    entity_type: &'a str,
    entity_id: &'a str,
    /// Left out of the stored copy: it is derived from the stored body again when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    timestamp: String,
    registration_id: &'a str,
    connection_id: &'a str,
    inbound_event_id: &'a str,
    delivery_id: Option<&'a str>,
}

/// `POST /webhooks/{registrationId}`: authenticated by the provider's signature, not a token.
#[utoipa::path(
    post, operation_id = "ingest_inbound_webhook", path = "/webhooks/{registration_id}", tag = "Inbound",
    security(()),
    params(("registration_id" = String, Path)),
    request_body(
        content = String, content_type = "*/*",
        description = "The provider's request, verified on its raw bytes",
    ),
    responses(
        (
            status = 200, body = Value,
            description = "`{success, eventType, entityId, syncTriggered, processingTimeMs}` once committed, or the \
                provider's handshake answer",
        ),
        (status = 400, description = "Not readable as the provider's event: `{error, processingTimeMs}`", body = Value),
        (status = 401, description = "Bad signature: `{error, processingTimeMs}`", body = Value),
        (status = 404, description = "No such registration, or an inactive one", body = Value),
        (status = 413, description = "Over the body limit (`HOOKD_MAX_BODY_BYTES`)", body = Value),
        (status = 429, description = "Over the registration's rate; `Retry-After`", body = Value),
    ),
)]
async fn ingest(
    State(ctx): State<ApiContext>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    req: Request,
) -> Response {
    receive(ctx, id, false, uri, peer, req).await
}

/// The gateway's ingest path, for a registration's URL and (`via_source`) an ingest source's: a registration
/// that is a source takes requests at the source's URL only, where its token was checked.
async fn receive(
    ctx: ApiContext,
    id: String,
    via_source: bool,
    uri: axum::http::Uri,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let headers = req.headers().clone();
    // Read here rather than by an extractor, so that a body over the limit is kept among the refused requests.
    let body = match Bytes::from_request(req, &ctx).await {
        Ok(body) => Some(body),
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => None,
        Err(e) => return Error::bad_request(format!("The request body could not be read: {e}")).into_response(),
    };
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr.ip().to_string());
    let mut tally = Tally { provider: "none", verdict: verdict::ERROR };
    let request = Received { uri: &uri, headers: &headers, body: body.as_deref(), peer };
    let span = crate::telemetry::inbound_span(&id);
    let inner = ingest_inner(&ctx, &id, via_source, request, started, &mut tally);
    let resp = match span.run(inner).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    span.set(opentelemetry::KeyValue::new("hookd.provider", tally.provider));
    span.set(opentelemetry::KeyValue::new("hookd.verdict", tally.verdict));
    ctx.engine.metrics.inbound(tally.provider, tally.verdict);
    resp
}

/// An inbound request as it arrived. `body` is None when it was over the limit (and so not read).
struct Received<'a> {
    uri: &'a axum::http::Uri,
    headers: &'a HeaderMap,
    body: Option<&'a [u8]>,
    /// The address it came from (the connection's peer: a proxy's `X-Forwarded-For` is kept among its headers).
    peer: Option<String>,
}

/// What `/metrics` counts of an inbound request: its provider and the verdict.
struct Tally {
    provider: &'static str,
    verdict: &'static str,
}

async fn ingest_inner(
    ctx: &ApiContext,
    id: &str,
    via_source: bool,
    received: Received<'_>,
    started: Instant,
    tally: &mut Tally,
) -> Result<Response> {
    // An unknown id has no tenant to show a refusal to: it is answered, not kept.
    let found = gateway(ctx).registration(ctx, id).await?;
    let Some(reg) = found.filter(|r| r.source_id.is_some() == via_source) else {
        tally.verdict = verdict::UNKNOWN;
        return Ok(refuse(StatusCode::NOT_FOUND, "Unknown webhook registration".into(), started, None));
    };
    let Received { uri, headers, body, peer } = received;
    let refusal = |status, reason, detail| Refusal {
        status,
        reason,
        detail,
        headers,
        body: body.unwrap_or_default(),
        size: body.is_none().then(|| content_length(headers).unwrap_or(ctx.cfg.max_body_bytes + 1)),
        source_ip: peer.clone(),
    };
    let Some(provider) = providers::by_name(&reg.integration_id) else {
        // A queue source: its events come from its broker.
        tally.verdict = verdict::UNKNOWN;
        let detail = format!("This registration consumes from {}: it takes no HTTP requests", reg.integration_id);
        return Ok(refuse(StatusCode::NOT_FOUND, detail, started, None));
    };
    tally.provider = provider.name();
    if matches!(reg.status, Status::Inactive) {
        tally.verdict = verdict::UNKNOWN;
        let r = refusal(StatusCode::NOT_FOUND, reason::INACTIVE, "Webhook registration is inactive".into());
        return refuse_and_keep(ctx, &reg, r, started, None).await;
    }
    let now = now_ms();
    let limit = reg.rate_limit_per_minute.unwrap_or(ctx.cfg.inbound_rate_per_minute);
    // Counted in the store: the rate holds for every node.
    let window = ctx.store.rate_window(&format!("inbound:{}", reg.id), limit, now / 1000).await?;
    if !window.allowed {
        tally.verdict = verdict::RATE_LIMITED;
        let r = refusal(StatusCode::TOO_MANY_REQUESTS, reason::RATE_LIMITED, "Rate limit exceeded".into());
        return refuse_and_keep(ctx, &reg, r, started, Some(&window)).await;
    }
    let Some(body) = body else {
        tally.verdict = verdict::TOO_LARGE;
        let detail =
            crate::api::extract::payload_too_large(Some(crate::api::extract::BodyLimit(ctx.cfg.max_body_bytes)));
        let r = refusal(StatusCode::PAYLOAD_TOO_LARGE, reason::TOO_LARGE, detail.to_string());
        return refuse_and_keep(ctx, &reg, r, started, Some(&window)).await;
    };
    let url = format!("{}{}", ctx.cfg.public_url, uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path()));
    let req = Incoming { headers, body, url: &url, now: now / 1000 };

    // Handshakes the provider does not sign (monday's, Microsoft Graph's) are answered before any check.
    if let Some(reply) = provider.unsigned_handshake(&req, "POST", &reg.provider_config, &reg.live_secrets(now)) {
        tally.verdict = verdict::HANDSHAKE;
        return Ok(handshake_answer(reply, Some(&window)));
    }

    // Notion sends its verification token once, unsigned: keep it, show it to the tenant, and verify with it.
    if reg.integration_id == "notion" && reg.verification_token.is_none() {
        if let Some(token) = provider.verification_token(&req) {
            let mut updated = load(ctx, &reg.org_id, &reg.id).await?;
            updated.verification_token = Some(token.clone());
            updated.secrets.insert(0, EndpointSecret { key: token, expires_at: None });
            updated.status = Status::Active;
            save(ctx, &mut updated).await?;
            let body =
                json!({ "success": true, "verificationTokenCaptured": true, "processingTimeMs": elapsed(started) });
            tally.verdict = verdict::TOKEN_CAPTURED;
            return Ok(answer(StatusCode::OK, body, Some(&window)));
        }
    }

    let secrets = reg.live_secrets(now);
    let hosts = &ctx.cfg.sns_cert_hosts;
    // A subscription to confirm (AWS SNS) names its URL in the signed request: checked with the signature.
    let verified = verify_request(ctx, provider, &req, &secrets, &reg.provider_config)
        .await
        .and_then(|()| provider.confirm_url(&req, hosts).map_err(Unverified::Signature));
    let confirm = match verified {
        Ok(confirm) => confirm,
        Err(Unverified::Signature(e)) => {
            tally.verdict = verdict::REJECTED;
            let r = refusal(StatusCode::UNAUTHORIZED, reason::of(&e), format!("Invalid webhook signature: {e}"));
            return refuse_and_keep(ctx, &reg, r, started, Some(&window)).await;
        }
        Err(Unverified::Fetch(f)) => {
            tally.verdict = verdict::REJECTED;
            let r = refusal(f.status, reason::FETCH_FAILED, format!("Not verified: {}", f.detail));
            return refuse_and_keep(ctx, &reg, r, started, Some(&window)).await;
        }
    };
    if !reg.is_verified {
        let mut updated = load(ctx, &reg.org_id, &reg.id).await?;
        updated.is_verified = true;
        save(ctx, &mut updated).await?;
    }
    // Confirmed before it is kept: were it kept first and the GET failed, the provider's retry would be a
    // duplicate, never confirmed.
    if let Some(url) = &confirm {
        if let Err(f) = fetch(ctx, url).await {
            tally.verdict = verdict::REJECTED;
            let detail = format!("The subscription was not confirmed: {}", f.detail);
            let r = refusal(f.status, reason::FETCH_FAILED, detail);
            return refuse_and_keep(ctx, &reg, r, started, Some(&window)).await;
        }
    }
    if let Some(reply) = provider.signed_handshake(&req, &secrets, &reg.provider_config) {
        tally.verdict = verdict::HANDSHAKE;
        return Ok(handshake_answer(reply, Some(&window)));
    }
    let n = match provider.normalize(&req, &reg.provider_config) {
        Ok(n) => n,
        Err(e) => {
            tally.verdict = verdict::MALFORMED;
            let detail = format!("Unreadable {} event: {e}", reg.integration_id);
            let r = refusal(StatusCode::BAD_REQUEST, reason::MALFORMED, detail);
            return refuse_and_keep(ctx, &reg, r, started, Some(&window)).await;
        }
    };

    let mut kept = headers_object(headers);
    if let Some(q) = uri.query() {
        kept.insert(QUERY_KEY.into(), Value::String(q.into()));
    }
    let headers = Value::Object(kept).to_string();
    let accepted = match confirm {
        // A confirmed subscription is kept (the registration's events show it) but is nothing to forward.
        Some(_) => {
            let keep_only = Registration { destination_app_id: None, ..(*reg).clone() };
            accept(ctx, &keep_only, &n, headers, body.to_vec(), now).await?
        }
        None => accept(ctx, &reg, &n, headers, body.to_vec(), now).await?,
    };
    if confirm.is_some() {
        let body = json!({
            "success": true, "subscriptionConfirmed": true, "duplicate": !accepted.fresh, "eventType": n.event_type,
            "entityId": n.entity_id, "syncTriggered": false, "processingTimeMs": elapsed(started),
        });
        tally.verdict = verdict::HANDSHAKE;
        return Ok(answer(StatusCode::OK, body, Some(&window)));
    }
    if !accepted.fresh {
        let body = json!({
            "success": true, "duplicate": true, "eventType": n.event_type, "entityId": n.entity_id,
            "syncTriggered": false, "processingTimeMs": elapsed(started),
        });
        tally.verdict = verdict::DUPLICATE;
        return Ok(answer(StatusCode::OK, body, Some(&window)));
    }
    let (sync_triggered, transform_error) = (accepted.forwarded, accepted.transformation_error);
    let body = Accepted {
        success: true,
        event_type: &n.event_type,
        entity_id: &n.entity_id,
        sync_triggered,
        processing_time_ms: elapsed(started),
        transformation_error: transform_error.as_deref(),
    };
    tally.verdict = verdict::VERIFIED;
    Ok(answer(StatusCode::OK, body, Some(&window)))
}

/// Why a request did not verify: its signature (401), or a document it names could not be fetched.
enum Unverified {
    Signature(providers::VerifyError),
    Fetch(FetchFailed),
}

/// A fetch a provider asked for that failed: refused by the egress policy (403), or failed at the other end (502,
/// so that the provider retries).
struct FetchFailed {
    status: StatusCode,
    detail: String,
}

/// Verifies a request, first fetching the document it names when its provider needs one (AWS SNS's certificate,
/// from the cache when it can: kept once it verified a signature, good or bad).
async fn verify_request(
    ctx: &ApiContext,
    provider: &dyn providers::Provider,
    req: &Incoming<'_>,
    secrets: &[&str],
    cfg: &ProviderConfig,
) -> std::result::Result<(), Unverified> {
    let url = provider.document_url(req, cfg, &ctx.cfg.sns_cert_hosts).map_err(Unverified::Signature)?;
    let Some(url) = url else { return provider.verify(req, secrets, cfg).map_err(Unverified::Signature) };
    let cache = &gateway(ctx).documents;
    let (document, cached) = match cache.get(url.as_str()) {
        Some(d) => (d, true),
        None => (Arc::new(fetch(ctx, &url).await.map_err(Unverified::Fetch)?), false),
    };
    let outcome = provider.verify_with_document(req, secrets, cfg, &document);
    if !cached && matches!(outcome, Ok(()) | Err(providers::VerifyError::BadSignature)) {
        cache.insert(url.to_string(), document);
    }
    outcome.map_err(Unverified::Signature)
}

/// GETs `url` through the engine's egress-guarded client: an address the policy refuses (a literal one, or a name
/// that resolves only to refused ones) is not fetched; an answer other than 2xx fails; at most
/// [`DOCUMENT_MAX_BYTES`] are read.
async fn fetch(ctx: &ApiContext, url: &url::Url) -> std::result::Result<Vec<u8>, FetchFailed> {
    if let Err(why) = ctx.engine.egress.check_destination(url.as_str()).await {
        return Err(FetchFailed { status: StatusCode::FORBIDDEN, detail: format!("{url} was not fetched: {why}") });
    }
    let failed = |why: String| FetchFailed { status: StatusCode::BAD_GATEWAY, detail: format!("GET {url}: {why}") };
    let describe = crate::engine::dispatcher::describe;
    let mut resp =
        ctx.engine.http.get(url.clone()).timeout(FETCH_TIMEOUT).send().await.map_err(|e| failed(describe(&e)))?;
    if !resp.status().is_success() {
        return Err(failed(format!("answered {}", resp.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| failed(describe(&e)))? {
        body.extend_from_slice(&chunk);
        if body.len() > DOCUMENT_MAX_BYTES {
            return Err(failed(format!("more than {DOCUMENT_MAX_BYTES} bytes")));
        }
    }
    Ok(body)
}

/// What [`accept`] made of an event.
pub(crate) struct AcceptedEvent {
    /// False when its delivery id was seen before: nothing was written.
    pub fresh: bool,
    /// A message was published to the registration's application.
    pub forwarded: bool,
    /// Why the registration's transformation forwarded nothing (it failed); the event is kept.
    pub transformation_error: Option<String>,
}

/// The step every way in shares — a request that verified (`POST /webhooks/{id}`), a message consumed from a queue
/// (`queues`): keeps the inbound event and counts it in the registration's health, and, in the same commit, the
/// message it forwards to the registration's application when the registration asked for the event (through its
/// transformation, if it has one); a delivery id seen before writes nothing. Only once this returns `Ok` is the
/// event committed: the HTTP answer, or the broker's acknowledgement, waits for it.
pub(crate) async fn accept(
    ctx: &ApiContext,
    reg: &Registration,
    n: &Normalized,
    headers: String,
    body: Vec<u8>,
    now: Millis,
) -> Result<AcceptedEvent> {
    let key = match_key(n);
    let event_id = crate::ids::new(INBOUND_EVENT);
    let mut event = WebhookEvent {
        provider_id: &reg.integration_id,
        event_type: &n.event_type,
        entity_type: &n.entity_type,
        entity_id: &n.entity_id,
        data: None,
        timestamp: ts(now),
        registration_id: &reg.id,
        connection_id: &reg.connection_id,
        inbound_event_id: &event_id,
        delivery_id: n.delivery_id.as_deref(),
    };
    let summary = serde_json::to_string(&event).map_err(Error::internal)?;
    event.data = Some(&n.data);
    // Forward when the registration asked for this event and names a destination that still exists.
    let app = match (&reg.destination_app_id, reg.wants(n)) {
        (Some(app_id), true) => ctx.engine.app(&reg.org_id, app_id).await?,
        _ => None,
    };
    let mut transform_error = None;
    let prepared = match &app {
        Some(app) => {
            let mut payload = serde_json::value::to_raw_value(&event).map_err(Error::internal)?;
            let mut event_type = key.clone();
            let mut forward = true;
            if let Some(t) = reg.transformation.as_ref().filter(|t| t.active()) {
                let input = WebhookIn { method: "POST", url: "", event_type: &key, payload: &payload };
                match ctx.engine.transformer.apply(Some(reg.id.as_str()), t, input).await {
                    Ok(Outcome::Send { event_type: et, payload: p, .. }) => (event_type, payload) = (et, p),
                    Ok(Outcome::Cancel) => forward = false,
                    // The provider's request was good: keep the event, forward nothing, say why.
                    Err(why) => {
                        tracing::warn!(registration = %reg.id, error = %why, "inbound transformation failed");
                        transform_error = Some(why);
                        forward = false;
                    }
                }
            }
            let msg = NewMessage {
                event_type,
                event_id: None,
                channels: None,
                payload,
                deliver_at: None,
                only_endpoint: None,
                id: None,
                payload_retention: None,
            };
            match forward {
                true => Some(ctx.engine.prepare(app, msg).await?),
                false => None,
            }
        }
        None => None,
    };
    let record = InboundEventRecord {
        id: event_id,
        org_id: reg.org_id.clone(),
        registration_id: reg.id.clone(),
        delivery_id: n.delivery_id.clone(),
        received_at: now,
        match_key: key,
        forwarded_msg_id: prepared.as_ref().map(|p| p.msg.id.clone()),
        headers,
        normalized: summary,
        body,
    };
    let forward = prepared.as_ref().map(|p| (p.msg.clone(), p.deliveries.clone()));
    let accepted = ctx.store.inbound_accept(record, forward).await?;
    let forwarded = match (accepted, prepared) {
        (None, _) => return Ok(AcceptedEvent { fresh: false, forwarded: false, transformation_error: None }),
        (Some(ids), Some(prepared)) => {
            ctx.engine.start(prepared, ids);
            true
        }
        (Some(_), None) => false,
    };
    Ok(AcceptedEvent { fresh: true, forwarded, transformation_error: transform_error })
}

/// The seed's 200 answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted<'a> {
    success: bool,
    event_type: &'a str,
    entity_id: &'a str,
    sync_triggered: bool,
    /// Why the registration's transformation forwarded nothing (it failed); the event is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    transformation_error: Option<&'a str>,
    processing_time_ms: u64,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create, troubleshoot))
        .routes(routes!(list_presets))
        .routes(routes!(list))
        .routes(routes!(service_health))
        .routes(routes!(unhealthy))
        .routes(routes!(ingest, get_one, patch, delete))
        .routes(routes!(registration_health))
        .routes(routes!(rotate))
        .routes(routes!(list_events))
        .routes(routes!(list_refused))
        .routes(routes!(get_event))
        .routes(routes!(replay))
        .merge(ingest::router())
}
