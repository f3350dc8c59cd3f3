//! The database goes away under load and comes back: meanwhile hookd answers at once with 503 and `Retry-After`
//! (never a hang, never a 500), then reconnects by itself, and every message it accepted is delivered.
//! It restarts the machine's PostgreSQL, so `scripts/test.sh` runs it alone, last (`--include-ignored`).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn pg_ctl(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("a Debian PostgreSQL cluster")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .max()
        .expect("a PostgreSQL version");
    let status = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "pg_ctlcluster {action}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "restarts the machine's PostgreSQL: scripts/test.sh runs it alone, last"]
async fn postgres_stopped_under_load_gives_quick_503s_and_loses_nothing_accepted() {
    let cluster = Cluster::start(1, &[]).await;
    let recv = Receiver::start().await;
    let app = cluster.post(0, "/api/v1/app", json!({"name": "outage"})).await;
    let app_id = app.body["id"].as_str().unwrap().to_string();
    assert_eq!(cluster.post(0, &format!("/api/v1/app/{app_id}/endpoint"), json!({"url": recv.url})).await.status, 201);

    let accepted = Arc::new(Mutex::new(Vec::new()));
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    for p in 0..4u64 {
        let (accepted, refusals, stop) = (accepted.clone(), refusals.clone(), stop.clone());
        let path = format!("{}/api/v1/app/{app_id}/msg", cluster.base(0));
        publishers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
            let mut seq = p;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let body = json!({"eventType": "load", "payload": {"seq": seq}});
                match client.post(&path).bearer_auth("cluster-token").json(&body).send().await {
                    Ok(r) if r.status() == 202 => accepted.lock().unwrap().push(seq),
                    Ok(r) => {
                        let retry_after = r.headers().get("retry-after").is_some();
                        refusals.lock().unwrap().push((r.status().as_u16(), retry_after, started.elapsed()));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("a request failed without an answer: {e}"),
                }
                seq += 4;
            }
        }));
    }
    let wait_accepted = |n: usize| {
        let accepted = accepted.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while accepted.lock().unwrap().len() < n {
                assert!(Instant::now() < deadline, "publishing stalled at {}", accepted.lock().unwrap().len());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_accepted(100).await;
    pg_ctl("stop");
    let down_at = accepted.lock().unwrap().len();
    // Down for a few seconds: this waits for the clock, which is the point.
    tokio::time::sleep(Duration::from_secs(4)).await;
    pg_ctl("start");
    wait_accepted(down_at + 100).await;
    stop.store(true, Ordering::Relaxed);
    for p in publishers {
        p.await.unwrap();
    }

    let refusals = refusals.lock().unwrap().clone();
    assert!(!refusals.is_empty(), "some publishes came while the database was away");
    for (status, retry_after, took) in &refusals {
        assert_eq!(*status, 503, "refused with 503, never a 500: {refusals:?}");
        assert!(*retry_after, "a 503 says when to retry");
        assert!(*took < Duration::from_secs(5), "answered at once, not after a hang: {took:?}");
    }
    let accepted = accepted.lock().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: std::collections::HashSet<u64> =
            recv.received().iter().filter_map(|r| r.json()["seq"].as_u64()).collect();
        let missing: Vec<_> = accepted.iter().filter(|s| !got.contains(s)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{} accepted messages never arrived: {missing:?}", missing.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
