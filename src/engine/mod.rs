//! The engine: every face ends here. A message is stored with one delivery per matching endpoint in a single
//! commit; fresh deliveries go straight to the dispatcher from memory (claimed at birth with a lease), and
//! everything due later — retries, scheduled messages, work a crash interrupted — comes back through the
//! scheduler's one due-time queue.
//!
//! ```text
//! publish ─► store (group commit) ─► dispatcher ─► HTTP ─► record attempt ─► done | retry (jobs) | dead letter
//!                                        ▲                                        │
//!                                        └──────────── scheduler ◄────────────────┘
//! ```

pub mod breaker;
pub mod cron;
pub mod destinations;
pub mod dispatcher;
pub mod egress;
pub mod filter;
pub mod live;
pub mod metrics;
pub mod model;
pub mod operational;
pub mod release;
pub mod retention;
pub mod retry;
pub mod routing;
pub mod scheduler;
pub mod signing;
pub mod sinks;
pub mod sources;
pub mod transform;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{now_ms, DeliveryJob, MessageRecord, Millis, NewDelivery, Page, Store};
pub use metrics::Metrics;
use model::{Application, Endpoint};

/// Deliveries waiting for a dispatch slot; beyond this, fresh deliveries are left to the scheduler.
pub const READY_CAPACITY: usize = 8192;

pub struct Engine {
    pub store: Arc<dyn Store>,
    pub cfg: Arc<Config>,
    pub egress: Arc<egress::EgressPolicy>,
    pub metrics: Metrics,
    ready: mpsc::Sender<DeliveryJob>,
    wake: scheduler::Wake,
    /// The egress-guarded HTTP client (its resolver refuses private addresses unless allowed).
    pub(crate) http: reqwest::Client,
    endpoints: moka::sync::Cache<String, Arc<Vec<Endpoint>>>,
    apps: moka::sync::Cache<(String, String), Arc<Application>>,
    /// What runs due timer jobs, by the prefix of the timer's id (`timer_…` the timers face's, `cron_…` the cron
    /// sources'): the engine knows a timer only as a job with a payload, and which face made it by its id.
    timers: std::sync::RwLock<Vec<(&'static str, Arc<dyn scheduler::TimerHandler>)>>,
    responses: std::sync::OnceLock<Arc<dyn ResponseHandler>>,
    /// The engine itself, for work it starts in the background (operational webhooks).
    me: std::sync::Weak<Engine>,
    breakers: breaker::Breakers,
    /// The release controllers of the circuits that closed on this node.
    releases: release::Releases,
    /// Attempts as they are recorded, for the dashboard's live tail.
    live: live::LiveAttempts,
    /// Runs endpoints' (and registrations') transformations off the reactor.
    pub transformer: transform::Transformer,
    /// Which failed attempts are logged (rate-limited per endpoint).
    failure_log: dispatcher::FailureLog,
    /// The destinations this node works on, and what wakes their loop.
    pub destinations: destinations::Destinations,
}

/// A routed message, not yet stored: see [`Engine::prepare`].
pub struct Prepared<'a> {
    pub msg: Arc<MessageRecord>,
    pub deliveries: Vec<NewDelivery>,
    run_at: Millis,
    permits: Option<mpsc::PermitIterator<'a, DeliveryJob>>,
    /// When routing began: publish latency runs from here to [`Engine::start`].
    started: Instant,
    /// The publish's span (traces), ended by [`Engine::start`].
    span: crate::telemetry::Traced,
}

/// What a face asks to publish.
pub struct NewMessage {
    pub event_type: String,
    pub event_id: Option<String>,
    pub channels: Option<Vec<String>>,
    pub payload: Box<RawValue>,
    /// Deliver at this time instead of now.
    pub deliver_at: Option<Millis>,
    /// Send to this endpoint only, whatever its filters (send-example).
    pub only_endpoint: Option<String>,
    /// The message id, for a face that puts it in the payload too; a fresh one otherwise.
    pub id: Option<String>,
    /// How long the payload is kept (`payloadRetentionPeriod`); `HOOKD_PAYLOAD_RETENTION` otherwise.
    pub payload_retention: Option<Duration>,
}

/// An endpoint with this metadata key (any value) has the bodies of its 2xx answers handed to the
/// [`ResponseHandler`] (bots answer outgoing webhooks with messages to post).
pub const ON_RESPONSE: &str = "hookd.onResponse";

/// An application with this metadata key has its messages whose payload is a JSON string sent as that string's
/// bytes with this `Content-Type` (an ingest cron source's `contentType`): the stored payload stays JSON.
pub const CONTENT_TYPE: &str = "hookd.contentType";

/// Acts on what an endpoint answered to a delivery.
pub trait ResponseHandler: Send + Sync {
    fn answered(&self, msg: &Arc<MessageRecord>, endpoint: &Endpoint, body: &str);
}

impl Engine {
    /// Builds the engine; the caller runs [`Engine::run_dispatcher`] with the receiver and [`Engine::run_scheduler`].
    pub fn new(store: Arc<dyn Store>, cfg: Arc<Config>) -> anyhow::Result<(Arc<Self>, mpsc::Receiver<DeliveryJob>)> {
        let egress = Arc::new(egress::EgressPolicy {
            allow_private: cfg.allow_private_networks,
            allowed: cfg.allowed_cidrs.clone(),
        });
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(egress::GuardedResolver { policy: egress.clone() }))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(256)
            .user_agent(concat!("hookd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let (ready, rx) = mpsc::channel(READY_CAPACITY);
        let ttl = Duration::from_secs(5);
        let engine = Arc::new_cyclic(|me| Engine {
            me: me.clone(),
            store,
            egress,
            metrics: Metrics::default(),
            ready,
            wake: scheduler::Wake::default(),
            http,
            endpoints: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(ttl).build(),
            apps: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(ttl).build(),
            timers: Default::default(),
            responses: std::sync::OnceLock::new(),
            breakers: breaker::Breakers::default(),
            releases: release::Releases::default(),
            live: live::LiveAttempts::default(),
            transformer: transform::Transformer::default(),
            failure_log: dispatcher::FailureLog::default(),
            destinations: destinations::Destinations::default(),
            cfg,
        });
        Ok((engine, rx))
    }

    /// An application by id or uid, cached for a few seconds (every publish looks one up).
    pub async fn app(&self, org_id: &str, key: &str) -> Result<Option<Arc<Application>>> {
        let cache_key = (org_id.to_string(), key.to_string());
        if let Some(app) = self.apps.get(&cache_key) {
            return Ok(Some(app));
        }
        let app = self.store.get::<Application>(org_id, "", key).await?.map(Arc::new);
        if let Some(app) = &app {
            self.apps.insert(cache_key, app.clone());
        }
        Ok(app)
    }

    /// Every endpoint of an application, cached for a few seconds so that nodes sharing a database converge.
    pub async fn endpoints_of(&self, org_id: &str, app_id: &str) -> Result<Arc<Vec<Endpoint>>> {
        if let Some(eps) = self.endpoints.get(app_id) {
            return Ok(eps);
        }
        let page = Page { limit: 1_000_000, iterator: None, reverse: false, descending: false };
        let eps = Arc::new(self.store.list::<Endpoint>(org_id, app_id, &page).await?);
        self.endpoints.insert(app_id.to_string(), eps.clone());
        Ok(eps)
    }

    /// How long a delivery to `ep` must wait for its endpoint's and its application's throttle rates, if at all.
    /// The store counts them, so that they hold for every node sharing it.
    pub async fn throttle_wait(&self, ep: &Endpoint) -> Option<Duration> {
        let app_rate = match self.app(&ep.org_id, &ep.app_id).await {
            Ok(Some(app)) => app.throttle_rate,
            _ => None,
        };
        let mut wait = None;
        for (key, rate) in [(&ep.id, ep.throttle_rate), (&ep.app_id, app_rate)] {
            let Some(rate) = rate.and_then(|r| std::num::NonZeroU32::new(r as u32)) else { continue };
            match self.store.throttle(key, rate, now_ms()).await {
                Ok(w) => wait = wait.max(w),
                // Better a delivery sent a little fast than one held back for good.
                Err(e) => tracing::warn!(error = ?e, "counting a throttle"),
            }
        }
        wait.map(|ms| Duration::from_millis(ms as u64))
    }

    /// Call after any change to an application or its endpoints.
    pub fn invalidate(&self, app_id: &str) {
        self.endpoints.invalidate(app_id);
        self.apps.invalidate_all();
    }

    /// Drops every cached application and endpoint.
    pub fn invalidate_all(&self) {
        self.endpoints.invalidate_all();
        self.apps.invalidate_all();
    }

    /// Stores a message with its deliveries and starts them. Answers once both are committed.
    pub async fn publish(&self, app: &Application, input: NewMessage) -> Result<Arc<MessageRecord>> {
        let prepared = self.prepare(app, input).await?;
        let ids = self.store.publish(prepared.msg.clone(), prepared.deliveries.clone()).await?;
        Ok(self.start(prepared, ids))
    }

    /// Routes a message to its endpoints and reserves dispatch slots, without storing anything: the caller
    /// commits `msg` and `deliveries` (possibly with writes of its own) and then calls [`Engine::start`].
    pub async fn prepare(&self, app: &Application, input: NewMessage) -> Result<Prepared<'_>> {
        let started = Instant::now();
        let endpoints = self.endpoints_of(&app.org_id, &app.id).await?;
        let targets: Vec<String> = match &input.only_endpoint {
            Some(id) => endpoints.iter().filter(|e| &e.id == id && !e.disabled).map(|e| e.id.clone()).collect(),
            None => routing::targets(&endpoints, &input.event_type, input.channels.as_deref(), input.payload.get())
                .into_iter()
                .map(|e| e.id.clone())
                .collect(),
        };
        let now = now_ms();
        let run_at = input.deliver_at.unwrap_or(now).max(now);
        // Reserve dispatch slots first, so that what we claim at birth is certain to be sent from memory.
        let permits =
            if run_at <= now && !targets.is_empty() { self.ready.try_reserve_many(targets.len()).ok() } else { None };
        let leased_until = if permits.is_some() { now + self.cfg.lease.as_millis() as i64 } else { 0 };
        let deliveries =
            targets.iter().map(|id| NewDelivery { endpoint_id: id.clone(), run_at, leased_until }).collect();
        let id = input.id.unwrap_or_else(|| crate::ids::new(crate::ids::MSG));
        let span = crate::telemetry::publish_span(&id, &app.id, &input.event_type, targets.len());
        let msg = Arc::new(MessageRecord {
            traceparent: span.traceparent(),
            id,
            org_id: app.org_id.clone(),
            app_id: app.id.clone(),
            event_type: input.event_type,
            event_id: input.event_id,
            channels: input.channels,
            payload: Some(Arc::from(input.payload.get())),
            created_at: now,
            payload_expires_at: now
                + input.payload_retention.unwrap_or(self.cfg.payload_retention).as_millis().min(i64::MAX as u128)
                    as i64,
        });
        Ok(Prepared { msg, deliveries, run_at, permits, started, span })
    }

    /// Starts the deliveries of a committed message; `ids` are the (delivery, job) ids the store gave them.
    pub fn start(&self, prepared: Prepared<'_>, ids: Vec<(i64, i64)>) -> Arc<MessageRecord> {
        let Prepared { msg, deliveries, run_at, permits, started, span } = prepared;
        drop(span); // the publish ends with its commit
        self.metrics.messages_published.inc();
        self.destinations.published(&msg.app_id);
        self.metrics.publish_seconds.observe(started.elapsed().as_secs_f64());
        match permits {
            Some(permits) => {
                for (permit, (d, (delivery_id, job_id))) in permits.zip(deliveries.into_iter().zip(ids)) {
                    permit.send(DeliveryJob {
                        job_id,
                        delivery_id,
                        endpoint_id: d.endpoint_id,
                        attempts: 0,
                        manual: false,
                        msg: msg.clone(),
                        due_at: run_at,
                    });
                }
            }
            None if !deliveries.is_empty() => self.wake.hint(run_at),
            None => {}
        }
        msg
    }

    /// Registers what runs the due timers whose id starts with `prefix` (at start, once per prefix).
    pub fn set_timer_handler(&self, prefix: &'static str, handler: Arc<dyn scheduler::TimerHandler>) {
        let mut handlers = self.timers.write().unwrap_or_else(|e| e.into_inner());
        handlers.retain(|(p, _)| *p != prefix);
        handlers.push((prefix, handler));
    }

    /// The handler of a due timer, by its id's prefix.
    fn timer_handler(&self, timer_id: &str) -> Option<Arc<dyn scheduler::TimerHandler>> {
        let handlers = self.timers.read().unwrap_or_else(|e| e.into_inner());
        handlers.iter().find(|(p, _)| timer_id.starts_with(p)).map(|(_, h)| h.clone())
    }

    /// Registers what acts on endpoints' answers (once, at start).
    pub fn set_response_handler(&self, handler: Arc<dyn ResponseHandler>) {
        let _ = self.responses.set(handler);
    }

    /// Deliveries waiting for a dispatch slot (of [`READY_CAPACITY`]): background replays wait while it is high.
    pub fn dispatch_backlog(&self) -> usize {
        READY_CAPACITY - self.ready.capacity()
    }

    /// Tells the scheduler that work became due at `at` (after a requeue).
    pub fn work_due(&self, at: Millis) {
        self.wake.hint(at);
    }

    /// Disables an endpoint (410 Gone, or failing for too long).
    pub async fn disable_endpoint(&self, org_id: &str, app_id: &str, endpoint_id: &str, why: &str) -> Result<()> {
        self.disable_endpoint_failing_since(org_id, app_id, endpoint_id, why, now_ms()).await
    }

    /// Disables an endpoint failing since `fail_since`, and says so in an `endpoint.disabled` operational event.
    pub async fn disable_endpoint_failing_since(
        &self,
        org_id: &str,
        app_id: &str,
        endpoint_id: &str,
        why: &str,
        fail_since: Millis,
    ) -> Result<()> {
        if let Some(mut ep) = self.store.get::<Endpoint>(org_id, app_id, endpoint_id).await? {
            if !ep.disabled {
                ep.disabled = true;
                ep.updated_at = now_ms();
                self.store.update(&ep).await?;
                self.metrics.endpoints_disabled.inc();
                tracing::warn!(endpoint = %endpoint_id, reason = why, "endpoint disabled");
                let app_uid = self.app(org_id, app_id).await.ok().flatten().and_then(|a| a.uid.clone());
                self.emit_endpoint_disabled(app_uid.as_deref(), &ep, fail_since, operational::Trigger::Automatic);
            }
        }
        self.invalidate(app_id);
        Ok(())
    }
}

impl From<mpsc::error::TrySendError<()>> for Error {
    fn from(_: mpsc::error::TrySendError<()>) -> Self {
        Error::internal(anyhow::anyhow!("dispatch queue closed"))
    }
}
