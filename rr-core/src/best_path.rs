//! Best-path selection: RFC 4271 section 9.1.2.2 with the RFC 4456 section 9 amendments and the
//! RFC 9494 LLGR depreference. The comparison reports the step that decided it.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use crate::attrs::RouteAttrs;

/// The facts about one candidate path that the decision process looks at.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The path's attributes.
    pub attrs: &'a RouteAttrs,
    /// Learned over eBGP.
    pub ebgp: bool,
    /// BGP identifier of the peer it was learned from.
    pub peer_router_id: Ipv4Addr,
    /// Address of the peer it was learned from.
    pub peer_addr: IpAddr,
    /// In the LLGR stale phase (RFC 9494).
    pub llgr_stale: bool,
    /// ADD-PATH path id it was received with (final tie breaker between paths of one peer).
    pub path_id: u32,
}

/// The step of the decision process that separated two paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Only one path: nothing to compare.
    OnlyPath,
    /// RFC 9494 section 4.3: a path in the LLGR stale phase is less preferred than any other.
    LlgrStale,
    /// RFC 4271 9.1.2.1: higher degree of preference (LOCAL_PREF, 100 when absent).
    LocalPref,
    /// RFC 4271 9.1.2.2 a): fewer AS numbers in AS_PATH.
    AsPathLength,
    /// RFC 4271 9.1.2.2 b): lower ORIGIN.
    Origin,
    /// RFC 4271 9.1.2.2 c): lower MULTI_EXIT_DISC between paths from the same neighbouring AS.
    Med,
    /// RFC 4271 9.1.2.2 d): eBGP-learned over iBGP-learned.
    EbgpOverIbgp,
    /// RFC 4271 9.1.2.2 e): lower interior cost to the next hop. The engine has no IGP, so this
    /// step never decides; it is listed to keep the RFC order visible.
    IgpCost,
    /// RFC 4271 9.1.2.2 f) with RFC 4456 section 9: lower BGP identifier, ORIGINATOR_ID standing in.
    RouterId,
    /// RFC 4456 section 9: shorter CLUSTER_LIST (inserted between f and g).
    ClusterListLength,
    /// RFC 4271 9.1.2.2 g): lower peer address.
    PeerAddress,
    /// Same peer, different ADD-PATH ids: lower path id (deterministic final tie-break).
    PathId,
}

/// Default LOCAL_PREF when a path carries none (eBGP-learned paths).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Compares two candidates. `Ordering::Less` means `a` is better. Returns the deciding step.
///
/// ```
/// use rr_core::attrs::{RouteAttrs, Origin};
/// use rr_core::best_path::{compare, Candidate, Step};
/// let mut hi = RouteAttrs::new(Origin::Igp, None);
/// hi.local_pref = Some(200);
/// let lo = RouteAttrs::new(Origin::Igp, None);
/// let c = |a| Candidate { attrs: a, ebgp: false, peer_router_id: "1.1.1.1".parse().unwrap(),
///     peer_addr: "10.0.0.1".parse().unwrap(), llgr_stale: false, path_id: 0 };
/// let (ord, step) = compare(&c(&hi), &c(&lo));
/// assert_eq!((ord, step), (std::cmp::Ordering::Less, Step::LocalPref));
/// ```
pub fn compare(a: &Candidate<'_>, b: &Candidate<'_>) -> (Ordering, Step) {
    macro_rules! step {
        ($ord:expr, $step:expr) => {
            let o = $ord;
            if o != Ordering::Equal {
                return (o, $step);
            }
        };
    }
    // RFC 9494 section 4.3: "a route ... with the LLGR_STALE community ... SHOULD be treated as the
    // least-preferred in route selection".
    step!(a.llgr_stale.cmp(&b.llgr_stale), Step::LlgrStale);
    // RFC 4271 9.1.2.1: the degree of preference of an iBGP route is its LOCAL_PREF.
    let lp = |c: &Candidate<'_>| c.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF);
    step!(lp(b).cmp(&lp(a)), Step::LocalPref);
    // a) "Remove from consideration all routes that are not tied for having the smallest number
    //    of AS numbers present in their AS_PATH attributes."
    step!(
        a.attrs.as_path.path_len().cmp(&b.attrs.as_path.path_len()),
        Step::AsPathLength
    );
    // b) "... the lowest Origin number in their Origin attribute."
    step!(a.attrs.origin.cmp(&b.attrs.origin), Step::Origin);
    // c) MED is compared only between routes learned from the same neighbouring AS; "If the
    //    MULTI_EXIT_DISC attribute is not present, the value zero is used".
    if a.attrs.as_path.neighbor_as() == b.attrs.as_path.neighbor_as() {
        step!(a.attrs.med.unwrap_or(0).cmp(&b.attrs.med.unwrap_or(0)), Step::Med);
    }
    // d) "... if at least one of the candidate routes was received via EBGP, remove from
    //    consideration all routes that were received via IBGP."
    step!(b.ebgp.cmp(&a.ebgp), Step::EbgpOverIbgp);
    // e) interior cost: no IGP in a route reflector, all next hops cost the same.
    // f) lowest BGP Identifier; RFC 4456 section 9: "If a route carries the ORIGINATOR_ID
    //    attribute, then in route selection the ORIGINATOR_ID SHOULD be treated as the BGP
    //    Identifier of the BGP speaker that has advertised the route."
    let rid = |c: &Candidate<'_>| u32::from(c.attrs.originator_id.unwrap_or(c.peer_router_id));
    step!(rid(a).cmp(&rid(b)), Step::RouterId);
    // RFC 4456 section 9: "the following rule SHOULD be inserted between Steps f) and g): a BGP
    // Speaker SHOULD prefer a route with the shorter CLUSTER_LIST length."
    step!(
        a.attrs.cluster_list.len().cmp(&b.attrs.cluster_list.len()),
        Step::ClusterListLength
    );
    // g) "... prefer the route received from the peer with the lowest peer address."
    step!(a.peer_addr.cmp(&b.peer_addr), Step::PeerAddress);
    (a.path_id.cmp(&b.path_id), Step::PathId)
}

/// Index of the best candidate and the step that beat the runner-up (`Step::OnlyPath` when
/// there is a single candidate). `None` for an empty slice.
pub fn select(cands: &[Candidate<'_>]) -> Option<(usize, Step)> {
    let mut best = 0;
    if cands.is_empty() {
        return None;
    }
    for i in 1..cands.len() {
        if compare(&cands[i], &cands[best]).0 == Ordering::Less {
            best = i;
        }
    }
    // The deciding step is the one against the strongest runner-up.
    let mut step = Step::OnlyPath;
    let mut runner: Option<usize> = None;
    for i in 0..cands.len() {
        if i == best {
            continue;
        }
        match runner {
            None => runner = Some(i),
            Some(r) if compare(&cands[i], &cands[r]).0 == Ordering::Less => runner = Some(i),
            _ => {}
        }
    }
    if let Some(r) = runner {
        step = compare(&cands[best], &cands[r]).1;
    }
    Some((best, step))
}

/// Candidate indices ordered best first by repeated selection (no sort: the MED rule is not a
/// total order, and a sort with an inconsistent comparator may panic).
pub fn rank(cands: &[Candidate<'_>], out: &mut Vec<usize>) {
    rank_with(cands.len(), |i| cands[i], out);
}

/// [`rank`] over `n` candidates built on demand by `cand(i)`: what the engine runs on the paths
/// of a prefix, without collecting them first. Selection by swapping: position `k` receives the
/// best of the positions from `k` on (the first one when several compare equal).
pub fn rank_with<'a>(n: usize, cand: impl Fn(usize) -> Candidate<'a>, out: &mut Vec<usize>) {
    out.clear();
    out.extend(0..n);
    for k in 0..n {
        let mut b = k;
        for j in k + 1..n {
            if compare(&cand(out[j]), &cand(out[b])).0 == Ordering::Less {
                b = j;
            }
        }
        out.swap(k, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::Origin;
    use bgp_wire::{AsPath, AsSegment, SegmentType};

    fn base() -> RouteAttrs {
        RouteAttrs::new(Origin::Igp, Some("10.0.0.9".parse().unwrap()))
    }
    fn cand(a: &RouteAttrs) -> Candidate<'_> {
        Candidate {
            attrs: a,
            ebgp: false,
            peer_router_id: "1.1.1.1".parse().unwrap(),
            peer_addr: "10.0.0.1".parse().unwrap(),
            llgr_stale: false,
            path_id: 0,
        }
    }
    fn seq(asns: &[u32]) -> AsPath {
        AsPath::from_sequence(asns.iter().copied())
    }
    /// Asserts `a` beats `b` at `step`, symmetrically.
    fn beats(a: &Candidate<'_>, b: &Candidate<'_>, step: Step) {
        assert_eq!(compare(a, b), (Ordering::Less, step));
        assert_eq!(compare(b, a), (Ordering::Greater, step));
        let both = [*b, *a];
        assert_eq!(select(&both), Some((1, step)));
    }

    #[test]
    fn only_path() {
        let a = base();
        assert_eq!(select(&[cand(&a)]), Some((0, Step::OnlyPath)));
        assert_eq!(select(&[]), None);
    }

    #[test]
    fn llgr_stale_least_preferred() {
        let mut a = base();
        a.local_pref = Some(10);
        let mut b = base();
        b.local_pref = Some(500);
        let ca = cand(&a);
        let mut cb = cand(&b);
        cb.llgr_stale = true;
        beats(&ca, &cb, Step::LlgrStale);
    }

    #[test]
    fn local_pref_higher_wins() {
        let mut a = base();
        a.local_pref = Some(200);
        a.as_path = seq(&[1, 2, 3]);
        let b = base(); // absent = 100
        beats(&cand(&a), &cand(&b), Step::LocalPref);
    }

    #[test]
    fn as_path_shorter_wins_and_set_counts_one() {
        let mut a = base();
        a.as_path = AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::AsSequence,
                    asns: vec![1],
                },
                AsSegment {
                    kind: SegmentType::AsSet,
                    asns: vec![7, 8, 9],
                },
            ],
            four_octet_wire: true,
        };
        let mut b = base();
        b.as_path = seq(&[1, 2, 3]);
        b.origin = Origin::Egp;
        assert_eq!(a.as_path.path_len(), 2);
        beats(
            &cand(&b.clone()),
            &cand(&{
                let mut c = b.clone();
                c.as_path = seq(&[1, 2, 3, 4]);
                c
            }),
            Step::AsPathLength,
        );
        beats(&cand(&a), &cand(&b), Step::AsPathLength);
    }

    #[test]
    fn origin_lower_wins() {
        let a = base();
        let mut b = base();
        b.origin = Origin::Incomplete;
        b.med = Some(0);
        beats(&cand(&a), &cand(&b), Step::Origin);
    }

    #[test]
    fn med_lower_wins_same_neighbor_as_only() {
        let mut a = base();
        a.as_path = seq(&[65001, 1]);
        a.med = Some(5);
        let mut b = base();
        b.as_path = seq(&[65001, 2]);
        b.med = Some(50);
        beats(&cand(&a), &cand(&b), Step::Med);
        // Different neighbour AS: MED is skipped and the router id decides.
        b.as_path = seq(&[65002, 2]);
        let ca = cand(&a);
        let mut cb = cand(&b);
        cb.peer_router_id = "0.0.0.1".parse().unwrap();
        beats(&cb, &ca, Step::RouterId);
    }

    #[test]
    fn ebgp_over_ibgp() {
        let a = base();
        let mut ca = cand(&a);
        ca.ebgp = true;
        ca.peer_router_id = "9.9.9.9".parse().unwrap();
        beats(&ca, &cand(&a), Step::EbgpOverIbgp);
    }

    #[test]
    fn igp_cost_never_decides() {
        // Two paths equal up to e) are separated by a later step, never by IgpCost.
        let a = base();
        let ca = cand(&a);
        let mut cb = cand(&a);
        cb.peer_router_id = "2.2.2.2".parse().unwrap();
        assert_ne!(compare(&ca, &cb).1, Step::IgpCost);
    }

    #[test]
    fn router_id_uses_originator_id() {
        let mut a = base();
        a.originator_id = Some("3.3.3.3".parse().unwrap());
        let b = base();
        let ca = cand(&a); // peer id 1.1.1.1, but originator 3.3.3.3 stands in
        let mut cb = cand(&b);
        cb.peer_router_id = "2.2.2.2".parse().unwrap();
        beats(&cb, &ca, Step::RouterId);
    }

    #[test]
    fn shorter_cluster_list() {
        let mut a = base();
        a.originator_id = Some("3.3.3.3".parse().unwrap());
        a.cluster_list = vec!["9.9.9.9".parse().unwrap()];
        let mut b = a.clone();
        b.cluster_list.push("8.8.8.8".parse().unwrap());
        beats(&cand(&a), &cand(&b), Step::ClusterListLength);
    }

    #[test]
    fn lowest_peer_address() {
        let a = base();
        let ca = cand(&a);
        let mut cb = cand(&a);
        cb.peer_addr = "10.0.0.2".parse().unwrap();
        beats(&ca, &cb, Step::PeerAddress);
    }

    #[test]
    fn path_id_final_tie_break() {
        let a = base();
        let ca = cand(&a);
        let mut cb = cand(&a);
        cb.path_id = 4;
        beats(&ca, &cb, Step::PathId);
    }

    #[test]
    fn rank_orders_best_first() {
        let mut attrs: Vec<RouteAttrs> = Vec::new();
        for lp in [50, 300, 200] {
            let mut a = base();
            a.local_pref = Some(lp);
            attrs.push(a);
        }
        let cands: Vec<_> = attrs.iter().map(cand).collect();
        let mut out = Vec::new();
        rank(&cands, &mut out);
        assert_eq!(out, vec![1, 2, 0]);
    }
}
