//! The test harness: the real server on a random loopback port with a fresh store, and real HTTP receivers on
//! loopback. The store is a SQLite file in the test's temporary directory, or, with `HOOKD_TEST_STORE=postgres`
//! (`scripts/test.sh` runs the suite a second time so), a PostgreSQL database of the test's own. Waiting is event-driven (a receiver notifies on each request; state is re-read until
//! it holds, within a deadline), never a fixed sleep.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hookd::api::ApiContext;
use hookd::config::Config;
use hookd::server::Server;
use hookd::shutdown::Shutdown;
use serde_json::{json, Value};
use tokio::sync::Notify;

pub mod moto;
pub mod otlp;
pub mod proxy;
pub mod ui;

pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestApp {
    pub base: String,
    pub token: String,
    pub ctx: ApiContext,
    pub http: reqwest::Client,
    shutdown: Shutdown,
    pub dir: tempfile::TempDir,
}

/// Whether the suite runs on PostgreSQL (`HOOKD_TEST_STORE=postgres`) rather than SQLite.
pub fn on_postgres() -> bool {
    std::env::var("HOOKD_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// The PostgreSQL server the suite uses: `HOOKD_TEST_PG` or the machine's own, without a database name.
pub fn postgres_server() -> String {
    std::env::var("HOOKD_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh, empty database: a file in `dir`, or a new PostgreSQL database (`hookd_test_…`, which
/// `scripts/test.sh` drops before each run).
pub fn fresh_database_url(dir: &std::path::Path) -> String {
    if !on_postgres() {
        return format!("sqlite://{}/hookd.db", dir.display());
    }
    let name = format!("hookd_test_{}", hookd::ids::random_token(16).to_lowercase());
    let server = postgres_server();
    let out = std::process::Command::new("psql")
        .args([&format!("{server}/postgres"), "-qAtc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "creating {name}: {}", String::from_utf8_lossy(&out.stderr));
    format!("{server}/{name}")
}

/// A config for tests: loopback allowed, fast retries.
pub fn test_config(dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: fresh_database_url(dir),
        admin_token: Some(format!("test-{}", hookd::ids::random_token(16))),
        allow_private_networks: true,
        retry_schedule: vec![Duration::from_millis(100), Duration::from_millis(200)],
        ..Config::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    tweak(&mut cfg);
    let token = cfg.admin_token.clone().unwrap();
    let server = Server::build(cfg).await.expect("server builds");
    let addr = server.local_addr();
    let ctx = server.context();
    let shutdown = Shutdown::default();
    tokio::spawn(server.run(shutdown.clone()));
    TestApp { base: format!("http://{addr}"), token, ctx, http: reqwest::Client::new(), shutdown, dir }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl TestApp {
    pub async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Resp { status, body, headers }
    }
    pub async fn get(&self, path: &str) -> Resp {
        self.call(reqwest::Method::GET, path, Some(&self.token), None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(reqwest::Method::POST, path, Some(&self.token), Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(reqwest::Method::PUT, path, Some(&self.token), Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(reqwest::Method::PATCH, path, Some(&self.token), Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(reqwest::Method::DELETE, path, Some(&self.token), None).await
    }

    /// A token of a second, separate organization.
    pub async fn other_org_token(&self) -> String {
        let org = self.ctx.store.org_create("other").await.unwrap();
        let token = hookd::api::auth::new_token();
        self.ctx.store.token_insert(hookd::api::auth::hash_token(&token), &org, "t").await.unwrap();
        token
    }

    /// Creates an application and an endpoint at `url` (with extra endpoint fields); returns (app id, endpoint).
    pub async fn app_with_endpoint(&self, url: &str, extra: Value) -> (String, Value) {
        let app = self.post("/api/v1/app", json!({"name": "test"})).await;
        assert_eq!(app.status, 201, "{:?}", app.body);
        let app_id = app.body["id"].as_str().unwrap().to_string();
        let mut ep = json!({"url": url});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                ep[k] = v;
            }
        }
        let ep = self.post(&format!("/api/v1/app/{app_id}/endpoint"), ep).await;
        assert_eq!(ep.status, 201, "{:?}", ep.body);
        (app_id, ep.body)
    }

    pub async fn publish(&self, app_id: &str, event_type: &str, payload: Value) -> Value {
        let r =
            self.post(&format!("/api/v1/app/{app_id}/msg"), json!({"eventType": event_type, "payload": payload})).await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        r.body
    }
}

/// Re-evaluates `check` until it returns Some, or panics after `WAIT`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, WAIT, check).await
}

/// [`eventually`] with a deadline of its own, for waits that are long by design (a dead node's leases).
pub async fn eventually_within<T, F, Fut>(what: &str, wait: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + wait;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A scripted answer: status and extra headers.
type Answer = (u16, Vec<(String, String)>);

#[derive(Default)]
struct ReceiverState {
    got: Mutex<Vec<Received>>,
    /// Answers to give, in order; when empty, 200.
    script: Mutex<VecDeque<Answer>>,
    /// How long to take before answering (a slow receiver).
    delay: Mutex<Duration>,
    notify: Notify,
}

/// A real HTTP receiver on loopback that records every request.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on("127.0.0.1").await
    }

    /// A receiver on another loopback address (`127.0.0.2` …), for egress tests that tell addresses apart.
    pub async fn start_on(ip: &str) -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let s = state.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                let answer = s.script.lock().unwrap().pop_front();
                s.got.lock().unwrap().push(Received { headers, body, at: Instant::now() });
                s.notify.notify_waiters();
                let delay = *s.delay.lock().unwrap();
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let (status, extra) = answer.unwrap_or((200, vec![]));
                let mut resp = axum::response::Response::new(axum::body::Body::from("ok"));
                *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                for (k, v) in extra {
                    resp.headers_mut().insert(axum::http::HeaderName::try_from(k).unwrap(), v.parse().unwrap());
                }
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url: format!("http://{addr}/hook"), addr, state }
    }

    /// The next answers, in order (then 200 again).
    pub fn answer(&self, status: u16, times: usize) {
        self.answer_with(status, vec![], times);
    }

    pub fn answer_with(&self, status: u16, headers: Vec<(&str, &str)>, times: usize) {
        let mut script = self.state.script.lock().unwrap();
        for _ in 0..times {
            script.push_back((status, headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()));
        }
    }

    /// Makes the receiver take `delay` before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.state.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let got = self.state.got.lock().unwrap();
                if got.len() >= n {
                    return got.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {n} requests; got {}", self.state.got.lock().unwrap().len());
            }
        }
    }
}

/// Runs a verification script (Python or Node) with `input` as JSON on stdin; returns (success, output).
pub fn run_script(program: &str, script: &str, input: &Value) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(program)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {program} {script}: {e}"));
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The Python with the cross-check packages (svix, standardwebhooks), installed by `scripts/test.sh`.
pub fn python() -> String {
    if let Ok(p) = std::env::var("HOOKD_TEST_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    assert!(
        std::path::Path::new(venv).exists(),
        "no {venv}: run the tests with scripts/test.sh, which installs the Python packages"
    );
    venv.to_string()
}

/// A file of `../shared` (the seeds, Svix's OpenAPI document), which sits beside the project.
pub fn shared(name: &str) -> String {
    format!("{}/../shared/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn script(name: &str) -> String {
    format!("{}/tests/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The real `hookd` binary, started as a user would.
pub struct HookdProcess {
    pub child: std::process::Child,
    pub base: String,
}

impl HookdProcess {
    /// Starts `hookd serve` on the database `url` (see [`fresh_database_url`]) and `port` with `env`, and waits
    /// until it answers.
    pub async fn start(url: &str, port: u16, env: &[(&str, &str)]) -> HookdProcess {
        Self::start_with(port, |cmd| {
            cmd.arg("serve").env("HOOKD_LISTEN", format!("127.0.0.1:{port}")).env("HOOKD_DATABASE_URL", url);
            for (k, v) in env {
                cmd.env(k, v);
            }
        })
        .await
    }

    pub async fn start_with(port: u16, setup: impl FnOnce(&mut std::process::Command)) -> HookdProcess {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"));
        cmd.env_remove("HOOKD_ADMIN_TOKEN").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
        setup(&mut cmd);
        let child = cmd.spawn().expect("hookd starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        eventually("hookd to answer", || {
            let (client, url) = (client.clone(), format!("{base}/api/v1/health/ping"));
            async move { client.get(url).send().await.ok().filter(|r| r.status() == 204).map(|_| ()) }
        })
        .await;
        HookdProcess { child, base }
    }

    /// Sends SIGTERM and waits (at most `EXIT_WAIT`) for the exit; returns whether it exited cleanly, and what
    /// it printed.
    pub fn terminate(mut self) -> (bool, String) {
        const EXIT_WAIT: Duration = Duration::from_secs(30);
        let pid = self.child.id().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let mut stdout = self.child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
            let _ = tx.send(out);
        });
        let out =
            rx.recv_timeout(EXIT_WAIT).unwrap_or_else(|_| panic!("hookd still running {EXIT_WAIT:?} after SIGTERM"));
        let status = self.child.wait().unwrap();
        (status.success(), out)
    }
}

impl Drop for HookdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `POST {base}{path}` with a bearer token and a JSON body; returns the JSON answer.
pub async fn post_json(base: &str, token: &str, path: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Several `hookd serve` processes on one fresh PostgreSQL database, each on its own port.
pub struct Cluster {
    pub url: String,
    pub nodes: Vec<Option<HookdProcess>>,
    pub token: &'static str,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes with `env` (the admin token and loopback egress are set already).
    pub async fn start(n: usize, env: &[(&str, &str)]) -> Cluster {
        assert!(on_postgres(), "a cluster shares a PostgreSQL database");
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database_url(dir.path());
        let token = "cluster-token";
        let mut all = vec![("HOOKD_ADMIN_TOKEN", token), ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true")];
        all.extend_from_slice(env);
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(Some(HookdProcess::start(&url, free_port(), &all).await));
        }
        Cluster { url, nodes, token, _dir: dir }
    }

    pub fn base(&self, node: usize) -> String {
        self.nodes[node].as_ref().expect("node is running").base.clone()
    }

    /// Kills node `i` with SIGKILL, as a crash would.
    pub fn kill(&mut self, i: usize) {
        let mut node = self.nodes[i].take().expect("node is running");
        assert!(std::process::Command::new("kill")
            .args(["-9", &node.child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let _ = node.child.wait();
    }

    pub async fn call(&self, node: usize, method: reqwest::Method, path: &str, body: Option<Value>) -> Resp {
        let mut req =
            reqwest::Client::new().request(method, format!("{}{path}", self.base(node))).bearer_auth(self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        Resp { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), headers }
    }

    pub async fn post(&self, node: usize, path: &str, body: Value) -> Resp {
        self.call(node, reqwest::Method::POST, path, Some(body)).await
    }
}
