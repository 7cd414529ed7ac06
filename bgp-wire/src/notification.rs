//! NOTIFICATION message (RFC 4271 section 4.5), error codes and subcodes (RFC 4271 section 4.5,
//! RFC 4486, RFC 7313, RFC 8538), and the shutdown communication (RFC 8203, RFC 9003).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, Bytes};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// Error codes (RFC 4271 section 4.5, RFC 7313).
pub mod code {
    /// Message Header Error.
    pub const MESSAGE_HEADER_ERROR: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN_MESSAGE_ERROR: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE_MESSAGE_ERROR: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM_ERROR: u8 = 5;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313).
    pub const ROUTE_REFRESH_MESSAGE_ERROR: u8 = 7;
}

/// Message Header Error subcodes (RFC 4271 section 6.1).
pub mod header {
    /// Connection Not Synchronized.
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    /// Bad Message Length.
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    /// Bad Message Type.
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes (RFC 4271 section 6.2, RFC 5492, RFC 9234).
pub mod open {
    /// Unspecific (IANA).
    pub const UNSPECIFIC: u8 = 0;
    /// Unsupported Version Number.
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    /// Bad Peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// Bad BGP Identifier.
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    /// Unsupported Optional Parameter.
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    /// Unacceptable Hold Time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// Unsupported Capability (RFC 5492).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    /// Role Mismatch (RFC 9234).
    pub const ROLE_MISMATCH: u8 = 11;
}

/// UPDATE Message Error subcodes (RFC 4271 section 6.3).
pub mod update {
    /// Malformed Attribute List.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    /// Unrecognized Well-known Attribute.
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    /// Missing Well-known Attribute.
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    /// Attribute Flags Error.
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    /// Attribute Length Error.
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    /// Invalid ORIGIN Attribute.
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    /// Invalid NEXT_HOP Attribute.
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    /// Optional Attribute Error.
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    /// Invalid Network Field.
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    /// Malformed AS_PATH.
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Finite State Machine Error subcodes (RFC 6608).
pub mod fsm {
    /// Unspecified Error.
    pub const UNSPECIFIED: u8 = 0;
    /// Receive Unexpected Message in OpenSent State.
    pub const UNEXPECTED_IN_OPENSENT: u8 = 1;
    /// Receive Unexpected Message in OpenConfirm State.
    pub const UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
    /// Receive Unexpected Message in Established State.
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

/// Cease subcodes (RFC 4486, RFC 8538).
pub mod cease {
    /// Maximum Number of Prefixes Reached.
    pub const MAX_PREFIXES: u8 = 1;
    /// Administrative Shutdown (may carry a shutdown communication, RFC 9003).
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    /// Peer De-configured.
    pub const PEER_DECONFIGURED: u8 = 3;
    /// Administrative Reset (may carry a shutdown communication, RFC 9003).
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    /// Connection Rejected.
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Other Configuration Change.
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    /// Connection Collision Resolution.
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    /// Out of Resources.
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// Hard Reset (RFC 8538).
    pub const HARD_RESET: u8 = 9;
    /// BFD Down (RFC 9384).
    pub const BFD_DOWN: u8 = 10;
}

/// ROUTE-REFRESH Message Error subcodes (RFC 7313).
pub mod route_refresh {
    /// Invalid Message Length.
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// A NOTIFICATION message. With the `serde` feature of `bgp-wire` it serializes as `code`, `subcode`,
/// `data`, plus `description` and, for Cease 2/4, `shutdown_message`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Notification {
    /// Error code ([`code`]).
    pub code: u8,
    /// Error subcode (e.g. [`cease`]).
    pub subcode: u8,
    /// Data, kept as received.
    pub data: Bytes,
}

/// A shutdown communication that could not be read (RFC 9003 section 2: such a message
/// "SHOULD be logged" but the NOTIFICATION is otherwise processed).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownCommError {
    /// The length octet points past the end of the data.
    #[error("shutdown communication length exceeds the data")]
    Length,
    /// The text is not UTF-8.
    #[error("shutdown communication is not valid utf-8")]
    Utf8,
}

impl Notification {
    /// A NOTIFICATION without data.
    pub fn new(code: u8, subcode: u8) -> Notification {
        Notification {
            code,
            subcode,
            data: Bytes::new(),
        }
    }

    /// A Cease NOTIFICATION with a shutdown communication (RFC 9003 section 2): the data is a
    /// length octet followed by at most 255 octets of UTF-8. `subcode` should be
    /// [`cease::ADMINISTRATIVE_SHUTDOWN`] or [`cease::ADMINISTRATIVE_RESET`].
    pub fn cease_with_message(subcode: u8, message: &str) -> Result<Notification, EncodeError> {
        // RFC 9003 section 2: "Length: this 8-bit field represents the length of the Shutdown
        // Communication field in octets. ... [the] Shutdown Communication field ... MUST be
        // encoded with UTF-8."
        let len =
            u8::try_from(message.len()).map_err(|_| EncodeError::FieldTooLong("shutdown communication"))?;
        let mut data = Vec::with_capacity(1 + message.len());
        data.push(len);
        data.extend_from_slice(message.as_bytes());
        Ok(Notification {
            code: code::CEASE,
            subcode,
            data: Bytes::from(data),
        })
    }

    /// True for Cease with subcode Administrative Shutdown or Administrative Reset, the two that
    /// may carry a shutdown communication.
    pub fn may_carry_shutdown_message(&self) -> bool {
        self.code == code::CEASE
            && (self.subcode == cease::ADMINISTRATIVE_SHUTDOWN || self.subcode == cease::ADMINISTRATIVE_RESET)
    }

    /// The shutdown communication, if this is a Cease 2/4 with non-empty data (RFC 9003).
    /// A zero length octet gives `Some(Ok(""))`.
    pub fn shutdown_message(&self) -> Option<Result<&str, ShutdownCommError>> {
        if !self.may_carry_shutdown_message() || self.data.is_empty() {
            return None;
        }
        let len = usize::from(self.data[0]);
        let Some(text) = self.data.get(1..1 + len) else {
            return Some(Err(ShutdownCommError::Length));
        };
        Some(std::str::from_utf8(text).map_err(|_| ShutdownCommError::Utf8))
    }

    /// Decodes a NOTIFICATION body (after the 19-byte header). Never fails except on a body
    /// shorter than 2 octets (RFC 4271 section 4.5: the minimum length is 21).
    pub fn decode(body: &Bytes) -> Result<Notification, DecodeError> {
        Notification::decode_at(body, 0)
    }

    pub(crate) fn decode_at(body: &Bytes, base: usize) -> Result<Notification, DecodeError> {
        match body.get(..2) {
            Some(&[c, s]) => Ok(Notification {
                code: c,
                subcode: s,
                data: body.slice(2..),
            }),
            _ => {
                let len = u16::try_from(19 + body.len()).unwrap_or(u16::MAX);
                Err(DecodeError::new(
                    base.saturating_sub(19),
                    DecodeErrorKind::BadMessageLength(len),
                ))
            }
        }
    }

    /// Appends the body (code, subcode, data).
    pub fn encode_body(&self, out: &mut impl BufMut) {
        out.put_u8(self.code);
        out.put_u8(self.subcode);
        out.put_slice(&self.data);
    }

    /// Human-readable name of the code/subcode, for logs and `rr-cli`.
    pub fn description(&self) -> &'static str {
        match (self.code, self.subcode) {
            (code::MESSAGE_HEADER_ERROR, header::CONNECTION_NOT_SYNCHRONIZED) => {
                "connection not synchronized"
            }
            (code::MESSAGE_HEADER_ERROR, header::BAD_MESSAGE_LENGTH) => "bad message length",
            (code::MESSAGE_HEADER_ERROR, header::BAD_MESSAGE_TYPE) => "bad message type",
            (code::MESSAGE_HEADER_ERROR, _) => "message header error",
            (code::OPEN_MESSAGE_ERROR, open::UNSUPPORTED_VERSION_NUMBER) => "unsupported version number",
            (code::OPEN_MESSAGE_ERROR, open::BAD_PEER_AS) => "bad peer as",
            (code::OPEN_MESSAGE_ERROR, open::BAD_BGP_IDENTIFIER) => "bad bgp identifier",
            (code::OPEN_MESSAGE_ERROR, open::UNSUPPORTED_OPTIONAL_PARAMETER) => {
                "unsupported optional parameter"
            }
            (code::OPEN_MESSAGE_ERROR, open::UNACCEPTABLE_HOLD_TIME) => "unacceptable hold time",
            (code::OPEN_MESSAGE_ERROR, open::UNSUPPORTED_CAPABILITY) => "unsupported capability",
            (code::OPEN_MESSAGE_ERROR, open::ROLE_MISMATCH) => "role mismatch",
            (code::OPEN_MESSAGE_ERROR, _) => "open message error",
            (code::UPDATE_MESSAGE_ERROR, update::MALFORMED_ATTRIBUTE_LIST) => "malformed attribute list",
            (code::UPDATE_MESSAGE_ERROR, update::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE) => {
                "unrecognized well-known attribute"
            }
            (code::UPDATE_MESSAGE_ERROR, update::MISSING_WELL_KNOWN_ATTRIBUTE) => {
                "missing well-known attribute"
            }
            (code::UPDATE_MESSAGE_ERROR, update::ATTRIBUTE_FLAGS_ERROR) => "attribute flags error",
            (code::UPDATE_MESSAGE_ERROR, update::ATTRIBUTE_LENGTH_ERROR) => "attribute length error",
            (code::UPDATE_MESSAGE_ERROR, update::INVALID_ORIGIN_ATTRIBUTE) => "invalid origin attribute",
            (code::UPDATE_MESSAGE_ERROR, update::INVALID_NEXT_HOP_ATTRIBUTE) => "invalid next hop attribute",
            (code::UPDATE_MESSAGE_ERROR, update::OPTIONAL_ATTRIBUTE_ERROR) => "optional attribute error",
            (code::UPDATE_MESSAGE_ERROR, update::INVALID_NETWORK_FIELD) => "invalid network field",
            (code::UPDATE_MESSAGE_ERROR, update::MALFORMED_AS_PATH) => "malformed as path",
            (code::UPDATE_MESSAGE_ERROR, _) => "update message error",
            (code::HOLD_TIMER_EXPIRED, _) => "hold timer expired",
            (code::FSM_ERROR, _) => "finite state machine error",
            (code::CEASE, cease::MAX_PREFIXES) => "maximum number of prefixes reached",
            (code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN) => "administrative shutdown",
            (code::CEASE, cease::PEER_DECONFIGURED) => "peer de-configured",
            (code::CEASE, cease::ADMINISTRATIVE_RESET) => "administrative reset",
            (code::CEASE, cease::CONNECTION_REJECTED) => "connection rejected",
            (code::CEASE, cease::OTHER_CONFIGURATION_CHANGE) => "other configuration change",
            (code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION) => "connection collision resolution",
            (code::CEASE, cease::OUT_OF_RESOURCES) => "out of resources",
            (code::CEASE, cease::HARD_RESET) => "hard reset",
            (code::CEASE, cease::BFD_DOWN) => "bfd down",
            (code::CEASE, _) => "cease",
            (code::ROUTE_REFRESH_MESSAGE_ERROR, _) => "route-refresh message error",
            _ => "unknown error code",
        }
    }
}

impl std::fmt::Display for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}/{})", self.description(), self.code, self.subcode)?;
        if let Some(Ok(m)) = self.shutdown_message() {
            write!(f, ": {m:?}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Notification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let msg = self.shutdown_message().and_then(Result::ok);
        let mut st = s.serialize_struct("Notification", if msg.is_some() { 5 } else { 4 })?;
        st.serialize_field("code", &self.code)?;
        st.serialize_field("subcode", &self.subcode)?;
        st.serialize_field("data", &self.data)?;
        st.serialize_field("description", self.description())?;
        if let Some(m) = msg {
            st.serialize_field("shutdown_message", m)?;
        }
        st.end()
    }
}
