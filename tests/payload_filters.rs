//! Payload filters on endpoints: an endpoint with a filter receives only the messages that match it, by event
//! type, channels and payload; a bad filter is refused with a 422 naming where it is wrong; a filter can be tried
//! on a sample first; and a message's page says why an endpoint did not get it.

mod common;

use common::ui::*;
use common::*;
use serde_json::{json, Value};

/// The ids of the messages an endpoint was sent.
async fn sent_to(app: &TestApp, app_id: &str, ep_id: &str) -> Vec<String> {
    let r = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/msg?limit=50")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut ids: Vec<String> =
        r.body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().into()).collect();
    ids.sort();
    ids
}

fn amounts(received: &[Received]) -> Vec<i64> {
    let mut a: Vec<i64> = received.iter().map(|r| r.json()["amount"].as_i64().unwrap()).collect();
    a.sort();
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn only_matching_messages_reach_a_filtered_endpoint() {
    let app = spawn_app().await;
    let (all, big) = (Receiver::start().await, Receiver::start().await);
    let (app_id, _) = app.app_with_endpoint(&all.url, json!({})).await;
    let filter = json!({
        "eventType": {"$startsWith": "invoice."},
        "payload": {"amount": {"$gte": 100}, "$or": [{"currency": "usd"}, {"tags": "vip"}]}
    });
    let r = app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": big.url, "filter": filter})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["filter"], filter, "the filter is answered as written");
    let big_id = r.body["id"].as_str().unwrap().to_string();

    let mut wanted = Vec::new();
    for (event_type, payload, matches) in [
        ("invoice.paid", json!({"amount": 50, "currency": "usd"}), false),
        ("invoice.paid", json!({"amount": 150, "currency": "usd"}), true),
        ("order.created", json!({"amount": 500, "currency": "usd"}), false),
        ("invoice.paid", json!({"amount": 300, "currency": "eur"}), false),
        ("invoice.paid", json!({"amount": 301, "currency": "eur", "tags": ["vip", "x"]}), true),
        ("invoice.voided", json!({"currency": "usd"}), false),
    ] {
        let msg = app.publish(&app_id, event_type, payload).await;
        if matches {
            wanted.push(msg["id"].as_str().unwrap().to_string());
        }
    }
    wanted.sort();
    // Deliveries are made with the message, in its commit: what the endpoint is sent is known at once.
    assert_eq!(sent_to(&app, &app_id, &big_id).await, wanted);
    assert_eq!(amounts(&big.wait_for(2).await), [150, 301]);
    assert_eq!(all.wait_for(6).await.len(), 6, "an endpoint without a filter receives everything");
    assert_eq!(big.received().len(), 2);

    // Changed by PATCH: new messages follow the new filter; `null` removes it.
    let path = format!("/api/v1/app/{app_id}/endpoint/{big_id}");
    let r = app.patch(&path, json!({"filter": {"payload": {"amount": {"$lt": 10}}}})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    app.publish(&app_id, "invoice.paid", json!({"amount": 5})).await;
    app.publish(&app_id, "invoice.paid", json!({"amount": 500})).await;
    assert_eq!(amounts(&big.wait_for(3).await), [5, 150, 301]);
    let r = app.patch(&path, json!({"filter": null})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body.get("filter").is_none(), "{:?}", r.body);
    app.publish(&app_id, "anything", json!({"amount": 7})).await;
    assert_eq!(amounts(&big.wait_for(4).await), [5, 7, 150, 301]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_filter_is_refused_naming_where() {
    let app = spawn_app().await;
    let (app_id, ep) = app.app_with_endpoint("https://example.com/hook", json!({})).await;
    let ep_path = format!("/api/v1/app/{app_id}/endpoint/{}", ep["id"].as_str().unwrap());
    for (filter, loc, says) in [
        (
            json!({"payload": {"amount": {"$gtt": 1}}}),
            json!(["body", "filter", "payload", "amount", "$gtt"]),
            "unknown operator",
        ),
        (json!({"payload": {"tags": {"$in": 3}}}), json!(["body", "filter", "payload", "tags", "$in"]), "array"),
        (json!({"payload": {"$or": []}}), json!(["body", "filter", "payload", "$or"]), "non-empty"),
        (json!({"data": {"a": 1}}), json!(["body", "filter", "data"]), "eventType"),
        (json!([1, 2]), json!(["body", "filter"]), "JSON object"),
        (json!("amount > 5"), json!(["body", "filter"]), "JSON object"),
    ] {
        for r in [
            app.patch(&ep_path, json!({ "filter": filter })).await,
            app.post(
                &format!("/api/v1/app/{app_id}/endpoint"),
                json!({"url": "https://example.com/b", "filter": filter}),
            )
            .await,
        ] {
            assert_eq!(r.status, 422, "{filter}: {:?}", r.body);
            assert_eq!(r.body["detail"][0]["loc"], loc, "{filter}: {:?}", r.body);
            assert!(r.body["detail"][0]["msg"].as_str().unwrap().contains(says), "{filter}: {:?}", r.body);
        }
    }
    // Nothing refused was kept.
    assert!(app.get(&ep_path).await.body.get("filter").is_none());
    let list = app.get(&format!("/api/v1/app/{app_id}/endpoint")).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_is_tried_on_a_sample_and_a_message_page_says_why_it_was_not_sent() {
    let app = spawn_app().await;
    let filter = json!({"payload": {"amount": {"$gte": 100}, "status": "paid"}});
    let sample = |amount: i64| json!({"filter": filter, "eventType": "invoice.paid", "payload": {"amount": amount, "status": "paid"}});
    let r = app.post("/api/v1/filter/test", sample(120)).await;
    assert_eq!((r.status.as_u16(), &r.body), (200, &json!({"matches": true, "reason": null})));
    let r = app.post("/api/v1/filter/test", sample(20)).await;
    assert_eq!(r.body, json!({"matches": false, "reason": "payload.amount $gte 100"}));
    let r =
        app.post("/api/v1/filter/test", json!({"filter": {"x": {"$bad": 1}}, "eventType": "a", "payload": {}})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    let r = app.call(reqwest::Method::POST, "/api/v1/filter/test", None, Some(sample(1))).await;
    assert_eq!(r.status, 401, "the route needs a token: {:?}", r.body);

    let rx = Receiver::start().await;
    let (app_id, ep) = app.app_with_endpoint(&rx.url, json!({ "filter": filter })).await;
    let msg = app.publish(&app_id, "invoice.paid", json!({"amount": 20, "status": "paid"})).await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let (status, _, html) =
        page(&app, &cookie, &format!("/ui/apps/{app_id}/messages/{}", msg["id"].as_str().unwrap())).await;
    assert_eq!(status, 200);
    let row = html.split("id=\"not-sent\"").nth(1).expect("the page lists the endpoints it was not sent to");
    assert!(row.contains(ep["id"].as_str().unwrap()), "{row}");
    assert!(row.contains("its filter wants payload.amount $gte 100"), "{row}");
    let eu = app.post(&format!("/api/v1/app/{app_id}/endpoint"), json!({"url": rx.url, "channels": ["eu"]})).await;
    assert_eq!(eu.status, 201, "{:?}", eu.body);
    let (_, _, html) =
        page(&app, &cookie, &format!("/ui/apps/{app_id}/messages/{}", msg["id"].as_str().unwrap())).await;
    assert!(html.contains("it listens only to #eu, and the message has no channel"), "the channels' reason");
    let (_, _, html) =
        page(&app, &cookie, &format!("/ui/apps/{app_id}/endpoints/{}", ep["id"].as_str().unwrap())).await;
    assert!(html.contains("id=\"filter\"") && html.contains("$gte"), "the endpoint's page shows its filter");
    // The matching message was sent; nothing else was.
    app.publish(&app_id, "invoice.paid", json!({"amount": 200, "status": "paid"})).await;
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].json()["amount"], Value::from(200));
    assert_eq!(rx.received().len(), 1);
}
