//! Timers: a row and one job in the due-time queue each. The timers API's timers have ids `timer_…`; the cron
//! sources' (`cron_…`, the inbound face's) share the table and the queue, and the reads by organization below
//! leave them out ([`API_TIMERS`]).

use super::db::{self, Row, Sql};
use super::{timer_status, Forward, Millis, Page, Store, StoreError, StoreResult, TimerFilter, TimerRecord, TimerStep};

/// The columns [`timer_row`] reads (also the embedded store's claim of due timers).
pub(super) const TIMER_COLS: &str = "rowid_, id, org_id, status, created_at, expires_at, agent_id, project_id, \
                                     milestones_sent, ended_at, cancel_reason, paused_at, paused_ms, spec, \
                                     cycle_start, runs";

/// The condition that keeps a read to the timers API's timers.
const API_TIMERS: &str = "id LIKE 'timer_%'";

fn timer_row(r: &Row) -> StoreResult<TimerRecord> {
    timer_row_at(r, 0)
}

/// The timer in [`TIMER_COLS`] from column `at` on (the claim reads it after the job's and a message's columns).
pub(super) fn timer_row_at(r: &Row, at: usize) -> StoreResult<TimerRecord> {
    Ok(TimerRecord {
        rowid: r.get(at)?,
        id: r.get(at + 1)?,
        org_id: r.get(at + 2)?,
        status: r.get(at + 3)?,
        created_at: r.get(at + 4)?,
        expires_at: r.get(at + 5)?,
        agent_id: r.get(at + 6)?,
        project_id: r.get(at + 7)?,
        milestones_sent: r.get(at + 8)?,
        ended_at: r.get(at + 9)?,
        cancel_reason: r.get(at + 10)?,
        paused_at: r.get(at + 11)?,
        paused_ms: r.get(at + 12)?,
        spec: r.get(at + 13)?,
        cycle_start: r.get(at + 14)?,
        runs: r.get(at + 15)?,
    })
}

/// Deletes a timer's job by the timer's row id. `kind = 1` (a timer's job) is written out, not bound, so that
/// SQLite uses the partial index `jobs_timer`.
pub(super) fn delete_timer_job(rowid: i64) -> Sql {
    Sql::new("DELETE FROM jobs WHERE kind = 1 AND ref_id = ?").bind(rowid)
}

fn insert_timer_job(rowid: i64, run_at: Millis) -> Sql {
    Sql::new("INSERT INTO jobs (kind, ref_id, run_at, leased, manual) VALUES (1, ?, ?, 0, 0)").bind(rowid).bind(run_at)
}

impl dyn Store {
    /// Stores a timer and its first job (its first milestone or its expiry, at `run_at`).
    pub async fn timer_insert(&self, t: TimerRecord, run_at: Millis) -> StoreResult<()> {
        db::write(self, false, move |db| {
            Box::pin(async move {
                let insert = Sql::new(
                    "INSERT INTO timers (id, org_id, status, created_at, expires_at, agent_id, project_id,
                                         milestones_sent, spec, cycle_start)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING rowid_",
                )
                .bind(&t.id)
                .bind(&t.org_id)
                .bind(t.status)
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.agent_id.as_deref())
                .bind(t.project_id.as_deref())
                .bind(t.milestones_sent)
                .bind(&t.spec)
                .bind(t.cycle_start);
                // Nothing written yet when the id is taken: the conflict spoils no group commit.
                let Some(rowid) = db.row(&insert, |r| r.get::<i64>(0)).await? else {
                    return Err(StoreError::Conflict("A timer with this id already exists".into()));
                };
                db.execute(&insert_timer_job(rowid, run_at)).await?;
                db.due(run_at);
                Ok(())
            })
        })
        .await
    }

    pub async fn timer_get(&self, org_id: &str, id: &str) -> StoreResult<Option<TimerRecord>> {
        let q = Sql::new(format!("SELECT {TIMER_COLS} FROM timers WHERE org_id = ? AND id = ? AND {API_TIMERS}"))
            .bind(org_id)
            .bind(id);
        db::fetch_one(self, q, timer_row).await
    }

    /// Newest first.
    pub async fn timer_list(&self, org_id: &str, f: &TimerFilter, page: &Page) -> StoreResult<Vec<TimerRecord>> {
        let mut q = Sql::new(format!("SELECT {TIMER_COLS} FROM timers WHERE org_id = ? AND {API_TIMERS}")).bind(org_id);
        if let Some(s) = f.status {
            q.push_bind(" AND status = ?", s);
        }
        if let Some(a) = &f.agent_id {
            q.push_bind(" AND agent_id = ?", a);
        }
        if let Some(p) = &f.project_id {
            q.push_bind(" AND project_id = ?", p);
        }
        q.paginate(page, "id");
        db::fetch(self, q, timer_row).await
    }

    /// The running timers of `org_id` whose next firing (milestone or expiry) comes first, soonest first: read
    /// in due order from the queue's index, not by sorting the organization's timers.
    pub async fn timers_due_soon(&self, org_id: &str, limit: usize) -> StoreResult<Vec<TimerRecord>> {
        let q = Sql::new(format!(
            "SELECT {TIMER_COLS} FROM (SELECT t.*, j.run_at AS due_ FROM jobs j JOIN timers t ON t.rowid_ = j.ref_id
             WHERE j.kind = 1 AND t.org_id = ? AND t.status = {} AND t.{API_TIMERS} ORDER BY j.run_at LIMIT ?) s
             ORDER BY due_",
            timer_status::RUNNING
        ))
        .bind(org_id)
        .bind(limit);
        db::fetch(self, q, timer_row).await
    }

    /// Moves a running timer past its due milestones, into its next cycle, or to its end, with the webhooks'
    /// messages in the same commit. None — and nothing written — when the timer was not where `step.from` says
    /// any more (cancelled first).
    pub async fn timer_advance(&self, step: TimerStep, forward: Forward) -> StoreResult<Option<Vec<Vec<(i64, i64)>>>> {
        db::write(self, false, move |db| {
            Box::pin(async move {
                let expire = step.next_run_at.is_none();
                let (status, ended) =
                    if expire { (timer_status::EXPIRED, Some(step.now)) } else { (timer_status::RUNNING, None) };
                let (cycle_start, expires_at) = step.next_cycle.unzip();
                let update = Sql::new(
                    "UPDATE timers SET status = ?, milestones_sent = ?, ended_at = ?,
                        cycle_start = coalesce(CAST(? AS BIGINT), cycle_start),
                        expires_at = coalesce(CAST(? AS BIGINT), expires_at),
                        paused_ms = CASE WHEN CAST(? AS BIGINT) IS NULL THEN paused_ms ELSE 0 END, runs = runs + ?
                     WHERE rowid_ = ? AND status = ? AND milestones_sent = ? AND runs = ?",
                )
                .bind(status)
                .bind(step.milestones_sent)
                .bind(ended)
                .bind(cycle_start)
                .bind(expires_at)
                .bind(cycle_start)
                .bind((expire || step.next_cycle.is_some()) as i64)
                .bind(step.rowid)
                .bind(timer_status::RUNNING)
                .bind(step.from.0)
                .bind(step.from.1);
                let delete_job = Sql::new("DELETE FROM jobs WHERE id = ?").bind(step.job_id);
                if db.execute(&update).await? == 0 {
                    // Cancelled (or moved on by another worker) first: this job has nothing left to do.
                    db.execute(&delete_job).await?;
                    return Ok(None);
                }
                match step.next_run_at {
                    Some(at) => {
                        let lease = db.dialect().lease_freed();
                        let q = Sql::new(format!("UPDATE jobs SET run_at = ?, {lease} WHERE id = ?"))
                            .bind(at)
                            .bind(step.job_id);
                        db.execute(&q).await?;
                        db.due(at);
                    }
                    None => {
                        db.execute(&delete_job).await?;
                    }
                }
                db.insert_messages(&forward).await.map(Some)
            })
        })
        .await
    }

    /// Pauses a running timer: its job leaves the queue. False when it was not running.
    pub async fn timer_pause(&self, org_id: &str, id: &str, now: Millis) -> StoreResult<bool> {
        let q = Sql::new(
            "UPDATE timers SET status = ?, paused_at = ? WHERE org_id = ? AND id = ? AND status = ? RETURNING rowid_",
        )
        .bind(timer_status::PAUSED)
        .bind(now)
        .bind(org_id)
        .bind(id)
        .bind(timer_status::RUNNING);
        db::write(self, false, move |db| {
            Box::pin(async move {
                let Some(rowid) = db.row(&q, |r| r.get::<i64>(0)).await? else { return Ok(false) };
                db.execute(&delete_timer_job(rowid)).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Resumes a timer paused at `paused_at`: its expiry moves `now - paused_at` later and its job is due at
    /// `run_at`. False when it was not paused (at that moment).
    pub async fn timer_resume(
        &self,
        org_id: &str,
        id: &str,
        paused_at: Millis,
        now: Millis,
        run_at: Millis,
    ) -> StoreResult<bool> {
        let shift = (now - paused_at).max(0);
        let q = Sql::new(
            "UPDATE timers SET status = ?, paused_at = NULL, paused_ms = paused_ms + ?, expires_at = expires_at + ?
             WHERE org_id = ? AND id = ? AND status = ? AND paused_at = ? RETURNING rowid_",
        )
        .bind(timer_status::RUNNING)
        .bind(shift)
        .bind(shift)
        .bind(org_id)
        .bind(id)
        .bind(timer_status::PAUSED)
        .bind(paused_at);
        db::write(self, false, move |db| {
            Box::pin(async move {
                let Some(rowid) = db.row(&q, |r| r.get::<i64>(0)).await? else { return Ok(false) };
                db.execute(&insert_timer_job(rowid, run_at)).await?;
                db.due(run_at);
                Ok(true)
            })
        })
        .await
    }

    /// Cancels a running or paused timer and its job, with the cancellation webhook's message in the same
    /// commit. None when it had ended already (expired first, or cancelled).
    pub async fn timer_cancel(
        &self,
        org_id: &str,
        id: &str,
        reason: Option<String>,
        now: Millis,
        forward: Forward,
    ) -> StoreResult<Option<Vec<Vec<(i64, i64)>>>> {
        let q = Sql::new(
            "UPDATE timers SET status = ?, ended_at = ?, cancel_reason = ?
             WHERE org_id = ? AND id = ? AND status = ? RETURNING rowid_",
        )
        .bind(timer_status::CANCELLED)
        .bind(now)
        .bind(reason)
        .bind(org_id)
        .bind(id)
        .bind(timer_status::RUNNING);
        db::write(self, false, move |db| {
            Box::pin(async move {
                let Some(rowid) = db.row(&q, |r| r.get::<i64>(0)).await? else { return Ok(None) };
                db.execute(&delete_timer_job(rowid)).await?;
                db.insert_messages(&forward).await.map(Some)
            })
        })
        .await
    }
}
