//! Operational webhooks, as Svix defines them: events about the service itself (`endpoint.created`,
//! `message.attempt.exhausted`, …) sent to an organization's operational endpoints.
//!
//! An organization's operational endpoints are the endpoints of one internal application that lives in a
//! companion organization of its own ([`ops_org`]): no token belongs to it, so no tenant query — application
//! lists, message lists, stats — ever sees it, and nothing has to filter it out. Each event is a message
//! published into that application, so signing (with the operational endpoint's own secret), retries, attempts,
//! throttling and filtering by `eventTypes` are the engine's ordinary ones.
//!
//! Emitting never fails or slows the caller: the event is published from a task of its own, and an error is
//! logged. Events about the operational application itself are never emitted (they would feed on themselves).

use std::sync::Arc;

use serde_json::{json, Value};

use super::dispatcher::AttemptOutcome;
use super::model::{Application, Endpoint};
use super::{Engine, NewMessage};
use crate::api::time::ts;
use crate::error::Result;
use crate::store::{AttemptRecord, DeliveryJob, Millis, StoreError};

/// The uid of the operational application in its companion organization.
const OPS_APP_UID: &str = "operational";
/// What the companion organization's id adds to the organization's.
const OPS_ORG_SUFFIX: &str = "/operational";

/// The `message.attempt.failing` event fires on this failed attempt in a row; `recovered` on a success after it.
pub const FAILING_AFTER: usize = 4;

/// An endpoint with this metadata key has the delivery it gave up on reported as the operational event named by
/// the value (timers report `timer.webhook.exhausted`), with the message's payload, instead of
/// `message.attempt.exhausted`.
pub const ON_EXHAUSTED: &str = "hookd.onExhausted";

/// The companion organization that holds `org`'s operational application.
pub fn ops_org(org: &str) -> String {
    format!("{org}{OPS_ORG_SUFFIX}")
}

fn is_ops_org(org: &str) -> bool {
    org.ends_with(OPS_ORG_SUFFIX)
}

/// How an endpoint came to be disabled (`endpoint.disabled`'s `trigger`).
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    Manual,
    Automatic,
}

impl Engine {
    /// `org`'s operational application, if it has one.
    pub async fn ops_app(&self, org: &str) -> Result<Option<Arc<Application>>> {
        self.app(&ops_org(org), OPS_APP_UID).await
    }

    /// `org`'s operational application, made on first use.
    pub async fn ops_app_or_create(&self, org: &str) -> Result<Arc<Application>> {
        if let Some(app) = self.ops_app(org).await? {
            return Ok(app);
        }
        let app = Application::new(ops_org(org), Some(OPS_APP_UID.into()), "Operational webhooks");
        match self.store.insert(&app).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {} // made at the same moment by another request
            Err(e) => return Err(e.into()),
        }
        self.ops_app(org).await?.ok_or_else(crate::error::Error::not_found)
    }

    /// Sends the operational event `event_type` with `data` to `org`'s operational endpoints, in the background.
    pub fn emit_operational(&self, org: &str, event_type: &str, data: Value) {
        if is_ops_org(org) {
            return;
        }
        let Some(engine) = self.me.upgrade() else { return };
        let (org, event_type) = (org.to_string(), event_type.to_string());
        tokio::spawn(async move {
            if let Err(e) = engine.publish_operational(&org, &event_type, data).await {
                tracing::warn!(error = ?e, org = %org, event = %event_type, "sending an operational webhook");
            }
        });
    }

    async fn publish_operational(&self, org: &str, event_type: &str, data: Value) -> Result<()> {
        let Some(app) = self.ops_app(org).await? else { return Ok(()) };
        if self.endpoints_of(&app.org_id, &app.id).await?.iter().all(|e| e.disabled) {
            return Ok(()); // nobody listens: store nothing
        }
        let payload = json!({ "type": event_type, "data": data });
        let msg = NewMessage {
            event_type: event_type.to_string(),
            event_id: None,
            channels: None,
            payload: serde_json::value::to_raw_value(&payload).map_err(crate::error::Error::internal)?,
            deliver_at: None,
            only_endpoint: None,
            id: None,
            payload_retention: None,
        };
        self.publish(&app, msg).await?;
        Ok(())
    }

    /// `endpoint.created`, `endpoint.updated`, `endpoint.deleted` or `endpoint.enabled` about `ep`.
    pub fn emit_endpoint_event(&self, event_type: &str, app: &Application, ep: &Endpoint) {
        self.emit_operational(&ep.org_id, event_type, endpoint_data(app.uid.as_deref(), ep));
    }

    /// `endpoint.disabled` about `ep`, failing since `fail_since`.
    pub fn emit_endpoint_disabled(&self, app_uid: Option<&str>, ep: &Endpoint, fail_since: Millis, trigger: Trigger) {
        let mut data = endpoint_data(app_uid, ep);
        data["failSince"] = json!(ts(fail_since));
        data["trigger"] = json!(match trigger {
            Trigger::Manual => "manual",
            Trigger::Automatic => "automatic",
        });
        self.emit_operational(&ep.org_id, "endpoint.disabled", data);
    }

    /// After an attempt: `message.attempt.failing` on the [`FAILING_AFTER`]th failure in a row,
    /// `message.attempt.recovered` on a success after that many, `message.attempt.exhausted` (or the endpoint's
    /// [`ON_EXHAUSTED`] event) when the delivery is given up. Manual attempts report nothing.
    pub(super) fn attempt_events(
        &self,
        job: &DeliveryJob,
        ep: &Endpoint,
        rec: &AttemptRecord,
        outcome: &AttemptOutcome,
    ) {
        if job.manual || is_ops_org(&ep.org_id) {
            return;
        }
        let attempts_made = job.attempts as usize + 1;
        let custom = ep.metadata.get(ON_EXHAUSTED).cloned();
        let mut events = Vec::new();
        match outcome {
            AttemptOutcome::Delivered if attempts_made > FAILING_AFTER => events.push("message.attempt.recovered"),
            AttemptOutcome::WillRetry | AttemptOutcome::Exhausted if attempts_made == FAILING_AFTER => {
                events.push("message.attempt.failing")
            }
            _ => {}
        }
        if *outcome == AttemptOutcome::Exhausted {
            events.push(custom.as_deref().unwrap_or("message.attempt.exhausted"));
        }
        if events.is_empty() {
            return;
        }
        let mut data = json!({
            "appId": job.msg.app_id,
            "appUid": Value::Null,
            "msgId": job.msg.id,
            "msgEventId": job.msg.event_id,
            "endpointId": ep.id,
            "lastAttempt": {
                "id": rec.id,
                "responseStatusCode": rec.status_code,
                "timestamp": ts(rec.created_at),
            },
        });
        let Some(engine) = self.me.upgrade() else { return };
        let (org, app_id) = (ep.org_id.clone(), ep.app_id.clone());
        let payload = custom.as_ref().and_then(|_| job.msg.payload.clone());
        let event_types: Vec<String> = events.into_iter().map(str::to_string).collect();
        tokio::spawn(async move {
            // The application's uid is looked up here, off the dispatcher's path.
            if let Ok(Some(app)) = engine.app(&org, &app_id).await {
                data["appUid"] = json!(app.uid);
            }
            for event_type in event_types {
                let mut data = data.clone();
                if Some(&event_type) == custom.as_ref() {
                    let payload = payload.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok());
                    data["payload"] = payload.unwrap_or(Value::Null);
                }
                engine.emit_operational(&org, &event_type, data);
            }
        });
    }
}

/// The data of the `endpoint.*` events: `appId`, `appUid`, `endpointId`, `endpointUid`.
fn endpoint_data(app_uid: Option<&str>, ep: &Endpoint) -> Value {
    json!({
        "appId": ep.app_id,
        "appUid": app_uid,
        "endpointId": ep.id,
        "endpointUid": ep.uid,
    })
}
