//! The generic provider: an HMAC signature scheme described by data (`providerConfig.generic`), so that a new
//! provider needs no code.
//!
//! ```json
//! {"header": "X-Signature", "algorithm": "sha256", "encoding": "hex", "prefix": "v0=",
//!  "signedContent": "v0:{timestamp}:{body}", "timestampHeader": "X-Timestamp", "idHeader": "X-Delivery",
//!  "toleranceSeconds": 300, "keyEncoding": "utf8"}
//! ```
//!
//! The signature header may carry several signatures separated by whitespace (rotation); each must start with
//! `prefix`. `signedContent` is a template over the raw body: `{body}` (required), `{timestamp}` (the value of
//! `timestampHeader`, unix seconds, checked against the tolerance — 300 s unless set), `{id}` (the value of
//! `idHeader`, also the dedup id) and `{url}`. The optional `*Pointer` fields are JSON pointers into the body
//! that name the event for [`Generic::normalize_with`]; without them well-known field names are tried.
//!
//! This module also holds the small helpers the other providers of this set share (`clean_name`, …).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use super::*;

/// Digest of the generic scheme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

/// How the signature is written in the header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

/// How a registration secret becomes the HMAC key bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyEncoding {
    /// The secret's UTF-8 bytes (GitHub, Slack, Zoom, Stripe …).
    #[default]
    Utf8,
    /// The secret is base64 (Shopify-style raw keys).
    Base64,
    /// `whsec_` + base64 (Standard Webhooks / Svix); the prefix is optional.
    Whsec,
    /// The secret is hex.
    Hex,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenericScheme {
    /// Header carrying the signature.
    pub header: String,
    /// `sha1`, `sha256` (default) or `sha512`.
    #[serde(default)]
    pub algorithm: HashAlgorithm,
    /// `hex` (default, either case accepted) or `base64`.
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// Text before each signature in the header (`sha256=`, `v0=`, `v1,`); may be empty.
    #[serde(default)]
    pub prefix: String,
    /// What is signed, e.g. `{body}` (default), `v0:{timestamp}:{body}`, `{id}.{timestamp}.{body}`.
    #[serde(default = "default_signed_content")]
    pub signed_content: String,
    /// Header carrying the unix timestamp (seconds) used by `{timestamp}`; when set, it is required and checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// Header carrying the delivery id used by `{id}` and for deduplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_header: Option<String>,
    /// Timestamp tolerance both ways (default 300 s; `providerConfig.toleranceSeconds` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<u64>,
    /// `utf8` (default), `base64`, `whsec` or `hex`.
    #[serde(default)]
    pub key_encoding: KeyEncoding,
    /// JSON pointer to the provider's event name, e.g. `/type` (split at its last `.` into entity and event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type_pointer: Option<String>,
    /// JSON pointer to the entity type, e.g. `/data/object/object`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type_pointer: Option<String>,
    /// JSON pointer to the entity id, e.g. `/data/id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id_pointer: Option<String>,
}

fn default_signed_content() -> String {
    "{body}".into()
}

/// Default tolerance when a timestamp header is configured.
pub const DEFAULT_TOLERANCE: u64 = 300;

enum Part<'t> {
    Lit(&'t str),
    Body,
    Timestamp,
    Id,
    Url,
}

fn parse_template(t: &str) -> Result<Vec<Part<'_>>, VerifyError> {
    let mut parts = Vec::new();
    let mut rest = t;
    let mut has_body = false;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        let part = match &rest[open + 1..close] {
            "body" => {
                has_body = true;
                Part::Body
            }
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            "url" => Part::Url,
            other => {
                return Err(VerifyError::Config(format!("generic: unknown placeholder {{{other}}} in signedContent")))
            }
        };
        if open > 0 {
            parts.push(Part::Lit(&rest[..open]));
        }
        parts.push(part);
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest));
    }
    if !has_body {
        return Err(VerifyError::Config("generic: signedContent must contain {body}".into()));
    }
    Ok(parts)
}

fn mac(alg: HashAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("any key length");
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }
    match alg {
        HashAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        HashAlgorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        HashAlgorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// The HMAC key bytes of a secret, `None` when it does not decode.
pub fn key_bytes(secret: &str, enc: KeyEncoding) -> Option<Vec<u8>> {
    let key = match enc {
        KeyEncoding::Utf8 => secret.as_bytes().to_vec(),
        KeyEncoding::Base64 => b64_decode(secret.trim())?,
        KeyEncoding::Whsec => b64_decode(secret.trim().strip_prefix("whsec_").unwrap_or(secret.trim()))?,
        KeyEncoding::Hex => hex::decode(secret.trim()).ok()?,
    };
    (!key.is_empty()).then_some(key)
}

pub struct Generic;

fn scheme_of(cfg: &ProviderConfig) -> Result<&GenericScheme, VerifyError> {
    cfg.generic
        .as_ref()
        .ok_or_else(|| VerifyError::Config("generic: providerConfig.generic (the signature scheme) is required".into()))
}

impl Generic {
    /// The scheme's signed template, unless the scheme could never verify: a template without `{body}` or with
    /// an unknown placeholder, or one using `{timestamp}` or `{id}` without the header that carries it.
    fn check_scheme(scheme: &GenericScheme) -> Result<Vec<Part<'_>>, VerifyError> {
        let template = parse_template(&scheme.signed_content)?;
        let needs = |want: fn(&Part) -> bool| template.iter().any(want);
        if needs(|p| matches!(p, Part::Timestamp)) && scheme.timestamp_header.is_none() {
            return Err(VerifyError::Config(
                "generic: signedContent uses {timestamp} but no timestampHeader is set".into(),
            ));
        }
        if needs(|p| matches!(p, Part::Id)) && scheme.id_header.is_none() {
            return Err(VerifyError::Config("generic: signedContent uses {id} but no idHeader is set".into()));
        }
        if axum::http::HeaderName::try_from(scheme.header.as_str()).is_err() {
            return Err(VerifyError::Config("generic: header is not a header name".into()));
        }
        Ok(template)
    }

    /// Verifies with an explicit scheme (what [`Provider::verify`] does with `cfg.generic`).
    pub fn verify_scheme(
        req: &Incoming,
        secrets: &[&str],
        scheme: &GenericScheme,
        tolerance_override: Option<u64>,
    ) -> Result<(), VerifyError> {
        let template = Self::check_scheme(scheme)?;
        let needs = |want: fn(&Part) -> bool| template.iter().any(want);
        let keys: Vec<Vec<u8>> = secrets.iter().filter_map(|s| key_bytes(s, scheme.key_encoding)).collect();
        if keys.is_empty() {
            return Err(VerifyError::Config("generic: no usable secret (check keyEncoding)".into()));
        }

        let header = req.header(&scheme.header).ok_or(VerifyError::Missing("signature header"))?;
        let timestamp = match &scheme.timestamp_header {
            Some(h) => {
                let raw = req.header(h).ok_or(VerifyError::Missing("timestamp header"))?;
                let ts: i64 = raw.trim().parse().map_err(|_| VerifyError::Malformed("timestamp header"))?;
                let tol = tolerance_override.or(scheme.tolerance_seconds).unwrap_or(DEFAULT_TOLERANCE);
                if !fresh(ts, req.now, tol) {
                    return Err(VerifyError::Stale);
                }
                Some(raw)
            }
            None => None,
        };
        let id = match &scheme.id_header {
            Some(h) if needs(|p| matches!(p, Part::Id)) => {
                Some(req.header(h).ok_or(VerifyError::Missing("id header"))?)
            }
            _ => None,
        };

        // The signatures offered: whitespace-separated, each with the prefix.
        let mut offered = Vec::new();
        for item in header.split_whitespace() {
            let Some(sig) = item.strip_prefix(scheme.prefix.as_str()) else {
                continue;
            };
            let bytes = match scheme.encoding {
                SignatureEncoding::Hex => hex::decode(sig).ok(),
                SignatureEncoding::Base64 => b64_decode(sig),
            };
            if let Some(b) = bytes {
                offered.push(b);
            }
        }
        if offered.is_empty() {
            return Err(VerifyError::Malformed("signature header"));
        }

        let parts: Vec<&[u8]> = template
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.as_bytes(),
                Part::Body => req.body,
                Part::Timestamp => timestamp.unwrap_or_default().as_bytes(),
                Part::Id => id.unwrap_or_default().as_bytes(),
                Part::Url => req.url.as_bytes(),
            })
            .collect();
        any_signed(&keys, &offered, |key| mac(scheme.algorithm, key, &parts))
    }

    /// The normalised event, using the scheme's pointers and `idHeader` when given.
    ///
    /// [`Provider::normalize`] has no access to the registration's config, so it calls this with `None` and
    /// falls back to well-known field and header names; a caller holding the config should call this directly.
    pub fn normalize_with(req: &Incoming, scheme: Option<&GenericScheme>) -> Result<Normalized, String> {
        let v = parse_json(req.body)?;
        let at = |p: &Option<String>| p.as_deref().and_then(|p| v.pointer(p)).and_then(id_string);

        let native = scheme
            .and_then(|s| at(&s.event_type_pointer))
            .or_else(|| first_string(&v, &["type", "event", "eventType", "event_type", "action"]));
        let (split_entity, event) = match &native {
            Some(n) => match n.rsplit_once('.') {
                Some((e, t)) if !e.is_empty() && !t.is_empty() => (Some(e.to_string()), t.to_string()),
                _ => (None, n.clone()),
            },
            None => (None, "received".to_string()),
        };
        let entity_type = scheme
            .and_then(|s| at(&s.entity_type_pointer))
            .or(split_entity)
            .or_else(|| first_string(&v, &["object", "entityType", "entity_type", "resource"]))
            .unwrap_or_else(|| "event".into());
        let entity_id = scheme
            .and_then(|s| at(&s.entity_id_pointer))
            .or_else(|| v.pointer("/data/id").and_then(id_string))
            .or_else(|| v.pointer("/data/object/id").and_then(id_string))
            .or_else(|| first_string(&v, &["entityId", "entity_id", "objectId", "object_id", "id"]))
            .unwrap_or_default();

        let delivery_id = match scheme.and_then(|s| s.id_header.as_deref()) {
            Some(h) => req.header(h).map(str::to_string),
            None => ["webhook-id", "svix-id", "x-delivery-id", "x-event-id", "idempotency-key"]
                .iter()
                .find_map(|h| req.header(h))
                .map(str::to_string),
        }
        .filter(|s| !s.is_empty())
        .or_else(|| first_string(&v, &["eventId", "event_id"]))
        .or_else(|| Some(format!("sha256:{}", body_digest(req.body))));

        Ok(Normalized {
            event_type: clean_name(&event),
            entity_type: clean_name(&entity_type),
            entity_id,
            data: v,
            native_type: native.as_deref().map(clean_name),
            delivery_id,
        })
    }
}

impl Provider for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn about(&self) -> About {
        About {
            title: "Generic HMAC",
            uses_secret: true,
            secret: "Any secret you share with the sender; the provider settings describe its scheme, \
                     {\"generic\": {\"header\": \"X-Signature\", \"algorithm\": \"sha256\", \"encoding\": \
                     \"hex\", …}}.",
        }
    }

    fn check_config(&self, cfg: &ProviderConfig) -> Result<(), VerifyError> {
        Self::check_scheme(scheme_of(cfg)?).map(|_| ())
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        Self::verify_scheme(req, secrets, scheme_of(cfg)?, cfg.tolerance_seconds)
    }

    fn normalize(&self, req: &Incoming, cfg: &ProviderConfig) -> Result<Normalized, String> {
        Self::normalize_with(req, cfg.generic.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::headers;
    use super::*;

    // Vectors computed with Python's hmac (no official library exists for a generic scheme):
    //   hmac.new(b"topsecret", b"v0:1700000000:" + BODY, sha256).hexdigest() etc.
    const BODY: &str = r#"{"type":"invoice.paid","data":{"id":"in_123","amount":42}}"#;
    const NOW: i64 = 1_700_000_000;
    const SIG_SHA256_TS: &str = "d3b1ce5bd439a8cad98039cb9934dd77adabea717756711a2222590bab6fb293";

    fn scheme() -> GenericScheme {
        serde_json::from_value(serde_json::json!({
            "header": "X-Signature",
            "algorithm": "sha256",
            "encoding": "hex",
            "prefix": "v0=",
            "signedContent": "v0:{timestamp}:{body}",
            "timestampHeader": "X-Timestamp",
            "idHeader": "X-Delivery",
            "toleranceSeconds": 300,
            "keyEncoding": "utf8"
        }))
        .unwrap()
    }

    fn cfg(s: GenericScheme) -> ProviderConfig {
        ProviderConfig { generic: Some(s), ..Default::default() }
    }

    fn run(h: &[(&str, &str)], body: &str, secrets: &[&str], c: &ProviderConfig, now: i64) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "http://127.0.0.1/webhooks/x", now };
        Generic.verify(&req, secrets, c)
    }

    #[test]
    fn template_vector() {
        let sig = format!("v0={SIG_SHA256_TS}");
        let h = [("X-Signature", sig.as_str()), ("X-Timestamp", "1700000000"), ("X-Delivery", "d1")];
        assert_eq!(run(&h, BODY, &["topsecret"], &cfg(scheme()), NOW), Ok(()));
        // rotation: the matching secret second
        assert_eq!(run(&h, BODY, &["old", "topsecret"], &cfg(scheme()), NOW + 299), Ok(()));
        // refusals
        let changed = BODY.replace("42", "43");
        assert_eq!(run(&h, &changed, &["topsecret"], &cfg(scheme()), NOW), Err(VerifyError::BadSignature));
        assert_eq!(run(&h, BODY, &["wrong"], &cfg(scheme()), NOW), Err(VerifyError::BadSignature));
        assert_eq!(run(&h, BODY, &["topsecret"], &cfg(scheme()), NOW + 301), Err(VerifyError::Stale));
        assert_eq!(
            run(&h[1..], BODY, &["topsecret"], &cfg(scheme()), NOW),
            Err(VerifyError::Missing("signature header"))
        );
        let no_ts = [h[0], h[2]];
        assert_eq!(
            run(&no_ts, BODY, &["topsecret"], &cfg(scheme()), NOW),
            Err(VerifyError::Missing("timestamp header"))
        );
        let bad = [("X-Signature", "sha256=zz"), h[1]];
        assert_eq!(
            run(&bad, BODY, &["topsecret"], &cfg(scheme()), NOW),
            Err(VerifyError::Malformed("signature header"))
        );
        let bad_ts = [h[0], ("X-Timestamp", "yesterday")];
        assert_eq!(
            run(&bad_ts, BODY, &["topsecret"], &cfg(scheme()), NOW),
            Err(VerifyError::Malformed("timestamp header"))
        );
        // the registration's override wins over the scheme's tolerance
        let mut c = cfg(scheme());
        c.tolerance_seconds = Some(10);
        assert_eq!(run(&h, BODY, &["topsecret"], &c, NOW + 11), Err(VerifyError::Stale));
        assert_eq!(
            run(&h, BODY, &["topsecret"], &ProviderConfig::default(), NOW),
            Err(VerifyError::Config("generic: providerConfig.generic (the signature scheme) is required".into()))
        );
    }

    /// GitHub's public vector through a generic scheme (sha256=, hex, body only).
    #[test]
    fn github_vector_as_generic() {
        let s: GenericScheme = serde_json::from_str(r#"{"header":"X-Hub-Signature-256","prefix":"sha256="}"#).unwrap();
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let h = [("X-Hub-Signature-256", sig)];
        assert_eq!(run(&h, "Hello, World!", &["It's a Secret to Everybody"], &cfg(s.clone()), NOW), Ok(()));
        assert_eq!(
            run(&h, "Hello, World?", &["It's a Secret to Everybody"], &cfg(s), NOW),
            Err(VerifyError::BadSignature)
        );
    }

    /// The Standard Webhooks spec vector through a generic scheme (whsec key, base64, `{id}.{timestamp}.{body}`).
    #[test]
    fn standard_webhooks_vector_as_generic() {
        let s: GenericScheme = serde_json::from_value(serde_json::json!({
            "header": "webhook-signature", "encoding": "base64", "prefix": "v1,",
            "signedContent": "{id}.{timestamp}.{body}", "timestampHeader": "webhook-timestamp",
            "idHeader": "webhook-id", "keyEncoding": "whsec"
        }))
        .unwrap();
        let h = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ];
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert_eq!(run(&h, r#"{"test": 2432232314}"#, &[secret], &cfg(s.clone()), 1614265330), Ok(()));
        assert_eq!(run(&h, r#"{"test": 2432232315}"#, &[secret], &cfg(s), 1614265330), Err(VerifyError::BadSignature));
    }

    /// Twilio-style SHA-1 / base64 and a SHA-512 vector (Python hmac).
    #[test]
    fn sha1_and_sha512() {
        let s1: GenericScheme = serde_json::from_value(serde_json::json!({
            "header": "X-Sig", "algorithm": "sha1", "encoding": "base64"
        }))
        .unwrap();
        // base64(hmac.new(b"key", b"The quick brown fox jumps over the lazy dog", sha1).digest())
        let h = [("X-Sig", "3nybhbi3iqa8ino29wqQcBydtNk=")];
        assert_eq!(run(&h, "The quick brown fox jumps over the lazy dog", &["key"], &cfg(s1), NOW), Ok(()));
        let s512: GenericScheme = serde_json::from_value(serde_json::json!({
            "header": "X-Sig", "algorithm": "sha512", "prefix": "sha512="
        }))
        .unwrap();
        let sig = "sha512=b42af09057bac1e2d41708e48a902e09b5ff7f12ab428a4fe86653c73dd248fb82f948a549f7b791a5b41915ee4d1ec3935357e4e2317250d0372afa2ebeeb3a";
        let h = [("X-Sig", sig)];
        assert_eq!(run(&h, "The quick brown fox jumps over the lazy dog", &["key"], &cfg(s512.clone()), NOW), Ok(()));
        assert_eq!(
            run(&h, "The quick brown fox jumps over the lazy cat", &["key"], &cfg(s512), NOW),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn scheme_config_errors() {
        assert!(serde_json::from_str::<GenericScheme>(r#"{"header":"X","bogus":1}"#).is_err());
        assert!(serde_json::from_str::<GenericScheme>(r#"{"header":"X","algorithm":"md5"}"#).is_err());
        let h = [("X", "00")];
        for tpl in ["{timestamp}", "{body}{nope}", "{timestamp}:{body}", "{id}{body}"] {
            let s: GenericScheme =
                serde_json::from_value(serde_json::json!({"header": "X", "signedContent": tpl})).unwrap();
            assert!(matches!(run(&h, "{}", &["k"], &cfg(s), NOW), Err(VerifyError::Config(_))), "{tpl}");
        }
        let s: GenericScheme =
            serde_json::from_value(serde_json::json!({"header": "X", "keyEncoding": "base64"})).unwrap();
        assert!(matches!(run(&h, "{}", &["not base64!"], &cfg(s), NOW), Err(VerifyError::Config(_))));
    }

    #[test]
    fn normalizes() {
        let h = headers(&[("X-Delivery", "d1")]);
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: NOW };
        let n = Generic.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("paid", "invoice", "in_123")
        );
        assert_eq!(n.native_type.as_deref(), Some("invoice.paid"));
        assert!(n.delivery_id.unwrap().starts_with("sha256:"));
        let n = Generic::normalize_with(&req, Some(&scheme())).unwrap();
        assert_eq!(n.delivery_id.as_deref(), Some("d1"));
        let s: GenericScheme = serde_json::from_value(serde_json::json!({
            "header": "X", "eventTypePointer": "/kind", "entityIdPointer": "/obj/key", "entityTypePointer": "/obj/t"
        }))
        .unwrap();
        let body = br#"{"kind":"row added!","obj":{"key":7,"t":"row"}}"#;
        let req = Incoming { headers: &h, body, url: "", now: NOW };
        let n = Generic::normalize_with(&req, Some(&s)).unwrap();
        assert_eq!((n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()), ("row_added_", "row", "7"));
        assert!(Generic
            .normalize(&Incoming { headers: &h, body: b"[1]", url: "", now: NOW }, &ProviderConfig::default())
            .is_err());
    }

    #[test]
    fn clean_names() {
        assert_eq!(clean_name("Contact.created"), "Contact.created");
        assert_eq!(clean_name("a b/c:d"), "a_b_c_d");
        assert_eq!(clean_name(""), "unknown");
    }
}
