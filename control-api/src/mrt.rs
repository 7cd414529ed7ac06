//! [`RibPage`]s to an MRT TABLE_DUMP_V2 file (RFC 6396 section 4.3): a PEER_INDEX_TABLE, then one RIB record
//! per prefix, written with `bgp-wire`'s [`MrtWriter`]. Paths received with an ADD-PATH path id go into
//! RFC 8050 ADDPATH subtypes. `rr-cli dump --mrt` and the daemon's periodic dumps both build their files here.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::Prefix;
use bgp_wire::mrt::{
    MrtBody, MrtRecord, MrtWriter, PeerEntry, PeerIndexTable, RibEntry, RibPrefix, RibRecord, TableDumpV2,
};
use bytes::Bytes;

use crate::RibPage;

/// A page that cannot be turned into records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// A prefix that does not parse.
    #[error("bad prefix {prefix:?} in a RIB page: {reason}")]
    Prefix {
        /// The prefix as given.
        prefix: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A path from a peer the page does not list.
    #[error("a path of {prefix} comes from {peer}, which is not among the page's peers")]
    UnknownPeer {
        /// The path's prefix.
        prefix: String,
        /// Its peer.
        peer: IpAddr,
    },
    /// Attributes that are not hex.
    #[error("the attributes of {prefix} are not hex")]
    Attributes {
        /// The path's prefix.
        prefix: String,
    },
    /// More peers than a PEER_INDEX_TABLE can number.
    #[error("more than 65535 peers")]
    TooManyPeers,
}

/// The records of a TABLE_DUMP_V2 dump, built from the daemon's pages in order.
#[derive(Debug, Default)]
pub struct TableDump {
    router_id: Option<Ipv4Addr>,
    peers: Vec<PeerEntry>,
    index: HashMap<IpAddr, u16>,
    ribs: Vec<RibRecord>,
    paths: usize,
}

fn unhex(s: &str) -> Option<Bytes> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Bytes::from)
}

impl TableDump {
    /// An empty dump.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefixes (RIB records) so far.
    pub fn prefixes(&self) -> usize {
        self.ribs.len()
    }

    /// Paths (RIB entries) so far.
    pub fn paths(&self) -> usize {
        self.paths
    }

    /// Peers in the PEER_INDEX_TABLE so far.
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    /// Adds the next page; `originated` is the time stamp of every entry (seconds since the epoch).
    pub fn add_page(&mut self, page: &RibPage, originated: u32) -> Result<(), PageError> {
        if self.router_id.is_none() {
            self.router_id = page.router_id;
        }
        for p in &page.peers {
            if self.index.contains_key(&p.address) {
                continue;
            }
            let i = u16::try_from(self.peers.len()).map_err(|_| PageError::TooManyPeers)?;
            self.index.insert(p.address, i);
            self.peers.push(PeerEntry {
                bgp_id: p.router_id.unwrap_or(Ipv4Addr::UNSPECIFIED),
                ip: p.address,
                asn: p.asn.unwrap_or(0),
                as4: true,
            });
        }
        for r in &page.routes {
            let prefix: Prefix = r.prefix.parse().map_err(|e| PageError::Prefix {
                prefix: r.prefix.clone(),
                reason: format!("{e}"),
            })?;
            let mut entries = Vec::with_capacity(r.paths.len());
            let mut add_path = false;
            for p in &r.paths {
                let peer_index = *self.index.get(&p.peer).ok_or_else(|| PageError::UnknownPeer {
                    prefix: r.prefix.clone(),
                    peer: p.peer,
                })?;
                add_path |= p.path_id != 0;
                entries.push(RibEntry {
                    peer_index,
                    originated_time: originated,
                    path_id: Some(p.path_id),
                    attributes: unhex(&p.attributes).ok_or_else(|| PageError::Attributes {
                        prefix: r.prefix.clone(),
                    })?,
                });
            }
            if entries.is_empty() {
                continue;
            }
            if !add_path {
                for e in &mut entries {
                    e.path_id = None;
                }
            }
            self.paths += entries.len();
            let sequence = u32::try_from(self.ribs.len()).unwrap_or(u32::MAX);
            self.ribs.push(RibRecord {
                multicast: false,
                add_path,
                sequence,
                prefix: RibPrefix {
                    addr: prefix.addr(),
                    len: prefix.len(),
                },
                entries,
            });
        }
        Ok(())
    }

    /// Writes the PEER_INDEX_TABLE and every RIB record, time-stamped `timestamp`, then flushes `out`.
    pub fn write<W: Write>(self, out: W, timestamp: u32) -> std::io::Result<()> {
        let mut w = MrtWriter::new(out);
        let record = |body| MrtRecord {
            timestamp,
            microseconds: None,
            body: MrtBody::TableDumpV2(body),
        };
        w.write(&record(TableDumpV2::PeerIndexTable(PeerIndexTable {
            collector_bgp_id: self.router_id.unwrap_or(Ipv4Addr::UNSPECIFIED),
            view_name: Bytes::new(),
            peers: self.peers,
        })))?;
        for rib in self.ribs {
            w.write(&record(TableDumpV2::Rib(rib)))?;
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RibPath, RibPeer, RibRoute};
    use bgp_wire::mrt::MrtReader;

    fn page(path_id: u32) -> RibPage {
        let peer: IpAddr = "127.0.1.2".parse().expect("ip");
        RibPage {
            router_id: Some(Ipv4Addr::new(127, 0, 1, 1)),
            peers: vec![RibPeer {
                address: peer,
                asn: Some(64512),
                router_id: Some(Ipv4Addr::new(127, 0, 1, 2)),
                name: None,
            }],
            routes: vec![RibRoute {
                prefix: "10.0.0.0/24".into(),
                // ORIGIN IGP, empty AS_PATH.
                paths: vec![RibPath {
                    peer,
                    path_id,
                    best: true,
                    attributes: "4001010040020000".into(),
                }],
            }],
            next: None,
        }
    }

    #[test]
    fn pages_become_records() {
        let mut d = TableDump::new();
        d.add_page(&page(0), 7).expect("page");
        d.add_page(&page(0), 7).expect("the same peer again");
        assert_eq!((d.prefixes(), d.paths(), d.peers()), (2, 2, 1));
        let mut out = Vec::new();
        d.write(&mut out, 9).expect("write");
        let records: Vec<MrtRecord> = MrtReader::new(&out[..])
            .map(|r| r.map(|r| r.record))
            .collect::<Result<_, _>>()
            .expect("read back");
        assert_eq!(records.len(), 3);
        match &records[1].body {
            MrtBody::TableDumpV2(TableDumpV2::Rib(r)) => {
                assert!(!r.add_path);
                assert_eq!(r.entries[0].path_id, None);
                assert_eq!(r.entries[0].originated_time, 7);
            }
            other => panic!("{other:?}"),
        }
        let mut d = TableDump::new();
        d.add_page(&page(3), 7).expect("add-path page");
        assert!(d.ribs[0].add_path);
    }

    #[test]
    fn inconsistent_pages_are_errors() {
        let mut p = page(0);
        p.routes[0].paths[0].peer = "127.0.1.3".parse().expect("ip");
        assert!(matches!(
            TableDump::new().add_page(&p, 0),
            Err(PageError::UnknownPeer { .. })
        ));
        let mut p = page(0);
        p.routes[0].paths[0].attributes = "4x".into();
        assert!(matches!(
            TableDump::new().add_page(&p, 0),
            Err(PageError::Attributes { .. })
        ));
        let mut p = page(0);
        p.routes[0].prefix = "10.0.0.0/33".into();
        assert!(TableDump::new().add_page(&p, 0).is_err());
    }
}
