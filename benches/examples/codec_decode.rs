//! Decodes one of the `codec` benchmark's 500-NLRI UPDATE frames many times, for instruction counts under
//! callgrind (no hardware counters needed) and for a quick fastest-of-N timing:
//!
//! ```sh
//! cargo build --profile bench -p benches --example codec_decode
//! valgrind --tool=callgrind target/release/examples/codec_decode v4 1000
//! target/release/examples/codec_decode v6_addpath 200000
//! target/release/examples/codec_decode v6_addpath 200000 decode
//! target/release/examples/codec_decode v6_addpath 200000 visit-only
//! ```
//!
//! Groups: `v4`, `v4_addpath`, `v6`, `v6_addpath` (the `update_*` groups of `benches/codec.rs`). Prints the
//! checksum of the visit (so the work is not optimised away) and the best time per UPDATE over batches of
//! 500 decodes, and the processor's clock measured just after. A third argument `decode` decodes and drops without the visit (the `nlri_decode` group);
//! `visit-only` times the visit of one decoded UPDATE alone (the share of the `update_*` groups that is the
//! benchmark's own walk, not the decoder).

use std::hint::black_box;
use std::time::Instant;

use benches::codec::{NLRI, decode_ctx, update, visit};
use bgp_wire::Message;

/// The processor's clock now, in GHz, from a chain of dependent rotate-and-xor steps (two cycles each on
/// x86-64): this machine's clock moves by 15 % and more from one hour to the next, so the figures are
/// printed beside it.
fn clock_ghz() -> f64 {
    const STEPS: u64 = 200_000_000;
    let k = black_box(0x9e37_79b9_7f4a_7c15_u64);
    let mut x = black_box(1u64);
    let t = Instant::now();
    for _ in 0..STEPS {
        x = x.rotate_left(7) ^ k;
    }
    let secs = t.elapsed().as_secs_f64();
    black_box(x);
    2.0 * STEPS as f64 / secs / 1e9
}

fn main() {
    let mut args = std::env::args().skip(1);
    let group = args.next().unwrap_or_else(|| "v4".into());
    let iters: usize = args.next().map_or(1000, |s| s.parse().expect("iterations"));
    // `decode`: decode and drop, nothing visited (the `nlri_decode` group); `visit-only`: the visit of one
    // decoded UPDATE, timed alone; default: decode and visit (the `update_*` groups).
    let mode = args.next().unwrap_or_else(|| "visit".into());
    let visit_each = match mode.as_str() {
        "visit" | "visit-only" => true,
        "decode" => false,
        m => panic!("unknown mode {m}: visit, decode, visit-only"),
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
    let decoded = match Message::decode(&frame, &dctx) {
        Ok(Message::Update(u)) => u,
        _ => unreachable!("the frame decodes"),
    };
    let mut best = f64::MAX;
    let batch = 500.min(iters.max(1));
    for _ in 0..iters.div_ceil(batch) {
        let t = Instant::now();
        for _ in 0..batch {
            if mode == "visit-only" {
                sum = sum.wrapping_add(visit(black_box(&decoded)));
                continue;
            }
            match Message::decode(black_box(&frame), &dctx) {
                Ok(Message::Update(u)) if visit_each => sum = sum.wrapping_add(visit(&u)),
                Ok(Message::Update(u)) => sum = sum.wrapping_add(u.attributes.len() as u64),
                _ => unreachable!("the frame decodes"),
            }
        }
        best = best.min(t.elapsed().as_secs_f64() / batch as f64);
    }
    println!(
        "{group} {mode}: checksum {sum}, best {:.0} ns per UPDATE, {:.0} M prefixes/s (clock {:.2} GHz)",
        best * 1e9,
        NLRI as f64 / best / 1e6,
        clock_ghz()
    );
}
