//! RIB storage: the per-peer Adj-RIB-In and the Loc-RIB, and the ranking of a Loc-RIB prefix's
//! paths by best path ([`rank`]).
//!
//! The Adj-RIB-In of a peer holds the (prefix, path id) keys it sent; the prefix carries its
//! family, so the key is the (AFI/SAFI, prefix, path id) triple. The Loc-RIB keeps, per
//! prefix, every feasible path (so best path and ADD-PATH can rank them) in a [`Slots`] that holds
//! one path inline and only allocates when a prefix has several.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::attrs::RouteAttrs;
use crate::best_path::{self, Candidate, Step};
use crate::engine::Peer;
use crate::peers::Peers;
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

/// A Loc-RIB path as the decision process sees it: its attributes and flags, and what the peer
/// table knows of the peer it came from (eBGP or not, BGP identifier, address; unspecified for a
/// route of our own).
fn candidate<'a>(peers: &'a Peers, p: &'a Path) -> Candidate<'a> {
    let peer = peers.get(p.peer);
    Candidate {
        attrs: &p.attrs,
        ebgp: peer.is_some_and(Peer::is_ebgp),
        peer_router_id: peer.map_or(Ipv4Addr::UNSPECIFIED, |x| x.session.remote_router_id()),
        peer_addr: peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |x| x.cfg.remote_addr),
        // RFC 9494 section 4.3: a path in the LLGR stale phase is less preferred than any other.
        llgr_stale: p.flags & STALE_LLGR != 0,
        path_id: p.path_id,
    }
}

/// Ranks the paths of one Loc-RIB prefix best first into `order` (indexes into `paths`) with the
/// decision process of [`crate::best_path`]; paths the import policy rejected are no candidates.
/// The ranking every flush, update group and Loc-RIB query runs.
pub(crate) fn rank(peers: &Peers, paths: &[Path], order: &mut Vec<usize>) {
    best_path::rank_with(paths.len(), |i| candidate(peers, &paths[i]), order);
    if paths.iter().any(|p| p.flags & REJECTED != 0) {
        order.retain(|&i| paths[i].flags & REJECTED == 0);
    }
}

/// The step of the decision process that ranked the best of `paths` (in the `order` of [`rank`])
/// above the runner-up.
pub(crate) fn best_step(peers: &Peers, paths: &[Path], order: &[usize]) -> Step {
    match order {
        [b, r, ..] => best_path::compare(&candidate(peers, &paths[*b]), &candidate(peers, &paths[*r])).1,
        _ => Step::OnlyPath,
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

    /// Three peers (10.0.0.1 and 10.0.0.2 iBGP clients with router ids 2.2.2.2 and 1.1.1.1, 10.0.0.3
    /// eBGP) and a path from each with equal attributes.
    fn three_paths() -> (Peers, Vec<PeerId>, Vec<Path>) {
        use crate::config::{PeerConfig, Role};
        let mut peers = Peers::default();
        let mut ids = Vec::new();
        for (i, role, rid) in [
            (1, Role::RrClient, [2, 2, 2, 2]),
            (2, Role::RrClient, [1, 1, 1, 1]),
            (3, Role::Ebgp, [3, 3, 3, 3]),
        ] {
            let cfg = PeerConfig::new(IpAddr::from([10, 0, 0, i]), 64512, role);
            let id = peers.insert(|id| Peer::new(id, cfg)).unwrap();
            peers
                .get_mut(id)
                .unwrap()
                .session
                .set_remote_router_id(Ipv4Addr::from(rid));
            ids.push(id);
        }
        let a = Arc::new(RouteAttrs::new(Origin::Igp, Some("10.0.0.9".parse().unwrap())));
        let paths = ids
            .iter()
            .map(|&peer| Path {
                peer,
                path_id: 0,
                out_id: 1,
                flags: 0,
                attrs: Arc::clone(&a),
            })
            .collect();
        (peers, ids, paths)
    }

    #[test]
    fn rank_reads_each_source_from_the_peer_table() {
        let (peers, _, paths) = three_paths();
        let mut order = Vec::new();
        rank(&peers, &paths, &mut order);
        assert_eq!(order, [2, 1, 0], "eBGP first, then the lower router id");
        assert_eq!(best_step(&peers, &paths, &order), Step::EbgpOverIbgp);
        rank(&peers, &paths[..2], &mut order);
        assert_eq!(best_step(&peers, &paths[..2], &order), Step::RouterId);
        assert_eq!(best_step(&peers, &paths[..1], &[0]), Step::OnlyPath);
    }

    #[test]
    fn rejected_paths_are_no_candidates_and_llgr_stale_ones_come_last() {
        let (peers, _, mut paths) = three_paths();
        let mut order = Vec::new();
        paths[2].flags = REJECTED;
        paths[1].flags = STALE_LLGR;
        rank(&peers, &paths, &mut order);
        assert_eq!(order, [0, 1]);
        assert_eq!(best_step(&peers, &paths, &order), Step::LlgrStale);
        paths.iter_mut().for_each(|p| p.flags = REJECTED);
        rank(&peers, &paths, &mut order);
        assert!(order.is_empty());
    }

    #[test]
    fn a_path_whose_peer_is_gone_ranks_as_our_own() {
        let (mut peers, ids, paths) = three_paths();
        peers.remove(ids[1]).unwrap();
        let mut order = Vec::new();
        rank(&peers, &paths[..2], &mut order);
        assert_eq!(order, [1, 0], "router id 0.0.0.0 is the lowest");
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
