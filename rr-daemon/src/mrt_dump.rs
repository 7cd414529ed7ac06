//! Periodic MRT RIB dumps (`--mrt-dump-dir`, `--mrt-dump-interval`), like gobgpd's `mrt-dump` of type `table`:
//! every interval, every path of every peer as a TABLE_DUMP_V2 file (RFC 6396 section 4.3) written with
//! `bgp-wire`'s [`MrtWriter`].
//!
//! The task asks the engine task for the RIB a page at a time (`ControlReq::Rib`, the control API's `GET /rib`,
//! see [`crate::tasks::rib_dump`]), so the engine is never busy for more than one page, then writes
//! `rib.YYYYMMDDTHHMMSSZ.mrt.tmp` and renames it to `rib.YYYYMMDDTHHMMSSZ.mrt`: a reader never sees half a
//! file. A failed dump is logged and the next one is tried at the next interval.

use std::collections::HashMap;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow};
use bgp_wire::Prefix;
use bgp_wire::mrt::{
    MrtBody, MrtRecord, MrtWriter, PeerEntry, PeerIndexTable, RibEntry, RibPrefix, RibRecord, TableDumpV2,
};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::tasks::rib_dump::{DEFAULT_LIMIT, RibView};
use crate::tasks::{ControlReq, EngineCmd};

/// Dumps the RIB into `dir` every `interval` until the engine task is gone.
pub(crate) async fn run(tx: mpsc::Sender<EngineCmd>, dir: PathBuf, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick fires at once: the first dump comes one interval after start-up.
    tick.tick().await;
    loop {
        tick.tick().await;
        match dump(&tx, &dir).await {
            Ok(Some((path, prefixes, paths))) => {
                info!(file = %path.display(), prefixes, paths, "MRT RIB dump written")
            }
            Ok(None) => return,
            Err(e) => warn!(dir = %dir.display(), error = format!("{e:#}"), "MRT RIB dump failed"),
        }
    }
}

/// One dump; `Ok(None)` when the engine task has stopped.
async fn dump(tx: &mpsc::Sender<EngineCmd>, dir: &Path) -> anyhow::Result<Option<(PathBuf, usize, usize)>> {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let ts = u32::try_from(secs).unwrap_or(u32::MAX);
    let mut b = Builder::default();
    let mut after = None;
    loop {
        let (otx, orx) = oneshot::channel();
        let req = ControlReq::Rib {
            view: RibView::AdjIn,
            after: after.take(),
            limit: DEFAULT_LIMIT,
        };
        if tx.send(EngineCmd::Control(req, otx)).await.is_err() {
            return Ok(None);
        }
        let Ok(page) = orx.await else { return Ok(None) };
        let page = page.map_err(|e| anyhow!(e))?;
        b.add_page(&page, ts)?;
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    let stamp: String = crate::tasks::rfc3339(now)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let path = dir.join(format!("rib.{stamp}.mrt"));
    let tmp = dir.join(format!("rib.{stamp}.mrt.tmp"));
    let (prefixes, paths) = (b.ribs.len(), b.paths);
    let write = {
        let tmp = tmp.clone();
        move || -> anyhow::Result<()> {
            let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let mut w = MrtWriter::new(BufWriter::new(file));
            let record = |body| MrtRecord {
                timestamp: ts,
                microseconds: None,
                body: MrtBody::TableDumpV2(body),
            };
            w.write(&record(TableDumpV2::PeerIndexTable(PeerIndexTable {
                collector_bgp_id: b.router_id.unwrap_or(Ipv4Addr::UNSPECIFIED),
                view_name: Bytes::new(),
                peers: b.peers,
            })))?;
            for rib in b.ribs {
                w.write(&record(TableDumpV2::Rib(rib)))?;
            }
            w.flush()?;
            Ok(())
        }
    };
    tokio::task::spawn_blocking(write).await??;
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(Some((path, prefixes, paths)))
}

/// The records of a dump, built from `/rib` pages (the same format `rr-cli dump` reads).
#[derive(Default)]
struct Builder {
    router_id: Option<Ipv4Addr>,
    peers: Vec<PeerEntry>,
    index: HashMap<IpAddr, u16>,
    ribs: Vec<RibRecord>,
    paths: usize,
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

impl Builder {
    fn add_page(&mut self, page: &Value, now: u32) -> anyhow::Result<()> {
        if self.router_id.is_none() {
            self.router_id = page["router_id"].as_str().and_then(|r| r.parse().ok());
        }
        for p in page["peers"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(ip) = p["address"].as_str().and_then(|a| a.parse::<IpAddr>().ok()) else {
                continue;
            };
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
                .unwrap_or_default()
                .parse()
                .map_err(|e| anyhow!("bad prefix in a RIB page: {e}"))?;
            let mut entries = Vec::new();
            let mut add_path = false;
            for p in r["paths"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let Some(peer_index) = p["peer"]
                    .as_str()
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .and_then(|a| self.index.get(&a).copied())
                else {
                    continue;
                };
                let path_id = p["path_id"]
                    .as_u64()
                    .and_then(|x| u32::try_from(x).ok())
                    .unwrap_or(0);
                add_path |= path_id != 0;
                entries.push(RibEntry {
                    peer_index,
                    originated_time: now,
                    path_id: Some(path_id),
                    attributes: unhex(p["attributes"].as_str().unwrap_or_default())?,
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
