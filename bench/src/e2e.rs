//! `hookd-bench e2e`: publish through hookd's Svix-style API and measure delivery to our receiver.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Client;
use serde_json::{json, Value};

use crate::payload::message_body;
use crate::receiver::{self, ReceiverState};
use crate::util::{max_ms, new_hist, now_ns, q_ms, r3, record_us, Bitmap};

pub struct Opts {
    /// Base URLs; publisher `i` uses `urls[i % len]`, setup goes through `urls[0]`.
    pub urls: Vec<String>,
    pub token: Option<String>,
    pub publishers: usize,
    pub messages: u64,
    pub payload_bytes: usize,
    pub receiver_addr: SocketAddr,
    pub timeout: Duration,
    pub request_timeout: Duration,
    /// JavaScript set as the endpoint's transformation before publishing (it must keep the payload's fields).
    pub transform_code: Option<String>,
    /// Every publish carries an `Idempotency-Key`, as the SDKs' do.
    pub idempotency_keys: bool,
    /// Fields `f0…` added to every payload beside `seq`, `sent_ns` and `pad`.
    pub payload_fields: usize,
    /// A payload filter set on the endpoint (it must match every message).
    pub filter: Option<String>,
    /// The event type gets a JSON Schema of every payload field, enforced on publish.
    pub schema: bool,
    /// Deliver through a `fifoEndpoint` destination with this batch size instead of an endpoint.
    pub fifo_batch: Option<u16>,
    /// Deliver to no one: publish everything to a `pollingEndpoint` destination, then read it all back through
    /// the poller, pages of `poll_limit`, one request after the other, and time that read.
    pub poll: bool,
    pub poll_limit: u16,
}

#[derive(Default)]
struct PubStats {
    accepted: u64,
    non_2xx: u64,
    transport_errors: u64,
}

/// How many failures to print in full before going quiet.
const MAX_LOGGED_FAILURES: u64 = 5;

/// Runs the scenario. `Ok(true)` when every accepted message was delivered and nothing failed.
pub async fn run(o: Opts) -> Result<bool, String> {
    let bases: Vec<String> =
        o.urls.iter().map(|u| u.trim_end_matches('/').to_string()).filter(|u| !u.is_empty()).collect();
    let Some(base) = bases.first().cloned() else { return Err("no --url given".into()) };
    let auth = o.token.as_ref().map(|t| format!("Bearer {t}"));

    // 1. Receiver.
    let state = ReceiverState::new(o.messages);
    let local = receiver::start(o.receiver_addr, state.clone())
        .await
        .map_err(|e| format!("receiver bind {}: {e}", o.receiver_addr))?;
    let host = if local.ip().is_unspecified() { "127.0.0.1".to_string() } else { local.ip().to_string() };
    let hook_url = if local.is_ipv6() && !local.ip().is_unspecified() {
        format!("http://[{host}]:{}/hook", local.port())
    } else {
        format!("http://{host}:{}/hook", local.port())
    };

    // 2. Client: one pooled connection per publisher, no proxies (everything is local).
    let client = Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(o.publishers.max(1))
        .timeout(o.request_timeout)
        .build()
        .map_err(|e| format!("http client: {e}"))?;

    // 3. Application and endpoint.
    let app = post_json(&client, &format!("{base}/api/v1/app"), auth.as_deref(), &json!({"name": "bench"})).await?;
    let app_id = app["id"].as_str().ok_or_else(|| format!("create app: no \"id\" in {app}"))?.to_string();
    let (path, body) = match (o.fifo_batch, o.poll) {
        (_, true) => ("destination", json!({"type": "pollingEndpoint", "config": {}})),
        (Some(n), false) => (
            "destination",
            json!({"type": "fifoEndpoint", "batchSize": n, "maxWaitSecs": 0, "config": {"url": hook_url}}),
        ),
        (None, false) => ("endpoint", json!({"url": hook_url})),
    };
    let ep = post_json(&client, &format!("{base}/api/v1/app/{app_id}/{path}"), auth.as_deref(), &body).await?;
    let ep_id = ep["id"].as_str().unwrap_or("?").to_string();
    eprintln!("app {app_id}, {path} {ep_id} -> {}", if o.poll { "polled" } else { hook_url.as_str() });
    if let Some(code) = &o.transform_code {
        let url = format!("{base}/api/v1/app/{app_id}/endpoint/{ep_id}/transformation");
        let body = json!({"code": code, "enabled": true});
        send_json(&client, reqwest::Method::PATCH, &url, auth.as_deref(), &body).await?;
        eprintln!("transformation set: {code}");
    }
    if let Some(filter) = &o.filter {
        let filter: Value = serde_json::from_str(filter).map_err(|e| format!("--filter: {e}"))?;
        let url = format!("{base}/api/v1/app/{app_id}/endpoint/{ep_id}");
        send_json(&client, reqwest::Method::PATCH, &url, auth.as_deref(), &json!({ "filter": filter })).await?;
        eprintln!("filter set: {filter}");
    }
    if o.schema {
        let mut props = serde_json::Map::new();
        props.insert("seq".into(), json!({"type": "integer", "minimum": 0}));
        props.insert("sent_ns".into(), json!({"type": "integer", "minimum": 0}));
        props.insert("pad".into(), json!({"type": "string", "pattern": "^x*$"}));
        for i in 0..o.payload_fields {
            props.insert(format!("f{i}"), json!({"type": "integer", "minimum": 0, "maximum": 1000}));
        }
        let required: Vec<String> = props.keys().cloned().collect();
        let n = props.len();
        let schema =
            json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
        let url = format!("{base}/api/v1/event-type/bench.event");
        let body = json!({"description": "bench", "schemas": {"1": schema}, "enforceSchema": true});
        send_json(&client, reqwest::Method::PUT, &url, auth.as_deref(), &body).await?;
        eprintln!("schema of {n} fields enforced on bench.event");
    }
    // With several nodes, publish only once each of them sees the application and its endpoint.
    for other in &bases[1..] {
        wait_visible(&client, other, auth.as_deref(), &app_id, &ep_id).await?;
    }

    // 4. Closed-loop publishers sharing one sequence counter.
    let msg_urls: Vec<Arc<String>> = bases.iter().map(|b| Arc::new(format!("{b}/api/v1/app/{app_id}/msg"))).collect();
    let auth = Arc::new(auth);
    let accepted = Arc::new(Bitmap::new(o.messages));
    let next_seq = Arc::new(AtomicU64::new(0));
    let logged = Arc::new(AtomicU64::new(0));
    let first_publish_ns = now_ns();
    let publish_start = Instant::now();
    let mut tasks = Vec::with_capacity(o.publishers);
    for p in 0..o.publishers.max(1) {
        let msg_url = msg_urls[p % msg_urls.len()].clone();
        let (client, auth, accepted, next_seq, logged) =
            (client.clone(), auth.clone(), accepted.clone(), next_seq.clone(), logged.clone());
        let (messages, payload_bytes, keyed, payload_fields) =
            (o.messages, o.payload_bytes, o.idempotency_keys, o.payload_fields);
        tasks.push(tokio::spawn(async move {
            let mut hist = new_hist();
            let mut st = PubStats::default();
            loop {
                let seq = next_seq.fetch_add(1, Ordering::Relaxed);
                if seq >= messages {
                    break;
                }
                let t0 = Instant::now();
                let body = message_body(seq, now_ns(), payload_fields, payload_bytes);
                let mut req = client.post(msg_url.as_str()).header(CONTENT_TYPE, "application/json").body(body);
                if keyed {
                    req = req.header("idempotency-key", format!("bench-{seq}"));
                }
                if let Some(a) = auth.as_deref() {
                    req = req.header(AUTHORIZATION, a);
                }
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        // Drain the body so the connection goes back to the pool.
                        let text = resp.bytes().await;
                        record_us(&mut hist, t0.elapsed().as_micros() as u64);
                        if status.is_success() {
                            accepted.set(seq);
                            st.accepted += 1;
                        } else {
                            st.non_2xx += 1;
                            if logged.fetch_add(1, Ordering::Relaxed) < MAX_LOGGED_FAILURES {
                                let snippet =
                                    text.map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned());
                                eprintln!("publish seq {seq}: HTTP {status}: {}", snippet.unwrap_or_default());
                            }
                        }
                    }
                    Err(e) => {
                        st.transport_errors += 1;
                        if logged.fetch_add(1, Ordering::Relaxed) < MAX_LOGGED_FAILURES {
                            eprintln!("publish seq {seq}: {}", chain(&e));
                        }
                    }
                }
            }
            (hist, st)
        }));
    }
    let mut pub_hist = new_hist();
    let mut stats = PubStats::default();
    let mut accepted_per_url = vec![0u64; bases.len()];
    for (p, t) in tasks.into_iter().enumerate() {
        let (h, s) = t.await.map_err(|e| format!("publisher task: {e}"))?;
        let _ = pub_hist.add(&h);
        accepted_per_url[p % bases.len()] += s.accepted;
        stats.accepted += s.accepted;
        stats.non_2xx += s.non_2xx;
        stats.transport_errors += s.transport_errors;
    }
    let publish_secs = publish_start.elapsed().as_secs_f64();
    eprintln!(
        "published: {} accepted in {:.2} s; waiting up to {} s for delivery…",
        stats.accepted,
        publish_secs,
        o.timeout.as_secs()
    );

    // 5. Wait until every accepted seq has arrived (polled every 10 ms), or time out. Polled: read them all.
    let deadline = Instant::now() + o.timeout;
    let mut poll_read = None;
    if o.poll {
        let url = format!("{base}/api/v1/app/{app_id}/poller/{ep_id}");
        let read = read_backlog(&client, &url, auth.as_deref(), o.poll_limit, stats.accepted, &state, deadline).await?;
        eprintln!("polled: {} messages in {} pages, {:.2} s", read.messages, read.pages, read.secs);
        poll_read = Some(read);
    }
    let timed_out = loop {
        if state.distinct() >= stats.accepted && accepted.count_missing_from(state.seen()) == 0 {
            break false;
        }
        if Instant::now() >= deadline {
            break true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    // 6. Report.
    let lost = accepted.count_missing_from(state.seen());
    let delivered_distinct = state.distinct();
    let e2e_secs =
        state.last_delivery_ns().map(|last| last.saturating_sub(first_publish_ns) as f64 / 1e9).unwrap_or(0.0);
    let lat = state.latency();
    let errors = stats.non_2xx + stats.transport_errors;
    let publish_rate = if publish_secs > 0.0 { stats.accepted as f64 / publish_secs } else { 0.0 };
    let delivered_rate = if e2e_secs > 0.0 { delivered_distinct as f64 / e2e_secs } else { 0.0 };

    println!(
        "hookd-bench e2e: {} publishers, {} messages, {} B payload, {}",
        o.publishers,
        o.messages,
        o.payload_bytes,
        bases.join(", ")
    );
    if bases.len() > 1 {
        let per: Vec<String> = bases.iter().zip(&accepted_per_url).map(|(b, n)| format!("{b}: {n}")).collect();
        println!("  accepted per URL: {}", per.join(", "));
    }
    println!(
        "  publish : {} accepted in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; non-2xx {}, transport errors {}",
        stats.accepted,
        publish_secs,
        publish_rate,
        q_ms(&pub_hist, 0.5),
        q_ms(&pub_hist, 0.99),
        max_ms(&pub_hist),
        stats.non_2xx,
        stats.transport_errors
    );
    println!(
        "  delivery: {} distinct in {:.2} s (first publish -> last delivery) = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        delivered_distinct,
        e2e_secs,
        delivered_rate,
        q_ms(&lat, 0.5),
        q_ms(&lat, 0.99),
        max_ms(&lat)
    );
    println!(
        "  duplicates {}, lost {}{}, unparseable/out-of-range posts {}, receiver connections {}, out of order {}",
        state.duplicates(),
        lost,
        if timed_out { " (timed out waiting)" } else { "" },
        state.bad(),
        state.connections(),
        state.out_of_order()
    );
    let poll_rate = poll_read.as_ref().map_or(0.0, |r| if r.secs > 0.0 { r.messages as f64 / r.secs } else { 0.0 });
    if let Some(r) = &poll_read {
        println!(
            "  polled  : {} messages in {} pages of up to {} in {:.2} s = {:.0}/s",
            r.messages, r.pages, o.poll_limit, r.secs, poll_rate
        );
    }
    if lost > 0 {
        println!("  first lost seqs: {:?}", accepted.sample_missing_from(state.seen(), 10));
    }
    let result = json!({
        "publishers": o.publishers,
        "messages": o.messages,
        "payload_bytes": o.payload_bytes,
        "urls": bases.len(),
        "accepted_per_url": accepted_per_url,
        "publish_seconds": r3(publish_secs),
        "publish_rate_per_s": r3(publish_rate),
        "publish_p50_ms": r3(q_ms(&pub_hist, 0.5)),
        "publish_p99_ms": r3(q_ms(&pub_hist, 0.99)),
        "publish_max_ms": r3(max_ms(&pub_hist)),
        "e2e_seconds": r3(e2e_secs),
        "delivered_rate_per_s": r3(delivered_rate),
        "delivery_latency_p50_ms": r3(q_ms(&lat, 0.5)),
        "delivery_latency_p99_ms": r3(q_ms(&lat, 0.99)),
        "delivery_latency_max_ms": r3(max_ms(&lat)),
        "accepted": stats.accepted,
        "delivered_distinct": delivered_distinct,
        "duplicates": state.duplicates(),
        "lost": lost,
        "errors": errors,
        "non_2xx": stats.non_2xx,
        "transport_errors": stats.transport_errors,
        "bad_posts": state.bad(),
        "timed_out": timed_out,
        "transformed": o.transform_code.is_some(),
        "filtered": o.filter.is_some(),
        "schema_enforced": o.schema,
        "fifo_batch": o.fifo_batch,
        "out_of_order": state.out_of_order(),
        "polled": poll_read.as_ref().map(|r| r.messages),
        "poll_pages": poll_read.as_ref().map(|r| r.pages),
        "poll_seconds": poll_read.as_ref().map(|r| r3(r.secs)),
        "poll_rate_per_s": r3(poll_rate),
    });
    println!("RESULT {result}");
    Ok(lost == 0 && errors == 0 && !timed_out && state.out_of_order() == 0)
}

struct PollRead {
    messages: u64,
    pages: u64,
    secs: f64,
}

/// Reads a polling endpoint from its start until `expected` messages came, one page after the other as a
/// customer's consumer would, recording each payload in `state` as if it had been delivered.
async fn read_backlog(
    client: &Client,
    url: &str,
    auth: Option<&str>,
    limit: u16,
    expected: u64,
    state: &ReceiverState,
    deadline: Instant,
) -> Result<PollRead, String> {
    #[derive(serde::Deserialize)]
    struct Page {
        data: Vec<Item>,
        iterator: String,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        payload: Box<serde_json::value::RawValue>,
    }
    let hist = std::sync::Mutex::new(new_hist());
    let (mut messages, mut pages, mut iterator) = (0u64, 0u64, None::<String>);
    let start = Instant::now();
    while messages < expected && Instant::now() < deadline {
        let mut req = client.get(url).query(&[("limit", limit.to_string())]);
        if let Some(it) = &iterator {
            req = req.query(&[("iterator", it)]);
        }
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        let resp = req.send().await.map_err(|e| format!("GET {url}: {}", chain(&e)))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("GET {url}: {}", chain(&e)))?;
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        let page: Page = serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))?;
        pages += 1;
        let now = now_ns();
        for item in &page.data {
            state.record(item.payload.get().as_bytes(), now, &hist);
        }
        messages += page.data.len() as u64;
        iterator = Some(page.iterator);
    }
    Ok(PollRead { messages, pages, secs: start.elapsed().as_secs_f64() })
}

/// Polls `base` (another node) every 50 ms, for at most 10 s, until it answers 200 for the application and the
/// endpoint created through the first node.
async fn wait_visible(client: &Client, base: &str, auth: Option<&str>, app: &str, ep: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    for url in [format!("{base}/api/v1/app/{app}"), format!("{base}/api/v1/app/{app}/endpoint/{ep}")] {
        loop {
            let mut req = client.get(&url);
            if let Some(a) = auth {
                req = req.header(AUTHORIZATION, a);
            }
            let last = match req.send().await {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => format!("HTTP {}", r.status()),
                Err(e) => chain(&e),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "GET {url}: still {last} after 10 s (the node does not see what the first created)"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

pub async fn post_json(client: &Client, url: &str, auth: Option<&str>, body: &Value) -> Result<Value, String> {
    send_json(client, reqwest::Method::POST, url, auth, body).await
}

async fn send_json(
    client: &Client,
    method: reqwest::Method,
    url: &str,
    auth: Option<&str>,
    body: &Value,
) -> Result<Value, String> {
    let mut req = client.request(method.clone(), url).json(body);
    if let Some(a) = auth {
        req = req.header(AUTHORIZATION, a);
    }
    let resp = req.send().await.map_err(|e| format!("{method} {url}: {}", chain(&e)))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("{method} {url}: reading body: {e}"))?;
    if !status.is_success() {
        return Err(format!("{method} {url}: HTTP {status}: {text}"));
    }
    // A 204 (the transformation route's) has no body.
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| format!("{method} {url}: bad JSON ({e}): {text}"))
}

/// An error with its causes, e.g. "error sending request: connection refused".
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
