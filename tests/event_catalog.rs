//! The event catalog: event types keep `groupName` and `featureFlags` beside their schemas; schemas are checked
//! when saved and, where asked, enforced on publish; an OpenAPI document's `webhooks` are imported (and exported
//! back); `/catalog/` shows the types without a token when configured; a portal token sees only the types its
//! feature flags allow.

mod common;

use common::ui::*;
use common::*;
use serde_json::{json, Value};

fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "required": ["invoiceId", "amount"],
        "properties": {
            "invoiceId": {"type": "string", "description": "The invoice's id"},
            "amount": {"type": "integer", "minimum": 0, "description": "In cents"},
            "customer": {"type": "object", "properties": {"tier": {"enum": ["free", "gold"]}}},
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn event_types_keep_groups_flags_and_checked_schemas() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/v1/event-type",
            json!({"name": "invoice.paid", "description": "An invoice was paid", "groupName": "billing",
                   "featureFlags": ["beta"], "schemas": {"1": invoice_schema()}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let got = app.get("/api/v1/event-type/invoice.paid").await.body;
    assert_eq!(got["groupName"], "billing");
    assert_eq!(got["featureFlags"], json!(["beta"]));
    assert_eq!(got["featureFlag"], "beta", "older clients read the first flag");
    assert_eq!(got["schemas"]["1"], invoice_schema());

    // An older client's single flag is a list of one; a PATCH changes the group and clears the flags.
    let r =
        app.post("/api/v1/event-type", json!({"name": "old.style", "description": "x", "featureFlag": "legacy"})).await;
    assert_eq!(r.body["featureFlags"], json!(["legacy"]));
    let r = app.patch("/api/v1/event-type/invoice.paid", json!({"groupName": "payments", "featureFlags": null})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((r.body["groupName"].as_str(), &r.body["featureFlags"]), (Some("payments"), &Value::Null));

    // A schema that is not one is refused where it is wrong.
    for (schemas, loc) in [
        (json!({"1": {"type": 5}}), json!(["body", "schemas", "1"])),
        (json!({"1": "object"}), json!(["body", "schemas", "1"])),
        (json!([{"type": "object"}]), json!(["body", "schemas"])),
    ] {
        let r = app.put("/api/v1/event-type/bad.one", json!({"description": "x", "schemas": schemas})).await;
        assert_eq!(r.status, 422, "{schemas}: {:?}", r.body);
        assert_eq!(r.body["detail"][0]["loc"], loc, "{:?}", r.body);
    }
    let r = app.post("/api/v1/event-type", json!({"name": "x", "description": "x", "groupName": "not a name"})).await;
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "groupName"]), "{:?}", r.body);
    assert_eq!(app.get("/api/v1/event-type/bad.one").await.status, 404, "nothing refused was kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn payloads_are_checked_against_their_schema_when_asked() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&rx.url, json!({})).await;
    let r = app
        .post(
            "/api/v1/event-type",
            json!({"name": "invoice.paid", "description": "x", "schemas": {"1": invoice_schema()}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let bad = json!({"eventType": "invoice.paid", "payload": {"invoiceId": 7, "customer": {"tier": "platinum"}}});
    let msg_path = format!("/api/v1/app/{app_id}/msg");
    // Off by default, as in Svix.
    assert_eq!(app.post(&msg_path, bad.clone()).await.status, 202);

    let r = app.patch("/api/v1/event-type/invoice.paid", json!({"enforceSchema": true})).await;
    assert_eq!(r.body["enforceSchema"], true, "{:?}", r.body);
    let r = app.post(&msg_path, bad.clone()).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    let mut failures: Vec<(Value, String)> = r.body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["loc"].clone(), d["type"].as_str().unwrap().to_string()))
        .collect();
    failures.sort_by_key(|(_, kind)| kind.clone());
    assert_eq!(
        failures,
        [
            (json!(["body", "payload", "customer", "tier"]), "schema.enum".to_string()),
            (json!(["body", "payload"]), "schema.required".to_string()),
            (json!(["body", "payload", "invoiceId"]), "schema.type".to_string()),
        ],
        "{:?}",
        r.body
    );
    assert!(r.body["detail"].to_string().contains("amount"), "the message names the missing field: {:?}", r.body);
    let good = json!({"eventType": "invoice.paid", "payload": {"invoiceId": "in_1", "amount": 100}});
    assert_eq!(app.post(&msg_path, good.clone()).await.status, 202);
    // With the SDKs' Idempotency-Key too (the publish path that claims the key in the message's commit).
    let r = app
        .http
        .post(format!("{}{msg_path}", app.base))
        .bearer_auth(&app.token)
        .header("idempotency-key", "k-1")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    // The application may ask it of every type that has a schema; types without one pass.
    app.patch("/api/v1/event-type/invoice.paid", json!({"enforceSchema": false})).await;
    assert_eq!(app.post(&msg_path, bad.clone()).await.status, 202);
    let r = app.patch(&format!("/api/v1/app/{app_id}"), json!({"enforceSchemas": true})).await;
    assert_eq!(r.body["enforceSchemas"], true, "{:?}", r.body);
    assert_eq!(app.post(&msg_path, bad.clone()).await.status, 422);
    assert_eq!(app.post(&msg_path, json!({"eventType": "no.schema", "payload": {"a": 1}})).await.status, 202);
    // send-example makes its payload from the schema, so that it passes.
    let eps = app.get(&format!("/api/v1/app/{app_id}/endpoint")).await.body;
    let ep_id = eps["data"][0]["id"].as_str().unwrap();
    let r = app
        .post(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/send-example"), json!({"eventType": "invoice.paid"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["payload"], json!({"invoiceId": "string", "amount": 0, "customer": {"tier": "free"}}));
    // Every accepted message was delivered; the refused ones were never stored.
    assert_eq!(rx.wait_for(5).await.len(), 5);
    let listed = app.get(&format!("{msg_path}?limit=50")).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 5);
}

const SPEC_YAML: &str = r##"
openapi: 3.1.0
info: {title: Pets, version: 1.0.0}
webhooks:
  pet.new:
    post:
      summary: A pet was added
      tags: [Pet store]
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Pet"}
      responses: {"200": {description: ok}}
  pet.gone:
    post:
      description: A pet left
      deprecated: true
      x-svix-feature-flags: [beta]
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {id: {type: integer}}}
      responses: {"200": {description: ok}}
components:
  schemas:
    Pet:
      required: [id, name]
      properties:
        id: {type: integer, format: int64}
        name: {type: string}
        tag: {type: string}
"##;

#[tokio::test(flavor = "multi_thread")]
async fn openapi_webhooks_are_imported_and_exported() {
    let app = spawn_app().await;
    app.post("/api/v1/event-type", json!({"name": "legacy.thing", "description": "old"})).await;
    let import = |body: Value| async { app.post("/api/v1/event-type/import/openapi", body).await };

    let r = import(json!({"specRaw": SPEC_YAML, "dryRun": true, "replaceAll": true})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let to_modify: Vec<&str> =
        r.body["data"]["to_modify"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(to_modify, ["pet.gone", "pet.new", "legacy.thing"]);
    assert_eq!(r.body["data"]["modified"], json!([]));
    assert_eq!(app.get("/api/v1/event-type/pet.new").await.status, 404, "a dry run writes nothing");

    let r = import(json!({"specRaw": SPEC_YAML})).await;
    assert_eq!(r.body["data"]["modified"], json!(["pet.gone", "pet.new"]), "{:?}", r.body);
    let pet = app.get("/api/v1/event-type/pet.new").await.body;
    assert_eq!(pet["description"], "A pet was added");
    assert_eq!(pet["groupName"], "Pet-store");
    assert_eq!(pet["schemas"]["1"]["required"], json!(["id", "name"]), "the $ref is inlined: {pet}");
    assert_eq!(pet["schemas"]["1"]["properties"]["id"]["format"], "int64");
    let gone = app.get("/api/v1/event-type/pet.gone").await.body;
    assert_eq!((gone["deprecated"].as_bool(), &gone["featureFlags"]), (Some(true), &json!(["beta"])));
    assert_eq!(gone["description"], "A pet left");

    // The same document again changes nothing; with replaceAll, the type it does not name is archived.
    let r = import(json!({"specRaw": SPEC_YAML})).await;
    assert_eq!(r.body["data"]["modified"], json!([]));
    let r = import(json!({"spec": serde_yaml_ng::from_str::<Value>(SPEC_YAML).unwrap(), "replaceAll": true})).await;
    assert_eq!(r.body["data"]["modified"], json!(["legacy.thing"]));
    assert_eq!(app.get("/api/v1/event-type/legacy.thing").await.body["archived"], true);

    // Exported, then imported into another organization: the same types.
    let doc = app.post("/api/v1/event-type/export/openapi", json!({})).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["webhooks"].get("legacy.thing").is_none(), "archived types are not exported");
    let other = app.other_org_token().await;
    let r = app
        .call(reqwest::Method::POST, "/api/v1/event-type/import/openapi", Some(&other), Some(json!({"spec": doc.body})))
        .await;
    assert_eq!(r.body["data"]["modified"], json!(["pet.gone", "pet.new"]), "{:?}", r.body);
    let copy = app.call(reqwest::Method::GET, "/api/v1/event-type/pet.new", Some(&other), None).await.body;
    assert_eq!(
        (copy["schemas"].clone(), copy["groupName"].clone()),
        (pet["schemas"].clone(), pet["groupName"].clone())
    );

    // Neither or both of spec and specRaw: 400; no webhooks, bad YAML, a bad name: 422.
    assert_eq!(import(json!({})).await.status, 400);
    assert_eq!(import(json!({"spec": {}, "specRaw": "{}"})).await.status, 400);
    let r = import(json!({"spec": {"openapi": "3.1.0", "paths": {}}})).await;
    assert_eq!((r.status.as_u16(), r.body["detail"][0]["loc"].clone()), (422, json!(["body", "spec", "webhooks"])));
    assert_eq!(import(json!({"specRaw": "webhooks: [unclosed"})).await.status, 422);
    let r = import(json!({"spec": {"webhooks": {"bad name!": {"post": {}}}}})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_catalog_shows_released_types_without_a_token() {
    let app = spawn_app_with(|c| c.public_catalog = vec!["default".into()]).await;
    for body in [
        json!({"name": "invoice.paid", "description": "An invoice was paid", "groupName": "billing", "schemas": {"1": invoice_schema()}}),
        json!({"name": "user.created", "description": "A user signed up"}),
        json!({"name": "secret.feature", "description": "Not released", "featureFlags": ["beta"]}),
    ] {
        assert_eq!(app.post("/api/v1/event-type", body).await.status, 201);
    }
    let client = client();
    let resp = client.get(format!("{}/catalog/", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let html = resp.text().await.unwrap();
    for text in [
        "invoice.paid",
        "An invoice was paid",
        "billing",
        "user.created",
        "invoiceId",
        "The invoice&#x27;s id",
        "In cents",
        "customer.tier",
        "required",
    ] {
        assert!(html.contains(text), "{text} is on the page");
    }
    assert!(!html.contains("secret.feature"), "a type behind a feature flag is not public");
    assert!(html.contains("&quot;invoiceId&quot;: &quot;string&quot;"), "an example payload is made from the schema");
    let doc: Value =
        client.get(format!("{}/catalog/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    assert!(doc["webhooks"]["invoice.paid"].is_object() && doc["webhooks"].get("secret.feature").is_none());

    // Another organization's catalog is not public unless named.
    let other = app.other_org_token().await;
    let org = hookd::api::auth::org_of_token(&app.ctx, &other).await.unwrap().0;
    assert_eq!(client.get(format!("{}/catalog/{org}/", app.base)).send().await.unwrap().status(), 404);

    let closed = spawn_app().await;
    assert_eq!(client.get(format!("{}/catalog/", closed.base)).send().await.unwrap().status(), 404);
    let (cookie, _) = log_in(&closed, &closed.token).await;
    let (status, _, html) = page(&closed, &cookie, "/ui/catalog").await;
    assert_eq!(status, 200);
    assert!(html.contains("HOOKD_PUBLIC_CATALOG"), "the dashboard says how to publish it");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_portal_token_sees_the_types_its_flags_allow() {
    let app = spawn_app().await;
    for body in [
        json!({"name": "invoice.paid", "description": "paid", "schemas": {"1": invoice_schema()}}),
        json!({"name": "beta.thing", "description": "beta", "featureFlags": ["beta"]}),
    ] {
        app.post("/api/v1/event-type", body).await;
    }
    let app_id = app.post("/api/v1/app", json!({"name": "Acme"})).await.body["id"].as_str().unwrap().to_string();
    let token_for = |flags: Value| {
        let app = &app;
        let path = format!("/api/v1/auth/app-portal-access/{app_id}");
        async move { app.post(&path, json!({ "featureFlags": flags })).await.body["token"].as_str().unwrap().to_string() }
    };
    for (token, visible) in [
        (token_for(json!([])).await, vec!["invoice.paid"]),
        (token_for(json!(["beta"])).await, vec!["beta.thing", "invoice.paid"]),
    ] {
        let r = app.call(reqwest::Method::GET, "/portal/catalog", Some(&token), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let names: Vec<&str> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["types"].as_array().unwrap())
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, visible);
        let listed = app.call(reqwest::Method::GET, "/api/v1/event-type", Some(&token), None).await;
        let names: Vec<&str> =
            listed.body["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, visible);
        let one = app.call(reqwest::Method::GET, "/api/v1/event-type/beta.thing", Some(&token), None).await;
        assert_eq!(one.status, if visible.len() == 2 { 200 } else { 404 });
    }
    assert_eq!(app.call(reqwest::Method::GET, "/portal/catalog", None, None).await.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_and_filters_in_a_browser() {
    ui::assert_browser_ready();
    let app = spawn_app_with(|c| c.public_catalog = vec!["default".into()]).await;
    let mut schema = invoice_schema();
    schema["examples"] = json!([{"invoiceId": "in_123", "amount": 4200, "customer": {"tier": "gold"}}]);
    for body in [
        json!({"name": "invoice.paid", "description": "An invoice was paid", "groupName": "billing", "schemas": {"1": schema}}),
        json!({"name": "user.created", "description": "A user signed up",
               "schemas": {"1": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}}}),
        json!({"name": "secret.feature", "description": "Not released", "featureFlags": ["beta"]}),
    ] {
        assert_eq!(app.post("/api/v1/event-type", body).await.status, 201);
    }
    let (app_id, ep) = app.app_with_endpoint("https://example.com/hook", json!({"eventTypes": ["invoice.paid"]})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let portal = app.post(&format!("/api/v1/auth/app-portal-access/{app_id}"), json!({})).await;
    let input = json!({ "base": app.base, "token": app.token, "appId": app_id, "endpointId": ep_id,
        "portalUrl": portal.body["url"], "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok() });
    let (ok, out) = run_script("node", &script("node/catalog_flow.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("catalog flow passed"), "{out}");
    let ep = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}")).await.body;
    assert_eq!(ep["eventTypes"], json!(["invoice.paid", "user.created"]), "subscribed from the portal's catalog");
    assert_eq!(ep["filter"], json!({"payload": {"amount": {"$gte": 100}}}), "the filter saved by the dashboard's form");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_imports_are_refused_and_nothing_is_kept() {
    let app = spawn_app().await;
    // References that fan out ten ways, sixteen deep: a small document that would expand to 10^16 values.
    let mut schemas = serde_json::Map::new();
    for level in 0..16 {
        let next = json!({"$ref": format!("#/components/schemas/L{}", level + 1)});
        let props: serde_json::Map<String, Value> = (0..10).map(|i| (format!("p{i}"), next.clone())).collect();
        schemas.insert(format!("L{level}"), json!({"type": "object", "properties": props}));
    }
    schemas.insert("L16".into(), json!({"type": "string"}));
    let spec = json!({"openapi": "3.1.0", "components": {"schemas": schemas}, "webhooks": {"boom": {"post": {
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/L0"}}}}}}}});
    let r = app.post("/api/v1/event-type/import/openapi", json!({ "spec": spec })).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.body["detail"][0]["msg"].as_str().unwrap().contains("expand"), "{:?}", r.body);
    // Wrong types, malformed JSON, a body over the limit.
    let r = app.post("/api/v1/event-type/import/openapi", json!({"specRaw": SPEC_YAML, "dryRun": "yes"})).await;
    assert_eq!((r.status.as_u16(), r.body["detail"][0]["loc"].clone()), (422, json!(["body", "dryRun"])));
    let raw = app
        .http
        .post(format!("{}/api/v1/event-type/import/openapi", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"specRaw\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let huge = "a".repeat(2 * 1024 * 1024);
    let r = app.post("/api/v1/event-type/import/openapi", json!({ "specRaw": huge })).await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert_eq!(app.get("/api/v1/event-type").await.body["data"], json!([]), "nothing was kept");
}
