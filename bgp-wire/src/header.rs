//! Message header, framing and the [`Message`] enum (RFC 4271 section 4.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::ctx::{DecodeCtx, EncodeCtx};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Treatment};
use crate::notification::Notification;
use crate::open::Open;
use crate::parse::{Rd, patch_u16};
use crate::route_refresh::RouteRefresh;
use crate::update::{AttributeError, Update, max_treatment};

/// Header length: 16-octet marker, 2-octet length, 1-octet type.
pub const HEADER_LEN: usize = 19;

/// Message type codes (RFC 4271 section 4.1, RFC 2918).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum MessageType {
    /// 1.
    Open,
    /// 2.
    Update,
    /// 3.
    Notification,
    /// 4.
    Keepalive,
    /// 5.
    RouteRefresh,
}

impl MessageType {
    /// Wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            MessageType::Open => 1,
            MessageType::Update => 2,
            MessageType::Notification => 3,
            MessageType::Keepalive => 4,
            MessageType::RouteRefresh => 5,
        }
    }

    /// From the wire value.
    pub fn from_u8(v: u8) -> Option<MessageType> {
        Some(match v {
            1 => MessageType::Open,
            2 => MessageType::Update,
            3 => MessageType::Notification,
            4 => MessageType::Keepalive,
            5 => MessageType::RouteRefresh,
            _ => return None,
        })
    }
}

/// Checks the header at the start of `buf` and returns the whole message length, or `None`
/// if more bytes are needed to know (fewer than 19 available) or to hold the message.
///
/// RFC 4271 section 6.1: a marker that is not all ones is "Connection Not Synchronized"; a
/// length "less than 19 or greater than 4096" (or `max_len`, 65535 with RFC 8654) is "Bad
/// Message Length" with the length as data. Type-specific bounds are checked by
/// [`Message::decode`].
pub fn frame_len(buf: &[u8], max_len: usize) -> Result<Option<usize>, DecodeError> {
    let Some(hdr) = buf.get(..HEADER_LEN) else {
        // Report a bad marker as early as possible.
        if buf.iter().take(16).any(|&b| b != 0xff) {
            return Err(DecodeError::new(0, DecodeErrorKind::ConnectionNotSynchronized));
        }
        return Ok(None);
    };
    if hdr[..16].iter().any(|&b| b != 0xff) {
        return Err(DecodeError::new(0, DecodeErrorKind::ConnectionNotSynchronized));
    }
    let len = u16::from_be_bytes([hdr[16], hdr[17]]);
    if usize::from(len) < HEADER_LEN || usize::from(len) > max_len {
        return Err(DecodeError::new(16, DecodeErrorKind::BadMessageLength(len)));
    }
    if buf.len() < usize::from(len) {
        Ok(None)
    } else {
        Ok(Some(usize::from(len)))
    }
}

/// A BGP message.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "type", content = "body", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Decodes a whole frame (header included, as delimited by [`frame_len`]) and applies the
    /// RFC 7606 outcome to an UPDATE (see [`Update::decode`]): attribute-discard errors drop
    /// the attribute, treat-as-withdraw errors turn the UPDATE into the withdrawal of its
    /// routes. `Err` means session reset (or AFI/SAFI disable, see [`DecodeError::treatment`]).
    pub fn decode(frame: &Bytes, ctx: &DecodeCtx) -> Result<Message, DecodeError> {
        let (mut m, errors) = Message::decode_with_errors(frame, ctx)?;
        if let Message::Update(u) = &mut m
            && max_treatment(&errors) == Some(Treatment::TreatAsWithdraw)
        {
            u.apply_treat_as_withdraw();
        }
        Ok(m)
    }

    /// Decodes a whole frame and also returns the UPDATE errors that did not need a session
    /// reset (empty for other types); the UPDATE is returned as parsed, without malformed
    /// attributes, and treat-as-withdraw is left to the caller.
    pub fn decode_with_errors(
        frame: &Bytes,
        ctx: &DecodeCtx,
    ) -> Result<(Message, Vec<AttributeError>), DecodeError> {
        let max = ctx.max_message_len();
        let len = match frame_len(frame, max)? {
            Some(l) => l,
            None => {
                let l = u16::try_from(frame.len()).unwrap_or(u16::MAX);
                return Err(DecodeError::new(16, DecodeErrorKind::BadMessageLength(l)));
            }
        };
        let mut r = Rd::new(frame);
        let mut hdr = r
            .take(HEADER_LEN)
            .map_err(|s| DecodeError::new(s.offset, DecodeErrorKind::TrailingBytes))?;
        let body = r
            .take(len - HEADER_LEN)
            .map_err(|s| DecodeError::new(s.offset, DecodeErrorKind::TrailingBytes))?;
        if !r.is_empty() {
            return Err(DecodeError::new(len, DecodeErrorKind::TrailingBytes));
        }
        let _ = hdr.take(18);
        let t = hdr
            .u8()
            .map_err(|s| DecodeError::new(s.offset, DecodeErrorKind::TrailingBytes))?;
        let ty = MessageType::from_u8(t).ok_or(DecodeError::new(18, DecodeErrorKind::BadMessageType(t)))?;
        let blen = u16::try_from(len).unwrap_or(u16::MAX);
        let bad_len = || Err(DecodeError::new(16, DecodeErrorKind::BadMessageLength(blen)));
        Ok(match ty {
            MessageType::Open => (Message::Open(Open::decode_rd(body, 0)?), Vec::new()),
            MessageType::Update => {
                let (u, e) = Update::decode_rd(body, ctx, 0)?;
                (Message::Update(u), e)
            }
            MessageType::Notification => {
                // RFC 4271 section 6.1: minimum NOTIFICATION length is 21.
                if len < 21 {
                    return bad_len();
                }
                (
                    Message::Notification(Notification::decode_at(&body.bytes(), HEADER_LEN)?),
                    Vec::new(),
                )
            }
            MessageType::Keepalive => {
                // RFC 4271 section 6.1: "if the Length field of a KEEPALIVE message is not equal
                // to 19" the length is bad.
                if len != HEADER_LEN {
                    return bad_len();
                }
                (Message::Keepalive, Vec::new())
            }
            MessageType::RouteRefresh => (
                Message::RouteRefresh(RouteRefresh::decode_at(body.slice(), HEADER_LEN, frame)?),
                Vec::new(),
            ),
        })
    }

    /// Appends the whole message (header included); the length is back-patched. Fails if the
    /// message would exceed 4096 octets (65535 with `ctx.extended_message`).
    pub fn encode(&self, ctx: &EncodeCtx, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = start_header(out, self.message_type());
        let r = match self {
            Message::Open(o) => o.encode_body(out),
            Message::Update(u) => u.encode_body(ctx, out),
            Message::Notification(n) => {
                n.encode_body(out);
                Ok(())
            }
            Message::Keepalive => Ok(()),
            Message::RouteRefresh(rr) => {
                rr.encode_body(out);
                Ok(())
            }
        };
        if let Err(e) = r {
            out.truncate(start);
            return Err(e);
        }
        finish_header(out, start, ctx.max_message_len())
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self, ctx: &EncodeCtx) -> Result<Bytes, EncodeError> {
        let mut b = BytesMut::with_capacity(64);
        self.encode(ctx, &mut b)?;
        Ok(b.freeze())
    }
}

/// Writes marker, a placeholder length and the type; returns the message start.
pub(crate) fn start_header(out: &mut BytesMut, t: MessageType) -> usize {
    let start = out.len();
    out.put_slice(&[0xff; 16]);
    out.put_u16(0);
    out.put_u8(t.to_u8());
    start
}

/// Back-patches the length of the message starting at `start`; on overflow truncates `out`
/// back to `start` and fails.
pub(crate) fn finish_header(out: &mut BytesMut, start: usize, max: usize) -> Result<(), EncodeError> {
    let len = out.len() - start;
    if len > max {
        out.truncate(start);
        return Err(EncodeError::MessageTooLong { length: len, max });
    }
    patch_u16(out, start + 16, len as u16);
    Ok(())
}
