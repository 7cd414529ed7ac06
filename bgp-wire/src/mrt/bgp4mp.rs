//! BGP4MP and BGP4MP_ET records: BGP messages and state changes as seen on a session
//! (RFC 6396 section 4.4, ADD-PATH subtypes from RFC 8050 section 3).
//!
//! The BGP message is kept as the exact bytes of the record, header and marker included, so a record
//! re-encodes byte-exact whatever the codec makes of it; [`Bgp4mpMessage::decode_ctx`] tells how to
//! decode it (2- or 4-octet AS numbers, ADD-PATH path identifiers).

use std::net::IpAddr;

use bytes::{BufMut, Bytes};

use super::cursor::{Cursor, PResult};
use super::error::{MrtEncodeError, MrtErrorKind};

/// BGP4MP_STATE_CHANGE (RFC 6396 section 4.4.1): 2-octet AS numbers.
pub const STATE_CHANGE: u16 = 0;
/// BGP4MP_MESSAGE (RFC 6396 section 4.4.2): 2-octet AS numbers.
pub const MESSAGE: u16 = 1;
/// BGP4MP_MESSAGE_AS4 (RFC 6396 section 4.4.3).
pub const MESSAGE_AS4: u16 = 4;
/// BGP4MP_STATE_CHANGE_AS4 (RFC 6396 section 4.4.4).
pub const STATE_CHANGE_AS4: u16 = 5;
/// BGP4MP_MESSAGE_LOCAL (RFC 6396 section 4.4.5): a message sent by the local speaker.
pub const MESSAGE_LOCAL: u16 = 6;
/// BGP4MP_MESSAGE_AS4_LOCAL (RFC 6396 section 4.4.6).
pub const MESSAGE_AS4_LOCAL: u16 = 7;
/// BGP4MP_MESSAGE_ADDPATH (RFC 8050 section 3).
pub const MESSAGE_ADDPATH: u16 = 8;
/// BGP4MP_MESSAGE_AS4_ADDPATH (RFC 8050 section 3).
pub const MESSAGE_AS4_ADDPATH: u16 = 9;
/// BGP4MP_MESSAGE_LOCAL_ADDPATH (RFC 8050 section 3).
pub const MESSAGE_LOCAL_ADDPATH: u16 = 10;
/// BGP4MP_MESSAGE_AS4_LOCAL_ADDPATH (RFC 8050 section 3).
pub const MESSAGE_AS4_LOCAL_ADDPATH: u16 = 11;

/// A BGP4MP (or BGP4MP_ET) record body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Bgp4mp {
    /// STATE_CHANGE or STATE_CHANGE_AS4.
    StateChange(StateChange),
    /// One of the eight MESSAGE subtypes.
    Message(Bgp4mpMessage),
    /// A subtype this crate does not know, kept as bytes.
    Other {
        /// The subtype.
        subtype: u16,
        /// The record body.
        data: Bytes,
    },
}

/// The session a BGP4MP record belongs to.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer AS Number (2 or 4 octets, AS4 subtypes: 4)       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Local AS Number (2 or 4 octets, AS4 subtypes: 4)      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |        Interface Index        |        Address Family         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Peer IP Address (variable)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Local IP Address (variable)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Bgp4mpPeer {
    /// The remote speaker's AS.
    pub peer_as: u32,
    /// The local (collector's) AS.
    pub local_as: u32,
    /// The interface index, 0 when unknown.
    pub interface_index: u16,
    /// The remote address; its family is the record's Address Family field.
    pub peer_ip: IpAddr,
    /// The local address, of the same family as `peer_ip`.
    pub local_ip: IpAddr,
}

/// A session state change (RFC 6396 section 4.4.1): states numbered as in RFC 4271 section 8.2.2
/// (1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StateChange {
    /// True for STATE_CHANGE_AS4 (4-octet AS fields).
    pub as4: bool,
    /// The session.
    pub peer: Bgp4mpPeer,
    /// The state left.
    pub old_state: u16,
    /// The state entered.
    pub new_state: u16,
}

/// A BGP message record (RFC 6396 sections 4.4.2-4.4.6, RFC 8050 section 3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Bgp4mpMessage {
    /// AS4 subtypes: 4-octet AS fields here, and the message's AS_PATH uses 4-octet AS numbers.
    pub as4: bool,
    /// LOCAL subtypes: the message was sent by the local speaker rather than received.
    pub local: bool,
    /// ADDPATH subtypes (RFC 8050): the message's NLRI carry path identifiers.
    pub add_path: bool,
    /// The session.
    pub peer: Bgp4mpPeer,
    /// The complete BGP message, marker and header included.
    pub message: Bytes,
}

impl Bgp4mpMessage {
    /// The record subtype these flags select.
    pub fn subtype(&self) -> u16 {
        match (self.as4, self.local, self.add_path) {
            (false, false, false) => MESSAGE,
            (true, false, false) => MESSAGE_AS4,
            (false, true, false) => MESSAGE_LOCAL,
            (true, true, false) => MESSAGE_AS4_LOCAL,
            (false, false, true) => MESSAGE_ADDPATH,
            (true, false, true) => MESSAGE_AS4_ADDPATH,
            (false, true, true) => MESSAGE_LOCAL_ADDPATH,
            (true, true, true) => MESSAGE_AS4_LOCAL_ADDPATH,
        }
    }
}

/// (as4, local, add_path) for a MESSAGE subtype.
fn message_flags(subtype: u16) -> Option<(bool, bool, bool)> {
    Some(match subtype {
        MESSAGE => (false, false, false),
        MESSAGE_AS4 => (true, false, false),
        MESSAGE_LOCAL => (false, true, false),
        MESSAGE_AS4_LOCAL => (true, true, false),
        MESSAGE_ADDPATH => (false, false, true),
        MESSAGE_AS4_ADDPATH => (true, false, true),
        MESSAGE_LOCAL_ADDPATH => (false, true, true),
        MESSAGE_AS4_LOCAL_ADDPATH => (true, true, true),
        _ => return None,
    })
}

impl Bgp4mp {
    /// The record subtype.
    pub fn subtype(&self) -> u16 {
        match self {
            Bgp4mp::StateChange(s) if s.as4 => STATE_CHANGE_AS4,
            Bgp4mp::StateChange(_) => STATE_CHANGE,
            Bgp4mp::Message(m) => m.subtype(),
            Bgp4mp::Other { subtype, .. } => *subtype,
        }
    }

    pub(crate) fn parse(subtype: u16, c: &mut Cursor) -> PResult<Self> {
        if let Some((as4, local, add_path)) = message_flags(subtype) {
            let peer = parse_peer(c, as4)?;
            let message = c.rest();
            return Ok(Bgp4mp::Message(Bgp4mpMessage {
                as4,
                local,
                add_path,
                peer,
                message,
            }));
        }
        match subtype {
            STATE_CHANGE | STATE_CHANGE_AS4 => {
                let as4 = subtype == STATE_CHANGE_AS4;
                let peer = parse_peer(c, as4)?;
                let old_state = c.u16("old state")?;
                let new_state = c.u16("new state")?;
                c.finish()?;
                Ok(Bgp4mp::StateChange(StateChange {
                    as4,
                    peer,
                    old_state,
                    new_state,
                }))
            }
            _ => Ok(Bgp4mp::Other {
                subtype,
                data: c.rest(),
            }),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), MrtEncodeError> {
        match self {
            Bgp4mp::StateChange(s) => {
                encode_peer(&s.peer, s.as4, out)?;
                out.put_u16(s.old_state);
                out.put_u16(s.new_state);
            }
            Bgp4mp::Message(m) => {
                encode_peer(&m.peer, m.as4, out)?;
                out.put_slice(&m.message);
            }
            Bgp4mp::Other { data, .. } => out.put_slice(data),
        }
        Ok(())
    }
}

fn parse_peer(c: &mut Cursor, as4: bool) -> PResult<Bgp4mpPeer> {
    let (peer_as, local_as) = if as4 {
        (c.u32("peer AS")?, c.u32("local AS")?)
    } else {
        (u32::from(c.u16("peer AS")?), u32::from(c.u16("local AS")?))
    };
    let interface_index = c.u16("interface index")?;
    let afi_at = c.offset();
    let afi = c.u16("address family")?;
    let ipv6 = match afi {
        1 => false,
        2 => true,
        other => {
            return Err(super::cursor::ParseError {
                offset: afi_at,
                kind: MrtErrorKind::UnknownAfi(other),
            });
        }
    };
    let peer_ip = c.ip(ipv6, "peer IP address")?;
    let local_ip = c.ip(ipv6, "local IP address")?;
    Ok(Bgp4mpPeer {
        peer_as,
        local_as,
        interface_index,
        peer_ip,
        local_ip,
    })
}

fn encode_peer(p: &Bgp4mpPeer, as4: bool, out: &mut Vec<u8>) -> Result<(), MrtEncodeError> {
    if as4 {
        out.put_u32(p.peer_as);
        out.put_u32(p.local_as);
    } else {
        for asn in [p.peer_as, p.local_as] {
            out.put_u16(u16::try_from(asn).map_err(|_| MrtEncodeError::AsTooLarge(asn))?);
        }
    }
    out.put_u16(p.interface_index);
    match (p.peer_ip, p.local_ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            out.put_u16(1);
            out.put_slice(&a.octets());
            out.put_slice(&b.octets());
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            out.put_u16(2);
            out.put_slice(&a.octets());
            out.put_slice(&b.octets());
        }
        _ => return Err(MrtEncodeError::MixedAddressFamilies),
    }
    Ok(())
}
