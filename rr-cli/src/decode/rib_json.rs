//! The JSON line of one TABLE_DUMP_V2 RIB entry, written by hand into a byte buffer.
//!
//! A large RIB dump is millions of these lines, so they skip serde's machinery and `fmt` for what they hold
//! most: integers go through `itoa`, IPv4 addresses through a digit writer, the common attribute values
//! (ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, communities, AGGREGATOR, ORIGINATOR_ID, CLUSTER_LIST,
//! MP_REACH_NLRI's next hop) are spelled out, and anything else is handed to `serde_json` attribute by
//! attribute. The text is the same as serializing the entry with serde (`Reference` in the tests, the
//! reference this writer is checked against): bgp-wire's serde form under `attributes`, the flat fields of
//! [`super::Described`], keys in alphabetical order.

use std::fmt::Display;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::mrt::{ReadRecord, RibRecord};
use bgp_wire::{Aggregator, AsPath, AttrValue, AttributeError, MpNextHop, Origin, PathAttribute};

/// The parts of a RIB entry's line that every entry of a record shares, written once per record: from
/// `{"afi_safi"` to before the first attribute field (head), `microseconds` to `mrt_type` (middle),
/// `offset`, and `prefix` to the end of the object (tail).
#[derive(Default)]
pub(super) struct RecordParts {
    text: Vec<u8>,
    /// Where the head, the middle and the offset part end in `text`; the tail is the rest.
    ends: [usize; 3],
}

impl RecordParts {
    /// Writes the parts for the record `rec`, whose body is `r`.
    pub(super) fn fill(&mut self, rec: &ReadRecord, r: &RibRecord) {
        let out = &mut self.text;
        out.clear();
        let family = r.afi_safi();
        out.extend_from_slice(b"{\"afi_safi\":{\"afi\":");
        uint(out, family.afi.0);
        out.extend_from_slice(b",\"safi\":");
        uint(out, family.safi.0);
        out.push(b'}');
        self.ends[0] = out.len();
        if let Some(v) = rec.record.microseconds {
            key(out, "microseconds");
            uint(out, v);
        }
        key(out, "mrt_subtype");
        uint(out, rec.record.subtype());
        key(out, "mrt_type");
        uint(out, rec.record.mrt_type());
        self.ends[1] = out.len();
        key(out, "offset");
        uint(out, rec.offset);
        self.ends[2] = out.len();
        key(out, "prefix");
        out.push(b'"');
        ip_bare(out, r.prefix.addr);
        out.push(b'/');
        uint(out, r.prefix.len);
        out.push(b'"');
        key(out, "record");
        uint(out, rec.number);
        key(out, "sequence");
        uint(out, r.sequence);
        key(out, "timestamp");
        uint(out, rec.record.timestamp);
        out.extend_from_slice(b",\"type\":\"rib_entry\"}");
    }

    fn part(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let end = self.ends.get(i).copied().unwrap_or(self.text.len());
        &self.text[start..end]
    }
}

/// One RIB entry's fields, as [`write_rib_line`] prints them.
pub(super) struct RibLine<'a> {
    /// The record's parts, filled for this entry's record.
    pub(super) parts: &'a RecordParts,
    pub(super) entry: usize,
    pub(super) path_id: Option<u32>,
    pub(super) peer_index: u16,
    /// The peer's JSON object (`{"asn":..,"bgp_id":..,"ip":..}`), or `None` (printed as `null`) for an
    /// index past the peer table.
    pub(super) peer: Option<&'a [u8]>,
    pub(super) originated_time: u32,
    pub(super) attributes: &'a [PathAttribute],
    pub(super) errors: &'a [AttributeError],
}

/// The flat fields of an attribute list, as [`super::Described`] collects them: the last of a kind wins.
/// Next hops are not kept here: they are written in attribute order straight from the list.
#[derive(Default)]
struct Flat<'a> {
    aggregator: Option<&'a Aggregator>,
    as4_aggregator: Option<&'a Aggregator>,
    as4_path: Option<&'a AsPath>,
    as_path: Option<&'a AsPath>,
    atomic_aggregate: bool,
    cluster_list: Option<&'a [Ipv4Addr]>,
    communities: Option<&'a [bgp_wire::Community]>,
    extended_communities: Option<&'a [bgp_wire::ExtendedCommunity]>,
    large_communities: Option<&'a [bgp_wire::LargeCommunity]>,
    local_pref: Option<u32>,
    med: Option<u32>,
    next_hops: bool,
    only_to_customer: Option<u32>,
    origin: Option<&'a Origin>,
    originator_id: Option<Ipv4Addr>,
}

impl<'a> Flat<'a> {
    fn new(attrs: &'a [PathAttribute]) -> Self {
        let mut d = Flat::default();
        for a in attrs {
            match &a.value {
                AttrValue::Origin(x) => d.origin = Some(x),
                AttrValue::AsPath(p) => d.as_path = Some(p),
                AttrValue::As4Path(p) => d.as4_path = Some(p),
                AttrValue::NextHop(_) | AttrValue::MpReach(_) => d.next_hops = true,
                AttrValue::MultiExitDisc(v) => d.med = Some(*v),
                AttrValue::LocalPref(v) => d.local_pref = Some(*v),
                AttrValue::AtomicAggregate => d.atomic_aggregate = true,
                AttrValue::Aggregator(g) => d.aggregator = Some(g),
                AttrValue::As4Aggregator(g) => d.as4_aggregator = Some(g),
                AttrValue::Communities(c) => d.communities = Some(c),
                AttrValue::ExtendedCommunities(c) => d.extended_communities = Some(c),
                AttrValue::LargeCommunities(c) => d.large_communities = Some(c),
                AttrValue::OriginatorId(id) => d.originator_id = Some(*id),
                AttrValue::ClusterList(l) => d.cluster_list = Some(l),
                AttrValue::OnlyToCustomer(asn) => d.only_to_customer = Some(*asn),
                _ => {}
            }
        }
        d
    }
}

/// Appends the entry's JSON object (no newline) to `out`.
pub(super) fn write_rib_line(out: &mut Vec<u8>, l: &RibLine<'_>) {
    let d = Flat::new(l.attributes);
    out.extend_from_slice(l.parts.part(0));
    if let Some(g) = d.aggregator {
        key(out, "aggregator");
        flat_aggregator(out, g);
    }
    if let Some(g) = d.as4_aggregator {
        key(out, "as4_aggregator");
        flat_aggregator(out, g);
    }
    if let Some(p) = d.as4_path {
        key(out, "as4_path");
        as_path_text(out, p);
    }
    if let Some(p) = d.as_path {
        key(out, "as_path");
        as_path_text(out, p);
    }
    if d.atomic_aggregate {
        out.extend_from_slice(b",\"atomic_aggregate\":true");
    }
    key(out, "attribute_errors");
    list(out, l.errors, display);
    key(out, "attributes");
    list(out, l.attributes, attribute);
    if let Some(c) = d.cluster_list {
        key(out, "cluster_list");
        list(out, c, |out, a| ipv4(out, *a));
    }
    if let Some(c) = d.communities {
        key(out, "communities");
        list(out, c, |out, c| community(out, *c));
    }
    key(out, "entry");
    uint(out, l.entry);
    if let Some(c) = d.extended_communities {
        key(out, "extended_communities");
        list(out, c, display);
    }
    if let Some(c) = d.large_communities {
        key(out, "large_communities");
        list(out, c, |out, c| {
            out.push(b'"');
            uint(out, c.global_admin);
            out.push(b':');
            uint(out, c.local_data_1);
            out.push(b':');
            uint(out, c.local_data_2);
            out.push(b'"');
        });
    }
    if let Some(v) = d.local_pref {
        key(out, "local_pref");
        uint(out, v);
    }
    if let Some(v) = d.med {
        key(out, "med");
        uint(out, v);
    }
    out.extend_from_slice(l.parts.part(1));
    if d.next_hops {
        key(out, "next_hops");
        next_hops(out, l.attributes);
    }
    out.extend_from_slice(l.parts.part(2));
    if let Some(v) = d.only_to_customer {
        key(out, "only_to_customer");
        uint(out, v);
    }
    if let Some(o) = d.origin {
        key(out, "origin");
        match o {
            Origin::Igp => out.extend_from_slice(b"\"igp\""),
            Origin::Egp => out.extend_from_slice(b"\"egp\""),
            Origin::Incomplete => out.extend_from_slice(b"\"incomplete\""),
            other => string(out, &format!("{other:?}").to_lowercase()),
        }
    }
    key(out, "originated_time");
    uint(out, l.originated_time);
    if let Some(a) = d.originator_id {
        key(out, "originator_id");
        ipv4(out, a);
    }
    if let Some(v) = l.path_id {
        key(out, "path_id");
        uint(out, v);
    }
    key(out, "peer");
    out.extend_from_slice(l.peer.unwrap_or(b"null"));
    key(out, "peer_index");
    uint(out, l.peer_index);
    out.extend_from_slice(l.parts.part(3));
}

/// `,"name":`
fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn uint(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// `open` (such as `{"NextHop":`), the value `f` writes, and the closing `}`: serde's form of an enum
/// variant with one field.
fn tagged(out: &mut Vec<u8>, open: &[u8], f: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(open);
    f(out);
    out.push(b'}');
}

/// `[a,b,..]` with `f` writing each element.
fn list<T>(out: &mut Vec<u8>, items: &[T], mut f: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        f(out, x);
    }
    out.push(b']');
}

/// A string, escaped as serde_json escapes it.
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(needs_escape) {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec does not fail");
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// A value's text form as a JSON string (what serde's `collect_str` writes).
fn display(out: &mut Vec<u8>, v: &impl Display) {
    let start = out.len();
    out.push(b'"');
    write!(out, "{v}").expect("writing to a Vec does not fail");
    if out[start + 1..].iter().any(|&b| needs_escape(b)) {
        let text = String::from_utf8(out.split_off(start + 1)).expect("Display writes UTF-8");
        out.truncate(start);
        string(out, &text);
    } else {
        out.push(b'"');
    }
}

/// The dotted quad, unquoted.
fn ipv4_bare(out: &mut Vec<u8>, a: Ipv4Addr) {
    for (i, b) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if b >= 100 {
            out.extend_from_slice(&[b'0' + b / 100, b'0' + b / 10 % 10, b'0' + b % 10]);
        } else if b >= 10 {
            out.extend_from_slice(&[b'0' + b / 10, b'0' + b % 10]);
        } else {
            out.push(b'0' + b);
        }
    }
}

fn ipv4(out: &mut Vec<u8>, a: Ipv4Addr) {
    out.push(b'"');
    ipv4_bare(out, a);
    out.push(b'"');
}

/// An address, unquoted: IPv4 by hand, IPv6 with the standard library's RFC 5952 text.
fn ip_bare(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(a) => ipv4_bare(out, a),
        IpAddr::V6(a) => write!(out, "{a}").expect("writing to a Vec does not fail"),
    }
}

fn community(out: &mut Vec<u8>, c: bgp_wire::Community) {
    out.push(b'"');
    uint(out, c.asn());
    out.push(b':');
    uint(out, c.value());
    out.push(b'"');
}

/// `AsPath`'s `Display`, quoted: sequences space-separated, `{a,b}` sets, `(a b)` and `[a b]` for the
/// confederation segments.
fn as_path_text(out: &mut Vec<u8>, p: &AsPath) {
    use bgp_wire::SegmentType;
    out.push(b'"');
    for (i, s) in p.segments.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let (open, close, sep): (&[u8], &[u8], u8) = match s.kind {
            SegmentType::AsSequence => (b"", b"", b' '),
            SegmentType::AsSet => (b"{", b"}", b','),
            SegmentType::AsConfedSequence => (b"(", b")", b' '),
            SegmentType::AsConfedSet => (b"[", b"]", b' '),
            _ => {
                // A segment type this writer does not know: the whole path by its own Display.
                out.pop();
                return display(out, p);
            }
        };
        out.extend_from_slice(open);
        for (j, a) in s.asns.iter().enumerate() {
            if j > 0 {
                out.push(sep);
            }
            uint(out, *a);
        }
        out.extend_from_slice(close);
    }
    out.push(b'"');
}

/// The flat `aggregator` fields: `{"address":..,"asn":..}`.
fn flat_aggregator(out: &mut Vec<u8>, g: &Aggregator) {
    out.extend_from_slice(b"{\"address\":");
    ipv4(out, g.address);
    out.extend_from_slice(b",\"asn\":");
    uint(out, g.asn);
    out.push(b'}');
}

/// Every next hop in attribute order: NEXT_HOP, and MP_REACH_NLRI's (IPv6: global, then link-local).
fn next_hops(out: &mut Vec<u8>, attrs: &[PathAttribute]) {
    out.push(b'[');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    for a in attrs {
        match &a.value {
            AttrValue::NextHop(nh) => {
                sep(out);
                ipv4(out, *nh);
            }
            AttrValue::MpReach(m) => match &m.next_hop {
                MpNextHop::Ipv4(nh) => {
                    sep(out);
                    ipv4(out, *nh);
                }
                MpNextHop::Ipv6 { global, link_local } => {
                    sep(out);
                    display(out, global);
                    if let Some(l) = link_local {
                        sep(out);
                        display(out, l);
                    }
                }
                other => {
                    sep(out);
                    string(out, &format!("{other:?}"));
                }
            },
            _ => {}
        }
    }
    out.push(b']');
}

/// One attribute in bgp-wire's serde form: `{"flags":..,"value":{"Variant":..}}`.
fn attribute(out: &mut Vec<u8>, a: &PathAttribute) {
    out.extend_from_slice(b"{\"flags\":");
    uint(out, a.flags);
    out.extend_from_slice(b",\"value\":");
    if !attr_value(out, &a.value) {
        serde_json::to_writer(&mut *out, &a.value).expect("writing to a Vec does not fail");
    }
    out.push(b'}');
}

/// Writes the common attribute values; returns false (having written nothing) for the others.
fn attr_value(out: &mut Vec<u8>, v: &AttrValue) -> bool {
    match v {
        AttrValue::Origin(o) => {
            let name: &[u8] = match o {
                Origin::Igp => b"Igp",
                Origin::Egp => b"Egp",
                Origin::Incomplete => b"Incomplete",
                _ => return false,
            };
            out.extend_from_slice(b"{\"Origin\":\"");
            out.extend_from_slice(name);
            out.extend_from_slice(b"\"}");
        }
        AttrValue::AsPath(p) | AttrValue::As4Path(p) => {
            let start = out.len();
            out.extend_from_slice(if matches!(v, AttrValue::AsPath(_)) {
                b"{\"AsPath\":{\"segments\":["
            } else {
                b"{\"As4Path\":{\"segments\":["
            });
            for (i, s) in p.segments.iter().enumerate() {
                use bgp_wire::SegmentType;
                let kind: &[u8] = match s.kind {
                    SegmentType::AsSet => b"AsSet",
                    SegmentType::AsSequence => b"AsSequence",
                    SegmentType::AsConfedSequence => b"AsConfedSequence",
                    SegmentType::AsConfedSet => b"AsConfedSet",
                    _ => {
                        out.truncate(start);
                        return false;
                    }
                };
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"kind\":\"");
                out.extend_from_slice(kind);
                out.extend_from_slice(b"\",\"asns\":");
                list(out, &s.asns, |out, a| uint(out, *a));
                out.push(b'}');
            }
            out.extend_from_slice(b"]}}");
        }
        AttrValue::NextHop(a) => tagged(out, b"{\"NextHop\":", |out| ipv4(out, *a)),
        AttrValue::MultiExitDisc(x) => tagged(out, b"{\"MultiExitDisc\":", |out| uint(out, *x)),
        AttrValue::LocalPref(x) => tagged(out, b"{\"LocalPref\":", |out| uint(out, *x)),
        AttrValue::AtomicAggregate => out.extend_from_slice(b"\"AtomicAggregate\""),
        AttrValue::Aggregator(g) | AttrValue::As4Aggregator(g) => {
            out.extend_from_slice(if matches!(v, AttrValue::Aggregator(_)) {
                b"{\"Aggregator\":{\"asn\":"
            } else {
                b"{\"As4Aggregator\":{\"asn\":"
            });
            uint(out, g.asn);
            out.extend_from_slice(b",\"address\":");
            ipv4(out, g.address);
            out.extend_from_slice(b"}}");
        }
        AttrValue::Communities(c) => tagged(out, b"{\"Communities\":", |out| {
            list(out, c, |out, c| community(out, *c))
        }),
        AttrValue::LargeCommunities(c) => tagged(out, b"{\"LargeCommunities\":", |out| {
            list(out, c, |out, c| {
                out.push(b'"');
                uint(out, c.global_admin);
                out.push(b':');
                uint(out, c.local_data_1);
                out.push(b':');
                uint(out, c.local_data_2);
                out.push(b'"');
            })
        }),
        AttrValue::ExtendedCommunities(c) => {
            tagged(out, b"{\"ExtendedCommunities\":", |out| list(out, c, display))
        }
        AttrValue::OriginatorId(a) => tagged(out, b"{\"OriginatorId\":", |out| ipv4(out, *a)),
        AttrValue::ClusterList(l) => tagged(out, b"{\"ClusterList\":", |out| {
            list(out, l, |out, a| ipv4(out, *a))
        }),
        // A RIB entry's MP_REACH_NLRI: the next hop only (RFC 6396 section 4.3.4).
        AttrValue::MpReach(m) if m.nlri.is_empty() && m.opaque_nlri.is_empty() => {
            out.extend_from_slice(b"{\"MpReach\":{\"afi_safi\":{\"afi\":");
            uint(out, m.afi_safi.afi.0);
            out.extend_from_slice(b",\"safi\":");
            uint(out, m.afi_safi.safi.0);
            out.extend_from_slice(b"},\"next_hop\":");
            match &m.next_hop {
                MpNextHop::Ipv4(a) => tagged(out, b"{\"Ipv4\":", |out| ipv4(out, *a)),
                MpNextHop::Ipv6 { global, link_local } => {
                    out.extend_from_slice(b"{\"Ipv6\":{\"global\":");
                    display(out, global);
                    out.extend_from_slice(b",\"link_local\":");
                    match link_local {
                        Some(l) => display(out, l),
                        None => out.extend_from_slice(b"null"),
                    }
                    out.extend_from_slice(b"}}");
                }
                other => serde_json::to_writer(&mut *out, other).expect("writing to a Vec does not fail"),
            }
            out.extend_from_slice(b",\"nlri\":[],\"opaque_nlri\":[]}}");
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests;
