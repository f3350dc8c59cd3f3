//! Attempts as they are recorded, for whoever watches (the dashboard's live tail). A broadcast channel: with
//! no receiver — the usual case — publishing is one atomic load and nothing is copied or allocated.
//!
//! Local to this process: on PostgreSQL with several nodes, a watcher sees the attempts its own node makes.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use super::Engine;
use crate::store::AttemptRecord;

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

pub struct LiveAttempts {
    tx: broadcast::Sender<Arc<AttemptEvent>>,
    /// Set when the dispatcher stops (shutdown): watchers end, so that they do not hold the server's drain.
    stopped: watch::Sender<bool>,
}

impl Default for LiveAttempts {
    fn default() -> Self {
        LiveAttempts { tx: broadcast::channel(BACKLOG).0, stopped: watch::channel(false).0 }
    }
}

impl LiveAttempts {
    /// Whether anyone watches: check before building an [`AttemptEvent`].
    pub fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn send(&self, event: AttemptEvent) {
        let _ = self.tx.send(Arc::new(event)); // no receiver left since `watched`: nothing to do
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

impl Engine {
    /// Every attempt recorded from now on, of every organization: the watcher filters.
    pub fn watch_attempts(&self) -> AttemptWatch {
        AttemptWatch { rx: self.live.tx.subscribe(), stopped: self.live.stopped.subscribe() }
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
        live.send(attempt());
        assert!(matches!(watch.next().await, Some(Watched::Attempt(e)) if e.attempt.id == "atmpt_1"));
        for _ in 0..BACKLOG + 3 {
            live.send(attempt());
        }
        assert!(matches!(watch.next().await, Some(Watched::Missed(3))));
        live.stop();
        // What was sent before the stop may still come; then the watch ends.
        while watch.next().await.is_some() {}
        drop(watch);
        assert!(!live.watched());
    }
}
