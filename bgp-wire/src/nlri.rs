//! IPv4/IPv6 prefixes and NLRI (RFC 4271 section 4.3, RFC 4760 section 5, RFC 7911 section 3).
//!
//! ```text
//! +---------------------------+
//! |   Path Identifier (4 octets, RFC 7911, only when ADD-PATH is negotiated)
//! +---------------------------+
//! |   Length (1 octet)        |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```
//!
//! The NLRI loop is hand-written (no nom) because it is the hot path of the codec; it never
//! allocates beyond the `Vec` push.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind};
use crate::types::{Afi, InvalidValue};

/// An IPv4 or IPv6 prefix: address with host bits cleared, and a length valid for the family.
///
/// 18 bytes, `Copy`, ordered IPv4 before IPv6, then by address, then by length.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix(Inner);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Inner {
    V4([u8; 4], u8),
    V6([u8; 16], u8),
}

impl Prefix {
    /// Builds a prefix, clearing host bits; fails if `len` exceeds 32 (IPv4) or 128 (IPv6).
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, InvalidValue> {
        match addr {
            IpAddr::V4(a) => Prefix::v4(a, len),
            IpAddr::V6(a) => Prefix::v6(a, len),
        }
    }

    /// Builds an IPv4 prefix, clearing host bits.
    pub fn v4(addr: Ipv4Addr, len: u8) -> Result<Prefix, InvalidValue> {
        if len > 32 {
            return Err(InvalidValue::PrefixLength(len));
        }
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        Ok(Prefix(Inner::V4((u32::from(addr) & mask).to_be_bytes(), len)))
    }

    /// Builds an IPv6 prefix, clearing host bits.
    pub fn v6(addr: Ipv6Addr, len: u8) -> Result<Prefix, InvalidValue> {
        if len > 128 {
            return Err(InvalidValue::PrefixLength(len));
        }
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        Ok(Prefix(Inner::V6((u128::from(addr) & mask).to_be_bytes(), len)))
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        match self.0 {
            Inner::V4(a, _) => IpAddr::V4(Ipv4Addr::from(a)),
            Inner::V6(a, _) => IpAddr::V6(Ipv6Addr::from(a)),
        }
    }

    /// The prefix length in bits.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        match self.0 {
            Inner::V4(_, l) | Inner::V6(_, l) => l,
        }
    }

    /// True for the default route (length 0).
    pub fn is_default(&self) -> bool {
        self.len() == 0
    }

    /// The address family.
    pub fn afi(&self) -> Afi {
        match self.0 {
            Inner::V4(..) => Afi::IPV4,
            Inner::V6(..) => Afi::IPV6,
        }
    }

    /// True for IPv4.
    pub fn is_ipv4(&self) -> bool {
        matches!(self.0, Inner::V4(..))
    }

    /// Octets of the address that go on the wire: `ceil(len / 8)` leading bytes.
    pub fn wire_bytes(&self) -> &[u8] {
        let n = (usize::from(self.len()) + 7) >> 3;
        match &self.0 {
            Inner::V4(a, _) => &a[..n],
            Inner::V6(a, _) => &a[..n],
        }
    }

    /// Encoded size without a path id: length octet plus address octets.
    pub fn encoded_len(&self) -> usize {
        1 + ((usize::from(self.len()) + 7) >> 3)
    }

    /// True if `other` is equal to or more specific than `self` (same family).
    pub fn contains(&self, other: &Prefix) -> bool {
        if self.afi() != other.afi() || other.len() < self.len() {
            return false;
        }
        match (Prefix::new(other.addr(), self.len()), self) {
            (Ok(p), s) => p == *s,
            (Err(_), _) => false,
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len())
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error parsing a prefix from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix {0:?}: expected ADDRESS/LENGTH")]
pub struct ParsePrefixError(String);

impl FromStr for Prefix {
    type Err = ParsePrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParsePrefixError(s.to_owned());
        let (a, l) = s.split_once('/').ok_or_else(err)?;
        let addr: IpAddr = a.parse().map_err(|_| err())?;
        let len: u8 = l.parse().map_err(|_| err())?;
        Prefix::new(addr, len).map_err(|_| err())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One NLRI entry: a prefix with its ADD-PATH path identifier when the family carries them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Nlri {
    /// RFC 7911 path identifier; `Some` exactly when ADD-PATH applies to this family/direction.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub path_id: Option<u32>,
    /// The prefix.
    pub prefix: Prefix,
}

impl Nlri {
    /// A prefix without path id.
    pub const fn new(prefix: Prefix) -> Nlri {
        Nlri {
            path_id: None,
            prefix,
        }
    }

    /// A prefix with a path id.
    pub const fn with_path_id(path_id: u32, prefix: Prefix) -> Nlri {
        Nlri {
            path_id: Some(path_id),
            prefix,
        }
    }

    /// Encoded size on the wire (4 more octets when `add_path` is true).
    pub fn encoded_len(&self, add_path: bool) -> usize {
        self.prefix.encoded_len() + if add_path { 4 } else { 0 }
    }

    /// Appends the wire form; the path id is written when `add_path` is true (0 if absent).
    pub fn encode(&self, add_path: bool, out: &mut impl BufMut) {
        if add_path {
            out.put_u32(self.path_id.unwrap_or(0));
        }
        out.put_u8(self.prefix.len());
        out.put_slice(self.prefix.wire_bytes());
    }
}

impl fmt::Display for Nlri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path_id {
            Some(id) => write!(f, "{} path-id {}", self.prefix, id),
            None => write!(f, "{}", self.prefix),
        }
    }
}

/// Encoded size of a list of NLRI.
pub fn nlri_list_len(list: &[Nlri], add_path: bool) -> usize {
    list.iter().map(|n| n.encoded_len(add_path)).sum()
}

/// Appends a list of NLRI.
pub fn encode_nlri_list(list: &[Nlri], add_path: bool, out: &mut impl BufMut) {
    for n in list {
        n.encode(add_path, out);
    }
}

/// [`encode_nlri_list`] specialised for `BytesMut`, the hot path of UPDATE encoding: the
/// buffer is grown once and each entry is written with fixed-size copies (the address is
/// copied whole, its zero tail is overwritten by the next entry and the slack cut at the end).
/// `total` must be `nlri_list_len(list, add_path)`, which callers have already computed.
pub(crate) fn encode_nlri_fast(list: &[Nlri], add_path: bool, total: usize, out: &mut BytesMut) {
    let start = out.len();
    out.resize(start + total + 20, 0);
    let buf = &mut out[start..];
    let mut i = 0;
    for n in list {
        if add_path {
            buf[i..i + 4].copy_from_slice(&n.path_id.unwrap_or(0).to_be_bytes());
            i += 4;
        }
        let len = n.prefix.len();
        buf[i] = len;
        match &n.prefix.0 {
            Inner::V4(a, _) => buf[i + 1..i + 5].copy_from_slice(a),
            Inner::V6(a, _) => buf[i + 1..i + 17].copy_from_slice(a),
        }
        i += 1 + ((usize::from(len) + 7) >> 3);
    }
    out.truncate(start + total);
}

/// Decodes a whole NLRI field of family `afi` into `out`. `base` is the offset of `buf` in the
/// message, for error offsets. Errors are RFC 7606 section 5.3 NLRI errors, reported as
/// `InvalidNetworkField` (the caller sets the treatment).
pub(crate) fn decode_nlri_into(
    buf: &[u8],
    afi: Afi,
    add_path: bool,
    base: usize,
    out: &mut Vec<Nlri>,
) -> Result<(), DecodeError> {
    let v6 = afi == Afi::IPV6;
    let mut i = 0usize;
    while i < buf.len() {
        let start = i;
        let err = |at: usize| DecodeError::new(base + at, DecodeErrorKind::InvalidNetworkField);
        let path_id = if add_path {
            let Some(b) = buf.get(i..i + 4) else {
                return Err(err(start));
            };
            i += 4;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            None
        };
        let Some(&len) = buf.get(i) else {
            return Err(err(start));
        };
        let n = (usize::from(len) + 7) >> 3;
        let Some(bytes) = buf.get(i + 1..i + 1 + n) else {
            return Err(err(i));
        };
        // RFC 4271 section 4.3: "the value of trailing bits is irrelevant": host bits are cleared.
        // The address is loaded as a whole word when the buffer is long enough (bytes past the
        // prefix belong to the next entry and are masked away), else copied byte by byte.
        let prefix = if v6 {
            if len > 128 {
                return Err(err(i));
            }
            let a = match buf.get(i + 1..i + 17) {
                Some(w) => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(w);
                    u128::from_be_bytes(a)
                }
                None => {
                    let mut a = [0u8; 16];
                    a[..n].copy_from_slice(bytes);
                    u128::from_be_bytes(a)
                }
            };
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            Prefix(Inner::V6((a & mask).to_be_bytes(), len))
        } else {
            if len > 32 {
                return Err(err(i));
            }
            let a = match buf.get(i + 1..i + 5) {
                Some(w) => u32::from_be_bytes([w[0], w[1], w[2], w[3]]),
                None => {
                    let mut a = [0u8; 4];
                    a[..n].copy_from_slice(bytes);
                    u32::from_be_bytes(a)
                }
            };
            // len 0 shifts the whole word out: mask 0.
            let mask = (u64::MAX << (32 - u32::from(len))) as u32;
            Prefix(Inner::V4((a & mask).to_be_bytes(), len))
        };
        i += 1 + n;
        out.push(Nlri { path_id, prefix });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_masks_and_parses() {
        let p: Prefix = "10.1.2.3/16".parse().unwrap();
        assert_eq!(p.to_string(), "10.1.0.0/16");
        assert_eq!(p.wire_bytes(), &[10, 1]);
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        let q: Prefix = "2001:db8::/32".parse().unwrap();
        assert_eq!(q.encoded_len(), 5);
        assert!(p < q);
        assert!(p.contains(&"10.1.200.0/24".parse().unwrap()));
        assert!(!p.contains(&"10.2.0.0/24".parse().unwrap()));
        assert!(std::mem::size_of::<Prefix>() <= 18);
    }

    #[test]
    fn nlri_errors() {
        let mut v = Vec::new();
        assert!(decode_nlri_into(&[33, 1, 2, 3, 4, 5], Afi::IPV4, false, 0, &mut v).is_err());
        assert!(decode_nlri_into(&[24, 1, 2], Afi::IPV4, false, 0, &mut v).is_err());
        assert!(decode_nlri_into(&[0, 0, 0], Afi::IPV4, true, 0, &mut v).is_err());
        decode_nlri_into(
            &[0, 0, 0, 7, 24, 10, 0, 1, 0, 0, 0, 8, 0],
            Afi::IPV4,
            true,
            0,
            &mut v,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].path_id, Some(7));
        assert_eq!(v[1].prefix.to_string(), "0.0.0.0/0");
    }

    #[test]
    fn word_loads_mask_the_next_entry_and_host_bits() {
        let mut v = Vec::new();
        decode_nlri_into(
            &[9, 0xff, 0xff, 24, 1, 2, 3, 0, 32, 1, 2, 3, 4],
            Afi::IPV4,
            false,
            0,
            &mut v,
        )
        .unwrap();
        let s: Vec<String> = v.iter().map(|n| n.prefix.to_string()).collect();
        assert_eq!(s, ["255.128.0.0/9", "1.2.3.0/24", "0.0.0.0/0", "1.2.3.4/32"]);
        let mut w = Vec::new();
        let mut buf = vec![17, 0x20, 0x01, 0xff, 64];
        buf.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]);
        decode_nlri_into(&buf, Afi::IPV6, false, 0, &mut w).unwrap();
        let s: Vec<String> = w.iter().map(|n| n.prefix.to_string()).collect();
        assert_eq!(s, ["2001:8000::/17", "2001:db8:0:1::/64"]);
    }
}
