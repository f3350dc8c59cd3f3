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
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
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
        Command::Send(args) => {
            println!("{}", hookd::devtools::send(args, std::io::stdin()).await?);
            Ok(())
        }
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if cfg.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let server = hookd::server::Server::build(cfg).await?;
    if let Some(token) = &server.generated_token {
        println!("Admin token (shown once, keep it): {token}");
    }
    tracing::info!(addr = %server.local_addr(), "hookd listening");
    server.run(stop_on_signal()).await
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
