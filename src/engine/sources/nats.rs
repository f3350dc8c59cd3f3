//! `nats`: a JetStream stream read through a durable pull consumer (`consumer`, created when missing, with explicit
//! acks and, when `subject` is given, that filter). Up to `batch` messages are pulled ahead; each is handed to the
//! handler at once and acknowledged once committed, or refused (`-NAK`, after a pause) so that the server delivers
//! it again. A message acknowledged by nobody (the connection broke) comes again after the consumer's ack wait.
//! The stream must exist (hookd creates none, as the sink does not).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::StreamExt;
use serde_json::{Map, Value};

use super::{Handler, NatsSource, SourceError, SourceMessage, SourceStatus};
use crate::engine::sinks::{deadline, CONNECT_TIMEOUT};
use crate::shutdown::Shutdown;

/// How long a message may stay unacknowledged before the server delivers it again (to this consumer or, after a
/// break, to the next).
const ACK_WAIT: Duration = Duration::from_secs(30);
const RETURN_AFTER: Duration = Duration::from_millis(500);

pub(super) async fn consume(
    cfg: &NatsSource,
    handler: Arc<dyn Handler>,
    status: Arc<SourceStatus>,
    stop: Shutdown,
) -> Result<(), SourceError> {
    let host = cfg.host.as_str();
    let fail = |what: &str, e: &dyn std::fmt::Display| SourceError(format!("NATS at {host}: {what}: {e}"));
    let what = || format!("connecting to NATS at {host}");
    let client = deadline(CONNECT_TIMEOUT, what, async {
        async_nats::ConnectOptions::new()
            .name("hookd queue source")
            .connection_timeout(CONNECT_TIMEOUT)
            // A break ends this consumer (and the caller connects afresh, with its backoff).
            .max_reconnects(Some(1))
            .connect(cfg.url.as_str())
            .await
            .map_err(|e| crate::engine::sinks::SinkError::new(format!("connecting: {e}")))
    })
    .await
    .map_err(|e| SourceError(format!("NATS at {host}: {}", e.reason)))?;
    let js = jetstream::new(client.clone());
    let stream = js.get_stream(&cfg.stream).await.map_err(|e| fail(&format!("stream `{}`", cfg.stream), &e))?;
    let config = pull::Config {
        durable_name: Some(cfg.consumer.clone()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        filter_subject: cfg.subject.clone().unwrap_or_default(),
        ..Default::default()
    };
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(&cfg.consumer, config)
        .await
        .map_err(|e| fail(&format!("consumer `{}`", cfg.consumer), &e))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(cfg.batch as usize)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| fail("pulling", &e))?;
    status.connected.store(true, Ordering::Relaxed);
    status.set_error(None);
    let result = loop {
        let next = tokio::select! {
            next = messages.next() => next,
            _ = stop.wait() => break Ok(()),
        };
        let msg = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => break Err(fail("pulling", &e)),
            None => break Err(SourceError(format!("NATS at {host}: the pull ended"))),
        };
        let source = message(&msg);
        let redelivered = msg.info().is_ok_and(|i| i.delivered > 1);
        let (handler, status) = (handler.clone(), status.clone());
        let work = async move {
            let committed = handler.handle(source).await;
            status.commit(committed);
            if committed {
                let _ = msg.ack().await;
            } else {
                let _ = msg.ack_with(AckKind::Nak(Some(super::jittered(RETURN_AFTER)))).await;
            }
        };
        // A message given back comes again alone (as on RabbitMQ).
        if redelivered {
            work.await;
        } else {
            tokio::spawn(work);
        }
    };
    drop(messages);
    let _ = client.drain().await;
    result
}

fn message(m: &jetstream::Message) -> SourceMessage {
    let mut headers = Map::new();
    let mut id = None;
    if let Some(h) = &m.headers {
        for (name, values) in h.iter() {
            let value = values.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ");
            if AsRef::<str>::as_ref(name).eq_ignore_ascii_case("Nats-Msg-Id") {
                id = Some(value.clone());
            }
            headers.insert(name.to_string(), Value::String(value));
        }
    }
    // Without a publisher's id, the stream's sequence names the message as well.
    let id = id.or_else(|| m.info().ok().map(|i| format!("{}:{}", i.stream, i.stream_sequence)));
    SourceMessage { id, headers, body: m.payload.to_vec(), type_property: None }
}
