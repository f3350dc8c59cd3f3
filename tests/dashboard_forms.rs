//! The dashboard's forms for applications, in Debian's Chromium (driven by npm `playwright-core`) and over plain
//! HTTP: what a form creates, changes and deletes is what the API would, and a refusal is shown on the form.

mod common;

use axum::http::StatusCode;
use common::ui::*;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn browser_creates_edits_and_deletes_an_application() {
    ui::assert_browser_ready();
    let app = spawn_app().await;
    let input = json!({ "base": app.base, "token": app.token, "screenshots": std::env::var("HOOKD_SCREENSHOTS").ok() });
    let (ok, out) = run_script("node", &script("node/dashboard_app_forms.mjs"), &input);
    assert!(ok, "the browser flow failed:\n{out}");
    assert!(out.contains("app forms flow passed"), "{out}");
    let app_id = out.lines().find_map(|l| l.strip_prefix("app: ")).expect("the flow names the application");
    assert_eq!(app.get(&format!("/api/v1/app/{app_id}")).await.status, 404, "deleted through the API too");
}

#[tokio::test]
async fn a_created_application_is_the_apis_and_an_edit_clears_what_was_blanked() {
    let app = spawn_app().await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let (_, _, html) = page(&app, &cookie, "/ui/apps/new").await;
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Globex"),
        ("uid", "globex"),
        ("rateLimit", "15"),
        ("messageRetentionPeriod", "30"),
        ("metadata", "plan = pro\n\nregion=eu"),
    ];
    let r = post_form(&app, &cookie, "/ui/apps/new", &form).await;
    assert_eq!(r.status(), 303);
    let got = app.get("/api/v1/app/globex").await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["name"], "Globex");
    assert_eq!(got.body["throttleRate"], 15, "{:?}", got.body);
    assert_eq!(got.body["messageRetentionPeriod"], 30, "{:?}", got.body);
    assert_eq!(got.body["metadata"], json!({"plan": "pro", "region": "eu"}));
    let id = got.body["id"].as_str().unwrap();
    assert_eq!(r.headers()["location"], format!("/ui/apps/{id}?done=app-created"));

    let form = [("csrf", csrf.as_str()), ("name", "Globex Inc"), ("uid", ""), ("rateLimit", ""), ("metadata", "")];
    let r = post_form(&app, &cookie, &format!("/ui/apps/{id}/edit"), &form).await;
    assert_eq!(r.status(), 303);
    let got = app.get(&format!("/api/v1/app/{id}")).await;
    assert_eq!(got.body["name"], "Globex Inc");
    assert!(got.body["uid"].is_null() && got.body["throttleRate"].is_null(), "{:?}", got.body);
    assert_eq!(got.body["metadata"], json!({}));
}

#[tokio::test]
async fn a_refused_form_is_drawn_again_with_the_message_beside_the_field() {
    let app = spawn_app().await;
    app.post("/api/v1/app", json!({"name": "First", "uid": "taken"})).await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let (_, _, html) = page(&app, &cookie, "/ui/apps/new").await;
    let csrf = csrf_of(&html);
    // A uid hookd keeps for itself: the API's 422 names `uid`.
    let r =
        post_form(&app, &cookie, "/ui/apps/new", &[("csrf", &csrf), ("name", "Mine"), ("uid", "hookd-timers")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    let beside_uid = html.split("id=\"err-uid\"").nth(1).expect("a message beside the uid");
    assert!(beside_uid.split("</p>").next().unwrap().contains("hookd"), "{html}");
    assert!(html.contains("value=\"Mine\""), "what was typed is kept");
    assert!(html.contains("aria-current=\"page\">Applications"), "the navigation, Applications current");
    // A rate limit out of the API's range: its message is beside it too, not a bare 422 page.
    let r =
        post_form(&app, &cookie, "/ui/apps/new", &[("csrf", &csrf), ("name", "Mine"), ("rateLimit", "70000")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"err-rateLimit\""));
    // A uid that is taken: the store's conflict, above the form.
    let r = post_form(&app, &cookie, "/ui/apps/new", &[("csrf", &csrf), ("name", "Mine"), ("uid", "taken")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"form-errors\""), "{html}");
    assert_eq!(app.get("/api/v1/app?limit=50").await.body["data"].as_array().unwrap().len(), 1, "nothing created");
}

#[tokio::test]
async fn forms_need_the_csrf_token_and_hookds_own_applications_are_not_editable() {
    let app = spawn_app().await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let r = post_form(&app, &cookie, "/ui/apps/new", &[("csrf", "forged"), ("name", "Sneaky")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/app").await.body["data"].as_array().unwrap().len(), 0);
    // The timers' application exists once a timer's organization asks for its key.
    app.get("/timers/webhook-secret").await;
    let (status, _, _) = page(&app, &cookie, "/ui/apps/hookd-timers/edit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, html) = page(&app, &cookie, "/ui/apps/new").await;
    let r = post_form(&app, &cookie, "/ui/apps/hookd-timers/delete", &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/app/hookd-timers").await.status, 200, "still there");
}

#[tokio::test]
async fn unknown_ids_are_a_not_found_page_with_the_navigation() {
    let app = spawn_app().await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let (status, kind, html) = page(&app, &cookie, "/ui/apps/app_nope/edit").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(kind.starts_with("text/html"));
    assert!(html.contains("application `app_nope` not found"), "{html}");
    assert!(html.contains("href=\"/ui/inbound\""), "the navigation is there: {html}");
    assert!(html.contains("action=\"/ui/logout\""), "and the logout");
    // Signed out, the same page has no navigation (and leaks nothing).
    let r = client().get(format!("{}/ui/apps/app_nope", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_form_over_the_body_limit_is_a_413_page_that_names_the_limit() {
    let app = spawn_app_with(|c| c.max_body_bytes = 64 * 1024).await;
    let (cookie, _) = log_in(&app, &app.token).await;
    let (_, _, html) = page(&app, &cookie, "/ui/apps/new").await;
    let name = "a".repeat(100 * 1024);
    let r = post_form(&app, &cookie, "/ui/apps/new", &[("csrf", &csrf_of(&html)), ("name", &name)]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let html = r.text().await.unwrap();
    assert!(html.contains("65536 bytes") && html.contains("HOOKD_MAX_BODY_BYTES"), "{html}");
    assert!(html.contains("action=\"/ui/logout\""), "the navigation stays");
    assert_eq!(app.get("/api/v1/app").await.body["data"].as_array().unwrap().len(), 0, "nothing created");
}
