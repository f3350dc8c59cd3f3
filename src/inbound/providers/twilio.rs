//! Twilio: `X-Twilio-Signature` = base64 HMAC-SHA1(auth token, URL + every POST parameter sorted by name, each
//! as name+value), exactly as twilio-python's `RequestValidator` computes and checks it: repeated names give
//! their distinct values sorted; the URL is tried without and with its default port (Twilio is inconsistent
//! there); a JSON body is not signed as parameters but by the URL's `bodySHA256` query parameter (hex SHA-256
//! of the body), which must match. With the SharedKey mode, `X-Twilio-Webhooks-Signature-Settings:
//! key=…,algorithm=HMAC_SHA256` switches to HMAC-SHA256. The URL is `Incoming::url`, query included.
//!
//! Normalisation: an SMS → eventType `received` (or the `MessageStatus` of a status callback), entityType
//! `message`, entityId `MessageSid`, native name `message.received`; calls, recordings and transcriptions
//! likewise (`call.ringing`, `recording.completed` …). Dedup by `I-Twilio-Idempotency-Token`, else the Sid
//! (with the status of a status callback, since every callback of one message or call shares its Sid).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::form_urlencoded;

use super::*;

pub struct Twilio;

const SIGNATURE: &str = "X-Twilio-Signature";
const SETTINGS: &str = "X-Twilio-Webhooks-Signature-Settings";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Algorithm {
    Sha1,
    Sha256,
}

impl Algorithm {
    /// From `key=<sharedKeyId>,algorithm=<name>`; none (or no `algorithm=`) is the Auth Token's HMAC-SHA1.
    fn from_settings(header: Option<&str>) -> Result<Self, VerifyError> {
        let named = header.unwrap_or("").split(',').find_map(|part| {
            let (name, value) = part.split_once('=')?;
            (name.trim() == "algorithm" && !value.trim().is_empty()).then(|| value.trim())
        });
        match named.map(str::to_ascii_uppercase).as_deref() {
            None | Some("HMAC_SHA1") => Ok(Self::Sha1),
            Some("HMAC_SHA256") => Ok(Self::Sha256),
            Some(_) => Err(VerifyError::Malformed(SETTINGS)),
        }
    }

    fn len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                let mut m = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Self::Sha256 => hmac_sha256(key, &[data]).to_vec(),
        }
    }
}

fn is_form(req: &Incoming) -> bool {
    req.header("content-type").is_some_and(|c| c.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

/// The URL as called, then without and with its port, as `RequestValidator.validate` tries it.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some(scheme_end) = url.find("://") else {
        return out;
    };
    let start = scheme_end + 3;
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let authority = &url[start..end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let hostport = &authority[host_start..];
    let port_at = match hostport.rfind(':') {
        // `[::1]:8080` has a port, `[::1]` has none.
        Some(i) if !hostport[i..].contains(']') && hostport[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            Some(start + host_start + i)
        }
        _ => None,
    };
    match port_at {
        Some(colon) => out.push(format!("{}{}", &url[..colon], &url[end..])),
        None => {
            let port = if url[..scheme_end].eq_ignore_ascii_case("https") { 443 } else { 80 };
            out.push(format!("{}:{port}{}", &url[..end], &url[end..]));
        }
    }
    out
}

/// The first value of a query parameter of `url`.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

impl Provider for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn about(&self) -> About {
        About {
            title: "Twilio",
            uses_secret: true,
            secret: "Your account's Auth Token (Twilio Console → Account info). Twilio signs the URL it calls: \
                     HOOKD_PUBLIC_URL must be the address Twilio uses.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], _cfg: &ProviderConfig) -> Result<(), VerifyError> {
        let header = req.header(SIGNATURE).ok_or(VerifyError::Missing(SIGNATURE))?;
        let algorithm = Algorithm::from_settings(req.header(SETTINGS))?;
        let given = base64::engine::general_purpose::STANDARD
            .decode(header.trim())
            .ok()
            .filter(|b| b.len() == algorithm.len())
            .ok_or(VerifyError::Malformed(SIGNATURE))?;

        // What is signed after the URL: the sorted POST parameters, or nothing when the URL's bodySHA256
        // covers the body.
        let mut params = String::new();
        if let Some(expected) = query_param(req.url, "bodySHA256") {
            let actual = hex::encode(Sha256::digest(req.body));
            if !ct_eq(actual.as_bytes(), expected.as_bytes()) {
                return Err(VerifyError::BadSignature);
            }
        } else if is_form(req) || req.header("content-type").is_none() {
            let mut sorted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (k, v) in form_urlencoded::parse(req.body) {
                sorted.entry(k.into_owned()).or_default().insert(v.into_owned());
            }
            for (name, values) in &sorted {
                for value in values {
                    params.push_str(name);
                    params.push_str(value);
                }
            }
        } else {
            // A body that is neither form parameters nor covered by bodySHA256 would go unauthenticated.
            return Err(VerifyError::Missing("bodySHA256 (a non-form body must be covered by it)"));
        }

        let signed: Vec<String> = url_variants(req.url).into_iter().map(|u| u + &params).collect();
        any_secret(secrets, |s| {
            signed.iter().fold(false, |ok, text| ok | ct_eq(&algorithm.mac(s.as_bytes(), text.as_bytes()), &given))
        })
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let token = req.header("I-Twilio-Idempotency-Token").filter(|t| !t.is_empty()).map(str::to_string);
        let json = !is_form(req)
            && (req.header("content-type").is_some_and(|c| c.contains("json")) || {
                let first = req.body.iter().find(|b| !b.is_ascii_whitespace());
                matches!(first, Some(b'{' | b'['))
            });
        if !json {
            let mut fields = Map::new();
            for (k, v) in form_urlencoded::parse(req.body) {
                let v = Value::String(v.into_owned());
                match fields.get_mut(k.as_ref()) {
                    Some(Value::Array(all)) => all.push(v),
                    Some(one) => *one = Value::Array(vec![one.take(), v]),
                    None => {
                        fields.insert(k.into_owned(), v);
                    }
                }
            }
            return Ok(from_params(Value::Object(fields), token));
        }
        let data: Value = serde_json::from_slice(req.body).map_err(|e| format!("the body is not JSON: {e}"))?; // Event Streams batch in arrays
                                                                                                               // Event Streams deliver CloudEvents (`type` = `com.twilio.messaging.message.delivered`), in batches.
        let first = match &data {
            Value::Array(all) => all.first().cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        let Some(kind) = first.get("type").and_then(Value::as_str) else {
            if first.is_object() && !data.is_array() {
                return Ok(from_params(data, token)); // a JSON body of the usual parameters
            }
            return Err("a Twilio JSON body is an object of parameters or CloudEvents with a `type`".into());
        };
        let mut segments = kind.rsplit('.');
        let event_type = segments.next().unwrap_or(kind);
        let entity_type = segments.next().unwrap_or("event");
        let inner = first.get("data");
        let entity_id = ["sid", "messageSid", "callSid"]
            .iter()
            .find_map(|k| id_text(inner.and_then(|d| d.get(*k))))
            .or_else(|| id_text(first.get("id")))
            .unwrap_or_default();
        Ok(Normalized {
            event_type: clean_name(event_type),
            entity_type: clean_name(entity_type),
            entity_id,
            native_type: Some(clean_name(kind)),
            delivery_id: token.or_else(|| id_text(first.get("id"))),
            data,
        })
    }
}

/// The normalised event of webhook parameters (a form body, or a JSON object of the same parameters).
fn from_params(data: Value, token: Option<String>) -> Normalized {
    let text = |k: &str| match data.get(k) {
        Some(Value::Array(all)) => id_text(all.first()),
        v => id_text(v),
    };
    // Most specific first: a transcription callback also names its recording and call.
    // (entity type, id params, default event, status params, status prefix)
    type Kind = (&'static str, &'static [&'static str], &'static str, &'static [&'static str], &'static str);
    const KINDS: &[Kind] = &[
        ("transcription", &["TranscriptionSid"], "TranscriptionStatus", &[], "completed"),
        ("recording", &["RecordingSid"], "RecordingStatus", &[], "completed"),
        ("message", &["MessageSid", "SmsMessageSid", "SmsSid"], "MessageStatus", &["SmsStatus"], "received"),
        ("call", &["CallSid"], "CallStatus", &[], "received"),
    ];
    let found = KINDS.iter().find_map(|(kind, sids, status, other_status, default)| {
        let sid = sids.iter().find_map(|s| text(s))?;
        let callback = text(status);
        let state = callback.clone().or_else(|| other_status.iter().find_map(|s| text(s)));
        Some((*kind, sid, state.unwrap_or_else(|| default.to_string()).to_ascii_lowercase(), callback.is_some()))
    });
    let (entity_type, entity_id, event_type, callback) = match found {
        Some(f) => f,
        None => {
            // Other products (Conversations …) name the event in `EventType`.
            let event = text("EventType").unwrap_or_else(|| "received".into());
            let sid = data
                .as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.ends_with("Sid") && *k != "AccountSid"))
                .and_then(|(_, v)| id_text(Some(v)))
                .or_else(|| text("AccountSid"))
                .unwrap_or_default();
            ("event", sid, event, false)
        }
    };
    let delivery_id = token.or_else(|| match callback {
        true => Some(format!("{entity_id}:{event_type}")),
        false => (!entity_id.is_empty()).then(|| entity_id.clone()),
    });
    Normalized {
        native_type: Some(clean_name(&format!("{entity_type}.{event_type}"))),
        event_type: clean_name(&event_type),
        entity_type: entity_type.to_string(),
        entity_id,
        delivery_id,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    const FORM: &str = "application/x-www-form-urlencoded";

    /// Twilio's documentation vector.
    const DOCS_TOKEN: &str = "12345";
    const DOCS_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOCS_BODY: &str =
        "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    const DOCS_SIG: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    // Made by twilio-python 9.13.0 `RequestValidator.compute_signature` (and `compute_hash`) through
    // tests/inbound/sign/twilio.py.
    /// The SMS of tests/inbound/cases/twilio.json.
    const SMS_TOKEN: &str = "9f3c2b1a0e8d7c6b5a4f3e2d1c0b9a8f";
    const SMS_URL: &str = "http://127.0.0.1:8080/webhooks/reg_1";
    const SMS_BODY: &str = "ToCountry=US&ToState=CA&SmsMessageSid=SM5e8b1c3f0d2a4e6b8c0d1e2f3a4b5c6d&NumMedia=0&ToCity=SAN+FRANCISCO&FromZip=94105&SmsSid=SM5e8b1c3f0d2a4e6b8c0d1e2f3a4b5c6d&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=Hello+%26+caf%C3%A9%3F+%E2%98%95&FromCountry=US&To=%2B14155550100&ToZip=94105&NumSegments=1&MessageSid=SM5e8b1c3f0d2a4e6b8c0d1e2f3a4b5c6d&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B14155550199&ApiVersion=2010-04-01";
    const SMS_SIG: &str = "s/DaWGKeK99OgSorVUY+i7ASGYQ=";
    /// A JSON body: the URL carries bodySHA256 (token SMS_TOKEN).
    const JSON_BODY: &str = r#"{"CallSid":"CA1","CallStatus":"completed"}"#;
    const JSON_URL: &str = "http://127.0.0.1:8080/webhooks/reg_1?bodySHA256=a0a5adcb584e9811c4ee5f334feef749f008b3b108d62d5addee051f9731b526";
    const JSON_SIG: &str = "DuTEQrS9S/qO2bIGm9QZknHPMBw=";
    const JSON_URL_Q: &str = "http://127.0.0.1:8080/webhooks/reg_1?x=1&bodySHA256=a0a5adcb584e9811c4ee5f334feef749f008b3b108d62d5addee051f9731b526";
    const JSON_SIG_Q: &str = "nmrPIwwDeypSReI7p9zUxtpT78I=";
    /// A status callback with a repeated parameter, SharedKey mode (HMAC_SHA256), key `sharedkey-secret`.
    const SK_URL: &str = "https://hooks.example.com/webhooks/reg_1";
    const SK_BODY: &str = "MessageSid=SM1&MessageStatus=delivered&To=%2B1&Tag=b&Tag=a";
    const SK_SIG: &str = "MjX4u/hzCGkFqocXbEmKDPaXd/NaQfYzw+RBPtCZTpA=";
    const SK_SETTINGS: &str = "key=webhooks_sharedkey_test,algorithm=HMAC_SHA256";
    /// SK_BODY signed (HMAC-SHA1, token `tok`) at `https://hooks.example.com:443/webhooks/reg_1`.
    const PORT_SIG: &str = "GwGy2QFeDIHE1ZuIqterp2Qiir4=";

    fn check(url: &str, body: &str, h: &[(&str, &str)], secrets: &[&str]) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url, now: 1_700_000_000 };
        Twilio.verify(&req, secrets, &ProviderConfig::default())
    }

    fn form(sig: &str) -> [(&str, &str); 2] {
        [(SIGNATURE, sig), ("Content-Type", FORM)]
    }

    #[test]
    fn docs_vector() {
        assert_eq!(check(DOCS_URL, DOCS_BODY, &form(DOCS_SIG), &[DOCS_TOKEN]), Ok(()));
        // the parameters' order in the body does not matter
        let shuffled =
            "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&From=%2B12349013030&Caller=%2B12349013030";
        assert_eq!(check(DOCS_URL, shuffled, &form(DOCS_SIG), &[DOCS_TOKEN]), Ok(()));
    }

    #[test]
    fn library_vectors() {
        assert_eq!(check(SMS_URL, SMS_BODY, &form(SMS_SIG), &[SMS_TOKEN]), Ok(()));
        assert_eq!(check(SMS_URL, SMS_BODY, &form(SMS_SIG), &["old-token", SMS_TOKEN]), Ok(()));
        let json = [(SIGNATURE, JSON_SIG), ("Content-Type", "application/json")];
        assert_eq!(check(JSON_URL, JSON_BODY, &json, &[SMS_TOKEN]), Ok(()));
        let json = [(SIGNATURE, JSON_SIG_Q), ("Content-Type", "application/json")];
        assert_eq!(check(JSON_URL_Q, JSON_BODY, &json, &[SMS_TOKEN]), Ok(()));
        let sk = [(SIGNATURE, SK_SIG), ("Content-Type", FORM), (SETTINGS, SK_SETTINGS)];
        assert_eq!(check(SK_URL, SK_BODY, &sk, &["sharedkey-secret"]), Ok(()));
        // signed with :443, called without it (and the other way round)
        assert_eq!(check(SK_URL, SK_BODY, &form(PORT_SIG), &["tok"]), Ok(()));
        assert_eq!(check("https://hooks.example.com:443/webhooks/reg_1", SK_BODY, &form(PORT_SIG), &["tok"]), Ok(()));
    }

    #[test]
    fn url_variants_follow_the_library() {
        assert_eq!(url_variants("https://a.com/x?y=1"), ["https://a.com/x?y=1", "https://a.com:443/x?y=1"]);
        assert_eq!(url_variants("http://a.com:8080/x"), ["http://a.com:8080/x", "http://a.com/x"]);
        assert_eq!(url_variants("http://u:p@a.com?q"), ["http://u:p@a.com?q", "http://u:p@a.com:80?q"]);
        assert_eq!(url_variants("http://[::1]:81/x"), ["http://[::1]:81/x", "http://[::1]/x"]);
        assert_eq!(url_variants("http://[::1]/x"), ["http://[::1]/x", "http://[::1]:80/x"]);
        assert_eq!(url_variants("no-scheme"), ["no-scheme"]);
    }

    #[test]
    fn refusals() {
        let changed = SMS_BODY.replacen("Hello", "Hellp", 1);
        assert_eq!(check(SMS_URL, &changed, &form(SMS_SIG), &[SMS_TOKEN]), Err(VerifyError::BadSignature));
        // an added parameter, a changed URL
        let added = format!("{SMS_BODY}&Extra=1");
        assert_eq!(check(SMS_URL, &added, &form(SMS_SIG), &[SMS_TOKEN]), Err(VerifyError::BadSignature));
        assert_eq!(
            check("http://127.0.0.1:8080/webhooks/reg_2", SMS_BODY, &form(SMS_SIG), &[SMS_TOKEN]),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(check(SMS_URL, SMS_BODY, &form(SMS_SIG), &["wrong"]), Err(VerifyError::BadSignature));
        assert_eq!(
            check(SMS_URL, SMS_BODY, &[("Content-Type", FORM)], &[SMS_TOKEN]),
            Err(VerifyError::Missing(SIGNATURE))
        );
        for bad in ["", "not base64!", "s/DaWGKeK99O", SK_SIG] {
            assert_eq!(
                check(SMS_URL, SMS_BODY, &form(bad), &[SMS_TOKEN]),
                Err(VerifyError::Malformed(SIGNATURE)),
                "{bad}"
            );
        }
        // the SharedKey algorithm must be one the library knows, and must be the one used
        let sk = [(SIGNATURE, SK_SIG), ("Content-Type", FORM), (SETTINGS, "key=k,algorithm=HMAC_MD5")];
        assert_eq!(check(SK_URL, SK_BODY, &sk, &["sharedkey-secret"]), Err(VerifyError::Malformed(SETTINGS)));
        let sk = [(SIGNATURE, PORT_SIG), ("Content-Type", FORM), (SETTINGS, SK_SETTINGS)];
        assert_eq!(check(SK_URL, SK_BODY, &sk, &["tok"]), Err(VerifyError::Malformed(SIGNATURE)));

        // JSON: a changed body breaks bodySHA256; a JSON body without bodySHA256 is refused
        let json = [(SIGNATURE, JSON_SIG), ("Content-Type", "application/json")];
        let changed = JSON_BODY.replace("completed", "completex");
        assert_eq!(check(JSON_URL, &changed, &json, &[SMS_TOKEN]), Err(VerifyError::BadSignature));
        assert_eq!(check(JSON_URL, JSON_BODY, &json, &["wrong"]), Err(VerifyError::BadSignature));
        let bare = JSON_URL.split('?').next().unwrap();
        assert!(matches!(check(bare, JSON_BODY, &json, &[SMS_TOKEN]), Err(VerifyError::Missing(_))));
        // a tampered bodySHA256 no longer matches the signed URL
        let forged = format!("{bare}?bodySHA256={}", hex::encode(Sha256::digest(changed.as_bytes())));
        assert_eq!(check(&forged, &changed, &json, &[SMS_TOKEN]), Err(VerifyError::BadSignature));
    }

    fn normalize(body: &str, h: &[(&str, &str)]) -> Normalized {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 0 };
        Twilio.normalize(&req, &ProviderConfig::default()).unwrap()
    }

    #[test]
    fn normalizes_messages_and_calls() {
        let n = normalize(SMS_BODY, &[("Content-Type", FORM)]);
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("received", "message", "SM5e8b1c3f0d2a4e6b8c0d1e2f3a4b5c6d")
        );
        assert_eq!(n.native_type.as_deref(), Some("message.received"));
        assert_eq!(n.delivery_id.as_deref(), Some("SM5e8b1c3f0d2a4e6b8c0d1e2f3a4b5c6d"));
        assert_eq!(n.data["Body"], "Hello & café? ☕");

        let n = normalize(SK_BODY, &[("Content-Type", FORM), ("I-Twilio-Idempotency-Token", "tok-1")]);
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("delivered", "message", "SM1")
        );
        assert_eq!(n.native_type.as_deref(), Some("message.delivered"));
        assert_eq!(n.delivery_id.as_deref(), Some("tok-1"));
        assert_eq!(n.data["Tag"], serde_json::json!(["b", "a"]));
        // without the token, a status callback is told apart from the other callbacks of its message
        let n = normalize(SK_BODY, &[("Content-Type", FORM)]);
        assert_eq!(n.delivery_id.as_deref(), Some("SM1:delivered"));

        let n = normalize(DOCS_BODY, &[("Content-Type", FORM)]);
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("received", "call", "CA1234567890ABCDE")
        );
        let n = normalize(
            "CallSid=CA9&CallStatus=in-progress&RecordingSid=RE1&RecordingStatus=completed",
            &[("Content-Type", FORM)],
        );
        assert_eq!((n.native_type.as_deref(), n.entity_id.as_str()), (Some("recording.completed"), "RE1"));
        let n =
            normalize("ConversationSid=CH1&EventType=onConversationAdded&AccountSid=AC1", &[("Content-Type", FORM)]);
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("onConversationAdded", "event", "CH1")
        );

        let n = normalize(JSON_BODY, &[("Content-Type", "application/json")]);
        assert_eq!((n.native_type.as_deref(), n.entity_id.as_str()), (Some("call.completed"), "CA1"));
        assert_eq!(n.delivery_id.as_deref(), Some("CA1:completed"));
    }

    #[test]
    fn normalizes_event_streams() {
        let body = r#"[{"specversion":"1.0","type":"com.twilio.messaging.message.delivered","source":"/2010-04-01/Accounts/AC1/Messages/SM7.json","id":"EZ1","data":{"messageSid":"SM7","messageStatus":"DELIVERED"}}]"#;
        let n = normalize(body, &[("Content-Type", "application/json")]);
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("delivered", "message", "SM7")
        );
        assert_eq!(n.native_type.as_deref(), Some("com.twilio.messaging.message.delivered"));
        assert_eq!(n.delivery_id.as_deref(), Some("EZ1"));
        let h = headers(&[("Content-Type", "application/json")]);
        for body in ["[]", "[1]", "{not json"] {
            let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 0 };
            assert!(Twilio.normalize(&req, &ProviderConfig::default()).is_err(), "{body}");
        }
    }
}
