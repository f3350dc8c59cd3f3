//! Queue sources: registrations (`rabbitMq`, `sqs`, `nats`, `redis`, `mqtt`) whose events come from a broker rather than an HTTP request.
//! Each message consumed becomes an inbound event of its registration through the gateway's one [`accept`] step
//! (stored, counted in the registration's health, forwarded to its application in the same commit), and only
//! then is it acknowledged to the broker: at least once. The broker's message id is the event's delivery id, so a
//! message redelivered after its commit (a lost acknowledgement) is recognised and not forwarded twice.
//!
//! One node at a time consumes each source: a lease in the store (`queue_sources`), claimed and renewed by each
//! node's loop ([`run`]), as destinations hold theirs. The loop starts a consumer for each source it holds, restarts
//! one whose registration changed (the lease row carries its `updated_at`), and stops one it no longer holds
//! (deleted, inactive, or taken by another node after this one lost its lease). A consumer whose connection breaks
//! connects again after a backoff; the broker gives back whatever was not acknowledged.
//!
//! The wire of each broker is in [`crate::engine::sources`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::providers::Normalized;
use super::{accept, Registration, Status};
use crate::api::ApiContext;
use crate::engine::metrics::verdict;
use crate::engine::sources::{self, Handler, SourceConfig, SourceError, SourceMessage, SourceStatus};
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;
use crate::store::{now_ms, Millis};

pub use crate::engine::sources::{describe, is_queue, KINDS};

/// How long a node's hold on a queue source lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(15);
/// The loop's fallback tick: leases renewed, changes made on other nodes seen.
pub const TICK: Duration = Duration::from_secs(1);
/// The first pause before connecting again after a break, doubled at each failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A connection that lasted this long starts the backoff afresh when it breaks.
const HEALTHY_FOR: Duration = Duration::from_secs(10);

/// The consumers this node runs, registered in the server's parts.
#[derive(Default)]
pub struct QueueSources {
    notify: Notify,
    running: Mutex<HashMap<String, Running>>,
}

struct Running {
    version: Millis,
    stop: Shutdown,
    status: Arc<SourceStatus>,
}

fn state(ctx: &ApiContext) -> &QueueSources {
    ctx.parts.get()
}

/// Checks a registration's `config` for its kind: required (and checked field by field) for a queue source, refused
/// for a provider (whose settings are `providerConfig`). Answers the config as stored.
pub(crate) fn check_config(kind: &str, config: Option<&Value>) -> Result<Option<String>> {
    match (is_queue(kind), config) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(Error::invalid(
            &["body", "config"],
            format!(
                "only queue sources ({}) take a config; a provider's settings are providerConfig",
                KINDS.join(", ")
            ),
        )),
        (true, None) => Err(Error::invalid(&["body", "config"], format!("required by {kind}"))),
        (true, Some(c)) => {
            sources::parse(kind, c).map_err(|e| {
                let loc: Vec<&str> = ["body", "config"].into_iter().chain(e.field.iter().map(String::as_str)).collect();
                Error::invalid(&loc, e.message)
            })?;
            Ok(Some(c.to_string()))
        }
    }
}

fn parsed(reg: &Registration) -> Option<SourceConfig> {
    let raw = reg.source.as_deref()?;
    sources::parse(&reg.integration_id, &serde_json::from_str(raw).ok()?).ok()
}

/// A queue source's config as the API shows it (credentials masked).
pub(crate) fn config_out(reg: &Registration) -> Option<Value> {
    parsed(reg).map(|c| c.redacted())
}

/// A queue source's consumer as this node sees it.
pub(crate) fn consumer_out(ctx: &ApiContext, reg: &Registration) -> Option<Value> {
    if !is_queue(&reg.integration_id) {
        return None;
    }
    let running = state(ctx).running.lock().unwrap();
    Some(match running.get(&reg.id) {
        Some(r) => json!({
            "running": true,
            "connected": r.status.connected.load(Ordering::Relaxed),
            "consumed": r.status.consumed.load(Ordering::Relaxed),
            "returned": r.status.returned.load(Ordering::Relaxed),
            "lastError": r.status.error(),
        }),
        None => json!({ "running": false }),
    })
}

/// A registration was made or changed: its lease row follows (active unless inactive; the new version restarts
/// its consumer), and this node's loop looks at once.
pub(crate) async fn changed(ctx: &ApiContext, reg: &Registration) -> Result<()> {
    if !is_queue(&reg.integration_id) {
        return Ok(());
    }
    ctx.store.queue_source_set(&reg.id, &reg.org_id, reg.status != Status::Inactive, reg.updated_at).await?;
    state(ctx).notify.notify_one();
    Ok(())
}

/// A registration is being deleted: its consumer stops (here at once, on another node at its next tick).
pub(crate) async fn deleted(ctx: &ApiContext, reg: &Registration) -> Result<()> {
    if !is_queue(&reg.integration_id) {
        return Ok(());
    }
    ctx.store.queue_source_delete(&reg.id).await?;
    if let Some(r) = state(ctx).running.lock().unwrap().remove(&reg.id) {
        r.stop.trigger();
    }
    state(ctx).notify.notify_one();
    Ok(())
}

/// A message's body as an event's data: its JSON, or its text as a string.
pub(crate) fn body_data(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// This node's loop: claims and renews the leases of queue sources, and runs a consumer for each one it holds.
/// Ends at shutdown, stopping its consumers and giving their leases back.
pub async fn run(ctx: ApiContext, shutdown: Shutdown) {
    let node = ctx.engine.destinations.node().to_string();
    if ctx.store.dialect() == crate::store::db::Dialect::Sqlite {
        // One process serves an embedded store: what a killed predecessor held is free.
        if let Err(e) = ctx.store.queue_sources_release(None).await {
            tracing::warn!(error = ?e, "freeing queue sources' leases");
        }
    }
    while !shutdown.is_set() {
        let now = now_ms();
        let lease = LEASE.as_millis() as i64;
        match ctx.store.queue_sources_claim(&node, now, now + lease / 2, now + lease).await {
            Ok(held) => reconcile(&ctx, held).await,
            Err(e) => tracing::warn!(error = ?e, "claiming queue sources"),
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = state(&ctx).notify.notified() => {}
            _ = shutdown.wait() => {}
        }
    }
    for (_, r) in state(&ctx).running.lock().unwrap().drain() {
        r.stop.trigger();
    }
    if let Err(e) = ctx.store.queue_sources_release(Some(&node)).await {
        tracing::warn!(error = ?e, "giving queue sources' leases back");
    }
}

/// Stops the consumers of sources no longer held here or changed since they started; starts the missing ones.
async fn reconcile(ctx: &ApiContext, held: Vec<crate::store::QueueSourceLease>) {
    let wanted: HashMap<&str, &crate::store::QueueSourceLease> =
        held.iter().map(|h| (h.registration_id.as_str(), h)).collect();
    let missing: Vec<&crate::store::QueueSourceLease> = {
        let mut running = state(ctx).running.lock().unwrap();
        running.retain(|id, r| {
            let keep = wanted.get(id.as_str()).is_some_and(|h| h.version == r.version);
            if !keep {
                r.stop.trigger();
            }
            keep
        });
        held.iter().filter(|h| !running.contains_key(&h.registration_id)).collect()
    };
    for h in missing {
        let reg = match ctx.store.get::<Registration>(&h.org_id, "", &h.registration_id).await {
            Ok(Some(reg)) => Arc::new(reg),
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(registration = %h.registration_id, error = ?e, "loading a queue source");
                continue;
            }
        };
        let status = Arc::new(SourceStatus::default());
        let Some(cfg) = parsed(&reg) else {
            status.set_error(Some("the stored config does not parse".into()));
            continue;
        };
        let stop = Shutdown::default();
        state(ctx)
            .running
            .lock()
            .unwrap()
            .insert(reg.id.clone(), Running { version: h.version, stop: stop.clone(), status: status.clone() });
        tokio::spawn(supervise(ctx.clone(), reg, cfg, status, stop));
    }
}

/// Keeps one source consuming until told to stop: connects, consumes, and after a break waits (a backoff) and
/// connects again.
async fn supervise(
    ctx: ApiContext,
    reg: Arc<Registration>,
    cfg: SourceConfig,
    status: Arc<SourceStatus>,
    stop: Shutdown,
) {
    let provider: &'static str = KINDS.iter().copied().find(|k| *k == reg.integration_id).unwrap_or("queue");
    let handler: Arc<dyn Handler> =
        Arc::new(Accepting { ctx: ctx.clone(), reg: reg.clone(), cfg: cfg.clone(), provider });
    let mut backoff = MIN_BACKOFF;
    while !stop.is_set() {
        let started = Instant::now();
        let result = match egress(&ctx, &cfg).await {
            Ok(()) => sources::consume(&cfg, &ctx.engine.http, handler.clone(), status.clone(), stop.clone()).await,
            Err(e) => Err(e),
        };
        let Err(e) = result else { break };
        if started.elapsed() >= HEALTHY_FOR {
            backoff = MIN_BACKOFF;
        }
        tracing::warn!(registration = %reg.id, error = %e, retry_in_ms = backoff.as_millis() as u64,
            "queue source: consuming stopped; connecting again");
        status.set_error(Some(e.0));
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait() => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The broker's hosts, checked against the egress policy as a sink's are.
async fn egress(ctx: &ApiContext, cfg: &SourceConfig) -> std::result::Result<(), SourceError> {
    for host in cfg.hosts() {
        ctx.engine.check_host(&host).await.map_err(SourceError)?;
    }
    Ok(())
}

/// Turns each message into an inbound event of the registration.
struct Accepting {
    ctx: ApiContext,
    reg: Arc<Registration>,
    cfg: SourceConfig,
    provider: &'static str,
}

#[async_trait]
impl Handler for Accepting {
    async fn handle(&self, msg: SourceMessage) -> bool {
        let data = body_data(&msg.body);
        let event_type = self.cfg.event_type(&msg, &data);
        let n = Normalized {
            native_type: Some(event_type.clone()),
            event_type,
            entity_type: "message".into(),
            entity_id: msg.id.clone().unwrap_or_default(),
            data,
            delivery_id: msg.id,
        };
        let headers = Value::Object(msg.headers).to_string();
        match accept(&self.ctx, &self.reg, &n, headers, msg.body, now_ms()).await {
            Ok(a) => {
                let v = if a.fresh { verdict::VERIFIED } else { verdict::DUPLICATE };
                self.ctx.engine.metrics.inbound(self.provider, v);
                true
            }
            Err(e) => {
                tracing::warn!(registration = %self.reg.id, error = ?e, "queue source: a message was not committed; \
                    it goes back to the broker");
                self.ctx.engine.metrics.inbound(self.provider, verdict::ERROR);
                false
            }
        }
    }
}

impl QueueSources {
    /// Whether this node runs a consumer for the registration.
    pub fn runs(&self, registration_id: &str) -> bool {
        self.running.lock().unwrap().contains_key(registration_id)
    }
}
