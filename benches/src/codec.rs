//! Inputs shared by the codec benchmarks (`benches/codec.rs`), the `codec_decode` example and
//! `rr-mrt-compare`: the path attributes a reflector typically carries, the benchmark's 500-NLRI UPDATEs and
//! their visit, and a TABLE_DUMP_V2 RIB dump written by bgp-wire's MRT writer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_wire::mrt::{
    MrtBody, MrtRecord, MrtWriter, PeerEntry, PeerIndexTable, RibEntry, RibPrefix, RibRecord, TableDumpV2,
};
use bgp_wire::{
    AddPathMap, AfiSafi, AsPath, AttrValue, Community, DecodeCtx, MpNextHop, MpReach, Nlri, Origin,
    PathAttribute, Prefix, Update,
};
use bytes::{Bytes, BytesMut};

/// ORIGIN, AS_PATH (3 hops), NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF, COMMUNITIES (2): what a Calico node's
/// BIRD sends a reflector, plus the path of an external route.
pub fn typical_attributes() -> Vec<PathAttribute> {
    vec![
        PathAttribute::new(AttrValue::Origin(Origin::Igp)),
        PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([64512, 65001, 65002]))),
        PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
        PathAttribute::new(AttrValue::MultiExitDisc(10)),
        PathAttribute::new(AttrValue::LocalPref(100)),
        PathAttribute::new(AttrValue::Communities(vec![
            Community::new(64512, 100),
            Community::new(64512, 200),
        ])),
    ]
}

/// Prefixes in each of the benchmark's UPDATEs.
pub const NLRI: usize = 500;

/// `n` consecutive /24s from 10.0.0.0 (`v6`: /48s from 2001:db8::), with path ids 1.. when `add_path`.
pub fn nlri(n: usize, v6: bool, add_path: bool) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let p = if v6 {
                let a = Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + ((i as u128) << 80));
                Prefix::v6(a, 48).expect("a /48")
            } else {
                Prefix::v4(Ipv4Addr::from(0x0a00_0000u32 + ((i as u32) << 8)), 24).expect("a /24")
            };
            if add_path {
                Nlri::with_path_id(i as u32 + 1, p)
            } else {
                Nlri::new(p)
            }
        })
        .collect()
}

/// The benchmark's UPDATE: [`NLRI`] IPv4 prefixes in the NLRI field with [`typical_attributes`], or (`v6`)
/// IPv6 prefixes in MP_REACH_NLRI, the NEXT_HOP replaced by the MP next hop.
pub fn update(v6: bool, add_path: bool) -> Update {
    let mut attributes = typical_attributes();
    if !v6 {
        return Update {
            withdrawn: vec![],
            attributes,
            nlri: nlri(NLRI, false, add_path),
        };
    }
    attributes.retain(|a| !matches!(a.value, AttrValue::NextHop(_)));
    attributes.push(PathAttribute::new(AttrValue::MpReach(MpReach {
        afi_safi: AfiSafi::IPV6_UNICAST,
        next_hop: MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().expect("v6"),
            link_local: None,
        },
        nlri: nlri(NLRI, true, add_path),
        opaque_nlri: Bytes::new(),
    })));
    Update {
        withdrawn: vec![],
        attributes,
        nlri: vec![],
    }
}

/// bgp-wire's decode context for the benchmark's UPDATEs: 4-octet AS; ADD-PATH on both unicast families
/// when asked.
pub fn decode_ctx(add_path: bool) -> DecodeCtx {
    DecodeCtx::modern(if add_path {
        AddPathMap::with([AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST])
    } else {
        AddPathMap::new()
    })
}

/// The benchmark's visit of a decoded UPDATE: every prefix (length + path id) and every attribute.
pub fn visit(u: &Update) -> u64 {
    let mut acc = 0u64;
    let mut prefixes = |n: &[Nlri]| {
        for x in n {
            acc += u64::from(x.prefix.len()) + u64::from(x.path_id.unwrap_or(0));
        }
    };
    prefixes(&u.nlri);
    let mut attrs = 0u64;
    for a in &u.attributes {
        attrs += 1;
        if let AttrValue::MpReach(m) = &a.value {
            prefixes(&m.nlri);
        }
    }
    acc + attrs
}

/// A TABLE_DUMP_V2 RIB dump: a peer index table of `peers` peers and one RIB_IPV4_UNICAST record per
/// prefix (`prefixes` consecutive /24s from 10.0.0.0) with an entry per peer, each peer's entries carrying
/// [`typical_attributes`] with an AS_PATH of its own.
pub fn rib_dump(prefixes: usize, peers: usize) -> Vec<u8> {
    let mut w = MrtWriter::new(Vec::new());
    let table = (0..peers)
        .map(|i| PeerEntry {
            bgp_id: Ipv4Addr::from(0x0a00_000au32 + i as u32),
            ip: IpAddr::V4(Ipv4Addr::from(0xc000_020au32 + i as u32)),
            asn: 65001 + i as u32,
            as4: true,
        })
        .collect();
    let rec = |body| MrtRecord {
        timestamp: 1_700_000_000,
        microseconds: None,
        body: MrtBody::TableDumpV2(body),
    };
    w.write(&rec(TableDumpV2::PeerIndexTable(PeerIndexTable {
        collector_bgp_id: Ipv4Addr::new(10, 0, 0, 1),
        view_name: Bytes::from_static(b"bench"),
        peers: table,
    })))
    .expect("writes");
    let attrs: Vec<Bytes> = (0..peers)
        .map(|i| {
            let mut a = typical_attributes();
            a[1] = PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([
                65001 + i as u32,
                65100,
                65200 + i as u32,
            ])));
            let mut out = BytesMut::new();
            bgp_wire::mrt::encode_rib_attributes(&a, &mut out).expect("encodes");
            out.freeze()
        })
        .collect();
    for p in 0..prefixes {
        let entries = (0..peers)
            .map(|i| RibEntry {
                peer_index: i as u16,
                originated_time: 1_700_000_000,
                path_id: None,
                attributes: attrs[i].clone(),
            })
            .collect();
        w.write(&rec(TableDumpV2::Rib(RibRecord {
            multicast: false,
            add_path: false,
            sequence: p as u32,
            prefix: RibPrefix {
                addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32 + ((p as u32) << 8))),
                len: 24,
            },
            entries,
        })))
        .expect("writes");
    }
    w.into_inner()
}
