//! `rr-sim`: Calico's route-reflector topology simulated in memory on `rr-core` (no sockets, virtual
//! time), at several sizes, with growth fitted over the series and extrapolated.
//!
//! ```text
//! rr-sim                                   # 1000/4 2500/6 5000/10 10000/14 20000/20, fit, 100000/100 on paper
//! rr-sim --size 50/4 --size 1000/4 --json sim.json
//! ```
//! Each `--size NODES/REFLECTORS` runs once. See `benches::sim` for the topology and what is measured,
//! and BENCHMARKS.md ("Simulation") for recorded figures.

use anyhow::{Context, bail};
use benches::meter::TaggedAlloc;
use benches::sim::{self, SimConfig, SimReport};
use clap::Parser;

#[global_allocator]
static ALLOC: TaggedAlloc = TaggedAlloc;

/// Simulated Calico clusters of route reflectors, in memory.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// A size to run, `NODES/REFLECTORS` (repeatable; reflectors even, two per cluster).
    #[arg(long = "size", value_parser = parse_size)]
    sizes: Vec<(usize, usize)>,
    /// Every k-th node of each cluster announces a second /26 block (0: one block per node).
    #[arg(long, default_value_t = 2)]
    two_blocks_every: usize,
    /// Roles in the reflector mesh: `calico` (reflectors of different clusters are clients of each
    /// other, as calico-node and rr-daemon configure them) or `non-client` (the textbook mesh).
    #[arg(long, default_value = "calico", value_parser = ["calico", "non-client"])]
    mesh: String,
    /// ADD-PATH (send all, receive) on the reflector mesh, as rr-daemon configures Calico sessions.
    #[arg(long)]
    add_path: bool,
    /// Stop a size after this many rounds (message hops) without convergence.
    #[arg(long, default_value_t = 1000)]
    max_rounds: u64,
    /// The size to extrapolate to with the fitted growth, `NODES/REFLECTORS`.
    #[arg(long, value_parser = parse_size, default_value = "100000/100")]
    extrapolate: (usize, usize),
    /// Also write every report (and the fits) as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (n, r) = s.split_once('/').ok_or("expected NODES/REFLECTORS")?;
    Ok((
        n.trim().parse().map_err(|e| format!("nodes: {e}"))?,
        r.trim().parse().map_err(|e| format!("reflectors: {e}"))?,
    ))
}

/// The per-reflector means a fit is made over.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Point {
    nodes: usize,
    reflectors: usize,
    blocks: f64,
    clients: f64,
    cpu_s: f64,
    cpu_converged_s: f64,
    sends: f64,
    bytes_out: f64,
    bytes_in: f64,
    heap: f64,
    heap_peak: f64,
    rib: f64,
}

fn mean(r: &SimReport, f: impl Fn(&sim::ReflectorReport) -> f64) -> f64 {
    r.per_reflector.iter().map(f).sum::<f64>() / r.per_reflector.len() as f64
}

fn max(r: &SimReport, f: impl Fn(&sim::ReflectorReport) -> f64) -> f64 {
    r.per_reflector.iter().map(f).fold(0.0, f64::max)
}

const MB: f64 = 1024.0 * 1024.0;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes = if args.sizes.is_empty() {
        vec![(1000, 4), (2500, 6), (5000, 10), (10_000, 14), (20_000, 20)]
    } else {
        args.sizes.clone()
    };
    println!(
        "{:>7} {:>4} {:>7} {:>7} {:>6} | per reflector, mean (max): {:>17} {:>17} {:>9} {:>9} {:>9} {:>16} {:>9} {:>9} | {:>7}",
        "nodes",
        "refl",
        "clients",
        "blocks",
        "rounds",
        "CPU s converged",
        "CPU s total",
        "upd in",
        "MB in",
        "sends",
        "MB out",
        "heap MB",
        "peak MB",
        "wall s"
    );
    let mut reports = Vec::new();
    let mut points = Vec::new();
    for &(nodes, reflectors) in &sizes {
        let mut cfg = SimConfig::new(nodes, reflectors).map_err(anyhow::Error::msg)?;
        cfg.two_blocks_every = args.two_blocks_every;
        cfg.add_path = args.add_path;
        cfg.max_rounds = args.max_rounds;
        cfg.mesh = if args.mesh == "calico" {
            sim::Mesh::Calico
        } else {
            sim::Mesh::NonClient
        };
        let rep = sim::run(&cfg).map_err(anyhow::Error::msg)?;
        let cpu = |w: &sim::Work| w.cpu_ns as f64 / 1e9;
        println!(
            "{:>7} {:>4} {:>7} {:>7} {:>6} | {:>7.3} ({:>7.3}) {:>7.3} ({:>7.3}) {:>9.0} {:>9.1} {:>9.0} {:>7.1} ({:>6.1}) {:>9.1} {:>9.1} | {:>7.1}",
            nodes,
            reflectors,
            rep.per_reflector[0].clients,
            rep.blocks,
            rep.rounds_to_converge.map_or("-".to_string(), |r| r.to_string()),
            mean(&rep, |r| cpu(&r.converged)),
            max(&rep, |r| cpu(&r.converged)),
            mean(&rep, |r| cpu(&r.total)),
            max(&rep, |r| cpu(&r.total)),
            mean(&rep, |r| r.total.updates_in as f64),
            mean(&rep, |r| r.total.bytes_in as f64) / MB,
            mean(&rep, |r| r.total.sends as f64),
            mean(&rep, |r| r.total.bytes_out as f64) / MB,
            max(&rep, |r| r.total.bytes_out as f64) / MB,
            mean(&rep, |r| r.heap_bytes as f64) / MB,
            mean(&rep, |r| r.heap_peak_bytes as f64) / MB,
            rep.wall_secs,
        );
        println!(
            "        check: converged {} ({} nodes incomplete, {} blocks missing), own blocks reflected back {}, \
             withdrawals {}, stray {}, sessions up {} down {}; rr-core RIB estimate {:.1} MB, Adj-RIB-In paths {:.0}",
            rep.converged,
            rep.nodes_incomplete,
            rep.blocks_missing,
            rep.own_reflected,
            rep.withdrawals,
            rep.foreign,
            rep.sessions_established,
            rep.sessions_down,
            mean(&rep, |r| r.rib_bytes as f64) / MB,
            mean(&rep, |r| r.paths_in as f64),
        );
        if !rep.correct() {
            bail!("{nodes}/{reflectors}: the simulation did not end correct (see the check line)");
        }
        points.push(Point {
            nodes,
            reflectors,
            blocks: rep.blocks as f64,
            clients: rep.per_reflector[0].clients as f64,
            cpu_s: mean(&rep, |r| cpu(&r.total)),
            cpu_converged_s: mean(&rep, |r| cpu(&r.converged)),
            sends: mean(&rep, |r| r.total.sends as f64),
            bytes_out: mean(&rep, |r| r.total.bytes_out as f64),
            bytes_in: mean(&rep, |r| r.total.bytes_in as f64),
            heap: mean(&rep, |r| r.heap_bytes as f64),
            heap_peak: mean(&rep, |r| r.heap_peak_bytes as f64),
            rib: mean(&rep, |r| r.rib_bytes as f64),
        });
        reports.push(rep);
        // Written after every size, so that a long series that is stopped keeps what it measured.
        if let Some(path) = &args.json {
            let doc = serde_json::json!({ "reports": reports, "points": points });
            std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
                .with_context(|| format!("{}", path.display()))?;
        }
    }
    let fits = fit_and_extrapolate(&points, &args);
    if let Some(path) = &args.json {
        let doc = serde_json::json!({ "reports": reports, "points": points, "fits": fits });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}

/// Fits each per-reflector quantity over the series and prints the extrapolation. Work is fitted as
/// `a * blocks * clients + b * blocks + c` (fan-out: every block to every client; receive and best path:
/// every block, from each reflector of its cluster), memory as `a * blocks + b * clients + c`; beside each,
/// a power law in the number of nodes.
fn fit_and_extrapolate(points: &[Point], args: &Args) -> serde_json::Value {
    let (xn, xr) = args.extrapolate;
    let Ok(mut target) = SimConfig::new(xn, xr) else {
        println!("extrapolation target {xn}/{xr} is not a valid size");
        return serde_json::Value::Null;
    };
    target.two_blocks_every = args.two_blocks_every;
    let tb = target.total_blocks() as f64;
    let tc = (xn as f64 / target.clusters() as f64).ceil();
    if points.len() < 3 {
        println!("(fits need at least 3 sizes)");
        return serde_json::Value::Null;
    }
    println!(
        "\nfitted growth per reflector, extrapolated to {xn} nodes / {xr} reflectors ({tb} blocks, {tc} clients each):"
    );
    let mut out = serde_json::Map::new();
    let work_rows: Vec<Vec<f64>> = points
        .iter()
        .map(|p| vec![p.blocks * p.clients, p.blocks, 1.0])
        .collect();
    let mem_rows: Vec<Vec<f64>> = points.iter().map(|p| vec![p.blocks, p.clients, 1.0]).collect();
    let nodes: Vec<f64> = points.iter().map(|p| p.nodes as f64).collect();
    type Get = fn(&Point) -> f64;
    let quantities: [(&str, Get, bool, f64); 8] = [
        ("CPU s (until quiet)", |p| p.cpu_s, true, 1.0),
        ("CPU s (until converged)", |p| p.cpu_converged_s, true, 1.0),
        ("sends", |p| p.sends, true, 1.0),
        ("MB out", |p| p.bytes_out, true, MB),
        ("MB in", |p| p.bytes_in, false, MB),
        ("heap MB at the end", |p| p.heap, false, MB),
        ("heap MB peak", |p| p.heap_peak, false, MB),
        ("rr-core RIB estimate MB", |p| p.rib, false, MB),
    ];
    for (name, get, work, unit) in quantities {
        let y: Vec<f64> = points.iter().map(get).collect();
        let (rows, at, terms) = if work {
            (&work_rows, [tb * tc, tb, 1.0], ["blocks*clients", "blocks", "1"])
        } else {
            (&mem_rows, [tb, tc, 1.0], ["blocks", "clients", "1"])
        };
        let lin = sim::least_squares(rows, &y);
        let pow = sim::power_law(&nodes, &y);
        let lin_at = lin
            .as_ref()
            .map(|c| c.iter().zip(at).map(|(c, x)| c * x).sum::<f64>());
        let pow_at = pow.map(|(a, b)| a * (xn as f64).powf(b));
        let worst_residual = lin.as_ref().map(|c| {
            rows.iter()
                .zip(&y)
                .map(|(r, yy)| ((r.iter().zip(c).map(|(x, c)| x * c).sum::<f64>() - yy) / yy).abs())
                .fold(0.0, f64::max)
        });
        let lin_text = lin.as_ref().map_or("singular".to_string(), |c| {
            c.iter()
                .zip(terms)
                .map(|(c, t)| format!("{:.4e}*{t}", c / unit))
                .collect::<Vec<_>>()
                .join(" + ")
        });
        println!(
            "  {name:<26} linear: {lin_text} (worst residual {:.0} %) -> {}; power law: {} -> {}",
            worst_residual.unwrap_or(f64::NAN) * 100.0,
            lin_at.map_or("-".into(), |v| format!("{:.1}", v / unit)),
            pow.map_or("-".into(), |(a, b)| format!("{:.3e}*nodes^{b:.2}", a / unit)),
            pow_at.map_or("-".into(), |v| format!("{:.1}", v / unit)),
        );
        out.insert(
            name.to_string(),
            serde_json::json!({
                "linear_terms": terms, "linear": lin, "linear_at_target": lin_at,
                "power_law": pow, "power_at_target": pow_at, "unit": unit,
            }),
        );
    }
    serde_json::Value::Object(out)
}
