//! Bad input gets the right 4xx with a JSON body — never a 5xx.

mod common;

use common::*;
use serde_json::json;

fn assert_json_error(r: &Resp, status: u16, what: &str) {
    assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
    assert!(r.body.is_object(), "{what}: a JSON error body, got {:?}", r.body);
    assert!(r.body.get("detail").is_some(), "{what}: has detail: {:?}", r.body);
}

async fn raw(app: &TestApp, method: reqwest::Method, path: &str, body: &'static str) -> Resp {
    let resp = app
        .http
        .request(method, format!("{}{}", app.base, path))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    Resp { status, body, headers }
}

#[tokio::test]
async fn every_bad_input_gets_its_4xx_with_a_json_body() {
    let app = spawn_app().await;
    let (app_id, ep) = app.app_with_endpoint("https://example.com/h", json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let msg_path = format!("/api/v1/app/{app_id}/msg");

    // Authentication.
    assert_json_error(&app.call(reqwest::Method::GET, "/api/v1/app", None, None).await, 401, "no token");
    assert_json_error(&app.call(reqwest::Method::GET, "/api/v1/app", Some("wrong"), None).await, 401, "wrong token");

    // Malformed JSON, wrong types, missing fields.
    assert_json_error(&raw(&app, reqwest::Method::POST, &msg_path, "{\"eventType\": ").await, 400, "malformed JSON");
    assert_json_error(&raw(&app, reqwest::Method::POST, &msg_path, "[1,2]").await, 422, "an array body");
    assert_json_error(&app.post(&msg_path, json!({"eventType": 5, "payload": {}})).await, 422, "wrong type");
    assert_json_error(&app.post(&msg_path, json!({"payload": {}})).await, 422, "missing eventType");
    assert_json_error(
        &app.post(&msg_path, json!({"eventType": "a b", "payload": {}})).await,
        422,
        "bad eventType characters",
    );
    assert_json_error(
        &app.post(&msg_path, json!({"eventType": "a", "payload": [1]})).await,
        422,
        "payload not an object",
    );
    assert_json_error(
        &app.post(&msg_path, json!({"eventType": "a", "payload": {}, "channels": []})).await,
        422,
        "empty channels",
    );
    assert_json_error(
        &app.post(&msg_path, json!({"eventType": "a", "payload": {}, "deliverAt": "tomorrow"})).await,
        422,
        "bad date",
    );
    assert_json_error(&app.post("/api/v1/app", json!({"name": ""})).await, 422, "empty app name");
    assert_json_error(
        &app.post("/api/v1/app", json!({"name": "x", "throttleRate": -1})).await,
        422,
        "negative throttle",
    );

    // URLs.
    let ep_path = format!("/api/v1/app/{app_id}/endpoint");
    for url in ["not a url", "ftp://example.com/x", "http://", "javascript:alert(1)"] {
        assert_json_error(&app.post(&ep_path, json!({"url": url})).await, 422, url);
    }
    assert_json_error(
        &app.post(&ep_path, json!({"url": "https://example.com", "secret": "short"})).await,
        422,
        "short secret",
    );
    assert_json_error(
        &app.post(&ep_path, json!({"url": "https://example.com", "signature": {"preset": "nope"}})).await,
        422,
        "unknown preset",
    );
    assert_json_error(
        &app.post(&ep_path, json!({"url": "https://example.com", "retrySchedule": ["soon"]})).await,
        422,
        "bad schedule",
    );
    assert_json_error(
        &app.put(&format!("{ep_path}/{ep_id}/headers"), json!({"headers": {"bad header": "x"}})).await,
        422,
        "bad header name",
    );
    assert_json_error(
        &app.post(&format!("{ep_path}/{ep_id}/recover"), json!({"since": "yesterday"})).await,
        422,
        "bad since",
    );
    assert_json_error(
        &app.post(&format!("{ep_path}/{ep_id}/secret/rotate"), json!({"gracePeriodSeconds": 99999999})).await,
        422,
        "grace too long",
    );

    // Unknown ids.
    assert_json_error(&app.get("/api/v1/app/app_nope").await, 404, "unknown app");
    assert_json_error(&app.get(&format!("{ep_path}/ep_nope")).await, 404, "unknown endpoint");
    assert_json_error(&app.get(&format!("{msg_path}/msg_nope")).await, 404, "unknown message");
    assert_json_error(&app.get(&format!("{msg_path}/msg_nope/attempt/atmpt_nope")).await, 404, "unknown attempt");
    assert_json_error(&app.get("/api/v1/nothing-here").await, 404, "unknown route");
    assert_json_error(
        &app.call(reqwest::Method::PATCH, "/api/v1/app", Some(&app.token), None).await,
        405,
        "wrong method",
    );

    // Bad query strings.
    assert_json_error(&app.get("/api/v1/app?limit=many").await, 422, "bad limit");
    assert_json_error(&app.get(&format!("{msg_path}?before=noon")).await, 422, "bad before");
    assert_json_error(
        &app.get(&format!("/api/v1/app/{app_id}/attempt/endpoint/{ep_id}?status_code_class=42")).await,
        422,
        "bad class",
    );

    // Too large.
    let big = format!("{{\"eventType\":\"a\",\"payload\":{{\"x\":\"{}\"}}}}", "a".repeat(2 * 1024 * 1024));
    let r = app
        .http
        .post(format!("{}{msg_path}", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("1048576 bytes") && detail.contains("HOOKD_MAX_BODY_BYTES"), "names the limit: {detail}");

    // Nothing accepted was lost on the way: the endpoint and app are intact.
    assert_eq!(app.get(&format!("{ep_path}/{ep_id}")).await.status, 200);
}

#[tokio::test]
async fn private_destinations_are_refused_unless_allowed() {
    let app = spawn_app_with(|c| c.allow_private_networks = false).await;
    let r = app.post("/api/v1/app", json!({"name": "x"})).await;
    let app_id = r.body["id"].as_str().unwrap();
    let path = format!("/api/v1/app/{app_id}/endpoint");
    for url in [
        "http://127.0.0.1:9/h",
        "http://10.1.2.3/h",
        "http://169.254.169.254/latest",
        "http://[::1]/h",
        "http://192.168.1.1/",
    ] {
        let r = app.post(&path, json!({"url": url})).await;
        assert_eq!(r.status, 422, "{url} should be refused: {:?}", r.body);
    }
    // (Stored, never sent to: tests send nothing off this machine.)
    assert_eq!(app.post(&path, json!({"url": "https://93.184.216.34/h", "disabled": true})).await.status, 201);

    // A name is checked on the addresses it resolves to, when saved (and again when connecting).
    let by_name = app.post(&path, json!({"url": "http://localhost:9/h"})).await;
    assert_eq!(by_name.status, 422, "{:?}", by_name.body);

    // An allow-list opens exactly what it names, and delivery works through it.
    let app2 = spawn_app_with(|c| {
        c.allow_private_networks = false;
        c.allowed_cidrs = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let recv = Receiver::start().await;
    let (app_id, _) = app2.app_with_endpoint(&recv.url, json!({})).await;
    assert_eq!(
        app2.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": "http://10.0.0.1/"})).await.status,
        422
    );
    app2.publish(&app_id, "a.b", json!({})).await;
    recv.wait_for(1).await;
}

/// Errors that say what to do: a 413 names the limit and its setting (on a raw-body route too), a 404 names the
/// kind and id not found, a field in the other case style is named with the one meant (camelCase for the Svix
/// API, snake_case for the bots' and timers'), nested ones too, and a URL without a scheme gets `http://…`.
#[tokio::test]
async fn errors_say_what_to_do() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let r = app.post("/api/v1/app", json!({"name": "x".repeat(5000)})).await;
    assert_json_error(&r, 413, "json route");
    assert!(r.body["detail"].as_str().unwrap().contains("limit of 4096 bytes; raise it with HOOKD_MAX_BODY_BYTES"));
    let (app_id, _) = app.app_with_endpoint("https://example.com/h", json!({})).await;
    let reg = app
        .post(
            "/integrations/github/webhooks",
            json!({"connectionId": "c", "events": ["*"], "destination": {"appId": app_id}}),
        )
        .await;
    assert_eq!(reg.status, 201, "{:?}", reg.body);
    let ingest = format!("/webhooks/{}", reg.body["registrationId"].as_str().unwrap());
    let r = app.call(reqwest::Method::POST, &ingest, None, Some(json!({"x": "y".repeat(5000)}))).await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert!(r.body.to_string().contains("HOOKD_MAX_BODY_BYTES"), "raw route: {:?}", r.body);

    // 404s name what was not found, in Svix's {code, detail}.
    let not_found = |r: &Resp, detail: &str| {
        assert_json_error(r, 404, detail);
        assert_eq!((r.body["code"].as_str(), r.body["detail"].as_str()), (Some("not_found"), Some(detail)));
    };
    not_found(&app.get("/api/v1/app/acme").await, "application `acme` not found");
    not_found(&app.get(&format!("/api/v1/app/{app_id}/endpoint/ep_nope")).await, "endpoint `ep_nope` not found");
    not_found(&app.get(&format!("/api/v1/app/{app_id}/msg/msg_nope")).await, "message `msg_nope` not found");
    not_found(&app.get("/api/v1/event-type/invoice.nope").await, "event type `invoice.nope` not found");
    not_found(&app.get("/timers/timer_nope").await, "timer `timer_nope` not found");
    not_found(&app.get("/webhooks/whr_nope").await, "webhook registration `whr_nope` not found");
    not_found(
        &app.get("/api/v1/operational-webhook/endpoint/ep_nope").await,
        "operational webhook endpoint `ep_nope` not found",
    );

    // The other case style: a hint naming the field meant, for required and optional fields alike.
    let hint = |r: &Resp, loc: serde_json::Value, meant: &str| {
        assert_json_error(r, 422, meant);
        assert_eq!(r.body["detail"][0]["loc"], loc, "{:?}", r.body);
        let msg = r.body["detail"][0]["msg"].as_str().unwrap();
        assert!(msg.contains(&format!("did you mean `{meant}`?")), "{msg}");
    };
    let msg = app.post(&format!("/api/v1/app/{app_id}/msg"), json!({"event_type": "a.b", "payload": {}})).await;
    hint(&msg, json!(["body", "event_type"]), "eventType");
    assert_eq!(msg.body["detail"].as_array().unwrap().len(), 1, "the hint says it all: {:?}", msg.body);
    let ep = json!({"url": "https://example.com/h", "event_types": ["a.b"]});
    hint(&app.post(&format!("/api/v1/app/{app_id}/endpoint"), ep).await, json!(["body", "event_types"]), "eventTypes");
    let bot = app.post("/api/v1/bots", json!({"name": "b", "webhookUrl": "https://example.com/h"})).await;
    assert_eq!(bot.status, 422, "{:?}", bot.body);
    assert!(bot.body["detail"].as_str().unwrap().contains("did you mean `webhook_url`?"), "{:?}", bot.body);
    let timer = json!({"duration": "1h", "events": {"onExpire": {"webhook": "https://example.com/h"}}});
    hint(&app.post("/timers", timer).await, json!(["body", "events", "onExpire"]), "on_expire");
    // A key that is a field under neither name is left alone, as before.
    let r =
        app.post(&format!("/api/v1/app/{app_id}/msg"), json!({"eventType": "a.b", "payload": {}, "my_tag": 1})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);

    // A value of the wrong type: the item names the field, and the message has no line and column.
    let r = app
        .post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": "https://example.com/h", "rateLimit": "x"}))
        .await;
    assert_json_error(&r, 422, "invalid type");
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "rateLimit"]), "{:?}", r.body);
    assert!(!r.body.to_string().contains("at line"), "{:?}", r.body);
    let r = app
        .post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": "https://example.com/h", "channels": ["ok", 7]}))
        .await;
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "channels", "1"]), "{:?}", r.body);
    let r = app.post("/api/v1/app", json!({"uid": "nameless"})).await;
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "name"]), "a missing field is named: {:?}", r.body);

    // A URL without a scheme.
    let r = app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": "localhost:9000/hook"})).await;
    assert_json_error(&r, 422, "no scheme");
    assert!(r.body.to_string().contains("did you mean http://localhost:9000/hook?"), "{:?}", r.body);
}
