use clap::{Parser, Subcommand};
use hookd::config::{Durability, ServeArgs};
use hookd::shutdown::{self, Shutdown};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "hookd", version, about = "Sends, receives, schedules and routes webhooks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Receive webhooks for development: print each request as a JSON line and check its signature.
    Listen(hookd::devtools::ListenArgs),
    /// Publish a message through a running hookd and print it.
    Send(hookd::devtools::SendArgs),
    /// Check the signature of one captured request; exits 0 when it verifies.
    Verify(hookd::devtools::VerifyArgs),
    /// Serve the Model Context Protocol on standard input and output (for an assistant such as Claude Desktop),
    /// working with a running hookd.
    Mcp(hookd::devtools::McpArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the main key that seals the secrets in the store.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Delete the messages created before a time, with their deliveries and attempts, in small batches (safe
    /// while hookd runs). Messages with a delivery still pending or being retried are kept.
    Prune {
        /// An RFC 3339 time (`2026-01-31T00:00:00Z`), or a duration ago (`30d`, `12h`).
        #[arg(long)]
        before: String,
        #[arg(long, env = "HOOKD_DATABASE_URL", default_value = "sqlite://hookd.db")]
        database_url: String,
    },
    /// Ask a running hookd whether it is healthy (GET /api/v1/health); exit 0 when it is, 1 when not.
    Healthcheck(hookd::healthcheck::HealthcheckArgs),
    /// Manage stores.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy everything from one store into a new, empty one (SQLite to PostgreSQL, or back), with hookd stopped:
    /// organizations and tokens, applications, endpoints, messages, attempts, pending deliveries, inbound
    /// registrations and events, timers, bots and the chat store. Pending work resumes on the new store.
    Copy {
        /// The store to copy from, e.g. sqlite://hookd.db.
        #[arg(long)]
        from: String,
        /// The new store, e.g. postgres://user@host:5432/hookd; it must be empty.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// With hookd stopped (every node), reseal every secret under a new main key in one transaction. The new key
    /// is `--new-key`, or, with a key file, a generated one written to that file; the old key stops working.
    Rotate {
        #[arg(long, env = "HOOKD_DATABASE_URL", default_value = "sqlite://hookd.db")]
        database_url: String,
        #[command(flatten)]
        keys: hookd::config::KeyArgs,
        /// The new main key (64 hex digits or base64 of 32 bytes); needed when the key comes from HOOKD_MAIN_KEY.
        #[arg(long, env = "HOOKD_NEW_MAIN_KEY", hide_env_values = true)]
        new_key: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (it is stored hashed and never shown again). The token belongs to the
    /// default organization, or to a new one with `--new-org`.
    Create {
        /// A name to remember the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Create a new organization with this name for the token (a separate tenant).
        #[arg(long)]
        new_org: Option<String>,
        #[arg(long, env = "HOOKD_DATABASE_URL", default_value = "sqlite://hookd.db")]
        database_url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Listen(args) => hookd::devtools::listen(args, stop_on_signal()).await,
        Command::Healthcheck(args) => std::process::exit(if hookd::healthcheck::check(&args).await { 0 } else { 1 }),
        Command::Send(args) => {
            println!("{}", hookd::devtools::send(args, std::io::stdin()).await?);
            Ok(())
        }
        Command::Mcp(args) => hookd::mcp::serve_stdio(&args.url, args.token, hookd::devtools::verify_signed).await,
        Command::Verify(args) => {
            hookd::devtools::verify(args, std::io::stdin())?;
            println!("verified");
            Ok(())
        }
        Command::Store { command: StoreCommand::Copy { from, to } } => {
            let (source, dest) =
                (hookd::store::copy::open_tables(&from).await?, hookd::store::copy::open_tables(&to).await?);
            let report = hookd::store::copy::copy(source.as_ref(), dest.as_ref()).await?;
            for (table, rows) in report {
                println!("{table:<16} {rows:>10} rows");
            }
            println!("done: start hookd on the new store");
            println!(
                "its secrets stay sealed under the main key of the old one: start it with that key (HOOKD_MAIN_KEY, \
                 or --main-key-file {})",
                hookd::store::sealed::default_key_file(&from).display()
            );
            Ok(())
        }
        Command::Keys { command: KeysCommand::Rotate { database_url, keys, new_key } } => {
            // SQLite: opened as the serving process would, so that a running hookd is noticed (its lock).
            let exclusive = database_url.starts_with("sqlite://");
            let store = hookd::store::open(&database_url, Durability::Full, exclusive).await?;
            let keys = hookd::store::sealed::KeyOptions { main_key: keys.main_key, main_key_file: keys.main_key_file };
            let done = hookd::store::sealed::rotate(store, &keys, &database_url, new_key.as_deref()).await?;
            println!("resealed {} documents: main key {} → {}", done.documents, done.old_id, done.new_id);
            match done.key_file {
                Some(path) => println!("the new key is in {} (mode 0600)", path.display()),
                None => println!("start hookd with HOOKD_MAIN_KEY set to the new key"),
            }
            Ok(())
        }
        Command::Prune { before, database_url } => {
            let cutoff = parse_before(&before, hookd::store::now_ms())?;
            let store = hookd::store::open(&database_url, Durability::Normal, false).await?;
            let scope = hookd::store::PruneScope::AllExcept(Default::default());
            let p = store.prune_messages(&scope, cutoff, hookd::engine::retention::PRUNE_BATCH).await?;
            let when = chrono::DateTime::from_timestamp_millis(cutoff).unwrap_or_default();
            let when = when.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            println!(
                "removed {} messages, {} deliveries, {} attempts created before {when}",
                p.messages, p.deliveries, p.attempts
            );
            if p.kept_pending > 0 {
                println!("kept {} messages with deliveries still pending or being retried", p.kept_pending);
            }
            Ok(())
        }
        Command::Token { command: TokenCommand::Create { name, new_org, database_url } } => {
            let store = hookd::store::open(&database_url, Durability::Normal, false).await?;
            let org = match new_org {
                Some(org_name) => store.org_create(&org_name).await?,
                None => store.default_org().await?,
            };
            let token = hookd::api::auth::new_token();
            store.token_insert(hookd::api::auth::hash_token(&token), &org, &name).await?;
            println!("{token}");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = args.into_config()?;
    // Colour only on a terminal, and not when NO_COLOR is set; traces when an OTLP endpoint is configured.
    let format = if cfg.log_json { hookd::telemetry::LogFormat::Json } else { hookd::telemetry::LogFormat::Text };
    let telemetry = hookd::telemetry::init(format)?;
    let egress_open = cfg.allow_private_networks;
    let server = hookd::server::Server::build(cfg).await?;
    if let Some(token) = &server.generated_token {
        println!("Admin token (shown once, keep it): {token}");
    }
    // A wildcard address is shown as loopback, which a browser on this machine can open.
    println!("Dashboard: {}/ui/ (log in with an API token)", hookd::server::loopback_url(server.local_addr()));
    if egress_open {
        tracing::warn!(
            "the egress guard is off (HOOKD_ALLOW_PRIVATE_NETWORKS): deliveries may reach loopback, private and \
             link-local addresses, the cloud metadata service 169.254.169.254 included. Fine for development; \
             where untrusted users create endpoints, allow only the ranges you need with HOOKD_ALLOWED_CIDRS"
        );
    }
    tracing::info!(addr = %server.local_addr(), "hookd listening");
    let served = server.run(stop_on_signal()).await;
    // The spans still buffered go out before the exit.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    served
}

/// `--before`: an RFC 3339 time, or a duration before `now`; never in the future, where pruning would take
/// messages just sent.
fn parse_before(s: &str, now: i64) -> anyhow::Result<i64> {
    let at = match chrono::DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) => t.timestamp_millis(),
        Err(_) => match humantime::parse_duration(s.trim()) {
            Ok(d) => now - d.as_millis().min(i64::MAX as u128) as i64,
            Err(_) => anyhow::bail!(
                "invalid --before {s:?}: expected an RFC 3339 time (2026-01-31T00:00:00Z) or a duration ago (30d)"
            ),
        },
    };
    anyhow::ensure!(at <= now, "--before {s:?} is in the future: prune only removes what is already past");
    Ok(at)
}

/// A shutdown that SIGTERM or Ctrl-C triggers.
fn stop_on_signal() -> Shutdown {
    let stop = Shutdown::default();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        tracing::info!("shutting down");
        trigger.trigger();
    });
    stop
}
