//! Reading MRT records from any `std::io::Read` and writing them to any `std::io::Write`.
//!
//! The reader frames records by the common header's length field, so a record whose body does not decode
//! is reported (with its number and offset) and the next call carries on with the following record; only a
//! stream that ends inside a record, or an I/O error, stops it.

use std::io::{self, Read, Write};

use bytes::Bytes;

use super::cursor::Cursor;
use super::error::{MrtError, MrtErrorKind};
use super::record::{HEADER_LEN, MrtRecord};

/// Records up to this length are read into a buffer allocated at their size before reading; longer
/// ones grow with the data actually read (a lying length field costs at most this much memory).
const PREALLOCATE: u32 = 64 * 1024;

/// A record read from a stream, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadRecord {
    /// The record number, counted from 1.
    pub number: u64,
    /// Byte offset of the record's common header in the (decompressed) stream.
    pub offset: u64,
    /// The record exactly as read, common header included.
    pub raw: Bytes,
    /// The decoded record.
    pub record: MrtRecord,
}

/// Iterates over the records of an MRT stream.
///
/// ```
/// use bgp_wire::mrt::{MrtBody, MrtReader};
/// // A BGP4MP_MESSAGE_AS4 record carrying a KEEPALIVE from 192.0.2.1 (AS 65001) to 192.0.2.2 (AS 65002).
/// let mut data = vec![0, 0, 0, 1, 0, 16, 0, 4, 0, 0, 0, 39];
/// data.extend_from_slice(&[0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xea, 0, 0, 0, 1, 192, 0, 2, 1, 192, 0, 2, 2]);
/// data.extend_from_slice(&[0xff; 16]);
/// data.extend_from_slice(&[0, 19, 4]);
/// let records: Vec<_> = MrtReader::new(&data[..]).collect::<Result<_, _>>().unwrap();
/// assert_eq!(records.len(), 1);
/// let MrtBody::Bgp4mp(bgp_wire::mrt::Bgp4mp::Message(m)) = &records[0].record.body else { panic!() };
/// assert_eq!(m.peer.peer_as, 65001);
/// assert_eq!(m.message.len(), 19);
/// ```
pub struct MrtReader<R> {
    inner: R,
    /// Number of the next record.
    next: u64,
    /// Offset of the next record.
    offset: u64,
    done: bool,
}

impl<R: Read> MrtReader<R> {
    /// Reads records from `inner` (already decompressed: see [`crate::mrt::decompress`]).
    pub fn new(inner: R) -> Self {
        MrtReader {
            inner,
            next: 1,
            offset: 0,
            done: false,
        }
    }

    /// The byte offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn fatal(&mut self, at: u64, kind: MrtErrorKind) -> Option<Result<ReadRecord, MrtError>> {
        self.done = true;
        Some(Err(MrtError::new(self.next, at, kind)))
    }

    fn read_record(&mut self) -> Option<Result<ReadRecord, MrtError>> {
        let start = self.offset;
        let mut header = [0u8; HEADER_LEN];
        let got = match read_full(&mut self.inner, &mut header) {
            Ok(n) => n,
            Err(e) => return self.fatal(start, MrtErrorKind::Io(e)),
        };
        if got == 0 {
            self.done = true;
            return None;
        }
        if got < HEADER_LEN {
            return self.fatal(start, MrtErrorKind::TruncatedHeader { available: got });
        }
        let length = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        let mut buf = Vec::new();
        let got = if length <= PREALLOCATE {
            // The usual case: one allocation of the record's size, filled by plain reads.
            buf.resize(HEADER_LEN + length as usize, 0);
            buf[..HEADER_LEN].copy_from_slice(&header);
            read_full(&mut self.inner, &mut buf[HEADER_LEN..]).map(|n| n as u64)
        } else {
            // `take` + `read_to_end` grows the buffer with the data actually present, so a huge length
            // field on a short stream costs no more memory than the stream itself.
            buf.extend_from_slice(&header);
            (&mut self.inner)
                .take(u64::from(length))
                .read_to_end(&mut buf)
                .map(|n| n as u64)
        };
        match got {
            Ok(n) if n == u64::from(length) => {}
            Ok(n) => {
                let kind = MrtErrorKind::TruncatedRecord { length, available: n };
                return self.fatal(start + HEADER_LEN as u64 + n, kind);
            }
            Err(e) => return self.fatal(start, MrtErrorKind::Io(e)),
        }
        let number = self.next;
        self.next += 1;
        self.offset = start + buf.len() as u64;
        let raw = Bytes::from(buf);
        let mut c = Cursor::new(raw.clone(), 0);
        Some(match MrtRecord::parse(&mut c) {
            Ok(record) => Ok(ReadRecord {
                number,
                offset: start,
                raw,
                record,
            }),
            Err(e) => Err(MrtError::new(number, start + e.offset as u64, e.kind)),
        })
    }
}

impl<R: Read> Iterator for MrtReader<R> {
    type Item = Result<ReadRecord, MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.read_record()
    }
}

/// Reads until `buf` is full or the stream ends; returns the count read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes MRT records to a stream.
///
/// ```
/// use bgp_wire::mrt::{MrtReader, MrtWriter};
/// # let mut data = vec![0, 0, 0, 1, 0, 16, 0, 4, 0, 0, 0, 39];
/// # data.extend_from_slice(&[0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xea, 0, 0, 0, 1, 192, 0, 2, 1, 192, 0, 2, 2]);
/// # data.extend_from_slice(&[0xff; 16]);
/// # data.extend_from_slice(&[0, 19, 4]);
/// let mut out = MrtWriter::new(Vec::new());
/// for r in MrtReader::new(&data[..]) {
///     out.write(&r.unwrap().record).unwrap();
/// }
/// assert_eq!(out.into_inner(), data);
/// ```
pub struct MrtWriter<W> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> MrtWriter<W> {
    /// Writes to `inner`.
    pub fn new(inner: W) -> Self {
        MrtWriter {
            inner,
            buf: Vec::new(),
        }
    }

    /// Encodes and writes one record. An encoding failure is returned as `InvalidInput`, with nothing
    /// written.
    pub fn write(&mut self, record: &MrtRecord) -> io::Result<()> {
        self.buf.clear();
        record
            .encode(&mut self.buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.inner.write_all(&self.buf)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// Returns the underlying writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// The compression a stream starts with, told by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// No known magic: read as is.
    None,
    /// gzip (RFC 1952): `1f 8b 08` (deflate).
    Gzip,
    /// bzip2: `BZh`, a block size digit, then a block or end-of-stream magic.
    Bzip2,
}

/// Octets [`Compression::detect`] looks at.
pub const DETECT_LEN: usize = 10;

impl Compression {
    /// Classifies the first [`DETECT_LEN`] (or fewer) bytes of a stream.
    ///
    /// Plain MRT starts with a timestamp: `1f 8b 08` would be a date in October 1986, and for bzip2 the
    /// digit is followed by the 48-bit block magic (or end-of-stream magic) where MRT has its type and
    /// subtype, which no assigned MRT type matches, so plain MRT is not mistaken for compressed data.
    pub fn detect(head: &[u8]) -> Compression {
        const BLOCK: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
        const EOS: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
        if head.starts_with(&[0x1f, 0x8b, 0x08]) {
            Compression::Gzip
        } else if head.len() >= DETECT_LEN
            && head.starts_with(b"BZh")
            && (b'1'..=b'9').contains(&head[3])
            && (head[4..10] == BLOCK || head[4..10] == EOS)
        {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }
}

/// Wraps `r` in a gzip or bzip2 decoder when its first bytes say it is compressed (multi-member streams
/// included, see [`Compression::detect`]), and returns the detected compression.
///
/// Without the `compression` feature compressed input is an `Unsupported` error.
pub fn decompress<'a, R: Read + 'a>(mut r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = [0u8; DETECT_LEN];
    let n = read_full(&mut r, &mut head)?;
    let kind = Compression::detect(&head[..n]);
    let whole = io::Cursor::new(head[..n].to_vec()).chain(r);
    let reader: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(whole),
        #[cfg(feature = "compression")]
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        #[cfg(feature = "compression")]
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(whole)),
        #[cfg(not(feature = "compression"))]
        Compression::Gzip | Compression::Bzip2 => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{kind:?} input needs bgp-wire's `compression` feature"),
            ));
        }
    };
    Ok((kind, reader))
}
