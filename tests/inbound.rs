//! The inbound gateway (seed 002): registrations, the ingest pipeline (verify → normalise → dedup → forward
//! through the engine), rate limits, health, stored events and replay. Provider-by-provider verification with
//! the providers' official libraries is in inbound_providers.rs.

mod common;

use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

fn github_signature(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A GitHub `issues` event as GitHub sends it.
async fn send_github(app: &TestApp, reg: &Value, delivery: &str, action: &str, secret: &str) -> Resp {
    let body =
        json!({"action": action, "issue": {"id": 1234567, "number": 123, "title": "Bug"}, "repository": {"id": 9}})
            .to_string();
    let resp = app
        .http
        .post(reg["webhookUrl"].as_str().unwrap())
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", github_signature(secret, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    Resp { status, body: resp.json().await.unwrap_or(Value::Null), headers }
}

async fn register(app: &TestApp, provider: &str, body: Value) -> Value {
    let r = app.post(&format!("/integrations/{provider}/webhooks"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn registrations_follow_the_seed_api_and_stay_within_their_tenant() {
    let app = spawn_app().await;
    let reg = register(&app, "github", json!({"connectionId": "conn-1", "events": ["issues.*"], "retryPolicy": {"maxRetries": 3, "backoffSeconds": 60}, "metadata": {"source": "test"}})).await;
    let id = reg["registrationId"].as_str().unwrap();
    assert_eq!(reg["webhookUrl"], format!("{}/webhooks/{id}", app.base));
    assert!(reg["webhookSecret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(reg["status"], "active");
    assert!(reg["createdAt"].is_string());

    let got = app.get(&format!("/webhooks/{id}")).await.body;
    assert_eq!(got["id"], reg["registrationId"]);
    assert_eq!((got["integrationId"].as_str(), got["connectionId"].as_str()), (Some("github"), Some("conn-1")));
    assert_eq!(got["events"], json!(["issues.*"]));
    assert_eq!(got["isVerified"], false);
    assert_eq!(got["failureCount"], 0);
    assert_eq!(got["retryPolicy"], json!({"maxRetries": 3, "backoffSeconds": 60}));

    register(&app, "slack", json!({"connectionId": "conn-2", "events": ["message"]})).await;
    let all = app.get("/webhooks").await.body;
    assert_eq!(all["total"], 2);
    let filtered = app.get("/webhooks?integrationId=github&connectionId=conn-1").await.body;
    assert_eq!((filtered["total"].as_u64(), filtered["webhooks"][0]["id"].as_str()), (Some(1), Some(id)));

    // Another tenant sees none of it.
    let other = app.other_org_token().await;
    for path in [format!("/webhooks/{id}"), format!("/webhooks/{id}/health"), format!("/webhooks/{id}/events")] {
        assert_eq!(app.call(reqwest::Method::GET, &path, Some(&other), None).await.status, 404, "{path}");
    }
    assert_eq!(app.call(reqwest::Method::DELETE, &format!("/webhooks/{id}"), Some(&other), None).await.status, 404);
    assert_eq!(app.call(reqwest::Method::GET, "/webhooks", Some(&other), None).await.body["total"], 0);
    assert_eq!(app.call(reqwest::Method::GET, "/webhooks", None, None).await.status, 401);

    // Bad registrations.
    assert_eq!(
        app.post("/integrations/myspace/webhooks", json!({"connectionId": "c", "events": ["x"]})).await.status,
        422
    );
    assert_eq!(app.post("/integrations/github/webhooks", json!({"connectionId": "c", "events": []})).await.status, 422);
    assert_eq!(app.post("/integrations/github/webhooks", json!({"events": ["x"]})).await.status, 422);
    assert_eq!(
        app.post(
            "/integrations/github/webhooks",
            json!({"connectionId": "c", "events": ["x"], "destination": {"appId": "app_none"}})
        )
        .await
        .status,
        422
    );

    assert_eq!(app.delete(&format!("/webhooks/{id}")).await.status, 204);
    assert_eq!(app.get(&format!("/webhooks/{id}")).await.status, 404);
    assert_eq!(app.http.post(format!("{}/webhooks/{id}", app.base)).body("{}").send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_verified_github_event_is_forwarded_re_signed_to_the_destination_once() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, _ep) = app.app_with_endpoint(&recv.url, json!({})).await;
    let reg = register(
        &app,
        "github",
        json!({"connectionId": "c", "events": ["issues.*"], "destination": {"appId": app_id}}),
    )
    .await;
    let secret = reg["webhookSecret"].as_str().unwrap();

    let r = send_github(&app, &reg, "d-1", "opened", secret).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["eventType"], "opened");
    assert_eq!(r.body["entityId"], "1234567");
    assert_eq!(r.body["syncTriggered"], true);
    assert!(r.body["processingTimeMs"].is_u64());

    let got = recv.wait_for(1).await;
    let event = got[0].json();
    assert_eq!(event["providerId"], "github");
    assert_eq!((event["eventType"].as_str(), event["entityId"].as_str()), (Some("opened"), Some("1234567")));
    assert_eq!(event["data"]["issue"]["number"], 123);
    assert!(got[0].header("svix-signature").starts_with("v1,"), "re-signed by the engine");

    // The same delivery again: 200, not forwarded twice.
    let again = send_github(&app, &reg, "d-1", "opened", secret).await;
    assert_eq!((again.status.as_u16(), &again.body["duplicate"]), (200, &json!(true)));
    // An event the registration did not ask for: stored, not forwarded.
    let reg_id = reg["registrationId"].as_str().unwrap();
    let other = app
        .http
        .post(reg["webhookUrl"].as_str().unwrap())
        .header("x-github-event", "push")
        .header("x-github-delivery", "d-2")
        .header("x-hub-signature-256", github_signature(secret, "{\"ref\":\"main\"}"))
        .body("{\"ref\":\"main\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(other.json::<Value>().await.unwrap()["syncTriggered"], false);
    let events = app.get(&format!("/webhooks/{reg_id}/events")).await.body;
    assert_eq!(events["data"].as_array().unwrap().len(), 2, "two distinct deliveries stored");
    assert_eq!(recv.received().len(), 1);

    // The raw request stays retrievable, and can be replayed.
    let first = events["data"].as_array().unwrap().iter().find(|e| e["deliveryId"] == "d-1").unwrap().clone();
    let raw = app.get(&format!("/webhooks/{reg_id}/events/{}", first["id"].as_str().unwrap())).await.body;
    assert!(raw["body"].as_str().unwrap().contains("\"number\":123"));
    assert_eq!(raw["headers"]["x-github-delivery"], "d-1");
    assert_eq!(raw["event"]["data"]["issue"]["number"], 123, "the normalised event, data included");
    assert_eq!(raw["event"]["entityId"], "1234567");
    let replayed =
        app.post(&format!("/webhooks/{reg_id}/events/{}/replay", first["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(replayed.status, 200, "{:?}", replayed.body);
    let got = recv.wait_for(2).await;
    assert_eq!(got[1].json()["entityId"], "1234567");
    assert_eq!(got[1].header("svix-id"), replayed.body["messageId"].as_str().unwrap());

    let reg_now = app.get(&format!("/webhooks/{reg_id}")).await.body;
    assert_eq!(reg_now["isVerified"], true);
}

#[tokio::test]
async fn bad_signatures_are_401_counted_in_health_and_reset_by_a_success() {
    let app = spawn_app().await;
    let reg = register(&app, "github", json!({"connectionId": "c", "events": ["*"]})).await;
    let id = reg["registrationId"].as_str().unwrap();
    let secret = reg["webhookSecret"].as_str().unwrap();
    for i in 0..3 {
        let r = send_github(&app, &reg, &format!("bad-{i}"), "opened", "whsec_wrong").await;
        assert_eq!(r.status, 401);
        assert!(r.body["error"].as_str().unwrap().contains("signature"), "{:?}", r.body);
        assert!(r.body["processingTimeMs"].is_u64());
    }
    let h = app.get(&format!("/webhooks/{id}/health")).await.body;
    assert_eq!(h["status"], "failed");
    assert_eq!(h["failureCount"], 3);
    assert_eq!(h["failureRate"], 100.0);
    assert!(h["lastFailureAt"].is_string());
    assert!(!h["recommendations"].as_array().unwrap().is_empty());
    let service = app.get("/webhooks/health").await.body;
    assert_eq!(
        (service["registrationsCount"].as_u64(), service["failedRegistrationsCount"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(service["cacheHitRate"].as_f64().unwrap() > 0.5, "{service:?}");

    let ok = send_github(&app, &reg, "good", "opened", secret).await;
    assert_eq!(ok.status, 200);
    let h = app.get(&format!("/webhooks/{id}/health")).await.body;
    assert_eq!(h["failureCount"], 0, "a success resets the count");
    assert_eq!(h["failureRate"], 75.0);
    assert!(h["lastEventAt"].is_string());
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_its_headers() {
    let app = spawn_app().await;
    let reg = register(&app, "github", json!({"connectionId": "c", "events": ["*"], "rateLimitPerMinute": 3})).await;
    let secret = reg["webhookSecret"].as_str().unwrap();
    let mut statuses = vec![];
    let mut last = None;
    for i in 0..4 {
        let r = send_github(&app, &reg, &format!("d{i}"), "opened", secret).await;
        statuses.push(r.status.as_u16());
        assert_eq!(r.headers["x-ratelimit-limit"], "3");
        last = Some(r);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    let last = last.unwrap();
    assert_eq!(last.headers["x-ratelimit-remaining"], "0");
    let retry: i64 = last.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let reset: i64 = last.headers["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert!(reset > chrono::Utc::now().timestamp());
    assert_eq!(last.body["error"], "Rate limit exceeded");
    // Refused requests are not stored.
    let id = reg["registrationId"].as_str().unwrap();
    assert_eq!(app.get(&format!("/webhooks/{id}/events")).await.body["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_valid_through_its_grace_period() {
    let app = spawn_app().await;
    let reg = register(&app, "github", json!({"connectionId": "c", "events": ["*"]})).await;
    let id = reg["registrationId"].as_str().unwrap();
    let old = reg["webhookSecret"].as_str().unwrap().to_string();
    let rotated = app.post(&format!("/webhooks/{id}/rotate-secret"), json!({"gracePeriodSeconds": 3600})).await.body;
    let new = rotated["webhookSecret"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(rotated["previousSecretValidUntil"].is_string());
    assert_eq!(send_github(&app, &reg, "a", "opened", new).await.status, 200);
    assert_eq!(send_github(&app, &reg, "b", "opened", &old).await.status, 200, "old secret within grace");
    // With no grace the old secret stops at once.
    let again = app.post(&format!("/webhooks/{id}/rotate-secret"), json!({"gracePeriodSeconds": 0})).await.body;
    assert_eq!(send_github(&app, &reg, "c", "opened", new).await.status, 401);
    assert_eq!(send_github(&app, &reg, "d", "opened", again["webhookSecret"].as_str().unwrap()).await.status, 200);
}

/// Provider settings a provider could never verify a request with, and a given secret too short to be one, are
/// refused when saved (422 naming the field), rather than making a registration that refuses every request.
#[tokio::test]
async fn settings_and_secrets_no_request_could_verify_with_are_refused_when_saved() {
    let app = spawn_app().await;
    let refused = |body: &Value, loc: &[&str]| {
        assert_eq!(body["detail"][0]["loc"], json!(loc), "{body:?}");
        body["detail"][0]["msg"].as_str().unwrap().to_string()
    };
    for (provider, config, setting, says) in [
        ("discord", json!({}), "publicKey", "publicKey"),
        ("discord", json!({"publicKey": "abcd"}), "publicKey", "32 bytes"),
        ("google", json!({"jwks": {"keys": []}}), "audience", "audience"),
        ("google", json!({"audience": "https://hookd.example.com"}), "jwks", "jwks or providerConfig.pem"),
        ("google", json!({"audience": "https://hookd.example.com", "jwks": {"keys": []}}), "jwks", "no RSA key"),
        ("generic", json!({}), "generic", "providerConfig.generic"),
        ("generic", json!({"generic": {"header": "X-Sig", "signedContent": "{ts}.{body}"}}), "generic", "placeholder"),
        (
            "generic",
            json!({"generic": {"header": "X-Sig", "signedContent": "{timestamp}.{body}"}}),
            "generic",
            "timestampHeader",
        ),
        ("generic", json!({"generic": {"header": "X Sig"}}), "generic", "header"),
    ] {
        let r = app
            .post(
                &format!("/integrations/{provider}/webhooks"),
                json!({"connectionId": "c", "events": ["*"], "providerConfig": config}),
            )
            .await;
        assert_eq!(r.status, 422, "{provider} {config}: {:?}", r.body);
        let msg = refused(&r.body, &["body", "providerConfig", setting]);
        assert!(msg.contains(says), "{provider} {config}: {msg}");
    }
    assert_eq!(app.get("/webhooks").await.body["total"], 0);
    // A good scheme is taken; an edit that breaks it is refused and changes nothing.
    let scheme = json!({"generic": {"header": "X-Sig", "prefix": "sha256="}});
    let reg = register(&app, "generic", json!({"connectionId": "c", "events": ["*"], "providerConfig": scheme})).await;
    let id = reg["registrationId"].as_str().unwrap();
    let r = app.patch(&format!("/webhooks/{id}"), json!({"providerConfig": {}})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    refused(&r.body, &["body", "providerConfig", "generic"]);
    assert_eq!(app.get(&format!("/webhooks/{id}")).await.body["providerConfig"]["generic"]["header"], "X-Sig");
    // Rotating to a secret of 3 characters is refused as creating with one is.
    let r = app.post(&format!("/webhooks/{id}/rotate-secret"), json!({"webhookSecret": "abc"})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(refused(&r.body, &["body", "webhookSecret"]).contains("8 to 1024"));
}

/// Providers that sign the URL they post to (Twilio) are verified against that URL as sent, trailing slash
/// included, though the router answers `/webhooks/{id}/` as `/webhooks/{id}`; GitHub (body only) verifies either way.
#[tokio::test]
async fn a_url_signed_event_posted_with_a_trailing_slash_verifies_against_the_url_as_sent() {
    use base64::Engine as _;
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, _ep) = app.app_with_endpoint(&recv.url, json!({})).await;
    let twilio = register(
        &app,
        "twilio",
        json!({"connectionId": "c", "events": ["message.*"], "destination": {"appId": app_id}}),
    )
    .await;
    let token = twilio["webhookSecret"].as_str().unwrap();
    let body = "MessageSid=SM1&SmsStatus=received&Body=hi";
    let sign = |url: &str| {
        let mut params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        params.sort();
        let signed: String = params.iter().fold(url.to_string(), |acc, (k, v)| acc + k + v);
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
        mac.update(signed.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let post = |url: String, signature: String| {
        app.http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
    };
    let slashed = format!("{}/", twilio["webhookUrl"].as_str().unwrap());
    let ok = post(slashed.clone(), sign(&slashed)).await.unwrap();
    assert_eq!(ok.status(), 200, "{:?}", ok.text().await);
    // Signed for the URL without the slash but sent with it: not the URL Twilio would have signed.
    let unslashed = twilio["webhookUrl"].as_str().unwrap();
    let wrong = post(slashed.clone(), sign(unslashed)).await.unwrap();
    assert_eq!(wrong.status(), 401);

    let github = register(
        &app,
        "github",
        json!({"connectionId": "c", "events": ["issues.*"], "destination": {"appId": app_id}}),
    )
    .await;
    let mut slashed = github.clone();
    slashed["webhookUrl"] = json!(format!("{}/", github["webhookUrl"].as_str().unwrap()));
    let r = send_github(&app, &slashed, "d-slash", "opened", github["webhookSecret"].as_str().unwrap()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    recv.wait_for(2).await;
}

#[tokio::test]
async fn the_troubleshooting_call_returns_the_newest_logs_bounded_by_logs_limit() {
    let app = spawn_app().await;
    let reg = register(&app, "github", json!({"connectionId": "conn-t", "events": ["issues.*"]})).await;
    let other = register(&app, "github", json!({"connectionId": "conn-u", "events": ["issues.*"]})).await;
    register(&app, "slack", json!({"connectionId": "conn-s", "events": ["message"]})).await;
    let secret = reg["webhookSecret"].as_str().unwrap();
    for i in 0..4 {
        assert_eq!(send_github(&app, &reg, &format!("d-{i}"), "opened", secret).await.status, 200);
    }
    let other_secret = other["webhookSecret"].as_str().unwrap();
    assert_eq!(send_github(&app, &other, "d-x", "closed", other_secret).await.status, 200);
    // A refused request: counted in the registration's health.
    assert_eq!(send_github(&app, &other, "d-bad", "opened", "wrong-secret").await.status, 401);

    let r = app.get("/integrations/github/webhooks?logsLimit=3").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["integrationId"], "github");
    assert_eq!(r.body["total"], 2, "the slack registration is not github's");
    let logs = r.body["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 3, "logsLimit bounds the logs: {logs:?}");
    // Newest first, across the integration's registrations.
    assert_eq!(logs[0]["deliveryId"], "d-x");
    assert_eq!(logs[0]["eventType"], "closed");
    assert_eq!(logs[1]["deliveryId"], "d-3");
    assert_eq!(logs[2]["deliveryId"], "d-2");
    assert_eq!(logs[1]["registrationId"], reg["registrationId"]);
    let webhooks = r.body["webhooks"].as_array().unwrap();
    let other_out = webhooks.iter().find(|w| w["id"] == other["registrationId"]).unwrap();
    assert_eq!(other_out["health"]["failedCount"], 1);
    // 1 of 2 requests refused: too few for the rate to judge; the refusal in a row makes it degraded.
    assert_eq!(other_out["health"]["status"], "degraded");
    let fine = webhooks.iter().find(|w| w["id"] == reg["registrationId"]).unwrap();
    assert_eq!(fine["health"]["status"], "healthy");

    let all = app.get("/integrations/github/webhooks?logsLimit=50&connectionId=conn-t").await.body;
    assert_eq!((all["total"].as_u64(), all["logs"].as_array().unwrap().len()), (Some(1), 4));
    assert_eq!(app.get("/integrations/github/webhooks").await.body["logs"].as_array().unwrap().len(), 5);
    assert_eq!(app.get("/integrations/github/webhooks?logsLimit=0").await.body["logs"], json!([]));

    // Bad input is a 4xx with a JSON body; another tenant sees nothing.
    for bad in ["logsLimit=-1", "logsLimit=many", "logsLimit=5000"] {
        let r = app.get(&format!("/integrations/github/webhooks?{bad}")).await;
        assert!(r.status.is_client_error(), "{bad}: {}", r.status);
        assert!(r.body.is_object(), "{bad}: {:?}", r.body);
    }
    let token = app.other_org_token().await;
    let theirs = app.call(reqwest::Method::GET, "/integrations/github/webhooks", Some(&token), None).await;
    assert_eq!((theirs.body["total"].as_u64(), theirs.body["logs"].as_array().unwrap().len()), (Some(0), 0));
}

#[tokio::test]
async fn the_unhealthy_listing_shows_failing_registrations_and_not_healthy_ones() {
    let app = spawn_app().await;
    let healthy = register(&app, "github", json!({"connectionId": "ok", "events": ["issues.*"]})).await;
    let failing = register(&app, "github", json!({"connectionId": "bad", "events": ["issues.*"]})).await;
    let secret = healthy["webhookSecret"].as_str().unwrap();
    assert_eq!(send_github(&app, &healthy, "h-1", "opened", secret).await.status, 200);
    let failing_secret = failing["webhookSecret"].as_str().unwrap();
    assert_eq!(send_github(&app, &failing, "f-0", "opened", failing_secret).await.status, 200);
    for i in 0..3 {
        assert_eq!(send_github(&app, &failing, &format!("f-{}", i + 1), "opened", "not-it").await.status, 401);
    }

    let r = app.get("/webhooks/unhealthy").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["total"], 1, "{:?}", r.body);
    let sick = &r.body["webhooks"][0];
    assert_eq!(sick["registrationId"], failing["registrationId"]);
    assert_eq!((sick["status"].as_str(), sick["failureCount"].as_i64()), (Some("failed"), Some(3)));
    assert_eq!((sick["integrationId"].as_str(), sick["connectionId"].as_str()), (Some("github"), Some("bad")));
    assert!(!sick["recommendations"].as_array().unwrap().is_empty());
    assert!(sick["lastFailureAt"].is_string());

    // A success resets the consecutive failures, but 3 of 5 requests failed: still listed.
    assert_eq!(send_github(&app, &failing, "f-4", "opened", failing_secret).await.status, 200);
    let r = app.get("/webhooks/unhealthy").await.body;
    assert_eq!(r["total"], 1);
    assert_eq!(r["webhooks"][0]["registrationId"], failing["registrationId"]);
    assert_eq!(
        (r["webhooks"][0]["failureCount"].as_i64(), r["webhooks"][0]["failureRate"].as_f64()),
        (Some(0), Some(60.0))
    );

    let token = app.other_org_token().await;
    let theirs = app.call(reqwest::Method::GET, "/webhooks/unhealthy", Some(&token), None).await;
    assert_eq!(theirs.body["total"], 0);
    assert_eq!(app.call(reqwest::Method::GET, "/webhooks/unhealthy", None, None).await.status, 401);
}

/// Sends `body` to the registration as GitHub would, signed with `secret`, with `headers` besides.
async fn post_raw(app: &TestApp, reg: &Value, body: &str, secret: Option<&str>, headers: &[(&str, &str)]) -> u16 {
    let mut req = app
        .http
        .post(reg["webhookUrl"].as_str().unwrap())
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .body(body.to_string());
    if let Some(secret) = secret {
        req = req.header("x-hub-signature-256", github_signature(secret, body));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn health_of(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/webhooks/{id}/health")).await.body
}

#[tokio::test]
async fn health_is_over_a_recent_window_and_recovers_as_good_requests_arrive() {
    let app = spawn_app().await;
    let reg = register(&app, "github", json!({"connectionId": "c", "events": ["*"], "rateLimitPerMinute": 1000})).await;
    let id = reg["registrationId"].as_str().unwrap();
    let secret = reg["webhookSecret"].as_str().unwrap();

    // One bad signature among a few good requests: degraded while it is the latest, never failed.
    for i in 0..2 {
        assert_eq!(send_github(&app, &reg, &format!("a-{i}"), "opened", secret).await.status, 200);
    }
    assert_eq!(send_github(&app, &reg, "a-bad", "opened", "whsec_wrong").await.status, 401);
    let h = health_of(&app, id).await;
    assert_eq!((h["status"].as_str(), h["failureCount"].as_i64()), (Some("degraded"), Some(1)), "{h}");
    assert_eq!(
        (h["totalCount"].as_i64(), h["failedCount"].as_i64(), h["windowHours"].as_i64()),
        (Some(3), Some(1), Some(24))
    );
    assert_eq!(h["failureRate"], 33.33);
    assert_eq!(send_github(&app, &reg, "a-3", "opened", secret).await.status, 200);
    assert_eq!(health_of(&app, id).await["status"], "healthy", "4 requests: too few for the rate to judge");

    // Among more requests the rate judges: 1 of 10 refused is degraded; good requests bring it under 5 %.
    for i in 4..10 {
        assert_eq!(send_github(&app, &reg, &format!("a-{i}"), "opened", secret).await.status, 200);
    }
    let h = health_of(&app, id).await;
    assert_eq!((h["status"].as_str(), h["failureRate"].as_f64()), (Some("degraded"), Some(10.0)), "{h}");
    assert!(h["recommendations"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains("rotate-secret")));
    for i in 10..21 {
        assert_eq!(send_github(&app, &reg, &format!("a-{i}"), "opened", secret).await.status, 200);
    }
    let h = health_of(&app, id).await;
    assert_eq!((h["status"].as_str(), h["failedCount"].as_i64()), (Some("healthy"), Some(1)), "{h}");
    assert_eq!(h["recommendations"], json!([]));

    // Failures older than the window are forgotten: three a day ago (as the store keeps them) failed it then,
    // and one good request now makes it healthy, where counting forever would keep it failed.
    let other = register(&app, "github", json!({"connectionId": "d", "events": ["*"]})).await;
    let other_id = other["registrationId"].as_str().unwrap();
    let day_ago = hookd::store::now_ms() - 25 * 3_600_000;
    for i in 0..3 {
        let old = hookd::store::InboundRefusedRecord {
            id: hookd::ids::at("inref_", day_ago, i),
            org_id: String::new(),
            registration_id: other_id.to_string(),
            received_at: day_ago,
            status: 401,
            reason: "bad_signature".into(),
            detail: "Invalid webhook signature: invalid signature".into(),
            source_ip: None,
            headers: "{}".into(),
            body: vec![],
            body_size: 0,
        };
        app.ctx.store.inbound_refuse(old, true).await.unwrap();
    }
    let h = health_of(&app, other_id).await;
    assert_eq!((h["status"].as_str(), h["failureCount"].as_i64()), (Some("failed"), Some(3)), "3 in a row: {h}");
    assert_eq!(h["totalCount"], 0, "outside the window");
    let secret = other["webhookSecret"].as_str().unwrap();
    assert_eq!(send_github(&app, &other, "b-1", "opened", secret).await.status, 200);
    let h = health_of(&app, other_id).await;
    assert_eq!((h["status"].as_str(), h["failureRate"].as_f64()), (Some("healthy"), Some(0.0)), "{h}");
    let service = app.get("/webhooks/health").await.body;
    assert_eq!(service["failedRegistrationsCount"], 0);
}

#[tokio::test]
async fn refused_requests_are_kept_with_their_reason_bounded_and_listed() {
    let app = spawn_app_with(|c| c.max_body_bytes = 8 * 1024).await;
    let reg = register(&app, "github", json!({"connectionId": "c", "events": ["*"], "rateLimitPerMinute": 1000})).await;
    let id = reg["registrationId"].as_str().unwrap().to_string();
    let secret = reg["webhookSecret"].as_str().unwrap();
    let issue = json!({"action": "opened", "issue": {"id": 1}}).to_string();

    // A wrong signature (its body over 2 KiB), no signature, a stale-free but unreadable body, too large a body.
    let long = json!({"action": "opened", "issue": {"id": 2, "body": "x".repeat(3000)}}).to_string();
    assert_eq!(post_raw(&app, &reg, &long, Some("whsec_wrong"), &[("x-github-delivery", "d-1")]).await, 401);
    assert_eq!(post_raw(&app, &reg, &issue, None, &[("x-forwarded-for", "203.0.113.9")]).await, 401);
    assert_eq!(post_raw(&app, &reg, "{not json", Some(secret), &[]).await, 400);
    assert_eq!(post_raw(&app, &reg, &"y".repeat(9000), Some(secret), &[]).await, 413);
    let r = app.get(&format!("/webhooks/{id}/refused")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let list = r.body["data"].as_array().unwrap().clone();
    let reasons: Vec<&str> = list.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.len(), 4, "{list:?}");
    for want in ["bad_signature", "missing_signature", "malformed", "too_large"] {
        assert!(reasons.contains(&want), "{want} in {reasons:?}");
    }
    let find = |reason: &str| list.iter().find(|r| r["reason"] == reason).unwrap().clone();
    let bad = find("bad_signature");
    assert_eq!(bad["status"], 401);
    assert_eq!(bad["sourceIp"], "127.0.0.1");
    assert!(bad["detail"].as_str().unwrap().contains("signature"), "{bad}");
    assert!(bad["receivedAt"].is_string());
    assert_eq!(bad["headers"]["x-github-event"], "issues");
    assert_eq!(bad["headers"]["x-github-delivery"], "d-1");
    assert!(bad["headers"]["x-hub-signature-256"].as_str().unwrap().starts_with("sha256="));
    assert_eq!((bad["bodySize"].as_u64(), bad["bodyTruncated"].as_bool()), (Some(long.len() as u64), Some(true)));
    assert_eq!(bad["body"].as_str().unwrap(), &long[..2048]);
    assert_eq!(find("missing_signature")["headers"]["x-forwarded-for"], "203.0.113.9");
    assert_eq!(find("malformed")["status"], 400);
    let large = find("too_large");
    assert_eq!((large["status"].as_u64(), large["bodySize"].as_u64()), (Some(413), Some(9000)));

    // What the health recommends is what can be done about those reasons, in hookd or at GitHub.
    let h = health_of(&app, &id).await;
    assert_eq!(h["status"], "failed");
    let recs: Vec<String> = h["recommendations"].as_array().unwrap().iter().map(|r| r.to_string()).collect();
    for want in ["rotate-secret", "turn signing on", "content type", "HOOKD_MAX_BODY_BYTES", "send the refused events"]
    {
        assert!(recs.iter().any(|r| r.contains(want)), "{want} in {recs:#?}");
    }
    assert!(!recs.iter().any(|r| r.contains("Retry failed events")), "hookd cannot retry what it refused");

    // Over the rate, and to an inactive registration: listed (the first of each minute), not counted as failures.
    let limited =
        register(&app, "github", json!({"connectionId": "l", "events": ["*"], "rateLimitPerMinute": 1})).await;
    let limited_id = limited["registrationId"].as_str().unwrap();
    let limited_secret = limited["webhookSecret"].as_str().unwrap();
    let statuses = [
        send_github(&app, &limited, "l-1", "opened", limited_secret).await.status,
        send_github(&app, &limited, "l-2", "opened", limited_secret).await.status,
        send_github(&app, &limited, "l-3", "opened", limited_secret).await.status,
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 429, 429]);
    let kept = app.get(&format!("/webhooks/{limited_id}/refused")).await.body;
    assert_eq!(kept["data"].as_array().unwrap().len(), 1, "one a minute: {kept}");
    assert_eq!(
        (kept["data"][0]["reason"].as_str(), kept["data"][0]["status"].as_u64()),
        (Some("rate_limited"), Some(429))
    );
    assert_eq!(health_of(&app, limited_id).await["failedCount"], 0);
    assert_eq!(app.patch(&format!("/webhooks/{limited_id}"), json!({"status": "inactive"})).await.status, 200);
    assert_eq!(post_raw(&app, &limited, &issue, Some(limited_secret), &[]).await, 404);
    let kept = app.get(&format!("/webhooks/{limited_id}/refused")).await.body;
    assert_eq!(kept["data"][0]["reason"], "inactive");
    let h = health_of(&app, limited_id).await;
    assert!(h["recommendations"][0].as_str().unwrap().contains("\"status\": \"active\""), "{h}");

    // Another tenant sees none of it; an unknown registration keeps nothing (no tenant to show it to).
    let token = app.other_org_token().await;
    let theirs = app.call(reqwest::Method::GET, &format!("/webhooks/{id}/refused"), Some(&token), None).await;
    assert_eq!(theirs.status, 404);

    // Bounded in number: the newest 100 of a registration.
    for i in 0..100 {
        assert_eq!(
            post_raw(&app, &reg, &issue, Some("whsec_wrong"), &[("x-github-delivery", &format!("n-{i}"))]).await,
            401
        );
    }
    let all = app.get(&format!("/webhooks/{id}/refused?limit=250")).await.body;
    let all = all["data"].as_array().unwrap();
    assert_eq!(all.len(), hookd::store::INBOUND_REFUSED_KEPT, "the oldest were dropped");
    assert!(all.iter().all(|r| r["reason"] == "bad_signature"), "the four first ones are the oldest, dropped");
    assert_eq!(all[0]["headers"]["x-github-delivery"], "n-99", "newest first");

    // And in time: the retention pass drops those older than 7 days.
    let week_ago = hookd::store::now_ms() - hookd::store::INBOUND_REFUSED_KEPT_MS - 60_000;
    let old = hookd::store::InboundRefusedRecord {
        id: hookd::ids::at("inref_", week_ago, 0),
        org_id: String::new(),
        registration_id: limited_id.to_string(),
        received_at: week_ago,
        status: 401,
        reason: "bad_signature".into(),
        detail: String::new(),
        source_ip: None,
        headers: "{}".into(),
        body: vec![],
        body_size: 0,
    };
    app.ctx.store.inbound_refuse(old, false).await.unwrap();
    let cutoff = hookd::store::now_ms() - hookd::store::INBOUND_REFUSED_KEPT_MS;
    assert_eq!(app.ctx.store.inbound_prune(cutoff).await.unwrap(), 1, "only the week-old one");
    assert_eq!(app.get(&format!("/webhooks/{id}/refused?limit=250")).await.body["data"].as_array().unwrap().len(), 100);

    // The registration's dashboard page lists them, with their reasons, where they came from and the window.
    let cookie = common::ui::log_in(&app, &app.token).await.0;
    let (status, _, html) = common::ui::page(&app, &cookie, &format!("/ui/inbound/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("In the last 24 h:"), "the health's window");
    let table = &html[html.find("id=\"refused-requests\"").expect("the refused requests")..];
    assert_eq!(table.matches("<tr class=\"refused\"").count(), 100);
    assert!(table.contains(">bad signature<") && table.contains(">127.0.0.1<"), "{}", &table[..2000]);
}
