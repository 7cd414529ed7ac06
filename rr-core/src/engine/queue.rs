//! The engine's output queue.
//!
//! Update-group traffic is one list of messages for many members. Queuing one [`Output::Send`] per
//! member and message made the queue the largest allocation of a burst (1000 members x 500
//! changed buckets is half a million entries, 15 MB at the 1000 x 50 load test's peak); a
//! fan-out is queued once instead and handed out one `Output::Send` at a time, in the same order
//! as before: message by message, each to every member except the message's source.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::hash::FastMap;
use crate::output::Output;
use crate::types::{ConnId, PeerId};

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

/// The same messages to several connections; `(m, c)` is the next (message, connection) pair to
/// hand out, always a valid one (the connection is not the message's source).
#[derive(Debug)]
struct Fan {
    conns: Vec<(PeerId, ConnId)>,
    msgs: Vec<(Bytes, Option<PeerId>)>,
    m: usize,
    c: usize,
}

impl Fan {
    /// Moves `(m, c)` to the first valid pair at or after it; false when there is none.
    fn settle(&mut self) -> bool {
        while let Some((_, src)) = self.msgs.get(self.m) {
            while let Some(&(peer, _)) = self.conns.get(self.c) {
                if Some(peer) != *src {
                    return true;
                }
                self.c += 1;
            }
            self.m += 1;
            self.c = 0;
        }
        false
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
        let mut f = Fan {
            conns,
            msgs,
            m: 0,
            c: 0,
        };
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
                let (bytes, _) = &f.msgs[f.m];
                let (_, conn) = f.conns[f.c];
                let o = Output::Send {
                    conn,
                    bytes: bytes.clone(),
                };
                f.c += 1;
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
    fn fan_out_in_message_order_skipping_each_message_source() {
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
        let want: Vec<(u64, Vec<u8>)> = [
            (12, "a"),
            (13, "a"),
            (11, "b"),
            (12, "b"),
            (13, "b"),
            (11, "c"),
            (12, "c"),
            (11, "d"),
            (12, "d"),
            (13, "d"),
        ]
        .iter()
        .map(|(c, b)| (*c, b.as_bytes().to_vec()))
        .collect();
        assert_eq!(got, want);
        assert!(q.is_empty());
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
