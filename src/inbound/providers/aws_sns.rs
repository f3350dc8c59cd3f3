//! AWS SNS (HTTP/S subscriptions): SNS POSTs a JSON envelope (`Type`, `MessageId`, `TopicArn`, `Subject?`,
//! `Message`, `Timestamp`, `SignatureVersion`, `Signature`, `SigningCertURL`, and for confirmations `Token` and
//! `SubscribeURL`) with the header `x-amz-sns-message-type`. The signature is RSA PKCS#1 v1.5 — SHA1withRSA for
//! `SignatureVersion` 1, SHA256withRSA for 2 — over `Name\nvalue\n` of the fields `Message, MessageId, Subject (when
//! present), Timestamp, TopicArn, Type` (a Notification) or `Message, MessageId, SubscribeURL, Timestamp, Token,
//! TopicArn, Type` (a (Un)SubscriptionConfirmation), under the certificate at `SigningCertURL`
//! (<https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html>,
//! <https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html>). Raw message delivery must be off:
//! a raw message carries no signature.
//!
//! The certificate must come over https from `sns.<region>.amazonaws.com` (or `.amazonaws.com.cn`), or a host the
//! operator trusts (`HOOKD_SNS_CERT_HOSTS`); the inbound layer fetches it ([`Provider::document_url`]) — this
//! module stays pure. A good signature proves only that SNS sent the message: any AWS account can have SNS sign
//! messages to any URL, so the registration names the topics it accepts (`providerConfig.topicArn`, one or a
//! list, required) and a message of another topic is refused. AWS fixes no freshness window; a `Timestamp` more
//! than an hour from now is refused (`toleranceSeconds` overrides it).
//!
//! A `SubscriptionConfirmation` is confirmed by hookd: once verified, the inbound layer GETs its `SubscribeURL`
//! ([`Provider::confirm_url`], on the same trusted hosts) and keeps the message without forwarding it.
//! A `Notification` becomes an event: delivery id and entity id `MessageId`; entity type the topic's name; event
//! type the message attribute `eventType` (or `event_type`, `type`) when it has one, else the `Subject`, else
//! `notification` (also its provider name, so `events` can name it alone). Its data is the envelope with `Message`
//! parsed when it is a JSON object or array. An `UnsubscribeConfirmation` is forwarded as its own event type
//! (`UnsubscribeConfirmation`, the registration's `events` decide), so the application learns the subscription ended.

use serde_json::Value;

use super::*;

pub struct AwsSns;

pub const TYPE_HEADER: &str = "x-amz-sns-message-type";
/// How far `Timestamp` may be from now: an hour, longer than SNS's default delivery retries take.
pub const TOLERANCE: u64 = 3600;
/// The entry of `HOOKD_SNS_CERT_HOSTS` that stands for AWS's own hosts, https only.
pub const AWS_HOSTS: &str = "aws";

/// What an SNS message is, by its `Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

impl Kind {
    fn of(t: &str) -> Option<Kind> {
        match t {
            "Notification" => Some(Kind::Notification),
            "SubscriptionConfirmation" => Some(Kind::SubscriptionConfirmation),
            "UnsubscribeConfirmation" => Some(Kind::UnsubscribeConfirmation),
            _ => None,
        }
    }

    /// The fields signed, in order (`Subject` only when present).
    fn signed_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Notification => &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
            _ => &["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
        }
    }
}

/// The topics a registration accepts.
fn topics(cfg: &ProviderConfig) -> Result<Vec<&str>, VerifyError> {
    let topics: Vec<&str> = cfg.topic_arn.iter().flatten().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
    if topics.is_empty() {
        return Err(VerifyError::Config(
            "aws-sns: providerConfig.topicArn is required: the ARN of the topic (or a list of them) whose messages \
             this registration accepts"
                .into(),
        ));
    }
    Ok(topics)
}

/// A field of the envelope as text: Missing when absent (or null), Malformed when not a string.
fn text<'a>(msg: &'a Value, name: &'static str) -> Result<&'a str, VerifyError> {
    match msg.get(name) {
        None | Some(Value::Null) => Err(VerifyError::Missing(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(VerifyError::Malformed(name)),
    }
}

/// The string SNS signs, for a message of `kind`.
pub fn string_to_sign(msg: &Value, kind: Kind) -> Result<Vec<u8>, VerifyError> {
    let mut out = Vec::new();
    for &name in kind.signed_fields() {
        let value = match text(msg, name) {
            Err(VerifyError::Missing("Subject")) => continue,
            other => other?,
        };
        for part in [name, "\n", value, "\n"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
    Ok(out)
}

/// Whether `host` is `sns.<region>.amazonaws.com` or `sns.<region>.amazonaws.com.cn`.
fn is_aws_sns_host(host: &str) -> bool {
    let rest = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"));
    let region = rest.and_then(|r| r.strip_prefix("sns."));
    region
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
}

/// `raw` if it is on a host SNS documents may come from: AWS's (`aws` in `hosts`, https on the default port), or
/// one of the other `host[:port]` entries (http or https: a test's or a private region's server).
/// `refused` says which field it was.
pub fn trusted_url(raw: &str, hosts: &[String], refused: &'static str) -> Result<url::Url, VerifyError> {
    let url = url::Url::parse(raw).map_err(|_| VerifyError::Malformed(refused))?;
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(h) => h.to_string(),
        None => return Err(VerifyError::Malformed(refused)),
    };
    if !url.username().is_empty() || url.password().is_some() || !matches!(url.scheme(), "http" | "https") {
        return Err(VerifyError::Malformed(refused));
    }
    let with_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let trusted = hosts.iter().map(|h| h.trim().to_ascii_lowercase()).any(|h| {
        if h == AWS_HOSTS {
            url.scheme() == "https" && url.port().is_none() && is_aws_sns_host(&host)
        } else {
            h == with_port
        }
    });
    if trusted {
        Ok(url)
    } else {
        Err(VerifyError::Malformed(refused))
    }
}

/// The envelope, checked before any fetch: a JSON object of a known `Type` (the header, when sent, agreeing), a
/// topic the registration accepts, a known `SignatureVersion`, and a `Timestamp` within the tolerance.
fn envelope(req: &Incoming, cfg: &ProviderConfig) -> Result<(Kind, Value), VerifyError> {
    let allowed = topics(cfg)?;
    let msg: Value = serde_json::from_slice(req.body)
        .ok()
        .filter(Value::is_object)
        .ok_or(VerifyError::Malformed("body (not an SNS message)"))?;
    let t = text(&msg, "Type")?;
    let kind = Kind::of(t).ok_or(VerifyError::Malformed("Type"))?;
    if req.header(TYPE_HEADER).is_some_and(|h| h.trim() != t) {
        return Err(VerifyError::Malformed("x-amz-sns-message-type (not the body's Type)"));
    }
    let topic = text(&msg, "TopicArn")?;
    if !allowed.contains(&topic) {
        return Err(VerifyError::Malformed("TopicArn (not one of providerConfig.topicArn)"));
    }
    text(&msg, "Signature")?;
    match text(&msg, "SignatureVersion")? {
        "1" | "2" => {}
        _ => return Err(VerifyError::Malformed("SignatureVersion (1 or 2)")),
    }
    let ts = chrono::DateTime::parse_from_rfc3339(text(&msg, "Timestamp")?)
        .map_err(|_| VerifyError::Malformed("Timestamp"))?;
    if !fresh(ts.timestamp(), req.now, cfg.tolerance_seconds.unwrap_or(TOLERANCE)) {
        return Err(VerifyError::Stale);
    }
    Ok((kind, msg))
}

/// The RSA public key (PKCS#1 `RSAPublicKey`, as ring reads it) of a PEM certificate valid at `now`.
fn certificate_key(pem: &[u8], now: i64) -> Result<Vec<u8>, VerifyError> {
    let bad = VerifyError::Malformed("SigningCertURL (not a PEM certificate with an RSA key)");
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).map_err(|_| bad.clone())?;
    let cert = pem.parse_x509().map_err(|_| bad.clone())?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err(bad);
    }
    let at = x509_parser::time::ASN1Time::from_timestamp(now).map_err(|_| bad.clone())?;
    if !cert.validity().is_valid_at(at) {
        return Err(VerifyError::Malformed("SigningCertURL (the certificate is expired or not yet valid)"));
    }
    Ok(spki.subject_public_key.data.to_vec())
}

/// The checks that need no certificate, then the signature with the certificate's key.
fn verify_signed(req: &Incoming, cfg: &ProviderConfig, certificate: &[u8]) -> Result<(), VerifyError> {
    use ring::signature;
    let (kind, msg) = envelope(req, cfg)?;
    let signed = string_to_sign(&msg, kind)?;
    let sig = b64_decode(text(&msg, "Signature")?.trim()).ok_or(VerifyError::Malformed("Signature"))?;
    let alg: &dyn signature::VerificationAlgorithm = match text(&msg, "SignatureVersion")? {
        "1" => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    };
    let key = certificate_key(certificate, req.now)?;
    signature::UnparsedPublicKey::new(alg, key).verify(&signed, &sig).map_err(|_| VerifyError::BadSignature)
}

impl Provider for AwsSns {
    fn name(&self) -> &'static str {
        "aws-sns"
    }

    fn about(&self) -> About {
        About {
            title: "AWS SNS",
            uses_secret: false,
            secret: "No secret: SNS signs each message with an AWS certificate, which hookd fetches from \
                     sns.<region>.amazonaws.com. The provider settings name the topics accepted, {\"topicArn\": \
                     \"arn:aws:sns:…\"} (or a list); hookd confirms the subscription itself. Leave raw message \
                     delivery off.",
        }
    }

    fn check_config(&self, cfg: &ProviderConfig) -> Result<(), VerifyError> {
        for t in topics(cfg)? {
            let parts: Vec<&str> = t.split(':').collect();
            if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
                return Err(VerifyError::Config(format!(
                    "aws-sns: providerConfig.topicArn {t:?} is not a topic ARN (arn:aws:sns:<region>:<account>:<topic>)"
                )));
            }
        }
        Ok(())
    }

    /// Never enough alone: the signature is checked under the certificate ([`Provider::verify_with_document`]).
    fn verify(&self, req: &Incoming, _secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        envelope(req, cfg)?;
        Err(VerifyError::Config(
            "aws-sns: verified under the certificate at SigningCertURL, which was not fetched".into(),
        ))
    }

    fn document_url(
        &self,
        req: &Incoming,
        cfg: &ProviderConfig,
        hosts: &[String],
    ) -> Result<Option<url::Url>, VerifyError> {
        let (_, msg) = envelope(req, cfg)?;
        let raw = text(&msg, "SigningCertURL")?;
        trusted_url(raw, hosts, "SigningCertURL (not on a trusted SNS host)").map(Some)
    }

    fn verify_with_document(
        &self,
        req: &Incoming,
        _secrets: &[&str],
        cfg: &ProviderConfig,
        document: &[u8],
    ) -> Result<(), VerifyError> {
        verify_signed(req, cfg, document)
    }

    fn confirm_url(&self, req: &Incoming, hosts: &[String]) -> Result<Option<url::Url>, VerifyError> {
        let Ok(msg) = serde_json::from_slice::<Value>(req.body) else { return Ok(None) };
        if msg.get("Type").and_then(Value::as_str) != Some("SubscriptionConfirmation") {
            return Ok(None);
        }
        let raw = text(&msg, "SubscribeURL")?;
        trusted_url(raw, hosts, "SubscribeURL (not on a trusted SNS host)").map(Some)
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let mut v = parse_json(req.body)?;
        let kind = v.get("Type").and_then(Value::as_str).and_then(Kind::of).ok_or("aws-sns: no known Type")?;
        let message_id = v.get("MessageId").and_then(id_string).ok_or("aws-sns: no MessageId")?;
        let topic = v.get("TopicArn").and_then(Value::as_str).ok_or("aws-sns: no TopicArn")?;
        let topic_name = topic.rsplit(':').next().unwrap_or(topic).to_string();
        let native = match kind {
            Kind::Notification => {
                let attrs = v.get("MessageAttributes");
                let attribute = ["eventType", "event_type", "type"]
                    .iter()
                    .find_map(|k| attrs?.get(*k)?.get("Value")?.as_str().filter(|s| !s.trim().is_empty()));
                let subject = v.get("Subject").and_then(Value::as_str).filter(|s| !s.trim().is_empty());
                clean_name(attribute.or(subject).unwrap_or("notification").trim())
            }
            Kind::SubscriptionConfirmation => "SubscriptionConfirmation".into(),
            Kind::UnsubscribeConfirmation => "UnsubscribeConfirmation".into(),
        };
        let event_type = match kind {
            Kind::Notification => native.clone(),
            Kind::SubscriptionConfirmation => "subscription_confirmation".into(),
            Kind::UnsubscribeConfirmation => "unsubscribe_confirmation".into(),
        };
        // `Message` as the JSON it holds, when it holds an object or an array.
        if let Some(parsed) = v
            .get("Message")
            .and_then(Value::as_str)
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .filter(|p| p.is_object() || p.is_array())
        {
            v["Message"] = parsed;
        }
        Ok(Normalized {
            event_type,
            entity_type: clean_name(&topic_name),
            entity_id: message_id.clone(),
            data: v,
            native_type: Some(native),
            delivery_id: Some(message_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;
    use serde_json::json;

    // A throwaway RSA-2048 key's self-signed certificate (valid 2020–2040) and messages signed with the key by
    // tests/inbound/sign/aws_sns.py (`cryptography`, following AWS's documentation); OTHER_CERT is another key's.
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIC2DCCAcCgAwIBAgIUGIiXjRNqz1FbaagaV33bConR8KcwDQYJKoZIhvcNAQEL\nBQAwJjEkMCIGA1UEAwwbc25zLnVzLWVhc3QtMS5hbWF6b25hd3MuY29tMB4XDTIw\nMDEwMTAwMDAwMFoXDTQwMDEwMTAwMDAwMFowJjEkMCIGA1UEAwwbc25zLnVzLWVh\nc3QtMS5hbWF6b25hd3MuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKC\nAQEAzPhhrfl4JejkcLWM/50t1RdbTapdbQllFnnxICr98jdIh57eCbbq/V8iwQxZ\niPdpoXNIoZaEaGI7ozO8RCK25/bKjWg4pebqM1JO3GB4gewycnDAV0auKTTOMs7c\nVnHgziqEQZujTYFs5WM8EOjnr5D6HsH9DCFGdbXeGBZx9wDT61XlZXKe9xtcx1xA\nSPAIZKQZaqhguBPel2XIxGehmO7oeLqw/LDHiZ56s3X6cYcX3fF7u2tnL/JHUvlp\nUdgfwFpywtW47U9uH7dk+NgRoEDMwoL2I/Wm/0MocGkcsvM4KPlzScxK+hKH45D3\nfyBnCp9mI8Cmp4J098QuF5zpqQIDAQABMA0GCSqGSIb3DQEBCwUAA4IBAQCoHHna\nntHPu+y4AqrXUu2k4NcEsmOHp5U2PEK117WCmcmveaB5sePwfvvE/xBL1p33RuVI\nWU23RPjeDQur07FRJyrx9Fri+z4L2f/bxxrjyDMtgdyYf+wzwHewV4rSuW1XLMRO\n9L/FwJR1JJag4cZxK5blYQue0Sht69uIpkvDwwARgQK1s729kRrXVunkNDIHU+Bn\n/wlwaS744e18YhtgPe4QpaWAOFBhuot/Tj8KjCKmODdLuCqHZgBntRTdbNOx6L12\nB0IKQ2pbImFlV6ajelfzHCF+lbs5qEvDBvJUlLRMtZDDFSewxF0ZrcM+A94QiovR\neTdF21cfveN6wAWw\n-----END CERTIFICATE-----\n";
    const OTHER_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIC2DCCAcCgAwIBAgIUXUOsqpoPikv4dlVsxjx1FQDYErYwDQYJKoZIhvcNAQEL\nBQAwJjEkMCIGA1UEAwwbc25zLnVzLWVhc3QtMS5hbWF6b25hd3MuY29tMB4XDTIw\nMDEwMTAwMDAwMFoXDTQwMDEwMTAwMDAwMFowJjEkMCIGA1UEAwwbc25zLnVzLWVh\nc3QtMS5hbWF6b25hd3MuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKC\nAQEAspFBArmb0KDeVSaItG3hVbEO3Sr0GPWqYn/F1bBQup5YDA61yPXBEiNiO3WS\nqZeEiDZLlRq4kh2Nmg9HmdzX956u5ee+LUc9kgZK6tCiIa27k1ey2Os+KNR2ENdC\nY8LHrquY+nQeh/05vjyM8ZnZ8hgmHLJhmP191nq5++gY9ON5CB0ZVx0oqK5FyMOD\nKU4nO6yA5vFOjXPQfwg8W+zVQt4h3Sy826B1m80smpLvV7Uys6/70kxSeXrNzXxV\nvkqpLtOJuRTL8BCQ/WoQ32HGtv0nCKxlqpJyHW2Ub/6RXWFHDfeNLpEBR4goCXuY\n5/P5PJMfrAuI/L0QAfifTvdKrwIDAQABMA0GCSqGSIb3DQEBCwUAA4IBAQAlKO1l\nGyfhDKCXnu7uLAhwLOAUboRs4fPCG5PhpWJ70XrhNiiME+Sw/n71nixo2Z76ZzNw\naIsmjHGmXkLmdhhBvX/X0/U0RmeOtJ7v24Gad0sXBO5JErPUBJXg65rghMWqU0FX\ni6oeMepsHkATT1jfYK7GGgtxHKYkNqcDP6DiwxbqengAJdrzt1hoSiC4yDsSe9LV\njsNUeOUqFaTscB4+jl3IPwaQQmR64BYB4mIFCOzqODr30+IiPv3MzA8HoYfgszvX\n0QQsJsdklliTZlHV+Opabc1dPxGpgljRl9Qrhsz0pvAdAAmDeKrlqSCzfuKe1MtI\ncaQtKki3nGqpuoTA\n-----END CERTIFICATE-----\n";
    /// A Notification with a Subject, SignatureVersion 1 (SHA1withRSA).
    const NOTIFICATION_V1: &str = r#"{"Type":"Notification","MessageId":"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Subject":"My First Message","Message":"Hello world!","Timestamp":"2024-05-02T00:54:06.655Z","SignatureVersion":"1","SigningCertURL":"https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem","UnsubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96","Signature":"XoVZAGITmCMFc6MwtU5yFXWlOOWZD3ZSfd1Hqx6jCEnmKUq7eMouDjXZgvlSfiDvhh7bGtl5DEIwoxrG4RxcHNlTnBe4fWco1q+4ekVTAnz1pv+2lzFU32tLMLbleybYAs6VEUPUn8r8FT218uWjjDFWWCehI8X1eEHWsA1XVfrHLlgN6YSRAbO5oc9Gg30Qgocj39b1IsKQCj+G4Md/rZl8va2WBE9MopRuaCU7zrGvTVmEwBhw3dMCxH12fV7EI9qMZG3VQIowMDuEM3Wgqlt3/zDm8fACR/Yof9j019YKu9MzUIgEw0tiEy6Bxjo9QxC9HZ/oUsOu/zoSi+SE2g=="}"#;
    /// A Notification without a Subject whose Message is JSON, with an `eventType` attribute; SignatureVersion 2.
    const NOTIFICATION_V2: &str = r#"{"Type":"Notification","MessageId":"da41e39f-ea4d-435a-b922-c6aae3915ebe","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Message":"{\"order\":{\"id\":\"o-1\"},\"total\":12}","Timestamp":"2024-05-02T00:54:06.655Z","SignatureVersion":"2","SigningCertURL":"https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem","UnsubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe","MessageAttributes":{"eventType":{"Type":"String","Value":"order.created"}},"Signature":"J2k+d3SI0CwPxQm0zHfomAAWvN73sHlJaVBKqFDoBLXiZ+HNV153T2L4IClJMS4C2Gvr9r/2tpA0BMlW/S4BluwBaPiimTKWFnKKAY3C17mVpF7rKPmwSicfaHF1DFobm6gZs4bmuxanyu73hH2+O1aClY9dbMo16che3zpAjRMYtGLpKkNJTVwmJY6Pw+gwU6FZnxa8jjMYUaQFkZ2Xu4mDUGwh5RuKpFD0t/Jmi8LmlAzqMQNFDhekxPNQpFCtBOqEXt7VvsOvnwZ08Icbsts4UEQvZ/d5YLOy7S/TH3R8hchkNBHa4/lMkoBIg6qzRl3A7C3sKepYJLguHTBmpg=="}"#;
    /// A SubscriptionConfirmation, SignatureVersion 1.
    const CONFIRMATION: &str = r#"{"Type":"SubscriptionConfirmation","MessageId":"165545c9-2a5c-472c-8df2-7ff2be2b3b1b","Token":"2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Message":"You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.","SubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37fb","Timestamp":"2024-04-26T20:45:04.751Z","SignatureVersion":"1","SigningCertURL":"https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem","Signature":"YozRWmFIOxFhn5NqY3sBSFZ3DgLEdzS86U+d79wjcDvXcYxBmnwv8RomM6pMONY3ZOhRVxm+IwFvHjCd9RuOoc5T/+oGCKESIpecuNYF6zIL0bP5Fay0zbPvLn9YZfz7aOUIzBJ19VyDpBdll234Ybal+/Dl9IXB89UHs4+X08cdCDTtAX8lvwf9mIQm5pxwheikVJxEU+6cpIsNHWBDY5Tesqzb0QdZZjqca9KXOpd5WVp8fAlLvo3EHps3g1nzyTB2OcAgLgeR/riVitnDXDJ1Ik/tLb39EE9dTCw7LqcLPbTVXkEEx+5FSYxx8/EP8QoLHvsy3KUxdqG+QiZcHw=="}"#;
    const TOPIC: &str = "arn:aws:sns:us-west-2:123456789012:MyTopic";
    /// 2024-05-02T00:54:06Z, the notifications' Timestamp; the confirmation's is 2024-04-26T20:45:04Z.
    const NOW: i64 = 1_714_611_246;
    const CONFIRMED_AT: i64 = 1_714_164_304;

    fn cfg() -> ProviderConfig {
        ProviderConfig { topic_arn: Some(vec![TOPIC.into()]), ..Default::default() }
    }

    fn run(body: &str, h: &[(&str, &str)], c: &ProviderConfig, now: i64, cert: &str) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now };
        AwsSns.verify_with_document(&req, &[], c, cert.as_bytes())
    }

    fn edit(body: &str, f: impl FnOnce(&mut Value)) -> String {
        let mut v: Value = serde_json::from_str(body).unwrap();
        f(&mut v);
        v.to_string()
    }

    #[test]
    fn string_to_sign_is_the_documented_one() {
        let v: Value = serde_json::from_str(NOTIFICATION_V1).unwrap();
        let s = String::from_utf8(string_to_sign(&v, Kind::Notification).unwrap()).unwrap();
        assert_eq!(
            s,
            format!(
                "Message\nHello world!\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nSubject\nMy First Message\n\
                 Timestamp\n2024-05-02T00:54:06.655Z\nTopicArn\n{TOPIC}\nType\nNotification\n"
            )
        );
        // No Subject: the field is left out, not signed empty.
        let v: Value = serde_json::from_str(NOTIFICATION_V2).unwrap();
        let s = String::from_utf8(string_to_sign(&v, Kind::Notification).unwrap()).unwrap();
        assert!(s.starts_with("Message\n{\"order\"") && !s.contains("Subject"), "{s}");
        let v: Value = serde_json::from_str(CONFIRMATION).unwrap();
        let s = String::from_utf8(string_to_sign(&v, Kind::SubscriptionConfirmation).unwrap()).unwrap();
        let fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"];
        let expected: String = fields.iter().map(|f| format!("{f}\n{}\n", v[f].as_str().unwrap())).collect();
        assert_eq!(s, expected);
        assert!(s.contains("\nTo confirm the subscription"), "the Message's own line break is signed as it is");
    }

    #[test]
    fn verifies_both_versions() {
        let h = [("x-amz-sns-message-type", "Notification")];
        assert_eq!(run(NOTIFICATION_V1, &h, &cfg(), NOW, CERT), Ok(()));
        assert_eq!(run(NOTIFICATION_V2, &h, &cfg(), NOW, CERT), Ok(()));
        assert_eq!(run(NOTIFICATION_V1, &[], &cfg(), NOW, CERT), Ok(()), "the header is not required");
        let c = [("x-amz-sns-message-type", "SubscriptionConfirmation")];
        assert_eq!(run(CONFIRMATION, &c, &cfg(), CONFIRMED_AT, CERT), Ok(()));
        // an hour either way, or the registration's tolerance; one of several topics
        assert_eq!(run(NOTIFICATION_V1, &h, &cfg(), NOW + 3600, CERT), Ok(()));
        assert_eq!(run(NOTIFICATION_V1, &h, &cfg(), NOW + 3601, CERT), Err(VerifyError::Stale));
        assert_eq!(run(NOTIFICATION_V1, &h, &cfg(), NOW - 3601, CERT), Err(VerifyError::Stale));
        let long = ProviderConfig { tolerance_seconds: Some(86_400), ..cfg() };
        assert_eq!(run(NOTIFICATION_V1, &h, &long, NOW + 86_000, CERT), Ok(()));
        let two =
            ProviderConfig { topic_arn: Some(vec!["arn:aws:sns:eu-west-1:1:Other".into(), TOPIC.into()]), ..cfg() };
        assert_eq!(run(NOTIFICATION_V1, &h, &two, NOW, CERT), Ok(()));
    }

    #[test]
    fn refuses() {
        let h = [("x-amz-sns-message-type", "Notification")];
        let c = cfg();
        let tampered = edit(NOTIFICATION_V1, |v| v["Message"] = json!("Hello world?"));
        assert_eq!(run(&tampered, &h, &c, NOW, CERT), Err(VerifyError::BadSignature));
        // a Subject added, or taken away, changes what is signed
        let added = edit(NOTIFICATION_V2, |v| v["Subject"] = json!("x"));
        assert_eq!(run(&added, &h, &c, NOW, CERT), Err(VerifyError::BadSignature));
        let removed = edit(NOTIFICATION_V1, |v| drop(v.as_object_mut().unwrap().remove("Subject")));
        assert_eq!(run(&removed, &h, &c, NOW, CERT), Err(VerifyError::BadSignature));
        // SHA1 signature claimed as version 2, and the other way round
        let v2 = edit(NOTIFICATION_V1, |v| v["SignatureVersion"] = json!("2"));
        assert_eq!(run(&v2, &h, &c, NOW, CERT), Err(VerifyError::BadSignature));
        let v1 = edit(NOTIFICATION_V2, |v| v["SignatureVersion"] = json!("1"));
        assert_eq!(run(&v1, &h, &c, NOW, CERT), Err(VerifyError::BadSignature));
        // another key's certificate
        assert_eq!(run(NOTIFICATION_V1, &h, &c, NOW, OTHER_CERT), Err(VerifyError::BadSignature));
        // another topic, even well signed
        let other = ProviderConfig { topic_arn: Some(vec!["arn:aws:sns:us-west-2:123456789012:Else".into()]), ..cfg() };
        assert_eq!(
            run(NOTIFICATION_V1, &h, &other, NOW, CERT),
            Err(VerifyError::Malformed("TopicArn (not one of providerConfig.topicArn)"))
        );
        // the header disagreeing with the body
        let sub = [("x-amz-sns-message-type", "SubscriptionConfirmation")];
        assert!(matches!(run(NOTIFICATION_V1, &sub, &c, NOW, CERT), Err(VerifyError::Malformed(_))));
        // the certificate outside its validity (2020–2040) at the message's time
        let late = ProviderConfig { tolerance_seconds: Some(u64::MAX / 4), ..cfg() };
        assert!(
            matches!(run(NOTIFICATION_V1, &h, &late, 2_300_000_000, CERT), Err(VerifyError::Malformed(m)) if m.contains("expired"))
        );
        for (field, value) in [
            ("SignatureVersion", json!("3")),
            ("Signature", json!("not base64!")),
            ("Timestamp", json!("yesterday")),
            ("Type", json!("Other")),
            ("Message", json!(7)),
        ] {
            let bad = edit(NOTIFICATION_V1, |v| v[field] = value.clone());
            assert!(matches!(run(&bad, &[], &c, NOW, CERT), Err(VerifyError::Malformed(_))), "{field}: {value}");
        }
        for field in ["Signature", "SignatureVersion", "Timestamp", "TopicArn", "Type", "Message", "MessageId"] {
            let missing = edit(NOTIFICATION_V1, |v| drop(v.as_object_mut().unwrap().remove(field)));
            assert_eq!(run(&missing, &[], &c, NOW, CERT), Err(VerifyError::Missing(field)), "{field}");
        }
        let no_token = edit(CONFIRMATION, |v| drop(v.as_object_mut().unwrap().remove("Token")));
        assert_eq!(run(&no_token, &[], &c, CONFIRMED_AT, CERT), Err(VerifyError::Missing("Token")));
        for body in ["", "[]", "{", "\"Notification\""] {
            assert!(matches!(run(body, &[], &c, NOW, CERT), Err(VerifyError::Malformed(_))), "{body:?}");
        }
        for cert in ["", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "garbage"] {
            assert!(matches!(run(NOTIFICATION_V1, &h, &c, NOW, cert), Err(VerifyError::Malformed(_))), "{cert:?}");
        }
        // without the certificate, nothing verifies
        let hm = headers(&h);
        let req = Incoming { headers: &hm, body: NOTIFICATION_V1.as_bytes(), url: "", now: NOW };
        assert!(matches!(AwsSns.verify(&req, &[], &c), Err(VerifyError::Config(_))));
    }

    #[test]
    fn trusted_hosts() {
        let aws = vec![AWS_HOSTS.to_string()];
        for ok in [
            "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
            "https://SNS.eu-central-1.amazonaws.com:443/x.pem",
        ] {
            assert!(trusted_url(ok, &aws, "f").is_ok(), "{ok}");
        }
        for bad in [
            "http://sns.us-west-2.amazonaws.com/x.pem",
            "https://sns.us-west-2.amazonaws.com:8443/x.pem",
            "https://sns.us-west-2.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-west-2.amazonaws.com/x.pem",
            "https://s3.us-west-2.amazonaws.com/x.pem",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.us_west.amazonaws.com/x.pem",
            "https://user@sns.us-west-2.amazonaws.com/x.pem",
            "https://evilsns.us-west-2.amazonaws.com/x.pem",
            "file:///etc/passwd",
            "not a url",
            "https://127.0.0.1:9000/x.pem",
        ] {
            assert_eq!(trusted_url(bad, &aws, "f"), Err(VerifyError::Malformed("f")), "{bad}");
        }
        // an operator's host, on its port, http allowed for it only
        let test = vec!["aws".to_string(), "127.0.0.1:9000".to_string()];
        assert!(trusted_url("http://127.0.0.1:9000/x.pem", &test, "f").is_ok());
        assert!(trusted_url("http://127.0.0.1:9001/x.pem", &test, "f").is_err());
        assert!(trusted_url("http://localhost:9000/x.pem", &test, "f").is_err());
        assert!(trusted_url("http://sns.us-west-2.amazonaws.com/x.pem", &test, "f").is_err());
        assert!(trusted_url("https://127.0.0.1:9000/x.pem", &["127.0.0.1".into()], "f").is_err());
    }

    #[test]
    fn fetches_and_confirmation_urls() {
        let aws = vec![AWS_HOSTS.to_string()];
        let h = headers(&[]);
        let req = Incoming { headers: &h, body: NOTIFICATION_V1.as_bytes(), url: "", now: NOW };
        let url = AwsSns.document_url(&req, &cfg(), &aws).unwrap().unwrap();
        assert_eq!(url.host_str(), Some("sns.us-west-2.amazonaws.com"));
        assert_eq!(AwsSns.confirm_url(&req, &aws), Ok(None));
        // no fetch for a message of another topic, a stale one, or a certificate elsewhere
        let other = ProviderConfig { topic_arn: Some(vec!["arn:aws:sns:us-west-2:1:Else".into()]), ..cfg() };
        assert!(AwsSns.document_url(&req, &other, &aws).is_err());
        let stale = Incoming { now: NOW + 7200, ..req };
        assert_eq!(AwsSns.document_url(&stale, &cfg(), &aws), Err(VerifyError::Stale));
        let elsewhere = edit(NOTIFICATION_V1, |v| v["SigningCertURL"] = json!("https://evil.example/cert.pem"));
        let req = Incoming { headers: &h, body: elsewhere.as_bytes(), url: "", now: NOW };
        assert_eq!(
            AwsSns.document_url(&req, &cfg(), &aws),
            Err(VerifyError::Malformed("SigningCertURL (not on a trusted SNS host)"))
        );

        let req = Incoming { headers: &h, body: CONFIRMATION.as_bytes(), url: "", now: CONFIRMED_AT };
        let url = AwsSns.confirm_url(&req, &aws).unwrap().unwrap();
        assert!(url.query().unwrap().contains("Action=ConfirmSubscription"), "{url}");
        let elsewhere = edit(CONFIRMATION, |v| v["SubscribeURL"] = json!("http://169.254.169.254/latest/meta-data"));
        let req = Incoming { headers: &h, body: elsewhere.as_bytes(), url: "", now: CONFIRMED_AT };
        assert_eq!(
            AwsSns.confirm_url(&req, &aws),
            Err(VerifyError::Malformed("SubscribeURL (not on a trusted SNS host)"))
        );
    }

    #[test]
    fn config_names_the_topic() {
        for c in [
            ProviderConfig::default(),
            ProviderConfig { topic_arn: Some(vec![]), ..Default::default() },
            ProviderConfig { topic_arn: Some(vec![" ".into()]), ..Default::default() },
            ProviderConfig { topic_arn: Some(vec!["MyTopic".into()]), ..Default::default() },
            ProviderConfig { topic_arn: Some(vec!["arn:aws:sqs:us-west-2:1:q".into()]), ..Default::default() },
        ] {
            let e = AwsSns.check_config(&c).unwrap_err();
            assert!(matches!(&e, VerifyError::Config(m) if m.contains("topicArn")), "{c:?}: {e:?}");
        }
        assert_eq!(AwsSns.check_config(&cfg()), Ok(()));
        // one ARN or a list, as JSON
        let one: ProviderConfig = serde_json::from_value(json!({"topicArn": TOPIC})).unwrap();
        let many: ProviderConfig = serde_json::from_value(json!({"topicArn": [TOPIC]})).unwrap();
        assert_eq!(
            (one.topic_arn.as_deref(), many.topic_arn.as_deref()),
            (cfg().topic_arn.as_deref(), cfg().topic_arn.as_deref())
        );
        assert!(serde_json::from_value::<ProviderConfig>(json!({"topicArn": 7})).is_err());
    }

    #[test]
    fn normalize() {
        let h = headers(&[]);
        let n = |body: &str| {
            let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: NOW };
            AwsSns.normalize(&req, &cfg()).unwrap()
        };
        let first = n(NOTIFICATION_V1);
        assert_eq!(
            (first.event_type.as_str(), first.entity_type.as_str(), first.entity_id.as_str()),
            ("My_First_Message", "MyTopic", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324")
        );
        assert_eq!(first.delivery_id.as_deref(), Some("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"));
        assert_eq!(first.data["Message"], "Hello world!");
        assert_eq!(first.data["TopicArn"], TOPIC);
        // the attribute before the Subject; the Message parsed
        let second = n(NOTIFICATION_V2);
        assert_eq!(second.native_type.as_deref(), Some("order.created"));
        assert_eq!(second.data["Message"]["order"]["id"], "o-1");
        let plain = n(&edit(NOTIFICATION_V2, |v| drop(v.as_object_mut().unwrap().remove("MessageAttributes"))));
        assert_eq!(plain.event_type, "notification");
        let number = n(&edit(NOTIFICATION_V2, |v| v["Message"] = json!("12")));
        assert_eq!(number.data["Message"], "12", "only objects and arrays are parsed");
        let conf = n(CONFIRMATION);
        assert_eq!(
            (conf.event_type.as_str(), conf.native_type.as_deref()),
            ("subscription_confirmation", Some("SubscriptionConfirmation"))
        );
        let unsub = n(&edit(CONFIRMATION, |v| v["Type"] = json!("UnsubscribeConfirmation")));
        assert_eq!(unsub.native_type.as_deref(), Some("UnsubscribeConfirmation"));
        for bad in ["[]", r#"{"Type":"Notification"}"#, r#"{"Type":"X","MessageId":"1","TopicArn":"a"}"#] {
            let req = Incoming { headers: &h, body: bad.as_bytes(), url: "", now: NOW };
            assert!(AwsSns.normalize(&req, &cfg()).is_err(), "{bad}");
        }
    }
}
