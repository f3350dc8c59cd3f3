//! The writer: one connection per process that group-commits every write waiting in its queue.

use super::*;

/// The writer's connection, with its prepared statements.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) stmts: Mutex<HashMap<String, Statement>>,
}

impl Conn {
    pub(super) async fn stmt(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.stmts.lock().unwrap().get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.stmts.lock().unwrap().insert(sql.to_string(), s.clone());
        Ok(s)
    }
    pub(super) async fn query_raw(&self, sql: &str, p: &[Param<'_>]) -> Result<Vec<Row>, tokio_postgres::Error> {
        let s = self.stmt(sql).await?;
        self.client.query(&s, p).await
    }
    pub(super) async fn execute_raw(&self, sql: &str, p: &[Param<'_>]) -> Result<u64, tokio_postgres::Error> {
        let s = self.stmt(sql).await?;
        self.client.execute(&s, p).await
    }
    pub(super) async fn query(&self, sql: &str, p: &[Param<'_>]) -> StoreResult<Vec<Row>> {
        self.query_raw(sql, p).await.map_err(pg_err)
    }
    pub(super) async fn query_opt(&self, sql: &str, p: &[Param<'_>]) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, p).await?.into_iter().next())
    }
    pub(super) async fn execute(&self, sql: &str, p: &[Param<'_>]) -> StoreResult<u64> {
        self.execute_raw(sql, p).await.map_err(pg_err)
    }
}

/// What the writes of one group commit share: the connection, and the notifications to send with the commit.
pub(super) struct Batch {
    pub(super) conn: Arc<Conn>,
    pub(super) node: Arc<str>,
    pub(super) notes: Mutex<Vec<String>>,
    /// The earliest time work was queued for (`i64::MAX`: none).
    pub(super) due: AtomicI64,
    /// The dashboard's activity counts of this commit's messages and attempts.
    pub(super) tally: Mutex<Tally>,
}

impl Batch {
    pub(super) fn due(&self, at: Millis) {
        self.due.fetch_min(at, Ordering::Relaxed);
    }
    pub(super) fn note(&self, mut v: serde_json::Value) {
        v["n"] = serde_json::Value::String(self.node.to_string());
        let text = v.to_string();
        if text.len() <= NOTIFY_MAX {
            self.notes.lock().unwrap().push(text);
        } else {
            tracing::warn!(bytes = text.len(), "a change notification is too large to send");
        }
    }
    pub(super) fn changed(&self, kind: &str, org_id: &str, parent: &str, id: &str) {
        self.note(serde_json::json!({"e": "doc", "k": kind, "o": org_id, "p": parent, "i": id}));
    }
}

pub(super) type Finish = Box<dyn FnOnce(&Result<(), Failure>) + Send>;

/// How a write went, for the writer: `Failed` left nothing behind that matters (a conflict found before writing,
/// or undone by its savepoint); `Spoiled` broke the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Ok,
    Failed,
    Spoiled,
}

pub(super) type GeneralFn = Box<dyn for<'b> FnOnce(&'b Batch) -> BoxFuture<'b, (Finish, Outcome)> + Send>;

pub(super) enum Op {
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

pub(super) struct AttemptOp {
    pub(super) job_id: i64,
    pub(super) delivery_id: i64,
    pub(super) attempt: AttemptRecord,
    pub(super) next: NextStep,
}

pub(super) fn finisher<T: Send + 'static>(tx: oneshot::Sender<StoreResult<T>>, result: StoreResult<T>) -> Finish {
    Box::new(move |commit: &Result<(), Failure>| {
        let _ = tx.send(match commit {
            Ok(()) => result,
            Err(f) => Err(f.error()),
        });
    })
}

/// For a write whose group failed: the batch is rolled back, and the caller told why.
pub(super) fn answered_by_commit<T: Send + 'static>(tx: oneshot::Sender<StoreResult<T>>) -> Finish {
    finisher(tx, Err(StoreError::Other(anyhow::anyhow!("the group commit failed"))))
}

pub(super) fn outcome_of<T>(r: &StoreResult<T>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(StoreError::Conflict(_)) => Outcome::Failed,
        Err(_) => Outcome::Spoiled,
    }
}

/// `cfg` with `options` (server settings, `-c name=value …`) added to the URL's own.
pub(super) fn with_options(cfg: &tokio_postgres::Config, options: &str) -> tokio_postgres::Config {
    let mut cfg = cfg.clone();
    let all = match cfg.get_options() {
        Some(o) if !o.is_empty() => format!("{o} {options}"),
        _ => options.to_string(),
    };
    cfg.options(&all);
    cfg
}

pub(super) async fn connect(cfg: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = cfg.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection lost");
        }
    });
    Ok(client)
}

pub(super) async fn writer_loop(
    cfg: tokio_postgres::Config,
    mut rx: mpsc::UnboundedReceiver<Op>,
    node: Arc<str>,
    commits: Arc<std::sync::atomic::AtomicU64>,
) {
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
        if tokio::time::timeout(BATCH_TIMEOUT, run_batch(c, ops, node.clone(), &commits)).await.is_err() {
            tracing::error!("a group commit timed out; reconnecting");
            conn = None;
        }
    }
}

/// Runs one group commit and answers its callers.
pub(super) async fn run_batch(conn: Arc<Conn>, ops: Vec<Op>, node: Arc<str>, commits: &std::sync::atomic::AtomicU64) {
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
    let (started, sizes) = (Instant::now(), [publishes.len(), attempts.len(), defers.len(), fast.len(), slow.len()]);
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
                Ok(_) => {
                    commits.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
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
    // A commit this slow holds up every write behind it: what it held, to find why (a lock another session holds,
    // a plan gone bad).
    let took = started.elapsed();
    if took > SLOW_BATCH {
        let [publishes, attempts, defers, plain, savepoints] = sizes;
        tracing::warn!(
            ms = took.as_millis() as u64,
            publishes,
            attempts,
            defers,
            plain,
            savepoints,
            "a slow group commit"
        );
    }
}

/// A group commit taking longer than this is logged.
const SLOW_BATCH: Duration = Duration::from_secs(1);

/// Adds a commit's activity counts to this node's rows of the `activity` table (one statement, rows locked in key
/// order; no other node writes them, so nodes never wait on each other's counts).
pub(super) async fn add_activity(conn: &Conn, tally: &Tally, node: &str) -> Result<u64, tokio_postgres::Error> {
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
