//! Durable timers (seed 001, MINOOTS): a timer is a row and one job in the engine's due-time queue — its next
//! progress milestone or its expiry. When the job is due, the scheduler hands it to [`Timers`], which sends the
//! seed's webhooks through the engine (signed as the seed shows, retried on its schedule) and moves the job on,
//! in one commit with the timer's new state. Cancelling and expiring both change the state only from `running`,
//! in the one writer, so a timer cancelled at its deadline ends as exactly one of the two.
//!
//! A recurring timer (`every` or `cron`) runs in cycles: when one expires, the same commit starts the next, with
//! its milestones counted afresh.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ClientError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::api::auth::OrgId;
use crate::api::console::TimerAction;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, page};
use crate::api::time::ts;
use crate::api::ApiContext;
use crate::engine::model::{Application, Endpoint, EndpointSecret, TIMERS_APP_UID};
use crate::engine::operational::ON_EXHAUSTED;
use crate::engine::scheduler::TimerHandler;
use crate::engine::signing::{self, HmacScheme};
use crate::engine::transform::Preset;
use crate::engine::{Engine, NewMessage, Prepared};
use crate::error::{Error, Result};
use crate::store::{now_ms, timer_status, Millis, StoreError, TimerFilter, TimerJob, TimerRecord, TimerStep};

/// The prefix of the timers' ids (the engine hands this face the due timers whose id has it).
pub const TIMER: &str = "timer_";
/// Where older versions kept the timers' signing key: in the timers application's metadata, which any reader of
/// the application saw. Moved to its `signing_key` on start (`store::sealed`), or here when first needed.
const LEGACY_SECRET_KEY: &str = "timerWebhookSecret";
/// The operational event a timer webhook that used up its retries is reported as (with its payload).
const EXHAUSTED_EVENT: &str = "timer.webhook.exhausted";
/// A milestone this much after its moment is reported as late.
const LATE_AFTER_MS: i64 = 1000;
const MAX_DURATION_MS: i64 = 366 * 24 * 3600 * 1000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OnExpire {
    #[serde(default)]
    pub webhook: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
    /// The payload's shape: `slack`, `discord`, `teams`, or `json` (the seed's payload as it is). Without it, a
    /// Slack, Discord or Teams incoming-webhook URL gets its service's shape and any other URL the seed's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OnProgress {
    pub webhook: String,
    /// As given: `"25%"`, or a number of percent.
    pub intervals: Vec<Value>,
    /// As `on_expire.format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Events {
    #[serde(default)]
    pub on_expire: Option<OnExpire>,
    #[serde(default)]
    pub on_progress: Option<OnProgress>,
}

/// How a recurring timer starts its next cycle when one ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Repeat {
    /// A fixed period in milliseconds, counted from the last scheduled expiry (so it does not drift).
    Every(i64),
    /// The next moment matching a cron expression, read in an IANA time zone.
    Cron { expr: String, timezone: String },
}

impl Repeat {
    /// The first moment of the schedule strictly after `after`.
    fn next_after(&self, after: Millis) -> Result<Millis> {
        match self {
            Repeat::Every(ms) => Ok(after + ms),
            Repeat::Cron { expr, timezone } => {
                crate::engine::cron::next_after(expr, timezone, after).map_err(|e| match e {
                    crate::engine::cron::CronError::Expression(m) => Error::invalid(&["body", "cron"], m),
                    crate::engine::cron::CronError::Timezone => {
                        Error::invalid(&["body", "timezone"], "an IANA time zone such as \"Europe/Paris\"")
                    }
                })
            }
        }
    }
}

/// What the store keeps as the timer's `spec`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Spec {
    name: String,
    /// The first cycle's length; later cycles' come from `repeat`.
    duration_ms: i64,
    organization_id: Option<String>,
    metadata: Option<Value>,
    events: Events,
    /// Progress milestones in percent, ascending.
    percents: Vec<f64>,
    #[serde(default)]
    repeat: Option<Repeat>,
    /// A recurring timer ends for good after this many cycles.
    #[serde(default)]
    max_runs: Option<i64>,
}

/// The current cycle's length, not counting time spent paused.
fn cycle_len(t: &TimerRecord) -> i64 {
    t.expires_at - t.cycle_start - t.paused_ms
}

impl Spec {
    /// When milestone `i` falls: its share of the cycle after the cycle's start, later by any time spent paused.
    fn milestone_at(&self, t: &TimerRecord, i: usize) -> Millis {
        t.cycle_start + t.paused_ms + (cycle_len(t) as f64 * self.percents[i] / 100.0).round() as i64
    }

    /// The cycle `(start, expires_at)` after the one ending now, or None when the timer does not recur (any
    /// more, or a cron expression that has no later moment). Cycles missed while hookd was down are skipped:
    /// the late one fires once, and the schedule goes on.
    fn next_cycle(&self, t: &TimerRecord, now: Millis) -> Option<(Millis, Millis)> {
        let repeat = self.repeat.as_ref()?;
        if self.max_runs.is_some_and(|max| t.runs + 1 >= max) {
            return None;
        }
        Some(match repeat {
            Repeat::Every(ms) => {
                let skipped = (now - t.expires_at).max(0) / ms;
                let start = t.expires_at + skipped * ms;
                (start, start + ms)
            }
            Repeat::Cron { .. } => {
                let start = t.expires_at.max(now);
                (start, repeat.next_after(start).ok()?)
            }
        })
    }

    /// When the timer's job is next due: its next unsent milestone, or its expiry.
    fn next_due(&self, t: &TimerRecord, sent: usize) -> Millis {
        if sent < self.percents.len() && self.events.on_progress.is_some() {
            self.milestone_at(t, sent).min(t.expires_at)
        } else {
            t.expires_at
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TimerIn {
    #[serde(default)]
    name: Option<String>,
    /// `"30s"`, `"15m"`, `"2h"`, `"1d"` or milliseconds. Optional for a recurring timer: its first cycle then
    /// follows `every` or `cron`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    duration: Option<Value>,
    /// Recurring: a period (`"5m"`, milliseconds) ...
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    every: Option<Value>,
    /// ... or a cron expression (5 fields, or 6 with seconds) read in `timezone` (UTC by default).
    #[serde(default)]
    cron: Option<String>,
    #[serde(default, alias = "tz", alias = "timeZone")]
    timezone: Option<String>,
    #[serde(default, alias = "max_runs")]
    max_runs: Option<i64>,
    #[serde(default, alias = "agent_id")]
    agent_id: Option<String>,
    #[serde(default, alias = "organization_id")]
    organization_id: Option<String>,
    #[serde(default, alias = "project_id")]
    project_id: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    events: Events,
}

/// `30s`, `15m`, `2h`, `1d`, or milliseconds (a number, or digits), for the body field `field`.
fn parse_duration(v: &Value, field: &str) -> Result<i64> {
    let bad =
        || Error::invalid(&["body", field], "a duration such as \"30s\", \"15m\", \"2h\", \"1d\", or milliseconds");
    let ms = match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(|f| f.round() as i64).ok_or_else(bad)?,
        Value::String(s) if s.trim().chars().all(|c| c.is_ascii_digit()) && !s.trim().is_empty() => {
            s.trim().parse().map_err(|_| bad())?
        }
        Value::String(s) => humantime::parse_duration(s.trim()).map_err(|_| bad())?.as_millis() as i64,
        _ => return Err(bad()),
    };
    if ms <= 0 || ms > MAX_DURATION_MS {
        return Err(Error::invalid(&["body", field], "must be more than 0 and at most 366 days"));
    }
    Ok(ms)
}

/// For the fuzz targets (`hookd::fuzzing`): the API's duration parser on any JSON value.
#[doc(hidden)]
pub fn fuzz_duration(v: &Value) {
    let _ = parse_duration(v, "duration");
}

/// For the fuzz targets (`hookd::fuzzing`): a recurring timer's cron schedule, from `after` (milliseconds).
#[doc(hidden)]
pub fn fuzz_cron(expr: &str, timezone: &str, after: Millis) {
    let _ = Repeat::Cron { expr: expr.trim().to_string(), timezone: timezone.to_string() }.next_after(after);
}

fn parse_percents(intervals: &[Value]) -> Result<Vec<f64>> {
    let bad = || {
        Error::invalid(&["body", "events", "on_progress", "intervals"], "percentages between 0 and 100, e.g. \"25%\"")
    };
    let mut out = intervals
        .iter()
        .map(|v| match v {
            Value::String(s) => s.trim().trim_end_matches('%').trim().parse::<f64>().map_err(|_| bad()),
            Value::Number(n) => n.as_f64().ok_or_else(bad),
            _ => Err(bad()),
        })
        .collect::<Result<Vec<f64>>>()?;
    if out.is_empty() || out.len() > 100 || out.iter().any(|p| !(*p > 0.0 && *p < 100.0)) {
        return Err(bad());
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

fn status_name(s: i64) -> &'static str {
    match s {
        timer_status::RUNNING => "running",
        timer_status::EXPIRED => "expired",
        timer_status::PAUSED => "paused",
        _ => "cancelled",
    }
}

fn spec_of(t: &TimerRecord) -> Result<Spec> {
    serde_json::from_str(&t.spec).map_err(Error::internal)
}

/// The timer as the API shows it.
fn view(t: &TimerRecord, now: Millis) -> Result<Value> {
    let spec = spec_of(t)?;
    // Time the timer has run: up to now, its end, or its pause, less time spent paused.
    let until = match t.status {
        timer_status::RUNNING => now,
        timer_status::PAUSED => t.paused_at.unwrap_or(now),
        _ => t.ended_at.unwrap_or(now),
    };
    let elapsed = until - t.cycle_start - t.paused_ms;
    let progress = (elapsed as f64 / cycle_len(t) as f64).clamp(0.0, 1.0);
    let mut v = json!({
        "id": t.id,
        "name": spec.name,
        "status": status_name(t.status),
        "duration": cycle_len(t),
        "createdAt": ts(t.created_at),
        "expiresAt": ts(t.expires_at),
        "timeRemaining": match t.status {
            timer_status::RUNNING => (t.expires_at - now).max(0),
            timer_status::PAUSED => (t.expires_at - t.paused_at.unwrap_or(now)).max(0),
            _ => 0,
        },
        "progress": (progress * 10_000.0).round() / 10_000.0,
        "agent_id": t.agent_id,
        "organizationId": spec.organization_id,
        "projectId": t.project_id,
        "metadata": spec.metadata,
        "events": spec.events,
    });
    match &spec.repeat {
        Some(Repeat::Every(ms)) => v["every"] = json!(ms),
        Some(Repeat::Cron { expr, timezone }) => {
            v["cron"] = json!(expr);
            v["timezone"] = json!(timezone);
        }
        None => {}
    }
    if spec.repeat.is_some() {
        v["runs"] = json!(t.runs);
        v["maxRuns"] = json!(spec.max_runs);
    }
    match t.status {
        timer_status::PAUSED => v["pausedAt"] = json!(t.paused_at.map(ts)),
        timer_status::EXPIRED => v["expiredAt"] = json!(t.ended_at.map(ts)),
        timer_status::CANCELLED => {
            v["cancelledAt"] = json!(t.ended_at.map(ts));
            v["reason"] = json!(t.cancel_reason);
        }
        _ => {}
    }
    Ok(v)
}

// ── delivery through the engine ──

/// The application and endpoint a timer webhook URL is delivered through, made on first use. Every timer
/// endpoint of an organization signs with the organization's timer secret (`GET /timers/webhook-secret`).
async fn endpoint_for(engine: &Engine, org: &str, url: &str) -> Result<(Arc<Application>, String)> {
    let app = timers_app(engine, org).await?;
    let uid = format!("timer-{}", &hex::encode(Sha256::digest(url.as_bytes()))[..24]);
    if let Some(ep) = engine.endpoints_of(org, &app.id).await?.iter().find(|e| e.uid.as_deref() == Some(uid.as_str())) {
        if !ep.metadata.contains_key(ON_EXHAUSTED) {
            // Made before timers reported their exhausted webhooks.
            let mut ep = ep.clone();
            ep.metadata.insert(ON_EXHAUSTED.into(), EXHAUSTED_EVENT.into());
            engine.store.update(&ep).await?;
            engine.invalidate(&app.id);
        }
        return Ok((app.clone(), ep.id.clone()));
    }
    let secret = app.signing_key.clone().ok_or_else(|| Error::internal(anyhow::anyhow!("timers app without a key")))?;
    let now = now_ms();
    let ep = Endpoint {
        id: crate::ids::new(crate::ids::EP),
        org_id: org.to_string(),
        app_id: app.id.clone(),
        uid: Some(uid.clone()),
        url: url.to_string(),
        description: "timer webhooks".into(),
        filter_types: None,
        channels: None,
        disabled: false,
        metadata: [(ON_EXHAUSTED.to_string(), EXHAUSTED_EVENT.to_string())].into(),
        headers: Default::default(),
        secrets: vec![EndpointSecret { key: secret, expires_at: None }],
        throttle_rate: None,
        signature: HmacScheme::preset("minoots"),
        retry_schedule: Some(engine.cfg.timer_retry_schedule.iter().map(|d| d.as_millis() as u64).collect()),
        filter: None,
        transformation: None,
        created_at: now,
        updated_at: now,
    };
    match engine.store.insert(&ep).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {} // made at the same moment by another timer
        Err(e) => return Err(e.into()),
    }
    engine.invalidate(&app.id);
    let ep = engine.store.get::<Endpoint>(org, &app.id, &uid).await?.ok_or_else(Error::not_found)?;
    Ok((app, ep.id))
}

/// The organization's timers application, with its signing key; both made on first use.
async fn timers_app(engine: &Engine, org: &str) -> Result<Arc<Application>> {
    if let Some(app) = engine.app(org, TIMERS_APP_UID).await? {
        if app.signing_key.is_some() {
            return Ok(app);
        }
        // Left without one by an older node of the cluster: the key it put in the metadata, or a new one.
        engine
            .store
            .modify::<Application>(org, &app.id, |a| {
                let legacy = a.metadata.remove(LEGACY_SECRET_KEY);
                a.signing_key = a.signing_key.take().or(legacy).or_else(|| Some(signing::new_secret()));
                Ok(())
            })
            .await?;
        engine.invalidate(&app.id);
        return engine.app(org, TIMERS_APP_UID).await?.ok_or_else(Error::not_found);
    }
    let app = Application {
        signing_key: Some(signing::new_secret()),
        ..Application::new(org, Some(TIMERS_APP_UID.into()), "Timers")
    };
    match engine.store.insert(&app).await {
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    engine.invalidate(&app.id);
    engine.app(org, TIMERS_APP_UID).await?.ok_or_else(Error::not_found)
}

/// The shapes a timer event may ask for; `github-dispatch` and `gitlab-trigger` need a token, which an outbound
/// endpoint's transformation holds.
fn parse_format(format: Option<&str>, field: &str) -> Result<Option<Option<Preset>>> {
    match format {
        None => Ok(None),
        Some("json") => Ok(Some(None)),
        Some(f) => match Preset::parse(f) {
            Some(p @ (Preset::Slack | Preset::Discord | Preset::Teams)) => Ok(Some(Some(p))),
            _ => Err(Error::invalid(&["body", "events", field, "format"], "slack, discord, teams or json")),
        },
    }
}

/// A timer event's payload in the shape its webhook wants: the event's `format`, else the one its URL's
/// service takes (Slack's, Discord's, Teams' incoming webhooks, and `HOOKD_WEBHOOK_SHAPES`), else the seed's.
fn shaped(engine: &Engine, url: &str, format: Option<&str>, event_type: &str, payload: Value) -> Value {
    let preset = match parse_format(format, "") {
        Ok(Some(chosen)) => chosen,
        _ => Preset::for_url(url, &engine.cfg.webhook_shapes),
    };
    match preset.map(|p| p.apply(event_type, &payload, &Default::default())) {
        Some(Ok(v)) => v,
        _ => payload,
    }
}

/// Routes one webhook payload to `url`, in the shape `format` (or the URL) asks for, to be committed with the
/// timer's change of state.
async fn prepare<'a>(
    engine: &'a Engine,
    org: &str,
    url: &str,
    format: Option<&str>,
    event_type: &str,
    payload: Value,
) -> Result<Prepared<'a>> {
    let (app, endpoint_id) = endpoint_for(engine, org, url).await?;
    let payload = shaped(engine, url, format, event_type, payload);
    let msg = NewMessage {
        event_type: event_type.into(),
        event_id: None,
        channels: None,
        payload: serde_json::value::to_raw_value(&payload).map_err(Error::internal)?,
        deliver_at: None,
        only_endpoint: Some(endpoint_id),
        id: None,
        payload_retention: None,
    };
    engine.prepare(&app, msg).await
}

fn forward(prepared: &[Prepared<'_>]) -> crate::store::Forward {
    prepared.iter().map(|p| (p.msg.clone(), p.deliveries.clone())).collect()
}

fn start(engine: &Engine, prepared: Vec<Prepared<'_>>, ids: Vec<Vec<(i64, i64)>>) {
    for (p, ids) in prepared.into_iter().zip(ids) {
        engine.start(p, ids);
    }
}

fn lateness(due: Millis, now: Millis) -> (bool, i64) {
    let by = (now - due).max(0);
    (by > LATE_AFTER_MS, by)
}

/// Runs timers' due milestones for the engine's scheduler.
pub struct Timers;

#[async_trait::async_trait]
impl TimerHandler for Timers {
    async fn fire(&self, engine: Arc<Engine>, job: TimerJob) {
        if let Err(e) = fire(&engine, job).await {
            // The job keeps its lease and comes back when it runs out.
            tracing::error!(error = ?e, "running a timer");
        }
    }
}

async fn fire(engine: &Engine, job: TimerJob) -> Result<()> {
    let t = &job.timer;
    let spec = spec_of(t)?;
    // Claimed a little early (TIMER_LOOKAHEAD_MS): wait for the exact moment.
    let due = spec.next_due(t, t.milestones_sent as usize);
    let early = due - now_ms();
    if early > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(early as u64)).await;
    }
    engine.metrics.timer_fired(due);
    let now = now_ms().max(due);
    let from = t.milestones_sent as usize;
    let expire = t.expires_at <= now;
    let mut to = from;
    let mut prepared = vec![];
    if let Some(progress) = &spec.events.on_progress {
        while to < spec.percents.len() && spec.milestone_at(t, to) <= now {
            let due = spec.milestone_at(t, to);
            let (late, late_by) = lateness(due, now);
            let pct = spec.percents[to];
            let label = format!("{}%", if pct.fract() == 0.0 { format!("{pct:.0}") } else { pct.to_string() });
            let payload = json!({
                "event": "timer_progress",
                "progress": label,
                "percent": pct,
                "timer": {
                    "id": t.id, "name": spec.name, "status": "running", "duration": cycle_len(t),
                    "createdAt": ts(t.created_at), "expiresAt": ts(t.expires_at), "timeRemaining": (t.expires_at - due).max(0),
                },
                "timestamp": ts(now),
                "late": late,
                "lateByMs": late_by,
            });
            if !expire || pct < 100.0 {
                let format = progress.format.as_deref();
                prepared.push(prepare(engine, &t.org_id, &progress.webhook, format, "timer_progress", payload).await?);
            }
            to += 1;
        }
    }
    let mut next_cycle = None;
    if expire {
        to = to.max(spec.percents.len());
        next_cycle = spec.next_cycle(t, now);
        if let Some(webhook) = spec.events.on_expire.as_ref().and_then(|e| e.webhook.as_ref()) {
            let on_expire = spec.events.on_expire.clone().unwrap_or_default();
            let (late, late_by) = lateness(t.expires_at, now);
            let mut payload = json!({
                "event": "timer_expired",
                "timer": {
                    "id": t.id, "name": spec.name, "status": if next_cycle.is_some() { "running" } else { "expired" },
                    "duration": cycle_len(t), "createdAt": ts(t.created_at), "expiredAt": ts(now),
                },
                "message": on_expire.message,
                "data": on_expire.data,
                "timestamp": ts(now),
                "late": late,
                "lateByMs": late_by,
            });
            if spec.repeat.is_some() {
                payload["run"] = json!(t.runs + 1);
                payload["nextExpiresAt"] = json!(next_cycle.map(|(_, at)| ts(at)));
            }
            let format = on_expire.format.as_deref();
            prepared.push(prepare(engine, &t.org_id, webhook, format, "timer_expired", payload).await?);
        }
    }
    let (milestones_sent, next) = match (expire, next_cycle) {
        (false, _) => (to, Some(spec.next_due(t, to))),
        (true, Some((start, expires_at))) => {
            let next = TimerRecord { cycle_start: start, expires_at, paused_ms: 0, ..t.clone() };
            (0, Some(spec.next_due(&next, 0)))
        }
        (true, None) => (to, None),
    };
    let step = TimerStep {
        job_id: job.job_id,
        rowid: t.rowid,
        from: (from as i64, t.runs),
        milestones_sent: milestones_sent as i64,
        now,
        next_cycle,
        next_run_at: next,
    };
    let stored = engine.store.timer_advance(step, forward(&prepared)).await?;
    if let Some(ids) = stored {
        start(engine, prepared, ids);
        if let Some(at) = next {
            engine.work_due(at);
        }
    }
    Ok(())
}

// ── the API ──

/// A recurring timer's schedule, if the request asks for one.
fn parse_repeat(input: &TimerIn) -> Result<Option<Repeat>> {
    match (&input.every, &input.cron) {
        (Some(_), Some(_)) => Err(Error::invalid(&["body", "cron"], "give either every or cron, not both")),
        (Some(every), None) => {
            let ms = parse_duration(every, "every")?;
            if ms < 1000 {
                return Err(Error::invalid(&["body", "every"], "at least 1 second"));
            }
            Ok(Some(Repeat::Every(ms)))
        }
        (None, Some(expr)) => {
            let repeat = Repeat::Cron {
                expr: expr.trim().to_string(),
                timezone: input.timezone.clone().unwrap_or_else(|| "UTC".into()),
            };
            repeat.next_after(now_ms())?; // refuses a bad expression or zone now, not at the first expiry
            Ok(Some(repeat))
        }
        (None, None) if input.timezone.is_some() => Err(Error::invalid(&["body", "timezone"], "only with cron")),
        (None, None) => Ok(None),
    }
}

async fn create_timer(ctx: &ApiContext, org: String, input: TimerIn) -> Result<Value> {
    let repeat = parse_repeat(&input)?;
    if input.max_runs.is_some_and(|m| m < 1) || (input.max_runs.is_some() && repeat.is_none()) {
        return Err(Error::invalid(&["body", "max_runs"], "a number of cycles, at least 1, for a recurring timer"));
    }
    let now = now_ms();
    let duration_ms = match (&input.duration, &repeat) {
        (Some(d), _) => parse_duration(d, "duration")?,
        (None, Some(r)) => r.next_after(now)? - now,
        (None, None) => return Err(Error::invalid(&["body", "duration"], "required, unless every or cron is given")),
    };
    let name = input.name.unwrap_or_else(|| "timer".into());
    if name.trim().is_empty() || name.len() > 256 {
        return Err(Error::invalid(&["body", "name"], "1 to 256 characters"));
    }
    let mut percents = vec![];
    if let Some(p) = &input.events.on_progress {
        percents = parse_percents(&p.intervals)?;
        parse_format(p.format.as_deref(), "on_progress")?;
        ctx.engine
            .egress
            .check_destination(&p.webhook)
            .await
            .map_err(|e| Error::invalid(&["body", "events", "on_progress", "webhook"], e))?;
    }
    if let Some(e) = &input.events.on_expire {
        parse_format(e.format.as_deref(), "on_expire")?;
    }
    if let Some(url) = input.events.on_expire.as_ref().and_then(|e| e.webhook.as_ref()) {
        ctx.engine
            .egress
            .check_destination(url)
            .await
            .map_err(|e| Error::invalid(&["body", "events", "on_expire", "webhook"], e))?;
    }
    let spec = Spec {
        name,
        duration_ms,
        organization_id: input.organization_id,
        metadata: input.metadata,
        events: input.events,
        percents,
        repeat,
        max_runs: input.max_runs,
    };
    let t = TimerRecord {
        rowid: 0,
        id: crate::ids::new(TIMER),
        org_id: org,
        status: timer_status::RUNNING,
        created_at: now,
        expires_at: now + duration_ms,
        agent_id: input.agent_id,
        project_id: input.project_id,
        milestones_sent: 0,
        ended_at: None,
        cancel_reason: None,
        paused_at: None,
        paused_ms: 0,
        spec: serde_json::to_string(&spec).map_err(Error::internal)?,
        cycle_start: now,
        runs: 0,
    };
    let run_at = spec.next_due(&t, 0);
    ctx.store.timer_insert(t.clone(), run_at).await?;
    ctx.engine.work_due(run_at);
    view(&t, now)
}

/// Creates a timer: a one-shot (`duration`) or recurring (`every`, `cron`) one.
#[utoipa::path(
    post, operation_id = "create_timer", path = "/timers", tag = "Timers",
    request_body = TimerIn,
    responses(
        (status = 201, description = "`{success, timer}`", body = Value),
        ClientError,
    ),
)]
async fn create(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    ValidJson(input): ValidJson<TimerIn>,
) -> Result<(StatusCode, Json<Value>)> {
    let timer = create_timer(&ctx, org, input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "success": true, "timer": timer }))))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct QuickWaitIn {
    #[schema(value_type = String)]
    duration: Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    format: Option<String>,
}

/// A plain delay: a timer with only an expiry webhook.
#[utoipa::path(
    post, operation_id = "quick_wait", path = "/quick/wait", tag = "Timers",
    request_body = QuickWaitIn,
    responses(
        (status = 201, description = "`{success, timer}`", body = Value),
        ClientError,
    ),
)]
async fn quick_wait(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    ValidJson(q): ValidJson<QuickWaitIn>,
) -> Result<(StatusCode, Json<Value>)> {
    let input = TimerIn {
        name: Some(q.name.unwrap_or_else(|| "quick-wait".into())),
        duration: Some(q.duration),
        every: None,
        cron: None,
        timezone: None,
        max_runs: None,
        agent_id: None,
        organization_id: None,
        project_id: None,
        metadata: None,
        events: Events {
            on_expire: Some(OnExpire { webhook: q.webhook, message: q.message, data: q.data, format: q.format }),
            on_progress: None,
        },
    };
    let timer = create_timer(&ctx, org, input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "success": true, "timer": timer }))))
}

/// A timer with its status, time remaining and progress.
#[utoipa::path(
    get, operation_id = "get_timer", path = "/timers/{id}", tag = "Timers",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "`{success, timer}`", body = Value),
        ClientError,
    ),
)]
async fn get_one(State(ctx): State<ApiContext>, OrgId(org): OrgId, Path(id): Path<String>) -> Result<Json<Value>> {
    let t = ctx.store.timer_get(&org, &id).await?.ok_or_else(|| Error::missing("timer", &id))?;
    Ok(Json(json!({ "success": true, "timer": view(&t, now_ms())? })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    status: Option<String>,
    #[serde(alias = "agentId")]
    agent_id: Option<String>,
    #[serde(alias = "projectId")]
    project_id: Option<String>,
    limit: Option<u64>,
    iterator: Option<String>,
}

/// Timers, newest first, filtered by status, agent and project.
#[utoipa::path(
    get, operation_id = "list_timers", path = "/timers", tag = "Timers",
    params(ListQuery),
    responses(
        (status = 200, description = "`{success, timers, iterator, prevIterator, done}`", body = Value),
        ClientError,
    ),
)]
async fn list(State(ctx): State<ApiContext>, OrgId(org): OrgId, Query(q): Query<ListQuery>) -> Result<Json<Value>> {
    let status = match q.status.as_deref() {
        None => None,
        Some("running") => Some(timer_status::RUNNING),
        Some("expired") => Some(timer_status::EXPIRED),
        Some("cancelled") => Some(timer_status::CANCELLED),
        Some("paused") => Some(timer_status::PAUSED),
        Some(_) => return Err(Error::invalid(&["query", "status"], "running, paused, expired or cancelled")),
    };
    let filter = TimerFilter { status, agent_id: q.agent_id, project_id: q.project_id };
    let page = page(q.limit, q.iterator.as_deref(), true);
    let rows = ctx.store.timer_list(&org, &filter, &page).await?;
    let now = now_ms();
    let out = list_response(rows, &page, |t| t.id.clone(), |t| t);
    let timers = out.data.iter().map(|t| view(t, now)).collect::<Result<Vec<_>>>()?;
    Ok(Json(
        json!({ "success": true, "timers": timers, "iterator": out.iterator, "prevIterator": out.prev_iterator, "done": out.done }),
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CancelIn {
    #[serde(default)]
    reason: Option<String>,
}

/// Cancels a running timer and sends `timer_cancelled` to its webhook.
#[utoipa::path(
    delete, operation_id = "cancel_timer", path = "/timers/{id}", tag = "Timers",
    params(("id" = String, Path), CancelIn),
    request_body(content = Option<CancelIn>, description = "or `reason` in the query string"),
    responses(
        (status = 200, description = "`{success, timer}`", body = Value),
        ClientError,
    ),
)]
async fn cancel(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(id): Path<String>,
    Query(q): Query<CancelIn>,
    ValidJson(body): ValidJson<CancelIn>,
) -> Result<Json<Value>> {
    // The reason may come in a JSON body or the query string.
    Ok(Json(cancel_timer(&ctx, &org, &id, body.reason.or(q.reason)).await?))
}

/// Cancels a running timer (the API's route and the dashboard's button); answers `{success, timer}`.
async fn cancel_timer(ctx: &ApiContext, org: &str, id: &str, reason: Option<String>) -> Result<Value> {
    let t = ctx.store.timer_get(org, id).await?.ok_or_else(|| Error::missing("timer", id))?;
    let spec = spec_of(&t)?;
    let now = now_ms();
    let webhook = match (&spec.events.on_expire, &spec.events.on_progress) {
        (Some(OnExpire { webhook: Some(url), format, .. }), _) => Some((url.clone(), format.clone())),
        (_, Some(p)) => Some((p.webhook.clone(), p.format.clone())),
        _ => None,
    };
    let mut prepared = vec![];
    if let Some((url, format)) = webhook {
        let payload = json!({
            "event": "timer_cancelled",
            "timer": { "id": t.id, "name": spec.name, "status": "cancelled", "reason": reason },
            "timestamp": ts(now),
        });
        prepared.push(prepare(&ctx.engine, org, &url, format.as_deref(), "timer_cancelled", payload).await?);
    }
    match ctx.store.timer_cancel(org, id, reason, now, forward(&prepared)).await? {
        Some(ids) => start(&ctx.engine, prepared, ids),
        None => return Err(Error::conflict(format!("The timer is {}, not running", status_name(t.status)))),
    }
    let t = ctx.store.timer_get(org, id).await?.ok_or_else(|| Error::missing("timer", id))?;
    Ok(json!({ "success": true, "timer": view(&t, now)? }))
}

/// Pauses a running timer: no milestone fires until it is resumed.
#[utoipa::path(
    post, operation_id = "pause_timer", path = "/timers/{id}/pause", tag = "Timers",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "`{success, timer}`", body = Value),
        ClientError,
    ),
)]
async fn pause(State(ctx): State<ApiContext>, OrgId(org): OrgId, Path(id): Path<String>) -> Result<Json<Value>> {
    Ok(Json(pause_timer(&ctx, &org, &id).await?))
}

async fn pause_timer(ctx: &ApiContext, org: &str, id: &str) -> Result<Value> {
    let t = ctx.store.timer_get(org, id).await?.ok_or_else(|| Error::missing("timer", id))?;
    if !ctx.store.timer_pause(org, id, now_ms()).await? {
        return Err(Error::conflict(format!("The timer is {}, not running", status_name(t.status))));
    }
    let t = ctx.store.timer_get(org, id).await?.ok_or_else(|| Error::missing("timer", id))?;
    Ok(json!({ "success": true, "timer": view(&t, now_ms())? }))
}

/// Resumes a paused timer: its expiry and its remaining milestones move later by the time it spent paused.
#[utoipa::path(
    post, operation_id = "resume_timer", path = "/timers/{id}/resume", tag = "Timers",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "`{success, timer}`", body = Value),
        ClientError,
    ),
)]
async fn resume(State(ctx): State<ApiContext>, OrgId(org): OrgId, Path(id): Path<String>) -> Result<Json<Value>> {
    Ok(Json(resume_timer(&ctx, &org, &id).await?))
}

async fn resume_timer(ctx: &ApiContext, org: &str, id: &str) -> Result<Value> {
    let mut t = ctx.store.timer_get(org, id).await?.ok_or_else(|| Error::missing("timer", id))?;
    let (Some(paused_at), timer_status::PAUSED) = (t.paused_at, t.status) else {
        return Err(Error::conflict(format!("The timer is {}, not paused", status_name(t.status))));
    };
    let now = now_ms();
    let spec = spec_of(&t)?;
    let shift = (now - paused_at).max(0);
    t.paused_ms += shift;
    t.expires_at += shift;
    let run_at = spec.next_due(&t, t.milestones_sent as usize);
    if !ctx.store.timer_resume(org, id, paused_at, now, run_at).await? {
        return Err(Error::conflict("The timer changed meanwhile; try again"));
    }
    ctx.engine.work_due(run_at);
    let t = ctx.store.timer_get(org, id).await?.ok_or_else(|| Error::missing("timer", id))?;
    Ok(json!({ "success": true, "timer": view(&t, now)? }))
}

/// The key timer webhooks are signed with (`x-minoots-signature: sha256=<hex HMAC of the body>`).
#[utoipa::path(
    get, operation_id = "get_timers_webhook_secret", path = "/timers/webhook-secret", tag = "Timers",
    responses(
        (status = 200, description = "`{secret}`", body = Value),
        ClientError,
    ),
)]
async fn webhook_secret(State(ctx): State<ApiContext>, OrgId(org): OrgId) -> Result<Json<Value>> {
    let app = timers_app(&ctx.engine, &org).await?;
    Ok(Json(json!({ "secret": app.signing_key })))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(webhook_secret))
        .routes(routes!(get_one, cancel))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(quick_wait))
}

/// The dashboard's view of the timers face: the API's timer view and its pause, resume and cancel.
pub struct Console;

#[async_trait::async_trait]
impl crate::api::console::TimersConsole for Console {
    fn view(&self, timer: &TimerRecord, now: Millis) -> Result<Value> {
        let mut v = view(timer, now)?;
        if timer.status == timer_status::RUNNING {
            let next = spec_of(timer)?.next_due(timer, timer.milestones_sent as usize);
            v["nextFiringAt"] = json!(ts(next));
        }
        Ok(v)
    }

    async fn act(&self, ctx: &ApiContext, org: &str, id: &str, action: TimerAction) -> Result<Value> {
        match action {
            TimerAction::Pause => pause_timer(ctx, org, id).await,
            TimerAction::Resume => resume_timer(ctx, org, id).await,
            TimerAction::Cancel => cancel_timer(ctx, org, id, Some("cancelled from the dashboard".into())).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Millis {
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
    }

    #[test]
    fn cron_moments_follow_daylight_saving_in_their_zone() {
        let nine_in_paris = Repeat::Cron { expr: "0 9 * * *".into(), timezone: "Europe/Paris".into() };
        // Paris moves to summer time on 29 March 2026: 09:00 is 08:00Z the day before, 07:00Z that day.
        assert_eq!(nine_in_paris.next_after(at("2026-03-27T12:00:00Z")).unwrap(), at("2026-03-28T08:00:00Z"));
        assert_eq!(nine_in_paris.next_after(at("2026-03-28T12:00:00Z")).unwrap(), at("2026-03-29T07:00:00Z"));
        let weekdays_ny = Repeat::Cron { expr: "30 17 * * MON-FRI".into(), timezone: "America/New_York".into() };
        // Friday 2026-11-27 17:30 EST is 22:30Z; from Friday evening, the next is Monday.
        assert_eq!(weekdays_ny.next_after(at("2026-11-27T12:00:00Z")).unwrap(), at("2026-11-27T22:30:00Z"));
        assert_eq!(weekdays_ny.next_after(at("2026-11-27T23:00:00Z")).unwrap(), at("2026-11-30T22:30:00Z"));
        assert!(Repeat::Cron { expr: "61 * * * *".into(), timezone: "UTC".into() }.next_after(0).is_err());
    }

    #[test]
    fn cycles_missed_while_down_are_skipped_and_max_runs_ends_the_timer() {
        let spec = Spec {
            name: "t".into(),
            duration_ms: 1000,
            organization_id: None,
            metadata: None,
            events: Events::default(),
            percents: vec![],
            repeat: Some(Repeat::Every(1000)),
            max_runs: Some(5),
        };
        let t = TimerRecord {
            rowid: 1,
            id: "timer_x".into(),
            org_id: "org".into(),
            status: timer_status::RUNNING,
            created_at: 9_000,
            expires_at: 10_000,
            agent_id: None,
            project_id: None,
            milestones_sent: 0,
            ended_at: None,
            cancel_reason: None,
            paused_at: None,
            paused_ms: 0,
            spec: String::new(),
            cycle_start: 9_000,
            runs: 0,
        };
        assert_eq!(spec.next_cycle(&t, 10_002), Some((10_000, 11_000)), "on time: the next period");
        assert_eq!(spec.next_cycle(&t, 13_500), Some((13_000, 14_000)), "down for three periods: they are skipped");
        assert_eq!(spec.next_cycle(&TimerRecord { runs: 4, ..t }, 10_000), None, "the fifth run is the last");
    }
}
