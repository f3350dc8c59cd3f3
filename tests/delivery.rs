//! Delivery end to end: fan-out, signatures (checked by the official libraries and by the seeds' own recipes),
//! retries, dead letters, resend, 410, Retry-After, scheduled messages.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

async fn secret_of(app: &TestApp, app_id: &str, ep_id: &str) -> String {
    let r = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/secret")).await;
    r.body["key"].as_str().unwrap().to_string()
}

fn input_for(got: &Received, secret: &str) -> Value {
    let headers: serde_json::Map<String, Value> =
        got.headers.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap().to_string()))).collect();
    json!({"body": String::from_utf8(got.body.to_vec()).unwrap(), "headers": headers, "secret": secret})
}

#[tokio::test]
async fn messages_fan_out_by_event_type_and_channel_signed_for_the_official_libraries() {
    let app = spawn_app().await;
    let (typed, by_channel) = (Receiver::start().await, Receiver::start().await);
    let (app_id, ep1) = app.app_with_endpoint(&typed.url, json!({"eventTypes": ["user.*"]})).await;
    let ep2 = app
        .post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": by_channel.url, "channels": ["eu"]}))
        .await
        .body;

    let payload = json!({"z": 1, "a": {"nested": [1, 2, 3]}, "text": "héllo"});
    let m1 = app.publish(&app_id, "user.created", payload.clone()).await;
    let got = typed.wait_for(1).await;
    assert_eq!(got[0].header("svix-id"), m1["id"].as_str().unwrap());
    // The body is the payload exactly as published (key order kept).
    assert_eq!(got[0].body, serde_json::to_string(&payload).unwrap().as_bytes());

    let m2 = app
        .post(
            &format!("/api/v1/app/{app_id}/msg"),
            json!({"eventType": "order.paid", "payload": {"n": 2}, "channels": ["eu"]}),
        )
        .await;
    assert_eq!(m2.status, 202);
    let got2 = by_channel.wait_for(1).await;
    assert_eq!(got2[0].header("svix-id"), m2.body["id"].as_str().unwrap());
    // Neither endpoint received what it did not ask for.
    assert_eq!(typed.received().len(), 1);
    assert_eq!(by_channel.received().len(), 1);

    for (got, ep) in [(&got[0], &ep1), (&got2[0], &ep2)] {
        let secret = secret_of(&app, &app_id, ep["id"].as_str().unwrap()).await;
        let (ok, out) = run_script(&python(), &script("py/verify_standard.py"), &input_for(got, &secret));
        assert!(ok, "official libraries refused the signature: {out}");
        let mut tampered = input_for(got, &secret);
        tampered["body"] = json!(format!("{} ", tampered["body"].as_str().unwrap()));
        assert!(
            !run_script(&python(), &script("py/verify_standard.py"), &tampered).0,
            "a changed body must not verify"
        );
    }
}

#[tokio::test]
async fn webhook_header_style_verifies_with_standardwebhooks_directly() {
    let app = spawn_app_with(|c| c.header_style = hookd::config::HeaderStyle::Webhook).await;
    let recv = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({})).await;
    let msg = app.publish(&app_id, "a.b", json!({"x": 1})).await;
    let got = recv.wait_for(1).await;
    assert_eq!(got[0].header("webhook-id"), msg["id"].as_str().unwrap());
    assert!(got[0].headers.get("svix-id").is_none());
    let secret = secret_of(&app, &app_id, ep["id"].as_str().unwrap()).await;
    let (ok, out) = run_script(&python(), &script("py/verify_standard.py"), &input_for(&got[0], &secret));
    assert!(ok, "{out}");
}

#[tokio::test]
async fn failures_are_retried_with_the_same_message_id_and_every_attempt_is_recorded() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    recv.answer(500, 1);
    recv.answer(503, 1);
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({})).await;
    let msg = app.publish(&app_id, "a.b", json!({"k": "v"})).await;
    let msg_id = msg["id"].as_str().unwrap();
    let got = recv.wait_for(3).await;
    assert!(got.iter().all(|g| g.header("svix-id") == msg_id), "every attempt carries the message id");
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(70), "first retry waits its delay");

    let attempts = eventually("three recorded attempts", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}")).await;
        (r.body["data"].as_array().unwrap().len() == 3).then_some(r.body)
    })
    .await;
    let codes: Vec<i64> =
        attempts["data"].as_array().unwrap().iter().map(|a| a["responseStatusCode"].as_i64().unwrap()).collect();
    assert_eq!(codes, vec![200, 503, 500], "newest first");
    let first = &attempts["data"][0];
    assert_eq!(first["status"], 0);
    assert_eq!(first["statusText"], "success");
    assert_eq!(first["response"], "ok");
    assert_eq!(first["endpointId"], ep["id"]);
    assert_eq!(first["triggerType"], 0);

    let dest = app.get(&format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint")).await;
    assert_eq!(dest.body["data"][0]["status"], 0);
    let stats = app.get(&format!("/api/v1/app/{app_id}/endpoint/{}/stats", ep["id"].as_str().unwrap())).await;
    assert_eq!(stats.body["success"], 1);
}

#[tokio::test]
async fn exhausted_deliveries_are_listed_as_failed_and_can_be_resent() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    recv.answer(500, 3); // the first attempt and both retries
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let msg = app.publish(&app_id, "a.b", json!({})).await;
    let msg_id = msg["id"].as_str().unwrap();
    recv.wait_for(3).await;
    let failed = eventually("the dead letter", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/msg?status=2")).await;
        (r.body["data"].as_array().unwrap().len() == 1).then_some(r.body)
    })
    .await;
    assert_eq!(failed["data"][0]["id"], msg["id"]);
    assert_eq!(failed["data"][0]["statusText"], "fail");
    // Nothing more is attempted on its own.
    assert_eq!(recv.received().len(), 3);

    let r = app.post(&format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{ep_id}/resend"), json!({})).await;
    assert_eq!(r.status, 202);
    let got = recv.wait_for(4).await;
    assert_eq!(got[3].header("svix-id"), msg_id);
    eventually("the resent delivery to succeed", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}")).await;
        let first = &r.body["data"][0];
        (first["status"] == 0 && first["triggerType"] == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn gone_disables_the_endpoint() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    recv.answer(410, 1);
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    app.publish(&app_id, "a.b", json!({})).await;
    recv.wait_for(1).await;
    eventually("the endpoint to be disabled", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}")).await;
        (r.body["disabled"] == true).then_some(())
    })
    .await;
    // 410 is final: the delivery fails (recorded just after the endpoint is disabled) and is not retried.
    eventually("the delivery to be recorded as failed", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/msg?status=2")).await;
        (r.body["data"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    assert_eq!(recv.received().len(), 1);
}

#[tokio::test]
async fn an_endpoint_failing_past_the_window_is_disabled() {
    let app = spawn_app_with(|c| c.disable_after = Duration::ZERO).await;
    let recv = Receiver::start().await;
    recv.answer(500, 1);
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    app.publish(&app_id, "a.b", json!({})).await;
    recv.wait_for(1).await;
    eventually("the endpoint to be disabled", || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}")).await;
        (r.body["disabled"] == true).then_some(())
    })
    .await;
}

#[tokio::test]
async fn retry_after_moves_the_retry_later_within_bounds() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![Duration::from_secs(1)]).await;
    let recv = Receiver::start().await;
    recv.answer_with(429, vec![("retry-after", "2")], 1);
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    app.publish(&app_id, "a.b", json!({})).await;
    let got = recv.wait_for(2).await;
    let gap = got[1].at.duration_since(got[0].at);
    // Scheduled 0.8–1.2 s; Retry-After: 2 moves it to 2 s, capped at twice the scheduled delay (≥ 1.6 s).
    assert!(gap >= Duration::from_millis(1550), "gap {gap:?}");
}

#[tokio::test]
async fn per_endpoint_retry_schedule_and_custom_headers() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    recv.answer(500, 1);
    let (app_id, ep) =
        app.app_with_endpoint(&recv.url, json!({"retrySchedule": ["1s"], "headers": {"X-Tenant": "acme"}})).await;
    assert_eq!(ep["retrySchedule"], json!(["1s"]));
    let ep_id = ep["id"].as_str().unwrap();
    let r = app
        .patch(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/headers"), json!({"headers": {"X-Extra": "1"}}))
        .await;
    assert_eq!(r.status, 204);
    app.publish(&app_id, "a.b", json!({})).await;
    let got = recv.wait_for(2).await;
    assert!(
        got[1].at.duration_since(got[0].at) >= Duration::from_millis(750),
        "the endpoint's own schedule (1 s ± 20 %)"
    );
    assert_eq!(got[0].header("x-tenant"), "acme");
    assert_eq!(got[0].header("x-extra"), "1");
}

#[tokio::test]
async fn deliver_at_schedules_the_message() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(1200);
    let start = Instant::now();
    let r = app
        .post(
            &format!("/api/v1/app/{app_id}/msg"),
            json!({"eventType": "a.b", "payload": {}, "deliverAt": at.to_rfc3339()}),
        )
        .await;
    assert_eq!(r.status, 202);
    let got = recv.wait_for(1).await;
    let waited = got[0].at.duration_since(start);
    assert!(waited >= Duration::from_millis(1000), "delivered after {waited:?}");
}

/// The seeds' `sha256=` formats, each checked with the seed's own verification code.
#[tokio::test]
async fn seed_signature_formats_verify_with_the_seeds_recipes() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let cases = [
        ("tms", vec![("python3", "recipes/tms_verify.py"), ("node", "recipes/tms_verify.js")]),
        ("minoots", vec![("node", "recipes/minoots_verify.js")]),
        ("chat", vec![("python3", "recipes/chat_verify.py"), ("node", "recipes/chat_verify.js")]),
    ];
    for (i, (preset, recipes)) in cases.iter().enumerate() {
        let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({"signature": {"preset": preset}})).await;
        let ep_id = ep["id"].as_str().unwrap();
        let payload =
            json!({"event": "execution.completed", "data": {"results": {"total": 10, "failed": 0}}, "note": "ünï"});
        app.publish(&app_id, "execution.completed", payload).await;
        let got = recv.wait_for(i + 1).await;
        let got = &got[i];
        let secret = secret_of(&app, &app_id, ep_id).await;
        for (program, recipe) in recipes {
            let (ok, out) = run_script(program, &script(recipe), &input_for(got, &secret));
            assert!(ok, "{preset}: {recipe} refused hookd's signature: {out}");
            let (bad, _) = run_script(program, &script(recipe), &input_for(got, "whsec_wrong"));
            assert!(!bad, "{preset}: {recipe} accepted a wrong secret");
        }
        match *preset {
            "tms" => {
                let ts: i64 = got.header("x-tms-timestamp").parse().unwrap();
                assert!((ts - chrono::Utc::now().timestamp()).abs() < 60);
            }
            "minoots" => assert_eq!(got.header("x-minoots-attempt"), "1"),
            "chat" => {
                assert!(chrono::DateTime::parse_from_rfc3339(got.header("x-webhook-timestamp")).is_ok());
                assert!(got.header("x-webhook-id").starts_with("msg_"));
            }
            _ => unreachable!(),
        }
        // The Standard Webhooks headers travel beside the seed's scheme.
        assert!(got.header("svix-signature").starts_with("v1,"));
    }
}

#[tokio::test]
async fn minoots_attempt_header_counts_retries() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    recv.answer(500, 1);
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({"signature": {"preset": "minoots"}})).await;
    app.publish(&app_id, "timer_expired", json!({"event": "timer_expired"})).await;
    let got = recv.wait_for(2).await;
    assert_eq!(got[0].header("x-minoots-attempt"), "1");
    assert_eq!(got[1].header("x-minoots-attempt"), "2");
}

#[tokio::test]
async fn throttle_rate_spaces_deliveries_without_losing_any() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&recv.url, json!({"throttleRate": 5})).await;
    for i in 0..15 {
        app.publish(&app_id, "a.b", json!({"i": i})).await;
    }
    let got = recv.wait_for(15).await;
    // A burst of 5, then 5 per second: the last one no sooner than ~2 s after the first.
    let span = got[14].at.duration_since(got[0].at);
    assert!(span >= Duration::from_millis(1700), "15 deliveries at 5/s took only {span:?}");
    let mut seen: Vec<i64> = got.iter().map(|g| g.json()["i"].as_i64().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, (0..15).collect::<Vec<_>>(), "each delivered once");
    // A throttled wait is not an attempt: exactly one attempt per message.
    let path = format!("/api/v1/app/{app_id}/attempt/endpoint/{}?limit=100", ep["id"].as_str().unwrap());
    let n = eventually("15 attempts", || async {
        let n = app.get(&path).await.body["data"].as_array().unwrap().len();
        (n >= 15).then_some(n)
    })
    .await;
    assert_eq!(n, 15);
}
