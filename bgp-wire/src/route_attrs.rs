//! The path attributes of a route as a RIB keeps them: the codec's own attribute values, taken
//! out of a decoded UPDATE once ([`RouteAttrs::from_attributes`]) and written back into an
//! attribute block when the route is advertised. Equal sets compare and hash equal, so a RIB can
//! intern them (one shared copy for thousands of prefixes).
//!
//! The fields a route selection or a policy reads are typed (ORIGIN, AS_PATH, next hop, MED,
//! LOCAL_PREF, COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST, ...); every other attribute (extended
//! and large communities, Only to Customer, unknown types) stays a [`PathAttribute`] with its
//! received flags, in received order, so it is passed on unchanged. MP_REACH_NLRI and
//! MP_UNREACH_NLRI are not attributes of a route: their next hop is kept, their NLRI are the
//! routes.
//!
//! ```
//! use bgp_wire::{AsPath, AttrValue, Community, Origin, PathAttribute, RouteAttrs};
//!
//! let attrs = RouteAttrs::from_attributes(vec![
//!     PathAttribute::new(AttrValue::Origin(Origin::Igp)),
//!     PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([65001, 65002]))),
//!     PathAttribute::new(AttrValue::NextHop("192.0.2.1".parse()?)),
//!     PathAttribute::new(AttrValue::LocalPref(200)),
//!     PathAttribute::new(AttrValue::Communities(vec![Community::new(65001, 7)])),
//! ]);
//! assert_eq!(attrs.local_pref, Some(200));
//! assert_eq!(attrs.as_path.neighbor_as(), Some(65001));
//! assert!(attrs.has_community(Community::new(65001, 7)));
//! assert_eq!(attrs.next_hop.map(|n| n.to_string()).as_deref(), Some("192.0.2.1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::aspath::AsPath;
use crate::attr::{Aggregator, AttrValue, MpNextHop, Origin, PathAttribute};
use crate::community::{Community, ExtendedCommunity, LargeCommunity};

/// The path attributes of one route (everything an UPDATE says about its NLRI).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RouteAttrs {
    /// ORIGIN (RFC 4271 section 5.1.1).
    pub origin: Origin,
    /// AS_PATH (RFC 4271 section 5.1.2), 4-octet AS numbers (AS4_PATH merged by the caller for
    /// 2-octet speakers, RFC 6793 section 4.2.3).
    pub as_path: AsPath,
    /// NEXT_HOP, or the (global) next hop of MP_REACH_NLRI.
    pub next_hop: Option<IpAddr>,
    /// The IPv6 link-local next hop of MP_REACH_NLRI when two are carried (RFC 2545 section 3).
    pub next_hop_link_local: Option<Ipv6Addr>,
    /// MULTI_EXIT_DISC (RFC 4271 section 5.1.4).
    pub med: Option<u32>,
    /// LOCAL_PREF (RFC 4271 section 5.1.5).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present (RFC 4271 section 5.1.6).
    pub atomic_aggregate: bool,
    /// AGGREGATOR (RFC 4271 section 5.1.7).
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (RFC 1997).
    pub communities: Vec<Community>,
    /// ORIGINATOR_ID (RFC 4456 section 8).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456 section 8), most recent cluster first.
    pub cluster_list: Vec<Ipv4Addr>,
    /// Every other attribute (extended and large communities, Only to Customer, unknown types),
    /// with its received flags, in received order.
    pub other: Vec<PathAttribute>,
}

impl RouteAttrs {
    /// A set with only ORIGIN and a next hop (a locally originated route).
    pub fn new(origin: Origin, next_hop: Option<IpAddr>) -> RouteAttrs {
        RouteAttrs {
            origin,
            as_path: AsPath::new(),
            next_hop,
            next_hop_link_local: None,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: Vec::new(),
            originator_id: None,
            cluster_list: Vec::new(),
            other: Vec::new(),
        }
    }

    /// Moves the attributes of a decoded UPDATE into a route's set, without re-parsing or
    /// copying values. A missing ORIGIN reads as INCOMPLETE and a missing AS_PATH as empty
    /// (whether they were present is the caller's RFC 7606 section 3 (d) check). The next hop
    /// of MP_REACH_NLRI wins over NEXT_HOP when both are present (RFC 4760 section 3: NEXT_HOP
    /// is then ignored for the MP routes); AS4_PATH and AS4_AGGREGATOR are dropped (merge
    /// them first with [`crate::Update::merge_as4`]), as are MP_UNREACH_NLRI and the NLRI.
    pub fn from_attributes(attributes: Vec<PathAttribute>) -> RouteAttrs {
        let mut a = RouteAttrs::new(Origin::Incomplete, None);
        let mut mp_next_hop = None;
        for pa in attributes {
            match pa.value {
                AttrValue::Origin(o) => a.origin = o,
                AttrValue::AsPath(p) => a.as_path = p,
                AttrValue::NextHop(nh) => {
                    if a.next_hop.is_none() {
                        a.next_hop = Some(IpAddr::V4(nh));
                    }
                }
                AttrValue::MultiExitDisc(m) => a.med = Some(m),
                AttrValue::LocalPref(l) => a.local_pref = Some(l),
                AttrValue::AtomicAggregate => a.atomic_aggregate = true,
                AttrValue::Aggregator(g) => a.aggregator = Some(g),
                AttrValue::Communities(c) => a.communities = c,
                AttrValue::OriginatorId(o) => a.originator_id = Some(o),
                AttrValue::ClusterList(l) => a.cluster_list = l,
                AttrValue::MpReach(m) => mp_next_hop = Some(m.next_hop),
                AttrValue::MpUnreach(_) | AttrValue::As4Path(_) | AttrValue::As4Aggregator(_) => {}
                _ => a.other.push(pa),
            }
        }
        match mp_next_hop {
            Some(MpNextHop::Ipv6 { global, link_local }) => {
                a.next_hop = Some(IpAddr::V6(global));
                a.next_hop_link_local = link_local;
            }
            Some(MpNextHop::Ipv4(v4)) => a.next_hop = Some(IpAddr::V4(v4)),
            _ => {}
        }
        a
    }

    /// Whether COMMUNITIES holds `c`.
    pub fn has_community(&self, c: Community) -> bool {
        self.communities.contains(&c)
    }

    /// EXTENDED_COMMUNITIES (RFC 4360), empty if absent.
    pub fn extended_communities(&self) -> &[ExtendedCommunity] {
        self.other
            .iter()
            .find_map(|a| match &a.value {
                AttrValue::ExtendedCommunities(v) => Some(v.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// LARGE_COMMUNITY (RFC 8092), empty if absent.
    pub fn large_communities(&self) -> &[LargeCommunity] {
        self.other
            .iter()
            .find_map(|a| match &a.value {
                AttrValue::LargeCommunities(v) => Some(v.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// Only to Customer (RFC 9234), if present.
    pub fn only_to_customer(&self) -> Option<u32> {
        self.other.iter().find_map(|a| match a.value {
            AttrValue::OnlyToCustomer(v) => Some(v),
            _ => None,
        })
    }
}

impl fmt::Display for Origin {
    /// `igp`, `egp` or `incomplete`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Igp => "igp",
            Origin::Egp => "egp",
            Origin::Incomplete => "incomplete",
        })
    }
}

impl fmt::Display for MpNextHop {
    /// The address; `global,link-local` for two IPv6 addresses; hex for other lengths.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MpNextHop::Ipv4(a) => write!(f, "{a}"),
            MpNextHop::Ipv6 {
                global,
                link_local: None,
            } => write!(f, "{global}"),
            MpNextHop::Ipv6 {
                global,
                link_local: Some(l),
            } => write!(f, "{global},{l}"),
            MpNextHop::Other(b) => b.iter().try_for_each(|x| write!(f, "{x:02x}")),
        }
    }
}

impl fmt::Display for Aggregator {
    /// `AS address`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.asn, self.address)
    }
}

impl fmt::Display for AttrValue {
    /// The attribute's RFC name and its value, for logs and tools: `ORIGIN igp`,
    /// `AS_PATH 65001 {1,2}`, `COMMUNITIES 65001:7 65535:65281`, `type 99 (3 octets)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, name: &str, v: &[T]) -> fmt::Result {
            f.write_str(name)?;
            v.iter().try_for_each(|x| write!(f, " {x}"))
        }
        match self {
            AttrValue::Origin(o) => write!(f, "ORIGIN {o}"),
            AttrValue::AsPath(p) => write!(f, "AS_PATH {p}"),
            AttrValue::NextHop(a) => write!(f, "NEXT_HOP {a}"),
            AttrValue::MultiExitDisc(v) => write!(f, "MULTI_EXIT_DISC {v}"),
            AttrValue::LocalPref(v) => write!(f, "LOCAL_PREF {v}"),
            AttrValue::AtomicAggregate => f.write_str("ATOMIC_AGGREGATE"),
            AttrValue::Aggregator(g) => write!(f, "AGGREGATOR {g}"),
            AttrValue::Communities(v) => list(f, "COMMUNITIES", v),
            AttrValue::OriginatorId(a) => write!(f, "ORIGINATOR_ID {a}"),
            AttrValue::ClusterList(v) => list(f, "CLUSTER_LIST", v),
            AttrValue::MpReach(m) => write!(
                f,
                "MP_REACH_NLRI {} next hop {} ({} NLRI)",
                m.afi_safi,
                m.next_hop,
                m.nlri.len()
            ),
            AttrValue::MpUnreach(m) => {
                write!(f, "MP_UNREACH_NLRI {} ({} NLRI)", m.afi_safi, m.withdrawn.len())
            }
            AttrValue::ExtendedCommunities(v) => list(f, "EXTENDED_COMMUNITIES", v),
            AttrValue::As4Path(p) => write!(f, "AS4_PATH {p}"),
            AttrValue::As4Aggregator(g) => write!(f, "AS4_AGGREGATOR {g}"),
            AttrValue::LargeCommunities(v) => list(f, "LARGE_COMMUNITY", v),
            AttrValue::OnlyToCustomer(v) => write!(f, "ONLY_TO_CUSTOMER {v}"),
            AttrValue::Unknown { type_code, bytes } => write!(f, "type {type_code} ({} octets)", bytes.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::MpReach;
    use crate::types::AfiSafi;

    #[test]
    fn mp_next_hop_and_other_attributes() {
        let ext = PathAttribute::new(AttrValue::ExtendedCommunities(vec![ExtendedCommunity([
            0, 2, 0, 0, 0, 1, 0, 1,
        ])]));
        let a = RouteAttrs::from_attributes(vec![
            PathAttribute::new(AttrValue::MpReach(MpReach {
                afi_safi: AfiSafi::IPV6_UNICAST,
                next_hop: MpNextHop::Ipv6 {
                    global: "2001:db8::1".parse().unwrap(),
                    link_local: Some("fe80::1".parse().unwrap()),
                },
                nlri: Vec::new(),
                opaque_nlri: bytes::Bytes::new(),
            })),
            PathAttribute::new(AttrValue::Origin(Origin::Egp)),
            ext.clone(),
            PathAttribute::new(AttrValue::NextHop("192.0.2.9".parse().unwrap())),
            PathAttribute::new(AttrValue::OnlyToCustomer(65001)),
        ]);
        assert_eq!(a.next_hop, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(a.next_hop_link_local, Some("fe80::1".parse().unwrap()));
        assert_eq!(a.origin, Origin::Egp);
        assert_eq!(
            a.extended_communities(),
            &[ExtendedCommunity([0, 2, 0, 0, 0, 1, 0, 1])]
        );
        assert_eq!(a.only_to_customer(), Some(65001));
        assert!(a.large_communities().is_empty());
        assert_eq!(a.other.len(), 2);
        assert_eq!(a.other[0], ext);
        assert_eq!(a.origin.to_string(), "egp");
        let nh = MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some("fe80::1".parse().unwrap()),
        };
        assert_eq!(nh.to_string(), "2001:db8::1,fe80::1");
        let v = AttrValue::Communities(vec![Community::new(65001, 7), Community::NO_EXPORT]);
        assert_eq!(v.to_string(), "COMMUNITIES 65001:7 65535:65281");
        assert_eq!(
            AttrValue::AsPath(AsPath::from_sequence([1, 2])).to_string(),
            "AS_PATH 1 2"
        );
    }
}
