//! Configuration: flags, then `HOOKD_*` environment variables (clap reads both), then an optional TOML file,
//! then defaults. Durations are written the human way (`5s`, `30m`, `5d`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use serde::Deserialize;

pub use crate::store::Durability;

/// Which names the Standard Webhooks headers carry by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HeaderStyle {
    /// `svix-id`, `svix-timestamp`, `svix-signature`, as svix-server sends them.
    Svix,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks).
    Webhook,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub admin_token: Option<String>,
    pub allow_private_networks: bool,
    pub allowed_cidrs: Vec<IpNet>,
    pub durability: Durability,
    pub header_style: HeaderStyle,
    pub retry_schedule: Vec<Duration>,
    pub request_timeout: Duration,
    pub disable_after: Duration,
    pub max_body_bytes: usize,
    pub lease: Duration,
    pub dispatch_concurrency: usize,
    pub max_poll_interval: Duration,
    pub log_json: bool,
    /// The base URL providers reach hookd at: `webhookUrl`s are made from it, and Twilio signs it.
    /// Empty: `http://` and the address the server bound.
    pub public_url: String,
    /// Inbound requests per minute per registration, unless the registration says otherwise.
    pub inbound_rate_per_minute: u32,
    /// Delays between attempts of timer webhooks (the seed's: 5 s, 25 s, 125 s, 625 s).
    pub timer_retry_schedule: Vec<Duration>,
    /// Delays between attempts of bots' outgoing webhooks (the seed's: 5 s, 30 s, 2 min, 15 min, 1 h).
    pub bot_retry_schedule: Vec<Duration>,
    /// How long a bot's previous token keeps working after a rotation (the seed's hour).
    pub bot_token_grace: Duration,
    /// Largest file a bot or user may upload.
    pub bot_max_file_bytes: usize,
    /// After SIGTERM, how long open requests and deliveries in flight get to finish before hookd exits anyway.
    pub shutdown_grace: Duration,
    /// How long message payloads are kept unless a message says otherwise (Svix's 90 days).
    pub payload_retention: Duration,
    /// How long messages are kept, with their deliveries and attempts, unless their application says otherwise;
    /// None keeps them for ever (`off`).
    pub retention: Option<Duration>,
    /// How long attempts keep their response bodies: they are most of an attempt's size and are read mostly while
    /// a failure is being looked into. None keeps them as long as the attempt.
    pub response_retention: Option<Duration>,
    /// The main key that seals the secrets in the store (see [`crate::store::sealed`]).
    pub keys: crate::store::sealed::KeyOptions,
    /// The per-endpoint circuit breaker (see `engine::breaker`).
    pub breaker: BreakerConfig,
    /// Hosts (`host` or `host:port`) whose incoming webhooks take a ready-made shape, beside Slack's, Discord's
    /// and Teams' own: a Mattermost or Rocket.Chat server takes Slack's. Timer webhooks to them get that shape.
    pub webhook_shapes: Vec<(String, crate::engine::transform::Preset)>,
    /// Organizations whose event catalog `/catalog/` shows without a token: `default` (at `/catalog/`) or
    /// organization ids (at `/catalog/{org_id}/`). Empty: no public catalog.
    pub public_catalog: Vec<String>,
    /// Hosts AWS SNS's signing certificates and subscription URLs may come from: `aws` (`sns.<region>.amazonaws.com`
    /// and `.amazonaws.com.cn`, https only) and `host[:port]` entries, over http or https.
    pub sns_cert_hosts: Vec<String>,
}

/// When an endpoint's circuit opens, how it is probed, and how fast its backlog goes once it closes.
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// Attempts failed in a row that open the circuit; 0 turns the breaker off. Envoy's outlier detection ejects
    /// a host after 5 consecutive 5xx by default; we take the same number.
    pub failures: u32,
    /// Delay before the first probe; doubled after each failed probe, up to `max_probe_backoff`.
    pub probe_backoff: Duration,
    pub max_probe_backoff: Duration,
    /// At most this many held deliveries released per second once the circuit closes; 0 (the default): as fast as
    /// the receiver takes them (see `engine::release`).
    pub release_per_second: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            probe_backoff: Duration::from_secs(5),
            max_probe_backoff: Duration::from_secs(300),
            release_per_second: 0,
        }
    }
}

/// svix-server's schedule: after the first attempt, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8071".parse().unwrap(),
            database_url: "sqlite://hookd.db".into(),
            admin_token: None,
            allow_private_networks: false,
            allowed_cidrs: vec![],
            durability: Durability::Normal,
            header_style: HeaderStyle::Svix,
            retry_schedule: parse_durations(DEFAULT_RETRY_SCHEDULE).unwrap(),
            request_timeout: Duration::from_secs(15),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            max_body_bytes: 1024 * 1024,
            lease: Duration::from_secs(120),
            dispatch_concurrency: 512,
            max_poll_interval: Duration::from_secs(5),
            log_json: false,
            public_url: String::new(),
            inbound_rate_per_minute: 100,
            timer_retry_schedule: parse_durations("5s,25s,125s,625s").unwrap(),
            bot_retry_schedule: parse_durations("5s,30s,2m,15m,1h").unwrap(),
            bot_token_grace: Duration::from_secs(3600),
            bot_max_file_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            payload_retention: Duration::from_secs(90 * 86_400),
            retention: Some(Duration::from_secs(90 * 86_400)),
            response_retention: Some(Duration::from_secs(3 * 86_400)),
            keys: Default::default(),
            breaker: BreakerConfig::default(),
            webhook_shapes: vec![],
            public_catalog: vec![],
            sns_cert_hosts: vec!["aws".into()],
        }
    }
}

/// `hookd serve` options. Every one can also come from the environment or the TOML file.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "HOOKD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8071].
    #[arg(long, env = "HOOKD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Store URL: `sqlite://path/to/file.db` [default: sqlite://hookd.db].
    #[arg(long, env = "HOOKD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Bootstrap token of the default organization; generated and printed once when unset on an empty store.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// A file holding the admin token (a container secret, a systemd credential), read when no token is given.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Allow endpoints on loopback, private and link-local addresses (a bare flag, or `=true`/`=false`).
    #[arg(long, env = "HOOKD_ALLOW_PRIVATE_NETWORKS", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_private_networks: Option<bool>,
    /// Comma-separated CIDRs allowed even though they are not global (e.g. `10.1.0.0/16,127.0.0.1/32`).
    #[arg(long, env = "HOOKD_ALLOWED_CIDRS", value_delimiter = ',')]
    pub allowed_cidrs: Option<Vec<IpNet>>,
    /// `normal` (survives a killed process) or `full` (fsync every group commit).
    #[arg(long, env = "HOOKD_SQLITE_SYNCHRONOUS", value_enum)]
    pub sqlite_synchronous: Option<Durability>,
    /// Header names of the Standard Webhooks signature: `svix` or `webhook`.
    #[arg(long, env = "HOOKD_SIGNATURE_HEADERS", value_enum)]
    pub signature_headers: Option<HeaderStyle>,
    /// Delays between attempts after the first, e.g. `5s,5m,30m,2h,5h,10h,10h`.
    #[arg(long, env = "HOOKD_RETRY_SCHEDULE")]
    pub retry_schedule: Option<String>,
    /// Timeout of one delivery attempt [default: 15s].
    #[arg(long, env = "HOOKD_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,
    /// Disable an endpoint that has failed without a success for this long [default: 5d].
    #[arg(long, env = "HOOKD_DISABLE_AFTER")]
    pub disable_after: Option<String>,
    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "HOOKD_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// How long claimed work stays claimed before another worker may redo it [default: 120s].
    #[arg(long, env = "HOOKD_LEASE")]
    pub lease: Option<String>,
    /// Deliveries in flight at once [default: 512].
    #[arg(long, env = "HOOKD_DISPATCH_CONCURRENCY")]
    pub dispatch_concurrency: Option<usize>,
    /// `text` or `json` (one JSON object per line) [default: text].
    #[arg(long, env = "HOOKD_LOG_FORMAT", value_enum)]
    pub log_format: Option<crate::telemetry::LogFormat>,
    /// Log as JSON lines (a bare flag, or `=true`/`=false`); the same as `--log-format json`.
    #[arg(long, env = "HOOKD_LOG_JSON", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub log_json: Option<bool>,
    /// Base URL providers reach hookd at, e.g. `https://hooks.example.com` [default: http://LISTEN].
    #[arg(long, env = "HOOKD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Inbound requests per minute per registration [default: 100].
    #[arg(long, env = "HOOKD_INBOUND_RATE_PER_MINUTE")]
    pub inbound_rate_per_minute: Option<u32>,
    /// Delays between attempts of timer webhooks [default: 5s,25s,125s,625s].
    #[arg(long, env = "HOOKD_TIMER_RETRY_SCHEDULE")]
    pub timer_retry_schedule: Option<String>,
    /// Delays between attempts of bots' outgoing webhooks [default: 5s,30s,2m,15m,1h].
    #[arg(long, env = "HOOKD_BOT_RETRY_SCHEDULE")]
    pub bot_retry_schedule: Option<String>,
    /// How long a bot's previous token works after a rotation [default: 1h].
    #[arg(long, env = "HOOKD_BOT_TOKEN_GRACE")]
    pub bot_token_grace: Option<String>,
    /// Largest file upload in bytes [default: 1048576].
    #[arg(long, env = "HOOKD_BOT_MAX_FILE_BYTES")]
    pub bot_max_file_bytes: Option<usize>,
    /// After SIGTERM, how long requests and deliveries in flight get to finish [default: 10s].
    #[arg(long, env = "HOOKD_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<String>,
    /// How long message payloads are kept, unless a message's `payloadRetentionPeriod` says otherwise [default: 90d].
    #[arg(long, env = "HOOKD_PAYLOAD_RETENTION")]
    pub payload_retention: Option<String>,
    /// How long messages are kept with their deliveries and attempts (unless their application's
    /// `messageRetentionPeriod` says otherwise), or `off` [default: 90d].
    #[arg(long, env = "HOOKD_RETENTION")]
    pub retention: Option<String>,
    /// How long attempts keep their response bodies, or `off` [default: 3d].
    #[arg(long, env = "HOOKD_RESPONSE_RETENTION")]
    pub response_retention: Option<String>,
    /// Attempts failed in a row that open an endpoint's circuit breaker; 0 turns it off [default: 5].
    #[arg(long, env = "HOOKD_BREAKER_FAILURES")]
    pub breaker_failures: Option<u32>,
    /// First delay before probing an open circuit, doubled after each failed probe [default: 5s].
    #[arg(long, env = "HOOKD_BREAKER_PROBE_BACKOFF")]
    pub breaker_probe_backoff: Option<String>,
    /// Longest delay between probes of an open circuit [default: 5m].
    #[arg(long, env = "HOOKD_BREAKER_MAX_PROBE_BACKOFF")]
    pub breaker_max_probe_backoff: Option<String>,
    /// At most this many held deliveries sent per second once a circuit closes; 0 paces them by the receiver's
    /// answers alone [default: 0].
    #[arg(long, env = "HOOKD_BREAKER_RELEASE_RATE")]
    pub breaker_release_rate: Option<u32>,
    /// `host[:port]=slack|discord|teams`, comma-separated.
    #[arg(long, env = "HOOKD_WEBHOOK_SHAPES")]
    pub webhook_shapes: Option<String>,
    /// Serve the event catalog at /catalog/ without a token: `true` for the default organization, or
    /// comma-separated organization ids (each at /catalog/ORG_ID/) [default: false].
    #[arg(long, env = "HOOKD_PUBLIC_CATALOG")]
    pub public_catalog: Option<String>,
    /// Hosts AWS SNS certificates and subscription URLs may come from, comma-separated: `aws` (AWS's own SNS hosts,
    /// https) and `host[:port]` entries, http allowed for them [default: aws].
    #[arg(long, env = "HOOKD_SNS_CERT_HOSTS", value_delimiter = ',')]
    pub sns_cert_hosts: Option<Vec<String>>,
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Where the main key comes from (`hookd serve` and `hookd keys rotate`).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct KeyArgs {
    /// The main key sealing the secrets in the store: 32 bytes as 64 hex digits or base64. When unset, the key
    /// file is used.
    #[arg(long, env = "HOOKD_MAIN_KEY", hide_env_values = true)]
    pub main_key: Option<String>,
    /// The main key's file, made (mode 0600) on first start when missing [default: `<database file>.key` beside
    /// a SQLite database; `hookd-main.key` in the working directory for PostgreSQL].
    #[arg(long, env = "HOOKD_MAIN_KEY_FILE")]
    pub main_key_file: Option<PathBuf>,
}

/// The TOML file: the same settings, durations as strings.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    admin_token: Option<String>,
    admin_token_file: Option<PathBuf>,
    allow_private_networks: Option<bool>,
    allowed_cidrs: Option<Vec<IpNet>>,
    sqlite_synchronous: Option<Durability>,
    signature_headers: Option<HeaderStyle>,
    retry_schedule: Option<String>,
    request_timeout: Option<String>,
    disable_after: Option<String>,
    max_body_bytes: Option<usize>,
    lease: Option<String>,
    dispatch_concurrency: Option<usize>,
    log_json: Option<bool>,
    log_format: Option<crate::telemetry::LogFormat>,
    public_url: Option<String>,
    inbound_rate_per_minute: Option<u32>,
    timer_retry_schedule: Option<String>,
    bot_retry_schedule: Option<String>,
    bot_token_grace: Option<String>,
    bot_max_file_bytes: Option<usize>,
    shutdown_grace: Option<String>,
    payload_retention: Option<String>,
    retention: Option<String>,
    response_retention: Option<String>,
    main_key_file: Option<PathBuf>,
    breaker_failures: Option<u32>,
    breaker_probe_backoff: Option<String>,
    breaker_max_probe_backoff: Option<String>,
    breaker_release_rate: Option<u32>,
    webhook_shapes: Option<String>,
    public_catalog: Option<String>,
    sns_cert_hosts: Option<Vec<String>>,
}

impl ServeArgs {
    pub fn into_config(self) -> anyhow::Result<Config> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let d = Config::default();
        let dur =
            |flag: Option<String>, file: Option<String>, default: Duration, name: &str| -> anyhow::Result<Duration> {
                match flag.or(file) {
                    Some(s) => {
                        humantime::parse_duration(&s).with_context(|| format!("invalid duration for {name}: {s}"))
                    }
                    None => Ok(default),
                }
            };
        let listen = self.listen.or(file.listen).unwrap_or(d.listen);
        let b = &d.breaker;
        let breaker = BreakerConfig {
            failures: self.breaker_failures.or(file.breaker_failures).unwrap_or(b.failures),
            probe_backoff: dur(
                self.breaker_probe_backoff,
                file.breaker_probe_backoff,
                b.probe_backoff,
                "breaker_probe_backoff",
            )?
            .max(Duration::from_millis(1)),
            max_probe_backoff: dur(
                self.breaker_max_probe_backoff,
                file.breaker_max_probe_backoff,
                b.max_probe_backoff,
                "breaker_max_probe_backoff",
            )?,
            release_per_second: self.breaker_release_rate.or(file.breaker_release_rate).unwrap_or(b.release_per_second),
        };
        Ok(Config {
            breaker,
            listen,
            public_url: self.public_url.or(file.public_url).unwrap_or_default().trim_end_matches('/').to_string(),
            inbound_rate_per_minute: self
                .inbound_rate_per_minute
                .or(file.inbound_rate_per_minute)
                .unwrap_or(d.inbound_rate_per_minute)
                .max(1),
            database_url: self.database_url.or(file.database_url).unwrap_or(d.database_url),
            admin_token: match (self.admin_token.or(file.admin_token), self.admin_token_file.or(file.admin_token_file))
            {
                (Some(token), _) => Some(token),
                (None, Some(path)) => Some(admin_token_from(&path)?),
                (None, None) => None,
            },
            allow_private_networks: self.allow_private_networks.or(file.allow_private_networks).unwrap_or(false),
            allowed_cidrs: self.allowed_cidrs.or(file.allowed_cidrs).unwrap_or_default(),
            durability: self.sqlite_synchronous.or(file.sqlite_synchronous).unwrap_or(d.durability),
            header_style: self.signature_headers.or(file.signature_headers).unwrap_or(d.header_style),
            timer_retry_schedule: match self.timer_retry_schedule.or(file.timer_retry_schedule) {
                Some(s) => parse_durations(&s).context("invalid timer retry schedule")?,
                None => d.timer_retry_schedule.clone(),
            },
            bot_retry_schedule: match self.bot_retry_schedule.or(file.bot_retry_schedule) {
                Some(s) => parse_durations(&s).context("invalid bot retry schedule")?,
                None => d.bot_retry_schedule.clone(),
            },
            bot_token_grace: dur(self.bot_token_grace, file.bot_token_grace, d.bot_token_grace, "bot_token_grace")?,
            bot_max_file_bytes: self.bot_max_file_bytes.or(file.bot_max_file_bytes).unwrap_or(d.bot_max_file_bytes),
            retry_schedule: match self.retry_schedule.or(file.retry_schedule) {
                Some(s) => parse_durations(&s).context("invalid retry schedule")?,
                None => d.retry_schedule,
            },
            request_timeout: dur(self.request_timeout, file.request_timeout, d.request_timeout, "request_timeout")?,
            disable_after: dur(self.disable_after, file.disable_after, d.disable_after, "disable_after")?,
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes).unwrap_or(d.max_body_bytes),
            lease: dur(self.lease, file.lease, d.lease, "lease")?,
            dispatch_concurrency: self
                .dispatch_concurrency
                .or(file.dispatch_concurrency)
                .unwrap_or(d.dispatch_concurrency)
                .max(1),
            shutdown_grace: dur(self.shutdown_grace, file.shutdown_grace, d.shutdown_grace, "shutdown_grace")?,
            payload_retention: dur(
                self.payload_retention,
                file.payload_retention,
                d.payload_retention,
                "payload_retention",
            )?,
            retention: retention(self.retention.or(file.retention), d.retention, "retention")?,
            response_retention: retention(
                self.response_retention.or(file.response_retention),
                d.response_retention,
                "response_retention",
            )?,
            max_poll_interval: d.max_poll_interval,
            public_catalog: parse_public_catalog(self.public_catalog.or(file.public_catalog).as_deref().unwrap_or("")),
            sns_cert_hosts: match self.sns_cert_hosts.or(file.sns_cert_hosts) {
                Some(hosts) => {
                    let hosts: Vec<String> =
                        hosts.iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
                    anyhow::ensure!(!hosts.is_empty(), "sns_cert_hosts names no host (`aws` for AWS's own)");
                    hosts
                }
                None => d.sns_cert_hosts.clone(),
            },
            webhook_shapes: match self.webhook_shapes.or(file.webhook_shapes) {
                Some(s) => parse_webhook_shapes(&s)?,
                None => vec![],
            },
            log_json: match self.log_format.or(file.log_format) {
                Some(format) => format == crate::telemetry::LogFormat::Json,
                None => self.log_json.or(file.log_json).unwrap_or(false),
            },
            keys: crate::store::sealed::KeyOptions {
                main_key: self.keys.main_key,
                main_key_file: self.keys.main_key_file.or(file.main_key_file),
            },
        })
    }
}

/// The admin token in a file (`HOOKD_ADMIN_TOKEN_FILE`), without the line's end.
fn admin_token_from(path: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the admin token file {}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(!token.is_empty(), "the admin token file {} is empty", path.display());
    Ok(token.to_string())
}

/// A retention setting: a duration, or `off` to keep for ever. Zero is refused: it would delete what was just
/// made.
fn retention(s: Option<String>, default: Option<Duration>, name: &str) -> anyhow::Result<Option<Duration>> {
    let Some(s) = s else { return Ok(default) };
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let d = humantime::parse_duration(s.trim())
        .with_context(|| format!("invalid {name}: {s:?} (a duration such as 30d, or off)"))?;
    anyhow::ensure!(!d.is_zero(), "invalid {name}: {s:?} (a duration such as 30d, or off to keep for ever)");
    Ok(Some(d))
}

/// `"5s, 5m,1h"` → durations. Also used for per-endpoint schedules.
/// `true` / `false` / `org_…, org_…` for [`Config::public_catalog`].
fn parse_public_catalog(s: &str) -> Vec<String> {
    match s.trim() {
        "" | "false" | "0" | "no" => vec![],
        "true" | "1" | "yes" => vec!["default".into()],
        list => list.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_string).collect(),
    }
}

/// `host[:port]=preset, …` for [`Config::webhook_shapes`].
pub fn parse_webhook_shapes(s: &str) -> anyhow::Result<Vec<(String, crate::engine::transform::Preset)>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (host, shape) = p.split_once('=').with_context(|| format!("expected host=shape: {p}"))?;
            let preset = crate::engine::transform::Preset::parse(shape.trim())
                .with_context(|| format!("unknown shape {shape:?} (slack, discord, teams)"))?;
            Ok((host.trim().to_ascii_lowercase(), preset))
        })
        .collect()
}

pub fn parse_durations(s: &str) -> anyhow::Result<Vec<Duration>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| humantime::parse_duration(p).with_context(|| format!("invalid duration: {p}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transform::Preset;

    #[test]
    fn webhook_shapes_name_hosts_and_their_shape() {
        let shapes = parse_webhook_shapes(" chat.example.com=slack, 10.0.0.5:8065=discord ,").unwrap();
        assert_eq!(shapes, [("chat.example.com".into(), Preset::Slack), ("10.0.0.5:8065".into(), Preset::Discord)]);
        assert!(parse_webhook_shapes("chat.example.com").is_err());
        assert!(parse_webhook_shapes("chat.example.com=fax").is_err());
    }

    #[test]
    fn retention_is_a_duration_or_off() {
        let day = Duration::from_secs(86_400);
        assert_eq!(retention(None, Some(day), "r").unwrap(), Some(day));
        assert_eq!(retention(Some("30d".into()), Some(day), "r").unwrap(), Some(30 * day));
        assert_eq!(retention(Some("OFF".into()), Some(day), "r").unwrap(), None);
        assert!(retention(Some("0s".into()), None, "r").unwrap_err().to_string().contains("off"));
        assert!(retention(Some("-3d".into()), None, "retention").unwrap_err().to_string().contains("retention"));
    }

    #[test]
    fn sns_cert_hosts_default_to_aws_and_are_normalised() {
        assert_eq!(ServeArgs::default().into_config().unwrap().sns_cert_hosts, ["aws"]);
        let hosts = Some(vec![" AWS".into(), "Certs.Example:8443 ".into(), "".into()]);
        let cfg = ServeArgs { sns_cert_hosts: hosts, ..Default::default() }.into_config().unwrap();
        assert_eq!(cfg.sns_cert_hosts, ["aws", "certs.example:8443"]);
        let none = ServeArgs { sns_cert_hosts: Some(vec![" ".into()]), ..Default::default() };
        assert!(none.into_config().unwrap_err().to_string().contains("sns_cert_hosts"));
    }
}
