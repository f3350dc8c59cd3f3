//! hookd-bench: load generator and webhook receiver for benchmarking hookd.

mod e2e;
mod inbound;
mod payload;
mod procstat;
mod receiver;
mod recovery;
mod relay;
mod table;
mod timers;
mod util;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hookd-bench", version, about = "Benchmark tooling for hookd")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Publish messages through hookd and measure delivery to an in-process receiver.
    E2e {
        /// hookd base URL. Several (comma-separated or repeated) spread the publishers across them, e.g. the nodes of
        /// one cluster; the application and endpoint are created through the first.
        #[arg(long, default_value = "http://127.0.0.1:8071", value_delimiter = ',', num_args = 1)]
        url: Vec<String>,
        /// Bearer token for hookd's API.
        #[arg(long, env = "HOOKD_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Concurrent closed-loop publishers.
        #[arg(long, default_value_t = 32)]
        publishers: usize,
        /// Total messages across all publishers.
        #[arg(long, default_value_t = 50_000)]
        messages: u64,
        /// Size of the serialized `payload` object in bytes.
        #[arg(long, default_value_t = 256)]
        payload_bytes: usize,
        /// Where the receiver listens (port 0 = random).
        #[arg(long, default_value = "127.0.0.1:0")]
        receiver_addr: SocketAddr,
        /// How long to wait for deliveries after publishing ends, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
        /// Per-request timeout for publish calls, in seconds.
        #[arg(long, default_value_t = 30)]
        request_timeout_secs: u64,
        /// Set this JavaScript as the endpoint's transformation first (it must keep the payload's fields).
        #[arg(long)]
        transform_code: Option<String>,
        /// Send an `Idempotency-Key` with every publish, as the official Svix SDKs do.
        #[arg(long)]
        idempotency_keys: bool,
        /// Add this many fields (`f0`, `f1`, …) to every payload, beside `seq`, `sent_ns` and `pad`.
        #[arg(long, default_value_t = 0)]
        payload_fields: usize,
        /// Set this payload filter (JSON) on the endpoint first; it must match every message.
        #[arg(long)]
        filter: Option<String>,
        /// Give the event type a JSON Schema of every payload field and enforce it on publish.
        #[arg(long)]
        schema: bool,
        /// Deliver through a `fifoEndpoint` destination with this `batchSize` instead of a plain endpoint.
        #[arg(long, conflicts_with = "poll")]
        fifo_batch: Option<u16>,
        /// Publish to a `pollingEndpoint` destination, then read everything back through the poller and time it.
        #[arg(long)]
        poll: bool,
        /// Messages per poll (the poller's maximum is 250).
        #[arg(long, default_value_t = 250)]
        poll_limit: u16,
    },
    /// Send GitHub-signed requests to an inbound registration and measure acknowledged requests per second.
    Inbound {
        #[arg(long, default_value = "http://127.0.0.1:8071")]
        url: String,
        #[arg(long, env = "HOOKD_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Concurrent closed-loop senders.
        #[arg(long, default_value_t = 32)]
        senders: usize,
        /// Total requests.
        #[arg(long, default_value_t = 100_000)]
        requests: u64,
        /// Body size in bytes.
        #[arg(long, default_value_t = 1024)]
        body_bytes: usize,
    },
    /// Create many pending timers (rate, memory), then measure how late timers firing at a steady rate are.
    Timers {
        #[arg(long, default_value = "http://127.0.0.1:8071")]
        url: String,
        #[arg(long, env = "HOOKD_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[arg(long, default_value_t = 32)]
        senders: usize,
        /// Long timers to create first.
        #[arg(long, default_value_t = 1_000_000)]
        pending: u64,
        /// Timers that then expire during the run.
        #[arg(long, default_value_t = 50_000)]
        expiring: u64,
        /// Expiries per second.
        #[arg(long, default_value_t = 5_000)]
        expire_rate: u64,
        /// Seconds from the start of phase 2 to the first deadline.
        #[arg(long, default_value_t = 15)]
        lead_secs: u64,
        /// hookd's pid, to read its resident memory.
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// Backlog recovery: the receiver is down (503) while the messages are published, comes back after
    /// `--down-secs`, and the time until all of them were delivered and the attempts per message are measured.
    Recovery {
        #[arg(long, default_value = "http://127.0.0.1:8071")]
        url: String,
        #[arg(long, env = "HOOKD_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[arg(long, default_value_t = 32)]
        publishers: usize,
        #[arg(long, default_value_t = 20_000)]
        messages: u64,
        #[arg(long, default_value_t = 256)]
        payload_bytes: usize,
        /// How long the receiver is down, from the first publish.
        #[arg(long, default_value_t = 30)]
        down_secs: u64,
        /// Once back, the receiver takes at most this many requests a second and answers 429 over it.
        #[arg(long)]
        limit_per_second: Option<f64>,
        /// The depth of that token bucket.
        #[arg(long, default_value_t = 50.0)]
        burst: f64,
        /// How long to wait for every delivery after the receiver's return, in seconds.
        #[arg(long, default_value_t = 900)]
        timeout_secs: u64,
    },
    /// Run only the receiver and print counts every second; stop with Ctrl-C.
    Receiver {
        #[arg(long, default_value = "127.0.0.1:9099")]
        addr: SocketAddr,
        /// Track seqs 0..capacity for duplicate detection.
        #[arg(long, default_value_t = 10_000_000)]
        capacity: u64,
    },
    /// The reference: a server that speaks enough of hookd's API for `e2e`, parses each message and forwards its
    /// payload to the app's endpoints at once, storing nothing and retrying nothing. Stop with SIGINT or SIGTERM.
    Relay {
        #[arg(long, default_value = "127.0.0.1:8072")]
        addr: SocketAddr,
        /// Require `Authorization: Bearer <token>` on API calls, as hookd does.
        #[arg(long, env = "HOOKD_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Forwards in flight at once.
        #[arg(long, default_value_t = 256)]
        max_in_flight: usize,
        /// Per-forward timeout, in seconds.
        #[arg(long, default_value_t = 30)]
        forward_timeout_secs: u64,
        /// Largest request body accepted, in bytes.
        #[arg(long, default_value_t = 1024 * 1024)]
        max_body_bytes: usize,
    },
    /// Print the CPU seconds used so far by a process tree or by every process of one name, from /proc (used by
    /// run.sh for PostgreSQL's CPU per message).
    ProcCpu {
        /// A process and its direct children, e.g. the postmaster's pid.
        #[arg(long, conflicts_with = "comm", required_unless_present = "comm")]
        tree: Option<u32>,
        /// Every process with this command name, e.g. `postgres`.
        #[arg(long)]
        comm: Option<String>,
    },
    /// Render run.sh's results file (TSV with RESULT JSON) as a Markdown table.
    Table {
        /// Results file; `-` for stdin.
        file: String,
    },
    /// Print a free TCP port on 127.0.0.1 (used by run.sh).
    FreePort,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Table { file } => {
            let input =
                if file == "-" { std::io::read_to_string(std::io::stdin()) } else { std::fs::read_to_string(&file) };
            let rendered = input.map_err(|e| format!("{file}: {e}")).and_then(|s| table::render(&s));
            match rendered {
                Ok(t) => {
                    print!("{t}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::FreePort => match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
            Ok(a) => {
                println!("{}", a.port());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("bind: {e}")),
        },
        Cmd::ProcCpu { tree, comm } => {
            let sel = match (tree, comm) {
                (Some(pid), _) => procstat::Select::Tree(pid),
                (None, Some(c)) => procstat::Select::Comm(c),
                (None, None) => return fail("--tree or --comm is required"),
            };
            match procstat::cpu_seconds(std::path::Path::new("/proc"), &sel) {
                Ok((secs, n)) => {
                    println!("{secs:.3} {n}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::Relay { addr, token, max_in_flight, forward_timeout_secs, max_body_bytes } => {
            let opts = relay::Opts {
                addr,
                token,
                max_in_flight: max_in_flight.max(1),
                forward_timeout: Duration::from_secs(forward_timeout_secs),
                max_body_bytes,
            };
            match runtime().block_on(relay::run(opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("relay: {e}")),
            }
        }
        Cmd::Recovery {
            url,
            token,
            publishers,
            messages,
            payload_bytes,
            down_secs,
            limit_per_second,
            burst,
            timeout_secs,
        } => {
            let opts = recovery::Opts {
                url,
                token,
                publishers: publishers.max(1),
                messages,
                payload_bytes,
                down: Duration::from_secs(down_secs),
                limit_per_second,
                burst: burst.max(1.0),
                timeout: Duration::from_secs(timeout_secs),
            };
            match runtime().block_on(recovery::run(opts)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(3),
                Err(e) => fail(&e),
            }
        }
        Cmd::Receiver { addr, capacity } => {
            let rt = runtime();
            match rt.block_on(receiver::run_standalone(addr, capacity)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("receiver: {e}")),
            }
        }
        Cmd::Timers { url, token, senders, pending, expiring, expire_rate, lead_secs, pid, timeout_secs } => {
            let opts = timers::Opts {
                url,
                token,
                senders: senders.max(1),
                pending,
                expiring,
                expire_rate,
                lead: Duration::from_secs(lead_secs),
                pid,
                timeout: Duration::from_secs(timeout_secs),
            };
            match runtime().block_on(timers::run(opts)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(3),
                Err(e) => fail(&e),
            }
        }
        Cmd::Inbound { url, token, senders, requests, body_bytes } => {
            let opts = inbound::Opts { url, token, senders: senders.max(1), requests, body_bytes };
            match runtime().block_on(inbound::run(opts)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(3),
                Err(e) => fail(&e),
            }
        }
        Cmd::E2e {
            url,
            token,
            publishers,
            messages,
            payload_bytes,
            receiver_addr,
            timeout_secs,
            request_timeout_secs,
            transform_code,
            idempotency_keys,
            payload_fields,
            filter,
            schema,
            fifo_batch,
            poll,
            poll_limit,
        } => {
            let opts = e2e::Opts {
                urls: url,
                token,
                publishers: publishers.max(1),
                messages,
                payload_bytes,
                receiver_addr,
                timeout: Duration::from_secs(timeout_secs),
                request_timeout: Duration::from_secs(request_timeout_secs),
                transform_code,
                idempotency_keys,
                payload_fields,
                filter,
                schema,
                fifo_batch,
                poll,
                poll_limit,
            };
            match runtime().block_on(e2e::run(opts)) {
                Ok(true) => ExitCode::SUCCESS,
                // Ran to the end, but something was lost or failed: the RESULT line says what.
                Ok(false) => ExitCode::from(3),
                Err(e) => fail(&e),
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("hookd-bench: {msg}");
    ExitCode::FAILURE
}
