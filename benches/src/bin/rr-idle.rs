//! `rr-idle`: an idle `rr-daemon` configured for N Calico nodes that are all down.
//!
//! ```text
//! rr-idle --clients 20000 --warmup 30 --window 60
//! ```
//! Starts the daemon from a generated datastore file (the `rr-compare` topology: one reflector Node, the
//! documented `peer-with-route-reflectors` BGPPeer, N client Nodes at 127.0.x.y where nothing listens),
//! waits `--warmup` seconds, samples its CPU time and memory over `--window` seconds, then adds a Node whose
//! address has a listener and reports how long the reflector takes to connect to it.

use anyhow::Context;
use benches::bird::{ReflectorSetup, calico_yaml, free_port, start_daemon};
use benches::idle::IdleReport;
use benches::plan::{Plan, client_addr};
use benches::procstat;
use clap::Parser;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Idle reflector with absent clients: CPU, memory, and how fast a new node is picked up.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configured client Nodes (none of them up).
    #[arg(long, default_value_t = 20_000)]
    clients: usize,
    /// Seconds to let the reflector settle before sampling.
    #[arg(long, default_value_t = 30.0)]
    warmup: f64,
    /// Seconds of sampling.
    #[arg(long, default_value_t = 60.0)]
    window: f64,
    /// Seconds to wait for the reflector to connect to the new node.
    #[arg(long, default_value_t = 10.0)]
    deadline: f64,
    /// AS of the reflector and its clients.
    #[arg(long, default_value_t = 64512)]
    asn: u32,
    /// The rr-daemon binary (default: next to this executable).
    #[arg(long)]
    daemon: Option<String>,
    /// Extra arguments for rr-daemon.
    #[arg(long, allow_hyphen_values = true)]
    daemon_arg: Vec<String>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    benches::load::raise_fd_limit();
    let daemon = benches::cli::daemon_path(args.daemon.as_deref());
    // The plan's extra client is the new node: configured only after the window.
    let plan = Plan::new(args.clients, 1).map_err(anyhow::Error::msg)?;
    let grown = Plan::new(args.clients + 1, 1).map_err(anyhow::Error::msg)?;
    let mut setup = ReflectorSetup {
        plan,
        asn: args.asn,
        port: free_port()?,
        add_path: false,
        hold_time: 240,
        nice: None,
    };
    let r = start_daemon(&setup, &daemon, &args.daemon_arg).map_err(anyhow::Error::msg)?;
    let pid = r.pid();
    std::thread::sleep(Duration::from_secs_f64(args.warmup.max(0.0)));
    let start = procstat::sample(pid).context("reflector exited during the warm-up")?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.window.max(0.1)));
    let end = procstat::sample(pid).context("reflector exited during the window")?;
    let mut report =
        IdleReport::from_samples(args.clients, args.warmup, start, end, t0.elapsed().as_secs_f64());

    // The new node: listen where the reflector will connect, then add its Node (temporary file + rename,
    // as an editor or `rr-cli apply` would).
    let addr = client_addr(args.clients);
    let listener = TcpListener::bind((addr, setup.port)).with_context(|| format!("binding {addr}"))?;
    listener.set_nonblocking(true)?;
    setup.plan = grown;
    let file = r.dir.path().join("calico.yaml");
    let tmp = r.dir.path().join("calico.yaml.new");
    std::fs::write(&tmp, calico_yaml(&setup, "rr-0"))?;
    let written = Instant::now();
    std::fs::rename(&tmp, &file)?;
    let deadline = written + Duration::from_secs_f64(args.deadline.max(0.1));
    report.new_node_connect_secs = loop {
        match listener.accept() {
            Ok(_) => break Some(written.elapsed().as_secs_f64()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e).context("accepting the reflector's connection"),
        }
    };
    print!("{}", report.to_text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
