//! `hookd-bench recovery`: backlog recovery after an outage (issue 19, part 4). A receiver is down (it answers 503)
//! while `messages` are published to one endpoint; `down_secs` after the outage began it comes back, and the
//! scenario measures the seconds from its return until every message was delivered, and the attempts per message.
//! With `--limit-per-second` the receiver takes only that many a second once back: a token bucket (`--burst`
//! deep) answers 429 over it, so that an overrun shows as 429s and extra attempts.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Client;
use serde_json::json;
use tokio::net::TcpListener;

use crate::e2e::{chain, post_json};
use crate::payload::message_body;
use crate::receiver::parse_body;
use crate::util::{now_ns, r3, Bitmap};

pub struct Opts {
    pub url: String,
    pub token: Option<String>,
    pub publishers: usize,
    pub messages: u64,
    pub payload_bytes: usize,
    pub down: Duration,
    /// Once back, the receiver takes at most this many a second (429 over it); None: all it gets.
    pub limit_per_second: Option<f64>,
    pub burst: f64,
    pub timeout: Duration,
}

/// The receiver: down (503) until `up`, then 200 within its rate, 429 over it.
struct Receiver {
    up: AtomicBool,
    seen: Bitmap,
    distinct: AtomicU64,
    duplicates: AtomicU64,
    /// Requests while down, and since it came back.
    while_down: AtomicU64,
    after_return: AtomicU64,
    refused: AtomicU64,
    last_new_ns: AtomicU64,
    /// Tokens and when they were last counted (only with a limit).
    bucket: Mutex<(f64, Instant)>,
    limit: Option<f64>,
    burst: f64,
}

impl Receiver {
    fn answer(&self, body: &[u8]) -> StatusCode {
        if !self.up.load(Ordering::SeqCst) {
            self.while_down.fetch_add(1, Ordering::Relaxed);
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        self.after_return.fetch_add(1, Ordering::Relaxed);
        if let Some(rate) = self.limit {
            let mut b = self.bucket.lock().unwrap();
            let now = Instant::now();
            b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(self.burst);
            b.1 = now;
            if b.0 < 1.0 {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return StatusCode::TOO_MANY_REQUESTS;
            }
            b.0 -= 1.0;
        }
        match parse_body(body).and_then(|(seq, _)| self.seen.set(seq)) {
            // Whether it was seen before.
            Some(false) => {
                self.distinct.fetch_add(1, Ordering::Relaxed);
                self.last_new_ns.store(now_ns(), Ordering::Relaxed);
            }
            Some(true) => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
        StatusCode::OK
    }
}

async fn handle(req: Request<Incoming>, r: Arc<Receiver>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let mut resp = Response::new(Empty::new());
    *resp.status_mut() = r.answer(&body);
    Ok(resp)
}

async fn serve(listener: TcpListener, r: Arc<Receiver>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let r = r.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, r.clone()));
            let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

/// Runs the scenario; prints a `RESULT {json}` line. `Ok(true)` when every message arrived, none twice.
pub async fn run(o: Opts) -> Result<bool, String> {
    let base = o.url.trim_end_matches('/').to_string();
    let auth = o.token.as_ref().map(|t| format!("Bearer {t}"));
    let r = Arc::new(Receiver {
        up: AtomicBool::new(false),
        seen: Bitmap::new(o.messages),
        distinct: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        while_down: AtomicU64::new(0),
        after_return: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        last_new_ns: AtomicU64::new(0),
        bucket: Mutex::new((o.burst, Instant::now())),
        limit: o.limit_per_second,
        burst: o.burst,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("receiver bind: {e}"))?;
    let hook_url = format!("http://{}/hook", listener.local_addr().map_err(|e| e.to_string())?);
    tokio::spawn(serve(listener, r.clone()));

    let client = Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(o.publishers)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let app = post_json(&client, &format!("{base}/api/v1/app"), auth.as_deref(), &json!({"name": "recovery"})).await?;
    let app_id = app["id"].as_str().ok_or("create app: no id")?.to_string();
    post_json(&client, &format!("{base}/api/v1/app/{app_id}/endpoint"), auth.as_deref(), &json!({"url": hook_url}))
        .await?;

    // The outage begins as publishing does.
    let outage = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let url = Arc::new(format!("{base}/api/v1/app/{app_id}/msg"));
    let auth = Arc::new(auth);
    let mut tasks = vec![];
    for _ in 0..o.publishers {
        let (client, next, failed, url, auth) =
            (client.clone(), next.clone(), failed.clone(), url.clone(), auth.clone());
        let (messages, payload_bytes) = (o.messages, o.payload_bytes);
        tasks.push(tokio::spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= messages {
                    break;
                }
                let mut req = client.post(url.as_str()).header(CONTENT_TYPE, "application/json");
                req = req.body(message_body(seq, now_ns(), 0, payload_bytes));
                if let Some(a) = auth.as_deref() {
                    req = req.header(AUTHORIZATION, a);
                }
                match req.send().await {
                    Ok(resp) if resp.status().is_success() => {}
                    Ok(resp) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("publish {seq}: HTTP {}", resp.status());
                        }
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("publish {seq}: {}", chain(&e));
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("publisher: {e}"))?;
    }
    let publish_secs = outage.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    let accepted = o.messages - failed;
    eprintln!("published {accepted} of {} in {publish_secs:.1} s while the receiver is down", o.messages);
    if outage.elapsed() > o.down {
        return Err(format!("publishing took {publish_secs:.1} s, longer than the outage"));
    }
    tokio::time::sleep_until((outage + o.down).into()).await;
    r.up.store(true, Ordering::SeqCst);
    let back = Instant::now();
    let back_ns = now_ns();
    let delivered_before = r.distinct.load(Ordering::Relaxed);
    eprintln!("receiver back after {:.1} s ({delivered_before} delivered while down)", o.down.as_secs_f64());

    let deadline = back + o.timeout;
    let mut last_report = Instant::now();
    while r.distinct.load(Ordering::Relaxed) < accepted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "  {:.0} s: {} delivered, {} requests since the return, {} refused",
                back.elapsed().as_secs_f64(),
                r.distinct.load(Ordering::Relaxed),
                r.after_return.load(Ordering::Relaxed),
                r.refused.load(Ordering::Relaxed)
            );
        }
    }
    let distinct = r.distinct.load(Ordering::Relaxed);
    let complete = distinct >= accepted;
    let last_ns = r.last_new_ns.load(Ordering::Relaxed);
    let recovery_secs = if complete { (last_ns.saturating_sub(back_ns)) as f64 / 1e9 } else { f64::NAN };
    let after_return = r.after_return.load(Ordering::Relaxed);
    let while_down = r.while_down.load(Ordering::Relaxed);
    let duplicates = r.duplicates.load(Ordering::Relaxed);
    let refused = r.refused.load(Ordering::Relaxed);
    let result = json!({
        "messages": accepted,
        "publish_failures": failed,
        "publish_s": r3(publish_secs),
        "down_s": o.down.as_secs_f64(),
        "limit_per_s": o.limit_per_second,
        "delivered": distinct,
        "complete": complete,
        "recovery_s": if complete { json!(r3(recovery_secs)) } else { json!(null) },
        "waited_s": r3(back.elapsed().as_secs_f64()),
        "requests_while_down": while_down,
        "requests_after_return": after_return,
        "attempts_per_msg_after_return": r3(after_return as f64 / accepted.max(1) as f64),
        "attempts_per_msg": r3((after_return + while_down) as f64 / accepted.max(1) as f64),
        "refused_429": refused,
        "duplicates": duplicates,
    });
    println!("RESULT {result}");
    Ok(complete && duplicates == 0)
}
