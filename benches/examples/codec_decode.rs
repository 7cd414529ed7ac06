//! Decodes one of the `codec` benchmark's 500-NLRI UPDATE frames many times, for instruction counts under
//! callgrind (no hardware counters needed) and for a quick fastest-of-N timing:
//!
//! ```sh
//! cargo build --profile bench -p benches --example codec_decode
//! valgrind --tool=callgrind target/release/examples/codec_decode v4 1000
//! target/release/examples/codec_decode v6_addpath 200000
//! ```
//!
//! Groups: `v4`, `v4_addpath`, `v6`, `v6_addpath` (the `update_*` groups of `benches/codec.rs`). Prints the
//! checksum of the visit (so the work is not optimised away) and the best time per UPDATE over batches of
//! 500 decodes.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use benches::codec::typical_attributes;
use bgp_wire::{
    AddPathMap, AfiSafi, AttrValue, DecodeCtx, Message, MpNextHop, MpReach, Nlri, PathAttribute, Prefix,
    Update,
};
use bytes::Bytes;

const NLRI: usize = 500;

fn nlri(v6: bool, add_path: bool) -> Vec<Nlri> {
    (0..NLRI)
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

/// The benchmark's frame: IPv4 in the NLRI field, IPv6 in MP_REACH_NLRI (NEXT_HOP left out).
fn frame(v6: bool, add_path: bool) -> (Bytes, DecodeCtx) {
    let fams = if add_path {
        AddPathMap::with([AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST])
    } else {
        AddPathMap::new()
    };
    let dctx = DecodeCtx::modern(fams);
    let mut attributes = typical_attributes();
    let mut u = Update::default();
    if v6 {
        attributes.retain(|a| !matches!(a.value, AttrValue::NextHop(_)));
        attributes.push(PathAttribute::new(AttrValue::MpReach(MpReach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            next_hop: MpNextHop::Ipv6 {
                global: "2001:db8::1".parse().expect("v6"),
                link_local: None,
            },
            nlri: nlri(true, add_path),
            opaque_nlri: Bytes::new(),
        })));
    } else {
        u.nlri = nlri(false, add_path);
    }
    u.attributes = attributes;
    let bytes = Message::Update(u).to_bytes(&dctx.mirror()).expect("encodes");
    (bytes, dctx)
}

/// The benchmark's visit: every prefix (length + path id) and every attribute.
fn visit(u: &Update) -> u64 {
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

fn main() {
    let mut args = std::env::args().skip(1);
    let group = args.next().unwrap_or_else(|| "v4".into());
    let iters: usize = args.next().map_or(1000, |s| s.parse().expect("iterations"));
    let (v6, add_path) = match group.as_str() {
        "v4" => (false, false),
        "v4_addpath" => (false, true),
        "v6" => (true, false),
        "v6_addpath" => (true, true),
        g => panic!("unknown group {g}: v4, v4_addpath, v6, v6_addpath"),
    };
    let (frame, dctx) = frame(v6, add_path);
    let mut sum = 0u64;
    let mut best = f64::MAX;
    let batch = 500.min(iters.max(1));
    for _ in 0..iters.div_ceil(batch) {
        let t = Instant::now();
        for _ in 0..batch {
            match Message::decode(black_box(&frame), &dctx) {
                Ok(Message::Update(u)) => sum = sum.wrapping_add(visit(&u)),
                _ => unreachable!("the frame decodes"),
            }
        }
        best = best.min(t.elapsed().as_secs_f64() / batch as f64);
    }
    println!(
        "{group}: checksum {sum}, best {:.0} ns per UPDATE, {:.0} M prefixes/s",
        best * 1e9,
        NLRI as f64 / best / 1e6
    );
}
