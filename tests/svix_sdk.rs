//! The official Svix SDKs, pointed at hookd, drive the API unchanged. With the Python SDK every webhook it causes
//! is verified with `svix.webhooks.Webhook` and `standardwebhooks.Webhook` (tests/py/svix_sdk_flow.py); with the
//! JavaScript SDK every list method is walked page by page with its filters (tests/node/svix_sdk_flow.mjs), and
//! replays run as background tasks (tests/node/svix_sdk_replay.mjs).

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_lists_with_every_option() {
    let app = spawn_app().await;
    let out = tokio::task::spawn_blocking({
        let (base, token) = (app.base.clone(), app.token.clone());
        move || {
            std::process::Command::new("node")
                .arg(script("node/svix_sdk_flow.mjs"))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_replays_and_reads_background_tasks() {
    let app = spawn_app().await;
    let out = tokio::task::spawn_blocking({
        let (base, token) = (app.base.clone(), app.token.clone());
        move || {
            std::process::Command::new("node")
                .arg(script("node/svix_sdk_replay.mjs"))
                .arg(base)
                .arg(token)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the SDK replay flow failed:\n{text}");
    assert!(text.contains("SDK REPLAY OK"), "{text}");
}
