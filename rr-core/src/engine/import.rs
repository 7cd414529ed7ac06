//! Import policy: applied to every received path between the Adj-RIB-In and best path, and
//! re-applied over the kept Adj-RIB-In when the policy changes.
//!
//! The Loc-RIB holds every path of the Adj-RIB-In. A path the policy rejects stays there with
//! its attributes as received and the [`REJECTED`] flag (no best-path candidate); a path it
//! modifies holds the modified set, and the set as received is kept in [`Peer::pre_policy`]. So a
//! policy change, loosening included, re-evaluates locally: no ROUTE-REFRESH, no session reset,
//! and only prefixes whose outcome changed are marked for the next flush.

use super::*;
use crate::policy::{self, PeerKind, RouteContext, Verdict};

/// The kind of peer a role is, for policy matching.
pub(crate) fn peer_kind(role: Role) -> PeerKind {
    if role == Role::Ebgp {
        PeerKind::External
    } else {
        PeerKind::Internal
    }
}

/// Modified attribute sets built while applying one policy, by (set as received, accepting
/// rule's modifications): one UPDATE's prefixes share a set, so it is modified and interned once.
pub(super) type ImportCache = crate::hash::FastMap<(usize, usize), Arc<RouteAttrs>>;

/// One peer's import policy, ready to apply (`None`: pass-through, nothing to do).
pub(super) struct Import {
    policy: Option<crate::policy::Policy>,
    kind: PeerKind,
    source: IpAddr,
}

impl Import {
    pub(super) fn of(p: &Peer) -> Import {
        Import {
            policy: (!p.cfg.import_policy.is_pass_through()).then(|| p.cfg.import_policy.clone()),
            kind: peer_kind(p.cfg.role),
            source: p.cfg.remote_addr,
        }
    }

    /// The Loc-RIB attributes and flags of the received path (`prefix`, `path_id`) with
    /// attributes `a`, recording the set as received in `p.pre_policy` when the policy modified it.
    pub(super) fn apply(
        &self,
        p: &mut Peer,
        interner: &mut Interner,
        cache: &mut ImportCache,
        prefix: Prefix,
        path_id: u32,
        a: &Arc<RouteAttrs>,
    ) -> (Arc<RouteAttrs>, u8) {
        let Some(pol) = &self.policy else {
            if !p.pre_policy.is_empty() {
                p.pre_policy.remove(&(prefix, path_id));
            }
            return (Arc::clone(a), 0);
        };
        let ctx = RouteContext {
            prefix,
            attrs: a,
            peer: self.kind,
            source: Some(self.source),
        };
        match pol.evaluate(&ctx) {
            Verdict::Reject => {
                p.pre_policy.remove(&(prefix, path_id));
                (Arc::clone(a), REJECTED)
            }
            Verdict::Accept([]) => {
                p.pre_policy.remove(&(prefix, path_id));
                (Arc::clone(a), 0)
            }
            Verdict::Accept(mods) => {
                let k = (Arc::as_ptr(a) as usize, mods.as_ptr() as usize);
                let m = cache
                    .entry(k)
                    .or_insert_with(|| interner.intern(policy::modify(a, mods)));
                if Arc::ptr_eq(m, a) {
                    p.pre_policy.remove(&(prefix, path_id));
                } else {
                    p.pre_policy.insert((prefix, path_id), Arc::clone(a));
                }
                (Arc::clone(m), 0)
            }
        }
    }
}

impl Engine {
    /// Re-applies `id`'s import policy to its whole Adj-RIB-In; marks dirty only the prefixes
    /// whose outcome (accepted or not, attributes) changed.
    pub(crate) fn reapply_import(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        let import = Import::of(p);
        let mut cache = ImportCache::default();
        let mut changed = Vec::new();
        let keys: Vec<(Prefix, u32)> = p.adj_in.iter().collect();
        for (prefix, path_id) in keys {
            let Some(r) = self.loc.path(&prefix, id, path_id) else {
                continue;
            };
            let (cur, flags) = (Arc::clone(&r.attrs), r.flags);
            let mut pre = p
                .pre_policy
                .get(&(prefix, path_id))
                .cloned()
                .unwrap_or_else(|| Arc::clone(&cur));
            // RFC 9494 section 4.2: a route in the LLGR stale phase carries LLGR_STALE; the set as
            // received does not.
            if flags & STALE_LLGR != 0 && !pre.has_community(Community::LLGR_STALE) {
                let mut a = (*pre).clone();
                a.communities.push(Community::LLGR_STALE);
                pre = self.interner.intern(a);
            }
            let (attrs, new_flags) = import.apply(p, &mut self.interner, &mut cache, prefix, path_id, &pre);
            let new_flags = (flags & !REJECTED) | new_flags;
            if new_flags != flags || !Arc::ptr_eq(&attrs, &cur) {
                changed.push((prefix, path_id, new_flags, attrs));
            }
        }
        if import.policy.is_none() {
            p.pre_policy = Default::default();
        }
        for (prefix, path_id, flags, attrs) in changed {
            self.loc.set_flags(&prefix, id, path_id, flags, Some(&attrs));
            self.dirty.mark(prefix);
        }
    }
}
