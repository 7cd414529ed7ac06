//! A bounded reader over one MRT record body that remembers its byte offset.
//!
//! Every read is checked against the bytes that remain, so a length field can never make the parser run
//! past the record; errors carry the offset (relative to the start of the record's common header) at which
//! the missing or bad field starts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use super::error::MrtErrorKind;

/// A parse failure inside one record: where (offset from the start of the record header) and what.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub(crate) offset: usize,
    pub(crate) kind: MrtErrorKind,
}

pub(crate) type PResult<T> = Result<T, ParseError>;

/// Reads big-endian fields from a `Bytes` window; `base` is the offset of `data[0]` in the record.
pub(crate) struct Cursor {
    data: Bytes,
    pos: usize,
    base: usize,
}

impl Cursor {
    pub(crate) fn new(data: Bytes, base: usize) -> Self {
        Cursor { data, pos: 0, base }
    }

    /// Offset (within the record) of the next byte to be read.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn error(&self, kind: MrtErrorKind) -> ParseError {
        ParseError {
            offset: self.offset(),
            kind,
        }
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> PResult<Bytes> {
        if self.remaining() < n {
            return Err(self.error(MrtErrorKind::Truncated {
                field: what,
                needed: n,
                available: self.remaining(),
            }));
        }
        let out = self.data.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    /// Everything that is left.
    pub(crate) fn rest(&mut self) -> Bytes {
        let out = self.data.slice(self.pos..);
        self.pos = self.data.len();
        out
    }

    /// A fixed-size field, copied out of the window (no `Bytes` handle made and dropped).
    fn array<const N: usize>(&mut self, what: &'static str) -> PResult<[u8; N]> {
        match self.data[self.pos..].first_chunk::<N>() {
            Some(b) => {
                self.pos += N;
                Ok(*b)
            }
            None => Err(self.error(MrtErrorKind::Truncated {
                field: what,
                needed: N,
                available: self.remaining(),
            })),
        }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> PResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> PResult<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> PResult<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn ipv4(&mut self, what: &'static str) -> PResult<Ipv4Addr> {
        Ok(Ipv4Addr::from(self.array::<4>(what)?))
    }

    pub(crate) fn ipv6(&mut self, what: &'static str) -> PResult<Ipv6Addr> {
        Ok(Ipv6Addr::from(self.array::<16>(what)?))
    }

    /// An IPv4 or IPv6 address, chosen by `ipv6`.
    pub(crate) fn ip(&mut self, ipv6: bool, what: &'static str) -> PResult<IpAddr> {
        Ok(if ipv6 {
            IpAddr::V6(self.ipv6(what)?)
        } else {
            IpAddr::V4(self.ipv4(what)?)
        })
    }

    /// Fails with `TrailingBytes` unless the window has been consumed.
    pub(crate) fn finish(&self) -> PResult<()> {
        if self.remaining() != 0 {
            return Err(self.error(MrtErrorKind::TrailingBytes {
                count: self.remaining(),
            }));
        }
        Ok(())
    }
}
