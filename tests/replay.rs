//! Background replays: `replay-missing` (what an endpoint never got an attempt for), `bulk-replay` (its
//! deliveries again, by status, event type and time), `recover`, and the `background-task` listing, with the
//! HTTP API as any client calls it. The official JavaScript SDK drives the same routes in svix_sdk.rs.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

/// Waits until the background task has ended; returns it.
async fn finished(app: &TestApp, task: &Value) -> Value {
    let path = format!("/api/v1/background-task/{}", task["id"].as_str().unwrap());
    eventually("the background task to end", || async {
        let t = app.get(&path).await;
        assert_eq!(t.status, 200, "{:?}", t.body);
        (t.body["status"] != "running").then_some(t.body)
    })
    .await
}

fn svix_ids(got: &[Received]) -> BTreeSet<String> {
    got.iter().map(|r| r.header("svix-id").to_string()).collect()
}

fn ids(msgs: &[&Value]) -> BTreeSet<String> {
    msgs.iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
}

/// An RFC 3339 time strictly after `ts` (a message's timestamp), once the clock has passed it.
async fn after(ts: &Value) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(ts.as_str().unwrap()).unwrap();
    eventually("the clock to pass a message's time", || async {
        let now = chrono::Utc::now();
        (now.timestamp_millis() > t.timestamp_millis())
            .then(|| now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_missing_sends_exactly_what_the_endpoint_missed_once() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({"filterTypes": ["a"]})).await;
    let ep_path = format!("/api/v1/app/{app_id}/endpoint/{}", ep["id"].as_str().unwrap());

    let delivered = app.publish(&app_id, "a", json!({"n": 1})).await;
    recv.wait_for(1).await;

    assert_eq!(app.patch(&ep_path, json!({"disabled": true})).await.status, 200);
    // Before the replay's range: left alone.
    let early = app.publish(&app_id, "a", json!({"n": 2})).await;
    let since = after(&early["timestamp"]).await;
    let missed_a = app.publish(&app_id, "a", json!({"n": 3})).await;
    let missed_b = app.publish(&app_id, "a", json!({"n": 4})).await;
    // Filtered out when published; the endpoint's filters take it now.
    let was_filtered = app.publish(&app_id, "b", json!({"n": 5})).await;
    // Not wanted by the endpoint's filters now either.
    let unwanted = app.publish(&app_id, "c", json!({"n": 6})).await;
    assert_eq!(app.patch(&ep_path, json!({"disabled": false, "filterTypes": ["a", "b"]})).await.status, 200);

    let r = app.post(&format!("{ep_path}/replay-missing"), json!({"since": since})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["task"], "endpoint.replay");
    assert!(r.body["id"].as_str().unwrap().starts_with("qtask_"));
    let task = finished(&app, &r.body).await;
    assert_eq!(task["status"], "finished", "{task:?}");
    assert_eq!(task["data"]["messagesSent"], 3, "{task:?}");
    assert_eq!(task["data"]["messagesProcessed"], 4, "{task:?}");

    let got = recv.wait_for(4).await;
    assert_eq!(svix_ids(&got[1..]), ids(&[&missed_a, &missed_b, &was_filtered]));
    let replayed = got.iter().find(|g| g.header("svix-id") == missed_a["id"].as_str().unwrap()).unwrap();
    assert_eq!(replayed.json()["n"], 3, "the message's own payload");

    // Running it again sends nothing more: what it sent has a delivery now.
    let again = app.post(&format!("{ep_path}/replay-missing"), json!({"since": since})).await;
    let again = finished(&app, &again.body).await;
    assert_eq!((again["status"].as_str(), again["data"]["messagesSent"].as_u64()), (Some("finished"), Some(0)));
    // Each delivery once: every message has one attempt or none.
    for (m, n) in [(&delivered, 1), (&missed_a, 1), (&missed_b, 1), (&was_filtered, 1), (&early, 0), (&unwanted, 0)] {
        let path = format!("/api/v1/app/{app_id}/attempt/msg/{}", m["id"].as_str().unwrap());
        let attempts = eventually("the attempt to be recorded", || async {
            let a = app.get(&path).await.body;
            let len = a["data"].as_array().unwrap().len();
            (len >= n).then_some(len)
        })
        .await;
        assert_eq!(attempts, n, "{}", m["id"]);
    }
    assert_eq!(recv.received().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_replay_resends_exactly_the_failed_deliveries_the_filter_picks() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({"retrySchedule": []})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let ep_path = format!("/api/v1/app/{app_id}/endpoint/{ep_id}");
    let before_all = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    recv.answer(500, 3);
    let a1 = app.publish(&app_id, "a", json!({"n": 1})).await;
    let b1 = app.publish(&app_id, "b", json!({"n": 2})).await;
    let a2 = app.publish(&app_id, "a", json!({"n": 3})).await;
    recv.wait_for(3).await;
    let a3 = app.publish(&app_id, "a", json!({"n": 4})).await;
    recv.wait_for(4).await;
    eventually("three dead letters and one success", || async {
        let s = app.get(&format!("{ep_path}/stats")).await.body;
        (s["fail"] == 3 && s["success"] == 1).then_some(())
    })
    .await;

    // Nothing before the range's end: nothing to send.
    let none = app
        .post(
            &format!("{ep_path}/bulk-replay"),
            json!({"since": "2020-01-01T00:00:00Z", "until": before_all, "status": 2}),
        )
        .await;
    assert_eq!(none.status, 202, "{:?}", none.body);
    assert_eq!(finished(&app, &none.body).await["data"]["messagesSent"], 0);

    let r = app
        .post(&format!("{ep_path}/bulk-replay"), json!({"since": before_all, "eventTypes": ["a"], "status": 2}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["task"], "endpoint.bulk-replay");
    let task = finished(&app, &r.body).await;
    assert_eq!((task["status"].as_str(), task["data"]["messagesSent"].as_u64()), (Some("finished"), Some(2)));
    let got = recv.wait_for(6).await;
    assert_eq!(svix_ids(&got[4..]), ids(&[&a1, &a2]), "the failed `a` deliveries, and not b1 nor the successful a3");
    eventually("the replays to succeed", || async {
        let s = app.get(&format!("{ep_path}/stats")).await.body;
        (s["fail"] == 1 && s["success"] == 3).then_some(())
    })
    .await;

    // Without a status: everything the endpoint got in the range (b1 failed, the rest succeeded).
    let all = app.post(&format!("{ep_path}/bulk-replay"), json!({"since": before_all})).await;
    assert_eq!(finished(&app, &all.body).await["data"]["messagesSent"], 4);
    let got = recv.wait_for(10).await;
    assert_eq!(svix_ids(&got[6..]), ids(&[&a1, &b1, &a2, &a3]));

    // recover is recorded as a task too.
    let rec = app.post(&format!("{ep_path}/recover"), json!({"since": before_all})).await;
    assert_eq!(rec.status, 202, "{:?}", rec.body);
    assert_eq!((rec.body["task"].as_str(), rec.body["status"].as_str()), (Some("endpoint.recover"), Some("finished")));
    let listed = app.get("/api/v1/background-task?task=endpoint.bulk-replay").await.body;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3, "{listed:?}");
    let newest = app.get("/api/v1/background-task?limit=1").await.body;
    assert_eq!(newest["data"][0]["id"], rec.body["id"], "newest first");
    assert_eq!(newest["done"], false);
    assert_eq!(app.get("/api/v1/background-task?status=running").await.body["data"], json!([]));
}

#[tokio::test]
async fn tasks_stay_within_their_tenant_and_bad_input_is_a_json_4xx() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({})).await;
    let ep_path = format!("/api/v1/app/{app_id}/endpoint/{}", ep["id"].as_str().unwrap());
    let task = app.post(&format!("{ep_path}/replay-missing"), json!({"since": "2024-01-01T00:00:00Z"})).await;
    assert_eq!(task.status, 202, "{:?}", task.body);
    let task_path = format!("/api/v1/background-task/{}", task.body["id"].as_str().unwrap());
    finished(&app, &task.body).await;

    let other = app.other_org_token().await;
    let theirs = app.call(reqwest::Method::GET, &task_path, Some(&other), None).await;
    assert_eq!(theirs.status, 404);
    assert!(theirs.body.is_object());
    let listed = app.call(reqwest::Method::GET, "/api/v1/background-task", Some(&other), None).await;
    assert_eq!(listed.body["data"], json!([]));
    let replay = app
        .call(
            reqwest::Method::POST,
            &format!("{ep_path}/replay-missing"),
            Some(&other),
            Some(json!({"since": "2024-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(replay.status, 404);
    assert_eq!(app.get("/api/v1/background-task/qtask_nope").await.status, 404);

    let bad: Vec<(&str, Value)> = vec![
        ("replay-missing", json!({"since": "2024-02-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"})),
        ("replay-missing", json!({"since": "2024-01-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"})),
        ("replay-missing", json!({"since": "last tuesday"})),
        ("replay-missing", json!({"until": "2024-01-01T00:00:00Z"})),
        ("replay-missing", json!({"since": 5})),
        ("bulk-replay", json!({"since": "2024-01-01T00:00:00Z", "until": "yesterday"})),
        ("bulk-replay", json!({"since": "2024-01-01T00:00:00Z", "status": 1})),
        ("bulk-replay", json!({"since": "2024-01-01T00:00:00Z", "eventTypes": ["no spaces"]})),
        ("bulk-replay", json!({"since": "2024-01-01T00:00:00Z", "statusCodeClass": 500})),
    ];
    for (route, body) in bad {
        let r = app.post(&format!("{ep_path}/{route}"), body.clone()).await;
        assert!(r.status.is_client_error(), "{route} {body}: {}", r.status);
        assert!(r.body.is_object(), "{route} {body}: {:?}", r.body);
    }
    assert_eq!(app.get("/api/v1/background-task?status=sleeping").await.status.as_u16() / 100, 4);

    // Replaying to a disabled endpoint would only fail: refused.
    assert_eq!(app.patch(&ep_path, json!({"disabled": true})).await.status, 200);
    let r = app.post(&format!("{ep_path}/replay-missing"), json!({"since": "2024-01-01T00:00:00Z"})).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    let r = app
        .post(&format!("/api/v1/app/{app_id}/endpoint/ep_none/bulk-replay"), json!({"since": "2024-01-01T00:00:00Z"}))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_of_many_messages_pages_through_them_in_batches() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({"disabled": true})).await;
    let ep_path = format!("/api/v1/app/{app_id}/endpoint/{}", ep["id"].as_str().unwrap());
    // More than one page (500) of messages the endpoint never got.
    let n = 1100;
    let mut published = BTreeSet::new();
    for chunk in 0..(n / 50) {
        let posts = (0..50).map(|i| app.publish(&app_id, "bulk", json!({"i": chunk * 50 + i})));
        for m in futures::future::join_all(posts).await {
            published.insert(m["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(app.patch(&ep_path, json!({"disabled": false})).await.status, 200);
    let r = app.post(&format!("{ep_path}/replay-missing"), json!({"since": "2024-01-01T00:00:00Z"})).await;
    let task = finished(&app, &r.body).await;
    assert_eq!(task["status"], "finished", "{task:?}");
    assert_eq!(task["data"]["messagesSent"], n);
    let got = recv.wait_for(n).await;
    assert_eq!(svix_ids(&got), published, "each message once");
    assert_eq!(got.len(), n);
}

#[tokio::test]
async fn a_task_whose_node_stopped_reads_as_failed() {
    use hookd::outbound::background_task::{BackgroundTask, TaskStatus, STALE_MS};
    let app = spawn_app().await;
    let org = app.ctx.store.default_org().await.unwrap();
    // As a node that stopped mid-replay left it: running, its progress last saved long ago.
    let then = chrono::Utc::now().timestamp_millis() - STALE_MS - 1_000;
    let task = BackgroundTask {
        id: hookd::ids::new(hookd::ids::TASK),
        org_id: org,
        status: TaskStatus::Running,
        task: "endpoint.replay".into(),
        data: json!({"messagesProcessed": 500, "messagesSent": 12}),
        created_at: then,
        updated_at: then,
    };
    app.ctx.store.insert(&task).await.unwrap();

    let got = app.get(&format!("/api/v1/background-task/{}", task.id)).await.body;
    assert_eq!(got["status"], "failed", "{got:?}");
    assert_eq!(got["data"]["messagesSent"], 12, "its progress is kept");
    assert!(got["data"]["error"].as_str().unwrap().contains("interrupted"), "{got:?}");
    let listed = app.get("/api/v1/background-task").await.body;
    assert_eq!(listed["data"][0]["status"], "failed");
    assert_eq!(app.get("/api/v1/background-task?status=running").await.body["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_missing_sends_only_what_the_payload_filter_matches() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let filter = json!({"payload": {"n": {"$gte": 3}}});
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({"disabled": true, "filter": filter})).await;
    let ep_path = format!("/api/v1/app/{app_id}/endpoint/{}", ep["id"].as_str().unwrap());
    for n in 1..=4 {
        app.publish(&app_id, "a", json!({ "n": n })).await;
    }
    assert_eq!(app.patch(&ep_path, json!({"disabled": false})).await.status, 200);
    let r = app.post(&format!("{ep_path}/replay-missing"), json!({"since": "2024-01-01T00:00:00Z"})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let task = finished(&app, &r.body).await;
    assert_eq!((task["data"]["messagesProcessed"].as_u64(), task["data"]["messagesSent"].as_u64()), (Some(4), Some(2)));
    let mut got: Vec<i64> = recv.wait_for(2).await.iter().map(|r| r.json()["n"].as_i64().unwrap()).collect();
    got.sort();
    assert_eq!(got, [3, 4]);
}
