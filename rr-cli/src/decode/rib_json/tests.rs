//! [`super::write_rib_line`] against the entry serialized with serde, on the test captures and on every
//! attribute kind.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_wire::mrt::{
    MrtBody, MrtReader, MrtRecord, PeerEntry, ReadRecord, RibEntry, RibPrefix, RibRecord, TableDumpV2,
};
use bgp_wire::{
    Afi, AfiSafi, Aggregator, AsPath, AsSegment, AttrValue, Community, DecodeError, DecodeErrorKind,
    ExtendedCommunity, LargeCommunity, MpNextHop, MpReach, MpUnreach, Nlri, Origin, PathAttribute, Prefix,
    Safi, SegmentType,
};
use bytes::Bytes;
use serde::Serialize;

use super::super::{Described, PeerJson};
use super::{RecordParts, RibLine, write_rib_line};

/// The entry serialized with serde: the text [`write_rib_line`] must write.
struct Reference<'a> {
    rec: &'a ReadRecord,
    record: &'a RibRecord,
    line: &'a RibLine<'a>,
    peer: Option<PeerJson>,
    described: Described<'a>,
}

impl Serialize for Reference<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let l = self.line;
        let (rec, record) = (self.rec, self.record);
        let d = &self.described;
        let mut m = s.serialize_map(None)?;
        macro_rules! opt {
            ($key:literal, $v:expr) => {
                if let Some(v) = &$v {
                    m.serialize_entry($key, v)?;
                }
            };
        }
        let errors: Vec<String> = l.errors.iter().map(|e| e.to_string()).collect();
        m.serialize_entry("afi_safi", &record.afi_safi())?;
        opt!("aggregator", d.aggregator);
        opt!("as4_aggregator", d.as4_aggregator);
        opt!("as4_path", d.as4_path);
        opt!("as_path", d.as_path);
        opt!("atomic_aggregate", d.atomic_aggregate);
        m.serialize_entry("attribute_errors", &errors)?;
        m.serialize_entry("attributes", l.attributes)?;
        opt!("cluster_list", d.cluster_list);
        opt!("communities", d.communities);
        m.serialize_entry("entry", &l.entry)?;
        opt!("extended_communities", d.extended_communities);
        opt!("large_communities", d.large_communities);
        opt!("local_pref", d.local_pref);
        opt!("med", d.med);
        opt!("microseconds", rec.record.microseconds);
        m.serialize_entry("mrt_subtype", &rec.record.subtype())?;
        m.serialize_entry("mrt_type", &rec.record.mrt_type())?;
        if !d.next_hops.is_empty() {
            m.serialize_entry("next_hops", &d.next_hops)?;
        }
        m.serialize_entry("offset", &rec.offset)?;
        opt!("only_to_customer", d.only_to_customer);
        opt!("origin", d.origin);
        m.serialize_entry("originated_time", &l.originated_time)?;
        opt!("originator_id", d.originator_id);
        opt!("path_id", l.path_id);
        m.serialize_entry("peer", &self.peer)?;
        m.serialize_entry("peer_index", &l.peer_index)?;
        m.serialize_entry("prefix", &format_args!("{}", record.prefix))?;
        m.serialize_entry("record", &rec.number)?;
        m.serialize_entry("sequence", &record.sequence)?;
        m.serialize_entry("timestamp", &rec.record.timestamp)?;
        m.serialize_entry("type", "rib_entry")?;
        m.end()
    }
}

fn peer_json(p: &PeerEntry) -> PeerJson {
    PeerJson {
        asn: p.asn,
        bgp_id: p.bgp_id,
        ip: p.ip,
    }
}

/// Writes the entry both ways and compares the text.
fn check(
    rec: &ReadRecord,
    r: &RibRecord,
    i: usize,
    peer: Option<&PeerEntry>,
    attributes: &[PathAttribute],
    errors: &[DecodeError],
) {
    let e = &r.entries[i];
    let cached = peer.map(|p| serde_json::to_vec(&peer_json(p)).unwrap());
    let mut parts = RecordParts::default();
    parts.fill(rec, r);
    let line = RibLine {
        parts: &parts,
        entry: i,
        path_id: e.path_id,
        peer_index: e.peer_index,
        peer: cached.as_deref(),
        originated_time: e.originated_time,
        attributes,
        errors,
    };
    let mut fast = Vec::new();
    write_rib_line(&mut fast, &line);
    let want = serde_json::to_string(&Reference {
        rec,
        record: r,
        line: &line,
        peer: peer.map(peer_json),
        described: Described::new(attributes),
    })
    .unwrap();
    assert_eq!(String::from_utf8(fast).unwrap(), want);
}

#[test]
fn captures_match_serde() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bgp-wire/tests/data/mrt");
    let mut seen = 0;
    for name in ["bird-rib4.mrt", "bird-rib6.mrt", "gobgp-table.mrt"] {
        let data = std::fs::read(dir.join(name)).unwrap();
        let mut peers = Vec::new();
        for rec in MrtReader::new(&data[..]) {
            let rec = rec.unwrap();
            match &rec.record.body {
                MrtBody::TableDumpV2(TableDumpV2::PeerIndexTable(t)) => peers = t.peers.clone(),
                MrtBody::TableDumpV2(TableDumpV2::Rib(r)) => {
                    for (i, e) in r.entries.iter().enumerate() {
                        let (attrs, errors) = e.decode_attributes(r.afi_safi()).unwrap();
                        let peer = peers.get(usize::from(e.peer_index));
                        check(&rec, r, i, peer, &attrs, &errors);
                        seen += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert!(seen > 10, "{seen} entries");
}

/// A record of one entry for `prefix`, ADD-PATH (every optional field printed), read back as the second
/// record of a stream.
fn record(prefix: IpAddr, len: u8) -> (ReadRecord, RibRecord) {
    let r = RibRecord {
        multicast: false,
        add_path: true,
        sequence: 4_000_000_000,
        prefix: RibPrefix { addr: prefix, len },
        entries: vec![RibEntry {
            peer_index: 7,
            originated_time: 1_700_000_001,
            path_id: Some(u32::MAX),
            attributes: Bytes::new(),
        }],
    };
    let mut data = Vec::new();
    for body in [TableDumpV2::Rib(r.clone()), TableDumpV2::Rib(r.clone())] {
        let rec = MrtRecord {
            timestamp: 1_700_000_000,
            microseconds: None,
            body: MrtBody::TableDumpV2(body),
        };
        rec.encode(&mut data).unwrap();
    }
    let rec = MrtReader::new(&data[..]).nth(1).unwrap().unwrap();
    (rec, r)
}

#[test]
fn every_attribute_kind_matches_serde() {
    let segments = |kinds: &[SegmentType]| AsPath {
        segments: kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| AsSegment {
                kind,
                asns: vec![i as u32, 65_000, u32::MAX],
            })
            .collect(),
        four_octet_wire: true,
    };
    let all = [
        SegmentType::AsSequence,
        SegmentType::AsSet,
        SegmentType::AsConfedSequence,
        SegmentType::AsConfedSet,
    ];
    let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
    let ipv6_family = AfiSafi::new(Afi::IPV6, Safi::UNICAST);
    let attrs: Vec<AttrValue> = vec![
        AttrValue::Origin(Origin::Igp),
        AttrValue::Origin(Origin::Egp),
        AttrValue::Origin(Origin::Incomplete),
        AttrValue::AsPath(AsPath::new()),
        AttrValue::AsPath(segments(&all)),
        AttrValue::As4Path(segments(&[SegmentType::AsSet, SegmentType::AsSequence])),
        AttrValue::NextHop(Ipv4Addr::new(0, 9, 10, 255)),
        AttrValue::MultiExitDisc(0),
        AttrValue::LocalPref(u32::MAX),
        AttrValue::AtomicAggregate,
        AttrValue::Aggregator(Aggregator {
            asn: 23456,
            address: Ipv4Addr::new(192, 0, 2, 100),
        }),
        AttrValue::As4Aggregator(Aggregator {
            asn: 4_200_000_000,
            address: Ipv4Addr::new(10, 0, 0, 1),
        }),
        AttrValue::Communities(vec![Community::NO_EXPORT, Community::new(0, 0)]),
        AttrValue::OriginatorId(Ipv4Addr::new(1, 2, 3, 4)),
        AttrValue::ClusterList(vec![Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(100, 20, 3, 4)]),
        AttrValue::MpReach(MpReach {
            afi_safi: ipv6_family,
            next_hop: MpNextHop::Ipv6 {
                global: v6("2001:db8::1"),
                link_local: Some(v6("fe80::1:2")),
            },
            nlri: vec![],
            opaque_nlri: Bytes::new(),
        }),
        AttrValue::MpReach(MpReach {
            afi_safi: ipv6_family,
            next_hop: MpNextHop::Ipv6 {
                global: v6("::ffff:192.0.2.1"),
                link_local: None,
            },
            nlri: vec![],
            opaque_nlri: Bytes::new(),
        }),
        AttrValue::MpReach(MpReach {
            afi_safi: AfiSafi::new(Afi::IPV4, Safi::MULTICAST),
            next_hop: MpNextHop::Ipv4(Ipv4Addr::new(192, 0, 2, 7)),
            nlri: vec![Nlri {
                path_id: Some(1),
                prefix: Prefix::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8).unwrap(),
            }],
            opaque_nlri: Bytes::new(),
        }),
        AttrValue::MpReach(MpReach {
            afi_safi: AfiSafi::new(Afi::IPV4, Safi(128)),
            next_hop: MpNextHop::Other(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1])),
            nlri: vec![],
            opaque_nlri: Bytes::from_static(&[1, 2, 3]),
        }),
        AttrValue::MpUnreach(MpUnreach {
            afi_safi: ipv6_family,
            withdrawn: vec![],
            opaque_nlri: Bytes::new(),
        }),
        AttrValue::ExtendedCommunities(vec![
            ExtendedCommunity::route_target_as2(64512, 7),
            ExtendedCommunity([0x01, 0x03, 192, 0, 2, 1, 0, 9]),
            ExtendedCommunity([0x02, 0x02, 0, 1, 0, 0, 0, 5]),
            ExtendedCommunity([0x43, 0x0b, 1, 2, 3, 4, 5, 6]),
        ]),
        AttrValue::LargeCommunities(vec![LargeCommunity::new(4_200_000_000, 0, 1)]),
        AttrValue::OnlyToCustomer(65_001),
        AttrValue::Unknown {
            type_code: 99,
            bytes: Bytes::from_static(b"\x00\"\\"),
        },
    ];
    let attrs: Vec<PathAttribute> = attrs.into_iter().map(PathAttribute::new).collect();
    let errors = [
        DecodeError::new(3, DecodeErrorKind::MalformedAttributeList),
        DecodeError::new(70_000, DecodeErrorKind::MalformedAttributeList),
    ];
    let peer = PeerEntry {
        bgp_id: Ipv4Addr::new(10, 0, 0, 10),
        ip: IpAddr::V6(v6("2001:db8::a")),
        asn: 4_200_000_001,
        as4: true,
    };
    for (prefix, len) in [
        (IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)), 24),
        (IpAddr::V6(v6("2001:db8:1::")), 48),
        (IpAddr::V6(v6("::")), 0),
    ] {
        let (rec, r) = record(prefix, len);
        check(&rec, &r, 0, Some(&peer), &attrs, &errors);
        check(&rec, &r, 0, None, &attrs[..3], &[]);
        check(&rec, &r, 0, None, &[], &[]);
        // One attribute at a time: the flat fields of each alone.
        for a in &attrs {
            check(&rec, &r, 0, Some(&peer), std::slice::from_ref(a), &[]);
        }
    }
}
