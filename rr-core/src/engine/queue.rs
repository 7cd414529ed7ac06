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

use std::collections::VecDeque;

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
    conns: Vec<(PeerId, ConnId)>,
    chunks: Vec<Bytes>,
    msgs: Vec<Packed>,
    c: usize,
    m: usize,
}

impl Fan {
    /// Packs `msgs` into chunks: consecutive messages are copied back to back until a chunk would
    /// pass [`PACK`]; a chunk of one message is that message, not a copy.
    fn new(conns: Vec<(PeerId, ConnId)>, msgs: Vec<(Bytes, Option<PeerId>)>) -> Fan {
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
        let c = &self.chunks[chunk as usize];
        let bytes = if start == 0 && end as usize == c.len() {
            c.clone()
        } else {
            c.slice(start as usize..end as usize)
        };
        Output::Send { conn, bytes }
    }
}

impl OutQueue {
    /// Queues one action.
    pub(crate) fn push_back(&mut self, o: Output) {
        self.q.push_back(Queued::One(o));
    }

    /// Queues every message of `msgs` for every connection of `conns`, except a message to its own
    /// source peer. Returns each peer of `conns` with how many messages it will be sent.
    pub(crate) fn fan(
        &mut self,
        conns: Vec<(PeerId, ConnId)>,
        msgs: Vec<(Bytes, Option<PeerId>)>,
    ) -> Vec<(PeerId, usize)> {
        let mut own: FastMap<PeerId, usize> = FastMap::default();
        for (_, src) in &msgs {
            if let Some(s) = src {
                *own.entry(*s).or_default() += 1;
            }
        }
        let counts = conns
            .iter()
            .map(|&(p, _)| (p, msgs.len() - own.get(&p).copied().unwrap_or(0)))
            .collect();
        if conns.is_empty() || msgs.is_empty() {
            return counts;
        }
        let mut f = Fan::new(conns, msgs);
        if f.settle() {
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
        let counts = q.fan(conns, msgs);
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
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
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
            let counts = q.fan(conns.clone(), msgs.clone());
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
        q.fan(conns, msgs);
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
            vec![(PeerId(1), ConnId(1))],
            vec![(Bytes::from_static(b"x"), Some(PeerId(1)))],
        );
        assert_eq!(counts, vec![(PeerId(1), 0)]);
        assert!(q.is_empty());
        assert_eq!(
            q.fan(Vec::new(), vec![(Bytes::from_static(b"x"), None)]),
            Vec::new()
        );
        assert_eq!(
            q.fan(vec![(PeerId(1), ConnId(1))], Vec::new()),
            vec![(PeerId(1), 0)]
        );
        assert!(q.is_empty());
        assert!(sends(&mut q).is_empty());
        // The last send of a fan-out removes it at once: the queue reports empty.
        q.fan(
            vec![(PeerId(1), ConnId(1)), (PeerId(2), ConnId(2))],
            vec![(Bytes::from_static(b"y"), Some(PeerId(2)))],
        );
        assert!(!q.is_empty());
        assert_eq!(sends(&mut q), vec![(1, b"y".to_vec())]);
        assert!(q.is_empty());
    }
}
