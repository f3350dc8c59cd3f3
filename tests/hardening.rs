//! Hardening of delivery against hostile receivers and endpoint URLs: a receiver that drips its answer, one that
//! answers a huge body, redirects into private space, private addresses in every spelling, and names that
//! resolve to private addresses. Every receiver here is on loopback; the refused addresses are never reached.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The attempts of a message, once `n` are recorded.
async fn attempts(app: &TestApp, app_id: &str, msg_id: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} recorded attempt(s)"), || async {
        let r = app.get(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}")).await;
        let data = r.body["data"].as_array().cloned().unwrap_or_default();
        (data.len() >= n).then_some(data)
    })
    .await
}

/// Every spelling of a private, loopback, link-local or otherwise non-public address that URL parsers accept.
const PRIVATE_SPELLINGS: &[&str] = &[
    "http://127.0.0.1/hook",
    "http://2130706433/hook",         // decimal
    "http://0x7f000001/hook",         // hex
    "http://0x7f.0x0.0x0.0x1/hook",   // hex per octet
    "http://0177.0.0.1/hook",         // octal
    "http://017700000001/hook",       // octal, whole
    "http://127.1/hook",              // short
    "http://127.0.1/hook",            // short
    "http://0.0.0.0/hook",            // unspecified
    "http://0/hook",                  // unspecified, short
    "http://[::1]/hook",              // IPv6 loopback
    "http://[::]/hook",               // IPv6 unspecified
    "http://[::ffff:127.0.0.1]/hook", // IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/hook",    // IPv4-mapped IPv6, hex
    "http://[::127.0.0.1]/hook",      // IPv4-compatible IPv6
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/", // cloud metadata
    "http://0xa9fea9fe/latest/meta-data/",      // metadata, hex
    "http://2852039166/latest/meta-data/",      // metadata, decimal
    "http://[fe80::1]/hook",                    // link-local
    "http://100.64.0.1/hook",                   // CGNAT
    "http://100.127.255.254/hook",              // CGNAT
    "http://10.0.0.1/hook",
    "http://172.16.0.1/hook",
    "http://192.168.0.1/hook",
    "http://[fd00::1]/hook",            // ULA
    "http://[fc00::1]/hook",            // ULA
    "http://[64:ff9b::a9fe:a9fe]/hook", // NAT64 of the metadata address
    "http://[2002:7f00:1::]/hook",      // 6to4 of loopback
    "https://[::ffff:10.0.0.1]:8443/hook",
];

#[tokio::test]
async fn endpoint_urls_in_every_private_spelling_are_refused_on_create_and_update() {
    let app = spawn_app_with(|c| c.allow_private_networks = false).await;
    // A public literal is accepted (nothing is published, so nothing is sent to it).
    let (app_id, ep) = app.app_with_endpoint("https://93.184.216.34/hook", json!({})).await;
    let ep_path = format!("/api/v1/app/{app_id}/endpoint/{}", ep["id"].as_str().unwrap());
    for url in PRIVATE_SPELLINGS {
        let created = app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({ "url": url })).await;
        assert!(created.status.is_client_error(), "create {url}: {} {:?}", created.status, created.body);
        assert!(created.body.is_object(), "create {url}: a JSON error body, got {:?}", created.body);
        let text = created.body.to_string();
        assert!(text.contains("not a public address"), "create {url}: {text}");

        for (how, r) in [
            ("put", app.put(&ep_path, json!({ "url": url })).await),
            ("patch", app.patch(&ep_path, json!({ "url": url })).await),
        ] {
            assert!(r.status.is_client_error(), "{how} {url}: {} {:?}", r.status, r.body);
            assert!(r.body.to_string().contains("not a public address"), "{how} {url}: {:?}", r.body);
        }
    }
    let still = app.get(&ep_path).await;
    assert_eq!(still.body["url"], "https://93.184.216.34/hook", "no update went through");
}

/// A name resolving to a private address is refused when an endpoint is saved (create, update, patch: 422 on
/// `url`, saying how to allow it), as every other delivery URL is (timers' webhooks, operational webhook
/// endpoints, bots' outgoing webhooks); a name that does not resolve is accepted, as it may exist later.
#[tokio::test]
async fn names_resolving_to_private_space_are_refused_when_saved() {
    let app = spawn_app_with(|c| c.allow_private_networks = false).await;
    let url = "http://localhost:9/hook";
    let says_how = |r: &Resp, loc: &[&str], what: &str| {
        assert_eq!(r.status, 422, "{what}: {:?}", r.body);
        let text = r.body.to_string();
        assert!(text.contains("localhost resolves to"), "{what}: {text}");
        assert!(text.contains("HOOKD_ALLOW_PRIVATE_NETWORKS=true") && text.contains("HOOKD_ALLOWED_CIDRS"), "{text}");
        if !loc.is_empty() {
            assert_eq!(r.body["detail"][0]["loc"], json!(loc), "{what}: {text}");
        }
    };
    let (app_id, ep) = app.app_with_endpoint("https://93.184.216.34/hook", json!({})).await;
    let eps = format!("/api/v1/app/{app_id}/endpoint");
    let ep_path = format!("{eps}/{}", ep["id"].as_str().unwrap());
    says_how(&app.post(&eps, json!({ "url": url })).await, &["body", "url"], "create");
    says_how(&app.put(&ep_path, json!({ "url": url })).await, &["body", "url"], "put");
    says_how(&app.patch(&ep_path, json!({ "url": url })).await, &["body", "url"], "patch");
    says_how(&app.put(&format!("{eps}/by-uid"), json!({ "url": url })).await, &["body", "url"], "put by uid");
    assert_eq!(app.get(&ep_path).await.body["url"], "https://93.184.216.34/hook", "no update went through");

    let r = app.post(&eps, json!({ "url": "http://not-yet.hookd-test.invalid/hook" })).await;
    assert_eq!(r.status, 201, "a name that does not resolve (yet) is accepted: {:?}", r.body);

    let timer = |event: &str| json!({"duration": "1h", "events": {event: {"webhook": url, "intervals": ["50%"]}}});
    says_how(&app.post("/timers", timer("on_expire")).await, &["body", "events", "on_expire", "webhook"], "timer");
    says_how(&app.post("/timers", timer("on_progress")).await, &["body", "events", "on_progress", "webhook"], "timer");
    let ops = "/api/v1/operational-webhook/endpoint";
    says_how(&app.post(ops, json!({ "url": url })).await, &["body", "url"], "operational webhook endpoint");
    let bot = app.post("/api/v1/bots", json!({"name": "b", "webhook_url": url})).await;
    says_how(&bot, &[], "bot");
    assert!(bot.body["detail"].as_str().unwrap().starts_with("webhook_url: "), "{:?}", bot.body);
    let bot = app.post("/api/v1/bots", json!({"name": "b"})).await;
    assert_eq!(bot.status, 201, "{:?}", bot.body);
    let r =
        app.patch(&format!("/api/v1/bots/{}", bot.body["bot_id"].as_str().unwrap()), json!({"webhook_url": url})).await;
    says_how(&r, &[], "bot update");
}

/// The check when connecting stays: a name that resolves to a private address only after it was saved (DNS
/// rebinding; here a transformation moves the delivery to `localhost`) is refused then, and nothing is sent.
#[tokio::test]
async fn names_resolving_to_private_space_are_refused_at_delivery_time() {
    let recv = Receiver::start().await;
    let app = spawn_app_with(|c| c.allow_private_networks = false).await;
    let (app_id, ep) = app.app_with_endpoint("https://93.184.216.34/hook", json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let url = format!("http://localhost:{}/hook", recv.addr.port());
    let code = format!("function handler(webhook) {{ webhook.url = {url:?}; return webhook; }}");
    let r = app
        .patch(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/transformation"), json!({"code": code, "enabled": true}))
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let msg = app.publish(&app_id, "user.created", json!({"a": 1})).await;
    let got = attempts(&app, &app_id, msg["id"].as_str().unwrap(), 1).await;
    assert_eq!(got[0]["status"], 2, "a failed attempt: {:?}", got[0]);
    assert_eq!(got[0]["responseStatusCode"], 0);
    let why = got[0]["response"].as_str().unwrap();
    assert!(why.contains("not a public address"), "{why}");
    assert!(recv.received().is_empty(), "the receiver behind the private name got nothing");
}

#[tokio::test]
async fn redirects_are_never_followed_into_private_space() {
    // Only 127.0.0.1 is allowed; the redirect points at 127.0.0.2, another loopback address, which is not.
    let private = Receiver::start_on("127.0.0.2").await;
    let public = Receiver::start().await;
    let app = spawn_app_with(|c| {
        c.allow_private_networks = false;
        c.allowed_cidrs = vec!["127.0.0.1/32".parse().unwrap()];
        c.retry_schedule = vec![];
    })
    .await;
    let target = format!("{}?stolen=1", private.url);
    for status in [301, 302, 303, 307, 308] {
        public.answer_with(status, vec![("location", target.as_str())], 1);
        let (app_id, _) = app.app_with_endpoint(&public.url, json!({})).await;
        let msg = app.publish(&app_id, "user.created", json!({"a": 1})).await;
        let got = attempts(&app, &app_id, msg["id"].as_str().unwrap(), 1).await;
        assert_eq!(got[0]["responseStatusCode"], status, "the redirect itself is the answer: {:?}", got[0]);
        assert_eq!(got[0]["status"], 2, "a redirect is a failed attempt: {:?}", got[0]);
    }
    assert_eq!(public.received().len(), 5);
    assert!(private.received().is_empty(), "no redirect was followed");
}

/// A raw TCP receiver that sends a 200 status line and headers, then its body one byte per 100 ms. Reports
/// when a connection is accepted and when the client closed it (a write failed), with the bytes dripped.
async fn drip_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<(&'static str, Instant, usize)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(("accepted", Instant::now(), 0));
                let (mut read, mut write) = sock.into_split();
                // Take the request (and anything after it) without answering it properly.
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while matches!(read.read(&mut buf).await, Ok(n) if n > 0) {}
                });
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000000\r\n\r\n";
                if write.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                // Bounded: at most 10 minutes of dripping, far past any timeout under test.
                for sent in 0..6000 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if write.write_all(b"x").await.is_err() || write.flush().await.is_err() {
                        let _ = tx.send(("closed", Instant::now(), sent));
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn a_dripping_receiver_is_cut_at_the_timeout_and_frees_its_slot() {
    let timeout = Duration::from_secs(1);
    let (drip_url, mut events) = drip_receiver().await;
    let good = Receiver::start().await;
    let app = spawn_app_with(|c| {
        c.request_timeout = timeout;
        c.dispatch_concurrency = 1;
        c.retry_schedule = vec![Duration::from_secs(3600)];
    })
    .await;
    let (drip_app, _) = app.app_with_endpoint(&drip_url, json!({})).await;
    let (good_app, _) = app.app_with_endpoint(&good.url, json!({})).await;

    let msg = app.publish(&drip_app, "user.created", json!({"a": 1})).await;
    let (what, accepted, _) = tokio::time::timeout(WAIT, events.recv()).await.expect("the drip is called").unwrap();
    assert_eq!(what, "accepted");
    // The only dispatch slot is taken by the drip: the next delivery waits for the timeout to free it.
    app.publish(&good_app, "user.created", json!({"b": 2})).await;
    let got = good.wait_for(1).await;
    let waited = got[0].at.duration_since(accepted);
    assert!(waited >= timeout - Duration::from_millis(200), "delivered before the drip was cut: {waited:?}");
    assert!(waited < timeout + Duration::from_secs(5), "the slot was freed late: {waited:?}");

    let got = attempts(&app, &drip_app, msg["id"].as_str().unwrap(), 1).await;
    assert_eq!(got[0]["status"], 2, "a dripped answer is a failed attempt: {:?}", got[0]);
    assert_eq!(got[0]["responseStatusCode"], 0);
    assert!(got[0]["response"].as_str().unwrap().contains("timeout"), "{:?}", got[0]);
    let took = got[0]["responseDurationMs"].as_i64().unwrap();
    assert!((900..4000).contains(&took), "the attempt ended at the timeout: {took} ms");

    // And the connection was closed: the drip's next write failed.
    let (what, closed, sent) = tokio::time::timeout(WAIT, events.recv()).await.expect("the drip is cut").unwrap();
    assert_eq!(what, "closed");
    assert!(closed.duration_since(accepted) < timeout + Duration::from_secs(5));
    assert!(sent < 50, "dripped {sent} bytes");
}

#[tokio::test]
async fn a_huge_answer_is_read_only_up_to_the_stored_limit() {
    const TOTAL: usize = 50 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let produced = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(tokio::sync::Notify::new());
    let (p, f) = (produced.clone(), finished.clone());
    // The body is made as it is read, and the stream notes when it is dropped (the connection closed).
    let handler = move || {
        let (p, f) = (p.clone(), f.clone());
        async move {
            struct Dropped(Arc<tokio::sync::Notify>);
            impl Drop for Dropped {
                fn drop(&mut self) {
                    self.0.notify_one();
                }
            }
            let guard = Dropped(f);
            let chunks = futures::stream::iter(0..TOTAL / CHUNK).map(move |_| {
                let _keep = &guard;
                p.fetch_add(CHUNK, Ordering::SeqCst);
                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; CHUNK]))
            });
            axum::body::Body::from_stream(chunks)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(handler)).await.unwrap() });

    let app = spawn_app().await;
    let (app_id, _) = app.app_with_endpoint(&url, json!({})).await;
    let msg = app.publish(&app_id, "user.created", json!({"a": 1})).await;
    let got = attempts(&app, &app_id, msg["id"].as_str().unwrap(), 1).await;
    assert_eq!(got[0]["responseStatusCode"], 200);
    assert_eq!(got[0]["status"], 0, "delivered: {:?}", got[0]["responseStatusCode"]);
    let kept = got[0]["response"].as_str().unwrap();
    assert_eq!(kept.len(), 20_000, "the stored response is cut at the limit");
    assert!(kept.bytes().all(|b| b == b'x'));

    tokio::time::timeout(WAIT, finished.notified()).await.expect("the receiver's body stream is dropped");
    let sent = produced.load(Ordering::SeqCst);
    assert!(sent < TOTAL / 2, "hookd stopped reading early, yet {sent} of {TOTAL} bytes were produced");
}

/// Found by schemathesis: a bot id shorter than its prefix panicked in token rotation (a 500).
#[tokio::test]
async fn rotating_the_token_of_an_unknown_short_bot_id_is_a_404() {
    let app = spawn_app().await;
    for id in ["x", "bot", "b\u{e9}"] {
        let r = app.post(&format!("/api/v1/bots/{id}/rotate-token"), json!({})).await;
        assert!(r.status.is_client_error(), "{id:?}: {} {:?}", r.status, r.body);
        assert!(r.body.is_object(), "{id:?}: a JSON error body, got {:?}", r.body);
    }
}
