//! Outgoing signatures. Every delivery carries Standard Webhooks headers (`svix-*` or `webhook-*`), signed with
//! every live key of the endpoint; an endpoint may add one of the seeds' `sha256=<hex>` schemes beside them.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A fresh `whsec_` secret: 24 random bytes, base64, as svix-server makes them.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::Rng::fill(&mut rand::thread_rng(), &mut key);
    format!("whsec_{}", B64.encode(key))
}

/// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`.
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    B64.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).ok()
}

/// `v1,<base64>` for each key, space-separated, over `{msg_id}.{timestamp}.{body}`.
pub fn standard_signature<'a>(
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: impl Iterator<Item = &'a str>,
) -> String {
    let mut out = String::new();
    for secret in secrets {
        let Some(key) = standard_key(secret) else {
            continue;
        };
        let mut mac = HmacSha256::new_from_slice(&key).expect("hmac takes any key length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("v1,");
        out.push_str(&B64.encode(mac.finalize().into_bytes()));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimestampFormat {
    /// Unix seconds, e.g. `1625097600`.
    #[default]
    Unix,
    /// RFC 3339 with milliseconds, e.g. `2026-02-01T10:30:00.123Z`.
    Rfc3339,
}

/// A `sha256=<hex>` HMAC signature as the seeds describe them. The key is the endpoint's current secret as UTF-8
/// text (the whole `whsec_…` string), as the seeds' receivers use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HmacScheme {
    /// Header carrying the signature, e.g. `X-TMS-Signature`.
    pub header: String,
    /// Put before the hex digest.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// What is signed: `{body}`, `{timestamp}.{body}`; `{id}` is the message id.
    #[serde(default = "default_signed_content")]
    pub signed_content: String,
    /// Header carrying the timestamp that was signed, e.g. `X-TMS-Timestamp`.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    #[serde(default)]
    pub timestamp_format: TimestampFormat,
    /// Header carrying the message id (e.g. `X-Webhook-ID`).
    #[serde(default)]
    pub id_header: Option<String>,
    /// Header carrying the attempt number, 1 for the first (e.g. `x-minoots-attempt`).
    #[serde(default)]
    pub attempt_header: Option<String>,
    /// Header carrying the event type (e.g. `X-Event-Type`).
    #[serde(default)]
    pub event_type_header: Option<String>,
    /// Header carrying a fresh id for each attempt (e.g. `X-Request-ID`).
    #[serde(default)]
    pub request_id_header: Option<String>,
}

fn default_prefix() -> String {
    "sha256=".into()
}
fn default_signed_content() -> String {
    "{body}".into()
}

impl HmacScheme {
    /// The seeds' formats by name: `tms` (seed 000), `minoots` (seed 001), `chat` (seed 003 bots).
    pub fn preset(name: &str) -> Option<Self> {
        let base = |header: &str, content: &str| HmacScheme {
            header: header.into(),
            prefix: default_prefix(),
            signed_content: content.into(),
            timestamp_header: None,
            timestamp_format: TimestampFormat::Unix,
            id_header: None,
            attempt_header: None,
            event_type_header: None,
            request_id_header: None,
        };
        match name {
            "tms" => Some(HmacScheme {
                timestamp_header: Some("X-TMS-Timestamp".into()),
                ..base("X-TMS-Signature", "{timestamp}.{body}")
            }),
            "minoots" => Some(HmacScheme {
                attempt_header: Some("x-minoots-attempt".into()),
                ..base("x-minoots-signature", "{body}")
            }),
            "chat" => Some(HmacScheme {
                timestamp_header: Some("X-Webhook-Timestamp".into()),
                timestamp_format: TimestampFormat::Rfc3339,
                id_header: Some("X-Webhook-ID".into()),
                event_type_header: Some("X-Event-Type".into()),
                request_id_header: Some("X-Request-ID".into()),
                ..base("X-Webhook-Signature", "{timestamp}.{body}")
            }),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for h in [
            &self.timestamp_header,
            &self.id_header,
            &self.attempt_header,
            &self.event_type_header,
            &self.request_id_header,
        ]
        .into_iter()
        .flatten()
        .chain([&self.header])
        {
            axum::http::HeaderName::try_from(h.as_str()).map_err(|_| format!("invalid header name: {h}"))?;
        }
        if !self.signed_content.contains("{body}") {
            return Err("signedContent must contain {body}".into());
        }
        Ok(())
    }

    pub fn format_timestamp(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        match self.timestamp_format {
            TimestampFormat::Unix => now.timestamp().to_string(),
            TimestampFormat::Rfc3339 => now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }

    /// The header value for `body`, signed at `timestamp` (as formatted by [`Self::format_timestamp`]).
    pub fn sign(&self, secret: &str, msg_id: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
        let mut rest = self.signed_content.as_str();
        while let Some(start) = rest.find('{') {
            mac.update(&rest.as_bytes()[..start]);
            let tail = &rest[start..];
            let (value, len): (&[u8], usize) = if tail.starts_with("{body}") {
                (body, 6)
            } else if tail.starts_with("{timestamp}") {
                (timestamp.as_bytes(), 11)
            } else if tail.starts_with("{id}") {
                (msg_id.as_bytes(), 4)
            } else {
                (b"{", 1)
            };
            mac.update(value);
            rest = &tail[len..];
        }
        mac.update(rest.as_bytes());
        format!("{}{}", self.prefix, hex::encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_spec_vector() {
        let sig = standard_signature(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
            ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"].into_iter(),
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn github_docs_vector_through_the_body_template() {
        let scheme = HmacScheme { header: "X-Hub-Signature-256".into(), ..HmacScheme::preset("minoots").unwrap() };
        assert_eq!(
            scheme.sign("It's a Secret to Everybody", "msg", "0", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn timestamp_template_signs_timestamp_dot_body() {
        let tms = HmacScheme::preset("tms").unwrap();
        let direct = {
            let mut mac = HmacSha256::new_from_slice(b"k").unwrap();
            mac.update(b"1625097600.{\"a\":1}");
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        };
        assert_eq!(tms.sign("k", "msg", "1625097600", br#"{"a":1}"#), direct);
    }
}
