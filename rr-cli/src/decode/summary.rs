//! `rr-cli decode --mrt FILE --summary`: every record and every RIB entry's attributes decoded and checked
//! exactly as for the JSON lines, nothing printed per record, and one JSON object at the end.
//!
//! The counts come from the records as they are read; problems are still reported on stderr as they are
//! found, and counted here. The object:
//!
//! - `file`, `compression`, `octets` (MRT octets read, after decompression), `complete` (false when the
//!   run stopped before the end: the first problem without `--keep-going`, a truncated file, a closed
//!   output);
//! - `records`, `earliest_timestamp`, `latest_timestamp`, `record_types` (count per MRT type and subtype,
//!   with the RFC 6396 / RFC 8050 name);
//! - `peer_index_tables`, `peers` (the last PEER_INDEX_TABLE's peers, and any index RIB entries name
//!   past it, each with its RIB entry count);
//! - `rib_entries` (read, whether or not their attributes decode), `attribute_sets` (distinct attribute
//!   octet strings among them),
//!   `families` (per AFI/SAFI: prefixes, i.e. RIB records, RIB entries, and BGP4MP announced and withdrawn
//!   prefixes);
//! - `messages` (BGP4MP messages per BGP message type), `state_changes`;
//! - `errors`, `warnings`, `roundtrip_mismatches`: the problems reported on stderr.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::mrt::{
    BGP4MP, BGP4MP_ET, Compression, ISIS_ET, MrtRecord, OSPFV3_ET, PeerIndexTable, RibRecord, TABLE_DUMP,
    TABLE_DUMP_V2, bgp4mp_subtype as b, table_dump_v2_subtype as t,
};
use bgp_wire::{AfiSafi, Update};
use rustc_hash::{FxBuildHasher, FxHashSet};
use serde::Serialize;

/// Counts gathered while reading; see the module documentation.
#[derive(Default)]
pub(super) struct Summary {
    records: u64,
    earliest: Option<u32>,
    latest: Option<u32>,
    types: BTreeMap<(u16, u16), u64>,
    peer_index_tables: u64,
    /// RIB entries per peer index.
    per_peer: Vec<u64>,
    rib_entries: u64,
    /// Hashes of the attribute octets of every RIB entry (64 bits: one collision among ten million
    /// distinct sets is about as likely as one in three million runs).
    attribute_sets: FxHashSet<u64>,
    families: BTreeMap<(u16, u8), FamilyCounts>,
    messages: BTreeMap<&'static str, u64>,
    state_changes: u64,
}

/// Per AFI/SAFI.
#[derive(Default, Serialize)]
struct FamilyCounts {
    prefixes: u64,
    rib_entries: u64,
    announced: u64,
    withdrawn: u64,
}

impl Summary {
    /// Counts a record, before its body is looked at.
    pub(super) fn record(&mut self, r: &MrtRecord) {
        self.records += 1;
        self.earliest = Some(self.earliest.map_or(r.timestamp, |e| e.min(r.timestamp)));
        self.latest = Some(self.latest.map_or(r.timestamp, |e| e.max(r.timestamp)));
        *self.types.entry((r.mrt_type(), r.subtype())).or_default() += 1;
    }

    pub(super) fn peer_index_table(&mut self) {
        self.peer_index_tables += 1;
    }

    pub(super) fn state_change(&mut self) {
        self.state_changes += 1;
    }

    fn family(&mut self, f: AfiSafi) -> &mut FamilyCounts {
        self.families.entry((f.afi.0, f.safi.0)).or_default()
    }

    /// Counts a RIB record (one prefix); its entries are counted by [`Summary::rib_entry`] as they decode.
    pub(super) fn rib_record(&mut self, r: &RibRecord) {
        self.family(r.afi_safi()).prefixes += 1;
    }

    /// Counts a RIB entry whose attributes decoded.
    pub(super) fn rib_entry(&mut self, family: AfiSafi, peer_index: u16, attributes: &[u8]) {
        self.rib_entries += 1;
        self.family(family).rib_entries += 1;
        let i = usize::from(peer_index);
        if self.per_peer.len() <= i {
            self.per_peer.resize(i + 1, 0);
        }
        self.per_peer[i] += 1;
        self.attribute_sets.insert(FxBuildHasher.hash_one(attributes));
    }

    /// Counts a BGP4MP message that decoded.
    pub(super) fn message(&mut self, kind: &'static str, msg: &bgp_wire::Message) {
        *self.messages.entry(kind).or_default() += 1;
        if let bgp_wire::Message::Update(u) = msg {
            self.update(u);
        }
    }

    fn update(&mut self, u: &Update) {
        for (f, _) in u.announced() {
            self.family(f).announced += 1;
        }
        for (f, _) in u.withdrawals() {
            self.family(f).withdrawn += 1;
        }
    }

    /// The object printed at the end of the run.
    pub(super) fn report(&self, end: End<'_>) -> SummaryJson<'_> {
        let table = end.peers.map_or(&[][..], |t| &t.peers[..]);
        let peers = (0..table.len().max(self.per_peer.len()))
            .map(|i| {
                let p = table.get(i);
                PeerJson {
                    index: i,
                    asn: p.map(|p| p.asn),
                    bgp_id: p.map(|p| p.bgp_id),
                    ip: p.map(|p| p.ip),
                    rib_entries: self.per_peer.get(i).copied().unwrap_or(0),
                }
            })
            .filter(|p| p.asn.is_some() || p.rib_entries > 0)
            .collect();
        SummaryJson {
            file: end.file,
            compression: match end.compression {
                Compression::None => "none",
                Compression::Gzip => "gzip",
                Compression::Bzip2 => "bzip2",
                _ => "other",
            },
            octets: end.octets,
            complete: end.complete,
            records: self.records,
            earliest_timestamp: self.earliest,
            latest_timestamp: self.latest,
            record_types: self
                .types
                .iter()
                .map(|(&(mrt_type, mrt_subtype), &records)| RecordType {
                    mrt_type,
                    mrt_subtype,
                    name: record_name(mrt_type, mrt_subtype),
                    records,
                })
                .collect(),
            peer_index_tables: self.peer_index_tables,
            peers,
            rib_entries: self.rib_entries,
            attribute_sets: self.attribute_sets.len(),
            families: self
                .families
                .iter()
                .map(|(&(afi, safi), counts)| {
                    let afi_safi = AfiSafi::new(bgp_wire::Afi(afi), bgp_wire::Safi(safi));
                    Family {
                        afi_safi,
                        name: afi_safi.to_string(),
                        counts,
                    }
                })
                .collect(),
            messages: &self.messages,
            state_changes: self.state_changes,
            errors: end.errors,
            warnings: end.warnings,
            roundtrip_mismatches: end.mismatches,
        }
    }
}

/// What the run knows at the end besides the counts.
pub(super) struct End<'a> {
    pub(super) file: String,
    pub(super) compression: Compression,
    pub(super) octets: u64,
    pub(super) complete: bool,
    pub(super) peers: Option<&'a PeerIndexTable>,
    pub(super) errors: u64,
    pub(super) warnings: u64,
    pub(super) mismatches: u64,
}

/// The summary as printed.
#[derive(Serialize)]
pub(super) struct SummaryJson<'a> {
    file: String,
    compression: &'static str,
    octets: u64,
    complete: bool,
    records: u64,
    earliest_timestamp: Option<u32>,
    latest_timestamp: Option<u32>,
    record_types: Vec<RecordType>,
    peer_index_tables: u64,
    peers: Vec<PeerJson>,
    rib_entries: u64,
    attribute_sets: usize,
    families: Vec<Family<'a>>,
    messages: &'a BTreeMap<&'static str, u64>,
    state_changes: u64,
    errors: u64,
    warnings: u64,
    roundtrip_mismatches: u64,
}

#[derive(Serialize)]
struct RecordType {
    mrt_type: u16,
    mrt_subtype: u16,
    /// `TYPE/SUBTYPE` as RFC 6396 and RFC 8050 name them; `null` for numbers they do not assign.
    name: Option<&'static str>,
    records: u64,
}

#[derive(Serialize)]
struct PeerJson {
    index: usize,
    /// `null` for an index past the peer table.
    asn: Option<u32>,
    bgp_id: Option<Ipv4Addr>,
    ip: Option<IpAddr>,
    rib_entries: u64,
}

#[derive(Serialize)]
struct Family<'a> {
    afi_safi: AfiSafi,
    name: String,
    #[serde(flatten)]
    counts: &'a FamilyCounts,
}

/// The RFC 6396 (and RFC 8050) name of an MRT type and subtype.
fn record_name(mrt_type: u16, subtype: u16) -> Option<&'static str> {
    Some(match (mrt_type, subtype) {
        (TABLE_DUMP, 1) => "TABLE_DUMP/AFI_IPv4",
        (TABLE_DUMP, 2) => "TABLE_DUMP/AFI_IPv6",
        (TABLE_DUMP_V2, t::PEER_INDEX_TABLE) => "TABLE_DUMP_V2/PEER_INDEX_TABLE",
        (TABLE_DUMP_V2, t::RIB_IPV4_UNICAST) => "TABLE_DUMP_V2/RIB_IPV4_UNICAST",
        (TABLE_DUMP_V2, t::RIB_IPV4_MULTICAST) => "TABLE_DUMP_V2/RIB_IPV4_MULTICAST",
        (TABLE_DUMP_V2, t::RIB_IPV6_UNICAST) => "TABLE_DUMP_V2/RIB_IPV6_UNICAST",
        (TABLE_DUMP_V2, t::RIB_IPV6_MULTICAST) => "TABLE_DUMP_V2/RIB_IPV6_MULTICAST",
        (TABLE_DUMP_V2, t::RIB_GENERIC) => "TABLE_DUMP_V2/RIB_GENERIC",
        (TABLE_DUMP_V2, t::RIB_IPV4_UNICAST_ADDPATH) => "TABLE_DUMP_V2/RIB_IPV4_UNICAST_ADDPATH",
        (TABLE_DUMP_V2, t::RIB_IPV4_MULTICAST_ADDPATH) => "TABLE_DUMP_V2/RIB_IPV4_MULTICAST_ADDPATH",
        (TABLE_DUMP_V2, t::RIB_IPV6_UNICAST_ADDPATH) => "TABLE_DUMP_V2/RIB_IPV6_UNICAST_ADDPATH",
        (TABLE_DUMP_V2, t::RIB_IPV6_MULTICAST_ADDPATH) => "TABLE_DUMP_V2/RIB_IPV6_MULTICAST_ADDPATH",
        (TABLE_DUMP_V2, t::RIB_GENERIC_ADDPATH) => "TABLE_DUMP_V2/RIB_GENERIC_ADDPATH",
        (BGP4MP | BGP4MP_ET, s) => match (mrt_type == BGP4MP_ET, s) {
            (false, b::STATE_CHANGE) => "BGP4MP/STATE_CHANGE",
            (false, b::MESSAGE) => "BGP4MP/MESSAGE",
            (false, b::MESSAGE_AS4) => "BGP4MP/MESSAGE_AS4",
            (false, b::STATE_CHANGE_AS4) => "BGP4MP/STATE_CHANGE_AS4",
            (false, b::MESSAGE_LOCAL) => "BGP4MP/MESSAGE_LOCAL",
            (false, b::MESSAGE_AS4_LOCAL) => "BGP4MP/MESSAGE_AS4_LOCAL",
            (false, b::MESSAGE_ADDPATH) => "BGP4MP/MESSAGE_ADDPATH",
            (false, b::MESSAGE_AS4_ADDPATH) => "BGP4MP/MESSAGE_AS4_ADDPATH",
            (false, b::MESSAGE_LOCAL_ADDPATH) => "BGP4MP/MESSAGE_LOCAL_ADDPATH",
            (false, b::MESSAGE_AS4_LOCAL_ADDPATH) => "BGP4MP/MESSAGE_AS4_LOCAL_ADDPATH",
            (true, b::STATE_CHANGE) => "BGP4MP_ET/STATE_CHANGE",
            (true, b::MESSAGE) => "BGP4MP_ET/MESSAGE",
            (true, b::MESSAGE_AS4) => "BGP4MP_ET/MESSAGE_AS4",
            (true, b::STATE_CHANGE_AS4) => "BGP4MP_ET/STATE_CHANGE_AS4",
            (true, b::MESSAGE_LOCAL) => "BGP4MP_ET/MESSAGE_LOCAL",
            (true, b::MESSAGE_AS4_LOCAL) => "BGP4MP_ET/MESSAGE_AS4_LOCAL",
            (true, b::MESSAGE_ADDPATH) => "BGP4MP_ET/MESSAGE_ADDPATH",
            (true, b::MESSAGE_AS4_ADDPATH) => "BGP4MP_ET/MESSAGE_AS4_ADDPATH",
            (true, b::MESSAGE_LOCAL_ADDPATH) => "BGP4MP_ET/MESSAGE_LOCAL_ADDPATH",
            (true, b::MESSAGE_AS4_LOCAL_ADDPATH) => "BGP4MP_ET/MESSAGE_AS4_LOCAL_ADDPATH",
            _ => return None,
        },
        (ISIS_ET, _) => "ISIS_ET",
        (OSPFV3_ET, _) => "OSPFv3_ET",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(record_name(13, 2), Some("TABLE_DUMP_V2/RIB_IPV4_UNICAST"));
        assert_eq!(record_name(17, 4), Some("BGP4MP_ET/MESSAGE_AS4"));
        assert_eq!(record_name(16, 3), None);
        assert_eq!(record_name(99, 0), None);
    }

    #[test]
    fn distinct_attribute_sets_and_peers() {
        let mut s = Summary::default();
        let f = AfiSafi::new(bgp_wire::Afi::IPV4, bgp_wire::Safi::UNICAST);
        s.rib_entry(f, 0, b"\x40\x01\x01\x00");
        s.rib_entry(f, 3, b"\x40\x01\x01\x00");
        s.rib_entry(f, 3, b"\x40\x01\x01\x02");
        assert_eq!((s.rib_entries, s.attribute_sets.len()), (3, 2));
        assert_eq!(s.per_peer, [1, 0, 0, 2]);
        let end = End {
            file: "x".into(),
            compression: Compression::None,
            octets: 0,
            complete: true,
            peers: None,
            errors: 0,
            warnings: 0,
            mismatches: 0,
        };
        let v = serde_json::to_value(s.report(end)).unwrap();
        assert_eq!(v["peers"][1]["index"], 3);
        assert_eq!(v["peers"][1]["asn"], serde_json::Value::Null);
        assert_eq!(v["families"][0]["rib_entries"], 3);
        assert_eq!(v["families"][0]["afi_safi"]["afi"], 1);
    }
}
