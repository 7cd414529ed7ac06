//! Catching members up from the group's Adj-RIB-Out with a cursor per member.
//!
//! Every change of a group's Adj-RIB-Out is placed in one order, by a stamp from a per-group
//! counter: a bucket that changed in a flush gets a new stamp at the end of the flush (and leaves its
//! old place), and while some member is outside the shared stream, every key that was withdrawn, or
//! whose source peer changed, gets a tombstone with a stamp too. A member outside the stream (one
//! joining, one that fell behind because its connection was congested, one catching up) holds a
//! [`Walker`]: the last stamp it was sent, and the message it is sending. Walking it up to the newest
//! stamp sends it every bucket that changed since its cursor (the bucket's cached encoding, shared by
//! every member that walks past it) and the withdrawals of the tombstones, so that at the end it holds
//! exactly the group's Adj-RIB-Out and rejoins the stream. Its cost is a few words, whatever the table
//! size and however long it was behind; members that fell behind together walk the same items and are
//! sent the same `Bytes`.
//!
//! The walk is pulled: [`Engine::poll_catch_up`] hands out one message (or one [`Run`]) at a time,
//! round robin over the members whose connection has room ([`Engine::set_congested`]), so the caller
//! bounds what is queued (per peer and for the whole process) and the engine never holds a copy for a
//! member.
//!
//! A bucket is sent whole: a member that fell behind on a bucket that changed is sent all of the
//! bucket's routes again, not just the changed ones (re-announcing a route it holds is harmless).
//!
//! Consecutive buckets are also shared as a [`Run`]: their encodings copied once into one buffer of
//! about [`RUN_BYTES`], which every member walking past them is handed whole (one output, one write
//! queue entry, one cursor step instead of one per message). A member whose own routes are in a run
//! walks that stretch bucket by bucket as before. Runs are dropped when the order changes (a flush
//! placed changes, a bucket or tombstone came or went) and when a bucket's export treatment may have
//! changed without the bucket changing (a session established, perhaps with another router id; a
//! member regrouped, left or refreshed, as when the cluster id changes: [`WalkState::drop_runs`]), so
//! a run always holds the encodings [`Group::bucket_msgs`] would give.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bgp_wire::AttrBlock;
use bytes::{Bytes, BytesMut};

use super::{BucketKey, BucketOrder, Ctx, EncodedBucket, Group, Groups, encode_nlri, withdrawals};
use crate::encode;
#[cfg(doc)]
use crate::engine::Engine;
use crate::hash::FastMap;
use crate::output::Output;
use crate::types::{PeerId, Prefix, PrefixFamily};

/// Messages [`crate::Engine::poll_catch_up`] hands one member in a row before turning to the next.
const CATCH_UP_BURST: usize = 64;

/// Withdrawn keys packed into one walk step at most.
const TOMBSTONES_PER_STEP: usize = 4096;

/// Octets of encodings a [`Run`] gathers (it ends at the first bucket that reaches this).
const RUN_BYTES: usize = 32 * 1024;

/// Buckets a [`Run`] is built from at most (and at least two).
const RUN_BUCKETS: usize = 512;

/// A group's walk order and the members walking it.
#[derive(Debug, Default)]
pub(super) struct WalkState {
    /// The newest stamp handed out.
    stamp: u64,
    /// Buckets and tombstones by stamp.
    order: BTreeMap<u64, Item>,
    /// Keys withdrawn (or whose source peer changed) while some member walks.
    tombs: FastMap<(Prefix, u32), Tomb>,
    /// Buckets changed in the current flush, placed at its end.
    touched: Vec<BucketKey>,
    /// Members outside the shared stream.
    pub(super) walkers: FastMap<PeerId, Walker>,
    /// End-of-RIB of every family of the group, encoded once.
    eor: Option<Arc<[Bytes]>>,
    /// Runs of consecutive buckets by their first stamp; none overlap.
    runs: BTreeMap<u64, Arc<Run>>,
}

/// Consecutive buckets of the order (stamps `start..=end`, no tombstone between them) whose
/// encodings were copied into one buffer, handed whole to every member walking past them.
#[derive(Debug)]
struct Run {
    /// The stamp of its last bucket.
    end: u64,
    /// Each bucket's source peer (never sent its own routes).
    sources: Vec<PeerId>,
    /// The buckets' messages, one after the other.
    data: Bytes,
    /// How many messages `data` holds.
    msgs: usize,
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Bucket(BucketKey),
    Tomb((Prefix, u32)),
}

#[derive(Debug, Clone, Copy)]
struct Tomb {
    stamp: u64,
    /// The source of every path of this key withdrawn or replaced since the tombstone was made,
    /// when that is one peer (which was never sent them); `None` when there were several.
    only_from: Option<PeerId>,
}

/// One member's cursor.
#[derive(Debug)]
pub(super) struct Walker {
    /// Items up to this stamp were sent (or were not needed).
    after: u64,
    /// Tombstones up to this stamp concern changes the member never held (it joined, or fell behind,
    /// after them).
    since: u64,
    /// The messages being sent and the next one.
    cur: Option<(Arc<[Bytes]>, usize)>,
    /// The member's connection has room (not congested).
    ready: bool,
    /// In the engine's round-robin list of ready walkers.
    queued: bool,
    /// A joining member: End-of-RIB follows its first complete walk.
    eor: bool,
    /// Its End-of-RIB already waited for a flush once.
    waited: bool,
}

impl WalkState {
    /// A bucket changed: it moves to the end of the order when the flush ends.
    pub(super) fn touch(&mut self, k: BucketKey) {
        self.touched.push(k);
    }

    /// A bucket at `stamp` is gone.
    pub(super) fn unplace(&mut self, stamp: u64) {
        if stamp != 0 {
            self.order.remove(&stamp);
            self.runs.clear();
        }
    }

    /// Key `k` was withdrawn, or its source changed; `from` is the source of the path it had.
    /// Recorded only while some member walks (a member that falls behind later starts after it).
    pub(super) fn tomb(&mut self, k: (Prefix, u32), from: PeerId) {
        if self.walkers.is_empty() {
            return;
        }
        self.stamp += 1;
        self.runs.clear();
        let only_from = match self.tombs.get(&k) {
            Some(t) => {
                self.order.remove(&t.stamp);
                t.only_from.filter(|p| *p == from)
            }
            None => Some(from),
        };
        self.tombs.insert(
            k,
            Tomb {
                stamp: self.stamp,
                only_from,
            },
        );
        self.order.insert(self.stamp, Item::Tomb(k));
    }

    /// Whether `id` walks (is outside the shared stream): `Some(true)` for its initial table.
    pub(super) fn joining(&self, id: PeerId) -> Option<bool> {
        self.walkers.get(&id).map(|w| w.eor)
    }

    /// Every key with a tombstone.
    pub(super) fn tomb_keys(&self) -> impl Iterator<Item = (Prefix, u32)> + '_ {
        self.tombs.keys().copied()
    }

    /// `id` left the group.
    pub(super) fn leave(&mut self, id: PeerId) {
        if self.walkers.remove(&id).is_some() {
            self.collect();
        }
    }

    /// A new cursor for `id`: from the start of the order (`joining`: it holds nothing and gets
    /// End-of-RIB after the walk) or from the newest stamp (it holds the Adj-RIB-Out as of now).
    /// `ready`: its connection has room; `queued`: the caller puts it in the round-robin list.
    fn start(&mut self, id: PeerId, joining: bool, ready: bool, queued: bool) {
        self.walkers.insert(
            id,
            Walker {
                after: if joining { 0 } else { self.stamp },
                since: self.stamp,
                cur: None,
                ready,
                queued,
                eor: joining,
                waited: false,
            },
        );
    }

    /// A congested stream member `id` leaves the stream: a cursor from the newest stamp, waiting
    /// until its connection drains ([`Engine::set_congested`]).
    pub(super) fn start_congested(&mut self, id: PeerId) {
        self.start(id, false, false, false);
    }

    /// Starts `id`'s walk, ready to be pulled, and puts it in the round-robin list `ready`:
    /// `joining`, the initial table from the start of the order (a cursor it had is replaced);
    /// otherwise a stream member from the newest stamp (nothing changes if it walks already).
    pub(super) fn start_queued(&mut self, id: PeerId, joining: bool, ready: &mut VecDeque<PeerId>) {
        if !joining && self.walkers.contains_key(&id) {
            return;
        }
        self.start(id, joining, true, true);
        ready.push_back(id);
    }

    /// Drops every run: a bucket's export treatment may have changed without the bucket changing.
    pub(super) fn drop_runs(&mut self) {
        self.runs.clear();
    }

    /// Drops the tombstones every walker has passed (all of them when nobody walks), and the runs.
    fn collect(&mut self) {
        if self.walkers.is_empty() {
            self.runs.clear();
        } else if let Some(first) = self.runs.first_key_value().map(|(&s, _)| s) {
            // Runs every walker has passed.
            let passed = self.walkers.values().map(|w| w.after).min().unwrap_or(0);
            if first <= passed {
                self.runs.retain(|_, r| r.end > passed);
            }
        }
        if self.tombs.is_empty() {
            return;
        }
        let floor = self.walkers.values().map(|w| w.after.max(w.since)).min();
        let order = &mut self.order;
        self.tombs.retain(|_, t| {
            let keep = floor.is_some_and(|f| t.stamp > f);
            if !keep {
                order.remove(&t.stamp);
            }
            keep
        });
    }
}

impl Group {
    /// End of a flush: the buckets changed in it get new stamps (in a deterministic order), and
    /// tombstones no walker needs are dropped.
    pub(super) fn place_touched(&mut self) {
        let mut touched = std::mem::take(&mut self.walk.touched);
        if !touched.is_empty() {
            let mut placed: Vec<(BucketOrder, BucketKey)> = Vec::with_capacity(touched.len());
            touched.sort_unstable();
            touched.dedup();
            self.walk.runs.clear();
            for k in touched.drain(..) {
                if let Some(first) = self.buckets.get(&k).and_then(|b| b.keys.first()) {
                    placed.push(((k.0, k.2, *first), k));
                }
            }
            placed.sort_unstable_by_key(|p| p.0);
            for (_, k) in placed {
                let Some(b) = self.buckets.get_mut(&k) else {
                    continue;
                };
                b.touched = false;
                if b.stamp != 0 {
                    self.walk.order.remove(&b.stamp);
                }
                self.walk.stamp += 1;
                b.stamp = self.walk.stamp;
                self.walk.order.insert(b.stamp, Item::Bucket(k));
            }
        }
        // Keep the allocation.
        self.walk.touched = touched;
        self.walk.collect();
    }
}

/// What a walk gives a member next.
enum Walked {
    /// Messages to send (`Bytes` holding this many).
    Msg(Bytes, usize),
    /// Up to date: back to the shared stream.
    UpToDate,
    /// A joiner whose End-of-RIB waits for the next flush.
    Wait,
}

/// What one walk step found.
enum Step {
    /// Messages to send, from the first.
    Send(Arc<[Bytes]>),
    /// A run's messages at once (the cursor is past its last bucket).
    Run(Bytes, usize),
    /// Nothing for this member at this item; go on.
    Skip,
    /// The cursor is at the newest stamp.
    Done,
}

impl Groups {
    /// Flow control for member `id` of group `gi` ([`Engine::set_congested`]): a congested stream
    /// member leaves the shared stream and walks from where it is once its connection drained; a
    /// walking member pauses while congested.
    pub(crate) fn set_congested(&mut self, gi: usize, id: PeerId, congested: bool) {
        let Some(g) = self.list.get_mut(gi).and_then(Option::as_mut) else {
            return;
        };
        if congested {
            if g.members.remove(id) {
                g.walk.start_congested(id);
            } else if let Some(w) = g.walk.walkers.get_mut(&id) {
                w.ready = false;
            }
        } else if let Some(w) = g.walk.walkers.get_mut(&id) {
            w.ready = true;
            if !w.queued {
                w.queued = true;
                self.ready.push_back(id);
            }
        }
    }

    /// The next message of a member catching up ([`Engine::poll_catch_up`]), round robin over the
    /// walking members whose connection has room; a member whose walk ends rejoins its group's
    /// shared stream. `pending`: route changes wait for the next flush (a joiner's End-of-RIB
    /// waits for them once).
    pub(crate) fn poll_catch_up(&mut self, cx: &mut Ctx<'_>, pending: bool) -> Option<Output> {
        while let Some(id) = self.ready.pop_front() {
            let Some((gi, conn)) = self
                .group_of(id)
                .zip(cx.peers.get(id).and_then(|p| p.session.established()))
                .map(|(gi, (conn, _))| (gi, conn))
            else {
                continue;
            };
            let Some(g) = self.list.get_mut(gi).and_then(Option::as_mut) else {
                continue;
            };
            let Some(w) = g.walk.walkers.get_mut(&id) else {
                continue;
            };
            if !w.queued {
                // A stale entry (the member left and came back).
                continue;
            }
            w.queued = false;
            if !w.ready {
                continue;
            }
            match g.walk_next(cx, id, pending) {
                Walked::Wait => {
                    if let Some(w) = g.walk.walkers.get_mut(&id) {
                        w.queued = true;
                    }
                    self.burst = 0;
                    self.parked.push(id);
                }
                Walked::Msg(bytes, n) => {
                    if let Some(w) = g.walk.walkers.get_mut(&id) {
                        w.queued = true;
                    }
                    // A few messages in a row to one member before the next: its writer then sends
                    // them in one system call instead of one call per message.
                    self.burst += n;
                    if self.burst < CATCH_UP_BURST {
                        self.ready.push_front(id);
                    } else {
                        self.burst = 0;
                        self.ready.push_back(id);
                    }
                    if let Some(p) = cx.peers.get_mut(id) {
                        p.stats.messages_sent += n as u64;
                    }
                    return Some(Output::Send { conn, bytes });
                }
                Walked::UpToDate => {
                    self.burst = 0;
                    // Up to date: back in the shared stream.
                    g.walk.walkers.remove(&id);
                    g.members.push(id);
                    g.walk.collect();
                }
            }
        }
        None
    }
}

impl Group {
    /// The next message of `id`'s walk.
    fn walk_next(&mut self, cx: &Ctx<'_>, id: PeerId, pending: bool) -> Walked {
        self.walk_next_inner(cx, id, pending).unwrap_or(Walked::UpToDate)
    }

    fn walk_next_inner(&mut self, cx: &Ctx<'_>, id: PeerId, pending: bool) -> Option<Walked> {
        loop {
            let w = self.walk.walkers.get_mut(&id)?;
            if let Some((msgs, i)) = &mut w.cur {
                if let Some(m) = msgs.get(*i) {
                    *i += 1;
                    return Some(Walked::Msg(m.clone(), 1));
                }
                w.cur = None;
            }
            match self.walk_step(cx, id)? {
                Step::Send(msgs) => {
                    self.walk.walkers.get_mut(&id)?.cur = Some((msgs, 0));
                }
                Step::Run(data, n) => return Some(Walked::Msg(data, n)),
                Step::Skip => {}
                Step::Done => {
                    let w = self.walk.walkers.get_mut(&id)?;
                    if !w.eor {
                        return None;
                    }
                    // Route changes not flushed yet (at the end of the selection deferral, all of
                    // them) are part of the initial table: End-of-RIB must not come before them, or
                    // a restarting peer's helper drops its stale routes before the new ones arrive
                    // (RFC 4724 section 4.2).
                    // Once: changes that arrive after that flush are updates after the initial table,
                    // so that churn cannot hold End-of-RIB back for good.
                    if pending && !w.waited {
                        w.waited = true;
                        return Some(Walked::Wait);
                    }
                    // RFC 4724 section 2: "the End-of-RIB marker ... SHOULD be sent ... after it
                    // completes the initial update for an address family".
                    w.eor = false;
                    let fams = self.key.families;
                    let eor = self
                        .walk
                        .eor
                        .get_or_insert_with(|| fams.iter().map(encode::end_of_rib).collect());
                    let eor = Arc::clone(eor);
                    self.walk.walkers.get_mut(&id)?.cur = Some((eor, 0));
                }
            }
        }
    }

    /// Moves `id`'s cursor past the next item (a bucket, or a run of tombstones of one family).
    fn walk_step(&mut self, cx: &Ctx<'_>, id: PeerId) -> Option<Step> {
        let w = self.walk.walkers.get(&id)?;
        let (since, after) = (w.since, w.after);
        let Some((&stamp, &item)) = self.walk.order.range(after + 1..).next() else {
            return Some(Step::Done);
        };
        match item {
            Item::Bucket(k) => {
                if let Some(run) = self.run_at(cx, stamp, id) {
                    self.walk.walkers.get_mut(&id)?.after = run.end;
                    return Some(Step::Run(run.data.clone(), run.msgs));
                }
                self.walk.walkers.get_mut(&id)?.after = stamp;
                // Never back to the peer the routes came from.
                if k.2 == id {
                    return Some(Step::Skip);
                }
                Some(self.bucket_msgs(cx, k).map_or(Step::Skip, Step::Send))
            }
            Item::Tomb(first) => {
                let fam = first.0.family();
                let mut last = after;
                let mut wd: Vec<(Prefix, u32)> = Vec::new();
                for (&s, it) in self.walk.order.range(after + 1..) {
                    let Item::Tomb(k) = *it else { break };
                    if k.0.family() != fam || wd.len() >= TOMBSTONES_PER_STEP {
                        break;
                    }
                    last = s;
                    if s <= since {
                        continue;
                    }
                    let only_from = self.walk.tombs.get(&k).and_then(|t| t.only_from);
                    let now_from = self
                        .adj_out
                        .get(&k.0)
                        .and_then(|sl| sl.as_slice().iter().find(|r| r.id == k.1))
                        .map(|r| r.peer);
                    match now_from {
                        // Announced again by another peer: its bucket comes later in the walk.
                        Some(p) if p != id => {}
                        // Gone, or now the member's own path: withdraw what it may hold, unless
                        // every path it had came from the member itself (never sent to it).
                        _ if only_from == Some(id) => {}
                        _ => wd.push(k),
                    }
                }
                let key_msgs = (!wd.is_empty()).then(|| {
                    wd.sort_unstable();
                    withdrawals(&self.key, fam, &wd)
                });
                self.walk.walkers.get_mut(&id)?.after = last;
                Some(match key_msgs {
                    Some(m) => Step::Send(m.into()),
                    None => Step::Skip,
                })
            }
        }
    }

    /// The run starting at `stamp` (a bucket's), built now if no run covers `stamp`, when member `id`
    /// may be handed it whole: none of its buckets came from `id`. `None`: walk bucket by bucket.
    fn run_at(&mut self, cx: &Ctx<'_>, stamp: u64, id: PeerId) -> Option<Arc<Run>> {
        let run = match self.walk.runs.range(..=stamp).next_back() {
            Some((&start, r)) if start == stamp => Arc::clone(r),
            // Inside another run (a member that walked part of it bucket by bucket).
            Some((_, r)) if r.end >= stamp => return None,
            _ => {
                let r = Arc::new(self.build_run(cx, stamp)?);
                self.walk.runs.insert(stamp, Arc::clone(&r));
                r
            }
        };
        (!run.sources.contains(&id)).then_some(run)
    }

    /// A run of the buckets from `stamp` on: up to the first tombstone or the next run, [`RUN_BUCKETS`]
    /// buckets or [`RUN_BYTES`] octets; `None` if that is fewer than two buckets.
    fn build_run(&mut self, cx: &Ctx<'_>, stamp: u64) -> Option<Run> {
        let next_run = self
            .walk
            .runs
            .range(stamp + 1..)
            .next()
            .map_or(u64::MAX, |(&s, _)| s);
        let items: Vec<(u64, BucketKey)> = self
            .walk
            .order
            .range(stamp..next_run)
            .take(RUN_BUCKETS)
            .map_while(|(&s, it)| match *it {
                Item::Bucket(k) => Some((s, k)),
                Item::Tomb(_) => None,
            })
            .collect();
        if items.len() < 2 {
            return None;
        }
        let mut parts = Vec::new();
        let mut sources = Vec::new();
        let (mut len, mut end) = (0, stamp);
        for (s, k) in items {
            let m = self.bucket_msgs(cx, k)?;
            len += m.iter().map(Bytes::len).sum::<usize>();
            parts.push(m);
            sources.push(k.2);
            end = s;
            if len >= RUN_BYTES {
                break;
            }
        }
        let mut data = BytesMut::with_capacity(len);
        for x in parts.iter().flat_map(|m| m.iter()) {
            data.extend_from_slice(x);
        }
        let msgs = parts.iter().map(|m| m.len()).sum();
        (sources.len() >= 2).then(|| Run {
            end,
            sources,
            data: data.freeze(),
            msgs,
        })
    }

    /// Bucket `k` encoded for the group (from the cache, or encoded now and cached).
    pub(super) fn bucket_msgs(&mut self, cx: &Ctx<'_>, k: BucketKey) -> Option<Arc<[Bytes]>> {
        let b = self.buckets.get_mut(&k)?;
        let ex = cx.export_for(&self.key, k.2, &b.attrs);
        if let Some(e) = &b.enc
            && e.export == ex
        {
            return Some(Arc::clone(&e.msgs));
        }
        let mut blk = AttrBlock::new();
        let msgs: Arc<[Bytes]> =
            encode_nlri(&self.key, k.0, &b.attrs, &ex, b.keys.iter().copied(), &mut blk).into();
        b.enc = Some(EncodedBucket {
            export: ex,
            msgs: Arc::clone(&msgs),
        });
        Some(msgs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> PeerId {
        PeerId::new(n, 0)
    }

    #[test]
    fn a_stream_member_starts_at_the_newest_stamp_and_is_queued_once() {
        let mut w = WalkState {
            stamp: 7,
            ..WalkState::default()
        };
        let mut ready = VecDeque::new();
        w.start_queued(id(1), false, &mut ready);
        w.start_queued(id(1), false, &mut ready);
        assert_eq!(ready, [id(1)], "a member already walking is not queued again");
        let c = &w.walkers[&id(1)];
        assert_eq!(
            (c.after, c.since, c.ready, c.queued, c.eor),
            (7, 7, true, true, false)
        );
        assert_eq!(w.joining(id(1)), Some(false));
    }

    #[test]
    fn a_joining_member_walks_from_the_start_and_replaces_a_cursor() {
        let mut w = WalkState {
            stamp: 7,
            ..WalkState::default()
        };
        let mut ready = VecDeque::new();
        w.start_congested(id(2));
        assert!(ready.is_empty());
        assert!(!w.walkers[&id(2)].ready);
        w.start_queued(id(2), true, &mut ready);
        assert_eq!(ready, [id(2)]);
        let c = &w.walkers[&id(2)];
        assert_eq!(
            (c.after, c.since, c.ready, c.queued, c.eor),
            (0, 7, true, true, true)
        );
        assert_eq!(w.joining(id(2)), Some(true));
    }
}
