//! Standard Webhooks (spec 1.0) and Svix: `webhook-id`, `webhook-timestamp`, `webhook-signature` (or the same
//! under `svix-`), signed content `{id}.{timestamp}.{raw body}`, `v1,<base64 HMAC-SHA256>` entries separated by
//! spaces, keyed with the base64-decoded part after `whsec_`; timestamps within 300 s both ways. As the official
//! `standardwebhooks` libraries: entries of other versions (`v1a` …) are skipped, the comparison is on the decoded
//! signature bytes, a secret without the `whsec_` prefix is base64 too.

use serde_json::Value;

use super::*;

pub struct StandardWebhooks;

pub const DEFAULT_TOLERANCE: u64 = 300;

/// A `webhook-*` header, else its `svix-*` twin.
fn header<'a>(req: &'a Incoming, name: &str) -> Option<&'a str> {
    header_preferring(req, "webhook-", name)
}

/// The header under `prefix` (`webhook-` or `svix-`), else under the other one.
fn header_preferring<'a>(req: &'a Incoming, prefix: &str, name: &str) -> Option<&'a str> {
    let other = if prefix == "svix-" { "webhook-" } else { "svix-" };
    req.header(&format!("{prefix}{name}")).or_else(|| req.header(&format!("{other}{name}")))
}

/// The key bytes of a `whsec_…` secret.
pub fn key(secret: &str) -> Option<Vec<u8>> {
    let s = secret.trim();
    b64_decode(s.strip_prefix("whsec_").unwrap_or(s)).filter(|k| !k.is_empty())
}

impl Provider for StandardWebhooks {
    fn name(&self) -> &'static str {
        "standardwebhooks"
    }

    fn about(&self) -> About {
        About {
            title: "Standard Webhooks",
            uses_secret: true,
            secret: "The sender's whsec_… signing secret (Svix, hookd and other Standard Webhooks senders show \
                     one per endpoint).",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        require_secrets("standardwebhooks", secrets)?;
        let keys: Vec<Vec<u8>> = secrets.iter().filter_map(|s| key(s)).collect();
        if keys.is_empty() {
            return Err(VerifyError::Config("standardwebhooks: the secret is not whsec_ + base64".into()));
        }
        // A request that carries both families (a proxy adding one, headers pasted twice) verifies if either
        // set does; each name falls back to its twin, so one family alone or a mix reads as before.
        let first = verify_set(req, "webhook-", &keys, cfg);
        let differs = ["id", "timestamp", "signature"]
            .iter()
            .any(|n| header_preferring(req, "webhook-", n) != header_preferring(req, "svix-", n));
        match first {
            Err(_) if differs => verify_set(req, "svix-", &keys, cfg).or(first),
            first => first,
        }
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let v = parse_json(req.body)?;
        let msg_id = header(req, "id").filter(|s| !s.is_empty()).map(str::to_string);
        // The spec's payload: {"type": "invoice.paid", "timestamp": …, "data": {…}}; `type` is optional here.
        let native = v.get("type").and_then(Value::as_str).filter(|s| !s.is_empty());
        let (entity_type, event_type) = match native {
            Some(t) => match t.rsplit_once('.') {
                Some((e, ev)) if !e.is_empty() && !ev.is_empty() => (e, ev),
                _ => ("message", t),
            },
            None => ("message", "received"),
        };
        let entity_id = v
            .pointer("/data/id")
            .and_then(id_string)
            .or_else(|| v.get("id").and_then(id_string))
            .or_else(|| msg_id.clone())
            .unwrap_or_default();
        Ok(Normalized {
            event_type: clean_name(event_type),
            entity_type: clean_name(entity_type),
            entity_id,
            data: v.clone(),
            native_type: native.map(clean_name),
            delivery_id: msg_id,
        })
    }
}

/// Checks the Standard Webhooks headers read preferring `prefix` against `keys`.
fn verify_set(req: &Incoming, prefix: &str, keys: &[Vec<u8>], cfg: &ProviderConfig) -> Result<(), VerifyError> {
    let id = header_preferring(req, prefix, "id").ok_or(VerifyError::Missing("webhook-id (or svix-id)"))?;
    let ts_raw = header_preferring(req, prefix, "timestamp")
        .ok_or(VerifyError::Missing("webhook-timestamp (or svix-timestamp)"))?;
    let sigs = header_preferring(req, prefix, "signature")
        .ok_or(VerifyError::Missing("webhook-signature (or svix-signature)"))?;
    let ts: i64 = ts_raw.trim().parse().map_err(|_| VerifyError::Malformed("webhook-timestamp"))?;
    if !fresh(ts, req.now, cfg.tolerance_seconds.unwrap_or(DEFAULT_TOLERANCE)) {
        return Err(VerifyError::Stale);
    }

    let mut entries = 0;
    let mut offered = Vec::new();
    for entry in sigs.split_whitespace() {
        let Some((version, sig)) = entry.split_once(',') else {
            continue;
        };
        entries += 1;
        if version == "v1" {
            if let Some(b) = b64_decode(sig) {
                offered.push(b);
            }
        }
    }
    if entries == 0 {
        return Err(VerifyError::Malformed("webhook-signature"));
    }

    let ts_text = ts.to_string();
    any_signed(keys, &offered, |k| hmac_sha256(k, &[id.as_bytes(), b".", ts_text.as_bytes(), b".", req.body]))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    fn run(h: &[(&str, &str)], body: &str, secrets: &[&str], now: i64) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now };
        StandardWebhooks.verify(&req, secrets, &ProviderConfig::default())
    }

    // The spec's vector (REFERENCE.md).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    // PyPI standardwebhooks 1.1.0 `Webhook(SECRET).sign(ID, datetime(1700000000, utc), BODY)`
    // (tests/inbound/sign/standard_webhooks.py).
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
    const TS: &str = "1700000000";
    const BODY: &str = r#"{"type":"invoice.paid","timestamp":"2023-11-14T22:13:20Z","data":{"id":"in_1OcBZK2eZvKYlo2C","amount":4200,"currency":"usd"}}"#;
    const SIG: &str = "v1,deeF2x5e5a0GVozXGhoNNVwIU02RXUHTurOJQloddKI=";
    const NOW: i64 = 1_700_000_000;

    #[test]
    fn spec_vector() {
        let h = [("webhook-id", SPEC_ID), ("webhook-timestamp", "1614265330"), ("webhook-signature", SPEC_SIG)];
        assert_eq!(run(&h, SPEC_BODY, &[SPEC_SECRET], SPEC_TS), Ok(()));
        // Svix names, several entries, other versions skipped, secret without the prefix
        let multi = format!("v1a,c29tZXRoaW5n v1,bm9wZQ== {SPEC_SIG}");
        let h = [("svix-id", SPEC_ID), ("svix-timestamp", "1614265330"), ("svix-signature", multi.as_str())];
        assert_eq!(run(&h, SPEC_BODY, &["whsec_AAAAAAAA", &SPEC_SECRET[6..]], SPEC_TS + 300), Ok(()));
    }

    #[test]
    fn library_vector() {
        let h = [("webhook-id", ID), ("webhook-timestamp", TS), ("webhook-signature", SIG)];
        assert_eq!(run(&h, BODY, &[SECRET], NOW), Ok(()));
        assert_eq!(run(&h, BODY, &["whsec_bm90IHRoaXM=", SECRET], NOW - 300), Ok(()));
    }

    /// Both families on one request: either set verifying is enough, and a mix of the two reads as before.
    #[test]
    fn svix_and_webhook_headers_are_twins() {
        let good_svix = [("svix-id", ID), ("svix-timestamp", TS), ("svix-signature", SIG)];
        let good_webhook = [("webhook-id", ID), ("webhook-timestamp", TS), ("webhook-signature", SIG)];
        let bad_svix = [("svix-id", "msg_other"), ("svix-timestamp", "1600000000"), ("svix-signature", SIG)];
        let bad_webhook =
            [("webhook-id", "msg_other"), ("webhook-timestamp", "1600000000"), ("webhook-signature", SIG)];
        assert_eq!(run(&[bad_webhook, good_svix].concat(), BODY, &[SECRET], NOW), Ok(()));
        assert_eq!(run(&[good_webhook, bad_svix].concat(), BODY, &[SECRET], NOW), Ok(()));
        let mixed = [("svix-id", ID), ("webhook-timestamp", TS), ("svix-signature", SIG)];
        assert_eq!(run(&mixed, BODY, &[SECRET], NOW), Ok(()));
        let both_bad = [bad_webhook, bad_svix].concat();
        assert_eq!(run(&both_bad, BODY, &[SECRET], NOW), Err(VerifyError::Stale), "the webhook-* set's error");
    }

    #[test]
    fn refuses() {
        let h = [("webhook-id", ID), ("webhook-timestamp", TS), ("webhook-signature", SIG)];
        assert_eq!(run(&h, &BODY.replace("4200", "4201"), &[SECRET], NOW), Err(VerifyError::BadSignature));
        assert_eq!(run(&h, BODY, &["whsec_bm90IHRoaXM="], NOW), Err(VerifyError::BadSignature));
        assert_eq!(run(&h, BODY, &[SECRET], NOW + 301), Err(VerifyError::Stale));
        assert_eq!(run(&h, BODY, &[SECRET], NOW - 301), Err(VerifyError::Stale));
        // the id and timestamp are signed
        let other_id = [("webhook-id", "msg_other"), h[1], h[2]];
        assert_eq!(run(&other_id, BODY, &[SECRET], NOW), Err(VerifyError::BadSignature));
        let other_ts = [h[0], ("webhook-timestamp", "1700000001"), h[2]];
        assert_eq!(run(&other_ts, BODY, &[SECRET], NOW), Err(VerifyError::BadSignature));
        // only v1 entries count
        let v2 = SIG.replace("v1,", "v2,");
        assert_eq!(
            run(&[h[0], h[1], ("webhook-signature", &v2)], BODY, &[SECRET], NOW),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(run(&h[1..], BODY, &[SECRET], NOW), Err(VerifyError::Missing("webhook-id (or svix-id)")));
        assert_eq!(
            run(&[h[0], h[2]], BODY, &[SECRET], NOW),
            Err(VerifyError::Missing("webhook-timestamp (or svix-timestamp)"))
        );
        assert_eq!(
            run(&h[..2], BODY, &[SECRET], NOW),
            Err(VerifyError::Missing("webhook-signature (or svix-signature)"))
        );
        assert_eq!(
            run(&[h[0], h[1], ("webhook-signature", "garbage")], BODY, &[SECRET], NOW),
            Err(VerifyError::Malformed("webhook-signature"))
        );
        assert_eq!(
            run(&[h[0], ("webhook-timestamp", "x"), h[2]], BODY, &[SECRET], NOW),
            Err(VerifyError::Malformed("webhook-timestamp"))
        );
        assert!(matches!(run(&h, BODY, &["whsec_!!!"], NOW), Err(VerifyError::Config(_))));
    }

    #[test]
    fn normalizes() {
        let h = headers(&[("webhook-id", ID)]);
        let n = StandardWebhooks
            .normalize(&Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: NOW }, &ProviderConfig::default())
            .unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("paid", "invoice", "in_1OcBZK2eZvKYlo2C")
        );
        assert_eq!(n.native_type.as_deref(), Some("invoice.paid"));
        assert_eq!(n.delivery_id.as_deref(), Some(ID));
        let n = StandardWebhooks
            .normalize(
                &Incoming { headers: &h, body: SPEC_BODY.as_bytes(), url: "", now: NOW },
                &ProviderConfig::default(),
            )
            .unwrap();
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()), ("received", "message", ID));
        assert_eq!(n.native_type, None);
    }
}
