//! `/metrics`: real deliveries (one endpoint answering 200, one 500 until its retries run out), a scheduled
//! message, inbound requests (one verified, one forged, one to an unknown registration) and timers; then the
//! exposition is parsed by the Prometheus Python client's own OpenMetrics parser (tests/py/parse_metrics.py) and
//! every figure is checked against what was done.

mod common;

use common::*;
use hmac::{Hmac, Mac};
use hookd::store::{now_ms, QueueStats};
use serde_json::{json, Value};

/// A sample's value: `family` as the parser names it, the sample's full name, and its labels.
fn sample(families: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let fam = families.get(family).unwrap_or_else(|| panic!("no family {family}: {families}"));
    let found = fam["samples"].as_array().unwrap().iter().find(|s| {
        s[0] == name
            && s[1].as_object().unwrap().len() == labels.len()
            && labels.iter().all(|(k, v)| s[1][*k].as_str() == Some(*v))
    });
    found.unwrap_or_else(|| panic!("no sample {name}{labels:?} in {fam}"))[2].as_f64().unwrap()
}

/// Checks a histogram family: its type, unit, observation count, and that its +Inf bucket holds them all.
fn histogram_count(families: &Value, family: &str) -> f64 {
    let fam = &families[family];
    assert_eq!(fam["type"], "histogram", "{family}: {fam}");
    assert_eq!(fam["unit"], "seconds", "{family}: {fam}");
    let count = sample(families, family, &format!("{family}_count"), &[]);
    assert_eq!(sample(families, family, &format!("{family}_bucket"), &[("le", "+Inf")]), count, "{family}");
    assert!(sample(families, family, &format!("{family}_sum"), &[]) >= 0.0, "{family}");
    let buckets = fam["samples"].as_array().unwrap().iter().filter(|s| s[0] == format!("{family}_bucket")).count();
    assert!(buckets > 10, "{family} has fixed buckets: {fam}");
    count
}

async fn scrape(app: &TestApp) -> (String, String) {
    let resp = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    (ctype, resp.text().await.unwrap())
}

fn github_signature(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn send_github(app: &TestApp, url: &str, delivery: &str, signature: &str, body: &str) -> u16 {
    let resp = app
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn metrics_parse_as_openmetrics_and_count_what_was_done() {
    // Retries after 100 ms and 200 ms: three attempts in all. The circuit breaker is off, so that the failing
    // endpoint's six failures in a row are all attempted (tests/breaker.rs checks its gauge).
    let app = spawn_app_with(|c| c.breaker.failures = 0).await;
    let ok = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.answer(500, 100);
    let (app_id, _) = app.app_with_endpoint(&ok.url, json!({})).await;
    let ep = app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": failing.url})).await;
    assert_eq!(ep.status, 201, "{:?}", ep.body);

    // Two messages, each to both endpoints; one more scheduled an hour ahead, which stays in the queue.
    app.publish(&app_id, "a.b", json!({"n": 1})).await;
    app.publish(&app_id, "a.b", json!({"n": 2})).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let r = app
        .post(&format!("/api/v1/app/{app_id}/msg"), json!({"eventType": "a.b", "payload": {}, "deliverAt": later}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);

    // Inbound: one verified GitHub event, one forged, one to a registration that does not exist.
    let reg = app.post("/integrations/github/webhooks", json!({"connectionId": "c", "events": ["issues.*"]})).await;
    assert_eq!(reg.status, 201, "{:?}", reg.body);
    let (url, secret) = (reg.body["webhookUrl"].as_str().unwrap(), reg.body["webhookSecret"].as_str().unwrap());
    let body = json!({"action": "opened", "issue": {"id": 1, "number": 2, "title": "Bug"}, "repository": {"id": 9}})
        .to_string();
    assert_eq!(send_github(&app, url, "d-1", &github_signature(secret, &body), &body).await, 200);
    assert_eq!(send_github(&app, url, "d-2", &github_signature("whsec_forged", &body), &body).await, 401);
    assert_eq!(send_github(&app, &format!("{}/webhooks/nope", app.base), "d-3", "sha256=00", &body).await, 404);

    // Timers: one fires in 300 ms (its webhook is a delivery too), one waits ten minutes.
    let timers = Receiver::start().await;
    for duration in ["300ms", "10m"] {
        let t = json!({"name": "t", "duration": duration, "events": {"on_expire": {"webhook": timers.url}}});
        let resp = app
            .http
            .post(format!("{}/timers", app.base))
            .header("x-api-key", &app.token)
            .json(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }

    ok.wait_for(2).await;
    failing.wait_for(6).await;
    timers.wait_for(1).await;
    // The receivers have answered; wait for the dispatcher to have counted and recorded the answers.
    let text = eventually("the attempts counted", || async {
        let (_, text) = scrape(&app).await;
        let done = text.contains("hookd_attempts_total{outcome=\"failure\",status_class=\"5xx\"} 6")
            && text.contains("hookd_attempts_total{outcome=\"success\",status_class=\"2xx\"} 3")
            && text.contains("hookd_deliveries_exhausted_total 2")
            && text.contains("hookd_timer_lateness_seconds_count 1")
            // Counted before the attempt's record commits: wait for the finished jobs to leave the queue too.
            && text.contains("hookd_queue_depth 2\n")
            && text.contains("hookd_timers_pending 1\n");
        done.then_some(text)
    })
    .await;
    let (ctype, _) = scrape(&app).await;
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");

    let (parsed, out) = run_script(&python(), &script("py/parse_metrics.py"), &json!({ "text": text }));
    assert!(parsed, "the Prometheus client's parser refused /metrics: {out}\n{text}");
    let f: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));

    // Counters (4 messages: 3 published through the API, 1 by the timer that fired).
    assert_eq!(f["hookd_messages_published"]["type"], "counter");
    assert_eq!(sample(&f, "hookd_messages_published", "hookd_messages_published_total", &[]), 4.0);
    let attempts = |outcome, class| {
        sample(&f, "hookd_attempts", "hookd_attempts_total", &[("outcome", outcome), ("status_class", class)])
    };
    assert_eq!(attempts("success", "2xx"), 3.0);
    assert_eq!(attempts("failure", "5xx"), 6.0);
    assert_eq!(
        f["hookd_attempts"]["samples"].as_array().unwrap().len(),
        2,
        "no other outcome: {}",
        f["hookd_attempts"]
    );
    assert_eq!(sample(&f, "hookd_deliveries_exhausted", "hookd_deliveries_exhausted_total", &[]), 2.0);
    assert_eq!(sample(&f, "hookd_endpoints_disabled", "hookd_endpoints_disabled_total", &[]), 0.0);
    let inbound = |provider, verdict| {
        sample(
            &f,
            "hookd_inbound_requests",
            "hookd_inbound_requests_total",
            &[("provider", provider), ("verdict", verdict)],
        )
    };
    assert_eq!(inbound("github", "verified"), 1.0);
    assert_eq!(inbound("github", "rejected"), 1.0);
    assert_eq!(inbound("none", "unknown"), 1.0);

    // Histograms: one observation per publish, per attempt, per successful delivery, per job the scheduler
    // claimed (4 retries and the timer's expiry) and per timer firing.
    assert_eq!(histogram_count(&f, "hookd_publish_seconds"), 4.0);
    assert_eq!(histogram_count(&f, "hookd_attempt_duration_seconds"), 9.0);
    assert_eq!(histogram_count(&f, "hookd_delivery_latency_seconds"), 3.0);
    assert_eq!(histogram_count(&f, "hookd_scheduler_lag_seconds"), 5.0);
    assert_eq!(histogram_count(&f, "hookd_timer_lateness_seconds"), 1.0);

    // Gauges read from the store when scraped: the scheduled message's two deliveries, the ten-minute timer.
    let gauge = |name: &str| {
        assert_eq!(f[name]["type"], "gauge", "{name}");
        sample(&f, name, name, &[])
    };
    assert_eq!(gauge("hookd_queue_depth"), 2.0);
    assert_eq!(gauge("hookd_jobs_due_unclaimed"), 0.0);
    assert_eq!(gauge("hookd_timers_pending"), 1.0);
    assert_eq!(gauge("hookd_circuits_open"), 0.0);
    assert_eq!(gauge("hookd_dispatch_queue"), 0.0);

    // Labels are bounded: none carries an id.
    for (name, fam) in f.as_object().unwrap() {
        for s in fam["samples"].as_array().unwrap() {
            for k in s[1].as_object().unwrap().keys() {
                assert!(["outcome", "status_class", "provider", "verdict", "le"].contains(&k.as_str()), "{name}: {k}");
            }
        }
    }
}

/// Due work that nobody claims shows as due-but-unclaimed (counted straight from the store, as `/metrics` does).
#[tokio::test]
async fn queue_stats_count_due_scheduled_and_timer_jobs() {
    let app = spawn_app().await;
    let store = app.ctx.store.clone();
    let before = store.queue_stats(now_ms()).await.unwrap();
    assert_eq!(before, QueueStats::default());
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for _ in 0..3 {
        let body = json!({"eventType": "a.b", "payload": {}, "deliverAt": later});
        assert_eq!(app.post(&format!("/api/v1/app/{app_id}/msg"), body).await.status, 202);
    }
    // Seen from two hours on, the scheduled deliveries are due and unclaimed.
    let in_two_hours = now_ms() + 2 * 3600 * 1000;
    let q = store.queue_stats(in_two_hours).await.unwrap();
    assert_eq!((q.deliveries, q.due_unclaimed, q.timers), (3, 3, 0));
    assert_eq!(store.queue_stats(now_ms()).await.unwrap().due_unclaimed, 0);
}

/// `hookd_store_commits_total` as the text exposition shows it.
async fn commits(app: &TestApp) -> f64 {
    let (_, text) = scrape(app).await;
    let line = text.lines().find(|l| l.starts_with("hookd_store_commits_total ")).expect("the commits counter");
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The official SDKs send an `Idempotency-Key` with every publish: claiming it, storing the message and keeping
/// the answer go in one group commit, so a keyed publish costs what a plain one does (it cost three before).
#[tokio::test]
async fn a_publish_with_an_idempotency_key_is_one_group_commit() {
    let app = spawn_app().await;
    // No endpoints: the publishes make no deliveries, whose attempts would commit too.
    let app_id = app.post("/api/v1/app", json!({"name": "quiet"})).await.body["id"].as_str().unwrap().to_string();
    const N: usize = 40;
    let publish = |key: Option<String>| {
        let mut req = app
            .http
            .post(format!("{}/api/v1/app/{app_id}/msg", app.base))
            .bearer_auth(&app.token)
            .json(&json!({"eventType": "a.b", "payload": {}}));
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        async move { assert_eq!(req.send().await.unwrap().status(), 202) }
    };
    // One after the other, so that no two share a commit.
    let before = commits(&app).await;
    for _ in 0..N {
        publish(None).await;
    }
    let plain = commits(&app).await - before;
    let before = commits(&app).await;
    for i in 0..N {
        publish(Some(format!("sdk-key-{i}"))).await;
    }
    let keyed = commits(&app).await - before;
    assert!(plain >= N as f64, "each plain publish committed ({plain})");
    assert!(keyed <= plain * 1.25, "{keyed} commits for {N} keyed publishes, {plain} for {N} plain ones");
    // And each key still replays its answer.
    let again = app
        .http
        .post(format!("{}/api/v1/app/{app_id}/msg", app.base))
        .bearer_auth(&app.token)
        .header("idempotency-key", "sdk-key-7")
        .json(&json!({"eventType": "a.b", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    let listed = app.get(&format!("/api/v1/app/{app_id}/msg?limit=250")).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 2 * N, "the replay made no message");
}
