//! MRT byte vectors checked in both directions, written from the layouts of RFC 6396 and RFC 8050, plus the
//! reader's error reporting and resynchronisation.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_wire::mrt::{
    Bgp4mp, Bgp4mpMessage, Bgp4mpPeer, MrtBody, MrtErrorKind, MrtReader, MrtRecord, MrtWriter, PeerEntry,
    PeerIndexTable, RibEntry, RibPrefix, RibRecord, StateChange, TableDumpV2,
};
use bytes::Bytes;
use proptest::prelude::*;

const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 19, 4,
];

/// Decodes `bytes` as one record, checks it equals `want`, and that `want` encodes to `bytes`.
fn both_ways(bytes: &[u8], want: &MrtRecord) {
    let got = MrtRecord::decode(Bytes::copy_from_slice(bytes)).expect("decodes");
    assert_eq!(&got, want);
    assert_eq!(want.to_bytes().expect("encodes"), bytes);
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn bgp4mp_message_as4_ipv4() {
    let mut bytes = vec![
        0x5f, 0x5e, 0x10, 0x00, // timestamp
        0x00, 0x10, 0x00, 0x04, // BGP4MP, MESSAGE_AS4
        0x00, 0x00, 0x00, 0x27, // length 39 = 20 + 19
        0x00, 0x01, 0x00, 0x00, // peer AS 65536
        0x00, 0x00, 0xfd, 0xe8, // local AS 65000
        0x00, 0x07, 0x00, 0x01, // interface 7, AFI 1
        192, 0, 2, 1, 192, 0, 2, 2,
    ];
    bytes.extend_from_slice(&KEEPALIVE);
    let want = MrtRecord {
        timestamp: 0x5f5e_1000,
        microseconds: None,
        body: MrtBody::Bgp4mp(Bgp4mp::Message(Bgp4mpMessage {
            as4: true,
            local: false,
            add_path: false,
            peer: Bgp4mpPeer {
                peer_as: 65536,
                local_as: 65000,
                interface_index: 7,
                peer_ip: v4(192, 0, 2, 1),
                local_ip: v4(192, 0, 2, 2),
            },
            message: Bytes::from_static(&KEEPALIVE),
        })),
    };
    both_ways(&bytes, &want);
    assert_eq!(want.mrt_type(), 16);
    assert_eq!(want.subtype(), 4);
}

#[test]
fn bgp4mp_et_message_2octet_ipv6_local_addpath() {
    let mut bytes = vec![
        0, 0, 0, 9, // timestamp
        0x00, 0x11, 0x00, 0x0a, // BGP4MP_ET, MESSAGE_LOCAL_ADDPATH
        0x00, 0x00, 0x00, 0x3f, // length 63 = 4 (µs) + 8 + 32 + 19
        0x00, 0x0f, 0x42, 0x3f, // 999_999 µs
        0xfd, 0xe9, 0xfd, 0xea, // peer AS 65001, local AS 65002
        0x00, 0x00, 0x00, 0x02, // interface 0, AFI 2
    ];
    bytes.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    bytes.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
    bytes.extend_from_slice(&KEEPALIVE);
    let want = MrtRecord {
        timestamp: 9,
        microseconds: Some(999_999),
        body: MrtBody::Bgp4mp(Bgp4mp::Message(Bgp4mpMessage {
            as4: false,
            local: true,
            add_path: true,
            peer: Bgp4mpPeer {
                peer_as: 65001,
                local_as: 65002,
                interface_index: 0,
                peer_ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                local_ip: "2001:db8::2".parse().unwrap(),
            },
            message: Bytes::from_static(&KEEPALIVE),
        })),
    };
    both_ways(&bytes, &want);
    assert_eq!(want.mrt_type(), 17);
}

#[test]
fn bgp4mp_state_change_as4() {
    let bytes = [
        0, 0, 0, 1, 0x00, 0x10, 0x00, 0x05, 0x00, 0x00, 0x00,
        0x18, // header, STATE_CHANGE_AS4, length 24
        0, 0, 0xfc, 0, 0, 0, 0xfc, 0, // AS 64512 both
        0, 0, 0, 1, // interface 0, AFI 1
        127, 0, 0, 12, 127, 0, 0, 11, // addresses
        0, 5, 0, 6, // OpenConfirm -> Established
    ];
    let want = MrtRecord {
        timestamp: 1,
        microseconds: None,
        body: MrtBody::Bgp4mp(Bgp4mp::StateChange(StateChange {
            as4: true,
            peer: Bgp4mpPeer {
                peer_as: 64512,
                local_as: 64512,
                interface_index: 0,
                peer_ip: v4(127, 0, 0, 12),
                local_ip: v4(127, 0, 0, 11),
            },
            old_state: 5,
            new_state: 6,
        })),
    };
    both_ways(&bytes, &want);
}

#[test]
fn peer_index_table() {
    let mut bytes = vec![
        0, 0, 0, 2, 0x00, 0x0d, 0x00, 0x01, 0, 0, 0, 0, // header; length patched below
        10, 0, 0, 1, // collector BGP ID
        0, 2, b'r', b'r', // view name "rr"
        0, 2, // two peers
        0x00, 10, 0, 0, 2, 192, 0, 2, 2, 0xfd, 0xe8, // IPv4, 2-octet AS 65000
        0x03, 10, 0, 0, 3, // IPv6 + AS4
    ];
    bytes.extend_from_slice(&"2001:db8::3".parse::<Ipv6Addr>().unwrap().octets());
    bytes.extend_from_slice(&[0, 1, 0, 0]);
    let len = (bytes.len() - 12) as u32;
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    let want = MrtRecord {
        timestamp: 2,
        microseconds: None,
        body: MrtBody::TableDumpV2(TableDumpV2::PeerIndexTable(PeerIndexTable {
            collector_bgp_id: Ipv4Addr::new(10, 0, 0, 1),
            view_name: Bytes::from_static(b"rr"),
            peers: vec![
                PeerEntry {
                    bgp_id: Ipv4Addr::new(10, 0, 0, 2),
                    ip: v4(192, 0, 2, 2),
                    asn: 65000,
                    as4: false,
                },
                PeerEntry {
                    bgp_id: Ipv4Addr::new(10, 0, 0, 3),
                    ip: "2001:db8::3".parse().unwrap(),
                    asn: 65536,
                    as4: true,
                },
            ],
        })),
    };
    both_ways(&bytes, &want);
}

#[test]
fn rib_ipv4_unicast_addpath() {
    let attrs = [0x40, 1, 1, 0]; // ORIGIN IGP
    let mut bytes = vec![
        0, 0, 0, 3, 0x00, 0x0d, 0x00, 0x08, 0, 0, 0, 0, // RIB_IPV4_UNICAST_ADDPATH
        0, 0, 0, 42, // sequence
        20, 10, 16, 0x10, // 10.16.16.0/20
        0, 2, // two entries
        0, 0, 0, 0, 0, 100, 0, 0, 0, 1, 0, 4, // peer 0, time 100, path id 1, 4 octets
    ];
    bytes.extend_from_slice(&attrs);
    bytes.extend_from_slice(&[0, 1, 0, 0, 0, 101, 0, 0, 0, 2, 0, 0]); // peer 1, path id 2, no attributes
    let len = (bytes.len() - 12) as u32;
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    let want = MrtRecord {
        timestamp: 3,
        microseconds: None,
        body: MrtBody::TableDumpV2(TableDumpV2::Rib(RibRecord {
            multicast: false,
            add_path: true,
            sequence: 42,
            prefix: RibPrefix {
                addr: v4(10, 16, 16, 0),
                len: 20,
            },
            entries: vec![
                RibEntry {
                    peer_index: 0,
                    originated_time: 100,
                    path_id: Some(1),
                    attributes: Bytes::copy_from_slice(&attrs),
                },
                RibEntry {
                    peer_index: 1,
                    originated_time: 101,
                    path_id: Some(2),
                    attributes: Bytes::new(),
                },
            ],
        })),
    };
    both_ways(&bytes, &want);
}

#[test]
fn rib_ipv6_unicast_and_default_route() {
    let bytes = [
        0, 0, 0, 4, 0x00, 0x0d, 0x00, 0x04, 0, 0, 0, 20, // RIB_IPV6_UNICAST, length 20
        0, 0, 0, 0, // sequence
        33, 0x20, 0x01, 0x0d, 0xb8, 0x80, // 2001:db8:8000::/33
        0, 1, 0, 3, 0, 0, 0, 7, 0, 0, // one entry, no attributes
    ];
    let want = MrtRecord {
        timestamp: 4,
        microseconds: None,
        body: MrtBody::TableDumpV2(TableDumpV2::Rib(RibRecord {
            multicast: false,
            add_path: false,
            sequence: 0,
            prefix: RibPrefix {
                addr: "2001:db8:8000::".parse().unwrap(),
                len: 33,
            },
            entries: vec![RibEntry {
                peer_index: 3,
                originated_time: 7,
                path_id: None,
                attributes: Bytes::new(),
            }],
        })),
    };
    both_ways(&bytes, &want);
    let default = [
        0, 0, 0, 4, 0x00, 0x0d, 0x00, 0x02, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
    ];
    let rec = MrtRecord::decode(Bytes::copy_from_slice(&default)).unwrap();
    let MrtBody::TableDumpV2(TableDumpV2::Rib(r)) = &rec.body else {
        panic!("not a rib record: {rec:?}")
    };
    assert_eq!(r.prefix.to_string(), "0.0.0.0/0");
    assert_eq!(rec.to_bytes().unwrap(), default);
}

#[test]
fn unknown_types_and_subtypes_are_kept() {
    for bytes in [
        &[0, 0, 0, 5, 0, 12, 0, 1, 0, 0, 0, 3, 1, 2, 3][..], // TABLE_DUMP (v1)
        &[0, 0, 0, 5, 0, 13, 0, 6, 0, 0, 0, 2, 9, 9][..],    // RIB_GENERIC
        &[0, 0, 0, 5, 0, 16, 0, 99, 0, 0, 0, 1, 7][..],      // unknown BGP4MP subtype
        &[0, 0, 0, 5, 0, 33, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 8][..], // ISIS_ET: µs then data
    ] {
        let rec = MrtRecord::decode(Bytes::copy_from_slice(bytes)).unwrap();
        assert_eq!(rec.to_bytes().unwrap(), bytes, "{rec:?}");
    }
}

/// Four records: good, bad AFI, good, truncated.
fn stream_with_errors() -> Vec<u8> {
    let good = [
        0, 0, 0, 1, 0, 16, 0, 0, 0, 0, 0, 20, 0, 1, 0, 2, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 1, 0, 2,
    ];
    let mut s = good.to_vec();
    let mut bad = good;
    bad[19] = 9; // AFI 9 at offset 18 of the record
    s.extend_from_slice(&bad);
    s.extend_from_slice(&good);
    s.extend_from_slice(&[0, 0, 0, 1, 0, 16, 0, 0, 0, 0, 0, 20, 0, 1]);
    s
}

#[test]
fn reader_reports_record_and_offset_and_carries_on() {
    let data = stream_with_errors();
    let items: Vec<_> = MrtReader::new(&data[..]).collect();
    assert_eq!(items.len(), 4);
    let first = items[0].as_ref().unwrap();
    assert_eq!((first.number, first.offset), (1, 0));
    let e = items[1].as_ref().unwrap_err();
    assert_eq!((e.record, e.offset), (2, 32 + 18));
    assert!(matches!(e.kind, MrtErrorKind::UnknownAfi(9)));
    assert!(!e.is_fatal());
    assert!(e.to_string().contains("record 2 at byte offset 50"), "{e}");
    let third = items[2].as_ref().unwrap();
    assert_eq!((third.number, third.offset), (3, 64));
    assert_eq!(&third.raw[..], &data[64..96]);
    let e = items[3].as_ref().unwrap_err();
    assert_eq!((e.record, e.offset), (4, 96 + 12 + 2));
    assert!(matches!(
        e.kind,
        MrtErrorKind::TruncatedRecord {
            length: 20,
            available: 2
        }
    ));
    assert!(e.is_fatal());
}

#[test]
fn truncated_header_and_trailing_bytes() {
    let e = MrtReader::new(&[0u8, 0, 0, 1, 0][..])
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!((e.record, e.offset), (1, 0));
    assert!(matches!(e.kind, MrtErrorKind::TruncatedHeader { available: 5 }));
    // A STATE_CHANGE with one octet too many.
    let bytes = [
        0, 0, 0, 1, 0, 16, 0, 0, 0, 0, 0, 21, 0, 1, 0, 2, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 1, 0, 2, 0,
    ];
    let e = MrtRecord::decode(Bytes::copy_from_slice(&bytes)).unwrap_err();
    assert_eq!(e.offset, 32);
    assert!(matches!(e.kind, MrtErrorKind::TrailingBytes { count: 1 }));
    // A RIB record whose prefix length exceeds 32.
    let bytes = [0, 0, 0, 1, 0, 13, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 33, 0, 0];
    let e = MrtRecord::decode(Bytes::copy_from_slice(&bytes)).unwrap_err();
    assert_eq!(e.offset, 16);
    assert!(matches!(
        e.kind,
        MrtErrorKind::InvalidPrefixLength { length: 33, max: 32 }
    ));
}

#[test]
fn writer_rejects_what_cannot_be_encoded() {
    let rec = MrtRecord {
        timestamp: 0,
        microseconds: None,
        body: MrtBody::Bgp4mp(Bgp4mp::Message(Bgp4mpMessage {
            as4: false,
            local: false,
            add_path: false,
            peer: Bgp4mpPeer {
                peer_as: 70000,
                local_as: 1,
                interface_index: 0,
                peer_ip: v4(1, 1, 1, 1),
                local_ip: v4(2, 2, 2, 2),
            },
            message: Bytes::new(),
        })),
    };
    assert!(rec.to_bytes().is_err());
    let mut w = MrtWriter::new(Vec::new());
    assert!(w.write(&rec).is_err());
    assert!(w.into_inner().is_empty(), "nothing written on failure");
}

#[cfg(feature = "compression")]
#[test]
fn gzip_and_bzip2_are_detected() {
    use bgp_wire::mrt::{Compression, decompress};
    use std::io::{Read, Write};
    let plain = stream_with_errors();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&plain).unwrap();
    let bz = bz.finish().unwrap();
    for (input, kind) in [
        (&plain, Compression::None),
        (&gz, Compression::Gzip),
        (&bz, Compression::Bzip2),
    ] {
        let (got, mut r) = decompress(&input[..]).unwrap();
        assert_eq!(got, kind);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);
    }
}

#[test]
fn short_and_empty_inputs_are_plain() {
    use bgp_wire::mrt::{Compression, decompress};
    assert_eq!(Compression::detect(b"BZh9"), Compression::None);
    let (kind, r) = decompress(&b""[..]).unwrap();
    assert_eq!(kind, Compression::None);
    assert_eq!(MrtReader::new(r).count(), 0);
}

/// Hands out the stream in the given chunk sizes (cycled), as a socket or a decompressor might.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()]
            .min(buf.len())
            .min(self.data.len());
        self.next += 1;
        buf[..size].copy_from_slice(&self.data[..size]);
        self.data = &self.data[size..];
        Ok(size)
    }
}

fn all_captures() -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mrt");
    let mut all = Vec::new();
    for name in ["bird-updates.mrt", "bird-rib4.mrt", "gobgp-table.mrt"] {
        all.extend(std::fs::read(dir.join(name)).unwrap());
    }
    all
}

proptest! {
    #[test]
    fn records_are_the_same_however_the_stream_is_split(sizes in proptest::collection::vec(1usize..40, 1..8)) {
        let data = all_captures();
        let whole: Vec<_> = MrtReader::new(&data[..]).collect::<Result<_, _>>().unwrap();
        let split: Vec<_> =
            MrtReader::new(Chunked { data: &data, sizes, next: 0 }).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        for r in MrtReader::new(&data[..]).filter_map(Result::ok) {
            // Whatever decoded must re-encode to the very bytes read.
            prop_assert_eq!(r.record.to_bytes().unwrap(), r.raw.to_vec());
        }
    }

    #[test]
    fn rib_records_round_trip(
        seq in any::<u32>(),
        v6 in any::<bool>(),
        add_path in any::<bool>(),
        multicast in any::<bool>(),
        raw in any::<[u8; 16]>(),
        len_seed in any::<u8>(),
        entries in proptest::collection::vec(
            (any::<u16>(), any::<u32>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..5),
    ) {
        let (addr, len) = if v6 {
            let len = len_seed % 129;
            (IpAddr::V6(Ipv6Addr::from(mask(raw, len))), len)
        } else {
            let len = len_seed % 33;
            let m = mask(raw, len);
            (IpAddr::V4(Ipv4Addr::new(m[0], m[1], m[2], m[3])), len)
        };
        let rec = MrtRecord {
            timestamp: seq ^ 0x5a5a,
            microseconds: None,
            body: MrtBody::TableDumpV2(TableDumpV2::Rib(RibRecord {
                multicast,
                add_path,
                sequence: seq,
                prefix: RibPrefix { addr, len },
                entries: entries
                    .into_iter()
                    .map(|(peer_index, originated_time, id, a)| RibEntry {
                        peer_index,
                        originated_time,
                        path_id: add_path.then_some(id),
                        attributes: Bytes::from(a),
                    })
                    .collect(),
            })),
        };
        let bytes = rec.to_bytes().unwrap();
        prop_assert_eq!(MrtRecord::decode(Bytes::from(bytes)).unwrap(), rec);
    }
}

/// Zeroes the bits past `len` octet-wise (octets wholly past the prefix), as the wire format cannot carry them.
fn mask(mut raw: [u8; 16], len: u8) -> [u8; 16] {
    let keep = usize::from(len).div_ceil(8);
    for b in raw.iter_mut().skip(keep) {
        *b = 0;
    }
    raw
}

/// RIB entry attribute errors carry their offset in the entry's attribute list, whether the list is decoded
/// in place or rewritten first (a NEXT_HOP with flags 0, as BIRD 2 writes it, makes it rewritten).
#[test]
fn rib_entry_attribute_errors_are_at_their_offset_in_the_list() {
    let entry = |attrs: &'static [u8]| RibEntry {
        peer_index: 0,
        originated_time: 0,
        path_id: None,
        attributes: Bytes::from_static(attrs),
    };
    let v4 = bgp_wire::AfiSafi::IPV4_UNICAST;
    for (attrs, at) in [
        // ORIGIN 7: the value at offset 3.
        (&[0x40, 1, 1, 7][..], 3),
        // NEXT_HOP with flags 0 first (rewritten), then ORIGIN 7 at 7 + 3.
        (&[0x00, 3, 4, 192, 0, 2, 1, 0x40, 1, 1, 7][..], 10),
    ] {
        let (kept, errors) = entry(attrs).decode_attributes(v4).expect("no session reset");
        assert_eq!(errors.len(), 1, "{attrs:?}");
        assert_eq!(errors[0].offset, at, "{attrs:?}");
        assert!(kept.iter().all(|a| a.type_code() != 1), "{attrs:?}");
    }
    // ORIGIN 7, then an attribute header cut short at offset 4: the list cannot be walked, reset.
    let e = entry(&[0x40, 1, 1, 7, 0x40, 2])
        .decode_attributes(v4)
        .unwrap_err();
    assert_eq!(e.offset, 4);
    assert_eq!(e.kind, bgp_wire::DecodeErrorKind::MalformedAttributeList);
}
