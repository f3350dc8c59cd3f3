//! OpenTelemetry traces: the real `hookd serve` exporting over OTLP/HTTP (protobuf) to a real receiver
//! (`tests/py/otlp_receiver.py`, which decodes with the OpenTelemetry project's own protobuf classes). A publish
//! and its attempts — a retry included — share one trace; an incoming `traceparent` is its parent; every webhook
//! carries the attempt's `traceparent`; timers' firings and inbound verifications have spans of their own.

mod common;

use std::process::Command;

use common::otlp::Collector;
use common::*;
use serde_json::{json, Value};

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

/// The (trace id, span id) of a `traceparent` header.
fn traceparent(value: &str) -> (String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "a W3C traceparent: {value:?}");
    assert_eq!(parts[0], "00", "{value}");
    assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{value}");
    (parts[1].to_string(), parts[2].to_string())
}

#[tokio::test]
async fn a_publish_and_its_attempts_share_one_trace_and_the_webhook_carries_it() {
    let collector = Collector::start();
    let receiver = Receiver::start().await;
    receiver.answer(500, 1); // the first attempt fails: the retry comes back through the due-time queue
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let hookd = HookdProcess::start(
        &db,
        port,
        &[
            ("HOOKD_ADMIN_TOKEN", "admin"),
            ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true"),
            ("HOOKD_RETRY_SCHEDULE", "200ms"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://127.0.0.1:{}", collector.port)),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=k123"),
            ("OTEL_SERVICE_NAME", "hookd-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let base = hookd.base.clone();
    assert_eq!(reqwest::get(format!("{base}/metrics")).await.unwrap().status(), 200);
    let app = post_json(&base, "admin", "/api/v1/app", json!({"name": "traced", "uid": "traced"})).await;
    let app_id = app["id"].as_str().expect("an application").to_string();
    let endpoint_url = format!("{}?token=s3cret", receiver.url);
    let ep = post_json(&base, "admin", "/api/v1/app/traced/endpoint", json!({"url": endpoint_url})).await;
    let ep_id = ep["id"].as_str().expect("an endpoint").to_string();

    // A publish that comes with a traceparent: hookd's spans join that trace.
    let (trace, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/app/traced/msg"))
        .bearer_auth("admin")
        .header("traceparent", format!("00-{trace}-{caller_span}-01"))
        .json(&json!({"eventType": "invoice.paid", "payload": {"id": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let msg_id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    let got = receiver.wait_for(2).await;
    let sent: Vec<(String, String)> = got.iter().map(|r| traceparent(r.header("traceparent"))).collect();
    assert!(sent.iter().all(|(t, _)| t == trace), "both attempts carry the caller's trace: {sent:?}");
    assert_ne!(sent[0].1, sent[1].1, "each attempt is a span of its own");

    let in_trace = |s: &Value| s["trace_id"] == trace;
    let request = collector
        .wait_for("the API request's span", 1, |s| in_trace(s) && attr(s, "http.route").is_string())
        .await
        .remove(0);
    assert_eq!(request["name"], "POST /api/v1/app/{app_id}/msg", "named after the route template: {request}");
    assert_eq!(request["parent_span_id"], caller_span, "the incoming traceparent is the parent: {request}");
    assert_eq!(attr(&request, "http.response.status_code"), 202, "{request}");
    assert_eq!(request["kind"], 2, "a server span: {request}");
    assert_eq!(request["service"], "hookd-under-test", "OTEL_SERVICE_NAME names the service: {request}");
    assert_eq!(request["headers"]["x-collector-key"], "k123", "OTEL_EXPORTER_OTLP_HEADERS are sent: {request}");

    let publish =
        collector.wait_for("the publish's span", 1, |s| in_trace(s) && s["name"] == "publish").await.remove(0);
    assert_eq!(publish["parent_span_id"], request["span_id"], "{publish}");
    assert_eq!(attr(&publish, "hookd.message_id"), msg_id.as_str(), "{publish}");
    assert_eq!(attr(&publish, "hookd.app_id"), app_id.as_str(), "{publish}");

    let mut attempts =
        collector.wait_for("both attempts' spans", 2, |s| in_trace(s) && s["name"] == "webhook attempt").await;
    attempts.sort_by_key(|s| attr(s, "hookd.attempt").as_i64());
    for (n, (span, (status, (_, sent_span)))) in attempts.iter().zip([500, 200].iter().zip(&sent)).enumerate() {
        assert_eq!(span["parent_span_id"], publish["span_id"], "the attempt continues the publish: {span}");
        assert_eq!(attr(span, "hookd.attempt"), n as i64 + 1, "{span}");
        assert_eq!(attr(span, "http.response.status_code"), *status, "{span}");
        assert_eq!(attr(span, "http.request.method"), "POST", "{span}");
        assert_eq!(attr(span, "url.full"), receiver.url.as_str(), "the URL without its query: {span}");
        assert_eq!(attr(span, "hookd.endpoint_id"), ep_id.as_str(), "{span}");
        assert_eq!(attr(span, "hookd.message_id"), msg_id.as_str(), "{span}");
        assert_eq!(attr(span, "hookd.app_id"), app_id.as_str(), "{span}");
        assert_eq!(span["kind"], 3, "a client span: {span}");
        assert_eq!(&span["span_id"], sent_span.as_str(), "the webhook's traceparent is the attempt's span");
    }
    assert_eq!(attempts[0]["status"], 2, "the failed attempt's status is an error: {}", attempts[0]);
    assert!(!serde_json::to_string(&collector.spans.lock().unwrap().clone()).unwrap().contains("s3cret"));

    // Without a traceparent, the publish starts a trace and its attempt continues it.
    let msg = post_json(&base, "admin", "/api/v1/app/traced/msg", json!({"eventType": "a.b", "payload": {}})).await;
    let msg_id = msg["id"].as_str().unwrap().to_string();
    let got = receiver.wait_for(3).await;
    let (new_trace, _) = traceparent(got[2].header("traceparent"));
    assert_ne!(new_trace, trace);
    let of_msg = |s: &Value| attr(s, "hookd.message_id") == msg_id.as_str();
    let spans = collector.wait_for("the second message's publish and attempt", 2, of_msg).await;
    assert!(spans.iter().all(|s| s["trace_id"] == new_trace.as_str()), "one trace, the webhook's: {spans:?}");

    // A timer's firing: its webhook's publish and attempt are in the firing's trace.
    let timer = json!({"name": "t", "duration": "50ms", "events": {"on_expire": {"webhook": receiver.url}}});
    let created = post_json(&base, "admin", "/timers", timer).await;
    let timer_id = created["timer"]["id"].as_str().or(created["id"].as_str()).expect("a timer id").to_string();
    let fire = collector
        .wait_for("the timer's firing", 1, |s| {
            s["name"] == "timer fire" && attr(s, "hookd.timer_id") == timer_id.as_str()
        })
        .await
        .remove(0);
    let in_fire = |s: &Value| s["trace_id"] == fire["trace_id"];
    collector.wait_for("the timer webhook's attempt", 1, |s| in_fire(s) && s["name"] == "webhook attempt").await;

    // An inbound request: its verification has a span with the verdict.
    let resp = reqwest::Client::new().post(format!("{base}/webhooks/whr_nosuch")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let verify = collector
        .wait_for("the inbound verification", 1, |s| {
            s["name"] == "inbound verify" && attr(s, "hookd.registration_id") == "whr_nosuch"
        })
        .await
        .remove(0);
    assert_eq!(attr(&verify, "hookd.verdict"), "unknown", "{verify}");
    // Probes and scrapes make no spans: none was exported for the health checks HookdProcess made at the start, nor
    // for the scrape right after it (the request, publish and attempt spans made after them were).
    let spans = collector.spans.lock().unwrap().clone();
    assert!(!spans.iter().any(|s| s["name"].as_str().is_some_and(|n| n.contains("health") || n.contains("metrics"))));
    let (clean, _) = hookd.terminate();
    assert!(clean);
}

/// The publish's trace is stored with its message: a retry made by the next process on the same database (after a
/// restart, or by another node) is still the publish's child.
#[tokio::test]
async fn a_retry_after_a_restart_continues_the_publishs_trace() {
    let collector = Collector::start();
    let receiver = Receiver::start().await;
    receiver.answer(500, 1);
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let otlp = format!("http://127.0.0.1:{}", collector.port);
    let env = [
        ("HOOKD_ADMIN_TOKEN", "admin"),
        ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true"),
        // Long enough that the retry is left to the next process.
        ("HOOKD_RETRY_SCHEDULE", "3s"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let first = HookdProcess::start(&db, free_port(), &env).await;
    post_json(&first.base, "admin", "/api/v1/app", json!({"name": "t", "uid": "t"})).await;
    post_json(&first.base, "admin", "/api/v1/app/t/endpoint", json!({"url": receiver.url})).await;
    let msg = post_json(&first.base, "admin", "/api/v1/app/t/msg", json!({"eventType": "a.b", "payload": {}})).await;
    let msg_id = msg["id"].as_str().expect("a message").to_string();
    let of_msg = |s: &Value| attr(s, "hookd.message_id") == msg_id.as_str();
    let publish = collector.wait_for("the publish's span", 1, |s| of_msg(s) && s["name"] == "publish").await.remove(0);
    receiver.wait_for(1).await;
    collector.wait_for("the first attempt's span", 1, |s| of_msg(s) && s["name"] == "webhook attempt").await;
    let (clean, _) = first.terminate();
    assert!(clean);

    let second = HookdProcess::start(&db, free_port(), &env).await;
    let got = receiver.wait_for(2).await;
    let (trace, _) = traceparent(got[1].header("traceparent"));
    assert_eq!(trace, publish["trace_id"].as_str().unwrap(), "the retry's webhook carries the publish's trace");
    let attempts = collector.wait_for("both attempts' spans", 2, |s| of_msg(s) && s["name"] == "webhook attempt").await;
    for span in &attempts {
        assert_eq!(span["parent_span_id"], publish["span_id"], "each attempt continues the publish: {span}");
    }
    let (clean, _) = second.terminate();
    assert!(clean);
}

/// Without an OTLP endpoint nothing is exported, and webhooks carry no traceparent.
#[tokio::test]
async fn without_the_otel_variables_nothing_is_traced() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let hookd = HookdProcess::start_with(port, |cmd| {
        cmd.arg("serve")
            .env("HOOKD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOOKD_DATABASE_URL", &db)
            .env("HOOKD_ADMIN_TOKEN", "admin")
            .env("HOOKD_ALLOW_PRIVATE_NETWORKS", "true")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    })
    .await;
    post_json(&hookd.base, "admin", "/api/v1/app", json!({"name": "a", "uid": "a"})).await;
    post_json(&hookd.base, "admin", "/api/v1/app/a/endpoint", json!({"url": receiver.url})).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/app/a/msg", hookd.base))
        .bearer_auth("admin")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .json(&json!({"eventType": "a.b", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].header("traceparent"), "", "no trace context without an exporter");
    let (clean, _) = hookd.terminate();
    assert!(clean);
}

/// A protocol hookd cannot speak is refused at start, saying which one it speaks.
#[test]
fn an_unsupported_otlp_protocol_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hookd"))
        .arg("serve")
        .env("HOOKD_LISTEN", "127.0.0.1:0")
        .env("HOOKD_DATABASE_URL", format!("sqlite://{}/h.db", dir.path().display()))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http/protobuf"), "{err}");
}
