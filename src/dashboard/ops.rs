//! The dashboard's operating screens: activity charts (the overview's, an endpoint's), the endpoint's actions
//! (rotate the secret, send an example, replay what it missed), the message search, and the headers a message's
//! deliveries were sent with. Changing the endpoint itself is its form's ([`super::endpoints`]).
//!
//! Charts are SVG drawn on the server (no script, no CDN); every count comes from the store's `activity`, the
//! per-minute counts each group commit keeps, so a chart costs its window's minutes, however busy they were. Every action is a CSRF-checked POST that answers with a
//! redirect to the page it came from, whose `done` parameter names the message shown there once.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::pages::{page_context, pager, time, AppView, EndpointView, StatsView};
use super::{render, Session, UiResult};
use crate::api::pagination::page;
use crate::api::{load_app, load_endpoint, ApiContext};
use crate::engine::model::{Application, Endpoint, EventType};
use crate::engine::NewMessage;
use crate::error::Error;
use crate::store::{
    now_ms, ActivityBucket, ActivityOf, AttemptRecord, EndpointStats, MessageRecord, MessageSearch, MessageState,
    Millis, Page,
};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;

// ── charts ──

/// The drawing area of a chart, in SVG user units (the SVG scales to its box; the text scales with it).
const CHART_W: f64 = 640.0;
const CHART_H: f64 = 150.0;
const PLOT_LEFT: f64 = 44.0;
const PLOT_RIGHT: f64 = 632.0;
const PLOT_TOP: f64 = 10.0;
const PLOT_BOTTOM: f64 = 124.0;

/// One bar: `a` at the bottom, `b` stacked on it (succeeded and failed attempts, or messages alone).
#[derive(Serialize)]
struct Bar {
    x: String,
    w: String,
    a_y: String,
    a_h: String,
    b_y: String,
    b_h: String,
    title: String,
}

#[derive(Serialize)]
struct Tick {
    x: String,
    y: String,
    label: String,
}

/// A chart as the `chart` macro of `charts.html` draws it.
#[derive(Serialize)]
pub(super) struct ChartView {
    id: String,
    /// `messages`, `attempts` or `success`: the colours of its series.
    kind: &'static str,
    title: String,
    /// What one bar or point stands for ("per minute").
    note: String,
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    bottom: f64,
    bars: Vec<Bar>,
    /// The success rate, as polyline points; empty when no attempt was made.
    line: String,
    dots: Vec<Tick>,
    y_ticks: Vec<Tick>,
    x_ticks: Vec<Tick>,
    /// Names of the series, for the legend: (css class, label).
    legend: Vec<(&'static str, &'static str)>,
}

fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// The smallest of 1, 2, 5 × 10ᵏ at least `v`: the top of a y axis.
fn nice_max(v: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= v {
                return (m * step).max(1);
            }
        }
        step *= 10;
    }
}

fn format_ms(ms: Millis, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format(format).to_string()).unwrap_or_default()
}

fn clock(ms: Millis) -> String {
    format_ms(ms, "%H:%M")
}

/// A time with its date ("Dec 6 14:00"): a chart's window may span midnight, and a day's ticks would repeat.
fn dated(ms: Millis) -> String {
    format_ms(ms, "%b %-d %H:%M")
}

/// The x axis: the first bucket's start, the middle one's, and the end of the window, each with its date (the
/// last with the time zone too).
fn x_ticks(buckets: &[ActivityBucket], bucket: Millis) -> Vec<Tick> {
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else { return vec![] };
    let mid = &buckets[buckets.len() / 2];
    let span = (last.start + bucket - first.start) as f64;
    let x = |t: Millis| PLOT_LEFT + (t - first.start) as f64 / span * (PLOT_RIGHT - PLOT_LEFT);
    let ends = last.start + bucket;
    [first.start, mid.start, ends]
        .into_iter()
        .map(|t| {
            let label = if t == ends { format!("{} UTC", dated(t)) } else { dated(t) };
            Tick { x: n(x(t)), y: n(PLOT_BOTTOM + 16.0), label }
        })
        .collect()
}

fn base_chart(id: &str, title: &str, note: &str) -> ChartView {
    ChartView {
        id: id.to_string(),
        kind: "success",
        title: title.to_string(),
        note: note.to_string(),
        width: CHART_W,
        height: CHART_H,
        left: PLOT_LEFT,
        right: PLOT_RIGHT,
        bottom: PLOT_BOTTOM,
        bars: vec![],
        line: String::new(),
        dots: vec![],
        y_ticks: vec![],
        x_ticks: vec![],
        legend: vec![],
    }
}

/// Bars of `series` (bottom, top) per bucket, on a y axis from 0 to a round maximum.
fn bar_chart(
    id: &str,
    title: &str,
    note: &str,
    buckets: &[ActivityBucket],
    bucket: Millis,
    series: impl Fn(&ActivityBucket) -> (i64, i64),
    describe: impl Fn(&ActivityBucket) -> String,
) -> ChartView {
    let mut c = base_chart(id, title, note);
    let max = nice_max(buckets.iter().map(|b| series(b).0 + series(b).1).max().unwrap_or(0));
    let slot = (PLOT_RIGHT - PLOT_LEFT) / buckets.len().max(1) as f64;
    let gap = if slot > 4.0 { slot * 0.18 } else { 0.0 };
    let scale = (PLOT_BOTTOM - PLOT_TOP) / max as f64;
    for (i, b) in buckets.iter().enumerate() {
        let (a, top) = series(b);
        let (a_h, b_h) = (a as f64 * scale, top as f64 * scale);
        c.bars.push(Bar {
            x: n(PLOT_LEFT + i as f64 * slot + gap / 2.0),
            w: n(slot - gap),
            a_y: n(PLOT_BOTTOM - a_h),
            a_h: n(a_h),
            b_y: n(PLOT_BOTTOM - a_h - b_h),
            b_h: n(b_h),
            title: format!("{}–{} UTC: {}", dated(b.start), clock(b.start + bucket), describe(b)),
        });
    }
    c.y_ticks = [0, max / 2, max]
        .into_iter()
        .filter(|v| *v == 0 || *v == max || max % 2 == 0)
        .map(|v| Tick { x: n(PLOT_LEFT - 6.0), y: n(PLOT_BOTTOM - v as f64 * scale + 4.0), label: v.to_string() })
        .collect();
    c.x_ticks = x_ticks(buckets, bucket);
    c
}

/// The success rate of each bucket's attempts, as a line from 0 to 100 %; buckets without attempts are gaps.
fn rate_chart(id: &str, title: &str, note: &str, buckets: &[ActivityBucket], bucket: Millis) -> ChartView {
    let mut c = base_chart(id, title, note);
    let slot = (PLOT_RIGHT - PLOT_LEFT) / buckets.len().max(1) as f64;
    let y = |pct: f64| PLOT_BOTTOM - pct / 100.0 * (PLOT_BOTTOM - PLOT_TOP);
    let mut points = Vec::new();
    for (i, b) in buckets.iter().enumerate().filter(|(_, b)| b.attempts > 0) {
        let pct = b.succeeded as f64 * 100.0 / b.attempts as f64;
        let (px, py) = (n(PLOT_LEFT + (i as f64 + 0.5) * slot), n(y(pct)));
        points.push(format!("{px},{py}"));
        let label = format!(
            "{}–{} UTC: {:.0} % of {} attempts succeeded",
            dated(b.start),
            clock(b.start + bucket),
            pct,
            b.attempts
        );
        c.dots.push(Tick { x: px, y: py, label });
    }
    c.line = points.join(" ");
    c.y_ticks = [0, 50, 100]
        .into_iter()
        .map(|v| Tick { x: n(PLOT_LEFT - 6.0), y: n(y(v as f64) + 4.0), label: format!("{v} %") })
        .collect();
    c.x_ticks = x_ticks(buckets, bucket);
    c
}

fn attempts_chart(id: &str, note: &str, buckets: &[ActivityBucket], bucket: Millis) -> ChartView {
    let mut c = bar_chart(
        id,
        "Attempts",
        note,
        buckets,
        bucket,
        |b| (b.succeeded, b.attempts - b.succeeded),
        |b| format!("{} attempts, {} failed", b.attempts, b.attempts - b.succeeded),
    );
    c.kind = "attempts";
    c.legend = vec![("a", "succeeded"), ("b", "failed")];
    c
}

/// What a window of activity adds up to.
#[derive(Serialize)]
pub(super) struct Totals {
    messages: i64,
    attempts: i64,
    succeeded: i64,
    failed: i64,
    rate: Option<i64>,
}

fn totals(buckets: &[ActivityBucket]) -> Totals {
    let (messages, attempts, succeeded) =
        buckets.iter().fold((0, 0, 0), |(m, a, s), b| (m + b.messages, a + b.attempts, s + b.succeeded));
    let rate = (attempts > 0).then(|| (succeeded * 100 + attempts / 2) / attempts);
    Totals { messages, attempts, succeeded, failed: attempts - succeeded, rate }
}

/// One window of an activity panel: its totals and its charts.
#[derive(Serialize)]
pub(super) struct Window {
    id: &'static str,
    title: &'static str,
    totals: Totals,
    charts: Vec<ChartView>,
}

/// `count` buckets of `bucket` ms, the last one holding now.
fn window_range(bucket: Millis, count: i64) -> (Millis, Millis) {
    let until = (now_ms() / bucket + 1) * bucket;
    (until - count * bucket, until)
}

async fn window(
    ctx: &ApiContext,
    org: &str,
    of: ActivityOf<'_>,
    (id, title, bucket, count, note): (&'static str, &'static str, Millis, i64, &str),
) -> Result<Window, Error> {
    let (since, until) = window_range(bucket, count);
    let buckets = ctx.store.activity(org, of, since, until, bucket).await?;
    let mut charts = Vec::new();
    if matches!(of, ActivityOf::Org) {
        let mut messages = bar_chart(
            &format!("{id}-messages"),
            "Messages",
            note,
            &buckets,
            bucket,
            |b| (b.messages, 0),
            |b| format!("{} messages", b.messages),
        );
        messages.kind = "messages";
        charts.push(messages);
    }
    charts.push(attempts_chart(&format!("{id}-attempts"), note, &buckets, bucket));
    charts.push(rate_chart(&format!("{id}-rate"), "Success rate", note, &buckets, bucket));
    Ok(Window { id, title, totals: totals(&buckets), charts })
}

/// The organization's last hour (per minute) and last day (per 15 minutes).
pub(super) async fn org_activity(ctx: &ApiContext, org: &str) -> Result<Vec<Window>, Error> {
    Ok(vec![
        window(ctx, org, ActivityOf::Org, ("hour", "Last hour", MINUTE, 60, "per minute")).await?,
        window(ctx, org, ActivityOf::Org, ("day", "Last 24 hours", 15 * MINUTE, 96, "per 15 minutes")).await?,
    ])
}

/// An endpoint's attempts over the last day, per 30 minutes.
pub(super) async fn endpoint_activity(ctx: &ApiContext, ep: &Endpoint) -> Result<Window, Error> {
    let of = ActivityOf::Endpoint(&ep.id);
    window(ctx, &ep.org_id, of, ("endpoint", "Last 24 hours", 30 * MINUTE, 48, "per 30 minutes")).await
}

/// A row's small chart: the success rate of each hour of the last day.
#[derive(Serialize)]
pub(super) struct Sparkline {
    points: String,
    dots: Vec<Tick>,
    /// `ok`, `warn` or `bad`, by the day's rate.
    class: &'static str,
    title: String,
}

/// An endpoint's last 24 hours: the totals (as the `rate` macro shows them) and the hourly sparkline.
pub(super) async fn endpoint_day(ctx: &ApiContext, ep: &Endpoint) -> Result<(StatsView, Sparkline), Error> {
    let (since, until) = window_range(HOUR, 24);
    let buckets = ctx.store.activity(&ep.org_id, ActivityOf::Endpoint(&ep.id), since, until, HOUR).await?;
    let t = totals(&buckets);
    let (w, h) = (120.0, 24.0);
    let step = w / buckets.len().max(1) as f64;
    let mut dots = Vec::new();
    for (i, b) in buckets.iter().enumerate().filter(|(_, b)| b.attempts > 0) {
        let pct = b.succeeded as f64 / b.attempts as f64;
        let label = format!("{} UTC: {:.0} % of {}", dated(b.start), pct * 100.0, b.attempts);
        dots.push(Tick { x: n((i as f64 + 0.5) * step), y: n(h - 2.0 - pct * (h - 4.0)), label });
    }
    let points = dots.iter().map(|d| format!("{},{}", d.x, d.y)).collect::<Vec<_>>().join(" ");
    let class = match t.rate {
        Some(r) if r >= 99 => "ok",
        Some(r) if r >= 90 => "warn",
        Some(_) => "bad",
        None => "none",
    };
    let title = match t.rate {
        Some(r) => format!("{r} % of {} attempts succeeded in 24 h", t.attempts),
        None => "no attempts in 24 h".to_string(),
    };
    let stats = EndpointStats { success: t.succeeded, fail: t.failed, ..Default::default() };
    Ok((stats.into(), Sparkline { points, dots, class, title }))
}

/// The endpoint's circuit breaker as every node sees it: attempts failed in a row, since when, and whether
/// that opened the circuit (None while it is not failing, or the breaker is off).
#[derive(Serialize, Clone)]
pub(super) struct Circuit {
    pub(super) failures: i64,
    pub(super) since: String,
    pub(super) open: bool,
    /// When an open circuit next lets a probe go, if this node holds it open (each node keeps its own).
    #[serde(skip)]
    pub(super) probe_at: Option<Millis>,
    pub(super) next_probe: Option<String>,
}

pub(super) async fn circuit(ctx: &ApiContext, ep: &Endpoint) -> Result<Option<Circuit>, Error> {
    let threshold = i64::from(ctx.cfg.breaker.failures);
    let failing = ctx.store.endpoint_failing(&ep.id).await?;
    Ok(failing.map(|f| {
        let open = threshold > 0 && f.consecutive >= threshold;
        let probe_at = open.then(|| ctx.engine.circuit_probe_at(&ep.id)).flatten();
        let next_probe = probe_at.map(|t| super::pages::when_due(t, now_ms()));
        Circuit { failures: f.consecutive, since: time(f.since), open, probe_at, next_probe }
    }))
}

// ── the endpoint's actions ──

/// What an action's redirect shows once, by its `done` code.
pub(super) fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "rotated" => "Secret rotated. The previous key keeps signing beside the new one for its grace period.",
        "example" => "Example sent to this endpoint.",
        "replay" => "Replay started: the messages this endpoint missed are being sent in the background.",
        "app-created" => "Application created. Add an endpoint to it, then publish a message.",
        "app-saved" => "Application saved.",
        "app-deleted" => "Application deleted.",
        "endpoint-created" => "Endpoint created. Send it an example to see an attempt.",
        "endpoint-saved" => "Endpoint saved: the next messages are routed and sent as it now says.",
        "endpoint-deleted" => "Endpoint deleted.",
        "destination-skipped" => "Failed batch skipped: the destination goes on after it.",
        "destination-retried" => "The destination tries its held batch again now.",
        "transformation-saved" => "Transformation saved: the next attempts are sent through it.",
        "inbound-saved" => "Inbound webhook saved.",
        "inbound-deleted" => "Inbound webhook deleted: requests to its URL are refused.",
        "bot-saved" => "Bot saved.",
        "bot-deleted" => "Bot deleted, with its user and its webhooks' application.",
        "bot-installed" => "Bot installed: it gets the channel's events.",
        "bot-uninstalled" => "Bot removed from the channel.",
        "bot-disabled" => "Bot disabled: its tokens are refused and it gets no events until enabled.",
        "bot-enabled" => "Bot enabled.",
        _ => return None,
    })
}

/// A short fingerprint of a signing key (never the key): the first 12 hex digits of its SHA-256.
fn fingerprint(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..6])
}

/// The endpoint's signing keys as the page shows them: fingerprints and until when the old ones sign.
pub(super) fn keys_of(ep: &Endpoint) -> Vec<minijinja::Value> {
    let now = now_ms();
    ep.secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|t| t > now))
        .map(|s| page_context! { fingerprint => fingerprint(&s.key), until => s.expires_at.map(time) })
        .collect()
}

/// The event types the forms offer: the first 100 of the organization's, archived ones left out.
pub(super) async fn event_type_names(ctx: &ApiContext, org: &str) -> Result<Vec<String>, Error> {
    let page = Page { limit: 100, iterator: None, reverse: false, descending: false };
    let types = ctx.store.list::<EventType>(org, "", &page).await?;
    Ok(types.into_iter().take(100).filter(|t| !t.archived).map(|t| t.name).collect())
}

fn back(app: &str, ep: &str, query: &str) -> UiResult {
    Ok(Redirect::to(&format!("/ui/apps/{app}/endpoints/{ep}?{query}")).into_response())
}

async fn endpoint_for(ctx: &ApiContext, session: &Session, app_id: &str, ep_id: &str) -> Result<Endpoint, Error> {
    let app = load_app(ctx, &session.org, app_id).await?;
    load_endpoint(ctx, &app, ep_id).await
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    csrf: String,
    /// How long the old key keeps signing, in hours (24 unless said).
    #[serde(default)]
    grace_hours: Option<u32>,
}

pub async fn rotate_secret(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    Form(form): Form<RotateForm>,
) -> UiResult {
    session.check_csrf(&form.csrf)?;
    let mut ep = endpoint_for(&ctx, &session, &app_id, &ep_id).await?;
    let grace = form.grace_hours.map(|h| h.saturating_mul(3600));
    crate::api::endpoints::rotate_secret(&ctx, &mut ep, None, grace).await?;
    back(&ep.app_id, &ep.id, "done=rotated")
}

#[derive(Deserialize)]
pub struct ExampleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    event_type: String,
}

pub async fn send_example(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    Form(form): Form<ExampleForm>,
) -> UiResult {
    session.check_csrf(&form.csrf)?;
    let event_type = form.event_type.trim().to_string();
    crate::api::validate::check_ident(&["body", "eventType"], &event_type, 256)?;
    let app = load_app(&ctx, &session.org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let example = crate::api::endpoints::example_payload(&ctx, &session.org, &event_type).await?;
    let msg = NewMessage {
        event_type,
        event_id: None,
        channels: None,
        payload: serde_json::value::to_raw_value(&example).map_err(Error::internal)?,
        deliver_at: None,
        only_endpoint: Some(ep.id.clone()),
        id: None,
        payload_retention: None,
    };
    let msg = ctx.engine.publish(&app, msg).await?;
    back(&app.id, &ep.id, &format!("done=example&msg={}", msg.id))
}

#[derive(Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    csrf: String,
    /// Messages created in the last this many hours.
    #[serde(default)]
    hours: u32,
}

pub async fn replay_missing(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    Form(form): Form<ReplayForm>,
) -> UiResult {
    session.check_csrf(&form.csrf)?;
    if !(1..=24 * 14).contains(&form.hours) {
        return Err(Error::invalid(&["body", "hours"], "between 1 hour and 14 days").into());
    }
    let ep = endpoint_for(&ctx, &session, &app_id, &ep_id).await?;
    let (app_id, ep_id) = (ep.app_id.clone(), ep.id.clone());
    let since = now_ms() - form.hours as Millis * HOUR;
    let task = crate::api::tasks::replay_missing(&ctx, ep, since, Millis::MAX).await?;
    back(&app_id, &ep_id, &format!("done=replay&task={}", task.id))
}

// ── messages ──

#[derive(Deserialize, Default)]
pub struct SearchParams {
    /// A message id or `eventId`: goes straight to that message.
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    /// `delivered`, `failed` or `pending`.
    #[serde(default)]
    status: Option<String>,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` field, read as UTC) or RFC 3339.
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    iterator: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A time typed into the search form, as milliseconds.
fn form_time(field: &str, v: &Option<String>) -> Result<Option<Millis>, Error> {
    let Some(text) = given(v) else { return Ok(None) };
    let parsed = chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).or_else(|_| {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
            .map(|t| t.and_utc().timestamp_millis())
    });
    parsed.map(Some).map_err(|_| Error::invalid(&["query", field], "expected a date and time such as 2026-12-01T09:30"))
}

/// A row of the message list: what the message is and where its deliveries stand.
#[derive(Serialize)]
struct MessageRow {
    id: String,
    event_type: String,
    event_id: Option<String>,
    at: String,
}

impl From<&MessageRecord> for MessageRow {
    fn from(m: &MessageRecord) -> Self {
        MessageRow {
            id: m.id.clone(),
            event_type: m.event_type.clone(),
            event_id: m.event_id.clone(),
            at: time(m.created_at),
        }
    }
}

/// The search's query string without its cursor, for the pager's links.
fn search_query(p: &SearchParams) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [("event_type", &p.event_type), ("status", &p.status), ("since", &p.since), ("until", &p.until)] {
        if let Some(v) = given(v) {
            q.append_pair(k, v);
        }
    }
    let mut s = q.finish();
    if !s.is_empty() {
        s.push('&');
    }
    s
}

pub async fn messages(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(app_id): Path<String>,
    Query(p): Query<SearchParams>,
) -> UiResult {
    let app = load_app(&ctx, &session.org, &app_id).await?;
    let mut not_found = None;
    if let Some(key) = given(&p.q) {
        match ctx.store.message_get(&session.org, &app.id, key).await? {
            Some(m) => return Ok(Redirect::to(&format!("/ui/apps/{}/messages/{}", app.id, m.id)).into_response()),
            None => not_found = Some(key.to_string()),
        }
    }
    let state = match given(&p.status) {
        None => None,
        Some("delivered") => Some(MessageState::Delivered),
        Some("failed") => Some(MessageState::Failed),
        Some("pending") => Some(MessageState::Pending),
        Some(_) => return Err(Error::invalid(&["query", "status"], "delivered, failed or pending").into()),
    };
    let search = MessageSearch {
        event_type: given(&p.event_type).map(str::to_string),
        since: form_time("since", &p.since)?,
        until: form_time("until", &p.until)?,
        state,
    };
    if let Some(t) = &search.event_type {
        crate::api::validate::check_ident(&["query", "event_type"], t, 256)?;
    }
    let page = page(Some(50), p.iterator.as_deref(), true);
    let rows = ctx.store.message_search(&session.org, &app.id, &search, &page).await?;
    let (rows, pager) = pager(rows, &page, |m| m.id.clone());
    let messages: Vec<MessageRow> = rows.iter().map(Into::into).collect();
    let form = page_context! {
        event_type => given(&p.event_type), status => given(&p.status), since => given(&p.since),
        until => given(&p.until),
    };
    Ok(render(
        StatusCode::OK,
        "messages.html",
        page_context! { nav => "apps", csrf => session.csrf, app => AppView::from(&*app), messages, pager, form,
        not_found, base => format!("/ui/apps/{}/messages?{}", app.id, search_query(&p)) },
    ))
}

/// The headers an endpoint was sent for `attempt` (or would be sent now, when there is none), recomputed with
/// the dispatcher's own function (see `message.html` for what can differ from what went out).
pub(super) fn sent_headers(
    ctx: &ApiContext,
    app: &Application,
    msg: &MessageRecord,
    ep: &Endpoint,
    attempt: Option<&AttemptRecord>,
    attempts_before: i64,
) -> minijinja::Value {
    // An attempt is recorded once answered: it was signed `duration_ms` before.
    let signed_at = attempt.map_or_else(now_ms, |a| a.created_at - a.duration_ms);
    let at = chrono::DateTime::from_timestamp_millis(signed_at).unwrap_or_else(chrono::Utc::now);
    let payload = msg.payload.as_deref().unwrap_or("{}");
    let raw = crate::engine::dispatcher::raw_body(app, payload);
    let body = raw.as_ref().map_or(payload.as_bytes(), |(b, _)| &b[..]);
    let mut headers =
        crate::engine::dispatcher::delivery_headers(msg, ep, attempts_before, at, ctx.cfg.header_style, body);
    if let Some((_, ct)) = raw {
        headers.insert("content-type", ct);
    }
    let custom: Vec<String> = ep.headers.keys().map(|k| k.to_ascii_lowercase()).collect();
    // Without the payload a signature cannot be made again: leave it out rather than show a wrong one.
    let expunged = msg.payload.is_none();
    let list: Vec<minijinja::Value> = headers
        .iter()
        .filter(|(k, _)| !(expunged && k.as_str().ends_with("signature")))
        .map(|(k, v)| {
            let name = k.as_str().to_string();
            page_context! { custom => custom.contains(&name), name, value => String::from_utf8_lossy(v.as_bytes()) }
        })
        .collect();
    page_context! { headers => list, expunged, attempt_at => attempt.map(|_| time(signed_at)), url => ep.url,
    endpoint => EndpointView::from(ep) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y_axes_end_on_round_numbers() {
        assert_eq!([0, 1, 3, 7, 10, 11, 180, 2001].map(nice_max), [1, 1, 5, 10, 10, 20, 200, 5000]);
    }

    #[test]
    fn x_ticks_carry_the_date() {
        // 23:00 on Dec 6 2026 to 23:00 the next day, per hour: the window spans midnight.
        let start = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap().and_hms_opt(23, 0, 0).unwrap();
        let start = start.and_utc().timestamp_millis();
        let buckets: Vec<ActivityBucket> = (0..24)
            .map(|i| ActivityBucket { start: start + i * HOUR, messages: 0, attempts: 0, succeeded: 0 })
            .collect();
        let labels: Vec<String> = x_ticks(&buckets, HOUR).into_iter().map(|t| t.label).collect();
        assert_eq!(labels, ["Dec 6 23:00", "Dec 7 11:00", "Dec 7 23:00 UTC"]);
    }

    #[test]
    fn bars_stack_and_fit_the_plot() {
        let buckets: Vec<ActivityBucket> =
            (0..4).map(|i| ActivityBucket { start: i * MINUTE, messages: 0, attempts: i * 2, succeeded: i }).collect();
        let c = attempts_chart("t", "per minute", &buckets, MINUTE);
        assert_eq!(c.bars.len(), 4);
        let last = &c.bars[3];
        // 3 succeeded and 3 failed of a y axis up to 10: the whole bar is 6/10 of the plot's height.
        let top: f64 = last.b_y.parse().unwrap();
        assert!((PLOT_BOTTOM - top - 0.6 * (PLOT_BOTTOM - PLOT_TOP)).abs() < 0.2, "{top}");
        assert_eq!(last.a_h, last.b_h);
    }
}
