//! OPEN message (RFC 4271 section 4.2) with optional parameters (RFC 5492) and the RFC 9072
//! extended optional parameters length.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 9072 section 2: when Opt Parm Len is 255 and the first parameter type is 255, a 2-octet
//! "Extended Opt. Parm. Length" follows and every parameter has a 2-octet length.

use bytes::{BufMut, Bytes, BytesMut};

use crate::capability::Capability;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::parse::{Rd, patch_u16};
use crate::types::{Asn, HoldTime, RouterId};

use nom::combinator::all_consuming;
use nom::multi::{length_data, many0};
use nom::number::complete::{be_u8, be_u16};
use nom::{IResult, Parser};

/// One optional parameter: type, then a 1-octet length (2 octets in the RFC 9072 form), value.
fn param(i: &[u8], extended: bool) -> IResult<&[u8], (u8, &[u8])> {
    let (i, ty) = be_u8(i)?;
    let (i, v) = if extended {
        length_data(be_u16).parse(i)?
    } else {
        length_data(be_u8).parse(i)?
    };
    Ok((i, (ty, v)))
}

/// One capability (RFC 5492 section 4): code, 1-octet length, value.
fn tlv8(i: &[u8]) -> IResult<&[u8], (u8, &[u8])> {
    (be_u8, length_data(be_u8)).parse(i)
}

/// Optional parameter type: Capabilities (RFC 5492).
pub const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072: the Non-Ext OP Type value marking the extended format.
pub const PARAM_EXTENDED_LENGTH: u8 = 255;

/// An OPEN optional parameter.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum OptionalParameter {
    /// Type 2: a list of capabilities. Speakers differ in putting one or many capabilities in
    /// one parameter; the grouping is preserved for byte-exact round trips.
    Capabilities(Vec<Capability>),
    /// Any other parameter, byte-exact. RFC 4271 section 6.2 asks the receiver to reject it
    /// with "Unsupported Optional Parameter"; that decision belongs to the session.
    Unknown {
        /// Parameter type.
        param_type: u8,
        /// Value.
        bytes: Bytes,
    },
}

/// An OPEN message.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Open {
    /// Protocol version; always 4 after decoding.
    pub version: u8,
    /// My Autonomous System (AS_TRANS for 4-octet ASNs, RFC 6793 section 4.1).
    pub my_as: u16,
    /// Proposed hold time.
    pub hold_time: HoldTime,
    /// BGP Identifier.
    pub bgp_id: RouterId,
    /// Optional parameters in received order.
    pub params: Vec<OptionalParameter>,
    /// RFC 9072 extended parameter encoding used (on encode, also chosen automatically when the
    /// parameters exceed 255 octets).
    pub extended_params: bool,
}

impl Open {
    /// An OPEN for `asn` (My AS set to the AS or AS_TRANS, RFC 6793 section 4.1) with all
    /// capabilities in one parameter. Add [`Capability::FourOctetAs`] yourself.
    pub fn new(asn: Asn, hold_time: HoldTime, bgp_id: RouterId, capabilities: Vec<Capability>) -> Open {
        let params = if capabilities.is_empty() {
            Vec::new()
        } else {
            vec![OptionalParameter::Capabilities(capabilities)]
        };
        Open {
            version: 4,
            my_as: asn.as_u16_or_trans(),
            hold_time,
            bgp_id,
            params,
            extended_params: false,
        }
    }

    /// All capabilities across all parameters, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> + '_ {
        self.params.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(c) => c.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The first capability with this code.
    pub fn capability(&self, code: u8) -> Option<&Capability> {
        self.capabilities().find(|c| c.code() == code)
    }

    /// The sender's AS: the 4-octet AS capability value if present, else My AS (RFC 6793 section 4.1).
    pub fn asn(&self) -> u32 {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Decodes an OPEN body (after the 19-byte header); error offsets are relative to `body`.
    pub fn decode(body: &Bytes) -> Result<Open, DecodeError> {
        Open::decode_rd(Rd::new(body), 0)
    }

    /// `hdr` is the offset of the message start, for length errors.
    pub(crate) fn decode_rd(mut r: Rd<'_>, hdr: usize) -> Result<Open, DecodeError> {
        // RFC 4271 section 6.1: a length below the minimum for the type is "Bad Message Length".
        if r.remaining() < 10 {
            let len = u16::try_from(19 + r.remaining()).unwrap_or(u16::MAX);
            return Err(DecodeError::new(hdr + 16, DecodeErrorKind::BadMessageLength(len)));
        }
        let short =
            |s: crate::parse::Short| DecodeError::new(s.offset, DecodeErrorKind::MalformedOptionalParameters);
        let at = r.offset();
        let version = r.u8().map_err(short)?;
        // RFC 4271 section 6.2: "If the version number in the Version field of the received OPEN
        // message is not supported, then the Error Subcode MUST be set to Unsupported Version Number."
        if version != 4 {
            return Err(DecodeError::new(at, DecodeErrorKind::UnsupportedVersion(version)));
        }
        let my_as = r.u16().map_err(short)?;
        let at = r.offset();
        let ht = r.u16().map_err(short)?;
        // RFC 4271 section 6.2: "An implementation MUST reject Hold Time values of one or two
        // seconds." (Unacceptable Hold Time)
        let hold_time =
            HoldTime::new(ht).map_err(|_| DecodeError::new(at, DecodeErrorKind::UnacceptableHoldTime(ht)))?;
        let at = r.offset();
        let id = r.ipv4().map_err(short)?;
        // RFC 4271 section 6.2 / RFC 6286 section 2.2: a zero BGP Identifier is "Bad BGP Identifier".
        let bgp_id =
            RouterId::new(id).map_err(|_| DecodeError::new(at, DecodeErrorKind::BadBgpIdentifier))?;
        let mut len = usize::from(r.u8().map_err(short)?);
        let mut extended = false;
        if len == 255 && r.slice().first() == Some(&PARAM_EXTENDED_LENGTH) {
            // RFC 9072 section 2: Non-Ext OP Type 255 followed by the Extended Opt. Parm. Length.
            r.u8().map_err(short)?;
            len = usize::from(r.u16().map_err(short)?);
            extended = true;
        }
        let p = r.take(len).map_err(short)?;
        if !r.is_empty() {
            return Err(DecodeError::new(
                r.offset(),
                DecodeErrorKind::MalformedOptionalParameters,
            ));
        }
        let nom_err = |e: nom::Err<nom::error::Error<&[u8]>>| {
            let at = match e {
                nom::Err::Error(e) | nom::Err::Failure(e) => p.sub(e.input).offset(),
                nom::Err::Incomplete(_) => p.offset(),
            };
            DecodeError::new(at, DecodeErrorKind::MalformedOptionalParameters)
        };
        let (_, raw) = all_consuming(many0(|i| param(i, extended)))
            .parse(p.slice())
            .map_err(nom_err)?;
        let mut params = Vec::with_capacity(raw.len());
        for (ty, v) in raw {
            if ty == PARAM_CAPABILITIES {
                let (_, caps) = all_consuming(many0(tlv8)).parse(v).map_err(nom_err)?;
                let caps = caps
                    .into_iter()
                    .map(|(code, value)| Capability::decode_value(code, p.sub(value)))
                    .collect();
                params.push(OptionalParameter::Capabilities(caps));
            } else {
                params.push(OptionalParameter::Unknown {
                    param_type: ty,
                    bytes: p.sub(v).bytes(),
                });
            }
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_id,
            params,
            extended_params: extended,
        })
    }

    /// Appends the body (after the header).
    pub fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time.secs());
        out.put_slice(&self.bgp_id.addr().octets());
        // Encode the parameters once in the compact form; switch to RFC 9072 if needed.
        let start = out.len();
        let mut ext = self.extended_params;
        if !ext {
            out.put_u8(0);
            let fits = self.encode_params(false, out).is_ok();
            let plen = out.len() - start - 1;
            match u8::try_from(plen) {
                Ok(l) if fits && (l < 255 || self.params.is_empty()) => {
                    out[start] = l;
                    return Ok(());
                }
                // RFC 9072 section 2: 255 is reserved as the marker, so 255 octets and more (or a
                // parameter longer than 255) need the extended form.
                _ => {
                    out.truncate(start);
                    ext = true;
                }
            }
        }
        debug_assert!(ext);
        out.put_u8(255);
        out.put_u8(PARAM_EXTENDED_LENGTH);
        let len_pos = out.len();
        out.put_u16(0);
        self.encode_params(true, out)?;
        let plen = u16::try_from(out.len() - len_pos - 2)
            .map_err(|_| EncodeError::FieldTooLong("optional parameters"))?;
        patch_u16(out, len_pos, plen);
        Ok(())
    }

    fn encode_params(&self, ext: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
        for p in &self.params {
            let ty = match p {
                OptionalParameter::Capabilities(_) => PARAM_CAPABILITIES,
                OptionalParameter::Unknown { param_type, .. } => *param_type,
            };
            out.put_u8(ty);
            let len_pos = out.len();
            if ext {
                out.put_u16(0)
            } else {
                out.put_u8(0)
            }
            match p {
                OptionalParameter::Capabilities(caps) => {
                    for c in caps {
                        c.encode(out)?;
                    }
                }
                OptionalParameter::Unknown { bytes, .. } => out.put_slice(bytes),
            }
            let hdr = if ext { 2 } else { 1 };
            let len = out.len() - len_pos - hdr;
            if ext {
                let l = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong("optional parameter"))?;
                patch_u16(out, len_pos, l);
            } else {
                out[len_pos] =
                    u8::try_from(len).map_err(|_| EncodeError::FieldTooLong("optional parameter"))?;
            }
        }
        Ok(())
    }
}
