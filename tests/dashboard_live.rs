//! The dashboard's live tail, inbound, timers and bots screens: the browser flow in Debian's Chromium (driven by
//! npm `playwright-core`, tests/node/dashboard_live_flow.mjs), and tenancy, CSRF and the event stream's scoping
//! checked over plain HTTP.

mod common;

use std::time::Duration;

use common::ui::*;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

fn github_signature(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A GitHub registration forwarding to `app_id`, and one signed `issues.opened` event it accepted; returns
/// (registration id, inbound event id).
async fn github_event(app: &TestApp, app_id: &str) -> (String, String) {
    let reg = app
        .post(
            "/integrations/github/webhooks",
            json!({"connectionId": "acme-repos", "events": ["issues.*"], "destination": {"appId": app_id}}),
        )
        .await;
    assert_eq!(reg.status, 201, "{:?}", reg.body);
    let secret = reg.body["webhookSecret"].as_str().unwrap();
    let body = json!({"action": "opened", "issue": {"id": 1234567, "number": 123, "title": "Checkout fails"},
        "repository": {"id": 9, "full_name": "acme/shop"}})
    .to_string();
    let r = app
        .http
        .post(reg.body["webhookUrl"].as_str().unwrap())
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .header("x-hub-signature-256", github_signature(secret, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reg_id = reg.body["registrationId"].as_str().unwrap().to_string();
    let events = app.get(&format!("/webhooks/{reg_id}/events")).await;
    let event_id = events.body["data"][0]["id"].as_str().expect("the stored event").to_string();
    (reg_id, event_id)
}

async fn timer(app: &TestApp, name: &str, duration: &str, url: &str) -> String {
    let body = json!({"name": name, "duration": duration, "agent_id": "agent-7",
        "events": {"on_expire": {"webhook": url, "message": "done"},
            "on_progress": {"webhook": url, "intervals": ["25%", "50%", "75%"]}}});
    let r = app.post("/timers", body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["timer"]["id"].as_str().unwrap().to_string()
}

/// A bot installed in a channel, with one outgoing webhook delivered; returns the bot's id.
async fn bot_with_a_webhook(app: &TestApp, url: &str, rx: &Receiver) -> String {
    let r = app
        .post(
            "/api/v1/bots",
            json!({"name": "Deploy Bot", "scopes": ["messages:read", "messages:write"], "webhook_url": url,
            "webhook_events": ["message.sent"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let bot_id = r.body["bot_id"].as_str().unwrap().to_string();
    let user_id = r.body["bot_user_id"].as_str().unwrap().to_string();
    let r =
        app.post(&format!("/api/v1/bots/{bot_id}/install"), json!({"channel_id": "C0DEPLOYS", "external": true})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let event = json!({
        "event_type": "message.sent", "event_id": "evt_dash_1",
        "channel": {"channel_id": "C0DEPLOYS", "name": "deploys", "type": "public"},
        "sender": {"user_id": "U_ALICE", "username": "alice", "display_name": "Alice", "is_bot": false},
        "payload": {"message_id": "M1", "text": "@deploy-bot ship it", "mentions": [{"user_id": user_id, "type": "bot"}],
            "attachments": [], "thread_id": null}
    });
    let r = app.post("/api/v1/events", event).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["deliveries"], 1, "{:?}", r.body);
    rx.wait_for(1).await;
    bot_id
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_watches_the_live_tail_replays_an_inbound_event_drives_a_timer_and_sees_a_bot() {
    ui::assert_browser_ready();
    let app = spawn_app().await;
    let (shop_rx, timer_rx, bot_rx) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let created = app.post("/api/v1/app", json!({"name": "Storefront"})).await;
    let app_id = created.body["id"].as_str().unwrap().to_string();
    let ep = app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": shop_rx.url})).await;
    assert_eq!(ep.status, 201, "{:?}", ep.body);

    // Inbound: a signed GitHub event, verified and forwarded to the Storefront.
    let (reg_id, event_id) = github_event(&app, &app_id).await;
    shop_rx.wait_for(1).await;
    // Timers: one running (driven by the browser), one paused, one that has expired.
    let timer_id = timer(&app, "Nightly build", "1h", &timer_rx.url).await;
    let paused = timer(&app, "Release freeze", "2h", &timer_rx.url).await;
    assert_eq!(app.post(&format!("/timers/{paused}/pause"), json!({})).await.status, 200);
    // One well under way when the browser looks (its milestones fire on the way).
    timer(&app, "Deploy window", "40s", &timer_rx.url).await;
    let expired = timer(&app, "Cache warm-up", "1s", &timer_rx.url).await;
    eventually("the short timer to expire", || async {
        (app.get(&format!("/timers/{expired}")).await.body["timer"]["status"] == "expired").then_some(())
    })
    .await;
    // Bots: one installed bot with a delivered webhook.
    let bot_id = bot_with_a_webhook(&app, &bot_rx.url, &bot_rx).await;

    // The first message the browser publishes fails once, then its retry succeeds.
    shop_rx.answer(500, 1);
    let input = json!({
        "base": app.base,
        "token": app.token,
        "appId": app_id,
        "registrationId": reg_id,
        "eventId": event_id,
        "timerId": timer_id,
        "botId": bot_id,
        "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok(),
    });
    let (ok, out) = run_script("node", &script("node/dashboard_live_flow.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("dashboard live flow passed"), "{out}");

    // What the browser did happened: two messages published during the tail, the replayed inbound event, and
    // the timer, paused, resumed and cancelled.
    shop_rx.wait_for(5).await;
    let replayed = shop_rx.received().iter().filter(|r| r.json()["inboundEventId"] == event_id.as_str()).count();
    assert_eq!(replayed, 2, "the original forward and the replay");
    let t = app.get(&format!("/timers/{timer_id}")).await;
    assert_eq!(t.body["timer"]["status"], "cancelled", "{:?}", t.body);
}

// ── over plain HTTP ──

#[tokio::test]
async fn another_organizations_registrations_timers_bots_and_tail_are_not_found() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&rx.url, json!({})).await;
    let (reg_id, event_id) = github_event(&app, &app_id).await;
    let timer_id = timer(&app, "Mine", "1h", &rx.url).await;
    let bot_rx = Receiver::start().await;
    let bot_id = bot_with_a_webhook(&app, &bot_rx.url, &bot_rx).await;

    let other = log_in(&app, &app.other_org_token().await).await.0;
    for path in [
        format!("/ui/inbound/{reg_id}"),
        format!("/ui/inbound/{reg_id}/events/{event_id}"),
        format!("/ui/timers/{timer_id}"),
        format!("/ui/bots/{bot_id}"),
        format!("/ui/live?app={app_id}"),
        format!("/ui/live/events?app={app_id}"),
    ] {
        let (status, _, html) = page(&app, &other, &path).await;
        assert_eq!(status, 404, "{path}: {html}");
    }
    for path in ["/ui/inbound", "/ui/timers", "/ui/bots"] {
        let (status, _, html) = page(&app, &other, path).await;
        assert_eq!(status, 200, "{path}");
        for id in [&reg_id, &timer_id, &bot_id] {
            assert!(!html.contains(id.as_str()), "{path} lists another organization's {id}");
        }
    }
    // Actions with the other session's own valid token are not found either, and change nothing.
    let csrf = csrf_of(&page(&app, &other, "/ui/timers").await.2);
    for path in [format!("/ui/inbound/{reg_id}/events/{event_id}/replay"), format!("/ui/timers/{timer_id}/cancel")] {
        let r = post_form(&app, &other, &path, &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    assert_eq!(app.get(&format!("/timers/{timer_id}")).await.body["timer"]["status"], "running");

    // The owner sees them all.
    let mine = log_in(&app, &app.token).await.0;
    let (status, _, html) = page(&app, &mine, "/ui/inbound").await;
    assert_eq!(status, 200);
    assert!(html.contains(&reg_id) && html.contains("healthy"), "{html}");
    let (status, _, html) = page(&app, &mine, &format!("/ui/inbound/{reg_id}/events/{event_id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("x-hub-signature-256") && html.contains("still valid"), "{html}");
    assert_eq!(page(&app, &mine, &format!("/ui/bots/{bot_id}")).await.0, 200);
    assert_eq!(page(&app, &mine, "/ui/timers?status=nonsense").await.0, 422);
}

#[tokio::test]
async fn replay_and_timer_actions_need_the_csrf_token_and_answer_conflicts_as_pages() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&rx.url, json!({})).await;
    let (reg_id, event_id) = github_event(&app, &app_id).await;
    rx.wait_for(1).await;
    let timer_id = timer(&app, "Mine", "1h", &rx.url).await;
    let cookie = log_in(&app, &app.token).await.0;
    let csrf = csrf_of(&page(&app, &cookie, &format!("/ui/timers/{timer_id}")).await.2);

    let replay = format!("/ui/inbound/{reg_id}/events/{event_id}/replay");
    let pause = format!("/ui/timers/{timer_id}/pause");
    for (path, form) in [(&replay, vec![]), (&replay, vec![("csrf", "forged")]), (&pause, vec![])] {
        assert_eq!(post_form(&app, &cookie, path, &form).await.status(), 403, "{path} {form:?}");
    }
    assert_eq!(app.get(&format!("/timers/{timer_id}")).await.body["timer"]["status"], "running");

    let r = post_form(&app, &cookie, &replay, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("?replayed=msg_"), "{location}");
    rx.wait_for(2).await;

    let r = post_form(&app, &cookie, &pause, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get(&format!("/timers/{timer_id}")).await.body["timer"]["status"], "paused");
    // Pausing a paused timer is the API's 409, shown as a page.
    let r = post_form(&app, &cookie, &pause, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("not running"));
    let r = post_form(&app, &cookie, &format!("/ui/timers/{timer_id}/explode"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 404);
}

/// Reads Server-Sent Events from `resp` until `until` accepts one's data; returns every `attempt` event's data.
async fn read_events(resp: &mut reqwest::Response, until: impl Fn(&Value) -> bool) -> Vec<Value> {
    let (mut buf, mut seen) = (String::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await.expect("an event in time").unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if !block.lines().any(|l| l == "event: attempt") {
                continue;
            }
            let data = block.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let v: Value = serde_json::from_str(data).unwrap();
            let done = until(&v);
            seen.push(v);
            if done {
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn the_event_stream_shows_only_the_sessions_organization_and_catches_up_after_a_reconnect() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (mine, _) = app.app_with_endpoint(&rx.url, json!({})).await;
    let other_token = app.other_org_token().await;
    let theirs = app.call(reqwest::Method::POST, "/api/v1/app", Some(&other_token), Some(json!({"name": "t"}))).await;
    let theirs = theirs.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/app/{theirs}/endpoint");
    let ep = app.call(reqwest::Method::POST, &path, Some(&other_token), Some(json!({"url": rx.url}))).await;
    assert_eq!(ep.status, 201);

    // The other organization watches; this one publishes first, then the other one.
    let cookie = log_in(&app, &other_token).await.0;
    let mut stream =
        client().get(format!("{}/ui/live/events", app.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let hidden = app.publish(&mine, "user.signup", json!({"n": 1})).await;
    rx.wait_for(1).await;
    let path = format!("/api/v1/app/{theirs}/msg");
    let publish = |event_type: &str| {
        let body = json!({"eventType": event_type, "payload": {}});
        app.call(reqwest::Method::POST, &path, Some(&other_token), Some(body))
    };
    let shown = publish("user.signup").await;
    let shown = shown.body["id"].as_str().unwrap().to_string();
    let seen = read_events(&mut stream, |v| v["msg_id"] == shown.as_str()).await;
    assert!(seen.iter().all(|v| v["msg_id"] != hidden["id"]), "another organization's attempt was shown: {seen:?}");
    let last = seen.last().unwrap();
    assert_eq!((last["app_id"].as_str(), last["event_type"].as_str()), (Some(theirs.as_str()), Some("user.signup")));
    assert_eq!(last["status_code"], 200);
    drop(stream);

    // A reconnect with Last-Event-ID (as EventSource sends it) gets the application's attempts made meanwhile.
    let missed = publish("user.left").await;
    let missed = missed.body["id"].as_str().unwrap().to_string();
    rx.wait_for(3).await;
    eventually("the missed attempt to be recorded", || async {
        let r = app
            .call(reqwest::Method::GET, &format!("/api/v1/app/{theirs}/attempt/msg/{missed}"), Some(&other_token), None)
            .await;
        (!r.body["data"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    let mut stream = client()
        .get(format!("{}/ui/live/events?app={theirs}", app.base))
        .header("cookie", &cookie)
        .header("last-event-id", last["id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let seen = read_events(&mut stream, |v| v["msg_id"] == missed.as_str()).await;
    assert_eq!(seen.len(), 1, "only what came after the last event seen: {seen:?}");

    // Logging out ends the stream at the next attempt: nothing more is shown to that browser.
    let csrf = csrf_of(&page(&app, &cookie, "/ui/live").await.2);
    assert_eq!(post_form(&app, &cookie, "/ui/logout", &[("csrf", &csrf)]).await.status(), 303);
    let after = publish("user.left").await;
    assert_eq!(after.status, 202);
    let mut rest = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.chunk()).await.expect("the stream to end");
        match chunk.unwrap() {
            Some(bytes) => rest.push_str(&String::from_utf8_lossy(&bytes)),
            None => break,
        }
    }
    assert!(!rest.contains("event: attempt"), "an attempt shown after logging out: {rest}");
}

#[tokio::test]
async fn the_timers_list_pages_with_older_and_newer_links() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    for i in 0..27 {
        timer(&app, &format!("t{i}"), "1h", &rx.url).await;
    }
    let cookie = log_in(&app, &app.token).await.0;
    let (status, _, html) = page(&app, &cookie, "/ui/timers?status=running").await;
    assert_eq!(status, 200);
    assert_eq!(html.matches("class=\"timer\"").count(), 25);
    // The pager's links, as the browser reads them (the template escapes `/` and `&`).
    let pager = &html[html.find("class=\"pager\"").expect("a pager")..];
    let href = pager.split("href=\"").nth(1).expect("an Older link").split('"').next().unwrap();
    let older = href.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(older.starts_with("/ui/timers?status=running&iterator="), "{older}");
    let (status, _, html) = page(&app, &cookie, &older).await;
    assert_eq!(status, 200);
    assert_eq!(html.matches("class=\"timer\"").count(), 2, "{older}");
    assert!(html.contains("← Newer"));
}

#[tokio::test]
async fn the_overview_lists_unhealthy_registrations_and_the_timers_due_soonest() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let cookie = log_in(&app, &app.token).await.0;
    let (_, _, html) = page(&app, &cookie, "/ui").await;
    assert!(html.contains("Every inbound registration is healthy.") && html.contains("No timer is running."), "{html}");
    assert!(html.contains("id=\"scheduler-lag\">0 ms<"), "nothing is overdue: {html}");

    // Three requests with a wrong signature make a registration fail.
    let reg =
        app.post("/integrations/github/webhooks", json!({"connectionId": "broken", "events": ["issues.*"]})).await;
    let reg_id = reg.body["registrationId"].as_str().unwrap().to_string();
    for i in 0..3 {
        let body = json!({"action": "opened", "issue": {"id": i}}).to_string();
        let r = app
            .http
            .post(reg.body["webhookUrl"].as_str().unwrap())
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", format!("bad-{i}"))
            .header("x-hub-signature-256", github_signature("not-the-secret", &body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // The soonest of three timers first; a paused one is not due.
    let later = timer(&app, "later", "2h", &rx.url).await;
    let soon = timer(&app, "soon", "1h", &rx.url).await;
    let paused = timer(&app, "paused", "30m", &rx.url).await;
    assert_eq!(app.post(&format!("/timers/{paused}/pause"), json!({})).await.status, 200);

    let (status, _, html) = page(&app, &cookie, "/ui").await;
    assert_eq!(status, 200);
    let inbound = &html[html.find("id=\"unhealthy-inbound\"").expect("the unhealthy registrations")..];
    assert!(inbound.contains(&format!("/ui/inbound/{reg_id}")) && inbound.contains("failed"), "{inbound}");
    let due = &html[html.find("id=\"timers-due\"").expect("the timers due soon")..];
    let due = &due[..due.find("</table>").unwrap()];
    let (s, l) = (due.find(&soon).expect("the 1h timer"), due.find(&later).expect("the 2h timer"));
    assert!(s < l, "soonest first: {due}");
    assert!(!due.contains(&paused), "a paused timer is not due: {due}");
}
