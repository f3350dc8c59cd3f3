//! What `/metrics` shows: OpenMetrics text from `prometheus-client`, the Prometheus project's own Rust client.
//! Every handle is registered once, at start; the hot path only bumps atomics (a labelled counter costs the
//! crate's lookup of a small, fixed label set). Labels are bounded: outcomes, status classes, provider names and
//! verdicts, never an id. Figures that live in the store are read when scraped ([`Engine::render_metrics`]).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::Engine;
use crate::store::{now_ms, Millis};

/// Sub-millisecond to seconds: accepting a message, one HTTP attempt, the scheduler's and timers' lateness.
const FAST: [f64; 16] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Milliseconds to a day: publish to delivery takes the retries' schedule when the endpoint fails.
const SLOW: [f64; 18] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 10800.0, 86400.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DestinationLabels {
    pub app_id: String,
    pub destination_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// `success` (2xx), `failure` (another status), `timeout`, `error` (no answer: refused, connection, TLS).
    pub outcome: &'static str,
    /// `2xx` … `5xx`, `other`, or `none` when there was no answer.
    pub status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InboundLabels {
    /// A provider's name (`github`, `stripe`, …), or `none` when the registration is unknown.
    pub provider: &'static str,
    /// See [`verdict`].
    pub verdict: &'static str,
}

/// What became of an inbound request.
pub mod verdict {
    /// Signature verified and the event stored (and forwarded).
    pub const VERIFIED: &str = "verified";
    /// Verified, already seen (the provider's delivery id).
    pub const DUPLICATE: &str = "duplicate";
    /// Verified, answered with the provider's handshake.
    pub const HANDSHAKE: &str = "handshake";
    /// Notion's unsigned verification token, captured.
    pub const TOKEN_CAPTURED: &str = "token_captured";
    /// Bad or missing signature.
    pub const REJECTED: &str = "rejected";
    /// Verified but unreadable as the provider's event.
    pub const MALFORMED: &str = "malformed";
    /// Over the body limit.
    pub const TOO_LARGE: &str = "too_large";
    pub const RATE_LIMITED: &str = "rate_limited";
    /// No such registration, or an inactive one.
    pub const UNKNOWN: &str = "unknown";
    /// hookd failed (the store).
    pub const ERROR: &str = "error";
}

pub struct Metrics {
    registry: Registry,
    pub messages_published: Counter,
    pub deliveries_exhausted: Counter,
    pub endpoints_disabled: Counter,
    /// Attempts by outcome and status class.
    pub attempts: Family<AttemptLabels, Counter>,
    /// Inbound requests by provider and verdict.
    pub inbound: Family<InboundLabels, Counter>,
    /// Seconds from a publish's routing to its commit.
    pub publish_seconds: Histogram,
    /// Seconds of one HTTP attempt.
    pub attempt_seconds: Histogram,
    /// Seconds from a message's creation to its delivery's successful attempt (retries and a scheduled
    /// message's wait included; manual resends left out).
    pub delivery_seconds: Histogram,
    /// Seconds between a job's due time and the scheduler claiming it.
    pub scheduler_lag_seconds: Histogram,
    /// Seconds between a timer's moment and its firing.
    pub timer_lateness_seconds: Histogram,
    /// Circuits open now: the circuit breaker keeps it (`inc` on opening, `dec` on closing).
    pub circuits_open: Gauge,
    // Set when scraped.
    dispatch_queue: Gauge,
    queue_depth: Gauge,
    due_unclaimed: Gauge,
    timers_pending: Gauge,
    cluster_nodes: Gauge,
    /// Destinations' batches taken, and events in them.
    pub destination_batches: Counter,
    pub destination_events: Counter,
    destinations_lag_max: Gauge,
    destinations_lag_total: Gauge,
    destinations_retrying: Gauge,
    /// Each active destination's lag; redrawn at each scrape, so a deleted destination leaves it.
    destination_lag: Family<DestinationLabels, Gauge>,
    /// The store's group commits, brought up to date when scraped (one scrape at a time).
    store_commits: std::sync::Mutex<Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let hist = |buckets: &[f64]| Histogram::new(buckets.iter().copied());
        let mut m = Metrics {
            registry: Registry::with_prefix("hookd"),
            messages_published: Counter::default(),
            deliveries_exhausted: Counter::default(),
            endpoints_disabled: Counter::default(),
            attempts: Family::default(),
            inbound: Family::default(),
            publish_seconds: hist(&FAST),
            attempt_seconds: hist(&FAST),
            delivery_seconds: hist(&SLOW),
            scheduler_lag_seconds: hist(&FAST),
            timer_lateness_seconds: hist(&FAST),
            circuits_open: Gauge::default(),
            dispatch_queue: Gauge::default(),
            queue_depth: Gauge::default(),
            due_unclaimed: Gauge::default(),
            timers_pending: Gauge::default(),
            cluster_nodes: Gauge::default(),
            destination_batches: Counter::default(),
            destination_events: Counter::default(),
            destinations_lag_max: Gauge::default(),
            destinations_lag_total: Gauge::default(),
            destinations_retrying: Gauge::default(),
            destination_lag: Family::default(),
            store_commits: Default::default(),
        };
        let r = &mut m.registry;
        r.register("messages_published", "Messages accepted and committed", m.messages_published.clone());
        r.register("deliveries_exhausted", "Deliveries that used up their retries", m.deliveries_exhausted.clone());
        r.register("endpoints_disabled", "Endpoints disabled for failing", m.endpoints_disabled.clone());
        r.register("attempts", "Delivery attempts by outcome and status class", m.attempts.clone());
        r.register("inbound_requests", "Inbound requests by provider and verdict", m.inbound.clone());
        let seconds = [
            ("publish", "Time to route and commit a message", &m.publish_seconds),
            ("attempt_duration", "Time of one delivery attempt", &m.attempt_seconds),
            ("delivery_latency", "Time from publish to successful delivery", &m.delivery_seconds),
            ("scheduler_lag", "How late the scheduler claims due jobs", &m.scheduler_lag_seconds),
            ("timer_lateness", "How late timers fire", &m.timer_lateness_seconds),
        ];
        for (name, help, h) in seconds {
            r.register_with_unit(name, help, Unit::Seconds, h.clone());
        }
        let commits = m.store_commits.lock().unwrap().clone();
        r.register("store_commits", "Group commits of the store made by this process", commits);
        r.register("circuits_open", "Endpoints whose circuit breaker is open on this node", m.circuits_open.clone());
        r.register("dispatch_queue", "Deliveries waiting in memory for a dispatch slot", m.dispatch_queue.clone());
        r.register("queue_depth", "Deliveries in the due-time queue (capped at 100000)", m.queue_depth.clone());
        r.register(
            "jobs_due_unclaimed",
            "Jobs due now that no worker holds (capped at 100000)",
            m.due_unclaimed.clone(),
        );
        r.register("timers_pending", "Running timers waiting to fire (capped at 100000)", m.timers_pending.clone());
        r.register(
            "cluster_nodes",
            "Serving nodes sharing the store, seen within the node timeout (1 on SQLite)",
            m.cluster_nodes.clone(),
        );
        r.register("destination_batches", "Batches taken by destinations' receivers", m.destination_batches.clone());
        r.register("destination_events", "Events in the batches destinations took", m.destination_events.clone());
        r.register(
            "destinations_lag_max",
            "Events the furthest-behind active destination has yet to take (its application's log minus its cursor)",
            m.destinations_lag_max.clone(),
        );
        r.register(
            "destinations_lag",
            "Events every active destination has yet to take, summed",
            m.destinations_lag_total.clone(),
        );
        r.register(
            "destination_lag",
            "Events an active destination has yet to take (its application's log minus its cursor)",
            m.destination_lag.clone(),
        );
        r.register(
            "destinations_retrying",
            "Active destinations waiting to retry a failed batch",
            m.destinations_retrying.clone(),
        );
        m
    }
}

/// Seconds from `from` to `to` (in milliseconds), never negative.
pub fn seconds_between(from: Millis, to: Millis) -> f64 {
    (to - from).max(0) as f64 / 1000.0
}

impl Metrics {
    pub fn attempt(&self, outcome: &'static str, status_code: i64) {
        let status_class = match status_code {
            0 => "none",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "other",
        };
        self.attempts.get_or_create(&AttemptLabels { outcome, status_class }).inc();
    }

    pub fn inbound(&self, provider: &'static str, verdict: &'static str) {
        self.inbound.get_or_create(&InboundLabels { provider, verdict }).inc();
    }

    /// A timer's moment `due` was acted on now.
    pub fn timer_fired(&self, due: Millis) {
        self.timer_lateness_seconds.observe(seconds_between(due, now_ms()));
    }
}

impl Engine {
    /// The OpenMetrics text of `/metrics`; the queue's figures are read from the store now (if it fails to
    /// answer, they keep their last values).
    pub async fn render_metrics(&self) -> String {
        let m = &self.metrics;
        m.dispatch_queue.set(self.dispatch_backlog() as i64);
        m.circuits_open.set(self.open_circuits() as i64);
        {
            let commits = m.store_commits.lock().unwrap();
            commits.inc_by(self.store.commits().saturating_sub(commits.get()));
        }
        match self.store.queue_stats(now_ms()).await {
            Ok(q) => {
                m.queue_depth.set(q.deliveries);
                m.due_unclaimed.set(q.due_unclaimed);
                m.timers_pending.set(q.timers);
            }
            Err(e) => tracing::warn!(error = ?e, "reading the queue's figures for /metrics"),
        }
        match self.store.destinations_lag().await {
            Ok(lags) => {
                m.destinations_lag_max.set(lags.iter().map(|d| d.lag).max().unwrap_or(0));
                m.destinations_lag_total.set(lags.iter().map(|d| d.lag).sum());
                m.destinations_retrying.set(lags.iter().filter(|d| d.retrying).count() as i64);
                m.destination_lag.clear();
                for d in lags {
                    let labels = DestinationLabels { app_id: d.app_id, destination_id: d.id };
                    m.destination_lag.get_or_create(&labels).set(d.lag);
                }
            }
            Err(e) => tracing::warn!(error = ?e, "reading destinations' lag for /metrics"),
        }
        let since = now_ms() - crate::store::postgres::NODE_TIMEOUT.as_millis() as Millis;
        match self.store.nodes_seen_since(since).await {
            // The embedded store counts no nodes: its lock file keeps it to this one.
            Ok(n) => {
                m.cluster_nodes.set((n as i64).max(1));
            }
            Err(e) => tracing::warn!(error = ?e, "counting the cluster's nodes for /metrics"),
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &m.registry) {
            tracing::error!(error = ?e, "encoding /metrics");
        }
        out
    }
}
