//! Status that tells the truth: a delivery whose attempts failed and which will be tried again reads "retrying"
//! with its attempts, last response and next attempt; an open circuit says so and when it probes next; failing
//! endpoints show in the application and endpoint lists (the dashboard's and the portal's); the message page
//! reloads by itself only while an attempt is in flight or once when the next is due; chart axes carry dates.
//! Over plain HTTP and in Debian's Chromium (npm `playwright-core`). The Svix API's answers stay svix-server's.

mod common;

use std::time::Duration;

use common::ui::*;
use common::*;
use serde_json::{json, Value};

/// The first retry soon, the next one ten minutes later: after two failed attempts a delivery waits minutes.
fn slow_second_retry(c: &mut hookd::config::Config) {
    c.retry_schedule = vec![Duration::from_millis(50), Duration::from_secs(600), Duration::from_secs(600)];
}

/// An application "Orders" with one endpoint (for `order.*`) whose receiver answers 503 twice, and a message
/// whose delivery has made both attempts and now waits for the third. Returns (app id, endpoint id, message id).
async fn retrying(app: &TestApp) -> (String, String, String) {
    let rx = Receiver::start().await;
    rx.answer(503, 2);
    let created = app.post("/api/v1/app", json!({"name": "Orders"})).await;
    let app_id = created.body["id"].as_str().unwrap().to_string();
    let ep =
        app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": rx.url, "eventTypes": ["order.*"]})).await;
    let ep_id = ep.body["id"].as_str().unwrap().to_string();
    let msg = app.publish(&app_id, "order.paid", json!({"order": 42})).await;
    let msg_id = msg["id"].as_str().unwrap().to_string();
    rx.wait_for(2).await;
    eventually("the second attempt recorded", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}")).await;
        (r.body["data"].as_array()?.len() == 2).then_some(())
    })
    .await;
    (app_id, ep_id, msg_id)
}

/// The value of `attr` on the element with `id` in `html`.
fn attr_of(html: &str, id: &str, attr: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let tag = &html[html[..at].rfind('<')?..at + html[at..].find('>')?];
    let start = tag.find(&format!("{attr}=\""))? + attr.len() + 2;
    Some(tag[start..].split('"').next()?.to_string())
}

/// The message page's row for the delivery to `endpoint`.
fn delivery_row<'a>(html: &'a str, endpoint: &str) -> &'a str {
    let at = html.find(&format!("data-endpoint=\"{endpoint}\"")).expect("the delivery's row");
    &html[at..at + html[at..].find("</tr>").unwrap()]
}

#[tokio::test]
async fn a_delivery_waiting_for_its_retry_reads_retrying_and_its_page_waits_for_it() {
    let app = spawn_app_with(slow_second_retry).await;
    let (app_id, ep_id, msg_id) = retrying(&app).await;

    // The Svix API answers as svix-server: the delivery is pending (1) with its next attempt, each attempt failed (2).
    let dests = app.get(&format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint")).await.body;
    assert_eq!(dests["data"][0]["status"], 1, "{dests}");
    assert!(dests["data"][0]["nextAttempt"].is_string(), "{dests}");
    let attempts = app.get(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}")).await.body;
    for a in attempts["data"].as_array().unwrap() {
        assert_eq!((a["status"].as_i64(), a["responseStatusCode"].as_i64()), (Some(2), Some(503)), "{a}");
    }

    let cookie = log_in(&app, &app.token).await.0;
    let (status, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}/messages/{msg_id}")).await;
    assert_eq!(status, 200);
    let row = delivery_row(&html, &ep_id);
    assert!(row.contains("data-state=\"retrying\"") && row.contains("badge warn\">retrying<"), "{row}");
    assert!(row.contains("<td>2</td>"), "two attempts made: {row}");
    assert!(row.contains(">503<"), "the last response's status: {row}");
    // Ten minutes on, give or take the retry schedule's 20 % jitter.
    let cell = "<td class=\"next\">in ";
    let next = &row[row.find(cell).expect("when the next attempt is due") + cell.len()..];
    let minutes: i64 = next[..next.find(' ').unwrap()].parse().unwrap();
    assert!((7..=12).contains(&minutes) && next.contains(" min ("), "the next attempt in {minutes} min: {row}");
    assert!(!html.contains("data-pending"), "no every-second reload");
    // One reload, when the next attempt is due (ten minutes on), not now.
    assert_eq!(attr_of(&html, "refresh", "data-refresh-mode").as_deref(), Some("scheduled"), "{html}");
    let wait: i64 = attr_of(&html, "refresh", "data-refresh-in").unwrap().parse().unwrap();
    assert!((7 * 60_000..=13 * 60_000).contains(&wait), "the page reloads in {wait} ms");

    // The application's endpoints: failing, with its failures in a row; the applications list counts it.
    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}")).await;
    let at = html.find(&format!("/endpoints/{ep_id}\"")).unwrap();
    let row = &html[at..at + html[at..].find("</tr>").unwrap()];
    assert!(row.contains("badge warn") && row.contains(">failing<") && row.contains("2 failed in a row"), "{row}");
    let (_, _, html) = page(&app, &cookie, "/ui/apps").await;
    assert!(html.contains("1 failing"), "{html}");

    // Once the endpoint answers (a resend), the delivery succeeds and nothing is left to wait for.
    let csrf = csrf_of(&html);
    let form = [("csrf", csrf.as_str()), ("endpoint", ep_id.as_str())];
    let r = post_form(&app, &cookie, &format!("/ui/apps/{app_id}/messages/{msg_id}/resend"), &form).await;
    assert_eq!(r.status(), 303);
    let html = eventually("the resend's success", || async {
        let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}/messages/{msg_id}")).await;
        delivery_row(&html, &ep_id).contains("data-state=\"succeeded\"").then_some(html)
    })
    .await;
    assert!(!html.contains("data-refresh-in") && !html.contains("id=\"refresh\""), "nothing to wait for");
    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}")).await;
    assert!(!html.contains(">failing<"), "a success ends the failing streak");
}

#[tokio::test]
async fn an_open_circuit_shows_on_the_message_and_endpoint_pages_with_its_next_probe() {
    let app = spawn_app_with(|c| {
        c.retry_schedule = vec![Duration::from_millis(50); 5];
        c.breaker.failures = 2;
        c.breaker.probe_backoff = Duration::from_secs(600);
        c.breaker.max_probe_backoff = Duration::from_secs(1200);
    })
    .await;
    let rx = Receiver::start().await;
    rx.answer(503, 10);
    let (app_id, ep) = app.app_with_endpoint(&rx.url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap().to_string();
    let msg_id = app.publish(&app_id, "order.paid", json!({"order": 7})).await["id"].as_str().unwrap().to_string();
    rx.wait_for(2).await;

    let cookie = log_in(&app, &app.token).await.0;
    let path = format!("/ui/apps/{app_id}/messages/{msg_id}");
    let html = eventually("the delivery held by the open circuit", || async {
        let (_, _, html) = page(&app, &cookie, &path).await;
        delivery_row(&html, &ep_id).contains(">circuit open<").then_some(html)
    })
    .await;
    let row = delivery_row(&html, &ep_id);
    assert!(row.contains(">retrying<") && !row.contains(">pending<"), "not a grey pending: {row}");
    assert!(row.contains("next probe in 10 min ("), "when the circuit tries the endpoint again: {row}");
    assert_eq!(rx.received().len(), 2, "held: no attempt burnt while the circuit is open");
    let wait: i64 = attr_of(&html, "refresh", "data-refresh-in").unwrap().parse().unwrap();
    assert!(wait > 9 * 60_000, "the page waits for the probe ({wait} ms), it does not reload every second");

    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}/endpoints/{ep_id}")).await;
    let circuit = &html[html.find("id=\"circuit\"").expect("the circuit's state")..];
    let circuit = &circuit[..circuit.find("</dd>").unwrap()];
    assert!(circuit.contains("circuit open") && circuit.contains("the next in 10 min"), "{circuit}");
    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}")).await;
    assert!(html.contains("circuit open, next probe in 10 min"), "{html}");
}

#[tokio::test]
async fn chart_axes_carry_the_date() {
    let app = spawn_app().await;
    let cookie = log_in(&app, &app.token).await.0;
    // The hour chart ends with the current minute; the page is read between two readings of the clock.
    let end = |now: chrono::DateTime<chrono::Utc>| {
        let minute = now.timestamp() / 60 + 1;
        chrono::DateTime::from_timestamp(minute * 60, 0).unwrap().format("%b %-d %H:%M UTC").to_string()
    };
    let before = end(chrono::Utc::now());
    let (_, _, html) = page(&app, &cookie, "/ui").await;
    let after = end(chrono::Utc::now());
    let chart = &html[html.find("id=\"hour-attempts\"").unwrap()..];
    let chart = &chart[..chart.find("</figure>").unwrap()];
    assert!(chart.contains(&format!(">{before}</text>")) || chart.contains(&format!(">{after}</text>")), "{chart}");
    // The day's chart starts 24 hours before the end of the current quarter hour: its first tick names that day.
    let quarter = 15 * 60;
    let start = (chrono::Utc::now().timestamp() / quarter + 1) * quarter - 86_400;
    let yesterday = chrono::DateTime::from_timestamp(start, 0).unwrap().format("%b %-d ").to_string();
    let day = &html[html.find("id=\"day-attempts\"").unwrap()..];
    let first_tick = day.find("text-anchor=\"start\">").unwrap() + "text-anchor=\"start\">".len();
    assert!(day[first_tick..].starts_with(&yesterday), "{}", &day[first_tick..first_tick + 40]);
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_sees_retrying_failing_and_refused_and_no_page_reloads_every_second() {
    ui::assert_browser_ready();
    let app = spawn_app_with(slow_second_retry).await;
    let (app_id, ep_id, msg_id) = retrying(&app).await;
    // A healthy endpoint beside it, for contrast.
    let ok = Receiver::start().await;
    app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": ok.url, "eventTypes": ["audit.*"]})).await;
    app.publish(&app_id, "audit.seen", json!({"n": 1})).await;
    ok.wait_for(1).await;
    let link = app.post(&format!("/api/v1/auth/app-portal-access/{app_id}"), json!({})).await;
    assert_eq!(link.status, 200, "{:?}", link.body);

    // An inbound registration whose latest request had a wrong signature, after good ones.
    let reg = app.post("/integrations/github/webhooks", json!({"connectionId": "acme", "events": ["issues.*"]})).await;
    let reg = reg.body;
    let secret = reg["webhookSecret"].as_str().unwrap();
    for (delivery, key) in [("d-1", secret), ("d-2", secret), ("d-3", "whsec_not_it")] {
        let r = send_github(&app, &reg, delivery, key).await;
        assert_eq!(r.status().is_success(), key == secret, "{delivery}");
    }

    let input = json!({
        "base": app.base,
        "token": app.token,
        "appId": app_id,
        "endpointId": ep_id,
        "msgId": msg_id,
        "portalUrl": link.body["url"],
        "registrationId": reg["registrationId"],
        "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok(),
    });
    let (ok, out) = run_script("node", &script("node/dashboard_status_flow.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("dashboard status flow passed"), "{out}");
}

/// A GitHub `issues` event, signed with `key`.
async fn send_github(app: &TestApp, reg: &Value, delivery: &str, key: &str) -> reqwest::Response {
    use hmac::{Hmac, Mac};
    let body = json!({"action": "opened", "issue": {"id": 1, "number": 7, "title": "Bug"}}).to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    app.http
        .post(reg["webhookUrl"].as_str().unwrap())
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", format!("sha256={}", hex::encode(mac.finalize().into_bytes())))
        .body(body)
        .send()
        .await
        .unwrap()
}
