//! Operational webhooks (`/api/v1/operational-webhook/endpoint`): each event arrives at a real receiver, in
//! Svix's `{type, data}` envelope, signed with the operational endpoint's own secret — checked with the official
//! libraries (`svix.webhooks.Webhook` and `standardwebhooks.Webhook`).

mod common;

use std::time::Duration;

use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

/// An operational endpoint at a new receiver; returns the receiver, the endpoint and its secret.
async fn operational_endpoint(app: &TestApp, extra: Value) -> (Receiver, Value, String) {
    let recv = Receiver::start().await;
    let mut body = json!({"url": recv.url, "description": "ops"});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let r = app.post("/api/v1/operational-webhook/endpoint", body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let secret = app.get(&format!("/api/v1/operational-webhook/endpoint/{id}/secret")).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("whsec_"));
    (recv, r.body, secret)
}

/// Waits for the operational event `event_type` (matching `pick`), checks its signature with the official
/// libraries, and returns its data.
async fn event(recv: &Receiver, secret: &str, event_type: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let got = eventually(&format!("the {event_type} event"), || async {
        recv.received().into_iter().find(|r| r.json()["type"] == event_type && pick(&r.json()["data"]))
    })
    .await;
    let headers: serde_json::Map<String, Value> =
        got.headers.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap().to_string()))).collect();
    let input = json!({"body": String::from_utf8(got.body.to_vec()).unwrap(), "headers": headers, "secret": secret});
    let (ok, out) = run_script(&python(), &script("py/verify_standard.py"), &input);
    assert!(ok, "the official libraries refused the {event_type} signature: {out}");
    let mut wrong = input.clone();
    wrong["secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert!(!run_script(&python(), &script("py/verify_standard.py"), &wrong).0, "another secret must not verify");
    let body = got.json();
    assert_eq!(body.as_object().unwrap().len(), 2, "the envelope is {{type, data}}: {body}");
    body["data"].clone()
}

fn any(_: &Value) -> bool {
    true
}

#[tokio::test]
async fn endpoint_changes_arrive_signed_with_the_operational_endpoints_secret() {
    let app = spawn_app().await;
    let (ops, _, secret) = operational_endpoint(&app, json!({})).await;
    let target = Receiver::start().await;
    let created = app.post("/api/v1/app", json!({"name": "shop", "uid": "shop"})).await.body;
    let app_id = created["id"].as_str().unwrap();
    let ep =
        app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": target.url, "uid": "orders"})).await.body;
    let ep_id = ep["id"].as_str().unwrap();
    let path = format!("/api/v1/app/{app_id}/endpoint/{ep_id}");

    let data = event(&ops, &secret, "endpoint.created", any).await;
    assert_eq!(
        data,
        json!({"appId": app_id, "appUid": "shop", "endpointId": ep_id, "endpointUid": "orders"}),
        "Svix's EndpointCreatedEventData"
    );
    assert_eq!(app.patch(&path, json!({"description": "orders"})).await.status, 200);
    let data = event(&ops, &secret, "endpoint.updated", any).await;
    assert_eq!(data["endpointId"], ep_id);

    assert_eq!(app.patch(&path, json!({"disabled": true})).await.status, 200);
    let data = event(&ops, &secret, "endpoint.disabled", any).await;
    assert_eq!((data["endpointId"].as_str(), data["trigger"].as_str()), (Some(ep_id), Some("manual")));
    assert!(data["failSince"].as_str().unwrap().ends_with('Z'), "{data}");
    assert_eq!(app.put(&path, json!({"url": target.url, "uid": "orders", "disabled": false})).await.status, 200);
    let data = event(&ops, &secret, "endpoint.enabled", any).await;
    assert_eq!((data["appUid"].as_str(), data["endpointUid"].as_str()), (Some("shop"), Some("orders")));

    assert_eq!(app.delete(&path).await.status, 204);
    let data = event(&ops, &secret, "endpoint.deleted", any).await;
    assert_eq!(data["endpointId"], ep_id);

    // The operational application is nobody's to see: not in the application list, not addressable.
    let apps = app.get("/api/v1/app").await.body;
    assert_eq!(apps["data"].as_array().unwrap().len(), 1, "{apps}");
    assert_eq!(app.get("/api/v1/app/operational").await.status, 404);
    // Its own endpoint's deliveries are not themselves reported.
    assert!(ops.received().iter().all(|r| r.json()["data"]["appId"] == app_id));
}

#[tokio::test]
async fn failing_recovered_and_exhausted_follow_the_deliveries() {
    let app = spawn_app().await;
    let (ops, _, secret) = operational_endpoint(&app, json!({})).await;
    let (flaky, dead) = (Receiver::start().await, Receiver::start().await);
    flaky.answer(500, 4);
    dead.answer(503, 100);
    let created = app.post("/api/v1/app", json!({"name": "shop"})).await.body;
    let app_id = created["id"].as_str().unwrap();
    let schedule = |n| json!(vec!["10ms"; n]);
    let flaky_ep = app
        .post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": flaky.url, "retrySchedule": schedule(5)}))
        .await
        .body;
    let dead_ep = app
        .post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": dead.url, "retrySchedule": schedule(4)}))
        .await
        .body;
    let (flaky_id, dead_id) = (flaky_ep["id"].as_str().unwrap(), dead_ep["id"].as_str().unwrap());
    let msg = app
        .post(
            &format!("/api/v1/app/{app_id}/msg"),
            json!({"eventType": "order.paid", "eventId": "order-1", "payload": {"n": 1}}),
        )
        .await
        .body;
    let msg_id = msg["id"].as_str().unwrap();

    // The flaky endpoint fails four times (failing, on the fourth), then succeeds (recovered).
    let failing = event(&ops, &secret, "message.attempt.failing", |d| d["endpointId"] == flaky_id).await;
    assert_eq!((failing["msgId"].as_str(), failing["msgEventId"].as_str()), (Some(msg_id), Some("order-1")));
    assert_eq!((failing["appId"].as_str(), &failing["appUid"]), (Some(app_id), &Value::Null));
    assert_eq!(failing["lastAttempt"]["responseStatusCode"], 500);
    assert!(failing["lastAttempt"]["id"].as_str().unwrap().starts_with("atmpt_"));
    assert!(failing["lastAttempt"]["timestamp"].is_string());
    let recovered = event(&ops, &secret, "message.attempt.recovered", |d| d["endpointId"] == flaky_id).await;
    assert_eq!(recovered["lastAttempt"]["responseStatusCode"], 200);
    assert_eq!(flaky.received().len(), 5);

    // The dead endpoint fails its five attempts: failing on the fourth, exhausted on the fifth.
    event(&ops, &secret, "message.attempt.failing", |d| d["endpointId"] == dead_id).await;
    let exhausted = event(&ops, &secret, "message.attempt.exhausted", |d| d["endpointId"] == dead_id).await;
    assert_eq!(exhausted["msgId"], msg_id);
    assert_eq!(exhausted["lastAttempt"]["responseStatusCode"], 503);
    // The attempt it names is the last one recorded.
    eventually("the last attempt to be the one named", || async {
        let attempts = app.get(&format!("/api/v1/app/{app_id}/attempt/endpoint/{dead_id}")).await.body;
        (attempts["data"][0]["id"] == exhausted["lastAttempt"]["id"]).then_some(())
    })
    .await;
    // Once each, and nothing for a delivery that neither failed four times nor gave up.
    let count = |t: &str| ops.received().iter().filter(|r| r.json()["type"] == t).count();
    assert_eq!((count("message.attempt.failing"), count("message.attempt.recovered")), (2, 1));
    assert_eq!(count("message.attempt.exhausted"), 1);
}

#[tokio::test]
async fn an_automatically_disabled_endpoint_is_reported_and_event_types_filter() {
    let app = spawn_app().await;
    // This one hears only about disabled endpoints.
    let (ops, _, secret) = operational_endpoint(&app, json!({"eventTypes": ["endpoint.disabled"]})).await;
    let gone = Receiver::start().await;
    gone.answer(410, 1);
    let (app_id, ep) = app.app_with_endpoint(&gone.url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    app.publish(&app_id, "a.b", json!({})).await;
    let data = event(&ops, &secret, "endpoint.disabled", any).await;
    assert_eq!((data["endpointId"].as_str(), data["trigger"].as_str()), (Some(ep_id), Some("automatic")));
    assert!(data["failSince"].is_string());
    assert!(ops.received().iter().all(|r| r.json()["type"] == "endpoint.disabled"), "filtered by eventTypes");
}

#[tokio::test]
async fn an_inbound_registration_turning_unhealthy_is_reported() {
    let app = spawn_app().await;
    let (ops, _, secret) = operational_endpoint(&app, json!({})).await;
    let reg = app.post("/integrations/github/webhooks", json!({"connectionId": "c", "events": ["*"]})).await;
    assert_eq!(reg.status, 201, "{:?}", reg.body);
    let id = reg.body["registrationId"].as_str().unwrap();
    let github_secret = reg.body["webhookSecret"].as_str().unwrap();
    let send = |signed_with: &str, n: usize| {
        let url = reg.body["webhookUrl"].as_str().unwrap().to_string();
        let signed_with = signed_with.to_string();
        let http = app.http.clone();
        async move {
            let body =
                json!({"action": "opened", "issue": {"id": n, "number": n}, "repository": {"id": 9}}).to_string();
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(signed_with.as_bytes()).unwrap();
            mac.update(body.as_bytes());
            let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .header("x-github-event", "issues")
                .header("x-github-delivery", format!("d-{n}"))
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };
    // Twenty good events, then one bad: 1 failure in a row, under 5 % — degraded.
    for n in 0..20 {
        assert_eq!(send(github_secret, n).await, 200);
    }
    assert!(ops.received().is_empty(), "healthy: nothing to report");
    assert_eq!(send("whsec_wrong", 100).await, 401);
    let data = event(&ops, &secret, "inbound.registration.failing", |d| d["status"] == "degraded").await;
    assert_eq!((data["registrationId"].as_str(), data["integrationId"].as_str()), (Some(id), Some("github")));
    assert_eq!((data["previousStatus"].as_str(), data["failureCount"].as_i64()), (Some("healthy"), Some(1)));
    // The second failure changes nothing; the third in a row makes it failed.
    assert_eq!(send("whsec_wrong", 101).await, 401);
    assert_eq!(send("whsec_wrong", 102).await, 401);
    let data = event(&ops, &secret, "inbound.registration.failing", |d| d["status"] == "failed").await;
    assert_eq!((data["previousStatus"].as_str(), data["failureCount"].as_i64()), (Some("degraded"), Some(3)));
    assert_eq!(ops.received().len(), 2, "one event per change of health");
}

#[tokio::test]
async fn a_timer_webhook_that_used_up_its_retries_is_reported() {
    let app =
        spawn_app_with(|c| c.timer_retry_schedule = vec![Duration::from_millis(10), Duration::from_millis(10)]).await;
    let (ops, _, secret) = operational_endpoint(&app, json!({})).await;
    let hook = Receiver::start().await;
    hook.answer(500, 100);
    let body = json!({"name": "build", "duration": 50, "events": {"on_expire": {"webhook": hook.url}}});
    let resp =
        app.http.post(format!("{}/timers", app.base)).header("x-api-key", &app.token).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let timer_id = resp.json::<Value>().await.unwrap()["timer"]["id"].as_str().unwrap().to_string();
    let data = event(&ops, &secret, "timer.webhook.exhausted", any).await;
    assert_eq!(data["payload"]["timer"]["id"], timer_id, "{data}");
    assert_eq!(data["payload"]["event"], "timer_expired");
    assert_eq!(data["lastAttempt"]["responseStatusCode"], 500);
    assert_eq!(hook.received().len(), 3);
    assert!(
        ops.received().iter().all(|r| r.json()["type"] != "message.attempt.exhausted"),
        "reported once, as a timer's"
    );
}

#[tokio::test]
async fn operational_endpoints_crud_stays_within_the_organization() {
    let app = spawn_app().await;
    let base = "/api/v1/operational-webhook/endpoint";
    assert_eq!(app.get(base).await.body["data"], json!([]), "none before the first");
    let (_, ep, secret) = operational_endpoint(&app, json!({"uid": "pager", "headers": {"X-Team": "ops"}})).await;
    let id = ep["id"].as_str().unwrap();
    assert_eq!((ep["uid"].as_str(), ep["disabled"].as_bool()), (Some("pager"), Some(false)));
    for key in ["id", "url", "description", "createdAt", "updatedAt", "metadata", "eventTypes", "throttleRate"] {
        assert!(ep.get(key).is_some(), "{key} missing from {ep}");
    }
    assert_eq!(app.get(&format!("{base}/pager")).await.body["id"], id, "addressable by uid");
    assert_eq!(app.get(&format!("{base}/{id}/headers")).await.body["headers"], json!({"X-Team": "ops"}));
    let upd = app.put(&format!("{base}/{id}"), json!({"url": ep["url"], "description": "paging"})).await;
    assert_eq!((upd.status.as_u16(), upd.body["description"].as_str()), (200, Some("paging")));
    let made = app.put(&format!("{base}/second"), json!({"url": ep["url"]})).await;
    assert_eq!((made.status.as_u16(), made.body["uid"].as_str()), (201, Some("second")));
    assert_eq!(app.get(base).await.body["data"].as_array().unwrap().len(), 2);

    let rotated = app.post(&format!("{base}/{id}/secret/rotate"), json!({})).await;
    assert_eq!(rotated.status, 204);
    let new_secret = app.get(&format!("{base}/{id}/secret")).await.body["key"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    assert_eq!(app.put(&format!("{base}/{id}/headers"), json!({"headers": {"bad header": "x"}})).await.status, 422);
    assert_eq!(app.post(base, json!({"url": "not a url"})).await.status, 422);
    assert_eq!(app.post(base, json!({"url": ep["url"], "secret": "short"})).await.status, 422);

    // Another organization sees none of it.
    let other = app.other_org_token().await;
    let r = app.call(reqwest::Method::GET, base, Some(&other), None).await;
    assert_eq!(r.body["data"], json!([]));
    let r = app.call(reqwest::Method::GET, &format!("{base}/{id}"), Some(&other), None).await;
    assert_eq!(r.status, 404);
    assert_eq!(app.call(reqwest::Method::GET, base, None, None).await.status, 401);

    assert_eq!(app.delete(&format!("{base}/{id}")).await.status, 204);
    assert_eq!(app.get(&format!("{base}/{id}")).await.status, 404);
}
