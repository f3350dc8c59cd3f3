//! Linear: `Linear-Signature` = hex HMAC-SHA256 of the raw body keyed with the webhook's signing secret (no
//! prefix), as `@linear/sdk`'s `LinearWebhooks.verify` checks it; replay protection is the body's
//! `webhookTimestamp` (unix ms, covered by the signature), which must be within 60 s of now either way.
//!
//! Normalisation: `{type: "Issue", action: "create", data: {id}}` → eventType `create`, entityType `Issue`,
//! entityId `data.id`, native name `Issue.create`; dedup by the `Linear-Delivery` header.

use serde_json::Value;

use super::*;

pub struct Linear;

#[cfg(test)]
const SIGNATURE: &str = "Linear-Signature";
const TIMESTAMP: &str = "webhookTimestamp";
/// The SDK refuses a `webhookTimestamp` more than a minute away from now.
const TOLERANCE: u64 = 60;

impl Provider for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn about(&self) -> About {
        About {
            title: "Linear",
            uses_secret: true,
            secret: "The webhook's signing secret, shown in Linear under Settings → API → Webhooks once you have \
                     added this URL there.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        data("linear").verify_request(req, secrets, cfg)?;
        // Only now is the body trusted enough to read its timestamp.
        let body: Value = serde_json::from_slice(req.body).map_err(|_| VerifyError::Malformed("body"))?;
        let stamp = body.get(TIMESTAMP).ok_or(VerifyError::Missing(TIMESTAMP))?;
        let ms = stamp
            .as_i64()
            .or_else(|| stamp.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .ok_or(VerifyError::Malformed(TIMESTAMP))?;
        let tolerance_ms = cfg.tolerance_seconds.unwrap_or(TOLERANCE).saturating_mul(1000);
        if (req.now.saturating_mul(1000).saturating_sub(ms)).unsigned_abs() > tolerance_ms {
            return Err(VerifyError::Stale);
        }
        Ok(())
    }

    fn preset(&self) -> Option<&preset::Preset> {
        Some(data("linear"))
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let data = parse_json(req.body)?;
        let payload = data.as_object().ok_or("a Linear payload is a JSON object")?;
        let kind = payload.get("type").and_then(Value::as_str).ok_or("a Linear payload has a `type`")?;
        let action = payload.get("action").and_then(Value::as_str).filter(|a| !a.is_empty());
        // Entity events carry `data`; IssueSLA names `issueData`, AppUserNotification a `notification`.
        let entity_id = ["data", "issueData", "notification"]
            .iter()
            .find_map(|k| id_text(payload.get(*k).and_then(|o| o.get("id"))))
            .or_else(|| id_text(payload.get("oauthClientId")))
            .unwrap_or_default();
        let (event_type, entity_type, native_type) = kind_action_names(kind, action);
        Ok(Normalized {
            event_type,
            entity_type,
            entity_id,
            native_type,
            // Not `webhookId`: that names the webhook configuration and is the same for all its deliveries.
            delivery_id: req.header("Linear-Delivery").filter(|d| !d.is_empty()).map(str::to_string),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    /// Made by tests/inbound/sign/linear.mjs (node's HMAC, as the SDK computes it) from the body of
    /// tests/inbound/cases/linear.json, stamped at 1700000000 s.
    const SECRET: &str = "lin_wh_4f8a2c6e1b9d3f7a5c0e8b2d6f4a1c9e";
    const BODY: &str = r#"{"action":"create","actor":{"id":"2e6eea91-1111-0000-9486-acea0603064d","type":"user","name":"Linear"},"createdAt":"2023-11-14T22:13:20.000Z","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","identifier":"ENG-123","title":"Login fails on mobile","priority":2,"teamId":"72b2a2dc-6f4f-4423-9d34-24b5bd10634a"},"url":"https://linear.app/acme/issue/ENG-123","type":"Issue","organizationId":"78c98e8e-ba2e-4d0d-a0c1-fd81f0b4da96","webhookTimestamp":1700000000000,"webhookId":"000042e3-d123-4980-b49f-8e140eef9329"}"#;
    const SIG: &str = "8faec83dcd75e2f0a83184a945bc7af7633a53b984f6eca17b005cacabe1d4cd";
    /// The same body stamped an hour earlier (webhookTimestamp 1699996400000).
    const STALE_SIG: &str = "b367417fb2a479e06eeb62783aa999a541af41d10830af6ff713c56200177bac";
    /// A body without webhookTimestamp.
    const BARE_BODY: &str = r#"{"type":"Issue","action":"remove","data":{"id":"x"}}"#;
    const NOW: i64 = 1_700_000_000;

    fn check(
        body: &str,
        sig: Option<&str>,
        secrets: &[&str],
        now: i64,
        cfg: &ProviderConfig,
    ) -> Result<(), VerifyError> {
        let h = headers(&sig.map(|s| vec![(SIGNATURE, s)]).unwrap_or_default());
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now };
        Linear.verify(&req, secrets, cfg)
    }

    fn ok(body: &str, sig: &str, secrets: &[&str], now: i64) -> Result<(), VerifyError> {
        check(body, Some(sig), secrets, now, &ProviderConfig::default())
    }

    #[test]
    fn signer_vectors() {
        assert_eq!(ok(BODY, SIG, &[SECRET], NOW), Ok(()));
        assert_eq!(ok(BODY, SIG, &["lin_wh_old", SECRET], NOW), Ok(()));
        let stale = BODY.replace("1700000000000", "1699996400000");
        assert_eq!(ok(&stale, STALE_SIG, &[SECRET], NOW - 3600), Ok(()));
        assert_eq!(ok(&stale, STALE_SIG, &[SECRET], NOW), Err(VerifyError::Stale));
    }

    #[test]
    fn a_minute_either_way() {
        assert_eq!(ok(BODY, SIG, &[SECRET], NOW + 60), Ok(()));
        assert_eq!(ok(BODY, SIG, &[SECRET], NOW - 60), Ok(()));
        assert_eq!(ok(BODY, SIG, &[SECRET], NOW + 61), Err(VerifyError::Stale));
        assert_eq!(ok(BODY, SIG, &[SECRET], NOW - 61), Err(VerifyError::Stale));
        let wide = ProviderConfig { tolerance_seconds: Some(600), ..Default::default() };
        assert_eq!(check(BODY, Some(SIG), &[SECRET], NOW + 500, &wide), Ok(()));
    }

    #[test]
    fn refusals() {
        let changed = BODY.replacen("ENG-123", "ENG-124", 1);
        assert_eq!(ok(&changed, SIG, &[SECRET], NOW), Err(VerifyError::BadSignature));
        // moving the timestamp changes the signed body
        let moved = BODY.replace("1700000000000", "1700000001000");
        assert_eq!(ok(&moved, SIG, &[SECRET], NOW), Err(VerifyError::BadSignature));
        assert_eq!(ok(BODY, SIG, &["lin_wh_wrong"], NOW), Err(VerifyError::BadSignature));
        assert_eq!(check(BODY, None, &[SECRET], NOW, &ProviderConfig::default()), Err(VerifyError::Missing(SIGNATURE)));
        for bad in ["", "sha256=8faec83d", "8faec83dcd75", "not hex"] {
            assert_eq!(ok(BODY, bad, &[SECRET], NOW), Err(VerifyError::Malformed(SIGNATURE)), "{bad}");
        }
        // a validly signed body without webhookTimestamp has no replay protection: refused
        let sig = hex::encode(hmac_sha256(b"s", &[BARE_BODY.as_bytes()]));
        assert_eq!(ok(BARE_BODY, &sig, &["s"], NOW), Err(VerifyError::Missing(TIMESTAMP)));
        let odd = r#"{"webhookTimestamp":"1700000000000"}"#;
        let sig = hex::encode(hmac_sha256(b"s", &[odd.as_bytes()]));
        assert_eq!(ok(odd, &sig, &["s"], NOW), Err(VerifyError::Malformed(TIMESTAMP)));
    }

    #[test]
    fn normalizes() {
        let h = headers(&[("Linear-Delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72"), ("Linear-Event", "Issue")]);
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: NOW };
        let n = Linear.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("create", "Issue", "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9")
        );
        assert_eq!(n.native_type.as_deref(), Some("Issue.create"));
        assert_eq!(n.delivery_id.as_deref(), Some("234d1a4e-b617-4388-90fe-adc3633d6b72"));
        assert_eq!(n.data["data"]["identifier"], "ENG-123");

        let h = headers(&[]);
        let body = r#"{"type":"IssueSLA","action":"breached","issueData":{"id":"i-1"},"webhookTimestamp":1}"#;
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: NOW };
        let n = Linear.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.native_type.as_deref(), n.entity_id.as_str(), n.delivery_id.as_deref()),
            (Some("IssueSLA.breached"), "i-1", None)
        );
        for body in [r#"{"action":"create"}"#, "[]", "x"] {
            let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: NOW };
            assert!(Linear.normalize(&req, &ProviderConfig::default()).is_err(), "{body}");
        }
    }
}
