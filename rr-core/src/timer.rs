//! Timers in an enum-indexed table per peer and per connection, a queue that orders every armed
//! timer of the engine by deadline, and the seeded jitter source (RFC 4271 section 10).
//!
//! The [`TimerTable`] of a peer or connection is the truth (what is armed, and when). The engine's
//! [`TimerQueue`] is a binary heap of (deadline, [`TimerKey`]) entries that finds the next deadline
//! without looking at every peer: an entry is pushed only when a timer is armed earlier than the
//! entry already queued for it, so re-arming a timer later (the hold timer on every message) costs
//! nothing; an entry that no longer matches its table (stopped, moved later, peer or connection
//! gone) is dropped or re-queued at the table's deadline when it reaches the top. A tick costs in
//! proportion to the timers that expired (and the stale entries passed on the way).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::types::{ConnId, Instant, PeerId};

/// Per-peer and per-connection timers (RFC 4271 section 8.1.3 and RFC 4724/9494).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub(crate) enum Timer {
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
    pub(crate) const COUNT: usize = 7;

    /// Dense index into a [`TimerTable`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines indexed by [`Timer`], with the deadline each timer's [`TimerQueue`] entry has.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    slots: [Option<Instant>; Timer::COUNT],
    /// The earliest entry queued for each timer (none after a reset: older entries are then
    /// orphans the queue drops). A `Cell` so that [`TimerQueue::settle`] works through `&self`.
    queued: [Cell<Option<Instant>>; Timer::COUNT],
}

impl TimerTable {
    /// Arms `t` to fire at `at`. Returns whether the queue needs an entry at `at` (none queued at
    /// or before it); the engine arms through [`TimerQueue::set`], which pushes it.
    #[must_use]
    fn set(&mut self, t: Timer, at: Instant) -> bool {
        self.slots[t.index()] = Some(at);
        let q = &self.queued[t.index()];
        if q.get().is_none_or(|q| q > at) {
            q.set(Some(at));
            true
        } else {
            false
        }
    }

    /// Disarms `t` (its queue entry is dropped when it reaches the top).
    pub(crate) fn stop(&mut self, t: Timer) {
        self.slots[t.index()] = None;
    }

    /// The deadline of `t`, if armed.
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.slots[t.index()]
    }

    /// The earliest armed deadline.
    #[cfg(test)]
    fn next(&self) -> Option<Instant> {
        self.slots.iter().flatten().copied().min()
    }
}

/// Which timer a [`TimerQueue`] entry is for: a peer's (`conn` none) or a connection's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerKey {
    pub(crate) peer: PeerId,
    pub(crate) conn: Option<ConnId>,
    pub(crate) timer: Timer,
}

impl TimerKey {
    /// The order in which timers expiring in one tick fire: by peer slot, the peer's timers before
    /// its connections', connections oldest first, then in [`Timer`] order (the order of the scan
    /// this queue replaced).
    pub(crate) fn fire_order(&self) -> (usize, Option<ConnId>, Timer) {
        (self.peer.slot(), self.conn, self.timer)
    }
}

/// Finds the [`TimerTable`] of a [`TimerKey`] (`None` once its peer or connection is gone).
pub(crate) trait TimerTables {
    /// The table of `key`.
    fn table(&self, key: &TimerKey) -> Option<&TimerTable>;
    /// The table of `key`, to change.
    fn table_mut(&mut self, key: &TimerKey) -> Option<&mut TimerTable>;
}

/// Every armed timer of the engine by deadline (a min-heap with lazy deletion; see the module
/// docs).
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    /// A `RefCell` so that [`TimerQueue::settle`] (and `Engine::poll_timeout`) work through `&self`.
    heap: RefCell<BinaryHeap<Reverse<(Instant, TimerKey)>>>,
}

impl TimerQueue {
    /// Arms `key.timer` in `table` (the table of `key`) at `at`.
    pub(crate) fn set(&mut self, table: &mut TimerTable, key: TimerKey, at: Instant) {
        if table.set(key.timer, at) {
            self.heap.get_mut().push(Reverse((at, key)));
        }
    }

    /// Entries in the heap (live and stale).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.borrow().len()
    }

    /// Brings a live entry to the top: drops or re-queues the entries that no longer match their
    /// table (`table` finds the table of a key, `None` once its peer or connection is gone).
    /// Returns the top deadline.
    pub(crate) fn settle(&self, tables: &(impl TimerTables + ?Sized)) -> Option<Instant> {
        let mut heap = self.heap.borrow_mut();
        while let Some(&Reverse((at, key))) = heap.peek() {
            let Some(t) = tables.table(&key) else {
                heap.pop();
                continue;
            };
            let i = key.timer.index();
            if t.queued[i].get() != Some(at) {
                // An orphan (a reset table) or a duplicate of an earlier entry already handled.
                heap.pop();
                continue;
            }
            match t.slots[i] {
                Some(d) if d == at => return Some(at),
                Some(d) => {
                    // Re-armed later since: one entry at the new deadline.
                    heap.pop();
                    t.queued[i].set(Some(d));
                    heap.push(Reverse((d, key)));
                }
                None => {
                    heap.pop();
                    t.queued[i].set(None);
                }
            }
        }
        None
    }

    /// After [`TimerQueue::settle`] returned a deadline at or before the present: disarms the top
    /// timer in its table and returns its key.
    pub(crate) fn pop_settled(&mut self, tables: &mut (impl TimerTables + ?Sized)) -> Option<TimerKey> {
        let Reverse((_, key)) = self.heap.get_mut().pop()?;
        if let Some(t) = tables.table_mut(&key) {
            t.slots[key.timer.index()] = None;
            t.queued[key.timer.index()].set(None);
        }
        Some(key)
    }
}

/// SplitMix64: a tiny deterministic generator for timer jitter, seeded from the engine config.
#[derive(Clone, Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    /// A generator from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
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
    pub(crate) fn apply(&mut self, d: Duration) -> Duration {
        let f = 750 + (self.next_u64() % 251); // 0.750 ..= 1.000
        d * u32::try_from(f).unwrap_or(1000) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl TimerTables for TimerTable {
        fn table(&self, _: &TimerKey) -> Option<&TimerTable> {
            Some(self)
        }
        fn table_mut(&mut self, _: &TimerKey) -> Option<&mut TimerTable> {
            Some(self)
        }
    }

    struct Gone;
    impl TimerTables for Gone {
        fn table(&self, _: &TimerKey) -> Option<&TimerTable> {
            None
        }
        fn table_mut(&mut self, _: &TimerKey) -> Option<&mut TimerTable> {
            None
        }
    }

    fn key(timer: Timer) -> TimerKey {
        TimerKey {
            peer: PeerId::new(0, 0),
            conn: None,
            timer,
        }
    }

    #[test]
    fn queue_orders_by_deadline_and_drops_stale_entries() {
        let ms = Instant::from_millis;
        let mut t = TimerTable::default();
        let mut q = TimerQueue::default();
        q.set(&mut t, key(Timer::Hold), ms(30));
        q.set(&mut t, key(Timer::Keepalive), ms(10));
        assert_eq!(t.next(), Some(ms(10)));
        // Re-arming later pushes nothing; the entry at 30 is moved when it reaches the top.
        q.set(&mut t, key(Timer::Hold), ms(50));
        assert_eq!(q.len(), 2);
        assert_eq!(q.settle(&t), Some(ms(10)));
        assert_eq!(q.pop_settled(&mut t), Some(key(Timer::Keepalive)));
        assert_eq!(t.get(Timer::Keepalive), None);
        assert_eq!(q.settle(&t), Some(ms(50)));
        // Re-arming earlier pushes a new entry; the old one is dropped.
        q.set(&mut t, key(Timer::Hold), ms(40));
        assert_eq!(q.settle(&t), Some(ms(40)));
        t.stop(Timer::Hold);
        assert_eq!(q.settle(&t), None);
        assert_eq!(q.len(), 0);
        // A table gone (its peer removed): its entries are dropped.
        q.set(&mut t, key(Timer::ConnectRetry), ms(5));
        assert_eq!(q.settle(&Gone), None);
        // A table reset: its old entries are orphans.
        q.set(&mut t, key(Timer::IdleHold), ms(5));
        t = TimerTable::default();
        q.set(&mut t, key(Timer::IdleHold), ms(7));
        assert_eq!(q.settle(&t), Some(ms(7)));
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
