//! Update packing for update groups, capability negotiation, AS4 merging and the validated
//! newtypes.

use std::net::Ipv4Addr;

use bgp_wire::attr::type_code;
use bgp_wire::*;
use bytes::{Bytes, BytesMut};

fn attrs_bytes(ctx: &EncodeCtx, with_next_hop: bool) -> BytesMut {
    let mut attrs = vec![
        PathAttribute::new(AttrValue::Origin(Origin::Igp)),
        PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([65001]))),
        PathAttribute::new(AttrValue::LocalPref(100)),
        PathAttribute::new(AttrValue::Communities(vec![Community::new(65001, 1)])),
    ];
    if with_next_hop {
        attrs.push(PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(
            192, 0, 2, 1,
        ))));
    }
    let mut b = BytesMut::new();
    encode_attributes(&attrs, ctx, &mut b).unwrap();
    b
}

/// Splits a stream into decoded messages.
fn decode_all(mut buf: BytesMut, ctx: &DecodeCtx) -> Vec<(usize, Update)> {
    let mut out = Vec::new();
    while let Some(len) = frame_len(&buf, ctx.max_message_len()).unwrap() {
        let f = buf.split_to(len).freeze();
        let (m, e) = Message::decode_with_errors(&f, ctx).unwrap();
        assert!(e.is_empty(), "{e:?}");
        let Message::Update(u) = m else {
            panic!("not an update")
        };
        out.push((len, u));
    }
    assert!(buf.is_empty());
    out
}

fn v4_prefixes(n: u32) -> Vec<Nlri> {
    (0..n)
        .map(|i| Nlri::new(Prefix::v4(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap()))
        .collect()
}

#[test]
fn builder_packs_ipv4_up_to_the_limit() {
    let ctx = EncodeCtx {
        four_octet_as: true,
        ..Default::default()
    };
    let attrs = attrs_bytes(&ctx, true);
    let b = UpdateBuilder::announce(&ctx, AfiSafi::IPV4_UNICAST, &attrs, None);
    let all = v4_prefixes(3000);
    let mut out = BytesMut::new();
    let mut rest = &all[..];
    let mut messages = 0;
    while !rest.is_empty() {
        let n = b.encode_next(rest, &mut out).unwrap();
        assert!(n > 0);
        rest = &rest[n..];
        messages += 1;
    }
    let decoded = decode_all(out, &ctx.mirror());
    assert_eq!(decoded.len(), messages);
    // 4 octets per /24: about 1000 per 4096-octet message, and every message but the last full.
    assert_eq!(messages, 3);
    for (len, _) in &decoded[..decoded.len() - 1] {
        assert!(*len > 4096 - 4 && *len <= 4096, "{len}");
    }
    let got: Vec<Nlri> = decoded.iter().flat_map(|(_, u)| u.nlri.clone()).collect();
    assert_eq!(got, all);
    assert!(
        decoded
            .iter()
            .all(|(_, u)| u.attr(type_code::COMMUNITIES).is_some())
    );
    // update_parts_len agrees with the encoder
    let mut one = BytesMut::new();
    encode_update_parts(&attrs, &[], &all[..10], &ctx, &mut one).unwrap();
    assert_eq!(one.len(), update_parts_len(attrs.len(), &[], &all[..10], &ctx));
}

#[test]
fn builder_ipv6_add_path_and_withdrawals() {
    let ctx = EncodeCtx {
        four_octet_as: true,
        add_path: AddPathMap::with([AfiSafi::IPV6_UNICAST]),
        extended_message: false,
    };
    let attrs = attrs_bytes(&ctx, false);
    let nh = MpNextHop::Ipv6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: Some("fe80::1".parse().unwrap()),
    };
    let all: Vec<Nlri> = (0..600u32)
        .map(|i| {
            let p = Prefix::v6(
                std::net::Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(i) << 64)),
                64,
            );
            Nlri::with_path_id(i % 3, p.unwrap())
        })
        .collect();
    let b = UpdateBuilder::announce(&ctx, AfiSafi::IPV6_UNICAST, &attrs, Some(&nh));
    let mut out = BytesMut::new();
    let mut rest = &all[..];
    while !rest.is_empty() {
        rest = &rest[b.encode_next(rest, &mut out).unwrap()..];
    }
    let w = UpdateBuilder::withdraw(&ctx, AfiSafi::IPV6_UNICAST);
    let mut rest = &all[..];
    while !rest.is_empty() {
        rest = &rest[w.encode_next(rest, &mut out).unwrap()..];
    }
    let decoded = decode_all(out, &ctx.mirror());
    let announced: Vec<Nlri> = decoded
        .iter()
        .flat_map(|(_, u)| u.announced().map(|(_, n)| *n))
        .collect();
    let withdrawn: Vec<Nlri> = decoded
        .iter()
        .flat_map(|(_, u)| u.withdrawals().map(|(_, n)| *n))
        .collect();
    assert_eq!(announced, all);
    assert_eq!(withdrawn, all);
    let first = &decoded[0].1;
    assert_eq!(
        first.attributes[0].type_code(),
        type_code::MP_REACH_NLRI,
        "MP_REACH_NLRI first (RFC 7606 5.1)"
    );
    assert_eq!(first.mp_reach().unwrap().next_hop, nh);
    // A withdrawal builder for IPv4 writes Withdrawn Routes.
    let v4 = UpdateBuilder::withdraw(&ctx, AfiSafi::IPV4_UNICAST);
    let mut out = BytesMut::new();
    assert_eq!(v4.encode_next(&v4_prefixes(5), &mut out).unwrap(), 5);
    let d = decode_all(out, &ctx.mirror());
    assert_eq!(d[0].1.withdrawn.len(), 5);
    // Wrong family is refused.
    assert!(b.encode_next(&v4_prefixes(1), &mut BytesMut::new()).is_err());
}

#[test]
fn negotiation() {
    let local = [
        Capability::FourOctetAs(65001),
        Capability::ExtendedMessage,
        Capability::AddPath(vec![
            (AfiSafi::IPV4_UNICAST, AddPathMode::Both),
            (AfiSafi::IPV6_UNICAST, AddPathMode::Receive),
        ]),
    ];
    let remote = [
        Capability::FourOctetAs(65002),
        Capability::AddPath(vec![
            (AfiSafi::IPV4_UNICAST, AddPathMode::Send),
            (AfiSafi::IPV6_UNICAST, AddPathMode::Both),
        ]),
    ];
    let (rx, tx) = negotiate(&local, &remote);
    assert!(rx.four_octet_as && tx.four_octet_as);
    assert!(
        !rx.extended_message && !tx.extended_message,
        "only one side has extended messages"
    );
    assert!(rx.add_path.contains(AfiSafi::IPV4_UNICAST) && rx.add_path.contains(AfiSafi::IPV6_UNICAST));
    assert!(tx.add_path.is_empty(), "peer never said Receive");
    let (rx, _) = negotiate(&local[..1], &[]);
    assert_eq!(rx, DecodeCtx::default());
}

#[test]
fn as4_merge_rfc6793_4_2_3() {
    // AS_PATH (2-octet) 65001 AS_TRANS AS_TRANS 65005 {65006,65007}; AS4_PATH 70000 70001 65005 {65006,65007}
    let as_path = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::AsSequence,
                asns: vec![65001, 23456, 23456, 65005],
            },
            AsSegment {
                kind: SegmentType::AsSet,
                asns: vec![65006, 65007],
            },
        ],
        four_octet_wire: false,
    };
    let as4 = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::AsSequence,
                asns: vec![70000, 70001, 65005],
            },
            AsSegment {
                kind: SegmentType::AsSet,
                asns: vec![65006, 65007],
            },
        ],
        four_octet_wire: true,
    };
    let merged = as_path.merge_as4(&as4);
    assert_eq!(merged.to_string(), "65001 70000 70001 65005 {65006,65007}");
    assert_eq!(merged.path_len(), as_path.path_len());
    // AS4_PATH longer than AS_PATH: ignored.
    let short = AsPath::from_sequence([65001]);
    assert_eq!(short.merge_as4(&as4), short);
    // AGGREGATOR not AS_TRANS: AS4_* ignored.
    let agg = Aggregator {
        asn: 65001,
        address: Ipv4Addr::new(1, 1, 1, 1),
    };
    let agg4 = Aggregator {
        asn: 70000,
        address: Ipv4Addr::new(1, 1, 1, 1),
    };
    assert_eq!(Aggregator::merge_as4(Some(&agg), Some(&agg4)), (Some(agg), true));
    let trans = Aggregator { asn: 23456, ..agg };
    assert_eq!(
        Aggregator::merge_as4(Some(&trans), Some(&agg4)),
        (Some(agg4), false)
    );
}

#[test]
fn as_path_helpers() {
    let mut p = AsPath::from_sequence([65002, 65003]);
    p.prepend(Asn::new(65001).unwrap());
    assert_eq!(p.neighbor_as(), Some(65001));
    assert_eq!(p.origin_as(), Some(65003));
    assert!(p.contains(65002) && !p.contains(1));
    assert!(!p.needs_as4());
    let long = AsPath::from_sequence(1..=300);
    let mut b = BytesMut::new();
    long.encode(true, &mut b).unwrap();
    assert_eq!(b.len(), long.encoded_len(true));
    assert_eq!(b.len(), 2 + 255 * 4 + 2 + 45 * 4, "split in two segments");
}

#[test]
fn validated_newtypes() {
    assert!(HoldTime::new(1).is_err() && HoldTime::new(2).is_err());
    assert_eq!(HoldTime::new(0).unwrap().secs(), 0);
    assert_eq!(HoldTime::new(3).unwrap().negotiate(HoldTime::DEFAULT).secs(), 3);
    assert!(Asn::new(0).is_err());
    assert_eq!(Asn::new(4_200_000_000).unwrap().as_u16_or_trans(), 23456);
    assert!(RouterId::new(Ipv4Addr::UNSPECIFIED).is_err());
    assert!(ClusterId::new(Ipv4Addr::UNSPECIFIED).is_err());
    assert_eq!(
        ClusterId::from(RouterId::new(Ipv4Addr::new(1, 2, 3, 4)).unwrap()).addr(),
        Ipv4Addr::new(1, 2, 3, 4)
    );
    assert!("10.0.0.0/33".parse::<Prefix>().is_err());
    assert!("::/129".parse::<Prefix>().is_err());
    let _ = Bytes::new();
}

#[test]
fn as4_attributes_for_old_speakers_round_trip_through_merge() {
    // RFC 6793 4.2.2 on the way out, 4.2.3 on the way in: the path survives a 2-octet hop.
    let mut u = Update {
        withdrawn: vec![],
        attributes: vec![
            PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([
                65001,
                4_200_000_000,
                65003,
            ]))),
            PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
            PathAttribute::new(AttrValue::Aggregator(Aggregator {
                asn: 4_200_000_001,
                address: Ipv4Addr::new(192, 0, 2, 9),
            })),
        ],
        nlri: v4_prefixes(1),
    };
    let original = u.clone();
    u.add_as4_for_two_octet_peer();
    let old = EncodeCtx::default();
    let mut b = BytesMut::new();
    Message::Update(u).encode(&old, &mut b).unwrap();
    let decoded = decode_all(b, &old.mirror());
    let mut got = decoded[0].1.clone();
    let Some(AttrValue::AsPath(p)) = got.value(type_code::AS_PATH) else {
        panic!()
    };
    assert_eq!(p.to_string(), "65001 23456 65003");
    got.merge_as4();
    assert_eq!(got, original);
}

#[test]
fn unknown_attribute_propagation_rfc4271_5() {
    let t = PathAttribute {
        flags: 0xc0,
        value: AttrValue::Unknown {
            type_code: 99,
            bytes: Bytes::from_static(b"x"),
        },
    };
    assert_eq!(
        t.for_propagation().unwrap().flags,
        0xe0,
        "transitive: Partial set"
    );
    let n = PathAttribute {
        flags: 0x80,
        value: AttrValue::Unknown {
            type_code: 98,
            bytes: Bytes::new(),
        },
    };
    assert!(n.for_propagation().is_none(), "non-transitive: dropped");
    let k = PathAttribute::new(AttrValue::MultiExitDisc(5));
    assert_eq!(k.for_propagation(), Some(k.clone()));
}
