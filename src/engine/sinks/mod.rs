//! Destinations' sinks: where an ordered batch of an application's messages is handed over — a broker, a
//! database, a queue. Every kind answers the same question, [`Sink::send`]: was this batch durably taken (a
//! publisher confirm, a commit, a 2xx)? Only then does the destination's cursor move past it, so a sink may see a
//! batch twice (at least once) but never out of order.
//!
//! The destination engine (`engine::destinations`) owns the log, the cursors, retries and leases; this module
//! owns the wire of each kind and the parsing of its `config`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;

use crate::store::Millis;

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

/// A parsed, checked `config` of one of the broker, database and queue kinds (`rabbitMq`, `postgres`, `sqs`,
/// `redis`, `nats`, `mqtt`, `otelTracing`, …). The HTTP kinds (`fifoEndpoint`, `pollingEndpoint`) belong to the
/// destination engine itself.
#[derive(Debug, Clone)]
pub enum SinkConfig {}

/// The kinds this module parses, in the order the API documents them.
pub const KINDS: &[&str] = &[];

/// Parses and checks the `config` of a destination of type `kind`.
pub fn parse(kind: &str, _config: &serde_json::Value) -> Result<SinkConfig, ConfigError> {
    Err(ConfigError { field: vec![], message: format!("unknown destination type `{kind}`") })
}

impl SinkConfig {
    /// The config as the API shows it: secrets (passwords, keys, credentials inside URIs) masked.
    pub fn redacted(&self) -> serde_json::Value {
        match *self {}
    }

    /// The hosts this sink connects to, each checked against the egress policy before connecting.
    pub fn hosts(&self) -> Vec<String> {
        match *self {}
    }

    /// Opens the client (connection, channel, pool). Called once per destination and kept while its config
    /// is unchanged.
    pub async fn connect(&self) -> Result<Arc<dyn Sink>, SinkError> {
        match *self {}
    }
}
