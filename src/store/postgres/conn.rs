//! The queries written once ([`crate::store::db`]) on PostgreSQL: a pooled connection reads, a place in the
//! writer's group commit writes.

use super::*;

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

pub(super) fn db_row(r: &Row) -> StoreResult<db::Row> {
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

pub(super) fn db_params(q: &db::Sql) -> Vec<Param<'_>> {
    q.args.iter().map(|a| a as Param<'_>).collect()
}

/// A pooled connection that reads.
pub(super) struct PgRead(pub(super) deadpool_postgres::Object);

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
    fn insert_messages<'a>(&'a mut self, _: &'a Forward) -> BoxFuture<'a, StoreResult<ForwardIds>> {
        Box::pin(async { Err(StoreError::Other(anyhow::anyhow!("messages are written by the store's writer"))) })
    }
}

/// A write's place in the writer's group commit.
pub(super) struct PgWrite<'b>(pub(super) &'b Batch);

/// A unique violation is a conflict (the savepoint or the batch's failure undoes the rest).
pub(super) fn pg_db_err(e: tokio_postgres::Error) -> StoreError {
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
    fn insert_messages<'a>(&'a mut self, forward: &'a Forward) -> BoxFuture<'a, StoreResult<ForwardIds>> {
        Box::pin(insert_forward(self.0, forward))
    }
}
