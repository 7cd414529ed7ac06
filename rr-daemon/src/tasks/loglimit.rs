//! Log rate limiting: events a peer (or anyone who can open a TCP connection) can cause at will — rejected
//! connections, RFC 7606 errors, the same session failure on every connect retry — are logged a few at a
//! time, and the next line says how many were left out. Counting is the metrics' job, not the log's.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// At most `per_window` lines per `window`.
pub(crate) struct LogLimit {
    per_window: u32,
    window: Duration,
    start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogLimit {
    pub(crate) fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            window,
            start: None,
            logged: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)` when this event may be logged, `n` being how many were suppressed since the last one
    /// logged; `None` when it must not be.
    pub(crate) fn check(&mut self, now: Instant) -> Option<u64> {
        if self.start.is_none_or(|s| now.duration_since(s) >= self.window) {
            self.start = Some(now);
            self.logged = 0;
        }
        if self.logged < self.per_window {
            self.logged += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// Logs an event per key once, then again only when its text changes or `every` has passed (with the
/// number of repeats in between).
pub(crate) struct Repeats<K> {
    every: Duration,
    last: HashMap<K, (String, Instant, u64)>,
}

impl<K: Hash + Eq> Repeats<K> {
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            every,
            last: HashMap::new(),
        }
    }

    /// `Some(repeats)` when `text` for `key` should be logged now.
    pub(crate) fn check(&mut self, key: K, text: &str, now: Instant) -> Option<u64> {
        match self.last.get_mut(&key) {
            Some((t, at, n)) if t == text && now.duration_since(*at) < self.every => {
                *n += 1;
                None
            }
            Some((t, at, n)) => {
                let repeats = if t == text { *n } else { 0 };
                *t = text.to_string();
                *at = now;
                *n = 0;
                Some(repeats)
            }
            None => {
                self.last.insert(key, (text.to_string(), now, 0));
                Some(0)
            }
        }
    }

    /// Forgets `key` (a removed peer).
    pub(crate) fn forget(&mut self, key: &K) {
        self.last.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_counts_what_it_leaves_out() {
        let t0 = Instant::now();
        let mut l = LogLimit::new(2, Duration::from_secs(10));
        assert_eq!(l.check(t0), Some(0));
        assert_eq!(l.check(t0), Some(0));
        assert_eq!(l.check(t0), None);
        assert_eq!(l.check(t0 + Duration::from_secs(1)), None);
        assert_eq!(l.check(t0 + Duration::from_secs(10)), Some(2));
    }

    #[test]
    fn repeats_log_changes_and_then_periodically() {
        let t0 = Instant::now();
        let mut r = Repeats::new(Duration::from_secs(60));
        assert_eq!(r.check(1, "a", t0), Some(0));
        assert_eq!(r.check(1, "a", t0 + Duration::from_secs(5)), None);
        assert_eq!(r.check(2, "a", t0), Some(0));
        assert_eq!(r.check(1, "b", t0 + Duration::from_secs(6)), Some(0));
        assert_eq!(r.check(1, "b", t0 + Duration::from_secs(7)), None);
        assert_eq!(r.check(1, "b", t0 + Duration::from_secs(70)), Some(1));
    }
}
