//! MRT errors: every failure names the record (counted from 1) and the byte offset in the stream.

/// A failure while reading or decoding an MRT stream.
///
/// `record` counts records from 1 in stream order; `offset` is the byte offset, from the start of the
/// (decompressed) stream, of the field that could not be read or did not make sense.
#[derive(Debug, thiserror::Error)]
#[error("mrt record {record} at byte offset {offset}: {kind}")]
#[non_exhaustive]
pub struct MrtError {
    /// The record number, counted from 1.
    pub record: u64,
    /// The byte offset from the start of the (decompressed) stream.
    pub offset: u64,
    /// What went wrong.
    pub kind: MrtErrorKind,
}

impl MrtError {
    /// Builds an error for `record` at absolute `offset`.
    pub fn new(record: u64, offset: u64, kind: MrtErrorKind) -> Self {
        MrtError { record, offset, kind }
    }

    /// True when the stream cannot go on after this error (I/O failure or a truncated record), false when
    /// only this record was bad and the reader can continue with the next one.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            MrtErrorKind::Io(_) | MrtErrorKind::TruncatedHeader { .. } | MrtErrorKind::TruncatedRecord { .. }
        )
    }
}

/// The classification of an [`MrtError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MrtErrorKind {
    /// The underlying reader failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The stream ended inside a 12-octet common header.
    #[error("stream ends inside the common header ({available} of 12 octets)")]
    TruncatedHeader {
        /// Octets of the header that were present.
        available: usize,
    },
    /// The stream ended before the record's announced length.
    #[error("record announces {length} octets but the stream ends after {available}")]
    TruncatedRecord {
        /// The length field of the common header.
        length: u32,
        /// Octets present.
        available: u64,
    },
    /// A field runs past the end of its enclosing record or structure.
    #[error("{field}: needs {needed} octets, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Octets the field needs.
        needed: usize,
        /// Octets left in the enclosing structure.
        available: usize,
    },
    /// Octets left over after the structure ended.
    #[error("{count} trailing octets")]
    TrailingBytes {
        /// Number of unread octets.
        count: usize,
    },
    /// An address family other than IPv4 (1) or IPv6 (2) where an address must follow.
    #[error("unsupported address family {0}")]
    UnknownAfi(u16),
    /// A prefix length larger than the address.
    #[error("prefix length {length} exceeds {max}")]
    InvalidPrefixLength {
        /// The length octet.
        length: u8,
        /// The address size in bits.
        max: u8,
    },
    /// A PEER_INDEX_TABLE peer type with bits other than IPv6 (0x01) and AS4 (0x02) set.
    #[error("peer type {0:#04x} has undefined bits set")]
    InvalidPeerType(u8),
    /// A RIB entry names a peer that the PEER_INDEX_TABLE does not list (or no table came first).
    #[error("peer index {0} is not in the peer index table")]
    UnknownPeerIndex(u16),
    /// The BGP message carried by the record did not decode.
    #[error("bgp: {0}")]
    Bgp(crate::DecodeError),
}

/// A failure while encoding an MRT record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MrtEncodeError {
    /// A length does not fit the field that has to carry it.
    #[error("{field} is {length} octets, more than its length field can carry")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        length: usize,
    },
    /// The peer and local addresses of a BGP4MP record are of different families.
    #[error("peer and local addresses are of different families")]
    MixedAddressFamilies,
    /// A 2-octet AS field (non-AS4 subtype) cannot hold the AS number.
    #[error("AS {0} does not fit a 2-octet field")]
    AsTooLarge(u32),
    /// A RIB record's prefix is not of the family its subtype says.
    #[error("prefix family does not match the record subtype")]
    PrefixFamily,
}
