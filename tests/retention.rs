//! Bounded storage: messages are deleted with their deliveries and attempts past their retention (the server's, or
//! their application's), never while a delivery of theirs is under way, and response bodies go sooner. The
//! engine's retention pass is driven directly with a later `now`, instead of waiting days.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const DAY: i64 = 86_400_000;

#[tokio::test]
async fn old_messages_and_response_bodies_go_unless_pending_or_their_application_says_otherwise() {
    let app = spawn_app_with(|c| {
        c.retention = Some(Duration::from_secs(10 * 86_400));
        c.response_retention = Some(Duration::from_secs(3 * 86_400));
    })
    .await;
    let ok = Receiver::start().await;
    let (global, _) = app.app_with_endpoint(&ok.url, json!({})).await;
    let (longer, _) = app.app_with_endpoint(&ok.url, json!({})).await;
    let (shorter, _) = app.app_with_endpoint(&ok.url, json!({})).await;
    let failing = Receiver::start().await;
    failing.answer(500, 1);
    let (waiting, _) = app.app_with_endpoint(&failing.url, json!({"retrySchedule": ["1h"]})).await;

    // The hookd extension: a retention of the application's own, in days.
    let set = app.patch(&format!("/api/v1/app/{longer}"), json!({"messageRetentionPeriod": 30})).await;
    assert_eq!((set.status.as_u16(), &set.body["messageRetentionPeriod"]), (200, &json!(30)), "{:?}", set.body);
    let set = app.put(&format!("/api/v1/app/{shorter}"), json!({"name": "s", "messageRetentionPeriod": 2})).await;
    assert_eq!(set.body["messageRetentionPeriod"], 2, "{:?}", set.body);
    assert!(app.get(&format!("/api/v1/app/{global}")).await.body.get("messageRetentionPeriod").is_none());

    let send = |app_id: String| {
        let app = &app;
        async move {
            let r = app.post(&format!("/api/v1/app/{app_id}/msg"), json!({"eventType": "a.b", "payload": {}})).await;
            assert_eq!(r.status, 202, "{:?}", r.body);
            let id = r.body["id"].as_str().unwrap().to_string();
            (format!("/api/v1/app/{app_id}/msg/{id}"), format!("/api/v1/app/{app_id}/attempt/msg/{id}"))
        }
    };
    let (old, old_attempts) = send(global.clone()).await;
    let (kept, kept_attempts) = send(longer.clone()).await;
    let (brief, _) = send(shorter.clone()).await;
    let (retrying, _) = send(waiting.clone()).await;
    for msg in [&old, &kept, &brief] {
        eventually("the delivery to succeed", || async {
            (app.get(&format!("{msg}/endpoint")).await.body["data"][0]["status"] == 0).then_some(())
        })
        .await;
    }
    failing.wait_for(1).await;
    assert_eq!(app.get(&old_attempts).await.body["data"][0]["response"], "ok");

    let now = hookd::store::now_ms();
    let swept = app.ctx.engine.prune_expired(now + DAY).await.unwrap();
    assert_eq!((swept.pruned.messages, swept.responses), (0, 0), "nothing is old enough yet: {swept:?}");

    let swept = app.ctx.engine.prune_expired(now + 4 * DAY).await.unwrap();
    assert_eq!(swept.pruned.messages, 1, "its application keeps it only 2 days: {swept:?}");
    assert_eq!(app.get(&brief).await.status, 404);
    assert_eq!(swept.responses, 3, "the other three attempts' bodies, after 3 days");
    let attempts = app.get(&old_attempts).await.body;
    assert_eq!(
        (&attempts["data"][0]["response"], &attempts["data"][0]["responseStatusCode"]),
        (&json!(""), &json!(200))
    );
    assert_eq!(app.get(&old).await.status, 200, "the message stays for its 10 days");

    let swept = app.ctx.engine.prune_expired(now + 11 * DAY).await.unwrap();
    assert_eq!(
        (swept.pruned.messages, swept.pruned.deliveries, swept.pruned.attempts, swept.pruned.kept_pending),
        (1, 1, 1, 1),
        "{swept:?}"
    );
    assert_eq!(app.get(&old).await.status, 404, "deleted after the server's 10 days");
    assert_eq!(app.get(&old_attempts).await.status, 404, "with its attempts");
    let listed = app.get(&format!("/api/v1/app/{global}/msg")).await;
    assert_eq!(listed.body["data"], json!([]));
    assert_eq!(app.get(&kept).await.status, 200, "its application keeps it 30 days");
    assert_eq!(app.get(&retrying).await.status, 200, "a pending retry keeps its message");
    assert_eq!(app.get(&format!("{retrying}/endpoint")).await.body["data"][0]["status"], 1);

    let swept = app.ctx.engine.prune_expired(now + 31 * DAY).await.unwrap();
    assert_eq!((swept.pruned.messages, swept.pruned.attempts), (1, 1), "{swept:?}");
    assert_eq!(app.get(&kept).await.status, 404);
    assert_eq!(app.get(&kept_attempts).await.status, 404);
    assert_eq!(app.get(&retrying).await.status, 200, "still pending");

    // Going back to the server's retention; a new message still flows.
    let back = app.patch(&format!("/api/v1/app/{longer}"), json!({"messageRetentionPeriod": null})).await;
    assert!(back.body.get("messageRetentionPeriod").is_none(), "{:?}", back.body);
    let (fresh, _) = send(longer.clone()).await;
    eventually("a new delivery", || async {
        (app.get(&format!("{fresh}/endpoint")).await.body["data"][0]["status"] == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_application_retention_must_be_whole_positive_days() {
    let app = spawn_app().await;
    for bad in [json!(0), json!(-3), json!(3651)] {
        let r = app.post("/api/v1/app", json!({"name": "a", "messageRetentionPeriod": bad})).await;
        assert_eq!(r.status, 422, "{bad}: {:?}", r.body);
        assert_eq!(r.body["detail"][0]["loc"], json!(["body", "messageRetentionPeriod"]), "{bad}: {:?}", r.body);
    }
    for bad in [json!("30d"), json!(1.5)] {
        let r = app.post("/api/v1/app", json!({"name": "a", "messageRetentionPeriod": bad})).await;
        assert_eq!(r.status, 422, "{bad}: a whole number of days: {:?}", r.body);
    }
    let r = app.post("/api/v1/app", json!({"name": "a", "messageRetentionPeriod": 7})).await;
    assert_eq!((r.status.as_u16(), &r.body["messageRetentionPeriod"]), (201, &json!(7)));
    let id = r.body["id"].as_str().unwrap();
    let r = app.patch(&format!("/api/v1/app/{id}"), json!({"messageRetentionPeriod": 0})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    let r = app.put(&format!("/api/v1/app/{id}"), json!({"name": "a", "messageRetentionPeriod": -1})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(app.get(&format!("/api/v1/app/{id}")).await.body["messageRetentionPeriod"], 7, "left as it was");
}
