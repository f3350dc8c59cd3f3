//! The official Svix Python SDK, pointed at hookd, drives the API unchanged; every webhook it causes is
//! verified with `svix.webhooks.Webhook` and `standardwebhooks.Webhook` (tests/py/svix_sdk_flow.py).

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_works_unchanged() {
    let app = spawn_app().await;
    let out = tokio::task::spawn_blocking({
        let (base, token) = (app.base.clone(), app.token.clone());
        move || {
            std::process::Command::new(python())
                .arg(script("py/svix_sdk_flow.py"))
                .arg(base)
                .arg(token)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the SDK flow failed:\n{text}");
    assert!(text.contains("SDK FLOW OK"), "{text}");
}
