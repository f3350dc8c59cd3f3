//! The due-time queue's reads: when work is next due, and its figures for /metrics (claiming is the backends' own).

use super::db::{self, Sql};
use super::{Millis, QueueStats, Store, StoreResult, QUEUE_COUNT_CAP};

/// `jobs.kind` of a delivery's job. Written into the statements as a literal: every query on jobs names the kind,
/// and a literal lets SQLite's planner match an index on it.
pub(super) const JOB_DELIVERY: i64 = 0;
/// `jobs.kind` of a timer's job.
pub(super) const JOB_TIMER: i64 = 1;

impl dyn Store {
    /// The earliest time any job becomes claimable (due, or its lease runs out).
    /// (Timer jobs count `timer_lookahead` early.)
    pub async fn next_due_at(&self, timer_lookahead: Millis) -> StoreResult<Option<Millis>> {
        // Each kind's earliest comes from its own range of jobs_kind_run_at; the outer MIN skips a kind with no
        // jobs (SQLite's two-argument MIN, unlike PostgreSQL's LEAST, would make that NULL).
        let q = Sql::new(format!(
            "SELECT MIN(due) FROM (SELECT MIN(run_at) AS due FROM jobs WHERE kind = {JOB_DELIVERY}
                                   UNION ALL SELECT MIN(run_at) - ? FROM jobs WHERE kind = {JOB_TIMER}) AS t"
        ))
        .bind(timer_lookahead);
        Ok(db::fetch_one(self, q, |r| r.get(0)).await?.flatten())
    }

    /// Counts for `/metrics` (index range scans, each capped at [`QUEUE_COUNT_CAP`] rows).
    pub async fn queue_stats(&self, now: Millis) -> StoreResult<QueueStats> {
        // Due jobs are counted per kind (two ranges of jobs_kind_run_at: PostgreSQL has no index on run_at alone),
        // and the sum capped again.
        let due_sum = format!(
            "(SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE kind = {JOB_DELIVERY} AND run_at <= ? LIMIT ?) b)
                       + (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE kind = {JOB_TIMER} AND run_at <= ? LIMIT ?) c)"
        );
        let q = Sql::new(format!(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE kind = {JOB_DELIVERY} LIMIT ?) a),
                    {},
                    (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE kind = {JOB_TIMER} LIMIT ?) d)",
            self.dialect().least(&due_sum, "?"),
        ))
        .bind(QUEUE_COUNT_CAP)
        .bind(now)
        .bind(QUEUE_COUNT_CAP)
        .bind(now)
        .bind(QUEUE_COUNT_CAP)
        .bind(QUEUE_COUNT_CAP)
        .bind(QUEUE_COUNT_CAP);
        let stats = db::fetch_one(self, q, |r| {
            Ok(QueueStats { deliveries: r.get(0)?, due_unclaimed: r.get(1)?, timers: r.get(2)? })
        })
        .await?;
        Ok(stats.unwrap_or_default())
    }
}
