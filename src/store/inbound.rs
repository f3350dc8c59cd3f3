//! Inbound events as they arrived, deduplicated by the provider's delivery id, and the counters behind a registration's health.

use std::collections::HashMap;
use std::sync::Arc;

use super::db::{self, Row, Sql};
use super::{Forward, InboundEventRecord, InboundStats, MessageRecord, Millis, NewDelivery, Page, Store, StoreResult};

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
        let forward: Forward = forward.into_iter().collect();
        db::write(self, false, move |db| {
            Box::pin(async move {
                if db.query(&insert).await?.is_empty() {
                    // A delivery id seen before: a duplicate, and nothing was written.
                    return Ok(None);
                }
                db.execute(&count).await?;
                Ok(Some(db.insert_messages(&forward).await?.pop().unwrap_or_default()))
            })
        })
        .await
    }

    /// Counts a refused request (bad signature, bad body).
    pub async fn inbound_failure(&self, registration_id: &str, at: Millis) -> StoreResult<()> {
        let q = Sql::new(
            "INSERT INTO inbound_stats (registration_id, total, failures, consecutive_failures, last_failure_at)
             VALUES (?, 1, 1, 1, ?)
             ON CONFLICT (registration_id) DO UPDATE SET total = inbound_stats.total + 1,
               failures = inbound_stats.failures + 1,
               consecutive_failures = inbound_stats.consecutive_failures + 1, last_failure_at = ?",
        )
        .bind(registration_id)
        .bind(at)
        .bind(at);
        db::run(self, q).await?;
        Ok(())
    }

    pub async fn inbound_stats(&self, registration_ids: Vec<String>) -> StoreResult<HashMap<String, InboundStats>> {
        let mut found = HashMap::with_capacity(registration_ids.len());
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
                    };
                    Ok((r.get::<String>(0)?, stats))
                })
                .await?,
            );
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
