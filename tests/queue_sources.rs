//! Queue sources (issue 21, part 6): inbound registrations of type `rabbitMq` and `redis` consume from the
//! machine's brokers — RabbitMQ (127.0.0.1:5672, guest/guest) and Redis (6379) — and each message arrives, through
//! the engine, at a real loopback receiver as the registration's application's endpoint, with its event type. A
//! message whose commit fails is not acknowledged and comes again; a connection broken through a TCP proxy of the
//! test's own resumes without loss; a bad config is a 422 naming the field. On SQLite, and on PostgreSQL with
//! `HOOKD_TEST_STORE=postgres`.
//!
//! The addresses can be moved with HOOKD_TEST_AMQP and HOOKD_TEST_REDIS (`host:port`).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::*;
use serde_json::{json, Value};

fn addr(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

fn amqp_addr() -> String {
    addr("HOOKD_TEST_AMQP", "127.0.0.1:5672")
}

fn redis_addr() -> String {
    addr("HOOKD_TEST_REDIS", "127.0.0.1:6379")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// An application whose endpoint is `receiver`; returns its id.
async fn app_for(app: &TestApp, receiver: &Receiver) -> String {
    app.app_with_endpoint(&receiver.url, json!({})).await.0
}

async fn register(app: &TestApp, kind: &str, app_id: &str, config: Value) -> String {
    let body = json!({"connectionId": "queue", "events": ["*"], "destination": {"appId": app_id}, "config": config});
    let r = app.post(&format!("/integrations/{kind}/webhooks"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["registrationId"].as_str().unwrap().to_string()
}

/// The forwarded events the receiver got, by the broker's message id (each once: a duplicate fails the test).
fn by_delivery_id(receiver: &Receiver) -> std::collections::BTreeMap<String, Value> {
    let mut seen = std::collections::BTreeMap::new();
    for r in receiver.received() {
        let event = r.json();
        let id = event["deliveryId"].as_str().unwrap_or_default().to_string();
        assert!(seen.insert(id.clone(), event).is_none(), "{id} was forwarded twice");
    }
    seen
}

/// Waits until the receiver holds events with every one of `ids` as its delivery id.
async fn wait_for_ids(
    receiver: &Receiver,
    ids: &[String],
    within: Duration,
) -> std::collections::BTreeMap<String, Value> {
    eventually_within(&format!("{} events at the receiver", ids.len()), within, || async {
        let got = by_delivery_id(receiver);
        ids.iter().all(|id| got.contains_key(id)).then_some(got)
    })
    .await
}

async fn consumer(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/webhooks/{id}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["consumer"].clone()
}

/// A trigger that makes the store refuse to commit inbound events that came with the header `x-test: poison`, as a
/// failing database would; `false` drops it again.
async fn poison_commits(app: &TestApp, on: bool) {
    let url = app.ctx.cfg.database_url.clone();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let db = rusqlite::Connection::open(path).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let sql = if on {
            r#"CREATE TRIGGER poison BEFORE INSERT ON inbound_events WHEN NEW.headers LIKE '%"x-test":"poison"%'
               BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END"#
        } else {
            "DROP TRIGGER poison"
        };
        db.execute_batch(sql).unwrap();
    } else {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let sql = if on {
            r#"CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
                   IF NEW.headers LIKE '%"x-test":"poison"%' THEN RAISE EXCEPTION 'poisoned by the test'; END IF;
                   RETURN NEW;
               END $$ LANGUAGE plpgsql;
               CREATE TRIGGER poison BEFORE INSERT ON inbound_events FOR EACH ROW EXECUTE FUNCTION poison();"#
        } else {
            "DROP TRIGGER poison ON inbound_events; DROP FUNCTION poison();"
        };
        client.batch_execute(sql).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------
// Bad input (no broker needed)

#[tokio::test]
async fn a_bad_config_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let app_id = app_for(&app, &receiver).await;
    let cases: Vec<(&str, Option<Value>, Vec<&str>)> = vec![
        ("rabbitMq", None, vec!["body", "config"]),
        ("rabbitMq", Some(json!({"queue": "q"})), vec!["body", "config", "uri"]),
        ("rabbitMq", Some(json!({"uri": "http://h", "queue": "q"})), vec!["body", "config", "uri"]),
        ("rabbitMq", Some(json!({"uri": "amqp://h"})), vec!["body", "config", "queue"]),
        ("rabbitMq", Some(json!({"uri": "amqp://h", "queue": 7})), vec!["body", "config", "queue"]),
        ("rabbitMq", Some(json!({"uri": "amqp://h", "queue": "q", "prefetch": 0})), vec!["body", "config", "prefetch"]),
        ("rabbitMq", Some(json!("amqp://h")), vec!["body", "config"]),
        (
            "rabbitMq",
            Some(json!({"uri": "amqp://h", "queue": "q", "eventTypePath": "a..b"})),
            vec!["body", "config", "eventTypePath"],
        ),
        ("redis", Some(json!({"url": "redis://h", "group": "g"})), vec!["body", "config", "stream"]),
        ("redis", Some(json!({"url": "redis://h", "stream": "s"})), vec!["body", "config", "group"]),
        ("redis", Some(json!({"url": "amqp://h", "stream": "s", "group": "g"})), vec!["body", "config", "url"]),
        ("github", Some(json!({"uri": "amqp://h", "queue": "q"})), vec!["body", "config"]),
        ("kafka", Some(json!({})), vec!["path", "integrationId"]),
    ];
    for (kind, config, loc) in cases {
        let mut body = json!({"connectionId": "c", "events": ["*"], "destination": {"appId": app_id}});
        if let Some(c) = &config {
            body["config"] = c.clone();
        }
        let r = app.post(&format!("/integrations/{kind}/webhooks"), body).await;
        assert_eq!(r.status, 422, "{kind} {config:?}: {:?}", r.body);
        assert_eq!(r.body["detail"][0]["loc"], json!(loc), "{kind} {config:?}: {:?}", r.body);
    }
    // A good one, then a bad change to it.
    let id =
        register(&app, "rabbitMq", &app_id, json!({"uri": "amqp://guest:s3cret@127.0.0.1:1/%2f", "queue": "q"})).await;
    let r = app.patch(&format!("/webhooks/{id}"), json!({"config": {"uri": "amqp://h"}})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "config", "queue"]));
    // Its credentials are not shown; an HTTP request to it is refused, not a 5xx.
    let got = app.get(&format!("/webhooks/{id}")).await.body;
    assert_eq!(got["config"]["uri"], "amqp://guest:****@127.0.0.1:1/%2f", "{got}");
    assert_eq!(got["config"]["queue"], "q");
    let r = app.http.post(format!("{}/webhooks/{id}", app.base)).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Read past the sealing layer (a store opened without the main key): the config is sealed at rest.
    let raw = hookd::store::open(&app.ctx.cfg.database_url, hookd::config::Durability::Normal, false).await.unwrap();
    let stored = raw.doc_get_any(hookd::store::DocKind::InboundRegistration, &id).await.unwrap().unwrap();
    let source: Value = serde_json::from_str::<Value>(&stored.data).unwrap()["source"].clone();
    assert!(source.as_str().is_some_and(|s| s.starts_with("enc:v1:")), "sealed: {source}");
    assert!(!stored.data.contains("s3cret"), "{}", stored.data);
}

// ---------------------------------------------------------------------------------------------------------
// RabbitMQ

mod rabbitmq {
    use super::*;
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions};
    use lapin::types::{AMQPValue, FieldTable};
    use lapin::BasicProperties;

    pub async fn channel() -> lapin::Channel {
        let conn = lapin::Connection::connect(&format!("amqp://guest:guest@{}/%2f", amqp_addr()), Default::default())
            .await
            .expect("RabbitMQ on this machine");
        let ch = conn.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
        ch
    }

    /// A fresh durable queue.
    pub async fn queue(ch: &lapin::Channel) -> String {
        let name = unique("hookd-source-");
        let opts = QueueDeclareOptions { durable: true, ..Default::default() };
        ch.queue_declare(name.as_str().into(), opts, FieldTable::default()).await.unwrap();
        name
    }

    pub async fn delete(ch: &lapin::Channel, queue: &str) {
        let _ = ch.queue_delete(queue.into(), QueueDeleteOptions::default()).await;
    }

    /// Publishes (persistent, confirmed) with a message id, an optional `type` property and headers.
    pub async fn publish(
        ch: &lapin::Channel,
        queue: &str,
        id: &str,
        kind: Option<&str>,
        headers: &[(&str, &str)],
        body: Value,
    ) {
        let mut table = FieldTable::default();
        for (k, v) in headers {
            table.insert((*k).into(), AMQPValue::LongString((*v).into()));
        }
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(id.into())
            .with_headers(table);
        if let Some(k) = kind {
            props = props.with_type(k.into());
        }
        let body = body.to_string();
        ch.basic_publish("".into(), queue.into(), BasicPublishOptions::default(), body.as_bytes(), props)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    pub fn config(hostport: &str, queue: &str) -> Value {
        json!({"uri": format!("amqp://guest:guest@{hostport}/%2f"), "queue": queue, "eventTypePath": "kind"})
    }

    #[tokio::test]
    async fn messages_arrive_at_the_application_with_their_event_type() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let ch = channel().await;
        let queue = queue(&ch).await;
        // Published before the source exists: the queue keeps them.
        publish(&ch, &queue, "m-1", None, &[("hookd-event-type", "order.created")], json!({"order": 1})).await;
        let id = register(&app, "rabbitMq", &app_id, config(&amqp_addr(), &queue)).await;
        publish(&ch, &queue, "m-2", None, &[], json!({"kind": "invoice.paid", "amount": 42})).await;
        publish(&ch, &queue, "m-3", Some("user.deleted"), &[], json!({"user": 7})).await;
        publish(&ch, &queue, "m-4", None, &[], json!("plain")).await;
        let ids: Vec<String> = (1..=4).map(|i| format!("m-{i}")).collect();
        let got = wait_for_ids(&receiver, &ids, WAIT).await;
        let types: Vec<&str> = ids.iter().map(|i| got[i]["eventType"].as_str().unwrap()).collect();
        assert_eq!(types, ["order.created", "invoice.paid", "user.deleted", "message"]);
        assert_eq!(got["m-2"]["data"], json!({"kind": "invoice.paid", "amount": 42}));
        assert_eq!(got["m-4"]["data"], "plain");
        assert_eq!(got["m-1"]["providerId"], "rabbitMq");
        assert_eq!(got["m-1"]["registrationId"], id);

        // The same message id again (a redelivery after a lost ack): kept once, forwarded once.
        publish(&ch, &queue, "m-1", None, &[("hookd-event-type", "order.created")], json!({"order": 1})).await;
        publish(&ch, &queue, "m-5", None, &[], json!({"kind": "last"})).await;
        wait_for_ids(&receiver, &["m-5".to_string()], WAIT).await;
        let c = eventually("the consumer's count", || async {
            let c = consumer(&app, &id).await;
            (c["consumed"] == 6).then_some(c)
        })
        .await;
        assert_eq!((c["running"].as_bool(), c["connected"].as_bool()), (Some(true), Some(true)), "{c}");
        assert_eq!(by_delivery_id(&receiver).len(), 5);
        // Health counts the consumed messages (the duplicate is not an event).
        let health = app.get(&format!("/webhooks/{id}/health")).await.body;
        assert_eq!((health["status"].as_str(), health["totalCount"].as_i64()), (Some("healthy"), Some(5)), "{health}");
        let events = app.get(&format!("/webhooks/{id}/events")).await.body;
        assert_eq!(events["data"].as_array().unwrap().len(), 5);
        // Stored events read back (and replay) with their data.
        let ev = events["data"][0]["id"].as_str().unwrap();
        let full = app.get(&format!("/webhooks/{id}/events/{ev}")).await.body;
        assert_eq!(full["event"]["data"], json!({"kind": "last"}), "{full}");
        assert_eq!(full["headers"]["content-type"], "application/json");

        // Inactive: the consumer stops, and what is published waits in the queue; active again, it arrives.
        let r = app.patch(&format!("/webhooks/{id}"), json!({"status": "inactive"})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        eventually("the consumer stopping", || async { (consumer(&app, &id).await["running"] == false).then_some(()) })
            .await;
        publish(&ch, &queue, "m-6", None, &[], json!({"kind": "while.off"})).await;
        app.patch(&format!("/webhooks/{id}"), json!({"status": "active"})).await;
        let got = wait_for_ids(&receiver, &["m-6".to_string()], WAIT).await;
        assert_eq!(got["m-6"]["eventType"], "while.off");

        // A change of config restarts the consumer on the new queue; a delete stops it.
        let other = super::rabbitmq::queue(&ch).await;
        let r = app.patch(&format!("/webhooks/{id}"), json!({"config": config(&amqp_addr(), &other)})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        publish(&ch, &other, "m-7", None, &[], json!({"kind": "moved"})).await;
        wait_for_ids(&receiver, &["m-7".to_string()], WAIT).await;
        assert_eq!(app.delete(&format!("/webhooks/{id}")).await.status, 204);
        let gone = app.ctx.parts.get::<hookd::inbound::queues::QueueSources>();
        eventually("the consumer gone", || async { (!gone.runs(&id)).then_some(()) }).await;
        delete(&ch, &queue).await;
        delete(&ch, &other).await;
    }

    #[tokio::test]
    async fn a_message_whose_commit_fails_is_not_acked_and_comes_again() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let ch = channel().await;
        let queue = queue(&ch).await;
        poison_commits(&app, true).await;
        let id = register(&app, "rabbitMq", &app_id, config(&amqp_addr(), &queue)).await;
        publish(&ch, &queue, "poison-1", None, &[("x-test", "poison")], json!({"kind": "poisoned"})).await;
        publish(&ch, &queue, "fine-1", None, &[], json!({"kind": "fine"})).await;
        wait_for_ids(&receiver, &["fine-1".to_string()], WAIT).await;
        // Given back, and delivered again, more than once.
        eventually("the failed message coming back", || async {
            (consumer(&app, &id).await["returned"].as_u64() >= Some(2)).then_some(())
        })
        .await;
        assert!(!by_delivery_id(&receiver).contains_key("poison-1"));
        // Once the store commits again, it is taken: it was never acknowledged, so never lost.
        poison_commits(&app, false).await;
        let got = wait_for_ids(&receiver, &["poison-1".to_string()], WAIT).await;
        assert_eq!(got["poison-1"]["eventType"], "poisoned");
        delete(&ch, &queue).await;
    }

    #[tokio::test]
    async fn a_broken_connection_resumes_without_loss() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let ch = channel().await;
        let queue = queue(&ch).await;
        let proxy = Proxy::to(amqp_addr()).await;
        let id = register(&app, "rabbitMq", &app_id, config(&format!("127.0.0.1:{}", proxy.port), &queue)).await;
        let mut ids = vec![];
        let send = |ids: &mut Vec<String>, n: std::ops::Range<usize>| {
            let new: Vec<String> = n.map(|i| format!("r-{i:03}")).collect();
            ids.extend(new.clone());
            new
        };
        for m in send(&mut ids, 0..20) {
            publish(&ch, &queue, &m, None, &[], json!({"kind": "before"})).await;
        }
        wait_for_ids(&receiver, &ids, WAIT).await;
        // The broker goes away (as seen through the proxy); messages published meanwhile wait in the queue.
        proxy.set_down(true);
        eventually("the consumer seeing the break", || async {
            (consumer(&app, &id).await["connected"] == false).then_some(())
        })
        .await;
        for m in send(&mut ids, 20..60) {
            publish(&ch, &queue, &m, None, &[], json!({"kind": "during"})).await;
        }
        proxy.set_down(false);
        wait_for_ids(&receiver, &ids, Duration::from_secs(40)).await;
        // A plain cut mid-stream.
        for m in send(&mut ids, 60..100) {
            publish(&ch, &queue, &m, None, &[], json!({"kind": "cut"})).await;
        }
        proxy.cut();
        let got = wait_for_ids(&receiver, &ids, Duration::from_secs(40)).await;
        assert_eq!(got.len(), 100);
        // And connected again, with nothing given back.
        let c = eventually("the consumer connected again", || async {
            let c = consumer(&app, &id).await;
            (c["connected"] == true).then_some(c)
        })
        .await;
        // (A message whose ack the cut lost comes again and is counted again, as a duplicate.)
        assert!(c["consumed"].as_u64() >= Some(100) && c["returned"] == 0, "{c}");
        delete(&ch, &queue).await;
    }

    /// Two nodes on one PostgreSQL database: one consumes the source at a time; when it stops, the other takes the
    /// source over and what was published meanwhile arrives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_node_at_a_time_consumes_and_another_takes_over() {
        if !on_postgres() {
            return; // An embedded store is served by one process.
        }
        let first = spawn_app().await;
        let url = first.ctx.cfg.database_url.clone();
        let second = spawn_app_with(|c| c.database_url = url).await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&first, &receiver).await;
        let ch = channel().await;
        let queue = queue(&ch).await;
        let id = register(&first, "rabbitMq", &app_id, config(&amqp_addr(), &queue)).await;
        let runs = |app: &TestApp| app.ctx.parts.get::<hookd::inbound::queues::QueueSources>().runs(&id);
        eventually("one node consuming", || async { (runs(&first) || runs(&second)).then_some(()) }).await;
        for i in 0..10 {
            publish(&ch, &queue, &format!("t-{i}"), None, &[], json!({"kind": "first"})).await;
            assert!(!(runs(&first) && runs(&second)), "never both");
        }
        let ids: Vec<String> = (0..10).map(|i| format!("t-{i}")).collect();
        wait_for_ids(&receiver, &ids, WAIT).await;
        // The node consuming stops (gracefully: it gives its lease back); the other takes over.
        let (stopping, staying) = if runs(&first) { (first, second) } else { (second, first) };
        drop(stopping);
        eventually_within("the other node taking over", Duration::from_secs(40), || async {
            runs(&staying).then_some(())
        })
        .await;
        let more: Vec<String> = (10..20).map(|i| format!("t-{i}")).collect();
        for m in &more {
            publish(&ch, &queue, m, None, &[], json!({"kind": "second"})).await;
        }
        let got = wait_for_ids(&receiver, &more, WAIT).await;
        assert_eq!(got.len(), 20);
        delete(&ch, &queue).await;
    }

    /// `bench/queue_sources.sh`: messages/s from a RabbitMQ queue into the engine (committed as inbound events and
    /// forwarded to an application without endpoints) beside GitHub-signed HTTP ingest of the same count into the
    /// same server, in one run.
    #[tokio::test(flavor = "multi_thread")]
    #[ignore]
    async fn bench_rabbitmq_source_against_http_ingest() {
        let n: usize = std::env::var("HOOKD_BENCH_QUEUE_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
        let app = spawn_app_with(|c| c.inbound_rate_per_minute = 100_000_000).await;
        let r = app.post("/api/v1/app", json!({"name": "bench"})).await;
        let app_id = r.body["id"].as_str().unwrap().to_string();
        let ch = channel().await;
        let queue = queue(&ch).await;
        let body = json!({"kind": "bench.event", "payload": "x".repeat(200)});
        let publish_started = Instant::now();
        for i in 0..n {
            let props = BasicProperties::default().with_delivery_mode(2).with_message_id(format!("b-{i}").into());
            ch.basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                body.to_string().as_bytes(),
                props,
            )
            .await
            .unwrap();
        }
        ch.wait_for_confirms().await.unwrap();
        eprintln!("published {n} in {:.1} s", publish_started.elapsed().as_secs_f64());
        let started = Instant::now();
        let id = register(&app, "rabbitMq", &app_id, config(&amqp_addr(), &queue)).await;
        eventually_within("the queue drained into the store", Duration::from_secs(600), || async {
            (consumer(&app, &id).await["consumed"].as_u64() >= Some(n as u64)).then_some(())
        })
        .await;
        let queue_secs = started.elapsed().as_secs_f64();
        delete(&ch, &queue).await;

        // HTTP ingest of as many GitHub-signed requests, 32 at a time.
        let secret = "bench-secret-0123456789";
        let r = app
            .post(
                "/integrations/github/webhooks",
                json!({"connectionId": "b", "events": ["*"], "destination": {"appId": app_id}, "webhookSecret": secret}),
            )
            .await;
        let url = r.body["webhookUrl"].as_str().unwrap().to_string();
        let started = Instant::now();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers: Vec<_> = (0..32)
            .map(|_| {
                let (http, url, next, body) = (app.http.clone(), url.clone(), next.clone(), body.to_string());
                tokio::spawn(async move {
                    use hmac::Mac;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                        mac.update(body.as_bytes());
                        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                        let r = http
                            .post(&url)
                            .header("x-github-event", "push")
                            .header("x-github-delivery", format!("d-{i}"))
                            .header("x-hub-signature-256", sig)
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 200);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let http_secs = started.elapsed().as_secs_f64();
        let (q, h) = (n as f64 / queue_secs, n as f64 / http_secs);
        let store = if on_postgres() { "PostgreSQL" } else { "SQLite" };
        println!("| store | messages | RabbitMQ source msg/s | HTTP ingest req/s | ratio |");
        println!("|---|--:|--:|--:|--:|");
        println!("| {store} | {n} | {q:.0} | {h:.0} | {:.2}× |", q / h);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Redis Streams

mod redis_streams {
    use super::*;

    async fn conn() -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(format!("redis://{}", redis_addr())).unwrap();
        client.get_multiplexed_async_connection().await.expect("Redis on this machine")
    }

    /// Adds an entry; returns its id.
    async fn add(c: &mut redis::aio::MultiplexedConnection, stream: &str, fields: &[(&str, &str)]) -> String {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(stream).arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(*v);
        }
        cmd.query_async(c).await.unwrap()
    }

    /// How many entries the group holds read and not acknowledged.
    async fn pending(c: &mut redis::aio::MultiplexedConnection, stream: &str) -> i64 {
        let v: redis::Value = redis::cmd("XPENDING").arg(stream).arg("hookd-test").query_async(c).await.unwrap();
        match v {
            redis::Value::Array(a) => match a.first() {
                Some(redis::Value::Int(n)) => *n,
                _ => -1,
            },
            _ => -1,
        }
    }

    fn config(hostport: &str, stream: &str) -> Value {
        json!({"url": format!("redis://{hostport}"), "stream": stream, "group": "hookd-test", "eventTypePath": "kind"})
    }

    async fn cleanup(c: &mut redis::aio::MultiplexedConnection, stream: &str) {
        let _: Result<i64, _> = redis::cmd("DEL").arg(stream).query_async(c).await;
    }

    #[tokio::test]
    async fn entries_arrive_at_the_application_with_their_event_type() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let mut c = conn().await;
        let stream = unique("hookd-source-");
        // Added before the source exists: the group starts at the stream's beginning.
        let first =
            add(&mut c, &stream, &[("hookd-event-type", "order.created"), ("payload", r#"{"order": 1}"#)]).await;
        let id = register(&app, "redis", &app_id, config(&redis_addr(), &stream)).await;
        let second = add(&mut c, &stream, &[("payload", r#"{"kind": "invoice.paid"}"#)]).await;
        let got = wait_for_ids(&receiver, &[first.clone(), second.clone()], WAIT).await;
        assert_eq!(got[&first]["eventType"], "order.created");
        assert_eq!(got[&first]["data"], json!({"order": 1}));
        assert_eq!(got[&second]["eventType"], "invoice.paid");
        // Acknowledged in the group once committed.
        eventually("the entries acknowledged", || {
            let mut c = c.clone();
            let stream = stream.clone();
            async move { (pending(&mut c, &stream).await == 0).then_some(()) }
        })
        .await;
        assert_eq!(consumer(&app, &id).await["consumed"], 2);
        cleanup(&mut c, &stream).await;
    }

    /// The Svix Ingest API takes the queue kinds as source types (hookd's own): the source consumes its stream
    /// into its ingest endpoints, has no ingest URL to rotate, and stops consuming when deleted.
    #[tokio::test]
    async fn an_ingest_source_of_a_queue_kind_consumes_into_its_ingest_endpoints() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let mut c = conn().await;
        let stream = unique("hookd-ingest-");
        // Listed beside the providers, with what its config takes.
        let list = app.get("/integrations").await;
        let redis = list.body["data"].as_array().unwrap().iter().find(|p| p["name"] == "redis").cloned().unwrap();
        assert_eq!(
            (redis["family"].as_str(), redis["config"].clone()),
            (Some("queue"), json!(["url", "stream", "group"]))
        );
        let bad = app
            .post("/ingest/api/v1/source", json!({"name": "orders", "type": "redis", "config": {"url": "redis://x"}}))
            .await;
        assert_eq!(bad.status, 422, "{:?}", bad.body);
        assert_eq!(bad.body["detail"][0]["loc"], json!(["body", "config", "stream"]), "{:?}", bad.body);

        let made = app
            .post(
                "/ingest/api/v1/source",
                json!({"name": "orders", "type": "redis", "config": config(&redis_addr(), &stream)}),
            )
            .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        let src = made.body["id"].as_str().unwrap().to_string();
        assert_eq!(made.body["type"], "redis");
        assert_eq!(made.body["ingestUrl"], Value::Null, "a queue source has no URL");
        assert_eq!(made.body["config"]["stream"], stream.as_str());
        let ep = app.post(&format!("/ingest/api/v1/source/{src}/endpoint"), json!({"url": receiver.url})).await;
        assert_eq!(ep.status, 201, "{:?}", ep.body);

        let first = add(&mut c, &stream, &[("payload", r#"{"kind": "order.created", "order": 7}"#)]).await;
        let got = wait_for_ids(&receiver, std::slice::from_ref(&first), WAIT).await;
        assert_eq!(got[&first]["eventType"], "order.created");
        assert_eq!(got[&first]["data"]["order"], 7);
        // Signed as any ingest endpoint's delivery.
        let delivered = &receiver.received()[0];
        let signature = [delivered.header("svix-signature"), delivered.header("webhook-signature")].concat();
        assert!(signature.starts_with("v1,"), "{signature:?}");

        let rotate = app.post(&format!("/ingest/api/v1/source/{src}/token/rotate"), json!({})).await;
        assert_eq!(rotate.status, 400, "{:?}", rotate.body);
        assert!(rotate.body["detail"].as_str().unwrap().contains("no ingest URL"), "{:?}", rotate.body);

        // Its registration is there with its consumer; deleting the source takes both away.
        let regs = app.get("/webhooks").await;
        let reg =
            regs.body["webhooks"].as_array().unwrap().iter().find(|w| w["ingestSourceId"] == src.as_str()).cloned();
        let reg_id = reg.expect("the source's registration")["id"].as_str().unwrap().to_string();
        eventually("the consumer counted the entry", || async {
            (consumer(&app, &reg_id).await["consumed"] == 1).then_some(())
        })
        .await;
        assert_eq!(app.delete(&format!("/ingest/api/v1/source/{src}")).await.status, 204);
        assert_eq!(app.get(&format!("/webhooks/{reg_id}")).await.status, 404);
        cleanup(&mut c, &stream).await;
    }

    #[tokio::test]
    async fn an_entry_whose_commit_fails_stays_pending_and_comes_again() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let mut c = conn().await;
        let stream = unique("hookd-source-");
        poison_commits(&app, true).await;
        let id = register(&app, "redis", &app_id, config(&redis_addr(), &stream)).await;
        let bad = add(&mut c, &stream, &[("x-test", "poison"), ("payload", r#"{"kind": "poisoned"}"#)]).await;
        let fine = add(&mut c, &stream, &[("payload", r#"{"kind": "fine"}"#)]).await;
        wait_for_ids(&receiver, std::slice::from_ref(&fine), WAIT).await;
        eventually("the failed entry read again", || async {
            (consumer(&app, &id).await["returned"].as_u64() >= Some(2)).then_some(())
        })
        .await;
        assert_eq!(pending(&mut c, &stream).await, 1, "the failed entry is still pending in the group");
        assert!(!by_delivery_id(&receiver).contains_key(&bad));
        poison_commits(&app, false).await;
        let got = wait_for_ids(&receiver, std::slice::from_ref(&bad), WAIT).await;
        assert_eq!(got[&bad]["eventType"], "poisoned");
        eventually("nothing pending", || {
            let mut c = c.clone();
            let stream = stream.clone();
            async move { (pending(&mut c, &stream).await == 0).then_some(()) }
        })
        .await;
        cleanup(&mut c, &stream).await;
    }

    #[tokio::test]
    async fn a_broken_connection_resumes_without_loss() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let mut c = conn().await;
        let stream = unique("hookd-source-");
        let proxy = Proxy::to(redis_addr()).await;
        let id = register(&app, "redis", &app_id, config(&format!("127.0.0.1:{}", proxy.port), &stream)).await;
        let mut ids = vec![];
        for _ in 0..20 {
            ids.push(add(&mut c, &stream, &[("payload", r#"{"kind": "before"}"#)]).await);
        }
        wait_for_ids(&receiver, &ids, WAIT).await;
        proxy.set_down(true);
        eventually("the consumer seeing the break", || async {
            (consumer(&app, &id).await["connected"] == false).then_some(())
        })
        .await;
        for _ in 0..40 {
            ids.push(add(&mut c, &stream, &[("payload", r#"{"kind": "during"}"#)]).await);
        }
        proxy.set_down(false);
        wait_for_ids(&receiver, &ids, Duration::from_secs(40)).await;
        for _ in 0..40 {
            ids.push(add(&mut c, &stream, &[("payload", r#"{"kind": "cut"}"#)]).await);
        }
        proxy.cut();
        let got = wait_for_ids(&receiver, &ids, Duration::from_secs(40)).await;
        assert_eq!(got.len(), 100);
        let unique_ids: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique_ids.len(), 100);
        cleanup(&mut c, &stream).await;
    }
}

// ---------------------------------------------------------------------------------------------------------
// NATS JetStream

fn nats_addr() -> String {
    addr("HOOKD_TEST_NATS", "127.0.0.1:4222")
}

mod nats {
    use super::*;
    use async_nats::jetstream;

    /// A JetStream context and a fresh stream capturing `hookd.source.<name>`; returns (context, name, subject).
    async fn stream() -> (jetstream::Context, String, String) {
        let client = async_nats::connect(nats_addr()).await.expect("NATS at HOOKD_TEST_NATS (127.0.0.1:4222)");
        let js = jetstream::new(client);
        let name = unique("HOOKD_SOURCE_");
        let subject = format!("hookd.source.{name}");
        let cfg =
            jetstream::stream::Config { name: name.clone(), subjects: vec![subject.clone()], ..Default::default() };
        js.create_stream(cfg).await.unwrap();
        (js, name, subject)
    }

    /// Publishes (acked by the stream) with a `Nats-Msg-Id` and headers.
    async fn publish(js: &jetstream::Context, subject: &str, id: &str, headers: &[(&str, &str)], body: Value) {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", id);
        for (k, v) in headers {
            h.insert(*k, *v);
        }
        js.publish_with_headers(subject.to_string(), h, body.to_string().into()).await.unwrap().await.unwrap();
    }

    fn config(hostport: &str, stream: &str) -> Value {
        json!({"url": format!("nats://{hostport}"), "stream": stream, "consumer": "hookd-test", "eventTypePath": "kind"})
    }

    #[tokio::test]
    async fn messages_arrive_at_the_application_with_their_event_type() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let (js, name, subject) = stream().await;
        publish(&js, &subject, "n-1", &[("hookd-event-type", "order.created")], json!({"order": 1})).await;
        let id = register(&app, "nats", &app_id, config(&nats_addr(), &name)).await;
        publish(&js, &subject, "n-2", &[], json!({"kind": "invoice.paid"})).await;
        let got = wait_for_ids(&receiver, &["n-1".to_string(), "n-2".to_string()], WAIT).await;
        assert_eq!(got["n-1"]["eventType"], "order.created");
        assert_eq!(got["n-2"]["eventType"], "invoice.paid");
        assert_eq!(got["n-1"]["data"], json!({"order": 1}));
        eventually("the consumer's count", || async { (consumer(&app, &id).await["consumed"] == 2).then_some(()) })
            .await;
        // Acknowledged: nothing pending at the server.
        let mut s = js.get_stream(&name).await.unwrap();
        let mut c: jetstream::consumer::PullConsumer = s.get_consumer("hookd-test").await.unwrap();
        let info = c.info().await.unwrap();
        assert_eq!((info.num_ack_pending, info.num_pending), (0, 0), "{info:?}");
        let _ = s.info().await;
        js.delete_stream(&name).await.unwrap();
    }

    #[tokio::test]
    async fn a_message_whose_commit_fails_is_refused_and_comes_again() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let (js, name, subject) = stream().await;
        poison_commits(&app, true).await;
        let id = register(&app, "nats", &app_id, config(&nats_addr(), &name)).await;
        publish(&js, &subject, "poison-1", &[("x-test", "poison")], json!({"kind": "poisoned"})).await;
        publish(&js, &subject, "fine-1", &[], json!({"kind": "fine"})).await;
        wait_for_ids(&receiver, &["fine-1".to_string()], WAIT).await;
        eventually("the failed message coming back", || async {
            (consumer(&app, &id).await["returned"].as_u64() >= Some(2)).then_some(())
        })
        .await;
        assert!(!by_delivery_id(&receiver).contains_key("poison-1"));
        poison_commits(&app, false).await;
        let got = wait_for_ids(&receiver, &["poison-1".to_string()], WAIT).await;
        assert_eq!(got["poison-1"]["eventType"], "poisoned");
        js.delete_stream(&name).await.unwrap();
    }

    #[tokio::test]
    async fn a_broken_connection_resumes_without_loss() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let (js, name, subject) = stream().await;
        let proxy = Proxy::to(nats_addr()).await;
        let id = register(&app, "nats", &app_id, config(&format!("127.0.0.1:{}", proxy.port), &name)).await;
        let mut ids = vec![];
        for i in 0..20 {
            ids.push(format!("b-{i:03}"));
            publish(&js, &subject, &ids[i], &[], json!({"kind": "before"})).await;
        }
        wait_for_ids(&receiver, &ids, WAIT).await;
        proxy.set_down(true);
        eventually_within("the consumer seeing the break", Duration::from_secs(40), || async {
            (consumer(&app, &id).await["connected"] == false).then_some(())
        })
        .await;
        for i in 20..60 {
            ids.push(format!("b-{i:03}"));
            publish(&js, &subject, &ids[i], &[], json!({"kind": "during"})).await;
        }
        proxy.set_down(false);
        wait_for_ids(&receiver, &ids, Duration::from_secs(40)).await;
        for i in 60..100 {
            ids.push(format!("b-{i:03}"));
            publish(&js, &subject, &ids[i], &[], json!({"kind": "cut"})).await;
        }
        proxy.cut();
        let got = wait_for_ids(&receiver, &ids, Duration::from_secs(60)).await;
        assert_eq!(got.len(), 100);
        js.delete_stream(&name).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------
// MQTT (Mosquitto)

fn mqtt_addr() -> String {
    addr("HOOKD_TEST_MQTT", "127.0.0.1:1883")
}

mod mqtt {
    use super::*;
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

    /// Publishes each body at QoS 1 and waits for every PUBACK.
    async fn publish(topic: &str, bodies: &[Value]) {
        let (host, port) = mqtt_addr().rsplit_once(':').map(|(h, p)| (h.to_string(), p.parse().unwrap())).unwrap();
        let (client, mut events) = AsyncClient::new(MqttOptions::new(unique("hookd-test-pub-"), host, port), 1000);
        for b in bodies {
            client.publish(topic, QoS::AtLeastOnce, false, b.to_string()).await.unwrap();
        }
        let mut acked = 0;
        tokio::time::timeout(WAIT, async {
            while acked < bodies.len() {
                if let Event::Incoming(Packet::PubAck(_)) = events.poll().await.expect("the broker") {
                    acked += 1;
                }
            }
        })
        .await
        .expect("every publish acknowledged");
        let _ = client.disconnect().await;
    }

    fn config(hostport: &str, topic: &str) -> Value {
        json!({"url": format!("mqtt://{hostport}"), "topic": topic, "eventTypePath": "kind", "idPath": "id",
               "clientId": unique("hookd-test-source-")})
    }

    fn bodies(prefix: &str, n: std::ops::Range<usize>, kind: &str) -> (Vec<String>, Vec<Value>) {
        let ids: Vec<String> = n.map(|i| format!("{prefix}-{i:03}")).collect();
        let bodies = ids.iter().map(|id| json!({"id": id, "kind": kind})).collect();
        (ids, bodies)
    }

    async fn connected(app: &TestApp, id: &str) {
        eventually("the consumer subscribed", || async {
            (consumer(app, id).await["connected"] == true).then_some(())
        })
        .await;
    }

    #[tokio::test]
    async fn messages_arrive_at_the_application_with_their_event_type() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let base = unique("hookd/source/");
        let id = register(&app, "mqtt", &app_id, config(&mqtt_addr(), &format!("{base}/#"))).await;
        connected(&app, &id).await;
        publish(&format!("{base}/orders"), &[json!({"id": "q-1", "kind": "order.created", "n": 1})]).await;
        publish(&format!("{base}/users"), &[json!({"id": "q-2", "n": 2})]).await;
        let got = wait_for_ids(&receiver, &["q-1".to_string(), "q-2".to_string()], WAIT).await;
        assert_eq!(got["q-1"]["eventType"], "order.created");
        assert_eq!(got["q-2"]["eventType"], "message");
        assert_eq!(got["q-1"]["data"], json!({"id": "q-1", "kind": "order.created", "n": 1}));
        let events = app.get(&format!("/webhooks/{id}/events")).await.body;
        let ev = events["data"][0]["id"].as_str().unwrap();
        let full = app.get(&format!("/webhooks/{id}/events/{ev}")).await.body;
        assert_eq!(full["headers"]["mqtt-topic"], format!("{base}/users"), "{full}");
    }

    #[tokio::test]
    async fn a_message_whose_commit_fails_is_not_acked_and_comes_again() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let topic = unique("hookd/source/");
        // MQTT has no headers: poison by the body, whose id is the delivery id.
        poison_by_delivery_id(&app, true).await;
        let id = register(&app, "mqtt", &app_id, config(&mqtt_addr(), &topic)).await;
        connected(&app, &id).await;
        publish(&topic, &[json!({"id": "poison-1", "kind": "poisoned"})]).await;
        eventually("the failed message coming back", || async {
            (consumer(&app, &id).await["returned"].as_u64() >= Some(2)).then_some(())
        })
        .await;
        assert!(!by_delivery_id(&receiver).contains_key("poison-1"));
        poison_by_delivery_id(&app, false).await;
        let got = wait_for_ids(&receiver, &["poison-1".to_string()], Duration::from_secs(40)).await;
        assert_eq!(got["poison-1"]["eventType"], "poisoned");
    }

    #[tokio::test]
    async fn a_broken_connection_resumes_without_loss() {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let topic = unique("hookd/source/");
        let proxy = Proxy::to(mqtt_addr()).await;
        let id = register(&app, "mqtt", &app_id, config(&format!("127.0.0.1:{}", proxy.port), &topic)).await;
        connected(&app, &id).await;
        let (mut ids, b) = bodies("m", 0..20, "before");
        publish(&topic, &b).await;
        wait_for_ids(&receiver, &ids, WAIT).await;
        proxy.set_down(true);
        eventually_within("the consumer seeing the break", Duration::from_secs(40), || async {
            (consumer(&app, &id).await["connected"] == false).then_some(())
        })
        .await;
        // Queued by the broker for the session while the consumer is away.
        let (more, b) = bodies("m", 20..60, "during");
        publish(&topic, &b).await;
        ids.extend(more);
        proxy.set_down(false);
        wait_for_ids(&receiver, &ids, Duration::from_secs(40)).await;
        let (more, b) = bodies("m", 60..100, "cut");
        publish(&topic, &b).await;
        ids.extend(more);
        proxy.cut();
        let got = wait_for_ids(&receiver, &ids, Duration::from_secs(60)).await;
        assert_eq!(got.len(), 100);
    }
}

/// As [`poison_commits`], for events whose delivery id starts with `poison` (MQTT carries no headers).
async fn poison_by_delivery_id(app: &TestApp, on: bool) {
    let url = app.ctx.cfg.database_url.clone();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let db = rusqlite::Connection::open(path).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let sql = if on {
            "CREATE TRIGGER poison_id BEFORE INSERT ON inbound_events WHEN NEW.delivery_id LIKE 'poison%'
             BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END"
        } else {
            "DROP TRIGGER poison_id"
        };
        db.execute_batch(sql).unwrap();
    } else {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let sql = if on {
            "CREATE FUNCTION poison_id() RETURNS trigger AS $$ BEGIN
                 IF NEW.delivery_id LIKE 'poison%' THEN RAISE EXCEPTION 'poisoned by the test'; END IF;
                 RETURN NEW;
             END $$ LANGUAGE plpgsql;
             CREATE TRIGGER poison_id BEFORE INSERT ON inbound_events FOR EACH ROW EXECUTE FUNCTION poison_id();"
        } else {
            "DROP TRIGGER poison_id ON inbound_events; DROP FUNCTION poison_id();"
        };
        client.batch_execute(sql).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------
// SQS (moto's server)

mod sqs {
    use super::*;
    use common::moto::Moto;

    /// Sends a message with string attributes; returns its `MessageId`.
    async fn send(moto: &Moto, queue_url: &str, attrs: &[(&str, &str)], body: Value) -> String {
        let attrs: serde_json::Map<String, Value> =
            attrs.iter().map(|(k, v)| (k.to_string(), json!({"DataType": "String", "StringValue": v}))).collect();
        let out = moto
            .call(
                "SendMessage",
                json!({"QueueUrl": queue_url, "MessageBody": body.to_string(), "MessageAttributes": attrs}),
            )
            .await;
        out["MessageId"].as_str().unwrap().to_string()
    }

    fn config(moto: &Moto, queue_url: &str, endpoint: &str) -> Value {
        let mut c = moto.config(queue_url);
        c["endpointUrl"] = endpoint.into();
        c["eventTypePath"] = "kind".into();
        c
    }

    #[tokio::test]
    async fn messages_arrive_at_the_application_with_their_event_type() {
        let moto = Moto::start().await;
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let queue_url = moto.create_queue(&unique("hookd-source-")).await;
        let first = send(&moto, &queue_url, &[("hookd-event-type", "order.created")], json!({"order": 1})).await;
        let id = register(&app, "sqs", &app_id, config(&moto, &queue_url, &moto.base)).await;
        let second = send(&moto, &queue_url, &[], json!({"kind": "invoice.paid"})).await;
        let got = wait_for_ids(&receiver, &[first.clone(), second.clone()], WAIT).await;
        assert_eq!(got[&first]["eventType"], "order.created");
        assert_eq!(got[&first]["data"], json!({"order": 1}));
        assert_eq!(got[&second]["eventType"], "invoice.paid");
        eventually("the consumer's count", || async { (consumer(&app, &id).await["consumed"] == 2).then_some(()) })
            .await;
        // Deleted once committed: nothing left to receive.
        assert!(moto.drain(&queue_url).await.is_empty());
        let shown = app.get(&format!("/webhooks/{id}")).await.body;
        assert!(shown["config"].get("secretAccessKey").is_none(), "{shown}");
    }

    #[tokio::test]
    async fn a_message_whose_commit_fails_is_not_deleted_and_comes_again() {
        let moto = Moto::start().await;
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let queue_url = moto.create_queue(&unique("hookd-source-")).await;
        poison_commits(&app, true).await;
        let id = register(&app, "sqs", &app_id, config(&moto, &queue_url, &moto.base)).await;
        let bad = send(&moto, &queue_url, &[("x-test", "poison")], json!({"kind": "poisoned"})).await;
        let fine = send(&moto, &queue_url, &[], json!({"kind": "fine"})).await;
        wait_for_ids(&receiver, std::slice::from_ref(&fine), WAIT).await;
        eventually("the failed message coming back", || async {
            (consumer(&app, &id).await["returned"].as_u64() >= Some(2)).then_some(())
        })
        .await;
        assert!(!by_delivery_id(&receiver).contains_key(&bad));
        poison_commits(&app, false).await;
        let got = wait_for_ids(&receiver, std::slice::from_ref(&bad), WAIT).await;
        assert_eq!(got[&bad]["eventType"], "poisoned");
    }

    #[tokio::test]
    async fn a_broken_connection_resumes_without_loss() {
        let moto = Moto::start().await;
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let app_id = app_for(&app, &receiver).await;
        let queue_url = moto.create_queue(&unique("hookd-source-")).await;
        let proxy = Proxy::to(moto.base.trim_start_matches("http://").to_string()).await;
        let through = format!("http://127.0.0.1:{}", proxy.port);
        let id = register(&app, "sqs", &app_id, config(&moto, &queue_url, &through)).await;
        let mut ids = vec![];
        for _ in 0..20 {
            ids.push(send(&moto, &queue_url, &[], json!({"kind": "before"})).await);
        }
        wait_for_ids(&receiver, &ids, WAIT).await;
        proxy.set_down(true);
        eventually_within("the consumer seeing the break", Duration::from_secs(40), || async {
            (consumer(&app, &id).await["connected"] == false).then_some(())
        })
        .await;
        for _ in 0..40 {
            ids.push(send(&moto, &queue_url, &[], json!({"kind": "during"})).await);
        }
        proxy.set_down(false);
        wait_for_ids(&receiver, &ids, Duration::from_secs(40)).await;
        for _ in 0..40 {
            ids.push(send(&moto, &queue_url, &[], json!({"kind": "cut"})).await);
        }
        proxy.cut();
        let got = wait_for_ids(&receiver, &ids, Duration::from_secs(60)).await;
        assert_eq!(got.len(), 100);
    }
}
