//! The engine's own path-attribute set and its interner.
//!
//! A reflector holds one attribute set for thousands of prefixes, so sets are hash-consed behind
//! [`Arc`]: equal sets received from any peer share one allocation, and comparing two routes'
//! attributes is a pointer comparison. Fields the engine reasons about are parsed; everything else
//! (extended and large communities, unknown attributes) is kept as raw bytes with its flags so it
//! is re-advertised byte-exact.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;

/// ORIGIN values (RFC 4271 section 5.1.1): the codec's type.
pub use bgp_wire::Origin;

/// AS_PATH segment types (RFC 4271 section 4.3, RFC 5065).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SegmentKind {
    /// 1: AS_SET.
    Set,
    /// 2: AS_SEQUENCE.
    Sequence,
    /// 3: AS_CONFED_SEQUENCE.
    ConfedSequence,
    /// 4: AS_CONFED_SET.
    ConfedSet,
}

impl SegmentKind {
    /// The wire value.
    pub const fn code(self) -> u8 {
        match self {
            SegmentKind::Set => 1,
            SegmentKind::Sequence => 2,
            SegmentKind::ConfedSequence => 3,
            SegmentKind::ConfedSet => 4,
        }
    }

    /// The codec's segment type.
    pub(crate) const fn wire(self) -> bgp_wire::SegmentType {
        match self {
            SegmentKind::Set => bgp_wire::SegmentType::AsSet,
            SegmentKind::Sequence => bgp_wire::SegmentType::AsSequence,
            SegmentKind::ConfedSequence => bgp_wire::SegmentType::AsConfedSequence,
            SegmentKind::ConfedSet => bgp_wire::SegmentType::AsConfedSet,
        }
    }
}

/// One AS_PATH segment with 4-octet AS numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Segment type.
    pub kind: SegmentKind,
    /// AS numbers in order.
    pub asns: Vec<u32>,
}

/// An attribute kept as received (flags, type code, value).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAttr {
    /// Attribute flags octet as received (the extended-length bit is recomputed on encode).
    pub flags: u8,
    /// Attribute type code.
    pub type_code: u8,
    /// Attribute value.
    pub value: Bytes,
}

/// The well-known community LLGR_STALE (RFC 9494 section 4.1), 65535:6.
pub const LLGR_STALE: u32 = 0xFFFF_0006;
/// The well-known community NO_LLGR (RFC 9494 section 4.2), 65535:7.
pub const NO_LLGR: u32 = 0xFFFF_0007;
/// NO_EXPORT (RFC 1997).
pub const NO_EXPORT: u32 = 0xFFFF_FF01;
/// NO_ADVERTISE (RFC 1997).
pub const NO_ADVERTISE: u32 = 0xFFFF_FF02;

/// A path-attribute set for one or many routes (everything but the NLRI).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attrs {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH (AS4_PATH already merged by the codec for 2-octet speakers).
    pub as_path: Vec<Segment>,
    /// NEXT_HOP, or the next hop of MP_REACH_NLRI.
    pub next_hop: Option<IpAddr>,
    /// The IPv6 link-local next hop of MP_REACH_NLRI when two are carried.
    pub next_hop_link_local: Option<std::net::Ipv6Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (AS, address).
    pub aggregator: Option<(u32, Ipv4Addr)>,
    /// COMMUNITIES (RFC 1997).
    pub communities: Vec<u32>,
    /// ORIGINATOR_ID (RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456), first element most recent.
    pub cluster_list: Vec<Ipv4Addr>,
    /// Every other attribute (extended/large communities, OTC, unknown), in received order.
    pub other: Vec<RawAttr>,
}

impl Attrs {
    /// An attribute set with only ORIGIN and a next hop.
    pub fn new(origin: Origin, next_hop: Option<IpAddr>) -> Attrs {
        Attrs {
            origin,
            as_path: Vec::new(),
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

    /// Number of ASes in AS_PATH as counted by RFC 4271 section 9.1.2.2 a): an AS_SET counts as 1,
    /// confederation segments count 0 (RFC 5065 section 5.3).
    pub fn as_path_len(&self) -> usize {
        self.as_path
            .iter()
            .map(|s| match s.kind {
                SegmentKind::Sequence => s.asns.len(),
                SegmentKind::Set => 1,
                _ => 0,
            })
            .sum()
    }

    /// The neighbouring AS the route came from: the first AS of the first AS_SEQUENCE
    /// (RFC 4271 section 9.1.2.2 c), `None` for a locally originated or iBGP-only path.
    pub fn neighbor_as(&self) -> Option<u32> {
        match self.as_path.first() {
            Some(Segment {
                kind: SegmentKind::Sequence,
                asns,
            }) => asns.first().copied(),
            _ => None,
        }
    }

    /// Whether the COMMUNITIES attribute holds `c`.
    pub fn has_community(&self, c: u32) -> bool {
        self.communities.contains(&c)
    }
}

/// Hash-consing table for [`Attrs`]: equal sets share one `Arc`.
///
/// Entries whose only owner is the interner are removed by [`Interner::collect`], which the engine
/// runs after each batch of withdrawals.
#[derive(Debug, Default)]
pub struct Interner {
    map: HashMap<Arc<Attrs>, ()>,
}

impl Interner {
    /// Returns the shared copy of `attrs`, inserting it if new.
    ///
    /// ```
    /// use rr_core::attrs::{Attrs, Interner, Origin};
    /// use std::sync::Arc;
    /// let mut i = Interner::default();
    /// let a = i.intern(Attrs::new(Origin::Igp, None));
    /// let b = i.intern(Attrs::new(Origin::Igp, None));
    /// assert!(Arc::ptr_eq(&a, &b));
    /// ```
    pub fn intern(&mut self, attrs: Attrs) -> Arc<Attrs> {
        if let Some((k, _)) = self.map.get_key_value(&attrs) {
            return Arc::clone(k);
        }
        let a = Arc::new(attrs);
        self.map.insert(Arc::clone(&a), ());
        a
    }

    /// Number of distinct sets held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no set is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Approximate heap bytes of the interned sets.
    pub fn memory(&self) -> usize {
        self.map
            .keys()
            .map(|a| {
                std::mem::size_of::<Attrs>()
                    + 16
                    + a.as_path
                        .iter()
                        .map(|s| 32 + s.asns.capacity() * 4)
                        .sum::<usize>()
                    + a.communities.capacity() * 4
                    + a.cluster_list.capacity() * 4
                    + a.other
                        .iter()
                        .map(|r| std::mem::size_of::<RawAttr>() + r.value.len())
                        .sum::<usize>()
            })
            .sum::<usize>()
            + self.map.capacity() * 9
    }

    /// Drops sets no route refers to any more.
    pub fn collect(&mut self) {
        self.map.retain(|k, _| Arc::strong_count(k) > 1);
    }
}
