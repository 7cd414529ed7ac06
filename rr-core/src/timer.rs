//! Timers in an enum-indexed table, plus the seeded jitter source (RFC 4271 section 10).

use std::time::Duration;

use crate::types::Instant;

/// Per-peer and per-connection timers (RFC 4271 section 8.1.3 and RFC 4724/9494).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Timer {
    /// ConnectRetryTimer (per peer): Event 9 on expiry.
    ConnectRetry,
    /// HoldTimer (per connection): Event 10 on expiry.
    Hold,
    /// KeepaliveTimer (per connection): Event 11 on expiry.
    Keepalive,
    /// IdleHoldTimer (per peer, RFC 4271 8.1.1 optional attribute): Event 13 on expiry.
    IdleHold,
    /// Graceful-restart restart timer of a restarting peer (RFC 4724 section 4.2).
    GrRestart,
    /// LLGR stale timer (RFC 9494 section 4.2).
    LlgrStale,
    /// Enhanced route refresh: give up waiting for EoRR (RFC 7313 section 4, suggested 5 min).
    RefreshStale,
}

impl Timer {
    /// Number of timers.
    pub const COUNT: usize = 7;

    /// Dense index into a [`TimerTable`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines indexed by [`Timer`].
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    slots: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Arms `t` to fire at `at`.
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.slots[t.index()] = Some(at);
    }

    /// Disarms `t`.
    pub fn stop(&mut self, t: Timer) {
        self.slots[t.index()] = None;
    }

    /// The deadline of `t`, if armed.
    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.slots[t.index()]
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.slots.iter().flatten().copied().min()
    }

    /// Disarms and returns the timers that are due at `now`.
    pub fn expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> + use<> {
        const ALL: [Timer; Timer::COUNT] = [
            Timer::ConnectRetry,
            Timer::Hold,
            Timer::Keepalive,
            Timer::IdleHold,
            Timer::GrRestart,
            Timer::LlgrStale,
            Timer::RefreshStale,
        ];
        let mut due = [false; Timer::COUNT];
        for t in ALL {
            if self.slots[t.index()].is_some_and(|d| d <= now) {
                self.slots[t.index()] = None;
                due[t.index()] = true;
            }
        }
        ALL.into_iter().filter(move |t| due[t.index()])
    }
}

/// SplitMix64: a tiny deterministic generator for timer jitter, seeded from the engine config.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// RFC 4271 section 10: "jitter ... the value of the timer is multiplied by a random factor
    /// uniformly distributed in the range from 0.75 to 1.0".
    pub fn apply(&mut self, d: Duration) -> Duration {
        let f = 750 + (self.next_u64() % 251); // 0.750 ..= 1.000
        d * u32::try_from(f).unwrap_or(1000) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_expiry_and_next() {
        let mut t = TimerTable::default();
        t.set(Timer::Hold, Instant::from_millis(30));
        t.set(Timer::Keepalive, Instant::from_millis(10));
        assert_eq!(t.next(), Some(Instant::from_millis(10)));
        let due: Vec<_> = t.expired(Instant::from_millis(10)).collect();
        assert_eq!(due, vec![Timer::Keepalive]);
        assert_eq!(t.next(), Some(Instant::from_millis(30)));
        t.stop(Timer::Hold);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn jitter_in_range_and_deterministic() {
        let mut a = Jitter::new(7);
        let mut b = Jitter::new(7);
        for _ in 0..100 {
            let x = a.apply(Duration::from_secs(100));
            assert_eq!(x, b.apply(Duration::from_secs(100)));
            assert!(x >= Duration::from_secs(75) && x <= Duration::from_secs(100));
        }
    }
}
