//! Notion: `X-Notion-Signature: sha256=<hex HMAC-SHA256(raw body)>`, keyed with the subscription's verification
//! token (the registration's secret), exactly as `@notionhq/client`'s `verifyWebhookSignature`. No timestamp.
//!
//! When a subscription is created Notion first POSTs, unsigned, `{"verification_token": "secret_…"}`;
//! [`Provider::verification_token`] hands that token to the caller, which stores it and shows it to the tenant.
//!
//! Two body shapes are normalised: Notion's event (`{"id": <event id>, "type": "page.created",
//! "entity": {"id", "type"}, "data": …}`) and the seed's (`{"type": "page.created", "object": "page", "id": <page
//! id>, …}`).

use serde_json::Value;

use super::*;

pub struct Notion;

pub const SIGNATURE_HEADER: &str = "x-notion-signature";

impl Provider for Notion {
    fn name(&self) -> &'static str {
        "notion"
    }

    fn about(&self) -> About {
        About {
            title: "Notion",
            uses_secret: false,
            secret: "Leave the secret blank: Notion first sends a verification token to this URL; hookd keeps it \
                     and verifies with it. Enter it in Notion to finish: the registration's Edit page shows it \
                     (verificationToken in GET /webhooks/{id}).",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], _cfg: &ProviderConfig) -> Result<(), VerifyError> {
        verify_body_hmac_hex(req, "X-Notion-Signature", Prefix::Required("sha256="), secrets)
    }

    fn verification_token(&self, req: &Incoming) -> Option<String> {
        if req.header(SIGNATURE_HEADER).is_some() {
            return None;
        }
        let v: Value = serde_json::from_slice(req.body).ok()?;
        let obj = v.as_object()?;
        if obj.len() != 1 {
            return None;
        }
        obj.get("verification_token")?.as_str().filter(|t| !t.is_empty()).map(str::to_string)
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let v = parse_json(req.body)?;
        let ty = v.get("type").and_then(Value::as_str).ok_or("notion: no type")?;
        let (prefix, event) = ty.rsplit_once('.').unwrap_or(("", ty));

        let (entity_type, entity_id, delivery_id) = match v.get("entity").filter(|e| e.is_object()) {
            // Notion's own event: `id` is the event's id, `entity` what it is about.
            Some(entity) => {
                let id = entity.get("id").and_then(id_string).ok_or("notion: no entity.id")?;
                let et = entity.get("type").and_then(Value::as_str).unwrap_or(prefix).to_string();
                (et, id, v.get("id").and_then(id_string))
            }
            // The seed's shape: `id` is the page's id.
            None => {
                let id = v.get("id").and_then(id_string).ok_or("notion: no id")?;
                let et = v.get("object").and_then(Value::as_str).unwrap_or(prefix).to_string();
                (et, id, None)
            }
        };
        // Without an event id, a retry is recognised by its bytes (Notion resends the same body).
        let delivery_id = delivery_id.unwrap_or_else(|| format!("{ty}:{entity_id}:{}", body_digest(req.body)));
        Ok(Normalized {
            event_type: clean_name(event),
            entity_type: clean_name(if entity_type.is_empty() { "page" } else { &entity_type }),
            entity_id,
            data: v.clone(),
            native_type: Some(clean_name(ty)),
            delivery_id: Some(delivery_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    const TOKEN: &str = "secret_notionVerificationToken123";
    /// Notion's event shape, signed by `@notionhq/client` 5.26 `signWebhookPayload` (tests/inbound/sign/notion.mjs).
    const EVENT: &str = r#"{"id":"56c2b8a6-0a3f-4c36-9a3e-3f7f3b1d2e11","timestamp":"2025-12-10T10:30:00.000Z","type":"page.created","entity":{"id":"9e36757c-e118-44e8-976d-ba13e02a9f5b","type":"page"},"data":{"parent":{"id":"13950b26-c203-4f3b-b97d-93ec06319565","type":"space"}}}"#;
    const EVENT_SIG: &str = "sha256=3ae6e2a9540d52220c7f6d56b4f4a06ae4f9259ab39b63c591f8e0c414bf490f";
    /// The seed's shape, signed the same way.
    const SEED: &str = r#"{"type":"page.created","object":"page","id":"9e36757ce11844e8976dba13e02a9f5b","properties":{"Title":{"title":[{"text":{"content":"New Page"}}]}}}"#;
    const SEED_SIG: &str = "sha256=553d4fbc591788f425a79c4bb33a1715c9c97c4d2d5e981f95a2d301c552418f";

    fn run(h: &[(&str, &str)], body: &str, secrets: &[&str]) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 1_700_000_000 };
        Notion.verify(&req, secrets, &ProviderConfig::default())
    }

    #[test]
    fn verifies_sdk_vectors() {
        assert_eq!(run(&[("X-Notion-Signature", EVENT_SIG)], EVENT, &[TOKEN]), Ok(()));
        assert_eq!(run(&[("X-Notion-Signature", SEED_SIG)], SEED, &["secret_old", TOKEN]), Ok(()));
    }

    #[test]
    fn refuses() {
        let h = [("X-Notion-Signature", EVENT_SIG)];
        assert_eq!(run(&h, &EVENT.replace("page.created", "page.createe"), &[TOKEN]), Err(VerifyError::BadSignature));
        assert_eq!(run(&h, EVENT, &["secret_wrong"]), Err(VerifyError::BadSignature));
        assert_eq!(run(&[("X-Notion-Signature", SEED_SIG)], EVENT, &[TOKEN]), Err(VerifyError::BadSignature));
        assert_eq!(run(&[], EVENT, &[TOKEN]), Err(VerifyError::Missing("X-Notion-Signature")));
        // the SDK requires the prefix
        let bare = [("X-Notion-Signature", &EVENT_SIG[7..])];
        assert_eq!(run(&bare, EVENT, &[TOKEN]), Err(VerifyError::Malformed("X-Notion-Signature")));
        assert_eq!(
            run(&[("X-Notion-Signature", "sha256=nothex")], EVENT, &[TOKEN]),
            Err(VerifyError::Malformed("X-Notion-Signature"))
        );
        assert!(matches!(run(&h, EVENT, &[]), Err(VerifyError::Config(_))));
    }

    #[test]
    fn verification_token() {
        let h = headers(&[]);
        let body = br#"{"verification_token":"secret_tDrDmLpMTKcK0XQm3zByQ8cMuYVjq5C1nNxq1WJPqJ6"}"#;
        let req = Incoming { headers: &h, body, url: "", now: 0 };
        assert_eq!(
            Notion.verification_token(&req).as_deref(),
            Some("secret_tDrDmLpMTKcK0XQm3zByQ8cMuYVjq5C1nNxq1WJPqJ6")
        );
        // a signed request is never the handshake, nor is an ordinary event
        let hs = headers(&[("X-Notion-Signature", EVENT_SIG)]);
        assert_eq!(Notion.verification_token(&Incoming { headers: &hs, body, url: "", now: 0 }), None);
        assert_eq!(Notion.verification_token(&Incoming { headers: &h, body: EVENT.as_bytes(), url: "", now: 0 }), None);
        assert_eq!(Notion.verification_token(&Incoming { headers: &h, body: b"not json", url: "", now: 0 }), None);
    }

    #[test]
    fn normalizes_both_shapes() {
        let h = headers(&[]);
        let n = Notion
            .normalize(&Incoming { headers: &h, body: EVENT.as_bytes(), url: "", now: 0 }, &ProviderConfig::default())
            .unwrap();
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str()), ("created", "page"));
        assert_eq!(n.entity_id, "9e36757c-e118-44e8-976d-ba13e02a9f5b");
        assert_eq!(n.native_type.as_deref(), Some("page.created"));
        assert_eq!(n.delivery_id.as_deref(), Some("56c2b8a6-0a3f-4c36-9a3e-3f7f3b1d2e11"));

        let n = Notion
            .normalize(&Incoming { headers: &h, body: SEED.as_bytes(), url: "", now: 0 }, &ProviderConfig::default())
            .unwrap();
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str()), ("created", "page"));
        assert_eq!(n.entity_id, "9e36757ce11844e8976dba13e02a9f5b");
        assert!(n.delivery_id.unwrap().starts_with("page.created:9e36757ce11844e8976dba13e02a9f5b:"));
        assert_eq!(n.data["properties"]["Title"]["title"][0]["text"]["content"], "New Page");

        let body = br#"{"type":"data_source.schema_updated","entity":{"id":"d1","type":"data source"},"id":"e1"}"#;
        let n = Notion.normalize(&Incoming { headers: &h, body, url: "", now: 0 }, &ProviderConfig::default()).unwrap();
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str()), ("schema_updated", "data_source"));
        assert!(Notion
            .normalize(&Incoming { headers: &h, body: br#"{"id":"x"}"#, url: "", now: 0 }, &ProviderConfig::default())
            .is_err());
    }
}
