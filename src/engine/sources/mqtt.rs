//! `mqtt`: MQTT 3.1.1 through rumqttc, subscribed to `topic` (wildcards allowed) at QoS 1 or 2 in a persistent
//! session (`clean session` off, a stable client id), with manual acknowledgements: a PUBACK (PUBREC) is sent only
//! once the message was committed. MQTT has no negative acknowledgement: when a message cannot be committed the
//! connection is closed, and the broker sends every unacknowledged message of the session again when the consumer
//! connects back (as after any break). Messages published while it is away are queued by the broker for the
//! session. MQTT 3 has no headers either: the topic is the one header (`mqtt-topic`), and a message's id, if any,
//! is at `idPath` in its JSON body.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::{Handler, MqttSource, SourceError, SourceMessage, SourceStatus};
use crate::engine::sinks::CONNECT_TIMEOUT;
use crate::shutdown::Shutdown;

pub(super) async fn consume(
    cfg: &MqttSource,
    handler: Arc<dyn Handler>,
    status: Arc<SourceStatus>,
    stop: Shutdown,
) -> Result<(), SourceError> {
    let host = cfg.host.as_str();
    let fail = |what: &str, e: &dyn std::fmt::Display| SourceError(format!("MQTT broker at {host}: {what}: {e}"));
    let mut opts = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    opts.set_keep_alive(Duration::from_secs(15));
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    opts.set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
    if let Some((user, pass)) = &cfg.user {
        opts.set_credentials(user.clone(), pass.clone());
    }
    let (client, mut events) = AsyncClient::new(opts, 1024);
    events.network_options.set_connection_timeout(CONNECT_TIMEOUT.as_secs());
    let qos = if cfg.qos == 2 { QoS::ExactlyOnce } else { QoS::AtLeastOnce };
    // A message that could not be committed closes the connection, for the broker to send it again.
    let (failed_tx, mut failed) = mpsc::channel::<()>(1);
    let result = loop {
        let event = tokio::select! {
            e = events.poll() => e,
            _ = failed.recv() => break Err(SourceError(format!(
                "MQTT broker at {host}: a message could not be committed; connecting again for the broker to send it \
                 again"
            ))),
            _ = stop.wait() => break Ok(()),
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {
                if let Err(e) = client.subscribe(cfg.topic.clone(), qos).await {
                    break Err(fail("subscribing", &e));
                }
            }
            // Connected once subscribed (the session keeps the subscription; this one is the first time's).
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                status.connected.store(true, Ordering::Relaxed);
                status.set_error(None);
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => break Err(fail("connecting", &format!("{:?}", ack.code))),
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let msg = message(cfg, &p);
                let (handler, status, client, failed) =
                    (handler.clone(), status.clone(), client.clone(), failed_tx.clone());
                tokio::spawn(async move {
                    let committed = handler.handle(msg).await;
                    status.commit(committed);
                    if committed {
                        let _ = client.ack(&p).await;
                    } else {
                        let _ = failed.try_send(());
                    }
                });
            }
            Ok(_) => {}
            Err(e) => break Err(fail("connection", &e)),
        }
    };
    let _ = client.try_disconnect();
    result
}

fn message(cfg: &MqttSource, p: &rumqttc::Publish) -> SourceMessage {
    let mut headers = Map::new();
    headers.insert("mqtt-topic".into(), Value::String(p.topic.clone()));
    let id = cfg.id_path.as_deref().and_then(|path| {
        let body: Value = serde_json::from_slice(&p.payload).ok()?;
        match path.split('.').try_fold(&body, |v, k| v.get(k))? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    });
    SourceMessage { id, headers, body: p.payload.to_vec(), type_property: None }
}
