//! Capabilities advertisement (RFC 5492) and the capabilities this crate understands.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```
//!
//! A known capability whose value does not parse (wrong length, reserved value) is kept as
//! [`Capability::Unknown`] with its bytes: RFC 5492 defines no error for it, and the session
//! then simply does not use that capability.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::EncodeError;
use crate::parse::Rd;
use crate::types::{Afi, AfiSafi, Safi};

/// Capability codes (IANA "Capability Codes").
pub mod code {
    /// Multiprotocol Extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended Next Hop Encoding (RFC 8950).
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// Extended Message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// BGP Role (RFC 9234).
    pub const BGP_ROLE: u8 = 9;
    /// Graceful Restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// Support for 4-octet AS number (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH (RFC 7911).
    pub const ADD_PATH: u8 = 69;
    /// Enhanced Route Refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    /// Long-Lived Graceful Restart (RFC 9494).
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    /// FQDN (draft-walton-bgp-hostname-capability).
    pub const FQDN: u8 = 73;
}

/// ADD-PATH Send/Receive field (RFC 7911 section 4).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum AddPathMode {
    /// 1: willing to receive multiple paths.
    Receive,
    /// 2: would like to send multiple paths.
    Send,
    /// 3: both.
    Both,
}

impl AddPathMode {
    /// Wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
        }
    }

    /// From the wire value (1..=3).
    pub fn from_u8(v: u8) -> Option<AddPathMode> {
        match v {
            1 => Some(AddPathMode::Receive),
            2 => Some(AddPathMode::Send),
            3 => Some(AddPathMode::Both),
            _ => None,
        }
    }

    /// True for Receive or Both.
    pub fn receives(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }

    /// True for Send or Both.
    pub fn sends(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

/// Graceful Restart capability value (RFC 4724 section 3).
///
/// ```text
/// +--------------------------------------------------+
/// | Restart Flags (4 bits) | Restart Time in seconds (12 bits) |
/// +--------------------------------------------------+
/// | AFI (16 bits) | SAFI (8 bits) | Flags for Address Family (8 bits) | ... repeated
/// ```
/// Reserved flag bits are written as zero.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GracefulRestart {
    /// R bit: the sender has restarted.
    pub restart_state: bool,
    /// N bit (RFC 8538): the sender supports graceful restart for NOTIFICATION messages.
    pub notification: bool,
    /// Restart time in seconds (12 bits, 0..=4095).
    pub restart_time: u16,
    /// Families with their Forwarding State bit.
    pub families: Vec<GrFamily>,
}

/// One family of the Graceful Restart capability.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GrFamily {
    /// The family.
    pub afi_safi: AfiSafi,
    /// F bit: forwarding state was preserved across the restart.
    pub forwarding: bool,
}

/// One family of the Long-Lived Graceful Restart capability (RFC 9494 section 3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LlgrFamily {
    /// The family.
    pub afi_safi: AfiSafi,
    /// Flags octet (0x80: forwarding state preserved).
    pub flags: u8,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// One tuple of the Extended Next Hop Encoding capability (RFC 8950 section 3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExtendedNextHop {
    /// NLRI family (the SAFI is 2 octets on the wire).
    pub nlri: AfiSafi,
    /// Next hop address family.
    pub next_hop_afi: Afi,
}

/// BGP Role (RFC 9234 section 4.1), an open newtype.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BgpRole(pub u8);

impl BgpRole {
    /// Provider.
    pub const PROVIDER: BgpRole = BgpRole(0);
    /// Route server.
    pub const RS: BgpRole = BgpRole(1);
    /// Route server client.
    pub const RS_CLIENT: BgpRole = BgpRole(2);
    /// Customer.
    pub const CUSTOMER: BgpRole = BgpRole(3);
    /// Lateral peer.
    pub const PEER: BgpRole = BgpRole(4);
}

/// A capability (RFC 5492 section 4).
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Capability {
    /// Multiprotocol Extensions (RFC 4760 section 8): one family.
    MultiProtocol(AfiSafi),
    /// Route Refresh (RFC 2918).
    RouteRefresh,
    /// Enhanced Route Refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// 4-octet AS number support (RFC 6793) with our AS.
    FourOctetAs(u32),
    /// ADD-PATH (RFC 7911): families and Send/Receive modes.
    AddPath(Vec<(AfiSafi, AddPathMode)>),
    /// Graceful Restart (RFC 4724).
    GracefulRestart(GracefulRestart),
    /// Long-Lived Graceful Restart (RFC 9494).
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// Extended Message (RFC 8654).
    ExtendedMessage,
    /// FQDN capability: host and domain name.
    Fqdn {
        /// Host name.
        hostname: String,
        /// Domain name.
        domain: String,
    },
    /// BGP Role (RFC 9234).
    BgpRole(BgpRole),
    /// Extended Next Hop Encoding (RFC 8950).
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// Any other capability, or a known one whose value does not parse, byte-exact.
    Unknown {
        /// Capability code.
        code: u8,
        /// Value.
        bytes: Bytes,
    },
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::MultiProtocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::LongLivedGracefulRestart(_) => code::LONG_LIVED_GRACEFUL_RESTART,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::Fqdn { .. } => code::FQDN,
            Capability::BgpRole(_) => code::BGP_ROLE,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability value; a malformed known value becomes `Unknown`.
    pub(crate) fn decode_value(code: u8, value: Rd<'_>) -> Capability {
        Capability::parse_known(code, value).unwrap_or_else(|| Capability::Unknown {
            code,
            bytes: value.bytes(),
        })
    }

    fn parse_known(code: u8, mut v: Rd<'_>) -> Option<Capability> {
        let cap = match code {
            code::MULTIPROTOCOL => {
                let afi = Afi(v.u16().ok()?);
                if v.u8().ok()? != 0 {
                    return None; // reserved octet not zero: keep byte-exact as Unknown
                }
                Capability::MultiProtocol(AfiSafi::new(afi, Safi(v.u8().ok()?)))
            }
            code::ROUTE_REFRESH => Capability::RouteRefresh,
            code::ENHANCED_ROUTE_REFRESH => Capability::EnhancedRouteRefresh,
            code::EXTENDED_MESSAGE => Capability::ExtendedMessage,
            code::FOUR_OCTET_AS => Capability::FourOctetAs(v.u32().ok()?),
            code::BGP_ROLE => Capability::BgpRole(BgpRole(v.u8().ok()?)),
            code::ADD_PATH => {
                let mut list = Vec::with_capacity(v.remaining() / 4);
                while !v.is_empty() {
                    let afi = Afi(v.u16().ok()?);
                    let safi = Safi(v.u8().ok()?);
                    let mode = AddPathMode::from_u8(v.u8().ok()?)?;
                    list.push((AfiSafi::new(afi, safi), mode));
                }
                Capability::AddPath(list)
            }
            code::GRACEFUL_RESTART => {
                let w = v.u16().ok()?;
                if w & 0x3000 != 0 {
                    return None; // reserved bits: keep byte-exact as Unknown
                }
                let mut families = Vec::with_capacity(v.remaining() / 4);
                while !v.is_empty() {
                    let afi = Afi(v.u16().ok()?);
                    let safi = Safi(v.u8().ok()?);
                    let flags = v.u8().ok()?;
                    if flags & 0x7f != 0 {
                        return None;
                    }
                    families.push(GrFamily {
                        afi_safi: AfiSafi::new(afi, safi),
                        forwarding: flags & 0x80 != 0,
                    });
                }
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: w & 0x8000 != 0,
                    notification: w & 0x4000 != 0,
                    restart_time: w & 0x0fff,
                    families,
                })
            }
            code::LONG_LIVED_GRACEFUL_RESTART => {
                let mut list = Vec::with_capacity(v.remaining() / 7);
                while !v.is_empty() {
                    let afi = Afi(v.u16().ok()?);
                    let safi = Safi(v.u8().ok()?);
                    let flags = v.u8().ok()?;
                    let stale_time = v.u24().ok()?;
                    list.push(LlgrFamily {
                        afi_safi: AfiSafi::new(afi, safi),
                        flags,
                        stale_time,
                    });
                }
                Capability::LongLivedGracefulRestart(list)
            }
            code::EXTENDED_NEXT_HOP => {
                let mut list = Vec::with_capacity(v.remaining() / 6);
                while !v.is_empty() {
                    let afi = Afi(v.u16().ok()?);
                    let safi = u8::try_from(v.u16().ok()?).ok()?;
                    let nh = Afi(v.u16().ok()?);
                    list.push(ExtendedNextHop {
                        nlri: AfiSafi::new(afi, Safi(safi)),
                        next_hop_afi: nh,
                    });
                }
                Capability::ExtendedNextHop(list)
            }
            code::FQDN => {
                let hl = usize::from(v.u8().ok()?);
                let host = std::str::from_utf8(v.take(hl).ok()?.slice()).ok()?.to_owned();
                let dl = usize::from(v.u8().ok()?);
                let domain = std::str::from_utf8(v.take(dl).ok()?.slice()).ok()?.to_owned();
                Capability::Fqdn {
                    hostname: host,
                    domain,
                }
            }
            _ => return None,
        };
        // Trailing bytes in a known capability: not this capability's format.
        if v.is_empty() { Some(cap) } else { None }
    }

    /// Appends code, length and value.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.code());
        let len_pos = out.len();
        out.put_u8(0);
        match self {
            Capability::MultiProtocol(f) => {
                out.put_u16(f.afi.0);
                out.put_u8(0);
                out.put_u8(f.safi.0);
            }
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh | Capability::ExtendedMessage => {}
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::BgpRole(r) => out.put_u8(r.0),
            Capability::AddPath(list) => {
                for (f, m) in list {
                    out.put_u16(f.afi.0);
                    out.put_u8(f.safi.0);
                    out.put_u8(m.to_u8());
                }
            }
            Capability::GracefulRestart(gr) => {
                if gr.restart_time > 0x0fff {
                    return Err(EncodeError::InvalidValue("graceful restart time above 4095"));
                }
                let mut w = gr.restart_time;
                if gr.restart_state {
                    w |= 0x8000;
                }
                if gr.notification {
                    w |= 0x4000;
                }
                out.put_u16(w);
                for f in &gr.families {
                    out.put_u16(f.afi_safi.afi.0);
                    out.put_u8(f.afi_safi.safi.0);
                    out.put_u8(if f.forwarding { 0x80 } else { 0 });
                }
            }
            Capability::LongLivedGracefulRestart(list) => {
                for f in list {
                    if f.stale_time > 0x00ff_ffff {
                        return Err(EncodeError::InvalidValue("llgr stale time above 24 bits"));
                    }
                    out.put_u16(f.afi_safi.afi.0);
                    out.put_u8(f.afi_safi.safi.0);
                    out.put_u8(f.flags);
                    out.put_uint(u64::from(f.stale_time), 3);
                }
            }
            Capability::ExtendedNextHop(list) => {
                for e in list {
                    out.put_u16(e.nlri.afi.0);
                    out.put_u16(u16::from(e.nlri.safi.0));
                    out.put_u16(e.next_hop_afi.0);
                }
            }
            Capability::Fqdn { hostname, domain } => {
                for s in [hostname, domain] {
                    let l = u8::try_from(s.len()).map_err(|_| EncodeError::FieldTooLong("fqdn name"))?;
                    out.put_u8(l);
                    out.put_slice(s.as_bytes());
                }
            }
            Capability::Unknown { bytes, .. } => out.put_slice(bytes),
        }
        let len =
            u8::try_from(out.len() - len_pos - 1).map_err(|_| EncodeError::FieldTooLong("capability"))?;
        out[len_pos] = len;
        Ok(())
    }
}
