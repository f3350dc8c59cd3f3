//! Deliveries and their attempts: listings, stats, dead letters, and putting deliveries back in the queue.

use super::db::{self, Dialect, Row, Sql};
use super::jobs::JOB_DELIVERY;
use super::messages::{message_filter, message_row, MSG_COLS, MSG_NCOLS};
use super::{
    now_ms, status, AttemptFilter, AttemptRecord, DeliveryRecord, EndpointStats, Failing, MessageFilter, MessageRecord,
    Millis, Page, ReplayFilter, Requeue, Store, StoreResult, JOB_PARKED,
};

pub(super) const ATTEMPT_COLS: &str = "a.id, a.org_id, a.app_id, a.msg_id, a.endpoint_id, a.url, a.status_code, \
                                       a.status, a.manual, a.duration_ms, a.response, a.created_at";

pub(super) fn attempt_row(r: &Row) -> StoreResult<AttemptRecord> {
    Ok(AttemptRecord {
        id: r.get(0)?,
        org_id: r.get(1)?,
        app_id: r.get(2)?,
        msg_id: r.get(3)?,
        endpoint_id: r.get(4)?,
        url: r.get(5)?,
        status_code: r.get(6)?,
        status: r.get(7)?,
        manual: r.get(8)?,
        duration_ms: r.get(9)?,
        response: r.get(10)?,
        created_at: r.get(11)?,
    })
}

pub(super) const DELIVERY_COLS: &str =
    "d.id, d.msg_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, d.updated_at";

/// A delivery from the row's columns `at..at + 7` (after a message's, in a join).
pub(super) fn delivery_row(r: &Row, at: usize) -> StoreResult<DeliveryRecord> {
    Ok(DeliveryRecord {
        delivery_id: r.get(at)?,
        msg_id: r.get(at + 1)?,
        endpoint_id: r.get(at + 2)?,
        status: r.get(at + 3)?,
        attempts: r.get(at + 4)?,
        next_attempt_at: r.get(at + 5)?,
        updated_at: r.get(at + 6)?,
    })
}

/// `attempt_list` as SQL (its plan is tested in the SQLite store).
pub(super) fn attempt_sql(dialect: Dialect, org_id: &str, app_id: &str, f: &AttemptFilter, page: &Page) -> Sql {
    // An endpoint's failed attempts have an index of their own (its condition written out, for SQLite to see it).
    let failed_of_endpoint = f.endpoint_id.is_some() && f.status == Some(status::FAIL);
    let hint = if failed_of_endpoint { dialect.indexed_by("attempts_endpoint_failed") } else { String::new() };
    let mut q = Sql::new(format!("SELECT {ATTEMPT_COLS} FROM attempts a{hint}"));
    let needs_msg = f.event_types.is_some() || f.channel.is_some();
    if needs_msg {
        q.push(" JOIN messages m ON m.id = a.msg_id");
    }
    q.push_bind(" WHERE a.org_id = ?", org_id).push_bind(" AND a.app_id = ?", app_id);
    if let Some(m) = &f.msg_id {
        q.push_bind(" AND a.msg_id = ?", m);
    }
    if let Some(e) = &f.endpoint_id {
        q.push_bind(" AND a.endpoint_id = ?", e);
    }
    match f.status {
        Some(_) if failed_of_endpoint => q.push(&format!(" AND a.status = {}", status::FAIL)),
        Some(s) => q.push_bind(" AND a.status = ?", s),
        None => &mut q,
    };
    if let Some(class) = f.status_code_class {
        let hi = if class == 0 { 100 } else { class + 100 };
        q.push_bind(" AND a.status_code >= ?", class).push_bind(" AND a.status_code < ?", hi);
    }
    if let Some(b) = f.before {
        q.push_bind(" AND a.created_at < ?", b);
    }
    if let Some(a) = f.after {
        q.push_bind(" AND a.created_at > ?", a);
    }
    if needs_msg {
        let mf = MessageFilter { channel: f.channel.clone(), event_types: f.event_types.clone(), ..Default::default() };
        message_filter(&mut q, dialect, &mf, "m");
    }
    q.paginate(page, "a.id");
    q
}

/// `messages_of_endpoint` as SQL (its plan is tested in the SQLite store): the endpoint's deliveries (of one
/// status) with their messages, in message id order. `of` is the org, the application and the endpoint.
pub(super) fn endpoint_messages_sql(
    dialect: Dialect,
    of: [&str; 3],
    status: Option<i64>,
    filter: &MessageFilter,
    page: &Page,
) -> Sql {
    let [org_id, app_id, endpoint_id] = of;
    // Dead letters (failed, `failed_at` set) have an index of their own.
    let dead = status == Some(status::FAIL);
    let hint = if dead { dialect.indexed_by("deliveries_endpoint_failed") } else { String::new() };
    let mut q = Sql::new(format!(
        "SELECT {MSG_COLS}, {DELIVERY_COLS} FROM deliveries d{hint} JOIN messages m ON m.id = d.msg_id
         WHERE d.org_id = ? AND d.app_id = ? AND d.endpoint_id = ?"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(endpoint_id);
    match status {
        Some(_) if dead => q.push(" AND d.failed_at IS NOT NULL"),
        Some(s) => q.push_bind(" AND d.status = ?", s),
        None => &mut q,
    };
    message_filter(&mut q, dialect, filter, "m");
    q.paginate(page, "d.msg_id");
    q
}

/// How many ids one statement of `requeue` takes.
const CHUNK: usize = 512;

/// `ids` padded to a power of two with its last id: an `IN` list then has one of a few lengths, so the
/// statements the connections keep prepared (the PostgreSQL writer keeps every text it ran) stay few.
pub(super) fn padded<T: Clone>(ids: &[T]) -> Vec<T> {
    let mut v = ids.to_vec();
    if let Some(last) = ids.last() {
        v.resize(ids.len().next_power_of_two(), last.clone());
    }
    v
}

/// The start of an update that puts an application's deliveries back in the queue, due `now`; the caller adds
/// which ones and `RETURNING id`. `hint` follows the table's name.
fn pending_again(hint: &str, org_id: &str, app_id: &str, now: Millis) -> Sql {
    Sql::new(format!(
        "UPDATE deliveries{hint} SET status = ?, next_attempt_at = ?, updated_at = ?, failed_at = NULL
         WHERE org_id = ? AND app_id = ?"
    ))
    .bind(status::PENDING)
    .bind(now)
    .bind(now)
    .bind(org_id)
    .bind(app_id)
}

/// The insert of a first delivery to `endpoint_id`, due `now`, for the application's messages the caller names.
fn new_deliveries(org_id: &str, app_id: &str, endpoint_id: &str, now: Millis) -> Sql {
    Sql::new(
        "INSERT INTO deliveries (org_id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, updated_at)
         SELECT org_id, app_id, id, CAST(? AS TEXT), CAST(? AS BIGINT), 0, CAST(? AS BIGINT), CAST(? AS BIGINT)
         FROM messages WHERE org_id = ? AND app_id = ?",
    )
    .bind(endpoint_id)
    .bind(status::PENDING)
    .bind(now)
    .bind(now)
    .bind(org_id)
    .bind(app_id)
}

impl dyn Store {
    /// How the endpoint has been failing, if it is.
    pub async fn endpoint_failing(&self, endpoint_id: &str) -> StoreResult<Option<Failing>> {
        let q = Sql::new("SELECT since, failures FROM endpoint_failing WHERE endpoint_id = ?").bind(endpoint_id);
        db::fetch_one(self, q, |r| Ok(Failing { since: r.get(0)?, consecutive: r.get(1)? })).await
    }

    /// The jobs held for an endpoint ([`JOB_PARKED`]), in delivery order, at most `limit`: what its circuit's
    /// release controller frees a few at a time once the circuit closes (see `engine::release`). One scan of the
    /// queue's pending rows (jobs holds no finished work) per pass, so that each few is then freed by id.
    pub async fn endpoint_held(&self, endpoint_id: &str, limit: usize) -> StoreResult<Vec<i64>> {
        let q = Sql::new(format!(
            "SELECT j.id FROM jobs j JOIN deliveries d ON d.id = j.ref_id
             WHERE j.kind = {JOB_DELIVERY} AND j.leased = ? AND d.endpoint_id = ? ORDER BY j.ref_id LIMIT {limit}"
        ))
        .bind(JOB_PARKED)
        .bind(endpoint_id);
        db::fetch(self, q, |r| r.get(0)).await
    }

    /// Frees these held jobs (some of [`Self::endpoint_held`]'s, in order), each due at its time. A job no longer
    /// held (another node freed it first, or it came due by itself) is left alone. Returns the ids freed.
    pub async fn jobs_release(&self, due: &[(i64, Millis)]) -> StoreResult<Vec<i64>> {
        let Some(first) = due.iter().map(|d| d.1).min() else { return Ok(Vec::new()) };
        // Padded like an IN list, so that the statement texts stay few.
        let due = padded(due);
        let values = vec!["(CAST(? AS BIGINT), CAST(? AS BIGINT))"; due.len()].join(", ");
        let mut q = Sql::new(format!(
            "UPDATE jobs SET run_at = v.column2, leased = 0 FROM (VALUES {values}) AS v
             WHERE jobs.id = v.column1 AND jobs.leased = ?"
        ));
        for (id, at) in due {
            q = q.bind(id).bind(at);
        }
        q = q.bind(JOB_PARKED);
        q.push(" RETURNING jobs.id");
        db::write(self, false, move |db| {
            Box::pin(async move {
                let freed: Vec<i64> = db.rows(&q, |r| r.get(0)).await?;
                if !freed.is_empty() {
                    db.due(first);
                }
                Ok(freed)
            })
        })
        .await
    }

    /// Which of these jobs are still under way: leased (being sent), or waiting to be claimed at `until` at the
    /// latest (the last time they were freed for). A job finished (deleted), waiting for a retry, deferred by a
    /// throttle or held again is not.
    pub async fn jobs_under_way(&self, ids: &[i64], until: Millis) -> StoreResult<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::new(format!(
            "SELECT id FROM jobs WHERE kind = {JOB_DELIVERY} AND (leased = 1 OR (leased = 0 AND run_at <= ?))"
        ))
        .bind(until);
        q.and_in("id", &padded(ids));
        db::fetch(self, q, |r| r.get(0)).await
    }

    pub async fn attempt_list(
        &self,
        org_id: &str,
        app_id: &str,
        filter: &AttemptFilter,
        page: &Page,
    ) -> StoreResult<Vec<AttemptRecord>> {
        db::fetch(self, attempt_sql(self.dialect(), org_id, app_id, filter, page), attempt_row).await
    }

    pub async fn attempt_get(
        &self,
        org_id: &str,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<Option<AttemptRecord>> {
        let q = Sql::new(format!(
            "SELECT {ATTEMPT_COLS} FROM attempts a WHERE a.org_id = ? AND a.app_id = ? AND a.msg_id = ? AND a.id = ?"
        ))
        .bind(org_id)
        .bind(app_id)
        .bind(msg_id)
        .bind(attempt_id);
        db::fetch_one(self, q, attempt_row).await
    }

    pub async fn attempt_expunge(
        &self,
        org_id: &str,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<bool> {
        let q = Sql::new("UPDATE attempts SET response = '' WHERE org_id = ? AND app_id = ? AND msg_id = ? AND id = ?")
            .bind(org_id)
            .bind(app_id)
            .bind(msg_id)
            .bind(attempt_id);
        Ok(db::run(self, q).await? > 0)
    }

    pub async fn deliveries_of_message(
        &self,
        org_id: &str,
        app_id: &str,
        msg_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut q = Sql::new(format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d WHERE d.org_id = ? AND d.app_id = ? AND d.msg_id = ?"
        ))
        .bind(org_id)
        .bind(app_id)
        .bind(msg_id);
        q.paginate(page, "d.endpoint_id");
        db::fetch(self, q, |r| delivery_row(r, 0)).await
    }

    pub async fn messages_of_endpoint(
        &self,
        org_id: &str,
        app_id: &str,
        endpoint_id: &str,
        status: Option<i64>,
        filter: &MessageFilter,
        page: &Page,
    ) -> StoreResult<Vec<(MessageRecord, DeliveryRecord)>> {
        let q = endpoint_messages_sql(self.dialect(), [org_id, app_id, endpoint_id], status, filter, page);
        db::fetch(self, q, |r| Ok((message_row(r, 0)?, delivery_row(r, MSG_NCOLS)?))).await
    }

    pub async fn endpoint_stats(
        &self,
        org_id: &str,
        app_id: &str,
        endpoint_id: &str,
        since: Option<Millis>,
        until: Option<Millis>,
    ) -> StoreResult<EndpointStats> {
        let q = Sql::new(
            "SELECT d.status, COUNT(*) FROM deliveries d JOIN messages m ON m.id = d.msg_id
             WHERE d.org_id = ? AND d.app_id = ? AND d.endpoint_id = ? AND m.created_at >= ? AND m.created_at < ?
             GROUP BY d.status",
        )
        .bind(org_id)
        .bind(app_id)
        .bind(endpoint_id)
        .bind(since.unwrap_or(i64::MIN))
        .bind(until.unwrap_or(i64::MAX));
        let rows: Vec<(i64, i64)> = db::fetch(self, q, |r| Ok((r.get(0)?, r.get(1)?))).await?;
        let mut stats = EndpointStats::default();
        for (st, n) in rows {
            match st {
                status::SUCCESS => stats.success += n,
                status::PENDING => stats.pending += n,
                status::FAIL => stats.fail += n,
                status::SENDING => stats.sending += n,
                _ => stats.canceled += n,
            }
        }
        Ok(stats)
    }

    /// The deliveries `filter` picks, as (delivery id, message id), of messages with an id after `after`, in
    /// message id order, at most `limit`.
    pub async fn deliveries_matching(
        &self,
        org_id: &str,
        app_id: &str,
        filter: &ReplayFilter,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String)>> {
        let mut q = Sql::new(
            "SELECT d.id, d.msg_id FROM deliveries d JOIN messages m ON m.id = d.msg_id
             WHERE d.org_id = ? AND d.app_id = ? AND d.endpoint_id = ? AND d.msg_id > ?
               AND m.created_at >= ? AND m.created_at < ?",
        )
        .bind(org_id)
        .bind(app_id)
        .bind(&filter.endpoint_id)
        .bind(after)
        .bind(filter.since)
        .bind(filter.until);
        q.and_in("d.status", &filter.statuses);
        let mf = MessageFilter {
            channel: filter.channel.clone(),
            event_types: filter.event_types.clone(),
            ..Default::default()
        };
        message_filter(&mut q, self.dialect(), &mf, "m");
        q.push(&format!(" ORDER BY d.msg_id LIMIT {limit}"));
        db::fetch(self, q, |r| Ok((r.get(0)?, r.get(1)?))).await
    }

    /// Puts deliveries back in the queue, due now, as manual attempts. Returns how many.
    pub async fn requeue(&self, org_id: &str, app_id: &str, what: Requeue) -> StoreResult<u64> {
        let (org_id, app_id) = (org_id.to_string(), app_id.to_string());
        db::write(self, true, move |db| {
            Box::pin(async move {
                let now = now_ms();
                let id = |r: &Row| r.get::<i64>(0);
                // Each case picks the deliveries and makes them pending (in the update that picks them, so that
                // what changed meanwhile is not picked), then they get their jobs.
                let mut ids: Vec<i64> = Vec::new();
                match &what {
                    Requeue::One { msg_id, endpoint_id } => {
                        let mut q = pending_again("", &org_id, &app_id, now);
                        q.push_bind(" AND msg_id = ?", msg_id).push_bind(" AND endpoint_id = ?", endpoint_id);
                        ids = db.rows(q.push(" RETURNING id"), id).await?;
                        if ids.is_empty() {
                            let mut q = new_deliveries(&org_id, &app_id, endpoint_id, now);
                            q.push_bind(" AND id = ? RETURNING id", msg_id);
                            ids = db.rows(&q, id).await?;
                        }
                    }
                    Requeue::FailedSince { endpoint_id, since, until } => {
                        let mut q = pending_again("", &org_id, &app_id, now);
                        q.push_bind(" AND endpoint_id = ?", endpoint_id)
                            .push_bind(" AND status = ?", status::FAIL)
                            .push_bind(
                                " AND EXISTS (SELECT 1 FROM messages m WHERE m.id = deliveries.msg_id
                                     AND m.created_at >= ?",
                                *since,
                            )
                            .push_bind(" AND m.created_at < ?)", *until);
                        ids = db.rows(q.push(" RETURNING id"), id).await?;
                    }
                    Requeue::Deliveries { endpoint_id, ids: wanted, statuses } => {
                        // By id: the endpoint's index would walk all its deliveries.
                        let hint = db.dialect().not_indexed();
                        for chunk in wanted.chunks(CHUNK) {
                            let mut q = pending_again(hint, &org_id, &app_id, now);
                            q.push_bind(" AND endpoint_id = ?", endpoint_id)
                                .and_in("id", &padded(chunk))
                                .and_in("status", statuses);
                            ids.extend(db.rows(q.push(" RETURNING id"), id).await?);
                        }
                    }
                    // New deliveries are pending already.
                    Requeue::Missing { endpoint_id, msg_ids } => {
                        for chunk in msg_ids.chunks(CHUNK) {
                            let mut q = new_deliveries(&org_id, &app_id, endpoint_id, now);
                            q.and_in("id", &padded(chunk));
                            q.push(" ON CONFLICT (msg_id, endpoint_id) DO NOTHING RETURNING id");
                            ids.extend(db.rows(&q, id).await?);
                        }
                    }
                }
                for chunk in ids.chunks(CHUNK) {
                    let mut q = Sql::new(format!(
                        "INSERT INTO jobs (kind, ref_id, run_at, leased, manual)
                         SELECT {JOB_DELIVERY}, id, CAST(? AS BIGINT), 0, 1 FROM deliveries WHERE org_id = ?"
                    ))
                    .bind(now)
                    .bind(&org_id);
                    db.execute(q.and_in("id", &padded(chunk))).await?;
                }
                if !ids.is_empty() {
                    db.due(now);
                }
                Ok(ids.len() as u64)
            })
        })
        .await
    }
}
