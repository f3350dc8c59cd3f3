//! Payload retention, as svix-server does it: a message's payload is expunged once its retention
//! (`payloadRetentionPeriod`, or `HOOKD_PAYLOAD_RETENTION`, 90 days) has passed and no delivery still needs it.
//! The message and its attempts stay, so the history is kept and the store stops growing with payloads.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::shutdown::Shutdown;
use crate::store::{now_ms, Millis};

/// Payloads expunged per commit, so that a large backlog never holds the writer for long.
const BATCH: usize = 1000;
const EVERY: Duration = Duration::from_secs(3600);

impl Engine {
    /// One pass: expunges every payload whose retention ended before `now`; returns how many.
    pub async fn expunge_expired_payloads(&self, now: Millis) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let n = self.store.expunge_expired_payloads(now, BATCH).await?;
            total += n;
            if n < BATCH {
                return Ok(total);
            }
        }
    }

    /// Runs a pass at start and then every hour, until shutdown.
    pub async fn run_retention(self: Arc<Self>, shutdown: Shutdown) {
        let mut every = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.wait() => return,
            }
            match self.expunge_expired_payloads(now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(payloads = n, "expunged payloads past their retention"),
                Err(e) => tracing::error!(error = ?e, "payload retention pass failed"),
            }
            if let Err(e) = self.store.activity_prune(now_ms() - crate::store::ACTIVITY_KEPT_MS).await {
                tracing::error!(error = ?e, "pruning the dashboard's activity counts failed");
            }
        }
    }
}
