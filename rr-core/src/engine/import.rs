//! Import policy: applied to every received path between the Adj-RIB-In and best path, and
//! re-applied over the kept Adj-RIB-In when the policy changes.
//!
//! The Loc-RIB holds every path of the Adj-RIB-In. A path the policy rejects stays there with
//! its attributes as received and the [`REJECTED`] flag (no best-path candidate); a path it
//! modifies holds the modified set, and the set as received is kept beside the Adj-RIB-In key
//! ([`crate::rib::AdjRibIn`]). So a
//! policy change, loosening included, re-evaluates locally: no ROUTE-REFRESH, no session reset,
//! and only prefixes whose outcome changed are marked for the next flush.

use super::*;
use crate::policy::{self, PeerKind, RouteContext, Verdict};
use crate::rib::Imported;

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

    /// What the policy makes of a received path for `prefix` with attributes `a`: the Loc-RIB
    /// attributes and flags, and the set as received when the policy modified it.
    #[inline]
    pub(super) fn apply(
        &self,
        interner: &mut Interner,
        cache: &mut ImportCache,
        prefix: Prefix,
        a: &Arc<RouteAttrs>,
    ) -> Imported {
        match &self.policy {
            // Without a policy (the common case) the path enters the Loc-RIB as received.
            None => Imported::unchanged(Arc::clone(a)),
            Some(pol) => self.evaluate(pol, interner, cache, prefix, a),
        }
    }

    /// [`Import::apply`] with a policy.
    fn evaluate(
        &self,
        pol: &crate::policy::Policy,
        interner: &mut Interner,
        cache: &mut ImportCache,
        prefix: Prefix,
        a: &Arc<RouteAttrs>,
    ) -> Imported {
        let ctx = RouteContext {
            prefix,
            attrs: a,
            peer: self.kind,
            source: Some(self.source),
        };
        match pol.evaluate(&ctx) {
            Verdict::Reject => Imported {
                attrs: Arc::clone(a),
                flags: REJECTED,
                as_received: None,
            },
            Verdict::Accept([]) => Imported::unchanged(Arc::clone(a)),
            Verdict::Accept(mods) => {
                let k = (Arc::as_ptr(a) as usize, mods.as_ptr() as usize);
                let m = cache
                    .entry(k)
                    .or_insert_with(|| interner.intern(policy::modify(a, mods)));
                Imported {
                    attrs: Arc::clone(m),
                    flags: 0,
                    as_received: (!Arc::ptr_eq(m, a)).then(|| Arc::clone(a)),
                }
            }
        }
    }
}

impl Engine {
    /// Re-applies `id`'s import policy to its whole Adj-RIB-In; marks changed only the prefixes
    /// whose outcome (accepted or not, attributes) changed.
    pub(crate) fn reapply_import(&mut self, id: PeerId) {
        let Some(p) = self.peers.get(id) else {
            return;
        };
        let import = Import::of(p);
        let mut cache = ImportCache::default();
        let paths: Vec<(Prefix, u32, Arc<RouteAttrs>, u8)> = self
            .rib
            .adj_rib_in(id)
            .map(|(prefix, path_id, pre, r)| (prefix, path_id, Arc::clone(pre), r.flags))
            .collect();
        for (prefix, path_id, mut pre, flags) in paths {
            // RFC 9494 section 4.2: a route in the LLGR stale phase carries LLGR_STALE; the set as
            // received does not.
            if flags & STALE_LLGR != 0 && !pre.has_community(Community::LLGR_STALE) {
                let mut a = (*pre).clone();
                a.communities.push(Community::LLGR_STALE);
                pre = self.interner.intern(a);
            }
            let imported = import.apply(&mut self.interner, &mut cache, prefix, &pre);
            self.rib.reimport(id, prefix, path_id, imported);
        }
        if import.policy.is_none() {
            self.rib.clear_as_received(id);
        }
    }
}
