//! TABLE_DUMP_V2 records: a RIB snapshot as a PEER_INDEX_TABLE followed by one record per prefix
//! (RFC 6396 section 4.3, ADD-PATH subtypes from RFC 8050 section 4).
//!
//! RIB entries keep their path attributes as the record's bytes. Those attributes are encoded with 4-octet
//! AS numbers and an abbreviated MP_REACH_NLRI holding only the next-hop length and next hop (RFC 6396
//! section 4.3.4); `RibEntry::decode_attributes` decodes them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes};

use super::cursor::{Cursor, PResult, ParseError};
use super::error::{MrtEncodeError, MrtErrorKind};

/// PEER_INDEX_TABLE (RFC 6396 section 4.3.1).
pub const PEER_INDEX_TABLE: u16 = 1;
/// RIB_IPV4_UNICAST (RFC 6396 section 4.3.2).
pub const RIB_IPV4_UNICAST: u16 = 2;
/// RIB_IPV4_MULTICAST (RFC 6396 section 4.3.2).
pub const RIB_IPV4_MULTICAST: u16 = 3;
/// RIB_IPV6_UNICAST (RFC 6396 section 4.3.2).
pub const RIB_IPV6_UNICAST: u16 = 4;
/// RIB_IPV6_MULTICAST (RFC 6396 section 4.3.2).
pub const RIB_IPV6_MULTICAST: u16 = 5;
/// RIB_GENERIC (RFC 6396 section 4.3.3); kept as bytes by this crate.
pub const RIB_GENERIC: u16 = 6;
/// RIB_IPV4_UNICAST_ADDPATH (RFC 8050 section 4).
pub const RIB_IPV4_UNICAST_ADDPATH: u16 = 8;
/// RIB_IPV4_MULTICAST_ADDPATH (RFC 8050 section 4).
pub const RIB_IPV4_MULTICAST_ADDPATH: u16 = 9;
/// RIB_IPV6_UNICAST_ADDPATH (RFC 8050 section 4).
pub const RIB_IPV6_UNICAST_ADDPATH: u16 = 10;
/// RIB_IPV6_MULTICAST_ADDPATH (RFC 8050 section 4).
pub const RIB_IPV6_MULTICAST_ADDPATH: u16 = 11;
/// RIB_GENERIC_ADDPATH (RFC 8050 section 4); kept as bytes by this crate.
pub const RIB_GENERIC_ADDPATH: u16 = 12;

/// A TABLE_DUMP_V2 record body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum TableDumpV2 {
    /// The peer table that the following RIB records index into.
    PeerIndexTable(PeerIndexTable),
    /// The paths for one IPv4/IPv6 unicast/multicast prefix.
    Rib(RibRecord),
    /// A subtype this crate does not decode (RIB_GENERIC and unknown ones), kept as bytes.
    Other {
        /// The subtype.
        subtype: u16,
        /// The record body.
        data: Bytes,
    },
}

/// The collector's peers (RFC 6396 section 4.3.1).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Collector BGP ID                         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |       View Name Length        |     View Name (variable)      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Peer Count           |    Peer Entries (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PeerIndexTable {
    /// The collector's BGP identifier.
    pub collector_bgp_id: Ipv4Addr,
    /// The view name, as bytes (RFC 6396 does not promise UTF-8); often empty.
    pub view_name: Bytes,
    /// The peers, indexed from 0 by RIB entries.
    pub peers: Vec<PeerEntry>,
}

/// One peer of a [`PeerIndexTable`].
///
/// ```text
/// +-+-+-+-+-+-+-+-+
/// |   Peer Type   |   bit 7 (0x01): IPv6 address; bit 6 (0x02): 4-octet AS
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Peer BGP ID                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   Peer IP Address (variable)                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Peer AS (variable)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PeerEntry {
    /// The peer's BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// The peer's address; its family sets the IPv6 bit of the peer type.
    pub ip: IpAddr,
    /// The peer's AS.
    pub asn: u32,
    /// Whether the AS is written in 4 octets (the AS4 bit of the peer type).
    pub as4: bool,
}

const PEER_TYPE_IPV6: u8 = 0x01;
const PEER_TYPE_AS4: u8 = 0x02;

/// A prefix as written in a RIB record: the address bits beyond `len` that share the last octet are kept
/// as they were, so the record re-encodes byte-exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RibPrefix {
    /// The address; octets past the prefix length are zero.
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub len: u8,
}

impl std::fmt::Display for RibPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// All paths for one prefix (RFC 6396 section 4.3.2, RFC 8050 section 4).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Sequence Number                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Prefix Length |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Prefix (variable)                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Entry Count           |  RIB Entries (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RibRecord {
    /// Multicast rather than unicast SAFI.
    pub multicast: bool,
    /// An RFC 8050 ADDPATH subtype: every entry carries a path identifier.
    pub add_path: bool,
    /// The record's sequence number.
    pub sequence: u32,
    /// The prefix; its family selects the IPv4 or IPv6 subtype.
    pub prefix: RibPrefix,
    /// One entry per path.
    pub entries: Vec<RibEntry>,
}

/// One path of a [`RibRecord`] (RFC 6396 section 4.3.4, RFC 8050 section 4.1).
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer Index            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Originated Time                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Path Identifier (ADDPATH subtypes)            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Attribute Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    BGP Attributes... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RibEntry {
    /// Index into the [`PeerIndexTable`].
    pub peer_index: u16,
    /// When the route was received (seconds since the epoch).
    pub originated_time: u32,
    /// The path identifier; present exactly when the record is an ADDPATH subtype.
    pub path_id: Option<u32>,
    /// The path attributes as written (4-octet AS, abbreviated MP_REACH_NLRI).
    pub attributes: Bytes,
}

impl RibRecord {
    /// The record subtype for this family, SAFI and ADD-PATH flag.
    pub fn subtype(&self) -> u16 {
        let v6 = self.prefix.addr.is_ipv6();
        match (v6, self.multicast, self.add_path) {
            (false, false, false) => RIB_IPV4_UNICAST,
            (false, true, false) => RIB_IPV4_MULTICAST,
            (true, false, false) => RIB_IPV6_UNICAST,
            (true, true, false) => RIB_IPV6_MULTICAST,
            (false, false, true) => RIB_IPV4_UNICAST_ADDPATH,
            (false, true, true) => RIB_IPV4_MULTICAST_ADDPATH,
            (true, false, true) => RIB_IPV6_UNICAST_ADDPATH,
            (true, true, true) => RIB_IPV6_MULTICAST_ADDPATH,
        }
    }
}

/// (ipv6, multicast, add_path) for a RIB subtype this crate decodes.
fn rib_flags(subtype: u16) -> Option<(bool, bool, bool)> {
    Some(match subtype {
        RIB_IPV4_UNICAST => (false, false, false),
        RIB_IPV4_MULTICAST => (false, true, false),
        RIB_IPV6_UNICAST => (true, false, false),
        RIB_IPV6_MULTICAST => (true, true, false),
        RIB_IPV4_UNICAST_ADDPATH => (false, false, true),
        RIB_IPV4_MULTICAST_ADDPATH => (false, true, true),
        RIB_IPV6_UNICAST_ADDPATH => (true, false, true),
        RIB_IPV6_MULTICAST_ADDPATH => (true, true, true),
        _ => return None,
    })
}

impl TableDumpV2 {
    /// The record subtype.
    pub fn subtype(&self) -> u16 {
        match self {
            TableDumpV2::PeerIndexTable(_) => PEER_INDEX_TABLE,
            TableDumpV2::Rib(r) => r.subtype(),
            TableDumpV2::Other { subtype, .. } => *subtype,
        }
    }

    pub(crate) fn parse(subtype: u16, c: &mut Cursor) -> PResult<Self> {
        if subtype == PEER_INDEX_TABLE {
            return parse_peer_index_table(c).map(TableDumpV2::PeerIndexTable);
        }
        match rib_flags(subtype) {
            Some((ipv6, multicast, add_path)) => {
                parse_rib(c, ipv6, multicast, add_path).map(TableDumpV2::Rib)
            }
            None => Ok(TableDumpV2::Other {
                subtype,
                data: c.rest(),
            }),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), MrtEncodeError> {
        match self {
            TableDumpV2::PeerIndexTable(t) => encode_peer_index_table(t, out),
            TableDumpV2::Rib(r) => encode_rib(r, out),
            TableDumpV2::Other { data, .. } => {
                out.put_slice(data);
                Ok(())
            }
        }
    }
}

fn parse_peer_index_table(c: &mut Cursor) -> PResult<PeerIndexTable> {
    let collector_bgp_id = c.ipv4("collector BGP ID")?;
    let name_len = c.u16("view name length")?;
    let view_name = c.take(usize::from(name_len), "view name")?;
    let count = c.u16("peer count")?;
    // Bounded by the record: each entry is at least 11 octets, so a lying count fails on the first short read.
    let mut peers = Vec::with_capacity(usize::from(count).min(c.remaining() / 11));
    for _ in 0..count {
        let at = c.offset();
        let peer_type = c.u8("peer type")?;
        if peer_type & !(PEER_TYPE_IPV6 | PEER_TYPE_AS4) != 0 {
            // Only bits 6 and 7 are defined (RFC 6396 section 4.3.1); refusing the others keeps every
            // decoded table re-encodable byte-exact.
            return Err(ParseError {
                offset: at,
                kind: MrtErrorKind::InvalidPeerType(peer_type),
            });
        }
        let bgp_id = c.ipv4("peer BGP ID")?;
        let ip = c.ip(peer_type & PEER_TYPE_IPV6 != 0, "peer IP address")?;
        let as4 = peer_type & PEER_TYPE_AS4 != 0;
        let asn = if as4 {
            c.u32("peer AS")?
        } else {
            u32::from(c.u16("peer AS")?)
        };
        peers.push(PeerEntry { bgp_id, ip, asn, as4 });
    }
    c.finish()?;
    Ok(PeerIndexTable {
        collector_bgp_id,
        view_name,
        peers,
    })
}

fn encode_peer_index_table(t: &PeerIndexTable, out: &mut Vec<u8>) -> Result<(), MrtEncodeError> {
    out.put_slice(&t.collector_bgp_id.octets());
    let name_len = u16::try_from(t.view_name.len()).map_err(|_| MrtEncodeError::TooLong {
        field: "view name",
        length: t.view_name.len(),
    })?;
    out.put_u16(name_len);
    out.put_slice(&t.view_name);
    let count = u16::try_from(t.peers.len()).map_err(|_| MrtEncodeError::TooLong {
        field: "peer entries",
        length: t.peers.len(),
    })?;
    out.put_u16(count);
    for p in &t.peers {
        let mut peer_type = 0;
        if p.ip.is_ipv6() {
            peer_type |= PEER_TYPE_IPV6;
        }
        if p.as4 {
            peer_type |= PEER_TYPE_AS4;
        }
        out.put_u8(peer_type);
        out.put_slice(&p.bgp_id.octets());
        match p.ip {
            IpAddr::V4(a) => out.put_slice(&a.octets()),
            IpAddr::V6(a) => out.put_slice(&a.octets()),
        }
        if p.as4 {
            out.put_u32(p.asn);
        } else {
            out.put_u16(u16::try_from(p.asn).map_err(|_| MrtEncodeError::AsTooLarge(p.asn))?);
        }
    }
    Ok(())
}

/// Reads a length-prefixed prefix of the given family (RFC 4271 section 4.3 NLRI layout, no path id).
pub(crate) fn parse_prefix(c: &mut Cursor, ipv6: bool) -> PResult<RibPrefix> {
    let at = c.offset();
    let len = c.u8("prefix length")?;
    let max = if ipv6 { 128 } else { 32 };
    if len > max {
        return Err(ParseError {
            offset: at,
            kind: MrtErrorKind::InvalidPrefixLength { length: len, max },
        });
    }
    let bytes = c.take(usize::from(len).div_ceil(8), "prefix")?;
    let addr = if ipv6 {
        let mut o = [0u8; 16];
        o[..bytes.len()].copy_from_slice(&bytes);
        IpAddr::V6(Ipv6Addr::from(o))
    } else {
        let mut o = [0u8; 4];
        o[..bytes.len()].copy_from_slice(&bytes);
        IpAddr::V4(Ipv4Addr::from(o))
    };
    Ok(RibPrefix { addr, len })
}

pub(crate) fn encode_prefix(p: &RibPrefix, out: &mut Vec<u8>) -> Result<(), MrtEncodeError> {
    let n = usize::from(p.len).div_ceil(8);
    out.put_u8(p.len);
    match p.addr {
        IpAddr::V4(a) if p.len <= 32 => out.put_slice(&a.octets()[..n]),
        IpAddr::V6(a) if p.len <= 128 => out.put_slice(&a.octets()[..n]),
        _ => return Err(MrtEncodeError::PrefixFamily),
    }
    Ok(())
}

fn parse_rib(c: &mut Cursor, ipv6: bool, multicast: bool, add_path: bool) -> PResult<RibRecord> {
    let sequence = c.u32("sequence number")?;
    let prefix = parse_prefix(c, ipv6)?;
    let count = c.u16("entry count")?;
    // Each entry is at least 8 octets: never reserve more than the record can hold.
    let mut entries = Vec::with_capacity(usize::from(count).min(c.remaining() / 8));
    for _ in 0..count {
        let peer_index = c.u16("peer index")?;
        let originated_time = c.u32("originated time")?;
        let path_id = if add_path {
            Some(c.u32("path identifier")?)
        } else {
            None
        };
        let attr_len = c.u16("attribute length")?;
        let attributes = c.take(usize::from(attr_len), "attributes")?;
        entries.push(RibEntry {
            peer_index,
            originated_time,
            path_id,
            attributes,
        });
    }
    c.finish()?;
    Ok(RibRecord {
        multicast,
        add_path,
        sequence,
        prefix,
        entries,
    })
}

fn encode_rib(r: &RibRecord, out: &mut Vec<u8>) -> Result<(), MrtEncodeError> {
    out.put_u32(r.sequence);
    encode_prefix(&r.prefix, out)?;
    let count = u16::try_from(r.entries.len()).map_err(|_| MrtEncodeError::TooLong {
        field: "rib entries",
        length: r.entries.len(),
    })?;
    out.put_u16(count);
    for e in &r.entries {
        out.put_u16(e.peer_index);
        out.put_u32(e.originated_time);
        match (r.add_path, e.path_id) {
            (true, Some(id)) => out.put_u32(id),
            (true, None) => out.put_u32(0),
            (false, _) => {}
        }
        let len = u16::try_from(e.attributes.len()).map_err(|_| MrtEncodeError::TooLong {
            field: "attributes",
            length: e.attributes.len(),
        })?;
        out.put_u16(len);
        out.put_slice(&e.attributes);
    }
    Ok(())
}
