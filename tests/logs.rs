//! The log of `hookd serve` as an operator's collector reads it: JSON lines on request (`HOOKD_LOG_FORMAT=json`),
//! no colour codes unless standard error is a terminal (and never with NO_COLOR), and PostgreSQL's NOTICEs kept
//! out of the info level.

mod common;

use std::process::{Command, Stdio};

use common::*;

/// Runs `hookd serve` with `env` until it answers, makes one request that fails (a 401, which is logged at
/// debug only) and stops it; returns what it wrote on standard error (a file, not a terminal).
async fn serve_and_stop(db: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let port = free_port();
    let file = std::fs::File::create(&log).unwrap();
    let hookd = HookdProcess::start_with(port, |cmd| {
        cmd.arg("serve")
            .env("HOOKD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOOKD_DATABASE_URL", db)
            .env("HOOKD_ADMIN_TOKEN", "admin")
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .env_remove("HOOKD_LOG_FORMAT")
            .env_remove("HOOKD_LOG_JSON")
            .stderr(Stdio::from(file));
        for (k, v) in env {
            cmd.env(k, v);
        }
    })
    .await;
    let (clean, _) = hookd.terminate();
    assert!(clean);
    std::fs::read_to_string(&log).unwrap()
}

#[tokio::test]
async fn json_log_format_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let log = serve_and_stop(&db, &[("HOOKD_LOG_FORMAT", "json")]).await;
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 2, "at least the start and the stop: {log}");
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{line}");
    }
    let listening = lines.iter().find(|l| l.contains("hookd listening")).expect("the start is logged");
    let v: serde_json::Value = serde_json::from_str(listening).unwrap();
    assert_eq!(v["level"], "INFO");
    assert!(v["fields"]["addr"].as_str().unwrap().starts_with("127.0.0.1:"), "fields are JSON fields: {v}");

    // The text format is not JSON: the setting is what made the difference.
    let text = serve_and_stop(&db, &[("HOOKD_LOG_FORMAT", "text")]).await;
    assert!(text
        .lines()
        .any(|l| l.contains("hookd listening") && serde_json::from_str::<serde_json::Value>(l).is_err()));
}

#[tokio::test]
async fn no_colour_codes_when_stderr_is_not_a_terminal_and_none_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let log = serve_and_stop(&db, &[]).await;
    assert!(log.contains("hookd listening"), "{log}");
    assert!(!log.contains('\x1b'), "no escape codes in a file: {log:?}");

    // On a terminal (a pseudo-terminal from `script`), colours; with NO_COLOR, none. This shows the check above
    // could have failed.
    let on_terminal = |no_color: bool| {
        let port = free_port();
        let cmd = format!(
            "{} serve --listen 127.0.0.1:{port} --database-url {db} --admin-token admin & pid=$!; \
             for i in $(seq 1 200); do {} healthcheck --listen 127.0.0.1:{port} --timeout 1s 2>/dev/null && break; \
             sleep 0.05; done; kill -s TERM $pid; wait $pid",
            env!("CARGO_BIN_EXE_hookd"),
            env!("CARGO_BIN_EXE_hookd"),
        );
        let mut script = Command::new("script");
        script.args(["-q", "-e", "-c", &cmd, "/dev/null"]).env_remove("RUST_LOG").env_remove("NO_COLOR");
        if no_color {
            script.env("NO_COLOR", "1");
        }
        let out = script.stdin(Stdio::null()).output().expect("script (util-linux) runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("hookd listening"), "{text}");
        text
    };
    assert!(on_terminal(false).contains("\x1b["), "colours on a terminal");
    assert!(!on_terminal(true).contains("\x1b["), "no colours with NO_COLOR");
}

/// A second start on the same PostgreSQL database makes PostgreSQL answer `CREATE TABLE IF NOT EXISTS` with a
/// NOTICE (`relation … already exists, skipping`), which tokio-postgres logs at info: it is not in the log, unless
/// RUST_LOG asks for tokio_postgres's.
#[tokio::test]
async fn postgresql_notices_are_not_logged_at_info() {
    let server = postgres_server();
    let answers = Command::new("psql").args([&format!("{server}/postgres"), "-qAtc", "SELECT 1"]).output();
    if !answers.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL does not answer at {server}: on CI a failure"
        );
        eprintln!("PostgreSQL does not answer at {server}: skipped");
        return;
    }
    let name = format!("hookd_test_{}", hookd::ids::random_token(16).to_lowercase());
    let create = format!("CREATE DATABASE {name}");
    let created = Command::new("psql").args([&format!("{server}/postgres"), "-qAtc", &create]).output().unwrap();
    assert!(created.status.success(), "{created:?}");
    let db = format!("{server}/{name}");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("main.key");
    let key = key.to_str().unwrap();
    serve_and_stop(&db, &[("HOOKD_MAIN_KEY_FILE", key)]).await;
    let second = serve_and_stop(&db, &[("HOOKD_MAIN_KEY_FILE", key)]).await;
    assert!(second.contains("hookd listening"), "{second}");
    assert!(!second.contains("already exists, skipping"), "a NOTICE at info: {second}");
    let asked = serve_and_stop(&db, &[("HOOKD_MAIN_KEY_FILE", key), ("RUST_LOG", "info,tokio_postgres=info")]).await;
    assert!(asked.contains("already exists, skipping"), "the NOTICE, when RUST_LOG asks for it: {asked}");
}
