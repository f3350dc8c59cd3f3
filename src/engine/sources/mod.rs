//! Queue sources' wire: consuming from a broker, the mirror of [`super::sinks`]. Each kind turns what the broker
//! hands over into a [`SourceMessage`] and gives it to a [`Handler`]; the message is acknowledged to the broker only
//! when the handler says it was committed, and given back (redelivered) when it was not — at least once.
//!
//! | kind | config | consumed with | message id (dedup) | headers |
//! | --- | --- | --- | --- | --- |
//! | `rabbitMq` | `{uri, queue, prefetch = 256}` | AMQP 0-9-1 `basic.consume` with `basic.qos(prefetch)`, manual acks | the `message_id` property | the headers table (the `type` property is the event type when no header or path gives one) |
//! | `nats` | `{url, stream, consumer, subject?, batch = 256}` | a durable JetStream pull consumer (created when missing; the stream must exist), explicit acks, `-NAK` to give back | `Nats-Msg-Id`, else `{stream}:{sequence}` | the message's headers |
//! | `sqs` | `{queueUrl, region, accessKeyId, secretAccessKey, endpointUrl?}` (the sink's) | `ReceiveMessage` long polls through the engine's egress-guarded client, `DeleteMessageBatch` once committed; a message not committed is made visible again | `MessageId` | message attributes (string values) |
//! | `mqtt` | `{url, topic, qos = 1, clientId?, idPath?}` | MQTT 3.1.1, a persistent session (stable client id, clean session off), manual PUBACKs; a message not committed closes the connection, and the broker sends it again | at `idPath` in the JSON body, if given | `mqtt-topic` |
//! | `redis` | `{url, stream, group, consumer = hookd}` | a Stream's consumer group (`XREADGROUP`), `XACK` once committed; the group is created when missing | the entry id | the entry's fields other than `payload` |
//!
//! Common to every kind: `eventTypePath` (a dotted path into the JSON body: `type`, `data.kind`) and
//! `eventTypeHeader` (a header, attribute or field name, default `hookd-event-type`, what hookd's own sinks set)
//! say where a message's event type is; the first found wins, in that order.
//!
//! The registration, its lease and the commit belong to the inbound face (`inbound::queues`); this module owns
//! the connection of each kind and the parsing of its `config`. [`consume`] returns when the connection breaks (an
//! error, for the caller to reconnect after a backoff) or when told to stop.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::sinks::{host_of, mask_url, parse_url, ConfigError, Fields};
use crate::shutdown::Shutdown;

#[cfg(feature = "sink-mqtt")]
mod mqtt;
#[cfg(feature = "sink-nats")]
mod nats;
#[cfg(feature = "sink-rabbitmq")]
mod rabbitmq;
#[cfg(feature = "sink-redis")]
mod redis;
mod sqs;

/// The queue kinds, by the integration ids the inbound API (and the Ingest face's `type`) names them.
pub const KINDS: &[&str] = &["rabbitMq", "sqs", "nats", "redis", "mqtt"];

/// The header (attribute, field) an event type is read from unless the config names another: the one hookd's
/// own sinks write, so that a hookd destination can feed a hookd source.
pub const DEFAULT_TYPE_HEADER: &str = "hookd-event-type";

/// Whether `kind` names a queue source.
pub fn is_queue(kind: &str) -> bool {
    KINDS.contains(&kind)
}

/// What a queue kind is and what its `config` takes, as `GET /integrations` lists it beside the providers.
pub fn describe(kind: &str) -> Option<Value> {
    let (title, consumes, required, optional): (&str, &str, &[&str], &[&str]) = match kind {
        "rabbitMq" => ("RabbitMQ", "a queue (manual acks, prefetch)", &["uri", "queue"], &["prefetch"]),
        "sqs" => (
            "Amazon SQS",
            "a queue (long polling, deleted once committed)",
            &["queueUrl", "accessKeyId", "secretAccessKey"],
            &["region", "endpointUrl"],
        ),
        "nats" => (
            "NATS JetStream",
            "a durable pull consumer of a stream",
            &["url", "stream", "consumer"],
            &["subject", "batch"],
        ),
        "redis" => {
            ("Redis Streams", "a stream, as a consumer group", &["url", "stream", "group"], &["consumer", "batch"])
        }
        "mqtt" => {
            ("MQTT", "a topic (QoS 1 or 2, a persistent session)", &["url", "topic"], &["qos", "clientId", "idPath"])
        }
        _ => return None,
    };
    let mut optional = optional.to_vec();
    optional.extend(["eventTypePath", "eventTypeHeader"]);
    Some(serde_json::json!({
        "name": kind, "title": title, "family": "queue", "consumes": consumes, "usesSecret": false,
        "config": required, "optionalConfig": optional,
        "eventType": format!("config.eventTypePath in a JSON body, else the {DEFAULT_TYPE_HEADER} header (or config.eventTypeHeader)"),
    }))
}

/// One message as the broker handed it over.
#[derive(Debug, Clone, Default)]
pub struct SourceMessage {
    /// The broker's (or the publisher's) id of the message, when it has one: what a redelivery is recognised by.
    pub id: Option<String>,
    /// Headers, message attributes or fields, as strings.
    pub headers: Map<String, Value>,
    pub body: Vec<u8>,
    /// The broker's own event type property (AMQP `type`), used when neither the path nor the header gives one.
    pub type_property: Option<String>,
}

/// What becomes of each message: `true` once it was committed (it is then acknowledged to the broker), `false`
/// when it was not (it is given back, to be delivered again).
#[async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, msg: SourceMessage) -> bool;
}

/// A consumer's state, shared with whoever shows it (the registration's API).
#[derive(Debug, Default)]
pub struct SourceStatus {
    pub connected: AtomicBool,
    /// Messages committed and acknowledged since this node started consuming.
    pub consumed: AtomicU64,
    /// Messages given back because they could not be committed.
    pub returned: AtomicU64,
    /// Why the last connection failed or broke.
    pub last_error: Mutex<Option<String>>,
}

impl SourceStatus {
    pub fn error(&self) -> Option<String> {
        self.last_error.lock().unwrap().clone()
    }

    pub fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap() = e;
    }

    fn commit(&self, committed: bool) {
        let counter = if committed { &self.consumed } else { &self.returned };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why consuming stopped.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// A parsed, checked queue source `config`.
#[derive(Clone)]
pub struct SourceConfig {
    pub kind: Kind,
    /// Where the event type is: a dotted path into the JSON body …
    pub event_type_path: Option<String>,
    /// … or a header.
    pub event_type_header: String,
}

#[derive(Clone)]
pub enum Kind {
    RabbitMq(RabbitMqSource),
    Redis(RedisSource),
    Nats(NatsSource),
    Mqtt(MqttSource),
    /// The sink's config, read the same way.
    Sqs(super::sinks::SqsConfig),
}

/// `mqtt {url, topic, qos, clientId, idPath}`.
#[derive(Clone)]
pub struct MqttSource {
    pub url: String,
    /// A topic filter: wildcards (`+`, `#`) allowed.
    pub topic: String,
    /// 1 or 2: at least once needs the broker to keep what was not acknowledged.
    pub qos: u8,
    /// Stable, so that the broker keeps the session (and what it holds for it) between connections.
    pub client_id: String,
    /// Where a message's id is in its JSON body (MQTT 3 carries none of its own).
    pub id_path: Option<String>,
    host: String,
    #[cfg_attr(not(feature = "sink-mqtt"), allow(dead_code))]
    port: u16,
    #[cfg_attr(not(feature = "sink-mqtt"), allow(dead_code))]
    user: Option<(String, String)>,
}

/// `nats {url, stream, consumer, subject?, batch}`.
#[derive(Clone)]
pub struct NatsSource {
    pub url: String,
    pub stream: String,
    /// The durable consumer's name: where the stream's position is kept between connections and nodes.
    pub consumer: String,
    /// A filter within the stream, for a consumer created here.
    pub subject: Option<String>,
    /// Messages pulled ahead.
    pub batch: u16,
    host: String,
}

impl std::fmt::Debug for SourceConfig {
    /// As the API shows it: no credential in logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceConfig({})", self.redacted())
    }
}

/// `rabbitMq {uri, queue, prefetch}`: the queue must exist (hookd declares nothing).
#[derive(Clone)]
pub struct RabbitMqSource {
    pub uri: String,
    pub queue: String,
    /// Unacknowledged messages the broker sends ahead; as many commits run at once, batched by the store.
    pub prefetch: u16,
    host: String,
}

/// `redis {url, stream, group, consumer}`.
#[derive(Clone)]
pub struct RedisSource {
    pub url: String,
    pub stream: String,
    pub group: String,
    pub consumer: String,
    /// Entries read at once.
    pub batch: u16,
    host: String,
}

/// Parses and checks the `config` of a queue source of type `kind`; a wrong field is named.
pub fn parse(kind: &str, config: &Value) -> Result<SourceConfig, ConfigError> {
    let f = Fields::of(config)?;
    let parsed = match kind {
        "rabbitMq" => {
            let uri = f.required("uri")?;
            let url = parse_url("uri", &uri, &["amqp", "amqps"])?;
            let queue = f.required("queue")?;
            if queue.len() > 255 {
                return Err(ConfigError::at(&["queue"], "queue is longer than 255 bytes"));
            }
            let prefetch = f.optional_u64("prefetch")?.unwrap_or(256);
            if !(1..=10_000).contains(&prefetch) {
                return Err(ConfigError::at(&["prefetch"], "prefetch must be 1 to 10000"));
            }
            Kind::RabbitMq(RabbitMqSource { host: host_of(&url), uri, queue, prefetch: prefetch as u16 })
        }
        "redis" => {
            let raw = f.required("url")?;
            let url = parse_url("url", &raw, &["redis"])?;
            if let Some(db) = url.path().strip_prefix('/').filter(|p| !p.is_empty()) {
                if db.parse::<u32>().is_err() {
                    return Err(ConfigError::at(&["url"], "the URL's path must be a database number (`/0`)"));
                }
            }
            let stream = f.required("stream")?;
            let group = f.required("group")?;
            let consumer = f.optional("consumer")?.unwrap_or_else(|| "hookd".into());
            let batch = f.optional_u64("batch")?.unwrap_or(256);
            if !(1..=10_000).contains(&batch) {
                return Err(ConfigError::at(&["batch"], "batch must be 1 to 10000"));
            }
            Kind::Redis(RedisSource { host: host_of(&url), url: raw, stream, group, consumer, batch: batch as u16 })
        }
        "nats" => {
            let raw = f.required("url")?;
            let url = parse_url("url", &raw, &["nats", "tls"])?;
            let stream = f.required("stream")?;
            if stream.contains(['.', '*', '>', ' ']) {
                return Err(ConfigError::at(&["stream"], "a stream name has no dots, wildcards or spaces"));
            }
            let consumer = f.required("consumer")?;
            if consumer.contains(['.', '*', '>', ' ']) {
                return Err(ConfigError::at(&["consumer"], "a consumer name has no dots, wildcards or spaces"));
            }
            let subject = f.optional("subject")?;
            let batch = f.optional_u64("batch")?.unwrap_or(256);
            if !(1..=10_000).contains(&batch) {
                return Err(ConfigError::at(&["batch"], "batch must be 1 to 10000"));
            }
            Kind::Nats(NatsSource { host: host_of(&url), url: raw, stream, consumer, subject, batch: batch as u16 })
        }
        "mqtt" => {
            let raw = f.required("url")?;
            let url = parse_url("url", &raw, &["mqtt", "tcp"])?;
            let topic = f.required("topic")?;
            if topic.contains('\0') {
                return Err(ConfigError::at(&["topic"], "topic must not contain NUL"));
            }
            let qos = f.optional_u64("qos")?.unwrap_or(1);
            if !(1..=2).contains(&qos) {
                return Err(ConfigError::at(&["qos"], "qos must be 1 or 2 (at least once)"));
            }
            let client_id = match f.optional("clientId")? {
                Some(id) if id.len() > 128 => return Err(ConfigError::at(&["clientId"], "at most 128 characters")),
                Some(id) => id,
                None => {
                    use sha2::Digest;
                    let hash = sha2::Sha256::digest(format!("{raw}\n{topic}"));
                    format!("hookd-{}", hex::encode(&hash[..8]))
                }
            };
            let id_path = f.optional("idPath")?;
            if id_path.as_deref().is_some_and(|p| p.split('.').any(str::is_empty)) {
                return Err(ConfigError::at(&["idPath"], "a dotted path of field names (`id`, `meta.id`)"));
            }
            let user = (!url.username().is_empty()).then(|| {
                let dec = |s: &str| super::sinks::percent_decode(s);
                (dec(url.username()), dec(url.password().unwrap_or("")))
            });
            Kind::Mqtt(MqttSource {
                host: host_of(&url),
                port: url.port().unwrap_or(1883),
                url: raw,
                topic,
                qos: qos as u8,
                client_id,
                id_path,
                user,
            })
        }
        "sqs" => Kind::Sqs(super::sinks::SqsConfig::parse(&f)?),
        _ => return Err(ConfigError::at(&[], format!("unknown queue source type `{kind}`"))),
    };
    let event_type_path = f.optional("eventTypePath")?;
    if let Some(p) = &event_type_path {
        if p.split('.').any(str::is_empty) {
            return Err(ConfigError::at(&["eventTypePath"], "a dotted path of field names (`type`, `data.kind`)"));
        }
    }
    let event_type_header = f.optional("eventTypeHeader")?.unwrap_or_else(|| DEFAULT_TYPE_HEADER.into());
    let cfg = SourceConfig { kind: parsed, event_type_path, event_type_header };
    if let Some(feature) = cfg.missing_feature() {
        return Err(ConfigError::at(
            &[],
            format!("queue source type `{kind}` is not in this build of hookd (cargo feature `{feature}`)"),
        ));
    }
    Ok(cfg)
}

impl SourceConfig {
    /// The config as the API shows it: credentials inside URLs masked.
    pub fn redacted(&self) -> Value {
        let mut out = match &self.kind {
            Kind::RabbitMq(c) => {
                serde_json::json!({"uri": mask_url(&c.uri, false), "queue": c.queue, "prefetch": c.prefetch})
            }
            Kind::Redis(c) => serde_json::json!({
                "url": mask_url(&c.url, false), "stream": c.stream, "group": c.group, "consumer": c.consumer,
                "batch": c.batch,
            }),
            Kind::Sqs(c) => c.redacted(),
            Kind::Mqtt(c) => serde_json::json!({
                "url": mask_url(&c.url, false), "topic": c.topic, "qos": c.qos, "clientId": c.client_id,
                "idPath": c.id_path,
            }),
            Kind::Nats(c) => serde_json::json!({
                "url": mask_url(&c.url, true), "stream": c.stream, "consumer": c.consumer, "subject": c.subject,
                "batch": c.batch,
            }),
        };
        out["eventTypeHeader"] = self.event_type_header.clone().into();
        if let Some(p) = &self.event_type_path {
            out["eventTypePath"] = p.clone().into();
        }
        out
    }

    /// The hosts consumed from, each checked against the egress policy before connecting.
    pub fn hosts(&self) -> Vec<String> {
        match &self.kind {
            Kind::RabbitMq(c) => vec![c.host.clone()],
            Kind::Redis(c) => vec![c.host.clone()],
            Kind::Nats(c) => vec![c.host.clone()],
            Kind::Mqtt(c) => vec![c.host.clone()],
            Kind::Sqs(c) => vec![c.host()],
        }
    }

    fn missing_feature(&self) -> Option<&'static str> {
        match self.kind {
            Kind::RabbitMq(_) if cfg!(not(feature = "sink-rabbitmq")) => Some("sink-rabbitmq"),
            Kind::Redis(_) if cfg!(not(feature = "sink-redis")) => Some("sink-redis"),
            Kind::Nats(_) if cfg!(not(feature = "sink-nats")) => Some("sink-nats"),
            Kind::Mqtt(_) if cfg!(not(feature = "sink-mqtt")) => Some("sink-mqtt"),
            _ => None,
        }
    }

    /// A message's event type: at `eventTypePath` in its JSON body, else in the `eventTypeHeader` header, else
    /// the broker's type property (AMQP `type`), else `message`.
    pub fn event_type(&self, msg: &SourceMessage, body: &Value) -> String {
        let from_path = self.event_type_path.as_deref().and_then(|path| {
            let found = path.split('.').try_fold(body, |v, k| v.get(k))?;
            match found {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        });
        let header = &self.event_type_header;
        from_path
            .or_else(|| {
                let found = msg
                    .headers
                    .get(header)
                    .or_else(|| msg.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(header)).map(|(_, v)| v));
                found.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
            })
            .or_else(|| msg.type_property.clone().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "message".into())
    }
}

/// Half to one and a half times `d`: messages given back together (their commits failed in one group) do not come
/// back in lockstep.
fn jittered(d: std::time::Duration) -> std::time::Duration {
    d.mul_f64(0.5 + rand::random::<f64>())
}

/// Hands a batch of messages to the handler: together (their commits grouped by the store), or one by one after a
/// batch that was not all committed, so that a message that cannot be committed does not take the others down
/// with it in a shared commit each time they come back together.
async fn handle_all(handler: &Arc<dyn Handler>, msgs: Vec<SourceMessage>, one_by_one: bool) -> Vec<bool> {
    if one_by_one {
        let mut out = Vec::with_capacity(msgs.len());
        for msg in msgs {
            out.push(handler.handle(msg).await);
        }
        out
    } else {
        futures::future::join_all(msgs.into_iter().map(|m| handler.handle(m))).await
    }
}

/// Consumes until the connection breaks (`Err`, with why) or `stop` is set (`Ok`). `status.connected` is set while
/// a connection is up. `http` is the engine's egress-guarded client, for the kinds spoken over HTTP (`sqs`).
pub async fn consume(
    cfg: &SourceConfig,
    http: &reqwest::Client,
    handler: Arc<dyn Handler>,
    status: Arc<SourceStatus>,
    stop: Shutdown,
) -> Result<(), SourceError> {
    let result = match &cfg.kind {
        #[cfg(feature = "sink-rabbitmq")]
        Kind::RabbitMq(c) => rabbitmq::consume(c, handler, status.clone(), stop).await,
        #[cfg(feature = "sink-redis")]
        Kind::Redis(c) => redis::consume(c, handler, status.clone(), stop).await,
        #[cfg(feature = "sink-nats")]
        Kind::Nats(c) => nats::consume(c, handler, status.clone(), stop).await,
        #[cfg(feature = "sink-mqtt")]
        Kind::Mqtt(c) => mqtt::consume(c, handler, status.clone(), stop).await,
        Kind::Sqs(c) => sqs::consume(c, http.clone(), handler, status.clone(), stop).await,
        #[allow(unreachable_patterns)]
        _ => Err(SourceError(format!(
            "this build of hookd lacks the cargo feature `{}`",
            cfg.missing_feature().unwrap_or_default()
        ))),
    };
    status.connected.store(false, Ordering::Relaxed);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_wrong_field_is_named() {
        assert_eq!(parse("kafka", &json!({})).unwrap_err().field, Vec::<String>::new());
        assert_eq!(parse("rabbitMq", &json!({"queue": "q"})).unwrap_err().field, vec!["uri"]);
        assert_eq!(parse("rabbitMq", &json!({"uri": "http://h", "queue": "q"})).unwrap_err().field, vec!["uri"]);
        assert_eq!(parse("rabbitMq", &json!({"uri": "amqp://h"})).unwrap_err().field, vec!["queue"]);
        let e = parse("rabbitMq", &json!({"uri": "amqp://h", "queue": "q", "prefetch": 0})).unwrap_err();
        assert_eq!(e.field, vec!["prefetch"]);
        let e = parse("rabbitMq", &json!({"uri": "amqp://h", "queue": "q", "eventTypePath": "a..b"})).unwrap_err();
        assert_eq!(e.field, vec!["eventTypePath"]);
        assert_eq!(parse("redis", &json!({"url": "redis://h", "stream": "s"})).unwrap_err().field, vec!["group"]);
    }

    #[test]
    fn the_event_type_is_found_by_path_then_header() {
        let cfg = parse("rabbitMq", &json!({"uri": "amqp://h", "queue": "q", "eventTypePath": "data.kind"})).unwrap();
        let mut msg = SourceMessage::default();
        msg.headers.insert("Hookd-Event-Type".into(), json!("from.header"));
        assert_eq!(cfg.event_type(&msg, &json!({"data": {"kind": "from.body"}})), "from.body");
        assert_eq!(cfg.event_type(&msg, &json!({"data": {}})), "from.header");
        assert_eq!(cfg.event_type(&SourceMessage::default(), &json!(null)), "message");
        assert_eq!(
            cfg.redacted()["uri"],
            "amqp://h",
            "a URI without credentials is shown as given (normalised by the URL parser)"
        );
    }
}
