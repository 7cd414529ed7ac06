//! What the engine sends, written by `bgp_wire`: OPEN (capabilities from what we offer),
//! KEEPALIVE, NOTIFICATION, ROUTE-REFRESH, End-of-RIB, and the attribute block of an update
//! group's export treatment ([`attrs_block`]), which `bgp_wire::UpdatePacker` sends with as many
//! NLRI per UPDATE as the negotiated message size allows. Nothing here writes a byte itself: the
//! engine decides which attribute values go out, the codec decides how they look on the wire.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::attr::type_code;
use bgp_wire::{AttrBlock, AttrValue, EncodeCtx, Message, PathAttribute, RouteRefresh, RouteRefreshSubtype};
use bytes::{Bytes, BytesMut};

use crate::attrs::RouteAttrs;
use crate::session::LocalOffer;
use crate::types::Family;
use crate::wire::afi_safi;

/// A KEEPALIVE (RFC 4271 section 4.4).
pub(crate) fn keepalive() -> Bytes {
    Message::keepalive_bytes()
}

/// A NOTIFICATION (RFC 4271 section 4.5), its data cut to fit a 4096-octet message.
pub(crate) fn notification(n: &bgp_wire::Notification) -> Bytes {
    n.to_message_bytes()
}

/// A ROUTE-REFRESH (RFC 2918 section 3; RFC 7313 section 3 message subtype: request, BoRR,
/// EoRR).
pub(crate) fn route_refresh(family: Family, subtype: RouteRefreshSubtype) -> Bytes {
    let f = afi_safi(family);
    let rr = RouteRefresh {
        afi: f.afi,
        safi: f.safi,
        subtype,
    };
    // 23 octets: always within the message size.
    Message::RouteRefresh(rr)
        .to_bytes(&EncodeCtx::default())
        .unwrap_or_default()
}

/// End-of-RIB marker of a family (RFC 4724 section 2).
pub(crate) fn end_of_rib(family: Family) -> Bytes {
    Message::Update(bgp_wire::end_of_rib(afi_safi(family)))
        .to_bytes(&EncodeCtx::default())
        .unwrap_or_default()
}

/// Our OPEN (RFC 4271 section 4.2) with capabilities (RFC 5492), encoded by `bgp_wire`.
/// `None` if the identity cannot be put on the wire (AS 0, router id 0.0.0.0, hold time 1 or 2),
/// which configuration validation rules out.
pub(crate) fn open(offer: &LocalOffer, router_id: Ipv4Addr) -> Option<Bytes> {
    use bgp_wire::{AddPathMode, AfiSafi, Capability, GrFamily, GracefulRestart, LlgrFamily};
    let fam = |f: Family| match f {
        Family::Ipv4Unicast => AfiSafi::IPV4_UNICAST,
        Family::Ipv6Unicast => AfiSafi::IPV6_UNICAST,
    };
    let mut caps: Vec<Capability> = offer
        .families
        .iter()
        .map(|f| Capability::MultiProtocol(fam(f)))
        .collect();
    caps.push(Capability::RouteRefresh); // RFC 2918
    caps.push(Capability::EnhancedRouteRefresh); // RFC 7313
    caps.push(Capability::FourOctetAs(offer.asn)); // RFC 6793
    let ap: Vec<(AfiSafi, AddPathMode)> = offer
        .families
        .iter()
        .filter_map(|f| {
            let mode = match (
                offer.add_path_receive.contains(f),
                offer.add_path_send.contains(f),
            ) {
                (true, true) => AddPathMode::Both,
                (true, false) => AddPathMode::Receive,
                (false, true) => AddPathMode::Send,
                (false, false) => return None,
            };
            Some((fam(f), mode))
        })
        .collect();
    if !ap.is_empty() {
        caps.push(Capability::AddPath(ap)); // RFC 7911
    }
    if let Some(rt) = offer.gr_restart_time {
        // RFC 4724 section 3: the Restart State bit while we defer selection after our own start
        // (section 4.1), the Forwarding State bit as configured (see
        // `GracefulRestartConfig::forwarding_state`).
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restart_state: offer.gr_restarting,
            notification: false,
            restart_time: rt.min(4095),
            families: offer
                .families
                .iter()
                .map(|f| GrFamily {
                    afi_safi: fam(f),
                    forwarding: offer.gr_forwarding,
                })
                .collect(),
        }));
        if let Some(st) = offer.llgr_stale_time {
            // RFC 9494 section 3: per family, a 24-bit long-lived stale time.
            caps.push(Capability::LongLivedGracefulRestart(
                offer
                    .families
                    .iter()
                    .map(|f| LlgrFamily {
                        afi_safi: fam(f),
                        flags: 0,
                        stale_time: st.min(0xff_ffff),
                    })
                    .collect(),
            ));
        }
    }
    if offer.extended_messages {
        caps.push(Capability::ExtendedMessage); // RFC 8654
    }
    let open = bgp_wire::Open::new(
        bgp_wire::Asn::new(offer.asn).ok()?,
        bgp_wire::HoldTime::new(offer.hold_time).ok()?,
        bgp_wire::RouterId::new(router_id).ok()?,
        caps,
    );
    let mut out = BytesMut::with_capacity(128);
    bgp_wire::Message::Open(open)
        .encode(&bgp_wire::EncodeCtx::default(), &mut out)
        .ok()?;
    Some(out.freeze())
}

/// How an attribute set is rewritten for one update group (the export treatment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Export {
    /// Towards an eBGP peer: prepend this AS, drop LOCAL_PREF/ORIGINATOR_ID/CLUSTER_LIST and a
    /// MED learned from another AS.
    pub(crate) ebgp_local_as: Option<u32>,
    /// Reflected over iBGP: ORIGINATOR_ID to send and cluster id to prepend.
    pub(crate) reflect: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Replace NEXT_HOP (next-hop-self / eBGP).
    pub(crate) next_hop: Option<IpAddr>,
    /// Set LOCAL_PREF to 100 if absent (iBGP target, path learned over eBGP).
    pub(crate) default_local_pref: bool,
    /// MED learned from another AS is not sent to an eBGP peer (RFC 4271 section 5.1.4).
    pub(crate) strip_med: bool,
    /// The peer speaks 4-octet AS.
    pub(crate) four_octet_as: bool,
}

/// Encodes into `out` every attribute of `a` under the export treatment `ex`, except
/// MP_REACH/MP_UNREACH (the packer writes them) and, for IPv6 routes, NEXT_HOP (in MP_REACH), in
/// type-code order, each with its standard flags (re-advertised unknown and opaque attributes
/// keep theirs).
pub(crate) fn attrs_block(a: &RouteAttrs, ex: &Export, family: Family, out: &mut AttrBlock) {
    let ctx = EncodeCtx {
        four_octet_as: ex.four_octet_as,
        ..EncodeCtx::default()
    };
    // An attribute that cannot be encoded (an AS_SET of more than 255 ASes) is left out, as the
    // hand-written encoder before this one could not send it either.
    let mut put = |v: AttrValue| {
        let _ = out.push(&PathAttribute::new(v), &ctx);
    };
    // ORIGIN, well-known mandatory.
    put(AttrValue::Origin(a.origin));
    // AS_PATH, well-known mandatory; eBGP prepend (RFC 4271 5.1.2).
    let path = match ex.ebgp_local_as {
        Some(las) => crate::reflect::ebgp_as_path(&a.as_path, las),
        None => a.as_path.clone(),
    };
    put(AttrValue::AsPath(path.clone()));
    // NEXT_HOP for IPv4 unicast (RFC 4271 5.1.3); IPv6 goes in MP_REACH_NLRI.
    if family == Family::Ipv4Unicast {
        let nh = match ex.next_hop.or(a.next_hop) {
            Some(IpAddr::V4(v4)) => v4,
            _ => Ipv4Addr::UNSPECIFIED,
        };
        put(AttrValue::NextHop(nh));
    }
    if let Some(med) = a.med.filter(|_| !ex.strip_med) {
        put(AttrValue::MultiExitDisc(med));
    }
    // LOCAL_PREF: RFC 4271 5.1.5 "A BGP speaker MUST NOT include this attribute in UPDATE messages it
    // sends to external peers" and "SHALL include this attribute in all UPDATE messages ... sent to
    // other internal peers".
    if ex.ebgp_local_as.is_none() {
        let lp = a
            .local_pref
            .or(if ex.default_local_pref { Some(100) } else { None });
        if let Some(lp) = lp {
            put(AttrValue::LocalPref(lp));
        }
    }
    if a.atomic_aggregate {
        put(AttrValue::AtomicAggregate);
    }
    if let Some(g) = a.aggregator {
        put(AttrValue::Aggregator(g));
    }
    if !a.communities.is_empty() {
        put(AttrValue::Communities(a.communities.clone()));
    }
    // ORIGINATOR_ID and CLUSTER_LIST are optional non-transitive: never sent to eBGP peers.
    if ex.ebgp_local_as.is_none() {
        let orig = ex.reflect.map(|(o, _)| o).or(a.originator_id);
        if let Some(o) = orig {
            put(AttrValue::OriginatorId(o));
        }
        if ex.reflect.is_some() || !a.cluster_list.is_empty() {
            let mut list = Vec::with_capacity(a.cluster_list.len() + 1);
            match ex.reflect {
                Some((_, cid)) => crate::reflect::reflected_cluster_list(a, cid, &mut list),
                None => list.extend_from_slice(&a.cluster_list),
            }
            put(AttrValue::ClusterList(list));
        }
    }
    // Other attributes keep their received flags (the Extended Length bit follows the size).
    for r in a.other.iter().filter(|r| r.type_code() < type_code::AS4_PATH) {
        let _ = out.push(r, &ctx);
    }
    // RFC 6793 section 4.2.2: towards a 2-octet speaker, AS4_PATH / AS4_AGGREGATOR carry the real
    // numbers when any does not fit.
    if !ex.four_octet_as && path.needs_as4() {
        let _ = out.push(&PathAttribute::new(AttrValue::As4Path(path)), &ctx);
    }
    if let Some(g) = a.aggregator.filter(|g| !ex.four_octet_as && g.asn > 0xffff) {
        let _ = out.push(&PathAttribute::new(AttrValue::As4Aggregator(g)), &ctx);
    }
    for r in a.other.iter().filter(|r| r.type_code() >= type_code::AS4_PATH) {
        let _ = out.push(r, &ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::Origin;
    use crate::types::Prefix;
    use bgp_wire::{AddPathMap, MpNextHop, Nlri, UpdatePacker};
    use bgp_wire::{Aggregator, AsPath, AsSegment, Community, SegmentType};
    use std::net::Ipv6Addr;

    fn fnv(h: &mut u64, b: &[u8]) {
        for x in b {
            *h ^= u64::from(*x);
            *h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn rich() -> RouteAttrs {
        let mut a = RouteAttrs::new(Origin::Egp, Some("10.0.0.1".parse().unwrap()));
        a.as_path = AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::AsSequence,
                    asns: vec![65001, 4_200_000_000, 7],
                },
                AsSegment {
                    kind: SegmentType::AsSet,
                    asns: vec![1, 2],
                },
            ],
            four_octet_wire: true,
        };
        a.med = Some(5);
        a.local_pref = Some(2_147_482_623);
        a.atomic_aggregate = true;
        a.aggregator = Some(Aggregator {
            asn: 4_200_000_001,
            address: "1.2.3.4".parse().unwrap(),
        });
        a.communities = vec![Community::NO_EXPORT, Community::new(65000, 1)];
        a.originator_id = Some("9.9.9.9".parse().unwrap());
        a.cluster_list = vec!["7.7.7.7".parse().unwrap()];
        a.other = vec![
            // Extended communities received with a needless Extended Length bit.
            PathAttribute {
                flags: 0xD0,
                value: AttrValue::ExtendedCommunities(vec![bgp_wire::ExtendedCommunity([
                    0, 2, 0, 0, 0, 1, 0, 1,
                ])]),
            },
            PathAttribute {
                flags: 0xE0,
                value: AttrValue::Unknown {
                    type_code: 99,
                    bytes: Bytes::from(vec![3; 300]),
                },
            },
            PathAttribute {
                flags: 0xC0,
                value: AttrValue::Unknown {
                    type_code: 12,
                    bytes: Bytes::from_static(&[1]),
                },
            },
        ];
        a
    }

    fn prefixes(fam: Family) -> Vec<(Prefix, u32)> {
        (0..3000u32)
            .map(|i| {
                let p = match fam {
                    Family::Ipv4Unicast => {
                        Prefix::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i << 8))), 24)
                    }
                    Family::Ipv6Unicast => Prefix::new(
                        IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i) << 64)),
                        64,
                    ),
                };
                (p.unwrap(), i)
            })
            .collect()
    }

    /// A reflected route towards a 2-octet iBGP speaker: ORIGINATOR_ID kept, cluster id
    /// prepended, AS_TRANS in AS_PATH and AGGREGATOR with AS4_PATH and AS4_AGGREGATOR, the
    /// Extended Length bit only where the value needs it.
    #[test]
    fn reflected_attribute_block_bytes() {
        let ex = Export {
            ebgp_local_as: None,
            reflect: Some(("8.8.8.8".parse().unwrap(), "6.6.6.6".parse().unwrap())),
            next_hop: None,
            default_local_pref: false,
            strip_med: false,
            four_octet_as: false,
        };
        let mut blk = AttrBlock::new();
        attrs_block(&rich(), &ex, Family::Ipv4Unicast, &mut blk);
        let hex: String = blk.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let want = concat!(
            "40010101",                                               // ORIGIN EGP
            "40020e0203fde95ba00007010200010002",                     // AS_PATH, AS_TRANS (23456)
            "4003040a000001",                                         // NEXT_HOP
            "80040400000005",                                         // MED
            "4005047ffffbff",                                         // LOCAL_PREF
            "400600",                                                 // ATOMIC_AGGREGATE
            "c007065ba001020304",                                     // AGGREGATOR with AS_TRANS
            "c00808ffffff01fde80001",                                 // COMMUNITIES
            "80090408080808",                                         // ORIGINATOR_ID (kept)
            "800a080606060607070707",                                 // CLUSTER_LIST, ours first
            "c010080002000000010001",                                 // EXTENDED COMMUNITIES
            "c00c0101",                                               // unknown 12
            "c0111802030000fde9fa56ea000000000701020000000100000002", // AS4_PATH
            "c01208fa56ea0101020304",                                 // AS4_AGGREGATOR
            "f063012c",                                               // unknown 99, extended length
        );
        assert_eq!(&hex[..want.len()], want);
        assert_eq!(&hex[want.len()..], "03".repeat(300));
    }

    /// Every combination of export treatment, family, ADD-PATH and message size gives the bytes
    /// the engine sent before its encoding moved into `bgp_wire` (the digest was taken from the
    /// hand-written encoder this replaced, over the same matrix).
    #[test]
    fn same_bytes_as_before_the_move_to_bgp_wire() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut big = rich();
        big.communities = (0..1100).map(Community).collect();
        let reflects = [
            None,
            Some(("8.8.8.8".parse().unwrap(), "6.6.6.6".parse().unwrap())),
        ];
        let hops = [
            None,
            Some("192.0.2.1".parse().unwrap()),
            Some("2001:db8::1".parse().unwrap()),
        ];
        for a in [rich(), RouteAttrs::new(Origin::Igp, None), big] {
            for four in [true, false] {
                for ebgp in [None, Some(65000u32), Some(4_200_000_002)] {
                    for reflect in reflects {
                        for nh in hops {
                            for (dlp, strip) in [(false, false), (true, true)] {
                                let ex = Export {
                                    ebgp_local_as: ebgp,
                                    reflect,
                                    next_hop: nh,
                                    default_local_pref: dlp,
                                    strip_med: strip,
                                    four_octet_as: four,
                                };
                                for fam in Family::ALL {
                                    let mut blk = AttrBlock::new();
                                    attrs_block(&a, &ex, fam, &mut blk);
                                    fnv(&mut h, blk.as_bytes());
                                    let nlri = prefixes(fam);
                                    let ll = if ex.next_hop.is_some() {
                                        None
                                    } else {
                                        a.next_hop_link_local
                                    };
                                    let global = match ex.next_hop.or(a.next_hop) {
                                        Some(IpAddr::V6(x)) => x,
                                        Some(IpAddr::V4(x)) => x.to_ipv6_mapped(),
                                        None => Ipv6Addr::UNSPECIFIED,
                                    };
                                    let mnh = MpNextHop::Ipv6 {
                                        global,
                                        link_local: ll,
                                    };
                                    for ap in [false, true] {
                                        for ext in [false, true] {
                                            let ctx = EncodeCtx {
                                                four_octet_as: four,
                                                add_path: if ap {
                                                    AddPathMap::with([afi_safi(fam)])
                                                } else {
                                                    AddPathMap::new()
                                                },
                                                extended_message: ext,
                                            };
                                            let mut p = UpdatePacker::new(&ctx);
                                            let it = nlri.iter().map(|&(p, id)| Nlri::with_path_id(id, p));
                                            p.announce(afi_safi(fam), &blk, Some(&mnh), it.clone());
                                            p.withdraw(afi_safi(fam), it);
                                            for m in p.messages() {
                                                fnv(&mut h, m);
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(h, 0xde92_bcbd_ff77_334d);
    }

    #[test]
    fn fixed_messages() {
        assert_eq!(&keepalive()[16..], &[0, 19, 4]);
        assert_eq!(&end_of_rib(Family::Ipv4Unicast)[16..], &[0, 23, 2, 0, 0, 0, 0]);
        assert_eq!(
            &end_of_rib(Family::Ipv6Unicast)[16..],
            &[0, 29, 2, 0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1]
        );
        assert_eq!(
            &route_refresh(Family::Ipv6Unicast, RouteRefreshSubtype::EORR)[16..],
            &[0, 23, 5, 0, 2, 2, 1]
        );
        let n = bgp_wire::Notification::new(6, 2);
        assert_eq!(&notification(&n)[16..], &[0, 21, 3, 6, 2]);
    }
}
