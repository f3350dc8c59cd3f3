//! hookd as a Model Context Protocol server, driven by the official MCP client library (PyPI `mcp`,
//! tests/py/mcp_flow.py) over both transports: `hookd mcp` on stdio, and `/mcp` inside `hookd serve`.

mod common;

use std::time::Duration;

use common::{python, run_script, script, spawn_app, spawn_app_with, Receiver, TestApp};
use serde_json::{json, Value};

/// What the flow needs: an application whose endpoint fails its first three deliveries and whose FIFO
/// destination fails its first three batches, a receiver for timer webhooks, and a timer of another organization.
async fn setup(app: &TestApp, transport: &str) -> (Value, Receiver, Receiver, Receiver, Receiver) {
    let (deliveries, timers, relayed) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let batches = Receiver::start().await;
    deliveries.answer(500, 3);
    batches.answer(500, 3);
    let (app_id, _) = app.app_with_endpoint(&deliveries.url, json!({})).await;
    let dst = app
        .post(
            &format!("/api/v1/app/{app_id}/destination"),
            json!({"type": "fifoEndpoint", "batchSize": 10, "config": {"url": batches.url}}),
        )
        .await;
    assert_eq!(dst.status, 201, "{:?}", dst.body);
    let other = app.other_org_token().await;
    let foreign = common::post_json(&app.base, &other, "/timers", json!({"name": "theirs", "duration": "1h"})).await;
    let input = json!({
        "transport": transport,
        "hookd": env!("CARGO_BIN_EXE_hookd"),
        "base": app.base,
        "token": app.token,
        "app": app_id,
        "timer_webhook": timers.url,
        "foreign_timer": foreign["timer"]["id"],
        "registration": github_event(app, &relayed).await,
        "destination": dst.body["id"],
    });
    (input, deliveries, timers, relayed, batches)
}

/// A GitHub registration relaying to an application of its own, and one signed event it accepted (relayed once);
/// returns the registration's id.
async fn github_event(app: &TestApp, relayed: &Receiver) -> String {
    use hmac::Mac;
    let (relay_app, _) = app.app_with_endpoint(&relayed.url, json!({})).await;
    let reg = app
        .post(
            "/integrations/github/webhooks",
            json!({"connectionId": "acme", "events": ["issues.*"], "destination": {"appId": relay_app}}),
        )
        .await;
    assert_eq!(reg.status, 201, "{:?}", reg.body);
    let body = json!({"action": "opened", "issue": {"id": 7, "title": "Checkout fails"}}).to_string();
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(reg.body["webhookSecret"].as_str().unwrap().as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let r = app
        .http
        .post(reg.body["webhookUrl"].as_str().unwrap())
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", "d3b07384-d9a7-4e6b-8a1b-2f0c7e1a9f11")
        .header("x-hub-signature-256", format!("sha256={}", hex::encode(mac.finalize().into_bytes())))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    relayed.wait_for(1).await;
    reg.body["registrationId"].as_str().unwrap().to_string()
}

async fn run_flow(transport: &str) {
    // After the test schedule's two quick retries, a long wait: only the agent's retry_destination ends it.
    let app = spawn_app_with(|c| {
        c.retry_schedule = vec![Duration::from_millis(100), Duration::from_millis(200), Duration::from_secs(600)]
    })
    .await;
    let (input, deliveries, timers, relayed, batches) = setup(&app, transport).await;
    let (ok, out) =
        tokio::task::spawn_blocking(move || run_script(&python(), &script("py/mcp_flow.py"), &input)).await.unwrap();
    assert!(ok && out.contains("mcp flow ok"), "{transport}: {out}");
    // The timer's expiry reached its webhook, signed as MINOOTS signs it.
    let fired = timers.wait_for(1).await;
    assert_eq!(fired[0].json()["event"], "timer_expired", "{:?}", fired[0].json());
    assert!(fired[0].header("x-minoots-signature").starts_with("sha256="));
    // Three failed attempts, then the resend.
    assert_eq!(deliveries.wait_for(4).await.len(), 4);
    // The inbound event, relayed once when it arrived and once more by replay_inbound_event.
    assert_eq!(relayed.wait_for(2).await.len(), 2);
    // The destination's three failed batches, then the one retry_destination sent (600 s before its schedule's).
    let sent = batches.wait_for(4).await;
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[3].json()["data"][0]["eventType"], "deploy.finished", "{:?}", sent[3].json());
}

#[tokio::test]
async fn an_agent_works_over_streamable_http() {
    run_flow("http").await;
}

#[tokio::test]
async fn an_agent_works_over_stdio() {
    run_flow("stdio").await;
}

#[tokio::test]
async fn mcp_over_http_wants_a_token() {
    let app = spawn_app().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    for token in [None, Some("not-a-token")] {
        let mut req = app
            .http
            .post(format!("{}/mcp", app.base))
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "authentication_failed", "{body}");
    }
}

#[tokio::test]
async fn mcp_over_http_answers_a_malformed_body_with_400() {
    let app = spawn_app().await;
    for body in ["{bad", "[]", r#"{"id": 1}"#] {
        let resp = app
            .http
            .post(format!("{}/mcp", app.base))
            .bearer_auth(&app.token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["code"], "invalid_json", "{err}");
    }
}
