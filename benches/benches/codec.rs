//! Codec benchmarks, bgp-wire beside bgpkit-parser on the same bytes in the same run:
//!
//! - `update_500_nlri/decode`: an UPDATE with 500 IPv4 /24 NLRI behind a typical attribute set;
//! - `update_500_nlri/encode`: the same UPDATE encoded from its decoded form;
//! - `attributes_6/decode`: the typical 6-attribute set alone (an UPDATE body without NLRI).
//!
//! Run: `cargo bench -p benches --bench codec` (criterion; throughput is reported per NLRI for the
//! 500-prefix groups). Both decoders run with 4-octet AS numbers and without ADD-PATH.

use std::hint::black_box;
use std::net::Ipv4Addr;

use bgp_wire::{
    AsPath, AttrValue, Community, DecodeCtx, EncodeCtx, Message, Nlri, Origin, PathAttribute, Prefix, Update,
};
use bgpkit_parser::models::AsnLength;
use bgpkit_parser::parser::bgp::messages::{parse_bgp_message, parse_bgp_update_message};
use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const NLRI: usize = 500;

/// ORIGIN, AS_PATH (3 hops), NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF, COMMUNITIES (2): what a Calico node's
/// BIRD sends a reflector, plus the path of an external route.
fn typical_attributes() -> Vec<PathAttribute> {
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

fn update(nlri: usize) -> Update {
    let nlri = (0..nlri)
        .map(|i| {
            let addr = Ipv4Addr::from(0x0a00_0000u32 + ((i as u32) << 8));
            Nlri::new(Prefix::v4(addr, 24).expect("a /24"))
        })
        .collect();
    Update {
        withdrawn: vec![],
        attributes: typical_attributes(),
        nlri,
    }
}

fn contexts() -> (DecodeCtx, EncodeCtx) {
    let d = DecodeCtx {
        four_octet_as: true,
        ..DecodeCtx::default()
    };
    let e = d.mirror();
    (d, e)
}

fn update_500_nlri(c: &mut Criterion) {
    let (dctx, ectx) = contexts();
    let msg = Message::Update(update(NLRI));
    let frame: Bytes = msg.to_bytes(&ectx).expect("encodes");
    // Both parsers must see the same routes, or the comparison means nothing.
    let Ok(bgpkit_parser::models::BgpMessage::Update(u)) =
        parse_bgp_message(&mut frame.clone(), false, &AsnLength::Bits32)
    else {
        panic!("bgpkit-parser does not read the UPDATE")
    };
    assert_eq!(u.announced_prefixes.len(), NLRI);
    assert_eq!(Message::decode(&frame, &dctx).expect("decodes"), msg);

    let mut g = c.benchmark_group("update_500_nlri");
    g.throughput(Throughput::Elements(NLRI as u64));
    g.bench_function("decode/bgp-wire", |b| {
        b.iter(|| Message::decode(black_box(&frame), &dctx).unwrap())
    });
    g.bench_function("decode/bgpkit-parser", |b| {
        b.iter(|| parse_bgp_message(&mut black_box(&frame).clone(), false, &AsnLength::Bits32).unwrap())
    });
    let mut buf = BytesMut::with_capacity(8192);
    g.bench_function("encode/bgp-wire", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&msg).encode(&ectx, &mut buf).unwrap();
            buf.len()
        })
    });
    let theirs = parse_bgp_message(&mut frame.clone(), false, &AsnLength::Bits32).unwrap();
    g.bench_function("encode/bgpkit-parser", |b| {
        b.iter(|| black_box(&theirs).encode(AsnLength::Bits32).unwrap())
    });
    g.finish();
}

fn attributes_6(c: &mut Criterion) {
    let (dctx, ectx) = contexts();
    let msg = Message::Update(update(0));
    let frame = msg.to_bytes(&ectx).expect("encodes");
    let body = frame.slice(bgp_wire::HEADER_LEN..);
    assert_eq!(Update::decode(&body, &dctx).expect("decodes").attributes.len(), 6);
    let mut g = c.benchmark_group("attributes_6");
    g.bench_function("decode/bgp-wire", |b| {
        b.iter(|| Update::decode(black_box(&body), &dctx).unwrap())
    });
    g.bench_function("decode/bgpkit-parser", |b| {
        b.iter(|| parse_bgp_update_message(black_box(&body).clone(), false, &AsnLength::Bits32).unwrap())
    });
    g.finish();
}

criterion_group!(benches, update_500_nlri, attributes_6);
criterion_main!(benches);
