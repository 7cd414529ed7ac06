//! `rr-load`: N iBGP client sessions from 127.0.x.y against a route reflector that is already running.
//!
//! ```text
//! rr-load --target 127.0.0.1:179 --pid $(pidof bird) --clients 100 --prefixes 1000 converge
//! rr-load --clients 500 --prefixes 20 churn --rate 1000 --duration 20
//! rr-load --clients 100 --prefixes 100 flap --rounds 5
//! ```
//! Prints a human summary on stdout and, with `--json FILE`, the report as JSON.

use anyhow::Context;
use benches::cli::{ModeCmd, Workload};
use benches::load::{self, LoadConfig};
use benches::plan::Plan;
use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;

/// N iBGP clients against a running route reflector.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Reflector address and port.
    #[arg(long, default_value = "127.0.0.1:179")]
    target: SocketAddr,
    /// Reflector process id, for CPU seconds and peak RSS from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Label used in the report.
    #[arg(long, default_value = "reflector")]
    label: String,
    /// Number of client sessions.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Prefixes announced by each client.
    #[arg(long, default_value_t = 1000)]
    prefixes: usize,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    #[command(flatten)]
    workload: Workload,
    #[command(subcommand)]
    mode: Option<ModeCmd>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    load::raise_fd_limit();
    let plan = Plan::new(args.clients, args.prefixes)
        .and_then(|p| p.with_next_hop_base(args.workload.next_hop_base))
        .map_err(anyhow::Error::msg)?;
    let w = &args.workload;
    let cfg = LoadConfig {
        label: args.label.clone(),
        target: args.target,
        plan,
        asn: w.asn,
        local_pref: w.local_pref,
        hold_time: w.hold_time,
        add_path: w.add_path,
        reflector_pid: args.pid,
        timeout: Duration::from_secs_f64(w.timeout.max(0.1)),
        connect_concurrency: w.connect_concurrency,
        mode: args.mode.unwrap_or(ModeCmd::Converge).mode(),
        progress: w.progress.map(Duration::from_secs_f64),
    };
    let report = benches::cli::runtime(w.threads)?.block_on(load::run(cfg));
    print!("{}", report.to_text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if report.converged_secs.is_none() {
        anyhow::bail!("did not converge");
    }
    Ok(())
}
