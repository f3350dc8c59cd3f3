//! The dashboard's forms for inbound registrations, timers and bots, in Debian's Chromium (driven by npm
//! `playwright-core`: tests/node/dashboard_{inbound,timer,bot}_forms.mjs) and over plain HTTP: what a form stores
//! is what the API then answers, a refusal is shown beside its field with what was typed kept, every form needs
//! the session's CSRF token, and another organization's ids are not found.

mod common;

use axum::http::StatusCode;
use base64::Engine as _;
use common::ui::*;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

/// The value of the input `id` on a page (the secrets and URLs shown once).
fn input_value(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("a value") + "value=\"".len();
    rest[v..].split('"').next().unwrap().replace("&#x2f;", "/").replace("&amp;", "&")
}

/// `text` as the templates write it into HTML.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// The message beside the field `name`, if there is one.
fn error_beside(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("id=\"err-{name}\""))?;
    let text = html[at..].split_once('>')?.1.split("</p>").next()?;
    Some(text.to_string())
}

/// A Standard Webhooks request (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…`) signed with `secret`.
async fn send_standard(url: &str, secret: &str, id: &str, body: &str) -> reqwest::Response {
    let key = base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
    let ts = chrono::Utc::now().timestamp().to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts)
        .header("webhook-signature", format!("v1,{sig}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn browser_input(app: &TestApp, extra: Value) -> Value {
    let mut input = json!({ "base": app.base, "token": app.token,
        "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok() });
    input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    input
}

// ── in the browser ──

#[tokio::test(flavor = "multi_thread")]
async fn browser_creates_edits_and_deletes_an_inbound_registration_that_forwards_what_it_verifies() {
    ui::assert_browser_ready();
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let created = app.post("/api/v1/app", json!({"name": "Billing", "uid": "billing"})).await;
    let app_id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": rx.url})).await.status, 201);
    let redis_addr =
        std::env::var("HOOKD_TEST_REDIS").ok().filter(|v| !v.is_empty()).unwrap_or("127.0.0.1:6379".into());
    let stream = format!("hookd-ui-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let extra = json!({"redisUrl": format!("redis://{redis_addr}"), "queueStream": stream});
    let (ok, out) = run_script("node", &script("node/dashboard_inbound_forms.mjs"), &browser_input(&app, extra));
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("inbound forms flow passed"), "{out}");
    // The event the flow sent, signed with the secret the page showed, reached the application's endpoint.
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].json()["eventType"], "paid", "{:?}", got[0].json());
    assert_eq!(got[0].json()["entityId"], "in_browser");
    let reg_id = out.lines().find_map(|l| l.strip_prefix("registration: ")).expect("the flow names it");
    assert_eq!(app.get(&format!("/webhooks/{reg_id}")).await.status, 404, "deleted through the API too");
    // The queue source the form made consumes its stream into the same application.
    let client = redis::Client::open(format!("redis://{redis_addr}")).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.expect("Redis on this machine");
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("payload")
        .arg(r#"{"kind": "order.created", "order": 9}"#)
        .query_async(&mut c)
        .await
        .unwrap();
    let got = rx.wait_for(2).await;
    assert_eq!(got[1].json()["eventType"], "order.created", "{:?}", got[1].json());
    assert_eq!(got[1].json()["data"]["order"], 9);
    let queue_reg = out.lines().find_map(|l| l.strip_prefix("queue registration: ")).expect("the flow names it");
    assert_eq!(app.delete(&format!("/webhooks/{queue_reg}")).await.status, 204);
    let _: Result<i64, _> = redis::cmd("DEL").arg(&stream).query_async(&mut c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_creates_and_cancels_a_timer() {
    ui::assert_browser_ready();
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (ok, out) =
        run_script("node", &script("node/dashboard_timer_forms.mjs"), &browser_input(&app, json!({"hook": rx.url})));
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("timer forms flow passed"), "{out}");
    let timer_id = out.lines().find_map(|l| l.strip_prefix("timer: ")).expect("the flow names it");
    let t = app.get(&format!("/timers/{timer_id}")).await.body["timer"].clone();
    assert_eq!(t["status"], "cancelled", "{t:?}");
    // Cancelling told the timer's webhook.
    let got = eventually("timer_cancelled to arrive", || async {
        rx.received().into_iter().find(|r| r.json()["event"] == "timer_cancelled")
    })
    .await;
    assert_eq!(got.json()["timer"]["id"], timer_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_creates_edits_installs_rotates_and_deletes_a_bot() {
    ui::assert_browser_ready();
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let channel = app.post("/api/v1/channels.create", json!({"name": "deploys"})).await;
    assert_eq!(channel.status, 200, "{:?}", channel.body);
    let channel_id = channel.body["channel"]["channel_id"].as_str().unwrap().to_string();
    let input = browser_input(&app, json!({"hook": rx.url, "channelId": channel_id}));
    let (ok, out) = run_script("node", &script("node/dashboard_bot_forms.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("bot forms flow passed"), "{out}");
    let bot_id = out.lines().find_map(|l| l.strip_prefix("bot: ")).expect("the flow names the bot");
    assert_eq!(app.get(&format!("/api/v1/bots/{bot_id}")).await.status, 404, "deleted through the API too");
}

// ── over plain HTTP ──

#[tokio::test]
async fn an_inbound_registration_from_the_form_is_the_apis_and_verifies_with_the_secret_it_showed() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&rx.url, json!({})).await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let (_, _, html) = page(&app, &cookie, "/ui/inbound/new").await;
    assert!(html.contains("value=\"stripe\"") && html.contains("whsec_"), "providers with where their secret is");
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("integrationId", "standardwebhooks"),
        ("connectionId", "acme-billing"),
        ("events", "invoice.*, customer.created"),
        ("destination.appId", &app_id),
        ("rateLimitPerMinute", "50"),
        ("metadata", r#"{"team": "billing"}"#),
        ("transformation.template", ""),
        ("retryPolicy.maxRetries", "3"),
        ("retryPolicy.backoffSeconds", "60"),
    ];
    let r = post_form(&app, &cookie, "/ui/inbound/new", &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let url = input_value(&html, "webhook-url");
    let secret = input_value(&html, "webhook-secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let reg_id = url.rsplit('/').next().unwrap().to_string();

    let reg = app.get(&format!("/webhooks/{reg_id}")).await.body;
    assert_eq!(reg["webhookUrl"], url.as_str());
    assert_eq!(reg["integrationId"], "standardwebhooks");
    assert_eq!(reg["connectionId"], "acme-billing");
    assert_eq!(reg["events"], json!(["invoice.*", "customer.created"]));
    assert_eq!(reg["destination"]["appId"], app_id.as_str());
    assert_eq!(reg["rateLimitPerMinute"], 50);
    assert_eq!(reg["metadata"], json!({"team": "billing"}));
    assert_eq!(reg["retryPolicy"], json!({"maxRetries": 3, "backoffSeconds": 60}));

    // Signed with the secret the page showed: verified and forwarded.
    let body = json!({"type": "invoice.paid", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "in_1"}}).to_string();
    let resp = send_standard(&url, &secret, "msg_form_1", &body).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(rx.wait_for(1).await[0].json()["entityId"], "in_1");

    // An edit: other events, no destination, inactive; the edit form held what was stored.
    let (_, _, html) = page(&app, &cookie, &format!("/ui/inbound/{reg_id}/edit")).await;
    assert!(html.contains("value=\"invoice.*, customer.created\""), "{html}");
    assert!(html.contains(&format!("<option value=\"{app_id}\" selected")), "the destination picked");
    assert!(html.contains("value=\"50\""), "the rate set");
    let form = [
        ("csrf", csrf.as_str()),
        ("events", "invoice.paid"),
        ("destination.appId", ""),
        ("status", "inactive"),
        ("rateLimitPerMinute", "70"),
        ("metadata", ""),
        ("transformation.template", "slack"),
    ];
    let r = post_form(&app, &cookie, &format!("/ui/inbound/{reg_id}/edit"), &form).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/ui/inbound/{reg_id}?done=inbound-saved"));
    let reg = app.get(&format!("/webhooks/{reg_id}")).await.body;
    assert_eq!(reg["events"], json!(["invoice.paid"]));
    assert!(reg["destination"].is_null(), "{reg:?}");
    assert_eq!((reg["status"].as_str(), reg["rateLimitPerMinute"].as_u64()), (Some("inactive"), Some(70)));
    assert_eq!(reg["transformation"]["template"], "slack");
    // Inactive: its URL refuses even a good signature.
    assert_eq!(send_standard(&url, &secret, "msg_form_2", &body).await.status(), 404);

    // Rotating shows the new secret once; the old one keeps verifying for the grace period asked.
    let (_, _, html) = page(&app, &cookie, &format!("/ui/inbound/{reg_id}/rotate")).await;
    assert!(html.contains("data-confirm=\"Rotate the secret"), "it asks first");
    let r = post_form(
        &app,
        &cookie,
        &format!("/ui/inbound/{reg_id}/rotate"),
        &[("csrf", &csrf), ("webhookSecret", ""), ("gracePeriodSeconds", "3600")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let new_secret = input_value(&r.text().await.unwrap(), "webhook-secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let form = [("csrf", csrf.as_str()), ("events", "*"), ("status", "active"), ("destination.appId", &app_id)];
    assert_eq!(post_form(&app, &cookie, &format!("/ui/inbound/{reg_id}/edit"), &form).await.status(), 303);
    for (n, key) in [(3, &new_secret), (4, &secret)] {
        let resp = send_standard(&url, key, &format!("msg_form_{n}"), &body).await;
        assert_eq!(resp.status(), 200, "secret {n}: {}", resp.text().await.unwrap());
    }

    // Delete.
    let r = post_form(&app, &cookie, &format!("/ui/inbound/{reg_id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/inbound?done=inbound-deleted");
    assert_eq!(app.get(&format!("/webhooks/{reg_id}")).await.status, 404);
}

#[tokio::test]
async fn a_refused_registration_is_drawn_again_with_each_message_beside_its_field() {
    let app = spawn_app().await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let csrf = csrf_of(&page(&app, &cookie, "/ui/inbound/new").await.2);
    // No provider picked, no connection, events that are no pattern, settings that are not JSON.
    let form = [
        ("csrf", csrf.as_str()),
        ("connectionId", ""),
        ("events", "issues.*"),
        ("providerConfig", "{publicKey: nope"),
        ("metadata", r#"{"kept": true}"#),
    ];
    let r = post_form(&app, &cookie, "/ui/inbound/new", &form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(error_beside(&html, "integrationId").is_some_and(|m| m.contains("provider")), "{html}");
    assert!(error_beside(&html, "providerConfig").is_some_and(|m| m.contains("not JSON")), "{html}");
    assert!(html.contains("{&quot;kept&quot;: true}"), "what was typed is kept: {html}");
    assert!(html.contains("<details class=\"more\" open>"), "the settings with a message are unfolded");
    assert!(html.contains("aria-current=\"page\">Inbound"), "the navigation, Inbound current");

    // The API's refusals: a blank connection; then Discord without its public key (a check this form showed
    // missing from the API: such a registration could verify nothing).
    let form = [("csrf", csrf.as_str()), ("integrationId", "discord"), ("connectionId", ""), ("events", "*")];
    let html = post_form(&app, &cookie, "/ui/inbound/new", &form).await.text().await.unwrap();
    assert!(error_beside(&html, "connectionId").is_some(), "{html}");
    assert!(html.contains("value=\"discord\" checked"), "the provider picked is kept");
    let form = [("csrf", csrf.as_str()), ("integrationId", "discord"), ("connectionId", "guild-1"), ("events", "*")];
    let html = post_form(&app, &cookie, "/ui/inbound/new", &form).await.text().await.unwrap();
    assert!(error_beside(&html, "providerConfig").is_some_and(|m| m.contains("publicKey")), "{html}");
    let form = [
        ("csrf", csrf.as_str()),
        ("integrationId", "github"),
        ("connectionId", "acme/shop"),
        ("events", "issues opened"),
        ("destination.appId", "app_gone"),
    ];
    let html = post_form(&app, &cookie, "/ui/inbound/new", &form).await.text().await.unwrap();
    assert!(error_beside(&html, "events").is_some(), "{html}");
    // A provider hookd does not know (a forged form): the path's 422, beside the provider.
    let form = [("csrf", csrf.as_str()), ("integrationId", "myspace"), ("connectionId", "c"), ("events", "*")];
    let html = post_form(&app, &cookie, "/ui/inbound/new", &form).await.text().await.unwrap();
    assert!(error_beside(&html, "integrationId").is_some_and(|m| m.contains("unknown provider")), "{html}");
    assert_eq!(app.get("/webhooks").await.body["total"], 0, "nothing was created");

    // A rotation with a secret too short to be one: beside it, and the secret is unchanged.
    let reg = app.post("/integrations/github/webhooks", json!({"connectionId": "c", "events": ["*"]})).await.body;
    let id = reg["registrationId"].as_str().unwrap();
    let form = [("csrf", csrf.as_str()), ("webhookSecret", "short"), ("gracePeriodSeconds", "60")];
    let r = post_form(&app, &cookie, &format!("/ui/inbound/{id}/rotate"), &form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_beside(&r.text().await.unwrap(), "webhookSecret").is_some_and(|m| m.contains("8 to 1024")));
}

#[tokio::test]
async fn a_timer_from_the_form_is_the_apis_and_a_refusal_names_its_field() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let csrf = csrf_of(&page(&app, &cookie, "/ui/timers/new").await.2);
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Release freeze"),
        ("duration", "2h"),
        ("events.on_expire.webhook", &rx.url),
        ("events.on_expire.message", "Freeze over"),
        ("events.on_expire.data", r#"{"release": "1.4"}"#),
        ("events.on_progress.intervals", "50%, 90%"),
        ("events.on_expire.format", "json"),
        ("agent_id", "release-bot"),
        ("metadata", r#"{"owner": "ops"}"#),
    ];
    let r = post_form(&app, &cookie, "/ui/timers/new", &form).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let id = location.strip_prefix("/ui/timers/").unwrap().split('?').next().unwrap();
    assert!(location.ends_with("?done=created"), "{location}");
    let t = app.get(&format!("/timers/{id}")).await.body["timer"].clone();
    assert_eq!((t["name"].as_str(), t["status"].as_str()), (Some("Release freeze"), Some("running")));
    assert_eq!(t["duration"], 7_200_000);
    assert_eq!(t["agent_id"], "release-bot");
    assert_eq!(t["metadata"], json!({"owner": "ops"}));
    let events = &t["events"];
    assert_eq!(
        events["on_expire"],
        json!({"webhook": rx.url, "message": "Freeze over", "data": {"release": "1.4"},
        "format": "json"})
    );
    // Progress milestones go to the same webhook.
    assert_eq!(events["on_progress"], json!({"webhook": rx.url, "intervals": ["50%", "90%"], "format": "json"}));
    let (_, _, html) = page(&app, &cookie, &location).await;
    assert!(html.contains("Timer created."), "{html}");

    // A cron timer in a time zone.
    let form =
        [("csrf", csrf.as_str()), ("name", "standup"), ("cron", "0 9 * * MON-FRI"), ("timezone", "Europe/Paris")];
    let r = post_form(&app, &cookie, "/ui/timers/new", &form).await;
    assert_eq!(r.status(), 303);
    let id = r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/ui/timers/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let t = app.get(&format!("/timers/{id}")).await.body["timer"].clone();
    assert_eq!((t["cron"].as_str(), t["timezone"].as_str()), (Some("0 9 * * MON-FRI"), Some("Europe/Paris")));

    // Refusals, each beside its field, what was typed kept.
    for (form, field) in [
        (vec![("name", "x"), ("duration", "soon")], "duration"),
        (vec![("every", "5m"), ("cron", "0 9 * * *")], "cron"),
        (vec![("cron", "0 9 * * *"), ("timezone", "Mars/Olympus")], "timezone"),
        (
            vec![
                ("duration", "1h"),
                ("events.on_expire.webhook", rx.url.as_str()),
                ("events.on_progress.intervals", "150%"),
            ],
            "events.on_progress.intervals",
        ),
        (vec![("duration", "1h"), ("events.on_expire.webhook", "not a url")], "events.on_expire.webhook"),
        (vec![("duration", "1h"), ("max_runs", "3")], "max_runs"),
        (vec![("duration", "1h"), ("events.on_expire.data", "{oops")], "events.on_expire.data"),
    ] {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(form.iter().copied());
        let r = post_form(&app, &cookie, "/ui/timers/new", &fields).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{form:?}");
        let html = r.text().await.unwrap();
        assert!(error_beside(&html, field).is_some(), "{field} for {form:?}: {html}");
        let typed = form.iter().find(|(k, _)| *k == field).unwrap().1;
        assert!(html.contains(&escaped(typed)), "{typed} kept: {html}");
    }
    let listed = app.get("/timers").await.body["timers"].as_array().unwrap().len();
    assert_eq!(listed, 2, "the refused forms made no timer");

    // Cancel asks first (on the list and on the timer's page).
    let (_, _, html) = page(&app, &cookie, "/ui/timers").await;
    assert!(html.contains("data-confirm=\"Stop the timer standup for good?"), "{html}");
}

#[tokio::test]
async fn a_bot_from_the_form_is_the_apis_its_secrets_are_shown_once_and_refusals_name_their_field() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let (_, _, html) = page(&app, &cookie, "/ui/bots/new").await;
    assert!(html.contains("value=\"message.sent\" checked"), "every event ticked for a new bot");
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Deploy Bot"),
        ("description", "Ships releases"),
        ("scopes", "messages:write"),
        ("scopes", "channels:read"),
        ("webhook_url", &rx.url),
        ("webhook_events", "message.sent"),
        ("webhook_events", "slash_command"),
        ("tier", "enterprise"),
        ("owner_type", "team"),
        ("owner_id", "team-ops"),
        ("slash_commands", r#"[{"command": "deploy", "usage": "/deploy <env>"}]"#),
    ];
    let r = post_form(&app, &cookie, "/ui/bots/new", &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let token = input_value(&html, "bot-token");
    let secret = input_value(&html, "webhook-secret");
    assert!(token.starts_with("xbot-") && secret.starts_with("whsec_"), "{html}");
    let bot_id = html.split("id=\"to-bot\" href=\"/ui/bots/").nth(1).unwrap().split('"').next().unwrap().to_string();
    let bot = app.get(&format!("/api/v1/bots/{bot_id}")).await.body;
    assert_eq!((bot["name"].as_str(), bot["description"].as_str()), (Some("Deploy Bot"), Some("Ships releases")));
    assert_eq!(bot["scopes"], json!(["messages:write", "channels:read"]));
    assert_eq!(bot["webhook_url"], rx.url.as_str());
    assert_eq!(bot["webhook_events"], json!(["message.sent", "slash_command"]));
    assert_eq!((bot["tier"].as_str(), bot["owner_type"].as_str()), (Some("enterprise"), Some("team")));
    assert_eq!(bot["slash_commands"][0]["command"], "deploy");
    // The token shown is the bot's.
    let r = app.call(reqwest::Method::GET, "/api/v1/channels.list", Some(&token), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // …and shown nowhere else.
    let (_, _, html) = page(&app, &cookie, &format!("/ui/bots/{bot_id}")).await;
    assert!(!html.contains(&token) && !html.contains(&secret));

    // An edit: fewer scopes, no commands, a new name.
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Release Bot"),
        ("description", ""),
        ("scopes", "channels:read"),
        ("webhook_events", "message.sent"),
        ("tier", "standard"),
        ("owner_type", "team"),
        ("slash_commands", ""),
    ];
    let r = post_form(&app, &cookie, &format!("/ui/bots/{bot_id}/edit"), &form).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/ui/bots/{bot_id}?done=bot-saved"));
    let bot = app.get(&format!("/api/v1/bots/{bot_id}")).await.body;
    assert_eq!((bot["name"].as_str(), bot["description"].as_str()), (Some("Release Bot"), Some("")));
    assert_eq!(bot["scopes"], json!(["channels:read"]));
    assert_eq!(bot["slash_commands"], json!([]));
    assert_eq!(bot["owner_id"], "team-ops", "a blank owner keeps the one there");

    // Refusals beside their fields, values kept: the API's (`name: …`, `webhook_url: …`, a command's shape) and
    // the form's own (not JSON).
    for (field, value) in [
        ("name", ""),
        ("webhook_url", "ftp://example.com/hook"),
        ("slash_commands", r#"[{"command": "bad name!"}]"#),
        ("slash_commands", r#"[{"usage": "no command"}]"#),
        ("slash_commands", "[{"),
    ] {
        let mut form = vec![("csrf", csrf.as_str()), ("name", "Another Bot")];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let r = post_form(&app, &cookie, "/ui/bots/new", &form).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}={value}");
        let html = r.text().await.unwrap();
        assert!(error_beside(&html, field).is_some(), "{field}={value}: {html}");
        if field != "name" {
            assert!(html.contains("value=\"Another Bot\""), "the name kept");
        }
    }
    assert_eq!(app.get("/api/v1/bots").await.body["bots"].as_array().unwrap().len(), 1, "nothing more created");

    // Install: a channel that does not exist is the API's 404, said on the form; an existing one is installed.
    let r =
        post_form(&app, &cookie, &format!("/ui/bots/{bot_id}/install"), &[("csrf", &csrf), ("channel_id", "C_NOPE")])
            .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"form-errors\"") && html.contains("C_NOPE") && html.contains("not found"), "{html}");
    let ch = app.post("/api/v1/channels.create", json!({"name": "releases"})).await.body;
    let channel_id = ch["channel"]["channel_id"].as_str().unwrap();
    let form = [("csrf", csrf.as_str()), ("channel_id", "releases"), ("permissions", "messages:write")];
    let r = post_form(&app, &cookie, &format!("/ui/bots/{bot_id}/install"), &form).await;
    assert_eq!(r.status(), 303);
    let bot = app.get(&format!("/api/v1/bots/{bot_id}")).await.body;
    assert_eq!(bot["installations"][0]["channel_id"], channel_id);
    assert_eq!(bot["installations"][0]["permissions"], json!(["messages:write"]));
    let r = post_form(&app, &cookie, &format!("/ui/bots/{bot_id}/uninstall/{channel_id}"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get(&format!("/api/v1/bots/{bot_id}")).await.body["installations"], json!([]));

    // Disable and enable; rotate shows the new token once, and the old one keeps working for its grace.
    let r = post_form(&app, &cookie, &format!("/ui/bots/{bot_id}/disable"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get(&format!("/api/v1/bots/{bot_id}")).await.body["status"], "disabled");
    post_form(&app, &cookie, &format!("/ui/bots/{bot_id}/enable"), &[("csrf", &csrf)]).await;
    assert_eq!(app.get(&format!("/api/v1/bots/{bot_id}")).await.body["status"], "active");
    let r = post_form(&app, &cookie, &format!("/ui/bots/{bot_id}/rotate-token"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let new_token = input_value(&r.text().await.unwrap(), "bot-token");
    assert!(new_token.starts_with("xbot-") && new_token != token);
    for t in [&new_token, &token] {
        assert_eq!(app.call(reqwest::Method::GET, "/api/v1/channels.list", Some(t), None).await.status, 200);
    }

    let r = post_form(&app, &cookie, &format!("/ui/bots/{bot_id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.headers()["location"], "/ui/bots?done=bot-deleted");
    assert_eq!(app.get(&format!("/api/v1/bots/{bot_id}")).await.status, 404);
}

#[tokio::test]
async fn every_setup_form_needs_the_csrf_token() {
    let app = spawn_app().await;
    let reg = app.post("/integrations/github/webhooks", json!({"connectionId": "c", "events": ["*"]})).await.body;
    let reg_id = reg["registrationId"].as_str().unwrap().to_string();
    let bot = app.post("/api/v1/bots", json!({"name": "Helper"})).await.body;
    let bot_id = bot["bot_id"].as_str().unwrap().to_string();
    let (cookie, _) = log_in(&app, &app.token).await;
    let posts = [
        ("/ui/inbound/new".to_string(), vec![("integrationId", "github"), ("connectionId", "x"), ("events", "*")]),
        (format!("/ui/inbound/{reg_id}/edit"), vec![("events", "nothing.*"), ("status", "inactive")]),
        (format!("/ui/inbound/{reg_id}/rotate"), vec![("gracePeriodSeconds", "0")]),
        (format!("/ui/inbound/{reg_id}/delete"), vec![]),
        ("/ui/timers/new".to_string(), vec![("duration", "1h")]),
        ("/ui/bots/new".to_string(), vec![("name", "Sneaky")]),
        (format!("/ui/bots/{bot_id}/edit"), vec![("name", "Renamed")]),
        (format!("/ui/bots/{bot_id}/install"), vec![("channel_id", "C1"), ("external", "true")]),
        (format!("/ui/bots/{bot_id}/rotate-token"), vec![]),
        (format!("/ui/bots/{bot_id}/disable"), vec![]),
        (format!("/ui/bots/{bot_id}/delete"), vec![]),
    ];
    for (path, form) in &posts {
        for csrf in [None, Some("forged")] {
            let mut form = form.clone();
            form.extend(csrf.map(|c| ("csrf", c)));
            assert_eq!(post_form(&app, &cookie, path, &form).await.status(), StatusCode::FORBIDDEN, "{path} {csrf:?}");
        }
    }
    // Nothing changed.
    let reg = app.get(&format!("/webhooks/{reg_id}")).await.body;
    assert_eq!((reg["events"].clone(), reg["status"].as_str()), (json!(["*"]), Some("active")));
    assert_eq!(app.get("/webhooks").await.body["total"], 1);
    assert_eq!(app.get("/timers").await.body["timers"].as_array().unwrap().len(), 0);
    let bots = app.get("/api/v1/bots").await.body;
    assert_eq!(bots["bots"].as_array().unwrap().len(), 1);
    assert_eq!(
        (bots["bots"][0]["name"].as_str(), bots["bots"][0]["status"].as_str()),
        (Some("Helper"), Some("active"))
    );
    assert_eq!(bots["bots"][0]["installations"], json!([]));
}

#[tokio::test]
async fn another_organizations_registrations_and_bots_are_not_found_by_the_forms() {
    let app = spawn_app().await;
    let reg = app.post("/integrations/github/webhooks", json!({"connectionId": "c", "events": ["*"]})).await.body;
    let reg_id = reg["registrationId"].as_str().unwrap().to_string();
    let bot = app.post("/api/v1/bots", json!({"name": "Helper"})).await.body;
    let bot_id = bot["bot_id"].as_str().unwrap().to_string();
    let other = log_in(&app, &app.other_org_token().await).await.0;
    for path in [
        format!("/ui/inbound/{reg_id}/edit"),
        format!("/ui/inbound/{reg_id}/rotate"),
        format!("/ui/bots/{bot_id}/edit"),
        format!("/ui/bots/{bot_id}/install"),
    ] {
        let (status, _, html) = page(&app, &other, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("not found") && html.contains("href=\"/ui/inbound\""), "{path}: {html}");
    }
    let (_, _, html) = page(&app, &other, &format!("/ui/bots/{bot_id}/edit")).await;
    assert!(html.contains(&format!("bot `{bot_id}` not found")), "the 404 names what was not found: {html}");
    let csrf = csrf_of(&page(&app, &other, "/ui/bots/new").await.2);
    for (path, form) in [
        (format!("/ui/inbound/{reg_id}/edit"), vec![("events", "x.*"), ("status", "inactive")]),
        (format!("/ui/inbound/{reg_id}/rotate"), vec![("gracePeriodSeconds", "0")]),
        (format!("/ui/inbound/{reg_id}/delete"), vec![]),
        (format!("/ui/bots/{bot_id}/edit"), vec![("name", "Mine now")]),
        (format!("/ui/bots/{bot_id}/install"), vec![("channel_id", "C1"), ("external", "true")]),
        (format!("/ui/bots/{bot_id}/uninstall/C1"), vec![]),
        (format!("/ui/bots/{bot_id}/rotate-token"), vec![]),
        (format!("/ui/bots/{bot_id}/disable"), vec![]),
        (format!("/ui/bots/{bot_id}/delete"), vec![]),
    ] {
        let mut form = form.clone();
        form.push(("csrf", &csrf));
        assert_eq!(post_form(&app, &other, &path, &form).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // All still there and unchanged.
    let reg = app.get(&format!("/webhooks/{reg_id}")).await.body;
    assert_eq!((reg["events"].clone(), reg["status"].as_str()), (json!(["*"]), Some("active")));
    let bot = app.get(&format!("/api/v1/bots/{bot_id}")).await.body;
    assert_eq!((bot["name"].as_str(), bot["status"].as_str()), (Some("Helper"), Some("active")));
    // The bots' 404 names the bot too (it said "Entity not found").
    let (status, _, html) = page(&app, &other, &format!("/ui/bots/{bot_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains(&format!("bot `{bot_id}` not found")), "{html}");
    let (status, _, _) = page(&app, &other, "/ui/inbound/whr_nope/edit").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
