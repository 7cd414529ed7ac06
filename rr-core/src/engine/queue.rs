//! The engine's output queue.
//!
//! Update-group traffic is one list of messages for many members. Queuing one [`Output::Send`] per
//! member and message made the queue the largest allocation of a burst (1000 members x 500
//! changed buckets is half a million entries, 15 MB at the 1000 x 50 load test's peak); a
//! fan-out is queued once instead and handed out member by member.
//!
//! The messages of a fan-out are packed back to back into chunks of up to [`PACK`] bytes, and a
//! member is handed each run of consecutive messages of a chunk as one [`Output::Send`] (a slice of
//! the shared chunk, never a copy), split only around the messages it is the source of. Under churn
//! a batch holds many small UPDATEs with different attributes; one `Send` per message and member
//! made the per-message cost (an output, a queue entry at the writer, a wake-up) the largest cost
//! of reflecting to thousands of members.
//!
//! Held fan-outs ([`OutQueue::set_hold`], paced fan-out): a caller that writes to thousands of
//! members at a bounded rate can have fan-outs kept in a log instead of queued, and take each
//! connection's share when it is that connection's turn ([`OutQueue::release`]): one write per
//! member per turn, however many flushes happened since its last one, and a flush costs one log
//! entry instead of one queue pop per member. A connection's outputs still come out in the order
//! they were made: any other output for it (a per-member UPDATE, a catch-up message, a
//! NOTIFICATION) first queues what is held for it, and a close drops what is held for it.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::hash::FastMap;
use crate::output::Output;
use crate::types::{ConnId, PeerId};

/// The most bytes of messages packed into one chunk (one [`Output::Send`] at most): large enough
/// that a batch of small UPDATEs is one write, small enough that a member's write queue fills
/// gradually and a slow member can leave the shared stream between chunks.
pub(crate) const PACK: usize = 64 * 1024;

/// Queued actions for the caller.
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    q: VecDeque<Queued>,
    /// Whether fan-outs are held for release connection by connection (else queued).
    hold: bool,
    /// The held fan-outs (empty when not holding).
    held: Held,
}

/// Bytes of one connection's held messages copied into one buffer at most ([`OutQueue::release`]).
const COPY_MAX: usize = 16 * 1024;

/// Held fan-outs beyond which the oldest is queued for its remaining members (a bound on memory
/// should the caller stop releasing; a caller sweeping every connection each few hundred
/// milliseconds never gets near it).
const MAX_HELD: usize = 1024;

/// The log of held fan-outs and each connection's place in it.
#[derive(Debug, Default)]
struct Held {
    log: VecDeque<HeldFan>,
    /// The sequence number of `log[0]`.
    base: u64,
    /// Per connection: the sequence number of the first entry it has not taken (absent: `base`).
    next: FastMap<ConnId, u64>,
    /// `base` when places at or before it were last forgotten.
    pruned_at: u64,
    /// Messages handed out (released or queued) per member since the engine last counted them into
    /// its per-peer statistics ([`OutQueue::take_handed`]): a held fan-out is counted when a member
    /// takes it, not once per member and flush.
    handed: Vec<(PeerId, usize)>,
}

/// A held fan-out: its connections sorted by [`ConnId`], and how many have not taken it.
#[derive(Debug)]
struct HeldFan {
    fan: Fan,
    left: usize,
    /// Where the last look-up ended: a caller taking connections in id order finds each at or next to
    /// it, with no search.
    hint: usize,
}

impl HeldFan {
    /// The place of `conn` among the connections, if it is one of them.
    fn find(&mut self, conn: ConnId) -> Option<usize> {
        let cs = &self.fan.conns;
        let h = self.hint.min(cs.len());
        if cs.get(h).is_some_and(|&(_, c)| c == conn) {
            self.hint = h + 1;
            return Some(h);
        }
        let after_prev = h == 0 || cs[h - 1].1 < conn;
        if after_prev && cs.get(h).is_none_or(|&(_, c)| c > conn) {
            // Between two neighbours: not a member.
            return None;
        }
        match cs.binary_search_by_key(&conn, |&(_, c)| c) {
            Ok(i) => {
                self.hint = i + 1;
                Some(i)
            }
            Err(i) => {
                self.hint = i;
                None
            }
        }
    }
}

#[derive(Debug)]
enum Queued {
    One(Output),
    Fan(Fan),
}

/// One message of a fan-out: where it is in its chunk, and the peer it came from (it is not sent
/// back there).
#[derive(Debug)]
struct Packed {
    chunk: u32,
    start: u32,
    end: u32,
    src: Option<PeerId>,
}

/// The same messages to several connections; `(c, m)` is the next (connection, message) pair to
/// hand out, always a valid one (the connection is not the message's source).
#[derive(Debug)]
struct Fan {
    conns: Arc<[(PeerId, ConnId)]>,
    chunks: Vec<Bytes>,
    msgs: Vec<Packed>,
    c: usize,
    m: usize,
}

impl Fan {
    /// Packs `msgs` into chunks: consecutive messages are copied back to back until a chunk would
    /// pass [`PACK`]; a chunk of one message is that message, not a copy.
    fn new(conns: Arc<[(PeerId, ConnId)]>, msgs: Vec<(Bytes, Option<PeerId>)>) -> Fan {
        let mut chunks = Vec::new();
        let mut packed = Vec::with_capacity(msgs.len());
        let mut i = 0;
        while i < msgs.len() {
            let mut j = i + 1;
            let mut len = msgs[i].0.len();
            while j < msgs.len() && len + msgs[j].0.len() <= PACK {
                len += msgs[j].0.len();
                j += 1;
            }
            let chunk = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
            let mut at = 0u32;
            for (b, src) in &msgs[i..j] {
                let n = u32::try_from(b.len()).unwrap_or(u32::MAX);
                packed.push(Packed {
                    chunk,
                    start: at,
                    end: at + n,
                    src: *src,
                });
                at += n;
            }
            if j == i + 1 {
                chunks.push(msgs[i].0.clone());
            } else {
                let mut buf = BytesMut::with_capacity(len);
                for (b, _) in &msgs[i..j] {
                    buf.extend_from_slice(b);
                }
                chunks.push(buf.freeze());
            }
            i = j;
        }
        Fan {
            conns,
            chunks,
            msgs: packed,
            c: 0,
            m: 0,
        }
    }

    /// Moves `(c, m)` to the first valid pair at or after it; false when there is none.
    fn settle(&mut self) -> bool {
        while let Some(&(peer, _)) = self.conns.get(self.c) {
            while let Some(p) = self.msgs.get(self.m) {
                if p.src != Some(peer) {
                    return true;
                }
                self.m += 1;
            }
            self.c += 1;
            self.m = 0;
        }
        false
    }

    /// The next run for the current connection: the messages from `m` on, in one chunk, none of
    /// them from the connection's peer.
    fn next_run(&mut self) -> Output {
        let (peer, conn) = self.conns[self.c];
        let first = &self.msgs[self.m];
        let (chunk, start) = (first.chunk, first.start);
        let mut end = first.end;
        self.m += 1;
        while let Some(p) = self.msgs.get(self.m) {
            if p.chunk != chunk || p.src == Some(peer) {
                break;
            }
            end = p.end;
            self.m += 1;
        }
        let bytes = span(&self.chunks[chunk as usize], start as usize, end as usize);
        Output::Send { conn, bytes }
    }
}

/// Octets `start..end` of chunk `c`: the chunk itself when that is all of it, else a slice (never a
/// copy).
fn span(c: &Bytes, start: usize, end: usize) -> Bytes {
    if start == 0 && end == c.len() {
        c.clone()
    } else {
        c.slice(start..end)
    }
}

impl Fan {
    /// Every run of `peer`'s messages (all but its own), in order, as [`Fan::next_run`] hands them;
    /// returns how many messages they hold.
    fn runs_for(&self, peer: PeerId, mut sink: impl FnMut(Bytes)) -> usize {
        self.spans_for(peer, |c, start, end| sink(span(c, start, end)))
    }

    /// [`Fan::runs_for`] as (chunk, start, end), so that a caller copying them clones nothing.
    /// Returns how many messages they hold.
    fn spans_for(&self, peer: PeerId, mut sink: impl FnMut(&Bytes, usize, usize)) -> usize {
        let mut m = 0;
        let mut n = 0;
        while m < self.msgs.len() {
            let first = &self.msgs[m];
            m += 1;
            if first.src == Some(peer) {
                continue;
            }
            let (chunk, start, mut end) = (first.chunk, first.start, first.end);
            n += 1;
            while let Some(p) = self.msgs.get(m) {
                if p.chunk != chunk || p.src == Some(peer) {
                    break;
                }
                end = p.end;
                m += 1;
                n += 1;
            }
            sink(&self.chunks[chunk as usize], start as usize, end as usize);
        }
        n
    }
}

impl Held {
    /// Hands `conn` every held message for it (in order) and moves it past the log's end.
    fn take(&mut self, conn: ConnId, mut sink: impl FnMut(Bytes)) {
        self.take_spans(conn, |c, start, end| sink(span(c, start, end)));
    }

    /// [`Held::take`] as (chunk, start, end).
    fn take_spans(&mut self, conn: ConnId, mut sink: impl FnMut(&Bytes, usize, usize)) {
        let head = self.base + self.log.len() as u64;
        let from = self.next.get(&conn).map_or(self.base, |&n| n.max(self.base));
        if from >= head {
            return;
        }
        let skip = usize::try_from(from - self.base).unwrap_or(usize::MAX);
        let mut handed = None;
        for e in self.log.iter_mut().skip(skip) {
            if let Some(i) = e.find(conn) {
                let peer = e.fan.conns[i].0;
                let n = e.fan.spans_for(peer, &mut sink);
                let (_, total) = handed.get_or_insert((peer, 0));
                *total += n;
                e.left = e.left.saturating_sub(1);
            }
        }
        if let Some((peer, n)) = handed
            && n > 0
        {
            self.handed.push((peer, n));
        }
        self.next.insert(conn, head);
        self.trim();
    }

    /// Drops the entries every member has taken from the front; forgets the places when the log is
    /// empty (every connection is then at its end).
    fn trim(&mut self) {
        while self.log.front().is_some_and(|e| e.left == 0) {
            self.log.pop_front();
            self.base += 1;
        }
        if self.log.is_empty() {
            self.next.clear();
        } else if self.base - self.pruned_at > self.next.len() as u64 {
            // A place at or before `base` says what absence says: forgotten (so that connections
            // gone under a continuous stream do not accumulate), at a cost spread over the entries.
            let base = self.base;
            self.next.retain(|_, n| *n > base);
            self.pruned_at = base;
        }
    }

    /// Hands the oldest entry to every member that has not taken it (with its connection), and
    /// drops it.
    fn spill_front(&mut self, mut sink: impl FnMut(ConnId, Bytes)) {
        let Some(e) = self.log.pop_front() else { return };
        let base = self.base;
        self.base += 1;
        for &(peer, conn) in e.fan.conns.iter() {
            let n = self.next.entry(conn).or_insert(base);
            if *n <= base {
                *n = base + 1;
                let n = e.fan.runs_for(peer, |b| sink(conn, b));
                if n > 0 {
                    self.handed.push((peer, n));
                }
            }
        }
        self.trim();
    }
}

impl OutQueue {
    /// Queues one action. With fan-outs held, what is held for the action's connection is queued
    /// before it (a send) or dropped (a close), so that a connection's outputs stay in order.
    pub(crate) fn push_back(&mut self, o: Output) {
        match &o {
            Output::Send { conn, .. } => self.queue_held_of(*conn),
            Output::Close { conn } if !self.held.log.is_empty() => self.held.take_spans(*conn, |_, _, _| {}),
            _ => {}
        }
        self.q.push_back(Queued::One(o));
    }

    /// Holds fan-outs from now on (`true`), or queues them again (`false`: what is held is queued
    /// at once, connection by connection, in order).
    pub(crate) fn set_hold(&mut self, on: bool) {
        self.hold = on;
        if !on {
            while !self.held.log.is_empty() {
                self.spill_front();
            }
        }
    }

    /// Moves the per-member counts of held messages handed out since the last call into `f`.
    pub(crate) fn take_handed(&mut self, mut f: impl FnMut(PeerId, usize)) {
        for (p, n) in self.held.handed.drain(..) {
            f(p, n);
        }
    }

    /// Whether fan-outs are being held and some are.
    pub(crate) fn has_held(&self) -> bool {
        !self.held.log.is_empty()
    }

    /// Appends to `out` everything held for `conn`, in order: the first [`COPY_MAX`] bytes copied
    /// into one buffer (a turn under churn is many small UPDATEs: one write), the rest as slices of
    /// the shared chunks (a turn during a table's fan-out is megabytes: copying it for each member
    /// would cost more than the writes).
    /// While outputs are queued (some may be for `conn`), they are queued behind them instead.
    pub(crate) fn release(&mut self, conn: ConnId, out: &mut Vec<Bytes>) {
        if !self.q.is_empty() {
            self.queue_held_of(conn);
            return;
        }
        // Spans are copied together while they fit in COPY_MAX (the first alone stays a slice of its
        // chunk until a second joins it); from the first that does not fit on, each is a slice.
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        let mut copied = 0;
        let mut copying = true;
        self.held.take_spans(conn, |c, start, end| {
            let len = end - start;
            if copying && copied + len <= COPY_MAX {
                copied += len;
                match first.take() {
                    None if buf.is_empty() => first = Some(c.slice(start..end)),
                    f => {
                        if let Some(f) = f {
                            buf.reserve(copied);
                            buf.extend_from_slice(&f);
                        }
                        buf.extend_from_slice(&c[start..end]);
                    }
                }
                return;
            }
            if copying {
                copying = false;
                out.extend(first.take());
                if !buf.is_empty() {
                    out.push(std::mem::take(&mut buf).freeze());
                }
            }
            out.push(c.slice(start..end));
        });
        out.extend(first);
        if !buf.is_empty() {
            out.push(buf.freeze());
        }
    }

    /// Queues the oldest held fan-out for the members that have not taken it, and drops it.
    fn spill_front(&mut self) {
        let q = &mut self.q;
        self.held
            .spill_front(|conn, bytes| q.push_back(Queued::One(Output::Send { conn, bytes })));
    }

    /// Queues what is held for `conn` ahead of an output made elsewhere for it (a catch-up
    /// message), so that its outputs stay in order.
    pub(crate) fn queue_held_of(&mut self, conn: ConnId) {
        let h = &mut self.held;
        if !h.log.is_empty() {
            let q = &mut self.q;
            h.take(conn, |bytes| {
                q.push_back(Queued::One(Output::Send { conn, bytes }))
            });
        }
    }

    /// Queues every message of `msgs` for every connection of `conns`, except a message to its own
    /// source peer. Returns each peer of `conns` with how many messages it will be sent.
    pub(crate) fn fan(
        &mut self,
        conns: Arc<[(PeerId, ConnId)]>,
        msgs: Vec<(Bytes, Option<PeerId>)>,
    ) -> Vec<(PeerId, usize)> {
        if conns.is_empty() || msgs.is_empty() {
            return Vec::new();
        }
        // Held: each member's count is taken when it takes its messages ([`OutQueue::take_handed`]).
        let counts = if self.hold {
            Vec::new()
        } else {
            let mut own: FastMap<PeerId, usize> = FastMap::default();
            for (_, src) in &msgs {
                if let Some(s) = src {
                    *own.entry(*s).or_default() += 1;
                }
            }
            conns
                .iter()
                .map(|&(p, _)| (p, msgs.len() - own.get(&p).copied().unwrap_or(0)))
                .collect()
        };
        let mut f = Fan::new(conns, msgs);
        if !f.settle() {
            return counts;
        }
        if self.hold {
            let h = &mut self.held;
            if !f.conns.is_sorted_by_key(|&(_, c)| c) {
                let mut v = f.conns.to_vec();
                v.sort_unstable_by_key(|&(_, c)| c);
                f.conns = v.into();
            }
            let left = f.conns.len();
            h.log.push_back(HeldFan {
                fan: f,
                left,
                hint: 0,
            });
            if h.log.len() > MAX_HELD {
                self.spill_front();
            }
        } else {
            self.q.push_back(Queued::Fan(f));
        }
        counts
    }

    /// The next action.
    pub(crate) fn pop_front(&mut self) -> Option<Output> {
        match self.q.front_mut()? {
            Queued::One(_) => match self.q.pop_front() {
                Some(Queued::One(o)) => Some(o),
                _ => None,
            },
            Queued::Fan(f) => {
                let o = f.next_run();
                if !f.settle() {
                    self.q.pop_front();
                }
                Some(o)
            }
        }
    }

    /// True when nothing is queued (an exhausted fan-out is removed at once).
    pub(crate) fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Gives back the memory of a large burst once drained.
    pub(crate) fn shrink_if_drained(&mut self) {
        if self.q.is_empty() && self.q.capacity() > 65536 {
            self.q.shrink_to(4096);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sends(q: &mut OutQueue) -> Vec<(u64, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(o) = q.pop_front() {
            match o {
                Output::Send { conn, bytes } => v.push((conn.0, bytes.to_vec())),
                other => panic!("unexpected {other:?}"),
            }
        }
        v
    }

    #[test]
    fn fan_out_member_by_member_packed_and_split_around_each_message_source() {
        let mut q = OutQueue::default();
        q.push_back(Output::Close { conn: ConnId(9) });
        let conns = vec![
            (PeerId(1), ConnId(11)),
            (PeerId(2), ConnId(12)),
            (PeerId(3), ConnId(13)),
        ];
        let msgs = vec![
            (Bytes::from_static(b"a"), Some(PeerId(1))),
            (Bytes::from_static(b"b"), None),
            (Bytes::from_static(b"c"), Some(PeerId(3))),
            (Bytes::from_static(b"d"), Some(PeerId(7))),
        ];
        let counts = q.fan(conns.into(), msgs);
        assert_eq!(counts, vec![(PeerId(1), 3), (PeerId(2), 4), (PeerId(3), 3)]);
        q.push_back(Output::Close { conn: ConnId(12) });
        assert!(matches!(q.pop_front(), Some(Output::Close { conn: ConnId(9) })));
        let mut got = Vec::new();
        for _ in 0..11 {
            match q.pop_front() {
                Some(Output::Send { conn, bytes }) => got.push((conn.0, bytes.to_vec())),
                Some(Output::Close { conn }) => {
                    assert_eq!(conn, ConnId(12));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // One write per member, split only around the member's own message.
        let want: Vec<(u64, Vec<u8>)> = [(11, "bcd"), (12, "abcd"), (13, "ab"), (13, "d")]
            .iter()
            .map(|(c, b)| (*c, b.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
        assert!(q.is_empty());
    }

    #[test]
    fn every_member_gets_exactly_its_messages_in_order_in_chunks_of_at_most_pack() {
        // Sizes around PACK, sources spread over the members and beyond: per connection, the
        // concatenated sends are its messages (all but its own) in order, and no send passes PACK
        // unless it is one message that does.
        let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
        for round in 0..50 {
            let members = 1 + rnd(6) as u32;
            let conns: Vec<(PeerId, ConnId)> = (0..members)
                .map(|i| (PeerId(i), ConnId(100 + u64::from(i))))
                .collect();
            let msgs: Vec<(Bytes, Option<PeerId>)> = (0..rnd(40))
                .map(|k| {
                    let len = match rnd(4) {
                        0 => 19 + rnd(100),
                        1 => 4000 + rnd(100),
                        2 => PACK as u64 - 50 + rnd(100),
                        _ => 19 + rnd(30_000),
                    } as usize;
                    let body: Vec<u8> = (0..len).map(|i| (i as u64 * 31 + k) as u8).collect();
                    let src = match rnd(3) {
                        0 => None,
                        _ => Some(PeerId(rnd(u64::from(members) + 2) as u32)),
                    };
                    (Bytes::from(body), src)
                })
                .collect();
            let mut q = OutQueue::default();
            let counts = q.fan(conns.clone().into(), msgs.clone());
            let mut got: FastMap<u64, Vec<u8>> = FastMap::default();
            let mut sends: FastMap<u64, usize> = FastMap::default();
            while let Some(o) = q.pop_front() {
                let Output::Send { conn, bytes } = o else {
                    panic!("unexpected {o:?}")
                };
                assert!(
                    bytes.len() <= PACK || msgs.iter().any(|(m, _)| *m == bytes),
                    "round {round}: a send of {} bytes",
                    bytes.len()
                );
                got.entry(conn.0).or_default().extend_from_slice(&bytes);
                *sends.entry(conn.0).or_default() += 1;
            }
            for (i, &(peer, conn)) in conns.iter().enumerate() {
                let mine: Vec<&(Bytes, Option<PeerId>)> =
                    msgs.iter().filter(|(_, s)| *s != Some(peer)).collect();
                let want: Vec<u8> = mine.iter().flat_map(|(b, _)| b.to_vec()).collect();
                assert_eq!(
                    got.remove(&conn.0).unwrap_or_default(),
                    want,
                    "round {round}, member {i}"
                );
                assert_eq!(counts[i], (peer, mine.len()));
                assert!(sends.get(&conn.0).copied().unwrap_or(0) <= mine.len());
            }
            assert!(got.is_empty());
        }
    }

    #[test]
    fn a_batch_of_small_messages_is_one_send_per_member() {
        let mut q = OutQueue::default();
        let conns: Vec<(PeerId, ConnId)> = (0..100).map(|i| (PeerId(i), ConnId(u64::from(i)))).collect();
        let msgs: Vec<(Bytes, Option<PeerId>)> = (0..20)
            .map(|k| (Bytes::from(vec![k as u8; 60]), Some(PeerId(1000 + k))))
            .collect();
        q.fan(conns.into(), msgs);
        let mut n = 0;
        while let Some(o) = q.pop_front() {
            let Output::Send { bytes, .. } = o else {
                panic!("unexpected {o:?}")
            };
            assert_eq!(bytes.len(), 20 * 60);
            n += 1;
        }
        assert_eq!(n, 100);
    }

    #[test]
    fn a_fan_out_with_nothing_to_send_is_not_queued() {
        let mut q = OutQueue::default();
        // The only member is the source of the only message.
        let counts = q.fan(
            vec![(PeerId(1), ConnId(1))].into(),
            vec![(Bytes::from_static(b"x"), Some(PeerId(1)))],
        );
        assert_eq!(counts, vec![(PeerId(1), 0)]);
        assert!(q.is_empty());
        assert_eq!(
            q.fan(Vec::new().into(), vec![(Bytes::from_static(b"x"), None)]),
            Vec::new()
        );
        // No messages: nothing to count.
        assert_eq!(q.fan(vec![(PeerId(1), ConnId(1))].into(), Vec::new()), Vec::new());
        assert!(q.is_empty());
        assert!(sends(&mut q).is_empty());
        // The last send of a fan-out removes it at once: the queue reports empty.
        q.fan(
            vec![(PeerId(1), ConnId(1)), (PeerId(2), ConnId(2))].into(),
            vec![(Bytes::from_static(b"y"), Some(PeerId(2)))],
        );
        assert!(!q.is_empty());
        assert_eq!(sends(&mut q), vec![(1, b"y".to_vec())]);
        assert!(q.is_empty());
    }

    /// A seeded xorshift64: `rnd(n)` is in `0..n`.
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    /// Drains the queue into per-connection byte streams.
    fn drain_into(q: &mut OutQueue, got: &mut FastMap<u64, Vec<u8>>, closed: &mut Vec<u64>) {
        while let Some(o) = q.pop_front() {
            match o {
                Output::Send { conn, bytes } => got.entry(conn.0).or_default().extend_from_slice(&bytes),
                Output::Close { conn } => closed.push(conn.0),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn held_fan_outs_are_released_per_connection_in_one_buffer_and_in_order() {
        let mut q = OutQueue::default();
        q.set_hold(true);
        let conns: Arc<[(PeerId, ConnId)]> = vec![(PeerId(1), ConnId(11)), (PeerId(2), ConnId(12))].into();
        q.fan(
            conns.clone(),
            vec![
                (Bytes::from_static(b"a"), Some(PeerId(1))),
                (Bytes::from_static(b"b"), None),
            ],
        );
        q.fan(conns.clone(), vec![(Bytes::from_static(b"c"), Some(PeerId(2)))]);
        q.fan(conns, vec![(Bytes::from_static(b"d"), None)]);
        // Nothing is queued: the caller takes each connection's share in its turn.
        assert!(q.is_empty() && q.has_held());
        let mut out = Vec::new();
        q.release(ConnId(11), &mut out);
        assert_eq!(out, vec![Bytes::from_static(b"bcd")]);
        out.clear();
        q.release(ConnId(11), &mut out);
        assert!(out.is_empty(), "released twice");
        assert!(q.has_held(), "connection 12 has not taken its share");
        q.release(ConnId(12), &mut out);
        assert_eq!(out, vec![Bytes::from_static(b"abd")]);
        assert!(!q.has_held());
        assert!(q.held.next.is_empty());
    }

    #[test]
    fn a_connections_other_output_comes_after_what_is_held_for_it_and_a_close_drops_it() {
        let mut q = OutQueue::default();
        q.set_hold(true);
        let conns: Arc<[(PeerId, ConnId)]> = vec![(PeerId(1), ConnId(11)), (PeerId(2), ConnId(12))].into();
        q.fan(conns.clone(), vec![(Bytes::from_static(b"a"), None)]);
        // A per-member UPDATE (or catch-up, or NOTIFICATION) for 11: the held "a" first.
        q.push_back(Output::Send {
            conn: ConnId(11),
            bytes: Bytes::from_static(b"X"),
        });
        q.fan(conns, vec![(Bytes::from_static(b"b"), None)]);
        assert_eq!(sends(&mut q), vec![(11, b"a".to_vec()), (11, b"X".to_vec())]);
        let mut out = Vec::new();
        q.release(ConnId(11), &mut out);
        assert_eq!(out, vec![Bytes::from_static(b"b")]);
        // 12 closes: what is held for it goes with it.
        q.push_back(Output::Close { conn: ConnId(12) });
        assert!(!q.has_held());
        assert!(matches!(q.pop_front(), Some(Output::Close { conn: ConnId(12) })));
        out.clear();
        q.release(ConnId(12), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn every_connection_gets_its_messages_in_order_whatever_mix_of_holding_releasing_and_queuing() {
        // A random mix of fan-outs to random member sets, per-member sends, releases, closes, holding
        // turned on and off and more fan-outs than MAX_HELD: per open connection, what was queued and
        // released together is exactly what was made for it, in order; a closed connection got a
        // prefix of its messages and nothing after its close.
        let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
        for round in 0..30 {
            let n = 2 + rnd(8);
            let mut q = OutQueue::default();
            q.set_hold(true);
            let mut want: FastMap<u64, Vec<u8>> = FastMap::default();
            let mut got: FastMap<u64, Vec<u8>> = FastMap::default();
            let mut closed: Vec<u64> = Vec::new();
            let mut open: Vec<u64> = (0..n).collect();
            let mut tag = 0u8;
            let steps = if round % 5 == 0 { 3 * MAX_HELD as u64 } else { 300 };
            for _ in 0..steps {
                match rnd(10) {
                    0..=4 => {
                        let members: Vec<(PeerId, ConnId)> = open
                            .iter()
                            .filter(|_| rnd(4) != 0)
                            .map(|&c| (PeerId(c as u32), ConnId(c)))
                            .collect();
                        let msgs: Vec<(Bytes, Option<PeerId>)> = (0..1 + rnd(3))
                            .map(|_| {
                                tag = tag.wrapping_add(1);
                                let src = (rnd(2) == 0).then(|| PeerId(rnd(n) as u32));
                                (Bytes::from(vec![tag; 1 + rnd(3) as usize]), src)
                            })
                            .collect();
                        for &(p, c) in &members {
                            for (b, src) in &msgs {
                                if *src != Some(p) {
                                    want.entry(c.0).or_default().extend_from_slice(b);
                                }
                            }
                        }
                        let mut members = members;
                        if rnd(2) == 0 {
                            members.reverse();
                        }
                        q.fan(members.into(), msgs);
                    }
                    5 => {
                        if let Some(&c) = open.get(rnd(open.len() as u64 + 1) as usize) {
                            tag = tag.wrapping_add(1);
                            want.entry(c).or_default().push(tag);
                            q.push_back(Output::Send {
                                conn: ConnId(c),
                                bytes: Bytes::from(vec![tag]),
                            });
                        }
                    }
                    6 | 7 => {
                        if let Some(&c) = open.get(rnd(open.len() as u64 + 1) as usize) {
                            let mut out = Vec::new();
                            q.release(ConnId(c), &mut out);
                            for b in out {
                                got.entry(c).or_default().extend_from_slice(&b);
                            }
                        }
                    }
                    8 => drain_into(&mut q, &mut got, &mut closed),
                    _ => {
                        if rnd(3) == 0 && !open.is_empty() {
                            let c = open.remove(rnd(open.len() as u64) as usize);
                            q.push_back(Output::Close { conn: ConnId(c) });
                        } else {
                            q.set_hold(rnd(2) == 0);
                        }
                    }
                }
            }
            q.set_hold(false);
            drain_into(&mut q, &mut got, &mut closed);
            for c in 0..n {
                let w = want.remove(&c).unwrap_or_default();
                let g = got.remove(&c).unwrap_or_default();
                if open.contains(&c) {
                    assert_eq!(g, w, "round {round}, connection {c}");
                } else {
                    assert!(
                        w.starts_with(&g),
                        "round {round}, closed connection {c}: got {g:?} want {w:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn held_fan_outs_a_member_never_takes_are_queued_for_it_beyond_the_bound() {
        let mut q = OutQueue::default();
        q.set_hold(true);
        let conns: Arc<[(PeerId, ConnId)]> = vec![(PeerId(1), ConnId(1)), (PeerId(2), ConnId(2))].into();
        let mut want = Vec::new();
        let mut out = Vec::new();
        for i in 0..3 * MAX_HELD {
            let b = Bytes::from((i as u32).to_be_bytes().to_vec());
            want.extend_from_slice(&b);
            q.fan(conns.clone(), vec![(b, None)]);
            // Connection 1 takes its share every time; 2 never does.
            q.release(ConnId(1), &mut out);
            assert!(q.held.log.len() <= MAX_HELD);
        }
        let mut got: FastMap<u64, Vec<u8>> = FastMap::default();
        for b in out {
            got.entry(1).or_default().extend_from_slice(&b);
        }
        let mut closed = Vec::new();
        drain_into(&mut q, &mut got, &mut closed);
        assert!(
            got.get(&2).is_some_and(|g| g.len() == 4 * 2 * MAX_HELD),
            "the oldest went to the queue"
        );
        let mut rest = Vec::new();
        q.release(ConnId(2), &mut rest);
        for b in rest {
            got.entry(2).or_default().extend_from_slice(&b);
        }
        assert_eq!(got.get(&1), Some(&want));
        assert_eq!(got.get(&2), Some(&want));
        assert!(!q.has_held());
    }

    #[test]
    fn a_large_release_is_copied_up_to_copy_max_and_sliced_after() {
        let mut q = OutQueue::default();
        q.set_hold(true);
        let conns: Arc<[(PeerId, ConnId)]> = vec![(PeerId(1), ConnId(1))].into();
        let mut want = Vec::new();
        let mut chunks = Vec::new();
        for k in 0..40u8 {
            let b = Bytes::from(vec![k; 1000]);
            want.extend_from_slice(&b);
            chunks.push(b.clone());
            q.fan(conns.clone(), vec![(b, None)]);
        }
        let mut out = Vec::new();
        q.release(ConnId(1), &mut out);
        assert_eq!(out.concat(), want);
        // The first 16 messages in one copied buffer, then each message as a slice of its own
        // (not a copy: the same memory as the fan-out's).
        assert_eq!(out[0].len(), 16 * 1000);
        assert_eq!(out.len(), 1 + 24);
        for (o, c) in out[1..].iter().zip(&chunks[16..]) {
            assert_eq!(o.as_ptr(), c.as_ptr());
        }
    }
}
