//! Idempotency keys: claimed atomically across nodes, answered again from the stored response (sealed when the store has a main key).

use super::db::{self, Sql};
use super::{now_ms, IdempotencyClaim, Millis, Store, StoreResult, StoredResponse};

impl dyn Store {
    pub async fn idempotency_put(&self, org_id: &str, key: &str, mut resp: StoredResponse) -> StoreResult<()> {
        // The answer may show a secret (an endpoint's signing key, say).
        if let Some(main_key) = self.main_key() {
            resp.body = main_key.seal_answer(org_id, key, &resp.body);
        }
        let q = Sql::new(
            "INSERT INTO idempotency (org_id, key, created_at, status, body) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (org_id, key) DO UPDATE SET created_at = excluded.created_at,
               status = excluded.status, body = excluded.body",
        )
        .bind(org_id)
        .bind(key)
        .bind(now_ms())
        .bind(resp.status as i64)
        .bind(resp.body);
        db::run(self, q).await?;
        Ok(())
    }

    /// Claims `key` for a request about to run, atomically across nodes. A finished answer older than `since`, or
    /// a mark in progress older than `stale` (its request died with its node), is taken over.
    pub async fn idempotency_begin(
        &self,
        org_id: &str,
        key: &str,
        since: Millis,
        stale: Millis,
    ) -> StoreResult<IdempotencyClaim> {
        // Status 0 marks a claim in progress, with an empty body.
        let claim = Sql::new(
            "INSERT INTO idempotency (org_id, key, created_at, status, body) VALUES (?, ?, ?, 0, ?)
             ON CONFLICT (org_id, key) DO UPDATE SET created_at = excluded.created_at, status = 0, body = excluded.body
             WHERE idempotency.created_at < ? OR (idempotency.status = 0 AND idempotency.created_at < ?)
             RETURNING 1",
        )
        .bind(org_id)
        .bind(key)
        .bind(now_ms())
        .bind(Vec::<u8>::new())
        .bind(since)
        .bind(stale);
        let found =
            Sql::new("SELECT status, body FROM idempotency WHERE org_id = ? AND key = ?").bind(org_id).bind(key);
        let claim = db::write(self, false, move |db| {
            Box::pin(async move {
                if !db.query(&claim).await?.is_empty() {
                    return Ok(IdempotencyClaim::Run);
                }
                // The row that conflicted is locked by this transaction's attempt: it is still there.
                let row: Option<(i64, Vec<u8>)> = db.row(&found, |r| Ok((r.get(0)?, r.get(1)?))).await?;
                Ok(match row {
                    Some((status, body)) if status != 0 => {
                        IdempotencyClaim::Done(StoredResponse { status: status as u16, body })
                    }
                    _ => IdempotencyClaim::Running,
                })
            })
        })
        .await?;
        match (claim, self.main_key()) {
            (IdempotencyClaim::Done(mut resp), Some(main_key)) => {
                resp.body = main_key.open_answer(org_id, key, resp.body)?;
                Ok(IdempotencyClaim::Done(resp))
            }
            (claim, _) => Ok(claim),
        }
    }

    /// Lets go of a claimed key whose request did not succeed, so that it may be retried.
    pub async fn idempotency_abandon(&self, org_id: &str, key: &str) -> StoreResult<()> {
        let q = Sql::new("DELETE FROM idempotency WHERE org_id = ? AND key = ? AND status = 0").bind(org_id).bind(key);
        db::run(self, q).await?;
        Ok(())
    }
}
