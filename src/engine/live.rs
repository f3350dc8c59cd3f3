//! Attempts as they are recorded, for whoever watches (the dashboard's live tail). A broadcast channel: with
//! no receiver — the usual case — publishing is one atomic load and nothing is copied or allocated.
//!
//! Across nodes (PostgreSQL): a node with watchers announces `watching` through the store every few seconds
//! (LISTEN/NOTIFY); a node that heard it within [`INTEREST`] also announces each attempt it records, and the
//! watching node hands it to its watchers. When nobody watches anywhere, nothing is announced.

use std::sync::Arc;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch, Notify};

use super::Engine;
use crate::store::{now_ms, AttemptRecord, Millis};

/// How many attempts a slow watcher may fall behind before it is told it missed some.
const BACKLOG: usize = 1024;

/// One recorded attempt and the message's event type.
#[derive(Debug)]
pub struct AttemptEvent {
    pub attempt: AttemptRecord,
    pub event_type: String,
    /// A retry is scheduled (false when delivered or given up).
    pub will_retry: bool,
}

/// How often a node with watchers says so to the others.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);
/// How long after hearing `watching` a node keeps announcing its attempts.
pub const INTEREST: Duration = Duration::from_secs(15);
/// Response bodies are clipped to this many characters in an announcement (NOTIFY payloads stay under 8 KB).
const ANNOUNCED_RESPONSE: usize = 500;

pub struct LiveAttempts {
    tx: broadcast::Sender<Arc<AttemptEvent>>,
    /// Set when the dispatcher stops (shutdown): watchers end, so that they do not hold the server's drain.
    stopped: watch::Sender<bool>,
    /// Until when another node has watchers (ms since the epoch).
    remote_until: AtomicI64,
    /// Wakes the announcer when the first watcher arrives.
    first_watcher: Notify,
}

impl Default for LiveAttempts {
    fn default() -> Self {
        LiveAttempts {
            tx: broadcast::channel(BACKLOG).0,
            stopped: watch::channel(false).0,
            remote_until: AtomicI64::new(0),
            first_watcher: Notify::new(),
        }
    }
}

impl LiveAttempts {
    /// Whether anyone watches, here or on another node: check before building an [`AttemptEvent`].
    pub fn watched(&self) -> bool {
        self.tx.receiver_count() > 0 || self.remote_until.load(Ordering::Relaxed) > now_ms()
    }

    fn watched_here(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    fn send(&self, event: Arc<AttemptEvent>) {
        let _ = self.tx.send(event); // no receiver left since `watched`: nothing to do
    }

    pub fn stop(&self) {
        self.stopped.send_replace(true);
    }
}

/// What a watcher gets next.
pub enum Watched {
    Attempt(Arc<AttemptEvent>),
    /// It fell this many attempts behind; they are not coming.
    Missed(u64),
}

/// One watcher of the attempts recorded by this node.
pub struct AttemptWatch {
    rx: broadcast::Receiver<Arc<AttemptEvent>>,
    stopped: watch::Receiver<bool>,
}

impl AttemptWatch {
    /// The next attempt; None once the engine stops.
    pub async fn next(&mut self) -> Option<Watched> {
        tokio::select! {
            got = self.rx.recv() => match got {
                Ok(event) => Some(Watched::Attempt(event)),
                Err(broadcast::error::RecvError::Lagged(n)) => Some(Watched::Missed(n)),
                Err(broadcast::error::RecvError::Closed) => None,
            },
            _ = self.stopped.wait_for(|stopped| *stopped) => None,
        }
    }
}

/// An attempt as announced to the other nodes.
#[derive(Serialize, Deserialize)]
struct Announced {
    id: String,
    org_id: String,
    app_id: String,
    msg_id: String,
    endpoint_id: String,
    url: String,
    status_code: i64,
    status: i64,
    manual: bool,
    duration_ms: i64,
    response: String,
    created_at: Millis,
    event_type: String,
    will_retry: bool,
}

impl Engine {
    /// Every attempt recorded from now on, of every organization: the watcher filters.
    pub fn watch_attempts(&self) -> AttemptWatch {
        let first = !self.live.watched_here();
        let watch = AttemptWatch { rx: self.live.tx.subscribe(), stopped: self.live.stopped.subscribe() };
        if first {
            self.live.first_watcher.notify_one();
        }
        watch
    }

    /// Hands a recorded attempt to this node's watchers, and to the other nodes' when they have some.
    pub(super) fn attempt_recorded(&self, event: AttemptEvent) {
        if self.live.remote_until.load(Ordering::Relaxed) > now_ms() {
            let a = &event.attempt;
            let wire = Announced {
                id: a.id.clone(),
                org_id: a.org_id.clone(),
                app_id: a.app_id.clone(),
                msg_id: a.msg_id.clone(),
                endpoint_id: a.endpoint_id.clone(),
                url: a.url.chars().take(ANNOUNCED_RESPONSE).collect(),
                status_code: a.status_code,
                status: a.status,
                manual: a.manual,
                duration_ms: a.duration_ms,
                response: a.response.chars().take(ANNOUNCED_RESPONSE).collect(),
                created_at: a.created_at,
                event_type: event.event_type.clone(),
                will_retry: event.will_retry,
            };
            if let Ok(body) = serde_json::to_string(&wire) {
                let store = self.store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.announce("attempt", body).await {
                        tracing::debug!(error = ?e, "announcing an attempt to the other nodes");
                    }
                });
            }
        }
        if self.live.watched_here() {
            self.live.send(Arc::new(event));
        }
    }

    /// What another node announced through the store.
    pub fn announced(&self, kind: &str, body: &str) {
        match kind {
            "watching" => {
                let until = now_ms() + INTEREST.as_millis() as Millis;
                self.live.remote_until.fetch_max(until, Ordering::Relaxed);
            }
            "attempt" if self.live.watched_here() => {
                let Ok(a) = serde_json::from_str::<Announced>(body) else { return };
                let attempt = AttemptRecord {
                    id: a.id,
                    org_id: a.org_id,
                    app_id: a.app_id,
                    msg_id: a.msg_id,
                    endpoint_id: a.endpoint_id,
                    url: a.url,
                    status_code: a.status_code,
                    status: a.status,
                    manual: a.manual,
                    duration_ms: a.duration_ms,
                    response: a.response,
                    created_at: a.created_at,
                };
                self.live.send(Arc::new(AttemptEvent { attempt, event_type: a.event_type, will_retry: a.will_retry }));
            }
            _ => {}
        }
    }

    /// While this node has watchers, tells the other nodes every [`ANNOUNCE_EVERY`] (and at once when the first
    /// arrives). Only a store shared by several processes has other nodes to tell.
    pub async fn announce_watchers(self: Arc<Self>, shutdown: crate::shutdown::Shutdown) {
        if self.store.events().is_none() {
            return;
        }
        loop {
            if self.live.watched_here() {
                if let Err(e) = self.store.announce("watching", String::new()).await {
                    tracing::debug!(error = ?e, "announcing the live tail's watchers");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(ANNOUNCE_EVERY) => {}
                _ = self.live.first_watcher.notified() => {}
                _ = shutdown.wait() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt() -> AttemptEvent {
        let attempt = AttemptRecord {
            id: "atmpt_1".into(),
            org_id: "org".into(),
            app_id: "app".into(),
            msg_id: "msg".into(),
            endpoint_id: "ep".into(),
            url: "http://x".into(),
            status_code: 200,
            status: 0,
            manual: false,
            duration_ms: 1,
            response: "ok".into(),
            created_at: 0,
        };
        AttemptEvent { attempt, event_type: "t".into(), will_retry: false }
    }

    #[tokio::test]
    async fn unwatched_until_subscribed_and_watchers_end_when_stopped() {
        let live = LiveAttempts::default();
        assert!(!live.watched(), "nobody watches: the dispatcher copies nothing");
        let mut watch = AttemptWatch { rx: live.tx.subscribe(), stopped: live.stopped.subscribe() };
        assert!(live.watched());
        live.send(Arc::new(attempt()));
        assert!(matches!(watch.next().await, Some(Watched::Attempt(e)) if e.attempt.id == "atmpt_1"));
        for _ in 0..BACKLOG + 3 {
            live.send(Arc::new(attempt()));
        }
        assert!(matches!(watch.next().await, Some(Watched::Missed(3))));
        live.stop();
        // What was sent before the stop may still come; then the watch ends.
        while watch.next().await.is_some() {}
        drop(watch);
        assert!(!live.watched());
    }
}
