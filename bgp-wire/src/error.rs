//! Decode and encode errors, their RFC 7606 classification, and the single mapping from a decode
//! error to the NOTIFICATION that reports it (`From<&DecodeError> for Notification`).

use bytes::Bytes;

use crate::notification::{Notification, code, header, open, route_refresh, update};
use crate::types::AfiSafi;

/// How a receiver handles an error (RFC 7606 section 2), ordered from mildest to most severe so
/// that the treatment of an UPDATE is the maximum over its errors (RFC 7606 section 3 (j)).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Treatment {
    /// "attribute discard": the malformed attribute is discarded and the UPDATE is otherwise
    /// processed normally.
    AttributeDiscard,
    /// "treat-as-withdraw": the routes in the UPDATE are treated as withdrawn.
    TreatAsWithdraw,
    /// "AFI/SAFI disable": the family is disabled for the session (RFC 4760 section 7); a
    /// speaker that does not implement it resets the session.
    AfiSafiDisable,
    /// "session reset": a NOTIFICATION is sent and the session is closed (RFC 4271 section 6).
    SessionReset,
}

/// What went wrong while decoding. Each kind maps to one NOTIFICATION code/subcode in
/// `From<&DecodeError> for Notification`.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// RFC 4271 section 6.1: the marker is not all ones.
    #[error("connection not synchronized (bad marker)")]
    ConnectionNotSynchronized,
    /// RFC 4271 section 6.1: the length field is out of bounds for the message type.
    #[error("bad message length {0}")]
    BadMessageLength(u16),
    /// RFC 4271 section 6.1: unknown message type.
    #[error("bad message type {0}")]
    BadMessageType(u8),
    /// RFC 4271 section 6.2: version other than 4.
    #[error("unsupported version number {0}")]
    UnsupportedVersion(u8),
    /// RFC 4271 section 6.2: the BGP identifier is zero.
    #[error("bad bgp identifier")]
    BadBgpIdentifier,
    /// RFC 4271 section 6.2: hold time 1 or 2.
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    /// RFC 4271 section 6.2 / RFC 5492 / RFC 9072: malformed optional parameters.
    #[error("malformed optional parameters")]
    MalformedOptionalParameters,
    /// RFC 4271 section 6.3: malformed attribute list (lengths overrun, duplicate MP_* attribute).
    #[error("malformed attribute list")]
    MalformedAttributeList,
    /// RFC 4271 section 6.3: a well-known attribute this crate does not know.
    #[error("unrecognized well-known attribute {0}")]
    UnrecognizedWellKnownAttribute(u8),
    /// RFC 4271 section 6.3: a mandatory well-known attribute is missing.
    #[error("missing well-known attribute {0}")]
    MissingWellKnownAttribute(u8),
    /// RFC 4271 section 6.3: attribute flags conflict with the type code.
    #[error("attribute flags error on attribute {0}")]
    AttributeFlagsError(u8),
    /// RFC 4271 section 6.3: attribute length does not match the type.
    #[error("attribute length error on attribute {0}")]
    AttributeLengthError(u8),
    /// RFC 4271 section 6.3: undefined ORIGIN value.
    #[error("invalid origin attribute")]
    InvalidOrigin,
    /// RFC 4271 section 6.3: syntactically incorrect NEXT_HOP.
    #[error("invalid next hop attribute")]
    InvalidNextHop,
    /// RFC 4271 section 6.3: an optional attribute whose value is malformed.
    #[error("optional attribute error on attribute {0}")]
    OptionalAttributeError(u8),
    /// RFC 4271 section 6.3: the NLRI field is syntactically incorrect.
    #[error("invalid network field")]
    InvalidNetworkField,
    /// RFC 4271 section 6.3: AS_PATH is syntactically incorrect.
    #[error("malformed as path")]
    MalformedAsPath,
    /// RFC 7313 section 5: ROUTE-REFRESH length other than 23.
    #[error("invalid route-refresh message length {0}")]
    RouteRefreshLength(u16),
    /// Bytes left over after a complete structure (reported like a length error for its kind).
    #[error("trailing bytes")]
    TrailingBytes,
}

/// A decode error: where (byte offset from the start of the decoded buffer), what, and how the
/// receiver must treat it (RFC 7606).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[error("{kind} at offset {offset} ({treatment:?})")]
#[non_exhaustive]
pub struct DecodeError {
    /// Offset of the offending field from the start of the decoded buffer (the frame for
    /// [`crate::Message::decode`]).
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// RFC 7606 treatment. Errors outside UPDATE path attributes are always `SessionReset`.
    pub treatment: Treatment,
    /// The family concerned, for MP_REACH_NLRI / MP_UNREACH_NLRI errors (`AfiSafiDisable`).
    pub afi_safi: Option<AfiSafi>,
    /// The path attribute type code concerned, if any.
    pub attr_type: Option<u8>,
    /// NOTIFICATION data (e.g. the erroneous attribute, RFC 4271 section 6.3); may be empty.
    pub data: Bytes,
}

impl DecodeError {
    /// A session-reset error with empty data.
    pub fn new(offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset,
            kind,
            treatment: Treatment::SessionReset,
            afi_safi: None,
            attr_type: None,
            data: Bytes::new(),
        }
    }

    /// Sets the treatment.
    pub fn with_treatment(mut self, t: Treatment) -> Self {
        self.treatment = t;
        self
    }

    /// Sets the NOTIFICATION data.
    pub fn with_data(mut self, data: Bytes) -> Self {
        self.data = data;
        self
    }

    /// Sets the attribute type code.
    pub fn with_attr(mut self, type_code: u8) -> Self {
        self.attr_type = Some(type_code);
        self
    }

    /// Sets the family.
    pub fn with_afi_safi(mut self, afi_safi: AfiSafi) -> Self {
        self.afi_safi = Some(afi_safi);
        self
    }

    /// Shifts the offset (used when a sub-structure is decoded on its own).
    pub fn shifted(mut self, by: usize) -> Self {
        self.offset += by;
        self
    }

    /// The NOTIFICATION to send for this error (meaningful when `treatment` is `SessionReset`).
    pub fn notification(&self) -> Notification {
        Notification::from(self)
    }
}

impl From<&DecodeError> for Notification {
    fn from(e: &DecodeError) -> Notification {
        use DecodeErrorKind as K;
        let (c, s, data) = match &e.kind {
            K::ConnectionNotSynchronized => (
                code::MESSAGE_HEADER_ERROR,
                header::CONNECTION_NOT_SYNCHRONIZED,
                Bytes::new(),
            ),
            // RFC 4271 section 6.1: "The Data field MUST contain the erroneous Length field."
            K::BadMessageLength(l) => (
                code::MESSAGE_HEADER_ERROR,
                header::BAD_MESSAGE_LENGTH,
                Bytes::copy_from_slice(&l.to_be_bytes()),
            ),
            // RFC 4271 section 6.1: "The Data field MUST contain the erroneous Type field."
            K::BadMessageType(t) => (
                code::MESSAGE_HEADER_ERROR,
                header::BAD_MESSAGE_TYPE,
                Bytes::copy_from_slice(&[*t]),
            ),
            // RFC 4271 section 6.2: "The Data field is a 2-octet unsigned integer, which indicates the
            // largest, locally-supported version number less than the version the remote BGP peer bid"
            K::UnsupportedVersion(_) => (
                code::OPEN_MESSAGE_ERROR,
                open::UNSUPPORTED_VERSION_NUMBER,
                Bytes::from_static(&[0, 4]),
            ),
            K::BadBgpIdentifier => (code::OPEN_MESSAGE_ERROR, open::BAD_BGP_IDENTIFIER, Bytes::new()),
            K::UnacceptableHoldTime(_) => (
                code::OPEN_MESSAGE_ERROR,
                open::UNACCEPTABLE_HOLD_TIME,
                Bytes::new(),
            ),
            K::MalformedOptionalParameters => (code::OPEN_MESSAGE_ERROR, open::UNSPECIFIC, Bytes::new()),
            K::MalformedAttributeList => (
                code::UPDATE_MESSAGE_ERROR,
                update::MALFORMED_ATTRIBUTE_LIST,
                Bytes::new(),
            ),
            K::UnrecognizedWellKnownAttribute(_) => (
                code::UPDATE_MESSAGE_ERROR,
                update::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                e.data.clone(),
            ),
            // RFC 4271 section 6.3: "the Data field MUST contain the Attribute Type Code of the
            // missing, well-known attribute."
            K::MissingWellKnownAttribute(t) => (
                code::UPDATE_MESSAGE_ERROR,
                update::MISSING_WELL_KNOWN_ATTRIBUTE,
                Bytes::copy_from_slice(&[*t]),
            ),
            K::AttributeFlagsError(_) => (
                code::UPDATE_MESSAGE_ERROR,
                update::ATTRIBUTE_FLAGS_ERROR,
                e.data.clone(),
            ),
            K::AttributeLengthError(_) => (
                code::UPDATE_MESSAGE_ERROR,
                update::ATTRIBUTE_LENGTH_ERROR,
                e.data.clone(),
            ),
            K::InvalidOrigin => (
                code::UPDATE_MESSAGE_ERROR,
                update::INVALID_ORIGIN_ATTRIBUTE,
                e.data.clone(),
            ),
            K::InvalidNextHop => (
                code::UPDATE_MESSAGE_ERROR,
                update::INVALID_NEXT_HOP_ATTRIBUTE,
                e.data.clone(),
            ),
            K::OptionalAttributeError(_) => (
                code::UPDATE_MESSAGE_ERROR,
                update::OPTIONAL_ATTRIBUTE_ERROR,
                e.data.clone(),
            ),
            K::InvalidNetworkField => (
                code::UPDATE_MESSAGE_ERROR,
                update::INVALID_NETWORK_FIELD,
                Bytes::new(),
            ),
            K::MalformedAsPath => (
                code::UPDATE_MESSAGE_ERROR,
                update::MALFORMED_AS_PATH,
                Bytes::new(),
            ),
            // RFC 7313 section 5: "the Data field ... MUST contain the complete ROUTE-REFRESH message"
            // (carried in `data` by the decoder).
            K::RouteRefreshLength(_) => (
                code::ROUTE_REFRESH_MESSAGE_ERROR,
                route_refresh::INVALID_MESSAGE_LENGTH,
                e.data.clone(),
            ),
            K::TrailingBytes => match e.attr_type {
                Some(_) => (
                    code::UPDATE_MESSAGE_ERROR,
                    update::MALFORMED_ATTRIBUTE_LIST,
                    Bytes::new(),
                ),
                None => (
                    code::MESSAGE_HEADER_ERROR,
                    header::BAD_MESSAGE_LENGTH,
                    Bytes::new(),
                ),
            },
        };
        Notification {
            code: c,
            subcode: s,
            data,
        }
    }
}

/// An encode error: the value cannot be represented on the wire under the given context.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message would exceed the maximum message size (4096, or 65535 with RFC 8654).
    #[error("message length {length} exceeds the maximum {max}")]
    MessageTooLong {
        /// Length the message would have.
        length: usize,
        /// Allowed maximum.
        max: usize,
    },
    /// A length field would overflow (attribute, segment, parameter, capability).
    #[error("{0} too long for its length field")]
    FieldTooLong(&'static str),
    /// A value cannot be expressed in this context (e.g. IPv6 prefix in the IPv4 NLRI field).
    #[error("invalid value: {0}")]
    InvalidValue(&'static str),
}
