//! The numbering plan of the load test: which address each client uses and which /26 prefixes it announces.
//!
//! Client `i` (0-based) uses the loopback source address `127.0.(1 + i / 250).(1 + i % 250)`; the reflector
//! listens on `127.0.0.1`. Client `i` announces the `P` prefixes with global index `g = i * P + j`
//! (`j` in `0..P`), prefix `g` being `10.0.0.0 + g * 64` with length 26, the way a Calico node announces its
//! IPAM blocks. A received prefix therefore maps back to `(origin, j)` without any table, which is what lets
//! each client count what it holds in a bitset of `N * P` bits.
//!
//! By default client `i` announces its own source address as NEXT_HOP. With a next-hop base `B` (e.g.
//! `100.64.0.0`, see [`Plan::with_next_hop_base`]) it announces `B + 1 + i` instead: an attribute only, no
//! packet is ever sent there. FRR rejects 127/8 next hops as martian (NOTIFICATION 3/8), so `rr-compare`
//! uses a base whenever FRR is among the reflectors.

use std::net::Ipv4Addr;

/// Length of every announced prefix (a Calico IPAM block).
pub const PREFIX_LEN: u8 = 26;

/// First address of the announced space.
pub const BASE: u32 = u32::from_be_bytes([10, 0, 0, 0]);

/// The reflector address every client connects to.
pub const REFLECTOR_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// Clients per third octet of the client address range.
const PER_OCTET: usize = 250;

/// The sizes of one workload: `clients` sessions announcing `prefixes` prefixes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Number of client sessions.
    pub clients: usize,
    /// Prefixes announced by each client.
    pub prefixes: usize,
    /// When set, client `i` announces NEXT_HOP `base + 1 + i` instead of its source address.
    pub next_hop_base: Option<Ipv4Addr>,
}

impl Plan {
    /// Largest number of clients the address plan supports (third octet up to 255).
    pub const MAX_CLIENTS: usize = 254 * PER_OCTET;

    /// Checks the sizes against the address plan.
    pub fn new(clients: usize, prefixes: usize) -> Result<Self, String> {
        if clients < 2 {
            return Err("at least 2 clients are needed to see reflection".into());
        }
        if clients > Self::MAX_CLIENTS {
            return Err(format!("at most {} clients", Self::MAX_CLIENTS));
        }
        if prefixes == 0 {
            return Err("at least one prefix per client".into());
        }
        // 10.0.0.0 + g * 64 must stay below 224.0.0.0 (well inside u32, and unicast).
        let total = clients.checked_mul(prefixes).ok_or("too many prefixes")?;
        if total > (0xe000_0000u32 - BASE) as usize / 64 {
            return Err("clients * prefixes exceeds the address plan".into());
        }
        Ok(Self {
            clients,
            prefixes,
            next_hop_base: None,
        })
    }

    /// Next hops `base + 1 + i` instead of the client addresses; the range must not wrap, touch 127/8 or
    /// reach the multicast space.
    pub fn with_next_hop_base(self, base: Option<Ipv4Addr>) -> Result<Self, String> {
        if let Some(b) = base {
            let first = u32::from(b) as u64 + 1;
            let last = first + self.clients as u64 - 1;
            let loopback = (0x7f00_0000u64..0x8000_0000).contains(&first)
                || (0x7f00_0000u64..0x8000_0000).contains(&last)
                || (first < 0x7f00_0000 && last >= 0x8000_0000);
            if last >= 0xe000_0000 || loopback || first < 0x0100_0000 {
                return Err(format!(
                    "next-hop base {b}: {} next hops from it leave unicast space or touch 127/8",
                    self.clients
                ));
            }
        }
        Ok(Self {
            next_hop_base: base,
            ..self
        })
    }

    /// Total prefixes announced by all clients.
    pub fn total(&self) -> usize {
        self.clients * self.prefixes
    }

    /// Reflected routes each client must end up holding: `(N - 1) * P`.
    pub fn expected_per_client(&self) -> usize {
        (self.clients - 1) * self.prefixes
    }

    /// Source address of client `i`.
    pub fn client_addr(&self, i: usize) -> Ipv4Addr {
        client_addr(i)
    }

    /// NEXT_HOP announced by client `i` (and expected on its reflected routes).
    pub fn next_hop(&self, i: usize) -> Ipv4Addr {
        match self.next_hop_base {
            Some(b) => next_hop_from(b, i),
            None => client_addr(i),
        }
    }

    /// Global index of prefix `j` of client `i`.
    pub fn global(&self, i: usize, j: usize) -> usize {
        i * self.prefixes + j
    }

    /// Network address of the prefix with global index `g`.
    pub fn prefix_addr(&self, g: usize) -> u32 {
        BASE + (g as u32) * 64
    }

    /// Maps a received prefix back to its global index, or `None` if it is not part of the plan.
    pub fn index_of(&self, addr: u32, len: u8) -> Option<usize> {
        if len != PREFIX_LEN || addr < BASE || addr & 63 != 0 {
            return None;
        }
        let g = ((addr - BASE) / 64) as usize;
        (g < self.total()).then_some(g)
    }

    /// The client that announces the prefix with global index `g`.
    pub fn origin_of(&self, g: usize) -> usize {
        g / self.prefixes
    }
}

/// Source address of client `i` (see the module documentation).
pub fn client_addr(i: usize) -> Ipv4Addr {
    let third = 1 + i / PER_OCTET;
    let fourth = 1 + i % PER_OCTET;
    Ipv4Addr::new(127, 0, third as u8, fourth as u8)
}

/// Next hop of client `i` given a base: `base + 1 + i` (client 0 -> `base + 1`, never the base itself).
pub fn next_hop_from(base: Ipv4Addr, i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(1).wrapping_add(i as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_and_loopback() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..3000 {
            let a = client_addr(i);
            assert!(a.is_loopback());
            assert_ne!(a, REFLECTOR_ADDR);
            assert!(seen.insert(a), "duplicate address for client {i}");
        }
        assert_eq!(client_addr(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(client_addr(250), Ipv4Addr::new(127, 0, 2, 1));
    }

    #[test]
    fn prefixes_round_trip() {
        let plan = Plan::new(2000, 50).unwrap();
        for g in [0, 1, 49, 50, 99_999] {
            let a = plan.prefix_addr(g);
            assert_eq!(plan.index_of(a, 26), Some(g));
        }
        assert_eq!(plan.origin_of(plan.global(1234, 7)), 1234);
        assert_eq!(plan.index_of(plan.prefix_addr(0), 24), None);
        assert_eq!(plan.index_of(plan.prefix_addr(0) + 1, 26), None);
        assert_eq!(plan.index_of(plan.prefix_addr(100_000), 26), None);
        assert_eq!(plan.expected_per_client(), 1999 * 50);
    }

    #[test]
    fn next_hops_default_to_client_addresses() {
        let plan = Plan::new(10, 1).unwrap();
        assert_eq!(plan.next_hop(3), client_addr(3));
        let plan = plan.with_next_hop_base(None).unwrap();
        assert_eq!(plan.next_hop(9), client_addr(9));
    }

    #[test]
    fn next_hops_from_a_base_are_distinct_and_outside_loopback() {
        let base = Ipv4Addr::new(100, 64, 0, 0);
        let plan = Plan::new(3000, 1)
            .unwrap()
            .with_next_hop_base(Some(base))
            .unwrap();
        assert_eq!(plan.next_hop(0), Ipv4Addr::new(100, 64, 0, 1));
        assert_eq!(plan.next_hop(254), Ipv4Addr::new(100, 64, 0, 255));
        assert_eq!(plan.next_hop(255), Ipv4Addr::new(100, 64, 1, 0));
        assert_eq!(plan.next_hop(2999), Ipv4Addr::new(100, 64, 11, 184));
        let mut seen = std::collections::HashSet::new();
        for i in 0..plan.clients {
            let nh = plan.next_hop(i);
            assert!(!nh.is_loopback());
            assert!(
                (u32::from(nh) >> 22) == (u32::from(base) >> 22),
                "{nh} outside 100.64.0.0/10"
            );
            assert_ne!(nh, plan.client_addr(i));
            assert!(seen.insert(nh), "duplicate next hop for client {i}");
        }
        // The maximal plan still fits in 100.64.0.0/10.
        let big = Plan::new(Plan::MAX_CLIENTS, 1)
            .unwrap()
            .with_next_hop_base(Some(base))
            .unwrap();
        assert_eq!(
            u32::from(big.next_hop(Plan::MAX_CLIENTS - 1)) >> 22,
            u32::from(base) >> 22
        );
    }

    #[test]
    fn rejects_bad_next_hop_bases() {
        let plan = Plan::new(300, 1).unwrap();
        assert!(
            plan.with_next_hop_base(Some(Ipv4Addr::new(127, 0, 0, 0)))
                .is_err()
        );
        assert!(
            plan.with_next_hop_base(Some(Ipv4Addr::new(126, 255, 255, 0)))
                .is_err()
        );
        assert!(
            plan.with_next_hop_base(Some(Ipv4Addr::new(223, 255, 255, 0)))
                .is_err()
        );
        assert!(
            plan.with_next_hop_base(Some(Ipv4Addr::new(255, 255, 255, 255)))
                .is_err()
        );
        assert!(plan.with_next_hop_base(Some(Ipv4Addr::new(0, 0, 0, 0))).is_err());
        assert!(
            plan.with_next_hop_base(Some(Ipv4Addr::new(10, 255, 255, 0)))
                .is_ok()
        );
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(Plan::new(1, 10).is_err());
        assert!(Plan::new(10, 0).is_err());
        assert!(Plan::new(Plan::MAX_CLIENTS + 1, 1).is_err());
        assert!(Plan::new(60_000, 100_000).is_err());
    }
}
