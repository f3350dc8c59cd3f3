//! Inbound providers: one module each. A provider checks the raw bytes of a request exactly as the provider's
//! own official library signs them (constant-time comparison, the provider's timestamp tolerance), answers its
//! handshakes, and turns its payload into the seed's normalised `WebhookEvent`.
//!
//! Everything here is pure: no I/O, no clock reads (the time comes in [`Incoming::now`]), so each provider is
//! tested directly against public vectors and the official libraries' outputs. What a provider needs fetched (AWS
//! SNS's certificate, its subscription's confirmation) it names by URL ([`Provider::document_url`],
//! [`Provider::confirm_url`]), and the inbound layer fetches.

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

/// A request as it arrived at `POST /webhooks/{registrationId}`.
pub struct Incoming<'a> {
    pub headers: &'a HeaderMap,
    /// The raw body, before any parsing.
    pub body: &'a [u8],
    /// The full URL the provider called (public base URL + path + query), as the provider signs it (Twilio).
    pub url: &'a str,
    /// Now, in unix seconds.
    pub now: i64,
}

impl Incoming<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Provider settings of a registration beside its secrets. Each provider reads the fields it needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderConfig {
    /// Discord: the application's Ed25519 public key, hex; Telnyx: the account's public key, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Google Pub/Sub push: the expected `aud` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Google Pub/Sub push: accepted `iss` values (default `https://accounts.google.com`, `accounts.google.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuers: Option<Vec<String>>,
    /// Google Pub/Sub push: the expected `email` claim (the push subscription's service account), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_email: Option<String>,
    /// Google Pub/Sub push: the signing keys as a JWKS document (`{"keys": [...]}`) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// … or as PEM public keys / certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<Vec<String>>,
    /// Overrides the provider's timestamp tolerance, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<u64>,
    /// The generic provider's scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<generic::GenericScheme>,
    /// Meta: the Verify Token typed in the webhook's settings, checked on its `hub.challenge` handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
    /// The URL the provider was told to call and signs (Square, Trello, Mandrill, HubSpot), when it is not the
    /// registration's `webhookUrl` (a proxy in front of hookd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// AWS SNS: the topics whose messages the registration accepts (one ARN, or a list).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "one_or_many")]
    pub topic_arn: Option<Vec<String>>,
}

impl ProviderConfig {
    /// The settings as the API spells them (a unit test keeps the list whole), for naming the one a refusal is about.
    pub const FIELDS: &'static [&'static str] = &[
        "publicKey",
        "audience",
        "issuers",
        "serviceAccountEmail",
        "jwks",
        "pem",
        "toleranceSeconds",
        "generic",
        "verifyToken",
        "url",
        "topicArn",
    ];
}

/// A string or a list of strings, as a list.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a string or a list of strings")]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(Option::<OneOrMany>::deserialize(d)?.map(|v| match v {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    }))
}

/// Why a request was refused (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("invalid signature")]
    BadSignature,
    #[error("{0}")]
    Config(String),
}

impl VerifyError {
    /// The provider setting a configuration error is about: the first one its text names (providers write
    /// "telnyx: publicKey is required", "generic: signedContent …" of the `generic` scheme).
    pub fn setting(&self) -> Option<&'static str> {
        let VerifyError::Config(text) = self else {
            return None;
        };
        let word = |f: &str| {
            text.match_indices(f).map(|(i, _)| i).find(|&i| {
                let before = text[..i].chars().next_back();
                let after = text[i + f.len()..].chars().next();
                !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
            })
        };
        ProviderConfig::FIELDS.iter().filter_map(|&f| word(f).map(|i| (i, f))).min().map(|(_, f)| f)
    }
}

/// A provider's event in the seed's `WebhookEvent` shape, plus what dedup and matching need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Normalized {
    /// `created`, `updated`, `opened`, `message` …
    pub event_type: String,
    /// `Contact`, `issue`, `page` …
    pub entity_type: String,
    pub entity_id: String,
    /// The event's data (the whole payload unless the seed's parser says otherwise).
    pub data: serde_json::Value,
    /// The provider's own name for the event (`issues.opened`, `invoice.paid`, `message`), also matched.
    pub native_type: Option<String>,
    /// The provider's delivery id (`X-GitHub-Delivery`, Slack `event_id`, Stripe `evt_…`, …), for dedup.
    pub delivery_id: Option<String>,
}

/// What a person setting up a registration needs to know of a provider (the dashboard's form shows it).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct About {
    /// Its name as people write it.
    pub title: &'static str,
    /// Where the registration's secret comes from, or what takes its place.
    pub secret: &'static str,
    /// Whether requests are verified with the registration's secret (Discord and Google use keys in the provider
    /// settings; Notion the token it sends first).
    pub uses_secret: bool,
}

pub trait Provider: Send + Sync {
    /// The `integrationId` that selects it.
    fn name(&self) -> &'static str;

    fn about(&self) -> About;

    /// Refuses provider settings this provider could never verify a request with (a missing or malformed key or
    /// scheme), so that a registration is refused when saved rather than failing every request.
    fn check_config(&self, _cfg: &ProviderConfig) -> Result<(), VerifyError> {
        Ok(())
    }

    /// Checks the request against each live secret; Ok when one matches.
    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError>;

    /// An answer the provider expects instead of normal processing, for a request that passed `verify`
    /// (Slack `url_verification` → `{"challenge"}`, Discord PING → `{"type":1}`, Zoom `endpoint.url_validation`).
    fn handshake(&self, _req: &Incoming, _secrets: &[&str]) -> Option<serde_json::Value> {
        None
    }

    /// An answer to a handshake the provider does not sign (Meta's `hub.challenge`, Dropbox's `challenge`, Okta's
    /// verification, X's CRC, which the reply signs with `secrets[0]`), asked before any signature check;
    /// `method` is the request's.
    fn unsigned_handshake(
        &self,
        _req: &Incoming,
        _method: &str,
        _cfg: &ProviderConfig,
        _secrets: &[&str],
    ) -> Option<preset::Reply> {
        None
    }

    /// The answer to a signed handshake (after `verify`): [`Provider::handshake`] as JSON unless the provider
    /// answers otherwise (Twitch's challenge is plain text).
    fn signed_handshake(&self, req: &Incoming, secrets: &[&str], _cfg: &ProviderConfig) -> Option<preset::Reply> {
        self.handshake(req, secrets).map(|v| preset::Reply::json(&v))
    }

    /// The data preset this provider verifies by, if any (the presets' listing describes it).
    fn preset(&self) -> Option<&preset::Preset> {
        None
    }

    /// A token the provider sends unsigned, once, to be shown to the tenant (Notion's `verification_token`).
    fn verification_token(&self, _req: &Incoming) -> Option<String> {
        None
    }

    /// The URL of a document the request names and must be verified under (AWS SNS: the signing certificate at
    /// `SigningCertURL`). The inbound layer fetches it through the egress guard, caches it by URL and calls
    /// [`Provider::verify_with_document`] instead of `verify`. Err, with no fetch, when the request is refused
    /// without it (a URL on a host the provider does not trust, another topic, stale); `hosts` are the
    /// operator's trusted hosts (`HOOKD_SNS_CERT_HOSTS`).
    fn document_url(
        &self,
        _req: &Incoming,
        _cfg: &ProviderConfig,
        _hosts: &[String],
    ) -> Result<Option<url::Url>, VerifyError> {
        Ok(None)
    }

    /// `verify` with the document at [`Provider::document_url`].
    fn verify_with_document(
        &self,
        req: &Incoming,
        secrets: &[&str],
        cfg: &ProviderConfig,
        _document: &[u8],
    ) -> Result<(), VerifyError> {
        self.verify(req, secrets, cfg)
    }

    /// For a verified request that asks for a subscription to be confirmed (AWS SNS's `SubscriptionConfirmation`):
    /// the URL the inbound layer GETs, through the egress guard, to confirm it. The request is then kept but not
    /// forwarded. Err (refused) when the URL is not on one of `hosts` the provider trusts.
    fn confirm_url(&self, _req: &Incoming, _hosts: &[String]) -> Result<Option<url::Url>, VerifyError> {
        Ok(None)
    }

    /// The normalised event; Err (400) when the body is not the provider's format. `cfg` is the registration's
    /// provider settings (the generic provider reads its id header from them).
    fn normalize(&self, req: &Incoming, cfg: &ProviderConfig) -> Result<Normalized, String>;
}

pub mod aws_sns;
pub mod discord;
pub mod generic;
pub mod github;
pub mod gitlab;
pub mod google;
pub mod linear;
pub mod notion;
pub mod panda_doc;
pub mod preset;
pub mod salesforce;
pub mod shopify;
pub mod slack;
pub mod standard;
pub mod stripe;
pub mod telnyx;
pub mod twilio;
pub mod unverified;
pub mod zoom;

/// The provider for an `integrationId`, if hookd knows it: a provider with code of its own (normalisation into the
/// seed's event, flows data cannot express), else a data preset.
pub fn by_name(name: &str) -> Option<&'static dyn Provider> {
    PROVIDERS
        .iter()
        .copied()
        .find(|p| p.name() == name)
        .or_else(|| preset::by_name(name).map(|p| p as &'static dyn Provider))
}

/// Every provider hookd verifies: those with code, then the data presets no code provider overrides.
pub fn all() -> impl Iterator<Item = &'static dyn Provider> {
    let presets = preset::PRESETS
        .iter()
        .filter(|p| !PROVIDERS.iter().any(|c| c.name() == p.name))
        .map(|p| p as &'static dyn Provider);
    PROVIDERS.iter().copied().chain(presets)
}

/// The preset named `name`, for a provider that verifies by its data preset. The data file is checked by a unit
/// test, so a missing entry is a build mistake.
pub fn data(name: &str) -> &'static preset::Preset {
    preset::by_name(name).unwrap_or_else(|| panic!("no preset {name} in presets.toml"))
}

/// Providers with code of their own.
pub static PROVIDERS: &[&(dyn Provider + 'static)] = &[
    &github::GitHub,
    &slack::Slack,
    &stripe::Stripe,
    &shopify::Shopify,
    &twilio::Twilio,
    &gitlab::GitLab,
    &linear::Linear,
    &discord::Discord,
    &notion::Notion,
    &standard::StandardWebhooks,
    &google::GooglePubSub,
    &zoom::Zoom,
    &salesforce::Salesforce,
    &telnyx::Telnyx,
    &panda_doc::PandaDoc,
    &aws_sns::AwsSns,
    &generic::Generic,
    &unverified::GenericWebhook,
];

// ── helpers shared by the providers ──

/// Constant-time equality of two byte strings (false on different lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether one of the `offered` signatures is what one of the keys signs (`sign(key)`): every pair is compared in
/// constant time, none skipped, so the time taken does not tell which came close.
pub fn any_signed<K, E: AsRef<[u8]>>(
    keys: impl IntoIterator<Item = K>,
    offered: &[Vec<u8>],
    sign: impl Fn(K) -> E,
) -> Result<(), VerifyError> {
    let mut ok = false;
    for key in keys {
        let expected = sign(key);
        for sig in offered {
            ok |= ct_eq(expected.as_ref(), sig);
        }
    }
    if ok {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// HMAC-SHA256 of `parts` concatenated, keyed with `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `ts` (unix seconds) is within `tolerance` seconds of `now`, both ways.
pub fn fresh(ts: i64, now: i64, tolerance: u64) -> bool {
    (now - ts).unsigned_abs() <= tolerance
}

use serde_json::Value;

/// Limits a name to `[A-Za-z0-9._-]` (others become `_`): event and entity types become outbound event type names.
pub fn clean_name(s: &str) -> String {
    let out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if out.is_empty() {
        "unknown".into()
    } else {
        out
    }
}

/// A JSON id as a string: a non-empty string, or a number.
pub fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first of `keys` that holds a non-empty string or number.
pub fn first_string(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| v.get(*k).and_then(id_string))
}

/// The body as a JSON object.
pub fn parse_json(body: &[u8]) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err("body is not a JSON object".into())
    }
}

/// The first 16 bytes of SHA-256(body), hex: a dedup id for retries of byte-identical deliveries.
pub fn body_digest(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(body)[..16])
}

/// Base64 (standard alphabet) with or without padding, like Python's `b64decode(s + "==")`.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(s).ok()
}

/// Refuses an empty secret list (a registration always has one).
pub fn require_secrets(provider: &str, secrets: &[&str]) -> Result<(), VerifyError> {
    if secrets.iter().any(|s| !s.is_empty()) {
        Ok(())
    } else {
        Err(VerifyError::Config(format!("{provider}: no webhook secret configured")))
    }
}

/// How a body signature header starts.
#[derive(Clone, Copy)]
pub enum Prefix {
    /// `sha256=` must be there (GitHub, Notion).
    Required(&'static str),
    /// Taken off when there (Salesforce).
    Optional(&'static str),
    /// Plain hex (Linear).
    None,
}

/// Checks a header holding the hex HMAC-SHA256 of the raw body against each live secret (as UTF-8 key):
/// GitHub, Notion, Salesforce and Linear sign this way, with different prefixes.
pub fn verify_body_hmac_hex(
    req: &Incoming,
    header: &'static str,
    prefix: Prefix,
    secrets: &[&str],
) -> Result<(), VerifyError> {
    let value = req.header(header).ok_or(VerifyError::Missing(header))?.trim();
    let hex_part = match prefix {
        Prefix::Required(p) => value.strip_prefix(p),
        Prefix::Optional(p) => Some(value.strip_prefix(p).unwrap_or(value)),
        Prefix::None => Some(value),
    };
    let given =
        hex_part.and_then(|h| hex::decode(h).ok()).filter(|b| b.len() == 32).ok_or(VerifyError::Malformed(header))?;
    any_secret(secrets, |s| ct_eq(&hmac_sha256(s.as_bytes(), &[req.body]), &given))
}

/// `(event_type, entity_type, native_type)` for providers that name events `{kind}.{action}` (GitLab, Linear):
/// the action is the event type (the kind when there is none), the kind the entity type.
pub fn kind_action_names(kind: &str, action: Option<&str>) -> (String, String, Option<String>) {
    let native = match action {
        Some(a) => format!("{kind}.{a}"),
        None => kind.to_string(),
    };
    (clean_name(action.unwrap_or(kind)), clean_name(kind), Some(clean_name(&native)))
}

/// An id as text from an optional JSON value.
pub fn id_text(v: Option<&Value>) -> Option<String> {
    v.and_then(id_string)
}

/// Ok when `matches` holds for one of the (non-empty) secrets. Every secret is tried, so the time taken does
/// not tell which one matched; an empty secret never authenticates anything.
pub fn any_secret(secrets: &[&str], mut matches: impl FnMut(&str) -> bool) -> Result<(), VerifyError> {
    let mut live = 0;
    let mut ok = false;
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        live += 1;
        ok |= matches(s);
    }
    match (live, ok) {
        (0, _) => Err(VerifyError::Config("no webhook secret configured".into())),
        (_, true) => Ok(()),
        (_, false) => Err(VerifyError::BadSignature),
    }
}

#[cfg(test)]
pub mod test_util {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    use super::{Incoming, Provider, ProviderConfig, VerifyError};

    /// Provider settings holding only a public key (Discord, Telnyx).
    pub fn public_key_cfg(key: &str) -> ProviderConfig {
        ProviderConfig { public_key: Some(key.into()), ..Default::default() }
    }

    /// `p`'s verdict on a request of `h` and `body` at `now`, with no secrets: the keys are in `c`.
    pub fn verify_keyed(
        p: &dyn Provider,
        h: &[(&str, &str)],
        body: &str,
        c: &ProviderConfig,
        now: i64,
    ) -> Result<(), VerifyError> {
        let h = headers(h);
        p.verify(&Incoming { headers: &h, body: body.as_bytes(), url: "", now }, &[], c)
    }

    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_lists_every_provider_setting() {
        // A struct literal without `..`: a setting added to ProviderConfig fails to compile here until listed.
        let scheme = serde_json::from_value(serde_json::json!({"header": "X-Sig"})).unwrap();
        let full = ProviderConfig {
            public_key: Some("k".into()),
            audience: Some("a".into()),
            issuers: Some(vec![]),
            service_account_email: Some("e".into()),
            jwks: Some(Value::Null),
            pem: Some(vec![]),
            tolerance_seconds: Some(1),
            generic: Some(scheme),
            verify_token: Some("t".into()),
            url: Some("u".into()),
            topic_arn: Some(vec![]),
        };
        let json = serde_json::to_value(full).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut fields = ProviderConfig::FIELDS.to_vec();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields);
    }

    #[test]
    fn a_config_error_names_its_setting() {
        let named = |t: &str| VerifyError::Config(t.into()).setting();
        assert_eq!(named("telnyx: publicKey is required (the account's public key, base64)"), Some("publicKey"));
        assert_eq!(named("discord: providerConfig.publicKey must be 32 bytes of hex"), Some("publicKey"));
        assert_eq!(named("generic: signedContent must contain {body}"), Some("generic"));
        assert_eq!(named("google: providerConfig.jwks or providerConfig.pem is required"), Some("jwks"));
        assert_eq!(named("the SigningCertURL host is not trusted"), None);
        assert_eq!(VerifyError::BadSignature.setting(), None);
    }
}
