//! A peer's paths kept as stale and purged: graceful restart (RFC 4724), long-lived graceful
//! restart (RFC 9494) and enhanced route refresh (RFC 7313). The session decides when
//! ([`crate::session`]); the RIB flags the paths in the Loc-RIB, and
//! [`Rib::withdraw_where`] purges those still stale.

use std::sync::Arc;

use bgp_wire::Community;

use super::{Rib, STALE_GR, STALE_LLGR};
use crate::attrs::Interner;
use crate::types::{FamilySet, PeerId, Prefix, PrefixFamily};

impl Rib {
    /// Adds the stale flag `flag` to `peer`'s paths of `fams`. Only the LLGR phase changes what
    /// best path sees (RFC 9494 section 4.3), so only then are the prefixes marked changed.
    pub(crate) fn mark_stale(&mut self, peer: PeerId, fams: FamilySet, flag: u8) {
        let Some((adj, loc, changed)) = self.adj_and_loc(peer) else {
            return;
        };
        for (prefix, path_id) in adj.iter() {
            if fams.contains(prefix.family()) {
                let flags = loc.path(&prefix, peer, path_id).map_or(0, |r| r.flags) | flag;
                loc.set_flags(&prefix, peer, path_id, flags, None);
                if flag == STALE_LLGR {
                    changed.mark(prefix);
                }
            }
        }
    }

    /// `peer`'s GR-stale paths of `fams` enter the long-lived stale phase: flagged LLGR-stale
    /// instead of GR-stale and carrying the LLGR_STALE community (RFC 9494 section 4.2).
    pub(crate) fn enter_llgr(&mut self, peer: PeerId, fams: FamilySet, interner: &mut Interner) {
        let Some((adj, loc, changed)) = self.adj_and_loc(peer) else {
            return;
        };
        let mut moved: Vec<(Prefix, u32, u8, Arc<_>)> = Vec::new();
        for (prefix, path_id) in adj.iter() {
            let Some(r) = loc.path(&prefix, peer, path_id) else {
                continue;
            };
            if fams.contains(prefix.family()) && r.flags & STALE_GR != 0 {
                let mut a = (*r.attrs).clone();
                if !a.has_community(Community::LLGR_STALE) {
                    a.communities.push(Community::LLGR_STALE);
                }
                let flags = (r.flags & !STALE_GR) | STALE_LLGR;
                moved.push((prefix, path_id, flags, interner.intern(a)));
            }
        }
        for (prefix, path_id, flags, attrs) in moved {
            loc.set_flags(&prefix, peer, path_id, flags, Some(&attrs));
            changed.mark(prefix);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{A, B, attrs, keys, p};
    use super::*;
    use crate::rib::{Imported, STALE_ANY};
    use crate::types::Family;

    #[test]
    fn stale_marking_and_purge_touch_only_the_peer_and_the_families_asked() {
        let (mut rib, mut i) = (Rib::default(), Interner::default());
        let (x, y) = (p("10.0.0.0/24"), p("2001:db8::/32"));
        let a = attrs(&mut i, [192, 0, 2, 1]);
        rib.peer(A).announce(x, 0, Imported::unchanged(Arc::clone(&a)));
        rib.peer(A).announce(y, 0, Imported::unchanged(Arc::clone(&a)));
        rib.peer(B).announce(x, 0, Imported::unchanged(Arc::clone(&a)));
        rib.take_changed();

        // Graceful restart: A's IPv4 paths are kept, flagged stale; best path is not affected.
        rib.mark_stale(A, FamilySet::only(Family::Ipv4Unicast), STALE_GR);
        assert_eq!(keys(&rib, &x), [(A, 0, STALE_GR), (B, 0, 0)]);
        assert_eq!(keys(&rib, &y), [(A, 0, 0)]);
        assert!(!rib.has_changes());
        assert_eq!(rib.candidates_of(A), ([1, 1], 1));

        // LLGR: the stale paths carry LLGR_STALE and best path sees them again.
        rib.enter_llgr(A, FamilySet::only(Family::Ipv4Unicast), &mut i);
        assert_eq!(keys(&rib, &x), [(A, 0, STALE_LLGR), (B, 0, 0)]);
        assert!(
            rib.path(&x, A, 0)
                .unwrap()
                .attrs
                .has_community(bgp_wire::Community::LLGR_STALE)
        );
        assert_eq!(rib.changed().collect::<Vec<_>>(), [x]);

        // The purge removes only what is still stale.
        rib.withdraw_where(A, |r| r.flags & STALE_ANY != 0);
        assert_eq!(keys(&rib, &x), [(B, 0, 0)]);
        assert_eq!(keys(&rib, &y), [(A, 0, 0)]);
        assert_eq!(rib.received_by_family(A), [0, 1]);
    }
}
