//! Logs and traces of `hookd serve`.
//!
//! **Logs**: text, or one JSON object per line (`HOOKD_LOG_FORMAT=json`); colours only on a terminal and never
//! with `NO_COLOR`; `RUST_LOG` filters (default `info`). PostgreSQL's NOTICEs (`relation … already exists,
//! skipping`), which tokio-postgres logs at info, are left out unless `RUST_LOG` names `tokio_postgres`.
//!
//! **Traces**: OpenTelemetry over OTLP/HTTP (protobuf), configured by the standard variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `…_HEADERS`, `…_PROTOCOL`,
//! `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`). Without an endpoint nothing is exported and
//! the spans below are not even made: every helper here first reads whether a tracer is installed.
//!
//! Spans: each API request (`http.route`, `http.response.status_code`; a `traceparent` sent with it is the
//! parent; health checks and `/metrics` scrapes left out), a message's publish, each delivery attempt
//! (`http.request.method`, `url.full` without its query, `http.response.status_code`, the application, endpoint, message and attempt number), an inbound request's
//! verification, a timer's firing. An attempt continues the trace of its message's publish: the publish's
//! `traceparent` is stored with the message ([`crate::store::MessageRecord::traceparent`]), so a retry made by
//! another node, or after a restart, is still its child. Every webhook sent while traces are on carries the
//! attempt's `traceparent`.

use std::borrow::Cow;
use std::future::Future;
use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::store::DeliveryJob;

/// The tracer, when spans are exported (an OTLP endpoint is configured).
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// How the log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The installed exporter; [`Telemetry::shutdown`] sends the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter (blocking: call it off the runtime's threads).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("hookd: exporting the last spans: {e}");
            }
        }
    }
}

/// Whether spans are being exported.
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// The log filter: `RUST_LOG`, or `info`; PostgreSQL's notices only when it names `tokio_postgres`.
pub fn log_filter(rust_log: Option<&str>) -> String {
    let spec = rust_log.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("info");
    if spec.contains("tokio_postgres") {
        spec.to_string()
    } else {
        format!("{spec},tokio_postgres=warn")
    }
}

/// Whether the log gets colours: on a terminal, unless `NO_COLOR` is set (no-color.org).
pub fn log_colours(format: LogFormat, stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    format == LogFormat::Text && stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the log, and the trace exporter when an OTLP endpoint is configured.
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = tracing_subscriber::EnvFilter::try_new(log_filter(rust_log.as_deref()))
        .or_else(|_| tracing_subscriber::EnvFilter::try_new("info,tokio_postgres=warn"))?;
    let ansi = log_colours(
        format,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let fmt = match format {
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
        LogFormat::Text => fmt.with_filter(filter).boxed(),
    };
    tracing_subscriber::registry().with(fmt).try_init()?;
    let provider = exporter_from_env()?;
    if let Some(provider) = &provider {
        let _ = TRACER.set(provider.tracer("hookd"));
    }
    Ok(Telemetry { provider })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The tracer provider the `OTEL_*` variables describe, or None when they name no endpoint (or disable the SDK).
fn exporter_from_env() -> anyhow::Result<Option<SdkTracerProvider>> {
    if env("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() && env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none() {
        return Ok(None);
    }
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return Ok(None);
    }
    let protocol = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"));
    if let Some(p) = protocol.filter(|p| p != "http/protobuf") {
        anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={p} is not supported: hookd exports traces over OTLP/HTTP with protobuf \
             (`http/protobuf`, usually port 4318); unset it or set it to http/protobuf"
        );
    }
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| anyhow::anyhow!("the OTLP trace exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    let named = env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES")
            .is_some_and(|a| a.split(',').any(|kv| kv.trim().starts_with("service.name=")));
    if !named {
        resource = resource.with_service_name("hookd");
    }
    let resource =
        resource.with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))).build();
    // The sampler comes from OTEL_TRACES_SAMPLER[_ARG] (parent-based, always on, by default), the batching from
    // OTEL_BSP_*: the SDK reads them.
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    Ok(Some(provider))
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

/// The middleware that gives each API request a span named after its route template, continuing the
/// `traceparent` the request came with.
pub async fn trace_requests(req: Request, next: Next) -> Response {
    let Some(tracer) = tracer() else { return next.run(req).await };
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    // Probes and scrapes come every few seconds from every node's orchestrator and Prometheus: noise in a trace view.
    if matches!(route.as_deref(), Some("/api/v1/health" | "/api/v1/health/ping" | "/metrics")) {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_string();
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.clone(),
    };
    let parent = TraceContextPropagator::new().extract(&Headers(req.headers()));
    let span = Traced::start(
        tracer,
        name,
        SpanKind::Server,
        vec![
            KeyValue::new("url.path", req.uri().path().to_string()),
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route.unwrap_or_default()),
        ],
        &parent,
    );
    let resp = span.run(next.run(req)).await;
    let status = i64::from(resp.status().as_u16());
    span.set(KeyValue::new("http.response.status_code", status));
    if status >= 500 {
        span.failed();
    }
    resp
}

/// A span being recorded, or nothing when traces are off. It ends when dropped.
///
/// hookd makes its spans with the OpenTelemetry SDK directly rather than through `tracing`'s bridge: the bridge
/// builds each span again from `tracing`'s registry and runs at every poll of an instrumented future, which cost
/// more CPU per message than the rest of tracing together.
#[derive(Default)]
pub struct Traced(Option<Context>);

impl Traced {
    fn start(
        tracer: &SdkTracer,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        parent: &Context,
    ) -> Traced {
        let span =
            tracer.span_builder(name).with_kind(kind).with_attributes(attributes).start_with_context(tracer, parent);
        Traced(Some(parent.with_span(span)))
    }

    /// Runs `f` with this span as the current one: what `f` starts (a publish, an attempt's request) is its child.
    pub async fn run<F: Future>(&self, f: F) -> F::Output {
        match &self.0 {
            Some(cx) => f.with_context(cx.clone()).await,
            None => f.await,
        }
    }

    pub fn set(&self, attribute: KeyValue) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(attribute);
        }
    }

    fn failed(&self) {
        if let Some(cx) = &self.0 {
            cx.span().set_status(Status::error(""));
        }
    }

    /// The W3C `traceparent` of this span, stored with a message for its attempts to continue.
    pub fn traceparent(&self) -> Option<Box<str>> {
        let cx = self.0.as_ref()?;
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid()
            .then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()).into_boxed_str())
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }
}

/// A message's publish: from routing to the commit (the span is dropped there). Its parent is the current span (the
/// API request, an inbound request, a timer's firing).
pub fn publish_span(msg_id: &str, app_id: &str, event_type: &str, deliveries: usize) -> Traced {
    let Some(tracer) = tracer() else { return Traced::default() };
    let attributes = vec![
        KeyValue::new("hookd.message_id", msg_id.to_string()),
        KeyValue::new("hookd.app_id", app_id.to_string()),
        KeyValue::new("hookd.event_type", event_type.to_string()),
        KeyValue::new("hookd.deliveries", deliveries as i64),
    ];
    Traced::start(tracer, "publish", SpanKind::Producer, attributes, &Context::current())
}

/// The span context a stored `traceparent` names.
fn remote_parent(traceparent: &str) -> Option<SpanContext> {
    let mut parts = traceparent.split('-');
    let (Some("00"), Some(trace), Some(span), Some(flags), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let trace = opentelemetry::trace::TraceId::from_hex(trace).ok()?;
    let span = opentelemetry::trace::SpanId::from_hex(span).ok()?;
    let flags = opentelemetry::trace::TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
    let cx = SpanContext::new(trace, span, flags, true, Default::default());
    cx.is_valid().then_some(cx)
}

/// One delivery attempt, the child of its message's publish.
pub fn attempt_span(job: &DeliveryJob) -> Traced {
    let Some(tracer) = tracer() else { return Traced::default() };
    let parent = match job.msg.traceparent.as_deref().and_then(remote_parent) {
        Some(sc) => Context::new().with_remote_span_context(sc),
        None => Context::new(),
    };
    let attributes = vec![
        KeyValue::new("hookd.app_id", job.msg.app_id.clone()),
        KeyValue::new("hookd.endpoint_id", job.endpoint_id.clone()),
        KeyValue::new("hookd.message_id", job.msg.id.clone()),
        KeyValue::new("hookd.event_type", job.msg.event_type.clone()),
        KeyValue::new("hookd.attempt", job.attempts + 1),
        KeyValue::new("hookd.manual", job.manual),
    ];
    Traced::start(tracer, "webhook attempt", SpanKind::Client, attributes, &parent)
}

/// The request an attempt sends: recorded on the current span, and its `traceparent` put in `headers`.
pub fn sending(method: &str, url: &url::Url, headers: &mut HeaderMap) {
    if !enabled() {
        return;
    }
    let cx = Context::current();
    let span = cx.span();
    if span.is_recording() {
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        span.set_attribute(KeyValue::new("http.request.method", method.to_string()));
        span.set_attribute(KeyValue::new("url.full", String::from(shown)));
        if let Some(host) = url.host_str() {
            span.set_attribute(KeyValue::new("server.address", host.to_string()));
        }
        if let Some(port) = url.port_or_known_default() {
            span.set_attribute(KeyValue::new("server.port", i64::from(port)));
        }
    }
    TraceContextPropagator::new().inject_context(&cx, &mut HeadersMut(headers));
}

/// What the attempt came to: the status code, or `error_type` when there was no answer.
pub fn answered(status_code: i64, error_type: Option<&str>) {
    if !enabled() {
        return;
    }
    let cx = Context::current();
    let span = cx.span();
    if !span.is_recording() {
        return;
    }
    if status_code > 0 {
        span.set_attribute(KeyValue::new("http.response.status_code", status_code));
    }
    if let Some(e) = error_type {
        span.set_attribute(KeyValue::new("error.type", e.to_string()));
    } else if !(200..300).contains(&status_code) {
        span.set_attribute(KeyValue::new("error.type", status_code.to_string()));
    }
    if !(200..300).contains(&status_code) {
        span.set_status(Status::error(""));
    }
}

/// An inbound request's verification (and, when it verifies, its forward).
pub fn inbound_span(registration_id: &str) -> Traced {
    let Some(tracer) = tracer() else { return Traced::default() };
    let attributes = vec![KeyValue::new("hookd.registration_id", registration_id.to_string())];
    Traced::start(tracer, "inbound verify", SpanKind::Internal, attributes, &Context::current())
}

/// A timer's milestone or expiry firing; the webhooks it publishes are its children.
pub fn timer_span(timer_id: &str, due_at: i64) -> Traced {
    let Some(tracer) = tracer() else { return Traced::default() };
    let attributes = vec![KeyValue::new("hookd.timer_id", timer_id.to_string()), KeyValue::new("hookd.due_at", due_at)];
    Traced::start(tracer, "timer fire", SpanKind::Internal, attributes, &Context::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_traceparent_reads_back_as_the_same_span_context() {
        let cx = remote_parent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(cx.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(cx.span_id().to_string(), "00f067aa0ba902b7");
        assert!(cx.is_sampled() && cx.is_remote());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-0-0-01",
            "zz-a-b-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert!(remote_parent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn postgres_notices_stay_out_of_the_log_unless_asked_for() {
        assert_eq!(log_filter(None), "info,tokio_postgres=warn");
        assert_eq!(log_filter(Some("debug")), "debug,tokio_postgres=warn");
        assert_eq!(log_filter(Some("info,tokio_postgres=info")), "info,tokio_postgres=info");
    }

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        let set = Some(std::ffi::OsStr::new("1"));
        let empty = Some(std::ffi::OsStr::new(""));
        assert!(log_colours(LogFormat::Text, true, None));
        assert!(log_colours(LogFormat::Text, true, empty), "an empty NO_COLOR is unset (no-color.org)");
        assert!(!log_colours(LogFormat::Text, true, set));
        assert!(!log_colours(LogFormat::Text, false, None));
        assert!(!log_colours(LogFormat::Json, true, None));
    }
}
