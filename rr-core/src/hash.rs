//! A fast non-cryptographic hasher for the RIB tables (prefix and path-id keys).
//!
//! The standard SipHash costs a noticeable share of the per-prefix work. Keys come from
//! configured, authenticated BGP peers whose prefix counts are bounded (max-prefix), so the
//! engine trades HashDoS resistance for speed here, like most routing daemons; the multiplier is
//! the FxHash one (rustc) and the state is seeded per table family.

use std::hash::{BuildHasher, Hasher};

const K: u64 = 0x517c_c1b7_2722_0a95;

/// Fx-style word-at-a-time hasher.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Final avalanche so the high bits (hashbrown's control byte) depend on every input bit.
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z ^ (z >> 33)
    }
}

/// Builds [`FastHasher`]s.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastState;

impl BuildHasher for FastState {
    type Hasher = FastHasher;
    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0x243f_6a88_85a3_08d3)
    }
}

/// A `HashMap` with [`FastState`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, FastState>;
/// A `HashSet` with [`FastState`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, FastState>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Prefix;
    use std::hash::Hash;

    fn h<T: Hash>(t: &T) -> u64 {
        FastState.hash_one(t)
    }

    #[test]
    fn distinct_prefixes_hash_apart() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u32 {
            let p = Prefix::new(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)).into(), 24).unwrap();
            seen.insert(h(&(p, 0u32)) >> 57);
        }
        // The control-byte bits are spread over all 128 values.
        assert_eq!(seen.len(), 128);
    }
}
