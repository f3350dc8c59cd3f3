//! The Svix API surface: CRUD, uids, pagination, tenancy, idempotency, message listing.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn applications_crud_uid_and_pagination() {
    let app = spawn_app().await;
    let created = app
        .post("/api/v1/app", json!({"name": "Acme", "uid": "acme", "metadata": {"plan": "pro"}, "throttleRate": 100}))
        .await;
    assert_eq!(created.status, 201);
    assert!(created.body["id"].as_str().unwrap().starts_with("app_"));
    assert_eq!(created.body["throttleRate"], 100);
    // By uid as well as by id.
    assert_eq!(app.get("/api/v1/app/acme").await.body["id"], created.body["id"]);
    // A duplicate uid conflicts; get_if_exists returns the existing one.
    assert_eq!(app.post("/api/v1/app", json!({"name": "x", "uid": "acme"})).await.status, 409);
    let again = app.post("/api/v1/app?get_if_exists=true", json!({"name": "x", "uid": "acme"})).await;
    assert_eq!((again.status.as_u16(), &again.body["id"]), (200, &created.body["id"]));

    let patched = app.patch("/api/v1/app/acme", json!({"name": "Acme Inc", "throttleRate": null})).await;
    assert_eq!(patched.body["name"], "Acme Inc");
    assert_eq!(patched.body["throttleRate"], json!(null));
    assert_eq!(patched.body["metadata"]["plan"], "pro");
    // PUT on an unknown uid creates it.
    assert_eq!(app.put("/api/v1/app/beta", json!({"name": "Beta"})).await.status, 201);
    assert_eq!(app.put("/api/v1/app/beta", json!({"name": "Beta 2"})).await.status, 200);

    for i in 0..3 {
        app.post("/api/v1/app", json!({"name": format!("n{i}")})).await;
    }
    let mut seen = vec![];
    let mut iterator: Option<String> = None;
    loop {
        let q = iterator.as_ref().map(|i| format!("&iterator={i}")).unwrap_or_default();
        let page = app.get(&format!("/api/v1/app?limit=2{q}")).await.body;
        seen.extend(page["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()));
        if page["done"] == true {
            break;
        }
        iterator = page["iterator"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ascending by id, no repeats");
    // prevIterator walks back to the page before.
    let second = app.get(&format!("/api/v1/app?limit=2&iterator={}", seen[1])).await.body;
    let back =
        app.get(&format!("/api/v1/app?limit=2&iterator={}", second["prevIterator"].as_str().unwrap())).await.body;
    let back_ids: Vec<&str> = back["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(back_ids, vec![seen[0].as_str(), seen[1].as_str()]);

    assert_eq!(app.delete("/api/v1/app/acme").await.status, 204);
    assert_eq!(app.get("/api/v1/app/acme").await.status, 404);
}

#[tokio::test]
async fn endpoints_crud_headers_secret_and_filters() {
    let app = spawn_app().await;
    let (app_id, ep) = app
        .app_with_endpoint(
            "https://example.com/hook",
            json!({"uid": "main", "eventTypes": ["user.created"], "channels": ["eu"], "description": "d"}),
        )
        .await;
    assert!(ep["id"].as_str().unwrap().starts_with("ep_"));
    assert_eq!(ep["eventTypes"], json!(["user.created"]));
    let base = format!("/api/v1/app/{app_id}/endpoint/main");
    assert_eq!(app.get(&base).await.body["id"], ep["id"]);
    let secret = app.get(&format!("{base}/secret")).await.body["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));

    let r = app.put(&format!("{base}/headers"), json!({"headers": {"Authorization": "Bearer x", "X-A": "1"}})).await;
    assert_eq!(r.status, 204);
    let h = app.get(&format!("{base}/headers")).await.body;
    assert_eq!(h["headers"], json!({"X-A": "1"}));
    assert_eq!(h["sensitive"], json!(["Authorization"]));

    let patched = app.patch(&base, json!({"eventTypes": null, "disabled": true})).await.body;
    assert_eq!(patched["eventTypes"], json!(null));
    assert_eq!(patched["disabled"], true);
    assert_eq!(patched["channels"], json!(["eu"]));
    let put = app.put(&base, json!({"url": "https://example.org/new"})).await;
    assert_eq!((put.status.as_u16(), put.body["url"].as_str()), (200, Some("https://example.org/new")));

    let rotated = app.post(&format!("{base}/secret/rotate"), json!({})).await;
    assert_eq!(rotated.status, 200);
    assert_ne!(rotated.body["key"].as_str().unwrap(), secret);
    assert_eq!(app.get(&format!("{base}/secret")).await.body["key"], rotated.body["key"]);

    let list = app.get(&format!("/api/v1/app/{app_id}/endpoint")).await.body;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.delete(&base).await.status, 204);
    assert_eq!(app.get(&base).await.status, 404);
}

#[tokio::test]
async fn event_types_crud_and_archive() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/v1/event-type",
            json!({"name": "invoice.paid", "description": "Paid", "schemas": {"1": {"type": "object"}}}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        app.post("/api/v1/event-type", json!({"name": "invoice.paid", "description": "again"})).await.status,
        409
    );
    assert_eq!(app.get("/api/v1/event-type/invoice.paid").await.body["description"], "Paid");
    let p = app.patch("/api/v1/event-type/invoice.paid", json!({"deprecated": true})).await.body;
    assert_eq!(p["deprecated"], true);
    assert_eq!(app.delete("/api/v1/event-type/invoice.paid").await.status, 204);
    assert_eq!(
        app.get("/api/v1/event-type").await.body["data"].as_array().unwrap().len(),
        0,
        "archived types are hidden"
    );
    let all = app.get("/api/v1/event-type?include_archived=true").await.body;
    assert_eq!(all["data"][0]["archived"], true);
    assert_eq!(app.delete("/api/v1/event-type/invoice.paid?expunge=true").await.status, 204);
    assert_eq!(app.get("/api/v1/event-type/invoice.paid").await.status, 404);
}

#[tokio::test]
async fn another_organizations_resources_answer_404() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({})).await;
    let msg = app.publish(&app_id, "a.b", json!({})).await;
    let other = app.other_org_token().await;
    let ep_id = ep["id"].as_str().unwrap();
    let msg_id = msg["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/app/{app_id}"),
        format!("/api/v1/app/{app_id}/endpoint/{ep_id}"),
        format!("/api/v1/app/{app_id}/endpoint/{ep_id}/secret"),
        format!("/api/v1/app/{app_id}/msg/{msg_id}"),
        format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}"),
    ] {
        let r = app.call(reqwest::Method::GET, &path, Some(&other), None).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body["code"], "not_found");
    }
    let r = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/app/{app_id}/msg"),
            Some(&other),
            Some(json!({"eventType": "a", "payload": {}})),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app.call(reqwest::Method::DELETE, &format!("/api/v1/app/{app_id}"), Some(&other), None).await;
    assert_eq!(r.status, 404);
    let listed = app.call(reqwest::Method::GET, "/api/v1/app", Some(&other), None).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 0);
    // Still there for its owner.
    assert_eq!(app.get(&format!("/api/v1/app/{app_id}")).await.status, 200);
}

#[tokio::test]
async fn event_id_conflicts_and_idempotency_key_replays() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let body = json!({"eventType": "a.b", "payload": {"n": 1}, "eventId": "evt-1"});
    assert_eq!(app.post(&format!("/api/v1/app/{app_id}/msg"), body.clone()).await.status, 202);
    let dup = app.post(&format!("/api/v1/app/{app_id}/msg"), body).await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["code"], "conflict");
    // By eventId too.
    assert_eq!(app.get(&format!("/api/v1/app/{app_id}/msg/evt-1")).await.status, 200);

    let send = || {
        app.http
            .post(format!("{}/api/v1/app/{app_id}/msg", app.base))
            .bearer_auth(&app.token)
            .header("idempotency-key", "key-1")
            .json(&json!({"eventType": "a.b", "payload": {"n": 2}}))
            .send()
    };
    let first: serde_json::Value = send().await.unwrap().json().await.unwrap();
    let second = send().await.unwrap();
    assert_eq!(second.status(), 202);
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"], "the same key replays the first answer");
    let all = app.get(&format!("/api/v1/app/{app_id}/msg")).await.body;
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "no second message was created");

    // Eight at once with one key: one message, and every answer is its.
    let answers = futures::future::join_all((0..8).map(|_| async {
        let r = app
            .http
            .post(format!("{}/api/v1/app/{app_id}/msg", app.base))
            .bearer_auth(&app.token)
            .header("idempotency-key", "key-2")
            .json(&json!({"eventType": "a.b", "payload": {"n": 3}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string()
    }))
    .await;
    assert!(answers.iter().all(|id| *id == answers[0]), "{answers:?}");
    let all = app.get(&format!("/api/v1/app/{app_id}/msg")).await.body;
    assert_eq!(all["data"].as_array().unwrap().len(), 3, "the concurrent requests made one message");

    // A request that fails leaves its key free: the corrected retry runs.
    let with_key = |body: serde_json::Value| {
        app.http
            .post(format!("{}/api/v1/app/{app_id}/msg", app.base))
            .bearer_auth(&app.token)
            .header("idempotency-key", "key-3")
            .json(&body)
            .send()
    };
    assert_eq!(with_key(json!({"eventType": "a.b"})).await.unwrap().status(), 422);
    assert_eq!(with_key(json!({"eventType": "a.b", "payload": {}})).await.unwrap().status(), 202);
}

#[tokio::test]
async fn messages_list_filter_and_expunge() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    for (t, ch) in [("a.one", "x"), ("a.two", "y"), ("a.one", "y")] {
        let r = app
            .post(&format!("/api/v1/app/{app_id}/msg"), json!({"eventType": t, "payload": {"t": t}, "channels": [ch]}))
            .await;
        assert_eq!(r.status, 202);
    }
    let base = format!("/api/v1/app/{app_id}/msg");
    let all = app.get(&base).await.body;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    assert_eq!(all["data"][0]["eventType"], "a.one", "newest first");
    assert_eq!(all["data"][0]["channels"], json!(["y"]));
    assert_eq!(app.get(&format!("{base}?event_types=a.two")).await.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&format!("{base}?event_types=a.two,a.one")).await.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(app.get(&format!("{base}?channel=y")).await.body["data"].as_array().unwrap().len(), 2);
    let bare = app.get(&format!("{base}?with_content=false")).await.body;
    assert_eq!(bare["data"][0]["payload"], json!({}));

    let id = all["data"][0]["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("{base}/{id}")).await.body["payload"], json!({"t": "a.one"}));
    assert_eq!(app.delete(&format!("{base}/{id}/content")).await.status, 204);
    assert_eq!(app.get(&format!("{base}/{id}")).await.body["payload"], json!({}));
}

#[tokio::test]
async fn inline_application_is_created_with_the_message() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/v1/app/new-customer/msg",
            json!({"eventType": "a.b", "payload": {}, "application": {"name": "New"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let created = app.get("/api/v1/app/new-customer").await;
    assert_eq!(created.body["name"], "New");
    assert_eq!(app.post("/api/v1/app/missing/msg", json!({"eventType": "a.b", "payload": {}})).await.status, 404);
}

#[tokio::test]
async fn health_and_metrics() {
    let app = spawn_app().await;
    assert_eq!(app.call(reqwest::Method::GET, "/api/v1/health", None, None).await.status, 204);
    assert_eq!(app.call(reqwest::Method::GET, "/api/v1/health/ping", None, None).await.status, 204);
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    app.publish(&app_id, "a.b", json!({})).await;
    let m = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("hookd_messages_published_total 1"), "{m}");
}

/// Svix's `payloadRetentionPeriod` (days; 90 by default): past it, the retention job expunges the payload of a
/// delivered message and keeps the message; a payload a retry still needs is kept until the delivery ends.
#[tokio::test]
async fn payloads_are_expunged_past_their_retention_unless_a_retry_needs_them() {
    let app = spawn_app().await;
    let ok = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&ok.url, json!({})).await;
    let failing = Receiver::start().await;
    failing.answer(500, 1);
    let (waiting_app, _) = app.app_with_endpoint(&failing.url, json!({"retrySchedule": ["1h"]})).await;
    let send = |app_id: String, body: serde_json::Value| {
        let app = &app;
        async move {
            let r = app.post(&format!("/api/v1/app/{app_id}/msg"), body).await;
            assert_eq!(r.status, 202, "{:?}", r.body);
            format!("/api/v1/app/{app_id}/msg/{}", r.body["id"].as_str().unwrap())
        }
    };
    let short =
        send(app_id.clone(), json!({"eventType": "a.b", "payload": {"k": 1}, "payloadRetentionPeriod": 5})).await;
    let default = send(app_id.clone(), json!({"eventType": "a.b", "payload": {"k": 2}})).await;
    let retrying =
        send(waiting_app.clone(), json!({"eventType": "a.b", "payload": {"k": 3}, "payloadRetentionPeriod": 5})).await;
    for msg in [&short, &default] {
        eventually("the delivery to succeed", || async {
            (app.get(&format!("{msg}/endpoint")).await.body["data"][0]["status"] == 0).then_some(())
        })
        .await;
    }
    failing.wait_for(1).await;

    let day = 86_400_000;
    let now = hookd::store::now_ms();
    assert_eq!(app.ctx.engine.expunge_expired_payloads(now + 4 * day).await.unwrap(), 0, "within 5 days");
    assert_eq!(app.ctx.engine.expunge_expired_payloads(now + 6 * day).await.unwrap(), 1);
    let app = &app;
    let payload = |msg: String| async move { app.get(&msg).await.body["payload"].clone() };
    assert_eq!(payload(short.clone()).await, json!({}), "expunged after its 5 days");
    assert_eq!(app.get(&short).await.status, 200, "the message itself stays");
    assert_eq!(payload(default.clone()).await, json!({"k": 2}), "kept for the default 90 days");
    assert_eq!(payload(retrying.clone()).await, json!({"k": 3}), "a pending retry still needs it");

    assert_eq!(app.ctx.engine.expunge_expired_payloads(now + 91 * day).await.unwrap(), 1);
    assert_eq!(payload(default).await, json!({}));
    assert_eq!(payload(retrying).await, json!({"k": 3}));
    let bad = app
        .post(
            &format!("/api/v1/app/{app_id}/msg"),
            json!({"eventType": "a.b", "payload": {}, "payloadRetentionPeriod": 1}),
        )
        .await;
    assert_eq!(bad.status, 422, "{:?}", bad.body);
}

/// svix-server answers a path with a trailing slash as the path without it (older Svix documentation and
/// clients write `POST /api/v1/app/`), and typed query parameters (`limit=250`, `include_archived=true`) arrive
/// as strings on every list route.
#[tokio::test]
async fn trailing_slashes_and_typed_query_parameters() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let created = app.post("/api/v1/app/", json!({"name": "Slashed", "uid": "slashed"})).await;
    assert_eq!(created.status, 201, "POST /api/v1/app/: {:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/app/slashed/").await.body["id"], id, "GET /api/v1/app/{{uid}}/");
    let ep = app.post("/api/v1/app/slashed/endpoint/", json!({"url": recv.url, "uid": "ep-one"})).await;
    assert_eq!(ep.status, 201, "{:?}", ep.body);
    let msg = app.post("/api/v1/app/slashed/msg/", json!({"eventType": "a.b", "payload": {"k": 1}})).await;
    assert_eq!(msg.status, 202, "POST /api/v1/app/{{app}}/msg/: {:?}", msg.body);
    let msg_id = msg.body["id"].as_str().unwrap().to_string();
    recv.wait_for(1).await;
    let listed = app.get("/api/v1/app/slashed/msg/?limit=250").await;
    assert_eq!((listed.status.as_u16(), &listed.body["data"][0]["id"]), (200, &json!(msg_id)), "{:?}", listed.body);
    let patched = app.patch("/api/v1/app/slashed/", json!({"name": "Renamed"})).await;
    assert_eq!(patched.body["name"], "Renamed");
    // Only the slash is forgiven: an unknown route stays 404, and `/` and the document still answer.
    assert_eq!(app.get("/api/v1/app/slashed/nothing-here/").await.status, 404);
    assert_eq!(app.get("/").await.status, 404);
    let doc = app.http.get(format!("{}/openapi.json/", app.base)).send().await.unwrap();
    assert_eq!(doc.status(), 200);

    for name in ["a.b", "c.d", "e.f"] {
        let r = app.post("/api/v1/event-type/", json!({"name": name, "description": name, "schemas": {"1": {}}})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    assert_eq!(app.delete("/api/v1/event-type/c.d/").await.status, 204);
    let types = app.get("/api/v1/event-type?limit=250").await;
    assert_eq!(types.status, 200, "GET /api/v1/event-type?limit=250: {:?}", types.body);
    let names: Vec<_> = types.body["data"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
    assert_eq!(names, [json!("a.b"), json!("e.f")]);
    // Archived types are filtered before the page is cut: a page of 1 is one live type, then the next.
    let first = app.get("/api/v1/event-type?limit=1&order=ascending").await.body;
    assert_eq!((&first["data"][0]["name"], &first["done"]), (&json!("a.b"), &json!(false)), "{first}");
    let it = first["iterator"].as_str().unwrap();
    let second = app.get(&format!("/api/v1/event-type?limit=1&iterator={it}")).await.body;
    assert_eq!(second["data"].as_array().unwrap().len(), 1, "{second}");
    assert_eq!(second["data"][0]["name"], "e.f", "{second}");
    let all = app.get("/api/v1/event-type/?limit=250&include_archived=true&with_content=true").await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(all.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(all.body["data"][0]["schemas"], json!({"1": {}}), "with_content=true carries the schemas");
    let bare = app.get("/api/v1/event-type?with_content=false").await.body;
    assert_eq!(bare["data"][0]["schemas"], json!(null), "svix-server leaves the schemas out unless asked");
    let desc = app.get("/api/v1/event-type?limit=2&order=descending&include_archived=true").await.body;
    assert_eq!(desc["data"][0]["name"], "e.f", "{desc}");

    for path in [
        "/api/v1/app?limit=250&order=descending".to_string(),
        "/api/v1/app/slashed/endpoint?limit=250&order=ascending".into(),
        "/api/v1/app/slashed/msg?limit=250&with_content=false&status=0".into(),
        format!("/api/v1/app/slashed/attempt/msg/{msg_id}?limit=250&status=0&status_code_class=200"),
        "/api/v1/app/slashed/attempt/endpoint/ep-one?limit=250&status=0&with_content=true".into(),
        "/api/v1/app/slashed/endpoint/ep-one/msg?limit=250&status=0&with_content=true".into(),
        format!("/api/v1/app/slashed/msg/{msg_id}/endpoint?limit=250"),
        format!("/api/v1/app/slashed/msg/{msg_id}?with_content=false"),
        "/timers?limit=250".into(),
        "/webhooks?limit=250".into(),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "GET {path}: {:?}", r.body);
    }
}
