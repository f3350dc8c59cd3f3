//! Bots (seed 003, docs/bots.md) end to end: the seed's own flows against real bot servers started as child
//! processes — the seed's Node and Python quick starts run as written (tests/node/bots/quickstart.cjs,
//! tests/py/bots/quickstart.py), and a richer Python bot for buttons and modals (tests/py/bots/workflow_bot.py),
//! each verifying signatures with the seed's recipe — plus recording receivers where the test itself reads the
//! deliveries. Waiting is for events (a message in a channel's history, a request at a receiver), never a fixed
//! sleep.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const NODE_QUICKSTART: &str = "node/bots/quickstart.cjs";
const PY_QUICKSTART: &str = "py/bots/quickstart.py";
const PY_WORKFLOW: &str = "py/bots/workflow_bot.py";

const ALL_EVENT_TYPES: [&str; 10] = [
    "message.sent",
    "message.edited",
    "message.deleted",
    "message.reaction",
    "member.joined",
    "member.left",
    "channel.created",
    "channel.updated",
    "slash_command",
    "interactive.action",
];

// ───────────────────────────── helpers ─────────────────────────────

/// A registered bot, from the registration answer.
#[derive(Clone, Debug)]
struct Bot {
    id: String,
    app_id: String,
    token: String,
    secret: String,
    incoming: String,
    username: String,
    user_id: String,
    body: Value,
}

impl Bot {
    fn from(v: &Value) -> Bot {
        let s = |x: &Value| x.as_str().unwrap_or_else(|| panic!("missing string in {v}")).to_string();
        Bot {
            id: s(&v["bot_id"]),
            app_id: s(&v["app_id"]),
            token: s(&v["credentials"]["bot_token"]),
            secret: s(&v["credentials"]["webhook_secret"]),
            incoming: s(&v["credentials"]["incoming_webhook_url"]),
            username: s(&v["username"]),
            user_id: s(&v["bot_user_id"]),
            body: v.clone(),
        }
    }
}

async fn register(app: &TestApp, body: Value) -> Bot {
    let r = app.post("/api/v1/bots", body).await;
    assert_eq!(r.status, 201, "registering a bot: {:?}", r.body);
    Bot::from(&r.body)
}

fn ok(r: &Resp, what: &str) {
    assert!(r.status.is_success() && r.body["ok"] == true, "{what}: {} {:?}", r.status, r.body);
}

fn err(r: &Resp, status: u16, error: &str, what: &str) {
    assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
    assert_eq!(r.body["ok"], false, "{what}: {:?}", r.body);
    assert_eq!(r.body["error"], error, "{what}: {:?}", r.body);
}

async fn as_(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app.call(method, path, Some(token), body).await
}

async fn post_as(app: &TestApp, token: &str, path: &str, body: Value) -> Resp {
    as_(app, token, Method::POST, path, Some(body)).await
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> Resp {
    as_(app, token, Method::GET, path, None).await
}

/// The path of one of hookd's own absolute URLs (incoming webhook, response_url), checking it is hookd's.
fn path_of<'a>(app: &TestApp, url: &'a str) -> &'a str {
    url.strip_prefix(&app.base).unwrap_or_else(|| panic!("{url} is not under hookd's URL {}", app.base))
}

/// POSTs to one of hookd's absolute URLs without a token.
async fn post_url(app: &TestApp, url: &str, body: Value) -> Resp {
    app.call(Method::POST, path_of(app, url), None, Some(body)).await
}

/// A request with a raw body.
async fn raw(app: &TestApp, path: &str, token: Option<&str>, body: &'static str) -> Resp {
    let mut req = app.http.post(format!("{}{path}", app.base)).header("content-type", "application/json").body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp { status, body, headers }
}

/// Creates a channel with the admin token; returns its id.
async fn channel(app: &TestApp, name: &str, kind: &str) -> String {
    let r = app.post("/api/v1/channels.create", json!({"name": name, "type": kind})).await;
    ok(&r, "channels.create");
    assert_eq!(r.body["channel"]["name"], name);
    assert_eq!(r.body["channel"]["type"], kind);
    r.body["channel"]["channel_id"].as_str().unwrap().to_string()
}

async fn install(app: &TestApp, bot: &Bot, channel_id: &str) {
    let r = app.post(&format!("/api/v1/bots/{}/install", bot.id), json!({"channel_id": channel_id})).await;
    ok(&r, "install");
    assert_eq!(r.body["bot_id"], bot.id.as_str());
    assert_eq!(r.body["channel_id"], channel_id);
}

/// Creates a user; returns (user id, token).
async fn user(app: &TestApp, username: &str) -> (String, String) {
    let display = format!("{}{} Smith", username[..1].to_uppercase(), &username[1..]);
    let r = app.post("/api/v1/users", json!({"username": username, "display_name": display})).await;
    assert_eq!(r.status, 201, "creating user {username}: {:?}", r.body);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["user"]["username"], username);
    assert_eq!(r.body["user"]["is_bot"], false);
    (r.body["user"]["user_id"].as_str().unwrap().to_string(), r.body["token"].as_str().unwrap().to_string())
}

async fn join(app: &TestApp, token: &str, channel_id: &str) {
    ok(&post_as(app, token, "/api/v1/channels.join", json!({"channel_id": channel_id})).await, "channels.join");
}

/// A new user who has joined `channel_id`: (user id, token).
async fn member(app: &TestApp, username: &str, channel_id: &str) -> (String, String) {
    let (id, token) = user(app, username).await;
    join(app, &token, channel_id).await;
    (id, token)
}

/// A bot registered with `body` and installed in a public channel `general`, which user alice has joined:
/// (the bot, the channel id, alice's token).
async fn bot_with_alice(app: &TestApp, body: Value) -> (Bot, String, String) {
    let bot = register(app, body).await;
    let ch = channel(app, "general", "public").await;
    install(app, &bot, &ch).await;
    let (_, alice) = member(app, "alice", &ch).await;
    (bot, ch, alice)
}

/// Posts a message; returns its id.
async fn say(app: &TestApp, token: &str, channel_id: &str, text: &str) -> String {
    let r = post_as(app, token, "/api/v1/chat.postMessage", json!({"channel_id": channel_id, "text": text})).await;
    ok(&r, "chat.postMessage");
    assert_eq!(r.body["channel_id"], channel_id);
    assert!(r.body["ts"].is_string(), "{:?}", r.body);
    r.body["message_id"].as_str().unwrap().to_string()
}

async fn history(app: &TestApp, token: &str, channel_id: &str) -> Vec<Value> {
    let r = get_as(app, token, &format!("/api/v1/channels.history?channel_id={channel_id}&limit=100")).await;
    ok(&r, "channels.history");
    r.body["messages"].as_array().unwrap().clone()
}

/// The seed's quick-start bots answer a mention with this greeting, seen in `token`'s history.
async fn quick_start_greeting(app: &TestApp, token: &str, channel_id: &str, server: &BotServer) -> Value {
    let greeting = text_is("Hello! How can I help?");
    wait_message(app, token, channel_id, "the bot's answer to the mention", Some(server), greeting).await
}

/// Waits until `token`'s history of the channel has a message matching `pred`; on timeout shows the history
/// and the bot server's output.
async fn wait_message(
    app: &TestApp,
    token: &str,
    channel_id: &str,
    what: &str,
    server: Option<&BotServer>,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let h = history(app, token, channel_id).await;
        if let Some(m) = h.iter().find(|m| pred(m)) {
            return m.clone();
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}\nhistory: {}\nbot server output:\n{}",
                serde_json::to_string_pretty(&h).unwrap(),
                server.map(|s| s.output()).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn text_is(text: &'static str) -> impl Fn(&Value) -> bool {
    move |m: &Value| m["text"] == text
}

/// Waits until the receiver has a request matching `pred`.
async fn wait_request(recv: &Receiver, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
    eventually(what, || async { recv.received().into_iter().find(|r| pred(r)) }).await
}

fn event_type_is(t: &'static str) -> impl Fn(&Received) -> bool {
    move |r: &Received| r.header("x-event-type") == t
}

/// The input of a tests/recipes verification script for a received delivery.
fn recipe_input(got: &Received, secret: &str) -> Value {
    let headers: serde_json::Map<String, Value> =
        got.headers.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap().to_string()))).collect();
    json!({"body": String::from_utf8(got.body.to_vec()).unwrap(), "headers": headers, "secret": secret})
}

/// Checks a delivery with the seed's Python and Node recipes: accepted with the bot's secret, refused with
/// another.
fn assert_seed_recipes_verify(got: &Received, secret: &str) {
    for (program, recipe) in [(python(), "recipes/chat_verify.py"), ("node".to_string(), "recipes/chat_verify.js")] {
        let (good, out) = run_script(&program, &script(recipe), &recipe_input(got, secret));
        assert!(good, "{recipe} refused hookd's signature: {out}");
        let (bad, _) = run_script(&program, &script(recipe), &recipe_input(got, "whsec_not_the_secret"));
        assert!(!bad, "{recipe} accepted a signature with the wrong secret");
    }
}

/// A bot server (Node or Python) run as a child process on its own port; killed on drop.
struct BotServer {
    child: Child,
    log: PathBuf,
    base: String,
}

impl BotServer {
    async fn start(app: &TestApp, program: &str, bot_script: &str, port: u16, bot: &Bot) -> BotServer {
        let log = app.dir.path().join(format!("bot-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(program)
            .arg(script(bot_script))
            .env("PORT", port.to_string())
            .env("WEBHOOK_SECRET", &bot.secret)
            .env("BOT_TOKEN", &bot.token)
            .env("INCOMING_WEBHOOK_URL", &bot.incoming)
            .env("API_BASE", &app.base)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program} {bot_script}: {e}"));
        let deadline = Instant::now() + WAIT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{bot_script} exited ({status}):\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "{bot_script} did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        BotServer { child, log, base: format!("http://127.0.0.1:{port}") }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The events the workflow bot accepted (it shows them on GET /events).
    async fn accepted(&self) -> Vec<Value> {
        let v: Value = reqwest::get(format!("{}/events", self.base)).await.unwrap().json().await.unwrap();
        v["accepted"].as_array().unwrap().clone()
    }

    async fn rejected(&self) -> usize {
        let v: Value = reqwest::get(format!("{}/events", self.base)).await.unwrap().json().await.unwrap();
        v["rejected"].as_array().unwrap().len()
    }

    async fn wait_event(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.accepted().await.into_iter().find(|e| pred(e)) {
                return e;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for the bot to receive {what}\nbot output:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for BotServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn deploy_command() -> Value {
    json!({
        "command": "deploy",
        "description": "Trigger a deployment",
        "usage": "/deploy <environment> <version>",
        "options": [
            {"name": "environment", "type": "string", "required": true, "choices": ["staging", "production"]},
            {"name": "version", "type": "string", "required": true}
        ]
    })
}

fn header_u64(r: &Resp, name: &str, what: &str) -> u64 {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("{what}: no {name} on a {} answer: {:?}", r.status, r.headers))
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{what}: {name} is not a number: {e}"))
}

/// Sends requests until the first 429 (a bounded number): every answer carries the X-RateLimit headers with
/// `limit`, Remaining counts down by one per accepted request (a new window, should one start mid-burst, is
/// seen as Remaining going up), and the 429 comes exactly when Remaining reached 0, with Retry-After and the
/// seed's body. Returns the 429.
async fn exhaust<F, Fut>(what: &str, limit: u64, mut send: F) -> Resp
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    let mut prev: Option<u64> = None;
    // Every request before the 429 was accepted, so the 429's index is how many were.
    for i in 0..3 * limit {
        let accepted = i;
        let r = send(i).await;
        let l = header_u64(&r, "x-ratelimit-limit", what);
        let rem = header_u64(&r, "x-ratelimit-remaining", what);
        let reset = header_u64(&r, "x-ratelimit-reset", what);
        assert_eq!(l, limit, "{what}: X-RateLimit-Limit");
        let now = chrono::Utc::now().timestamp() as u64;
        assert!(
            reset + 1 >= now && reset <= now + 61,
            "{what}: X-RateLimit-Reset {reset} is not within a minute of {now}"
        );
        if r.status == 429 {
            assert_eq!(
                prev,
                Some(0),
                "{what}: 429 after {accepted} accepted, before Remaining reached 0: {:?}",
                r.body
            );
            assert!(accepted >= limit, "{what}: only {accepted} accepted");
            assert_eq!(rem, 0, "{what}: Remaining on the 429");
            let retry = header_u64(&r, "retry-after", what);
            assert!((1..=60).contains(&retry), "{what}: Retry-After {retry}");
            assert_eq!(r.body, json!({"ok": false, "error": "rate_limited", "retry_after": retry}), "{what}");
            return r;
        }
        assert!(r.status.is_success(), "{what}: request {i} refused: {} {:?}", r.status, r.body);
        match prev {
            None => assert_eq!(rem, limit - 1, "{what}: Remaining after the first request"),
            Some(p) if rem > p => {} // a new window began
            Some(p) => assert_eq!(rem, p - 1, "{what}: Remaining after request {i}"),
        }
        prev = Some(rem);
    }
    panic!("{what}: no 429 after {} requests", 3 * limit)
}

// ───────────────────────────── the seed's quick starts ─────────────────────────────

/// Seed 12.1 run as written: a mention answered through the incoming webhook, then /deploy with the immediate
/// ephemeral acknowledgment and the delayed in_channel answer through response_url.
#[tokio::test]
async fn node_quick_start_answers_a_mention_and_deploys_with_an_immediate_and_a_delayed_answer() {
    let app = spawn_app().await;
    let port = free_port();
    let bot = register(
        &app,
        json!({
            "name": "CI/CD Bot",
            "description": "Reports build and deployment status",
            "icon_url": "https://example.com/bot-icon.png",
            "scopes": ["messages:write", "channels:read", "users:read"],
            "webhook_url": format!("http://127.0.0.1:{port}/webhook"),
            "webhook_events": ["message.sent", "slash_command"],
            "slash_commands": [deploy_command()],
        }),
    )
    .await;
    assert_eq!(bot.username, "cicd-bot");
    assert!(bot.token.starts_with("xbot-"), "{}", bot.token);
    let server = BotServer::start(&app, "node", NODE_QUICKSTART, port, &bot).await;

    let ch = channel(&app, "engineering", "public").await;
    install(&app, &bot, &ch).await;
    let (_, alice) = member(&app, "alice", &ch).await;
    let (_, bob) = member(&app, "bob", &ch).await;

    let mention = say(&app, &alice, &ch, "Hello @cicd-bot /deploy production v1.2.3").await;
    let answer = quick_start_greeting(&app, &bob, &ch, &server).await;
    assert_eq!(answer["user_id"], bot.user_id.as_str(), "{answer}");
    assert_eq!(answer["username"], "cicd-bot", "{answer}");
    assert_eq!(answer["is_bot"], true, "{answer}");
    let h = history(&app, &bob, &ch).await;
    let pos = |id: &Value| h.iter().position(|m| &m["message_id"] == id).unwrap();
    assert!(pos(&answer["message_id"]) < pos(&json!(mention)), "newest first: the answer is above the mention");
    assert_eq!(h.iter().filter(|m| m["text"] == "Hello! How can I help?").count(), 1, "answered once");

    // /deploy: the bot's direct answer comes back in the invoke's answer.
    let r = post_as(
        &app,
        &alice,
        "/api/v1/commands.invoke",
        json!({"channel_id": ch, "command": "/deploy production v1.2.3"}),
    )
    .await;
    ok(&r, "commands.invoke /deploy");
    assert_eq!(r.body["response"]["response_type"], "ephemeral", "{:?}\n{}", r.body, server.output());
    assert_eq!(r.body["response"]["text"], "Starting deployment...", "{:?}", r.body);
    // The delayed answer, posted through response_url, is in the channel for everyone.
    let done = wait_message(
        &app,
        &bob,
        &ch,
        "the delayed deployment answer",
        Some(&server),
        text_is("Deployment complete: production v1.2.3"),
    )
    .await;
    assert_eq!(done["user_id"], bot.user_id.as_str(), "{done}");
    assert_eq!(done["response_type"], "in_channel", "{done}");
    wait_message(
        &app,
        &alice,
        &ch,
        "the delayed answer for alice",
        Some(&server),
        text_is("Deployment complete: production v1.2.3"),
    )
    .await;
    // The ephemeral acknowledgment is alice's only.
    let ack =
        wait_message(&app, &alice, &ch, "alice's ephemeral ack", Some(&server), text_is("Starting deployment..."))
            .await;
    assert_eq!(ack["response_type"], "ephemeral", "{ack}");
    assert!(
        !history(&app, &bob, &ch).await.iter().any(|m| m["text"] == "Starting deployment..."),
        "an ephemeral answer is in the history of the invoking user only"
    );

    // Arguments are checked against the command's options before the bot is asked.
    for bad in ["/deploy moon v1", "/deploy production", "/deploy"] {
        let r = post_as(&app, &alice, "/api/v1/commands.invoke", json!({"channel_id": ch, "command": bad})).await;
        err(&r, 422, "invalid_arguments", bad);
        assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{bad}: {:?}", r.body);
        assert_eq!(r.body["usage"], "/deploy <environment> <version>", "{bad}: {:?}", r.body);
    }
    let r = post_as(&app, &alice, "/api/v1/commands.invoke", json!({"channel_id": ch, "command": "/nope now"})).await;
    err(&r, 404, "command_not_found", "an unknown command");
}

/// Seed 12.2 run as written: a mention answered through the incoming webhook, /status answered in_channel.
#[tokio::test]
async fn python_quick_start_answers_a_mention_and_status_in_channel() {
    let app = spawn_app().await;
    let port = free_port();
    let bot = register(
        &app,
        json!({
            "name": "Status Bot",
            "scopes": ["messages:write", "channels:read"],
            "webhook_url": format!("http://127.0.0.1:{port}/webhook"),
            "slash_commands": [{"command": "status", "description": "Check deployment status", "usage": "/status [environment]"}],
        }),
    )
    .await;
    assert_eq!(bot.username, "status-bot");
    let server = BotServer::start(&app, &python(), PY_QUICKSTART, port, &bot).await;

    let ch = channel(&app, "ops", "public").await;
    install(&app, &bot, &ch).await;
    let (_, alice) = member(&app, "alice", &ch).await;
    let (_, bob) = member(&app, "bob", &ch).await;

    say(&app, &alice, &ch, "hey @status-bot, are you there?").await;
    let answer = quick_start_greeting(&app, &bob, &ch, &server).await;
    assert_eq!(answer["user_id"], bot.user_id.as_str(), "{answer}");
    assert_eq!(answer["is_bot"], true);

    let r = post_as(&app, &alice, "/api/v1/commands.invoke", json!({"channel_id": ch, "command": "/status"})).await;
    ok(&r, "commands.invoke /status");
    assert_eq!(r.body["response"]["response_type"], "in_channel", "{:?}\n{}", r.body, server.output());
    assert_eq!(r.body["response"]["text"], "All systems operational ✅", "{:?}", r.body);
    let shown =
        wait_message(&app, &bob, &ch, "the /status answer", Some(&server), text_is("All systems operational ✅")).await;
    assert_eq!(shown["user_id"], bot.user_id.as_str(), "{shown}");
    if let Some(id) = r.body["response"]["message_id"].as_str() {
        assert_eq!(shown["message_id"], id);
    }
    // A message that mentions nobody gets no answer: after a second mention's answer, still exactly two answers.
    say(&app, &alice, &ch, "just chatting").await;
    say(&app, &alice, &ch, "@status-bot again").await;
    eventually("the second answer", || async {
        let n = history(&app, &bob, &ch).await.iter().filter(|m| m["text"] == "Hello! How can I help?").count();
        (n >= 2).then_some(())
    })
    .await;
    let n = history(&app, &bob, &ch).await.iter().filter(|m| m["text"] == "Hello! How can I help?").count();
    assert_eq!(n, 2, "one answer per mention\n{}", server.output());
}

// ───────────────────────────── outgoing webhooks ─────────────────────────────

/// The seed's headers and body, signed so that the seed's Python and Node recipes verify them.
#[tokio::test]
async fn outgoing_webhook_headers_body_and_signature_follow_the_seed() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let bot = register(
        &app,
        json!({"name": "Audit Bot", "scopes": ["messages:write"], "webhook_url": recv.url, "webhook_events": ["message.sent"]}),
    )
    .await;
    let ch = channel(&app, "general", "public").await;
    install(&app, &bot, &ch).await;
    let (alice_id, alice) = member(&app, "alice", &ch).await;
    let (bob_id, bob) = member(&app, "bob", &ch).await;

    let text = "Hello @audit-bot and @bob: ünïcödé \"quotes\" <tags> & /slashes/ ✅";
    let mid = say(&app, &alice, &ch, text).await;
    let got = wait_request(&recv, "the message.sent delivery", |r| {
        serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["payload"]["message_id"] == mid.as_str())
    })
    .await;
    let b = got.json();

    assert_eq!(got.header("x-webhook-id"), b["webhook_id"].as_str().unwrap(), "X-Webhook-ID = webhook_id");
    assert!(!got.header("x-webhook-id").is_empty());
    assert_eq!(got.header("x-event-type"), "message.sent");
    assert_eq!(got.header("x-bot-id"), bot.id);
    assert!(!got.header("x-request-id").is_empty(), "X-Request-ID");
    assert_eq!(got.header("user-agent"), "ChatPlatform-Webhook/1.0");
    assert!(got.header("content-type").starts_with("application/json"), "{}", got.header("content-type"));
    assert!(got.header("x-webhook-signature").starts_with("sha256="));
    let ts = got.header("x-webhook-timestamp");
    let parsed = chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("X-Webhook-Timestamp {ts}: {e}"));
    let frac = ts.split_once('.').map(|(_, f)| f.chars().take_while(|c| c.is_ascii_digit()).count());
    assert_eq!(frac, Some(3), "X-Webhook-Timestamp with milliseconds: {ts}");
    assert!((chrono::Utc::now() - parsed.with_timezone(&chrono::Utc)).num_seconds().abs() < 60, "fresh: {ts}");
    // The Standard Webhooks headers travel beside the seed's.
    let std_sig = [got.header("svix-signature"), got.header("webhook-signature")].concat();
    assert!(std_sig.starts_with("v1,"), "Standard Webhooks signature: {:?}", got.headers);

    // The body (5.2).
    assert!(b["event_id"].as_str().is_some_and(|s| !s.is_empty()), "{b}");
    assert_eq!(b["event_type"], "message.sent");
    assert_eq!(b["bot_id"], bot.id.as_str());
    assert!(chrono::DateTime::parse_from_rfc3339(b["timestamp"].as_str().unwrap()).is_ok(), "{b}");
    assert_eq!(b["channel"], json!({"channel_id": ch, "name": "general", "type": "public"}));
    assert_eq!(
        b["sender"],
        json!({"user_id": alice_id, "username": "alice", "display_name": "Alice Smith", "is_bot": false})
    );
    assert_eq!(b["payload"]["message_id"], mid.as_str());
    assert_eq!(b["payload"]["text"], text);
    assert_eq!(b["payload"]["attachments"], json!([]));
    assert_eq!(b["payload"]["thread_id"], Value::Null);
    let mut mentions = b["payload"]["mentions"].as_array().unwrap().clone();
    mentions.sort_by_key(|m| m["type"].as_str().unwrap().to_string());
    assert_eq!(
        mentions,
        vec![json!({"user_id": bot.user_id, "type": "bot"}), json!({"user_id": bob_id, "type": "user"})],
        "{b}"
    );

    // The seed's recipes (Python over the raw body; Node over JSON.stringify of the parsed body, so the body
    // must be compact JSON) accept it, and refuse another secret.
    assert_seed_recipes_verify(&got, &bot.secret);

    // Another event: another webhook_id and event_id.
    let mid2 = say(&app, &bob, &ch, "second").await;
    let got2 = wait_request(&recv, "the second delivery", |r| {
        serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["payload"]["message_id"] == mid2.as_str())
    })
    .await;
    assert_ne!(got2.header("x-webhook-id"), got.header("x-webhook-id"));
    assert_ne!(got2.json()["event_id"], b["event_id"]);
}

/// A failing bot is retried on the bot schedule, every attempt the same event; after the last one the
/// delivery is a dead letter, listed by the Svix API.
#[tokio::test]
async fn failing_bot_is_retried_on_the_schedule_then_dead_lettered() {
    let app =
        spawn_app_with(|c| c.bot_retry_schedule = vec![Duration::from_millis(300), Duration::from_millis(600)]).await;
    let recv = Receiver::start().await;
    recv.answer(500, 3);
    let (bot, ch, alice) = bot_with_alice(&app, json!({"name": "Flaky Bot", "scopes": ["messages:write"], "webhook_url": recv.url, "webhook_events": ["message.sent"]})).await;
    say(&app, &alice, &ch, "is anyone there").await;

    let got = recv.wait_for(3).await;
    for g in &got[1..] {
        assert_eq!(g.header("x-webhook-id"), got[0].header("x-webhook-id"), "every attempt is the same webhook");
        assert_eq!(g.body, got[0].body, "every attempt has the same body");
    }
    let (gap1, gap2) = (got[1].at - got[0].at, got[2].at - got[1].at);
    assert!(gap1 >= Duration::from_millis(240), "first retry after {gap1:?}, schedule says 300 ms");
    assert!(gap2 >= Duration::from_millis(480), "second retry after {gap2:?}, schedule says 600 ms");
    assert_seed_recipes_verify(&got[2], &bot.secret);

    let eps = app.get(&format!("/api/v1/app/{}/endpoint", bot.app_id)).await;
    assert_eq!(eps.status, 200, "{:?}", eps.body);
    let ep_id = eps.body["data"][0]["id"].as_str().unwrap_or_else(|| panic!("{:?}", eps.body)).to_string();
    let dead = eventually("the dead letter", || async {
        let r = app.get(&format!("/api/v1/app/{}/endpoint/{ep_id}/msg?status=2", bot.app_id)).await;
        r.body["data"].as_array().filter(|d| !d.is_empty()).cloned()
    })
    .await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let failed = app.get(&format!("/api/v1/app/{}/attempt/endpoint/{ep_id}?status=2", bot.app_id)).await;
    let failed = failed.body["data"].as_array().unwrap().clone();
    assert_eq!(failed.len(), 3, "three failed attempts: {failed:?}");
    assert!(failed.iter().all(|a| a["responseStatusCode"] == 500 && a["status"] == 2), "{failed:?}");
    // No fourth attempt was made (the receiver would have answered it 200).
    assert_eq!(recv.received().len(), 3);
}

/// With the default configuration, the first retry of a bot webhook comes after the seed's 5 s (not the
/// engine's schedule).
#[tokio::test]
async fn bot_webhooks_retry_after_the_seeds_five_seconds_by_default() {
    let app = spawn_app().await; // engine retries at 100 ms, 200 ms; bots keep 5s,30s,2m,15m,1h
    let recv = Receiver::start().await;
    recv.answer(503, 1);
    let (_bot, ch, alice) = bot_with_alice(&app, json!({"name": "Slow Bot", "scopes": ["messages:write"], "webhook_url": recv.url, "webhook_events": ["message.sent"]})).await;
    say(&app, &alice, &ch, "hello").await;
    let got = recv.wait_for(2).await;
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_secs(4) && gap <= Duration::from_secs(7), "first retry after {gap:?}, not ~5 s");
    assert_eq!(got[1].header("x-webhook-id"), got[0].header("x-webhook-id"));
}

/// Every event type of 5.1, each to the bots installed (channel.created: to every subscribed bot), filtered by
/// webhook_events; a bot gets no event for its own message.
#[tokio::test]
async fn each_event_type_reaches_subscribed_bots_and_never_a_bots_own_message() {
    let app = spawn_app().await;
    let (all, picky) = (Receiver::start().await, Receiver::start().await);
    let watcher = register(
        &app,
        json!({"name": "Watcher", "scopes": ["messages:write", "channels:read"], "webhook_url": all.url}),
    )
    .await;
    let mut types: Vec<String> =
        watcher.body["webhook_events"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    types.sort();
    let mut expected: Vec<String> = ALL_EVENT_TYPES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(types, expected, "webhook_events defaults to every event type");
    let picky_bot = register(
        &app,
        json!({"name": "Picky", "scopes": ["messages:write"], "webhook_url": picky.url, "webhook_events": ["message.sent"]}),
    )
    .await;

    let (_, alice) = user(&app, "alice").await;
    let (bob_id, bob) = user(&app, "bob").await;
    // A user creates the channel (and is its member): channel.created to every subscribed bot.
    let r = post_as(&app, &alice, "/api/v1/channels.create", json!({"name": "launch", "type": "public"})).await;
    ok(&r, "channels.create by a user");
    let ch = r.body["channel"]["channel_id"].as_str().unwrap().to_string();
    let created = wait_request(&all, "channel.created", event_type_is("channel.created")).await;
    assert_eq!(created.json()["channel"]["channel_id"], ch.as_str());
    install(&app, &watcher, &ch).await;
    install(&app, &picky_bot, &ch).await;

    join(&app, &bob, &ch).await;
    let joined = wait_request(&all, "member.joined", |r| {
        r.header("x-event-type") == "member.joined" && String::from_utf8_lossy(&r.body).contains(&bob_id)
    })
    .await;
    assert_eq!(joined.json()["channel"]["channel_id"], ch.as_str());

    let m = say(&app, &alice, &ch, "launch at noon").await;
    wait_request(&all, "message.sent", |r| {
        r.header("x-event-type") == "message.sent" && r.json()["payload"]["message_id"] == m.as_str()
    })
    .await;
    ok(
        &post_as(
            &app,
            &alice,
            "/api/v1/chat.update",
            json!({"channel_id": ch, "message_id": m, "text": "launch at 1pm"}),
        )
        .await,
        "chat.update",
    );
    let edited = wait_request(&all, "message.edited", event_type_is("message.edited")).await;
    assert!(String::from_utf8_lossy(&edited.body).contains(&m), "message.edited names the message");
    ok(
        &post_as(
            &app,
            &bob,
            "/api/v1/reactions.add",
            json!({"channel_id": ch, "message_id": m, "reaction": "thumbsup"}),
        )
        .await,
        "reactions.add",
    );
    let reaction = wait_request(&all, "message.reaction", event_type_is("message.reaction")).await;
    let rb = String::from_utf8_lossy(&reaction.body).to_string();
    assert!(rb.contains(&m) && rb.contains("thumbsup"), "message.reaction names message and reaction: {rb}");
    let reacted = history(&app, &alice, &ch).await.into_iter().find(|x| x["message_id"] == m.as_str()).unwrap();
    assert_eq!(reacted["reactions"], json!([{"reaction": "thumbsup", "count": 1, "users": [bob_id]}]));
    assert_eq!(reacted["text"], "launch at 1pm");
    assert!(reacted["edited_ts"].is_string(), "{reacted}");
    ok(&post_as(&app, &alice, "/api/v1/chat.delete", json!({"channel_id": ch, "message_id": m})).await, "chat.delete");
    let deleted = wait_request(&all, "message.deleted", event_type_is("message.deleted")).await;
    assert!(String::from_utf8_lossy(&deleted.body).contains(&m), "message.deleted names the message");
    assert!(!history(&app, &alice, &ch).await.iter().any(|x| x["message_id"] == m.as_str()), "deleted from history");
    ok(&app.post("/api/v1/channels.update", json!({"channel_id": ch, "topic": "T-minus 1"})).await, "channels.update");
    wait_request(&all, "channel.updated", event_type_is("channel.updated")).await;
    ok(&post_as(&app, &bob, "/api/v1/channels.leave", json!({"channel_id": ch})).await, "channels.leave");
    wait_request(&all, "member.left", event_type_is("member.left")).await;

    // The bot's own message is not sent back to it; a user's message after it is.
    let own = say(&app, &watcher.token, &ch, "I am the watcher").await;
    let after = say(&app, &alice, &ch, "after the bot").await;
    wait_request(&all, "the message after the bot's", |r| {
        r.header("x-event-type") == "message.sent" && r.json()["payload"]["message_id"] == after.as_str()
    })
    .await;
    assert!(
        !all.received().iter().any(|r| String::from_utf8_lossy(&r.body).contains(&own)),
        "the watcher was sent its own message"
    );
    // The other bot saw the watcher's message, and only message.sent ever.
    wait_request(&picky, "the watcher's message at the other bot", |r| {
        r.json()["payload"]["message_id"] == own.as_str()
    })
    .await;
    let sender = picky.received().into_iter().find(|r| r.json()["payload"]["message_id"] == own.as_str()).unwrap();
    assert_eq!(sender.json()["sender"]["is_bot"], true);
    assert_eq!(sender.json()["sender"]["user_id"], watcher.user_id.as_str());
    wait_request(&picky, "the last message at the other bot", |r| r.json()["payload"]["message_id"] == after.as_str())
        .await;
    let picky_types: Vec<String> = picky.received().iter().map(|r| r.header("x-event-type").to_string()).collect();
    assert!(picky_types.iter().all(|t| t == "message.sent"), "webhook_events filter: {picky_types:?}");
    for r in all.received() {
        assert_eq!(r.header("x-event-type"), r.json()["event_type"].as_str().unwrap());
        assert_eq!(r.header("x-bot-id"), watcher.id);
    }
}

// ───────────────────────────── interactions ─────────────────────────────

/// Seed 9.1/9.2: a bot posts an approval card; a click reaches the bot as interactive.action, and the bot's
/// replace_original through response_url edits that very message. Also 5.6 (a direct answer is posted) and
/// 9.3 (a modal opened from a command, submitted by the user).
#[tokio::test]
async fn approval_button_replaces_the_original_message_and_a_modal_round_trips() {
    let app = spawn_app().await;
    let port = free_port();
    let bot = register(
        &app,
        json!({
            "name": "Approval Bot",
            "scopes": ["messages:write", "channels:history", "slash_commands", "interactive"],
            "webhook_url": format!("http://127.0.0.1:{port}/webhook"),
            "webhook_events": ["message.sent", "slash_command", "interactive.action"],
            "slash_commands": [{"command": "configure", "description": "Configure a deployment", "usage": "/configure"}],
        }),
    )
    .await;
    let server = BotServer::start(&app, &python(), PY_WORKFLOW, port, &bot).await;
    let ch = channel(&app, "releases", "public").await;
    install(&app, &bot, &ch).await;
    let (alice_id, alice) = member(&app, "alice", &ch).await;
    let (_, bob) = member(&app, "bob", &ch).await;

    // 5.6: the bot's direct answer to message.sent is posted as the bot.
    say(&app, &alice, &ch, "@approval-bot ping").await;
    let pong = wait_message(&app, &bob, &ch, "the direct answer", Some(&server), text_is("pong")).await;
    assert_eq!(pong["user_id"], bot.user_id.as_str());

    // The bot posts its card with chat.postMessage.
    say(&app, &alice, &ch, "@approval-bot approval please").await;
    let card = wait_message(&app, &bob, &ch, "the approval card", Some(&server), text_is("Approval Request")).await;
    assert_eq!(card["user_id"], bot.user_id.as_str());
    assert_eq!(card["attachments"][0]["card"]["actions"].as_array().map(|a| a.len()), Some(2), "{card}");
    let card_id = card["message_id"].as_str().unwrap().to_string();

    // Alice clicks "Approve" (found by its title).
    let r = post_as(
        &app,
        &alice,
        "/api/v1/actions.invoke",
        json!({"channel_id": ch, "message_id": card_id, "action_id": "Approve"}),
    )
    .await;
    ok(&r, "actions.invoke");
    let ev = server.wait_event("interactive.action", |e| e["event_type"] == "interactive.action").await;
    assert_eq!(ev["action"]["action_type"], "Action.Submit", "{ev}");
    assert_eq!(ev["action"]["data"], json!({"action": "approve", "request_id": "req_123"}), "{ev}");
    assert_eq!(ev["user"]["user_id"], alice_id.as_str());
    assert_eq!(ev["user"]["username"], "alice");
    assert_eq!(ev["channel"]["channel_id"], ch.as_str());
    assert_eq!(ev["message"], json!({"message_id": card_id, "text": "Approval Request"}), "{ev}");
    assert_eq!(ev["bot_id"], bot.id.as_str());
    let response_url = ev["response_url"].as_str().unwrap().to_string();
    path_of(&app, &response_url);

    // The original message now says what the bot put through response_url, under the same id.
    let replaced = wait_message(&app, &bob, &ch, "the replaced card", Some(&server), |m| {
        m["message_id"] == card_id.as_str() && m["text"] == "Request approved by @alice"
    })
    .await;
    assert_eq!(replaced["attachments"][0]["card"]["body"][0]["text"], "✅ Approved by alice", "{replaced}");
    assert!(replaced["edited_ts"].is_string(), "{replaced}");
    let h = history(&app, &bob, &ch).await;
    assert!(!h.iter().any(|m| m["text"] == "Approval Request"), "the card was replaced, not kept");
    assert_eq!(h.iter().filter(|m| m["text"] == "Request approved by @alice").count(), 1, "replaced, not added");

    // A response_url serves 5 times (the bot used it once), then 410 expired_url.
    for i in 2..=5 {
        let r = post_url(&app, &response_url, json!({"text": format!("follow-up {i}"), "response_type": "in_channel"}))
            .await;
        ok(&r, &format!("response_url use {i}"));
    }
    let r = post_url(&app, &response_url, json!({"text": "one too many"})).await;
    err(&r, 410, "expired_url", "a sixth use of response_url");

    // 9.3: /configure makes the bot open a modal with the trigger id; alice submits it; the bot gets the
    // values as a view_submission and posts.
    let r = post_as(&app, &alice, "/api/v1/commands.invoke", json!({"channel_id": ch, "command": "/configure"})).await;
    ok(&r, "commands.invoke /configure");
    assert_eq!(r.body["response"]["text"], "Opening the deploy configuration...", "{:?}\n{}", r.body, server.output());
    let views = get_as(&app, &alice, "/api/v1/views.list").await;
    ok(&views, "views.list");
    let view = views.body["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["modal"]["callback_id"] == "deploy_modal")
        .unwrap_or_else(|| panic!("no modal for alice: {:?}", views.body))
        .clone();
    assert_eq!(view["bot_id"], bot.id.as_str());
    assert_eq!(view["modal"]["title"], "Deploy Configuration");
    assert!(
        !get_as(&app, &bob, "/api/v1/views.list").await.body["views"]
            .as_array()
            .is_some_and(|v| v.iter().any(|x| x["view_id"] == view["view_id"])),
        "the modal is alice's"
    );
    let values = json!({"environment": "staging", "version": "v2.0.0", "notify": true});
    let r = post_as(&app, &alice, "/api/v1/views.submit", json!({"view_id": view["view_id"], "values": values})).await;
    ok(&r, "views.submit");
    let sub = server
        .wait_event("the view submission", |e| {
            e["event_type"] == "interactive.action" && e["action"]["action_type"] == "view_submission"
        })
        .await;
    assert_eq!(sub["action"]["action_id"], "deploy_modal", "{sub}");
    assert_eq!(sub["action"]["data"], values, "{sub}");
    wait_message(
        &app,
        &bob,
        &ch,
        "the bot's post after the modal",
        Some(&server),
        text_is("Deploying v2.0.0 to staging"),
    )
    .await;

    // A trigger id serves once.
    let cmd = server.wait_event("the /configure command", |e| e["event_type"] == "slash_command").await;
    assert_eq!(cmd["command"], "configure");
    assert_eq!(cmd["user"]["username"], "alice");
    let again = post_as(
        &app,
        &bot.token,
        "/api/v1/views.open",
        json!({"trigger_id": cmd["trigger_id"], "modal": view["modal"]}),
    )
    .await;
    assert!(
        again.status.is_client_error() && again.body["ok"] == false,
        "a used trigger id: {} {:?}",
        again.status,
        again.body
    );
    assert_eq!(server.rejected().await, 0, "the bot refused a signature:\n{}", server.output());
}

/// Seed 12.3 ("return 200 within 3 seconds"): commands.invoke waits at most 3 s for a bot's direct answer,
/// then answers with no response; the command still reached the bot.
#[tokio::test]
async fn commands_invoke_waits_at_most_three_seconds_for_a_slow_bot() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    recv.set_delay(Duration::from_secs(6));
    let bot = register(
        &app,
        json!({"name": "Slowpoke", "scopes": ["messages:write"], "webhook_url": recv.url,
            "webhook_events": ["slash_command"], "slash_commands": [deploy_command()]}),
    )
    .await;
    let ch = channel(&app, "general", "public").await;
    install(&app, &bot, &ch).await;
    let (alice_id, alice) = member(&app, "alice", &ch).await;
    let start = Instant::now();
    let r =
        post_as(&app, &alice, "/api/v1/commands.invoke", json!({"channel_id": ch, "command": "/deploy staging v9"}))
            .await;
    let took = start.elapsed();
    ok(&r, "commands.invoke to a slow bot");
    assert_eq!(r.body["response"], Value::Null, "{:?}", r.body);
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_millis(4500),
        "answered after {took:?}, not ~3 s"
    );
    let got = recv.wait_for(1).await;
    let cmd = got[0].json();
    assert_eq!(cmd["event_type"], "slash_command");
    assert_eq!(cmd["command"], "deploy");
    assert_eq!(cmd["text"], "staging v9");
    assert_eq!(cmd["args"], json!({"environment": "staging", "version": "v9"}));
    assert_eq!(cmd["user"]["user_id"], alice_id.as_str());
    assert_eq!(cmd["user"]["username"], "alice");
    assert_eq!(cmd["channel"]["channel_id"], ch.as_str());
    assert!(cmd["trigger_id"].as_str().is_some_and(|t| !t.is_empty()), "{cmd}");
    path_of(&app, cmd["response_url"].as_str().unwrap());
    assert_seed_recipes_verify(&got[0], &bot.secret);
}

// ───────────────────────────── tokens ─────────────────────────────

#[tokio::test]
async fn rotated_token_keeps_the_old_one_for_the_grace_then_never_again() {
    let app = spawn_app_with(|c| c.bot_token_grace = Duration::from_secs(2)).await;
    let bot = register(&app, json!({"name": "Rota Bot", "scopes": ["channels:read"]})).await;
    let works = |t: String| {
        let app = &app;
        async move { get_as(app, &t, "/api/v1/channels.list").await }
    };
    ok(&works(bot.token.clone()).await, "the first token");

    let before = chrono::Utc::now();
    let r = app.post(&format!("/api/v1/bots/{}/rotate-token", bot.id), json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new = r.body["bot_token"].as_str().unwrap().to_string();
    assert!(new.starts_with("xbot-") && new != bot.token);
    let until = chrono::DateTime::parse_from_rfc3339(r.body["previous_token_valid_until"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let ahead = (until - before).num_milliseconds();
    assert!((1000..=3500).contains(&ahead), "previous_token_valid_until is {ahead} ms ahead, grace is 2 s");
    ok(&works(bot.token.clone()).await, "the old token right after the rotation");
    ok(&works(new.clone()).await, "the new token");

    eventually("the old token to stop working", || async {
        (works(bot.token.clone()).await.status == 401).then_some(())
    })
    .await;
    let expired_at = chrono::Utc::now();
    assert!(expired_at >= until - chrono::Duration::milliseconds(200), "refused at {expired_at}, before {until}");
    err(&works(bot.token.clone()).await, 401, "invalid_auth", "the old token after the grace");
    ok(&works(new.clone()).await, "the new token after the grace");

    // A second rotation: the first token stays dead, the second is now in its grace.
    let r2 = app.post(&format!("/api/v1/bots/{}/rotate-token", bot.id), json!({})).await;
    let newer = r2.body["bot_token"].as_str().unwrap().to_string();
    err(&works(bot.token.clone()).await, 401, "invalid_auth", "the first token after a second rotation");
    ok(&works(new.clone()).await, "the second token in its grace");
    ok(&works(newer).await, "the third token");
}

#[tokio::test]
async fn default_token_grace_is_one_hour() {
    let app = spawn_app().await;
    let bot = register(&app, json!({"name": "Hour Bot", "scopes": ["channels:read"]})).await;
    let before = chrono::Utc::now();
    let r = app.post(&format!("/api/v1/bots/{}/rotate-token", bot.id), json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let until = chrono::DateTime::parse_from_rfc3339(r.body["previous_token_valid_until"].as_str().unwrap()).unwrap();
    let ahead = (until.with_timezone(&chrono::Utc) - before).num_seconds();
    assert!((3590..=3610).contains(&ahead), "previous_token_valid_until is {ahead} s ahead, not an hour");
    ok(&get_as(&app, &bot.token, "/api/v1/channels.list").await, "the old token");
    ok(&get_as(&app, r.body["bot_token"].as_str().unwrap(), "/api/v1/channels.list").await, "the new token");
}

// ───────────────────────────── 401 and 403 ─────────────────────────────

/// Every route of the scope table refuses a bot without its scope, with the seed's message, and serves one
/// with it.
#[tokio::test]
async fn every_bot_route_needs_its_scope() {
    let app = spawn_app().await;
    let ch = channel(&app, "general", "public").await;
    let (alice_id, alice) = member(&app, "alice", &ch).await;
    let m = say(&app, &alice, &ch, "a message").await;
    let up = post_as(
        &app,
        &alice,
        "/api/v1/files.upload",
        json!({"channel_id": ch, "filename": "notes.txt", "content": base64::engine::general_purpose::STANDARD.encode("hi"), "mimetype": "text/plain"}),
    )
    .await;
    ok(&up, "files.upload by a user");
    let file_id = up.body["file"]["file_id"].as_str().unwrap().to_string();

    let nosy = register(&app, json!({"name": "Nosy Bot", "scopes": ["messages:read"]})).await;
    install(&app, &nosy, &ch).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode("bot file");
    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            "/api/v1/chat.postMessage".into(),
            Some(json!({"channel_id": ch, "text": "x"})),
            "messages:write",
        ),
        (
            Method::POST,
            "/api/v1/chat.update".into(),
            Some(json!({"channel_id": ch, "message_id": m, "text": "y"})),
            "messages:write",
        ),
        (
            Method::POST,
            "/api/v1/chat.delete".into(),
            Some(json!({"channel_id": ch, "message_id": m})),
            "messages:write",
        ),
        (Method::GET, "/api/v1/channels.list".into(), None, "channels:read"),
        (Method::GET, format!("/api/v1/channels.info?channel_id={ch}"), None, "channels:read"),
        (Method::GET, format!("/api/v1/channels.history?channel_id={ch}"), None, "channels:history"),
        (Method::GET, format!("/api/v1/users.info?user_id={alice_id}"), None, "users:read"),
        (Method::GET, "/api/v1/users.list".into(), None, "users:read"),
        (
            Method::POST,
            "/api/v1/reactions.add".into(),
            Some(json!({"channel_id": ch, "message_id": m, "reaction": "eyes"})),
            "reactions:write",
        ),
        (
            Method::POST,
            "/api/v1/reactions.remove".into(),
            Some(json!({"channel_id": ch, "message_id": m, "reaction": "eyes"})),
            "reactions:write",
        ),
        (
            Method::POST,
            "/api/v1/files.upload".into(),
            Some(json!({"channel_id": ch, "filename": "b.txt", "content": b64})),
            "files:write",
        ),
        (Method::GET, format!("/api/v1/files.info?file_id={file_id}"), None, "files:read"),
        (
            Method::POST,
            "/api/v1/channels.create".into(),
            Some(json!({"name": "bots-own", "type": "public"})),
            "channels:write",
        ),
    ];
    for (method, path, body, scope) in &cases {
        let r = as_(&app, &nosy.token, method.clone(), path, body.clone()).await;
        err(&r, 403, &format!("missing scope: {scope}"), &format!("{method} {path} without {scope}"));
        assert!(r.headers.contains_key("x-ratelimit-limit"), "every answer to a bot carries X-RateLimit-*: {path}");
    }

    // With the scopes, the same calls (on the bot's own message for update and delete) succeed.
    let full = register(
        &app,
        json!({"name": "Full Bot", "scopes": ["messages:write", "channels:read", "channels:history", "users:read",
            "reactions:write", "files:write", "files:read", "channels:write"]}),
    )
    .await;
    install(&app, &full, &ch).await;
    let own = say(&app, &full.token, &ch, "mine").await;
    for (method, path, body, scope) in &cases {
        let body = body.clone().map(|mut b| {
            if matches!(path.as_str(), "/api/v1/chat.update" | "/api/v1/chat.delete") {
                b["message_id"] = json!(own);
            }
            b
        });
        let r = as_(&app, &full.token, method.clone(), path, body).await;
        ok(&r, &format!("{method} {path} with {scope}"));
    }
    // channels:history or messages:history.
    let reader = register(&app, json!({"name": "Reader Bot", "scopes": ["messages:history"]})).await;
    install(&app, &reader, &ch).await;
    ok(
        &get_as(&app, &reader.token, &format!("/api/v1/channels.history?channel_id={ch}")).await,
        "history with messages:history",
    );
}

/// 403 `bot not installed in channel` on every channel route and the incoming webhook, until installed;
/// installation permissions narrow the message scopes; bots update their own messages only; users need
/// membership of private channels.
#[tokio::test]
async fn bots_act_only_in_channels_they_are_installed_in() {
    let app = spawn_app().await;
    let ch = channel(&app, "general", "public").await;
    let (alice_id, alice) = member(&app, "alice", &ch).await;
    let m = say(&app, &alice, &ch, "hi").await;
    let bot = register(
        &app,
        json!({"name": "Outsider", "scopes": ["messages:write", "channels:history", "channels:read", "reactions:write", "files:write"]}),
    )
    .await;
    let b64 = base64::engine::general_purpose::STANDARD.encode("x");
    let not_installed = |r: Resp, what: &str| err(&r, 403, "bot not installed in channel", what);
    let check_all = |expect_ok: bool| {
        let (app, bot, ch, m, b64) = (&app, &bot, &ch, &m, &b64);
        async move {
            let calls = vec![
                (
                    "chat.postMessage",
                    post_as(app, &bot.token, "/api/v1/chat.postMessage", json!({"channel_id": ch, "text": "x"})).await,
                ),
                (
                    "channels.history",
                    get_as(app, &bot.token, &format!("/api/v1/channels.history?channel_id={ch}")).await,
                ),
                (
                    "reactions.add",
                    post_as(
                        app,
                        &bot.token,
                        "/api/v1/reactions.add",
                        json!({"channel_id": ch, "message_id": m, "reaction": "wave"}),
                    )
                    .await,
                ),
                (
                    "files.upload",
                    post_as(
                        app,
                        &bot.token,
                        "/api/v1/files.upload",
                        json!({"channel_id": ch, "filename": "x.txt", "content": b64}),
                    )
                    .await,
                ),
                ("incoming webhook", post_url(app, &bot.incoming, json!({"channel_id": ch, "text": "via hook"})).await),
            ];
            for (what, r) in calls {
                if expect_ok {
                    assert!(r.status.is_success(), "{what} once installed: {} {:?}", r.status, r.body);
                } else {
                    not_installed(r, what);
                }
            }
        }
    };
    check_all(false).await;
    install(&app, &bot, &ch).await;
    check_all(true).await;
    let r = app.delete(&format!("/api/v1/bots/{}/install/{ch}", bot.id)).await;
    assert!(r.status.is_success(), "uninstall: {:?}", r.body);
    check_all(false).await;

    // Installed with permissions: the message scopes in that channel are limited to them.
    let ch2 = channel(&app, "readonly", "public").await;
    let r = app
        .post(&format!("/api/v1/bots/{}/install", bot.id), json!({"channel_id": ch2, "permissions": ["messages:read"]}))
        .await;
    ok(&r, "install with permissions");
    assert_eq!(r.body["permissions"], json!(["messages:read"]));
    let r = post_as(&app, &bot.token, "/api/v1/chat.postMessage", json!({"channel_id": ch2, "text": "x"})).await;
    err(&r, 403, "missing scope: messages:write", "posting where installed read-only");

    // Bots update their own messages only.
    install(&app, &bot, &ch).await;
    let r =
        post_as(&app, &bot.token, "/api/v1/chat.update", json!({"channel_id": ch, "message_id": m, "text": "hacked"}))
            .await;
    err(&r, 403, "cant_update_message", "a bot editing a user's message");

    // Users: a private channel is for its members.
    let private = channel(&app, "secret", "private").await;
    let r =
        post_as(&app, &alice, "/api/v1/chat.postMessage", json!({"channel_id": private, "text": "let me in"})).await;
    assert!(
        r.status == 403 && r.body["ok"] == false,
        "a non-member posting in a private channel: {} {:?}",
        r.status,
        r.body
    );
    let r = get_as(&app, &alice, &format!("/api/v1/channels.history?channel_id={private}")).await;
    assert!(
        r.status == 403 && r.body["ok"] == false,
        "a non-member reading a private channel: {} {:?}",
        r.status,
        r.body
    );
    // ... and posting in a public channel joins it.
    let ch3 = channel(&app, "open", "public").await;
    say(&app, &alice, &ch3, "walking in").await;
    let info = get_as(&app, &alice, &format!("/api/v1/channels.info?channel_id={ch3}")).await;
    ok(&info, "channels.info");
    assert!(info.body["channel"]["members"].to_string().contains(&alice_id), "posting joined alice: {:?}", info.body);
}

#[tokio::test]
async fn unknown_disabled_and_suspended_credentials_get_401() {
    let app = spawn_app().await;
    let ch = channel(&app, "general", "public").await;
    let recv = Receiver::start().await;
    let bot = register(
        &app,
        json!({"name": "Sleepy", "scopes": ["channels:read", "messages:write"], "webhook_url": recv.url, "webhook_events": ["message.sent"]}),
    )
    .await;
    let witness_recv = Receiver::start().await;
    let witness = register(
        &app,
        json!({"name": "Witness", "scopes": ["messages:write"], "webhook_url": witness_recv.url, "webhook_events": ["message.sent"]}),
    )
    .await;
    install(&app, &bot, &ch).await;
    install(&app, &witness, &ch).await;
    let (_, alice) = member(&app, "alice", &ch).await;

    for token in ["xbot-garbage", "xuser-garbage", "nonsense", ""] {
        let r = get_as(&app, token, "/api/v1/channels.list").await;
        err(&r, 401, "invalid_auth", &format!("token {token:?}"));
    }
    let r = app.call(Method::GET, "/api/v1/channels.list", None, None).await;
    err(&r, 401, "invalid_auth", "no token");
    let r = app.call(Method::POST, "/hooks/inc_nope", None, Some(json!({"channel_id": ch, "text": "x"}))).await;
    err(&r, 401, "invalid webhook", "an unknown incoming webhook token");

    for (action, status, error) in
        [("disable", "disabled", "bot is disabled"), ("suspend", "suspended", "bot is suspended")]
    {
        let r = app.post(&format!("/api/v1/bots/{}/{action}", bot.id), json!({})).await;
        assert_eq!(r.status, 200, "{action}: {:?}", r.body);
        assert_eq!(r.body["status"], status);
        err(&get_as(&app, &bot.token, "/api/v1/channels.list").await, 401, error, &format!("a {status} bot's token"));
        // It receives no events: the witness gets the message, the bot's application has no message for it.
        let text = format!("while {status}");
        let mid = say(&app, &alice, &ch, &text).await;
        wait_request(&witness_recv, "the witness's delivery", |r| r.json()["payload"]["message_id"] == mid.as_str())
            .await;
        let msgs = app.get(&format!("/api/v1/app/{}/msg?with_content=true", bot.app_id)).await;
        assert!(!msgs.body.to_string().contains(&mid), "a {status} bot was sent an event: {:?}", msgs.body);
        assert!(!recv.received().iter().any(|r| String::from_utf8_lossy(&r.body).contains(&mid)));

        let r = app.post(&format!("/api/v1/bots/{}/enable", bot.id), json!({})).await;
        assert_eq!(r.body["status"], "active", "{:?}", r.body);
        ok(&get_as(&app, &bot.token, "/api/v1/channels.list").await, &format!("re-enabled after {action}"));
    }
    // Enabled again, it receives events again.
    let mid = say(&app, &alice, &ch, "back").await;
    wait_request(&recv, "a delivery after enable", |r| r.json()["payload"]["message_id"] == mid.as_str()).await;

    // A deleted bot's token is dead.
    let r = app.delete(&format!("/api/v1/bots/{}", bot.id)).await;
    assert_eq!(r.body, json!({"ok": true}));
    err(&get_as(&app, &bot.token, "/api/v1/channels.list").await, 401, "invalid_auth", "a deleted bot's token");
    err(&app.get(&format!("/api/v1/bots/{}", bot.id)).await, 404, "bot_not_found", "a deleted bot");
}

// ───────────────────────────── 429 ─────────────────────────────

#[tokio::test]
async fn free_tier_incoming_webhooks_and_response_urls_share_30_per_minute() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (bot, ch, alice) = bot_with_alice(
        &app,
        json!({"name": "Free Hook", "tier": "free", "scopes": ["messages:write"], "webhook_url": recv.url,
            "webhook_events": ["slash_command"], "slash_commands": [{"command": "ping", "description": "p", "usage": "/ping"}]}),
    )
    .await;
    assert_eq!(bot.body["tier"], "free");
    // A response_url to use once the bucket is empty.
    let r = post_as(&app, &alice, "/api/v1/commands.invoke", json!({"channel_id": ch, "command": "/ping"})).await;
    ok(&r, "commands.invoke");
    let cmd = wait_request(&recv, "the slash command", event_type_is("slash_command")).await;
    let response_url = cmd.json()["response_url"].as_str().unwrap().to_string();

    let incoming = bot.incoming.clone();
    let r = exhaust("incoming webhooks", 30, |i| {
        let (app, incoming, ch) = (&app, incoming.clone(), ch.clone());
        async move {
            let r = post_url(app, &incoming, json!({"channel_id": ch, "text": format!("build {i}")})).await;
            if r.status.is_success() {
                assert_eq!(r.status, 202, "{:?}", r.body);
                assert!(r.body["ok"] == true && r.body["message_id"].is_string(), "{:?}", r.body);
            }
            r
        }
    })
    .await;
    assert_eq!(r.status, 429);
    let h = history(&app, &alice, &ch).await;
    assert_eq!(h.iter().filter(|m| m["text"].as_str().is_some_and(|t| t.starts_with("build "))).count(), 30);
    // The response_url shares the bucket.
    let r = post_url(&app, &response_url, json!({"text": "pong", "response_type": "in_channel"})).await;
    err(&r, 429, "rate_limited", "response_url with the bucket empty");
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
}

#[tokio::test]
async fn free_tier_messages_are_limited_to_60_per_minute() {
    let app = spawn_app().await;
    let bot = register(&app, json!({"name": "Chatty", "tier": "free", "scopes": ["messages:write"]})).await;
    let ch = channel(&app, "general", "public").await;
    install(&app, &bot, &ch).await;
    let r = exhaust("chat.postMessage", 60, |i| {
        let (app, token, ch) = (&app, bot.token.clone(), ch.clone());
        async move {
            post_as(app, &token, "/api/v1/chat.postMessage", json!({"channel_id": ch, "text": format!("m{i}")})).await
        }
    })
    .await;
    assert_eq!(r.status, 429);
    // Still limited: the 429 did not reset anything.
    let again = post_as(&app, &bot.token, "/api/v1/chat.postMessage", json!({"channel_id": ch, "text": "again"})).await;
    err(&again, 429, "rate_limited", "a second post over the limit");
}

#[tokio::test]
async fn free_tier_api_calls_are_limited_to_100_per_minute() {
    let app = spawn_app().await;
    let bot = register(&app, json!({"name": "Busy", "tier": "free", "scopes": ["channels:read"]})).await;
    let r = exhaust("channels.list", 100, |_| {
        let (app, token) = (&app, bot.token.clone());
        async move { get_as(app, &token, "/api/v1/channels.list").await }
    })
    .await;
    assert_eq!(r.status, 429);
    // Another bot is not affected.
    let other = register(&app, json!({"name": "Other", "tier": "free", "scopes": ["channels:read"]})).await;
    ok(&get_as(&app, &other.token, "/api/v1/channels.list").await, "another bot");
}

// ───────────────────────────── bad input ─────────────────────────────

#[tokio::test]
async fn bad_input_gets_json_errors() {
    let app = spawn_app_with(|c| c.bot_max_file_bytes = 1000).await;
    let ch = channel(&app, "general", "public").await;
    let (_, alice) = member(&app, "alice", &ch).await;
    let bot = register(&app, json!({"name": "Input Bot", "scopes": ["messages:write", "files:write", "reactions:write", "channels:history"]})).await;
    install(&app, &bot, &ch).await;
    let json_4xx = |r: &Resp, what: &str| {
        assert!(r.status.is_client_error(), "{what}: {} {:?}", r.status, r.body);
        assert_eq!(r.body["ok"], false, "{what}: a JSON error body, got {:?}", r.body);
        assert!(r.body["error"].is_string(), "{what}: {:?}", r.body);
    };

    let r = raw(&app, "/api/v1/chat.postMessage", Some(&bot.token), r#"{"channel_id": "#).await;
    json_4xx(&r, "malformed JSON to chat.postMessage");
    let r = raw(&app, path_of(&app, &bot.incoming), None, "not json").await;
    json_4xx(&r, "malformed JSON to the incoming webhook");
    let r = raw(&app, "/api/v1/bots", Some(&app.token), "[1,2").await;
    json_4xx(&r, "malformed JSON to POST /api/v1/bots");
    let r = post_as(&app, &bot.token, "/api/v1/chat.postMessage", json!({"channel_id": 5, "text": ["x"]})).await;
    json_4xx(&r, "wrong types");
    let r = post_as(&app, &alice, "/api/v1/commands.invoke", json!({"channel_id": ch, "command": 42})).await;
    json_4xx(&r, "a command that is not a string");

    let r = post_as(&app, &alice, "/api/v1/chat.postMessage", json!({"channel_id": "ch_nope", "text": "x"})).await;
    err(&r, 404, "channel_not_found", "posting to an unknown channel");
    let r = get_as(&app, &alice, "/api/v1/channels.history?channel_id=ch_nope").await;
    err(&r, 404, "channel_not_found", "history of an unknown channel");
    let r = post_as(
        &app,
        &bot.token,
        "/api/v1/chat.update",
        json!({"channel_id": ch, "message_id": "msg_nope", "text": "x"}),
    )
    .await;
    err(&r, 404, "message_not_found", "updating an unknown message");
    let r = post_as(
        &app,
        &bot.token,
        "/api/v1/reactions.add",
        json!({"channel_id": ch, "message_id": "msg_nope", "reaction": "x"}),
    )
    .await;
    err(&r, 404, "message_not_found", "reacting to an unknown message");
    err(&app.get("/api/v1/bots/bot_nope").await, 404, "bot_not_found", "an unknown bot");
    let r = app.call(Method::POST, "/hooks/response/resp_nope", None, Some(json!({"text": "x"}))).await;
    json_4xx(&r, "an unknown response_url");

    // Registration.
    let r = app.post("/api/v1/bots", json!({"description": "no name"})).await;
    json_4xx(&r, "a bot without a name");
    let r = app.post("/api/v1/bots", json!({"name": "Gold", "tier": "gold"})).await;
    json_4xx(&r, "an unknown tier");
    let r = app.post("/api/v1/bots", json!({"name": "Typo", "webhook_events": ["message.sen"]})).await;
    json_4xx(&r, "an unknown event type");
    let r = app.post("/api/v1/users", json!({"username": "alice"})).await;
    assert_eq!(r.status, 409, "a second alice: {:?}", r.body);
    assert_eq!(r.body["ok"], false);

    // Files: exactly the limit is accepted and kept, one byte more is 413.
    let exact = vec![b'a'; 1000];
    let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let r = post_as(
        &app,
        &bot.token,
        "/api/v1/files.upload",
        json!({"channel_id": ch, "filename": "a.bin", "content": enc(&exact)}),
    )
    .await;
    ok(&r, "a file of exactly the limit");
    assert_eq!(r.body["file"]["size"], 1000);
    assert_eq!(r.body["file"]["name"], "a.bin");
    let r = post_as(
        &app,
        &bot.token,
        "/api/v1/files.upload",
        json!({"channel_id": ch, "filename": "b.bin", "content": enc(&[b'a'; 1001])}),
    )
    .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert_eq!(r.body["ok"], false, "a JSON 413: {:?}", r.body);
    let r = post_as(
        &app,
        &bot.token,
        "/api/v1/files.upload",
        json!({"channel_id": ch, "filename": "c.bin", "content": "***not base64***"}),
    )
    .await;
    json_4xx(&r, "content that is not base64");
}

#[tokio::test]
async fn uploads_as_json_or_a_form_round_trip_and_a_huge_one_is_413() {
    let app = spawn_app().await;
    let ch = channel(&app, "general", "public").await;
    let bot =
        register(&app, json!({"name": "Big Bot", "scopes": ["messages:write", "files:write", "files:read"]})).await;
    install(&app, &bot, &ch).await;
    let enc = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
    // 1 MiB + 1: over the default file limit (its base64 is over the 1 MiB body limit too).
    let r = post_as(
        &app,
        &bot.token,
        "/api/v1/files.upload",
        json!({"channel_id": ch, "filename": "big.bin", "content": enc(1024 * 1024 + 1)}),
    )
    .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert_eq!(r.body["ok"], false, "a JSON 413: {:?}", r.body);
    // A file under the limit round-trips through files.info.
    let content = enc(4096);
    let r = post_as(&app, &bot.token, "/api/v1/files.upload", json!({"channel_id": ch, "filename": "ok.bin", "content": content, "mimetype": "application/octet-stream", "title": "ok"})).await;
    ok(&r, "a 4 KiB upload");
    assert_eq!(r.body["file"]["size"], 4096);
    assert!(r.body["message_id"].is_string(), "an upload to a channel posts a message: {:?}", r.body);
    let info = get_as(
        &app,
        &bot.token,
        &format!("/api/v1/files.info?file_id={}", r.body["file"]["file_id"].as_str().unwrap()),
    )
    .await;
    ok(&info, "files.info");
    assert_eq!(info.body["content"], content.as_str());
    assert_eq!(info.body["file"]["mimetype"], "application/octet-stream");

    // The same as a multipart form, as Slack's files.upload takes it.
    let form = |bytes: Vec<u8>| {
        let part = reqwest::multipart::Part::bytes(bytes).file_name("report.csv").mime_str("text/csv").unwrap();
        reqwest::multipart::Form::new().text("channel_id", ch.clone()).text("title", "Report").part("file", part)
    };
    let upload = |form: reqwest::multipart::Form| {
        app.http.post(format!("{}/api/v1/files.upload", app.base)).bearer_auth(&bot.token).multipart(form).send()
    };
    let csv = b"day,deploys\nmon,3\n".to_vec();
    let r = upload(form(csv.clone())).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["file"]["name"], "report.csv", "{body:?}");
    assert_eq!(body["file"]["mimetype"], "text/csv");
    assert!(body["message_id"].is_string(), "{body:?}");
    let info =
        get_as(&app, &bot.token, &format!("/api/v1/files.info?file_id={}", body["file"]["file_id"].as_str().unwrap()))
            .await;
    assert_eq!(info.body["content"], base64::engine::general_purpose::STANDARD.encode(&csv));
    assert_eq!(info.body["file"]["title"], "Report");
    let r = upload(form(vec![7u8; 1024 * 1024 + 1])).await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "file_too_large");
    let no_file = reqwest::multipart::Form::new().text("channel_id", ch.clone());
    let r = upload(no_file).await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["ok"], false);
}

/// Seed 6.2 and 6.4: the incoming webhook's full example (username, icon, attachments) and a thread reply;
/// the reply reaches another bot with its thread_id and is in the thread's history.
#[tokio::test]
async fn incoming_webhook_posts_attachments_and_thread_replies() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let ci = register(&app, json!({"name": "CI/CD Bot", "scopes": ["messages:write"]})).await;
    let watcher = register(
        &app,
        json!({"name": "Watcher", "scopes": ["messages:read"], "webhook_url": recv.url, "webhook_events": ["message.sent"]}),
    )
    .await;
    let ch = channel(&app, "builds", "public").await;
    install(&app, &ci, &ch).await;
    install(&app, &watcher, &ch).await;
    let (_, alice) = member(&app, "alice", &ch).await;

    let attachments = json!([{
        "color": "#36a64f",
        "title": "Build Details",
        "title_link": "https://ci.example.com/builds/1234",
        "fields": [
            {"title": "Status", "value": "Success", "short": true},
            {"title": "Duration", "value": "3m 42s", "short": true},
            {"title": "Commit", "value": "abc1234", "short": true},
            {"title": "Branch", "value": "main", "short": true}
        ]
    }]);
    let r = post_url(
        &app,
        &ci.incoming,
        json!({"channel_id": ch, "text": "Build #1234 completed successfully! :white_check_mark:",
            "username": "CI/CD Bot", "icon_emoji": ":robot:", "attachments": attachments}),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["ok"], true);
    let build = r.body["message_id"].as_str().unwrap().to_string();
    let m = wait_message(&app, &alice, &ch, "the build message", None, |m| m["message_id"] == build.as_str()).await;
    assert_eq!(m["attachments"], attachments, "{m}");
    assert_eq!(m["user_id"], ci.user_id.as_str());
    assert_eq!(m["is_bot"], true);
    assert_eq!(m["thread_id"], Value::Null);

    // A reply in the build's thread (6.4).
    let r = post_url(
        &app,
        &ci.incoming,
        json!({"channel_id": ch, "thread_id": build, "text": "Deployment to production complete!"}),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let reply = r.body["message_id"].as_str().unwrap().to_string();
    let got = wait_request(&recv, "the thread reply at the other bot", |r| {
        r.json()["payload"]["message_id"] == reply.as_str()
    })
    .await;
    assert_eq!(got.json()["payload"]["thread_id"], build.as_str());
    assert_eq!(got.json()["sender"]["user_id"], ci.user_id.as_str());
    assert_eq!(got.json()["sender"]["is_bot"], true);
    let r = get_as(&app, &alice, &format!("/api/v1/channels.history?channel_id={ch}&thread_id={build}")).await;
    ok(&r, "the thread's history");
    let ids: Vec<&str> =
        r.body["messages"].as_array().unwrap().iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    assert!(ids.contains(&reply.as_str()), "the reply is in the thread: {ids:?}");
    assert!(
        r.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["message_id"] == build.as_str() || m["thread_id"] == build.as_str()),
        "{:?}",
        r.body
    );
    // A user's reply with chat.postMessage is in the thread too.
    let r = post_as(
        &app,
        &alice,
        "/api/v1/chat.postMessage",
        json!({"channel_id": ch, "thread_id": build, "text": "nice"}),
    )
    .await;
    ok(&r, "a thread reply by a user");
    let r = get_as(&app, &alice, &format!("/api/v1/channels.history?channel_id={ch}&thread_id={build}")).await;
    assert!(
        r.body["messages"].as_array().unwrap().iter().any(|m| m["text"] == "nice" && m["thread_id"] == build.as_str()),
        "{:?}",
        r.body
    );
    // Paged one at a time, the thread comes newest first, whole, with the message that started it last; the
    // channel's other messages are not in it and leave no gaps in the pages.
    let r = post_as(&app, &alice, "/api/v1/chat.postMessage", json!({"channel_id": ch, "text": "unrelated"})).await;
    ok(&r, "a message outside the thread");
    let (mut texts, mut pages) = (vec![], vec![]);
    let mut cursor = String::new();
    loop {
        let path = format!("/api/v1/channels.history?channel_id={ch}&thread_id={build}&limit=1&cursor={cursor}");
        let r = get_as(&app, &alice, &path).await;
        ok(&r, "a page of the thread");
        pages.push(r.body["messages"].as_array().unwrap().len());
        texts.extend(r.body["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()));
        match r.body["next_cursor"].as_str() {
            Some(c) if r.body["has_more"] == true => cursor = c.to_string(),
            _ => break,
        }
    }
    assert_eq!(
        texts,
        ["nice", "Deployment to production complete!", "Build #1234 completed successfully! :white_check_mark:"]
    );
    assert_eq!(pages, [1, 2], "a reply a page, the starting message with the last");
    // A reply to an unknown thread is refused.
    let r = post_url(&app, &ci.incoming, json!({"channel_id": ch, "thread_id": "msg_nope", "text": "x"})).await;
    assert!(
        r.status.is_client_error() && r.body["ok"] == false,
        "a reply to an unknown thread: {} {:?}",
        r.status,
        r.body
    );
}

// ───────────────────────────── admin ─────────────────────────────

#[tokio::test]
async fn registration_listing_update_and_deletion() {
    let app = spawn_app().await;
    let bot = register(
        &app,
        json!({
            "name": "CI/CD Bot", "description": "Reports build and deployment status",
            "icon_url": "https://example.com/bot-icon.png", "owner_id": "usr_owner", "owner_type": "user",
            "scopes": ["messages:write", "channels:read", "users:read"],
            "webhook_url": "https://bot.example.com/webhook",
            "slash_commands": [deploy_command()],
        }),
    )
    .await;
    let b = &bot.body;
    for (k, v) in [
        ("name", json!("CI/CD Bot")),
        ("description", json!("Reports build and deployment status")),
        ("icon_url", json!("https://example.com/bot-icon.png")),
        ("owner_id", json!("usr_owner")),
        ("scopes", json!(["messages:write", "channels:read", "users:read"])),
        ("webhook_url", json!("https://bot.example.com/webhook")),
        ("tier", json!("standard")),
        ("status", json!("active")),
        ("installed_channels", json!([])),
        ("username", json!("cicd-bot")),
    ] {
        assert_eq!(b[k], v, "{k} in {b}");
    }
    assert_eq!(b["slash_commands"][0]["command"], "deploy");
    assert!(bot.secret.starts_with("whsec_"), "{}", bot.secret);
    path_of(&app, &bot.incoming);
    assert!(path_of(&app, &bot.incoming).starts_with("/hooks/"), "{}", bot.incoming);
    for k in ["created_at", "updated_at"] {
        assert!(chrono::DateTime::parse_from_rfc3339(b[k].as_str().unwrap_or("")).is_ok(), "{k}: {b}");
    }
    // The bot is an engine application.
    assert_eq!(app.get(&format!("/api/v1/app/{}", bot.app_id)).await.status, 200);
    // The bot's user is a user.
    let (_, alice) = user(&app, "alice").await;
    let info = app.get(&format!("/api/v1/users.info?user_id={}", bot.user_id)).await;
    let info = if info.status.is_success() {
        info
    } else {
        get_as(&app, &alice, &format!("/api/v1/users.info?user_id={}", bot.user_id)).await
    };
    ok(&info, "users.info of the bot user");
    assert_eq!(info.body["user"]["username"], "cicd-bot");
    assert_eq!(info.body["user"]["is_bot"], true);

    // Reading never shows the token or the secret.
    let one = app.get(&format!("/api/v1/bots/{}", bot.id)).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["credentials"]["incoming_webhook_url"], bot.incoming.as_str());
    let list = app.get("/api/v1/bots").await;
    assert_eq!(list.body["ok"], true);
    assert!(list.body["bots"].as_array().unwrap().iter().any(|x| x["bot_id"] == bot.id.as_str()));
    for r in [&one, &list] {
        let s = r.body.to_string();
        assert!(!s.contains(&bot.token) && !s.contains(&bot.secret), "a read shows a credential: {s}");
    }

    let r = app.patch(&format!("/api/v1/bots/{}", bot.id), json!({"description": "New", "tier": "enterprise"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((r.body["description"].clone(), r.body["tier"].clone()), (json!("New"), json!("enterprise")));
    assert_eq!(app.get(&format!("/api/v1/bots/{}", bot.id)).await.body["tier"], "enterprise");
    let ch = channel(&app, "general", "public").await;
    install(&app, &bot, &ch).await;
    assert_eq!(app.get(&format!("/api/v1/bots/{}", bot.id)).await.body["installed_channels"], json!([ch]));
    let info = get_as(&app, &bot.token, &format!("/api/v1/channels.info?channel_id={ch}")).await;
    ok(&info, "channels.info");
    assert!(
        info.body["channel"]["members"].to_string().contains(&bot.user_id),
        "the bot's user joined: {:?}",
        info.body
    );

    // Bot and user tokens are not admin tokens.
    for t in [&bot.token, &alice] {
        let r = app.call(Method::POST, "/api/v1/bots", Some(t), Some(json!({"name": "Sneaky"}))).await;
        assert!(r.status == 401 || r.status == 403, "registering with a non-admin token: {}", r.status);
    }

    let r = app.delete(&format!("/api/v1/bots/{}", bot.id)).await;
    assert_eq!(r.body, json!({"ok": true}));
    err(&app.get(&format!("/api/v1/bots/{}", bot.id)).await, 404, "bot_not_found", "a deleted bot");
}

/// Installing in a channel that does not exist is a 404 saying how to make one (before, the bot was "installed"
/// in it and its page listed `#None`); a channel given by name is installed by its id; an outside platform's
/// channel is installed with `external: true`.
#[tokio::test]
async fn installing_in_a_channel_that_does_not_exist_is_a_404() {
    let app = spawn_app().await;
    let bot = register(&app, json!({"name": "Deploy Bot", "scopes": ["messages:write", "channels:read"]})).await;
    let path = format!("/api/v1/bots/{}/install", bot.id);
    let install_in = |body: Value| app.post(&path, body);
    let r = install_in(json!({"channel_id": "None"})).await;
    err(&r, 404, "channel_not_found", "an unknown channel");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("`None`") && detail.contains("channels.create"), "{detail}");
    assert_eq!(app.get(&format!("/api/v1/bots/{}", bot.id)).await.body["installed_channels"], json!([]));
    err(&app.post("/api/v1/bots/bot_nope/install", json!({"channel_id": "None"})).await, 404, "bot_not_found", "bot");

    let ch = channel(&app, "engineering", "public").await;
    let r = install_in(json!({"channel_id": "engineering"})).await;
    ok(&r, "by name");
    assert_eq!(r.body["channel_id"], ch.as_str(), "installed by its id");
    let view = app.get(&format!("/api/v1/bots/{}", bot.id)).await.body;
    assert_eq!(view["installed_channels"], json!([ch]));
    let info = get_as(&app, &bot.token, &format!("/api/v1/channels.info?channel_id={ch}")).await;
    ok(&info, "the bot acts in the channel it was installed in");

    ok(&install_in(json!({"channel_id": "C0PLATFORM", "external": true})).await, "an outside platform's channel");
    let view = app.get(&format!("/api/v1/bots/{}", bot.id)).await.body;
    assert_eq!(view["installed_channels"], json!([ch, "C0PLATFORM"]));
}

// ───────────────────────────── gateway ─────────────────────────────

/// An existing platform posts its own events to hookd; the installed bot gets them signed, and what the bot
/// posts goes back to the platform through the outbound application `hookd-chat`.
#[tokio::test]
async fn gateway_events_reach_the_bot_and_its_posts_come_back_through_hookd_chat() {
    let app = spawn_app().await;
    let (bot_recv, platform) = (Receiver::start().await, Receiver::start().await);
    assert_eq!(app.post("/api/v1/app", json!({"name": "chat", "uid": "hookd-chat"})).await.status, 201);
    assert_eq!(app.post("/api/v1/app/hookd-chat/endpoint", json!({"url": platform.url})).await.status, 201);
    let bot = register(
        &app,
        json!({"name": "Gateway Bot", "scopes": ["messages:write"], "webhook_url": bot_recv.url, "webhook_events": ["message.sent"]}),
    )
    .await;
    let event = |id: &str| {
        json!({
            "event_type": "message.sent",
            "event_id": id,
            "channel": {"channel_id": "C0PLATFORM", "name": "general", "type": "public"},
            "sender": {"user_id": "U_ALICE", "username": "alice", "display_name": "Alice", "is_bot": false},
            "payload": {"message_id": "M1", "text": "hi @gateway-bot", "mentions": [{"user_id": bot.user_id, "type": "bot"}],
                "attachments": [], "thread_id": null}
        })
    };
    // Not installed in the platform's channel yet: nobody to deliver to.
    let r = app.post("/api/v1/events", event("evt_platform_1")).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["deliveries"], 0, "{:?}", r.body);
    install(&app, &bot, "C0PLATFORM").await;
    let r = app.post("/api/v1/events", event("evt_platform_2")).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["event_id"], "evt_platform_2");
    assert_eq!(r.body["deliveries"], 1, "{:?}", r.body);

    let got = bot_recv.wait_for(1).await;
    let b = got[0].json();
    assert_eq!(bot_recv.received().len(), 1, "only the event after the install");
    assert_eq!(b["event_type"], "message.sent");
    assert_eq!(b["event_id"], "evt_platform_2");
    assert_eq!(b["bot_id"], bot.id.as_str());
    assert_eq!(b["channel"]["channel_id"], "C0PLATFORM");
    assert_eq!(b["sender"]["user_id"], "U_ALICE");
    assert_eq!(b["payload"]["text"], "hi @gateway-bot");
    assert_eq!(b["payload"]["message_id"], "M1");
    assert_eq!(got[0].header("x-event-type"), "message.sent");
    assert_seed_recipes_verify(&got[0], &bot.secret);

    // The bot answers in the platform's channel; the platform hears of it through hookd-chat.
    let mid = say(&app, &bot.token, "C0PLATFORM", "Hello from the bot").await;
    let back = wait_request(&platform, "the bot's post at the platform", |r| {
        String::from_utf8_lossy(&r.body).contains("Hello from the bot")
    })
    .await;
    let body = String::from_utf8_lossy(&back.body).to_string();
    assert!(body.contains("C0PLATFORM") && body.contains(&mid), "{body}");
    assert!(back.header("svix-signature").starts_with("v1,") || back.header("webhook-signature").starts_with("v1,"));

    // An edit by the bot goes back as message.edited.
    ok(
        &post_as(
            &app,
            &bot.token,
            "/api/v1/chat.update",
            json!({"channel_id": "C0PLATFORM", "message_id": mid, "text": "Hello again"}),
        )
        .await,
        "chat.update",
    );
    wait_request(&platform, "the bot's edit at the platform", |r| {
        String::from_utf8_lossy(&r.body).contains("Hello again")
    })
    .await;
    let msgs = app.get("/api/v1/app/hookd-chat/msg?with_content=true").await;
    let sent: Vec<(String, String)> = msgs.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["eventType"].as_str().unwrap().to_string(), m["payload"].to_string()))
        .collect();
    let of = |t: &str| sent.iter().filter(|(et, _)| et == t).map(|(_, p)| p.clone()).collect::<Vec<_>>();
    assert!(of("message.sent").iter().any(|p| p.contains("Hello from the bot")), "{sent:?}");
    assert!(of("message.edited").iter().any(|p| p.contains("Hello again") && p.contains(&mid)), "{sent:?}");

    // Bot tokens cannot inject platform events.
    let r = post_as(&app, &bot.token, "/api/v1/events", event("evt_platform_3")).await;
    assert!(r.status == 401 || r.status == 403, "a bot posting a platform event: {}", r.status);

    // Only what bots post goes back: the platform's own events are not echoed to it.
    let echoed: Vec<String> = platform
        .received()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).to_string())
        .filter(|b| b.contains("hi @gateway-bot"))
        .collect();
    assert!(echoed.is_empty(), "the platform's own events came back to it through hookd-chat: {echoed:?}");
    assert_eq!(sent.len(), 2, "hookd-chat messages: only the bot's post and edit: {sent:?}");
}
