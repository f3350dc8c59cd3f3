//! Transformations (issue 12): ready-made shapes delivered to receivers that validate as Slack, Discord, Teams,
//! GitHub's `repository_dispatch` and GitLab's pipeline triggers do; the JavaScript sandbox containing errors,
//! endless loops and memory hogs without stalling other deliveries; a changed URL held to the egress policy; the
//! dry run; the seed's MINOOTS Slack and Discord examples as written; an inbound GitHub event relayed to Slack.
//! The Svix JavaScript SDK's own calls are in tests/node/svix_sdk_transform.mjs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use common::*;
use hmac::{Hmac, Mac};
use hookd::engine::transform::Preset;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// One request a service received, with what it answered.
#[derive(Debug, Clone)]
struct Got {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
    status: u16,
}

/// A loopback stand-in for the services, validating as they do; the path says which service is meant.
#[derive(Clone)]
struct Services {
    base: String,
    host: String,
    got: Arc<Mutex<Vec<Got>>>,
    notify: Arc<Notify>,
}

fn validate(method: &Method, path: &str, headers: &HeaderMap, body: &Value) -> (u16, Value) {
    let text = |k: &str| body.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    let list = |k: &str| body.get(k).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    if path.starts_with("/services/") {
        // Slack's incoming webhooks.
        return match text("text") || list("blocks") {
            true => (200, json!("ok")),
            false => (400, json!("invalid_payload")),
        };
    }
    if path.starts_with("/api/webhooks/") {
        return match text("content") || list("embeds") {
            true => (204, Value::Null),
            false => (400, json!({"message": "Cannot send an empty message", "code": 50006})),
        };
    }
    if path.starts_with("/webhookb2/") {
        return match body.get("@type").is_some() && (text("text") || text("summary")) {
            true => (200, json!(1)),
            false => (400, json!("Summary or Text is required.")),
        };
    }
    if path.starts_with("/repos/") && path.ends_with("/dispatches") {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if method != Method::POST {
            return (404, json!({"message": "Not Found"}));
        }
        if !(auth.starts_with("Bearer ") || auth.starts_with("token ")) {
            return (401, json!({"message": "Requires authentication"}));
        }
        return match text("event_type") {
            true => (204, Value::Null),
            false => (422, json!({"message": "Invalid request.\n\n\"event_type\" wasn't supplied."})),
        };
    }
    if path.ends_with("/trigger/pipeline") {
        if !text("token") {
            return (404, json!({"message": "404 Not Found"}));
        }
        return match text("ref") {
            true => (201, json!({"id": 1, "status": "created"})),
            false => (400, json!({"message": {"base": ["Reference not found"]}})),
        };
    }
    (200, json!("ok"))
}

impl Services {
    async fn start() -> Services {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let notify = Arc::new(Notify::new());
        let (g, n) = (got.clone(), notify.clone());
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let (g, n) = (g.clone(), n.clone());
                async move {
                    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let (status, answer) = validate(&method, uri.path(), &headers, &json);
                    g.lock().unwrap().push(Got { method, path: uri.path().into(), headers, body: json, status });
                    n.notify_waiters();
                    let status = StatusCode::from_u16(status).unwrap();
                    match answer {
                        Value::Null => (status, String::new()),
                        Value::String(s) => (status, s),
                        other => (status, other.to_string()),
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Services { base: format!("http://{addr}"), host: addr.to_string(), got, notify }
    }

    /// Waits for a request to a path starting with `prefix` that the service accepted.
    async fn accepted(&self, prefix: &str) -> Got {
        self.wait(prefix, |g| (200..300).contains(&g.status)).await
    }

    async fn wait(&self, prefix: &str, pred: impl Fn(&Got) -> bool) -> Got {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(g) = self.got.lock().unwrap().iter().find(|g| g.path.starts_with(prefix) && pred(g)) {
                return g.clone();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("nothing for {prefix}; got {:#?}", self.got.lock().unwrap());
            }
        }
    }
}

fn tms_completed() -> Value {
    json!({"event": "execution.completed", "executionId": "exec_42", "timestamp": "2026-01-15T10:15:00Z",
        "data": {"results": {"total": 50, "passed": 48, "failed": 2}, "testSuite": "e2e", "environment": "staging",
            "artifacts": {"reportUrl": "https://tms.example/reports/exec_42"}}})
}

async fn endpoint(app: &TestApp, app_id: &str, url: &str, extra: Value) -> String {
    let mut body = json!({"url": url});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    let r = app.post(&format!("/api/v1/app/{app_id}/endpoint"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

async fn set_transformation(app: &TestApp, app_id: &str, ep: &str, t: Value) {
    let r = app.patch(&format!("/api/v1/app/{app_id}/endpoint/{ep}/transformation"), t).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
}

/// The endpoint's attempts once one satisfies `pred`.
async fn attempt_where(app: &TestApp, app_id: &str, ep: &str, pred: impl Fn(&Value) -> bool) -> Value {
    eventually("an attempt", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/attempt/endpoint/{ep}")).await;
        r.body["data"].as_array().and_then(|a| a.iter().find(|x| pred(x)).cloned())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_made_shapes_pass_the_services_validation() {
    let app = spawn_app().await;
    let svc = Services::start().await;
    let a = app.post("/api/v1/app", json!({"name": "ci"})).await.body["id"].as_str().unwrap().to_string();
    let base = &svc.base;
    let slack = endpoint(&app, &a, &format!("{base}/services/T0/B0/slack"), json!({})).await;
    set_transformation(&app, &a, &slack, json!({"template": "slack"})).await;
    let discord = endpoint(&app, &a, &format!("{base}/api/webhooks/1/discord"), json!({})).await;
    set_transformation(&app, &a, &discord, json!({"template": "discord", "enabled": true})).await;
    let teams = endpoint(&app, &a, &format!("{base}/webhookb2/teams"), json!({})).await;
    set_transformation(&app, &a, &teams, json!({"template": "teams"})).await;
    let headers = json!({"headers": {"Authorization": "Bearer ghp_test", "Accept": "application/vnd.github+json"}});
    let github = endpoint(&app, &a, &format!("{base}/repos/acme/app/dispatches"), headers).await;
    set_transformation(
        &app,
        &a,
        &github,
        json!({"template": "github-dispatch", "variables": {"eventType": "tms-webhook"}}),
    )
    .await;
    let gitlab = endpoint(&app, &a, &format!("{base}/api/v4/projects/7/trigger/pipeline"), json!({})).await;
    let vars = json!({"token": "glptt-secret", "ref": "main", "prefix": "TMS"});
    set_transformation(&app, &a, &gitlab, json!({"template": "gitlab-trigger", "variables": vars})).await;
    // Without a shape, Slack refuses TMS's JSON, and GitHub refuses a dispatch without a token.
    let raw_slack = endpoint(&app, &a, &format!("{base}/services/T0/B0/raw"), json!({})).await;
    let no_token = endpoint(&app, &a, &format!("{base}/repos/acme/other/dispatches"), json!({})).await;
    set_transformation(&app, &a, &no_token, json!({"template": "github-dispatch"})).await;

    let msg = app.publish(&a, "execution.completed", tms_completed()).await;

    let got = svc.accepted("/services/T0/B0/slack").await;
    assert_eq!(got.body["text"], "❌ TMS execution exec_42 completed with 2 of 50 tests failed");
    assert_eq!(got.body["attachments"][0]["color"], "danger");
    let got = svc.accepted("/api/webhooks/").await;
    assert_eq!(got.body["content"], "❌ TMS execution exec_42 completed with 2 of 50 tests failed");
    assert_eq!(got.body["embeds"][0]["url"], "https://tms.example/reports/exec_42");
    let got = svc.accepted("/webhookb2/").await;
    assert_eq!(got.body["@type"], "MessageCard");
    assert_eq!(got.body["sections"][0]["facts"][1], json!({"name": "Passed", "value": "48"}));
    // The seed's workflow reads client_payload.event, .executionId and .data.results.
    let got = svc.accepted("/repos/acme/app/").await;
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.body["event_type"], "tms-webhook");
    assert_eq!(got.body["client_payload"]["event"], "execution.completed");
    assert_eq!(got.body["client_payload"]["data"]["results"]["failed"], 2);
    // The seed's pipeline reads TMS_EVENT, TMS_EXECUTION_ID, TMS_FAILED …
    let got = svc.accepted("/api/v4/").await;
    assert_eq!(got.body["token"], "glptt-secret");
    let v = &got.body["variables"];
    assert_eq!(
        (v["TMS_EVENT"].as_str(), v["TMS_EXECUTION_ID"].as_str()),
        (Some("execution.completed"), Some("exec_42"))
    );
    assert_eq!((v["TMS_FAILED"].as_str(), v["TMS_TOTAL"].as_str()), (Some("2"), Some("50")));

    let refused = svc.wait("/services/T0/B0/raw", |g| g.status == 400).await;
    assert_eq!(refused.body["event"], "execution.completed", "sent as published");
    let a1 = attempt_where(&app, &a, &raw_slack, |x| x["responseStatusCode"] == 400).await;
    assert_eq!(a1["response"], "invalid_payload");
    let a2 = attempt_where(&app, &a, &no_token, |x| x["responseStatusCode"] == 401).await;
    assert!(a2["response"].as_str().unwrap().contains("Requires authentication"));
    // The message keeps its payload: transformations apply to what is sent.
    let stored = app.get(&format!("/api/v1/app/{a}/msg/{}", msg["id"].as_str().unwrap())).await;
    assert_eq!(stored.body["payload"]["executionId"], "exec_42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_contains_errors_loops_and_memory_hogs_without_stalling_others() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let a = app.post("/api/v1/app", json!({"name": "sandbox"})).await.body["id"].as_str().unwrap().to_string();
    let cases = [
        ("function handler(w) { throw new TypeError('no invoice id'); }", "TypeError: no invoice id"),
        ("function handler(w) { for (;;) {} }", "time limit"),
        ("function handler(w) { const a = []; for (;;) a.push(new Array(1 << 16).fill(a.length)); }", "memory limit"),
        ("function handler(w) { w.payload = 'x'.repeat(3 << 20); return w; }", "KiB of JSON"),
        ("function handler(w) { w.method = 'DELETE'; return w; }", "only POST and PUT"),
        ("function handler(w) { return 42; }", "must return the webhook"),
    ];
    let mut bad = vec![];
    for (code, _) in &cases {
        let ep = endpoint(&app, &a, &recv.url, json!({"eventTypes": ["bad"]})).await;
        set_transformation(&app, &a, &ep, json!({"code": code})).await;
        bad.push(ep);
    }
    let good = endpoint(&app, &a, &recv.url, json!({"eventTypes": ["good"]})).await;
    set_transformation(&app, &a, &good, json!({"code": "function handler(w) { w.payload.seen = true; return w; }"}))
        .await;

    // Endless loops run on every core while the good endpoint's messages go out promptly.
    for _ in 0..3 {
        app.publish(&a, "bad", json!({"n": 1})).await;
    }
    let started = Instant::now();
    for i in 0..5 {
        app.publish(&a, "good", json!({"i": i})).await;
    }
    let got = recv.wait_for(5).await;
    assert!(started.elapsed() < Duration::from_secs(5), "good deliveries took {:?}", started.elapsed());
    assert!(got.iter().all(|g| g.json()["seen"] == true));

    for (ep, (_, why)) in bad.iter().zip(cases) {
        let attempt = attempt_where(&app, &a, ep, |x| x["status"] == 2).await;
        assert_eq!(attempt["responseStatusCode"], 0);
        let response = attempt["response"].as_str().unwrap();
        assert!(response.contains(why), "{response:?} should say {why:?}");
    }
    assert_eq!(recv.received().len(), 5, "nothing reached the receiver from a failed transformation");
}

/// Code that does not compile is refused when it is saved (422 naming `code`, with the error), and the
/// transformation stays as it was; one that compiles can still be turned off and on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_that_does_not_compile_is_refused_when_saved() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let a = app.post("/api/v1/app", json!({"name": "compile"})).await.body["id"].as_str().unwrap().to_string();
    let ep = endpoint(&app, &a, &recv.url, json!({})).await;
    let path = format!("/api/v1/app/{a}/endpoint/{ep}/transformation");
    let good = "function handler(w) { w.payload.kept = true; return w; }";
    set_transformation(&app, &a, &ep, json!({"code": good})).await;
    for (code, why) in [
        ("function handler(w) { return w", "SyntaxError"),
        ("var x = 1;", "function handler(webhook)"),
        ("for (;;) {} function handler(w) { return w; }", "time limit"),
        ("function handler(w) { return w; }\nundefinedName.call();", "ReferenceError"),
    ] {
        let r = app.patch(&path, json!({"code": code})).await;
        assert_eq!(r.status, 422, "{code}: {:?}", r.body);
        assert_eq!(r.body["detail"][0]["loc"], json!(["body", "code"]), "{:?}", r.body);
        let msg = r.body["detail"][0]["msg"].as_str().unwrap();
        assert!(msg.contains(why), "{code}: {msg:?} should say {why:?}");
    }
    let stored = app.get(&path).await;
    assert_eq!(stored.body["code"], good, "a refused change leaves the transformation as it was");
    let r = app.patch(&path, json!({"enabled": false})).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    set_transformation(&app, &a, &ep, json!({"enabled": true})).await;
    app.publish(&a, "any", json!({"n": 1})).await;
    assert_eq!(recv.wait_for(1).await[0].json()["kept"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transformation_changes_payload_url_and_method_or_cancels() {
    let app = spawn_app_with(|c| {
        c.allow_private_networks = false;
        c.allowed_cidrs = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let recv = Receiver::start().await;
    let other = Receiver::start().await;
    let a = app.post("/api/v1/app", json!({"name": "t"})).await.body["id"].as_str().unwrap().to_string();
    let ep = endpoint(&app, &a, &recv.url, json!({})).await;
    let code = format!(
        "function handler(webhook) {{
           if (webhook.payload.skip) return {{ ...webhook, cancel: true }};
           if (webhook.payload.elsewhere) webhook.url = {:?};
           if (webhook.payload.private) webhook.url = 'http://127.0.0.2:9/x';
           webhook.method = 'PUT';
           webhook.payload = {{ text: variables.prefix + webhook.eventType + ' ' + webhook.payload.id }};
           return webhook;
         }}",
        other.url
    );
    set_transformation(&app, &a, &ep, json!({"code": code, "variables": {"prefix": "> "}})).await;
    let t = app.get(&format!("/api/v1/app/{a}/endpoint/{ep}/transformation")).await.body;
    assert_eq!((t["enabled"].as_bool(), t["variables"]["prefix"].as_str()), (Some(true), Some("> ")));
    assert!(t["updatedAt"].is_string());

    app.publish(&a, "invoice.paid", json!({"id": 1})).await;
    let got = recv.wait_for(1).await;
    assert_eq!(got[0].json(), json!({"text": "> invoice.paid 1"}));
    // Signed over what was sent.
    let secret =
        app.get(&format!("/api/v1/app/{a}/endpoint/{ep}/secret")).await.body["key"].as_str().unwrap().to_string();
    let input = json!({"body": String::from_utf8(got[0].body.to_vec()).unwrap(), "secret": secret,
        "headers": {"svix-id": got[0].header("svix-id"), "svix-timestamp": got[0].header("svix-timestamp"),
                    "svix-signature": got[0].header("svix-signature")}});
    let (ok, out) = run_script(&python(), &script("py/verify_standard.py"), &input);
    assert!(ok, "{out}");

    app.publish(&a, "invoice.paid", json!({"id": 2, "elsewhere": true})).await;
    let moved = other.wait_for(1).await;
    assert_eq!(moved[0].json()["text"], "> invoice.paid 2");
    let attempt = attempt_where(&app, &a, &ep, |x| x["url"] == other.url.as_str()).await;
    assert_eq!(attempt["status"], 0, "the attempt records the URL it went to");

    let private = app.publish(&a, "invoice.paid", json!({"id": 3, "private": true})).await;
    let refused = attempt_where(&app, &a, &ep, |x| x["msgId"] == private["id"]).await;
    assert!(refused["response"].as_str().unwrap().contains("not a public address"), "{refused}");

    let skipped = app.publish(&a, "invoice.paid", json!({"id": 4, "skip": true})).await;
    let cancelled = attempt_where(&app, &a, &ep, |x| x["msgId"] == skipped["id"]).await;
    assert_eq!(cancelled["status"], 4, "cancelled: {cancelled}");
    assert!(cancelled["response"].as_str().unwrap().contains("cancelled"));
    let stats = app.get(&format!("/api/v1/app/{a}/endpoint/{ep}/stats")).await.body;
    assert_eq!(stats["canceled"], 1, "{stats}");
    assert_eq!(recv.received().len(), 1);
    assert_eq!(other.received().len(), 1);

    // Disabled, the message goes out as published.
    set_transformation(&app, &a, &ep, json!({"enabled": false})).await;
    app.publish(&a, "invoice.paid", json!({"id": 5})).await;
    assert_eq!(recv.wait_for(2).await[1].json(), json!({"id": 5}));
    // Another organization sees no such endpoint.
    let stranger = app.other_org_token().await;
    let path = format!("/api/v1/app/{a}/endpoint/{ep}/transformation");
    assert_eq!(app.call(reqwest::Method::GET, &path, Some(&stranger), None).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_shows_what_a_payload_becomes() {
    let app = spawn_app().await;
    let a = app.post("/api/v1/app", json!({"name": "dry"})).await.body["id"].as_str().unwrap().to_string();
    let ep = endpoint(&app, &a, "https://hooks.example/in", json!({})).await;
    let path = format!("/api/v1/app/{a}/endpoint/{ep}/transformation/simulate");
    let r = app
        .post(
            &path,
            json!({"eventType": "user.created", "payload": {"name": "Ada"},
            "code": "function handler(w) { w.url += '?v=2'; w.payload = { hello: w.payload.name }; return w; }"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"method": "POST", "url": "https://hooks.example/in?v=2", "payload": {"hello": "Ada"}, "cancel": false})
    );
    let r =
        app.post(&path, json!({"eventType": "user.created", "payload": {"message": "hi"}, "template": "slack"})).await;
    assert_eq!(r.body["payload"], json!({"text": "hi"}));
    let r = app
        .post(
            &path,
            json!({"eventType": "x", "payload": {}, "code": "function handler(w) { return { cancel: true }; }"}),
        )
        .await;
    assert_eq!(r.body["cancel"], true);
    let r = app.post(&path, json!({"eventType": "x", "payload": {}, "code": "function handler(w) { null.x; }"})).await;
    assert_eq!((r.status.as_u16(), r.body["code"].as_str()), (400, Some("transformation_failed")));
    assert!(r.body["detail"].as_str().unwrap().contains("TypeError"), "{:?}", r.body);
    let r = app.post(&path, json!({"eventType": "x", "payload": {}, "template": "myspace"})).await;
    assert_eq!(r.status, 422);
    // Without code in the request, the endpoint's own is used.
    set_transformation(&app, &a, &ep, json!({"code": "function handler(w) { w.payload.stored = true; return w; }"}))
        .await;
    let r = app.post(&path, json!({"eventType": "x", "payload": {"a": 1}})).await;
    assert_eq!(r.body["payload"], json!({"a": 1, "stored": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_slack_and_discord_timer_examples_work_as_written() {
    let slack = Services::start().await;
    let discord = Services::start().await;
    // Tests cannot reach hooks.slack.com: the loopback stand-ins are named Slack- and Discord-compatible hosts,
    // as a Mattermost server would be in production. Real Slack and Discord URLs need no configuration.
    let shapes = vec![(slack.host.clone(), Preset::Slack), (discord.host.clone(), Preset::Discord)];
    let app = spawn_app_with(|c| c.webhook_shapes = shapes).await;
    let plain = Receiver::start().await;

    // Seed 001, "Slack Integration", with a shorter duration.
    let r = app
        .post(
            "/timers",
            json!({"name": "Sprint Planning", "duration": "1s", "events": {"on_expire": {
                "webhook": format!("{}/services/YOUR/SLACK/WEBHOOK", slack.base),
                "message": "Sprint planning session completed!",
                "data": {"channel": "#dev-team", "username": "MINOOTS Bot"}}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // Seed 001, "Discord Integration".
    let r = app
        .post(
            "/timers",
            json!({"name": "Deploy window", "duration": "1s", "events": {"on_expire": {
                "webhook": format!("{}/api/webhooks/YOUR/DISCORD/WEBHOOK", discord.base),
                "message": "Deployment window closing in 10 minutes",
                "data": {"embeds": [{"title": "MINOOTS Timer Alert", "color": 0xff6b35, "description": "Deployment window closing soon"}]}}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // A format asked for explicitly, on any URL, and milestones too.
    let r = app
        .post(
            "/timers",
            json!({"name": "Build", "duration": "1s", "events": {
                "on_progress": {"webhook": plain.url, "intervals": ["50%"], "format": "teams"},
                "on_expire": {"webhook": plain.url, "format": "slack"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let bad = app
        .post("/timers", json!({"duration": "1s", "events": {"on_expire": {"webhook": plain.url, "format": "fax"}}}))
        .await;
    assert_eq!(bad.status, 422);

    let got = slack.accepted("/services/YOUR/SLACK/WEBHOOK").await;
    assert_eq!(
        got.body,
        json!({"text": "Sprint planning session completed!", "channel": "#dev-team", "username": "MINOOTS Bot",
        "attachments": [{"fallback": "Sprint planning session completed!", "fields": [{"title": "Duration", "value": "1s", "short": true}]}]})
    );
    assert!(got.headers.get("x-minoots-signature").is_some(), "still signed as the seed shows");
    let got = discord.accepted("/api/webhooks/YOUR/DISCORD/WEBHOOK").await;
    assert_eq!(got.body["content"], "Deployment window closing in 10 minutes");
    assert_eq!(got.body["embeds"][0]["title"], "MINOOTS Timer Alert");
    assert_eq!(got.body["embeds"][0]["color"], 0xff6b35);

    let got = plain.wait_for(2).await;
    let bodies: Vec<Value> = got.iter().map(|g| g.json()).collect();
    let card = bodies.iter().find(|b| b["@type"] == "MessageCard").expect("the milestone as a Teams card");
    assert_eq!(card["title"], "Timer “Build” is 50% done");
    let expired = bodies.iter().find(|b| b.get("text").is_some() && b.get("@type").is_none()).expect("slack");
    assert_eq!(expired["text"], "⏰ Timer “Build” expired");
}

fn github_signature(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_github_event_is_relayed_to_a_slack_channel() {
    let app = spawn_app().await;
    let slack = Services::start().await;
    let (app_id, _) = app.app_with_endpoint(&format!("{}/services/T0/B0/relay", slack.base), json!({})).await;
    let code = "function handler(webhook) {
        const e = webhook.payload;
        if (e.data.action === 'closed') return { ...webhook, cancel: true };
        webhook.payload = { text: `Issue #${e.data.issue.number} ${e.data.action}: ${e.data.issue.title}`, channel: variables.channel };
        return webhook;
    }";
    let reg = app
        .post(
            "/integrations/github/webhooks",
            json!({"connectionId": "c", "events": ["issues.*"], "destination": {"appId": app_id},
                "transformation": {"code": code, "variables": {"channel": "#triage"}}}),
        )
        .await;
    assert_eq!(reg.status, 201, "{:?}", reg.body);
    let reg_id = reg.body["registrationId"].as_str().unwrap().to_string();
    assert_eq!(app.get(&format!("/webhooks/{reg_id}")).await.body["transformation"]["variables"]["channel"], "#triage");
    // Code that does not compile is refused when saved, here as for an endpoint.
    let broken = json!({"transformation": {"code": "function handler(webhook) { return webhook"}});
    let r = app.patch(&format!("/webhooks/{reg_id}"), broken.clone()).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "transformation", "code"]), "{:?}", r.body);
    assert!(r.body["detail"][0]["msg"].as_str().unwrap().contains("SyntaxError"), "{:?}", r.body);
    let mut create = json!({"connectionId": "c2", "events": ["issues.*"], "destination": {"appId": app_id}});
    create["transformation"] = broken["transformation"].clone();
    assert_eq!(app.post("/integrations/github/webhooks", create).await.status, 422);
    let secret = reg.body["webhookSecret"].as_str().unwrap().to_string();
    let send = |action: &'static str, delivery: &'static str| {
        let (http, url, secret) =
            (app.http.clone(), reg.body["webhookUrl"].as_str().unwrap().to_string(), secret.clone());
        async move {
            let body = json!({"action": action, "issue": {"id": 7, "number": 12, "title": "Login fails"}}).to_string();
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .header("x-github-event", "issues")
                .header("x-github-delivery", delivery)
                .header("x-hub-signature-256", github_signature(&secret, &body))
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(send("opened", "d-1").await["syncTriggered"], true);
    let got = slack.accepted("/services/T0/B0/relay").await;
    assert_eq!(got.body, json!({"text": "Issue #12 opened: Login fails", "channel": "#triage"}));
    assert_eq!(send("closed", "d-2").await["syncTriggered"], false, "cancelled: stored, not forwarded");

    // A failing transformation keeps the event and says why.
    let patched = app
        .patch(
            &format!("/webhooks/{reg_id}"),
            json!({"transformation": {"code": "function handler(w) { throw new Error('nope'); }"}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let r = send("reopened", "d-3").await;
    assert_eq!(r["syncTriggered"], false);
    assert!(r["transformationError"].as_str().unwrap().contains("nope"), "{r}");
    let events = app.get(&format!("/webhooks/{reg_id}/events")).await.body;
    assert_eq!(events["data"].as_array().unwrap().len(), 3);
    assert_eq!(slack.got.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_transformation_and_tries_it_on_an_example() {
    let app = spawn_app().await;
    let (app_id, ep) = app.app_with_endpoint("https://hooks.example/original", json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let code = "function handler(webhook) {
  if (webhook.payload.test) return { ...webhook, cancel: true };
  webhook.method = 'PUT';
  webhook.url = webhook.url.replace('/original', '/services/T0/B0/X');
  webhook.payload = { text: `Invoice ${webhook.payload.id} paid: ${(webhook.payload.amount / 100).toFixed(2)}` };
  return webhook;
}";
    set_transformation(&app, &app_id, ep_id, json!({"code": code})).await;
    let input = json!({"base": app.base, "token": app.token, "appId": app_id, "endpointId": ep_id,
        "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok()});
    let (ok, out) = run_script("node", &script("node/dashboard_transform.mjs"), &input);
    assert!(ok && out.contains("dashboard transform passed"), "the browser flow failed:\n{out}");
}
