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
