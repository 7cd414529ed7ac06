//! The Calico BGP route reflector daemon.
//!
//! Start-up: parse the configuration ([`config`]), open the datastore, follow it into snapshots, and run the
//! tasks described in [`tasks`]: one engine task owning [`rr_core::Engine`], one reader and one writer per
//! BGP connection, the listeners, the datastore watcher ([`reconcile`]), the metrics/health endpoint and the
//! control API ([`http`]). SIGTERM/SIGINT stop it as `--shutdown-mode` says.

mod bmp;
mod check;
mod config;
mod http;
mod logging;
mod memory;
mod metrics;
mod mrt_dump;
mod mrt_updates;
mod policy;
mod reconcile;
mod router_id;
mod secrets;
mod sockopt;
mod tasks;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use datastore::{Datastore, Snapshot};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use crate::config::{Args, Config, DatastoreSettings};
use crate::tasks::{EngineCmd, EngineTask, Health};

fn main() -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    let args = match Args::parse_env_aware(std::env::args_os(), &env) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let check = args.check_config;
    let cfg = match Config::resolve(args, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rr-daemon: {e}");
            return ExitCode::from(2);
        }
    };
    let log = logging::init(cfg.log_format);
    if check {
        return check::run(cfg);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rr-daemon: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg, log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("rr-daemon: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) async fn open_datastore(cfg: &Config) -> anyhow::Result<Arc<dyn Datastore>> {
    Ok(match &cfg.datastore {
        DatastoreSettings::File(p) => Arc::new(
            datastore::FileDatastore::open(p)
                .with_context(|| format!("opening datastore file {}", p.display()))?,
        ),
        DatastoreSettings::Etcd(e) => {
            let mut c = datastore::etcd::EtcdConfig::new(e.endpoints.clone());
            c.tls.ca_file = e.ca_cert_file.clone();
            c.tls.cert_file = e.cert_file.clone();
            c.tls.key_file = e.key_file.clone();
            // Username and password (ETCD_USERNAME / ETCD_PASSWORD, CALICO_ prefix first) have no flag:
            // secrets stay out of the process's command line.
            if let Some(env) = datastore::etcd::EtcdConfig::from_lookup(|k| std::env::var(k).ok()) {
                c.username = env.username;
                c.password = env.password;
            }
            // Connecting lazily: an unreachable etcd at start-up is an outage, not a fatal error.
            Arc::new(datastore::etcd::EtcdBackend::new(c).context("etcd datastore")?)
        }
        DatastoreSettings::Kubernetes { kubeconfig } => {
            let mut k = datastore::kube::KubeConfig::from_env();
            if let Some(p) = kubeconfig {
                k.kubeconfig = Some(p.clone());
            }
            Arc::new(
                datastore::kube::KubeDatastore::connect(&k)
                    .await
                    .context("kubernetes datastore")?,
            )
        }
    })
}

async fn run(cfg: Config, log: Arc<logging::LogControl>) -> anyhow::Result<()> {
    let cfg = Arc::new(cfg);
    info!(
        version = metrics::VERSION,
        git_commit = metrics::GIT_COMMIT,
        "starting"
    );
    let store = open_datastore(&cfg).await?;

    let metrics = Arc::new(metrics::Metrics::default());
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let (health_tx, health_rx) = watch::channel(Health::default());
    let (tx, rx) = mpsc::channel::<EngineCmd>(1024);

    if let Some(addr) = cfg.metrics_addr {
        let bound = http::serve_tcp(addr, http::metrics_router(Arc::new(registry), health_rx))
            .await
            .with_context(|| format!("binding the metrics endpoint {addr} (--metrics-addr)"))?;
        info!(%bound, "metrics endpoint: /metrics /healthz /readyz");
    }
    let socket_id = http::serve_unix(
        &cfg.control_socket,
        http::control_router(tx.clone()).merge(logging::router(log.clone())),
    )
    .await
    .with_context(|| {
        format!(
            "binding the control socket {} (--control-socket)",
            cfg.control_socket.display()
        )
    })?;
    info!(socket = %cfg.control_socket.display(), "control API");
    if let Some(addr) = cfg.control_addr {
        let full = cfg
            .control_token_file
            .as_deref()
            .context("--control-addr needs --control-token-file")?;
        let tokens = http::Tokens::read(full, cfg.control_read_token_file.as_deref())?;
        let router = http::authenticated(
            http::control_router(tx.clone()).merge(logging::router(log.clone())),
            tokens,
        );
        let bound = http::serve_tcp(addr, router)
            .await
            .with_context(|| format!("binding the control address {addr} (--control-addr)"))?;
        info!(%bound, "control API on TCP (bearer token required)");
        if !addr.ip().is_loopback() {
            warn!(
                %bound,
                "the control API is reachable beyond loopback: anyone who can reach it and holds a token can \
                 reset sessions; prefer 127.0.0.1 or the unix socket"
            );
        }
    }

    let mut engine_task = EngineTask::new(
        tx.clone(),
        metrics.clone(),
        health_tx,
        cfg.write_queue_high,
        cfg.output_budget,
        cfg.batching,
        cfg.selection_deferral,
    );
    engine_task.set_socket_send_buffer(cfg.socket_send_buffer);
    // BMP collectors and the BGP4MP update log: tasks fed by the engine task, finished at shutdown.
    let mut monitors = Vec::new();
    let sys_name = cfg.nodename.clone().unwrap_or_else(|| "rr-daemon".to_string());
    for c in bmp::collectors(&cfg.bmp_collectors, &sys_name, cfg.bmp_stats_interval, &metrics) {
        let overflows = metrics
            .bmp_queue_overflows
            .get_or_create(&[("collector", c.target.clone())])
            .clone();
        let sink = engine_task.add_monitor_sink(tasks::monitor::SinkKind::Bmp, overflows);
        info!(collector = %c.target, "BMP export");
        monitors.push(tokio::spawn(bmp::run(c, sink, tx.clone())));
    }
    if let Some((dir, interval)) = cfg.mrt_updates.clone() {
        let sink = engine_task.add_monitor_sink(
            tasks::monitor::SinkKind::Mrt,
            metrics.mrt_update_records_dropped.clone(),
        );
        info!(dir = %dir.display(), interval_secs = interval.as_secs(), "BGP4MP update log");
        monitors.push(tokio::spawn(mrt_updates::run(dir, interval, sink)));
    }
    let (stop_tx, stop_rx) = oneshot::channel();
    let engine = tokio::spawn(engine_task.run(rx, stop_rx));

    if let Some((dir, interval)) = cfg.mrt_dump.clone() {
        info!(dir = %dir.display(), interval_secs = interval.as_secs(), "periodic MRT RIB dumps");
        tokio::spawn(mrt_dump::run(tx.clone(), dir, interval));
    }

    tokio::spawn(memory::run(memory::INTERVAL));

    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
    tokio::spawn(datastore::snapshot::follow(store.clone(), snap_tx));
    let secrets = secrets::Secrets::new(secrets::Source::from_config(&cfg).await);
    tokio::spawn(reconcile::run(
        cfg.clone(),
        snap_rx,
        secrets,
        tx.clone(),
        metrics,
        log,
    ));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT"),
    }
    let (done_tx, done_rx) = oneshot::channel();
    let stop = tasks::Stop {
        mode: cfg.shutdown_mode,
        done: done_tx,
    };
    if stop_tx.send(stop).is_ok() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), done_rx).await;
    }
    // Let the BMP collectors get their Termination and the update log its last records.
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        futures::future::join_all(monitors),
    )
    .await;
    http::remove_unix(&cfg.control_socket, socket_id);
    engine.abort();
    info!("stopped");
    Ok(())
}
