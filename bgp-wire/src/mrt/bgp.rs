//! Decoding the BGP content of MRT records with the crate's codec.
//!
//! - A BGP4MP message record says how its message was encoded: AS4 subtypes carry 4-octet AS numbers,
//!   RFC 8050 ADDPATH subtypes carry path identifiers ([`Bgp4mpMessage::decode_ctx`]).
//! - RIB entries of TABLE_DUMP_V2 carry a path attribute list without an UPDATE around it, always with
//!   4-octet AS numbers, and with MP_REACH_NLRI abbreviated to next-hop length and next hop (RFC 6396
//!   section 4.3.4). [`RibEntry::decode_attributes`] expands the abbreviation to the RFC 4760 layout
//!   before decoding; [`encode_rib_attributes`] writes it back abbreviated.

use bytes::{BufMut, Bytes, BytesMut};

use super::bgp4mp::Bgp4mpMessage;
use super::io::ReadRecord;
use super::record::MrtBody;
use super::table_dump_v2::{RibEntry, RibRecord};
use super::{Bgp4mp, MrtError, MrtErrorKind};
use crate::attr::{flags, type_code};
use crate::parse::Rd;
use crate::{
    AddPathMap, Afi, AfiSafi, AttributeError, DecodeCtx, DecodeError, EncodeCtx, EncodeError, Message,
    PathAttribute, Safi, Update, encode_attributes,
};

/// The families an RFC 8050 ADDPATH subtype applies to: every family this crate decodes NLRI for.
fn all_add_path() -> AddPathMap {
    AddPathMap::with([
        AfiSafi::IPV4_UNICAST,
        AfiSafi::IPV6_UNICAST,
        AfiSafi::new(Afi::IPV4, Safi::MULTICAST),
        AfiSafi::new(Afi::IPV6, Safi::MULTICAST),
    ])
}

impl Bgp4mpMessage {
    /// How the message was encoded: 4-octet AS numbers for AS4 subtypes, path identifiers for ADDPATH
    /// subtypes (RFC 8050 section 3), and extended messages allowed (a collector records what it got).
    pub fn decode_ctx(&self) -> DecodeCtx {
        DecodeCtx {
            four_octet_as: self.as4,
            add_path: if self.add_path {
                all_add_path()
            } else {
                AddPathMap::new()
            },
            extended_message: true,
        }
    }

    /// The encode context that writes the message back as it was recorded.
    pub fn encode_ctx(&self) -> EncodeCtx {
        self.decode_ctx().mirror()
    }

    /// Decodes the message with [`Self::decode_ctx`]. RFC 7606 errors that do not reset a session are
    /// returned beside the message rather than applied; offsets are relative to the message start.
    pub fn decode(&self) -> Result<(Message, Vec<AttributeError>), DecodeError> {
        Message::decode_with_errors(&self.message, &self.decode_ctx())
    }

    /// Octets between the start of the record body (after the microsecond timestamp of `_ET` records)
    /// and the BGP message: the AS numbers, interface index, address family and both addresses.
    pub fn message_start(&self) -> usize {
        let as_len = if self.as4 { 8 } else { 4 };
        let ip_len = if self.peer.peer_ip.is_ipv6() { 32 } else { 8 };
        as_len + 4 + ip_len
    }
}

impl ReadRecord {
    /// Byte offset in the stream of the BGP message of a BGP4MP message record.
    pub fn message_offset(&self) -> Option<u64> {
        let MrtBody::Bgp4mp(Bgp4mp::Message(m)) = &self.record.body else {
            return None;
        };
        let et = if self.record.microseconds.is_some() { 4 } else { 0 };
        Some(self.offset + (super::HEADER_LEN + et + m.message_start()) as u64)
    }

    /// Decodes the BGP message of a BGP4MP message record (`None` for other records); a failure is an
    /// [`MrtError`] naming this record and the absolute offset of the bad field.
    pub fn decode_message(&self) -> Option<Result<(Message, Vec<AttributeError>), MrtError>> {
        let MrtBody::Bgp4mp(Bgp4mp::Message(m)) = &self.record.body else {
            return None;
        };
        let base = self.message_offset().unwrap_or(self.offset);
        Some(
            m.decode()
                .map_err(|e| MrtError::new(self.number, base + e.offset as u64, MrtErrorKind::Bgp(e))),
        )
    }
}

impl RibRecord {
    /// The family of the record's prefix.
    pub fn afi_safi(&self) -> AfiSafi {
        let afi = if self.prefix.addr.is_ipv6() {
            Afi::IPV6
        } else {
            Afi::IPV4
        };
        let safi = if self.multicast {
            Safi::MULTICAST
        } else {
            Safi::UNICAST
        };
        AfiSafi::new(afi, safi)
    }
}

/// The context RIB entry attributes are written in: 4-octet AS numbers (RFC 6396 section 4.3.4).
pub fn rib_decode_ctx() -> DecodeCtx {
    DecodeCtx {
        four_octet_as: true,
        add_path: AddPathMap::new(),
        extended_message: true,
    }
}

impl RibEntry {
    /// Decodes the entry's path attributes. `family` is the record's ([`RibRecord::afi_safi`]); it fills
    /// in the AFI/SAFI that the abbreviated MP_REACH_NLRI leaves out. RFC 7606 errors that do not reset a
    /// session are returned beside the attributes (a missing well-known attribute is not one here); offsets are relative to the attribute list (an error
    /// after an abbreviated MP_REACH_NLRI may be off by the 4 octets the expansion inserts). Optional and
    /// Transitive bits that contradict an attribute's definition are tolerated and kept as written (BIRD 2
    /// writes NEXT_HOP with flags 0 in its dumps), so the attributes re-encode byte-exact.
    pub fn decode_attributes(
        &self,
        family: AfiSafi,
    ) -> Result<(Vec<PathAttribute>, Vec<AttributeError>), DecodeError> {
        // Decoded in place (no copy) unless the list has to be rewritten first.
        let (list, fixed_flags) =
            prepare(&self.attributes, family).unwrap_or_else(|| (self.attributes.clone(), Vec::new()));
        // The attribute list of an UPDATE is measured by two octets.
        if u16::try_from(list.len()).is_err() {
            return Err(DecodeError::new(
                0,
                crate::DecodeErrorKind::MalformedAttributeList,
            ));
        }
        let mut update = Update::default();
        let mut errors = Vec::new();
        crate::update::decode_attributes(Rd::new(&list), &rib_decode_ctx(), &mut update, &mut errors)?;
        // A RIB entry is not an UPDATE: RFC 6396 asks for no mandatory attributes (GoBGP's dumps of
        // locally originated routes have no AS_PATH), so a missing well-known attribute is not an error.
        let errors = errors
            .into_iter()
            .filter(|e| !matches!(e.kind, crate::DecodeErrorKind::MissingWellKnownAttribute(_)))
            .collect();
        let mut attributes = update.attributes;
        for a in &mut attributes {
            if let Some((_, f)) = fixed_flags.iter().find(|(t, _)| *t == a.type_code()) {
                a.flags = *f;
            }
        }
        Ok((attributes, errors))
    }
}

/// Walks an attribute list; calls `f(flags, type, header_len, value_range)` for each well-framed attribute
/// and stops at the first that is not (the decoder reports it).
fn walk_attributes(attrs: &[u8], mut f: impl FnMut(u8, u8, std::ops::Range<usize>, std::ops::Range<usize>)) {
    let mut pos = 0;
    while pos + 3 <= attrs.len() {
        let (fl, t) = (attrs[pos], attrs[pos + 1]);
        let (hdr, len) = if fl & flags::EXTENDED_LENGTH != 0 {
            if pos + 4 > attrs.len() {
                return;
            }
            (
                4,
                usize::from(u16::from_be_bytes([attrs[pos + 2], attrs[pos + 3]])),
            )
        } else {
            (3, usize::from(attrs[pos + 2]))
        };
        let start = pos + hdr;
        if start + len > attrs.len() {
            return;
        }
        f(fl, t, pos..start, start..start + len);
        pos = start + len;
    }
}

/// Prepares a RIB entry's attribute list for the UPDATE decoder:
///
/// - an abbreviated MP_REACH_NLRI (next-hop length, next hop) becomes the RFC 4760 layout (AFI, SAFI,
///   next-hop length, next hop, reserved, no NLRI). A value that is not exactly `1 + length` octets is left
///   alone: some writers (GoBGP) put the full RFC 4760 layout there;
/// - Optional/Transitive bits that differ from the attribute's definition are set right, and the received
///   flags are returned so they can be put back: BIRD 2 writes NEXT_HOP with flags 0 in its table dumps.
///   A RIB entry is a record of what was stored, not a message to police (RFC 7606 applies to UPDATEs).
///
/// `None` when there is nothing to change (the list is decoded as it is).
fn prepare(attrs: &Bytes, family: AfiSafi) -> Option<(Bytes, Vec<(u8, u8)>)> {
    const OT: u8 = flags::OPTIONAL | flags::TRANSITIVE;
    let mut change = false;
    walk_attributes(attrs, |fl, t, _, val| {
        let v = &attrs[val];
        change |= crate::attr::standard_flags(t).is_some_and(|want| fl & OT != want)
            || (t == type_code::MP_REACH_NLRI && !v.is_empty() && usize::from(v[0]) + 1 == v.len());
    });
    if !change {
        return None;
    }
    let mut out = Vec::with_capacity(attrs.len() + 5);
    let mut fixed = Vec::new();
    let mut pos = 0;
    let mut expanded = false;
    walk_attributes(attrs, |fl, t, hdr, val| {
        pos = val.end;
        let v = &attrs[val.clone()];
        let mut f = fl;
        if let Some(want) = crate::attr::standard_flags(t)
            && fl & OT != want
        {
            f = (fl & !OT) | want;
            fixed.push((t, fl));
        }
        if t == type_code::MP_REACH_NLRI && !expanded && !v.is_empty() && usize::from(v[0]) + 1 == v.len() {
            expanded = true;
            let new_len = v.len() + 4;
            if new_len > 255 || f & flags::EXTENDED_LENGTH != 0 {
                out.extend_from_slice(&[f | flags::EXTENDED_LENGTH, t]);
                out.extend_from_slice(&(new_len as u16).to_be_bytes());
            } else {
                out.extend_from_slice(&[f, t, new_len as u8]);
            }
            out.extend_from_slice(&family.afi.0.to_be_bytes());
            out.push(family.safi.0);
            out.extend_from_slice(v);
            out.push(0); // reserved
            return;
        }
        out.push(f);
        out.extend_from_slice(&attrs[hdr.start + 1..val.end]);
    });
    // A malformed tail is passed on as it is, for the decoder to report.
    out.extend_from_slice(&attrs[pos..]);
    Some((Bytes::from(out), fixed))
}

/// Encodes path attributes as a RIB entry holds them (RFC 6396 section 4.3.4): 4-octet AS numbers, and
/// an MP_REACH_NLRI without NLRI reduced to next-hop length and next hop (the prefix is the record's).
/// An MP_REACH_NLRI that carries NLRI is written whole, as some writers do, so such entries round-trip.
pub fn encode_rib_attributes(attrs: &[PathAttribute], out: &mut BytesMut) -> Result<(), EncodeError> {
    let ctx = EncodeCtx {
        four_octet_as: true,
        add_path: AddPathMap::new(),
        extended_message: true,
    };
    let mut full = BytesMut::new();
    encode_attributes(attrs, &ctx, &mut full)?;
    let mut pos = 0;
    let mut err = None;
    walk_attributes(&full, |fl, t, hdr, val| {
        out.put_slice(&full[pos..hdr.start]);
        pos = val.end;
        let v = &full[val.clone()];
        // AFI (2), SAFI (1), next-hop length, next hop, reserved (1), then NLRI: only an MP_REACH_NLRI
        // without NLRI is abbreviated; one that carries NLRI (as GoBGP writes them) stays whole.
        let abbreviate = v.len() >= 4 && v.len() == 4 + usize::from(v[3]) + 1;
        if t != type_code::MP_REACH_NLRI || !abbreviate {
            out.put_slice(&full[hdr.start..val.end]);
            return;
        }
        let nh = &v[4..(4 + usize::from(v[3])).min(v.len())];
        let alen = 1 + nh.len();
        out.put_u8(fl);
        out.put_u8(t);
        if fl & flags::EXTENDED_LENGTH != 0 {
            out.put_u16(alen as u16);
        } else {
            // nh.len() <= 255 (it was measured by one octet), so alen <= 256.
            if alen > 255 {
                err = Some(EncodeError::FieldTooLong("next hop"));
            }
            out.put_u8(alen as u8);
        }
        out.put_u8(nh.len() as u8);
        out.put_slice(nh);
    });
    out.put_slice(&full[pos..]);
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
