//! `rabbitMq`: AMQP 0-9-1 through lapin. Each message is published, persistent and `mandatory`, to the default
//! exchange with the configured routing key (so it lands in the queue of that name, as Svix does); the channel is
//! in confirm mode and a batch is taken once every publish is acked. A message the broker returns unroutable (no
//! such queue) fails the batch rather than vanishing.

use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use super::{deadline, metadata, Batch, RabbitMqConfig, Sink, SinkError, CONNECT_TIMEOUT, SEND_TIMEOUT};

pub(super) struct RabbitMqSink {
    cfg: RabbitMqConfig,
    /// The open connection and its confirm-mode channel; `None` after it broke, until the next send re-opens it.
    conn: Mutex<Option<(Connection, Channel)>>,
}

impl RabbitMqSink {
    pub(super) async fn connect(cfg: &RabbitMqConfig) -> Result<Self, SinkError> {
        let open = open(cfg).await?;
        Ok(RabbitMqSink { cfg: cfg.clone(), conn: Mutex::new(Some(open)) })
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> SinkError {
        SinkError::new(format!("RabbitMQ at {}: {what}: {e}", self.cfg.host))
    }
}

async fn open(cfg: &RabbitMqConfig) -> Result<(Connection, Channel), SinkError> {
    let what = || format!("connecting to RabbitMQ at {}", cfg.host);
    deadline(CONNECT_TIMEOUT, what, async {
        let props = ConnectionProperties::default().with_connection_name("hookd destination".into());
        let conn = Connection::connect(&cfg.uri, props)
            .await
            .map_err(|e| SinkError::new(format!("connecting to RabbitMQ at {}: {e}", cfg.host)))?;
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| SinkError::new(format!("RabbitMQ at {}: opening a channel: {e}", cfg.host)))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| SinkError::new(format!("RabbitMQ at {}: enabling publisher confirms: {e}", cfg.host)))?;
        Ok((conn, channel))
    })
    .await
}

#[async_trait]
impl Sink for RabbitMqSink {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut slot = self.conn.lock().await;
        if slot.as_ref().is_none_or(|(c, ch)| !c.status().connected() || !ch.status().connected()) {
            if let Some((conn, _)) = slot.take() {
                tokio::spawn(async move { conn.close(200, "hookd reopens".into()).await });
            }
            *slot = Some(open(&self.cfg).await?);
        }
        let (_, channel) = slot.as_ref().expect("opened above");
        let what = || format!("publishing {} messages to RabbitMQ at {}", batch.events.len(), self.cfg.host);
        let result = deadline(SEND_TIMEOUT, what, async {
            let mut confirms = Vec::with_capacity(batch.events.len());
            for e in batch.events {
                let mut headers = FieldTable::default();
                for (k, v) in metadata(batch, e) {
                    headers.insert(k.into(), AMQPValue::LongString(v.into()));
                }
                let props = BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into())
                    .with_message_id(e.msg_id.as_str().into())
                    .with_type(e.event_type.as_str().into())
                    .with_timestamp((e.timestamp / 1000).max(0) as u64)
                    .with_app_id("hookd".into())
                    .with_headers(headers);
                let opts = BasicPublishOptions { mandatory: true, ..Default::default() };
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        self.cfg.routing_key.as_str().into(),
                        opts,
                        e.payload.get().as_bytes(),
                        props,
                    )
                    .await
                    .map_err(|err| self.fail("publishing", err))?;
                confirms.push(confirm);
            }
            for (confirm, e) in confirms.into_iter().zip(batch.events) {
                match confirm.await.map_err(|err| self.fail("waiting for the publisher confirm", err))? {
                    Confirmation::Ack(None) => {}
                    Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                        return Err(SinkError::new(format!(
                            "RabbitMQ at {} returned {} unroutable ({} {}): no queue named `{}` (messages go to the \
                             default exchange, whose routing key names the queue)",
                            self.cfg.host, e.msg_id, returned.reply_code, returned.reply_text, self.cfg.routing_key
                        )));
                    }
                    Confirmation::Nack(None) => {
                        return Err(SinkError::new(format!(
                            "RabbitMQ at {} refused {} (negative publisher confirm)",
                            self.cfg.host, e.msg_id
                        )));
                    }
                    Confirmation::NotRequested => {
                        return Err(self.fail("publishing", "the channel is not in confirm mode"));
                    }
                }
            }
            Ok(())
        })
        .await;
        if result.is_err() {
            // Unroutable or not, start afresh next time: a channel whose confirms are in doubt is not reused.
            if let Some((conn, _)) = slot.take() {
                tokio::spawn(async move { conn.close(200, "hookd reopens".into()).await });
            }
        }
        result
    }
}
