//! `hookd store copy`: a user who outgrows SQLite copies everything into a new store (PostgreSQL when the suite
//! runs on it) and goes on there: applications are served, messages and attempts are there, and the pending work
//! — a scheduled message, a timer — runs on the new store. Then the copy goes back to SQLite unchanged.

mod common;

use std::process::Command;

use common::*;
use hookd::store::copy::{open_tables, Row, Tables, TABLES};
use serde_json::{json, Value};

const ENV: [(&str, &str); 2] = [("HOOKD_ADMIN_TOKEN", "copy-token"), ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true")];

fn store_copy(from: &str, to: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hookd")).args(["store", "copy", "--from", from, "--to", to]).output().unwrap()
}

async fn get(base: &str, path: &str) -> Value {
    let resp = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth("copy-token").send().await.unwrap();
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.json().await.unwrap()
}

/// Every row of every copied table, sorted, as the store holds them.
async fn dump(store: &dyn Tables) -> Vec<(&'static str, Vec<Row>)> {
    let mut out = Vec::new();
    for &(table, cols) in TABLES {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let collect = async {
            let mut rows = Vec::new();
            while let Some(chunk) = rx.recv().await {
                rows.extend(chunk);
            }
            rows
        };
        let (exported, mut rows) = tokio::join!(store.export(table, cols, tx), collect);
        exported.unwrap();
        rows.sort_by_key(|r| format!("{r:?}"));
        out.push((table, rows));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_copied_serves_its_applications_and_runs_its_pending_work() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}/source.db", dir.path().display());
    let port = free_port();
    let recv = Receiver::start().await;

    let hookd = HookdProcess::start(&source, port, &ENV).await;
    let base = hookd.base.clone();
    let app = post_json(&base, "copy-token", "/api/v1/app", json!({"name": "moving", "uid": "moving"})).await;
    let app_id = app["id"].as_str().unwrap().to_string();
    let ep = post_json(&base, "copy-token", &format!("/api/v1/app/{app_id}/endpoint"), json!({"url": recv.url})).await;
    let secret = get(&base, &format!("/api/v1/app/{app_id}/endpoint/{}/secret", ep["id"].as_str().unwrap())).await;
    let sent =
        post_json(&base, "copy-token", "/api/v1/app/moving/msg", json!({"eventType": "a", "payload": {"n": 1}})).await;
    recv.wait_for(1).await;
    // Pending work: a message scheduled for later, and a timer.
    let later = chrono::Utc::now() + chrono::Duration::seconds(3);
    post_json(
        &base,
        "copy-token",
        "/api/v1/app/moving/msg",
        json!({"eventType": "b", "payload": {"n": 2}, "deliverAt": later.to_rfc3339()}),
    )
    .await;
    let timer = reqwest::Client::new()
        .post(format!("{base}/timers"))
        .header("x-api-key", "copy-token")
        .json(&json!({"name": "moved", "duration": "3s", "events": {"on_expire": {"webhook": recv.url}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(timer.status(), 201);
    let registration =
        post_json(&base, "copy-token", "/integrations/github/webhooks", json!({"connectionId": "c1", "events": ["*"]}))
            .await;
    assert!(registration["registrationId"].is_string(), "{registration}");
    assert!(hookd.terminate().0);

    let target_dir = tempfile::tempdir().unwrap();
    let target = fresh_database_url(target_dir.path());
    let out = store_copy(&source, &target);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.lines().any(|l| l.starts_with("messages") && l.trim_end().ends_with("2 rows")), "{printed}");

    let again = store_copy(&source, &target);
    assert!(!again.status.success(), "copying into a store that is not empty is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // The secrets came along sealed under the source's main key, which goes with the copy.
    let key_file = format!("{}/source.db.key", dir.path().display());
    let moved = HookdProcess::start(&target, port, &[ENV[0], ENV[1], ("HOOKD_MAIN_KEY_FILE", &key_file)]).await;
    let apps = get(&moved.base, "/api/v1/app").await;
    assert_eq!(apps["data"][0]["id"], app_id.as_str());
    let msg = get(&moved.base, &format!("/api/v1/app/moving/msg/{}", sent["id"].as_str().unwrap())).await;
    assert_eq!(msg["payload"], json!({"n": 1}));
    let attempts = get(&moved.base, &format!("/api/v1/app/moving/attempt/msg/{}", sent["id"].as_str().unwrap())).await;
    assert_eq!(attempts["data"].as_array().unwrap().len(), 1, "its attempt came along");
    let moved_secret =
        get(&moved.base, &format!("/api/v1/app/{app_id}/endpoint/{}/secret", ep["id"].as_str().unwrap())).await;
    assert_eq!(moved_secret, secret, "the endpoint signs with the same secret");
    let reg = get(&moved.base, &format!("/webhooks/{}", registration["registrationId"].as_str().unwrap())).await;
    assert_eq!(reg["connectionId"], "c1");

    // The scheduled message and the timer run on the new store.
    let got = recv.wait_for(3).await;
    let bodies: Vec<Value> = got.iter().map(|r| r.json()).collect();
    assert!(bodies.contains(&json!({"n": 2})), "the scheduled message arrived: {bodies:?}");
    assert!(bodies.iter().any(|b| b["event"] == "timer_expired"), "the timer fired: {bodies:?}");
    assert_eq!(got.len(), 3, "each once");
    assert!(moved.terminate().0);

    // And back to SQLite, row for row.
    let back = format!("sqlite://{}/back.db", dir.path().display());
    let out = store_copy(&target, &back);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (target, back) = (open_tables(&target).await.unwrap(), open_tables(&back).await.unwrap());
    let (a, b) = (dump(target.as_ref()).await, dump(back.as_ref()).await);
    for ((table, rows_a), (_, rows_b)) in a.iter().zip(&b) {
        assert_eq!(rows_a, rows_b, "{table} round-trips");
    }
    assert!(a.iter().find(|(t, _)| *t == "docs").is_some_and(|(_, rows)| rows.len() >= 3));
}
