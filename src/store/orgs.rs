//! Organizations (tenants), their API tokens (kept as SHA-256 hashes) and the store's own facts (`meta`).

use super::db::{self, Sql};
use super::{now_ms, Store, StoreError, StoreResult};

impl dyn Store {
    /// A value of the `meta` table (facts about the store, such as the main key's check value).
    pub async fn meta_get(&self, name: &str) -> StoreResult<Option<String>> {
        db::fetch_one(self, Sql::new("SELECT value FROM meta WHERE name = ?").bind(name), |r| r.get(0)).await
    }

    /// The default organization's id, created on first start (once, however many nodes start at once: a second
    /// insert waits for the first on PostgreSQL's unique index of the default, then finds its row).
    pub async fn default_org(&self) -> StoreResult<String> {
        db::write(self, false, |db| {
            Box::pin(async move {
                let insert = Sql::new(
                    "INSERT INTO orgs (id, name, is_default, created_at)
                     SELECT CAST(? AS TEXT), 'default', 1, CAST(? AS BIGINT)
                     WHERE NOT EXISTS (SELECT 1 FROM orgs WHERE is_default = 1) ON CONFLICT DO NOTHING",
                )
                .bind(crate::ids::new(crate::ids::ORG))
                .bind(now_ms());
                db.execute(&insert).await?;
                let id = db.row(&Sql::new("SELECT id FROM orgs WHERE is_default = 1"), |r| r.get(0)).await?;
                id.ok_or_else(|| StoreError::Other(anyhow::anyhow!("no default organization")))
            })
        })
        .await
    }

    pub async fn org_create(&self, name: &str) -> StoreResult<String> {
        let id = crate::ids::new(crate::ids::ORG);
        let q = Sql::new("INSERT INTO orgs (id, name, is_default, created_at) VALUES (?, ?, 0, ?)")
            .bind(&id)
            .bind(name)
            .bind(now_ms());
        db::run(self, q).await?;
        Ok(id)
    }

    pub async fn token_insert(&self, hash: [u8; 32], org_id: &str, name: &str) -> StoreResult<()> {
        let q =
            Sql::new("INSERT INTO tokens (hash, org_id, name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(&hash[..])
                .bind(org_id)
                .bind(name)
                .bind(now_ms());
        db::write(self, false, move |db| {
            Box::pin(async move {
                db.execute(&q).await?;
                db.tokens_changed();
                Ok(())
            })
        })
        .await
    }

    pub async fn token_org(&self, hash: [u8; 32]) -> StoreResult<Option<String>> {
        db::fetch_one(self, Sql::new("SELECT org_id FROM tokens WHERE hash = ?").bind(&hash[..]), |r| r.get(0)).await
    }

    pub async fn token_count(&self) -> StoreResult<i64> {
        Ok(db::fetch_one(self, Sql::new("SELECT COUNT(*) FROM tokens"), |r| r.get(0)).await?.unwrap_or(0))
    }
}
