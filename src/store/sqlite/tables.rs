//! Copying tables in and out (`hookd store copy`).

use super::*;

#[async_trait]
impl crate::store::copy::Tables for SqliteStore {
    async fn export(
        &self,
        table: &'static str,
        cols: &'static [&'static str],
        out: mpsc::Sender<Vec<crate::store::copy::Row>>,
    ) -> anyhow::Result<()> {
        use crate::store::copy::{Cell, CHUNK};
        use rusqlite::types::ValueRef;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let conn = pool.get()?;
            let mut stmt = conn.prepare(&crate::store::copy::export_sql(table, cols))?;
            let mut rows = stmt.query([])?;
            let mut chunk = Vec::with_capacity(CHUNK);
            while let Some(r) = rows.next()? {
                let row = (0..cols.len())
                    .map(|i| {
                        Ok(match r.get_ref(i)? {
                            ValueRef::Null => Cell::Null,
                            ValueRef::Integer(v) => Cell::Int(v),
                            ValueRef::Real(v) => Cell::Int(v as i64),
                            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                chunk.push(row);
                if chunk.len() == CHUNK {
                    out.blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))?;
                }
            }
            if !chunk.is_empty() {
                out.blocking_send(chunk)?;
            }
            Ok(())
        })
        .await?
    }

    async fn import(
        &self,
        table: &'static str,
        cols: &'static [&'static str],
        rows: Vec<crate::store::copy::Row>,
    ) -> anyhow::Result<()> {
        use crate::store::copy::Cell;
        let sql = format!("INSERT INTO {table} ({}) VALUES ({})", cols.join(", "), vec!["?"; cols.len()].join(", "));
        Ok(self
            .write(move |c| {
                let mut stmt = c.prepare_cached(&sql).map_err(sql_err)?;
                for row in rows {
                    let values = row.into_iter().map(|cell| match cell {
                        Cell::Null => Value::Null,
                        Cell::Int(v) => Value::Integer(v),
                        Cell::Text(t) => Value::Text(t),
                        Cell::Blob(b) => Value::Blob(b),
                    });
                    stmt.execute(params_from_iter(values)).map_err(sql_err)?;
                }
                Ok(())
            })
            .await?)
    }

    async fn finish_import(&self) -> anyhow::Result<()> {
        self.release_all_leases().await?;
        Ok(())
    }
}
