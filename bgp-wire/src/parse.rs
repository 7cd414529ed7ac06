//! Internal bounded reader over a received frame. nom's complete parsers do the reading; this
//! wrapper tracks the absolute offset for error reporting and hands out zero-copy `Bytes`
//! (`slice_ref`) for opaque values. Nothing here is public.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u24, be_u32};

type NomErr<'a> = nom::Err<nom::error::Error<&'a [u8]>>;

/// Ran out of input at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short {
    pub(crate) offset: usize,
}

/// A reader bounded to a sub-slice of `frame`.
#[derive(Clone, Copy)]
pub(crate) struct Rd<'a> {
    frame: &'a Bytes,
    i: &'a [u8],
}

impl<'a> Rd<'a> {
    /// Reads the whole frame.
    pub(crate) fn new(frame: &'a Bytes) -> Rd<'a> {
        Rd { frame, i: &frame[..] }
    }

    /// Absolute offset of the next byte within the frame.
    pub(crate) fn offset(&self) -> usize {
        self.i.as_ptr() as usize - self.frame.as_ptr() as usize
    }

    pub(crate) fn remaining(&self) -> usize {
        self.i.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.i.is_empty()
    }

    /// The unread bytes.
    pub(crate) fn slice(&self) -> &'a [u8] {
        self.i
    }

    /// The unread bytes as shared `Bytes` (no copy).
    pub(crate) fn bytes(&self) -> Bytes {
        self.frame.slice_ref(self.i)
    }

    /// The frame this reader reads.
    pub(crate) fn frame(&self) -> &'a Bytes {
        self.frame
    }

    fn step<T>(&mut self, r: Result<(&'a [u8], T), NomErr<'a>>) -> Result<T, Short> {
        match r {
            Ok((rest, v)) => {
                self.i = rest;
                Ok(v)
            }
            Err(_) => Err(Short {
                offset: self.offset(),
            }),
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Short> {
        let r = be_u8(self.i);
        self.step(r)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Short> {
        let r = be_u16(self.i);
        self.step(r)
    }

    pub(crate) fn u24(&mut self) -> Result<u32, Short> {
        let r = be_u24(self.i);
        self.step(r)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Short> {
        let r = be_u32(self.i);
        self.step(r)
    }

    /// Splits off the next `n` bytes as a bounded sub-reader.
    pub(crate) fn take(&mut self, n: usize) -> Result<Rd<'a>, Short> {
        let r = take(n)(self.i);
        let s: &'a [u8] = self.step(r)?;
        Ok(Rd {
            frame: self.frame,
            i: s,
        })
    }

    /// Consumes everything left.
    pub(crate) fn rest(&mut self) -> Rd<'a> {
        let r = *self;
        self.i = &self.i[self.i.len()..];
        r
    }

    pub(crate) fn ipv4(&mut self) -> Result<Ipv4Addr, Short> {
        self.u32().map(Ipv4Addr::from)
    }

    pub(crate) fn ipv6(&mut self) -> Result<Ipv6Addr, Short> {
        let s = self.take(16)?.slice();
        let mut a = [0u8; 16];
        a.copy_from_slice(s);
        Ok(Ipv6Addr::from(a))
    }
}

/// Writes a big-endian u16 at `pos` (length back-patching).
pub(crate) fn patch_u16(buf: &mut [u8], pos: usize, v: u16) {
    if let Some(s) = buf.get_mut(pos..pos + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}
