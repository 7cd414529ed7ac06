//! The Loc-RIB (RFC 4271 section 3.2): per prefix, every feasible path (so that best path and
//! ADD-PATH can rank them) in a [`Slots`] that holds one path inline and only allocates when a
//! prefix has several. Each path keeps its flags (stale, rejected by import policy) and the path
//! id it is sent with under ADD-PATH.

use std::sync::Arc;

use crate::attrs::RouteAttrs;
use crate::pmap::PrefixMap;
use crate::types::{PeerId, Prefix};

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
    map: PrefixMap<Slots<Path>>,
}

impl LocRib {
    /// The paths of `prefix` (none when it is not in the table).
    #[inline]
    pub(crate) fn paths(&self, prefix: &Prefix) -> &[Path] {
        self.map.get(prefix).map_or(&[], Slots::as_slice)
    }

    /// Every prefix with its paths (unordered). A prefix whose last path went stays, without
    /// paths, until the flush that saw it go drops it ([`LocRib::remove_empty`]).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Prefix, &[Path])> + '_ {
        self.map.iter().map(|(p, s)| (p, s.as_slice()))
    }

    /// Prefixes in the table.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops `prefix` if it has no path left.
    pub(crate) fn remove_empty(&mut self, prefix: &Prefix) {
        if self.map.get(prefix).is_some_and(Slots::is_empty) {
            self.map.remove(prefix);
        }
    }

    /// Estimated heap bytes: the hash table, and the path lists of prefixes with several paths.
    pub(crate) fn memory(&self) -> usize {
        self.map.table_bytes()
            + self
                .map
                .values()
                .map(|s| match s {
                    Slots::Many(v) => v.capacity() * std::mem::size_of::<Path>(),
                    _ => 0,
                })
                .sum::<usize>()
    }

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

    #[test]
    fn a_prefix_without_paths_stays_until_removed_when_empty() {
        let mut l = LocRib::default();
        let p: Prefix = "10.0.0.0/24".parse().unwrap();
        let a = Arc::new(RouteAttrs::new(Origin::Igp, None));
        assert!(l.paths(&p).is_empty());
        l.upsert(p, PeerId(1), 0, a, 0);
        l.remove_empty(&p);
        assert_eq!((l.len(), l.paths(&p).len()), (1, 1), "not empty: kept");
        l.remove(&p, PeerId(1), 0);
        assert_eq!(l.len(), 1);
        assert_eq!(
            l.iter().map(|(q, paths)| (q, paths.len())).collect::<Vec<_>>(),
            [(p, 0)]
        );
        l.remove_empty(&p);
        assert_eq!(l.len(), 0);
    }
}
