//! The dashboard's screens and actions. Each reads through the same store and engine calls as the API's
//! handlers, scoped to the session's organization: another organization's ids are simply not found.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::{end_session, render, start_session, Session, UiResult};
use crate::api::auth::org_of_token;
use crate::api::pagination::{list_response, page};
use crate::api::{load_app, load_endpoint, load_message, not_internal, user_apps, ApiContext};
use crate::engine::filter::Subject;
use crate::engine::model::{Application, Endpoint};
use crate::error::Error;
use crate::store::{
    now_ms, status, AttemptFilter, AttemptRecord, DeliveryRecord, EndpointStats, MessageRecord, MessageSearch,
    MessageState, Millis, Page, QUEUE_COUNT_CAP,
};

/// The overview looks at this many applications (the first page of the list), not at every one.
const OVERVIEW_APPS: usize = 50;

pub(super) fn time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

pub(super) fn status_name(s: i64) -> &'static str {
    match s {
        status::SUCCESS => "succeeded",
        status::PENDING => "pending",
        status::FAIL => "failed",
        status::SENDING => "sending",
        _ => "canceled",
    }
}

/// How long until `at`, as people say it: "in 4 min", "in 2 h 5 min", "now".
pub(super) fn relative(at: Millis, now: Millis) -> String {
    let secs = (at - now) / 1000;
    match secs {
        s if s <= 0 => "now".to_string(),
        s if s < 60 => format!("in {s} s"),
        s if s < 3600 => format!("in {} min", (s + 30) / 60),
        s if s < 86_400 => match (s / 3600, (s % 3600) / 60) {
            (h, 0) => format!("in {h} h"),
            (h, m) => format!("in {h} h {m} min"),
        },
        s => format!("in {} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// When something is due, relative and exact: "in 4 min (2026-12-06 14:05:12 UTC)".
pub(super) fn when_due(at: Millis, now: Millis) -> String {
    format!("{} ({})", relative(at, now), time(at))
}

/// How often a page looks again while an attempt is in flight.
const IN_FLIGHT_REFRESH_MS: Millis = 1000;
/// A delivery overdue by more than this waits on what the page cannot foresee (a backlog): the page stops
/// refreshing by itself and offers a link.
const OVERDUE_GRACE_MS: Millis = 10_000;
/// A due time further off than this is not worth a scheduled reload.
const LONGEST_REFRESH_MS: Millis = 24 * 3600 * 1000;

/// Where one delivery stands, as the message page shows it. A delivery whose attempts failed and which will be
/// tried again reads "retrying" (the API's status stays 1, pending, as svix-server has it).
#[derive(Serialize)]
pub(super) struct DeliveryView {
    endpoint_id: String,
    url: String,
    /// `succeeded`, `failed`, `retrying`, `pending`, `sending` or `canceled`.
    state: &'static str,
    /// The badge's class: `ok`, `fail`, `warn` or none.
    class: &'static str,
    attempts: i64,
    /// The latest attempt (as the `code` macro shows it).
    last: Option<LastAttempt>,
    /// When it is tried next, said for people; None once it is done.
    next: Option<String>,
    /// Its endpoint's circuit is open: it waits for a probe rather than its retry schedule.
    held: bool,
    /// Not done yet: pending (or retrying) or being sent.
    #[serde(skip)]
    under_way: bool,
    /// In how many ms the page should look again for this delivery; None: nothing due soon enough.
    #[serde(skip)]
    refresh_in: Option<Millis>,
}

impl DeliveryView {
    pub(super) fn new(
        d: &DeliveryRecord,
        url: String,
        last: Option<&AttemptRecord>,
        circuit: Option<&super::ops::Circuit>,
        now: Millis,
    ) -> DeliveryView {
        let held = d.status == status::PENDING && circuit.is_some_and(|c| c.open);
        let (state, class) = match d.status {
            status::SUCCESS => ("succeeded", "ok"),
            status::FAIL => ("failed", "fail"),
            status::SENDING => ("sending", ""),
            status::PENDING if d.attempts > 0 => ("retrying", "warn"),
            status::PENDING => ("pending", ""),
            _ => ("canceled", ""),
        };
        // An open circuit tries the endpoint at its probe, not at the delivery's own retry time; another node's
        // probe time is not known here.
        let due = match (held, circuit.and_then(|c| c.probe_at)) {
            (true, probe) => probe,
            (false, _) => d.next_attempt_at.or(Some(now)),
        };
        let (mut next, mut refresh_in) = (None, None);
        match d.status {
            status::SENDING => refresh_in = Some(IN_FLIGHT_REFRESH_MS),
            status::PENDING => match due {
                Some(at) if at > now => {
                    next = Some(when_due(at, now));
                    refresh_in = (at - now <= LONGEST_REFRESH_MS).then_some(at - now + IN_FLIGHT_REFRESH_MS);
                }
                Some(at) if now - at <= OVERDUE_GRACE_MS => {
                    next = Some("now".to_string());
                    refresh_in = Some(IN_FLIGHT_REFRESH_MS);
                }
                // Waiting in the queue, for a time the page cannot know (a backlog).
                Some(at) => next = Some(format!("overdue since {}", time(at))),
                // Held by a circuit another node keeps open: its probe time is that node's.
                None => {}
            },
            _ => {}
        }
        let last = last.map(|a| LastAttempt {
            status_code: a.status_code,
            ok: a.status == status::SUCCESS,
            at: time(a.created_at),
        });
        DeliveryView {
            endpoint_id: d.endpoint_id.clone(),
            url,
            state,
            class,
            attempts: d.attempts,
            last,
            next,
            held,
            under_way: matches!(d.status, status::PENDING | status::SENDING),
            refresh_in,
        }
    }
}

#[derive(Serialize)]
struct LastAttempt {
    /// 0: no response.
    status_code: i64,
    ok: bool,
    at: String,
}

/// When a page of deliveries reloads by itself: every second while an attempt is in flight or due now, once
/// when the next retry is due, or not at all (a link then).
#[derive(Serialize)]
pub(super) struct Refresh {
    /// Milliseconds until the reload (`data-refresh-in`); None: no automatic reload.
    in_ms: Option<Millis>,
    /// `in_flight`, `scheduled` or `manual`.
    mode: &'static str,
    /// When the scheduled reload happens.
    at: Option<String>,
}

impl Refresh {
    /// None when every delivery is done: nothing to wait for.
    pub(super) fn of(deliveries: &[DeliveryView], now: Millis) -> Option<Refresh> {
        if !deliveries.iter().any(|d| d.under_way) {
            return None;
        }
        Some(match deliveries.iter().filter_map(|d| d.refresh_in).min() {
            Some(ms) if ms <= IN_FLIGHT_REFRESH_MS => Refresh { in_ms: Some(ms), mode: "in_flight", at: None },
            Some(ms) => Refresh { in_ms: Some(ms), mode: "scheduled", at: Some(time(now + ms)) },
            None => Refresh { in_ms: None, mode: "manual", at: None },
        })
    }
}

/// The first `max` characters of `s`, with an ellipsis when cut.
pub(super) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// JSON text re-indented, its keys in the order sent (a `serde_json::Value` would sort them); text that is not
/// JSON comes back as it is.
pub(super) fn pretty_json(text: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() * 2);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                if let Some(close) = chars.next_if(|&n| n == '}' || n == ']') {
                    out.push(close); // `{}` and `[]` stay on one line
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[derive(Serialize)]
pub(super) struct StatsView {
    success: i64,
    fail: i64,
    pending: i64,
    /// Percent of finished deliveries that succeeded; None when none finished.
    rate: Option<i64>,
}

impl From<EndpointStats> for StatsView {
    fn from(s: EndpointStats) -> Self {
        let done = s.success + s.fail;
        let rate = (done > 0).then(|| (s.success * 100 + done / 2) / done);
        StatsView { success: s.success, fail: s.fail, pending: s.pending + s.sending, rate }
    }
}

#[derive(Serialize)]
pub(super) struct AttemptView {
    pub(super) id: String,
    msg_id: String,
    endpoint_id: String,
    url: String,
    status_code: i64,
    ok: bool,
    manual: bool,
    duration_ms: i64,
    response: String,
    at: String,
}

impl From<AttemptRecord> for AttemptView {
    fn from(a: AttemptRecord) -> Self {
        AttemptView {
            ok: a.status == status::SUCCESS,
            response: clip(&a.response, 2000),
            at: time(a.created_at),
            id: a.id,
            msg_id: a.msg_id,
            endpoint_id: a.endpoint_id,
            url: a.url,
            status_code: a.status_code,
            manual: a.manual,
            duration_ms: a.duration_ms,
        }
    }
}

#[derive(Serialize)]
pub(super) struct EndpointView {
    id: String,
    app_id: String,
    uid: Option<String>,
    url: String,
    description: String,
    throttle_rate: Option<u16>,
    retry_schedule: Option<Vec<String>>,
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    filter: Option<String>,
    disabled: bool,
    headers: Vec<(String, String)>,
    created_at: String,
    transformation: Option<TransformationView>,
}

/// The endpoint's transformation; variables are named, their values not shown (they may be tokens).
#[derive(Serialize)]
struct TransformationView {
    enabled: bool,
    template: Option<String>,
    code: Option<String>,
    variables: Vec<String>,
}

impl From<&Endpoint> for EndpointView {
    fn from(e: &Endpoint) -> Self {
        EndpointView {
            id: e.id.clone(),
            app_id: e.app_id.clone(),
            uid: e.uid.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            throttle_rate: e.throttle_rate,
            retry_schedule: retry_schedule(e),
            event_types: e.filter_types.clone(),
            channels: e.channels.clone(),
            filter: e.filter.as_ref().map(|f| f.as_json().to_string()),
            disabled: e.disabled,
            headers: e.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            created_at: time(e.created_at),
            transformation: e.transformation.as_ref().filter(|t| t.code.is_some() || t.template.is_some()).map(|t| {
                TransformationView {
                    enabled: t.enabled,
                    template: t.template.map(|p| p.name().to_string()),
                    code: t.code.clone(),
                    variables: t.variables.keys().cloned().collect(),
                }
            }),
        }
    }
}

/// The endpoint's own retry schedule as people write it (`5s`, `1m 30s`), as the API answers it.
pub(super) fn retry_schedule(e: &Endpoint) -> Option<Vec<String>> {
    let each = |ms: &u64| humantime::format_duration(std::time::Duration::from_millis(*ms)).to_string();
    e.retry_schedule.as_ref().map(|s| s.iter().map(each).collect())
}

#[derive(Serialize)]
pub(super) struct AppView {
    id: String,
    uid: Option<String>,
    name: String,
    created_at: String,
    /// hookd's own (timers', a bot's): no portal link offered.
    internal: bool,
}

impl From<&Application> for AppView {
    fn from(a: &Application) -> Self {
        let (id, uid, name, created_at) = (a.id.clone(), a.uid.clone(), a.name.clone(), time(a.created_at));
        AppView { id, uid, name, created_at, internal: a.is_internal() }
    }
}

/// The links of a paged list: `next` and `prev` are iterators for `?iterator=`.
#[derive(Serialize)]
pub(super) struct Pager {
    next: Option<String>,
    prev: Option<String>,
}

pub(super) fn pager<R>(rows: Vec<R>, page: &Page, id: impl Fn(&R) -> String) -> (Vec<R>, Pager) {
    let first_page = page.iterator.is_none();
    let list = list_response(rows, page, id, |r| r);
    let next = (!list.done || page.reverse).then_some(list.iterator).flatten();
    let prev = (!first_page).then_some(list.prev_iterator).flatten();
    (list.data, Pager { next, prev })
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    iterator: Option<String>,
    /// How many failed deliveries a recover just queued (shown once).
    recovered: Option<u64>,
    /// Which action just succeeded (see `ops::done_message`), and what it made: a message, a task.
    done: Option<String>,
    msg: Option<String>,
    task: Option<String>,
}

/// `minijinja::context!` over any `Serialize` values: `page_context! { a, b => expr }`.
macro_rules! page_context {
    ($($key:ident $(=> $value:expr)?),* $(,)?) => {
        minijinja::context! {
            $($key => minijinja::Value::from(minijinja::value::Serde(page_context!(@v $key $(=> $value)?)))),*
        }
    };
    (@v $key:ident) => { &$key };
    (@v $key:ident => $value:expr) => { &$value };
}
pub(super) use page_context;

// ── login ──

pub async fn login_form(session: Option<Session>) -> UiResult {
    if session.is_some() {
        return Ok(Redirect::to("/ui/").into_response());
    }
    Ok(render(StatusCode::OK, "login.html", page_context! {}))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

pub async fn login(State(ctx): State<ApiContext>, Form(form): Form<LoginForm>) -> UiResult {
    let token = form.token.trim();
    if token.is_empty() {
        let error = "Enter an API token.";
        return Ok(render(StatusCode::UNAUTHORIZED, "login.html", page_context! { error }));
    }
    match org_of_token(&ctx, token).await {
        Ok(org) => {
            let cookie = start_session(&ctx, org.0).await?;
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/ui/")).into_response())
        }
        Err(Error::Http { status: StatusCode::UNAUTHORIZED, .. }) => {
            let error = "That token is not valid.";
            Ok(render(StatusCode::UNAUTHORIZED, "login.html", page_context! { error }))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(State(ctx): State<ApiContext>, session: Session, Form(form): Form<CsrfForm>) -> UiResult {
    session.check_csrf(&form.csrf)?;
    let cookie = end_session(&ctx, &session).await?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/ui/login")).into_response())
}

// ── overview ──

#[derive(Serialize)]
struct EndpointRow {
    app: AppView,
    endpoint: EndpointView,
    stats: StatsView,
    /// Attempts failed in a row, and since when (a failing endpoint's).
    streak: Option<(i64, String)>,
    spark: Option<super::ops::Sparkline>,
}

#[derive(Serialize)]
struct DeadLetter {
    app_id: String,
    app_name: String,
    msg_id: String,
    event_type: String,
    at: String,
}

/// How many dead letters the overview lists: the newest, at most 5 of each application.
const OVERVIEW_DEAD: usize = 10;
/// Timers shown as due soonest.
const OVERVIEW_TIMERS: usize = 5;

pub async fn overview(State(ctx): State<ApiContext>, session: Session) -> UiResult {
    let org = &session.org;
    let activity = super::ops::org_activity(&ctx, org).await?;
    let page = Page { limit: OVERVIEW_APPS, iterator: None, reverse: false, descending: true };
    let mut apps = user_apps(&ctx, org, &page).await?;
    let more_apps = apps.len() > OVERVIEW_APPS;
    apps.truncate(OVERVIEW_APPS);
    // Bounded whatever the store holds: per application one read of its (cached) endpoints, one of its newest
    // dead letters, and per endpoint a primary-key read of its failure streak; charts only for failing ones.
    let (mut endpoints, mut failing, mut disabled, mut dead) = (0, Vec::new(), Vec::new(), Vec::new());
    let dead_search = MessageSearch { state: Some(MessageState::Failed), ..Default::default() };
    let dead_page = Page { limit: 5, iterator: None, reverse: false, descending: true };
    for app in &apps {
        for ep in ctx.engine.endpoints_of(org, &app.id).await?.iter() {
            endpoints += 1;
            if ep.disabled {
                let stats = EndpointStats::default().into();
                disabled.push(EndpointRow { app: app.into(), endpoint: ep.into(), stats, streak: None, spark: None });
            } else if let Some(f) = ctx.store.endpoint_failing(&ep.id).await? {
                let (stats, spark) = super::ops::endpoint_day(&ctx, ep).await?;
                let streak = Some((f.consecutive, time(f.since)));
                failing.push(EndpointRow { app: app.into(), endpoint: ep.into(), stats, streak, spark: Some(spark) });
            }
        }
        let rows = ctx.store.message_search(org, &app.id, &dead_search, &dead_page).await?;
        dead.extend(rows.into_iter().take(5).map(|m| DeadLetter {
            app_id: app.id.clone(),
            app_name: app.name.clone(),
            msg_id: m.id,
            event_type: m.event_type,
            at: time(m.created_at),
        }));
    }
    dead.sort_by(|a, b| b.msg_id.cmp(&a.msg_id));
    dead.truncate(OVERVIEW_DEAD);
    let now = now_ms();
    let queued = ctx.store.queue_stats(now).await?.deliveries;
    // How late the oldest due work is: the scheduler keeping up shows 0.
    let lag_ms = ctx.store.next_due_at(0).await?.map_or(0, |due| (now - due).max(0));
    let mut inbound = crate::api::console::inbound(&ctx).registrations(&ctx, org).await?;
    inbound.retain(|r| super::inbound::health_rank(r) < 2);
    inbound.sort_by_key(super::inbound::health_rank);
    let timers = ctx
        .store
        .timers_due_soon(org, OVERVIEW_TIMERS)
        .await?
        .iter()
        .map(|t| super::timers::view(&ctx, t, now))
        .collect::<Result<Vec<_>, _>>()?;
    let app_count = apps.len();
    Ok(render(
        StatusCode::OK,
        "overview.html",
        page_context! { nav => "overview", csrf => session.csrf, app_count, more_apps, endpoints, activity, queued,
        queue_cap => QUEUE_COUNT_CAP, failing, disabled, dead, lag_ms, inbound, timers },
    ))
}

// ── applications ──

pub async fn apps(State(ctx): State<ApiContext>, session: Session, Query(q): Query<ListParams>) -> UiResult {
    let page = page(Some(25), q.iterator.as_deref(), true);
    let rows = user_apps(&ctx, &session.org, &page).await?;
    let (rows, pager) = pager(rows, &page, |a| a.id.clone());
    let mut apps = Vec::with_capacity(rows.len());
    for app in &rows {
        let eps = ctx.engine.endpoints_of(&session.org, &app.id).await?;
        let disabled = eps.iter().filter(|e| e.disabled).count();
        // A primary-key read per enabled endpoint, as the overview makes.
        let mut failing = 0;
        for ep in eps.iter().filter(|e| !e.disabled) {
            failing += usize::from(ctx.store.endpoint_failing(&ep.id).await?.is_some());
        }
        apps.push(page_context! { app => AppView::from(app), endpoints => eps.len(), disabled, failing });
    }
    let flash = q.done.as_deref().and_then(super::ops::done_message);
    Ok(render(StatusCode::OK, "apps.html", page_context! { nav => "apps", csrf => session.csrf, apps, pager, flash }))
}

#[derive(Deserialize)]
pub struct AppParams {
    iterator: Option<String>,
    /// A message id or eventId to go to.
    q: Option<String>,
    event_type: Option<String>,
    done: Option<String>,
}

pub async fn app(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(app_id): Path<String>,
    Query(q): Query<AppParams>,
) -> UiResult {
    let app = load_app(&ctx, &session.org, &app_id).await?;
    let mut not_found = None;
    if let Some(key) = q.q.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        match ctx.store.message_get(&session.org, &app.id, key).await? {
            Some(m) => return Ok(Redirect::to(&format!("/ui/apps/{}/messages/{}", app.id, m.id)).into_response()),
            None => not_found = Some(key.to_string()),
        }
    }
    let mut endpoints = Vec::new();
    for ep in ctx.engine.endpoints_of(&session.org, &app.id).await?.iter() {
        let (stats, spark) = super::ops::endpoint_day(&ctx, ep).await?;
        let last = Page { limit: 1, iterator: None, reverse: false, descending: true };
        let filter = AttemptFilter { endpoint_id: Some(ep.id.clone()), ..Default::default() };
        let last = ctx.store.attempt_list(&session.org, &app.id, &filter, &last).await?.into_iter().next();
        let circuit = if ep.disabled { None } else { super::ops::circuit(&ctx, ep).await? };
        endpoints.push(page_context! { endpoint => EndpointView::from(ep), stats, spark, circuit,
        last => last.map(AttemptView::from) });
    }
    let destinations = super::destinations::rows(&ctx, &session, &app).await?;
    let event_type = q.event_type.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let search = MessageSearch { event_type: event_type.map(str::to_string), ..Default::default() };
    let page = page(Some(25), q.iterator.as_deref(), true);
    let rows = ctx.store.message_search(&session.org, &app.id, &search, &page).await?;
    let (rows, pager) = pager(rows, &page, |m| m.id.clone());
    let messages: Vec<_> = rows
        .iter()
        .map(|m| {
            page_context! { id => m.id, event_type => m.event_type, event_id => m.event_id, at => time(m.created_at) }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        "app.html",
        page_context! { nav => "apps", csrf => session.csrf, app => AppView::from(&*app), endpoints, destinations, messages, pager,
        event_type, not_found, flash => q.done.as_deref().and_then(super::ops::done_message) },
    ))
}

#[derive(Deserialize)]
pub struct PortalLinkForm {
    #[serde(default)]
    csrf: String,
    /// `manage` (endpoints too) or `read` (read-only).
    #[serde(default)]
    access: String,
}

/// A link to the application's portal to hand its customer, shown once (the token is stored hashed), valid 7
/// days as the API's default.
pub async fn portal_link(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(app_id): Path<String>,
    Form(form): Form<PortalLinkForm>,
) -> UiResult {
    use crate::api::portal::{self, Capability};
    session.check_csrf(&form.csrf)?;
    let app = load_app(&ctx, &session.org, &app_id).await?;
    not_internal(&app, "it has no app portal")?;
    let (read_only, capabilities) = match form.access.as_str() {
        "read" => (true, vec![Capability::ViewBase]),
        "manage" => (false, Capability::ALL.to_vec()),
        _ => return Err(Error::invalid(&["body", "access"], "manage or read").into()),
    };
    const WEEK_MS: Millis = 7 * 86_400_000;
    let token = portal::issue(&ctx, &app, capabilities, Vec::new(), Some("dashboard".into()), WEEK_MS).await?;
    Ok(render(
        StatusCode::OK,
        "portal_link.html",
        page_context! { nav => "apps", csrf => session.csrf, app => AppView::from(&*app),
        url => portal::url(&ctx.cfg.public_url, &token),
        read_only, expires => time(now_ms() + WEEK_MS) },
    ))
}

// ── endpoints ──

pub async fn endpoint(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(q): Query<ListParams>,
) -> UiResult {
    endpoint_page(&ctx, &session, &app_id, &ep_id, q, None).await
}

/// The endpoint's page; `secret` is its signing key when the user asked to see it
/// ([`super::endpoints::reveal_secret`]), and only then.
pub(super) async fn endpoint_page(
    ctx: &ApiContext,
    session: &Session,
    app_id: &str,
    ep_id: &str,
    q: ListParams,
    secret: Option<String>,
) -> UiResult {
    let ctx = ctx.clone();
    let (app_id, ep_id) = (app_id.to_string(), ep_id.to_string());
    let app = load_app(&ctx, &session.org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let activity = super::ops::endpoint_activity(&ctx, &ep).await?;
    let keys = super::ops::keys_of(&ep);
    let circuit = super::ops::circuit(&ctx, &ep).await?;
    let event_types = super::ops::event_type_names(&ctx, &session.org).await?;
    let done = q.done.as_deref().and_then(super::ops::done_message);
    let filter = AttemptFilter { endpoint_id: Some(ep.id.clone()), ..Default::default() };
    let page = page(Some(25), q.iterator.as_deref(), true);
    let rows = ctx.store.attempt_list(&session.org, &app.id, &filter, &page).await?;
    let (rows, pager) = pager(rows, &page, |a| a.id.clone());
    let attempts: Vec<AttemptView> = rows.into_iter().map(Into::into).collect();
    Ok(render(
        StatusCode::OK,
        "endpoint.html",
        page_context! { nav => "apps", csrf => session.csrf, app => AppView::from(&*app),
        endpoint => EndpointView::from(&ep),
        activity, keys, circuit, event_types, done, example => q.msg, task => q.task, attempts, pager,
        recovered => q.recovered, secret },
    ))
}

#[derive(Deserialize)]
pub struct StateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    disabled: bool,
}

pub async fn set_endpoint_state(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    Form(form): Form<StateForm>,
) -> UiResult {
    session.check_csrf(&form.csrf)?;
    let app = load_app(&ctx, &session.org, &app_id).await?;
    let mut ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let was_disabled = ep.disabled;
    ep.disabled = form.disabled;
    crate::api::store_endpoint(&ctx, &mut ep).await?;
    crate::api::endpoint_updated(&ctx, &app, was_disabled, &ep);
    Ok(Redirect::to(&format!("/ui/apps/{}/endpoints/{}", app.id, ep.id)).into_response())
}

#[derive(Deserialize)]
pub struct RecoverForm {
    #[serde(default)]
    csrf: String,
    /// Messages created in the last this many hours.
    #[serde(default)]
    hours: u32,
}

pub async fn recover(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, ep_id)): Path<(String, String)>,
    Form(form): Form<RecoverForm>,
) -> UiResult {
    session.check_csrf(&form.csrf)?;
    if !(1..=24 * 14).contains(&form.hours) {
        return Err(Error::invalid(&["body", "hours"], "between 1 hour and 14 days").into());
    }
    let app = load_app(&ctx, &session.org, &app_id).await?;
    let ep = load_endpoint(&ctx, &app, &ep_id).await?;
    let since = now_ms() - form.hours as Millis * 3600 * 1000;
    let n = crate::api::recover(&ctx, &ep, since, None).await?;
    Ok(Redirect::to(&format!("/ui/apps/{}/endpoints/{}?recovered={n}", app.id, ep.id)).into_response())
}

// ── messages ──

#[derive(Deserialize)]
pub struct MessageParams {
    resent: Option<String>,
}

pub async fn message(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<MessageParams>,
) -> UiResult {
    let app = load_app(&ctx, &session.org, &app_id).await?;
    let msg = load_message(&ctx, &app, &msg_id).await?;
    let eps = ctx.engine.endpoints_of(&session.org, &app.id).await?;
    let url_of = |id: &str| eps.iter().find(|e| e.id == id).map(|e| e.url.clone()).unwrap_or_else(|| id.to_string());
    let all = Page { limit: 250, iterator: None, reverse: false, descending: false };
    let mut delivery_rows = ctx.store.deliveries_of_message(&session.org, &app.id, &msg.id, &all).await?;
    delivery_rows.truncate(250);
    let filter = AttemptFilter { msg_id: Some(msg.id.clone()), ..Default::default() };
    let recent = Page { limit: 100, iterator: None, reverse: false, descending: true };
    let mut attempt_rows = ctx.store.attempt_list(&session.org, &app.id, &filter, &recent).await?;
    attempt_rows.truncate(100);
    let now = now_ms();
    let mut deliveries = Vec::with_capacity(delivery_rows.len());
    for d in &delivery_rows {
        // The circuit matters only to a delivery still waiting (a primary-key read per such endpoint).
        let ep = eps.iter().find(|e| e.id == d.endpoint_id);
        let circuit = match ep {
            Some(ep) if d.status == status::PENDING => super::ops::circuit(&ctx, ep).await?,
            _ => None,
        };
        let last = attempt_rows.iter().find(|a| a.endpoint_id == d.endpoint_id);
        deliveries.push(DeliveryView::new(d, url_of(&d.endpoint_id), last, circuit.as_ref(), now));
    }
    let refresh = Refresh::of(&deliveries, now);
    // Per delivery, the headers of its latest attempt (newest first above), or of the next one.
    let sent_headers: Vec<_> = delivery_rows
        .iter()
        .take(20)
        .filter_map(|d| {
            let ep = eps.iter().find(|e| e.id == d.endpoint_id)?;
            let latest = attempt_rows.iter().find(|a| a.endpoint_id == d.endpoint_id);
            let before = d.attempts - i64::from(latest.is_some());
            Some(super::ops::sent_headers(&ctx, &app, &msg, ep, latest, before.max(0)))
        })
        .collect();
    let attempts: Vec<AttemptView> = attempt_rows.into_iter().map(Into::into).collect();
    let not_sent = not_sent(&eps, &delivery_rows, &msg);
    let payload = msg.payload.as_deref().map(pretty_json);
    let view = page_context! {
        id => msg.id, event_type => msg.event_type, event_id => msg.event_id, channels => msg.channels,
        at => time(msg.created_at), payload,
    };
    Ok(render(
        StatusCode::OK,
        "message.html",
        page_context! { nav => "apps", csrf => session.csrf, app => AppView::from(&*app), msg => view, deliveries,
        refresh, attempts, sent_headers, resent => q.resent.is_some(), not_sent },
    ))
}

/// The endpoints a message was not sent to, each with why, judged by the endpoint as it is now (and saying
/// so when the endpoint changed since the message).
fn not_sent(eps: &[Endpoint], deliveries: &[DeliveryRecord], msg: &MessageRecord) -> Vec<minijinja::Value> {
    let missing = || eps.iter().filter(|e| !deliveries.iter().any(|d| d.endpoint_id == e.id));
    let payload = msg.payload.as_deref().unwrap_or("{}");
    let parsed = crate::engine::routing::parse_if_read(missing(), payload);
    let subject = Subject { event_type: &msg.event_type, channels: msg.channels.as_deref(), payload: parsed.as_ref() };
    missing()
        .map(|e| {
            let why = crate::engine::routing::why_not(e, &subject)
                .unwrap_or_else(|| "it was created or changed to receive it after the message".into());
            let changed = e.updated_at > msg.created_at;
            page_context! { id => e.id, url => e.url, why, changed }
        })
        .collect()
}

#[derive(Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    endpoint: String,
}

pub async fn resend(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((app_id, msg_id)): Path<(String, String)>,
    Form(form): Form<ResendForm>,
) -> UiResult {
    session.check_csrf(&form.csrf)?;
    let app = load_app(&ctx, &session.org, &app_id).await?;
    let msg = load_message(&ctx, &app, &msg_id).await?;
    let ep = load_endpoint(&ctx, &app, &form.endpoint).await?;
    let msg_id = msg.id.clone();
    crate::api::resend(&ctx, &app, msg, &ep).await?;
    Ok(Redirect::to(&format!("/ui/apps/{}/messages/{}?resent={}", app.id, msg_id, ep.id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(status: i64, attempts: i64, next_attempt_at: Option<Millis>) -> DeliveryRecord {
        let endpoint_id = "ep_1".to_string();
        DeliveryRecord {
            delivery_id: 1,
            msg_id: "msg_1".into(),
            endpoint_id,
            status,
            attempts,
            next_attempt_at,
            updated_at: 0,
        }
    }

    #[test]
    fn the_page_reloads_while_in_flight_once_when_a_retry_is_due_or_never() {
        let now = 1_000_000_000;
        let view = |d: DeliveryRecord| DeliveryView::new(&d, String::new(), None, None, now);
        let refresh = |ds: Vec<DeliveryRecord>| Refresh::of(&ds.into_iter().map(view).collect::<Vec<_>>(), now);

        let sending = refresh(vec![delivery(status::SENDING, 1, None)]).unwrap();
        assert_eq!((sending.mode, sending.in_ms), ("in_flight", Some(1000)));
        let due_now = refresh(vec![delivery(status::PENDING, 0, Some(now - 500))]).unwrap();
        assert_eq!((due_now.mode, due_now.in_ms), ("in_flight", Some(1000)));
        // A retry five minutes away: one reload, a second after it is due; the in-flight one wins beside it.
        let waiting = delivery(status::PENDING, 2, Some(now + 300_000));
        assert_eq!(view(waiting.clone()).state, "retrying");
        let once = refresh(vec![waiting.clone(), delivery(status::SUCCESS, 1, None)]).unwrap();
        assert_eq!((once.mode, once.in_ms), ("scheduled", Some(301_000)));
        assert_eq!(refresh(vec![waiting, delivery(status::SENDING, 0, None)]).unwrap().in_ms, Some(1000));
        // Overdue (a backlog) or more than a day off: no reload by itself, a link.
        let overdue = refresh(vec![delivery(status::PENDING, 1, Some(now - 60_000))]).unwrap();
        assert_eq!((overdue.mode, overdue.in_ms), ("manual", None));
        let far = refresh(vec![delivery(status::PENDING, 1, Some(now + 2 * 86_400_000))]).unwrap();
        assert_eq!((far.mode, far.in_ms), ("manual", None));
        // Everything done: nothing to wait for.
        assert!(refresh(vec![delivery(status::SUCCESS, 1, None), delivery(status::FAIL, 3, None)]).is_none());
    }

    #[test]
    fn due_times_read_as_people_say_them() {
        let at = |secs: i64| relative(secs * 1000, 0);
        assert_eq!(
            [at(-5), at(42), at(299), at(3600), at(3 * 3600 + 600), at(2 * 86_400 + 3600)],
            ["now", "in 42 s", "in 5 min", "in 1 h", "in 3 h 10 min", "in 2 d 1 h"]
        );
    }

    #[test]
    fn pretty_json_keeps_key_order_and_strings() {
        let text = r#"{"z":1,"a":{"s":"x, {y}: \"q\"","e":[],"o":{}},"l":[1, 2]}"#;
        let want = concat!(
            "{\n  \"z\": 1,\n  \"a\": {\n    \"s\": \"x, {y}: \\\"q\\\"\",\n    \"e\": [],\n",
            "    \"o\": {}\n  },\n  \"l\": [\n    1,\n    2\n  ]\n}"
        );
        assert_eq!(pretty_json(text), want);
        assert_eq!(pretty_json("not json {"), "not json {");
    }
}
