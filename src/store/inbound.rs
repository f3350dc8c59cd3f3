//! Inbound events as they arrived, deduplicated by the provider's delivery id; the requests refused, with why
//! (the newest [`INBOUND_REFUSED_KEPT`] per registration, pruned by time too); and the counters behind a
//! registration's health: totals, failures in a row, and hourly counts for its recent window. And the leases of
//! queue sources (registrations that consume from a broker), as destinations hold theirs (`store::destinations`).

use std::collections::HashMap;
use std::sync::Arc;

use super::db::{self, Row, Sql};
use super::{
    Forward, InboundEventRecord, InboundRefusedRecord, InboundStats, MessageRecord, Millis, NewDelivery, Page, Store,
    StoreResult,
};

/// Refused requests kept per registration: the newest.
pub const INBOUND_REFUSED_KEPT: usize = 100;
/// How long refused requests (and the hourly counts of a registration's health) are kept.
pub const INBOUND_REFUSED_KEPT_MS: Millis = 7 * 24 * 3_600_000;
const HOUR_MS: Millis = 3_600_000;

const REFUSED_COLS: &str =
    "id, org_id, registration_id, received_at, status, reason, detail, source_ip, headers, body, body_size";

fn refused_row(r: &Row) -> StoreResult<InboundRefusedRecord> {
    Ok(InboundRefusedRecord {
        id: r.get(0)?,
        org_id: r.get(1)?,
        registration_id: r.get(2)?,
        received_at: r.get(3)?,
        status: r.get(4)?,
        reason: r.get(5)?,
        detail: r.get(6)?,
        source_ip: r.get(7)?,
        headers: r.get(8)?,
        body: r.get(9)?,
        body_size: r.get(10)?,
    })
}

/// Adds a request to its registration's count for the hour of `at`.
fn count_in_hour(registration_id: &str, at: Millis, accepted: i64, refused: i64) -> Sql {
    Sql::new(
        "INSERT INTO inbound_health (registration_id, hour, accepted, refused) VALUES (?, ?, ?, ?)
         ON CONFLICT (registration_id, hour) DO UPDATE SET accepted = inbound_health.accepted + excluded.accepted,
           refused = inbound_health.refused + excluded.refused",
    )
    .bind(registration_id)
    .bind(at.div_euclid(HOUR_MS))
    .bind(accepted)
    .bind(refused)
}

const INBOUND_COLS: &str =
    "id, org_id, registration_id, delivery_id, received_at, match_key, forwarded_msg_id, headers, normalized, body";

fn inbound_row(r: &Row) -> StoreResult<InboundEventRecord> {
    Ok(InboundEventRecord {
        id: r.get(0)?,
        org_id: r.get(1)?,
        registration_id: r.get(2)?,
        delivery_id: r.get(3)?,
        received_at: r.get(4)?,
        match_key: r.get(5)?,
        forwarded_msg_id: r.get(6)?,
        headers: r.get(7)?,
        normalized: r.get(8)?,
        body: r.get(9)?,
    })
}

impl dyn Store {
    /// Stores a verified inbound event, counts it as a success and, in the same commit, the message it
    /// forwards. None when the provider's delivery id was seen before (nothing is written).
    pub async fn inbound_accept(
        &self,
        e: InboundEventRecord,
        forward: Option<(Arc<MessageRecord>, Vec<NewDelivery>)>,
    ) -> StoreResult<Option<Vec<(i64, i64)>>> {
        let insert = Sql::new(format!(
            "INSERT INTO inbound_events ({INBOUND_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING RETURNING 1"
        ))
        .bind(&e.id)
        .bind(&e.org_id)
        .bind(&e.registration_id)
        .bind(e.delivery_id.as_deref())
        .bind(e.received_at)
        .bind(&e.match_key)
        .bind(e.forwarded_msg_id.as_deref())
        .bind(&e.headers)
        .bind(&e.normalized)
        .bind(e.body);
        let count = Sql::new(
            "INSERT INTO inbound_stats (registration_id, total, last_event_at) VALUES (?, 1, ?)
             ON CONFLICT (registration_id) DO UPDATE SET total = inbound_stats.total + 1,
               consecutive_failures = 0, last_event_at = ?",
        )
        .bind(&e.registration_id)
        .bind(e.received_at)
        .bind(e.received_at);
        let hour = count_in_hour(&e.registration_id, e.received_at, 1, 0);
        let forward: Forward = forward.into_iter().collect();
        db::write(self, false, move |db| {
            Box::pin(async move {
                if db.query(&insert).await?.is_empty() {
                    // A delivery id seen before: a duplicate, and nothing was written.
                    return Ok(None);
                }
                db.execute(&count).await?;
                db.execute(&hour).await?;
                Ok(Some(db.insert_messages(&forward).await?.pop().unwrap_or_default()))
            })
        })
        .await
    }

    /// Keeps a refused request, dropping the registration's oldest beyond [`INBOUND_REFUSED_KEPT`]; when
    /// `failure`, counts it against the registration's health too (a bad signature or body: not a request over
    /// the rate, nor one to an inactive registration).
    pub async fn inbound_refuse(&self, r: InboundRefusedRecord, failure: bool) -> StoreResult<()> {
        let count = failure.then(|| {
            Sql::new(
                "INSERT INTO inbound_stats (registration_id, total, failures, consecutive_failures, last_failure_at)
                 VALUES (?, 1, 1, 1, ?)
                 ON CONFLICT (registration_id) DO UPDATE SET total = inbound_stats.total + 1,
                   failures = inbound_stats.failures + 1,
                   consecutive_failures = inbound_stats.consecutive_failures + 1, last_failure_at = ?",
            )
            .bind(&r.registration_id)
            .bind(r.received_at)
            .bind(r.received_at)
        });
        let hour = failure.then(|| count_in_hour(&r.registration_id, r.received_at, 0, 1));
        let prune = Sql::new(format!(
            "DELETE FROM inbound_refused WHERE registration_id = ? AND id < (SELECT id FROM inbound_refused
               WHERE registration_id = ? ORDER BY id DESC LIMIT 1 OFFSET {})",
            INBOUND_REFUSED_KEPT - 1
        ))
        .bind(&r.registration_id)
        .bind(&r.registration_id);
        let insert =
            Sql::new(format!("INSERT INTO inbound_refused ({REFUSED_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
                .bind(r.id)
                .bind(r.org_id)
                .bind(r.registration_id)
                .bind(r.received_at)
                .bind(r.status)
                .bind(r.reason)
                .bind(r.detail)
                .bind(r.source_ip)
                .bind(r.headers)
                .bind(r.body)
                .bind(r.body_size);
        db::write(self, false, move |db| {
            Box::pin(async move {
                for q in count.iter().chain(&hour).chain([&insert, &prune]) {
                    db.execute(q).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// A registration's refused requests, newest first.
    pub async fn inbound_refused(
        &self,
        org_id: &str,
        registration_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<InboundRefusedRecord>> {
        let mut q =
            Sql::new(format!("SELECT {REFUSED_COLS} FROM inbound_refused WHERE org_id = ? AND registration_id = ?"))
                .bind(org_id)
                .bind(registration_id);
        q.paginate(page, "id");
        db::fetch(self, q, refused_row).await
    }

    /// Deletes the refused requests received before `before`, and the hourly counts older than that; returns how
    /// many rows. (The count bound holds at each insert; this bounds the time, for registrations that stopped
    /// receiving.)
    pub async fn inbound_prune(&self, before: Millis) -> StoreResult<u64> {
        let refused = db::run(self, Sql::new("DELETE FROM inbound_refused WHERE received_at < ?").bind(before)).await?;
        let hours = Sql::new("DELETE FROM inbound_health WHERE hour < ?").bind(before.div_euclid(HOUR_MS));
        Ok(refused + db::run(self, hours).await?)
    }

    /// The registrations' counters, with their recent window: the hours from the one holding `since` on.
    pub async fn inbound_stats(
        &self,
        registration_ids: Vec<String>,
        since: Millis,
    ) -> StoreResult<HashMap<String, InboundStats>> {
        let mut found: HashMap<String, InboundStats> = HashMap::with_capacity(registration_ids.len());
        // In lists of at most a thousand: SQLite takes 32,766 arguments a statement, and an organization may have
        // more registrations.
        for ids in registration_ids.chunks(1000) {
            let mut q = Sql::new(
                "SELECT registration_id, total, failures, consecutive_failures, last_event_at, last_failure_at
                 FROM inbound_stats WHERE 1 = 1",
            );
            q.and_in("registration_id", ids);
            found.extend(
                db::fetch(self, q, |r| {
                    let stats = InboundStats {
                        total: r.get(1)?,
                        failures: r.get(2)?,
                        consecutive_failures: r.get(3)?,
                        last_event_at: r.get(4)?,
                        last_failure_at: r.get(5)?,
                        ..Default::default()
                    };
                    Ok((r.get::<String>(0)?, stats))
                })
                .await?,
            );
            let mut q = Sql::new(
                "SELECT registration_id, CAST(SUM(accepted) AS BIGINT), CAST(SUM(refused) AS BIGINT)
                 FROM inbound_health WHERE hour >= ?",
            )
            .bind(since.div_euclid(HOUR_MS));
            q.and_in("registration_id", ids).push(" GROUP BY registration_id");
            let rows: Vec<(String, i64, i64)> = db::fetch(self, q, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).await?;
            for (id, accepted, refused) in rows {
                let s = found.entry(id).or_default();
                (s.recent_total, s.recent_failures) = (accepted + refused, refused);
            }
            // At most the kept refused requests of each registration are read.
            let mut q =
                Sql::new("SELECT registration_id, reason, COUNT(*) FROM inbound_refused WHERE received_at >= ?")
                    .bind(since);
            q.and_in("registration_id", ids).push(" GROUP BY registration_id, reason");
            let rows: Vec<(String, String, i64)> =
                db::fetch(self, q, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).await?;
            for (id, reason, n) in rows {
                found.entry(id).or_default().recent_reasons.push((reason, n));
            }
        }
        for s in found.values_mut() {
            s.recent_reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
        Ok(registration_ids
            .into_iter()
            .map(|id| {
                let stats = found.get(&id).cloned().unwrap_or_default();
                (id, stats)
            })
            .collect())
    }

    /// Newest first.
    pub async fn inbound_events(
        &self,
        org_id: &str,
        registration_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<InboundEventRecord>> {
        let mut q =
            Sql::new(format!("SELECT {INBOUND_COLS} FROM inbound_events WHERE org_id = ? AND registration_id = ?"))
                .bind(org_id)
                .bind(registration_id);
        q.paginate(page, "id");
        db::fetch(self, q, inbound_row).await
    }

    pub async fn inbound_event(
        &self,
        org_id: &str,
        registration_id: &str,
        id: &str,
    ) -> StoreResult<Option<InboundEventRecord>> {
        let q = Sql::new(format!(
            "SELECT {INBOUND_COLS} FROM inbound_events WHERE org_id = ? AND registration_id = ? AND id = ?"
        ))
        .bind(org_id)
        .bind(registration_id)
        .bind(id);
        db::fetch_one(self, q, inbound_row).await
    }
}

/// A queue source as its leases see it.
#[derive(Debug, Clone)]
pub struct QueueSourceLease {
    pub registration_id: String,
    pub org_id: String,
    /// The registration's `updated_at` when its lease row was last written: a newer one means a new config.
    pub version: Millis,
}

impl dyn Store {
    /// Makes (or updates) a queue source's lease row: `active` when the registration is not inactive; `version`
    /// its `updated_at`. The lease itself is left as it is.
    pub async fn queue_source_set(
        &self,
        registration_id: &str,
        org_id: &str,
        active: bool,
        version: Millis,
    ) -> StoreResult<()> {
        let q = Sql::new(
            "INSERT INTO queue_sources (registration_id, org_id, active, version, leased_by, leased_until)
             VALUES (?, ?, ?, ?, NULL, 0)
             ON CONFLICT (registration_id) DO UPDATE SET active = excluded.active, version = excluded.version",
        )
        .bind(registration_id)
        .bind(org_id)
        .bind(active)
        .bind(version);
        db::run(self, q).await?;
        Ok(())
    }

    pub async fn queue_source_delete(&self, registration_id: &str) -> StoreResult<()> {
        db::run(self, Sql::new("DELETE FROM queue_sources WHERE registration_id = ?").bind(registration_id)).await?;
        Ok(())
    }

    /// Takes the lease of every active queue source no other node holds, renews those of `node`'s that end before
    /// `renew_before`, each until `until`; returns every queue source `node` holds. (As
    /// [`Self::destinations_claim`] does, and for the same reasons.)
    pub async fn queue_sources_claim(
        &self,
        node: &str,
        now: Millis,
        renew_before: Millis,
        until: Millis,
    ) -> StoreResult<Vec<QueueSourceLease>> {
        let claim = db::claim_leases("queue_sources", node, now, renew_before, until);
        let held = Sql::new(
            "SELECT registration_id, org_id, version FROM queue_sources
             WHERE active = 1 AND leased_by = ? AND leased_until >= ?",
        )
        .bind(node)
        .bind(now);
        db::write(self, false, move |db| {
            Box::pin(async move {
                db.execute(&claim).await?;
                db.rows(&held, |r| {
                    Ok(QueueSourceLease { registration_id: r.get(0)?, org_id: r.get(1)?, version: r.get(2)? })
                })
                .await
            })
        })
        .await
    }

    /// Frees the queue sources' leases `node` holds (a graceful stop), or every lease (`None`: the start of the one
    /// process an embedded store has).
    pub async fn queue_sources_release(&self, node: Option<&str>) -> StoreResult<()> {
        db::run(self, db::release_leases("queue_sources", node)).await?;
        Ok(())
    }
}
