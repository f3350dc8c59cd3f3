//! The circuit breaker per endpoint, against the behaviour without it: a receiver down "10 minutes" and then
//! back gets every message exactly once either way, with far fewer attempts when the breaker holds its
//! deliveries and probes one at a time. Time is compressed 400×: every duration of the scenario and of the
//! configuration (svix-server's retry schedule, the breaker's probe backoff) is its real value / 400, so the
//! 10 minutes take 1.5 s.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use common::*;
use hookd::config::{parse_durations, BreakerConfig};
use serde_json::json;

const SCALE: u32 = 400;
const MESSAGES: usize = 40;

fn scaled(real: &str) -> Duration {
    humantime::parse_duration(real).unwrap() / SCALE
}

/// A receiver that answers 503 while down, and records every request and, in order, the message id of each
/// request it answered 200.
#[derive(Default)]
struct Flaky {
    down: AtomicBool,
    requests: AtomicUsize,
    delivered: Mutex<Vec<String>>,
}

async fn flaky_receiver() -> (Arc<Flaky>, String) {
    let state = Arc::new(Flaky { down: AtomicBool::new(true), ..Default::default() });
    let s = state.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let s = s.clone();
        async move {
            s.requests.fetch_add(1, Ordering::SeqCst);
            if s.down.load(Ordering::SeqCst) {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            let id = headers.get("svix-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            s.delivered.lock().unwrap().push(id);
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (state, format!("http://{addr}/hook"))
}

struct Run {
    published: Vec<String>,
    delivered: Vec<String>,
    attempts: usize,
}

async fn stats(app: &TestApp, app_id: &str, ep_id: &str) -> serde_json::Value {
    let r = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/stats")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn metric(app: &TestApp, name: &str) -> String {
    let text = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).unwrap_or_default().to_string()
}

/// Publishes a message every 25 ms ("10 s") while the receiver is down for 1.5 s ("10 min"), then brings it back
/// and waits until every message is delivered.
async fn down_ten_minutes_then_back(breaker: bool) -> Run {
    let app = spawn_app_with(|c| {
        c.retry_schedule = parse_durations("5s,5m,30m,2h,5h,10h,10h").unwrap().iter().map(|d| *d / SCALE).collect();
        c.breaker = BreakerConfig {
            failures: if breaker { 5 } else { 0 },
            probe_backoff: scaled("5s"),
            max_probe_backoff: scaled("5m"),
            // 50 ms apart: the order holds on a loaded machine too (two released at once may race).
            release_per_second: 20,
        };
    })
    .await;
    let (rx, url) = flaky_receiver().await;
    let (app_id, ep) = app.app_with_endpoint(&url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap().to_string();
    let up_at = Instant::now() + scaled("10m");
    let mut published = vec![];
    for i in 0..MESSAGES {
        published.push(app.publish(&app_id, "user.created", json!({"i": i})).await["id"].as_str().unwrap().to_string());
        tokio::time::sleep(scaled("10s")).await; // the publisher's pace, not a wait for an event
    }
    if breaker {
        let s = stats(&app, &app_id, &ep_id).await;
        assert_eq!(s["circuit"]["state"], "open", "{s}");
        assert!(s["circuit"]["consecutiveFailures"].as_i64().unwrap() >= 5, "{s}");
        assert!(s["circuit"]["failingSince"].is_string(), "{s}");
        assert_eq!(metric(&app, "hookd_circuits_open").await, "1");
    } else {
        assert!(stats(&app, &app_id, &ep_id).await.get("circuit").is_none(), "no circuit when turned off");
    }
    tokio::time::sleep_until(up_at.into()).await; // the scenario's clock: the receiver comes back
    rx.down.store(false, Ordering::SeqCst);

    let deadline = Instant::now() + Duration::from_secs(60);
    while rx.delivered.lock().unwrap().len() < MESSAGES {
        assert!(Instant::now() < deadline, "delivered only {} of {MESSAGES}", rx.delivered.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The last attempt's record commits just after the receiver answers it.
    let s = eventually("every delivery recorded", || async {
        let s = stats(&app, &app_id, &ep_id).await;
        (s["success"] == MESSAGES).then_some(s)
    })
    .await;
    assert_eq!((&s["pending"], &s["fail"]), (&json!(0), &json!(0)), "{s}");
    if breaker {
        assert_eq!(s["circuit"]["state"], "closed", "{s}");
        assert_eq!(s["circuit"]["consecutiveFailures"], 0, "{s}");
        assert_eq!(metric(&app, "hookd_circuits_open").await, "0");
    }
    let delivered = rx.delivered.lock().unwrap().clone();
    Run { published, delivered, attempts: rx.requests.load(Ordering::SeqCst) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_down_ten_minutes_gets_everything_with_far_fewer_attempts() {
    let (without, with) = tokio::join!(down_ten_minutes_then_back(false), down_ten_minutes_then_back(true));
    for run in [&without, &with] {
        let mut got = run.delivered.clone();
        got.sort();
        let mut want = run.published.clone();
        want.sort();
        assert_eq!(got, want, "every message delivered exactly once");
    }
    // The probe that found the receiver back goes first; the backlog follows in publish order.
    let probe = &with.delivered[0];
    let rest: Vec<&String> = with.delivered[1..].iter().collect();
    let in_order: Vec<&String> = with.published.iter().filter(|id| *id != probe).collect();
    assert_eq!(rest, in_order, "the backlog is released in order");
    eprintln!("attempts without the breaker: {}, with it: {}", without.attempts, with.attempts);
    assert!(with.attempts * 2 < without.attempts, "without: {}, with: {}", without.attempts, with.attempts);
    // 5 failures open the circuit, then about one probe per doubling of 5 s up to 5 min in 10 min.
    assert!(with.attempts <= MESSAGES + 5 + 12, "with the breaker: {}", with.attempts);
}

/// A receiver that answers 503 while down, then takes at most `per_second` requests a second (a token bucket
/// holding `burst`) and answers 429 over that; it records what it answered 200, in order.
struct Limited {
    flaky: Arc<Flaky>,
    refused: AtomicUsize,
    /// Requests since it came back.
    after_return: AtomicUsize,
    /// The messages it was sent while down (the first attempts and the probes).
    tried_while_down: Mutex<std::collections::HashSet<String>>,
}

async fn limited_receiver(per_second: f64, burst: f64) -> (Arc<Limited>, String) {
    let state = Arc::new(Limited {
        flaky: Arc::new(Flaky { down: AtomicBool::new(true), ..Default::default() }),
        refused: AtomicUsize::new(0),
        after_return: AtomicUsize::new(0),
        tried_while_down: Default::default(),
    });
    let bucket = Arc::new(Mutex::new((burst, Instant::now())));
    let s = state.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let (s, bucket) = (s.clone(), bucket.clone());
        async move {
            s.flaky.requests.fetch_add(1, Ordering::SeqCst);
            let id = headers.get("svix-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            if s.flaky.down.load(Ordering::SeqCst) {
                s.tried_while_down.lock().unwrap().insert(id);
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            s.after_return.fetch_add(1, Ordering::SeqCst);
            {
                let mut b = bucket.lock().unwrap();
                let now = Instant::now();
                b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * per_second).min(burst);
                b.1 = now;
                if b.0 < 1.0 {
                    s.refused.fetch_add(1, Ordering::SeqCst);
                    return StatusCode::TOO_MANY_REQUESTS;
                }
                b.0 -= 1.0;
            }
            s.flaky.delivered.lock().unwrap().push(id);
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (state, format!("http://{addr}/hook"))
}

struct Recovery {
    /// Published before the circuit opened (the first ones failed and wait for their retry).
    early: Vec<String>,
    /// Published while the circuit was open: all held.
    held: Vec<String>,
    delivered: Vec<String>,
    tried_while_down: std::collections::HashSet<String>,
    after_return: usize,
    refused: usize,
    took: Duration,
}

/// Opens the endpoint's circuit, publishes `held` messages while it is open (all held), brings the receiver back
/// and waits until every message is delivered. No release rate is set: the backlog goes at the receiver's pace.
async fn held_then_back(held: usize, per_second: f64, burst: f64) -> Recovery {
    let app = spawn_app_with(|c| {
        // Short retries: what is tested is the pace of the release, not the schedule of a message refused again.
        c.retry_schedule = parse_durations("1s,1s,1s,1s,5m").unwrap();
        c.dispatch_concurrency = 64;
        c.breaker = BreakerConfig {
            failures: 5,
            probe_backoff: Duration::from_millis(200),
            // Held deliveries come due by themselves after 4 × this (20 s): long after the release.
            max_probe_backoff: Duration::from_secs(5),
            release_per_second: 0,
        };
    })
    .await;
    let (rx, url) = limited_receiver(per_second, burst).await;
    let (app_id, ep) = app.app_with_endpoint(&url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap().to_string();
    let mut early = vec![];
    for i in 0..10 {
        early.push(app.publish(&app_id, "user.created", json!({"i": i})).await["id"].as_str().unwrap().to_string());
    }
    eventually("the circuit open", || async {
        (stats(&app, &app_id, &ep_id).await["circuit"]["state"] == "open").then_some(())
    })
    .await;
    let mut published = vec![];
    for i in 0..held {
        published.push(app.publish(&app_id, "user.created", json!({"i": i})).await["id"].as_str().unwrap().to_string());
    }
    let total = early.len() + held;
    eventually("every message held or waiting", || async {
        let s = stats(&app, &app_id, &ep_id).await;
        (s["pending"] == total).then_some(())
    })
    .await;
    let back = Instant::now();
    rx.flaky.down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(90);
    let s = loop {
        let s = stats(&app, &app_id, &ep_id).await;
        if s["success"] == total {
            break s;
        }
        let (after, refused) = (rx.after_return.load(Ordering::SeqCst), rx.refused.load(Ordering::SeqCst));
        assert!(
            Instant::now() < deadline,
            "not all delivered: {s}; {after} requests since the return, {refused} refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = back.elapsed();
    assert_eq!((&s["pending"], &s["fail"]), (&json!(0), &json!(0)), "{s}");
    assert_eq!(s["circuit"]["state"], "closed", "{s}");
    let delivered = rx.flaky.delivered.lock().unwrap().clone();
    let tried_while_down = rx.tried_while_down.lock().unwrap().clone();
    let mut got = delivered.clone();
    got.sort();
    let mut want: Vec<String> = early.iter().chain(&published).cloned().collect();
    want.sort();
    assert_eq!(got, want, "every message delivered exactly once");
    Recovery {
        early,
        held: published,
        delivered,
        tried_while_down,
        after_return: rx.after_return.load(Ordering::SeqCst),
        refused: rx.refused.load(Ordering::SeqCst),
        took,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_backlog_goes_at_the_pace_of_a_fast_receiver_in_order() {
    const HELD: usize = 1000;
    let r = held_then_back(HELD, 1e9, 1e9).await;
    let total = r.early.len() + HELD;
    eprintln!("{HELD} held delivered in {:?}, {} requests since the receiver came back", r.took, r.after_return);
    assert_eq!(r.after_return, total, "one attempt a message once the receiver is back");
    // The fixed 50/s release of before took 20 s for these; the rate grows until the dispatch concurrency (64) binds.
    assert!(r.took < Duration::from_secs(15), "took {:?}", r.took);
    // Held messages are freed in delivery order and at most 64 are under way, so one is never overtaken by a message
    // published more than two windows' worth after it. (Those tried as probes while the receiver was down are not
    // held but due at the next probe: the one that found it back goes first, the others when they come due.)
    let position: std::collections::HashMap<&String, usize> =
        r.held.iter().filter(|id| !r.tried_while_down.contains(*id)).enumerate().map(|(i, id)| (id, i)).collect();
    assert!(position.len() > HELD - 20, "{} probes", HELD - position.len());
    let order: Vec<usize> = r.delivered.iter().filter_map(|id| position.get(id).copied()).collect();
    let mut latest = 0;
    for &p in &order {
        latest = latest.max(p);
        assert!(latest - p <= 128, "message {p} delivered after message {latest}: {order:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_backlog_does_not_overrun_a_receiver_that_takes_200_a_second() {
    const HELD: usize = 600;
    let r = held_then_back(HELD, 200.0, 20.0).await;
    let total = r.early.len() + HELD;
    eprintln!(
        "{HELD} held delivered in {:?}: {} requests since the receiver came back, {} refused with 429",
        r.took, r.after_return, r.refused
    );
    assert!(r.after_return as f64 <= total as f64 * 1.1, "{} attempts for {total} messages", r.after_return);
    // At 200/s the backlog takes 3 s at least.
    assert!(r.took >= Duration::from_millis(2900), "took {:?}", r.took);
}
