//! The RIB (RFC 4271 section 3.2): the Adj-RIBs-In of the peers and the Loc-RIB, changed together
//! through [`Rib`], which also records the prefixes changed since the last flush.
//!
//! - [`adj_rib_in`]: one peer's Adj-RIB-In (its keys, and the attributes as received of the paths
//!   the import policy modified).
//! - [`loc_rib`]: the Loc-RIB, every feasible path per prefix with its flags.
//! - [`mod@rank`]: the paths of a prefix ranked by best path ([`crate::best_path`]), the ranking every
//!   flush, update group and Loc-RIB query runs.
//! - [`stale`]: a peer's paths marked stale and purged (graceful restart, LLGR, enhanced route
//!   refresh).
//!
//! The engine decides (import policy, loop checks, which paths a timer or End-of-RIB purges) and
//! the [`Rib`] keeps the tables consistent: every Adj-RIB-In key has its path in the Loc-RIB, every
//! change marks its prefix for the next flush, and the counts are read from the tables.

use std::sync::Arc;

use crate::attrs::RouteAttrs;
use crate::pmap::{Dirty, PathSet};
use crate::types::{Family, PeerId, Prefix, PrefixFamily};

pub(crate) mod adj_rib_in;
pub(crate) mod loc_rib;
pub(crate) mod rank;
pub(crate) mod stale;

pub(crate) use adj_rib_in::AdjRibIn;
pub(crate) use loc_rib::{LocRib, Path, Slots};
pub(crate) use rank::{best_step, rank};

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

/// What the import policy made of a received path.
#[derive(Clone, Debug)]
pub(crate) struct Imported {
    /// The attributes the path has in the Loc-RIB.
    pub(crate) attrs: Arc<RouteAttrs>,
    /// [`REJECTED`] or 0.
    pub(crate) flags: u8,
    /// The set as received when the policy modified it (`attrs` is then the modified set).
    pub(crate) as_received: Option<Arc<RouteAttrs>>,
}

impl Imported {
    /// A path the import policy accepted as received (or that met no policy).
    pub(crate) fn unchanged(attrs: Arc<RouteAttrs>) -> Imported {
        Imported {
            attrs,
            flags: 0,
            as_received: None,
        }
    }
}

/// A path of a peer as [`Rib::withdraw_where`] predicates see it.
pub(crate) struct RouteRef<'a> {
    pub(crate) family: Family,
    pub(crate) flags: u8,
    pub(crate) attrs: &'a Arc<RouteAttrs>,
}

/// One peer's Adj-RIB-In and the Loc-RIB, borrowed together from the [`Rib`] ([`Rib::peer`])
/// while the engine applies one UPDATE of the peer.
pub(crate) struct PeerRib<'a> {
    peer: PeerId,
    adj: &'a mut AdjRibIn,
    loc: &'a mut LocRib,
    changed: &'a mut Dirty,
}

impl PeerRib<'_> {
    /// The peer announced (`prefix`, `path_id`) and the import policy made `imported` of it: the
    /// key enters its Adj-RIB-In and the path the Loc-RIB, replacing the path the peer sent
    /// before with the same key (implicit withdraw, RFC 4271 section 3.1; with ADD-PATH the key
    /// includes the path id, RFC 7911 section 3).
    #[inline]
    pub(crate) fn announce(&mut self, prefix: Prefix, path_id: u32, imported: Imported) {
        self.adj.insert(prefix, path_id, imported.as_received);
        self.loc
            .upsert(prefix, self.peer, path_id, imported.attrs, imported.flags);
        self.changed.mark(prefix);
    }

    /// The peer withdrew (`prefix`, `path_id`), or sent a path for it that is ignored (a loop):
    /// the key leaves its Adj-RIB-In and the path the Loc-RIB. Returns whether there was one.
    #[inline]
    pub(crate) fn withdraw(&mut self, prefix: &Prefix, path_id: u32) -> bool {
        if !self.adj.remove(prefix, path_id) {
            return false;
        }
        self.loc.remove(prefix, self.peer, path_id);
        self.changed.mark(*prefix);
        true
    }
}

/// The RIB: every peer's Adj-RIB-In, the routes this speaker originates, the Loc-RIB, and the
/// prefixes changed since the last flush.
#[derive(Debug, Default)]
pub(crate) struct Rib {
    /// Adj-RIBs-In by peer slot ([`PeerId::slot`]), each with the id of the peer it belongs to (a
    /// removed peer's slot is reused by a peer of the next generation).
    adj_in: Vec<(PeerId, AdjRibIn)>,
    /// The prefixes this speaker originates (path id 0; the routes are in the Loc-RIB from
    /// [`PeerId::LOCAL`]).
    local: PathSet,
    loc: LocRib,
    /// Prefixes whose paths changed since the last flush.
    changed: Dirty,
}

impl Rib {
    /// `peer`'s Adj-RIB-In, if it has one.
    fn adj(&self, peer: PeerId) -> Option<&AdjRibIn> {
        self.adj_in
            .get(peer.slot())
            .filter(|(id, _)| *id == peer)
            .map(|(_, a)| a)
    }

    /// `peer`'s Adj-RIB-In, created empty if it has none (a reused slot's is replaced).
    #[inline]
    fn adj_mut(&mut self, peer: PeerId) -> &mut AdjRibIn {
        let slot = peer.slot();
        if slot >= self.adj_in.len() {
            self.adj_in
                .resize_with(slot + 1, || (PeerId::LOCAL, AdjRibIn::default()));
        }
        let e = &mut self.adj_in[slot];
        if e.0 != peer {
            debug_assert!(e.1.is_empty(), "a removed peer's Adj-RIB-In is emptied");
            *e = (peer, AdjRibIn::default());
        }
        &mut e.1
    }

    /// `peer`'s Adj-RIB-In and the Loc-RIB, borrowed apart.
    fn adj_and_loc(&mut self, peer: PeerId) -> Option<(&mut AdjRibIn, &mut LocRib, &mut Dirty)> {
        let (id, adj) = self.adj_in.get_mut(peer.slot())?;
        (*id == peer).then_some((adj, &mut self.loc, &mut self.changed))
    }

    // ------------------------------------------------------------ changes

    /// `peer`'s Adj-RIB-In with the Loc-RIB, to apply what one of its UPDATEs says (created
    /// empty if the peer has none yet).
    #[inline]
    pub(crate) fn peer(&mut self, peer: PeerId) -> PeerRib<'_> {
        self.adj_mut(peer);
        let Rib {
            adj_in, loc, changed, ..
        } = self;
        PeerRib {
            peer,
            adj: &mut adj_in[peer.slot()].1,
            loc,
            changed,
        }
    }

    /// Withdraws every path of `peer` for which `pred` is true.
    pub(crate) fn withdraw_where(&mut self, peer: PeerId, pred: impl Fn(&RouteRef<'_>) -> bool) {
        let Some((adj, loc, changed)) = self.adj_and_loc(peer) else {
            return;
        };
        let mut removed = Vec::new();
        adj.retain(|prefix, path_id| {
            let Some(r) = loc.path(&prefix, peer, path_id) else {
                // Not in the Loc-RIB (cannot happen: both are changed together): drop the key.
                removed.push((prefix, path_id));
                return false;
            };
            let keep = !pred(&RouteRef {
                family: prefix.family(),
                flags: r.flags,
                attrs: &r.attrs,
            });
            if !keep {
                removed.push((prefix, path_id));
            }
            keep
        });
        for (prefix, path_id) in removed {
            loc.remove(&prefix, peer, path_id);
            changed.mark(prefix);
        }
    }

    /// Marks every prefix `peer` has a path for as changed (its paths are the same, but what they
    /// rank and export as is not: the peer came back with another router id).
    pub(crate) fn mark_peer_changed(&mut self, peer: PeerId) {
        let Some((adj, _, changed)) = self.adj_and_loc(peer) else {
            return;
        };
        for (prefix, _) in adj.iter() {
            changed.mark(prefix);
        }
    }

    /// The peer is removed: its paths are withdrawn and its Adj-RIB-In freed.
    pub(crate) fn remove_peer(&mut self, peer: PeerId) {
        self.withdraw_where(peer, |_| true);
        if let Some(e) = self.adj_in.get_mut(peer.slot())
            && e.0 == peer
        {
            *e = (PeerId::LOCAL, AdjRibIn::default());
        }
    }

    /// Originates `prefix` with `attrs` (from [`PeerId::LOCAL`], path id 0), replacing the route
    /// originated before.
    pub(crate) fn originate(&mut self, prefix: Prefix, attrs: Arc<RouteAttrs>) {
        self.local.insert(prefix, 0);
        self.loc.upsert(prefix, PeerId::LOCAL, 0, attrs, 0);
        self.changed.mark(prefix);
    }

    /// Withdraws the route originated for `prefix`; returns whether there was one.
    pub(crate) fn withdraw_local(&mut self, prefix: &Prefix) -> bool {
        if !self.local.remove(prefix, 0) {
            return false;
        }
        self.loc.remove(prefix, PeerId::LOCAL, 0);
        self.changed.mark(*prefix);
        true
    }

    /// The import policy, applied again, made `imported` of `peer`'s path (`prefix`, `path_id`):
    /// the set as received is recorded or forgotten, and the Loc-RIB path takes the new
    /// attributes and rejected flag (its stale flags stay). Returns whether the Loc-RIB path
    /// changed (its prefix is then marked changed).
    pub(crate) fn reimport(
        &mut self,
        peer: PeerId,
        prefix: Prefix,
        path_id: u32,
        imported: Imported,
    ) -> bool {
        let Some((adj, loc, changed)) = self.adj_and_loc(peer) else {
            return false;
        };
        adj.set_as_received(prefix, path_id, imported.as_received);
        let Some(r) = loc.path(&prefix, peer, path_id) else {
            return false;
        };
        let flags = (r.flags & !REJECTED) | imported.flags;
        if flags == r.flags && Arc::ptr_eq(&imported.attrs, &r.attrs) {
            return false;
        }
        loc.set_flags(&prefix, peer, path_id, flags, Some(&imported.attrs));
        changed.mark(prefix);
        true
    }

    /// Forgets the sets as received of `peer`'s paths (it has no import policy any more).
    pub(crate) fn clear_as_received(&mut self, peer: PeerId) {
        if let Some((adj, _, _)) = self.adj_and_loc(peer) {
            adj.clear_as_received();
        }
    }

    // ------------------------------------------------------------ changed prefixes

    /// Whether any prefix changed since the last [`Rib::take_changed`].
    pub(crate) fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }

    /// The prefixes changed since the last [`Rib::take_changed`], each once, in the order first
    /// changed.
    pub(crate) fn changed(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.changed.iter()
    }

    /// Takes the changed prefixes (for a flush); give the list back with [`Rib::recycle_changed`].
    pub(crate) fn take_changed(&mut self) -> Vec<Prefix> {
        self.changed.take()
    }

    /// Keeps the allocation of a list from [`Rib::take_changed`] for the next batch.
    pub(crate) fn recycle_changed(&mut self, list: Vec<Prefix>) {
        self.changed.recycle(list);
    }

    /// Gives back the memory of a large batch of changes once it is flushed.
    pub(crate) fn shrink_changed_if_drained(&mut self) {
        self.changed.shrink_if_drained();
    }

    // ------------------------------------------------------------ the Loc-RIB

    /// The Loc-RIB paths of `prefix` (none when it is not in the table).
    #[inline]
    pub(crate) fn paths(&self, prefix: &Prefix) -> &[Path] {
        self.loc.paths(prefix)
    }

    /// The Loc-RIB path of (`peer`, `path_id`) for `prefix`.
    pub(crate) fn path(&self, prefix: &Prefix, peer: PeerId, path_id: u32) -> Option<&Path> {
        self.loc.path(prefix, peer, path_id)
    }

    /// Every Loc-RIB prefix with its paths (unordered), including those whose last path went since
    /// the last flush (without paths).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Prefix, &[Path])> + '_ {
        self.loc.iter()
    }

    /// Every Loc-RIB prefix with a path the import policy accepted (unordered).
    pub(crate) fn prefixes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.loc
            .iter()
            .filter_map(|(p, paths)| paths.iter().any(|r| r.flags & REJECTED == 0).then_some(p))
    }

    /// Prefixes in the Loc-RIB (those without paths until the flush that saw them go included).
    pub(crate) fn len(&self) -> usize {
        self.loc.len()
    }

    /// Drops `prefix` from the Loc-RIB if it has no path left (the flush that saw its last path
    /// go sent the withdrawals).
    #[inline]
    pub(crate) fn remove_empty(&mut self, prefix: &Prefix) {
        self.loc.remove_empty(prefix);
    }

    // ------------------------------------------------------------ a peer's Adj-RIB-In

    /// `peer`'s Adj-RIB-In before import policy: (prefix, path id, attributes as received, Loc-RIB
    /// path). Paths the import policy rejected are included.
    pub(crate) fn adj_rib_in(
        &self,
        peer: PeerId,
    ) -> impl Iterator<Item = (Prefix, u32, &Arc<RouteAttrs>, &Path)> + '_ {
        let loc = &self.loc;
        self.adj(peer).into_iter().flat_map(move |adj| {
            adj.iter().filter_map(move |(prefix, path_id)| {
                let r = loc.path(&prefix, peer, path_id)?;
                let attrs = adj.as_received(&prefix, path_id).unwrap_or(&r.attrs);
                Some((prefix, path_id, attrs, r))
            })
        })
    }

    /// The routes this speaker originates.
    pub(crate) fn local_routes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.local.iter().map(|(p, _)| p)
    }

    // ------------------------------------------------------------ counts, read from the tables

    /// Paths in `peer`'s Adj-RIB-In per family ([`crate::Family::index`]).
    pub(crate) fn received_by_family(&self, peer: PeerId) -> [usize; 2] {
        self.adj(peer).map_or([0; 2], AdjRibIn::len_by_family)
    }

    /// Paths in every Adj-RIB-In plus the routes this speaker originates.
    pub(crate) fn paths_len(&self) -> usize {
        self.adj_in.iter().map(|(_, a)| a.len()).sum::<usize>() + self.local.len()
    }

    /// `peer`'s Loc-RIB paths that are best-path candidates (not rejected by import policy) per
    /// family, and those that are stale: a Loc-RIB lookup per path of its Adj-RIB-In.
    pub(crate) fn candidates_of(&self, peer: PeerId) -> ([usize; 2], usize) {
        let (mut accepted, mut stale) = ([0usize; 2], 0);
        for (prefix, _, _, r) in self.adj_rib_in(peer) {
            accepted[prefix.family().index()] += usize::from(r.flags & REJECTED == 0);
            stale += usize::from(r.flags & STALE_ANY != 0);
        }
        (accepted, stale)
    }

    /// [`Rib::candidates_of`] for every peer slot below `slots` at once, in one pass over the
    /// Loc-RIB (looking each Adj-RIB-In path up in the Loc-RIB instead costs a hash lookup per
    /// path per peer).
    pub(crate) fn candidates_by_slot(&self, slots: usize) -> Vec<([usize; 2], usize)> {
        let mut out = vec![([0usize; 2], 0usize); slots];
        for (prefix, paths) in self.loc.iter() {
            for r in paths {
                if let Some(c) = out.get_mut(r.peer.slot())
                    && self.adj(r.peer).is_some()
                {
                    c.0[prefix.family().index()] += usize::from(r.flags & REJECTED == 0);
                    c.1 += usize::from(r.flags & STALE_ANY != 0);
                }
            }
        }
        out
    }

    /// Estimated heap bytes: (paths in every Adj-RIB-In, bytes of the Adj-RIBs-In, bytes of the
    /// Loc-RIB).
    pub(crate) fn memory(&self) -> (usize, usize, usize) {
        let (mut paths, mut bytes) = (0, 0);
        for (_, a) in &self.adj_in {
            paths += a.len();
            bytes += a.memory();
        }
        (paths, bytes, self.loc.memory())
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::attrs::{Interner, Origin};

    pub(super) const A: PeerId = PeerId(1);
    pub(super) const B: PeerId = PeerId(2);

    pub(super) fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    pub(super) fn attrs(i: &mut Interner, next_hop: [u8; 4]) -> Arc<RouteAttrs> {
        i.intern(RouteAttrs::new(Origin::Igp, Some(IpAddr::from(next_hop))))
    }

    /// The paths of `prefix` as (peer, path id, flags).
    pub(super) fn keys(rib: &Rib, prefix: &Prefix) -> Vec<(PeerId, u32, u8)> {
        rib.paths(prefix)
            .iter()
            .map(|r| (r.peer, r.path_id, r.flags))
            .collect()
    }

    #[test]
    fn announce_then_withdraw_leaves_nothing_but_the_changed_prefix() {
        let (mut rib, mut i) = (Rib::default(), Interner::default());
        let x = p("10.0.0.0/24");
        rib.peer(A)
            .announce(x, 0, Imported::unchanged(attrs(&mut i, [192, 0, 2, 1])));
        assert_eq!(keys(&rib, &x), [(A, 0, 0)]);
        assert_eq!(rib.received_by_family(A), [1, 0]);
        assert_eq!(rib.changed().collect::<Vec<_>>(), [x]);
        let changed = rib.take_changed();
        rib.recycle_changed(changed);
        assert!(!rib.has_changes());

        assert!(rib.peer(A).withdraw(&x, 0));
        assert!(!rib.peer(A).withdraw(&x, 0), "withdrawn once");
        assert!(!rib.peer(B).withdraw(&x, 0), "another peer's key");
        assert!(rib.paths(&x).is_empty());
        assert_eq!(rib.received_by_family(A), [0, 0]);
        assert_eq!(rib.paths_len(), 0);
        assert_eq!(rib.changed().collect::<Vec<_>>(), [x]);
        // The prefix stays, without paths, until the flush that saw it go drops it.
        assert_eq!(rib.len(), 1);
        rib.remove_empty(&x);
        assert_eq!(rib.len(), 0);
    }

    #[test]
    fn a_new_announcement_with_the_same_path_id_replaces_the_old_path() {
        let (mut rib, mut i) = (Rib::default(), Interner::default());
        let x = p("10.0.0.0/24");
        let (a1, a2) = (attrs(&mut i, [192, 0, 2, 1]), attrs(&mut i, [192, 0, 2, 2]));
        rib.peer(A).announce(x, 7, Imported::unchanged(Arc::clone(&a1)));
        rib.peer(A).announce(x, 8, Imported::unchanged(Arc::clone(&a1)));
        rib.peer(A).announce(x, 7, Imported::unchanged(Arc::clone(&a2)));
        assert_eq!(keys(&rib, &x), [(A, 7, 0), (A, 8, 0)]);
        assert!(Arc::ptr_eq(&rib.path(&x, A, 7).unwrap().attrs, &a2));
        assert_eq!(rib.received_by_family(A), [2, 0], "two ADD-PATH paths, not three");
        // Another peer's path with the same path id is a path of its own.
        rib.peer(B).announce(x, 7, Imported::unchanged(a1));
        assert_eq!(rib.paths(&x).len(), 3);
        assert_eq!(rib.changed().count(), 1, "one prefix, marked once");
    }

    #[test]
    fn import_outcomes_keep_the_set_as_received_and_counts_follow_the_tables() {
        let (mut rib, mut i) = (Rib::default(), Interner::default());
        let (x, y) = (p("10.0.0.0/24"), p("10.0.1.0/24"));
        let (received, modified) = (attrs(&mut i, [192, 0, 2, 1]), attrs(&mut i, [192, 0, 2, 9]));
        let mut from_a = rib.peer(A);
        from_a.announce(
            x,
            0,
            Imported {
                attrs: Arc::clone(&modified),
                flags: 0,
                as_received: Some(Arc::clone(&received)),
            },
        );
        from_a.announce(
            y,
            0,
            Imported {
                attrs: Arc::clone(&received),
                flags: REJECTED,
                as_received: None,
            },
        );
        // The Adj-RIB-In shows the sets as received; the Loc-RIB the policy's outcome.
        let mut seen: Vec<_> = rib
            .adj_rib_in(A)
            .map(|(q, _, a, r)| (q, Arc::ptr_eq(a, &received), r.flags))
            .collect();
        seen.sort_by_key(|s| s.0);
        assert_eq!(seen, [(x, true, 0), (y, true, REJECTED)]);
        assert!(Arc::ptr_eq(&rib.path(&x, A, 0).unwrap().attrs, &modified));
        assert_eq!(
            rib.prefixes().collect::<Vec<_>>(),
            [x],
            "a rejected-only prefix is not listed"
        );
        assert_eq!(rib.candidates_of(A), ([1, 0], 0));
        assert_eq!(rib.candidates_by_slot(4)[A.slot()], ([1, 0], 0));
        assert_eq!(rib.received_by_family(A), [2, 0]);

        // The policy is dropped: both paths go back to the set as received.
        rib.take_changed();
        assert!(rib.reimport(A, x, 0, Imported::unchanged(Arc::clone(&received))));
        assert!(rib.reimport(A, y, 0, Imported::unchanged(Arc::clone(&received))));
        assert!(
            !rib.reimport(A, y, 0, Imported::unchanged(Arc::clone(&received))),
            "no change"
        );
        rib.clear_as_received(A);
        assert_eq!(rib.changed().count(), 2);
        assert_eq!(rib.candidates_of(A), ([2, 0], 0));
        assert!(rib.adj_rib_in(A).all(|(_, _, a, _)| Arc::ptr_eq(a, &received)));
    }

    #[test]
    fn a_removed_peers_slot_is_reused_with_an_empty_adj_rib_in() {
        let (mut rib, mut i) = (Rib::default(), Interner::default());
        let x = p("10.0.0.0/24");
        rib.peer(A)
            .announce(x, 0, Imported::unchanged(attrs(&mut i, [192, 0, 2, 1])));
        rib.originate(x, attrs(&mut i, [192, 0, 2, 100]));
        assert_eq!(rib.paths_len(), 2);
        rib.remove_peer(A);
        assert_eq!(keys(&rib, &x), [(PeerId::LOCAL, 0, 0)]);
        let next = A.next_generation();
        assert_eq!(next.slot(), A.slot());
        assert_eq!(rib.received_by_family(next), [0, 0]);
        assert_eq!(rib.adj_rib_in(A).count(), 0, "the old id finds nothing");
        rib.peer(next)
            .announce(x, 0, Imported::unchanged(attrs(&mut i, [192, 0, 2, 3])));
        assert_eq!(rib.received_by_family(A), [0, 0]);
        assert_eq!(rib.received_by_family(next), [1, 0]);
        assert!(rib.withdraw_local(&x));
        assert!(!rib.withdraw_local(&x));
        assert_eq!(rib.local_routes().count(), 0);
        assert_eq!(rib.paths_len(), 1);
    }
}
