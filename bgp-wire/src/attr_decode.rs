//! Decoding of path attribute values, with the RFC 7606 fault each malformation raises. The
//! attribute header, duplicates and treatments are handled by the UPDATE decoder.

use std::net::Ipv4Addr;

use bytes::Bytes;

use crate::aspath::AsPath;
use crate::attr::{Aggregator, AttrValue, MpNextHop, MpReach, MpUnreach, Origin, type_code};
use crate::community::{Community, ExtendedCommunity, LargeCommunity};
use crate::error::DecodeErrorKind;
use crate::nlri::{Nlri, decode_nlri_into};
use crate::parse::Rd;
use crate::types::{Afi, AfiSafi, Safi};

/// A malformed attribute value: what, where, and (for MP_*) the family if it was readable.
pub(crate) struct AttrFault {
    pub(crate) kind: DecodeErrorKind,
    pub(crate) offset: usize,
    pub(crate) afi_safi: Option<AfiSafi>,
}

fn len_err(t: u8, at: usize) -> AttrFault {
    AttrFault {
        kind: DecodeErrorKind::AttributeLengthError(t),
        offset: at,
        afi_safi: None,
    }
}

fn fixed<const N: usize>(t: u8, v: &Rd<'_>) -> Result<[u8; N], AttrFault> {
    let s = v.slice();
    if s.len() != N {
        return Err(len_err(t, v.offset()));
    }
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Ok(a)
}

fn multiple<'a, const N: usize>(t: u8, v: &Rd<'a>) -> Result<std::slice::ChunksExact<'a, u8>, AttrFault> {
    let s = v.slice();
    if s.is_empty() || !s.len().is_multiple_of(N) {
        return Err(len_err(t, v.offset()));
    }
    Ok(s.chunks_exact(N))
}

fn be32(c: &[u8]) -> u32 {
    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
}

/// Decodes the value of a known or unknown attribute. `four` is the 4-octet AS mode and
/// `add_path` tells which families carry path ids.
#[inline]
pub(crate) fn decode_value(t: u8, v: Rd<'_>, ctx: &crate::ctx::DecodeCtx) -> Result<AttrValue, AttrFault> {
    use type_code as tc;
    Ok(match t {
        tc::ORIGIN => {
            let [o] = fixed::<1>(t, &v)?;
            AttrValue::Origin(match o {
                0 => Origin::Igp,
                1 => Origin::Egp,
                2 => Origin::Incomplete,
                _ => {
                    return Err(AttrFault {
                        kind: DecodeErrorKind::InvalidOrigin,
                        offset: v.offset(),
                        afi_safi: None,
                    });
                }
            })
        }
        tc::AS_PATH | tc::AS4_PATH => {
            let four = t == tc::AS4_PATH || ctx.four_octet_as;
            let p = AsPath::decode(v, four).map_err(|b| AttrFault {
                kind: if t == tc::AS_PATH {
                    DecodeErrorKind::MalformedAsPath
                } else {
                    DecodeErrorKind::OptionalAttributeError(t)
                },
                offset: b.offset,
                afi_safi: None,
            })?;
            if t == tc::AS_PATH {
                AttrValue::AsPath(p)
            } else {
                AttrValue::As4Path(p)
            }
        }
        tc::NEXT_HOP => AttrValue::NextHop(Ipv4Addr::from(fixed::<4>(t, &v)?)),
        tc::MULTI_EXIT_DISC => AttrValue::MultiExitDisc(u32::from_be_bytes(fixed::<4>(t, &v)?)),
        tc::LOCAL_PREF => AttrValue::LocalPref(u32::from_be_bytes(fixed::<4>(t, &v)?)),
        tc::ATOMIC_AGGREGATE => {
            fixed::<0>(t, &v)?;
            AttrValue::AtomicAggregate
        }
        tc::AGGREGATOR | tc::AS4_AGGREGATOR => {
            let agg = if ctx.four_octet_as || t == tc::AS4_AGGREGATOR {
                let a = fixed::<8>(t, &v)?;
                Aggregator {
                    asn: be32(&a[..4]),
                    address: Ipv4Addr::new(a[4], a[5], a[6], a[7]),
                }
            } else {
                let a = fixed::<6>(t, &v)?;
                Aggregator {
                    asn: u32::from(u16::from_be_bytes([a[0], a[1]])),
                    address: Ipv4Addr::new(a[2], a[3], a[4], a[5]),
                }
            };
            if t == tc::AGGREGATOR {
                AttrValue::Aggregator(agg)
            } else {
                AttrValue::As4Aggregator(agg)
            }
        }
        tc::COMMUNITIES => {
            AttrValue::Communities(multiple::<4>(t, &v)?.map(|c| Community(be32(c))).collect())
        }
        tc::ORIGINATOR_ID => AttrValue::OriginatorId(Ipv4Addr::from(fixed::<4>(t, &v)?)),
        tc::CLUSTER_LIST => {
            AttrValue::ClusterList(multiple::<4>(t, &v)?.map(|c| Ipv4Addr::from(be32(c))).collect())
        }
        tc::EXTENDED_COMMUNITIES => AttrValue::ExtendedCommunities(
            multiple::<8>(t, &v)?
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    ExtendedCommunity(a)
                })
                .collect(),
        ),
        tc::LARGE_COMMUNITIES => AttrValue::LargeCommunities(
            multiple::<12>(t, &v)?
                .map(|c| LargeCommunity::new(be32(&c[0..4]), be32(&c[4..8]), be32(&c[8..12])))
                .collect(),
        ),
        tc::ONLY_TO_CUSTOMER => AttrValue::OnlyToCustomer(u32::from_be_bytes(fixed::<4>(t, &v)?)),
        tc::MP_REACH_NLRI => AttrValue::MpReach(decode_mp_reach(v, ctx)?),
        tc::MP_UNREACH_NLRI => AttrValue::MpUnreach(decode_mp_unreach(v, ctx)?),
        _ => AttrValue::Unknown {
            type_code: t,
            bytes: v.bytes(),
        },
    })
}

fn mp_family(v: &mut Rd<'_>, t: u8) -> Result<AfiSafi, AttrFault> {
    let at = v.offset();
    let afi = v.u16().map_err(|_| len_err(t, at))?;
    let safi = v.u8().map_err(|_| len_err(t, at))?;
    Ok(AfiSafi::new(Afi(afi), Safi(safi)))
}

fn mp_nlri(f: AfiSafi, v: Rd<'_>, ctx: &crate::ctx::DecodeCtx) -> Result<(Vec<Nlri>, Bytes), AttrFault> {
    if !f.has_prefix_nlri() {
        return Ok((Vec::new(), v.bytes()));
    }
    let ap = ctx.add_path.contains(f);
    let mut list = Vec::with_capacity(v.remaining() / if ap { 8 } else { 4 });
    decode_nlri_into(v.slice(), f.afi, ap, v.offset(), &mut list).map_err(|e| AttrFault {
        kind: e.kind,
        offset: e.offset,
        afi_safi: Some(f),
    })?;
    Ok((list, Bytes::new()))
}

fn decode_mp_reach(mut v: Rd<'_>, ctx: &crate::ctx::DecodeCtx) -> Result<MpReach, AttrFault> {
    let t = type_code::MP_REACH_NLRI;
    let f = mp_family(&mut v, t)?;
    let fault = |at| AttrFault {
        kind: DecodeErrorKind::AttributeLengthError(t),
        offset: at,
        afi_safi: Some(f),
    };
    let at = v.offset();
    let nh_len = usize::from(v.u8().map_err(|_| fault(at))?);
    let mut nh = v.take(nh_len).map_err(|_| fault(at))?;
    let next_hop = match nh_len {
        4 => MpNextHop::Ipv4(nh.ipv4().map_err(|_| fault(at))?),
        16 => MpNextHop::Ipv6 {
            global: nh.ipv6().map_err(|_| fault(at))?,
            link_local: None,
        },
        32 => {
            let global = nh.ipv6().map_err(|_| fault(at))?;
            MpNextHop::Ipv6 {
                global,
                link_local: Some(nh.ipv6().map_err(|_| fault(at))?),
            }
        }
        _ => MpNextHop::Other(nh.bytes()),
    };
    let at = v.offset();
    // RFC 4760 section 3: Reserved "MUST be set to 0, and SHOULD be ignored upon receipt".
    v.u8().map_err(|_| fault(at))?;
    let (nlri, opaque_nlri) = mp_nlri(f, v, ctx)?;
    Ok(MpReach {
        afi_safi: f,
        next_hop,
        nlri,
        opaque_nlri,
    })
}

fn decode_mp_unreach(mut v: Rd<'_>, ctx: &crate::ctx::DecodeCtx) -> Result<MpUnreach, AttrFault> {
    let f = mp_family(&mut v, type_code::MP_UNREACH_NLRI)?;
    let (withdrawn, opaque_nlri) = mp_nlri(f, v, ctx)?;
    Ok(MpUnreach {
        afi_safi: f,
        withdrawn,
        opaque_nlri,
    })
}
