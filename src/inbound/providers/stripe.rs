//! Stripe: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>…]` where each `v1` is HMAC-SHA256 of `{t}.{body}`
//! keyed with the whole `whsec_…` string as UTF-8 (not decoded), as stripe-python's `WebhookSignature` signs
//! and checks it: any `v1` may match (Stripe sends one per live secret while one is rolled), and only
//! timestamps older than the tolerance (300 s) are refused, as the library does. Dedup by the event `id`.
//!
//! Normalisation: `invoice.paid` → eventType `paid`, entityType `invoice` (`data.object.object`), entityId
//! `data.object.id`; the native name is the `type`.

use serde_json::Value;

use super::*;

pub struct Stripe;

#[cfg(test)]
const SIGNATURE: &str = "Stripe-Signature";

impl Provider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn about(&self) -> About {
        About {
            title: "Stripe",
            uses_secret: true,
            secret: "The endpoint's signing secret (whsec_…), shown in Stripe's Dashboard under Developers → \
                     Webhooks → the endpoint once you have added this URL there.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        data("stripe").verify_request(req, secrets, cfg)
    }

    fn preset(&self) -> Option<&preset::Preset> {
        Some(data("stripe"))
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let data = parse_json(req.body)?;
        let event = data.as_object().ok_or("a Stripe event is a JSON object")?;
        let kind = event.get("type").and_then(Value::as_str).ok_or("a Stripe event has a `type`")?;
        let (prefix, action) = kind.rsplit_once('.').unwrap_or(("", kind));
        // Snapshot events carry the object; thin (v2) events name a `related_object`.
        let object = event.get("data").and_then(|d| d.get("object"));
        let related = event.get("related_object");
        let entity_type = object
            .and_then(|o| o.get("object"))
            .or_else(|| related.and_then(|r| r.get("type")))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or(prefix);
        let entity_id = id_text(object.and_then(|o| o.get("id")))
            .or_else(|| id_text(related.and_then(|r| r.get("id"))))
            .unwrap_or_default();
        Ok(Normalized {
            event_type: clean_name(action),
            entity_type: clean_name(entity_type),
            entity_id,
            native_type: Some(clean_name(kind)),
            delivery_id: id_text(event.get("id")),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    /// Made by stripe-python 16.1.0 `WebhookSignature.generate_signature_header` through
    /// tests/inbound/sign/stripe.py (the body of tests/inbound/cases/stripe.json).
    const SECRET: &str = "whsec_3b1c5e0a9f7d4e2b8c6a1f0e9d8c7b6a";
    const BODY: &str = "{\n  \"id\": \"evt_1NG8Du2eZvKYlo2CUI79vXWy\",\n  \"object\": \"event\",\n  \"api_version\": \"2024-06-20\",\n  \"created\": 1700000000,\n  \"data\": {\n    \"object\": {\n      \"id\": \"in_1NG8Du2eZvKYlo2C9XkSxa2b\",\n      \"object\": \"invoice\",\n      \"amount_paid\": 2000,\n      \"currency\": \"eur\",\n      \"customer\": \"cus_NffrFeUfNV2Hib\",\n      \"status\": \"paid\"\n    }\n  },\n  \"livemode\": false,\n  \"pending_webhooks\": 1,\n  \"request\": {\"id\": null, \"idempotency_key\": null},\n  \"type\": \"invoice.paid\"\n}";
    const HEADER: &str = "t=1700000000,v1=b0d6c84387c47427513f3788ec307699716f7f6509ec855bd3dca17692ca7e7a";
    /// The same body signed an hour earlier.
    const STALE: &str = "t=1699996400,v1=bd09902a2f251235651ddd4dbffa3731129212930e5ee12ebecff88763b4f5ab";
    /// During a roll: one v1 per secret (`whsec_old_rolled` first), as stripe-python's `verify_header` accepts.
    const ROLLING: &str = "t=1700000000,v1=b530997e60dd938c812f607323326eef0fed3203f24c9db35135feafcec43347,v1=b0d6c84387c47427513f3788ec307699716f7f6509ec855bd3dca17692ca7e7a";
    const NOW: i64 = 1_700_000_000;

    fn check(
        body: &str,
        header: Option<&str>,
        secrets: &[&str],
        now: i64,
        cfg: &ProviderConfig,
    ) -> Result<(), VerifyError> {
        let h = headers(&header.map(|v| vec![(SIGNATURE, v)]).unwrap_or_default());
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now };
        Stripe.verify(&req, secrets, cfg)
    }

    fn ok(header: &str, secrets: &[&str], now: i64) -> Result<(), VerifyError> {
        check(BODY, Some(header), secrets, now, &ProviderConfig::default())
    }

    #[test]
    fn library_vectors() {
        assert_eq!(ok(HEADER, &[SECRET], NOW), Ok(()));
        assert_eq!(ok(HEADER, &["whsec_other", SECRET], NOW), Ok(()));
        assert_eq!(ok(ROLLING, &[SECRET], NOW), Ok(()));
        assert_eq!(ok(ROLLING, &["whsec_old_rolled"], NOW), Ok(()));
        // a test-mode v0 and spaces around items do not matter
        let v0 = format!(
            "t=1700000000, v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39 ,{}",
            &HEADER[13..]
        );
        assert_eq!(ok(&v0, &[SECRET], NOW), Ok(()));
        assert_eq!(ok(STALE, &[SECRET], NOW - 3600), Ok(()));
    }

    #[test]
    fn tolerance_is_for_old_timestamps_only() {
        assert_eq!(ok(HEADER, &[SECRET], NOW + 300), Ok(()));
        assert_eq!(ok(HEADER, &[SECRET], NOW + 301), Err(VerifyError::Stale));
        assert_eq!(ok(STALE, &[SECRET], NOW), Err(VerifyError::Stale));
        // a timestamp ahead of now is accepted, as by the library
        assert_eq!(ok(HEADER, &[SECRET], NOW - 3600), Ok(()));
        let wide = ProviderConfig { tolerance_seconds: Some(7200), ..Default::default() };
        assert_eq!(check(BODY, Some(STALE), &[SECRET], NOW, &wide), Ok(()));
    }

    #[test]
    fn refusals() {
        let d = ProviderConfig::default();
        let changed = BODY.replacen("2000", "2001", 1);
        assert_eq!(check(&changed, Some(HEADER), &[SECRET], NOW, &d), Err(VerifyError::BadSignature));
        assert_eq!(ok(HEADER, &["whsec_wrong"], NOW), Err(VerifyError::BadSignature));
        // the key is the whole whsec_ string, not its decoded tail
        assert_eq!(ok(HEADER, &[&SECRET[6..]], NOW), Err(VerifyError::BadSignature));
        // the timestamp is signed
        assert_eq!(ok(&HEADER.replace("t=1700000000", "t=1700000001"), &[SECRET], NOW), Err(VerifyError::BadSignature));
        assert_eq!(check(BODY, None, &[SECRET], NOW, &d), Err(VerifyError::Missing(SIGNATURE)));
        for bad in ["", "v1=b0d6", "t=abc,v1=b0d6", &HEADER[..13], "t=1700000000,v0=00", "garbage"] {
            assert_eq!(ok(bad, &[SECRET], NOW), Err(VerifyError::Malformed(SIGNATURE)), "{bad}");
        }
        assert_eq!(ok("t=1700000000,v1=zz", &[SECRET], NOW), Err(VerifyError::BadSignature));
    }

    #[test]
    fn normalizes() {
        let h = headers(&[]);
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: NOW };
        let n = Stripe.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("paid", "invoice", "in_1NG8Du2eZvKYlo2C9XkSxa2b")
        );
        assert_eq!(n.native_type.as_deref(), Some("invoice.paid"));
        assert_eq!(n.delivery_id.as_deref(), Some("evt_1NG8Du2eZvKYlo2CUI79vXWy"));
        assert_eq!(n.data["data"]["object"]["amount_paid"], 2000);

        let body = r#"{"id":"evt_2","type":"customer.subscription.trial_will_end","data":{"object":{"id":"sub_1","object":"subscription"}}}"#;
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: NOW };
        let n = Stripe.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("trial_will_end", "subscription", "sub_1")
        );
        assert_eq!(n.native_type.as_deref(), Some("customer.subscription.trial_will_end"));

        let body = r#"{"id":"evt_3","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered","related_object":{"id":"mtr_1","type":"billing.meter"}}"#;
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: NOW };
        let n = Stripe.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("error_report_triggered", "billing.meter", "mtr_1")
        );

        for body in ["{}", "[]", "nope"] {
            let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: NOW };
            assert!(Stripe.normalize(&req, &ProviderConfig::default()).is_err(), "{body}");
        }
    }
}
