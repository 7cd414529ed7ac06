//! `rr-compare`: the same load against BIRD 2, FRR's bgpd and `rr-daemon`, back to back, with ratios.
//!
//! ```text
//! rr-compare --clients 100 --prefixes 1000 --runs 3
//! rr-compare --clients 250,500,1000,2000 --prefixes 50 --runs 3 --json growth.json
//! rr-compare --clients 500 --prefixes 20 --reflectors bird,rr-daemon churn --rate 1000 --duration 20
//! rr-compare --clients 1000 --prefixes 100 --runs 1 --reflectors bird,frr,rr-daemon
//! ```
//! For each size and run, each reflector is started fresh (BIRD from a generated bird.conf; FRR's bgpd alone
//! from a generated bgpd.conf; the daemon from a generated calicoctl-style datastore file), loaded, and
//! stopped. Prints every report, the medians per reflector and the ratios rr-daemon / BIRD and rr-daemon /
//! FRR.

use anyhow::Context;
use benches::bird::{ReflectorSetup, Running, free_port, start_bird, start_daemon, start_frr};
use benches::cli::{ModeCmd, Workload, median};
use benches::load::{self, LoadConfig, Report};
use benches::plan::Plan;
use clap::Parser;
use serde::Serialize;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// Next-hop base used when FRR is among the reflectors and `--next-hop-base` is not given.
const DEFAULT_FRR_NEXT_HOP_BASE: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 0);

/// Same workload against BIRD and rr-daemon, back to back.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Numbers of client sessions (comma-separated for a growth series).
    #[arg(long, value_delimiter = ',', default_value = "100")]
    clients: Vec<usize>,
    /// Prefixes announced by each client.
    #[arg(long, default_value_t = 1000)]
    prefixes: usize,
    /// Runs per reflector and size (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Reflectors to run, in order: `bird`, `frr`, `rr-daemon`.
    #[arg(long, value_delimiter = ',', default_value = "bird,rr-daemon")]
    reflectors: Vec<String>,
    /// The BIRD 2 binary.
    #[arg(long, default_value = "bird")]
    bird: String,
    /// FRR's bgpd binary (Debian `frr`; run alone, the frr service is not used).
    #[arg(long, default_value = "/usr/lib/frr/bgpd")]
    frr: String,
    /// The rr-daemon binary (default: next to this executable).
    #[arg(long)]
    daemon: Option<String>,
    /// Extra arguments for rr-daemon.
    #[arg(long, allow_hyphen_values = true)]
    daemon_arg: Vec<String>,
    /// Write all reports and the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run the reflectors under `nice -n N` and renice this load generator to N too (e.g. -10 on a busy
    /// shared machine, so that other work disturbs the comparison less).
    #[arg(long, allow_hyphen_values = true)]
    nice: Option<i32>,
    /// Pin each reflector (every thread) to this CPU and the load generator to all the others, so that
    /// neither takes the other's core (shows whether the generator, not the reflector, bounds a figure).
    #[arg(long)]
    pin_reflector: Option<usize>,
    /// Keep each reflector's scratch directory (configuration, logs) and print its path.
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    workload: Workload,
    #[command(subcommand)]
    mode: Option<ModeCmd>,
}

/// Medians of one reflector at one size.
#[derive(Debug, Clone, Serialize)]
struct Summary {
    reflector: String,
    clients: usize,
    prefixes: usize,
    runs: usize,
    converged_runs: usize,
    converged_secs: Option<f64>,
    reflector_cpu_secs: Option<f64>,
    reflector_cpu_total_secs: Option<f64>,
    peak_rss_mib: Option<f64>,
    churn_p50_ms: Option<f64>,
    churn_p99_ms: Option<f64>,
    flap_withdraw_secs: Option<f64>,
    flap_readvertise_secs: Option<f64>,
}

fn summarize(reflector: &str, clients: usize, prefixes: usize, reports: &[&Report]) -> Summary {
    let m = |f: &dyn Fn(&Report) -> Option<f64>| median(reports.iter().map(|r| f(r)));
    Summary {
        reflector: reflector.into(),
        clients,
        prefixes,
        runs: reports.len(),
        converged_runs: reports.iter().filter(|r| r.converged_secs.is_some()).count(),
        converged_secs: m(&|r| r.converged_secs),
        reflector_cpu_secs: m(&|r| r.reflector_cpu_secs),
        reflector_cpu_total_secs: m(&|r| r.reflector_cpu_total_secs),
        peak_rss_mib: m(&|r| r.reflector_peak_rss_mib),
        churn_p50_ms: m(&|r| r.churn.as_ref().map(|c| c.p50_ms)),
        churn_p99_ms: m(&|r| r.churn.as_ref().map(|c| c.p99_ms)),
        flap_withdraw_secs: median(
            reports
                .iter()
                .flat_map(|r| r.flap.iter().map(|f| Some(f.withdraw_secs))),
        ),
        flap_readvertise_secs: median(
            reports
                .iter()
                .flat_map(|r| r.flap.iter().map(|f| Some(f.readvertise_secs))),
        ),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "n/a".into(),
    }
}

#[derive(Serialize)]
struct Output<'a> {
    reports: &'a [Report],
    summaries: &'a [Summary],
}

fn start(name: &str, setup: &ReflectorSetup, args: &Args, daemon: &str) -> Result<Running, String> {
    match name {
        "bird" => start_bird(setup, &args.bird),
        "frr" => start_frr(setup, &args.frr),
        "rr-daemon" => start_daemon(setup, daemon, &args.daemon_arg),
        other => Err(format!("unknown reflector {other:?} (bird, frr or rr-daemon)")),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    load::raise_fd_limit();
    if let Some(n) = args.nice {
        load::renice_self(n);
    }
    if let Some(cpu) = args.pin_reflector {
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        let others: Vec<String> = (0..n).filter(|c| *c != cpu).map(|c| c.to_string()).collect();
        anyhow::ensure!(
            cpu < n && !others.is_empty(),
            "--pin-reflector {cpu}: this machine has CPUs 0 to {} and the generator needs one of its own",
            n - 1
        );
        load::pin(std::process::id(), &others.join(",")).map_err(anyhow::Error::msg)?;
        println!(
            "pinned: reflectors on CPU {cpu}, this load generator on CPUs {}",
            others.join(",")
        );
    }
    let daemon = benches::cli::daemon_path(args.daemon.as_deref());
    let w = &args.workload;
    let rt = benches::cli::runtime(w.threads)?;
    let mode = args.mode.unwrap_or(ModeCmd::Converge).mode();
    // FRR rejects 127/8 next hops as martian (NOTIFICATION 3/8): with FRR in the run, every reflector gets
    // next hops from 100.64.0.0/10 (the same workload for all, so the ratios stay fair).
    let next_hop_base = w.next_hop_base.or_else(|| {
        args.reflectors
            .iter()
            .any(|r| r == "frr")
            .then_some(DEFAULT_FRR_NEXT_HOP_BASE)
    });
    if let Some(b) = next_hop_base {
        println!("next hops: {b} + 1 + client index (attribute only)");
    }
    let mut reports: Vec<Report> = Vec::new();
    let mut summaries = Vec::new();
    for &clients in &args.clients {
        let plan = Plan::new(clients, args.prefixes)
            .and_then(|p| p.with_next_hop_base(next_hop_base))
            .map_err(anyhow::Error::msg)?;
        let first = reports.len();
        for run in 0..args.runs {
            for name in &args.reflectors {
                let setup = ReflectorSetup {
                    plan,
                    asn: w.asn,
                    port: free_port()?,
                    add_path: w.add_path,
                    hold_time: w.hold_time,
                    nice: args.nice,
                };
                let mut r = match start(name, &setup, &args, &daemon) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!(
                            "[{name}] {clients}x{}: run {run}: cannot start: {e}",
                            args.prefixes
                        );
                        continue;
                    }
                };
                if let Some(cpu) = args.pin_reflector
                    && let Err(e) = load::pin(r.pid(), &cpu.to_string())
                {
                    eprintln!("[{name}] cannot pin to CPU {cpu}: {e}");
                    continue;
                }
                let cfg = LoadConfig {
                    label: name.clone(),
                    target: r.addr,
                    plan,
                    asn: w.asn,
                    local_pref: w.local_pref,
                    hold_time: w.hold_time,
                    add_path: w.add_path,
                    reflector_pid: Some(r.pid()),
                    timeout: Duration::from_secs_f64(w.timeout.max(0.1)),
                    connect_concurrency: w.connect_concurrency,
                    mode,
                    progress: w.progress.map(Duration::from_secs_f64),
                };
                let report = rt.block_on(load::run(cfg));
                println!("run {run}: {}", report.to_text().trim_end());
                if let Ok(Some(st)) = r.child.try_wait() {
                    println!(
                        "  [{name}] exited during the run: {st}; log {}",
                        r.log_path().display()
                    );
                }
                if args.keep {
                    let dir = std::mem::replace(&mut r.dir, tempfile::tempdir()?);
                    println!("  kept {}", dir.keep().display());
                }
                drop(r);
                reports.push(report);
                // Let sockets in TIME_WAIT and the previous process's memory settle.
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        for name in &args.reflectors {
            let rs: Vec<&Report> = reports[first..].iter().filter(|r| &r.reflector == name).collect();
            if !rs.is_empty() {
                summaries.push(summarize(name, clients, args.prefixes, &rs));
            }
        }
    }
    println!("\n== medians ==");
    println!(
        "{:<10} {:>7} {:>6} {:>5} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "reflector", "clients", "pfx", "ok", "converge_s", "cpu_s", "rss_mib", "p50_ms", "p99_ms", "flap_s"
    );
    for s in &summaries {
        println!(
            "{:<10} {:>7} {:>6} {:>2}/{:<2} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            s.reflector,
            s.clients,
            s.prefixes,
            s.converged_runs,
            s.runs,
            opt(s.converged_secs),
            opt(s.reflector_cpu_secs),
            opt(s.peak_rss_mib),
            opt(s.churn_p50_ms),
            opt(s.churn_p99_ms),
            opt(s.flap_readvertise_secs),
        );
    }
    let by = |name: &str, c: usize| summaries.iter().find(|s| s.reflector == name && s.clients == c);
    for &c in &args.clients {
        for (other, label) in [("bird", "bird"), ("frr", "FRR")] {
            if let (Some(d), Some(b)) = (by("rr-daemon", c), by(other, c)) {
                println!(
                    "ratios rr-daemon/{label} at {c}x{}: CPU {}  convergence {}  peak RSS {}  churn p99 {}",
                    args.prefixes,
                    ratio(d.reflector_cpu_secs, b.reflector_cpu_secs),
                    ratio(d.converged_secs, b.converged_secs),
                    ratio(d.peak_rss_mib, b.peak_rss_mib),
                    ratio(d.churn_p99_ms, b.churn_p99_ms),
                );
            }
        }
    }
    if let Some(path) = &args.json {
        let out = Output {
            reports: &reports,
            summaries: &summaries,
        };
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
