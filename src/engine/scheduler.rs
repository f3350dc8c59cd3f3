//! The one due-time queue's consumer. It claims due jobs (with a lease) in batches and hands them to the
//! dispatcher; then it sleeps until the earliest due job, or until told that something earlier was queued.
//! Nothing polls in a busy loop: with several nodes on one database the sleep is capped so that work queued by
//! another node is seen within `max_poll_interval`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::Engine;
use crate::shutdown::Shutdown;
use crate::store::{now_ms, DueJob, Millis, TimerJob};

const CLAIM_BATCH: usize = 256;
/// Timer jobs are claimed this early and wait for their exact moment, so the claim's commit is not lateness.
pub const TIMER_LOOKAHEAD_MS: i64 = 5;

pub struct Wake {
    notify: Notify,
    /// When the scheduler plans to wake next; `i64::MAX` while it is awake, so that a hint arriving between its
    /// reading the queue and going to sleep is kept (as a `Notify` permit) rather than lost.
    planned: AtomicI64,
}

impl Default for Wake {
    fn default() -> Self {
        Wake { notify: Notify::new(), planned: AtomicI64::new(i64::MAX) }
    }
}

impl Wake {
    /// Wakes the scheduler early if `at` comes before its planned wake-up.
    pub fn hint(&self, at: Millis) {
        if at < self.planned.load(Ordering::Acquire) {
            self.notify.notify_one();
        }
    }

    async fn sleep_until(&self, at: Millis) {
        self.planned.store(at, Ordering::Release);
        let ms = (at - now_ms()).max(0) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = self.notify.notified() => {}
        }
        self.planned.store(i64::MAX, Ordering::Release);
    }
}

/// Runs what a due timer job asks for. The timers face registers one ([`Engine::set_timer_handler`]); the
/// engine knows a timer only as a job with a payload.
#[async_trait::async_trait]
pub trait TimerHandler: Send + Sync {
    /// Handles a due milestone or expiry; if it fails, the job's lease brings it back.
    async fn fire(&self, engine: Arc<Engine>, job: TimerJob);
}

/// What one pass of the scheduler did.
#[derive(Debug, PartialEq, Eq)]
pub enum ExecutionOutcome {
    /// Handed a full batch (or waited for dispatch room): more may be due right away.
    More,
    /// Handed this many jobs (possibly none); nothing else is due now.
    Drained(usize),
}

impl Engine {
    /// One scheduler pass: claims what is due and hands it to the dispatcher.
    pub async fn try_execute_task(self: &Arc<Self>) -> anyhow::Result<ExecutionOutcome> {
        let want = self.ready.capacity().min(CLAIM_BATCH);
        if want == 0 {
            // The dispatcher is saturated; wait for room rather than spin.
            drop(self.ready.reserve().await?);
            return Ok(ExecutionOutcome::More);
        }
        let permits = self.ready.try_reserve_many(want)?;
        let now = now_ms();
        let lease_until = now + self.cfg.lease.as_millis() as i64;
        let jobs = self.store.claim_due(now, lease_until, want, TIMER_LOOKAHEAD_MS).await?;
        let n = jobs.len();
        for (permit, job) in permits.zip(jobs) {
            let due_at = match &job {
                DueJob::Delivery(d) => d.due_at,
                DueJob::Timer(t) => t.due_at,
            };
            self.metrics.scheduler_lag_seconds.observe(super::metrics::seconds_between(due_at, now));
            match job {
                DueJob::Delivery(d) => permit.send(d),
                DueJob::Timer(t) => match self.timer_handler(&t.timer.id) {
                    Some(handler) => {
                        let engine = self.clone();
                        let span = crate::telemetry::timer_span(&t.timer.id, t.due_at);
                        tokio::spawn(async move { span.run(handler.fire(engine, t)).await });
                    }
                    // No timers face in this process: the lease brings the job back to one that has it.
                    None => tracing::warn!(timer = %t.timer.id, "a timer is due but no timer handler is registered"),
                },
            }
        }
        Ok(if n == want { ExecutionOutcome::More } else { ExecutionOutcome::Drained(n) })
    }

    pub async fn run_scheduler(self: Arc<Self>, shutdown: Shutdown) {
        while !shutdown.is_set() {
            match self.try_execute_task().await {
                Ok(ExecutionOutcome::More) => continue,
                Ok(ExecutionOutcome::Drained(_)) => {}
                Err(e) => tracing::error!(error = ?e, "scheduler pass failed"),
            }
            let now = now_ms();
            let cap = now + self.cfg.max_poll_interval.as_millis() as i64;
            let next = self.store.next_due_at(TIMER_LOOKAHEAD_MS).await.ok().flatten().unwrap_or(cap);
            tokio::select! {
                _ = self.wake.sleep_until(next.clamp(now, cap)) => {}
                _ = shutdown.wait() => return,
            }
        }
    }
}
