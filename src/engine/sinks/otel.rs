//! `otelTracing`: each message becomes one span, exported to the customer's collector over OTLP/HTTP
//! (protobuf), the whole batch in one request. The span's trace and span ids are derived from the msg id, so a
//! batch sent twice carries the same spans; its name is the event type, its time the message's creation, and the
//! message travels in `hookd.*` attributes (the payload as JSON text in `hookd.payload`).
//!
//! `url`: a collector's base (`http://collector:4318`, to which `/v1/traces` is added) or the full traces URL.

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Batch, ConfigError, ConnectContext, Event, Fields, Sink, SinkError, SEND_TIMEOUT};

/// Headers whose values are secrets: named by `redacted()` but not shown (as endpoints' headers are).
const SENSITIVE: &[&str] = &["authorization", "proxy-authorization", "cookie", "x-api-key"];

/// `otelTracing {url, headers?}`.
#[derive(Clone)]
pub struct OtelConfig {
    pub url: String,
    headers: Vec<(String, String)>,
    /// Where spans are posted.
    target: url::Url,
}

impl std::fmt::Debug for OtelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelConfig").field("url", &self.url).finish()
    }
}

impl OtelConfig {
    pub(super) fn parse(f: &Fields) -> Result<Self, ConfigError> {
        let url = f.required("url")?;
        let mut target = super::parse_url("url", &url, &["http", "https"])?;
        if target.path() == "/" || target.path().is_empty() {
            target.set_path("/v1/traces");
        }
        let headers = f.optional_map("headers")?;
        for (k, v) in &headers {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err(ConfigError::at(&["headers", k], format!("`{k}` is not a valid header name")));
            }
            if reqwest::header::HeaderValue::from_str(v).is_err() {
                return Err(ConfigError::at(
                    &["headers", k],
                    format!("the value of `{k}` is not a valid header value"),
                ));
            }
        }
        Ok(OtelConfig { url, headers, target })
    }

    /// As the SDK's `OtelTracingConfigOut`: `headers: {headers, sensitive}`, sensitive values left out.
    pub(super) fn redacted(&self) -> Value {
        let (sensitive, shown): (Vec<_>, Vec<_>) =
            self.headers.iter().partition(|(k, _)| SENSITIVE.contains(&k.to_ascii_lowercase().as_str()));
        let shown: serde_json::Map<String, Value> =
            shown.into_iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
        let sensitive: Vec<&String> = sensitive.into_iter().map(|(k, _)| k).collect();
        json!({"url": self.url, "headers": {"headers": shown, "sensitive": sensitive}})
    }

    pub(super) fn host(&self) -> String {
        super::host_of(&self.target)
    }
}

pub(super) struct OtelSink {
    cfg: OtelConfig,
    http: reqwest::Client,
}

impl OtelSink {
    pub(super) fn new(cfg: &OtelConfig, ctx: &ConnectContext) -> Result<Self, SinkError> {
        let http = match &ctx.http {
            Some(http) => http.clone(),
            None => reqwest::Client::builder()
                .connect_timeout(super::CONNECT_TIMEOUT)
                .build()
                .map_err(|e| SinkError::new(format!("HTTP client: {e}")))?,
        };
        Ok(OtelSink { cfg: cfg.clone(), http })
    }
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }) }
}

fn text(key: &str, value: impl Into<String>) -> KeyValue {
    attr(key, any_value::Value::StringValue(value.into()))
}

/// One message as a span; ids from the msg id's SHA-256 so that a resend repeats them.
fn span(batch: &Batch<'_>, e: &Event) -> Span {
    let digest = Sha256::digest(e.msg_id.as_bytes());
    let nanos = (e.timestamp.max(0) as u64) * 1_000_000;
    let mut attributes = vec![
        text("hookd.msg_id", e.msg_id.clone()),
        text("hookd.event_type", e.event_type.clone()),
        text("hookd.app_id", batch.app_id),
        text("hookd.destination_id", batch.destination_id),
        attr("hookd.position", any_value::Value::IntValue(e.position)),
        text("hookd.payload", e.payload.get()),
    ];
    if let Some(id) = &e.event_id {
        attributes.push(text("hookd.event_id", id.clone()));
    }
    if !e.channels.is_empty() {
        let values =
            e.channels.iter().map(|c| AnyValue { value: Some(any_value::Value::StringValue(c.clone())) }).collect();
        attributes.push(attr("hookd.channels", any_value::Value::ArrayValue(ArrayValue { values })));
    }
    Span {
        trace_id: digest[..16].to_vec(),
        span_id: digest[16..24].to_vec(),
        name: e.event_type.clone(),
        kind: SpanKind::Producer as i32,
        start_time_unix_nano: nanos,
        end_time_unix_nano: nanos,
        attributes,
        ..Default::default()
    }
}

#[async_trait]
impl Sink for OtelSink {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: vec![text("service.name", "hookd")], ..Default::default() }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope { name: "hookd.destination".into(), ..Default::default() }),
                    spans: batch.events.iter().map(|e| span(batch, e)).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let mut req = self
            .http
            .post(self.cfg.target.clone())
            .header("content-type", "application/x-protobuf")
            .timeout(SEND_TIMEOUT)
            .body(request.encode_to_vec());
        for (k, v) in &self.cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let host = self.cfg.host();
        let resp = req
            .send()
            .await
            .map_err(|e| SinkError::new(format!("OTLP collector at {host}: {}", super::http_reason(&e))))?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(SinkError::new(format!(
                "OTLP collector at {host} answered {status}: {}",
                text.trim().chars().take(300).collect::<String>()
            )));
        }
        if let Ok(answer) = ExportTraceServiceResponse::decode(body.as_ref()) {
            if let Some(partial) = answer.partial_success.filter(|p| p.rejected_spans > 0) {
                return Err(SinkError::new(format!(
                    "OTLP collector at {host} rejected {} of {} spans: {}",
                    partial.rejected_spans,
                    batch.events.len(),
                    partial.error_message
                )));
            }
        }
        Ok(())
    }
}
