//! The storage boundary. Everything the engine and the faces persist goes through [`Store`]; SQL lives only here.
//!
//! Each query is written once, for both databases, in the file of what it stores — [`docs`](self) (and `orgs`,
//! `idempotency`), `messages`, `deliveries` (with attempts), `jobs`, `timers`, `inbound`, `activity`, `retention` — as a method
//! of `dyn Store`, over the [`db`] layer (`?` placeholders, a [`db::Dialect`] for the few fragments that differ).
//! The [`Store`] trait holds only what each backend does its own way: running those queries on its connections,
//! and the hot path of group commit (publishing, recording attempts, claiming due work), node membership and
//! rate limits. The backends: [`sqlite`] (embedded, the default) and [`postgres`] (any number of nodes).
//!
//! Three kinds of data live here:
//! * **documents** — low-volume configuration (applications, endpoints, event types) stored as JSON with the few
//!   columns that queries need (`id`, `uid`, parent, times). New faces add kinds, not tables.
//! * **the hot path** — messages, deliveries, attempts, written through one group-commit writer.
//! * **the due-time queue** — `jobs`: everything that must happen at a time, claimed with a lease.

mod activity;
pub mod copy;
pub mod db;
mod deliveries;
pub mod destinations;
mod docs;
mod idempotency;
mod inbound;
mod jobs;
mod messages;
mod orgs;
pub mod postgres;
mod retention;
pub mod sealed;
pub mod sqlite;
mod timers;

pub use activity::{
    activity_buckets, activity_minutes, ActivityBucket, ActivityOf, Tally, ACTIVITY_KEPT_MS, MINUTE_MS,
};

pub use inbound::{QueueSourceLease, INBOUND_REFUSED_KEPT, INBOUND_REFUSED_KEPT_MS};
pub use retention::{PruneScope, Pruned};

use std::sync::Arc;

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (duplicate `uid`, `eventId`, …); the string says which.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached (connection refused or lost, timed out): worth retrying soon.
    #[error("the database is unavailable")]
    Unavailable,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How hard the SQLite store pushes each group commit to disk (`HOOKD_SQLITE_SYNCHRONOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode: survives a killed process; the last commits may be lost on power loss.
    Normal,
    /// `synchronous=FULL`: fsync at every group commit, survives power loss.
    Full,
}

/// Milliseconds since the Unix epoch: the store's one time unit.
pub type Millis = i64;

pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// The kinds of configuration documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Application,
    Endpoint,
    EventType,
    InboundRegistration,
    Bot,
    ChatUser,
    Channel,
    /// Parent: the channel.
    ChatMessage,
    ChatFile,
    /// Id: the SHA-256 of the URL's token.
    ResponseUrl,
    /// Parent: the user the modal is open for.
    ChatView,
    /// A replay or recovery running in the background (`/api/v1/background-task`).
    BackgroundTask,
    /// An app portal token. Id: the hex SHA-256 of the token; parent: its application.
    PortalToken,
    /// A browser signed in to the dashboard. Id: the hex SHA-256 of its cookie.
    DashboardSession,
    /// A destination: an ordered consumer of its application's messages (parent: the application).
    Destination,
    /// A Svix Ingest source: a registration of the inbound gateway (or a cron schedule) with its own application.
    IngestSource,
}

impl DocKind {
    pub const ALL: [DocKind; 16] = [
        DocKind::Application,
        DocKind::Endpoint,
        DocKind::EventType,
        DocKind::InboundRegistration,
        DocKind::Bot,
        DocKind::ChatUser,
        DocKind::Channel,
        DocKind::ChatMessage,
        DocKind::ChatFile,
        DocKind::ResponseUrl,
        DocKind::ChatView,
        DocKind::BackgroundTask,
        DocKind::PortalToken,
        DocKind::DashboardSession,
        DocKind::Destination,
        DocKind::IngestSource,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Application => "app",
            DocKind::Endpoint => "endpoint",
            DocKind::EventType => "event_type",
            DocKind::InboundRegistration => "inbound_registration",
            DocKind::Bot => "bot",
            DocKind::ChatUser => "chat_user",
            DocKind::Channel => "channel",
            DocKind::ChatMessage => "chat_message",
            DocKind::ChatFile => "chat_file",
            DocKind::ResponseUrl => "response_url",
            DocKind::ChatView => "chat_view",
            DocKind::BackgroundTask => "background_task",
            DocKind::PortalToken => "portal_token",
            DocKind::DashboardSession => "dashboard_session",
            DocKind::Destination => "destination",
            DocKind::IngestSource => "ingest_source",
        }
    }
}

impl std::str::FromStr for DocKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| anyhow::anyhow!("unknown document kind {s:?}"))
    }
}

/// What changed in the store through another process (PostgreSQL LISTEN/NOTIFY), so that this one acts at once.
#[derive(Debug, Clone)]
pub enum StoreEvent {
    /// Work became due at this time (jobs created for later, requeued, or freed from a dead node).
    Due(Millis),
    /// A document changed (insert, update, modify, delete): caches holding it must drop it.
    Changed { kind: DocKind, org_id: String, parent: String, id: String },
    /// A token was created or removed.
    Tokens,
    /// Changes may have been missed (the feed was reconnected): every cache must be dropped.
    Missed,
    /// Another process's [`Store::announce`]: something that is not a change of the store.
    Announced { kind: String, body: String },
}

/// One stored document. `parent` is `""` for top-level kinds; `data` is the JSON of the typed model.
#[derive(Debug, Clone)]
pub struct DocRecord {
    pub kind: DocKind,
    pub org_id: String,
    pub parent: String,
    pub id: String,
    pub uid: Option<String>,
    pub created_at: Millis,
    pub data: String,
}

/// A typed document: the engine's models implement this and are stored as JSON.
pub trait Doc: Serialize + DeserializeOwned + Send + Sync {
    const KIND: DocKind;
    fn org_id(&self) -> &str;
    fn parent(&self) -> &str {
        ""
    }
    fn id(&self) -> &str;
    fn uid(&self) -> Option<&str>;
    fn created_at(&self) -> Millis;

    fn to_record(&self) -> StoreResult<DocRecord> {
        Ok(DocRecord {
            kind: Self::KIND,
            org_id: self.org_id().to_string(),
            parent: self.parent().to_string(),
            id: self.id().to_string(),
            uid: self.uid().map(str::to_string),
            created_at: self.created_at(),
            data: serde_json::to_string(self).map_err(anyhow::Error::from)?,
        })
    }
}

/// Implements [`Doc`] for a model with `org_id` and `created_at`, naming its parent field, id field and uid
/// field (`none` where the model has no such field; `[field]` for a uid that is always there).
macro_rules! impl_doc {
    ($ty:ty, $kind:expr, parent: $parent:tt, id: $id:ident, uid: $uid:tt) => {
        impl Doc for $ty {
            const KIND: DocKind = $kind;
            fn org_id(&self) -> &str {
                &self.org_id
            }
            fn parent(&self) -> &str {
                impl_doc!(@field self, $parent, "")
            }
            fn id(&self) -> &str {
                &self.$id
            }
            fn uid(&self) -> Option<&str> {
                impl_doc!(@opt self, $uid)
            }
            fn created_at(&self) -> Millis {
                self.created_at
            }
        }
    };
    (@field $self:ident, none, $default:expr) => { $default };
    (@field $self:ident, $field:ident, $default:expr) => { &$self.$field };
    (@opt $self:ident, none) => { None };
    // A required uid: `uid: [username]`.
    (@opt $self:ident, [$field:ident]) => { Some($self.$field.as_str()) };
    (@opt $self:ident, $field:ident) => { $self.$field.as_deref() };
}

pub(crate) use impl_doc;

/// A change to one document, run by the store's writer between reading it and writing it back, so that
/// concurrent changes (two reactions, two joins) cannot undo each other. Gets the stored JSON, returns the new
/// record; an error leaves the document as it was.
pub type DocChange = Box<dyn FnOnce(&str) -> StoreResult<DocRecord> + Send>;

fn from_record<T: Doc>(rec: DocRecord) -> StoreResult<T> {
    Ok(serde_json::from_str(&rec.data).map_err(anyhow::Error::from)?)
}

/// Cursor pagination as the Svix API does it: `iterator` is the last id seen; a `prevIterator` (leading `-`)
/// walks backwards. Backends return up to `limit + 1` rows in walking order; the extra row says there is more.
#[derive(Debug, Clone)]
pub struct Page {
    pub limit: usize,
    pub iterator: Option<String>,
    /// Walking backwards from `iterator` (a `prevIterator`).
    pub reverse: bool,
    /// The listing's order is newest first.
    pub descending: bool,
}

impl Page {
    /// Whether rows are fetched by descending id.
    pub fn walk_desc(&self) -> bool {
        self.descending != self.reverse
    }
}

/// A message as published: stored in the same commit as its deliveries.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    pub event_type: String,
    pub event_id: Option<String>,
    pub channels: Option<Vec<String>>,
    /// Raw JSON text, exactly as received; `None` once expunged.
    pub payload: Option<Arc<str>>,
    pub created_at: Millis,
    /// When the retention job may expunge the payload (once no delivery still needs it).
    pub payload_expires_at: Millis,
    /// The W3C `traceparent` of its publish's span, kept while traces are exported: its deliveries' attempts
    /// continue that trace on whichever node makes them, after any restart.
    pub traceparent: Option<Box<str>>,
}

/// Delivery status codes, as the Svix API numbers them.
pub mod status {
    pub const SUCCESS: i64 = 0;
    pub const PENDING: i64 = 1;
    pub const FAIL: i64 = 2;
    pub const SENDING: i64 = 3;
    pub const CANCELED: i64 = 4;
}

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub endpoint_id: String,
    /// When the first attempt is due.
    pub run_at: Millis,
    /// Claimed by this process at birth (dispatched from memory) — the lease's end — or 0 for the scheduler.
    pub leased_until: Millis,
}

/// One unit of due work handed to the dispatcher.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub job_id: i64,
    pub delivery_id: i64,
    pub endpoint_id: String,
    /// Attempts already made for this delivery.
    pub attempts: i64,
    /// A resend or recover asked for by a user.
    pub manual: bool,
    pub msg: Arc<MessageRecord>,
    /// When the job was due (its `run_at` as claimed), for the scheduler's lag.
    pub due_at: Millis,
}

/// What the due-time queue hands out. Timers will add their own kind here.
#[derive(Debug, Clone)]
pub enum DueJob {
    Delivery(DeliveryJob),
    Timer(TimerJob),
}

/// Timer states.
pub mod timer_status {
    pub const RUNNING: i64 = 0;
    pub const EXPIRED: i64 = 1;
    pub const CANCELLED: i64 = 2;
    pub const PAUSED: i64 = 3;
}

/// A timer as stored. `spec` is the timers face's JSON (name, events, metadata, …): the store and the engine
/// need only the times and the state.
#[derive(Debug, Clone)]
pub struct TimerRecord {
    pub rowid: i64,
    pub id: String,
    pub org_id: String,
    pub status: i64,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub agent_id: Option<String>,
    pub project_id: Option<String>,
    /// How many progress milestones have been sent.
    pub milestones_sent: i64,
    pub ended_at: Option<Millis>,
    pub cancel_reason: Option<String>,
    pub paused_at: Option<Millis>,
    /// Time spent paused in the current cycle: its moments move that much later.
    pub paused_ms: i64,
    pub spec: String,
    /// When the current cycle began: the creation, or a recurring timer's last expiry.
    pub cycle_start: Millis,
    /// Cycles that have ended (a recurring timer expires once a cycle).
    pub runs: i64,
}

/// One move of a running timer, made only if it still is where `from` says (not cancelled meanwhile).
#[derive(Debug, Clone)]
pub struct TimerStep {
    pub job_id: i64,
    pub rowid: i64,
    /// `(milestones_sent, runs)` as the job saw them.
    pub from: (i64, i64),
    pub milestones_sent: i64,
    pub now: Millis,
    /// A new cycle `(start, expires_at)`: the current one ended and the timer recurs.
    pub next_cycle: Option<(Millis, Millis)>,
    /// When the job is next due; None ends the timer as expired.
    pub next_run_at: Option<Millis>,
}

/// A timer whose next milestone (or expiry) is due.
#[derive(Debug, Clone)]
pub struct TimerJob {
    pub job_id: i64,
    pub timer: TimerRecord,
    /// When the job was due (its `run_at` as claimed), for the scheduler's lag.
    pub due_at: Millis,
}

/// Figures of the due-time queue for `/metrics`, each counted up to [`QUEUE_COUNT_CAP`] so that a scrape stays
/// cheap however long the queue grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Deliveries waiting in the queue (due, scheduled, retrying, or leased and in flight).
    pub deliveries: i64,
    /// Jobs of any kind due now that no worker holds (never claimed, or their lease ran out).
    pub due_unclaimed: i64,
    /// Running timers waiting for their next milestone or expiry.
    pub timers: i64,
}

/// See [`QueueStats`].
pub const QUEUE_COUNT_CAP: i64 = 100_000;

#[derive(Debug, Clone, Default)]
pub struct TimerFilter {
    pub status: Option<i64>,
    pub agent_id: Option<String>,
    pub project_id: Option<String>,
}

/// Messages to commit together with a timer's change of state: (message, its deliveries).
pub type Forward = Vec<(Arc<MessageRecord>, Vec<NewDelivery>)>;
/// The (delivery id, job id)s of each forwarded message's deliveries, in the order of the [`Forward`].
pub type ForwardIds = Vec<Vec<(i64, i64)>>;

#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    pub msg_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub status_code: i64,
    /// `status::SUCCESS` or `status::FAIL`.
    pub status: i64,
    pub manual: bool,
    pub duration_ms: i64,
    pub response: String,
    pub created_at: Millis,
}

/// An endpoint that has failed without a success since `since`, `consecutive` attempts in a row (the circuit
/// breaker's count, kept with the attempts so that every node sharing the store sees the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failing {
    pub since: Millis,
    pub consecutive: i64,
}

/// `jobs.leased` of a delivery held by its endpoint's open circuit breaker: not leased, not due before its
/// `run_at` (a safety deadline), and released early, in order, by `endpoint_release`. 0 is waiting,
/// 1 leased.
pub const JOB_PARKED: i64 = 2;

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy)]
pub enum NextStep {
    Done,
    RetryAt(Millis),
    /// No attempts left (or the endpoint is gone): the delivery is a dead letter.
    GiveUp,
    /// The endpoint's transformation cancelled it: nothing is sent, and the endpoint is neither failing nor not.
    Cancel,
}

#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub delivery_id: i64,
    pub msg_id: String,
    pub endpoint_id: String,
    pub status: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<Millis>,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub channel: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub before: Option<Millis>,
    pub after: Option<Millis>,
}

#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub msg_id: Option<String>,
    pub endpoint_id: Option<String>,
    pub status: Option<i64>,
    /// Lower bound of the status-code class (0 = no response, 100, 200, …).
    pub status_code_class: Option<i64>,
    pub before: Option<Millis>,
    pub after: Option<Millis>,
    pub event_types: Option<Vec<String>>,
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub fail: i64,
    pub sending: i64,
    pub canceled: i64,
}

/// Which failed deliveries to send again.
#[derive(Debug, Clone)]
pub enum Requeue {
    /// One message to one endpoint, whatever its state (resend).
    One { msg_id: String, endpoint_id: String },
    /// Every failed delivery to the endpoint of messages created in `[since, until)` (recover).
    FailedSince { endpoint_id: String, since: Millis, until: Millis },
    /// These deliveries (of one endpoint), each only if it is still in one of `statuses`: a replay that runs
    /// twice does not send again what is already on its way (bulk replay).
    Deliveries { endpoint_id: String, ids: Vec<i64>, statuses: Vec<i64> },
    /// A first delivery to the endpoint for each of these messages that still has none (replay-missing).
    Missing { endpoint_id: String, msg_ids: Vec<String> },
}

/// What a bulk replay sends again: an endpoint's deliveries of messages created in `[since, until)`.
#[derive(Debug, Clone)]
pub struct ReplayFilter {
    pub endpoint_id: String,
    pub since: Millis,
    pub until: Millis,
    /// Deliveries in one of these states.
    pub statuses: Vec<i64>,
    pub event_types: Option<Vec<String>>,
    pub channel: Option<String>,
}

/// Where a message's deliveries stand, for the dashboard's message search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Sent to at least one endpoint, and every delivery succeeded.
    Delivered,
    /// At least one delivery gave up (a dead letter).
    Failed,
    /// At least one delivery is still under way: waiting, being sent, or retrying.
    Pending,
}

/// What the dashboard's message search asks for: every field optional, all of them together.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    pub event_type: Option<String>,
    /// Created at or after.
    pub since: Option<Millis>,
    /// Created before.
    pub until: Option<Millis>,
    pub state: Option<MessageState>,
}

/// An inbound request that passed verification, as it arrived.
#[derive(Debug, Clone)]
pub struct InboundEventRecord {
    pub id: String,
    pub org_id: String,
    pub registration_id: String,
    /// The provider's delivery id: a second request with the same one is a duplicate.
    pub delivery_id: Option<String>,
    pub received_at: Millis,
    /// The name the registration's `events` matched against (also the forwarded event type).
    pub match_key: String,
    pub forwarded_msg_id: Option<String>,
    /// JSON object of the request headers (credentials redacted).
    pub headers: String,
    /// JSON of the normalised event without its `data` (derived from `body` again when needed).
    pub normalized: String,
    pub body: Vec<u8>,
}

/// An inbound request hookd refused, kept so that its registration's tenant sees why (see `inbound_refuse`).
#[derive(Debug, Clone)]
pub struct InboundRefusedRecord {
    pub id: String,
    pub org_id: String,
    pub registration_id: String,
    pub received_at: Millis,
    /// The HTTP status answered.
    pub status: i64,
    /// A short code: `bad_signature`, `missing_signature`, `stale`, `malformed`, `too_large`, ….
    pub reason: String,
    /// What the answer said.
    pub detail: String,
    pub source_ip: Option<String>,
    /// JSON object of a few of the request's headers.
    pub headers: String,
    /// The body's first bytes.
    pub body: Vec<u8>,
    pub body_size: i64,
}

/// Counters behind a registration's health.
#[derive(Debug, Clone, Default)]
pub struct InboundStats {
    /// Since the registration was made.
    pub total: i64,
    pub failures: i64,
    /// Failures since the last success.
    pub consecutive_failures: i64,
    pub last_event_at: Option<Millis>,
    pub last_failure_at: Option<Millis>,
    /// Requests, and refused ones among them, in the recent window asked for (whole hours).
    pub recent_total: i64,
    pub recent_failures: i64,
    /// Refused requests kept from the recent window, by reason (rate-limited and inactive ones too, which are
    /// not counted as failures), most frequent first.
    pub recent_reasons: Vec<(String, i64)>,
}

#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What `idempotency_begin` found for a key.
#[derive(Debug)]
pub enum IdempotencyClaim {
    /// The key is this request's now (marked in progress): run it, then `idempotency_put` or `idempotency_abandon`.
    Run,
    /// Another request with the key is running (on this node or another).
    Running,
    /// The key's first answer.
    Done(StoredResponse),
}

/// A document's new JSON under [`Reseal`], or None to leave it as it is.
pub type ResealFn = Box<dyn Fn(&DocRecord) -> StoreResult<Option<String>> + Send + Sync>;

/// Rewrites every sealed secret at once (see [`sealed`]): the first start that seals an older database's
/// plaintext secrets, and `hookd keys rotate`.
pub struct Reseal {
    /// The kinds of documents that hold secrets.
    pub kinds: Vec<DocKind>,
    pub change: ResealFn,
    /// The meta value `name` becomes `value`, provided it still is `expect` within the transaction (another
    /// node may have done the work first: a conflict then).
    pub meta: (&'static str, Option<String>, String),
    /// Delete the stored idempotent answers: they are sealed under the key being replaced.
    pub new_key: bool,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ── running the queries written once (see [`db`]) ──
    /// Runs `op` on a connection that reads; [`db::read`] is the typed way to call it.
    async fn read_op(&self, op: db::DbOp) -> StoreResult<db::Erased>;
    /// Runs `op` in the next group commit; [`db::write`] is the typed way to call it.
    async fn write_op(&self, savepoint: bool, op: db::DbOp) -> StoreResult<db::Erased>;
    fn dialect(&self) -> db::Dialect;
    /// Where the main key is kept once [`sealed::start`] has checked it: from then on the documents' secrets and
    /// the stored idempotent answers are sealed on the way in and opened on the way out; until then they are read
    /// and written as they are stored (what sealing them and `hookd keys rotate` need).
    fn key_slot(&self) -> &std::sync::OnceLock<sealed::MainKey>;

    /// Group commits made so far by this process (`/metrics`: `hookd_store_commits_total`): set beside the
    /// messages published, it shows how many writes each commit carries.
    fn commits(&self) -> u64;

    // ── the store itself ──
    /// A serving process stopping gracefully: on PostgreSQL the node leaves the cluster and frees what it leased,
    /// so the other nodes take its unfinished work at once rather than after the node timeout. Nothing to do for
    /// the embedded store (its next start frees every lease).
    async fn leave(&self) -> StoreResult<()> {
        Ok(())
    }
    /// How many serving nodes were seen at or after `since` (PostgreSQL; the embedded store's lock file already
    /// keeps a second process away).
    async fn nodes_seen_since(&self, _since: Millis) -> StoreResult<u64> {
        Ok(0)
    }

    // ── organizations and tokens ──

    // ── documents ──

    // ── messages (hot path) ──
    /// Stores the message and its deliveries (and their jobs) in one commit. Conflict on a duplicate `eventId`.
    /// Returns the delivery and job ids, in the order of `deliveries`.
    async fn publish(&self, msg: Arc<MessageRecord>, deliveries: Vec<NewDelivery>) -> StoreResult<Vec<(i64, i64)>>;

    // ── the due-time queue ──
    /// Claims up to `limit` jobs due at `now`, leasing them until `lease_until`.
    /// Timer jobs may be claimed up to `timer_lookahead` early, so that they can fire at their exact moment.
    async fn claim_due(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: usize,
        timer_lookahead: Millis,
    ) -> StoreResult<Vec<DueJob>>;
    /// Frees every lease: used at start by a backend that only one process can open.
    async fn release_all_leases(&self) -> StoreResult<u64>;
    /// Puts a claimed job back, due at `run_at` (throttled: no attempt was made).
    async fn job_defer(&self, job_id: i64, run_at: Millis) -> StoreResult<()>;
    /// Puts a claimed delivery job back as held by its endpoint's open circuit breaker ([`JOB_PARKED`]): due at
    /// `until` at the latest, sooner when `endpoint_release` frees it. No attempt is counted.
    async fn job_park(&self, job_id: i64, until: Millis) -> StoreResult<()>;

    // ── attempts and deliveries ──
    /// Records an attempt and moves its delivery on. Returns how the endpoint has been failing without a
    /// success (None after a success).
    async fn record_attempt(
        &self,
        job_id: i64,
        delivery_id: i64,
        attempt: AttemptRecord,
        next: NextStep,
    ) -> StoreResult<Option<Failing>>;

    // ── inbound ──

    // ── timers ──

    // ── limits, counted for every process that shares the store ──
    /// Counts a request against `key`'s one-minute window of `limit` (see [`crate::ratelimit`]).
    async fn rate_window(&self, key: &str, limit: u32, now_secs: i64) -> StoreResult<crate::ratelimit::RateWindow>;
    /// Takes one delivery from `key`'s throttle of `per_second`; when none is left, how many milliseconds until
    /// one is.
    async fn throttle(&self, key: &str, per_second: std::num::NonZeroU32, now: Millis) -> StoreResult<Option<Millis>>;

    // ── idempotency ──

    // ── several processes ──
    /// Changes made by other processes sharing the database; None for a store only one process serves.
    fn events(&self) -> Option<tokio::sync::broadcast::Receiver<StoreEvent>> {
        None
    }
    /// Tells the other processes sharing the database `kind` with a JSON `body` (under 7 KB), which they get
    /// as [`StoreEvent::Announced`]; nothing to do for a store only one process serves.
    async fn announce(&self, _kind: &str, _body: String) -> StoreResult<()> {
        Ok(())
    }
}

/// Typed helpers over the document primitives.
impl dyn Store {
    /// The key that seals the secrets, once the store has one.
    pub fn main_key(&self) -> Option<&sealed::MainKey> {
        self.key_slot().get()
    }

    pub async fn insert<T: Doc>(&self, doc: &T) -> StoreResult<()> {
        self.doc_insert(doc.to_record()?).await
    }
    pub async fn update<T: Doc>(&self, doc: &T) -> StoreResult<bool> {
        self.doc_update(doc.to_record()?).await
    }
    pub async fn get<T: Doc>(&self, org_id: &str, parent: &str, key: &str) -> StoreResult<Option<T>> {
        self.doc_get(T::KIND, org_id, parent, key).await?.map(from_record).transpose()
    }
    pub async fn list<T: Doc>(&self, org_id: &str, parent: &str, page: &Page) -> StoreResult<Vec<T>> {
        self.doc_list(T::KIND, org_id, parent, page).await?.into_iter().map(from_record).collect()
    }
    /// Every document of a kind under `parent`, read a page at a time (for lists known to stay small: an
    /// organization's event types, an application's portal tokens).
    pub async fn list_all<T: Doc>(&self, org_id: &str, parent: &str) -> StoreResult<Vec<T>> {
        const PAGE: usize = 500;
        let (mut all, mut iterator) = (Vec::new(), None);
        loop {
            let page = Page { limit: PAGE, iterator: iterator.take(), reverse: false, descending: false };
            let mut rows: Vec<T> = self.list(org_id, parent, &page).await?;
            let more = rows.len() > PAGE;
            rows.truncate(PAGE);
            iterator = rows.last().map(|d| d.id().to_string());
            all.extend(rows);
            if !more {
                return Ok(all);
            }
        }
    }
    pub async fn list_where<T: Doc>(
        &self,
        org_id: &str,
        parent: &str,
        field: &'static str,
        value: &str,
        page: &Page,
    ) -> StoreResult<Vec<T>> {
        self.doc_list_where(T::KIND, org_id, parent, field, value, page).await?.into_iter().map(from_record).collect()
    }
    pub async fn delete<T: Doc>(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        self.doc_delete(T::KIND, org_id, id).await
    }
    /// By id alone, whatever the org.
    pub async fn get_any<T: Doc>(&self, id: &str) -> StoreResult<Option<T>> {
        self.doc_get_any(T::KIND, id).await?.map(from_record).transpose()
    }
    /// Applies `change` to the stored document atomically (see [`DocChange`]) and returns the result. An error
    /// from `change` (e.g. `StoreError::Conflict`) leaves the document as it was.
    pub async fn modify<T: Doc + 'static>(
        &self,
        org_id: &str,
        id: &str,
        change: impl FnOnce(&mut T) -> StoreResult<()> + Send + 'static,
    ) -> StoreResult<Option<T>> {
        let change: DocChange = Box::new(move |data| {
            let mut doc: T = serde_json::from_str(data).map_err(anyhow::Error::from)?;
            change(&mut doc)?;
            doc.to_record()
        });
        self.doc_modify(T::KIND, org_id, id, change).await?.map(from_record).transpose()
    }
}

/// Opens the store named by a `HOOKD_DATABASE_URL`. `serving` marks the process that runs the engine: only one
/// may serve an embedded database, and it frees the leases a killed predecessor left. Any number of processes
/// serve one PostgreSQL database: there a serving process is a node (see [`postgres`]), and a dead node's leases
/// are freed by the others, never all at start.
pub async fn open(url: &str, durability: Durability, serving: bool) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = Arc::new(sqlite::SqliteStore::open(path, durability, serving)?);
        if serving {
            let freed = store.release_all_leases().await?;
            if freed > 0 {
                tracing::info!(jobs = freed, "resuming work interrupted by the last stop");
            }
        }
        Ok(store)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url, postgres::PgOptions { node: serving, ..Default::default() }).await?))
    } else {
        anyhow::bail!("unsupported database URL {url:?}: expected sqlite://PATH or postgres://…")
    }
}
