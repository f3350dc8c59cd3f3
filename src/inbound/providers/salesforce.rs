//! Salesforce, as the seed describes it.
//!
//! Salesforce has no HMAC-signed webhook of its own (Outbound Messages are SOAP with a client certificate,
//! Platform Events and Change Data Capture are pulled over CometD/gRPC). This provider implements the seed's
//! description: the sender puts `X-Salesforce-Event-Signature: sha256=<hex HMAC-SHA256(raw body)>` (the
//! `sha256=` prefix is optional), keyed with the registration's secret as UTF-8; there is no timestamp. The body
//! is `{"action": "created", "sobject": {"name": "Contact", "fields": {"Id": "003…", …}}}`.

use serde_json::Value;

use super::*;

pub struct Salesforce;

pub const SIGNATURE_HEADER: &str = "x-salesforce-event-signature";
/// An optional delivery id header the sender may add for deduplication.
pub const EVENT_ID_HEADER: &str = "x-salesforce-event-id";

impl Provider for Salesforce {
    fn name(&self) -> &'static str {
        "salesforce"
    }

    fn about(&self) -> About {
        About {
            title: "Salesforce",
            uses_secret: true,
            secret: "Leave the secret blank and configure the one hookd makes in Salesforce, which signs \
                     X-Salesforce-Event-Signature (an HMAC-SHA256 of the body) with it.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], _cfg: &ProviderConfig) -> Result<(), VerifyError> {
        verify_body_hmac_hex(req, "X-Salesforce-Event-Signature", Prefix::Optional("sha256="), secrets)
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let v = parse_json(req.body)?;
        let action = v.get("action").and_then(Value::as_str).ok_or("salesforce: no action")?;
        let sobject = v.get("sobject").ok_or("salesforce: no sobject")?;
        let name = sobject.get("name").and_then(Value::as_str).ok_or("salesforce: no sobject.name")?;
        let fields = sobject.get("fields").and_then(Value::as_object).ok_or("salesforce: no sobject.fields")?;
        let id = fields.get("Id").and_then(id_string).ok_or("salesforce: no sobject.fields.Id")?;
        // The seed's parser: data is the record's fields other than Id.
        let mut data = fields.clone();
        data.remove("Id");

        // Dedup: the sender's event id when given; otherwise the record, the action and what tells two changes of
        // one record apart (its modification stamp, else the body's digest — a retry resends the same bytes).
        let delivery_id = req.header(EVENT_ID_HEADER).filter(|s| !s.is_empty()).map(str::to_string).or_else(|| {
            let stamp = ["SystemModstamp", "LastModifiedDate"]
                .iter()
                .find_map(|k| fields.get(*k).and_then(id_string))
                .unwrap_or_else(|| body_digest(req.body));
            Some(format!("{id}:{action}:{stamp}"))
        });
        Ok(Normalized {
            event_type: clean_name(action),
            entity_type: clean_name(name),
            entity_id: id,
            data: Value::Object(data),
            native_type: Some(clean_name(&format!("{name}.{action}"))),
            delivery_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    const SECRET: &str = "sf-webhook-secret";
    const BODY: &str = r#"{"action":"created","sobject":{"name":"Contact","fields":{"Id":"003xx000004TMM","FirstName":"John","LastName":"Doe"}}}"#;
    /// `tests/inbound/sign/salesforce.py` (Python hmac, following the seed) for SECRET and BODY.
    const SIG: &str = "sha256=221ea82f72941a68595612dc13e322ffe0703633c9881e39c2f8cb7e62b8e7d1";

    fn run(h: &[(&str, &str)], body: &str, secrets: &[&str]) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 1_700_000_000 };
        Salesforce.verify(&req, secrets, &ProviderConfig::default())
    }

    #[test]
    fn verifies() {
        let h = [("X-Salesforce-Event-Signature", SIG)];
        assert_eq!(run(&h, BODY, &[SECRET]), Ok(()));
        assert_eq!(run(&h, BODY, &["old", SECRET]), Ok(()));
        let bare = [("X-Salesforce-Event-Signature", &SIG[7..])];
        assert_eq!(run(&bare, BODY, &[SECRET]), Ok(()));
        let upper = SIG[7..].to_uppercase();
        assert_eq!(run(&[("X-Salesforce-Event-Signature", &upper)], BODY, &[SECRET]), Ok(()));
    }

    #[test]
    fn refuses() {
        let h = [("X-Salesforce-Event-Signature", SIG)];
        assert_eq!(run(&h, &BODY.replace("John", "Johm"), &[SECRET]), Err(VerifyError::BadSignature));
        assert_eq!(run(&h, BODY, &["wrong"]), Err(VerifyError::BadSignature));
        assert_eq!(run(&[], BODY, &[SECRET]), Err(VerifyError::Missing("X-Salesforce-Event-Signature")));
        let bad = [("X-Salesforce-Event-Signature", "sha256=xyz")];
        assert_eq!(run(&bad, BODY, &[SECRET]), Err(VerifyError::Malformed("X-Salesforce-Event-Signature")));
        let short = [("X-Salesforce-Event-Signature", &SIG[..40])];
        assert_eq!(run(&short, BODY, &[SECRET]), Err(VerifyError::Malformed("X-Salesforce-Event-Signature")));
        assert!(matches!(run(&h, BODY, &[]), Err(VerifyError::Config(_))));
    }

    #[test]
    fn normalizes_like_the_seed() {
        let h = headers(&[]);
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: 0 };
        let n = Salesforce.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(n.event_type, "created");
        assert_eq!(n.entity_type, "Contact");
        assert_eq!(n.entity_id, "003xx000004TMM");
        assert_eq!(n.data, serde_json::json!({"FirstName": "John", "LastName": "Doe"}));
        assert_eq!(n.native_type.as_deref(), Some("Contact.created"));
        let d = n.delivery_id.unwrap();
        assert!(d.starts_with("003xx000004TMM:created:"), "{d}");

        let h = headers(&[("X-Salesforce-Event-Id", "evt-1")]);
        let body = br#"{"action":"updated","sobject":{"name":"Account","fields":{"Id":"001","SystemModstamp":"2025-01-01T00:00:00Z"}}}"#;
        let req = Incoming { headers: &h, body, url: "", now: 0 };
        assert_eq!(
            Salesforce.normalize(&req, &ProviderConfig::default()).unwrap().delivery_id.as_deref(),
            Some("evt-1")
        );
        let h = headers(&[]);
        let req = Incoming { headers: &h, body, url: "", now: 0 };
        assert_eq!(
            Salesforce.normalize(&req, &ProviderConfig::default()).unwrap().delivery_id.as_deref(),
            Some("001:updated:2025-01-01T00:00:00Z")
        );

        let req = Incoming { headers: &h, body: br#"{"action":"created"}"#, url: "", now: 0 };
        assert!(Salesforce.normalize(&req, &ProviderConfig::default()).is_err());
    }
}
