//! Shared helpers for the benchmarks and the end-to-end load test.
//!
//! The load test (`rr-load`, `rr-compare`) opens N iBGP client sessions from distinct 127.0.x.y addresses
//! against a route reflector, each announcing P /26 prefixes, and measures convergence, propagation latency
//! and the reflector's CPU and memory. See `BENCHMARKS.md` at the repository root.

pub mod bird;
pub mod bits;
pub mod cli;
pub mod codec;
pub mod idle;
pub mod load;
pub mod meter;
pub mod multi;
pub mod plan;
pub mod procstat;
pub mod sim;
pub mod wire;

/// The lib's own tests run under the tagging allocator, so that [`sim`]'s per-reflector heap figures
/// are exercised there too.
#[cfg(test)]
#[global_allocator]
static ALLOC: meter::TaggedAlloc = meter::TaggedAlloc;
