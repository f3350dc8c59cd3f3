//! Small shared pieces: wall-clock nanoseconds, a lock-free bitmap, histogram helpers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

/// Unix time in nanoseconds. Publisher and receiver run in the same process, so they share one clock.
pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Fixed-size set of `u64` indices, safe to update from many tasks at once.
pub struct Bitmap {
    words: Vec<AtomicU64>,
    len: u64,
}

impl Bitmap {
    pub fn new(len: u64) -> Self {
        let n = len.div_ceil(64) as usize;
        let mut words = Vec::with_capacity(n);
        words.resize_with(n, || AtomicU64::new(0));
        Bitmap { words, len }
    }

    /// Sets bit `i`. `None` if `i` is out of range, otherwise whether it was already set.
    pub fn set(&self, i: u64) -> Option<bool> {
        if i >= self.len {
            return None;
        }
        let mask = 1u64 << (i % 64);
        let prev = self.words[(i / 64) as usize].fetch_or(mask, Ordering::Relaxed);
        Some(prev & mask != 0)
    }

    #[cfg(test)]
    pub fn get(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize].load(Ordering::Relaxed) & (1u64 << (i % 64)) != 0
    }

    /// Number of indices set here but not in `other` (e.g. accepted but never delivered).
    pub fn count_missing_from(&self, other: &Bitmap) -> u64 {
        self.words
            .iter()
            .enumerate()
            .map(|(k, w)| {
                let mine = w.load(Ordering::Relaxed);
                let theirs = other.words.get(k).map_or(0, |o| o.load(Ordering::Relaxed));
                (mine & !theirs).count_ones() as u64
            })
            .sum()
    }

    /// The first few indices set here but not in `other`, for diagnostics.
    pub fn sample_missing_from(&self, other: &Bitmap, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for (k, w) in self.words.iter().enumerate() {
            let theirs = other.words.get(k).map_or(0, |o| o.load(Ordering::Relaxed));
            let mut bits = w.load(Ordering::Relaxed) & !theirs;
            while bits != 0 && out.len() < max {
                let b = bits.trailing_zeros() as u64;
                out.push(k as u64 * 64 + b);
                bits &= bits - 1;
            }
            if out.len() >= max {
                break;
            }
        }
        out
    }
}

/// Latency histogram in microseconds, 3 significant digits, auto-resizing.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new(3).expect("valid histogram config")
}

/// Records `us` microseconds, clamped to at least 1.
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    // Auto-resizing histograms only fail on values that cannot be represented at all.
    let _ = h.record(us.max(1));
}

/// Quantile of a microsecond histogram, in milliseconds (0 when empty).
pub fn q_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

pub fn max_ms(h: &Histogram<u64>) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.max() as f64 / 1000.0
    }
}

/// Rounds to 3 decimals for compact JSON output.
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_set_get_missing() {
        let a = Bitmap::new(130);
        let b = Bitmap::new(130);
        assert_eq!(a.set(0), Some(false));
        assert_eq!(a.set(0), Some(true));
        assert_eq!(a.set(129), Some(false));
        assert_eq!(a.set(130), None);
        assert!(a.get(129) && !a.get(128));
        b.set(0);
        assert_eq!(a.count_missing_from(&b), 1);
        assert_eq!(a.sample_missing_from(&b, 10), vec![129]);
        b.set(129);
        assert_eq!(a.count_missing_from(&b), 0);
    }
}
