//! Sends deliveries. Each job is one HTTP request: signed, sent with the endpoint's headers and a timeout,
//! classified (2xx done; 410 disables the endpoint; anything else retries on the schedule, `Retry-After`
//! honoured), and recorded. No lock is held across the request; the record joins the next group commit.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, Semaphore};

use super::breaker::Admission;
use super::metrics::seconds_between;
use super::model::Endpoint;
use super::transform::{Outcome, WebhookIn};
use super::{retry, signing, Engine};
use crate::config::HeaderStyle;
use crate::shutdown::Shutdown;
use crate::store::{now_ms, status, AttemptRecord, DeliveryJob, Failing, MessageRecord, NextStep};

/// Response bodies are kept up to this many bytes, as svix-server does.
const MAX_RESPONSE_BYTES: usize = 20_000;

/// Which failed attempts are logged: at most one line per endpoint per [`FailureLog::WINDOW`], so that a receiver
/// that is down (hundreds of deliveries failing a second) does not flood the log; the next line says how many
/// were left out. Per node, in memory.
#[derive(Default)]
pub struct FailureLog {
    last: std::sync::Mutex<std::collections::HashMap<String, (Instant, u64)>>,
}

impl FailureLog {
    pub const WINDOW: Duration = Duration::from_secs(10);

    /// Whether a failure of `endpoint` at `now` is logged, with how many of its failures were left out since its
    /// last line.
    pub fn admit(&self, endpoint: &str, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().expect("failure log");
        if last.len() > 10_000 {
            last.retain(|_, (at, _)| now.duration_since(*at) < Self::WINDOW);
        }
        match last.get_mut(endpoint) {
            Some((at, left_out)) if now.duration_since(*at) < Self::WINDOW => {
                *left_out += 1;
                None
            }
            Some(slot) => Some(std::mem::replace(slot, (now, 0)).1),
            None => {
                last.insert(endpoint.to_string(), (now, 0));
                Some(0)
            }
        }
    }
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    WillRetry,
    Exhausted,
    /// The endpoint is gone or disabled; nothing was sent.
    Abandoned,
    /// Over the endpoint's or application's throttle rate, or held by its open circuit breaker: put back in the
    /// queue, nothing was sent, no attempt counted.
    Deferred,
    /// The endpoint's transformation cancelled it: nothing was sent, and nothing will be.
    Cancelled,
}

/// One HTTP request of a delivery: the message as it is (borrowing the endpoint's URL), or as the endpoint's
/// transformation made it.
struct Request<'a> {
    method: reqwest::Method,
    url: Cow<'a, str>,
    body: bytes::Bytes,
    /// Instead of `application/json` (see [`super::CONTENT_TYPE`]).
    content_type: Option<HeaderValue>,
}

struct Sent {
    status_code: i64,
    /// No answer within the request timeout.
    timed_out: bool,
    response: String,
    retry_after: Option<u64>,
}

impl Engine {
    /// Runs deliveries from `rx`, at most `dispatch_concurrency` at once, until shutdown; then waits up to
    /// `shutdown_grace` for those in flight.
    pub async fn run_dispatcher(self: Arc<Self>, mut rx: mpsc::Receiver<DeliveryJob>, shutdown: Shutdown) {
        tokio::spawn(self.clone().announce_watchers(shutdown.clone()));
        let limit = self.cfg.dispatch_concurrency;
        let slots = Arc::new(Semaphore::new(limit));
        loop {
            let job = tokio::select! {
                job = rx.recv() => match job { Some(job) => job, None => break },
                _ = shutdown.wait() => break,
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let engine = self.clone();
            tokio::spawn(async move {
                engine.execute(job).await;
                drop(slot);
            });
        }
        self.live.stop();
        // Jobs not started keep their leases and are picked up again after a restart.
        let _ = tokio::time::timeout(self.cfg.shutdown_grace, slots.acquire_many(limit as u32)).await;
    }

    /// One attempt of one delivery, recorded before it returns.
    pub async fn execute(&self, job: DeliveryJob) -> AttemptOutcome {
        let span = crate::telemetry::attempt_span(&job);
        span.run(self.attempt(job)).await
    }

    async fn attempt(&self, job: DeliveryJob) -> AttemptOutcome {
        let msg = &job.msg;
        let endpoints = match self.endpoints_of(&msg.org_id, &msg.app_id).await {
            Ok(eps) => eps,
            Err(e) => {
                tracing::error!(error = ?e, "loading endpoints");
                return AttemptOutcome::WillRetry; // the lease brings it back
            }
        };
        // Borrowed from the cached list: no copy of the endpoint per delivery.
        let Some(endpoint) = endpoints.iter().find(|e| e.id == job.endpoint_id && !e.disabled) else {
            let rec = self.attempt_record(
                &job,
                &job.endpoint_id,
                "",
                0,
                status::FAIL,
                0,
                "endpoint disabled or deleted".into(),
            );
            self.record(&job, rec, NextStep::GiveUp).await;
            return AttemptOutcome::Abandoned;
        };

        let Admission::Send { probe } = self.breaker_admit(&job, endpoint).await else {
            return AttemptOutcome::Deferred;
        };
        if let Some(wait) = self.throttle_wait(endpoint).await {
            if probe {
                self.breakers.probe_abandoned(&endpoint.id);
            }
            let at = now_ms() + wait.as_millis().max(1) as i64;
            match self.store.job_defer(job.job_id, at).await {
                Ok(()) => self.wake.hint(at),
                Err(e) => tracing::error!(error = ?e, "deferring a throttled delivery"), // its lease brings it back
            }
            return AttemptOutcome::Deferred;
        }

        let started = Instant::now();
        let (sent, url) = match self.request_for(&job, endpoint).await {
            Ok(Some(request)) => (self.send(&job, endpoint, &request).await, request.url),
            Ok(None) => {
                if probe {
                    self.breakers.probe_abandoned(&endpoint.id);
                }
                let duration_ms = started.elapsed().as_millis() as i64;
                let why = "cancelled by the endpoint's transformation".to_string();
                let rec = self.attempt_record(&job, &endpoint.id, &endpoint.url, 0, status::CANCELED, duration_ms, why);
                self.record(&job, rec, NextStep::Cancel).await;
                return AttemptOutcome::Cancelled;
            }
            Err(why) => {
                let sent = Sent { status_code: 0, timed_out: false, response: why, retry_after: None };
                (sent, Cow::Borrowed(endpoint.url.as_str()))
            }
        };
        let elapsed = started.elapsed();
        let duration_ms = elapsed.as_millis() as i64;
        let attempts_made = job.attempts as usize + 1;
        let ok = (200..300).contains(&sent.status_code);
        self.metrics.attempt_seconds.observe(elapsed.as_secs_f64());
        let kind = match (ok, sent.status_code, sent.timed_out) {
            (true, ..) => "success",
            (false, 0, true) => "timeout",
            (false, 0, false) => "error",
            _ => "failure",
        };
        self.metrics.attempt(kind, sent.status_code);

        let seen = super::release::Outcome { ok, status_code: sent.status_code, latency_ms: duration_ms as u64 };
        let mut take_back = None;
        let (next, outcome) = if ok {
            if !job.manual {
                self.metrics.delivery_seconds.observe(seconds_between(job.msg.created_at, now_ms()));
            }
            if let Some(handler) = self.responses.get().filter(|_| endpoint.metadata.contains_key(super::ON_RESPONSE)) {
                handler.answered(&job.msg, endpoint, &sent.response);
            }
            (NextStep::Done, AttemptOutcome::Delivered)
        } else {
            if sent.status_code == 410 {
                let _ = self.disable_endpoint(&msg.org_id, &msg.app_id, &endpoint.id, "410 Gone").await;
                (NextStep::GiveUp, AttemptOutcome::Exhausted)
            } else if job.manual {
                (NextStep::GiveUp, AttemptOutcome::Exhausted)
            } else if let Some(at) = probe.then(|| self.breaker_probe_failed(&endpoint.id)).flatten() {
                // A failed probe waits for the next probe, not for its retry schedule.
                (NextStep::RetryAt(at), AttemptOutcome::WillRetry)
            } else if self.releases.take_back(&endpoint.id, job.job_id, seen) {
                // Refused while its circuit's backlog is released: held again, for the release (parked below).
                let until = self.hold_deadline(now_ms());
                take_back = Some(until);
                (NextStep::RetryAt(until), AttemptOutcome::WillRetry)
            } else {
                let custom;
                let schedule: &[Duration] = match &endpoint.retry_schedule {
                    Some(ms) => {
                        custom = ms.iter().map(|m| Duration::from_millis(*m)).collect::<Vec<_>>();
                        &custom
                    }
                    None => &self.cfg.retry_schedule,
                };
                match retry::next_delay(schedule, attempts_made) {
                    Some(delay) => {
                        let delay = retry::jitter(delay);
                        let honoured = matches!(sent.status_code, 429 | 503);
                        let delay = retry::honour_retry_after(delay, sent.retry_after.filter(|_| honoured));
                        (NextStep::RetryAt(now_ms() + delay.as_millis() as i64), AttemptOutcome::WillRetry)
                    }
                    None => (NextStep::GiveUp, AttemptOutcome::Exhausted),
                }
            }
        };
        if outcome == AttemptOutcome::Exhausted {
            self.metrics.deliveries_exhausted.inc();
        }
        if !ok {
            self.log_failure(&job, endpoint, &url, &sent, next).await;
        }
        let rec = self.attempt_record(
            &job,
            &endpoint.id,
            &url,
            sent.status_code,
            if ok { status::SUCCESS } else { status::FAIL },
            duration_ms,
            sent.response,
        );
        self.attempt_events(&job, endpoint, &rec, &outcome);
        let failing = self.record(&job, rec, next).await;
        if let Some(failing) = failing {
            if now_ms() - failing.since >= self.cfg.disable_after.as_millis() as i64 {
                let why = "failing for too long";
                let _ = self
                    .disable_endpoint_failing_since(&msg.org_id, &msg.app_id, &endpoint.id, why, failing.since)
                    .await;
            }
        }
        if let Some(until) = take_back {
            if let Err(e) = self.store.job_park(job.job_id, until).await {
                // It comes due at `until` by itself.
                tracing::error!(error = ?e, "holding a refused delivery again");
            }
        }
        self.releases.observe(&endpoint.id, job.job_id, seen);
        let opened = self.breaker_observe(&endpoint.id, ok, sent.status_code, failing).await;
        if opened && take_back.is_none() && matches!(next, NextStep::RetryAt(_)) {
            // The failure that opened the circuit is held like those after it, to be released in order when it
            // closes, rather than retried on its schedule (5 min away at its second attempt: on another node of
            // a cluster, the first failure there past the shared count may be a message's second).
            let until = self.hold_deadline(now_ms());
            if let Err(e) = self.store.job_park(job.job_id, until).await {
                // Its retry brings it back.
                tracing::error!(error = ?e, "holding a delivery");
            }
        }
        outcome
    }

    /// A failed attempt in the log, for an operator watching it (`hookd serve` in a terminal): which application,
    /// endpoint and URL, what came back and what happens next. Rate-limited per endpoint by [`FailureLog`].
    async fn log_failure(&self, job: &DeliveryJob, ep: &Endpoint, url: &str, sent: &Sent, next: NextStep) {
        let Some(left_out) = self.failure_log.admit(&ep.id, Instant::now()) else {
            return;
        };
        let app = match self.app(&job.msg.org_id, &job.msg.app_id).await {
            Ok(Some(app)) => app.uid.clone().unwrap_or_else(|| app.id.clone()),
            _ => job.msg.app_id.clone(),
        };
        let next = match next {
            NextStep::RetryAt(at) => format!("retry in {:.1}s", (at - now_ms()).max(0) as f64 / 1000.0),
            _ => "no retry left".to_string(),
        };
        let mut response: String = sent.response.chars().take(200).collect();
        response = response.replace(['\n', '\r'], " ");
        tracing::warn!(
            app = %app,
            endpoint = %ep.uid.as_deref().unwrap_or(&ep.id),
            url = %url,
            status = sent.status_code,
            attempt = job.attempts + 1,
            message_id = %job.msg.id,
            next = %next,
            response = %response,
            similar_left_out = left_out,
            "delivery failed"
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn attempt_record(
        &self,
        job: &DeliveryJob,
        endpoint_id: &str,
        url: &str,
        status_code: i64,
        status: i64,
        duration_ms: i64,
        response: String,
    ) -> AttemptRecord {
        AttemptRecord {
            id: crate::ids::new(crate::ids::ATTEMPT),
            org_id: job.msg.org_id.clone(),
            app_id: job.msg.app_id.clone(),
            msg_id: job.msg.id.clone(),
            endpoint_id: endpoint_id.to_string(),
            url: url.to_string(),
            status_code,
            status,
            manual: job.manual,
            duration_ms,
            response,
            created_at: now_ms(),
        }
    }

    /// Writes the attempt; returns how the endpoint has been failing.
    async fn record(&self, job: &DeliveryJob, rec: AttemptRecord, next: NextStep) -> Option<Failing> {
        // Copied only while someone watches the live tail (on this node or another).
        let watched = self.live.watched().then(|| rec.clone());
        match self.store.record_attempt(job.job_id, job.delivery_id, rec, next).await {
            Ok(failing) => {
                if let NextStep::RetryAt(at) = next {
                    self.wake.hint(at);
                }
                if let Some(attempt) = watched {
                    let will_retry = matches!(next, NextStep::RetryAt(_));
                    let event_type = job.msg.event_type.clone();
                    self.attempt_recorded(super::live::AttemptEvent { attempt, event_type, will_retry });
                }
                failing
            }
            Err(e) => {
                // The job keeps its lease and is attempted again when it runs out.
                tracing::error!(error = ?e, "recording an attempt");
                None
            }
        }
    }

    fn headers_for(&self, job: &DeliveryJob, ep: &Endpoint, body: &[u8]) -> HeaderMap {
        delivery_headers(&job.msg, ep, job.attempts, chrono::Utc::now(), self.cfg.header_style, body)
    }

    /// What to send: the message, or what the endpoint's transformation makes of it (None: it cancelled the
    /// delivery). An error is the transformation's, recorded as the attempt's failure.
    async fn request_for<'a>(&self, job: &DeliveryJob, ep: &'a Endpoint) -> Result<Option<Request<'a>>, String> {
        let payload = job.msg.payload.as_deref().unwrap_or("{}");
        let app = self.app(&job.msg.org_id, &job.msg.app_id).await.ok().flatten();
        let body_of = |json: &str| match app.as_deref().and_then(|a| raw_body(a, json)) {
            Some((body, ct)) => (body, Some(ct)),
            None => (bytes::Bytes::copy_from_slice(json.as_bytes()), None),
        };
        let Some(t) = ep.transformation.as_ref().filter(|t| t.active()) else {
            let (body, content_type) = body_of(payload);
            return Ok(Some(Request {
                method: reqwest::Method::POST,
                url: Cow::Borrowed(&ep.url),
                body,
                content_type,
            }));
        };
        let raw: &RawValue = serde_json::from_str(payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
        let input = WebhookIn { method: "POST", url: &ep.url, event_type: &job.msg.event_type, payload: raw };
        match self.transformer.apply(Some(ep.id.as_str()), t, input).await? {
            Outcome::Cancel => Ok(None),
            Outcome::Send { method, url, payload, .. } => {
                let (body, content_type) = body_of(payload.get());
                Ok(Some(Request { method, url: Cow::Owned(url), body, content_type }))
            }
        }
    }

    async fn send(&self, job: &DeliveryJob, ep: &Endpoint, request: &Request<'_>) -> Sent {
        let failed = |why: String| Sent { status_code: 0, timed_out: false, response: why, retry_after: None };
        // Checked again here: a transformation may have changed it.
        let url = match self.egress.check_url(&request.url) {
            Ok(u) => u,
            Err(why) => return failed(why),
        };
        let body = request.body.clone();
        let mut headers = self.headers_for(job, ep, &body);
        if let Some(ct) = &request.content_type {
            headers.insert("content-type", ct.clone());
        }
        crate::telemetry::sending(request.method.as_str(), &url, &mut headers);
        let resp = match self.http.request(request.method.clone(), url).headers(headers).body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                crate::telemetry::answered(0, Some(if e.is_timeout() { "timeout" } else { "connection" }));
                return Sent { timed_out: e.is_timeout(), ..failed(describe(&e)) };
            }
        };
        let status_code = resp.status().as_u16() as i64;
        crate::telemetry::answered(status_code, None);
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse().ok());
        // Read only up to the kept size, so a huge answer costs no more memory than a small one; dropping the
        // rest closes the connection. The client's timeout covers the body too: a receiver that drips its answer
        // has not answered in time, whatever its status line said.
        let mut response = Vec::new();
        let mut resp = resp;
        while response.len() < MAX_RESPONSE_BYTES {
            match resp.chunk().await {
                Ok(Some(chunk)) => response.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    let why = format!("{} (reading the body after status {status_code})", describe(&e));
                    return Sent { timed_out: e.is_timeout(), ..failed(why) };
                }
            }
        }
        response.truncate(MAX_RESPONSE_BYTES);
        Sent { status_code, timed_out: false, response: String::from_utf8_lossy(&response).into_owned(), retry_after }
    }
}

/// The body and content type of a payload that is a JSON string, when `app` names another content type than JSON
/// (see [`super::CONTENT_TYPE`]): the string's own bytes.
pub fn raw_body(app: &super::model::Application, payload: &str) -> Option<(bytes::Bytes, HeaderValue)> {
    let ct = HeaderValue::try_from(app.metadata.get(super::CONTENT_TYPE)?.as_str()).ok()?;
    let text = serde_json::from_str::<String>(payload).ok()?;
    Some((bytes::Bytes::from(text), ct))
}

/// The headers of one attempt of `msg` to `ep`, signed at `now` (`attempts`: those made before it). The dashboard
/// recomputes an attempt's headers with it, so that what it shows is what the dispatcher sends.
pub fn delivery_headers(
    msg: &MessageRecord,
    ep: &Endpoint,
    attempts: i64,
    now: chrono::DateTime<chrono::Utc>,
    style: HeaderStyle,
    body: &[u8],
) -> HeaderMap {
    let mut h = HeaderMap::new();
    // Custom headers first, so that the signature headers below cannot be overridden by them.
    for (k, v) in &ep.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            h.insert(k, v);
        }
    }
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let ts = now.timestamp();
    let sig = signing::standard_signature(&msg.id, ts, body, ep.live_secrets(now.timestamp_millis()));
    let (id_h, ts_h, sig_h) = match style {
        HeaderStyle::Svix => ("svix-id", "svix-timestamp", "svix-signature"),
        HeaderStyle::Webhook => ("webhook-id", "webhook-timestamp", "webhook-signature"),
    };
    let value = |s: &str| HeaderValue::try_from(s).unwrap_or(HeaderValue::from_static(""));
    h.insert(id_h, value(&msg.id));
    h.insert(ts_h, HeaderValue::from(ts));
    h.insert(sig_h, value(&sig));
    if let (Some(scheme), Some(secret)) = (&ep.signature, ep.secrets.first()) {
        let stamp = scheme.format_timestamp(now);
        let signature = scheme.sign(&secret.key, &msg.id, &stamp, body);
        let mut put = |name: &str, v: &str| {
            if let Ok(name) = HeaderName::try_from(name) {
                h.insert(name, value(v));
            }
        };
        put(&scheme.header, &signature);
        if let Some(name) = &scheme.timestamp_header {
            put(name, &stamp);
        }
        if let Some(name) = &scheme.id_header {
            put(name, &msg.id);
        }
        if let Some(name) = &scheme.attempt_header {
            put(name, &(attempts + 1).to_string());
        }
        if let Some(name) = &scheme.event_type_header {
            put(name, &msg.event_type);
        }
        if let Some(name) = &scheme.request_id_header {
            put(name, &crate::ids::new("req_"));
        }
    }
    h
}

pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timeout".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_logged_once_per_endpoint_per_window() {
        let log = FailureLog::default();
        let t0 = Instant::now();
        assert_eq!(log.admit("ep_a", t0), Some(0));
        assert_eq!(log.admit("ep_a", t0 + Duration::from_secs(1)), None);
        assert_eq!(log.admit("ep_a", t0 + Duration::from_secs(9)), None);
        assert_eq!(log.admit("ep_b", t0 + Duration::from_secs(9)), Some(0), "each endpoint has its own window");
        assert_eq!(log.admit("ep_a", t0 + Duration::from_secs(10)), Some(2), "two were left out");
        assert_eq!(log.admit("ep_a", t0 + Duration::from_secs(11)), None);
    }
}
