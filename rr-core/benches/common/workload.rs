//! The fan-out workload shared by the `fanout` bench, the `fanout` example and `tests/groups.rs`:
//! client `i` at 10.0.0.2 + i, AS 64512 (iBGP), announcing `p` /24 prefixes with its own next hop.

#![allow(dead_code)] // Each user takes what it needs.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{
    AfiSafi, AsPath, Asn, AttrValue, Capability, EncodeCtx, HoldTime, Message, Nlri, Open, PathAttribute,
    Prefix, RouterId, Update,
};
use bytes::{Bytes, BytesMut};
use rr_core::{Engine, Instant, Output, PeerConfig, Role};

/// The clients' and the reflector's AS.
pub(crate) const AS: u32 = 64512;

/// `m` encoded with four-octet AS numbers.
pub(crate) fn frame(m: Message) -> Bytes {
    let mut b = BytesMut::new();
    m.encode(
        &EncodeCtx {
            four_octet_as: true,
            ..EncodeCtx::default()
        },
        &mut b,
    )
    .expect("encode");
    b.freeze()
}

/// Client `i`'s address (and router id, and next hop).
pub(crate) fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0002 + i as u32)
}

/// Configures client `i` as a passive route-reflector client.
pub(crate) fn add_client(e: &mut Engine, now: Instant, i: usize) {
    let mut pc = PeerConfig::new(IpAddr::V4(addr(i)), AS, Role::RrClient);
    pc.passive = true;
    e.add_peer(now, pc).expect("peer");
}

/// Client `i`'s OPEN (IPv4 unicast, four-octet AS).
pub(crate) fn open_frame(i: usize) -> Bytes {
    let caps = vec![
        Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
        Capability::FourOctetAs(AS),
    ];
    let open = Open::new(
        Asn::new(AS).expect("as"),
        HoldTime::DEFAULT,
        RouterId::new(addr(i)).expect("id"),
        caps,
    );
    frame(Message::Open(open))
}

/// Client `i`'s UPDATE of `p` /24 prefixes with its own next hop.
pub(crate) fn update_frame(i: usize, p: usize) -> Bytes {
    let nlri = (0..p)
        .map(|k| {
            let a = Ipv4Addr::from(0x6400_0000 + ((i * p + k) as u32) * 256);
            Nlri::new(Prefix::new(IpAddr::V4(a), 24).expect("prefix"))
        })
        .collect();
    frame(Message::Update(Update {
        withdrawn: vec![],
        attributes: vec![
            PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::new())),
            PathAttribute::new(AttrValue::NextHop(addr(i))),
            PathAttribute::new(AttrValue::LocalPref(100)),
        ],
        nlri,
    }))
}

/// Drains every output; returns the bytes handed to sockets.
pub(crate) fn drain(e: &mut Engine) -> usize {
    let mut bytes = 0;
    while let Some(o) = e.poll_output() {
        if let Output::Send { bytes: b, .. } = o {
            bytes += b.len();
        }
    }
    bytes
}
