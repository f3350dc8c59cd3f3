//! The dashboard over plain HTTP: a session's cookie, its pages and its forms, without following redirects.

use axum::http::StatusCode;

use super::TestApp;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Logs in with `token`; returns the `Cookie` header value and the whole login answer's `Set-Cookie`.
pub async fn log_in(app: &TestApp, token: &str) -> (String, String) {
    let r = client().post(format!("{}/ui/login", app.base)).form(&[("token", token)]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let pair = set.split(';').next().unwrap().to_string();
    (pair, set)
}

pub async fn page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String, String) {
    let r = client().get(format!("{}{path}", app.base)).header("cookie", cookie).send().await.unwrap();
    let status = r.status();
    let kind = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, kind, r.text().await.unwrap())
}

pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with the CSRF token") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

pub async fn post_form(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client().post(format!("{}{path}", app.base)).header("cookie", cookie).form(form).send().await.unwrap()
}

/// Fails at once, saying what to install, when the browser tests' Chromium or playwright-core is missing.
pub fn assert_browser_ready() {
    const CHROMIUM: &str = "/usr/bin/chromium";
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium package"
    );
    assert!(
        std::path::Path::new(&super::script("node/node_modules/playwright-core")).exists(),
        "playwright-core is missing: run `npm ci --prefix tests/node` (scripts/test.sh does)"
    );
}
