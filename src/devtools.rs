//! The CLI's developer tools, both checking signatures with the verifiers of the inbound gateway — Standard
//! Webhooks (hookd's and Svix's own) by default, or any provider's. `hookd listen` is a webhook receiver for
//! development: point an endpoint (or a provider) at it and it prints each request as one JSON line.
//! `hookd verify` checks one captured request. `hookd send` publishes a message through a running hookd.

use std::future::IntoFuture;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::Router;
use serde_json::{json, Value};

use crate::inbound::providers::{self, Incoming, Provider, ProviderConfig};
use crate::shutdown::Shutdown;

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Secret to verify signatures with (e.g. the endpoint's `whsec_…`; for timer webhooks, the key of
    /// `GET /timers/webhook-secret`). Repeat it for several senders: a request verifies if any one matches.
    /// Without it nothing is verified.
    #[arg(long = "secret", env = "HOOKD_LISTEN_SECRET", hide_env_values = true)]
    pub secrets: Vec<String>,
    /// How requests are signed: `standardwebhooks` (hookd, Svix) or an inbound provider (`github`, `stripe`, …).
    #[arg(long, default_value = "standardwebhooks")]
    pub provider: String,
    /// Status to answer with; a request whose signature does not verify is answered 401.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(200..600))]
    pub status: u16,
}

struct Listener {
    provider: &'static dyn Provider,
    secrets: Vec<String>,
    status: StatusCode,
    /// What a provider that signs the URL (Twilio) called.
    base: String,
}

fn provider(name: &str) -> anyhow::Result<&'static dyn Provider> {
    // Svix's and hookd's signatures are Standard Webhooks, under either header family.
    let name = match name {
        "svix" | "standard-webhooks" | "standard" | "webhook" | "hookd" => "standardwebhooks",
        other => other,
    };
    providers::by_name(name)
        .with_context(|| format!("unknown provider {name:?}: standardwebhooks (or svix), github, stripe, slack, …"))
}

/// Checks a request against every secret: the provider's verifier, and for Standard Webhooks also the
/// `x-minoots-signature: sha256=<hex>` that timer webhooks carry beside it (keyed with the same secret as text).
fn check(provider: &dyn Provider, req: &Incoming, secrets: &[String], cfg: &ProviderConfig) -> Result<(), String> {
    let all: Vec<&str> = secrets.iter().map(String::as_str).collect();
    provider.verify(req, &all, cfg).map_err(|e| e.to_string())?;
    let minoots = req.header("x-minoots-signature").filter(|_| provider.name() == "standardwebhooks");
    if let Some(sig) = minoots {
        let scheme = crate::engine::signing::HmacScheme::preset("minoots").expect("a preset");
        let matches = |s: &&str| providers::ct_eq(scheme.sign(s, "", "", req.body).as_bytes(), sig.trim().as_bytes());
        if !all.iter().any(matches) {
            return Err("invalid x-minoots-signature (the Standard Webhooks signature verified)".into());
        }
    }
    Ok(())
}

/// What to try when a request does not verify: a timer webhook is signed with the organization's timer key.
fn hint(headers: &HeaderMap) -> Option<&'static str> {
    headers.contains_key("x-minoots-attempt").then_some(
        "a timer webhook: it is signed with the organization's timer key (GET /timers/webhook-secret); add it with \
         another --secret",
    )
}

/// Serves until `shutdown`, printing one JSON line per request on stdout.
pub async fn listen(args: ListenArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    let provider = provider(&args.provider)?;
    let status = StatusCode::from_u16(args.status).context("--status")?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let base = format!("http://{}", listener.local_addr()?);
    eprintln!(
        "hookd listen: {base} ({}; signatures {})",
        provider.name(),
        match args.secrets.len() {
            0 => "not checked: no --secret".to_string(),
            1 => "checked".to_string(),
            n => format!("checked against {n} secrets"),
        }
    );
    let state = Arc::new(Listener { provider, secrets: args.secrets, status, base });
    let app = Router::new().fallback(receive).with_state(state).layer(DefaultBodyLimit::max(16 * 1024 * 1024));
    // No graceful drain: the sender's idle keep-alive connections would hold it open, and nothing is at stake.
    tokio::select! {
        served = axum::serve(listener, app).into_future() => Ok(served?),
        _ = shutdown.wait() => Ok(()),
    }
}

async fn receive(
    State(l): State<Arc<Listener>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let url = format!("{}{uri}", l.base);
    let now = crate::store::now_ms();
    let verdict = (!l.secrets.is_empty()).then(|| {
        let req = Incoming { headers: &headers, body: &body, url: &url, now: now / 1000 };
        check(l.provider, &req, &l.secrets, &ProviderConfig::default())
    });
    let error = verdict.as_ref().and_then(|v| v.as_ref().err()).map(|e| match hint(&headers) {
        Some(hint) => format!("{e}; {hint}"),
        None => e.clone(),
    });
    let line = json!({
        "at": crate::api::time::ts(now),
        "method": method.as_str(),
        "path": uri.to_string(),
        "verified": verdict.as_ref().map(Result::is_ok),
        "error": error,
        "headers": crate::inbound::headers_object(&headers),
        "body": serde_json::from_slice::<Value>(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
    });
    println!("{line}");
    match verdict {
        Some(Err(_)) => StatusCode::UNAUTHORIZED,
        _ => l.status,
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The secret the sender signs with (e.g. the endpoint's `whsec_…`).
    #[arg(long, env = "HOOKD_VERIFY_SECRET", hide_env_values = true)]
    pub secret: String,
    /// How the request is signed: `standardwebhooks` or an inbound provider (`github`, `stripe`, …).
    #[arg(long, default_value = "standardwebhooks")]
    pub provider: String,
    /// A request header as `name: value`, once per header.
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// The URL the request was sent to (Twilio signs it).
    #[arg(long, default_value = "")]
    pub url: String,
    /// Accept a timestamp this many seconds away from now (a captured request may be older than the provider's
    /// tolerance).
    #[arg(long)]
    pub tolerance: Option<u64>,
    /// The raw body; standard input when absent.
    #[arg(long)]
    pub body: Option<String>,
}

/// Checks one captured request's signature: `Ok` when it verifies, else why not.
pub fn verify(args: VerifyArgs, stdin: impl Read) -> anyhow::Result<()> {
    let provider = provider(&args.provider)?;
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h.split_once(':').with_context(|| format!("--header {h:?}: expected `name: value`"))?;
        headers.append(
            HeaderName::try_from(name.trim()).with_context(|| format!("--header {h:?}: bad name"))?,
            HeaderValue::try_from(value.trim()).with_context(|| format!("--header {h:?}: bad value"))?,
        );
    }
    let body = given_or_read(args.body, stdin)?;
    let cfg = ProviderConfig { tolerance_seconds: args.tolerance, ..ProviderConfig::default() };
    let req = Incoming { headers: &headers, body: &body, url: &args.url, now: crate::store::now_ms() / 1000 };
    provider.verify(&req, &[&args.secret], &cfg).map_err(|e| anyhow::anyhow!("does not verify: {e}"))
}

/// `verify` for the MCP face's `verify_signature` tool (see [`crate::mcp::Verifier`]).
pub fn verify_signed(r: crate::mcp::SignedRequest) -> Result<(), String> {
    let args = VerifyArgs {
        secret: r.secret,
        provider: r.provider,
        headers: r.headers,
        url: r.url,
        tolerance: r.tolerance,
        body: Some(r.body),
    };
    verify(args, std::io::empty()).map_err(|e| format!("{e:#}"))
}

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// The hookd to work with.
    #[arg(long, env = "HOOKD_URL", default_value = "http://127.0.0.1:8071")]
    pub url: String,
    /// An API token; the assistant sees and changes only its organization.
    #[arg(long, env = "HOOKD_TOKEN", hide_env_values = true)]
    pub token: String,
}

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The hookd to send through.
    #[arg(long, env = "HOOKD_URL", default_value = "http://127.0.0.1:8071")]
    pub url: String,
    /// An API token.
    #[arg(long, env = "HOOKD_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The application: its id or uid.
    #[arg(long)]
    pub app: String,
    /// The event type, e.g. `invoice.paid`.
    #[arg(long)]
    pub event_type: String,
    /// An idempotency key for the message (`eventId`).
    #[arg(long)]
    pub event_id: Option<String>,
    /// A channel, once per channel.
    #[arg(long = "channel")]
    pub channels: Vec<String>,
    /// The JSON payload; standard input when absent.
    #[arg(long)]
    pub data: Option<String>,
}

/// Publishes one message with the outbound API and returns hookd's answer (the message).
pub async fn send(args: SendArgs, stdin: impl Read) -> anyhow::Result<Value> {
    let payload: Value =
        serde_json::from_slice(&given_or_read(args.data, stdin)?).context("the payload is not JSON")?;
    let mut body = json!({ "eventType": args.event_type, "payload": payload });
    if let Some(id) = args.event_id {
        body["eventId"] = json!(id);
    }
    if !args.channels.is_empty() {
        body["channels"] = json!(args.channels);
    }
    let url = format!("{}/api/v1/app/{}/msg", args.url.trim_end_matches('/'), args.app);
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.token)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("sending to {url}"))?;
    let status = resp.status();
    let answer = resp.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {answer}");
    Ok(answer)
}

/// A flag's text, or else all of standard input.
fn given_or_read(given: Option<String>, mut stdin: impl Read) -> anyhow::Result<Vec<u8>> {
    match given {
        Some(text) => Ok(text.into_bytes()),
        None => {
            let mut bytes = vec![];
            stdin.read_to_end(&mut bytes).context("reading standard input")?;
            Ok(bytes)
        }
    }
}
