//! Ranking the paths of a Loc-RIB prefix by best path: the decision process of
//! [`crate::best_path`] over what the peer table knows of each path's source.

use std::net::{IpAddr, Ipv4Addr};

use super::{Path, REJECTED, STALE_LLGR};
use crate::best_path::{self, Candidate, Step};
use crate::engine::Peer;
use crate::peers::Peers;

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
    use std::sync::Arc;

    use super::*;
    use crate::attrs::{Origin, RouteAttrs};
    use crate::types::PeerId;

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
}
