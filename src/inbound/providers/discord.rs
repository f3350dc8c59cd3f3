//! Discord interactions: `X-Signature-Ed25519` (hex Ed25519 signature) over `{X-Signature-Timestamp}{raw body}`,
//! checked with the application's public key (`providerConfig.publicKey`, hex); the registration's secrets are not
//! used. Like Discord's own `discord-interactions` `verifyKey`, no timestamp tolerance applies unless
//! `toleranceSeconds` is configured. Verification is strict (libsodium's rules: canonical `S`, no small-order keys).
//!
//! A PING (`{"type": 1}`) is answered with `{"type": 1}`. Webhook events (`{"version": 1, "type": 1, "event": {…}}`)
//! are normalised too.

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};

use super::*;

pub struct Discord;

pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// Interaction types by number (Discord's `InteractionType`).
fn interaction_type_name(t: u64) -> Option<&'static str> {
    Some(match t {
        1 => "ping",
        2 => "application_command",
        3 => "message_component",
        4 => "application_command_autocomplete",
        5 => "modal_submit",
        _ => return None,
    })
}

fn public_key(cfg: &ProviderConfig) -> Result<VerifyingKey, VerifyError> {
    let hex_key = cfg
        .public_key
        .as_deref()
        .ok_or_else(|| VerifyError::Config("discord: providerConfig.publicKey is required".into()))?;
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| VerifyError::Config("discord: providerConfig.publicKey must be 32 bytes of hex".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| VerifyError::Config("discord: providerConfig.publicKey is not an Ed25519 key".into()))
}

/// Whether the body is an interaction (not a webhook event).
fn is_interaction(v: &Value) -> bool {
    v.get("event").is_none()
}

impl Provider for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn about(&self) -> About {
        About {
            title: "Discord",
            uses_secret: false,
            secret: "No secret: the application's Public Key (Developer Portal → the application → General \
                     Information) goes in the provider settings, {\"publicKey\": \"…\"}.",
        }
    }

    fn check_config(&self, cfg: &ProviderConfig) -> Result<(), VerifyError> {
        public_key(cfg).map(|_| ())
    }

    fn verify(&self, req: &Incoming, _secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        let key = public_key(cfg)?;
        let sig_hex = req.header(SIGNATURE_HEADER).ok_or(VerifyError::Missing("X-Signature-Ed25519"))?;
        let ts = req.header(TIMESTAMP_HEADER).ok_or(VerifyError::Missing("X-Signature-Timestamp"))?;
        let sig: [u8; 64] = hex::decode(sig_hex.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(VerifyError::Malformed("X-Signature-Ed25519"))?;
        if let Some(tolerance) = cfg.tolerance_seconds {
            let t: i64 = ts.trim().parse().map_err(|_| VerifyError::Malformed("X-Signature-Timestamp"))?;
            if !fresh(t, req.now, tolerance) {
                return Err(VerifyError::Stale);
            }
        }
        let mut msg = Vec::with_capacity(ts.len() + req.body.len());
        msg.extend_from_slice(ts.as_bytes());
        msg.extend_from_slice(req.body);
        key.verify_strict(&msg, &Signature::from_bytes(&sig)).map_err(|_| VerifyError::BadSignature)
    }

    fn handshake(&self, req: &Incoming, _secrets: &[&str]) -> Option<Value> {
        let v: Value = serde_json::from_slice(req.body).ok()?;
        (is_interaction(&v) && v.get("type")?.as_u64()? == 1).then(|| json!({"type": 1}))
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let v = parse_json(req.body)?;
        if let Some(event) = v.get("event").filter(|e| e.is_object()) {
            // A webhook event: {"version":1,"application_id":…,"type":1,"event":{"type":"APPLICATION_AUTHORIZED",…}}
            let ty = event.get("type").and_then(Value::as_str).ok_or("discord: no event.type")?;
            let app = v.get("application_id").and_then(id_string).unwrap_or_default();
            let stamp = event.get("timestamp").and_then(id_string).unwrap_or_else(|| body_digest(req.body));
            return Ok(Normalized {
                event_type: clean_name(&ty.to_ascii_lowercase()),
                entity_type: "application".into(),
                entity_id: app.clone(),
                data: v.clone(),
                native_type: Some(clean_name(ty)),
                delivery_id: Some(format!("{app}:{ty}:{stamp}")),
            });
        }
        let ty = v.get("type").and_then(Value::as_u64).ok_or("discord: no interaction type")?;
        let id = v.get("id").and_then(id_string).ok_or("discord: no interaction id")?;
        let event_type = interaction_type_name(ty).map(str::to_string).unwrap_or_else(|| format!("type_{ty}"));
        Ok(Normalized {
            event_type,
            entity_type: "interaction".into(),
            entity_id: id.clone(),
            data: v,
            native_type: Some(format!("interaction.{ty}")),
            delivery_id: Some(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{headers, public_key_cfg as cfg, verify_keyed};
    use super::*;

    /// RFC 8032 §7.1 TEST 1: its secret key is the seed of the vectors below.
    const RFC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC_EMPTY_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    /// PyNaCl 1.6.2 `SigningKey(RFC seed).sign(b"1700000000" + BODY)` (tests/inbound/sign/discord.py); also accepted
    /// by `discord-interactions` 4.4.0 `verifyKey`.
    const BODY: &str = r#"{"app_permissions":"442368","application_id":"1234567890123456789","channel_id":"1100000000000000001","data":{"id":"1200000000000000001","name":"hello","type":1},"guild_id":"1000000000000000001","id":"1300000000000000001","token":"aW50ZXJhY3Rpb246MTMwMDAwMDAwMDAwMDAwMDAwMQ","type":2,"version":1}"#;
    const SIG: &str = "851d0043fe3eef7d663291340789bac867ac8cce3d11e174068289e7ad933f6d25db9dde28345ad14cfe98372061e507d4e74f156f5995d9daeba2743b2e4e0d";
    const PING: &str = r#"{"application_id":"1234567890123456789","id":"1300000000000000002","token":"tok","type":1,"user":{"id":"1"},"version":1}"#;
    const PING_SIG: &str = "c88d4acacd6203522f0ed5c8cc360582d951a3ab1cfab7d2a19abeaa9fefa2f72451648b8e5a4a867a59aaf02c7b7608978f2b46f1514da398f8e77e9b4cd50f";
    const TS: &str = "1700000000";
    const NOW: i64 = 1_700_000_000;

    fn run(h: &[(&str, &str)], body: &str, c: &ProviderConfig, now: i64) -> Result<(), VerifyError> {
        verify_keyed(&Discord, h, body, c, now)
    }

    #[test]
    fn rfc8032_vector() {
        let h = [("X-Signature-Ed25519", RFC_EMPTY_SIG), ("X-Signature-Timestamp", "")];
        assert_eq!(run(&h, "", &cfg(RFC_PUBLIC), NOW), Ok(()));
        assert_eq!(run(&h, "x", &cfg(RFC_PUBLIC), NOW), Err(VerifyError::BadSignature));
    }

    #[test]
    fn pynacl_vectors() {
        let h = [("X-Signature-Ed25519", SIG), ("X-Signature-Timestamp", TS)];
        assert_eq!(run(&h, BODY, &cfg(RFC_PUBLIC), NOW), Ok(()));
        // no tolerance by default, like discord-interactions
        assert_eq!(run(&h, BODY, &cfg(RFC_PUBLIC), NOW + 86_400), Ok(()));
        let upper = SIG.to_uppercase();
        let h = [("X-Signature-Ed25519", upper.as_str()), ("X-Signature-Timestamp", TS)];
        assert_eq!(run(&h, BODY, &cfg(RFC_PUBLIC), NOW), Ok(()));
        let h = [("X-Signature-Ed25519", PING_SIG), ("X-Signature-Timestamp", TS)];
        assert_eq!(run(&h, PING, &cfg(RFC_PUBLIC), NOW), Ok(()));
    }

    #[test]
    fn refuses() {
        let h = [("X-Signature-Ed25519", SIG), ("X-Signature-Timestamp", TS)];
        let c = cfg(RFC_PUBLIC);
        assert_eq!(run(&h, &BODY.replace("hello", "hellp"), &c, NOW), Err(VerifyError::BadSignature));
        // another application's key (PyNaCl key of seed 0x01…)
        let other = cfg("8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c");
        assert_eq!(run(&h, BODY, &other, NOW), Err(VerifyError::BadSignature));
        // the timestamp is signed
        let moved = [("X-Signature-Ed25519", SIG), ("X-Signature-Timestamp", "1700000001")];
        assert_eq!(run(&moved, BODY, &c, NOW), Err(VerifyError::BadSignature));
        // a tolerance when configured
        let strict = ProviderConfig { tolerance_seconds: Some(300), ..c.clone() };
        assert_eq!(run(&h, BODY, &strict, NOW + 300), Ok(()));
        assert_eq!(run(&h, BODY, &strict, NOW + 301), Err(VerifyError::Stale));
        assert_eq!(run(&h[1..], BODY, &c, NOW), Err(VerifyError::Missing("X-Signature-Ed25519")));
        assert_eq!(run(&h[..1], BODY, &c, NOW), Err(VerifyError::Missing("X-Signature-Timestamp")));
        let short = [("X-Signature-Ed25519", &SIG[..126]), ("X-Signature-Timestamp", TS)];
        assert_eq!(run(&short, BODY, &c, NOW), Err(VerifyError::Malformed("X-Signature-Ed25519")));
        let nothex = [("X-Signature-Ed25519", "zz"), ("X-Signature-Timestamp", TS)];
        assert_eq!(run(&nothex, BODY, &c, NOW), Err(VerifyError::Malformed("X-Signature-Ed25519")));
        assert!(matches!(run(&h, BODY, &ProviderConfig::default(), NOW), Err(VerifyError::Config(_))));
        assert!(matches!(run(&h, BODY, &cfg("abcd"), NOW), Err(VerifyError::Config(_))));
    }

    #[test]
    fn ping_handshake_and_normalize() {
        let h = headers(&[]);
        let req = Incoming { headers: &h, body: PING.as_bytes(), url: "", now: NOW };
        assert_eq!(Discord.handshake(&req, &[]), Some(json!({"type": 1})));
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: NOW };
        assert_eq!(Discord.handshake(&req, &[]), None);
        let n = Discord.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("application_command", "interaction", "1300000000000000001")
        );
        assert_eq!(n.native_type.as_deref(), Some("interaction.2"));
        assert_eq!(n.delivery_id.as_deref(), Some("1300000000000000001"));

        let body = br#"{"version":1,"application_id":"123","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{"user":{"id":"9"}}}}"#;
        let req = Incoming { headers: &h, body, url: "", now: NOW };
        assert_eq!(Discord.handshake(&req, &[]), None);
        let n = Discord.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("application_authorized", "application", "123")
        );
        assert_eq!(n.native_type.as_deref(), Some("APPLICATION_AUTHORIZED"));
    }
}
