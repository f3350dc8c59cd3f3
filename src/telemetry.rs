//! Logs and traces of `hookd serve`.
//!
//! **Logs**: text, or one JSON object per line (`HOOKD_LOG_FORMAT=json`); colours only on a terminal and never
//! with `NO_COLOR`; `RUST_LOG` filters (default `info`). PostgreSQL's NOTICEs (`relation … already exists,
//! skipping`), which tokio-postgres logs at info, are left out unless `RUST_LOG` names `tokio_postgres`.
//!
//! **Traces**: OpenTelemetry over OTLP/HTTP (protobuf), configured by the standard variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `…_HEADERS`, `…_PROTOCOL`,
//! `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`). Without an endpoint nothing is exported and
//! the spans below are not even made: they are `debug` spans of hookd's own targets, which only the OpenTelemetry
//! layer asks for (or a `RUST_LOG` at debug), and every helper here first reads one atomic flag.
//!
//! Spans: each API request (`http.route`, `http.response.status_code`; a `traceparent` sent with it is the
//! parent; health checks and `/metrics` scrapes left out), a message's publish, each delivery attempt (`http.request.method`, `url.full` without its query,
//! `http.response.status_code`, the application, endpoint, message and attempt number), an inbound request's
//! verification, a timer's firing. An attempt continues the trace of its message's publish: the publish's
//! `traceparent` is stored with the message ([`crate::store::MessageRecord::traceparent`]), so a retry made by
//! another node, or after a restart, is still its child. Every webhook sent while traces are on carries the
//! attempt's `traceparent`.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::store::DeliveryJob;

/// Whether spans are exported (an OTLP endpoint is configured).
static ENABLED: AtomicBool = AtomicBool::new(false);

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
    ENABLED.load(Ordering::Relaxed)
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
    let (otel, provider) = match exporter_from_env()? {
        Some(provider) => {
            let tracer = provider.tracer("hookd");
            // Only hookd's own spans (and the events inside them), whatever RUST_LOG says.
            let targets = tracing_subscriber::filter::Targets::new().with_target("hookd", tracing::Level::DEBUG);
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_location(false)
                .with_threads(false)
                .with_tracked_inactivity(false)
                // Nothing here reads OpenTelemetry's current context (parents come from tracing's spans, and
                // `span.context()` is asked for explicitly), so entering a span need not activate one: spans are
                // entered at every poll of the futures they instrument.
                .with_context_activation(false)
                .with_target(false)
                .with_filter(targets);
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    tracing_subscriber::registry().with(fmt).with(otel).try_init()?;
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        ENABLED.store(true, Ordering::Relaxed);
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
    if !enabled() {
        return next.run(req).await;
    }
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
    let span = tracing::debug_span!(
        target: "hookd::api",
        parent: None,
        "request",
        otel.name = %name,
        otel.kind = "server",
        http.request.method = %method,
        http.route = route.as_deref().unwrap_or(""),
        url.path = %req.uri().path(),
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    let parent = TraceContextPropagator::new().extract(&Headers(req.headers()));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    // As i64: the bridge exports unsigned integers as strings.
    let status = i64::from(resp.status().as_u16());
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    resp
}

/// A message's publish: from routing to the commit (the span is dropped there). Its parent is the current span (the
/// API request, an inbound request, a timer's firing).
pub fn publish_span(msg_id: &str, app_id: &str, event_type: &str, deliveries: usize) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::debug_span!(
        target: "hookd::engine",
        "publish",
        otel.name = "publish",
        otel.kind = "producer",
        hookd.message_id = msg_id,
        hookd.app_id = app_id,
        hookd.event_type = event_type,
        hookd.deliveries = deliveries as i64,
    )
}

/// The W3C `traceparent` of a publish's span, stored with its message for the attempts to continue.
pub fn traceparent(span: &Span) -> Option<Box<str>> {
    if span.is_none() {
        return None;
    }
    let cx = span.context();
    let otel_span = cx.span();
    let sc = otel_span.span_context();
    sc.is_valid()
        .then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()).into_boxed_str())
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
pub fn attempt_span(job: &DeliveryJob) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::debug_span!(
        target: "hookd::dispatch",
        parent: None,
        "attempt",
        otel.name = "webhook attempt",
        otel.kind = "client",
        http.request.method = Empty,
        url.full = Empty,
        server.address = Empty,
        server.port = Empty,
        http.response.status_code = Empty,
        error.type = Empty,
        otel.status_code = Empty,
        hookd.app_id = %job.msg.app_id,
        hookd.endpoint_id = %job.endpoint_id,
        hookd.message_id = %job.msg.id,
        hookd.event_type = %job.msg.event_type,
        hookd.attempt = job.attempts + 1,
        hookd.manual = job.manual,
    );
    if let Some(cx) = job.msg.traceparent.as_deref().and_then(remote_parent) {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(cx));
    }
    span
}

/// The request an attempt sends: recorded on the current span, and its `traceparent` put in `headers`.
pub fn sending(method: &str, url: &url::Url, headers: &mut HeaderMap) {
    if !enabled() {
        return;
    }
    let span = Span::current();
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    span.record("http.request.method", method);
    span.record("url.full", shown.as_str());
    if let Some(host) = url.host_str() {
        span.record("server.address", host);
    }
    if let Some(port) = url.port_or_known_default() {
        span.record("server.port", i64::from(port));
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeadersMut(headers));
}

/// What the attempt came to: the status code, or `error_type` when there was no answer.
pub fn answered(status_code: i64, error_type: Option<&str>) {
    if !enabled() {
        return;
    }
    let span = Span::current();
    if status_code > 0 {
        span.record("http.response.status_code", status_code);
    }
    if let Some(e) = error_type {
        span.record("error.type", e);
    } else if !(200..300).contains(&status_code) {
        span.record("error.type", status_code.to_string().as_str());
    }
    if !(200..300).contains(&status_code) {
        span.record("otel.status_code", "ERROR");
    }
}

/// An inbound request's verification (and, when it verifies, its forward).
pub fn inbound_span(registration_id: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::debug_span!(
        target: "hookd::inbound",
        "inbound verify",
        otel.name = "inbound verify",
        hookd.registration_id = registration_id,
        hookd.provider = Empty,
        hookd.verdict = Empty,
    )
}

/// A timer's milestone or expiry firing; the webhooks it publishes are its children.
pub fn timer_span(timer_id: &str, due_at: i64) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::debug_span!(
        target: "hookd::timers",
        parent: None,
        "timer fire",
        otel.name = "timer fire",
        hookd.timer_id = timer_id,
        hookd.due_at = due_at,
    )
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
