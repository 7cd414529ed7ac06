//! `dump --mrt FILE [--adj-in]`: the running daemon's RIB as an MRT TABLE_DUMP_V2 file (RFC 6396 section 4.3).
//!
//! The daemon's `GET /rib?view=loc|adj-in&after=P&limit=N` hands out pages of prefixes with each path's
//! attributes already encoded as a RIB entry holds them; this module collects the pages, numbers the peers
//! for the PEER_INDEX_TABLE, and writes the records with `bgp-wire`'s [`MrtWriter`]. Paths received with
//! an ADD-PATH path id go into RFC 8050 ADDPATH subtypes.

use std::collections::HashMap;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow};
use bgp_wire::Prefix;
use bgp_wire::mrt::{
    MrtBody, MrtRecord, MrtWriter, PeerEntry, PeerIndexTable, RibEntry, RibPrefix, RibRecord, TableDumpV2,
};
use bytes::Bytes;
use clap::Args;
use serde_json::Value;

use super::{ControlArgs, EXIT_REFUSED, call, encode};

/// `dump --mrt FILE [--adj-in]`.
#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// The MRT file to write (TABLE_DUMP_V2: a PEER_INDEX_TABLE, then one RIB record per prefix).
    #[arg(long)]
    mrt: PathBuf,
    /// Every path of every peer that import policy accepted (the Adj-RIBs-In as `routes` lists them) instead of
    /// the best path of each prefix (the Loc-RIB).
    #[arg(long)]
    adj_in: bool,
    /// Prefixes fetched per control API request (1 to 10000; each request is one bounded unit of work for
    /// the daemon).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=10000))]
    page_size: u16,
    #[command(flatten)]
    ctl: ControlArgs,
}

fn unhex(s: &str) -> anyhow::Result<Bytes> {
    if !s.len().is_multiple_of(2) {
        return Err(anyhow!("odd-length hex"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| anyhow!("bad hex: {e}")))
        .collect::<anyhow::Result<Vec<u8>>>()
        .map(Bytes::from)
}

/// The records of a dump, built from the daemon's pages.
#[derive(Default)]
struct Dump {
    router_id: Option<Ipv4Addr>,
    peers: Vec<PeerEntry>,
    index: HashMap<IpAddr, u16>,
    ribs: Vec<RibRecord>,
    paths: usize,
}

impl Dump {
    fn add_page(&mut self, page: &Value, now: u32) -> anyhow::Result<()> {
        if self.router_id.is_none() {
            self.router_id = page["router_id"].as_str().and_then(|r| r.parse().ok());
        }
        for p in page["peers"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let ip: IpAddr = p["address"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| anyhow!("peer without an address in the daemon's answer"))?;
            if self.index.contains_key(&ip) {
                continue;
            }
            let i = u16::try_from(self.peers.len()).map_err(|_| anyhow!("more than 65535 peers"))?;
            self.index.insert(ip, i);
            self.peers.push(PeerEntry {
                bgp_id: p["router_id"]
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
                ip,
                asn: p["asn"].as_u64().and_then(|a| u32::try_from(a).ok()).unwrap_or(0),
                as4: true,
            });
        }
        for r in page["routes"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let prefix: Prefix = r["prefix"]
                .as_str()
                .ok_or_else(|| anyhow!("route without a prefix"))?
                .parse()
                .map_err(|e| anyhow!("bad prefix from the daemon: {e}"))?;
            let mut entries = Vec::new();
            let mut add_path = false;
            for p in r["paths"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let peer: IpAddr = p["peer"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| anyhow!("path without a peer"))?;
                let peer_index = *self
                    .index
                    .get(&peer)
                    .ok_or_else(|| anyhow!("path from {peer}, which is not in the page's peers"))?;
                let path_id = p["path_id"]
                    .as_u64()
                    .and_then(|x| u32::try_from(x).ok())
                    .unwrap_or(0);
                add_path |= path_id != 0;
                entries.push(RibEntry {
                    peer_index,
                    originated_time: now,
                    path_id: Some(path_id),
                    attributes: unhex(p["attributes"].as_str().unwrap_or_default())
                        .with_context(|| format!("attributes of {prefix}"))?,
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
}

/// Runs `dump`.
pub(crate) fn run(args: &DumpArgs) -> anyhow::Result<ExitCode> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    let view = if args.adj_in { "adj-in" } else { "loc" };
    let mut dump = Dump::default();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/rib?view={view}&limit={}", args.page_size);
        if let Some(a) = &after {
            path.push_str(&format!("&after={}", encode(a)));
        }
        let page = match call(&args.ctl, "GET", &path)? {
            Ok(v) => v,
            Err(msg) => {
                eprintln!("rr-cli: {msg}");
                return Ok(ExitCode::from(EXIT_REFUSED));
            }
        };
        dump.add_page(&page, now)?;
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    let file =
        std::fs::File::create(&args.mrt).with_context(|| format!("creating {}", args.mrt.display()))?;
    let mut w = MrtWriter::new(BufWriter::new(file));
    let record = |body| MrtRecord {
        timestamp: now,
        microseconds: None,
        body: MrtBody::TableDumpV2(body),
    };
    let write_err = || format!("writing {}", args.mrt.display());
    w.write(&record(TableDumpV2::PeerIndexTable(PeerIndexTable {
        collector_bgp_id: dump.router_id.unwrap_or(Ipv4Addr::UNSPECIFIED),
        view_name: Bytes::new(),
        peers: dump.peers.clone(),
    })))
    .with_context(write_err)?;
    let prefixes = dump.ribs.len();
    for rib in dump.ribs.drain(..) {
        w.write(&record(TableDumpV2::Rib(rib))).with_context(write_err)?;
    }
    w.flush().with_context(write_err)?;
    println!(
        "{} prefixes, {} paths from {} peers ({}) written to {}",
        prefixes,
        dump.paths,
        dump.peers.len(),
        if args.adj_in { "all Adj-RIBs-In" } else { "Loc-RIB" },
        args.mrt.display()
    );
    Ok(ExitCode::SUCCESS)
}
