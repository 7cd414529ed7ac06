//! BMP export (RFC 7854): one task per `--bmp-collector HOST:PORT`.
//!
//! RFC 7854 section 3.2: "the monitored router ... initiates a TCP connection to the monitoring station".
//! The task connects, sends an Initiation (sysName, sysDescr with the version), attaches to the engine task
//! ([`crate::tasks::monitor`]), which queues a Peer Up for every established session and the live stream of
//! Peer Up / Peer Down / Route Monitoring, and walks the table page by page: each page is the pre-policy
//! Adj-RIB-In of a peer (and post-policy, L flag, for a peer with an import policy). Every
//! `--bmp-stats-interval` a Statistics Report per peer; at shutdown a Termination.
//!
//! A connection that fails or ends is retried after a growing, jittered, capped delay (1 s doubling to 60 s,
//! ±25 %, back to 1 s once a connection lasted a minute). A collector that does not keep up fills its
//! bounded queue: the engine task detaches it (counted in `calico_rr_bmp_queue_overflows_total`), this task
//! drops the connection and reconnects, and the collector is re-synchronised from the table. The collector
//! is not expected to send anything ("the monitoring station MUST NOT send" messages other than
//! Route Mirroring requests, which this daemon does not support); what it sends is read and discarded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bgp_wire::bmp::{BmpMessage, InfoTlv, PerPeerHeader, peer_type, term_reason};
use bytes::{Bytes, BytesMut};
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::tasks::EngineCmd;
use crate::tasks::monitor::{MonItem, MonitorCmd, PeerMeta, SinkHandle};

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A connection that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Items written in one go.
const WRITE_BATCH: usize = 256;

/// One collector's settings.
pub(crate) struct Collector {
    /// `HOST:PORT` as configured (resolved at every attempt).
    pub target: String,
    /// sysName of the Initiation.
    pub sys_name: String,
    /// Seconds between Statistics Reports.
    pub stats_interval: Duration,
    /// 1 while connected.
    pub up: Gauge,
}

/// Why a connection ended.
enum End {
    /// The daemon stops (Termination sent).
    Terminated,
    /// The engine task is gone.
    EngineGone,
    /// Connection lost, or detached for a full queue.
    Lost(String),
}

/// Runs until the daemon stops.
pub(crate) async fn run(c: Collector, mut sink: SinkHandle, tx: mpsc::Sender<EngineCmd>) {
    let mut backoff = BACKOFF_MIN;
    let mut epoch = 0u64;
    loop {
        let started = tokio::time::Instant::now();
        match connect(&c.target).await {
            Ok(stream) => {
                epoch += 1;
                info!(collector = %c.target, "BMP collector connected");
                c.up.set(1);
                let end = session(&c, stream, &mut sink, &tx, epoch).await;
                c.up.set(0);
                let _ = tx
                    .send(EngineCmd::Monitor(MonitorCmd::Detach { sink: sink.index }))
                    .await;
                match end {
                    End::Terminated | End::EngineGone => return,
                    End::Lost(why) => {
                        warn!(collector = %c.target, reason = %why, "BMP collector connection ended")
                    }
                }
                // Whatever the engine queued before it saw the detach is stale now; the items of the next
                // attachment follow its own `Attached` marker.
                while sink.rx.try_recv().is_ok() {}
                if started.elapsed() >= STABLE {
                    backoff = BACKOFF_MIN;
                }
            }
            Err(e) => debug!(collector = %c.target, error = %e, "BMP collector connect failed"),
        }
        if tx.is_closed() {
            return;
        }
        let delay = jitter(backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
        // Items queued while detached: only a Terminate can come (the engine sends nothing else to a detached
        // sink); stop at once then.
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            item = sink.rx.recv() => match item {
                Some(MonItem::Terminate) | None => return,
                Some(_) => {}
            },
        }
    }
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::random_range(0.75..1.25))
}

async fn connect(target: &str) -> std::io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(target).await?.collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
        }
    }
    Err(last)
}

/// One connection: Initiation, attach, then the queue's items until the connection ends.
async fn session(
    c: &Collector,
    stream: TcpStream,
    sink: &mut SinkHandle,
    tx: &mpsc::Sender<EngineCmd>,
    epoch: u64,
) -> End {
    let (mut rd, mut wr) = stream.into_split();
    let descr = format!(
        "calico route reflector rr-daemon {} (git {})",
        crate::metrics::VERSION,
        crate::metrics::GIT_COMMIT
    );
    // RFC 7854 section 4.3: "The initiation message MUST contain sysDescr and sysName."
    let init = BmpMessage::Initiation(vec![InfoTlv::sys_name(&c.sys_name), InfoTlv::sys_descr(&descr)]);
    let mut buf = BytesMut::new();
    if init.encode(&mut buf).is_err() {
        return End::Lost("encoding the Initiation".into());
    }
    if let Err(e) = wr.write_all(&buf).await {
        return End::Lost(e.to_string());
    }
    // Detached until the attach below: nothing can overflow meanwhile, so an old signal is dropped here.
    sink.overflowed.flag.store(false, Ordering::Release);
    let _ = futures::FutureExt::now_or_never(sink.overflowed.notify.notified());
    if tx
        .send(EngineCmd::Monitor(MonitorCmd::Attach {
            sink: sink.index,
            epoch,
        }))
        .await
        .is_err()
    {
        return End::EngineGone;
    }
    let mut attached = false;
    let mut stats = tokio::time::interval(c.stats_interval);
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stats.tick().await;
    let mut sink_buf = [0u8; 1024];
    loop {
        let mut batch = Vec::new();
        tokio::select! {
            item = sink.rx.recv() => match item {
                Some(i) => batch.push(i),
                None => return End::EngineGone,
            },
            _ = stats.tick() => {
                if attached && tx.send(EngineCmd::Monitor(MonitorCmd::Stats { sink: sink.index })).await.is_err() {
                    return End::EngineGone;
                }
                continue;
            }
            _ = sink.overflowed.notify.notified() => {}
            r = rd.read(&mut sink_buf) => match r {
                Ok(0) => return End::Lost("closed by the collector".into()),
                Err(e) => return End::Lost(e.to_string()),
                Ok(_) => continue,
            },
        }
        if sink.overflowed.flag.load(Ordering::Acquire) {
            return End::Lost("the collector did not keep up: queue full, re-synchronising".into());
        }
        while batch.len() < WRITE_BATCH {
            match sink.rx.try_recv() {
                Ok(i) => batch.push(i),
                Err(_) => break,
            }
        }
        buf.clear();
        let mut terminate = false;
        for item in batch {
            match item {
                MonItem::Attached { epoch: e } => attached = e == epoch,
                _ if !attached => {}
                MonItem::PageEnd { next } => {
                    if let Some(cursor) = next
                        && tx
                            .send(EngineCmd::Monitor(MonitorCmd::Page {
                                sink: sink.index,
                                cursor: Some(cursor),
                            }))
                            .await
                            .is_err()
                    {
                        return End::EngineGone;
                    }
                }
                MonItem::Terminate => {
                    terminate = true;
                    break;
                }
                item => encode(&item, &mut buf),
            }
        }
        if terminate {
            let t = BmpMessage::Termination(vec![InfoTlv::termination_reason(term_reason::ADMIN_CLOSE)]);
            let _ = t.encode(&mut buf);
        }
        if !buf.is_empty() {
            // A collector that stops reading blocks this write; the engine then fills the queue and says so.
            let mut write = std::pin::pin!(wr.write_all(&buf));
            loop {
                tokio::select! {
                    r = &mut write => match r {
                        Ok(()) => break,
                        Err(e) => return End::Lost(e.to_string()),
                    },
                    _ = sink.overflowed.notify.notified() => {
                        if sink.overflowed.flag.load(Ordering::Acquire) {
                            return End::Lost("the collector did not keep up: queue full, re-synchronising".into());
                        }
                    }
                }
            }
        }
        if terminate {
            let _ = wr.shutdown().await;
            info!(collector = %c.target, "BMP Termination sent");
            return End::Terminated;
        }
    }
}

fn header(peer: &PeerMeta, post_policy: bool, legacy_as_path: bool, at: Option<SystemTime>) -> PerPeerHeader {
    let (secs, micros) = at
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or((0, 0), |d| {
            (u32::try_from(d.as_secs()).unwrap_or(u32::MAX), d.subsec_micros())
        });
    PerPeerHeader {
        peer_type: peer_type::GLOBAL,
        post_policy,
        legacy_as_path,
        distinguisher: 0,
        address: peer.addr,
        asn: peer.asn,
        bgp_id: peer.bgp_id,
        timestamp_secs: secs,
        timestamp_micros: micros,
    }
}

fn route_monitoring(
    peer: &PeerMeta,
    post: bool,
    legacy: bool,
    at: Option<SystemTime>,
    update: &Bytes,
) -> BmpMessage {
    BmpMessage::RouteMonitoring {
        peer: header(peer, post, legacy, at),
        update: update.clone(),
    }
}

/// Appends the BMP messages of one item.
fn encode(item: &MonItem, out: &mut BytesMut) {
    let mut msgs = Vec::new();
    match item {
        MonItem::PeerUp {
            peer,
            sent_open,
            received_open,
            at,
        } => msgs.push(BmpMessage::PeerUp {
            peer: header(peer, false, !peer.as4, Some(*at)),
            local_address: peer.local.ip(),
            local_port: peer.local.port(),
            remote_port: peer.remote.port(),
            sent_open: sent_open.clone(),
            received_open: received_open.clone(),
            info: Vec::new(),
        }),
        MonItem::PeerDown { peer, reason, at } => msgs.push(BmpMessage::PeerDown {
            peer: header(peer, false, !peer.as4, Some(*at)),
            reason: reason.clone(),
        }),
        MonItem::Update {
            peer,
            frame,
            post,
            at,
        } => {
            // The frame as received: 2-octet AS numbers when the session did not negotiate 4-octet ones.
            msgs.push(route_monitoring(peer, false, !peer.as4, Some(*at), frame));
            msgs.extend(
                post.iter()
                    .map(|u| route_monitoring(peer, true, false, Some(*at), u)),
            );
        }
        MonItem::Dump { peer, pre, post } => {
            msgs.extend(pre.iter().map(|u| route_monitoring(peer, false, false, None, u)));
            msgs.extend(post.iter().map(|u| route_monitoring(peer, true, false, None, u)));
        }
        MonItem::Stats { peer, stats } => msgs.push(BmpMessage::StatisticsReport {
            peer: header(peer, false, !peer.as4, Some(SystemTime::now())),
            stats: stats.clone(),
        }),
        MonItem::Attached { .. } | MonItem::PageEnd { .. } | MonItem::Terminate => {}
    }
    for m in msgs {
        if let Err(e) = m.encode(out) {
            warn!(error = %e, "BMP message not encoded");
        }
    }
}

/// The collectors' shared settings from the configuration.
pub(crate) fn collectors(
    targets: &[String],
    sys_name: &str,
    stats_interval: Duration,
    metrics: &Arc<crate::metrics::Metrics>,
) -> Vec<Collector> {
    targets
        .iter()
        .map(|t| Collector {
            target: t.clone(),
            sys_name: sys_name.to_string(),
            stats_interval,
            up: metrics
                .bmp_collector_up
                .get_or_create(&[("collector", t.clone())])
                .clone(),
        })
        .collect()
}
