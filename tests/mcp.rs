//! hookd as a Model Context Protocol server, driven by the official MCP client library (PyPI `mcp`,
//! tests/py/mcp_flow.py) over both transports: `hookd mcp` on stdio, and `/mcp` inside `hookd serve`.

mod common;

use common::{python, run_script, script, spawn_app, Receiver, TestApp};
use serde_json::{json, Value};

/// What the flow needs: an application whose endpoint fails its first three deliveries, a receiver for timer
/// webhooks, and a timer of another organization.
async fn setup(app: &TestApp, transport: &str) -> (Value, Receiver, Receiver) {
    let (deliveries, timers) = (Receiver::start().await, Receiver::start().await);
    deliveries.answer(500, 3);
    let (app_id, _) = app.app_with_endpoint(&deliveries.url, json!({})).await;
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
    });
    (input, deliveries, timers)
}

async fn run_flow(transport: &str) {
    let app = spawn_app().await;
    let (input, deliveries, timers) = setup(&app, transport).await;
    let (ok, out) =
        tokio::task::spawn_blocking(move || run_script(&python(), &script("py/mcp_flow.py"), &input)).await.unwrap();
    assert!(ok && out.contains("mcp flow ok"), "{transport}: {out}");
    // The timer's expiry reached its webhook, signed as MINOOTS signs it.
    let fired = timers.wait_for(1).await;
    assert_eq!(fired[0].json()["event"], "timer_expired", "{:?}", fired[0].json());
    assert!(fired[0].header("x-minoots-signature").starts_with("sha256="));
    // Three failed attempts, then the resend.
    assert_eq!(deliveries.wait_for(4).await.len(), 4);
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
