//! The embedded SQLite store. One writer thread owns the only write connection and group-commits: it takes every
//! write waiting in its queue, runs each inside its own savepoint (so one failing write does not spoil the others)
//! and commits them together, then answers each caller. Reads run on a small pool of read-only connections;
//! WAL mode lets them proceed while the writer commits. A lock file makes the database one process's alone, which
//! is what lets start-up free the leases a killed process left behind.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::FutureExt;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, Row};
use tokio::sync::{mpsc, oneshot};

use super::Durability;
use super::*;

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_inbound.sql"),
    include_str!("../migrations/sqlite/0003_timers.sql"),
    include_str!("../migrations/sqlite/0004_recurring_timers.sql"),
    include_str!("../migrations/sqlite/0005_bots.sql"),
    include_str!("../migrations/sqlite/0006_payload_retention.sql"),
    include_str!("../migrations/sqlite/0007_meta.sql"),
    include_str!("../migrations/sqlite/0008_breaker.sql"),
    include_str!("../migrations/sqlite/0009_dashboard.sql"),
    include_str!("../migrations/sqlite/0010_timer_jobs.sql"),
    include_str!("../migrations/sqlite/0011_inbound_refused.sql"),
    include_str!("../migrations/sqlite/0012_destinations.sql"),
    include_str!("../migrations/sqlite/0013_traceparent.sql"),
    include_str!("../migrations/sqlite/0014_queue_sources.sql"),
    include_str!("../migrations/sqlite/0015_failures_indexed.sql"),
];
const MAX_BATCH: usize = 2048;
const JOB_DELIVERY: i64 = 0;
const JOB_TIMER: i64 = 1;

type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write: runs against the connection, returns how to answer its caller once the commit is known, and whether
/// it failed after writing something (which spoils the whole batch).
type Op = Box<dyn FnOnce(&mut Connection) -> (Finish, bool) + Send>;

pub struct SqliteStore {
    writer: mpsc::UnboundedSender<Op>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    _lock: Option<std::fs::File>,
    /// Limits live in memory: one process serves the file.
    windows: crate::ratelimit::RateWindows,
    throttles: crate::ratelimit::Throttles,
    /// The checkpointer stops when the store is dropped.
    _alive: Arc<()>,
    /// See [`Store::key_slot`].
    key: std::sync::OnceLock<super::sealed::MainKey>,
    /// See [`Store::commits`].
    commits: Arc<AtomicU64>,
}

fn pragmas(durability: Durability) -> String {
    let sync = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    format!("PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=5000; PRAGMA temp_store=MEMORY;")
}

impl SqliteStore {
    /// Opens (creating and migrating) the database. `exclusive` takes the lock that makes this process the only
    /// one serving it; short-lived commands (`hookd token create`) open it without.
    pub fn open(path: &str, durability: Durability, exclusive: bool) -> anyhow::Result<Self> {
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let lock = if exclusive {
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(format!("{path}.lock"))
                .context("opening the lock file")?;
            lock.try_lock().map_err(|_| anyhow::anyhow!("{path} is in use by another hookd process"))?;
            Some(lock)
        } else {
            None
        };

        let mut conn = Connection::open(path).with_context(|| format!("opening {path}"))?;
        conn.execute_batch(&pragmas(durability))?;
        migrate(&mut conn)?;

        let manager = SqliteConnectionManager::file(path)
            .with_init(|c| c.execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=1;"));
        let readers = r2d2::Pool::builder().max_size(8).build(manager)?;

        // Checkpoints run on their own connection, never inside a commit (see `checkpointer`).
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;")?;
        let checkpoints = Connection::open(path)?;
        checkpoints.execute_batch("PRAGMA busy_timeout=5000;")?;
        let shared = Arc::new(Checkpoints::default());
        let alive = Arc::new(());
        let (for_checkpointer, watch) = (shared.clone(), Arc::downgrade(&alive));
        std::thread::Builder::new()
            .name("hookd-sqlite-checkpoint".into())
            .spawn(move || checkpointer(checkpoints, for_checkpointer, watch))?;

        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("hookd-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, shared, counted))?;
        Ok(SqliteStore {
            writer: tx,
            readers,
            _lock: lock,
            windows: Default::default(),
            throttles: Default::default(),
            _alive: alive,
            key: Default::default(),
            commits,
        })
    }

    /// Runs `f` in the next group commit, inside its own savepoint so that a failure undoes only its own
    /// writes, and returns its result once that commit is durable.
    async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<R> + Send + 'static,
    {
        self.submit(move |conn| (in_savepoint(conn, f), false)).await
    }

    /// Like [`Self::write`] without the savepoint, for the hot path (a savepoint journals every page it touches).
    /// `f` may fail with a conflict only before it writes anything; any other failure rolls the batch back.
    async fn write_fast<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<R> + Send + 'static,
    {
        self.submit(move |conn| {
            let result = f(conn);
            let spoiled = matches!(result, Err(StoreError::Other(_)));
            (result, spoiled)
        })
        .await
    }

    async fn submit<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> (StoreResult<R>, bool) + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: Op = Box::new(move |conn: &mut Connection| {
            let (result, spoiled) = f(conn);
            let finish = Box::new(move |commit: Result<(), String>| {
                let _ = tx.send(match commit {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Other(anyhow::anyhow!("commit failed: {e}"))),
                });
            }) as Finish;
            (finish, spoiled)
        });
        self.writer.send(op).map_err(|_| anyhow::anyhow!("the store is closed"))?;
        rx.await.map_err(|_| anyhow::anyhow!("the store writer stopped"))?
    }

    async fn read_mut<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<R> + Send + 'static,
    {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || -> StoreResult<R> {
            let mut conn = pool.get().map_err(anyhow::Error::from)?;
            f(&mut conn)
        })
        .await
        .map_err(anyhow::Error::from)?
    }
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).with_context(|| format!("migration {}", i + 1))?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}

fn in_savepoint<R>(conn: &mut Connection, f: impl FnOnce(&mut Connection) -> StoreResult<R>) -> StoreResult<R> {
    conn.prepare_cached("SAVEPOINT op").and_then(|mut s| s.execute([])).map_err(sql_err)?;
    match f(conn) {
        Ok(r) => {
            conn.prepare_cached("RELEASE op").and_then(|mut s| s.execute([])).map_err(sql_err)?;
            Ok(r)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO op; RELEASE op");
            Err(e)
        }
    }
}

/// Copies committed WAL frames back into the database file a few times a second, from its own connection, with
/// PASSIVE checkpoints that never wait for (or block) the writer. With SQLite's automatic checkpoint, the commit
/// that crossed the threshold did this work and its fsync itself, stalling every request in that group commit.
///
/// Under sustained writes a passive checkpoint never quite catches up, and the log only starts over once it has
/// been copied whole; so past `WAL_RESTART_FRAMES` it asks the writer to finish the job between two batches
/// (`Checkpoints::restart_wanted`), when little is left to copy and no one has to wait for a lock.
fn checkpointer(conn: Connection, shared: Arc<Checkpoints>, alive: std::sync::Weak<()>) {
    const WAL_RESTART_FRAMES: i64 = 16_384; // 64 MiB of 4 KiB pages
    while alive.strong_count() > 0 {
        std::thread::sleep(std::time::Duration::from_millis(250));
        if !shared.dirty.swap(false, Ordering::AcqRel) {
            continue;
        }
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(frames) if frames > WAL_RESTART_FRAMES => shared.restart_wanted.store(true, Ordering::Release),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

/// What the writer and the checkpointer tell each other.
#[derive(Default)]
struct Checkpoints {
    /// Something was committed since the last checkpoint.
    dirty: AtomicBool,
    /// The log is long: the writer should restart it.
    restart_wanted: AtomicBool,
}

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::UnboundedReceiver<Op>,
    checkpoints: Arc<Checkpoints>,
    commits: Arc<AtomicU64>,
) {
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    let mut finishers: Vec<Finish> = Vec::with_capacity(MAX_BATCH);
    while let Some(op) = rx.blocking_recv() {
        batch.push(op);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let commit = match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => {
                let mut spoiled = false;
                for op in batch.drain(..) {
                    let (finish, op_spoiled) = op(&mut conn);
                    finishers.push(finish);
                    spoiled |= op_spoiled;
                }
                if spoiled {
                    TALLY.with(|t| t.borrow_mut().clear());
                    let _ = conn.execute_batch("ROLLBACK");
                    Err("a write failed half-way; the batch was rolled back".to_string())
                } else {
                    flush_tally(&conn).and_then(|()| conn.execute_batch("COMMIT")).map_err(|e| {
                        TALLY.with(|t| t.borrow_mut().clear());
                        let _ = conn.execute_batch("ROLLBACK");
                        e.to_string()
                    })
                }
            }
            Err(e) => {
                finishers.extend(batch.drain(..).map(|op| op(&mut conn).0));
                Err(e.to_string())
            }
        };
        match &commit {
            Ok(()) => {
                checkpoints.dirty.store(true, Ordering::Release);
                commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "group commit failed"),
        }
        for finish in finishers.drain(..) {
            finish(commit.clone());
        }
        if checkpoints.restart_wanted.swap(false, Ordering::AcqRel) {
            if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(RESTART);") {
                tracing::warn!(error = %e, "WAL restart failed");
            }
        }
    }
}

/// A connection of the store as the queries written once see it ([`db::Db`]). Every call finishes before it
/// returns: the futures it hands back are ready.
struct SqliteDb<'c>(&'c mut Connection);

impl rusqlite::ToSql for db::Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            db::Value::Null => ValueRef::Null,
            db::Value::Int(i) => ValueRef::Integer(*i),
            db::Value::Text(s) => ValueRef::Text(s.as_bytes()),
            db::Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn db_row(r: &Row, n: usize) -> rusqlite::Result<db::Row> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match r.get_ref(i)? {
            ValueRef::Null => db::Value::Null,
            ValueRef::Integer(i) => db::Value::Int(i),
            // No column is REAL; an expression that made one is read as its whole part.
            ValueRef::Real(f) => db::Value::Int(f as i64),
            ValueRef::Text(t) => db::Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => db::Value::Blob(b.to_vec()),
        });
    }
    Ok(db::Row(out))
}

fn query_now(c: &Connection, q: &db::Sql) -> StoreResult<Vec<db::Row>> {
    let mut st = c.prepare_cached(&q.text).map_err(sql_err)?;
    let n = st.column_count();
    let rows = st.query_map(params_from_iter(q.args.iter()), |r| db_row(r, n)).map_err(sql_err)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
}

fn execute_now(c: &Connection, q: &db::Sql) -> StoreResult<u64> {
    let mut st = c.prepare_cached(&q.text).map_err(sql_err)?;
    Ok(st.execute(params_from_iter(q.args.iter())).map_err(db_err)? as u64)
}

impl db::Db for SqliteDb<'_> {
    fn dialect(&self) -> db::Dialect {
        db::Dialect::Sqlite
    }
    fn query<'a>(&'a mut self, q: &'a db::Sql) -> BoxFuture<'a, StoreResult<Vec<db::Row>>> {
        Box::pin(std::future::ready(query_now(self.0, q)))
    }
    fn execute<'a>(&'a mut self, q: &'a db::Sql) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(std::future::ready(execute_now(self.0, q)))
    }
    fn insert_messages<'a>(&'a mut self, forward: &'a Forward) -> BoxFuture<'a, StoreResult<ForwardIds>> {
        let c = &*self.0;
        Box::pin(std::future::ready(forward.iter().map(|(m, ds)| insert_message(c, m, ds)).collect()))
    }
}

/// Runs a [`db::DbOp`] on `conn`: its futures are ready at once.
fn run_op(conn: &mut Connection, op: db::DbOp) -> StoreResult<db::Erased> {
    op(&mut SqliteDb(conn)).now_or_never().expect("SQLite's queries finish before they return")
}

/// A failed statement: a broken uniqueness rule is a conflict, the rest an error.
fn db_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
        _ => sql_err(e),
    }
}

fn sql_err(e: rusqlite::Error) -> StoreError {
    StoreError::Other(e.into())
}

/// Maps a unique-constraint failure to a conflict saying `what`.
fn conflict_as(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(what.to_string()),
        _ => sql_err(e),
    }
}

thread_local! {
    /// The activity counts of the group commit the writer thread is running: the writes add to it
    /// ([`insert_message`], attempts) and [`writer_loop`] writes it just before COMMIT (or forgets it on
    /// ROLLBACK). Only the writer thread writes, so this is its own.
    static TALLY: std::cell::RefCell<Tally> = Default::default();
}

/// Adds the batch's activity counts to the `activity` table.
fn flush_tally(c: &Connection) -> rusqlite::Result<()> {
    TALLY.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_empty() {
            return Ok(());
        }
        let mut stmt = c.prepare_cached(
            "INSERT INTO activity (org_id, endpoint_id, minute, node, messages, attempts, succeeded)
             VALUES (?, ?, ?, '', ?, ?, ?)
             ON CONFLICT (org_id, endpoint_id, minute, node) DO UPDATE SET messages = messages + excluded.messages,
                 attempts = attempts + excluded.attempts, succeeded = succeeded + excluded.succeeded",
        )?;
        for (org, ep, minute, [m, a, ok]) in t.rows() {
            stmt.execute(params![org, ep, minute, m, a, ok])?;
        }
        t.clear();
        Ok(())
    })
}

fn insert_job(
    c: &Connection,
    kind: i64,
    ref_id: i64,
    run_at: Millis,
    leased: bool,
    manual: bool,
) -> rusqlite::Result<i64> {
    c.prepare_cached("INSERT INTO jobs (kind, ref_id, run_at, leased, manual) VALUES (?, ?, ?, ?, ?)")?
        .execute(params![kind, ref_id, run_at, leased, manual])?;
    Ok(c.last_insert_rowid())
}

/// Inserts a message, its deliveries and their jobs. A duplicate `eventId` fails first, before any write.
fn insert_message(c: &Connection, msg: &MessageRecord, deliveries: &[NewDelivery]) -> StoreResult<Vec<(i64, i64)>> {
    let channels = msg.channels.as_ref().map(|ch| serde_json::to_string(ch).unwrap_or_default());
    // The message's place in its application's log (see `store::destinations`): one writer commits in order.
    let log_pos: i64 = c
        .prepare_cached(
            "INSERT INTO app_log (app_id, last_pos) VALUES (?, 1)
             ON CONFLICT (app_id) DO UPDATE SET last_pos = last_pos + 1 RETURNING last_pos",
        )
        .map_err(sql_err)?
        .query_row(params![msg.app_id], |r| r.get(0))
        .map_err(sql_err)?;
    c.prepare_cached(
        "INSERT INTO messages (id, org_id, app_id, event_type, event_id, channels, created_at, payload, payload_expires_at,
                               log_pos, traceparent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .map_err(sql_err)?
    .execute(params![
        msg.id,
        msg.org_id,
        msg.app_id,
        msg.event_type,
        msg.event_id,
        channels,
        msg.created_at,
        msg.payload.as_deref(),
        msg.payload_expires_at,
        log_pos,
        msg.traceparent.as_deref()
    ])
    .map_err(conflict_as("A message with this eventId already exists"))?;
    TALLY.with(|t| t.borrow_mut().message(&msg.org_id, msg.created_at));
    let mut ids = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        c.prepare_cached(
            "INSERT INTO deliveries (org_id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
        )
        .map_err(sql_err)?
        .execute(params![msg.org_id, msg.app_id, msg.id, d.endpoint_id, status::PENDING, d.run_at, msg.created_at])
        .map_err(sql_err)?;
        let delivery_id = c.last_insert_rowid();
        let leased = d.leased_until > 0;
        let run_at = if leased { d.leased_until } else { d.run_at };
        let job_id = insert_job(c, JOB_DELIVERY, delivery_id, run_at, leased, false).map_err(sql_err)?;
        ids.push((delivery_id, job_id));
    }
    Ok(ids)
}

#[async_trait]
impl Store for SqliteStore {
    async fn read_op(&self, op: db::DbOp) -> StoreResult<db::Erased> {
        self.read_mut(move |c| run_op(c, op)).await
    }

    fn key_slot(&self) -> &std::sync::OnceLock<super::sealed::MainKey> {
        &self.key
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    fn dialect(&self) -> db::Dialect {
        db::Dialect::Sqlite
    }

    async fn write_op(&self, savepoint: bool, op: db::DbOp) -> StoreResult<db::Erased> {
        if savepoint {
            self.write(move |c| run_op(c, op)).await
        } else {
            self.write_fast(move |c| run_op(c, op)).await
        }
    }

    async fn publish(&self, msg: Arc<MessageRecord>, deliveries: Vec<NewDelivery>) -> StoreResult<Vec<(i64, i64)>> {
        self.write_fast(move |c| insert_message(c, &msg, &deliveries)).await
    }

    async fn claim_due(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: usize,
        timer_lookahead: Millis,
    ) -> StoreResult<Vec<DueJob>> {
        self.write_fast(move |c| {
            // Read then lease by id (one writer, so nothing moves in between): SQLite's RETURNING sees only the
            // new `run_at`, and the old one is the scheduler's lag.
            let claimed: Vec<(i64, i64, i64, bool, i64)> = c
                .prepare_cached(
                    "SELECT id, kind, ref_id, manual, run_at FROM jobs WHERE run_at <= ?1 + ?3 AND (kind = ?4 OR run_at <= ?1)
                     ORDER BY run_at LIMIT ?2",
                )
                .map_err(sql_err)?
                .query_map(params![now, limit as i64, timer_lookahead, JOB_TIMER], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(sql_err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(sql_err)?;
            let mut lease = c.prepare_cached("UPDATE jobs SET run_at = ?, leased = 1 WHERE id = ?").map_err(sql_err)?;
            for (job_id, ..) in &claimed {
                lease.execute(params![lease_until, job_id]).map_err(sql_err)?;
            }
            let mut messages: HashMap<String, Arc<MessageRecord>> = HashMap::new();
            let mut out = Vec::with_capacity(claimed.len());
            for (job_id, kind, ref_id, manual, due_at) in claimed {
                if kind == JOB_TIMER {
                    let q = db::Sql::new(format!("SELECT {} FROM timers WHERE rowid_ = ? AND status = ?", timers::TIMER_COLS))
                        .bind(ref_id)
                        .bind(timer_status::RUNNING);
                    let timer = match query_now(c, &q)?.first() {
                        Some(r) => Some(timers::timer_row_at(r, 0)?),
                        None => None,
                    };
                    match timer {
                        Some(timer) => out.push(DueJob::Timer(TimerJob { job_id, timer, due_at })),
                        None => {
                            c.execute("DELETE FROM jobs WHERE id = ?", [job_id]).map_err(sql_err)?;
                        }
                    }
                    continue;
                }
                let q = db::Sql::new(format!(
                    "SELECT d.endpoint_id, d.attempts, {} FROM deliveries d JOIN messages m ON m.id = d.msg_id WHERE d.id = ?",
                    messages::MSG_COLS
                ))
                .bind(ref_id);
                let row = match query_now(c, &q)?.first() {
                    Some(r) => Some((r.get::<String>(0)?, r.get::<i64>(1)?, messages::message_row(r, 2)?)),
                    None => None,
                };
                let Some((endpoint_id, attempts, msg)) = row else {
                    // Its message is gone: nothing left to deliver.
                    c.execute("DELETE FROM jobs WHERE id = ?", [job_id]).map_err(sql_err)?;
                    continue;
                };
                let msg = messages.entry(msg.id.clone()).or_insert_with(|| Arc::new(msg)).clone();
                out.push(DueJob::Delivery(DeliveryJob {
                    job_id,
                    delivery_id: ref_id,
                    endpoint_id,
                    attempts,
                    manual,
                    msg,
                    due_at,
                }));
            }
            Ok(out)
        })
        .await
    }

    async fn release_all_leases(&self) -> StoreResult<u64> {
        self.write(|c| {
            let n =
                c.execute("UPDATE jobs SET run_at = ?, leased = 0 WHERE leased = 1", [now_ms()]).map_err(sql_err)?;
            Ok(n as u64)
        })
        .await
    }

    async fn job_defer(&self, job_id: i64, run_at: Millis) -> StoreResult<()> {
        self.write_fast(move |c| {
            c.prepare_cached("UPDATE jobs SET run_at = ?, leased = 0 WHERE id = ?")
                .and_then(|mut s| s.execute(params![run_at, job_id]))
                .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn job_park(&self, job_id: i64, until: Millis) -> StoreResult<()> {
        self.write_fast(move |c| {
            c.prepare_cached("UPDATE jobs SET run_at = ?, leased = ? WHERE id = ?")
                .and_then(|mut s| s.execute(params![until, JOB_PARKED, job_id]))
                .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn record_attempt(
        &self,
        job_id: i64,
        delivery_id: i64,
        a: AttemptRecord,
        next: NextStep,
    ) -> StoreResult<Option<Failing>> {
        self.write_fast(move |c| {
            c.prepare_cached(
                "INSERT INTO attempts (id, org_id, app_id, msg_id, endpoint_id, url, status_code, status, manual, duration_ms, created_at, response)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(sql_err)?
            .execute(params![
                a.id, a.org_id, a.app_id, a.msg_id, a.endpoint_id, a.url, a.status_code, a.status, a.manual, a.duration_ms,
                a.created_at, a.response
            ])
            .map_err(sql_err)?;
            let (status, next_at) = match next {
                NextStep::Done => (status::SUCCESS, None),
                NextStep::RetryAt(at) => (status::PENDING, Some(at)),
                NextStep::GiveUp => (status::FAIL, None),
                NextStep::Cancel => (status::CANCELED, None),
            };
            let failed_at = (status == status::FAIL).then_some(a.created_at);
            c.prepare_cached(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, updated_at = ?, failed_at = ?
                 WHERE id = ?",
            )
            .map_err(sql_err)?
            .execute(params![status, next_at, a.created_at, failed_at, delivery_id])
            .map_err(sql_err)?;
            TALLY.with(|t| t.borrow_mut().attempt(&a.org_id, &a.endpoint_id, a.created_at, a.status == status::SUCCESS));
            match next_at {
                Some(at) => c.prepare_cached("UPDATE jobs SET run_at = ?, leased = 0, manual = 0 WHERE id = ?").map_err(sql_err)?.execute(params![at, job_id]),
                None => c.prepare_cached("DELETE FROM jobs WHERE id = ?").map_err(sql_err)?.execute([job_id]),
            }
            .map_err(sql_err)?;
            if a.status == status::CANCELED {
                // Nothing was sent: the endpoint is failing as much as it was.
                Ok(None)
            } else if a.status == status::SUCCESS {
                c.prepare_cached("DELETE FROM endpoint_failing WHERE endpoint_id = ?").map_err(sql_err)?.execute([&a.endpoint_id]).map_err(sql_err)?;
                Ok(None)
            } else {
                c.prepare_cached(
                    "INSERT INTO endpoint_failing (endpoint_id, since, failures) VALUES (?, ?, 1)
                     ON CONFLICT (endpoint_id) DO UPDATE SET failures = failures + 1 RETURNING since, failures",
                )
                .map_err(sql_err)?
                .query_row(params![a.endpoint_id, a.created_at], |r| Ok(Failing { since: r.get(0)?, consecutive: r.get(1)? }))
                .map(Some)
                .map_err(sql_err)
            }
        })
        .await
    }

    async fn rate_window(&self, key: &str, limit: u32, now_secs: i64) -> StoreResult<crate::ratelimit::RateWindow> {
        Ok(self.windows.take(key, limit, now_secs))
    }

    async fn throttle(&self, key: &str, per_second: std::num::NonZeroU32, _now: Millis) -> StoreResult<Option<Millis>> {
        Ok(self.throttles.take(key, per_second).map(|wait| wait.as_millis().max(1) as Millis))
    }
}

mod tables;

#[cfg(test)]
mod tests;
