//! The MRT common header and the record it frames (RFC 6396 sections 2-3).

use bytes::{BufMut, Bytes};

use super::bgp4mp::Bgp4mp;
use super::cursor::{Cursor, PResult};
use super::error::{MrtEncodeError, MrtError};
use super::table_dump_v2::TableDumpV2;

/// TABLE_DUMP (RFC 6396 section 4.2, deprecated); kept as bytes by this crate.
pub const TABLE_DUMP: u16 = 12;
/// TABLE_DUMP_V2 (RFC 6396 section 4.3).
pub const TABLE_DUMP_V2: u16 = 13;
/// BGP4MP (RFC 6396 section 4.4).
pub const BGP4MP: u16 = 16;
/// BGP4MP_ET: BGP4MP with a microsecond timestamp (RFC 6396 section 4.4).
pub const BGP4MP_ET: u16 = 17;
/// ISIS_ET (RFC 6396 section 4.5); kept as bytes.
pub const ISIS_ET: u16 = 33;
/// OSPFv3_ET (RFC 6396 section 4.6); kept as bytes.
pub const OSPFV3_ET: u16 = 49;

/// Octets in the common header.
pub const HEADER_LEN: usize = 12;

/// True for the `_ET` types, whose body starts with a 4-octet microsecond timestamp (RFC 6396 section 3).
pub fn is_extended_timestamp(mrt_type: u16) -> bool {
    matches!(mrt_type, BGP4MP_ET | ISIS_ET | OSPFV3_ET)
}

/// One MRT record: common header fields and the decoded body.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                           Timestamp                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |             Type              |            Subtype            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                             Length                            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Microsecond Timestamp (_ET types only)   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Message... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The Length field counts the microsecond timestamp but not the common header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MrtRecord {
    /// Seconds since the Unix epoch.
    pub timestamp: u32,
    /// The microsecond part for `_ET` types; `Some` makes a BGP4MP body a BGP4MP_ET record.
    pub microseconds: Option<u32>,
    /// The record body.
    pub body: MrtBody,
}

/// The body of an [`MrtRecord`], by MRT type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum MrtBody {
    /// TABLE_DUMP_V2 (type 13).
    TableDumpV2(TableDumpV2),
    /// BGP4MP (type 16) or BGP4MP_ET (type 17).
    Bgp4mp(Bgp4mp),
    /// Any other type, kept as bytes (after the microsecond timestamp for `_ET` types).
    Other {
        /// The MRT type.
        mrt_type: u16,
        /// The subtype.
        subtype: u16,
        /// The body.
        data: Bytes,
    },
}

impl MrtRecord {
    /// The MRT type written in the header.
    pub fn mrt_type(&self) -> u16 {
        match &self.body {
            MrtBody::TableDumpV2(_) => TABLE_DUMP_V2,
            MrtBody::Bgp4mp(_) if self.microseconds.is_some() => BGP4MP_ET,
            MrtBody::Bgp4mp(_) => BGP4MP,
            MrtBody::Other { mrt_type, .. } => *mrt_type,
        }
    }

    /// The subtype written in the header.
    pub fn subtype(&self) -> u16 {
        match &self.body {
            MrtBody::TableDumpV2(t) => t.subtype(),
            MrtBody::Bgp4mp(b) => b.subtype(),
            MrtBody::Other { subtype, .. } => *subtype,
        }
    }

    /// Decodes exactly one record (header included) from `data`; errors name record 1 and the offset in
    /// `data`. To read a stream, use [`crate::mrt::MrtReader`].
    pub fn decode(data: Bytes) -> Result<MrtRecord, MrtError> {
        let mut c = Cursor::new(data, 0);
        Self::parse(&mut c).map_err(|e| MrtError::new(1, e.offset as u64, e.kind))
    }

    /// Parses one complete record; the cursor must hold exactly the header and the body.
    pub(crate) fn parse(c: &mut Cursor) -> PResult<MrtRecord> {
        let timestamp = c.u32("timestamp")?;
        let mrt_type = c.u16("type")?;
        let subtype = c.u16("subtype")?;
        let length = c.u32("length")?;
        let mut body = Cursor::new(
            c.take(length as usize, "record body")?,
            c.offset() - length as usize,
        );
        c.finish()?;
        let microseconds = if is_extended_timestamp(mrt_type) {
            Some(body.u32("microsecond timestamp")?)
        } else {
            None
        };
        let body = match mrt_type {
            TABLE_DUMP_V2 => MrtBody::TableDumpV2(TableDumpV2::parse(subtype, &mut body)?),
            BGP4MP | BGP4MP_ET => MrtBody::Bgp4mp(Bgp4mp::parse(subtype, &mut body)?),
            _ => MrtBody::Other {
                mrt_type,
                subtype,
                data: body.rest(),
            },
        };
        Ok(MrtRecord {
            timestamp,
            microseconds,
            body,
        })
    }

    /// Appends the encoded record, common header included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), MrtEncodeError> {
        let start = out.len();
        out.put_u32(self.timestamp);
        out.put_u16(self.mrt_type());
        out.put_u16(self.subtype());
        out.put_u32(0); // back-patched below
        if let Some(us) = self.microseconds {
            out.put_u32(us);
        }
        let res = match &self.body {
            MrtBody::TableDumpV2(t) => t.encode(out),
            MrtBody::Bgp4mp(b) => b.encode(out),
            MrtBody::Other { data, .. } => {
                out.put_slice(data);
                Ok(())
            }
        };
        if let Err(e) = res {
            out.truncate(start);
            return Err(e);
        }
        let body_len = out.len() - start - HEADER_LEN;
        let Ok(len) = u32::try_from(body_len) else {
            out.truncate(start);
            return Err(MrtEncodeError::TooLong {
                field: "record",
                length: body_len,
            });
        };
        out[start + 8..start + 12].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// The encoded record as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MrtEncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}
