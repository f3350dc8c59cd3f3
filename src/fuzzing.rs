//! Entry points for the fuzz targets: `fuzz/fuzz_targets/*.rs` (cargo fuzz, libFuzzer, for long runs) and the
//! bounded run in the test suite (`tests/fuzz.rs`) call [`run`] with arbitrary bytes. None of it may panic,
//! hang or allocate without bound, whatever the bytes: each parser here takes input from the network or the API.
//!
//! Inputs are split on `0xFF` (never in UTF-8) into fields, so one byte string can carry a URL, a provider
//! config, several header values and a body.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::engine::signing;
use crate::inbound::providers::{self, generic, Incoming, ProviderConfig};

/// Every target: one per inbound provider's verifier, then the signature header parsers, durations and cron.
pub fn targets() -> Vec<String> {
    // As identifiers (cargo-fuzz's target names, the suite's test names): `generic-webhook` is `inbound_generic_webhook`.
    let mut t: Vec<String> =
        providers::PROVIDERS.iter().map(|p| format!("inbound_{}", p.name().replace('-', "_"))).collect();
    t.extend(["signature_headers", "durations", "cron"].map(String::from));
    t
}

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "signature_headers" => signature_headers(data),
        "durations" => durations(data),
        "cron" => cron(data),
        _ => match name.strip_prefix("inbound_").and_then(|p| providers::by_name(&p.replace('_', "-"))) {
            Some(p) => inbound(p, data),
            None => panic!("no fuzz target {name}"),
        },
    }
}

/// The headers every provider reads, filled in this order from the input's fields.
const HEADERS: &[&str] = &[
    "webhook-signature",
    "webhook-timestamp",
    "webhook-id",
    "svix-signature",
    "svix-timestamp",
    "svix-id",
    "stripe-signature",
    "x-hub-signature-256",
    "x-github-event",
    "x-github-delivery",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-shopify-hmac-sha256",
    "x-shopify-topic",
    "x-twilio-signature",
    "i-twilio-idempotency-token",
    "x-gitlab-token",
    "x-gitlab-event",
    "linear-signature",
    "linear-delivery",
    "x-signature-ed25519",
    "x-signature-timestamp",
    "x-notion-signature",
    "authorization",
    "x-zm-signature",
    "x-zm-request-timestamp",
    "x-zm-trackingid",
    "x-salesforce-event-signature",
    "x-salesforce-event-id",
    "telnyx-signature-ed25519",
    "telnyx-timestamp",
    "content-type",
];

const SECRETS: &[&str] = &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "plain-secret"];
const NOW: i64 = 1_700_000_000;
/// RFC 8032's first test key, so Discord's verifier gets past its configuration …
const ED25519_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// … and Telnyx's (the same key, base64).
const ED25519_PUBLIC_B64: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/// A self-signed RSA certificate, the one AWS SNS's unit tests verify under, as the document SNS's verifier gets.
const SNS_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIC2DCCAcCgAwIBAgIUGIiXjRNqz1FbaagaV33bConR8KcwDQYJKoZIhvcNAQEL\nBQAwJjEkMCIGA1UEAwwbc25zLnVzLWVhc3QtMS5hbWF6b25hd3MuY29tMB4XDTIw\nMDEwMTAwMDAwMFoXDTQwMDEwMTAwMDAwMFowJjEkMCIGA1UEAwwbc25zLnVzLWVh\nc3QtMS5hbWF6b25hd3MuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKC\nAQEAzPhhrfl4JejkcLWM/50t1RdbTapdbQllFnnxICr98jdIh57eCbbq/V8iwQxZ\niPdpoXNIoZaEaGI7ozO8RCK25/bKjWg4pebqM1JO3GB4gewycnDAV0auKTTOMs7c\nVnHgziqEQZujTYFs5WM8EOjnr5D6HsH9DCFGdbXeGBZx9wDT61XlZXKe9xtcx1xA\nSPAIZKQZaqhguBPel2XIxGehmO7oeLqw/LDHiZ56s3X6cYcX3fF7u2tnL/JHUvlp\nUdgfwFpywtW47U9uH7dk+NgRoEDMwoL2I/Wm/0MocGkcsvM4KPlzScxK+hKH45D3\nfyBnCp9mI8Cmp4J098QuF5zpqQIDAQABMA0GCSqGSIb3DQEBCwUAA4IBAQCoHHna\nntHPu+y4AqrXUu2k4NcEsmOHp5U2PEK117WCmcmveaB5sePwfvvE/xBL1p33RuVI\nWU23RPjeDQur07FRJyrx9Fri+z4L2f/bxxrjyDMtgdyYf+wzwHewV4rSuW1XLMRO\n9L/FwJR1JJag4cZxK5blYQue0Sht69uIpkvDwwARgQK1s729kRrXVunkNDIHU+Bn\n/wlwaS744e18YhtgPe4QpaWAOFBhuot/Tj8KjCKmODdLuCqHZgBntRTdbNOx6L12\nB0IKQ2pbImFlV6ajelfzHCF+lbs5qEvDBvJUlLRMtZDDFSewxF0ZrcM+A94QiovR\neTdF21cfveN6wAWw\n-----END CERTIFICATE-----\n";

/// A provider config with the test key in the encoding `p` reads.
fn keyed(p: &dyn providers::Provider) -> ProviderConfig {
    let key = if p.name() == "telnyx" { ED25519_PUBLIC_B64 } else { ED25519_PUBLIC };
    ProviderConfig { public_key: Some(key.into()), ..Default::default() }
}

fn fields(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == 0xff).collect()
}

fn headers(names: &[&'static str], values: &[&[u8]]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in names.iter().zip(values) {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    h
}

/// One provider end to end: fields are the URL, the provider config (JSON, or a default one), the headers in
/// [`HEADERS`] order, and last the body.
fn inbound(p: &dyn providers::Provider, data: &[u8]) {
    let f = fields(data);
    let url = String::from_utf8_lossy(f[0]);
    let cfg = f.get(1).and_then(|c| serde_json::from_slice::<ProviderConfig>(c).ok()).unwrap_or_else(|| keyed(p));
    let (values, body): (&[&[u8]], &[u8]) = match f.len() {
        0..=2 => (&[], f.last().copied().unwrap_or_default()),
        n => (&f[2..n - 1], f[n - 1]),
    };
    let h = headers(HEADERS, values);
    let req = Incoming { headers: &h, body, url: &url, now: NOW };
    let _ = p.verify(&req, SECRETS, &cfg);
    let _ = p.document_url(&req, &cfg, &["aws".into(), "127.0.0.1:9000".into()]);
    let _ = p.verify_with_document(&req, SECRETS, &cfg, SNS_CERT.as_bytes());
    let _ = p.confirm_url(&req, &["aws".into()]);
    let _ = p.handshake(&req, SECRETS);
    let _ = p.verification_token(&req);
    let _ = p.normalize(&req, &cfg);
}

/// The signature header parsers: the input as every provider's signature header beside well-formed others
/// (Standard Webhooks `v1,` lists, Stripe `t=,v1=`, `sha256=` hex, Slack `v0=`, …), as a secret, and as an
/// outbound signature scheme (JSON).
fn signature_headers(data: &[u8]) {
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut h = HeaderMap::new();
        for name in HEADERS {
            let v = if name.contains("timestamp") { HeaderValue::from(NOW) } else { value.clone() };
            h.insert(HeaderName::from_static(name), v);
        }
        h.insert("webhook-id", HeaderValue::from_static("msg_1"));
        h.insert("svix-id", HeaderValue::from_static("msg_1"));
        let cfg = ProviderConfig { public_key: Some(ED25519_PUBLIC.into()), ..Default::default() };
        let req = Incoming { headers: &h, body: b"{}", url: "https://hookd.example/webhooks/x", now: NOW };
        for p in providers::PROVIDERS {
            let _ = p.verify(&req, SECRETS, &keyed(*p));
        }
        // Every data preset's signature, timestamp and id headers hold the input.
        let mut ph = HeaderMap::new();
        for p in providers::preset::PRESETS.iter() {
            for name in p.headers.iter().chain(&p.timestamp_header).chain(&p.id_header) {
                if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                    ph.insert(n, value.clone());
                }
            }
        }
        let req = Incoming { headers: &ph, body: b"{}", url: "https://hookd.example/webhooks/x", now: NOW };
        for p in providers::preset::PRESETS.iter() {
            let _ = p.verify_request(&req, SECRETS, &cfg);
            let _ = providers::Provider::normalize(p, &req, &cfg);
        }
    }
    let s = String::from_utf8_lossy(data);
    let _ = signing::standard_key(&s);
    for enc in [
        generic::KeyEncoding::Utf8,
        generic::KeyEncoding::Base64,
        generic::KeyEncoding::Whsec,
        generic::KeyEncoding::Hex,
    ] {
        let _ = generic::key_bytes(&s, enc);
    }
    let _ = providers::b64_decode(&s);
    if let Ok(scheme) = serde_json::from_slice::<signing::HmacScheme>(data) {
        if scheme.validate().is_ok() {
            let stamp = scheme.format_timestamp(chrono::Utc::now());
            let _ = scheme.sign(SECRETS[0], "msg_1", &stamp, b"{}");
        }
    }
}

/// Durations as the API and the configuration take them: `30s`, `1h 5m`, milliseconds; and RFC 3339 times.
fn durations(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    crate::timers::fuzz_duration(&Value::String(s.to_string()));
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        crate::timers::fuzz_duration(&v);
    }
    let _ = crate::config::parse_durations(&s);
    let _ = crate::api::time::parse_ts("since", &s);
}

/// Cron expressions in a time zone, as a recurring timer takes them: fields are the expression, the zone and
/// the moment to search from (milliseconds, as text).
fn cron(data: &[u8]) {
    let f = fields(data);
    let expr = String::from_utf8_lossy(f[0]);
    let tz = f.get(1).map(|z| String::from_utf8_lossy(z).into_owned()).unwrap_or_else(|| "UTC".into());
    let after = f.get(2).and_then(|a| std::str::from_utf8(a).ok()?.trim().parse().ok()).unwrap_or(NOW * 1000);
    crate::timers::fuzz_cron(&expr, &tz, after);
}
