//! The dashboard at `/ui/`: the browser flow in Debian's Chromium (driven by npm `playwright-core`), and the
//! session, CSRF and error answers checked over plain HTTP.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use common::ui::*;
use common::*;
use serde_json::json;

/// A receiver that answers its first `failures` requests with 500 and a body the dashboard must show.
async fn flaky_receiver(failures: usize) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let app = axum::Router::new().fallback(move || {
        let count = count.clone();
        async move {
            if count.fetch_add(1, Ordering::SeqCst) < failures {
                (StatusCode::INTERNAL_SERVER_ERROR, "receiver says no: database is down")
            } else {
                (StatusCode::OK, "thanks, got it")
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hooks/orders"), seen)
}

/// Waits until the message's delivery to its one endpoint has given up (status 2, failed).
async fn wait_failed(app: &TestApp, app_id: &str, msg_id: &str) {
    eventually("the delivery to give up", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint")).await;
        (r.body["data"][0]["status"] == 2).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_finds_a_failed_delivery_from_the_overview_and_resends_it() {
    ui::assert_browser_ready();
    let app = spawn_app().await;
    // The first attempt and both retries of the test schedule fail; the resend succeeds.
    let (url, seen) = flaky_receiver(3).await;
    let created = app.post("/api/v1/app", json!({"name": "Storefront"})).await;
    let app_id = created.body["id"].as_str().unwrap().to_string();
    let ep = app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": url, "description": "Orders"})).await;
    assert_eq!(ep.status, 201, "{:?}", ep.body);
    let ep_id = ep.body["id"].as_str().unwrap().to_string();
    // Sent as text, so that its keys are in this order (not a map's): the page must keep it.
    let body = concat!(
        r#"{"eventType":"order.created","payload":"#,
        r#"{"orderId":"ord_1042","total":{"amount":4999,"currency":"EUR"},"customer":"cus_77"}}"#
    );
    let msg = app
        .http
        .post(format!("{}/api/v1/app/{app_id}/msg", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(msg.status(), 202);
    let msg: serde_json::Value = msg.json().await.unwrap();
    let msg_id = msg["id"].as_str().unwrap().to_string();
    wait_failed(&app, &app_id, &msg_id).await;
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    // Something to fill the screenshots' lists: a healthy application with a few delivered messages.
    let (healthy_url, healthy_seen) = flaky_receiver(0).await;
    let billing = app.post("/api/v1/app", json!({"name": "Billing"})).await.body["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/app/{billing}/endpoint"), json!({"url": healthy_url})).await;
    for i in 0..3 {
        app.publish(&billing, "invoice.paid", json!({"invoice": format!("in_{i}")})).await;
    }
    eventually("the healthy deliveries", || async { (healthy_seen.load(Ordering::SeqCst) >= 3).then_some(()) }).await;

    let other = app.other_org_token().await;
    let theirs = app.call(reqwest::Method::POST, "/api/v1/app", Some(&other), Some(json!({"name": "theirs"}))).await;
    let other_app = theirs.body["id"].as_str().unwrap().to_string();

    let input = json!({
        "base": app.base,
        "token": app.token,
        "appId": app_id,
        "endpointId": ep_id,
        "msgId": msg_id,
        "otherAppId": other_app,
        "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok(),
    });
    let (ok, out) = run_script("node", &script("node/dashboard_flow.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("dashboard flow passed"), "{out}");
    // The resend reached the receiver, which answered 200 this time.
    assert_eq!(seen.load(Ordering::SeqCst), 4);
    let attempts = app.get(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}")).await;
    assert_eq!(attempts.body["data"][0]["responseStatusCode"], 200, "{:?}", attempts.body);
}

// ── over plain HTTP ──

#[tokio::test]
async fn a_wrong_token_shows_the_form_again_with_an_error() {
    let app = spawn_app().await;
    for token in ["hk_not-a-real-token", ""] {
        let r = client().post(format!("{}/ui/login", app.base)).form(&[("token", token)]).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("set-cookie").is_none());
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = r.text().await.unwrap();
        assert!(html.contains("type=\"password\""), "{html}");
        assert!(html.contains("class=\"error\""), "{html}");
    }
    // A form that is not a form at all is a 4xx too, not a 500.
    let r = client()
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
}

#[tokio::test]
async fn the_session_cookie_is_httponly_and_strict_and_logout_ends_it() {
    let app = spawn_app().await;
    // Without a session every page sends the browser to the login form.
    let (status, _, _) = page(&app, "", "/ui/apps").await;
    assert_eq!(status, 303);
    let (cookie, set) = log_in(&app, &app.token).await;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(flag), "{set}");
    }
    let (status, kind, html) = page(&app, &cookie, "/ui/").await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/html"));
    assert!(html.contains("Overview"));
    let csrf = csrf_of(&html);
    // Logging out needs the form's token too.
    assert_eq!(post_form(&app, &cookie, "/ui/logout", &[]).await.status(), 403);
    let r = post_form(&app, &cookie, "/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/login");
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let (status, _, _) = page(&app, &cookie, "/ui/").await;
    assert_eq!(status, 303, "the old cookie no longer opens a session");
}

#[tokio::test]
async fn actions_need_the_sessions_csrf_token() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&rx.url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let msg = app.publish(&app_id, "user.signup", json!({"n": 1})).await;
    let msg_id = msg["id"].as_str().unwrap();
    rx.wait_for(1).await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let (status, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}/endpoints/{ep_id}")).await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);

    let state = format!("/ui/apps/{app_id}/endpoints/{ep_id}/state");
    let resend = format!("/ui/apps/{app_id}/messages/{msg_id}/resend");
    let portal_link = format!("/ui/apps/{app_id}/portal-link");
    for (path, form) in [
        (&state, vec![("disabled", "true")]),
        (&state, vec![("disabled", "true"), ("csrf", "forged")]),
        (&resend, vec![("endpoint", ep_id)]),
        (&portal_link, vec![("access", "read")]),
    ] {
        let r = post_form(&app, &cookie, path, &form).await;
        assert_eq!(r.status(), 403, "{path} {form:?}");
        assert!(r.text().await.unwrap().contains("403"));
    }
    // A post from another site is refused even with the token.
    let r = client()
        .post(format!("{}{state}", app.base))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("disabled", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}")).await.body["disabled"], false);

    // With the token the action is done.
    let r = post_form(&app, &cookie, &state, &[("csrf", &csrf), ("disabled", "true")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}")).await.body["disabled"], true);
    let (_, _, html) = page(&app, &cookie, "/ui/").await;
    assert!(html.contains(&format!("/ui/apps/{app_id}/endpoints/{ep_id}")), "the overview lists it as disabled");
    let r = post_form(&app, &cookie, &state, &[("csrf", &csrf), ("disabled", "false")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}")).await.body["disabled"], false);
    let r = post_form(&app, &cookie, &resend, &[("csrf", &csrf), ("endpoint", ep_id)]).await;
    assert_eq!(r.status(), 303);
    rx.wait_for(2).await;
    // A portal link's access is one of the two offered; anything else is refused, not taken for full access.
    let r = post_form(&app, &cookie, &portal_link, &[("csrf", &csrf), ("access", "everything")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("manage or read"));
    let r = post_form(&app, &cookie, "/ui/apps/app_nope/portal-link", &[("csrf", &csrf), ("access", "read")]).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn unknown_ids_and_other_organizations_data_are_not_found_pages() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&rx.url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let msg = app.publish(&app_id, "user.signup", json!({"n": 1})).await;
    let msg_id = msg["id"].as_str().unwrap();
    let other = app.other_org_token().await;
    let (cookie, _) = log_in(&app, &other).await;
    // The other organization sees none of the first one's data, whichever way it asks.
    for path in [
        format!("/ui/apps/{app_id}"),
        format!("/ui/apps/{app_id}/endpoints/{ep_id}"),
        format!("/ui/apps/{app_id}/messages/{msg_id}"),
        "/ui/apps/app_nope".to_string(),
        "/ui/no/such/page".to_string(),
    ] {
        let (status, kind, html) = page(&app, &cookie, &path).await;
        assert_eq!(status, 404, "{path}");
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        assert!(html.contains("Not Found"), "{path}: {html}");
    }
    let (_, _, html) = page(&app, &cookie, "/ui/apps").await;
    assert!(!html.contains(&app_id), "another organization's application is listed");
    let (_, _, html) = page(&app, &cookie, "/ui/").await;
    assert!(!html.contains(&rx.url));
    // The owner's session does see them, and unknown ids under its own application are 404 too.
    let (cookie, _) = log_in(&app, &app.token).await;
    assert_eq!(page(&app, &cookie, &format!("/ui/apps/{app_id}/messages/{msg_id}")).await.0, 200);
    for path in [format!("/ui/apps/{app_id}/endpoints/ep_nope"), format!("/ui/apps/{app_id}/messages/msg_nope")] {
        assert_eq!(page(&app, &cookie, &path).await.0, 404, "{path}");
    }
    // An eventId or id search that finds nothing says so; one that does goes to the message.
    let (status, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}?q=nothing-like-it")).await;
    assert_eq!(status, 200);
    assert!(html.contains("No message nothing-like-it"));
    let (status, _, _) = page(&app, &cookie, &format!("/ui/apps/{app_id}?q={msg_id}")).await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn recover_sends_an_endpoints_failed_messages_again() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    rx.answer(500, 3);
    let (app_id, ep) = app.app_with_endpoint(&rx.url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let msg = app.publish(&app_id, "user.signup", json!({"n": 1})).await;
    wait_failed(&app, &app_id, msg["id"].as_str().unwrap()).await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let path = format!("/ui/apps/{app_id}/endpoints/{ep_id}");
    let csrf = csrf_of(&page(&app, &cookie, &path).await.2);
    let recover = format!("{path}/recover");
    assert_eq!(post_form(&app, &cookie, &recover, &[("hours", "24")]).await.status(), 403);
    for hours in ["0", "10000", "soon"] {
        let r = post_form(&app, &cookie, &recover, &[("csrf", &csrf), ("hours", hours)]).await;
        assert!(r.status().is_client_error(), "{hours}: {}", r.status());
    }
    let r = post_form(&app, &cookie, &recover, &[("csrf", &csrf), ("hours", "24")]).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.ends_with("?recovered=1"), "{location}");
    rx.wait_for(4).await;
    let (status, _, html) = page(&app, &cookie, &location).await;
    assert_eq!(status, 200);
    assert!(html.contains("Recover queued 1 failed delivery"), "{html}");
}
