//! Destinations' log, cursors, leases and attempts.
//!
//! **The log.** An application's messages in commit order are a log: each message takes the next position of its
//! application's counter (`app_log`) in the very commit that stores it (`messages.log_pos`). On SQLite one writer
//! commits, so positions commit in order. On PostgreSQL the counter's row stays locked until the commit (see
//! `postgres::hot`), so a lower position is never committed after a higher one is visible: a reader that has
//! seen position `p` will never later find a new message below `p`. Positions increase per application; they may
//! have gaps (a publish refused as a duplicate used one).
//!
//! **Cursors.** `destination_state.acked_pos` is the last position a destination's receiver took; it moves only
//! when a batch was acknowledged, and only by the node holding the destination's lease (`leased_by`), so that a
//! node that lost its lease mid-batch cannot move a cursor the new holder owns.

use super::db::{self, Row, Sql};
use super::messages::{message_row, MSG_COLS, MSG_NCOLS};
use super::{MessageRecord, Millis, Store, StoreResult};

/// Where a destination stands.
#[derive(Debug, Clone)]
pub struct DestinationState {
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    /// Enabled and pushed by the engine (a polling endpoint is read by its consumers instead).
    pub active: bool,
    /// The last position acknowledged.
    pub acked_pos: i64,
    /// The application's last position when the destination was made: its log starts after it.
    pub start_pos: i64,
    /// Batches failed in a row at `acked_pos`.
    pub failures: i64,
    pub failing_since: Option<Millis>,
    pub failure_reason: Option<String>,
    /// The failed batch is tried again at this time.
    pub next_retry_at: Option<Millis>,
    pub leased_by: Option<String>,
    pub leased_until: Millis,
}

const STATE_COLS: &str = "id, org_id, app_id, active, acked_pos, start_pos, failures, failing_since, failure_reason,
                          next_retry_at, leased_by, leased_until";

fn state_row(r: &Row) -> StoreResult<DestinationState> {
    Ok(DestinationState {
        id: r.get(0)?,
        org_id: r.get(1)?,
        app_id: r.get(2)?,
        active: r.get(3)?,
        acked_pos: r.get(4)?,
        start_pos: r.get(5)?,
        failures: r.get(6)?,
        failing_since: r.get(7)?,
        failure_reason: r.get(8)?,
        next_retry_at: r.get(9)?,
        leased_by: r.get(10)?,
        leased_until: r.get(11)?,
    })
}

/// A message at its place in the log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub pos: i64,
    pub msg: MessageRecord,
}

/// One batch sent (or tried) to a destination.
#[derive(Debug, Clone)]
pub struct DestinationAttempt {
    pub id: String,
    pub destination_id: String,
    /// [`super::status::SUCCESS`] or [`super::status::FAIL`].
    pub status: i64,
    /// The receiver's HTTP status, 0 when there was none (a sink, or no answer).
    pub status_code: i64,
    pub status_text: String,
    pub first_msg_id: String,
    pub last_msg_id: String,
    pub first_pos: i64,
    pub last_pos: i64,
    pub num_events: i64,
    pub duration_ms: i64,
    pub created_at: Millis,
}

const ATTEMPT_COLS: &str = "id, destination_id, status, status_code, status_text, first_msg_id, last_msg_id, first_pos,
                            last_pos, num_events, duration_ms, created_at";

fn attempt_row(r: &Row) -> StoreResult<DestinationAttempt> {
    Ok(DestinationAttempt {
        id: r.get(0)?,
        destination_id: r.get(1)?,
        status: r.get(2)?,
        status_code: r.get(3)?,
        status_text: r.get(4)?,
        first_msg_id: r.get(5)?,
        last_msg_id: r.get(6)?,
        first_pos: r.get(7)?,
        last_pos: r.get(8)?,
        num_events: r.get(9)?,
        duration_ms: r.get(10)?,
        created_at: r.get(11)?,
    })
}

fn insert_attempt(a: &DestinationAttempt) -> Sql {
    Sql::new(format!("INSERT INTO destination_attempts ({ATTEMPT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
        .bind(a.id.as_str())
        .bind(a.destination_id.as_str())
        .bind(a.status)
        .bind(a.status_code)
        .bind(a.status_text.as_str())
        .bind(a.first_msg_id.as_str())
        .bind(a.last_msg_id.as_str())
        .bind(a.first_pos)
        .bind(a.last_pos)
        .bind(a.num_events)
        .bind(a.duration_ms)
        .bind(a.created_at)
}

/// How a failed batch leaves its destination.
#[derive(Debug, Clone)]
pub struct Failed {
    /// The cursor the batch was read after: a skip since then makes the failure stale.
    pub from: i64,
    pub reason: String,
    /// When to try again; None gives up (the destination is made inactive).
    pub next_retry_at: Option<Millis>,
}

/// How far behind an active destination is, for `/metrics`.
#[derive(Debug, Clone)]
pub struct DestinationLag {
    pub id: String,
    pub app_id: String,
    /// Events it has yet to take (those it does not take included): its application's log minus its cursor.
    pub lag: i64,
    /// Waiting to retry a failed batch.
    pub retrying: bool,
}

impl dyn Store {
    /// The active destinations' lag behind their applications' logs.
    pub async fn destinations_lag(&self) -> StoreResult<Vec<DestinationLag>> {
        let q = Sql::new(
            "SELECT s.id, s.app_id, a.last_pos - s.acked_pos, CASE WHEN s.next_retry_at IS NULL THEN 0 ELSE 1 END
             FROM destination_state s JOIN app_log a ON a.app_id = s.app_id WHERE s.active = 1",
        );
        db::fetch(self, q, |r| {
            Ok(DestinationLag { id: r.get(0)?, app_id: r.get(1)?, lag: r.get(2)?, retrying: r.get::<i64>(3)? == 1 })
        })
        .await
    }

    /// The application's last log position (0 before its first message).
    pub async fn log_head(&self, app_id: &str) -> StoreResult<i64> {
        let q = Sql::new("SELECT last_pos FROM app_log WHERE app_id = ?").bind(app_id);
        Ok(db::fetch_one(self, q, |r| r.get(0)).await?.unwrap_or(0))
    }

    /// Up to `limit` messages of the application after position `after`, in log order.
    pub async fn log_read(&self, app_id: &str, after: i64, limit: usize) -> StoreResult<Vec<LogEntry>> {
        let q = Sql::new(format!(
            "SELECT {MSG_COLS}, m.log_pos FROM messages m WHERE m.app_id = ? AND m.log_pos > ?
             ORDER BY m.log_pos LIMIT ?"
        ))
        .bind(app_id)
        .bind(after)
        .bind(limit);
        db::fetch(self, q, |r| Ok(LogEntry { msg: message_row(r, 0)?, pos: r.get(MSG_NCOLS)? })).await
    }

    /// The last position of the application's messages created before `before` (for a seek), or `floor`.
    pub async fn log_position_before(&self, app_id: &str, before: Millis, floor: i64) -> StoreResult<i64> {
        let q =
            Sql::new("SELECT MAX(log_pos) FROM messages WHERE app_id = ? AND log_pos IS NOT NULL AND created_at < ?")
                .bind(app_id)
                .bind(before);
        let pos: Option<i64> = db::fetch_one(self, q, |r| r.get(0)).await?.flatten();
        Ok(pos.unwrap_or(floor).max(floor))
    }

    /// Starts a destination's cursor at the application's current end: it receives what is published from now on.
    pub async fn destination_state_create(
        &self,
        id: &str,
        org_id: &str,
        app_id: &str,
        active: bool,
    ) -> StoreResult<()> {
        let head = "COALESCE((SELECT last_pos FROM app_log WHERE app_id = ?), 0)";
        let q = Sql::new(format!(
            "INSERT INTO destination_state ({STATE_COLS}) VALUES (?, ?, ?, ?, {head}, {head}, 0, NULL, NULL, NULL, NULL, 0)"
        ))
        .bind(id)
        .bind(org_id)
        .bind(app_id)
        .bind(active)
        .bind(app_id)
        .bind(app_id);
        db::run(self, q).await?;
        Ok(())
    }

    pub async fn destination_state(&self, id: &str) -> StoreResult<Option<DestinationState>> {
        let q = Sql::new(format!("SELECT {STATE_COLS} FROM destination_state WHERE id = ?")).bind(id);
        db::fetch_one(self, q, state_row).await
    }

    /// Whether the engine pushes to the destination; turning it on again clears its failures.
    pub async fn destination_set_active(&self, id: &str, active: bool) -> StoreResult<()> {
        let q = Sql::new(
            "UPDATE destination_state SET active = ?,
                 failures = CASE WHEN ? = 1 AND active = 0 THEN 0 ELSE failures END,
                 next_retry_at = CASE WHEN ? = 1 AND active = 0 THEN NULL ELSE next_retry_at END
             WHERE id = ?",
        )
        .bind(active)
        .bind(active)
        .bind(active)
        .bind(id);
        db::run(self, q).await?;
        Ok(())
    }

    /// Removes the destination's cursor, its consumers' and its attempts.
    pub async fn destination_state_delete(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        db::write(self, false, move |db| {
            Box::pin(async move {
                for table in [
                    "destination_state WHERE id",
                    "destination_attempts WHERE destination_id",
                    "poller_consumers WHERE destination_id",
                ] {
                    db.execute(&Sql::new(format!("DELETE FROM {table} = ?")).bind(id.as_str())).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Takes the lease of every active destination no other node holds, renews those of `node`'s that end before
    /// `renew_before`, each until `until`; returns every destination `node` holds.
    pub async fn destinations_claim(
        &self,
        node: &str,
        now: Millis,
        renew_before: Millis,
        until: Millis,
    ) -> StoreResult<Vec<DestinationState>> {
        let claim = db::claim_leases("destination_state", node, now, renew_before, until);
        let held = Sql::new(format!(
            "SELECT {STATE_COLS} FROM destination_state WHERE active = 1 AND leased_by = ? AND leased_until >= ?"
        ))
        .bind(node)
        .bind(now);
        db::write(self, false, move |db| {
            Box::pin(async move {
                db.execute(&claim).await?;
                db.rows(&held, state_row).await
            })
        })
        .await
    }

    /// Frees the leases `node` holds (a graceful stop), or every lease (`None`: the start of the one process an
    /// embedded store has).
    pub async fn destinations_release(&self, node: Option<&str>) -> StoreResult<()> {
        db::run(self, db::release_leases("destination_state", node)).await?;
        Ok(())
    }

    /// Records a batch taken: the cursor moves to `attempt.last_pos` (or `to`, past messages the destination does
    /// not take), provided `node` still holds the lease and the cursor is still at `from`. False otherwise (the
    /// batch may be sent again by the new holder: at least once).
    pub async fn destination_ack(
        &self,
        id: &str,
        node: &str,
        from: i64,
        to: i64,
        attempt: Option<DestinationAttempt>,
    ) -> StoreResult<bool> {
        let q = Sql::new(
            "UPDATE destination_state SET acked_pos = ?, failures = 0, failing_since = NULL, failure_reason = NULL,
                 next_retry_at = NULL
             WHERE id = ? AND leased_by = ? AND acked_pos = ?",
        )
        .bind(to)
        .bind(id)
        .bind(node)
        .bind(from);
        db::write(self, false, move |db| {
            Box::pin(async move {
                let moved = db.execute(&q).await? > 0;
                if let Some(a) = attempt {
                    db.execute(&insert_attempt(&a)).await?;
                }
                Ok(moved)
            })
        })
        .await
    }

    /// Records a failed batch: the cursor stays, the destination waits for `failed.next_retry_at` (or gives up).
    /// False, with only the attempt recorded, when `node` lost the lease or the cursor moved (a skip) meanwhile.
    pub async fn destination_fail(
        &self,
        id: &str,
        node: &str,
        failed: Failed,
        attempt: DestinationAttempt,
    ) -> StoreResult<bool> {
        let now = attempt.created_at;
        let q = Sql::new(
            "UPDATE destination_state SET failures = failures + 1, failing_since = COALESCE(failing_since, ?),
                 failure_reason = ?, next_retry_at = ?, active = ?
             WHERE id = ? AND leased_by = ? AND acked_pos = ?",
        )
        .bind(now)
        .bind(failed.reason.as_str())
        .bind(failed.next_retry_at)
        .bind(failed.next_retry_at.is_some())
        .bind(id)
        .bind(node)
        .bind(failed.from);
        db::write(self, false, move |db| {
            Box::pin(async move {
                let held = db.execute(&q).await? > 0;
                db.execute(&insert_attempt(&attempt)).await?;
                Ok(held)
            })
        })
        .await
    }

    /// `skip`: moves the cursor to `to` whatever it was, and forgets the failures.
    pub async fn destination_skip(&self, id: &str, to: i64) -> StoreResult<()> {
        let q = Sql::new(
            "UPDATE destination_state SET acked_pos = ?, failures = 0, failing_since = NULL, failure_reason = NULL,
                 next_retry_at = NULL WHERE id = ?",
        )
        .bind(to)
        .bind(id);
        db::run(self, q).await?;
        Ok(())
    }

    /// `force-retry`: a failing batch is due now.
    pub async fn destination_retry_now(&self, id: &str, now: Millis) -> StoreResult<()> {
        let q = Sql::new("UPDATE destination_state SET next_retry_at = ? WHERE id = ? AND next_retry_at IS NOT NULL")
            .bind(now)
            .bind(id);
        db::run(self, q).await?;
        Ok(())
    }

    /// A destination's attempts, newest first, paged by id.
    pub async fn destination_attempts(&self, id: &str, page: &super::Page) -> StoreResult<Vec<DestinationAttempt>> {
        let mut q =
            Sql::new(format!("SELECT {ATTEMPT_COLS} FROM destination_attempts WHERE destination_id = ?")).bind(id);
        q.paginate(page, "id");
        db::fetch(self, q, attempt_row).await
    }

    pub async fn destination_attempt(&self, id: &str, attempt_id: &str) -> StoreResult<Option<DestinationAttempt>> {
        let q =
            Sql::new(format!("SELECT {ATTEMPT_COLS} FROM destination_attempts WHERE destination_id = ? AND id = ?"))
                .bind(id)
                .bind(attempt_id);
        db::fetch_one(self, q, attempt_row).await
    }

    /// The log position of the last event a batch taken held.
    pub async fn destination_last_taken(&self, id: &str) -> StoreResult<Option<i64>> {
        let q = Sql::new(
            "SELECT last_pos FROM destination_attempts WHERE destination_id = ? AND status = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(id)
        .bind(super::status::SUCCESS);
        db::fetch_one(self, q, |r| r.get(0)).await
    }

    /// A polling endpoint's consumer's cursor, if it has one.
    pub async fn poller_consumer(&self, id: &str, consumer: &str) -> StoreResult<Option<i64>> {
        let q = Sql::new("SELECT acked_pos FROM poller_consumers WHERE destination_id = ? AND consumer_id = ?")
            .bind(id)
            .bind(consumer);
        db::fetch_one(self, q, |r| r.get(0)).await
    }

    pub async fn poller_consumer_set(&self, id: &str, consumer: &str, pos: i64, now: Millis) -> StoreResult<()> {
        let q = Sql::new(
            "INSERT INTO poller_consumers (destination_id, consumer_id, acked_pos, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (destination_id, consumer_id) DO UPDATE SET acked_pos = excluded.acked_pos,
                 updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(consumer)
        .bind(pos)
        .bind(now);
        db::run(self, q).await?;
        Ok(())
    }
}
