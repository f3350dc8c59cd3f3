//! hookd — one binary that sends, receives, schedules and routes webhooks.
//!
//! A guided tour, in the order a message travels:
//!
//! * [`outbound`] — the Svix-compatible API (`/api/v1/…`): applications, endpoints, event types, messages and
//!   attempts. Faces are thin: they validate, hand messages to the engine and read state back.
//! * [`inbound`] — the verifying gateway for providers' webhooks (seed 002), forwarding through the engine; its
//!   second face, the Svix Ingest API ([`inbound::ingest`]), makes each source a registration of the same gateway,
//!   and runs the `cron` sources on the engine's due-time queue.
//! * [`timers`] — durable timers (seed 001): each a job in the engine's due-time queue.
//! * [`bots`] — the chat platform's bots (seed 003) on a built-in chat store; every outgoing webhook a delivery.
//! * [`dashboard`] — the web dashboard at `/ui/` for people: log in with a token, follow links from the overview
//!   to an endpoint, a message and its attempts, resend; activity charts, the endpoint's actions, the message
//!   search. Server-rendered; its templates and assets are in the binary.
//!   Beside it, the app portal at `/portal/`: one application's endpoints and deliveries for that application's
//!   customer, over the API with a portal token ([`api::portal`] keeps the token inside its application).
//! * [`mcp`] — the Model Context Protocol face for agents (`hookd mcp` on stdio, `/mcp` in `hookd serve`): its
//!   tools and resources call hookd's own HTTP API with the caller's token.
//! * [`engine`] — routing (which endpoints get a message, by type, channels and payload filter), the dispatcher (sign, send, classify, record), the
//!   scheduler (the one due-time queue for retries and anything else due later), the destinations (ordered
//!   batches over each application's log of messages, to FIFO endpoints and sinks), retry schedules, signing and
//!   the egress policy that keeps deliveries off private networks, the operational webhooks (events about
//!   the service itself, published as messages of a hidden per-organization application), and transformations
//!   (JavaScript in a QuickJS sandbox, or ready-made Slack/Discord/Teams/GitHub/GitLab shapes).
//! * [`store`] — the storage boundary; all SQL lives there, each query written once for SQLite and PostgreSQL in
//!   the file of what it stores. The backends keep their connections and the hot path's group commit. SQLite by
//!   default.
//! * [`api`] — what the faces share, below them: the request state, JSON input with 4xx errors, pagination,
//!   timestamps, tokens and tenancy, idempotency, endpoint changes, background tasks and the event catalog's view
//!   (which the dashboard, the public `/catalog/` and the portal all draw). A face depends on the engine, the store, `api` and the
//!   utilities below — never on another face or on [`server`]. What the dashboard shows of the inbound,
//!   timers and bots faces goes through `api::console`'s traits, which those faces implement; what its forms
//!   create, change and delete goes through the HTTP API itself, called in process (`api::console::Api`).
//! * [`error`], [`ids`], [`config`] — the one error type, prefixed time-ordered ids, and configuration from
//!   flags, environment and TOML.
//! * [`devtools`] — `hookd listen` (a receiver for development that prints and verifies what it is sent) and
//!   `hookd verify` (checks one captured request) and `hookd send` (publishes a message).
//! * [`fuzzing`] — the fuzz targets' entry points (parsers of what arrives from outside), for `fuzz/` and
//!   the bounded run in `tests/fuzz.rs`.
//! * [`telemetry`] — the log (text or JSON lines) and OpenTelemetry traces (OTLP, the `OTEL_*` variables);
//!   [`healthcheck`] — `hookd healthcheck`, for a container's health check.
//! * [`server`] — assembles all of it (each face's router brings its handlers' OpenAPI paths, merged into
//!   `/openapi.json`) and shuts it down gracefully.

pub mod api;
pub mod bots;
pub mod config;
pub mod dashboard;
pub mod devtools;
pub mod engine;
pub mod error;
pub mod fuzzing;
pub mod healthcheck;
pub mod ids;
pub mod inbound;
pub mod mcp;
pub mod outbound;
pub mod ratelimit;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod timers;
