//! The two stores keep one schema: every table and column of the SQLite store exists in the PostgreSQL store
//! under the same name, and `hookd store copy` moves every one of them. PostgreSQL has a few of its own, for
//! several nodes, each named here with its reason.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

type Schema = BTreeMap<String, BTreeSet<String>>;

/// What only the shared store needs: node heartbeats, the lease holder, limits counted for the cluster (the
/// embedded store counts them in memory), and the migrations' own bookkeeping.
const POSTGRES_ONLY_TABLES: &[&str] = &["nodes", "schema_migrations", "rate_windows", "rate_throttles"];
const POSTGRES_ONLY_COLUMNS: &[(&str, &str)] = &[("jobs", "leased_by")];

async fn sqlite_schema(dir: &std::path::Path) -> Schema {
    let path = dir.join("schema.db");
    hookd::store::open(&format!("sqlite://{}", path.display()), hookd::config::Durability::Normal, false)
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut schema = Schema::new();
    for t in tables {
        let cols = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        schema.insert(t, cols);
    }
    schema
}

async fn postgres_schema(dir: &std::path::Path) -> Schema {
    let url = fresh_database_url(dir);
    hookd::store::open(&url, hookd::config::Durability::Normal, false).await.unwrap();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap();
    let mut schema = Schema::new();
    for r in rows {
        schema.entry(r.get(0)).or_default().insert(r.get(1));
    }
    schema
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn sqlite_and_postgres_have_the_same_tables_and_columns_and_copy_moves_them_all() {
    assert!(on_postgres(), "run with HOOKD_TEST_STORE=postgres");
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, mut postgres) = (sqlite_schema(dir.path()).await, postgres_schema(dir.path()).await);
    for t in POSTGRES_ONLY_TABLES {
        assert!(postgres.remove(*t).is_some(), "{t} is listed as PostgreSQL's own but does not exist");
    }
    for (t, c) in POSTGRES_ONLY_COLUMNS {
        assert!(postgres.get_mut(*t).is_some_and(|cols| cols.remove(*c)), "{t}.{c} is listed but does not exist");
    }
    assert_eq!(sqlite, postgres, "the stores' schemas differ");

    let copied: Schema = hookd::store::copy::TABLES
        .iter()
        .map(|(t, cols)| (t.to_string(), cols.iter().map(|c| c.to_string()).collect()))
        .collect();
    assert_eq!(copied, sqlite, "store copy moves every table and column");
}
