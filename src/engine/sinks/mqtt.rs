//! `mqtt`: MQTT 3.1.1 through rumqttc. A task drives the client's event loop and matches each outgoing publish
//! (in request order) to the PUBACK (QoS 1) or PUBCOMP (QoS 2) carrying its packet id; a batch is taken once every
//! publish of it was acknowledged. MQTT 3 has no headers, so the body is an envelope:
//! `{"id", "eventType", "eventId", "channels", "timestamp", "payload"}`. When the connection breaks, every publish
//! waiting fails and the next send connects afresh (a clean session), rather than letting rumqttc replay
//! publishes whose batch was already reported failed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use async_trait::async_trait;
use rumqttc::{AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use serde_json::json;
use tokio::sync::{oneshot, Mutex};

use super::{deadline, rfc3339, Batch, MqttConfig, Sink, SinkError, CONNECT_TIMEOUT, SEND_TIMEOUT};

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
struct Waiters {
    /// Publishes handed to the client, not yet written: their packet ids are not known yet.
    queued: VecDeque<Waiter>,
    /// Written, waiting for the broker's acknowledgement, by packet id.
    inflight: HashMap<u16, Waiter>,
}

struct Conn {
    client: AsyncClient,
    waiters: Arc<SyncMutex<Waiters>>,
    dead: Arc<AtomicBool>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

pub(super) struct MqttSink {
    cfg: MqttConfig,
    conn: Mutex<Option<Conn>>,
}

impl MqttSink {
    pub(super) async fn connect(cfg: &MqttConfig) -> Result<Self, SinkError> {
        let conn = open(cfg).await?;
        Ok(MqttSink { cfg: cfg.clone(), conn: Mutex::new(Some(conn)) })
    }
}

fn qos(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    }
}

async fn open(cfg: &MqttConfig) -> Result<Conn, SinkError> {
    let id = format!("hookd-{:016x}", rand::random::<u64>());
    let mut opts = MqttOptions::new(id, cfg.host.clone(), cfg.port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_clean_session(true);
    opts.set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
    if let Some((user, pass)) = &cfg.user {
        opts.set_credentials(user.clone(), pass.clone());
    }
    let (client, mut events) = AsyncClient::new(opts, 1024);
    events.network_options.set_connection_timeout(CONNECT_TIMEOUT.as_secs());
    let host = cfg.host.clone();
    let what = || format!("connecting to the MQTT broker at {host}");
    deadline(CONNECT_TIMEOUT, what, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => return Ok(()),
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    return Err(SinkError::new(format!(
                        "the MQTT broker at {host} refused the connection: {:?}",
                        ack.code
                    )))
                }
                Ok(_) => {}
                Err(e) => return Err(SinkError::new(format!("connecting to the MQTT broker at {host}: {e}"))),
            }
        }
    })
    .await?;
    let waiters = Arc::new(SyncMutex::new(Waiters::default()));
    let dead = Arc::new(AtomicBool::new(false));
    let driver = tokio::spawn(drive(events, waiters.clone(), dead.clone(), cfg.host.clone()));
    Ok(Conn { client, waiters, dead, driver })
}

/// Polls the event loop until the connection breaks, settling waiters as acknowledgements arrive.
async fn drive(mut events: EventLoop, waiters: Arc<SyncMutex<Waiters>>, dead: Arc<AtomicBool>, host: String) {
    let reason = loop {
        let event = match events.poll().await {
            Ok(event) => event,
            Err(e) => break format!("the MQTT broker at {host}: connection lost: {e}"),
        };
        let mut w = waiters.lock().unwrap();
        match event {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(waiter) = w.queued.pop_front() {
                    if pkid == 0 {
                        // QoS 0: written is all there is.
                        let _ = waiter.send(Ok(()));
                    } else {
                        w.inflight.insert(pkid, waiter);
                    }
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(waiter) = w.inflight.remove(&ack.pkid) {
                    let _ = waiter.send(Ok(()));
                }
            }
            Event::Incoming(Packet::PubComp(comp)) => {
                if let Some(waiter) = w.inflight.remove(&comp.pkid) {
                    let _ = waiter.send(Ok(()));
                }
            }
            _ => {}
        }
    };
    dead.store(true, Ordering::SeqCst);
    let mut guard = waiters.lock().unwrap();
    let w = &mut *guard;
    for waiter in w.queued.drain(..).chain(w.inflight.drain().map(|(_, v)| v)).collect::<Vec<_>>() {
        let _ = waiter.send(Err(reason.clone()));
    }
}

#[async_trait]
impl Sink for MqttSink {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut slot = self.conn.lock().await;
        if slot.as_ref().is_none_or(|c| c.dead.load(Ordering::SeqCst)) {
            *slot = None;
            *slot = Some(open(&self.cfg).await?);
        }
        let conn = slot.as_ref().expect("opened above");
        let host = &self.cfg.host;
        let what = || format!("publishing {} messages to the MQTT broker at {host}", batch.events.len());
        let result = deadline(SEND_TIMEOUT, what, async {
            let mut acks = Vec::with_capacity(batch.events.len());
            for e in batch.events {
                let body = serde_json::to_vec(&json!({
                    "id": e.msg_id,
                    "eventType": e.event_type,
                    "eventId": e.event_id,
                    "channels": e.channels,
                    "timestamp": rfc3339(e.timestamp),
                    "payload": &e.payload,
                }))
                .expect("JSON");
                let (tx, rx) = oneshot::channel();
                conn.waiters.lock().unwrap().queued.push_back(tx);
                conn.client
                    .publish(self.cfg.topic.as_str(), qos(self.cfg.qos), false, body)
                    .await
                    .map_err(|err| SinkError::new(format!("the MQTT broker at {host}: publishing: {err}")))?;
                acks.push(rx);
            }
            for rx in acks {
                match rx.await {
                    Ok(Ok(())) => {}
                    Ok(Err(reason)) => return Err(SinkError::new(reason)),
                    Err(_) => return Err(SinkError::new(format!("the MQTT broker at {host}: connection closed"))),
                }
            }
            Ok(())
        })
        .await;
        if result.is_err() {
            // Waiters of this batch may still be queued: a fresh connection next time keeps them from pairing
            // with the next batch's publishes.
            *slot = None;
        }
        result
    }
}
