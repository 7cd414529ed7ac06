//! Route reflection rules (RFC 4456 section 8) and eBGP export, as small pure functions.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{AsPath, AsSegment, Community, SegmentType};

use crate::attrs::RouteAttrs;
use crate::config::Role;
use crate::encode::Export;
use crate::group::GroupKey;

/// Where a path in the Loc-RIB was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// From a route-reflection client.
    Client,
    /// From an iBGP peer that is not a client.
    NonClient,
    /// From an eBGP peer.
    Ebgp,
    /// Originated by this speaker ([`Engine::originate`](crate::Engine::originate)).
    Local,
}

impl From<Role> for Source {
    fn from(r: Role) -> Source {
        match r {
            Role::RrClient => Source::Client,
            Role::NonClient => Source::NonClient,
            Role::Ebgp => Source::Ebgp,
        }
    }
}

/// Whether a best path learned from `from` may be advertised to a peer of role `to`
/// (the "never back to the sender" rule is applied per member by the update group).
///
/// ```
/// use rr_core::Role;
/// use rr_core::reflect::{may_advertise, Source};
/// assert!(may_advertise(Source::Client, Role::NonClient));
/// assert!(!may_advertise(Source::NonClient, Role::NonClient));
/// ```
pub fn may_advertise(from: Source, to: Role) -> bool {
    match (from, to) {
        // RFC 4456 section 8: "A route from a Client peer: Reflect to all the Client peers within
        // the cluster except the originator, as well as to all the Non-Client peers."
        (Source::Client, _) => true,
        // "A route from a Non-Client peer: Reflect to all the Clients within the cluster."
        (Source::NonClient, Role::RrClient) => true,
        // RFC 4271 section 9.2: routes learned from iBGP are not advertised to other internal peers
        // unless reflected; non-client to non-client is exactly that case.
        (Source::NonClient, Role::NonClient) => false,
        (Source::NonClient, Role::Ebgp) => true,
        // "Routes from EBGP peers: Send to all the Client and Non-Client Peers."
        (Source::Ebgp, _) => true,
        // RFC 4271 section 9.2: the restriction on advertising to internal peers covers routes
        // "learned from internal peers"; a speaker's own routes go to every peer.
        (Source::Local, _) => true,
    }
}

/// Why an inbound path was rejected by loop detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoopReason {
    /// Our cluster id is in CLUSTER_LIST.
    ClusterList,
    /// ORIGINATOR_ID is our router id.
    OriginatorId,
    /// Our AS is in AS_PATH (eBGP-learned path).
    AsPath,
}

/// Inbound loop detection for a path from an iBGP peer.
pub fn ibgp_loop_check(
    attrs: &RouteAttrs,
    router_id: Ipv4Addr,
    cluster_id: Ipv4Addr,
) -> Result<(), LoopReason> {
    // RFC 4456 section 8: "A router that recognizes the ORIGINATOR_ID attribute SHOULD ignore a
    // route received with its BGP Identifier as the ORIGINATOR_ID."
    if attrs.originator_id == Some(router_id) {
        return Err(LoopReason::OriginatorId);
    }
    // RFC 4456 section 8: "If the local CLUSTER_ID is found in the CLUSTER_LIST, the advertisement
    // received SHOULD be ignored."
    if attrs.cluster_list.contains(&cluster_id) {
        return Err(LoopReason::ClusterList);
    }
    Ok(())
}

/// Inbound loop detection for a path from an eBGP peer: RFC 4271 section 9.1.2 "If the AS_PATH attribute
/// of a BGP route contains an AS loop, the BGP route should be excluded from the Phase 2 decision function",
/// where a loop is our AS appearing more than `allowed` times (0: at all; "allowas-in", BIRD's
/// `allow local as N`, for sites that reuse one AS and connect through another).
pub fn ebgp_loop_check(attrs: &RouteAttrs, local_as: u32, allowed: u32) -> Result<(), LoopReason> {
    let seen = attrs.as_path.asns().filter(|a| *a == local_as).count();
    if seen > allowed as usize {
        return Err(LoopReason::AsPath);
    }
    Ok(())
}

/// Whether well-known communities forbid advertising to a peer of `to` role (RFC 1997).
pub fn communities_allow(attrs: &RouteAttrs, to: Role) -> bool {
    // RFC 1997: NO_ADVERTISE "MUST NOT be advertised to other BGP peers"; NO_EXPORT "MUST NOT be
    // advertised outside a BGP confederation boundary".
    !(attrs.has_community(Community::NO_ADVERTISE)
        || (to == Role::Ebgp && attrs.has_community(Community::NO_EXPORT)))
}

/// The reflection attributes towards an iBGP peer for a path learned over iBGP from a peer whose
/// BGP identifier is `peer_router_id`: (ORIGINATOR_ID to send, whether to prepend our cluster id).
///
/// NEXT_HOP and LOCAL_PREF are not touched: RFC 4456 section 10 "the route reflector ... SHOULD NOT
/// modify the following path attributes: NEXT_HOP, AS_PATH, LOCAL_PREF, and MED".
pub fn reflection_ids(attrs: &RouteAttrs, peer_router_id: Ipv4Addr) -> Ipv4Addr {
    // RFC 4456 section 8: "ORIGINATOR_ID ... This attribute will be created by an RR in reflecting
    // a route ... If the ORIGINATOR_ID is already present, it MUST NOT be overwritten" — the
    // attribute "carries the BGP Identifier of the originator of the route within the local AS".
    attrs.originator_id.unwrap_or(peer_router_id)
}

/// CLUSTER_LIST to send when reflecting: RFC 4456 section 8: "When an RR reflects a route, it MUST
/// prepend the local CLUSTER_ID to the CLUSTER_LIST. If the CLUSTER_LIST is empty, it MUST create a
/// new one."
pub fn reflected_cluster_list(attrs: &RouteAttrs, cluster_id: Ipv4Addr, out: &mut Vec<Ipv4Addr>) {
    out.clear();
    out.push(cluster_id);
    out.extend_from_slice(&attrs.cluster_list);
}

/// AS_PATH towards an eBGP peer: RFC 4271 section 5.1.2 b) "the advertising speaker ... shall
/// prepend its own AS number as the last element of the sequence (put it in the leftmost position)";
/// if the path is empty or starts with an AS_SET, a new AS_SEQUENCE segment is created.
pub fn ebgp_as_path(as_path: &AsPath, local_as: u32) -> AsPath {
    let segs = &as_path.segments;
    let mut out = Vec::with_capacity(segs.len() + 1);
    match segs.first() {
        Some(AsSegment {
            kind: SegmentType::AsSequence,
            asns,
        }) if asns.len() < 255 => {
            let mut s = Vec::with_capacity(asns.len() + 1);
            s.push(local_as);
            s.extend_from_slice(asns);
            out.push(AsSegment {
                kind: SegmentType::AsSequence,
                asns: s,
            });
            out.extend(segs[1..].iter().filter(|s| !s.kind.is_confed()).cloned());
        }
        _ => {
            out.push(AsSegment {
                kind: SegmentType::AsSequence,
                asns: vec![local_as],
            });
            // RFC 5065: confederation segments are removed when leaving the confederation.
            out.extend(segs.iter().filter(|s| !s.kind.is_confed()).cloned());
        }
    }
    AsPath {
        segments: out,
        four_octet_wire: true,
    }
}

/// NEXT_HOP towards an eBGP peer: RFC 4271 section 5.1.3 2) "When sending a message to an
/// external peer X, and the peer is one IP hop away from the speaker ... the BGP speaker can use
/// ... the IP address of the interface that the speaker uses to establish the BGP connection to
/// peer X". The engine does not know subnets, so it uses the session's local address when known
/// and keeps the original next hop otherwise.
pub fn ebgp_next_hop(original: Option<IpAddr>, local_addr: Option<IpAddr>) -> Option<IpAddr> {
    local_addr.or(original)
}

/// The export treatment of a route learned from `src` (a peer whose BGP identifier is
/// `src_router_id`) with `attrs`, for an update group of `to`: towards eBGP, our AS prepended and
/// the next hop rewritten (RFC 4271 sections 5.1.2 and 5.1.3); towards iBGP, the RFC 4456
/// reflection attributes for a route reflected from an iBGP source.
pub(crate) fn export_treatment(
    to: &GroupKey,
    src: Source,
    src_router_id: Ipv4Addr,
    cluster_id: Ipv4Addr,
    attrs: &RouteAttrs,
) -> Export {
    match to.role {
        Role::Ebgp => Export {
            ebgp_local_as: Some(to.local_as),
            reflect: None,
            next_hop: ebgp_next_hop(attrs.next_hop, to.next_hop),
            default_local_pref: false,
            // RFC 4271 section 5.1.4: "The MULTI_EXIT_DISC attribute received from a neighboring
            // AS MUST NOT be propagated to other neighboring ASes."
            strip_med: src == Source::Ebgp,
            four_octet_as: to.four_octet_as,
        },
        _ => Export {
            ebgp_local_as: None,
            // RFC 4456 section 8 adds ORIGINATOR_ID and CLUSTER_LIST when a route is
            // reflected; a route this speaker originates is advertised, not reflected.
            reflect: (src != Source::Ebgp && src != Source::Local)
                .then(|| (reflection_ids(attrs, src_router_id), cluster_id)),
            next_hop: to.next_hop,
            // RFC 4271 section 5.1.5: LOCAL_PREF "MUST" be included in UPDATEs to internal
            // peers; a route learned over eBGP or our own may have none yet.
            default_local_pref: matches!(src, Source::Ebgp | Source::Local),
            strip_med: false,
            four_octet_as: to.four_octet_as,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::Origin;

    #[test]
    fn matrix() {
        use Role::*;
        assert!(may_advertise(Source::Client, RrClient));
        assert!(may_advertise(Source::Client, NonClient));
        assert!(may_advertise(Source::Client, Ebgp));
        assert!(may_advertise(Source::NonClient, RrClient));
        assert!(!may_advertise(Source::NonClient, NonClient));
        assert!(may_advertise(Source::NonClient, Ebgp));
        assert!(may_advertise(Source::Ebgp, RrClient));
        assert!(may_advertise(Source::Ebgp, NonClient));
        assert!(may_advertise(Source::Ebgp, Ebgp));
    }

    #[test]
    fn loops() {
        let rid: Ipv4Addr = "1.1.1.1".parse().unwrap();
        let cid: Ipv4Addr = "9.9.9.9".parse().unwrap();
        let mut a = RouteAttrs::new(Origin::Igp, None);
        assert_eq!(ibgp_loop_check(&a, rid, cid), Ok(()));
        a.cluster_list = vec!["8.8.8.8".parse().unwrap(), cid];
        assert_eq!(ibgp_loop_check(&a, rid, cid), Err(LoopReason::ClusterList));
        a.cluster_list.clear();
        a.originator_id = Some(rid);
        assert_eq!(ibgp_loop_check(&a, rid, cid), Err(LoopReason::OriginatorId));
        a.as_path = AsPath::from_sequence([5, 64512]);
        assert_eq!(ebgp_loop_check(&a, 64512, 0), Err(LoopReason::AsPath));
        assert_eq!(ebgp_loop_check(&a, 7, 0), Ok(()));
        // allowas-in: our AS up to `allowed` times.
        assert_eq!(ebgp_loop_check(&a, 64512, 1), Ok(()));
        a.as_path = AsPath::from_sequence([5, 64512, 64512]);
        assert_eq!(ebgp_loop_check(&a, 64512, 1), Err(LoopReason::AsPath));
        assert_eq!(ebgp_loop_check(&a, 64512, 2), Ok(()));
    }

    #[test]
    fn originator_kept_or_set_and_cluster_prepended() {
        let peer: Ipv4Addr = "2.2.2.2".parse().unwrap();
        let mut a = RouteAttrs::new(Origin::Igp, None);
        assert_eq!(reflection_ids(&a, peer), peer);
        a.originator_id = Some("3.3.3.3".parse().unwrap());
        assert_eq!(reflection_ids(&a, peer), "3.3.3.3".parse::<Ipv4Addr>().unwrap());
        a.cluster_list = vec!["7.7.7.7".parse().unwrap()];
        let mut out = Vec::new();
        reflected_cluster_list(&a, "9.9.9.9".parse().unwrap(), &mut out);
        assert_eq!(
            out,
            vec!["9.9.9.9".parse::<Ipv4Addr>().unwrap(), "7.7.7.7".parse().unwrap()]
        );
    }

    #[test]
    fn as_prepend() {
        assert_eq!(
            ebgp_as_path(&AsPath::new(), 65000),
            AsPath::from_sequence([65000])
        );
        let p = AsPath::from_sequence([1, 2]);
        assert_eq!(ebgp_as_path(&p, 65000).segments[0].asns, vec![65000, 1, 2]);
        let s = AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::AsSet,
                asns: vec![1, 2],
            }],
            four_octet_wire: true,
        };
        let out = ebgp_as_path(&s, 65000);
        assert_eq!(out.segments.len(), 2);
        assert_eq!(out.segments[1].kind, SegmentType::AsSet);
    }

    #[test]
    fn well_known_communities() {
        let mut a = RouteAttrs::new(Origin::Igp, None);
        assert!(communities_allow(&a, Role::Ebgp));
        a.communities.push(Community::NO_EXPORT);
        assert!(!communities_allow(&a, Role::Ebgp));
        assert!(communities_allow(&a, Role::RrClient));
        a.communities.push(Community::NO_ADVERTISE);
        assert!(!communities_allow(&a, Role::RrClient));
    }

    fn group(role: Role) -> GroupKey {
        GroupKey {
            role,
            local_as: 64512,
            next_hop: Some("192.0.2.1".parse().unwrap()),
            four_octet_as: true,
            add_path_tx: crate::types::FamilySet::EMPTY,
            add_path_max: 1,
            families: crate::types::FamilySet::EMPTY,
            extended: false,
            llgr: false,
            enhanced_refresh: false,
            export: crate::policy::Policy::default(),
            solo: None,
        }
    }

    #[test]
    fn a_route_from_an_ibgp_peer_is_reflected_with_originator_and_cluster_ids() {
        let rid: Ipv4Addr = "1.1.1.1".parse().unwrap();
        let cid: Ipv4Addr = "9.9.9.9".parse().unwrap();
        let a = RouteAttrs::new(Origin::Igp, Some("10.0.0.9".parse().unwrap()));
        for src in [Source::Client, Source::NonClient] {
            for to in [Role::RrClient, Role::NonClient] {
                let ex = export_treatment(&group(to), src, rid, cid, &a);
                assert_eq!(ex.reflect, Some((rid, cid)));
                assert_eq!(
                    (ex.ebgp_local_as, ex.default_local_pref, ex.strip_med),
                    (None, false, false)
                );
                assert_eq!(ex.next_hop, group(to).next_hop);
            }
        }
        // An ORIGINATOR_ID already present is kept.
        let mut b = a.clone();
        b.originator_id = Some("7.7.7.7".parse().unwrap());
        let ex = export_treatment(&group(Role::RrClient), Source::Client, rid, cid, &b);
        assert_eq!(ex.reflect, Some(("7.7.7.7".parse().unwrap(), cid)));
    }

    #[test]
    fn routes_from_ebgp_and_our_own_are_advertised_not_reflected() {
        let (rid, cid) = ("1.1.1.1".parse().unwrap(), "9.9.9.9".parse().unwrap());
        let a = RouteAttrs::new(Origin::Igp, Some("10.0.0.9".parse().unwrap()));
        for src in [Source::Ebgp, Source::Local] {
            let ex = export_treatment(&group(Role::RrClient), src, rid, cid, &a);
            assert_eq!(ex.reflect, None);
            assert!(ex.default_local_pref);
        }
    }

    #[test]
    fn towards_ebgp_our_as_is_prepended_and_a_foreign_med_dropped() {
        let (rid, cid) = ("1.1.1.1".parse().unwrap(), "9.9.9.9".parse().unwrap());
        let a = RouteAttrs::new(Origin::Igp, Some("10.0.0.9".parse().unwrap()));
        for (src, strip) in [
            (Source::Ebgp, true),
            (Source::Client, false),
            (Source::Local, false),
        ] {
            let ex = export_treatment(&group(Role::Ebgp), src, rid, cid, &a);
            assert_eq!(ex.ebgp_local_as, Some(64512));
            assert_eq!(ex.reflect, None);
            assert_eq!(ex.strip_med, strip);
            assert_eq!(ex.next_hop, Some("192.0.2.1".parse().unwrap()));
            assert!(ex.four_octet_as);
        }
        let mut g = group(Role::Ebgp);
        g.next_hop = None;
        let ex = export_treatment(&g, Source::Client, rid, cid, &a);
        assert_eq!(
            ex.next_hop,
            Some("10.0.0.9".parse().unwrap()),
            "no local address: kept"
        );
    }
}
