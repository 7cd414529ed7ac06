//! `dump --mrt FILE [--adj-in]`: the running daemon's RIB as an MRT TABLE_DUMP_V2 file (RFC 6396 section 4.3).
//!
//! The daemon's `GET /rib?view=loc|adj-in&after=P&limit=N` hands out pages of prefixes with each path's
//! attributes already encoded as a RIB entry holds them; this module fetches the pages and
//! `control_api::mrt::TableDump` (shared with the daemon's periodic dumps) numbers the peers for the
//! PEER_INDEX_TABLE and writes the records. Paths received with an ADD-PATH path id go into RFC 8050 ADDPATH
//! subtypes.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Args;
use control_api::mrt::TableDump;
use control_api::{RibPage, RibQuery, RibView, path, with_query};
use hyper::Method;

use super::{ControlArgs, EXIT_REFUSED, call};

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

/// Runs `dump`.
pub(crate) fn run(args: &DumpArgs) -> anyhow::Result<ExitCode> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    let view = if args.adj_in { RibView::AdjIn } else { RibView::Loc };
    let mut dump = TableDump::new();
    let mut after: Option<String> = None;
    loop {
        let q = RibQuery {
            view,
            after: after.take(),
            limit: Some(usize::from(args.page_size)),
        };
        let path = with_query(path::RIB, &q).context("encoding the request")?;
        let page: RibPage = match call(&args.ctl, Method::GET, &path)? {
            Ok(v) => v,
            Err(msg) => {
                eprintln!("rr-cli: {msg}");
                return Ok(ExitCode::from(EXIT_REFUSED));
            }
        };
        dump.add_page(&page, now).context("the daemon's RIB page")?;
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let (prefixes, paths, peers) = (dump.prefixes(), dump.paths(), dump.peers());
    let file =
        std::fs::File::create(&args.mrt).with_context(|| format!("creating {}", args.mrt.display()))?;
    dump.write(BufWriter::new(file), now)
        .with_context(|| format!("writing {}", args.mrt.display()))?;
    println!(
        "{prefixes} prefixes, {paths} paths from {peers} peers ({}) written to {}",
        if args.adj_in { "all Adj-RIBs-In" } else { "Loc-RIB" },
        args.mrt.display()
    );
    Ok(ExitCode::SUCCESS)
}
