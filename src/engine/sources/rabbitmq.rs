//! `rabbitMq`: AMQP 0-9-1 through lapin, as the sink connects. `basic.qos(prefetch)` lets the broker send that many
//! messages ahead; each is handed to the handler at once (so up to `prefetch` commits run together and the store
//! groups them into few transactions) and acknowledged on its own once committed. A message that could not be
//! committed is given back (`basic.nack`, requeued) after a pause, so that a failing store is not spun on. When the
//! connection breaks, the broker requeues every message not yet acknowledged.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use serde_json::{Map, Value};

use super::{Handler, RabbitMqSource, SourceError, SourceMessage, SourceStatus};
use crate::engine::sinks::{deadline, CONNECT_TIMEOUT};
use crate::shutdown::Shutdown;

/// How long a message that could not be committed waits before it is given back to the broker.
const RETURN_AFTER: Duration = Duration::from_millis(500);

pub(super) async fn consume(
    cfg: &RabbitMqSource,
    handler: Arc<dyn Handler>,
    status: Arc<SourceStatus>,
    stop: Shutdown,
) -> Result<(), SourceError> {
    let host = cfg.host.as_str();
    let fail = |what: &str, e: &dyn std::fmt::Display| SourceError(format!("RabbitMQ at {host}: {what}: {e}"));
    let what = || format!("connecting to RabbitMQ at {host}");
    let (conn, mut consumer) = deadline(CONNECT_TIMEOUT, what, async {
        let props = ConnectionProperties::default().with_connection_name("hookd queue source".into());
        let err = |what: &str, e: lapin::Error| crate::engine::sinks::SinkError::new(format!("{what}: {e}"));
        let conn = Connection::connect(&cfg.uri, props).await.map_err(|e| err("connecting", e))?;
        let channel = conn.create_channel().await.map_err(|e| err("opening a channel", e))?;
        channel.basic_qos(cfg.prefetch, BasicQosOptions::default()).await.map_err(|e| err("setting prefetch", e))?;
        let consumer = channel
            .basic_consume(cfg.queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(|e| err(&format!("consuming from queue `{}`", cfg.queue), e))?;
        Ok((conn, consumer))
    })
    .await
    .map_err(|e| SourceError(format!("RabbitMQ at {host}: {}", e.reason)))?;
    status.connected.store(true, Ordering::Relaxed);
    status.set_error(None);
    let result = loop {
        let next = tokio::select! {
            next = consumer.next() => next,
            _ = stop.wait() => break Ok(()),
        };
        let delivery = match next {
            Some(Ok(d)) => d,
            Some(Err(e)) => break Err(fail("consuming", &e)),
            None => break Err(SourceError(format!("RabbitMQ at {host}: the broker cancelled the consumer"))),
        };
        let msg = message(&delivery);
        let redelivered = delivery.redelivered;
        let (handler, status) = (handler.clone(), status.clone());
        let work = async move {
            let committed = handler.handle(msg).await;
            status.commit(committed);
            let acker = &delivery.acker;
            if committed {
                // A lost ack redelivers the message, which is then a duplicate of the committed one (by its id).
                let _ = acker.ack(BasicAckOptions::default()).await;
            } else {
                tokio::time::sleep(super::jittered(RETURN_AFTER)).await;
                let _ = acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
            }
        };
        // A message given back comes again alone, so that one that cannot be committed does not take others down
        // with it in a shared commit each time.
        if redelivered {
            work.await;
        } else {
            tokio::spawn(work);
        }
    };
    let _ = conn.close(200, "hookd stops consuming".into()).await;
    result
}

fn message(d: &lapin::message::Delivery) -> SourceMessage {
    let p = &d.properties;
    let mut headers = Map::new();
    if let Some(table) = p.headers() {
        for (k, v) in table.inner() {
            if let Some(v) = text(v) {
                headers.insert(k.as_str().to_string(), Value::String(v));
            }
        }
    }
    if let Some(ct) = p.content_type() {
        headers.insert("content-type".into(), Value::String(ct.as_str().to_string()));
    }
    SourceMessage {
        id: p.message_id().as_ref().map(|id| id.as_str().to_string()).filter(|id| !id.is_empty()),
        headers,
        body: d.data.clone(),
        type_property: p.kind().as_ref().map(|k| k.as_str().to_string()),
    }
}

/// A header's value as text (strings, numbers, booleans); tables and arrays are left out.
fn text(v: &AMQPValue) -> Option<String> {
    Some(match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_string(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        _ => return None,
    })
}
