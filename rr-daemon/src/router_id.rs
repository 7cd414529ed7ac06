//! `CALICO_ROUTER_ID` / `--router-id`: the BGP identifier as calico-node chooses it.
//!
//! calico-node's BIRD template (`confd/etc/calico/confd/templates/bird.cfg.template`) writes
//! `router id` as: `hashToIPv4(NODENAME)` when `CALICO_ROUTER_ID` is `hash`, else `CALICO_ROUTER_ID` when set,
//! else the node's IPv4 address. `hash` exists for IPv6-only nodes, which have no IPv4 address to use. The hash
//! is confd's `hashToIPv4` (`confd/pkg/resource/template/template_funcs.go`): the first four bytes of the
//! SHA-256 of the node name, with a first byte above 223 lowered by 32 so that the identifier is never a
//! multicast or reserved (224/3) address.

use std::fmt;
use std::net::Ipv4Addr;

/// How the router id is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouterIdSetting {
    /// This address.
    Addr(Ipv4Addr),
    /// Derived from the node name ([`hash_to_ipv4`]).
    Hash,
}

impl RouterIdSetting {
    /// Parses `hash` or a dotted-quad IPv4 address other than 0.0.0.0.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("hash") {
            return Ok(Self::Hash);
        }
        match s.parse::<Ipv4Addr>() {
            Ok(a) if a.is_unspecified() => Err("0.0.0.0 is not a router id".into()),
            Ok(a) => Ok(Self::Addr(a)),
            Err(_) => Err(format!("{s:?} is neither an IPv4 address nor \"hash\"")),
        }
    }

    /// The router id of node `node_name`.
    pub(crate) fn resolve(self, node_name: &str) -> Ipv4Addr {
        match self {
            Self::Addr(a) => a,
            Self::Hash => hash_to_ipv4(node_name),
        }
    }
}

impl fmt::Display for RouterIdSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(a) => write!(f, "{a}"),
            Self::Hash => f.write_str("hash"),
        }
    }
}

/// confd's `hashToIPv4`: SHA-256 of the node name, its first four bytes as an address, the first byte
/// lowered by 32 when above 223 ("BGP doesn't allow router IDs in special IP ranges (e.g., 224.x.x.x)").
pub(crate) fn hash_to_ipv4(node_name: &str) -> Ipv4Addr {
    let digest = ring::digest::digest(&ring::digest::SHA256, node_name.as_bytes());
    let b = digest.as_ref();
    let first = if b[0] > 223 { b[0] - 32 } else { b[0] };
    Ipv4Addr::new(first, b[1], b[2], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values computed independently (`printf %s NAME | sha256sum`, first four bytes).
    #[test]
    fn hash_matches_confd() {
        // 66570ff0...
        assert_eq!(hash_to_ipv4("node-a"), Ipv4Addr::new(102, 87, 15, 240));
        // 532cf67c...
        assert_eq!(hash_to_ipv4("rr1"), Ipv4Addr::new(83, 44, 246, 124));
        // f5c28be3...: 0xf5 = 245 > 223, lowered to 213.
        assert_eq!(hash_to_ipv4("node-18"), Ipv4Addr::new(213, 194, 139, 227));
    }

    #[test]
    fn parses_hash_and_addresses() {
        assert_eq!(RouterIdSetting::parse("hash"), Ok(RouterIdSetting::Hash));
        assert_eq!(RouterIdSetting::parse(" HASH "), Ok(RouterIdSetting::Hash));
        assert_eq!(
            RouterIdSetting::parse("10.0.0.1"),
            Ok(RouterIdSetting::Addr(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert!(RouterIdSetting::parse("0.0.0.0").is_err());
        assert!(RouterIdSetting::parse("fd00::1").is_err());
        assert!(RouterIdSetting::parse("hashed").is_err());
        assert_eq!(
            RouterIdSetting::Hash.resolve("rr1"),
            Ipv4Addr::new(83, 44, 246, 124)
        );
        assert_eq!(RouterIdSetting::Hash.to_string(), "hash");
    }
}
