//! The per-minute activity counts behind the charts: each group commit adds its messages and attempts to one row
//! per organization (and endpoint) and minute ([`Tally`]); a chart adds up the minutes of its window.

use std::collections::HashMap;

use super::db::{self, Sql};
use super::{Millis, Store, StoreResult};

/// One time bucket of a chart: what happened in `[start, start + bucket)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityBucket {
    pub start: Millis,
    /// Messages published (organization charts only).
    pub messages: i64,
    pub attempts: i64,
    /// Attempts that succeeded.
    pub succeeded: i64,
}

/// Whose activity a chart counts.
#[derive(Debug, Clone, Copy)]
pub enum ActivityOf<'a> {
    Org,
    /// Attempts to one endpoint of the organization.
    Endpoint(&'a str),
}

/// Lays the per-minute rows `(minute, messages, attempts, succeeded)` of the `activity` table into every bucket
/// of `[since, until)`, empty buckets included, oldest first.
pub fn activity_buckets(
    since: Millis,
    until: Millis,
    bucket: Millis,
    rows: impl IntoIterator<Item = (i64, i64, i64, i64)>,
) -> Vec<ActivityBucket> {
    let bucket = bucket.max(1);
    let n = ((until - since).max(0) + bucket - 1) / bucket;
    let mut out: Vec<ActivityBucket> =
        (0..n).map(|i| ActivityBucket { start: since + i * bucket, ..Default::default() }).collect();
    for (minute, messages, attempts, succeeded) in rows {
        let i = (minute * MINUTE_MS - since).div_euclid(bucket);
        if let Some(b) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            b.messages += messages;
            b.attempts += attempts;
            b.succeeded += succeeded;
        }
    }
    out
}

/// The `activity` table's rows are minutes.
pub const MINUTE_MS: Millis = 60_000;

/// The minutes of `[since, until)` whose `activity` rows a chart of that window adds up.
pub fn activity_minutes(since: Millis, until: Millis) -> (i64, i64) {
    (since.div_euclid(MINUTE_MS), (until + MINUTE_MS - 1).div_euclid(MINUTE_MS))
}

/// The activity counts of one group commit: organization → endpoint (`""` for the organization's totals) →
/// minute → `[messages, attempts, succeeded]`. Nested by borrowed keys so that counting a message allocates
/// nothing once its organization's minute has a slot; written once per commit, whatever the batch's size.
#[derive(Debug, Default)]
pub struct Tally(HashMap<String, HashMap<String, HashMap<i64, [i64; 3]>>>);

impl Tally {
    pub fn message(&mut self, org_id: &str, at: Millis) {
        self.add(org_id, "", at, [1, 0, 0]);
    }

    pub fn attempt(&mut self, org_id: &str, endpoint_id: &str, at: Millis, succeeded: bool) {
        let n = [0, 1, succeeded as i64];
        self.add(org_id, "", at, n);
        self.add(org_id, endpoint_id, at, n);
    }

    fn add(&mut self, org_id: &str, endpoint_id: &str, at: Millis, n: [i64; 3]) {
        if !self.0.contains_key(org_id) {
            self.0.insert(org_id.to_string(), HashMap::new());
        }
        let eps = self.0.get_mut(org_id).expect("inserted above");
        if !eps.contains_key(endpoint_id) {
            eps.insert(endpoint_id.to_string(), HashMap::new());
        }
        let slot = eps.get_mut(endpoint_id).expect("inserted above").entry(at.div_euclid(MINUTE_MS)).or_default();
        for (s, n) in slot.iter_mut().zip(n) {
            *s += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The rows to add, `(org_id, endpoint_id, minute, [messages, attempts, succeeded])`, in key order: the order
    /// every writer locks them in.
    pub fn rows(&self) -> Vec<(&str, &str, i64, [i64; 3])> {
        let mut rows: Vec<_> = self
            .0
            .iter()
            .flat_map(|(org, eps)| {
                eps.iter().flat_map(move |(ep, minutes)| {
                    minutes.iter().map(move |(m, n)| (org.as_str(), ep.as_str(), *m, *n))
                })
            })
            .collect();
        rows.sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        rows
    }
}

/// How long the `activity` rows are kept: the charts show a day at most.
pub const ACTIVITY_KEPT_MS: Millis = 7 * 24 * 3600 * 1000;

/// The per-minute rows of a chart's window as SQL: (minute, messages, attempts, succeeded), summed
/// over the nodes that counted them (PostgreSQL's writers each keep their own row; SQLite's one writer, `''`).
pub(super) fn activity_sql(org_id: &str, of: ActivityOf<'_>, since: Millis, until: Millis) -> Sql {
    let endpoint = match of {
        ActivityOf::Org => "",
        ActivityOf::Endpoint(ep) => ep,
    };
    let (first, end) = activity_minutes(since, until);
    Sql::new(
        "SELECT minute, CAST(SUM(messages) AS BIGINT), CAST(SUM(attempts) AS BIGINT), CAST(SUM(succeeded) AS BIGINT)
         FROM activity WHERE org_id = ? AND endpoint_id = ? AND minute >= ? AND minute < ? GROUP BY minute",
    )
    .bind(org_id)
    .bind(endpoint)
    .bind(first)
    .bind(end)
}

impl dyn Store {
    /// Messages and attempts per `bucket` ms (a whole number of minutes) over `[since, until)`, added up from the
    /// per-minute counts each group commit keeps (see [`Tally`]): a day's chart reads at most 1,440 rows per
    /// node, however busy the day was.
    pub async fn activity(
        &self,
        org_id: &str,
        of: ActivityOf<'_>,
        since: Millis,
        until: Millis,
        bucket: Millis,
    ) -> StoreResult<Vec<ActivityBucket>> {
        let q = activity_sql(org_id, of, since, until);
        let rows = db::fetch(self, q, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).await?;
        Ok(activity_buckets(since, until, bucket, rows))
    }

    /// Deletes the activity counts of the minutes before `before`.
    pub async fn activity_prune(&self, before: Millis) -> StoreResult<u64> {
        db::run(self, Sql::new("DELETE FROM activity WHERE minute < ?").bind(before.div_euclid(MINUTE_MS))).await
    }
}
