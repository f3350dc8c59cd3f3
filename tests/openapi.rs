//! `/openapi.json`: one document for the whole server, generated from the handlers. It must be a valid
//! OpenAPI document, describe only routes that exist, and describe every route that does. Being complete, it
//! also lets the last two tests walk every route: each needs its token, and each takes bad bodies with a 4xx.

mod common;

use std::collections::BTreeSet;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    // No token: the document is public, as svix-server's is.
    let r = app.http.get(format!("{}/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

/// `(METHOD, path)` of every operation in an OpenAPI document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            ops.insert((m.to_uppercase(), path.clone()));
        }
    }
    ops
}

/// A request for `method path`, each `{param}` filled in with a placeholder.
fn request(app: &TestApp, method: &str, path: &str) -> reqwest::RequestBuilder {
    let path: Vec<_> = path.split('/').map(|seg| if seg.starts_with('{') { "x_placeholder" } else { seg }).collect();
    app.http.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{}", app.base, path.join("/")))
}

/// Sends `req`; returns the status and the JSON body (null if none).
async fn answer(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Whether a route exists for `method path`: the router's own 404 and 405 say that none does.
async fn served(app: &TestApp, method: &str, path: &str) -> bool {
    let (status, body) = answer(request(app, method, path).bearer_auth(&app.token)).await;
    !(status == 405 || (status == 404 && body["detail"] == "No such route"))
}

#[tokio::test]
async fn the_document_is_valid_openapi() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let file = app.dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = std::process::Command::new(python()).args(["-m", "openapi_spec_validator"]).arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused it:\n{:.3000}",
        String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let ops = operations(&doc);
    assert!(ops.len() > 80, "the whole server is documented: {} operations", ops.len());
    for (method, path) in &ops {
        assert!(served(&app, method, path).await, "{method} {path} is documented but not served");
    }
}

/// Svix's own document lists the outbound API: whatever of it hookd serves, hookd documents, under the same
/// path.
#[tokio::test]
async fn every_svix_operation_hookd_serves_is_documented() {
    let app = spawn_app().await;
    let ours = operations(&document(&app).await);
    let svix: Value = serde_json::from_str(&std::fs::read_to_string(shared("svix-openapi.json")).unwrap()).unwrap();
    let mut checked = 0;
    for (method, path) in operations(&svix) {
        if served(&app, &method, &path).await {
            assert!(ours.contains(&(method.clone(), path.clone())), "{method} {path} is served but not documented");
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} of Svix's operations are served");
}

/// docs/bots.md lists the bots' routes; each is in the document.
#[tokio::test]
async fn every_route_in_the_bots_guide_is_documented() {
    let app = spawn_app().await;
    let ours = operations(&document(&app).await);
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bots.md")).unwrap();
    let mut listed = 0;
    for span in guide.split('`').skip(1).step_by(2) {
        let Some((method, path)) = span.split_once(' ') else { continue };
        if !METHODS.contains(&method.to_lowercase().as_str()) || !path.starts_with('/') {
            continue;
        }
        let path = path.split('?').next().unwrap().to_string();
        let path = if path.contains("{ep}") { path.replace("{ep}", "{endpoint_id}") } else { path };
        assert!(ours.contains(&(method.to_string(), path.clone())), "{method} {path} (docs/bots.md) is not documented");
        listed += 1;
    }
    assert!(listed >= 30, "only {listed} routes found in docs/bots.md");
}

/// Every operation the document says needs a token refuses a request without one: 401 with a JSON body.
#[tokio::test]
async fn every_operation_that_needs_a_token_refuses_a_request_without_one() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut checked = 0;
    for (method, path) in operations(&doc) {
        let security = &doc["paths"][&path][method.to_lowercase()]["security"];
        if security.as_array().is_some_and(|s| s.contains(&json!({}))) {
            continue; // public
        }
        let (status, body) = answer(request(&app, &method, &path)).await;
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
        assert!(body.is_object(), "{method} {path}: a JSON body");
        checked += 1;
    }
    assert!(checked > 80, "{checked}");
}

/// Malformed JSON, a JSON array and wrong types, sent to every operation that takes a JSON body: always a 4xx
/// with a JSON body, never a 5xx.
#[tokio::test]
async fn every_operation_answers_bad_bodies_with_a_4xx() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut checked = 0;
    for (method, path) in operations(&doc) {
        if doc["paths"][&path][method.to_lowercase()]["requestBody"]["content"].get("application/json").is_none() {
            continue;
        }
        for bad in [r#"{"broken"#, "[1, 2]", r#"{"name": 7, "url": [], "channel_id": {}, "text": 1}"#] {
            let req = request(&app, &method, &path).bearer_auth(&app.token).header("content-type", "application/json");
            let (status, body) = answer(req.body(bad)).await;
            assert!((400..500).contains(&status), "{method} {path} with {bad}: {status} {body}");
            assert!(body.is_object(), "{method} {path} with {bad}: a JSON body, got {body}");
        }
        checked += 1;
    }
    assert!(checked > 40, "{checked}");
}

/// Every documented query parameter that is a number, a boolean or an enum is sent as a query string sends it
/// (`limit=1`, `include_archived=true`, `order=ascending`): no operation refuses it as the wrong type, whatever
/// shape its query struct has (a flattened or nested struct makes serde_urlencoded see every value as a string).
#[tokio::test]
async fn every_operation_takes_its_typed_query_parameters_from_a_query_string() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut checked = 0;
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let mut query = vec![];
        for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "query") {
            let schema = match p["schema"].get("$ref").and_then(Value::as_str) {
                Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
                None => &p["schema"],
            };
            let types: Vec<&str> = match &schema["type"] {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let value = if let Some(first) = schema["enum"].as_array().and_then(|e| e.iter().find(|v| !v.is_null())) {
                first.as_str().map(str::to_string).unwrap_or_else(|| first.to_string())
            } else if types.contains(&"integer") || types.contains(&"number") {
                "1".into()
            } else if types.contains(&"boolean") {
                "true".into()
            } else {
                continue;
            };
            query.push(format!("{}={value}", p["name"].as_str().unwrap()));
        }
        if query.is_empty() {
            continue;
        }
        let req = request(&app, &method, &path).bearer_auth(&app.token);
        let url = req.build().unwrap().url().to_string();
        let req =
            app.http.request(method.parse().unwrap(), format!("{url}?{}", query.join("&"))).bearer_auth(&app.token);
        let (status, body) = answer(req).await;
        let text = body.to_string();
        assert!(
            !text.contains("Failed to deserialize query string") && status < 500,
            "{method} {path}?{}: {status} {body}",
            query.join("&")
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} operations with typed query parameters");
}
