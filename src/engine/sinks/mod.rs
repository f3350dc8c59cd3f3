//! Destinations' sinks: where an ordered batch of an application's messages is handed over — a broker, a
//! database, a queue. Every kind answers the same question, [`Sink::send`]: was this batch durably taken (a
//! publisher confirm, a commit, a 2xx)? Only then does the destination's cursor move past it, so a sink may see a
//! batch twice (at least once) but never out of order.
//!
//! The destination engine (`engine::destinations`) owns the log, the cursors, retries and leases; this module
//! owns the wire of each kind and the parsing of its `config`.
//!
//! | kind | wire | taken when | metadata |
//! | --- | --- | --- | --- |
//! | `rabbitMq` | AMQP 0-9-1 publish to the default exchange, routing key = queue, persistent, `mandatory` | publisher confirm (an unroutable message is an error) | properties `message_id`, `type`, `timestamp`; `hookd-*` headers |
//! | `postgres` | one `INSERT … ON CONFLICT (msg_id) DO NOTHING` per batch, in one transaction; the table is created when missing | commit | columns |
//! | `sqs` | `SendMessageBatch` (JSON protocol, SigV4), ≤ 10 per call, FIFO group = app id, dedup id = msg id | no `Failed` entry | message attributes `hookd-*` |
//! | `otelTracing` | one span per message, OTLP/HTTP protobuf | 2xx without rejected spans | span attributes `hookd.*` |
//! | `nats` | JetStream publish, `Nats-Msg-Id` = msg id; the stream must exist (none is created) | publish ack | `hookd-*` headers |
//! | `redis` | `XADD` per message, pipelined, optional `MAXLEN ~` | every reply | stream fields `hookd-*` and `payload` |
//! | `mqtt` | MQTT 3.1.1 publish, QoS 1 by default; the body is an envelope (MQTT 3 has no headers) | PUBACK (PUBCOMP at QoS 2) | envelope `{id, eventType, eventId, channels, timestamp, payload}` |
//!
//! Every connection is opened by [`SinkConfig::connect`], kept, and opened again by the next `send` after it
//! broke: while the other side is down `send` fails with a reason, never hangs (each step has a deadline).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::store::Millis;

#[cfg(feature = "sink-mqtt")]
mod mqtt;
#[cfg(feature = "sink-nats")]
mod nats;
mod otel;
mod postgres;
#[cfg(feature = "sink-rabbitmq")]
mod rabbitmq;
#[cfg(feature = "sink-redis")]
mod redis;
mod sigv4;
mod sqs;

/// One message as a destination sees it, at its place in the application's log.
#[derive(Debug, Clone)]
pub struct Event {
    /// The message id (`msg_…`): what a receiver deduplicates on.
    pub msg_id: String,
    /// The publisher's `eventId`, when it gave one.
    pub event_id: Option<String>,
    pub event_type: String,
    pub payload: Arc<RawValue>,
    pub channels: Vec<String>,
    /// When the message was created.
    pub timestamp: Millis,
    /// Its position in the application's log: increasing, not necessarily dense.
    pub position: i64,
}

/// What is handed to a sink at once: a non-empty run of consecutive events of one destination.
#[derive(Debug)]
pub struct Batch<'a> {
    pub org_id: &'a str,
    pub app_id: &'a str,
    pub destination_id: &'a str,
    pub events: &'a [Event],
}

/// Why a batch was not taken.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct SinkError {
    /// Shown to people as the destination's `failureReason`: says what refused and why, without secrets.
    pub reason: String,
}

impl SinkError {
    pub fn new(reason: impl Into<String>) -> Self {
        SinkError { reason: reason.into() }
    }
}

#[async_trait]
pub trait Sink: Send + Sync {
    /// Hands the batch over; `Ok` only once the other side has durably taken every event of it.
    async fn send(&self, batch: &Batch<'_>) -> Result<(), SinkError>;
}

/// A config field that is missing or wrong: the API answers 422 with `loc: ["body", "config", field…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The path inside `config` (`["uri"]`, `["headers", "X-Key"]`); empty when the `type` itself is unknown.
    pub field: Vec<String>,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn at(field: &[&str], message: impl Into<String>) -> Self {
        ConfigError { field: field.iter().map(|f| f.to_string()).collect(), message: message.into() }
    }
}

/// A parsed, checked `config` of one of the broker, database and queue kinds (`rabbitMq`, `postgres`, `sqs`,
/// `redis`, `nats`, `mqtt`, `otelTracing`, …). The HTTP kinds (`fifoEndpoint`, `pollingEndpoint`) belong to the
/// destination engine itself.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    RabbitMq(RabbitMqConfig),
    Postgres(postgres::PostgresConfig),
    Sqs(sqs::SqsConfig),
    OtelTracing(otel::OtelConfig),
    Nats(NatsConfig),
    Redis(RedisConfig),
    Mqtt(MqttConfig),
}

pub use otel::OtelConfig;
pub use postgres::PostgresConfig;
pub use sqs::SqsConfig;

/// The kinds this module parses, in the order the API documents them. A kind whose cargo feature was left out
/// of the build is still listed; [`parse`] refuses it, naming the feature.
pub const KINDS: &[&str] = &["rabbitMq", "postgres", "sqs", "otelTracing", "nats", "redis", "mqtt"];

/// What a sink may borrow from the engine when it connects.
#[derive(Debug, Clone, Default)]
pub struct ConnectContext {
    /// The HTTP client for the HTTP-based kinds (`sqs`, `otelTracing`): the engine's, whose resolver enforces
    /// the egress policy. `None`: a client of the sink's own.
    pub http: Option<reqwest::Client>,
}

/// Parses and checks the `config` of a destination of type `kind`.
pub fn parse(kind: &str, config: &Value) -> Result<SinkConfig, ConfigError> {
    let fields = Fields::of(config)?;
    let parsed = match kind {
        "rabbitMq" => SinkConfig::RabbitMq(RabbitMqConfig::parse(&fields)?),
        "postgres" => SinkConfig::Postgres(postgres::PostgresConfig::parse(&fields)?),
        "sqs" => SinkConfig::Sqs(sqs::SqsConfig::parse(&fields)?),
        "otelTracing" => SinkConfig::OtelTracing(otel::OtelConfig::parse(&fields)?),
        "nats" => SinkConfig::Nats(NatsConfig::parse(&fields)?),
        "redis" => SinkConfig::Redis(RedisConfig::parse(&fields)?),
        "mqtt" => SinkConfig::Mqtt(MqttConfig::parse(&fields)?),
        _ => return Err(ConfigError::at(&[], format!("unknown destination type `{kind}`"))),
    };
    if let Some(feature) = parsed.missing_feature() {
        return Err(ConfigError::at(
            &[],
            format!("destination type `{kind}` is not in this build of hookd (cargo feature `{feature}`)"),
        ));
    }
    Ok(parsed)
}

impl SinkConfig {
    /// The config as the API shows it: secrets (passwords, keys, credentials inside URIs) masked.
    ///
    /// Secret fields (`password`, `secretAccessKey`, sensitive `headers`) are left out, as the Svix SDK's
    /// `…ConfigOut` models do; credentials inside a URI are shown as `****`.
    pub fn redacted(&self) -> Value {
        match self {
            SinkConfig::RabbitMq(c) => c.redacted(),
            SinkConfig::Postgres(c) => c.redacted(),
            SinkConfig::Sqs(c) => c.redacted(),
            SinkConfig::OtelTracing(c) => c.redacted(),
            SinkConfig::Nats(c) => c.redacted(),
            SinkConfig::Redis(c) => c.redacted(),
            SinkConfig::Mqtt(c) => c.redacted(),
        }
    }

    /// The hosts this sink connects to, each checked against the egress policy before connecting.
    pub fn hosts(&self) -> Vec<String> {
        match self {
            SinkConfig::RabbitMq(c) => vec![c.host.clone()],
            SinkConfig::Postgres(c) => c.hosts(),
            SinkConfig::Sqs(c) => vec![c.host()],
            SinkConfig::OtelTracing(c) => vec![c.host()],
            SinkConfig::Nats(c) => vec![c.host.clone()],
            SinkConfig::Redis(c) => vec![c.host.clone()],
            SinkConfig::Mqtt(c) => vec![c.host.clone()],
        }
    }

    /// Opens the client (connection, channel, pool). Called once per destination and kept while its config
    /// is unchanged.
    pub async fn connect(&self) -> Result<Arc<dyn Sink>, SinkError> {
        self.connect_with(&ConnectContext::default()).await
    }

    /// [`Self::connect`] with what the engine lends (its egress-guarded HTTP client).
    pub async fn connect_with(&self, ctx: &ConnectContext) -> Result<Arc<dyn Sink>, SinkError> {
        match self {
            #[cfg(feature = "sink-rabbitmq")]
            SinkConfig::RabbitMq(c) => Ok(Arc::new(rabbitmq::RabbitMqSink::connect(c).await?)),
            SinkConfig::Postgres(c) => Ok(Arc::new(postgres::PostgresSink::connect(c).await?)),
            SinkConfig::Sqs(c) => Ok(Arc::new(sqs::SqsSink::new(c, ctx)?)),
            SinkConfig::OtelTracing(c) => Ok(Arc::new(otel::OtelSink::new(c, ctx)?)),
            #[cfg(feature = "sink-nats")]
            SinkConfig::Nats(c) => Ok(Arc::new(nats::NatsSink::connect(c).await?)),
            #[cfg(feature = "sink-redis")]
            SinkConfig::Redis(c) => Ok(Arc::new(redis::RedisSink::connect(c).await?)),
            #[cfg(feature = "sink-mqtt")]
            SinkConfig::Mqtt(c) => Ok(Arc::new(mqtt::MqttSink::connect(c).await?)),
            #[allow(unreachable_patterns)]
            _ => Err(SinkError::new(format!(
                "this build of hookd lacks the cargo feature `{}`",
                self.missing_feature().unwrap_or_default()
            ))),
        }
    }

    fn missing_feature(&self) -> Option<&'static str> {
        match self {
            SinkConfig::RabbitMq(_) if cfg!(not(feature = "sink-rabbitmq")) => Some("sink-rabbitmq"),
            SinkConfig::Nats(_) if cfg!(not(feature = "sink-nats")) => Some("sink-nats"),
            SinkConfig::Redis(_) if cfg!(not(feature = "sink-redis")) => Some("sink-redis"),
            SinkConfig::Mqtt(_) if cfg!(not(feature = "sink-mqtt")) => Some("sink-mqtt"),
            _ => None,
        }
    }
}

/// `rabbitMq {uri, routingKey}`: published to the default exchange, so the routing key names the queue.
#[derive(Clone)]
pub struct RabbitMqConfig {
    pub uri: String,
    pub routing_key: String,
    host: String,
}

impl std::fmt::Debug for RabbitMqConfig {
    /// As shown by the API: no credential in logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RabbitMqConfig({})", self.redacted())
    }
}

impl RabbitMqConfig {
    fn parse(f: &Fields) -> Result<Self, ConfigError> {
        let raw = f.required("uri")?;
        let url = parse_url("uri", &raw, &["amqp", "amqps"])?;
        let routing_key = f.required("routingKey")?;
        if routing_key.len() > 255 {
            return Err(ConfigError::at(&["routingKey"], "routingKey is longer than 255 bytes"));
        }
        Ok(RabbitMqConfig { host: host_of(&url), uri: raw, routing_key })
    }

    fn redacted(&self) -> Value {
        serde_json::json!({"uri": mask_url(&self.uri, false), "routingKey": self.routing_key})
    }
}

/// `nats {url, subject}` (hookd's own): JetStream publish to `subject`, which a stream must capture.
#[derive(Clone)]
pub struct NatsConfig {
    pub url: String,
    pub subject: String,
    host: String,
}

impl std::fmt::Debug for NatsConfig {
    /// As shown by the API: no credential in logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NatsConfig({})", self.redacted())
    }
}

impl NatsConfig {
    fn parse(f: &Fields) -> Result<Self, ConfigError> {
        let raw = f.required("url")?;
        let url = parse_url("url", &raw, &["nats", "tls"])?;
        let subject = f.required("subject")?;
        if subject.contains(['*', '>', ' ', '\t', '\r', '\n']) || subject.split('.').any(str::is_empty) {
            return Err(ConfigError::at(
                &["subject"],
                "subject must be a NATS subject without wildcards or spaces (tokens separated by single dots)",
            ));
        }
        Ok(NatsConfig { host: host_of(&url), url: raw, subject })
    }

    fn redacted(&self) -> Value {
        // `nats://TOKEN@host`: a lone user name is a token.
        serde_json::json!({"url": mask_url(&self.url, true), "subject": self.subject})
    }
}

/// `redis {url, stream, maxLen?}` (hookd's own): `XADD` to a Redis Stream.
#[derive(Clone)]
pub struct RedisConfig {
    pub url: String,
    pub stream: String,
    /// Trims the stream to about this many entries (`MAXLEN ~`).
    pub max_len: Option<u64>,
    host: String,
}

impl std::fmt::Debug for RedisConfig {
    /// As shown by the API: no credential in logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisConfig({})", self.redacted())
    }
}

impl RedisConfig {
    fn parse(f: &Fields) -> Result<Self, ConfigError> {
        let raw = f.required("url")?;
        let url = parse_url("url", &raw, &["redis"])?;
        if let Some(db) = url.path().strip_prefix('/').filter(|p| !p.is_empty()) {
            if db.parse::<u32>().is_err() {
                return Err(ConfigError::at(&["url"], "the URL's path must be a database number (`/0`)"));
            }
        }
        let stream = f.required("stream")?;
        let max_len = f.optional_u64("maxLen")?;
        if max_len == Some(0) {
            return Err(ConfigError::at(&["maxLen"], "maxLen must be at least 1"));
        }
        Ok(RedisConfig { host: host_of(&url), url: raw, stream, max_len })
    }

    fn redacted(&self) -> Value {
        let mut out = serde_json::json!({"url": mask_url(&self.url, false), "stream": self.stream});
        if let Some(n) = self.max_len {
            out["maxLen"] = n.into();
        }
        out
    }
}

/// `mqtt {url, topic, qos = 1}` (hookd's own): MQTT 3.1.1 publish; `qos` 1 waits for PUBACK, 2 for PUBCOMP.
#[derive(Clone)]
pub struct MqttConfig {
    pub url: String,
    pub topic: String,
    pub qos: u8,
    host: String,
    #[cfg_attr(not(feature = "sink-mqtt"), allow(dead_code))]
    port: u16,
    #[cfg_attr(not(feature = "sink-mqtt"), allow(dead_code))]
    user: Option<(String, String)>,
}

impl std::fmt::Debug for MqttConfig {
    /// As shown by the API: no credential in logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MqttConfig({})", self.redacted())
    }
}

impl MqttConfig {
    fn parse(f: &Fields) -> Result<Self, ConfigError> {
        let raw = f.required("url")?;
        let url = parse_url("url", &raw, &["mqtt", "tcp"])?;
        let topic = f.required("topic")?;
        if topic.contains(['+', '#', '\0']) {
            return Err(ConfigError::at(&["topic"], "topic must not contain wildcards (`+`, `#`)"));
        }
        let qos = f.optional_u64("qos")?.unwrap_or(1);
        if qos > 2 {
            return Err(ConfigError::at(&["qos"], "qos must be 0, 1 or 2"));
        }
        let user = (!url.username().is_empty()).then(|| {
            let dec = |s: &str| percent_decode(s);
            (dec(url.username()), dec(url.password().unwrap_or("")))
        });
        Ok(MqttConfig { host: host_of(&url), port: url.port().unwrap_or(1883), url: raw, topic, qos: qos as u8, user })
    }

    fn redacted(&self) -> Value {
        serde_json::json!({"url": mask_url(&self.url, false), "topic": self.topic, "qos": self.qos})
    }
}

/// The `config` object, read field by field: unknown fields are ignored, `null` is absent.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub(crate) fn of(config: &'a Value) -> Result<Self, ConfigError> {
        match config {
            Value::Object(map) => Ok(Fields { map }),
            _ => Err(ConfigError::at(&[], "config must be an object")),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A non-empty string.
    pub(crate) fn required(&self, key: &str) -> Result<String, ConfigError> {
        match self.optional(key)? {
            Some(s) => Ok(s),
            None => Err(ConfigError::at(&[key], format!("{key} is required"))),
        }
    }

    /// A string, if given; an empty one is refused, as a required one would be.
    pub(crate) fn optional(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(ConfigError::at(&[key], format!("{key} must not be empty")))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ConfigError::at(&[key], format!("{key} must be a string"))),
        }
    }

    pub(crate) fn optional_u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| ConfigError::at(&[key], format!("{key} must be a non-negative integer"))),
        }
    }

    /// A map of strings to strings (`headers`).
    fn optional_map(&self, key: &str) -> Result<Vec<(String, String)>, ConfigError> {
        match self.get(key) {
            None => Ok(vec![]),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(ConfigError::at(&[key, k], format!("{key}.{k} must be a string"))),
                })
                .collect(),
            Some(_) => Err(ConfigError::at(&[key], format!("{key} must be an object of strings"))),
        }
    }
}

/// A URL with one of `schemes` and a host.
pub(crate) fn parse_url(field: &str, raw: &str, schemes: &[&str]) -> Result<url::Url, ConfigError> {
    let url =
        url::Url::parse(raw).map_err(|e| ConfigError::at(&[field], format!("{field} is not a valid URI: {e}")))?;
    if !schemes.contains(&url.scheme()) {
        let list = schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(" or ");
        return Err(ConfigError::at(&[field], format!("{field} must start with {list}")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::at(&[field], format!("{field} has no host")));
    }
    Ok(url)
}

/// The host of a URL as the egress check wants it: without brackets around an IPv6 address.
pub(crate) fn host_of(url: &url::Url) -> String {
    match url.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(host) => host.to_string(),
        None => String::new(),
    }
}

/// The URI with its password (and, when `user_is_secret`, a lone user name) replaced by `****`.
pub(crate) fn mask_url(raw: &str, user_is_secret: bool) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "****".into();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("****"));
    } else if user_is_secret && !url.username().is_empty() {
        let _ = url.set_username("****");
    }
    // Query parameters may carry credentials too (`?password=`, `?token=`).
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret = ["pass", "token", "secret", "key", "auth"].iter().any(|s| k.to_lowercase().contains(s));
                (k.into_owned(), if secret { "****".to_string() } else { v.into_owned() })
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

pub(crate) fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The metadata every kind with headers or attributes carries next to the payload, under the same names.
fn metadata(batch: &Batch<'_>, e: &Event) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("hookd-msg-id", e.msg_id.clone()),
        ("hookd-event-type", e.event_type.clone()),
        ("hookd-app-id", batch.app_id.to_string()),
        ("hookd-timestamp", rfc3339(e.timestamp)),
    ];
    if let Some(id) = &e.event_id {
        out.push(("hookd-event-id", id.clone()));
    }
    if !e.channels.is_empty() {
        out.push(("hookd-channels", e.channels.join(",")));
    }
    out
}

fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An HTTP error with its causes (`connection refused`), which reqwest's own message leaves out.
fn http_reason(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let more = inner.to_string();
        if !s.contains(&more) {
            s = format!("{s}: {more}");
        }
        src = inner.source();
    }
    s
}

/// How long opening a connection may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long handing over one batch may take, confirms included.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `fut` with a deadline, turning its lapse into a [`SinkError`] that says what timed out.
pub(crate) async fn deadline<T>(
    limit: Duration,
    what: impl FnOnce() -> String,
    fut: impl std::future::Future<Output = Result<T, SinkError>>,
) -> Result<T, SinkError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(SinkError::new(format!("{} timed out after {} s", what(), limit.as_secs()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_credentials_inside_uris() {
        assert_eq!(mask_url("amqp://guest:guest@host:5672/%2f", false), "amqp://guest:****@host:5672/%2f");
        assert_eq!(mask_url("nats://s3cr3t@host:4222", true), "nats://****@host:4222");
        assert_eq!(mask_url("redis://host/0?password=x", false), "redis://host/0?password=****");
    }

    #[test]
    fn unknown_type_and_missing_fields_name_the_field() {
        assert_eq!(parse("kafka", &json!({})).unwrap_err().field, Vec::<String>::new());
        let e = parse("rabbitMq", &json!({"uri": "nope", "routingKey": "q"})).unwrap_err();
        assert_eq!(e.field, vec!["uri"]);
        let e = parse("rabbitMq", &json!({"uri": "amqp://h", "extra": 1})).unwrap_err();
        assert_eq!(e.field, vec!["routingKey"]);
    }
}
