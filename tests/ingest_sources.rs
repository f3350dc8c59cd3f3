//! The Svix Ingest API: sources and their ingest endpoints through the official JavaScript SDK
//! (tests/node/svix_sdk_ingest.mjs: GitHub and Stripe sources, signed and tampered requests, token rotation, the
//! round trips, bad input); a source being a registration of the one gateway (its events, refusals, health, rate
//! limit and replay are the registration's; its registration takes requests at the ingest URL only); and a cron
//! source firing on its schedule through the timers' due-time queue.

mod common;

use common::*;
use serde_json::{json, Value};

fn loc(body: &Value) -> Vec<String> {
    body["detail"][0]["loc"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_runs_github_and_stripe_sources() {
    let app = spawn_app().await;
    let other = app.other_org_token().await;
    let out = tokio::task::spawn_blocking({
        let (base, token, flow) = (app.base.clone(), app.token.clone(), script("node/svix_sdk_ingest.mjs"));
        move || std::process::Command::new("node").arg(flow).arg(base).arg(token).arg(other).output().unwrap()
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "svix_sdk_ingest.mjs failed:\n{text}");
    assert!(text.contains("SDK INGEST OK"), "{text}");
}

/// GitHub's `X-Hub-Signature-256` for `body`.
fn github_signature(secret: &str, body: &str) -> String {
    format!("sha256={}", hex::encode(hookd::inbound::providers::hmac_sha256(secret.as_bytes(), &[body.as_bytes()])))
}

async fn post_github(app: &TestApp, url: &str, body: &str, delivery: &str, secret: &str) -> (u16, Value) {
    let r = app
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", github_signature(secret, body))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_is_a_registration_of_the_gateway() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let secret = "gateway-shared-secret";
    let r =
        app.post("/ingest/api/v1/source", json!({"name": "gh", "type": "github", "config": {"secret": secret}})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (source, url) = (r.body["id"].as_str().unwrap().to_string(), r.body["ingestUrl"].as_str().unwrap().to_string());
    let r = app.post(&format!("/ingest/api/v1/source/{source}/endpoint"), json!({"url": recv.url.clone()})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // The registration underneath: listed by the registration API, its connection the source.
    let regs = app.get("/webhooks?integrationId=github").await;
    let reg = regs.body["webhooks"].as_array().unwrap().iter().find(|w| w["connectionId"] == source.as_str()).cloned();
    let reg = reg.unwrap_or_else(|| panic!("no registration for {source}: {:?}", regs.body));
    let reg_id = reg["id"].as_str().unwrap().to_string();
    assert_eq!(reg["integrationId"], "github");
    assert_eq!(reg["ingestSourceId"], source.as_str());
    // Its URL is the one that takes its requests: the ingest URL, not /webhooks/{id}.
    assert_eq!(reg["webhookUrl"], url.as_str());

    // Accepted at the ingest URL, refused (and kept with why) when tampered; never at /webhooks/{id}.
    let body = r#"{"ref":"refs/heads/main","after":"abc"}"#;
    assert_eq!(post_github(&app, &url, body, "d-1", secret).await.0, 200);
    let (status, refused) = post_github(&app, &url, body, "d-2", "not-the-secret").await;
    assert_eq!(status, 401, "{refused:?}");
    let direct = format!("{}/webhooks/{reg_id}", app.base);
    assert_eq!(post_github(&app, &direct, body, "d-3", secret).await.0, 404);
    let got = recv.wait_for(1).await;
    assert_eq!(got[0].json()["data"]["after"], "abc");

    let events = app.get(&format!("/webhooks/{reg_id}/events")).await;
    assert_eq!(events.body["data"].as_array().unwrap().len(), 1, "{:?}", events.body);
    let refused = app.get(&format!("/webhooks/{reg_id}/refused")).await;
    assert_eq!(refused.body["data"][0]["reason"], "bad_signature", "{:?}", refused.body);
    assert_eq!(app.get(&format!("/webhooks/{reg_id}")).await.body["webhookUrl"], url.as_str());
    let health = app.get(&format!("/webhooks/{reg_id}/health")).await;
    assert_eq!(health.body["failureCount"], 1, "{:?}", health.body);
    // What to do names the Ingest API, where a source's secret is changed.
    let advice = health.body["recommendations"].to_string();
    assert!(advice.contains(&format!("PUT /ingest/api/v1/source/{source}")), "{advice}");

    // Replay publishes the stored event to the source's endpoints again.
    let event_id = events.body["data"][0]["id"].as_str().unwrap();
    let r = app.post(&format!("/webhooks/{reg_id}/events/{event_id}/replay"), json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = recv.wait_for(2).await;
    assert_eq!(got[1].json()["data"]["after"], "abc");

    // The rate limit is the registration's.
    let r = app.patch(&format!("/webhooks/{reg_id}"), json!({"rateLimitPerMinute": 1})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // (Two: a new minute may begin between the requests above and the first.)
    post_github(&app, &url, body, "d-4", secret).await;
    assert_eq!(post_github(&app, &url, body, "d-5", secret).await.0, 429);

    // The registration belongs to the source: it goes with it, not alone, and forwards to its endpoints only.
    let r = app.delete(&format!("/webhooks/{reg_id}")).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    let r = app.patch(&format!("/webhooks/{reg_id}"), json!({"destination": null})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(loc(&r.body), ["body", "destination"]);
    // The source's application is hookd's own: not among the user's applications.
    let apps = app.get("/api/v1/app").await;
    assert!(apps.body["data"].as_array().unwrap().iter().all(|a| a["uid"] != source.as_str()), "{:?}", apps.body);
    let r = app.delete(&format!("/ingest/api/v1/source/{source}")).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(app.get(&format!("/webhooks/{reg_id}")).await.status, 404);
    assert_eq!(post_github(&app, &url, body, "d-6", secret).await.0, 404);
}

/// Twilio signs the URL it posts to: a source's stored event is rechecked at the source's ingest URL (any of its
/// tokens live when it came, so a rotation since does not spoil the verdict), not at `/webhooks/{id}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sources_events_recheck_at_its_ingest_url_for_a_provider_that_signs_the_url() {
    use base64::Engine as _;
    use hmac::Mac;
    let app = spawn_app().await;
    let token = "twilio-auth-token-0123456789";
    let r =
        app.post("/ingest/api/v1/source", json!({"name": "sms", "type": "twilio", "config": {"secret": token}})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (source, url) = (r.body["id"].as_str().unwrap().to_string(), r.body["ingestUrl"].as_str().unwrap().to_string());
    // As twilio-python's RequestValidator computes it: the URL (its query string too), then each parameter sorted
    // by name as name+value.
    for (to, sid) in [(url.clone(), "SM01"), (format!("{url}?channel=sms&region=eu"), "SM02")] {
        let params = [("Body", "hello"), ("From", "+15551234567"), ("MessageSid", sid)];
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
        mac.update(to.as_bytes());
        for (k, v) in params {
            mac.update(k.as_bytes());
            mac.update(v.as_bytes());
        }
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let sent = app.http.post(&to).header("x-twilio-signature", signature).form(&params).send().await.unwrap();
        assert_eq!(sent.status(), 200, "{to}");
    }
    let r = app.post(&format!("/ingest/api/v1/source/{source}/token/rotate"), json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let regs = app.get("/webhooks?integrationId=twilio").await;
    let reg = regs.body["webhooks"].as_array().unwrap().iter().find(|w| w["connectionId"] == source.as_str()).cloned();
    let reg = reg.expect("the source's registration");
    let (reg_id, org) = (reg["id"].as_str().unwrap(), reg["tenantId"].as_str().unwrap());
    let events = app.get(&format!("/webhooks/{reg_id}/events")).await;
    let events = events.body["data"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    let console = hookd::api::console::inbound(&app.ctx);
    for event in events {
        let seen = console.event(&app.ctx, org, reg_id, event["id"].as_str().unwrap()).await.unwrap();
        assert_eq!(seen["verdict"]["recheck"], json!({"ok": true}), "{seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_source_fires_to_its_endpoints() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;

    // Bad schedules and missing fields are 422s naming the field.
    for (config, field) in [
        (json!({"schedule": "every second", "payload": "{}"}), "schedule"),
        (json!({"schedule": "61 * * * *", "payload": "{}"}), "schedule"),
        (json!({"payload": "{}"}), "schedule"),
        (json!({"schedule": "* * * * *"}), "payload"),
        (json!({"schedule": "* * * * *", "payload": "{}", "timezone": "Mars/Olympus"}), "timezone"),
        (json!({"schedule": "* * * * *", "payload": "{}", "when": 1}), "when"),
    ] {
        let r = app.post("/ingest/api/v1/source", json!({"name": "c", "type": "cron", "config": config})).await;
        assert_eq!(r.status, 422, "{config}: {:?}", r.body);
        assert_eq!(loc(&r.body), ["body", "config", field], "{config}");
    }

    let config = json!({"schedule": "* * * * * *", "payload": "{\"tick\": true}", "contentType": "application/json"});
    let r = app.post("/ingest/api/v1/source", json!({"name": "every second", "type": "cron", "config": config})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["type"], "cron");
    assert_eq!(r.body["config"], config);
    assert!(r.body["ingestUrl"].is_null(), "{:?}", r.body);
    let source = r.body["id"].as_str().unwrap().to_string();
    let r = app.post(&format!("/ingest/api/v1/source/{source}/endpoint"), json!({"url": recv.url.clone()})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let ep = r.body["id"].as_str().unwrap().to_string();
    let key = app.get(&format!("/ingest/api/v1/source/{source}/endpoint/{ep}/secret")).await.body["key"].clone();
    assert!(key.as_str().unwrap().starts_with("whsec_"));

    // Two ticks arrive, a second or so apart, each signed with the endpoint's key.
    let got = recv.wait_for(2).await;
    for g in &got[..2] {
        assert_eq!(g.json(), json!({"tick": true}));
        assert!(!g.header("svix-signature").is_empty());
    }
    assert_ne!(got[0].header("svix-id"), got[1].header("svix-id"));
    // Not a timer of the timers API.
    let timers = app.get("/timers").await;
    assert_eq!(timers.status, 200);
    assert!(timers.body.to_string().find("cron_").is_none(), "{:?}", timers.body);
    assert_eq!(app.post(&format!("/ingest/api/v1/source/{source}/token/rotate"), json!({})).await.status, 400);

    // Deleted, it stops: its timer is cancelled with it.
    let r = app.delete(&format!("/ingest/api/v1/source/{source}")).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let after_delete = recv.received().len();
    // Its timer leaves the due-time queue (and the deliveries already made finish): nothing more is due.
    eventually("the cron timer to be cancelled", || {
        let ctx = app.ctx.clone();
        async move {
            let due = ctx.store.next_due_at(0).await.unwrap();
            due.is_none().then_some(())
        }
    })
    .await;
    // At most one tick was already on its way when the source went.
    assert!(recv.received().len() <= after_delete + 1);
}

/// The body as the official libraries get it, with the headers it came with.
fn received_for_libraries(got: &Received, secret: &str) -> Value {
    let headers: serde_json::Map<String, Value> =
        got.headers.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap().to_string()))).collect();
    json!({"body": String::from_utf8(got.body.to_vec()).unwrap(), "headers": headers, "secret": secret})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_source_sends_its_payload_with_its_content_type() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    // A media type is checked.
    let bad = json!({"schedule": "* * * * * *", "payload": "x", "contentType": "plain text"});
    let r = app.post("/ingest/api/v1/source", json!({"name": "c", "type": "cron", "config": bad})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(loc(&r.body), ["body", "config", "contentType"]);

    // Text, sent as written (not as a JSON string).
    let payload = "42 is \"the answer\"\nand 42";
    let config = json!({"schedule": "* * * * * *", "payload": payload, "contentType": "text/plain; charset=utf-8"});
    let r = app.post("/ingest/api/v1/source", json!({"name": "text", "type": "cron", "config": config})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let source = r.body["id"].as_str().unwrap().to_string();
    let r = app.post(&format!("/ingest/api/v1/source/{source}/endpoint"), json!({"url": recv.url.clone()})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let ep = r.body["id"].as_str().unwrap().to_string();
    let key = app.get(&format!("/ingest/api/v1/source/{source}/endpoint/{ep}/secret")).await.body["key"].clone();

    let got = recv.wait_for(1).await;
    assert_eq!(&got[0].body[..], payload.as_bytes());
    assert_eq!(got[0].header("content-type"), "text/plain; charset=utf-8");
    let input = received_for_libraries(&got[0], key.as_str().unwrap());
    let (ok, out) = run_script(&python(), &script("py/verify_standard.py"), &input);
    assert!(ok, "the official libraries refused the signature: {out}");
    let mut tampered = input.clone();
    tampered["body"] = json!(format!("{payload}!"));
    assert!(!run_script(&python(), &script("py/verify_standard.py"), &tampered).0, "a changed body must not verify");

    // Back to JSON: the same source's next ticks go as application/json.
    let config = json!({"schedule": "* * * * * *", "payload": "42", "contentType": "application/json"});
    let r = app
        .put(&format!("/ingest/api/v1/source/{source}"), json!({"name": "text", "type": "cron", "config": config}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = eventually("a JSON tick", || {
        let recv = &recv;
        async move { recv.received().into_iter().find(|g| g.header("content-type") == "application/json") }
    })
    .await;
    assert_eq!(got.json(), json!(42));
    assert_eq!(app.delete(&format!("/ingest/api/v1/source/{source}")).await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_naming_the_field() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    for (body, field) in [
        (json!({"name": "x", "type": "github", "config": [1]}), vec!["body", "config"]),
        (json!({"name": "x", "config": {}}), vec!["body", "type"]),
        (json!({"name": "x", "type": "github", "config": {"secret": 7}}), vec!["body", "config", "secret"]),
        (json!({"name": "x", "type": "github", "config": {"secret": "short"}}), vec!["body", "config", "secret"]),
        (json!({"name": "", "type": "github", "config": {"secret": "long enough"}}), vec!["body", "name"]),
        (
            json!({"name": "x", "uid": "a b", "type": "github", "config": {"secret": "long enough"}}),
            vec!["body", "uid"],
        ),
        // A queue kind is a source type (hookd's own); its config is checked as a queue registration's.
        (json!({"name": "x", "type": "rabbitMq", "config": {}}), vec!["body", "config", "uri"]),
        (json!({"name": "x", "type": "kafka", "config": {}}), vec!["body", "type"]),
        // A provider's own settings: the one missing, malformed or of the wrong type is named.
        (json!({"name": "x", "type": "telnyx", "config": {}}), vec!["body", "config", "publicKey"]),
        (json!({"name": "x", "type": "discord", "config": {"publicKey": "abcd"}}), vec!["body", "config", "publicKey"]),
        (json!({"name": "x", "type": "discord", "config": {"publicKey": 5}}), vec!["body", "config", "publicKey"]),
        (
            json!({"name": "x", "type": "github", "config": {"secret": "long enough", "toleranceSeconds": "a"}}),
            vec!["body", "config", "toleranceSeconds"],
        ),
        (
            json!({"name": "x", "type": "cron", "config": {"schedule": "* * * * *", "payload": 5}}),
            vec!["body", "config", "payload"],
        ),
    ] {
        let r = app.post("/ingest/api/v1/source", body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {:?}", r.body);
        assert_eq!(loc(&r.body), field, "{body}");
    }
    let r = app.put("/ingest/api/v1/source/not a uid", json!({"name": "x", "type": "generic-webhook"})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);

    let r = app.post("/ingest/api/v1/source", json!({"name": "g", "type": "generic-webhook"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (source, url) = (r.body["id"].as_str().unwrap().to_string(), r.body["ingestUrl"].as_str().unwrap().to_string());
    for (body, field) in [
        (json!({"url": "http://127.0.0.1:1/x", "secret": "not base64!"}), vec!["body", "secret"]),
        (json!({"url": "http://127.0.0.1:1/x", "headers": {"bad header": "v"}}), vec!["body", "headers"]),
        (json!({"url": "http://127.0.0.1:1/x", "throttleRate": 0}), vec!["body", "throttleRate"]),
        (json!({"url": "http://127.0.0.1:1/x", "uid": "a/b"}), vec!["body", "uid"]),
    ] {
        let r = app.post(&format!("/ingest/api/v1/source/{source}/endpoint"), body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {:?}", r.body);
        assert_eq!(loc(&r.body), field, "{body}");
    }
    let r = app.patch(&format!("/ingest/api/v1/source/{source}/endpoint/ep_nope/transformation"), json!({})).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert_eq!(app.get("/ingest/api/v1/source/src_nope").await.status, 404);

    // The ingest URL: a body over the limit is 413, an unknown source or token 404, a body that is no JSON object
    // 400 — each with a JSON body.
    let post = |url: String, body: Vec<u8>| {
        let http = app.http.clone();
        async move {
            let r = http.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(post(url.clone(), vec![b' '; 5000]).await.0, 413);
    assert_eq!(post(format!("{}/ingest/in/{source}/wrong", app.base), b"{}".to_vec()).await.0, 404);
    assert_eq!(post(format!("{}/ingest/in/src_nope/wrong", app.base), b"{}".to_vec()).await.0, 404);
    assert_eq!(post(url.clone(), b"[1, 2]".to_vec()).await.0, 400);
    assert_eq!(post(url, br#"{"type": "ok"}"#.to_vec()).await.0, 200);

    // Three rotations within 48 hours, as Svix allows; a fourth is refused.
    let rotate = format!("/ingest/api/v1/source/{source}/token/rotate");
    for _ in 0..3 {
        assert_eq!(app.post(&rotate, json!({})).await.status, 200);
    }
    let r = app.post(&rotate, json!({})).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_source_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    // A short lease: a tick claimed at the moment of the kill is taken up again soon after the restart.
    let env = [("HOOKD_ADMIN_TOKEN", "t"), ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true"), ("HOOKD_LEASE", "2s")];
    let recv = Receiver::start().await;
    let mut hookd = HookdProcess::start(&db, port, &env).await;
    let post = |path: String, body: Value| {
        let base = hookd.base.clone();
        async move {
            let r = reqwest::Client::new().post(format!("{base}{path}")).header("x-api-key", "t").json(&body);
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let config = json!({"schedule": "* * * * * *", "payload": "{\"alive\": true}"});
    let (status, source) =
        post("/ingest/api/v1/source".into(), json!({"name": "c", "type": "cron", "config": config})).await;
    assert_eq!(status, 201, "{source:?}");
    let id = source["id"].as_str().unwrap();
    let (status, ep) = post(format!("/ingest/api/v1/source/{id}/endpoint"), json!({"url": recv.url.clone()})).await;
    assert_eq!(status, 201, "{ep:?}");
    recv.wait_for(1).await;

    assert!(std::process::Command::new("kill").args(["-9", &hookd.child.id().to_string()]).status().unwrap().success());
    let _ = hookd.child.wait();
    let before = recv.received().len();
    let _restarted = HookdProcess::start(&db, port, &env).await;
    let got = recv.wait_for(before + 2).await;
    assert!(got.iter().all(|g| g.json() == json!({"alive": true})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_source_its_refusals_and_replays_it() {
    ui::assert_browser_ready();
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let secret = "dashboard-shared-secret";
    let r = app
        .post("/ingest/api/v1/source", json!({"name": "Acme GitHub", "type": "github", "config": {"secret": secret}}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (source, url) = (r.body["id"].as_str().unwrap().to_string(), r.body["ingestUrl"].as_str().unwrap().to_string());
    let r = app.post(&format!("/ingest/api/v1/source/{source}/endpoint"), json!({"url": recv.url.clone()})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let body = r#"{"ref":"refs/heads/main","after":"def"}"#;
    assert_eq!(post_github(&app, &url, body, "d-1", secret).await.0, 200);
    assert_eq!(post_github(&app, &url, body, "d-2", "not-the-secret").await.0, 401);
    recv.wait_for(1).await;

    let input = json!({"base": app.base, "token": app.token, "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok(),
        "source": source, "ingestUrl": url, "name": "Acme GitHub"});
    let (ok, out) = run_script("node", &script("node/dashboard_ingest_source.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("ingest source dashboard flow passed"), "{out}");
    // The replay reached the source's endpoint.
    let got = recv.wait_for(2).await;
    assert_eq!(got[1].json()["data"]["after"], "def");
}
