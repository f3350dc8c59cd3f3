//! `nats`: JetStream publish through async-nats. The batch's publishes go out back to back and their acks are
//! awaited after, in order; `Nats-Msg-Id` is the msg id, so a batch sent twice within the stream's duplicate
//! window is stored once. hookd creates no stream: one capturing `subject` must exist (a publish without one fails
//! with "no stream found", which becomes the destination's failure reason). The client reconnects by itself;
//! while the server is away publishes fail after the ack deadline.

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind};
use async_trait::async_trait;

use super::{deadline, metadata, Batch, NatsConfig, Sink, SinkError, CONNECT_TIMEOUT, SEND_TIMEOUT};

/// How long one publish ack may take.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct NatsSink {
    cfg: NatsConfig,
    js: jetstream::Context,
}

impl NatsSink {
    pub(super) async fn connect(cfg: &NatsConfig) -> Result<Self, SinkError> {
        let what = || format!("connecting to NATS at {}", cfg.host);
        let client = deadline(CONNECT_TIMEOUT, what, async {
            async_nats::ConnectOptions::new()
                .name("hookd destination")
                .connection_timeout(CONNECT_TIMEOUT)
                .connect(cfg.url.as_str())
                .await
                .map_err(|e| SinkError::new(format!("connecting to NATS at {}: {e}", cfg.host)))
        })
        .await?;
        let mut js = jetstream::new(client);
        js.set_timeout(ACK_TIMEOUT);
        Ok(NatsSink { cfg: cfg.clone(), js })
    }
}

#[async_trait]
impl Sink for NatsSink {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let host = &self.cfg.host;
        let subject = &self.cfg.subject;
        let what = || format!("publishing {} messages to NATS at {host}", batch.events.len());
        let reason = |e: &dyn std::fmt::Display, kind: Option<PublishErrorKind>| match kind {
            Some(PublishErrorKind::StreamNotFound) => format!(
                "NATS at {host}: no JetStream stream captures the subject `{subject}` (hookd creates none: add a \
                 stream for it)"
            ),
            _ => format!("NATS at {host}: publishing to `{subject}`: {e}"),
        };
        deadline(SEND_TIMEOUT, what, async {
            let mut acks = Vec::with_capacity(batch.events.len());
            for e in batch.events {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", e.msg_id.as_str());
                headers.insert("Content-Type", "application/json");
                for (k, v) in metadata(batch, e) {
                    headers.insert(k, v.as_str());
                }
                let payload = bytes::Bytes::copy_from_slice(e.payload.get().as_bytes());
                let ack = self
                    .js
                    .publish_with_headers(subject.clone(), headers, payload)
                    .await
                    .map_err(|err| SinkError::new(reason(&err, Some(err.kind()))))?;
                acks.push(ack);
            }
            for ack in acks {
                ack.await.map_err(|err| SinkError::new(reason(&err, Some(err.kind()))))?;
            }
            Ok(())
        })
        .await
    }
}
