//! The dashboard's forms for endpoints and their transformations, and showing an endpoint's signing secret when
//! asked, in Debian's Chromium (driven by npm `playwright-core`) and over plain HTTP: what a form stores is what the
//! API returns, a refusal is shown beside its field with what was typed kept, another organization's ids are not
//! found, and every form needs the session's CSRF token.

mod common;

use axum::http::StatusCode;
use common::ui::*;
use common::*;
use serde_json::json;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The page with the HTML escapes the templates write undone, to find what was typed in it.
fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The message the form shows beside `field`, if any.
fn beside(html: &str, field: &str) -> Option<String> {
    let after = html.split(&format!("id=\"err-{field}\">")).nth(1)?;
    Some(unescaped(after.split("</p>").next()?))
}

/// An application "Billing" in an organization that declares three event types; a session's cookie and CSRF token.
async fn billing(app: &TestApp) -> (String, String, String) {
    for name in ["invoice.paid", "invoice.voided", "order.created"] {
        let r = app.post("/api/v1/event-type", json!({"name": name, "description": name})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let app_id = app.post("/api/v1/app", json!({"name": "Billing"})).await.body["id"].as_str().unwrap().to_string();
    let (cookie, _) = log_in(app, &app.token).await;
    let (_, _, html) = page(app, &cookie, &format!("/ui/apps/{app_id}")).await;
    (app_id, cookie, csrf_of(&html))
}

async fn endpoint(app: &TestApp, app_id: &str, body: serde_json::Value) -> String {
    let r = app.post(&format!("/api/v1/app/{app_id}/endpoint"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_creates_edits_reveals_transforms_and_deletes_an_endpoint() {
    ui::assert_browser_ready();
    // Loopback refused, as in production: a `localhost` URL is a mistake the form shows.
    let app = spawn_app_with(|c| c.allow_private_networks = false).await;
    let (app_id, _, _) = billing(&app).await;
    let input = json!({ "base": app.base, "token": app.token, "appId": app_id,
        "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok() });
    let (ok, out) = run_script("node", &script("node/dashboard_endpoint_forms.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("endpoint forms flow passed"), "{out}");
    let ep_id = out.lines().find_map(|l| l.strip_prefix("endpoint: ")).expect("the flow names the endpoint");
    assert_eq!(app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}")).await.status, 404, "deleted for the API too");
}

#[tokio::test]
async fn a_created_endpoint_is_the_apis_an_edit_clears_what_was_blanked_and_delete_deletes() {
    let app = spawn_app().await;
    let (app_id, cookie, csrf) = billing(&app).await;
    let (status, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}/endpoints/new")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("type=\"checkbox\" name=\"eventTypes\" value=\"order.created\""), "declared types offered");

    let form = [
        ("csrf", csrf.as_str()),
        ("url", "https://billing.example.com/hooks"),
        ("description", "Billing, production"),
        ("uid", "billing-prod"),
        ("eventTypes", "invoice.paid"),
        ("eventTypes", "invoice.voided"),
        ("eventTypesOther", "order.*, invoice.paid"),
        ("channels", "eu, us"),
        ("throttleRate", "10"),
        ("headers", "X-Team: billing\n\nX-Env: prod"),
        ("retrySchedule", "5s, 1m 30s"),
        ("signature", "tms"),
        ("metadata", "owner=billing"),
        ("secret", SECRET),
        ("disabled", "true"),
    ];
    let r = post_form(&app, &cookie, &format!("/ui/apps/{app_id}/endpoints/new"), &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let base = format!("/api/v1/app/{app_id}/endpoint/billing-prod");
    let got = app.get(&base).await.body;
    let ep_id = got["id"].as_str().unwrap().to_string();
    assert_eq!(r.headers()["location"], format!("/ui/apps/{app_id}/endpoints/{ep_id}?done=endpoint-created"));
    assert_eq!(got["url"], "https://billing.example.com/hooks");
    assert_eq!(got["description"], "Billing, production");
    assert_eq!(
        got["eventTypes"],
        json!(["invoice.paid", "invoice.voided", "order.*"]),
        "ticked, then typed, once each"
    );
    assert_eq!(got["channels"], json!(["eu", "us"]));
    assert_eq!(got["throttleRate"], 10);
    assert_eq!(got["disabled"], true);
    assert_eq!(got["retrySchedule"], json!(["5s", "1m 30s"]));
    assert_eq!(got["signature"]["header"], "X-TMS-Signature");
    assert_eq!(got["metadata"], json!({"owner": "billing"}));
    assert_eq!(
        app.get(&format!("{base}/headers")).await.body["headers"],
        json!({"X-Env": "prod", "X-Team": "billing"})
    );
    assert_eq!(app.get(&format!("{base}/secret")).await.body["key"], SECRET);

    // The edit form holds what is stored: the declared types ticked, the pattern typed.
    let edit = format!("/ui/apps/{app_id}/endpoints/{ep_id}/edit");
    let (_, _, html) = page(&app, &cookie, &edit).await;
    let html = unescaped(&html);
    assert!(html.contains("value=\"invoice.voided\" checked") && !html.contains("value=\"order.created\" checked"));
    assert!(html.contains("name=\"eventTypesOther\" class=\"mono\" value=\"order.*\""), "{html}");
    assert!(html.contains("<option value=\"tms\" selected>"));
    assert!(html.contains("X-Env: prod\nX-Team: billing</textarea>"));
    assert!(
        html.contains("value=\"5s, 1m 30s\"")
            && html.contains("id=\"f-disabled\" name=\"disabled\" value=\"true\" checked")
    );
    assert!(!html.contains("name=\"secret\""), "the secret is not a field of the edit form");

    // Saved with fields left blank: they are cleared, not kept.
    let form = [
        ("csrf", csrf.as_str()),
        ("url", "https://billing.example.com/v2"),
        ("description", ""),
        ("uid", ""),
        ("eventTypesOther", ""),
        ("channels", ""),
        ("throttleRate", ""),
        ("headers", ""),
        ("retrySchedule", ""),
        ("signature", ""),
        ("metadata", ""),
    ];
    let r = post_form(&app, &cookie, &edit, &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/ui/apps/{app_id}/endpoints/{ep_id}?done=endpoint-saved"));
    let base = format!("/api/v1/app/{app_id}/endpoint/{ep_id}");
    let got = app.get(&base).await.body;
    assert_eq!(got["url"], "https://billing.example.com/v2");
    for field in ["uid", "eventTypes", "channels", "throttleRate"] {
        assert!(got[field].is_null(), "{field} cleared: {got}");
    }
    assert!(got.get("retrySchedule").is_none() && got.get("signature").is_none(), "{got}");
    assert_eq!((&got["disabled"], &got["metadata"]), (&json!(false), &json!({})));
    assert_eq!(app.get(&format!("{base}/headers")).await.body["headers"], json!({}));
    assert_eq!(app.get(&format!("{base}/secret")).await.body["key"], SECRET, "an edit keeps the secret");

    // Delete: back to the application, whose page says so.
    let r = post_form(&app, &cookie, &format!("/ui/apps/{app_id}/endpoints/{ep_id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to, format!("/ui/apps/{app_id}?done=endpoint-deleted"));
    assert_eq!(app.get(&base).await.status, StatusCode::NOT_FOUND);
    let (_, _, html) = page(&app, &cookie, &to).await;
    assert!(html.contains("Endpoint deleted.") && !html.contains(&ep_id), "{html}");
}

#[tokio::test]
async fn a_refused_form_is_drawn_again_with_the_message_beside_the_field() {
    let app = spawn_app_with(|c| c.allow_private_networks = false).await;
    let (app_id, cookie, csrf) = billing(&app).await;
    let new = format!("/ui/apps/{app_id}/endpoints/new");

    // What the form itself cannot read is refused before the API is asked.
    let form = [
        ("csrf", csrf.as_str()),
        ("url", "http://localhost:8080/hooks"),
        ("description", "Billing"),
        ("eventTypes", "invoice.paid"),
        ("headers", "X-Team billing"),
        ("throttleRate", "lots"),
    ];
    let r = post_form(&app, &cookie, &new, &form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(beside(&html, "headers").unwrap().contains("X-Team billing"), "{html}");
    assert_eq!(beside(&html, "throttleRate").unwrap(), "Enter a whole number.");
    let kept = unescaped(&html);
    assert!(kept.contains("value=\"http://localhost:8080/hooks\"") && kept.contains("value=\"Billing\""));
    assert!(kept.contains("value=\"invoice.paid\" checked") && kept.contains(">X-Team billing</textarea>"));
    assert!(html.contains("aria-current=\"page\">Applications"), "the navigation, Applications current");

    // The API's refusals, each beside its field.
    let cases = [
        (("url", "http://localhost:8080/hooks"), "url", "not a public address"),
        (("url", "billing.example.com/hooks"), "url", "did you mean http://billing.example.com/hooks"),
        (("headers", "Bad Header: x"), "headers", "invalid header name"),
        (("throttleRate", "0"), "throttleRate", "at least 1"),
        (("throttleRate", "70000"), "throttleRate", ""),
        (("retrySchedule", "5s, soon"), "retrySchedule", "invalid duration: soon"),
        (("eventTypesOther", "order.*, not valid!"), "eventTypes", "“not valid!”"),
        (("channels", "eu west"), "channels", "“eu west”"),
        (("uid", "ep_2xYzAbCdEfGhIjKlMnOpQrStUvW"), "uid", "must not look like an endpoint id"),
        (("secret", "whsec_short"), "secret", "base64"),
        (("signature", "sha1"), "signature", "unknown preset"),
    ];
    for ((name, value), field, message) in cases {
        let mut form = vec![("csrf", csrf.as_str()), ("url", "https://billing.example.com/hooks")];
        form.retain(|(k, _)| *k != name);
        form.push((name, value));
        let r = post_form(&app, &cookie, &new, &form).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}={value}");
        let html = r.text().await.unwrap();
        let said = beside(&html, field).unwrap_or_else(|| panic!("{name}={value}: no message beside {field}: {html}"));
        assert!(said.contains(message) && !said.is_empty(), "{name}={value}: {said}");
        assert!(html.contains("id=\"form-errors\""), "a summary above the form");
    }
    let list = app.get(&format!("/api/v1/app/{app_id}/endpoint")).await.body;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "nothing created: {list}");

    // An edit refused leaves the endpoint as it was.
    let ep_id = endpoint(&app, &app_id, json!({"url": "https://billing.example.com/hooks"})).await;
    let form = [("csrf", csrf.as_str()), ("url", "http://127.0.0.1/hooks"), ("headers", "X-Team: billing")];
    let r = post_form(&app, &cookie, &format!("/ui/apps/{app_id}/endpoints/{ep_id}/edit"), &form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(beside(&r.text().await.unwrap(), "url").unwrap().contains("not a public address"));
    let got = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}")).await.body;
    assert_eq!(got["url"], "https://billing.example.com/hooks");
    let headers = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/headers")).await.body;
    assert_eq!(headers["headers"], json!({}), "not half saved");
}

#[tokio::test]
async fn the_secret_is_on_the_page_only_once_asked_for() {
    let app = spawn_app().await;
    let (app_id, cookie, csrf) = billing(&app).await;
    let ep_id = endpoint(&app, &app_id, json!({"url": "https://billing.example.com/hooks"})).await;
    let key = app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/secret")).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/ui/apps/{app_id}/endpoints/{ep_id}");
    let (_, _, html) = page(&app, &cookie, &path).await;
    assert!(!html.contains("whsec_") && html.contains("Reveal secret"), "{html}");

    let r = post_form(&app, &cookie, &format!("{path}/secret"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store", "not kept by the browser's cache");
    let shown = unescaped(&r.text().await.unwrap());
    assert!(shown.contains(&format!("id=\"secret-key\" class=\"mono\" readonly value=\"{key}\"")), "{shown}");
    assert!(shown.contains("data-copy=\"secret-key\""), "a way to copy it");

    let (_, _, html) = page(&app, &cookie, &path).await;
    assert!(!html.contains("whsec_"), "gone from the page once left");
    let r = post_form(&app, &cookie, &format!("{path}/secret"), &[("csrf", "forged")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!r.text().await.unwrap().contains("whsec_"));
}

#[tokio::test]
async fn the_transformation_editor_saves_tries_and_shows_a_compile_error_beside_the_code() {
    let app = spawn_app().await;
    let (app_id, cookie, csrf) = billing(&app).await;
    let ep_id = endpoint(&app, &app_id, json!({"url": "https://billing.example.com/hooks"})).await;
    let editor = format!("/ui/apps/{app_id}/endpoints/{ep_id}/transformation");
    let api = format!("/api/v1/app/{app_id}/endpoint/{ep_id}/transformation");
    let (status, _, html) = page(&app, &cookie, &editor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("name=\"enabled\" value=\"true\" checked"), "a new one runs once saved");

    // Code that does not compile: refused, the message beside the code, the code as typed kept.
    let broken = "function handler(webhook) {\n  return webhook <\n}";
    let sample = [("eventType", "invoice.paid"), ("payload", "{\"id\": 42}")];
    let mut form = vec![("csrf", csrf.as_str()), ("code", broken), ("enabled", "true")];
    form.extend(sample);
    let r = post_form(&app, &cookie, &editor, &form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(beside(&html, "code").is_some_and(|m| m.contains("SyntaxError")), "{html}");
    assert!(unescaped(&html).contains(&format!(">{broken}</textarea>")), "the code as typed");
    assert!(app.get(&api).await.body["code"].is_null(), "nothing saved");

    // "Try it" runs the code as typed, before it is saved.
    let code = "function handler(webhook) {\n  webhook.payload = { seen: webhook.payload.id, by: variables.who };\n  return webhook;\n}";
    let mut form = vec![("csrf", csrf.as_str()), ("code", code), ("enabled", "true"), ("variables", "who=billing")];
    form.extend(sample);
    let r = post_form(&app, &cookie, &format!("{editor}/try"), &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = unescaped(&r.text().await.unwrap());
    let trial = html.split("id=\"trial\"").nth(1).expect("the trial's result");
    assert!(trial.contains("\"seen\": 42") && trial.contains("\"by\": \"billing\""), "{trial}");
    assert!(trial.contains("https://billing.example.com/hooks"), "where it would go");
    assert!(html.contains(&format!(">{code}</textarea>")) && html.contains(">{\"id\": 42}</textarea>"), "kept");
    assert!(app.get(&api).await.body["code"].is_null(), "trying saves nothing");
    // A handler that throws: the trial says why; a sample that is not JSON: said beside it.
    let mut form = vec![("csrf", csrf.as_str()), ("code", "function handler(w) { throw new Error('no invoice'); }")];
    form.extend(sample);
    let r = post_form(&app, &cookie, &format!("{editor}/try"), &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.split("id=\"trial\"").nth(1).is_some_and(|t| t.contains("no invoice")), "{html}");
    let form = [("csrf", csrf.as_str()), ("code", code), ("eventType", "invoice.paid"), ("payload", "{id: 42}")];
    let r = post_form(&app, &cookie, &format!("{editor}/try"), &form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(beside(&r.text().await.unwrap(), "payload").unwrap().contains("not JSON"));

    // Saved (with the CRLF line ends browsers send, stored as LF): the API has it; unticking "enabled" turns it
    // off; blank variables keep those set.
    let crlf = code.replace('\n', "\r\n");
    let mut form = vec![("csrf", csrf.as_str()), ("code", &crlf), ("enabled", "true"), ("variables", "who=billing")];
    form.extend(sample);
    let r = post_form(&app, &cookie, &editor, &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/ui/apps/{app_id}/endpoints/{ep_id}?done=transformation-saved"));
    let got = app.get(&api).await.body;
    assert_eq!(
        (&got["code"], &got["enabled"], &got["variables"]),
        (&json!(code), &json!(true), &json!({"who": "billing"}))
    );
    let r = post_form(&app, &cookie, &editor, &[("csrf", &csrf), ("code", code), ("variables", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let got = app.get(&api).await.body;
    assert_eq!((&got["enabled"], &got["variables"]), (&json!(false), &json!({"who": "billing"})));
    // A ready-made shape instead of code.
    let form = [("csrf", csrf.as_str()), ("code", ""), ("template", "slack"), ("enabled", "true")];
    assert_eq!(post_form(&app, &cookie, &editor, &form).await.status(), StatusCode::SEE_OTHER);
    let got = app.get(&api).await.body;
    assert_eq!((&got["code"], &got["template"], &got["enabled"]), (&json!(null), &json!("slack"), &json!(true)));
    // The endpoint's page names the variables, never their values.
    let (_, _, html) = page(&app, &cookie, &format!("/ui/apps/{app_id}/endpoints/{ep_id}")).await;
    let card = html.split("id=\"transformation\"").nth(1).unwrap();
    assert!(card.contains("slack") && card.contains(">who<") && !card.contains("billing<"), "{card}");
}

#[tokio::test]
async fn other_organizations_ids_are_not_found_and_every_form_needs_the_csrf_token() {
    let app = spawn_app().await;
    let (app_id, cookie, csrf) = billing(&app).await;
    let ep_id = endpoint(&app, &app_id, json!({"url": "https://billing.example.com/hooks"})).await;
    let other = app.other_org_token().await;
    let post = |path: String, token: &str, body: serde_json::Value| {
        let (app, token) = (&app, token.to_string());
        async move { app.call(reqwest::Method::POST, &path, Some(&token), Some(body)).await }
    };
    let their_app =
        post("/api/v1/app".into(), &other, json!({"name": "theirs"})).await.body["id"].as_str().unwrap().to_string();
    let their_ep =
        post(format!("/api/v1/app/{their_app}/endpoint"), &other, json!({"url": "https://theirs.example.com/"}))
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();

    // Pages and forms through their application, or their endpoint through mine: not found.
    let routes = |app: &str, ep: &str| {
        let base = format!("/ui/apps/{app}/endpoints/{ep}");
        [
            format!("{base}/edit"),
            format!("{base}/delete"),
            format!("{base}/secret"),
            format!("{base}/transformation"),
            format!("{base}/transformation/try"),
        ]
    };
    for (a, e) in [(&their_app, &their_ep), (&app_id, &their_ep)] {
        for path in routes(a, e) {
            let r = post_form(&app, &cookie, &path, &[("csrf", &csrf), ("url", "https://mine.example.com/")]).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "POST {path}");
            if !path.ends_with("delete") && !path.ends_with("secret") && !path.ends_with("try") {
                let (status, _, html) = page(&app, &cookie, &path).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}");
                assert!(html.contains("not found") && html.contains("href=\"/ui/inbound\""), "{html}");
            }
        }
    }
    let new = format!("/ui/apps/{their_app}/endpoints/new");
    assert_eq!(page(&app, &cookie, &new).await.0, StatusCode::NOT_FOUND);
    let r = post_form(&app, &cookie, &new, &[("csrf", &csrf), ("url", "https://mine.example.com/")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let theirs = app
        .call(reqwest::Method::GET, &format!("/api/v1/app/{their_app}/endpoint/{their_ep}"), Some(&other), None)
        .await;
    assert_eq!((theirs.status, &theirs.body["url"]), (StatusCode::OK, &json!("https://theirs.example.com/")));

    // Without the session's CSRF token nothing happens.
    let mut paths = vec![format!("/ui/apps/{app_id}/endpoints/new")];
    paths.extend(routes(&app_id, &ep_id));
    for path in paths {
        let form =
            [("csrf", "forged"), ("url", "https://forged.example.com/"), ("code", "function handler(w) { return w; }")];
        let r = post_form(&app, &cookie, &path, &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(!r.text().await.unwrap().contains("whsec_"), "{path}");
    }
    let list = app.get(&format!("/api/v1/app/{app_id}/endpoint")).await.body;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["data"][0]["url"], "https://billing.example.com/hooks");
    assert!(app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/transformation")).await.body["code"].is_null());

    // hookd's own applications change through their faces only: no endpoint forms there.
    app.get("/timers/webhook-secret").await;
    let (status, _, _) = page(&app, &cookie, "/ui/apps/hookd-timers/endpoints/new").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = post_form(&app, &cookie, "/ui/apps/hookd-timers/endpoints/ep_x/secret", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, _, html) = page(&app, &cookie, "/ui/apps/hookd-timers").await;
    assert!(!html.contains("Add endpoint"));
}

#[tokio::test]
async fn the_api_replaces_an_endpoints_headers_in_a_patch() {
    let app = spawn_app().await;
    let (app_id, ep) =
        app.app_with_endpoint("https://billing.example.com/hooks", json!({"headers": {"X-Old": "1"}})).await;
    let base = format!("/api/v1/app/{app_id}/endpoint/{}", ep["id"].as_str().unwrap());
    let r = app.patch(&base, json!({"headers": {"X-Team": "billing"}, "description": "with headers"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.get(&format!("{base}/headers")).await.body["headers"], json!({"X-Team": "billing"}));
    let r = app.patch(&base, json!({"description": "headers left out"})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get(&format!("{base}/headers")).await.body["headers"], json!({"X-Team": "billing"}), "kept");
    let r = app.patch(&base, json!({"headers": {"Bad Header": "x"}, "description": "refused"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "headers"]), "{:?}", r.body);
    assert_eq!(app.get(&base).await.body["description"], "headers left out", "a refused patch changes nothing");
}
