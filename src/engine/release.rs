//! Releasing an endpoint's held deliveries once its circuit closes, at the pace the receiver takes them.
//!
//! A fixed rate is wrong both ways: 50/s leaves 20,000 held messages waiting 400 s on a receiver that could take
//! them in 10, and any fixed rate overruns a receiver slower than it. So the node that closes the circuit runs a
//! [`Controller`]: AIMD on a release rate, as TCP's congestion control is on a window. It frees held jobs in
//! delivery order, every [`TICK_MS`] those the rate allows, each due at its own moment within the tick. Every
//! [`ROUND_MS`] it judges what came back: good answers double the rate (slow start, from [`INITIAL_RATE`]) or,
//! after the first cut, add a 32nd (so about a third more a second, and a receiver's limit is crossed slowly:
//! few refusals each time); a 429, a 5xx, an error or a timeout, or a mean latency well above the best
//! round's, halves it. A rate, not a window of requests in flight: a receiver that answers in a millisecond takes
//! 200/s from one request at a time, so a window cannot go below its limit, but a rate can. The rate grows only
//! while it is what holds the release back, and what is under way never exceeds the dispatch concurrency.
//!
//! A delivery the controller freed and the receiver refused for load is held again, once, to be freed at the new
//! rate ([`Controller::take_back`]) rather than in 5 min (the retry schedule's second step). A 429 does not open
//! the circuit while the controller runs (the receiver is up, asking for less); a storm of 5xx or timeouts does,
//! as before ([`super::breaker`]): the controller pauses, keeping the rate it cut, and goes on when the circuit
//! closes again.
//!
//! Outcomes are read where every attempt is already observed (`breaker_observe`), on this node. Several nodes on
//! one database: any node may claim a freed job, so the controller also asks the store which of its jobs are
//! still under way when its own attempts stop telling it ([`STALL_MS`]); other nodes' failures reach it through
//! the shared count of failures in a row, which re-opens the circuit. Each node whose circuit closes runs its own
//! controller (there is no lease on the release): they walk the same held jobs in order, each freeing a job by
//! id only if it is still held, so no job is freed twice, and together they act as a few AIMD flows, each
//! starting small and halving on the same signals. Nothing is lost if a controller's node dies: its freed jobs'
//! leases are reaped as any, and the jobs still held come due by themselves at their deadline.
//!
//! `HOOKD_BREAKER_RELEASE_RATE`, when set, caps the rate (per node).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Engine;
use crate::store::{now_ms, Millis};

/// The first rate, per second: the fixed rate of before, so that a receiver just back is not hit at once.
pub const INITIAL_RATE: f64 = 50.0;
/// Never slower than this (a receiver that refuses everything re-opens the circuit instead).
const MIN_RATE: f64 = 1.0;
const MAX_RATE: f64 = 1_000_000.0;
/// How often the controller frees what the rate allows.
pub const TICK_MS: Millis = 20;
/// How often the rate is judged: a few answers' worth at any rate worth judging.
pub const ROUND_MS: Millis = 100;
/// A round whose mean latency is over `LATENCY_FACTOR` × the best round's plus [`LATENCY_SLACK_MS`] counts as
/// slow (the receiver is queueing): the slack keeps a fast receiver's millisecond jitter from halving the rate.
const LATENCY_FACTOR: f64 = 2.0;
const LATENCY_SLACK_MS: f64 = 50.0;
/// With no outcome of its own for this long, the controller asks the store which of its jobs are still under way
/// (another node took them, or they were throttled or held again).
pub const STALL_MS: Millis = 100;
/// Held jobs read per pass: a longer backlog is read again once this much of it is freed.
const HELD_PER_PASS: usize = 50_000;

/// One attempt's outcome, as the controller judges it.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub ok: bool,
    /// 0 when there was no answer (connection error, timeout).
    pub status_code: i64,
    pub latency_ms: u64,
}

impl Outcome {
    /// Whether the receiver asks to be sent less: it refused (429), failed (5xx) or did not answer.
    fn overloaded(&self) -> bool {
        !self.ok && (self.status_code == 429 || self.status_code >= 500 || self.status_code == 0)
    }
}

/// The rate arithmetic, pure: fed with the time, what was freed and what came back, it says what to free next.
#[derive(Debug)]
pub struct Controller {
    /// Jobs freed per second.
    rate: f64,
    max_rate: f64,
    max_under_way: usize,
    slow_start: bool,
    /// Jobs the rate has allowed and that were not freed yet (at most a few ticks' worth).
    credit: f64,
    last_tick: Millis,
    /// Jobs freed and not finished, with the round each was freed in.
    under_way: HashMap<i64, u64>,
    round: u64,
    round_started: Millis,
    /// Outcomes of jobs freed before this round do not count against the rate: they were sent at the pace that was
    /// just cut (TCP's fast recovery: one cut per round trip).
    counts_from: u64,
    freed: usize,
    overloaded: usize,
    latency_sum: f64,
    latencies: usize,
    /// The lowest mean latency of a round so far (the receiver unloaded).
    best_latency: Option<f64>,
    /// Jobs refused once and held again (see [`Controller::take_back`]).
    taken_back: HashSet<i64>,
}

impl Controller {
    /// A controller starting at `now`, with at most `max_under_way` (the dispatch concurrency) of its jobs under
    /// way, and its rate capped at `cap` per second if given.
    pub fn new(now: Millis, max_under_way: usize, cap: Option<f64>) -> Controller {
        let max_rate = cap.unwrap_or(MAX_RATE).clamp(MIN_RATE, MAX_RATE);
        Controller {
            rate: INITIAL_RATE.min(max_rate),
            max_rate,
            max_under_way: max_under_way.max(1),
            slow_start: true,
            credit: 1.0,
            last_tick: now,
            under_way: HashMap::new(),
            round: 0,
            round_started: now,
            counts_from: 0,
            freed: 0,
            overloaded: 0,
            latency_sum: 0.0,
            latencies: 0,
            best_latency: None,
            taken_back: HashSet::new(),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn under_way(&self) -> usize {
        self.under_way.len()
    }

    /// The jobs freed and not yet seen finished.
    pub fn pending_ids(&self) -> Vec<i64> {
        self.under_way.keys().copied().collect()
    }

    /// At `now`: judges the round if it is over, and returns when each of the next jobs to free is due (as
    /// offsets from `now`, in ms): as many as the rate allowed since the last call and the dispatch concurrency
    /// leaves room for, spread over the coming tick.
    pub fn tick(&mut self, now: Millis) -> Vec<Millis> {
        if now - self.round_started >= ROUND_MS {
            self.judge(now);
        }
        let elapsed = (now - self.last_tick).max(0) as f64 / 1000.0;
        self.last_tick = now;
        // Unused credit does not pile up beyond a few ticks: a pause is not made up for with a burst.
        let most = (self.rate * 3.0 * TICK_MS as f64 / 1000.0).max(1.0);
        self.credit = (self.credit + self.rate * elapsed).min(most);
        let room = self.max_under_way.saturating_sub(self.under_way.len());
        let n = (self.credit.floor() as usize).min(room);
        let gap = 1000.0 / self.rate;
        (0..n).map(|k| (k as f64 * gap) as Millis).collect()
    }

    /// `ids` were freed (of the `tick`'s allowance).
    pub fn freed(&mut self, ids: &[i64]) {
        self.credit -= ids.len() as f64;
        self.freed += ids.len();
        for id in ids {
            self.under_way.insert(*id, self.round);
        }
    }

    /// An attempt to the endpoint came back at `now`. `job` is its job, if this controller freed it; the
    /// outcomes of the endpoint's other deliveries (fresh messages, retries) are judged too: they are load on the
    /// same receiver. Returns whether one of the controller's jobs finished.
    pub fn observe(&mut self, job: Option<i64>, o: Outcome, now: Millis) -> bool {
        let freed_in = job.and_then(|id| self.under_way.remove(&id));
        if freed_in.is_some_and(|r| r < self.counts_from) {
            return true;
        }
        if o.overloaded() {
            self.overloaded += 1;
            if freed_in.is_some() {
                // Its own job refused: cut at once. (Another delivery's refusal, sent when it cannot tell, is
                // judged with its round.)
                self.judge(now);
            }
        } else if o.ok {
            self.latency_sum += o.latency_ms as f64;
            self.latencies += 1;
        }
        freed_in.is_some()
    }

    /// Whether the attempt of `job` that came back with `o` is held again to be freed by this controller, rather
    /// than retried on its schedule: one of its own jobs, refused for load, the first time. The receiver asked for
    /// less, not for this message later: it goes again at the rate the receiver takes, not 5 min later (the
    /// schedule's second step). Once only, so that a message refused for itself still meets its schedule.
    pub fn take_back(&mut self, job: i64, o: Outcome) -> bool {
        o.overloaded() && self.under_way.contains_key(&job) && self.taken_back.insert(job)
    }

    /// These jobs finished on another node (or were throttled or held again): they leave room, without a
    /// judgement of their outcome.
    pub fn finished_elsewhere(&mut self, ids: &[i64]) {
        for id in ids {
            self.under_way.remove(id);
        }
    }

    /// Ends the round: cuts the rate on overload or a slow receiver; grows it if it was what held the release
    /// back (the round freed about what the rate allowed), keeps it otherwise.
    fn judge(&mut self, now: Millis) {
        let secs = (now - self.round_started).max(1) as f64 / 1000.0;
        let mean = (self.latencies > 0).then(|| self.latency_sum / self.latencies as f64);
        let slow = match (mean, self.best_latency) {
            (Some(m), Some(best)) => m > best * LATENCY_FACTOR + LATENCY_SLACK_MS,
            _ => false,
        };
        if let Some(m) = mean {
            self.best_latency = Some(self.best_latency.map_or(m, |b| b.min(m)));
        }
        let rate_bound = self.freed as f64 >= 0.75 * self.rate * secs;
        self.round += 1;
        tracing::debug!(rate = self.rate, freed = self.freed, overloaded = self.overloaded, slow, "release round");
        if self.overloaded > 0 || slow {
            self.rate = (self.rate / 2.0).max(MIN_RATE);
            self.slow_start = false;
            self.counts_from = self.round;
            self.credit = self.credit.min(1.0);
        } else if rate_bound {
            let grown = if self.slow_start { self.rate * 2.0 } else { self.rate + (self.rate / 32.0).max(1.0) };
            self.rate = grown.min(self.max_rate);
        }
        self.round_started = now;
        self.freed = 0;
        self.overloaded = 0;
        self.latency_sum = 0.0;
        self.latencies = 0;
    }
}

/// A controller at work on this node.
struct Running {
    ctl: Mutex<Controller>,
    /// When one of its jobs last finished here.
    progress_at: AtomicI64,
    /// The circuit closed (again) while it ran: make another pass before stopping.
    again: AtomicBool,
}

/// This node's release controllers, by endpoint.
#[derive(Default)]
pub struct Releases {
    running: Mutex<HashMap<String, Arc<Running>>>,
    /// How many run: while none does, an outcome costs one atomic load.
    count: AtomicUsize,
}

impl Releases {
    /// Passes an attempt's outcome to the endpoint's controller, if one runs here.
    pub fn observe(&self, endpoint_id: &str, job_id: i64, o: Outcome) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(r) = self.running.lock().unwrap().get(endpoint_id).cloned() else { return };
        let now = now_ms();
        if r.ctl.lock().unwrap().observe(Some(job_id), o, now) {
            r.progress_at.store(now, Ordering::Relaxed);
        }
    }
}

impl Releases {
    /// Whether a controller runs for the endpoint here.
    pub fn is_running(&self, endpoint_id: &str) -> bool {
        self.count.load(Ordering::Relaxed) > 0 && self.running.lock().unwrap().contains_key(endpoint_id)
    }

    /// Whether a failed attempt of `job_id` is held again for the endpoint's controller (see
    /// [`Controller::take_back`]) rather than retried on its schedule.
    pub fn take_back(&self, endpoint_id: &str, job_id: i64, o: Outcome) -> bool {
        if self.count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let Some(r) = self.running.lock().unwrap().get(endpoint_id).cloned() else { return false };
        let taken = r.ctl.lock().unwrap().take_back(job_id, o);
        taken
    }
}

impl Engine {
    /// Starts freeing the endpoint's held deliveries (its circuit closed), unless a controller already runs for it
    /// here; that one then makes another pass, for what was held since its last.
    pub(super) fn release_held(&self, endpoint_id: &str) {
        let mut running = self.releases.running.lock().unwrap();
        if let Some(r) = running.get(endpoint_id) {
            r.again.store(true, Ordering::SeqCst);
            return;
        }
        let Some(engine) = self.me.upgrade() else { return };
        let r = Arc::new(Running {
            ctl: Mutex::new(self.release_controller()),
            progress_at: AtomicI64::new(now_ms()),
            again: AtomicBool::new(false),
        });
        running.insert(endpoint_id.to_string(), r.clone());
        self.releases.count.fetch_add(1, Ordering::Relaxed);
        let endpoint_id = endpoint_id.to_string();
        tokio::spawn(async move { engine.run_release(endpoint_id, r).await });
    }

    fn release_controller(&self) -> Controller {
        let cap = match self.cfg.breaker.release_per_second {
            0 => None,
            rate => Some(rate as f64),
        };
        Controller::new(now_ms(), self.cfg.dispatch_concurrency, cap)
    }

    async fn run_release(self: Arc<Self>, endpoint_id: String, r: Arc<Running>) {
        let mut total = 0usize;
        loop {
            let freed = self.release_pass(&endpoint_id, &r).await;
            total += freed.unwrap_or(0);
            if freed.is_none() && self.breakers.is_open(&endpoint_id) {
                // A failure storm opened the circuit again: wait for it to close and go on at the rate learnt (cut
                // by the storm), rather than start small again and overrun the receiver again. Not forever: the
                // circuit may close on another node only, which then releases.
                let give_up = now_ms() + 2 * self.cfg.breaker.max_probe_backoff.as_millis() as Millis;
                while self.breakers.is_open(&endpoint_id) && now_ms() < give_up {
                    tokio::time::sleep(Duration::from_millis(ROUND_MS as u64)).await;
                }
                if !self.breakers.is_open(&endpoint_id) {
                    r.again.store(false, Ordering::SeqCst);
                    continue;
                }
            }
            // Stop, unless the circuit closed again meanwhile (decided under the lock that starts controllers, so
            // that no close is missed between the last pass and leaving).
            {
                let mut running = self.releases.running.lock().unwrap();
                if !r.again.swap(false, Ordering::SeqCst) || self.breakers.is_open(&endpoint_id) {
                    running.remove(&endpoint_id);
                    self.releases.count.fetch_sub(1, Ordering::Relaxed);
                    break;
                }
            }
            // Something was held while it ran: another pass.
        }
        tracing::info!(endpoint = %endpoint_id, released = total, "released held deliveries");
    }

    /// One pass over the endpoint's held jobs: frees them at the controller's rate until none is left, the
    /// circuit opens again, or the store fails (the held jobs then come due at their deadline). Returns how many
    /// it freed, None when it stopped early.
    async fn release_pass(&self, endpoint_id: &str, r: &Running) -> Option<usize> {
        let mut freed_total = 0;
        // The latest time a job was freed for, and when the store was last asked about jobs not seen finishing.
        let (mut last_due, mut checked_at) = (0, 0);
        loop {
            let held = match self.store.endpoint_held(endpoint_id, HELD_PER_PASS).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = ?e, "reading held deliveries");
                    return None;
                }
            };
            if held.is_empty() {
                return Some(freed_total);
            }
            let mut rest = &held[..];
            while !rest.is_empty() {
                if self.breakers.is_open(endpoint_id) {
                    return None;
                }
                let now = now_ms();
                let offsets = r.ctl.lock().unwrap().tick(now);
                let n = offsets.len().min(rest.len());
                if n > 0 {
                    let due: Vec<(i64, Millis)> =
                        rest[..n].iter().zip(&offsets).map(|(id, o)| (*id, now + o)).collect();
                    rest = &rest[n..];
                    last_due = last_due.max(now + offsets[n - 1]);
                    let freed = match self.store.jobs_release(&due).await {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::error!(error = ?e, "releasing held deliveries");
                            return None;
                        }
                    };
                    freed_total += freed.len();
                    r.ctl.lock().unwrap().freed(&freed);
                    if !freed.is_empty() {
                        self.wake.hint(now);
                    }
                }
                let now = now_ms();
                let quiet = now - r.progress_at.load(Ordering::Relaxed) >= STALL_MS;
                if quiet && now - checked_at >= STALL_MS {
                    checked_at = now;
                    self.check_under_way(r, last_due.max(now)).await;
                }
                tokio::time::sleep(Duration::from_millis(TICK_MS as u64)).await;
            }
            // Before reading again, let what was freed finish: a job refused is held again (see `take_back`).
            while r.ctl.lock().unwrap().under_way() > 0 {
                if self.breakers.is_open(endpoint_id) {
                    return None;
                }
                let now = now_ms();
                if now - r.progress_at.load(Ordering::Relaxed) >= STALL_MS && now - checked_at >= STALL_MS {
                    checked_at = now;
                    self.check_under_way(r, last_due.max(now)).await;
                }
                tokio::time::sleep(Duration::from_millis(TICK_MS as u64)).await;
            }
        }
    }

    /// Asks the store which of the controller's jobs, not seen finishing here, are still under way: the others
    /// finished on another node, or were throttled or held again.
    async fn check_under_way(&self, r: &Running, until: Millis) {
        let ids = r.ctl.lock().unwrap().pending_ids();
        if ids.is_empty() {
            return;
        }
        match self.store.jobs_under_way(&ids, until).await {
            Ok(still) => {
                let still: std::collections::HashSet<i64> = still.into_iter().collect();
                let gone: Vec<i64> = ids.into_iter().filter(|id| !still.contains(id)).collect();
                r.ctl.lock().unwrap().finished_elsewhere(&gone);
            }
            Err(e) => tracing::warn!(error = ?e, "reading released deliveries"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ms: u64) -> Outcome {
        Outcome { ok: true, status_code: 200, latency_ms: ms }
    }
    fn refused() -> Outcome {
        Outcome { ok: false, status_code: 429, latency_ms: 1 }
    }

    /// Drives a controller tick by tick from `t`, freeing ids from `next` and answering each freed job at once
    /// with `answer(its id)`, for `ms`.
    fn run(c: &mut Controller, t: &mut Millis, next: &mut i64, ms: Millis, answer: impl Fn(i64) -> Outcome) -> usize {
        let mut freed = 0;
        let end = *t + ms;
        while *t < end {
            let ids: Vec<i64> = (0..c.tick(*t).len() as i64).map(|k| *next + k).collect();
            *next += ids.len() as i64;
            c.freed(&ids);
            freed += ids.len();
            for id in ids {
                c.observe(Some(id), answer(id), *t);
            }
            *t += TICK_MS;
        }
        freed
    }

    #[test]
    fn starts_at_the_old_fixed_rate_and_doubles_each_round_while_the_receiver_keeps_up() {
        let (mut c, mut t, mut next) = (Controller::new(0, 10_000, None), 0, 0);
        assert_eq!(c.rate(), INITIAL_RATE);
        let offsets = c.tick(0);
        assert_eq!(offsets, vec![0], "one job at once");
        c.freed(&[-1]);
        c.observe(Some(-1), ok(1), 0);
        assert_eq!(c.tick(TICK_MS), vec![0], "then one a tick at 50/s");
        c.freed(&[-2]);
        t += 2 * TICK_MS;
        let freed = run(&mut c, &mut t, &mut next, ROUND_MS, |_| ok(1));
        assert_eq!(c.rate(), 100.0, "a round at the rate, all good: doubled");
        assert!(freed >= 4, "{freed}");
        run(&mut c, &mut t, &mut next, 5 * ROUND_MS, |_| ok(1));
        assert_eq!(c.rate(), 3200.0);
        let offsets = c.tick(t);
        assert!(offsets.len() >= 60, "a tick's worth at 3,200/s: {offsets:?}");
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]) && *offsets.last().unwrap() < TICK_MS, "spread over the tick");
    }

    #[test]
    fn halves_on_a_refusal_once_per_round_trip_then_grows_by_a_32nd() {
        let (mut c, mut t, mut next) = (Controller::new(0, 10_000, None), 0, 0);
        run(&mut c, &mut t, &mut next, 3 * ROUND_MS + TICK_MS, |_| ok(1));
        assert_eq!(c.rate(), 400.0);
        // Free a tick's worth and leave it unanswered, then a refusal of one of them.
        let ids: Vec<i64> = (0..c.tick(t).len() as i64).map(|k| 1000 + k).collect();
        c.freed(&ids);
        c.observe(Some(ids[0]), refused(), t);
        assert_eq!(c.rate(), 200.0, "its own job refused: halved at once");
        for id in &ids[1..] {
            c.observe(Some(*id), refused(), t + 5);
        }
        assert_eq!(c.rate(), 200.0, "the rest was sent at the old rate: no second cut");
        t += TICK_MS;
        run(&mut c, &mut t, &mut next, ROUND_MS, |_| ok(1));
        assert_eq!(c.rate(), 206.25, "after a cut, a 32nd more a round");
        c.observe(None, Outcome { ok: false, status_code: 503, latency_ms: 1 }, t);
        assert_eq!(c.rate(), 206.25, "another delivery's 5xx is judged with its round");
        run(&mut c, &mut t, &mut next, ROUND_MS, |_| ok(1));
        assert_eq!(c.rate(), 103.125, "a round with a 5xx in it halves the rate");
        run(&mut c, &mut t, &mut next, ROUND_MS, |_| Outcome { ok: false, status_code: 400, latency_ms: 1 });
        assert!(c.rate() > 103.125, "a 4xx other than 429 is the message's problem, not load: {}", c.rate());
        let before = c.rate();
        run(&mut c, &mut t, &mut next, ROUND_MS, |id| {
            if id % 2 == 0 {
                Outcome { ok: false, status_code: 0, latency_ms: 15_000 }
            } else {
                ok(1)
            }
        });
        assert!(c.rate() <= before / 2.0, "timeouts cut it too (again each round they keep coming): {}", c.rate());
    }

    #[test]
    fn a_job_refused_for_load_is_taken_back_once() {
        let mut c = Controller::new(0, 100, None);
        c.tick(0);
        c.freed(&[7, 8]);
        assert!(c.take_back(7, refused()), "its own job, refused: held again for the release");
        assert!(!c.take_back(7, refused()), "once only: then its schedule");
        assert!(!c.take_back(8, Outcome { ok: false, status_code: 400, latency_ms: 1 }), "refused for itself");
        assert!(!c.take_back(9, refused()), "not one of its own");
    }

    #[test]
    fn backs_off_when_latency_rises_well_above_the_best_round() {
        let (mut c, mut t, mut next) = (Controller::new(0, 10_000, None), 0, 0);
        run(&mut c, &mut t, &mut next, 3 * ROUND_MS + TICK_MS, |_| ok(20));
        assert_eq!(c.rate(), 400.0);
        run(&mut c, &mut t, &mut next, ROUND_MS, |_| ok(80));
        assert_eq!(c.rate(), 800.0, "80 ms is within 2 × 20 ms + 50 ms");
        run(&mut c, &mut t, &mut next, ROUND_MS, |_| ok(150));
        assert_eq!(c.rate(), 400.0, "150 ms is well above: the receiver is queueing");
    }

    #[test]
    fn grows_only_while_the_rate_is_what_holds_the_release_back() {
        let (mut c, mut t) = (Controller::new(0, 4, None), 0);
        for _ in 0..20 {
            let offsets = c.tick(t);
            assert!(c.under_way() + offsets.len() <= 4, "never more under way than the dispatch concurrency");
            let ids: Vec<i64> = (0..offsets.len() as i64).map(|k| t * 100 + k).collect();
            c.freed(&ids);
            t += TICK_MS;
        }
        assert_eq!(c.under_way(), 4, "nothing came back");
        assert!(c.rate() <= 100.0, "held back by the concurrency, not the rate: {}", c.rate());
        c.finished_elsewhere(&c.pending_ids());
        assert_eq!(c.under_way(), 0, "finished on another node: room again");
        assert!(!c.tick(t).is_empty());
    }

    #[test]
    fn a_cap_bounds_the_rate_and_a_refusing_receiver_brings_it_to_the_floor() {
        let (mut c, mut t, mut next) = (Controller::new(0, 10_000, Some(20.0)), 0, 0);
        assert_eq!(c.rate(), 20.0);
        run(&mut c, &mut t, &mut next, 10 * ROUND_MS, |_| ok(1));
        assert_eq!(c.rate(), 20.0, "HOOKD_BREAKER_RELEASE_RATE caps it");
        run(&mut c, &mut t, &mut next, 100 * ROUND_MS, |_| refused());
        assert_eq!(c.rate(), MIN_RATE);
    }
}
