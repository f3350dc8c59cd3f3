//! The bounded fuzz run of the test suite: every target of `fuzz/` (see `hookd::fuzzing`) on its seeds and on
//! random mutations of them, for `HOOKD_FUZZ_SECS` seconds each (default 1). It runs on stable Rust with no
//! instrumentation, so it finds shallow crashes only; the coverage-guided long run is `cargo fuzz` (README).
//! A crash prints the input, hex, to add as a regression test.

use std::time::{Duration, Instant};

/// Tokens the parsers look for, spliced into inputs.
const DICTIONARY: &[&str] = &[
    "v1,",
    "v1=",
    "v0=",
    "t=",
    "sha256=",
    "sha1=",
    ",",
    " ",
    "=",
    ".",
    "whsec_",
    "1700000000",
    "-1",
    "0",
    "99999999999999999999",
    "{",
    "}",
    "\"",
    ":",
    "[",
    "]",
    "null",
    "{\"type\":1}",
    "{\"challenge\":\"x\"}",
    "Bearer ",
    "*",
    "/",
    "L",
    "W",
    "#",
    "?",
    "ms",
    "s",
    "m",
    "h",
    "d",
    "y",
    "Europe/Paris",
    "\u{ff}",
    "é",
    "2026-02-01T10:30:00Z",
    "T",
    "Z",
    "+",
    "%",
    "&",
    "\u{ff}",
];

/// Seeds per target: well-formed inputs (split on 0xFF as in `hookd::fuzzing`) for mutations to start from.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let sep = |parts: &[&[u8]]| parts.join(&0xffu8);
    match target {
        "signature_headers" => [
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,bm9wZQ==",
            "t=1700000000,v1=b0d6c84387c47427513f3788ec307699716f7f6509ec855bd3dca17692ca7e7a",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "{\"header\":\"X-Sig\",\"signedContent\":\"{timestamp}.{body}\",\"timestampHeader\":\"X-Ts\"}",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        "durations" => ["30s", "15m", "2h", "1d", "1h 5m", "1500", "1.5", "-3", "2026-02-01T10:30:00Z", "5s,5m,30m"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
        "cron" => vec![
            sep(&[b"0 9 * * MON-FRI", b"Europe/Paris"]),
            sep(&[b"*/5 * * * *", b"UTC", b"1700000000000"]),
            sep(&[b"0 0 L * *", b"America/New_York"]),
            sep(&[b"0 0 29 2 *", b"UTC"]),
            sep(&[b"30 2 * * *", b"Europe/Berlin", b"1711846800000"]),
            sep(&[b"0 0 0 1 1 *", b"Asia/Tokyo"]),
            sep(&[b"0 12 ? * 5#3", b"UTC"]),
        ],
        _ => {
            // Inbound: URL, config, headers in `HEADERS` order, body.
            let body = br#"{"type":"event_callback","event_id":"Ev1","id":"evt_1","object":"event","action":"opened","data":{"object":{"id":"x"}}}"#;
            // Telnyx's headers come after the 28 others; a PandaDoc signature is in the URL.
            let mut telnyx: Vec<&[u8]> = vec![b"https://hookd.example/webhooks/reg_1", b""];
            telnyx.extend([&b""[..]; 28]);
            telnyx.extend([
                &b"5VZDAMNgrHKQhuLMgG6CiISHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw=="[..],
                b"1700000000",
                br#"{"data":{"event_type":"message.received","id":"e1","payload":{"id":"m1"}}}"#,
            ]);
            // AWS SNS: a signed Notification (src/inbound/providers/aws_sns.rs), its topic accepted, a wide
            // tolerance.
            let sns_config =
                br#"{"topicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","toleranceSeconds":100000000}"#;
            let sns: &[u8] = br#"{"Type":"Notification","MessageId":"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Subject":"My First Message","Message":"Hello world!","Timestamp":"2024-05-02T00:54:06.655Z","SignatureVersion":"1","SigningCertURL":"https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem","UnsubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96","Signature":"XoVZAGITmCMFc6MwtU5yFXWlOOWZD3ZSfd1Hqx6jCEnmKUq7eMouDjXZgvlSfiDvhh7bGtl5DEIwoxrG4RxcHNlTnBe4fWco1q+4ekVTAnz1pv+2lzFU32tLMLbleybYAs6VEUPUn8r8FT218uWjjDFWWCehI8X1eEHWsA1XVfrHLlgN6YSRAbO5oc9Gg30Qgocj39b1IsKQCj+G4Md/rZl8va2WBE9MopRuaCU7zrGvTVmEwBhw3dMCxH12fV7EI9qMZG3VQIowMDuEM3Wgqlt3/zDm8fACR/Yof9j019YKu9MzUIgEw0tiEy6Bxjo9QxC9HZ/oUsOu/zoSi+SE2g=="}"#;
            vec![
                sep(&[b"https://hookd.example/webhooks/reg_1", sns_config, sns]),
                sep(&telnyx),
                sep(&[
                    b"https://hookd.example/webhooks/reg_1?signature=f5f23898b07f9dc5caab4cc2ca232b0cf3ef416fc02944f72510e3f7db11fda1",
                    b"",
                    br#"[{"event":"document_state_changed","data":{"id":"d1"}}]"#,
                ]),
                sep(&[b"https://hookd.example/webhooks/reg_1?a=1", b"", b"v1,bm9wZQ==", b"1700000000", b"msg_1", body]),
                sep(&[
                    b"https://hookd.example/webhooks/reg_1",
                    br#"{"generic":{"header":"x-sig","algorithm":"sha256","encoding":"hex","prefix":"sha256="}}"#,
                    b"v1,bm9wZQ==",
                    b"1700000000",
                    b"msg_1",
                    b"v1,bm9wZQ==",
                    b"1700000000",
                    b"msg_1",
                    b"t=1700000000,v1=00",
                    b"sha256=00",
                    body,
                ]),
                sep(&[
                    b"https://x/?Body=hi&From=%2B1",
                    b"",
                    b"application/x-www-form-urlencoded",
                    b"payload=%7B%22type%22%3A1%7D",
                ]),
                sep(&[
                    b"https://x/",
                    br#"{"toleranceSeconds":1,"generic":{"header":"x-sig","timestampHeader":"x-ts"}}"#,
                    b"{}",
                ]),
            ]
        }
    }
}

/// xorshift64*: reproducible without a crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(8) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next() as u8;
            }
            2 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                input.splice(at..at, token.iter().copied());
            }
            3 if !input.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            4 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + 1 + rng.below(32)).min(input.len());
                let copy = input[start..end].to_vec();
                input.splice(at..at, copy);
            }
            5 => input.insert(at, 0xff),
            6 => {
                let other = &pool[rng.below(pool.len())];
                let cut = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[cut..]);
            }
            _ => {
                let digits = (rng.next() as i64).to_string();
                input.splice(at..at, digits.into_bytes());
            }
        }
    }
    input.truncate(4096);
}

fn fuzz(target: &str) {
    if std::env::var("HOOKD_TEST_STORE").is_ok_and(|s| s == "postgres") {
        return; // no store involved: the SQLite pass has run it
    }
    let budget = std::env::var("HOOKD_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let deadline = Instant::now() + Duration::from_secs_f64(budget);
    let pool = seeds(target);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64 ^ (target.as_bytes()[target.len() - 1] as u64) << 32);
    let mut runs = 0u64;
    let mut slowest = (Duration::ZERO, Vec::new());
    let mut try_one = |input: &[u8]| {
        let started = Instant::now();
        if std::panic::catch_unwind(|| hookd::fuzzing::run(target, input)).is_err() {
            panic!("{target} panicked on input {} ({:?})", hex(input), String::from_utf8_lossy(input));
        }
        let took = started.elapsed();
        if took > slowest.0 {
            slowest = (took, input.to_vec());
        }
    };
    for s in &pool {
        try_one(s);
    }
    while Instant::now() < deadline {
        let mut input = pool[rng.below(pool.len())].clone();
        mutate(&mut rng, &mut input, &pool);
        try_one(&input);
        runs += 1;
    }
    // One input must not hold a request for long: these parsers run inside API handlers.
    assert!(
        slowest.0 < Duration::from_secs(1),
        "{target}: {:?} on {} ({:?})",
        slowest.0,
        hex(&slowest.1),
        String::from_utf8_lossy(&slowest.1)
    );
    assert!(runs > 0, "{target} ran no mutated input");
    eprintln!("{target}: {runs} inputs, slowest {:?}", slowest.0);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Found by the `cron` target: an empty list item made each timer creation search for seconds.
#[test]
fn cron_with_an_empty_list_item_is_refused_at_once() {
    for input in [&b", 9 * * MON-FRI\xffEurope/Paris"[..], b"1,,2 * * * *", b"0 9, * * *"] {
        let started = Instant::now();
        hookd::fuzzing::run("cron", input);
        assert!(started.elapsed() < Duration::from_millis(300), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for t in hookd::fuzzing::targets() {
        let path = format!("{}/fuzz/fuzz_targets/{t}.rs", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(text.contains(&format!("run(\"{t}\"")), "{path} runs {t}");
    }
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { fuzz(stringify!($name)); })*

        #[test]
        fn the_suite_runs_every_target() {
            let mut listed = vec![$(stringify!($name).to_string()),*];
            let mut all = hookd::fuzzing::targets();
            listed.sort();
            all.sort();
            assert_eq!(listed, all);
        }
    };
}

targets!(
    inbound_github,
    inbound_slack,
    inbound_stripe,
    inbound_shopify,
    inbound_twilio,
    inbound_gitlab,
    inbound_linear,
    inbound_discord,
    inbound_notion,
    inbound_standardwebhooks,
    inbound_google,
    inbound_zoom,
    inbound_salesforce,
    inbound_telnyx,
    inbound_panda_doc,
    inbound_aws_sns,
    inbound_generic,
    inbound_generic_webhook,
    signature_headers,
    durations,
    cron,
);
