//! `hookd store copy`: moves everything a store holds into another, empty one (SQLite ⇄ PostgreSQL), table by
//! table and row by row, so that a user who outgrows SQLite keeps all of it and pending work resumes on the new
//! store. Both backends have the tables and columns of [`TABLES`] (`tests/schema.rs` keeps them in step); a
//! backend may have more (PostgreSQL's node heartbeats), which a copy leaves to the new store to fill.

use async_trait::async_trait;
use tokio::sync::mpsc;

/// One column's value, in the few types both backends store.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

pub type Row = Vec<Cell>;

/// Rows travel between the two stores in chunks of this many.
pub const CHUNK: usize = 500;

/// What a backend's `export` runs: every row of `table`, its `cols` in order (each backend streams it its own way).
pub fn export_sql(table: &str, cols: &[&str]) -> String {
    format!("SELECT {} FROM {table}", cols.join(", "))
}

/// Every table a copy moves, with its columns, parents before children.
pub const TABLES: &[(&str, &[&str])] = &[
    // The main key's check value: the secrets stay sealed under the source's key, which goes with the copy.
    ("meta", &["name", "value"]),
    ("orgs", &["id", "name", "is_default", "created_at"]),
    ("tokens", &["hash", "org_id", "name", "created_at"]),
    ("docs", &["kind", "org_id", "parent", "id", "uid", "created_at", "updated_at", "data"]),
    (
        "messages",
        &[
            "id",
            "org_id",
            "app_id",
            "event_type",
            "event_id",
            "channels",
            "created_at",
            "payload",
            "payload_expires_at",
            "log_pos",
            "traceparent",
        ],
    ),
    ("app_log", &["app_id", "last_pos"]),
    (
        "deliveries",
        &[
            "id",
            "org_id",
            "app_id",
            "msg_id",
            "endpoint_id",
            "status",
            "attempts",
            "next_attempt_at",
            "updated_at",
            "failed_at",
        ],
    ),
    ("jobs", &["id", "kind", "ref_id", "run_at", "leased", "manual"]),
    (
        "attempts",
        &[
            "id",
            "org_id",
            "app_id",
            "msg_id",
            "endpoint_id",
            "url",
            "status_code",
            "status",
            "manual",
            "duration_ms",
            "created_at",
            "response",
        ],
    ),
    ("endpoint_failing", &["endpoint_id", "since", "failures"]),
    ("activity", &["org_id", "endpoint_id", "minute", "node", "messages", "attempts", "succeeded"]),
    ("idempotency", &["org_id", "key", "created_at", "status", "body"]),
    (
        "inbound_events",
        &[
            "id",
            "org_id",
            "registration_id",
            "delivery_id",
            "received_at",
            "match_key",
            "forwarded_msg_id",
            "headers",
            "normalized",
            "body",
        ],
    ),
    (
        "inbound_stats",
        &["registration_id", "total", "failures", "consecutive_failures", "last_event_at", "last_failure_at"],
    ),
    (
        "inbound_refused",
        &[
            "id",
            "org_id",
            "registration_id",
            "received_at",
            "status",
            "reason",
            "detail",
            "source_ip",
            "headers",
            "body",
            "body_size",
        ],
    ),
    ("inbound_health", &["registration_id", "hour", "accepted", "refused"]),
    ("queue_sources", &["registration_id", "org_id", "active", "version", "leased_by", "leased_until"]),
    (
        "destination_state",
        &[
            "id",
            "org_id",
            "app_id",
            "active",
            "acked_pos",
            "start_pos",
            "failures",
            "failing_since",
            "failure_reason",
            "next_retry_at",
            "leased_by",
            "leased_until",
        ],
    ),
    (
        "destination_attempts",
        &[
            "id",
            "destination_id",
            "status",
            "status_code",
            "status_text",
            "first_msg_id",
            "last_msg_id",
            "first_pos",
            "last_pos",
            "num_events",
            "duration_ms",
            "created_at",
        ],
    ),
    ("poller_consumers", &["destination_id", "consumer_id", "acked_pos", "updated_at"]),
    (
        "timers",
        &[
            "rowid_",
            "id",
            "org_id",
            "status",
            "created_at",
            "expires_at",
            "agent_id",
            "project_id",
            "milestones_sent",
            "ended_at",
            "cancel_reason",
            "paused_at",
            "paused_ms",
            "spec",
            "cycle_start",
            "runs",
        ],
    ),
];

/// Raw access to a backend's tables, for copying.
#[async_trait]
pub trait Tables: super::Store {
    async fn count_rows(&self, table: &'static str) -> anyhow::Result<i64> {
        let q = super::db::Sql::new(format!("SELECT COUNT(*) FROM {table}"));
        Ok(super::db::fetch_one(self, q, |r| r.get(0)).await?.unwrap_or(0))
    }
    /// Sends every row of `table` (its `cols`, in order) in chunks of up to [`CHUNK`].
    async fn export(
        &self,
        table: &'static str,
        cols: &'static [&'static str],
        out: mpsc::Sender<Vec<Row>>,
    ) -> anyhow::Result<()>;
    /// Inserts rows as they are, ids included.
    async fn import(&self, table: &'static str, cols: &'static [&'static str], rows: Vec<Row>) -> anyhow::Result<()>;
    /// After the last import: new ids continue after the copied ones, and the leases the old store's process
    /// held are freed, so that its work runs at once.
    async fn finish_import(&self) -> anyhow::Result<()>;
}

/// Rows copied per table.
pub type Report = Vec<(&'static str, u64)>;

/// Copies every table of `from` into `to`, which must be empty.
pub async fn copy(from: &dyn Tables, to: &dyn Tables) -> anyhow::Result<Report> {
    for (table, _) in TABLES {
        let n = to.count_rows(table).await?;
        anyhow::ensure!(n == 0, "the destination is not empty ({table} has {n} rows): copy only into a new store");
    }
    let mut report = Vec::with_capacity(TABLES.len());
    for &(table, cols) in TABLES {
        let (tx, mut rx) = mpsc::channel(4);
        let export = from.export(table, cols, tx);
        let import = async {
            let mut copied = 0u64;
            while let Some(rows) = rx.recv().await {
                copied += rows.len() as u64;
                to.import(table, cols, rows).await?;
            }
            anyhow::Ok(copied)
        };
        let (exported, copied) = tokio::join!(export, import);
        exported?;
        report.push((table, copied?));
    }
    to.finish_import().await?;
    Ok(report)
}

/// Opens the store at `url` (migrating it) for copying.
pub async fn open_tables(url: &str) -> anyhow::Result<Box<dyn Tables>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = super::sqlite::SqliteStore::open(path, super::Durability::Full, true)?;
        Ok(Box::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let opts = super::postgres::PgOptions { node: false, heartbeat: false, ..Default::default() };
        Ok(Box::new(super::postgres::PgStore::open(url, opts).await?))
    } else {
        anyhow::bail!("unsupported database URL {url:?}: expected sqlite://PATH or postgres://…")
    }
}
