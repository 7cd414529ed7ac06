//! Periodic MRT RIB dumps (`--mrt-dump-dir`, `--mrt-dump-interval`), like gobgpd's `mrt-dump` of type `table`:
//! every interval, every path of every peer as a TABLE_DUMP_V2 file (RFC 6396 section 4.3).
//!
//! The task asks the engine task for the RIB a page at a time (`ControlReq::Rib`, the control API's `GET /rib`,
//! see [`crate::tasks::rib_dump`]), so the engine is never busy for more than one page; the pages become
//! records in `control_api::mrt::TableDump`, as for `rr-cli dump --mrt`. The file is written as
//! `rib.YYYYMMDDTHHMMSSZ.mrt.tmp` and renamed to `rib.YYYYMMDDTHHMMSSZ.mrt`: a reader never sees half a file.
//! A failed dump is logged and the next one is tried at the next interval.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow};
use control_api::mrt::TableDump;
use control_api::{RibQuery, RibView};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::tasks::{Answer, ControlReq, EngineCmd};

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
    let mut b = TableDump::new();
    let mut after = None;
    loop {
        let (otx, orx) = oneshot::channel();
        let req = ControlReq::Rib(RibQuery {
            view: RibView::AdjIn,
            after: after.take(),
            limit: None,
        });
        if tx.send(EngineCmd::Control(req, otx)).await.is_err() {
            return Ok(None);
        }
        let Ok(answer) = orx.await else { return Ok(None) };
        let Answer::Rib(page) = answer.map_err(|e| anyhow!(e))? else {
            return Err(anyhow!(
                "the engine task answered a RIB page request with something else"
            ));
        };
        b.add_page(&page, ts)?;
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let stamp: String = crate::tasks::rfc3339(now)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let path = dir.join(format!("rib.{stamp}.mrt"));
    let tmp = dir.join(format!("rib.{stamp}.mrt.tmp"));
    let (prefixes, paths) = (b.prefixes(), b.paths());
    let write = {
        let tmp = tmp.clone();
        move || -> anyhow::Result<()> {
            let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            b.write(BufWriter::new(file), ts)
                .with_context(|| format!("writing {}", tmp.display()))
        }
    };
    tokio::task::spawn_blocking(write).await??;
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(Some((path, prefixes, paths)))
}
