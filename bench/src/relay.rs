//! `hookd-bench relay`: the reference a webhook server is measured against. It speaks just enough of hookd's API
//! for `hookd-bench e2e` to drive it unchanged, and does the least any webhook server must do per message: parse the
//! whole JSON body, answer 202 at once, and forward the payload bytes — signed with the Standard Webhooks headers, as
//! every webhook server signs — with one POST per endpoint through one pooled keep-alive HTTP client, at most
//! `max_in_flight` at a time. Nothing is stored and nothing is retried, so it is the ceiling of any webhook server on
//! the same cores: parse and forward.
//!
//! Routes (everything else is 404):
//! - `GET  /api/v1/health/ping` → 204
//! - `POST /api/v1/app` → 201 `{"id":"app_…","name":…}`
//! - `GET  /api/v1/app/{app}` → 200 / 404
//! - `POST /api/v1/app/{app}/endpoint` `{"url":…}` → 201 `{"id":"ep_…","url":…}`
//! - `GET  /api/v1/app/{app}/endpoint/{ep}` → 200 / 404
//! - `POST /api/v1/app/{app}/msg` `{"eventType":…,"payload":{…}}` → 202 `{"id":"msg_…",…,"payload":{…}}`

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::util::now_ns;

pub struct Opts {
    pub addr: SocketAddr,
    /// When set, every API call must carry `Authorization: Bearer <token>` (as hookd requires).
    pub token: Option<String>,
    /// Forwards in flight at once; the rest wait for a permit.
    pub max_in_flight: usize,
    /// Per-forward timeout.
    pub forward_timeout: Duration,
    /// Request bodies above this are refused with 413.
    pub max_body_bytes: usize,
}

struct Endpoint {
    id: String,
    url: reqwest::Url,
    /// HMAC key of the endpoint's signing secret.
    key: Vec<u8>,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    forwarded: AtomicU64,
    forward_failed: AtomicU64,
}

struct Relay {
    /// Application id → its endpoints (replaced whole when one is added, so a publish clones one `Arc`).
    apps: RwLock<HashMap<String, Arc<Vec<Arc<Endpoint>>>>>,
    next_id: AtomicU64,
    auth: Option<String>,
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    max_body_bytes: usize,
    n: Arc<Counters>,
}

type HmacSha256 = Hmac<Sha256>;

#[derive(Deserialize)]
#[allow(dead_code)] // Parsed in full like hookd does; not every field is used.
struct AppIn {
    name: String,
    #[serde(default)]
    uid: Option<String>,
}

#[derive(Deserialize)]
struct EndpointIn {
    url: String,
}

/// hookd's `MessageIn`, the fields a publish may carry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct MessageIn {
    event_type: String,
    payload: Box<RawValue>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    channels: Option<Vec<String>>,
}

/// What hookd answers to a publish: the message with its payload echoed byte for byte.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageOut<'a> {
    id: &'a str,
    event_type: &'a str,
    event_id: Option<&'a str>,
    payload: &'a RawValue,
    channels: Option<&'a [String]>,
    timestamp: String,
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The Standard Webhooks signature `v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`.
pub fn sign(key: &[u8], msg_id: &str, ts: u64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac takes any key length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", base64(&mac.finalize().into_bytes()))
}

/// Standard base64 with padding (the relay needs only encoding, for signatures).
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    out
}

/// Path segments after `/api/v1/`, or `None` for other paths.
fn api_path(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("/api/v1/")?;
    Some(rest.trim_end_matches('/').split('/').collect())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, code: &str, detail: &str) -> Response<Full<Bytes>> {
    json_response(status, serde_json::json!({"code": code, "detail": detail}).to_string().into_bytes())
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

#[allow(clippy::result_large_err)] // The error is the response to send, built once per bad request.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response<Full<Bytes>>> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => error(StatusCode::UNPROCESSABLE_ENTITY, "validation", &e.to_string()),
        _ => error(StatusCode::BAD_REQUEST, "invalid_json", &format!("Malformed JSON body: {e}")),
    })
}

impl Relay {
    fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}_{:x}{:08x}", now_ns() / 1_000_000_000, self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        if method == Method::GET && path == "/api/v1/health/ping" {
            return empty(StatusCode::NO_CONTENT);
        }
        let Some(seg) = api_path(&path) else { return empty(StatusCode::NOT_FOUND) };
        if let Some(want) = &self.auth {
            if req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()) != Some(want.as_bytes()) {
                return error(StatusCode::UNAUTHORIZED, "authentication_failed", "Invalid token");
            }
        }
        let body = if method == Method::POST {
            match Limited::new(req.into_body(), self.max_body_bytes).collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "Request body is too large")
                }
                Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
            }
        } else {
            Bytes::new()
        };
        match (&method, seg.as_slice()) {
            (&Method::POST, ["app"]) => self.create_app(&body),
            (&Method::GET, ["app", app]) => match self.apps.read().unwrap().contains_key(*app) {
                true => json_response(StatusCode::OK, format!("{{\"id\":\"{app}\"}}").into_bytes()),
                false => error(StatusCode::NOT_FOUND, "not_found", "Entity not found"),
            },
            (&Method::POST, ["app", app, "endpoint"]) => self.create_endpoint(app, &body),
            (&Method::GET, ["app", app, "endpoint", ep]) => {
                let found = self.apps.read().unwrap().get(*app).is_some_and(|eps| eps.iter().any(|e| e.id == *ep));
                match found {
                    true => json_response(StatusCode::OK, format!("{{\"id\":\"{ep}\"}}").into_bytes()),
                    false => error(StatusCode::NOT_FOUND, "not_found", "Entity not found"),
                }
            }
            (&Method::POST, ["app", app, "msg"]) => self.publish(app, body),
            _ => error(StatusCode::NOT_FOUND, "not_found", "Entity not found"),
        }
    }

    fn create_app(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let input: AppIn = match parse(body) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let id = self.new_id("app");
        self.apps.write().unwrap().insert(id.clone(), Arc::new(Vec::new()));
        let out = serde_json::json!({"id": id, "name": input.name, "uid": input.uid});
        json_response(StatusCode::CREATED, out.to_string().into_bytes())
    }

    fn create_endpoint(&self, app: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let input: EndpointIn = match parse(body) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let url = match reqwest::Url::parse(&input.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => return error(StatusCode::UNPROCESSABLE_ENTITY, "validation", "url: must be an http(s) URL"),
        };
        let id = self.new_id("ep");
        // A per-endpoint signing key; it only has to differ between endpoints.
        let key = Sha256::digest(format!("{id}.{}", now_ns()).as_bytes())[..24].to_vec();
        let secret = format!("whsec_{}", base64(&key));
        let ep = Arc::new(Endpoint { id: id.clone(), url, key });
        let mut apps = self.apps.write().unwrap();
        let Some(eps) = apps.get_mut(app) else {
            return error(StatusCode::NOT_FOUND, "not_found", "Entity not found");
        };
        let mut list = eps.as_ref().clone();
        list.push(ep);
        *eps = Arc::new(list);
        let out = serde_json::json!({"id": id, "url": input.url, "secret": secret});
        json_response(StatusCode::CREATED, out.to_string().into_bytes())
    }

    fn publish(&self, app: &str, body: Bytes) -> Response<Full<Bytes>> {
        let input: MessageIn = match parse(&body) {
            Ok(x) => x,
            Err(r) => {
                self.n.rejected.fetch_add(1, Ordering::Relaxed);
                return r;
            }
        };
        // hookd's checks on the same fields.
        if input.event_type.is_empty() || input.event_type.len() > 256 {
            self.n.rejected.fetch_add(1, Ordering::Relaxed);
            return error(StatusCode::UNPROCESSABLE_ENTITY, "validation", "eventType: must be 1 to 256 characters");
        }
        if !input.payload.get().trim_start().starts_with('{') {
            self.n.rejected.fetch_add(1, Ordering::Relaxed);
            return error(StatusCode::UNPROCESSABLE_ENTITY, "validation", "payload: must be a JSON object");
        }
        let Some(endpoints) = self.apps.read().unwrap().get(app).cloned() else {
            self.n.rejected.fetch_add(1, Ordering::Relaxed);
            return error(StatusCode::NOT_FOUND, "not_found", "Entity not found");
        };
        let id = self.new_id("msg");
        let ts = now_ns() / 1_000_000_000;
        let payload = Bytes::copy_from_slice(input.payload.get().as_bytes());
        for ep in endpoints.iter() {
            let (ep, payload, id) = (ep.clone(), payload.clone(), id.clone());
            let (client, permits, n) = (self.client.clone(), self.permits.clone(), self.n.clone());
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else { return };
                let signature = sign(&ep.key, &id, ts, &payload);
                let res = client
                    .post(ep.url.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .header("webhook-id", id.as_str())
                    .header("webhook-timestamp", ts)
                    .header("webhook-signature", signature)
                    .body(payload)
                    .send()
                    .await;
                let ok = match res {
                    // Drain the body so that the connection goes back to the pool.
                    Ok(resp) => resp.status().is_success() & resp.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok { &n.forwarded } else { &n.forward_failed }.fetch_add(1, Ordering::Relaxed);
            });
        }
        self.n.accepted.fetch_add(1, Ordering::Relaxed);
        let out = MessageOut {
            id: &id,
            event_type: &input.event_type,
            event_id: input.event_id.as_deref(),
            payload: &input.payload,
            channels: input.channels.as_deref(),
            timestamp: rfc3339(ts),
        };
        json_response(StatusCode::ACCEPTED, serde_json::to_vec(&out).expect("serializable"))
    }

    fn in_flight(&self) -> usize {
        self.max_in_flight - self.permits.available_permits()
    }
}

/// Serves until SIGINT or SIGTERM, printing counts every second while there is traffic.
pub async fn run(o: Opts) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(o.forward_timeout)
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let relay = Arc::new(Relay {
        apps: RwLock::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        auth: o.token.map(|t| format!("Bearer {t}")),
        client,
        permits: Arc::new(Semaphore::new(o.max_in_flight.max(1))),
        max_in_flight: o.max_in_flight.max(1),
        max_body_bytes: o.max_body_bytes,
        n: Arc::new(Counters::default()),
    });
    let shared = relay.clone();
    let listener = TcpListener::bind(o.addr).await.map_err(|e| format!("bind {}: {e}", o.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "relay listening on http://{local} (at most {} forwards in flight, no storage, no retries); SIGINT/SIGTERM to stop",
        relay.max_in_flight
    );
    let accept = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("relay: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let relay = shared.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let relay = relay.clone();
                    async move { Ok::<_, Infallible>(relay.handle(req).await) }
                });
                let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = (0, 0, 0);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = counts(&relay);
                if now != last {
                    println!("accepted {} forwarded {} failed {} in flight {}", now.0, now.1, now.2, relay.in_flight());
                    last = now;
                }
            }
            _ = &mut ctrl_c => break,
            _ = term.recv() => break,
        }
    }
    accept.abort();
    // Let forwards in flight finish, for at most 5 s.
    for _ in 0..50 {
        if relay.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = counts(&relay);
    println!(
        "final: accepted {} rejected {} forwarded {} failed {} in flight {}",
        c.0,
        relay.n.rejected.load(Ordering::Relaxed),
        c.1,
        c.2,
        relay.in_flight()
    );
    Ok(())
}

fn counts(r: &Relay) -> (u64, u64, u64) {
    (
        r.n.accepted.load(Ordering::Relaxed),
        r.n.forwarded.load(Ordering::Relaxed),
        r.n.forward_failed.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_000_000), "2026-11-30T00:53:20Z");
    }

    #[test]
    fn signature_is_standard_webhooks() {
        // The Standard Webhooks spec's example: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, msg_p5jXN8AQM9LWM0D4loKWxJek,
        // timestamp 1614265330, body {"test": 2432232314}.
        let key = [
            0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a, 0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f, 0x08, 0x2c, 0xf6, 0x48,
            0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0,
        ];
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn api_paths() {
        assert_eq!(api_path("/api/v1/app"), Some(vec!["app"]));
        assert_eq!(api_path("/api/v1/app/app_1/msg/"), Some(vec!["app", "app_1", "msg"]));
        assert_eq!(api_path("/hook"), None);
    }
}
