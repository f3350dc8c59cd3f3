//! The hot path, coalesced: a group commit's publishes, attempts and deferrals are a few multi-row statements.

use super::*;

pub(super) const PUBLISH_SQL: &str = "
WITH lg AS (
    INSERT INTO app_log (app_id, last_pos)
    SELECT a, n FROM UNNEST($15::text[], $16::bigint[]) AS x (a, n) ORDER BY a
    ON CONFLICT (app_id) DO UPDATE SET last_pos = app_log.last_pos + excluded.last_pos
    RETURNING app_id, last_pos
), m AS (
    INSERT INTO messages (id, org_id, app_id, event_type, event_id, channels, created_at, payload, payload_expires_at,
                          log_pos, traceparent)
    SELECT u.id, u.org_id, u.app_id, u.event_type, u.event_id, u.channels, u.created_at, u.payload,
           u.payload_expires_at, lg.last_pos - u.back, u.traceparent
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                $8::text[], $9::bigint[], $17::bigint[], $18::text[]) WITH ORDINALITY
         AS u (id, org_id, app_id, event_type, event_id, channels, created_at, payload, payload_expires_at, back, traceparent, ord)
    JOIN lg ON lg.app_id = u.app_id
    ORDER BY u.ord
    ON CONFLICT DO NOTHING
    RETURNING id, org_id, app_id, created_at
), nd AS (
    SELECT * FROM UNNEST($10::text[], $11::text[], $12::bigint[], $13::bigint[]) AS nd (msg_id, endpoint_id, run_at, leased_until)
), d AS (
    INSERT INTO deliveries (org_id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, updated_at)
    SELECT m.org_id, m.app_id, nd.msg_id, nd.endpoint_id, 1, 0, nd.run_at, m.created_at FROM nd JOIN m ON m.id = nd.msg_id
    RETURNING id, msg_id, endpoint_id
), j AS (
    INSERT INTO jobs (kind, ref_id, run_at, leased, manual, leased_by)
    SELECT 0, d.id, CASE WHEN nd.leased_until > 0 THEN nd.leased_until ELSE nd.run_at END,
           CASE WHEN nd.leased_until > 0 THEN 1 ELSE 0 END, 0,
           CASE WHEN nd.leased_until > 0 THEN $14::text END
    FROM d JOIN nd ON nd.msg_id = d.msg_id AND nd.endpoint_id = d.endpoint_id
    RETURNING id, ref_id
)
SELECT m.id, NULL::bigint, NULL::text, NULL::bigint FROM m
UNION ALL
SELECT d.msg_id, d.id, d.endpoint_id, j.id FROM d JOIN j ON j.ref_id = d.id";

/// Inserts messages with their deliveries and jobs in one statement. A message whose id or `eventId` is taken
/// (by a committed row, another node's pending one, or an earlier one of `items`) is a conflict and writes nothing.
///
/// Each message takes the next position of its application's log (`app_log`, see `store::destinations`): the
/// counter's row stays locked until the commit, so that a node's positions become visible in the order they were
/// handed out and a reader never passes over one that commits later. The rows are locked in application order, as
/// the messages are inserted, so that two nodes cannot deadlock on them.
pub(super) async fn insert_messages(
    b: &Batch,
    items: &[(&MessageRecord, &[NewDelivery])],
) -> StoreResult<Vec<StoreResult<Vec<(i64, i64)>>>> {
    let n = items.len();
    let mut seen: HashSet<&str> = HashSet::with_capacity(n);
    let mut dup = vec![false; n];
    let (mut ids, mut orgs, mut apps, mut types) = (vec![], vec![], vec![], vec![]);
    let (mut event_ids, mut channels, mut created, mut payloads, mut expires, mut traceparents) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut d_msg, mut d_ep, mut d_run, mut d_lease) = (vec![], vec![], vec![], vec![]);
    // Rows are inserted in one order on every node (by app and eventId), so that two nodes' batches waiting on
    // each other's uniqueness checks cannot deadlock.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| {
        let key = |i: usize| (items[i].0.app_id.as_str(), items[i].0.event_id.as_deref(), items[i].0.id.as_str());
        key(x).cmp(&key(y))
    });
    let mut backs = vec![];
    let mut per_app: Vec<(&str, i64)> = vec![];
    for i in order {
        let (m, ds) = &items[i];
        if !seen.insert(m.id.as_str()) {
            dup[i] = true;
            continue;
        }
        // `order` keeps an application's messages together: count them, and later give each its distance from
        // the application's last position of this commit.
        match per_app.last_mut() {
            Some((app, n)) if *app == m.app_id.as_str() => *n += 1,
            _ => per_app.push((m.app_id.as_str(), 1)),
        }
        backs.push(per_app.len() - 1);
        ids.push(m.id.as_str());
        orgs.push(m.org_id.as_str());
        apps.push(m.app_id.as_str());
        types.push(m.event_type.as_str());
        event_ids.push(m.event_id.as_deref());
        channels.push(m.channels.as_ref().map(|ch| serde_json::to_string(ch).unwrap_or_default()));
        created.push(m.created_at);
        payloads.push(m.payload.as_deref());
        expires.push(m.payload_expires_at);
        traceparents.push(m.traceparent.as_deref());
        for d in ds.iter() {
            d_msg.push(m.id.as_str());
            d_ep.push(d.endpoint_id.as_str());
            d_run.push(d.run_at);
            d_lease.push(d.leased_until);
        }
    }
    // `backs` holds each message's application (an index of `per_app`) until it becomes the distance.
    let mut left: Vec<i64> = per_app.iter().map(|(_, n)| *n).collect();
    let backs: Vec<i64> = backs
        .into_iter()
        .map(|a| {
            left[a] -= 1;
            left[a]
        })
        .collect();
    let (log_apps, log_counts): (Vec<&str>, Vec<i64>) = per_app.into_iter().unzip();
    let rows = b
        .conn
        .query(
            PUBLISH_SQL,
            &[
                &ids,
                &orgs,
                &apps,
                &types,
                &event_ids,
                &channels,
                &created,
                &payloads,
                &expires,
                &d_msg,
                &d_ep,
                &d_run,
                &d_lease,
                &&*b.node,
                &log_apps,
                &log_counts,
                &backs,
                &traceparents,
            ],
        )
        .await?;
    let mut inserted: HashSet<String> = HashSet::with_capacity(n);
    let mut stored: HashMap<(String, String), (i64, i64)> = HashMap::with_capacity(d_msg.len());
    for r in rows {
        let msg_id: String = r.get(0);
        match r.get::<_, Option<i64>>(1) {
            None => {
                inserted.insert(msg_id);
            }
            Some(delivery_id) => {
                stored.insert((msg_id, r.get(2)), (delivery_id, r.get(3)));
            }
        }
    }
    let mut tally = b.tally.lock().unwrap();
    Ok(items
        .iter()
        .enumerate()
        .map(|(i, (m, ds))| {
            if dup[i] || !inserted.contains(&m.id) {
                return Err(StoreError::Conflict(CONFLICT_EVENT_ID.into()));
            }
            tally.message(&m.org_id, m.created_at);
            ds.iter()
                .map(|d| {
                    if d.leased_until <= 0 {
                        b.due(d.run_at);
                    }
                    stored
                        .get(&(m.id.clone(), d.endpoint_id.clone()))
                        .copied()
                        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("a delivery of {} was not stored", m.id)))
                })
                .collect()
        })
        .collect())
}

/// Inserts the messages of `forward` for one write: an error (a conflict) if any of them fails.
pub(super) async fn insert_forward(b: &Batch, forward: &Forward) -> StoreResult<ForwardIds> {
    if forward.is_empty() {
        return Ok(vec![]);
    }
    let items: Vec<(&MessageRecord, &[NewDelivery])> = forward.iter().map(|(m, d)| (&**m, d.as_slice())).collect();
    insert_messages(b, &items).await?.into_iter().collect()
}

pub(super) type GroupResult = (Vec<Finish>, Option<StoreError>);

pub(super) type PublishOp = (Arc<MessageRecord>, Vec<NewDelivery>, oneshot::Sender<StoreResult<Vec<(i64, i64)>>>);

pub(super) async fn publish_group(b: &Batch, ops: Vec<PublishOp>) -> GroupResult {
    if ops.is_empty() {
        return (vec![], None);
    }
    let items: Vec<(&MessageRecord, &[NewDelivery])> = ops.iter().map(|(m, d, _)| (&**m, d.as_slice())).collect();
    match insert_messages(b, &items).await {
        Ok(results) => (ops.into_iter().zip(results).map(|((_, _, tx), r)| finisher(tx, r)).collect(), None),
        Err(e) => (ops.into_iter().map(|(_, _, tx)| answered_by_commit(tx)).collect(), Some(e)),
    }
}

pub(super) const ATTEMPTS_SQL: &str = "
WITH a AS (
    INSERT INTO attempts (id, org_id, app_id, msg_id, endpoint_id, url, status_code, status, manual, duration_ms,
                          created_at, response)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                         $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[])
), u AS (
    UPDATE deliveries d SET status = x.status, attempts = d.attempts + x.n, next_attempt_at = x.next_at, updated_at = x.at,
                            failed_at = CASE WHEN x.status = 2 THEN x.at END -- 2: status::FAIL, a dead letter
    FROM UNNEST($13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[]) AS x (id, status, next_at, at, n)
    WHERE d.id = x.id
), jd AS (
    DELETE FROM jobs WHERE id = ANY($18::bigint[])
)
UPDATE jobs j SET run_at = x.run_at, leased = 0, manual = 0, leased_by = NULL
FROM UNNEST($19::bigint[], $20::bigint[]) AS x (id, run_at) WHERE j.id = x.id";

/// Records the attempts of a batch: as if one after the other in their order (a delivery or job seen twice ends
/// as the last one left it; "failing since" and the failures in a row are followed through every attempt of an
/// endpoint).
pub(super) async fn record_attempts(b: &Batch, ops: &[AttemptOp]) -> StoreResult<Vec<Option<Failing>>> {
    let (mut a_id, mut a_org, mut a_app, mut a_msg, mut a_ep, mut a_url) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut a_code, mut a_status, mut a_manual, mut a_dur, mut a_at, mut a_resp) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    // delivery id -> (status, next_at, at, count), in first-seen order
    let mut deliveries: Vec<(i64, i64, Option<i64>, i64, i64)> = vec![];
    let mut delivery_index: HashMap<i64, usize> = HashMap::new();
    // job id -> Some(run_at) to requeue, None to delete
    let mut jobs: HashMap<i64, Option<Millis>> = HashMap::new();
    for op in ops {
        let a = &op.attempt;
        a_id.push(a.id.as_str());
        a_org.push(a.org_id.as_str());
        a_app.push(a.app_id.as_str());
        a_msg.push(a.msg_id.as_str());
        a_ep.push(a.endpoint_id.as_str());
        a_url.push(a.url.as_str());
        a_code.push(a.status_code);
        a_status.push(a.status);
        a_manual.push(a.manual as i64);
        a_dur.push(a.duration_ms);
        a_at.push(a.created_at);
        a_resp.push(a.response.as_str());
        let (status, next_at) = match op.next {
            NextStep::Done => (status::SUCCESS, None),
            NextStep::RetryAt(at) => (status::PENDING, Some(at)),
            NextStep::GiveUp => (status::FAIL, None),
            NextStep::Cancel => (status::CANCELED, None),
        };
        match delivery_index.get(&op.delivery_id) {
            Some(&i) => {
                let d = &mut deliveries[i];
                (d.1, d.2, d.3, d.4) = (status, next_at, a.created_at, d.4 + 1);
            }
            None => {
                delivery_index.insert(op.delivery_id, deliveries.len());
                deliveries.push((op.delivery_id, status, next_at, a.created_at, 1));
            }
        }
        // A job deleted stays deleted; otherwise the last requeue wins.
        match (jobs.get(&op.job_id), next_at) {
            (Some(None), _) => {}
            (_, next) => {
                jobs.insert(op.job_id, next);
            }
        }
        if let Some(at) = next_at {
            b.due(at);
        }
    }
    let d_id: Vec<i64> = deliveries.iter().map(|d| d.0).collect();
    let d_status: Vec<i64> = deliveries.iter().map(|d| d.1).collect();
    let d_next: Vec<Option<i64>> = deliveries.iter().map(|d| d.2).collect();
    let d_at: Vec<i64> = deliveries.iter().map(|d| d.3).collect();
    let d_n: Vec<i64> = deliveries.iter().map(|d| d.4).collect();
    let j_del: Vec<i64> = jobs.iter().filter(|(_, r)| r.is_none()).map(|(id, _)| *id).collect();
    let (j_upd, j_run): (Vec<i64>, Vec<i64>) = jobs.iter().filter_map(|(id, r)| r.map(|r| (*id, r))).unzip();

    {
        let mut tally = b.tally.lock().unwrap();
        for op in ops {
            let a = &op.attempt;
            tally.attempt(&a.org_id, &a.endpoint_id, a.created_at, a.status == status::SUCCESS);
        }
    }
    // How each endpoint is failing, followed from what is stored through this batch's attempts.
    let mut endpoints: Vec<&str> = ops.iter().map(|o| o.attempt.endpoint_id.as_str()).collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    let write_params: [Param<'_>; 20] = [
        &a_id, &a_org, &a_app, &a_msg, &a_ep, &a_url, &a_code, &a_status, &a_manual, &a_dur, &a_at, &a_resp, &d_id,
        &d_status, &d_next, &d_at, &d_n, &j_del, &j_upd, &j_run,
    ];
    let read_params: [Param<'_>; 1] = [&endpoints];
    let write = b.conn.execute(ATTEMPTS_SQL, &write_params);
    let read = b.conn.query(
        "SELECT endpoint_id, since, failures FROM endpoint_failing WHERE endpoint_id = ANY($1::text[]) FOR UPDATE",
        &read_params,
    );
    let (written, failing) = futures::join!(write, read);
    written?;
    let before: HashMap<String, Failing> =
        failing?.into_iter().map(|r| (r.get(0), Failing { since: r.get(1), consecutive: r.get(2) })).collect();
    let mut state: HashMap<&str, Option<Failing>> = endpoints.iter().map(|e| (*e, before.get(*e).copied())).collect();
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let a = &op.attempt;
        let s = state.get_mut(a.endpoint_id.as_str()).expect("every endpoint has a state");
        *s = if a.status == status::CANCELED {
            *s // nothing was sent
        } else if a.status == status::SUCCESS {
            None
        } else {
            let was = s.unwrap_or(Failing { since: a.created_at, consecutive: 0 });
            Some(Failing { consecutive: was.consecutive + 1, ..was })
        };
        results.push(*s);
    }
    let clear: Vec<&str> =
        state.iter().filter(|(e, s)| s.is_none() && before.contains_key(**e)).map(|(e, _)| *e).collect();
    let mut set: Vec<(&str, Failing)> =
        state.iter().filter_map(|(e, s)| s.filter(|f| before.get(*e) != Some(f)).map(|f| (*e, f))).collect();
    set.sort_unstable_by_key(|(e, _)| *e); // one locking order on every node
    let set_ep: Vec<&str> = set.iter().map(|(e, _)| *e).collect();
    let set_since: Vec<i64> = set.iter().map(|(_, f)| f.since).collect();
    let set_failures: Vec<i64> = set.iter().map(|(_, f)| f.consecutive).collect();
    if !clear.is_empty() || !set_ep.is_empty() {
        b.conn
            .execute(
                "WITH c AS (DELETE FROM endpoint_failing WHERE endpoint_id = ANY($1::text[]))
                 INSERT INTO endpoint_failing (endpoint_id, since, failures)
                 SELECT * FROM UNNEST($2::text[], $3::bigint[], $4::bigint[])
                 ON CONFLICT (endpoint_id) DO UPDATE SET since = EXCLUDED.since, failures = EXCLUDED.failures",
                &[&clear, &set_ep, &set_since, &set_failures],
            )
            .await?;
    }
    Ok(results)
}

pub(super) async fn attempt_group(
    b: &Batch,
    ops: Vec<(AttemptOp, oneshot::Sender<StoreResult<Option<Failing>>>)>,
) -> GroupResult {
    if ops.is_empty() {
        return (vec![], None);
    }
    let (ops, txs): (Vec<AttemptOp>, Vec<_>) = ops.into_iter().unzip();
    match record_attempts(b, &ops).await {
        Ok(results) => (txs.into_iter().zip(results).map(|(tx, r)| finisher(tx, Ok(r))).collect(), None),
        Err(e) => (txs.into_iter().map(answered_by_commit).collect(), Some(e)),
    }
}

pub(super) type DeferOp = (i64, Millis, i64, oneshot::Sender<StoreResult<()>>);

pub(super) async fn defer_group(b: &Batch, ops: Vec<DeferOp>) -> GroupResult {
    if ops.is_empty() {
        return (vec![], None);
    }
    let mut last: HashMap<i64, (Millis, i64)> = HashMap::with_capacity(ops.len());
    for (id, at, leased, _) in &ops {
        last.insert(*id, (*at, *leased));
        b.due(*at);
    }
    let ids: Vec<i64> = last.keys().copied().collect();
    let runs: Vec<i64> = ids.iter().map(|id| last[id].0).collect();
    let leased: Vec<i64> = ids.iter().map(|id| last[id].1).collect();
    let r = b
        .conn
        .execute(
            "UPDATE jobs j SET run_at = x.run_at, leased = x.leased, leased_by = NULL
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) AS x (id, run_at, leased) WHERE j.id = x.id",
            &[&ids, &runs, &leased],
        )
        .await;
    match r {
        Ok(_) => (ops.into_iter().map(|(_, _, _, tx)| finisher(tx, Ok(()))).collect(), None),
        Err(e) => (ops.into_iter().map(|(_, _, _, tx)| answered_by_commit(tx)).collect(), Some(e)),
    }
}
