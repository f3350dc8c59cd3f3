//! What operators deploy, each checked by the tool that would read it: the container image (built with podman,
//! then run from its own exported filesystem under chroot as its own user, since containers cannot run here), the
//! compose file, the Kubernetes manifests (kustomize, kubernetes-validate --strict), the systemd unit
//! (systemd-analyze), the Prometheus rules (promtool) and the Grafana dashboard (its metrics against a real
//! /metrics). Each tool is one the suite installs (scripts/test.sh): a missing one fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn repo(path: &str) -> PathBuf {
    Path::new(ROOT).join(path)
}

/// Runs `cmd`; panics with its output unless it succeeds. Returns its standard output.
fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tool the suite installs: on the PATH, or beside the test's Python (kubectl and kubernetes-validate come as
/// wheels).
fn tool(name: &str) -> String {
    let venv = Path::new(&python()).parent().unwrap().join(name);
    if venv.exists() {
        return venv.display().to_string();
    }
    let found = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().unwrap();
    assert!(found.status.success(), "{name} is not installed: scripts/test.sh installs it");
    String::from_utf8_lossy(&found.stdout).trim().to_string()
}

/// A Python snippet run with the suite's Python; `input` as JSON on stdin, its last line parsed as JSON.
fn python_json(code: &str, input: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("check.py");
    std::fs::write(&file, code).unwrap();
    let (ok, out) = run_script(&python(), file.to_str().unwrap(), input);
    assert!(ok, "{out}");
    serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or_else(|_| panic!("not JSON: {out}"))
}

// ── the container image ──

/// The image's configuration, as `podman image inspect` shows it.
fn inspect(image: &str) -> Value {
    let out = run(Command::new("podman").args(["image", "inspect", image]));
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

#[tokio::test]
async fn the_image_builds_offline_and_serves_from_its_own_filesystem_as_its_user() {
    let version = env!("CARGO_PKG_VERSION");
    let name = format!("localhost/hookd-test-{}", std::process::id());
    // The test's own binary (debug), so that the suite builds no release binary for it.
    let out = run(Command::new(repo("scripts/build-image.sh")).args([
        "--binary",
        env!("CARGO_BIN_EXE_hookd"),
        "--name",
        &name,
    ]));
    assert!(out.contains(&format!("{name}:{version}")), "{out}");
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for tag in ["latest", env!("CARGO_PKG_VERSION")] {
                let _ = Command::new("podman").args(["rmi", "-f", &format!("{}:{tag}", self.0)]).output();
            }
        }
    }
    let _cleanup = Cleanup(name.clone());

    let image = inspect(&format!("{name}:{version}"));
    assert_eq!(image["Id"], inspect(&format!("{name}:latest"))["Id"], "latest and the version are one image");
    let config = &image["Config"];
    assert_eq!(config["User"], "10001:10001", "not root: {config}");
    assert!(config["ExposedPorts"]["8071/tcp"].is_object(), "{config}");
    assert!(config["Volumes"]["/data"].is_object(), "{config}");
    // Kept by the docker format only (the OCI image configuration has no health check); podman shows it beside.
    let check = &image["Healthcheck"];
    assert_eq!(check["Test"], json!(["CMD", "/usr/local/bin/hookd", "healthcheck"]), "{image}");
    assert_eq!(config["Entrypoint"], json!(["/usr/local/bin/hookd"]));
    assert_eq!(config["Cmd"], json!(["serve"]));
    let env: Vec<String> = serde_json::from_value(config["Env"].clone()).unwrap();
    assert!(env.contains(&"HOOKD_LISTEN=0.0.0.0:8071".to_string()), "{env:?}");
    assert!(env.contains(&"HOOKD_DATABASE_URL=sqlite:///data/hookd.db".to_string()), "{env:?}");
    assert_eq!(image["Labels"]["org.opencontainers.image.version"], version);

    // Containers cannot run here (crun's setrlimit is refused): the image's layers are unpacked as they are,
    // owners included, and hookd runs from them under chroot as the image's user, with the image's environment.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    run(Command::new("podman").args(["save", "--format", "docker-archive", "-o"]).arg(&archive).arg(&name));
    let unpacked = dir.path().join("image");
    std::fs::create_dir(&unpacked).unwrap();
    run(Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&unpacked));
    let manifest: Value = serde_json::from_slice(&std::fs::read(unpacked.join("manifest.json")).unwrap()).unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    for layer in manifest[0]["Layers"].as_array().expect("layers") {
        let layer = unpacked.join(layer.as_str().unwrap());
        run(Command::new("tar").args(["--same-owner", "-xpf"]).arg(&layer).arg("-C").arg(&rootfs));
    }
    let data = std::fs::metadata(rootfs.join("data")).unwrap();
    assert_eq!(
        (std::os::unix::fs::MetadataExt::uid(&data), std::os::unix::fs::MetadataExt::gid(&data)),
        (10001, 10001)
    );
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("hookd:x:10001:10001:")), "{passwd}");
    assert!(!rootfs.join("bin/sh").exists(), "no shell in the image");

    let port = free_port();
    let in_image = |args: &[&str]| {
        let mut cmd = Command::new("chroot");
        cmd.arg("--userspec=10001:10001").arg(&rootfs).arg("/usr/local/bin/hookd").args(args).env_clear();
        for kv in &env {
            let (k, v) = kv.split_once('=').unwrap();
            cmd.env(k, v);
        }
        // The image's wildcard address, on a free port instead of 8071.
        cmd.env("HOOKD_LISTEN", format!("0.0.0.0:{port}"));
        cmd
    };
    let healthcheck = || in_image(&["healthcheck", "--timeout", "2s"]).output().unwrap();
    let before = healthcheck();
    assert_eq!(before.status.code(), Some(1), "unhealthy while nothing listens: {before:?}");

    let mut serve = in_image(&["serve"]);
    serve.env("HOOKD_ADMIN_TOKEN", "image-admin").stdout(Stdio::null()).stderr(Stdio::piped());
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Server(serve.spawn().expect("chroot runs"));
    let base = format!("http://127.0.0.1:{port}");
    let health = eventually("hookd in the image to answer", || {
        let url = format!("{base}/api/v1/health");
        async move { reqwest::get(url).await.ok().filter(|r| r.status() == 204).map(|r| r.status()) }
    })
    .await;
    assert_eq!(health, 204);
    let after = healthcheck();
    assert!(after.status.success(), "`hookd healthcheck` in the image: {after:?}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.0.id())).unwrap_or_default();
    // chroot execs hookd in its own process, as the image's user.
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    assert!(uid.split_whitespace().skip(1).all(|u| u == "10001"), "{uid}");

    let app = post_json(&base, "image-admin", "/api/v1/app", json!({"name": "from the image", "uid": "img"})).await;
    assert_eq!(app["uid"], "img", "{app}");
    let msg = post_json(&base, "image-admin", "/api/v1/app/img/msg", json!({"eventType": "a.b", "payload": {}})).await;
    assert!(msg["id"].as_str().unwrap().starts_with("msg_"), "{msg}");
    // The store and its main key file are on the volume, the user's.
    for file in ["hookd.db", "hookd.db.key"] {
        let meta = std::fs::metadata(rootfs.join("data").join(file)).unwrap_or_else(|e| panic!("/data/{file}: {e}"));
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 10001, "{file}");
    }
    let _ = Command::new("kill").args(["-s", "TERM", &server.0.id().to_string()]).status();
    let exited = server.0.wait().unwrap();
    assert!(exited.success(), "SIGTERM stops it cleanly: {exited:?}");
}

// Multi-threaded: the test blocks on `hookd healthcheck` while its runtime serves the in-process server.
#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_exits_0_when_hookd_is_healthy_and_1_when_not() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let ok = Command::new(env!("CARGO_BIN_EXE_hookd")).args(["healthcheck", "--listen", &addr]).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    // A wildcard address is asked on loopback, as a container's health check does.
    let port = addr.rsplit(':').next().unwrap();
    let wildcard = Command::new(env!("CARGO_BIN_EXE_hookd"))
        .arg("healthcheck")
        .env("HOOKD_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert_eq!(wildcard.status.code(), Some(0), "{wildcard:?}");
    let none = format!("127.0.0.1:{}", free_port());
    let down = Command::new(env!("CARGO_BIN_EXE_hookd")).args(["healthcheck", "--listen", &none]).output().unwrap();
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(String::from_utf8_lossy(&down.stderr).contains("unhealthy"), "{down:?}");
}

// ── compose ──

#[test]
fn the_compose_file_runs_three_nodes_on_postgresql_with_one_main_key() {
    let text = std::fs::read_to_string(repo("deploy/compose.yaml")).unwrap();
    let check = r#"
import json, sys, yaml
c = yaml.safe_load(json.load(sys.stdin)["text"])
services = c["services"]
nodes = {k: v for k, v in services.items() if k.startswith("hookd")}
out = {"nodes": sorted(nodes), "postgres_image": services["postgres"]["image"],
       "pg_healthcheck": services["postgres"]["healthcheck"]["test"], "secrets": c["secrets"],
       "images": sorted({n["image"] for n in nodes.values()}),
       "envs": [n["environment"] for n in nodes.values()],
       "node_secrets": [sorted(n["secrets"]) for n in nodes.values()],
       "depends": [n["depends_on"]["postgres"]["condition"] for n in nodes.values()],
       "ports": sorted(p for n in nodes.values() for p in n["ports"]),
       "read_only": [n.get("read_only") for n in nodes.values()],
       "cap_drop": [n.get("cap_drop") for n in nodes.values()]}
print(json.dumps(out))
"#;
    let c = python_json(check, &json!({ "text": text }));
    assert_eq!(c["nodes"], json!(["hookd-1", "hookd-2", "hookd-3"]), "{c}");
    assert!(c["postgres_image"].as_str().unwrap().contains("postgres"), "{c}");
    assert!(c["pg_healthcheck"].to_string().contains("pg_isready"), "{c}");
    assert_eq!(c["images"], json!(["localhost/hookd:latest"]), "the image scripts/build-image.sh builds: {c}");
    assert_eq!(c["depends"], json!(vec!["service_healthy"; 3]), "{c}");
    assert_eq!(c["ports"], json!(["8071:8071", "8072:8071", "8073:8071"]), "{c}");
    assert_eq!(c["read_only"], json!(vec![true; 3]), "{c}");
    assert_eq!(c["cap_drop"], json!(vec![["ALL"]; 3]), "{c}");
    let envs = c["envs"].as_array().unwrap();
    assert!(envs.iter().all(|e| e == &envs[0]), "every node configured alike: {c}");
    let env = &envs[0];
    assert!(env["HOOKD_DATABASE_URL"].as_str().unwrap().starts_with("postgres://hookd:${POSTGRES_PASSWORD"), "{env}");
    assert!(env["HOOKD_DATABASE_URL"].as_str().unwrap().contains("@postgres:5432/"), "the postgres service: {env}");
    assert_eq!(env["HOOKD_MAIN_KEY_FILE"], "/run/secrets/hookd_main_key", "one main key, a secret: {env}");
    assert_eq!(env["HOOKD_ADMIN_TOKEN_FILE"], "/run/secrets/hookd_admin_token", "{env}");
    assert_eq!(c["node_secrets"], json!(vec![["hookd_admin_token", "hookd_main_key"]; 3]), "{c}");
    assert_eq!(c["secrets"]["hookd_main_key"]["file"], "./secrets/main.key", "{c}");
    // Every variable the file sets is one hookd reads (a misspelt name would be ignored silently).
    let settings = hookd_settings();
    for key in env.as_object().unwrap().keys() {
        assert!(settings.contains(key), "{key} is not a hookd setting");
    }
}

/// podman-compose reads the file as it would start it (`--dry-run` prints the `podman run` commands; it still makes
/// the project's network and volume, which are removed after): three nodes, each with the database URL and both
/// secrets mounted from the same files; without the database password it refuses, saying where to set it.
#[test]
fn podman_compose_reads_the_compose_file_as_three_nodes_sharing_the_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo("deploy/compose.yaml"), dir.path().join("compose.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/main.key"), "00".repeat(32)).unwrap();
    std::fs::write(dir.path().join("secrets/admin-token"), "admin").unwrap();
    let project = format!("hookdtest{}", std::process::id());
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("podman").args(["volume", "rm", &format!("{}_postgres", self.0)]).output();
            let _ = Command::new("podman").args(["network", "rm", &format!("{}_default", self.0)]).output();
        }
    }
    let _cleanup = Cleanup(project.clone());
    let compose = |password: Option<&str>| {
        let mut cmd = Command::new(tool("podman-compose"));
        cmd.args(["--dry-run", "-p", &project, "-f", "compose.yaml", "up", "-d"]).current_dir(dir.path());
        cmd.env_remove("POSTGRES_PASSWORD");
        if let Some(p) = password {
            cmd.env("POSTGRES_PASSWORD", p);
        }
        cmd.stdin(Stdio::null()).output().expect("podman-compose runs")
    };
    let refused = compose(None);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("set POSTGRES_PASSWORD"), "{said}");
    let out = compose(Some("pw1"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let runs: Vec<&str> =
        text.lines().filter(|l| l.starts_with("podman run ") && l.contains("localhost/hookd:latest")).collect();
    assert_eq!(runs.len(), 3, "three hookd nodes: {text}");
    for (run, port) in runs.iter().zip(["8071", "8072", "8073"]) {
        assert!(run.contains("-e HOOKD_DATABASE_URL=postgres://hookd:pw1@postgres:5432/hookd"), "{run}");
        assert!(run.contains("--volume ./secrets/main.key:/run/secrets/hookd_main_key:ro"), "{run}");
        assert!(run.contains("--volume ./secrets/admin-token:/run/secrets/hookd_admin_token:ro"), "{run}");
        assert!(run.contains(&format!("-p {port}:8071")), "{run}");
        assert!(run.contains("--read-only") && run.contains("--cap-drop ALL"), "{run}");
    }
    assert!(text.lines().any(|l| l.starts_with("podman run ") && l.contains("docker.io/library/postgres")), "{text}");
}

/// Every `env = "..."` setting in the source.
fn hookd_settings() -> Vec<String> {
    let mut names = vec![];
    let mut stack = vec![repo("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                names.extend(text.split("env = \"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_string));
            }
        }
    }
    names
}

// ── Kubernetes ──

#[test]
fn the_kubernetes_manifests_build_and_validate_strictly() {
    let built = run(Command::new(tool("kubectl")).arg("kustomize").arg(repo("deploy/kubernetes")));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookd.yaml");
    std::fs::write(&file, &built).unwrap();
    let validate = |file: &Path| {
        Command::new(tool("kubernetes-validate")).args(["--strict", "--quiet"]).arg(file).output().unwrap()
    };
    let out = validate(&file);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The validator is strict: a field Kubernetes does not know is refused.
    let wrong = dir.path().join("wrong.yaml");
    std::fs::write(
        &wrong,
        built.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n          readOnlyRootFs: true"),
    )
    .unwrap();
    assert!(!validate(&wrong).status.success(), "an unknown field fails validation");

    let check = r#"
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(json.load(sys.stdin)["text"]) if d]
kinds = {d["kind"]: d for d in docs}
dep = kinds["Deployment"]
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
env = {e["name"]: e for e in c.get("env", [])}
print(json.dumps({
  "kinds": sorted(kinds), "replicas": dep["spec"]["replicas"],
  "readiness": c["readinessProbe"]["httpGet"]["path"], "liveness": c["livenessProbe"]["httpGet"]["path"],
  "pod_security": pod["securityContext"], "security": c["securityContext"], "resources": c["resources"],
  "secret_env": {k: v["valueFrom"]["secretKeyRef"]["name"] for k, v in env.items() if "secretKeyRef" in v.get("valueFrom", {})},
  "secret_name": kinds["Secret"]["metadata"]["name"], "config_name": kinds["ConfigMap"]["metadata"]["name"],
  "config_refs": [r["configMapRef"]["name"] for r in c.get("envFrom", [])],
  "config": kinds["ConfigMap"]["data"],
  "pdb": kinds["PodDisruptionBudget"]["spec"], "service_port": kinds["Service"]["spec"]["ports"][0],
  "selector": dep["spec"]["selector"]["matchLabels"], "pdb_selector": kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
  "service_selector": kinds["Service"]["spec"]["selector"], "labels": dep["spec"]["template"]["metadata"]["labels"],
}))
"#;
    let k = python_json(check, &json!({ "text": built }));
    assert_eq!(k["kinds"], json!(["ConfigMap", "Deployment", "Namespace", "PodDisruptionBudget", "Secret", "Service"]));
    assert_eq!(k["replicas"], 3);
    assert_eq!((k["readiness"].as_str(), k["liveness"].as_str()), (Some("/api/v1/health"), Some("/api/v1/health")));
    assert_eq!(k["pod_security"]["runAsNonRoot"], true, "{k}");
    assert_eq!(k["pod_security"]["runAsUser"], 10001, "the image's user: {k}");
    assert_eq!(k["security"]["readOnlyRootFilesystem"], true, "{k}");
    assert_eq!(k["security"]["allowPrivilegeEscalation"], false, "{k}");
    assert_eq!(k["security"]["capabilities"]["drop"], json!(["ALL"]), "{k}");
    assert!(k["resources"]["requests"]["memory"].is_string() && k["resources"]["limits"]["memory"].is_string(), "{k}");
    for var in ["HOOKD_DATABASE_URL", "HOOKD_ADMIN_TOKEN", "HOOKD_MAIN_KEY"] {
        assert_eq!(k["secret_env"][var], k["secret_name"], "{var} from the Secret (its generated name): {k}");
    }
    assert_eq!(k["config_refs"], json!([k["config_name"]]), "{k}");
    assert_eq!(k["config"]["HOOKD_LISTEN"], "0.0.0.0:8071", "{k}");
    assert_eq!(k["pdb"]["maxUnavailable"], 1, "{k}");
    assert_eq!(k["service_port"]["targetPort"], "http", "{k}");
    let labels = k["labels"].as_object().unwrap();
    for selector in ["selector", "pdb_selector", "service_selector"] {
        for (key, v) in k[selector].as_object().unwrap() {
            assert_eq!(labels.get(key), Some(v), "{selector} selects the pods: {k}");
        }
    }
    let settings = hookd_settings();
    for key in k["config"].as_object().unwrap().keys() {
        assert!(settings.contains(key), "{key} is not a hookd setting");
    }
}

// ── systemd ──

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(repo("deploy/systemd/hookd.service")).unwrap();
    for line in [
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=hookd",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    // verify wants ExecStart's binary to exist: the test's own, in a copy of the unit.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("hookd.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/hookd", env!("CARGO_BIN_EXE_hookd"))).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&copy).output().expect("systemd-analyze runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
    // A misspelt directive is reported: the check can fail.
    let wrong = dir.path().join("wrong.service");
    std::fs::write(
        &wrong,
        unit.replace("/usr/local/bin/hookd", env!("CARGO_BIN_EXE_hookd")).replace("ProtectHome=", "ProtectHomes="),
    )
    .unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&wrong).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("ProtectHomes"), "{out:?}");
    // systemd's own exposure score, 0 (locked down) to 10: "OK" is below 5.
    let out = run(Command::new("systemd-analyze").args(["security", "--offline=true", "--no-pager"]).arg(&copy));
    let score: f64 = out
        .lines()
        .find_map(|l| l.split("Overall exposure level for hookd.service: ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level: {out}"));
    assert!(score <= 2.0, "exposure {score}: {out}");
}

// ── Prometheus and Grafana ──

#[test]
fn the_alert_rules_check_and_their_unit_tests_pass() {
    let dir = repo("deploy/prometheus");
    run(Command::new("promtool").args(["check", "rules", "hookd-alerts.yaml"]).current_dir(&dir));
    let tested = run(Command::new("promtool").args(["test", "rules", "hookd-alerts.test.yaml"]).current_dir(&dir));
    assert!(tested.contains("SUCCESS"), "{tested}");
    run(Command::new("promtool").args(["check", "config", "prometheus.yaml"]).current_dir(&dir));
}

/// The metric names an expression refers to (`hookd_…`).
fn hookd_metrics(expr: &str) -> Vec<String> {
    let mut names = vec![];
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("hookd_") {
        let start = i + at;
        let before_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end =
            expr[start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(expr.len(), |n| start + n);
        if before_ok {
            names.push(expr[start..end].to_string());
        }
        i = end;
    }
    names
}

#[tokio::test]
async fn the_dashboard_and_the_alerts_use_only_metrics_hookd_exports() {
    // A real scrape after real work: a delivery, a failure, an inbound request, a timer.
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.answer(500, 1);
    let (app_id, _) = app.app_with_endpoint(&receiver.url, json!({})).await;
    app.publish(&app_id, "a.b", json!({})).await;
    receiver.wait_for(2).await;
    let inbound = reqwest::Client::new().post(format!("{}/webhooks/whr_none", app.base)).body("{}").send().await;
    assert_eq!(inbound.unwrap().status(), 404);
    let text = reqwest::get(format!("{}/metrics", app.base)).await.unwrap().text().await.unwrap();
    let samples: std::collections::BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();

    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("deploy/grafana/hookd-dashboard.json")).unwrap()).unwrap();
    let mut exprs = vec![];
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"].as_str() {
            exprs.push(q.to_string());
        }
    }
    let rules = std::fs::read_to_string(repo("deploy/prometheus/hookd-alerts.yaml")).unwrap();
    let rule_exprs = python_json(
        "import json, sys, yaml\nr = yaml.safe_load(json.load(sys.stdin)['text'])\n\
         print(json.dumps([x['expr'] for g in r['groups'] for x in g['rules']]))",
        &json!({ "text": rules }),
    );
    exprs.extend(rule_exprs.as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()));

    let mut used = std::collections::BTreeSet::new();
    for expr in &exprs {
        for name in hookd_metrics(expr) {
            assert!(samples.contains(&name), "{name} (in {expr:?}) is not in /metrics: {samples:?}");
            used.insert(name);
        }
    }
    // The dashboard covers what matters most.
    for name in
        ["hookd_attempts_total", "hookd_queue_depth", "hookd_circuits_open", "hookd_scheduler_lag_seconds_bucket"]
    {
        assert!(used.contains(name), "{name} is on no panel or alert");
    }
    assert!(used.len() >= 15, "{used:?}");
}
