//! `rr-soak`: runs one rr-daemon for a long time under changing load and records its memory and file
//! descriptors, to show that nothing grows.
//!
//! ```text
//! rr-soak --minutes 60 --clients 200 --prefixes 20 --csv soak.csv
//! ```
//! One daemon (file datastore) stays up throughout. The load generator repeats cycles until the time is up:
//! every client connects and converges, churns (`--rate` withdrawals and re-announcements per second for
//! `--churn-secs`), client 0 flaps `--flaps` times, and then every client disconnects; so each cycle is
//! also a flap of every session. Every `--edit-secs` the datastore file is rewritten, alternately with and
//! without `--extra-nodes` Nodes that have no speaker (sessions added and removed while the rest runs).
//! Every `--sample-secs` the daemon's RSS, peak RSS, CPU time and open file descriptors are sampled; the
//! samples taken after each cycle's teardown (same point of the cycle) show the growth.

use anyhow::{Context, bail};
use benches::bird::{ReflectorSetup, calico_yaml, free_port, start_daemon};
use benches::cli::{daemon_path, runtime};
use benches::load::{self, LoadConfig, Mode};
use benches::plan::{Plan, REFLECTOR_ADDR, client_addr};
use benches::procstat;
use clap::Parser;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Long run of one rr-daemon under cycles of convergence, churn, flaps and datastore edits.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// How long to run.
    #[arg(long, default_value_t = 60.0)]
    minutes: f64,
    /// Client sessions.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Prefixes announced by each client.
    #[arg(long, default_value_t = 20)]
    prefixes: usize,
    /// Churn events per second (aggregate) in each cycle.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Seconds of churn per cycle.
    #[arg(long, default_value_t = 60.0)]
    churn_secs: f64,
    /// Flaps of client 0 per cycle.
    #[arg(long, default_value_t = 3)]
    flaps: usize,
    /// Seconds between datastore edits.
    #[arg(long, default_value_t = 30.0)]
    edit_secs: f64,
    /// Nodes without a speaker added and removed by the edits.
    #[arg(long, default_value_t = 50)]
    extra_nodes: usize,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10.0)]
    sample_secs: f64,
    /// Write every sample as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The rr-daemon binary (default: next to this executable).
    #[arg(long)]
    daemon: Option<String>,
    /// Where the daemon's log of a failed run is kept (`cycle-N-MODE.log`, the lines written during that run).
    #[arg(long, default_value = "rr-soak-failures")]
    failure_logs: PathBuf,
}

/// One reading of the daemon.
#[derive(Debug, Clone, Copy)]
struct Sample {
    secs: f64,
    rss_kib: u64,
    peak_rss_kib: u64,
    cpu_secs: f64,
    fds: usize,
    /// Taken right after a cycle's teardown (every client gone).
    cycle_end: bool,
}

fn fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

fn take(pid: u32, start: Instant, cycle_end: bool) -> Option<Sample> {
    let p = procstat::sample(pid)?;
    let fds = fds(pid)?;
    Some(Sample {
        secs: start.elapsed().as_secs_f64(),
        rss_kib: p.rss_kib,
        peak_rss_kib: p.peak_rss_kib,
        cpu_secs: p.cpu_secs,
        fds,
        cycle_end,
    })
}

/// The datastore file with `extra` Nodes (no speaker behind them) after the clients.
/// Copies the daemon's log from byte `from` to `dir/cycle-N-MODE.log`; the path, or why not.
fn keep_log(log: &std::path::Path, from: u64, dir: &std::path::Path, cycle: usize, mode: &str) -> String {
    let copy = || -> std::io::Result<PathBuf> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(log)?;
        f.seek(SeekFrom::Start(from))?;
        let mut text = Vec::new();
        f.read_to_end(&mut text)?;
        std::fs::create_dir_all(dir)?;
        let out = dir.join(format!("cycle-{cycle}-{mode}.log"));
        std::fs::write(&out, text)?;
        Ok(out)
    };
    match copy() {
        Ok(p) => p.display().to_string(),
        Err(e) => format!("not kept ({e})"),
    }
}

fn datastore(setup: &ReflectorSetup, extra: usize) -> String {
    let mut y = calico_yaml(setup, "rr-0");
    for k in 0..extra {
        let _ = writeln!(
            y,
            "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: soak-extra-{k}\nspec:\n  bgp:\n    ipv4Address: {}/32\n    asNumber: {}",
            client_addr(setup.plan.clients + k),
            setup.asn
        );
    }
    y
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    load::raise_fd_limit();
    let daemon = daemon_path(args.daemon.as_deref());
    let plan = Plan::new(args.clients, args.prefixes).map_err(anyhow::Error::msg)?;
    let setup = ReflectorSetup {
        plan,
        asn: 64512,
        port: free_port()?,
        add_path: false,
        hold_time: 90,
        nice: None,
    };
    let mut running = start_daemon(&setup, &daemon, &[]).map_err(anyhow::Error::msg)?;
    let pid = running.pid();
    let file = running.dir.path().join("calico.yaml");
    // The daemon's own descriptors, before any client: a cycle ends when it is back to these.
    let own_fds = fds(pid).context("reading the daemon's descriptors")?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.minutes * 60.0);
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    // Sampler and datastore editor, beside the load.
    let sampler = {
        let (samples, stop) = (samples.clone(), stop.clone());
        let every = Duration::from_secs_f64(args.sample_secs);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(s) = take(pid, start, false) {
                    println!(
                        "t={:7.0}s rss={:6} KiB peak={:6} KiB cpu={:8.2}s fds={}",
                        s.secs, s.rss_kib, s.peak_rss_kib, s.cpu_secs, s.fds
                    );
                    samples.lock().expect("samples").push(s);
                }
                std::thread::sleep(every);
            }
        })
    };
    let editor = {
        let stop = stop.clone();
        let every = Duration::from_secs_f64(args.edit_secs);
        let (with, without) = (datastore(&setup, args.extra_nodes), datastore(&setup, 0));
        let file = file.clone();
        std::thread::spawn(move || -> std::io::Result<u64> {
            let mut edits = 0u64;
            let mut next = Instant::now() + every;
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    edits += 1;
                    let text = if edits % 2 == 1 { &with } else { &without };
                    // Write beside and rename: the daemon never reads a half-written file.
                    let tmp = file.with_extension("tmp");
                    std::fs::write(&tmp, text)?;
                    std::fs::rename(&tmp, &file)?;
                    next += every;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(edits)
        })
    };

    let rt = runtime(2)?;
    let mut cycles = 0usize;
    let mut failures = Vec::new();
    while Instant::now() < deadline {
        cycles += 1;
        for mode in [
            Mode::Churn {
                rate: args.rate,
                duration: Duration::from_secs_f64(args.churn_secs),
            },
            Mode::Flap { rounds: args.flaps },
        ] {
            let cfg = LoadConfig {
                label: "rr-daemon".into(),
                target: std::net::SocketAddr::new(REFLECTOR_ADDR.into(), setup.port),
                plan,
                asn: setup.asn,
                local_pref: 2147482623,
                hold_time: 90,
                add_path: false,
                reflector_pid: Some(pid),
                timeout: Duration::from_secs(120),
                connect_concurrency: 8,
                mode,
                progress: None,
            };
            let log_from = std::fs::metadata(running.log_path()).map_or(0, |m| m.len());
            let r = rt.block_on(load::run(cfg));
            let churn = r
                .churn
                .as_ref()
                .map(|c| format!(" churn p99 {:.1} ms, {} events", c.p99_ms, c.events))
                .unwrap_or_default();
            println!(
                "cycle {cycles} {}: converged {:?} s, session errors {}{churn}",
                r.mode, r.converged_secs, r.session_errors
            );
            // The next run reconnects the same clients: it starts once the daemon has processed every close.
            // (Sooner, a client's new OPEN can reach the daemon before its old connection's end does, and RFC
            // 4271 section 6.8 closes the new connection with Cease 6/7 while the old session is Established.)
            let drained = running.wait_no_sessions(Duration::from_secs(60));
            let mut errors = r.errors.clone();
            if let Err(e) = drained {
                errors.push(e);
            }
            if r.converged_secs.is_none() || !errors.is_empty() {
                let kept = keep_log(&running.log_path(), log_from, &args.failure_logs, cycles, &r.mode);
                failures.push(format!(
                    "cycle {cycles} {}: {errors:?}; daemon log: {kept}",
                    r.mode
                ));
                println!("  failed: {errors:?}; daemon log of this run: {kept}");
            }
        }
        if let Ok(Some(st)) = running.child.try_wait() {
            bail!(
                "rr-daemon exited during the soak: {st}; log {}",
                running.log_path().display()
            );
        }
        // Every client's close is processed (above); the session tasks close their sockets just after. Wait
        // for the count to come back (a leak shows as growth in the samples below, not as a wait forever).
        let settle = Instant::now() + Duration::from_secs(10);
        while fds(pid).is_some_and(|n| n > own_fds) && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(s) = take(pid, start, true) {
            samples.lock().expect("samples").push(s);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let edits = editor
        .join()
        .map_err(|_| anyhow::anyhow!("editor panicked"))?
        .context("editing the datastore file")?;
    let samples = samples.lock().expect("samples").clone();

    if let Some(path) = &args.csv {
        let mut c = String::from("secs,rss_kib,peak_rss_kib,cpu_secs,fds,cycle_end\n");
        for s in &samples {
            let _ = writeln!(
                c,
                "{:.1},{},{},{:.2},{},{}",
                s.secs, s.rss_kib, s.peak_rss_kib, s.cpu_secs, s.fds, s.cycle_end
            );
        }
        std::fs::write(path, c).with_context(|| format!("writing {}", path.display()))?;
    }
    let ends: Vec<&Sample> = samples.iter().filter(|s| s.cycle_end).collect();
    println!(
        "\nsoak: {:.1} min, {cycles} cycles, {edits} datastore edits, {} failures",
        start.elapsed().as_secs_f64() / 60.0,
        failures.len()
    );
    for f in &failures {
        println!("  {f}");
    }
    println!("after each cycle (every client gone):");
    for s in &ends {
        println!(
            "  t={:7.0}s rss={:6} KiB fds={:3} cpu={:.1}s",
            s.secs, s.rss_kib, s.fds, s.cpu_secs
        );
    }
    if let (Some(first), Some(last)) = (ends.first(), ends.last()) {
        let peak = samples.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0);
        println!(
            "growth first -> last cycle end: rss {:+} KiB ({} -> {}), fds {:+} ({} -> {}); peak rss {} KiB",
            last.rss_kib as i64 - first.rss_kib as i64,
            first.rss_kib,
            last.rss_kib,
            last.fds as i64 - first.fds as i64,
            first.fds,
            last.fds,
            peak
        );
    }
    if !failures.is_empty() {
        bail!("{} cycles did not run cleanly", failures.len());
    }
    Ok(())
}
