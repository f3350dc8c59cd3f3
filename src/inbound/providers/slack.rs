//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:{ts}:{body}")>` with
//! `X-Slack-Request-Timestamp`, within 300 s of now both ways, as `slack_sdk`'s `SignatureVerifier` checks it.
//! Answers the `url_verification` handshake with its `challenge`; dedup by `event_id`.
//!
//! Normalisation follows the seed: an `event_callback` gives eventType = `event.type`, entityType `message`,
//! entityId = `event.ts`. Other payloads: top-level `type` (`app_rate_limited`), interactivity
//! (`payload=<json>` form bodies: `block_actions`, `view_submission` …) and slash commands (form bodies).

use serde_json::{json, Map, Value};
use url::form_urlencoded;

use super::*;

pub struct Slack;

#[cfg(test)]
const SIGNATURE: &str = "X-Slack-Signature";
#[cfg(test)]
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

impl Provider for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn about(&self) -> About {
        About {
            title: "Slack",
            uses_secret: true,
            secret: "Your Slack app's Signing Secret: api.slack.com/apps → the app → Basic Information → App \
                     Credentials.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        data("slack").verify_request(req, secrets, cfg)
    }

    fn preset(&self) -> Option<&preset::Preset> {
        Some(data("slack"))
    }

    fn handshake(&self, req: &Incoming, _secrets: &[&str]) -> Option<Value> {
        let body: Value = serde_json::from_slice(req.body).ok()?;
        if body.get("type")?.as_str()? != "url_verification" {
            return None;
        }
        Some(json!({ "challenge": body.get("challenge")?.clone() }))
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let form = req
            .header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        if form {
            return normalize_form(req.body);
        }
        let data = parse_json(req.body)?;
        let payload = data.as_object().ok_or("a Slack payload is a JSON object")?;
        let top = payload.get("type").and_then(Value::as_str).ok_or("a Slack payload has a `type`")?;
        let delivery_id = id_text(payload.get("event_id"));
        let (event_type, entity_type, entity_id) = if top == "event_callback" {
            let event = payload.get("event").and_then(Value::as_object).ok_or("an event_callback has an `event`")?;
            let event_type = event.get("type").and_then(Value::as_str).ok_or("a Slack event has a `type`")?;
            let id = ["ts", "event_ts"]
                .iter()
                .find_map(|k| id_text(event.get(*k)))
                .or_else(|| delivery_id.clone())
                .unwrap_or_default();
            (event_type.to_string(), "message".to_string(), id)
        } else {
            (top.to_string(), "app".to_string(), app_id(payload))
        };
        Ok(Normalized {
            native_type: Some(clean_name(&event_type)),
            event_type: clean_name(&event_type),
            entity_type: clean_name(&entity_type),
            entity_id,
            delivery_id,
            data,
        })
    }
}

fn app_id(payload: &Map<String, Value>) -> String {
    ["api_app_id", "team_id"].iter().find_map(|k| id_text(payload.get(*k))).unwrap_or_default()
}

/// Form bodies: interactivity (`payload=<json>`) and slash commands (`command=/deploy&…`).
fn normalize_form(body: &[u8]) -> Result<Normalized, String> {
    let mut fields = Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        fields.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    if let Some(Value::String(p)) = fields.get("payload") {
        let data: Value = serde_json::from_str(p).map_err(|e| format!("the Slack `payload` is not JSON: {e}"))?;
        let obj = data.as_object().ok_or("a Slack interaction payload is a JSON object")?;
        let kind = obj.get("type").and_then(Value::as_str).ok_or("a Slack interaction has a `type`")?;
        let entity_id = id_text(obj.get("trigger_id"))
            .or_else(|| id_text(obj.get("container").and_then(|c| c.get("message_ts"))))
            .or_else(|| id_text(obj.get("view").and_then(|v| v.get("id"))))
            .or_else(|| id_text(obj.get("action_ts")))
            .unwrap_or_default();
        return Ok(Normalized {
            event_type: clean_name(kind),
            entity_type: "interaction".into(),
            entity_id,
            native_type: Some(clean_name(kind)),
            delivery_id: None,
            data,
        });
    }
    if let Some(Value::String(command)) = fields.get("command") {
        let name = clean_name(command.trim_start_matches('/'));
        return Ok(Normalized {
            native_type: Some(format!("command.{name}")),
            event_type: name,
            entity_type: "command".into(),
            entity_id: id_text(fields.get("trigger_id")).unwrap_or_default(),
            delivery_id: None,
            data: Value::Object(fields),
        });
    }
    Err("a Slack form body carries `payload` or `command`".into())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    /// Slack's documentation vector (a slash command).
    const DOCS_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOCS_TS: &str = "1531420618";
    const DOCS_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOCS_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    /// Made by `slack_sdk` 3.47.0 `SignatureVerifier.generate_signature` through tests/inbound/sign/slack.py
    /// (the body of tests/inbound/cases/slack.json).
    const LIB_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const LIB_BODY: &str = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","team_id":"T123ABC456","api_app_id":"A123ABC456","event":{"type":"message","channel":"C123456","user":"U123456","text":"Hello @bot","ts":"1234567890.000001","event_ts":"1234567890.000001","channel_type":"channel"},"type":"event_callback","event_id":"Ev08MFMKH6","event_time":1234567890}"#;
    const LIB_TS: &str = "1700000000";
    const LIB_SIG: &str = "v0=fa75e36eb85a7175a131a1e6845a7d721a0f625b19e71f9aec0db6ab19cf7985";
    /// The same body signed an hour earlier.
    const STALE_TS: &str = "1699996400";
    const STALE_SIG: &str = "v0=4c2bf55ed5075ca34c3d43171c5f165a8a92d4236b2285eb3cc395abdba507e9";
    /// A url_verification handshake, secret `sec`, timestamp 1700000000.
    const CHALLENGE_BODY: &str =
        r#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    const CHALLENGE_SIG: &str = "v0=66da8e4fddf680b12b9270b0698f11c453c9a4144e1629fd771cc4acf05afec5";

    fn check(
        body: &str,
        h: &[(&str, &str)],
        secrets: &[&str],
        now: i64,
        cfg: &ProviderConfig,
    ) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now };
        Slack.verify(&req, secrets, cfg)
    }

    fn lib(now: i64) -> Result<(), VerifyError> {
        check(LIB_BODY, &[(TIMESTAMP, LIB_TS), (SIGNATURE, LIB_SIG)], &[LIB_SECRET], now, &ProviderConfig::default())
    }

    #[test]
    fn docs_vector() {
        let d = ProviderConfig::default();
        assert_eq!(
            check(DOCS_BODY, &[(TIMESTAMP, DOCS_TS), (SIGNATURE, DOCS_SIG)], &[DOCS_SECRET], 1_531_420_618, &d),
            Ok(())
        );
    }

    #[test]
    fn library_vectors() {
        let d = ProviderConfig::default();
        assert_eq!(lib(1_700_000_000), Ok(()));
        assert_eq!(
            check(
                LIB_BODY,
                &[(TIMESTAMP, LIB_TS), (SIGNATURE, LIB_SIG)],
                &["rotated-out", LIB_SECRET],
                1_700_000_000,
                &d
            ),
            Ok(())
        );
        let stale = [(TIMESTAMP, STALE_TS), (SIGNATURE, STALE_SIG)];
        assert_eq!(check(LIB_BODY, &stale, &[LIB_SECRET], 1_699_996_400, &d), Ok(()));
        assert_eq!(check(LIB_BODY, &stale, &[LIB_SECRET], 1_700_000_000, &d), Err(VerifyError::Stale));
    }

    #[test]
    fn tolerance_both_ways_and_override() {
        assert_eq!(lib(1_700_000_300), Ok(()));
        assert_eq!(lib(1_699_999_700), Ok(()));
        assert_eq!(lib(1_700_000_301), Err(VerifyError::Stale));
        assert_eq!(lib(1_699_999_699), Err(VerifyError::Stale));
        let wide = ProviderConfig { tolerance_seconds: Some(3600), ..Default::default() };
        let h = [(TIMESTAMP, LIB_TS), (SIGNATURE, LIB_SIG)];
        assert_eq!(check(LIB_BODY, &h, &[LIB_SECRET], 1_700_003_000, &wide), Ok(()));
    }

    #[test]
    fn refusals() {
        let d = ProviderConfig::default();
        let now = 1_700_000_000;
        let changed = LIB_BODY.replacen("Hello", "Hellp", 1);
        assert_eq!(
            check(&changed, &[(TIMESTAMP, LIB_TS), (SIGNATURE, LIB_SIG)], &[LIB_SECRET], now, &d),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(LIB_BODY, &[(TIMESTAMP, LIB_TS), (SIGNATURE, LIB_SIG)], &["wrong"], now, &d),
            Err(VerifyError::BadSignature)
        );
        // the timestamp is signed: moving it breaks the signature
        assert_eq!(
            check(LIB_BODY, &[(TIMESTAMP, "1700000001"), (SIGNATURE, LIB_SIG)], &[LIB_SECRET], now, &d),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(LIB_BODY, &[(SIGNATURE, LIB_SIG)], &[LIB_SECRET], now, &d),
            Err(VerifyError::Missing(TIMESTAMP))
        );
        assert_eq!(
            check(LIB_BODY, &[(TIMESTAMP, LIB_TS)], &[LIB_SECRET], now, &d),
            Err(VerifyError::Missing(SIGNATURE))
        );
        assert_eq!(
            check(LIB_BODY, &[(TIMESTAMP, "soon"), (SIGNATURE, LIB_SIG)], &[LIB_SECRET], now, &d),
            Err(VerifyError::Malformed(TIMESTAMP))
        );
        for bad in ["fa75e36e", "v1=fa75", "v0=xyz", &LIB_SIG[..40]] {
            assert_eq!(
                check(LIB_BODY, &[(TIMESTAMP, LIB_TS), (SIGNATURE, bad)], &[LIB_SECRET], now, &d),
                Err(VerifyError::Malformed(SIGNATURE)),
                "{bad}"
            );
        }
    }

    fn incoming<'a>(h: &'a axum::http::HeaderMap, body: &'a str) -> Incoming<'a> {
        Incoming { headers: h, body: body.as_bytes(), url: "", now: 1_700_000_000 }
    }

    #[test]
    fn handshake_echoes_the_challenge() {
        let h = headers(&[(TIMESTAMP, LIB_TS), (SIGNATURE, CHALLENGE_SIG)]);
        let req = incoming(&h, CHALLENGE_BODY);
        assert_eq!(Slack.verify(&req, &["sec"], &ProviderConfig::default()), Ok(()));
        assert_eq!(
            Slack.handshake(&req, &["sec"]),
            Some(json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}))
        );
        let req = incoming(&h, LIB_BODY);
        assert_eq!(Slack.handshake(&req, &["sec"]), None);
    }

    #[test]
    fn normalizes_events() {
        let h = headers(&[("Content-Type", "application/json")]);
        let n = Slack.normalize(&incoming(&h, LIB_BODY), &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("message", "message", "1234567890.000001")
        );
        assert_eq!(n.native_type.as_deref(), Some("message"));
        assert_eq!(n.delivery_id.as_deref(), Some("Ev08MFMKH6"));
        assert_eq!(n.data["event"]["channel"], "C123456");

        // the seed's example (no ts: the event has none)
        let n = Slack
            .normalize(
                &incoming(&h, r#"{"type":"event_callback","event":{"type":"message","channel":"C123","user":"U123"}}"#),
                &ProviderConfig::default(),
            )
            .unwrap();
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str()), ("message", "message"));

        let n = Slack.normalize(&incoming(&h, r#"{"token":"t","type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820,"api_app_id":"A1"}"#), &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("app_rate_limited", "app", "A1")
        );
        assert_eq!(n.native_type.as_deref(), Some("app_rate_limited"));
        assert_eq!(n.delivery_id, None);

        assert!(Slack.normalize(&incoming(&h, r#"{"event":{}}"#), &ProviderConfig::default()).is_err());
        assert!(Slack.normalize(&incoming(&h, "token=x"), &ProviderConfig::default()).is_err());
    }

    #[test]
    fn normalizes_form_bodies() {
        let h = headers(&[("Content-Type", "application/x-www-form-urlencoded")]);
        let n = Slack.normalize(&incoming(&h, DOCS_BODY), &ProviderConfig::default()).unwrap();
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str()), ("webhook-collect", "command"));
        assert_eq!(n.entity_id, "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c");
        assert_eq!(n.native_type.as_deref(), Some("command.webhook-collect"));
        assert_eq!(n.data["team_id"], "T1DC2JH3J");

        let body = "payload=%7B%22type%22%3A%22block_actions%22%2C%22trigger_id%22%3A%2212.34%22%7D";
        let n = Slack.normalize(&incoming(&h, body), &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("block_actions", "interaction", "12.34")
        );
        assert!(Slack.normalize(&incoming(&h, "a=b"), &ProviderConfig::default()).is_err());
    }
}
