//! Telnyx (API v2 webhooks): `telnyx-signature-ed25519` (base64 Ed25519 signature) over
//! `{telnyx-timestamp}|{raw body}`, checked with the account's public key (`providerConfig.publicKey`, base64, from
//! Mission Control → Keys & Credentials → Public Key); the registration's secrets are not used. As Telnyx's SDKs
//! (`telnyx` on PyPI, `telnyx` on npm), a timestamp more than 300 s from now either way is refused
//! (`toleranceSeconds` overrides it). Verification is strict (libsodium's rules: canonical `S`, no small-order
//! keys), as PyNaCl's `VerifyKey.verify` that Telnyx's Python SDK calls.
//!
//! Docs: <https://developers.telnyx.com/docs/development/sdk/python/webhooks> and the callback reference
//! (<https://developers.telnyx.com/api-reference/callbacks/delivery-update>): headers `telnyx-timestamp`
//! ("Unix timestamp (seconds since epoch)") and `telnyx-signature-ed25519` ("Ed25519 signature of
//! timestamp|payload").
//!
//! The body is `{"data": {"record_type": "event", "id", "event_type": "message.received", "occurred_at",
//! "payload": {…}}, "meta": {"attempt", "delivered_to"}}`: the event type is `data.event_type`, the delivery id
//! `data.id` (the same on every attempt).

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::Value;

use super::*;

pub struct Telnyx;

pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";
/// Telnyx's SDKs' `TIMESTAMP_TOLERANCE_SECONDS`.
pub const TOLERANCE: u64 = 300;

fn public_key(cfg: &ProviderConfig) -> Result<VerifyingKey, VerifyError> {
    let text = cfg.public_key.as_deref().map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| {
        VerifyError::Config("telnyx: publicKey is required (the account's public key, base64)".into())
    })?;
    let bytes: [u8; 32] = b64_decode(text)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| VerifyError::Config("telnyx: publicKey must be 32 bytes of base64".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| VerifyError::Config("telnyx: publicKey is not an Ed25519 public key".into()))
}

impl Provider for Telnyx {
    fn name(&self) -> &'static str {
        "telnyx"
    }

    fn about(&self) -> About {
        About {
            title: "Telnyx",
            uses_secret: false,
            secret: "No secret: the account's Public Key (Mission Control → Keys & Credentials → Public Key, base64) \
                     goes in the provider settings, {\"publicKey\": \"…\"}.",
        }
    }

    fn check_config(&self, cfg: &ProviderConfig) -> Result<(), VerifyError> {
        public_key(cfg).map(|_| ())
    }

    fn verify(&self, req: &Incoming, _secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        let key = public_key(cfg)?;
        let sig_b64 = req.header(SIGNATURE_HEADER).ok_or(VerifyError::Missing("telnyx-signature-ed25519"))?;
        let ts = req.header(TIMESTAMP_HEADER).ok_or(VerifyError::Missing("telnyx-timestamp"))?;
        let sig: [u8; 64] = b64_decode(sig_b64.trim())
            .and_then(|b| b.try_into().ok())
            .ok_or(VerifyError::Malformed("telnyx-signature-ed25519"))?;
        // Digits only, as the Node SDK (`/^\d+$/`); the text is signed as sent.
        let t: i64 = Some(ts)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or(VerifyError::Malformed("telnyx-timestamp"))?;
        let mut msg = Vec::with_capacity(ts.len() + 1 + req.body.len());
        msg.extend_from_slice(ts.as_bytes());
        msg.push(b'|');
        msg.extend_from_slice(req.body);
        key.verify_strict(&msg, &Signature::from_bytes(&sig)).map_err(|_| VerifyError::BadSignature)?;
        if !fresh(t, req.now, cfg.tolerance_seconds.unwrap_or(TOLERANCE)) {
            return Err(VerifyError::Stale);
        }
        Ok(())
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let v = parse_json(req.body)?;
        let data = v.get("data").filter(|d| d.is_object()).ok_or("telnyx: no data object")?;
        let native = data.get("event_type").and_then(Value::as_str).filter(|t| !t.is_empty());
        let native = native.ok_or("telnyx: no data.event_type")?;
        // `message.received` → entity `message`, event `received`; `call.recording.saved` → `call.recording`, `saved`.
        let (entity_type, event_type) = match native.rsplit_once('.') {
            Some((e, a)) if !e.is_empty() && !a.is_empty() => (e, a),
            _ => ("event", native),
        };
        let event_id = data.get("id").and_then(id_string);
        let payload = data.get("payload");
        let entity_id = payload
            .and_then(|p| first_string(p, &["id", "call_control_id", "call_session_id"]))
            .or_else(|| event_id.clone())
            .unwrap_or_else(|| body_digest(req.body));
        Ok(Normalized {
            event_type: clean_name(event_type),
            entity_type: clean_name(entity_type),
            entity_id,
            data: v.clone(),
            native_type: Some(clean_name(native)),
            delivery_id: Some(event_id.unwrap_or_else(|| body_digest(req.body))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{headers, public_key_cfg as cfg, verify_keyed};
    use super::*;

    /// RFC 8032 §7.1 TEST 1's public key, base64; its secret key is the seed the vectors below were signed with.
    const RFC_PUBLIC: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    /// A Telnyx `message.received` body.
    const BODY: &str = r#"{"data":{"event_type":"message.received","id":"bf6307bd-884d-4c1f-b6ea-c62b8c495d3c","occurred_at":"2024-03-15T07:41:09.931675Z","payload":{"direction":"inbound","id":"7ee4241c-f127-47e5-9c34-3aac291f8058","record_type":"message","text":"Hello, World!","type":"SMS"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://hookd.example/webhooks/x"}}"#;
    /// PyNaCl 1.6.2 `SigningKey(RFC seed).sign(b"1700000000|" + BODY).signature`, base64 (as
    /// tests/inbound/sign/telnyx.py makes it); accepted by `telnyx` 4.189.0 `verify_webhook_signature`.
    const SIG: &str = "H/n2x9Fdy7XUqKOf1FhxvCAQSFwEkontVRIXgOsd2ljl+um7zyZCPeVLZNhXut+OtdyRepVzsIe5HlLkWFdaCQ==";
    const TS: &str = "1700000000";
    const NOW: i64 = 1_700_000_000;

    fn run(h: &[(&str, &str)], body: &str, c: &ProviderConfig, now: i64) -> Result<(), VerifyError> {
        verify_keyed(&Telnyx, h, body, c, now)
    }

    #[test]
    fn rfc8032_key_in_base64() {
        let key = public_key(&cfg(RFC_PUBLIC)).unwrap();
        assert_eq!(hex::encode(key.as_bytes()), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    }

    #[test]
    fn pynacl_vector() {
        let h = [("telnyx-signature-ed25519", SIG), ("Telnyx-Timestamp", TS)];
        assert_eq!(run(&h, BODY, &cfg(RFC_PUBLIC), NOW), Ok(()));
        // 300 s either way, as Telnyx's SDKs
        assert_eq!(run(&h, BODY, &cfg(RFC_PUBLIC), NOW + 300), Ok(()));
        assert_eq!(run(&h, BODY, &cfg(RFC_PUBLIC), NOW - 300), Ok(()));
        assert_eq!(run(&h, BODY, &cfg(RFC_PUBLIC), NOW + 301), Err(VerifyError::Stale));
        assert_eq!(run(&h, BODY, &cfg(RFC_PUBLIC), NOW - 301), Err(VerifyError::Stale));
        let longer = ProviderConfig { tolerance_seconds: Some(600), ..cfg(RFC_PUBLIC) };
        assert_eq!(run(&h, BODY, &longer, NOW + 600), Ok(()));
        // the key without padding, with spaces around
        assert_eq!(run(&h, BODY, &cfg(" 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo "), NOW), Ok(()));
    }

    #[test]
    fn refuses() {
        let h = [("telnyx-signature-ed25519", SIG), ("telnyx-timestamp", TS)];
        let c = cfg(RFC_PUBLIC);
        assert_eq!(run(&h, &BODY.replace("Hello", "Hellp"), &c, NOW), Err(VerifyError::BadSignature));
        // another account's key (PyNaCl key of seed 0x01…)
        let other = cfg("iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=");
        assert_eq!(run(&h, BODY, &other, NOW), Err(VerifyError::BadSignature));
        // the timestamp is signed
        let moved = [("telnyx-signature-ed25519", SIG), ("telnyx-timestamp", "1700000001")];
        assert_eq!(run(&moved, BODY, &c, NOW), Err(VerifyError::BadSignature));
        // Discord's message (no `|`) is not Telnyx's
        let h2 = [("telnyx-signature-ed25519", SIG), ("telnyx-timestamp", TS)];
        assert_eq!(run(&h2, &format!("|{BODY}"), &c, NOW), Err(VerifyError::BadSignature));
        assert_eq!(run(&h[1..], BODY, &c, NOW), Err(VerifyError::Missing("telnyx-signature-ed25519")));
        assert_eq!(run(&h[..1], BODY, &c, NOW), Err(VerifyError::Missing("telnyx-timestamp")));
        let short = [("telnyx-signature-ed25519", &SIG[..84]), ("telnyx-timestamp", TS)];
        assert_eq!(run(&short, BODY, &c, NOW), Err(VerifyError::Malformed("telnyx-signature-ed25519")));
        let hex_sig = hex::encode(b64_decode(SIG).unwrap());
        let hexed = [("telnyx-signature-ed25519", hex_sig.as_str()), ("telnyx-timestamp", TS)];
        assert_eq!(run(&hexed, BODY, &c, NOW), Err(VerifyError::Malformed("telnyx-signature-ed25519")));
        for bad_ts in ["", "-1700000000", "+1700000000", "1700000000.5", "x"] {
            let h = [("telnyx-signature-ed25519", SIG), ("telnyx-timestamp", bad_ts)];
            assert_eq!(run(&h, BODY, &c, NOW), Err(VerifyError::Malformed("telnyx-timestamp")), "{bad_ts:?}");
        }
        // a forged signature of all zeros, and the identity point as a key (small order: strict refuses it)
        let zeros = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0u8; 64]);
        let z = [("telnyx-signature-ed25519", zeros.as_str()), ("telnyx-timestamp", TS)];
        assert_eq!(run(&z, BODY, &c, NOW), Err(VerifyError::BadSignature));
        let identity = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_eq!(run(&z, BODY, &cfg(identity), NOW), Err(VerifyError::BadSignature));
    }

    #[test]
    fn config_errors_name_the_key() {
        for c in [ProviderConfig::default(), cfg(""), cfg("abcd"), cfg(&hex::encode([7u8; 32])), cfg("not base64!")] {
            let e = Telnyx.check_config(&c).unwrap_err();
            assert!(matches!(&e, VerifyError::Config(m) if m.contains("publicKey")), "{c:?}: {e:?}");
            let h = [("telnyx-signature-ed25519", SIG), ("telnyx-timestamp", TS)];
            assert!(matches!(run(&h, BODY, &c, NOW), Err(VerifyError::Config(_))));
        }
        assert_eq!(Telnyx.check_config(&cfg(RFC_PUBLIC)), Ok(()));
    }

    #[test]
    fn normalize() {
        let h = headers(&[]);
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: NOW };
        let n = Telnyx.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("received", "message", "7ee4241c-f127-47e5-9c34-3aac291f8058")
        );
        assert_eq!(n.native_type.as_deref(), Some("message.received"));
        assert_eq!(n.delivery_id.as_deref(), Some("bf6307bd-884d-4c1f-b6ea-c62b8c495d3c"));

        let call = br#"{"data":{"event_type":"call.recording.saved","id":"e1","payload":{"call_control_id":"v3:abc","call_session_id":"s1"},"record_type":"event"},"meta":{"attempt":2}}"#;
        let req = Incoming { headers: &h, body: call, url: "", now: NOW };
        let n = Telnyx.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("saved", "call.recording", "v3:abc")
        );
        assert_eq!(n.delivery_id.as_deref(), Some("e1"));

        for bad in [&br#"{"data":{"id":"e1"}}"#[..], br#"{"event_type":"x.y"}"#, b"[1]"] {
            let req = Incoming { headers: &h, body: bad, url: "", now: NOW };
            assert!(Telnyx.normalize(&req, &ProviderConfig::default()).is_err());
        }
    }
}
