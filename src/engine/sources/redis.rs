//! `redis`: a Redis Stream read through a consumer group (`XREADGROUP GROUP group consumer COUNT batch BLOCK …`),
//! the group created at the stream's start (`0`, `MKSTREAM`) when missing, so entries added before the source
//! started are taken too. A read's entries are handed to the handler together (their commits grouped by the store)
//! and the committed ones acknowledged with one `XACK`. An entry not committed stays pending in the group; the
//! consumer then reads its own pending entries again (`0`) before new ones (`>`), as it does after connecting, so
//! that nothing read before a break or a restart is lost.
//!
//! An entry's `payload` field is the body (what hookd's own sink writes); its other fields are its headers; its
//! entry id is the message id.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::streams::StreamReadReply;
use serde_json::{Map, Value};

use super::{Handler, RedisSource, SourceError, SourceMessage, SourceStatus};
use crate::engine::sinks::{deadline, CONNECT_TIMEOUT};
use crate::shutdown::Shutdown;

/// How long one read waits for new entries (well under the connection's response timeout).
const BLOCK: Duration = Duration::from_millis(1000);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before entries that could not be committed are read again.
const RETURN_AFTER: Duration = Duration::from_millis(500);
/// The field holding the body.
const BODY_FIELD: &str = "payload";

pub(super) async fn consume(
    cfg: &RedisSource,
    handler: Arc<dyn Handler>,
    status: Arc<SourceStatus>,
    stop: Shutdown,
) -> Result<(), SourceError> {
    let host = cfg.host.as_str();
    let fail = |what: &str, e: &dyn std::fmt::Display| SourceError(format!("Redis at {host}: {what}: {e}"));
    let client = redis::Client::open(cfg.url.as_str()).map_err(|e| fail("opening", &e))?;
    let what = || format!("connecting to Redis at {host}");
    let mut conn = deadline(CONNECT_TIMEOUT, what, async {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| crate::engine::sinks::SinkError::new(format!("connecting: {e}")))
    })
    .await
    .map_err(|e| SourceError(format!("Redis at {host}: {}", e.reason)))?;
    let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&cfg.stream)
        .arg(&cfg.group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => return Err(fail("creating the consumer group", &e)),
        _ => {}
    }
    status.connected.store(true, Ordering::Relaxed);
    status.set_error(None);
    // Own pending entries first: those read before a break and not acknowledged.
    let mut pending = true;
    while !stop.is_set() {
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP").arg(&cfg.group).arg(&cfg.consumer).arg("COUNT").arg(cfg.batch);
        if !pending {
            read.arg("BLOCK").arg(BLOCK.as_millis() as u64);
        }
        read.arg("STREAMS").arg(&cfg.stream).arg(if pending { "0" } else { ">" });
        let reply: Option<StreamReadReply> = tokio::select! {
            r = read.query_async(&mut conn) => r.map_err(|e| fail("reading the stream", &e))?,
            _ = stop.wait() => break,
        };
        let entries: Vec<_> = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids).collect();
        if entries.is_empty() {
            pending = false;
            continue;
        }
        // Pending entries were read again after a failure: one by one.
        let (ids, msgs): (Vec<String>, Vec<SourceMessage>) =
            entries.into_iter().map(|e| (e.id.clone(), message(&e.id, e.map))).unzip();
        let handled: Vec<(String, bool)> =
            ids.into_iter().zip(super::handle_all(&handler, msgs, pending).await).collect();
        let committed: Vec<&str> = handled.iter().filter(|(_, ok)| *ok).map(|(id, _)| id.as_str()).collect();
        for (_, ok) in &handled {
            status.commit(*ok);
        }
        if !committed.is_empty() {
            let acked: Result<i64, _> =
                redis::cmd("XACK").arg(&cfg.stream).arg(&cfg.group).arg(&committed).query_async(&mut conn).await;
            acked.map_err(|e| fail("acknowledging", &e))?;
        }
        if committed.len() < handled.len() {
            pending = true;
            tokio::time::sleep(super::jittered(RETURN_AFTER)).await;
        }
    }
    Ok(())
}

fn message(id: &str, fields: std::collections::HashMap<String, redis::Value>) -> SourceMessage {
    let mut headers = Map::new();
    let mut body = Vec::new();
    for (k, v) in fields {
        let bytes: Vec<u8> = redis::from_redis_value(v).unwrap_or_default();
        if k == BODY_FIELD {
            body = bytes;
        } else {
            headers.insert(k, Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    SourceMessage { id: Some(id.to_string()), headers, body, type_property: None }
}
