//! Migrations, and the node's background tasks: its heartbeat (which reaps dead nodes) and its LISTEN connection.

use super::*;

pub(super) async fn migrate(pool: &Pool) -> anyhow::Result<()> {
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
pub(super) async fn heartbeat(
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
pub(super) fn parse_note(payload: &str, node: &str) -> Option<StoreEvent> {
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

pub(super) type Notes = mpsc::UnboundedReceiver<String>;

/// A LISTEN connection: the notifications' payloads arrive on the receiver, which ends when the connection does.
pub(super) async fn listen(cfg: &tokio_postgres::Config) -> Result<(Client, Notes), tokio_postgres::Error> {
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

pub(super) async fn listen_loop(
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
