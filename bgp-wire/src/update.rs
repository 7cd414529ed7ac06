//! UPDATE message (RFC 4271 section 4.3) with RFC 7606 revised error handling, End-of-RIB
//! (RFC 4724 section 2), and cheap encoding from pre-encoded parts for update groups.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use std::net::{IpAddr, Ipv4Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::aspath::AsPath;
use crate::attr::{
    self, AttrValue, MpNextHop, MpReach, MpUnreach, Origin, PathAttribute, flags, malformed_treatment,
    standard_flags, type_code,
};
use crate::community::{Community, ExtendedCommunity, LargeCommunity};
use crate::ctx::{DecodeCtx, EncodeCtx};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Treatment};

pub use crate::builder::{UpdateBuilder, encode_attributes, encode_update_parts, update_parts_len};
use crate::header::HEADER_LEN;
use crate::nlri::{Nlri, decode_nlri_into, encode_nlri_fast, nlri_list_len};
use crate::parse::{Rd, patch_u16};
use crate::types::{Afi, AfiSafi};

/// An error found in an UPDATE that did not require a session reset (RFC 7606): see
/// [`DecodeError::treatment`].
pub type AttributeError = DecodeError;

/// An UPDATE message.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Update {
    /// Withdrawn Routes (IPv4 unicast).
    pub withdrawn: Vec<Nlri>,
    /// Path attributes in received order.
    pub attributes: Vec<PathAttribute>,
    /// NLRI field (IPv4 unicast).
    pub nlri: Vec<Nlri>,
}

/// The most severe treatment among `errors` (RFC 7606 section 3 (j)), `None` if there are none.
pub fn max_treatment(errors: &[AttributeError]) -> Option<Treatment> {
    errors.iter().map(|e| e.treatment).max()
}

impl Update {
    /// The first attribute with this type code.
    pub fn attr(&self, type_code: u8) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == type_code)
    }

    /// The first attribute value with this type code.
    pub fn value(&self, type_code: u8) -> Option<&AttrValue> {
        self.attr(type_code).map(|a| &a.value)
    }

    /// ORIGIN, if present.
    pub fn origin(&self) -> Option<Origin> {
        self.attributes.iter().find_map(|a| match a.value {
            AttrValue::Origin(o) => Some(o),
            _ => None,
        })
    }

    /// AS_PATH, if present (iterate its segments with `as_path().segments` or its AS numbers
    /// with [`AsPath::asns`]).
    pub fn as_path(&self) -> Option<&AsPath> {
        self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::AsPath(p) => Some(p),
            _ => None,
        })
    }

    /// The next hop of the routes of `family`: NEXT_HOP for IPv4 unicast NLRI in the NLRI field,
    /// the next hop of MP_REACH_NLRI for the family it carries (RFC 4760 section 3; the global
    /// address when an IPv6 link-local one follows). `None` if the UPDATE carries none for it.
    pub fn next_hop(&self, family: AfiSafi) -> Option<IpAddr> {
        if let Some(m) = self.mp_reach().filter(|m| m.afi_safi == family) {
            return match &m.next_hop {
                MpNextHop::Ipv4(a) => Some(IpAddr::V4(*a)),
                MpNextHop::Ipv6 { global, .. } => Some(IpAddr::V6(*global)),
                _ => None,
            };
        }
        if family != AfiSafi::IPV4_UNICAST {
            return None;
        }
        self.attributes.iter().find_map(|a| match a.value {
            AttrValue::NextHop(nh) => Some(IpAddr::V4(nh)),
            _ => None,
        })
    }

    /// MULTI_EXIT_DISC, if present.
    pub fn med(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a.value {
            AttrValue::MultiExitDisc(v) => Some(v),
            _ => None,
        })
    }

    /// LOCAL_PREF, if present.
    pub fn local_pref(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a.value {
            AttrValue::LocalPref(v) => Some(v),
            _ => None,
        })
    }

    /// COMMUNITIES, empty if absent.
    pub fn communities(&self) -> &[Community] {
        self.attributes
            .iter()
            .find_map(|a| match &a.value {
                AttrValue::Communities(v) => Some(v.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// EXTENDED COMMUNITIES, empty if absent.
    pub fn extended_communities(&self) -> &[ExtendedCommunity] {
        self.attributes
            .iter()
            .find_map(|a| match &a.value {
                AttrValue::ExtendedCommunities(v) => Some(v.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// LARGE_COMMUNITY, empty if absent.
    pub fn large_communities(&self) -> &[LargeCommunity] {
        self.attributes
            .iter()
            .find_map(|a| match &a.value {
                AttrValue::LargeCommunities(v) => Some(v.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// ORIGINATOR_ID, if present.
    pub fn originator_id(&self) -> Option<Ipv4Addr> {
        self.attributes.iter().find_map(|a| match a.value {
            AttrValue::OriginatorId(v) => Some(v),
            _ => None,
        })
    }

    /// CLUSTER_LIST, empty if absent.
    pub fn cluster_list(&self) -> &[Ipv4Addr] {
        self.attributes
            .iter()
            .find_map(|a| match &a.value {
                AttrValue::ClusterList(v) => Some(v.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// MP_REACH_NLRI, if present.
    pub fn mp_reach(&self) -> Option<&MpReach> {
        self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::MpReach(m) => Some(m),
            _ => None,
        })
    }

    /// MP_UNREACH_NLRI, if present.
    pub fn mp_unreach(&self) -> Option<&MpUnreach> {
        self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::MpUnreach(m) => Some(m),
            _ => None,
        })
    }

    /// Every announced NLRI with its family: the NLRI field (IPv4 unicast) then MP_REACH_NLRI.
    pub fn announced(&self) -> impl Iterator<Item = (AfiSafi, &Nlri)> + '_ {
        let mp = self
            .mp_reach()
            .into_iter()
            .flat_map(|m| m.nlri.iter().map(move |n| (m.afi_safi, n)));
        self.nlri.iter().map(|n| (AfiSafi::IPV4_UNICAST, n)).chain(mp)
    }

    /// Every withdrawn NLRI with its family: Withdrawn Routes then MP_UNREACH_NLRI.
    pub fn withdrawals(&self) -> impl Iterator<Item = (AfiSafi, &Nlri)> + '_ {
        let mp = self.attributes.iter().flat_map(|a| {
            let (f, list): (AfiSafi, &[Nlri]) = match &a.value {
                AttrValue::MpUnreach(m) => (m.afi_safi, &m.withdrawn),
                _ => (AfiSafi::IPV4_UNICAST, &[]),
            };
            list.iter().map(move |n| (f, n))
        });
        self.withdrawn
            .iter()
            .map(|n| (AfiSafi::IPV4_UNICAST, n))
            .chain(mp)
    }

    /// RFC 4724 section 2: "For the IPv4 unicast address family, the End-of-RIB marker is an
    /// UPDATE message with the minimum length [BGP-4]. For any other address family, it is an
    /// UPDATE message that contains only the MP_UNREACH_NLRI attribute [BGP-MP] with no
    /// withdrawn routes for that <AFI, SAFI>." Returns the family if this is such a marker.
    pub fn end_of_rib(&self) -> Option<AfiSafi> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(AfiSafi::IPV4_UNICAST),
            [
                PathAttribute {
                    value: AttrValue::MpUnreach(m),
                    ..
                },
            ] if m.withdrawn.is_empty() && m.opaque_nlri.is_empty() => Some(m.afi_safi),
            _ => None,
        }
    }

    /// The End-of-RIB marker for a family (RFC 4724 section 2).
    pub fn end_of_rib_marker(family: AfiSafi) -> Update {
        if family == AfiSafi::IPV4_UNICAST {
            return Update::default();
        }
        Update {
            attributes: vec![PathAttribute::new(AttrValue::MpUnreach(MpUnreach {
                afi_safi: family,
                withdrawn: Vec::new(),
                opaque_nlri: Bytes::new(),
            }))],
            ..Update::default()
        }
    }

    /// Applies RFC 7606 "treat-as-withdraw" in place: every announced NLRI becomes a withdrawal
    /// (NLRI field into Withdrawn Routes, MP_REACH_NLRI into MP_UNREACH_NLRI) and the other
    /// attributes are dropped.
    pub fn apply_treat_as_withdraw(&mut self) {
        self.withdrawn.append(&mut self.nlri);
        let mut unreach: Vec<MpUnreach> = Vec::new();
        for a in self.attributes.drain(..) {
            let (f, list, opaque) = match a.value {
                AttrValue::MpReach(m) => (m.afi_safi, m.nlri, m.opaque_nlri),
                AttrValue::MpUnreach(m) => (m.afi_safi, m.withdrawn, m.opaque_nlri),
                _ => continue,
            };
            match unreach.iter_mut().find(|u| u.afi_safi == f) {
                Some(u) => {
                    u.withdrawn.extend(list);
                    if u.opaque_nlri.is_empty() {
                        u.opaque_nlri = opaque;
                    }
                }
                None => unreach.push(MpUnreach {
                    afi_safi: f,
                    withdrawn: list,
                    opaque_nlri: opaque,
                }),
            }
        }
        self.attributes = unreach
            .into_iter()
            .map(|u| PathAttribute::new(AttrValue::MpUnreach(u)))
            .collect();
    }

    /// RFC 6793 section 4.2.3, for routes from a peer without 4-octet AS support: replaces
    /// AS_PATH and AGGREGATOR with the values reconstructed from AS4_PATH / AS4_AGGREGATOR and
    /// removes the AS4_* attributes.
    pub fn merge_as4(&mut self) {
        let agg = self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::Aggregator(g) => Some(*g),
            _ => None,
        });
        let agg4 = self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::As4Aggregator(g) => Some(*g),
            _ => None,
        });
        let as4 = self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::As4Path(p) => Some(p.clone()),
            _ => None,
        });
        let (new_agg, ignore_as4_path) = attr::Aggregator::merge_as4(agg.as_ref(), agg4.as_ref());
        for a in &mut self.attributes {
            match &mut a.value {
                AttrValue::Aggregator(g) => {
                    if let Some(n) = new_agg {
                        *g = n;
                    }
                }
                AttrValue::AsPath(p) => {
                    if let (Some(p4), false) = (&as4, ignore_as4_path) {
                        *p = p.merge_as4(p4);
                    }
                }
                _ => {}
            }
        }
        self.attributes
            .retain(|a| !matches!(a.value, AttrValue::As4Path(_) | AttrValue::As4Aggregator(_)));
    }

    /// RFC 6793 section 4.2.2, before sending to a peer without 4-octet AS support: if AS_PATH
    /// holds AS numbers above 65535 (written as AS_TRANS on a 2-octet session), adds an AS4_PATH
    /// with the real path (confederation segments left out: "the AS_CONFED_SEQUENCE and
    /// AS_CONFED_SET path segments ... MUST NOT be carried in the AS4_PATH"); likewise
    /// AS4_AGGREGATOR for an AGGREGATOR above 65535. Existing AS4_* attributes are replaced.
    pub fn add_as4_for_two_octet_peer(&mut self) {
        self.attributes
            .retain(|a| !matches!(a.value, AttrValue::As4Path(_) | AttrValue::As4Aggregator(_)));
        let mut extra = Vec::new();
        for a in &self.attributes {
            match &a.value {
                AttrValue::AsPath(p) if p.needs_as4() => {
                    let segments = p
                        .segments
                        .iter()
                        .filter(|s| !s.kind.is_confed())
                        .cloned()
                        .collect();
                    extra.push(PathAttribute::new(AttrValue::As4Path(crate::aspath::AsPath {
                        segments,
                        four_octet_wire: true,
                    })));
                }
                AttrValue::Aggregator(g) if g.asn > 0xffff => {
                    extra.push(PathAttribute::new(AttrValue::As4Aggregator(*g)));
                }
                _ => {}
            }
        }
        self.attributes.extend(extra);
    }

    /// Decodes an UPDATE body (after the 19-byte header), applying RFC 7606: returns the UPDATE
    /// without the malformed attributes, plus the errors that did not need a session reset.
    /// If the most severe of them is `TreatAsWithdraw`, the caller must treat every announced
    /// NLRI as withdrawn (see [`Update::apply_treat_as_withdraw`]). `Err` means session reset or
    /// AFI/SAFI disable. Error offsets are relative to `body`.
    pub fn decode_with_errors(
        body: &Bytes,
        ctx: &DecodeCtx,
    ) -> Result<(Update, Vec<AttributeError>), DecodeError> {
        Update::decode_rd(Rd::new(body), ctx, 0)
    }

    /// Decodes an UPDATE body and applies the RFC 7606 outcome: malformed attributes that
    /// allow "attribute discard" are dropped, and "treat-as-withdraw" turns the UPDATE into
    /// the withdrawal of its routes. Use [`Update::decode_with_errors`] to see the errors.
    pub fn decode(body: &Bytes, ctx: &DecodeCtx) -> Result<Update, DecodeError> {
        let (mut u, errors) = Update::decode_with_errors(body, ctx)?;
        if max_treatment(&errors) == Some(Treatment::TreatAsWithdraw) {
            u.apply_treat_as_withdraw();
        }
        Ok(u)
    }

    pub(crate) fn decode_rd(
        mut r: Rd<'_>,
        ctx: &DecodeCtx,
        hdr: usize,
    ) -> Result<(Update, Vec<AttributeError>), DecodeError> {
        // RFC 4271 section 6.1: an UPDATE shorter than 23 octets has a bad length.
        if r.remaining() < 4 {
            let len = u16::try_from(HEADER_LEN + r.remaining()).unwrap_or(u16::MAX);
            return Err(DecodeError::new(hdr + 16, DecodeErrorKind::BadMessageLength(len)));
        }
        // RFC 4271 section 6.3: "If the Withdrawn Routes Length or Total Attribute Length is too
        // large (i.e., if Withdrawn Routes Length + Total Attribute Length + 23 exceeds the
        // message Length), then the Error Subcode MUST be set to Malformed Attribute List."
        let mal =
            |s: crate::parse::Short| DecodeError::new(s.offset, DecodeErrorKind::MalformedAttributeList);
        let wlen = usize::from(r.u16().map_err(mal)?);
        let w = r.take(wlen).map_err(mal)?;
        let alen = usize::from(r.u16().map_err(mal)?);
        let a = r.take(alen).map_err(mal)?;
        let n = r.rest();
        let mut u = Update::default();
        // RFC 7606 section 5.3: errors in the Withdrawn Routes or NLRI fields are handled with
        // "session reset" (an IPv4 unicast family cannot be disabled here).
        let v4 = AfiSafi::IPV4_UNICAST;
        let ap4 = ctx.add_path.contains(v4);
        u.withdrawn.reserve(w.remaining() / 4);
        decode_nlri_into(w.slice(), Afi::IPV4, ap4, w.offset(), &mut u.withdrawn)?;
        u.nlri.reserve(n.remaining() / 4);
        decode_nlri_into(n.slice(), Afi::IPV4, ap4, n.offset(), &mut u.nlri)?;
        let mut errors = Vec::new();
        decode_attributes(a, ctx, &mut u, &mut errors)?;
        Ok((u, errors))
    }

    /// Appends the body (after the header): lengths back-patched.
    pub fn encode_body(&self, ctx: &EncodeCtx, out: &mut BytesMut) -> Result<(), EncodeError> {
        let ap4 = ctx.add_path.contains(AfiSafi::IPV4_UNICAST);
        check_v4(&self.withdrawn)?;
        check_v4(&self.nlri)?;
        let wlen = nlri_list_len(&self.withdrawn, ap4);
        let wl = u16::try_from(wlen).map_err(|_| EncodeError::FieldTooLong("withdrawn routes"))?;
        let nlen = nlri_list_len(&self.nlri, ap4);
        out.reserve(4 + wlen + nlen + 64 * self.attributes.len());
        out.put_u16(wl);
        encode_nlri_fast(&self.withdrawn, ap4, wlen, out);
        let pos = out.len();
        out.put_u16(0);
        for a in &self.attributes {
            a.encode(ctx, out)?;
        }
        let al =
            u16::try_from(out.len() - pos - 2).map_err(|_| EncodeError::FieldTooLong("path attributes"))?;
        patch_u16(out, pos, al);
        encode_nlri_fast(&self.nlri, ap4, nlen, out);
        Ok(())
    }
}

pub(crate) fn check_v4(list: &[Nlri]) -> Result<(), EncodeError> {
    if list.iter().any(|n| !n.prefix.is_ipv4()) {
        return Err(EncodeError::InvalidValue(
            "non-IPv4 prefix in the IPv4 NLRI or Withdrawn Routes field",
        ));
    }
    Ok(())
}

/// A 256-bit set of seen type codes.
struct Seen([u64; 4]);

impl Seen {
    fn insert(&mut self, t: u8) -> bool {
        let (i, b) = (usize::from(t >> 6), 1u64 << (t & 63));
        let new = self.0[i] & b == 0;
        self.0[i] |= b;
        new
    }
    fn has(&self, t: u8) -> bool {
        self.0[usize::from(t >> 6)] & (1u64 << (t & 63)) != 0
    }
}

/// Decodes a path attribute list into `u.attributes` (RFC 7606 outcomes as in
/// [`Update::decode_with_errors`]); `u` holds the NLRI fields already decoded, which the checks
/// for missing attributes look at. Also used for MRT RIB entries, whose attribute lists have no
/// UPDATE around them.
pub(crate) fn decode_attributes(
    mut a: Rd<'_>,
    ctx: &DecodeCtx,
    u: &mut Update,
    errors: &mut Vec<AttributeError>,
) -> Result<(), DecodeError> {
    let mut seen = Seen([0; 4]);
    u.attributes.reserve(8);
    let mut structural_error = false;
    while !a.is_empty() {
        let start = a.offset();
        let whole = a; // for NOTIFICATION data
        // RFC 7606 section 4: "There are two error cases in which the Total Attribute Length
        // value can be in conflict with the enclosed path attributes ... In either of these
        // cases, an error condition exists and the 'treat-as-withdraw' approach MUST be used
        // (unless some other, more severe error is encountered dictating a stronger approach),
        // and the Total Attribute Length MUST be relied upon to enable the beginning of the NLRI
        // field to be located."
        let hdr = (|| {
            let f = a.u8()?;
            let t = a.u8()?;
            let l = if f & flags::EXTENDED_LENGTH != 0 {
                usize::from(a.u16()?)
            } else {
                usize::from(a.u8()?)
            };
            Ok::<_, crate::parse::Short>((f, t, a.take(l)?))
        })();
        let Ok((f, t, v)) = hdr else {
            errors.push(
                DecodeError::new(start, DecodeErrorKind::MalformedAttributeList)
                    .with_treatment(Treatment::TreatAsWithdraw),
            );
            structural_error = true;
            break;
        };
        let full_len = v.offset() + v.remaining() - start;
        // NOTIFICATION data: the whole attribute, built only on error.
        let data = || whole.frame().slice_ref(&whole.slice()[..full_len]);
        let is_mp = t == type_code::MP_REACH_NLRI || t == type_code::MP_UNREACH_NLRI;
        if !seen.insert(t) {
            // RFC 7606 section 3 (g): "If the MP_REACH_NLRI attribute or the MP_UNREACH_NLRI
            // attribute appears more than once in the UPDATE message, then a NOTIFICATION message
            // MUST be sent with the Error Subcode 'Malformed Attribute List'. If any other
            // attribute (whether recognized or unrecognized) appears more than once in an UPDATE
            // message, then all the occurrences of the attribute other than the first one SHALL
            // be discarded and the UPDATE message will continue to be processed."
            if is_mp {
                return Err(DecodeError::new(start, DecodeErrorKind::MalformedAttributeList).with_attr(t));
            }
            errors.push(
                DecodeError::new(start, DecodeErrorKind::MalformedAttributeList)
                    .with_attr(t)
                    .with_treatment(Treatment::AttributeDiscard)
                    .with_data(data()),
            );
            continue;
        }
        // MP_* errors: RFC 7606 section 7.11 / 5.3 allow "AFI/SAFI disable" when the family is
        // readable; otherwise "session reset".
        let mp_family = || {
            let s = v.slice();
            match (s.first(), s.get(1), s.get(2)) {
                (Some(&x), Some(&y), Some(&z)) => Some(AfiSafi::new(
                    Afi(u16::from_be_bytes([x, y])),
                    crate::types::Safi(z),
                )),
                _ => None,
            }
        };
        let classify = |e: DecodeError, fam: Option<AfiSafi>| -> DecodeError {
            if is_mp {
                match fam {
                    Some(fam) => e.with_treatment(Treatment::AfiSafiDisable).with_afi_safi(fam),
                    None => e.with_treatment(Treatment::SessionReset),
                }
            } else {
                e.with_treatment(malformed_treatment(t))
            }
        };
        match standard_flags(t) {
            Some(expected) => {
                // RFC 7606 section 3 (c): "If the value of either the Optional or Transitive bits in
                // the Attribute Flags is in conflict with their specified values, then the attribute
                // MUST be treated as malformed and the 'treat-as-withdraw' approach used, unless the
                // specification for the attribute mandates different handling for length errors."
                if f & (flags::OPTIONAL | flags::TRANSITIVE) != expected {
                    let e = DecodeError::new(start, DecodeErrorKind::AttributeFlagsError(t))
                        .with_attr(t)
                        .with_data(data());
                    let e = classify(e, mp_family());
                    if e.treatment >= Treatment::AfiSafiDisable {
                        return Err(e);
                    }
                    errors.push(e);
                    continue;
                }
            }
            None => {
                // RFC 4271 section 6.3: "If any of the well-known mandatory attributes are not
                // recognized, then the Error Subcode MUST be set to Unrecognized Well-known
                // Attribute. The Data field MUST contain the unrecognized attribute".
                if f & flags::OPTIONAL == 0 {
                    return Err(
                        DecodeError::new(start, DecodeErrorKind::UnrecognizedWellKnownAttribute(t))
                            .with_attr(t)
                            .with_data(data()),
                    );
                }
            }
        }
        match crate::attr_decode::decode_value(t, v, ctx) {
            Ok(value) => u.attributes.push(PathAttribute { flags: f, value }),
            Err(fault) => {
                let e = DecodeError::new(fault.offset, fault.kind)
                    .with_attr(t)
                    .with_data(data());
                let e = classify(e, fault.afi_safi.or_else(mp_family));
                if e.treatment >= Treatment::AfiSafiDisable {
                    return Err(e);
                }
                errors.push(e);
            }
        }
    }
    let has_mp = seen.has(type_code::MP_REACH_NLRI) || seen.has(type_code::MP_UNREACH_NLRI);
    if structural_error && !has_mp && u.nlri.is_empty() && u.withdrawn.is_empty() {
        // Conservative choice of this crate: treat-as-withdraw needs the routes to withdraw. With
        // an unparseable attribute list, no NLRI field and no MP_* attribute found before the
        // error, the routes may sit in an MP_REACH_NLRI we could not locate, so the session is
        // reset instead (RFC 7606 section 4 "unless some other, more severe error ...").
        if let Some(e) = errors.pop() {
            return Err(e.with_treatment(Treatment::SessionReset));
        }
    }
    // RFC 7606 section 3 (d): "If any of the well-known mandatory attributes are not present in
    // an UPDATE message, then 'treat-as-withdraw' MUST be used. (Note that [RFC4760]
    // reclassifies NEXT_HOP as what is effectively discretionary.)" The mandatory attributes
    // apply only when the UPDATE announces routes (RFC 4271 section 5; RFC 4760 section 3 for
    // NEXT_HOP, needed only with a non-empty NLRI field).
    if !structural_error && (!u.nlri.is_empty() || seen.has(type_code::MP_REACH_NLRI)) {
        let required: &[u8] = if u.nlri.is_empty() {
            &[type_code::ORIGIN, type_code::AS_PATH]
        } else {
            &[type_code::ORIGIN, type_code::AS_PATH, type_code::NEXT_HOP]
        };
        for &t in required {
            if !seen.has(t) {
                errors.push(
                    DecodeError::new(a.offset(), DecodeErrorKind::MissingWellKnownAttribute(t))
                        .with_attr(t)
                        .with_treatment(Treatment::TreatAsWithdraw),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod typed_getters {
    use super::*;

    #[test]
    fn getters_read_the_attributes() {
        let u = Update {
            withdrawn: vec![],
            attributes: vec![
                PathAttribute::new(AttrValue::Origin(Origin::Egp)),
                PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([65001]))),
                PathAttribute::new(AttrValue::NextHop("192.0.2.1".parse().unwrap())),
                PathAttribute::new(AttrValue::LocalPref(7)),
                PathAttribute::new(AttrValue::ClusterList(vec!["9.9.9.9".parse().unwrap()])),
                PathAttribute::new(AttrValue::MpReach(MpReach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    next_hop: MpNextHop::Ipv6 {
                        global: "2001:db8::1".parse().unwrap(),
                        link_local: None,
                    },
                    nlri: vec![],
                    opaque_nlri: Bytes::new(),
                })),
            ],
            nlri: vec![],
        };
        assert_eq!(u.origin(), Some(Origin::Egp));
        assert_eq!(u.as_path().and_then(AsPath::neighbor_as), Some(65001));
        assert_eq!(
            u.next_hop(AfiSafi::IPV4_UNICAST),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            u.next_hop(AfiSafi::IPV6_UNICAST),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(u.local_pref(), Some(7));
        assert_eq!(u.med(), None);
        assert!(u.communities().is_empty());
        assert_eq!(u.cluster_list().len(), 1);
        assert_eq!(u.originator_id(), None);
    }
}
