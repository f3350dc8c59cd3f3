//! GitLab: GitLab does not sign its classic webhooks; it sends the webhook's secret token as is in
//! `X-Gitlab-Token`, which is compared with each secret in constant time. That authenticates the sender but not
//! the body (anyone who sees one request can replay or alter it): GitLab's documented limitation.
//!
//! GitLab's newer signing token (behind the `webhook_signing_token` feature flag) follows Standard Webhooks:
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>` where the
//! token is `whsec_<base64 key>` and `webhook-id` equals `Idempotency-Key`. When a request carries
//! `webhook-signature` and a secret is such a `whsec_` token, the signature is checked instead (±300 s, as the
//! Standard Webhooks libraries do), which does cover the body.
//!
//! Normalisation: `object_kind` (`issue`, `merge_request`, `push` …) is the entityType, the
//! `object_attributes.action` (`open`, `merge` …) the eventType, the native name `{object_kind}.{action}`;
//! dedup by `Idempotency-Key` (stable across retries) or `X-Gitlab-Event-UUID`.

use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;

pub struct GitLab;

const TOKEN: &str = "X-Gitlab-Token";
const SIGNATURE: &str = "webhook-signature";
const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
/// The Standard Webhooks libraries' tolerance, both ways.
const TOLERANCE: u64 = 300;

/// Base64 with or without padding, as the Standard Webhooks libraries read a `whsec_` key.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The key of a `whsec_` signing token.
fn signing_key(secret: &str) -> Option<Vec<u8>> {
    LENIENT.decode(secret.strip_prefix("whsec_")?).ok().filter(|k| !k.is_empty())
}

impl Provider for GitLab {
    fn name(&self) -> &'static str {
        "gitlab"
    }

    fn about(&self) -> About {
        About {
            title: "GitLab",
            uses_secret: true,
            secret: "The Secret token of GitLab's webhook (Settings → Webhooks): leave the secret blank and paste \
                     the one hookd makes there, or type the same token in both.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        let keys: Vec<Vec<u8>> = secrets.iter().filter_map(|s| signing_key(s)).collect();
        if let (Some(signature), false) = (req.header(SIGNATURE), keys.is_empty()) {
            return verify_signed(req, signature, &keys, cfg);
        }
        let token = req.header(TOKEN).filter(|t| !t.is_empty()).ok_or(VerifyError::Missing(TOKEN))?;
        // Compared as digests, so that neither the time nor an early length mismatch tells the secret's length.
        let given = Sha256::digest(token.as_bytes());
        any_secret(secrets, |s| ct_eq(&Sha256::digest(s.as_bytes()), &given))
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let data = parse_json(req.body)?;
        let payload = data.as_object().ok_or("a GitLab payload is a JSON object")?;
        fn text(v: Option<&Value>) -> Option<&str> {
            v.and_then(Value::as_str).filter(|s| !s.is_empty())
        }
        // System hooks name the event in `event_name`; the header (`Push Hook`) is the last resort.
        let kind = text(payload.get("object_kind"))
            .or_else(|| text(payload.get("event_name")))
            .or_else(|| req.header("X-Gitlab-Event").filter(|e| !e.is_empty()))
            .ok_or("a GitLab payload has an `object_kind`")?;
        let attributes = payload.get("object_attributes");
        // Releases carry their action at the top level.
        let action = text(attributes.and_then(|a| a.get("action"))).or_else(|| text(payload.get("action")));
        let entity_id = id_text(attributes.and_then(|a| a.get("id")))
            .or_else(|| {
                ["build_id", "deployment_id", "id", "checkout_sha", "after"]
                    .iter()
                    .find_map(|k| id_text(payload.get(*k)))
            })
            .unwrap_or_default();
        let delivery_id = ["Idempotency-Key", "X-Gitlab-Event-UUID"]
            .iter()
            .find_map(|h| req.header(h).filter(|v| !v.is_empty()))
            .map(str::to_string);
        let (event_type, entity_type, native_type) = kind_action_names(kind, action);
        Ok(Normalized { event_type, entity_type, entity_id, native_type, delivery_id, data })
    }
}

/// The signing-token mode: Standard Webhooks.
fn verify_signed(req: &Incoming, signature: &str, keys: &[Vec<u8>], cfg: &ProviderConfig) -> Result<(), VerifyError> {
    let id = req.header(ID).filter(|v| !v.is_empty()).ok_or(VerifyError::Missing(ID))?;
    let ts_text = req.header(TIMESTAMP).ok_or(VerifyError::Missing(TIMESTAMP))?;
    let ts: i64 = ts_text.trim().parse().map_err(|_| VerifyError::Malformed(TIMESTAMP))?;
    let given: Vec<Vec<u8>> = signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .collect();
    if given.is_empty() {
        return Err(VerifyError::Malformed(SIGNATURE));
    }
    let prefix = format!("{id}.{ts}.");
    let mut ok = false;
    for key in keys {
        let expected = hmac_sha256(key, &[prefix.as_bytes(), req.body]);
        ok |= given.iter().fold(false, |m, g| m | ct_eq(&expected, g));
    }
    if !ok {
        return Err(VerifyError::BadSignature);
    }
    if !fresh(ts, req.now, cfg.tolerance_seconds.unwrap_or(TOLERANCE)) {
        return Err(VerifyError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    /// The request of tests/inbound/cases/gitlab.json (token mode, tests/inbound/sign/gitlab.py).
    const TOKEN_SECRET: &str = "glwt-7c1e4a9b2d5f8e3a6c0b";
    const BODY: &str = r#"{"object_kind":"issue","event_type":"issue","user":{"id":1,"name":"Administrator","username":"root"},"project":{"id":1,"name":"Gitlab Test","path_with_namespace":"gitlabhq/gitlab-test"},"object_attributes":{"id":301,"iid":23,"title":"New API: create/update/delete file","state":"opened","action":"open","created_at":"2013-12-03T17:15:43Z"},"labels":[{"id":206,"title":"API"}]}"#;
    const IDEMPOTENCY: &str = "f2d1c0b9-a8e7-4d6c-b5a4-938271605f4e";

    /// The signing-token mode of tests/inbound/cases/gitlab_signed.json: the signature made by `standardwebhooks`
    /// 1.1.0 `Webhook.sign` through tests/inbound/sign/gitlab.py.
    const SIGNING_SECRET: &str = "whsec_8ekZO7tPET2h/xVDq97QK8KGP4cmlvVA/h8xcyrKGDg=";
    const SIGNED_SIG: &str = "v1,WtdGPu5h6lWcsbjIy/oEoTeHwg1DwPNtqWD/+SQkYq4=";
    const STALE_SIG: &str = "v1,FaZaHYHT3zs2Tg1BazP0JzvMdjqJJlJ0ERMVDqw1KJY=";
    const NOW: i64 = 1_700_000_000;

    fn check(body: &str, h: &[(&str, &str)], secrets: &[&str], now: i64) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now };
        GitLab.verify(&req, secrets, &ProviderConfig::default())
    }

    #[test]
    fn token_mode() {
        assert_eq!(check(BODY, &[(TOKEN, TOKEN_SECRET)], &[TOKEN_SECRET], NOW), Ok(()));
        assert_eq!(check(BODY, &[(TOKEN, TOKEN_SECRET)], &["old", TOKEN_SECRET], NOW), Ok(()));
        assert_eq!(check(BODY, &[(TOKEN, "glwt-wrong")], &[TOKEN_SECRET], NOW), Err(VerifyError::BadSignature));
        assert_eq!(check(BODY, &[(TOKEN, &TOKEN_SECRET[..10])], &[TOKEN_SECRET], NOW), Err(VerifyError::BadSignature));
        assert_eq!(check(BODY, &[(TOKEN, TOKEN_SECRET)], &["wrong"], NOW), Err(VerifyError::BadSignature));
        assert_eq!(check(BODY, &[], &[TOKEN_SECRET], NOW), Err(VerifyError::Missing(TOKEN)));
        // an empty token never matches, even an (ignored) empty secret
        assert_eq!(check(BODY, &[(TOKEN, "")], &["", TOKEN_SECRET], NOW), Err(VerifyError::Missing(TOKEN)));
        // a webhook-signature header does not switch a plain-token registration away from the token
        let h = [(TOKEN, TOKEN_SECRET), (SIGNATURE, "v1,AAAA"), (ID, "x"), (TIMESTAMP, "1")];
        assert_eq!(check(BODY, &h, &[TOKEN_SECRET], NOW), Ok(()));
    }

    fn signed(sig: &str, ts: &str) -> [(&'static str, String); 4] {
        [
            (SIGNATURE, sig.to_string()),
            (ID, IDEMPOTENCY.to_string()),
            (TIMESTAMP, ts.to_string()),
            ("Idempotency-Key", IDEMPOTENCY.to_string()),
        ]
    }

    fn check_signed(body: &str, sig: &str, ts: &str, secrets: &[&str], now: i64) -> Result<(), VerifyError> {
        let pairs = signed(sig, ts);
        let h: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        check(body, &h, secrets, now)
    }

    #[test]
    fn signing_token_mode() {
        assert_eq!(check_signed(BODY, SIGNED_SIG, "1700000000", &[SIGNING_SECRET], NOW), Ok(()));
        assert_eq!(check_signed(BODY, SIGNED_SIG, "1700000000", &["plain-token", SIGNING_SECRET], NOW), Ok(()));
        // several signatures, space-separated
        let several = format!("v1,bm9wZQ== {SIGNED_SIG}");
        assert_eq!(check_signed(BODY, &several, "1700000000", &[SIGNING_SECRET], NOW), Ok(()));
        assert_eq!(check_signed(BODY, STALE_SIG, "1699996400", &[SIGNING_SECRET], NOW - 3600), Ok(()));

        assert_eq!(check_signed(BODY, STALE_SIG, "1699996400", &[SIGNING_SECRET], NOW), Err(VerifyError::Stale));
        assert_eq!(check_signed(BODY, SIGNED_SIG, "1700000000", &[SIGNING_SECRET], NOW - 301), Err(VerifyError::Stale));
        let changed = BODY.replacen("301", "302", 1);
        assert_eq!(
            check_signed(&changed, SIGNED_SIG, "1700000000", &[SIGNING_SECRET], NOW),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check_signed(BODY, SIGNED_SIG, "1700000001", &[SIGNING_SECRET], NOW),
            Err(VerifyError::BadSignature)
        );
        let other = "whsec_QmFkS2V5QmFkS2V5QmFkS2V5QmFkS2V5QmFkS2V5";
        assert_eq!(check_signed(BODY, SIGNED_SIG, "1700000000", &[other], NOW), Err(VerifyError::BadSignature));
        assert_eq!(
            check_signed(BODY, "v2,abc", "1700000000", &[SIGNING_SECRET], NOW),
            Err(VerifyError::Malformed(SIGNATURE))
        );
        assert_eq!(
            check_signed(BODY, SIGNED_SIG, "soon", &[SIGNING_SECRET], NOW),
            Err(VerifyError::Malformed(TIMESTAMP))
        );
        let h = [(SIGNATURE, SIGNED_SIG), (TIMESTAMP, "1700000000")];
        assert_eq!(check(BODY, &h, &[SIGNING_SECRET], NOW), Err(VerifyError::Missing(ID)));
        // without its signature a signing-token registration has no token to show
        assert_eq!(check(BODY, &[(TOKEN, "guess")], &[SIGNING_SECRET], NOW), Err(VerifyError::BadSignature));
    }

    fn normalize(body: &str, h: &[(&str, &str)]) -> Normalized {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 0 };
        GitLab.normalize(&req, &ProviderConfig::default()).unwrap()
    }

    #[test]
    fn normalizes() {
        let n = normalize(
            BODY,
            &[("X-Gitlab-Event", "Issue Hook"), ("X-Gitlab-Event-UUID", "e-1"), ("Idempotency-Key", IDEMPOTENCY)],
        );
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()), ("open", "issue", "301"));
        assert_eq!(n.native_type.as_deref(), Some("issue.open"));
        assert_eq!(n.delivery_id.as_deref(), Some(IDEMPOTENCY));
        assert_eq!(n.data["object_attributes"]["iid"], 23);

        let n = normalize(
            r#"{"object_kind":"push","before":"95790bf8","after":"da1560886d","ref":"refs/heads/master"}"#,
            &[("X-Gitlab-Event-UUID", "e-2")],
        );
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("push", "push", "da1560886d")
        );
        assert_eq!(n.native_type.as_deref(), Some("push"));
        assert_eq!(n.delivery_id.as_deref(), Some("e-2"));

        let n = normalize(r#"{"object_kind":"release","id":1,"action":"create","tag":"v1.1"}"#, &[]);
        assert_eq!((n.native_type.as_deref(), n.entity_id.as_str()), (Some("release.create"), "1"));
        let n = normalize(r#"{"object_kind":"merge_request","object_attributes":{"id":99,"action":"approved"}}"#, &[]);
        assert_eq!(n.native_type.as_deref(), Some("merge_request.approved"));
        let n = normalize(r#"{"event_name":"project_create","project_id":74}"#, &[]);
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str()), ("project_create", "project_create"));
        let n = normalize(r#"{"some":"thing"}"#, &[("X-Gitlab-Event", "System Hook")]);
        assert_eq!(n.entity_type, "System_Hook");

        let h = headers(&[]);
        for body in [r#"{"some":"thing"}"#, "[]", "x"] {
            let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 0 };
            assert!(GitLab.normalize(&req, &ProviderConfig::default()).is_err(), "{body}");
        }
    }
}
