//! Nothing accepted is lost: the server is killed with SIGKILL in the middle of a load, restarted on the same
//! database, and every message it had answered 2xx must reach the receiver.

mod common;

const CRASH_ENV: [(&str, &str); 4] = [
    ("HOOKD_ADMIN_TOKEN", "crash-token"),
    ("HOOKD_RETRY_SCHEDULE", "100ms,200ms,400ms,800ms"),
    // Few deliveries in flight, so that most accepted messages are still queued when the kill comes.
    ("HOOKD_DISPATCH_CONCURRENCY", "16"),
    ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true"),
];

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_load_loses_no_accepted_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let recv = Receiver::start().await;
    // A slow receiver keeps most accepted messages queued (not yet delivered) when the kill comes.
    recv.set_delay(Duration::from_secs(2));
    let hookd = HookdProcess::start(&db, port, &CRASH_ENV).await;
    let client = reqwest::Client::new();
    let app = post_json(&hookd.base, "crash-token", "/api/v1/app", json!({"name": "crash"})).await;
    let app_id = app["id"].as_str().unwrap().to_string();
    let r = client
        .post(format!("{}/api/v1/app/{app_id}/endpoint", hookd.base))
        .bearer_auth("crash-token")
        .json(&json!({"url": recv.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // 8 publishers, each sending until the server dies (bounded: at most 4,000 messages in all).
    let accepted = Arc::new(Mutex::new(HashSet::<String>::new()));
    let mut publishers = vec![];
    for p in 0..8 {
        let (client, accepted, url) =
            (client.clone(), accepted.clone(), format!("{}/api/v1/app/{app_id}/msg", hookd.base));
        publishers.push(tokio::spawn(async move {
            for i in 0..500 {
                let r = client
                    .post(&url)
                    .bearer_auth("crash-token")
                    .json(&json!({"eventType": "load", "payload": {"p": p, "i": i}}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 202 => {
                        let body: serde_json::Value = r.json().await.unwrap();
                        accepted.lock().unwrap().insert(body["id"].as_str().unwrap().to_string());
                    }
                    _ => return, // the server is gone
                }
            }
        }));
    }
    // Kill it while the load is running.
    eventually("some messages to be accepted", || async { (accepted.lock().unwrap().len() >= 600).then_some(()) })
        .await;
    let mut hookd = hookd;
    let killed = Command::new("kill").args(["-9", &hookd.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let _ = hookd.child.wait();
    for p in publishers {
        p.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() < 4000, "the kill came mid-load");
    let before_restart: HashSet<String> = recv.received().iter().map(|r| r.header("svix-id").to_string()).collect();
    let undelivered = accepted.difference(&before_restart).count();
    assert!(undelivered > 100, "most accepted messages were still queued at the kill ({undelivered})");
    recv.set_delay(Duration::ZERO);

    let _restarted = HookdProcess::start(&db, port, &CRASH_ENV).await;
    // On PostgreSQL a starting node never frees leases at once: the killed node's come back when it is seen dead
    // (about 20 s), so the wait leaves room for that and the deliveries after it.
    let wait = if on_postgres() { Duration::from_secs(60) } else { WAIT };
    eventually_within("every accepted message to arrive", wait, || {
        let (recv, accepted) = (recv.clone(), &accepted);
        async move {
            let got: HashSet<String> = recv.received().iter().map(|r| r.header("svix-id").to_string()).collect();
            accepted.is_subset(&got).then_some(())
        }
    })
    .await;
    eprintln!(
        "accepted {} before the kill; {undelivered} of them were delivered only after the restart",
        accepted.len()
    );
}
