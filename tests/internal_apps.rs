//! The applications hookd keeps for itself (issue 24): the timers' (`hookd-timers`) and each bot's. No
//! application, listing or message shows the timers' signing key, which only `GET /timers/webhook-secret` answers;
//! such applications are not among the user's (the API's list, the dashboard's), have no portal link, and change
//! only through their face; the organization still reaches their deliveries by id.

mod common;

use base64::Engine as _;
use common::ui::*;
use common::*;
use hmac::{Hmac, Mac};
use hookd::api::portal::{self, Capability};
use reqwest::Method;
use serde_json::json;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Asserts that `got` is signed with `secret` both ways a timer webhook is: MINOOTS's `x-minoots-signature` (the
/// whole `whsec_…` string as the key) and Standard Webhooks' `svix-signature`.
fn assert_signed_with(got: &Received, secret: &str) {
    let minoots = format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &got.body)));
    assert_eq!(got.header("x-minoots-signature"), minoots, "the MINOOTS signature with the timers' key");
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let signed =
        [got.header("svix-id").as_bytes(), b".", got.header("svix-timestamp").as_bytes(), b".", &got.body].concat();
    let v1 = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(hmac(&key, &signed)));
    assert!(got.header("svix-signature").split(' ').any(|s| s == v1), "the Standard Webhooks signature");
}

/// `r` answered `status` with a JSON error body: `{code, detail}`, or a 422's `{detail: [{loc, msg, type}]}`.
fn refused(r: &Resp, status: u16, what: &str) {
    assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
    let error = (r.body["code"].is_string() && r.body["detail"].is_string()) || r.body["detail"][0]["msg"].is_string();
    assert!(error, "{what}: a JSON error, got {:?}", r.body);
}

/// Asserts that no answer in `answers` shows a signing key.
fn no_key_in(answers: &[(&str, &Resp)], secret: &str) {
    for (what, r) in answers {
        let text = r.body.to_string();
        assert!(!text.contains("whsec_") && !text.contains(secret), "{what} shows a signing key: {text}");
    }
}

#[tokio::test]
async fn the_timers_key_is_in_no_application_and_the_timers_app_is_not_the_users() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (acme, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let timer = json!({"name": "build", "duration": "200ms", "events": {
        "on_expire": {"webhook": format!("{}/timer", recv.url), "message": "done"}}});
    assert_eq!(app.post("/timers", timer).await.status, 201);
    let got = recv.wait_for(1).await;

    // The key: its own route answers it, and the webhook is signed with it.
    let secret = app.get("/timers/webhook-secret").await.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_signed_with(&got[0], &secret);

    // The organization reaches the timers application by id or uid, and its deliveries, without the key.
    let timers = app.get("/api/v1/app/hookd-timers").await;
    assert_eq!(timers.status, 200);
    let timers_id = timers.body["id"].as_str().unwrap().to_string();
    assert_eq!(timers.body["metadata"], json!({}), "{:?}", timers.body);
    let by_id = app.get(&format!("/api/v1/app/{timers_id}")).await;
    let msgs = app.get("/api/v1/app/hookd-timers/msg?with_content=true").await;
    assert_eq!(msgs.body["data"].as_array().map(Vec::len), Some(1), "{:?}", msgs.body);
    let msg_id = msgs.body["data"][0]["id"].as_str().unwrap();
    let msg = app.get(&format!("/api/v1/app/hookd-timers/msg/{msg_id}")).await;
    let attempts = app.get(&format!("/api/v1/app/hookd-timers/attempt/msg/{msg_id}")).await;
    assert_eq!(attempts.status, 200);
    // It is not among the user's applications.
    let list = app.get("/api/v1/app").await;
    let ids: Vec<&str> = list.body["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [acme.as_str()], "{:?}", list.body);
    no_key_in(
        &[
            ("the timers app", &timers),
            ("it by id", &by_id),
            ("its messages", &msgs),
            ("its message", &msg),
            ("its attempts", &attempts),
            ("the app list", &list),
        ],
        &secret,
    );

    // No portal link for it, by uid or id; a token issued for it before is no longer live.
    for key in ["hookd-timers", timers_id.as_str()] {
        let r = app.post(&format!("/api/v1/auth/app-portal-access/{key}"), json!({"readOnly": true})).await;
        refused(&r, 403, "a portal link for the timers app");
    }
    let stored = app.ctx.engine.app(&app.ctx.store.default_org().await.unwrap(), "hookd-timers").await.unwrap();
    let old =
        portal::issue(&app.ctx, &stored.unwrap(), vec![Capability::ViewBase], vec![], None, 60_000).await.unwrap();
    for path in ["/api/v1/app/hookd-timers", "/api/v1/app"] {
        let r = app.call(Method::GET, path, Some(&old), None).await;
        refused(&r, 401, "an old portal token of the timers app");
        no_key_in(&[(path, &r)], &secret);
    }
    // A customer's read-only token sees its application, without the key, and nothing of the timers'.
    let link = app.post(&format!("/api/v1/auth/app-portal-access/{acme}"), json!({"readOnly": true})).await;
    let token = link.body["token"].as_str().unwrap();
    let own = app.call(Method::GET, &format!("/api/v1/app/{acme}"), Some(token), None).await;
    assert_eq!(own.status, 200);
    no_key_in(&[("the customer's app", &own)], &secret);
    refused(&app.call(Method::GET, "/api/v1/app", Some(token), None).await, 403, "the app list by a portal token");
    let theirs = app.call(Method::GET, "/api/v1/app/hookd-timers", Some(token), None).await;
    refused(&theirs, 404, "the timers app by a customer's token");

    // Its uid is hookd's; the API does not change or delete it.
    refused(&app.post("/api/v1/app", json!({"name": "mine", "uid": "hookd-timers"})).await, 422, "taking its uid");
    refused(&app.patch(&format!("/api/v1/app/{acme}"), json!({"uid": "hookd-timers"})).await, 422, "a patch to it");
    refused(&app.put("/api/v1/app/hookd-timers", json!({"name": "mine"})).await, 403, "PUT");
    refused(&app.patch("/api/v1/app/hookd-timers", json!({"metadata": {}})).await, 403, "PATCH");
    refused(&app.delete("/api/v1/app/hookd-timers").await, 403, "DELETE");
    assert_eq!(app.get("/timers/webhook-secret").await.body["secret"], secret.as_str(), "the key is unchanged");

    // The dashboard: not in the applications list nor the overview; the Timers page links to its deliveries,
    // whose page offers no portal link and refuses to make one.
    let (cookie, _) = log_in(&app, &app.token).await;
    for path in ["/ui/apps", "/ui/live", "/ui/"] {
        let (status, _, html) = page(&app, &cookie, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(path == "/ui/" || html.contains(&acme), "{path} lists the user's application");
        assert!(!html.contains(&timers_id) && !html.contains("hookd-timers"), "{path} lists the timers app");
    }
    let (_, _, html) = page(&app, &cookie, "/ui/timers").await;
    assert!(html.contains(&format!("href=\"/ui/apps/{timers_id}\"")), "the Timers page links to its deliveries");
    let (status, _, html) = page(&app, &cookie, &format!("/ui/apps/{timers_id}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains("Make a portal link") && !html.contains("whsec_"));
    let csrf = csrf_of(&html);
    let r =
        post_form(&app, &cookie, &format!("/ui/apps/{timers_id}/portal-link"), &[("csrf", &csrf), ("access", "read")])
            .await;
    assert_eq!(r.status(), 403);
    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{acme}")).await;
    assert!(html.contains("Make a portal link"), "a user's application still has one");

    // A second timer to a new URL: its new endpoint signs with the same key.
    let timer = json!({"name": "deploy", "duration": "100ms", "events": {
        "on_expire": {"webhook": format!("{}/other", recv.url)}}});
    assert_eq!(app.post("/timers", timer).await.status, 201);
    assert_signed_with(&recv.wait_for(2).await[1], &secret);
}

/// The ids of every page of `GET /api/v1/app?limit=2&order=…`, checking that each page but the last is full.
async fn walk(app: &TestApp, order: &str) -> Vec<Vec<String>> {
    let (mut pages, mut iterator) = (Vec::new(), None::<String>);
    loop {
        let q = iterator.as_ref().map(|i| format!("&iterator={i}")).unwrap_or_default();
        let r = app.get(&format!("/api/v1/app?limit=2&order={order}{q}")).await.body;
        let ids: Vec<String> = r["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().into()).collect();
        let done = r["done"] == true;
        assert!(done || ids.len() == 2, "a short page before the end: {r}");
        assert_eq!(r["iterator"].as_str(), ids.last().map(String::as_str).or(iterator.as_deref()), "{r}");
        pages.push(ids);
        if done {
            return pages;
        }
        iterator = r["iterator"].as_str().map(str::to_string);
    }
}

#[tokio::test]
async fn bots_applications_are_left_out_of_full_pages() {
    let app = spawn_app().await;
    let (mut users, mut bots) = (Vec::new(), Vec::new());
    // Users' applications with bots' between and after them: 1, b, b, 2, b, 3, b, b.
    for step in ["u", "b", "b", "u", "b", "u", "b", "b"] {
        if step == "u" {
            let r = app.post("/api/v1/app", json!({"name": format!("user {}", users.len())})).await;
            users.push(r.body["id"].as_str().unwrap().to_string());
        } else {
            let r = app.post("/api/v1/bots", json!({"name": format!("bot {}", bots.len())})).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            bots.push(r.body["app_id"].as_str().unwrap().to_string());
        }
    }
    // A bot's application stays reachable by its id, for its deliveries.
    assert_eq!(app.get(&format!("/api/v1/app/{}", bots[0])).await.status, 200);
    refused(&app.delete(&format!("/api/v1/app/{}", bots[0])).await, 403, "deleting a bot's app");
    let like_a_bot = hookd::ids::new(hookd::ids::BOT);
    refused(&app.put(&format!("/api/v1/app/{like_a_bot}"), json!({"name": "x"})).await, 422, "a uid like a bot's");

    let pages = walk(&app, "ascending").await;
    assert_eq!(pages, [vec![users[0].clone(), users[1].clone()], vec![users[2].clone()]]);
    let pages = walk(&app, "descending").await;
    assert_eq!(pages, [vec![users[2].clone(), users[1].clone()], vec![users[0].clone()]]);
    // prevIterator walks back over the bots' applications to a full page.
    let r = app.get(&format!("/api/v1/app?limit=2&iterator=-{}", users[2])).await.body;
    let ids: Vec<&str> = r["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [users[0].as_str(), users[1].as_str()], "{r}");

    let (cookie, _) = log_in(&app, &app.token).await;
    let (_, _, html) = page(&app, &cookie, "/ui/apps").await;
    assert!(users.iter().all(|u| html.contains(u.as_str())) && !bots.iter().any(|b| html.contains(b.as_str())));
    let (_, _, html) = page(&app, &cookie, "/ui/").await;
    assert!(html.contains("<span class=\"n\">3</span><span>applications</span>"), "the overview counts 3");
    let r = app.post(&format!("/api/v1/auth/app-portal-access/{}", bots[0]), json!({})).await;
    refused(&r, 403, "a portal link for a bot's app");
}
