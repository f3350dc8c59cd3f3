//! The inbound screens: registrations with their health and recommendations, each registration's events (paged
//! by the store's cursor), an event's raw request and the verdict of its signature check, and Replay. What only
//! the inbound face knows (health, verdict, replay) comes through [`crate::api::console::InboundConsole`]. The
//! requests it refused are read from the store, which keeps the newest of them with their reasons.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;
use serde_json::Value;

use super::pages::{page_context, pager, pretty_json, time};
use super::{render, Session, UiResult};
use crate::api::console;
use crate::api::pagination::page;
use crate::api::ApiContext;
use crate::store::{InboundRefusedRecord, Page, INBOUND_REFUSED_KEPT};

/// Unhealthy registrations first (failed, then degraded), as `/webhooks/unhealthy` orders them.
pub(super) fn health_rank(r: &Value) -> u8 {
    match r["health"]["status"].as_str() {
        Some("failed") => 0,
        Some("degraded") => 1,
        _ => 2,
    }
}

#[derive(Deserialize)]
pub struct DoneParams {
    done: Option<String>,
}

pub async fn registrations(State(ctx): State<ApiContext>, session: Session, Query(q): Query<DoneParams>) -> UiResult {
    let mut regs = console::inbound(&ctx).registrations(&ctx, &session.org).await?;
    regs.sort_by_key(health_rank);
    let unhealthy = regs.iter().filter(|r| health_rank(r) < 2).count();
    let flash = q.done.as_deref().and_then(super::ops::done_message);
    let providers = console::inbound(&ctx).providers();
    Ok(render(
        StatusCode::OK,
        "inbound.html",
        page_context! { nav => "inbound", csrf => session.csrf, regs, unhealthy, flash, providers },
    ))
}

#[derive(Deserialize)]
pub struct EventsParams {
    iterator: Option<String>,
    done: Option<String>,
}

pub async fn registration(
    State(ctx): State<ApiContext>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<EventsParams>,
) -> UiResult {
    let reg = console::inbound(&ctx).registration(&ctx, &session.org, &id).await?;
    let reg_id = reg["id"].as_str().unwrap_or_default().to_string();
    let page = page(Some(25), q.iterator.as_deref(), true);
    let rows = ctx.store.inbound_events(&session.org, &reg_id, &page).await?;
    let (rows, pager) = pager(rows, &page, |e| e.id.clone());
    let newest = Page { limit: INBOUND_REFUSED_KEPT, iterator: None, reverse: false, descending: true };
    let mut refused = ctx.store.inbound_refused(&session.org, &reg_id, &newest).await?;
    refused.truncate(INBOUND_REFUSED_KEPT);
    let refused: Vec<_> = refused.iter().map(refused_view).collect();
    let events: Vec<_> = rows
        .iter()
        .map(|e| {
            page_context! { id => e.id, match_key => e.match_key, delivery_id => e.delivery_id,
            forwarded => e.forwarded_msg_id, at => time(e.received_at), size => e.body.len() }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        "inbound_registration.html",
        page_context! { nav => "inbound", csrf => session.csrf, reg, events, pager, refused,
        flash => q.done.as_deref().and_then(super::ops::done_message) },
    ))
}

/// What a refusal's reason code means, for people.
fn reason_label(reason: &str) -> &str {
    match reason {
        "bad_signature" => "bad signature",
        "missing_signature" => "no signature",
        "stale" => "stale timestamp",
        "config" => "provider configuration",
        "malformed" => "unreadable event",
        "too_large" => "too large",
        "rate_limited" => "over the rate limit",
        "inactive" => "registration inactive",
        other => other,
    }
}

/// A refused request as the registration's page lists it: why, when, from where, and what it carried.
fn refused_view(r: &InboundRefusedRecord) -> minijinja::Value {
    let mut headers: Vec<(String, String)> = serde_json::from_str::<serde_json::Map<String, Value>>(&r.headers)
        .map(|h| h.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    headers.sort();
    page_context! { id => r.id, at => time(r.received_at), reason => r.reason, label => reason_label(&r.reason),
    status => r.status, detail => r.detail, source_ip => r.source_ip, headers,
    body => String::from_utf8_lossy(&r.body), size => r.body_size, kept => r.body.len(),
    truncated => (r.body.len() as i64) < r.body_size }
}

#[derive(Deserialize)]
pub struct EventParams {
    replayed: Option<String>,
}

pub async fn event(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((id, event_id)): Path<(String, String)>,
    Query(q): Query<EventParams>,
) -> UiResult {
    let inbound = console::inbound(&ctx);
    let reg = inbound.registration(&ctx, &session.org, &id).await?;
    let event = inbound.event(&ctx, &session.org, &id, &event_id).await?;
    let mut headers: Vec<(String, String)> = event["headers"]
        .as_object()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    headers.sort();
    let body = pretty_json(event["body"].as_str().unwrap_or_default());
    let normalized = serde_json::to_string_pretty(&event["event"]).unwrap_or_default();
    Ok(render(
        StatusCode::OK,
        "inbound_event.html",
        page_context! { nav => "inbound", csrf => session.csrf, reg, event, headers, body, normalized,
        replayed => q.replayed },
    ))
}

#[derive(Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    csrf: String,
}

pub async fn replay(
    State(ctx): State<ApiContext>,
    session: Session,
    Path((id, event_id)): Path<(String, String)>,
    Form(form): Form<ReplayForm>,
) -> UiResult {
    session.check_csrf(&form.csrf)?;
    let msg_id = console::inbound(&ctx).replay(&ctx, &session.org, &id, &event_id).await?;
    let to = format!("/ui/inbound/{id}/events/{event_id}?replayed={msg_id}");
    Ok(Redirect::to(&to).into_response())
}
