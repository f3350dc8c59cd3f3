//! Google Pub/Sub push with authentication: `Authorization: Bearer <JWT>`, an RS256 OIDC token signed by Google.
//! Offline (hookd never fetches Google's keys), the keys come from the registration: `providerConfig.jwks` (a JWKS
//! document, the key picked by the token's `kid`) and/or `providerConfig.pem` (PEM public keys — SPKI `PUBLIC KEY`
//! or PKCS#1 `RSA PUBLIC KEY` — or X.509 `CERTIFICATE`s as Google publishes at
//! `https://www.googleapis.com/oauth2/v1/certs`; tried in turn). The registration's secrets are not used.
//!
//! Checked, as `google.oauth2.id_token.verify_oauth2_token` does: the signature (RS256 only), `aud` ==
//! `providerConfig.audience` (required), `iss` in `providerConfig.issuers` (default `https://accounts.google.com`,
//! `accounts.google.com`), `exp` and `iat` present and within 60 s of `req.now` (`toleranceSeconds` overrides),
//! and, when `serviceAccountEmail` is configured, `email` equal to it with `email_verified` true.
//!
//! The JWT does not cover the body: Pub/Sub push authenticates the sender, not the bytes.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::*;

pub struct GooglePubSub;

pub const DEFAULT_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
pub const DEFAULT_LEEWAY: u64 = 60;

fn config_err(msg: &str) -> VerifyError {
    VerifyError::Config(format!("google: {msg}"))
}

/// The configured keys, each with its `kid` when it has one (JWKS), those matching `kid` first.
fn candidate_keys(cfg: &ProviderConfig, kid: Option<&str>) -> Result<Vec<DecodingKey>, VerifyError> {
    let mut by_kid = Vec::new();
    let mut others = Vec::new();
    if let Some(jwks) = &cfg.jwks {
        let keys: Vec<Value> = match jwks {
            Value::Object(o) => match o.get("keys") {
                Some(Value::Array(a)) => a.clone(),
                Some(_) => return Err(config_err("providerConfig.jwks.keys must be an array")),
                None => vec![jwks.clone()], // a single JWK
            },
            Value::Array(a) => a.clone(),
            _ => return Err(config_err("providerConfig.jwks must be a JWKS document {\"keys\": […]}")),
        };
        for k in &keys {
            if k.get("kty").and_then(Value::as_str) != Some("RSA") {
                continue; // not a key that can make RS256
            }
            if k.get("alg").and_then(Value::as_str).is_some_and(|a| a != "RS256")
                || k.get("use").and_then(Value::as_str).is_some_and(|u| u != "sig")
            {
                continue;
            }
            let (Some(n), Some(e)) = (k.get("n").and_then(Value::as_str), k.get("e").and_then(Value::as_str)) else {
                return Err(config_err("a JWKS RSA key lacks n or e"));
            };
            let key = DecodingKey::from_rsa_components(n, e)
                .map_err(|_| config_err("a JWKS RSA key's n or e is not base64url"))?;
            match (kid, k.get("kid").and_then(Value::as_str)) {
                (Some(want), Some(have)) if want == have => by_kid.push(key),
                (Some(_), Some(_)) => {} // another key
                _ => others.push(key),
            }
        }
    }
    for pem in cfg.pem.iter().flatten() {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            config_err("providerConfig.pem holds something that is not an RSA public key or certificate")
        })?;
        others.push(key);
    }
    if cfg.jwks.is_none() && cfg.pem.as_ref().is_none_or(|p| p.is_empty()) {
        return Err(config_err("providerConfig.jwks or providerConfig.pem (Google's signing keys) is required"));
    }
    by_kid.extend(others);
    Ok(by_kid)
}

fn audience_of(cfg: &ProviderConfig) -> Result<&str, VerifyError> {
    cfg.audience.as_deref().filter(|a| !a.is_empty()).ok_or_else(|| config_err("providerConfig.audience is required"))
}

/// Whether the `aud` claim (a string or an array) names `audience`.
fn audience_matches(aud: Option<&Value>, audience: &str) -> bool {
    match aud {
        Some(Value::String(s)) => s == audience,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience)),
        _ => false,
    }
}

impl Provider for GooglePubSub {
    fn name(&self) -> &'static str {
        "google"
    }

    fn about(&self) -> About {
        About {
            title: "Google Pub/Sub push",
            uses_secret: false,
            secret: "No secret: the provider settings name the push subscription's audience and Google's signing \
                     keys, {\"audience\": \"…\", \"jwks\": {\"keys\": […]}} or \"pem\": […].",
        }
    }

    fn check_config(&self, cfg: &ProviderConfig) -> Result<(), VerifyError> {
        audience_of(cfg)?;
        if candidate_keys(cfg, None)?.is_empty() {
            return Err(config_err("providerConfig.jwks holds no RSA key for RS256 signatures"));
        }
        Ok(())
    }

    fn verify(&self, req: &Incoming, _secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        let audience = audience_of(cfg)?;
        let auth = req.header("authorization").ok_or(VerifyError::Missing("Authorization"))?;
        let token = auth
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or(VerifyError::Malformed("Authorization (not a Bearer token)"))?;
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed("Authorization (not a JWT)"))?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::Malformed("JWT alg (not RS256)"));
        }
        let keys = candidate_keys(cfg, header.kid.as_deref())?;

        // The signature only: the claims are checked below against req.now, never the clock.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let mut claims = None;
        for key in &keys {
            match jsonwebtoken::decode::<Value>(token, key, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => continue,
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)) => continue,
                Err(_) => return Err(VerifyError::Malformed("JWT")),
            }
        }
        let claims = claims.ok_or(VerifyError::BadSignature)?;

        let leeway = cfg.tolerance_seconds.unwrap_or(DEFAULT_LEEWAY) as i64;
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or(VerifyError::Missing("JWT exp"))?;
        let iat = claims.get("iat").and_then(Value::as_i64).ok_or(VerifyError::Missing("JWT iat"))?;
        if req.now > exp.saturating_add(leeway) || iat > req.now.saturating_add(leeway) {
            return Err(VerifyError::Stale);
        }
        if !audience_matches(claims.get("aud"), audience) {
            return Err(VerifyError::Malformed("JWT aud (not the configured audience)"));
        }
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or_default();
        let issuer_ok = match &cfg.issuers {
            Some(list) if !list.is_empty() => list.iter().any(|i| i == iss),
            _ => DEFAULT_ISSUERS.contains(&iss),
        };
        if !issuer_ok {
            return Err(VerifyError::Malformed("JWT iss (not an accepted issuer)"));
        }
        if let Some(email) = cfg.service_account_email.as_deref().filter(|e| !e.is_empty()) {
            let verified = claims.get("email_verified").and_then(Value::as_bool).unwrap_or(false);
            if claims.get("email").and_then(Value::as_str) != Some(email) || !verified {
                return Err(VerifyError::Malformed("JWT email (not the configured service account)"));
            }
        }
        Ok(())
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let v = parse_json(req.body)?;
        let message = v.get("message").filter(|m| m.is_object()).ok_or("google: no message")?;
        let attributes = message.get("attributes");
        let attr = |k: &str| attributes.and_then(|a| a.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty());
        let message_id = ["messageId", "message_id"].iter().find_map(|k| message.get(*k).and_then(id_string));

        let decoded = match message.get("data").and_then(Value::as_str) {
            Some(d) => {
                let bytes = b64_decode(d).ok_or("google: message.data is not base64")?;
                Some(
                    serde_json::from_slice::<Value>(&bytes)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
                )
            }
            None => None,
        };
        // The seed's parser: {"resourceName": "people/c123", …} → entity people / c123.
        let resource = decoded
            .as_ref()
            .and_then(|d| d.get("resourceName"))
            .and_then(Value::as_str)
            .or_else(|| attr("resourceName"))
            .filter(|s| !s.is_empty());
        let (entity_type, entity_id) = match resource {
            Some(r) => match r.rsplit_once('/') {
                Some((collection, id)) if !id.is_empty() => {
                    (collection.rsplit('/').next().unwrap_or("people").to_string(), id.to_string())
                }
                _ => ("people".to_string(), r.to_string()),
            },
            None => (
                attr("entityType").unwrap_or("people").to_string(),
                decoded
                    .as_ref()
                    .and_then(|d| d.get("id"))
                    .and_then(id_string)
                    .or_else(|| message_id.clone())
                    .unwrap_or_default(),
            ),
        };
        let entity_type = clean_name(&entity_type);
        let native = attr("eventType").map(clean_name).unwrap_or_else(|| format!("{entity_type}.updated"));
        let data = match decoded {
            Some(d @ Value::Object(_)) => d,
            _ => message.clone(),
        };
        Ok(Normalized {
            event_type: "updated".into(),
            entity_type,
            entity_id,
            data,
            native_type: Some(native),
            delivery_id: message_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;
    use serde_json::json;

    // A throwaway 2048-bit RSA key pair made with `cryptography` (the private half is in
    // tests/inbound/cases/google.json); key B is another one.
    const JWK_N: &str = "ssPEhOxrKBHuFj9I71nz4MYRj4TRJw-CW3OoUrQMLMcMxwl-ZDy_s1fKk1PZH7QmUcsyMOZO761zbXwfjs1IhdQLrORBjejKPVUmAUcz38wrhLMUjq5YQD4_OdeYINDg2E9p3VKCSB5pshvzwSxuPCMfyAYZd1jMSv1eIcYs3xUox4-GpFSe-ie4j7Gz--DzeEiPXLTpAYNYGRjFhTTz3U_ZoQCbKKN5W1H_a_8gfxY20pmUltEzEx_Omrj1t_lpRpP6qiPLtUCppbVCJt-Lt-fDb4YkLLDb5PI8iQJ6R2TBaX0Xa4ziwFuW8CNGu2lrubgucQsir9Cf5zojCPwvuw";
    const JWK_E: &str = "AQAB";
    const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAssPEhOxrKBHuFj9I71nz\n4MYRj4TRJw+CW3OoUrQMLMcMxwl+ZDy/s1fKk1PZH7QmUcsyMOZO761zbXwfjs1I\nhdQLrORBjejKPVUmAUcz38wrhLMUjq5YQD4/OdeYINDg2E9p3VKCSB5pshvzwSxu\nPCMfyAYZd1jMSv1eIcYs3xUox4+GpFSe+ie4j7Gz++DzeEiPXLTpAYNYGRjFhTTz\n3U/ZoQCbKKN5W1H/a/8gfxY20pmUltEzEx/Omrj1t/lpRpP6qiPLtUCppbVCJt+L\nt+fDb4YkLLDb5PI8iQJ6R2TBaX0Xa4ziwFuW8CNGu2lrubgucQsir9Cf5zojCPwv\nuwIDAQAB\n-----END PUBLIC KEY-----\n";
    const PKCS1_PEM: &str = "-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEAssPEhOxrKBHuFj9I71nz4MYRj4TRJw+CW3OoUrQMLMcMxwl+ZDy/\ns1fKk1PZH7QmUcsyMOZO761zbXwfjs1IhdQLrORBjejKPVUmAUcz38wrhLMUjq5Y\nQD4/OdeYINDg2E9p3VKCSB5pshvzwSxuPCMfyAYZd1jMSv1eIcYs3xUox4+GpFSe\n+ie4j7Gz++DzeEiPXLTpAYNYGRjFhTTz3U/ZoQCbKKN5W1H/a/8gfxY20pmUltEz\nEx/Omrj1t/lpRpP6qiPLtUCppbVCJt+Lt+fDb4YkLLDb5PI8iQJ6R2TBaX0Xa4zi\nwFuW8CNGu2lrubgucQsir9Cf5zojCPwvuwIDAQAB\n-----END RSA PUBLIC KEY-----\n";
    const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIICozCCAYugAwIBAgIBATANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDDApob29r\nZC10ZXN0MB4XDTIwMDEwMTAwMDAwMFoXDTQwMDEwMTAwMDAwMFowFTETMBEGA1UE\nAwwKaG9va2QtdGVzdDCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBALLD\nxITsaygR7hY/SO9Z8+DGEY+E0ScPgltzqFK0DCzHDMcJfmQ8v7NXypNT2R+0JlHL\nMjDmTu+tc218H47NSIXUC6zkQY3oyj1VJgFHM9/MK4SzFI6uWEA+PznXmCDQ4NhP\nad1SgkgeabIb88EsbjwjH8gGGXdYzEr9XiHGLN8VKMePhqRUnvonuI+xs/vg83hI\nj1y06QGDWBkYxYU0891P2aEAmyijeVtR/2v/IH8WNtKZlJbRMxMfzpq49bf5aUaT\n+qojy7VAqaW1Qibfi7fnw2+GJCyw2+TyPIkCekdkwWl9F2uM4sBblvAjRrtpa7m4\nLnELIq/Qn+c6Iwj8L7sCAwEAATANBgkqhkiG9w0BAQsFAAOCAQEAbN0dzC50Sx7s\n5eunDZuQNJJY1h9cpSQp6L58GJUDS8eSHGtyS3iEQHb+OM9rEC03opKJUGaBaxx6\n0ngCOuB1augcIUThkynGlvFq4T3MBmiuxyWosAIuHuuBXAVD/72c3yh6ogVr4Yhx\nUCYSKI9rXewTNFu+4llrbFYPeVggm+M7Pkx2ORIaEetmSDqVFJfbyDtvFYsgk0CR\nzH8NT3rBFUI4XNCYO7GPlhhGabwfabzpUkGR+LRg84In2JBYmZaW+FegLUa4bgOs\nrcrHQz0acGVPHpCMNlRr8Cn6NIDRGd8QY5ZP/IziWYynunwbWydnPAY6IXpZVrsV\n1tBsDNP+7w==\n-----END CERTIFICATE-----\n";
    const KEY_B_N: &str = "ogsKa-0uQfIShUv-me2witw4C8qegvvwOxA5q1ljcyWYeK2bIGgBNaXxklPuAO0z7TVedQ8t9GZvQtCo_GG37hQcI2ZAAnNAhyAqG0n2qazEKhrwUaTSpbGWplV6KKzWuBETTi-xDRGAI7vP4pj8zO7POlAq7Y-HaYIWfyTLE6z1YZjJdes-GUUHhAkxzHGGSYgk5NUxuJ39NlvywmjjaEFBTSVJW6mKG4SHdAW3C_ewefcL838W-dhtupIZ55z0dZTq7mX1VmKuwvG_xdDEITCBetO_JFnpBMUl937fjsrX5wgRFkIAFAd-X_MQ-QaeIJCE9f50GeuMlnFnLAF1Kw";

    // Tokens made by google-auth 2.62.2 `jwt.encode(crypt.RSASigner.from_string(key A, "hookd-test-key-1"), claims)`
    // (tests/inbound/sign/google_pubsub.py), claims: aud AUD, email EMAIL, email_verified, iat 1700000000, exp iat + 3600,
    // iss https://accounts.google.com unless said otherwise.
    const VALID: &str = "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJSUzI1NiIsICJraWQiOiAiaG9va2QtdGVzdC1rZXktMSJ9.eyJhdWQiOiAiaHR0cHM6Ly9ob29rZC5leGFtcGxlL3dlYmhvb2tzL2dvb2dsZSIsICJhenAiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsX3ZlcmlmaWVkIjogdHJ1ZSwgImV4cCI6IDE3MDAwMDM2MDAsICJpYXQiOiAxNzAwMDAwMDAwLCAiaXNzIjogImh0dHBzOi8vYWNjb3VudHMuZ29vZ2xlLmNvbSIsICJzdWIiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsIjogInB1c2hAaG9va2QtdGVzdC5pYW0uZ3NlcnZpY2VhY2NvdW50LmNvbSJ9.Kapi1lwr1gT1g1vBGIl5rKcOtM0cUoKs_n_4wFNkMwQmYTJ2um3wrk-Qm7azO6Sg71KN7WtK9ebwvD8cbg-88NOAOY0ycBp6hZQvNDod9-BSeVL33sZJFLeI0wK_saMZ3-6A8rDKBj8pKUthrqvxHAiQpqRe-tfR6YqViUlDDM4roxCxibxGFDdZs3AY7VP8qJMZvzZNwgXvEBj7FfHDKi3F8SKENWjUraDAGBr59M1WkqGDjrMgRbIQtf8RKTzEfIZxKlQGY4SyU3Lte3O60ZB8q_PUxxaf7-hlhHrI3z-uLNOAAGrUwWTVBhZnoNhR6IGW1dd5_qvNlGdkCt6exw";
    const BAD_ISS: &str = "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJSUzI1NiIsICJraWQiOiAiaG9va2QtdGVzdC1rZXktMSJ9.eyJhdWQiOiAiaHR0cHM6Ly9ob29rZC5leGFtcGxlL3dlYmhvb2tzL2dvb2dsZSIsICJhenAiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsX3ZlcmlmaWVkIjogdHJ1ZSwgImV4cCI6IDE3MDAwMDM2MDAsICJpYXQiOiAxNzAwMDAwMDAwLCAiaXNzIjogImh0dHBzOi8vZXZpbC5leGFtcGxlIiwgInN1YiI6ICIxMTM0MDAwMDAwMDAwMDAwMDAwMDEiLCAiZW1haWwiOiAicHVzaEBob29rZC10ZXN0LmlhbS5nc2VydmljZWFjY291bnQuY29tIn0.JBmf7a_KBTELA3YreQpnM0XgVKjGfNYHfaJA5v1z_tRv9sNj96OOMJYzzPsHO_Lo2JvTPehRjrWD1OAibdNoETAzbSMaPITPPrtse-YCenAs6zfNe8MrYsLtN2wXzUhAbSzoE8IS7DsL_Vpq1fqmcJlvbxXhMp86Upyhr3R4AczJp7SV6b5MOid9-fq5NFveh4UbKM7ffXGyzaC7VKMiXyirUDtGlqZNp80OBtqnacjdPm9JueHeJUmj6vW1jYmkCJKg96K3NybQG2npC6qDs8Blxxo_DbMhfYW_ZY6u2fc8cCIgilUubUHfQD8VM-ra0SoZYXLIGbbkr4jVCGKtAA"; // iss https://evil.example
    const ALT_ISS: &str = "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJSUzI1NiIsICJraWQiOiAiaG9va2QtdGVzdC1rZXktMSJ9.eyJhdWQiOiAiaHR0cHM6Ly9ob29rZC5leGFtcGxlL3dlYmhvb2tzL2dvb2dsZSIsICJhenAiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsX3ZlcmlmaWVkIjogdHJ1ZSwgImV4cCI6IDE3MDAwMDM2MDAsICJpYXQiOiAxNzAwMDAwMDAwLCAiaXNzIjogImFjY291bnRzLmdvb2dsZS5jb20iLCAic3ViIjogIjExMzQwMDAwMDAwMDAwMDAwMDAwMSIsICJlbWFpbCI6ICJwdXNoQGhvb2tkLXRlc3QuaWFtLmdzZXJ2aWNlYWNjb3VudC5jb20ifQ.idVz069Qz9dvFCWtt0pBSz5Brd29oHNolQpN8l30L0s1h5PSnbxns9DFnMRKHw5a4bXKjMJfPEYzg8Xp6yQ2fbVM7tXASMXKN27HTp3kX8awdmYdCQaB6hGcho4_Ghkofhj8Sw2GCESwnQT8gzejKI4G-6btks9oNPqN_Vf8v9H-6eoe3M4ngpE6BA88HjGmngqaOAocp0aKHM7-Uf2MwW0gBLdhgIR8-o4fvf7934j2zMTlT1XN1uRrDU7ku6kzZMpzVXSsIkiu1dQbZZsLYgHvKsk1vswtu6Pl_jn1uYEr5B-YjUmTDODs4kAaEDUCT9PZf-PF7UJesB11OKT2Mg"; // iss accounts.google.com
    const OTHER_KEY: &str = "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJSUzI1NiIsICJraWQiOiAiaG9va2QtdGVzdC1rZXktMSJ9.eyJhdWQiOiAiaHR0cHM6Ly9ob29rZC5leGFtcGxlL3dlYmhvb2tzL2dvb2dsZSIsICJhenAiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsX3ZlcmlmaWVkIjogdHJ1ZSwgImV4cCI6IDE3MDAwMDM2MDAsICJpYXQiOiAxNzAwMDAwMDAwLCAiaXNzIjogImh0dHBzOi8vYWNjb3VudHMuZ29vZ2xlLmNvbSIsICJzdWIiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsIjogInB1c2hAaG9va2QtdGVzdC5pYW0uZ3NlcnZpY2VhY2NvdW50LmNvbSJ9.DG4aIJwjfBqi7PqvS20DyMln-eR-6sidX1nosymsO8_Zq_718R-qVZqh9EVV4cTgR7R-8Hbk17gbycov58_qdRtrYHmzz-ptjDUQ673TMHMcSh2IVxgHI0XFAVaHiK-vonbXblAFgUqBion3n1BqLQzuZmlKH5tWQdyRS97gtVvdaCfpiA1e1zn4omCY02k9isMWoWRuCCutVcJ3pXHIMg5v_XK_ODr0NJkURzLNf2zQSw-T9OacVPESMID-ShnuZrBauLo87yTJCqDh5mr_VrGdxghJxunNhhIToXqOWsbNM58gIQYk6QVu-WWjn07m8PQWqe1LcJNUo0YXRob0tQ"; // signed with key B under key A's kid
    const NO_KID: &str = "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJSUzI1NiJ9.eyJhdWQiOiAiaHR0cHM6Ly9ob29rZC5leGFtcGxlL3dlYmhvb2tzL2dvb2dsZSIsICJhenAiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsX3ZlcmlmaWVkIjogdHJ1ZSwgImV4cCI6IDE3MDAwMDM2MDAsICJpYXQiOiAxNzAwMDAwMDAwLCAiaXNzIjogImh0dHBzOi8vYWNjb3VudHMuZ29vZ2xlLmNvbSIsICJzdWIiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsIjogInB1c2hAaG9va2QtdGVzdC5pYW0uZ3NlcnZpY2VhY2NvdW50LmNvbSJ9.DLn0BK-jCCPg1GA9P0OdDHBjCCAeLzvxOqdz5_IPYpw96mYkkxNGFHElVirqSvqiQuwvGlTeBEMMt9NsTmfSuTfldGpdHq8HQXRx-7Mqs8OQSLcbSSnH6UaFSGpch99RKxnpouH5i5MiRn3eLrc4zvdB55po6av1Cbs05PTjL-7LuTv3Mz4qOQjN_HPVBFX9GqkyIf_7d4heomaBxFvrHfkswwFaObp2tV7TVancR1Urecfmkv8Cy84EtmocOX_tDdBxS5ysncF6XlEMNl-FWqLQfNgG8xj9m37GINclpdSEB-23ss-dt-9sx2z-jUtRLYdwG_PWGBkgfZrS7Q1Inw"; // key A, no kid in the header
    const HS256: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCIsICJraWQiOiAiaG9va2QtdGVzdC1rZXktMSJ9.eyJhdWQiOiAiaHR0cHM6Ly9ob29rZC5leGFtcGxlL3dlYmhvb2tzL2dvb2dsZSIsICJhenAiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsX3ZlcmlmaWVkIjogdHJ1ZSwgImV4cCI6IDE3MDAwMDM2MDAsICJpYXQiOiAxNzAwMDAwMDAwLCAiaXNzIjogImh0dHBzOi8vYWNjb3VudHMuZ29vZ2xlLmNvbSIsICJzdWIiOiAiMTEzNDAwMDAwMDAwMDAwMDAwMDAxIiwgImVtYWlsIjogInB1c2hAaG9va2QtdGVzdC5pYW0uZ3NlcnZpY2VhY2NvdW50LmNvbSJ9.KfHHLjZGRm-PLWlOm5jtB4NTiToFPN7myxiS1Zr0U7E"; // VALID's claims, HS256 keyed with PUBLIC_PEM (algorithm confusion)

    const AUD: &str = "https://hookd.example/webhooks/google";
    const EMAIL: &str = "push@hookd-test.iam.gserviceaccount.com";
    const IAT: i64 = 1_700_000_000;
    const EXP: i64 = IAT + 3600;

    fn jwks() -> ProviderConfig {
        ProviderConfig {
            audience: Some(AUD.into()),
            jwks: Some(json!({"keys": [
                {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "other-kid", "n": KEY_B_N, "e": "AQAB"},
                {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "hookd-test-key-1", "n": JWK_N, "e": JWK_E},
            ]})),
            service_account_email: Some(EMAIL.into()),
            ..Default::default()
        }
    }

    fn run(token: &str, cfg: &ProviderConfig, now: i64) -> Result<(), VerifyError> {
        let auth = format!("Bearer {token}");
        let h = headers(&[("Authorization", auth.as_str())]);
        let req = Incoming { headers: &h, body: b"{}", url: "", now };
        GooglePubSub.verify(&req, &[], cfg)
    }

    #[test]
    fn verifies_with_jwks_pem_and_certificate() {
        assert_eq!(run(VALID, &jwks(), IAT), Ok(()));
        assert_eq!(run(VALID, &jwks(), EXP + 60), Ok(()));
        assert_eq!(run(VALID, &jwks(), IAT - 60), Ok(()));
        assert_eq!(run(ALT_ISS, &jwks(), IAT), Ok(()));
        assert_eq!(run(NO_KID, &jwks(), IAT), Ok(()));
        for pem in [PUBLIC_PEM, PKCS1_PEM, CERT_PEM] {
            let cfg = ProviderConfig { jwks: None, pem: Some(vec![pem.into()]), ..jwks() };
            assert_eq!(run(VALID, &cfg, IAT), Ok(()), "{pem}");
        }
        // lower-case scheme
        let h = headers(&[("authorization", &format!("bearer {VALID}"))]);
        let req = Incoming { headers: &h, body: b"{}", url: "", now: IAT };
        assert_eq!(GooglePubSub.verify(&req, &[], &jwks()), Ok(()));
        // no email configured: any service account
        let cfg = ProviderConfig { service_account_email: None, ..jwks() };
        assert_eq!(run(VALID, &cfg, IAT), Ok(()));
    }

    #[test]
    fn refuses() {
        let c = jwks();
        assert_eq!(run(OTHER_KEY, &c, IAT), Err(VerifyError::BadSignature));
        let pem_b = ProviderConfig {
            jwks: Some(json!({"keys": [{"kty": "RSA", "kid": "hookd-test-key-1", "n": KEY_B_N, "e": "AQAB"}]})),
            ..jwks()
        };
        assert_eq!(run(VALID, &pem_b, IAT), Err(VerifyError::BadSignature));
        // a changed claim breaks the signature
        let mut parts: Vec<String> = VALID.split('.').map(str::to_string).collect();
        let swap = if &parts[1][3..4] == "A" { "B" } else { "A" };
        parts[1].replace_range(3..4, swap);
        assert_eq!(run(&parts.join("."), &c, IAT), Err(VerifyError::BadSignature));
        assert_eq!(run(VALID, &c, EXP + 61), Err(VerifyError::Stale));
        assert_eq!(run(VALID, &c, IAT - 61), Err(VerifyError::Stale));
        let tight = ProviderConfig { tolerance_seconds: Some(0), ..jwks() };
        assert_eq!(run(VALID, &tight, EXP + 1), Err(VerifyError::Stale));
        let wrong_aud = ProviderConfig { audience: Some("https://elsewhere.example/push".into()), ..jwks() };
        assert_eq!(run(VALID, &wrong_aud, IAT), Err(VerifyError::Malformed("JWT aud (not the configured audience)")));
        assert_eq!(run(BAD_ISS, &c, IAT), Err(VerifyError::Malformed("JWT iss (not an accepted issuer)")));
        let only_alt = ProviderConfig { issuers: Some(vec!["accounts.google.com".into()]), ..jwks() };
        assert_eq!(run(VALID, &only_alt, IAT), Err(VerifyError::Malformed("JWT iss (not an accepted issuer)")));
        let other_sa =
            ProviderConfig { service_account_email: Some("else@x.iam.gserviceaccount.com".into()), ..jwks() };
        assert_eq!(
            run(VALID, &other_sa, IAT),
            Err(VerifyError::Malformed("JWT email (not the configured service account)"))
        );
        assert_eq!(run(HS256, &c, IAT), Err(VerifyError::Malformed("JWT alg (not RS256)")));
        assert_eq!(run("not.a.jwt", &c, IAT), Err(VerifyError::Malformed("Authorization (not a JWT)")));

        let h = headers(&[]);
        let req = Incoming { headers: &h, body: b"{}", url: "", now: IAT };
        assert_eq!(GooglePubSub.verify(&req, &[], &c), Err(VerifyError::Missing("Authorization")));
        let h = headers(&[("Authorization", &format!("Basic {VALID}"))]);
        let req = Incoming { headers: &h, body: b"{}", url: "", now: IAT };
        assert_eq!(
            GooglePubSub.verify(&req, &[], &c),
            Err(VerifyError::Malformed("Authorization (not a Bearer token)"))
        );

        assert!(matches!(run(VALID, &ProviderConfig { audience: None, ..jwks() }, IAT), Err(VerifyError::Config(_))));
        assert!(matches!(run(VALID, &ProviderConfig { jwks: None, ..jwks() }, IAT), Err(VerifyError::Config(_))));
        let bad_pem = ProviderConfig { jwks: None, pem: Some(vec!["nope".into()]), ..jwks() };
        assert!(matches!(run(VALID, &bad_pem, IAT), Err(VerifyError::Config(_))));
    }

    #[test]
    fn normalizes_like_the_seed() {
        let h = headers(&[]);
        // the seed's example: base64 of {"resourceName":"people/c1234567", "personFields": [...]}
        let body = br#"{"message":{"data":"eyJyZXNvdXJjZU5hbWUiOiJwZW9wbGUvYzEyMzQ1NjciLCAicGVyc29uRmllbGRzIjogWyJuYW1lcyIsICJlbWFpbEFkZHJlc3NlcyJdfQ==","messageId":"2070443601311540","publishTime":"2021-02-26T19:13:55.749Z"},"subscription":"projects/p/subscriptions/s"}"#;
        let n = GooglePubSub
            .normalize(&Incoming { headers: &h, body, url: "", now: IAT }, &ProviderConfig::default())
            .unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("updated", "people", "c1234567")
        );
        assert_eq!(n.native_type.as_deref(), Some("people.updated"));
        assert_eq!(n.delivery_id.as_deref(), Some("2070443601311540"));
        assert_eq!(n.data["personFields"], json!(["names", "emailAddresses"]));

        let body = br#"{"message":{"data":"aGVsbG8=","attributes":{"eventType":"contact created"},"message_id":"9"}}"#;
        let n = GooglePubSub
            .normalize(&Incoming { headers: &h, body, url: "", now: IAT }, &ProviderConfig::default())
            .unwrap();
        assert_eq!((n.entity_type.as_str(), n.entity_id.as_str()), ("people", "9"));
        assert_eq!(n.native_type.as_deref(), Some("contact_created"));
        assert!(GooglePubSub
            .normalize(&Incoming { headers: &h, body: b"{}", url: "", now: IAT }, &ProviderConfig::default())
            .is_err());
    }
}
