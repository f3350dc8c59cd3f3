//! Secrets at rest (issue 10, item 5; seed 002): every secret hookd keeps — endpoints' signing keys (custom,
//! generated, rotated-out), inbound registrations' secrets, the timers' signing key, a bot's webhook secret and
//! incoming-webhook token — is sealed under the main key, so that none can be read in the database's own bytes
//! (the SQLite file and its WAL, or every row of every PostgreSQL table). Deliveries still verify with the
//! official libraries; a start with the wrong key stops with a clear error; `hookd keys rotate` reseals under a
//! new key and the old one is refused from then on.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use common::*;
use hmac::{Hmac, Mac};
use hookd::store::{DocKind, DocRecord, Store};
use serde_json::{json, Value};

const TOKEN: &str = "secrets-token";
const ENV: [(&str, &str); 2] = [("HOOKD_ADMIN_TOKEN", TOKEN), ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true")];

/// A database for the test with its key file: the default one beside a SQLite database; on PostgreSQL (no file
/// to sit beside) one named with `HOOKD_MAIN_KEY_FILE`.
struct Db {
    url: String,
    key_file: PathBuf,
    dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database_url(dir.path());
        let key_file = if on_postgres() { dir.path().join("main.key") } else { dir.path().join("hookd.db.key") };
        Db { url, key_file, dir }
    }

    /// The environment of a `hookd` command on this database, plus `extra`.
    fn env(&self, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let mut env: Vec<(&'static str, String)> = ENV.iter().map(|(k, v)| (*k, v.to_string())).collect();
        env.push(("HOOKD_DATABASE_URL", self.url.clone()));
        if on_postgres() {
            env.push(("HOOKD_MAIN_KEY_FILE", self.key_file.display().to_string()));
        }
        env.extend(extra.iter().cloned());
        env
    }

    async fn start(&self, extra: &[(&'static str, String)]) -> HookdProcess {
        let port = free_port();
        let env = self.env(extra);
        HookdProcess::start_with(port, |cmd| {
            cmd.arg("serve").env("HOOKD_LISTEN", format!("127.0.0.1:{port}"));
            for (k, v) in &env {
                cmd.env(k, v);
            }
        })
        .await
    }

    /// Runs `hookd ARGS` to its end (within a deadline): (success, stdout and stderr).
    fn run(&self, args: &[&str], extra: &[(&'static str, String)]) -> (bool, String) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"));
        cmd.args(args).env_remove("HOOKD_MAIN_KEY").env("HOOKD_LISTEN", format!("127.0.0.1:{}", free_port()));
        for (k, v) in self.env(extra) {
            cmd.env(k, v);
        }
        let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("hookd {args:?} still running after {WAIT:?}")
        });
        let out = out.unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }

    /// Every byte the database holds: the SQLite file with its WAL (and whatever else hookd keeps beside it but
    /// the key), or the text of every row of every PostgreSQL table.
    async fn raw(&self) -> Vec<u8> {
        if !on_postgres() {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(self.dir.path()).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if name.starts_with("hookd.db") && !name.ends_with(".key") {
                    all.extend(std::fs::read(&path).unwrap());
                }
            }
            assert!(all.len() > 4096, "the database files were read");
            return all;
        }
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let tables =
            client.query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'", &[]).await.unwrap();
        let mut all = Vec::new();
        for t in tables {
            let table: String = t.get(0);
            for row in client.query(&format!("SELECT t::text FROM {table} t"), &[]).await.unwrap() {
                all.extend(row.get::<_, String>(0).into_bytes());
                all.push(b'\n');
            }
        }
        all
    }

    fn key_mode(&self) -> u32 {
        std::fs::metadata(&self.key_file).unwrap().permissions().mode() & 0o777
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that no secret can be found in `raw`: not as text, not hex-encoded (PostgreSQL shows byte columns
/// so), and, for `whsec_` secrets, not their base64 key alone.
fn assert_none_readable(raw: &[u8], secrets: &[String]) {
    for s in secrets {
        let mut forms = vec![s.clone(), hex::encode(s)];
        if let Some(b64) = s.strip_prefix("whsec_") {
            forms.push(b64.to_string());
        }
        for form in forms {
            assert!(!contains(raw, form.as_bytes()), "the secret {s} is readable in the database (as {form})");
        }
    }
}

fn random_secret() -> String {
    let key: [u8; 24] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

fn github_signature(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn call(base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new().request(method.clone(), format!("{base}{path}")).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{method} {path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

async fn post(base: &str, path: &str, body: Value) -> Value {
    call(base, reqwest::Method::POST, path, Some(body)).await
}

async fn get(base: &str, path: &str) -> Value {
    call(base, reqwest::Method::GET, path, None).await
}

/// A GitHub event signed with `secret` to the registration's URL on the hookd at `base` (each start listens on
/// a port of its own): its answer's status.
async fn send_github(base: &str, reg: &Value, delivery: &str, secret: &str) -> u16 {
    let body = json!({"action": "opened", "issue": {"id": 1}}).to_string();
    let path = format!("/webhooks/{}", reg["registrationId"].as_str().unwrap());
    assert!(reg["webhookUrl"].as_str().unwrap().ends_with(&path), "{reg}");
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", github_signature(secret, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Publishes a message to `app` and checks, with the official Python libraries, that what `recv` got as its
/// `n`th request is signed with `secret`.
async fn publish_and_verify(base: &str, app: &str, recv: &Receiver, n: usize, secret: &str) {
    post(base, &format!("/api/v1/app/{app}/msg"), json!({"eventType": "a.b", "payload": {"n": n}})).await;
    let got = recv.wait_for(n).await;
    let got = &got[n - 1];
    let headers: serde_json::Map<String, Value> =
        got.headers.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap().to_string()))).collect();
    let input = json!({"body": String::from_utf8(got.body.to_vec()).unwrap(), "headers": headers, "secret": secret});
    let (ok, out) = run_script(&python(), &script("py/verify_standard.py"), &input);
    assert!(ok, "the official libraries refused the signature with {secret}: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_hookd_keeps_is_readable_in_the_database() {
    let db = Db::new();
    let hookd = db.start(&[]).await;
    let base = hookd.base.clone();
    let recv = Receiver::start().await;
    assert_eq!(db.key_mode(), 0o600, "the key file made on first start is the owner's alone");

    // Outbound: a custom secret, rotated to another custom one (the first keeps signing for the grace period),
    // and a second endpoint with a generated secret.
    let (first, second) = (random_secret(), random_secret());
    let app = post(&base, "/api/v1/app", json!({"name": "sealed"})).await["id"].as_str().unwrap().to_string();
    let ep = post(&base, &format!("/api/v1/app/{app}/endpoint"), json!({"url": recv.url, "secret": first})).await;
    let ep_path = format!("/api/v1/app/{app}/endpoint/{}", ep["id"].as_str().unwrap());
    post(&base, &format!("{ep_path}/secret/rotate"), json!({"key": second})).await;
    // The second one sends a custom header and has a transformation with a variable: receivers' tokens.
    let (header_token, variable_token) = (random_secret(), random_secret());
    let other_recv = Receiver::start().await;
    let other = post(
        &base,
        &format!("/api/v1/app/{app}/endpoint"),
        json!({"url": other_recv.url, "headers": {"X-Receiver-Token": header_token}}),
    )
    .await;
    let code = "function handler(w) { w.payload.tokenLength = variables.token.length; return w; }";
    call(
        &base,
        reqwest::Method::PATCH,
        &format!("/api/v1/app/{app}/endpoint/{}/transformation", other["id"].as_str().unwrap()),
        Some(json!({"code": code, "enabled": true, "variables": {"token": variable_token}})),
    )
    .await;
    let generated = get(&base, &format!("/api/v1/app/{app}/endpoint/{}/secret", other["id"].as_str().unwrap())).await
        ["key"]
        .as_str()
        .unwrap()
        .to_string();

    // Inbound: a provider-issued secret, and a generated one.
    let gh_secret = format!("gh-{}", hookd::ids::random_token(24));
    let reg = post(
        &base,
        "/integrations/github/webhooks",
        json!({"connectionId": "conn-sealed", "events": ["*"], "webhookSecret": gh_secret}),
    )
    .await;
    let reg2 = post(&base, "/integrations/stripe/webhooks", json!({"connectionId": "conn-2", "events": ["*"]})).await;
    let gen_secret = reg2["webhookSecret"].as_str().unwrap().to_string();

    // Timers: the organization's signing key.
    let timer = reqwest::Client::new()
        .post(format!("{base}/timers"))
        .header("x-api-key", TOKEN)
        .json(&json!({"name": "t", "duration": "1h", "events": {"on_expire": {"webhook": recv.url}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(timer.status(), 201);
    let timer_secret = reqwest::Client::new()
        .get(format!("{base}/timers/webhook-secret"))
        .header("x-api-key", TOKEN)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();

    // Bots: the webhook secret and the incoming-webhook token (the bot token is stored hashed), created with an
    // Idempotency-Key: the stored answer shows them.
    let bot_recv = Receiver::start().await;
    let create_bot = || {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/bots"))
            .bearer_auth(TOKEN)
            .header("idempotency-key", "bot-once")
            .json(&json!({"name": "Sealbot", "webhook_url": bot_recv.url}))
            .send()
    };
    let bot = create_bot().await.unwrap();
    assert_eq!(bot.status(), 201);
    let bot: Value = bot.json().await.unwrap();
    let bot_secret = bot["credentials"]["webhook_secret"].as_str().unwrap().to_string();
    let bot_token = bot["credentials"]["bot_token"].as_str().unwrap().to_string();
    let incoming = bot["credentials"]["incoming_webhook_url"].as_str().unwrap();
    let incoming_token = incoming.rsplit('/').next().unwrap().to_string();

    // Everything still works from the sealed store: deliveries verify with both live keys, the registration
    // verifies its provider's signature, the idempotent answer replays.
    publish_and_verify(&base, &app, &recv, 1, &second).await;
    publish_and_verify(&base, &app, &other_recv, 1, &generated).await;
    let sent = &other_recv.received()[0];
    assert_eq!(sent.header("x-receiver-token"), header_token, "the custom header opens for sending");
    assert_eq!(sent.json()["tokenLength"], variable_token.len(), "the variable opens for the transformation");
    let got = recv.received();
    let sig = got[0].header("svix-signature");
    assert_eq!(sig.split(' ').count(), 2, "the rotated-out key signs too during its grace: {sig}");
    assert_eq!(send_github(&base, &reg, "d-1", &gh_secret).await, 200);
    assert_eq!(send_github(&base, &reg, "d-2", "not-the-secret").await, 401);
    let replay: Value = create_bot().await.unwrap().json().await.unwrap();
    assert_eq!(replay["credentials"], bot["credentials"], "the idempotent answer replays from its sealed copy");
    assert!(hookd.terminate().0);

    let secrets = vec![
        first,
        second,
        generated,
        gh_secret.clone(),
        gen_secret,
        timer_secret,
        bot_secret,
        bot_token,
        incoming_token,
        header_token,
        variable_token,
    ];
    let raw = db.raw().await;
    assert!(contains(&raw, b"conn-sealed") && contains(&raw, recv.url.as_bytes()), "the dump holds the documents");
    assert!(contains(&raw, b"enc:v1:"), "and their sealed secrets");
    assert_none_readable(&raw, &secrets);

    // After a restart the sealed secrets open again.
    let again = db.start(&[]).await;
    let reg_again = get(&again.base, &format!("/webhooks/{}", reg["registrationId"].as_str().unwrap())).await;
    assert_eq!(reg_again["connectionId"], "conn-sealed");
    assert_eq!(send_github(&again.base, &reg, "d-3", &gh_secret).await, 200);
    assert!(again.terminate().0);
    assert_none_readable(&db.raw().await, &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused_and_a_rotated_key_signs_with_the_same_secrets() {
    let db = Db::new();
    let recv = Receiver::start().await;
    let secret = random_secret();
    let hookd = db.start(&[]).await;
    let app = post(&hookd.base, "/api/v1/app", json!({"name": "rotating", "uid": "rotating"})).await;
    let app = app["id"].as_str().unwrap().to_string();
    post(&hookd.base, &format!("/api/v1/app/{app}/endpoint"), json!({"url": recv.url, "secret": secret})).await;
    let gh_secret = format!("gh-{}", hookd::ids::random_token(24));
    let reg = post(
        &hookd.base,
        "/integrations/github/webhooks",
        json!({"connectionId": "c", "events": ["*"], "webhookSecret": gh_secret}),
    )
    .await;
    assert!(hookd.terminate().0);
    let first_key = std::fs::read_to_string(&db.key_file).unwrap().trim().to_string();

    // Another key: hookd stops at once, saying why, rather than sign with garbage.
    let wrong = hex::encode(rand::random::<[u8; 32]>());
    let (ok, out) = db.run(&["serve"], &[("HOOKD_MAIN_KEY", wrong.clone())]);
    assert!(!ok, "hookd started with the wrong key: {out}");
    assert!(out.contains("wrong main key"), "{out}");
    let (ok, out) = db.run(&["serve"], &[("HOOKD_MAIN_KEY", "not a key".into())]);
    assert!(!ok && out.contains("64 hex digits"), "{out}");

    // Rotation with hookd stopped: a new key in the same file, the old one refused from then on.
    let (ok, out) = db.run(&["keys", "rotate"], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("resealed"), "{out}");
    let second_key = std::fs::read_to_string(&db.key_file).unwrap().trim().to_string();
    assert_ne!(second_key, first_key);
    assert_eq!(db.key_mode(), 0o600);
    let (ok, out) = db.run(&["serve"], &[("HOOKD_MAIN_KEY", first_key.clone())]);
    assert!(!ok && out.contains("wrong main key"), "the old key is refused after a rotation: {out}");

    let hookd = db.start(&[]).await;
    publish_and_verify(&hookd.base, &app, &recv, 1, &secret).await;
    assert_eq!(send_github(&hookd.base, &reg, "d-1", &gh_secret).await, 200);
    // While hookd serves, rotation is refused: by SQLite's lock file, or by PostgreSQL's list of live nodes. A node
    // that stopped gracefully has left that list (the rotations here follow a stop at once).
    let (ok, out) = db.run(&["keys", "rotate"], &[]);
    let why = if on_postgres() { "1 hookd node(s) serve this database" } else { "in use by another hookd process" };
    assert!(!ok && out.contains(why), "{out}");
    assert!(hookd.terminate().0);

    // A key from HOOKD_MAIN_KEY rotates only to a key given with --new-key.
    let (ok, out) = db.run(&["keys", "rotate"], &[("HOOKD_MAIN_KEY", second_key.clone())]);
    assert!(!ok && out.contains("--new-key"), "{out}");
    let third_key = hex::encode(rand::random::<[u8; 32]>());
    let (ok, out) = db.run(&["keys", "rotate", "--new-key", &third_key], &[("HOOKD_MAIN_KEY", second_key.clone())]);
    assert!(ok, "{out}");
    let (ok, out) = db.run(&["serve"], &[]);
    assert!(!ok && out.contains("wrong main key"), "the key file still holds the second key: {out}");
    let hookd = db.start(&[("HOOKD_MAIN_KEY", third_key)]).await;
    publish_and_verify(&hookd.base, &app, &recv, 2, &secret).await;
    assert!(hookd.terminate().0);
    assert_none_readable(&db.raw().await, &[secret, gh_secret]);
}

/// The document `id` as the backend holds it, read past the sealing layer.
async fn raw_doc(url: &str, kind: DocKind, id: &str) -> (Arc<dyn Store>, DocRecord) {
    let raw = hookd::store::open(url, hookd::config::Durability::Normal, false).await.unwrap();
    let rec = raw.doc_get_any(kind, id).await.unwrap().expect("the document is stored");
    (raw, rec)
}

async fn raw_endpoint(url: &str, id: &str) -> (Arc<dyn Store>, DocRecord) {
    raw_doc(url, DocKind::Endpoint, id).await
}

/// Makes the store what an older hookd left: the document `id` changed by `change` past the sealing layer, and
/// the meta rows matching the SQL condition `meta` deleted.
async fn as_left_by_an_older_hookd(db: &Db, kind: DocKind, id: &str, change: impl FnOnce(&mut Value), meta: &str) {
    let (raw, mut rec) = raw_doc(&db.url, kind, id).await;
    let mut data: Value = serde_json::from_str(&rec.data).unwrap();
    change(&mut data);
    rec.data = data.to_string();
    assert!(raw.doc_update(rec).await.unwrap());
    let sql = format!("DELETE FROM meta WHERE {meta}");
    if on_postgres() {
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.execute(&sql, &[]).await.unwrap();
    } else {
        rusqlite::Connection::open(db.dir.path().join("hookd.db")).unwrap().execute(&sql, []).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_secrets_of_an_older_database_are_sealed_on_its_first_start() {
    let db = Db::new();
    let recv = Receiver::start().await;
    let secret = random_secret();
    let hookd = db.start(&[]).await;
    let app = post(&hookd.base, "/api/v1/app", json!({"name": "old"})).await["id"].as_str().unwrap().to_string();
    let ep =
        post(&hookd.base, &format!("/api/v1/app/{app}/endpoint"), json!({"url": recv.url, "secret": secret})).await;
    let ep_id = ep["id"].as_str().unwrap().to_string();
    assert!(hookd.terminate().0);

    // Make it what an older hookd left: the secret in plaintext and no check value.
    let plaintext = |data: &mut Value| {
        assert!(data["secrets"][0]["key"].as_str().unwrap().starts_with("enc:v1:"));
        data["secrets"][0]["key"] = json!(secret);
    };
    as_left_by_an_older_hookd(&db, DocKind::Endpoint, &ep_id, plaintext, "true").await;
    assert!(raw_endpoint(&db.url, &ep_id).await.1.data.contains(&secret), "the secret is in plaintext now");

    let hookd = db.start(&[]).await;
    assert!(!raw_endpoint(&db.url, &ep_id).await.1.data.contains(&secret), "the first start sealed it");
    let got = get(&hookd.base, &format!("/api/v1/app/{app}/endpoint/{ep_id}/secret")).await;
    assert_eq!(got["key"], secret.as_str());
    publish_and_verify(&hookd.base, &app, &recv, 1, &secret).await;
    assert!(hookd.terminate().0);
    // Sealing is done once: the next start checks the key and goes on.
    let hookd = db.start(&[]).await;
    publish_and_verify(&hookd.base, &app, &recv, 2, &secret).await;
    assert!(hookd.terminate().0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_of_a_store_sealed_before_they_counted_as_secrets_are_sealed_on_start() {
    let db = Db::new();
    let recv = Receiver::start().await;
    let token = random_secret();
    let hookd = db.start(&[]).await;
    let app = post(&hookd.base, "/api/v1/app", json!({"name": "older"})).await["id"].as_str().unwrap().to_string();
    let body = json!({"url": recv.url, "headers": {"Authorization": format!("Bearer {token}")}});
    let create = |base: &str| {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/app/{app}/endpoint"))
            .bearer_auth(TOKEN)
            .header("idempotency-key", "ep-once")
            .json(&body)
            .send()
    };
    let ep: Value = create(&hookd.base).await.unwrap().json().await.unwrap();
    let ep_id = ep["id"].as_str().unwrap().to_string();
    assert!(hookd.terminate().0);

    // Make it what the previous version left: signing keys sealed, the custom header in plaintext, and no word
    // of which fields are sealed.
    let plaintext = |data: &mut Value| data["headers"]["Authorization"] = json!(format!("Bearer {token}"));
    as_left_by_an_older_hookd(&db, DocKind::Endpoint, &ep_id, plaintext, "name = 'sealed_fields'").await;
    assert!(raw_endpoint(&db.url, &ep_id).await.1.data.contains(&token));

    let hookd = db.start(&[]).await;
    assert!(!raw_endpoint(&db.url, &ep_id).await.1.data.contains(&token), "the start sealed the header");
    post(&hookd.base, &format!("/api/v1/app/{app}/msg"), json!({"eventType": "a.b", "payload": {}})).await;
    assert_eq!(recv.wait_for(1).await[0].header("authorization"), format!("Bearer {token}"));
    // The key did not change, so the stored idempotent answers stay: a retry gets the same endpoint.
    let again: Value = create(&hookd.base).await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], ep["id"], "answered from the stored answer");
    assert!(hookd.terminate().0);
}

/// A timer whose webhook goes to `url` within 100 ms.
async fn short_timer(base: &str, url: String) {
    post(base, "/timers", json!({"name": "t", "duration": "100ms", "events": {"on_expire": {"webhook": url}}})).await;
}

/// After a start on a store whose timers application kept the key in its metadata: the key is out of there and
/// sealed in its own field; `GET /timers/webhook-secret` answers the same key, and the webhooks of the endpoint
/// made before (to `before`, its `n`th) and of a new one (made from the moved key) are signed with it.
async fn assert_moved(db: &Db, base: &str, app_id: &str, secret: &str, before: &Receiver, n: usize) {
    let (_, rec) = raw_doc(&db.url, DocKind::Application, app_id).await;
    assert!(!rec.data.contains("timerWebhookSecret") && !rec.data.contains(secret), "{}", rec.data);
    assert!(rec.data.contains(r#""signing_key":"enc:v1:"#), "sealed in its own field: {}", rec.data);
    let app = get(base, "/api/v1/app/hookd-timers").await;
    assert_eq!(app["metadata"], json!({}), "{app}");
    assert_eq!(get(base, "/timers/webhook-secret").await["secret"], secret);
    let new = Receiver::start().await;
    short_timer(base, before.url.clone()).await;
    short_timer(base, new.url.clone()).await;
    for got in [&before.wait_for(n).await[n - 1], &new.wait_for(1).await[0]] {
        let body = std::str::from_utf8(&got.body).unwrap();
        assert_eq!(got.header("x-minoots-signature"), github_signature(secret, body), "signed with the same key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timers_key_an_older_hookd_kept_in_the_metadata_is_moved_on_start() {
    let db = Db::new();
    let recv = Receiver::start().await;
    let hookd = db.start(&[]).await;
    short_timer(&hookd.base, recv.url.clone()).await;
    recv.wait_for(1).await;
    let secret = get(&hookd.base, "/timers/webhook-secret").await["secret"].as_str().unwrap().to_string();
    let app_id = get(&hookd.base, "/api/v1/app/hookd-timers").await["id"].as_str().unwrap().to_string();
    assert!(hookd.terminate().0);

    // Sealed in the metadata, as the previous version kept it (and every reader of the application saw it).
    let to_metadata = |data: &mut Value| {
        let key = data.as_object_mut().unwrap().remove("signing_key").expect("the key in its own field");
        assert!(key.as_str().unwrap().starts_with("enc:v1:"), "{key}");
        data["metadata"]["timerWebhookSecret"] = key;
    };
    as_left_by_an_older_hookd(&db, DocKind::Application, &app_id, to_metadata, "name = 'sealed_fields'").await;
    assert!(raw_doc(&db.url, DocKind::Application, &app_id).await.1.data.contains("timerWebhookSecret"));
    let hookd = db.start(&[]).await;
    assert_moved(&db, &hookd.base, &app_id, &secret, &recv, 2).await;
    assert!(hookd.terminate().0);

    // In plaintext in the metadata, as a version from before secrets were sealed kept it.
    let plaintext = |data: &mut Value| {
        data.as_object_mut().unwrap().remove("signing_key");
        data["metadata"]["timerWebhookSecret"] = json!(secret);
    };
    as_left_by_an_older_hookd(&db, DocKind::Application, &app_id, plaintext, "true").await;
    assert!(raw_doc(&db.url, DocKind::Application, &app_id).await.1.data.contains(&secret));
    let hookd = db.start(&[]).await;
    assert_moved(&db, &hookd.base, &app_id, &secret, &recv, 3).await;
    assert!(hookd.terminate().0);
}
