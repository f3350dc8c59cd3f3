//! AWS SNS as an inbound provider, end to end. The test plays AWS: an RSA key with a self-signed certificate
//! (tests/inbound/sign/aws_sns.py, `cryptography`), served by a loopback HTTP server that also takes subscription
//! confirmations, and messages signed as AWS documents (SignatureVersion 1 and 2). hookd is told to trust that
//! server's host (`HOOKD_SNS_CERT_HOSTS`), fetches the certificate from it, and confirms subscriptions at it.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::Uri;
use common::*;
use serde_json::{json, Value};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:orders";
const OTHER_TOPIC: &str = "arn:aws:sns:us-east-1:210987654321:elsewhere";

/// The test's AWS: a key, its certificate at `/cert.pem`, and every request the server got (path and query).
struct Aws {
    /// `host:port`, as `HOOKD_SNS_CERT_HOSTS` names it.
    host: String,
    base: String,
    key: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Aws {
    async fn start(ip: &str) -> Aws {
        let (ok, out) = run_script(&python(), &script("inbound/sign/aws_sns.py"), &json!({"op": "keypair"}));
        assert!(ok, "aws_sns.py keypair: {out}");
        let pair: Value = serde_json::from_str(out.trim()).unwrap();
        let (key, cert) = (pair["key"].as_str().unwrap(), pair["cert"].as_str().unwrap());
        Aws::serving(ip, key, cert).await
    }

    /// A server for `cert` (whose private key is `key`, if the test has it).
    async fn serving(ip: &str, key: &str, cert: &str) -> Aws {
        let cert = cert.to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let (seen, cert) = (seen.clone(), cert.clone());
            async move {
                seen.lock().unwrap().push(uri.to_string());
                match uri.path() {
                    "/cert.pem" => cert,
                    // What SNS answers a ConfirmSubscription.
                    _ => "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:\
                          us-east-1:123456789012:orders:1</SubscriptionArn></ConfirmSubscriptionResult>\
                          </ConfirmSubscriptionResponse>"
                        .to_string(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let host = addr.to_string();
        Aws { base: format!("http://{host}"), host, key: key.into(), requests }
    }

    fn cert_url(&self) -> String {
        format!("{}/cert.pem", self.base)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// `messages`, each with its `Signature`.
    fn sign(&self, messages: &[Value]) -> Vec<Value> {
        let input = json!({"op": "sign", "key": self.key, "messages": messages});
        let (ok, out) = run_script(&python(), &script("inbound/sign/aws_sns.py"), &input);
        assert!(ok, "aws_sns.py sign: {out}");
        let signed: Value = serde_json::from_str(out.trim()).unwrap();
        signed["messages"].as_array().unwrap().clone()
    }
}

/// A Notification as SNS sends it, unsigned.
fn notification(
    id: &str,
    topic: &str,
    subject: Option<&str>,
    message: &str,
    at: i64,
    version: &str,
    cert: &str,
) -> Value {
    let mut m = json!({
        "Type": "Notification", "MessageId": id, "TopicArn": topic, "Message": message,
        "Timestamp": iso(at), "SignatureVersion": version, "SigningCertURL": cert,
        "UnsubscribeURL": format!("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:1"),
    });
    if let Some(s) = subject {
        m["Subject"] = json!(s);
    }
    m
}

/// A (Un)SubscriptionConfirmation, unsigned.
fn confirmation(kind: &str, id: &str, token: &str, subscribe_url: &str, at: i64, cert: &str) -> Value {
    json!({
        "Type": kind, "MessageId": id, "Token": token, "TopicArn": TOPIC,
        "Message": format!("You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": subscribe_url, "Timestamp": iso(at), "SignatureVersion": "1", "SigningCertURL": cert,
    })
}

fn iso(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 123_000_000).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// POSTs a message as SNS does (`text/plain`, `x-amz-sns-message-type`).
async fn deliver(app: &TestApp, url: &str, message: &Value) -> Resp {
    let resp = app
        .http
        .post(url)
        .header("content-type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", message["Type"].as_str().unwrap())
        .header("x-amz-sns-topic-arn", message["TopicArn"].as_str().unwrap())
        .body(message.to_string())
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    Resp { status, body: resp.json().await.unwrap_or(Value::Null), headers }
}

async fn register(app: &TestApp, app_id: &str) -> (String, String) {
    let reg = json!({
        "connectionId": "orders", "events": ["*"], "providerConfig": {"topicArn": TOPIC},
        "destination": {"appId": app_id},
    });
    let r = app.post("/integrations/aws-sns/webhooks", reg).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    (r.body["registrationId"].as_str().unwrap().into(), r.body["webhookUrl"].as_str().unwrap().into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_messages_are_verified_under_the_fetched_certificate_and_subscriptions_confirmed() {
    let aws = Aws::start("127.0.0.1").await;
    let hosts = vec!["aws".to_string(), aws.host.clone()];
    let app = spawn_app_with(|c| c.sns_cert_hosts = hosts).await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;

    // The topic is required: 422 naming it, for a registration and for an Ingest source.
    let r = app.post("/integrations/aws-sns/webhooks", json!({"connectionId": "c", "events": ["*"]})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "providerConfig", "topicArn"]), "{:?}", r.body);
    assert!(r.body.to_string().contains("topicArn"), "{:?}", r.body);
    let r = app.post("/ingest/api/v1/source", json!({"name": "sns", "type": "aws-sns", "config": {}})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.body.to_string().contains("topicArn"), "{:?}", r.body);
    let bad = json!({"connectionId": "c", "events": ["*"], "providerConfig": {"topicArn": "orders"}});
    assert_eq!(app.post("/integrations/aws-sns/webhooks", bad).await.status, 422);
    // Listed with the providers.
    let listed = app.get("/integrations").await;
    let sns = listed.body["data"].as_array().unwrap().iter().find(|p| p["name"] == "aws-sns").cloned();
    assert_eq!(sns.as_ref().map(|p| p["usesSecret"].clone()), Some(json!(false)), "{sns:?}");

    let (reg_id, url) = register(&app, &app_id).await;
    let now = chrono::Utc::now().timestamp();
    let cert = aws.cert_url();
    let signed = aws.sign(&[
        notification("m-1", TOPIC, Some("order.placed"), r#"{"orderId":"o-1","total":12}"#, now, "1", &cert),
        notification("m-2", TOPIC, None, "plain text", now, "2", &cert),
    ]);

    // SHA1withRSA, with a Subject: verified, forwarded with the Message parsed.
    let r = deliver(&app, &url, &signed[0]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((&r.body["eventType"], &r.body["entityId"]), (&json!("order.placed"), &json!("m-1")));
    let got = recv.wait_for(1).await;
    let event = got[0].json();
    assert_eq!(event["eventType"], "order.placed", "{event}");
    assert_eq!(event["entityType"], "orders", "{event}");
    assert_eq!(event["data"]["Message"]["orderId"], "o-1", "{event}");
    assert_eq!(event["data"]["TopicArn"], TOPIC, "{event}");
    assert_eq!(event["deliveryId"], "m-1", "{event}");
    // Again: a duplicate, not forwarded twice.
    let r = deliver(&app, &url, &signed[0]).await;
    assert_eq!((r.status.as_u16(), &r.body["duplicate"]), (200, &json!(true)), "{:?}", r.body);
    // SHA256withRSA, no Subject: `notification`, the certificate from the cache.
    let r = deliver(&app, &url, &signed[1]).await;
    assert_eq!((r.status.as_u16(), &r.body["eventType"]), (200, &json!("notification")), "{:?}", r.body);
    let got = recv.wait_for(2).await;
    assert_eq!(got[1].json()["data"]["Message"], "plain text");
    assert_eq!(aws.requests(), ["/cert.pem"], "one fetch of the certificate");

    // Refused, 401: a changed Message, another topic (well signed), a stale Timestamp, a certificate on a host
    // hookd does not trust (not fetched).
    let mut tampered = signed[1].clone();
    tampered["Message"] = json!("plain text!");
    tampered["MessageId"] = json!("m-3");
    let others = aws.sign(&[
        notification("m-4", OTHER_TOPIC, None, "hi", now, "2", &cert),
        notification("m-5", TOPIC, None, "hi", now - 7200, "2", &cert),
        notification("m-6", TOPIC, None, "hi", now, "2", &cert.replace("127.0.0.1", "localhost")),
    ]);
    for (m, why) in [
        (&tampered, "invalid signature"),
        (&others[0], "TopicArn"),
        (&others[1], "timestamp"),
        (&others[2], "SigningCertURL"),
    ] {
        let r = deliver(&app, &url, m).await;
        assert_eq!(r.status, 401, "{why}: {:?}", r.body);
        assert!(r.body["error"].as_str().unwrap().contains(why), "{why}: {:?}", r.body);
    }
    assert_eq!(aws.requests(), ["/cert.pem"], "nothing fetched for the refused ones");

    // A SubscriptionConfirmation: hookd GETs its SubscribeURL (with the Token) and answers 200; the message is kept,
    // not forwarded.
    let subscribe = format!("{}/confirm?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=tok-123", aws.base);
    let conf = aws.sign(&[confirmation("SubscriptionConfirmation", "c-1", "tok-123", &subscribe, now, &cert)]);
    let r = deliver(&app, &url, &conf[0]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["subscriptionConfirmed"], true, "{:?}", r.body);
    let confirms: Vec<String> = aws.requests().into_iter().filter(|r| r.starts_with("/confirm")).collect();
    assert_eq!(confirms.len(), 1, "{confirms:?}");
    assert!(confirms[0].contains("Token=tok-123") && confirms[0].contains("Action=ConfirmSubscription"));
    let events = app.get(&format!("/webhooks/{reg_id}/events")).await;
    let kept = events.body["data"].as_array().unwrap().iter().find(|e| e["deliveryId"] == "c-1").cloned();
    let kept = kept.unwrap_or_else(|| panic!("the confirmation is kept: {:?}", events.body));
    assert_eq!((&kept["matchKey"], &kept["forwardedMessageId"]), (&json!("SubscriptionConfirmation"), &Value::Null));
    let reg = app.get(&format!("/webhooks/{reg_id}")).await;
    assert_eq!(reg.body["isVerified"], true, "{:?}", reg.body);

    // A SubscribeURL on a host hookd does not trust: refused, not fetched.
    let elsewhere = subscribe.replace("127.0.0.1", "localhost");
    let evil = aws.sign(&[confirmation("SubscriptionConfirmation", "c-2", "tok-123", &elsewhere, now, &cert)]);
    let r = deliver(&app, &url, &evil[0]).await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("SubscribeURL"), "{:?}", r.body);
    assert_eq!(aws.requests().iter().filter(|r| r.starts_with("/confirm")).count(), 1, "{:?}", aws.requests());

    // An UnsubscribeConfirmation is forwarded as its own event type.
    let unsub = aws.sign(&[confirmation("UnsubscribeConfirmation", "u-1", "tok-9", &subscribe, now, &cert)]);
    let r = deliver(&app, &url, &unsub[0]).await;
    assert_eq!((r.status.as_u16(), &r.body["eventType"]), (200, &json!("unsubscribe_confirmation")), "{:?}", r.body);
    let got = recv.wait_for(3).await;
    assert_eq!(got[2].json()["eventType"], "unsubscribe_confirmation", "{:?}", got[2].json());
    assert_eq!(aws.requests().iter().filter(|r| r.starts_with("/confirm")).count(), 1, "no GET for an unsubscribe");

    // The refusals are listed with their reasons.
    let refused = app.get(&format!("/webhooks/{reg_id}/refused")).await;
    let reasons: Vec<&str> =
        refused.body["data"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.iter().filter(|r| **r == "stale").count(), 1, "{reasons:?}");
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert_eq!(recv.received().len(), 3, "forwarded: two notifications and the unsubscribe");

    // The dashboard checks a stored message again, under the certificate (from the cache).
    let events = app.get(&format!("/webhooks/{reg_id}/events")).await;
    let first = events.body["data"].as_array().unwrap().iter().find(|e| e["deliveryId"] == "m-1").cloned().unwrap();
    let cookie = common::ui::log_in(&app, &app.token).await.0;
    let path = format!("/ui/inbound/{reg_id}/events/{}", first["id"].as_str().unwrap());
    let (status, _, html) = common::ui::page(&app, &cookie, &path).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("still valid"), "{html}");
    assert_eq!(aws.requests().iter().filter(|r| *r == "/cert.pem").count(), 1, "{:?}", aws.requests());
}

/// With private egress refused, a SubscribeURL at a private address is not fetched (even on a trusted host): the
/// answer (403) and the refused request say why. The certificate's own host is allowed by CIDR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_url_the_egress_policy_refuses_is_not_fetched() {
    let aws = Aws::start("127.0.0.1").await;
    let private = Aws::start("127.0.0.2").await;
    let hosts = vec![aws.host.clone(), private.host.clone()];
    let app = spawn_app_with(|c| {
        c.allow_private_networks = false;
        c.allowed_cidrs = vec!["127.0.0.1/32".parse().unwrap()];
        c.sns_cert_hosts = hosts;
    })
    .await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let (reg_id, url) = register(&app, &app_id).await;

    let now = chrono::Utc::now().timestamp();
    let subscribe = format!("{}/confirm?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=tok-1", private.base);
    let conf = aws.sign(&[confirmation("SubscriptionConfirmation", "c-1", "tok-1", &subscribe, now, &aws.cert_url())]);
    let r = deliver(&app, &url, &conf[0]).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    let error = r.body["error"].as_str().unwrap();
    assert!(error.contains("not confirmed") && error.contains("HOOKD_ALLOW_PRIVATE_NETWORKS"), "{error}");
    assert!(private.requests().is_empty(), "{:?}", private.requests());
    assert_eq!(aws.requests(), ["/cert.pem"], "the certificate was fetched, from the allowed address");

    let refused = app.get(&format!("/webhooks/{reg_id}/refused")).await;
    let first = &refused.body["data"][0];
    assert_eq!((&first["reason"], &first["status"]), (&json!("fetch_failed"), &json!(403)), "{:?}", refused.body);
    let events = app.get(&format!("/webhooks/{reg_id}/events")).await;
    assert_eq!(events.body["data"], json!([]), "not kept: SNS sends it again");
    let health = app.get(&format!("/webhooks/{reg_id}/health")).await;
    let advice = health.body["recommendations"].to_string();
    assert!(advice.contains("HOOKD_ALLOWED_CIDRS"), "{advice}");

    // A certificate the policy refuses is not fetched either: 403, nothing verified.
    let cert = format!("{}/cert.pem", private.base);
    let m = aws.sign(&[notification("m-1", TOPIC, None, "hi", now, "2", &cert)]);
    let r = deliver(&app, &url, &m[0]).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(private.requests().is_empty(), "{:?}", private.requests());
}

/// A call to moto's SNS (the query protocol, as the AWS SDKs speak it); its XML answer.
async fn moto_sns(moto: &common::moto::Moto, params: &[(&str, &str)]) -> String {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().copied().chain([("Version", "2010-03-31")]))
        .finish();
    let resp = reqwest::Client::new()
        .post(&moto.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", MOTO_SNS_AUTH)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{params:?}: {}", resp.status());
    resp.text().await.unwrap()
}

/// What routes a request to moto's SNS: a SigV4 credential scope naming the service (the signature is not checked).
const MOTO_SNS_AUTH: &str =
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=0";

/// moto (PyPI `moto[server]`) as SNS, with a real HTTP subscription: it signs what it delivers (SignatureVersion 2,
/// with a key of its own) and serves the certificate, so its messages are an independent check of the wire shape
/// and of the signature. moto names the certificate at `sns.us-east-1.amazonaws.com`, which a test cannot serve, and
/// `SigningCertURL` is not signed: the test serves moto's certificate itself and points the message there. moto
/// leaves `Subject` out of what it signs, where AWS's documentation puts it in: a message with one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_sns_deliveries_verify() {
    let moto = common::moto::Moto::start().await;
    let capture = Receiver::start().await;
    let created = moto_sns(&moto, &[("Action", "CreateTopic"), ("Name", "orders")]).await;
    let topic = created.split("<TopicArn>").nth(1).and_then(|t| t.split("</TopicArn>").next()).unwrap().to_string();
    let subscribe = [("Action", "Subscribe"), ("TopicArn", &topic), ("Protocol", "http"), ("Endpoint", &capture.url)];
    moto_sns(&moto, &subscribe).await;
    moto_sns(&moto, &[("Action", "Publish"), ("TopicArn", &topic), ("Message", r#"{"orderId":"o-7"}"#)]).await;
    let with_subject = [("Action", "Publish"), ("TopicArn", &topic), ("Message", "hi"), ("Subject", "greeting")];
    moto_sns(&moto, &with_subject).await;
    let delivered = capture.wait_for(2).await;
    assert_eq!(delivered[0].header("content-type"), "text/plain; charset=UTF-8");
    let (plain, subject) = (delivered[0].json(), delivered[1].json());
    assert_eq!((&plain["Type"], &plain["SignatureVersion"]), (&json!("Notification"), &json!("2")), "{plain}");

    // moto's certificate, from moto, served by the test.
    let cert_url = plain["SigningCertURL"].as_str().unwrap();
    let pem_path = cert_url.split(".amazonaws.com").nth(1).unwrap();
    let pem = reqwest::Client::new()
        .get(format!("{}{pem_path}", moto.base))
        .header("authorization", MOTO_SNS_AUTH)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let server = Aws::serving("127.0.0.1", "", &pem).await;

    let hosts = vec![server.host.clone()];
    let app = spawn_app_with(|c| c.sns_cert_hosts = hosts).await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let reg = json!({"connectionId": "moto", "events": ["*"], "providerConfig": {"topicArn": topic},
        "destination": {"appId": app_id}});
    let r = app.post("/integrations/aws-sns/webhooks", reg).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let url = r.body["webhookUrl"].as_str().unwrap().to_string();

    let mut message = plain.clone();
    message["SigningCertURL"] = json!(server.cert_url());
    let r = deliver(&app, &url, &message).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = recv.wait_for(1).await;
    assert_eq!(got[0].json()["data"]["Message"]["orderId"], "o-7", "{:?}", got[0].json());
    // With a Subject, moto's signature is not over what AWS signs.
    let mut message = subject.clone();
    message["SigningCertURL"] = json!(server.cert_url());
    let r = deliver(&app, &url, &message).await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    // Without it, the same message verifies (what moto signed).
    message.as_object_mut().unwrap().remove("Subject");
    let r = deliver(&app, &url, &message).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
