//! Zoom: `x-zm-signature: v0=<hex HMAC-SHA256(secret token, "v0:{x-zm-request-timestamp}:{raw body}")>`,
//! timestamp in unix seconds within 300 s both ways (`toleranceSeconds` overrides). Zoom publishes no verifying
//! library; this follows its "Verify webhook events" documentation.
//!
//! The URL validation handshake (`endpoint.url_validation`, itself signed) is answered with
//! `{"plainToken": X, "encryptedToken": hex HMAC-SHA256(secret token, X)}`.

use serde_json::{json, Value};

use super::*;

pub struct Zoom;

pub const SIGNATURE_HEADER: &str = "x-zm-signature";
pub const TIMESTAMP_HEADER: &str = "x-zm-request-timestamp";
pub const TRACKING_HEADER: &str = "x-zm-trackingid";
pub const DEFAULT_TOLERANCE: u64 = 300;

impl Provider for Zoom {
    fn name(&self) -> &'static str {
        "zoom"
    }

    fn about(&self) -> About {
        About {
            title: "Zoom",
            uses_secret: true,
            secret: "Your app's Secret Token: Zoom App Marketplace → the app → Features → Access.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        require_secrets("zoom", secrets)?;
        let sig = req.header(SIGNATURE_HEADER).ok_or(VerifyError::Missing("x-zm-signature"))?;
        let ts_raw = req.header(TIMESTAMP_HEADER).ok_or(VerifyError::Missing("x-zm-request-timestamp"))?;
        let ts: i64 = ts_raw.trim().parse().map_err(|_| VerifyError::Malformed("x-zm-request-timestamp"))?;
        let given = sig
            .trim()
            .strip_prefix("v0=")
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() == 32)
            .ok_or(VerifyError::Malformed("x-zm-signature"))?;
        if !fresh(ts, req.now, cfg.tolerance_seconds.unwrap_or(DEFAULT_TOLERANCE)) {
            return Err(VerifyError::Stale);
        }
        let mut ok = false;
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            let expected = hmac_sha256(s.as_bytes(), &[b"v0:", ts_raw.as_bytes(), b":", req.body]);
            ok |= ct_eq(&expected, &given);
        }
        if ok {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }

    fn handshake(&self, req: &Incoming, secrets: &[&str]) -> Option<Value> {
        let v: Value = serde_json::from_slice(req.body).ok()?;
        if v.get("event")?.as_str()? != "endpoint.url_validation" {
            return None;
        }
        let plain = v.pointer("/payload/plainToken")?.as_str()?;
        // The current secret: the one Zoom holds now.
        let secret = secrets.iter().find(|s| !s.is_empty())?;
        let encrypted = hex::encode(hmac_sha256(secret.as_bytes(), &[plain.as_bytes()]));
        Some(json!({"plainToken": plain, "encryptedToken": encrypted}))
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let v = parse_json(req.body)?;
        let event = v.get("event").and_then(Value::as_str).ok_or("zoom: no event")?;
        let (entity_type, event_type) = event.rsplit_once('.').unwrap_or(("zoom", event));
        let payload = v.get("payload");
        let entity_id = payload
            .and_then(|p| {
                ["/object/id", "/object/uuid", "/user_id", "/account_id"]
                    .iter()
                    .find_map(|k| p.pointer(k).and_then(id_string))
            })
            .unwrap_or_default();
        // Dedup: the event and its time (the same on every retry); else Zoom's tracking id.
        let delivery_id = match v.get("event_ts").and_then(id_string) {
            Some(ts) => Some(format!("{event}:{ts}:{entity_id}")),
            None => req.header(TRACKING_HEADER).filter(|s| !s.is_empty()).map(str::to_string),
        };
        Ok(Normalized {
            event_type: clean_name(event_type),
            entity_type: clean_name(entity_type),
            entity_id,
            data: v.clone(),
            native_type: Some(clean_name(event)),
            delivery_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    const SECRET: &str = "zoomSecretToken123";
    const BODY: &str = r#"{"event":"meeting.started","event_ts":1700000000123,"payload":{"account_id":"AAAAAABBBB","object":{"id":"85012345678","uuid":"4444AAAiAAAAAiAiAiiAii==","host_id":"x1yCzABCDEfg23HiJKl4mN","topic":"Standup","type":2,"start_time":"2023-11-14T22:13:20Z","timezone":"UTC"}}}"#;
    /// tests/inbound/sign/zoom.py (Python hmac per Zoom's docs) at timestamp 1700000000.
    const SIG: &str = "v0=557ff1592879a7e88dee13a1f5f6ad573a3a0120409ff783bdd2548d9cae52a5";
    const TS: &str = "1700000000";
    const NOW: i64 = 1_700_000_000;

    fn run(
        h: &[(&str, &str)],
        body: &str,
        secrets: &[&str],
        now: i64,
        cfg: &ProviderConfig,
    ) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now };
        Zoom.verify(&req, secrets, cfg)
    }

    #[test]
    fn verifies() {
        let d = ProviderConfig::default();
        let h = [("x-zm-signature", SIG), ("x-zm-request-timestamp", TS)];
        assert_eq!(run(&h, BODY, &[SECRET], NOW, &d), Ok(()));
        assert_eq!(run(&h, BODY, &["old", SECRET], NOW - 300, &d), Ok(()));
        assert_eq!(run(&h, BODY, &[SECRET], NOW + 300, &d), Ok(()));
    }

    #[test]
    fn refuses() {
        let d = ProviderConfig::default();
        let h = [("x-zm-signature", SIG), ("x-zm-request-timestamp", TS)];
        assert_eq!(run(&h, &BODY.replace("Standup", "Standuq"), &[SECRET], NOW, &d), Err(VerifyError::BadSignature));
        assert_eq!(run(&h, BODY, &["wrong"], NOW, &d), Err(VerifyError::BadSignature));
        assert_eq!(run(&h, BODY, &[SECRET], NOW + 301, &d), Err(VerifyError::Stale));
        assert_eq!(run(&h, BODY, &[SECRET], NOW - 301, &d), Err(VerifyError::Stale));
        let short = ProviderConfig { tolerance_seconds: Some(5), ..Default::default() };
        assert_eq!(run(&h, BODY, &[SECRET], NOW + 6, &short), Err(VerifyError::Stale));
        // the signed timestamp is the header's: another one breaks the signature
        let moved = [("x-zm-signature", SIG), ("x-zm-request-timestamp", "1700000001")];
        assert_eq!(run(&moved, BODY, &[SECRET], NOW, &d), Err(VerifyError::BadSignature));
        assert_eq!(run(&h[1..], BODY, &[SECRET], NOW, &d), Err(VerifyError::Missing("x-zm-signature")));
        assert_eq!(run(&h[..1], BODY, &[SECRET], NOW, &d), Err(VerifyError::Missing("x-zm-request-timestamp")));
        let bare = [("x-zm-signature", &SIG[3..]), ("x-zm-request-timestamp", TS)];
        assert_eq!(run(&bare, BODY, &[SECRET], NOW, &d), Err(VerifyError::Malformed("x-zm-signature")));
        let bad_ts = [("x-zm-signature", SIG), ("x-zm-request-timestamp", "soon")];
        assert_eq!(run(&bad_ts, BODY, &[SECRET], NOW, &d), Err(VerifyError::Malformed("x-zm-request-timestamp")));
    }

    #[test]
    fn url_validation_handshake() {
        let h = headers(&[]);
        let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        let req = Incoming { headers: &h, body, url: "", now: NOW };
        // Python: hmac.new(b"zoomSecretToken123", b"qgg8vlvZRS6UYooatFL8Aw", sha256).hexdigest()
        assert_eq!(
            Zoom.handshake(&req, &[SECRET, "old"]),
            Some(json!({
                "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                "encryptedToken": "0c37a0aa8f1125f70a0f4c3d75d418fc2345d4e6ae3512a77927d5a3857980fb"
            }))
        );
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: NOW };
        assert_eq!(Zoom.handshake(&req, &[SECRET]), None);
    }

    #[test]
    fn normalizes() {
        let h = headers(&[("x-zm-trackingid", "t1")]);
        let n = Zoom
            .normalize(&Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: NOW }, &ProviderConfig::default())
            .unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("started", "meeting", "85012345678")
        );
        assert_eq!(n.native_type.as_deref(), Some("meeting.started"));
        assert_eq!(n.delivery_id.as_deref(), Some("meeting.started:1700000000123:85012345678"));
        let body = br#"{"event":"app_deauthorized","payload":{"user_id":"u1","account_id":"a1"}}"#;
        let n = Zoom.normalize(&Incoming { headers: &h, body, url: "", now: NOW }, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("app_deauthorized", "zoom", "u1")
        );
        assert_eq!(n.delivery_id.as_deref(), Some("t1"));
    }
}
