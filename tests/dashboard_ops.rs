//! The dashboard's operating screens: charts, the endpoint's actions and the message search, in Debian's Chromium
//! (driven by npm `playwright-core`) and over plain HTTP. `tests/dashboard_scale.rs` times them on a million
//! messages.

mod common;

use axum::http::StatusCode;
use common::ui::*;
use common::*;
use serde_json::json;

/// An application "Shop" with a healthy endpoint (custom header `X-Shop`) and one that always fails for
/// `order.failed`; four delivered messages (one with eventId `evt-ops-42`) and one dead letter.
struct Shop {
    app_id: String,
    ep_id: String,
    failing_ep: String,
    msg_id: String,
    failed_msg: String,
    good: Receiver,
}

async fn shop(app: &TestApp) -> Shop {
    let good = Receiver::start().await;
    let bad = Receiver::start().await;
    bad.answer(500, 100);
    let app_id = app.post("/api/v1/app", json!({"name": "Shop"})).await.body["id"].as_str().unwrap().to_string();
    let ep = app
        .post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": good.url, "headers": {"X-Shop": "acme"}}))
        .await;
    assert_eq!(ep.status, 201, "{:?}", ep.body);
    let ep_id = ep.body["id"].as_str().unwrap().to_string();
    let failing = app
        .post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": bad.url, "eventTypes": ["order.failed"]}))
        .await;
    let failing_ep = failing.body["id"].as_str().unwrap().to_string();
    let mut msg_id = String::new();
    for i in 0..3 {
        let body = json!({"eventType": "invoice.paid", "eventId": format!("evt-ops-{}", 40 + i), "payload": {"n": i}});
        let m = app.post(&format!("/api/v1/app/{app_id}/msg"), body).await;
        assert_eq!(m.status, 202, "{:?}", m.body);
        if i == 2 {
            msg_id = m.body["id"].as_str().unwrap().to_string();
        }
    }
    let failed_msg =
        app.publish(&app_id, "order.failed", json!({"order": 7})).await["id"].as_str().unwrap().to_string();
    good.wait_for(4).await;
    eventually("the failing delivery to give up", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/msg/{failed_msg}/endpoint")).await;
        let statuses: Vec<_> = r.body["data"].as_array()?.iter().map(|d| d["status"].clone()).collect();
        statuses.contains(&json!(2)).then_some(())
    })
    .await;
    Shop { app_id, ep_id, failing_ep, msg_id, failed_msg, good }
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_sees_charts_finds_by_event_id_and_runs_the_endpoint_actions() {
    ui::assert_browser_ready();
    let app = spawn_app().await;
    let s = shop(&app).await;
    let secret_before =
        app.get(&format!("/api/v1/app/{}/endpoint/{}/secret", s.app_id, s.ep_id)).await.body["key"].clone();

    let input = json!({
        "base": app.base,
        "token": app.token,
        "appId": s.app_id,
        "endpointId": s.ep_id,
        "eventId": "evt-ops-42",
        "msgId": s.msg_id,
        "failedMsgId": s.failed_msg,
        "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok(),
    });
    let (ok, out) = run_script("node", &script("node/dashboard_ops_flow.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("dashboard ops flow passed"), "{out}");

    // The example reached the receiver, signed with the rotated-in key as well as the old one in its grace.
    let base = format!("/api/v1/app/{}/endpoint/{}", s.app_id, s.ep_id);
    let secret = app.get(&format!("{base}/secret")).await.body["key"].as_str().unwrap().to_string();
    assert_ne!(json!(secret), secret_before, "the secret was rotated");
    let example_id = out.lines().find_map(|l| l.strip_prefix("example: ")).expect("the example's id").to_string();
    let got = s.good.received();
    let example = got.iter().find(|r| r.header("svix-id") == example_id).expect("the example was delivered");
    assert_eq!(example.json(), json!({}), "an event type without a schema sends {{}}");
    let stamp: i64 = example.header("svix-timestamp").parse().unwrap();
    let with_new =
        hookd::engine::signing::standard_signature(&example_id, stamp, &example.body, std::iter::once(secret.as_str()));
    let sent = example.header("svix-signature");
    assert!(sent.split(' ').any(|sig| sig == with_new), "{sent} lacks the new key's {with_new}");
    assert_eq!(sent.split(' ').count(), 2, "the old key signs too during its grace: {sent}");

    // The filters and headers edited in the browser are the endpoint's, as the API reads them.
    let ep = app.get(&base).await.body;
    assert_eq!(ep["eventTypes"], json!(["invoice.*", "order.created"]));
    assert_eq!(ep["channels"], json!(["eu"]));
    let headers = app.get(&format!("{base}/headers")).await.body;
    assert_eq!(headers["headers"], json!({"X-Region": "eu-west", "X-Shop": "acme"}));
}

#[tokio::test]
async fn the_endpoint_actions_need_the_csrf_token_and_stay_in_the_organization() {
    let app = spawn_app().await;
    let (app_id, ep) = app.app_with_endpoint("http://127.0.0.1:9/never", json!({})).await;
    let ep_id = ep["id"].as_str().unwrap().to_string();
    let (cookie, _) = log_in(&app, &app.token).await;
    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}/endpoints/{ep_id}")).await;
    let csrf = csrf_of(&html);
    let other = app.other_org_token().await;
    let theirs = app.call(reqwest::Method::POST, "/api/v1/app", Some(&other), Some(json!({"name": "theirs"}))).await;
    let their_app = theirs.body["id"].as_str().unwrap().to_string();
    let actions: [(&str, Vec<(&str, &str)>); 3] = [
        ("rotate", vec![("grace_hours", "1")]),
        ("send-example", vec![("event_type", "invoice.paid")]),
        ("replay-missing", vec![("hours", "24")]),
    ];
    for (action, form) in actions {
        let path = format!("/ui/apps/{app_id}/endpoints/{ep_id}/{action}");
        let r = post_form(&app, &cookie, &path, &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action} without the CSRF token");
        let mut with = form.clone();
        with.push(("csrf", &csrf));
        let r = post_form(&app, &cookie, &format!("/ui/apps/{their_app}/endpoints/{ep_id}/{action}"), &with).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{action} through another organization's application");
        let r = post_form(&app, &cookie, &path, &with).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{action}");
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.starts_with(&format!("/ui/apps/{app_id}/endpoints/{ep_id}?done=")), "{action} → {to}");
        let (status, _, html) = page(&app, &cookie, &to).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("id=\"flash\""), "{action}: the flash message shown");
    }
    // Bad input is a clear 4xx page, and does nothing.
    let bad = [("replay-missing", ("hours", "0")), ("send-example", ("event_type", "not valid!"))];
    for (action, field) in bad {
        let path = format!("/ui/apps/{app_id}/endpoints/{ep_id}/{action}");
        let r = post_form(&app, &cookie, &path, &[field, ("csrf", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{action}");
    }
    let msgs = app.get(&format!("/api/v1/app/{app_id}/msg")).await.body;
    assert_eq!(msgs["data"].as_array().unwrap().len(), 1, "only the good example was sent: {msgs}");
}

/// The hrefs of the message list of a search page, in order.
fn listed(html: &str) -> Vec<String> {
    let list = html.split("id=\"messages\"").nth(1).unwrap_or("");
    list.split("/messages/").skip(1).map(|s| s.split('"').next().unwrap().to_string()).collect()
}

fn next_link(html: &str) -> Option<String> {
    let at = html.find("Older →")?;
    let href = html[..at].rsplit("href=\"").next()?;
    Some(href.split('"').next()?.replace("&amp;", "&").replace("&#x2f;", "/"))
}

#[tokio::test]
async fn the_message_search_filters_by_type_status_and_time_and_pages_without_gaps() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    for i in 0..55 {
        app.publish(&s.app_id, if i % 5 == 0 { "user.created" } else { "invoice.sent" }, json!({"i": i})).await;
    }
    let (cookie, _) = log_in(&app, &app.token).await;
    let search = |q: String| {
        let (app, cookie) = (&app, &cookie);
        async move {
            let (status, _, html) = page(app, cookie, &q).await;
            assert_eq!(status, StatusCode::OK, "{q}: {html}");
            html
        }
    };
    let base = format!("/ui/apps/{}/messages", s.app_id);

    // Everything, newest first, 50 a page; the next page goes on where the first stopped.
    let first = search(base.clone()).await;
    let page1 = listed(&first);
    assert_eq!(page1.len(), 50);
    let next = next_link(&first).expect("a next page");
    let page2 = listed(&search(next).await);
    assert_eq!(page2.len(), 55 + 4 - 50);
    let all: std::collections::HashSet<_> = page1.iter().chain(&page2).collect();
    assert_eq!(all.len(), 59, "no message twice, none missing");

    // By event type; by status; by time range.
    assert_eq!(listed(&search(format!("{base}?event_type=user.created")).await).len(), 11);
    assert_eq!(listed(&search(format!("{base}?status=failed")).await), vec![s.failed_msg.clone()]);
    let delivered = listed(&search(format!("{base}?status=delivered&event_type=invoice.paid")).await);
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    assert!(delivered.contains(&s.msg_id));
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M").to_string();
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M").to_string();
    assert_eq!(listed(&search(format!("{base}?since={future}")).await).len(), 0);
    assert_eq!(listed(&search(format!("{base}?since={past}&until={future}&event_type=user.created")).await).len(), 11);

    // An eventId goes to its message; a bad status or time is a clear 4xx.
    let r = client().get(format!("{}{base}?q=evt-ops-42", app.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.headers()["location"], format!("/ui/apps/{}/messages/{}", s.app_id, s.msg_id));
    for bad in ["status=lost", "since=yesterday"] {
        let (status, _, _) = page(&app, &cookie, &format!("{base}?{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    // The message page shows the headers each endpoint was sent, never a key.
    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{}/messages/{}", s.app_id, s.failed_msg)).await;
    assert!(html.contains(&format!("data-endpoint=\"{}\"", s.failing_ep)) && html.contains("svix-signature"));
    assert!(!html.contains("whsec_"), "no secret on the page");
    // The failing endpoint's page says how it fails: three attempts in a row, too few to open its circuit.
    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{}/endpoints/{}", s.app_id, s.failing_ep)).await;
    let circuit = html.split("id=\"circuit\"").nth(1).and_then(|c| c.split("</dd>").next()).expect("the streak");
    assert!(circuit.contains("3 in a row") && !circuit.contains("circuit open"), "{circuit}");
    // Once the payload is expunged no signature is made again: none is shown, and the page says why.
    let r = app.delete(&format!("/api/v1/app/{}/msg/{}/content", s.app_id, s.failed_msg)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{}/messages/{}", s.app_id, s.failed_msg)).await;
    let sent = html.split("id=\"sent-headers\"").nth(1).unwrap();
    assert!(sent.contains("svix-id") && !sent.contains("svix-signature") && sent.contains("expunged"), "{sent}");
}
