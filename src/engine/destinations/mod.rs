//! Destinations: ordered consumers of an application's messages (Svix's "advanced endpoint types").
//!
//! An application's messages in commit order are a log (`store::destinations`); each destination is a cursor
//! over it. A destination's worker reads the next batch after its cursor (up to `batchSize` of the messages it
//! takes, waiting up to `maxWaitSecs` for a batch to fill), hands it over — an HTTP POST for a `fifoEndpoint`, a
//! broker, database or queue for the [`super::sinks`] kinds — and moves the cursor only once the batch was taken.
//! A failed batch holds the cursor and is tried again on the retry schedule (`retrying`); a destination whose
//! schedule is used up is disabled, as endpoints are, with an `endpoint.disabled` operational webhook. The next
//! batch never leaves before the previous one was taken, so order is kept; a batch may arrive twice (a crash
//! after sending, before recording): every event carries its message id.
//!
//! One node at a time holds a destination: a lease in the store, renewed halfway through by the node's one loop
//! ([`Engine::run_destinations`], which wakes every [`TICK`]) and fenced (a node that lost it cannot move the cursor). A node killed with its
//! leases is replaced after [`LEASE`]. Publishing on this node wakes the loop at once for applications with
//! destinations held here; messages published by other nodes are seen by a sweep every [`SWEEP`].
//!
//! A `pollingEndpoint` has no worker: its consumers read the log themselves (`outbound::poller`).

mod fifo;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::filter::{Filter, Subject};
use super::model::Metadata;
use super::sinks::{self, ConfigError, Sink, SinkConfig};
use super::Engine;
use crate::shutdown::Shutdown;
use crate::store::destinations::{DestinationAttempt, DestinationState, Failed, LogEntry};
use crate::store::{impl_doc, now_ms, status, Doc, DocKind, Millis};

pub const FIFO: &str = "fifoEndpoint";
pub const POLLING: &str = "pollingEndpoint";

/// How long a node's hold on a destination lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(15);
/// The loop's fallback tick: leases renewed, retries and waits that fell due run.
pub const TICK: Duration = Duration::from_secs(1);
/// Every destination held is read at least this often (messages published on other nodes).
pub const SWEEP: Duration = Duration::from_secs(3);
/// Messages read past the cursor at once, looking for a batch of those the destination takes: twice the batch,
/// within these bounds.
const SCAN: (usize, usize) = (100, 1000);

/// A destination as stored (a document; its cursor and failures are in `destination_state`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Destination {
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    pub uid: Option<String>,
    /// `fifoEndpoint`, `pollingEndpoint` or a sink's kind.
    pub kind: String,
    /// The config's JSON text, checked; sealed at rest as one string (`store::sealed`).
    pub config: String,
    pub enabled: bool,
    pub batch_size: u16,
    pub max_wait_secs: u16,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub metadata: Metadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Runs per batch: `{events: [{payload, eventType}]}` → `{requestBody}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation: Option<String>,
    /// A polling endpoint's token (`pollsk_…`), which reads this destination only; sealed at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poller_token: Option<PollerToken>,
    /// The token it replaced, until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_poller_token: Option<PollerToken>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl_doc!(Destination, DocKind::Destination, parent: app_id, id: id, uid: uid);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PollerToken {
    pub token: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

impl PollerToken {
    /// Every poller token starts with this.
    pub const PREFIX: &'static str = "pollsk_";

    pub fn new(now: Millis, expires_at: Option<Millis>) -> PollerToken {
        PollerToken { token: format!("{}{}", Self::PREFIX, crate::ids::random_token(40)), created_at: now, expires_at }
    }

    /// Whether `token` is this one, still live at `now` (compared in constant time).
    pub fn admits(&self, token: &str, now: Millis) -> bool {
        use subtle::ConstantTimeEq;
        self.expires_at.is_none_or(|t| t > now) && bool::from(self.token.as_bytes().ct_eq(token.as_bytes()))
    }
}

impl Destination {
    /// Whether the engine pushes to it (a polling endpoint is read by its consumers).
    pub fn pushed(&self) -> bool {
        self.enabled && self.kind != POLLING
    }

    /// Whether it takes the message: its event types (with `*` wildcards), channels and payload filter.
    pub fn takes(&self, event_type: &str, channels: Option<&[String]>, payload: Option<&str>) -> bool {
        if let Some(types) = self.event_types.as_ref().filter(|t| !t.is_empty()) {
            if !types.iter().any(|t| super::routing::type_matches(t, event_type)) {
                return false;
            }
        }
        if let Some(wanted) = self.channels.as_ref().filter(|c| !c.is_empty()) {
            if !channels.unwrap_or_default().iter().any(|c| wanted.contains(c)) {
                return false;
            }
        }
        match &self.filter {
            None => true,
            Some(f) => {
                let parsed = if f.reads_payload() { payload.and_then(|p| serde_json::from_str(p).ok()) } else { None };
                f.matches(&Subject { event_type, channels, payload: parsed.as_ref() })
            }
        }
    }
}

/// A `fifoEndpoint`'s config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FifoConfig {
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The Standard Webhooks signing secret (`whsec_…`).
    pub key: String,
}

/// What a destination hands its batches to.
#[derive(Debug, Clone)]
pub enum Target {
    Fifo(FifoConfig),
    Polling,
    /// Boxed: a sink's config is several times the size of the others.
    Sink(Box<SinkConfig>),
}

/// Headers whose values are never shown (as the endpoints' API does).
const SENSITIVE: &[&str] = &["authorization", "proxy-authorization", "cookie", "x-api-key"];

fn config_err(field: &[&str], message: impl Into<String>) -> ConfigError {
    ConfigError { field: field.iter().map(|s| s.to_string()).collect(), message: message.into() }
}

/// Checks a `config` of `kind` as given by a user; a FIFO endpoint without a key gets a fresh one.
pub fn parse_config(kind: &str, config: &Value, egress: &super::egress::EgressPolicy) -> Result<Target, ConfigError> {
    match kind {
        FIFO => {
            let Some(obj) = config.as_object() else { return Err(config_err(&[], "expected an object")) };
            let url = match obj.get("url") {
                Some(Value::String(u)) => u.clone(),
                Some(_) => return Err(config_err(&["url"], "expected a string")),
                None => return Err(config_err(&["url"], "field required")),
            };
            egress.check_url(&url).map_err(|e| config_err(&["url"], e))?;
            let mut headers = BTreeMap::new();
            match obj.get("headers") {
                None | Some(Value::Null) => {}
                Some(Value::Object(h)) => {
                    for (k, v) in h {
                        let Value::String(v) = v else { return Err(config_err(&["headers", k], "expected a string")) };
                        if reqwest::header::HeaderName::try_from(k.as_str()).is_err() {
                            return Err(config_err(&["headers", k], "not a valid header name"));
                        }
                        if reqwest::header::HeaderValue::try_from(v.as_str()).is_err() {
                            return Err(config_err(&["headers", k], "not a valid header value"));
                        }
                        headers.insert(k.clone(), v.clone());
                    }
                }
                Some(_) => return Err(config_err(&["headers"], "expected an object of strings")),
            }
            let key = match obj.get("key") {
                None | Some(Value::Null) => super::signing::new_secret(),
                Some(Value::String(k)) => {
                    let k = if k.starts_with("whsec_") { k.clone() } else { format!("whsec_{k}") };
                    match super::signing::standard_key(&k) {
                        Some(bytes) if (24..=64).contains(&bytes.len()) => k,
                        _ => return Err(config_err(&["key"], "expected whsec_ and 24 to 64 bytes of base64")),
                    }
                }
                Some(_) => return Err(config_err(&["key"], "expected a string")),
            };
            Ok(Target::Fifo(FifoConfig { url, headers, key }))
        }
        POLLING => match config {
            Value::Null => Ok(Target::Polling),
            Value::Object(o) if o.is_empty() => Ok(Target::Polling),
            Value::Object(o) => {
                let field = o.keys().next().cloned().unwrap_or_default();
                Err(config_err(&[&field], "a polling endpoint takes no config"))
            }
            _ => Err(config_err(&[], "expected an object")),
        },
        _ => sinks::parse(kind, config).map(|c| Target::Sink(Box::new(c))),
    }
}

impl Target {
    /// The config to store (a FIFO endpoint's generated key included).
    pub fn stored(&self, given: &Value) -> Value {
        match self {
            Target::Fifo(c) => serde_json::to_value(c).unwrap_or(Value::Null),
            Target::Polling => json!({}),
            Target::Sink(_) => given.clone(),
        }
    }

    /// The config as the API shows it: no secret whole.
    pub fn redacted(&self) -> Value {
        match self {
            Target::Fifo(c) => {
                let (sensitive, shown): (Vec<_>, Vec<_>) =
                    c.headers.iter().partition(|(k, _)| SENSITIVE.contains(&k.to_ascii_lowercase().as_str()));
                json!({
                    "url": c.url,
                    "headers": {
                        "headers": shown.into_iter().collect::<BTreeMap<_, _>>(),
                        "sensitive": sensitive.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
                    },
                    "key": mask(&c.key),
                })
            }
            Target::Polling => json!({}),
            Target::Sink(s) => s.redacted(),
        }
    }
}

/// `whsec_ab…`: enough to tell two keys apart, not to sign.
fn mask(key: &str) -> String {
    let shown: String = key.chars().take(8).collect();
    format!("{shown}…")
}

impl Destination {
    /// Its stored config, parsed again (stored configs were checked when saved).
    pub fn target(&self) -> Result<Target, String> {
        let v: Value = serde_json::from_str(&self.config).map_err(|e| e.to_string())?;
        match self.kind.as_str() {
            FIFO => serde_json::from_value(v).map(Target::Fifo).map_err(|e| e.to_string()),
            POLLING => Ok(Target::Polling),
            kind => sinks::parse(kind, &v).map(|c| Target::Sink(Box::new(c))).map_err(|e| e.message),
        }
    }
}

/// A sink's client and the config it was opened with.
type OpenSink = (String, Arc<dyn Sink>);

/// The node's part of the destinations: who it is, what woke it, which destinations it is working on.
pub struct Destinations {
    node: String,
    notify: Notify,
    /// Applications with destinations held here: a publish to one of them wakes the loop.
    apps: std::sync::RwLock<HashSet<String>>,
    /// Applications published to since the loop last looked.
    hinted: Mutex<HashSet<String>>,
    /// Destinations whose worker runs, each with its "look again" flag.
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// Destinations waiting for a batch to fill, until when.
    waits: Mutex<HashMap<String, Millis>>,
    /// Sinks' clients, kept while their config is unchanged.
    sinks: tokio::sync::Mutex<HashMap<String, OpenSink>>,
}

impl Default for Destinations {
    fn default() -> Self {
        Destinations {
            node: format!("node_{}", crate::ids::random_token(12)),
            notify: Notify::new(),
            apps: Default::default(),
            hinted: Default::default(),
            running: Default::default(),
            waits: Default::default(),
            sinks: Default::default(),
        }
    }
}

impl Destinations {
    /// A message of `app_id` was committed on this node.
    pub fn published(&self, app_id: &str) {
        if self.apps.read().unwrap().contains(app_id) {
            self.hinted.lock().unwrap().insert(app_id.to_string());
            self.notify.notify_one();
        }
    }

    /// Something changed for a destination (created, enabled, skipped, force-retried): look at once.
    pub fn poke(&self, app_id: &str) {
        self.apps.write().unwrap().insert(app_id.to_string());
        self.hinted.lock().unwrap().insert(app_id.to_string());
        self.notify.notify_one();
    }

    /// The id this node's leases carry.
    pub fn node(&self) -> &str {
        &self.node
    }
}

/// What one step of a destination's worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A batch was taken (this many events), or messages the destination does not take were passed.
    Sent(usize),
    /// Nothing after the cursor.
    Idle,
    /// A batch is filling until this time (`maxWaitSecs`).
    Filling(Millis),
    /// The batch failed; the destination waits for its retry (or was disabled).
    Failed(String),
    /// Waiting for a retry at this time.
    Retrying(Millis),
    /// Not this node's (lease lost, disabled, deleted).
    NotHeld,
}

impl Engine {
    /// The destinations' loop of this node: claims and renews leases, and starts the workers of the destinations
    /// with something to do. Ends at shutdown, giving its leases back.
    pub async fn run_destinations(self: Arc<Self>, shutdown: Shutdown) {
        let d = &self.destinations;
        if self.store.dialect() == crate::store::db::Dialect::Sqlite {
            // One process serves an embedded store: what a killed predecessor held is free.
            if let Err(e) = self.store.destinations_release(None).await {
                tracing::warn!(error = ?e, "freeing destinations' leases");
            }
        }
        let mut last_sweep = 0;
        while !shutdown.is_set() {
            let now = now_ms();
            let lease = LEASE.as_millis() as i64;
            match self.store.destinations_claim(&d.node, now, now + lease / 2, now + lease).await {
                Ok(held) => {
                    let sweep = now - last_sweep >= SWEEP.as_millis() as i64;
                    if sweep {
                        last_sweep = now;
                    }
                    *d.apps.write().unwrap() = held.iter().map(|s| s.app_id.clone()).collect();
                    let hinted = std::mem::take(&mut *d.hinted.lock().unwrap());
                    let waits = d.waits.lock().unwrap().clone();
                    for st in held {
                        let due = match st.next_retry_at {
                            Some(at) => at <= now,
                            None => {
                                sweep || hinted.contains(&st.app_id) || waits.get(&st.id).is_some_and(|at| *at <= now)
                            }
                        };
                        if due {
                            self.clone().start_worker(st.id);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = ?e, "claiming destinations"),
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = d.notify.notified() => {}
                _ = shutdown.wait() => {}
            }
        }
        if let Err(e) = self.store.destinations_release(Some(&d.node)).await {
            tracing::warn!(error = ?e, "giving destinations' leases back");
        }
    }

    /// Runs the destination's worker unless it runs already (then it looks again before it stops).
    fn start_worker(self: Arc<Self>, id: String) {
        let flag = {
            let mut running = self.destinations.running.lock().unwrap();
            if let Some(again) = running.get(&id) {
                again.store(true, Ordering::Release);
                return;
            }
            let flag = Arc::new(AtomicBool::new(false));
            running.insert(id.clone(), flag.clone());
            flag
        };
        tokio::spawn(async move {
            loop {
                flag.store(false, Ordering::Release);
                let step = self.destination_step(&id).await;
                {
                    let mut waits = self.destinations.waits.lock().unwrap();
                    match step {
                        Step::Filling(at) => waits.insert(id.clone(), at),
                        _ => waits.remove(&id),
                    };
                }
                if matches!(step, Step::Sent(_)) {
                    continue;
                }
                let mut running = self.destinations.running.lock().unwrap();
                if !flag.load(Ordering::Acquire) || matches!(step, Step::NotHeld | Step::Failed(_)) {
                    running.remove(&id);
                    return;
                }
            }
        });
    }

    /// One step of a destination's worker, as this node: reads the next batch after its cursor and hands it
    /// over, then records the outcome. Tests drive it directly.
    pub async fn destination_step(&self, id: &str) -> Step {
        match self.try_destination_step(id).await {
            Ok(step) => step,
            Err(e) => {
                tracing::warn!(destination = %id, error = ?e, "destination step");
                Step::NotHeld
            }
        }
    }

    async fn try_destination_step(&self, id: &str) -> crate::error::Result<Step> {
        let node = self.destinations.node.as_str();
        let now = now_ms();
        let Some(st) = self.store.destination_state(id).await? else { return Ok(Step::NotHeld) };
        if !st.active || st.leased_by.as_deref() != Some(node) || st.leased_until < now {
            return Ok(Step::NotHeld);
        }
        if let Some(at) = st.next_retry_at.filter(|at| *at > now) {
            return Ok(Step::Retrying(at));
        }
        let Some(dest) = self.store.get::<Destination>(&st.org_id, &st.app_id, id).await? else {
            return Ok(Step::NotHeld);
        };
        let batch_size = dest.batch_size.max(1) as usize;
        let scan = (batch_size * 2).clamp(SCAN.0, SCAN.1);
        let entries = self.store.log_read(&st.app_id, st.acked_pos, scan).await?;
        let Some(last_read) = entries.last().map(|e| e.pos) else { return Ok(Step::Idle) };
        let reached_end = entries.len() < scan;
        let mut batch: Vec<&LogEntry> = Vec::with_capacity(batch_size);
        for e in &entries {
            if dest.takes(&e.msg.event_type, e.msg.channels.as_deref(), e.msg.payload.as_deref()) {
                batch.push(e);
                if batch.len() == batch_size {
                    break;
                }
            }
        }
        // Past the batch's last event, or past every message read when none of the rest is taken either.
        let to = if batch.len() == batch_size { batch[batch.len() - 1].pos } else { last_read };
        if batch.is_empty() {
            let moved = self.store.destination_ack(id, node, st.acked_pos, to, None).await?;
            return Ok(if moved { Step::Sent(0) } else { Step::NotHeld });
        }
        if batch.len() < batch_size && reached_end && dest.max_wait_secs > 0 {
            let until = batch[0].msg.created_at + dest.max_wait_secs as i64 * 1000;
            if until > now {
                return Ok(Step::Filling(until));
            }
        }
        let target = match dest.target() {
            Ok(t) => t,
            Err(why) => return self.batch_failed(&dest, &st, &batch, 0, format!("config: {why}"), 0).await,
        };
        let events: Vec<sinks::Event> = batch.iter().map(|e| to_event(e)).collect();
        let started = Instant::now();
        let sent = match &target {
            Target::Fifo(cfg) => self.send_fifo(&dest, cfg, &events).await,
            Target::Polling => Ok(0),
            Target::Sink(cfg) => self.send_sink(&dest, cfg, &events).await.map(|()| 0),
        };
        let duration_ms = started.elapsed().as_millis() as i64;
        match sent {
            Ok(code) => {
                let attempt = attempt_of(&dest, &batch, status::SUCCESS, code, "success".into(), duration_ms);
                let moved = self.store.destination_ack(id, node, st.acked_pos, to, Some(attempt)).await?;
                self.metrics.destination_batches.inc();
                self.metrics.destination_events.inc_by(batch.len() as u64);
                Ok(if moved { Step::Sent(batch.len()) } else { Step::NotHeld })
            }
            Err((code, why)) => self.batch_failed(&dest, &st, &batch, code, why, duration_ms).await,
        }
    }

    async fn batch_failed(
        &self,
        dest: &Destination,
        st: &DestinationState,
        batch: &[&LogEntry],
        code: i64,
        why: String,
        duration_ms: i64,
    ) -> crate::error::Result<Step> {
        let now = now_ms();
        let failures = st.failures as usize + 1;
        let next = super::retry::next_delay(&self.cfg.retry_schedule, failures)
            .map(|d| now + super::retry::jitter(d).as_millis() as i64);
        tracing::info!(destination = %dest.id, failures, reason = %why, "destination batch failed");
        let attempt = attempt_of(dest, batch, status::FAIL, code, why.clone(), duration_ms);
        let failed = Failed { from: st.acked_pos, reason: why.clone(), next_retry_at: next };
        if !self.store.destination_fail(&dest.id, &self.destinations.node, failed, attempt).await? {
            // Skipped while in flight (or the lease was lost): the next step reads from where the cursor is now.
            return Ok(Step::Sent(0));
        }
        if next.is_none() {
            self.disable_destination(dest, st.failing_since.unwrap_or(now), &why).await?;
        }
        Ok(Step::Failed(why))
    }

    /// Disables a destination that kept failing, and says so in an `endpoint.disabled` operational webhook.
    async fn disable_destination(&self, dest: &Destination, fail_since: Millis, why: &str) -> crate::error::Result<()> {
        let changed = self
            .store
            .modify::<Destination>(&dest.org_id, &dest.id, |d| {
                d.enabled = false;
                d.updated_at = now_ms();
                Ok(())
            })
            .await?;
        tracing::warn!(destination = %dest.id, reason = why, "destination disabled");
        self.metrics.endpoints_disabled.inc();
        if changed.is_some() {
            let app_uid = self.app(&dest.org_id, &dest.app_id).await.ok().flatten().and_then(|a| a.uid.clone());
            self.emit_operational(
                &dest.org_id,
                "endpoint.disabled",
                json!({
                    "appId": dest.app_id,
                    "appUid": app_uid,
                    "endpointId": dest.id,
                    "endpointUid": dest.uid,
                    "failSince": crate::api::time::ts(fail_since),
                    "trigger": "automatic",
                }),
            );
        }
        Ok(())
    }

    async fn send_sink(
        &self,
        dest: &Destination,
        cfg: &SinkConfig,
        events: &[sinks::Event],
    ) -> Result<(), (i64, String)> {
        for host in cfg.hosts() {
            self.check_host(&host).await.map_err(|why| (0, why))?;
        }
        let open = self.destinations.sinks.lock().await.get(&dest.id).filter(|(c, _)| *c == dest.config).cloned();
        let sink = match open {
            Some((_, sink)) => sink,
            None => {
                // Connected without the lock held: another destination's send need not wait for this one's broker.
                // The engine's client resolves through the egress policy (`sqs`, `otelTracing`).
                let ctx = sinks::ConnectContext { http: Some(self.http.clone()) };
                let sink = cfg.connect_with(&ctx).await.map_err(|e| (0, e.reason))?;
                self.destinations.sinks.lock().await.insert(dest.id.clone(), (dest.config.clone(), sink.clone()));
                sink
            }
        };
        let batch = sinks::Batch { org_id: &dest.org_id, app_id: &dest.app_id, destination_id: &dest.id, events };
        match sink.send(&batch).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // A broken client is opened again for the retry.
                self.destinations.sinks.lock().await.remove(&dest.id);
                Err((0, e.reason))
            }
        }
    }

    /// Refuses a sink's (or a queue source's) host on a private network unless the egress policy allows it.
    pub(crate) async fn check_host(&self, host: &str) -> Result<(), String> {
        let (name, port) = match host.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => {
                (h.trim_matches(['[', ']']).to_string(), p.parse().unwrap_or(0))
            }
            _ => (host.trim_matches(['[', ']']).to_string(), 0u16),
        };
        let addrs =
            tokio::net::lookup_host((name.as_str(), port)).await.map_err(|e| format!("resolving {name}: {e}"))?;
        for a in addrs {
            if !self.egress.permits(a.ip()) {
                return Err(format!("{name} resolves to {} (a private address): refused by the egress policy", a.ip()));
            }
        }
        Ok(())
    }
}

fn to_event(e: &LogEntry) -> sinks::Event {
    let payload = e.msg.payload.as_deref().unwrap_or("null");
    sinks::Event {
        msg_id: e.msg.id.clone(),
        event_id: e.msg.event_id.clone(),
        event_type: e.msg.event_type.clone(),
        payload: serde_json::value::RawValue::from_string(payload.to_string())
            .unwrap_or_else(|_| serde_json::value::RawValue::from_string("null".into()).expect("null is JSON"))
            .into(),
        channels: e.msg.channels.clone().unwrap_or_default(),
        timestamp: e.msg.created_at,
        position: e.pos,
    }
}

fn attempt_of(
    dest: &Destination,
    batch: &[&LogEntry],
    status: i64,
    code: i64,
    text: String,
    duration_ms: i64,
) -> DestinationAttempt {
    let (first, last) = (batch[0], batch[batch.len() - 1]);
    DestinationAttempt {
        id: crate::ids::new(crate::ids::DESTINATION_ATTEMPT),
        destination_id: dest.id.clone(),
        status,
        status_code: code,
        status_text: text,
        first_msg_id: first.msg.id.clone(),
        last_msg_id: last.msg.id.clone(),
        first_pos: first.pos,
        last_pos: last.pos,
        num_events: batch.len() as i64,
        duration_ms,
        created_at: now_ms(),
    }
}
