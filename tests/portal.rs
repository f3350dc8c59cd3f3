//! The app portal: `POST /api/v1/auth/app-portal-access/{app_id}`, what its token reaches on the API (one
//! application, as far as its capabilities allow), expiry, logout and expire-all; then the portal page in
//! Debian's Chromium, opened from a link the official JavaScript SDK made, alone and inside an iframe of a page
//! on another site.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A portal token for `app` (id or uid) with `body` as the request; returns (token, url).
async fn portal_link(app: &TestApp, key: &str, body: Value) -> (String, String) {
    let r = app.post(&format!("/api/v1/auth/app-portal-access/{key}"), body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    let url = r.body["url"].as_str().unwrap().to_string();
    (token, url)
}

async fn with(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app.call(method, path, Some(token), body).await
}

/// `status` with a JSON error body.
fn refused(r: &Resp, status: u16, what: &str) {
    assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
    assert!(r.body["code"].is_string() && r.body["detail"].is_string(), "{what}: a JSON error, got {:?}", r.body);
}

struct World {
    app_id: String,
    ep_id: String,
    msg_id: String,
    other_app: String,
    other_ep: String,
    foreign_app: String,
}

/// "acme" with an endpoint and a message, a second application of the same organization, and one of another
/// organization.
async fn world(app: &TestApp) -> World {
    let receiver = Receiver::start().await;
    let created = app.post("/api/v1/app", json!({"name": "Acme", "uid": "acme"})).await;
    let app_id = created.body["id"].as_str().unwrap().to_string();
    let ep = app.post("/api/v1/app/acme/endpoint", json!({"url": format!("{}/acme", receiver.url)})).await;
    let ep_id = ep.body["id"].as_str().unwrap().to_string();
    let msg_id = app.publish("acme", "invoice.paid", json!({"n": 1})).await["id"].as_str().unwrap().to_string();
    receiver.wait_for(1).await;
    let (other_app, other_ep) = app.app_with_endpoint(&format!("{}/other", receiver.url), json!({})).await;
    let other_ep = other_ep["id"].as_str().unwrap().to_string();
    let stranger = app.other_org_token().await;
    let theirs = app.call(Method::POST, "/api/v1/app", Some(&stranger), Some(json!({"name": "theirs"}))).await;
    let foreign_app = theirs.body["id"].as_str().unwrap().to_string();
    World { app_id, ep_id, msg_id, other_app, other_ep, foreign_app }
}

#[tokio::test]
async fn a_portal_token_reaches_only_its_application() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (token, url) = portal_link(&app, "acme", json!({})).await;
    assert!(token.starts_with("appsk_") && token.len() > 40, "{token}");
    assert_eq!(url, format!("{}/portal/#key={token}", app.base));

    // Stored as its hash only.
    let hash = hex::encode(hookd::api::auth::hash_token(&token));
    let stored = app.ctx.store.doc_get_any(hookd::store::DocKind::PortalToken, &hash).await.unwrap();
    let stored = stored.expect("the token's hash is stored");
    assert!(!stored.data.contains(&token), "the token itself is not stored");
    assert_eq!(stored.parent, w.app_id);

    // Its application, by id and by uid: endpoints, messages, attempts, the application itself.
    for key in ["acme", w.app_id.as_str()] {
        let eps = with(&app, &token, Method::GET, &format!("/api/v1/app/{key}/endpoint"), None).await;
        assert_eq!(eps.status, 200, "{:?}", eps.body);
        assert_eq!(eps.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(eps.body["data"][0]["id"], w.ep_id.as_str());
    }
    let msgs = with(&app, &token, Method::GET, "/api/v1/app/acme/msg", None).await;
    assert_eq!(msgs.body["data"][0]["id"], w.msg_id.as_str(), "{:?}", msgs.body);
    let attempts = with(&app, &token, Method::GET, &format!("/api/v1/app/acme/attempt/msg/{}", w.msg_id), None).await;
    assert_eq!(attempts.body["data"][0]["responseStatusCode"], 200, "{:?}", attempts.body);
    assert_eq!(with(&app, &token, Method::GET, "/api/v1/app/acme", None).await.body["name"], "Acme");
    assert_eq!(with(&app, &token, Method::GET, "/api/v1/event-type", None).await.status, 200);
    let session = with(&app, &token, Method::GET, "/portal/session", None).await;
    assert_eq!(session.body["appId"], w.app_id.as_str(), "{:?}", session.body);
    assert_eq!(session.body["capabilities"].as_array().unwrap().len(), 6, "all capabilities by default");

    // Another application of the organization, or of another organization: not found.
    for other in [&w.other_app, &w.foreign_app] {
        for path in [
            format!("/api/v1/app/{other}"),
            format!("/api/v1/app/{other}/endpoint"),
            format!("/api/v1/app/{other}/msg"),
        ] {
            refused(&with(&app, &token, Method::GET, &path, None).await, 404, &path);
        }
        let create = format!("/api/v1/app/{other}/endpoint");
        refused(
            &with(&app, &token, Method::POST, &create, Some(json!({"url": "https://example.com/x"}))).await,
            404,
            &create,
        );
    }
    // Another application's endpoint under its own application's path: not found either.
    let path = format!("/api/v1/app/acme/endpoint/{}", w.other_ep);
    refused(&with(&app, &token, Method::GET, &path, None).await, 404, &path);

    // Everything outside the application's endpoints, messages and attempts: refused.
    let forbidden: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/app".into(), None),
        (Method::POST, "/api/v1/app".into(), Some(json!({"name": "mine now"}))),
        (Method::PUT, "/api/v1/app/acme".into(), Some(json!({"name": "renamed"}))),
        (Method::DELETE, "/api/v1/app/acme".into(), None),
        (Method::POST, "/api/v1/app/acme/msg".into(), Some(json!({"eventType": "x", "payload": {}}))),
        (Method::DELETE, format!("/api/v1/app/acme/msg/{}/content", w.msg_id), None),
        (Method::POST, "/api/v1/event-type".into(), Some(json!({"name": "x.y", "description": "x"}))),
        (Method::POST, "/api/v1/auth/app-portal-access/acme".into(), Some(json!({}))),
        (Method::POST, format!("/api/v1/auth/app/{}/expire-all", w.app_id), Some(json!({}))),
        (Method::GET, "/api/v1/background-task".into(), None),
        (Method::GET, "/api/v1/operational-webhook/endpoint".into(), None),
        (Method::GET, "/timers".into(), None),
        (Method::GET, "/webhooks".into(), None),
        (Method::GET, "/api/v1/bots".into(), None),
    ];
    for (method, path, body) in forbidden {
        refused(&with(&app, &token, method.clone(), &path, body).await, 403, &format!("{method} {path}"));
    }
    let r = app.http.get(format!("{}/timers", app.base)).header("x-api-key", &token).send().await.unwrap();
    assert_eq!(r.status(), 403, "a portal token as x-api-key is the same token");
    // The portal's page may be framed by any site; the operator dashboard may not.
    let page = app.http.get(format!("{}/portal/", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().get("x-frame-options").is_none());
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors *"));
    let dashboard = app.http.get(format!("{}/ui/login", app.base)).send().await.unwrap();
    assert_eq!(dashboard.headers()["x-frame-options"], "DENY");
    // The dashboard does not take it as a login.
    let login = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = login.post(format!("{}/ui/login", app.base)).form(&[("token", token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // With every capability: its endpoints can be created (also with the SDKs' Idempotency-Key), changed,
    // their secrets read and rotated, messages resent.
    let created = app
        .http
        .post(format!("{}/api/v1/app/acme/endpoint", app.base))
        .bearer_auth(&token)
        .header("idempotency-key", "portal-create-1")
        .json(&json!({"url": "https://example.com/portal-made"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let new_ep = created["id"].as_str().unwrap();
    let ep_path = format!("/api/v1/app/acme/endpoint/{new_ep}");
    let patched = with(&app, &token, Method::PATCH, &ep_path, Some(json!({"description": "mine"}))).await;
    assert_eq!(patched.body["description"], "mine", "{:?}", patched.body);
    assert_eq!(with(&app, &token, Method::GET, &format!("{ep_path}/secret"), None).await.status, 200);
    assert_eq!(
        with(&app, &token, Method::POST, &format!("{ep_path}/secret/rotate"), Some(json!({}))).await.status,
        200
    );
    let resend = format!("/api/v1/app/acme/msg/{}/endpoint/{}/resend", w.msg_id, w.ep_id);
    assert_eq!(with(&app, &token, Method::POST, &resend, None).await.status, 202);
    assert_eq!(with(&app, &token, Method::DELETE, &ep_path, None).await.status, 204);
}

#[tokio::test]
async fn capabilities_decide_what_a_portal_token_may_do() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let ep = format!("/api/v1/app/acme/endpoint/{}", w.ep_id);
    let secret = format!("{ep}/secret");
    let rotate = format!("{ep}/secret/rotate");
    let resend = format!("/api/v1/app/acme/msg/{}/endpoint/{}/resend", w.msg_id, w.ep_id);
    let create = "/api/v1/app/acme/endpoint".to_string();
    let new_ep = || Some(json!({"url": "https://example.com/new"}));
    let attempts = |p: &str| (Method::POST, p.to_string(), None::<Value>);

    // (request, which capability lists allow it)
    let view_only = json!({"capabilities": ["ViewBase"]});
    let read_only = json!({"readOnly": true});
    let see_secret = json!({"capabilities": ["ViewEndpointSecret"]});
    let manage_secret = json!({"capabilities": ["ViewBase", "ManageEndpointSecret"]});
    let create_attempts = json!({"capabilities": ["CreateAttempts"]});
    let manage = json!({"capabilities": ["ManageEndpoint"]});
    let transformations = json!({"capabilities": ["ManageTransformations"]});
    let transformation = format!("{ep}/transformation");
    let code = "function handler(webhook) { return webhook; }";
    for (body, allowed) in [
        (&view_only, [false, false, false, false, false, false, false]),
        (&read_only, [false, false, false, false, false, false, false]),
        (&see_secret, [true, false, false, false, false, false, false]),
        (&manage_secret, [true, true, false, false, false, false, false]),
        (&create_attempts, [false, false, true, false, false, false, false]),
        (&manage, [true, true, false, true, true, false, false]),
        // The transformation's variables may hold a receiver's token: reading it needs the capability too.
        (&transformations, [false, false, false, false, false, true, true]),
    ] {
        let (token, _) = portal_link(&app, &w.app_id, body.clone()).await;
        let session = with(&app, &token, Method::GET, "/portal/session", None).await;
        assert_eq!(session.body["capabilities"][0], "ViewBase", "ViewBase is always granted: {:?}", session.body);
        assert_eq!(with(&app, &token, Method::GET, &ep, None).await.status, 200, "{body}: reading");
        let requests = [
            (Method::GET, secret.clone(), None),
            (Method::POST, rotate.clone(), Some(json!({}))),
            attempts(&resend),
            (Method::POST, create.clone(), new_ep()),
            (Method::PATCH, ep.clone(), Some(json!({"description": "changed"}))),
            (Method::GET, transformation.clone(), None),
            (Method::PATCH, transformation.clone(), Some(json!({"code": code, "enabled": true}))),
        ];
        for ((method, path, req_body), allowed) in requests.into_iter().zip(allowed) {
            let r = with(&app, &token, method.clone(), &path, req_body).await;
            if allowed {
                assert!(r.status.is_success(), "{body}: {method} {path} allowed: {} {:?}", r.status, r.body);
            } else {
                refused(&r, 403, &format!("{body}: {method} {path}"));
                assert!(r.body["detail"].as_str().unwrap().contains("capability"), "{:?}", r.body);
            }
        }
    }
    // The headers may carry a receiver's credentials: the secret's capability, as the secret.
    let (view, _) = portal_link(&app, "acme", view_only).await;
    refused(&with(&app, &view, Method::GET, &format!("{ep}/headers"), None).await, 403, "headers");
    // An unknown capability, an expiry out of range: 422.
    for bad in [json!({"capabilities": ["Everything"]}), json!({"expiry": 0}), json!({"expiry": 8 * 86400})] {
        let r = app.post("/api/v1/auth/app-portal-access/acme", bad.clone()).await;
        assert_eq!(r.status, 422, "{bad}: {:?}", r.body);
    }
}

#[tokio::test]
async fn portal_tokens_expire_log_out_and_are_expired_all_at_once() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let endpoints = "/api/v1/app/acme/endpoint";
    let works = |token: String| {
        let app = &app;
        async move { with(app, &token, Method::GET, endpoints, None).await.status == StatusCode::OK }
    };

    // A token made to live 2 seconds works, then stops by itself.
    let (short, _) = portal_link(&app, "acme", json!({"expiry": 2})).await;
    assert!(works(short.clone()).await, "a fresh token works");
    eventually("the short token to expire", || {
        let short = short.clone();
        let works = &works;
        async move { (!works(short).await).then_some(()) }
    })
    .await;
    refused(&with(&app, &short, Method::GET, endpoints, None).await, 401, "an expired token");
    let hash = hex::encode(hookd::api::auth::hash_token(&short));
    let kind = hookd::store::DocKind::PortalToken;
    assert!(app.ctx.store.doc_get_any(kind, &hash).await.unwrap().is_none(), "an expired token is dropped when used");

    // Logout ends the token it is called with, and only a portal token can be logged out.
    let (mine, _) = portal_link(&app, "acme", json!({})).await;
    let (kept, _) = portal_link(&app, "acme", json!({})).await;
    assert_eq!(with(&app, &mine, Method::POST, "/api/v1/auth/logout", None).await.status, 204);
    refused(&with(&app, &mine, Method::GET, endpoints, None).await, 401, "after logout");
    assert!(works(kept.clone()).await, "another token of the application still works");
    refused(&app.post("/api/v1/auth/logout", json!({})).await, 403, "logging out an API token");
    refused(&app.call(Method::POST, "/api/v1/auth/logout", None, None).await, 401, "logout without a token");

    // expire-all: by session, then the whole application, not another application's tokens.
    let (s1, _) = portal_link(&app, "acme", json!({"sessionId": "s1"})).await;
    let (s2, _) = portal_link(&app, "acme", json!({"sessionId": "s2"})).await;
    let (other, _) = portal_link(&app, &w.other_app, json!({})).await;
    let expire = format!("/api/v1/auth/app/{}/expire-all", w.app_id);
    assert_eq!(app.post(&expire, json!({"sessionIds": ["s1"]})).await.status, 204);
    assert!(!works(s1.clone()).await, "the session's token ended");
    assert!(works(s2.clone()).await && works(kept.clone()).await, "the other sessions' tokens work");
    assert_eq!(app.post("/api/v1/auth/app/acme/expire-all", json!({})).await.status, 204);
    assert!(!works(s2).await && !works(kept).await, "every token of the application ended");
    let other_eps = format!("/api/v1/app/{}/endpoint", w.other_app);
    assert_eq!(with(&app, &other, Method::GET, &other_eps, None).await.status, 200, "another application's token");

    // expire-all with a delay: the token works on until then.
    let delayed = format!("/api/v1/auth/app/{}/expire-all", w.other_app);
    assert_eq!(app.post(&delayed, json!({"expiry": 1})).await.status, 204);
    eventually("the delayed expiry", || {
        let (app, other, path) = (&app, other.clone(), other_eps.clone());
        async move { (with(app, &other, Method::GET, &path, None).await.status == 401).then_some(()) }
    })
    .await;

    // Another organization's application: not found, for links and for expire-all.
    refused(&app.post(&format!("/api/v1/auth/app-portal-access/{}", w.foreign_app), json!({})).await, 404, "foreign");
    refused(&app.post(&format!("/api/v1/auth/app/{}/expire-all", w.foreign_app), json!({})).await, 404, "foreign");
    refused(&app.post("/api/v1/auth/app-portal-access/nobody", json!({})).await, 404, "a missing application");

    // `application` creates the application when missing, with the path's uid.
    let (fresh, _) = portal_link(&app, "newco", json!({"application": {"name": "NewCo"}})).await;
    let newco = app.get("/api/v1/app/newco").await;
    assert_eq!(newco.body["name"], "NewCo", "{:?}", newco.body);
    assert_eq!(with(&app, &fresh, Method::GET, "/api/v1/app/newco/endpoint", None).await.status, 200);
    // Deleting the application ends its tokens.
    assert_eq!(app.delete("/api/v1/app/newco").await.status, 204);
    refused(&with(&app, &fresh, Method::GET, "/portal/session", None).await, 401, "the application is gone");
}

/// A receiver that answers its first `failures` requests with 500 and a body the portal must show.
async fn flaky_receiver(failures: usize) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let app = axum::Router::new().fallback(move || {
        let count = count.clone();
        async move {
            if count.fetch_add(1, Ordering::SeqCst) < failures {
                (StatusCode::SERVICE_UNAVAILABLE, "maintenance window: try again later")
            } else {
                (StatusCode::OK, "accepted, thank you")
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/webhooks/acme"), seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_opens_a_portal_link_alone_and_in_an_iframe() {
    ui::assert_browser_ready();
    let app = spawn_app().await;
    // The first attempt and both retries fail; the resend from the portal succeeds.
    let (url, seen) = flaky_receiver(3).await;
    let created = app.post("/api/v1/app", json!({"name": "Acme Corp", "uid": "acme"})).await;
    let app_id = created.body["id"].as_str().unwrap().to_string();
    let ep = app
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": url, "description": "Order events", "eventTypes": ["order.created", "order.paid"]}),
        )
        .await;
    let ep_id = ep.body["id"].as_str().unwrap().to_string();
    let (ok_url, ok_seen) = flaky_receiver(0).await;
    app.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": ok_url.replace("acme", "acme-audit"), "description": "Audit log"}),
    )
    .await;
    let order = json!({"orderId": "ord_1042", "total": {"amount": 4999, "currency": "EUR"}});
    let msg = app.publish("acme", "order.created", order).await;
    let msg_id = msg["id"].as_str().unwrap().to_string();
    for i in 0..2 {
        app.publish("acme", "invoice.paid", json!({"invoice": format!("in_{i}")})).await;
    }
    eventually("the delivery to give up", || async {
        let r = app.get(&format!("/api/v1/app/acme/msg/{msg_id}/endpoint")).await;
        let failed = r.body["data"].as_array()?.iter().any(|d| d["id"] == ep_id.as_str() && d["status"] == 2);
        failed.then_some(())
    })
    .await;
    eventually("the audit deliveries", || async { (ok_seen.load(Ordering::SeqCst) >= 3).then_some(()) }).await;
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    // Another application of the same organization, whose endpoint the portal must never show.
    let (globex, globex_ep) = app.app_with_endpoint("https://globex.example.com/hooks", json!({})).await;

    let input = json!({
        "base": app.base,
        "token": app.token,
        "appId": app_id,
        "endpointId": ep_id,
        "msgId": msg_id,
        "otherAppId": globex,
        "otherEndpointId": globex_ep["id"],
        "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok(),
    });
    let (ok, out) = run_script("node", &script("node/portal_flow.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("portal flow passed"), "{out}");
    // The resend reached the receiver, which answered 200 this time.
    eventually("the resend", || async { (seen.load(Ordering::SeqCst) == 4).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_manages_destinations_in_the_portal() {
    ui::assert_browser_ready();
    // After the test schedule's two quick retries, a ten-minute wait that only "Retry now" cuts short.
    let app = spawn_app_with(|c| {
        c.retry_schedule = vec![
            std::time::Duration::from_millis(100),
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(600),
        ]
    })
    .await;
    let (fifo_url, seen) = flaky_receiver(3).await;
    let created = app.post("/api/v1/app", json!({"name": "Acme Corp", "uid": "acme"})).await;
    let app_id = created.body["id"].as_str().unwrap().to_string();
    // Another application of the same organization, with a destination the link must not reach.
    let other = app.post("/api/v1/app", json!({"name": "Globex"})).await;
    let other_id = other.body["id"].as_str().unwrap().to_string();
    let theirs = app
        .post(&format!("/api/v1/app/{other_id}/destination"), json!({"type": "pollingEndpoint", "config": {}}))
        .await;
    assert_eq!(theirs.status, 201, "{:?}", theirs.body);

    let input = json!({
        "base": app.base,
        "token": app.token,
        "appId": app_id,
        "fifoUrl": fifo_url,
        "otherAppId": other_id,
        "otherDestinationId": theirs.body["id"],
        "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok(),
    });
    let (ok, out) = run_script("node", &script("node/portal_destinations.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("portal destinations flow passed"), "{out}");
    // Three failed batches and the one "Retry now" sent.
    assert_eq!(seen.load(Ordering::SeqCst), 4);
}
