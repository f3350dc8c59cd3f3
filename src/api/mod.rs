//! The shared API layer: what every face (outbound, inbound, timers, bots, dashboard) needs to answer a request — the
//! request state ([`ApiContext`]), JSON input with 4xx errors, cursor pagination, timestamps, input checks,
//! tokens and tenancy, and the idempotency layer.
//!
//! The layering rule: a face depends on the engine, the store, this module and the crate-root utilities
//! (`error`, `ids`, `config`, `ratelimit`, `shutdown`) — never on another face, and never on the server
//! assembly (`crate::server`). This module names no face: each face's own in-memory state is registered in
//! [`AppState::parts`] by the server and reached through a short accessor in the face. `tests/layering.rs`
//! checks the rule.
//!
//! * [`extract`] — [`ValidJson`](extract::ValidJson), a JSON body whose errors are 4xx with a JSON body.
//! * [`pagination`] — the Svix list query and list response over the store's pages.
//! * [`time`] — RFC 3339 timestamps out and in.
//! * [`validate`] — identifiers, PATCH's null-or-absent fields, repeated query parameters.
//! * [`auth`] — bearer tokens and the organization they belong to.
//! * [`console`] — what the dashboard reads and does on the inbound, timers and bots faces.
//! * [`idempotency`] — replays the first answer to a POST with the same `Idempotency-Key`.
//! * [`portal`] — app portal tokens and the gate that keeps one inside its application.
//! * [`endpoints`] — endpoint checks and changes (secret rotation, send-example's payload) the faces share.
//! * [`tasks`] — background tasks (replays) that run after the request that started them.

pub mod auth;
pub mod catalog;
pub mod console;
pub mod endpoints;
pub mod extract;
pub mod idempotency;
pub mod pagination;
pub mod portal;
pub mod tasks;
pub mod time;
pub mod validate;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::model::{Application, Endpoint};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::{now_ms, MessageRecord, Page, Requeue, Store};

/// The state every handler shares (cloned per request, hence one `Arc`).
pub type ApiContext = Arc<AppState>;

pub struct AppState {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    pub cfg: Arc<Config>,
    /// Token hash → organization, so that a request costs no store read for its token.
    pub tokens: moka::sync::Cache<[u8; 32], String>,
    /// Each face's own in-memory state, filled by the server when it assembles the program.
    pub parts: Parts,
}

/// The default organization's id (the one `/catalog/` shows, when public), registered in [`AppState::parts`].
pub struct DefaultOrg(pub String);

/// A map from type to the one value of that type: each face registers its state here, keyed by its own type,
/// so that the shared state needs to name none of them.
#[derive(Default)]
pub struct Parts(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl Parts {
    /// Registers `part`, replacing any earlier value of its type.
    pub fn insert<T: Any + Send + Sync>(&mut self, part: T) {
        self.0.insert(TypeId::of::<T>(), Box::new(part));
    }

    /// The registered value of type `T`. Every face's part is registered when the server is built, so a
    /// missing one is a bug in the assembly, not a request's fault.
    pub fn get<T: Any + Send + Sync>(&self) -> &T {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|part| part.downcast_ref())
            .unwrap_or_else(|| panic!("{} is not registered in AppState::parts", std::any::type_name::<T>()))
    }
}

/// The application `key` (id or uid) of organization `org`, or 404.
pub async fn load_app(ctx: &ApiContext, org: &str, key: &str) -> Result<Arc<Application>> {
    ctx.engine.app(org, key).await?.ok_or_else(|| Error::missing("application", key))
}

/// The user's applications of `org` as a store page gives them (up to `limit + 1`, in walking order), without
/// those hookd keeps for itself ([`Application::is_internal`]): the walk reads on past them, so that a page is as
/// full as the store's and its iterator is its last row shown.
pub async fn user_apps(ctx: &ApiContext, org: &str, page: &Page) -> Result<Vec<Application>> {
    let (mut out, mut at) = (Vec::new(), page.clone());
    loop {
        let rows = ctx.store.list::<Application>(org, "", &at).await?;
        let more = rows.len() > at.limit;
        // Reading on, in bigger pages: an organization may have many bots.
        (at.iterator, at.limit) = (rows.last().map(|a| a.id.clone()), at.limit.max(250));
        out.extend(rows.into_iter().filter(|a| !a.is_internal()));
        if !more || out.len() > page.limit {
            out.truncate(page.limit + 1);
            return Ok(out);
        }
    }
}

/// Refuses (403) what an application hookd keeps for itself may not have: a portal link, a change through the
/// API. Its face alone changes it.
pub fn not_internal(app: &Application, what: &str) -> Result<()> {
    if !app.is_internal() {
        return Ok(());
    }
    let detail = format!(
        "The application {} is hookd's own (it delivers timer or bot webhooks): {what}",
        app.uid.as_deref().unwrap_or(&app.id)
    );
    Err(Error::new(axum::http::StatusCode::FORBIDDEN, "forbidden", detail))
}

/// The endpoint `key` (id or uid) of `app`, or 404.
pub async fn load_endpoint(ctx: &ApiContext, app: &Application, key: &str) -> Result<Endpoint> {
    ctx.store.get::<Endpoint>(&app.org_id, &app.id, key).await?.ok_or_else(|| Error::missing("endpoint", key))
}

/// The message `key` (id or `eventId`) of `app`, or 404.
pub async fn load_message(ctx: &ApiContext, app: &Application, key: &str) -> Result<MessageRecord> {
    ctx.store.message_get(&app.org_id, &app.id, key).await?.ok_or_else(|| Error::missing("message", key))
}

/// Stores a changed endpoint (already validated) and drops the cached copies, so the next message routes by it.
pub async fn store_endpoint(ctx: &ApiContext, ep: &mut Endpoint) -> Result<()> {
    ep.updated_at = now_ms();
    if !ctx.store.update(ep).await? {
        return Err(Error::missing("endpoint", &ep.id));
    }
    ctx.engine.invalidate(&ep.app_id);
    Ok(())
}

/// Operational events after an update (the API's or the dashboard's): `endpoint.updated`, and `endpoint.disabled`
/// or `endpoint.enabled` when the update switched it.
pub fn endpoint_updated(ctx: &ApiContext, app: &Application, was_disabled: bool, ep: &Endpoint) {
    use crate::engine::operational::Trigger;
    ctx.engine.emit_endpoint_event("endpoint.updated", app, ep);
    match (was_disabled, ep.disabled) {
        (false, true) => ctx.engine.emit_endpoint_disabled(app.uid.as_deref(), ep, now_ms(), Trigger::Manual),
        (true, false) => ctx.engine.emit_endpoint_event("endpoint.enabled", app, ep),
        _ => {}
    }
}

/// Sends `msg` to `ep` once more, whatever became of earlier attempts (the API's resend, the dashboard's button).
pub async fn resend(ctx: &ApiContext, app: &Application, msg: MessageRecord, ep: &Endpoint) -> Result<()> {
    if msg.payload.is_none() {
        return Err(Error::bad_request("The message's content was expunged"));
    }
    ctx.store.requeue(&app.org_id, &app.id, Requeue::One { msg_id: msg.id, endpoint_id: ep.id.clone() }).await?;
    ctx.engine.work_due(now_ms());
    Ok(())
}

/// Sends again every failed delivery to `ep` of the messages created in `[since, until)`; returns how many.
pub async fn recover(ctx: &ApiContext, ep: &Endpoint, since: i64, until: Option<i64>) -> Result<u64> {
    let what = Requeue::FailedSince { endpoint_id: ep.id.clone(), since, until: until.unwrap_or(i64::MAX) };
    let n = ctx.store.requeue(&ep.org_id, &ep.app_id, what).await?;
    if n > 0 {
        ctx.engine.work_due(now_ms());
    }
    tracing::info!(endpoint = %ep.id, messages = n, "recover queued");
    Ok(n)
}
