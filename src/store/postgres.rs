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

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_init.sql"),
    include_str!("migrations/postgres/0002_meta.sql"),
    include_str!("migrations/postgres/0003_breaker.sql"),
    include_str!("migrations/postgres/0004_dashboard.sql"),
    include_str!("migrations/postgres/0005_hot_path.sql"),
    include_str!("migrations/postgres/0006_timer_jobs.sql"),
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

// ── the queries written once ([`db`]) ──

impl ToSql for db::Value {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use tokio_postgres::types::{IsNull, Type};
        match self {
            db::Value::Null => Ok(IsNull::Yes),
            db::Value::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            db::Value::Int(i) if *ty == Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
            db::Value::Int(i) if *ty == Type::BOOL => (*i != 0).to_sql(ty, out),
            db::Value::Int(i) => i.to_sql_checked(ty, out),
            db::Value::Text(t) => t.to_sql_checked(ty, out),
            db::Value::Blob(b) => b.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn db_row(r: &Row) -> StoreResult<db::Row> {
    use tokio_postgres::types::Type;
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i).map(|v| v.into())
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i).map(|v| v.map(i64::from).into())
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i).map(|v| v.map(i64::from).into())
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i).map(|v| v.into())
        } else if *ty == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i).map(|v| v.into())
        } else {
            r.try_get::<_, Option<String>>(i).map(|v| v.into())
        };
        out.push(v.map_err(|e| StoreError::Other(anyhow::anyhow!("column {} ({ty}): {e}", col.name())))?);
    }
    Ok(db::Row(out))
}

fn db_params(q: &db::Sql) -> Vec<Param<'_>> {
    q.args.iter().map(|a| a as Param<'_>).collect()
}

/// A pooled connection that reads.
struct PgRead(deadpool_postgres::Object);

impl db::Db for PgRead {
    fn dialect(&self) -> db::Dialect {
        db::Dialect::Postgres
    }
    fn query<'a>(&'a mut self, q: &'a db::Sql) -> BoxFuture<'a, StoreResult<Vec<db::Row>>> {
        Box::pin(async move {
            let st = self.0.prepare_cached(&q.numbered()).await.map_err(pg_err)?;
            self.0.query(&st, &db_params(q)).await.map_err(pg_err)?.iter().map(db_row).collect()
        })
    }
    fn execute<'a>(&'a mut self, q: &'a db::Sql) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            let st = self.0.prepare_cached(&q.numbered()).await.map_err(pg_err)?;
            self.0.execute(&st, &db_params(q)).await.map_err(pg_err)
        })
    }
    fn insert_messages<'a>(&'a mut self, _: &'a Forward) -> BoxFuture<'a, StoreResult<Vec<Vec<(i64, i64)>>>> {
        Box::pin(async { Err(StoreError::Other(anyhow::anyhow!("messages are written by the store's writer"))) })
    }
}

/// A write's place in the writer's group commit.
struct PgWrite<'b>(&'b Batch);

/// A unique violation is a conflict (the savepoint or the batch's failure undoes the rest).
fn pg_db_err(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => StoreError::Conflict(e.to_string()),
        _ => pg_err(e),
    }
}

impl db::Db for PgWrite<'_> {
    fn dialect(&self) -> db::Dialect {
        db::Dialect::Postgres
    }
    fn query<'a>(&'a mut self, q: &'a db::Sql) -> BoxFuture<'a, StoreResult<Vec<db::Row>>> {
        Box::pin(async move {
            self.0.conn.query_raw(&q.numbered(), &db_params(q)).await.map_err(pg_db_err)?.iter().map(db_row).collect()
        })
    }
    fn execute<'a>(&'a mut self, q: &'a db::Sql) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move { self.0.conn.execute_raw(&q.numbered(), &db_params(q)).await.map_err(pg_db_err) })
    }
    fn changed(&mut self, kind: DocKind, org_id: &str, parent: &str, id: &str) {
        self.0.changed(kind.as_str(), org_id, parent, id);
    }
    fn due(&mut self, at: Millis) {
        self.0.due(at);
    }
    fn tokens_changed(&mut self) {
        self.0.note(serde_json::json!({"e": "tokens"}));
    }
    fn insert_messages<'a>(&'a mut self, forward: &'a Forward) -> BoxFuture<'a, StoreResult<Vec<Vec<(i64, i64)>>>> {
        Box::pin(insert_forward(self.0, forward))
    }
}

// ── the writer ──

/// The writer's connection, with its prepared statements.
struct Conn {
    client: Client,
    stmts: Mutex<HashMap<String, Statement>>,
}

impl Conn {
    async fn stmt(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.stmts.lock().unwrap().get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.stmts.lock().unwrap().insert(sql.to_string(), s.clone());
        Ok(s)
    }
    async fn query_raw(&self, sql: &str, p: &[Param<'_>]) -> Result<Vec<Row>, tokio_postgres::Error> {
        let s = self.stmt(sql).await?;
        self.client.query(&s, p).await
    }
    async fn execute_raw(&self, sql: &str, p: &[Param<'_>]) -> Result<u64, tokio_postgres::Error> {
        let s = self.stmt(sql).await?;
        self.client.execute(&s, p).await
    }
    async fn query(&self, sql: &str, p: &[Param<'_>]) -> StoreResult<Vec<Row>> {
        self.query_raw(sql, p).await.map_err(pg_err)
    }
    async fn query_opt(&self, sql: &str, p: &[Param<'_>]) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, p).await?.into_iter().next())
    }
    async fn execute(&self, sql: &str, p: &[Param<'_>]) -> StoreResult<u64> {
        self.execute_raw(sql, p).await.map_err(pg_err)
    }
}

/// What the writes of one group commit share: the connection, and the notifications to send with the commit.
struct Batch {
    conn: Arc<Conn>,
    node: Arc<str>,
    notes: Mutex<Vec<String>>,
    /// The earliest time work was queued for (`i64::MAX`: none).
    due: AtomicI64,
    /// The dashboard's activity counts of this commit's messages and attempts.
    tally: Mutex<Tally>,
}

impl Batch {
    fn due(&self, at: Millis) {
        self.due.fetch_min(at, Ordering::Relaxed);
    }
    fn note(&self, mut v: serde_json::Value) {
        v["n"] = serde_json::Value::String(self.node.to_string());
        let text = v.to_string();
        if text.len() <= NOTIFY_MAX {
            self.notes.lock().unwrap().push(text);
        } else {
            tracing::warn!(bytes = text.len(), "a change notification is too large to send");
        }
    }
    fn changed(&self, kind: &str, org_id: &str, parent: &str, id: &str) {
        self.note(serde_json::json!({"e": "doc", "k": kind, "o": org_id, "p": parent, "i": id}));
    }
}

type Finish = Box<dyn FnOnce(&Result<(), Failure>) + Send>;

/// How a write went, for the writer: `Failed` left nothing behind that matters (a conflict found before writing,
/// or undone by its savepoint); `Spoiled` broke the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
    Spoiled,
}

type GeneralFn = Box<dyn for<'b> FnOnce(&'b Batch) -> BoxFuture<'b, (Finish, Outcome)> + Send>;

enum Op {
    Publish {
        msg: Arc<MessageRecord>,
        deliveries: Vec<NewDelivery>,
        tx: oneshot::Sender<StoreResult<Vec<(i64, i64)>>>,
    },
    Attempt(Box<AttemptOp>, oneshot::Sender<StoreResult<Option<Failing>>>),
    Defer {
        job_id: i64,
        run_at: Millis,
        /// 0, or [`JOB_PARKED`] for a job held by its endpoint's open circuit.
        leased: i64,
        tx: oneshot::Sender<StoreResult<()>>,
    },
    /// Any other write; `savepoint` for one that may fail after writing.
    General {
        savepoint: bool,
        run: GeneralFn,
    },
}

struct AttemptOp {
    job_id: i64,
    delivery_id: i64,
    attempt: AttemptRecord,
    next: NextStep,
}

fn finisher<T: Send + 'static>(tx: oneshot::Sender<StoreResult<T>>, result: StoreResult<T>) -> Finish {
    Box::new(move |commit: &Result<(), Failure>| {
        let _ = tx.send(match commit {
            Ok(()) => result,
            Err(f) => Err(f.error()),
        });
    })
}

/// For a write whose group failed: the batch is rolled back, and the caller told why.
fn answered_by_commit<T: Send + 'static>(tx: oneshot::Sender<StoreResult<T>>) -> Finish {
    finisher(tx, Err(StoreError::Other(anyhow::anyhow!("the group commit failed"))))
}

fn outcome_of<T>(r: &StoreResult<T>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(StoreError::Conflict(_)) => Outcome::Failed,
        Err(_) => Outcome::Spoiled,
    }
}

/// `cfg` with `options` (server settings, `-c name=value …`) added to the URL's own.
fn with_options(cfg: &tokio_postgres::Config, options: &str) -> tokio_postgres::Config {
    let mut cfg = cfg.clone();
    let all = match cfg.get_options() {
        Some(o) if !o.is_empty() => format!("{o} {options}"),
        _ => options.to_string(),
    };
    cfg.options(&all);
    cfg
}

async fn connect(cfg: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = cfg.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection lost");
        }
    });
    Ok(client)
}

async fn writer_loop(cfg: tokio_postgres::Config, mut rx: mpsc::UnboundedReceiver<Op>, node: Arc<str>) {
    let mut conn: Option<Arc<Conn>> = None;
    let mut backoff = Duration::from_millis(100);
    let mut retry_at = Instant::now();
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    while let Some(op) = rx.recv().await {
        batch.push(op);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            conn = None;
        }
        if conn.is_none() && Instant::now() >= retry_at {
            match tokio::time::timeout(DB_TIMEOUT, connect(&cfg)).await {
                Ok(Ok(client)) => {
                    conn = Some(Arc::new(Conn { client, stmts: Mutex::new(HashMap::new()) }));
                    backoff = Duration::from_millis(100);
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "the store writer cannot connect"),
                Err(_) => tracing::warn!("the store writer's connection attempt timed out"),
            }
            if conn.is_none() {
                retry_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
        let Some(c) = conn.clone() else {
            // Dropping the writes answers their callers: Unavailable.
            batch.clear();
            continue;
        };
        let ops = std::mem::take(&mut batch);
        if tokio::time::timeout(BATCH_TIMEOUT, run_batch(c, ops, node.clone())).await.is_err() {
            tracing::error!("a group commit timed out; reconnecting");
            conn = None;
        }
    }
}

/// Runs one group commit and answers its callers.
async fn run_batch(conn: Arc<Conn>, ops: Vec<Op>, node: Arc<str>) {
    let b = Batch {
        conn: conn.clone(),
        node,
        notes: Mutex::new(Vec::new()),
        due: AtomicI64::new(i64::MAX),
        tally: Mutex::new(Tally::default()),
    };
    let (mut publishes, mut attempts, mut defers, mut fast, mut slow) = (vec![], vec![], vec![], vec![], vec![]);
    for op in ops {
        match op {
            Op::Publish { msg, deliveries, tx } => publishes.push((msg, deliveries, tx)),
            Op::Attempt(a, tx) => attempts.push((*a, tx)),
            Op::Defer { job_id, run_at, leased, tx } => defers.push((job_id, run_at, leased, tx)),
            Op::General { savepoint: false, run } => fast.push(run),
            Op::General { savepoint: true, run } => slow.push(run),
        }
    }
    let mut finishers: Vec<Finish> = Vec::new();
    let mut spoiled: Option<StoreError> = None;

    // BEGIN, the hot path's coalesced statements and the plain writes (one after the other) are in flight
    // together: the connection sends them in the order they are first polled, BEGIN first, so it costs no round
    // trip of its own.
    let begin = conn.client.batch_execute("BEGIN");
    let hot = async {
        let (p, a, d) =
            futures::join!(publish_group(&b, publishes), attempt_group(&b, attempts), defer_group(&b, defers));
        [p, a, d]
    };
    let plain = async {
        let mut out = Vec::with_capacity(fast.len());
        for run in fast {
            let (finish, outcome) = run(&b).await;
            let bad = outcome == Outcome::Spoiled;
            out.push(finish);
            if bad {
                return (out, true);
            }
        }
        (out, false)
    };
    let (begun, groups, (plain_finishers, plain_spoiled)) = futures::join!(begin, hot, plain);
    if let Err(e) = begun {
        tracing::error!(error = %e, "group commit: BEGIN failed");
        spoiled = Some(pg_err(e));
    }
    for (fin, err) in groups {
        finishers.extend(fin);
        if let Some(e) = err {
            spoiled.get_or_insert(e);
        }
    }
    finishers.extend(plain_finishers);
    if plain_spoiled && spoiled.is_none() {
        spoiled = Some(StoreError::Other(anyhow::anyhow!("a write failed half-way")));
    }

    // Writes that may fail after writing: one savepoint each, with nothing else in flight.
    for run in slow {
        if spoiled.is_some() {
            break; // dropped: answered with an error
        }
        if let Err(e) = conn.client.batch_execute("SAVEPOINT op").await {
            spoiled = Some(pg_err(e));
            break;
        }
        let (finish, outcome) = run(&b).await;
        finishers.push(finish);
        let end = if outcome == Outcome::Ok {
            "RELEASE SAVEPOINT op"
        } else {
            "ROLLBACK TO SAVEPOINT op; RELEASE SAVEPOINT op"
        };
        if let Err(e) = conn.client.batch_execute(end).await {
            spoiled = Some(pg_err(e));
        }
    }

    let commit: Result<(), Failure> = match spoiled {
        Some(e) => {
            let _ = conn.client.batch_execute("ROLLBACK").await;
            tracing::error!(error = %e, "a group commit failed and was rolled back");
            Err(Failure::of(&e))
        }
        None => {
            let mut notes = std::mem::take(&mut *b.notes.lock().unwrap());
            let due = b.due.load(Ordering::Relaxed);
            if due != i64::MAX {
                notes.push(serde_json::json!({"e": "due", "at": due, "n": &*b.node}).to_string());
            }
            let notify = async {
                if notes.is_empty() {
                    return Ok(0);
                }
                conn.execute_raw("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p", &[&CHANNEL, &notes]).await
            };
            let tally = std::mem::take(&mut *b.tally.lock().unwrap());
            let count = add_activity(&conn, &tally, &b.node);
            // Sent together: COMMIT of a transaction whose NOTIFY or count failed only rolls back.
            let (n, a, c) = futures::join!(notify, count, conn.client.batch_execute("COMMIT"));
            match n.and(a).and(c) {
                Ok(_) => Ok(()),
                Err(e) => {
                    let e = pg_err(e);
                    tracing::error!(error = %e, "group commit failed");
                    let _ = conn.client.batch_execute("ROLLBACK").await;
                    Err(Failure::of(&e))
                }
            }
        }
    };
    for finish in finishers {
        finish(&commit);
    }
}

/// Adds a commit's activity counts to this node's rows of the `activity` table (one statement, rows locked in key
/// order; no other node writes them, so nodes never wait on each other's counts).
async fn add_activity(conn: &Conn, tally: &Tally, node: &str) -> Result<u64, tokio_postgres::Error> {
    if tally.is_empty() {
        return Ok(0);
    }
    let rows = tally.rows();
    let orgs: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let eps: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let minutes: Vec<i64> = rows.iter().map(|r| r.2).collect();
    let [messages, attempts, succeeded]: [Vec<i64>; 3] = std::array::from_fn(|k| rows.iter().map(|r| r.3[k]).collect());
    conn.execute_raw(
        "INSERT INTO activity (org_id, endpoint_id, minute, node, messages, attempts, succeeded)
         SELECT o, e, m, $7, a, b, c FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                                                 $6::bigint[]) AS x (o, e, m, a, b, c)
         ON CONFLICT (org_id, endpoint_id, minute, node) DO UPDATE SET messages = activity.messages + EXCLUDED.messages,
             attempts = activity.attempts + EXCLUDED.attempts, succeeded = activity.succeeded + EXCLUDED.succeeded",
        &[&orgs, &eps, &minutes, &messages, &attempts, &succeeded, &node],
    )
    .await
}

// ── the hot path, coalesced ──

const PUBLISH_SQL: &str = "
WITH m AS (
    INSERT INTO messages (id, org_id, app_id, event_type, event_id, channels, created_at, payload, payload_expires_at)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                         $8::text[], $9::bigint[])
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
async fn insert_messages(
    b: &Batch,
    items: &[(&MessageRecord, &[NewDelivery])],
) -> StoreResult<Vec<StoreResult<Vec<(i64, i64)>>>> {
    let n = items.len();
    let mut seen: HashSet<&str> = HashSet::with_capacity(n);
    let mut dup = vec![false; n];
    let (mut ids, mut orgs, mut apps, mut types) = (vec![], vec![], vec![], vec![]);
    let (mut event_ids, mut channels, mut created, mut payloads, mut expires) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut d_msg, mut d_ep, mut d_run, mut d_lease) = (vec![], vec![], vec![], vec![]);
    // Rows are inserted in one order on every node (by app and eventId), so that two nodes' batches waiting on
    // each other's uniqueness checks cannot deadlock.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| {
        let key = |i: usize| (items[i].0.app_id.as_str(), items[i].0.event_id.as_deref(), items[i].0.id.as_str());
        key(x).cmp(&key(y))
    });
    for i in order {
        let (m, ds) = &items[i];
        if !seen.insert(m.id.as_str()) {
            dup[i] = true;
            continue;
        }
        ids.push(m.id.as_str());
        orgs.push(m.org_id.as_str());
        apps.push(m.app_id.as_str());
        types.push(m.event_type.as_str());
        event_ids.push(m.event_id.as_deref());
        channels.push(m.channels.as_ref().map(|ch| serde_json::to_string(ch).unwrap_or_default()));
        created.push(m.created_at);
        payloads.push(m.payload.as_deref());
        expires.push(m.payload_expires_at);
        for d in ds.iter() {
            d_msg.push(m.id.as_str());
            d_ep.push(d.endpoint_id.as_str());
            d_run.push(d.run_at);
            d_lease.push(d.leased_until);
        }
    }
    let rows = b
        .conn
        .query(
            PUBLISH_SQL,
            &[
                &ids, &orgs, &apps, &types, &event_ids, &channels, &created, &payloads, &expires, &d_msg, &d_ep,
                &d_run, &d_lease, &&*b.node,
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
async fn insert_forward(b: &Batch, forward: &Forward) -> StoreResult<Vec<Vec<(i64, i64)>>> {
    if forward.is_empty() {
        return Ok(vec![]);
    }
    let items: Vec<(&MessageRecord, &[NewDelivery])> = forward.iter().map(|(m, d)| (&**m, d.as_slice())).collect();
    insert_messages(b, &items).await?.into_iter().collect()
}

type GroupResult = (Vec<Finish>, Option<StoreError>);

type PublishOp = (Arc<MessageRecord>, Vec<NewDelivery>, oneshot::Sender<StoreResult<Vec<(i64, i64)>>>);

async fn publish_group(b: &Batch, ops: Vec<PublishOp>) -> GroupResult {
    if ops.is_empty() {
        return (vec![], None);
    }
    let items: Vec<(&MessageRecord, &[NewDelivery])> = ops.iter().map(|(m, d, _)| (&**m, d.as_slice())).collect();
    match insert_messages(b, &items).await {
        Ok(results) => (ops.into_iter().zip(results).map(|((_, _, tx), r)| finisher(tx, r)).collect(), None),
        Err(e) => (ops.into_iter().map(|(_, _, tx)| answered_by_commit(tx)).collect(), Some(e)),
    }
}

const ATTEMPTS_SQL: &str = "
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
async fn record_attempts(b: &Batch, ops: &[AttemptOp]) -> StoreResult<Vec<Option<Failing>>> {
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

async fn attempt_group(b: &Batch, ops: Vec<(AttemptOp, oneshot::Sender<StoreResult<Option<Failing>>>)>) -> GroupResult {
    if ops.is_empty() {
        return (vec![], None);
    }
    let (ops, txs): (Vec<AttemptOp>, Vec<_>) = ops.into_iter().unzip();
    match record_attempts(b, &ops).await {
        Ok(results) => (txs.into_iter().zip(results).map(|(tx, r)| finisher(tx, Ok(r))).collect(), None),
        Err(e) => (txs.into_iter().map(answered_by_commit).collect(), Some(e)),
    }
}

type DeferOp = (i64, Millis, i64, oneshot::Sender<StoreResult<()>>);

async fn defer_group(b: &Batch, ops: Vec<DeferOp>) -> GroupResult {
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

// ── reads ──

const MSG_NCOLS: usize = 9;

fn message_row(r: &Row, at: usize) -> MessageRecord {
    let channels: Option<String> = r.get(at + 5);
    let payload: Option<String> = r.get(at + 6);
    MessageRecord {
        id: r.get(at),
        org_id: r.get(at + 1),
        app_id: r.get(at + 2),
        event_type: r.get(at + 3),
        event_id: r.get(at + 4),
        channels: channels.and_then(|c| serde_json::from_str(&c).ok()),
        payload: payload.map(Arc::from),
        created_at: r.get(at + 7),
        payload_expires_at: r.get(at + 8),
    }
}

fn timer_row(r: &Row, at: usize) -> TimerRecord {
    TimerRecord {
        rowid: r.get(at),
        id: r.get(at + 1),
        org_id: r.get(at + 2),
        status: r.get(at + 3),
        created_at: r.get(at + 4),
        expires_at: r.get(at + 5),
        agent_id: r.get(at + 6),
        project_id: r.get(at + 7),
        milestones_sent: r.get(at + 8),
        ended_at: r.get(at + 9),
        cancel_reason: r.get(at + 10),
        paused_at: r.get(at + 11),
        paused_ms: r.get(at + 12),
        spec: r.get(at + 13),
        cycle_start: r.get(at + 14),
        runs: r.get(at + 15),
    }
}

// ── opening, migrations, the node's background tasks ──

async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let version: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let v = i as i64 + 1;
        tx.batch_execute(sql).await.map_err(|e| anyhow::anyhow!("migration {v}: {e}"))?;
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", &[&v, &now_ms()]).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One heartbeat (see the module's documentation): `node` seen at `now`; with `reap`, the nodes not seen since
/// `now - timeout` deleted, and every lease held by a node that is not in `nodes` freed.
async fn heartbeat(
    pool: &Pool,
    node: &str,
    timeout: Duration,
    now: Millis,
    events: &broadcast::Sender<StoreEvent>,
    reap: bool,
) -> StoreResult<u64> {
    let mut c = pool.get().await.map_err(pool_err)?;
    let tx = c.transaction().await.map_err(pg_err)?;
    tx.execute(
        "INSERT INTO nodes (id, seen_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at",
        &[&node, &now],
    )
    .await
    .map_err(pg_err)?;
    if !reap {
        tx.commit().await.map_err(pg_err)?;
        return Ok(0);
    }
    let dead = tx
        .query("DELETE FROM nodes WHERE seen_at < $1 RETURNING id", &[&(now - timeout.as_millis() as i64)])
        .await
        .map_err(pg_err)?;
    for r in &dead {
        tracing::warn!(node = r.get::<_, String>(0), "a hookd node stopped answering; taking over its work");
    }
    // Freed work is due at once (and never later than it was leased for).
    let run_at = now.min(now_ms());
    let freed = tx
        .execute(
            "UPDATE jobs SET run_at = LEAST(run_at, $1), leased = 0, leased_by = NULL
             WHERE leased_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = jobs.leased_by)",
            &[&run_at],
        )
        .await
        .map_err(pg_err)?;
    if freed > 0 {
        let note = serde_json::json!({"e": "due", "at": run_at, "n": node}).to_string();
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &note]).await.map_err(pg_err)?;
    }
    tx.commit().await.map_err(pg_err)?;
    if freed > 0 {
        tracing::info!(jobs = freed, "freed the leases of stopped nodes");
        let _ = events.send(StoreEvent::Due(run_at));
    }
    Ok(freed)
}

/// Turns another node's notification into an event; None for this node's own, and for what is not understood.
fn parse_note(payload: &str, node: &str) -> Option<StoreEvent> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    if v["n"].as_str() == Some(node) {
        return None;
    }
    let s = |k: &str| v[k].as_str().map(str::to_string);
    match v["e"].as_str()? {
        "due" => Some(StoreEvent::Due(v["at"].as_i64()?)),
        "doc" => Some(StoreEvent::Changed {
            kind: DocKind::from_str(v["k"].as_str()?).ok()?,
            org_id: s("o")?,
            parent: s("p")?,
            id: s("i")?,
        }),
        "tokens" => Some(StoreEvent::Tokens),
        "announce" => Some(StoreEvent::Announced { kind: s("k")?, body: s("b")? }),
        _ => None,
    }
}

type Notes = mpsc::UnboundedReceiver<String>;

/// A LISTEN connection: the notifications' payloads arrive on the receiver, which ends when the connection does.
async fn listen(cfg: &tokio_postgres::Config) -> Result<(Client, Notes), tokio_postgres::Error> {
    let (client, mut connection) = cfg.connect(NoTls).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the LISTEN connection was lost");
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok((client, rx))
}

async fn listen_loop(
    cfg: tokio_postgres::Config,
    mut conn: Option<(Client, Notes)>,
    node: Arc<str>,
    events: broadcast::Sender<StoreEvent>,
    alive: Weak<()>,
) {
    let mut backoff = Duration::from_millis(100);
    while alive.strong_count() > 0 {
        let Some((_client, mut notes)) = conn.take() else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            match tokio::time::timeout(DB_TIMEOUT, listen(&cfg)).await {
                Ok(Ok(c)) => {
                    backoff = Duration::from_millis(100);
                    conn = Some(c);
                    // What was missed while away: look at the queue again, and drop every cache.
                    let _ = events.send(StoreEvent::Due(now_ms()));
                    let _ = events.send(StoreEvent::Missed);
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "LISTEN reconnect failed"),
                Err(_) => tracing::debug!("LISTEN reconnect timed out"),
            }
            continue;
        };
        loop {
            tokio::select! {
                n = notes.recv() => match n {
                    Some(payload) => {
                        if let Some(ev) = parse_note(&payload, &node) {
                            let _ = events.send(ev);
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if alive.strong_count() == 0 {
                        return;
                    }
                }
            }
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
        tokio::spawn(writer_loop(writer_cfg, rx, node_id.clone()));
        Ok(PgStore {
            pool,
            writer: tx,
            node_id,
            node: opts.node,
            node_timeout: opts.node_timeout,
            events,
            _alive: alive,
            left,
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
            let (job_id, kind, ref_id, manual): (i64, i64, i64, i64) = (r.get(0), r.get(1), r.get(2), r.get(3));
            let (has_msg, has_timer): (bool, bool) = (r.get(6), r.get(7));
            let due_at: i64 = r.get(r.len() - 1);
            if kind == JOB_TIMER {
                if has_timer {
                    out.push(DueJob::Timer(TimerJob { job_id, timer: timer_row(r, 8 + MSG_NCOLS), due_at }));
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
            let msg = message_row(r, 8);
            let msg = messages.entry(msg.id.clone()).or_insert_with(|| Arc::new(msg)).clone();
            out.push(DueJob::Delivery(DeliveryJob {
                job_id,
                delivery_id: ref_id,
                endpoint_id: r.get(4),
                attempts: r.get(5),
                manual: manual != 0,
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

// ── copying (`hookd store copy`) ──

/// The PostgreSQL types a copied column may have: every table uses these three.
#[derive(Clone, Copy)]
enum ColType {
    Int,
    Text,
    Bytes,
}

impl PgStore {
    async fn column_types(&self, table: &str, cols: &[&str]) -> anyhow::Result<Vec<ColType>> {
        let rows = self
            .rows(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[&table],
            )
            .await?;
        let types: HashMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        cols.iter()
            .map(|c| match types.get(*c).map(String::as_str) {
                Some("bigint" | "integer" | "smallint") => Ok(ColType::Int),
                Some("text" | "character varying") => Ok(ColType::Text),
                Some("bytea") => Ok(ColType::Bytes),
                other => anyhow::bail!("{table}.{c}: unexpected column type {other:?}"),
            })
            .collect()
    }
}

#[async_trait]
impl super::copy::Tables for PgStore {
    async fn count_rows(&self, table: &'static str) -> anyhow::Result<i64> {
        Ok(self.rows(&format!("SELECT COUNT(*) FROM {table}"), &[]).await?[0].get(0))
    }

    async fn export(
        &self,
        table: &'static str,
        cols: &'static [&'static str],
        out: mpsc::Sender<Vec<super::copy::Row>>,
    ) -> anyhow::Result<()> {
        use super::copy::{Cell, CHUNK};
        let types = self.column_types(table, cols).await?;
        let client = self.client().await?;
        let sql = format!("SELECT {} FROM {table}", cols.join(", "));
        let rows = client.query_raw(&sql, std::iter::empty::<i64>()).await?;
        futures::pin_mut!(rows);
        let mut chunk = Vec::with_capacity(CHUNK);
        while let Some(r) = rows.next().await {
            let r = r?;
            let row = types
                .iter()
                .enumerate()
                .map(|(i, t)| match t {
                    ColType::Int => r.get::<_, Option<i64>>(i).map_or(Cell::Null, Cell::Int),
                    ColType::Text => r.get::<_, Option<String>>(i).map_or(Cell::Null, Cell::Text),
                    ColType::Bytes => r.get::<_, Option<Vec<u8>>>(i).map_or(Cell::Null, Cell::Blob),
                })
                .collect();
            chunk.push(row);
            if chunk.len() == CHUNK {
                out.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))).await?;
            }
        }
        if !chunk.is_empty() {
            out.send(chunk).await?;
        }
        Ok(())
    }

    async fn import(
        &self,
        table: &'static str,
        cols: &'static [&'static str],
        rows: Vec<super::copy::Row>,
    ) -> anyhow::Result<()> {
        use super::copy::Cell;
        let types = self.column_types(table, cols).await?;
        // One array per column, inserted with UNNEST: one statement per chunk.
        let mut ints: Vec<Vec<Option<i64>>> = vec![Vec::new(); cols.len()];
        let mut texts: Vec<Vec<Option<String>>> = vec![Vec::new(); cols.len()];
        let mut bytes: Vec<Vec<Option<Vec<u8>>>> = vec![Vec::new(); cols.len()];
        for row in rows {
            anyhow::ensure!(row.len() == cols.len(), "{table}: a row of {} columns", row.len());
            for (i, cell) in row.into_iter().enumerate() {
                match (types[i], cell) {
                    (ColType::Int, Cell::Null) => ints[i].push(None),
                    (ColType::Int, Cell::Int(v)) => ints[i].push(Some(v)),
                    (ColType::Int, Cell::Text(t)) => ints[i].push(Some(t.parse()?)),
                    (ColType::Text, Cell::Null) => texts[i].push(None),
                    (ColType::Text, Cell::Text(t)) => texts[i].push(Some(t)),
                    (ColType::Text, Cell::Int(v)) => texts[i].push(Some(v.to_string())),
                    (ColType::Text, Cell::Blob(b)) => texts[i].push(Some(String::from_utf8(b)?)),
                    (ColType::Bytes, Cell::Null) => bytes[i].push(None),
                    (ColType::Bytes, Cell::Blob(b)) => bytes[i].push(Some(b)),
                    (ColType::Bytes, Cell::Text(t)) => bytes[i].push(Some(t.into_bytes())),
                    (_, cell) => anyhow::bail!("{table}.{}: cannot store {cell:?}", cols[i]),
                }
            }
        }
        let mut params: Vec<Param<'_>> = Vec::with_capacity(cols.len());
        let mut casts = Vec::with_capacity(cols.len());
        for (i, t) in types.iter().enumerate() {
            let (param, cast): (Param<'_>, &str) = match t {
                ColType::Int => (&ints[i], "BIGINT[]"),
                ColType::Text => (&texts[i], "TEXT[]"),
                ColType::Bytes => (&bytes[i], "BYTEA[]"),
            };
            params.push(param);
            casts.push(format!("${}::{cast}", i + 1));
        }
        let sql = format!("INSERT INTO {table} ({}) SELECT * FROM UNNEST({})", cols.join(", "), casts.join(", "));
        self.client().await?.execute(&sql, &params).await?;
        Ok(())
    }

    async fn finish_import(&self) -> anyhow::Result<()> {
        let client = self.client().await?;
        for (table, col) in [("deliveries", "id"), ("jobs", "id"), ("timers", "rowid_")] {
            client
                .execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{col}'), COALESCE(MAX({col}), 0) + 1, false)
                         FROM {table}"
                    ),
                    &[],
                )
                .await?;
        }
        // The old store's process is stopped: what it held leased is due now.
        client
            .execute("UPDATE jobs SET run_at = $1, leased = 0, leased_by = NULL WHERE leased = 1", &[&now_ms()])
            .await?;
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
