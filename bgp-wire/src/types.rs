//! Open newtypes for IANA code points (AFI, SAFI) and validated newtypes for protocol values
//! (AS numbers, router and cluster identifiers, hold time).

use std::fmt;
use std::net::Ipv4Addr;

/// A value rejected by a validated constructor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidValue {
    /// RFC 4271 section 4.2: the hold time must be zero or at least three seconds.
    #[error("hold time {0} is neither 0 nor at least 3 seconds")]
    HoldTime(u16),
    /// RFC 7607: AS 0 must not be used in BGP.
    #[error("AS number 0 is reserved")]
    Asn,
    /// RFC 6286 section 2.1: the BGP identifier is a non-zero 32-bit value.
    #[error("router id 0.0.0.0 is not a valid BGP identifier")]
    RouterId,
    /// A cluster id of 0.0.0.0 is rejected like a router id (it defaults to the router id).
    #[error("cluster id 0.0.0.0 is not valid")]
    ClusterId,
    /// A prefix length longer than the address family allows.
    #[error("prefix length {0} is too long for the address family")]
    PrefixLength(u8),
}

/// Address Family Identifier (IANA "Address Family Numbers"), an open newtype: unknown values
/// round-trip unchanged.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Afi(pub u16);

impl Afi {
    /// IP version 4.
    pub const IPV4: Afi = Afi(1);
    /// IP version 6.
    pub const IPV6: Afi = Afi(2);
    /// Layer-2 VPN (RFC 4761), for completeness.
    pub const L2VPN: Afi = Afi(25);
}

impl fmt::Display for Afi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Afi::IPV4 => f.write_str("ipv4"),
            Afi::IPV6 => f.write_str("ipv6"),
            Afi(n) => write!(f, "afi{n}"),
        }
    }
}

/// Subsequent Address Family Identifier (IANA "SAFI Values"), an open newtype.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Safi(pub u8);

impl Safi {
    /// Unicast forwarding (RFC 4760).
    pub const UNICAST: Safi = Safi(1);
    /// Multicast forwarding (RFC 4760).
    pub const MULTICAST: Safi = Safi(2);
    /// MPLS-labeled VPN address (RFC 4364).
    pub const MPLS_VPN: Safi = Safi(128);
}

impl fmt::Display for Safi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Safi::UNICAST => f.write_str("unicast"),
            Safi::MULTICAST => f.write_str("multicast"),
            Safi(n) => write!(f, "safi{n}"),
        }
    }
}

/// An (AFI, SAFI) pair.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AfiSafi {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
}

impl AfiSafi {
    /// IPv4 unicast.
    pub const IPV4_UNICAST: AfiSafi = AfiSafi {
        afi: Afi::IPV4,
        safi: Safi::UNICAST,
    };
    /// IPv6 unicast.
    pub const IPV6_UNICAST: AfiSafi = AfiSafi {
        afi: Afi::IPV6,
        safi: Safi::UNICAST,
    };

    /// Builds a pair.
    pub const fn new(afi: Afi, safi: Safi) -> Self {
        AfiSafi { afi, safi }
    }

    /// True when NLRI of this family are plain prefixes (IPv4/IPv6 unicast or multicast), the
    /// families whose NLRI this crate parses into [`crate::Prefix`].
    pub fn has_prefix_nlri(&self) -> bool {
        matches!(self.afi, Afi::IPV4 | Afi::IPV6) && matches!(self.safi, Safi::UNICAST | Safi::MULTICAST)
    }
}

impl fmt::Display for AfiSafi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.afi, self.safi)
    }
}

/// A 4-octet AS number (RFC 6793); never 0 (RFC 7607).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Asn(u32);

impl Asn {
    /// RFC 6793 section 9: AS_TRANS, the 2-octet placeholder for a 4-octet AS.
    pub const AS_TRANS: Asn = Asn(23456);

    /// Validates an AS number (rejects 0).
    pub const fn new(asn: u32) -> Result<Asn, InvalidValue> {
        if asn == 0 {
            Err(InvalidValue::Asn)
        } else {
            Ok(Asn(asn))
        }
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The value to put in a 2-octet field: the AS itself or AS_TRANS (RFC 6793 section 4.2.2).
    pub const fn as_u16_or_trans(self) -> u16 {
        if self.0 <= 0xffff { self.0 as u16 } else { 23456 }
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A BGP identifier (RFC 4271 section 4.2, RFC 6286): a non-zero 32-bit value written as IPv4.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RouterId(Ipv4Addr);

impl RouterId {
    /// Validates a router id (rejects 0.0.0.0).
    pub fn new(addr: Ipv4Addr) -> Result<RouterId, InvalidValue> {
        if addr.is_unspecified() {
            Err(InvalidValue::RouterId)
        } else {
            Ok(RouterId(addr))
        }
    }

    /// The identifier as an address.
    pub const fn addr(self) -> Ipv4Addr {
        self.0
    }

    /// The identifier as a host-order integer (RFC 4271 compares identifiers as integers).
    pub fn to_u32(self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A route-reflection cluster id (RFC 4456 section 7); non-zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ClusterId(Ipv4Addr);

impl ClusterId {
    /// Validates a cluster id (rejects 0.0.0.0).
    pub fn new(addr: Ipv4Addr) -> Result<ClusterId, InvalidValue> {
        if addr.is_unspecified() {
            Err(InvalidValue::ClusterId)
        } else {
            Ok(ClusterId(addr))
        }
    }

    /// The id as an address (the CLUSTER_LIST element).
    pub const fn addr(self) -> Ipv4Addr {
        self.0
    }
}

impl From<RouterId> for ClusterId {
    fn from(id: RouterId) -> Self {
        ClusterId(id.0)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A hold time in seconds: RFC 4271 section 4.2 "MUST be either zero or at least three seconds".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HoldTime(u16);

impl HoldTime {
    /// RFC 4271 section 10: the suggested default of 90 seconds.
    pub const DEFAULT: HoldTime = HoldTime(90);
    /// Zero: no keepalives and no hold timer.
    pub const ZERO: HoldTime = HoldTime(0);

    /// Validates a hold time (0 or >= 3).
    pub const fn new(secs: u16) -> Result<HoldTime, InvalidValue> {
        if secs == 1 || secs == 2 {
            Err(InvalidValue::HoldTime(secs))
        } else {
            Ok(HoldTime(secs))
        }
    }

    /// Seconds.
    pub const fn secs(self) -> u16 {
        self.0
    }

    /// RFC 4271 section 4.2: the negotiated hold time is the smaller of ours and the peer's.
    pub fn negotiate(self, other: HoldTime) -> HoldTime {
        HoldTime(self.0.min(other.0))
    }
}

impl fmt::Display for HoldTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}
