//! Providers as data: each entry of `presets.toml` says how a provider signs (which header, which hash, what is
//! signed, how the signature and the key are encoded, where the timestamp is and how old it may be), where its
//! delivery id and event type are, and the echo handshake it expects. The file is compiled into the binary and
//! parsed once; each message template is parsed into parts then, so that verifying a request walks the parts and
//! feeds the MAC straight from the request (no message buffer, signatures decoded onto the stack).
//!
//! A preset is a [`Provider`] for the inbound gateway (`integrationId` = its name), and [`by_name`] is the engine
//! a second face (an ingest API) calls: [`Preset::check`] verifies an [`Incoming`] with the config's secrets and
//! answers its delivery id and event type.

use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest;

use super::*;

/// The data file.
pub const DATA: &str = include_str!("presets.toml");

/// Every preset, in the data file's order.
pub static PRESETS: LazyLock<Vec<Preset>> =
    LazyLock::new(|| parse(DATA).unwrap_or_else(|e| panic!("src/inbound/providers/presets.toml: {e}")));

/// The preset named `name` (its Svix Ingest `type`, else its common name).
pub fn by_name(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

// ── the data file's shape ──

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    preset: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    title: String,
    /// The provider's page that describes the scheme.
    docs: String,
    /// Whether `name` is a Svix Ingest source `type`.
    #[serde(default)]
    svix: bool,
    /// hmac | hash (plain digest of a template holding `{secret}`) | token (the secret sent as is) | basic | jwt
    /// (an HMAC-signed JSON Web Token whose `exp` is checked)
    scheme: String,
    #[serde(default)]
    algorithm: Option<String>,
    /// The header(s) holding the signature or token; the first present is read, each present one offers
    /// signatures when there are several (Box primary and secondary, DocuSign one per key).
    #[serde(default)]
    header: Vec<String>,
    /// A token scheme's token in the JSON body instead of a header: a pointer whose `*` segments take every
    /// element of an array (Microsoft Graph's `/value/*/clientState`); every value found must be a live secret.
    #[serde(default)]
    token_pointer: Option<String>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    message: Option<String>,
    /// raw | list | kv | positional
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    separator: Option<String>,
    #[serde(default)]
    kv_separator: Option<String>,
    #[serde(default)]
    ts_key: Option<String>,
    #[serde(default)]
    sig_key: Option<String>,
    #[serde(default)]
    timestamp_header: Option<String>,
    /// s | ms | iso (RFC 3339) | http-date (RFC 1123)
    #[serde(default)]
    timestamp_unit: Option<String>,
    #[serde(default)]
    tolerance: Option<u64>,
    /// Only old timestamps are refused, as the provider's library does (Stripe's accepts any in the future).
    #[serde(default)]
    past_only: bool,
    #[serde(default)]
    id_header: Option<String>,
    #[serde(default)]
    id_pointer: Option<String>,
    #[serde(default)]
    event_header: Option<String>,
    /// One pointer, or several tried in turn (Graph's `changeType`, else its lifecycle notifications' event).
    #[serde(default)]
    event_pointer: OneOrMore,
    #[serde(default)]
    handshake: Option<HandshakeEntry>,
    /// Config fields beside the secret that a registration must give (`verifyToken`).
    #[serde(default)]
    config: Vec<String>,
    /// Where the secret comes from, for the person setting up a registration.
    secret: String,
    /// The provider issues the secret (it cannot be chosen), so a registration must give it.
    #[serde(default)]
    issued: bool,
}

/// A value the data file gives as one string or a list of them.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMore {
    #[default]
    None,
    One(String),
    More(Vec<String>),
}

impl OneOrMore {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMore::None => vec![],
            OneOrMore::One(s) => vec![s],
            OneOrMore::More(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HandshakeEntry {
    /// POST (answered after the signature checks, unless `unsigned`) or GET.
    method: String,
    /// `body:/pointer`, `header:Name` or `query:name`: the request is a handshake when it is there (and equals
    /// `equals` when given); `always`: every request of `method` is (Trello's HEAD check, which axum routes as a
    /// GET).
    when: String,
    #[serde(default)]
    equals: Option<String>,
    /// What is echoed (or signed): `body:/pointer`, `header:Name` or `query:name`; none for an `empty` reply.
    #[serde(default)]
    echo: Option<String>,
    /// `text` (text/plain), `json:key` (`{key: value}`), `empty` (200 with no body), or `hmac:key`
    /// (`{key: prefix + HMAC(secret, value)}` in the preset's algorithm, key and signature encodings: X's CRC).
    reply: String,
    /// Answered before any signature check (the provider does not sign it).
    #[serde(default)]
    unsigned: bool,
    /// A query parameter that must equal the registration's `verifyToken` (Meta's `hub.verify_token`).
    #[serde(default)]
    token_query: Option<String>,
}

// ── the compiled presets ──

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Hmac(Algorithm),
    Hash(Algorithm),
    Token,
    Basic,
    /// A JWT signed with HMAC (HS256/HS512) under the secret, in the signature header (monday.com): it does not
    /// cover the body; its `exp` (required) is the timestamp, and an `aud` it names must be the webhook's URL.
    Jwt(Algorithm),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
    Base64url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyEncoding {
    /// The secret's UTF-8 bytes.
    Utf8,
    Base64,
    Hex,
    /// `whsec_` + base64 (Standard Webhooks); without the prefix, base64 too.
    Whsec,
    /// Base64 after the last `_` (`loops_…`).
    PrefixBase64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The whole header is one signature after the prefix.
    Raw,
    /// Entries separated by `sep`; those starting with the prefix are signatures.
    List { sep: &'static str },
    /// `k=v` pairs: the timestamp under `ts_key`, signatures under `sig_key` (repeatable).
    Kv { sep: &'static str, kv: &'static str, ts_key: Option<&'static str>, sig_key: &'static str },
    /// The timestamp first, then signatures (Recurly).
    Positional { sep: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    S,
    Ms,
    Iso,
    HttpDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(&'static str),
    Body,
    Ts,
    Id,
    Url,
    Method,
    Path,
    Secret,
    /// Form fields sorted by name, each `name` + `value` (Twilio, Mandrill).
    Form,
    Header(&'static str),
}

/// Where a handshake reads a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Body(&'static str),
    Header(&'static str),
    Query(&'static str),
    /// Present in every request (`when = "always"`).
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyShape {
    Text,
    Json(&'static str),
    /// 200 with an empty body.
    Empty,
    /// `{key: prefix + signature}`: the echoed value signed with the registration's secret as the preset signs
    /// requests (X's CRC: `{"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))}`).
    Hmac(&'static str),
}

#[derive(Debug, Clone)]
pub struct Handshake {
    pub method: &'static str,
    pub when: Source,
    pub equals: Option<&'static str>,
    /// What is echoed or signed; None for an empty reply.
    pub echo: Option<Source>,
    pub reply: ReplyShape,
    pub unsigned: bool,
    pub token_query: Option<&'static str>,
}

/// A provider described by data.
#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    pub title: &'static str,
    pub docs: &'static str,
    pub svix: bool,
    pub scheme: Scheme,
    /// Empty when the token is in the body (`token_pointer`).
    pub headers: Vec<&'static str>,
    pub token_pointer: Option<&'static str>,
    pub prefix: &'static str,
    pub encoding: Encoding,
    pub key: KeyEncoding,
    pub template: &'static str,
    pub message: Vec<Part>,
    pub format: Format,
    pub timestamp_header: Option<&'static str>,
    pub unit: Unit,
    /// Seconds either way; 0 when the provider signs no timestamp.
    pub tolerance: u64,
    /// The tolerance holds only for the past.
    pub past_only: bool,
    pub id_header: Option<&'static str>,
    pub id_pointer: Option<&'static str>,
    pub event_header: Option<&'static str>,
    /// Tried in turn.
    pub event_pointers: Vec<&'static str>,
    pub handshake: Option<Handshake>,
    pub config: Vec<&'static str>,
    pub secret: &'static str,
    pub issued: bool,
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_opt(s: Option<String>) -> Option<&'static str> {
    s.map(leak)
}

/// Parses and checks the data file.
pub fn parse(text: &str) -> Result<Vec<Preset>, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out: Vec<Preset> = Vec::with_capacity(file.preset.len());
    for e in file.preset {
        let name = e.name.clone();
        let p = compile(e).map_err(|err| format!("preset {name}: {err}"))?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(format!("preset {name} twice"));
        }
        out.push(p);
    }
    Ok(out)
}

fn algorithm(s: Option<&str>) -> Result<Algorithm, String> {
    match s.unwrap_or("sha256") {
        "sha1" => Ok(Algorithm::Sha1),
        "sha256" => Ok(Algorithm::Sha256),
        "sha512" => Ok(Algorithm::Sha512),
        other => Err(format!("unknown algorithm {other}")),
    }
}

fn source(s: &str) -> Result<Source, String> {
    if s == "always" {
        return Ok(Source::Always);
    }
    let (kind, what) = s.split_once(':').ok_or_else(|| format!("{s}: want body:/pointer, header:X or query:x"))?;
    let what = leak(what.to_string());
    match kind {
        "body" if what.starts_with('/') => Ok(Source::Body(what)),
        "header" => Ok(Source::Header(what)),
        "query" => Ok(Source::Query(what)),
        _ => Err(format!("{s}: want body:/pointer, header:X or query:x")),
    }
}

/// Parses a message template into parts: `{body}`, `{ts}`, `{id}`, `{url}`, `{method}`, `{path}`, `{secret}`,
/// `{form}`, `{header:X}` and literal text.
pub fn template(t: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = t;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest.find('}').ok_or_else(|| format!("unclosed {{ in {t}"))?;
                let token = &rest[1..end];
                parts.push(match token {
                    "body" => Part::Body,
                    "ts" => Part::Ts,
                    "id" => Part::Id,
                    "url" => Part::Url,
                    "method" => Part::Method,
                    "path" => Part::Path,
                    "secret" => Part::Secret,
                    "form" => Part::Form,
                    _ => match token.strip_prefix("header:") {
                        Some(h) if !h.is_empty() => Part::Header(leak(h.to_string())),
                        _ => return Err(format!("unknown token {{{token}}} in {t}")),
                    },
                });
                rest = &rest[end + 1..];
            }
            Some(i) => {
                parts.push(Part::Lit(leak(rest[..i].to_string())));
                rest = &rest[i..];
            }
            None => {
                parts.push(Part::Lit(leak(rest.to_string())));
                rest = "";
            }
        }
    }
    Ok(parts)
}

fn compile(e: Entry) -> Result<Preset, String> {
    let lower_name = e.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !lower_name || e.name.is_empty() {
        return Err("a name is lower case letters, digits and hyphens".into());
    }
    if !e.docs.starts_with("https://") {
        return Err("docs must be an https URL".into());
    }
    if e.header.is_empty() == e.token_pointer.is_none()
        || e.header.iter().any(|h| axum::http::HeaderName::try_from(h.as_str()).is_err())
    {
        return Err("header must name one or more valid headers (or token_pointer where the token is)".into());
    }
    let scheme = match e.scheme.as_str() {
        "hmac" => Scheme::Hmac(algorithm(e.algorithm.as_deref())?),
        "hash" => Scheme::Hash(algorithm(e.algorithm.as_deref())?),
        "token" => Scheme::Token,
        "basic" => Scheme::Basic,
        "jwt" => match algorithm(e.algorithm.as_deref())? {
            Algorithm::Sha1 => return Err("a JWT is signed with sha256 or sha512".into()),
            a => Scheme::Jwt(a),
        },
        other => return Err(format!("unknown scheme {other}")),
    };
    let signed = matches!(scheme, Scheme::Hmac(_) | Scheme::Hash(_));
    if !signed && (e.message.is_some() || e.encoding.is_some() || e.format.is_some()) {
        return Err("a token, basic or jwt preset has no message, encoding or format".into());
    }
    if matches!(scheme, Scheme::Token | Scheme::Basic) && e.algorithm.is_some() {
        return Err("a token or basic preset has no algorithm".into());
    }
    if e.token_pointer.as_ref().is_some_and(|p| !p.starts_with('/') || !matches!(scheme, Scheme::Token)) {
        return Err("token_pointer is a JSON pointer, for a token preset".into());
    }
    let is_jwt = matches!(scheme, Scheme::Jwt(_));
    if is_jwt && e.tolerance.is_none_or(|t| t == 0) {
        return Err("a JWT's exp needs a tolerance (the clock skew allowed)".into());
    }
    let encoding = match e.encoding.as_deref().unwrap_or("hex") {
        "hex" => Encoding::Hex,
        "base64" => Encoding::Base64,
        "base64url" => Encoding::Base64url,
        other => return Err(format!("unknown encoding {other}")),
    };
    let key = match e.key.as_deref().unwrap_or("utf8") {
        "utf8" => KeyEncoding::Utf8,
        "base64" => KeyEncoding::Base64,
        "hex" => KeyEncoding::Hex,
        "whsec" => KeyEncoding::Whsec,
        "prefix-base64" => KeyEncoding::PrefixBase64,
        other => return Err(format!("unknown key encoding {other}")),
    };
    let template_text = e.message.unwrap_or_else(|| "{body}".into());
    let message = template(&template_text)?;
    if signed && !message.contains(&Part::Body) && !message.contains(&Part::Form) {
        return Err("the message must sign {body} (or its {form} fields)".into());
    }
    if matches!(scheme, Scheme::Hash(_)) != message.contains(&Part::Secret) {
        return Err("{secret} is in a hash preset's message, and only there".into());
    }
    let sep = || leak(e.separator.clone().unwrap_or_else(|| ",".into()));
    let format = match e.format.as_deref().unwrap_or("raw") {
        "raw" => Format::Raw,
        "list" => Format::List { sep: sep() },
        "kv" => Format::Kv {
            sep: sep(),
            kv: leak(e.kv_separator.clone().unwrap_or_else(|| "=".into())),
            ts_key: leak_opt(e.ts_key.clone()),
            sig_key: leak(e.sig_key.clone().ok_or("a kv format names its sig_key")?),
        },
        "positional" => Format::Positional { sep: sep() },
        other => return Err(format!("unknown format {other}")),
    };
    let ts_in_header = match &format {
        Format::Kv { ts_key, .. } => ts_key.is_some(),
        Format::Positional { .. } => true,
        _ => false,
    };
    if ts_in_header && e.timestamp_header.is_some() {
        return Err("the timestamp is in the signature header or in timestamp_header, not both".into());
    }
    let has_ts = ts_in_header || e.timestamp_header.is_some();
    if has_ts != message.contains(&Part::Ts) {
        return Err("a preset with a timestamp signs {ts}, and only then".into());
    }
    if has_ts && e.tolerance.is_none_or(|t| t == 0) {
        return Err("a timestamp needs a tolerance".into());
    }
    if !has_ts && ((e.tolerance.is_some() && !is_jwt) || e.timestamp_unit.is_some() || e.past_only) {
        return Err("tolerance and timestamp_unit need a timestamp".into());
    }
    if message.contains(&Part::Id) && e.id_header.is_none() {
        return Err("{id} needs id_header".into());
    }
    let unit = match e.timestamp_unit.as_deref().unwrap_or("s") {
        "s" => Unit::S,
        "ms" => Unit::Ms,
        "iso" => Unit::Iso,
        "http-date" => Unit::HttpDate,
        other => return Err(format!("unknown timestamp_unit {other}")),
    };
    let event_pointers = e.event_pointer.into_vec();
    for p in e.id_pointer.iter().chain(&event_pointers) {
        if !p.starts_with('/') {
            return Err(format!("{p}: a JSON pointer starts with /"));
        }
    }
    for c in &e.config {
        if !matches!(c.as_str(), "verifyToken" | "url") {
            return Err(format!("unknown config field {c}"));
        }
    }
    let handshake = match e.handshake {
        None => None,
        Some(h) => {
            let method = match h.method.as_str() {
                "POST" => "POST",
                "GET" => "GET",
                other => return Err(format!("handshake method {other}: POST or GET")),
            };
            let reply = match h.reply.as_str() {
                "text" => ReplyShape::Text,
                "empty" => ReplyShape::Empty,
                r => match (r.strip_prefix("json:"), r.strip_prefix("hmac:")) {
                    (Some(k), _) if !k.is_empty() => ReplyShape::Json(leak(k.to_string())),
                    (_, Some(k)) if !k.is_empty() && matches!(scheme, Scheme::Hmac(_)) => {
                        ReplyShape::Hmac(leak(k.to_string()))
                    }
                    _ => return Err(format!("handshake reply {r}: text, json:key, empty or hmac:key (hmac presets)")),
                },
            };
            let echo = match (&reply, h.echo.as_deref()) {
                (ReplyShape::Empty, None) => None,
                (ReplyShape::Empty, Some(_)) => return Err("an empty handshake reply echoes nothing".into()),
                (_, Some(e)) => Some(source(e)?),
                (_, None) => return Err("a handshake reply names what it echoes (echo)".into()),
            };
            if h.when == "always" && h.equals.is_some() {
                return Err("a handshake `always` matched compares nothing (equals)".into());
            }
            if method == "GET" && !h.unsigned {
                return Err("a GET handshake carries no body to sign: it is unsigned".into());
            }
            if h.token_query.is_some() && !e.config.iter().any(|c| c == "verifyToken") {
                return Err("token_query needs the verifyToken config field".into());
            }
            Some(Handshake {
                method,
                when: source(&h.when)?,
                equals: leak_opt(h.equals),
                echo,
                reply,
                unsigned: h.unsigned,
                token_query: leak_opt(h.token_query),
            })
        }
    };
    if e.secret.trim().is_empty() || e.title.trim().is_empty() {
        return Err("title and secret must say something".into());
    }
    Ok(Preset {
        name: leak(e.name),
        title: leak(e.title),
        docs: leak(e.docs),
        svix: e.svix,
        scheme,
        headers: e.header.into_iter().map(leak).collect(),
        token_pointer: leak_opt(e.token_pointer),
        prefix: leak(e.prefix),
        encoding,
        key,
        template: if signed { leak(template_text) } else { "" },
        message,
        format,
        timestamp_header: leak_opt(e.timestamp_header),
        unit,
        tolerance: e.tolerance.unwrap_or(0),
        past_only: e.past_only,
        id_header: leak_opt(e.id_header),
        id_pointer: leak_opt(e.id_pointer),
        event_header: leak_opt(e.event_header),
        event_pointers: event_pointers.into_iter().map(leak).collect(),
        handshake,
        config: e.config.into_iter().map(leak).collect(),
        secret: leak(e.secret),
        issued: e.issued,
    })
}

// ── verification ──

/// At most this many signatures are read from one request (rotation lists are short).
const MAX_OFFERED: usize = 8;

/// Signatures decoded onto the stack.
struct Offered {
    sigs: [[u8; 64]; MAX_OFFERED],
    n: usize,
}

impl Offered {
    fn new() -> Self {
        Offered { sigs: [[0; 64]; MAX_OFFERED], n: 0 }
    }

    /// Decodes `text` as a signature of `len` bytes; false when it is not one.
    fn push(&mut self, text: &str, encoding: Encoding, len: usize) -> bool {
        if self.n == MAX_OFFERED {
            return false;
        }
        let slot = &mut self.sigs[self.n][..len];
        let ok = match encoding {
            Encoding::Hex => text.len() == 2 * len && hex::decode_to_slice(text, slot).is_ok(),
            Encoding::Base64 | Encoding::Base64url => decode_b64_into(text, encoding, slot),
        };
        if ok {
            self.n += 1;
        }
        ok
    }

    fn iter(&self, len: usize) -> impl Iterator<Item = &[u8]> {
        self.sigs[..self.n].iter().map(move |s| &s[..len])
    }
}

fn decode_b64_into(text: &str, encoding: Encoding, out: &mut [u8]) -> bool {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    const CFG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const STD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CFG);
    const URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CFG);
    let engine = if encoding == Encoding::Base64url { &URL } else { &STD };
    let mut buf = [0u8; 66];
    match engine.decode_slice(text.as_bytes(), &mut buf) {
        Ok(n) if n == out.len() => {
            out.copy_from_slice(&buf[..n]);
            true
        }
        _ => false,
    }
}

enum Hasher {
    Hmac1(Hmac<sha1::Sha1>),
    Hmac256(Hmac<sha2::Sha256>),
    Hmac512(Hmac<sha2::Sha512>),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(scheme: Scheme, key: &[u8]) -> Hasher {
        match scheme {
            Scheme::Hmac(Algorithm::Sha1) => Hasher::Hmac1(Hmac::new_from_slice(key).expect("any key length")),
            Scheme::Hmac(Algorithm::Sha256) => Hasher::Hmac256(Hmac::new_from_slice(key).expect("any key length")),
            Scheme::Hmac(Algorithm::Sha512) => Hasher::Hmac512(Hmac::new_from_slice(key).expect("any key length")),
            Scheme::Hash(Algorithm::Sha1) => Hasher::Sha1(sha1::Sha1::new()),
            Scheme::Hash(Algorithm::Sha256) => Hasher::Sha256(sha2::Sha256::new()),
            Scheme::Hash(Algorithm::Sha512) | Scheme::Token | Scheme::Basic | Scheme::Jwt(_) => {
                Hasher::Sha512(sha2::Sha512::new())
            }
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Hmac1(m) => m.update(b),
            Hasher::Hmac256(m) => m.update(b),
            Hasher::Hmac512(m) => m.update(b),
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    fn finish(self, out: &mut [u8; 64]) {
        match self {
            Hasher::Hmac1(m) => out[..20].copy_from_slice(&m.finalize().into_bytes()),
            Hasher::Hmac256(m) => out[..32].copy_from_slice(&m.finalize().into_bytes()),
            Hasher::Hmac512(m) => out.copy_from_slice(&m.finalize().into_bytes()),
            Hasher::Sha1(h) => out[..20].copy_from_slice(&h.finalize()),
            Hasher::Sha256(h) => out[..32].copy_from_slice(&h.finalize()),
            Hasher::Sha512(h) => out.copy_from_slice(&h.finalize()),
        }
    }
}

/// What a verified request tells: its delivery id and event type, when the preset says where they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub delivery_id: Option<String>,
    pub event_type: Option<String>,
}

/// An answer to a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn json(v: &Value) -> Reply {
        Reply { content_type: "application/json", body: v.to_string() }
    }
}

/// The value of query parameter `name` in `url`.
fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

impl Preset {
    /// The key bytes of a secret, None when it is not in the preset's key encoding.
    fn key_bytes<'s>(&self, secret: &'s str) -> Option<std::borrow::Cow<'s, [u8]>> {
        use std::borrow::Cow;
        let s = secret.trim();
        let decoded = match self.key {
            KeyEncoding::Utf8 => return Some(Cow::Borrowed(secret.as_bytes())),
            KeyEncoding::Base64 => b64_decode(s),
            KeyEncoding::Hex => hex::decode(s).ok(),
            KeyEncoding::Whsec => b64_decode(s.strip_prefix("whsec_").unwrap_or(s)),
            KeyEncoding::PrefixBase64 => b64_decode(s.rsplit_once('_').map_or(s, |(_, k)| k)),
        };
        decoded.filter(|k| !k.is_empty()).map(Cow::Owned)
    }

    /// The first signature header present, with its name.
    fn first_header<'r>(&self, req: &'r Incoming) -> Option<(&'static str, &'r str)> {
        self.headers.iter().find_map(|h| req.header(h).map(|v| (*h, v)))
    }

    /// Reads the offered signatures and, when the header carries it, the timestamp text.
    fn offered<'r>(&self, req: &'r Incoming, offered: &mut Offered) -> Result<Option<&'r str>, VerifyError> {
        let (Scheme::Hmac(alg) | Scheme::Hash(alg)) = self.scheme else {
            return Ok(None);
        };
        let len = alg.len();
        let mut present = false;
        let mut ts = None;
        for &name in &self.headers {
            let Some(value) = req.header(name) else {
                continue;
            };
            present = true;
            let value = value.trim();
            match &self.format {
                Format::Raw => {
                    let sig = value.strip_prefix(self.prefix).ok_or(VerifyError::Malformed(name))?;
                    if !offered.push(sig.trim(), self.encoding, len) {
                        return Err(VerifyError::Malformed(name));
                    }
                }
                Format::List { sep } => {
                    let mut entries = 0;
                    for item in value.split(sep).map(str::trim) {
                        if let Some(sig) = item.strip_prefix(self.prefix) {
                            entries += 1;
                            offered.push(sig.trim(), self.encoding, len);
                        }
                    }
                    if entries == 0 {
                        return Err(VerifyError::Malformed(name));
                    }
                }
                Format::Kv { sep, kv, ts_key, sig_key } => {
                    let mut entries = 0;
                    for item in value.split(sep) {
                        let (k, v) = item.split_once(kv).unwrap_or((item, ""));
                        let (k, v) = (k.trim(), v.trim());
                        if Some(k) == *ts_key && ts.is_none() {
                            ts = Some(v);
                        } else if k == *sig_key {
                            entries += 1;
                            // As the providers' libraries: an entry that does not decode matches nothing.
                            offered.push(v.strip_prefix(self.prefix).unwrap_or(v), self.encoding, len);
                        }
                    }
                    if entries == 0 || (ts_key.is_some() && ts.is_none_or(str::is_empty)) {
                        return Err(VerifyError::Malformed(name));
                    }
                }
                Format::Positional { sep } => {
                    let mut items = value.split(sep).map(str::trim);
                    ts = items.next().filter(|t| !t.is_empty());
                    let mut entries = 0;
                    for sig in items {
                        entries += 1;
                        offered.push(sig, self.encoding, len);
                    }
                    if entries == 0 || ts.is_none() {
                        return Err(VerifyError::Malformed(name));
                    }
                }
            }
        }
        if !present {
            return Err(VerifyError::Missing(self.headers[0]));
        }
        Ok(ts)
    }

    /// The timestamp in unix seconds.
    fn parse_ts(&self, text: &str) -> Option<i64> {
        let text = text.trim();
        match self.unit {
            Unit::S => text.parse().ok(),
            Unit::Ms => text.parse::<i64>().ok().map(|ms| ms.div_euclid(1000)),
            Unit::Iso => chrono::DateTime::parse_from_rfc3339(text).ok().map(|d| d.timestamp()),
            Unit::HttpDate => chrono::DateTime::parse_from_rfc2822(text).ok().map(|d| d.timestamp()),
        }
    }

    /// Feeds the signed message to `h`.
    fn feed(&self, h: &mut Hasher, req: &Incoming, ts: &str, id: &str, secret: &[u8], url: &str) {
        for part in &self.message {
            match part {
                Part::Lit(s) => h.update(s.as_bytes()),
                Part::Body => h.update(req.body),
                Part::Ts => h.update(ts.as_bytes()),
                Part::Id => h.update(id.as_bytes()),
                Part::Url => h.update(url.as_bytes()),
                Part::Method => h.update(b"POST"),
                Part::Path => h.update(path_of(url).as_bytes()),
                Part::Secret => h.update(secret),
                Part::Form => {
                    let mut fields: Vec<(String, String)> =
                        url::form_urlencoded::parse(req.body).into_owned().collect();
                    fields.sort();
                    for (k, v) in fields {
                        h.update(k.as_bytes());
                        h.update(v.as_bytes());
                    }
                }
                Part::Header(name) => h.update(req.header(name).unwrap_or_default().as_bytes()),
            }
        }
    }

    /// Checks a request against each live secret (constant-time, every pair compared). `cfg.url` replaces the
    /// request's URL in the signed message when the provider was given another one (a proxy in front).
    pub fn verify_request(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        match self.scheme {
            Scheme::Token if self.token_pointer.is_some() => return self.verify_body_token(req, secrets),
            Scheme::Token | Scheme::Basic => return self.verify_token(req, secrets),
            Scheme::Jwt(alg) => return self.verify_jwt(req, alg, secrets, cfg),
            Scheme::Hmac(_) | Scheme::Hash(_) => {}
        }
        let mut offered = Offered::new();
        let in_header = self.offered(req, &mut offered)?;
        let ts_text = match (in_header, self.timestamp_header) {
            (Some(t), _) => Some(t),
            (None, Some(h)) => Some(req.header(h).ok_or(VerifyError::Missing(h))?),
            (None, None) => None,
        };
        let ts = match ts_text {
            Some(t) => {
                let name = self.timestamp_header.unwrap_or(self.headers[0]);
                Some(self.parse_ts(t).ok_or(VerifyError::Malformed(name))?)
            }
            None => None,
        };
        let id = match self.id_header.filter(|_| self.message.contains(&Part::Id)) {
            Some(h) => req.header(h).filter(|v| !v.is_empty()).ok_or(VerifyError::Missing(h))?,
            None => "",
        };
        let url = cfg.url.as_deref().unwrap_or(req.url);
        let len = match self.scheme {
            Scheme::Hmac(a) | Scheme::Hash(a) => a.len(),
            _ => 0,
        };
        let mut live = 0;
        let mut ok = false;
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            live += 1;
            let Some(key) = self.key_bytes(secret) else {
                continue;
            };
            let mut h = Hasher::new(self.scheme, &key);
            self.feed(&mut h, req, ts_text.unwrap_or_default(), id, &key, url);
            let mut expected = [0u8; 64];
            h.finish(&mut expected);
            for sig in offered.iter(len) {
                ok |= ct_eq(&expected[..len], sig);
            }
        }
        if live == 0 {
            return Err(VerifyError::Config("no webhook secret configured".into()));
        }
        if !ok {
            return Err(VerifyError::BadSignature);
        }
        if let Some(ts) = ts {
            let tolerance = cfg.tolerance_seconds.unwrap_or(self.tolerance);
            let late = i64::try_from(tolerance).is_ok_and(|t| ts < req.now.saturating_sub(t));
            if late || (!self.past_only && !fresh(ts, req.now, tolerance)) {
                return Err(VerifyError::Stale);
            }
        }
        Ok(())
    }

    /// A shared token (or Basic credentials `user:password`) in a header, compared as SHA-256 digests so that
    /// neither the time nor a length mismatch tells the secret.
    fn verify_token(&self, req: &Incoming, secrets: &[&str]) -> Result<(), VerifyError> {
        use base64::Engine as _;
        let (name, value) = self.first_header(req).ok_or(VerifyError::Missing(self.headers[0]))?;
        let value = value.trim();
        let given = if self.prefix.is_empty() {
            Some(value)
        } else if value.len() >= self.prefix.len() && value[..self.prefix.len()].eq_ignore_ascii_case(self.prefix) {
            Some(value[self.prefix.len()..].trim())
        } else {
            None
        };
        let given = given.filter(|g| !g.is_empty()).ok_or(VerifyError::Malformed(name))?;
        let given = match self.scheme {
            Scheme::Basic => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(given)
                    .map_err(|_| VerifyError::Malformed(name))?;
                sha2::Sha256::digest(raw)
            }
            _ => sha2::Sha256::digest(given.as_bytes()),
        };
        any_secret(secrets, |s| ct_eq(&sha2::Sha256::digest(s.as_bytes()), &given))
    }

    /// A token in the JSON body at `token_pointer` (each value its `*` segments find), every one a live secret
    /// (compared as SHA-256 digests, as [`Self::verify_token`]).
    fn verify_body_token(&self, req: &Incoming, secrets: &[&str]) -> Result<(), VerifyError> {
        let pointer = self.token_pointer.unwrap_or_default();
        let name = pointer.rsplit('/').next().unwrap_or(pointer);
        let body: Value = serde_json::from_slice(req.body).map_err(|_| VerifyError::Missing(name))?;
        let mut found = Vec::new();
        pointer_all(&body, pointer.trim_start_matches('/').split('/'), &mut found);
        if found.is_empty() {
            return Err(VerifyError::Missing(name));
        }
        let given: Option<Vec<_>> =
            found.iter().map(|v| v.as_str().map(|t| sha2::Sha256::digest(t.as_bytes()))).collect();
        let given = given.ok_or(VerifyError::Malformed(name))?;
        // Every value must be one of the live secrets (a batch mixing subscriptions of another client is refused).
        let live: Vec<_> =
            secrets.iter().filter(|s| !s.is_empty()).map(|s| sha2::Sha256::digest(s.as_bytes())).collect();
        if live.is_empty() {
            return Err(VerifyError::Config("no webhook secret configured".into()));
        }
        match given.iter().all(|g| live.iter().fold(false, |hit, s| hit | ct_eq(s, g))) {
            true => Ok(()),
            false => Err(VerifyError::BadSignature),
        }
    }

    /// A JWT in the signature header (after `prefix`, when it is there), signed with HMAC under one of the live
    /// secrets; `exp` is required and checked with the tolerance as leeway, and an `aud` it names must be the URL
    /// the provider called (`cfg.url`, else the request's, with or without its query).
    fn verify_jwt(
        &self,
        req: &Incoming,
        alg: Algorithm,
        secrets: &[&str],
        cfg: &ProviderConfig,
    ) -> Result<(), VerifyError> {
        use jsonwebtoken::errors::ErrorKind;
        let (name, value) = self.first_header(req).ok_or(VerifyError::Missing(self.headers[0]))?;
        let value = value.trim();
        let token = match value.get(..self.prefix.len()) {
            Some(p) if !self.prefix.is_empty() && p.eq_ignore_ascii_case(self.prefix) => &value[self.prefix.len()..],
            _ => value,
        }
        .trim();
        let algorithm = match alg {
            Algorithm::Sha512 => jsonwebtoken::Algorithm::HS512,
            _ => jsonwebtoken::Algorithm::HS256,
        };
        let mut rules = jsonwebtoken::Validation::new(algorithm);
        // `exp` is required, and checked below against the request's `now` rather than the library's clock.
        rules.set_required_spec_claims(&["exp"]);
        rules.validate_exp = false;
        rules.validate_aud = false;
        let mut outcome = Err(VerifyError::BadSignature);
        let mut live = 0;
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            live += 1;
            let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
            match jsonwebtoken::decode::<Value>(token, &key, &rules) {
                Ok(data) => {
                    outcome = Ok(data.claims);
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
                Err(_) if outcome == Err(VerifyError::BadSignature) => outcome = Err(VerifyError::Malformed(name)),
                Err(_) => {}
            }
        }
        if live == 0 {
            return Err(VerifyError::Config("no webhook secret configured".into()));
        }
        let claims = outcome?;
        let leeway = i64::try_from(cfg.tolerance_seconds.unwrap_or(self.tolerance)).unwrap_or(i64::MAX);
        if claims["exp"].as_i64().is_none_or(|exp| exp.saturating_add(leeway) < req.now) {
            return Err(VerifyError::Stale);
        }
        match claims.get("aud").and_then(Value::as_str).filter(|a| !a.is_empty()) {
            None => Ok(()),
            Some(aud) => {
                let url = cfg.url.as_deref().unwrap_or(req.url);
                let bare = url.split_once('?').map_or(url, |(b, _)| b);
                if aud == url || aud == bare {
                    Ok(())
                } else {
                    Err(VerifyError::Config(format!(
                        "the token's aud {aud} is not this webhook's URL (behind a proxy, set providerConfig.url)"
                    )))
                }
            }
        }
    }

    /// A source's config as an ingest API takes it, `{secret, verifyToken?, url?, toleranceSeconds?}`, as the
    /// secret and the provider settings; Err names the field that is missing or wrong.
    pub fn source_config(&self, config: &Value) -> Result<(String, ProviderConfig), (String, String)> {
        let mut fields = config.as_object().cloned().ok_or(("config".to_string(), "must be an object".to_string()))?;
        let secret = match fields.remove("secret") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err(("secret".into(), format!("required by {}", self.name))),
        };
        let cfg: ProviderConfig =
            serde_json::from_value(Value::Object(fields)).map_err(|e| ("config".into(), e.to_string()))?;
        match self.missing_config(&cfg) {
            Some(f) => Err((f.to_string(), format!("required by {}", self.name))),
            None => Ok((secret, cfg)),
        }
    }

    /// Verifies and reads the delivery id and event type: what an ingest face needs of a preset.
    pub fn check(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<Verified, VerifyError> {
        self.verify_request(req, secrets, cfg)?;
        let json: Option<Value> = (self.id_pointer.is_some() || !self.event_pointers.is_empty())
            .then(|| serde_json::from_slice(req.body).ok())
            .flatten();
        Ok(Verified {
            delivery_id: self.delivery_id(req, json.as_ref()),
            event_type: self.event_type(req, json.as_ref()),
        })
    }

    fn delivery_id(&self, req: &Incoming, json: Option<&Value>) -> Option<String> {
        let from_header = self.id_header.and_then(|h| req.header(h)).filter(|v| !v.is_empty()).map(str::to_string);
        from_header.or_else(|| json?.pointer(self.id_pointer?).and_then(id_string))
    }

    fn event_type(&self, req: &Incoming, json: Option<&Value>) -> Option<String> {
        let from_header = self.event_header.and_then(|h| req.header(h)).filter(|v| !v.is_empty()).map(str::to_string);
        from_header.or_else(|| self.event_pointers.iter().find_map(|p| json?.pointer(p).and_then(id_string)))
    }

    /// The config fields a registration must give beside the secret, or the first one missing.
    pub fn missing_config(&self, cfg: &ProviderConfig) -> Option<&'static str> {
        self.config.iter().copied().find(|f| match *f {
            "verifyToken" => cfg.verify_token.as_deref().is_none_or(str::is_empty),
            "url" => cfg.url.as_deref().is_none_or(str::is_empty),
            _ => false,
        })
    }

    fn read(&self, src: &Source, req: &Incoming, json: &mut Option<Option<Value>>) -> Option<String> {
        match src {
            Source::Header(h) => req.header(h).map(str::to_string),
            Source::Query(q) => query_param(req.url, q),
            Source::Body(p) => {
                let v = json.get_or_insert_with(|| serde_json::from_slice(req.body).ok());
                v.as_ref()?.pointer(p).and_then(id_string)
            }
            Source::Always => Some(String::new()),
        }
    }

    /// The handshake answer for a request made with `method`, when it is one. `signed` says whether the request
    /// passed the signature check (unsigned handshakes are answered before it). A reply signed with the secret
    /// (`hmac:key`) needs [`Preset::handshake_reply_with`].
    pub fn handshake_reply(&self, req: &Incoming, method: &str, signed: bool, cfg: &ProviderConfig) -> Option<Reply> {
        self.handshake_reply_with(req, method, signed, cfg, &[])
    }

    /// [`Preset::handshake_reply`] with the registration's live secrets, for a reply computed with one (X's CRC
    /// signs the `crc_token` with the first live secret, the consumer secret; without one there is no answer).
    pub fn handshake_reply_with(
        &self,
        req: &Incoming,
        method: &str,
        signed: bool,
        cfg: &ProviderConfig,
        secrets: &[&str],
    ) -> Option<Reply> {
        let h = self.handshake.as_ref()?;
        if h.method != method || h.unsigned == signed {
            return None;
        }
        let mut json = None;
        let when = self.read(&h.when, req, &mut json)?;
        if h.equals.is_some_and(|e| e != when) {
            return None;
        }
        if let Some(q) = h.token_query {
            let given = query_param(req.url, q)?;
            let want = cfg.verify_token.as_deref()?;
            if !ct_eq(&sha2::Sha256::digest(given.as_bytes()), &sha2::Sha256::digest(want.as_bytes())) {
                return None;
            }
        }
        let Some(echo) = &h.echo else {
            return Some(Reply { content_type: "text/plain; charset=utf-8", body: String::new() });
        };
        let value = self.read(echo, req, &mut json)?;
        // An echo is the provider's nonce: short, printable.
        if value.len() > 1024 || value.chars().any(char::is_control) {
            return None;
        }
        Some(match h.reply {
            ReplyShape::Text => Reply { content_type: "text/plain; charset=utf-8", body: value },
            ReplyShape::Json(key) => Reply::json(&json!({ key: value })),
            ReplyShape::Empty => Reply { content_type: "text/plain; charset=utf-8", body: String::new() },
            ReplyShape::Hmac(key) => {
                let Scheme::Hmac(alg) = self.scheme else {
                    return None;
                };
                let secret = secrets.iter().find(|s| !s.is_empty())?;
                let key_bytes = self.key_bytes(secret)?;
                let mut mac = Hasher::new(self.scheme, &key_bytes);
                mac.update(value.as_bytes());
                let mut out = [0u8; 64];
                mac.finish(&mut out);
                let len = alg.len();
                Reply::json(&json!({ key: format!("{}{}", self.prefix, encode(&out[..len], self.encoding)) }))
            }
        })
    }

    /// How it verifies, for the presets' listing.
    pub fn describe(&self) -> Value {
        let (family, algorithm) = match self.scheme {
            Scheme::Hmac(a) => ("hmac", Some(a)),
            Scheme::Hash(a) => ("hash", Some(a)),
            Scheme::Token => ("token", None),
            Scheme::Jwt(a) => ("jwt", Some(a)),
            Scheme::Basic => ("basic", None),
        };
        let signed = matches!(self.scheme, Scheme::Hmac(_) | Scheme::Hash(_));
        let format = match &self.format {
            Format::Raw => json!({ "kind": "raw" }),
            Format::List { sep } => json!({ "kind": "list", "separator": sep }),
            Format::Kv { sep, kv, ts_key, sig_key } => {
                json!({ "kind": "kv", "separator": sep, "kvSeparator": kv, "tsKey": ts_key, "sigKey": sig_key })
            }
            Format::Positional { sep } => json!({ "kind": "positional", "separator": sep }),
        };
        let has_ts = self.tolerance > 0;
        let mut config = vec!["secret"];
        config.extend(self.config.iter().copied());
        json!({
            "name": self.name,
            "title": self.title,
            "family": family,
            "svixIngestType": self.svix,
            "docs": self.docs,
            "signatureHeaders": self.headers,
            "algorithm": algorithm,
            "message": signed.then_some(self.template),
            "encoding": signed.then_some(self.encoding),
            "prefix": (!self.prefix.is_empty()).then_some(self.prefix),
            "format": signed.then_some(format),
            "keyEncoding": signed.then_some(self.key),
            "tokenPointer": self.token_pointer,
            "timestamp": has_ts.then(|| json!({
                "header": if family == "jwt" { "exp claim" } else { self.timestamp_header.unwrap_or(self.headers[0]) },
                "unit": self.unit,
                "toleranceSeconds": self.tolerance,
                "pastOnly": self.past_only,
            })),
            "deliveryId": self.id_header.map(|h| format!("header:{h}")).or(self.id_pointer.map(|p| format!("body:{p}"))),
            "eventType": self.event_header.map(|h| format!("header:{h}"))
                .or((!self.event_pointers.is_empty()).then(|| format!("body:{}", self.event_pointers.join(" or body:")))),
            "handshake": self.handshake.as_ref().map(|h| json!({
                "method": h.method, "unsigned": h.unsigned,
                "reply": match h.reply {
                    ReplyShape::Text => "text".to_string(),
                    ReplyShape::Json(k) => format!("json:{k}"),
                    ReplyShape::Empty => "empty".to_string(),
                    ReplyShape::Hmac(k) => format!("hmac:{k}"),
                },
            })),
            "config": config,
            "secretIssuedByProvider": self.issued,
            "secretHelp": self.secret,
        })
    }

    /// How it verifies, in a few words (the README's table, the dashboard's).
    pub fn how(&self) -> String {
        match self.scheme {
            Scheme::Hmac(a) | Scheme::Hash(a) => {
                let kind = if matches!(self.scheme, Scheme::Hash(_)) { "SHA" } else { "HMAC-SHA" };
                let bits = match a {
                    Algorithm::Sha1 => "1",
                    Algorithm::Sha256 => "256",
                    Algorithm::Sha512 => "512",
                };
                let enc = match self.encoding {
                    Encoding::Hex => "hex",
                    Encoding::Base64 => "base64",
                    Encoding::Base64url => "base64url",
                };
                let prefix = if self.prefix.is_empty() { String::new() } else { format!(", `{}`", self.prefix.trim()) };
                format!("{kind}{bits} of `{}`, {enc}{prefix}", self.template)
            }
            Scheme::Token => match self.token_pointer {
                Some(p) => format!("shared token in the body at `{p}`"),
                None => "shared token".to_string(),
            },
            Scheme::Jwt(Algorithm::Sha512) => "JWT (HS512), `exp` checked".to_string(),
            Scheme::Jwt(_) => "JWT (HS256), `exp` checked".to_string(),
            Scheme::Basic => "HTTP Basic auth".to_string(),
        }
    }

    /// One line of the README's table.
    pub fn markdown_row(&self) -> String {
        let ts = if self.tolerance > 0 { format!("{} s", self.tolerance) } else { "—".to_string() };
        let header = match self.headers.is_empty() {
            true => "— (in the body)".to_string(),
            false => format!("`{}`", self.headers.join("`, `")),
        };
        format!(
            "| `{}` | [{}]({}) | {header} | {} | {} |",
            self.name,
            self.title,
            self.docs,
            self.how().replace('|', "\\|"),
            ts
        )
    }
}

/// The README's presets table, generated from the data file.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| preset (`integrationId`) | provider | signature header | how it verifies | timestamp tolerance |\n\
         |---|---|---|---|---|\n",
    );
    for p in PRESETS.iter() {
        out.push_str(&p.markdown_row());
        out.push('\n');
    }
    out
}

/// A signature in the preset's text encoding.
fn encode(bytes: &[u8], encoding: Encoding) -> String {
    use base64::Engine as _;
    match encoding {
        Encoding::Hex => hex::encode(bytes),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        Encoding::Base64url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    }
}

/// Every value at `path` in `v`, a `*` segment standing for each element of an array.
fn pointer_all<'v>(v: &'v Value, mut path: std::str::Split<'_, char>, out: &mut Vec<&'v Value>) {
    match path.next() {
        None => out.push(v),
        Some("*") => {
            for item in v.as_array().into_iter().flatten() {
                pointer_all(item, path.clone(), out);
            }
        }
        Some(key) => {
            let key = key.replace("~1", "/").replace("~0", "~");
            let next = match v {
                Value::Object(m) => m.get(&key),
                Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            if let Some(next) = next {
                pointer_all(next, path, out);
            }
        }
    }
}

/// The path and query of a URL (`/webhooks/whr_…?x=1`).
fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
}

// ── a preset as a provider of the gateway ──

impl Provider for Preset {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> About {
        About { title: self.title, secret: self.secret, uses_secret: true }
    }

    fn check_config(&self, cfg: &ProviderConfig) -> Result<(), VerifyError> {
        match self.missing_config(cfg) {
            Some(f) => Err(VerifyError::Config(format!("{f} is required for {}", self.name))),
            None => Ok(()),
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        self.verify_request(req, secrets, cfg)
    }

    fn preset(&self) -> Option<&Preset> {
        Some(self)
    }

    fn unsigned_handshake(
        &self,
        req: &Incoming,
        method: &str,
        cfg: &ProviderConfig,
        secrets: &[&str],
    ) -> Option<Reply> {
        self.handshake_reply_with(req, method, false, cfg, secrets)
    }

    fn signed_handshake(&self, req: &Incoming, _secrets: &[&str], cfg: &ProviderConfig) -> Option<Reply> {
        self.handshake_reply(req, "POST", true, cfg)
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        // Most providers post JSON; form posts (Mandrill, Slack commands) become an object of their fields.
        let data: Value = match serde_json::from_slice::<Value>(req.body) {
            Ok(v) => v,
            Err(_) => match std::str::from_utf8(req.body) {
                Ok(text) if text.contains('=') => Value::Object(
                    url::form_urlencoded::parse(req.body)
                        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                        .collect(),
                ),
                Ok(text) => Value::String(text.to_string()),
                Err(_) => return Err("the body is neither JSON, a form nor text".into()),
            },
        };
        let native = self.event_type(req, Some(&data));
        let (entity_type, event_type) = match native.as_deref() {
            Some(t) => match t.rsplit_once(['.', '/', ':']) {
                Some((e, ev)) if !e.is_empty() && !ev.is_empty() => (e.to_string(), ev.to_string()),
                _ => (self.name.to_string(), t.to_string()),
            },
            None => (self.name.to_string(), "received".to_string()),
        };
        let delivery_id = self.delivery_id(req, Some(&data));
        let entity_id = ["/data/object/id", "/data/id", "/id"]
            .iter()
            .find_map(|p| data.pointer(p).and_then(id_string))
            .or_else(|| delivery_id.clone())
            .unwrap_or_else(|| body_digest(req.body));
        Ok(Normalized {
            event_type: clean_name(&event_type),
            entity_type: clean_name(&entity_type),
            entity_id,
            data,
            native_type: native.as_deref().map(clean_name),
            delivery_id: delivery_id.or_else(|| Some(body_digest(req.body))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_parses_and_every_entry_is_valid() {
        let presets = parse(DATA).unwrap();
        assert!(presets.len() >= 60, "{} presets", presets.len());
        assert_eq!(PRESETS.len(), presets.len());
    }

    #[test]
    fn templates() {
        assert_eq!(template("v0:{ts}:{body}").unwrap(), vec![Part::Lit("v0:"), Part::Ts, Part::Lit(":"), Part::Body]);
        assert_eq!(template("{header:X-A}{body}").unwrap(), vec![Part::Header("X-A"), Part::Body]);
        assert!(template("{nope}").is_err());
        assert!(template("{body").is_err());
    }

    #[test]
    fn bad_entries_are_refused() {
        let base = "name = \"x\"\ntitle = \"X\"\ndocs = \"https://x\"\nsecret = \"s\"\n";
        for (extra, why) in [
            ("scheme = \"hmac\"\nheader = [\"X-Sig\"]\nalgorithm = \"md5\"\n", "algorithm"),
            ("scheme = \"hmac\"\nheader = [\"X-Sig\"]\nmessage = \"{ts}.{body}\"\n", "timestamp"),
            ("scheme = \"hmac\"\nheader = [\"X-Sig\"]\nmessage = \"{ts}\"\ntimestamp_header = \"X-T\"\ntolerance = 1\n", "body"),
            ("scheme = \"token\"\nheader = [\"X-T\"]\nalgorithm = \"sha1\"\n", "token"),
            ("scheme = \"hmac\"\nheader = [\"bad header\"]\n", "header"),
            ("scheme = \"hmac\"\nheader = [\"X-Sig\"]\nformat = \"kv\"\n", "sig_key"),
        ] {
            let text = format!("[[preset]]\n{base}{extra}");
            assert!(parse(&text).is_err(), "{why}: {text}");
        }
        assert!(parse(&format!("[[preset]]\n{base}scheme = \"hmac\"\nheader = [\"X-Sig\"]\n")).is_ok());
    }

    #[test]
    fn check_tells_the_delivery_id_and_event_type() {
        use axum::http::{HeaderMap, HeaderValue};
        let p = by_name("github").unwrap();
        let (secret, cfg) = p.source_config(&json!({ "secret": "It's a Secret to Everybody" })).unwrap();
        let mut h = HeaderMap::new();
        // GitHub's documentation vector.
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        h.insert("x-hub-signature-256", HeaderValue::from_static(sig));
        h.insert("x-github-delivery", HeaderValue::from_static("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        h.insert("x-github-event", HeaderValue::from_static("ping"));
        let req = Incoming { headers: &h, body: b"Hello, World!", url: "", now: 0 };
        let v = p.check(&req, &[&secret], &cfg).unwrap();
        assert_eq!(v.delivery_id.as_deref(), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        assert_eq!(v.event_type.as_deref(), Some("ping"));

        let stripe = by_name("stripe").unwrap();
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let mut h = HeaderMap::new();
        let mac = hmac_sha256(b"whsec_x", &[b"1700000000.", body]);
        h.insert("stripe-signature", HeaderValue::from_str(&format!("t=1700000000,v1={}", hex::encode(mac))).unwrap());
        let req = Incoming { headers: &h, body, url: "", now: 1_700_000_000 };
        let v = stripe.check(&req, &["whsec_x"], &ProviderConfig::default()).unwrap();
        assert_eq!((v.delivery_id.as_deref(), v.event_type.as_deref()), (Some("evt_1"), Some("invoice.paid")));

        // config errors name the field
        assert_eq!(p.source_config(&json!({})).unwrap_err().0, "secret");
        assert_eq!(by_name("meta").unwrap().source_config(&json!({"secret": "s"})).unwrap_err().0, "verifyToken");
        assert!(by_name("meta").unwrap().source_config(&json!({"secret": "s", "verifyToken": "t"})).is_ok());
        assert_eq!(p.source_config(&json!({"secret": "s", "nope": 1})).unwrap_err().0, "config");
    }

    #[test]
    fn paths() {
        assert_eq!(path_of("https://h.example/webhooks/whr_1?a=b"), "/webhooks/whr_1?a=b");
        assert_eq!(path_of("https://h.example"), "/");
    }

    #[test]
    fn readme_table_is_what_the_data_file_generates() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let (start, end) = ("<!-- presets:start -->\n", "<!-- presets:end -->");
        let table = markdown_table();
        let found = readme.find(start).zip(readme.find(end));
        if std::env::var_os("HOOKD_WRITE_README").is_some() {
            let (a, b) = found.expect("README has the presets markers");
            let updated = format!("{}{start}{table}{}", &readme[..a], &readme[b..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        let (a, b) = found.expect("README has <!-- presets:start --> and <!-- presets:end -->");
        assert_eq!(&readme[a + start.len()..b], table, "run with HOOKD_WRITE_README=1 to regenerate");
    }
}
