//! Every provider, end to end, with requests signed by the provider's own official library
//! (tests/inbound/sign/, described by tests/inbound/cases/): accepted and forwarded; a repeat is not forwarded
//! twice; one changed body byte, a wrong secret, and a stale timestamp are refused with 401.

mod common;

use common::*;
use serde_json::{json, Value};

fn sign(case: &Value, secret: &str, url: &str, body: &str, timestamp: i64, extra: &Value) -> Value {
    let signer = script(&format!("inbound/{}", case["signer"].as_str().unwrap()));
    let program = if signer.ends_with(".mjs") || signer.ends_with(".js") { "node".to_string() } else { python() };
    let input = json!({"secret": secret, "body": body, "url": url, "timestamp": timestamp, "extra": extra});
    let (ok, out) = run_script(&program, &signer, &input);
    assert!(ok, "{signer} failed: {out}");
    serde_json::from_str(out.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or(""))
        .unwrap_or_else(|e| panic!("{signer} printed no JSON ({e}): {out}"))
}

async fn post(app: &TestApp, signed: &Value, content_type: &str) -> Resp {
    let mut req = app.http.post(signed["url"].as_str().unwrap()).header("content-type", content_type);
    for (k, v) in signed["headers"].as_object().unwrap() {
        req = req.header(k.as_str(), v.as_str().unwrap());
    }
    let resp = req.body(signed["body"].as_str().unwrap().to_string()).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    Resp { status, body: resp.json().await.unwrap_or(Value::Null), headers }
}

/// One changed byte in the middle of the body.
fn flip_a_byte(body: &str) -> String {
    let mut bytes = body.as_bytes().to_vec();
    let i = bytes.iter().rposition(|b| b.is_ascii_alphanumeric()).expect("an alphanumeric byte");
    bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_accepts_its_official_signatures_and_refuses_forgeries() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inbound/cases");
    let mut covered = vec![];
    let mut forwarded = 0;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let provider = case["integrationId"].as_str().unwrap().to_string();
        let expect = &case["expect"];
        let mut registration = json!({
            "connectionId": format!("conn-{provider}"),
            "events": [expect["matchKey"]],
            "providerConfig": case.get("providerConfig").cloned().unwrap_or(json!({})),
            "destination": {"appId": app_id},
        });
        if let Some(secret) = case["secret"].as_str() {
            registration["webhookSecret"] = json!(secret);
        }
        let reg = app.post(&format!("/integrations/{provider}/webhooks"), registration).await;
        assert_eq!(reg.status, 201, "{provider}: {:?}", reg.body);
        let secret = reg.body["webhookSecret"].as_str().unwrap().to_string();
        let url = reg.body["webhookUrl"].as_str().unwrap().to_string();
        let body = case["body"].as_str().unwrap();
        let content_type = case["contentType"].as_str().unwrap_or("application/json");
        let extra = case.get("extra").cloned().unwrap_or(json!({}));
        let now = chrono::Utc::now().timestamp();

        let signed = sign(&case, &secret, &url, body, now, &extra);
        let ok = post(&app, &signed, content_type).await;
        assert_eq!(ok.status, 200, "{provider}: the official signature was refused: {:?}", ok.body);
        assert_eq!(ok.body["success"], true, "{provider}");
        assert_eq!(ok.body["eventType"], expect["eventType"], "{provider}");
        assert_eq!(ok.body["entityId"], expect["entityId"], "{provider}");
        assert_eq!(ok.body["syncTriggered"], true, "{provider}: matched {}", expect["matchKey"]);
        forwarded += 1;
        if !expect["deliveryId"].is_null() {
            let again = post(&app, &signed, content_type).await;
            assert_eq!((again.status.as_u16(), &again.body["duplicate"]), (200, &json!(true)), "{provider}: repeat");
        }

        // Google Pub/Sub push authenticates the sender with a token that does not cover the body.
        if case["bodySigned"] != false {
            let mut tampered = signed.clone();
            tampered["body"] = json!(flip_a_byte(signed["body"].as_str().unwrap()));
            assert_eq!(post(&app, &tampered, content_type).await.status, 401, "{provider}: a changed body byte");
        }

        let wrong_extra = case.get("wrongExtra").cloned().unwrap_or(extra.clone());
        let forged = sign(&case, "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCBhdCBhbGw=", &url, body, now, &wrong_extra);
        assert_eq!(post(&app, &forged, content_type).await.status, 401, "{provider}: a wrong secret or key");

        if case["hasTimestamp"] == true {
            let stale = sign(&case, &secret, &url, body, now - 3600, &extra);
            assert_eq!(post(&app, &stale, content_type).await.status, 401, "{provider}: an hour-old timestamp");
        }
        covered.push(provider);
    }
    // `generic-webhook` verifies nothing, so no library signs for it (tests/ingest_sources.rs takes requests with it);
    // `aws-sns` verifies under a certificate it fetches, which tests/inbound_sns.rs serves.
    let mut expected: Vec<String> = hookd::inbound::providers::PROVIDERS
        .iter()
        .map(|p| p.name().to_string())
        .filter(|name| name != "generic-webhook" && name != "aws-sns")
        .collect();
    expected.sort();
    covered.sort();
    covered.dedup();
    assert_eq!(covered, expected, "every provider has a case signed by its official library");
    recv.wait_for(forwarded).await;
}

/// Telnyx as a Svix Ingest source (`{"type": "telnyx", "config": {"publicKey": …}}`): requests signed by PyNaCl and
/// checked by Telnyx's own SDK (tests/inbound/sign/telnyx.py) are accepted at the ingest URL and forwarded to the
/// source's endpoint; a changed body, another account's key and a stale timestamp are refused. A missing or
/// malformed public key is a 422 naming it, for a source and for a registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telnyx_is_an_ingest_source_and_its_key_is_checked() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inbound/cases/telnyx.json");
    let case: Value = serde_json::from_str(&std::fs::read_to_string(dir).unwrap()).unwrap();
    let key = case["providerConfig"]["publicKey"].clone();
    let (secret, extra) = (case["secret"].as_str().unwrap(), &case["extra"]);
    let body = case["body"].as_str().unwrap();

    let r =
        app.post("/ingest/api/v1/source", json!({"name": "tx", "type": "telnyx", "config": {"publicKey": key}})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (source, url) = (r.body["id"].as_str().unwrap().to_string(), r.body["ingestUrl"].as_str().unwrap().to_string());
    let r = app.post(&format!("/ingest/api/v1/source/{source}/endpoint"), json!({"url": recv.url.clone()})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    let now = chrono::Utc::now().timestamp();
    let signed = sign(&case, secret, &url, body, now, extra);
    let ok = post(&app, &signed, "application/json").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["eventType"], "received");
    let got = recv.wait_for(1).await;
    assert_eq!(got[0].json()["data"]["data"]["event_type"], "message.received", "{:?}", got[0].json());

    let mut tampered = signed.clone();
    tampered["body"] = json!(flip_a_byte(body));
    assert_eq!(post(&app, &tampered, "application/json").await.status, 401);
    let forged = sign(&case, "not-the-account-key", &url, body, now, extra);
    assert_eq!(post(&app, &forged, "application/json").await.status, 401);
    let stale = sign(&case, secret, &url, body, now - 3600, extra);
    assert_eq!(post(&app, &stale, "application/json").await.status, 401);

    // Bad keys: a 422 at `config.publicKey` / `providerConfig.publicKey`, whose message says what is wrong.
    for config in [json!({}), json!({"publicKey": "abcd"}), json!({"publicKey": hex::encode([7u8; 32])})] {
        let r = app.post("/ingest/api/v1/source", json!({"name": "tx", "type": "telnyx", "config": config})).await;
        assert_eq!(r.status, 422, "{config}: {:?}", r.body);
        assert_eq!(r.body["detail"][0]["loc"], json!(["body", "config", "publicKey"]), "{config}: {:?}", r.body);
        assert!(r.body.to_string().contains("publicKey"), "{config}: {:?}", r.body);
        let reg = json!({"connectionId": "c-tx", "events": ["*"], "providerConfig": config});
        let r = app.post("/integrations/telnyx/webhooks", reg).await;
        assert_eq!(r.status, 422, "{config}: {:?}", r.body);
        assert_eq!(
            r.body["detail"][0]["loc"],
            json!(["body", "providerConfig", "publicKey"]),
            "{config}: {:?}",
            r.body
        );
        assert!(r.body.to_string().contains("publicKey"), "{config}: {:?}", r.body);
    }
    // And a registration with the account's key is taken.
    let reg = json!({"connectionId": "c-tx", "events": ["*"], "providerConfig": {"publicKey": key}});
    assert_eq!(app.post("/integrations/telnyx/webhooks", reg).await.status, 201);
}
