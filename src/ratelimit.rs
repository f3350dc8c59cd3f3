//! Rate limits, counted in one process. One-minute rate windows with the `X-RateLimit-*` headers, as the
//! inbound gateway (seed 002) and the bots (seed 003) count requests: a window opens with the first request after
//! the last one closed, like a Redis counter with a 60 s TTL. And throttles, the endpoints' and applications'
//! `throttleRate`. The store counts them ([`crate::store::Store::rate_window`], [`crate::store::Store::throttle`]):
//! the embedded store with these, the shared PostgreSQL store in the database, for the whole cluster.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

#[derive(Default)]
pub struct RateWindows {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

/// What one request found in its window.
#[derive(Debug, Clone, Copy)]
pub struct RateWindow {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// When the window closes, in Unix seconds.
    pub reset: i64,
}

impl RateWindows {
    /// Counts a request against `key`'s window, if it is under `limit`.
    pub fn take(&self, key: &str, limit: u32, now_secs: i64) -> RateWindow {
        let mut windows = self.windows.lock().expect("rate windows");
        if windows.len() > 100_000 {
            windows.retain(|_, w| now_secs < w.0 + 60); // forget closed windows now and then
        }
        let slot = windows.entry(key.to_string()).or_insert((now_secs, 0));
        if now_secs >= slot.0 + 60 {
            *slot = (now_secs, 0);
        }
        let allowed = slot.1 < limit;
        if allowed {
            slot.1 += 1;
        }
        RateWindow { allowed, limit, remaining: limit - slot.1.min(limit), reset: slot.0 + 60 }
    }
}

impl RateWindow {
    /// Seconds until the window closes (at least 1).
    pub fn retry_after(&self, now_secs: i64) -> i64 {
        (self.reset - now_secs).max(1)
    }

    /// `X-RateLimit-Limit/Remaining/Reset`, and `Retry-After` when the request was refused.
    pub fn set_headers(&self, h: &mut HeaderMap, now_secs: i64) {
        h.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
        if !self.allowed {
            h.insert("retry-after", HeaderValue::from(self.retry_after(now_secs)));
        }
    }
}

/// Per-key throttles of so many per second (GCRA, lock-free, burst of one).
pub struct Throttles {
    limiters: moka::sync::Cache<(String, u32), Arc<governor::DefaultDirectRateLimiter>>,
    /// Made once: making a clock probes the CPU (CPUID), which is slow, in a VM very slow.
    clock: governor::clock::DefaultClock,
}

impl Default for Throttles {
    fn default() -> Self {
        Throttles {
            limiters: moka::sync::Cache::builder().max_capacity(100_000).time_to_idle(Duration::from_secs(600)).build(),
            clock: governor::clock::DefaultClock::default(),
        }
    }
}

impl Throttles {
    /// Takes one from `key`'s throttle; when none is left, how long until one is.
    pub fn take(&self, key: &str, per_second: NonZeroU32) -> Option<Duration> {
        use governor::clock::Clock;
        let limiter = self.limiters.get_with((key.to_string(), per_second.get()), || {
            Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(per_second)))
        });
        limiter.check().err().map(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}
