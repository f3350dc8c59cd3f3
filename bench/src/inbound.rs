//! The inbound scenario: GitHub-signed requests (1 KB bodies, a unique `X-GitHub-Delivery` each) sent by N
//! closed-loop senders to a registration's ingest URL; each 200 means verified, committed and acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use reqwest::Client;
use serde_json::json;

use crate::e2e::{chain, post_json};

pub struct Opts {
    pub url: String,
    pub token: Option<String>,
    pub senders: usize,
    pub requests: u64,
    pub body_bytes: usize,
}

/// A GitHub `issues` event padded to `size` bytes.
fn body(size: usize) -> String {
    let base = json!({"action": "opened", "issue": {"id": 1234567, "number": 123, "title": "Bug: login fails", "body": ""}, "repository": {"id": 42, "full_name": "acme/app"}}).to_string();
    let pad = size.saturating_sub(base.len());
    base.replacen("\"body\":\"\"", &format!("\"body\":\"{}\"", "x".repeat(pad)), 1)
}

pub async fn run(o: Opts) -> Result<bool, String> {
    let client =
        Client::builder().pool_max_idle_per_host(o.senders * 2).tcp_nodelay(true).build().map_err(|e| e.to_string())?;
    let auth = o.token.as_ref().map(|t| format!("Bearer {t}"));
    let reg = post_json(
        &client,
        &format!("{}/integrations/github/webhooks", o.url),
        auth.as_deref(),
        &json!({"connectionId": "bench", "events": ["issues.*"], "rateLimitPerMinute": 1_000_000_000u32}),
    )
    .await?;
    let ingest = reg["webhookUrl"].as_str().ok_or("no webhookUrl")?.to_string();
    let reg_id = reg["registrationId"].as_str().ok_or("no registrationId")?.to_string();
    let secret = reg["webhookSecret"].as_str().ok_or("no webhookSecret")?.to_string();
    let body = Arc::new(body(o.body_bytes));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(body.as_bytes());
    let signature = Arc::new(format!("sha256={}", hex::encode(mac.finalize().into_bytes())));

    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..o.senders {
        let (client, ingest, body, signature, next) =
            (client.clone(), ingest.clone(), body.clone(), signature.clone(), next.clone());
        let total = o.requests;
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let (mut ok, mut errors) = (0u64, 0u64);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let t = Instant::now();
                let r = client
                    .post(&ingest)
                    .header("content-type", "application/json")
                    .header("x-github-event", "issues")
                    .header("x-github-delivery", format!("bench-{n}"))
                    .header("x-hub-signature-256", signature.as_str())
                    .body(body.as_str().to_string())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        ok += 1;
                    }
                    _ => errors += 1,
                }
                hist.record(t.elapsed().as_micros() as u64).ok();
            }
            (hist, ok, errors)
        }));
    }
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        let (h, o, e) = t.await.map_err(|e| e.to_string())?;
        hist.add(h).ok();
        ok += o;
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();

    // Every acknowledged request must have been committed: the registration counts them.
    let health: serde_json::Value = client
        .get(format!("{}/webhooks/{reg_id}/health", o.url))
        .header("authorization", auth.clone().unwrap_or_default())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| chain(&e))?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let stored = health["totalCount"].as_u64().unwrap_or(0) - health["failedCount"].as_u64().unwrap_or(0);
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "inbound: {ok} acknowledged in {secs:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms; {errors} errors; {stored} stored",
        ok as f64 / secs,
        ms(0.5),
        ms(0.99)
    );
    let result = json!({
        "senders": o.senders, "requests": o.requests, "body_bytes": o.body_bytes, "seconds": (secs * 1000.0).round() / 1000.0,
        "rate_per_s": (ok as f64 / secs).round(), "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": hist.max() as f64 / 1000.0,
        "acknowledged": ok, "stored": stored, "errors": errors,
    });
    println!("RESULT {result}");
    Ok(errors == 0 && stored == ok)
}
