//! Idempotency keys: claimed atomically across nodes, answered again from the stored response (sealed when the store has a main key).

use super::db::{self, Sql};
use std::sync::Arc;

use super::{
    now_ms, Forward, IdempotencyClaim, MessageRecord, Millis, NewDelivery, Store, StoreResult, StoredResponse,
};

impl dyn Store {
    pub async fn idempotency_put(&self, org_id: &str, key: &str, mut resp: StoredResponse) -> StoreResult<()> {
        resp.body = self.sealed(org_id, key, resp.body);
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
        let claim = claim_sql(org_id, key, 0, Vec::new(), since, stale);
        let found = found_sql(org_id, key);
        let claim = db::write(self, false, move |db| {
            Box::pin(async move {
                if !db.query(&claim).await?.is_empty() {
                    return Ok(IdempotencyClaim::Run);
                }
                // The row that conflicted is locked by this transaction's attempt: it is still there, and live.
                Ok(standing(db.row(&found, found_row).await?, since, stale))
            })
        })
        .await?;
        self.opened(org_id, key, claim)
    }

    /// How `key` stands, read without claiming it: an answer to replay, a request still running, or free (`Run`)
    /// — for a request whose own commit found the key taken ([`Self::publish_claiming`]).
    pub async fn idempotency_peek(
        &self,
        org_id: &str,
        key: &str,
        since: Millis,
        stale: Millis,
    ) -> StoreResult<IdempotencyClaim> {
        let row = db::fetch_one(self, found_sql(org_id, key), found_row).await?;
        self.opened(org_id, key, standing(row, since, stale))
    }

    /// Publishes a message and keeps `answer` as `key`'s, in one commit — unless another request took the key
    /// first (on any node, now or within `since`): then nothing is written, and None says to replay that
    /// request's answer. So an SDK's
    /// publish, which always carries a key, costs one group commit rather than three (claim, message, answer).
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_claiming(
        &self,
        org_id: &str,
        key: &str,
        since: Millis,
        stale: Millis,
        answer: StoredResponse,
        msg: Arc<MessageRecord>,
        deliveries: Vec<NewDelivery>,
    ) -> StoreResult<Option<Vec<(i64, i64)>>> {
        let body = self.sealed(org_id, key, answer.body);
        let claim = claim_sql(org_id, key, answer.status as i64, body, since, stale);
        let forward: Forward = vec![(msg, deliveries)];
        db::write(self, false, move |db| {
            Box::pin(async move {
                if db.query(&claim).await?.is_empty() {
                    return Ok(None);
                }
                Ok(Some(db.insert_messages(&forward).await?.pop().unwrap_or_default()))
            })
        })
        .await
    }

    /// An answer as stored: sealed when the store has a main key (it may show a secret, an endpoint's signing
    /// key say).
    fn sealed(&self, org_id: &str, key: &str, body: Vec<u8>) -> Vec<u8> {
        match self.main_key() {
            Some(main_key) => main_key.seal_answer(org_id, key, &body),
            None => body,
        }
    }

    fn opened(&self, org_id: &str, key: &str, claim: IdempotencyClaim) -> StoreResult<IdempotencyClaim> {
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

/// Takes `key` with `status` and `body` unless a live claim holds it: a finished answer newer than `since`, or a
/// mark in progress newer than `stale`. Answers a row when taken.
fn claim_sql(org_id: &str, key: &str, status: i64, body: Vec<u8>, since: Millis, stale: Millis) -> Sql {
    Sql::new(
        "INSERT INTO idempotency (org_id, key, created_at, status, body) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (org_id, key) DO UPDATE SET created_at = excluded.created_at, status = excluded.status,
           body = excluded.body
         WHERE idempotency.created_at < ? OR (idempotency.status = 0 AND idempotency.created_at < ?)
         RETURNING 1",
    )
    .bind(org_id)
    .bind(key)
    .bind(now_ms())
    .bind(status)
    .bind(body)
    .bind(since)
    .bind(stale)
}

fn found_sql(org_id: &str, key: &str) -> Sql {
    Sql::new("SELECT status, body, created_at FROM idempotency WHERE org_id = ? AND key = ?").bind(org_id).bind(key)
}

fn found_row(r: &super::db::Row) -> StoreResult<(i64, Vec<u8>, Millis)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

/// How a key's row stands: an answer newer than `since` to replay, a request in progress newer than `stale`, or
/// free (none, or one to take over).
fn standing(row: Option<(i64, Vec<u8>, Millis)>, since: Millis, stale: Millis) -> IdempotencyClaim {
    match row {
        Some((status, body, at)) if status != 0 && at >= since => {
            IdempotencyClaim::Done(StoredResponse { status: status as u16, body })
        }
        Some((0, _, at)) if at >= stale => IdempotencyClaim::Running,
        _ => IdempotencyClaim::Run,
    }
}
