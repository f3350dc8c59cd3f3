//! When the next attempt happens.

use std::time::Duration;

use rand::Rng;

/// The delay before attempt `attempts_made + 1`, or None when the schedule is used up.
pub fn next_delay(schedule: &[Duration], attempts_made: usize) -> Option<Duration> {
    schedule.get(attempts_made.checked_sub(1)?).copied()
}

/// ±20 % jitter, as svix-server applies, so that retries of a burst do not arrive together.
pub fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
}

/// A receiver's `Retry-After` (seconds) moves the retry later, but at most to twice the scheduled delay.
pub fn honour_retry_after(scheduled: Duration, retry_after_secs: Option<u64>) -> Duration {
    match retry_after_secs {
        Some(secs) => Duration::from_secs(secs).clamp(scheduled, scheduled * 2),
        None => scheduled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_then_exhausted() {
        let s = [Duration::from_secs(5), Duration::from_secs(300)];
        assert_eq!(next_delay(&s, 1), Some(Duration::from_secs(5)));
        assert_eq!(next_delay(&s, 2), Some(Duration::from_secs(300)));
        assert_eq!(next_delay(&s, 3), None);
        let j = jitter(Duration::from_secs(100));
        assert!(j >= Duration::from_secs(80) && j <= Duration::from_secs(120));
        assert_eq!(honour_retry_after(Duration::from_secs(5), Some(60)), Duration::from_secs(10));
        assert_eq!(honour_retry_after(Duration::from_secs(5), Some(7)), Duration::from_secs(7));
        assert_eq!(honour_retry_after(Duration::from_secs(5), Some(1)), Duration::from_secs(5));
    }
}
