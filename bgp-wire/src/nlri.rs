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
///
/// The field is read in runs. The first entry of a run is checked field by field; when the next
/// entry has the same length octet, the run goes on through every following entry with that
/// length octet that fits in the field, and is decoded as an array of fixed-size records
/// ([`run_of`]). Reading entry by entry, each length octet must be loaded before the next entry
/// can be found, a chain of dependent loads that bounds the speed; in a run the entries are at
/// fixed distances, so the processor reads ahead. An UPDATE packs routes with the same
/// attributes, and in a Calico fabric those are mostly of one length (/26 blocks, /32 routes).
pub(crate) fn decode_nlri_into(
    buf: &[u8],
    afi: Afi,
    add_path: bool,
    base: usize,
    out: &mut Vec<Nlri>,
) -> Result<(), DecodeError> {
    match (afi == Afi::IPV6, add_path) {
        (false, false) => decode_family::<false, false>(buf, base, out),
        (false, true) => decode_family::<false, true>(buf, base, out),
        (true, false) => decode_family::<true, false>(buf, base, out),
        (true, true) => decode_family::<true, true>(buf, base, out),
    }
}

/// [`decode_nlri_into`] for one family (`V6`) with or without path ids (`AP`).
#[inline(always)]
fn decode_family<const V6: bool, const AP: bool>(
    buf: &[u8],
    base: usize,
    out: &mut Vec<Nlri>,
) -> Result<(), DecodeError> {
    let max_len: u8 = if V6 { 128 } else { 32 };
    let id = if AP { 4 } else { 0 };
    let err = |at: usize| DecodeError::new(base + at, DecodeErrorKind::InvalidNetworkField);
    let mut i = 0usize;
    while i < buf.len() {
        // One entry, checked field by field: a missing path id or length octet is reported at
        // the entry, a bad length or missing address octets at the length octet.
        let start = i;
        if AP && buf.len() - start < 4 {
            return Err(err(start));
        }
        let at = start + id;
        let Some(&len) = buf.get(at) else {
            return Err(err(start));
        };
        let n = (usize::from(len) + 7) >> 3;
        if buf.len() - at - 1 < n || len > max_len {
            return Err(err(at));
        }
        let step = id + 1 + n;
        let next = start + step;
        if buf.len() - next >= step && buf[next + id] == len {
            i = decode_run::<V6, AP>(buf, start, step, len, out);
        } else {
            let path_id =
                AP.then(|| u32::from_be_bytes([buf[start], buf[start + 1], buf[start + 2], buf[start + 3]]));
            out.push(Nlri {
                path_id,
                prefix: prefix_at::<V6>(buf, at, n, len),
            });
            i = next;
        }
    }
    Ok(())
}

/// The prefix of one entry whose length octet is at `at` and whose `n` address octets are known
/// to be present. The address is loaded as a whole word when the field is long enough (octets
/// past the prefix belong to the next entry and are masked away), else copied octet by octet.
#[inline(always)]
fn prefix_at<const V6: bool>(buf: &[u8], at: usize, n: usize, len: u8) -> Prefix {
    // RFC 4271 section 4.3: "the value of trailing bits is irrelevant": host bits are cleared.
    if V6 {
        let mut a = [0u8; 16];
        match buf.get(at + 1..at + 17) {
            Some(w) => a.copy_from_slice(w),
            None => a[..n].copy_from_slice(&buf[at + 1..at + 1 + n]),
        }
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        Prefix(Inner::V6((u128::from_be_bytes(a) & mask).to_be_bytes(), len))
    } else {
        let mut a = [0u8; 4];
        match buf.get(at + 1..at + 5) {
            Some(w) => a.copy_from_slice(w),
            None => a[..n].copy_from_slice(&buf[at + 1..at + 1 + n]),
        }
        // len 0 shifts the whole word out: mask 0.
        let mask = (u64::MAX << (32 - u32::from(len))) as u32;
        Prefix(Inner::V4((u32::from_be_bytes(a) & mask).to_be_bytes(), len))
    }
}

/// Decodes the run of entries of `step` octets with length octet `len` that starts at `start`
/// (its first entry checked, the next one known to have the same length octet); returns where it
/// ends. Dispatches to a copy of [`run_of`] with `step` constant.
#[inline(always)]
fn decode_run<const V6: bool, const AP: bool>(
    buf: &[u8],
    start: usize,
    step: usize,
    len: u8,
    out: &mut Vec<Nlri>,
) -> usize {
    macro_rules! dispatch {
        ($($k:literal)*) => {
            match step {
                $($k => run_of::<V6, AP, $k>(buf, start, len, out),)*
                _ => unreachable!("entry size checked against the family"),
            }
        };
    }
    match (V6, AP) {
        (false, false) => dispatch!(1 2 3 4 5),
        (false, true) => dispatch!(5 6 7 8 9),
        (true, false) => dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17),
        (true, true) => dispatch!(5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21),
    }
}

/// A run of entries of `STEP` octets (path id when `AP`, length octet `len`, `STEP - 1 - 4*AP`
/// address octets) from `start`: the run extends over every whole entry with length octet `len`.
/// The entries are read as `[u8; STEP]` arrays, so every field is at a constant offset with no
/// bounds check, the address is a constant-size copy, and `extend` over the mapped slice
/// iterator (`TrustedLen`) reserves once with no capacity check per entry. Returns the end.
fn run_of<const V6: bool, const AP: bool, const STEP: usize>(
    buf: &[u8],
    start: usize,
    len: u8,
    out: &mut Vec<Nlri>,
) -> usize {
    let id = if AP { 4 } else { 0 };
    let (entries, _) = buf[start..].as_chunks::<STEP>();
    let count = entries.iter().take_while(|e| e[id] == len).count();
    // RFC 4271 section 4.3: "the value of trailing bits is irrelevant": host bits are cleared
    // (a whole last octet when `len` is a multiple of 8, else its `len % 8` high bits).
    let last = 0xffu8 << ((8 - (len & 7)) & 7);
    out.extend(entries[..count].iter().map(move |e| {
        // Not captured: a constant in the closure, whatever gets inlined.
        let id = if AP { 4 } else { 0 };
        let path_id = AP.then(|| u32::from_be_bytes([e[0], e[1], e[2], e[3]]));
        let addr = &e[id + 1..];
        let prefix = if V6 {
            let mut a = [0u8; 16];
            a[..addr.len()].copy_from_slice(addr);
            if let Some(l) = addr.len().checked_sub(1) {
                a[l] &= last;
            }
            Prefix(Inner::V6(a, len))
        } else {
            let mut a = [0u8; 4];
            a[..addr.len()].copy_from_slice(addr);
            if let Some(l) = addr.len().checked_sub(1) {
                a[l] &= last;
            }
            Prefix(Inner::V4(a, len))
        };
        Nlri { path_id, prefix }
    }));
    start + count * STEP
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

/// The run-based NLRI loop against a straightforward decoder, entry by entry and field by field.
#[cfg(test)]
mod reference {
    use super::*;
    use proptest::prelude::*;

    /// One entry at a time with the public constructors: the behaviour `decode_nlri_into` must
    /// keep (RFC 4271 section 4.3 layout, RFC 7911 path ids, RFC 7606 section 5.3 errors at the
    /// entry for a missing path id or length octet, at the length octet for a length beyond the
    /// family or missing address octets).
    fn reference(buf: &[u8], afi: Afi, add_path: bool, base: usize) -> Result<Vec<Nlri>, DecodeError> {
        let err = |at: usize| DecodeError::new(base + at, DecodeErrorKind::InvalidNetworkField);
        let mut out = Vec::new();
        let mut i = 0;
        while i < buf.len() {
            let start = i;
            let mut path_id = None;
            if add_path {
                let b = buf.get(i..i + 4).ok_or(err(start))?;
                path_id = Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                i += 4;
            }
            let len = *buf.get(i).ok_or(err(start))?;
            let n = usize::from(len).div_ceil(8);
            let bytes = buf.get(i + 1..i + 1 + n).ok_or(err(i))?;
            let prefix = if afi == Afi::IPV6 {
                let mut a = [0u8; 16];
                a[..n.min(16)].copy_from_slice(&bytes[..n.min(16)]);
                Prefix::v6(Ipv6Addr::from(a), len)
            } else {
                let mut a = [0u8; 4];
                a[..n.min(4)].copy_from_slice(&bytes[..n.min(4)]);
                Prefix::v4(Ipv4Addr::from(a), len)
            }
            .map_err(|_| err(i))?;
            out.push(Nlri { path_id, prefix });
            i += 1 + n;
        }
        Ok(out)
    }

    fn fast(buf: &[u8], afi: Afi, add_path: bool, base: usize) -> Result<Vec<Nlri>, DecodeError> {
        let mut out = vec![Nlri::new(Prefix::v4(Ipv4Addr::LOCALHOST, 8).unwrap())];
        decode_nlri_into(buf, afi, add_path, base, &mut out)?;
        // Appends after what the vector held.
        assert_eq!(out.remove(0).prefix.to_string(), "127.0.0.0/8");
        Ok(out)
    }

    /// Well-formed entries with lengths from a small set (so that runs of one length are common,
    /// host bits set at random), then possibly cut short or with one octet overwritten.
    fn nlri_field() -> impl Strategy<Value = (bool, bool, Vec<u8>)> {
        (any::<bool>(), any::<bool>()).prop_flat_map(|(v6, ap)| {
            let max = if v6 { 128u8 } else { 32 };
            let lens = prop::collection::vec(0..=max, 1..4);
            (
                lens,
                prop::collection::vec((any::<usize>(), 1..12usize, any::<u32>()), 0..12),
            )
                .prop_flat_map(move |(lens, groups)| {
                    let mut field = Vec::new();
                    for (pick, count, id) in groups {
                        let len = lens[pick % lens.len()];
                        for k in 0..count as u32 {
                            if ap {
                                field.extend_from_slice(&id.wrapping_add(k).to_be_bytes());
                            }
                            field.push(len);
                            let n = usize::from(len).div_ceil(8);
                            field.extend((0..n).map(|j| (id as usize + j * 37 + k as usize * 11) as u8));
                        }
                    }
                    let l = field.len();
                    (Just(field), 0..=l + 1, 0..=l + 1, any::<u8>(), any::<bool>())
                })
                .prop_map(move |(mut field, cut, at, val, corrupt)| {
                    if corrupt && at < field.len() {
                        field[at] = val;
                    }
                    if cut < field.len() && cut % 3 == 0 {
                        field.truncate(cut);
                    }
                    (v6, ap, field)
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn same_as_reference_on_arbitrary_bytes(
            v6 in any::<bool>(),
            ap in any::<bool>(),
            buf in prop::collection::vec(any::<u8>(), 0..96),
            base in 0..100usize,
        ) {
            let afi = if v6 { Afi::IPV6 } else { Afi::IPV4 };
            prop_assert_eq!(fast(&buf, afi, ap, base), reference(&buf, afi, ap, base));
        }

        #[test]
        fn same_as_reference_on_runs((v6, ap, buf) in nlri_field(), base in 0..100usize) {
            let afi = if v6 { Afi::IPV6 } else { Afi::IPV4 };
            prop_assert_eq!(fast(&buf, afi, ap, base), reference(&buf, afi, ap, base));
        }
    }
}
