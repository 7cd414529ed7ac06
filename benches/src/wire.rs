//! The few BGP messages the load generator needs, and a receive fast path that frames and counts NLRI.
//!
//! The load generator builds its OPEN and its densely packed UPDATEs here rather than through `bgp-wire`'s
//! typed API so that it can run against BIRD before our own codec exists; the tests below check the bytes
//! against `bgp-wire`'s decoder once it is published. On receive, [`scan_update`] walks the withdrawn
//! routes, the attributes (only NEXT_HOP and LOCAL_PREF are looked at) and the NLRI without allocating.

use bytes::{BufMut, BytesMut};
use std::net::Ipv4Addr;

/// Length of the BGP message header (RFC 4271 section 4.1).
pub const HEADER_LEN: usize = 19;
/// Largest message without the extended message capability (RFC 4271 section 4).
pub const MAX_MESSAGE: usize = 4096;

/// Message type codes (RFC 4271 section 4.1).
pub mod kind {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
    /// ROUTE-REFRESH (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 5;
}

/// The attributes every client puts on its announcements: ORIGIN IGP, empty AS_PATH, NEXT_HOP = itself,
/// LOCAL_PREF.
#[derive(Debug, Clone, Copy)]
pub struct Announce {
    /// NEXT_HOP: the client's own address, as a Calico node announces its blocks.
    pub next_hop: Ipv4Addr,
    /// LOCAL_PREF value.
    pub local_pref: u32,
}

fn put_header(buf: &mut BytesMut, kind: u8) -> usize {
    let start = buf.len();
    buf.put_slice(&[0xff; 16]);
    buf.put_u16(0); // back-patched
    buf.put_u8(kind);
    start
}

fn patch_len(buf: &mut BytesMut, start: usize) {
    let len = (buf.len() - start) as u16;
    buf[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
}

/// Options of the OPEN the clients send.
#[derive(Debug, Clone, Copy)]
pub struct OpenParams {
    /// Our AS (4-octet capability always sent; AS_TRANS in the 2-octet field when above 65535).
    pub asn: u32,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Advertise ADD-PATH receive for IPv4 unicast (RFC 7911).
    pub add_path_receive: bool,
}

/// Appends an OPEN (RFC 4271 section 4.2) with multiprotocol IPv4 unicast, route refresh, 4-octet AS and
/// optionally ADD-PATH receive capabilities.
pub fn put_open(buf: &mut BytesMut, p: &OpenParams) {
    let start = put_header(buf, kind::OPEN);
    buf.put_u8(4);
    buf.put_u16(if p.asn > 0xffff { 23456 } else { p.asn as u16 });
    buf.put_u16(p.hold_time);
    buf.put_slice(&p.router_id.octets());
    let mut caps = BytesMut::new();
    caps.put_slice(&[1, 4, 0, 1, 0, 1]); // MP: AFI 1, SAFI 1
    caps.put_slice(&[2, 0]); // route refresh
    caps.put_slice(&[65, 4]);
    caps.put_u32(p.asn);
    if p.add_path_receive {
        caps.put_slice(&[69, 4, 0, 1, 1, 1]); // AFI 1, SAFI 1, receive
    }
    buf.put_u8(caps.len() as u8 + 2);
    buf.put_u8(2); // optional parameter: capabilities
    buf.put_u8(caps.len() as u8);
    buf.put_slice(&caps);
    patch_len(buf, start);
}

/// Appends a KEEPALIVE.
pub fn put_keepalive(buf: &mut BytesMut) {
    let start = put_header(buf, kind::KEEPALIVE);
    patch_len(buf, start);
}

/// Appends a NOTIFICATION Cease / Administrative Reset (RFC 4486).
pub fn put_cease(buf: &mut BytesMut) {
    let start = put_header(buf, kind::NOTIFICATION);
    buf.put_slice(&[6, 4]);
    patch_len(buf, start);
}

fn put_prefix(buf: &mut BytesMut, addr: u32, len: u8) {
    buf.put_u8(len);
    let n = len.div_ceil(8) as usize;
    buf.put_slice(&addr.to_be_bytes()[..n]);
}

fn prefix_wire_len(len: u8) -> usize {
    1 + len.div_ceil(8) as usize
}

/// Appends as many UPDATEs as needed to announce `prefixes` (network addresses of length `len`) with the
/// attributes of `a`, packing each UPDATE up to 4096 bytes. Returns the number of UPDATEs written.
pub fn put_announcements(buf: &mut BytesMut, a: &Announce, len: u8, prefixes: &[u32]) -> usize {
    let mut attrs = [0u8; 21];
    attrs[..4].copy_from_slice(&[0x40, 1, 1, 0]); // ORIGIN IGP
    attrs[4..7].copy_from_slice(&[0x40, 2, 0]); // AS_PATH empty (iBGP origination)
    attrs[7..10].copy_from_slice(&[0x40, 3, 4]);
    attrs[10..14].copy_from_slice(&a.next_hop.octets());
    attrs[14..17].copy_from_slice(&[0x40, 5, 4]);
    attrs[17..21].copy_from_slice(&a.local_pref.to_be_bytes());
    let per = prefix_wire_len(len);
    let room = (MAX_MESSAGE - HEADER_LEN - 4 - attrs.len()) / per;
    let mut count = 0;
    for chunk in prefixes.chunks(room) {
        let start = put_header(buf, kind::UPDATE);
        buf.put_u16(0);
        buf.put_u16(attrs.len() as u16);
        buf.put_slice(&attrs);
        for &p in chunk {
            put_prefix(buf, p, len);
        }
        patch_len(buf, start);
        count += 1;
    }
    count
}

/// Appends as many UPDATEs as needed to withdraw `prefixes`. Returns the number of UPDATEs written.
pub fn put_withdrawals(buf: &mut BytesMut, len: u8, prefixes: &[u32]) -> usize {
    let per = prefix_wire_len(len);
    let room = (MAX_MESSAGE - HEADER_LEN - 4) / per;
    let mut count = 0;
    for chunk in prefixes.chunks(room) {
        let start = put_header(buf, kind::UPDATE);
        buf.put_u16((chunk.len() * per) as u16);
        for &p in chunk {
            put_prefix(buf, p, len);
        }
        buf.put_u16(0);
        patch_len(buf, start);
        count += 1;
    }
    count
}

/// Splits one complete message off the front of `buf`: `Ok(Some(len))` when `buf[..len]` is a whole
/// message, `Ok(None)` when more bytes are needed, `Err` on a bad marker or length.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[..16] != [0xff; 16] {
        return Err("bad marker".into());
    }
    let len = u16::from_be_bytes([buf[16], buf[17]]) as usize;
    if len < HEADER_LEN {
        return Err(format!("bad message length {len}"));
    }
    Ok((buf.len() >= len).then_some(len))
}

/// What the peer's OPEN said that matters to the load generator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerOpen {
    /// Hold time the peer proposed.
    pub hold_time: u16,
    /// The peer advertised ADD-PATH send for IPv4 unicast.
    pub add_path_send: bool,
}

/// Reads the hold time and the ADD-PATH capability out of an OPEN message (header included).
pub fn parse_open(msg: &[u8]) -> Result<PeerOpen, String> {
    let body = msg.get(HEADER_LEN..).ok_or("short OPEN")?;
    if body.len() < 10 {
        return Err("short OPEN".into());
    }
    let hold_time = u16::from_be_bytes([body[3], body[4]]);
    let opt_len = body[9] as usize;
    let mut params = body.get(10..10 + opt_len).ok_or("OPEN parameters overrun")?;
    let mut add_path_send = false;
    while params.len() >= 2 {
        let (ty, len) = (params[0], params[1] as usize);
        let value = params.get(2..2 + len).ok_or("OPEN parameter overrun")?;
        if ty == 2 {
            let mut caps = value;
            while caps.len() >= 2 {
                let (code, clen) = (caps[0], caps[1] as usize);
                let cval = caps.get(2..2 + clen).ok_or("capability overrun")?;
                if code == 69 {
                    for t in cval.chunks_exact(4) {
                        if t[..3] == [0, 1, 1] && t[3] & 2 != 0 {
                            add_path_send = true;
                        }
                    }
                }
                caps = &caps[2 + clen..];
            }
        }
        params = &params[2 + len..];
    }
    Ok(PeerOpen {
        hold_time,
        add_path_send,
    })
}

/// Attributes of an UPDATE that the load generator checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeenAttrs {
    /// NEXT_HOP, if present.
    pub next_hop: Option<u32>,
    /// LOCAL_PREF, if present.
    pub local_pref: Option<u32>,
}

/// Walks an UPDATE message (header included) without allocating: calls `on_prefix(false, addr, len, attrs)`
/// for each withdrawn IPv4 prefix and `on_prefix(true, addr, len, attrs)` for each NLRI prefix (for
/// withdrawals `attrs` is empty, and it always describes the whole UPDATE). With `add_path`, each
/// prefix is preceded by a 4-octet path identifier (RFC 7911 section 3), which is skipped. Returns an error
/// on any overrun.
#[inline]
pub fn scan_update(
    msg: &[u8],
    add_path: bool,
    mut on_prefix: impl FnMut(bool, u32, u8, &SeenAttrs),
) -> Result<(), String> {
    let body = msg.get(HEADER_LEN..).ok_or("short UPDATE")?;
    if body.len() < 4 {
        return Err("short UPDATE".into());
    }
    let wlen = u16::from_be_bytes([body[0], body[1]]) as usize;
    let withdrawn = body.get(2..2 + wlen).ok_or("withdrawn routes overrun")?;
    let none = SeenAttrs::default();
    walk_prefixes(withdrawn, add_path, &mut |a, l| on_prefix(false, a, l, &none))?;
    let rest = &body[2 + wlen..];
    if rest.len() < 2 {
        return Err("short UPDATE".into());
    }
    let alen = u16::from_be_bytes([rest[0], rest[1]]) as usize;
    let mut attrs = rest.get(2..2 + alen).ok_or("attributes overrun")?;
    let nlri = &rest[2 + alen..];
    let mut seen = SeenAttrs::default();
    while !attrs.is_empty() {
        if attrs.len() < 3 {
            return Err("attribute header overrun".into());
        }
        let (flags, ty) = (attrs[0], attrs[1]);
        let (len, hdr) = if flags & 0x10 != 0 {
            if attrs.len() < 4 {
                return Err("attribute header overrun".into());
            }
            (u16::from_be_bytes([attrs[2], attrs[3]]) as usize, 4)
        } else {
            (attrs[2] as usize, 3)
        };
        let v = attrs.get(hdr..hdr + len).ok_or("attribute overrun")?;
        match (ty, v) {
            (3, &[a, b, c, d]) => seen.next_hop = Some(u32::from_be_bytes([a, b, c, d])),
            (5, &[a, b, c, d]) => seen.local_pref = Some(u32::from_be_bytes([a, b, c, d])),
            _ => {}
        }
        attrs = &attrs[hdr + len..];
    }
    walk_prefixes(nlri, add_path, &mut |a, l| on_prefix(true, a, l, &seen))
}

#[inline(always)]
fn walk_prefixes(mut b: &[u8], add_path: bool, f: &mut impl FnMut(u32, u8)) -> Result<(), String> {
    while !b.is_empty() {
        if add_path {
            b = b.get(4..).ok_or("path id overrun")?;
        }
        let len = *b.first().ok_or("prefix overrun")?;
        if len > 32 {
            return Err(format!("bad IPv4 prefix length {len}"));
        }
        let n = len.div_ceil(8) as usize;
        let bytes = b.get(1..1 + n).ok_or("prefix overrun")?;
        let mut a = [0u8; 4];
        a[..n].copy_from_slice(bytes);
        f(u32::from_be_bytes(a), len);
        b = &b[1 + n..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(buf: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut rest = buf;
        while let Some(n) = frame_len(rest).unwrap() {
            out.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert!(rest.is_empty());
        out
    }

    #[test]
    fn announcements_pack_and_scan_back() {
        let prefixes: Vec<u32> = (0..2000u32).map(|g| 0x0a00_0000 + g * 64).collect();
        let mut buf = BytesMut::new();
        let a = Announce {
            next_hop: Ipv4Addr::new(127, 0, 1, 7),
            local_pref: 2147482623,
        };
        let n = put_announcements(&mut buf, &a, 26, &prefixes);
        let msgs = split(&buf);
        assert_eq!(msgs.len(), n);
        assert_eq!(n, 3, "810 /26 fit in one 4096-byte UPDATE");
        let mut got = Vec::new();
        for m in msgs {
            assert!(m.len() <= MAX_MESSAGE);
            assert_eq!(m[18], kind::UPDATE);
            scan_update(m, false, |announce, p, l, s| {
                assert!(announce, "no withdrawals");
                assert_eq!(l, 26);
                assert_eq!(s.next_hop, Some(u32::from(a.next_hop)));
                assert_eq!(s.local_pref, Some(2147482623));
                got.push(p);
            })
            .unwrap();
        }
        assert_eq!(got, prefixes);
    }

    #[test]
    fn withdrawals_scan_back() {
        let prefixes: Vec<u32> = (0..1000u32).map(|g| 0x0a00_0000 + g * 64).collect();
        let mut buf = BytesMut::new();
        put_withdrawals(&mut buf, 26, &prefixes);
        let mut got = Vec::new();
        for m in split(&buf) {
            scan_update(m, false, |announce, p, _, _| {
                assert!(!announce, "no NLRI");
                got.push(p);
            })
            .unwrap();
        }
        assert_eq!(got, prefixes);
    }

    #[test]
    fn open_round_trips_through_parser() {
        let mut buf = BytesMut::new();
        put_open(
            &mut buf,
            &OpenParams {
                asn: 64512,
                hold_time: 90,
                router_id: Ipv4Addr::new(127, 0, 1, 1),
                add_path_receive: true,
            },
        );
        assert_eq!(frame_len(&buf).unwrap(), Some(buf.len()));
        let p = parse_open(&buf).unwrap();
        assert_eq!(p.hold_time, 90);
        // We advertised receive only, so the "peer" (ourselves) does not offer send.
        assert!(!p.add_path_send);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let prefixes: Vec<u32> = (0..10u32).map(|g| 0x0a00_0000 + g * 64).collect();
        let mut buf = BytesMut::new();
        let a = Announce {
            next_hop: Ipv4Addr::LOCALHOST,
            local_pref: 100,
        };
        put_announcements(&mut buf, &a, 26, &prefixes);
        for cut in HEADER_LEN..buf.len() - 1 {
            let mut m = buf[..cut].to_vec();
            // keep the header length consistent with the cut so only the body is short
            let l = (cut as u16).to_be_bytes();
            m[16..18].copy_from_slice(&l);
            let _ = scan_update(&m, false, |_, _, _, _| {});
            let _ = scan_update(&m, true, |_, _, _, _| {});
            let _ = parse_open(&m);
        }
        assert!(frame_len(&[0u8; 19]).is_err());
    }

    /// The hand-built messages are what `bgp-wire` (the project's codec) decodes, and they re-encode
    /// byte-exact through it.
    #[test]
    fn bgp_wire_agrees() {
        use bgp_wire::{AttrValue, DecodeCtx, Message};
        let prefixes: Vec<u32> = (0..900u32).map(|g| 0x0a00_0000 + g * 64).collect();
        let a = Announce {
            next_hop: Ipv4Addr::new(127, 0, 3, 9),
            local_pref: 2147482623,
        };
        let mut buf = BytesMut::new();
        put_open(
            &mut buf,
            &OpenParams {
                asn: 64512,
                hold_time: 240,
                router_id: a.next_hop,
                add_path_receive: true,
            },
        );
        put_announcements(&mut buf, &a, 26, &prefixes);
        put_withdrawals(&mut buf, 26, &prefixes[..5]);
        put_keepalive(&mut buf);
        put_cease(&mut buf);
        let ctx = DecodeCtx {
            four_octet_as: true,
            ..DecodeCtx::default()
        };
        let (mut nlri, mut withdrawn, mut kinds) = (0, 0, Vec::new());
        for m in split(&buf) {
            let frame = bytes::Bytes::copy_from_slice(m);
            let msg = Message::decode(&frame, &ctx).expect("bgp-wire decodes our message");
            let mut again = BytesMut::new();
            msg.encode(&ctx.mirror(), &mut again)
                .expect("bgp-wire re-encodes");
            assert_eq!(&again[..], m, "byte-exact round trip");
            kinds.push(m[18]);
            if let Message::Update(u) = msg {
                withdrawn += u.withdrawn.len();
                if !u.nlri.is_empty() {
                    assert_eq!(u.value(3), Some(&AttrValue::NextHop(a.next_hop)));
                    assert_eq!(u.value(5), Some(&AttrValue::LocalPref(a.local_pref)));
                    assert!(u.nlri.iter().all(|n| n.prefix.len() == 26));
                }
                nlri += u.nlri.len();
            }
        }
        assert_eq!((nlri, withdrawn), (900, 5));
        assert_eq!(kinds, vec![1, 2, 2, 2, 4, 3]);
    }
}
