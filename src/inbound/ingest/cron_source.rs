//! `cron` sources: a timer of the engine's due-time queue per source (`cron_…`, durable, claimed once per tick
//! across nodes) publishes the source's payload into its application on its schedule.

use super::*;
use crate::engine::cron::{self, CronError};
use crate::engine::scheduler::TimerHandler;
use crate::engine::{Engine, NewMessage};
use crate::store::{timer_status, TimerJob, TimerStep};

/// The prefix of the cron sources' timers (the engine hands this face the due timers whose id has it).
pub const CRON: &str = "cron_";
/// The event type of a cron source's messages.
const CRON_EVENT: &str = "cron";

/// A cron source's schedule and what it sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronSpec {
    pub schedule: String,
    /// An IANA time zone the schedule is read in (hookd's own; UTC by default, as Svix's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Sent as it is when it is JSON, else as a JSON string; with a `contentType` other than JSON's, sent as
    /// written with that content type.
    pub payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

impl CronSpec {
    pub(super) fn zone(&self) -> &str {
        self.timezone.as_deref().unwrap_or("UTC")
    }

    /// The content type its payload is sent with when not JSON (Svix's default is `application/json`).
    pub(super) fn raw_content_type(&self) -> Option<&str> {
        let ct = self.content_type.as_deref()?;
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        (essence != "application/json" && !essence.ends_with("+json")).then_some(ct)
    }
}

/// What the cron timer's `spec` holds: the schedule, and where it publishes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CronTimer {
    source_id: String,
    app_id: String,
    #[serde(flatten)]
    spec: CronSpec,
}

pub(super) fn cron_plan(mut config: Map<String, Value>) -> Result<CronSpec> {
    let mut text = |field: &str, required: bool| -> Result<Option<String>> {
        match config.remove(field) {
            Some(Value::String(s)) => Ok(Some(s)),
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(config_field(field, "required")),
            Some(_) => Err(config_field(field, "must be a string")),
        }
    };
    let spec = CronSpec {
        schedule: text("schedule", true)?.unwrap_or_default().trim().to_string(),
        payload: text("payload", true)?.unwrap_or_default(),
        content_type: text("contentType", false)?,
        timezone: text("timezone", false)?,
    };
    if let Some(field) = config.keys().next() {
        return Err(config_field(field, "not a setting of cron"));
    }
    if let Some(ct) = &spec.content_type {
        let (kind, sub) = ct.split(';').next().unwrap_or("").split_once('/').unwrap_or(("", ""));
        let token = |t: &str| !t.trim().is_empty() && t.trim().chars().all(|c| c.is_ascii_graphic() && c != '/');
        let valid =
            token(kind) && token(sub) && ct.len() <= 256 && ct.chars().all(|c| c == ' ' || c.is_ascii_graphic());
        if !valid {
            return Err(config_field("contentType", "a media type such as \"text/plain\""));
        }
    }
    if spec.payload.len() > 256 * 1024 {
        return Err(config_field("payload", "at most 256 KiB"));
    }
    cron::next_after(&spec.schedule, spec.zone(), now_ms()).map_err(|e| match e {
        CronError::Expression(m) => config_field("schedule", format!("not a cron schedule: {m}")),
        CronError::Timezone => config_field("timezone", "an IANA time zone such as \"Europe/Paris\""),
    })?;
    Ok(spec)
}

/// The timer of a source's schedule, due at its first tick (also returned).
pub(super) fn first_timer(s: &Source, spec: &CronSpec, now: Millis) -> Result<(TimerRecord, Millis)> {
    let first = cron::next_after(&spec.schedule, spec.zone(), now)
        .map_err(|_| config_field("schedule", "has no next moment"))?;
    let timer = CronTimer { source_id: s.id.clone(), app_id: s.app_id.clone(), spec: spec.clone() };
    let t = TimerRecord {
        rowid: 0,
        id: crate::ids::new(CRON),
        org_id: s.org_id.clone(),
        status: timer_status::RUNNING,
        created_at: now,
        expires_at: first,
        agent_id: None,
        project_id: None,
        milestones_sent: 0,
        ended_at: None,
        cancel_reason: None,
        paused_at: None,
        paused_ms: 0,
        spec: serde_json::to_string(&timer).map_err(Error::internal)?,
        cycle_start: now,
        runs: 0,
    };
    Ok((t, first))
}

/// Runs the cron sources' due ticks for the engine's scheduler.
pub struct CronSources;

#[async_trait::async_trait]
impl TimerHandler for CronSources {
    async fn fire(&self, engine: Arc<Engine>, job: TimerJob) {
        if let Err(e) = fire(&engine, job).await {
            // The job keeps its lease and comes back when it runs out.
            tracing::error!(error = ?e, "running a cron source");
        }
    }
}

/// The cron payload as a message's: JSON as it is, anything else — or anything with a non-JSON content type,
/// which the dispatcher sends as written — as a JSON string.
fn cron_payload(spec: &CronSpec) -> Result<Box<serde_json::value::RawValue>> {
    let payload = &spec.payload;
    match serde_json::from_str::<Box<serde_json::value::RawValue>>(payload) {
        Ok(raw) if spec.raw_content_type().is_none() => Ok(raw),
        _ => serde_json::value::to_raw_value(payload).map_err(Error::internal),
    }
}

/// One tick: the payload into the source's application, and the timer moved to the next tick, in one commit
/// made only if no other node moved it first. Ticks missed while hookd was down are skipped: the late one fires
/// once.
async fn fire(engine: &Engine, job: TimerJob) -> Result<()> {
    let t = &job.timer;
    let timer: CronTimer = serde_json::from_str(&t.spec).map_err(Error::internal)?;
    let early = t.expires_at - now_ms();
    if early > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(early as u64)).await;
    }
    engine.metrics.timer_fired(t.expires_at);
    let now = now_ms().max(t.expires_at);
    // A schedule with no later moment ends the timer.
    let next = cron::next_after(&timer.spec.schedule, timer.spec.zone(), now).ok();
    let mut prepared = vec![];
    if let Some(app) = engine.app(&t.org_id, &timer.app_id).await? {
        let msg = NewMessage {
            event_type: CRON_EVENT.into(),
            event_id: None,
            channels: None,
            payload: cron_payload(&timer.spec)?,
            deliver_at: None,
            only_endpoint: None,
            id: None,
            payload_retention: None,
        };
        prepared.push(engine.prepare(&app, msg).await?);
    }
    let step = TimerStep {
        job_id: job.job_id,
        rowid: t.rowid,
        from: (t.milestones_sent, t.runs),
        milestones_sent: 0,
        now,
        next_cycle: next.map(|at| (t.expires_at, at)),
        next_run_at: next,
    };
    let forward: crate::store::Forward = prepared.iter().map(|p| (p.msg.clone(), p.deliveries.clone())).collect();
    if let Some(ids) = engine.store.timer_advance(step, forward).await? {
        for (p, ids) in prepared.into_iter().zip(ids) {
            engine.start(p, ids);
        }
        if let Some(at) = next {
            engine.work_due(at);
        }
    }
    tracing::debug!(source = %timer.source_id, "cron source ticked");
    Ok(())
}
