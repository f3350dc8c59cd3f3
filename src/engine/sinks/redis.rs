//! `redis`: each message an entry of a Redis Stream (`XADD stream [MAXLEN ~ n] * field value …`), the batch's
//! commands pipelined in one round trip. Entries carry the `hookd-*` metadata fields and `payload` (the JSON);
//! their ids are Redis's own (`*`), so a batch sent twice is appended twice: readers deduplicate on
//! `hookd-msg-id`.

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use super::{deadline, metadata, Batch, RedisConfig, Sink, SinkError, CONNECT_TIMEOUT, SEND_TIMEOUT};

pub(super) struct RedisSink {
    cfg: RedisConfig,
    client: redis::Client,
    /// The open connection; `None` after it broke, until the next send re-opens it.
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl RedisSink {
    pub(super) async fn connect(cfg: &RedisConfig) -> Result<Self, SinkError> {
        let client =
            redis::Client::open(cfg.url.as_str()).map_err(|e| SinkError::new(format!("Redis at {}: {e}", cfg.host)))?;
        let conn = open(cfg, &client).await?;
        Ok(RedisSink { cfg: cfg.clone(), client, conn: Mutex::new(Some(conn)) })
    }
}

async fn open(cfg: &RedisConfig, client: &redis::Client) -> Result<MultiplexedConnection, SinkError> {
    let what = || format!("connecting to Redis at {}", cfg.host);
    deadline(CONNECT_TIMEOUT, what, async {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(SEND_TIMEOUT));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| SinkError::new(format!("connecting to Redis at {}: {e}", cfg.host)))
    })
    .await
}

#[async_trait]
impl Sink for RedisSink {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut slot = self.conn.lock().await;
        let mut conn = match slot.as_ref() {
            Some(conn) => conn.clone(),
            None => {
                let conn = open(&self.cfg, &self.client).await?;
                *slot = Some(conn.clone());
                conn
            }
        };
        let mut pipe = redis::pipe();
        for e in batch.events {
            pipe.cmd("XADD").arg(&self.cfg.stream);
            if let Some(n) = self.cfg.max_len {
                pipe.arg("MAXLEN").arg("~").arg(n);
            }
            pipe.arg("*");
            for (k, v) in metadata(batch, e) {
                pipe.arg(k).arg(v);
            }
            pipe.arg("payload").arg(e.payload.get());
        }
        let what = || format!("adding {} entries to Redis at {}", batch.events.len(), self.cfg.host);
        let result = deadline(SEND_TIMEOUT, what, async {
            pipe.query_async::<Vec<String>>(&mut conn)
                .await
                .map_err(|e| SinkError::new(format!("Redis at {}: XADD to `{}`: {e}", self.cfg.host, self.cfg.stream)))
        })
        .await;
        match result {
            Ok(ids) if ids.len() == batch.events.len() => Ok(()),
            Ok(ids) => Err(SinkError::new(format!(
                "Redis at {} answered {} of {} XADDs",
                self.cfg.host,
                ids.len(),
                batch.events.len()
            ))),
            Err(e) => {
                // A broken or timed-out connection is opened afresh next time; a refusal (WRONGTYPE) keeps it.
                if !e.reason.contains("WRONGTYPE") {
                    *slot = None;
                }
                Err(e)
            }
        }
    }
}
