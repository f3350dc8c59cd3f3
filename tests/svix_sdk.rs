//! The official Svix SDKs, pointed at hookd, drive the API unchanged. With the Python SDK every webhook it causes
//! is verified with `svix.webhooks.Webhook` and `standardwebhooks.Webhook` (tests/py/svix_sdk_flow.py); with the
//! JavaScript SDK every list method is walked page by page with its filters (tests/node/svix_sdk_flow.mjs), the
//! operational webhook endpoints are managed and their events verified (tests/node/operational_webhook_flow.mjs),
//! replays run as background tasks (tests/node/svix_sdk_replay.mjs), and every other Svix route hookd serves is
//! called (tests/node/svix_sdk_routes.mjs), and endpoint transformations are set, read and run
//! (tests/node/svix_sdk_transform.mjs); event types keep their schemas, OpenAPI documents are imported and payload
//! filters route (tests/node/svix_sdk_catalog.mjs).

mod common;

use common::*;

/// Runs one SDK flow (`program script base token`) against a fresh hookd; it must succeed and print `done`.
/// The flows wait for failing deliveries to use up their retries, so the circuit breaker (which would hold them
/// instead) is off; tests/breaker.rs covers it.
async fn run_flow(program: String, flow: &str, done: &str) {
    let app = spawn_app_with(|c| c.breaker.failures = 0).await;
    let out = tokio::task::spawn_blocking({
        let (base, token, flow) = (app.base.clone(), app.token.clone(), script(flow));
        move || std::process::Command::new(program).arg(flow).arg(base).arg(token).output().unwrap()
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{flow} failed:\n{text}");
    assert!(text.contains(done), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_works_unchanged() {
    run_flow(python(), "py/svix_sdk_flow.py", "SDK FLOW OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_lists_with_every_option() {
    run_flow("node".into(), "node/svix_sdk_flow.mjs", "SDK FLOW OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_manages_operational_webhook_endpoints() {
    run_flow("node".into(), "node/operational_webhook_flow.mjs", "OPS FLOW OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_replays_and_reads_background_tasks() {
    run_flow("node".into(), "node/svix_sdk_replay.mjs", "SDK REPLAY OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_drives_every_other_svix_route() {
    run_flow("node".into(), "node/svix_sdk_routes.mjs", "SDK ROUTES OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_sets_endpoint_transformations() {
    run_flow("node".into(), "node/svix_sdk_transform.mjs", "SDK TRANSFORM OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_keeps_event_type_schemas_imports_openapi_and_filters_payloads() {
    run_flow("node".into(), "node/svix_sdk_catalog.mjs", "SDK CATALOG OK").await;
}
