//! Destinations: the resource and its 422s, a FIFO endpoint receiving an application's messages in publish order
//! in signed batches (through a failure, a skip, a forced retry, a SIGKILL of the server and, on PostgreSQL, of
//! the node holding it), polling endpoints read with iterators, server-kept consumer cursors and poller tokens,
//! and the Svix JavaScript SDK's destination and poller calls (tests/node/svix_sdk_destinations.mjs).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

async fn new_app(app: &TestApp) -> String {
    let r =
        app.post("/api/v1/app", json!({"name": "dest", "uid": format!("dest-{}", hookd::ids::random_token(6))})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

async fn create_destination(app: &TestApp, app_id: &str, body: Value) -> Value {
    let r = app.post(&format!("/api/v1/app/{app_id}/destination"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}

/// The events of every request the receiver answered 2xx, in arrival order, as (message id, position).
fn taken(recv: &Receiver, failed_first: usize) -> Vec<Vec<(String, i64)>> {
    recv.received()
        .iter()
        .skip(failed_first)
        .map(|r| {
            r.json()["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e["id"].as_str().unwrap().to_string(), e["position"].as_i64().unwrap()))
                .collect()
        })
        .collect()
}

fn loc(body: &Value) -> Vec<String> {
    body["detail"][0]["loc"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_is_created_read_changed_and_deleted_and_refuses_bad_input() {
    let app = spawn_app().await;
    let app_id = new_app(&app).await;
    let base = format!("/api/v1/app/{app_id}/destination");
    let d = create_destination(
        &app,
        &app_id,
        json!({"type": "fifoEndpoint", "uid": "orders-fifo", "eventTypes": ["order.*"],
               "config": {"url": "http://127.0.0.1:9/hook", "headers": {"Authorization": "Bearer s3cret", "X-Team": "a"}},
               "metadata": {"team": "a"}}),
    )
    .await;
    let id = d["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("dst_"), "{d}");
    assert_eq!(d["type"], "fifoEndpoint");
    assert_eq!(d["status"], "enabled");
    assert_eq!(d["batchSize"], 100);
    assert_eq!(d["maxWaitSecs"], 0);
    assert_eq!(d["currentIterator"], "0");
    assert_eq!(d["eventTypes"], json!(["order.*"]));
    assert_eq!(d["metadata"], json!({"team": "a"}));
    // No secret whole: the Authorization header named only, the generated key masked.
    assert_eq!(d["config"]["url"], "http://127.0.0.1:9/hook");
    assert_eq!(d["config"]["headers"]["headers"], json!({"X-Team": "a"}));
    assert_eq!(d["config"]["headers"]["sensitive"], json!(["Authorization"]));
    assert!(!d.to_string().contains("s3cret"), "{d}");
    let key = app.get(&format!("{base}/{id}/secret")).await.body["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("whsec_"), "{key}");
    assert!(!d.to_string().contains(&key[6..]), "{d}");
    // Sealed at rest: the stored document holds neither the header's value nor the key.
    let q = hookd::store::db::Sql::new("SELECT data FROM docs WHERE id = ?").bind(id.as_str());
    let raw: Vec<String> = hookd::store::db::fetch(&*app.ctx.store, q, |r| r.get(0)).await.unwrap();
    assert!(raw[0].contains("enc:v1:") && !raw[0].contains("s3cret") && !raw[0].contains(&key[6..]), "{}", raw[0]);

    // Read by id and by uid, listed.
    assert_eq!(app.get(&format!("{base}/{id}")).await.body["id"], id.as_str());
    assert_eq!(app.get(&format!("{base}/orders-fifo")).await.body["id"], id.as_str());
    let poll = create_destination(&app, &app_id, json!({"type": "pollingEndpoint", "batchSize": 10})).await;
    assert_eq!(poll["config"], json!({}));
    let list = app.get(&base).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2, "{:?}", list.body);

    // PATCH and PUT.
    let p = app.patch(&format!("{base}/{id}"), json!({"batchSize": 7, "status": "disabled"})).await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!((p.body["batchSize"].clone(), p.body["status"].clone()), (json!(7), json!("disabled")));
    assert_eq!(p.body["eventTypes"], json!(["order.*"]));
    let p = app
        .put(
            &format!("{base}/{id}"),
            json!({"type": "fifoEndpoint", "config": {"url": "http://127.0.0.1:9/other", "key": key}}),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!((p.body["batchSize"].clone(), p.body["status"].clone()), (json!(100), json!("enabled")));
    assert_eq!(app.get(&format!("{base}/{id}/secret")).await.body["key"], key.as_str());
    let created = app.put(&format!("{base}/by-put"), json!({"type": "pollingEndpoint"})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["uid"], "by-put");

    // 422s name the field.
    for (body, want) in [
        (json!({"type": "carrierPigeon", "config": {}}), vec!["body", "type"]),
        (json!({"type": "fifoEndpoint", "config": {}}), vec!["body", "config", "url"]),
        (json!({"type": "fifoEndpoint", "config": {"url": "not a url"}}), vec!["body", "config", "url"]),
        (json!({"type": "fifoEndpoint", "config": {"url": "ftp://example.com/x"}}), vec!["body", "config", "url"]),
        (
            json!({"type": "fifoEndpoint", "config": {"url": "http://127.0.0.1:9/", "key": "whsec_%%"}}),
            vec!["body", "config", "key"],
        ),
        (
            json!({"type": "fifoEndpoint", "config": {"url": "http://127.0.0.1:9/", "headers": {"X": 1}}}),
            vec!["body", "config", "headers", "X"],
        ),
        (json!({"type": "pollingEndpoint", "batchSize": 0}), vec!["body", "batchSize"]),
        (json!({"type": "pollingEndpoint", "batchSize": 1001}), vec!["body", "batchSize"]),
        (json!({"type": "pollingEndpoint", "maxWaitSecs": 301}), vec!["body", "maxWaitSecs"]),
    ] {
        let r = app.post(&base, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {:?}", r.body);
        assert_eq!(loc(&r.body), want, "{body}: {:?}", r.body);
    }
    let r = app.patch(&format!("{base}/{id}"), json!({"type": "pollingEndpoint"})).await;
    assert_eq!((r.status.as_u16(), loc(&r.body)), (422, vec!["body".to_string(), "type".to_string()]));
    let r = app.post(&format!("{base}/{id}/skip"), json!({"iterator": "ten"})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);

    // Another organization sees none of it.
    let other = app.other_org_token().await;
    for path in [format!("{base}/{id}"), base.clone(), format!("{base}/{id}/attempt")] {
        let r = app.call(reqwest::Method::GET, &path, Some(&other), None).await;
        assert_eq!(r.status, 404, "{path}: {:?}", r.body);
    }
    let r = app.call(reqwest::Method::DELETE, &format!("{base}/{id}"), Some(&other), None).await;
    assert_eq!(r.status, 404);

    // In the OpenAPI document.
    let doc = app.get("/openapi.json").await.body;
    for path in [
        "/api/v1/app/{app_id}/destination",
        "/api/v1/app/{app_id}/destination/{destination_id}/skip",
        "/api/v1/app/{app_id}/poller/{sink_id}",
        "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }

    assert_eq!(app.delete(&format!("{base}/{id}")).await.status, 204);
    assert_eq!(app.get(&format!("{base}/{id}")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fifo_endpoint_gets_every_message_in_order_in_signed_batches_through_a_failure() {
    let app = spawn_app().await;
    let app_id = new_app(&app).await;
    let recv = Receiver::start().await;
    recv.answer(500, 1);
    let d = create_destination(
        &app,
        &app_id,
        json!({"type": "fifoEndpoint", "batchSize": 3, "eventTypes": ["order.paid"], "config": {"url": recv.url}}),
    )
    .await;
    let id = d["id"].as_str().unwrap();
    let key = app.get(&format!("/api/v1/app/{app_id}/destination/{id}/secret")).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut published = vec![];
    for i in 0..20 {
        published.push(app.publish(&app_id, "order.paid", json!({"n": i})).await["id"].as_str().unwrap().to_string());
        // Messages the destination does not take are passed over.
        app.publish(&app_id, "order.refunded", json!({"n": i})).await;
    }
    let got = eventually("every message to be taken", || async {
        let ids: Vec<String> = taken(&recv, 1).concat().into_iter().map(|(id, _)| id).collect();
        (ids.len() >= published.len()).then_some(ids)
    })
    .await;
    assert_eq!(got, published, "in publish order, each once");
    let received = recv.received();
    assert_eq!(received[0].json()["data"][0]["id"], published[0].as_str(), "the failed batch came first, again");
    for r in &received {
        let body = r.json();
        let n = body["data"].as_array().unwrap().len();
        assert!((1..=3).contains(&n), "{body}");
        assert_eq!(body["destinationId"], id);
        assert_eq!(r.header("hookd-batch-size"), n.to_string());
        // Standard Webhooks, checked by the official libraries.
        let headers: serde_json::Map<String, Value> =
            r.headers.iter().map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap()))).collect();
        let input = json!({"body": String::from_utf8_lossy(&r.body), "headers": headers, "secret": key});
        let (ok, out) = run_script(&python(), &script("py/verify_standard.py"), &input);
        assert!(ok, "{out}");
    }
    // The failed batch and the retry are attempts; the cursor is at the last taken message.
    let attempts = app.get(&format!("/api/v1/app/{app_id}/destination/{id}/attempt?limit=250")).await.body;
    let data = attempts["data"].as_array().unwrap();
    assert_eq!(data.iter().filter(|a| a["status"] == 2).count(), 1, "{attempts}");
    assert!(data.last().unwrap()["statusText"].as_str().unwrap().starts_with("fail: HTTP 500"), "{attempts}");
    let one =
        app.get(&format!("/api/v1/app/{app_id}/destination/{id}/attempt/{}", data[0]["id"].as_str().unwrap())).await;
    assert_eq!(one.status, 200);
    let last = app.get(&format!("/api/v1/app/{app_id}/destination/{id}/last-acked-event")).await;
    assert_eq!(last.status, 200, "{:?}", last.body);
    assert_eq!(last.body["msgId"], published.last().unwrap().as_str());
    let d = eventually("the cursor to pass the refunds published last", || async {
        let d = app.get(&format!("/api/v1/app/{app_id}/destination/{id}")).await.body;
        (d["currentIterator"] == "40").then_some(d)
    })
    .await;
    assert_eq!((d["status"].clone(), d["failureReason"].clone()), (json!("enabled"), Value::Null));
    assert_eq!(app.get(&format!("/api/v1/app/{app_id}/destination/{id}/next-event")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_batch_holds_the_cursor_until_forced_or_skipped() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![Duration::from_secs(3600); 3]).await;
    let app_id = new_app(&app).await;
    let recv = Receiver::start().await;
    recv.answer(503, 2);
    let d =
        create_destination(&app, &app_id, json!({"type": "fifoEndpoint", "batchSize": 1, "config": {"url": recv.url}}))
            .await;
    let id = d["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/app/{app_id}/destination/{id}");
    let first = app.publish(&app_id, "a", json!({"n": 1})).await["id"].as_str().unwrap().to_string();
    let second = app.publish(&app_id, "a", json!({"n": 2})).await["id"].as_str().unwrap().to_string();
    let d = eventually("the destination to be retrying", || async {
        let d = app.get(&path).await.body;
        (d["status"] == "retrying").then_some(d)
    })
    .await;
    assert!(d["failureReason"].as_str().unwrap().contains("503"), "{d}");
    assert!(d["nextRetryAt"].is_string(), "{d}");
    assert_eq!(d["currentIterator"], "0");
    let next = app.get(&format!("{path}/next-event")).await;
    assert_eq!(next.body["msgId"], first.as_str(), "{:?}", next.body);
    assert_eq!(recv.received().len(), 1, "the next batch waits for the failed one");

    // force-retry: tried again now (and it fails again).
    assert_eq!(app.post(&format!("{path}/force-retry"), json!({})).await.status, 204);
    recv.wait_for(2).await;
    eventually("the second failure to be recorded", || async {
        let a = app.get(&format!("{path}/attempt")).await.body;
        (a["data"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    assert_eq!(recv.received()[1].json()["data"][0]["id"], first.as_str());

    // skip: past the failed batch; the next message goes out.
    assert_eq!(app.post(&format!("{path}/skip"), json!({})).await.status, 204);
    let got = recv.wait_for(3).await;
    assert_eq!(got[2].json()["data"][0]["id"], second.as_str());
    let d = eventually("the destination to be enabled again", || async {
        let d = app.get(&path).await.body;
        (d["status"] == "enabled" && d["currentIterator"] == "2").then_some(d)
    })
    .await;
    assert_eq!(d["failureReason"], Value::Null);
    // Skipping back by iterator sends the first message again.
    assert_eq!(app.post(&format!("{path}/skip"), json!({"iterator": "0"})).await.status, 204);
    let got = recv.wait_for(4).await;
    assert_eq!(got[3].json()["data"][0]["id"], first.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_and_metrics_show_a_stuck_destination_which_the_dashboard_skips() {
    common::ui::assert_browser_ready();
    let app = spawn_app_with(|c| c.retry_schedule = vec![Duration::from_secs(3600); 3]).await;
    let app_id = new_app(&app).await;
    let recv = Receiver::start().await;
    recv.answer(503, 2);
    let d =
        create_destination(&app, &app_id, json!({"type": "fifoEndpoint", "batchSize": 1, "config": {"url": recv.url}}))
            .await;
    let id = d["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/app/{app_id}/destination/{id}");
    app.publish(&app_id, "a", json!({"n": 1})).await;
    let second = app.publish(&app_id, "a", json!({"n": 2})).await["id"].as_str().unwrap().to_string();
    eventually("the destination to be retrying", || async {
        (app.get(&path).await.body["status"] == "retrying").then_some(())
    })
    .await;
    let metrics = reqwest::get(format!("{}/metrics", app.base)).await.unwrap().text().await.unwrap();
    let line = format!("hookd_destination_lag{{app_id=\"{app_id}\",destination_id=\"{id}\"}} 2");
    assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    assert!(metrics.contains("hookd_destinations_retrying 1"), "{metrics}");

    let browse = |step: &str| {
        let input = json!({"base": app.base, "token": app.token, "appId": app_id, "destinationId": id, "step": step,
            "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok()});
        let (ok, out) = run_script("node", &script("node/dashboard_destinations.mjs"), &input);
        assert!(ok && out.contains("dashboard destinations passed"), "the browser flow ({step}) failed:\n{out}");
    };
    browse("retry");
    // The retry fails again (the receiver answers 503 twice) …
    recv.wait_for(2).await;
    eventually("the second failure to be recorded", || async {
        let a = app.get(&format!("{path}/attempt")).await.body;
        (a["data"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    // … and the skip passes the first message.
    browse("skip");
    let got = recv.wait_for(3).await;
    assert_eq!(got[2].json()["data"][0]["id"], second.as_str());
    eventually("the destination to be enabled again", || async {
        (app.get(&path).await.body["status"] == "enabled").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_fills_for_max_wait_secs_and_its_transformation_shapes_the_body() {
    let app = spawn_app().await;
    let app_id = new_app(&app).await;
    let recv = Receiver::start().await;
    let d = create_destination(
        &app,
        &app_id,
        json!({"type": "fifoEndpoint", "batchSize": 10, "maxWaitSecs": 1, "config": {"url": recv.url}}),
    )
    .await;
    let path = format!("/api/v1/app/{app_id}/destination/{}/transformation", d["id"].as_str().unwrap());
    assert_eq!(app.get(&path).await.body, json!({"code": null, "enabled": false}));
    let r = app.patch(&path, json!({"code": "function handler(batch) { return {"})).await;
    assert_eq!((r.status.as_u16(), loc(&r.body)), (422, vec!["body".to_string(), "code".to_string()]), "{:?}", r.body);
    let code = "function handler(batch) {
        return {requestBody: {count: batch.events.length, types: batch.events.map(e => e.eventType),
                              sum: batch.events.reduce((s, e) => s + e.payload.n, 0)}};
    }";
    assert_eq!(app.patch(&path, json!({"code": code})).await.status, 204);
    assert_eq!(app.get(&path).await.body["enabled"], true);
    let started = std::time::Instant::now();
    for n in 1..=3 {
        app.publish(&app_id, &format!("t{n}"), json!({"n": n})).await;
    }
    // One request for the three, sent once the first had waited a second.
    let got = recv.wait_for(1).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    assert_eq!(got[0].json(), json!({"count": 3, "types": ["t1", "t2", "t3"], "sum": 6}));
    // Removed: the batch's own body again.
    assert_eq!(app.patch(&path, json!({"code": null})).await.status, 204);
    app.publish(&app_id, "t4", json!({"n": 4})).await;
    let got = recv.wait_for(2).await;
    assert_eq!(got[1].json()["data"][0]["eventType"], "t4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_destination_that_keeps_failing_is_disabled() {
    let app = spawn_app().await;
    let app_id = new_app(&app).await;
    let recv = Receiver::start().await;
    recv.answer(500, 3);
    let d = create_destination(&app, &app_id, json!({"type": "fifoEndpoint", "config": {"url": recv.url}})).await;
    let path = format!("/api/v1/app/{app_id}/destination/{}", d["id"].as_str().unwrap());
    app.publish(&app_id, "a", json!({})).await;
    // The test schedule: two retries, then the destination is disabled.
    let d = eventually("the destination to be disabled", || async {
        let d = app.get(&path).await.body;
        (d["status"] == "disabled").then_some(d)
    })
    .await;
    assert!(d["failureReason"].as_str().unwrap().contains("500"), "{d}");
    assert_eq!(recv.received().len(), 3);
    // Enabling it again sends the held batch.
    assert_eq!(app.patch(&path, json!({"status": "enabled"})).await.status, 200);
    recv.wait_for(4).await;
    eventually("the destination to be enabled", || async {
        let d = app.get(&path).await.body;
        (d["status"] == "enabled" && d["currentIterator"] == "1" && d["failureReason"].is_null()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polling_endpoint_is_paged_by_iterator_and_by_server_kept_consumers_with_its_own_token() {
    let app = spawn_app().await;
    let app_id = new_app(&app).await;
    let d = create_destination(&app, &app_id, json!({"type": "pollingEndpoint", "channels": ["eu"]})).await;
    let id = d["id"].as_str().unwrap().to_string();
    let other = create_destination(&app, &app_id, json!({"type": "pollingEndpoint"})).await;
    let other_id = other["id"].as_str().unwrap().to_string();
    let mut published = vec![];
    for i in 0..7 {
        let body =
            json!({"eventType": if i % 2 == 0 { "even" } else { "odd" }, "payload": {"i": i}, "channels": ["eu"]});
        let r = app.post(&format!("/api/v1/app/{app_id}/msg"), body).await;
        published.push(r.body["id"].as_str().unwrap().to_string());
        let r = app
            .post(&format!("/api/v1/app/{app_id}/msg"), json!({"eventType": "even", "payload": {}, "channels": ["us"]}))
            .await;
        assert_eq!(r.status, 202);
    }
    let poller = format!("/api/v1/app/{app_id}/poller/{id}");
    // Paging by iterator.
    let (mut seen, mut iterator) = (vec![], String::new());
    loop {
        let r = app.get(&format!("{poller}?limit=3&iterator={iterator}")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for m in r.body["data"].as_array().unwrap() {
            seen.push(m["id"].as_str().unwrap().to_string());
            assert_eq!(m["channels"], json!(["eu"]));
        }
        iterator = r.body["iterator"].as_str().unwrap().to_string();
        if r.body["done"] == true {
            break;
        }
        assert_eq!(r.body["data"].as_array().unwrap().len(), 3);
    }
    assert_eq!(seen, published);
    let odd = app.get(&format!("{poller}?event_type=odd")).await.body;
    let odd: Vec<&str> = odd["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(odd, published.iter().skip(1).step_by(2).map(String::as_str).collect::<Vec<_>>());
    let at_end = app.get(&format!("{poller}?iterator={iterator}")).await.body;
    assert_eq!((at_end["data"].as_array().unwrap().len(), at_end["done"].clone()), (0, json!(true)));

    // A consumer's cursor is kept by the server.
    let consumer = format!("{poller}/consumer/worker-1");
    let a = app.get(&format!("{consumer}?limit=4")).await.body;
    let b = app.get(&format!("{consumer}?limit=4")).await.body;
    let ids = |v: &Value| {
        v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!([ids(&a), ids(&b)].concat(), published);
    assert_eq!(ids(&app.get(&consumer).await.body), Vec::<String>::new());
    let seek = app.post(&format!("{consumer}/seek"), json!({"after": "2000-01-01T00:00:00Z"})).await;
    assert_eq!(seek.status, 200, "{:?}", seek.body);
    assert_eq!(ids(&app.get(&format!("{consumer}?limit=2")).await.body), published[..2].to_vec());
    let r = app.post(&format!("{consumer}/seek"), json!({"after": "yesterday"})).await;
    assert_eq!((r.status.as_u16(), loc(&r.body)), (422, vec!["body".to_string(), "after".to_string()]));

    // A poller token reads its polling endpoint only.
    let t = app.get(&format!("/api/v1/auth/app/{app_id}/poller/{id}/token")).await;
    assert_eq!(t.status, 200, "{:?}", t.body);
    let token = t.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("pollsk_"), "{token}");
    assert_eq!(app.get(&format!("/api/v1/auth/app/{app_id}/poller/{id}/token")).await.body["token"], token.as_str());
    let get = |path: String, token: String| {
        let app = &app;
        async move { app.call(reqwest::Method::GET, &path, Some(&token), None).await.status.as_u16() }
    };
    assert_eq!(get(poller.clone(), token.clone()).await, 200);
    assert_eq!(get(format!("{consumer}?limit=1"), token.clone()).await, 200);
    assert_eq!(get(format!("/api/v1/app/{app_id}/poller/{other_id}"), token.clone()).await, 401);
    assert_eq!(get(format!("/api/v1/app/{app_id}/destination"), token.clone()).await, 401);
    assert_eq!(get(format!("/api/v1/app/{app_id}/msg"), token.clone()).await, 401);
    assert_eq!(get("/api/v1/app".into(), token.clone()).await, 401);
    // Rotated with no grace: the old token stops at once, the new one reads.
    let r =
        app.post(&format!("/api/v1/auth/app/{app_id}/poller/{id}/token/rotate"), json!({"oldTokenExpiry": 0})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new = r.body["token"].as_str().unwrap().to_string();
    assert_ne!(new, token);
    assert_eq!(get(poller.clone(), token).await, 401);
    assert_eq!(get(poller.clone(), new).await, 200);
    // Another organization's token does not reach it.
    let stranger = app.other_org_token().await;
    assert_eq!(get(poller.clone(), stranger).await, 404);
    // A FIFO endpoint is not polled.
    let fifo =
        create_destination(&app, &app_id, json!({"type": "fifoEndpoint", "config": {"url": "http://127.0.0.1:9/"}}))
            .await;
    let r = app.get(&format!("/api/v1/app/{app_id}/poller/{}", fifo["id"].as_str().unwrap())).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

const KILL_ENV: [(&str, &str); 3] = [
    ("HOOKD_ADMIN_TOKEN", "dest-token"),
    ("HOOKD_RETRY_SCHEDULE", "100ms,200ms,400ms,800ms"),
    ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true"),
];

/// Every published message, once each in the order published, after dropping batches sent again (at least once).
fn assert_in_order(recv: &Receiver, published: &[String]) {
    let batches = taken(recv, 0);
    let mut seen = std::collections::HashSet::new();
    let mut order = vec![];
    for batch in &batches {
        assert!(batch.windows(2).all(|w| w[0].1 < w[1].1), "a batch in log order: {batch:?}");
        for (id, _) in batch {
            if seen.insert(id.clone()) {
                order.push(id.clone());
            }
        }
    }
    assert_eq!(&order, published, "every message, in publish order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_a_batch_in_flight_loses_nothing_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let recv = Receiver::start().await;
    recv.set_delay(Duration::from_millis(400));
    let hookd = HookdProcess::start(&db, port, &KILL_ENV).await;
    let app_id = post_json(&hookd.base, "dest-token", "/api/v1/app", json!({"name": "kill"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = post_json(
        &hookd.base,
        "dest-token",
        &format!("/api/v1/app/{app_id}/destination"),
        json!({"type": "fifoEndpoint", "batchSize": 5, "config": {"url": recv.url}}),
    )
    .await;
    assert!(d["id"].is_string(), "{d}");
    let mut published = vec![];
    for i in 0..40 {
        let m = post_json(
            &hookd.base,
            "dest-token",
            &format!("/api/v1/app/{app_id}/msg"),
            json!({"eventType": "e", "payload": {"i": i}}),
        )
        .await;
        published.push(m["id"].as_str().unwrap().to_string());
    }
    // Killed while a batch is at the (slow) receiver.
    recv.wait_for(2).await;
    let mut hookd = hookd;
    assert!(std::process::Command::new("kill").args(["-9", &hookd.child.id().to_string()]).status().unwrap().success());
    let _ = hookd.child.wait();
    drop(hookd);
    recv.set_delay(Duration::ZERO);
    let hookd = HookdProcess::start(&db, port, &KILL_ENV).await;
    eventually("every message after the restart", || async {
        let n: std::collections::HashSet<String> = taken(&recv, 0).concat().into_iter().map(|(id, _)| id).collect();
        (n.len() >= published.len()).then_some(())
    })
    .await;
    assert_in_order(&recv, &published);
    drop(hookd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_another_node_takes_over_a_killed_nodes_destination_in_order() {
    if !on_postgres() {
        eprintln!("skipped: needs HOOKD_TEST_STORE=postgres");
        return;
    }
    let env = [("HOOKD_RETRY_SCHEDULE", "100ms,200ms,400ms,800ms")];
    let mut cluster = Cluster::start(1, &env).await;
    let recv = Receiver::start().await;
    recv.set_delay(Duration::from_millis(300));
    let app = cluster.post(0, "/api/v1/app", json!({"name": "multi"})).await.body;
    let app_id = app["id"].as_str().unwrap().to_string();
    let d = cluster
        .post(
            0,
            &format!("/api/v1/app/{app_id}/destination"),
            json!({"type": "fifoEndpoint", "batchSize": 4, "config": {"url": recv.url}}),
        )
        .await;
    assert_eq!(d.status, 201, "{:?}", d.body);
    let mut published = vec![];
    async fn publish(cluster: &Cluster, node: usize, app_id: &str, i: usize) -> String {
        let r = cluster
            .post(node, &format!("/api/v1/app/{app_id}/msg"), json!({"eventType": "e", "payload": {"i": i}}))
            .await;
        r.body["id"].as_str().unwrap().to_string()
    }
    // Node 0 takes the destination (it is alone); then a second node joins.
    for i in 0..4 {
        published.push(publish(&cluster, 0, &app_id, i).await);
    }
    recv.wait_for(1).await;
    let all_env = [("HOOKD_ADMIN_TOKEN", cluster.token), ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true"), env[0]];
    cluster.nodes.push(Some(HookdProcess::start(&cluster.url, free_port(), &all_env).await));
    for i in 4..24 {
        published.push(publish(&cluster, 1, &app_id, i).await);
    }
    // Node 0 is killed with a batch in flight; node 1 takes over once its lease lapses.
    let before = recv.received().len();
    recv.wait_for(before + 1).await;
    cluster.kill(0);
    recv.set_delay(Duration::ZERO);
    for i in 24..30 {
        published.push(publish(&cluster, 1, &app_id, i).await);
    }
    eventually_within("every message from the second node", Duration::from_secs(90), || async {
        let n: std::collections::HashSet<String> = taken(&recv, 0).concat().into_iter().map(|(id, _)| id).collect();
        (n.len() >= published.len()).then_some(())
    })
    .await;
    assert_in_order(&recv, &published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_creates_destinations_and_polls() {
    let app = spawn_app().await;
    let out = tokio::task::spawn_blocking({
        let (base, token, flow) = (app.base.clone(), app.token.clone(), script("node/svix_sdk_destinations.mjs"));
        move || std::process::Command::new("node").arg(flow).arg(base).arg(token).output().unwrap()
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "svix_sdk_destinations.mjs failed:\n{text}");
    assert!(text.contains("SDK DESTINATIONS OK"), "{text}");
}
