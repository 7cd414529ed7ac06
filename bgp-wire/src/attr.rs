//! Path attributes (RFC 4271 section 4.3 and the RFCs that define each type), with their
//! received flags kept for byte-exact round trips.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +---------------+---------------+
//! |  Attr. Flags  |Attr. Type Code|   then Attribute Length: 1 octet, or 2 when the
//! +---------------+---------------+   Extended Length bit (0x10) is set; then the value
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::aspath::AsPath;
use crate::community::{Community, ExtendedCommunity, LargeCommunity};
use crate::ctx::EncodeCtx;
use crate::error::{EncodeError, Treatment};
use crate::nlri::{Nlri, encode_nlri_list, nlri_list_len};
use crate::types::{AfiSafi, Asn};

/// Path attribute type codes (IANA "BGP Path Attributes").
pub mod type_code {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITIES: u8 = 32;
    /// Only to Customer (RFC 9234).
    pub const ONLY_TO_CUSTOMER: u8 = 35;
}

/// Attribute flag bits (RFC 4271 section 4.3).
pub mod flags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial.
    pub const PARTIAL: u8 = 0x20;
    /// Extended Length: the length field is 2 octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// ORIGIN values (RFC 4271 section 5.1.1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Origin {
    /// 0: IGP.
    Igp,
    /// 1: EGP.
    Egp,
    /// 2: INCOMPLETE.
    Incomplete,
}

impl Origin {
    /// Wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }
}

/// AGGREGATOR / AS4_AGGREGATOR value (RFC 4271 section 5.1.7, RFC 6793).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Aggregator {
    /// AS of the aggregating speaker.
    pub asn: u32,
    /// Its BGP identifier.
    pub address: Ipv4Addr,
}

impl Aggregator {
    /// RFC 6793 section 4.2.3: "If the AGGREGATOR attribute ... contains an AS number other than
    /// AS_TRANS, then: the AS4_AGGREGATOR attribute and the AS4_PATH attribute SHALL be ignored
    /// ... Otherwise, the AGGREGATOR attribute ... AS number SHALL be replaced by the value in
    /// the AS4_AGGREGATOR attribute". Returns the aggregator to use and whether AS4_PATH must be
    /// ignored.
    pub fn merge_as4(agg: Option<&Aggregator>, as4: Option<&Aggregator>) -> (Option<Aggregator>, bool) {
        match (agg, as4) {
            (Some(a), _) if a.asn != Asn::AS_TRANS.get() => (Some(*a), true),
            (Some(_), Some(b)) => (Some(*b), false),
            (Some(a), None) => (Some(*a), false),
            (None, _) => (None, false),
        }
    }
}

/// Next hop of MP_REACH_NLRI (RFC 4760 section 3, RFC 2545 section 3, RFC 8950).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum MpNextHop {
    /// 4 octets.
    Ipv4(Ipv4Addr),
    /// 16 octets (global) or 32 octets (global then link-local, RFC 2545 section 3).
    Ipv6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address.
        link_local: Option<Ipv6Addr>,
    },
    /// Any other length (e.g. VPN next hops with a route distinguisher), byte-exact.
    Other(Bytes),
}

impl MpNextHop {
    fn len(&self) -> usize {
        match self {
            MpNextHop::Ipv4(_) => 4,
            MpNextHop::Ipv6 { link_local: None, .. } => 16,
            MpNextHop::Ipv6 {
                link_local: Some(_), ..
            } => 32,
            MpNextHop::Other(b) => b.len(),
        }
    }

    /// Appends the next hop octets (without their length octet).
    pub(crate) fn encode(&self, out: &mut impl BufMut) {
        match self {
            MpNextHop::Ipv4(a) => out.put_slice(&a.octets()),
            MpNextHop::Ipv6 { global, link_local } => {
                out.put_slice(&global.octets());
                if let Some(l) = link_local {
                    out.put_slice(&l.octets());
                }
            }
            MpNextHop::Other(b) => out.put_slice(b),
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 section 3).
///
/// ```text
/// | AFI (2) | SAFI (1) | Length of Next Hop (1) | Next Hop (var) | Reserved (1) | NLRI (var) |
/// ```
/// The Reserved octet is written as 0 (RFC 4760: "MUST be set to 0").
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MpReach {
    /// Family.
    pub afi_safi: AfiSafi,
    /// Next hop.
    pub next_hop: MpNextHop,
    /// NLRI of a prefix family (see [`AfiSafi::has_prefix_nlri`]).
    pub nlri: Vec<Nlri>,
    /// NLRI bytes of a family this crate does not parse (empty for prefix families).
    pub opaque_nlri: Bytes,
}

/// MP_UNREACH_NLRI (RFC 4760 section 4).
///
/// ```text
/// | AFI (2) | SAFI (1) | Withdrawn Routes (var) |
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MpUnreach {
    /// Family.
    pub afi_safi: AfiSafi,
    /// Withdrawn NLRI of a prefix family.
    pub withdrawn: Vec<Nlri>,
    /// Withdrawn bytes of a family this crate does not parse (empty for prefix families).
    pub opaque_nlri: Bytes,
}

/// A path attribute value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum AttrValue {
    /// ORIGIN.
    Origin(Origin),
    /// AS_PATH (2- or 4-octet per the context).
    AsPath(AsPath),
    /// NEXT_HOP.
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC.
    MultiExitDisc(u32),
    /// LOCAL_PREF.
    LocalPref(u32),
    /// ATOMIC_AGGREGATE.
    AtomicAggregate,
    /// AGGREGATOR (2- or 4-octet AS per the context).
    Aggregator(Aggregator),
    /// COMMUNITIES.
    Communities(Vec<Community>),
    /// ORIGINATOR_ID.
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST.
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI.
    MpReach(MpReach),
    /// MP_UNREACH_NLRI.
    MpUnreach(MpUnreach),
    /// EXTENDED COMMUNITIES.
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// AS4_PATH (always 4-octet).
    As4Path(AsPath),
    /// AS4_AGGREGATOR (always 4-octet AS).
    As4Aggregator(Aggregator),
    /// LARGE_COMMUNITY.
    LargeCommunities(Vec<LargeCommunity>),
    /// Only to Customer: an AS number.
    OnlyToCustomer(u32),
    /// Any other attribute, byte-exact.
    Unknown {
        /// Type code.
        type_code: u8,
        /// Value.
        bytes: Bytes,
    },
}

impl AttrValue {
    /// Type code.
    pub fn type_code(&self) -> u8 {
        use type_code as t;
        match self {
            AttrValue::Origin(_) => t::ORIGIN,
            AttrValue::AsPath(_) => t::AS_PATH,
            AttrValue::NextHop(_) => t::NEXT_HOP,
            AttrValue::MultiExitDisc(_) => t::MULTI_EXIT_DISC,
            AttrValue::LocalPref(_) => t::LOCAL_PREF,
            AttrValue::AtomicAggregate => t::ATOMIC_AGGREGATE,
            AttrValue::Aggregator(_) => t::AGGREGATOR,
            AttrValue::Communities(_) => t::COMMUNITIES,
            AttrValue::OriginatorId(_) => t::ORIGINATOR_ID,
            AttrValue::ClusterList(_) => t::CLUSTER_LIST,
            AttrValue::MpReach(_) => t::MP_REACH_NLRI,
            AttrValue::MpUnreach(_) => t::MP_UNREACH_NLRI,
            AttrValue::ExtendedCommunities(_) => t::EXTENDED_COMMUNITIES,
            AttrValue::As4Path(_) => t::AS4_PATH,
            AttrValue::As4Aggregator(_) => t::AS4_AGGREGATOR,
            AttrValue::LargeCommunities(_) => t::LARGE_COMMUNITIES,
            AttrValue::OnlyToCustomer(_) => t::ONLY_TO_CUSTOMER,
            AttrValue::Unknown { type_code, .. } => *type_code,
        }
    }

    /// Encoded value length under `ctx`.
    pub fn encoded_len(&self, ctx: &EncodeCtx) -> usize {
        match self {
            AttrValue::Origin(_) => 1,
            AttrValue::AsPath(p) => p.encoded_len(ctx.four_octet_as),
            AttrValue::NextHop(_)
            | AttrValue::MultiExitDisc(_)
            | AttrValue::LocalPref(_)
            | AttrValue::OriginatorId(_)
            | AttrValue::OnlyToCustomer(_) => 4,
            AttrValue::AtomicAggregate => 0,
            AttrValue::Aggregator(_) => {
                if ctx.four_octet_as {
                    8
                } else {
                    6
                }
            }
            AttrValue::Communities(v) => 4 * v.len(),
            AttrValue::ClusterList(v) => 4 * v.len(),
            AttrValue::MpReach(m) => {
                let ap = ctx.add_path.contains(m.afi_safi);
                5 + m.next_hop.len() + nlri_list_len(&m.nlri, ap) + m.opaque_nlri.len()
            }
            AttrValue::MpUnreach(m) => {
                let ap = ctx.add_path.contains(m.afi_safi);
                3 + nlri_list_len(&m.withdrawn, ap) + m.opaque_nlri.len()
            }
            AttrValue::ExtendedCommunities(v) => 8 * v.len(),
            AttrValue::As4Path(p) => p.encoded_len(true),
            AttrValue::As4Aggregator(_) => 8,
            AttrValue::LargeCommunities(v) => 12 * v.len(),
            AttrValue::Unknown { bytes, .. } => bytes.len(),
        }
    }

    /// Appends the value (without flags/type/length).
    pub fn encode(&self, ctx: &EncodeCtx, out: &mut impl BufMut) -> Result<(), EncodeError> {
        match self {
            AttrValue::Origin(o) => out.put_u8(o.to_u8()),
            AttrValue::AsPath(p) => p.encode(ctx.four_octet_as, out)?,
            AttrValue::NextHop(a) | AttrValue::OriginatorId(a) => out.put_slice(&a.octets()),
            AttrValue::MultiExitDisc(v) | AttrValue::LocalPref(v) | AttrValue::OnlyToCustomer(v) => {
                out.put_u32(*v)
            }
            AttrValue::AtomicAggregate => {}
            AttrValue::Aggregator(a) => {
                if ctx.four_octet_as {
                    out.put_u32(a.asn);
                } else {
                    out.put_u16(if a.asn > 0xffff {
                        Asn::AS_TRANS.get() as u16
                    } else {
                        a.asn as u16
                    });
                }
                out.put_slice(&a.address.octets());
            }
            AttrValue::Communities(v) => v.iter().for_each(|c| out.put_u32(c.0)),
            AttrValue::ClusterList(v) => v.iter().for_each(|c| out.put_slice(&c.octets())),
            AttrValue::MpReach(m) => {
                out.put_u16(m.afi_safi.afi.0);
                out.put_u8(m.afi_safi.safi.0);
                out.put_u8(
                    u8::try_from(m.next_hop.len())
                        .map_err(|_| EncodeError::FieldTooLong("mp_reach next hop"))?,
                );
                m.next_hop.encode(out);
                out.put_u8(0);
                encode_mp_nlri(m.afi_safi, &m.nlri, ctx, out)?;
                out.put_slice(&m.opaque_nlri);
            }
            AttrValue::MpUnreach(m) => {
                out.put_u16(m.afi_safi.afi.0);
                out.put_u8(m.afi_safi.safi.0);
                encode_mp_nlri(m.afi_safi, &m.withdrawn, ctx, out)?;
                out.put_slice(&m.opaque_nlri);
            }
            AttrValue::ExtendedCommunities(v) => v.iter().for_each(|c| out.put_slice(&c.0)),
            AttrValue::As4Path(p) => p.encode(true, out)?,
            AttrValue::As4Aggregator(a) => {
                out.put_u32(a.asn);
                out.put_slice(&a.address.octets());
            }
            AttrValue::LargeCommunities(v) => v.iter().for_each(|c| {
                out.put_u32(c.global_admin);
                out.put_u32(c.local_data_1);
                out.put_u32(c.local_data_2);
            }),
            AttrValue::Unknown { bytes, .. } => out.put_slice(bytes),
        }
        Ok(())
    }
}

fn encode_mp_nlri(
    f: AfiSafi,
    list: &[Nlri],
    ctx: &EncodeCtx,
    out: &mut impl BufMut,
) -> Result<(), EncodeError> {
    if list.iter().any(|n| n.prefix.afi() != f.afi) {
        return Err(EncodeError::InvalidValue(
            "prefix family differs from the MP attribute AFI",
        ));
    }
    encode_nlri_list(list, ctx.add_path.contains(f), out);
    Ok(())
}

/// A path attribute: the flags octet as received (or chosen) and the value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PathAttribute {
    /// Flags octet, including the Extended Length bit and the low 4 bits as received. On
    /// encode, Extended Length is added when the value exceeds 255 octets.
    pub flags: u8,
    /// Value.
    pub value: AttrValue,
}

impl PathAttribute {
    /// An attribute with the standard flags for its type (unknown types: optional transitive).
    pub fn new(value: AttrValue) -> PathAttribute {
        let flags = standard_flags(value.type_code()).unwrap_or(flags::OPTIONAL | flags::TRANSITIVE);
        PathAttribute { flags, value }
    }

    /// Type code.
    pub fn type_code(&self) -> u8 {
        self.value.type_code()
    }

    /// Optional bit.
    pub fn is_optional(&self) -> bool {
        self.flags & flags::OPTIONAL != 0
    }

    /// Transitive bit.
    pub fn is_transitive(&self) -> bool {
        self.flags & flags::TRANSITIVE != 0
    }

    /// Partial bit.
    pub fn is_partial(&self) -> bool {
        self.flags & flags::PARTIAL != 0
    }

    /// The attribute as it should be passed on to other peers, for attributes this crate does not
    /// know. RFC 4271 section 5: "Unrecognized non-transitive optional attributes MUST be quietly
    /// ignored and not passed along to other BGP peers" (`None`); "If a path with an
    /// unrecognized transitive optional attribute is accepted and passed to other BGP peers,
    /// then the unrecognized transitive optional attribute of that path MUST be passed, along
    /// with the path, to other BGP peers with the Partial bit in the Attribute Flags octet set
    /// to 1". Known attributes are returned unchanged (their own rules apply).
    pub fn for_propagation(&self) -> Option<PathAttribute> {
        match self.value {
            AttrValue::Unknown { .. } if !self.is_transitive() => None,
            AttrValue::Unknown { .. } => Some(PathAttribute {
                flags: self.flags | flags::PARTIAL,
                value: self.value.clone(),
            }),
            _ => Some(self.clone()),
        }
    }

    /// Encoded size (header and value) under `ctx`.
    pub fn encoded_len(&self, ctx: &EncodeCtx) -> usize {
        let v = self.value.encoded_len(ctx);
        v + if v > 255 || self.flags & flags::EXTENDED_LENGTH != 0 {
            4
        } else {
            3
        }
    }

    /// Appends flags, type, length and value.
    pub fn encode(&self, ctx: &EncodeCtx, out: &mut BytesMut) -> Result<(), EncodeError> {
        let len = self.value.encoded_len(ctx);
        let mut f = self.flags;
        if len > 255 {
            f |= flags::EXTENDED_LENGTH;
        }
        out.put_u8(f);
        out.put_u8(self.type_code());
        if f & flags::EXTENDED_LENGTH != 0 {
            out.put_u16(u16::try_from(len).map_err(|_| EncodeError::FieldTooLong("path attribute"))?);
        } else {
            out.put_u8(len as u8);
        }
        let before = out.len();
        self.value.encode(ctx, out)?;
        debug_assert_eq!(out.len() - before, len);
        Ok(())
    }
}

/// The Optional and Transitive bits a known attribute must carry (RFC 4271 section 5 and the
/// defining RFCs), `None` for types this crate does not know.
pub fn standard_flags(t: u8) -> Option<u8> {
    use type_code as tc;
    const WK: u8 = flags::TRANSITIVE;
    const OT: u8 = flags::OPTIONAL | flags::TRANSITIVE;
    const ON: u8 = flags::OPTIONAL;
    Some(match t {
        tc::ORIGIN | tc::AS_PATH | tc::NEXT_HOP | tc::LOCAL_PREF | tc::ATOMIC_AGGREGATE => WK,
        tc::MULTI_EXIT_DISC
        | tc::ORIGINATOR_ID
        | tc::CLUSTER_LIST
        | tc::MP_REACH_NLRI
        | tc::MP_UNREACH_NLRI => ON,
        tc::AGGREGATOR
        | tc::COMMUNITIES
        | tc::EXTENDED_COMMUNITIES
        | tc::AS4_PATH
        | tc::AS4_AGGREGATOR
        | tc::LARGE_COMMUNITIES
        | tc::ONLY_TO_CUSTOMER => OT,
        _ => return None,
    })
}

/// The RFC 7606 treatment of a malformed attribute of this type (MP_* attributes are handled
/// by the caller: AFI/SAFI disable when the family is known, else session reset).
pub(crate) fn malformed_treatment(t: u8) -> Treatment {
    use type_code as tc;
    match t {
        // RFC 7606 section 7.6: ATOMIC_AGGREGATE "... SHALL be handled using the approach of
        // 'attribute discard'."; section 7.7 likewise for AGGREGATOR; RFC 6793 section 6 (as
        // updated by RFC 7606 section 7.7 / RFC 6793 errata) for AS4_PATH and AS4_AGGREGATOR.
        tc::ATOMIC_AGGREGATE | tc::AGGREGATOR | tc::AS4_PATH | tc::AS4_AGGREGATOR => {
            Treatment::AttributeDiscard
        }
        tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI => Treatment::SessionReset,
        // RFC 7606 sections 7.1-7.5, 7.8-7.10, 7.14; RFC 8092 section 6; RFC 9234 section 5:
        // "treat-as-withdraw".
        _ => Treatment::TreatAsWithdraw,
    }
}
