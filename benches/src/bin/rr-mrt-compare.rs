//! `rr-mrt-compare`: `rr-cli decode --mrt` beside bgpkit-parser's own reader on the same large RIB dump.
//!
//! ```text
//! rr-mrt-compare --prefixes 250000 --peers 4 --runs 5
//! ```
//! Writes a TABLE_DUMP_V2 file ([`benches::codec::rib_dump`]: one peer index table, one RIB_IPV4_UNICAST
//! record per prefix with an entry per peer) to a temporary directory, then times, alternating, each of:
//!
//! - `rr-cli decode --mrt FILE` as a process, its output (one JSON object per RIB entry) to `/dev/null`;
//! - `rr-cli decode --mrt FILE --summary` as a process: the same decoding and checks, one summary printed
//!   (the like-for-like comparison with a reader that prints nothing);
//! - bgpkit-parser's reader, in this process: `BgpkitParser::from_reader` over a `BufReader<File>`, every
//!   element (one per RIB entry, attributes decoded) taken from its element iterator and its prefix, AS
//!   path, next hop and communities read, nothing written;
//! - the same bgpkit-parser reader writing every element as a JSON line the way its own CLI does with
//!   `--json` (`json!(elem)`, then the text), to a `BufWriter` on `/dev/null` (its CLI writes each line to
//!   a line-buffered stdout, which is slower): the same kind of work as rr-cli's;
//! - bgp-wire's `MrtReader` over the same `BufReader<File>`, every entry's attributes decoded, nothing
//!   written (what rr-cli does before it writes JSON).
//!
//! Before timing, each reader's count of RIB entries is checked (rr-cli's by its output lines, and by the
//! summary's `rib_entries`). Reported:
//! the fastest and the median of `--runs` runs, and RIB entries per second from the median.

use anyhow::{Context, bail, ensure};
use bgp_wire::mrt::{MrtBody, MrtReader, TableDumpV2};
use bgpkit_parser::BgpkitParser;
use clap::Parser;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Times `rr-cli decode --mrt` and bgpkit-parser's reader on the same generated RIB dump.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Prefixes in the dump (one RIB record each).
    #[arg(long, default_value_t = 250_000)]
    prefixes: usize,
    /// Peers in the peer index table; every prefix has one entry per peer.
    #[arg(long, default_value_t = 4)]
    peers: usize,
    /// Timed runs of each reader.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The rr-cli binary (default: `rr-cli` next to this executable).
    #[arg(long)]
    rr_cli: Option<String>,
    /// Keep the dump at this path instead of a temporary file.
    #[arg(long)]
    keep: Option<String>,
}

/// bgpkit-parser: every element of the dump, its fields read; returns the element count.
fn read_bgpkit(path: &Path) -> anyhow::Result<u64> {
    let parser = BgpkitParser::from_reader(BufReader::new(File::open(path)?));
    let mut n = 0u64;
    let mut acc = 0u64;
    for elem in parser.into_elem_iter() {
        n += 1;
        acc += u64::from(elem.prefix.prefix.prefix_len());
        acc += elem.as_path.as_ref().map_or(0, |p| p.route_len() as u64);
        acc += u64::from(elem.next_hop.is_some());
        acc += elem.communities.as_ref().map_or(0, |c| c.len() as u64);
    }
    black_box(acc);
    Ok(n)
}

/// bgpkit-parser: every element written as a JSON line, as its CLI's `--json` does; returns the count.
fn bgpkit_json(path: &Path) -> anyhow::Result<u64> {
    let parser = BgpkitParser::from_reader(BufReader::new(File::open(path)?));
    let mut out = BufWriter::new(File::create("/dev/null")?);
    let mut n = 0u64;
    for elem in parser.into_elem_iter() {
        n += 1;
        writeln!(out, "{}", serde_json::json!(elem))?;
    }
    out.flush()?;
    Ok(n)
}

/// bgp-wire: every record read and every RIB entry's attributes decoded; returns the entry count.
fn read_wire(path: &Path) -> anyhow::Result<u64> {
    let mut n = 0u64;
    let mut acc = 0u64;
    for rec in MrtReader::new(BufReader::new(File::open(path)?)) {
        if let MrtBody::TableDumpV2(TableDumpV2::Rib(rib)) = rec?.record.body {
            let family = rib.afi_safi();
            for e in &rib.entries {
                n += 1;
                acc += e.decode_attributes(family)?.0.len() as u64;
            }
        }
    }
    black_box(acc);
    Ok(n)
}

/// `rr-cli decode --mrt PATH [EXTRA]`, output to `out`.
fn rr_cli(bin: &str, path: &Path, extra: &[&str], out: Stdio) -> anyhow::Result<std::process::Output> {
    Command::new(bin)
        .args(["decode", "--mrt"])
        .arg(path)
        .args(extra)
        .stdout(out)
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {bin}"))
}

fn time(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.runs > 0 && args.peers > 0,
        "--runs and --peers must be positive"
    );
    let bin = args.rr_cli.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("rr-cli")))
            .map_or("rr-cli".into(), |p| p.display().to_string())
    });
    let dir = tempfile::tempdir()?;
    let path = match &args.keep {
        Some(p) => p.into(),
        None => dir.path().join("rib.mrt"),
    };
    let data = benches::codec::rib_dump(args.prefixes, args.peers);
    std::fs::write(&path, &data).with_context(|| format!("cannot write {}", path.display()))?;
    let entries = (args.prefixes * args.peers) as u64;
    eprintln!(
        "{}: {} prefixes x {} peers = {entries} RIB entries, {:.1} MB",
        path.display(),
        args.prefixes,
        args.peers,
        data.len() as f64 / 1e6
    );
    drop(data);

    // The same entries for everyone: rr-cli prints the peer table and one line per entry.
    let out = rr_cli(&bin, &path, &[], Stdio::piped())?;
    if !out.status.success() {
        bail!("rr-cli failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let lines = out.stdout.iter().filter(|&&b| b == b'\n').count() as u64;
    ensure!(
        lines == entries + 1,
        "rr-cli printed {lines} lines for {entries} entries"
    );
    let out = rr_cli(&bin, &path, &["--summary"], Stdio::piped())?;
    if !out.status.success() {
        bail!(
            "rr-cli --summary failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).context("rr-cli --summary")?;
    ensure!(
        summary["rib_entries"].as_u64() == Some(entries),
        "rr-cli --summary counted {} entries for {entries}",
        summary["rib_entries"]
    );
    ensure!(read_bgpkit(&path)? == entries, "bgpkit-parser read another count");
    ensure!(
        bgpkit_json(&path)? == entries,
        "bgpkit-parser wrote another count"
    );
    ensure!(read_wire(&path)? == entries, "bgp-wire read another count");

    let names = [
        "rr-cli decode --mrt (process, JSON to /dev/null)",
        "rr-cli decode --mrt --summary (process, one summary)",
        "bgpkit-parser reader (elements, no output)",
        "bgpkit-parser reader, elements as JSON lines (as its CLI's --json)",
        "bgp-wire MrtReader (attributes decoded, no output)",
    ];
    let mut times: [Vec<f64>; 5] = Default::default();
    for _ in 0..args.runs {
        times[0].push(time(|| {
            let out = rr_cli(&bin, &path, &[], Stdio::from(File::create("/dev/null")?))?;
            ensure!(out.status.success(), "rr-cli failed");
            Ok(())
        })?);
        times[1].push(time(|| {
            let out = rr_cli(
                &bin,
                &path,
                &["--summary"],
                Stdio::from(File::create("/dev/null")?),
            )?;
            ensure!(out.status.success(), "rr-cli --summary failed");
            Ok(())
        })?);
        times[2].push(time(|| read_bgpkit(&path).map(|_| ()))?);
        times[3].push(time(|| bgpkit_json(&path).map(|_| ()))?);
        times[4].push(time(|| read_wire(&path).map(|_| ()))?);
    }
    println!("| reader | fastest | median | RIB entries/s (median) |");
    println!("|---|---|---|---|");
    for (name, t) in names.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        let median = t[t.len() / 2];
        println!(
            "| {name} | {:.3} s | {:.3} s | {:.2} M |",
            t[0],
            median,
            entries as f64 / median / 1e6
        );
    }
    Ok(())
}
