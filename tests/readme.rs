//! The README: its first screen, followed as written, delivers a webhook; every setting the program reads is
//! documented in it.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The `sh` blocks of the section `heading`, in order.
fn sh_blocks(text: &str, heading: &str) -> Vec<String> {
    let section = text.split(heading).nth(1).expect("the section").split("\n## ").next().unwrap();
    section.split("```sh\n").skip(1).map(|b| b.split("```").next().unwrap().to_string()).collect()
}

/// A terminal of the first screen: `script` run by bash in `dir`, with the test's own `hookd` first on the
/// PATH, in a process group of its own so that dropping it stops what it started.
struct Terminal(Child);

impl Terminal {
    fn open(dir: &std::path::Path, script: &str, env: &[(&str, String)]) -> Terminal {
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_hookd")).parent().unwrap().to_path_buf();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut cmd = std::process::Command::new("bash");
        cmd.arg("-c").arg(script).current_dir(dir).env("PATH", path).env_remove("HOOKD_ADMIN_TOKEN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = Command::from(cmd).kill_on_drop(true).spawn().expect("bash runs");
        Terminal(child)
    }

    fn stdout(&mut self) -> Lines<BufReader<ChildStdout>> {
        BufReader::new(self.0.stdout.take().unwrap()).lines()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = std::process::Command::new("kill")
                .args(["-s", "TERM", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The next line of `lines` for which `want` says yes, within 30 s.
async fn line_where(lines: &mut Lines<BufReader<ChildStdout>>, what: &str, want: impl Fn(&str) -> bool) -> String {
    let find = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if want(&line) {
                return line;
            }
        }
        panic!("the output ended before {what}");
    };
    tokio::time::timeout(Duration::from_secs(30), find).await.unwrap_or_else(|_| panic!("no {what} within 30 s"))
}

#[tokio::test]
async fn the_first_screen_delivers_a_webhook_as_written() {
    let blocks = sh_blocks(&readme(), "## Deliver your first webhook");
    let [install, serve, listen, calls] = &blocks[..] else { panic!("four sh blocks: {blocks:?}") };
    // Installing is what building this test did; the rest runs as written, on free ports instead of 8071 and
    // 9000 (the server's through HOOKD_LISTEN, as its command names none).
    assert!(install.contains("cargo install --locked --path ."), "{install}");
    let (server_port, receiver_port) = (free_port(), free_port());
    let ports = |s: &str| {
        s.replace("127.0.0.1:8071", &format!("127.0.0.1:{server_port}"))
            .replace("127.0.0.1:9000", &format!("127.0.0.1:{receiver_port}"))
    };
    assert!(!serve.contains("8071") && listen.contains("127.0.0.1:9000") && calls.contains("127.0.0.1:8071"));
    let dir = tempfile::tempdir().unwrap();

    let mut first = Terminal::open(dir.path(), serve, &[("HOOKD_LISTEN", format!("127.0.0.1:{server_port}"))]);
    let mut first_out = first.stdout();
    let dashboard = line_where(&mut first_out, "the dashboard's address", |l| l.starts_with("Dashboard: ")).await;
    assert!(dashboard.contains(&format!("http://127.0.0.1:{server_port}/ui/")), "{dashboard}");
    assert!(dir.path().join("hookd.db").exists(), "the store is ./hookd.db");

    let mut second = Terminal::open(dir.path(), &ports(listen), &[]);
    let mut received = second.stdout();
    eventually("the receiver to listen", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", receiver_port)).await.ok().map(|_| ())
    })
    .await;

    let mut third = Terminal::open(dir.path(), &format!("set -e\n{}", ports(calls)), &[]);
    let out = std::mem::replace(&mut third.0, Command::new("true").spawn().unwrap()).wait_with_output().await.unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the calls failed: {printed}{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("\"uid\":\"acme\"") && printed.contains("\"eventType\":\"invoice.paid\""), "{printed}");

    let line =
        line_where(&mut received, "the webhook", |l| l.contains("invoice.paid") || l.contains("\"id\":42")).await;
    let webhook: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(webhook["verified"], true, "{line}");
    assert_eq!(webhook["body"], serde_json::json!({"id": 42}), "{line}");
    assert_eq!(webhook["path"], "/webhook");
    assert!(webhook["headers"]["svix-signature"].as_str().unwrap().starts_with("v1,"), "{line}");

    // The dashboard at the printed address takes the token the first terminal set.
    let url = dashboard.trim_start_matches("Dashboard: ").split(' ').next().unwrap().to_string();
    let login = ui::client().post(format!("{url}login")).form(&[("token", "dev-token")]).send().await.unwrap();
    assert_eq!(login.status(), 303, "logged in with dev-token");
}

#[test]
fn every_setting_is_documented() {
    let readme = readme();
    let mut names = vec!["RUST_LOG".to_string(), "NO_COLOR".to_string()];
    let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                names.extend(text.split("env = \"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_string));
            }
        }
    }
    assert!(names.len() > 30, "the settings were found ({})", names.len());
    let missing: Vec<_> = names.iter().filter(|n| !readme.contains(&format!("`{n}`"))).collect();
    assert!(missing.is_empty(), "settings the README does not name: {missing:?}");
}
