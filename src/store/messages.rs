//! Messages: published in one commit with their deliveries (the backends' hot path), read, searched and expunged here.

use std::sync::Arc;

use super::db::{self, Dialect, Row, Sql};
use super::jobs::JOB_DELIVERY;
use super::{status, MessageFilter, MessageRecord, MessageSearch, MessageState, Millis, Page, Store, StoreResult};

/// A message's columns, `m` being `messages`, as [`message_row`] reads them.
pub(super) const MSG_COLS: &str =
    "m.id, m.org_id, m.app_id, m.event_type, m.event_id, m.channels, m.payload, m.created_at, m.payload_expires_at, \
     m.traceparent";
/// How many columns [`MSG_COLS`] has: the next table's columns start there.
pub(super) const MSG_NCOLS: usize = 10;

/// The message in [`MSG_COLS`] from column `at` on.
pub(super) fn message_row(r: &Row, at: usize) -> StoreResult<MessageRecord> {
    let channels: Option<String> = r.get(at + 5)?;
    Ok(MessageRecord {
        id: r.get(at)?,
        org_id: r.get(at + 1)?,
        app_id: r.get(at + 2)?,
        event_type: r.get(at + 3)?,
        event_id: r.get(at + 4)?,
        channels: channels.and_then(|c| serde_json::from_str(&c).ok()),
        payload: r.get::<Option<Arc<str>>>(at + 6)?,
        created_at: r.get(at + 7)?,
        payload_expires_at: r.get(at + 8)?,
        traceparent: r.get::<Option<String>>(at + 9)?.map(String::into_boxed_str),
    })
}

/// Appends the conditions of `f` on the messages aliased `m`.
pub(super) fn message_filter(q: &mut Sql, dialect: Dialect, f: &MessageFilter, m: &str) {
    if let Some(ch) = &f.channel {
        q.push_bind(&format!(" AND {}", dialect.json_array_has(&format!("{m}.channels"))), ch);
    }
    if let Some(types) = f.event_types.as_ref().filter(|t| !t.is_empty()) {
        q.and_in(&format!("{m}.event_type"), types);
    }
    if let Some(b) = f.before {
        q.push_bind(&format!(" AND {m}.created_at < ?"), b);
    }
    if let Some(a) = f.after {
        q.push_bind(&format!(" AND {m}.created_at > ?"), a);
    }
}

/// The dashboard's message search as SQL (see `message_search` below).
pub(super) fn search_sql(dialect: Dialect, org_id: &str, app_id: &str, f: &MessageSearch, page: &Page) -> Sql {
    // Failed and pending messages are found from their deliveries (the partial index of those that gave up, or
    // the due-time queue), the others by walking the application's messages; either way in message id order.
    // A message with several such deliveries is one row.
    let (distinct, group) = dialect.distinct_on("d.msg_id");
    let (text, col) = match f.state {
        Some(MessageState::Failed) => (
            format!(
                "SELECT {distinct}{MSG_COLS} FROM deliveries d{} JOIN messages m ON m.id = d.msg_id
                 WHERE d.app_id = ? AND d.failed_at IS NOT NULL AND m.org_id = ?",
                dialect.indexed_by("deliveries_failed")
            ),
            "d.msg_id",
        ),
        Some(MessageState::Pending) => (
            format!(
                "SELECT {distinct}{MSG_COLS} FROM jobs j JOIN deliveries d ON d.id = j.ref_id
                 JOIN messages m ON m.id = d.msg_id WHERE j.kind = {JOB_DELIVERY} AND d.app_id = ? AND m.org_id = ?"
            ),
            "d.msg_id",
        ),
        _ => (format!("SELECT {MSG_COLS} FROM messages m WHERE m.app_id = ? AND m.org_id = ?"), "m.id"),
    };
    let mut q = Sql::new(text).bind(app_id).bind(org_id);
    let (lower, upper) = crate::ids::time_range(crate::ids::MSG, f.since, f.until);
    for (bound, op) in [(lower, ">="), (upper, "<")] {
        if let Some(b) = bound {
            q.push_bind(&format!(" AND {col} {op} ?"), b);
        }
    }
    if let Some(since) = f.since {
        q.push_bind(" AND m.created_at >= ?", since);
    }
    if let Some(until) = f.until {
        q.push_bind(" AND m.created_at < ?", until);
    }
    if let Some(t) = &f.event_type {
        q.push_bind(" AND m.event_type = ?", t);
    }
    if f.state == Some(MessageState::Delivered) {
        q.push(&format!(
            " AND EXISTS (SELECT 1 FROM deliveries s WHERE s.msg_id = m.id AND s.status = {ok})
              AND NOT EXISTS (SELECT 1 FROM deliveries s WHERE s.msg_id = m.id AND s.status <> {ok})",
            ok = status::SUCCESS
        ));
    }
    if col == "d.msg_id" {
        // As `paginate`, with SQLite's GROUP BY between the cursor and the order.
        let desc = page.walk_desc();
        if let Some(it) = page.iterator.as_ref().filter(|it| !it.is_empty()) {
            q.push_bind(&format!(" AND d.msg_id {} ?", if desc { "<" } else { ">" }), it);
        }
        let dir = if desc { "DESC" } else { "ASC" };
        q.push(&format!("{group} ORDER BY d.msg_id {dir} LIMIT {}", page.limit + 1));
    } else {
        q.paginate(page, "m.id");
    }
    q
}

impl dyn Store {
    /// By id or `eventId`.
    pub async fn message_get(&self, org_id: &str, app_id: &str, key: &str) -> StoreResult<Option<MessageRecord>> {
        let q = Sql::new(format!(
            "SELECT {MSG_COLS} FROM messages m WHERE m.org_id = ? AND m.app_id = ? AND (m.id = ? OR m.event_id = ?)
             ORDER BY (m.id = ?) DESC LIMIT 1"
        ))
        .bind(org_id)
        .bind(app_id)
        .bind(key)
        .bind(key)
        .bind(key);
        db::fetch_one(self, q, |r| message_row(r, 0)).await
    }

    pub async fn message_list(
        &self,
        org_id: &str,
        app_id: &str,
        filter: &MessageFilter,
        page: &Page,
    ) -> StoreResult<Vec<MessageRecord>> {
        let mut q = Sql::new(format!("SELECT {MSG_COLS} FROM messages m WHERE m.org_id = ? AND m.app_id = ?"))
            .bind(org_id)
            .bind(app_id);
        message_filter(&mut q, self.dialect(), filter, "m");
        q.paginate(page, "m.id");
        db::fetch(self, q, |r| message_row(r, 0)).await
    }

    pub async fn message_expunge(&self, org_id: &str, app_id: &str, msg_id: &str) -> StoreResult<bool> {
        let q = Sql::new("UPDATE messages SET payload = NULL WHERE org_id = ? AND app_id = ? AND id = ?")
            .bind(org_id)
            .bind(app_id)
            .bind(msg_id);
        Ok(db::run(self, q).await? > 0)
    }

    /// The dashboard's search, newest first, paged by message id. Message ids are ordered by creation time
    /// ([`crate::ids::time_range`]), so a time range walks the application's id index; failed messages come from
    /// the deliveries that gave up (a partial index), pending ones from the due-time queue.
    pub async fn message_search(
        &self,
        org_id: &str,
        app_id: &str,
        search: &MessageSearch,
        page: &Page,
    ) -> StoreResult<Vec<MessageRecord>> {
        let q = search_sql(self.dialect(), org_id, app_id, search, page);
        db::fetch(self, q, |r| message_row(r, 0)).await
    }

    /// Expunges up to `limit` payloads whose retention ended before `now` and that no pending delivery still
    /// needs; returns how many.
    pub async fn expunge_expired_payloads(&self, now: Millis, limit: usize) -> StoreResult<usize> {
        let q = Sql::new(
            "UPDATE messages SET payload = NULL WHERE id IN (
                 SELECT m.id FROM messages m
                 WHERE m.payload IS NOT NULL AND m.payload_expires_at < ?
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN (?, ?))
                 LIMIT ?)",
        )
        .bind(now)
        .bind(status::PENDING)
        .bind(status::SENDING)
        .bind(limit);
        Ok(db::run(self, q).await? as usize)
    }

    /// Messages of the application created in `[since, until)` with an id after `after`, that have no delivery
    /// to `endpoint_id`, oldest first, at most `limit`, with their payloads (for the endpoint's payload filter;
    /// replay-missing pages through these).
    #[allow(clippy::too_many_arguments)]
    pub async fn messages_without_delivery(
        &self,
        org_id: &str,
        app_id: &str,
        endpoint_id: &str,
        since: Millis,
        until: Millis,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>> {
        let q = Sql::new(
            "SELECT m.id, m.org_id, m.app_id, m.event_type, m.event_id, m.channels, m.payload, m.created_at,
                    m.payload_expires_at
             FROM messages m
             WHERE m.org_id = ? AND m.app_id = ? AND m.created_at >= ? AND m.created_at < ? AND m.id > ?
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ?)
             ORDER BY m.id LIMIT ?",
        )
        .bind(org_id)
        .bind(app_id)
        .bind(since)
        .bind(until)
        .bind(after.unwrap_or(""))
        .bind(endpoint_id)
        .bind(limit);
        db::fetch(self, q, |r| message_row(r, 0)).await
    }
}
