//! Several reflectors under load, as Calico runs them: one etcd, four `rr-daemon`s in two clusters of two
//! (meshed), and stub clients each on both reflectors of its cluster.
//!
//! ```text
//!  etcd (127.0.0.1, free ports) ◄── seeded with Calico resources through datastore::etcd
//!    │ watched by
//!    ▼
//!  rr-0 127.0.0.1 ─┐ cluster 244.0.0.1      rr-2 127.0.0.3 ─┐ cluster 244.0.0.2
//!  rr-1 127.0.0.2 ─┘        full mesh between all four       rr-3 127.0.0.4 ─┘
//!    ▲ both                                                    ▲ both
//!  clients i % 2 == 0 (127.0.x.y)                            clients i % 2 == 1
//! ```
//!
//! The datastore holds what an operator would write with calicoctl: a BGPConfiguration (mesh off, AS,
//! listen port), four reflector Nodes labelled `route-reflector: "true"` and `rr-group: "0"|"1"` with
//! `routeReflectorClusterID`, one Node per client labelled with its group, the BGPPeers
//! `peer-with-route-reflectors-0` and `-1` (nodes of a group with the reflectors of that group) and
//! `route-reflector-mesh` (every reflector with every other). The daemons compute their sessions from it
//! (`datastore::peering`: clients of their cluster as route-reflector clients, the partner as a non-client,
//! the other cluster's reflectors as clients of each other, as calico-node does).
//!
//! Each client opens one session to each reflector of its cluster (like BIRD on a Calico node), announces
//! its P /26 blocks on both, and tracks per session which blocks it received, and which blocks it holds
//! from at least one session (what the node's routing table holds). Converged: every client holds every
//! other client's blocks. Full: every session has delivered all of them.
//!
//! The restart phase kills one reflector (SIGKILL), starts it again with the same configuration and waits
//! until all its sessions are back and full. Meanwhile every client must keep every route through the
//! other reflector of its cluster: every time a client's routes fall below the full set is counted
//! ([`RestartReport::route_losses`], must be 0).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use datastore::Kind;
use datastore::etcd::{EtcdBackend, EtcdConfig};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream as TokioStream};
use tokio::sync::{Semaphore, watch};

use crate::bits::Bits;
use crate::plan::{PREFIX_LEN, Plan};
use crate::procstat::{self, ProcSample};
use crate::wire::{self, Announce, OpenParams};

/// Reflectors per cluster (Calico's recommendation: two).
pub const PER_CLUSTER: usize = 2;

/// Address of reflector `r`: `127.0.0.(1 + r)` (clients use 127.0.1.1 and up, see [`crate::plan`]).
pub fn reflector_addr(r: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + r as u8)
}

/// Cluster id of cluster `c`.
pub fn cluster_id(c: usize) -> Ipv4Addr {
    Ipv4Addr::new(244, 0, 0, 1 + c as u8)
}

/// Cluster of client `i`.
pub fn cluster_of(i: usize, clusters: usize) -> usize {
    i % clusters
}

/// Everything one multi-reflector run needs.
#[derive(Debug, Clone)]
pub struct MultiConfig {
    /// Clusters of two reflectors.
    pub clusters: usize,
    /// Stub clients per cluster.
    pub clients_per_cluster: usize,
    /// Blocks announced by each client.
    pub prefixes: usize,
    /// AS of everything (iBGP).
    pub asn: u32,
    /// Hold time the clients propose.
    pub hold_time: u16,
    /// The rr-daemon binary.
    pub daemon: String,
    /// Extra rr-daemon arguments.
    pub daemon_args: Vec<String>,
    /// The etcd binary.
    pub etcd: String,
    /// Reflector to kill and restart after convergence (`None`: no restart phase).
    pub restart: Option<usize>,
    /// Give up on each wait after this long.
    pub timeout: Duration,
    /// Sessions in connect + OPEN exchange at once.
    pub connect_concurrency: usize,
    /// Tokio worker threads of the clients.
    pub threads: usize,
    /// Print progress to stderr this often.
    pub progress: Option<Duration>,
}

impl MultiConfig {
    /// The numbering plan of all clients (client `i` in cluster `i % clusters`).
    pub fn plan(&self) -> Result<Plan, String> {
        Plan::new(self.clusters * self.clients_per_cluster, self.prefixes)
    }

    /// Number of reflectors.
    pub fn reflectors(&self) -> usize {
        self.clusters * PER_CLUSTER
    }

    /// The reflectors client `i` peers with.
    pub fn reflectors_of(&self, i: usize) -> [usize; PER_CLUSTER] {
        let c = cluster_of(i, self.clusters);
        [c * PER_CLUSTER, c * PER_CLUSTER + 1]
    }
}

/// The Calico resources of the topology as (kind, name, JSON as calicoctl stores it in etcd).
pub fn resources(cfg: &MultiConfig, port: u16) -> Result<Vec<(Kind, String, String)>, String> {
    let plan = cfg.plan()?;
    let mut out = Vec::new();
    out.push((
        Kind::BgpConfiguration,
        "default".to_string(),
        format!(
            r#"{{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{{"name":"default"}},"spec":{{"nodeToNodeMeshEnabled":false,"asNumber":{},"listenPort":{port},"bindMode":"NodeIP"}}}}"#,
            cfg.asn
        ),
    ));
    let node = |name: &str, ip: Ipv4Addr, group: usize, cid: Option<Ipv4Addr>| {
        let (rr_label, rr_spec) = match cid {
            Some(c) => (
                r#""route-reflector":"true","#.to_string(),
                format!(r#","routeReflectorClusterID":"{c}""#),
            ),
            None => (String::new(), String::new()),
        };
        format!(
            r#"{{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}","labels":{{{rr_label}"rr-group":"{group}"}}}},"spec":{{"bgp":{{"ipv4Address":"{ip}/32","asNumber":{}{rr_spec}}}}}}}"#,
            cfg.asn
        )
    };
    for r in 0..cfg.reflectors() {
        let name = format!("rr-{r}");
        let c = r / PER_CLUSTER;
        out.push((
            Kind::Node,
            name.clone(),
            node(&name, reflector_addr(r), c, Some(cluster_id(c))),
        ));
    }
    for i in 0..plan.clients {
        let name = format!("node-{i}");
        let c = cluster_of(i, cfg.clusters);
        out.push((
            Kind::Node,
            name.clone(),
            node(&name, plan.client_addr(i), c, None),
        ));
    }
    let peer = |name: &str, nodes: &str, peers: &str| {
        format!(
            r#"{{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}"}},"spec":{{"nodeSelector":"{nodes}","peerSelector":"{peers}"}}}}"#
        )
    };
    for c in 0..cfg.clusters {
        let name = format!("peer-with-route-reflectors-{c}");
        let sel = format!("rr-group == '{c}' && !has(route-reflector)");
        let rrs = format!("route-reflector == 'true' && rr-group == '{c}'");
        out.push((Kind::BgpPeer, name.clone(), peer(&name, &sel, &rrs)));
    }
    out.push((
        Kind::BgpPeer,
        "route-reflector-mesh".to_string(),
        peer(
            "route-reflector-mesh",
            "route-reflector == 'true'",
            "route-reflector == 'true'",
        ),
    ));
    Ok(out)
}

/// A child process killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    /// What it is.
    pub label: String,
    /// The process.
    pub child: Child,
}

impl Proc {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(format!("{} exited: {st}", self.label)),
            _ => None,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}

/// A single-member etcd on 127.0.0.1 with a temporary data directory.
pub fn start_etcd(etcd: &str, dir: &std::path::Path) -> Result<(Proc, String), String> {
    let client = format!("http://127.0.0.1:{}", free_port()?);
    let peer = format!("http://127.0.0.1:{}", free_port()?);
    let log = std::fs::File::create(dir.join("etcd.log")).map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(etcd)
        // etcd reads ETCD_* variables as flags: a clean environment.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--name=default")
        .arg(format!("--data-dir={}", dir.join("etcd-data").display()))
        .arg(format!("--listen-client-urls={client}"))
        .arg(format!("--advertise-client-urls={client}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=default={peer}"))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {etcd}: {e} (Debian package etcd-server)"))?;
    Ok((
        Proc {
            label: "etcd".into(),
            child,
        },
        client,
    ))
}

/// Writes the resources into etcd (waiting up to `timeout` for it to answer).
pub async fn seed(endpoint: &str, res: &[(Kind, String, String)], timeout: Duration) -> Result<(), String> {
    let backend = EtcdBackend::new(EtcdConfig::new([endpoint.to_string()])).map_err(|e| e.to_string())?;
    let t = Instant::now();
    while let Err(e) = backend.probe().await {
        if t.elapsed() > timeout {
            return Err(format!("etcd at {endpoint} not answering: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Several writes in flight: one connection, pipelined by the client.
    let mut pending = tokio::task::JoinSet::new();
    for (kind, name, json) in res.iter().cloned() {
        let b = backend.clone();
        pending.spawn(async move {
            b.create_raw(kind, &name, json.into_bytes())
                .await
                .map_err(|e| format!("{name}: {e}"))
        });
        if pending.len() >= 64
            && let Some(r) = pending.join_next().await
        {
            r.map_err(|e| e.to_string())??;
        }
    }
    while let Some(r) = pending.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// One rr-daemon of the run.
#[derive(Debug)]
pub struct Reflector {
    /// Index (node `rr-{index}`).
    pub index: usize,
    /// Its process.
    pub proc: Proc,
    metrics: SocketAddr,
    dir: PathBuf,
    endpoint: String,
    daemon: String,
    args: Vec<String>,
}

impl Reflector {
    /// Starts `rr-{index}` on the etcd datastore, as the container would be configured.
    pub fn start(
        index: usize,
        daemon: &str,
        args: &[String],
        endpoint: &str,
        dir: &std::path::Path,
    ) -> Result<Reflector, String> {
        let metrics = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port()?);
        let mut r = Reflector {
            index,
            proc: spawn_daemon(index, daemon, args, endpoint, dir, metrics, 0)?,
            metrics,
            dir: dir.to_path_buf(),
            endpoint: endpoint.to_string(),
            daemon: daemon.to_string(),
            args: args.to_vec(),
        };
        r.proc.label = format!("rr-{index}");
        Ok(r)
    }

    /// Kills it (SIGKILL: no NOTIFICATION, sockets reset by the kernel) and starts it again with the same
    /// configuration; the log of the new run goes to a new file.
    pub fn restart(&mut self) -> Result<(), String> {
        self.proc.kill();
        self.metrics = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port()?);
        self.proc = spawn_daemon(
            self.index,
            &self.daemon,
            &self.args,
            &self.endpoint,
            &self.dir,
            self.metrics,
            1,
        )?;
        self.proc.label = format!("rr-{}", self.index);
        Ok(())
    }

    /// Kills it.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Whether `/readyz` answers 200 (datastore read, BGP listener bound); an error if the process exited.
    pub fn ready_now(&mut self) -> Result<bool, String> {
        if let Some(e) = self.proc.exited() {
            return Err(format!("{e}; logs in {}", self.dir.display()));
        }
        Ok(http_ok(self.metrics, "/readyz"))
    }

    /// Waits until [`Reflector::ready_now`].
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, String> {
        let t = Instant::now();
        while !self.ready_now()? {
            if t.elapsed() > timeout {
                return Err(format!(
                    "rr-{} not ready after {timeout:?}; logs in {}",
                    self.index,
                    self.dir.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(t.elapsed())
    }

    /// CPU time and memory from /proc.
    pub fn sample(&self) -> Option<ProcSample> {
        procstat::sample(self.proc.pid())
    }
}

fn spawn_daemon(
    index: usize,
    daemon: &str,
    args: &[String],
    endpoint: &str,
    dir: &std::path::Path,
    metrics: SocketAddr,
    run: u32,
) -> Result<Proc, String> {
    let log = std::fs::File::create(dir.join(format!("rr-{index}.{run}.log"))).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(daemon);
    for var in [
        "IP",
        "IP6",
        "NODENAME",
        "DATASTORE_TYPE",
        "ETCD_ENDPOINTS",
        "KUBECONFIG",
    ] {
        cmd.env_remove(var).env_remove(format!("CALICO_{var}"));
    }
    let child = cmd
        .env("DATASTORE_TYPE", "etcdv3")
        .env("ETCD_ENDPOINTS", endpoint)
        .env("NODENAME", format!("rr-{index}"))
        .env("IP", reflector_addr(index).to_string())
        .arg("--control-socket")
        .arg(dir.join(format!("rr-{index}.sock")))
        .arg("--metrics-addr")
        .arg(metrics.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot run {daemon}: {e}"))?;
    Ok(Proc {
        label: format!("rr-{index}"),
        child,
    })
}

/// A plain HTTP/1.1 GET; true on a 200 answer.
fn http_ok(addr: SocketAddr, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET {path} HTTP/1.1\r\nHost: rr\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Counters shared by every client session and the monitor.
#[derive(Debug, Default)]
pub struct Shared {
    /// Sessions established now.
    pub established: AtomicUsize,
    /// Clients holding every other client's blocks (from at least one session).
    pub complete: AtomicUsize,
    /// Sessions that delivered every other client's blocks.
    pub full_sessions: AtomicUsize,
    /// After this is set, a client falling below the full set counts as a route loss.
    pub armed: AtomicBool,
    /// Route losses (see [`RestartReport::route_losses`]).
    pub route_losses: AtomicU64,
    /// Sessions that ended without being asked to.
    pub session_losses: AtomicU64,
    /// A client's own block reflected back to it.
    pub own: AtomicU64,
    /// NEXT_HOP other than the originating client.
    pub bad_next_hop: AtomicU64,
    /// Prefixes outside the plan.
    pub unknown: AtomicU64,
    /// UPDATEs received.
    pub updates: AtomicU64,
    /// The first few errors.
    pub errors: Mutex<Vec<String>>,
}

impl Shared {
    fn note(&self, e: String) {
        if let Ok(mut v) = self.errors.lock()
            && v.len() < 8
        {
            v.push(e);
        }
    }
}

/// What one client holds, from each of its two sessions and in all.
#[derive(Debug)]
pub struct Held {
    me: usize,
    expected: usize,
    bits: [Bits; PER_CLUSTER],
    count: [usize; PER_CLUSTER],
    /// Sessions holding each block (0..=2).
    refs: Vec<u8>,
    union: usize,
}

impl Held {
    /// Nothing held yet; `total` blocks in the plan, `expected` of them from others.
    pub fn new(me: usize, total: usize, expected: usize) -> Held {
        Held {
            me,
            expected,
            bits: [Bits::new(total), Bits::new(total)],
            count: [0; PER_CLUSTER],
            refs: vec![0; total],
            union: 0,
        }
    }

    /// Blocks held from at least one session.
    pub fn union(&self) -> usize {
        self.union
    }

    /// Session `k` announced block `g`.
    pub fn announce(&mut self, sh: &Shared, k: usize, g: usize) {
        if !self.bits[k].insert(g) {
            return;
        }
        self.count[k] += 1;
        if self.count[k] == self.expected {
            sh.full_sessions.fetch_add(1, Relaxed);
        }
        self.refs[g] += 1;
        if self.refs[g] == 1 {
            self.union += 1;
            if self.union == self.expected {
                sh.complete.fetch_add(1, Relaxed);
            }
        }
    }

    /// Session `k` withdrew block `g` (or went down while holding it).
    pub fn withdraw(&mut self, sh: &Shared, k: usize, g: usize) {
        if !self.bits[k].remove(g) {
            return;
        }
        if self.count[k] == self.expected {
            sh.full_sessions.fetch_sub(1, Relaxed);
        }
        self.count[k] -= 1;
        self.refs[g] -= 1;
        if self.refs[g] == 0 {
            if self.union == self.expected {
                sh.complete.fetch_sub(1, Relaxed);
                if sh.armed.load(Relaxed) {
                    sh.route_losses.fetch_add(1, Relaxed);
                    sh.note(format!("client {} lost block {g}", self.me));
                }
            }
            self.union -= 1;
        }
    }

    /// Session `k` went down: what it delivered is gone.
    pub fn reset(&mut self, sh: &Shared, k: usize) {
        for g in 0..self.refs.len() {
            if self.bits[k].get(g) {
                self.withdraw(sh, k, g);
            }
        }
    }
}

struct Session {
    i: usize,
    k: usize,
    target: SocketAddr,
    plan: Plan,
    asn: u32,
    hold_time: u16,
    sh: Arc<Shared>,
    held: Arc<Mutex<Held>>,
    sem: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
}

impl Session {
    async fn establish(&self, rbuf: &mut BytesMut) -> Result<(TokioStream, wire::PeerOpen), String> {
        let _permit = self.sem.acquire().await.map_err(|e| e.to_string())?;
        let sock = TcpSocket::new_v4().map_err(|e| e.to_string())?;
        sock.bind(SocketAddr::new(IpAddr::V4(self.plan.client_addr(self.i)), 0))
            .map_err(|e| format!("bind: {e}"))?;
        let mut s = sock
            .connect(self.target)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut out = BytesMut::new();
        wire::put_open(
            &mut out,
            &OpenParams {
                asn: self.asn,
                hold_time: self.hold_time,
                router_id: self.plan.client_addr(self.i),
                add_path_receive: false,
            },
        );
        s.write_all(&out).await.map_err(|e| format!("send OPEN: {e}"))?;
        let mut peer = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(n) = wire::frame_len(rbuf)? {
                let msg = rbuf.split_to(n);
                match (msg[18], peer) {
                    (wire::kind::OPEN, None) => {
                        peer = Some(wire::parse_open(&msg)?);
                        out.clear();
                        wire::put_keepalive(&mut out);
                        s.write_all(&out)
                            .await
                            .map_err(|e| format!("send KEEPALIVE: {e}"))?;
                    }
                    (wire::kind::KEEPALIVE, Some(p)) => return Ok((s, p)),
                    (wire::kind::NOTIFICATION, _) => {
                        return Err(format!(
                            "NOTIFICATION {:?} during OPEN exchange",
                            &msg[19..msg.len().min(21)]
                        ));
                    }
                    (k, _) => return Err(format!("unexpected message type {k} during OPEN exchange")),
                }
            }
            let n = tokio::time::timeout_at(deadline, s.read_buf(rbuf))
                .await
                .map_err(|_| "OPEN exchange timed out".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("closed during OPEN exchange".into());
            }
        }
    }

    fn on_update(&self, msg: &[u8]) -> Result<(), String> {
        let plan = self.plan;
        let sh = &self.sh;
        sh.updates.fetch_add(1, Relaxed);
        let mut held = self.held.lock().map_err(|_| "poisoned".to_string())?;
        let (mut own, mut bad_nh, mut unknown) = (0, 0, 0);
        wire::scan_update(msg, false, |announce, addr, len, attrs| {
            let Some(g) = plan.index_of(addr, len) else {
                unknown += 1;
                return;
            };
            let origin = plan.origin_of(g);
            if origin == self.i {
                own += 1;
            } else if announce {
                if attrs.next_hop != Some(u32::from(plan.next_hop(origin))) {
                    bad_nh += 1;
                }
                held.announce(sh, self.k, g);
            } else {
                held.withdraw(sh, self.k, g);
            }
        })?;
        for (c, v) in [(&sh.own, own), (&sh.bad_next_hop, bad_nh), (&sh.unknown, unknown)] {
            if v > 0 {
                c.fetch_add(v, Relaxed);
            }
        }
        Ok(())
    }

    /// One established session until it ends: `Ok` when asked to stop.
    async fn serve(
        &mut self,
        mut s: TokioStream,
        peer: wire::PeerOpen,
        mut rbuf: BytesMut,
    ) -> Result<(), String> {
        let hold = peer.hold_time.min(self.hold_time);
        let every = Duration::from_secs(if hold == 0 { 3600 } else { (hold / 3).max(1) as u64 });
        let mut ka = tokio::time::interval(every);
        ka.tick().await;
        let mine: Vec<u32> = (0..self.plan.prefixes)
            .map(|j| self.plan.prefix_addr(self.plan.global(self.i, j)))
            .collect();
        let mut out = BytesMut::new();
        let a = Announce {
            next_hop: self.plan.next_hop(self.i),
            local_pref: 100,
        };
        wire::put_announcements(&mut out, &a, PREFIX_LEN, &mine);
        s.write_all(&out).await.map_err(|e| format!("announce: {e}"))?;
        loop {
            while let Some(n) = wire::frame_len(&rbuf)? {
                let msg = rbuf.split_to(n);
                match msg[18] {
                    wire::kind::UPDATE => self.on_update(&msg)?,
                    wire::kind::NOTIFICATION => {
                        return Err(format!("NOTIFICATION {:?}", &msg[19..msg.len().min(21)]));
                    }
                    _ => {}
                }
            }
            if rbuf.capacity() - rbuf.len() < 4096 {
                rbuf.reserve(65536);
            }
            tokio::select! {
                r = s.read_buf(&mut rbuf) => match r {
                    Ok(0) => return Err("closed by the reflector".into()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("read: {e}")),
                },
                _ = ka.tick() => {
                    out.clear();
                    wire::put_keepalive(&mut out);
                    s.write_all(&out).await.map_err(|e| format!("keepalive: {e}"))?;
                }
                _ = self.stop.changed() => return Ok(()),
            }
        }
    }

    async fn run(mut self) {
        loop {
            if *self.stop.borrow() {
                return;
            }
            let mut rbuf = BytesMut::with_capacity(65536);
            let mut stop = self.stop.clone();
            let est = tokio::select! {
                r = self.establish(&mut rbuf) => r,
                _ = stop.changed() => return,
            };
            match est {
                Ok((s, peer)) => {
                    self.sh.established.fetch_add(1, Relaxed);
                    let end = self.serve(s, peer, rbuf).await;
                    self.sh.established.fetch_sub(1, Relaxed);
                    if let Ok(mut h) = self.held.lock() {
                        h.reset(&self.sh, self.k);
                    }
                    match end {
                        Ok(()) => return,
                        Err(e) => {
                            self.sh.session_losses.fetch_add(1, Relaxed);
                            self.sh.note(format!("client {} session {}: {e}", self.i, self.k));
                        }
                    }
                }
                // Refused while the reflector is down, for instance: try again shortly.
                Err(_) if *self.stop.borrow() => return,
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// CPU and memory of one reflector over one phase.
#[derive(Debug, Clone, Serialize)]
pub struct ReflectorFigures {
    /// Node name.
    pub name: String,
    /// CPU seconds in the phase.
    pub cpu_secs: f64,
    /// RSS at the end of the phase, MiB.
    pub rss_mib: f64,
    /// Peak RSS of the process so far, MiB.
    pub peak_rss_mib: f64,
}

fn figures(
    names: &[String],
    before: &[Option<ProcSample>],
    after: &[Option<ProcSample>],
) -> Vec<ReflectorFigures> {
    names
        .iter()
        .zip(before.iter().zip(after))
        .map(|(n, (b, a))| ReflectorFigures {
            name: n.clone(),
            cpu_secs: match (b, a) {
                (Some(b), Some(a)) => (a.cpu_secs - b.cpu_secs).max(0.0),
                (None, Some(a)) => a.cpu_secs,
                _ => f64::NAN,
            },
            rss_mib: a.map_or(f64::NAN, |a| a.rss_kib as f64 / 1024.0),
            peak_rss_mib: a.map_or(f64::NAN, |a| a.peak_rss_kib as f64 / 1024.0),
        })
        .collect()
}

/// The kill-and-restart phase.
#[derive(Debug, Clone, Serialize)]
pub struct RestartReport {
    /// The reflector killed.
    pub reflector: String,
    /// From the kill until its clients noticed (their sessions to it gone).
    pub noticed_secs: Option<f64>,
    /// From the kill until the new process was ready (datastore read, listening).
    pub ready_secs: Option<f64>,
    /// From the kill until every session was established again.
    pub reestablished_secs: Option<f64>,
    /// From the kill until every session held every route again.
    pub full_again_secs: Option<f64>,
    /// Times a client's routes fell below the full set during the phase (must be 0: the other reflector
    /// of its cluster still serves every route).
    pub route_losses: u64,
    /// Fewest clients holding every route at any 1 ms sample during the phase.
    pub min_complete_clients: usize,
    /// Per reflector over the phase (the killed one: its new process).
    pub per_reflector: Vec<ReflectorFigures>,
}

/// Result of a multi-reflector run.
#[derive(Debug, Clone, Serialize)]
pub struct MultiReport {
    /// Reflectors.
    pub reflectors: usize,
    /// Clients in all.
    pub clients: usize,
    /// Blocks per client.
    pub prefixes: usize,
    /// Seconds to write the resources into etcd.
    pub seed_secs: f64,
    /// From starting the daemons until all were ready.
    pub ready_secs: f64,
    /// From starting the clients until every session was established.
    pub all_established_secs: Option<f64>,
    /// From starting the clients until every client held every other client's blocks.
    pub converged_secs: Option<f64>,
    /// From starting the clients until every session delivered all of them.
    pub full_secs: Option<f64>,
    /// Per reflector from the start of the clients to full convergence.
    pub per_reflector: Vec<ReflectorFigures>,
    /// The restart phase.
    pub restart: Option<RestartReport>,
    /// Own blocks reflected back (must be 0).
    pub own_prefixes: u64,
    /// Wrong NEXT_HOPs (must be 0).
    pub bad_next_hop: u64,
    /// Prefixes outside the plan (must be 0).
    pub unknown_prefixes: u64,
    /// Sessions that ended unasked (the restart's own are expected: one per client of the killed
    /// reflector).
    pub session_losses: u64,
    /// The first errors.
    pub errors: Vec<String>,
    /// Where the logs are.
    pub dir: String,
}

impl MultiReport {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3} s"));
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} reflectors (2 clusters of 2, meshed), {} clients x {} prefixes, each client on both reflectors of its cluster",
            self.reflectors, self.clients, self.prefixes
        );
        let _ = writeln!(
            s,
            "  seeded etcd in {:.2} s; reflectors ready after {:.2} s; established {}; converged {} (every client holds every route); every session full {}",
            self.seed_secs,
            self.ready_secs,
            f(self.all_established_secs),
            f(self.converged_secs),
            f(self.full_secs)
        );
        for r in &self.per_reflector {
            let _ = writeln!(
                s,
                "  {}: CPU {:.2} s, RSS {:.1} MiB, peak {:.1} MiB",
                r.name, r.cpu_secs, r.rss_mib, r.peak_rss_mib
            );
        }
        if let Some(r) = &self.restart {
            let _ = writeln!(
                s,
                "  restart of {}: clients noticed {}, ready {}, sessions back {}, every session full {}; route losses {}, fewest complete clients {} of {}",
                r.reflector,
                f(r.noticed_secs),
                f(r.ready_secs),
                f(r.reestablished_secs),
                f(r.full_again_secs),
                r.route_losses,
                r.min_complete_clients,
                self.clients
            );
            for p in &r.per_reflector {
                let _ = writeln!(
                    s,
                    "    {}: CPU {:.2} s in the phase, RSS {:.1} MiB, peak {:.1} MiB",
                    p.name, p.cpu_secs, p.rss_mib, p.peak_rss_mib
                );
            }
        }
        let _ = writeln!(
            s,
            "  checks: own blocks back {}, bad next hops {}, unknown prefixes {}, sessions lost {}",
            self.own_prefixes, self.bad_next_hop, self.unknown_prefixes, self.session_losses
        );
        for e in &self.errors {
            let _ = writeln!(s, "  note: {e}");
        }
        let _ = writeln!(s, "  logs: {}", self.dir);
        s
    }
}

/// Runs the whole measurement. `dir` keeps etcd's data and the daemons' logs.
pub async fn run(cfg: MultiConfig, dir: &std::path::Path) -> Result<MultiReport, String> {
    let plan = cfg.plan()?;
    let n = plan.clients;
    let port = free_port()?;
    let (_etcd, endpoint) = start_etcd(&cfg.etcd, dir)?;
    let res = resources(&cfg, port)?;
    let t = Instant::now();
    seed(&endpoint, &res, cfg.timeout).await?;
    let seed_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut refls = Vec::new();
    for r in 0..cfg.reflectors() {
        refls.push(Reflector::start(
            r,
            &cfg.daemon,
            &cfg.daemon_args,
            &endpoint,
            dir,
        )?);
    }
    for r in &mut refls {
        r.wait_ready(cfg.timeout).await?;
    }
    let ready_secs = t.elapsed().as_secs_f64();
    let names: Vec<String> = refls.iter().map(|r| format!("rr-{}", r.index)).collect();

    let sh = Arc::new(Shared::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let sem = Arc::new(Semaphore::new(cfg.connect_concurrency.max(1)));
    let before: Vec<_> = refls.iter().map(Reflector::sample).collect();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let held = Arc::new(Mutex::new(Held::new(i, plan.total(), plan.expected_per_client())));
        for (k, r) in cfg.reflectors_of(i).into_iter().enumerate() {
            let s = Session {
                i,
                k,
                target: SocketAddr::new(IpAddr::V4(reflector_addr(r)), port),
                plan,
                asn: cfg.asn,
                hold_time: cfg.hold_time,
                sh: Arc::clone(&sh),
                held: Arc::clone(&held),
                sem: Arc::clone(&sem),
                stop: stop_rx.clone(),
            };
            tasks.spawn(s.run());
        }
    }
    let sessions = 2 * n;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = Instant::now();
    let progress = |label: &str, last: &mut Instant, t: Instant| {
        if let Some(p) = cfg.progress
            && last.elapsed() >= p
        {
            *last = Instant::now();
            eprintln!(
                "[{label} {:.1} s] established {} / {sessions}, complete clients {} / {n}, full sessions {} / {sessions}",
                t.elapsed().as_secs_f64(),
                sh.established.load(Relaxed),
                sh.complete.load(Relaxed),
                sh.full_sessions.load(Relaxed)
            );
        }
    };
    // Each figure is the first 1 ms poll at which its condition held.
    let (mut all_established_secs, mut converged_secs, mut full_secs) = (None, None, None);
    while full_secs.is_none() && start.elapsed() < cfg.timeout {
        let at = Some(start.elapsed().as_secs_f64());
        if all_established_secs.is_none() && sh.established.load(Relaxed) == sessions {
            all_established_secs = at;
        }
        if converged_secs.is_none() && sh.complete.load(Relaxed) == n {
            converged_secs = at;
        }
        if converged_secs.is_some() && sh.full_sessions.load(Relaxed) == sessions {
            full_secs = at;
        }
        progress("start", &mut last, start);
        tick.tick().await;
    }
    let after: Vec<_> = refls.iter().map(Reflector::sample).collect();
    let per_reflector = figures(&names, &before, &after);

    let mut restart = None;
    if let Some(victim) = cfg.restart.filter(|&v| v < refls.len())
        && full_secs.is_some()
    {
        let affected = (0..n).filter(|&i| cfg.reflectors_of(i).contains(&victim)).count();
        sh.armed.store(true, Relaxed);
        let before: Vec<_> = refls.iter().map(Reflector::sample).collect();
        let mut min_complete = n;
        let (mut noticed, mut ready, mut back, mut full_again) = (None, None, None, None);
        let mut polls = 0u64;
        let t = Instant::now();
        refls[victim].kill();
        // Kill, wait until its clients noticed, start it again, wait until it is ready, until every
        // session is back and until every session is full again; a client losing a route meanwhile
        // is counted by the clients themselves (`route_losses`).
        while full_again.is_none() && t.elapsed() < cfg.timeout {
            let at = Some(t.elapsed().as_secs_f64());
            min_complete = min_complete.min(sh.complete.load(Relaxed));
            let est = sh.established.load(Relaxed);
            if noticed.is_none() && est <= sessions - affected {
                noticed = at;
                refls[victim].restart()?;
            }
            // `/readyz` every 10 ms.
            if noticed.is_some()
                && ready.is_none()
                && polls.is_multiple_of(10)
                && refls[victim].ready_now()?
            {
                ready = Some(t.elapsed().as_secs_f64());
            }
            if ready.is_some() && back.is_none() && est == sessions {
                back = at;
            }
            if back.is_some() && sh.full_sessions.load(Relaxed) == sessions {
                full_again = at;
            }
            polls += 1;
            progress("restart", &mut last, t);
            tick.tick().await;
        }
        let after: Vec<_> = refls.iter().map(Reflector::sample).collect();
        restart = Some(RestartReport {
            reflector: names[victim].clone(),
            noticed_secs: noticed,
            ready_secs: ready,
            reestablished_secs: back,
            full_again_secs: full_again,
            route_losses: sh.route_losses.load(Relaxed),
            min_complete_clients: min_complete,
            per_reflector: figures(&names, &before, &after),
        });
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    for r in &mut refls {
        r.kill();
    }
    Ok(MultiReport {
        reflectors: cfg.reflectors(),
        clients: n,
        prefixes: cfg.prefixes,
        seed_secs,
        ready_secs,
        all_established_secs,
        converged_secs,
        full_secs,
        per_reflector,
        restart,
        own_prefixes: sh.own.load(Relaxed),
        bad_next_hop: sh.bad_next_hop.load(Relaxed),
        unknown_prefixes: sh.unknown.load(Relaxed),
        session_losses: sh.session_losses.load(Relaxed),
        errors: sh.errors.lock().map(|v| v.clone()).unwrap_or_default(),
        dir: dir.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(per_cluster: usize) -> MultiConfig {
        MultiConfig {
            clusters: 2,
            clients_per_cluster: per_cluster,
            prefixes: 2,
            asn: 64512,
            hold_time: 240,
            daemon: "rr-daemon".into(),
            daemon_args: vec![],
            etcd: "etcd".into(),
            restart: Some(0),
            timeout: Duration::from_secs(10),
            connect_concurrency: 8,
            threads: 1,
            progress: None,
        }
    }

    #[test]
    fn clients_alternate_between_clusters_and_use_both_of_their_reflectors() {
        let c = cfg(3);
        assert_eq!(c.reflectors(), 4);
        assert_eq!(c.reflectors_of(0), [0, 1]);
        assert_eq!(c.reflectors_of(1), [2, 3]);
        assert_eq!(c.reflectors_of(4), [0, 1]);
        assert_eq!(reflector_addr(3), Ipv4Addr::new(127, 0, 0, 4));
        let plan = c.plan().unwrap();
        for i in 0..plan.clients {
            // Clients never share an address with a reflector.
            assert!((0..4).all(|r| plan.client_addr(i) != reflector_addr(r)));
        }
    }

    #[test]
    fn resources_describe_two_clusters_and_the_mesh() {
        let c = cfg(3);
        let res = resources(&c, 1790).unwrap();
        // BGPConfiguration, 4 reflectors, 6 clients, 2 cluster peers, the mesh.
        assert_eq!(res.len(), 1 + 4 + 6 + 2 + 1);
        for (_, _, json) in &res {
            serde_json::from_str::<serde_json::Value>(json).unwrap();
        }
        let rr3 = &res.iter().find(|r| r.1 == "rr-3").unwrap().2;
        assert!(
            rr3.contains(r#""routeReflectorClusterID":"244.0.0.2""#) && rr3.contains(r#""rr-group":"1""#)
        );
        let n1 = &res.iter().find(|r| r.1 == "node-1").unwrap().2;
        assert!(n1.contains(r#""rr-group":"1""#) && !n1.contains("route-reflector"));
        assert!(res[0].2.contains(r#""listenPort":1790"#));
    }

    #[test]
    fn a_client_keeps_a_route_while_one_session_still_has_it() {
        let sh = Shared::default();
        let mut h = Held::new(0, 4, 2);
        h.announce(&sh, 0, 2);
        h.announce(&sh, 0, 3);
        h.announce(&sh, 1, 2);
        assert_eq!(sh.complete.load(Relaxed), 1);
        assert_eq!(sh.full_sessions.load(Relaxed), 1);
        sh.armed.store(true, Relaxed);
        h.reset(&sh, 0);
        // Block 3 was only on session 0: a loss.
        assert_eq!(h.union(), 1);
        assert_eq!(sh.complete.load(Relaxed), 0);
        assert_eq!(sh.route_losses.load(Relaxed), 1);
        h.announce(&sh, 1, 3);
        h.announce(&sh, 0, 2);
        assert_eq!(sh.complete.load(Relaxed), 1);
        assert_eq!(sh.full_sessions.load(Relaxed), 1);
        // Now both sessions hold both: losing one session loses nothing.
        h.announce(&sh, 0, 3);
        assert_eq!(sh.full_sessions.load(Relaxed), 2);
        h.reset(&sh, 1);
        assert_eq!(sh.route_losses.load(Relaxed), 1);
        assert_eq!(sh.complete.load(Relaxed), 1);
        assert_eq!(sh.full_sessions.load(Relaxed), 1);
    }
}
