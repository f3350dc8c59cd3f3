//! Destinations' sinks driven directly through `hookd::engine::sinks`, each against the real thing on this
//! machine: RabbitMQ (127.0.0.1:5672, guest/guest), PostgreSQL (5432), NATS JetStream (4222), Redis (6379),
//! Mosquitto (1883), moto's SQS server (started here on a free port) and an OTLP/HTTP receiver that decodes with
//! the OpenTelemetry project's own protobuf classes. A batch goes in and is read back, in order, with its msg ids;
//! a broken connection (a TCP proxy of the test's own, cut or refusing) fails `send` with a reason and the sink
//! works again once the way is back; a closed port fails, bounded, instead of hanging.
//!
//! The addresses can be moved with HOOKD_TEST_AMQP, HOOKD_TEST_PG, HOOKD_TEST_NATS, HOOKD_TEST_REDIS and
//! HOOKD_TEST_MQTT (`host:port`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::moto::Moto;
use common::proxy::Proxy;
use common::{eventually, eventually_within};
use hookd::engine::sinks::{self, Batch, Event, Sink};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// No send may take longer than this here: a hang is a failure.
const BOUND: Duration = Duration::from_secs(40);

fn addr(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

fn amqp_addr() -> String {
    addr("HOOKD_TEST_AMQP", "127.0.0.1:5672")
}
fn nats_addr() -> String {
    addr("HOOKD_TEST_NATS", "127.0.0.1:4222")
}
fn redis_addr() -> String {
    addr("HOOKD_TEST_REDIS", "127.0.0.1:6379")
}
fn mqtt_addr() -> String {
    addr("HOOKD_TEST_MQTT", "127.0.0.1:1883")
}
/// `HOOKD_TEST_PG` as the rest of the suite reads it: a URL without a database.
fn pg_url() -> String {
    addr("HOOKD_TEST_PG", "postgres://postgres@127.0.0.1:5432")
}
fn pg_hostport() -> String {
    let url = url::Url::parse(&pg_url()).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// `n` events of one application, positions 10, 20, …, each with a payload naming its index.
fn events(n: usize) -> Vec<Event> {
    let run = unique("");
    (0..n)
        .map(|i| Event {
            msg_id: format!("msg_{run}{i:04}"),
            event_id: (i % 2 == 0).then(|| format!("evt-{i}")),
            event_type: if i % 3 == 0 { "invoice.paid".into() } else { "user.created".into() },
            payload: Arc::from(
                serde_json::value::RawValue::from_string(json!({"i": i, "name": format!("n{i}")}).to_string()).unwrap(),
            ),
            channels: if i % 2 == 0 { vec!["eu".into(), "billing".into()] } else { vec![] },
            timestamp: 1_767_225_600_000 + i as i64 * 1000,
            position: (i as i64 + 1) * 10,
        })
        .collect()
}

fn batch(events: &[Event]) -> Batch<'_> {
    Batch { org_id: "org_test", app_id: "app_sinks", destination_id: "dest_sinks", events }
}

async fn send(sink: &Arc<dyn Sink>, events: &[Event]) -> Result<(), sinks::SinkError> {
    tokio::time::timeout(BOUND, sink.send(&batch(events))).await.expect("send returns within its bound")
}

async fn connect(kind: &str, config: Value) -> Arc<dyn Sink> {
    let cfg = sinks::parse(kind, &config).unwrap_or_else(|e| panic!("{kind} config: {e:?}"));
    tokio::time::timeout(BOUND, cfg.connect()).await.expect("connect returns").unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// The broker goes away behind the proxy: sends fail with a reason (none hangs); once it is back, a send
/// succeeds again on a fresh connection.
async fn survives_a_broker_restart(kind: &str, sink: &Arc<dyn Sink>, proxy: &Proxy) {
    send(sink, &events(3)).await.unwrap_or_else(|e| panic!("{kind} before the cut: {e}"));
    proxy.set_down(true);
    let err = eventually(&format!("{kind}: a send failing while the broker is away"), || async {
        send(sink, &events(2)).await.err()
    })
    .await;
    assert!(!err.reason.is_empty());
    proxy.set_down(false);
    eventually_within(&format!("{kind}: a send succeeding once the broker is back"), BOUND, || async {
        send(sink, &events(2)).await.ok()
    })
    .await;
    // And a plain cut, without a refusal in between.
    proxy.cut();
    eventually_within(&format!("{kind}: a send succeeding after a cut"), BOUND, || async {
        send(sink, &events(2)).await.ok()
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// Config parsing and redaction (no broker needed)

#[test]
fn configs_name_the_wrong_field() {
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("rabbitMq", json!({"routingKey": "q"}), vec!["uri"]),
        ("rabbitMq", json!({"uri": "http://h", "routingKey": "q"}), vec!["uri"]),
        ("rabbitMq", json!({"uri": "amqp//nohost", "routingKey": "q"}), vec!["uri"]),
        ("rabbitMq", json!({"uri": "amqp://h"}), vec!["routingKey"]),
        ("rabbitMq", json!({"uri": "amqp://h", "routingKey": 5}), vec!["routingKey"]),
        ("postgres", json!({"tableName": "t"}), vec!["url"]),
        ("postgres", json!({"url": "mysql://h/db", "tableName": "t"}), vec!["url"]),
        ("postgres", json!({"url": "postgres://h/db"}), vec!["tableName"]),
        ("postgres", json!({"url": "postgres://h/db", "tableName": "a.b.c"}), vec!["tableName"]),
        ("postgres", json!({"url": "postgres://h/db", "tableName": "a\"b"}), vec!["tableName"]),
        ("postgres", json!({"url": "postgres://h/db", "tableName": "t", "sslRootCert": "nope"}), vec!["sslRootCert"]),
        ("sqs", json!({"region": "us-east-1", "accessKeyId": "a", "secretAccessKey": "s"}), vec!["queueUrl"]),
        (
            "sqs",
            json!({"queueUrl": "http://localhost/1/q", "accessKeyId": "a", "secretAccessKey": "s"}),
            vec!["region"],
        ),
        (
            "sqs",
            json!({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "secretAccessKey": "s"}),
            vec!["accessKeyId"],
        ),
        (
            "sqs",
            json!({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "accessKeyId": "a"}),
            vec!["secretAccessKey"],
        ),
        (
            "sqs",
            json!({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "accessKeyId": "a", "secretAccessKey": "s", "endpointUrl": "ftp://x"}),
            vec!["endpointUrl"],
        ),
        (
            "sqs",
            json!({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "roleArn": "arn:aws:iam::1:role/r"}),
            vec!["roleArn"],
        ),
        ("otelTracing", json!({}), vec!["url"]),
        ("otelTracing", json!({"url": "grpc://h:4317"}), vec!["url"]),
        ("otelTracing", json!({"url": "http://h:4318", "headers": {"X-Key": 1}}), vec!["headers", "X-Key"]),
        ("otelTracing", json!({"url": "http://h:4318", "headers": {"bad name": "v"}}), vec!["headers", "bad name"]),
        ("nats", json!({"subject": "a"}), vec!["url"]),
        ("nats", json!({"url": "nats://h:4222", "subject": "a.*"}), vec!["subject"]),
        ("nats", json!({"url": "nats://h:4222"}), vec!["subject"]),
        ("redis", json!({"url": "redis://h"}), vec!["stream"]),
        ("redis", json!({"url": "memcached://h", "stream": "s"}), vec!["url"]),
        ("redis", json!({"url": "redis://h", "stream": "s", "maxLen": -1}), vec!["maxLen"]),
        ("redis", json!({"url": "redis://h", "stream": "s", "maxLen": 0}), vec!["maxLen"]),
        ("mqtt", json!({"url": "mqtt://h", "topic": "a/#"}), vec!["topic"]),
        ("mqtt", json!({"url": "mqtt://h", "topic": "a", "qos": 3}), vec!["qos"]),
        ("mqtt", json!({"url": "h:1883", "topic": "a"}), vec!["url"]),
    ];
    for (kind, config, field) in cases {
        let err = sinks::parse(kind, &config).expect_err(&format!("{kind} {config} is refused"));
        assert_eq!(err.field, field, "{kind} {config}: {}", err.message);
        assert!(!err.message.is_empty());
    }
    let err = sinks::parse("kafka", &json!({})).unwrap_err();
    assert!(err.field.is_empty() && err.message.contains("kafka"), "{err:?}");
    let err = sinks::parse("redis", &json!("redis://h")).unwrap_err();
    assert!(err.field.is_empty(), "{err:?}");
    for kind in sinks::KINDS {
        assert!(sinks::parse(kind, &json!({})).is_err(), "{kind} wants fields");
    }
}

#[test]
fn configs_tolerate_unknown_fields() {
    let ok: Vec<(&str, Value)> = vec![
        ("rabbitMq", json!({"uri": "amqp://guest:guest@h:5672/%2f", "routingKey": "q", "future": true})),
        ("postgres", json!({"url": "postgres://u@h:5432/db", "tableName": "public.events", "x": null})),
        (
            "sqs",
            json!({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "accessKeyId": "a", "secretAccessKey": "s", "x": 1}),
        ),
        ("otelTracing", json!({"url": "https://collector.example:4318", "y": []})),
        ("nats", json!({"url": "nats://h:4222", "subject": "hooks.out", "z": {}})),
        ("redis", json!({"url": "redis://h:6379/0", "stream": "hooks", "maxLen": 1000})),
        ("mqtt", json!({"url": "mqtt://h:1883", "topic": "hooks/out"})),
    ];
    for (kind, config) in ok {
        sinks::parse(kind, &config).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
    }
    // The region comes from an AWS queue URL when not given.
    let c = sinks::parse(
        "sqs",
        &json!({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "accessKeyId": "a", "secretAccessKey": "s"}),
    )
    .unwrap();
    assert_eq!(c.redacted()["region"], "eu-west-1");
    assert_eq!(c.hosts(), vec!["sqs.eu-west-1.amazonaws.com"]);
}

#[test]
fn redaction_masks_secrets_and_hosts_are_listed() {
    let cases: Vec<(&str, Value, Value, Vec<&str>)> = vec![
        (
            "rabbitMq",
            json!({"uri": "amqp://guest:s3cret@broker.example:5672/%2f", "routingKey": "q"}),
            json!({"uri": "amqp://guest:****@broker.example:5672/%2f", "routingKey": "q"}),
            vec!["broker.example"],
        ),
        (
            "postgres",
            json!({"url": "postgres://app:inline@db.example:5432/hooks", "password": "s3cret", "tableName": "public.events"}),
            json!({"url": "postgres://app:****@db.example:5432/hooks", "tableName": "public.events"}),
            vec!["db.example"],
        ),
        (
            "sqs",
            json!({"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "region": "us-east-1", "accessKeyId": "AKIA1", "secretAccessKey": "s3cret", "endpointUrl": "http://127.0.0.1:4566"}),
            json!({"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "region": "us-east-1", "accessKeyId": "AKIA1", "endpointUrl": "http://127.0.0.1:4566"}),
            vec!["127.0.0.1"],
        ),
        (
            "otelTracing",
            json!({"url": "https://otel.example:4318", "headers": {"Authorization": "Bearer s3cret", "X-Tenant": "t1"}}),
            json!({"url": "https://otel.example:4318", "headers": {"headers": {"X-Tenant": "t1"}, "sensitive": ["Authorization"]}}),
            vec!["otel.example"],
        ),
        (
            "nats",
            json!({"url": "nats://s3cret@[::1]:4222", "subject": "a.b"}),
            json!({"url": "nats://****@[::1]:4222", "subject": "a.b"}),
            vec!["::1"],
        ),
        (
            "redis",
            json!({"url": "redis://:s3cret@cache.example:6379/2", "stream": "s", "maxLen": 10}),
            json!({"url": "redis://:****@cache.example:6379/2", "stream": "s", "maxLen": 10}),
            vec!["cache.example"],
        ),
        (
            "mqtt",
            json!({"url": "mqtt://user:s3cret@mq.example:1883", "topic": "t"}),
            json!({"url": "mqtt://user:****@mq.example:1883", "topic": "t", "qos": 1}),
            vec!["mq.example"],
        ),
    ];
    for (kind, config, shown, hosts) in cases {
        let c = sinks::parse(kind, &config).unwrap();
        assert_eq!(c.redacted(), shown, "{kind}");
        assert!(!c.redacted().to_string().contains("s3cret"), "{kind}");
        assert!(!format!("{c:?}").contains("s3cret"), "{kind}: Debug shows no secret");
        assert_eq!(c.hosts(), hosts, "{kind}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Down brokers: an error with a reason, bounded

#[tokio::test]
async fn a_closed_port_fails_with_a_reason() {
    let port = closed_port().await;
    let configs: Vec<(&str, Value)> = vec![
        ("rabbitMq", json!({"uri": format!("amqp://guest:guest@127.0.0.1:{port}/%2f"), "routingKey": "q"})),
        ("postgres", json!({"url": format!("postgres://postgres@127.0.0.1:{port}/postgres"), "tableName": "t"})),
        ("nats", json!({"url": format!("nats://127.0.0.1:{port}"), "subject": "a"})),
        ("redis", json!({"url": format!("redis://127.0.0.1:{port}"), "stream": "s"})),
        ("mqtt", json!({"url": format!("mqtt://127.0.0.1:{port}"), "topic": "t"})),
    ];
    for (kind, config) in configs {
        let cfg = sinks::parse(kind, &config).unwrap();
        let started = std::time::Instant::now();
        let err = match tokio::time::timeout(BOUND, cfg.connect()).await.expect("connect returns") {
            Ok(_) => panic!("{kind}: connected to a closed port"),
            Err(e) => e,
        };
        assert!(started.elapsed() < Duration::from_secs(15), "{kind} took {:?}", started.elapsed());
        assert!(err.reason.contains("127.0.0.1"), "{kind}: {err}");
        assert!(!err.reason.contains("guest:guest"), "{kind}: {err}");
    }
    // The HTTP kinds connect lazily: their first send fails.
    for (kind, config) in [
        (
            "sqs",
            json!({"queueUrl": format!("http://127.0.0.1:{port}/1/q"), "region": "us-east-1", "accessKeyId": "a", "secretAccessKey": "s", "endpointUrl": format!("http://127.0.0.1:{port}")}),
        ),
        ("otelTracing", json!({"url": format!("http://127.0.0.1:{port}")})),
    ] {
        let sink = connect(kind, config).await;
        let err = send(&sink, &events(2)).await.expect_err("nothing listens");
        assert!(err.reason.contains("127.0.0.1") && err.reason.to_lowercase().contains("connect"), "{kind}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// RabbitMQ

#[cfg(feature = "sink-rabbitmq")]
mod rabbitmq {
    use super::*;
    use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
    use lapin::types::{AMQPValue, FieldTable};

    async fn channel() -> lapin::Channel {
        let conn = lapin::Connection::connect(&format!("amqp://guest:guest@{}/%2f", amqp_addr()), Default::default())
            .await
            .expect("RabbitMQ at HOOKD_TEST_AMQP (127.0.0.1:5672)");
        conn.create_channel().await.unwrap()
    }

    fn config(hostport: &str, queue: &str) -> Value {
        json!({"uri": format!("amqp://guest:guest@{hostport}/%2f"), "routingKey": queue})
    }

    #[tokio::test]
    async fn publishes_a_batch_in_order_with_confirms() {
        let ch = channel().await;
        let queue = unique("hookd-sink-");
        ch.queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
        let sink = connect("rabbitMq", config(&amqp_addr(), &queue)).await;
        let evs = events(50);
        send(&sink, &evs).await.unwrap();
        for e in &evs {
            let got = ch
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()
                .expect("a message for each event");
            let props = &got.delivery.properties;
            assert_eq!(props.message_id().as_ref().map(|s| s.as_str()), Some(e.msg_id.as_str()));
            assert_eq!(props.kind().as_ref().map(|s| s.as_str()), Some(e.event_type.as_str()));
            assert_eq!(*props.delivery_mode(), Some(2), "persistent");
            let headers = props.headers().as_ref().unwrap();
            let header = |k: &str| match headers.inner().iter().find(|(name, _)| name.as_str() == k) {
                Some((_, AMQPValue::LongString(s))) => Some(s.to_string()),
                _ => None,
            };
            assert_eq!(header("hookd-msg-id").as_deref(), Some(e.msg_id.as_str()));
            assert_eq!(header("hookd-app-id").as_deref(), Some("app_sinks"));
            assert_eq!(header("hookd-event-id"), e.event_id.clone());
            let body: Value = serde_json::from_slice(&got.delivery.data).unwrap();
            assert_eq!(body, serde_json::from_str::<Value>(e.payload.get()).unwrap());
        }
        assert!(ch.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap().is_none());
        ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await.unwrap();
    }

    #[tokio::test]
    async fn an_unroutable_message_fails_the_batch() {
        let sink = connect("rabbitMq", config(&amqp_addr(), &unique("hookd-no-such-queue-"))).await;
        let err = send(&sink, &events(3)).await.expect_err("no queue takes it");
        assert!(err.reason.contains("NO_ROUTE") && err.reason.contains("no queue named"), "{err}");
        assert!(!err.reason.contains("guest:guest"), "{err}");
    }

    #[tokio::test]
    async fn survives_the_connection_dropping() {
        let ch = channel().await;
        let queue = unique("hookd-sink-");
        ch.queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
        let proxy = Proxy::to(amqp_addr()).await;
        let sink = connect("rabbitMq", config(&format!("127.0.0.1:{}", proxy.port), &queue)).await;
        survives_a_broker_restart("rabbitMq", &sink, &proxy).await;
        ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL

mod postgres {
    use super::*;

    async fn client() -> tokio_postgres::Client {
        let url = format!("{}/postgres", pg_url().trim_end_matches('/'));
        let (client, conn) =
            tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("PostgreSQL at HOOKD_TEST_PG");
        tokio::spawn(conn);
        client
    }

    fn config(hostport: &str, table: &str) -> Value {
        json!({"url": format!("postgres://postgres@{hostport}/postgres"), "tableName": table})
    }

    #[tokio::test]
    async fn inserts_a_batch_once_in_a_table_it_creates() {
        let db = client().await;
        let table = unique("hookd_sink_");
        let sink = connect("postgres", config(&pg_hostport(), &format!("public.{table}"))).await;
        let evs = events(40);
        send(&sink, &evs).await.unwrap();
        // The same batch again (a retry after a lost commit answer): no duplicate row.
        send(&sink, &evs).await.unwrap();
        // And an overlapping one: only the new rows are added.
        let more = events(5);
        let mut overlap = evs[35..].to_vec();
        overlap.extend(more.iter().cloned());
        send(&sink, &overlap).await.unwrap();
        let rows = db
            .query(
                &format!(
                    "SELECT msg_id, event_type, event_id, payload::text, channels, app_id, position, \
                     (extract(epoch from created_at) * 1000)::bigint FROM public.\"{table}\" ORDER BY position, msg_id"
                ),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 45);
        let mut want: Vec<&Event> = evs.iter().chain(more.iter()).collect();
        want.sort_by(|a, b| (a.position, &a.msg_id).cmp(&(b.position, &b.msg_id)));
        for (row, e) in rows.iter().zip(want) {
            assert_eq!(row.get::<_, String>(0), e.msg_id);
            assert_eq!(row.get::<_, String>(1), e.event_type);
            assert_eq!(row.get::<_, Option<String>>(2), e.event_id);
            let payload: Value = serde_json::from_str(&row.get::<_, String>(3)).unwrap();
            assert_eq!(payload, serde_json::from_str::<Value>(e.payload.get()).unwrap());
            assert_eq!(row.get::<_, Vec<String>>(4), e.channels);
            assert_eq!(row.get::<_, String>(5), "app_sinks");
            assert_eq!(row.get::<_, i64>(6), e.position);
            assert_eq!(row.get::<_, i64>(7), e.timestamp);
        }
        db.batch_execute(&format!("DROP TABLE public.\"{table}\"")).await.unwrap();
    }

    #[tokio::test]
    async fn an_unqualified_mixed_case_table_name_is_quoted() {
        let db = client().await;
        let table = unique("Hookd Sink ");
        let sink = connect("postgres", config(&pg_hostport(), &table)).await;
        send(&sink, &events(3)).await.unwrap();
        let n: i64 = db.query_one(&format!("SELECT count(*) FROM \"{table}\""), &[]).await.unwrap().get(0);
        assert_eq!(n, 3);
        db.batch_execute(&format!("DROP TABLE \"{table}\"")).await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_insert_names_the_reason() {
        let db = client().await;
        let table = unique("hookd_sink_");
        // A table of the customer's own, of another shape.
        db.batch_execute(&format!("CREATE TABLE public.{table} (msg_id text PRIMARY KEY)")).await.unwrap();
        let sink = connect("postgres", config(&pg_hostport(), &format!("public.{table}"))).await;
        let err = send(&sink, &events(2)).await.expect_err("no such columns");
        assert!(err.reason.contains("does not exist") && err.reason.contains(&table), "{err}");
        db.batch_execute(&format!("DROP TABLE public.{table}")).await.unwrap();
    }

    /// The server's TLS certificate (Debian's self-signed `localhost` one on this machine), if TLS is on.
    async fn server_cert(db: &tokio_postgres::Client) -> Option<String> {
        let ssl: String = db.query_one("SHOW ssl", &[]).await.unwrap().get(0);
        let file: String = db.query_one("SHOW ssl_cert_file", &[]).await.unwrap().get(0);
        (ssl == "on").then(|| std::fs::read_to_string(file).ok()).flatten()
    }

    #[tokio::test]
    async fn tls_verifies_the_server_against_ssl_root_cert() {
        let db = client().await;
        let Some(pem) = server_cert(&db).await else {
            eprintln!("PostgreSQL has no TLS here: the TLS test is skipped");
            return;
        };
        let table = unique("hookd_sink_");
        // Without the root, the self-signed certificate is refused: verified, not merely encrypted.
        let cfg = sinks::parse(
            "postgres",
            &json!({"url": format!("postgres://postgres@{}/postgres?sslmode=require", pg_hostport()), "tableName": table}),
        )
        .unwrap();
        let err = match tokio::time::timeout(BOUND, cfg.connect()).await.unwrap() {
            Ok(_) => panic!("an unknown issuer was trusted"),
            Err(e) => e,
        };
        assert!(err.reason.to_lowercase().contains("certificate"), "{err}");
        // With it, and the name the certificate carries (`localhost`), rows go in over TLS.
        let port = pg_hostport().rsplit_once(':').unwrap().1.to_string();
        let sink = connect(
            "postgres",
            json!({"url": format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&application_name={table}"), "tableName": table, "sslRootCert": pem}),
        )
        .await;
        send(&sink, &events(3)).await.unwrap();
        let tls: bool = db
            .query_one(
                "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = $1",
                &[&table],
            )
            .await
            .unwrap()
            .get::<_, Option<bool>>(0)
            .unwrap_or(false);
        assert!(tls, "the sink's connection is encrypted");
        db.batch_execute(&format!("DROP TABLE \"{table}\"")).await.unwrap();
    }

    #[tokio::test]
    async fn survives_the_connection_dropping() {
        let db = client().await;
        let table = unique("hookd_sink_");
        let proxy = Proxy::to(pg_hostport()).await;
        let sink = connect("postgres", config(&format!("127.0.0.1:{}", proxy.port), &table)).await;
        survives_a_broker_restart("postgres", &sink, &proxy).await;
        db.batch_execute(&format!("DROP TABLE \"{table}\"")).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------
// SQS (moto's server)

mod sqs {
    use super::*;

    #[tokio::test]
    async fn sends_batches_of_ten_in_order_and_fifo_deduplicates() {
        let moto = Moto::start().await;

        // A FIFO queue: order within the application's group, and the second send of the batch deduplicated.
        let fifo = moto.create_queue(&unique("hookd-sink-").replace('-', "_").add_fifo()).await;
        let sink = connect("sqs", moto.config(&fifo)).await;
        let evs = events(25);
        send(&sink, &evs).await.unwrap();
        send(&sink, &evs).await.unwrap();
        let got = moto.drain(&fifo).await;
        let ids: Vec<&str> =
            got.iter().map(|m| m["MessageAttributes"]["hookd-msg-id"]["StringValue"].as_str().unwrap()).collect();
        let want: Vec<&str> = evs.iter().map(|e| e.msg_id.as_str()).collect();
        assert_eq!(ids, want);
        for (m, e) in got.iter().zip(&evs) {
            let body: Value = serde_json::from_str(m["Body"].as_str().unwrap()).unwrap();
            assert_eq!(body, serde_json::from_str::<Value>(e.payload.get()).unwrap());
            assert_eq!(m["MessageAttributes"]["hookd-event-type"]["StringValue"], e.event_type.as_str());
        }

        // A standard queue: every message arrives, with its attributes.
        let standard = moto.create_queue(&unique("hookd-sink-")).await;
        let sink = connect("sqs", moto.config(&standard)).await;
        send(&sink, &evs[..12]).await.unwrap();
        let got = moto.drain(&standard).await;
        let mut ids: Vec<String> = got
            .iter()
            .map(|m| m["MessageAttributes"]["hookd-msg-id"]["StringValue"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        assert_eq!(ids, evs[..12].iter().map(|e| e.msg_id.clone()).collect::<Vec<_>>());

        // A queue that does not exist: SQS's own reason.
        let sink = connect("sqs", moto.config(&format!("{}/123456789012/no-such-queue", moto.base))).await;
        let err = send(&sink, &evs[..1]).await.expect_err("no such queue");
        assert!(err.reason.contains("SQS at 127.0.0.1") && err.reason.contains("400"), "{err}");
        assert!(!err.reason.contains("s3cret"));
    }

    trait Fifo {
        fn add_fifo(self) -> String;
    }
    impl Fifo for String {
        fn add_fifo(self) -> String {
            format!("{self}.fifo")
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// OpenTelemetry tracing (the OTLP receiver of tests/traces.rs)

mod otel {
    use super::*;

    use crate::common::otlp::Collector;

    #[tokio::test]
    async fn each_message_is_a_span_at_the_collector() {
        let collector = Collector::start();
        let sink = connect(
            "otelTracing",
            json!({"url": format!("http://127.0.0.1:{}", collector.port), "headers": {"X-Tenant": "t1", "Authorization": "Bearer k"}}),
        )
        .await;
        let evs = events(12);
        send(&sink, &evs).await.unwrap();
        let spans = eventually("12 spans", || {
            let spans = collector.spans.lock().unwrap().clone();
            async move { (spans.len() >= 12).then_some(spans) }
        })
        .await;
        assert_eq!(spans.len(), 12);
        for (s, e) in spans.iter().zip(&evs) {
            assert_eq!(s["attributes"]["hookd.msg_id"], e.msg_id.as_str());
            assert_eq!(s["name"], e.event_type.as_str());
            assert_eq!(s["kind"], 4, "SPAN_KIND_PRODUCER");
            assert_eq!(s["service"], "hookd");
            assert_eq!(s["attributes"]["hookd.app_id"], "app_sinks");
            assert_eq!(s["attributes"]["hookd.position"], e.position);
            let payload: Value = serde_json::from_str(s["attributes"]["hookd.payload"].as_str().unwrap()).unwrap();
            assert_eq!(payload, serde_json::from_str::<Value>(e.payload.get()).unwrap());
            assert_eq!(s["headers"]["x-tenant"], "t1");
            assert_eq!(s["headers"]["authorization"], "Bearer k");
            assert_eq!(s["trace_id"].as_str().unwrap().len(), 32);
        }
        // Ids derive from the msg id: a resend repeats them.
        send(&sink, &evs[..1]).await.unwrap();
        let again = eventually("the resent span", || {
            let spans = collector.spans.lock().unwrap().clone();
            async move { (spans.len() >= 13).then(|| spans[12].clone()) }
        })
        .await;
        assert_eq!(again["trace_id"], spans[0]["trace_id"]);
        assert_eq!(again["span_id"], spans[0]["span_id"]);

        // A collector that answers an error: its status is the reason.
        let sink =
            connect("otelTracing", json!({"url": format!("http://127.0.0.1:{}/elsewhere", collector.port)})).await;
        let err = send(&sink, &evs[..1]).await.expect_err("404");
        assert!(err.reason.contains("404"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// NATS JetStream

#[cfg(feature = "sink-nats")]
mod nats {
    use super::*;
    use async_nats::jetstream;

    async fn js() -> jetstream::Context {
        let client = async_nats::connect(nats_addr()).await.expect("NATS at HOOKD_TEST_NATS (127.0.0.1:4222)");
        jetstream::new(client)
    }

    #[tokio::test]
    async fn publishes_in_order_with_acks_and_deduplicates() {
        let js = js().await;
        let name = unique("HOOKD_SINK_");
        let subject = format!("hookd.test.{name}");
        let stream = js
            .create_stream(jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![subject.clone()],
                ..Default::default()
            })
            .await
            .unwrap();
        let sink = connect("nats", json!({"url": format!("nats://{}", nats_addr()), "subject": subject})).await;
        let evs = events(40);
        send(&sink, &evs).await.unwrap();
        // Sent again: JetStream drops the duplicates by Nats-Msg-Id.
        send(&sink, &evs).await.unwrap();
        for (i, e) in evs.iter().enumerate() {
            let m = stream.get_raw_message(i as u64 + 1).await.unwrap();
            assert_eq!(m.headers.get("Nats-Msg-Id").map(|v| v.as_str()), Some(e.msg_id.as_str()));
            assert_eq!(m.headers.get("hookd-event-type").map(|v| v.as_str()), Some(e.event_type.as_str()));
            let body: Value = serde_json::from_slice(&m.payload).unwrap();
            assert_eq!(body, serde_json::from_str::<Value>(e.payload.get()).unwrap());
        }
        assert!(stream.get_raw_message(41).await.is_err(), "no duplicate");
        js.delete_stream(&name).await.unwrap();
    }

    #[tokio::test]
    async fn a_subject_without_a_stream_is_an_error() {
        let sink =
            connect("nats", json!({"url": format!("nats://{}", nats_addr()), "subject": unique("hookd.nostream.")}))
                .await;
        let err = send(&sink, &events(2)).await.expect_err("no stream");
        assert!(err.reason.contains("no JetStream stream"), "{err}");
    }

    #[tokio::test]
    async fn survives_the_connection_dropping() {
        let js = js().await;
        let name = unique("HOOKD_SINK_");
        let subject = format!("hookd.test.{name}");
        js.create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
        let proxy = Proxy::to(nats_addr()).await;
        let sink =
            connect("nats", json!({"url": format!("nats://127.0.0.1:{}", proxy.port), "subject": subject})).await;
        survives_a_broker_restart("nats", &sink, &proxy).await;
        js.delete_stream(&name).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------
// Redis Streams

#[cfg(feature = "sink-redis")]
mod redis_streams {
    use super::*;

    async fn conn() -> redis::aio::MultiplexedConnection {
        redis::Client::open(format!("redis://{}", redis_addr()))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("Redis at HOOKD_TEST_REDIS (127.0.0.1:6379)")
    }

    #[tokio::test]
    async fn adds_a_batch_in_order_to_a_stream() {
        let mut r = conn().await;
        let key = unique("hookd:sink:");
        let sink =
            connect("redis", json!({"url": format!("redis://{}/0", redis_addr()), "stream": key, "maxLen": 1000}))
                .await;
        let evs = events(60);
        send(&sink, &evs).await.unwrap();
        let entries: Vec<(String, Vec<String>)> =
            redis::cmd("XRANGE").arg(&key).arg("-").arg("+").query_async(&mut r).await.unwrap();
        assert_eq!(entries.len(), 60);
        for ((_, fields), e) in entries.iter().zip(&evs) {
            let get = |k: &str| fields.chunks(2).find(|kv| kv[0] == k).map(|kv| kv[1].clone());
            assert_eq!(get("hookd-msg-id").as_deref(), Some(e.msg_id.as_str()));
            assert_eq!(get("hookd-event-type").as_deref(), Some(e.event_type.as_str()));
            let payload: Value = serde_json::from_str(&get("payload").unwrap()).unwrap();
            assert_eq!(payload, serde_json::from_str::<Value>(e.payload.get()).unwrap());
        }
        let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut r).await.unwrap();
    }

    #[tokio::test]
    async fn a_key_of_another_type_is_an_error() {
        let mut r = conn().await;
        let key = unique("hookd:sink:");
        let _: () = redis::cmd("SET").arg(&key).arg("x").query_async(&mut r).await.unwrap();
        let sink = connect("redis", json!({"url": format!("redis://{}", redis_addr()), "stream": key})).await;
        let err = send(&sink, &events(2)).await.expect_err("WRONGTYPE");
        assert!(err.reason.contains("WRONGTYPE"), "{err}");
        let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut r).await.unwrap();
    }

    #[tokio::test]
    async fn survives_the_connection_dropping() {
        let mut r = conn().await;
        let key = unique("hookd:sink:");
        let proxy = Proxy::to(redis_addr()).await;
        let sink = connect("redis", json!({"url": format!("redis://127.0.0.1:{}", proxy.port), "stream": key})).await;
        survives_a_broker_restart("redis", &sink, &proxy).await;
        let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut r).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------
// MQTT (Mosquitto)

#[cfg(feature = "sink-mqtt")]
mod mqtt {
    use super::*;
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

    /// A subscriber to `topic`, collecting what arrives; ready once the broker acknowledged the subscription.
    async fn subscribe(topic: &str) -> (Arc<Mutex<Vec<Value>>>, tokio::task::JoinHandle<()>) {
        let (host, port) = mqtt_addr().rsplit_once(':').map(|(h, p)| (h.to_string(), p.parse().unwrap())).unwrap();
        let (client, mut events) = AsyncClient::new(MqttOptions::new(unique("hookd-test-"), host, port), 100);
        client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let sink = got.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            let mut ready = Some(ready_tx);
            while let Ok(event) = events.poll().await {
                match event {
                    Event::Incoming(Packet::SubAck(_)) => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                    }
                    Event::Incoming(Packet::Publish(p)) => {
                        sink.lock().unwrap().push(serde_json::from_slice(&p.payload).unwrap());
                    }
                    _ => {}
                }
            }
        });
        tokio::time::timeout(BOUND, ready_rx).await.expect("subscribed").expect("subscribed");
        (got, task)
    }

    #[tokio::test]
    async fn publishes_in_order_with_pubacks() {
        let topic = unique("hookd/test/");
        let (got, task) = subscribe(&topic).await;
        let sink = connect("mqtt", json!({"url": format!("mqtt://{}", mqtt_addr()), "topic": topic})).await;
        let evs = events(150);
        send(&sink, &evs).await.unwrap();
        let got = eventually("150 messages at the subscriber", || {
            let got = got.lock().unwrap().clone();
            async move { (got.len() >= 150).then_some(got) }
        })
        .await;
        for (m, e) in got.iter().zip(&evs) {
            assert_eq!(m["id"], e.msg_id.as_str());
            assert_eq!(m["eventType"], e.event_type.as_str());
            assert_eq!(m["payload"], serde_json::from_str::<Value>(e.payload.get()).unwrap());
            assert_eq!(m["channels"], json!(e.channels));
        }
        task.abort();
    }

    #[tokio::test]
    async fn qos_two_waits_for_pubcomp() {
        let topic = unique("hookd/test/");
        let (got, task) = subscribe(&topic).await;
        let sink = connect("mqtt", json!({"url": format!("mqtt://{}", mqtt_addr()), "topic": topic, "qos": 2})).await;
        send(&sink, &events(5)).await.unwrap();
        eventually("5 messages", || {
            let n = got.lock().unwrap().len();
            async move { (n >= 5).then_some(()) }
        })
        .await;
        task.abort();
    }

    #[tokio::test]
    async fn survives_the_connection_dropping() {
        let proxy = Proxy::to(mqtt_addr()).await;
        let sink =
            connect("mqtt", json!({"url": format!("mqtt://127.0.0.1:{}", proxy.port), "topic": unique("hookd/test/")}))
                .await;
        survives_a_broker_restart("mqtt", &sink, &proxy).await;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Throughput: each sink beside a bare client of its broker publishing the same payloads the same way (batches of
// 100, persistent + confirms / JetStream acks / one pipeline), in the same run. Ignored in the suite; run with
// bench/sinks.sh.

#[cfg(all(feature = "sink-rabbitmq", feature = "sink-nats", feature = "sink-redis"))]
mod throughput {
    use super::*;
    use std::time::Instant;

    fn total() -> usize {
        std::env::var("HOOKD_BENCH_SINK_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
    }

    /// Events with payloads of about 256 bytes.
    fn bench_events(n: usize) -> Vec<Event> {
        let pad = "x".repeat(200);
        let mut evs = events(n);
        for (i, e) in evs.iter_mut().enumerate() {
            e.payload = Arc::from(
                serde_json::value::RawValue::from_string(
                    json!({"i": i, "type": "user.created", "pad": pad}).to_string(),
                )
                .unwrap(),
            );
        }
        evs
    }

    async fn through_sink(sink: &Arc<dyn Sink>, evs: &[Event]) -> f64 {
        let started = Instant::now();
        for chunk in evs.chunks(100) {
            send(sink, chunk).await.unwrap();
        }
        evs.len() as f64 / started.elapsed().as_secs_f64()
    }

    fn report(kind: &str, sink: f64, bare: f64) {
        println!("| {kind} | {} | {:.0} | {:.0} | {:.0} % |", total(), sink, bare, 100.0 * sink / bare);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark: bench/sinks.sh"]
    async fn bench_sinks_against_bare_clients() {
        use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions};
        use lapin::types::FieldTable;
        let evs = bench_events(total());
        println!(
            "| broker | messages | sink msg/s | bare client msg/s | sink / bare |\n| --- | --- | --- | --- | --- |"
        );

        // RabbitMQ: persistent, mandatory, publisher confirms awaited per batch.
        let conn = lapin::Connection::connect(&format!("amqp://guest:guest@{}/%2f", amqp_addr()), Default::default())
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
        let queue = unique("hookd-bench-");
        ch.queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
        let sink =
            connect("rabbitMq", json!({"uri": format!("amqp://guest:guest@{}/%2f", amqp_addr()), "routingKey": queue}))
                .await;
        let sink_rate = through_sink(&sink, &evs).await;
        let started = Instant::now();
        for chunk in evs.chunks(100) {
            let mut confirms = vec![];
            for e in chunk {
                let props = lapin::BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into())
                    .with_message_id(e.msg_id.as_str().into());
                let opts = BasicPublishOptions { mandatory: true, ..Default::default() };
                confirms.push(
                    ch.basic_publish("".into(), queue.as_str().into(), opts, e.payload.get().as_bytes(), props)
                        .await
                        .unwrap(),
                );
            }
            for c in confirms {
                assert!(c.await.unwrap().is_ack());
            }
        }
        report("RabbitMQ", sink_rate, evs.len() as f64 / started.elapsed().as_secs_f64());
        ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await.unwrap();

        // NATS JetStream: publishes back to back, acks awaited per batch.
        let client = async_nats::connect(nats_addr()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let name = unique("HOOKD_BENCH_");
        let subject = format!("hookd.bench.{name}");
        js.create_stream(async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
        let sink = connect("nats", json!({"url": format!("nats://{}", nats_addr()), "subject": subject})).await;
        let sink_rate = through_sink(&sink, &evs).await;
        // The bare client's messages get fresh ids, or JetStream would drop them as duplicates.
        let started = Instant::now();
        for chunk in evs.chunks(100) {
            let mut acks = vec![];
            for e in chunk {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", format!("bare-{}", e.msg_id).as_str());
                let payload = bytes::Bytes::copy_from_slice(e.payload.get().as_bytes());
                acks.push(js.publish_with_headers(subject.clone(), headers, payload).await.unwrap());
            }
            for a in acks {
                a.await.unwrap();
            }
        }
        report("NATS JetStream", sink_rate, evs.len() as f64 / started.elapsed().as_secs_f64());
        js.delete_stream(&name).await.unwrap();

        // Redis: one pipeline of XADDs per batch.
        let mut r = redis::Client::open(format!("redis://{}", redis_addr()))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let key = unique("hookd:bench:");
        let sink = connect("redis", json!({"url": format!("redis://{}", redis_addr()), "stream": key})).await;
        let sink_rate = through_sink(&sink, &evs).await;
        let bare_key = format!("{key}:bare");
        let started = Instant::now();
        for chunk in evs.chunks(100) {
            let mut pipe = redis::pipe();
            for e in chunk {
                pipe.cmd("XADD")
                    .arg(&bare_key)
                    .arg("*")
                    .arg("hookd-msg-id")
                    .arg(&e.msg_id)
                    .arg("payload")
                    .arg(e.payload.get());
            }
            let _: Vec<String> = pipe.query_async(&mut r).await.unwrap();
        }
        report("Redis Streams", sink_rate, evs.len() as f64 / started.elapsed().as_secs_f64());
        let _: i64 = redis::cmd("DEL").arg(&key).arg(&bare_key).query_async(&mut r).await.unwrap();
    }
}
