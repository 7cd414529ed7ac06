//! Decodes one of the `codec` benchmark's 500-NLRI UPDATE frames many times, for instruction counts under
//! callgrind (no hardware counters needed) and for a quick fastest-of-N timing:
//!
//! ```sh
//! cargo build --profile bench -p benches --example codec_decode
//! valgrind --tool=callgrind target/release/examples/codec_decode v4 1000
//! target/release/examples/codec_decode v6_addpath 200000
//! target/release/examples/codec_decode v6_addpath 200000 decode
//! ```
//!
//! Groups: `v4`, `v4_addpath`, `v6`, `v6_addpath` (the `update_*` groups of `benches/codec.rs`). Prints the
//! checksum of the visit (so the work is not optimised away) and the best time per UPDATE over batches of
//! 500 decodes. A third argument `decode` decodes and drops without the visit (the `nlri_decode` group).

use std::hint::black_box;
use std::time::Instant;

use benches::codec::{NLRI, decode_ctx, update, visit};
use bgp_wire::Message;

fn main() {
    let mut args = std::env::args().skip(1);
    let group = args.next().unwrap_or_else(|| "v4".into());
    let iters: usize = args.next().map_or(1000, |s| s.parse().expect("iterations"));
    // `decode`: decode and drop, nothing visited (the `nlri_decode` group); default: decode and visit.
    let visit_each = match args.next().as_deref() {
        None | Some("visit") => true,
        Some("decode") => false,
        Some(m) => panic!("unknown mode {m}: visit, decode"),
    };
    let (v6, add_path) = match group.as_str() {
        "v4" => (false, false),
        "v4_addpath" => (false, true),
        "v6" => (true, false),
        "v6_addpath" => (true, true),
        g => panic!("unknown group {g}: v4, v4_addpath, v6, v6_addpath"),
    };
    let dctx = decode_ctx(add_path);
    let frame = Message::Update(update(v6, add_path))
        .to_bytes(&dctx.mirror())
        .expect("encodes");
    let mut sum = 0u64;
    let mut best = f64::MAX;
    let batch = 500.min(iters.max(1));
    for _ in 0..iters.div_ceil(batch) {
        let t = Instant::now();
        for _ in 0..batch {
            match Message::decode(black_box(&frame), &dctx) {
                Ok(Message::Update(u)) if visit_each => sum = sum.wrapping_add(visit(&u)),
                Ok(Message::Update(u)) => sum = sum.wrapping_add(u.attributes.len() as u64),
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
