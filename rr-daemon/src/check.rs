//! `--check-config`: prints the resolved settings plainly, reads the datastore once, and prints the identity
//! and the sessions the daemon would have. Exits non-zero when the datastore cannot be read, holds records
//! that do not parse, or gives the daemon no identity.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use datastore::{Datastore, Snapshot, WatchEvent};
use futures::StreamExt as _;

use crate::config::{Config, DatastoreSettings};
use crate::reconcile;

/// How long to wait for the datastore's first full listing.
const LIST_TIMEOUT: Duration = Duration::from_secs(15);

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// The settings, one `name: value` line each.
pub(crate) fn settings(cfg: &Config) -> String {
    let mut s = String::new();
    let ds = match &cfg.datastore {
        DatastoreSettings::File(p) => format!("file {}", p.display()),
        DatastoreSettings::Etcd(e) => format!(
            "etcdv3 {} (tls: {})",
            e.endpoints.join(","),
            if e.ca_cert_file.is_some() { "yes" } else { "no" }
        ),
        DatastoreSettings::Kubernetes { kubeconfig } => match kubeconfig {
            Some(p) => format!("kubernetes {}", p.display()),
            None => "kubernetes (in-cluster)".to_string(),
        },
    };
    let rows: [(&str, String); 22] = [
        ("datastore", ds),
        ("nodename", opt(cfg.nodename.as_ref())),
        ("ip", opt(cfg.ip)),
        ("ip6", opt(cfg.ip6)),
        ("router id", opt(cfg.router_id)),
        ("cluster id", opt(cfg.cluster_id)),
        ("as", opt(cfg.asn)),
        ("listen port", opt(cfg.listen_port)),
        ("metrics", opt(cfg.metrics_addr)),
        ("control socket", cfg.control_socket.display().to_string()),
        ("control addr", opt(cfg.control_addr)),
        ("shutdown mode", cfg.shutdown_mode.to_string()),
        ("secrets dir", opt(cfg.secrets_dir.as_ref().map(|p| p.display()))),
        ("write queue high", format!("{} bytes", cfg.write_queue_high)),
        ("output budget", format!("{} bytes", cfg.output_budget)),
        (
            "socket send buffer",
            cfg.socket_send_buffer
                .map_or_else(|| "kernel default".to_string(), |n| format!("{n} bytes")),
        ),
        ("batch interval", format!("{} ms", cfg.batching.min.as_millis())),
        (
            "batch interval growth",
            if cfg.batching.per_connection.is_zero() {
                "none".to_string()
            } else {
                format!("{:?} per connection, at most 250 ms", cfg.batching.per_connection)
            },
        ),
        ("max prefixes", opt(cfg.max_prefixes)),
        (
            "mrt dump",
            cfg.mrt_dump.as_ref().map_or_else(
                || "off".to_string(),
                |(d, i)| format!("{} every {} s", d.display(), i.as_secs()),
            ),
        ),
        (
            "mrt updates",
            cfg.mrt_updates.as_ref().map_or_else(
                || "off".to_string(),
                |(d, i)| format!("{} (new file every {} s)", d.display(), i.as_secs()),
            ),
        ),
        (
            "bmp collectors",
            if cfg.bmp_collectors.is_empty() {
                "none".to_string()
            } else {
                format!(
                    "{} (statistics every {} s)",
                    cfg.bmp_collectors.join(", "),
                    cfg.bmp_stats_interval.as_secs()
                )
            },
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "{:<17} {v}", format!("{k}:"));
    }
    s
}

/// Reads the datastore once (first full listing, then whatever is already buffered).
async fn read_once(store: &dyn Datastore) -> anyhow::Result<Snapshot> {
    let mut stream = store.watch(None).await?;
    let mut snap = Snapshot::default();
    let mut listed = false;
    let deadline = tokio::time::Instant::now() + LIST_TIMEOUT;
    loop {
        let next = if listed {
            // After the listing, take only what is already there.
            match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
                Ok(n) => n,
                Err(_) => break,
            }
        } else {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(n) => n,
                Err(_) => anyhow::bail!("the datastore did not list within {}s", LIST_TIMEOUT.as_secs()),
            }
        };
        let Some(ev) = next else { break };
        let ev = ev?;
        listed |= matches!(ev, WatchEvent::Resync { .. });
        snap.apply(&ev);
    }
    Ok(snap)
}

/// Runs the check; prints to stdout, problems to stderr.
pub(crate) fn run(cfg: Config) -> ExitCode {
    print!("{}", settings(&cfg));
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rr-daemon: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = Arc::new(cfg);
    rt.block_on(async {
        let store = match crate::open_datastore(&cfg).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rr-daemon: datastore: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let snap = match read_once(&*store).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rr-daemon: datastore: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "datastore read:    {} nodes, {} bgppeers, {} bgpconfigurations, revision {}",
            snap.nodes.len(),
            snap.peers.len(),
            snap.configs.len(),
            snap.revision
        );
        let mut bad = !snap.invalid.is_empty();
        for r in &snap.invalid {
            eprintln!("rr-daemon: invalid datastore record: {r}");
        }
        let mut secrets = crate::secrets::Secrets::new(crate::secrets::Source::from_config(&cfg).await);
        match reconcile::desired(
            &cfg,
            &snap,
            &mut secrets,
            &mut reconcile::WarnOnce::default(),
            &mut Vec::new(),
        )
        .await
        {
            Some(d) => {
                let id = d.identity;
                println!("node:              {}", d.node_name);
                println!("router id:         {}", id.router_id);
                println!("cluster id:        {}", opt(id.cluster_id));
                println!("as:                {}", id.local_as);
                let ips: Vec<String> = d.listen_ips.iter().map(ToString::to_string).collect();
                println!("listen:            {} port {}", ips.join(","), d.listen_port);
                println!("peers:             {}", d.peers.len());
                let rows: Vec<Vec<String>> = d
                    .peers
                    .iter()
                    .map(|p| {
                        vec![
                            p.name.clone(),
                            p.addr.to_string(),
                            p.port.to_string(),
                            p.config.remote_as.to_string(),
                            p.role.to_string(),
                            p.origin.clone(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["NAME", "ADDRESS", "PORT", "ASN", "ROLE", "FROM"], &rows)
                );
            }
            None => {
                eprintln!("rr-daemon: the datastore gives this reflector no identity (see the error above)");
                bad = true;
            }
        }
        if bad { ExitCode::FAILURE } else { ExitCode::SUCCESS }
    })
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let mut out = String::new();
    for r in
        std::iter::once(header.iter().map(|s| s.to_string()).collect::<Vec<_>>()).chain(rows.iter().cloned())
    {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = w[i]))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}
