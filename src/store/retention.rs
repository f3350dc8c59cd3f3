//! Retention: deleting messages (with their deliveries and attempts) past their retention, and emptying attempts'
//! response bodies sooner. Everything goes in small batches, each its own commit, walking ranges of the
//! time-ordered ids on the tables' primary keys (or `messages_app`), so no index is needed beyond the API's own and
//! the hot path never waits long behind a batch.

use std::collections::HashSet;

use super::db::{self, Dialect, Sql};
use super::deliveries::padded;
use super::{status, Millis, Store, StoreResult};

/// What a prune removed (and what it had to keep).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub messages: u64,
    pub deliveries: u64,
    pub attempts: u64,
    /// Messages old enough that stay because a delivery of theirs is still pending or being sent.
    pub kept_pending: u64,
}

impl std::ops::AddAssign for Pruned {
    fn add_assign(&mut self, o: Pruned) {
        self.messages += o.messages;
        self.deliveries += o.deliveries;
        self.attempts += o.attempts;
        self.kept_pending += o.kept_pending;
    }
}

/// Which messages a prune looks at.
#[derive(Debug, Clone)]
pub enum PruneScope {
    /// One application's (walks `messages_app`).
    App(String),
    /// Every application's but these, which have a retention of their own (walks the primary key, and so walks
    /// over the messages of those that keep them longer).
    AllExcept(HashSet<String>),
}

/// The meta value holding the attempt id up to which response bodies have been emptied: each pass starts there,
/// instead of walking again the attempts it emptied before.
const RESPONSES_CLEARED_TO: &str = "responses_cleared_to";

/// The next `batch` messages of `scope` created before `cutoff` with ids in `(after, upper)`, in id order: a range
/// of the primary key, or of `messages_app` for one application.
pub(super) fn candidates_sql(scope: &PruneScope, after: &str, upper: &str, cutoff: Millis, batch: usize) -> Sql {
    let mut q = Sql::new("SELECT m.id, m.app_id FROM messages m WHERE m.id > ? AND m.id < ? AND m.created_at < ?")
        .bind(after)
        .bind(upper)
        .bind(cutoff);
    if let PruneScope::App(app_id) = scope {
        q.push_bind(" AND m.app_id = ?", app_id);
    }
    q.push(&format!(" ORDER BY m.id LIMIT {batch}"));
    q
}

/// Locks the messages `ids` that no other node is pruning, and returns them: two nodes pruning at once share the
/// work and never count a row twice. Only the messages to delete are locked, not those a prune walks over.
pub(super) fn lock_sql(dialect: Dialect, ids: &[String]) -> Sql {
    let mut q = Sql::new("SELECT id FROM messages WHERE 1 = 1");
    q.and_in("id", &padded(ids));
    q.push(&format!(" ORDER BY id{}", dialect.skip_locked()));
    q
}

/// `text` (whose two `?` are the pending and sending statuses) for the deliveries of the messages `ids`, found
/// through `deliveries_msg`.
pub(super) fn by_msg(text: &str, ids: &[String]) -> Sql {
    let mut q = Sql::new(text).bind(status::PENDING).bind(status::SENDING);
    q.and_in("msg_id", &padded(ids));
    q
}

/// Deletes those of the messages `ids` left without deliveries, returning their ids.
pub(super) fn delete_messages_sql(ids: &[String]) -> Sql {
    let mut q =
        Sql::new("DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = messages.id)");
    q.and_in("id", &padded(ids));
    q.push(" RETURNING id");
    q
}

/// Deletes the attempts of the messages `ids`, found through `attempts_msg`.
pub(super) fn delete_attempts_sql(ids: &[String]) -> Sql {
    let mut q = Sql::new("DELETE FROM attempts WHERE 1 = 1");
    q.and_in("msg_id", &padded(ids));
    q
}

/// The next `batch` attempts with ids in `(after, upper)`, on the primary key, passing over those locked (being
/// deleted by a prune).
pub(super) fn attempts_after_sql(dialect: Dialect, after: &str, upper: &str, batch: usize) -> Sql {
    Sql::new(format!(
        "SELECT id, created_at FROM attempts WHERE id > ? AND id < ? ORDER BY id LIMIT {batch}{}",
        dialect.skip_locked()
    ))
    .bind(after)
    .bind(upper)
}

impl dyn Store {
    /// Applications with a retention of their own: (application id, days).
    pub async fn app_retentions(&self) -> StoreResult<Vec<(String, i64)>> {
        let field = self.dialect().json_field("data");
        let q =
            Sql::new(format!("SELECT id, CAST({field} AS BIGINT) FROM docs WHERE {field} IS NOT NULL AND kind = ?"))
                .bind("retention_days")
                .bind("retention_days")
                .bind(super::DocKind::Application.as_str());
        db::fetch(self, q, |r| Ok((r.get(0)?, r.get(1)?))).await
    }

    /// Deletes the messages of `scope` created before `cutoff`, with their deliveries and attempts, `batch`
    /// messages a commit, yielding between commits. A message with a delivery still pending or being sent is
    /// kept (and counted in `kept_pending`).
    pub async fn prune_messages(&self, scope: &PruneScope, cutoff: Millis, batch: usize) -> StoreResult<Pruned> {
        let (_, upper) = crate::ids::time_range(crate::ids::MSG, None, Some(cutoff));
        let upper = upper.expect("a bound for a time");
        let mut total = Pruned::default();
        let mut after = String::new();
        loop {
            let (pruned, last) = self.prune_batch(scope, &after, &upper, cutoff, batch).await?;
            total += pruned;
            match last {
                Some(last) => after = last,
                None => return Ok(total),
            }
            tokio::task::yield_now().await;
        }
    }

    /// One commit of [`prune_messages`](Self::prune_messages): the messages after `after` (up to `batch` of
    /// them). Returns what it removed and the last id it looked at, None once the range is done.
    async fn prune_batch(
        &self,
        scope: &PruneScope,
        after: &str,
        upper: &str,
        cutoff: Millis,
        batch: usize,
    ) -> StoreResult<(Pruned, Option<String>)> {
        let (scope, after, upper) = (scope.clone(), after.to_string(), upper.to_string());
        db::write(self, false, move |db| {
            Box::pin(async move {
                let q = candidates_sql(&scope, &after, &upper, cutoff, batch);
                let rows: Vec<(String, String)> = db.rows(&q, |r| Ok((r.get(0)?, r.get(1)?))).await?;
                let Some((last, _)) = rows.last().cloned() else { return Ok((Pruned::default(), None)) };
                let mut ids: Vec<String> = match &scope {
                    PruneScope::AllExcept(apps) => {
                        rows.into_iter().filter(|(_, app)| !apps.contains(app)).map(|(id, _)| id).collect()
                    }
                    PruneScope::App(_) => rows.into_iter().map(|(id, _)| id).collect(),
                };
                let mut pruned = Pruned::default();
                if !ids.is_empty() {
                    ids = db.rows(&lock_sql(db.dialect(), &ids), |r| r.get(0)).await?;
                }
                if !ids.is_empty() {
                    let q = by_msg("SELECT DISTINCT msg_id FROM deliveries WHERE status IN (?, ?)", &ids);
                    let pending: HashSet<String> = db.rows(&q, |r| r.get(0)).await?.into_iter().collect();
                    pruned.kept_pending = pending.len() as u64;
                    ids.retain(|id| !pending.contains(id));
                }
                if !ids.is_empty() {
                    // Deliveries first, each only if it is still finished: one resent meanwhile stays, and so do
                    // its message and attempts (nothing in flight is lost).
                    let q = by_msg("DELETE FROM deliveries WHERE status NOT IN (?, ?)", &ids);
                    pruned.deliveries = db.execute(&q).await?;
                    let q = delete_messages_sql(&ids);
                    let gone: Vec<String> = db.rows(&q, |r| r.get(0)).await?;
                    pruned.messages = gone.len() as u64;
                    if !gone.is_empty() {
                        let q = delete_attempts_sql(&gone);
                        pruned.attempts = db.execute(&q).await?;
                    }
                }
                Ok((pruned, Some(last)))
            })
        })
        .await
    }

    /// Empties the response bodies of attempts made before `cutoff`, `batch` attempts a commit, yielding between
    /// commits; returns how many it emptied. One node at a time does it (it holds the meta row; another node finds
    /// it held and leaves the work to it), and it passes over attempts a prune is deleting: it never waits for a
    /// lock, so that it cannot hold up, or deadlock, the group commits it shares with the hot path.
    pub async fn clear_responses(&self, cutoff: Millis, batch: usize) -> StoreResult<u64> {
        let (_, upper) = crate::ids::time_range(crate::ids::ATTEMPT, None, Some(cutoff));
        let upper = upper.expect("a bound for a time");
        // The row must exist to be held.
        let q = Sql::new("INSERT INTO meta (name, value) VALUES (?, '') ON CONFLICT (name) DO NOTHING")
            .bind(RESPONSES_CLEARED_TO);
        db::run(self, q).await?;
        let mut total = 0;
        loop {
            let upper = upper.clone();
            let (n, more) = db::write(self, false, move |db| {
                Box::pin(async move {
                    let skip_locked = db.dialect().skip_locked();
                    let q = Sql::new(format!("SELECT value FROM meta WHERE name = ?{skip_locked}"))
                        .bind(RESPONSES_CLEARED_TO);
                    let Some(from) = db.row(&q, |r| r.get::<String>(0)).await? else { return Ok((0, false)) };
                    let q = attempts_after_sql(db.dialect(), &from, &upper, batch);
                    let rows: Vec<(String, Millis)> = db.rows(&q, |r| Ok((r.get(0)?, r.get(1)?))).await?;
                    // The bound is to the second: attempts of `cutoff`'s second made after it wait for the next pass.
                    let ids: Vec<String> =
                        rows.iter().take_while(|(_, at)| *at < cutoff).map(|(id, _)| id.clone()).collect();
                    let Some(last) = ids.last().cloned() else { return Ok((0, false)) };
                    let mut q = Sql::new("UPDATE attempts SET response = '' WHERE response <> ''");
                    q.and_in("id", &padded(&ids));
                    let n = db.execute(&q).await?;
                    let q = Sql::new("UPDATE meta SET value = ? WHERE name = ?").bind(&last).bind(RESPONSES_CLEARED_TO);
                    db.execute(&q).await?;
                    Ok((n, rows.len() == batch))
                })
            })
            .await?;
            total += n;
            if !more {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }
}
