//! Ready-made shapes: what Slack, Discord and Microsoft Teams incoming webhooks, GitHub's `repository_dispatch`
//! and GitLab's pipeline triggers accept, made from a MINOOTS timer event, a TMS event or any other payload
//! without code. They run in Rust (no sandbox needed) and leave a payload already in the target's shape as it is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    Slack,
    Discord,
    Teams,
    GithubDispatch,
    GitlabTrigger,
}

impl Preset {
    pub const NAMES: &'static str = "slack, discord, teams, github-dispatch, gitlab-trigger";

    pub fn name(self) -> &'static str {
        match self {
            Preset::Slack => "slack",
            Preset::Discord => "discord",
            Preset::Teams => "teams",
            Preset::GithubDispatch => "github-dispatch",
            Preset::GitlabTrigger => "gitlab-trigger",
        }
    }

    pub fn parse(s: &str) -> Option<Preset> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }

    /// The shape a URL's service wants without being asked: Slack's and Discord's incoming webhooks (and Teams'),
    /// plus hosts configured as Slack- or Discord-compatible (`extra`: host or host:port, with its preset).
    pub fn for_url(raw: &str, extra: &[(String, Preset)]) -> Option<Preset> {
        let url = url::Url::parse(raw).ok()?;
        let host = url.host_str()?.to_ascii_lowercase();
        let path = url.path();
        let with_port = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        if let Some((_, p)) =
            extra.iter().find(|(h, _)| h.eq_ignore_ascii_case(&with_port) || h.eq_ignore_ascii_case(&host))
        {
            return Some(*p);
        }
        match host.as_str() {
            "hooks.slack.com" if path.starts_with("/services/") || path.starts_with("/workflows/") => {
                Some(Preset::Slack)
            }
            "discord.com" | "discordapp.com" | "canary.discord.com" | "ptb.discord.com"
                if path.starts_with("/api/webhooks/") || path.contains("/webhooks/") =>
            {
                Some(Preset::Discord)
            }
            h if h.ends_with(".webhook.office.com") || (h == "outlook.office.com" && path.starts_with("/webhook")) => {
                Some(Preset::Teams)
            }
            _ => None,
        }
    }

    /// The payload in this shape. `variables` are the transformation's (a channel, a token, an event type).
    pub fn apply(
        self,
        event_type: &str,
        payload: &Value,
        variables: &BTreeMap<String, String>,
    ) -> Result<Value, String> {
        let var = |k: &str| variables.get(k).filter(|v| !v.is_empty()).cloned();
        Ok(match self {
            Preset::Slack => slack(event_type, payload, &var),
            Preset::Discord => discord(event_type, payload, &var),
            Preset::Teams => teams(event_type, payload),
            Preset::GithubDispatch => {
                if payload.get("event_type").is_some_and(Value::is_string) && payload.get("client_payload").is_some() {
                    return Ok(payload.clone());
                }
                let kind = var("eventType").or(var("event_type")).unwrap_or_else(|| event_type.to_string());
                json!({ "event_type": kind, "client_payload": payload })
            }
            Preset::GitlabTrigger => {
                let token =
                    var("token").ok_or("the gitlab-trigger shape needs the variable `token` (the trigger token)")?;
                let prefix = var("prefix").unwrap_or_else(|| "HOOKD".into());
                json!({
                    "token": token,
                    "ref": var("ref").unwrap_or_else(|| "main".into()),
                    "variables": gitlab_variables(&prefix, event_type, payload),
                })
            }
        })
    }
}

/// What a message says, for people: a line of text, a title, a colour when it passed or failed, and facts.
struct Summary {
    title: String,
    text: String,
    ok: Option<bool>,
    facts: Vec<(String, String)>,
    link: Option<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn num_at(v: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_i64()
}

fn summarize(event_type: &str, p: &Value) -> Summary {
    let event = p.get("event").and_then(Value::as_str).unwrap_or(event_type);
    let given =
        ["message", "text", "content"].iter().find_map(|k| p.get(*k).and_then(Value::as_str)).map(str::to_string);
    let name = str_at(p, &["timer", "name"]).unwrap_or("timer");
    let mut s = Summary { title: event.to_string(), text: String::new(), ok: None, facts: vec![], link: None };
    match event {
        "timer_expired" => {
            s.title = format!("Timer “{name}” expired");
            s.text = given.unwrap_or_else(|| format!("⏰ {}", s.title));
        }
        "timer_progress" => {
            let at = p.get("progress").and_then(Value::as_str).unwrap_or("");
            s.title = format!("Timer “{name}” is {at} done");
            s.text = given.unwrap_or_else(|| format!("⏳ {}", s.title));
        }
        "timer_cancelled" => {
            s.title = format!("Timer “{name}” was cancelled");
            let reason = str_at(p, &["timer", "reason"]).map(|r| format!(": {r}")).unwrap_or_default();
            s.text = given.unwrap_or_else(|| format!("🛑 {}{reason}", s.title));
        }
        e if e.starts_with("execution.") || e.starts_with("shard.") => {
            let id = p.get("executionId").and_then(Value::as_str).unwrap_or("");
            let results = p.get("data").and_then(|d| d.get("results"));
            let n = |k: &str| results.and_then(|r| r.get(k)).and_then(Value::as_i64);
            let (total, passed, failed) = (n("total"), n("passed"), n("failed"));
            s.title = format!("TMS {e}");
            s.text = match (e, failed, total) {
                ("execution.completed", Some(0), Some(t)) => {
                    s.ok = Some(true);
                    format!("✅ TMS execution {id} passed: all {t} tests")
                }
                ("execution.completed", Some(f), Some(t)) => {
                    s.ok = Some(false);
                    format!("❌ TMS execution {id} completed with {f} of {t} tests failed")
                }
                ("execution.started", ..) => format!("🚀 TMS execution {id} started"),
                ("execution.failed", ..) => {
                    s.ok = Some(false);
                    format!("❌ TMS execution {id} failed")
                }
                ("shard.completed", ..) => {
                    let shard = str_at(p, &["data", "shardId"]).unwrap_or("");
                    format!(
                        "📊 Shard {shard} of TMS execution {id} completed: {}/{} passed",
                        passed.unwrap_or(0),
                        total.unwrap_or(0)
                    )
                }
                _ => format!("TMS {e} {id}"),
            };
            for (label, v) in [("Total", total), ("Passed", passed), ("Failed", failed), ("Skipped", n("skipped"))] {
                if let Some(v) = v {
                    s.facts.push((label.into(), v.to_string()));
                }
            }
            for (label, path) in [("Suite", ["data", "testSuite"]), ("Environment", ["data", "environment"])] {
                if let Some(v) = str_at(p, &path) {
                    s.facts.push((label.into(), v.into()));
                }
            }
            s.link = str_at(p, &["data", "artifacts", "reportUrl"]).map(str::to_string);
            if let Some(m) = given {
                s.text = m;
            }
        }
        // An inbound event forwarded as hookd normalises it.
        e if p.get("providerId").is_some() && p.get("entityType").is_some() => {
            let provider = p.get("providerId").and_then(Value::as_str).unwrap_or("");
            let entity =
                format!("{} {}", str_at(p, &["entityType"]).unwrap_or(""), str_at(p, &["entityId"]).unwrap_or(""));
            s.title = format!("{provider} {e}");
            s.text = given.unwrap_or_else(|| format!("📥 {provider} {e} ({})", entity.trim()));
        }
        _ => {
            s.text = given.unwrap_or_else(|| {
                let mut body = serde_json::to_string_pretty(p).unwrap_or_default();
                if body.len() > 1500 {
                    let mut cut = 1500;
                    while !body.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    body.truncate(cut);
                    body.push('…');
                }
                format!("{event_type}\n```{body}```")
            })
        }
    }
    if let Some(m) = num_at(p, &["timer", "duration"]).filter(|_| event.starts_with("timer_")) {
        s.facts.push((
            "Duration".into(),
            humantime::format_duration(std::time::Duration::from_millis(m as u64)).to_string(),
        ));
    }
    s
}

/// `data.channel`, `data.username`, … as the seed's MINOOTS examples give them, else the variable of that name.
fn option<'a>(p: &'a Value, key: &str) -> Option<&'a Value> {
    p.get("data").and_then(|d| d.get(key)).filter(|v| !v.is_null())
}

fn slack(event_type: &str, p: &Value, var: &dyn Fn(&str) -> Option<String>) -> Value {
    if p.get("text").is_some_and(Value::is_string) || p.get("blocks").is_some_and(Value::is_array) {
        return p.clone();
    }
    let s = summarize(event_type, p);
    let mut out = Map::new();
    out.insert("text".into(), json!(s.text));
    for key in ["channel", "username", "icon_emoji", "icon_url"] {
        if let Some(v) = option(p, key).cloned().or_else(|| var(key).map(Value::String)) {
            out.insert(key.into(), v);
        }
    }
    for key in ["blocks", "attachments"] {
        if let Some(v) = option(p, key) {
            out.insert(key.into(), v.clone());
        }
    }
    if !s.facts.is_empty() && !out.contains_key("attachments") {
        let fields: Vec<Value> = s.facts.iter().map(|(k, v)| json!({"title": k, "value": v, "short": true})).collect();
        let mut a = json!({"fallback": s.text, "fields": fields});
        if let Some(ok) = s.ok {
            a["color"] = json!(if ok { "good" } else { "danger" });
        }
        if let Some(link) = &s.link {
            a["title"] = json!("Report");
            a["title_link"] = json!(link);
        }
        out.insert("attachments".into(), json!([a]));
    }
    Value::Object(out)
}

fn discord(event_type: &str, p: &Value, var: &dyn Fn(&str) -> Option<String>) -> Value {
    if p.get("content").is_some_and(Value::is_string) || p.get("embeds").is_some_and(Value::is_array) {
        return p.clone();
    }
    let s = summarize(event_type, p);
    let mut content = s.text.clone();
    if content.chars().count() > 2000 {
        content = content.chars().take(1999).collect::<String>() + "…";
    }
    let mut out = Map::new();
    out.insert("content".into(), json!(content));
    for key in ["username", "avatar_url"] {
        if let Some(v) = option(p, key).cloned().or_else(|| var(key).map(Value::String)) {
            out.insert(key.into(), v);
        }
    }
    match option(p, "embeds") {
        Some(e) => {
            out.insert("embeds".into(), e.clone());
        }
        None if !s.facts.is_empty() => {
            let fields: Vec<Value> =
                s.facts.iter().map(|(k, v)| json!({"name": k, "value": v, "inline": true})).collect();
            let mut e = json!({"title": s.title, "fields": fields});
            if let Some(ok) = s.ok {
                e["color"] = json!(if ok { 0x2eb67d } else { 0xe01e5a });
            }
            if let Some(link) = &s.link {
                e["url"] = json!(link);
            }
            out.insert("embeds".into(), json!([e]));
        }
        None => {}
    }
    Value::Object(out)
}

fn teams(event_type: &str, p: &Value) -> Value {
    if p.get("@type").is_some() || p.get("type").and_then(Value::as_str) == Some("message") {
        return p.clone();
    }
    let s = summarize(event_type, p);
    let mut card = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": s.title,
        "title": s.title,
        "text": s.text,
    });
    if let Some(ok) = s.ok {
        card["themeColor"] = json!(if ok { "2EB67D" } else { "E01E5A" });
    }
    if !s.facts.is_empty() {
        let facts: Vec<Value> = s.facts.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
        card["sections"] = json!([{ "facts": facts }]);
    }
    if let Some(link) = &s.link {
        card["potentialAction"] =
            json!([{ "@type": "OpenUri", "name": "Report", "targets": [{ "os": "default", "uri": link }] }]);
    }
    card
}

/// `camelCase` → `CAMEL_CASE`.
fn screaming(key: &str) -> String {
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !out.ends_with('_') {
            out.push('_');
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out
}

/// GitLab CI variables from a payload: `{P}_EVENT_TYPE` and `{P}_PAYLOAD` (the JSON), then every field by its own
/// name, nearest the top first (`executionId` → `{P}_EXECUTION_ID`, `data.results` → `{P}_RESULTS` as JSON and
/// `data.results.failed` → `{P}_FAILED`), as the seed's pipeline reads them.
fn gitlab_variables(prefix: &str, event_type: &str, p: &Value) -> Map<String, Value> {
    const MAX: usize = 64;
    let mut vars = Map::new();
    vars.insert(format!("{prefix}_EVENT_TYPE"), json!(event_type));
    vars.insert(format!("{prefix}_PAYLOAD"), json!(p.to_string()));
    let mut level = vec![p];
    for _ in 0..3 {
        let mut next = vec![];
        for obj in level.iter().filter_map(|v| v.as_object()) {
            for (k, v) in obj {
                let name = format!("{prefix}_{}", screaming(k));
                if vars.len() < MAX && !vars.contains_key(&name) {
                    let value = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    vars.insert(name, json!(value));
                }
                if v.is_object() {
                    next.push(v);
                }
            }
        }
        level = next;
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn urls_of_incoming_webhooks_get_their_shape() {
        assert_eq!(Preset::for_url("https://hooks.slack.com/services/T0/B0/XXXX", &[]), Some(Preset::Slack));
        assert_eq!(Preset::for_url("https://discord.com/api/webhooks/1/abc", &[]), Some(Preset::Discord));
        assert_eq!(Preset::for_url("https://acme.webhook.office.com/webhookb2/x", &[]), Some(Preset::Teams));
        assert_eq!(Preset::for_url("https://your-app.com/timer-complete", &[]), None);
        assert_eq!(Preset::for_url("https://hooks.slack.com.evil.test/services/x", &[]), None);
        let extra = [("127.0.0.1:9000".to_string(), Preset::Slack)];
        assert_eq!(Preset::for_url("http://127.0.0.1:9000/services/a", &extra), Some(Preset::Slack));
        assert_eq!(Preset::for_url("http://127.0.0.1:9001/services/a", &extra), None);
    }

    #[test]
    fn the_seeds_slack_example_becomes_a_slack_message() {
        let p = json!({"event": "timer_expired", "timer": {"name": "Sprint Planning", "duration": 7200000},
            "message": "Sprint planning session completed!", "data": {"channel": "#dev-team", "username": "MINOOTS Bot"}});
        let out = Preset::Slack.apply("timer_expired", &p, &none()).unwrap();
        assert_eq!(out["text"], "Sprint planning session completed!");
        assert_eq!(out["channel"], "#dev-team");
        assert_eq!(out["username"], "MINOOTS Bot");
    }

    #[test]
    fn a_tms_completion_reads_as_a_summary() {
        let p = json!({"event": "execution.completed", "executionId": "exec_1",
            "data": {"results": {"total": 50, "passed": 48, "failed": 2}, "testSuite": "e2e"}});
        let slack = Preset::Slack.apply("execution.completed", &p, &none()).unwrap();
        assert_eq!(slack["text"], "❌ TMS execution exec_1 completed with 2 of 50 tests failed");
        assert_eq!(slack["attachments"][0]["color"], "danger");
        let teams = Preset::Teams.apply("execution.completed", &p, &none()).unwrap();
        assert_eq!(teams["@type"], "MessageCard");
        assert_eq!(teams["sections"][0]["facts"][2], json!({"name": "Failed", "value": "2"}));
        let vars: BTreeMap<String, String> =
            [("token".to_string(), "glptt-1".to_string()), ("prefix".to_string(), "TMS".to_string())].into();
        let gl = Preset::GitlabTrigger.apply("execution.completed", &p, &vars).unwrap();
        assert_eq!(gl["token"], "glptt-1");
        assert_eq!(gl["ref"], "main");
        assert_eq!(gl["variables"]["TMS_EVENT"], "execution.completed");
        assert_eq!(gl["variables"]["TMS_EXECUTION_ID"], "exec_1");
        assert_eq!(gl["variables"]["TMS_FAILED"], "2");
        assert_eq!(gl["variables"]["TMS_TEST_SUITE"], "e2e");
        assert!(Preset::GitlabTrigger.apply("x", &p, &none()).is_err(), "no token");
        let gh = Preset::GithubDispatch.apply("execution.completed", &p, &none()).unwrap();
        assert_eq!(gh["event_type"], "execution.completed");
        assert_eq!(gh["client_payload"]["executionId"], "exec_1");
    }

    #[test]
    fn discord_keeps_the_seeds_embeds() {
        let p = json!({"event": "timer_progress", "message": "Deployment window closing in 10 minutes",
            "data": {"embeds": [{"title": "MINOOTS Timer Alert", "color": 0xff6b35}]}});
        let out = Preset::Discord.apply("timer_progress", &p, &none()).unwrap();
        assert_eq!(out["content"], "Deployment window closing in 10 minutes");
        assert_eq!(out["embeds"][0]["title"], "MINOOTS Timer Alert");
    }
}
