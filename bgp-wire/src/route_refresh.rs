//! ROUTE-REFRESH message (RFC 2918 section 3) with the RFC 7313 message subtype.
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtype| SAFI |
//! +-------+-------+-------+-------+
//! ```

use bytes::{BufMut, Bytes};

use crate::error::{DecodeError, DecodeErrorKind};
use crate::types::{Afi, AfiSafi, Safi};

/// ROUTE-REFRESH subtype (RFC 7313 section 3.2), an open newtype.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RouteRefreshSubtype(pub u8);

impl RouteRefreshSubtype {
    /// 0: normal route refresh request.
    pub const NORMAL: RouteRefreshSubtype = RouteRefreshSubtype(0);
    /// 1: Beginning of Route Refresh (BoRR).
    pub const BORR: RouteRefreshSubtype = RouteRefreshSubtype(1);
    /// 2: End of Route Refresh (EoRR).
    pub const EORR: RouteRefreshSubtype = RouteRefreshSubtype(2);
}

/// A ROUTE-REFRESH message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RouteRefresh {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Subtype (RFC 7313; reserved 0 in RFC 2918). RFC 7313 section 5: a receiver "MUST
    /// ignore" a message with a subtype other than 0, 1 or 2 (the session's job).
    pub subtype: RouteRefreshSubtype,
}

impl RouteRefresh {
    /// A normal refresh request for a family.
    pub fn request(f: AfiSafi) -> RouteRefresh {
        RouteRefresh {
            afi: f.afi,
            safi: f.safi,
            subtype: RouteRefreshSubtype::NORMAL,
        }
    }

    /// The family.
    pub fn afi_safi(&self) -> AfiSafi {
        AfiSafi::new(self.afi, self.safi)
    }

    /// Decodes the body (4 octets after the header).
    pub fn decode(body: &Bytes) -> Result<RouteRefresh, DecodeError> {
        RouteRefresh::decode_at(body, 0, body)
    }

    /// `frame` is the whole message, used as NOTIFICATION data.
    pub(crate) fn decode_at(body: &[u8], base: usize, frame: &Bytes) -> Result<RouteRefresh, DecodeError> {
        match body {
            [a0, a1, st, sf] => Ok(RouteRefresh {
                afi: Afi(u16::from_be_bytes([*a0, *a1])),
                safi: Safi(*sf),
                subtype: RouteRefreshSubtype(*st),
            }),
            // RFC 7313 section 5: "If the length, excluding the fixed-size message header, of the
            // received ROUTE-REFRESH message with Message Subtype 1 and 2 is not 4, then the BGP
            // speaker MUST send a NOTIFICATION message with the Error Code of 'ROUTE-REFRESH
            // Message Error' and the subcode of 'Invalid Message Length'. The Data field of the
            // NOTIFICATION message MUST contain the complete ROUTE-REFRESH message."
            _ => {
                let len = u16::try_from(19 + body.len()).unwrap_or(u16::MAX);
                Err(
                    DecodeError::new(base.saturating_sub(3), DecodeErrorKind::RouteRefreshLength(len))
                        .with_data(frame.clone()),
                )
            }
        }
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut impl BufMut) {
        out.put_u16(self.afi.0);
        out.put_u8(self.subtype.0);
        out.put_u8(self.safi.0);
    }
}
