//! RIB storage: the per-peer Adj-RIB-In and the Loc-RIB.
//!
//! The Adj-RIB-In of a peer holds the (prefix, path id) keys it sent; the prefix carries its
//! family, so the key is the (AFI/SAFI, prefix, path id) triple. The Loc-RIB keeps, per
//! prefix, every feasible path (so best path and ADD-PATH can rank them) in a [`Slots`] that holds
//! one path inline and only allocates when a prefix has several.

use std::sync::Arc;

use crate::attrs::RouteAttrs;
use crate::pmap::{PathSet, PrefixMap};
use crate::types::{PeerId, Prefix};

/// Route flag: stale after the peer's session went down with GR (RFC 4724).
pub(crate) const STALE_GR: u8 = 1;
/// Route flag: in the LLGR stale phase (RFC 9494).
pub(crate) const STALE_LLGR: u8 = 2;
/// Route flag: awaiting re-advertisement during an enhanced route refresh (RFC 7313).
pub(crate) const STALE_REFRESH: u8 = 4;
/// The stale flags.
pub(crate) const STALE_ANY: u8 = STALE_GR | STALE_LLGR | STALE_REFRESH;
/// Route flag: rejected by the peer's import policy. The path stays (with its attributes as
/// received) so that a policy change can re-evaluate it, but it is no candidate for best path.
pub(crate) const REJECTED: u8 = 8;

/// Adj-RIB-In of one peer: the keys (prefix, path id) it holds. Every such path is in the Loc-RIB
/// with its attributes and flags ([`LocRib::path`]), so they are not stored twice (this halves the
/// per-path cost of an Adj-RIB-In). IPv4 keys take 12 bytes ([`PathSet`]).
pub(crate) type AdjRibIn = PathSet;

/// A small collection that stores zero or one element without allocating.
#[derive(Clone, Debug, Default)]
pub(crate) enum Slots<T> {
    #[default]
    Empty,
    One(T),
    Many(Vec<T>),
}

impl<T> Slots<T> {
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            Slots::Empty => &[],
            Slots::One(t) => std::slice::from_ref(t),
            Slots::Many(v) => v,
        }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Slots::Empty => &mut [],
            Slots::One(t) => std::slice::from_mut(t),
            Slots::Many(v) => v,
        }
    }

    pub(crate) fn push(&mut self, t: T) {
        match std::mem::take(self) {
            Slots::Empty => *self = Slots::One(t),
            Slots::One(a) => *self = Slots::Many(vec![a, t]),
            Slots::Many(mut v) => {
                v.push(t);
                *self = Slots::Many(v);
            }
        }
    }

    pub(crate) fn retain(&mut self, mut f: impl FnMut(&T) -> bool) {
        match std::mem::take(self) {
            Slots::Empty => {}
            Slots::One(a) => {
                if f(&a) {
                    *self = Slots::One(a);
                }
            }
            Slots::Many(mut v) => {
                v.retain(|x| f(x));
                *self = match v.len() {
                    0 => Slots::Empty,
                    1 => Slots::One(v.pop().expect("length checked")),
                    _ => Slots::Many(v),
                };
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// A path in the Loc-RIB.
#[derive(Clone, Debug)]
pub(crate) struct Path {
    pub(crate) peer: PeerId,
    pub(crate) path_id: u32,
    /// Path id used when sending with ADD-PATH (unique within the prefix).
    pub(crate) out_id: u32,
    pub(crate) flags: u8,
    pub(crate) attrs: Arc<RouteAttrs>,
}

/// Loc-RIB: every path per prefix.
#[derive(Debug, Default)]
pub(crate) struct LocRib {
    pub(crate) map: PrefixMap<Slots<Path>>,
}

impl LocRib {
    /// Inserts or replaces the path of (`peer`, `path_id`).
    pub(crate) fn upsert(
        &mut self,
        prefix: Prefix,
        peer: PeerId,
        path_id: u32,
        attrs: Arc<RouteAttrs>,
        flags: u8,
    ) {
        let e = self.map.get_or_default(prefix);
        for p in e.as_mut_slice() {
            if p.peer == peer && p.path_id == path_id {
                p.attrs = attrs;
                p.flags = flags;
                return;
            }
        }
        let mut out_id = 1;
        while e.as_slice().iter().any(|p| p.out_id == out_id) {
            out_id += 1;
        }
        e.push(Path {
            peer,
            path_id,
            out_id,
            flags,
            attrs,
        });
    }

    /// Removes the path of (`peer`, `path_id`); returns whether it existed.
    pub(crate) fn remove(&mut self, prefix: &Prefix, peer: PeerId, path_id: u32) -> bool {
        let Some(e) = self.map.get_mut(prefix) else {
            return false;
        };
        let before = e.as_slice().len();
        e.retain(|p| !(p.peer == peer && p.path_id == path_id));
        before != e.as_slice().len()
    }

    /// The path of (`peer`, `path_id`) for `prefix`.
    pub(crate) fn path(&self, prefix: &Prefix, peer: PeerId, path_id: u32) -> Option<&Path> {
        self.map
            .get(prefix)?
            .as_slice()
            .iter()
            .find(|p| p.peer == peer && p.path_id == path_id)
    }

    /// Sets the flags of a path.
    pub(crate) fn set_flags(
        &mut self,
        prefix: &Prefix,
        peer: PeerId,
        path_id: u32,
        flags: u8,
        attrs: Option<&Arc<RouteAttrs>>,
    ) {
        if let Some(e) = self.map.get_mut(prefix) {
            for p in e.as_mut_slice() {
                if p.peer == peer && p.path_id == path_id {
                    p.flags = flags;
                    if let Some(a) = attrs {
                        p.attrs = Arc::clone(a);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::Origin;

    #[test]
    fn slots_inline_then_vec() {
        let mut s: Slots<u32> = Slots::default();
        assert!(s.is_empty());
        s.push(1);
        assert!(matches!(s, Slots::One(1)));
        s.push(2);
        assert_eq!(s.as_slice(), &[1, 2]);
        s.retain(|x| *x == 2);
        assert!(matches!(s, Slots::One(2)));
        s.retain(|_| false);
        assert!(s.is_empty());
    }

    #[test]
    fn loc_rib_out_ids_unique() {
        let mut l = LocRib::default();
        let p: Prefix = "10.0.0.0/24".parse().unwrap();
        let a = Arc::new(RouteAttrs::new(Origin::Igp, None));
        let ids = |l: &LocRib| -> Vec<u32> {
            l.map
                .get(&p)
                .unwrap()
                .as_slice()
                .iter()
                .map(|x| x.out_id)
                .collect()
        };
        l.upsert(p, PeerId(1), 0, a.clone(), 0);
        l.upsert(p, PeerId(2), 0, a.clone(), 0);
        l.upsert(p, PeerId(1), 0, a.clone(), 0);
        assert_eq!(ids(&l), vec![1, 2]);
        assert!(l.remove(&p, PeerId(1), 0));
        assert!(!l.remove(&p, PeerId(1), 0));
        l.upsert(p, PeerId(3), 0, a, 0);
        assert_eq!(ids(&l), vec![2, 1]);
    }
}
