//! The engine's configuration entities, stored as documents. Field names here are internal; the faces map them
//! to their wire formats.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::signing::HmacScheme;
use crate::store::{impl_doc, Doc, DocKind, Millis};

pub type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub org_id: String,
    pub uid: Option<String>,
    pub name: String,
    pub throttle_rate: Option<u16>,
    pub metadata: Metadata,
    /// The key every endpoint of an application hookd made for itself signs with (the timers' one, which
    /// `GET /timers/webhook-secret` answers): here, not in `metadata`, which the application's every reader sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// Days its messages are kept, replacing `HOOKD_RETENTION` (the API's `messageRetentionPeriod`, a hookd
    /// extension). The retention job finds it by name in the stored JSON (`store::retention`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<i64>,
    /// Every message's payload must match its event type's latest schema, where it has one (hookd's own).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enforce_schemas: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl_doc!(Application, DocKind::Application, parent: none, id: id, uid: uid);

/// The uid of the application each organization's timer webhooks are delivered through.
pub const TIMERS_APP_UID: &str = "hookd-timers";

/// Whether `uid` names an application hookd makes for itself: the timers', a bot's (whose uid is the bot's id) or
/// an ingest source's (whose uid is the source's id). The API refuses it for the user's own applications.
pub fn is_internal_uid(uid: &str) -> bool {
    uid == TIMERS_APP_UID
        || crate::ids::has_prefix(uid, crate::ids::BOT)
        || crate::ids::has_prefix(uid, crate::ids::SOURCE)
}

impl Application {
    /// A new application of `org_id`, made now, with nothing set beyond its uid and name.
    pub fn new(org_id: impl Into<String>, uid: Option<String>, name: impl Into<String>) -> Self {
        let now = crate::store::now_ms();
        Application {
            id: crate::ids::new(crate::ids::APP),
            org_id: org_id.into(),
            uid,
            name: name.into(),
            throttle_rate: None,
            metadata: Metadata::default(),
            signing_key: None,
            retention_days: None,
            enforce_schemas: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// Made by hookd for itself rather than for one of the user's customers: left out of application lists and
    /// the dashboard's, never given a portal link, and changed only by the face that made it. Its deliveries
    /// stay reachable by its id (the Timers and Bots pages link to them).
    pub fn is_internal(&self) -> bool {
        self.uid.as_deref().is_some_and(is_internal_uid)
    }

    /// Whether a portal token may open it: the user's applications, and an Ingest source's (whose endpoints are
    /// the source's, shown to the source's consumer by `…/source/{id}/dashboard`).
    pub fn has_portal(&self) -> bool {
        !self.is_internal() || self.uid.as_deref().is_some_and(|u| crate::ids::has_prefix(u, crate::ids::SOURCE))
    }
}

/// Keys that sign (or verify) now: the current one and any rotated-out key still in its grace period.
pub fn live_secrets(secrets: &[EndpointSecret], now: Millis) -> impl Iterator<Item = &str> {
    secrets.iter().filter(move |s| s.expires_at.is_none_or(|t| t > now)).map(|s| s.key.as_str())
}

/// Makes `new_key` the current key; the others keep working for `grace_ms` (or less, if they were expiring
/// sooner), and at most `MAX_OLD_SECRETS` of them are kept.
pub fn rotate_secrets(secrets: &mut Vec<EndpointSecret>, new_key: String, grace_ms: Millis, now: Millis) {
    const MAX_OLD_SECRETS: usize = 10;
    let until = now + grace_ms;
    for s in secrets.iter_mut() {
        s.expires_at = Some(s.expires_at.map_or(until, |t| t.min(until)));
    }
    secrets.retain(|s| s.expires_at.is_none_or(|t| t > now));
    secrets.insert(0, EndpointSecret { key: new_key, expires_at: None });
    secrets.truncate(MAX_OLD_SECRETS + 1);
}

/// A signing key of an endpoint; rotated-out keys keep signing until `expires_at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointSecret {
    pub key: String,
    pub expires_at: Option<Millis>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub org_id: String,
    pub app_id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub filter_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub disabled: bool,
    pub metadata: Metadata,
    pub headers: BTreeMap<String, String>,
    /// Newest first; the first one is the current key.
    pub secrets: Vec<EndpointSecret>,
    pub throttle_rate: Option<u16>,
    /// An extra signature in one of the seeds' `sha256=` formats, sent beside the Standard Webhooks headers.
    pub signature: Option<HmacScheme>,
    /// Delays between attempts (ms), replacing the server's schedule for this endpoint.
    pub retry_schedule: Option<Vec<u64>>,
    /// Which messages it receives, by their type, channels and payload ([`super::filter`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<super::filter::Filter>,
    /// Changes what a delivery sends (payload, URL, method) or cancels it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation: Option<super::transform::Transformation>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Endpoint {
    /// Keys that sign now: the current one and any rotated-out key still in its grace period.
    pub fn live_secrets(&self, now: Millis) -> impl Iterator<Item = &str> {
        live_secrets(&self.secrets, now)
    }
}

impl_doc!(Endpoint, DocKind::Endpoint, parent: app_id, id: id, uid: uid);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventType {
    pub org_id: String,
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    pub schemas: Option<serde_json::Value>,
    /// Written by clients older than `featureFlags`; read as a list of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_flag: Option<String>,
    /// A portal token sees the type only if it holds one of them (none: everyone sees it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_flags: Vec<String>,
    /// The catalog's heading the type is listed under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Publishing a payload that does not match the latest schema is refused (hookd's own; off as in Svix).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enforce_schema: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl EventType {
    pub fn flags(&self) -> Vec<String> {
        if self.feature_flags.is_empty() {
            self.feature_flag.iter().cloned().collect()
        } else {
            self.feature_flags.clone()
        }
    }

    /// Whether someone holding `flags` (a portal token's) may see it: it has no flag, or one of theirs.
    pub fn released_to(&self, flags: &[String]) -> bool {
        let own = self.flags();
        own.is_empty() || own.iter().any(|f| flags.contains(f))
    }

    /// The schema of the highest version in `schemas` (versions are `"1"`, `"2"`, …).
    pub fn latest_schema(&self) -> Option<&serde_json::Value> {
        let versions = self.schemas.as_ref()?.as_object()?;
        versions.iter().max_by_key(|(v, _)| (v.parse::<u64>().unwrap_or(0), v.as_str())).map(|(_, schema)| schema)
    }
}

impl_doc!(EventType, DocKind::EventType, parent: none, id: name, uid: none);
