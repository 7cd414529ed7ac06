//! `rr-multi`: four `rr-daemon`s (two clusters of two, meshed) from one etcd under a stub-client load, each
//! client on both reflectors of its cluster; then one reflector killed and restarted.
//!
//! ```text
//! rr-multi --clients-per-cluster 500 --prefixes 2 --json multi.json
//! rr-multi --clients-per-cluster 2000 --prefixes 2 --restart 0 --progress 5
//! ```
//! Needs `etcd` (Debian `etcd-server`) and the `rr-daemon` binary (default: next to this executable). See
//! `benches::multi` and BENCHMARKS.md ("Four reflectors").

use anyhow::Context;
use benches::multi::{self, MultiConfig};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Four reflectors from one etcd, stub clients on both reflectors of their cluster.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Stub clients per cluster (two clusters).
    #[arg(long, default_value_t = 500)]
    clients_per_cluster: usize,
    /// /26 blocks announced by each client.
    #[arg(long, default_value_t = 2)]
    prefixes: usize,
    /// Reflector (0..3) to kill and restart after convergence; `none` to skip.
    #[arg(long, default_value = "0")]
    restart: String,
    /// AS of everything.
    #[arg(long, default_value_t = 64512)]
    asn: u32,
    /// Hold time the clients propose.
    #[arg(long, default_value_t = 240)]
    hold_time: u16,
    /// Give up on each phase after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// Sessions in connect + OPEN exchange at once.
    #[arg(long, default_value_t = 32)]
    connect_concurrency: usize,
    /// Tokio worker threads of the clients.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print progress to stderr every this many seconds.
    #[arg(long)]
    progress: Option<f64>,
    /// The rr-daemon binary (default: next to this executable).
    #[arg(long)]
    daemon: Option<String>,
    /// Extra arguments for every rr-daemon.
    #[arg(long, allow_hyphen_values = true)]
    daemon_arg: Vec<String>,
    /// The etcd binary.
    #[arg(long, default_value = "etcd")]
    etcd: String,
    /// Keep etcd's data and the daemons' logs (the path is printed).
    #[arg(long)]
    keep: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    benches::load::raise_fd_limit();
    let restart = match args.restart.as_str() {
        "none" => None,
        r => Some(
            r.parse::<usize>()
                .context("--restart: a reflector index or none")?,
        ),
    };
    let cfg = MultiConfig {
        clusters: 2,
        clients_per_cluster: args.clients_per_cluster,
        prefixes: args.prefixes,
        asn: args.asn,
        hold_time: args.hold_time,
        daemon: benches::cli::daemon_path(args.daemon.as_deref()),
        daemon_args: args.daemon_arg.clone(),
        etcd: args.etcd.clone(),
        restart,
        timeout: Duration::from_secs_f64(args.timeout.max(1.0)),
        connect_concurrency: args.connect_concurrency,
        threads: args.threads,
        progress: args.progress.map(Duration::from_secs_f64),
    };
    cfg.plan().map_err(anyhow::Error::msg)?;
    let dir = tempfile::Builder::new().prefix("rr-multi.").tempdir()?;
    let rt = benches::cli::runtime(cfg.threads)?;
    let report = rt
        .block_on(multi::run(cfg, dir.path()))
        .map_err(anyhow::Error::msg)?;
    print!("{}", report.to_text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.keep {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    }
    let failed = report.converged_secs.is_none()
        || report.own_prefixes > 0
        || report.bad_next_hop > 0
        || report.unknown_prefixes > 0
        || report
            .restart
            .as_ref()
            .is_some_and(|r| r.route_losses > 0 || r.full_again_secs.is_none());
    if failed {
        anyhow::bail!("the run did not converge or lost routes (see above)");
    }
    Ok(())
}
