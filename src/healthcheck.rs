//! `hookd healthcheck`: asks a running hookd whether it is healthy (`GET /api/v1/health`, which answers 204 when
//! its store answers) and exits 0 when it is, 1 when not. For a container's `HEALTHCHECK`, where there is no shell
//! and no curl: it reads the address the server was given (`HOOKD_LISTEN`), a wildcard address being reached on
//! loopback.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The address hookd listens on [default: 127.0.0.1:8071].
    #[arg(long, env = "HOOKD_LISTEN", default_value = "127.0.0.1:8071")]
    pub listen: SocketAddr,
    /// The base URL to ask instead of the listen address, e.g. `https://hooks.example.com`.
    #[arg(long)]
    pub url: Option<String>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Whether the server answered healthy; a line on standard error says why not.
pub async fn check(args: &HealthcheckArgs) -> bool {
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => crate::server::loopback_url(args.listen),
    };
    let url = format!("{base}/api/v1/health");
    let client = match reqwest::Client::builder().timeout(args.timeout).no_proxy().build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("unhealthy: {e}");
            return false;
        }
    };
    match client.get(&url).send().await {
        Ok(resp) if resp.status().is_success() => true,
        Ok(resp) => {
            eprintln!("unhealthy: {url} answered {}", resp.status());
            false
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            false
        }
    }
}
