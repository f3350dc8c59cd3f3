//! Verifying through a data preset against the code it replaced, side by side in one run: GitHub's preset
//! (`presets.toml`, interpreted by `preset.rs`) and the hand-written GitHub verifier it replaced
//! (`github::verify_by_code`), on the same 1 KB signed `issues` event, alternating rounds so that both see the same
//! machine. Also a few other families for scale. Run in release:
//!
//!     cargo run --release --example verify_presets -- [--seconds 2] [--rounds 5]

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use hookd::inbound::providers::{github, preset, Incoming, ProviderConfig};

fn sign_hex(secret: &str, msg: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

/// Requests per second of `f` over `secs` seconds.
fn rate(secs: f64, mut f: impl FnMut() -> bool) -> f64 {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while Instant::now() < deadline {
        for _ in 0..1000 {
            assert!(std::hint::black_box(f()));
        }
        n += 1000;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: f64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (secs, rounds) = (arg("--seconds", 2.0), arg("--rounds", 5.0) as usize);

    let secret = "bench-secret-9f2c";
    let mut body = serde_json::json!({"action": "opened", "issue": {"id": 1234567, "number": 123, "title": "Bug", "body": ""}, "repository": {"id": 42, "full_name": "acme/app"}}).to_string();
    body = body.replacen("\"body\":\"\"", &format!("\"body\":\"{}\"", "x".repeat(1024 - body.len())), 1);
    let mut h = HeaderMap::new();
    h.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&format!("sha256={}", sign_hex(secret, body.as_bytes()))).unwrap(),
    );
    h.insert("x-github-event", HeaderValue::from_static("issues"));
    h.insert("x-github-delivery", HeaderValue::from_static("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    let req =
        Incoming { headers: &h, body: body.as_bytes(), url: "http://127.0.0.1/webhooks/whr_x", now: 1_700_000_000 };
    let cfg = ProviderConfig::default();
    let gh = preset::by_name("github").unwrap();
    let secrets = [secret];

    // Stripe's family (a `t=…,v1=…` header, a timestamp, a template) and Standard Webhooks (whsec key, list).
    let ts = "1700000000";
    let mut hs = HeaderMap::new();
    let sig = sign_hex(secret, format!("{ts}.{body}").as_bytes());
    hs.insert("stripe-signature", HeaderValue::from_str(&format!("t={ts},v1={sig}")).unwrap());
    let sreq = Incoming { headers: &hs, body: body.as_bytes(), url: "", now: 1_700_000_000 };
    let stripe = preset::by_name("stripe").unwrap();

    println!(
        "| round | GitHub code (verify/s) | GitHub preset (verify/s) | preset / code | Stripe preset (verify/s) |"
    );
    println!("|--:|--:|--:|--:|--:|");
    let (mut code_sum, mut data_sum) = (0.0, 0.0);
    for round in 1..=rounds {
        let code = rate(secs, || github::verify_by_code(&req, &secrets).is_ok());
        let data = rate(secs, || gh.verify_request(&req, &secrets, &cfg).is_ok());
        let s = rate(secs / 2.0, || stripe.verify_request(&sreq, &secrets, &cfg).is_ok());
        code_sum += code;
        data_sum += data;
        println!("| {round} | {code:.0} | {data:.0} | {:.3} | {s:.0} |", data / code);
    }
    println!(
        "| mean | {:.0} | {:.0} | {:.3} | |",
        code_sum / rounds as f64,
        data_sum / rounds as f64,
        data_sum / code_sum
    );
}
