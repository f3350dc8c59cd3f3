//! The timers scenario: (1) create `pending` long timers as fast as `senders` closed-loop clients can, then
//! read hookd's resident memory; (2) create `expiring` timers whose deadlines are spread at `expire_rate` per
//! second, and measure how late each `timer_expired` webhook arrives at the in-process receiver (each timer's
//! `data` carries its deadline, read by the receiver as `sent_ns`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Client;
use serde_json::{json, Value};

use crate::receiver::{self, ReceiverState};

pub struct Opts {
    pub url: String,
    pub token: Option<String>,
    pub senders: usize,
    pub pending: u64,
    pub expiring: u64,
    pub expire_rate: u64,
    pub lead: Duration,
    pub pid: Option<u32>,
    pub timeout: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}

/// Creates `count` timers, `body(i)` each, with `senders` closed-loop clients; returns (seconds, errors).
async fn create_many(
    client: &Client,
    url: &str,
    token: &str,
    count: u64,
    senders: usize,
    body: Arc<dyn Fn(u64) -> Value + Send + Sync>,
) -> (f64, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..senders {
        let (client, url, token, next, body) =
            (client.clone(), url.to_string(), token.to_string(), next.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return errors;
                }
                match client.post(&url).header("x-api-key", &token).json(&body(i)).send().await {
                    Ok(r) if r.status() == 201 => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
            }
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await.unwrap_or(1);
    }
    (started.elapsed().as_secs_f64(), errors)
}

pub async fn run(o: Opts) -> Result<bool, String> {
    let state = ReceiverState::new(o.expiring.max(1));
    let addr: SocketAddr =
        receiver::start("127.0.0.1:0".parse().unwrap(), state.clone()).await.map_err(|e| e.to_string())?;
    let hook = format!("http://{addr}/timer");
    let client =
        Client::builder().pool_max_idle_per_host(o.senders * 2).tcp_nodelay(true).build().map_err(|e| e.to_string())?;
    let token = o.token.clone().unwrap_or_default();
    let timers = format!("{}/timers", o.url);

    // 1. Pending timers (an hour away).
    let pending_hook = hook.clone();
    let (secs, pending_errors) = create_many(
        &client,
        &timers,
        &token,
        o.pending,
        o.senders,
        Arc::new(move |i| json!({"name": format!("pending-{i}"), "duration": "1h", "events": {"on_expire": {"webhook": pending_hook}}})),
    )
    .await;
    let create_rate = o.pending as f64 / secs;
    let rss = o.pid.and_then(rss_mib);
    println!("timers: {} pending created in {secs:.1} s = {create_rate:.0}/s ({pending_errors} errors); hookd RSS {rss:?} MiB", o.pending);

    // 2. Timers expiring at `expire_rate` per second, starting `lead` from now.
    let first_due = now_ms() + o.lead.as_millis() as u64;
    let rate = o.expire_rate.max(1);
    let expiring_hook = hook.clone();
    let (_, expiring_errors) = create_many(
        &client,
        &timers,
        &token,
        o.expiring,
        o.senders,
        Arc::new(move |i| {
            let due = first_due + i * 1000 / rate;
            let duration = due.saturating_sub(now_ms()).max(1);
            json!({"name": format!("expiring-{i}"), "duration": duration,
                   "events": {"on_expire": {"webhook": expiring_hook, "data": {"seq": i, "sent_ns": due * 1_000_000}}}})
        }),
    )
    .await;
    let behind = now_ms() as i64 - first_due as i64;
    if behind > 0 {
        println!("timers: warning: creating the expiring timers ended {behind} ms after the first deadline");
    }
    let deadline = Instant::now() + o.lead + Duration::from_millis(o.expiring * 1000 / rate) + o.timeout;
    while state.distinct() < o.expiring - expiring_errors && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let late = state.latency();
    let ms = |q: f64| late.value_at_quantile(q) as f64 / 1000.0;
    let received = state.distinct();
    println!(
        "timers: {received}/{} expired webhooks at {rate}/s; lateness p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        o.expiring,
        ms(0.5),
        ms(0.99),
        late.max() as f64 / 1000.0
    );
    let result = json!({
        "pending": o.pending, "create_seconds": (secs * 10.0).round() / 10.0, "create_rate_per_s": create_rate.round(),
        "rss_mib_with_pending": rss, "expiring": o.expiring, "expire_rate_per_s": rate, "received": received,
        "late_p50_ms": ms(0.5), "late_p99_ms": ms(0.99), "late_max_ms": late.max() as f64 / 1000.0,
        "errors": pending_errors + expiring_errors, "duplicates": state.duplicates(),
    });
    println!("RESULT {result}");
    Ok(pending_errors + expiring_errors == 0 && received == o.expiring)
}
