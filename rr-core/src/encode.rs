//! Encoding of the messages the engine sends. OPEN goes through `bgp_wire` (capabilities are its
//! business); KEEPALIVE, NOTIFICATION, ROUTE-REFRESH and End-of-RIB are fixed layouts written here.
//!
//! UPDATEs are built here rather than through `bgp_wire::Update` values because an update group
//! packs many prefixes sharing one attribute set into as few messages as the size limit allows:
//! the attribute block is encoded once per (attribute set, export treatment) and NLRI are appended
//! straight into the output buffer, with length fields back-patched. The wire layout follows
//! RFC 4271 section 4.3, RFC 4760 (MP_REACH/MP_UNREACH) and RFC 7911 (path ids).

use std::net::{IpAddr, Ipv4Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::attrs::{Attrs, Segment};
use crate::session::LocalOffer;
use crate::types::{Family, Prefix};

/// Message type codes (RFC 4271 section 4.1, RFC 2918).
pub(crate) mod msg_type {
    pub(crate) const UPDATE: u8 = 2;
    pub(crate) const NOTIFICATION: u8 = 3;
    pub(crate) const ROUTE_REFRESH: u8 = 5;
}

const HEADER_LEN: usize = 19;

fn header(out: &mut BytesMut, ty: u8) -> usize {
    let start = out.len();
    out.put_slice(&[0xff; 16]);
    out.put_u16(0);
    out.put_u8(ty);
    start
}

fn patch_len(out: &mut BytesMut, start: usize) {
    let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
    out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
}

/// A KEEPALIVE (RFC 4271 section 4.4): the header alone.
pub(crate) fn keepalive() -> Bytes {
    static KA: [u8; 19] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
        19, 4,
    ];
    Bytes::from_static(&KA)
}

/// A NOTIFICATION (RFC 4271 section 4.5).
pub(crate) fn notification(code: u8, subcode: u8, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + 2 + data.len());
    let s = header(&mut out, msg_type::NOTIFICATION);
    out.put_u8(code);
    out.put_u8(subcode);
    out.put_slice(&data[..data.len().min(4096 - 21)]);
    patch_len(&mut out, s);
    out.freeze()
}

/// A ROUTE-REFRESH (RFC 2918 section 3; RFC 7313 section 3 message subtype: 0 request, 1 BoRR,
/// 2 EoRR).
pub(crate) fn route_refresh(family: Family, subtype: u8) -> Bytes {
    let mut out = BytesMut::with_capacity(23);
    let s = header(&mut out, msg_type::ROUTE_REFRESH);
    let (afi, safi) = family.afi_safi();
    out.put_u16(afi);
    out.put_u8(subtype);
    out.put_u8(safi);
    patch_len(&mut out, s);
    out.freeze()
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
        // RFC 4724 section 3. We are a helper: no Restart State bit, no preserved forwarding.
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            notification: false,
            restart_time: rt.min(4095),
            families: offer
                .families
                .iter()
                .map(|f| GrFamily {
                    afi_safi: fam(f),
                    forwarding: false,
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

fn put_attr(out: &mut BytesMut, flags: u8, code: u8, value: &[u8]) {
    if value.len() > 255 {
        out.put_u8(flags | 0x10);
        out.put_u8(code);
        out.put_u16(u16::try_from(value.len()).unwrap_or(u16::MAX));
    } else {
        out.put_u8(flags & !0x10);
        out.put_u8(code);
        out.put_u8(value.len() as u8);
    }
    out.put_slice(value);
}

fn as_path_value(segs: &[Segment], four: bool, buf: &mut Vec<u8>) {
    buf.clear();
    for s in segs {
        for chunk in s.asns.chunks(255) {
            buf.push(s.kind.code());
            buf.push(chunk.len() as u8);
            for a in chunk {
                if four {
                    buf.extend_from_slice(&a.to_be_bytes());
                } else {
                    buf.extend_from_slice(&u16::try_from(*a).unwrap_or(23456).to_be_bytes());
                }
            }
        }
    }
}

/// Encodes every attribute except MP_REACH/MP_UNREACH and NEXT_HOP of IPv6 routes, in type-code
/// order. `family` decides whether NEXT_HOP (IPv4) is written here.
pub(crate) fn attrs_block(a: &Attrs, ex: &Export, family: Family, out: &mut BytesMut) {
    let mut buf = Vec::with_capacity(64);
    // ORIGIN, well-known mandatory.
    put_attr(out, 0x40, 1, &[a.origin.code()]);
    // AS_PATH, well-known mandatory; eBGP prepend (RFC 4271 5.1.2).
    let path_owned;
    let path: &[Segment] = match ex.ebgp_local_as {
        Some(las) => {
            path_owned = crate::reflect::ebgp_as_path(&a.as_path, las);
            &path_owned
        }
        None => &a.as_path,
    };
    as_path_value(path, ex.four_octet_as, &mut buf);
    put_attr(out, 0x40, 2, &buf);
    // NEXT_HOP for IPv4 unicast (RFC 4271 5.1.3); IPv6 goes in MP_REACH_NLRI.
    if family == Family::Ipv4Unicast {
        let nh = ex.next_hop.or(a.next_hop);
        if let Some(IpAddr::V4(v4)) = nh {
            put_attr(out, 0x40, 3, &v4.octets());
        } else {
            put_attr(out, 0x40, 3, &[0, 0, 0, 0]);
        }
    }
    if let Some(med) = a.med.filter(|_| !ex.strip_med) {
        put_attr(out, 0x80, 4, &med.to_be_bytes());
    }
    // LOCAL_PREF: RFC 4271 5.1.5 "A BGP speaker MUST NOT include this attribute in UPDATE messages it
    // sends to external peers" and "SHALL include this attribute in all UPDATE messages ... sent to
    // other internal peers".
    if ex.ebgp_local_as.is_none() {
        let lp = a
            .local_pref
            .or(if ex.default_local_pref { Some(100) } else { None });
        if let Some(lp) = lp {
            put_attr(out, 0x40, 5, &lp.to_be_bytes());
        }
    }
    if a.atomic_aggregate {
        put_attr(out, 0x40, 6, &[]);
    }
    if let Some((asn, addr)) = a.aggregator {
        buf.clear();
        if ex.four_octet_as {
            buf.extend_from_slice(&asn.to_be_bytes());
        } else {
            buf.extend_from_slice(&u16::try_from(asn).unwrap_or(23456).to_be_bytes());
        }
        buf.extend_from_slice(&addr.octets());
        put_attr(out, 0xC0, 7, &buf);
    }
    if !a.communities.is_empty() {
        buf.clear();
        for c in &a.communities {
            buf.extend_from_slice(&c.to_be_bytes());
        }
        put_attr(out, 0xC0, 8, &buf);
    }
    // ORIGINATOR_ID and CLUSTER_LIST are optional non-transitive: never sent to eBGP peers.
    if ex.ebgp_local_as.is_none() {
        let orig = ex.reflect.map(|(o, _)| o).or(a.originator_id);
        if let Some(o) = orig {
            put_attr(out, 0x80, 9, &o.octets());
        }
        if ex.reflect.is_some() || !a.cluster_list.is_empty() {
            buf.clear();
            if let Some((_, cid)) = ex.reflect {
                buf.extend_from_slice(&cid.octets());
            }
            for c in &a.cluster_list {
                buf.extend_from_slice(&c.octets());
            }
            put_attr(out, 0x80, 10, &buf);
        }
    }
    // RFC 6793 section 4.2.2: towards a 2-octet speaker, AS4_PATH / AS4_AGGREGATOR carry the real
    // numbers when any does not fit.
    let needs_as4 = !ex.four_octet_as && path.iter().any(|s| s.asns.iter().any(|x| *x > 0xffff));
    for r in a.other.iter().filter(|r| r.type_code < 17) {
        put_attr(out, r.flags, r.type_code, &r.value);
    }
    if needs_as4 {
        as_path_value(path, true, &mut buf);
        put_attr(out, 0xC0, 17, &buf);
    }
    if let Some((asn, addr)) = a.aggregator.filter(|(asn, _)| !ex.four_octet_as && *asn > 0xffff) {
        buf.clear();
        buf.extend_from_slice(&asn.to_be_bytes());
        buf.extend_from_slice(&addr.octets());
        put_attr(out, 0xC0, 18, &buf);
    }
    for r in a.other.iter().filter(|r| r.type_code >= 17) {
        put_attr(out, r.flags, r.type_code, &r.value);
    }
}

/// Bytes one NLRI takes.
pub(crate) fn nlri_len(p: &Prefix, add_path: bool) -> usize {
    1 + p.wire_bytes().len() + if add_path { 4 } else { 0 }
}

fn put_nlri(out: &mut BytesMut, p: &Prefix, path_id: u32, add_path: bool) {
    if add_path {
        out.put_u32(path_id);
    }
    out.put_u8(p.len());
    out.put_slice(p.wire_bytes());
}

/// Packs UPDATE messages, flushing each one when the next NLRI would not fit.
pub(crate) struct Packer {
    max: usize,
    pub(crate) out: Vec<Bytes>,
    /// NLRI dropped because their attributes alone exceed the message size limit.
    pub(crate) oversized: usize,
}

impl Packer {
    pub(crate) fn new(extended: bool) -> Packer {
        Packer {
            max: if extended { 65535 } else { 4096 },
            out: Vec::new(),
            oversized: 0,
        }
    }

    /// UPDATEs announcing `nlri` (prefix, path id) of `family` with the encoded attribute block
    /// `attrs` (from [`attrs_block`]) and, for IPv6, next hop `nh`/`ll`.
    pub(crate) fn announce(
        &mut self,
        family: Family,
        attrs: &[u8],
        nh: Option<IpAddr>,
        ll: Option<std::net::Ipv6Addr>,
        add_path: bool,
        nlri: &[(Prefix, u32)],
    ) {
        let mut i = 0;
        while i < nlri.len() {
            let mut out =
                BytesMut::with_capacity(self.max.min(HEADER_LEN + 4 + attrs.len() + 64 + nlri.len() * 9));
            let s = header(&mut out, msg_type::UPDATE);
            out.put_u16(0); // withdrawn routes length
            let alen_at = out.len();
            out.put_u16(0);
            match family {
                Family::Ipv4Unicast => {
                    out.put_slice(attrs);
                    let first = i;
                    while i < nlri.len() && out.len() + nlri_len(&nlri[i].0, add_path) <= self.max {
                        put_nlri(&mut out, &nlri[i].0, nlri[i].1, add_path);
                        i += 1;
                    }
                    if i == first {
                        // The attributes alone leave no room for an NLRI within this peer's
                        // maximum message size (RFC 8654 section 4: a message that would exceed
                        // it is not sent): these routes are not advertised to this group.
                        self.oversized += nlri.len() - i;
                        return;
                    }
                    let alen = u16::try_from(attrs.len()).unwrap_or(u16::MAX);
                    out[alen_at..alen_at + 2].copy_from_slice(&alen.to_be_bytes());
                }
                Family::Ipv6Unicast => {
                    // RFC 4760 section 3 MP_REACH_NLRI; RFC 7606 section 5.1: "SHOULD be encoded
                    // as the very first path attribute". Always with the extended-length flag.
                    out.put_u8(0x90);
                    out.put_u8(14);
                    let mlen_at = out.len();
                    out.put_u16(0);
                    let mstart = out.len();
                    out.put_u16(2);
                    out.put_u8(1);
                    let v6 = match nh {
                        Some(IpAddr::V6(a)) => a,
                        Some(IpAddr::V4(a)) => a.to_ipv6_mapped(),
                        None => std::net::Ipv6Addr::UNSPECIFIED,
                    };
                    match ll {
                        Some(l) => {
                            out.put_u8(32);
                            out.put_slice(&v6.octets());
                            out.put_slice(&l.octets());
                        }
                        None => {
                            out.put_u8(16);
                            out.put_slice(&v6.octets());
                        }
                    }
                    out.put_u8(0); // reserved
                    let limit = self.max.saturating_sub(attrs.len());
                    let first = i;
                    while i < nlri.len() && out.len() + nlri_len(&nlri[i].0, add_path) <= limit {
                        put_nlri(&mut out, &nlri[i].0, nlri[i].1, add_path);
                        i += 1;
                    }
                    if i == first {
                        // As for IPv4: no room for any NLRI, the routes are not advertised.
                        self.oversized += nlri.len() - i;
                        return;
                    }
                    let mlen = u16::try_from(out.len() - mstart).unwrap_or(u16::MAX);
                    out[mlen_at..mlen_at + 2].copy_from_slice(&mlen.to_be_bytes());
                    out.put_slice(attrs);
                    let alen = u16::try_from(out.len() - alen_at - 2).unwrap_or(u16::MAX);
                    out[alen_at..alen_at + 2].copy_from_slice(&alen.to_be_bytes());
                }
            }
            patch_len(&mut out, s);
            self.out.push(out.freeze());
        }
    }

    /// UPDATEs withdrawing `nlri` of `family`.
    pub(crate) fn withdraw(&mut self, family: Family, add_path: bool, nlri: &[(Prefix, u32)]) {
        let mut i = 0;
        while i < nlri.len() {
            let mut out = BytesMut::with_capacity(self.max.min(HEADER_LEN + 16 + nlri.len() * 9));
            let s = header(&mut out, msg_type::UPDATE);
            match family {
                Family::Ipv4Unicast => {
                    let wlen_at = out.len();
                    out.put_u16(0);
                    while i < nlri.len() && out.len() + 2 + nlri_len(&nlri[i].0, add_path) <= self.max {
                        put_nlri(&mut out, &nlri[i].0, nlri[i].1, add_path);
                        i += 1;
                    }
                    let wlen = u16::try_from(out.len() - wlen_at - 2).unwrap_or(u16::MAX);
                    out[wlen_at..wlen_at + 2].copy_from_slice(&wlen.to_be_bytes());
                    out.put_u16(0);
                }
                Family::Ipv6Unicast => {
                    out.put_u16(0);
                    let alen_at = out.len();
                    out.put_u16(0);
                    out.put_u8(0x90);
                    out.put_u8(15);
                    let mlen_at = out.len();
                    out.put_u16(0);
                    out.put_u16(2);
                    out.put_u8(1);
                    while i < nlri.len() && out.len() + nlri_len(&nlri[i].0, add_path) <= self.max {
                        put_nlri(&mut out, &nlri[i].0, nlri[i].1, add_path);
                        i += 1;
                    }
                    let mlen = u16::try_from(out.len() - mlen_at - 2).unwrap_or(u16::MAX);
                    out[mlen_at..mlen_at + 2].copy_from_slice(&mlen.to_be_bytes());
                    let alen = u16::try_from(out.len() - alen_at - 2).unwrap_or(u16::MAX);
                    out[alen_at..alen_at + 2].copy_from_slice(&alen.to_be_bytes());
                }
            }
            patch_len(&mut out, s);
            self.out.push(out.freeze());
        }
    }
}

/// End-of-RIB marker (RFC 4724 section 2): an empty UPDATE for IPv4 unicast, an UPDATE with an
/// empty MP_UNREACH_NLRI for other families.
pub(crate) fn end_of_rib(family: Family) -> Bytes {
    let mut out = BytesMut::with_capacity(30);
    let s = header(&mut out, msg_type::UPDATE);
    match family {
        Family::Ipv4Unicast => {
            out.put_u16(0);
            out.put_u16(0);
        }
        Family::Ipv6Unicast => {
            out.put_u16(0);
            out.put_u16(6);
            out.put_slice(&[0x80, 15, 3, 0, 2, 1]);
        }
    }
    patch_len(&mut out, s);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::Origin;

    #[test]
    fn keepalive_and_eor_bytes() {
        assert_eq!(keepalive().len(), 19);
        let eor = end_of_rib(Family::Ipv4Unicast);
        assert_eq!(&eor[16..], &[0, 23, 2, 0, 0, 0, 0]);
        let eor6 = end_of_rib(Family::Ipv6Unicast);
        assert_eq!(&eor6[16..], &[0, 29, 2, 0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1]);
    }

    #[test]
    fn packs_until_the_size_limit() {
        let a = Attrs::new(Origin::Igp, Some("10.0.0.1".parse().unwrap()));
        let ex = Export {
            ebgp_local_as: None,
            reflect: None,
            next_hop: None,
            default_local_pref: false,
            strip_med: false,
            four_octet_as: true,
        };
        let mut blk = BytesMut::new();
        attrs_block(&a, &ex, Family::Ipv4Unicast, &mut blk);
        let nlri: Vec<(Prefix, u32)> = (0..2000u32)
            .map(|i| {
                (
                    Prefix::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i << 8))), 24).unwrap(),
                    0,
                )
            })
            .collect();
        let mut p = Packer::new(false);
        p.announce(Family::Ipv4Unicast, &blk, None, None, false, &nlri);
        // 2000 x 4 bytes of NLRI in 4096-byte messages: 2 messages of ~1014 prefixes.
        assert_eq!(p.out.len(), 2);
        assert!(p.out.iter().all(|m| m.len() <= 4096));
        assert!(p.out[0].len() > 4090);
        let total: usize = p.out.iter().map(|m| m.len() - 23 - blk.len()).sum();
        assert_eq!(total, 2000 * 4);
        // Attributes that alone exceed the limit: nothing sent, no endless loop.
        let mut big = a.clone();
        big.communities = (0..1100).collect();
        let mut blk = BytesMut::new();
        attrs_block(&big, &ex, Family::Ipv4Unicast, &mut blk);
        let mut p = Packer::new(false);
        p.announce(Family::Ipv4Unicast, &blk, None, None, false, &nlri[..3]);
        assert!(p.out.is_empty());
        assert_eq!(p.oversized, 3);
        let mut p = Packer::new(false);
        p.announce(Family::Ipv6Unicast, &blk, None, None, false, &nlri[..3]);
        assert!(p.out.is_empty());
    }
}
