//! Inputs shared by the codec benchmarks (`benches/codec.rs`) and `rr-mrt-compare`: the path attributes a
//! reflector typically carries and a TABLE_DUMP_V2 RIB dump written by bgp-wire's MRT writer.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::mrt::{
    MrtBody, MrtRecord, MrtWriter, PeerEntry, PeerIndexTable, RibEntry, RibPrefix, RibRecord, TableDumpV2,
};
use bgp_wire::{AsPath, AttrValue, Community, Origin, PathAttribute};
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
