//! Documents: the low-volume configuration (applications, endpoints, event types, registrations, bots, the chat
//! store, tokens of the app portal …) kept as JSON with the few columns that queries need. Their secrets are
//! sealed on the way in and opened on the way out when the store has a main key ([`super::sealed`]).

use super::db::{self, conflict_as, Dialect, Row, Sql};
use super::{now_ms, DocChange, DocKind, DocRecord, Page, Reseal, Store, StoreError, StoreResult};

const DOC_COLS: &str = "org_id, parent, id, uid, created_at, data";

fn doc_row(kind: DocKind) -> impl Fn(&Row) -> StoreResult<DocRecord> {
    move |r| {
        Ok(DocRecord {
            kind,
            org_id: r.get(0)?,
            parent: r.get(1)?,
            id: r.get(2)?,
            uid: r.get(3)?,
            created_at: r.get(4)?,
            data: r.get(5)?,
        })
    }
}

impl dyn Store {
    fn seal(&self, rec: DocRecord) -> StoreResult<DocRecord> {
        match self.main_key() {
            Some(key) => key.seal_record(rec),
            None => Ok(rec),
        }
    }

    fn open(&self, rec: DocRecord) -> StoreResult<DocRecord> {
        match self.main_key() {
            Some(key) => key.open_record(rec),
            None => Ok(rec),
        }
    }

    async fn docs(&self, kind: DocKind, q: Sql) -> StoreResult<Vec<DocRecord>> {
        let recs = db::fetch(self, q, doc_row(kind)).await?;
        recs.into_iter().map(|r| self.open(r)).collect()
    }

    pub async fn doc_insert(&self, rec: DocRecord) -> StoreResult<()> {
        let rec = self.seal(rec)?;
        db::write(self, false, move |db| {
            Box::pin(async move {
                let q = Sql::new(
                    "INSERT INTO docs (kind, org_id, parent, id, uid, created_at, updated_at, data)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                )
                .bind(rec.kind.as_str())
                .bind(&rec.org_id)
                .bind(&rec.parent)
                .bind(&rec.id)
                .bind(rec.uid.as_deref())
                .bind(rec.created_at)
                .bind(now_ms())
                .bind(&rec.data);
                if db.query(&q).await?.is_empty() {
                    return Err(StoreError::Conflict("An entity with this uid or name already exists".into()));
                }
                db.changed(rec.kind, &rec.org_id, &rec.parent, &rec.id);
                Ok(())
            })
        })
        .await
    }

    /// Replaces the document with the same kind, org and id; false when there is none.
    pub async fn doc_update(&self, rec: DocRecord) -> StoreResult<bool> {
        let rec = self.seal(rec)?;
        db::write(self, true, move |db| {
            Box::pin(async move {
                let q = Sql::new(
                    "UPDATE docs SET uid = ?, updated_at = ?, data = ? WHERE kind = ? AND org_id = ? AND id = ?
                     RETURNING parent",
                )
                .bind(rec.uid.as_deref())
                .bind(now_ms())
                .bind(&rec.data)
                .bind(rec.kind.as_str())
                .bind(&rec.org_id)
                .bind(&rec.id);
                let parent: Option<String> =
                    db.row(&q, |r| r.get(0)).await.map_err(conflict_as("An entity with this uid already exists"))?;
                let Some(parent) = parent else { return Ok(false) };
                db.changed(rec.kind, &rec.org_id, &parent, &rec.id);
                Ok(true)
            })
        })
        .await
    }

    /// By id or uid, within the org and parent.
    pub async fn doc_get(
        &self,
        kind: DocKind,
        org_id: &str,
        parent: &str,
        key: &str,
    ) -> StoreResult<Option<DocRecord>> {
        let q = Sql::new(format!(
            "SELECT {DOC_COLS} FROM docs WHERE kind = ? AND org_id = ? AND parent = ? AND (id = ? OR uid = ?)
             ORDER BY (id = ?) DESC LIMIT 1"
        ))
        .bind(kind.as_str())
        .bind(org_id)
        .bind(parent)
        .bind(key)
        .bind(key)
        .bind(key);
        Ok(self.docs(kind, q).await?.pop())
    }

    /// By id alone, whatever the org (for URLs that carry no token, such as inbound webhook URLs).
    pub async fn doc_get_any(&self, kind: DocKind, id: &str) -> StoreResult<Option<DocRecord>> {
        let q = Sql::new(format!("SELECT {DOC_COLS} FROM docs WHERE kind = ? AND id = ? LIMIT 1"))
            .bind(kind.as_str())
            .bind(id);
        Ok(self.docs(kind, q).await?.pop())
    }

    pub async fn doc_list(
        &self,
        kind: DocKind,
        org_id: &str,
        parent: &str,
        page: &Page,
    ) -> StoreResult<Vec<DocRecord>> {
        let mut q = Sql::new(format!("SELECT {DOC_COLS} FROM docs WHERE kind = ? AND org_id = ? AND parent = ?"))
            .bind(kind.as_str())
            .bind(org_id)
            .bind(parent);
        q.paginate(page, "id");
        self.docs(kind, q).await
    }

    /// Like `doc_list`, keeping only the documents whose top-level JSON `field` is `value`.
    pub async fn doc_list_where(
        &self,
        kind: DocKind,
        org_id: &str,
        parent: &str,
        field: &'static str,
        value: &str,
        page: &Page,
    ) -> StoreResult<Vec<DocRecord>> {
        let dialect = self.dialect();
        let mut q = Sql::new(format!(
            "SELECT {DOC_COLS} FROM docs WHERE kind = ? AND org_id = ? AND parent = ? AND {} = ?",
            dialect.json_field("data")
        ))
        .bind(kind.as_str())
        .bind(org_id)
        .bind(parent)
        .bind(field)
        .bind(value);
        q.paginate(page, "id");
        self.docs(kind, q).await
    }

    /// Changes a document in place (see [`DocChange`]); None when there is none.
    pub async fn doc_modify(
        &self,
        kind: DocKind,
        org_id: &str,
        id: &str,
        change: DocChange,
    ) -> StoreResult<Option<DocRecord>> {
        // The change sees and returns plaintext; the stored JSON is sealed.
        let change: DocChange = match self.main_key() {
            Some(key) => {
                let (key, org, doc_id) = (key.clone(), org_id.to_string(), id.to_string());
                Box::new(move |data| {
                    let opened = key.open_doc(kind, &org, &doc_id, data)?;
                    key.seal_record(change(opened.as_ref())?)
                })
            }
            None => change,
        };
        let (org_id, id) = (org_id.to_string(), id.to_string());
        let rec = db::write(self, true, move |db| {
            Box::pin(async move {
                let select = Sql::new(format!(
                    "SELECT data, parent FROM docs WHERE kind = ? AND org_id = ? AND id = ?{}",
                    db.dialect().for_update()
                ))
                .bind(kind.as_str())
                .bind(&org_id)
                .bind(&id);
                let found: Option<(String, String)> = db.row(&select, |r| Ok((r.get(0)?, r.get(1)?))).await?;
                let Some((data, parent)) = found else { return Ok(None) };
                let rec = change(&data)?;
                let update = Sql::new(
                    "UPDATE docs SET uid = ?, updated_at = ?, data = ? WHERE kind = ? AND org_id = ? AND id = ?",
                )
                .bind(rec.uid.as_deref())
                .bind(now_ms())
                .bind(&rec.data)
                .bind(kind.as_str())
                .bind(&org_id)
                .bind(&id);
                db.execute(&update).await.map_err(conflict_as("An entity with this uid already exists"))?;
                db.changed(kind, &org_id, &parent, &id);
                Ok(Some(rec))
            })
        })
        .await?;
        rec.map(|r| self.open(r)).transpose()
    }

    /// Deletes the document and every document whose parent it is.
    pub async fn doc_delete(&self, kind: DocKind, org_id: &str, id: &str) -> StoreResult<bool> {
        let (org_id, id) = (org_id.to_string(), id.to_string());
        db::write(self, false, move |db| {
            Box::pin(async move {
                let q = Sql::new("DELETE FROM docs WHERE kind = ? AND org_id = ? AND id = ? RETURNING parent")
                    .bind(kind.as_str())
                    .bind(&org_id)
                    .bind(&id);
                let gone: Vec<String> = db.rows(&q, |r| r.get(0)).await?;
                let q = Sql::new("DELETE FROM docs WHERE org_id = ? AND parent = ? RETURNING kind, id")
                    .bind(&org_id)
                    .bind(&id);
                let children: Vec<(String, String)> = db.rows(&q, |r| Ok((r.get(0)?, r.get(1)?))).await?;
                for parent in &gone {
                    db.changed(kind, &org_id, parent, &id);
                }
                for (child_kind, child) in &children {
                    if let Ok(child_kind) = child_kind.parse() {
                        db.changed(child_kind, &org_id, &id, child);
                    }
                }
                Ok(!gone.is_empty())
            })
        })
        .await
    }
}

impl dyn Store {
    /// In one transaction: rewrites the documents `job.change` changes, deletes the stored idempotent answers
    /// (they may hold secrets sealed under the old key, or none), and sets the meta value. Returns how many
    /// documents changed. Works on the stored (sealed) JSON: `job.change` opens and seals.
    pub async fn reseal(&self, job: Reseal) -> StoreResult<u64> {
        db::write(self, true, move |db| {
            Box::pin(async move {
                let (name, expect, value) = job.meta;
                // Nodes starting at once on an older database: one seals, the others find its check value.
                if db.dialect() == Dialect::Postgres {
                    db.execute(&Sql::new("LOCK TABLE meta IN SHARE ROW EXCLUSIVE MODE")).await?;
                }
                let current: Option<String> =
                    db.row(&Sql::new("SELECT value FROM meta WHERE name = ?").bind(name), |r| r.get(0)).await?;
                if current != expect {
                    return Err(StoreError::Conflict(format!("the store's {name} changed meanwhile")));
                }
                let mut changed = 0;
                for kind in job.kinds {
                    let q = Sql::new(format!("SELECT {DOC_COLS} FROM docs WHERE kind = ?{}", db.dialect().for_update()))
                        .bind(kind.as_str());
                    for rec in db.rows(&q, doc_row(kind)).await? {
                        if let Some(data) = (job.change)(&rec)? {
                            let q = Sql::new("UPDATE docs SET data = ? WHERE kind = ? AND org_id = ? AND id = ?")
                                .bind(data)
                                .bind(kind.as_str())
                                .bind(&rec.org_id)
                                .bind(&rec.id);
                            db.execute(&q).await?;
                            changed += 1;
                        }
                    }
                }
                if job.new_key {
                    db.execute(&Sql::new("DELETE FROM idempotency")).await?;
                }
                let q = Sql::new(
                    "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(name)
                .bind(value);
                db.execute(&q).await?;
                Ok(changed)
            })
        })
        .await
    }
}
