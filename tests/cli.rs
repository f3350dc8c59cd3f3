//! The binary as a user runs it: first start, tokens, a TOML config file, graceful shutdown.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

async fn status_of(base: &str, token: &str, path: &str) -> u16 {
    reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn first_start_prints_an_admin_token_once_and_sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();

    let first = HookdProcess::start(&db, port, &[]).await;
    let base = first.base.clone();
    let (clean, out) = first.terminate();
    assert!(clean, "SIGTERM ends hookd with status 0");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("Admin token (shown once, keep it): "))
        .unwrap_or_else(|| panic!("no token printed: {out:?}"))
        .to_string();
    assert!(token.starts_with("hk_"));

    let second = HookdProcess::start(&db, port, &[]).await;
    assert_eq!(status_of(&base, &token, "/api/v1/app").await, 200, "the printed token works after a restart");
    assert_eq!(status_of(&base, "hk_guess", "/api/v1/app").await, 401);
    let (clean, out) = second.terminate();
    assert!(clean);
    assert!(!out.contains("Admin token"), "printed only on the first start: {out:?}");
}

#[tokio::test]
async fn sigterm_stops_hookd_even_while_a_client_holds_a_connection_open() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let server =
        HookdProcess::start(&db, port, &[("HOOKD_ADMIN_TOKEN", "admin"), ("HOOKD_SHUTDOWN_GRACE", "1s")]).await;
    // Half a request: the graceful drain would wait for the rest forever.
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.write_all(b"GET /api/v1/health/ping HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert_eq!(status_of(&server.base, "admin", "/api/v1/app").await, 200, "the connection is being served");

    let (clean, _) = server.terminate();
    assert!(clean, "past the grace hookd exits anyway, with status 0");
    drop(idle);
}

#[tokio::test]
async fn token_create_makes_tokens_for_the_default_or_a_new_organization() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let server = HookdProcess::start(&db, port, &[("HOOKD_ADMIN_TOKEN", "admin")]).await;
    let create = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(["token", "create", "--database-url", &db])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let same_org = create(&[]);
    let other_org = create(&["--new-org", "acme"]);

    let app = post_json(&server.base, "admin", "/api/v1/app", json!({"name": "a"})).await;
    let path = format!("/api/v1/app/{}", app["id"].as_str().unwrap());
    assert_eq!(status_of(&server.base, &same_org, &path).await, 200, "same organization");
    assert_eq!(status_of(&server.base, &other_org, &path).await, 404, "another organization");
}

#[tokio::test]
async fn a_toml_config_file_configures_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("hookd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"sqlite://{}/from-toml.db\"\nadmin_token = \"from-toml\"\nretry_schedule = \"1s,2s\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let server = HookdProcess::start_with(port, |cmd| {
        cmd.arg("serve").arg("--config").arg(&config);
    })
    .await;
    assert_eq!(status_of(&server.base, "from-toml", "/api/v1/app").await, 200);
    assert!(dir.path().join("from-toml.db").exists());

    // An unknown key is refused, naming it.
    std::fs::write(&config, "listen = \"127.0.0.1:1\"\nnot_a_setting = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hookd")).arg("serve").arg("--config").arg(&config).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_a_setting"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `hookd listen` as an endpoint's URL: each delivery is printed as a JSON line with its Standard Webhooks
/// signature checked against the endpoint's secret; a forged request is printed unverified and answered 401.
#[tokio::test]
async fn listen_prints_and_verifies_what_an_endpoint_is_sent() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (listener, lines) = start_listen(&[secret]).await;

    let app = spawn_app().await;
    let (app_id, _) = app.app_with_endpoint(&format!("{}/hook", listener.base), json!({"secret": secret})).await;
    app.publish(&app_id, "invoice.paid", json!({"id": 42})).await;
    let got = next_line(&lines).await;
    assert_eq!(got["verified"], true, "{got}");
    assert_eq!(got["path"], "/hook");
    assert_eq!(got["body"], json!({"id": 42}));
    assert!(got["headers"]["svix-signature"].as_str().unwrap().starts_with("v1,"), "{got}");

    let forged = reqwest::Client::new()
        .post(format!("{}/hook", listener.base))
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", (hookd::store::now_ms() / 1000).to_string())
        .header("webhook-signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let got = next_line(&lines).await;
    assert_eq!(got["verified"], false, "{got}");
    assert!(got["error"].as_str().unwrap().contains("signature"), "{got}");

    // SIGTERM ends it at once (its stdout closes), though hookd still holds a keep-alive connection to it.
    Command::new("kill").args(["-TERM", &listener.child.id().to_string()]).status().unwrap();
    assert_eq!(
        lines.recv_timeout(std::time::Duration::from_secs(10)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
        "hookd listen exits on SIGTERM"
    );
}

/// `hookd listen --secret …` once per secret, started and accepting connections; its stdout's lines.
async fn start_listen(secrets: &[&str]) -> (HookdProcess, std::sync::mpsc::Receiver<String>) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookd"));
    cmd.args(["listen", "--listen", &format!("127.0.0.1:{port}")]).env_remove("HOOKD_LISTEN_SECRET");
    for s in secrets {
        cmd.args(["--secret", s]);
    }
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    eventually("hookd listen to accept connections", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
    })
    .await;
    (HookdProcess { child, base: format!("http://127.0.0.1:{port}") }, lines)
}

/// The next line `hookd listen` printed, waited for without blocking the runtime (which runs the server).
async fn next_line(lines: &std::sync::mpsc::Receiver<String>) -> serde_json::Value {
    let line = eventually("hookd listen to print a line", || async { lines.try_recv().ok() }).await;
    serde_json::from_str(&line).unwrap()
}

/// One `hookd listen` for an application's endpoint and for timers, given both keys: the endpoint's message and
/// the timer's webhook (signed with the organization's timer key, Standard Webhooks and `x-minoots-signature`)
/// both verify. Given only the endpoint's key, the timer webhook is answered 401 with a hint naming the timer key.
#[tokio::test]
async fn listen_verifies_timer_webhooks_with_the_timer_key_among_its_secrets() {
    let app = spawn_app().await;
    let timer_key = app.get("/timers/webhook-secret").await.body["secret"].as_str().unwrap().to_string();
    let ep_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let timer = |url: String| json!({"name": "build", "duration": "50ms", "events": {"on_expire": {"webhook": url}}});

    let (listener, lines) = start_listen(&[ep_secret, &timer_key]).await;
    let (app_id, _) = app.app_with_endpoint(&format!("{}/hook", listener.base), json!({"secret": ep_secret})).await;
    app.publish(&app_id, "invoice.paid", json!({"id": 42})).await;
    let got = next_line(&lines).await;
    assert_eq!((got["path"].as_str(), got["verified"].as_bool()), (Some("/hook"), Some(true)), "{got}");
    assert_eq!(app.post("/timers", timer(format!("{}/timer", listener.base))).await.status, 201);
    let got = next_line(&lines).await;
    assert_eq!(got["path"], "/timer", "{got}");
    assert_eq!(got["verified"], true, "the timer webhook verifies with the timer key: {got}");
    assert!(got["headers"]["x-minoots-signature"].as_str().unwrap().starts_with("sha256="), "{got}");

    // A forged x-minoots-signature beside a good Standard Webhooks signature is refused.
    let (body, ts) = (br#"{"event":"timer_expired"}"#, hookd::store::now_ms() / 1000);
    let standard = hookd::engine::signing::standard_signature("msg_1", ts, body, [timer_key.as_str()].into_iter());
    let minoots = hookd::engine::signing::HmacScheme::preset("minoots").unwrap().sign(&timer_key, "", "", body);
    for (sig, status) in [(format!("sha256={}", "0".repeat(64)), 401), (minoots, 200)] {
        let r = reqwest::Client::new()
            .post(format!("{}/timer", listener.base))
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", &standard)
            .header("x-minoots-signature", sig)
            .body(&body[..])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
        let got = next_line(&lines).await;
        assert_eq!(got["verified"], status == 200, "{got}");
        if status == 401 {
            assert!(got["error"].as_str().unwrap().contains("x-minoots-signature"), "{got}");
        }
    }

    let (only_endpoint, lines) = start_listen(&[ep_secret]).await;
    assert_eq!(app.post("/timers", timer(format!("{}/timer", only_endpoint.base))).await.status, 201);
    let got = next_line(&lines).await;
    assert_eq!(got["verified"], false, "{got}");
    assert!(got["error"].as_str().unwrap().contains("/timers/webhook-secret"), "a hint: {got}");
}

/// `hookd verify` on a request signed by the official `standardwebhooks` library (tests/inbound/sign): verified,
/// and refused once the body is changed or the timestamp is past the tolerance.
#[test]
fn verify_checks_a_captured_request_signed_by_the_official_library() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = r#"{"type":"invoice.paid","data":{"id":42}}"#;
    let sign = |timestamp: i64| -> serde_json::Value {
        let mut child = Command::new(python())
            .arg(script("inbound/sign/standard_webhooks.py"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let input = json!({"secret": secret, "body": body, "timestamp": timestamp, "url": ""});
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.to_string().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let verify = |signed: &serde_json::Value, body: &str, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookd"));
        cmd.args(["verify", "--secret", secret, "--body", body]).args(extra);
        for (k, v) in signed["headers"].as_object().unwrap() {
            cmd.args(["-H", &format!("{k}: {}", v.as_str().unwrap())]);
        }
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let now = hookd::store::now_ms() / 1000;
    let fresh = sign(now);
    assert_eq!(verify(&fresh, body, &[]), (true, "verified\n".to_string()));
    let (ok, out) = verify(&fresh, &body.replace("42", "43"), &[]);
    assert!(!ok && out.contains("invalid signature"), "{out}");

    // The same headers under Svix's names verify too, also when a stale `webhook-*` copy rides along, and
    // `--provider svix` names the same verifier.
    let as_svix = |signed: &serde_json::Value| -> serde_json::Value {
        let h = signed["headers"].as_object().unwrap();
        json!({"headers": h.iter().map(|(k, v)| (k.replace("webhook-", "svix-"), v.clone())).collect::<serde_json::Map<_, _>>()})
    };
    assert_eq!(verify(&as_svix(&fresh), body, &[]), (true, "verified\n".to_string()));
    assert_eq!(verify(&as_svix(&fresh), body, &["--provider", "svix"]), (true, "verified\n".to_string()));
    let mut both = as_svix(&fresh);
    for (k, v) in sign(now - 3600)["headers"].as_object().unwrap() {
        both["headers"][k] = v.clone();
    }
    assert_eq!(verify(&both, body, &[]), (true, "verified\n".to_string()), "the svix-* set verifies: {both}");

    let old = sign(now - 3600);
    let (ok, out) = verify(&old, body, &[]);
    assert!(!ok && out.contains("tolerance"), "an hour old: {out}");
    assert!(verify(&old, body, &["--tolerance", "7200"]).0, "accepted with a wider tolerance");
}

/// `hookd send` publishes through the outbound API: the message reaches the endpoint; a bad token is an error.
#[tokio::test]
async fn send_publishes_a_message_from_the_command_line() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let (app_id, _) = app.app_with_endpoint(&recv.url, json!({})).await;
    let send = |token: &str, data: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(["send", "--url", &app.base, "--token", token, "--app", &app_id])
            .args(["--event-type", "invoice.paid", "--event-id", "inv-42", "--channel", "billing", "--data", data])
            .output()
    };
    let out = send(&app.token, r#"{"id": 42}"#).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let msg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(msg["eventId"], "inv-42");
    assert_eq!(msg["channels"], json!(["billing"]));
    let got = recv.wait_for(1).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&got[0].body).unwrap(), json!({"id": 42}));

    let out = send("hk_wrong", r#"{"id": 43}"#).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = send(&app.token, "not json").await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not JSON"));
}

/// `hookd serve` says where the dashboard is; the bare `--allow-private-networks` flag turns the egress guard off
/// (a loopback endpoint is accepted) and a warning says so; a failing endpoint's attempts are logged with its
/// application, endpoint, URL and status, at most once per endpoint per 10 s.
#[tokio::test]
async fn serve_shows_the_dashboard_warns_when_egress_is_open_and_logs_failed_deliveries_once_per_10s() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let mut server = HookdProcess::start_with(port, |cmd| {
        cmd.args(["serve", "--allow-private-networks", "--log-json", "--listen", &format!("127.0.0.1:{port}")])
            .env("HOOKD_DATABASE_URL", &db)
            .env("HOOKD_ADMIN_TOKEN", "admin")
            .env("HOOKD_BREAKER_FAILURES", "0")
            .env_remove("HOOKD_ALLOW_PRIVATE_NETWORKS")
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped());
    })
    .await;
    let stderr = server.child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok).collect::<Vec<_>>()
    });

    let recv = Receiver::start().await;
    recv.answer(500, 100);
    post_json(&server.base, "admin", "/api/v1/app", json!({"name": "Acme", "uid": "acme"})).await;
    let schedule = json!(["20ms", "20ms", "20ms", "20ms"]);
    let ep = post_json(
        &server.base,
        "admin",
        "/api/v1/app/acme/endpoint",
        json!({"url": recv.url, "retrySchedule": schedule}),
    )
    .await;
    let ep_id = ep["id"].as_str().unwrap_or_else(|| panic!("a loopback endpoint is accepted: {ep}")).to_string();
    post_json(&server.base, "admin", "/api/v1/app/acme/msg", json!({"eventType": "invoice.paid", "payload": {}})).await;
    recv.wait_for(5).await;
    eventually("the last attempt recorded", || async {
        let path = format!("/api/v1/app/acme/attempt/endpoint/{ep_id}");
        let r = reqwest::Client::new().get(format!("{}{path}", server.base)).bearer_auth("admin").send().await.ok()?;
        let body: serde_json::Value = r.json().await.ok()?;
        (body["data"].as_array()?.len() == 5).then_some(())
    })
    .await;

    let (clean, out) = server.terminate();
    assert!(clean);
    assert!(out.contains(&format!("Dashboard: http://127.0.0.1:{port}/ui/")), "{out}");
    let logs: Vec<serde_json::Value> =
        logs.join().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let said =
        |what: &str| logs.iter().filter(|l| l["fields"]["message"].as_str().unwrap_or("").contains(what)).count();
    assert_eq!(said("egress guard is off"), 1, "{logs:?}");
    let failed: Vec<_> = logs.iter().filter(|l| l["fields"]["message"] == "delivery failed").collect();
    assert_eq!(failed.len(), 1, "five failed attempts in well under 10 s, one line: {failed:?}");
    let f = &failed[0]["fields"];
    assert_eq!((f["app"].as_str(), f["endpoint"].as_str()), (Some("acme"), Some(ep_id.as_str())), "{f}");
    assert_eq!((f["url"].as_str(), f["status"].as_i64()), (Some(recv.url.as_str()), Some(500)), "{f}");
    assert_eq!(failed[0]["level"], "WARN");
}

/// A listen address in use is named, with what to do; `HOOKD_ALLOW_PRIVATE_NETWORKS=true` still opens the guard.
#[tokio::test]
async fn an_address_in_use_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let env = [("HOOKD_ADMIN_TOKEN", "admin"), ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true")];
    let first = HookdProcess::start(&db, port, &env).await;
    post_json(&first.base, "admin", "/api/v1/app", json!({"name": "Acme", "uid": "acme"})).await;
    let ep = post_json(&first.base, "admin", "/api/v1/app/acme/endpoint", json!({"url": "http://127.0.0.1:9/h"})).await;
    assert!(ep["id"].is_string(), "the variable opens the guard: {ep}");

    let other = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("HOOKD_DATABASE_URL", fresh_database_url(other.path()))
        .env("HOOKD_ADMIN_TOKEN", "admin")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on 127.0.0.1:{port}: the address is already in use")), "{err}");
    assert!(err.contains("--listen") && err.contains("HOOKD_LISTEN"), "{err}");
}

/// `hookd prune --before` beside a running hookd: it deletes the messages older than the time with their
/// deliveries and attempts, says how many, keeps a message whose delivery is still being retried, and refuses a
/// time it cannot read or one in the future.
#[tokio::test]
async fn prune_deletes_what_is_older_than_a_time_but_never_pending_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let env = [("HOOKD_ADMIN_TOKEN", "admin"), ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true")];
    let server = HookdProcess::start(&db, port, &env).await;
    let base = server.base.clone();
    let ok = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.answer(500, 1);
    let mut msgs = vec![];
    for (url, extra) in [(&ok.url, json!({})), (&failing.url, json!({"retrySchedule": ["1h"]}))] {
        let app = post_json(&base, "admin", "/api/v1/app", json!({"name": "a"})).await;
        let app_id = app["id"].as_str().unwrap().to_string();
        let mut ep = json!({"url": url});
        ep.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        post_json(&base, "admin", &format!("/api/v1/app/{app_id}/endpoint"), ep).await;
        let msg =
            post_json(&base, "admin", &format!("/api/v1/app/{app_id}/msg"), json!({"eventType": "a", "payload": {}}))
                .await;
        msgs.push(format!("/api/v1/app/{app_id}/msg/{}", msg["id"].as_str().unwrap()));
    }
    ok.wait_for(1).await;
    failing.wait_for(1).await;
    let http = reqwest::Client::new();
    let delivered = format!("{}/endpoint", msgs[0]);
    eventually("the first attempt to be recorded", || async {
        let r = http.get(format!("{base}{delivered}")).bearer_auth("admin").send().await.unwrap();
        (r.json::<serde_json::Value>().await.unwrap()["data"][0]["status"] == 0).then_some(())
    })
    .await;

    let prune = |before: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(["prune", "--database-url", &db, "--before", before])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (done, _, err) = prune("nonsense");
    assert!(!done && err.contains("RFC 3339") && err.contains("30d"), "{err}");
    let (done, _, err) = prune("2999-01-01T00:00:00Z");
    assert!(!done && err.contains("future"), "{err}");
    let (done, out, err) = prune("30d");
    assert!(done && out.contains("removed 0 messages"), "{out} {err}");
    assert_eq!(status_of(&base, "admin", &msgs[0]).await, 200);

    let (done, out, err) = prune("0s");
    assert!(done, "{err}");
    assert!(out.contains("removed 1 messages, 1 deliveries, 1 attempts"), "{out}");
    assert!(out.contains("kept 1 messages with deliveries still pending"), "{out}");
    assert_eq!(status_of(&base, "admin", &msgs[0]).await, 404, "deleted");
    assert_eq!(status_of(&base, "admin", &msgs[1]).await, 200, "its retry is still to come");
    let (clean, _) = server.terminate();
    assert!(clean);
}
