//! Copying tables in and out (`hookd store copy`).

use super::*;

/// The PostgreSQL types a copied column may have: every table uses these three.
#[derive(Clone, Copy)]
pub(super) enum ColType {
    Int,
    Text,
    Bytes,
}

impl PgStore {
    pub(super) async fn column_types(&self, table: &str, cols: &[&str]) -> anyhow::Result<Vec<ColType>> {
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
impl crate::store::copy::Tables for PgStore {
    async fn export(
        &self,
        table: &'static str,
        cols: &'static [&'static str],
        out: mpsc::Sender<Vec<crate::store::copy::Row>>,
    ) -> anyhow::Result<()> {
        use crate::store::copy::{Cell, CHUNK};
        let types = self.column_types(table, cols).await?;
        let client = self.client().await?;
        let sql = crate::store::copy::export_sql(table, cols);
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
        rows: Vec<crate::store::copy::Row>,
    ) -> anyhow::Result<()> {
        use crate::store::copy::Cell;
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
