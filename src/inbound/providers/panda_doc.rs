//! PandaDoc: the signature is in the query string, not a header. PandaDoc appends `?signature=<hex HMAC-SHA256 of
//! the raw body keyed with the webhook's shared key>` to the URL it posts to
//! (<https://developers.pandadoc.com/docs/webhook-verification>); the shared key (Developer Dashboard → the
//! webhook subscription) is the registration's secret. PandaDoc signs no timestamp and sends no delivery id.
//!
//! The body is an array of notifications, `[{"event": "document_state_changed", "data": {"id", "name",
//! "status", …}}, …]` (<https://developers.pandadoc.com/reference/webhook-payload>): the first one names the event;
//! the entity is its `data.id` (a document or template).

use serde_json::Value;

use super::*;

pub struct PandaDoc;

/// The query parameter PandaDoc puts the signature in.
pub const SIGNATURE_QUERY: &str = "signature";

/// The first `signature` query parameter of the URL, decoded.
fn query_signature(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    let q = q.split_once('#').map_or(q, |(q, _)| q);
    url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == SIGNATURE_QUERY).map(|(_, v)| v.into_owned())
}

impl Provider for PandaDoc {
    fn name(&self) -> &'static str {
        "panda-doc"
    }

    fn about(&self) -> About {
        About {
            title: "PandaDoc",
            uses_secret: true,
            secret:
                "The webhook's shared key (Developer Dashboard → Webhooks → the subscription), issued by PandaDoc. \
                     PandaDoc adds ?signature=… to the webhookUrl itself.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], _cfg: &ProviderConfig) -> Result<(), VerifyError> {
        require_secrets("panda-doc", secrets)?;
        let sig = query_signature(req.url).ok_or(VerifyError::Missing("?signature="))?;
        let given =
            hex::decode(sig.trim()).ok().filter(|b| b.len() == 32).ok_or(VerifyError::Malformed("?signature="))?;
        any_secret(secrets, |s| ct_eq(&hmac_sha256(s.as_bytes(), &[req.body]), &given))
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let v: Value = serde_json::from_slice(req.body).map_err(|e| format!("body is not JSON: {e}"))?;
        let first = match &v {
            Value::Array(items) => items.first().ok_or("panda-doc: no notification in the array")?,
            Value::Object(_) => &v,
            _ => return Err("panda-doc: the body is not an array of notifications".into()),
        };
        let event = first.get("event").and_then(Value::as_str).filter(|e| !e.is_empty());
        let event = event.ok_or("panda-doc: no event")?;
        let entity_type = if event.starts_with("template_") { "template" } else { "document" };
        let entity_id =
            first.get("data").and_then(|d| d.get("id")).and_then(id_string).unwrap_or_else(|| body_digest(req.body));
        Ok(Normalized {
            event_type: clean_name(event),
            entity_type: entity_type.into(),
            entity_id,
            data: v.clone(),
            native_type: Some(clean_name(event)),
            delivery_id: Some(body_digest(req.body)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    const KEY: &str = "pandadoc-shared-key";
    const BODY: &str = r#"[{"event":"document_state_changed","data":{"id":"msFYActMfJHqNTKH8YSvF1","name":"Sample Document","status":"document.completed"}}]"#;
    /// Python `hmac.new(KEY.encode(), BODY.encode(), hashlib.sha256).hexdigest()` (PandaDoc's own snippet).
    const SIG: &str = "f5f23898b07f9dc5caab4cc2ca232b0cf3ef416fc02944f72510e3f7db11fda1";

    fn run(url: &str, body: &str, secrets: &[&str]) -> Result<(), VerifyError> {
        let h = headers(&[]);
        let req = Incoming { headers: &h, body: body.as_bytes(), url, now: 0 };
        PandaDoc.verify(&req, secrets, &ProviderConfig::default())
    }

    fn url(sig: &str) -> String {
        format!("https://hookd.example/webhooks/whr_1?signature={sig}")
    }

    #[test]
    fn python_hmac_vector() {
        assert_eq!(run(&url(SIG), BODY, &[KEY]), Ok(()));
        assert_eq!(run(&url(&SIG.to_uppercase()), BODY, &[KEY]), Ok(()));
        // a rotated-out key beside the live one
        assert_eq!(run(&url(SIG), BODY, &["an-older-key", KEY]), Ok(()));
        // another query parameter before it, and a fragment after
        let u = format!("https://hookd.example/webhooks/whr_1?x=1&signature={SIG}#f");
        assert_eq!(run(&u, BODY, &[KEY]), Ok(()));
    }

    #[test]
    fn refuses() {
        assert_eq!(run(&url(SIG), &BODY.replace("Sample", "Sampld"), &[KEY]), Err(VerifyError::BadSignature));
        assert_eq!(run(&url(SIG), BODY, &["another-key"]), Err(VerifyError::BadSignature));
        assert_eq!(run("https://hookd.example/webhooks/whr_1", BODY, &[KEY]), Err(VerifyError::Missing("?signature=")));
        let other = format!("https://hookd.example/webhooks/whr_1?sig={SIG}");
        assert_eq!(run(&other, BODY, &[KEY]), Err(VerifyError::Missing("?signature=")));
        assert_eq!(run(&url(&SIG[..62]), BODY, &[KEY]), Err(VerifyError::Malformed("?signature=")));
        assert_eq!(run(&url("zz"), BODY, &[KEY]), Err(VerifyError::Malformed("?signature=")));
        // the signature in a header is not PandaDoc's
        let h = headers(&[("signature", SIG)]);
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "https://hookd.example/webhooks/whr_1", now: 0 };
        assert_eq!(PandaDoc.verify(&req, &[KEY], &ProviderConfig::default()), Err(VerifyError::Missing("?signature=")));
        assert!(matches!(run(&url(SIG), BODY, &[]), Err(VerifyError::Config(_))));
        assert!(matches!(run(&url(SIG), BODY, &[""]), Err(VerifyError::Config(_))));
    }

    #[test]
    fn normalize() {
        let h = headers(&[]);
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: 0 };
        let n = PandaDoc.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("document_state_changed", "document", "msFYActMfJHqNTKH8YSvF1")
        );
        assert_eq!(n.delivery_id, Some(body_digest(BODY.as_bytes())));
        let t = br#"[{"event":"template_created","data":{"id":"tpl_1"}}]"#;
        let req = Incoming { headers: &h, body: t, url: "", now: 0 };
        let n = PandaDoc.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!((n.entity_type.as_str(), n.entity_id.as_str()), ("template", "tpl_1"));
        for bad in [&b"[]"[..], b"[{\"data\":{}}]", b"7", b"nope"] {
            let req = Incoming { headers: &h, body: bad, url: "", now: 0 };
            assert!(PandaDoc.normalize(&req, &ProviderConfig::default()).is_err());
        }
    }
}
