//! AS_PATH and AS4_PATH (RFC 4271 section 4.3, RFC 5065, RFC 6793), and the RFC 6793
//! section 4.2.3 reconstruction of the AS path from AS_PATH and AS4_PATH.
//!
//! ```text
//! +------------------------------+
//! | segment type (1) | count (1) |  count AS numbers of 2 octets (or 4 with RFC 6793)
//! +------------------------------+
//! ```

use std::fmt;

use bytes::BufMut;

use crate::error::EncodeError;
use crate::parse::Rd;
use crate::types::Asn;

/// Path segment type (RFC 4271 section 4.3, RFC 5065 section 3).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum SegmentType {
    /// 1: AS_SET, unordered.
    AsSet,
    /// 2: AS_SEQUENCE, ordered.
    AsSequence,
    /// 3: AS_CONFED_SEQUENCE (RFC 5065).
    AsConfedSequence,
    /// 4: AS_CONFED_SET (RFC 5065).
    AsConfedSet,
}

impl SegmentType {
    /// Wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            SegmentType::AsSet => 1,
            SegmentType::AsSequence => 2,
            SegmentType::AsConfedSequence => 3,
            SegmentType::AsConfedSet => 4,
        }
    }

    /// From the wire value.
    pub fn from_u8(v: u8) -> Option<SegmentType> {
        Some(match v {
            1 => SegmentType::AsSet,
            2 => SegmentType::AsSequence,
            3 => SegmentType::AsConfedSequence,
            4 => SegmentType::AsConfedSet,
            _ => return None,
        })
    }

    /// True for the two confederation segment types.
    pub fn is_confed(self) -> bool {
        matches!(self, SegmentType::AsConfedSequence | SegmentType::AsConfedSet)
    }
}

/// One path segment.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// AS numbers (4-octet internally).
    pub asns: Vec<u32>,
}

/// An AS path. Equality and hashing ignore [`AsPath::four_octet_wire`].
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AsPath {
    /// Segments in wire order (first = most recently traversed).
    pub segments: Vec<AsSegment>,
    /// Whether the path was received with 4-octet AS numbers (informational; the encode
    /// context decides the width when sending).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub four_octet_wire: bool,
}

impl PartialEq for AsPath {
    fn eq(&self, o: &Self) -> bool {
        self.segments == o.segments
    }
}
impl Eq for AsPath {}
impl std::hash::Hash for AsPath {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.segments.hash(h)
    }
}

/// Why an AS path did not parse (RFC 4271 section 6.3 "Malformed AS_PATH").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct BadPath {
    pub(crate) offset: usize,
}

impl AsPath {
    /// An empty path (iBGP-originated routes).
    pub fn new() -> AsPath {
        AsPath::default()
    }

    /// A path of one AS_SEQUENCE.
    pub fn from_sequence(asns: impl IntoIterator<Item = u32>) -> AsPath {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::new();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::AsSequence,
                asns,
            }],
            four_octet_wire: true,
        }
    }

    /// True when there are no segments.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Path length for best-path selection: RFC 4271 section 9.1.2.2 a) "an AS_SET counts as
    /// 1, no matter how many ASes are in the set", and RFC 5065 section 5.3 confederation
    /// segments are not counted.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::AsSequence => s.asns.len(),
                SegmentType::AsSet => 1,
                SegmentType::AsConfedSequence | SegmentType::AsConfedSet => 0,
            })
            .sum()
    }

    /// The neighbor AS: the first AS of a leading AS_SEQUENCE (RFC 4271 section 9.1.2.2 c).
    pub fn neighbor_as(&self) -> Option<u32> {
        match self.segments.first() {
            Some(AsSegment {
                kind: SegmentType::AsSequence,
                asns,
            }) => asns.first().copied(),
            _ => None,
        }
    }

    /// The originating AS: the last AS of a trailing AS_SEQUENCE.
    pub fn origin_as(&self) -> Option<u32> {
        match self.segments.last() {
            Some(AsSegment {
                kind: SegmentType::AsSequence,
                asns,
            }) => asns.last().copied(),
            _ => None,
        }
    }

    /// True if `asn` appears anywhere (loop detection, RFC 4271 section 9.1.2).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// All AS numbers in order.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    /// Prepends `asn` to the leading AS_SEQUENCE (or a new one), RFC 4271 section 5.1.2.
    pub fn prepend(&mut self, asn: Asn) {
        match self.segments.first_mut() {
            Some(s) if s.kind == SegmentType::AsSequence && s.asns.len() < 255 => s.asns.insert(0, asn.get()),
            _ => self.segments.insert(
                0,
                AsSegment {
                    kind: SegmentType::AsSequence,
                    asns: vec![asn.get()],
                },
            ),
        }
    }

    /// True if some AS number does not fit in 2 octets (then an old speaker needs AS4_PATH,
    /// RFC 6793 section 4.2.2).
    pub fn needs_as4(&self) -> bool {
        self.asns().any(|a| a > 0xffff)
    }

    /// Decodes a path; `four` selects 4-octet AS numbers.
    pub(crate) fn decode(mut r: Rd<'_>, four: bool) -> Result<AsPath, BadPath> {
        let w = if four { 4 } else { 2 };
        let mut segments = Vec::with_capacity(1);
        while !r.is_empty() {
            let at = r.offset();
            let bad = |_| BadPath { offset: at };
            let kind = SegmentType::from_u8(r.u8().map_err(bad)?).ok_or(BadPath { offset: at })?;
            let n = usize::from(r.u8().map_err(bad)?);
            // RFC 4271 section 6.3: a segment with zero ASes, or one overrunning the attribute,
            // makes the AS_PATH malformed (RFC 7606 section 7.2 also lists the zero count).
            if n == 0 {
                return Err(BadPath { offset: at });
            }
            let mut s = r.take(n * w).map_err(bad)?;
            let mut asns = Vec::with_capacity(n);
            for _ in 0..n {
                let a = if four { s.u32() } else { s.u16().map(u32::from) };
                asns.push(a.map_err(bad)?);
            }
            segments.push(AsSegment { kind, asns });
        }
        Ok(AsPath {
            segments,
            four_octet_wire: four,
        })
    }

    /// Encoded value size with the given AS width.
    pub fn encoded_len(&self, four: bool) -> usize {
        let w = if four { 4 } else { 2 };
        self.segments
            .iter()
            .filter(|s| !s.asns.is_empty())
            .map(|s| 2 * (1 + (s.asns.len() - 1) / 255) + w * s.asns.len())
            .sum()
    }

    /// Appends the attribute value. With 2-octet width, AS numbers above 65535 become AS_TRANS
    /// (RFC 6793 section 4.2.2). AS_SEQUENCE segments longer than 255 are split; a longer set
    /// is an error. Empty segments are skipped.
    pub fn encode(&self, four: bool, out: &mut impl BufMut) -> Result<(), EncodeError> {
        for s in &self.segments {
            if s.asns.len() > 255
                && !matches!(s.kind, SegmentType::AsSequence | SegmentType::AsConfedSequence)
            {
                return Err(EncodeError::FieldTooLong("AS_SET segment"));
            }
            for chunk in s.asns.chunks(255) {
                out.put_u8(s.kind.to_u8());
                out.put_u8(chunk.len() as u8);
                for &a in chunk {
                    if four {
                        out.put_u32(a);
                    } else {
                        out.put_u16(if a > 0xffff {
                            Asn::AS_TRANS.get() as u16
                        } else {
                            a as u16
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of AS numbers as counted by RFC 6793 section 4.2.3 ("AS_SET counts as 1";
    /// confederation segments are not counted).
    fn as4_count(&self) -> usize {
        self.path_len()
    }

    /// RFC 6793 section 4.2.3: rebuilds the AS path of a route received from an old (2-octet)
    /// speaker from its AS_PATH (`self`) and AS4_PATH (`as4`). The caller must first apply the
    /// AGGREGATOR rule (see [`crate::Aggregator::merge_as4`]): if it says so, AS4_PATH is ignored.
    ///
    /// "If the number of AS numbers in the AS_PATH attribute is less than the number of AS
    /// numbers in the AS4_PATH attribute, then the AS4_PATH attribute SHALL be ignored, and the
    /// AS_PATH attribute SHALL be taken as the AS path information.
    ///
    /// If the number of AS numbers in the AS_PATH attribute is larger than or equal to the
    /// number of AS numbers in the AS4_PATH attribute, then the AS path information SHALL be
    /// constructed by taking as many AS numbers and path segments as necessary from the leading
    /// part of the AS_PATH attribute, and then prepending them to the AS4_PATH attribute so that
    /// the AS path information has a number of AS numbers identical to that of the AS_PATH
    /// attribute."
    pub fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let n = self.as4_count();
        // RFC 6793 section 6: confederation segments in AS4_PATH are not expected from a NEW
        // speaker; they are dropped before merging.
        let as4_segments: Vec<&AsSegment> = as4.segments.iter().filter(|s| !s.kind.is_confed()).collect();
        let m: usize = as4_segments
            .iter()
            .map(|s| {
                if s.kind == SegmentType::AsSet {
                    1
                } else {
                    s.asns.len()
                }
            })
            .sum();
        if n < m {
            return AsPath {
                segments: self.segments.clone(),
                four_octet_wire: true,
            };
        }
        let mut need = n - m;
        let mut out: Vec<AsSegment> = Vec::with_capacity(self.segments.len() + as4_segments.len());
        for s in &self.segments {
            if need == 0 && !s.kind.is_confed() {
                break;
            }
            match s.kind {
                SegmentType::AsSequence => {
                    let take = need.min(s.asns.len());
                    out.push(AsSegment {
                        kind: s.kind,
                        asns: s.asns[..take].to_vec(),
                    });
                    need -= take;
                }
                SegmentType::AsSet => {
                    out.push(s.clone());
                    need -= 1;
                }
                SegmentType::AsConfedSequence | SegmentType::AsConfedSet => out.push(s.clone()),
            }
        }
        for s in as4_segments {
            match out.last_mut() {
                Some(last)
                    if last.kind == SegmentType::AsSequence
                        && s.kind == SegmentType::AsSequence
                        && last.asns.len() + s.asns.len() <= 255 =>
                {
                    last.asns.extend_from_slice(&s.asns)
                }
                _ => out.push(s.clone()),
            }
        }
        AsPath {
            segments: out,
            four_octet_wire: true,
        }
    }
}

impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let (open, close) = match s.kind {
                SegmentType::AsSequence => ("", ""),
                SegmentType::AsSet => ("{", "}"),
                SegmentType::AsConfedSequence => ("(", ")"),
                SegmentType::AsConfedSet => ("[", "]"),
            };
            f.write_str(open)?;
            for (i, a) in s.asns.iter().enumerate() {
                if i > 0 {
                    f.write_str(if s.kind == SegmentType::AsSet { "," } else { " " })?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}
