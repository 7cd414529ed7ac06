//! Communities: RFC 1997 (4 octets), RFC 4360 extended (8 octets), RFC 8092 large (12 octets).

use std::fmt;

/// An RFC 1997 community: `ASN:value` in one 32-bit word.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Community(pub u32);

impl Community {
    /// RFC 8326 GRACEFUL_SHUTDOWN.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// RFC 9494 LLGR_STALE.
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// RFC 9494 NO_LLGR.
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// RFC 7999 BLACKHOLE.
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);
    /// RFC 1997 NO_EXPORT.
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// RFC 1997 NO_ADVERTISE.
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// RFC 1997 NO_EXPORT_SUBCONFED.
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// RFC 3765 NOPEER.
    pub const NO_PEER: Community = Community(0xFFFF_FF04);

    /// Builds `asn:value`.
    pub const fn new(asn: u16, value: u16) -> Community {
        Community(((asn as u32) << 16) | value as u32)
    }

    /// High 16 bits.
    pub const fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// Low 16 bits.
    pub const fn value(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.asn(), self.value())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Community {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An RFC 4360 extended community (8 octets, kept as-is).
///
/// ```text
/// | Type high (1) | Type low / sub-type (1) | Value (6) |
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    /// Route Target, 2-octet AS specific (type 0x00, sub-type 0x02).
    pub fn route_target_as2(asn: u16, value: u32) -> ExtendedCommunity {
        let mut b = [0u8; 8];
        b[1] = 0x02;
        b[2..4].copy_from_slice(&asn.to_be_bytes());
        b[4..8].copy_from_slice(&value.to_be_bytes());
        ExtendedCommunity(b)
    }

    /// Type high octet.
    pub fn type_high(&self) -> u8 {
        self.0[0]
    }

    /// Sub-type (type low) octet.
    pub fn subtype(&self) -> u8 {
        self.0[1]
    }

    /// RFC 4360 section 2: the T bit (0x40) clear means transitive.
    pub fn is_transitive(&self) -> bool {
        self.0[0] & 0x40 == 0
    }
}

impl fmt::Display for ExtendedCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        let kind = match b[1] {
            0x02 => "rt",
            0x03 => "soo",
            _ => "",
        };
        match (b[0] & 0x3f, kind) {
            (0x00, k) if !k.is_empty() => {
                let asn = u16::from_be_bytes([b[2], b[3]]);
                write!(f, "{k}:{asn}:{}", u32::from_be_bytes([b[4], b[5], b[6], b[7]]))
            }
            (0x01, k) if !k.is_empty() => {
                write!(
                    f,
                    "{k}:{}.{}.{}.{}:{}",
                    b[2],
                    b[3],
                    b[4],
                    b[5],
                    u16::from_be_bytes([b[6], b[7]])
                )
            }
            (0x02, k) if !k.is_empty() => {
                let asn = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
                write!(f, "{k}:{asn}:{}", u16::from_be_bytes([b[6], b[7]]))
            }
            _ => {
                write!(f, "0x")?;
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ExtendedCommunity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An RFC 8092 large community: `global:local1:local2`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LargeCommunity {
    /// Global Administrator (an ASN).
    pub global_admin: u32,
    /// Local Data Part 1.
    pub local_data_1: u32,
    /// Local Data Part 2.
    pub local_data_2: u32,
}

impl LargeCommunity {
    /// Builds `global:local1:local2`.
    pub const fn new(global_admin: u32, local_data_1: u32, local_data_2: u32) -> Self {
        LargeCommunity {
            global_admin,
            local_data_1,
            local_data_2,
        }
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data_1, self.local_data_2
        )
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for LargeCommunity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
