//! Retention. As svix-server does it, a message's payload is expunged once its retention (`payloadRetentionPeriod`,
//! or `HOOKD_PAYLOAD_RETENTION`, 90 days) has passed and no delivery still needs it. Beyond that, so that storage
//! stops growing: messages are deleted with their deliveries and attempts after `HOOKD_RETENTION` (90 days), or
//! their application's `messageRetentionPeriod`, unless a delivery of theirs is still under way; and attempts'
//! response bodies are emptied after `HOOKD_RESPONSE_RETENTION` (3 days). All of it in small commits (see
//! `store::retention`), so that the hot path never waits long.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::shutdown::Shutdown;
use crate::store::{now_ms, Millis, PruneScope, Pruned};

/// Payloads expunged per commit, so that a large backlog never holds the writer for long.
const BATCH: usize = 1000;
/// Messages looked at per commit when deleting them (each with its deliveries and attempts: a few rows apiece).
pub const PRUNE_BATCH: usize = 200;
/// Attempts whose response bodies are emptied per commit.
const RESPONSE_BATCH: usize = 500;
const EVERY: Duration = Duration::from_secs(3600);
const DAY_MS: Millis = 86_400_000;

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub pruned: Pruned,
    /// Attempts whose response body was emptied.
    pub responses: u64,
}

fn ms(d: Duration) -> Millis {
    d.as_millis().min(i64::MAX as u128) as Millis
}

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

    /// One pass of message and response retention as of `now`: each application with a retention of its own,
    /// then every other one under `HOOKD_RETENTION`, then the response bodies.
    pub async fn prune_expired(&self, now: Millis) -> anyhow::Result<Swept> {
        let mut swept = Swept::default();
        let own = self.store.app_retentions().await?;
        for (app_id, days) in &own {
            let cutoff = now.saturating_sub(days.saturating_mul(DAY_MS));
            swept.pruned += self.store.prune_messages(&PruneScope::App(app_id.clone()), cutoff, PRUNE_BATCH).await?;
        }
        if let Some(keep) = self.cfg.retention {
            let others = PruneScope::AllExcept(own.into_iter().map(|(id, _)| id).collect::<HashSet<_>>());
            swept.pruned += self.store.prune_messages(&others, now - ms(keep), PRUNE_BATCH).await?;
        }
        if let Some(keep) = self.cfg.response_retention {
            swept.responses = self.store.clear_responses(now - ms(keep), RESPONSE_BATCH).await?;
        }
        Ok(swept)
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
            match self.prune_expired(now_ms()).await {
                Ok(s) if s == Swept::default() => {}
                Ok(Swept { pruned: p, responses }) => tracing::info!(
                    messages = p.messages,
                    deliveries = p.deliveries,
                    attempts = p.attempts,
                    kept_pending = p.kept_pending,
                    responses,
                    "deleted what is past its retention"
                ),
                Err(e) => tracing::error!(error = ?e, "retention pass failed"),
            }
            if let Err(e) = self.store.activity_prune(now_ms() - crate::store::ACTIVITY_KEPT_MS).await {
                tracing::error!(error = ?e, "pruning the dashboard's activity counts failed");
            }
            if let Err(e) = self.store.inbound_prune(now_ms() - crate::store::INBOUND_REFUSED_KEPT_MS).await {
                tracing::error!(error = ?e, "pruning the refused inbound requests failed");
            }
        }
    }
}
