//! A circuit breaker per endpoint. After `HOOKD_BREAKER_FAILURES` attempts in a row have failed, the endpoint's
//! circuit opens: its deliveries stop burning attempts and are held in the queue ([`crate::store::JOB_PARKED`]), and one
//! probe at a time tests the endpoint, after 5 s, then doubling up to 5 min. A probe is a real delivery (the
//! first one that comes due once the probe time has come); when it fails, that delivery waits for the next probe
//! rather than for its retry schedule, so it is the next probe. When an attempt succeeds, the circuit closes and
//! the held deliveries are released in delivery order at the receiver's pace ([`super::release`]). Held
//! deliveries keep their attempt count: time spent held is not counted against the retry schedule.
//!
//! Several nodes on one database: the count of failures in a row is kept in the store (`endpoint_failing`,
//! written in the same group commit as the attempt, so the count costs no extra round trip), so every node
//! sees every node's failures and a success anywhere resets it. Open/probing is each node's own state, in
//! memory: a node opens its circuit at its first failure past the shared count, and while open re-reads the
//! shared count at most once a second, closing as soon as another node's success has reset it. So there is at
//! most one probe in flight per node, not per cluster, and the held deliveries are in the store, which any
//! node whose circuit closes releases. A closed circuit costs one atomic load per delivery.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::model::Endpoint;
use super::Engine;
use crate::config::BreakerConfig;
use crate::store::{now_ms, DeliveryJob, Failing, Millis};

/// While open, a node re-reads the shared failure count at most this often.
const RECHECK_MS: Millis = 1000;
/// A held delivery comes due by itself after this many longest probe delays (20 min by default), in case its
/// release is missed; it is normally released, in order, when the circuit closes. Long, so that deliveries
/// coming due by themselves do not overtake the ordered release.
const HOLD_PROBE_DELAYS: Millis = 4;

/// This node's open circuits.
#[derive(Default)]
pub struct Breakers {
    open: Mutex<HashMap<String, Circuit>>,
    /// How many circuits are open: while none is, a delivery passes without taking the lock.
    count: AtomicUsize,
}

struct Circuit {
    /// When the next probe may go.
    probe_at: Millis,
    /// The delay that led to `probe_at`; doubled after each failed probe.
    backoff: Millis,
    /// Since when a probe has been in flight.
    probing: Option<Millis>,
    /// A held delivery is already due at `probe_at`, to be the probe.
    carrier: bool,
    /// When the shared failure count was last read.
    checked_at: Millis,
}

/// What the breaker lets one delivery do.
#[derive(Debug, PartialEq, Eq)]
enum Gate {
    Send,
    Probe,
    /// Hold the delivery until this time at the latest (it is released sooner when the circuit closes).
    Hold(Millis),
    /// Read the shared count first: another node may have closed the circuit.
    Recheck,
}

/// Whether a delivery is sent, and as the probe of an open circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Send { probe: bool },
    Held,
}

impl Breakers {
    /// Circuits open on this node (a gauge in `/metrics`).
    pub fn open_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn gate(&self, cfg: &BreakerConfig, endpoint_id: &str, now: Millis, probe_timeout: Millis) -> Gate {
        if self.open_count() == 0 {
            return Gate::Send;
        }
        let mut open = self.open.lock().unwrap();
        let Some(c) = open.get_mut(endpoint_id) else { return Gate::Send };
        let hold_until = now + HOLD_PROBE_DELAYS * cfg.max_probe_backoff.as_millis() as Millis;
        if let Some(started) = c.probing {
            if now - started < probe_timeout {
                return Gate::Hold(hold_until);
            }
            c.probing = None; // lost (the node's own lease brings its job back)
        }
        if now - c.checked_at >= RECHECK_MS {
            c.checked_at = now;
            return Gate::Recheck;
        }
        if now >= c.probe_at {
            c.probing = Some(now);
            c.carrier = false;
            return Gate::Probe;
        }
        if !c.carrier {
            c.carrier = true;
            return Gate::Hold(c.probe_at);
        }
        Gate::Hold(hold_until)
    }

    /// When this node's open circuit for the endpoint lets its next probe go (past while one is in flight);
    /// None when the circuit is not open on this node.
    fn probe_at(&self, endpoint_id: &str) -> Option<Millis> {
        if self.open_count() == 0 {
            return None;
        }
        self.open.lock().unwrap().get(endpoint_id).map(|c| c.probing.unwrap_or(c.probe_at))
    }

    pub(super) fn is_open(&self, endpoint_id: &str) -> bool {
        self.open_count() > 0 && self.open.lock().unwrap().contains_key(endpoint_id)
    }

    /// Opens the circuit (if it is not); true when it was closed.
    fn trip(&self, cfg: &BreakerConfig, endpoint_id: &str, now: Millis) -> bool {
        let mut open = self.open.lock().unwrap();
        if open.contains_key(endpoint_id) {
            return false;
        }
        let backoff = cfg.probe_backoff.as_millis() as Millis;
        open.insert(
            endpoint_id.to_string(),
            Circuit { probe_at: now + backoff, backoff, probing: None, carrier: false, checked_at: now },
        );
        self.count.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// A probe failed: the next one is due after twice the delay (capped). Returns when, unless the circuit
    /// closed meanwhile.
    fn probe_failed(&self, cfg: &BreakerConfig, endpoint_id: &str, now: Millis) -> Option<Millis> {
        let mut open = self.open.lock().unwrap();
        let c = open.get_mut(endpoint_id)?;
        c.backoff = (c.backoff * 2).min(cfg.max_probe_backoff.as_millis() as Millis).max(1);
        c.probe_at = now + c.backoff;
        c.probing = None;
        c.carrier = true;
        Some(c.probe_at)
    }

    /// A probe was not sent after all (throttled): the next delivery may be the probe.
    pub fn probe_abandoned(&self, endpoint_id: &str) {
        if self.open_count() == 0 {
            return;
        }
        if let Some(c) = self.open.lock().unwrap().get_mut(endpoint_id) {
            c.probing = None;
            c.carrier = false;
        }
    }

    /// Closes the circuit; true when it was open.
    fn close(&self, endpoint_id: &str) -> bool {
        if self.open_count() == 0 {
            return false;
        }
        let closed = self.open.lock().unwrap().remove(endpoint_id).is_some();
        if closed {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        closed
    }
}

impl Engine {
    /// Until when a delivery is held at the latest (it is released sooner when its circuit closes).
    pub(super) fn hold_deadline(&self, now: Millis) -> Millis {
        now + HOLD_PROBE_DELAYS * self.cfg.breaker.max_probe_backoff.as_millis() as Millis
    }

    /// Circuits open on this node.
    pub fn open_circuits(&self) -> usize {
        self.breakers.open_count()
    }

    /// When the endpoint's open circuit next tries it, as this node knows (each node keeps its own circuits);
    /// None when it is not open here.
    pub fn circuit_probe_at(&self, endpoint_id: &str) -> Option<Millis> {
        self.breakers.probe_at(endpoint_id)
    }

    /// Before an attempt: lets the delivery go (as the probe, when its endpoint's circuit is open and a probe is
    /// due), or holds it in the queue without counting an attempt. Manual resends always go.
    pub(super) async fn breaker_admit(&self, job: &DeliveryJob, ep: &Endpoint) -> Admission {
        let cfg = &self.cfg.breaker;
        if cfg.failures == 0 || job.manual {
            return Admission::Send { probe: false };
        }
        let probe_timeout = self.cfg.lease.as_millis() as Millis;
        let mut gate = self.breakers.gate(cfg, &ep.id, now_ms(), probe_timeout);
        if gate == Gate::Recheck {
            match self.store.endpoint_failing(&ep.id).await {
                Ok(f) if f.map_or(0, |f| f.consecutive) < cfg.failures as i64 => {
                    // Another node's success reset the count.
                    self.breaker_close(&ep.id);
                    return Admission::Send { probe: false };
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "reading an endpoint's failures"),
            }
            gate = self.breakers.gate(cfg, &ep.id, now_ms(), probe_timeout);
        }
        match gate {
            Gate::Send | Gate::Recheck => Admission::Send { probe: false },
            Gate::Probe => Admission::Send { probe: true },
            Gate::Hold(until) => {
                match self.store.job_park(job.job_id, until).await {
                    Ok(()) => self.wake.hint(until),
                    Err(e) => tracing::error!(error = ?e, "holding a delivery"), // its lease brings it back
                }
                if !self.breakers.is_open(&ep.id) {
                    // The circuit closed while this one was being held: release it too.
                    self.release_held(&ep.id);
                }
                Admission::Held
            }
        }
    }

    /// A probe failed: when its delivery is attempted again (as the next probe), instead of its retry schedule.
    pub(super) fn breaker_probe_failed(&self, endpoint_id: &str) -> Option<Millis> {
        self.breakers.probe_failed(&self.cfg.breaker, endpoint_id, now_ms())
    }

    /// After an attempt is recorded: a success closes the circuit; the threshold of failures in a row opens it,
    /// except with a 429 while the endpoint's backlog is being released here: the receiver is up and asks for
    /// less, which the release controller gives it (opening again would only wait for a probe). Returns whether
    /// this failure opened the circuit (its delivery is then held too).
    pub(super) async fn breaker_observe(
        &self,
        endpoint_id: &str,
        ok: bool,
        status_code: i64,
        failing: Option<Failing>,
    ) -> bool {
        let cfg = &self.cfg.breaker;
        if cfg.failures == 0 {
            return false;
        }
        if ok {
            self.breaker_close(endpoint_id);
            false
        } else if failing.is_some_and(|f| f.consecutive >= cfg.failures as i64)
            && !(status_code == 429 && self.releases.is_running(endpoint_id))
            && self.breakers.trip(cfg, endpoint_id, now_ms())
        {
            tracing::warn!(endpoint = %endpoint_id, failures = cfg.failures, "circuit opened");
            true
        } else {
            false
        }
    }

    /// Closes the circuit and releases what it held.
    fn breaker_close(&self, endpoint_id: &str) {
        if self.breakers.close(endpoint_id) {
            tracing::info!(endpoint = %endpoint_id, "circuit closed");
            self.release_held(endpoint_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            failures: 3,
            probe_backoff: Duration::from_millis(100),
            max_probe_backoff: Duration::from_millis(400),
            release_per_second: 10,
        }
    }

    #[test]
    fn one_probe_at_a_time_with_doubling_backoff() {
        let (b, c) = (Breakers::default(), cfg());
        assert_eq!(b.gate(&c, "ep", 0, 1000), Gate::Send);
        assert!(b.trip(&c, "ep", 0));
        assert!(!b.trip(&c, "ep", 1), "already open");
        assert_eq!(b.open_count(), 1);
        assert_eq!(b.gate(&c, "ep", 10, 1000), Gate::Hold(100), "the first held delivery carries the probe");
        assert_eq!(b.gate(&c, "ep", 20, 1000), Gate::Hold(1620));
        assert_eq!(b.gate(&c, "ep", 100, 1000), Gate::Probe);
        assert_eq!(b.gate(&c, "ep", 110, 1000), Gate::Hold(1710), "one probe at a time");
        assert_eq!(b.probe_failed(&c, "ep", 150), Some(350));
        assert_eq!(b.gate(&c, "ep", 200, 1000), Gate::Hold(1800), "the failed probe carries the next one");
        assert_eq!(b.probe_failed(&c, "ep", 400), Some(800), "doubling up to the cap");
        assert_eq!(b.gate(&c, "other", 900, 1000), Gate::Send);
        assert_eq!(b.gate(&c, "ep", 1000, 1000), Gate::Recheck, "the shared count is re-read once a second");
        assert!(b.close("ep"));
        assert_eq!(b.open_count(), 0);
        assert_eq!(b.gate(&c, "ep", 1000, 1000), Gate::Send);
    }

    #[test]
    fn a_lost_probe_is_replaced() {
        let (b, c) = (Breakers::default(), cfg());
        b.trip(&c, "ep", 0);
        assert_eq!(b.gate(&c, "ep", 100, 50), Gate::Probe);
        assert_eq!(b.gate(&c, "ep", 120, 50), Gate::Hold(1720));
        assert_eq!(b.gate(&c, "ep", 160, 50), Gate::Probe, "the first probe outlived its timeout");
        b.probe_abandoned("ep");
        assert_eq!(b.gate(&c, "ep", 170, 50), Gate::Probe);
    }
}
