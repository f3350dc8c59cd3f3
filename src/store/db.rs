//! What the store's queries are written against, once for both databases.
//!
//! A query is an [`Sql`]: text with `?` placeholders and its arguments as [`Value`]s. SQLite runs the text as it
//! is; PostgreSQL gets it with `$1, $2, …` ([`Sql::numbered`]). The schemas agree column for column (integers are
//! 64-bit, text compares bytewise, blobs are bytes), so one text serves both; where the two dialects truly differ
//! (JSON, a planner hint, row locks) the query asks [`Dialect`] for the fragment.
//!
//! A backend hands the queries a [`Db`]: a connection that reads, or a place in its group commit that writes.
//! SQLite's calls finish before they return (its connections are synchronous), PostgreSQL's are awaited; the
//! same `async` code drives both. The hot path's coalesced writes (publishing, recording attempts, claiming) are
//! the backends' own, because there the two databases are best used differently.

use std::any::Any;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{DocKind, Millis, Page, Store, StoreError, StoreResult};

/// One argument or column value. The schemas use no other types: booleans are integers 0 and 1.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Int(v as i64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v as i64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Blob(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// A column's value as a Rust type (copied out of the row: a text becomes one allocation, an `Arc<str>` too).
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Option<bool> {
        i64::from_value(v).map(|i| i != 0)
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromValue for Arc<str> {
    fn from_value(v: &Value) -> Option<Arc<str>> {
        match v {
            Value::Text(s) => Some(Arc::from(s.as_str())),
            _ => None,
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Option<Vec<u8>> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            // SQLite keeps what it was given: a blob written as text reads back as text.
            Value::Text(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug, Clone, Default)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Column `i` as a `T`; an error names the column when the value is of another type.
    pub fn get<T: FromValue>(&self, i: usize) -> StoreResult<T> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v).ok_or_else(|| {
            StoreError::Other(anyhow::anyhow!("column {i}: {v:?} is not a {}", std::any::type_name::<T>()))
        })
    }
}

/// The two SQL dialects, for the few fragments they spell differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A condition: the JSON array of strings in `col` holds the argument that follows.
    pub fn json_array_has(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => format!("EXISTS (SELECT 1 FROM json_each({col}) WHERE value = ?)"),
            Dialect::Postgres => format!("{col}::jsonb @> jsonb_build_array(CAST(? AS TEXT))"),
        }
    }

    /// The text of a JSON object's top-level field (named by the argument that follows) in `col`.
    pub fn json_field(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({col}, '$.' || ?)"),
            Dialect::Postgres => format!("({col}::jsonb ->> CAST(? AS TEXT))"),
        }
    }

    /// What follows a `SELECT` in a write that reads rows it is about to change: PostgreSQL locks them; SQLite's
    /// one writer holds the whole database already.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// What follows a `SELECT` that takes rows for a job several nodes may run at once: PostgreSQL locks them and
    /// passes over those another node holds, so that the nodes share the rows; SQLite's one writer runs it alone.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// SQLite's `INDEXED BY` hint, where its planner would pick a worse index; PostgreSQL plans by statistics.
    pub fn indexed_by(self, index: &str) -> String {
        match self {
            Dialect::Sqlite => format!(" INDEXED BY {index}"),
            Dialect::Postgres => String::new(),
        }
    }

    /// The assignments that give a job's lease back: PostgreSQL also forgets the node that held it.
    pub fn lease_freed(self) -> &'static str {
        match self {
            Dialect::Sqlite => "leased = 0",
            Dialect::Postgres => "leased = 0, leased_by = NULL",
        }
    }

    /// SQLite's `NOT INDEXED` hint after a table: rows named by an `id IN (…)` list are found by rowid, not
    /// through the index of another column the query names (which can hold many more rows).
    pub fn not_indexed(self) -> &'static str {
        match self {
            Dialect::Sqlite => " NOT INDEXED",
            Dialect::Postgres => "",
        }
    }

    /// The larger (`max`) or smaller of two values: SQLite's scalar `MAX`/`MIN`, PostgreSQL's `GREATEST`/`LEAST`.
    pub fn greatest(self, a: &str, b: &str) -> String {
        match self {
            Dialect::Sqlite => format!("MAX({a}, {b})"),
            Dialect::Postgres => format!("GREATEST({a}, {b})"),
        }
    }
    pub fn least(self, a: &str, b: &str) -> String {
        match self {
            Dialect::Sqlite => format!("MIN({a}, {b})"),
            Dialect::Postgres => format!("LEAST({a}, {b})"),
        }
    }

    /// One row per value of `col` in a query ordered by `col`: (what follows `SELECT`, what precedes `ORDER BY`).
    /// PostgreSQL's `DISTINCT ON`; SQLite's `GROUP BY`, which walks the index in order and which PostgreSQL refuses
    /// while other tables' columns are selected.
    pub fn distinct_on(self, col: &str) -> (String, String) {
        match self {
            Dialect::Sqlite => (String::new(), format!(" GROUP BY {col}")),
            Dialect::Postgres => (format!("DISTINCT ON ({col}) "), String::new()),
        }
    }
}

/// A statement and its arguments, built once for both dialects.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Value>,
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Sql {
        Sql { text: text.into(), args: Vec::new() }
    }

    /// Binds the next `?` of the text.
    pub fn bind(mut self, v: impl Into<Value>) -> Sql {
        self.args.push(v.into());
        self
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends `text`, whose one `?` takes `v`.
    pub fn push_bind(&mut self, text: &str, v: impl Into<Value>) -> &mut Sql {
        self.text.push_str(text);
        self.args.push(v.into());
        self
    }

    /// Appends ` AND {col} IN (?, …)`; an empty list matches nothing.
    pub fn and_in<V: Into<Value> + Clone>(&mut self, col: &str, values: &[V]) -> &mut Sql {
        if values.is_empty() {
            return self.push(" AND 1 = 0");
        }
        self.text.push_str(&format!(" AND {col} IN ("));
        for (i, v) in values.iter().enumerate() {
            self.text.push_str(if i == 0 { "?" } else { ", ?" });
            self.args.push(v.clone().into());
        }
        self.push(")")
    }

    /// Appends the cursor condition and the ordering for `page`, paging on `col` (see [`Page`]).
    pub fn paginate(&mut self, page: &Page, col: &str) -> &mut Sql {
        let desc = page.walk_desc();
        // No id is empty: an empty iterator (`cursor=` as clients send it) is the first page.
        if let Some(it) = page.iterator.as_ref().filter(|it| !it.is_empty()) {
            self.push_bind(&format!(" AND {col} {} ?", if desc { "<" } else { ">" }), it.clone());
        }
        self.push(&format!(" ORDER BY {col} {} LIMIT {}", if desc { "DESC" } else { "ASC" }, page.limit + 1))
    }

    /// The text with PostgreSQL's numbered placeholders. No query of the store has a `?` of its own (in a string,
    /// or PostgreSQL's JSON operators), so every `?` is a placeholder.
    pub fn numbered(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 2 * self.args.len());
        let mut n = 0;
        for c in self.text.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// Names the uniqueness rule a `Conflict` broke (`.map_err(conflict_as("…"))`).
/// The lease every worker that one node at a time runs (a destination, a queue source) is claimed with, on
/// `table`'s `active`, `leased_by` and `leased_until` columns: takes the rows no other node holds and renews those
/// of `node`'s that end before `renew_before`, each until `until`. The condition is on the updated row itself, so
/// that of two nodes claiming at once on PostgreSQL the second re-checks it against the first's lease and passes
/// the row by; a lease still long enough is left alone, so an idle node writes every few seconds, not at every tick.
pub fn claim_leases(table: &str, node: &str, now: Millis, renew_before: Millis, until: Millis) -> Sql {
    Sql::new(format!(
        "UPDATE {table} SET leased_by = ?, leased_until = ?
         WHERE active = 1 AND (leased_by IS NULL OR leased_until < ? OR (leased_by = ? AND leased_until < ?))"
    ))
    .bind(node)
    .bind(until)
    .bind(now)
    .bind(node)
    .bind(renew_before)
}

/// Frees the leases of `table` that `node` holds (a graceful stop), or every one (`None`: the start of the one
/// process an embedded store has).
pub fn release_leases(table: &str, node: Option<&str>) -> Sql {
    let mut q = Sql::new(format!("UPDATE {table} SET leased_by = NULL, leased_until = 0 WHERE 1 = 1"));
    if let Some(node) = node {
        q.push_bind(" AND leased_by = ?", node);
    }
    q
}

pub fn conflict_as(what: &'static str) -> impl Fn(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(what.to_string()),
        e => e,
    }
}

/// A connection as the queries see it. Errors are [`StoreError`]s; a broken uniqueness rule is
/// `StoreError::Conflict`. On PostgreSQL a failed statement spoils its transaction: a write that may break a rule
/// after it wrote something runs with a savepoint ([`write`]'s `savepoint`), and inserts that may conflict use
/// `ON CONFLICT DO NOTHING` and look at what they returned.
pub trait Db: Send {
    fn dialect(&self) -> Dialect;
    fn query<'a>(&'a mut self, q: &'a Sql) -> BoxFuture<'a, StoreResult<Vec<Row>>>;
    /// Returns how many rows changed.
    fn execute<'a>(&'a mut self, q: &'a Sql) -> BoxFuture<'a, StoreResult<u64>>;

    // What a write tells the other processes sharing the database once it commits; nothing to tell for a
    // database one process serves.
    /// A document changed: caches holding it drop it.
    fn changed(&mut self, _kind: DocKind, _org_id: &str, _parent: &str, _id: &str) {}
    /// Work was queued for `at`.
    fn due(&mut self, _at: Millis) {}
    /// The tokens changed.
    fn tokens_changed(&mut self) {}

    /// Stores messages with their deliveries and jobs, as [`Store::publish`] does (in a write only).
    fn insert_messages<'a>(&'a mut self, forward: &'a super::Forward) -> BoxFuture<'a, StoreResult<super::ForwardIds>>;
}

impl dyn Db + '_ {
    pub async fn rows<T>(&mut self, q: &Sql, f: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
        self.query(q).await?.iter().map(f).collect()
    }

    pub async fn row<T>(&mut self, q: &Sql, f: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<Option<T>> {
        self.query(q).await?.first().map(f).transpose()
    }
}

/// A result on its way back from a backend's connection.
pub type Erased = Box<dyn Any + Send>;
/// Work for a connection: queries over a [`Db`], returning an [`Erased`] result.
pub type DbOp = Box<dyn for<'d> FnOnce(&'d mut dyn Db) -> BoxFuture<'d, StoreResult<Erased>> + Send>;

fn erase<R, F>(f: F) -> DbOp
where
    R: Send + 'static,
    F: for<'d> FnOnce(&'d mut dyn Db) -> BoxFuture<'d, StoreResult<R>> + Send + 'static,
{
    Box::new(move |db| Box::pin(async move { f(db).await.map(|r| Box::new(r) as Erased) }))
}

fn unerase<R: 'static>(r: Erased) -> R {
    *r.downcast::<R>().expect("a DbOp returns its own result")
}

/// Runs `f` on a connection that reads.
pub async fn read<S, R, F>(store: &S, f: F) -> StoreResult<R>
where
    S: Store + ?Sized,
    R: Send + 'static,
    F: for<'d> FnOnce(&'d mut dyn Db) -> BoxFuture<'d, StoreResult<R>> + Send + 'static,
{
    store.read_op(erase(f)).await.map(unerase)
}

/// Runs `f` in the next group commit and returns its result once that commit is durable. With `savepoint`, a
/// failure of `f` undoes its own writes only; without, `f` may fail with a conflict only before it writes.
pub async fn write<S, R, F>(store: &S, savepoint: bool, f: F) -> StoreResult<R>
where
    S: Store + ?Sized,
    R: Send + 'static,
    F: for<'d> FnOnce(&'d mut dyn Db) -> BoxFuture<'d, StoreResult<R>> + Send + 'static,
{
    store.write_op(savepoint, erase(f)).await.map(unerase)
}

/// Reads the rows of one statement.
pub async fn fetch<S, T, F>(store: &S, q: Sql, f: F) -> StoreResult<Vec<T>>
where
    S: Store + ?Sized,
    T: Send + 'static,
    F: Fn(&Row) -> StoreResult<T> + Send + 'static,
{
    read(store, move |db| Box::pin(async move { db.rows(&q, f).await })).await
}

/// Reads the first row of one statement.
pub async fn fetch_one<S, T, F>(store: &S, q: Sql, f: F) -> StoreResult<Option<T>>
where
    S: Store + ?Sized,
    T: Send + 'static,
    F: Fn(&Row) -> StoreResult<T> + Send + 'static,
{
    read(store, move |db| Box::pin(async move { db.row(&q, f).await })).await
}

/// Runs one statement in the next group commit; returns how many rows it changed.
pub async fn run<S: Store + ?Sized>(store: &S, q: Sql) -> StoreResult<u64> {
    write(store, false, move |db| Box::pin(async move { db.execute(&q).await })).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order_for_postgres() {
        let mut q = Sql::new("SELECT a FROM t WHERE b = ?").bind(1i64);
        q.and_in("c", &["x", "y"])
            .paginate(&Page { limit: 10, iterator: Some("it".into()), reverse: false, descending: true }, "id");
        assert_eq!(
            q.numbered(),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) AND id < $4 ORDER BY id DESC LIMIT 11"
        );
        assert_eq!(q.args.len(), 4);
    }

    #[test]
    fn rows_convert_and_name_a_mismatch() {
        let r = Row(vec![Value::Int(3), Value::Null, Value::Text("t".into())]);
        assert_eq!(r.get::<i64>(0).unwrap(), 3);
        assert_eq!(r.get::<Option<String>>(1).unwrap(), None);
        assert!(r.get::<bool>(0).unwrap());
        assert!(r.get::<i64>(2).unwrap_err().to_string().contains("column 2"));
    }
}
