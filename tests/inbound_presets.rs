//! The data presets (src/inbound/providers/presets.toml): every preset accepts a request signed independently of
//! hookd (tests/inbound/presets/sign_presets.py: the provider's documented scheme written out in Python, or its
//! official library) and refuses it with one changed body byte, a wrong secret, and a timestamp two hours old;
//! documented example vectors; the handshakes; and, end to end on a real server, a few presets through a
//! registration: signed → forwarded, tampered → 401 and not forwarded, bad registrations → 422 naming the field.

mod common;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use common::*;
use hookd::inbound::providers::preset::{self, Reply};
use hookd::inbound::providers::{Incoming, Provider, ProviderConfig, VerifyError};
use serde_json::{json, Value};

const URL: &str = "https://hookd.example/webhooks/whr_2b9XwSNBkVhRyxbZ";
const NOW: i64 = 1_700_000_000;

fn header_map(h: &Value) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in h.as_object().unwrap() {
        map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v.as_str().unwrap()).unwrap());
    }
    map
}

fn verify(p: &preset::Preset, headers: &Value, body: &str, secret: &str, now: i64) -> Result<(), VerifyError> {
    let h = header_map(headers);
    let req = Incoming { headers: &h, body: body.as_bytes(), url: URL, now };
    p.verify_request(&req, &[secret], &ProviderConfig::default())
}

/// One changed byte in the middle of the body.
fn flip_a_byte(body: &str) -> String {
    let mut bytes = body.as_bytes().to_vec();
    let i = bytes.len() / 2 + bytes[bytes.len() / 2..].iter().position(|b| b.is_ascii_alphanumeric()).unwrap();
    bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
    String::from_utf8(bytes).unwrap()
}

fn independent_cases(url: &str, now: i64) -> Vec<Value> {
    let signer = script("inbound/presets/sign_presets.py");
    let (ok, out) = run_script(&python(), &signer, &json!({ "url": url, "now": now }));
    assert!(ok, "{signer}: {out}");
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["cases"].as_array().unwrap().clone()
}

#[test]
fn every_preset_accepts_independent_signatures_and_refuses_forgeries() {
    let cases = independent_cases(URL, NOW);
    let mut covered = vec![];
    for case in &cases {
        let name = case["preset"].as_str().unwrap();
        let p = preset::by_name(name).unwrap_or_else(|| panic!("no preset {name}"));
        let (secret, body, headers) =
            (case["secret"].as_str().unwrap(), case["body"].as_str().unwrap(), &case["headers"]);
        assert_eq!(verify(p, headers, body, secret, NOW), Ok(()), "{name}: signed by {}", case["signer"]);
        // a rotated-out secret beside the live one
        let h = header_map(headers);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: URL, now: NOW };
        assert_eq!(p.verify_request(&req, &["an-older-secret", secret], &ProviderConfig::default()), Ok(()), "{name}");

        if case["bodySigned"] == true {
            assert_eq!(verify(p, headers, &flip_a_byte(body), secret, NOW), Err(VerifyError::BadSignature), "{name}");
        }
        let wrong = verify(p, headers, body, "a-wrong-secret-of-some-length", NOW);
        assert_eq!(wrong, Err(VerifyError::BadSignature), "{name}: a wrong secret");
        let bare = case["bareBody"].as_str().unwrap();
        assert!(
            verify(p, &json!({}), bare, secret, NOW).is_err_and(|e| matches!(e, VerifyError::Missing(_))),
            "{name}"
        );
        match &case["stale"] {
            Value::Null => assert_eq!(p.tolerance, 0, "{name} signs a timestamp: the signer must make a stale one"),
            stale => {
                assert_eq!(verify(p, stale, body, secret, NOW), Err(VerifyError::Stale), "{name}: two hours old");
                assert!(p.tolerance > 0, "{name}");
            }
        }
        covered.push(name.to_string());
    }
    let all: Vec<String> = preset::PRESETS.iter().map(|p| p.name.to_string()).collect();
    covered.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(covered, expected, "every preset has an independently signed case");
    assert!(covered.len() >= 60, "{} presets", covered.len());
}

/// GitHub's documentation example:
/// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
#[test]
fn github_documentation_vector() {
    let p = preset::by_name("github").unwrap();
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let headers = json!({ "X-Hub-Signature-256": sig });
    assert_eq!(verify(p, &headers, "Hello, World!", "It's a Secret to Everybody", NOW), Ok(()));
    assert_eq!(verify(p, &headers, "Hello, World?", "It's a Secret to Everybody", NOW), Err(VerifyError::BadSignature));
}

/// Slack's documentation example: https://api.slack.com/authentication/verifying-requests-from-slack
#[test]
fn slack_documentation_vector() {
    let p = preset::by_name("slack").unwrap();
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&\
                channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&\
                response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&\
                trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let headers = json!({
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    });
    assert_eq!(verify(p, &headers, body, "8f742231b10e8888abcd99yyyzzz85a5", 1_531_420_618), Ok(()));
    assert_eq!(
        verify(p, &headers, body, "8f742231b10e8888abcd99yyyzzz85a5", 1_531_420_618 + 301),
        Err(VerifyError::Stale)
    );
}

fn handshake(name: &str, method: &str, url: &str, headers: Value, body: &str, cfg: &ProviderConfig) -> Option<Reply> {
    let p = preset::by_name(name).unwrap();
    let h = header_map(&headers);
    let req = Incoming { headers: &h, body: body.as_bytes(), url, now: NOW };
    match method {
        "SIGNED" => p.signed_handshake(&req, &[], cfg),
        m => p.unsigned_handshake(&req, m, cfg, &[]),
    }
}

#[test]
fn handshakes() {
    let none = ProviderConfig::default();
    // Slack url_verification (signed): {"challenge"}.
    let r =
        handshake("slack", "SIGNED", URL, json!({}), r#"{"type":"url_verification","challenge":"3eZbrw1a"}"#, &none);
    assert_eq!(r.unwrap().body, r#"{"challenge":"3eZbrw1a"}"#);
    assert_eq!(handshake("slack", "SIGNED", URL, json!({}), r#"{"type":"event_callback"}"#, &none), None);
    // Twitch callback verification (signed): the challenge as plain text.
    let r = handshake(
        "twitch",
        "SIGNED",
        URL,
        json!({ "Twitch-Eventsub-Message-Type": "webhook_callback_verification" }),
        r#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{}}"#,
        &none,
    )
    .unwrap();
    assert_eq!((r.content_type.starts_with("text/plain"), r.body.as_str()), (true, "pogchamp-kappa-360noscope-vohiyo"));
    // Meta hub.challenge: only with the registration's verify token.
    let meta = ProviderConfig { verify_token: Some("meatyhamhock".into()), ..Default::default() };
    let q = format!("{URL}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock");
    assert_eq!(handshake("meta", "GET", &q, json!({}), "", &meta).unwrap().body, "1158201444");
    let wrong = q.replace("meatyhamhock", "guess");
    assert_eq!(handshake("meta", "GET", &wrong, json!({}), "", &meta), None);
    assert_eq!(handshake("meta", "GET", &q, json!({}), "", &none), None);
    assert_eq!(handshake("meta", "POST", &q, json!({}), "", &meta), None, "a POST is an event, verified");
    // Dropbox and Nylas echo ?challenge=; Okta its header, as {"verification"}.
    assert_eq!(
        handshake("dropbox", "GET", &format!("{URL}?challenge=abc123"), json!({}), "", &none).unwrap().body,
        "abc123"
    );
    assert_eq!(handshake("nylas", "GET", &format!("{URL}?challenge=n1"), json!({}), "", &none).unwrap().body, "n1");
    let okta = handshake("okta", "GET", URL, json!({ "X-Okta-Verification-Challenge": "X7a_q" }), "", &none).unwrap();
    assert_eq!((okta.content_type, okta.body.as_str()), ("application/json", r#"{"verification":"X7a_q"}"#));
    assert_eq!(handshake("okta", "GET", URL, json!({}), "", &none), None);
    // Trello checks the callback URL with a HEAD (axum routes a HEAD as a GET) and wants a 200 before it creates
    // the webhook: every unauthenticated GET of the URL answers 200, empty; a POST is an event, verified.
    let trello = handshake("trello", "GET", URL, json!({}), "", &none).unwrap();
    assert_eq!((trello.content_type.starts_with("text/plain"), trello.body.as_str()), (true, ""));
    assert_eq!(handshake("trello", "POST", URL, json!({}), "", &none), None);
    // X's CRC: GET ?crc_token= → {"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))},
    // computed with the registration's first live secret; without a secret there is no answer.
    let x = preset::by_name("twitter").unwrap();
    let crc = format!("{URL}?crc_token=Zm9vYmFyYmF6&nonce=MTIz");
    let none_h = HeaderMap::new();
    let req = Incoming { headers: &none_h, body: b"", url: &crc, now: NOW };
    let expected = {
        use base64::Engine as _;
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"x-consumer-secret").unwrap();
        mac.update(b"Zm9vYmFyYmF6");
        format!("sha256={}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    };
    let r = x.handshake_reply_with(&req, "GET", false, &none, &["", "x-consumer-secret", "an-older-one"]).unwrap();
    assert_eq!(r.content_type, "application/json");
    assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap(), json!({ "response_token": expected }));
    assert_eq!(x.handshake_reply_with(&req, "GET", false, &none, &[]), None, "no secret, no token");
    let r = x.unsigned_handshake(&req, "GET", &none, &["x-consumer-secret"]).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap(), json!({ "response_token": expected }));
    let plain = Incoming { headers: &none_h, body: b"", url: URL, now: NOW };
    assert_eq!(x.handshake_reply_with(&plain, "GET", false, &none, &["x-consumer-secret"]), None, "no crc_token");
    // Microsoft Graph validates a subscription's URL with POST ?validationToken= (URL-encoded, empty body) and
    // wants it back decoded, as text/plain, before any clientState exists to check.
    let graph = format!("{URL}?validationToken=Validation%3A%20Testing%20client%20application%20reachability");
    let r = handshake("microsoft-graph", "POST", &graph, json!({}), "", &none).unwrap();
    assert_eq!(r.content_type, "text/plain; charset=utf-8");
    assert_eq!(r.body, "Validation: Testing client application reachability");
    assert_eq!(handshake("microsoft-graph", "POST", URL, json!({}), r#"{"value":[]}"#, &none), None);
    // monday.com posts {"challenge"} when a webhook is created, unsigned, and wants the same JSON back.
    let r = handshake(
        "monday",
        "POST",
        URL,
        json!({}),
        r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#,
        &none,
    );
    assert_eq!(r.unwrap().body, r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#);
    assert_eq!(handshake("monday", "POST", URL, json!({}), r#"{"event":{"type":"create_pulse"}}"#, &none), None);
}

// ── end to end ──

/// X asks a registration's URL `GET ?crc_token=…` when the webhook is registered and every hour after: the answer
/// is signed with the consumer secret the registration was given.
#[tokio::test]
async fn x_crc_challenges_are_answered_with_the_registrations_secret() {
    let app = spawn_app().await;
    let reg = app
        .post(
            "/integrations/twitter/webhooks",
            json!({"connectionId": "acme", "events": ["*"], "webhookSecret": "x-consumer-secret-0123"}),
        )
        .await;
    assert_eq!(reg.status, 201, "{:?}", reg.body);
    let url = reg.body["webhookUrl"].as_str().unwrap();
    let r = app.http.get(format!("{url}?crc_token=Zm9vYmFyYmF6")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let expected = {
        use base64::Engine as _;
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"x-consumer-secret-0123").unwrap();
        mac.update(b"Zm9vYmFyYmF6");
        format!("sha256={}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    };
    assert_eq!(body, json!({ "response_token": expected }));
    // Without a crc_token the URL is not a handshake: a GET without a token is refused.
    let r = app.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

/// Microsoft Graph: the subscription's validation is answered before any event, then each notification batch is
/// accepted only when every `clientState` in it is the registration's secret.
#[tokio::test]
async fn microsoft_graph_validates_then_checks_every_client_state() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let registration = json!({
        "connectionId": "tenant-1", "events": ["*"], "destination": {"appId": app_id},
        "webhookSecret": "graph-client-state-1",
    });
    let reg = app.post("/integrations/microsoft-graph/webhooks", registration).await;
    assert_eq!(reg.status, 201, "{:?}", reg.body);
    let url = reg.body["webhookUrl"].as_str().unwrap().to_string();
    let token = "Validation: Testing client application reachability for subscription Request-Id: 25f3";
    let validation =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("validationToken", token).finish();
    let r = app.http.post(format!("{url}?{validation}")).header("content-type", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap(), token);

    let case = independent_cases(&url, chrono::Utc::now().timestamp())
        .into_iter()
        .find(|c| c["preset"] == "microsoft-graph")
        .unwrap();
    let body = case["body"].as_str().unwrap().to_string();
    let post = |body: String| app.http.post(&url).header("content-type", "application/json").body(body).send();
    let ok = post(body.clone()).await.unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    let got = recv.wait_for(1).await;
    assert_eq!(got[0].json()["data"]["value"][0]["resourceData"]["id"], "AAMk1");
    assert_eq!(got[0].json()["eventType"], "created");
    // A lifecycle notification names its event in lifecycleEvent, in place of changeType.
    let lifecycle = json!({"value": [{
        "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "clientState": "graph-client-state-1",
        "lifecycleEvent": "reauthorizationRequired", "resource": "Users/{user-id}/Messages",
        "subscriptionExpirationDateTime": "2023-11-20T18:23:45.9356913+00:00",
    }]});
    assert_eq!(post(lifecycle.to_string()).await.unwrap().status(), 200);
    let got = recv.wait_for(2).await;
    assert_eq!(got[1].json()["eventType"], "reauthorizationRequired", "{:?}", got[1].json());
    // One notification of the batch from a subscription with another clientState spoils the batch.
    let mixed = body.replacen("graph-client-state-1", "someone-elses-state", 1);
    assert_eq!(post(mixed).await.unwrap().status(), 401);
    let bare = post(case["bareBody"].as_str().unwrap().to_string()).await.unwrap();
    assert_eq!(bare.status(), 401);
    assert!(bare.text().await.unwrap().contains("clientState"));
    assert_eq!(recv.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_through_registrations_forward_signed_requests_and_refuse_forgeries() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let mut forwarded = 0;
    // The signer's secrets, given as the provider would have issued them.
    let secrets = independent_cases("http://x/", 0);
    for name in ["paddle", "clerk", "woocommerce", "hubspot", "twitch", "chargebee", "mandrill", "zendesk", "monday"] {
        let mut registration = json!({
            "connectionId": format!("conn-{name}"), "events": ["*"], "destination": {"appId": app_id},
        });
        let secret = secrets.iter().find(|c| c["preset"] == name).unwrap()["secret"].as_str().unwrap().to_string();
        registration["webhookSecret"] = json!(secret);
        let reg = app.post(&format!("/integrations/{name}/webhooks"), registration).await;
        assert_eq!(reg.status, 201, "{name}: {:?}", reg.body);
        let url = reg.body["webhookUrl"].as_str().unwrap().to_string();
        let now = chrono::Utc::now().timestamp();
        let case = independent_cases(&url, now).into_iter().find(|c| c["preset"] == name).unwrap();
        let send = |headers: &Value, body: String| {
            let mut req = app.http.post(&url);
            if headers.get("Content-Type").is_none() {
                req = req.header("content-type", "application/json");
            }
            for (k, v) in headers.as_object().unwrap() {
                req = req.header(k.as_str(), v.as_str().unwrap());
            }
            req.body(body).send()
        };
        let body = case["body"].as_str().unwrap().to_string();
        let ok = send(&case["headers"], body.clone()).await.unwrap();
        let status = ok.status().as_u16();
        assert_eq!(status, 200, "{name}: {}", ok.text().await.unwrap());
        forwarded += 1;
        recv.wait_for(forwarded).await;

        // A changed body byte where the body is signed; else credentials that are not the registration's.
        let tampered = if case["bodySigned"] == true {
            send(&case["headers"], flip_a_byte(&body)).await.unwrap()
        } else {
            let mut headers = case["headers"].clone();
            headers["Authorization"] = json!("Basic Z3Vlc3M6Z3Vlc3M=");
            send(&headers, body.clone()).await.unwrap()
        };
        assert_eq!(tampered.status().as_u16(), 401, "{name}");
        let err: Value = tampered.json().await.unwrap();
        assert!(err["error"].as_str().unwrap().contains("signature"), "{name}: {err}");
        if !case["stale"].is_null() {
            let stale = send(&case["stale"], body.clone()).await.unwrap();
            assert_eq!(stale.status().as_u16(), 401, "{name}: stale");
        }
        let id = reg.body["registrationId"].as_str().unwrap();
        let refused = app.get(&format!("/webhooks/{id}/refused")).await.body;
        assert!(refused.to_string().contains("bad_signature"), "{name}: {refused}");
        // Only the signed request was kept (and forwarded: it reached the receiver above).
        let events = app.get(&format!("/webhooks/{id}/events")).await.body;
        assert_eq!(events["data"].as_array().map(Vec::len), Some(1), "{name}: {events}");
    }
    assert_eq!(recv.received().len(), forwarded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_name_what_is_wrong_and_presets_are_listed() {
    let app = spawn_app().await;
    let base = json!({ "connectionId": "c1", "events": ["*"] });

    let r = app.post("/integrations/no-such-provider/webhooks", base.clone()).await;
    assert_eq!(r.status, 422);
    let text = r.body.to_string();
    assert!(text.contains("integrationId") && text.contains("lemon-squeezy") && text.contains("github"), "{text}");

    // Meta needs the verify token it sends with its hub.challenge.
    let mut reg = base_fields();
    reg["webhookSecret"] = json!("meta-app-secret");
    let r = app.post("/integrations/meta/webhooks", reg).await;
    assert_eq!(r.status, 422);
    assert!(r.body.to_string().contains("verifyToken"), "{}", r.body);
    // A provider-issued secret cannot be made up by hookd.
    let r = app.post("/integrations/paddle/webhooks", base.clone()).await;
    assert_eq!(r.status, 422);
    assert!(r.body.to_string().contains("webhookSecret"), "{}", r.body);
    // A secret hookd may choose (WooCommerce lets you type one) is generated.
    let r = app.post("/integrations/woocommerce/webhooks", base.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // Meta's GET handshake on the webhook URL, without a token.
    let mut reg = base_fields();
    reg["webhookSecret"] = json!("meta-app-secret");
    reg["providerConfig"] = json!({ "verifyToken": "meatyhamhock" });
    let r = app.post("/integrations/meta/webhooks", reg).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let url = r.body["webhookUrl"].as_str().unwrap();
    let id = r.body["registrationId"].as_str().unwrap();
    let got = app
        .http
        .get(format!("{url}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert!(got.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(got.text().await.unwrap(), "1158201444");
    let guess =
        app.http.get(format!("{url}?hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess")).send().await.unwrap();
    assert_eq!(guess.status().as_u16(), 401);
    // With a token, the same URL is the registration.
    assert_eq!(app.get(&format!("/webhooks/{id}")).await.body["integrationId"], "meta");

    // Trello's HEAD check of the callback URL, before it creates the webhook, gets a 200.
    let mut reg = base_fields();
    reg["webhookSecret"] = json!("trello-oauth-secret");
    let r = app.post("/integrations/trello/webhooks", reg).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let head = app.http.head(r.body["webhookUrl"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);

    let list = app.get("/integrations").await;
    assert_eq!(list.status, 200);
    let data = list.body["data"].as_array().unwrap();
    assert!(data.len() >= 75, "{}", data.len());
    let find = |n: &str| data.iter().find(|p| p["name"] == n).unwrap().clone();
    let stripe = find("stripe");
    assert_eq!((stripe["family"].as_str(), stripe["algorithm"].as_str()), (Some("hmac"), Some("sha256")));
    assert_eq!(stripe["timestamp"]["toleranceSeconds"], 300);
    assert_eq!(stripe["svixIngestType"], true);
    assert_eq!(find("discord")["family"], "code");
    assert_eq!(find("meta")["config"], json!(["secret", "verifyToken"]));
    assert_eq!(app.call(reqwest::Method::GET, "/integrations", None, None).await.status, 401);
}

fn base_fields() -> Value {
    json!({ "connectionId": "c1", "events": ["*"] })
}
