//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, as `@octokit/webhooks-methods`
//! `sign()` makes it. No timestamp (GitHub signs none); dedup by `X-GitHub-Delivery`.
//!
//! Normalisation follows the seed: `{action: 'opened', issue: {id: 1234567}}` → eventType `opened`,
//! entityType `issue`, entityId `1234567`; the native name is `{X-GitHub-Event}.{action}` (`issues.opened`).

use serde_json::{Map, Value};

use super::*;

pub struct GitHub;

const SIGNATURE: &str = "X-Hub-Signature-256";

impl Provider for GitHub {
    fn name(&self) -> &'static str {
        "github"
    }

    fn about(&self) -> About {
        About {
            title: "GitHub",
            uses_secret: true,
            secret: "Leave the secret blank and paste the one hookd makes into the Secret field of GitHub's \
                     webhook (repository or organization Settings → Webhooks; content type application/json), or \
                     type the same secret in both.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        data("github").verify_request(req, secrets, cfg)
    }

    fn preset(&self) -> Option<&preset::Preset> {
        Some(data("github"))
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let data = parse_json(req.body)?;
        let payload = data.as_object().ok_or("a GitHub payload is a JSON object")?;
        let event = req.header("X-GitHub-Event").filter(|e| !e.is_empty());
        let action = payload.get("action").and_then(Value::as_str).filter(|a| !a.is_empty());

        let event_type = action.or(event).unwrap_or("unknown");
        let native_type = event.map(|e| match action {
            Some(a) => format!("{e}.{a}"),
            None => e.to_string(),
        });
        let (entity_type, entity_id) = entity(event, payload);
        Ok(Normalized {
            event_type: clean_name(event_type),
            entity_type: clean_name(&entity_type),
            entity_id,
            native_type: native_type.as_deref().map(clean_name),
            delivery_id: req.header("X-GitHub-Delivery").filter(|d| !d.is_empty()).map(str::to_string),
            data,
        })
    }
}

/// The code GitHub was verified by before it became a data preset, kept to measure the preset against
/// (`bench/`, the `preset_matches_the_code_it_replaced` test).
pub fn verify_by_code(req: &Incoming, secrets: &[&str]) -> Result<(), VerifyError> {
    verify_body_hmac_hex(req, SIGNATURE, Prefix::Required("sha256="), secrets)
}

/// The object a GitHub event is about, as (entityType, entityId).
fn entity(event: Option<&str>, payload: &Map<String, Value>) -> (String, String) {
    let object_id = |key: &str| -> Option<(String, String)> {
        let obj = payload.get(key)?.as_object()?;
        let id = id_text(obj.get("id")).or_else(|| id_text(obj.get("node_id"))).unwrap_or_default();
        Some((key.to_string(), id))
    };
    match event {
        // Ref events carry no object: a push is identified by its head commit, create/delete by the ref.
        Some("push") => {
            return ("push".into(), id_text(payload.get("after")).unwrap_or_default());
        }
        Some("create" | "delete") => {
            return ("ref".into(), id_text(payload.get("ref")).unwrap_or_default());
        }
        Some(e) => {
            // `pull_request` → pull_request, `issues` → issue, `issue_comment` → comment.
            let singular = e.strip_suffix('s').unwrap_or(e);
            let last = e.rsplit('_').next().unwrap_or(e);
            for key in [e, singular, last] {
                if let Some(found) = object_id(key) {
                    return found;
                }
            }
            if let Some(id) = id_text(payload.get("id")) {
                return (e.to_string(), id); // `status` and other flat payloads
            }
        }
        None => {}
    }
    // Without the event header (the seed's example), the most specific object present.
    const KNOWN: &[&str] = &[
        "comment",
        "review",
        "pull_request",
        "issue",
        "release",
        "discussion",
        "check_run",
        "check_suite",
        "workflow_run",
        "workflow_job",
        "deployment_status",
        "deployment",
        "milestone",
        "label",
        "package",
        "project_card",
        "project",
        "membership",
        "member",
        "team",
        "installation",
        "hook",
        "repository",
        "organization",
    ];
    KNOWN.iter().find_map(|k| object_id(k)).unwrap_or_else(|| (event.unwrap_or("unknown").to_string(), String::new()))
}

#[cfg(test)]
mod tests {
    use super::test_util::headers;
    use super::*;

    /// GitHub's documentation vector.
    const DOCS_SECRET: &str = "It's a Secret to Everybody";
    const DOCS_BODY: &str = "Hello, World!";
    const DOCS_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    /// Made by `@octokit/webhooks-methods` 6.0.0 `sign()` through tests/inbound/sign/github.mjs.
    const LIB_SECRET: &str = "gh-secret-9f2c";
    const LIB_BODY: &str = r#"{"action":"opened","issue":{"number":123,"id":1234567,"title":"Bug: Login fails on mobile","user":{"login":"john_dev"}},"repository":{"id":42,"full_name":"acme/app"}}"#;
    const LIB_SIG: &str = "sha256=f3cc3d7886d50e13386d5cea6740584640d5c4c8910e575e509d3de9468e8002";

    fn check(body: &str, h: &[(&str, &str)], secrets: &[&str]) -> Result<(), VerifyError> {
        let h = headers(h);
        let req =
            Incoming { headers: &h, body: body.as_bytes(), url: "http://127.0.0.1/webhooks/r", now: 1_700_000_000 };
        GitHub.verify(&req, secrets, &ProviderConfig::default())
    }

    #[test]
    fn docs_vector() {
        assert_eq!(check(DOCS_BODY, &[(SIGNATURE, DOCS_SIG)], &[DOCS_SECRET]), Ok(()));
        // header names are case-insensitive
        assert_eq!(check(DOCS_BODY, &[("x-hub-signature-256", DOCS_SIG)], &[DOCS_SECRET]), Ok(()));
    }

    #[test]
    fn library_vector_and_rotation() {
        assert_eq!(check(LIB_BODY, &[(SIGNATURE, LIB_SIG)], &[LIB_SECRET]), Ok(()));
        assert_eq!(check(LIB_BODY, &[(SIGNATURE, LIB_SIG)], &["old", LIB_SECRET]), Ok(()));
        assert_eq!(check(LIB_BODY, &[(SIGNATURE, LIB_SIG)], &[LIB_SECRET, "new"]), Ok(()));
    }

    #[test]
    fn preset_matches_the_code_it_replaced() {
        let changed = LIB_BODY.replacen("1234567", "1234568", 1);
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            (LIB_BODY, &[(SIGNATURE, LIB_SIG)], &[LIB_SECRET]),
            (&changed, &[(SIGNATURE, LIB_SIG)], &[LIB_SECRET]),
            (LIB_BODY, &[(SIGNATURE, LIB_SIG)], &["wrong", LIB_SECRET]),
            (LIB_BODY, &[], &[LIB_SECRET]),
            (LIB_BODY, &[(SIGNATURE, "sha256=zz")], &[LIB_SECRET]),
            (LIB_BODY, &[(SIGNATURE, LIB_SIG)], &[]),
        ];
        for (body, h, secrets) in cases {
            let h = headers(h);
            let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 0 };
            assert_eq!(GitHub.verify(&req, secrets, &ProviderConfig::default()), verify_by_code(&req, secrets));
        }
    }

    #[test]
    fn refusals() {
        let changed = LIB_BODY.replacen("1234567", "1234568", 1);
        assert_eq!(check(&changed, &[(SIGNATURE, LIB_SIG)], &[LIB_SECRET]), Err(VerifyError::BadSignature));
        assert_eq!(check(LIB_BODY, &[(SIGNATURE, LIB_SIG)], &["wrong"]), Err(VerifyError::BadSignature));
        assert_eq!(check(LIB_BODY, &[], &[LIB_SECRET]), Err(VerifyError::Missing(SIGNATURE)));
        for bad in ["757107ea", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d", "sha256=zz", "sha256=7571", ""] {
            assert_eq!(
                check(DOCS_BODY, &[(SIGNATURE, bad)], &[DOCS_SECRET]),
                Err(VerifyError::Malformed(SIGNATURE)),
                "{bad}"
            );
        }
        assert!(matches!(check(DOCS_BODY, &[(SIGNATURE, DOCS_SIG)], &[]), Err(VerifyError::Config(_))));
        assert!(matches!(check(DOCS_BODY, &[(SIGNATURE, DOCS_SIG)], &[""]), Err(VerifyError::Config(_))));
    }

    fn normalize(body: &str, h: &[(&str, &str)]) -> Normalized {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 0 };
        GitHub.normalize(&req, &ProviderConfig::default()).unwrap()
    }

    #[test]
    fn normalizes_the_seed_example() {
        // The seed's example, without any header.
        let n = normalize(r#"{"action":"opened","issue":{"number":123,"id":1234567}}"#, &[]);
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("opened", "issue", "1234567")
        );
        assert_eq!(n.native_type, None);
        assert_eq!(n.data["issue"]["number"], 123);

        let n = normalize(
            LIB_BODY,
            &[("X-GitHub-Event", "issues"), ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")],
        );
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("opened", "issue", "1234567")
        );
        assert_eq!(n.native_type.as_deref(), Some("issues.opened"));
        assert_eq!(n.delivery_id.as_deref(), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    }

    #[test]
    fn normalizes_other_events() {
        let n = normalize(
            r#"{"zen":"Keep it logically awesome.","hook_id":9,"hook":{"id":9,"type":"Repository"}}"#,
            &[("X-GitHub-Event", "ping")],
        );
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()), ("ping", "hook", "9"));
        assert_eq!(n.native_type.as_deref(), Some("ping"));

        let n = normalize(
            r#"{"action":"created","issue":{"id":1},"comment":{"id":77}}"#,
            &[("X-GitHub-Event", "issue_comment")],
        );
        assert_eq!((n.entity_type.as_str(), n.entity_id.as_str()), ("comment", "77"));
        assert_eq!(n.native_type.as_deref(), Some("issue_comment.created"));

        let n = normalize(
            r#"{"action":"closed","pull_request":{"id":5,"number":2}}"#,
            &[("X-GitHub-Event", "pull_request")],
        );
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("closed", "pull_request", "5")
        );

        let n = normalize(
            r#"{"ref":"refs/heads/main","after":"abc123","repository":{"id":42}}"#,
            &[("X-GitHub-Event", "push")],
        );
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()), ("push", "push", "abc123"));
        assert_eq!(n.native_type.as_deref(), Some("push"));

        let n = normalize(r#"{"id":6,"sha":"abc","state":"success"}"#, &[("X-GitHub-Event", "status")]);
        assert_eq!((n.entity_type.as_str(), n.entity_id.as_str()), ("status", "6"));

        // names that become outbound event types are cleaned
        let n = normalize(r#"{"action":"we ird/act"}"#, &[("X-GitHub-Event", "x y")]);
        assert_eq!(n.event_type, "we_ird_act");
        assert_eq!(n.native_type.as_deref(), Some("x_y.we_ird_act"));
    }

    #[test]
    fn refuses_non_json() {
        let h = headers(&[]);
        for body in ["not json", "[1,2]"] {
            let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 0 };
            assert!(GitHub.normalize(&req, &ProviderConfig::default()).is_err());
        }
    }
}
