//! The PostgreSQL store: the same semantics as [`super::sqlite`], for any number of hookd processes (nodes) on one
//! database.
//!
//! **Writes** go through one writer task per process that owns a dedicated connection and group-commits: it takes
//! every write waiting in its queue (up to [`MAX_BATCH`]), runs them in one transaction and answers each caller
//! after COMMIT. The hot path is coalesced: all the `publish`es of a batch are one multi-row statement (messages,
//! deliveries and jobs through `UNNEST`), all its `record_attempt`s two or three, its `job_defer`s one; they and the
//! other writes are pipelined on the connection rather than awaited one by one. A failed statement aborts a
//! PostgreSQL transaction, so uniqueness is checked without errors (`INSERT … ON CONFLICT DO NOTHING RETURNING`,
//! no row meaning a conflict); the few writes that can fail on their own (`doc_update`, `doc_modify`, `requeue`)
//! run inside a savepoint each. A batch that fails as a whole is rolled back and every caller in it gets the error;
//! if the connection is gone the writer reconnects (with backoff) and goes on, and callers meanwhile get
//! [`StoreError::Unavailable`] at once. **Reads** and claims use a pool whose waits time out after two seconds.
//!
//! **Several nodes.** Every serving process is a node with a random id and a row in `nodes`, refreshed every
//! [`HEARTBEAT_INTERVAL`] by a heartbeat task. Each job a node leases (claimed with `FOR UPDATE SKIP LOCKED`, so two
//! nodes never claim the same job, or published already leased to be sent from memory) records `leased_by = node`.
//! The same heartbeat task reaps: nodes not seen for [`NODE_TIMEOUT`] are deleted and the jobs they leased are freed
//! (due now, unleased), so the work of a node killed with SIGKILL is taken over by the others within about
//! `NODE_TIMEOUT + HEARTBEAT_INTERVAL` (20 s); a node stopping gracefully leaves ([`Store::leave`]) and frees its
//! own at once. Nothing is freed at start: a starting node never takes live nodes' work. After the database was away (no node could beat), a node reaps only once it has beaten for a whole
//! `NODE_TIMEOUT` again, so live nodes are not taken for dead. The times are the nodes' clocks, which are assumed
//! to agree within a few seconds (NTP). The job leases themselves still lapse as on SQLite, which covers a node
//! stuck but still beating.
//!
//! **Wake-ups and cache invalidation** cross nodes by `NOTIFY` on the channel [`CHANNEL`], sent with `pg_notify`
//! inside the writing transaction (so only on commit): one `due` per batch that queued work for a time (the
//! earliest), one per document changed, one per token created. A dedicated `LISTEN` connection per node (which
//! reconnects by itself) turns the other nodes' notifications into [`StoreEvent`]s ([`Store::events`]).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, NoTls, Row, Statement};

use super::*;

mod cluster;
mod conn;
mod hot;
mod tables;
mod writer;

use cluster::*;
use conn::*;
use hot::*;
use writer::*;

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_meta.sql"),
    include_str!("../migrations/postgres/0003_breaker.sql"),
    include_str!("../migrations/postgres/0004_dashboard.sql"),
    include_str!("../migrations/postgres/0005_hot_path.sql"),
    include_str!("../migrations/postgres/0006_timer_jobs.sql"),
    include_str!("../migrations/postgres/0007_inbound_refused.sql"),
    include_str!("../migrations/postgres/0008_destinations.sql"),
    include_str!("../migrations/postgres/0009_traceparent.sql"),
    include_str!("../migrations/postgres/0010_queue_sources.sql"),
    include_str!("../migrations/postgres/0011_failures_indexed.sql"),
];
/// The advisory lock that serialises migrations between nodes starting at once.
const MIGRATION_LOCK: i64 = 0x0068_6f6f_6b64; // "hookd"
/// Most writes in one group commit.
pub const MAX_BATCH: usize = 4096;
const JOB_DELIVERY: i64 = 0;
const JOB_TIMER: i64 = 1;
/// The LISTEN/NOTIFY channel.
pub const CHANNEL: &str = "hookd";
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const NOTIFY_MAX: usize = 7999;
/// How often a node marks itself alive (and reaps dead nodes).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A node not seen for this long is dead: its leases are freed.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(15);
/// Waiting for a connection (from the pool, or a new one) fails after this: requests fail fast, never hang.
const DB_TIMEOUT: Duration = Duration::from_secs(2);
/// A group commit taking longer than this is given up (its connection dropped, its callers told Unavailable).
const BATCH_TIMEOUT: Duration = Duration::from_secs(30);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

const CONFLICT_EVENT_ID: &str = "A message with this eventId already exists";

type Param<'a> = &'a (dyn ToSql + Sync);

/// How a [`PgStore`] takes part in a cluster.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Serve as a node: a row in `nodes`, a heartbeat that also reaps dead nodes, and LISTEN for the others'
    /// changes. Short-lived commands (`hookd token create`) open the store without.
    pub node: bool,
    /// Run the heartbeat task (tests turn it off and call [`PgStore::tick`] themselves).
    pub heartbeat: bool,
    pub heartbeat_interval: Duration,
    pub node_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions { node: true, heartbeat: true, heartbeat_interval: HEARTBEAT_INTERVAL, node_timeout: NODE_TIMEOUT }
    }
}

pub struct PgStore {
    pool: Pool,
    writer: mpsc::UnboundedSender<Op>,
    node_id: Arc<str>,
    node: bool,
    node_timeout: Duration,
    events: broadcast::Sender<StoreEvent>,
    /// The background tasks stop when the store is dropped.
    _alive: Arc<()>,
    /// Set when the node has left ([`Store::leave`]): the heartbeat stops bringing it back.
    left: Arc<std::sync::atomic::AtomicBool>,
    /// See [`Store::key_slot`].
    key: std::sync::OnceLock<super::sealed::MainKey>,
    /// See [`Store::commits`].
    commits: Arc<std::sync::atomic::AtomicU64>,
}

// ── errors ──

/// Whether `e` means the database could not be reached, rather than that it refused the statement.
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        // connection exceptions, shutdowns, "the database system is starting up", too many connections
        return c.starts_with("08") || c.starts_with("57P") || c == "53300";
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

fn pg_err(e: tokio_postgres::Error) -> StoreError {
    if is_unavailable(&e) {
        StoreError::Unavailable
    } else {
        StoreError::Other(e.into())
    }
}

fn pool_err(e: PoolError) -> StoreError {
    match e {
        // No connection could be made (refused, reset, or not accepted by the server for now).
        PoolError::Backend(e) => {
            tracing::warn!(error = %e, "cannot connect to the database");
            StoreError::Unavailable
        }
        PoolError::Timeout(_) | PoolError::Closed => StoreError::Unavailable,
        e => StoreError::Other(anyhow::anyhow!("{e}")),
    }
}

/// How a failed group commit is told to its callers.
#[derive(Debug, Clone)]
enum Failure {
    Unavailable,
    Failed(String),
}

impl Failure {
    fn of(e: &StoreError) -> Failure {
        match e {
            StoreError::Unavailable => Failure::Unavailable,
            e => Failure::Failed(format!("{e:#}")),
        }
    }
    fn error(&self) -> StoreError {
        match self {
            Failure::Unavailable => StoreError::Unavailable,
            Failure::Failed(e) => StoreError::Other(anyhow::anyhow!("the group commit failed: {e}")),
        }
    }
}

impl PgStore {
    /// Connects, migrates (safely when several nodes start at once) and, for a node, registers it and starts its
    /// heartbeat and its LISTEN connection.
    pub async fn open(url: &str, opts: PgOptions) -> anyhow::Result<PgStore> {
        let mut cfg = tokio_postgres::Config::from_str(url)?;
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(DB_TIMEOUT);
        }
        if cfg.get_application_name().is_none() {
            cfg.application_name("hookd");
        }
        // Every statement is planned for the arguments it runs with. hookd's prepared statements live as long as
        // their connections, and a generic plan made while a table was small would be kept as the table grows.
        let pool_cfg = with_options(&cfg, "-c plan_cache_mode=force_custom_plan");
        // The writer's statements touch rows by key, a few dozen at a time: their plans are made once (planning
        // them at every group commit cost about as much as running them) and kept off sequential scans, so that
        // they look rows up through their indexes however large the tables have grown since. (A generic plan made
        // at start on an empty database chose a hash join over a sequential scan of `deliveries`, and so scanned
        // every delivery of the database once per group commit.)
        let writer_cfg = with_options(&cfg, "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off");
        let manager =
            Manager::from_config(pool_cfg.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(DB_TIMEOUT))
            .create_timeout(Some(DB_TIMEOUT))
            .recycle_timeout(Some(DB_TIMEOUT))
            .build()?;
        migrate(&pool).await?;

        let node_id: Arc<str> = Arc::from(format!("node_{}", crate::ids::random_token(12)));
        let (events, _) = broadcast::channel(1024);
        let alive = Arc::new(());
        let left = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if opts.node {
            heartbeat(&pool, &node_id, opts.node_timeout, now_ms(), &events, true).await?;
            let first = listen(&cfg).await?;
            tokio::spawn(listen_loop(
                cfg.clone(),
                Some(first),
                node_id.clone(),
                events.clone(),
                Arc::downgrade(&alive),
            ));
            if opts.heartbeat {
                let (pool, node, events, watch, left) =
                    (pool.clone(), node_id.clone(), events.clone(), Arc::downgrade(&alive), left.clone());
                let (every, timeout) = (opts.heartbeat_interval, opts.node_timeout);
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    tick.tick().await;
                    // After the database was away nobody could beat: reap only once this node has beaten for a
                    // whole node timeout again, so that the others have had the time to beat too.
                    let mut beating_since = Some(now_ms());
                    loop {
                        tick.tick().await;
                        if watch.strong_count() == 0 || left.load(std::sync::atomic::Ordering::Relaxed) {
                            return;
                        }
                        let now = now_ms();
                        let reap = beating_since.is_some_and(|since| now - since >= timeout.as_millis() as i64);
                        match heartbeat(&pool, &node, timeout, now, &events, reap).await {
                            Ok(_) => {
                                beating_since.get_or_insert(now);
                            }
                            Err(e) => {
                                beating_since = None;
                                tracing::warn!(error = %e, "node heartbeat failed");
                            }
                        }
                    }
                });
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(writer_loop(writer_cfg, rx, node_id.clone(), commits.clone()));
        Ok(PgStore {
            pool,
            writer: tx,
            node_id,
            node: opts.node,
            node_timeout: opts.node_timeout,
            events,
            _alive: alive,
            left,
            key: Default::default(),
            commits,
        })
    }

    /// This process's node id (`jobs.leased_by`).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// One heartbeat at `now`, as the heartbeat task runs it: marks this node seen, deletes the nodes not seen for
    /// the node timeout and frees their leases. Returns how many jobs were freed.
    pub async fn tick(&self, now: Millis) -> StoreResult<u64> {
        heartbeat(&self.pool, &self.node_id, self.node_timeout, now, &self.events, true).await
    }

    fn send(&self, op: Op) -> StoreResult<()> {
        self.writer.send(op).map_err(|_| StoreError::Other(anyhow::anyhow!("the store is closed")))
    }

    /// Runs `f` in the next group commit and returns its result once that commit is durable. With `savepoint`,
    /// a failure of `f` undoes its own writes only; without, `f` may fail with a conflict only before it writes.
    async fn write<R, F>(&self, savepoint: bool, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: for<'b> FnOnce(&'b Batch) -> BoxFuture<'b, StoreResult<R>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let run: GeneralFn = Box::new(move |b: &Batch| {
            Box::pin(async move {
                let result = f(b).await;
                let outcome = outcome_of(&result);
                if let (Outcome::Spoiled, Err(e)) = (outcome, &result) {
                    tracing::error!(error = %e, "a write failed; its group commit is rolled back");
                }
                (finisher(tx, result), outcome)
            })
        });
        self.send(Op::General { savepoint, run })?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }

    async fn rows(&self, sql: &str, p: &[Param<'_>]) -> StoreResult<Vec<Row>> {
        let c = self.client().await?;
        let st = c.prepare_cached(sql).await.map_err(pg_err)?;
        c.query(&st, p).await.map_err(pg_err)
    }

    async fn row(&self, sql: &str, p: &[Param<'_>]) -> StoreResult<Option<Row>> {
        Ok(self.rows(sql, p).await?.into_iter().next())
    }
}

const CLAIM_SQL: &str = "
WITH c0 AS (
    SELECT id, run_at FROM jobs WHERE kind = 0 AND run_at <= $1::bigint
    ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED
), c1 AS (
    SELECT id, run_at FROM jobs WHERE kind = 1 AND run_at <= $1::bigint + $2::bigint
    ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED
), c AS (
    SELECT id, run_at FROM (SELECT * FROM c0 UNION ALL SELECT * FROM c1) b ORDER BY run_at LIMIT $3
), u AS (
    UPDATE jobs j SET run_at = $4, leased = 1, leased_by = $5 FROM c WHERE j.id = c.id
    RETURNING j.id, j.kind, j.ref_id, j.manual
)
SELECT u.id, u.kind, u.ref_id, u.manual, d.endpoint_id, d.attempts, m.id IS NOT NULL, t.rowid_ IS NOT NULL,
       m.id, m.org_id, m.app_id, m.event_type, m.event_id, m.channels, m.payload, m.created_at, m.payload_expires_at,
       m.traceparent,
       t.rowid_, t.id, t.org_id, t.status, t.created_at, t.expires_at, t.agent_id, t.project_id, t.milestones_sent,
       t.ended_at, t.cancel_reason, t.paused_at, t.paused_ms, t.spec, t.cycle_start, t.runs, c.run_at
FROM u JOIN c ON c.id = u.id
LEFT JOIN deliveries d ON u.kind = 0 AND d.id = u.ref_id
LEFT JOIN messages m ON m.id = d.msg_id
LEFT JOIN timers t ON u.kind = 1 AND t.rowid_ = u.ref_id AND t.status = 0
ORDER BY c.run_at, u.id";

#[async_trait]
impl Store for PgStore {
    async fn read_op(&self, op: db::DbOp) -> StoreResult<db::Erased> {
        let mut c = PgRead(self.client().await?);
        op(&mut c).await
    }

    fn key_slot(&self) -> &std::sync::OnceLock<super::sealed::MainKey> {
        &self.key
    }

    fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn dialect(&self) -> db::Dialect {
        db::Dialect::Postgres
    }

    async fn write_op(&self, savepoint: bool, op: db::DbOp) -> StoreResult<db::Erased> {
        self.write(savepoint, move |b| {
            Box::pin(async move {
                let mut db = PgWrite(b);
                op(&mut db).await
            })
        })
        .await
    }

    async fn leave(&self) -> StoreResult<()> {
        if !self.node {
            return Ok(());
        }
        self.left.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut c = self.pool.get().await.map_err(pool_err)?;
        let tx = c.transaction().await.map_err(pg_err)?;
        tx.execute("DELETE FROM nodes WHERE id = $1", &[&&*self.node_id]).await.map_err(pg_err)?;
        let now = now_ms();
        let freed = tx
            .execute(
                "UPDATE jobs SET run_at = LEAST(run_at, $1), leased = 0, leased_by = NULL WHERE leased_by = $2",
                &[&now, &&*self.node_id],
            )
            .await
            .map_err(pg_err)?;
        if freed > 0 {
            let note = serde_json::json!({"e": "due", "at": now, "n": &*self.node_id}).to_string();
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &note]).await.map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)?;
        tracing::info!(jobs = freed, "left the cluster; the other nodes take over the unfinished work");
        Ok(())
    }

    async fn nodes_seen_since(&self, since: Millis) -> StoreResult<u64> {
        let row = self.row("SELECT count(*) FROM nodes WHERE seen_at >= $1", &[&since]).await?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    async fn publish(&self, msg: Arc<MessageRecord>, deliveries: Vec<NewDelivery>) -> StoreResult<Vec<(i64, i64)>> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Publish { msg, deliveries, tx })?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    async fn claim_due(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: usize,
        timer_lookahead: Millis,
    ) -> StoreResult<Vec<DueJob>> {
        let c = self.client().await?;
        let st = c.prepare_cached(CLAIM_SQL).await.map_err(pg_err)?;
        let rows = c
            .query(&st, &[&now, &timer_lookahead, &(limit as i64), &lease_until, &&*self.node_id])
            .await
            .map_err(pg_err)?;
        let mut messages: HashMap<String, Arc<MessageRecord>> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        let mut gone: Vec<i64> = vec![];
        for r in &rows {
            let r = db_row(r)?;
            let (job_id, kind, ref_id, manual): (i64, i64, i64, bool) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let (has_msg, has_timer): (bool, bool) = (r.get(6)?, r.get(7)?);
            let due_at: i64 = r.get(r.0.len() - 1)?;
            if kind == JOB_TIMER {
                if has_timer {
                    out.push(DueJob::Timer(TimerJob {
                        job_id,
                        timer: timers::timer_row_at(&r, 8 + messages::MSG_NCOLS)?,
                        due_at,
                    }));
                } else {
                    gone.push(job_id);
                }
                continue;
            }
            if kind != JOB_DELIVERY || !has_msg {
                // Its message is gone: nothing left to deliver.
                gone.push(job_id);
                continue;
            }
            let msg = messages::message_row(&r, 8)?;
            let msg = messages.entry(msg.id.clone()).or_insert_with(|| Arc::new(msg)).clone();
            out.push(DueJob::Delivery(DeliveryJob {
                job_id,
                delivery_id: ref_id,
                endpoint_id: r.get(4)?,
                attempts: r.get(5)?,
                manual,
                msg,
                due_at,
            }));
        }
        if !gone.is_empty() {
            let st = c.prepare_cached("DELETE FROM jobs WHERE id = ANY($1::bigint[])").await.map_err(pg_err)?;
            c.execute(&st, &[&gone]).await.map_err(pg_err)?;
        }
        Ok(out)
    }

    /// Never at start on PostgreSQL: other nodes may hold live leases. A dead node's leases are freed by the
    /// heartbeat of the others ([`PgStore::tick`]).
    async fn release_all_leases(&self) -> StoreResult<u64> {
        Ok(0)
    }

    async fn job_defer(&self, job_id: i64, run_at: Millis) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Defer { job_id, run_at, leased: 0, tx })?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    async fn job_park(&self, job_id: i64, until: Millis) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Defer { job_id, run_at: until, leased: JOB_PARKED, tx })?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    async fn record_attempt(
        &self,
        job_id: i64,
        delivery_id: i64,
        attempt: AttemptRecord,
        next: NextStep,
    ) -> StoreResult<Option<Failing>> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Attempt(Box::new(AttemptOp { job_id, delivery_id, attempt, next }), tx))?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    async fn rate_window(&self, key: &str, limit: u32, now_secs: i64) -> StoreResult<crate::ratelimit::RateWindow> {
        let key = key.to_string();
        let (opened_at, count) = self
            .write(false, move |b| {
                Box::pin(async move {
                    let r = b
                        .conn
                        .query_opt(
                            "INSERT INTO rate_windows (key, opened_at, count) VALUES ($1, $2, 1)
                             ON CONFLICT (key) DO UPDATE SET
                               opened_at = CASE WHEN $2 >= rate_windows.opened_at + 60 THEN $2
                                                ELSE rate_windows.opened_at END,
                               count = CASE WHEN $2 >= rate_windows.opened_at + 60 THEN 1
                                            ELSE rate_windows.count + 1 END
                             RETURNING opened_at, count",
                            &[&key as Param, &now_secs],
                        )
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("an upsert returns its row"))?;
                    Ok((r.get::<_, i64>(0), r.get::<_, i64>(1)))
                })
            })
            .await?;
        let used = count.clamp(0, limit as i64) as u32;
        Ok(crate::ratelimit::RateWindow {
            allowed: count <= limit as i64,
            limit,
            remaining: limit - used,
            reset: opened_at + 60,
        })
    }

    async fn throttle(&self, key: &str, per_second: std::num::NonZeroU32, now: Millis) -> StoreResult<Option<Millis>> {
        let key = key.to_string();
        let rate = per_second.get() as i64;
        let interval = (1000 + rate - 1) / rate;
        // In a savepoint: only throttled deliveries come here, and none of them may spoil a batch of publishes.
        self.write(true, move |b| {
            Box::pin(async move {
                // Allowed when the theoretical arrival time has come (a burst of one); the row lock makes the
                // check and the move one step for every node.
                let allowed = b
                    .conn
                    .query_opt(
                        "INSERT INTO rate_throttles (key, tat) VALUES ($1, $2::BIGINT + $3::BIGINT)
                         ON CONFLICT (key) DO UPDATE SET tat = GREATEST(rate_throttles.tat, $2::BIGINT) + $3::BIGINT
                           WHERE rate_throttles.tat <= $2::BIGINT
                         RETURNING tat",
                        &[&key as Param, &now, &interval],
                    )
                    .await?;
                if allowed.is_some() {
                    return Ok(None);
                }
                let tat = b.conn.query_opt("SELECT tat FROM rate_throttles WHERE key = $1", &[&key]).await?;
                Ok(Some(tat.map_or(1, |r| (r.get::<_, i64>(0) - now).max(1))))
            })
        })
        .await
    }

    fn events(&self) -> Option<broadcast::Receiver<StoreEvent>> {
        self.node.then(|| self.events.subscribe())
    }

    async fn announce(&self, kind: &str, body: String) -> StoreResult<()> {
        let note = serde_json::json!({"e": "announce", "k": kind, "b": body, "n": &*self.node_id}).to_string();
        if note.len() > NOTIFY_MAX {
            return Err(StoreError::Other(anyhow::anyhow!("an announcement of {} bytes", note.len())));
        }
        let c = self.client().await?;
        c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &note]).await.map_err(pg_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_of_other_nodes_become_events_and_ours_do_not() {
        let doc = r#"{"e":"doc","k":"endpoint","o":"org_1","p":"app_1","i":"ep_1","n":"node_a"}"#;
        match parse_note(doc, "node_b") {
            Some(StoreEvent::Changed { kind: DocKind::Endpoint, org_id, parent, id }) => {
                assert_eq!((org_id.as_str(), parent.as_str(), id.as_str()), ("org_1", "app_1", "ep_1"))
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_note(doc, "node_a").is_none(), "a node's own change");
        assert!(matches!(parse_note(r#"{"e":"due","at":42,"n":"x"}"#, "y"), Some(StoreEvent::Due(42))));
        assert!(matches!(parse_note(r#"{"e":"tokens","n":"x"}"#, "y"), Some(StoreEvent::Tokens)));
        assert!(parse_note(r#"{"e":"doc","k":"nonsense","o":"","p":"","i":"","n":"x"}"#, "y").is_none());
        assert!(parse_note("not json", "y").is_none());
    }

    #[test]
    fn every_document_kind_parses_back() {
        for k in DocKind::ALL {
            assert_eq!(k.as_str().parse::<DocKind>().unwrap(), k);
        }
    }
}
